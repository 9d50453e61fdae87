/* test_sim_blob.c - firmware in lwm2m-mbms-sim: blobs sent to a group (docs/protocol.md section 5)
 * with status, repair and update, pull downloads (5.6), and the firmware faults (--fw-corrupt,
 * --fw-reboot, --fw-refuse). The group messages are made by the library's own encoders
 * (lmmi_coap_group_request(), lmmw_blob_query()) and sent to the bearer the devices joined; the
 * unicast ones go through the library's unicast engine; answers and the pulled package come
 * from small libcoap servers here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lmm_wire/blob.h"
#include "campaign/campaign_internal.h"
#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define GM      LMM_GROUP_MGMT_OID
#define TMGI    "0a1b2c00101"
#define BEARER  "239.10.27.44" /* of service id 0a1b2c */
#define C(a, b) ((uint8_t)((a) << 5 | (b)))

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t k = 0; k < n; k++)
    sprintf(out + 2 * k, "%02x", b[k]);
}

/* ------------------------------------------------------------------ the answer server */

typedef struct answer {
  int dev;
  char t[17], c[8];
  int cf;
  char body[1100];
} answer;

typedef struct answers {
  coap_context_t *ctx;
  uint16_t port;
  answer *a;
  size_t n, cap;
} answers;

static answers *srv; /* libcoap 4.3.1 has no application data on a context */

static bool query_get(const coap_string_t *q, const char *key, char *out, size_t cap) {
  size_t kl = strlen(key), k = 0;
  while (q && k < q->length) {
    size_t e = k;
    while (e < q->length && q->s[e] != '&')
      e++;
    if (e - k > kl && !memcmp(q->s + k, key, kl) && q->s[k + kl] == '=') {
      size_t vl = e - k - kl - 1;
      if (vl >= cap) return false;
      memcpy(out, q->s + k + kl + 1, vl);
      out[vl] = 0;
      return true;
    }
    k = e + 1;
  }
  return false;
}

static void on_answer(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                      const coap_string_t *query, coap_pdu_t *resp) {
  (void)r, (void)s;
  answer a = {.cf = -1};
  char ep[32];
  size_t len;
  const uint8_t *data;
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
  if (o) a.cf = (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
  if (!query_get(query, "ep", ep, sizeof ep) || strncmp(ep, "dev-", 4) != 0 ||
      !query_get(query, "t", a.t, sizeof a.t) || !query_get(query, "c", a.c, sizeof a.c)) {
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_BAD_REQUEST);
    return;
  }
  a.dev = atoi(ep + 4);
  if (coap_get_data(req, &len, &data) && len < sizeof a.body) memcpy(a.body, data, len);
  if (srv->n == srv->cap) {
    srv->cap = srv->cap ? srv->cap * 2 : 64;
    srv->a = realloc(srv->a, srv->cap * sizeof *srv->a);
  }
  srv->a[srv->n++] = a;
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);
}

static uint16_t endpoint_port(coap_endpoint_t *ep) {
  return (uint16_t)atoi(strrchr(coap_endpoint_str(ep), ':') + 1);
}

static coap_context_t *server_new(uint16_t *port) {
  coap_address_t a;
  coap_address_init(&a);
  a.addr.sin.sin_family = AF_INET;
  a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.size = sizeof a.addr.sin;
  coap_context_t *ctx = coap_new_context(NULL);
  assert_non_null(ctx);
  coap_endpoint_t *ep = coap_new_endpoint(ctx, &a, COAP_PROTO_UDP);
  assert_non_null(ep);
  *port = endpoint_port(ep);
  return ctx;
}

static answers *answers_start(void) {
  answers *as = calloc(1, sizeof *as);
  as->ctx = server_new(&as->port);
  coap_resource_t *r = coap_resource_init(coap_make_str_const("lmm/a"), 0);
  coap_register_request_handler(r, COAP_REQUEST_POST, on_answer);
  coap_add_resource(as->ctx, r);
  srv = as;
  return as;
}

static void answers_free(answers *as) {
  coap_free_context(as->ctx);
  free(as->a);
  free(as);
  srv = NULL;
}

static void answers_run(answers *as, double secs) {
  double end = now_s() + secs;
  while (now_s() < end)
    coap_io_process(as->ctx, 10);
}

/* Serves answers until `want` devices answered the group request with token `t` (first answer
 * of each kept in got[dev], when given), or `secs` passed. Returns how many did. */
static int answers_wait(answers *as, const char *t, int want, double secs, int n_dev, answer *got) {
  double end = now_s() + secs;
  bool *seen = calloc((size_t)n_dev, 1);
  int uniq = 0;
  size_t k = 0;
  for (;;) {
    for (; k < as->n; k++) {
      const answer *a = &as->a[k];
      if (strcmp(a->t, t) != 0 || a->dev < 0 || a->dev >= n_dev || seen[a->dev]) continue;
      seen[a->dev] = true, uniq++;
      if (got) got[a->dev] = *a;
    }
    if (uniq >= want || now_s() >= end) break;
    coap_io_process(as->ctx, 10);
  }
  free(seen);
  return uniq;
}

/* ------------------------------------------------------------------ the world */

typedef struct world {
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  lmm_ctx *ctx;
  lmm_unicast *u;
  answers *as;
  int mport, fd;
  uint16_t mid;
} world;

