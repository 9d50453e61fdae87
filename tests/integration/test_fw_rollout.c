/* test_fw_rollout.c - firmware campaigns, the other paths and the rollout: 1 MiB to 500
 * simulated devices by unicast push and pull; a corrupted download, a reboot mid-transfer and a
 * refused update, each with its own result while the rest of the group updates; a first wave
 * that stops the campaign at its error threshold, one that lets it go on; cancel; settings
 * refused before anything starts. */
#include "fw_world.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

static void test_unicast_push_500(void **state) {
  (void)state;
  all_updated_by(LMM_GROUP_UNICAST, LMM_FWC_PUSH, 500, "0", 0, 1);
}

static void test_unicast_pull_500(void **state) {
  (void)state;
  all_updated_by(LMM_GROUP_UNICAST, LMM_FWC_PULL, 500, "0", 0, 1);
}

static void test_failures(void **state) {
  (void)state;
  world w;
  /* Device 3's storage corrupts, 7 reboots mid-transfer, 11 refuses the update. */
  world_up(&w, 40, "0.05",
           (const char *[]){"--fw-corrupt", "3", "--fw-reboot", "7", "--fw-refuse", "11", NULL});
  uint8_t *image = make_image(256 * 1024, 2);
  char digest[65];
  sha256_hex(image, 256 * 1024, digest);
  run r = {.type = LMM_GROUP_MULTICAST, .window_s = 1};
  int64_t t0 = mono_ms();
  start_fw(&w, &r, image, 256 * 1024);
  free(image);
  assert_int_equal(lmm_fwc_wait(w.c, 120000), LMM_OK);
  print_stats("failures", &w, mono_ms() - t0);
  size_t n;
  const lmm_fwc_member *m = lmm_fwc_members(w.c, &n);
  for (size_t i = 0; i < n; i++) {
    if (i == 3) {
      assert_int_equal(m[i].end, LMM_FWC_FAILED);
      assert_int_equal(m[i].update_result, 5);
      assert_non_null(strstr(m[i].error, "integrity"));
    } else if (i == 11) {
      assert_int_equal(m[i].end, LMM_FWC_FAILED);
      assert_int_equal(m[i].update_result, 8);
    } else {
      if (m[i].end != LMM_FWC_UPDATED)
        print_message("%zu %s: %s\n", i, m[i].member->ep, m[i].error ? m[i].error : "");
      assert_int_equal(m[i].end, LMM_FWC_UPDATED);
      assert_int_equal(m[i].update_result, 1);
    }
  }
  /* The rebooted device lost its partial download: repair brought much of it by unicast. */
  assert_true(m[7].fragments_repaired > 0);
  bool match[40];
  assert_int_equal(check_pkg(&w, digest, match), 39); /* 3 holds no package; 11 has it */
  assert_false(match[3]);
  assert_true(match[11]);
  world_down(&w);
}

/* A first wave of 5 with one refusal crosses an error threshold of 10 %: the rest is held. */
static void test_wave_stops(void **state) {
  (void)state;
  world w;
  world_up(&w, 30, "0", (const char *[]){"--fw-refuse", "2", NULL});
  uint8_t *image = make_image(64 * 1024, 3);
  run r = {.type = LMM_GROUP_MULTICAST, .window_s = 1, .wave = 5, .err_threshold = 0.1};
  int64_t t0 = mono_ms();
  start_fw(&w, &r, image, 64 * 1024);
  free(image);
  assert_int_equal(lmm_fwc_wait(w.c, 60000), LMM_OK);
  print_stats("wave", &w, mono_ms() - t0);
  lmm_fwc_stats st;
  lmm_fwc_get_stats(w.c, &st);
  assert_int_equal(st.phase, LMM_FWC_P_STOPPED);
  assert_int_equal(st.updated, 4);
  assert_int_equal(st.failed, 1);
  assert_int_equal(st.held, 25);
  size_t n;
  const lmm_fwc_member *m = lmm_fwc_members(w.c, &n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(m[i].wave, i < 5);
    if (i >= 5) {
      assert_int_equal(m[i].end, LMM_FWC_HELD);
      assert_int_equal(m[i].state, 2); /* downloaded, not updated */
    }
  }
  assert_non_null(lmm_fwc_error(w.c));
  world_down(&w);
}

