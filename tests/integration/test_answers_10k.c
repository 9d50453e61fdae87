/* test_answers_10k.c - 10,000 members answering one MBMS group Read within a Response Time
 * Window of 5 s: every answer reaches its member's outcome over the group path, none is lost
 * to a full receive buffer (the kernel's drop count on the answer socket stays 0), none needs
 * the unicast repair, and the store holds all 10,000 outcomes. Prints the figures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lmmt.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV  10000
#define WINDOW 5

typedef struct world {
  lmm_campaign *c;
  size_t on_member;
} world;

static void on_delivery(void *user, const char *txn, bool delivered) {
  world *w = user;
  if (w->c) lmm_campaign_t8_notified(w->c, txn, delivered);
}

static const lmm_t8_notifier_handlers nh = {on_delivery, NULL};

static void on_member(void *user, size_t index, const lmm_outcome *o) {
  (void)index, (void)o;
  ((world *)user)->on_member++;
}

static const lmm_campaign_handlers ch = {on_member, NULL, NULL};

/* The simulator's group counter `key` ("answers_sent", ...) from its stats JSON, or -1. */
static long sim_group_counter(const char *stats, const char *key) {
  cJSON *j = stats ? cJSON_Parse(stats) : NULL;
  cJSON *v =
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "totals"), "group"), key);
  long r = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
  cJSON_Delete(j);
  return r;
}

static void test_10k_answers_in_5s(void **state) {
  (void)state;
  lmmt_mock mock;
  lmmt_sim sim;
  char bport[16], count[16];
  int bearer = lmmt_random_port();
  snprintf(bport, sizeof bport, "%d", bearer);
  snprintf(count, sizeof count, "%d", N_DEV);
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bport, NULL}), 0);
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", count, "--object", "6",
                                                         "--seed", "5", NULL}),
                   0);
  lmm_member *m;
  size_t n;
  char why[256], dbdir[64];
  assert_int_equal(lmm_members_load(sim.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, N_DEV);

  world w = {0};
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
  lmm_answers *ans;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.max_in_flight = 64, ucfg.member_deadline_ms = 60000;
  assert_int_equal(lmm_unicast_new(ctx, &ucfg, &u), LMM_OK);
  lmm_t8_config tcfg = LMM_T8_CONFIG_DEFAULT;
  tcfg.api_root = mock.api_root, tcfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(ctx, &tcfg, &t8), LMM_OK);
  assert_int_equal(lmm_t8_notifier_new(ctx, NULL, &nh, &w, &nt), LMM_OK);
  lmm_t8_client_attach_notifier(t8, nt);
  assert_int_equal(lmm_answers_new(ctx, NULL, &ans), LMM_OK);
  lmm_store *store = lmmt_store_open(ctx, dbdir);
  assert_non_null(store);

  lmm_group_info g = {.name = "fleet-10k",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "fleet-10k@operator.example",
                      .multicast_port = bearer,
                      .response_time_window = WINDOW};
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = m, cfg.n_members = n;
  cfg.op.kind = LMM_OPK_READ;
  lmm_path_parse("/6/0/0", &cfg.op.path);
  cfg.op.accept = LMM_FMT_TEXT;
  cfg.window_s = WINDOW;
  /* The window ends early once everyone answered; a long grace only keeps a loaded machine's
   * late scheduling from sending answered members to the repair. */
  cfg.grace_ms = 15000;
  lmm_campaign_deps deps = {ctx, u, t8, ans, store};
  assert_int_equal(lmm_campaign_new(&deps, &cfg, &ch, &w, &w.c), LMM_OK);
  lmm_answers_stats a0, a1;
  lmm_answers_get_stats(ans, &a0);
  assert_int_equal(lmm_campaign_start(w.c), LMM_OK);
  assert_int_equal(lmm_campaign_wait(w.c, 240000), LMM_OK);
  lmm_answers_get_stats(ans, &a1);

  const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
  size_t got, by_group = 0, ok = 0, repaired = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(w.c, &got);
  for (size_t i = 0; i < got; i++) {
    by_group += o[i].via == LMM_VIA_MBMS;
    ok += o[i].done && o[i].err == LMM_OK && o[i].coap_code == 0x45;
    repaired += o[i].repaired;
  }
  int64_t id = info->id;
  char *stats = NULL;
  int sim_status = -1;
  lmm_campaign_free(w.c);
  w.c = NULL;
  /* What the store kept, read back after the campaign is gone. */
  lmm_outcome *so = NULL;
  size_t sn = 0, stored_done = 0;
  assert_int_equal(lmm_store_outcomes_get(store, id, &so, &sn), LMM_OK);
  for (size_t i = 0; i < sn; i++)
    stored_done += so[i].done && so[i].via == LMM_VIA_MBMS && so[i].coap_code == 0x45;
  lmm_outcome_list_free(so, sn);
  stats = lmmt_sim_stop_stats(&sim, &sim_status);

  printf("10k answers: %zu members, window %d s: %llu answers accepted, %zu over the group path, "
         "%zu repaired by unicast, %zu stored; duplicates %llu, late %llu; answer socket "
         "receive buffer %d bytes (kernel's figure), %llu datagrams dropped by the kernel; "
         "simulator: answers sent %ld, acknowledged %ld\n",
         got, WINDOW, (unsigned long long)(a1.accepted - a0.accepted), by_group, repaired,
         stored_done, (unsigned long long)(a1.duplicate - a0.duplicate),
         (unsigned long long)(a1.late - a0.late), a1.rcvbuf,
         (unsigned long long)(a1.rx_drops - a0.rx_drops), sim_group_counter(stats, "answers_sent"),
         sim_group_counter(stats, "answers_acked"));
  fflush(stdout);

  assert_int_equal(info ? 0 : 1, 0);
  assert_int_equal(got, N_DEV);
  assert_int_equal(a1.accepted - a0.accepted, N_DEV);
  assert_int_equal(by_group, N_DEV);
  assert_int_equal(ok, N_DEV);
  assert_int_equal(repaired, 0);
  assert_int_equal(stored_done, N_DEV);
  assert_int_equal(a1.rx_drops - a0.rx_drops, 0);
  assert_true(a1.rcvbuf > 0);
  assert_int_equal(sim_status, 0);
  assert_int_equal(sim_group_counter(stats, "answers_sent"), N_DEV);
  free(stats);

  assert_int_equal(lmmt_store_remove(store, dbdir), 0);
  lmm_answers_free(ans);
  lmm_t8_client_free(t8);
  lmm_t8_notifier_free(nt);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_10k_answers_in_5s)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
