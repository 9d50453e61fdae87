/* campaign.c - benchmark: one group operation (Read /6/0/0, Accept text/plain) on N simulated
 * devices, run as an MBMS campaign and then as the same operation by pure unicast, both through
 * lmm_campaign with the same world: one t8-mock (SCEF + BM-SC) and one simulator of N devices
 * (--object 6) per N, one context, one unicast engine (max_in_flight IN_FLIGHT), one T8 client
 * with its notification receiver, one answer receiver. The two runs use two groups of different
 * names; the unicast run comes after the MBMS one. No store (bench_store measures it).
 *
 * Times are CLOCK_MONOTONIC stamps taken in the campaign's on_state and on_member callbacks
 * (t0 = just before lmm_campaign_start()). Per N, one table; rows:
 *   configuring           MBMS: CONFIGURING -> DELIVERING: the T8 TMGI allocation, then one
 *                         unicast Write of the Group Mgmt instance per member, IN_FLIGHT at once
 *                         (one state for both: the campaign reports no event between them; the
 *                         "T8 requests (config)" row says whether a TMGI was allocated)
 *   delivering            DELIVERING -> COLLECTING: MBMS, the T8 group message request until
 *                         the SCEF's 201; unicast, the whole unicast Read (it has no COLLECTING)
 *   collecting            COLLECTING -> REPAIRING or DONE: the window W plus the grace (the
 *                         campaign waits for the whole window even when every member answered)
 *   repairing             REPAIRING -> DONE (0 when nobody needed repair)
 *   total                 t0 -> DONE
 *   all answered          DELIVERING -> the last on_member: the time to have every member
 *                         answered, *excluding the Group Mgmt configuration*. Configuration
 *                         happens once per group, while operations on the group repeat: the
 *                         fair per-operation comparison leaves it out. The ratio column is
 *                         unicast / MBMS of this row. On loopback a unicast Read costs no
 *                         round-trip time, while the members of an MBMS group deliberately
 *                         spread their answers over the window (docs/protocol.md section 2),
 *                         so this ratio is well below 1 here: MBMS does not save time, it saves
 *                         the per-member requests (rows below) that a radio network pays for.
 *   answers/s window      MBMS: answers accepted over the group path (lmm_answers stats,
 *                         delta over the run) / W
 *   answers/s peak        MBMS: the most on_member calls of the group path in one 100 ms bucket
 *                         (counted from DELIVERING), times 10
 *   reads/s               unicast: members answered 2.05 / the "all answered" time
 *   T8 requests (op)      HTTP requests to the delivery-via-mbms resource in the mock's log
 *                         (delta over the run): the group message, once for the whole group
 *   T8 requests (config)  HTTP requests to tmgi-allocation in the mock's log (delta)
 *   CoAP req/member (op)  requests the adapter sent to members for the operation itself, per
 *                         member: the sum of the outcomes' `attempts` over members served by
 *                         unicast (repair for MBMS), CoAP-layer retransmissions excluded, / N.
 *                         The MBMS group message itself is not a CoAP request to a member.
 *   GM writes (config)    members whose Group Mgmt write succeeded (outcomes' gm_written)
 *   ok / failed           members whose outcome is 2.05 with a latitude in [48, 49) / others
 *   T8 delivery notified  MBMS: the SCEF's delivery notification for the group message
 *                         (lmm_campaign_info t8_status), received by the notifier
 * After the table, the simulator's own counters (its --stats-json at exit) as a cross-check:
 * GET requests it saw (the group request counts once per device that received it, plus repair
 * and unicast reads), PUTs (the Group Mgmt writes), answer POSTs it sent.
 * Every member must succeed in both runs; any failure, wait timeout or world set-up error makes
 * the exit status 1.
 *
 *   bench_campaign [N ...]          (default: 1000 10000)
 *   scripts/bench: 1000 10000
 *   scripts/bench --quick: WINDOW=1 GRACE_MS=200 100
 * Environment: LMM_T8_MOCK, LMM_SIM (the programs), WINDOW (seconds, default 5), GRACE_MS
 *   (default 1000), IN_FLIGHT (default 64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>

#include "lmmt.h"
#include "lmmt_bench.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* ------------------------------------------------------------ one campaign */