/* A unicast result per member. */
typedef struct ures {
  uint8_t code;
  int cf;
  char body[1100];
} ures;

typedef struct ucall {
  ures *res;
  const uint8_t **payloads; /* per member, or NULL: the op's */
  const size_t *lens;
} ucall;

static void u_prepare(void *user, size_t i, const lmm_member *m, lmm_op *op) {
  const ucall *c = user;
  (void)m;
  if (c->payloads) op->payload = c->payloads[i], op->len = c->lens[i];
}

static void u_member(void *user, const lmm_member_result *r) {
  ures *o = &((ucall *)user)->res[r->index];
  o->code = r->err == LMM_OK ? r->coap_code : 0;
  o->cf = r->content_format;
  size_t n = r->payload_len < sizeof o->body - 1 ? r->payload_len : sizeof o->body - 1;
  if (r->payload) memcpy(o->body, r->payload, n);
  o->body[n] = 0;
}

static const lmm_batch_handlers uhandlers = {u_prepare, u_member, NULL, NULL};

/* `op` by unicast to the devices idx[0..n) (NULL: 0..n-1); results in res[0..n). */
static void unicast_call(world *w, const int *idx, size_t n, const lmm_op *op, ucall *c) {
  lmm_member *sub = calloc(n, sizeof *sub);
  for (size_t k = 0; k < n; k++)
    sub[k] = w->m[idx ? (size_t)idx[k] : k];
  lmm_batch *b;
  /* Members are listed with the Group Mgmt object: the firmware objects are exempted. */
  assert_int_equal(lmm_batch_start(w->u, sub, n, op, op->path.oid, &uhandlers, c, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 30000), LMM_OK);
  lmm_batch_free(b);
  free(sub);
}

static lmm_op make_op(lmm_op_kind kind, const char *path) {
  lmm_op op = LMM_OP_INIT;
  op.kind = kind;
  assert_int_equal(lmm_path_parse(path, &op.path), LMM_OK);
  return op;
}

/* Reads `path` (text) on devices 0..n-1. */
static void read_all(world *w, const char *path, ures *res, size_t n) {
  lmm_op op = make_op(LMM_OPK_READ, path);
  op.accept = LMM_FMT_TEXT;
  ucall c = {res, NULL, NULL};
  unicast_call(w, NULL, n, &op, &c);
}

static ures unicast_one(world *w, int dev, lmm_op *op) {
  ures r = {0};
  ucall c = {&r, NULL, NULL};
  unicast_call(w, &dev, 1, op, &c);
  return r;
}

static void gm_write(world *w, long window) {
  static char *tmgis[] = {TMGI};
  static uint16_t riid[] = {0};
  char uri[64];
  snprintf(uri, sizeof uri, "coap://127.0.0.1:%u/lmm/a", w->as->port);
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  g.group_id = "grp-1";
  g.group_type = LMM_GROUP_MBMS;
  g.external_group_id = "grp-1@operator.example";
  g.tmgi = tmgis, g.tmgi_riid = riid, g.n_tmgi = 1;
  g.multicast_port = w->mport;
  g.response_time_window = window;
  g.answer_uri = uri;
  uint8_t *payload;
  size_t len;
  assert_int_equal(lmm_group_mgmt_encode(&g, GM, 0, LMM_FMT_SENML_JSON, &payload, &len), LMM_OK);
  lmm_op op = make_op(LMM_OPK_WRITE, "/42769/0");
  op.format = LMM_FMT_SENML_JSON;
  op.payload = payload, op.len = len;
  ures *res = calloc(w->n, sizeof *res);
  ucall c = {res, NULL, NULL};
  unicast_call(w, NULL, w->n, &op, &c);
  for (size_t i = 0; i < w->n; i++)
    assert_int_equal(res[i].code, C(2, 4));
  free(res);
  lmm_free(payload);
}

static void world_start(world *w, const char *const *extra, long window) {
  char why[200];
  struct in_addr ifa;
  unsigned char loop = 1;
  memset(w, 0, sizeof *w);
  assert_int_equal(lmmt_sim_start(&w->sim, extra), 0);
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.ack_timeout_ms = 1000;
  assert_int_equal(lmm_unicast_new(w->ctx, &cfg, &w->u), LMM_OK);
  w->as = answers_start();
  w->mport = lmmt_random_port();
  gm_write(w, window);
  w->fd = socket(AF_INET, SOCK_DGRAM, 0);
  inet_pton(AF_INET, "127.0.0.1", &ifa);
  assert_true(w->fd >= 0);
  assert_int_equal(setsockopt(w->fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa), 0);
  assert_int_equal(setsockopt(w->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop), 0);
}

/* SIGTERM, exit status 0, and the --stats-json it wrote. */
static cJSON *world_stop(world *w) {
  int st = 0, rc = -1;
  kill(w->sim.pid, SIGTERM);
  for (int i = 0; i < 1000 && rc < 0; i++) { /* 10 s */
    if (waitpid(w->sim.pid, &st, WNOHANG) == w->sim.pid)
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : 99;
    else
      usleep(10000);
  }
  if (rc < 0) {
    kill(w->sim.pid, SIGKILL);
    waitpid(w->sim.pid, &st, 0);
  }
  w->sim.pid = 0;
  assert_int_equal(rc, 0);
  char *text = lmmt_read_file(w->sim.stats_path, NULL);
  lmmt_sim_stop(&w->sim); /* removes the files */
  assert_non_null(text);
  cJSON *j = cJSON_Parse(text);
  free(text);
  assert_non_null(j);
  close(w->fd);
  answers_free(w->as);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
  return j;
}

