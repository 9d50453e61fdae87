/* test_senml.c - the SenML-JSON codec against JSON written by hand from RFC 8428 and LwM2M 1.1
 * Core clause 7.4.4, round trips of a whole Group Mgmt instance, and malformed packs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/ctx.h"

#define OID     LMM_GROUP_MGMT_OID
#define N_OF(a) (sizeof(a) / sizeof *(a))

static lmm_path mkpath(uint16_t oid, uint16_t iid, int rid, int riid) {
  lmm_path p = {oid, iid, 0, 0, 2};
  if (rid >= 0) {
    p.rid = (uint16_t)rid;
    p.depth = 3;
  }
  if (riid >= 0) {
    p.riid = (uint16_t)riid;
    p.depth = 4;
  }
  return p;
}

static const lmm_path BASE_INST = {OID, 0, 0, 0, 2};
static const lmm_path BASE_OBJ = {OID, 0, 0, 0, 1};

/* The Group Mgmt instance of the TLV test, as our encoder must write it: "bn" is the request
 * path with a trailing '/', each "n" the rest of the path; Strings in "vs", Integer and Time in
 * "v". Multiple resources keep their instance IDs (TMGI 0 and 3, Schedule 0 and 2). */
static const char gm_json[] = "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"grp1\"},"
                              "{\"n\":\"1\",\"v\":0},"
                              "{\"n\":\"5\",\"vs\":\"eg1\"},"
                              "{\"n\":\"6/0\",\"vs\":\"0a1b2c00101\"},"
                              "{\"n\":\"6/3\",\"vs\":\"aabbcc00102\"},"
                              "{\"n\":\"8/0\",\"v\":1700000000},"
                              "{\"n\":\"8/2\",\"v\":1700003600},"
                              "{\"n\":\"9\",\"v\":300},"
                              "{\"n\":\"10\",\"v\":5683},"
                              "{\"n\":\"11\",\"vs\":\"coap://h/a\"}]";

static void gm_records(lmm_records *r, uint16_t iid) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  char *tmgi[] = {"0a1b2c00101", "aabbcc00102"};
  uint16_t tmgi_riid[] = {0, 3};
  int64_t sched[] = {1700000000, 1700003600};
  uint16_t sched_riid[] = {0, 2};

  g.group_id = "grp1";
  g.group_type = LMM_GROUP_MBMS;
  g.external_group_id = "eg1";
  g.tmgi = tmgi;
  g.tmgi_riid = tmgi_riid;
  g.n_tmgi = 2;
  g.schedule = sched;
  g.schedule_riid = sched_riid;
  g.n_schedule = 2;
  g.response_time_window = 300;
  g.multicast_port = 5683;
  g.answer_uri = "coap://h/a";
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, iid, r), LMM_OK);
}

static void assert_value_equal(const lmm_value *a, const lmm_value *b) {
  assert_int_equal(a->type, b->type);
  switch (a->type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    assert_string_equal(a->str, b->str);
    break;
  case LMM_RT_OPAQUE:
    assert_int_equal(a->len, b->len);
    if (a->len != 0) assert_memory_equal(a->bytes, b->bytes, a->len);
    break;
  case LMM_RT_UNSIGNED:
    assert_true(a->v.u == b->v.u);
    break;
  case LMM_RT_FLOAT:
    assert_true(a->v.f == b->v.f);
    break;
  case LMM_RT_BOOLEAN:
    assert_int_equal(a->v.b, b->v.b);
    break;
  case LMM_RT_OBJLNK:
    assert_int_equal(a->v.lnk.oid, b->v.lnk.oid);
    assert_int_equal(a->v.lnk.iid, b->v.lnk.iid);
    break;
  default:
    assert_true(a->v.i == b->v.i);
    break;
  }
}

static void assert_path(const lmm_path *p, const char *want) {
  char buf[32];
  assert_string_equal(lmm_path_format(p, buf, sizeof buf), want);
}

static void assert_records_equal(const lmm_records *a, const lmm_records *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    char pa[32], pb[32];
    assert_string_equal(lmm_path_format(&a->items[i].path, pa, sizeof pa),
                        lmm_path_format(&b->items[i].path, pb, sizeof pb));
    assert_value_equal(&a->items[i].value, &b->items[i].value);
  }
}

