/* test_fw_unicast.c - firmware over unicast (Grp-Fw-02) against the real lwm2m-mbms-sim:
 * a 256 KiB image to 100 devices through Block1 (push) or through the adapter's blob server
 * (pull), Downloaded, Update and Update Result, checked on each device by its PkgVersion
 * (SHA-256); a dead member fails at the write, a member of another object is refused with
 * nothing sent; a URI the devices cannot use, or a URI write answered with an error, fails at
 * once; auto follows each device's Delivery Method. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV      100
#define IMAGE_SIZE (256 * 1024)

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes from a fixed formula: not periodic in the block size, so a block sent twice or out of
 * order changes the digest. */
static uint8_t *make_image(size_t len) {
  uint8_t *p = malloc(len);
  assert_non_null(p);
  for (size_t i = 0; i < len; i++)
    p[i] = (uint8_t)((i * 2654435761u) >> 13 ^ i ^ (i >> 9));
  return p;
}

static void sha256_hex(const uint8_t *p, size_t len, char out[65]) {
  unsigned char d[32];
  assert_int_equal(mbedtls_sha256_ret(p, len, d, 0), 0);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A UDP socket on 127.0.0.1 that nothing should ever reach; its port in *port. */
static int udp_watch(int *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  *port = ntohs(a.sin_port);
  return fd;
}

typedef struct counts {
  size_t on_member, on_done;
  lmm_err result;
  bool order_ok; /* on_done came after every on_member */
  size_t n;
} counts;

static void on_member(void *user, const lmm_fw_report *r) {
  counts *c = user;
  c->on_member++;
  assert_true(r->final);
  if (c->on_done) c->order_ok = false;
}

static void on_done(void *user, lmm_fw_job *j, lmm_err result) {
  counts *c = user;
  (void)j;
  c->on_done++;
  c->result = result;
  c->order_ok = c->order_ok && c->on_member == c->n;
}

static const lmm_fw_handlers handlers = {on_member, on_done};

/* ---------------------------------------------------------- read /5/0/7 back */

typedef struct pkg_check {
  const char *want;
  size_t n, matched;
} pkg_check;

static void pkg_member(void *user, const lmm_member_result *r) {
  pkg_check *pc = user;
  pc->n++;
  if (r->err == LMM_OK && r->coap_code == 0x45 && r->payload_len == 64 &&
      !memcmp(r->payload, pc->want, 64))
    pc->matched++;
  else
    print_message("%s: /5/0/7 = %.*s (%u)\n", r->member->ep, (int)r->payload_len,
                  r->payload ? (const char *)r->payload : "", r->coap_code);
}

static void pkg_done(void *user, lmm_batch *b) {
  (void)user, (void)b;
}

static const lmm_batch_handlers pkg_handlers = {NULL, pkg_member, NULL, pkg_done};

/* Every device holds exactly the image: PkgVersion (/5/0/7) is its SHA-256. */
static void check_pkg_versions(lmm_unicast *u, const lmm_member *sm, size_t sn,
                               const char *digest) {
  pkg_check pc = {.want = digest};
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = 5, .iid = 0, .rid = 7, .depth = 3};
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(u, sm, sn, &op, 0xFFFF, &pkg_handlers, &pc, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 20000), LMM_OK);
  lmm_batch_free(b);
  assert_int_equal(pc.n, sn);
  assert_int_equal(pc.matched, sn);
}

/* ------------------------------------------------------ read /5/0/9 back */

typedef struct dm_read {
  int *dm; /* per member; -1 unreadable */
} dm_read;

static void dm_member(void *user, const lmm_member_result *r) {
  dm_read *d = user;
  char buf[8] = "";
  if (r->err == LMM_OK && r->coap_code == 0x45 && r->payload_len < sizeof buf)
    memcpy(buf, r->payload, r->payload_len);
  d->dm[r->index] = buf[0] >= '0' && buf[0] <= '2' && !buf[1] ? buf[0] - '0' : -1;
}

static const lmm_batch_handlers dm_handlers = {NULL, dm_member, NULL, pkg_done};