/* With a passing wave the rest follows by the group update. */
static void gm_member(void *user, const lmm_member_result *r) {
  pkg_check *pc = user;
  pc->n++;
  pc->matched += r->err == LMM_OK && r->coap_code == 0x45;
}

static const lmm_batch_handlers gm_handlers = {NULL, gm_member, NULL, pkg_done};

/* PkgName (/5/0/6) equal to the version announced with the blob (start_fw's). */
static void name_member(void *user, const lmm_member_result *r) {
  pkg_check *pc = user;
  static const char want[] = "2.1.0+fleet";
  pc->n++;
  pc->matched += r->err == LMM_OK && r->coap_code == 0x45 && r->payload_len == sizeof want - 1 &&
                 !memcmp(r->payload, want, sizeof want - 1);
}

static const lmm_batch_handlers name_handlers = {NULL, name_member, NULL, pkg_done};

static void test_wave_passes(void **state) {
  (void)state;
  world w;
  world_up(&w, 30, "0", NULL);
  uint8_t *image = make_image(64 * 1024, 4);
  run r = {.type = LMM_GROUP_MBMS, .window_s = 1, .wave = 3};
  start_fw(&w, &r, image, 64 * 1024);
  free(image);
  assert_int_equal(lmm_fwc_wait(w.c, 60000), LMM_OK);
  lmm_fwc_stats st;
  lmm_fwc_get_stats(w.c, &st);
  assert_int_equal(st.phase, LMM_FWC_P_DONE);
  assert_int_equal(st.updated, 30);
  bool saw_wave = false, saw_updating = false;
  for (size_t i = 0; i < w.n_phases; i++)
    saw_wave |= w.phases[i] == LMM_FWC_P_WAVE, saw_updating |= w.phases[i] == LMM_FWC_P_UPDATING;
  assert_true(saw_wave && saw_updating);
  /* The group's own Group Mgmt instance (2) was written, not instance 0. */
  pkg_check pc = {.want = NULL};
  bool seen[30];
  pc.match = seen;
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = LMM_GROUP_MGMT_OID, .iid = 2, .depth = 2};
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(w.u, w.m, w.n, &op, LMM_GROUP_MGMT_OID, &gm_handlers, &pc, &b),
                   LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 20000), LMM_OK);
  lmm_batch_free(b);
  assert_int_equal(pc.matched, 30);
  /* Every device shows the version announced with the package. */
  pc = (pkg_check){.match = seen};
  op.path = (lmm_path){.oid = 5, .iid = 0, .rid = 6, .depth = 3};
  assert_int_equal(lmm_batch_start(w.u, w.m, w.n, &op, 0xFFFF, &name_handlers, &pc, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 20000), LMM_OK);
  lmm_batch_free(b);
  assert_int_equal(pc.matched, 30);
  world_down(&w);
}

/* A cancel while the fragments go out: nothing is updated, every member says cancelled. */
static void cancel_on_sending(void *user, lmm_fwc_phase phase) {
  world *w = user;
  h_phase(user, phase);
  if (phase == LMM_FWC_P_SENDING) lmm_fwc_cancel(w->c);
}

