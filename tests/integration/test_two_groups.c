/* test_two_groups.c - one fleet in two IP multicast groups of one store: each group's campaign
 * writes the group's own Group Mgmt instance, so the second group's campaign leaves the first
 * group's instance (and the devices' listening to it) in place. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmmt.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV 20
#define GM    LMM_GROUP_MGMT_OID

typedef struct world {
  lmmt_sim sim;
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_answers *ans;
  lmm_store *store;
  char dbdir[64];
  lmm_member *m;
  size_t n;
  int port; /* both groups' port: only the address tells them apart */
} world;

static void world_up(world *w) {
  memset(w, 0, sizeof *w);
  char count[16], why[256];
  snprintf(count, sizeof count, "%d", N_DEV);
  /* Every 5th device speaks TLV only: the instance ID must be right in both encodings. */
  assert_int_equal(
      lmmt_sim_start(&w->sim, (const char *[]){"--count", count, "--object", "6", "--tlv-every",
                                               "5", "--seed", "9", NULL}),
      0);
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(w->n, N_DEV);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.ack_timeout_ms = 1000, ucfg.max_retransmit = 2, ucfg.member_deadline_ms = 20000;
  assert_int_equal(lmm_unicast_new(w->ctx, &ucfg, &w->u), LMM_OK);
  assert_int_equal(lmm_answers_new(w->ctx, NULL, &w->ans), LMM_OK);
  assert_non_null(w->store = lmmt_store_open(w->ctx, w->dbdir));
  w->port = lmmt_random_port();
}

static void world_down(world *w) {
  assert_int_equal(lmmt_store_remove(w->store, w->dbdir), 0);
  lmm_answers_free(w->ans);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
  assert_int_equal(lmmt_sim_stop(&w->sim), 0);
}

static void group_add(world *w, const char *name, const char *addr) {
  lmm_group_info g = {.name = (char *)name,
                      .type = LMM_GROUP_MULTICAST,
                      .gm_oid = GM,
                      .multicast_address = (char *)addr,
                      .multicast_port = w->port,
                      .response_time_window = 1};
  assert_int_equal(lmm_store_group_create(w->store, &g), LMM_OK);
  assert_int_equal(lmm_store_members_add(w->store, name, w->m, w->n), LMM_OK);
}

/* A group Read of /6/0/0 on `g` over IP multicast, waited for; returns how many members
 * answered over the multicast path. With `configure`, the Group Mgmt writes go first; with
 * `resume`, the campaign is stored, dropped before it starts, and resumed from the store. */
static size_t run_read(world *w, const lmm_group_info *g, bool configure, bool no_repair,
                       bool resume) {
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = g, cfg.members = w->m, cfg.n_members = w->n;
  cfg.op.kind = LMM_OPK_READ;
  lmm_path_parse("/6/0/0", &cfg.op.path);
  cfg.op.accept = LMM_FMT_TEXT;
  cfg.grace_ms = 1500;
  cfg.no_repair = no_repair;
  cfg.skip_group_mgmt = !configure;
  lmm_campaign_deps deps = {w->ctx, w->u, NULL, w->ans, w->store};
  lmm_campaign *c = NULL;
  assert_int_equal(lmm_campaign_new(&deps, &cfg, NULL, NULL, &c), LMM_OK);
  if (resume) { /* as a restarted process would: from the stored row and group only */
    int64_t id = lmm_campaign_get_info(c)->id;
    lmm_campaign_free(c), c = NULL;
    assert_int_equal(lmm_campaign_resume(&deps, id, NULL, NULL, &c), LMM_OK);
  }
  assert_int_equal(lmm_campaign_start(c), LMM_OK);
  assert_int_equal(lmm_campaign_wait(c, 60000), LMM_OK);
  const lmm_campaign_info *info = lmm_campaign_get_info(c);
  if (info->state != LMM_CS_DONE)
    fail_msg("campaign on %s ended in state %d: %s", g->name, info->state,
             info->error ? info->error : "");
  size_t n, k = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(c, &n);
  assert_int_equal(n, N_DEV);
  for (size_t i = 0; i < n; i++) {
    if (configure && !o[i].gm_written)
      fail_msg("%s: Group Mgmt write to %s failed: %s", g->name, o[i].ep,
               o[i].error ? o[i].error : "");
    k += o[i].via == LMM_VIA_MULTICAST && o[i].coap_code == 0x45;
  }
  lmm_campaign_free(c);
  return k;
}

static lmm_group_info stored(world *w, const char *name) {
  lmm_group_info g;
  assert_int_equal(lmm_store_group_get(w->store, name, &g), LMM_OK);
  return g;
}

/* ------------------------------------------------------------ reading /42769 back */

typedef struct readback {
  uint8_t code[N_DEV];
  int fmt[N_DEV];
  uint8_t *body[N_DEV];
  size_t len[N_DEV];
} readback;

static void rb_member(void *user, const lmm_member_result *r) {
  readback *rb = user;
  rb->code[r->index] = r->coap_code;
  rb->fmt[r->index] = r->content_format;
  if (r->payload_len && (rb->body[r->index] = malloc(r->payload_len))) {
    memcpy(rb->body[r->index], r->payload, r->payload_len);
    rb->len[r->index] = r->payload_len;
  }
}

static const lmm_batch_handlers rb_handlers = {NULL, rb_member, NULL, NULL};

/* Reads the whole Group Mgmt object of every member by unicast and checks it holds exactly
 * the instances `iid` with the Group IDs `names` and multicast addresses `addrs`. */
