/* notifier.c - T8 notification receiver: an HTTP listener (libmicrohttpd) for the SCEF's
 * GMDByMb2Notification and TestNotification callbacks, at its base URL and at a URL of its own
 * for each delivery, and the same checks for a host's server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/t8.h"
#include "lmm_wire/t8_json.h"
#include "t8/notifier_internal.h"
#include "t8/notify_dest.h"

#define DEFAULT_BIND_ADDR "127.0.0.1"
#define DEFAULT_PATH      "/t8/notifications"
#define DEFAULT_MAX_BODY  ((size_t)64 * 1024)
#define DEFAULT_MAX_DESTS ((size_t)4096)
/* An idle connection is dropped after this long, so a stalled peer cannot pin memory. */
#define CONN_TIMEOUT_S 30u
/* A chunked body has no length to refuse up front and 0.9.75 cannot answer mid-body: what
 * exceeds max_body is read and dropped to answer 413 at its end, but no more than this much. */
#define DISCARD_MAX ((size_t)1 << 20)

struct lmm_t8_notifier {
  lmm_ctx *ctx;
  const lmm_t8_notifier_handlers *handlers; /* borrowed; may be NULL */
  void *user;
  char *path;     /* served by the listener */
  char *url;      /* the base URL advertised */
  char *url_path; /* the path of `url`, which a host's own server may see instead of `path` */
  size_t max_body;
  bool accept_unknown;
  bool own_thread;

  struct MHD_Daemon *daemon;
  lmmi_source src;
  bool source_added;

  /* Guards links and stats: expect/forget/handle may come from any thread, and in thread mode
   * the listener's thread serves requests while the host registers deliveries. */
  pthread_mutex_t mu;
  char **links; /* sorted (strcmp) keys, each owned */
  size_t n_links, cap_links;
  lmm_t8_notifier_stats stats;

  lmmi_dests dests; /* the per-delivery destinations, under a lock of their own */
  bool dests_ready;
};

/* Where a request was sent: the base URL, a per-delivery URL below it, or elsewhere. */
typedef enum path_kind { P_NONE, P_BASE, P_DEST } path_kind;

/* What one HTTP request has gathered between calls of the access handler. */
typedef struct req_state {
  path_kind kind;
  char token[LMMI_DEST_TOKEN_LEN + 1];
  char *buf;
  size_t len, cap;
  size_t seen; /* body bytes received, kept or not */
  bool too_big;
} req_state;

/* ------------------------------------------------------------ registered links */

