/* test_unicast.c - the unicast engine against real peers on loopback: Debian's coap-server-openssl
 * (an independent CoAP/DTLS implementation: Block1/Block2, 4.04, PSK, Observe) and a scripted raw
 * UDP peer that checks each operation's request on the wire, loses requests on purpose and never
 * answers; plus dead members, refusals, the concurrency bound, cancellation and a host poll loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "lmmt.h"
#include "lmmt_peer.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define KEY "secretPSK"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d) return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own fd */
}

/* ------------------------------------------------------------ UDP helpers */

static bool udp_port_free(int port) {
  int fd = lmmt_peer_open(port, NULL);
  if (fd < 0) return false;
  close(fd);
  return true;
}

/* A port that nothing listens on (the kernel answers with ICMP port unreachable). */
static int dead_port(void) {
  for (int i = 0; i < 50; i++) {
    int p = lmmt_random_port();
    if (udp_port_free(p)) return p;
  }
  return 9;
}

/* ------------------------------------------------------- coap-server-openssl */

typedef struct server {
  pid_t pid;
  int port; /* CoAP; DTLS on port + 1 */
} server;

static const char *server_bin(void) {
  const char *b = getenv("LMM_COAP_SERVER");
  return b ? b : "/usr/bin/coap-server-openssl";
}

/* Starts coap-server-openssl on 127.0.0.1 (dynamic resources on, PSK KEY); waits until both
 * ports are bound (at most 5 s). 0, or -1. */
static int server_start(server *s) {
  memset(s, 0, sizeof *s);
  for (int tries = 0; tries < 20; tries++) {
    int port = lmmt_random_port();
    if (!udp_port_free(port) || !udp_port_free(port + 1)) continue;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      int dn = open("/dev/null", O_RDWR);
      if (dn >= 0) dup2(dn, 0), dup2(dn, 1), dup2(dn, 2);
      execl(server_bin(), server_bin(), "-A", "127.0.0.1", "-p", ps, "-v", "0", "-d", "10000", "-k",
            KEY, (char *)NULL);
      _exit(127);
    }
    int64_t until = mono_ms() + 5000;
    while (mono_ms() < until) {
      if (!udp_port_free(port) && !udp_port_free(port + 1)) {
        s->pid = pid, s->port = port;
        return 0;
      }
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) break; /* died: port taken meanwhile? retry */
      usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return -1;
}

