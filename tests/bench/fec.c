/* fec.c - bench_fec N: what the blob's erasure code costs on the bearer, for N receivers of a
 * 1 MiB image in 1,024-byte fragments, each losing every fragment independently at 5 % and at
 * 20 %. No network: it measures the code and the campaign's sizing rules in-process.
 *
 *   rs      the campaign's Reed-Solomon (fec_plan.c): first rows planned for 5 %, repair
 *           rounds of new rows sized from the worst per-block need, as lmm_fwc does
 *   xor     XOR parity, stride 8, repair by re-sending the data fragments missed by >= 3
 *   unicast every receiver gets the image by itself
 *
 * Receivers are counted per block (a block decodes from any k of its fragments: the code is
 * MDS); the first 16 also hold a real lmmw_blob_rx fed the same fragments, and must rebuild
 * the image byte for byte. Prints a table and one BENCH_JSON line. Bytes are fragment payload
 * bytes on the bearer over the image's size (CoAP headers and the query add about 7 % to each
 * 1,024-byte fragment, whatever the code).
 *   scripts/bench: 10000
 *   scripts/bench --quick: 1000 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fec_plan.h"
#include "lmmt_bench.h"
#include "lmm_wire/blob.h"

#define IMG       (1u << 20)
#define FRAG      1024u
#define KB        171u
#define STRIDE    8u
#define MCAST_MIN 3u
#define ROUNDS    5 /* status rounds, as lmm_fwc_config.max_rounds */
#define SAMPLE    16u

static uint64_t rng = 88172645463325252ull;
static bool lost(double p) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0 < p;
}

typedef struct result {
  double bytes_x;        /* bearer payload bytes / image */
  int repair_rounds;     /* multicast repair rounds */
  double pct_no_unicast; /* receivers done without a unicast repair */
  size_t verified;       /* sample receivers whose real reassembly matched */
} result;

static uint8_t *g_img, *g_par;
static lmmw_blob_desc g_d;

/* Sends fragment idx: every receiver that has not lost it takes it. */
typedef struct rx_state {
  uint16_t *got; /* per receiver and block: fragments held (data + parity) */
  uint8_t *have; /* xor: per receiver, K + Q bits */
  bool *uni;     /* got a unicast repair */
  lmmw_blob_rx *real;
} rx_state;

static void feed_real(lmmw_blob_rx *rx, uint32_t idx) {
  uint32_t k = lmmw_blob_k(&g_d);
  const uint8_t *p = idx < k ? g_img + (size_t)idx * FRAG : g_par + (size_t)(idx - k) * FRAG;
  lmmw_blob_rx_feed(rx, idx, p, lmmw_blob_frag_len(&g_d, idx));
}

