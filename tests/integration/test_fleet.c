/* test_fleet.c - the unicast engine against the simulated fleet: the Group Mgmt object written
 * to 1,000 devices over CoAP and 50 over CoAPS and read back, and per-member failures (dead
 * member, 4.04, 4.01, wrong PSK) reported while the rest succeed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "lmmt.h"
#include "lmmt_coap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define GM LMM_GROUP_MGMT_OID

/* The instance the adapter writes in step 3 of the flow. */
static void sample_instance(lmm_group_mgmt *g) {
  static char *tmgis[] = {"0a1b2c00101", "0a1b2d00101"};
  static uint16_t tmgi_riid[] = {0, 3};
  static int64_t sched[] = {1798761600};
  static uint16_t sched_riid[] = {0};
  *g = (lmm_group_mgmt)LMM_GROUP_MGMT_INIT;
  g->group_id = "building-7";
  g->group_type = LMM_GROUP_MBMS;
  g->member_number = 1000;
  g->external_group_id = "building7@operator.example";
  g->tmgi = tmgis, g->tmgi_riid = tmgi_riid, g->n_tmgi = 2;
  g->multicast_address = "239.10.27.44";
  g->schedule = sched, g->schedule_riid = sched_riid, g->n_schedule = 1;
  g->response_time_window = 30;
  g->multicast_port = 5683;
  g->answer_uri = "coap://127.0.0.1:5690/ans";
}

typedef struct run {
  lmm_group_mgmt gm;
  uint8_t *senml, *tlv;
  size_t senml_len, tlv_len;
  size_t n;
  uint8_t *codes; /* per member */
  lmm_err *errs;
  int *attempts;
  char **payloads; /* reads: the answer, NUL-terminated copy */
  size_t *payload_lens;
  int *formats;
  size_t max_seen_in_flight;
  lmm_batch *batch;
  int done_calls;
} run;

static void prepare(void *user, size_t i, const lmm_member *m, lmm_op *op) {
  run *r = user;
  (void)i;
  if (op->kind == LMM_OPK_WRITE) { /* each member in its own format */
    bool tlv = m->format == LMM_FMT_TLV;
    op->format = tlv ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
    op->payload = tlv ? r->tlv : r->senml;
    op->len = tlv ? r->tlv_len : r->senml_len;
  } else if (op->kind == LMM_OPK_READ) {
    op->accept = m->format == LMM_FMT_TLV ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
  }
  lmm_batch_stats st;
  lmm_batch_get_stats(r->batch, &st);
  if (st.in_flight > r->max_seen_in_flight) r->max_seen_in_flight = st.in_flight;
}

static void on_member(void *user, const lmm_member_result *res) {
  run *r = user;
  r->codes[res->index] = res->coap_code;
  r->errs[res->index] = res->err;
  r->attempts[res->index] = res->attempts;
  r->formats[res->index] = res->content_format;
  free(r->payloads[res->index]);
  r->payloads[res->index] = NULL;
  if (res->payload_len) {
    r->payloads[res->index] = malloc(res->payload_len + 1);
    memcpy(r->payloads[res->index], res->payload, res->payload_len);
    r->payloads[res->index][res->payload_len] = '\0';
  }
  r->payload_lens[res->index] = res->payload_len;
}

static void on_done(void *user, lmm_batch *b) {
  (void)b;
  ((run *)user)->done_calls++;
}

static const lmm_batch_handlers handlers = {prepare, on_member, NULL, on_done};

static run *run_new(size_t n) {
  run *r = calloc(1, sizeof *r);
  r->n = n;
  r->codes = calloc(n, 1);
  r->errs = calloc(n, sizeof *r->errs);
  r->attempts = calloc(n, sizeof *r->attempts);
  r->payloads = calloc(n, sizeof *r->payloads);
  r->payload_lens = calloc(n, sizeof *r->payload_lens);
  r->formats = calloc(n, sizeof *r->formats);
  sample_instance(&r->gm);
  assert_int_equal(
      lmm_group_mgmt_encode(&r->gm, GM, 0, LMM_FMT_SENML_JSON, &r->senml, &r->senml_len), LMM_OK);
  assert_int_equal(lmm_group_mgmt_encode(&r->gm, GM, 0, LMM_FMT_TLV, &r->tlv, &r->tlv_len), LMM_OK);
  return r;
}

static void run_free(run *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->payloads[i]);
  free(r->codes), free(r->errs), free(r->attempts), free(r->payloads), free(r->payload_lens);
  free(r->formats), lmm_free(r->senml), lmm_free(r->tlv), free(r);
}

