/* group_protect.c - benchmark: the cost of protected group messages (docs/protocol.md section
 * 6) for a typical group request (a Write of one resource) and a blob fragment of 1,024 bytes:
 * the bytes each message grows by, ns per seal (the adapter) and per open (each member), and
 * the adapter's seal with its sequence numbers reserved in a real store (amortised over the
 * blocks). A human table, then its BENCH_JSON line.
 *
 *   bench_group_protect [ITERATIONS]     (default 200000)
 *   scripts/bench:
 *   scripts/bench --quick: 20000
 * The store goes to a fresh temporary directory ($TMPDIR or /tmp), removed afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "campaign/campaign_internal.h"
#include "campaign/protect.h"
#include "lmm_wire/blob.h"
#include "lmm_wire/gprotect.h"
#include "lwm2m_mbms/lwm2m_mbms.h"
#include "lmmt_bench.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct figures {
  size_t bytes, sealed;
  double seal_ns, open_ns, store_ns;
} figures;

static int measure(lmmi_protect *p, const uint8_t *msg, size_t len, long n, figures *f) {
  uint8_t *out = NULL, *plain = NULL;
  size_t olen = 0, plen = 0;
  uint64_t seq;
  f->bytes = len;
  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    if (lmmw_gp_seal(&p->key, (uint64_t)i, msg, len, &out, &olen) != LMM_OK) return -1;
    free(out);
  }
  double t1 = now_s();
  if (lmmw_gp_seal(&p->key, 7, msg, len, &out, &olen) != LMM_OK) return -1;
  f->sealed = olen;
  for (long i = 0; i < n; i++) {
    if (lmmw_gp_open(&p->key, out, olen, &plain, &plen, &seq) != LMMW_GP_OK) return -1;
    free(plain);
  }
  double t2 = now_s();
  free(out);
  for (long i = 0; i < n; i++) { /* the adapter's path: numbers reserved in the store */
    if (lmmi_protect_seal(p, msg, len, &out, &olen) != LMM_OK) return -1;
    free(out);
  }
  double t3 = now_s();
  f->seal_ns = (t1 - t0) / (double)n * 1e9;
  f->open_ns = (t2 - t1) / (double)n * 1e9;
  f->store_ns = (t3 - t2) / (double)n * 1e9;
  return 0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
  if (n <= 0) {
    fprintf(stderr, "usage: bench_group_protect [ITERATIONS]\n");
    return 2;
  }
  lmm_global_init();
  lmm_ctx *ctx = NULL;
  char dir[600], path[700];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/lmm-bench-gp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (lmm_ctx_new(NULL, &ctx) != LMM_OK || !mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/state.db", dir);
  lmm_store *s = NULL;
  if (lmm_store_open(ctx, path, &s) != LMM_OK) return 1;
  lmm_group_info g = {.name = "building-7"};
  lmm_member m = {.ep = "m", .uri = "coaps://127.0.0.1:5684"};
  lmmi_protect p = {0};
  char why[300] = "";
  if (lmmi_protect_setup(&p, ctx, s, &g, &m, 1, LMM_PROTECT_ON, false, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "bench_group_protect: %s\n", why);
    return 1;
  }
  /* A group Write of one resource, as the library encodes it (docs/protocol.md section 1). */
  uint8_t tok[LMMI_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  op.path = (lmm_path){.oid = 3, .iid = 0, .rid = 14, .depth = 3};
  op.format = LMM_FMT_TEXT, op.payload = (const uint8_t *)"+02:00", op.len = 6;
  uint8_t *req = NULL, *frag = NULL;
  size_t req_len = 0, frag_len = 0;
  if (lmmi_coap_group_request(&op, 0x1234, tok, &req, &req_len) != LMM_OK) return 1;
  /* A blob fragment of 1,024 bytes with its query, as a firmware campaign sends it. */
  lmmw_blob_desc d = {.size = 1 << 20, .frag = 1024, .stride = 8};
  memset(d.id, 0xab, sizeof d.id);
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmmw_blob_query(&d, 517, false, q, sizeof q);
  static uint8_t data[1024];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 13);
  lmm_op fop = LMM_OP_INIT;
  fop.kind = LMM_OPK_WRITE;
  fop.path = (lmm_path){.oid = 5, .iid = 0, .rid = 0, .depth = 3};
  fop.format = LMM_FMT_OPAQUE, fop.payload = data, fop.len = sizeof data, fop.query = q;
  if (lmmi_coap_group_request(&fop, 0x1235, tok, &frag, &frag_len) != LMM_OK) return 1;

  figures r, f;
  if (measure(&p, req, req_len, n, &r) || measure(&p, frag, frag_len, n / 4 ? n / 4 : 1, &f)) {
    fprintf(stderr, "bench_group_protect: a seal or open failed\n");
    return 1;
  }
  printf("AES-CCM-16-64-128, %ld iterations (fragment: %ld)\n", n, n / 4 ? n / 4 : 1);
  printf("message          | bytes | sealed | added | seal ns | open ns | seal+store ns\n");
  const char *names[2] = {"group request", "blob fragment"};
  figures *all[2] = {&r, &f};
  for (int i = 0; i < 2; i++)
    printf("%-16s | %5zu | %6zu | %5zu | %7.0f | %7.0f | %13.0f\n", names[i], all[i]->bytes,
           all[i]->sealed, all[i]->sealed - all[i]->bytes, all[i]->seal_ns, all[i]->open_ns,
           all[i]->store_ns);
  lmmt_bench *bj = lmmt_bench_new("group_protect");
  lmmt_bench_str(bj, "alg", "AES-CCM-16-64-128");
  lmmt_bench_num(bj, "iterations", (double)n);
  const char *keys[2] = {"request", "fragment"};
  for (int i = 0; i < 2; i++) {
    lmmt_bench_numf(bj, (double)all[i]->bytes, "%s_bytes", keys[i]);
    lmmt_bench_numf(bj, (double)(all[i]->sealed - all[i]->bytes), "%s_added", keys[i]);
    lmmt_bench_numf(bj, all[i]->seal_ns, "%s_seal_ns", keys[i]);
    lmmt_bench_numf(bj, all[i]->open_ns, "%s_open_ns", keys[i]);
    lmmt_bench_numf(bj, all[i]->store_ns, "%s_seal_store_ns", keys[i]);
  }
  lmmt_bench_num(bj, "block", LMMI_PROTECT_BLOCK);
  lmmt_bench_ok(bj, true);
  int rc = lmmt_bench_print(bj) != 0;
  free(req), free(frag);
  lmmi_protect_free(&p);
  lmm_store_close(s);
  lmm_ctx_free(ctx);
  unlink(path);
  char side[720];
  snprintf(side, sizeof side, "%s-wal", path), unlink(side);
  snprintf(side, sizeof side, "%s-shm", path), unlink(side);
  rmdir(dir);
  lmm_global_cleanup();
  return rc;
}