/* Index of the first key >= `key`; `*found` tells whether it is equal. Caller holds mu. */
static size_t link_lower_bound(const lmm_t8_notifier *n, const char *key, bool *found) {
  size_t lo = 0, hi = n->n_links;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(n->links[mid], key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < n->n_links && strcmp(n->links[lo], key) == 0;
  return lo;
}

static bool link_known(lmm_t8_notifier *n, const char *link) {
  bool found;
  pthread_mutex_lock(&n->mu);
  (void)link_lower_bound(n, lmmi_dest_link_key(link), &found);
  pthread_mutex_unlock(&n->mu);
  return found;
}

LMM_API lmm_err lmm_t8_notifier_expect(lmm_t8_notifier *n, const char *transaction_link) {
  lmm_err rc = LMM_ERR_NOMEM;
  char *copy = NULL;
  bool found;
  size_t at;

  if (n == NULL || transaction_link == NULL || transaction_link[0] == '\0') return LMM_ERR_ARG;
  /* Copy before locking: the allocation need not hold up the listener's thread. */
  copy = strdup(lmmi_dest_link_key(transaction_link));
  if (copy == NULL) return LMM_ERR_NOMEM;

  pthread_mutex_lock(&n->mu);
  at = link_lower_bound(n, copy, &found);
  if (found) { /* a set: registering twice is harmless */
    rc = LMM_OK;
    goto out;
  }
  if (n->n_links == n->cap_links) {
    size_t cap = n->cap_links ? n->cap_links * 2 : 8;
    char **grown = realloc(n->links, cap * sizeof *grown);
    if (grown == NULL) goto out;
    n->links = grown;
    n->cap_links = cap;
  }
  memmove(n->links + at + 1, n->links + at, (n->n_links - at) * sizeof *n->links);
  n->links[at] = copy;
  n->n_links++;
  copy = NULL;
  rc = LMM_OK;
out:
  pthread_mutex_unlock(&n->mu);
  free(copy);
  return rc;
}

LMM_API void lmm_t8_notifier_forget(lmm_t8_notifier *n, const char *transaction_link) {
  char *gone = NULL;
  bool found;
  size_t at;

  if (n == NULL || transaction_link == NULL) return;
  pthread_mutex_lock(&n->mu);
  at = link_lower_bound(n, lmmi_dest_link_key(transaction_link), &found);
  if (found) {
    gone = n->links[at];
    memmove(n->links + at, n->links + at + 1, (n->n_links - at - 1) * sizeof *n->links);
    n->n_links--;
  }
  pthread_mutex_unlock(&n->mu);
  free(gone);
  if (n->dests_ready) lmmi_dests_forget_key(&n->dests, lmmi_dest_link_key(transaction_link));
}

/* ------------------------------------------------------------ validation */

static void count(lmm_t8_notifier *n, uint64_t *counter) {
  pthread_mutex_lock(&n->mu);
  (*counter)++;
  pthread_mutex_unlock(&n->mu);
}

/* An owned ProblemDetails text, or NULL when out of memory (the status still goes out). */
static char *problem_new(int status, const char *title, const char *detail, const char *param,
                         const char *reason) {
  lmm_problem p;
  lmm_invalid_param ip;
  char *out = NULL;

  /* The encoder only reads: the casts lend it our constant strings for the call. */
  memset(&p, 0, sizeof p);
  p.status = status;
  p.title = (char *)title;
  p.detail = (char *)detail;
  if (param != NULL) {
    ip.param = (char *)param;
    ip.reason = (char *)reason;
    p.invalid_params = &ip;
    p.n_invalid_params = 1;
  }
  if (lmmw_t8_problem_encode(&p, &out) != LMM_OK) return NULL;
  return out;
}

/* "application/json", any case, optionally followed by parameters ("; charset=utf-8"). */
static bool content_type_ok(const char *ct) {
  static const char want[] = "application/json";

  if (ct == NULL) return false;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, want, sizeof want - 1) != 0) return false;
  ct += sizeof want - 1;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

static int reject_content_type(lmm_t8_notifier *n, const char *ct, char **problem) {
  count(n, &n->stats.malformed);
  lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: refused content type '%s'", ct ? ct : "(none)");
  *problem = problem_new(415, "Unsupported Media Type", "expected application/json", NULL, NULL);
  return 415;
}

static int reject_too_large(lmm_t8_notifier *n, char **problem) {
  count(n, &n->stats.malformed);
  lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: refused a body over %zu bytes", n->max_body);
  *problem = problem_new(413, "Payload Too Large", "notification body too large", NULL, NULL);
  return 413;
}

/* A TestNotification carries `subscription` and none of the delivery members; anything else is
 * judged as a GMDByMb2Notification, so that a broken one is reported by what it lacks. */
static bool is_test_notification(const char *body, size_t len) {
  cJSON *root = cJSON_ParseWithLength(body, len);
  bool test = cJSON_IsObject(root) &&
              cJSON_GetObjectItemCaseSensitive(root, "subscription") != NULL &&
              cJSON_GetObjectItemCaseSensitive(root, "transaction") == NULL &&
              cJSON_GetObjectItemCaseSensitive(root, "deliveryTriggerStatus") == NULL;
  cJSON_Delete(root);
  return test;
}

/* Hands one event to the handlers, which run without the lock so that they may register or
 * forget links themselves. */
static void dispatch(lmm_t8_notifier *n, bool test, const char *link, bool delivered) {
  lmmi_log(n->ctx, LMM_LOG_DEBUG, "t8 notifier: %s for %s%s",
           test ? "test notification" : "delivery notification", link,
           test ? "" : (delivered ? " (delivered)" : " (not delivered)"));
  if (n->handlers == NULL) return;
  if (test && n->handlers->on_test != NULL)
    n->handlers->on_test(n->user, link);
  else if (!test && n->handlers->on_delivery != NULL)
    n->handlers->on_delivery(n->user, link, delivered);
}

/* At a per-delivery URL the URL names the delivery: only the SCEF that was given it in the
 * create can know it. A body naming another link is still that delivery's, reported as such. */