static void sentinel(lmm_records *r) {
  lmm_value v = {.type = LMM_RT_INTEGER};
  lmm_path p = mkpath(1, 2, 3, -1);
  v.v.i = 77;
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
}

/* Decoding must fail with LMM_ERR_PROTO, a reason containing `needle`, and `out` unchanged. */
static void expect_proto(const lmm_path *base, const char *json, const lmm_obj_def *def,
                         const char *needle) {
  lmm_records out = {0};
  char why[256] = "";

  sentinel(&out);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_SENML_JSON, base, (const uint8_t *)json, strlen(json),
                                    def, &out, why, sizeof why),
                   LMM_ERR_PROTO);
  if (strstr(why, needle) == NULL) fail_msg("%s: reason \"%s\" lacks \"%s\"", json, why, needle);
  assert_int_equal(out.n, 1);
  assert_true(out.items[0].value.v.i == 77);
  lmm_records_clear(&out);
}

static void decode_ok(const lmm_path *base, const char *json, const lmm_obj_def *def,
                      lmm_records *out) {
  char why[256] = "";
  lmm_err rc = lmm_lwm2m_decode(LMM_FMT_SENML_JSON, base, (const uint8_t *)json, strlen(json), def,
                                out, why, sizeof why);
  if (rc != LMM_OK) fail_msg("%s: %s", json, why);
}

static void expect_json(const lmm_path *base, const lmm_record *recs, size_t n, const char *want) {
  uint8_t *out = NULL;
  size_t len = 0;

  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, base, recs, n, &out, &len), LMM_OK);
  if (len != strlen(want) || memcmp(out, want, len) != 0)
    fail_msg("got %.*s\nwant %s", (int)len, (const char *)out, want);
  lmm_free(out);
}

static const lmm_res_def all_res[] = {
    {0, "B", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_BOOLEAN, NULL, NULL, ""},
    {1, "L", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_OBJLNK, NULL, NULL, ""},
    {2, "U", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_UNSIGNED, NULL, NULL, ""},
    {3, "F", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_FLOAT, NULL, NULL, ""},
    {4, "C", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_CORELNK, NULL, NULL, ""},
    {5, "O", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_OPAQUE, NULL, NULL, ""},
    {6, "E", LMM_OP_E, false, false, LMM_RT_NONE, NULL, NULL, ""},
    {7, "T", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_TIME, NULL, NULL, ""},
};
static const lmm_obj_def all_def = {42770, "All",   NULL,          "1.0", true,
                                    false, all_res, N_OF(all_res), ""};
static const lmm_path BASE_ALL = {42770, 0, 0, 0, 2};

/* =============================================================== encoding */

static void test_encode_instance(void **state) {
  lmm_records r = {0};

  (void)state;
  gm_records(&r, 0);
  expect_json(&BASE_INST, r.items, r.n, gm_json);
  lmm_records_clear(&r);
}

static void test_encode_bases(void **state) {
  lmm_records r = {0};
  lmm_path res0 = mkpath(OID, 0, 0, -1), res6 = mkpath(OID, 0, 6, -1);
  lmm_path inst63 = mkpath(OID, 0, 6, 3);

  (void)state;
  gm_records(&r, 0);
  /* A single resource: "bn" is the resource itself and the record has no "n". */
  expect_json(&res0, &r.items[0], 1, "[{\"bn\":\"/42769/0/0\",\"vs\":\"grp1\"}]");
  /* A multiple resource: its instances by ID. */
  expect_json(&res6, &r.items[3], 2,
              "[{\"bn\":\"/42769/0/6/\",\"n\":\"0\",\"vs\":\"0a1b2c00101\"},"
              "{\"n\":\"3\",\"vs\":\"aabbcc00102\"}]");
  /* One resource instance. */
  expect_json(&inst63, &r.items[4], 1, "[{\"bn\":\"/42769/0/6/3\",\"vs\":\"aabbcc00102\"}]");
  /* The object: names start with the instance. */
  expect_json(&BASE_OBJ, &r.items[0], 2,
              "[{\"bn\":\"/42769/\",\"n\":\"0/0\",\"vs\":\"grp1\"},{\"n\":\"0/1\",\"v\":0}]");
  /* Nothing: an empty pack. */
  expect_json(&BASE_INST, NULL, 0, "[]");
  lmm_records_clear(&r);
}

