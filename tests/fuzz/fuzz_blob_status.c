/* fuzz_blob_status.c - libFuzzer target for a member's blob status text, the answer to a status
 * round's GET /5/0/3 (docs/protocol.md section 5): whatever parses must format back to text
 * that parses to the same missing set, or a larger one when the list had to be cut short. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lmmw_blob_status st;
  char why[160];

  if (lmmw_blob_status_parse(data, size, &st, why, sizeof why) != LMM_OK) {
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    return 0;
  }
  CHECK(st.state >= 0 && st.state <= 3 && st.result >= 0);
  const uint32_t k = 300;
  uint8_t a[(300 + 7) / 8] = {0}, b[(300 + 7) / 8] = {0};
  lmmw_blob_status_mark(&st, a, k);
  char text[LMMW_BLOB_STATUS_MAX + 1];
  size_t len = lmmw_blob_status_format(st.state, st.result, a, k, text);
  CHECK(len <= LMMW_BLOB_STATUS_MAX && strlen(text) == len);
  lmmw_blob_status back;
  CHECK(lmmw_blob_status_parse((const uint8_t *)text, len, &back, why, sizeof why) == LMM_OK);
  CHECK(back.state == st.state && back.result == st.result);
  lmmw_blob_status_mark(&back, b, k);
  /* A truncated list may claim more, never less. */
  for (uint32_t i = 0; i < k; i++)
    CHECK(!lmmw_bit(a, i) || lmmw_bit(b, i));
  lmmw_blob_status_clear(&back);
  lmmw_blob_status_clear(&st);
  return 0;
}