typedef struct run {
  double t0;
  double t_state[LMM_CS_FAILED + 1]; /* first entry of each state, 0 if never */
  double t_last;                     /* last on_member */
  unsigned *bucket;                  /* group-path answers per 100 ms from DELIVERING */
  size_t n_bucket;
  size_t ok, failed, group_path, by_unicast, gm_written;
  long attempts; /* engine requests for the operation (members served by unicast) */
  bool finished;
  uint64_t accepted; /* lmm_answers accepted during the run */
  int t8_gmd, t8_tmgi;
  int t8_status; /* -1 no delivery notification, 0 failed, 1 delivered */
} run;

static void on_state(void *user, lmm_campaign_state st) {
  run *r = user;
  double t = now_s();
  if (st <= LMM_CS_FAILED && r->t_state[st] == 0) r->t_state[st] = t;
}

static void on_member(void *user, size_t index, const lmm_outcome *o) {
  run *r = user;
  (void)index;
  double t = now_s();
  r->t_last = t;
  char got[32] = "";
  size_t l = o->payload_len < sizeof got - 1 ? o->payload_len : sizeof got - 1;
  if (o->payload) memcpy(got, o->payload, l);
  double lat = atof(got);
  if (o->done && o->err == LMM_OK && o->coap_code == 0x45 && lat >= 48.0 && lat < 49.0)
    r->ok++;
  else
    r->failed++;
  if (o->via == LMM_VIA_UNICAST) {
    r->by_unicast++;
    r->attempts += o->attempts;
  } else if (o->via == LMM_VIA_MBMS) {
    r->group_path++;
    double from = r->t_state[LMM_CS_DELIVERING];
    long b = from > 0 && t > from ? (long)((t - from) * 10.0) : 0;
    if (r->bucket && b >= 0 && (size_t)b < r->n_bucket) r->bucket[b]++;
  }
}

static const lmm_campaign_handlers handlers = {on_member, on_state, NULL};

/* ------------------------------------------------------------------ world */

typedef struct world {
  lmmt_mock mock;
  lmmt_sim sim;
  bool mock_up, sim_up;
  int bearer_port;
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
  lmm_answers *ans;
  lmm_member *m;
  size_t n;
  lmm_campaign *c; /* the one running, for the delivery notifications */
} world;

static void on_delivery(void *user, const char *txn, bool delivered) {
  world *w = user;
  if (w->c) lmm_campaign_t8_notified(w->c, txn, delivered);
}

static const lmm_t8_notifier_handlers nh = {on_delivery, NULL};

static void world_down(world *w) {
  lmm_answers_free(w->ans);
  lmm_t8_client_free(w->t8);
  lmm_t8_notifier_free(w->nt);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  if (w->m) lmm_members_free(w->m, w->n);
  w->ans = NULL, w->t8 = NULL, w->nt = NULL, w->u = NULL, w->ctx = NULL, w->m = NULL;
}