static void check_link(lmm_t8_notifier *n, const char *named, const char *bound) {
  if (strcmp(lmmi_dest_link_key(named), lmmi_dest_link_key(bound)) == 0) return;
  count(n, &n->stats.mismatched);
  lmmi_log(n->ctx, LMM_LOG_WARN,
           "t8 notifier: a notification at the destination of %s names %s: taken as %s's", bound,
           named, bound);
}

/* At a per-delivery URL: held while its 201 is awaited, handed on under the delivery's link
 * once it is known. Returns 0 when the destination is unknown (the caller then judges the body
 * as at the base URL), else the status. */
static int at_destination(lmm_t8_notifier *n, const char *token, bool test, const char *link,
                          bool delivered, char **problem) {
  lmmi_dest_event ev = {test, delivered, (char *)link};
  lmmi_dest_verdict v;
  char *bound = NULL;

  if (lmmi_dests_arrive(&n->dests, token, &ev, &v, &bound) != LMM_OK) {
    lmmi_log(n->ctx, LMM_LOG_ERROR, "t8 notifier: out of memory keeping a notification");
    return 500;
  }
  switch (v) {
  case LMMI_DEST_HELD:
    count(n, &n->stats.accepted);
    lmmi_log(n->ctx, LMM_LOG_DEBUG, "t8 notifier: %s for %s before its 201: held",
             test ? "test notification" : "delivery notification", link);
    return 204;
  case LMMI_DEST_FULL:
    /* 503 and Retry-After: by then the 201 has most likely come, and a retry is accepted. */
    lmmi_log(n->ctx, LMM_LOG_WARN,
             "t8 notifier: %d notifications for %s before its 201: asking the SCEF to retry",
             LMMI_DEST_HELD_MAX + 1, link);
    *problem = problem_new(503, "Service Unavailable",
                           "too many notifications before the delivery's creation was answered",
                           NULL, NULL);
    return 503;
  case LMMI_DEST_BOUND:
    check_link(n, link, bound);
    count(n, &n->stats.accepted);
    dispatch(n, test, bound, delivered);
    free(bound);
    return 204;
  case LMMI_DEST_UNKNOWN:
    break;
  }
  return 0;
}

/* The part shared by the listener and lmm_t8_notifier_handle_request(): the body is in memory,
 * its content type judged and its URL classified. Returns the HTTP status; `*problem` owned or
 * NULL. */
static int handle_body(lmm_t8_notifier *n, path_kind kind, const char *token, const char *body,
                       size_t len, char **problem) {
  lmmw_t8_err je;
  char *link = NULL;
  bool delivered = false, test;
  lmm_err rc;
  int status;

  *problem = NULL;
  if (len == 0) {
    count(n, &n->stats.malformed);
    lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: empty notification body");
    *problem = problem_new(400, "Bad Request", "empty notification body", "", "empty body");
    return 400;
  }

  memset(&je, 0, sizeof je);
  test = is_test_notification(body, len);
  if (test)
    rc = lmmw_t8_test_notification_decode(body, len, &link, &je);
  else
    rc = lmmw_t8_notification_decode(body, len, &link, &delivered, &je);
  if (rc == LMM_ERR_NOMEM) {
    /* Not the sender's fault: a 5xx invites the SCEF to try again. */
    lmmi_log(n->ctx, LMM_LOG_ERROR, "t8 notifier: out of memory decoding a notification");
    return 500;
  }
  if (rc != LMM_OK) {
    count(n, &n->stats.malformed);
    lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: malformed %s: %s: %s",
             test ? "TestNotification" : "GMDByMb2Notification", je.param, je.reason);
    *problem = problem_new(400, "Bad Request", "malformed notification", je.param, je.reason);
    status = 400;
    goto out;
  }
  if (kind == P_DEST && (status = at_destination(n, token, test, link, delivered, problem)) != 0)
    goto out;
  /* The base URL, or a per-delivery URL no longer (or never) handed out: the body's link must
   * be a delivery we know. */
  if (!n->accept_unknown && !link_known(n, link)) {
    count(n, &n->stats.unknown);
    lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: notification for unknown %s %s%s",
             test ? "subscription" : "transaction", link,
             kind == P_DEST ? " at an unknown destination" : "");
    *problem = problem_new(404, "Not Found",
                           kind == P_DEST ? "unknown notification destination"
                           : test         ? "unknown subscription"
                                          : "unknown transaction",
                           test ? "/subscription" : "/transaction", "not an expected delivery");
    status = 404;
    goto out;
  }
  count(n, &n->stats.accepted);
  dispatch(n, test, link, delivered);
  status = 204;
