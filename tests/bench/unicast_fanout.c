/* unicast_fanout.c - benchmark: whole-instance writes of Group Mgmt /42769/0 to N simulated
 * devices on loopback, through the library's unicast engine, with many requests in flight,
 * against two baselines: the same engine with one request at a time, and libcoap's coap-client
 * run once per member as operators' scripts do. Three tables, all timed in this one run:
 *
 * (a) raw loopback, plain CoAP: the simulator answers at once. There is no round-trip time to
 *     overlap, so the in-flight and one-at-a-time columns are both bound by CPU (client and
 *     simulator share the 2 cores): the ratio shows what concurrency saves in per-request
 *     overhead, not in waiting.
 * (b) with latency: the simulator started with --delay-ms DELAY_MS, every answer leaving that
 *     long after its request, as from a device behind a slow radio link (NB-IoT, LTE-M answer
 *     after tens to hundreds of ms). One at a time cannot beat 1000 / DELAY_MS writes/s; with W
 *     in flight the ceiling is W * 1000 / DELAY_MS, printed in the title.
 * (c) CoAPS: the simulator with --dtls, N = COAPS_N members over coaps:// with their PSKs; every
 *     write includes its member's DTLS handshake (one session per member, as in a campaign).
 *
 * Columns, per N (members written):
 *   writes/s      successful writes (2.xx) per second, over the whole batch of N members with
 *                 IN_FLIGHT (a, c) or IN_FLIGHT_DELAYED (b) at once (lmm_unicast_config
 *                 max_in_flight), from lmm_batch_start() to the end of lmm_batch_wait()
 *   failed        members of that batch whose write did not end in 2.xx
 *   seq w/s       successful writes per second with max_in_flight 1: one request at a time,
 *                 over the first `sample` members (BASELINE_SAMPLE (a, c),
 *                 BASELINE_SAMPLE_DELAYED (b)); the engine, client context and simulator are
 *                 the same
 *   seq failed    members of that run whose write did not end in 2.xx
 *   ratio         writes/s divided by seq w/s
 *   cc w/s        coap-client-openssl started once per member, one after the other (a PUT of
 *                 the same SenML-JSON instance): its successful writes per second over a sample
 *                 of the first CC_SAMPLE members, so N members would take N / (cc w/s) seconds
 *                 (extrapolated from the sample, not run for all N); process start-up included,
 *                 which is what such a script pays
 *   B/member      table (a) only: the peak resident set during the batch (VmHWM, reset just
 *                 before it) minus the resident set just before it, per member: what the
 *                 engine holds for a running fan-out. The members list itself (loaded before)
 *                 is not included; its own cost per member is printed below the table.
 * Rows above 10,000 members (the simulator's cap) run several simulators, --base-addr apart
 * (127.1.0.1, 127.2.0.1, ...), their members files joined. Each row has a fresh fleet (each
 * write creates instance 0 anew); a row whose run failed shows 0 and the exit status is 1:
 * every write must succeed. The figures also go to one BENCH_JSON line (lmmt_bench.h).
 *
 *   bench_unicast_fanout [N ...]        (default: 1000 10000)
 *   scripts/bench: 1000 10000
 *   scripts/bench --quick: COAPS_N=100 CC_SAMPLE=5 BASELINE_SAMPLE_DELAYED=50 200
 * Environment: LMM_SIM (the simulator; set by the build for ctest, or give the path),
 *   IN_FLIGHT (default 64), BASELINE_SAMPLE (default 1000), DELAY_MS (default 10; 0 skips
 *   table b), IN_FLIGHT_DELAYED (default 256), BASELINE_SAMPLE_DELAYED (default 200),
 *   COAPS_N (default 1000; 0 skips table c), CC_SAMPLE (default 50; 0 skips the coap-client
 *   column), LMM_COAP_CLIENT (default /usr/bin/coap-client-openssl). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmmt.h"
#include "lmmt_bench.h"
#include "lmmt_libcoap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define SIM_MAX    10000 /* devices per simulator (lwm2m-mbms-sim --count) */
#define FLEETS_MAX 16    /* simulators per row: 160,000 members */

typedef struct tally {
  size_t ok, failed;
} tally;

