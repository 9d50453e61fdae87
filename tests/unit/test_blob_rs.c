/* test_blob_rs.c - the blob's Reed-Solomon code (docs/fec.md): the query's c= and k=, the
 * interleaved blocks and the parity indices, any k of a block's k + m fragments rebuilding it,
 * and malformed queries and fragments refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lmm_wire/blob.h"

static lmmw_blob_desc rs_desc(uint64_t size, uint32_t frag, uint32_t kb, uint32_t rows) {
  lmmw_blob_desc d = {.size = size, .frag = frag, .stride = rows, .code = LMMW_FEC_RS, .kb = kb};
  for (int i = 0; i < LMMW_BLOB_ID_LEN; i++)
    d.id[i] = (uint8_t)(0x10 + i);
  return d;
}

static lmm_err parse(const char *q, lmmw_blob_desc *d, long *index, char *why) {
  const char *items[16];
  size_t lens[16], n = 0;
  for (const char *p = q; *p && n < 16;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    items[n] = p, lens[n++] = len;
    p += len + (amp ? 1 : 0);
  }
  return lmmw_blob_query_parse(items, lens, n, d, index, why, 160);
}

static uint8_t *image(size_t n, uint32_t seed) {
  uint8_t *b = malloc(n);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    b[i] = (uint8_t)(seed >> 16);
  }
  return b;
}

/* The fragment `idx` of the transfer: data from the image, parity from `par` (all rows). */
static const uint8_t *frag_of(const lmmw_blob_desc *d, const uint8_t *img, const uint8_t *par,
                              uint32_t idx, size_t *len) {
  uint32_t k = lmmw_blob_k(d);
  *len = lmmw_blob_frag_len(d, idx);
  return idx < k ? img + (size_t)idx * d->frag : par + (size_t)(idx - k) * d->frag;
}

static void test_layout(void **state) {
  (void)state;
  /* 1000 bytes in 16-byte fragments: K = 63, blocks of 10: B = 7 (the last ones short). */
  lmmw_blob_desc d = rs_desc(1000, 16, 10, 4);
  assert_int_equal(lmmw_blob_k(&d), 63);
  assert_int_equal(lmmw_blob_blocks(&d), 7);
  assert_int_equal(lmmw_blob_q(&d), 28);
  assert_int_equal(lmmw_blob_frag_len(&d, 62), 1000 - 62 * 16);
  assert_int_equal(lmmw_blob_frag_len(&d, 63), 16); /* parity: always F */
  char q[LMMW_BLOB_QUERY_MAX + 1], why[160] = "";
  lmmw_blob_query(&d, 70, false, q, sizeof q);
  assert_string_equal(q, "b=1011121314151617&n=1000&f=16&p=4&c=rs&k=10&i=70");
  lmmw_blob_desc back;
  long idx;
  assert_int_equal(parse(q, &back, &idx, why), LMM_OK);
  assert_int_equal(back.code, LMMW_FEC_RS);
  assert_int_equal(back.kb, 10);
  assert_int_equal(back.stride, 4);
  assert_int_equal(idx, 70);
  /* Without c=, or c=xor: XOR parity as before, k= meaning nothing. */
  assert_int_equal(parse("b=1011121314151617&n=1000&f=16&p=4&k=10", &back, &idx, why), LMM_OK);
  assert_int_equal(back.code, LMMW_FEC_XOR);
  assert_int_equal(back.kb, 0);
  assert_int_equal(lmmw_blob_q(&back), 16);
}

static void test_malformed(void **state) {
  (void)state;
  static const struct {
    const char *q, *why;
  } bad[] = {
      {"b=1011121314151617&n=1000&f=16&p=4&c=rs", "without k"},
      {"b=1011121314151617&n=1000&f=16&p=4&c=raptor&k=10", "'c=raptor'"},
      {"b=1011121314151617&n=1000&f=16&p=4&c=rs&k=0", "outside 1..254"},
      {"b=1011121314151617&n=1000&f=16&p=4&c=rs&k=256", "'k=256'"},
      {"b=1011121314151617&n=1000&f=16&p=200&c=rs&k=100", "k + p above 255"},
      {"b=1011121314151617&n=1000&f=16&p=4&c=rs&k=10&i=91", "beyond the 91 fragments"},
      {"b=1011121314151617&n=1000&f=16&p=4&c=rs&k=x", "'k=x'"},
  };
  for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
    lmmw_blob_desc d;
    long idx;
    char why[160] = "";
    assert_int_equal(parse(bad[t].q, &d, &idx, why), LMM_ERR_ARG);
    if (!strstr(why, bad[t].why))
      fail_msg("'%s': '%s' does not say '%s'", bad[t].q, why, bad[t].why);
  }
  /* A fragment of the wrong length or index is refused by the receiver. */
  lmmw_blob_desc d = rs_desc(1000, 16, 10, 4);
  lmmw_blob_rx rx;
  uint8_t buf[16] = {0};
  assert_int_equal(lmmw_blob_rx_init(&rx, &d), LMM_OK);
  assert_int_equal(lmmw_blob_rx_feed(&rx, 3, buf, 15), LMMW_BLOB_BAD);
  assert_int_equal(lmmw_blob_rx_feed(&rx, 62, buf, 16), LMMW_BLOB_BAD); /* last is 8 bytes */
  assert_int_equal(lmmw_blob_rx_feed(&rx, 91, buf, 16), LMMW_BLOB_BAD);
  assert_int_equal(lmmw_blob_rx_feed(&rx, 63, buf, 16), LMMW_BLOB_STORED);
  assert_int_equal(lmmw_blob_rx_feed(&rx, 63, buf, 16), LMMW_BLOB_DUPLICATE);
  lmmw_blob_rx_clear(&rx);
  /* The encoder refuses rows beyond p. */
  uint8_t *img = image(1000, 1), *par = malloc(5 * 7 * 16);
  assert_int_equal(lmmw_blob_rs_encode(&d, img, 0, 5, par), LMM_ERR_ARG);
  free(img), free(par);
}