static void test_encode_types(void **state) {
  uint8_t data[] = {0xFB, 0xFF}, three[] = {1, 2, 3};
  lmm_record recs[] = {
      {mkpath(42770, 0, 0, -1), {.type = LMM_RT_BOOLEAN, .v.b = true}},
      {mkpath(42770, 0, 1, -1), {.type = LMM_RT_OBJLNK, .v.lnk = {3, 0}}},
      {mkpath(42770, 0, 2, -1), {.type = LMM_RT_UNSIGNED, .v.u = UINT64_MAX}},
      {mkpath(42770, 0, 3, -1), {.type = LMM_RT_FLOAT, .v.f = 1.5}},
      {mkpath(42770, 0, 4, -1), {.type = LMM_RT_CORELNK, .str = "</3/0>"}},
      {mkpath(42770, 0, 5, -1), {.type = LMM_RT_OPAQUE, .bytes = data, .len = 2}},
      {mkpath(42770, 0, 7, -1), {.type = LMM_RT_TIME, .v.i = -5}},
      {mkpath(42770, 0, 8, -1), {.type = LMM_RT_FLOAT, .v.f = 2.0}},
      {mkpath(42770, 0, 9, -1), {.type = LMM_RT_OPAQUE, .bytes = three, .len = 3}},
      {mkpath(42770, 0, 10, -1), {.type = LMM_RT_INTEGER, .v.i = INT64_MIN}},
  };

  (void)state;
  /* FB FF = 111110 111111 1111(00): base64url "-_8" with no padding (standard would be
   * "+/8="); 01 02 03 = "AQID"; a float that is whole keeps ".0" so that it reads back as a
   * float. */
  expect_json(&BASE_ALL, recs, N_OF(recs),
              "[{\"bn\":\"/42770/0/\",\"n\":\"0\",\"vb\":true},"
              "{\"n\":\"1\",\"vlo\":\"3:0\"},"
              "{\"n\":\"2\",\"v\":18446744073709551615},"
              "{\"n\":\"3\",\"v\":1.5},"
              "{\"n\":\"4\",\"vs\":\"</3/0>\"},"
              "{\"n\":\"5\",\"vd\":\"-_8\"},"
              "{\"n\":\"7\",\"v\":-5},"
              "{\"n\":\"8\",\"v\":2.0},"
              "{\"n\":\"9\",\"vd\":\"AQID\"},"
              "{\"n\":\"10\",\"v\":-9223372036854775808}]");
}

static void test_encode_escapes(void **state) {
  lmm_record rec = {mkpath(OID, 0, 0, -1),
                    {.type = LMM_RT_STRING, .str = "a\"b\\c\n\x01\xc3\xa9/"}};
  lmm_path base = mkpath(OID, 0, 0, -1);

  (void)state;
  /* '"' and '\' escaped, controls as \n or \u00XX, UTF-8 (é = C3 A9) and '/' as they are. */
  expect_json(&base, &rec, 1,
              "[{\"bn\":\"/42769/0/0\",\"vs\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9/\"}]");
}