static void server_stop(server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  int64_t until = mono_ms() + 3000;
  while (mono_ms() < until) {
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return;
    }
    usleep(10000);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

static int group_setup(void **state) {
  (void)state;
  if (access(server_bin(), X_OK) != 0) {
    fprintf(stderr, "%s not found (Debian package libcoap3-bin)\n", server_bin());
    return -1;
  }
  return 0;
}

/* -------------------------------------------------------------- members */

static lmm_member *members_new(size_t n) {
  lmm_member *m = calloc(n, sizeof *m);
  assert_non_null(m);
  return m;
}

static void member_set(lmm_member *m, const char *ep, uint16_t oid, const char *uri_fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void member_set(lmm_member *m, const char *ep, uint16_t oid, const char *uri_fmt, ...) {
  char uri[128];
  va_list ap;
  va_start(ap, uri_fmt);
  vsnprintf(uri, sizeof uri, uri_fmt, ap);
  va_end(ap);
  lmm_member_clear(m);
  m->ep = strdup(ep);
  m->oid = oid;
  m->uri = strdup(uri);
  m->format = LMM_FMT_SENML_JSON;
}

static void member_psk(lmm_member *m, const char *id, const char *key) {
  m->psk_identity = strdup(id);
  m->psk_key_len = strlen(key);
  m->psk_key = malloc(m->psk_key_len);
  memcpy(m->psk_key, key, m->psk_key_len);
}

/* --------------------------------------------------------- result collection */

typedef struct outcome {
  int calls;
  lmm_err err;
  uint8_t code;
  int cf, attempts;
  int64_t latency;
  uint8_t *payload;
  size_t len;
  char error[160];
} outcome;

typedef struct run {
  size_t n;
  outcome *o;
  int done_calls, member_calls;
  lmm_batch *batch;
  size_t max_in_flight_seen, window;
  int prepare_calls;
  int max_fds, fd_base;
  int notifies;
  char last_notify[64];
  bool free_in_done;
  /* per-member operations chosen in prepare (NULL: the batch's) */
  const lmm_path *paths;
} run;

static run *run_new(size_t n) {
  run *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->n = n;
  r->o = calloc(n ? n : 1, sizeof *r->o);
  assert_non_null(r->o);
  return r;
}

static void run_free(run *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->o[i].payload);
  free(r->o);
  free(r);
}

static void on_prepare(void *user, size_t i, const lmm_member *m, lmm_op *op) {
  run *r = user;
  (void)m;
  r->prepare_calls++;
  if (r->paths && r->paths[i].depth) op->path = r->paths[i];
  if (r->batch) {
    lmm_batch_stats st;
    lmm_batch_get_stats(r->batch, &st);
    if (st.in_flight > r->max_in_flight_seen) r->max_in_flight_seen = st.in_flight;
  }
  if (r->fd_base) {
    int f = count_fds();
    if (f > r->max_fds) r->max_fds = f;
  }
}

static void on_member(void *user, const lmm_member_result *res) {
  run *r = user;
  assert_true(res->index < r->n);
  outcome *o = &r->o[res->index];
  o->calls++;
  r->member_calls++;
  o->err = res->err;
  o->code = res->coap_code;
  o->cf = res->content_format;
  o->attempts = res->attempts;
  o->latency = res->latency_ms;
  free(o->payload);
  o->payload = NULL;
  o->len = res->payload_len;
  if (res->payload_len) {
    o->payload = malloc(res->payload_len + 1);
    memcpy(o->payload, res->payload, res->payload_len);
    o->payload[res->payload_len] = 0;
  }
  snprintf(o->error, sizeof o->error, "%s", res->error ? res->error : "");
  assert_ptr_equal(res->member, res->member); /* borrowed pointer is readable */
}

static void on_notify(void *user, size_t index, const uint8_t *payload, size_t len, int format) {
  run *r = user;
  (void)index, (void)format;
  r->notifies++;
  snprintf(r->last_notify, sizeof r->last_notify, "%.*s", (int)len,
           payload ? (const char *)payload : "");
}

static void on_done(void *user, lmm_batch *b) {
  run *r = user;
  r->done_calls++;
  assert_int_equal(r->member_calls, (int)r->n); /* after the last member */
  assert_true(lmm_batch_done(b));
  if (r->free_in_done) {
    lmm_batch_free(b);
    r->batch = NULL;
  }
}

static const lmm_batch_handlers handlers = {on_prepare, on_member, on_notify, on_done};

typedef struct engine {
  lmm_ctx *ctx;
  lmm_unicast *u;
} engine;

static void engine_new(engine *e, const lmm_unicast_config *cfg) {
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  cc.seed = 42;
  assert_int_equal(lmm_ctx_new(&cc, &e->ctx), LMM_OK);
  assert_int_equal(lmm_unicast_new(e->ctx, cfg, &e->u), LMM_OK);
}

static void engine_free(engine *e) {
  lmm_unicast_free(e->u);
  lmm_ctx_free(e->ctx);
}

static lmm_unicast_config fast_config(void) {
  lmm_unicast_config c = LMM_UNICAST_CONFIG_DEFAULT;
  c.ack_timeout_ms = 1000; /* libcoap 4.3.1's minimum */
  c.max_retransmit = 1;
  c.member_deadline_ms = 8000;
  c.dtls_timeout_ms = 2000;
  return c;
}

/* Runs `op` on members with lmm_batch_wait(); asserts exactly one outcome each and one on_done. */
static void run_batch(engine *e, run *r, const lmm_member *m, const lmm_op *op, long wait_ms) {
  assert_int_equal(lmm_batch_start(e->u, m, r->n, op, LMM_GROUP_MGMT_OID, &handlers, r, &r->batch),
                   LMM_OK);
  assert_int_equal(lmm_batch_wait(r->batch, wait_ms), LMM_OK);
  assert_int_equal(r->done_calls, 1);
  for (size_t i = 0; i < r->n; i++)
    assert_int_equal(r->o[i].calls, 1);
  lmm_batch_stats st;
  lmm_batch_get_stats(r->batch, &st);
  assert_int_equal(st.members, r->n);
  assert_int_equal(st.done, r->n);
  assert_int_equal(st.in_flight, 0);
  assert_int_equal(st.succeeded + st.failed, r->n);
  lmm_batch_free(r->batch);
  r->batch = NULL;
}

static lmm_op make_op(lmm_op_kind kind, const char *path) {
  lmm_op op = LMM_OP_INIT;
  op.kind = kind;
  assert_int_equal(lmm_path_parse(path, &op.path), LMM_OK);
  return op;
}

/* ================================================= against coap-server-openssl */

static void test_block_write_read_and_404(void **state) {
  (void)state;
  server srv;
  assert_int_equal(server_start(&srv), 0);
  lmm_unicast_config cfg = fast_config();
  engine e;
  engine_new(&e, &cfg);
  lmm_member *m = members_new(2);
  member_set(&m[0], "dev-a", 5, "coap://127.0.0.1:%d", srv.port);
  member_set(&m[1], "dev-b", 5, "coap://localhost:%d/", srv.port); /* a name, resolved */

  uint8_t *big = malloc(5000);
  for (int i = 0; i < 5000; i++)
    big[i] = (uint8_t)('A' + (i * 7 + i / 26) % 26);
  /* Write 5,000 bytes to each member's own resource: Block1 with 1024-byte blocks */
  static const lmm_path paths[2] = {{5, 0, 1, 0, 3}, {5, 0, 2, 0, 3}};
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/1");
  op.format = LMM_FMT_OPAQUE;
  op.payload = big, op.len = 5000;
  run *r = run_new(2);
  r->paths = paths;
  run_batch(&e, r, m, &op, 20000);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(r->o[i].err, LMM_OK);
    assert_int_equal(r->o[i].code >> 5, 2); /* 2.01 Created */
    assert_int_equal(r->o[i].attempts, 1);
    assert_true(r->o[i].latency >= 0 && r->o[i].latency < 10000);
  }
  run_free(r);

  /* Read it back with 256-byte blocks: Block2 reassembled into one body */
  engine_free(&e);
  cfg.block_size = 256;
  engine_new(&e, &cfg);
  op = make_op(LMM_OPK_READ, "/5/0/1");
  r = run_new(2);
  r->paths = paths;
  run_batch(&e, r, m, &op, 20000);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(r->o[i].err, LMM_OK);
    assert_int_equal(r->o[i].code, 0x45);
    assert_int_equal(r->o[i].len, 5000);
    assert_memory_equal(r->o[i].payload, big, 5000);
    assert_int_equal(r->o[i].cf, LMM_FMT_OPAQUE);
    assert_string_equal(r->o[i].error, "");
  }
  run_free(r);

  /* A resource that is not there: a CoAP answer (err OK) with its code and text */
  op = make_op(LMM_OPK_READ, "/5/9/9");
  r = run_new(1);
  run_batch(&e, r, m, &op, 10000);
  assert_int_equal(r->o[0].err, LMM_OK);
  assert_int_equal(r->o[0].code, 0x84);
  assert_string_equal(r->o[0].error, "4.04 Not Found");
  run_free(r);

  /* Delete, then the read is a 4.04 */
  op = make_op(LMM_OPK_DELETE, "/5/0/1");
  r = run_new(1);
  run_batch(&e, r, m, &op, 10000);
  assert_int_equal(r->o[0].code, 0x42);
  run_free(r);
  op = make_op(LMM_OPK_READ, "/5/0/1");
  r = run_new(1);
  run_batch(&e, r, m, &op, 10000);
  assert_int_equal(r->o[0].code, 0x84);
  run_free(r);

  free(big);
  engine_free(&e);
  lmm_members_free(m, 2);
  server_stop(&srv);
}