static result run_rs(size_t n, double loss) {
  result res = {0};
  uint32_t k = lmmw_blob_k(&g_d), nb = lmmw_blob_blocks(&g_d), p = g_d.stride;
  uint32_t *src = calloc(nb, sizeof *src);
  for (uint32_t b = 0; b < nb; b++)
    src[b] = (k - b + nb - 1) / nb;
  uint16_t *got = calloc(n * nb, sizeof *got);
  bool *uni = calloc(n, sizeof *uni);
  lmmw_blob_rx *real = calloc(SAMPLE, sizeof *real);
  for (size_t i = 0; i < SAMPLE && i < n; i++)
    lmmw_blob_rx_init(&real[i], &g_d);
  uint64_t sent = 0;
  uint32_t r0 = lmmi_fec_first_rows(KB, 0.05, p), next = r0;
  /* First pass: data, then rows 0..r0-1 of every block. */
  for (uint32_t idx = 0; idx < k + r0 * nb; idx++) {
    uint32_t b = idx < k ? idx % nb : (idx - k) % nb;
    sent++;
    for (size_t i = 0; i < n; i++)
      if (!lost(loss)) {
        got[i * nb + b]++;
        if (i < SAMPLE) feed_real(&real[i], idx);
      }
  }
  double loss_est = 0.05;
  for (int round = 1; round < ROUNDS; round++) {
    uint32_t *worst = calloc(nb, sizeof *worst), *cnt = calloc(nb, sizeof *cnt);
    uint64_t short_ = 0;
    for (size_t i = 0; i < n; i++)
      for (uint32_t b = 0; b < nb; b++) {
        uint32_t need = got[i * nb + b] >= src[b] ? 0 : src[b] - got[i * nb + b];
        if (need) cnt[b]++, short_++;
        if (need > worst[b]) worst[b] = need;
      }
    if (!short_) {
      free(worst), free(cnt);
      break;
    }
    if (round == 1)
      loss_est = lmmi_fec_loss_seen(KB, r0, (double)short_ / ((double)n * nb), loss_est);
    bool last = round + 1 >= ROUNDS; /* the campaign's last repair goes by unicast */
    uint32_t rows[256] = {0}, used = 0, left = p - next;
    for (uint32_t b = 0; b < nb && !last; b++) {
      if (!cnt[b] || worst[b] > left) continue; /* one row serves any member short */
      rows[b] = lmmi_fec_repair_rows(worst[b], loss_est, left);
      if (rows[b] > used) used = rows[b];
    }
    if (used) res.repair_rounds++;
    for (uint32_t r = 0; r < used; r++)
      for (uint32_t b = 0; b < nb; b++) {
        if (r >= rows[b]) continue;
        uint32_t idx = k + (next + r) * nb + b;
        sent++;
        for (size_t i = 0; i < n; i++)
          if (!lost(loss)) {
            got[i * nb + b]++;
            if (i < SAMPLE) feed_real(&real[i], idx);
          }
      }
    next += used;
    /* Blocks left to unicast: their receivers get the missing data fragments by themselves. */
    for (size_t i = 0; i < n; i++)
      for (uint32_t b = 0; b < nb; b++)
        if (!rows[b] && got[i * nb + b] < src[b]) {
          uni[i] = true;
          got[i * nb + b] = (uint16_t)src[b];
          if (i < SAMPLE)
            for (uint32_t f = b; f < k; f += nb)
              feed_real(&real[i], f);
        }
    free(worst), free(cnt);
  }
  size_t ok = 0;
  for (size_t i = 0; i < n; i++)
    ok += !uni[i];
  for (size_t i = 0; i < SAMPLE && i < n; i++) {
    res.verified += lmmw_blob_rx_complete(&real[i]) && !memcmp(real[i].data, g_img, IMG);
    lmmw_blob_rx_clear(&real[i]);
  }
  res.bytes_x = (double)sent * FRAG / IMG;
  res.pct_no_unicast = 100.0 * (double)ok / (double)n;
  free(src), free(got), free(uni), free(real);
  return res;
}

