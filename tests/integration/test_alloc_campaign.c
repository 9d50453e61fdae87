/* test_alloc_campaign.c - an operation campaign with the k-th allocation failing, for every
 * k, against the real t8-mock and simulated devices: lmm_campaign_new() with a store fails
 * whole and stores nothing; lmm_campaign_start() up to its first network step (the T8 TMGI
 * request) either ends the campaign failed, recorded so in the store, or runs it whole. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmmt.h"
#include "lmmt_alloc.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV 5

typedef struct world {
  lmmt_mock mock;
  lmmt_sim sim;
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
  lmm_answers *ans;
  lmm_store *store;
  char dbdir[64];
  lmm_member *m;
  size_t n;
  lmm_campaign *c; /* the one the notifier's deliveries are for */
  lmm_group_info g;
  size_t n_campaigns; /* what the store holds */
} world;

static void on_delivery(void *user, const char *txn, bool delivered) {
  world *w = user;
  if (w->c) lmm_campaign_t8_notified(w->c, txn, delivered);
}

static const lmm_t8_notifier_handlers nh = {on_delivery, NULL};

static int setup(void **state) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  int bp = lmmt_random_port();
  char port[16], count[16];
  snprintf(port, sizeof port, "%d", bp);
  snprintf(count, sizeof count, "%d", N_DEV);
  assert_int_equal(lmmt_mock_start(&w->mock, (const char *[]){"--bearer-port", port, NULL}), 0);
  assert_int_equal(lmmt_sim_start(&w->sim, (const char *[]){"--count", count, "--object", "6",
                                                            "--seed", "9", NULL}),
                   0);
  char why[256];
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.ack_timeout_ms = 1000, ucfg.max_retransmit = 2, ucfg.member_deadline_ms = 20000;
  assert_int_equal(lmm_unicast_new(w->ctx, &ucfg, &w->u), LMM_OK);
  lmm_t8_config tcfg = LMM_T8_CONFIG_DEFAULT;
  tcfg.api_root = w->mock.api_root, tcfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(w->ctx, &tcfg, &w->t8), LMM_OK);
  assert_int_equal(lmm_t8_notifier_new(w->ctx, NULL, &nh, w, &w->nt), LMM_OK);
  lmm_t8_client_attach_notifier(w->t8, w->nt);
  assert_int_equal(lmm_answers_new(w->ctx, NULL, &w->ans), LMM_OK);
  assert_non_null(w->store = lmmt_store_open(w->ctx, w->dbdir));
  /* Released at each campaign's end: every start allocates a TMGI, its first network step. */
  w->g = (lmm_group_info){.name = "building-7",
                          .type = LMM_GROUP_MBMS,
                          .gm_oid = LMM_GROUP_MGMT_OID,
                          .external_group_id = "building7@operator.example",
                          .multicast_port = bp,
                          .response_time_window = 1,
                          .tmgi_policy = LMM_TMGI_RELEASE};
  assert_int_equal(lmm_store_group_create(w->store, &w->g), LMM_OK);
  assert_int_equal(lmm_store_members_add(w->store, w->g.name, w->m, w->n), LMM_OK);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  world *w = *state;
  assert_int_equal(lmmt_store_remove(w->store, w->dbdir), 0);
  lmm_answers_free(w->ans);
  lmm_t8_client_free(w->t8);
  lmm_t8_notifier_free(w->nt);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
  assert_int_equal(lmmt_sim_stop(&w->sim), 0);
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
  free(w);
  return 0;
}

static size_t stored_campaigns(world *w) {
  lmm_campaign_info *list;
  size_t n;
  assert_int_equal(lmm_store_campaign_list(w->store, NULL, &list, &n), LMM_OK);
  lmm_campaign_info_list_free(list, n);
  return n;
}

static lmm_campaign_config config_of(world *w, const lmm_op *op) {
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = &w->g, cfg.members = w->m, cfg.n_members = w->n;
  cfg.op = *op;
  cfg.grace_ms = 500;
  return cfg;
}

static lmm_err campaign_new(world *w, const lmm_campaign_config *cfg) {
  lmm_campaign_deps deps = {w->ctx, w->u, w->t8, w->ans, w->store};
  return lmm_campaign_new(&deps, cfg, NULL, NULL, &w->c);
}

/* The stored row of a new campaign is the whole of what it was made from. */
static void stored_whole(world *w, const lmm_op *op) {
  const lmm_campaign_info *info = lmm_campaign_get_info(w->c);
  lmm_campaign_info got = {0};
  assert_true(info->id > 0);
  assert_int_equal(lmm_store_campaign_get(w->store, info->id, &got), LMM_OK);
  assert_string_equal(got.group, w->g.name);
  assert_int_equal(got.state, LMM_CS_CREATED);
  char path[32];
  assert_string_equal(got.op_path, lmm_path_format(&op->path, path, sizeof path));
  assert_int_equal(got.op_len, op->len);
  if (op->len) assert_memory_equal(got.op_payload, op->payload, op->len);
  if (op->query)
    assert_string_equal(got.op_query, op->query);
  else
    assert_null(got.op_query);
  lmm_campaign_info_clear(&got);
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(w->store, info->id, &o, &n), LMM_OK);
  assert_int_equal(n, N_DEV);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(o[i].ep, w->m[i].ep);
  lmm_outcome_list_free(o, n);
}