static void test_coaps_right_and_wrong_key(void **state) {
  (void)state;
  server srv;
  assert_int_equal(server_start(&srv), 0);
  lmm_unicast_config cfg = fast_config();
  cfg.member_deadline_ms = 6000;
  engine e;
  engine_new(&e, &cfg);
  lmm_member *m = members_new(3);
  member_set(&m[0], "good", 5, "coaps://127.0.0.1:%d", srv.port + 1);
  member_psk(&m[0], "good-id", KEY);
  member_set(&m[1], "bad", 5, "coaps://127.0.0.1:%d", srv.port + 1);
  member_psk(&m[1], "bad-id", "not-the-key");
  member_set(&m[2], "nokey", 5, "coaps://127.0.0.1:%d", srv.port + 1);
  lmm_op op = make_op(LMM_OPK_WRITE, "/5/0/7");
  op.format = LMM_FMT_TEXT;
  op.payload = (const uint8_t *)"over DTLS", op.len = 9;
  run *r = run_new(3);
  int64_t t0 = mono_ms();
  run_batch(&e, r, m, &op, 20000);
  int64_t took = mono_ms() - t0;
  assert_int_equal(r->o[0].err, LMM_OK);
  assert_int_equal(r->o[0].code >> 5, 2);
  assert_int_not_equal(r->o[1].err, LMM_OK);
  assert_int_equal(r->o[1].code, 0);
  assert_non_null(strstr(r->o[1].error, "DTLS"));
  assert_int_equal(r->o[2].err, LMM_ERR_ARG); /* coaps without a key: refused */
  assert_int_equal(r->o[2].attempts, 0);
  assert_true(took < 7000); /* bounded by the handshake limit / deadline */
  run_free(r);

  /* Read back over DTLS */
  op = make_op(LMM_OPK_READ, "/5/0/7");
  r = run_new(1);
  run_batch(&e, r, m, &op, 10000);
  assert_int_equal(r->o[0].code, 0x45);
  assert_int_equal(r->o[0].len, 9);
  assert_memory_equal(r->o[0].payload, "over DTLS", 9);
  run_free(r);
  engine_free(&e);
  lmm_members_free(m, 3);
  server_stop(&srv);
}