static void test_encode_escapes_all_and_grows(void **state) {
  char s[201];
  lmm_record rec = {mkpath(OID, 0, 0, -1), {.type = LMM_RT_STRING, .str = "\b\f\r\t"}};
  lmm_path base = mkpath(OID, 0, 0, -1);
  uint8_t ff = 0xFF;
  lmm_record one = {mkpath(42770, 0, 5, -1), {.type = LMM_RT_OPAQUE, .bytes = &ff, .len = 1}};
  lmm_path base5 = mkpath(42770, 0, 5, -1);
  lmm_record no = {mkpath(42770, 0, 0, -1), {.type = LMM_RT_BOOLEAN, .v.b = false}};
  lmm_path base0 = mkpath(42770, 0, 0, -1);
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  expect_json(&base, &rec, 1, "[{\"bn\":\"/42769/0/0\",\"vs\":\"\\b\\f\\r\\t\"}]");
  /* FF = 111111 11(0000): "_w". */
  expect_json(&base5, &one, 1, "[{\"bn\":\"/42770/0/5\",\"vd\":\"_w\"}]");
  expect_json(&base0, &no, 1, "[{\"bn\":\"/42770/0/0\",\"vb\":false}]");
  /* 200 control characters become 1200 bytes of escapes: more than the first estimate. */
  memset(s, 0x01, 200);
  s[200] = '\0';
  rec.value.str = s;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &base, &rec, 1, &out, &n), LMM_OK);
  assert_int_equal(n, strlen("[{\"bn\":\"/42769/0/0\",\"vs\":\"\"}]") + 1200);
  assert_memory_equal(out + n - 9, "\\u0001\"}]", 9);
  lmm_free(out);
}

static void test_encode_refuses(void **state) {
  lmm_record rec = {mkpath(OID, 0, 3, -1), {.type = LMM_RT_FLOAT}};
  lmm_record two[2];
  uint8_t *out = (uint8_t *)"untouched";
  size_t n = 0;

  (void)state;
  rec.value.v.f = NAN; /* no JSON form */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &BASE_INST, &rec, 1, &out, &n),
                   LMM_ERR_ARG);
  rec.value.type = LMM_RT_NONE;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &BASE_INST, &rec, 1, &out, &n),
                   LMM_ERR_ARG);
  rec.value.type = LMM_RT_STRING;
  rec.value.str = "\xc3"; /* cut UTF-8 */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &BASE_INST, &rec, 1, &out, &n),
                   LMM_ERR_ARG);
  rec.value.str = "ok";
  two[0] = two[1] = rec;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &BASE_INST, two, 2, &out, &n), LMM_ERR_ARG);
  rec.path = mkpath(OID, 1, 0, -1); /* outside /42769/0 */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &BASE_INST, &rec, 1, &out, &n),
                   LMM_ERR_ARG);
  assert_string_equal((const char *)out, "untouched");
}

/* =============================================================== decoding */

static void test_decode_hand_written_instance(void **state) {
  lmm_records want = {0}, got = {0};
  lmm_obj_def gm;

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  gm_records(&want, 0);
  decode_ok(&BASE_INST, gm_json, &gm, &got);
  assert_records_equal(&want, &got);
  assert_int_equal(got.items[5].value.type, LMM_RT_TIME); /* typed by the definition */
  lmm_records_clear(&want);
  lmm_records_clear(&got);
}

static void test_decode_names(void **state) {
  lmm_records out = {0};
  lmm_obj_def gm;
  lmm_path res9 = mkpath(OID, 0, 9, -1);

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  /* Absolute names without "bn". */
  decode_ok(&BASE_INST,
            "[{\"n\":\"/42769/0/0\",\"vs\":\"x\"},{\"n\":\"/42769/0/6/5\",\"vs\":\"t\"}]", &gm,
            &out);
  /* "bn" alone names the record. */
  decode_ok(&res9, "[{\"bn\":\"/42769/0/9\",\"v\":60}]", &gm, &out);
  /* "bn" changes in the middle of a pack and applies to the records after it. */
  decode_ok(&BASE_INST,
            "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"a\"},{\"n\":\"1\",\"v\":2},"
            "{\"bn\":\"/42769/0/6/\",\"n\":\"1\",\"vs\":\"b\"},{\"n\":\"2\",\"vs\":\"c\"}]",
            &gm, &out);
  /* "bn" for the object, "n" for the rest. */
  decode_ok(&BASE_OBJ, "[{\"bn\":\"/42769/\",\"n\":\"4/3\",\"vs\":\"m\"}]", &gm, &out);
  assert_int_equal(out.n, 8);
  assert_path(&out.items[0].path, "/42769/0/0");
  assert_path(&out.items[1].path, "/42769/0/6/5");
  assert_path(&out.items[2].path, "/42769/0/9");
  assert_true(out.items[2].value.v.i == 60);
  assert_path(&out.items[4].path, "/42769/0/1");
  assert_path(&out.items[5].path, "/42769/0/6/1");
  assert_path(&out.items[6].path, "/42769/0/6/2");
  assert_path(&out.items[7].path, "/42769/4/3");
  lmm_records_clear(&out);
}