static void do_batch(lmm_unicast *u, run *r, const lmm_member *m, const char *path,
                     lmm_op_kind kind) {
  lmm_op op = LMM_OP_INIT;
  op.kind = kind;
  assert_int_equal(lmm_path_parse(path, &op.path), LMM_OK);
  r->done_calls = 0;
  r->max_seen_in_flight = 0;
  assert_int_equal(lmm_batch_start(u, m, r->n, &op, GM, &handlers, r, &r->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(r->batch, 120000), LMM_OK);
  assert_int_equal(r->done_calls, 1);
  lmm_batch_free(r->batch);
  r->batch = NULL;
}

/* Decodes a member's read answer with the Group Mgmt definition and compares it with what was
 * written: the values must be the ones written, resource-instance IDs included. */
static void check_read_back(const run *r, size_t i) {
  lmm_obj_def def;
  lmm_group_mgmt_def(GM, &def);
  lmm_records recs = {0};
  lmm_path base = {.oid = GM, .iid = 0, .depth = 2};
  char why[200] = "";
  int fmt = r->formats[i] >= 0 ? r->formats[i] : LMM_FMT_SENML_JSON;
  if (lmm_lwm2m_decode((uint16_t)fmt, &base, (const uint8_t *)r->payloads[i], r->payload_lens[i],
                       &def, &recs, why, sizeof why) != LMM_OK)
    fail_msg("member %zu: cannot decode its answer (format %d): %s", i, fmt, why);
  lmm_group_mgmt got = LMM_GROUP_MGMT_INIT;
  assert_int_equal(lmm_group_mgmt_from_records(recs.items, recs.n, &got, why, sizeof why), LMM_OK);
  assert_string_equal(got.group_id, "building-7");
  assert_int_equal(got.group_type, LMM_GROUP_MBMS);
  assert_int_equal(got.member_number, 1000);
  assert_string_equal(got.external_group_id, "building7@operator.example");
  assert_int_equal(got.n_tmgi, 2);
  for (size_t k = 0; k < 2; k++) {
    /* instance IDs 0 and 3 survive the round trip, in whichever order the device lists them */
    size_t at = got.tmgi_riid[0] == r->gm.tmgi_riid[k] ? 0 : 1;
    assert_int_equal(got.tmgi_riid[at], r->gm.tmgi_riid[k]);
    assert_string_equal(got.tmgi[at], r->gm.tmgi[k]);
  }
  assert_int_equal(got.n_schedule, 1);
  assert_int_equal(got.schedule[0], 1798761600);
  assert_int_equal(got.response_time_window, 30);
  assert_string_equal(got.multicast_address, "239.10.27.44");
  assert_string_equal(got.answer_uri, "coap://127.0.0.1:5690/ans");
  lmm_group_mgmt_clear(&got);
  lmm_records_clear(&recs);
}

static lmm_unicast *engine(lmm_ctx **ctx, size_t in_flight) {
  assert_int_equal(lmm_ctx_new(NULL, ctx), LMM_OK);
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.max_in_flight = in_flight;
  cfg.ack_timeout_ms = 1000;
  cfg.max_retransmit = 2;
  cfg.member_deadline_ms = 15000;
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(*ctx, &cfg, &u), LMM_OK);
  return u;
}

static void test_write_read_1000_coap(void **state) {
  (void)state;
  lmmt_sim sim;
  /* Every 10th device is an LwM2M 1.0 device that speaks TLV only. */
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "1000", "--tlv-every", "10", NULL}), 0);
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(sim.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 1000);
  size_t tlv = 0;
  for (size_t i = 0; i < n; i++)
    tlv += m[i].format == LMM_FMT_TLV;
  assert_int_equal(tlv, 100);
  lmm_ctx *ctx;
  lmm_unicast *u = engine(&ctx, 64);
  run *r = run_new(n);
  do_batch(u, r, m, "/42769/0", LMM_OPK_WRITE);
  for (size_t i = 0; i < n; i++) {
    if (r->errs[i] != LMM_OK || (r->codes[i] != 0x44 && r->codes[i] != 0x41))
      fail_msg("write to member %zu (%s): err %d code %d.%02d", i, m[i].ep, r->errs[i],
               r->codes[i] >> 5, r->codes[i] & 31);
  }
  assert_true(r->max_seen_in_flight <= 64);
  assert_true(r->max_seen_in_flight >= 2); /* it did run members side by side */
  do_batch(u, r, m, "/42769/0", LMM_OPK_READ);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->errs[i], LMM_OK);
    assert_int_equal(r->codes[i], 0x45); /* 2.05 Content */
    assert_int_equal(r->formats[i], m[i].format == LMM_FMT_TLV ? LMM_FMT_TLV : LMM_FMT_SENML_JSON);
    check_read_back(r, i);
  }
  run_free(r);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

