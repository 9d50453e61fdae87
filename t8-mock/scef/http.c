/* http.c - the T8 GMDviaMBMSbyMB2 HTTP server: libmicrohttpd callbacks, routing to the
 * resource handlers, and the response helpers they share. */
#include "http.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ responses */

struct MHD_Response *http_response(char *body, const char *ctype) {
  struct MHD_Response *r;
  if (body) {
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
      free(body);
      return NULL;
    }
    if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  } else {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  return r;
}

struct MHD_Response *http_problem(int status, const char *cause, const char *detail,
                                  const char *param, const char *reason) {
  lmm_invalid_param ip;
  lmm_problem p;
  char *json = NULL;
  memset(&p, 0, sizeof p);
  p.status = status;
  p.title = (char *)MHD_get_reason_phrase_for((unsigned)status);
  p.detail = (char *)detail;
  p.cause = (char *)cause;
  if (param) {
    ip.param = (char *)param;
    ip.reason = (char *)reason;
    p.invalid_params = &ip;
    p.n_invalid_params = 1;
  }
  if (lmmw_t8_problem_encode(&p, &json) != LMM_OK) return NULL;
  return http_response(json, "application/problem+json");
}

/* Queues `r` (taking it): sleeps --latency-ms first, then remembers the status for the log. */
enum MHD_Result http_send(req *q, struct MHD_Connection *c, int status, struct MHD_Response *r) {
  enum MHD_Result ret;
  if (!r) return MHD_NO; /* out of memory: closing the connection is all that is left */
  mock_sleep_ms(q->m, q->m->cfg.latency_ms);
  ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  q->queued = true;
  q->status = ret == MHD_YES ? status : 0;
  return ret;
}

enum MHD_Result http_send_problem(req *q, struct MHD_Connection *c, int status, const char *cause,
                                  const char *detail, const char *param, const char *reason) {
  return http_send(q, c, status, http_problem(status, cause, detail, param, reason));
}

enum MHD_Result http_send_json(req *q, struct MHD_Connection *c, int status, char *json,
                               const char *location) {
  struct MHD_Response *r = http_response(json, "application/json");
  if (r && location) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
  return http_send(q, c, status, r);
}

enum MHD_Result http_send_nomem(req *q, struct MHD_Connection *c) {
  return http_send_problem(q, c, 500, "SYSTEM_FAILURE", "out of memory", NULL, NULL);
}

enum MHD_Result http_bad_body(req *q, struct MHD_Connection *c, lmm_err rc, const lmmw_t8_err *je) {
  if (rc == LMM_ERR_NOMEM) return http_send_nomem(q, c);
  if (!je->param[0])
    return http_send_problem(q, c, 400, "INVALID_MSG_FORMAT",
                             je->reason[0] ? je->reason : "malformed JSON body", NULL, NULL);
  return http_send_problem(q, c, 400, "INVALID_PARAMETER", je->reason[0] ? je->reason : "invalid",
                           je->param, je->reason[0] ? je->reason : NULL);
}

static enum MHD_Result dispatch(mock *m, req *q, struct MHD_Connection *c) {
  switch (q->route) {
  case R_TMGIS:
    return q->meth == M_GET ? http_tmgi_list(m, q, c) : http_tmgi_create(m, q, c);
  case R_TMGI:
    return http_tmgi_one(m, q, c);
  case R_GMDS:
    return q->meth == M_GET ? http_gmd_list(m, q, c) : http_gmd_create(m, q, c);
  case R_GMD:
    return http_gmd_one(m, q, c);
  default:
    return http_send_problem(q, c, 404, "RESOURCE_NOT_FOUND", "no such resource", NULL, NULL);
  }
}

/* ------------------------------------------------------------------ MHD callbacks */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  mock *m = cls;
  req *q = *con_cls;
  (void)version;

  if (!q) {
    q = calloc(1, sizeof *q);
    if (!q) return MHD_NO;
    q->m = m;
    q->t0 = mock_mono_ms();
    q->method = strdup(method);
    q->path = strdup(url);
    *con_cls = q;
    if (!q->method || !q->path) return MHD_NO;
    q->meth = http_parse_method(method);
    /* Decided on this first call (headers only): returning without a response here is what
     * makes MHD answer "Expect: 100-continue" with 100. */
    q->pending = http_precheck(m, q, c, &q->pending_status);
    if (q->pending_status && !q->pending) return MHD_NO; /* out of memory building the error */
    if (q->pending && http_answer_early(c)) {
      struct MHD_Response *r = q->pending;
      q->pending = NULL;
      return http_send(q, c, q->pending_status, r);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (q->queued || q->pending) return MHD_YES; /* read and thrown away */
    if (q->len + n > m->cfg.max_body) {
      /* Content-Length was checked; this guards against a body longer than announced. */
      q->pending = http_problem(413, "PAYLOAD_TOO_LARGE", "the body is too large", NULL, NULL);
      q->pending_status = 413;
      free(q->body);
      q->body = NULL;
      q->len = q->cap = 0;
      return q->pending ? MHD_YES : MHD_NO;
    }
    if (q->len + n + 1 > q->cap) {
      size_t cap = q->cap ? q->cap : 4096;
      char *p;
      while (cap < q->len + n + 1)
        cap *= 2;
      p = realloc(q->body, cap);
      if (!p) return MHD_NO;
      q->body = p;
      q->cap = cap;
    }
    memcpy(q->body + q->len, upload_data, n);
    q->len += n;
    q->body[q->len] = '\0';
    return MHD_YES;
  }
  if (q->queued) return MHD_YES;
  if (q->pending) {
    struct MHD_Response *r = q->pending;
    q->pending = NULL;
    return http_send(q, c, q->pending_status, r);
  }
  return dispatch(m, q, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  mock *m = cls;
  req *q = *con_cls;
  cJSON *o;
  (void)c;
  (void)toe;
  if (!q) return;
  o = mlog_begin("http");
  mlog_str(o, "method", q->method);
  mlog_str(o, "path", q->path);
  cJSON_AddNumberToObject(o, "status", q->status);
  cJSON_AddNumberToObject(o, "ms", (double)(mock_mono_ms() - q->t0));
  mlog_emit(&m->log, o);
  /* Only now may the delivery's notifications go: the client has its 201 (or never will). */
  if (q->release_id) mock_release(m, q->release_id);
  if (q->pending) MHD_destroy_response(q->pending);
  free(q->segbuf);
  free(q->body);
  free(q->method);
  free(q->path);
  free(q);
  *con_cls = NULL;
}

int mock_http_start(mock *m) {
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
  struct MHD_Daemon *d;
  if (m->cfg.listen_sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (m->cfg.verbose) flags |= MHD_USE_ERROR_LOG;
  if (m->tls_cert_pem) {
    /* Debian builds libmicrohttpd with GnuTLS; a build without it cannot serve --tls-cert. */
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) return -1;
    flags |= MHD_USE_TLS;
  }
  if (m->tls_cert_pem)
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET,
                         (MHD_socket)m->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)512, MHD_OPTION_HTTPS_MEM_CERT, m->tls_cert_pem,
                         MHD_OPTION_HTTPS_MEM_KEY, m->tls_key_pem, MHD_OPTION_END);
  else
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET,
                         (MHD_socket)m->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)512, MHD_OPTION_END);
  if (!d) return -1;
  m->listen_fd = -1; /* MHD closes it when stopped */
  m->http = d;
  return 0;
}

void mock_http_stop(mock *m) {
  if (m->http) MHD_stop_daemon(m->http);
  m->http = NULL;
}
