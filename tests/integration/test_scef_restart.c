/* test_scef_restart.c - the SCEF goes away in the middle of an MBMS campaign (t8-mock killed
 * with SIGKILL once the TMGI is allocated and the Group Mgmt objects written, just as the group
 * message is to go): started again on its port within the T8 client's retry budget, the
 * campaign completes; never back, the campaign ends in bounded time with an error naming the
 * SCEF, and the store keeps every outcome recorded before. Killed in the answer window, the
 * campaign needs the SCEF no more: it completes, and only the TMGI's release fails. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmmt.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV 40

typedef struct world {
  lmmt_mock mock;
  lmmt_sim sim;
  int bearer;
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
  lmm_answers *ans;
  lmm_store *store;
  char dbdir[64];
  lmm_member *m;
  size_t n;
  lmm_campaign *c;
  lmm_campaign_state kill_at; /* the state whose entry kills the mock */
  size_t kill_after;          /* ... once this many members have an outcome */
  size_t n_done;
  bool killed, finished;
  int64_t killed_ms;
} world;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_mock(world *w) {
  if (w->killed) return;
  lmmt_mock_kill(&w->mock);
  w->killed = true, w->killed_ms = mono_ms();
}

static void on_delivery(void *user, const char *txn, bool delivered) {
  world *w = user;
  if (w->c) lmm_campaign_t8_notified(w->c, txn, delivered);
}

static const lmm_t8_notifier_handlers nh = {on_delivery, NULL};

static void on_state(void *user, lmm_campaign_state st) {
  world *w = user;
  if (st == w->kill_at && !w->kill_after) kill_mock(w);
}

static void on_member(void *user, size_t i, const lmm_outcome *o) {
  world *w = user;
  (void)i, (void)o;
  if (++w->n_done == w->kill_after) kill_mock(w);
}

static void on_done(void *user, lmm_campaign *c, lmm_err rc) {
  (void)c, (void)rc;
  ((world *)user)->finished = true;
}

static const lmm_campaign_handlers ch = {on_member, on_state, on_done};

/* A world whose T8 client retries as `retries`, `base_ms` and `max_ms` say (lmm_t8_config). */
static void world_up(world *w, int retries, long base_ms, long max_ms) {
  memset(w, 0, sizeof *w);
  char bport[16], count[16];
  w->bearer = lmmt_random_port();
  snprintf(bport, sizeof bport, "%d", w->bearer);
  snprintf(count, sizeof count, "%d", N_DEV);
  assert_int_equal(lmmt_mock_start_kept(&w->mock, (const char *[]){"--bearer-port", bport, NULL}),
                   0);
  assert_int_equal(lmmt_sim_start(&w->sim, (const char *[]){"--count", count, "--object", "6",
                                                            "--seed", "4", NULL}),
                   0);
  char why[256];
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.member_deadline_ms = 20000;
  assert_int_equal(lmm_unicast_new(w->ctx, &ucfg, &w->u), LMM_OK);
  lmm_t8_config tcfg = LMM_T8_CONFIG_DEFAULT;
  tcfg.api_root = w->mock.api_root, tcfg.scs_as_id = "as1";
  tcfg.max_retries = retries, tcfg.retry_base_ms = base_ms, tcfg.retry_max_ms = max_ms;
  assert_int_equal(lmm_t8_client_new(w->ctx, &tcfg, &w->t8), LMM_OK);
  assert_int_equal(lmm_t8_notifier_new(w->ctx, NULL, &nh, w, &w->nt), LMM_OK);
  lmm_t8_client_attach_notifier(w->t8, w->nt);
  assert_int_equal(lmm_answers_new(w->ctx, NULL, &w->ans), LMM_OK);
  assert_non_null(w->store = lmmt_store_open(w->ctx, w->dbdir));
}

static void world_down(world *w) {
  lmm_campaign_free(w->c);
  assert_int_equal(lmmt_store_remove(w->store, w->dbdir), 0);
  lmm_answers_free(w->ans);
  lmm_t8_client_free(w->t8);
  lmm_t8_notifier_free(w->nt);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
  assert_int_equal(lmmt_sim_stop(&w->sim), 0);
  lmmt_mock_stop(&w->mock); /* killed, or the restarted one */
}

/* Starts the group Read of /6/0/0 on an MBMS group with TMGI policy `policy`. */
static void start_read(world *w, lmm_tmgi_policy policy) {
  char port[16];
  snprintf(port, sizeof port, "%d", w->bearer);
  lmm_group_info g = {.name = "scef-restart",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "scef-restart@operator.example",
                      .multicast_port = w->bearer,
                      .response_time_window = 3,
                      .tmgi_policy = policy};
  assert_int_equal(lmm_store_group_create(w->store, &g), LMM_OK);
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = w->m, cfg.n_members = w->n;
  cfg.op.kind = LMM_OPK_READ;
  lmm_path_parse("/6/0/0", &cfg.op.path);
  cfg.op.accept = LMM_FMT_TEXT;
  cfg.window_s = 3;
  cfg.grace_ms = 3000;
  lmm_campaign_deps deps = {w->ctx, w->u, w->t8, w->ans, w->store};
  assert_int_equal(lmm_campaign_new(&deps, &cfg, &ch, w, &w->c), LMM_OK);
  assert_int_equal(lmm_campaign_start(w->c), LMM_OK);
}

/* Runs the loop until the campaign ends (at most `bound_ms`), starting the killed mock again
 * `restart_ms` after its death (-1: never). Returns how long it took from the kill. */
