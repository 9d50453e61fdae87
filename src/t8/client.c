/* client.c - T8 SCS/AS client: GMD-via-MB2 requests over libcurl's multi interface, driven by
 * the context's event loop, with retries, OAuth2 bearer tokens and typed results. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "core/ctx_internal.h"
#include "t8/client_internal.h"
#include "lmm_wire/t8_json.h"
#include "t8/notifier_internal.h"

typedef struct sockent {
  curl_socket_t fd;
  short events;
} sockent;

typedef struct buf {
  char *data;
  size_t len, cap;
} buf;

struct lmm_t8_request {
  lmm_t8_client *cl;
  lmm_t8_op op;
  const char *method;
  char *url;
  char *body;
  const char *content_type;
  char *tmgi; /* the path's TMGI, so replies without a body still name it */
  char *txn;
  lmm_t8_cb cb;
  void *user;
  int attempts;
  CURL *easy;
  struct curl_slist *headers;
  buf resp;
  bool too_large;
  char *location;
  char *resp_type;
  long retry_after_ms; /* -1: no Retry-After header */
  lmmi_timer *retry_timer;
  /* A create's per-delivery notification destination at the attached receiver; "" when none.
   * Released if the create fails or is cancelled, bound to the delivery on its 201. */
  char dest[LMMI_DEST_TOKEN_LEN + 1];
  char errbuf[CURL_ERROR_SIZE];
  lmm_t8_request *prev, *next;
};

struct lmm_t8_client {
  lmm_ctx *ctx;
  char *api_root, *scs_as_id, *token, *token_file, *ca_file;
  lmm_t8_config cfg; /* string members point at the copies above */
  char *base_url;
  CURLM *multi;
  lmmi_source source;
  sockent *socks;
  size_t n_socks, cap_socks;
  int64_t curl_deadline; /* -1: curl waits for nothing */
  lmm_t8_request *reqs;
  lmm_t8_notifier *notifier;
};

/* ------------------------------------------------------------ curl multi glue */

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)e, (void)socketp;
  lmm_t8_client *cl = userp;
  size_t i = 0;
  while (i < cl->n_socks && cl->socks[i].fd != s)
    i++;
  if (what == CURL_POLL_REMOVE) {
    if (i < cl->n_socks) cl->socks[i] = cl->socks[--cl->n_socks];
    return 0;
  }
  if (i == cl->n_socks) {
    if (cl->n_socks == cl->cap_socks) {
      size_t cap = cl->cap_socks ? cl->cap_socks * 2 : 8;
      sockent *n = realloc(cl->socks, cap * sizeof *n);
      if (!n) return -1; /* curl fails the transfer: an honest NOMEM-as-transport error */
      cl->socks = n, cl->cap_socks = cap;
    }
    cl->socks[cl->n_socks++].fd = s;
  }
  cl->socks[i].events =
      (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  lmm_t8_client *cl = userp;
  cl->curl_deadline = timeout_ms < 0 ? -1 : lmm_ctx_now_ms(cl->ctx) + timeout_ms;
  return 0;
}

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  lmm_t8_client *cl = self;
  for (size_t i = 0; i < cl->n_socks && i < cap; i++)
    pfd[i] = (struct pollfd){.fd = cl->socks[i].fd, .events = cl->socks[i].events};
  return cl->n_socks;
}

static int64_t src_deadline(void *self) {
  return ((lmm_t8_client *)self)->curl_deadline;
}

static void finish(lmm_t8_request *r, CURLcode cc);

static void drain_done(lmm_t8_client *cl) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(cl->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      lmm_t8_request *r = NULL;
      CURLcode cc = m->data.result;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
      finish(r, cc);
    }
}

