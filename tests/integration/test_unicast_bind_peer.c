/* test_unicast_bind_peer.c - a unicast engine bound to one local address and port (cfg.bind)
 * against a scripted raw UDP peer that sees every datagram: every request leaves from the bound
 * port; a re-send after a lost exchange stays on the device's session with a new token; an
 * observation and a read on the same device share one session; a batch cancelled mid-exchange
 * does not hold up the next; a device's own request while the engine holds a session to it
 * goes unanswered and reaches the host's socket once the session is gone; bad binds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A UDP socket on 127.0.0.1:port (0: any, SO_REUSEADDR when `reuse`); its port in *out. */
static int udp_on(int port, bool reuse, int *out) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
  assert_true(fd >= 0);
  if (reuse) assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  if (out) *out = ntohs(a.sin_port);
  return fd;
}

/* --------------------------------------------------------------- the raw peer */

typedef struct peer {
  int fd, port;
} peer;

/* A request the peer got: its source, token, MID, Observe (-1: none), Uri-Path joined. */
typedef struct got {
  struct sockaddr_in from;
  uint8_t tok[8];
  size_t tl;
  coap_mid_t mid;
  int type, code, observe;
  char path[32];
} got;

static bool parse(const uint8_t *buf, size_t n, got *g) {
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, n);
  if (!pdu || !coap_pdu_parse(COAP_PROTO_UDP, buf, n, pdu)) {
    coap_delete_pdu(pdu);
    return false;
  }
  coap_bin_const_t t = coap_pdu_get_token(pdu);
  g->tl = t.length;
  memcpy(g->tok, t.s, t.length);
  g->mid = coap_pdu_get_mid(pdu);
  g->type = coap_pdu_get_type(pdu);
  g->code = coap_pdu_get_code(pdu);
  coap_opt_iterator_t it;
  const coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_OBSERVE, &it);
  g->observe = o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
  coap_opt_filter_t f;
  coap_option_filter_clear(&f);
  coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
  coap_option_iterator_init(pdu, &it, &f);
  size_t k = 0;
  g->path[0] = 0;
  while ((o = coap_option_next(&it)) && k + coap_opt_length(o) + 2 < sizeof g->path) {
    g->path[k++] = '/';
    memcpy(g->path + k, coap_opt_value(o), coap_opt_length(o));
    k += coap_opt_length(o);
    g->path[k] = 0;
  }
  coap_delete_pdu(pdu);
  return true;
}

/* Runs the engine until the peer receives a datagram (at most ms); true with it in *g. */
static bool peer_wait(lmm_ctx *ctx, peer *p, got *g, int ms) {
  int64_t until = mono_ms() + ms;
  uint8_t buf[2048];
  while (mono_ms() < until) {
    socklen_t fl = sizeof g->from;
    ssize_t n = recvfrom(p->fd, buf, sizeof buf, 0, (struct sockaddr *)&g->from, &fl);
    if (n > 0 && parse(buf, (size_t)n, g)) return true;
    lmm_ctx_run_once(ctx, 10);
  }
  return false;
}

/* A message to `to`: type, code, MID, token, Observe (-1: none), text payload (NULL: none). */
static void peer_send(peer *p, const struct sockaddr_in *to, int type, uint8_t code, coap_mid_t mid,
                      const uint8_t *tok, size_t tl, int observe, const char *text) {
  uint8_t out[256];
  size_t o = 0;
  out[o++] = (uint8_t)(0x40 | (type << 4) | tl);
  out[o++] = code;
  out[o++] = (uint8_t)(mid >> 8), out[o++] = (uint8_t)mid;
  memcpy(out + o, tok, tl), o += tl;
  if (observe >= 0) out[o++] = 0x61, out[o++] = (uint8_t)observe; /* Observe (6), 1 byte */
  if (text) {
    out[o++] = 0xFF;
    memcpy(out + o, text, strlen(text)), o += strlen(text);
  }
  assert_int_equal(sendto(p->fd, out, o, 0, (const struct sockaddr *)to, sizeof *to), (ssize_t)o);
}

static void peer_answer(peer *p, const got *req, const char *text, int observe) {
  peer_send(p, &req->from, COAP_MESSAGE_ACK, 0x45, req->mid, req->tok, req->tl, observe, text);
}

/* ------------------------------------------------------------------ engine */

typedef struct run {
  int members, done, notifies, attempts;
  lmm_err err;
  uint8_t code;
  char text[64], last_notify[32];
} run;

static void on_member(void *user, const lmm_member_result *r) {
  run *rr = user;
  rr->members++;
  rr->err = r->err, rr->code = r->coap_code, rr->attempts = r->attempts;
  if (r->error)
    snprintf(rr->text, sizeof rr->text, "%s", r->error);
  else
    snprintf(rr->text, sizeof rr->text, "%.*s", (int)r->payload_len,
             r->payload ? (const char *)r->payload : "");
}