static void read_delivery_methods(lmm_unicast *u, const lmm_member *sm, size_t sn, int *dm) {
  dm_read d = {dm};
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = 5, .iid = 0, .rid = 9, .depth = 3};
  op.accept = 0; /* text/plain */
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(u, sm, sn, &op, 0xFFFF, &dm_handlers, &d, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 20000), LMM_OK);
  lmm_batch_free(b);
}

static void print_failure(const lmm_fw_report *r) {
  if (!r->ok)
    print_message("%s: stage %d err %d code %u result %d pulled %d: %s\n", r->member->ep,
                  (int)r->stage, (int)r->err, r->coap_code, r->update_result, (int)r->pulled,
                  r->error ? r->error : "");
}

/* ------------------------------------------------------------------ tests */

static void test_push_100(void **state) {
  (void)state;
  lmmt_sim sim;
  const char *extra[] = {"--count", "100", "--object", "5", "--update-ms", "50", NULL};
  assert_int_equal(lmmt_sim_start(&sim, extra), 0);
  char why[200];
  lmm_member *sm = NULL;
  size_t sn = 0;
  assert_int_equal(lmm_members_load(sim.members_path, &sm, &sn, why, sizeof why), LMM_OK);
  assert_int_equal(sn, N_DEV);
  assert_int_equal(sm[0].oid, 5);

  /* The fleet, then a dead member and a member of Location (6) that listens for nothing. */
  int watch_port, watch = udp_watch(&watch_port);
  char watch_uri[48];
  snprintf(watch_uri, sizeof watch_uri, "coap://127.0.0.1:%d", watch_port);
  size_t n = sn + 2;
  lmm_member *m = calloc(n, sizeof *m);
  assert_non_null(m);
  for (size_t i = 0; i < sn; i++)
    assert_int_equal(lmm_member_copy(&m[i], &sm[i]), LMM_OK);
  m[sn] = (lmm_member){.ep = strdup("dead"), .oid = 5, .uri = strdup("coap://127.0.0.1:9")};
  m[sn + 1] = (lmm_member){.ep = strdup("loc"), .oid = 6, .uri = strdup(watch_uri)};

  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.max_in_flight = 64;
  ucfg.ack_timeout_ms = 1000;
  ucfg.max_retransmit = 2;
  ucfg.member_deadline_ms = 15000;
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, &ucfg, &u), LMM_OK);

  uint8_t *image = make_image(IMAGE_SIZE);
  char digest[65];
  sha256_hex(image, IMAGE_SIZE, digest);

  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.download_deadline_ms = 10000;
  cfg.update_deadline_ms = 10000;
  counts c = {.order_ok = true, .n = n};
  lmm_fw_job *j;
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, m, n, image, IMAGE_SIZE, &handlers, &c, &j), LMM_OK);
  memset(image, 0, IMAGE_SIZE); /* the job has its own copy */
  free(image);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  assert_int_equal(lmm_fw_start(j), LMM_ERR_STATE);
  assert_int_equal(c.on_member, 0); /* no callback from inside start */
  int64_t t0 = mono_ms();
  assert_int_equal(lmm_fw_wait(j, 30000), LMM_OK);
  int64_t took = mono_ms() - t0;
  print_message("firmware job: %zu members in %lld ms\n", n, (long long)took);
  assert_true(lmm_fw_done(j));
  assert_int_equal(c.on_done, 1);
  assert_int_equal(c.on_member, n);
  assert_true(c.order_ok);
  assert_int_equal(c.result, LMM_OK);

  size_t rn;
  const lmm_fw_report *r = lmm_fw_reports(j, &rn);
  assert_int_equal(rn, n);
  for (size_t i = 0; i < sn; i++) {
    if (!r[i].ok)
      print_message("%s: stage %d err %d code %u: %s\n", r[i].member->ep, (int)r[i].stage,
                    (int)r[i].err, r[i].coap_code, r[i].error ? r[i].error : "");
    assert_true(r[i].ok);
    assert_int_equal(r[i].stage, LMM_FW_STAGE_DONE);
    assert_int_equal(r[i].err, LMM_OK);
    assert_int_equal(r[i].update_result, 1);
    assert_int_equal(r[i].bytes_written, IMAGE_SIZE);
    assert_int_equal(r[i].coap_code, 0);
    assert_null(r[i].error);
    assert_false(r[i].pulled);
    assert_true(r[i].attempts >= 4); /* write, State (at least once), Execute, Result */
    assert_true(r[i].elapsed_ms >= 50 && r[i].elapsed_ms <= took + 10);
    assert_string_equal(r[i].member->ep, sm[i].ep);
  }
  /* The dead member: failed at the write, nothing written, the rest unaffected. */
  const lmm_fw_report *d = &r[sn];
  assert_false(d->ok);
  assert_true(d->final);
  assert_int_equal(d->stage, LMM_FW_STAGE_WRITE);
  assert_int_not_equal(d->err, LMM_OK);
  assert_int_equal(d->bytes_written, 0);
  assert_int_equal(d->update_result, -1);
  assert_non_null(d->error);
  assert_non_null(strstr(d->error, "write /5/0/0"));
  print_message("dead member: %s (%s)\n", d->error, lmm_strerror(d->err));
  /* The Location member: refused, nothing sent. */
  const lmm_fw_report *l = &r[sn + 1];
  assert_false(l->ok);
  assert_int_equal(l->stage, LMM_FW_STAGE_NONE);
  assert_int_equal(l->err, LMM_ERR_ARG);
  assert_int_equal(l->attempts, 0);
  assert_non_null(strstr(l->error, "refused"));
  uint8_t buf[64];
  assert_int_equal(recv(watch, buf, sizeof buf, 0), -1);
  close(watch);
  lmm_fw_free(j);

  check_pkg_versions(u, sm, sn, digest);

  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  lmm_members_free(sm, sn);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* Free while running: no callbacks afterwards, nothing leaks (ASan), the engine stays usable. */
