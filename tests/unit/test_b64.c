/* test_b64.c - strict base64: RFC 4648 vectors, round trips, and every kind of malformed text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "lwm2m_mbms/ctx.h"

/* RFC 4648 section 10, literally. */
static const struct {
  const char *raw, *b64;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_encode_rfc4648_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rfc4648 / sizeof *rfc4648; i++) {
    char *out = NULL;
    assert_int_equal(lmmi_b64_encode((const uint8_t *)rfc4648[i].raw, strlen(rfc4648[i].raw), &out),
                     LMM_OK);
    assert_non_null(out);
    assert_string_equal(out, rfc4648[i].b64);
    free(out);
  }
}

static void test_decode_rfc4648_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rfc4648 / sizeof *rfc4648; i++) {
    uint8_t *out = NULL;
    size_t n = 99;
    assert_int_equal(lmmi_b64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), &out, &n), LMM_OK);
    assert_non_null(out); /* even for the empty vector */
    assert_int_equal(n, strlen(rfc4648[i].raw));
    if (n != 0) assert_memory_equal(out, rfc4648[i].raw, n);
    free(out);
  }
}

static void test_empty(void **state) {
  char *enc = NULL;
  uint8_t *dec = NULL;
  size_t n = 7;

  (void)state;
  assert_int_equal(lmmi_b64_encode(NULL, 0, &enc), LMM_OK);
  assert_string_equal(enc, "");
  free(enc);
  assert_int_equal(lmmi_b64_decode(NULL, 0, &dec, &n), LMM_OK);
  assert_non_null(dec);
  assert_int_equal(n, 0);
  free(dec);
}

static void test_binary_round_trip(void **state) {
  uint8_t all[256];

  (void)state;
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)(255 - i);
  for (size_t len = 0; len <= sizeof all; len++) {
    char *enc = NULL;
    uint8_t *dec = NULL;
    size_t n = 0;
    assert_int_equal(lmmi_b64_encode(all, len, &enc), LMM_OK);
    assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
    assert_int_equal(lmmi_b64_decode(enc, strlen(enc), &dec, &n), LMM_OK);
    assert_int_equal(n, len);
    if (len != 0) assert_memory_equal(dec, all, len);
    free(enc);
    free(dec);
  }
}

static void test_binary_vector(void **state) {
  static const uint8_t raw[] = {0x00, 0xff, 0xfe, 0xfb, 0xef, 0x3e, 0x3f};
  char *enc = NULL;

  (void)state;
  /* Exercises '+' and '/' of the standard alphabet. */
  assert_int_equal(lmmi_b64_encode(raw, sizeof raw, &enc), LMM_OK);
  assert_string_equal(enc, "AP/+++8+Pw==");
  free(enc);
}

static void test_decode_uses_length_not_nul(void **state) {
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  assert_int_equal(lmmi_b64_decode("Zm9vYmFyGARBAGE", 8, &out, &n), LMM_OK);
  assert_int_equal(n, 6);
  assert_memory_equal(out, "foobar", 6);
  free(out);
}

static void test_decode_rejects_malformed(void **state) {
  static const char *const bad[] = {
      "Zg",           /* padding missing */
      "Zm8",          /* padding missing */
      "Zg=",          /* length not a multiple of 4 */
      "Zm9vY",        /* length not a multiple of 4 */
      "Zm9v\n",       /* line break */
      "Zm9v\r\nYmFy", /* CRLF line break */
      "Zm9 v",        /* space inside */
      " Zm9v",        /* leading space */
      "Zm9v ",        /* trailing space */
      "Zm9\tv",       /* tab */
      "Zm-v",         /* URL-safe alphabet */
      "Zm_v",         /* URL-safe alphabet */
      "Zm9*",         /* not in any alphabet */
      "Zm9\x80",      /* non-ASCII */
      "Zg=a",         /* data after padding */
      "=Zg=",         /* padding first */
      "Z===",         /* three padding characters */
      "====",         /* only padding */
      "Zm9v====",     /* a whole group of padding */
      "Zg==Zg==",     /* padding in the middle */
      "Zh==",         /* non-zero trailing bits (would be "f" with stray bits) */
      "Zm9=",         /* non-zero trailing bits ("fo" is Zm8=) */
  };

  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    uint8_t *out = (uint8_t *)"untouched";
    size_t n = 42;
    if (lmmi_b64_decode(bad[i], strlen(bad[i]), &out, &n) != LMM_ERR_PROTO)
      fail_msg("bad case %zu was not refused", i);
    assert_string_equal((const char *)out, "untouched");
    assert_int_equal(n, 42);
  }
}

static void test_decode_rejects_nul_inside(void **state) {
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  assert_int_equal(lmmi_b64_decode("Zm\0v", 4, &out, &n), LMM_ERR_PROTO);
  assert_null(out);
}

static void test_bad_arguments(void **state) {
  uint8_t *out = NULL;
  size_t n = 0;
  char *s = NULL;

  (void)state;
  assert_int_equal(lmmi_b64_encode(NULL, 3, &s), LMM_ERR_ARG);
  assert_int_equal(lmmi_b64_encode((const uint8_t *)"abc", 3, NULL), LMM_ERR_ARG);
  assert_int_equal(lmmi_b64_decode(NULL, 4, &out, &n), LMM_ERR_ARG);
  assert_int_equal(lmmi_b64_decode("Zg==", 4, NULL, &n), LMM_ERR_ARG);
  assert_int_equal(lmmi_b64_decode("Zg==", 4, &out, NULL), LMM_ERR_ARG);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_rfc4648_vectors),
      cmocka_unit_test(test_decode_rfc4648_vectors),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_binary_round_trip),
      cmocka_unit_test(test_binary_vector),
      cmocka_unit_test(test_decode_uses_length_not_nul),
      cmocka_unit_test(test_decode_rejects_malformed),
      cmocka_unit_test(test_decode_rejects_nul_inside),
      cmocka_unit_test(test_bad_arguments),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
