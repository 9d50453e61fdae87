/* fuzz_blob.c - libFuzzer target for blob fragments as a device receives them (docs/protocol.md
 * section 5). The input's first line, split at '&', is a fragment's Uri-Query; whatever parses
 * must describe fragments a reassembly accepts at their stated length. The rest is a sequence
 * of 3-byte steps (index, index, kind) that feeds the reassembly of a blob made up from the
 * input: the true fragment (data or parity) or garbage of another length. Garbage must be
 * ignored, duplicates known, and whatever completes (received or rebuilt from parity) must be
 * the blob itself. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define BLOB_MAX (64u * 1024u) /* keeps each run small: the format allows 64 MiB */

static long row_of = -1; /* the Reed-Solomon row in fragment()'s buffer; -1 none */

/* Fragment `i` of `blob` into `out`: its bytes, or its parity (XOR, or a Reed-Solomon row made
 * for all blocks at once with the encoder, the last one kept). */
static size_t fragment(const lmmw_blob_desc *d, const uint8_t *blob, uint32_t i, uint8_t *out) {
  static uint8_t row[BLOB_MAX + LMMW_BLOB_FRAG_MAX];
  uint32_t k = lmmw_blob_k(d), nb = lmmw_blob_blocks(d);
  size_t len = lmmw_blob_frag_len(d, i);
  if (i < k) {
    memcpy(out, blob + (size_t)i * d->frag, len);
  } else if (nb) {
    uint32_t r = (i - k) / nb;
    if (row_of != (long)r) {
      CHECK(lmmw_blob_rs_encode(d, blob, r, r + 1, row) == LMM_OK);
      row_of = (long)r;
    }
    memcpy(out, row + (size_t)((i - k) % nb) * d->frag, d->frag);
  } else {
    lmmw_blob_parity(d, blob, i - k, out);
  }
  return len;
}

static void feed(const lmmw_blob_desc *d, const uint8_t *steps, size_t n) {
  static uint8_t frag[LMMW_BLOB_FRAG_MAX + 2], blob[BLOB_MAX];
  uint32_t k = lmmw_blob_k(d), q = lmmw_blob_q(d);
  lmmw_blob_rx rx;
  bool complete = false;

  if (d->size > BLOB_MAX || lmmw_blob_rx_init(&rx, d) != LMM_OK) return;
  row_of = -1;
  for (size_t i = 0; i < d->size; i++)
    blob[i] = (uint8_t)(i * 131u + 7u);
  for (size_t s = 0; s + 3 <= n; s += 3) {
    uint32_t i = ((uint32_t)steps[s] | (uint32_t)steps[s + 1] << 8) % (k + q + 1);
    size_t len;
    if (i >= k + q) { /* past the last parity fragment */
      CHECK(lmmw_blob_rx_feed(&rx, i, frag, d->frag) == LMMW_BLOB_BAD);
      continue;
    }
    len = fragment(d, blob, i, frag);
    if (steps[s + 2] & 1) { /* the right index with a wrong length */
      size_t bad = (len + 1 + steps[s + 2] / 2) % (LMMW_BLOB_FRAG_MAX + 2);
      if (bad == len) continue;
      CHECK(lmmw_blob_rx_feed(&rx, i, frag, bad) == LMMW_BLOB_BAD);
      continue;
    }
    bool had = lmmw_bit(rx.have, i);
    lmmw_blob_feed r = lmmw_blob_rx_feed(&rx, i, frag, len);
    CHECK(r != LMMW_BLOB_BAD);
    CHECK(!had || r == LMMW_BLOB_DUPLICATE);
    if (r == LMMW_BLOB_COMPLETE) {
      CHECK(!complete);
      complete = true;
    }
    CHECK(lmmw_blob_rx_complete(&rx) == complete);
  }
  if (complete) CHECK(memcmp(rx.data, blob, d->size) == 0);
  lmmw_blob_rx_clear(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t qlen = nl ? (size_t)(nl - data) : size;
  const char *items[16];
  size_t lens[16], n = 0, start = 0;
  for (size_t i = 0; i <= qlen && n < 16; i++)
    if (i == qlen || data[i] == '&') {
      items[n] = (const char *)data + start, lens[n++] = i - start;
      start = i + 1;
    }
  lmmw_blob_desc d;
  long index;
  char why[160];
  if (lmmw_blob_query_parse(items, lens, n, &d, &index, why, sizeof why) != LMM_OK) return 0;
  uint32_t k = lmmw_blob_k(&d), q = lmmw_blob_q(&d);
  CHECK(k >= 1 && index < (long)k + (long)q);
  char out[LMMW_BLOB_QUERY_MAX + 1];
  lmmw_blob_query(&d, index, true, out, sizeof out);
  CHECK(strlen(out) < sizeof out);
  size_t i0 = index >= 0 ? (size_t)index : 0;
  size_t len = lmmw_blob_frag_len(&d, (uint32_t)i0);
  CHECK(len >= 1 && len <= d.frag);
  if (nl) feed(&d, nl + 1, size - qlen - 1);
  return 0;
}