static void on_notify(void *user, size_t i, const uint8_t *p, size_t len, int cf) {
  run *rr = user;
  (void)i, (void)cf;
  rr->notifies++;
  snprintf(rr->last_notify, sizeof rr->last_notify, "%.*s", (int)len, p ? (const char *)p : "");
}

static void on_done(void *user, lmm_batch *b) {
  (void)b;
  ((run *)user)->done++;
}

static const lmm_batch_handlers handlers = {NULL, on_member, on_notify, on_done};

typedef struct engine {
  lmm_ctx *ctx;
  lmm_unicast *u;
  int port;
} engine;

static char last_log[256];

static void log_sink(void *user, lmm_log_level level, const char *msg) {
  (void)user;
  if (level == LMM_LOG_ERROR) snprintf(last_log, sizeof last_log, "%s", msg);
}

static lmm_err engine_try(engine *e, const char *bind, long deadline_ms, long ack_ms) {
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  cc.log = log_sink;
  assert_int_equal(lmm_ctx_new(&cc, &e->ctx), LMM_OK);
  lmm_unicast_config c = LMM_UNICAST_CONFIG_DEFAULT;
  c.ack_timeout_ms = ack_ms, c.max_retransmit = 1, c.member_deadline_ms = deadline_ms;
  c.bind = bind;
  e->u = NULL;
  lmm_err rc = lmm_unicast_new(e->ctx, &c, &e->u);
  e->port = lmm_unicast_local_port(e->u);
  return rc;
}

static void engine_new(engine *e, const char *bind, long deadline_ms) {
  assert_int_equal(engine_try(e, bind, deadline_ms, 1000), LMM_OK);
}

static void engine_free(engine *e) {
  lmm_unicast_free(e->u);
  lmm_ctx_free(e->ctx);
}

static lmm_member *member_at(int port, const char *ep) {
  lmm_member *m = calloc(1, sizeof *m);
  assert_non_null(m);
  char uri[48];
  snprintf(uri, sizeof uri, "coap://127.0.0.1:%d", port);
  m->ep = strdup(ep), m->uri = strdup(uri), m->oid = 3;
  return m;
}

static lmm_op op_of(lmm_op_kind kind, const char *path) {
  lmm_op op = LMM_OP_INIT;
  op.kind = kind;
  assert_int_equal(lmm_path_parse(path, &op.path), LMM_OK);
  return op;
}

static lmm_batch *start(engine *e, lmm_member *m, lmm_op op, run *r) {
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(e->u, m, 1, &op, 0xFFFF, &handlers, r, &b), LMM_OK);
  return b;
}

/* ------------------------------------------------------------------ tests */

static void test_bind_values(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",           "127.0.0.1",        "localhost:5683", "::1:5683",
      "[::1]",      "[::1]5683",        "1.2.3.4:",       "1.2.3.4:65536",
      "1.2.3.4:-1", "[127.0.0.1]:5683", "1.2.3.4:56x",    "1.2.3:5683"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    engine e;
    last_log[0] = 0;
    if (engine_try(&e, bad[i], 1000, 1000) != LMM_ERR_ARG) fail_msg("bind '%s' accepted", bad[i]);
    assert_null(e.u);
    assert_non_null(strstr(last_log, "bind")); /* the reason is logged */
    lmm_ctx_free(e.ctx);
  }
  /* A port held without SO_REUSEADDR cannot be shared; an address not of this host cannot be
   * bound: LMM_ERR_IO, with the system's reason in the log. */
  int held_port, held = udp_on(0, false, &held_port);
  char s[48];
  snprintf(s, sizeof s, "127.0.0.1:%d", held_port);
  engine e;
  assert_int_equal(engine_try(&e, s, 1000, 1000), LMM_ERR_IO);
  assert_null(e.u);
  assert_non_null(strstr(last_log, "Address already in use"));
  lmm_ctx_free(e.ctx);
  close(held);
  assert_int_equal(engine_try(&e, "192.0.2.1:5683", 1000, 1000), LMM_ERR_IO); /* TEST-NET-1 */
  assert_non_null(strstr(last_log, "192.0.2.1:5683"));
  lmm_ctx_free(e.ctx);

  /* The string is copied; IPv6 works; port 0 picks one; an unbound engine says 0. */
  char buf[32] = "[::1]:0";
  engine_new(&e, buf, 1000);
  memset(buf, 'x', sizeof buf - 1);
  assert_true(e.port > 0);
  assert_int_equal(lmm_unicast_local_port(NULL), 0);
  engine_free(&e);

  /* A member of the other family is refused before anything is sent. */
  engine_new(&e, "127.0.0.1:0", 2000);
  lmm_member *m = member_at(5683, "v6");
  free(m->uri);
  m->uri = strdup("coap://[::1]:5683");
  run r = {0};
  lmm_batch *b = start(&e, m, op_of(LMM_OPK_READ, "/3/0/0"), &r);
  assert_int_equal(lmm_batch_wait(b, 3000), LMM_OK);
  assert_int_equal(r.err, LMM_ERR_ARG);
  assert_int_equal(r.attempts, 0);
  assert_non_null(strstr(r.text, "IPv6"));
  lmm_batch_free(b);
  engine_free(&e);
  lmm_members_free(m, 1);
}

