/* unicast_fanout.c - benchmark: writes per second of the whole Group Mgmt instance to N
 * simulated devices over plain CoAP on loopback, with the engine's concurrency and one request
 * at a time, and the ratio of the two.
 *
 *   bench_unicast_fanout [N ...]        (default: 1000 10000)
 * Environment: LMM_SIM (the simulator; set by the build for ctest, or give the path),
 *   BASELINE_SAMPLE (members timed one at a time, default 1000), IN_FLIGHT (default 64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct tally {
  size_t ok, failed;
} tally;

static const uint8_t *g_senml, *g_tlv;
static size_t g_senml_len, g_tlv_len;

static void prepare(void *user, size_t i, const lmm_member *m, lmm_op *op) {
  (void)user, (void)i;
  bool tlv = m->format == LMM_FMT_TLV;
  op->format = tlv ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
  op->payload = tlv ? g_tlv : g_senml;
  op->len = tlv ? g_tlv_len : g_senml_len;
}

static void on_member(void *user, const lmm_member_result *r) {
  tally *t = user;
  if (r->err == LMM_OK && r->coap_code >> 5 == 2)
    t->ok++;
  else
    t->failed++;
}

static const lmm_batch_handlers handlers = {prepare, on_member, NULL, NULL};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes /42769/0 to members[0..n) with `in_flight` at once; returns writes per second. */
static double write_rate(const lmm_member *m, size_t n, size_t in_flight, tally *t) {
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.max_in_flight = in_flight;
  if (lmm_ctx_new(NULL, &ctx) != LMM_OK || lmm_unicast_new(ctx, &cfg, &u) != LMM_OK) return -1;
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  lmm_path_parse("/42769/0", &op.path);
  lmm_batch *b;
  *t = (tally){0};
  double t0 = now_s();
  if (lmm_batch_start(u, m, n, &op, LMM_GROUP_MGMT_OID, &handlers, t, &b) != LMM_OK) return -1;
  lmm_err rc = lmm_batch_wait(b, 600000);
  double dt = now_s() - t0;
  lmm_batch_free(b);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  return rc == LMM_OK ? (double)n / dt : -1;
}

int main(int argc, char **argv) {
  static const char *defaults[] = {"1000", "10000"};
  const char **ns = argc > 1 ? (const char **)argv + 1 : defaults;
  int nn = argc > 1 ? argc - 1 : 2;
  size_t sample = getenv("BASELINE_SAMPLE") ? (size_t)atol(getenv("BASELINE_SAMPLE")) : 1000;
  size_t in_flight = getenv("IN_FLIGHT") ? (size_t)atol(getenv("IN_FLIGHT")) : 64;
  lmm_global_init();

  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  char *tmgi[] = {"0a1b2c00101"};
  uint16_t riid[] = {0};
  g.group_id = "bench-group", g.group_type = LMM_GROUP_MBMS, g.member_number = 10000;
  g.external_group_id = "bench@operator.example", g.tmgi = tmgi, g.tmgi_riid = riid, g.n_tmgi = 1;
  g.multicast_address = "239.10.27.44", g.response_time_window = 60, g.multicast_port = 5683;
  g.answer_uri = "coap://127.0.0.1:5690/ans";
  uint8_t *senml, *tlv;
  if (lmm_group_mgmt_encode(&g, LMM_GROUP_MGMT_OID, 0, LMM_FMT_SENML_JSON, &senml, &g_senml_len) ||
      lmm_group_mgmt_encode(&g, LMM_GROUP_MGMT_OID, 0, LMM_FMT_TLV, &tlv, &g_tlv_len)) {
    fprintf(stderr, "cannot encode the instance\n");
    return 1;
  }
  g_senml = senml, g_tlv = tlv;
  printf("unicast fan-out: Write /42769/0 (SenML-JSON %zu bytes, TLV %zu bytes), plain CoAP, "
         "loopback, %zu in flight\n",
         g_senml_len, g_tlv_len, in_flight);
  printf("%8s %14s %12s %14s %12s %8s\n", "members", "writes/s", "failed", "baseline w/s",
         "(sample)", "ratio");
  int rc = 0;
  for (int k = 0; k < nn; k++) {
    const char *count = ns[k];
    lmmt_sim sim;
    if (lmmt_sim_start(&sim, (const char *[]){"--count", count, NULL}) != 0) {
      fprintf(stderr, "cannot start the simulator with %s devices\n", count);
      return 1;
    }
    lmm_member *m;
    size_t n;
    char why[200];
    if (lmm_members_load(sim.members_path, &m, &n, why, sizeof why) != LMM_OK) {
      fprintf(stderr, "%s\n", why);
      return 1;
    }
    tally t, tb;
    double rate = write_rate(m, n, in_flight, &t);
    size_t s = sample < n ? sample : n;
    double base = write_rate(m, s, 1, &tb);
    printf("%8zu %14.0f %12zu %14.0f %12zu %7.1fx\n", n, rate, t.failed, base, s,
           base > 0 ? rate / base : 0);
    fflush(stdout);
    if (rate <= 0 || t.failed || tb.failed) rc = 1;
    lmm_members_free(m, n);
    lmmt_sim_stop(&sim);
  }
  lmm_free(senml), lmm_free(tlv);
  lmm_global_cleanup();
  return rc;
}