static int64_t run_until_done(world *w, long bound_ms, long restart_ms) {
  int64_t end = mono_ms() + bound_ms;
  bool restarted = false;
  while (!w->finished && mono_ms() < end) {
    assert_int_equal(lmm_ctx_run_once(w->ctx, 50), LMM_OK);
    if (w->killed && !restarted && restart_ms >= 0 && mono_ms() - w->killed_ms >= restart_ms) {
      char bport[16];
      snprintf(bport, sizeof bport, "%d", w->bearer);
      assert_int_equal(lmmt_mock_restart(&w->mock, (const char *[]){"--bearer-port", bport, NULL}),
                       0);
      restarted = true;
    }
  }
  assert_true(w->finished);
  assert_true(w->killed);
  return mono_ms() - w->killed_ms;
}

/* The stored campaign and outcomes: state, and members with their Group Mgmt write and with a
 * 2.05 answer. */
static void stored(world *w, lmm_campaign_state *st, size_t *gm, size_t *read) {
  int64_t id = lmm_campaign_get_info(w->c)->id;
  lmm_campaign_info ci;
  memset(&ci, 0, sizeof ci);
  assert_int_equal(lmm_store_campaign_get(w->store, id, &ci), LMM_OK);
  *st = ci.state;
  lmm_campaign_info_clear(&ci);
  lmm_outcome *o = NULL;
  size_t n = 0;
  assert_int_equal(lmm_store_outcomes_get(w->store, id, &o, &n), LMM_OK);
  assert_int_equal(n, N_DEV);
  *gm = *read = 0;
  for (size_t i = 0; i < n; i++)
    *gm += o[i].gm_written, *read += o[i].done && o[i].coap_code == 0x45;
  lmm_outcome_list_free(o, n);
}

static void test_scef_back_within_retries(void **state) {
  (void)state;
  world w;
  /* Back-offs of at least 100, 200, 400 and then 500 ms: over 9 s before the budget is
   * spent, against a restart 800 ms after the kill (the restart itself may be slow on a
   * loaded machine; the campaign goes on as soon as the SCEF answers). */
  world_up(&w, 20, 200, 1000);
  w.kill_at = LMM_CS_DELIVERING;
  start_read(&w, LMM_TMGI_KEEP);
  run_until_done(&w, 60000, 800);
  const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
  if (info->state != LMM_CS_DONE) fail_msg("campaign failed: %s", info->error ? info->error : "");
  /* The group message reached the restarted SCEF, on the TMGI it had allocated before. */
  assert_int_equal(lmmt_log_count(&w.mock, "tmgi_restored", NULL), 1);
  assert_true(lmmt_log_count(&w.mock, "delivery_created", NULL) >= 1);
  size_t n, by_group = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(w.c, &n);
  for (size_t i = 0; i < n; i++)
    by_group += o[i].via == LMM_VIA_MBMS && o[i].coap_code == 0x45;
  lmm_campaign_state st;
  size_t gm, read;
  stored(&w, &st, &gm, &read);
  printf("SCEF back after 800 ms: %zu of %d read over MBMS; stored: %zu Group Mgmt writes, %zu "
         "reads\n",
         by_group, N_DEV, gm, read);
  assert_int_equal(st, LMM_CS_DONE);
  assert_int_equal(gm, N_DEV);
  assert_int_equal(read, N_DEV);
  assert_int_equal(by_group, N_DEV);
  world_down(&w);
}

static void test_scef_never_back(void **state) {
  (void)state;
  world w;
  world_up(&w, 4, 200, 30000); /* the defaults: five attempts, at most 3 s of back-off */
  w.kill_at = LMM_CS_DELIVERING;
  start_read(&w, LMM_TMGI_KEEP);
  int64_t took = run_until_done(&w, 60000, -1);
  const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
  printf("SCEF gone: campaign ended %lld ms after the kill: %s\n", (long long)took,
         info->error ? info->error : "(no error)");
  assert_int_equal(info->state, LMM_CS_FAILED);
  assert_non_null(info->error);
  assert_non_null(strstr(info->error, "SCEF"));
  assert_non_null(strstr(info->error, w.mock.api_root));
  assert_non_null(strstr(info->error, "after 5 attempts"));
  assert_true(took < 20000);
  /* What was recorded before the SCEF went (every member's Group Mgmt write) is still there,
   * with the campaign's end. */
  lmm_campaign_state st;
  size_t gm, read;
  stored(&w, &st, &gm, &read);
  assert_int_equal(st, LMM_CS_FAILED);
  assert_int_equal(gm, N_DEV);
  assert_int_equal(read, 0);
  world_down(&w);
}

static void test_scef_gone_in_window(void **state) {
  (void)state;
  world w;
  world_up(&w, 4, 200, 30000);
  w.kill_after = N_DEV / 4; /* some members have answered */
  start_read(&w, LMM_TMGI_RELEASE);
  int64_t took = run_until_done(&w, 60000, -1);
  const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
  printf("SCEF gone in the window: campaign ended %lld ms after the kill, state %d, TMGI end "
         "%d\n",
         (long long)took, info->state, info->tmgi_end);
  /* The answers come from the members, not through the SCEF: the campaign completes, and
   * only the T8 DELETE of the TMGI fails (retried, then left to expire). */
  assert_int_equal(info->state, LMM_CS_DONE);
  assert_int_equal(info->tmgi_end, LMM_TMGI_END_RELEASE_FAILED);
  lmm_campaign_state st;
  size_t gm, read;
  stored(&w, &st, &gm, &read);
  assert_int_equal(st, LMM_CS_DONE);
  assert_int_equal(gm, N_DEV);
  assert_int_equal(read, N_DEV);
  world_down(&w);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_scef_back_within_retries),
                                     cmocka_unit_test(test_scef_never_back),
                                     cmocka_unit_test(test_scef_gone_in_window)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