static void test_write_read_50_coaps(void **state) {
  (void)state;
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "50", "--dtls", "--dtls-port", "0",
                                            "--psk-secret", "fleet-secret", NULL}),
      0);
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(sim.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 50);
  for (size_t i = 0; i < n; i++)
    assert_memory_equal(m[i].uri, "coaps://", 8);
  /* One member's key is wrong: only that member fails. */
  m[17].psk_key[0] ^= 0xff;
  lmm_ctx *ctx;
  lmm_unicast *u = engine(&ctx, 16);
  run *r = run_new(n);
  do_batch(u, r, m, "/42769/0", LMM_OPK_WRITE);
  for (size_t i = 0; i < n; i++) {
    if (i == 17) {
      assert_int_not_equal(r->errs[i], LMM_OK);
      assert_int_equal(r->codes[i], 0);
    } else if (r->errs[i] != LMM_OK || r->codes[i] >> 5 != 2) {
      fail_msg("coaps write to member %zu: err %d code %d.%02d", i, r->errs[i], r->codes[i] >> 5,
               r->codes[i] & 31);
    }
  }
  m[17].psk_key[0] ^= 0xff; /* the right key: the member is reachable after all */
  do_batch(u, r, m, "/42769/0", LMM_OPK_READ);
  for (size_t i = 0; i < n; i++) {
    if (i == 17) {
      assert_int_equal(r->codes[i], 0x84); /* never written: 4.04 */
      continue;
    }
    assert_int_equal(r->codes[i], 0x45);
    check_read_back(r, i);
  }
  run_free(r);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* Per-member failures: a dead member, a 4.04, a 4.01 (ACL refusal), a path outside a member's
 * Object ID; the other members of the batch succeed. */
static const char *failure_paths[12];

static void prepare_fail(void *user, size_t i, const lmm_member *m, lmm_op *op) {
  prepare(user, i, m, op);
  if (failure_paths[i]) assert_int_equal(lmm_path_parse(failure_paths[i], &op->path), LMM_OK);
}

static void test_failures_per_member(void **state) {
  (void)state;
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "12", "--object", "6", "--server", "1",
                                            "--server", "2=127.0.0.9:9", NULL}),
      0);
  /* Member 3 refuses server 1 (the engine's requests) the Create of Group Mgmt instances and
   * the Read of /6/0: ACL entries written by CoAP, as an operator would. */
  assert_true(
      lmmt_sim_expect(sim.port, 3, COAP_REQUEST_CODE_PUT, "/2/3/2/1", LMM_FMT_TEXT, -1, "0", 0x44));
  assert_true(
      lmmt_sim_expect(sim.port, 3, COAP_REQUEST_CODE_PUT, "/2/2/2/1", LMM_FMT_TEXT, -1, "0", 0x44));
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(sim.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 12);
  /* member 1: nobody listens on that port */
  free(m[1].uri);
  m[1].uri = strdup("coap://127.0.0.1:9");
  /* member 7: an OTA member (object 5) may not be sent a Location read */
  m[7].oid = 5;
  lmm_ctx *ctx;
  lmm_unicast *u = engine(&ctx, 4);
  run *r = run_new(n);
  memset(failure_paths, 0, sizeof failure_paths);
  failure_paths[5] = "/42769/9/0"; /* no instance 9 there: 4.04 */
  static const lmm_batch_handlers h = {prepare_fail, on_member, NULL, on_done};
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  lmm_path_parse("/42769/0", &op.path);
  r->done_calls = 0;
  assert_int_equal(lmm_batch_start(u, m, n, &op, GM, &h, r, &r->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(r->batch, 60000), LMM_OK);
  lmm_batch_free(r->batch), r->batch = NULL;
  for (size_t i = 0; i < n; i++) {
    if (i == 1)
      assert_int_not_equal(r->errs[i], LMM_OK);
    else if (i == 3)
      assert_int_equal(r->codes[i], 0x81); /* 4.01 */
    else if (i == 5)
      assert_true(r->codes[i] == 0x84 || r->codes[i] == 0x80);
    else
      assert_int_equal(r->codes[i] >> 5, 2);
  }
  /* A Location read as a group operation: the members are Location members (ep=NAME/6), but
   * member 7 (object 5 only) is refused before sending; the Group Mgmt exemption is for /42769
   * alone. */
  memset(failure_paths, 0, sizeof failure_paths);
  op.kind = LMM_OPK_READ;
  lmm_path_parse("/6/0/0", &op.path);
  assert_int_equal(lmm_batch_start(u, m, n, &op, GM, &h, r, &r->batch), LMM_OK);
  assert_int_equal(lmm_batch_wait(r->batch, 60000), LMM_OK);
  lmm_batch_free(r->batch), r->batch = NULL;
  assert_int_equal(r->errs[7], LMM_ERR_ARG);
  assert_int_equal(r->codes[7], 0);
  assert_int_equal(r->attempts[7], 0);
  for (size_t i = 0; i < n; i++) {
    if (i == 1 || i == 3 || i == 7) continue;
    assert_int_equal(r->codes[i], 0x45);
    assert_true(r->payload_lens[i] > 0); /* a latitude */
  }
  assert_int_equal(r->codes[3], 0x81);
  run_free(r);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_read_1000_coap),
      cmocka_unit_test(test_write_read_50_coaps),
      cmocka_unit_test(test_failures_per_member),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