/* The first request and its retransmission are lost; the re-send leaves from the same bound
 * port (the device's session is kept) with a new token. */
static void test_resend_same_session(void **state) {
  (void)state;
  engine e;
  engine_new(&e, "127.0.0.1:0", 15000);
  peer p;
  p.fd = udp_on(0, false, &p.port);
  lmm_member *m = member_at(p.port, "lossy");
  run r = {0};
  lmm_batch *b = start(&e, m, op_of(LMM_OPK_READ, "/3/0/0"), &r);
  got first, g;
  assert_true(peer_wait(e.ctx, &p, &first, 3000));
  assert_int_equal(ntohs(first.from.sin_port), e.port);
  assert_true(peer_wait(e.ctx, &p, &g, 4000)); /* its retransmission */
  assert_int_equal(g.mid, first.mid);
  assert_true(peer_wait(e.ctx, &p, &g, 8000)); /* the re-send */
  assert_int_equal(ntohs(g.from.sin_port), e.port);
  assert_int_not_equal(g.mid, first.mid);
  assert_false(g.tl == first.tl && !memcmp(g.tok, first.tok, g.tl));
  peer_answer(&p, &g, "late", -1);
  assert_int_equal(lmm_batch_wait(b, 5000), LMM_OK);
  assert_int_equal(r.err, LMM_OK);
  assert_int_equal(r.attempts, 2);
  assert_string_equal(r.text, "late");
  lmm_batch_free(b);
  engine_free(&e);
  close(p.fd);
  lmm_members_free(m, 1);
}

/* An observation stays open while reads go to the same device on the same session, one at a
 * time; notifications reach on_notify; the cancellation goes out with the observation's token. */
static void test_observe_and_read_share(void **state) {
  (void)state;
  engine e;
  engine_new(&e, "127.0.0.1:0", 8000);
  peer p;
  p.fd = udp_on(0, false, &p.port);
  lmm_member *m = member_at(p.port, "obs");
  run ro = {0}, r1 = {0}, r2 = {0};
  lmm_batch *bo = start(&e, m, op_of(LMM_OPK_OBSERVE, "/3/0/13"), &ro);
  got obs, g;
  assert_true(peer_wait(e.ctx, &p, &obs, 3000));
  assert_int_equal(obs.observe, 0);
  peer_answer(&p, &obs, "1", 2);
  assert_int_equal(lmm_batch_wait(bo, 3000), LMM_OK);
  assert_int_equal(ro.code, 0x45);

  /* Two reads at once: one exchange on the wire at a time, both from the bound port. */
  lmm_batch *b1 = start(&e, m, op_of(LMM_OPK_READ, "/3/0/0"), &r1);
  lmm_batch *b2 = start(&e, m, op_of(LMM_OPK_READ, "/3/0/1"), &r2);
  assert_true(peer_wait(e.ctx, &p, &g, 3000));
  assert_int_equal(ntohs(g.from.sin_port), e.port);
  assert_string_equal(g.path, "/3/0/0");
  got none;
  assert_false(peer_wait(e.ctx, &p, &none, 300)); /* the second waits for the first */
  peer_send(&p, &obs.from, COAP_MESSAGE_NON, 0x45, 0x7001, obs.tok, obs.tl, 3, "2");
  peer_answer(&p, &g, "maker", -1);
  assert_true(peer_wait(e.ctx, &p, &g, 3000));
  assert_string_equal(g.path, "/3/0/1");
  assert_int_equal(ntohs(g.from.sin_port), e.port);
  assert_false(g.tl == obs.tl && !memcmp(g.tok, obs.tok, g.tl));
  peer_answer(&p, &g, "model", -1);
  assert_int_equal(lmm_batch_wait(b1, 3000), LMM_OK);
  assert_int_equal(lmm_batch_wait(b2, 3000), LMM_OK);
  assert_string_equal(r1.text, "maker");
  assert_string_equal(r2.text, "model");
  int64_t until = mono_ms() + 3000;
  while (ro.notifies < 1 && mono_ms() < until)
    lmm_ctx_run_once(e.ctx, 20);
  assert_int_equal(ro.notifies, 1);
  assert_string_equal(ro.last_notify, "2");

  /* Cancel Observe on the same member: the observation's token, on the same session. */
  run rc = {0};
  lmm_batch *bc = start(&e, m, op_of(LMM_OPK_CANCEL_OBSERVE, "/3/0/13"), &rc);
  assert_true(peer_wait(e.ctx, &p, &g, 3000));
  assert_int_equal(g.observe, 1);
  assert_int_equal(ntohs(g.from.sin_port), e.port);
  assert_true(g.tl == obs.tl && !memcmp(g.tok, obs.tok, g.tl));
  peer_answer(&p, &g, "3", -1);
  assert_int_equal(lmm_batch_wait(bc, 3000), LMM_OK);
  assert_int_equal(rc.code, 0x45);
  lmm_batch_free(bc), lmm_batch_free(b1), lmm_batch_free(b2), lmm_batch_free(bo);
  engine_free(&e);
  close(p.fd);
  lmm_members_free(m, 1);
}