static void test_200_members_window_bounded(void **state) {
  (void)state;
  server srv;
  assert_int_equal(server_start(&srv), 0);
  lmm_unicast_config cfg = fast_config();
  cfg.max_in_flight = 16;
  engine e;
  engine_new(&e, &cfg);
  size_t n = 200;
  lmm_member *m = members_new(n);
  lmm_path *paths = calloc(n, sizeof *paths);
  for (size_t i = 0; i < n; i++) {
    char ep[16];
    snprintf(ep, sizeof ep, "dev-%03zu", i);
    member_set(&m[i], ep, 42769, "coap://127.0.0.1:%d", srv.port);
    paths[i] = (lmm_path){42769, (uint16_t)i, 0, 0, 2};
  }
  uint8_t payload[200];
  memset(payload, 'x', sizeof payload);
  lmm_op op = make_op(LMM_OPK_WRITE, "/42769/0");
  op.format = LMM_FMT_SENML_JSON;
  op.payload = payload, op.len = sizeof payload;
  run *r = run_new(n);
  r->paths = paths;
  r->fd_base = count_fds();
  run_batch(&e, r, m, &op, 30000);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->o[i].err, LMM_OK);
    assert_int_equal(r->o[i].code >> 5, 2);
  }
  assert_int_equal(r->prepare_calls, (int)n);
  assert_true(r->max_in_flight_seen <= 16);
  assert_true(r->max_in_flight_seen >= 8);        /* the window is used */
  assert_true(r->max_fds <= r->fd_base + 16 + 2); /* one socket per member in flight */
  assert_true(count_fds() <= r->fd_base + 1);     /* all released */
  run_free(r);
  free(paths);
  engine_free(&e);
  lmm_members_free(m, n);
  server_stop(&srv);
}

static void test_observe_notify_cancel(void **state) {
  (void)state;
  server srv;
  assert_int_equal(server_start(&srv), 0);
  lmm_unicast_config cfg = fast_config();
  engine e;
  engine_new(&e, &cfg);
  lmm_member *m = members_new(1);
  member_set(&m[0], "obs", 3, "coap://127.0.0.1:%d", srv.port);
  lmm_op w = make_op(LMM_OPK_WRITE, "/3/0/13");
  w.format = LMM_FMT_TEXT;
  w.payload = (const uint8_t *)"one", w.len = 3;
  run *rw = run_new(1);
  run_batch(&e, rw, m, &w, 10000);
  assert_int_equal(rw->o[0].code >> 5, 2);

  lmm_op op = make_op(LMM_OPK_OBSERVE, "/3/0/13");
  run *ro = run_new(1);
  /* the observe batch's own member array: it need only last until on_done */
  lmm_member *mo = members_new(1);
  assert_int_equal(lmm_member_copy(&mo[0], &m[0]), LMM_OK);
  assert_int_equal(lmm_batch_start(e.u, mo, 1, &op, 0xFFFF, &handlers, ro, &ro->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(ro->batch, 10000), LMM_OK);
  lmm_members_free(mo, 1);
  assert_int_equal(ro->o[0].code, 0x45);
  assert_memory_equal(ro->o[0].payload, "one", 3);
  assert_int_equal(ro->notifies, 0);

  /* a change is notified */
  memset(rw->o, 0, sizeof *rw->o), rw->done_calls = rw->member_calls = 0;
  w.payload = (const uint8_t *)"two", w.len = 3;
  run_batch(&e, rw, m, &w, 10000);
  int64_t until = mono_ms() + 5000;
  while (ro->notifies < 1 && mono_ms() < until)
    lmm_ctx_run_once(e.ctx, 100);
  assert_int_equal(ro->notifies, 1);
  assert_string_equal(ro->last_notify, "two");

  /* cancel on the same member: the observation's session carries the deregistration */
  lmm_op c = make_op(LMM_OPK_CANCEL_OBSERVE, "/3/0/13");
  run *rc = run_new(1);
  run_batch(&e, rc, m, &c, 10000);
  assert_int_equal(rc->o[0].err, LMM_OK);
  assert_int_equal(rc->o[0].code, 0x45);

  /* later changes are not notified any more */
  memset(rw->o, 0, sizeof *rw->o), rw->done_calls = rw->member_calls = 0;
  w.payload = (const uint8_t *)"three", w.len = 5;
  run_batch(&e, rw, m, &w, 10000);
  until = mono_ms() + 700;
  while (mono_ms() < until)
    lmm_ctx_run_once(e.ctx, 50);
  assert_int_equal(ro->notifies, 1);
  lmm_batch_free(ro->batch);
  run_free(ro), run_free(rw), run_free(rc);
  engine_free(&e);
  lmm_members_free(m, 1);
  server_stop(&srv);
}

static void test_host_poll_loop(void **state) {
  (void)state;
  server srv;
  assert_int_equal(server_start(&srv), 0);
  lmm_unicast_config cfg = fast_config();
  cfg.max_in_flight = 4;
  engine e;
  engine_new(&e, &cfg);
  size_t n = 20;
  lmm_member *m = members_new(n);
  for (size_t i = 0; i < n; i++)
    member_set(&m[i], "p", 5, "coap://127.0.0.1:%d", srv.port);
  lmm_op op = make_op(LMM_OPK_READ, "/5/1/1"); /* not there: 4.04 each */
  run *r = run_new(n);
  assert_int_equal(lmm_batch_start(e.u, m, n, &op, 0xFFFF, &handlers, r, &r->batch), LMM_OK);
  /* The host's own loop: its fds plus the library's, one poll, then process. */
  int host_fd = lmmt_peer_open(0, NULL);
  int64_t until = mono_ms() + 10000;
  int turns = 0;
  while (!lmm_batch_done(r->batch) && mono_ms() < until) {
    struct pollfd pfd[8];
    pfd[0] = (struct pollfd){.fd = host_fd, .events = POLLIN};
    size_t k = lmm_ctx_pollfds(e.ctx, pfd + 1, 7);
    assert_true(k >= 1 && k <= 7);
    int wait = lmm_ctx_timeout_ms(e.ctx, 500);
    assert_true(wait >= 0 && wait <= 500);
    int rc = poll(pfd, 1 + k, wait);
    assert_true(rc >= 0);
    assert_int_equal(lmm_ctx_process(e.ctx, pfd + 1, k), LMM_OK);
    turns++;
  }
  assert_true(lmm_batch_done(r->batch));
  assert_int_equal(r->done_calls, 1);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->o[i].calls, 1);
    assert_int_equal(r->o[i].code, 0x84);
  }
  /* idle now: the library waits for nothing */
  assert_int_equal(lmm_ctx_timeout_ms(e.ctx, -1), -1);
  close(host_fd);
  lmm_batch_free(r->batch);
  run_free(r);
  engine_free(&e);
  lmm_members_free(m, n);
  server_stop(&srv);
}

