/* test_unicast_bind.c - a unicast engine bound to one local address and port (cfg.bind) against
 * the real lwm2m-mbms-sim started with --server-addr, whose devices ignore every request from
 * elsewhere, as a NAT or a client that filters by source does: bound, every member is served;
 * unbound, every member times out; two batches to the same devices at once, duplicate members,
 * a 20 KiB firmware push (Block1) and its update, CoAPS, and a host socket on the same port. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

/* ------------------------------------------------------------------ helpers */

/* Starts the fleet (extra: NULL-terminated) for a server at 127.0.0.1:port; loads its members. */
static void sim_up(lmmt_sim *sim, int port, const char *const *extra, lmm_member **m, size_t *n) {
  char sa[32];
  snprintf(sa, sizeof sa, "127.0.0.1:%d", port);
  const char *argv[32] = {"--server-addr", sa};
  int k = 2;
  for (int i = 0; extra && extra[i] && k < 31; i++)
    argv[k++] = extra[i];
  argv[k] = NULL;
  assert_int_equal(lmmt_sim_start(sim, argv), 0);
  char why[200];
  assert_int_equal(lmm_members_load(sim->members_path, m, n, why, sizeof why), LMM_OK);
}

/* SIGTERM, exit 0, and the --stats-json it wrote (lmmt_sim_stop() removes the files). */
static cJSON *sim_down(lmmt_sim *sim) {
  int st = 0;
  kill(sim->pid, SIGTERM);
  assert_int_equal(waitpid(sim->pid, &st, 0), sim->pid);
  sim->pid = 0;
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *text = lmmt_read_file(sim->stats_path, NULL);
  lmmt_sim_stop(sim);
  assert_non_null(text);
  cJSON *j = cJSON_Parse(text);
  free(text);
  assert_non_null(j);
  return j;
}

static int json_int(const cJSON *j, const char *a, const char *b, const char *c) {
  const cJSON *x = cJSON_GetObjectItem(j, a);
  if (b) x = cJSON_GetObjectItem(x, b);
  if (c) x = cJSON_GetObjectItem(x, c);
  assert_non_null(x);
  return x->valueint;
}

typedef struct outcome {
  int calls, attempts;
  lmm_err err;
  uint8_t code;
  char text[80];
} outcome;

typedef struct run {
  size_t n;
  outcome *o;
  int done;
} run;

static void on_member(void *user, const lmm_member_result *r) {
  run *rr = user;
  assert_true(r->index < rr->n);
  outcome *o = &rr->o[r->index];
  o->calls++;
  o->err = r->err, o->code = r->coap_code, o->attempts = r->attempts;
  snprintf(o->text, sizeof o->text, "%.*s", (int)r->payload_len,
           r->payload ? (const char *)r->payload : "");
  if (r->error) print_message("member %zu (%s): %s\n", r->index, r->member->ep, r->error);
}

static void on_done(void *user, lmm_batch *b) {
  run *rr = user;
  (void)b;
  rr->done++;
}

static const lmm_batch_handlers handlers = {NULL, on_member, NULL, on_done};

static run *run_new(size_t n) {
  run *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->n = n;
  r->o = calloc(n, sizeof *r->o);
  assert_non_null(r->o);
  return r;
}

static void run_free(run *r) {
  free(r->o);
  free(r);
}

static lmm_op read_op(const char *path) {
  lmm_op op = LMM_OP_INIT;
  assert_int_equal(lmm_path_parse(path, &op.path), LMM_OK);
  op.accept = LMM_FMT_TEXT;
  return op;
}

/* The engine of a test: its own context; `bind` NULL for an unbound one. */
typedef struct engine {
  lmm_ctx *ctx;
  lmm_unicast *u;
} engine;