out:
  free(link);
  return status;
}

/* Whether `path` (length `len`) is `base` or `base/<token>`; the token goes to `token`. */
static path_kind match_base(const char *base, const char *path, size_t len, char *token) {
  size_t bl = strlen(base);

  if (len == bl && strncmp(path, base, bl) == 0) return P_BASE;
  while (bl > 0 && base[bl - 1] == '/')
    bl--;
  if (len != bl + 1 + LMMI_DEST_TOKEN_LEN || strncmp(path, base, bl) != 0 || path[bl] != '/')
    return P_NONE;
  for (size_t i = 0; i < LMMI_DEST_TOKEN_LEN; i++) {
    char c = path[bl + 1 + i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return P_NONE;
    token[i] = c;
  }
  token[LMMI_DEST_TOKEN_LEN] = '\0';
  return P_DEST;
}

/* The listener serves `path`; a host's own server may see the advertised URL's path instead. A
 * query is not part of the path. */
static path_kind classify(const lmm_t8_notifier *n, const char *path, char *token) {
  size_t len = strcspn(path, "?#");
  path_kind k = match_base(n->path, path, len, token);
  return k != P_NONE ? k : match_base(n->url_path, path, len, token);
}

LMM_API int lmm_t8_notifier_handle_request(lmm_t8_notifier *n, const char *path,
                                           const char *content_type, const char *body, size_t len,
                                           char **problem_json) {
  char token[LMMI_DEST_TOKEN_LEN + 1] = "";
  path_kind kind = P_BASE;
  char *problem = NULL;
  int status;

  if (problem_json != NULL) *problem_json = NULL;
  if (n == NULL) return 500;
  if (body == NULL) len = 0;
  if (path != NULL && (kind = classify(n, path, token)) == P_NONE) {
    status = 404;
    problem = problem_new(404, "Not Found", "no such resource", NULL, NULL);
  } else if (content_type != NULL && !content_type_ok(content_type)) {
    status = reject_content_type(n, content_type, &problem);
  } else {
    status = handle_body(n, kind, token, body, len, &problem);
  }
  if (problem_json != NULL)
    *problem_json = problem;
  else
    free(problem);
  return status;
}

LMM_API int lmm_t8_notifier_handle(lmm_t8_notifier *n, const char *content_type, const char *body,
                                   size_t len, char **problem_json) {
  return lmm_t8_notifier_handle_request(n, NULL, content_type, body, len, problem_json);
}

/* ------------------------------------------------------------ per-delivery destinations */

lmm_err lmmi_notifier_reserve(lmm_t8_notifier *n, char *token, char **url) {
  static const char hex[] = "0123456789abcdef";
  uint8_t raw[LMMI_DEST_TOKEN_LEN / 2];
  lmm_err rc;

  *url = NULL;
  if (!n->dests_ready) return LMM_ERR_STATE;
  /* Unguessable, from the context's random source: the URL is the delivery's credential. */
  if ((rc = lmmi_random(n->ctx, raw, sizeof raw)) != LMM_OK) return rc;
  for (size_t i = 0; i < sizeof raw; i++) {
    token[2 * i] = hex[raw[i] >> 4];
    token[2 * i + 1] = hex[raw[i] & 15];
  }
  token[LMMI_DEST_TOKEN_LEN] = '\0';
  if ((*url = lmmi_notifier_url_of(n, token)) == NULL) return LMM_ERR_NOMEM;
  if ((rc = lmmi_dests_add(&n->dests, token)) != LMM_OK) {
    free(*url);
    *url = NULL;
  }
  return rc;
}

char *lmmi_notifier_url_of(const lmm_t8_notifier *n, const char *token) {
  size_t ul = strlen(n->url);
  char *url;

  while (ul > 0 && n->url[ul - 1] == '/')
    ul--;
  url = malloc(ul + 1 + LMMI_DEST_TOKEN_LEN + 1);
  if (url == NULL) return NULL;
  memcpy(url, n->url, ul);
  url[ul] = '/';
  memcpy(url + ul + 1, token, LMMI_DEST_TOKEN_LEN + 1);
  return url;
}

void lmmi_notifier_bind(lmm_t8_notifier *n, const char *token, const char *link) {
  if (n->dests_ready && lmmi_dests_bind(&n->dests, token, link) != LMM_OK)
    lmmi_log(n->ctx, LMM_LOG_ERROR, "t8 notifier: out of memory binding the destination of %s",
             link);
}

void lmmi_notifier_flush(lmm_t8_notifier *n, const char *token, const char *link) {
  lmmi_dest_event ev;

  if (!n->dests_ready) return;
  /* One at a time: a handler may forget the delivery, and then the rest is dropped with it. */
  while (lmmi_dests_pop(&n->dests, token, &ev)) {
    check_link(n, ev.link, link);
    count(n, &n->stats.early);
    dispatch(n, ev.test, link, ev.delivered);
    free(ev.link);
  }
}

void lmmi_notifier_release(lmm_t8_notifier *n, const char *token) {
  size_t dropped;

  if (!n->dests_ready) return;
  dropped = lmmi_dests_remove(&n->dests, token);
  if (dropped > 0)
    lmmi_log(n->ctx, LMM_LOG_WARN,
             "t8 notifier: %zu notification(s) dropped: the create of their delivery failed",
             dropped);
}

bool lmmi_notifier_token_of(lmm_t8_notifier *n, const char *link, char *token) {
  return n->dests_ready && lmmi_dests_token_of(&n->dests, lmmi_dest_link_key(link), token);
}

/* ------------------------------------------------------------ HTTP listener */

/* Queues a response; takes `problem` (sent as application/problem+json when not NULL). A 405
 * says what is allowed, a 503 when to come back. */
static enum MHD_Result reply(struct MHD_Connection *conn, int status, char *problem) {
  struct MHD_Response *r;
  enum MHD_Result ok;

  if (problem != NULL) {
    r = MHD_create_response_from_buffer(strlen(problem), problem, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
      free(problem);
      return MHD_NO;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json") !=
        MHD_YES) {
      MHD_destroy_response(r);
      return MHD_NO;
    }
  } else {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) return MHD_NO;
  }
  if ((status == 405 && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST") != MHD_YES) ||
      (status == 503 && MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES)) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  ok = MHD_queue_response(conn, (unsigned int)status, r);
  MHD_destroy_response(r); /* the connection keeps its own reference */
  return ok;
}

/* First call of a request: only the headers are in. Whatever can be refused from them is
 * refused now, before a byte of body is read (MHD then closes the connection after the
 * answer). Returns MHD_YES with *req_cls set to go on reading. */
static enum MHD_Result on_headers(lmm_t8_notifier *n, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **req_cls) {
  const char *ct, *cl;
  char *problem = NULL;
  req_state *st;
  int status;
  char token[LMMI_DEST_TOKEN_LEN + 1] = "";
  path_kind kind = classify(n, url, token);

  if (kind == P_NONE)
    return reply(conn, 404, problem_new(404, "Not Found", "no such resource", NULL, NULL));
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
    return reply(conn, 405,
                 problem_new(405, "Method Not Allowed", "only POST is served here", NULL, NULL));
  ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!content_type_ok(ct)) {
    /* Status first: the order in which arguments are evaluated is unspecified. */
    status = reject_content_type(n, ct, &problem);
    return reply(conn, status, problem);
  }
  cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL) {
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(cl, &end, 10);
    /* MHD already refused a malformed Content-Length; an overflow is simply too large. */
    if (errno == ERANGE || (end != cl && v > n->max_body)) {
      status = reject_too_large(n, &problem);
      return reply(conn, status, problem);
    }
  }
  st = calloc(1, sizeof *st);
  if (st == NULL) return MHD_NO;
  st->kind = kind;
  memcpy(st->token, token, sizeof st->token);
  *req_cls = st;
  return MHD_YES;
}

