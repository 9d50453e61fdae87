/* notifier_handle.c - what a T8 notification comes to: the delivery links registered, the
 * checks of a body, the handlers called, and the destinations of each delivery. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "lmm_wire/t8_json.h"
#include "t8/notifier_impl.h"
#include "t8/notifier_internal.h"

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

char *lmmi_notifier_problem(int status, const char *title, const char *detail, const char *param,
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

bool lmmi_notifier_content_type_ok(const char *ct) {
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

int lmmi_notifier_reject_content_type(lmm_t8_notifier *n, const char *ct, char **problem) {
  count(n, &n->stats.malformed);
  lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: refused content type '%s'", ct ? ct : "(none)");
  *problem =
      lmmi_notifier_problem(415, "Unsupported Media Type", "expected application/json", NULL, NULL);
  return 415;
}

int lmmi_notifier_reject_too_large(lmm_t8_notifier *n, char **problem) {
  count(n, &n->stats.malformed);
  lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: refused a body over %zu bytes", n->max_body);
  *problem =
      lmmi_notifier_problem(413, "Payload Too Large", "notification body too large", NULL, NULL);
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
 * create can know it. A body naming another delivery is a sender at fault (or one that learnt
 * another delivery's URL): a strict receiver refuses it; with accept_base it is taken as the
 * URL's delivery's, reported as such. Returns whether the notification may go on. */
static bool check_link(lmm_t8_notifier *n, const char *named, const char *bound) {
  if (strcmp(lmmi_dest_link_key(named), lmmi_dest_link_key(bound)) == 0) return true;
  count(n, &n->stats.mismatched);
  if (!n->accept_base) {
    lmmi_log(n->ctx, LMM_LOG_WARN,
             "t8 notifier: a notification at the destination of %s names %s: refused", bound,
             named);
    return false;
  }
  lmmi_log(n->ctx, LMM_LOG_WARN,
           "t8 notifier: a notification at the destination of %s names %s: taken as %s's", bound,
           named, bound);
  return true;
}

int lmmi_notifier_refuse_path(lmm_t8_notifier *n, lmmi_path_kind kind, const char *token,
                              char **problem) {
  const char *detail;

  if (n->accept_base) return 0;
  if (kind == LMMI_PATH_BASE)
    detail = "notifications are taken only at the URL handed out for each delivery";
  else if (kind == LMMI_PATH_DEST && !(n->dests_ready && lmmi_dests_known(&n->dests, token)))
    detail = "unknown notification destination";
  else
    return 0;
  count(n, &n->stats.unknown);
  lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: refused a request at %s",
           kind == LMMI_PATH_BASE ? "the base URL" : "an unknown destination");
  *problem = lmmi_notifier_problem(404, "Not Found", detail, NULL, NULL);
  return 404;
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
    *problem = lmmi_notifier_problem(
        503, "Service Unavailable",
        "too many notifications before the delivery's creation was answered", NULL, NULL);
    return 503;
  case LMMI_DEST_BOUND:
    if (!check_link(n, link, bound)) {
      *problem = lmmi_notifier_problem(
          400, "Bad Request", "the notification names another delivery than its destination's",
          test ? "/subscription" : "/transaction", "not the delivery of this destination");
      free(bound);
      return 400;
    }
    count(n, &n->stats.accepted);
    dispatch(n, test, bound, delivered);
    free(bound);
    return 204;
  case LMMI_DEST_UNKNOWN:
    break;
  }
  return 0;
}