static double jnum(const cJSON *o, const char *path) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *s = strtok(buf, "."); s; s = strtok(NULL, "."))
    o = cJSON_GetObjectItem(o, s);
  if (!o) fail_msg("no '%s' in the stats", path);
  return o->valuedouble;
}

static const cJSON *jdev(const cJSON *j, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), i);
}

/* ------------------------------------------------------------------ blobs */

typedef struct tblob {
  lmmw_blob_desc d;
  uint8_t *data;
  char dg[65];
} tblob;

static void blob_make(tblob *b, size_t size, uint32_t frag, uint32_t stride, uint8_t seed) {
  memset(b, 0, sizeof *b);
  b->data = malloc(size);
  for (size_t k = 0; k < size; k++)
    b->data[k] = (uint8_t)(k * 131 + (k >> 9) + seed * 7);
  for (int k = 0; k < LMMW_BLOB_ID_LEN; k++)
    b->d.id[k] = (uint8_t)(seed * 17 + k);
  b->d.size = size, b->d.frag = frag, b->d.stride = stride;
  mbedtls_sha256_ret(b->data, size, b->d.digest, 0);
  b->d.has_digest = true;
  hex(b->d.digest, 32, b->dg);
  char why[120];
  assert_int_equal(lmmw_blob_desc_check(&b->d, why, sizeof why), LMM_OK);
}

static uint32_t blob_k(const tblob *b) {
  return lmmw_blob_k(&b->d);
}

static uint32_t blob_all(const tblob *b) {
  return lmmw_blob_k(&b->d) + lmmw_blob_q(&b->d);
}

/* Fragment `i` (data or parity) into buf (F bytes); returns its length. */
static size_t blob_frag(const tblob *b, uint32_t i, uint8_t *buf) {
  uint32_t k = blob_k(b);
  if (i >= k) {
    lmmw_blob_parity(&b->d, b->data, i - k, buf);
    return b->d.frag;
  }
  size_t n = lmmw_blob_frag_len(&b->d, i);
  memcpy(buf, b->data + (size_t)i * b->d.frag, n);
  return n;
}