static void test_free_midway(void **state) {
  (void)state;
  lmmt_sim sim;
  const char *extra[] = {"--count", "4", "--object", "5", "--update-ms", "10", NULL};
  assert_int_equal(lmmt_sim_start(&sim, extra), 0);
  char why[200];
  lmm_member *sm = NULL;
  size_t sn = 0;
  assert_int_equal(lmm_members_load(sim.members_path, &sm, &sn, why, sizeof why), LMM_OK);
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  uint8_t *image = make_image(64 * 1024);
  counts c = {.order_ok = true, .n = sn};
  lmm_fw_job *j;
  assert_int_equal(lmm_fw_new(ctx, u, NULL, sm, sn, image, 64 * 1024, &handlers, &c, &j), LMM_OK);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  for (int i = 0; i < 5; i++)
    lmm_ctx_run_once(ctx, 20);
  lmm_fw_free(j);
  size_t seen = c.on_member;
  for (int i = 0; i < 10; i++)
    lmm_ctx_run_once(ctx, 20);
  assert_int_equal(c.on_member, seen);
  assert_int_equal(c.on_done, 0);
  /* A second job on the same engine still completes. */
  memset(&c, 0, sizeof c);
  c.order_ok = true, c.n = sn;
  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.poll_interval_ms = 20;
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, sm, sn, image, 64 * 1024, &handlers, &c, &j), LMM_OK);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  assert_int_equal(lmm_fw_wait(j, 20000), LMM_OK);
  size_t rn;
  const lmm_fw_report *r = lmm_fw_reports(j, &rn);
  for (size_t i = 0; i < rn; i++)
    assert_true(r[i].ok);
  lmm_fw_free(j);
  free(image);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(sm, sn);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