/* ============================================== dead members, refusals, limits */

static void test_dead_blackhole_refused(void **state) {
  (void)state;
  lmm_unicast_config cfg = fast_config();
  cfg.member_deadline_ms = 1500;
  engine e;
  engine_new(&e, &cfg);
  int hole_port, spy_port;
  int hole = lmmt_peer_open(0, &hole_port); /* receives, never answers */
  int spy = lmmt_peer_open(0, &spy_port);   /* must receive nothing */
  assert_true(hole >= 0 && spy >= 0);
  lmm_member *m = members_new(6);
  member_set(&m[0], "dead", 5, "coap://127.0.0.1:%d", dead_port());
  member_set(&m[1], "hole", 5, "coap://127.0.0.1:%d", hole_port);
  member_set(&m[2], "other-object", 3, "coap://127.0.0.1:%d", spy_port);
  member_set(&m[3], "bad-uri", 5, "http://127.0.0.1:%d", spy_port);
  member_set(&m[4], "bad-uri2", 5, "coap://127.0.0.1:%d/path", spy_port);
  member_set(&m[5], "gm-exempt", 3, "coap://[::1]:%d", dead_port());
  lmm_op op = make_op(LMM_OPK_READ, "/5/0/1");
  static const lmm_path paths[6] = {{0}, {0}, {0}, {0}, {0}, {LMM_GROUP_MGMT_OID, 0, 0, 0, 2}};
  run *r = run_new(6);
  r->paths = paths;
  int64_t t0 = mono_ms();
  run_batch(&e, r, m, &op, 10000);
  int64_t took = mono_ms() - t0;
  assert_int_equal(r->o[0].err, LMM_ERR_NET); /* ICMP port unreachable */
  assert_non_null(strstr(r->o[0].error, "ICMP"));
  assert_int_equal(r->o[0].attempts, 1);
  assert_int_equal(r->o[1].err, LMM_ERR_TIMEOUT);
  assert_non_null(strstr(r->o[1].error, "no answer within 1500 ms"));
  assert_true(r->o[1].latency >= 1400 && r->o[1].latency < 3000);
  assert_int_equal(r->o[2].err, LMM_ERR_ARG);
  assert_non_null(strstr(r->o[2].error, "outside"));
  assert_int_equal(r->o[2].attempts, 0);
  assert_int_equal(r->o[3].err, LMM_ERR_ARG);
  assert_int_equal(r->o[4].err, LMM_ERR_ARG);
  assert_int_equal(r->o[5].err, LMM_ERR_NET); /* exempt object: sent (over IPv6), dead */
  assert_true(took < 3000);
  char buf[64];
  assert_true(recv(hole, buf, sizeof buf, MSG_DONTWAIT) > 0);
  assert_true(recv(spy, buf, sizeof buf, MSG_DONTWAIT) < 0); /* nothing was sent there */
  run_free(r);
  close(hole), close(spy);
  engine_free(&e);
  lmm_members_free(m, 6);
}