static void group_send(world *w, const lmm_op *op, const uint8_t tok[8]) {
  uint8_t *msg;
  size_t len;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->mport)};
  inet_pton(AF_INET, BEARER, &a.sin_addr);
  assert_int_equal(lmmi_coap_group_request(op, w->mid++, tok, &msg, &len), LMM_OK);
  assert_int_equal(sendto(w->fd, msg, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
  free(msg);
}

static void token(uint8_t tok[8], unsigned v, char th[17]) {
  for (int k = 0; k < 8; k++)
    tok[k] = (uint8_t)(v >> (8 * (k % 4)) ^ (k * 29));
  hex(tok, 8, th);
}

/* The blob's messages to the group: the announce (with d) when asked, then fragments
 * [from, to) that leave_out() does not name, paced so that the simulator's socket keeps up. */
static void blob_send(world *w, const tblob *b, bool announce, uint32_t from, uint32_t to,
                      bool (*leave_out)(uint32_t)) {
  uint8_t tok[8], buf[LMMW_BLOB_FRAG_MAX];
  char q[LMMW_BLOB_QUERY_MAX + 1], th[17];
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/0");
  op.query = q;
  if (announce) {
    token(tok, 0xa0, th);
    lmmw_blob_query(&b->d, -1, true, q, sizeof q);
    group_send(w, &op, tok);
  }
  op.format = LMM_FMT_OPAQUE;
  for (uint32_t i = from, sent = 0; i < to; i++) {
    if (leave_out && leave_out(i)) continue;
    token(tok, 0x1000 + i, th);
    lmmw_blob_query(&b->d, i, false, q, sizeof q);
    op.payload = buf, op.len = blob_frag(b, i, buf);
    group_send(w, &op, tok);
    if (++sent % 16 == 0) sleep_ms(1);
  }
}

/* The status request to the group (with d): returns the answers' token. */
static void group_status(world *w, const tblob *b, unsigned tv, char th[17]) {
  uint8_t tok[8];
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmm_op op = make_op(LMM_OPK_READ, "/5/0/3");
  lmmw_blob_query(&b->d, -1, true, q, sizeof q);
  op.query = q;
  token(tok, tv, th);
  group_send(w, &op, tok);
}

static void group_update(world *w, const tblob *b, unsigned tv, char th[17]) {
  uint8_t tok[8];
  char q[32] = "b=";
  lmm_op op = make_op(LMM_OPK_EXECUTE, "/5/0/2");
  hex(b->d.id, LMMW_BLOB_ID_LEN, q + 2);
  op.query = q;
  token(tok, tv, th);
  group_send(w, &op, tok);
}

/* Unicast status requests (with d unless told) to idx[0..n) (NULL: 0..n-1). */
static void status_uni(world *w, const tblob *b, const int *idx, size_t n, bool digest, ures *res) {
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmm_op op = make_op(LMM_OPK_READ, "/5/0/3");
  lmmw_blob_query(&b->d, -1, digest, q, sizeof q);
  op.query = q;
  ucall c = {res, NULL, NULL};
  unicast_call(w, idx, n, &op, &c);
  for (size_t k = 0; k < n; k++) {
    assert_int_equal(res[k].code, C(2, 5));
    assert_int_equal(res[k].cf, LMM_FMT_TEXT);
  }
}

static void expect_status(world *w, const tblob *b, int dev, const char *want) {
  ures r;
  status_uni(w, b, &dev, 1, true, &r);
  if (strcmp(r.body, want) != 0)
    fail_msg("dev-%04d: status '%s', expected '%s'", dev, r.body, want);
}

/* Fragment i by unicast (the repair form: with d) to idx[0..n); every answer 2.04. */
static void repair(world *w, const tblob *b, uint32_t i, const int *idx, size_t n) {
  uint8_t buf[LMMW_BLOB_FRAG_MAX];
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/0");
  lmmw_blob_query(&b->d, i, true, q, sizeof q);
  op.query = q;
  op.format = LMM_FMT_OPAQUE;
  op.payload = buf, op.len = blob_frag(b, i, buf);
  ures *res = calloc(n, sizeof *res);
  ucall c = {res, NULL, NULL};
  unicast_call(w, idx, n, &op, &c);
  for (size_t k = 0; k < n; k++)
    if (res[k].code != C(2, 4))
      fail_msg("dev-%04d: fragment %u by unicast: %d.%02d %s", idx[k], i, res[k].code >> 5,
               res[k].code & 31, res[k].body);
  free(res);
}

/* ------------------------------------------------------------------ tests */

/* The whole blob by group, nothing answered; status and update by group and by unicast. */
static void test_blob_complete(void **state) {
  (void)state;
  world w;
  enum { N = 5 };
  world_start(&w, (const char *[]){"--count", "5", "--update-ms", "400", NULL}, 0);
  tblob b;
  blob_make(&b, 20000, 512, 0, 1); /* K = 40, the last fragment 32 bytes */
  blob_send(&w, &b, true, 0, blob_all(&b), NULL);
  answers_run(w.as, 0.3);
  assert_int_equal(w.as->n, 0); /* announce and fragments are not answered */

  ures res[N];
  status_uni(&w, &b, NULL, N, true, res);
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "s=2;r=0");
  read_all(&w, "/5/0/7", res, N); /* PkgVersion: the SHA-256 of what arrived */
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, b.dg);
  read_all(&w, "/5/0/3", res, N); /* State, without a blob query: as ever */
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "2");
  read_all(&w, "/5/0/9", res, N); /* Delivery Method: push and pull */
  assert_string_equal(res[0].body, "2");

  /* Another blob's status: unknown; its update: not allowed. */
  tblob other;
  blob_make(&other, 100, 16, 0, 9);
  expect_status(&w, &other, 0, "s=0;r=0;m=0-");
  lmm_op op = make_op(LMM_OPK_EXECUTE, "/5/0/2");
  char q[32] = "b=";
  hex(other.d.id, LMMW_BLOB_ID_LEN, q + 2);
  op.query = q;
  assert_int_equal(unicast_one(&w, 0, &op).code, C(4, 5));

  char th[17];
  answer got[N];
  group_status(&w, &b, 1, th);
  assert_int_equal(answers_wait(w.as, th, N, 3.0, N, got), N);
  for (int i = 0; i < N; i++) {
    assert_string_equal(got[i].c, "2.05");
    assert_string_equal(got[i].body, "s=2;r=0");
    assert_int_equal(got[i].cf, LMM_FMT_TEXT);
  }
  group_update(&w, &b, 2, th);
  assert_int_equal(answers_wait(w.as, th, N, 3.0, N, got), N);
  for (int i = 0; i < N; i++)
    assert_string_equal(got[i].c, "2.04");
  status_uni(&w, &b, NULL, N, true, res);
  for (int i = 0; i < N; i++) /* updating for 400 ms */
    assert_string_equal(res[i].body, "s=3;r=0");
  sleep_ms(500);
  status_uni(&w, &b, NULL, N, true, res);
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "s=0;r=1");
  read_all(&w, "/3/0/3", res, N); /* the running firmware is the blob */
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, b.dg);
  /* Fragments of it after the update (repair for others) change nothing. */
  blob_send(&w, &b, false, 0, 3, NULL);
  expect_status(&w, &b, 4, "s=0;r=1");

  cJSON *j = world_stop(&w);
  for (int i = 0; i < N; i++) {
    const cJSON *d = jdev(j, i);
    assert_int_equal((int)jnum(d, "fw.fragments"), 40);
    assert_int_equal((int)jnum(d, "fw.duplicates"), 3);
    assert_int_equal((int)jnum(d, "fw.group_bytes"), 20000 + 3 * 512);
    assert_int_equal((int)jnum(d, "fw.updates"), 1);
    assert_int_equal((int)jnum(d, "group.answers_sent"), 2); /* status and update only */
  }
  assert_int_equal((int)jnum(j, "totals.fw.fragments"), 5 * 40);
  assert_int_equal((int)jnum(j, "totals.fw.blob_memory_max"), 5 * 20000);
  cJSON_Delete(j);
  free(b.data);
  free(other.data);
}