/* A piece of the body: kept while within max_body, dropped (but counted) beyond. */
static enum MHD_Result on_upload(lmm_t8_notifier *n, req_state *st, const char *data, size_t size) {
  st->seen += size;
  if (st->too_big || size > n->max_body - st->len) {
    if (!st->too_big) {
      free(st->buf);
      st->buf = NULL;
      st->len = st->cap = 0;
      st->too_big = true;
    }
    if (st->seen - n->max_body > DISCARD_MAX) {
      lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: dropping a connection sending %zu+ bytes",
               st->seen);
      return MHD_NO;
    }
    return MHD_YES;
  }
  if (st->len + size > st->cap) {
    size_t cap = st->cap ? st->cap : (n->max_body < 1024 ? n->max_body : 1024);
    char *grown;
    /* Doubling, but never past max_body (which bounds len + size, so this ends). */
    while (cap < st->len + size)
      cap = cap > n->max_body / 2 ? n->max_body : cap * 2;
    grown = realloc(st->buf, cap);
    if (grown == NULL) return MHD_NO;
    st->buf = grown;
    st->cap = cap;
  }
  memcpy(st->buf + st->len, data, size);
  st->len += size;
  return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls) {
  lmm_t8_notifier *n = cls;
  req_state *st = *req_cls;
  char *problem = NULL;
  int status;

  (void)version;
  if (st == NULL) return on_headers(n, conn, url, method, req_cls);
  if (*upload_data_size != 0) {
    size_t size = *upload_data_size;
    *upload_data_size = 0; /* all consumed, kept or dropped */
    return on_upload(n, st, upload_data, size);
  }
  if (st->too_big)
    status = reject_too_large(n, &problem);
  else
    status = handle_body(n, st->kind, st->token, st->buf, st->len, &problem);
  return reply(conn, status, problem);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  req_state *st = *req_cls;

  (void)cls;
  (void)conn;
  (void)toe;
  if (st != NULL) {
    free(st->buf);
    free(st);
    *req_cls = NULL;
  }
}