static void test_decode_tolerated_fields(void **state) {
  lmm_records out = {0};
  lmm_obj_def gm;

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  /* Whitespace, times (bt, t, ut), units (bu, u), version, an unknown field of any JSON shape
   * (skipped), and "bv" added to "v" (RFC 8428 section 4.6: 100 + 200). */
  decode_ok(&BASE_INST,
            " [ { \"bver\" : 10 , \"bt\" : 1.7e9 , \"bu\" : \"s\" , \"bv\" : 100 , \"bn\" : "
            "\"/42769/0/\" , \"n\" : \"9\" , \"t\" : -5 , \"ut\" : 0 , \"u\" : \"s\" , \"v\" : 200 "
            ", \"foo\" : { \"x\" : [ 1 , true , null , \"s\" , { } , [ ] ] } } ]\r\n",
            &gm, &out);
  assert_int_equal(out.n, 1);
  assert_true(out.items[0].value.v.i == 300);
  lmm_records_clear(&out);
}

static void test_decode_numbers_against_definition(void **state) {
  lmm_records out = {0};
  lmm_obj_def gm;
  lmm_path loc = mkpath(6, 0, -1, -1);

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  /* A whole number written as 2.0 or 1e2 is still an Integer. */
  decode_ok(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":2.0},{\"n\":\"/42769/0/10\",\"v\":1e2}]", &gm,
            &out);
  assert_int_equal(out.items[0].value.type, LMM_RT_INTEGER);
  assert_true(out.items[0].value.v.i == 2);
  assert_true(out.items[1].value.v.i == 100);
  /* A Float resource given 45 is the float 45. */
  decode_ok(&loc, "[{\"n\":\"/6/0/0\",\"v\":45},{\"n\":\"/6/0/1\",\"v\":-0.5}]", lmm_obj_def_oma(6),
            &out);
  assert_int_equal(out.items[2].value.type, LMM_RT_FLOAT);
  assert_true(out.items[2].value.v.f == 45.0);
  assert_true(out.items[3].value.v.f == -0.5);
  lmm_records_clear(&out);
}

static void test_decode_without_definition(void **state) {
  lmm_records out = {0};
  uint8_t fbff[] = {0xFB, 0xFF}, one[] = {1}, two[] = {1, 2};

  (void)state;
  decode_ok(&BASE_INST,
            "[{\"bn\":\"/42769/0/\",\"n\":\"20\",\"v\":1},{\"n\":\"21\",\"v\":1.5},"
            "{\"n\":\"22\",\"v\":18446744073709551615},{\"n\":\"23\",\"vb\":false},"
            "{\"n\":\"24\",\"vd\":\"-_8\"},{\"n\":\"25\",\"vlo\":\"3:0\"},"
            "{\"n\":\"26\",\"vs\":\"\\u00e9\\ud83d\\ude00\\n\\/\"},"
            "{\"n\":\"27\",\"vd\":\"AQ\"},{\"n\":\"28\",\"vd\":\"AQI\"},{\"n\":\"29\",\"vd\":\"\"},"
            "{\"n\":\"30\",\"v\":-0}]",
            NULL, &out);
  assert_int_equal(out.n, 11);
  assert_int_equal(out.items[0].value.type, LMM_RT_INTEGER);
  assert_int_equal(out.items[1].value.type, LMM_RT_FLOAT);
  assert_true(out.items[1].value.v.f == 1.5);
  assert_int_equal(out.items[2].value.type, LMM_RT_UNSIGNED);
  assert_true(out.items[2].value.v.u == UINT64_MAX);
  assert_int_equal(out.items[3].value.type, LMM_RT_BOOLEAN);
  assert_false(out.items[3].value.v.b);
  assert_int_equal(out.items[4].value.len, 2);
  assert_memory_equal(out.items[4].value.bytes, fbff, 2);
  assert_int_equal(out.items[5].value.type, LMM_RT_OBJLNK);
  assert_int_equal(out.items[5].value.v.lnk.oid, 3);
  /* é = C3 A9; U+1F600 from the surrogate pair = F0 9F 98 80; \n; \/ = '/' */
  assert_string_equal(out.items[6].value.str, "\xc3\xa9\xf0\x9f\x98\x80\n/");
  assert_memory_equal(out.items[7].value.bytes, one, 1);
  assert_memory_equal(out.items[8].value.bytes, two, 2);
  assert_int_equal(out.items[9].value.len, 0);
  assert_int_equal(out.items[10].value.type, LMM_RT_INTEGER);
  lmm_records_clear(&out);
}