int lmmi_notifier_handle_body(lmm_t8_notifier *n, lmmi_path_kind kind, const char *token,
                              const char *body, size_t len, char **problem) {
  lmmw_t8_err je;
  char *link = NULL;
  bool delivered = false, test;
  lmm_err rc;
  int status;

  *problem = NULL;
  if (len == 0) {
    count(n, &n->stats.malformed);
    lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: empty notification body");
    *problem =
        lmmi_notifier_problem(400, "Bad Request", "empty notification body", "", "empty body");
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
    *problem =
        lmmi_notifier_problem(400, "Bad Request", "malformed notification", je.param, je.reason);
    status = 400;
    goto out;
  }
  if (kind == LMMI_PATH_DEST &&
      (status = at_destination(n, token, test, link, delivered, problem)) != 0)
    goto out;
  /* The base URL, or a per-delivery URL no longer (or never) handed out: a strict receiver
   * refused both from the path, unless the destination went while the body came in. */
  if (!n->accept_base) {
    status = lmmi_notifier_refuse_path(n, kind, token, problem);
    if (status == 0) { /* only if a token that went came back meanwhile: still refused */
      count(n, &n->stats.unknown);
      *problem =
          lmmi_notifier_problem(404, "Not Found", "unknown notification destination", NULL, NULL);
      status = 404;
    }
    goto out;
  }
  /* With accept_base the body's link must be a delivery we know. */
  if (!n->accept_unknown && !link_known(n, link)) {
    count(n, &n->stats.unknown);
    lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: notification for unknown %s %s%s",
             test ? "subscription" : "transaction", link,
             kind == LMMI_PATH_DEST ? " at an unknown destination" : "");
    *problem =
        lmmi_notifier_problem(404, "Not Found",
                              kind == LMMI_PATH_DEST ? "unknown notification destination"
                              : test                 ? "unknown subscription"
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
static lmmi_path_kind match_base(const char *base, const char *path, size_t len, char *token) {
  size_t bl = strlen(base);

  if (len == bl && strncmp(path, base, bl) == 0) return LMMI_PATH_BASE;
  while (bl > 0 && base[bl - 1] == '/')
    bl--;
  if (len != bl + 1 + LMMI_DEST_TOKEN_LEN || strncmp(path, base, bl) != 0 || path[bl] != '/')
    return LMMI_PATH_NONE;
  for (size_t i = 0; i < LMMI_DEST_TOKEN_LEN; i++) {
    char c = path[bl + 1 + i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return LMMI_PATH_NONE;
    token[i] = c;
  }
  token[LMMI_DEST_TOKEN_LEN] = '\0';
  return LMMI_PATH_DEST;
}

lmmi_path_kind lmmi_notifier_classify(const lmm_t8_notifier *n, const char *path, char *token) {
  size_t len = strcspn(path, "?#");
  lmmi_path_kind k = match_base(n->path, path, len, token);
  return k != LMMI_PATH_NONE ? k : match_base(n->url_path, path, len, token);
}

LMM_API int lmm_t8_notifier_handle_request(lmm_t8_notifier *n, const char *path,
                                           const char *content_type, const char *body, size_t len,
                                           char **problem_json) {
  char token[LMMI_DEST_TOKEN_LEN + 1] = "";
  lmmi_path_kind kind = LMMI_PATH_BASE;
  char *problem = NULL;
  int status;

  if (problem_json != NULL) *problem_json = NULL;
  if (n == NULL) return 500;
  if (body == NULL) len = 0;
  if (path != NULL && (kind = lmmi_notifier_classify(n, path, token)) == LMMI_PATH_NONE) {
    status = 404;
    problem = lmmi_notifier_problem(404, "Not Found", "no such resource", NULL, NULL);
  } else if ((status = lmmi_notifier_refuse_path(n, kind, token, &problem)) != 0) {
    /* refused from the path alone */
  } else if (content_type != NULL && !lmmi_notifier_content_type_ok(content_type)) {
    status = lmmi_notifier_reject_content_type(n, content_type, &problem);
  } else {
    status = lmmi_notifier_handle_body(n, kind, token, body, len, &problem);
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
    /* Answered 204 while its delivery was unknown: a mismatch can only be dropped now. */
    if (check_link(n, ev.link, link)) {
      count(n, &n->stats.early);
      dispatch(n, ev.test, link, ev.delivered);
    }
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

bool lmmi_notifier_strict(const lmm_t8_notifier *n) {
  return !n->accept_base;
}

bool lmmi_notifier_token_of(lmm_t8_notifier *n, const char *link, char *token) {
  return n->dests_ready && lmmi_dests_token_of(&n->dests, lmmi_dest_link_key(link), token);
}