static bool skip_a(uint32_t i) {
  return i == 3 || (i >= 10 && i <= 12) || i == 39;
}

static bool skip_b(uint32_t i) {
  return i == 5;
}

static bool skip_b1(uint32_t i) {
  return i == 1;
}

/* Missing fragments in the status, unicast repair (in Block1 blocks too); parity rebuilds a
 * lost one; without the announce the digest comes with the status. */
static void test_blob_missing_parity(void **state) {
  (void)state;
  world w;
  enum { N = 4 };
  world_start(&w, (const char *[]){"--count", "4", NULL}, 0);
  tblob a, b;
  blob_make(&a, 10000, 256, 0, 2); /* K = 40 */
  blob_send(&w, &a, true, 0, blob_all(&a), skip_a);
  ures res[N];
  status_uni(&w, &a, NULL, N, true, res);
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "s=1;r=0;m=3,10-12,39");
  int all[N] = {0, 1, 2, 3};
  static const uint32_t lost[] = {3, 10, 11, 12};
  for (size_t k = 0; k < 4; k++)
    repair(&w, &a, lost[k], all, N);
  expect_status(&w, &a, 0, "s=1;r=0;m=39");
  repair(&w, &a, 39, all, N); /* the last one: complete, digest known */
  read_all(&w, "/5/0/3", res, N);
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "2");

  /* Blob b: stride 4 (K = 32, Q = 8), no announce, data fragment 5 lost: rebuilt. */
  blob_make(&b, 8192, 256, 4, 3);
  blob_send(&w, &b, false, 0, blob_all(&b), skip_b);
  status_uni(&w, &b, NULL, N, false, res); /* whole, but no digest yet */
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "s=1;r=0");
  read_all(&w, "/5/0/7", res, N); /* blob a is gone with the new blob */
  assert_string_equal(res[0].body, "");
  status_uni(&w, &b, NULL, N, true, res); /* the digest comes with it */
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "s=2;r=0");
  read_all(&w, "/5/0/7", res, N);
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, b.dg);

  /* Blob c: 1,024-byte fragments; the repair of one does not fit a datagram with its query, so
   * the unicast engine sends it in Block1 blocks. */
  tblob c;
  blob_make(&c, 3000, 1024, 0, 7); /* K = 3 */
  blob_send(&w, &c, true, 0, blob_all(&c), skip_b1);
  expect_status(&w, &c, 0, "s=1;r=0;m=1");
  repair(&w, &c, 1, all, N);
  status_uni(&w, &c, NULL, N, true, res);
  for (int i = 0; i < N; i++)
    assert_string_equal(res[i].body, "s=2;r=0");

  cJSON *j = world_stop(&w);
  for (int i = 0; i < N; i++) {
    const cJSON *d = jdev(j, i);
    assert_int_equal((int)jnum(d, "fw.recovered"), 1);
    assert_int_equal((int)jnum(d, "fw.unicast_fragments"), 5 + 1);
    assert_int_equal((int)jnum(d, "fw.fragments"), 35 + 39 + 2);
    assert_int_equal((int)jnum(d, "fw.state"), 2);
  }
  cJSON_Delete(j);
  free(a.data);
  free(b.data);
  free(c.data);
}