static void test_decode_more_values(void **state) {
  lmm_records out = {0};
  lmm_obj_def gm;
  uint8_t four[] = {1, 2, 3, 4};

  (void)state;
  decode_ok(&BASE_ALL,
            "[{\"bn\":\"/42770/0/\",\"n\":\"5\",\"vd\":\"AQIDBA\"},"
            "{\"n\":\"2\",\"v\":5},{\"n\":\"4\",\"vs\":\"\\b\\f\\r\\t\\\"\\\\x\"},"
            "{\"bv\":0.5,\"n\":\"20\",\"v\":1},"
            "{\"bv\":9223372036854775807,\"n\":\"21\",\"v\":1},"
            "{\"n\":\"22\",\"v\":1,\"x\":false}]",
            &all_def, &out);
  assert_int_equal(out.n, 6);
  assert_memory_equal(out.items[0].value.bytes, four, 4);
  assert_int_equal(out.items[1].value.type, LMM_RT_UNSIGNED);
  assert_true(out.items[1].value.v.u == 5);
  assert_string_equal(out.items[2].value.str, "\b\f\r\t\"\\x");
  /* bv applies to the later records: 0.5 + 1 is a float... */
  assert_int_equal(out.items[3].value.type, LMM_RT_FLOAT);
  assert_true(out.items[3].value.v.f == 1.5);
  /* ... and an integer sum past int64 turns into a float rather than wrapping. */
  assert_int_equal(out.items[4].value.type, LMM_RT_FLOAT);
  assert_true(out.items[4].value.v.f == 9223372036854775808.0);
  assert_int_equal(out.items[5].value.type, LMM_RT_FLOAT); /* bv 2^63-1 still applies */
  lmm_records_clear(&out);
  expect_proto(&BASE_INST, "[{\"bv\":1e308,\"n\":\"/42769/0/20\",\"v\":1e308}]", NULL, "overflows");
  /* Into an Integer resource such a sum does not fit. */
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(&BASE_INST, "[{\"bv\":9223372036854775807,\"n\":\"/42769/0/9\",\"v\":1}]", &gm,
               "needs an integer");
}

static void test_decode_empty_pack(void **state) {
  lmm_records out = {0};

  (void)state;
  decode_ok(&BASE_INST, " [ ] ", NULL, &out);
  assert_int_equal(out.n, 0);
}

/* ============================================================= round trip */

static void roundtrip(const lmm_path *base, uint16_t iid) {
  lmm_group_mgmt back = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0}, dec = {0};
  lmm_obj_def gm;
  uint8_t *out = NULL;
  size_t n = 0;
  char why[128];

  lmm_group_mgmt_def(OID, &gm);
  gm_records(&r, iid);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, base, r.items, r.n, &out, &n), LMM_OK);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_SENML_JSON, base, out, n, &gm, &dec, why, sizeof why),
                   LMM_OK);
  assert_records_equal(&r, &dec);
  assert_int_equal(lmm_group_mgmt_from_records(dec.items, dec.n, &back, why, sizeof why), LMM_OK);
  assert_int_equal(back.n_tmgi, 2);
  assert_int_equal(back.tmgi_riid[1], 3);
  assert_int_equal(back.schedule_riid[1], 2);
  assert_true(back.schedule[0] == 1700000000);
  assert_string_equal(back.external_group_id, "eg1");
  lmm_free(out);
  lmm_records_clear(&r);
  lmm_records_clear(&dec);
  lmm_group_mgmt_clear(&back);
}