static void test_config_and_arguments(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u = NULL;
  lmm_unicast_config c = LMM_UNICAST_CONFIG_DEFAULT;
  c.block_size = 100;
  assert_int_equal(lmm_unicast_new(ctx, &c, &u), LMM_ERR_ARG);
  c = (lmm_unicast_config)LMM_UNICAST_CONFIG_DEFAULT;
  c.max_in_flight = 0;
  assert_int_equal(lmm_unicast_new(ctx, &c, &u), LMM_ERR_ARG);
  assert_null(u);
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  lmm_op op = LMM_OP_INIT;
  lmm_batch *b = NULL;
  assert_int_equal(lmm_batch_start(u, NULL, 0, NULL, 0xFFFF, &handlers, NULL, &b), LMM_ERR_ARG);
  op.len = 3; /* no payload */
  assert_int_equal(lmm_batch_start(u, NULL, 0, &op, 0xFFFF, &handlers, NULL, &b), LMM_ERR_ARG);
  /* an empty batch is done at once, on_done still runs (from the loop) */
  op = (lmm_op)LMM_OP_INIT;
  run *r = run_new(0);
  assert_int_equal(lmm_batch_start(u, NULL, 0, &op, 0xFFFF, &handlers, r, &r->batch), LMM_OK);
  assert_true(lmm_batch_done(r->batch));
  assert_int_equal(lmm_batch_wait(r->batch, 1000), LMM_OK);
  lmm_ctx_run_once(ctx, 0);
  assert_int_equal(r->done_calls, 1);
  lmm_batch_free(r->batch);
  run_free(r);
  lmm_batch_free(NULL);
  lmm_unicast_free(u);
  lmm_unicast_free(NULL);
  lmm_ctx_free(ctx);
}