static void engine_new(engine *e, const char *bind, long deadline_ms) {
  assert_int_equal(lmm_ctx_new(NULL, &e->ctx), LMM_OK);
  lmm_unicast_config c = LMM_UNICAST_CONFIG_DEFAULT;
  c.ack_timeout_ms = 1000, c.max_retransmit = 1, c.member_deadline_ms = deadline_ms;
  c.dtls_timeout_ms = 3000;
  c.bind = bind;
  assert_int_equal(lmm_unicast_new(e->ctx, &c, &e->u), LMM_OK);
}

static void engine_free(engine *e) {
  lmm_unicast_free(e->u);
  lmm_ctx_free(e->ctx);
}

/* Runs `op` on the members; every member gets exactly one outcome and the batch one on_done. */
static run *run_batch(engine *e, const lmm_member *m, size_t n, const lmm_op *op) {
  run *r = run_new(n);
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(e->u, m, n, op, 0xFFFF, &handlers, r, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 60000), LMM_OK);
  lmm_batch_free(b);
  assert_int_equal(r->done, 1);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(r->o[i].calls, 1);
  return r;
}

/* ------------------------------------------------------------------ tests */

/* Bound: every member served, once each. Unbound, the same fleet: every member times out, and
 * the devices counted every request as filtered and answered none. */
static void test_bound_served_unbound_filtered(void **state) {
  (void)state;
  engine e;
  engine_new(&e, "127.0.0.1:0", 8000);
  int port = lmm_unicast_local_port(e.u);
  assert_true(port > 0);
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  const char *extra[] = {"--count", "20", "--object", "3", NULL};
  sim_up(&sim, port, extra, &m, &n);
  assert_int_equal(n, 20);

  lmm_op op = read_op("/3/0/0");
  run *r = run_batch(&e, m, n, &op);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->o[i].err, LMM_OK);
    assert_int_equal(r->o[i].code, 0x45);
    assert_string_equal(r->o[i].text, "lwm2m-mbms");
    assert_int_equal(r->o[i].attempts, 1);
  }
  run_free(r);

  engine un;
  engine_new(&un, NULL, 2500);
  assert_int_equal(lmm_unicast_local_port(un.u), 0);
  r = run_batch(&un, m, n, &op);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(r->o[i].err, LMM_ERR_TIMEOUT);
  run_free(r);
  engine_free(&un);
  engine_free(&e);

  cJSON *st = sim_down(&sim);
  assert_true(json_int(st, "filtered", NULL, NULL) >= (int)n); /* each, retransmissions too */
  /* The bound ones only (a CON retransmitted on a loaded machine counts twice). */
  assert_in_range(json_int(st, "totals", "requests", "GET"), n, 2 * n);
  assert_int_equal(json_int(st, "totals", "responses", "2xx"), (int)n);
  cJSON_Delete(st);
  lmm_members_free(m, n);
}

/* Two batches on the same devices at once, the second naming every device twice: one session
 * per device, shared in turn (a second session to a device from the same address and port is
 * not possible). */
