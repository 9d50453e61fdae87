/* test_campaign.c - the whole flow against t8-mock and the simulated fleet: a group Read of
 * every member's Location over MBMS, IP multicast and unicast; repair after bearer loss; the
 * spread of answers over the window; the campaign kept in the store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV 200

static int64_t g_schedule; /* a Schedule entry for run_read's group, 0 for none */
static const lmm_campaign_handlers *g_handlers; /* run_read's campaign handlers, or NULL */
static size_t g_inline_max;    /* run_read's largest inline group message, 0: default */
static bool g_no_repair;       /* run_read's campaign leaves silent members */
static bool g_expect_failures; /* run_read does not require success */

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
  lmm_campaign *c;
  int notified;
} world;

static void on_delivery(void *user, const char *txn, bool delivered) {
  world *w = user;
  if (w->c && lmm_campaign_t8_notified(w->c, txn, delivered)) w->notified++;
}

static const lmm_t8_notifier_handlers nh = {on_delivery, NULL};

static void world_up_with(world *w, const char *const *mock_extra, const char *rx_loss,
                          int bearer_port) {
  memset(w, 0, sizeof *w);
  char port[16], count[16];
  snprintf(port, sizeof port, "%d", bearer_port);
  snprintf(count, sizeof count, "%d", N_DEV);
  const char *margs[24] = {"--bearer-port", port, "--seed", "3"};
  int k = 4;
  for (int i = 0; mock_extra && mock_extra[i] && k < 23; i++)
    margs[k++] = mock_extra[i];
  margs[k] = NULL;
  assert_int_equal(lmmt_mock_start(&w->mock, margs), 0);
  /* Per-device reception loss of group messages, only when asked for. */
  bool lossy = strcmp(rx_loss, "0") != 0;
  assert_int_equal(
      lmmt_sim_start(&w->sim,
                     (const char *[]){"--count", count, "--object", "6", "--tlv-every", "5",
                                      "--seed", "9", lossy ? "--group-loss" : NULL, rx_loss, NULL}),
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
}

static void world_up(world *w, const char *loss, const char *rx_loss, int bearer_port) {
  world_up_with(w, (const char *[]){"--loss", loss, NULL}, rx_loss, bearer_port);
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
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
}

/* Starts the group Read of /6/0/0 (latitude, as text) on group `g` with the world's engines,
 * honouring the g_* knobs. */
static void start_read(world *w, const lmm_group_info *g, lmm_store *store) {
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = g, cfg.members = w->m, cfg.n_members = w->n;
  cfg.op.kind = LMM_OPK_READ;
  lmm_path_parse("/6/0/0", &cfg.op.path);
  cfg.op.accept = LMM_FMT_TEXT;
  cfg.grace_ms = 1500;
  cfg.no_repair = g_no_repair;
  if (g_inline_max) cfg.inline_max = g_inline_max;
  lmm_campaign_deps deps = {w->ctx, w->u, w->t8, w->ans, store};
  assert_int_equal(lmm_campaign_new(&deps, &cfg, g_handlers, w, &w->c), LMM_OK);
  assert_int_equal(lmm_campaign_start(w->c), LMM_OK);
}

/* Members of the finished campaign that read their latitude over `via`. */
static size_t count_read_via(const world *w, lmm_path_kind via) {
  size_t n, k = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(w->c, &n);
  for (size_t i = 0; i < n; i++)
    k += o[i].via == via && o[i].coap_code == 0x45;
  return k;
}

/* A TMGI for the world's External Group ID, allocated directly on the mock. */
static void alloc_tmgi(world *w, lmm_tmgi_allocation *a) {
  lmm_tmgi_allocation req = {.external_group_id = "building7@operator.example"};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(w->t8, &req, a, &res), LMM_OK);
}

