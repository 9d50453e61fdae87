/* http.c - the T8 GMDviaMBMSbyMB2 HTTP API: routing, request checks and resource handlers. */
#include "mock.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "t8/codec.h"

/* A body larger than this that must be refused is refused at once (and the connection closed)
 * rather than read and thrown away. Below it, reading it first keeps the connection usable and
 * spares the client a reset in the middle of its upload. */
#define EARLY_ANSWER_BYTES (1024u * 1024u)

enum meth { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_OTHER };
enum route { R_NONE, R_TMGIS, R_TMGI, R_GMDS, R_GMD };

typedef struct req {
  mock *m;
  int64_t t0;
  char *method;
  char *path;
  enum meth meth;
  enum route route;
  char *segbuf; /* the path split in place; the pointers below point into it */
  char *scs, *tmgi, *txn;
  bool queued;
  int status;
  struct MHD_Response *pending; /* an error decided from the headers, sent after the body */
  int pending_status;
  char *body;
  size_t len, cap;
  uint64_t release_id; /* the delivery this request created: release its work when sent */
} req;

/* ------------------------------------------------------------------ responses */

static struct MHD_Response *make_response(char *body, const char *ctype) {
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

static struct MHD_Response *problem(int status, const char *cause, const char *detail,
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
  if (lmmi_j_problem_encode(&p, &json) != LMM_OK) return NULL;
  return make_response(json, "application/problem+json");
}

/* Queues `r` (taking it): sleeps --latency-ms first, then remembers the status for the log. */
static enum MHD_Result send_response(req *q, struct MHD_Connection *c, int status,
                                     struct MHD_Response *r) {
  enum MHD_Result ret;
  if (!r) return MHD_NO; /* out of memory: closing the connection is all that is left */
  mock_sleep_ms(q->m, q->m->cfg.latency_ms);
  ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  q->queued = true;
  q->status = ret == MHD_YES ? status : 0;
  return ret;
}

static enum MHD_Result send_problem(req *q, struct MHD_Connection *c, int status, const char *cause,
                                    const char *detail, const char *param, const char *reason) {
  return send_response(q, c, status, problem(status, cause, detail, param, reason));
}

static enum MHD_Result send_json(req *q, struct MHD_Connection *c, int status, char *json,
                                 const char *location) {
  struct MHD_Response *r = make_response(json, "application/json");
  if (r && location) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
  return send_response(q, c, status, r);
}

static enum MHD_Result send_nomem(req *q, struct MHD_Connection *c) {
  return send_problem(q, c, 500, "SYSTEM_FAILURE", "out of memory", NULL, NULL);
}

/* ------------------------------------------------------------------ request checks */

static enum meth parse_method(const char *m) {
  if (strcmp(m, "GET") == 0) return M_GET;
  if (strcmp(m, "POST") == 0) return M_POST;
  if (strcmp(m, "PUT") == 0) return M_PUT;
  if (strcmp(m, "PATCH") == 0) return M_PATCH;
  if (strcmp(m, "DELETE") == 0) return M_DELETE;
  return M_OTHER;
}

/* Splits "{base}/{scs}/tmgi-allocation[/{tmgi}[/delivery-via-mbms[/{txn}]]]". Any empty
 * segment (a trailing slash, "//") makes the path unknown. */
static enum route parse_route(mock *m, req *q) {
  size_t bl = strlen(m->base_path);
  char *seg[6];
  size_t n = 0;
  char *p;
  if (strncmp(q->path, m->base_path, bl) != 0 || q->path[bl] != '/') return R_NONE;
  q->segbuf = strdup(q->path + bl + 1);
  if (!q->segbuf) return R_NONE;
  p = q->segbuf;
  for (;;) {
    char *slash = strchr(p, '/');
    if (n == 6) return R_NONE;
    seg[n++] = p;
    if (!slash) break;
    *slash = '\0';
    p = slash + 1;
  }
  for (size_t i = 0; i < n; i++)
    if (!seg[i][0]) return R_NONE;
  if (n < 2 || strcmp(seg[1], "tmgi-allocation") != 0) return R_NONE;
  q->scs = seg[0];
  if (n == 2) return R_TMGIS;
  q->tmgi = seg[2];
  if (n == 3) return R_TMGI;
  if (strcmp(seg[3], "delivery-via-mbms") != 0) return R_NONE;
  if (n == 4) return R_GMDS;
  q->txn = seg[4];
  return n == 5 ? R_GMD : R_NONE;
}

static bool method_allowed(enum route r, enum meth me) {
  if (r == R_TMGIS || r == R_GMDS) return me == M_GET || me == M_POST;
  return me == M_GET || me == M_PUT || me == M_PATCH || me == M_DELETE;
}

/* "type/subtype" of a Content-Type, parameters (e.g. "; charset=utf-8") allowed. */
static bool media_type_is(const char *ct, const char *want) {
  size_t wl = strlen(want);
  if (!ct) return false;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, want, wl) != 0) return false;
  ct += wl;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

