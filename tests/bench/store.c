/* store.c - benchmark: the state store's outcomes_put (one transaction per batch) for 1,000,
 * 10,000 and 100,000 members: time, rows per second, and the file size per member.
 *
 *   bench_store [--pg] [N ...]        (default: 1000 10000 100000)
 *   scripts/bench:
 *   scripts/bench --quick: 1000
 * The store goes to a fresh temporary directory ($TMPDIR or /tmp), removed afterwards; with
 * --pg, to a database of its own on a scratch PostgreSQL server (lmmt_pg.h) on loopback, whose
 * sizes are pg_database_size(). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lmmt_pg.h"
#include "lwm2m_mbms/lwm2m_mbms.h"
#include "lmmt_bench.h"

static lmmt_pg g_pg;
static bool g_on_pg;

/* What a Group Mgmt read of one member answers, in SenML-JSON. */
#define PAYLOAD "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"fleet-7\"}]"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

/* The database file's size once everything is in it: closing the last connection
 * checkpoints the -wal into the main file. */
static long long settled_size(lmm_ctx *ctx, lmm_store **s, const char *path) {
  if (g_on_pg) {
    PGconn *c = PQconnectdb(path);
    PGresult *r = PQexec(c, "SELECT pg_database_size(current_database())");
    long long v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
  }
  struct stat sb;
  lmm_store_close(*s);
  *s = NULL;
  if (stat(path, &sb) != 0 || lmm_store_open(ctx, path, s) != LMM_OK) return -1;
  return (long long)sb.st_size;
}

static int run(lmmt_bench *bj, lmm_ctx *ctx, size_t n, const char *dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/state-%zu.db", dir, n);
  if (g_on_pg) {
    char name[32];
    snprintf(name, sizeof name, "bench%zu", n);
    if (lmmt_pg_create_db(&g_pg, name, path, sizeof path) != 0) return 1;
  }
  lmm_store *s = NULL;
  lmm_member *m = calloc(n, sizeof *m);
  lmm_outcome *o = calloc(n, sizeof *o);
  char(*eps)[24] = malloc(n * sizeof *eps);
  char(*uris)[40] = malloc(n * sizeof *uris);
  int rc = 1;
  if (!m || !o || !eps || !uris) goto out;
  if (lmm_store_open(ctx, path, &s) != LMM_OK) {
    fprintf(stderr, "bench_store: %s\n", lmm_store_errmsg(s));
    goto out;
  }
  long long empty = settled_size(ctx, &s, path);
  /* What a fleet looks like: endpoint names, CoAP URIs, a SenML-JSON answer per member. */
  static uint8_t pl[] = PAYLOAD;
  for (size_t i = 0; i < n; i++) {
    snprintf(eps[i], sizeof eps[i], "meter-%07zu", i % 10000000);
    snprintf(uris[i], sizeof uris[i], "coap://10.%zu.%zu.%zu:5683", i >> 16 & 255, i >> 8 & 255,
             i & 255);
    m[i] = (lmm_member){
        .ep = eps[i], .oid = LMM_GROUP_MGMT_OID, .uri = uris[i], .format = LMM_FMT_SENML_JSON};
    o[i] = (lmm_outcome){.ep = eps[i],
                         .oid = LMM_GROUP_MGMT_OID,
                         .via = LMM_VIA_MBMS,
                         .gm_written = true,
                         .done = true,
                         .coap_code = 0x45,
                         .payload = pl,
                         .payload_len = sizeof pl - 1,
                         .content_format = LMM_FMT_SENML_JSON,
                         .attempts = 1,
                         .latency_ms = (int64_t)(i % 30000)};
  }
  lmm_group_info g = {.name = "fleet",
                      .type = LMM_GROUP_MBMS,
                      .multicast_port = -1,
                      .external_group_id = "fleet@example.net",
                      .response_time_window = 30};
  double t0 = now_s();
  if (lmm_store_group_create(s, &g) != LMM_OK ||
      lmm_store_members_add(s, "fleet", m, n) != LMM_OK) {
    fprintf(stderr, "bench_store: members: %s\n", lmm_store_errmsg(s));
    goto out;
  }
  double t_members = now_s() - t0;
  long long with_members = settled_size(ctx, &s, path);
  lmm_campaign_info c = {.group = "fleet",
                         .via = LMM_VIA_MBMS,
                         .op_kind = 1,
                         .op_path = "/42769/0",
                         .window_s = 30,
                         .t8_status = -1};
  t0 = now_s();
  if (lmm_store_campaign_create(s, &c, m, n) != LMM_OK) {
    fprintf(stderr, "bench_store: campaign: %s\n", lmm_store_errmsg(s));
    goto out;
  }
  double t_create = now_s() - t0;
  t0 = now_s();
  if (lmm_store_outcomes_put(s, c.id, o, n) != LMM_OK) {
    fprintf(stderr, "bench_store: outcomes_put: %s\n", lmm_store_errmsg(s));
    goto out;
  }
  double t_put = now_s() - t0;
  long long total = settled_size(ctx, &s, path);
  printf("%8zu | %9.1f %11.0f | %9.1f | %9.1f | %8.0f %8.0f %9.0f\n", n, t_put * 1e3,
         (double)n / t_put, t_create * 1e3, t_members * 1e3,
         (double)(with_members - empty) / (double)n, (double)(total - with_members) / (double)n,
         (double)(total - empty) / (double)n);
  lmmt_bench_numf(bj, (double)n / t_put, "rows_per_s_n%zu", n);
  lmmt_bench_numf(bj, t_create * 1e3, "create_ms_n%zu", n);
  lmmt_bench_numf(bj, t_members * 1e3, "members_add_ms_n%zu", n);
  lmmt_bench_numf(bj, (double)(total - empty) / (double)n, "bytes_per_member_n%zu", n);
  rc = 0;
out:
  lmm_store_close(s);
  free(m), free(o), free(eps), free(uris);
  return rc;
}

