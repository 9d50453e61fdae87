/* test_sim_group.c - group delivery in lwm2m-mbms-sim (docs/protocol.md sections 1 and 2): the
 * devices join the bearer their Group Mgmt instance names, execute one NON group request sent to
 * it, and answer by confirmable POSTs to the Answer URI, spread over the Response Time Window.
 * Configured with the library's unicast engine; the answers go to a small libcoap server here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
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

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define GM     LMM_GROUP_MGMT_OID
#define TMGI   "0a1b2c00101"
#define BEARER "239.10.27.44" /* of service id 0a1b2c */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ the answer server */

typedef struct answer {
  double at; /* seconds since the group request */
  int dev;   /* from ep */
  char t[17], c[8];
  int cf;
  char body[64];
} answer;

typedef struct answers {
  coap_context_t *ctx;
  uint16_t port;
  answer *a;
  size_t n, cap;
  size_t bad; /* POSTs without ep, t or c */
  double t0;
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

static void on_post(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                    const coap_string_t *query, coap_pdu_t *resp) {
  (void)r, (void)s;
  answer a = {.at = now_s() - srv->t0, .cf = -1};
  char ep[32];
  size_t len;
  const uint8_t *data;
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
  if (o) a.cf = (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
  if (!query_get(query, "ep", ep, sizeof ep) || strncmp(ep, "dev-", 4) != 0 ||
      !query_get(query, "t", a.t, sizeof a.t) || !query_get(query, "c", a.c, sizeof a.c)) {
    srv->bad++;
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

static answers *answers_start(void) {
  answers *as = calloc(1, sizeof *as);
  coap_address_t a;
  coap_address_init(&a);
  a.addr.sin.sin_family = AF_INET;
  a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.size = sizeof a.addr.sin;
  assert_non_null(as->ctx = coap_new_context(NULL));
  coap_endpoint_t *ep = coap_new_endpoint(as->ctx, &a, COAP_PROTO_UDP);
  assert_non_null(ep);
  const char *str = coap_endpoint_str(ep);
  as->port = (uint16_t)atoi(strrchr(str, ':') + 1);
  coap_resource_t *r = coap_resource_init(coap_make_str_const("lmm/a"), 0);
  coap_register_request_handler(r, COAP_REQUEST_POST, on_post);
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

/* Serves answers for `secs` seconds. */
static void answers_run(answers *as, double secs) {
  double end = now_s() + secs;
  while (now_s() < end)
    coap_io_process(as->ctx, 20);
}

/* ------------------------------------------------------------------ configuring the fleet */

typedef struct batch_run {
  uint8_t *payload;
  size_t len;
  uint8_t *codes;
} batch_run;

static void prepare(void *user, size_t i, const lmm_member *m, lmm_op *op) {
  batch_run *r = user;
  (void)i, (void)m;
  if (op->kind == LMM_OPK_WRITE) {
    op->format = LMM_FMT_SENML_JSON;
    op->payload = r->payload;
    op->len = r->len;
  }
}

static void on_member(void *user, const lmm_member_result *res) {
  ((batch_run *)user)->codes[res->index] = res->err == LMM_OK ? res->coap_code : 0;
}

static const lmm_batch_handlers handlers = {prepare, on_member, NULL, NULL};

/* Runs `kind` on /42769/0 of members [0, n) and checks every member answered `want`. */
static void gm_batch(lmm_unicast *u, const lmm_member *m, size_t n, lmm_op_kind kind, int mport,
                     long window, uint16_t answer_port, uint8_t want) {
  batch_run r = {0};
  r.codes = calloc(n, 1);
  if (kind == LMM_OPK_WRITE) {
    static char *tmgis[] = {TMGI};
    static uint16_t riid[] = {0};
    char uri[64];
    snprintf(uri, sizeof uri, "coap://127.0.0.1:%u/lmm/a", answer_port);
    lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
    g.group_id = "grp-1";
    g.group_type = LMM_GROUP_MBMS;
    g.external_group_id = "grp-1@operator.example";
    g.tmgi = tmgis, g.tmgi_riid = riid, g.n_tmgi = 1;
    g.multicast_port = mport;
    g.response_time_window = window;
    g.answer_uri = uri;
    assert_int_equal(lmm_group_mgmt_encode(&g, GM, 0, LMM_FMT_SENML_JSON, &r.payload, &r.len),
                     LMM_OK);
  }
  lmm_op op = LMM_OP_INIT;
  op.kind = kind;
  assert_int_equal(lmm_path_parse("/42769/0", &op.path), LMM_OK);
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(u, m, n, &op, GM, &handlers, &r, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 60000), LMM_OK);
  lmm_batch_free(b);
  for (size_t i = 0; i < n; i++)
    if (r.codes[i] != want)
      fail_msg("member %zu: %d.%02d, expected %d.%02d", i, r.codes[i] >> 5, r.codes[i] & 31,
               want >> 5, want & 31);
  lmm_free(r.payload);
  free(r.codes);
}

typedef struct world {
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  lmm_ctx *ctx;
  lmm_unicast *u;
  answers *as;
  int mport;
} world;

static void world_start(world *w, const char *const *extra, long window) {
  char why[200];
  memset(w, 0, sizeof *w);
  assert_int_equal(lmmt_sim_start(&w->sim, extra), 0);
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.ack_timeout_ms = 1000;
  assert_int_equal(lmm_unicast_new(w->ctx, &cfg, &w->u), LMM_OK);
  w->as = answers_start();
  w->mport = lmmt_random_port();
  gm_batch(w->u, w->m, w->n, LMM_OPK_WRITE, w->mport, window, w->as->port, 0x44);
}

/* SIGTERM and the exit status, keeping the files (lmmt_sim_stop() removes them). */
static int stop_keep(lmmt_sim *s) {
  int st = 0;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 1000; i++) { /* 10 s */
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    usleep(10000);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, &st, 0);
  s->pid = 0;
  return -1;
}

static cJSON *world_stop(world *w) {
  assert_int_equal(stop_keep(&w->sim), 0);
  char *text = lmmt_read_file(w->sim.stats_path, NULL);
  lmmt_sim_stop(&w->sim); /* removes the files */
  assert_non_null(text);
  cJSON *j = cJSON_Parse(text);
  free(text);
  assert_non_null(j);
  answers_free(w->as);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
  return j;
}

/* ------------------------------------------------------------------ the group request */

static int mcast_sender(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct in_addr ifa;
  unsigned char loop = 1;
  inet_pton(AF_INET, "127.0.0.1", &ifa);
  assert_true(fd >= 0);
  assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa), 0);
  assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop), 0);
  return fd;
}

