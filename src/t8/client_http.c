/* client_http.c - one T8 request over HTTP: an attempt (headers, token, libcurl options), its
 * retries (back-off, Retry-After) and what its answer comes to (typed result, the receiver's
 * destination bound). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lmm_wire/t8_json.h"
#include "t8/client_impl.h"

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

/* curl_slist_append() for a chain of appends: its NULL leaves the list as it was, which is
 * freed here, so that the chain ends in NULL with nothing left behind. */
static struct curl_slist *append_or_free(struct curl_slist *h, const char *line) {
  struct curl_slist *n = curl_slist_append(h, line);
  if (!n) curl_slist_free_all(h);
  return n;
}

lmm_err lmmi_t8_attempt_start(lmm_t8_request *r) {
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
  if (h) h = append_or_free(h, "Expect:");
  if (h && r->content_type) {
    char line[96];
    snprintf(line, sizeof line, "Content-Type: %s", r->content_type);
    h = append_or_free(h, line);
  }
  if (h && token && *token) {
    size_t tl = strlen(token) + 32;
    char *line = malloc(tl);
    if (line) {
      snprintf(line, tl, "Authorization: Bearer %s", token);
      h = append_or_free(h, line);
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

/* The SCEF's certificate refused, or our own TLS files unusable: the next attempt meets the
 * same certificate, so a retry would only delay the error an operator has to fix. */
static bool tls_refused(CURLcode cc) {
  return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
         cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_ISSUER_ERROR ||
         cc == CURLE_SSL_CRL_BADFILE || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

static void retry_fire(void *arg) {
  lmm_t8_request *r = arg;
  r->retry_timer = NULL;
  if (lmmi_t8_attempt_start(r) != LMM_OK) lmmi_t8_request_finish(r, CURLE_OUT_OF_MEMORY);
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
    retry = !r->too_large && !tls_refused(cc) && (method_idempotent(r->method) || nothing_sent(cc));
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

void lmmi_t8_request_finish(lmm_t8_request *r, CURLcode cc) {
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
        r->dest[0] = '\0'; /* bound: lmmi_t8_request_free() must not release it */
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
  lmmi_t8_request_free(r);
  if (cb) cb(user, &rep);
  /* Unless the callback detached the receiver (it may then be gone). */
  if (flush_to && flush_to == cl->notifier) lmmi_notifier_flush(flush_to, dest, gmd.self);
  lmm_t8_result_clear(&res);
  lmm_tmgi_allocation_clear(&alloc);
  lmm_gmd_clear(&gmd);
  lmm_tmgi_allocation_list_free(allocs, n);
  lmm_gmd_list_free(gmds, rep.n_gmds);
}
