/* unicast_fanout.c - benchmark: whole-instance writes of Group Mgmt /42769/0 to N simulated
 * devices over plain CoAP on loopback, through the library's unicast engine, with many requests
 * in flight and with one at a time. Two tables, both timed in this one run:
 *
 * (a) raw loopback: the simulator answers at once. There is no round-trip time to overlap, so
 *     both columns are bound by CPU (client and simulator share the 2 cores): the ratio shows
 *     what concurrency saves in per-request overhead, not in waiting.
 * (b) with latency: the simulator started with --delay-ms DELAY_MS, every answer leaving that
 *     long after its request, as from a device behind a slow radio link (NB-IoT, LTE-M answer
 *     after tens to hundreds of ms). One at a time cannot beat 1000 / DELAY_MS writes/s; with W
 *     in flight the ceiling is W * 1000 / DELAY_MS, printed in the title.
 *
 * Columns, per N (members written):
 *   writes/s      successful writes (2.xx) per second, over the whole batch of N members with
 *                 IN_FLIGHT (a) or IN_FLIGHT_DELAYED (b) at once (lmm_unicast_config
 *                 max_in_flight), from lmm_batch_start() to the end of lmm_batch_wait()
 *   failed        members of that batch whose write did not end in 2.xx
 *   baseline w/s  successful writes per second with max_in_flight 1: one request at a time,
 *                 over the first `sample` members (BASELINE_SAMPLE (a), BASELINE_SAMPLE_DELAYED
 *                 (b)); the engine, client context and simulator are the same
 *   base failed   members of the baseline run whose write did not end in 2.xx
 *   ratio         writes/s divided by baseline w/s
 * Each row has a fresh simulator of N devices (each write creates instance 0 anew); a row whose
 * run failed shows 0 and the exit status is 1: every write must succeed.
 *
 *   bench_unicast_fanout [N ...]        (default: 1000 10000)
 * Environment: LMM_SIM (the simulator; set by the build for ctest, or give the path),
 *   IN_FLIGHT (default 64), BASELINE_SAMPLE (default 1000), DELAY_MS (default 10; 0 skips
 *   table b), IN_FLIGHT_DELAYED (default 256), BASELINE_SAMPLE_DELAYED (default 200). */
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

/* Writes /42769/0 to members[0..n) with `in_flight` at once; returns successful writes per
 * second, or -1 when the batch could not run (then every member counts as failed). */
static double write_rate(const lmm_member *m, size_t n, size_t in_flight, tally *t) {
  lmm_ctx *ctx = NULL;
  lmm_unicast *u = NULL;
  lmm_batch *b = NULL;
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.max_in_flight = in_flight;
  *t = (tally){0};
  double rate = -1;
  if (lmm_ctx_new(NULL, &ctx) != LMM_OK || lmm_unicast_new(ctx, &cfg, &u) != LMM_OK) goto out;
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  lmm_path_parse("/42769/0", &op.path);
  double t0 = now_s();
  if (lmm_batch_start(u, m, n, &op, LMM_GROUP_MGMT_OID, &handlers, t, &b) != LMM_OK) goto out;
  lmm_err rc = lmm_batch_wait(b, 600000);
  double dt = now_s() - t0;
  if (rc == LMM_OK && t->ok + t->failed == n) rate = (double)t->ok / dt;
out:
  if (rate < 0) t->failed = n - t->ok; /* whatever did not report is not a success */
  if (b) lmm_batch_free(b);
  if (u) lmm_unicast_free(u);
  if (ctx) lmm_ctx_free(ctx);
  return rate;
}

static size_t env_size(const char *name, size_t dflt, size_t min) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (*end || x < min) {
    fprintf(stderr, "%s: expected an integer >= %zu, got '%s'\n", name, min, v);
    exit(2);
  }
  return (size_t)x;
}

/* One row: a fresh simulator of `count` devices with `extra` arguments, the batch, the
 * baseline. Returns 0 when every write succeeded. */
