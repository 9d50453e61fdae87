/* blob_rx.c - a receiver's reassembly of a blob (docs/protocol.md section 5): fragments kept
 * as they come, lost data fragments rebuilt from parity. The simulator's devices use it, and
 * the tests and benchmarks that play receivers. */
#include "lmm_wire/blob.h"

#include <stdlib.h>
#include <string.h>

/* rs: what one block holds beyond its data fragments. */
struct lmmw_rs_block {
  uint32_t n_data; /* its data fragments at hand (received or rebuilt) */
  uint32_t n_src;  /* its real data fragments (k, or fewer in a short block) */
  uint32_t n_par;  /* parity rows kept */
  uint32_t *rows;  /* their rows */
  uint8_t **par;   /* their payloads, F bytes each */
  bool done;
};

/* ------------------------------------------------------------------ reassembly */

lmm_err lmmw_blob_rx_init(lmmw_blob_rx *rx, const lmmw_blob_desc *d) {
  memset(rx, 0, sizeof *rx);
  rx->d = *d;
  rx->k = lmmw_blob_k(d), rx->q = lmmw_blob_q(d);
  bool rs = d->code == LMMW_FEC_RS;
  uint32_t nb = lmmw_blob_blocks(d);
  /* K * F, the last fragment's padding zero: the Reed-Solomon decoder reads whole fragments. */
  rx->data = rs ? calloc(rx->k, d->frag) : malloc((size_t)d->size);
  rx->have = calloc(((size_t)rx->k + rx->q + 7) / 8, 1);
  if (rx->q && !rs) rx->parity = malloc((size_t)rx->q * d->frag);
  if (rs && !(rx->blk = calloc(nb ? nb : 1, sizeof *rx->blk))) rx->q = 0;
  for (uint32_t b = 0; rx->blk && b < nb; b++)
    rx->blk[b].n_src = (rx->k - b + nb - 1) / nb;
  if (!rx->data || !rx->have || (rx->q && !rs && !rx->parity) || (rs && !rx->blk)) {
    lmmw_blob_rx_clear(rx);
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}

static void block_drop(struct lmmw_rs_block *k) {
  for (uint32_t t = 0; t < k->n_par; t++)
    free(k->par[t]);
  free(k->par), free(k->rows);
  k->par = NULL, k->rows = NULL, k->n_par = 0;
}

void lmmw_blob_rx_clear(lmmw_blob_rx *rx) {
  uint32_t nb = lmmw_blob_blocks(&rx->d);
  for (uint32_t b = 0; rx->blk && b < nb; b++)
    block_drop(&rx->blk[b]);
  free(rx->blk);
  free(rx->data), free(rx->have), free(rx->parity);
  memset(rx, 0, sizeof *rx);
}

bool lmmw_blob_rx_complete(const lmmw_blob_rx *rx) {
  return rx->data && rx->n_have == rx->k; /* n_have counts data fragments only */
}

/* Rebuilds the one missing data fragment of parity group j, if exactly one is missing. */
static bool try_recover(lmmw_blob_rx *rx, uint32_t j) {
  if (!lmmw_bit(rx->have, rx->k + j)) return false;
  uint32_t miss = UINT32_MAX, n_miss = 0;
  for (uint32_t i = j; i < rx->k; i += rx->q)
    if (!lmmw_bit(rx->have, i)) miss = i, n_miss++;
  if (n_miss != 1) return false;
  uint8_t *dst = rx->data + (size_t)miss * rx->d.frag;
  size_t n = lmmw_blob_frag_len(&rx->d, miss);
  const uint8_t *par = rx->parity + (size_t)j * rx->d.frag;
  memcpy(dst, par, n);
  for (uint32_t i = j; i < rx->k; i += rx->q) {
    if (i == miss) continue;
    const uint8_t *src = rx->data + (size_t)i * rx->d.frag;
    size_t m = lmmw_blob_frag_len(&rx->d, i);
    for (size_t b = 0; b < m && b < n; b++)
      dst[b] ^= src[b];
  }
  lmmw_bit_set(rx->have, miss);
  rx->n_have++;
  rx->recovered++;
  return true;
}

/* rs: with k fragments of block b at hand, its missing data fragments are decoded. */
static void rs_try(lmmw_blob_rx *rx, uint32_t b) {
  struct lmmw_rs_block *k = &rx->blk[b];
  uint32_t miss = k->n_src - k->n_data, nb = lmmw_blob_blocks(&rx->d);
  if (k->done || miss > k->n_par) return;
  if (miss && lmmw_blob_rs_decode(&rx->d, b, rx->data, rx->have, k->rows, k->par, miss) != LMM_OK)
    return; /* out of memory: the next fragment tries again */
  for (uint32_t i = b; i < rx->k; i += nb)
    if (!lmmw_bit(rx->have, i)) lmmw_bit_set(rx->have, i), rx->n_have++, rx->recovered++;
  k->n_data = k->n_src, k->done = true;
  block_drop(k);
}

static lmmw_blob_feed rs_feed(lmmw_blob_rx *rx, uint32_t index, const uint8_t *p, size_t len) {
  uint32_t nb = lmmw_blob_blocks(&rx->d);
  bool was_complete = lmmw_blob_rx_complete(rx);
  uint32_t b = index < rx->k ? index % nb : (index - rx->k) % nb;
  struct lmmw_rs_block *k = &rx->blk[b];
  if (k->done) return LMMW_BLOB_DUPLICATE;
  if (index < rx->k) {
    memcpy(rx->data + (size_t)index * rx->d.frag, p, len);
    lmmw_bit_set(rx->have, index);
    rx->n_have++, k->n_data++;
  } else if (k->n_par < k->n_src - k->n_data) { /* more than it misses is never needed */
    uint8_t *cp = malloc(rx->d.frag);
    uint32_t *nr = realloc(k->rows, (k->n_par + 1) * sizeof *nr);
    if (nr) k->rows = nr;
    uint8_t **np = nr ? realloc(k->par, (k->n_par + 1) * sizeof *np) : NULL;
    if (np) k->par = np;
    if (!cp || !nr || !np) {
      free(cp);
      return LMMW_BLOB_STORED; /* dropped: as if lost */
    }
    memcpy(cp, p, len);
    k->rows[k->n_par] = (index - rx->k) / nb, k->par[k->n_par++] = cp;
    lmmw_bit_set(rx->have, index);
  } else {
    lmmw_bit_set(rx->have, index);
  }
  rs_try(rx, b);
  return !was_complete && lmmw_blob_rx_complete(rx) ? LMMW_BLOB_COMPLETE : LMMW_BLOB_STORED;
}

lmmw_blob_feed lmmw_blob_rx_feed(lmmw_blob_rx *rx, uint32_t index, const uint8_t *p, size_t len) {
  if (!rx->data || index >= rx->k + rx->q) return LMMW_BLOB_BAD;
  if (len != lmmw_blob_frag_len(&rx->d, index)) return LMMW_BLOB_BAD;
  if (lmmw_bit(rx->have, index)) return LMMW_BLOB_DUPLICATE;
  if (rx->blk) return rs_feed(rx, index, p, len);
  bool was_complete = lmmw_blob_rx_complete(rx);
  if (index < rx->k) {
    memcpy(rx->data + (size_t)index * rx->d.frag, p, len);
    lmmw_bit_set(rx->have, index);
    rx->n_have++;
    if (rx->q) try_recover(rx, index % rx->q);
  } else {
    memcpy(rx->parity + (size_t)(index - rx->k) * rx->d.frag, p, len);
    lmmw_bit_set(rx->have, index);
    try_recover(rx, index - rx->k);
  }
  return !was_complete && lmmw_blob_rx_complete(rx) ? LMMW_BLOB_COMPLETE : LMMW_BLOB_STORED;
}

void lmmw_blob_rx_missing(const lmmw_blob_rx *rx, uint8_t *bits) {
  memset(bits, 0, ((size_t)rx->k + 7) / 8);
  for (uint32_t i = 0; i < rx->k; i++)
    if (!rx->data || !lmmw_bit(rx->have, i)) lmmw_bit_set(bits, i);
}

void lmmw_blob_rx_needs(const lmmw_blob_rx *rx, uint32_t *needs) {
  uint32_t nb = lmmw_blob_blocks(&rx->d);
  for (uint32_t b = 0; rx->blk && b < nb; b++) {
    const struct lmmw_rs_block *k = &rx->blk[b];
    uint32_t miss = k->n_src - k->n_data;
    needs[b] = k->done || miss <= k->n_par ? 0 : miss - k->n_par;
  }
}