/* Every block loses exactly `rows` of its fragments, chosen at random (data and parity): the
 * blob comes back whole, and the rebuilt count is the data lost. */
static void run_erasures(uint64_t size, uint32_t frag, uint32_t kb, uint32_t rows, uint32_t seed) {
  lmmw_blob_desc d = rs_desc(size, frag, kb, rows);
  uint32_t k = lmmw_blob_k(&d), nb = lmmw_blob_blocks(&d), q = lmmw_blob_q(&d);
  uint8_t *img = image((size_t)size, seed), *par = malloc((size_t)q * frag);
  assert_int_equal(lmmw_blob_rs_encode(&d, img, 0, rows, par), LMM_OK);
  uint8_t *lost = calloc(k + q, 1);
  uint32_t lost_data = 0;
  for (uint32_t b = 0; b < nb; b++) {
    /* The block's fragments: its data at b + j*B, its parity at K + r*B + b. */
    uint32_t idx[LMMW_RS_N_MAX], n = 0;
    for (uint32_t i = b; i < k; i += nb)
      idx[n++] = i;
    for (uint32_t r = 0; r < rows; r++)
      idx[n++] = k + r * nb + b;
    for (uint32_t drop = 0; drop < rows; drop++) {
      uint32_t pick;
      do {
        seed = seed * 1103515245u + 12345u;
        pick = idx[(seed >> 8) % n];
      } while (lost[pick]);
      lost[pick] = 1;
      lost_data += pick < k;
    }
  }
  lmmw_blob_rx rx;
  assert_int_equal(lmmw_blob_rx_init(&rx, &d), LMM_OK);
  /* Parity first for half of them: the order of arrival does not matter. */
  for (uint32_t pass = 0; pass < 2; pass++)
    for (uint32_t i = 0; i < k + q; i++) {
      if (lost[i] || (pass == 0) != (i >= k)) continue;
      size_t len;
      const uint8_t *p = frag_of(&d, img, par, i, &len);
      lmmw_blob_feed r = lmmw_blob_rx_feed(&rx, i, p, len);
      assert_true(r == LMMW_BLOB_STORED || r == LMMW_BLOB_COMPLETE || r == LMMW_BLOB_DUPLICATE);
    }
  assert_true(lmmw_blob_rx_complete(&rx));
  assert_int_equal(rx.recovered, lost_data);
  assert_memory_equal(rx.data, img, (size_t)size);
  lmmw_blob_rx_clear(&rx);
  free(img), free(par), free(lost);
}

static void test_any_k(void **state) {
  (void)state;
  run_erasures(1000, 16, 10, 4, 7);         /* short last block, short last fragment */
  run_erasures(1u << 16, 256, 171, 20, 3);  /* one block of 171 (K = 256 < 2k) */
  run_erasures(1u << 18, 1024, 171, 84, 9); /* k + m = 255: the largest block */
  run_erasures(100, 16, 200, 3, 5);         /* k above K: one block, zero-padded */
}

static void test_too_few(void **state) {
  (void)state;
  /* k - 1 of a block's fragments do not rebuild it. */
  lmmw_blob_desc d = rs_desc(160, 16, 10, 2);
  uint8_t *img = image(160, 4), *par = malloc(2 * 16);
  assert_int_equal(lmmw_blob_rs_encode(&d, img, 0, 2, par), LMM_OK);
  lmmw_blob_rx rx;
  assert_int_equal(lmmw_blob_rx_init(&rx, &d), LMM_OK);
  for (uint32_t i = 2; i < 10; i++)
    lmmw_blob_rx_feed(&rx, i, img + i * 16, 16);
  lmmw_blob_rx_feed(&rx, 10, par, 16);
  assert_false(lmmw_blob_rx_complete(&rx));
  assert_int_equal(lmmw_blob_rx_feed(&rx, 11, par + 16, 16), LMMW_BLOB_COMPLETE);
  assert_memory_equal(rx.data, img, 160);
  lmmw_blob_rx_clear(&rx);
  free(img), free(par);
}

static void test_rows_in_parts(void **state) {
  (void)state;
  /* Rows made later (a repair's new rows) equal the same rows made at once. */
  lmmw_blob_desc d = rs_desc(5000, 64, 30, 12);
  uint32_t nb = lmmw_blob_blocks(&d);
  uint8_t *img = image(5000, 2), *all = malloc(12 * nb * 64), *part = malloc(12 * nb * 64);
  assert_int_equal(lmmw_blob_rs_encode(&d, img, 0, 12, all), LMM_OK);
  assert_int_equal(lmmw_blob_rs_encode(&d, img, 0, 5, part), LMM_OK);
  assert_int_equal(lmmw_blob_rs_encode(&d, img, 5, 12, part + 5 * nb * 64), LMM_OK);
  assert_memory_equal(all, part, 12 * nb * 64);
  free(img), free(all), free(part);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),        cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_any_k),         cmocka_unit_test(test_too_few),
      cmocka_unit_test(test_rows_in_parts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
