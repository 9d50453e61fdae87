/* http_check.c - the checks of a request decided from its line and headers: faults, auth,
 * route, method, scsAsId, length and media type. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A body larger than this that must be refused is refused at once (and the connection closed)
 * rather than read and thrown away. Below it, reading it first keeps the connection usable and
 * spares the client a reset in the middle of its upload. */
#define EARLY_ANSWER_BYTES (1024u * 1024u)

/* ------------------------------------------------------------------ request checks */

enum meth http_parse_method(const char *m) {
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
struct MHD_Response *http_precheck(mock *m, req *q, struct MHD_Connection *c, int *status) {
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
    r = http_problem(*status, *status == 429 ? "TOO_MANY_REQUESTS" : "SERVICE_UNAVAILABLE",
                     "fault injected by t8-mock", NULL, NULL);
    snprintf(ra, sizeof ra, "%ld", m->cfg.retry_after);
    if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    return r;
  }
  if ((a = check_auth(m, c)) != 0) {
    *status = 401;
    r = http_problem(401, "UNAUTHORIZED",
                     a == 1 ? "an OAuth2 bearer token is required"
                            : "the bearer token is not valid",
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
    return http_problem(404, "RESOURCE_NOT_FOUND", "no such resource", NULL, NULL);
  }
  if (!method_allowed(q->route, q->meth)) {
    *status = 405;
    r = http_problem(405, "METHOD_NOT_ALLOWED", "method not allowed on this resource", NULL, NULL);
    if (r)
      MHD_add_response_header(
          r, MHD_HTTP_HEADER_ALLOW,
          (q->route == R_TMGIS || q->route == R_GMDS) ? "GET, POST" : "GET, PUT, PATCH, DELETE");
    return r;
  }
  if (!scs_allowed(m, q->scs)) {
    *status = 403;
    return http_problem(403, "REQUEST_NOT_AUTHORIZED", "this scsAsId is not allowed", NULL, NULL);
  }
  if (q->meth != M_POST && q->meth != M_PUT && q->meth != M_PATCH) return NULL;
  cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cl) {
    *status = 411;
    return http_problem(411, "LENGTH_REQUIRED", "a Content-Length is required", NULL, NULL);
  }
  errno = 0;
  {
    char *end;
    unsigned long long len = strtoull(cl, &end, 10);
    if (errno || end == cl || len > m->cfg.max_body) {
      char d[96];
      snprintf(d, sizeof d, "the body is larger than %zu bytes", m->cfg.max_body);
      *status = 413;
      return http_problem(413, "PAYLOAD_TOO_LARGE", d, NULL, NULL);
    }
  }
  ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!media_type_is(ct,
                     q->meth == M_PATCH ? "application/merge-patch+json" : "application/json")) {
    *status = 415;
    return http_problem(415, "UNSUPPORTED_MEDIA_TYPE",
                        q->meth == M_PATCH ? "PATCH needs Content-Type application/merge-patch+json"
                                           : "the body must be application/json",
                        NULL, NULL);
  }
  return NULL;
}

/* Whether an error decided from the headers is sent before the body is read. */
bool http_answer_early(struct MHD_Connection *c) {
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