/* ------------------------------------------------------------ event source (loop mode) */

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  lmm_t8_notifier *n = self;
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(n->daemon, MHD_DAEMON_INFO_EPOLL_FD);

  if (info == NULL) return 0;
  if (cap >= 1) {
    pfd[0].fd = info->epoll_fd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
  }
  return 1;
}

static int64_t src_deadline(void *self) {
  lmm_t8_notifier *n = self;
  MHD_UNSIGNED_LONG_LONG t;

  if (MHD_get_timeout(n->daemon, &t) != MHD_YES) return -1;
  if (t > INT32_MAX) t = INT32_MAX;
  return lmm_ctx_now_ms(n->ctx) + (int64_t)t;
}

static void src_process(void *self, const struct pollfd *pfd, size_t nfd) {
  lmm_t8_notifier *n = self;

  (void)pfd;
  (void)nfd;
  /* MHD's epoll set is edge-triggered inside: it may have work left over that no fd will
   * announce again (MHD_get_timeout() then says 0). Its manual asks for MHD_run() after every
   * poll whatever the fds say; with external polling MHD_run() never blocks. */
  (void)MHD_run(n->daemon);
}

/* ------------------------------------------------------------ life cycle */

/* Fills `ss` from a numeric address; false if it is neither IPv4 nor IPv6. */
static bool parse_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss, bool *v6) {
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

  memset(ss, 0, sizeof *ss);

  if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *v6 = true;
    return true;
  }
  return false;
}

static char *make_url(const char *addr, bool v6, uint16_t port, const char *path) {
  int len = snprintf(NULL, 0, v6 ? "http://[%s]:%u%s" : "http://%s:%u%s", addr, port, path);
  char *url;

  if (len < 0) return NULL;
  url = malloc((size_t)len + 1);
  if (url != NULL)
    snprintf(url, (size_t)len + 1, v6 ? "http://[%s]:%u%s" : "http://%s:%u%s", addr, port, path);
  return url;
}

/* The path of an absolute URL ("/" when it has none). Owned; NULL when out of memory. */
static char *url_path_of(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  return strdup(p ? p : "/");
}

static void notifier_destroy(lmm_t8_notifier *n) {
  size_t i;

  /* The daemon first: it may still run handlers (its own thread) and its shutdown hands each
   * open request back to on_completed(). Only then may the context stop polling it. */
  if (n->daemon != NULL) MHD_stop_daemon(n->daemon);
  if (n->source_added) lmmi_ctx_remove_source(n->ctx, &n->src);
  for (i = 0; i < n->n_links; i++)
    free(n->links[i]);
  free(n->links);
  if (n->dests_ready) lmmi_dests_clear(&n->dests);
  free(n->path);
  free(n->url);
  free(n->url_path);
  pthread_mutex_destroy(&n->mu);
  free(n);
}