/* Runs a group Read of /6/0/0 (latitude) and checks every member's value. */
static void run_read(world *w, lmm_group_type type, int port, long window, size_t *by_via,
                     int *answer_quarter) {
  /* For MBMS, `port` is the mock's bearer port; for IP multicast, the group's port. */
  lmm_group_info g = {.name = "building-7",
                      .type = type,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "building7@operator.example",
                      .multicast_address = "239.77.1.2",
                      .multicast_port = port,
                      .response_time_window = window};
  if (g_schedule) g.schedule = &g_schedule, g.n_schedule = 1;
  assert_int_equal(lmm_store_group_create(w->store, &g), LMM_OK);
  assert_int_equal(lmm_store_members_add(w->store, g.name, w->m, w->n), LMM_OK);
  start_read(w, &g, w->store);
  assert_int_equal(lmm_campaign_wait(w->c, 120000), LMM_OK);
  const lmm_campaign_info *info = lmm_campaign_get_info(w->c);
  if (info->state != LMM_CS_DONE)
    fail_msg("campaign ended in state %d: %s", info->state, info->error ? info->error : "");
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(w->c, &n);
  assert_int_equal(n, N_DEV);
  for (size_t i = 0; i < n && g_expect_failures; i++)
    by_via[o[i].via]++;
  for (size_t i = 0; i < n && !g_expect_failures; i++) {
    if (!o[i].done || o[i].err != LMM_OK || o[i].coap_code != 0x45)
      fail_msg("member %zu (%s): done %d err %d code %d.%02d via %d: %s", i, o[i].ep, o[i].done,
               o[i].err, o[i].coap_code >> 5, o[i].coap_code & 31, o[i].via,
               o[i].error ? o[i].error : "");
    /* The simulator's formula (docs/simulator.md): lat = 48 + 0.0001 * ((i + s) mod 10000). */
    char got[32] = "";
    double lat = 48.0 + 0.0001 * (double)((i + 9) % 10000);
    size_t l = o[i].payload_len < sizeof got - 1 ? o[i].payload_len : sizeof got - 1;
    memcpy(got, o[i].payload, l);
    assert_true(fabs(atof(got) - lat) < 1e-6);
    by_via[o[i].via]++;
    if (answer_quarter && o[i].via != LMM_VIA_UNICAST && window > 0) {
      long q = (long)(o[i].latency_ms * 4 / (window * 1000));
      answer_quarter[q < 0 ? 0 : q > 3 ? 3 : q]++;
    }
  }
}

/* Answers the devices did not send, handed in the way a host's own CoAP server would:
 * a repeat of an accepted answer, one from a stranger, and malformed ones. */
static uint8_t injected[4];
static void inject_on_member(void *user, size_t index, const lmm_outcome *o) {
  world *w = user;
  if (index != 0 || o->via != LMM_VIA_MBMS) return;
  const char *t = lmm_campaign_get_info(w->c)->token_hex;
  char q[128];
  snprintf(q, sizeof q, "ep=%s&t=%s&c=2.05", o->ep, t);
  injected[0] = lmm_answers_handle(w->ans, q, 0, (const uint8_t *)"1", 1);
  snprintf(q, sizeof q, "ep=stranger&t=%s&c=2.05", t);
  injected[1] = lmm_answers_handle(w->ans, q, 0, NULL, 0);
  injected[2] = lmm_answers_handle(w->ans, "ep=x&t=zz&c=2.05", 0, NULL, 0);
  snprintf(q, sizeof q, "ep=%s&t=%s&c=9.99", o->ep, t);
  injected[3] = lmm_answers_handle(w->ans, q, 0, NULL, 0);
}
static const lmm_campaign_handlers inject_handlers = {inject_on_member, NULL, NULL};

static void test_mbms(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up(&w, "0", "0", bp);
  size_t via[4] = {0};
  int quarter[4] = {0};
  g_handlers = &inject_handlers;
  run_read(&w, LMM_GROUP_MBMS, bp, 8, via, quarter);
  g_handlers = NULL;
  assert_int_equal(injected[0], 0x44);        /* duplicate: acknowledged, not recorded twice */
  assert_int_equal(injected[1], 0x84);        /* not a member */
  assert_int_equal(injected[2], 0x80);        /* malformed token */
  assert_int_equal(injected[3], 0x80);        /* malformed code */
  assert_int_equal(via[LMM_VIA_MBMS], N_DEV); /* every member answered over the group path */
  /* Answers spread over the window: no quarter holds more than half of them. */
  for (int q = 0; q < 4; q++)
    assert_true(quarter[q] <= N_DEV / 2);
  const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
  assert_non_null(info->tmgi);
  assert_non_null(info->t8_transaction);
  /* The delivery notification arrives (the mock sends it right after the bearer). */
  assert_int_equal(info->t8_status, 1);
  lmm_answers_stats st;
  lmm_answers_get_stats(w.ans, &st);
  assert_int_equal(st.accepted, N_DEV);
  assert_int_equal(st.duplicate, 1);
  assert_int_equal(st.unknown, 1);
  assert_int_equal(st.malformed, 2);
  /* With every member answered, the campaign does not sit out the window's grace period. */
  assert_true(info->finished_ms - info->delivered_ms < 8000 + 1000);
  /* The store holds the campaign and its outcomes. */
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(w.store, info->id, &o, &n), LMM_OK);
  assert_int_equal(n, N_DEV);
  for (size_t i = 0; i < n; i++)
    assert_true(o[i].done && o[i].coap_code == 0x45);
  lmm_outcome_list_free(o, n);
  world_down(&w);
}