static char *read_token_file(const char *path) {
  FILE *f = fopen(path, "r");
  char buf[4096];
  size_t n;
  if (!f) return NULL;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n && isspace((unsigned char)buf[n - 1]))
    buf[--n] = '\0';
  return strdup(buf);
}

/* Compares without an early exit: a mock, but no reason to teach timing leaks. */
static bool token_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char d = (unsigned char)(la != lb);
  for (size_t i = 0; i < la && i < lb; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* 0: authorised; 1: no credentials; 2: wrong credentials. */
static int check_auth(mock *m, struct MHD_Connection *c) {
  const char *h;
  char *want;
  int rc;
  if (!m->cfg.token && !m->cfg.token_file) return 0;
  h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h) return 1;
  if (strncasecmp(h, "Bearer ", 7) != 0) return 2;
  h += 7;
  while (*h == ' ')
    h++;
  /* Read at every request so that tests can rotate the token under a running mock. */
  want = m->cfg.token_file ? read_token_file(m->cfg.token_file) : strdup(m->cfg.token);
  if (!want) return 2;
  rc = (want[0] && token_equal(h, want)) ? 0 : 2;
  free(want);
  return rc;
}

static bool scs_allowed(const mock *m, const char *scs) {
  if (m->cfg.n_scs_as_ids == 0) return true;
  for (size_t i = 0; i < m->cfg.n_scs_as_ids; i++)
    if (strcmp(m->cfg.scs_as_ids[i], scs) == 0) return true;
  return false;
}

static bool fault_now(mock *m) {
  bool fault;
  pthread_mutex_lock(&m->mu);
  fault = ++m->n_requests <= m->cfg.fail_first;
  pthread_mutex_unlock(&m->mu);
  return fault || mock_chance(m, m->cfg.fail_rate);
}

/* Everything decided from the request line and headers, in this order: fault injection,
 * 401, 404 (path), 405, 403 (scsAsId), 411, 413, 415. NULL when the request may go on. */
static struct MHD_Response *precheck(mock *m, req *q, struct MHD_Connection *c, int *status) {
  struct MHD_Response *r;
  const char *cl, *ct;
  int a;