/* --fw-corrupt, --fw-reboot, --fw-refuse with a blob, and --fw-corrupt with a push. */
static void test_blob_faults(void **state) {
  (void)state;
  world w;
  enum { N = 6 };
  world_start(&w,
              (const char *[]){"--count", "6", "--fw-corrupt", "1", "--fw-reboot", "2",
                               "--fw-reboot-ms", "700", "--fw-refuse", "3,5-5", "--update-ms",
                               "150", NULL},
              0);
  tblob b;
  blob_make(&b, 16384, 256, 0, 4); /* K = 64 */
  double t0 = now_s();
  blob_send(&w, &b, true, 0, blob_all(&b), NULL);

  /* Device 0 answering shows the fragments were taken (the simulator reads its group sockets
   * before its unicast one). Device 2 rebooted at fragment 31: it does not answer, not even a
   * CON's ACK. */
  expect_status(&w, &b, 0, "s=2;r=0");
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w.sim.port)};
  inet_pton(AF_INET, "127.1.0.3", &a.sin_addr);
  static const uint8_t get[] = {0x40, 0x01, 0x77, 0x01, 0xb1, '5', 0x01, '0', 0x01, '3'};
  assert_int_equal(sendto(fd, get, sizeof get, 0, (struct sockaddr *)&a, sizeof a),
                   (ssize_t)sizeof get);
  uint8_t in[256];
  assert_true(lmmt_recv(fd, in, sizeof in, 200) < 0);
  close(fd);
  double left = 0.75 - (now_s() - t0);
  if (left > 0) sleep_ms((int)(left * 1000));

  expect_status(&w, &b, 1, "s=0;r=5"); /* its storage flipped a byte */
  expect_status(&w, &b, 2, "s=0;r=0;m=0-");
  expect_status(&w, &b, 3, "s=2;r=0");
  /* The second half again: device 2 starts over from it; device 1's failed blob stays. */
  blob_send(&w, &b, false, 32, 64, NULL);
  expect_status(&w, &b, 2, "s=1;r=0;m=0-31");
  expect_status(&w, &b, 1, "s=0;r=5");
  int two = 2;
  for (uint32_t i = 0; i < 32; i++)
    repair(&w, &b, i, &two, 1);
  expect_status(&w, &b, 2, "s=2;r=0");

  char th[17];
  answer got[N];
  group_update(&w, &b, 3, th);
  assert_int_equal(answers_wait(w.as, th, N, 3.0, N, got), N);
  for (int i = 0; i < N; i++)
    assert_string_equal(got[i].c, i == 1 ? "4.05" : "2.04");
  sleep_ms(300);
  static const char *const want[N] = {"s=0;r=1", "s=0;r=5", "s=0;r=1",
                                      "s=0;r=8", "s=0;r=1", "s=0;r=8"};
  ures res[N];
  status_uni(&w, &b, NULL, N, true, res);
  for (int i = 0; i < N; i++)
    if (strcmp(res[i].body, want[i]) != 0)
      fail_msg("dev-%04d: '%s', expected '%s'", i, res[i].body, want[i]);
  read_all(&w, "/3/0/3", res, N);
  assert_string_equal(res[0].body, b.dg);
  assert_string_equal(res[3].body, "1.0"); /* refused: the old firmware runs */

  /* A push (Block1) to device 1: stored corrupted, so PkgVersion is not the package's. */
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/0");
  op.format = LMM_FMT_OPAQUE;
  op.payload = b.data, op.len = 5000;
  assert_int_equal(unicast_one(&w, 1, &op).code, C(2, 4));
  assert_int_equal(unicast_one(&w, 4, &op).code, C(2, 4));
  uint8_t dg[32];
  char want_dg[65];
  mbedtls_sha256_ret(b.data, 5000, dg, 0);
  hex(dg, 32, want_dg);
  read_all(&w, "/5/0/7", res, N);
  assert_string_equal(res[4].body, want_dg);
  assert_int_equal(strlen(res[1].body), 64);
  assert_string_not_equal(res[1].body, want_dg);

  cJSON *j = world_stop(&w);
  const cJSON *d2 = jdev(j, 2);
  assert_int_equal((int)jnum(d2, "fw.reboots"), 1);
  assert_true(jnum(d2, "fw.offline_ignored") >= 33); /* fragments 32..63 and the GET */
  assert_int_equal((int)jnum(d2, "fw.unicast_fragments"), 32);
  assert_int_equal((int)jnum(j, "totals.fw.reboots"), 1);
  assert_int_equal((int)jnum(jdev(j, 3), "fw.result"), 8);
  cJSON_Delete(j);
  free(b.data);
}

/* Per-device loss of 20 % on the bearer: status by group, silent members by unicast, the
 * missing fragments by unicast, as the adapter does. LMMT_BLOB_COUNT, LMMT_BLOB_SIZE and
 * LMMT_BLOB_LOSS scale it (e.g. 500 devices, 1048576 bytes) to measure. */
static void test_blob_group_loss(void **state) {
  (void)state;
  const char *ec = getenv("LMMT_BLOB_COUNT"), *es = getenv("LMMT_BLOB_SIZE");
  const char *el = getenv("LMMT_BLOB_LOSS");
  int n = ec ? atoi(ec) : 30;
  size_t size = es ? (size_t)atol(es) : 32768;
  if (n < 1 || n > 10000) n = 30;
  if (size < 1 || size > LMMW_BLOB_SIZE_MAX) size = 32768;
  char cs[16];
  snprintf(cs, sizeof cs, "%d", n);
  world w;
  world_start(
      &w, (const char *[]){"--count", cs, "--group-loss", el ? el : "0.2", "--seed", "3", NULL}, 1);
  tblob b;
  uint32_t f = size >= 65536 ? 1024 : 512;
  blob_make(&b, size, f, 8, 5);
  uint32_t k = blob_k(&b);
  double t0 = now_s();
  blob_send(&w, &b, true, 0, blob_all(&b), NULL);
  double t_send = now_s() - t0;

  char th[17];
  answer *got = calloc((size_t)n, sizeof *got);
  group_status(&w, &b, 7, th);
  int answered = answers_wait(w.as, th, n, 2.5, n, got);
  int *silent = calloc((size_t)n, sizeof *silent), n_silent = 0;
  for (int i = 0; i < n; i++)
    if (!got[i].t[0]) silent[n_silent++] = i;
  ures *res = calloc((size_t)n, sizeof *res);
  if (n_silent) status_uni(&w, &b, silent, (size_t)n_silent, true, res);
  for (int s = 0; s < n_silent; s++) {
    snprintf(got[silent[s]].body, sizeof got->body, "%s", res[s].body);
    snprintf(got[silent[s]].c, sizeof got->c, "2.05");
  }

  /* The missing fragments, from each member's status text. */
  uint8_t **miss = calloc((size_t)n, sizeof *miss);
  size_t repairs = 0;
  for (int i = 0; i < n; i++) {
    lmmw_blob_status st;
    char why[120];
    assert_string_equal(got[i].c, "2.05");
    assert_int_equal(lmmw_blob_status_parse((const uint8_t *)got[i].body, strlen(got[i].body), &st,
                                            why, sizeof why),
                     LMM_OK);
    assert_true(st.state == 1 || st.state == 2);
    miss[i] = calloc((k + 7) / 8, 1);
    lmmw_blob_status_mark(&st, miss[i], k);
    lmmw_blob_status_clear(&st);
  }
  int *idx = calloc((size_t)n, sizeof *idx);
  for (uint32_t i = 0; i < k; i++) {
    size_t m = 0;
    for (int d = 0; d < n; d++)
      if (lmmw_bit(miss[d], i)) idx[m++] = d;
    if (m) repair(&w, &b, i, idx, m);
    repairs += m;
  }
  status_uni(&w, &b, NULL, (size_t)n, true, res);
  for (int i = 0; i < n; i++)
    if (strcmp(res[i].body, "s=2;r=0") != 0) fail_msg("dev-%04d: '%s'", i, res[i].body);
  double t_all = now_s() - t0;

  cJSON *j = world_stop(&w);
  printf("# %d devices, %zu bytes, %u+%u fragments sent in %.3f s; %d answered the group status; "
         "%zu fragments repaired by unicast, %.0f rebuilt from parity; all downloaded after "
         "%.3f s; blob memory at most %.0f bytes; group datagrams received %.0f, missed %.0f\n",
         n, size, k, lmmw_blob_q(&b.d), t_send, answered, repairs, jnum(j, "totals.fw.recovered"),
         t_all, jnum(j, "totals.fw.blob_memory_max"), jnum(j, "totals.group.received"),
         jnum(j, "totals.group.missed"));
  /* Every datagram reached the simulator: only --group-loss lost any. */
  assert_int_equal((int)(jnum(j, "totals.group.received") + jnum(j, "totals.group.missed")),
                   n * (2 + (int)blob_all(&b)));
  assert_true(jnum(j, "totals.group.missed") > 0);
  assert_true(jnum(j, "totals.fw.recovered") > 0);
  assert_int_equal((int)jnum(j, "totals.fw.unicast_fragments"), (int)repairs);
  const cJSON *by_state =
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "totals"), "fw"), "by_state");
  assert_int_equal(cJSON_GetArrayItem(by_state, 2)->valueint, n);
  cJSON_Delete(j);
  for (int i = 0; i < n; i++)
    free(miss[i]);
  free(miss);
  free(idx);
  free(res);
  free(silent);
  free(got);
  free(b.data);
}