static void test_args_and_texts(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  uint8_t img[4] = {1, 2, 3, 4};
  lmm_fw_job *j = NULL;
  lmm_fw_config bad = LMM_FW_CONFIG_DEFAULT;
  bad.poll_interval_ms = -1;
  assert_int_equal(lmm_fw_new(NULL, u, NULL, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  assert_int_equal(lmm_fw_new(ctx, u, NULL, NULL, 0, img, 0, NULL, NULL, &j), LMM_ERR_ARG);
  assert_int_equal(lmm_fw_new(ctx, u, NULL, NULL, 1, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  assert_int_equal(lmm_fw_new(ctx, u, &bad, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  assert_null(j);
  assert_int_equal(lmm_fw_start(NULL), LMM_ERR_ARG);
  lmm_fw_free(NULL);
  assert_string_equal(lmm_fw_update_result_text(1), "firmware updated successfully");
  assert_non_null(strstr(lmm_fw_update_result_text(5), "integrity check failure"));
  assert_non_null(strstr(lmm_fw_update_result_text(2), "flash"));
  assert_non_null(strstr(lmm_fw_update_result_text(9), "unsupported protocol"));
  assert_non_null(lmm_fw_update_result_text(42));
  /* An empty group: done on the first turn of the loop, from the loop. */
  counts c = {.order_ok = true};
  assert_int_equal(lmm_fw_new(ctx, u, NULL, NULL, 0, img, 4, &handlers, &c, &j), LMM_OK);
  assert_int_equal(lmm_fw_wait(j, 1000), LMM_ERR_STATE); /* not started */
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  assert_int_equal(c.on_done, 0);
  assert_int_equal(lmm_fw_wait(j, 5000), LMM_OK);
  assert_int_equal(c.on_done, 1);
  lmm_fw_free(j);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
}

/* Pull: the 256 KiB image registered on the adapter's blob server, its URI written to /5/0/1
 * of 100 devices, each GETs it with Block2, then Update as with push. */
static void test_pull_100(void **state) {
  (void)state;
  lmmt_sim sim;
  const char *extra[] = {"--count", "100", "--object", "5", "--update-ms", "50", NULL};
  assert_int_equal(lmmt_sim_start(&sim, extra), 0);
  char why[200];
  lmm_member *sm = NULL;
  size_t sn = 0;
  assert_int_equal(lmm_members_load(sim.members_path, &sm, &sn, why, sizeof why), LMM_OK);
  assert_int_equal(sn, N_DEV);

  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.ack_timeout_ms = 1000;
  ucfg.max_retransmit = 2;
  ucfg.member_deadline_ms = 15000;
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, &ucfg, &u), LMM_OK);
  lmm_blob_server *srv;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &srv), LMM_OK);

  uint8_t *image = make_image(IMAGE_SIZE);
  char digest[65];
  sha256_hex(image, IMAGE_SIZE, digest);
  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.download_deadline_ms = 20000;
  cfg.update_deadline_ms = 10000;
  cfg.delivery = LMM_FW_PULL;
  cfg.server = srv;
  counts c = {.order_ok = true, .n = sn};
  lmm_fw_job *j;
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, sm, sn, image, IMAGE_SIZE, &handlers, &c, &j), LMM_OK);
  memset(image, 0, IMAGE_SIZE); /* the job serves its own copy */
  free(image);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  int64_t t0 = mono_ms();
  assert_int_equal(lmm_fw_wait(j, 60000), LMM_OK);
  int64_t took = mono_ms() - t0;
  lmm_blob_server_stats st;
  lmm_blob_server_get_stats(srv, &st);
  print_message("pull job: %zu members in %lld ms; blob server: %llu requests, %llu blocks, "
                "%llu bytes, %llu completions, %llu 4.04\n",
                sn, (long long)took, (unsigned long long)st.requests, (unsigned long long)st.blocks,
                (unsigned long long)st.bytes_sent, (unsigned long long)st.completions,
                (unsigned long long)st.not_found);
  assert_int_equal(c.on_done, 1);
  assert_int_equal(c.on_member, sn);
  assert_true(c.order_ok);
  size_t rn;
  const lmm_fw_report *r = lmm_fw_reports(j, &rn);
  size_t ok = 0;
  for (size_t i = 0; i < rn; i++) {
    print_failure(&r[i]);
    ok += r[i].ok;
  }
  assert_int_equal(ok, sn);
  for (size_t i = 0; i < rn; i++) {
    assert_true(r[i].pulled);
    assert_int_equal(r[i].stage, LMM_FW_STAGE_DONE);
    assert_int_equal(r[i].update_result, 1);
    assert_int_equal(r[i].bytes_written, IMAGE_SIZE);
    assert_null(r[i].error);
  }
  /* Every byte the devices got came from the blob server. */
  assert_true(st.bytes_sent >= (uint64_t)sn * IMAGE_SIZE);
  assert_true(st.completions >= sn);
  lmm_fw_free(j);
  check_pkg_versions(u, sm, sn, digest);

  lmm_blob_server_free(srv);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(sm, sn);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* A URI the devices cannot use (coaps: they pull over coap only) ends in Update Result 9 at
 * once, not at the download deadline; a member that answers the URI write with an error code
 * (here a CoAP server with no /5/0/1: the blob server itself) fails at the write. */
static void test_pull_fails_fast(void **state) {
  (void)state;
  lmmt_sim sim;
  const char *extra[] = {"--count", "4", "--object", "5", NULL};
  assert_int_equal(lmmt_sim_start(&sim, extra), 0);
  char why[200];
  lmm_member *sm = NULL;
  size_t sn = 0;
  assert_int_equal(lmm_members_load(sim.members_path, &sm, &sn, why, sizeof why), LMM_OK);
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  lmm_blob_server *srv;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &srv), LMM_OK);

  size_t n = sn + 1;
  lmm_member *m = calloc(n, sizeof *m);
  assert_non_null(m);
  for (size_t i = 0; i < sn; i++)
    assert_int_equal(lmm_member_copy(&m[i], &sm[i]), LMM_OK);
  m[sn] =
      (lmm_member){.ep = strdup("no-fw"), .oid = 5, .uri = strdup(lmm_blob_server_base_uri(srv))};

  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.poll_interval_ms = 50;
  cfg.download_deadline_ms = 20000;
  cfg.delivery = LMM_FW_PULL;
  cfg.pull_uri = "coaps://127.0.0.1:1/fw/0123456789abcdef";
  counts c = {.order_ok = true, .n = n};
  lmm_fw_job *j;
  /* The bytes are elsewhere: the job needs no image. */
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, m, n, NULL, 0, &handlers, &c, &j), LMM_OK);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  int64_t t0 = mono_ms();
  assert_int_equal(lmm_fw_wait(j, 30000), LMM_OK);
  int64_t took = mono_ms() - t0;
  print_message("failing pull job: %zu members in %lld ms\n", n, (long long)took);
  assert_true(took < 5000); /* the deadline is 20 s */
  assert_int_equal(c.on_member, n);
  size_t rn;
  const lmm_fw_report *r = lmm_fw_reports(j, &rn);
  for (size_t i = 0; i < sn; i++) {
    print_failure(&r[i]);
    assert_true(r[i].final);
    assert_false(r[i].ok);
    assert_true(r[i].pulled);
    assert_int_equal(r[i].stage, LMM_FW_STAGE_WRITE);
    assert_int_equal(r[i].err, LMM_OK); /* every step answered */
    assert_int_equal(r[i].update_result, 9);
    assert_int_equal(r[i].bytes_written, 0);
    assert_non_null(strstr(r[i].error, "unsupported protocol"));
  }
  const lmm_fw_report *x = &r[sn];
  print_message("no-fw member: %s\n", x->error);
  assert_false(x->ok);
  assert_true(x->pulled);
  assert_int_equal(x->stage, LMM_FW_STAGE_WRITE);
  assert_int_equal(x->err, LMM_ERR_COAP);
  assert_int_equal(x->coap_code, 0x84);
  assert_non_null(strstr(x->error, "write /5/0/1"));
  lmm_fw_free(j);

  lmm_blob_server_free(srv);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  lmm_members_free(sm, sn);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* Auto: each member by its Delivery Method (read here too, to know what to expect). Both
 * preferences on the same fleet, so "both" (2) goes one way, then the other. */