  if (fault_now(m)) {
    char ra[32];
    cJSON *o = mlog_begin("fault");
    cJSON_AddNumberToObject(o, "status", m->cfg.fail_status);
    cJSON_AddStringToObject(o, "path", q->path);
    mlog_emit(&m->log, o);
    *status = m->cfg.fail_status;
    r = problem(*status, *status == 429 ? "TOO_MANY_REQUESTS" : "SERVICE_UNAVAILABLE",
                "fault injected by t8-mock", NULL, NULL);
    snprintf(ra, sizeof ra, "%ld", m->cfg.retry_after);
    if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    return r;
  }
  if ((a = check_auth(m, c)) != 0) {
    *status = 401;
    r = problem(401, "UNAUTHORIZED",
                a == 1 ? "an OAuth2 bearer token is required" : "the bearer token is not valid",
                NULL, NULL);
    if (r)
      MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              a == 1 ? "Bearer realm=\"t8-mock\""
                                     : "Bearer realm=\"t8-mock\", error=\"invalid_token\"");
    return r;
  }
  q->route = parse_route(m, q);
  if (q->route == R_NONE) {
    *status = 404;
    return problem(404, "RESOURCE_NOT_FOUND", "no such resource", NULL, NULL);
  }
  if (!method_allowed(q->route, q->meth)) {
    *status = 405;
    r = problem(405, "METHOD_NOT_ALLOWED", "method not allowed on this resource", NULL, NULL);
    if (r)
      MHD_add_response_header(
          r, MHD_HTTP_HEADER_ALLOW,
          (q->route == R_TMGIS || q->route == R_GMDS) ? "GET, POST" : "GET, PUT, PATCH, DELETE");
    return r;
  }
  if (!scs_allowed(m, q->scs)) {
    *status = 403;
    return problem(403, "REQUEST_NOT_AUTHORIZED", "this scsAsId is not allowed", NULL, NULL);
  }
  if (q->meth != M_POST && q->meth != M_PUT && q->meth != M_PATCH) return NULL;
  cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cl) {
    *status = 411;
    return problem(411, "LENGTH_REQUIRED", "a Content-Length is required", NULL, NULL);
  }
  errno = 0;
  {
    char *end;
    unsigned long long len = strtoull(cl, &end, 10);
    if (errno || end == cl || len > m->cfg.max_body) {
      char d[96];
      snprintf(d, sizeof d, "the body is larger than %zu bytes", m->cfg.max_body);
      *status = 413;
      return problem(413, "PAYLOAD_TOO_LARGE", d, NULL, NULL);
    }
  }
  ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!media_type_is(ct,
                     q->meth == M_PATCH ? "application/merge-patch+json" : "application/json")) {
    *status = 415;
    return problem(415, "UNSUPPORTED_MEDIA_TYPE",
                   q->meth == M_PATCH ? "PATCH needs Content-Type application/merge-patch+json"
                                      : "the body must be application/json",
                   NULL, NULL);
  }
  return NULL;
}

/* Whether an error decided from the headers is sent before the body is read. */
static bool answer_early(struct MHD_Connection *c) {
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *te =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
  unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
  if (!te && len == 0) return true; /* no body: nothing to wait for */
  /* The client waits for "100 Continue" before sending: answering now saves the upload. */
  if (ex && strncasecmp(ex, "100-continue", 12) == 0) return true;
  return !te && len > EARLY_ANSWER_BYTES;
}

/* ------------------------------------------------------------------ handlers */

static enum MHD_Result bad_body(req *q, struct MHD_Connection *c, lmm_err rc, const lmmi_jerr *je) {
  if (rc == LMM_ERR_NOMEM) return send_nomem(q, c);
  if (!je->param[0])
    return send_problem(q, c, 400, "INVALID_MSG_FORMAT",
                        je->reason[0] ? je->reason : "malformed JSON body", NULL, NULL);
  return send_problem(q, c, 400, "INVALID_PARAMETER", je->reason[0] ? je->reason : "invalid",
                      je->param, je->reason[0] ? je->reason : NULL);
}

/* Finds the TMGI of the request for its scsAsId; sends 404/403 and returns NULL otherwise. */
static mock_tmgi *lookup_tmgi(mock *m, req *q, int *status, const char **cause,
                              const char **detail) {
  mock_tmgi *t = mock_tmgi_find_locked(m, q->tmgi, mock_now_ms());
  if (!t) {
    *status = 404;
    *cause = "TMGI_NOT_FOUND";
    *detail = "unknown or expired TMGI";
    return NULL;
  }
  if (strcmp(t->scs_as_id, q->scs) != 0) {
    *status = 403;
    *cause = "REQUEST_NOT_AUTHORIZED";
    *detail = "the TMGI belongs to another scsAsId";
    return NULL;
  }
  return t;
}

static void log_tmgi(mock *m, const char *event, const mock_tmgi *t) {
  char exp[40] = "";
  cJSON *o = mlog_begin(event);
  cJSON_AddStringToObject(o, "tmgi", t->tmgi);
  cJSON_AddStringToObject(o, "scsAsId", t->scs_as_id);
  mlog_str(o, "externalGroupId", t->a.external_group_id);
  mlog_ts(t->expires_ms, exp, sizeof exp);
  cJSON_AddStringToObject(o, "expires", exp);
  mlog_emit(&m->log, o);
}