static void test_bound_concurrent_and_duplicates(void **state) {
  (void)state;
  engine e;
  engine_new(&e, "127.0.0.1:0", 10000);
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  const char *extra[] = {"--count", "8", "--object", "3", NULL};
  sim_up(&sim, lmm_unicast_local_port(e.u), extra, &m, &n);
  lmm_member *twice = calloc(2 * n, sizeof *twice);
  assert_non_null(twice);
  for (size_t i = 0; i < 2 * n; i++)
    assert_int_equal(lmm_member_copy(&twice[i], &m[i % n]), LMM_OK);

  /* And an Observe at once: the simulator answers it as a plain Read (no Observe option), so
   * the session is not kept for it. */
  lmm_op op1 = read_op("/3/0/0"), op2 = read_op("/3/0/1"), op3 = read_op("/3/0/16");
  op3.kind = LMM_OPK_OBSERVE;
  run *r1 = run_new(n), *r2 = run_new(2 * n), *r3 = run_new(n);
  lmm_batch *b1, *b2, *b3;
  assert_int_equal(lmm_batch_start(e.u, m, n, &op1, 0xFFFF, &handlers, r1, &b1), LMM_OK);
  assert_int_equal(lmm_batch_start(e.u, twice, 2 * n, &op2, 0xFFFF, &handlers, r2, &b2), LMM_OK);
  assert_int_equal(lmm_batch_start(e.u, m, n, &op3, 0xFFFF, &handlers, r3, &b3), LMM_OK);
  assert_int_equal(lmm_batch_wait(b1, 30000), LMM_OK);
  assert_int_equal(lmm_batch_wait(b2, 30000), LMM_OK);
  assert_int_equal(lmm_batch_wait(b3, 30000), LMM_OK);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r3->o[i].code, 0x45);
    assert_string_equal(r3->o[i].text, "U");
  }
  lmm_batch_free(b3);
  run_free(r3);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r1->o[i].code, 0x45);
    assert_string_equal(r1->o[i].text, "lwm2m-mbms");
  }
  for (size_t i = 0; i < 2 * n; i++) {
    assert_int_equal(r2->o[i].err, LMM_OK);
    assert_int_equal(r2->o[i].code, 0x45);
    assert_string_equal(r2->o[i].text, "sim"); /* Model Number */
    assert_int_equal(r2->o[i].attempts, 1);
  }
  lmm_batch_free(b1), lmm_batch_free(b2);
  run_free(r1), run_free(r2);
  engine_free(&e);
  cJSON *st = sim_down(&sim);
  assert_int_equal(json_int(st, "filtered", NULL, NULL), 0);
  /* Every exchange reached its device (each member asked once: attempts 1 above); on a loaded
   * machine CoAP may retransmit a CON whose answer was late (max_retransmit 1): the device then
   * sees that datagram twice. */
  int gets = json_int(st, "totals", "requests", "GET");
  assert_in_range(gets, 4 * n, 8 * n);
  cJSON_Delete(st);
  lmm_members_free(twice, 2 * n);
  lmm_members_free(m, n);
}

/* ---------------------------------------------------------- firmware push, bound */

typedef struct fw_count {
  size_t members, done;
} fw_count;

static void fw_member(void *user, const lmm_fw_report *r) {
  ((fw_count *)user)->members++;
  if (!r->ok) print_message("%s: stage %d: %s\n", r->member->ep, (int)r->stage, r->error);
}

static void fw_done(void *user, lmm_fw_job *j, lmm_err result) {
  (void)j, (void)result;
  ((fw_count *)user)->done++;
}

static const lmm_fw_handlers fw_handlers = {fw_member, fw_done};

/* 20 KiB to each device in 1,024-byte Block1 blocks, the State polls, the Update and its
 * result: many batches in turn, all through the bound address. PkgVersion (/5/0/7) is the
 * SHA-256 of what each device stored. */