static const uint8_t *g_senml, *g_tlv;
static size_t g_senml_len, g_tlv_len;
static lmmt_bench *g_bj; /* this run's BENCH_JSON figures */

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
 * second, or -1 when the batch could not run (then every member counts as failed). With `mem`,
 * the bytes per member the batch added to the peak resident set go there (-1: unknown). */
static double write_rate(const lmm_member *m, size_t n, size_t in_flight, tally *t, double *mem) {
  lmm_ctx *ctx = NULL;
  lmm_unicast *u = NULL;
  lmm_batch *b = NULL;
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.max_in_flight = in_flight;
  *t = (tally){0};
  double rate = -1;
  long long base = lmmt_peak_rss_reset() == 0 ? lmmt_rss() : -1;
  if (mem) *mem = -1;
  if (lmm_ctx_new(NULL, &ctx) != LMM_OK || lmm_unicast_new(ctx, &cfg, &u) != LMM_OK) goto out;
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  lmm_path_parse("/42769/0", &op.path);
  double t0 = now_s();
  if (lmm_batch_start(u, m, n, &op, LMM_GROUP_MGMT_OID, &handlers, t, &b) != LMM_OK) goto out;
  lmm_err rc = lmm_batch_wait(b, 600000);
  double dt = now_s() - t0;
  long long peak = lmmt_peak_rss();
  if (mem && base > 0 && peak >= base) *mem = (double)(peak - base) / (double)n;
  if (rc == LMM_OK && t->ok + t->failed == n) rate = (double)t->ok / dt;
out:
  if (rate < 0) t->failed = n - t->ok; /* whatever did not report is not a success */
  if (b) lmm_batch_free(b);
  if (u) lmm_unicast_free(u);
  if (ctx) lmm_ctx_free(ctx);
  return rate;
}

/* coap-client once per member of members[0..n), one after the other: successful writes per
 * second (-1 when none succeeded), the failures into *failed. */
static double coap_client_rate(const lmm_member *m, size_t n, size_t *failed) {
  *failed = 0;
  size_t ok = 0;
  double t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    char uri[300];
    snprintf(uri, sizeof uri, "%s/42769/0", m[i].uri);
    lmmt_tool_run r = lmmt_coap_client_run(
        10000, (const char *[]){"-m", "put", "-t", "110", "-e", (const char *)g_senml, uri, NULL});
    /* coap-client prints nothing for a 2.xx without payload; an error code goes to stdout. */
    if (r.status == 0 && !r.timed_out && r.out_len == 0 && !*r.err)
      ok++;
    else
      ++*failed;
    lmmt_tool_run_free(&r);
  }
  double dt = now_s() - t0;
  return ok ? (double)ok / dt : -1;
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

/* A fleet of `n` devices: as many simulators as it takes, --base-addr apart, with the extra
 * arguments; their members in one array. */
typedef struct fleet {
  lmmt_sim sim[FLEETS_MAX];
  size_t n_sim;
  lmm_member *m;
  size_t n;
} fleet;

static int fleet_stop(fleet *f) {
  int rc = 0;
  for (size_t k = 0; k < f->n_sim; k++) {
    int s = lmmt_sim_stop(&f->sim[k]);
    if (s != 0) fprintf(stderr, "simulator %zu exited with status %d\n", k, s), rc = 1;
  }
  if (f->m) lmm_members_free(f->m, f->n);
  f->m = NULL, f->n = 0, f->n_sim = 0;
  return rc;
}

static int fleet_start(fleet *f, size_t n, const char *const *extra) {
  memset(f, 0, sizeof *f);
  if (n == 0 || (n + SIM_MAX - 1) / SIM_MAX > FLEETS_MAX) {
    fprintf(stderr, "N: 1 .. %d members\n", SIM_MAX * FLEETS_MAX);
    return -1;
  }
  for (size_t done = 0; done < n;) {
    size_t c = n - done < SIM_MAX ? n - done : SIM_MAX;
    char count[16], base[24];
    snprintf(count, sizeof count, "%zu", c);
    snprintf(base, sizeof base, "127.%zu.0.1", f->n_sim + 1);
    const char *args[12] = {"--count", count, "--base-addr", base};
    int na = 4;
    for (int k = 0; extra && extra[k] && na < 11; k++)
      args[na++] = extra[k];
    args[na] = NULL;
    if (lmmt_sim_start(&f->sim[f->n_sim], args) != 0) {
      fprintf(stderr, "cannot start a simulator of %s devices at %s\n", count, base);
      fleet_stop(f);
      return -1;
    }
    lmm_member *m;
    size_t got;
    char why[200];
    lmm_err e = lmm_members_load(f->sim[f->n_sim++].members_path, &m, &got, why, sizeof why);
    if (e != LMM_OK) {
      fprintf(stderr, "%s\n", why);
      fleet_stop(f);
      return -1;
    }
    lmm_member *all = realloc(f->m, (f->n + got) * sizeof *all);
    if (!all) {
      lmm_members_free(m, got);
      fleet_stop(f);
      return -1;
    }
    memcpy(all + f->n, m, got * sizeof *m); /* the members move: free only the array */
    free(m);
    f->m = all, f->n += got, done += c;
  }
  return 0;
}