static void log_gmd(mock *m, const char *event, const mock_tmgi *t, const mock_gmd *g) {
  cJSON *o = mlog_begin(event);
  mlog_str(o, "transaction", g->g.self);
  cJSON_AddStringToObject(o, "tmgi", t->tmgi);
  if (g->g.has_payload)
    cJSON_AddNumberToObject(o, "bytes", (double)g->g.payload_len);
  else
    cJSON_AddNullToObject(o, "bytes");
  if (g->play == PLAY_PENDING) {
    char at[40];
    mlog_ts(g->play_ms, at, sizeof at);
    cJSON_AddStringToObject(o, "playAt", at);
  } else {
    cJSON_AddNullToObject(o, "playAt");
  }
  if (g->up_fd >= 0) cJSON_AddNumberToObject(o, "userPlanePort", g->up_port);
  mlog_emit(&m->log, o);
}

static enum MHD_Result tmgi_list(mock *m, req *q, struct MHD_Connection *c) {
  lmm_tmgi_allocation *arr = NULL;
  size_t n = 0;
  char *json = NULL;
  lmm_err rc = LMM_OK;
  int64_t now = mock_now_ms();
  mock_tmgi *t, *tn;

  pthread_mutex_lock(&m->mu);
  for (t = m->tmgis; t; t = tn) {
    tn = t->next;
    if (now >= t->expires_ms) mock_tmgi_remove_locked(m, t, true);
  }
  arr = calloc(m->n_tmgis ? m->n_tmgis : 1, sizeof *arr);
  if (arr) {
    for (t = m->tmgis; t; t = t->next)
      if (strcmp(t->scs_as_id, q->scs) == 0) arr[n++] = t->a; /* shallow: the encoder only reads */
    rc = lmmi_j_tmgi_allocation_list_encode(arr, n, &json);
  }
  pthread_mutex_unlock(&m->mu);
  free(arr);
  if (!arr || rc != LMM_OK) return send_nomem(q, c);
  return send_json(q, c, 200, json, NULL);
}

static enum MHD_Result tmgi_create(mock *m, req *q, struct MHD_Connection *c) {
  lmm_tmgi_allocation in;
  lmmi_jerr je;
  mock_tmgi *t;
  bool full = false;
  char *json = NULL, *loc = NULL;
  lmm_err rc = lmmi_j_tmgi_allocation_decode(q->body ? q->body : "", q->len,
                                             LMMI_J_REJECT_RO | LMMI_J_REQUIRE, &in, &je);
  if (rc != LMM_OK) return bad_body(q, c, rc, &je);

  pthread_mutex_lock(&m->mu);
  t = mock_tmgi_new_locked(m, q->scs, &full);
  if (t) {
    t->a.external_group_id = in.external_group_id;
    t->a.mbms_loc_area = in.mbms_loc_area;
    in.external_group_id = NULL;
    in.mbms_loc_area = NULL;
    /* The mock implements no optional feature: the common subset is empty. */
    if (in.supported_features) t->a.supported_features = strdup("0");
    mock_tmgi_renew_locked(m, t, mock_now_ms());
    rc = lmmi_j_tmgi_allocation_encode(&t->a, 0, &json);
    loc = strdup(t->a.self);
    if (rc != LMM_OK || !loc) {
      mock_tmgi_remove_locked(m, t, false);
      t = NULL;
    } else {
      log_tmgi(m, "tmgi_allocated", t);
      pthread_cond_broadcast(&m->sched_cv);
    }
  }
  pthread_mutex_unlock(&m->mu);
  lmm_tmgi_allocation_clear(&in);
  if (!t) {
    free(json);
    free(loc);
    if (full) return send_problem(q, c, 503, "TMGI_ALLOCATION_FAILED", "no free TMGI", NULL, NULL);
    return send_nomem(q, c);
  }
  {
    enum MHD_Result ret = send_json(q, c, 201, json, loc);
    free(loc);
    return ret;
  }
}

static enum MHD_Result tmgi_one(mock *m, req *q, struct MHD_Connection *c) {
  lmm_tmgi_allocation in;
  unsigned present = 0;
  lmmi_jerr je;
  mock_tmgi *t;
  lmm_err rc = LMM_OK;
  char *json = NULL;
  int status = 0;
  const char *cause = NULL, *detail = NULL;

  memset(&in, 0, sizeof in);
  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  pthread_mutex_unlock(&m->mu);
  if (!t) return send_problem(q, c, status, cause, detail, NULL, NULL);