static void test_mbms_loss_repaired(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  /* 30% of the members miss the broadcast (each device's reception fails on its own, as radio
   * conditions differ): repair by unicast serves exactly those, and every member succeeds. */
  world_up(&w, "0", "0.3", bp);
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_MBMS, bp, 2, via, NULL);
  assert_in_range(via[LMM_VIA_UNICAST], N_DEV / 10, N_DEV / 2);
  assert_int_equal(via[LMM_VIA_MBMS] + via[LMM_VIA_UNICAST], N_DEV);
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(w.c, &n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(o[i].repaired, o[i].via == LMM_VIA_UNICAST);
    /* Each step as it went: configured, then heard (or not) and repaired. */
    assert_int_equal(o[i].gm_step, LMM_STEP_OK);
    assert_int_equal(o[i].gm_code, 0x44);
    bool heard = o[i].via == LMM_VIA_MBMS;
    assert_int_equal(o[i].group_step, heard ? LMM_STEP_OK : LMM_STEP_SILENT);
    assert_int_equal(o[i].group_code, heard ? 0x45 : 0);
    assert_int_equal(o[i].unicast_step, heard ? LMM_STEP_NONE : LMM_STEP_OK);
    assert_int_equal(o[i].unicast_code, heard ? 0 : 0x45);
  }
  world_down(&w);
}

static void test_bearer_lost_entirely(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  /* The BM-SC loses the one datagram: nobody hears the group message, all are repaired. */
  world_up(&w, "1", "0", bp);
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_MBMS, bp, 1, via, NULL);
  assert_int_equal(via[LMM_VIA_UNICAST], N_DEV);
  world_down(&w);
}

static void test_multicast(void **state) {
  (void)state;
  world w;
  world_up(&w, "0", "0", lmmt_random_port());
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_MULTICAST, lmmt_random_port(), 4, via, NULL);
  assert_int_equal(via[LMM_VIA_MULTICAST], N_DEV);
  world_down(&w);
}

static void test_unicast(void **state) {
  (void)state;
  world w;
  world_up(&w, "0", "0", lmmt_random_port());
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_UNICAST, 0, 4, via, NULL);
  assert_int_equal(via[LMM_VIA_UNICAST], N_DEV);
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(w.c, &n);
  for (size_t i = 0; i < n; i++) {
    assert_false(o[i].repaired);
    assert_int_equal(o[i].gm_step, LMM_STEP_NONE); /* a unicast group needs no Group Mgmt */
    assert_int_equal(o[i].group_step, LMM_STEP_NONE);
    assert_int_equal(o[i].unicast_step, LMM_STEP_OK);
  }
  world_down(&w);
}

/* The SCEF answers 503 to 60% of the requests (a fixed seed makes it the same every run): the
 * client retries with back-off, and the campaign completes over MBMS all the same. */
static void test_scef_busy(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up_with(&w,
                (const char *[]){"--fail-rate", "0.6", "--fail-status", "503", "--retry-after", "0",
                                 "--seed", "6", NULL},
                "0", bp);
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_MBMS, bp, 2, via, NULL);
  assert_int_equal(via[LMM_VIA_MBMS], N_DEV);
  /* The seeded draws fail both the TMGI allocation and the group message at least once. */
  assert_true(lmmt_log_count(&w.mock, "fault", "tmgi-allocation\"") >= 1);
  assert_true(lmmt_log_count(&w.mock, "fault", "delivery-via-mbms\"") >= 1);
  world_down(&w);
}

/* Every notification is lost: the campaign still ends when the window closes, with the T8
 * status unknown, and every member answered. */
static void test_notification_lost(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up_with(&w, (const char *[]){"--notify-loss", "1", NULL}, "0", bp);
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_MBMS, bp, 2, via, NULL);
  assert_int_equal(via[LMM_VIA_MBMS], N_DEV);
  assert_int_equal(lmm_campaign_get_info(w.c)->t8_status, -1);
  assert_int_equal(w.notified, 0);
  world_down(&w);
}

/* Behind a slow proxy the delivery notification overtakes the 201 of the group message
 * request (t8-mock --create-reply-delay-ms): the campaign still records it. */