/* Returns 0, or -1 with a message on stderr. */
static int world_up(world *w, const char *count, size_t in_flight) {
  memset(w, 0, sizeof *w);
  char bp[16];
  w->bearer_port = lmmt_random_port();
  snprintf(bp, sizeof bp, "%d", w->bearer_port);
  if (lmmt_mock_start(&w->mock, (const char *[]){"--bearer-port", bp, "--seed", "3", NULL})) {
    fprintf(stderr, "cannot start the t8-mock (LMM_T8_MOCK)\n");
    return -1;
  }
  w->mock_up = true;
  if (lmmt_sim_start(&w->sim,
                     (const char *[]){"--count", count, "--object", "6", "--seed", "9", NULL})) {
    fprintf(stderr, "cannot start the simulator (LMM_SIM) with %s devices\n", count);
    return -1;
  }
  w->sim_up = true;
  char why[256];
  if (lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "members: %s\n", why);
    return -1;
  }
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.max_in_flight = in_flight, ucfg.member_deadline_ms = 20000;
  lmm_t8_config tcfg = LMM_T8_CONFIG_DEFAULT;
  tcfg.api_root = w->mock.api_root, tcfg.scs_as_id = "as1";
  if (lmm_ctx_new(NULL, &w->ctx) != LMM_OK || lmm_unicast_new(w->ctx, &ucfg, &w->u) != LMM_OK ||
      lmm_t8_client_new(w->ctx, &tcfg, &w->t8) != LMM_OK ||
      lmm_t8_notifier_new(w->ctx, NULL, &nh, w, &w->nt) != LMM_OK ||
      lmm_answers_new(w->ctx, NULL, &w->ans) != LMM_OK) {
    fprintf(stderr, "cannot set up the adapter's side\n");
    return -1;
  }
  lmm_t8_client_attach_notifier(w->t8, w->nt);
  return 0;
}

/* Runs the Read as one campaign over `via` (LMM_VIA_MBMS or LMM_VIA_UNICAST) with a group of
 * name `name`. Returns 0 when the campaign ended DONE with every member OK. */
static int run_one(world *w, const char *name, lmm_path_kind via, long window_s, long grace_ms,
                   run *r) {
  char egid[96];
  snprintf(egid, sizeof egid, "%s@operator.example", name);
  lmm_group_info g = {.name = (char *)name,
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = egid,
                      .multicast_port = w->bearer_port,
                      .response_time_window = window_s};
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = w->m, cfg.n_members = w->n;
  cfg.op.kind = LMM_OPK_READ;
  lmm_path_parse("/6/0/0", &cfg.op.path);
  cfg.op.accept = LMM_FMT_TEXT;
  cfg.via = via;
  cfg.window_s = window_s;
  cfg.grace_ms = grace_ms;
  memset(r, 0, sizeof *r);
  r->n_bucket = (size_t)(window_s * 10 + grace_ms / 100 + 600);
  r->bucket = calloc(r->n_bucket, sizeof *r->bucket);
  lmm_answers_stats a0, a1;
  lmm_answers_get_stats(w->ans, &a0);
  int gmd0 = lmmt_log_count(&w->mock, "http", "delivery-via-mbms\"");
  int tmgi0 = lmmt_log_count(&w->mock, "http", "tmgi-allocation\"");
  lmm_campaign_deps deps = {w->ctx, w->u, w->t8, w->ans, NULL};
  int rc = 1;
  if (lmm_campaign_new(&deps, &cfg, &handlers, r, &w->c) != LMM_OK) {
    fprintf(stderr, "%s: cannot create the campaign\n", name);
    goto out;
  }
  r->t0 = now_s();
  if (lmm_campaign_start(w->c) != LMM_OK) {
    fprintf(stderr, "%s: cannot start the campaign\n", name);
    goto out;
  }
  /* Bound: configuring and unicast work at a few thousand members/s at worst, plus the window. */
  long bound_ms = 30000 + (long)w->n * 2 + (via == LMM_VIA_MBMS ? window_s * 1000 + grace_ms : 0);
  lmm_err wr = lmm_campaign_wait(w->c, bound_ms);
  const lmm_campaign_info *info = lmm_campaign_get_info(w->c);
  if (wr != LMM_OK) {
    fprintf(stderr, "%s: not done within %ld ms (state %d)\n", name, bound_ms, info->state);
    goto out;
  }
  r->finished = info->state == LMM_CS_DONE;
  r->t8_status = info->t8_status;
  if (!r->finished)
    fprintf(stderr, "%s: ended in state %d: %s\n", name, info->state,
            info->error ? info->error : "");
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(w->c, &n);
  for (size_t i = 0; i < n; i++) {
    r->failed += !o[i].done; /* never reported: not a success */
    r->gm_written += o[i].gm_written;
  }
  if (r->failed && r->failed <= 5)
    for (size_t i = 0; i < n; i++)
      if (!o[i].done || o[i].coap_code != 0x45)
        fprintf(stderr, "%s: member %s: err %d code %d.%02d via %d: %s\n", name, o[i].ep, o[i].err,
                o[i].coap_code >> 5, o[i].coap_code & 31, o[i].via, o[i].error ? o[i].error : "");
  rc = r->finished && r->failed == 0 && r->ok == w->n ? 0 : 1;
out:
  if (rc && r->ok + r->failed < w->n) r->failed = w->n - r->ok;
  lmm_answers_get_stats(w->ans, &a1);
  r->accepted = a1.accepted - a0.accepted;
  r->t8_gmd = lmmt_log_count(&w->mock, "http", "delivery-via-mbms\"") - gmd0;
  r->t8_tmgi = lmmt_log_count(&w->mock, "http", "tmgi-allocation\"") - tmgi0;
  lmm_campaign_free(w->c);
  w->c = NULL;
  return rc;
}