  if (q->meth == M_PUT)
    rc = lmmi_j_tmgi_allocation_decode(q->body ? q->body : "", q->len,
                                       LMMI_J_REJECT_RO | LMMI_J_REQUIRE, &in, &je);
  else if (q->meth == M_PATCH)
    rc = lmmi_j_tmgi_patch_decode(q->body ? q->body : "", q->len, &in, &present, &je);
  if (rc != LMM_OK) return bad_body(q, c, rc, &je);

  /* Looked up again: the TMGI may have gone while the body was decoded without the lock. */
  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  if (t) {
    switch (q->meth) {
    case M_DELETE:
      mock_tmgi_remove_locked(m, t, false);
      break;
    case M_PUT:
      /* PUT replaces the writable members: absent ones are removed. */
      free(t->a.external_group_id);
      lmm_mbms_loc_area_free(t->a.mbms_loc_area);
      t->a.external_group_id = in.external_group_id;
      t->a.mbms_loc_area = in.mbms_loc_area;
      in.external_group_id = NULL;
      in.mbms_loc_area = NULL;
      mock_tmgi_renew_locked(m, t, mock_now_ms());
      log_tmgi(m, "tmgi_renewed", t);
      break;
    case M_PATCH:
      if (present & 1u) {
        free(t->a.external_group_id);
        t->a.external_group_id = in.external_group_id;
        in.external_group_id = NULL;
      }
      if (present & 2u) {
        lmm_mbms_loc_area_free(t->a.mbms_loc_area);
        t->a.mbms_loc_area = in.mbms_loc_area;
        in.mbms_loc_area = NULL;
      }
      mock_tmgi_renew_locked(m, t, mock_now_ms());
      log_tmgi(m, "tmgi_renewed", t);
      break;
    default:
      break;
    }
    if (q->meth != M_DELETE) rc = lmmi_j_tmgi_allocation_encode(&t->a, 0, &json);
    pthread_cond_broadcast(&m->sched_cv);
  }
  pthread_mutex_unlock(&m->mu);
  lmm_tmgi_allocation_clear(&in);
  if (!t) return send_problem(q, c, status, cause, detail, NULL, NULL);
  if (q->meth == M_DELETE) return send_response(q, c, 204, make_response(NULL, NULL));
  if (rc != LMM_OK) return send_nomem(q, c);
  return send_json(q, c, 200, json, NULL);
}

/* Checks what the codec cannot know: a usable callback URL and a payload that fits one
 * bearer datagram. Returns false after sending the 400. */
