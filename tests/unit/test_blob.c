/* test_blob.c - the blob wire format (docs/protocol.md section 5) with hand-worked values: the
 * query, the status text and its truncation, XOR parity and reassembly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lmm_wire/blob.h"
#include "lwm2m_mbms/ctx.h"

static lmmw_blob_desc desc(uint64_t size, uint32_t frag, uint32_t stride) {
  lmmw_blob_desc d = {.size = size, .frag = frag, .stride = stride};
  for (int i = 0; i < LMMW_BLOB_ID_LEN; i++)
    d.id[i] = (uint8_t)(0xa0 + i);
  return d;
}

/* Splits "a=1&b=2" into items for the parser. */
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

static void test_counts(void **state) {
  (void)state;
  lmmw_blob_desc d = desc(1000, 512, 0);
  assert_int_equal(lmmw_blob_k(&d), 2);
  assert_int_equal(lmmw_blob_q(&d), 0);
  assert_int_equal(lmmw_blob_frag_len(&d, 0), 512);
  assert_int_equal(lmmw_blob_frag_len(&d, 1), 488);
  d = desc(1048576, 512, 8);
  assert_int_equal(lmmw_blob_k(&d), 2048);
  assert_int_equal(lmmw_blob_q(&d), 256);
  assert_int_equal(lmmw_blob_frag_len(&d, 2048), 512); /* parity is always F */
}

static void test_query(void **state) {
  (void)state;
  lmmw_blob_desc d = desc(1000, 512, 4), back;
  d.has_digest = true;
  memset(d.digest, 0xab, 32);
  char q[LMMW_BLOB_QUERY_MAX + 1], why[160];
  lmmw_blob_query(&d, 1, false, q, sizeof q);
  assert_string_equal(q, "b=a0a1a2a3a4a5a6a7&n=1000&f=512&p=4&i=1");
  long idx;
  assert_int_equal(parse(q, &back, &idx, why), LMM_OK);
  assert_int_equal(idx, 1);
  assert_memory_equal(back.id, d.id, 8);
  assert_int_equal(back.size, 1000);
  assert_int_equal(back.stride, 4);
  assert_false(back.has_digest);
  strcpy(d.version, "2.1.0-rc1");
  lmmw_blob_query(&d, -1, true, q, sizeof q);
  assert_non_null(strstr(q, "&v=2.1.0-rc1"));
  assert_int_equal(parse(q, &back, &idx, why), LMM_OK);
  assert_string_equal(back.version, "2.1.0-rc1");
  assert_int_equal(idx, -1);
  assert_true(back.has_digest);
  assert_memory_equal(back.digest, d.digest, 32);
  /* Unknown keys are room to grow; no b is not a blob message. */
  assert_int_equal(parse("b=a0a1a2a3a4a5a6a7&n=1&f=16&zz=9", &back, &idx, why), LMM_OK);
  assert_int_equal(parse("n=1&f=16", &back, &idx, why), LMM_ERR_NOTFOUND);
  /* Each malformed item is named. */
  static const char *const bad[] = {
      "b=a0a1&n=1000&f=512",                 /* short id */
      "b=a0a1a2a3a4a5a6zz&n=1000&f=512",     /* not hex */
      "b=a0a1a2a3a4a5a6a7&n=0&f=512",        /* empty blob */
      "b=a0a1a2a3a4a5a6a7&n=1000&f=8",       /* fragment too small */
      "b=a0a1a2a3a4a5a6a7&n=1000&f=2048",    /* fragment too large */
      "b=a0a1a2a3a4a5a6a7&n=1000&f=512&i=2", /* index past K + Q */
      "b=a0a1a2a3a4a5a6a7&n=-5&f=512",       /* sign */
      "b=a0a1a2a3a4a5a6a7&n=99999999999999999999&f=512",
      "b=a0a1a2a3a4a5a6a7&f=512",              /* no size */
      "b=a0a1a2a3a4a5a6a7&n=1000&f=512&d=abc", /* short digest */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why[0] = 0;
    assert_int_equal(parse(bad[i], &back, &idx, why), LMM_ERR_ARG);
    assert_true(why[0] != 0);
  }
}

static void test_status(void **state) {
  (void)state;
  char out[LMMW_BLOB_STATUS_MAX + 1], why[160];
  uint8_t miss[4] = {0};
  assert_int_equal(lmmw_blob_status_format(2, 0, NULL, 0, out), 7);
  assert_string_equal(out, "s=2;r=0");
  /* 0-3, 17, 20-31 of 32 */
  miss[0] = 0x0f, miss[2] = 0x02, miss[2] |= 0xf0, miss[3] = 0xff;
  lmmw_blob_status_format(1, 0, miss, 32, out);
  assert_string_equal(out, "s=1;r=0;m=0-3,17,20-31");
  lmmw_blob_status st;
  assert_int_equal(lmmw_blob_status_parse((const uint8_t *)out, strlen(out), &st, why, sizeof why),
                   LMM_OK);
  assert_int_equal(st.state, 1);
  assert_int_equal(st.n_ranges, 3);
  assert_int_equal(st.ranges[1][0], 17);
  assert_int_equal(st.ranges[1][1], 17);
  uint8_t back[4] = {0};
  lmmw_blob_status_mark(&st, back, 32);
  assert_memory_equal(back, miss, 4);
  lmmw_blob_status_clear(&st);
  /* An open range reaches the end. */
  assert_int_equal(
      lmmw_blob_status_parse((const uint8_t *)"s=0;r=0;m=0-", 12, &st, why, sizeof why), LMM_OK);
  assert_int_equal(st.ranges[0][1], UINT32_MAX);
  uint8_t all[2] = {0};
  lmmw_blob_status_mark(&st, all, 10);
  assert_int_equal(all[0], 0xff);
  assert_int_equal(all[1], 0x03);
  lmmw_blob_status_clear(&st);
  static const char *const bad[] = {"",           "s=1",           "r=0",           "s=9;r=0",
                                    "s=1;r=0;m=", "s=1;r=0;m=5-3", "s=1;r=0;m=5,5", "s=1;r=0;m=a",
                                    "s=1;r=0x",   "s==1;r=0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(
        lmmw_blob_status_parse((const uint8_t *)bad[i], strlen(bad[i]), &st, why, sizeof why),
        LMM_ERR_PROTO);
}