static void test_cancel(void **state) {
  (void)state;
  world w;
  world_up(&w, 20, "0", NULL);
  uint8_t *image = make_image(256 * 1024, 5);
  static const lmm_fwc_handlers ch = {h_member, cancel_on_sending, h_done};
  lmm_group_info g = {.name = "c",
                      .type = LMM_GROUP_MULTICAST,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .multicast_address = "239.77.5.2",
                      .multicast_port = lmmt_random_port(),
                      .response_time_window = 1};
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = w.m, cfg.n_members = w.n, cfg.image = image;
  cfg.len = 256 * 1024;
  cfg.rate_bps = 100000; /* slow: the cancel lands while fragments are still going out */
  lmm_fwc_deps deps = {w.ctx, w.u, w.t8, w.ans, NULL, w.store};
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &ch, &w, &w.c), LMM_OK);
  free(image);
  assert_int_equal(lmm_fwc_start(w.c), LMM_OK);
  assert_int_equal(lmm_fwc_wait(w.c, 30000), LMM_OK);
  lmm_fwc_stats st;
  lmm_fwc_get_stats(w.c, &st);
  assert_int_equal(st.phase, LMM_FWC_P_CANCELLED);
  assert_int_equal(st.cancelled, 20);
  assert_true(st.fragments_sent < 512);
  assert_int_equal(w.on_done, 1);
  world_down(&w);
}

/* A group with a Schedule: the blob waits for it (members in power saving wake then). */
static int64_t g_sending_at;

static void note_sending(void *user, lmm_fwc_phase phase) {
  h_phase(user, phase);
  if (phase == LMM_FWC_P_SENDING) g_sending_at = mono_ms();
}

static void test_schedule(void **state) {
  (void)state;
  world w;
  world_up(&w, 10, "0", NULL);
  uint8_t *image = make_image(64 * 1024, 6);
  static const lmm_fwc_handlers sh = {h_member, note_sending, h_done};
  int64_t at = (int64_t)time(NULL) + 3;
  lmm_group_info g = {.name = "s",
                      .type = LMM_GROUP_MULTICAST,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .multicast_address = "239.77.5.3",
                      .multicast_port = lmmt_random_port(),
                      .response_time_window = 1,
                      .schedule = &at,
                      .n_schedule = 1};
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = w.m, cfg.n_members = w.n, cfg.image = image;
  cfg.len = 64 * 1024, cfg.rate_bps = 4000000, cfg.grace_ms = 300, cfg.update_wait_ms = 200;
  lmm_fwc_deps deps = {w.ctx, w.u, w.t8, w.ans, NULL, w.store};
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &sh, &w, &w.c), LMM_OK);
  free(image);
  g_sending_at = 0;
  assert_int_equal(lmm_fwc_start(w.c), LMM_OK);
  assert_int_equal(lmm_fwc_wait(w.c, 60000), LMM_OK);
  lmm_fwc_stats st;
  lmm_fwc_get_stats(w.c, &st);
  assert_int_equal(st.updated, 10);
  /* The fragments went out at the Schedule entry, not before (whole seconds: >= at - now). */
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  int64_t sent_wall_ms =
      (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 - (mono_ms() - g_sending_at);
  assert_true(g_sending_at > 0);
  assert_true(sent_wall_ms >= at * 1000 - 50);
  world_down(&w);
}

/* A device that answers every confirmable request with a success, and a status that is not
 * one: "s=banana". It never hears the group, so its status is asked by unicast. */
typedef struct garbler {
  int fd, port;
  volatile int stop;
  pthread_t th;
} garbler;

static void *garble(void *arg) {
  garbler *g = arg;
  uint8_t buf[2048], out[64];
  while (!g->stop) {
    struct pollfd p = {.fd = g->fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) continue;
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(g->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 4 || (buf[0] & 0x30) != 0) continue; /* CON requests only */
    size_t tkl = buf[0] & 0x0f;
    if ((size_t)n < 4 + tkl || tkl > 8) continue;
    static const char junk[] = "s=banana";
    size_t k = 0;
    out[k++] = (uint8_t)(0x60 | tkl); /* ACK */
    out[k++] = buf[1] == 1 ? 0x45 : 0x44;
    out[k++] = buf[2], out[k++] = buf[3];
    memcpy(out + k, buf + 4, tkl), k += tkl;
    if (buf[1] == 1) {
      out[k++] = 0xff;
      memcpy(out + k, junk, sizeof junk - 1), k += sizeof junk - 1;
    }
    sendto(g->fd, out, k, 0, (struct sockaddr *)&from, fl);
  }
  return NULL;
}