static void src_process(void *self, const struct pollfd *pfd, size_t n) {
  lmm_t8_client *cl = self;
  int running;
  for (size_t i = 0; i < n; i++) {
    if (!pfd[i].revents) continue;
    bool ours = false;
    for (size_t k = 0; k < cl->n_socks && !ours; k++)
      ours = cl->socks[k].fd == pfd[i].fd;
    if (!ours) continue;
    int mask = ((pfd[i].revents & POLLIN) ? CURL_CSELECT_IN : 0) |
               ((pfd[i].revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
               ((pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(cl->multi, pfd[i].fd, mask, &running);
  }
  if (cl->curl_deadline >= 0 && cl->curl_deadline <= lmm_ctx_now_ms(cl->ctx)) {
    cl->curl_deadline = -1;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  drain_done(cl);
}

/* ------------------------------------------------------------------ client */

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

LMM_API lmm_err lmm_t8_client_new(lmm_ctx *ctx, const lmm_t8_config *cfg, lmm_t8_client **out) {
  if (!ctx || !cfg || !out || !cfg->api_root || !cfg->scs_as_id || !*cfg->scs_as_id)
    return LMM_ERR_ARG;
  if (strncmp(cfg->api_root, "http://", 7) && strncmp(cfg->api_root, "https://", 8))
    return LMM_ERR_ARG;
  /* scsAsId becomes a path segment: refuse what would change the path. */
  for (const char *p = cfg->scs_as_id; *p; p++)
    if (*p == '/' || *p == '?' || *p == '#' || *p == '%' || isspace((unsigned char)*p) ||
        iscntrl((unsigned char)*p))
      return LMM_ERR_ARG;
  if (cfg->token_file) {
    FILE *f = fopen(cfg->token_file, "r");
    if (!f) return LMM_ERR_IO;
    fclose(f);
  }
  lmm_t8_client *cl = calloc(1, sizeof *cl);
  if (!cl) return LMM_ERR_NOMEM;
  cl->ctx = ctx;
  cl->cfg = *cfg;
  cl->api_root = strdup(cfg->api_root);
  cl->scs_as_id = strdup(cfg->scs_as_id);
  cl->token = dup_or_null(cfg->token);
  cl->token_file = dup_or_null(cfg->token_file);
  cl->ca_file = dup_or_null(cfg->ca_file);
  cl->curl_deadline = -1;
  lmm_err rc = LMM_ERR_NOMEM;
  if (!cl->api_root || !cl->scs_as_id || (cfg->token && !cl->token) ||
      (cfg->token_file && !cl->token_file) || (cfg->ca_file && !cl->ca_file))
    goto fail;
  size_t rl = strlen(cl->api_root);
  while (rl > 0 && cl->api_root[rl - 1] == '/')
    cl->api_root[--rl] = '\0';
  cl->base_url = malloc(rl + sizeof LMM_T8_BASE_PATH);
  if (!cl->base_url) goto fail;
  memcpy(cl->base_url, cl->api_root, rl);
  memcpy(cl->base_url + rl, LMM_T8_BASE_PATH, sizeof LMM_T8_BASE_PATH);
  cl->cfg.api_root = cl->api_root, cl->cfg.scs_as_id = cl->scs_as_id;
  cl->cfg.token = cl->token, cl->cfg.token_file = cl->token_file, cl->cfg.ca_file = cl->ca_file;
  if (cl->cfg.max_response == 0) cl->cfg.max_response = 1u << 20;
  if (cl->cfg.retry_base_ms <= 0) cl->cfg.retry_base_ms = 200;
  if (cl->cfg.retry_max_ms <= 0) cl->cfg.retry_max_ms = 30000;
  if (cl->cfg.max_retries < 0) cl->cfg.max_retries = 0;
  if (!(cl->multi = curl_multi_init())) goto fail;
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
  cl->source = (lmmi_source){src_pollfds, src_deadline, src_process, cl, LMMI_ORDER_CLIENT};
  if ((rc = lmmi_ctx_add_source(ctx, &cl->source)) != LMM_OK) goto fail;
  *out = cl;
  return LMM_OK;
fail:
  if (cl->multi) curl_multi_cleanup(cl->multi);
  free(cl->base_url), free(cl->api_root), free(cl->scs_as_id), free(cl->token);
  free(cl->token_file), free(cl->ca_file), free(cl);
  return rc;
}

static void request_free(lmm_t8_request *r) {
  lmm_t8_client *cl = r->cl;
  if (r->prev)
    r->prev->next = r->next;
  else
    cl->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  if (r->retry_timer) lmmi_timer_cancel(cl->ctx, r->retry_timer);
  if (r->dest[0] && cl->notifier) lmmi_notifier_release(cl->notifier, r->dest);
  if (r->easy) {
    curl_multi_remove_handle(cl->multi, r->easy);
    curl_easy_cleanup(r->easy);
  }
  curl_slist_free_all(r->headers);
  free(r->url), free(r->body), free(r->tmgi), free(r->txn), free(r->resp.data);
  free(r->location), free(r->resp_type);
  free(r);
}

LMM_API void lmm_t8_client_free(lmm_t8_client *cl) {
  if (!cl) return;
  while (cl->reqs)
    request_free(cl->reqs);
  lmmi_ctx_remove_source(cl->ctx, &cl->source);
  curl_multi_cleanup(cl->multi);
  free(cl->socks), free(cl->base_url), free(cl->api_root), free(cl->scs_as_id);
  free(cl->token), free(cl->token_file), free(cl->ca_file);
  free(cl);
}

lmm_ctx *lmmi_t8_client_ctx(const lmm_t8_client *cl) {
  return cl->ctx;
}

LMM_API const char *lmm_t8_client_base_url(const lmm_t8_client *cl) {
  return cl->base_url;
}

LMM_API void lmm_t8_client_attach_notifier(lmm_t8_client *cl, lmm_t8_notifier *n) {
  /* Destinations of creates in flight belong to the receiver that handed them out. */
  for (lmm_t8_request *r = cl->reqs; r && n != cl->notifier; r = r->next)
    if (r->dest[0]) {
      if (cl->notifier) lmmi_notifier_release(cl->notifier, r->dest);
      r->dest[0] = '\0';
    }
  cl->notifier = n;
}

LMM_API void lmm_t8_request_cancel(lmm_t8_request *r) {
  if (r) request_free(r);
}

/* ----------------------------------------------------------- one HTTP attempt */

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
  lmm_t8_request *r = ud;
  size_t n = sz * nm;
  if (r->resp.len + n > r->cl->cfg.max_response) {
    r->too_large = true;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (r->resp.len + n + 1 > r->resp.cap) {
    size_t cap = r->resp.cap ? r->resp.cap : 1024;
    while (cap < r->resp.len + n + 1)
      cap *= 2;
    char *d = realloc(r->resp.data, cap);
    if (!d) return 0;
    r->resp.data = d, r->resp.cap = cap;
  }
  memcpy(r->resp.data + r->resp.len, p, n);
  r->resp.len += n;
  r->resp.data[r->resp.len] = '\0';
  return n;
}

static char *header_value(const char *line, size_t n, const char *name) {
  size_t nl = strlen(name);
  if (n <= nl || strncasecmp(line, name, nl) || line[nl] != ':') return NULL;
  const char *v = line + nl + 1, *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  return strndup(v, (size_t)(end - v));
}

/* Retry-After is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
static long parse_retry_after(const char *v, int64_t wall_ms) {
  char *end;
  errno = 0;
  long s = strtol(v, &end, 10);
  if (end != v && *end == '\0' && s >= 0 && errno == 0) return s > 86400 ? 86400000L : s * 1000;
  struct tm tm = {0};
  const char *e = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!e || *e) return -1;
  int64_t at = (int64_t)timegm(&tm) * 1000 - wall_ms;
  return at < 0 ? 0 : at > 86400000 ? 86400000L : (long)at;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
  lmm_t8_request *r = ud;
  size_t n = sz * nm;
  char *v;
  if (n >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after 100 or a redirect) */
    free(r->location), free(r->resp_type);
    r->location = r->resp_type = NULL;
    r->retry_after_ms = -1;
  } else if ((v = header_value(p, n, "Location"))) {
    free(r->location), r->location = v;
  } else if ((v = header_value(p, n, "Content-Type"))) {
    free(r->resp_type), r->resp_type = v;
  } else if ((v = header_value(p, n, "Retry-After"))) {
    r->retry_after_ms = parse_retry_after(v, lmm_ctx_wall_ms(r->cl->ctx));
    free(v);
  }
  return n;
}

static lmm_err read_token(const lmm_t8_client *cl, char **out) {
  *out = NULL;
  if (cl->token) return (*out = strdup(cl->token)) ? LMM_OK : LMM_ERR_NOMEM;
  if (!cl->token_file) return LMM_OK;
  FILE *f = fopen(cl->token_file, "r");
  if (!f) return LMM_ERR_IO;
  char tok[4096];
  size_t n = fread(tok, 1, sizeof tok - 1, f);
  fclose(f);
  tok[n] = '\0';
  while (n > 0 && isspace((unsigned char)tok[n - 1]))
    tok[--n] = '\0';
  return (*out = strdup(tok)) ? LMM_OK : LMM_ERR_NOMEM;
}

static lmm_err attempt_start(lmm_t8_request *r) {
  lmm_t8_client *cl = r->cl;
  char *token = NULL;
  lmm_err rc = read_token(cl, &token);
  if (rc != LMM_OK) return rc;
  rc = LMM_ERR_NOMEM;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  free(r->resp.data);
  r->resp = (buf){0};
  r->too_large = false;
  r->retry_after_ms = -1;
  r->errbuf[0] = '\0';
  struct curl_slist *h =
      curl_slist_append(NULL, "Accept: application/json, application/problem+json");
  /* Expect: 100-continue would add a round trip (or a second's stall) to every body. */
  if (h) h = curl_slist_append(h, "Expect:");
  if (h && r->content_type) {
    char line[96];
    snprintf(line, sizeof line, "Content-Type: %s", r->content_type);
    h = curl_slist_append(h, line);
  }
  if (h && token && *token) {
    size_t tl = strlen(token) + 32;
    char *line = malloc(tl);
    if (line) {
      snprintf(line, tl, "Authorization: Bearer %s", token);
      h = curl_slist_append(h, line);
      free(line);
    } else {
      curl_slist_free_all(h), h = NULL;
    }
  }
  free(token);
  if (!h) return LMM_ERR_NOMEM;
  r->headers = h;
  if (!r->easy && !(r->easy = curl_easy_init())) return LMM_ERR_NOMEM;
  CURL *e = r->easy;
  curl_easy_reset(e);
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  if (r->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
  } else if (!strcmp(r->method, "GET")) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cl->cfg.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cl->cfg.request_timeout_ms);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cl->cfg.tls_verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cl->cfg.tls_verify ? 2L : 0L);
  if (cl->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, cl->ca_file);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Release 19 adds 307/308 for SCEF redirection; they keep the method and body. */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  r->attempts++;
  if (curl_multi_add_handle(cl->multi, e) != CURLM_OK) return LMM_ERR_NOMEM;
  return LMM_OK;
}

/* ------------------------------------------------------------- completion */

static bool method_idempotent(const char *m) {
  /* GET, PUT and DELETE are idempotent by definition; a merge-patch applied twice gives the
   * same resource (RFC 7396), so PATCH bodies of this API are too. POST is not. */
  return strcmp(m, "POST") != 0;
}

/* A connection that was never made carried no request: even a POST may go again. */
static bool nothing_sent(CURLcode cc) {
  return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
         cc == CURLE_COULDNT_RESOLVE_PROXY;
}

static void retry_fire(void *arg) {
  lmm_t8_request *r = arg;
  r->retry_timer = NULL;
  if (attempt_start(r) != LMM_OK) finish(r, CURLE_OUT_OF_MEMORY);
}

static long backoff_ms(lmm_t8_request *r) {
  const lmm_t8_config *c = &r->cl->cfg;
  long cap = c->retry_base_ms;
  for (int i = 1; i < r->attempts && cap < c->retry_max_ms; i++)
    cap *= 2;
  if (cap > c->retry_max_ms) cap = c->retry_max_ms;
  /* "Full jitter": a uniform wait in [cap/2, cap] keeps retries of many clients apart while
   * never retrying sooner than half the nominal back-off. */
  return cap / 2 + (long)lmmi_random_below(r->cl->ctx, (uint64_t)(cap - cap / 2) + 1);
}

static bool maybe_retry(lmm_t8_request *r, CURLcode cc, long status) {
  const lmm_t8_config *c = &r->cl->cfg;
  if (r->attempts > c->max_retries) return false;
  bool retry;
  if (cc != CURLE_OK)
    retry = !r->too_large && (method_idempotent(r->method) || nothing_sent(cc));
  else
    /* 429 and 503 say the SCEF did not act on the request, so a POST may go again too. */
    retry = status == 429 || status == 503;
  if (!retry) return false;
  long wait = (cc == CURLE_OK && r->retry_after_ms >= 0) ? r->retry_after_ms : backoff_ms(r);
  if (wait > c->retry_max_ms) return false; /* the SCEF asks for longer than we may wait */
  curl_multi_remove_handle(r->cl->multi, r->easy);
  lmmi_log(r->cl->ctx, LMM_LOG_INFO, "T8 %s %s: %s, retry %d in %ld ms", r->method, r->url,
           cc != CURLE_OK ? curl_easy_strerror(cc) : "busy", r->attempts, wait);
  r->retry_timer = lmmi_timer_add(r->cl->ctx, lmm_ctx_now_ms(r->cl->ctx) + wait, retry_fire, r);
  return r->retry_timer != NULL;
}

static bool type_is(const char *ct, const char *want) {
  if (!ct) return false;
  size_t n = strlen(want);
  return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void proto_error(lmm_t8_result *res, const char *what, const lmmw_t8_err *je) {
  res->err = LMM_ERR_PROTO;
  if (je)
    snprintf(res->transport_error, sizeof res->transport_error, "%.60s: %.90s%s%.100s", what,
             je->param, je->param[0] ? ": " : "", je->reason);
  else
    snprintf(res->transport_error, sizeof res->transport_error, "%s", what);
}

static int expected_status(lmm_t8_op op) {
  return (op == LMM_T8_TMGI_CREATE || op == LMM_T8_GMD_CREATE) ? 201 : 200;
}

static void finish(lmm_t8_request *r, CURLcode cc) {
  lmm_t8_client *cl = r->cl;
  long status = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  if (maybe_retry(r, cc, status)) return;

  lmm_t8_result res = {.err = LMM_OK, .http_status = (int)status, .attempts = r->attempts};
  lmm_t8_reply rep = {.op = r->op, .result = &res};
  lmm_tmgi_allocation alloc = {0}, *allocs = NULL;
  lmm_gmd gmd = {.scef_port = -1}, *gmds = NULL;
  size_t n = 0;
  lmmw_t8_err je = {0};
  const char *body = r->resp.data ? r->resp.data : "";
  size_t blen = r->resp.len;

  if (cc != CURLE_OK) {
    res.err = cc == CURLE_OPERATION_TIMEDOUT ? LMM_ERR_TIMEOUT
              : r->too_large                 ? LMM_ERR_PROTO
                                             : LMM_ERR_NET;
    if (r->too_large)
      snprintf(res.transport_error, sizeof res.transport_error,
               "response body larger than %zu bytes", cl->cfg.max_response);
    else
      snprintf(res.transport_error, sizeof res.transport_error, "%.80s%s%.160s",
               curl_easy_strerror(cc), r->errbuf[0] ? ": " : "", r->errbuf);
  } else if (status >= 300 || status < 200) {
    res.err = LMM_ERR_T8;
    if (blen && (type_is(r->resp_type, "application/problem+json") ||
                 type_is(r->resp_type, "application/json")))
      res.has_problem = lmmw_t8_problem_decode(body, blen, &res.problem, &je) == LMM_OK;
  } else if (status == 204) {
    bool allowed = r->op == LMM_T8_TMGI_DELETE || r->op == LMM_T8_GMD_DELETE ||
                   r->op == LMM_T8_TMGI_PUT || r->op == LMM_T8_TMGI_PATCH ||
                   r->op == LMM_T8_GMD_PUT || r->op == LMM_T8_GMD_PATCH;
    if (!allowed) proto_error(&res, "unexpected 204 No Content", NULL);
  } else if (r->op == LMM_T8_TMGI_DELETE || r->op == LMM_T8_GMD_DELETE) {
    /* 200 with a body is tolerated on DELETE; nothing to read. */
  } else if (status != expected_status(r->op)) {
    char what[64];
    snprintf(what, sizeof what, "unexpected HTTP status %ld", status);
    proto_error(&res, what, NULL);
  } else {
    bool is_create = r->op == LMM_T8_TMGI_CREATE || r->op == LMM_T8_GMD_CREATE;
    char *loc_seg = NULL;
    if (is_create && (!r->location || !(loc_seg = lmmw_t8_link_last_segment(r->location)))) {
      proto_error(&res, "201 Created without a usable Location header", NULL);
    } else if (blen && !type_is(r->resp_type, "application/json")) {
      proto_error(&res, "response is not application/json", NULL);
    } else {
      lmm_err dr = LMM_OK;
      switch (r->op) {
      case LMM_T8_TMGI_CREATE:
      case LMM_T8_TMGI_GET:
      case LMM_T8_TMGI_PUT:
      case LMM_T8_TMGI_PATCH:
        if (blen) dr = lmmw_t8_tmgi_allocation_decode(body, blen, 0, &alloc, &je);
        if (dr == LMM_OK) {
          if (is_create) { /* the TMGI is the Location's last segment, never a body member */
            free(alloc.tmgi), alloc.tmgi = loc_seg, loc_seg = NULL;
            if (!alloc.self && !(alloc.self = strdup(r->location))) dr = LMM_ERR_NOMEM;
          } else if (!alloc.tmgi && !(alloc.tmgi = strdup(r->tmgi))) {
            dr = LMM_ERR_NOMEM;
          }
          rep.allocation = &alloc;
        }
        break;
      case LMM_T8_TMGI_LIST:
        dr = blen ? lmmw_t8_tmgi_allocation_list_decode(body, blen, &allocs, &n, &je) : LMM_OK;
        rep.allocations = allocs, rep.n_allocations = n;
        break;
      case LMM_T8_GMD_CREATE:
      case LMM_T8_GMD_GET:
      case LMM_T8_GMD_PUT:
      case LMM_T8_GMD_PATCH:
        if (blen) dr = lmmw_t8_gmd_decode(body, blen, 0, &gmd, &je);
        if (dr == LMM_OK) {
          if (is_create) {
            free(gmd.transaction_id), gmd.transaction_id = loc_seg, loc_seg = NULL;
            if (!gmd.self && !(gmd.self = strdup(r->location))) dr = LMM_ERR_NOMEM;
          } else if (!gmd.transaction_id && !(gmd.transaction_id = strdup(r->txn))) {
            dr = LMM_ERR_NOMEM;
          }
          rep.gmd = &gmd;
        }
        break;
      case LMM_T8_GMD_LIST:
        dr = blen ? lmmw_t8_gmd_list_decode(body, blen, &gmds, &n, &je) : LMM_OK;
        rep.gmds = gmds, rep.n_gmds = n;
        break;
      default:
        break;
      }
      if (dr == LMM_ERR_NOMEM)
        res.err = LMM_ERR_NOMEM;
      else if (dr != LMM_OK)
        proto_error(&res, "malformed response body", &je);
      if (res.err != LMM_OK) rep.allocation = NULL, rep.gmd = NULL;
    }
    free(loc_seg);
  }
  /* What the receiver held for this create goes to the handlers after the callback, which is
   * where the caller learns the link to match them against. */
  lmm_t8_notifier *flush_to = NULL;
  char dest[LMMI_DEST_TOKEN_LEN + 1] = "";
  if (res.err == LMM_OK && cl->notifier) {
    /* Register before the callback: the SCEF may notify as soon as it answered. */
    if (r->op == LMM_T8_GMD_CREATE && gmd.self) {
      lmm_t8_notifier_expect(cl->notifier, gmd.self);
      if (r->dest[0]) {
        lmmi_notifier_bind(cl->notifier, r->dest, gmd.self);
        memcpy(dest, r->dest, sizeof dest);
        r->dest[0] = '\0'; /* bound: request_free() must not release it */
        flush_to = cl->notifier;
      }
    }
    if (r->op == LMM_T8_GMD_DELETE) lmm_t8_notifier_forget(cl->notifier, r->url);
  }
  if (res.err != LMM_OK)
    lmmi_log(cl->ctx, LMM_LOG_WARN, "T8 %s %s failed: %s%s%s", r->method, r->url,
             lmm_strerror(res.err), res.transport_error[0] ? ": " : "", res.transport_error);
  lmm_t8_cb cb = r->cb;
  void *user = r->user;
  request_free(r);
  if (cb) cb(user, &rep);
  /* Unless the callback detached the receiver (it may then be gone). */
  if (flush_to && flush_to == cl->notifier) lmmi_notifier_flush(flush_to, dest, gmd.self);
  lmm_t8_result_clear(&res);
  lmm_tmgi_allocation_clear(&alloc);
  lmm_gmd_clear(&gmd);
  lmm_tmgi_allocation_list_free(allocs, n);
  lmm_gmd_list_free(gmds, rep.n_gmds);
}

/* ------------------------------------------------------------ starting calls */

/* TMGIs and transaction ids are opaque to us but become path segments: refuse anything that
 * would turn into another path. */
static bool segment_ok(const char *s) {
  if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..")) return false;
  for (; *s; s++)
    if (*s == '/' || *s == '?' || *s == '#' || *s == '%' || isspace((unsigned char)*s) ||
        iscntrl((unsigned char)*s))
      return false;
  return true;
}

/* `dest` (may be NULL) is the create's per-delivery destination, which the request takes: it is
 * released on every failure, here or later. */
static lmm_err start_dest(lmm_t8_client *cl, lmm_t8_op op, const char *method, const char *tmgi,
                          const char *txn, char *body, const char *dest, lmm_t8_cb cb, void *user,
                          lmm_t8_request **out_req) {
  lmm_err rc = LMM_ERR_ARG;
  lmm_t8_request *r = NULL;
  if ((tmgi && !segment_ok(tmgi)) || (txn && !segment_ok(txn))) goto fail;
  rc = LMM_ERR_NOMEM;
  if (!(r = calloc(1, sizeof *r))) goto fail;
  if (dest) memcpy(r->dest, dest, sizeof r->dest), dest = NULL;
  r->cl = cl, r->op = op, r->method = method, r->cb = cb, r->user = user, r->body = body;
  body = NULL;
  r->content_type = !r->body                   ? NULL
                    : !strcmp(method, "PATCH") ? "application/merge-patch+json"
                                               : "application/json";
  size_t ul = strlen(cl->base_url) + strlen(cl->scs_as_id) + (tmgi ? strlen(tmgi) : 0) +
              (txn ? strlen(txn) : 0) + 64;
  if (!(r->url = malloc(ul))) goto fail;
  int w = snprintf(r->url, ul, "%s/%s/tmgi-allocation", cl->base_url, cl->scs_as_id);
  if (tmgi) w += snprintf(r->url + w, ul - (size_t)w, "/%s", tmgi);
  if (op >= LMM_T8_GMD_CREATE) w += snprintf(r->url + w, ul - (size_t)w, "/delivery-via-mbms");
  if (txn) snprintf(r->url + w, ul - (size_t)w, "/%s", txn);
  if ((tmgi && !(r->tmgi = strdup(tmgi))) || (txn && !(r->txn = strdup(txn)))) goto fail;
  r->next = cl->reqs;
  if (cl->reqs) cl->reqs->prev = r;
  cl->reqs = r;
  if ((rc = attempt_start(r)) != LMM_OK) {
    request_free(r);
    return rc;
  }
  if (out_req) *out_req = r;
  return LMM_OK;
fail:
  if (r && r->dest[0] && cl->notifier) lmmi_notifier_release(cl->notifier, r->dest);
  if (dest && cl->notifier) lmmi_notifier_release(cl->notifier, dest);
  if (r) free(r->url), free(r->tmgi), free(r->txn), free(r->body), free(r);
  free(body);
  return rc;
}

static lmm_err start(lmm_t8_client *cl, lmm_t8_op op, const char *method, const char *tmgi,
                     const char *txn, char *body, lmm_t8_cb cb, void *user,
                     lmm_t8_request **out_req) {
  return start_dest(cl, op, method, tmgi, txn, body, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_create_async(lmm_t8_client *cl, const lmm_tmgi_allocation *req,
                                         lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  static const lmm_tmgi_allocation empty = {0};
  char *body = NULL;
  if (req && req->external_group_id && !lmmw_t8_external_group_id_ok(req->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_tmgi_allocation_encode(req ? req : &empty, LMMW_T8_OMIT_RO, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_TMGI_CREATE, "POST", NULL, NULL, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_get_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req) {
  if (!tmgi) return LMM_ERR_ARG;
  return start(cl, LMM_T8_TMGI_GET, "GET", tmgi, NULL, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_list_async(lmm_t8_client *cl, lmm_t8_cb cb, void *user,
                                       lmm_t8_request **out_req) {
  return start(cl, LMM_T8_TMGI_LIST, "GET", NULL, NULL, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_put_async(lmm_t8_client *cl, const char *tmgi,
                                      const lmm_tmgi_allocation *req, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req) {
  char *body = NULL;
  if (!tmgi || !req) return LMM_ERR_ARG;
  if (req->external_group_id && !lmmw_t8_external_group_id_ok(req->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_tmgi_allocation_encode(req, LMMW_T8_OMIT_RO, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_TMGI_PUT, "PUT", tmgi, NULL, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_patch_async(lmm_t8_client *cl, const char *tmgi,
                                        const lmm_tmgi_allocation_patch *p, lmm_t8_cb cb,
                                        void *user, lmm_t8_request **out_req) {
  static const lmm_tmgi_allocation_patch empty = {0};
  char *body = NULL;
  if (!tmgi) return LMM_ERR_ARG;
  if (p && p->set_external_group_id && p->external_group_id &&
      !lmmw_t8_external_group_id_ok(p->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_tmgi_patch_encode(p ? p : &empty, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_TMGI_PATCH, "PATCH", tmgi, NULL, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_delete_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb,
                                         void *user, lmm_t8_request **out_req) {
  if (!tmgi) return LMM_ERR_ARG;
  return start(cl, LMM_T8_TMGI_DELETE, "DELETE", tmgi, NULL, NULL, cb, user, out_req);
}

/* A delivery needs somewhere to be notified: the caller's URL, else the attached receiver's
 * `own` URL for this delivery, else the receiver's base URL. */
static lmm_err gmd_body(lmm_t8_client *cl, const lmm_gmd *req, const char *own, char **body) {
  if (!req) return LMM_ERR_ARG;
  if (req->external_group_id && !lmmw_t8_external_group_id_ok(req->external_group_id))
    return LMM_ERR_ARG;
  lmm_gmd g = *req;
  if (!g.notification_destination || !*g.notification_destination)
    g.notification_destination = own            ? (char *)own
                                 : cl->notifier ? (char *)lmm_t8_notifier_url(cl->notifier)
                                                : NULL;
  if (!g.notification_destination) return LMM_ERR_ARG;
  return lmmw_t8_gmd_encode(&g, LMMW_T8_OMIT_RO, body);
}

static bool wants_destination(const lmm_t8_client *cl, const lmm_gmd *req) {
  return cl->notifier && req && (!req->notification_destination || !*req->notification_destination);
}

LMM_API lmm_err lmm_t8_gmd_create_async(lmm_t8_client *cl, const char *tmgi, const lmm_gmd *req,
                                        lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  char *body = NULL, *url = NULL;
  char dest[LMMI_DEST_TOKEN_LEN + 1] = "";
  if (!tmgi || !req) return LMM_ERR_ARG;
  /* Registered before the POST leaves: behind a proxy the notification may come before the 201
   * that tells which transaction it is. */
  if (wants_destination(cl, req)) {
    lmm_err dr = lmmi_notifier_reserve(cl->notifier, dest, &url);
    if (dr == LMM_ERR_STATE)
      lmmi_log(cl->ctx, LMM_LOG_WARN,
               "T8: every notification destination awaits its 201: this delivery is notified at "
               "the base URL and matched only once its 201 is in");
    else if (dr != LMM_OK)
      return dr;
  }
  lmm_err rc = gmd_body(cl, req, url, &body);
  free(url);
  if (rc != LMM_OK) {
    if (dest[0]) lmmi_notifier_release(cl->notifier, dest);
    return rc;
  }
  return start_dest(cl, LMM_T8_GMD_CREATE, "POST", tmgi, NULL, body, dest[0] ? dest : NULL, cb,
                    user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_get_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                     lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  if (!tmgi || !txn) return LMM_ERR_ARG;
  return start(cl, LMM_T8_GMD_GET, "GET", tmgi, txn, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_list_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req) {
  if (!tmgi) return LMM_ERR_ARG;
  return start(cl, LMM_T8_GMD_LIST, "GET", tmgi, NULL, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_put_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                     const lmm_gmd *req, lmm_t8_cb cb, void *user,
                                     lmm_t8_request **out_req) {
  char *body = NULL, *url = NULL;
  if (!tmgi || !txn) return LMM_ERR_ARG;
  if (wants_destination(cl, req) && segment_ok(tmgi) && segment_ok(txn)) {
    /* A replacement keeps the delivery's own destination, when it has one. */
    char dest[LMMI_DEST_TOKEN_LEN + 1];
    size_t ll = strlen(cl->base_url) + strlen(cl->scs_as_id) + strlen(tmgi) + strlen(txn) + 64;
    char *link = malloc(ll);
    if (!link) return LMM_ERR_NOMEM;
    snprintf(link, ll, "%s/%s/tmgi-allocation/%s/delivery-via-mbms/%s", cl->base_url, cl->scs_as_id,
             tmgi, txn);
    if (lmmi_notifier_token_of(cl->notifier, link, dest) &&
        !(url = lmmi_notifier_url_of(cl->notifier, dest))) {
      free(link);
      return LMM_ERR_NOMEM;
    }
    free(link);
  }
  lmm_err rc = gmd_body(cl, req, url, &body);
  free(url);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_GMD_PUT, "PUT", tmgi, txn, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_patch_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                       const lmm_gmd_patch *p, lmm_t8_cb cb, void *user,
                                       lmm_t8_request **out_req) {
  char *body = NULL;
  if (!tmgi || !txn || !p) return LMM_ERR_ARG;
  if (p->set_external_group_id && p->external_group_id &&
      !lmmw_t8_external_group_id_ok(p->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_gmd_patch_encode(p, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_GMD_PATCH, "PATCH", tmgi, txn, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_delete_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                        lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  if (!tmgi || !txn) return LMM_ERR_ARG;
  return start(cl, LMM_T8_GMD_DELETE, "DELETE", tmgi, txn, NULL, cb, user, out_req);
}