static void test_bound_firmware_push(void **state) {
  (void)state;
  enum { SIZE = 20 * 1024 };
  engine e;
  engine_new(&e, "127.0.0.1:0", 15000);
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  const char *extra[] = {"--count", "6", "--object", "5", "--update-ms", "50", NULL};
  sim_up(&sim, lmm_unicast_local_port(e.u), extra, &m, &n);
  uint8_t *image = malloc(SIZE);
  assert_non_null(image);
  for (size_t i = 0; i < SIZE; i++)
    image[i] = (uint8_t)((i * 2654435761u) >> 13 ^ i);
  unsigned char d[32];
  char digest[65];
  assert_int_equal(mbedtls_sha256_ret(image, SIZE, d, 0), 0);
  for (int i = 0; i < 32; i++)
    snprintf(digest + 2 * i, 3, "%02x", d[i]);

  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.download_deadline_ms = 10000, cfg.update_deadline_ms = 10000;
  fw_count c = {0};
  lmm_fw_job *j;
  assert_int_equal(lmm_fw_new(e.ctx, e.u, &cfg, m, n, image, SIZE, &fw_handlers, &c, &j), LMM_OK);
  free(image);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  assert_int_equal(lmm_fw_wait(j, 60000), LMM_OK);
  size_t rn;
  const lmm_fw_report *rep = lmm_fw_reports(j, &rn);
  assert_int_equal(rn, n);
  for (size_t i = 0; i < n; i++) {
    assert_true(rep[i].ok);
    assert_int_equal(rep[i].update_result, 1);
    assert_int_equal(rep[i].bytes_written, SIZE);
  }
  assert_int_equal(c.members, n);
  assert_int_equal(c.done, 1);
  lmm_fw_free(j);

  lmm_op op = read_op("/5/0/7");
  run *r = run_batch(&e, m, n, &op);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(r->o[i].text, digest);
  run_free(r);
  engine_free(&e);
  cJSON *st = sim_down(&sim);
  assert_int_equal(json_int(st, "filtered", NULL, NULL), 0);
  cJSON_Delete(st);
  lmm_members_free(m, n);
}

/* ------------------------------------------------------------------ CoAPS, bound */

/* Two fleets of one device each (libcoap keys a DTLS server session by the client's address and
 * port, so one simulator holds one DTLS session per client: see docs/simulator.md), both
 * reached from the one bound port. Each device twice in the batch: the second shares the first's
 * DTLS session. Then a write on the same devices. A third fleet: its device's identity with a
 * wrong key, at once with the right one; it must not ride on the right one's session. */
static void test_bound_coaps(void **state) {
  (void)state;
  engine e;
  engine_new(&e, "127.0.0.1:0", 6000);
  int port = lmm_unicast_local_port(e.u);
  lmmt_sim s1, s2, s3;
  lmm_member *m1, *m2, *m3;
  size_t n1, n2, n3;
  const char *x1[] = {"--count", "1", "--dtls", "--dtls-port", "0", "--object", "3", NULL};
  const char *x2[] = {"--count",     "1",         "--dtls",   "--dtls-port", "0",
                      "--base-addr", "127.1.9.1", "--object", "3",           NULL};
  const char *x3[] = {"--count",     "1",          "--dtls",   "--dtls-port", "0",
                      "--base-addr", "127.1.10.1", "--object", "3",           NULL};
  sim_up(&s1, port, x1, &m1, &n1);
  sim_up(&s2, port, x2, &m2, &n2);
  sim_up(&s3, port, x3, &m3, &n3);
  assert_int_equal(n1 + n2 + n3, 3);
  assert_non_null(strstr(m1[0].uri, "coaps://"));
  lmm_member *m = calloc(4, sizeof *m);
  assert_non_null(m);
  for (int i = 0; i < 4; i++)
    assert_int_equal(lmm_member_copy(&m[i], i % 2 ? &m2[0] : &m1[0]), LMM_OK);

  lmm_op op = read_op("/3/0/0");
  run *r = run_batch(&e, m, 4, &op);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(r->o[i].err, LMM_OK);
    assert_int_equal(r->o[i].code, 0x45);
    assert_string_equal(r->o[i].text, "lwm2m-mbms");
  }
  run_free(r);

  lmm_op w = LMM_OP_INIT;
  w.kind = LMM_OPK_WRITE;
  assert_int_equal(lmm_path_parse("/3/0/13", &w.path), LMM_OK);
  w.format = LMM_FMT_TEXT;
  w.payload = (const uint8_t *)"1700000000", w.len = 10;
  r = run_batch(&e, m, 2, &w);
  for (int i = 0; i < 2; i++)
    assert_int_equal(r->o[i].code, 0x44);
  run_free(r);

  lmm_member *bad = calloc(2, sizeof *bad);
  assert_non_null(bad);
  for (int i = 0; i < 2; i++)
    assert_int_equal(lmm_member_copy(&bad[i], &m3[0]), LMM_OK);
  bad[1].psk_key[0] ^= 0x55;
  r = run_batch(&e, bad, 2, &op);
  assert_int_equal(r->o[0].code, 0x45);
  assert_int_not_equal(r->o[1].err, LMM_OK);
  assert_int_equal(r->o[1].code, 0);
  run_free(r);
  engine_free(&e);

  /* Unbound, the requests go unanswered (the handshake still completes: libcoap answers it
   * before any request reaches a device). */
  engine un;
  engine_new(&un, NULL, 4000);
  r = run_batch(&un, m, 1, &op);
  assert_int_equal(r->o[0].err, LMM_ERR_TIMEOUT);
  run_free(r);
  engine_free(&un);

  cJSON *st1 = sim_down(&s1), *st2 = sim_down(&s2), *st3 = sim_down(&s3);
  assert_true(json_int(st1, "filtered", NULL, NULL) >= 1);
  assert_int_equal(json_int(st2, "filtered", NULL, NULL), 0);
  assert_int_equal(json_int(st1, "totals", "responses", "2xx"), 3);
  assert_int_equal(json_int(st2, "totals", "responses", "2xx"), 3);
  assert_int_equal(json_int(st3, "totals", "responses", "2xx"), 1);
  cJSON_Delete(st1), cJSON_Delete(st2), cJSON_Delete(st3);
  lmm_members_free(bad, 2);
  lmm_members_free(m, 4);
  lmm_members_free(m1, n1);
  lmm_members_free(m2, n2);
  lmm_members_free(m3, n3);
}