/* A batch freed while its exchange is on the wire: the next batch to the device does not wait
 * for libcoap to give that exchange up (with ACK_TIMEOUT 5 s, not before 15 s). */
static void test_cancel_frees_the_wire(void **state) {
  (void)state;
  engine e;
  assert_int_equal(engine_try(&e, "127.0.0.1:0", 60000, 5000), LMM_OK);
  peer p;
  p.fd = udp_on(0, false, &p.port);
  lmm_member *m = member_at(p.port, "slow");
  run r1 = {0}, r2 = {0};
  lmm_batch *b1 = start(&e, m, op_of(LMM_OPK_READ, "/3/0/0"), &r1);
  lmm_batch *b2 = start(&e, m, op_of(LMM_OPK_READ, "/3/0/1"), &r2);
  got first, g;
  assert_true(peer_wait(e.ctx, &p, &first, 3000));
  assert_string_equal(first.path, "/3/0/0");
  lmm_batch_free(b1);
  assert_true(peer_wait(e.ctx, &p, &g, 10000));
  assert_string_equal(g.path, "/3/0/1"); /* before any retransmission of the first (>= 5 s) */
  assert_int_equal(ntohs(g.from.sin_port), e.port);
  peer_answer(&p, &g, "model", -1);
  assert_int_equal(lmm_batch_wait(b2, 3000), LMM_OK);
  assert_string_equal(r2.text, "model");
  assert_int_equal(r1.members, 0);
  lmm_batch_free(b2);
  engine_free(&e);
  close(p.fd);
  lmm_members_free(m, 1);
}

/* The host's socket shares the port. While the engine holds a session to the device, what the
 * device sends to the port (here a request of its own) reaches the engine's socket, which leaves
 * it unanswered; once the session is gone, the device's retransmission reaches the host. */
static void test_device_request_reaches_host(void **state) {
  (void)state;
  int port, host = udp_on(0, true, &port);
  char s[32];
  snprintf(s, sizeof s, "127.0.0.1:%d", port);
  engine e;
  engine_new(&e, s, 8000);
  peer p;
  p.fd = udp_on(0, false, &p.port);
  lmm_member *m = member_at(p.port, "dev");
  run r = {0};
  lmm_batch *b = start(&e, m, op_of(LMM_OPK_READ, "/3/0/0"), &r);
  got req, g;
  assert_true(peer_wait(e.ctx, &p, &req, 3000));
  static const uint8_t tok[2] = {0xAB, 0xCD};
  peer_send(&p, &req.from, COAP_MESSAGE_CON, 0x02, 0x4242, tok, 2, -1, "update");
  assert_false(peer_wait(e.ctx, &p, &g, 500)); /* no answer, not even an ACK */
  uint8_t buf[256];
  assert_true(recv(host, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);
  peer_answer(&p, &req, "maker", -1);
  assert_int_equal(lmm_batch_wait(b, 3000), LMM_OK);
  assert_string_equal(r.text, "maker");
  lmm_batch_free(b);
  peer_send(&p, &req.from, COAP_MESSAGE_CON, 0x02, 0x4242, tok, 2, -1, "update"); /* again */
  ssize_t n = lmmt_recv(host, buf, sizeof buf, 3000);
  assert_true(n > 0);
  got h;
  assert_true(parse(buf, (size_t)n, &h));
  assert_int_equal(h.mid, 0x4242);
  assert_int_equal(h.code, 0x02);
  engine_free(&e);
  close(p.fd);
  close(host);
  lmm_members_free(m, 1);
}

int main(void) {
  lmm_global_init();
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bind_values),
      cmocka_unit_test(test_resend_same_session),
      cmocka_unit_test(test_observe_and_read_share),
      cmocka_unit_test(test_cancel_frees_the_wire),
      cmocka_unit_test(test_device_request_reaches_host),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