static void campaign_gone(world *w) {
  lmm_campaign_free(w->c);
  w->c = NULL;
  w->n_campaigns = stored_campaigns(w);
}

/* Made from its config: fails with nothing stored and nothing handed out, or is whole. */
static void test_new(void **state) {
  world *w = *state;
  static const uint8_t text[] = "Europe/Helsinki";
  lmm_op write = LMM_OP_INIT, attrs = LMM_OP_INIT;
  write.kind = LMM_OPK_WRITE, write.format = LMM_FMT_TEXT;
  write.payload = text, write.len = sizeof text - 1;
  lmm_path_parse("/3/0/15", &write.path);
  attrs.kind = LMM_OPK_WRITE_ATTR, attrs.query = "pmin=10&pmax=60";
  lmm_path_parse("/6/0/0", &attrs.path);
  const lmm_op *ops[] = {&write, &attrs};
  w->n_campaigns = stored_campaigns(w);
  for (size_t i = 0; i < 2; i++) {
    lmm_campaign_config cfg = config_of(w, ops[i]);
    long points;
    LMMT_FOR_EVERY_ALLOC_FAILURE(
        &points, campaign_new(w, &cfg), r_ == LMM_ERR_NOMEM || r_ == LMM_ERR_DB,
        (assert_null(w->c), assert_int_equal(stored_campaigns(w), w->n_campaigns)),
        stored_whole(w, ops[i]), campaign_gone(w));
    print_message("  campaign new (%s): %ld failure points\n", i ? "write-attributes" : "write",
                  points);
  }
}

/* Started with the k-th allocation failing: start itself succeeds (its contract), and the
 * campaign either fails, and says so in the store, or runs whole. */
static void test_start(void **state) {
  world *w = *state;
  lmm_op read = LMM_OP_INIT;
  lmm_path_parse("/6/0/0", &read.path);
  read.accept = LMM_FMT_TEXT;
  lmm_campaign_config cfg = config_of(w, &read);
  long k = 0, failed_runs = 0;
  for (;; k++) {
    assert_true(k < 10000);
    assert_int_equal(campaign_new(w, &cfg), LMM_OK);
    lmmt_alloc_fail_at(k);
    lmm_err rc = lmm_campaign_start(w->c);
    bool failed = lmmt_alloc_disarm();
    assert_int_equal(rc, LMM_OK);
    assert_int_equal(lmm_campaign_wait(w->c, 60000), LMM_OK);
    const lmm_campaign_info *info = lmm_campaign_get_info(w->c);
    lmm_campaign_info got = {0};
    assert_int_equal(lmm_store_campaign_get(w->store, info->id, &got), LMM_OK);
    assert_int_equal(got.state, info->state);
    if (info->state == LMM_CS_FAILED) {
      if (!failed) fail_msg("k=%ld: failed with no failure injected: %s", k, info->error);
      assert_non_null(info->error);
      assert_non_null(got.error);
      assert_string_equal(got.error, info->error);
      failed_runs++;
    } else {
      assert_int_equal(info->state, LMM_CS_DONE);
      lmm_outcome *o;
      size_t n;
      assert_int_equal(lmm_store_outcomes_get(w->store, info->id, &o, &n), LMM_OK);
      assert_int_equal(n, N_DEV);
      for (size_t i = 0; i < n; i++)
        if (!o[i].done || o[i].coap_code != 0x45)
          fail_msg("k=%ld: member %zu: done %d code %d.%02d: %s", k, i, o[i].done,
                   o[i].coap_code >> 5, o[i].coap_code & 31, o[i].error ? o[i].error : "");
      lmm_outcome_list_free(o, n);
    }
    /* Whichever way it ended, the TMGI went back: the group holds none. */
    lmm_group_info g = {0};
    assert_int_equal(lmm_store_group_get(w->store, w->g.name, &g), LMM_OK);
    assert_null(g.tmgi);
    lmm_group_info_clear(&g);
    lmm_campaign_info_clear(&got);
    lmm_campaign_free(w->c);
    w->c = NULL;
    if (!failed) break;
  }
  print_message("  campaign start: %ld failure points, %ld of them fail the campaign\n", k,
                failed_runs);
}

int main(void) {
  if (lmmt_alloc_install() != 0) {
    fprintf(stderr, "test_alloc_campaign: cannot install the allocator\n");
    return 1;
  }
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new),
      cmocka_unit_test(test_start),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  lmm_global_cleanup();
  lmmt_alloc_uninstall();
  return rc;
}
