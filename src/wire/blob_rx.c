/* blob_rx.c - a receiver's reassembly of a blob (docs/protocol.md section 5): fragments kept
 * as they come, lost data fragments rebuilt from parity. The simulator's devices use it, and
 * the tests and benchmarks that play receivers. */
#include "lmm_wire/blob.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reassembly */

lmm_err lmmw_blob_rx_init(lmmw_blob_rx *rx, const lmmw_blob_desc *d) {
  memset(rx, 0, sizeof *rx);
  rx->d = *d;
  rx->k = lmmw_blob_k(d), rx->q = lmmw_blob_q(d);
  rx->data = malloc((size_t)d->size);
  rx->have = calloc(((size_t)rx->k + rx->q + 7) / 8, 1);
  if (rx->q) rx->parity = malloc((size_t)rx->q * d->frag);
  if (!rx->data || !rx->have || (rx->q && !rx->parity)) {
    lmmw_blob_rx_clear(rx);
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}

void lmmw_blob_rx_clear(lmmw_blob_rx *rx) {
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

lmmw_blob_feed lmmw_blob_rx_feed(lmmw_blob_rx *rx, uint32_t index, const uint8_t *p, size_t len) {
  if (!rx->data || index >= rx->k + rx->q) return LMMW_BLOB_BAD;
  if (len != lmmw_blob_frag_len(&rx->d, index)) return LMMW_BLOB_BAD;
  if (lmmw_bit(rx->have, index)) return LMMW_BLOB_DUPLICATE;
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