static void send_to_bearer(int fd, int port, const uint8_t *msg, size_t len) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, BEARER, &a.sin_addr);
  assert_int_equal(sendto(fd, msg, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

/* NON GET /6/0/0, the 8-byte token `tok`, No-Response 26 (docs/protocol.md section 1). */
static size_t group_read(const uint8_t tok[8], uint8_t *out) {
  size_t n = 0;
  out[n++] = 0x58; /* ver 1, NON, TKL 8 */
  out[n++] = 0x01; /* GET */
  out[n++] = 0x12, out[n++] = 0x34;
  memcpy(out + n, tok, 8), n += 8;
  out[n++] = 0xb1, out[n++] = '6'; /* Uri-Path (11) */
  out[n++] = 0x01, out[n++] = '0';
  out[n++] = 0x01, out[n++] = '0';
  out[n++] = 0xd1, out[n++] = 258 - 11 - 13, out[n++] = 26; /* No-Response (258) = 26 */
  return n;
}

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t k = 0; k < n; k++)
    sprintf(out + 2 * k, "%02x", b[k]);
}

static const cJSON *dev_json(const cJSON *j, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), i);
}

static double num(const cJSON *o, const char *a, const char *b) {
  const cJSON *x = cJSON_GetObjectItem(o, a);
  if (b) x = cJSON_GetObjectItem(x, b);
  assert_non_null(x);
  return x->valuedouble;
}

/* ------------------------------------------------------------------ tests */

