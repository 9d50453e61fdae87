/* fuzz_blob.c - libFuzzer target for the blob wire format, what a device or the adapter reads
 * from the other side: the input is parsed as a status text (whatever parses must format back
 * to text that parses to the same missing set) and, split at '&', as a blob query (whatever
 * parses must describe fragments a reassembly accepts at their stated length). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static void status(const uint8_t *data, size_t size) {
  lmmw_blob_status st;
  char why[160];
  if (lmmw_blob_status_parse(data, size, &st, why, sizeof why) != LMM_OK) return;
  CHECK(st.state >= 0 && st.state <= 3 && st.result >= 0);
  const uint32_t k = 300;
  uint8_t a[(300 + 7) / 8] = {0}, b[(300 + 7) / 8] = {0};
  lmmw_blob_status_mark(&st, a, k);
  char text[LMMW_BLOB_STATUS_MAX + 1];
  size_t len = lmmw_blob_status_format(st.state, st.result, a, k, text);
  CHECK(len <= LMMW_BLOB_STATUS_MAX && strlen(text) == len);
  lmmw_blob_status back;
  CHECK(lmmw_blob_status_parse((const uint8_t *)text, len, &back, why, sizeof why) == LMM_OK);
  lmmw_blob_status_mark(&back, b, k);
  /* A truncated list may claim more, never less. */
  for (uint32_t i = 0; i < k; i++)
    CHECK(!lmmw_bit(a, i) || lmmw_bit(b, i));
  lmmw_blob_status_clear(&back);
  lmmw_blob_status_clear(&st);
}

static void query(const uint8_t *data, size_t size) {
  const char *items[16];
  size_t lens[16], n = 0, start = 0;
  for (size_t i = 0; i <= size && n < 16; i++)
    if (i == size || data[i] == '&') {
      items[n] = (const char *)data + start, lens[n++] = i - start;
      start = i + 1;
    }
  lmmw_blob_desc d;
  long index;
  char why[160];
  if (lmmw_blob_query_parse(items, lens, n, &d, &index, why, sizeof why) != LMM_OK) return;
  uint32_t k = lmmw_blob_k(&d), q = lmmw_blob_q(&d);
  CHECK(k >= 1 && index < (long)k + (long)q);
  if (d.size > 1024 * 1024) return; /* keep each run small */
  lmmw_blob_rx rx;
  if (lmmw_blob_rx_init(&rx, &d) != LMM_OK) return;
  static uint8_t frag[LMMW_BLOB_FRAG_MAX];
  uint32_t i = index >= 0 ? (uint32_t)index : 0;
  size_t len = lmmw_blob_frag_len(&d, i);
  CHECK(len >= 1 && len <= d.frag);
  CHECK(lmmw_blob_rx_feed(&rx, i, frag, len) != LMMW_BLOB_BAD);
  CHECK(lmmw_blob_rx_feed(&rx, i, frag, len) == LMMW_BLOB_DUPLICATE);
  lmmw_blob_rx_clear(&rx);
  char out[LMMW_BLOB_QUERY_MAX + 1];
  lmmw_blob_query(&d, index, true, out, sizeof out);
  CHECK(strlen(out) < sizeof out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  status(data, size);
  query(data, size);
  return 0;
}