static void test_roundtrip_senml(void **state) {
  lmm_path inst = mkpath(OID, 12, -1, -1);

  (void)state;
  roundtrip(&inst, 12);
  roundtrip(&BASE_OBJ, 3);
}

static void test_roundtrip_values(void **state) {
  static const double floats[] = {0.1,           -0.0, 1e-300,    5e-324, 1.7976931348623157e308,
                                  123456789.125, 2.0,  -1.0 / 3.0};
  lmm_records r = {0}, back = {0};
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  for (size_t i = 0; i < N_OF(floats); i++) {
    lmm_value v = {.type = LMM_RT_FLOAT, .v.f = floats[i]};
    lmm_path p = mkpath(42770, 0, (int)(20 + i), -1);
    assert_int_equal(lmm_records_add(&r, &p, &v), LMM_OK);
  }
  /* Floats come back bit for bit (no definition: "v" with a '.' or an exponent is a float). */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &BASE_ALL, r.items, r.n, &out, &n), LMM_OK);
  decode_ok(&BASE_ALL, (const char *)out, NULL, &back);
  assert_int_equal(back.n, r.n);
  for (size_t i = 0; i < r.n; i++)
    assert_memory_equal(&back.items[i].value.v.f, &r.items[i].value.v.f, sizeof(double));
  lmm_free(out);
  lmm_records_clear(&r);
  lmm_records_clear(&back);
}

/* ============================================================== malformed */

static void test_malformed_shape(void **state) {
  lmm_obj_def gm;

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(&BASE_INST, "{\"bn\":\"/42769/0/0\",\"vs\":\"x\"}", &gm, "JSON array");
  expect_proto(&BASE_INST, "", &gm, "JSON array");
  expect_proto(&BASE_INST, "[1]", &gm, "record 0");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"a\"},[]]", &gm, "record 1");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"a\"", &gm, "record 0");
  expect_proto(&BASE_INST, "[", &gm, "record 0");
  expect_proto(&BASE_INST, "[] x", &gm, "text after");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\" \"vs\":\"a\"}]", &gm, "expected");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"a\"},]", &gm, "record 1");
}

static void test_malformed_records(void **state) {
  lmm_obj_def gm;
  lmm_path dev = mkpath(3, 0, -1, -1);

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/1/0\",\"vs\":\"x\"}]", &gm, "outside");
  expect_proto(&BASE_INST,
               "[{\"n\":\"/42769/0/0\",\"vs\":\"a\"},{\"n\":\"/42769/0/0\",\"vs\":\"b\"}]", &gm,
               "record 1");
  /* Without a definition a resource given both as a value and as an instance still collides. */
  expect_proto(&BASE_INST,
               "[{\"n\":\"/42769/0/30\",\"vs\":\"a\"},{\"n\":\"/42769/0/30/1\",\"vs\":\"b\"}]",
               NULL, "conflicts");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"a\",\"foo_\":1}]", &gm,
               "must-understand");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\"}]", &gm, "missing value");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"a\",\"v\":1}]", &gm, "more than one");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"n\":\"/42769/0/1\",\"vs\":\"a\"}]", &gm,
               "repeated");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/x\",\"vs\":\"a\"}]", &gm, "not a resource");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0\",\"vs\":\"a\"}]", &gm, "not a resource");
  expect_proto(&BASE_INST, "[{\"vs\":\"a\"}]", &gm, "not a resource");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0/1\",\"vs\":\"a\"}]", &gm, "single");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/6\",\"vs\":\"a\"}]", &gm, "multiple");
  expect_proto(&dev, "[{\"n\":\"/3/0/4\",\"v\":1}]", lmm_obj_def_oma(3), "executable");
}