static int row(const char *count, const char *const *extra, size_t in_flight, size_t sample) {
  const char *args[8] = {"--count", count};
  int na = 2;
  for (int k = 0; extra && extra[k] && na < 7; k++)
    args[na++] = extra[k];
  args[na] = NULL;
  lmmt_sim sim;
  if (lmmt_sim_start(&sim, args) != 0) {
    fprintf(stderr, "cannot start the simulator with %s devices\n", count);
    return 1;
  }
  lmm_member *m;
  size_t n;
  char why[200];
  if (lmm_members_load(sim.members_path, &m, &n, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "%s\n", why);
    lmmt_sim_stop(&sim);
    return 1;
  }
  tally t, tb;
  double rate = write_rate(m, n, in_flight, &t);
  size_t s = sample < n ? sample : n;
  double base = write_rate(m, s, 1, &tb);
  printf("%8zu %14.0f %8zu %14.0f %8zu %11zu %7.1fx\n", n, rate > 0 ? rate : 0, t.failed,
         base > 0 ? base : 0, s, tb.failed, rate > 0 && base > 0 ? rate / base : 0);
  fflush(stdout);
  lmm_members_free(m, n);
  int sim_rc = lmmt_sim_stop(&sim);
  if (sim_rc != 0) fprintf(stderr, "the simulator exited with status %d\n", sim_rc);
  return rate <= 0 || base <= 0 || t.failed || tb.failed || sim_rc != 0;
}

static void header(void) {
  printf("%8s %14s %8s %14s %8s %11s %8s\n", "members", "writes/s", "failed", "baseline w/s",
         "(sample)", "base failed", "ratio");
}

int main(int argc, char **argv) {
  static const char *defaults[] = {"1000", "10000"};
  const char **ns = argc > 1 ? (const char **)argv + 1 : defaults;
  int nn = argc > 1 ? argc - 1 : 2;
  size_t in_flight = env_size("IN_FLIGHT", 64, 1);
  size_t sample = env_size("BASELINE_SAMPLE", 1000, 1);
  size_t delay_ms = env_size("DELAY_MS", 10, 0);
  size_t in_flight_d = env_size("IN_FLIGHT_DELAYED", 256, 1);
  size_t sample_d = env_size("BASELINE_SAMPLE_DELAYED", 200, 1);
  if (delay_ms > 60000) {
    fprintf(stderr, "DELAY_MS: at most 60000\n");
    return 2;
  }
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
  int rc = 0;
  double t0 = now_s();

  printf("unicast fan-out: Write /42769/0 (SenML-JSON %zu bytes, TLV %zu bytes), plain CoAP, "
         "loopback\n\n",
         g_senml_len, g_tlv_len);
  printf("(a) raw loopback: answers at once, %zu in flight vs one at a time\n", in_flight);
  header();
  for (int k = 0; k < nn; k++)
    rc |= row(ns[k], NULL, in_flight, sample);

  if (delay_ms > 0) {
    char dms[24];
    snprintf(dms, sizeof dms, "%zu", delay_ms);
    printf("\n(b) every answer %zu ms late (lwm2m-mbms-sim --delay-ms %zu), %zu in flight vs one "
           "at a time\n    ceilings from the delay alone: %.0f writes/s in flight, %.0f one at a "
           "time\n",
           delay_ms, delay_ms, in_flight_d, (double)in_flight_d * 1000.0 / (double)delay_ms,
           1000.0 / (double)delay_ms);
    header();
    for (int k = 0; k < nn; k++)
      rc |= row(ns[k], (const char *[]){"--delay-ms", dms, NULL}, in_flight_d, sample_d);
  }
  printf("\n%s in %.1f s\n", rc ? "FAILED: some writes did not succeed" : "all writes succeeded",
         now_s() - t0);
  lmm_free(senml), lmm_free(tlv);
  lmm_global_cleanup();
  return rc;
}