static void test_auto(void **state) {
  (void)state;
  enum { N = 10, LEN = 64 * 1024 };
  lmmt_sim sim;
  const char *extra[] = {"--count", "10", "--object", "5", "--update-ms", "10", NULL};
  assert_int_equal(lmmt_sim_start(&sim, extra), 0);
  char why[200];
  lmm_member *sm = NULL;
  size_t sn = 0;
  assert_int_equal(lmm_members_load(sim.members_path, &sm, &sn, why, sizeof why), LMM_OK);
  assert_int_equal(sn, N);
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  lmm_blob_server *srv;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &srv), LMM_OK);
  int dm[N];
  read_delivery_methods(u, sm, sn, dm);
  print_message("device 0 Delivery Method: %d\n", dm[0]);
  uint8_t *image = make_image(LEN);
  char digest[65];
  sha256_hex(image, LEN, digest);

  for (int prefer_push = 0; prefer_push <= 1; prefer_push++) {
    lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
    cfg.poll_interval_ms = 50;
    cfg.download_deadline_ms = 20000;
    cfg.delivery = LMM_FW_AUTO;
    cfg.prefer_push = prefer_push;
    cfg.server = srv;
    counts c = {.order_ok = true, .n = sn};
    lmm_fw_job *j;
    assert_int_equal(lmm_fw_new(ctx, u, &cfg, sm, sn, image, LEN, &handlers, &c, &j), LMM_OK);
    assert_int_equal(lmm_fw_start(j), LMM_OK);
    assert_int_equal(lmm_fw_wait(j, 40000), LMM_OK);
    size_t rn;
    const lmm_fw_report *r = lmm_fw_reports(j, &rn);
    for (size_t i = 0; i < rn; i++) {
      print_failure(&r[i]);
      bool want_pull = dm[i] == 0 || (dm[i] != 1 && !prefer_push);
      assert_int_equal(r[i].pulled, want_pull);
      assert_true(r[i].ok);
      assert_int_equal(r[i].bytes_written, LEN);
      assert_true(r[i].attempts >= 5); /* /5/0/9, write, State, Execute, Result */
    }
    lmm_fw_free(j);
    check_pkg_versions(u, sm, sn, digest);
  }
  free(image);
  lmm_blob_server_free(srv);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(sm, sn);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