static void test_malformed_types(void **state) {
  lmm_obj_def gm;

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  /* JSON types of the SenML fields. */
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":5}]", &gm, "must be a string");
  expect_proto(&BASE_INST, "[{\"n\":5,\"vs\":\"a\"}]", &gm, "must be a string");
  expect_proto(&BASE_INST, "[{\"bn\":1,\"vs\":\"a\"}]", &gm, "must be a string");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":\"5\"}]", &gm, "must be a number");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":null}]", &gm, "must be a number");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"bt\":true,\"v\":1}]", &gm, "must be a number");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/0\",\"vb\":\"true\"}]", &all_def, "\"vb\"");
  /* Value field against the definition. */
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"v\":5}]", &gm, "type String");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/1\",\"vs\":\"1\"}]", &gm, "type Integer");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/1\",\"v\":1.5}]", &gm, "needs an integer");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":9223372036854775808}]", &gm,
               "needs an integer");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/8/0\",\"vb\":true}]", &gm, "type Time");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/2\",\"v\":-1}]", &all_def, "Unsigned");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/5\",\"vs\":\"AQID\"}]", &all_def, "type Opaque");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/1\",\"vlo\":\"3-0\"}]", &all_def, "vlo");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/1\",\"vlo\":\"3:65536\"}]", &all_def, "vlo");
}

static void test_malformed_base64url(void **state) {
  (void)state;
  /* Padding, the standard alphabet, non-zero unused bits ('R' = 010001: low 4 bits set), and a
   * length of 1 mod 4. */
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/5\",\"vd\":\"AQ==\"}]", &all_def, "base64url");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/5\",\"vd\":\"+/8\"}]", &all_def, "base64url");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/5\",\"vd\":\"AR\"}]", &all_def, "base64url");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/5\",\"vd\":\"AQIDB\"}]", &all_def, "base64url");
  expect_proto(&BASE_ALL, "[{\"n\":\"/42770/0/5\",\"vd\":\"AQ ID\"}]", &all_def, "base64url");
}

static void test_malformed_strings_and_numbers(void **state) {
  char deep[200];
  size_t k = 0;

  (void)state;
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\\x\"}]", NULL, "bad escape");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\\ud800\"}]", NULL, "surrogate");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\\udc00\\ud800\"}]", NULL, "surrogate");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\\u0000\"}]", NULL, "NUL");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\\u12\"}]", NULL, "\\u");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"a\tb\"}]", NULL, "control");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\xc3\x28\"}]", NULL, "UTF-8");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"\xed\xa0\x80\"}]", NULL, "UTF-8");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/0\",\"vs\":\"abc", NULL, "unterminated");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":01}]", NULL, "number");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":1.}]", NULL, "number");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":1e999}]", NULL, "number");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":-}]", NULL, "number");
  expect_proto(&BASE_INST, "[{\"n\":\"/42769/0/9\",\"v\":1,\"x\":tru}]", NULL, "literal");
  /* An unknown field nested deeper than the skipper allows. */
  k += (size_t)snprintf(deep, sizeof deep, "[{\"n\":\"/42769/0/9\",\"v\":1,\"x\":");
  for (int i = 0; i < 40; i++)
    deep[k++] = '[';
  deep[k] = '\0';
  expect_proto(&BASE_INST, deep, NULL, "too deep");
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_instance),
      cmocka_unit_test(test_encode_bases),
      cmocka_unit_test(test_encode_types),
      cmocka_unit_test(test_encode_escapes),
      cmocka_unit_test(test_encode_escapes_all_and_grows),
      cmocka_unit_test(test_encode_refuses),
      cmocka_unit_test(test_decode_hand_written_instance),
      cmocka_unit_test(test_decode_names),
      cmocka_unit_test(test_decode_tolerated_fields),
      cmocka_unit_test(test_decode_numbers_against_definition),
      cmocka_unit_test(test_decode_without_definition),
      cmocka_unit_test(test_decode_more_values),
      cmocka_unit_test(test_decode_empty_pack),
      cmocka_unit_test(test_roundtrip_senml),
      cmocka_unit_test(test_roundtrip_values),
      cmocka_unit_test(test_malformed_shape),
      cmocka_unit_test(test_malformed_records),
      cmocka_unit_test(test_malformed_types),
      cmocka_unit_test(test_malformed_base64url),
      cmocka_unit_test(test_malformed_strings_and_numbers),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
