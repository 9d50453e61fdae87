/* gateway.c - benchmark: the LwM2M Gateway's aggregated answer. For each N, one simulator of N
 * devices (--object 6), one `lwm2m-mbms gateway` (a child process, as an operator runs it), and
 * coap-client-openssl as the LwM2M server: a PUT of a Group Mgmt instance of N members, then a
 * Read of TARGET/6/0 timed from coap-client's start to its exit with the whole answer (its own
 * start-up, a few ms, included), twice per path: unicast (Group Type 2), then MBMS (Group Type
 * 0, t8-mock, Response Time Window WINDOW s, default 2; the first fan-out writes the Group Mgmt
 * object to every member, the second skips it). Each row: the members named in the answer, how
 * many were ok, the answer's size, and the time.
 *
 * Run with the programs of a build: LMM_CLI=build/bin/lwm2m-mbms LMM_SIM=build/bin/lwm2m-mbms-sim
 * LMM_T8_MOCK=build/bin/t8-mock build/bin/bench_gateway [N...] (default 200 2000).
 *   scripts/bench: 200 2000
 *   scripts/bench --quick: WINDOW=1 50 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "lmmt.h"
#include "lmmt_bench.h"
#include "lmmt_gwclient.h"

static lmmt_bench *g_bj; /* this run's BENCH_JSON figures */
#include "lmmt_libcoap.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Members named in the answer, and those with status ok. */
static void tally(const char *json, int *named, int *ok) {
  *named = *ok = 0;
  cJSON *a = cJSON_Parse(json);
  const cJSON *r;
  cJSON_ArrayForEach(r, a) {
    const cJSON *n = cJSON_GetObjectItem(r, "n"), *vs = cJSON_GetObjectItem(r, "vs");
    if (cJSON_IsString(n) && !strcmp(n->valuestring, "/status")) {
      (*named)++;
      *ok += cJSON_IsString(vs) && !strcmp(vs->valuestring, "ok");
    }
  }
  cJSON_Delete(a);
}

static char *instance(int n, int type, const char *more) {
  size_t cap = (size_t)n * 20 + 512;
  char *s = malloc(cap);
  if (!s) exit(1);
  int k = snprintf(s, cap,
                   "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"bench\"},{\"n\":\"1\",\"v\":%d},"
                   "{\"n\":\"2\",\"v\":%d},{\"n\":\"3\",\"vs\":\"",
                   type, n);
  for (int i = 0; i < n; i++)
    k += snprintf(s + k, cap - (size_t)k, "%sep=dev-%04d/6", i ? "," : "", i);
  snprintf(s + k, cap - (size_t)k, "\"},{\"n\":\"4\",\"vs\":\"/fanout/bench\"}%s]", more);
  return s;
}

static int run_path(int n, const char *path, const char *db, const char *members,
                    const char *const *env, int type, const char *more) {
  lmmt_gw g;
  if (lmmt_gw_start(&g, db, members, env, (const char *[]){"--grace-ms", "500", NULL})) return 1;
  char u[128];
  snprintf(u, sizeof u, "%s/42769/0", g.uri);
  char *p = instance(n, type, more);
  lmmt_tool_run w = lmmt_coap_client_run(
      90 * 1000, (const char *[]){"-m", "put", "-t", "110", "-e", p, "-B", "60", u, NULL});
  free(p);
  int rc = w.status || *w.err;
  if (rc) fprintf(stderr, "configuration refused: %s\n", w.err);
  lmmt_tool_run_free(&w);
  snprintf(u, sizeof u, "%s/fanout/bench/6/0", g.uri);
  for (int k = 0; !rc && k < 2; k++) {
    double t0 = now_s();
    lmmt_tool_run r =
        lmmt_coap_client_run(180 * 1000, (const char *[]){"-m", "get", "-B", "120", u, NULL});
    double dt = now_s() - t0;
    int named, ok;
    tally(r.out, &named, &ok);
    printf("  %-8s %-5s %6d %8d %6d %10zu %9.3f\n", path, k ? "again" : "first", n, named, ok,
           strlen(r.out), dt);
    lmmt_bench_numf(g_bj, dt, "%s_%s_s_n%d", path, k ? "again" : "first", n);
    lmmt_bench_numf(g_bj, (double)strlen(r.out), "%s_answer_bytes_n%d", path, n);
    lmmt_bench_numf(g_bj, (double)(n - ok), "%s_%s_not_ok_n%d", path, k ? "again" : "first", n);
    rc |= r.status || ok != n;
    lmmt_tool_run_free(&r);
  }
  rc |= lmmt_gw_stop(&g) != 0;
  return rc;
}

static int one_n(int n, long window) {
  char count[16], more[160], port_s[16], env_root[96], dir[64], db[96];
  snprintf(count, sizeof count, "%d", n);
  lmmt_sim sim;
  if (lmmt_sim_start(&sim, (const char *[]){"--count", count, "--object", "6", NULL})) return 1;
  int bearer = lmmt_random_port();
  snprintf(port_s, sizeof port_s, "%d", bearer);
  lmmt_mock mock;
  if (lmmt_mock_start(&mock, (const char *[]){"--bearer-port", port_s, NULL})) return 1;
  snprintf(env_root, sizeof env_root, "LMM_T8_API_ROOT=%s", mock.api_root);
  const char *env[] = {env_root, "LMM_T8_SCS_AS_ID=as1", NULL};
  int rc = 0;
  for (int path = 0; path < 2; path++) {
    if (lmmt_scratch_dir(dir, "gwbench")) return 1;
    snprintf(db, sizeof db, "%s/state.db", dir);
    if (path == 0) {
      rc |= run_path(n, "unicast", db, sim.members_path, NULL, 2, "");
    } else {
      snprintf(more, sizeof more,
               ",{\"n\":\"5\",\"vs\":\"bench@operator.example\"},{\"n\":\"9\",\"v\":%ld},"
               "{\"n\":\"10\",\"v\":%d}",
               window, bearer);
      rc |= run_path(n, "mbms", db, sim.members_path, env, 0, more);
    }
    lmmt_scratch_remove(dir);
  }
  lmmt_mock_stop(&mock);
  lmmt_sim_stop(&sim);
  return rc;
}

int main(int argc, char **argv) {
  if (!getenv("LMM_CLI") || !getenv("LMM_SIM") || !getenv("LMM_T8_MOCK")) {
    fprintf(stderr,
            "set LMM_CLI, LMM_SIM and LMM_T8_MOCK (see the top of tests/bench/gateway.c)\n");
    return 2;
  }
  const char *w = getenv("WINDOW");
  long window = w && *w ? atol(w) : 2;
  printf("gateway: Read TARGET/6/0 of N members, the whole SenML-JSON answer at coap-client\n");
  printf("  %-8s %-5s %6s %8s %6s %10s %9s\n", "path", "run", "N", "named", "ok", "bytes", "s");
  int rc = 0;
  g_bj = lmmt_bench_new("gateway");
  lmmt_bench_num(g_bj, "window_s", (double)window);
  if (argc > 1)
    for (int i = 1; i < argc; i++)
      rc |= one_n(atoi(argv[i]), window);
  else
    rc = one_n(200, window) | one_n(2000, window);
  lmmt_bench_ok(g_bj, rc == 0);
  if (lmmt_bench_print(g_bj) != 0) rc = 1;
  return rc;
}