/* ------------------------------------------------------------------ pull */

static uint8_t *pull_data;
static size_t pull_len;
static int pull_gets;

static void on_fw_get(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                      const coap_string_t *query, coap_pdu_t *resp) {
  pull_gets++;
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
  coap_add_data_large_response(r, s, req, resp, query, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM, -1,
                               0, pull_len, pull_data, NULL, NULL);
}

/* Package URI writes start pulls from a Block2 server here, at most 4 at once. */
static void test_pull(void **state) {
  (void)state;
  world w;
  enum { N = 20 };
  world_start(&w,
              (const char *[]){"--count", "20", "--max-pulls", "4", "--fw-corrupt", "5",
                               "--fw-reboot", "6", "--fw-reboot-ms", "300", NULL},
              0);
  uint16_t port;
  coap_context_t *fs = server_new(&port);
  coap_context_set_block_mode(fs, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_resource_t *r = coap_resource_init(coap_make_str_const("fw/pkg"), 0);
  coap_register_request_handler(r, COAP_REQUEST_GET, on_fw_get);
  coap_add_resource(fs, r);
  pull_len = 50000;
  pull_data = malloc(pull_len);
  for (size_t k = 0; k < pull_len; k++)
    pull_data[k] = (uint8_t)(k * 7 + (k >> 10));
  uint8_t dg[32];
  char want[65];
  mbedtls_sha256_ret(pull_data, pull_len, dg, 0);
  hex(dg, 32, want);

  char good[64], missing[64], closed[64];
  snprintf(good, sizeof good, "coap://127.0.0.1:%u/fw/pkg", port);
  snprintf(missing, sizeof missing, "coap://127.0.0.1:%u/fw/none", port);
  snprintf(closed, sizeof closed, "coap://127.0.0.1:%d/fw/pkg", lmmt_random_port());
  const uint8_t *uris[N];
  size_t lens[N];
  for (int i = 0; i < N; i++)
    uris[i] = (const uint8_t *)(i == 17   ? missing
                                : i == 18 ? closed
                                : i == 19 ? "http://x/fw"
                                          : good);
  for (int i = 0; i < N; i++)
    lens[i] = strlen((const char *)uris[i]);
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/1");
  op.format = LMM_FMT_TEXT;
  ures res[N];
  ucall c = {res, uris, lens};
  double t0 = now_s();
  unicast_call(&w, NULL, N, &op, &c);
  for (int i = 0; i < N; i++)
    assert_int_equal(res[i].code, C(2, 4));
  /* Serve the pulls, checking the devices' State now and then. */
  bool busy = true;
  while (busy && now_s() - t0 < 15) {
    double until = now_s() + 0.2;
    while (now_s() < until)
      coap_io_process(fs, 10);
    read_all(&w, "/5/0/3", res, N);
    busy = false;
    for (int i = 0; i < N; i++)
      busy = busy || strcmp(res[i].body, "1") == 0;
  }
  double t = now_s() - t0;
  ures st[N], rs[N], pv[N];
  read_all(&w, "/5/0/3", st, N);
  read_all(&w, "/5/0/5", rs, N);
  read_all(&w, "/5/0/7", pv, N);
  for (int i = 0; i < N; i++) {
    const char *ws = "2", *wr = "0";
    if (i == 6) ws = "0";            /* rebooted in the middle: lost */
    if (i == 17) ws = "0", wr = "7"; /* 4.04: invalid URI */
    if (i == 18) ws = "0", wr = "4"; /* nobody there: connection lost */
    if (i == 19) ws = "0", wr = "9"; /* not coap: unsupported protocol */
    if (strcmp(st[i].body, ws) != 0 || strcmp(rs[i].body, wr) != 0)
      fail_msg("dev-%04d: State %s, Update Result %s; expected %s, %s", i, st[i].body, rs[i].body,
               ws, wr);
    if (!strcmp(ws, "2")) {
      if (i == 5)
        assert_string_not_equal(pv[i].body, want);
      else
        assert_string_equal(pv[i].body, want);
    }
  }
  printf("# %d pulls of %zu bytes, 4 at once: done after %.3f s (%d GETs served)\n", N - 3,
         pull_len, t, pull_gets);
  cJSON *j = world_stop(&w);
  coap_free_context(fs);
  free(pull_data);
  assert_true(jnum(j, "totals.fw.pull.running_max") <= 4);
  assert_int_equal((int)jnum(j, "totals.fw.pull.downloaded"), 16);
  assert_int_equal((int)jnum(j, "totals.fw.pulls"), 19);
  assert_int_equal((int)jnum(jdev(j, 6), "fw.reboots"), 1);
  assert_int_equal((int)jnum(jdev(j, 0), "fw.bytes"), 50000);
  cJSON_Delete(j);
}

/* ------------------------------------------------------------------ malformed */

static void test_malformed(void **state) {
  (void)state;
  world w;
  enum { N = 3 };
  world_start(&w, (const char *[]){"--count", "3", NULL}, 0);
  tblob b;
  blob_make(&b, 100, 16, 0, 6); /* K = 7 */
  char id[17];
  hex(b.d.id, 8, id);
  char bad_q[6][160];
  snprintf(bad_q[0], sizeof bad_q[0], "b=zz%s&n=100&f=16&p=0", id + 2); /* bad hex */
  snprintf(bad_q[1], sizeof bad_q[1], "b=%s&n=0&f=16&p=0&i=0", id);     /* n = 0 */
  snprintf(bad_q[2], sizeof bad_q[2], "b=%s&n=100&f=16&p=0&i=7", id);   /* i out of range */
  snprintf(bad_q[3], sizeof bad_q[3], "b=%s&n=100&f=8&p=0&i=0", id);    /* F below 16 */
  snprintf(bad_q[4], sizeof bad_q[4], "b=%s&n=100&f=16&p=0&i=6", id);   /* 16 bytes, not 4 */
  snprintf(bad_q[5], sizeof bad_q[5], "b=%s&f=16&p=0", id);             /* no n */
  uint8_t frag[16] = {0};
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/0");
  op.format = LMM_FMT_OPAQUE;
  op.payload = frag, op.len = sizeof frag;
  for (int k = 0; k < 6; k++) {
    op.query = bad_q[k];
    ures r = unicast_one(&w, 0, &op);
    if (r.code != C(4, 0)) fail_msg("'%s': %d.%02d", bad_q[k], r.code >> 5, r.code & 31);
  }
  lmm_op st = make_op(LMM_OPK_READ, "/5/0/3");
  st.query = bad_q[0];
  assert_int_equal(unicast_one(&w, 1, &st).code, C(4, 0));
  lmm_op up = make_op(LMM_OPK_EXECUTE, "/5/0/2");
  up.query = "b=0123";
  assert_int_equal(unicast_one(&w, 1, &up).code, C(4, 0));
  /* Without b= nothing changed: Write-Attributes on the Package, a Package push. */
  lmm_op wa = make_op(LMM_OPK_WRITE_ATTR, "/5/0/0");
  wa.query = "pmin=10";
  assert_int_equal(unicast_one(&w, 2, &wa).code, C(2, 4));

  /* The same by group: ignored, counted, no answer; the devices still serve. */
  uint8_t tok[8];
  char th[17];
  for (int k = 0; k < 6; k++) {
    op.query = bad_q[k];
    token(tok, 0x500 + (unsigned)k, th);
    group_send(&w, &op, tok);
  }
  token(tok, 0x600, th);
  group_send(&w, &st, tok);
  answers_run(w.as, 0.3);
  assert_int_equal(w.as->n, 0);
  group_status(&w, &b, 8, th);
  assert_int_equal(answers_wait(w.as, th, N, 3.0, N, NULL), N);
  for (size_t k = 0; k < w.as->n; k++)
    assert_string_equal(w.as->a[k].body, "s=0;r=0;m=0-");
  cJSON *j = world_stop(&w);
  assert_int_equal((int)jnum(j, "totals.group.malformed"), 7);
  assert_int_equal((int)jnum(j, "totals.fw.fragments"), 0);
  cJSON_Delete(j);
  free(b.data);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1; /* libcoap's set-up too */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blob_complete), cmocka_unit_test(test_blob_missing_parity),
      cmocka_unit_test(test_blob_faults),   cmocka_unit_test(test_blob_group_loss),
      cmocka_unit_test(test_pull),          cmocka_unit_test(test_malformed),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