static void test_notification_before_201(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up_with(&w, (const char *[]){"--create-reply-delay-ms", "500", NULL}, "0", bp);
  size_t via[4] = {0};
  run_read(&w, LMM_GROUP_MBMS, bp, 2, via, NULL);
  assert_int_equal(via[LMM_VIA_MBMS], N_DEV);
  assert_int_equal(lmm_campaign_get_info(w.c)->t8_status, 1);
  assert_int_equal(w.notified, 1);
  assert_int_equal(lmmt_log_wait(&w.mock, "http", "delivery-via-mbms\",\"status\":201", 1, 5000),
                   1);
  char *log = lmmt_read_file(w.mock.log_path, NULL);
  assert_non_null(log);
  const char *note = strstr(log, "\"event\":\"notify\"");
  const char *created = strstr(log, "delivery-via-mbms\",\"status\":201");
  assert_true(note && created && note < created);
  free(log);
  world_down(&w);
}

/* The group's TMGI expired at the SCEF: renewal gets 404, a new TMGI is allocated, and the
 * campaign goes on with it. */
static void test_tmgi_expired(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up_with(&w, (const char *[]){"--tmgi-lifetime", "1", NULL}, "0", bp);
  lmm_tmgi_allocation a = {0};
  alloc_tmgi(&w, &a);
  assert_int_equal(lmmt_log_wait(&w.mock, "tmgi_expired", a.tmgi, 1, 5000), 1);
  lmm_group_info g = {.name = "old-tmgi",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "building7@operator.example",
                      .multicast_port = bp,
                      .response_time_window = 1,
                      .tmgi = a.tmgi,
                      .tmgi_expiration = a.tmgi_expiration};
  start_read(&w, &g, NULL);
  assert_int_equal(lmm_campaign_wait(w.c, 60000), LMM_OK);
  const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
  assert_int_equal(info->state, LMM_CS_DONE);
  assert_string_not_equal(info->tmgi, a.tmgi);
  assert_int_equal(count_read_via(&w, LMM_VIA_MBMS), N_DEV);
  lmm_tmgi_allocation_clear(&a);
  world_down(&w);
}

/* A Schedule 3 s ahead: the group request goes on air then (the BM-SC holds an MBMS
 * delivery; the adapter holds a multicast one), and the answer window opens at that time. */
static void test_schedule(void **state) {
  (void)state;
  for (int type = LMM_GROUP_MBMS; type <= LMM_GROUP_MULTICAST; type++) {
    world w;
    int bp = lmmt_random_port();
    world_up(&w, "0", "0", bp);
    int64_t t0 = (int64_t)time(NULL);
    g_schedule = t0 + 3;
    size_t via[4] = {0};
    run_read(&w, (lmm_group_type)type, type == LMM_GROUP_MBMS ? bp : lmmt_random_port(), 1, via,
             NULL);
    g_schedule = 0;
    const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
    assert_true(info->delivered_ms >= (t0 + 3) * 1000 - 50);
    assert_int_equal(via[type == LMM_GROUP_MBMS ? LMM_VIA_MBMS : LMM_VIA_MULTICAST], N_DEV);
    size_t n;
    const lmm_outcome *o = lmm_campaign_outcomes(w.c, &n);
    /* Latency counts from going on air: a member answers within its window, not 3 s later. */
    for (size_t i = 0; i < n; i++)
      assert_true(o[i].latency_ms >= -100 && o[i].latency_ms < 1000 + 1500); /* not before air */
    if (type == LMM_GROUP_MBMS) /* the mock held the play until the start time */
      assert_int_equal(lmmt_log_count(&w.mock, "bearer_send", NULL), 1);
    world_down(&w);
  }
}

/* Repair off: when nobody heard the group message, every member ends failed with a timeout,
 * and nothing is sent to them by unicast. */
static void test_no_repair(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up(&w, "1", "0", bp);
  size_t via[4] = {0};
  g_no_repair = g_expect_failures = true;
  run_read(&w, LMM_GROUP_MBMS, bp, 1, via, NULL);
  g_no_repair = g_expect_failures = false;
  assert_int_equal(via[LMM_VIA_NONE], N_DEV);
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(w.c, &n);
  for (size_t i = 0; i < n; i++) {
    assert_true(o[i].done);
    assert_int_equal(o[i].err, LMM_ERR_TIMEOUT);
    assert_int_equal(o[i].attempts, 0);
  }
  world_down(&w);
}

/* The group's TMGI is valid now but would expire inside the campaign's window: it is renewed
 * (PATCH) before the group message, and the campaign keeps it. */