static bool gmd_members_ok(mock *m, req *q, struct MHD_Connection *c, const lmm_gmd *g,
                           bool check_dest, enum MHD_Result *ret) {
  if (check_dest) {
    bool ok = false;
    CURLU *u = curl_url();
    char *scheme = NULL;
    if (u && g->notification_destination &&
        curl_url_set(u, CURLUPART_URL, g->notification_destination, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
      ok = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    if (!ok) {
      *ret = send_problem(q, c, 400, "INVALID_PARAMETER", "notificationDestination is not usable",
                          "/notificationDestination", "must be an absolute http or https URL");
      return false;
    }
  }
  if (g->has_payload && g->payload_len > m->cfg.max_datagram) {
    char why[96];
    snprintf(why, sizeof why, "larger than one bearer datagram (%zu bytes)", m->cfg.max_datagram);
    *ret = send_problem(q, c, 400, "INVALID_PARAMETER", why, "/groupMessagePayload", why);
    return false;
  }
  return true;
}

/* Decides what plays next after a delivery's members changed (see docs/t8-mock.md): a payload
 * not yet played is (re)scheduled at the current start time; a played one plays again only when
 * the payload itself changed. */
static void gmd_schedule(mock_gmd *g, bool payload_changed, int64_t now) {
  int64_t at = g->g.message_delivery_start_time * 1000;
  if (!g->g.has_payload) {
    g->play = PLAY_NONE;
    return;
  }
  if (g->play == PLAY_DONE && !payload_changed) return;
  g->play = PLAY_PENDING;
  g->play_ms = (g->g.message_delivery_start_time > 0 && at > now) ? at : now;
}

static bool payload_differs(const lmm_gmd *a, const lmm_gmd *b) {
  if (a->has_payload != b->has_payload) return true;
  if (!a->has_payload) return false;
  return a->payload_len != b->payload_len ||
         (a->payload_len && memcmp(a->payload, b->payload, a->payload_len) != 0);
}

static enum MHD_Result gmd_list(mock *m, req *q, struct MHD_Connection *c) {
  int status = 0;
  const char *cause = NULL, *detail = NULL;
  lmm_gmd *arr = NULL;
  size_t n = 0;
  char *json = NULL;
  lmm_err rc = LMM_ERR_NOMEM;
  mock_tmgi *t;

  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  if (t) {
    arr = calloc(t->n_gmds ? t->n_gmds : 1, sizeof *arr);
    if (arr) {
      for (mock_gmd *g = t->gmds; g; g = g->next)
        arr[n++] = g->g; /* shallow: the encoder only reads */
      rc = lmmi_j_gmd_list_encode(arr, n, &json);
    }
  }
  pthread_mutex_unlock(&m->mu);
  free(arr);
  if (!t) return send_problem(q, c, status, cause, detail, NULL, NULL);
  if (rc != LMM_OK) return send_nomem(q, c);
  return send_json(q, c, 200, json, NULL);
}

/* A new delivery of t from the decoded body (whose members it takes); NULL on NOMEM or when no
 * MB2-U port can be opened (`*up_failed`). Not yet linked into t. */
static mock_gmd *gmd_new_locked(mock *m, mock_tmgi *t, lmm_gmd *in, bool *up_failed) {
  mock_gmd *g = calloc(1, sizeof *g);
  size_t len = strlen(t->a.self) + 64;
  if (!g) return NULL;
  g->up_fd = -1;
  g->id = m->next_gmd_id++;
  mock_gmd_txn_locked(m, t, g->txn);
  g->g = *in;
  memset(in, 0, sizeof *in);
  free(g->g.self);
  free(g->g.transaction_id);
  g->g.transaction_id = strdup(g->txn);
  g->g.self = malloc(len);
  g->g.scef_port = -1;
  if (g->g.self) snprintf(g->g.self, len, "%s/delivery-via-mbms/%s", t->a.self, g->txn);
  if (!g->g.self || !g->g.transaction_id) goto fail;
  /* Without a payload the SCS/AS needs an MB2-U port: no port, no delivery. */
  if (!g->g.has_payload && mock_up_open_locked(m, g) != 0) {
    *up_failed = true;
    goto fail;
  }
  return g;
fail:
  lmm_gmd_clear(&g->g);
  free(g);
  return NULL;
}

static enum MHD_Result gmd_create(mock *m, req *q, struct MHD_Connection *c) {
  lmm_gmd in;
  lmmi_jerr je;
  enum MHD_Result ret;
  int status = 0;
  const char *cause = NULL, *detail = NULL;
  mock_tmgi *t;
  mock_gmd *g = NULL;
  char *json = NULL, *loc = NULL;
  bool up_failed = false, too_many = false;
  lmm_err rc;

  /* A missing resource is reported before a malformed body. */
  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  pthread_mutex_unlock(&m->mu);
  if (!t) return send_problem(q, c, status, cause, detail, NULL, NULL);
  rc = lmmi_j_gmd_decode(q->body ? q->body : "", q->len, LMMI_J_REJECT_RO | LMMI_J_REQUIRE, &in,
                         &je);
  if (rc != LMM_OK) return bad_body(q, c, rc, &je);
  if (!gmd_members_ok(m, q, c, &in, true, &ret)) {
    lmm_gmd_clear(&in);
    return ret;
  }

  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  if (t && t->n_gmds >= MOCK_MAX_GMDS)
    too_many = true;
  else if (t && (g = gmd_new_locked(m, t, &in, &up_failed)) != NULL) {
    gmd_schedule(g, true, mock_now_ms());
    g->next = t->gmds;
    t->gmds = g;
    t->n_gmds++;
    rc = lmmi_j_gmd_encode(&g->g, 0, &json);
    loc = strdup(g->g.self);
    if (rc != LMM_OK || !loc || mock_hold_locked(m, g->id) != 0) {
      mock_gmd_remove_locked(m, t, g);
      g = NULL;
    } else {
      q->release_id = g->id;
      log_gmd(m, "delivery_created", t, g);
      /* Queued now but held until the 201 is sent; the play waits for it. */
      if (g->g.has_request_test_notification && g->g.request_test_notification) {
        g->test_pending = true;
        mock_notify_test_locked(m, g);
      }
      pthread_cond_broadcast(&m->sched_cv);
    }
  }
  pthread_mutex_unlock(&m->mu);
  lmm_gmd_clear(&in);
  if (!t) return send_problem(q, c, status, cause, detail, NULL, NULL);
  if (too_many)
    return send_problem(q, c, 503, "SYSTEM_FAILURE", "too many deliveries on this TMGI", NULL,
                        NULL);
  if (up_failed)
    return send_problem(q, c, 503, "SYSTEM_FAILURE", "cannot open a user-plane port", NULL, NULL);
  if (!g) {
    free(json);
    free(loc);
    return send_nomem(q, c);
  }
  ret = send_json(q, c, 201, json, loc);
  free(loc);
  return ret;
}

/* PUT: replaces the writable members; the SCEF keeps self and the MB2-U address. Takes `in`'s
 * members. Returns whether the payload changed. */
static bool gmd_put_locked(mock_gmd *g, lmm_gmd *in) {
  lmm_gmd old = g->g;
  bool changed = payload_differs(&old, in);
  free(in->self);
  free(in->transaction_id);
  free(in->scef_ipv4);
  free(in->scef_ipv6);
  in->self = old.self;
  in->transaction_id = old.transaction_id;
  in->scef_ipv4 = old.scef_ipv4;
  in->scef_ipv6 = old.scef_ipv6;
  in->scef_port = old.scef_port;
  old.self = old.transaction_id = old.scef_ipv4 = old.scef_ipv6 = NULL;
  g->g = *in;
  memset(in, 0, sizeof *in);
  lmm_gmd_clear(&old);
  return changed;
}

/* PATCH (RFC 7396): the members present replace (or, when null, remove) the stored ones. Takes
 * them from `in`. Returns whether the payload changed. */
static bool gmd_patch_locked(mock_gmd *g, lmm_gmd *in, unsigned present) {
  bool changed = false;
  if (present & LMMI_GP_EXTERNAL_GROUP_ID) {
    free(g->g.external_group_id);
    g->g.external_group_id = in->external_group_id;
    in->external_group_id = NULL;
  }
  if (present & LMMI_GP_MBMS_LOC_AREA) {
    lmm_mbms_loc_area_free(g->g.mbms_loc_area);
    g->g.mbms_loc_area = in->mbms_loc_area;
    in->mbms_loc_area = NULL;
  }
  if (present & LMMI_GP_START_TIME)
    g->g.message_delivery_start_time = in->message_delivery_start_time;
  if (present & LMMI_GP_PAYLOAD) {
    changed = payload_differs(&g->g, in);
    free(g->g.payload);
    g->g.has_payload = in->has_payload;
    g->g.payload = in->payload;
    g->g.payload_len = in->payload_len;
    in->payload = NULL;
    in->has_payload = false;
  }
  if (present & LMMI_GP_NOTIFICATION_DESTINATION) {
    free(g->g.notification_destination);
    g->g.notification_destination = in->notification_destination;
    in->notification_destination = NULL;
  }
  return changed;
}

static enum MHD_Result gmd_one(mock *m, req *q, struct MHD_Connection *c) {
  lmm_gmd in;
  unsigned present = 0;
  lmmi_jerr je;
  enum MHD_Result ret;
  int status = 0;
  const char *cause = NULL, *detail = NULL;
  mock_tmgi *t;
  mock_gmd *g = NULL;
  char *json = NULL;
  lmm_err rc = LMM_OK;
  bool up_failed = false;

  memset(&in, 0, sizeof in);
  memset(&je, 0, sizeof je);
  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  if (t && !mock_gmd_find_locked(t, q->txn)) {
    t = NULL;
    status = 404;
    cause = "TRANSACTION_NOT_FOUND";
    detail = "unknown transaction";
  }
  pthread_mutex_unlock(&m->mu);
  /* A missing resource is reported before a malformed body. */
  if (!t) return send_problem(q, c, status, cause, detail, NULL, NULL);

  if (q->meth == M_PUT) {
    rc = lmmi_j_gmd_decode(q->body ? q->body : "", q->len, LMMI_J_REJECT_RO | LMMI_J_REQUIRE, &in,
                           &je);
    if (rc != LMM_OK) return bad_body(q, c, rc, &je);
    if (!gmd_members_ok(m, q, c, &in, true, &ret)) {
      lmm_gmd_clear(&in);
      return ret;
    }
  } else if (q->meth == M_PATCH) {
    rc = lmmi_j_gmd_patch_decode(q->body ? q->body : "", q->len, &in, &present, &je);
    if (rc != LMM_OK) return bad_body(q, c, rc, &je);
    if ((present & LMMI_GP_NOTIFICATION_DESTINATION) && !in.notification_destination) {
      lmm_gmd_clear(&in);
      return send_problem(q, c, 400, "INVALID_PARAMETER", "notificationDestination is required",
                          "/notificationDestination", "cannot be removed");
    }
    if (!gmd_members_ok(m, q, c, &in, (present & LMMI_GP_NOTIFICATION_DESTINATION) != 0, &ret)) {
      lmm_gmd_clear(&in);
      return ret;
    }
  }

  /* Looked up again: it may have gone while the body was decoded without the lock. */
  pthread_mutex_lock(&m->mu);
  t = lookup_tmgi(m, q, &status, &cause, &detail);
  if (t) {
    g = mock_gmd_find_locked(t, q->txn);
    if (!g) {
      status = 404;
      cause = "TRANSACTION_NOT_FOUND";
      detail = "unknown transaction";
    }
  }
  if (g) {
    bool changed;
    switch (q->meth) {
    case M_DELETE:
      log_gmd(m, "delivery_deleted", t, g);
      mock_gmd_remove_locked(m, t, g);
      break;
    case M_PUT:
    case M_PATCH:
      changed = q->meth == M_PUT ? gmd_put_locked(g, &in) : gmd_patch_locked(g, &in, present);
      /* A delivery left without a payload gets an MB2-U port, as at creation. */
      if (!g->g.has_payload && g->up_fd < 0 && mock_up_open_locked(m, g) != 0) up_failed = true;
      gmd_schedule(g, changed, mock_now_ms());
      log_gmd(m, "delivery_updated", t, g);
      pthread_cond_broadcast(&m->sched_cv);
      rc = lmmi_j_gmd_encode(&g->g, 0, &json);
      break;
    default:
      rc = lmmi_j_gmd_encode(&g->g, 0, &json);
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  lmm_gmd_clear(&in);
  if (!g) return send_problem(q, c, status, cause, detail, NULL, NULL);
  if (q->meth == M_DELETE) return send_response(q, c, 204, make_response(NULL, NULL));
  if (up_failed) mlog_text(&m->log, "cannot open a user-plane port for %s", q->txn);
  if (rc != LMM_OK) return send_nomem(q, c);
  return send_json(q, c, 200, json, NULL);
}

static enum MHD_Result dispatch(mock *m, req *q, struct MHD_Connection *c) {
  switch (q->route) {
  case R_TMGIS:
    return q->meth == M_GET ? tmgi_list(m, q, c) : tmgi_create(m, q, c);
  case R_TMGI:
    return tmgi_one(m, q, c);
  case R_GMDS:
    return q->meth == M_GET ? gmd_list(m, q, c) : gmd_create(m, q, c);
  case R_GMD:
    return gmd_one(m, q, c);
  default:
    return send_problem(q, c, 404, "RESOURCE_NOT_FOUND", "no such resource", NULL, NULL);
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
    q->meth = parse_method(method);
    /* Decided on this first call (headers only): returning without a response here is what
     * makes MHD answer "Expect: 100-continue" with 100. */
    q->pending = precheck(m, q, c, &q->pending_status);
    if (q->pending_status && !q->pending) return MHD_NO; /* out of memory building the error */
    if (q->pending && answer_early(c)) {
      struct MHD_Response *r = q->pending;
      q->pending = NULL;
      return send_response(q, c, q->pending_status, r);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (q->queued || q->pending) return MHD_YES; /* read and thrown away */
    if (q->len + n > m->cfg.max_body) {
      /* Content-Length was checked; this guards against a body longer than announced. */
      q->pending = problem(413, "PAYLOAD_TOO_LARGE", "the body is too large", NULL, NULL);
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
    return send_response(q, c, q->pending_status, r);
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
