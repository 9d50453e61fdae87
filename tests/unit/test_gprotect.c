/* test_gprotect.c - protected group messages (docs/protocol.md section 6): the derivation and a
 * whole sealed message against values computed apart from Mbed TLS (Python's hmac and the
 * cryptography package's AES-CCM), every byte flipped, other keys, the replay window. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/gprotect.h"

static const uint8_t SECRET[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
/* NON GET /6/0, MID 0x1234, token 01..08, No-Response 26 */
static const uint8_t MSG[] = {0x58, 0x01, 0x12, 0x34, 1,    2,   3,    4,    5,   6,
                              7,    8,    0xb1, '6',  0x01, '0', 0xd1, 0xea, 0x1a};

static void unhex(const char *h, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static lmmw_gp_key key_of(const char *gid) {
  lmmw_gp_key k;
  assert_int_equal(lmmw_gp_derive(SECRET, sizeof SECRET, gid, &k), LMM_OK);
  return k;
}

static void test_derive_known(void **state) {
  (void)state;
  lmmw_gp_key k = key_of("building-7");
  uint8_t key[16], iv[13], kid[2];
  unhex("91b1048faf6507eb2b40f29a6ba37b4d", key, 16);
  unhex("6ddcc2c651bcc66e7e8aa0a6d8", iv, 13);
  unhex("a529", kid, 2);
  assert_memory_equal(k.key, key, 16);
  assert_memory_equal(k.iv, iv, 13);
  assert_memory_equal(k.kid, kid, 2);
  /* Another group, same secret: other keys. */
  lmmw_gp_key o = key_of("building-8");
  assert_memory_not_equal(o.key, k.key, 16);
  assert_memory_not_equal(o.iv, k.iv, 13);
}

static void test_derive_refuses(void **state) {
  (void)state;
  lmmw_gp_key k;
  memset(&k, 0x77, sizeof k);
  lmmw_gp_key before = k;
  uint8_t big[65] = {0};
  char gid[300];
  memset(gid, 'g', sizeof gid - 1), gid[sizeof gid - 1] = '\0';
  assert_int_equal(lmmw_gp_derive(SECRET, 15, "g", &k), LMM_ERR_ARG);
  assert_int_equal(lmmw_gp_derive(big, 65, "g", &k), LMM_ERR_ARG);
  assert_int_equal(lmmw_gp_derive(SECRET, 16, "", &k), LMM_ERR_ARG);
  assert_int_equal(lmmw_gp_derive(SECRET, 16, gid, &k), LMM_ERR_ARG);
  assert_memory_equal(&k, &before, sizeof k);
  assert_int_equal(lmmw_gp_derive(big, 64, "g", &k), LMM_OK);
}

static void test_seal_known(void **state) {
  (void)state;
  lmmw_gp_key k = key_of("building-7");
  uint8_t *out = NULL, want[36];
  size_t len = 0;
  unhex("580212340102030405060708e4fcde11a52905ff8740966073fffc73ecf56e52c802ea07", want, 36);
  assert_int_equal(lmmw_gp_seal(&k, 5, MSG, sizeof MSG, &out, &len), LMM_OK);
  assert_int_equal(len, sizeof want);
  assert_memory_equal(out, want, sizeof want);
  assert_true(len - sizeof MSG <= LMMW_GP_OVERHEAD);
  lmmw_gp_hdr h;
  assert_int_equal(lmmw_gp_peek(out, len, &h), LMMW_GP_OK);
  assert_int_equal(h.seq, 5);
  assert_memory_equal(h.kid, k.kid, 2);
  uint8_t *plain = NULL;
  size_t plen = 0;
  uint64_t seq = 0;
  assert_int_equal(lmmw_gp_open(&k, out, len, &plain, &plen, &seq), LMMW_GP_OK);
  assert_int_equal(seq, 5);
  assert_int_equal(plen, sizeof MSG);
  assert_memory_equal(plain, MSG, sizeof MSG);
  free(plain);
  free(out);
}

/* Every byte of a sealed message flipped: never opened. The message ID is not authenticated
 * (OSCORE leaves it out too): flipping it still opens, to the same request under that ID. */
static void test_every_byte_flipped(void **state) {
  (void)state;
  lmmw_gp_key k = key_of("building-7");
  uint8_t *out = NULL;
  size_t len = 0;
  uint8_t payload[1100];
  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)(i * 7);
  uint8_t big[4 + 8 + 3 + sizeof payload];
  memcpy(big, MSG, 12);
  big[12] = 0xff;
  memcpy(big + 13, payload, sizeof payload);
  const struct {
    const uint8_t *m;
    size_t n;
  } cases[] = {{MSG, sizeof MSG}, {big, 13 + sizeof payload}};
  for (size_t c = 0; c < 2; c++) {
    assert_int_equal(lmmw_gp_seal(&k, 1000000 + c, cases[c].m, cases[c].n, &out, &len), LMM_OK);
    for (size_t i = 0; i < len; i++)
      for (int bit = 0; bit < 8; bit++) {
        out[i] ^= (uint8_t)(1u << bit);
        uint8_t *plain = NULL;
        size_t plen;
        uint64_t seq;
        lmmw_gp_verdict v = lmmw_gp_open(&k, out, len, &plain, &plen, &seq);
        if (i == 2 || i == 3) {
          assert_int_equal(v, LMMW_GP_OK);
          free(plain);
        } else {
          assert_int_not_equal(v, LMMW_GP_OK);
          assert_null(plain);
        }
        out[i] ^= (uint8_t)(1u << bit);
      }
    free(out);
  }
}