/* One row of table `tab`: a fresh fleet of `n` devices with `extra` arguments, the batch, the
 * baselines. Returns 0 when every write succeeded. */
static int row(const char *tab, size_t n, const char *const *extra, size_t in_flight, size_t sample,
               size_t cc_sample, bool mem) {
  fleet f;
  long long before = lmmt_rss();
  if (fleet_start(&f, n, extra) != 0) return 1;
  long long after = lmmt_rss();
  tally t, tb;
  double bpm = -1;
  double rate = write_rate(f.m, f.n, in_flight, &t, mem ? &bpm : NULL);
  size_t s = sample < f.n ? sample : f.n, cs = cc_sample < f.n ? cc_sample : f.n, cc_failed = 0;
  double base = write_rate(f.m, s, 1, &tb, NULL);
  double cc = cs ? coap_client_rate(f.m, cs, &cc_failed) : 0;
  printf("%8zu %10.0f %7zu %9.0f %7zu %7zu %7.1fx %8.1f %4zu/%-3zu", f.n, rate > 0 ? rate : 0,
         t.failed, base > 0 ? base : 0, s, tb.failed, rate > 0 && base > 0 ? rate / base : 0,
         cc > 0 ? cc : 0, cs - cc_failed, cs);
  if (mem) printf(" %9.0f", bpm);
  printf("\n");
  fflush(stdout);
  lmmt_bench_numf(g_bj, rate > 0 ? rate : 0, "%s_writes_per_s_n%zu", tab, n);
  lmmt_bench_numf(g_bj, (double)t.failed, "%s_failed_n%zu", tab, n);
  lmmt_bench_numf(g_bj, base > 0 ? base : 0, "%s_seq_writes_per_s_n%zu", tab, n);
  lmmt_bench_numf(g_bj, rate > 0 && base > 0 ? rate / base : 0, "%s_ratio_n%zu", tab, n);
  if (cs) {
    lmmt_bench_numf(g_bj, cc > 0 ? cc : 0, "%s_coap_client_writes_per_s_n%zu", tab, n);
    lmmt_bench_numf(g_bj, (double)cc_failed, "%s_coap_client_failed_n%zu", tab, n);
  }
  if (mem) {
    lmmt_bench_numf(g_bj, bpm, "mem_bytes_per_member_n%zu", n);
    if (before > 0 && after >= before)
      lmmt_bench_numf(g_bj, (double)(after - before) / (double)f.n,
                      "members_list_bytes_per_member_n%zu", n);
  }
  int sim_rc = fleet_stop(&f);
  return rate <= 0 || base <= 0 || t.failed || tb.failed || cc_failed || sim_rc != 0;
}

static void header(bool mem) {
  printf("%8s %10s %7s %9s %7s %7s %8s %8s %8s%s\n", "members", "writes/s", "failed", "seq w/s",
         "(sample)", "seq fail", "ratio", "cc w/s", "(cc ok)", mem ? "  B/member" : "");
}

