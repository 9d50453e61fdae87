/* test_lwm2m_path.c - LwM2M paths: parsing (strict), formatting (with truncation), containment,
 * and record lists (deep copies). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/ctx.h"

static void expect_path(const char *s, uint8_t depth, uint16_t oid, uint16_t iid, uint16_t rid,
                        uint16_t riid) {
  lmm_path p;

  assert_int_equal(lmm_path_parse(s, &p), LMM_OK);
  assert_int_equal(p.depth, depth);
  assert_int_equal(p.oid, oid);
  if (depth >= 2) assert_int_equal(p.iid, iid);
  if (depth >= 3) assert_int_equal(p.rid, rid);
  if (depth >= 4) assert_int_equal(p.riid, riid);
}

static void test_parse_valid(void **state) {
  (void)state;
  expect_path("/5", 1, 5, 0, 0, 0);
  expect_path("/5/0", 2, 5, 0, 0, 0);
  expect_path("/5/0/1", 3, 5, 0, 1, 0);
  expect_path("/42769/0/6/3", 4, 42769, 0, 6, 3);
  expect_path("/0/0/0/0", 4, 0, 0, 0, 0);
  expect_path("/65534/65534/65534/65534", 4, 65534, 65534, 65534, 65534);
}

static void test_parse_invalid(void **state) {
  static const char *const bad[] = {
      "",         /* empty */
      "/",        /* the root is not a path of depth 1..4 */
      "5/0",      /* leading '/' required */
      "/5/",      /* no trailing '/' */
      "//5",      /* empty part */
      "/5//0",    /* empty part */
      "/65535",   /* reserved by LwM2M */
      "/5/65535", /* reserved */
      "/70000",   /* above 16 bits */
      "/99999999999999999999",
      "/5/0/1/2/3", /* five parts */
      "/05",        /* leading zero: one text form per path */
      "/5/00",      /* leading zero */
      "/5a",        /* not a digit */
      "/ 5",        /* space */
      "/-1",        /* sign */
      "/+1",        /* sign */
      "/5/0/1 ",    /* trailing space */
      "/0x10",      /* hex */
  };
  lmm_path p = {1, 2, 3, 4, 4};

  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (lmm_path_parse(bad[i], &p) != LMM_ERR_ARG) fail_msg("accepted \"%s\"", bad[i]);
  }
  assert_int_equal(lmm_path_parse(NULL, &p), LMM_ERR_ARG);
  assert_int_equal(lmm_path_parse("/5", NULL), LMM_ERR_ARG);
  /* Left untouched by the failures. */
  assert_int_equal(p.oid, 1);
  assert_int_equal(p.depth, 4);
}

static void test_format(void **state) {
  lmm_path p = {42769, 12, 6, 3, 4};
  char buf[32], small[6];

  (void)state;
  assert_ptr_equal(lmm_path_format(&p, buf, sizeof buf), buf);
  assert_string_equal(buf, "/42769/12/6/3");
  p.depth = 3;
  assert_string_equal(lmm_path_format(&p, buf, sizeof buf), "/42769/12/6");
  p.depth = 2;
  assert_string_equal(lmm_path_format(&p, buf, sizeof buf), "/42769/12");
  p.depth = 1;
  assert_string_equal(lmm_path_format(&p, buf, sizeof buf), "/42769");
  /* The longest path fits the documented 24 bytes. */
  p = (lmm_path){65534, 65534, 65534, 65534, 4};
  assert_string_equal(lmm_path_format(&p, buf, 25), "/65534/65534/65534/65534");
  /* Too small a buffer truncates and stays terminated. */
  p = (lmm_path){42769, 0, 0, 0, 2};
  assert_string_equal(lmm_path_format(&p, small, sizeof small), "/4276");
  assert_ptr_equal(lmm_path_format(&p, NULL, 0), NULL);
}

static void test_format_parse_roundtrip(void **state) {
  static const uint16_t parts[] = {0, 1, 9, 10, 99, 100, 255, 256, 1000, 9999, 10000, 42769, 65534};
  char buf[32];

  (void)state;
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
    for (uint8_t depth = 1; depth <= 4; depth++) {
      lmm_path p = {parts[i], parts[(i + 1) % 13], parts[(i + 2) % 13], parts[(i + 3) % 13], depth};
      lmm_path q;
      char want[32];
      int n;

      n = snprintf(want, sizeof want, "/%u/%u/%u/%u", p.oid, p.iid, p.rid, p.riid);
      assert_true(n > 0);
      /* Keep the first `depth` parts of the printf form. */
      {
        char *cut = want;
        for (uint8_t k = 0; k < depth; k++) {
          cut = strchr(cut + 1, '/');
          if (cut == NULL) break;
        }
        if (cut != NULL) *cut = '\0';
      }
      assert_string_equal(lmm_path_format(&p, buf, sizeof buf), want);
      assert_int_equal(lmm_path_parse(buf, &q), LMM_OK);
      assert_int_equal(q.depth, depth);
      assert_true(lmm_path_within(&p, &q) && lmm_path_within(&q, &p));
    }
  }
}