/* ---------------------------------------------------- the host's socket, same port */

/* The host's own CoAP socket (SO_REUSEADDR) holds the port first; the engine binds it too. The
 * devices' answers reach the engine's sessions (connected sockets: the kernel picks the socket
 * whose address pair matches), none reaches the host's; a datagram from anyone else does. */
static void test_host_socket_same_port(void **state) {
  (void)state;
  int host = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
  assert_true(host >= 0);
  assert_int_equal(setsockopt(host, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  struct sockaddr_in ha = {.sin_family = AF_INET};
  ha.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(host, (struct sockaddr *)&ha, sizeof ha), 0);
  socklen_t hl = sizeof ha;
  assert_int_equal(getsockname(host, (struct sockaddr *)&ha, &hl), 0);
  int port = ntohs(ha.sin_port);
  char bind_s[32];
  snprintf(bind_s, sizeof bind_s, "127.0.0.1:%d", port);
  engine e;
  engine_new(&e, bind_s, 8000);
  assert_int_equal(lmm_unicast_local_port(e.u), port);
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  const char *extra[] = {"--count", "20", "--object", "3", NULL};
  sim_up(&sim, port, extra, &m, &n);

  lmm_op op = read_op("/3/0/0");
  run *r = run_batch(&e, m, n, &op);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(r->o[i].code, 0x45);
  run_free(r);
  char buf[256];
  assert_true(recv(host, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);

  int stranger = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_int_equal(sendto(stranger, "hello", 5, 0, (const struct sockaddr *)&ha, sizeof ha), 5);
  assert_int_equal(lmmt_recv(host, buf, sizeof buf, 5000), 5);
  assert_memory_equal(buf, "hello", 5);
  close(stranger);
  engine_free(&e);
  close(host);
  cJSON *st = sim_down(&sim);
  assert_int_equal(json_int(st, "filtered", NULL, NULL), 0);
  cJSON_Delete(st);
  lmm_members_free(m, n);
}

int main(void) {
  lmm_global_init();
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bound_served_unbound_filtered),
      cmocka_unit_test(test_bound_concurrent_and_duplicates),
      cmocka_unit_test(test_bound_firmware_push),
      cmocka_unit_test(test_bound_coaps),
      cmocka_unit_test(test_host_socket_same_port),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
