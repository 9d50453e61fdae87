/* fuzz_gprotect.c - libFuzzer target for protected group messages (docs/protocol.md section
 * 6), what every member parses from the group address. First byte even: the rest is a
 * datagram, peeked and opened under a fixed key; what opens must seal back to a message that
 * opens the same, and its sequence number go through a replay window. First byte odd: after a
 * byte choosing a bit and two choosing a position and the sequence number, the rest is sealed,
 * must open back to itself, and with that bit flipped must not open at all, but in the message
 * ID, which is left out of the AAD. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/gprotect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static const uint8_t SECRET[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void opened(const lmmw_gp_key *k, const uint8_t *m, size_t len) {
  lmmw_gp_hdr h;
  lmmw_gp_verdict pv = lmmw_gp_peek(m, len, &h);
  uint8_t *plain = NULL;
  size_t plen = 0;
  uint64_t seq = 0;
  lmmw_gp_verdict v = lmmw_gp_open(k, m, len, &plain, &plen, &seq);
  /* peek and open read the same header: what peek refuses, open refuses the same way */
  if (pv != LMMW_GP_OK) CHECK(v == pv);
  if (pv == LMMW_GP_OK) CHECK(v != LMMW_GP_UNPROTECTED);
  if (pv == LMMW_GP_OK) CHECK(seq == h.seq && h.seq <= LMMW_GP_SEQ_MAX);
  if (v != LMMW_GP_OK) {
    CHECK(plain == NULL);
    return;
  }
  CHECK(plen >= 4 && plen + 1 + LMMW_GP_TAG_LEN <= len);
  uint8_t *again = NULL, *back = NULL;
  size_t alen = 0, blen = 0;
  uint64_t s2 = 0;
  CHECK(lmmw_gp_seal(k, seq, plain, plen, &again, &alen) == LMM_OK);
  CHECK(lmmw_gp_open(k, again, alen, &back, &blen, &s2) == LMMW_GP_OK);
  CHECK(s2 == seq && blen == plen && !memcmp(back, plain, plen));
  lmmw_gp_window w = {0};
  CHECK(lmmw_gp_window_fresh(&w, seq));
  lmmw_gp_window_accept(&w, seq);
  CHECK(!lmmw_gp_window_fresh(&w, seq));
  free(again), free(back), free(plain);
}

static void sealed(const lmmw_gp_key *k, const uint8_t *data, size_t size) {
  if (size < 3) return;
  unsigned bit = (data[0] >> 1) & 7, at = (unsigned)data[1] << 8 | data[2];
  uint64_t seq = (uint64_t)at * 0x10001u;
  uint8_t *out = NULL, *plain = NULL;
  size_t len = 0, plen = 0;
  uint64_t s;
  if (lmmw_gp_seal(k, seq, data + 3, size - 3, &out, &len) != LMM_OK) return;
  CHECK(len <= size - 3 + LMMW_GP_OVERHEAD);
  CHECK(lmmw_gp_open(k, out, len, &plain, &plen, &s) == LMMW_GP_OK);
  CHECK(s == seq && plen == size - 3 && !memcmp(plain, data + 3, plen));
  free(plain), plain = NULL;
  size_t i = at % len;
  out[i] ^= (uint8_t)(1u << bit);
  lmmw_gp_verdict v = lmmw_gp_open(k, out, len, &plain, &plen, &s);
  CHECK((v == LMMW_GP_OK) == (i == 2 || i == 3));
  free(plain), free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lmmw_gp_key k;
  if (size < 1 || lmmw_gp_derive(SECRET, sizeof SECRET, "building-7", &k) != LMM_OK) return 0;
  if (data[0] & 1)
    sealed(&k, data + 1, size - 1);
  else
    opened(&k, data + 1, size - 1);
  return 0;
}