static result run_xor(size_t n, double loss) {
  result res = {0};
  lmmw_blob_desc d = {.size = IMG, .frag = FRAG, .stride = STRIDE};
  uint32_t k = lmmw_blob_k(&d), q = lmmw_blob_q(&d);
  size_t w = ((size_t)k + q + 7) / 8;
  uint8_t *have = calloc(n, w);
  bool *uni = calloc(n, sizeof *uni);
  uint64_t sent = 0;
  /* A group j (data i with i % q == j, and parity k + j) rebuilds one missing data fragment. */
  for (uint32_t idx = 0; idx < k + q; idx++) {
    sent++;
    for (size_t i = 0; i < n; i++)
      if (!lost(loss)) lmmw_bit_set(have + i * w, idx);
  }
  uint32_t *count = calloc(k, sizeof *count);
  for (int round = 1;; round++) {
    memset(count, 0, k * sizeof *count);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
      uint8_t *h = have + i * w;
      for (uint32_t j = 0; j < q; j++) {
        uint32_t miss = 0, at = 0;
        for (uint32_t f = j; f < k; f += q)
          if (!lmmw_bit(h, f)) miss++, at = f;
        if (miss == 1 && lmmw_bit(h, k + j)) lmmw_bit_set(h, at);
      }
      for (uint32_t f = 0; f < k; f++)
        if (!lmmw_bit(h, f)) count[f]++, any = true;
    }
    if (!any) break;
    bool last = round + 1 >= ROUNDS;
    bool mc = false;
    for (uint32_t f = 0; f < k; f++) {
      if (!count[f]) continue;
      if (!last && count[f] >= MCAST_MIN) {
        mc = true, sent++;
        for (size_t i = 0; i < n; i++)
          if (!lost(loss)) lmmw_bit_set(have + i * w, f);
      } else {
        for (size_t i = 0; i < n; i++)
          if (!lmmw_bit(have + i * w, f)) uni[i] = true, lmmw_bit_set(have + i * w, f);
      }
    }
    res.repair_rounds += mc;
    if (last) break;
  }
  size_t ok = 0;
  for (size_t i = 0; i < n; i++)
    ok += !uni[i];
  res.bytes_x = (double)sent * FRAG / IMG;
  res.pct_no_unicast = 100.0 * (double)ok / (double)n;
  free(have), free(uni), free(count);
  return res;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
  if (n < 1 || n > 1000000) {
    fprintf(stderr, "usage: bench_fec N (receivers, 1 to 1000000)\n");
    return 2;
  }
  g_img = malloc(IMG);
  for (size_t i = 0; i < IMG; i++)
    g_img[i] = (uint8_t)(i * 2654435761u >> 13);
  g_d = (lmmw_blob_desc){.size = IMG, .frag = FRAG, .code = LMMW_FEC_RS, .kb = KB};
  g_d.stride = LMMW_RS_N_MAX - KB;
  g_par = malloc((size_t)lmmw_blob_q(&g_d) * FRAG);
  if (lmmw_blob_rs_encode(&g_d, g_img, 0, g_d.stride, g_par) != LMM_OK) return 1;
  static const double losses[] = {0.05, 0.20};
  result rs[2], xr[2];
  printf("bench_fec: 1 MiB image, %u-byte fragments, %zu receivers, independent loss\n", FRAG, n);
  printf("%-8s %6s %12s %14s %18s\n", "code", "loss", "bearer/img", "repair rounds",
         "done w/o unicast");
  for (int l = 0; l < 2; l++) {
    rs[l] = run_rs(n, losses[l]);
    xr[l] = run_xor(n, losses[l]);
    printf("%-8s %5.0f%% %11.3fx %14d %17.2f%%   (%zu of %u sample receivers rebuilt the "
           "image)\n",
           "rs", 100 * losses[l], rs[l].bytes_x, rs[l].repair_rounds, rs[l].pct_no_unicast,
           rs[l].verified, SAMPLE);
    printf("%-8s %5.0f%% %11.3fx %14d %17.2f%%\n", "xor/8", 100 * losses[l], xr[l].bytes_x,
           xr[l].repair_rounds, xr[l].pct_no_unicast);
    printf("%-8s %5.0f%% %11.0fx %14d %17.2f%%\n", "unicast", 100 * losses[l], (double)n, 0, 0.0);
  }
  lmmt_bench *bj = lmmt_bench_new("fec");
  lmmt_bench_num(bj, "receivers", (double)n);
  lmmt_bench_num(bj, "image", IMG);
  lmmt_bench_num(bj, "fragment", FRAG);
  lmmt_bench_num(bj, "rs_k", KB);
  bool ok = true;
  for (int l = 0; l < 2; l++) {
    int pc = (int)(100 * losses[l] + 0.5);
    lmmt_bench_numf(bj, rs[l].bytes_x, "rs_%d_bytes_x", pc);
    lmmt_bench_numf(bj, rs[l].repair_rounds, "rs_%d_repair_rounds", pc);
    lmmt_bench_numf(bj, rs[l].pct_no_unicast, "rs_%d_pct_no_unicast", pc);
    lmmt_bench_numf(bj, (double)rs[l].verified, "rs_%d_verified", pc);
    lmmt_bench_numf(bj, xr[l].bytes_x, "xor_%d_bytes_x", pc);
    lmmt_bench_numf(bj, xr[l].repair_rounds, "xor_%d_repair_rounds", pc);
    lmmt_bench_numf(bj, xr[l].pct_no_unicast, "xor_%d_pct_no_unicast", pc);
    lmmt_bench_numf(bj, (double)n, "unicast_%d_bytes_x", pc);
    /* Every sampled receiver must have rebuilt the image byte for byte. */
    if (rs[l].verified != (n < SAMPLE ? n : SAMPLE)) ok = false;
  }
  lmmt_bench_ok(bj, ok);
  if (lmmt_bench_print(bj) != 0) ok = false;
  free(g_img), free(g_par);
  return ok ? 0 : 1;
}