static void test_tmgi_renewed(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up(&w, "0", "0", bp);
  lmm_tmgi_allocation a = {0};
  alloc_tmgi(&w, &a);
  lmm_group_info g = {.name = "renew",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "building7@operator.example",
                      .multicast_port = bp,
                      .response_time_window = 2,
                      .tmgi = a.tmgi,
                      .tmgi_expiration = (int64_t)time(NULL) + 5};
  start_read(&w, &g, NULL);
  assert_int_equal(lmm_campaign_wait(w.c, 60000), LMM_OK);
  assert_string_equal(lmm_campaign_get_info(w.c)->tmgi, a.tmgi);
  assert_int_equal(lmmt_log_count(&w.mock, "tmgi_renewed", a.tmgi), 1);
  assert_int_equal(count_read_via(&w, LMM_VIA_MBMS), N_DEV);
  lmm_tmgi_allocation_clear(&a);
  world_down(&w);
}

/* The group's TMGI policy. keep: the campaign leaves its TMGI to the group, and the next
 * campaign on the group uses it without a new allocation. release: the campaign deletes it on
 * the SCEF when it ends, the group forgets it, and the report says so. */
static void test_tmgi_policy(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up(&w, "0", "0", bp);
  lmm_group_info g = {.name = "policy",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "building7@operator.example",
                      .multicast_port = bp,
                      .response_time_window = 1};
  assert_int_equal(lmm_store_group_create(w.store, &g), LMM_OK);
  assert_int_equal(lmm_store_members_add(w.store, g.name, w.m, w.n), LMM_OK);
  char first[32] = "";
  for (int run = 0; run < 3; run++) {
    lmm_group_info cur = {0};
    assert_int_equal(lmm_store_group_get(w.store, g.name, &cur), LMM_OK);
    if (run == 2) { /* the operator switches the group to release */
      cur.tmgi_policy = LMM_TMGI_RELEASE;
      assert_int_equal(lmm_store_group_update(w.store, &cur), LMM_OK);
    }
    start_read(&w, &cur, w.store);
    assert_int_equal(lmm_campaign_wait(w.c, 60000), LMM_OK);
    const lmm_campaign_info *info = lmm_campaign_get_info(w.c);
    assert_int_equal(info->state, LMM_CS_DONE);
    assert_int_equal(count_read_via(&w, LMM_VIA_MBMS), N_DEV);
    assert_non_null(info->tmgi);
    if (run == 0) snprintf(first, sizeof first, "%s", info->tmgi);
    assert_string_equal(info->tmgi, first); /* one TMGI for the three campaigns */
    lmm_campaign_info stored = {0};
    assert_int_equal(lmm_store_campaign_get(w.store, info->id, &stored), LMM_OK);
    assert_int_equal(stored.tmgi_end, run < 2 ? LMM_TMGI_END_KEPT : LMM_TMGI_END_RELEASED);
    lmm_campaign_info_clear(&stored);
    lmm_group_info_clear(&cur);
    assert_int_equal(lmm_store_group_get(w.store, g.name, &cur), LMM_OK);
    if (run < 2)
      assert_string_equal(cur.tmgi, first);
    else
      assert_null(cur.tmgi);
    lmm_group_info_clear(&cur);
    lmm_campaign_free(w.c);
    w.c = NULL;
  }
  assert_int_equal(lmmt_log_count(&w.mock, "tmgi_allocated", NULL), 1);
  assert_int_equal(lmmt_log_wait(&w.mock, "tmgi_deleted", first, 1, 3000), 1);
  world_down(&w);
}

/* A group message larger than the inline limit goes over the MB2-U user plane. */
static void test_mbms_user_plane(void **state) {
  (void)state;
  world w;
  int bp = lmmt_random_port();
  world_up(&w, "0", "0", bp);
  size_t via[4] = {0};
  g_inline_max = 4;
  run_read(&w, LMM_GROUP_MBMS, bp, 1, via, NULL);
  g_inline_max = 0;
  assert_int_equal(via[LMM_VIA_MBMS], N_DEV);
  assert_int_equal(lmmt_log_count(&w.mock, "user_plane_rx", NULL), 1);
  assert_int_equal(lmmt_log_count(&w.mock, "bearer_send", NULL), 1);
  world_down(&w);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mbms),
      cmocka_unit_test(test_mbms_loss_repaired),
      cmocka_unit_test(test_bearer_lost_entirely),
      cmocka_unit_test(test_multicast),
      cmocka_unit_test(test_unicast),
      cmocka_unit_test(test_scef_busy),
      cmocka_unit_test(test_notification_lost),
      cmocka_unit_test(test_notification_before_201),
      cmocka_unit_test(test_tmgi_expired),
      cmocka_unit_test(test_schedule),
      cmocka_unit_test(test_no_repair),
      cmocka_unit_test(test_mbms_user_plane),
      cmocka_unit_test(test_tmgi_renewed),
      cmocka_unit_test(test_tmgi_policy),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