static void check_instances(world *w, size_t n_inst, const int32_t *iid, const char *const *names,
                            const char *const *addrs) {
  readback rb = {0};
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_READ;
  assert_int_equal(lmm_path_parse("/42769", &op.path), LMM_OK);
  lmm_batch *b = NULL;
  /* The members are ep=NAME/6: exempting the Group Mgmt object lets the adapter read it. */
  assert_int_equal(lmm_batch_start(w->u, w->m, w->n, &op, GM, &rb_handlers, &rb, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 30000), LMM_OK);
  lmm_batch_free(b);
  lmm_obj_def def;
  lmm_group_mgmt_def(GM, &def);
  for (size_t d = 0; d < w->n; d++) {
    if (rb.code[d] != 0x45) fail_msg("%s: Read /42769 answered %#x", w->m[d].ep, rb.code[d]);
    lmm_records recs = {0};
    char why[200] = "";
    if (lmm_lwm2m_decode((uint16_t)rb.fmt[d], &op.path, rb.body[d], rb.len[d], &def, &recs, why,
                         sizeof why) != LMM_OK)
      fail_msg("%s: cannot decode /42769 (format %d): %s", w->m[d].ep, rb.fmt[d], why);
    for (size_t k = 0; k < recs.n; k++) {
      size_t j = 0;
      while (j < n_inst && recs.items[k].path.iid != iid[j])
        j++;
      if (j == n_inst) fail_msg("%s: unexpected instance %u", w->m[d].ep, recs.items[k].path.iid);
    }
    for (size_t j = 0; j < n_inst; j++) {
      bool id_ok = false, addr_ok = false;
      for (size_t k = 0; k < recs.n; k++) {
        const lmm_record *r = &recs.items[k];
        if (r->path.iid != iid[j] || r->value.type != LMM_RT_STRING) continue;
        if (r->path.rid == LMM_GM_GROUP_ID) id_ok = !strcmp(r->value.str, names[j]);
        if (r->path.rid == LMM_GM_MULTICAST_ADDRESS) addr_ok = !strcmp(r->value.str, addrs[j]);
      }
      if (!id_ok || !addr_ok)
        fail_msg("%s: instance %d does not hold group %s at %s", w->m[d].ep, (int)iid[j], names[j],
                 addrs[j]);
    }
    lmm_records_clear(&recs);
    free(rb.body[d]);
  }
}

/* ------------------------------------------------------------------ tests */

static void test_two_groups_same_members(void **state) {
  (void)state;
  world w;
  world_up(&w);
  group_add(&w, "floor-a", "239.77.3.1");
  group_add(&w, "floor-b", "239.77.3.2");
  lmm_group_info a = stored(&w, "floor-a"), b = stored(&w, "floor-b");
  assert_int_equal(a.gm_iid, 0);
  assert_int_equal(b.gm_iid, 1);

  assert_int_equal(run_read(&w, &a, true, false, false), N_DEV);
  assert_int_equal(run_read(&w, &b, true, false, false), N_DEV);
  /* B's writes went to B's instance: every member still listens to A. No Group Mgmt write
   * this time and no repair, so only a member that kept A's instance can answer. */
  assert_int_equal(run_read(&w, &a, false, true, false), N_DEV);
  /* ...and A's third campaign, configuring again, leaves B's instance alone in turn. */
  assert_int_equal(run_read(&w, &a, true, true, false), N_DEV);
  assert_int_equal(run_read(&w, &b, false, true, false), N_DEV);
  /* A third group's campaign, resumed from the store before it started: the resumed campaign
   * writes that group's instance too, not instance 0. */
  group_add(&w, "floor-c", "239.77.3.3");
  lmm_group_info c = stored(&w, "floor-c");
  assert_int_equal(c.gm_iid, 2);
  assert_int_equal(run_read(&w, &c, true, true, true), N_DEV);
  assert_int_equal(run_read(&w, &a, false, true, false), N_DEV);

  const int32_t iid[] = {0, 1, 2};
  const char *const names[] = {"floor-a", "floor-b", "floor-c"};
  const char *const addrs[] = {"239.77.3.1", "239.77.3.2", "239.77.3.3"};
  check_instances(&w, 3, iid, names, addrs);
  lmm_group_info_clear(&a);
  lmm_group_info_clear(&b);
  lmm_group_info_clear(&c);
  world_down(&w);
}

/* The behaviour the store's instance IDs fix, kept as the control of the test above: two
 * groups sharing one instance (hand-built, both 0), and the second campaign takes the first
 * group away from every member. */
static void test_shared_instance_is_overwritten(void **state) {
  (void)state;
  world w;
  world_up(&w);
  group_add(&w, "floor-a", "239.77.4.1");
  group_add(&w, "floor-b", "239.77.4.2");
  lmm_group_info a = stored(&w, "floor-a"), b = stored(&w, "floor-b");
  b.gm_iid = 0;
  assert_int_equal(run_read(&w, &a, true, false, false), N_DEV);
  assert_int_equal(run_read(&w, &b, true, false, false), N_DEV);
  assert_int_equal(run_read(&w, &a, false, true, false), 0);
  const int32_t iid[] = {0};
  const char *const names[] = {"floor-b"};
  const char *const addrs[] = {"239.77.4.2"};
  check_instances(&w, 1, iid, names, addrs);
  lmm_group_info_clear(&a);
  lmm_group_info_clear(&b);
  world_down(&w);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_groups_same_members),
      cmocka_unit_test(test_shared_instance_is_overwritten),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