LMM_API lmm_err lmm_t8_notifier_new(lmm_ctx *ctx, const lmm_t8_notifier_config *cfg,
                                    const lmm_t8_notifier_handlers *handlers, void *user,
                                    lmm_t8_notifier **out) {
  static const lmm_t8_notifier_config defaults = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  struct sockaddr_storage ss;
  const union MHD_DaemonInfo *info;
  const char *addr, *path;
  lmm_t8_notifier *n;
  unsigned int flags;
  uint16_t port;
  bool v6;
  lmm_err rc = LMM_ERR_NOMEM;

  if (ctx == NULL || out == NULL) return LMM_ERR_ARG;
  if (cfg == NULL) cfg = &defaults;
  /* An empty string means the default too, as a command line's unset option would pass it. */
  addr = cfg->bind_addr && cfg->bind_addr[0] ? cfg->bind_addr : DEFAULT_BIND_ADDR;
  path = cfg->path && cfg->path[0] ? cfg->path : DEFAULT_PATH;
  if (path[0] != '/' || !parse_addr(addr, cfg->port, &ss, &v6)) return LMM_ERR_ARG;
  /* Per-delivery URLs are the advertised one plus a path segment: no room for a query. */
  if (cfg->public_url && strpbrk(cfg->public_url, "?#")) return LMM_ERR_ARG;

  n = calloc(1, sizeof *n);
  if (n == NULL) return LMM_ERR_NOMEM;
  if (pthread_mutex_init(&n->mu, NULL) != 0) {
    free(n);
    return LMM_ERR_NOMEM;
  }
  n->ctx = ctx;
  n->handlers = handlers;
  n->user = user;
  n->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
  n->accept_unknown = cfg->accept_unknown;
  n->own_thread = cfg->own_thread;
  n->path = strdup(path);
  if (n->path == NULL) goto fail;
  if (lmmi_dests_init(&n->dests,
                      cfg->max_destinations ? cfg->max_destinations : DEFAULT_MAX_DESTS) != LMM_OK)
    goto fail;
  n->dests_ready = true;

  /* Everything the handlers read is in place before the daemon starts: in thread mode the
   * first request may arrive before MHD_start_daemon() returns. */
  flags = MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0u) |
          (n->own_thread ? MHD_USE_INTERNAL_POLLING_THREAD : 0u);
  n->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, n, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, n,
                               MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, MHD_OPTION_END);
  if (n->daemon == NULL) {
    lmmi_log(ctx, LMM_LOG_ERROR, "t8 notifier: cannot listen on %s port %u", addr,
             (unsigned)cfg->port);
    rc = LMM_ERR_IO;
    goto fail;
  }
  info = MHD_get_daemon_info(n->daemon, MHD_DAEMON_INFO_BIND_PORT);
  port = info ? info->port : cfg->port;
  if (port == 0) { /* the ephemeral port is needed for the URL: without it we are unreachable */
    rc = LMM_ERR_IO;
    goto fail;
  }
  n->url = cfg->public_url && cfg->public_url[0] ? strdup(cfg->public_url)
                                                 : make_url(addr, v6, port, path);
  if (n->url == NULL || (n->url_path = url_path_of(n->url)) == NULL) goto fail;

  if (!n->own_thread) {
    n->src.pollfds = src_pollfds;
    n->src.deadline_ms = src_deadline;
    n->src.process = src_process;
    n->src.self = n;
    n->src.order = LMMI_ORDER_RECEIVER;
    rc = lmmi_ctx_add_source(ctx, &n->src);
    if (rc != LMM_OK) goto fail;
    n->source_added = true;
  }
  lmmi_log(ctx, LMM_LOG_INFO, "t8 notifier: listening on %s:%u%s (%s), advertised as %s", addr,
           (unsigned)port, path, n->own_thread ? "own thread" : "context loop", n->url);
  *out = n;
  return LMM_OK;
fail:
  notifier_destroy(n);
  return rc;
}

LMM_API void lmm_t8_notifier_free(lmm_t8_notifier *n) {
  if (n != NULL) notifier_destroy(n);
}

LMM_API const char *lmm_t8_notifier_url(const lmm_t8_notifier *n) {
  return n ? n->url : NULL;
}

LMM_API void lmm_t8_notifier_get_stats(lmm_t8_notifier *n, lmm_t8_notifier_stats *out) {
  if (out == NULL) return;
  if (n == NULL) {
    memset(out, 0, sizeof *out);
    return;
  }
  pthread_mutex_lock(&n->mu);
  *out = n->stats;
  pthread_mutex_unlock(&n->mu);
}