/* Every other fragment of 20,000 missing: the text stops within its limit with an open range,
 * so nothing missing is left out. */
static void test_status_truncated(void **state) {
  (void)state;
  uint32_t k = 20000;
  uint8_t *miss = calloc(k / 8, 1);
  for (uint32_t i = 0; i < k; i += 2)
    lmmw_bit_set(miss, i);
  char out[LMMW_BLOB_STATUS_MAX + 1], why[160];
  size_t len = lmmw_blob_status_format(1, 0, miss, k, out);
  assert_true(len <= LMMW_BLOB_STATUS_MAX);
  assert_int_equal(strlen(out), len);
  assert_int_equal(out[len - 1], '-');
  lmmw_blob_status st;
  assert_int_equal(lmmw_blob_status_parse((const uint8_t *)out, len, &st, why, sizeof why), LMM_OK);
  uint8_t *back = calloc(k / 8, 1);
  lmmw_blob_status_mark(&st, back, k);
  for (uint32_t i = 0; i < k; i++)
    if (lmmw_bit(miss, i)) assert_true(lmmw_bit(back, i));
  lmmw_blob_status_clear(&st);
  free(miss), free(back);
}

static void test_reassembly_with_parity(void **state) {
  (void)state;
  lmmw_blob_desc d = desc(1000, 64, 4); /* K = 16 (last 40 bytes), Q = 4 */
  uint8_t blob[1000];
  for (int i = 0; i < 1000; i++)
    blob[i] = (uint8_t)(i * 7 + 3);
  uint32_t k = lmmw_blob_k(&d), q = lmmw_blob_q(&d);
  assert_int_equal(k, 16);
  assert_int_equal(q, 4);
  lmmw_blob_rx rx;
  assert_int_equal(lmmw_blob_rx_init(&rx, &d), LMM_OK);
  /* Lose fragments 5 and 15 (the short last one): different parity groups (5 % 4, 15 % 4). */
  for (uint32_t i = 0; i < k; i++)
    if (i != 5 && i != 15)
      assert_int_equal(lmmw_blob_rx_feed(&rx, i, blob + i * 64, lmmw_blob_frag_len(&d, i)),
                       LMMW_BLOB_STORED);
  assert_false(lmmw_blob_rx_complete(&rx));
  uint8_t bits[2];
  lmmw_blob_rx_missing(&rx, bits);
  assert_int_equal(bits[0], 0x20);
  assert_int_equal(bits[1], 0x80);
  assert_int_equal(lmmw_blob_rx_feed(&rx, 3, blob + 3 * 64, 64), LMMW_BLOB_DUPLICATE);
  assert_int_equal(lmmw_blob_rx_feed(&rx, 4, blob, 12), LMMW_BLOB_BAD); /* wrong length */
  assert_int_equal(lmmw_blob_rx_feed(&rx, 99, blob, 64), LMMW_BLOB_BAD);
  uint8_t par[64];
  lmmw_blob_parity(&d, blob, 1, par);
  assert_int_equal(lmmw_blob_rx_feed(&rx, k + 1, par, 64), LMMW_BLOB_STORED);
  lmmw_blob_parity(&d, blob, 3, par);
  assert_int_equal(lmmw_blob_rx_feed(&rx, k + 3, par, 64), LMMW_BLOB_COMPLETE);
  assert_int_equal(rx.recovered, 2);
  assert_memory_equal(rx.data, blob, 1000);
  lmmw_blob_rx_clear(&rx);
  /* Two losses in one group cannot be rebuilt. */
  assert_int_equal(lmmw_blob_rx_init(&rx, &d), LMM_OK);
  for (uint32_t i = 0; i < k; i++)
    if (i != 2 && i != 6) lmmw_blob_rx_feed(&rx, i, blob + i * 64, lmmw_blob_frag_len(&d, i));
  lmmw_blob_parity(&d, blob, 2, par);
  lmmw_blob_rx_feed(&rx, k + 2, par, 64);
  assert_false(lmmw_blob_rx_complete(&rx));
  assert_int_equal(rx.recovered, 0);
  lmmw_blob_rx_clear(&rx);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts),
      cmocka_unit_test(test_query),
      cmocka_unit_test(test_status),
      cmocka_unit_test(test_status_truncated),
      cmocka_unit_test(test_reassembly_with_parity),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