static void test_cancel_batch_and_engine(void **state) {
  (void)state;
  lmm_unicast_config cfg = fast_config();
  cfg.max_in_flight = 8;
  engine e;
  engine_new(&e, &cfg);
  int hole_port;
  int hole = lmmt_peer_open(0, &hole_port);
  size_t n = 100;
  lmm_member *m = members_new(n);
  for (size_t i = 0; i < n; i++)
    member_set(&m[i], "h", 5, "coap://127.0.0.1:%d", hole_port);
  lmm_op op = make_op(LMM_OPK_READ, "/5/0/1");
  int base = count_fds();
  run *r = run_new(n);
  assert_int_equal(lmm_batch_start(e.u, m, n, &op, 0xFFFF, &handlers, r, &r->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(r->batch, 200), LMM_ERR_TIMEOUT);
  lmm_batch_stats st;
  lmm_batch_get_stats(r->batch, &st);
  assert_int_equal(st.in_flight, 8);
  assert_int_equal(st.done, 0);
  assert_int_equal(count_fds(), base + 8);
  lmm_batch_free(r->batch);
  r->batch = NULL;
  assert_int_equal(count_fds(), base); /* sessions released at once */
  int64_t until = mono_ms() + 300;
  while (mono_ms() < until)
    lmm_ctx_run_once(e.ctx, 50);
  assert_int_equal(r->member_calls, 0);
  assert_int_equal(r->done_calls, 0);
  assert_int_equal(lmm_ctx_timeout_ms(e.ctx, -1), -1); /* nothing left to wait for */

  /* Freeing the engine under a running batch: cancelled, no callbacks, the handle stays
   * valid for lmm_batch_free(). */
  run *r2 = run_new(n);
  assert_int_equal(lmm_batch_start(e.u, m, n, &op, 0xFFFF, &handlers, r2, &r2->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(r2->batch, 100), LMM_ERR_TIMEOUT);
  lmm_unicast_free(e.u);
  e.u = NULL;
  assert_true(count_fds() <= base - 1); /* its sessions, and the engine's epoll fd, closed */
  assert_false(lmm_batch_done(r2->batch));
  assert_int_equal(lmm_batch_wait(r2->batch, 100), LMM_ERR_STATE);
  lmm_batch_free(r2->batch);
  assert_int_equal(r2->member_calls, 0);

  /* on_done may free its own batch */
  assert_int_equal(lmm_unicast_new(e.ctx, &cfg, &e.u), LMM_OK);
  run *r3 = run_new(3);
  r3->free_in_done = true;
  lmm_member *mr = members_new(3);
  for (int i = 0; i < 3; i++)
    member_set(&mr[i], "x", 3, "coap://127.0.0.1:%d", hole_port); /* refused: other object */
  assert_int_equal(lmm_batch_start(e.u, mr, 3, &op, 0xFFFF, &handlers, r3, &r3->batch), LMM_OK);
  lmm_batch *b3 = r3->batch;
  assert_int_equal(lmm_batch_wait(b3, 2000), LMM_OK); /* freed inside on_done, by the waiter */
  assert_null(r3->batch);
  assert_int_equal(r3->done_calls, 1);
  run_free(r), run_free(r2), run_free(r3);
  lmm_members_free(mr, 3);
  close(hole);
  engine_free(&e);
  lmm_members_free(m, n);
}

/* ========================================================= the raw peer */

/* All options `num` joined with `sep`. */
static void opt_join(const coap_pdu_t *p, uint16_t num, char sep, char *out, size_t cap) {
  coap_opt_iterator_t it;
  coap_opt_filter_t f;
  coap_option_filter_clear(&f);
  coap_option_filter_set(&f, num);
  coap_option_iterator_init(p, &it, &f);
  size_t o = 0;
  out[0] = 0;
  const coap_opt_t *opt;
  while ((opt = coap_option_next(&it)) && o + coap_opt_length(opt) + 2 < cap) {
    if (o) out[o++] = sep;
    memcpy(out + o, coap_opt_value(opt), coap_opt_length(opt));
    o += coap_opt_length(opt);
    out[o] = 0;
  }
}

typedef struct wire_case {
  lmm_op_kind kind;
  const char *path;
  const char *payload;
  uint16_t format, accept;
  const char *query;
  /* expected */
  uint8_t code;
  int observe, cf, accept_opt;
  const char *uri_path, *uri_query;
} wire_case;

static void test_operations_on_the_wire(void **state) {
  (void)state;
  static const wire_case cases[] = {
      {LMM_OPK_READ, "/5/0/1", NULL, 0, 110, NULL, 0x01, -1, -1, 110, "5/0/1", ""},
      {LMM_OPK_WRITE, "/5/0", "abc", 11542, 0xFFFF, NULL, 0x03, -1, 11542, -1, "5/0", ""},
      {LMM_OPK_WRITE_UPDATE, "/5/0", "{}", 110, 0xFFFF, NULL, 0x02, -1, 110, -1, "5/0", ""},
      {LMM_OPK_CREATE, "/5", "{}", 110, 0xFFFF, NULL, 0x02, -1, 110, -1, "5", ""},
      {LMM_OPK_EXECUTE, "/5/0/2", NULL, 0, 0xFFFF, NULL, 0x02, -1, -1, -1, "5/0/2", ""},
      {LMM_OPK_EXECUTE, "/5/0/2", "5", 0, 0xFFFF, NULL, 0x02, -1, 0, -1, "5/0/2", ""},
      {LMM_OPK_DELETE, "/5/1", NULL, 0, 0xFFFF, NULL, 0x04, -1, -1, -1, "5/1", ""},
      {LMM_OPK_OBSERVE, "/5/0/3", NULL, 0, 0xFFFF, NULL, 0x01, 0, -1, -1, "5/0/3", ""},
      {LMM_OPK_CANCEL_OBSERVE, "/5/0/3", NULL, 0, 0xFFFF, NULL, 0x01, 1, -1, -1, "5/0/3", ""},
      {LMM_OPK_WRITE_ATTR, "/5/0/1", NULL, 0, 0xFFFF, "pmin=10&pmax=60", 0x03, -1, -1, -1, "5/0/1",
       "pmin=10&pmax=60"},
      {LMM_OPK_DISCOVER, "/5", NULL, 0, 0xFFFF, NULL, 0x01, -1, -1, 40, "5", ""},
      {LMM_OPK_READ, "/5/0/1/3", NULL, 0, 0xFFFF, NULL, 0x01, -1, -1, -1, "5/0/1/3", ""},
  };
  lmm_unicast_config cfg = fast_config();
  engine e;
  engine_new(&e, &cfg);
  int port;
  int peer = lmmt_peer_open(0, &port);
  lmm_member *m = members_new(1);
  member_set(&m[0], "wire", 5, "coap://127.0.0.1:%d", port);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const wire_case *c = &cases[k];
    lmm_op op = make_op(c->kind, c->path);
    op.format = c->format, op.accept = c->accept, op.query = c->query;
    if (c->payload) op.payload = (const uint8_t *)c->payload, op.len = strlen(c->payload);
    run *r = run_new(1);
    assert_int_equal(lmm_batch_start(e.u, m, 1, &op, 0xFFFF, &handlers, r, &r->batch), LMM_OK);
    coap_pdu_t *req = NULL;
    struct sockaddr_in from;
    int64_t until = mono_ms() + 3000;
    while (!req && mono_ms() < until) {
      lmm_ctx_run_once(e.ctx, 10);
      req = lmmt_peer_recv(peer, &from, 0);
    }
    assert_non_null(req);
    assert_int_equal(coap_pdu_get_type(req), COAP_MESSAGE_CON);
    assert_int_equal(coap_pdu_get_code(req), c->code);
    assert_int_equal(lmmt_pdu_opt_uint(req, COAP_OPTION_OBSERVE), c->observe);
    assert_int_equal(lmmt_pdu_opt_uint(req, COAP_OPTION_CONTENT_FORMAT), c->cf);
    assert_int_equal(lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT), c->accept_opt);
    char joined[128];
    opt_join(req, COAP_OPTION_URI_PATH, '/', joined, sizeof joined);
    assert_string_equal(joined, c->uri_path);
    opt_join(req, COAP_OPTION_URI_QUERY, '&', joined, sizeof joined);
    assert_string_equal(joined, c->uri_query);
    size_t len = 0;
    const uint8_t *data = NULL;
    coap_get_data(req, &len, &data);
    assert_int_equal(len, c->payload ? strlen(c->payload) : 0);
    if (len) assert_memory_equal(data, c->payload, len);
    assert_true(coap_pdu_get_token(req).length > 0);
    /* a Discover's answer must be a link list (the engine refuses anything else) */
    bool disc = c->kind == LMM_OPK_DISCOVER;
    const char *answer = disc ? "</5/0>" : "answer";
    lmmt_peer_answer(peer, &from, req, 0x45, disc ? LMM_FMT_LINK : 0, answer);
    coap_delete_pdu(req);
    assert_int_equal(lmm_batch_wait(r->batch, 3000), LMM_OK);
    assert_int_equal(r->o[0].err, LMM_OK);
    assert_int_equal(r->o[0].code, 0x45);
    assert_int_equal(r->o[0].cf, disc ? LMM_FMT_LINK : 0);
    assert_int_equal(r->o[0].len, 6);
    assert_memory_equal(r->o[0].payload, answer, 6);
    assert_int_equal(r->o[0].attempts, 1);
    lmm_batch_free(r->batch);
    run_free(r);
  }
  close(peer);
  engine_free(&e);
  lmm_members_free(m, 1);
}