static void test_other_keys(void **state) {
  (void)state;
  lmmw_gp_key k = key_of("building-7"), o = key_of("building-8");
  uint8_t *out = NULL, *plain = NULL;
  size_t len = 0, plen;
  uint64_t seq;
  assert_int_equal(lmmw_gp_seal(&k, 7, MSG, sizeof MSG, &out, &len), LMM_OK);
  assert_int_equal(lmmw_gp_open(&o, out, len, &plain, &plen, &seq), LMMW_GP_OTHER_KEY);
  /* A forger who copies the Key ID: the tag says no. */
  memcpy(o.kid, k.kid, sizeof o.kid);
  assert_int_equal(lmmw_gp_open(&o, out, len, &plain, &plen, &seq), LMMW_GP_BAD_TAG);
  assert_int_equal(seq, 7);
  free(out);
  /* Unprotected, truncated, not CoAP. */
  assert_int_equal(lmmw_gp_open(&k, MSG, sizeof MSG, &plain, &plen, &seq), LMMW_GP_UNPROTECTED);
  assert_int_equal(lmmw_gp_peek(MSG, sizeof MSG, NULL), LMMW_GP_UNPROTECTED);
  assert_int_equal(lmmw_gp_peek(MSG, 3, NULL), LMMW_GP_MALFORMED);
  assert_int_equal(lmmw_gp_peek((const uint8_t *)"hello world", 11, NULL), LMMW_GP_MALFORMED);
  assert_int_equal(lmmw_gp_seal(&k, 7, MSG, sizeof MSG, &out, &len), LMM_OK);
  for (size_t n = 0; n < len; n++)
    assert_int_not_equal(lmmw_gp_open(&k, out, n, &plain, &plen, &seq), LMMW_GP_OK);
  free(out);
}

static void test_seal_refuses(void **state) {
  (void)state;
  lmmw_gp_key k = key_of("g");
  uint8_t *out = (uint8_t *)"x";
  size_t len = 0;
  uint8_t resp[sizeof MSG];
  memcpy(resp, MSG, sizeof MSG);
  resp[1] = 0x45; /* 2.05: a response */
  uint8_t con[sizeof MSG];
  memcpy(con, MSG, sizeof MSG);
  con[0] = 0x48; /* CON: a group cannot acknowledge, and a member would refuse it */
  assert_int_equal(lmmw_gp_seal(&k, LMMW_GP_SEQ_MAX + 1, MSG, sizeof MSG, &out, &len), LMM_ERR_ARG);
  assert_int_equal(lmmw_gp_seal(&k, 1, resp, sizeof resp, &out, &len), LMM_ERR_ARG);
  assert_int_equal(lmmw_gp_seal(&k, 1, con, sizeof con, &out, &len), LMM_ERR_ARG);
  assert_int_equal(lmmw_gp_seal(&k, 1, MSG, 11, &out, &len), LMM_ERR_ARG);
  assert_string_equal((const char *)out, "x");
  assert_int_equal(lmmw_gp_seal(&k, LMMW_GP_SEQ_MAX, MSG, sizeof MSG, &out, &len), LMM_OK);
  lmmw_gp_hdr h;
  assert_int_equal(lmmw_gp_peek(out, len, &h), LMMW_GP_OK);
  assert_true(h.seq == LMMW_GP_SEQ_MAX);
  free(out);
}

static void test_window(void **state) {
  (void)state;
  lmmw_gp_window w = {0};
  assert_true(lmmw_gp_window_fresh(&w, 0));
  lmmw_gp_window_accept(&w, 10);
  assert_false(lmmw_gp_window_fresh(&w, 10));
  assert_true(lmmw_gp_window_fresh(&w, 9)); /* late but unseen: inside the window */
  lmmw_gp_window_accept(&w, 9);
  assert_false(lmmw_gp_window_fresh(&w, 9));
  assert_true(lmmw_gp_window_fresh(&w, 11));
  lmmw_gp_window_accept(&w, 100);
  assert_false(lmmw_gp_window_fresh(&w, 100 - LMMW_GP_WINDOW)); /* below the window */
  assert_true(lmmw_gp_window_fresh(&w, 100 - LMMW_GP_WINDOW + 1));
  assert_false(lmmw_gp_window_fresh(&w, 10));
  lmmw_gp_window_accept(&w, 101);
  assert_false(lmmw_gp_window_fresh(&w, 100));
  assert_false(lmmw_gp_window_fresh(&w, 101));
  lmmw_gp_window_accept(&w, 40); /* outside: ignored */
  assert_false(lmmw_gp_window_fresh(&w, 101));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_derive_known), cmocka_unit_test(test_derive_refuses),
      cmocka_unit_test(test_seal_known),   cmocka_unit_test(test_every_byte_flipped),
      cmocka_unit_test(test_other_keys),   cmocka_unit_test(test_seal_refuses),
      cmocka_unit_test(test_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