static size_t parse_n(const char *s) {
  char *end;
  unsigned long long x = strtoull(s, &end, 10);
  if (*end || x == 0 || x > (unsigned long long)SIM_MAX * FLEETS_MAX) {
    fprintf(stderr, "bench_unicast_fanout: N must be 1 .. %d, got '%s'\n", SIM_MAX * FLEETS_MAX, s);
    exit(2);
  }
  return (size_t)x;
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
  size_t coaps_n = env_size("COAPS_N", 1000, 0);
  size_t cc_sample = env_size("CC_SAMPLE", 50, 0);
  if (delay_ms > 60000) {
    fprintf(stderr, "DELAY_MS: at most 60000\n");
    return 2;
  }
  for (int k = 0; k < nn; k++)
    parse_n(ns[k]);
  if (cc_sample && !lmmt_libcoap_tool("coap-client")) return 2;
  lmm_global_init();
  g_bj = lmmt_bench_new("unicast_fanout");

  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  char *tmgi[] = {"0a1b2c00101"};
  uint16_t riid[] = {0};
  g.group_id = "bench-group", g.group_type = LMM_GROUP_MBMS, g.member_number = 10000;
  g.external_group_id = "bench@operator.example", g.tmgi = tmgi, g.tmgi_riid = riid, g.n_tmgi = 1;
  g.multicast_address = "239.10.27.44", g.response_time_window = 60, g.multicast_port = 5683;
  g.answer_uri = "coap://127.0.0.1:5690/ans";
  uint8_t *senml, *tlv, *senml_z;
  if (lmm_group_mgmt_encode(&g, LMM_GROUP_MGMT_OID, 0, LMM_FMT_SENML_JSON, &senml, &g_senml_len) ||
      lmm_group_mgmt_encode(&g, LMM_GROUP_MGMT_OID, 0, LMM_FMT_TLV, &tlv, &g_tlv_len) ||
      !(senml_z = calloc(1, g_senml_len + 1))) {
    fprintf(stderr, "cannot encode the instance\n");
    return 1;
  }
  memcpy(senml_z, senml, g_senml_len); /* NUL-terminated: coap-client's -e takes a string */
  g_senml = senml_z, g_tlv = tlv;
  int rc = 0;
  double t0 = now_s();

  printf("unicast fan-out: Write /42769/0 (SenML-JSON %zu bytes, TLV %zu bytes), loopback\n"
         "seq: the engine one request at a time; cc: coap-client once per member, a sample,\n"
         "extrapolated (N members take N / cc w/s)\n\n",
         g_senml_len, g_tlv_len);
  printf("(a) raw loopback, plain CoAP: answers at once, %zu in flight\n", in_flight);
  header(true);
  for (int k = 0; k < nn; k++)
    rc |= row("raw", parse_n(ns[k]), NULL, in_flight, sample, cc_sample, true);

  if (delay_ms > 0) {
    char dms[24];
    snprintf(dms, sizeof dms, "%zu", delay_ms);
    printf("\n(b) every answer %zu ms late (lwm2m-mbms-sim --delay-ms %zu), %zu in flight\n"
           "    ceilings from the delay alone: %.0f writes/s in flight, %.0f one at a time\n",
           delay_ms, delay_ms, in_flight_d, (double)in_flight_d * 1000.0 / (double)delay_ms,
           1000.0 / (double)delay_ms);
    header(false);
    for (int k = 0; k < nn; k++)
      rc |= row("delay", parse_n(ns[k]), (const char *[]){"--delay-ms", dms, NULL}, in_flight_d,
                sample_d, cc_sample, false);
    lmmt_bench_num(g_bj, "delay_ms", (double)delay_ms);
  }
  if (coaps_n > 0) {
    printf("\n(c) CoAPS (DTLS 1.2 PSK), a handshake per member included, %zu in flight\n",
           in_flight);
    header(false);
    /* coap-client would need each member's own PSK on its command line: not in this table. */
    rc |= row("coaps", coaps_n, (const char *[]){"--dtls", "--dtls-port", "0", NULL}, in_flight,
              sample < coaps_n ? sample : coaps_n, 0, false);
  }
  printf("\n%s in %.1f s\n", rc ? "FAILED: some writes did not succeed" : "all writes succeeded",
         now_s() - t0);
  lmmt_bench_num(g_bj, "in_flight", (double)in_flight);
  lmmt_bench_num(g_bj, "elapsed_s", now_s() - t0);
  lmmt_bench_ok(g_bj, rc == 0);
  if (lmmt_bench_print(g_bj) != 0) rc = 1;
  lmm_free(senml), lmm_free(tlv), free(senml_z);
  lmm_global_cleanup();
  return rc;
}