static void test_malformed_status(void **state) {
  (void)state;
  world w;
  world_up(&w, 8, "0", NULL);
  garbler g = {.fd = socket(AF_INET, SOCK_DGRAM, 0)};
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  assert_int_equal(bind(g.fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(g.fd, (struct sockaddr *)&a, &al), 0);
  assert_int_equal(pthread_create(&g.th, NULL, garble, &g), 0);
  char uri[48];
  snprintf(uri, sizeof uri, "coap://127.0.0.1:%d", ntohs(a.sin_port));
  lmm_member *m = realloc(w.m, (w.n + 1) * sizeof *m);
  assert_non_null(m);
  w.m = m;
  w.m[w.n++] = (lmm_member){.ep = strdup("garbler"), .oid = 5, .uri = strdup(uri)};
  uint8_t *image = make_image(16 * 1024, 7);
  run r = {.type = LMM_GROUP_MULTICAST, .window_s = 1};
  start_fw(&w, &r, image, 16 * 1024);
  free(image);
  assert_int_equal(lmm_fwc_wait(w.c, 60000), LMM_OK);
  size_t n;
  const lmm_fwc_member *mr = lmm_fwc_members(w.c, &n);
  for (size_t i = 0; i + 1 < n; i++)
    assert_int_equal(mr[i].end, LMM_FWC_UPDATED);
  assert_int_equal(mr[n - 1].end, LMM_FWC_FAILED);
  assert_int_equal(mr[n - 1].err, LMM_ERR_PROTO);
  assert_non_null(strstr(mr[n - 1].error, "unreadable status"));
  g.stop = 1;
  pthread_join(g.th, NULL);
  close(g.fd);
  world_down(&w);
}

/* Bad settings are refused before anything starts. */
static void test_refused_config(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  lmm_member m = {.ep = "a", .oid = 5, .uri = "coap://127.0.0.1:9"};
  lmm_group_info g = {.name = "g", .type = LMM_GROUP_MULTICAST, .multicast_address = "239.1.1.1"};
  uint8_t img[100] = {0};
  lmm_fwc_deps deps = {ctx, u, NULL, NULL, NULL, NULL};
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = &m, cfg.n_members = 1, cfg.image = img, cfg.len = sizeof img;
  lmm_fwc *c = NULL;
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_ERR_ARG); /* no answers */
  lmm_answers *a;
  assert_int_equal(lmm_answers_new(ctx, NULL, &a), LMM_OK);
  deps.answers = a;
  cfg.fragment_size = 8;
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_ERR_ARG);
  cfg.fragment_size = 512, cfg.len = 0;
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_ERR_ARG);
  cfg.len = sizeof img, cfg.error_threshold = 1.5;
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_ERR_ARG);
  cfg.error_threshold = 0, cfg.rate_bps = 0;
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_ERR_ARG);
  cfg.rate_bps = 1000, cfg.version = "2.0 beta";
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_ERR_ARG);
  cfg.version = "2.0-beta";
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, NULL, &c), LMM_OK);
  lmm_fwc_free(c);
  lmm_answers_free(a);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
}

int main(void) {
  lmm_global_init();
  /* TEST_FILTER=test_cancel (a glob) runs the matching tests only. */
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_config),   cmocka_unit_test(test_wave_stops),
      cmocka_unit_test(test_wave_passes),      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_schedule),         cmocka_unit_test(test_malformed_status),
      cmocka_unit_test(test_failures),         cmocka_unit_test(test_unicast_push_500),
      cmocka_unit_test(test_unicast_pull_500),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