/* ------------------------------------------------------------------ report */

static double span(double a, double b) {
  return a > 0 && b > 0 && b >= a ? b - a : 0;
}

static double end_of(const run *r) {
  return r->t_state[LMM_CS_DONE] > 0 ? r->t_state[LMM_CS_DONE] : r->t_state[LMM_CS_FAILED];
}

static void row_t(const char *label, double mbms, double uni, bool has_m, bool has_u) {
  char a[32] = "-", b[32] = "-";
  if (has_m) snprintf(a, sizeof a, "%.3f s", mbms);
  if (has_u) snprintf(b, sizeof b, "%.3f s", uni);
  printf("  %-26s %14s %14s\n", label, a, b);
}

static void row_s(const char *label, const char *mbms, const char *uni) {
  printf("  %-26s %14s %14s\n", label, mbms, uni);
}

/* The first integer after `key` following `from` in `s`, or -1. */
static long json_num(const char *s, const char *from, const char *key) {
  const char *p = from ? strstr(s, from) : s;
  if (!p || !(p = strstr(p, key))) return -1;
  return strtol(p + strlen(key), NULL, 10);
}

static int one_n(lmmt_bench *bj, const char *count, long window_s, long grace_ms,
                 size_t in_flight) {
  world w;
  int rc = 0;
  run rm, ru;
  memset(&rm, 0, sizeof rm), memset(&ru, 0, sizeof ru);
  if (world_up(&w, count, in_flight)) {
    rc = 1;
    goto down;
  }
  char name_m[64], name_u[64];
  snprintf(name_m, sizeof name_m, "bench-mbms-%zu", w.n);
  snprintf(name_u, sizeof name_u, "bench-unicast-%zu", w.n);
  rc |= run_one(&w, name_m, LMM_VIA_MBMS, window_s, grace_ms, &rm);
  rc |= run_one(&w, name_u, LMM_VIA_UNICAST, window_s, grace_ms, &ru);

  double n = (double)w.n;
  const double *sm = rm.t_state, *su = ru.t_state;
  double m_coll_end = sm[LMM_CS_REPAIRING] > 0 ? sm[LMM_CS_REPAIRING] : end_of(&rm);
  double all_m = span(sm[LMM_CS_DELIVERING], rm.t_last);
  double all_u = span(su[LMM_CS_DELIVERING], ru.t_last);
  printf("\nN = %zu devices: Read /6/0/0 (Accept text/plain), window %ld s, grace %ld ms, "
         "%zu in flight\n",
         w.n, window_s, grace_ms, in_flight);
  printf("  %-26s %14s %14s\n", "", "MBMS", "unicast");
  row_t("configuring (TMGI + GM)", span(sm[LMM_CS_CONFIGURING], sm[LMM_CS_DELIVERING]), 0, true,
        false);
  row_t("delivering", span(sm[LMM_CS_DELIVERING], sm[LMM_CS_COLLECTING]),
        span(su[LMM_CS_DELIVERING], end_of(&ru)), true, true);
  row_t("collecting (W + grace)", span(sm[LMM_CS_COLLECTING], m_coll_end), 0, true, false);
  row_t("repairing", span(sm[LMM_CS_REPAIRING], end_of(&rm)), 0, true, false);
  row_t("total", span(rm.t0, end_of(&rm)), span(ru.t0, end_of(&ru)), true, true);
  row_t("all answered (no config)", all_m, all_u, true, true);
  char a[32], b[32];
  snprintf(a, sizeof a, "%.3f", all_m > 0 ? all_u / all_m : 0);
  row_s("ratio unicast / MBMS", a, "");
  unsigned peak = 0;
  for (size_t k = 0; rm.bucket && k < rm.n_bucket; k++)
    peak = rm.bucket[k] > peak ? rm.bucket[k] : peak;
  snprintf(a, sizeof a, "%.0f", window_s > 0 ? (double)rm.accepted / (double)window_s : 0);
  row_s("answers/s over window", a, "-");
  snprintf(a, sizeof a, "%u", peak * 10);
  row_s("answers/s peak (100 ms)", a, "-");
  snprintf(b, sizeof b, "%.0f", all_u > 0 ? (double)ru.ok / all_u : 0);
  row_s("reads/s", "-", b);
  snprintf(a, sizeof a, "%d", rm.t8_gmd), snprintf(b, sizeof b, "%d", ru.t8_gmd);
  row_s("T8 requests (op, total)", a, b);
  row_s("T8 delivery notified",
        rm.t8_status == 1   ? "delivered"
        : rm.t8_status == 0 ? "failed"
                            : "none",
        "-");
  snprintf(a, sizeof a, "%d", rm.t8_tmgi), snprintf(b, sizeof b, "%d", ru.t8_tmgi);
  row_s("T8 requests (config)", a, b);
  snprintf(a, sizeof a, "%.3f", (double)rm.attempts / n);
  snprintf(b, sizeof b, "%.3f", (double)ru.attempts / n);
  row_s("CoAP req/member (op)", a, b);
  snprintf(a, sizeof a, "%zu", rm.gm_written), snprintf(b, sizeof b, "%zu", ru.gm_written);
  row_s("GM writes (config)", a, b);
  snprintf(a, sizeof a, "%zu/%zu", rm.group_path, rm.by_unicast);
  snprintf(b, sizeof b, "%zu/%zu", ru.group_path, ru.by_unicast);
  row_s("served group/unicast", a, b);
  snprintf(a, sizeof a, "%llu", (unsigned long long)rm.accepted);
  snprintf(b, sizeof b, "%llu", (unsigned long long)ru.accepted);
  row_s("answers accepted", a, b);
  snprintf(a, sizeof a, "%zu / %zu", rm.ok, rm.failed);
  snprintf(b, sizeof b, "%zu / %zu", ru.ok, ru.failed);
  row_s("ok / failed", a, b);
  fflush(stdout);
  lmmt_bench_numf(bj, span(sm[LMM_CS_CONFIGURING], sm[LMM_CS_DELIVERING]), "mbms_config_s_n%zu",
                  w.n);
  lmmt_bench_numf(bj, span(rm.t0, end_of(&rm)), "mbms_total_s_n%zu", w.n);
  lmmt_bench_numf(bj, span(ru.t0, end_of(&ru)), "unicast_total_s_n%zu", w.n);
  lmmt_bench_numf(bj, all_m, "mbms_all_answered_s_n%zu", w.n);
  lmmt_bench_numf(bj, all_u, "unicast_all_answered_s_n%zu", w.n);
  lmmt_bench_numf(bj, (double)peak * 10, "mbms_answers_per_s_peak_n%zu", w.n);
  lmmt_bench_numf(bj, all_u > 0 ? (double)ru.ok / all_u : 0, "unicast_reads_per_s_n%zu", w.n);
  lmmt_bench_numf(bj, (double)rm.attempts / n, "mbms_coap_req_per_member_n%zu", w.n);
  lmmt_bench_numf(bj, (double)rm.failed, "mbms_failed_n%zu", w.n);
  lmmt_bench_numf(bj, (double)ru.failed, "unicast_failed_n%zu", w.n);

down:
  world_down(&w);
  if (w.sim_up) {
    /* lmmt_sim_stop() deletes the stats file: stop the simulator here (SIGTERM, bounded wait),
     * read its counters, then let lmmt_sim_stop() clean up. */
    int st = 0, s = -1;
    kill(w.sim.pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
      if (waitpid(w.sim.pid, &st, WNOHANG) == w.sim.pid) {
        s = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        w.sim.pid = 0;
        break;
      }
      nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    if (s != 0) fprintf(stderr, "the simulator exited with status %d\n", s), rc = 1;
    char *st_json = w.sim.pid == 0 ? lmmt_read_file(w.sim.stats_path, NULL) : NULL;
    if (st_json) {
      long get = json_num(st_json, "\"totals\"", "\"GET\":");
      long put = json_num(st_json, "\"totals\"", "\"PUT\":");
      long recv = json_num(st_json, "\"totals\"", "\"received\":");
      long sent = json_num(st_json, "\"totals\"", "\"answers_sent\":");
      printf("  simulator counted: GET %ld (group request received %ld + repair %ld + unicast "
             "%ld = %ld), PUT %ld, answer POSTs sent %ld\n",
             get, recv, rm.attempts, ru.attempts, recv + rm.attempts + ru.attempts, put, sent);
      free(st_json);
    } else {
      printf("  simulator counters: no stats file\n");
    }
    lmmt_sim_stop(&w.sim); /* kills it if still running; removes its files */
  }
  if (w.mock_up) {
    int s = lmmt_mock_stop(&w.mock);
    if (s != 0) fprintf(stderr, "the t8-mock exited with status %d\n", s), rc = 1;
  }
  free(rm.bucket), free(ru.bucket);
  fflush(stdout);
  return rc;
}

int main(int argc, char **argv) {
  static const char *defaults[] = {"1000", "10000"};
  const char **ns = argc > 1 ? (const char **)argv + 1 : defaults;
  int nn = argc > 1 ? argc - 1 : 2;
  long window_s = (long)env_size("WINDOW", 5, 1);
  long grace_ms = (long)env_size("GRACE_MS", 1000, 0);
  size_t in_flight = env_size("IN_FLIGHT", 64, 1);
  if (window_s > 3600 || grace_ms > 600000) {
    fprintf(stderr, "WINDOW at most 3600, GRACE_MS at most 600000\n");
    return 2;
  }
  lmm_global_init();
  double t0 = now_s();
  printf("group Read /6/0/0: MBMS campaign vs the same operation by unicast, loopback\n");
  int rc = 0;
  lmmt_bench *bj = lmmt_bench_new("campaign");
  lmmt_bench_num(bj, "window_s", (double)window_s);
  for (int k = 0; k < nn; k++)
    rc |= one_n(bj, ns[k], window_s, grace_ms, in_flight);
  printf("\n%s in %.1f s\n",
         rc ? "FAILED: some members or runs did not succeed"
            : "every member succeeded in both runs",
         now_s() - t0);
  lmmt_bench_num(bj, "elapsed_s", now_s() - t0);
  lmmt_bench_ok(bj, rc == 0);
  if (lmmt_bench_print(bj) != 0) rc = 1;
  lmm_global_cleanup();
  return rc;
}
