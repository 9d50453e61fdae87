/* test_rfc3339.c - RFC 3339 date-time parsing and formatting against literal vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "util/rfc3339.h"
#include "lwm2m_mbms/ctx.h"

static const struct {
  const char *text;
  int64_t epoch;
} good[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1969-12-31T23:59:59Z", -1},
    {"1985-04-12T23:20:50.52Z", 482196050},        /* RFC 3339 section 5.8 */
    {"1996-12-19T16:39:57-08:00", 851042397},      /* RFC 3339 section 5.8 */
    {"1990-12-31T23:59:60Z", 662687999},           /* leap second, clamped to :59 */
    {"1990-12-31T15:59:60-08:00", 662687999},      /* the same leap second */
    {"1937-01-01T12:00:27.87+00:20", -1041337173}, /* RFC 3339 section 5.8 */
    {"2024-02-29T12:00:00Z", 1709208000},          /* leap day */
    {"2000-02-29T00:00:00Z", 951782400},           /* divisible by 400: leap */
    {"2100-03-01T00:00:00Z", 4107542400},
    {"1900-03-01T00:00:00Z", -2203891200},
    {"2038-01-19T03:14:08Z", 2147483648},           /* past 32-bit time_t */
    {"2023-03-01T23:45:00-23:59", 1677800640},      /* largest offset */
    {"2024-02-29t12:00:00z", 1709208000},           /* lower case t and z */
    {"2024-02-29 12:00:00Z", 1709208000},           /* space separator */
    {"2024-02-29T12:00:00.999999999Z", 1709208000}, /* fraction truncated */
    {"2024-02-29T13:30:00+01:30", 1709208000},
    {"2024-02-29T12:00:00-00:00", 1709208000}, /* unknown local offset */
    {"0000-01-01T00:00:00Z", -62167219200},    /* first formattable instant */
    {"9999-12-31T23:59:59Z", 253402300799},    /* last formattable instant */
};

static void test_parse_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    int64_t t = 12345;
    if (!lmmi_rfc3339_parse(good[i].text, &t)) fail_msg("refused %s", good[i].text);
    if (t != good[i].epoch) fail_msg("%s gave %lld", good[i].text, (long long)t);
  }
}

static void test_parse_rejects(void **state) {
  static const char *const bad[] = {
      "",
      "2023-02-29T00:00:00Z", /* not a leap year */
      "1900-02-29T00:00:00Z", /* century, not divisible by 400 */
      "2023-04-31T00:00:00Z", /* April has 30 days */
      "2023-13-01T00:00:00Z",
      "2023-00-10T00:00:00Z",
      "2023-01-00T00:00:00Z",
      "2023-01-32T00:00:00Z",
      "2023-01-01T24:00:00Z",
      "2023-01-01T23:60:00Z",
      "2023-01-01T23:59:61Z",
      "2023-01-01T00:00:00+24:00",
      "2023-01-01T00:00:00+23:60",
      "2023-01-01T00:00:00+0100", /* offset without colon */
      "2023-01-01T00:00:00+01",
      "2023-01-01T00:00:00", /* no offset */
      "2023-01-01",          /* date only */
      "2023-01-01T00:00Z",   /* no seconds */
      "2023-1-01T00:00:00Z",
      "23-01-01T00:00:00Z",
      "2023-01-01X00:00:00Z",
      "2023-01-01T00:00:00.Z", /* dot without digits */
      "2023-01-01T00:00:00ZZ", /* trailing garbage */
      "2023-01-01T00:00:00Z ",
      " 2023-01-01T00:00:00Z",
      "2023-01-01T00:00:00 Z",
      "+2023-01-01T00:00:00Z",
      "2023-01-01T0a:00:00Z",
      "0000-01-01T00:00:00+00:01", /* before year 0 once the offset is applied */
      "9999-12-31T23:59:59-00:01", /* after year 9999 */
  };

  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int64_t t = 777;
    if (lmmi_rfc3339_parse(bad[i], &t)) fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(t, 777);
  }
  assert_false(lmmi_rfc3339_parse(NULL, &(int64_t){0}));
}

static void test_format_vectors(void **state) {
  static const struct {
    int64_t epoch;
    const char *text;
  } v[] = {
      {0, "1970-01-01T00:00:00Z"},
      {-1, "1969-12-31T23:59:59Z"},
      {482196050, "1985-04-12T23:20:50Z"},
      {1709208000, "2024-02-29T12:00:00Z"},
      {951782400, "2000-02-29T00:00:00Z"},
      {-2203891200, "1900-03-01T00:00:00Z"},
      {2147483648, "2038-01-19T03:14:08Z"},
      {-62167219200, "0000-01-01T00:00:00Z"},
      {253402300799, "9999-12-31T23:59:59Z"},
  };
  char buf[32];

  (void)state;
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    memset(buf, 'x', sizeof buf);
    assert_true(lmmi_rfc3339_format(v[i].epoch, buf, sizeof buf));
    assert_string_equal(buf, v[i].text);
  }
}

static void test_format_limits(void **state) {
  char buf[21];

  (void)state;
  assert_false(lmmi_rfc3339_format(253402300800, buf, sizeof buf));
  assert_false(lmmi_rfc3339_format(-62167219201, buf, sizeof buf));
  assert_false(lmmi_rfc3339_format(INT64_MAX, buf, sizeof buf));
  assert_false(lmmi_rfc3339_format(INT64_MIN, buf, sizeof buf));
  assert_false(lmmi_rfc3339_format(0, buf, 20)); /* too small for the text and its NUL */
  assert_true(lmmi_rfc3339_format(0, buf, 21));
  assert_string_equal(buf, "1970-01-01T00:00:00Z");
}

static void test_round_trip(void **state) {
  char buf[32];

  (void)state;
  /* Every day boundary region across four centuries, in steps that hit all months. */
  for (int64_t t = -62167219200; t <= 253402300799; t += 86400 * 7 + 3601) {
    int64_t back = 0;
    assert_true(lmmi_rfc3339_format(t, buf, sizeof buf));
    assert_true(lmmi_rfc3339_parse(buf, &back));
    assert_int_equal(back, t);
  }
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_vectors),  cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_format_vectors), cmocka_unit_test(test_format_limits),
      cmocka_unit_test(test_round_trip),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