static void test_group_read_50(void **state) {
  (void)state;
  world w;
  world_start(&w, (const char *[]){"--count", "50", NULL}, 2);
  assert_int_equal(w.n, 50);
  int fd = mcast_sender();

  /* Outside input first: garbage on the bearer is counted and ignored. */
  static const uint8_t junk[] = {0xff, 0x00, 0x12};
  static const uint8_t con[] = {0x41, 0x01, 0x00, 0x01, 0xaa, 0xb1, '6'}; /* a CON: not a group */
  send_to_bearer(fd, w.mport, junk, sizeof junk);
  send_to_bearer(fd, w.mport, con, sizeof con);

  const uint8_t tok[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  uint8_t msg[64];
  char th[17];
  hex(tok, 8, th);
  size_t len = group_read(tok, msg);
  w.as->t0 = now_s();
  send_to_bearer(fd, w.mport, msg, len);
  answers_run(w.as, 4.5); /* window 2 s, plus slack */

  bool seen[50] = {false};
  size_t uniq = 0, early = 0;
  double last = 0;
  assert_int_equal(w.as->bad, 0);
  for (size_t k = 0; k < w.as->n; k++) {
    const answer *a = &w.as->a[k];
    assert_true(a->dev >= 0 && a->dev < 50);
    assert_string_equal(a->t, th);
    assert_string_equal(a->c, "2.05");
    if (seen[a->dev]) continue; /* a retransmission: the server counts duplicates */
    seen[a->dev] = true;
    uniq++;
    double lat = strtod(a->body, NULL);
    if (fabs(lat - (48.0 + 0.0001 * (double)a->dev)) > 1e-9)
      fail_msg("dev-%04d: latitude '%s'", a->dev, a->body);
    assert_true(a->cf == LMM_FMT_TEXT || a->cf == -1);
    early += a->at < 0.2;
    if (a->at > last) last = a->at;
  }
  printf("# 50 devices: %zu answers (%zu POSTs), %zu in the first 200 ms, last after %.3f s\n",
         uniq, w.as->n, early, last);
  assert_int_equal(uniq, 50);
  assert_true(early < 25); /* spread over the window: about 5 of 50 expected */
  assert_true(last > 1.0); /* ... reaching into its second half */
  assert_true(last < 2.5); /* no loss on loopback: no retransmission needed */

  /* Devices 0..9 delete their instance: they leave the bearer and stop answering. */
  gm_batch(w.u, w.m, 10, LMM_OPK_DELETE, 0, 0, 0, 0x42);
  const uint8_t tok2[8] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  hex(tok2, 8, th);
  size_t before = w.as->n;
  len = group_read(tok2, msg);
  w.as->t0 = now_s();
  send_to_bearer(fd, w.mport, msg, len);
  answers_run(w.as, 3.5);
  memset(seen, 0, sizeof seen);
  uniq = 0;
  for (size_t k = before; k < w.as->n; k++) {
    const answer *a = &w.as->a[k];
    assert_string_equal(a->t, th);
    if (a->dev < 10) fail_msg("dev-%04d answered after its instance was deleted", a->dev);
    if (!seen[a->dev]) seen[a->dev] = true, uniq++;
  }
  assert_int_equal(uniq, 40);
  close(fd);

  cJSON *j = world_stop(&w);
  assert_int_equal((int)num(cJSON_GetObjectItem(j, "totals"), "group", "malformed"), 2);
  assert_int_equal((int)num(cJSON_GetObjectItem(j, "totals"), "group", "received"), 90);
  assert_int_equal((int)num(cJSON_GetObjectItem(j, "totals"), "group", "answers_sent"), 90);
  assert_int_equal((int)num(cJSON_GetObjectItem(j, "totals"), "group", "answers_acked"), 90);
  assert_int_equal((int)num(dev_json(j, 3), "group", "received"), 1);
  assert_int_equal((int)num(dev_json(j, 33), "group", "received"), 2);
  assert_int_equal((int)num(dev_json(j, 33), "group", "answers_acked"), 2);
  /* No-Response 26: nothing went back to the request's source (the 2.xx is the unicast
   * Write of the instance). */
  assert_int_equal((int)num(dev_json(j, 33), "responses", "2xx"), 1);
  cJSON_Delete(j);
}

static void test_group_loss(void **state) {
  (void)state;
  world w;
  world_start(&w, (const char *[]){"--count", "50", "--group-loss", "0.5", "--seed", "7", NULL}, 1);
  int fd = mcast_sender();
  const uint8_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t msg[64];
  size_t len = group_read(tok, msg);
  w.as->t0 = now_s();
  send_to_bearer(fd, w.mport, msg, len);
  answers_run(w.as, 2.5);
  close(fd);
  bool seen[50] = {false};
  size_t uniq = 0;
  for (size_t k = 0; k < w.as->n; k++)
    if (!seen[w.as->a[k].dev]) seen[w.as->a[k].dev] = true, uniq++;
  printf("# --group-loss 0.5: %zu of 50 answered\n", uniq);
  assert_true(uniq >= 10 && uniq <= 40);
  cJSON *j = world_stop(&w);
  const cJSON *g = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "totals"), "group");
  assert_int_equal((int)num(g, "received", NULL), (int)uniq);
  assert_int_equal((int)num(g, "missed", NULL) + (int)uniq, 50);
  cJSON_Delete(j);
}

/* 2,000 devices answering within a 1 s window: the answer path keeps up. LMMT_RATE_COUNT sets
 * another fleet size (up to 10000) to measure. */
static void test_answer_rate(void **state) {
  (void)state;
  world w;
  const char *env = getenv("LMMT_RATE_COUNT");
  int count = env ? atoi(env) : 2000;
  char cs[16];
  if (count < 1 || count > 10000) count = 2000;
  snprintf(cs, sizeof cs, "%d", count);
  world_start(&w, (const char *[]){"--count", cs, NULL}, 1);
  int fd = mcast_sender();
  const uint8_t tok[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  uint8_t msg[64];
  size_t len = group_read(tok, msg);
  w.as->t0 = now_s();
  send_to_bearer(fd, w.mport, msg, len);
  answers_run(w.as, 3.0);
  close(fd);
  bool *seen = calloc((size_t)count, 1);
  size_t uniq = 0;
  double last = 0;
  for (size_t k = 0; k < w.as->n; k++) {
    const answer *a = &w.as->a[k];
    if (a->dev < 0 || a->dev >= count || seen[a->dev]) continue;
    seen[a->dev] = true, uniq++;
    if (a->at > last) last = a->at;
  }
  free(seen);
  printf("# %d devices, window 1 s: %zu answers, last after %.3f s (%.0f answers/s)\n", count, uniq,
         last, last > 0 ? (double)uniq / last : 0.0);
  assert_int_equal(uniq, (size_t)count);
  assert_true(last < 1.5);
  cJSON_Delete(world_stop(&w));
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1; /* libcoap's set-up too */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_group_read_50),
      cmocka_unit_test(test_group_loss),
      cmocka_unit_test(test_answer_rate),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