int main(int argc, char **argv) {
  static const char *defaults[] = {"1000", "10000", "100000"};
  if (argc > 1 && !strcmp(argv[1], "--pg")) {
    g_on_pg = true;
    argc--, argv++;
    if (lmmt_pg_start(&g_pg) != 0) {
      lmmt_pg_stop(&g_pg);
      return 1;
    }
  }
  const char **ns = argc > 1 ? (const char **)argv + 1 : defaults;
  int nn = argc > 1 ? argc - 1 : 3;
  const char *tmp = getenv("TMPDIR");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/lmm-bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("bench_store: mkdtemp");
    return 1;
  }
  printf("engine: %s\n", g_on_pg ? "PostgreSQL (scratch server, loopback)" : "SQLite");
  printf("outcomes_put: one transaction of N updates (each with a %zu-byte payload)\n"
         "       N |   put ms      rows/s | create ms | add ms    | bytes/member: members "
         "campaign     total\n",
         sizeof PAYLOAD - 1);
  lmm_ctx *ctx = NULL;
  int rc = lmm_global_init() == LMM_OK && lmm_ctx_new(NULL, &ctx) == LMM_OK ? 0 : 1;
  lmmt_bench *bj = lmmt_bench_new("store");
  lmmt_bench_str(bj, "engine", g_on_pg ? "postgresql" : "sqlite");
  for (int i = 0; i < nn && !rc; i++)
    rc = run(bj, ctx, (size_t)strtoul(ns[i], NULL, 10), dir);
  lmmt_bench_ok(bj, rc == 0);
  if (lmmt_bench_print(bj) != 0) rc = 1;
  lmm_ctx_free(ctx);
  lmm_global_cleanup();
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  if (g_on_pg) lmmt_pg_stop(&g_pg);
  return rc;
}