static void test_within(void **state) {
  lmm_path obj, inst, res, ri, other_inst, other_obj;

  (void)state;
  assert_int_equal(lmm_path_parse("/42769", &obj), LMM_OK);
  assert_int_equal(lmm_path_parse("/42769/0", &inst), LMM_OK);
  assert_int_equal(lmm_path_parse("/42769/0/6", &res), LMM_OK);
  assert_int_equal(lmm_path_parse("/42769/0/6/3", &ri), LMM_OK);
  assert_int_equal(lmm_path_parse("/42769/1/6", &other_inst), LMM_OK);
  assert_int_equal(lmm_path_parse("/5/0/6", &other_obj), LMM_OK);
  assert_true(lmm_path_within(&obj, &obj));
  assert_true(lmm_path_within(&obj, &ri));
  assert_true(lmm_path_within(&inst, &res));
  assert_true(lmm_path_within(&res, &ri));
  assert_true(lmm_path_within(&ri, &ri));
  assert_false(lmm_path_within(&ri, &res)); /* shallower is not within */
  assert_false(lmm_path_within(&inst, &obj));
  assert_false(lmm_path_within(&inst, &other_inst));
  assert_false(lmm_path_within(&obj, &other_obj));
  assert_true(lmm_path_within(&obj, &other_inst));
  assert_false(lmm_path_within(NULL, &obj));
  assert_false(lmm_path_within(&obj, NULL));
}

static void test_records_deep_copy(void **state) {
  lmm_records r = {0};
  lmm_path p;
  char s[] = "grp";
  uint8_t bytes[] = {1, 0, 2};
  lmm_value v = {.type = LMM_RT_STRING, .str = s};

  (void)state;
  assert_int_equal(lmm_path_parse("/42769/0/0", &p), LMM_OK);
  for (int i = 0; i < 100; i++)
    assert_int_equal(lmm_records_add(&r, &p, &v), LMM_OK);
  v = (lmm_value){.type = LMM_RT_OPAQUE, .bytes = bytes, .len = sizeof bytes};
  assert_int_equal(lmm_records_add(&r, &p, &v), LMM_OK);
  /* The copies do not share the caller's memory. */
  s[0] = 'X';
  bytes[0] = 9;
  assert_int_equal(r.n, 101);
  assert_string_equal(r.items[0].value.str, "grp");
  assert_ptr_not_equal(r.items[0].value.str, s);
  assert_int_equal(r.items[100].value.bytes[0], 1);
  assert_int_equal(r.items[100].value.len, 3);
  /* Records need a resource path and arguments. */
  assert_int_equal(lmm_path_parse("/42769/0", &p), LMM_OK);
  assert_int_equal(lmm_records_add(&r, &p, &v), LMM_ERR_ARG);
  assert_int_equal(lmm_records_add(NULL, &p, &v), LMM_ERR_ARG);
  assert_int_equal(r.n, 101);
  lmm_records_clear(&r);
  assert_null(r.items);
  assert_int_equal(r.n, 0);
  lmm_records_clear(&r); /* twice is fine */
  lmm_records_clear(NULL);
}

static void test_value_clear(void **state) {
  lmm_value v = {.type = LMM_RT_STRING};

  (void)state;
  v.str = malloc(4);
  v.bytes = malloc(4);
  assert_non_null(v.str);
  assert_non_null(v.bytes);
  v.len = 4;
  lmm_value_clear(&v);
  assert_null(v.str);
  assert_null(v.bytes);
  assert_int_equal(v.len, 0);
  assert_int_equal(v.type, LMM_RT_NONE);
  lmm_value_clear(NULL);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_valid), cmocka_unit_test(test_parse_invalid),
      cmocka_unit_test(test_format),      cmocka_unit_test(test_format_parse_roundtrip),
      cmocka_unit_test(test_within),      cmocka_unit_test(test_records_deep_copy),
      cmocka_unit_test(test_value_clear),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