/* A lost exchange (libcoap gives up after MAX_RETRANSMIT) is re-sent on a fresh session with a
 * fresh token while the deadline allows a whole attempt; CoAP retransmissions are not counted. */
static void test_resend_after_lost_exchange(void **state) {
  (void)state;
  lmm_unicast_config cfg = fast_config();
  cfg.max_retransmit = 1; /* libcoap 4.3.1's least: an attempt spans at most 4.5 s */
  cfg.member_deadline_ms = 15000;
  engine e;
  engine_new(&e, &cfg);
  int port;
  int peer = lmmt_peer_open(0, &port);
  lmm_member *m = members_new(1);
  member_set(&m[0], "lossy", 5, "coap://127.0.0.1:%d", port);
  lmm_op op = make_op(LMM_OPK_READ, "/5/0/1");
  run *r = run_new(1);
  assert_int_equal(lmm_batch_start(e.u, m, 1, &op, 0xFFFF, &handlers, r, &r->batch), LMM_OK);
  int seen = 0;
  struct sockaddr_in first_from = {0}, from;
  uint8_t first_tok[8];
  size_t first_tl = 0;
  int64_t until = mono_ms() + 12000;
  while (!lmm_batch_done(r->batch) && mono_ms() < until) {
    lmm_ctx_run_once(e.ctx, 20);
    coap_pdu_t *req = lmmt_peer_recv(peer, &from, 0);
    if (!req) continue;
    coap_bin_const_t tok = coap_pdu_get_token(req);
    if (seen == 0 || (seen == 1 && from.sin_port == first_from.sin_port)) {
      /* lose the first request and its CoAP retransmission */
      seen = 1;
      first_from = from;
      first_tl = tok.length;
      memcpy(first_tok, tok.s, tok.length);
    } else {
      seen++;
      assert_true(from.sin_port != first_from.sin_port); /* a fresh session */
      assert_false(tok.length == first_tl && !memcmp(tok.s, first_tok, first_tl) &&
                   from.sin_port == first_from.sin_port);
      lmmt_peer_answer(peer, &from, req, 0x45, 0, "late");
    }
    coap_delete_pdu(req);
  }
  assert_true(lmm_batch_done(r->batch));
  assert_int_equal(seen, 2);
  assert_int_equal(r->o[0].err, LMM_OK);
  assert_int_equal(r->o[0].attempts, 2);
  assert_true(r->o[0].latency >= 2900); /* 1 + 2 ACK timeouts at least before giving up */
  lmm_batch_free(r->batch);

  /* Retransmissions exhausted and no room for another attempt: a timeout */
  cfg.member_deadline_ms = 5000;
  engine_free(&e);
  engine_new(&e, &cfg);
  run *r2 = run_new(1);
  assert_int_equal(lmm_batch_start(e.u, m, 1, &op, 0xFFFF, &handlers, r2, &r2->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(r2->batch, 8000), LMM_OK);
  assert_int_equal(r2->o[0].err, LMM_ERR_TIMEOUT);
  assert_int_equal(r2->o[0].attempts, 1);
  assert_non_null(strstr(r2->o[0].error, "retransmissions exhausted after 2 sends"));
  lmm_batch_free(r2->batch);
  run_free(r), run_free(r2);
  close(peer);
  engine_free(&e);
  lmm_members_free(m, 1);
}

int main(void) {
  lmm_global_init();
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_and_arguments),
      cmocka_unit_test(test_operations_on_the_wire),
      cmocka_unit_test(test_resend_after_lost_exchange),
      cmocka_unit_test(test_dead_blackhole_refused),
      cmocka_unit_test(test_cancel_batch_and_engine),
      cmocka_unit_test(test_block_write_read_and_404),
      cmocka_unit_test(test_coaps_right_and_wrong_key),
      cmocka_unit_test(test_200_members_window_bounded),
      cmocka_unit_test(test_observe_notify_cancel),
      cmocka_unit_test(test_host_poll_loop),
  };
  int rc = cmocka_run_group_tests(tests, group_setup, NULL);
  lmm_global_cleanup();
  return rc;
}