static void test_pull_args(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  lmm_blob_server *srv;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &srv), LMM_OK);
  uint8_t img[4] = {1, 2, 3, 4};
  char long_uri[300];
  memset(long_uri, 'a', sizeof long_uri - 1);
  long_uri[sizeof long_uri - 1] = '\0';
  lmm_fw_job *j = NULL;
  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.delivery = LMM_FW_PULL; /* neither a server nor a URI */
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.delivery = LMM_FW_AUTO;
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.server = srv, cfg.pull_uri = "coap://127.0.0.1:5683/fw"; /* both */
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.server = NULL, cfg.pull_uri = "";
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.pull_uri = long_uri;
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.pull_uri = "coap://127.0.0.1:5683/fw"; /* auto may push: it needs the image */
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, NULL, 0, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.delivery = (lmm_fw_delivery)7;
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, NULL, NULL, &j), LMM_ERR_ARG);
  cfg.delivery = LMM_FW_PUSH; /* push ignores the pull settings, and needs the image */
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, NULL, 0, NULL, NULL, &j), LMM_ERR_ARG);
  assert_null(j);
  /* The job registers its image on the server at once and removes it when freed. */
  cfg = (lmm_fw_config)LMM_FW_CONFIG_DEFAULT;
  cfg.delivery = LMM_FW_PULL;
  cfg.server = srv;
  counts c = {.order_ok = true};
  assert_int_equal(lmm_fw_new(ctx, u, &cfg, NULL, 0, img, 4, &handlers, &c, &j), LMM_OK);
  lmm_fw_free(j);
  /* Zeroed new fields (a config written before pull existed) mean push. */
  lmm_fw_config old = {
      .poll_interval_ms = 200, .download_deadline_ms = 1000, .update_deadline_ms = 1000};
  assert_int_equal(lmm_fw_new(ctx, u, &old, NULL, 0, img, 4, NULL, NULL, &j), LMM_OK);
  lmm_fw_free(j);
  lmm_blob_server_free(srv);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_args_and_texts),
      cmocka_unit_test(test_push_100),
      cmocka_unit_test(test_free_midway),
      cmocka_unit_test(test_pull_args),
      cmocka_unit_test(test_pull_fails_fast),
      cmocka_unit_test(test_pull_100),
      cmocka_unit_test(test_auto),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
