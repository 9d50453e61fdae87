/* test_tlv.c - the TLV codec against byte vectors worked out by hand from LwM2M 1.1 Core clause
 * 7.4.3, round trips of a whole Group Mgmt instance, every kind of malformed input, and the
 * single-value formats (plain text, opaque). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/ctx.h"

#define OID     LMM_GROUP_MGMT_OID
#define N_OF(a) (sizeof(a) / sizeof *(a))

/* How the type byte is built (bits 7-6 kind, bit 5 16-bit ID, bits 4-3 length field size,
 * bits 2-0 the length itself when it is below 8):
 *   0xC_ / 0xD_ : 11 = resource with value          0x0_ : 00 = object instance
 *   0x4_ / 0x5_ : 01 = resource instance            0x8_ : 10 = multiple resource
 * e.g. 0xC8 = 11 0 01 000: resource, 8-bit ID, 8-bit length follows.
 *      0xC4 = 11 0 00 100: resource, 8-bit ID, length 4 in the type byte. */

/* A whole Group Mgmt instance /42769/0 as resource TLVs (no object-instance wrapper). */
static const uint8_t gm_instance[] = {
    /* /0 Group ID "grp1": 0xC4 = resource, 8-bit ID, length 4 */
    0xC4, 0x00, 'g', 'r', 'p', '1',
    /* /1 Group Type 0 (MBMS): 0xC1 = resource, length 1; integer 0 in one byte */
    0xC1, 0x01, 0x00,
    /* /5 External Group ID "eg1": 0xC3 = resource, length 3 */
    0xC3, 0x05, 'e', 'g', '1',
    /* /6 TMGI: 0x88 = 10 0 01 000 multiple resource, 8-bit length 0x1C = 28 follows */
    0x88, 0x06, 0x1C,
    /*   /6/0: 0x48 = 01 0 01 000 resource instance, 8-bit length 0x0B = 11 follows */
    0x48, 0x00, 0x0B, '0', 'a', '1', 'b', '2', 'c', '0', '0', '1', '0', '1',
    /*   /6/3: same shape, instance ID 3 (IDs are kept, not renumbered) */
    0x48, 0x03, 0x0B, 'a', 'a', 'b', 'b', 'c', 'c', '0', '0', '1', '0', '2',
    /* /8 Schedule: multiple resource, length 12 = two instances of 2 + 4 bytes */
    0x88, 0x08, 0x0C,
    /*   /8/0 = 1700000000 = 0x6553F100, needs 4 bytes: 0x44 = 01 0 00 100 */
    0x44, 0x00, 0x65, 0x53, 0xF1, 0x00,
    /*   /8/2 = 1700003600 = 0x6553FF10 */
    0x44, 0x02, 0x65, 0x53, 0xFF, 0x10,
    /* /9 Response Time Window 300 = 0x012C, two bytes: 0xC2 = resource, length 2 */
    0xC2, 0x09, 0x01, 0x2C,
    /* /10 Multicast Port 5683 = 0x1633 (positive in 16-bit two's complement) */
    0xC2, 0x0A, 0x16, 0x33,
    /* /11 Answer URI "coap://h/a": 0xC8 = 8-bit length 0x0A follows */
    0xC8, 0x0B, 0x0A, 'c', 'o', 'a', 'p', ':', '/', '/', 'h', '/', 'a'};

/* The same instance as a payload for /42769: 0x08 = 00 0 01 000 object instance, 8-bit ID 0,
 * 8-bit length 0x51 = 81 = sizeof gm_instance. The content is appended at run time. */
static const uint8_t gm_wrapper[] = {0x08, 0x00, 0x51};

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

/* The records of gm_instance, in order. */
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

static void assert_records_equal(const lmm_records *a, const lmm_records *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    const lmm_path *x = &a->items[i].path, *y = &b->items[i].path;
    /* Field by field: the struct has padding. */
    assert_int_equal(x->depth, y->depth);
    assert_int_equal(x->oid, y->oid);
    assert_int_equal(x->iid, y->iid);
    assert_int_equal(x->rid, y->rid);
    if (x->depth == 4) assert_int_equal(x->riid, y->riid);
    assert_value_equal(&a->items[i].value, &b->items[i].value);
  }
}

/* A list holding one sentinel record, to prove a failed decode appends nothing. */
static void sentinel(lmm_records *r) {
  lmm_value v = {.type = LMM_RT_INTEGER};
  lmm_path p = mkpath(1, 2, 3, -1);
  v.v.i = 77;
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
}

static void assert_sentinel(const lmm_records *r) {
  assert_int_equal(r->n, 1);
  assert_int_equal(r->items[0].path.oid, 1);
  assert_true(r->items[0].value.v.i == 77);
}

/* Decoding must fail with LMM_ERR_PROTO, a reason containing `needle`, and `out` unchanged. */
static void expect_proto(uint16_t fmt, const lmm_path *base, const void *bytes, size_t len,
                         const lmm_obj_def *def, const char *needle) {
  lmm_records out = {0};
  char why[256] = "";

  sentinel(&out);
  assert_int_equal(lmm_lwm2m_decode(fmt, base, bytes, len, def, &out, why, sizeof why),
                   LMM_ERR_PROTO);
  if (strstr(why, needle) == NULL) fail_msg("reason \"%s\" lacks \"%s\"", why, needle);
  assert_sentinel(&out);
  lmm_records_clear(&out);
}

/* A definition with every type, for the types Group Mgmt does not use. */
static const lmm_res_def all_res[] = {
    {0, "B", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_BOOLEAN, NULL, NULL, ""},
    {1, "L", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_OBJLNK, NULL, NULL, ""},
    {2, "U", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_UNSIGNED, NULL, NULL, ""},
    {3, "F", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_FLOAT, NULL, NULL, ""},
    {4, "C", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_CORELNK, NULL, NULL, ""},
    {5, "O", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_OPAQUE, NULL, NULL, ""},
    {6, "E", LMM_OP_E, false, false, LMM_RT_NONE, NULL, NULL, ""},
    {7, "T", LMM_OP_R | LMM_OP_W, false, false, LMM_RT_TIME, NULL, NULL, ""},
    {8, "I", LMM_OP_R | LMM_OP_W, true, false, LMM_RT_INTEGER, NULL, NULL, ""},
};
static const lmm_obj_def all_def = {42770, "All",   NULL,          "1.0", true,
                                    false, all_res, N_OF(all_res), ""};
static const lmm_path BASE_ALL = {42770, 0, 0, 0, 2};

/* =============================================================== decoding */

static void test_decode_string_resource(void **state) {
  /* 0xC8 = 11 0 01 000: resource, 8-bit ID 0x00, 8-bit length 0x05 follows, then "hello" */
  static const uint8_t in[] = {0xC8, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
  lmm_obj_def gm;
  lmm_records out = {0};
  char why[128];

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, in, sizeof in, &gm, &out, why, sizeof why), LMM_OK);
  assert_int_equal(out.n, 1);
  assert_int_equal(out.items[0].path.depth, 3);
  assert_int_equal(out.items[0].path.rid, 0);
  assert_int_equal(out.items[0].value.type, LMM_RT_STRING);
  assert_string_equal(out.items[0].value.str, "hello");
  lmm_records_clear(&out);
}

static void test_decode_instance_with_and_without_wrapper(void **state) {
  uint8_t wrapped[sizeof gm_wrapper + sizeof gm_instance];
  lmm_records want = {0}, a = {0}, b = {0}, c = {0};
  lmm_obj_def gm;

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  memcpy(wrapped, gm_wrapper, sizeof gm_wrapper);
  memcpy(wrapped + sizeof gm_wrapper, gm_instance, sizeof gm_instance);
  gm_records(&want, 0);
  /* /42769/0 without the wrapper, /42769/0 with it (ID 0 = the base's), /42769 with it. */
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, gm_instance, sizeof gm_instance, &gm, &a, NULL, 0),
      LMM_OK);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, wrapped, sizeof wrapped, &gm, &b, NULL, 0), LMM_OK);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_OBJ, wrapped, sizeof wrapped, &gm, &c, NULL, 0), LMM_OK);
  assert_records_equal(&want, &a);
  assert_records_equal(&want, &b);
  assert_records_equal(&want, &c);
  /* Spot checks against the hand vector rather than against our own records. */
  assert_int_equal(a.items[3].path.rid, 6);
  assert_int_equal(a.items[4].path.riid, 3);
  assert_string_equal(a.items[4].value.str, "aabbcc00102");
  assert_int_equal(a.items[6].value.type, LMM_RT_TIME);
  assert_true(a.items[6].value.v.i == 1700003600);
  lmm_records_clear(&want);
  lmm_records_clear(&a);
  lmm_records_clear(&b);
  lmm_records_clear(&c);
}

static void test_decode_integers(void **state) {
  lmm_obj_def gm;
  lmm_records out = {0};
  /* /2 Member Number as -2 in 2 bytes (0xFFFE), /9 as INT64_MIN in 8 bytes
   * (0xC8 = 8-bit length 0x08 follows), /1 as 127 in one byte. */
  static const uint8_t in[] = {0xC2, 0x02, 0xFF, 0xFE, 0xC8, 0x09, 0x08, 0x80, 0x00,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC1, 0x01, 0x7F};

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, in, sizeof in, &gm, &out, NULL, 0),
                   LMM_OK);
  assert_int_equal(out.n, 3);
  assert_true(out.items[0].value.v.i == -2);
  assert_true(out.items[1].value.v.i == INT64_MIN);
  assert_true(out.items[2].value.v.i == 127);
  lmm_records_clear(&out);
}

static void test_decode_other_types(void **state) {
  lmm_records out = {0};
  static const uint8_t in[] = {/* /0 Boolean true: one byte 0x01 */
                               0xC1, 0x00, 0x01,
                               /* /1 Objlnk 3:0 = oid 0x0003, iid 0x0000 */
                               0xC4, 0x01, 0x00, 0x03, 0x00, 0x00,
                               /* /2 Unsigned 0xFFFFFFFF in 4 bytes (not -1: unsigned) */
                               0xC4, 0x02, 0xFF, 0xFF, 0xFF, 0xFF,
                               /* /3 Float 1.5 as IEEE 754 single 0x3FC00000 */
                               0xC4, 0x03, 0x3F, 0xC0, 0x00, 0x00,
                               /* /4 Corelnk "</1>" */
                               0xC4, 0x04, '<', '/', '1', '>',
                               /* /5 Opaque, empty: 0xC0 = resource, length 0 */
                               0xC0, 0x05,
                               /* /8/1 Integer instance: 0x83 = 10 0 00 011 multiple resource,
                                * length 3; 0x41 = resource instance, length 1 */
                               0x83, 0x08, 0x41, 0x01, 0x05};

  (void)state;
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_ALL, in, sizeof in, &all_def, &out, NULL, 0),
                   LMM_OK);
  assert_int_equal(out.n, 7);
  assert_int_equal(out.items[0].value.type, LMM_RT_BOOLEAN);
  assert_true(out.items[0].value.v.b);
  assert_int_equal(out.items[1].value.v.lnk.oid, 3);
  assert_int_equal(out.items[1].value.v.lnk.iid, 0);
  assert_true(out.items[2].value.v.u == 0xFFFFFFFFu);
  assert_true(out.items[3].value.v.f == 1.5);
  assert_string_equal(out.items[4].value.str, "</1>");
  assert_int_equal(out.items[5].value.type, LMM_RT_OPAQUE);
  assert_int_equal(out.items[5].value.len, 0);
  assert_int_equal(out.items[6].path.depth, 4);
  assert_int_equal(out.items[6].path.riid, 1);
  assert_true(out.items[6].value.v.i == 5);
  lmm_records_clear(&out);
}

static void test_decode_float8_and_location(void **state) {
  const lmm_obj_def *loc = lmm_obj_def_oma(6);
  lmm_path base = mkpath(6, 0, -1, -1);
  lmm_records out = {0};
  /* /6/0/0 Latitude 0.1 as IEEE 754 double 0x3FB999999999999A (0xC8: 8-bit length 8);
   * /6/0/1 Longitude -2.25 as single 0xC0100000. */
  static const uint8_t in[] = {0xC8, 0x00, 0x08, 0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99,
                               0x99, 0x9A, 0xC4, 0x01, 0xC0, 0x10, 0x00, 0x00};

  (void)state;
  assert_non_null(loc);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &base, in, sizeof in, loc, &out, NULL, 0), LMM_OK);
  assert_int_equal(out.n, 2);
  assert_true(out.items[0].value.v.f == 0.1);
  assert_true(out.items[1].value.v.f == -2.25);
  lmm_records_clear(&out);
}

static void test_decode_16bit_id_and_lengths(void **state) {
  lmm_records out = {0};
  uint8_t big[4 + 300];
  /* 0xE1 = 11 1 00 001: resource, 16-bit ID 0x012C = 300, length 1, value 0xAB. No definition:
   * the value stays opaque. */
  static const uint8_t id16[] = {0xE1, 0x01, 0x2C, 0xAB};
  /* 0xD8 = 11 0 11 000: 24-bit length 0x000002 (not minimal, still valid) then "hi". */
  static const uint8_t len24[] = {0xD8, 0x00, 0x00, 0x00, 0x02, 'h', 'i'};
  lmm_obj_def gm;

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, id16, sizeof id16, NULL, &out, NULL, 0), LMM_OK);
  assert_int_equal(out.items[0].path.rid, 300);
  assert_int_equal(out.items[0].value.type, LMM_RT_OPAQUE);
  assert_int_equal(out.items[0].value.len, 1);
  assert_int_equal(out.items[0].value.bytes[0], 0xAB);
  lmm_records_clear(&out);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, len24, sizeof len24, &gm, &out, NULL, 0), LMM_OK);
  assert_string_equal(out.items[0].value.str, "hi");
  lmm_records_clear(&out);
  /* 0xD0 = 11 0 10 000: 16-bit length 0x012C = 300 follows. */
  big[0] = 0xD0;
  big[1] = 0x03;
  big[2] = 0x01;
  big[3] = 0x2C;
  memset(big + 4, 'x', 300);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, big, sizeof big, &gm, &out, NULL, 0),
                   LMM_OK);
  assert_int_equal(strlen(out.items[0].value.str), 300);
  lmm_records_clear(&out);
}

static void test_decode_resource_paths(void **state) {
  lmm_obj_def gm;
  lmm_records out = {0};
  lmm_path res6 = mkpath(OID, 0, 6, -1), inst63 = mkpath(OID, 0, 6, 3);
  lmm_path res0 = mkpath(OID, 0, 0, -1);
  /* For /42769/0/6: bare resource instances (0x41 = instance, length 1) ... */
  static const uint8_t bare[] = {0x41, 0x00, 'a', 0x41, 0x03, 'b'};
  /* ... or the multiple resource TLV around them (0x86 = multiple resource, length 6). */
  static const uint8_t wrapped[] = {0x86, 0x06, 0x41, 0x00, 'a', 0x41, 0x03, 'b'};
  /* For /42769/0/6/3: one resource instance. */
  static const uint8_t one[] = {0x41, 0x03, 'b'};
  /* For /42769/0/0: the resource TLV. */
  static const uint8_t single[] = {0xC1, 0x00, 'g'};

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &res6, bare, sizeof bare, &gm, &out, NULL, 0),
                   LMM_OK);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &res6, wrapped, sizeof wrapped, &gm, &out, NULL, 0), LMM_OK);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &inst63, one, sizeof one, &gm, &out, NULL, 0),
                   LMM_OK);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &res0, single, sizeof single, &gm, &out, NULL, 0),
                   LMM_OK);
  assert_int_equal(out.n, 6);
  assert_int_equal(out.items[1].path.riid, 3);
  assert_string_equal(out.items[3].value.str, "b");
  assert_int_equal(out.items[4].path.riid, 3);
  assert_string_equal(out.items[5].value.str, "g");
  lmm_records_clear(&out);
}

static void test_decode_empty(void **state) {
  lmm_records out = {0};

  (void)state;
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, NULL, 0, NULL, &out, NULL, 0), LMM_OK);
  assert_int_equal(out.n, 0);
}

/* =============================================================== encoding */

static void test_encode_instance_matches_hand_vector(void **state) {
  lmm_records r = {0};
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  gm_records(&r, 0);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, r.items, r.n, &out, &n), LMM_OK);
  assert_int_equal(n, sizeof gm_instance);
  assert_memory_equal(out, gm_instance, n);
  lmm_free(out);
  /* For /42769 the object instance wrapper comes first. */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_OBJ, r.items, r.n, &out, &n), LMM_OK);
  assert_int_equal(n, sizeof gm_wrapper + sizeof gm_instance);
  assert_memory_equal(out, gm_wrapper, sizeof gm_wrapper);
  assert_memory_equal(out + sizeof gm_wrapper, gm_instance, sizeof gm_instance);
  lmm_free(out);
  lmm_records_clear(&r);
}

static void test_encode_sorts_records(void **state) {
  lmm_records r = {0}, shuffled = {0};
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  gm_records(&r, 0);
  /* Reversed order must give the same bytes: TLV groups instances of a resource. */
  for (size_t i = r.n; i-- > 0;)
    assert_int_equal(lmm_records_add(&shuffled, &r.items[i].path, &r.items[i].value), LMM_OK);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, shuffled.items, shuffled.n, &out, &n),
                   LMM_OK);
  assert_int_equal(n, sizeof gm_instance);
  assert_memory_equal(out, gm_instance, n);
  lmm_free(out);
  lmm_records_clear(&r);
  lmm_records_clear(&shuffled);
}

static void test_encode_value_sizes(void **state) {
  struct {
    lmm_value v;
    uint8_t want[16];
    size_t n;
  } cases[] = {
      /* Smallest two's complement length: 1, 2, 4 or 8 bytes. */
      {{.type = LMM_RT_INTEGER, .v.i = -128}, {0xC1, 0x02, 0x80}, 3},
      {{.type = LMM_RT_INTEGER, .v.i = 128}, {0xC2, 0x02, 0x00, 0x80}, 4},
      {{.type = LMM_RT_INTEGER, .v.i = -32769}, {0xC4, 0x02, 0xFF, 0xFF, 0x7F, 0xFF}, 6},
      {{.type = LMM_RT_INTEGER, .v.i = 2147483648},
       /* 0xC8: 8-bit length 0x08 follows */
       {0xC8, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00},
       11},
      /* A float that single precision holds goes in 4 bytes, else 8. */
      {{.type = LMM_RT_FLOAT, .v.f = 1.5}, {0xC4, 0x02, 0x3F, 0xC0, 0x00, 0x00}, 6},
      {{.type = LMM_RT_FLOAT, .v.f = 0.1},
       {0xC8, 0x02, 0x08, 0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A},
       11},
      {{.type = LMM_RT_BOOLEAN, .v.b = true}, {0xC1, 0x02, 0x01}, 3},
      {{.type = LMM_RT_OBJLNK, .v.lnk = {3, 0}}, {0xC4, 0x02, 0x00, 0x03, 0x00, 0x00}, 6},
      {{.type = LMM_RT_UNSIGNED, .v.u = 255}, {0xC1, 0x02, 0xFF}, 3},
      {{.type = LMM_RT_TIME, .v.i = 0}, {0xC1, 0x02, 0x00}, 3},
  };

  (void)state;
  for (size_t i = 0; i < N_OF(cases); i++) {
    lmm_record rec = {mkpath(OID, 0, 2, -1), cases[i].v};
    uint8_t *out = NULL;
    size_t n = 0;
    assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, &rec, 1, &out, &n), LMM_OK);
    assert_int_equal(n, cases[i].n);
    assert_memory_equal(out, cases[i].want, n);
    lmm_free(out);
  }
}

static void test_encode_large_value_uses_24bit_length(void **state) {
  lmm_record rec = {mkpath(5, 0, 0, -1), {.type = LMM_RT_OPAQUE}};
  lmm_path base = mkpath(5, 0, 0, -1);
  lmm_records back = {0};
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  rec.value.len = 70000; /* 0x011170 */
  rec.value.bytes = malloc(rec.value.len);
  assert_non_null(rec.value.bytes);
  memset(rec.value.bytes, 0x5A, rec.value.len);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &base, &rec, 1, &out, &n), LMM_OK);
  /* 0xD8 = 11 0 11 000: resource, 8-bit ID 0, 24-bit length 0x01 0x11 0x70 */
  assert_int_equal(n, 5 + 70000);
  assert_int_equal(out[0], 0xD8);
  assert_int_equal(out[1], 0x00);
  assert_int_equal(out[2], 0x01);
  assert_int_equal(out[3], 0x11);
  assert_int_equal(out[4], 0x70);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &base, out, n, lmm_obj_def_oma(5), &back, NULL, 0),
                   LMM_OK);
  assert_int_equal(back.items[0].value.len, 70000);
  assert_memory_equal(back.items[0].value.bytes, rec.value.bytes, 70000);
  lmm_free(out);
  free(rec.value.bytes);
  lmm_records_clear(&back);
}

static void test_encode_refuses(void **state) {
  lmm_record rec = {mkpath(OID, 0, 0, -1), {.type = LMM_RT_STRING, .str = "x"}};
  lmm_record two[2];
  uint8_t *out = (uint8_t *)"untouched";
  size_t n = 0;
  lmm_path other = mkpath(OID, 1, -1, -1);

  (void)state;
  /* Outside the base. */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &other, &rec, 1, &out, &n), LMM_ERR_ARG);
  /* No value (an executable). */
  rec.value.type = LMM_RT_NONE;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, &rec, 1, &out, &n), LMM_ERR_ARG);
  /* Invalid UTF-8 string. */
  rec.value.type = LMM_RT_STRING;
  rec.value.str = "\xff";
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, &rec, 1, &out, &n), LMM_ERR_ARG);
  /* The same path twice, and a resource both single and with instances. */
  rec.value.str = "x";
  two[0] = rec;
  two[1] = rec;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, two, 2, &out, &n), LMM_ERR_ARG);
  two[1].path = mkpath(OID, 0, 0, 1);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, two, 2, &out, &n), LMM_ERR_ARG);
  /* Unknown format, path with a 65535 part. */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_LINK, &BASE_INST, &rec, 1, &out, &n), LMM_ERR_ARG);
  rec.path.rid = 65535;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, &rec, 1, &out, &n), LMM_ERR_ARG);
  assert_string_equal((const char *)out, "untouched");
}

static void test_encode_wide_ids_and_instance_base(void **state) {
  lmm_path inst63 = mkpath(OID, 0, 6, 3);
  lmm_record rec = {mkpath(OID, 0, 6, 3), {.type = LMM_RT_STRING, .str = "b"}};
  char long_str[301];
  uint8_t *out = NULL;
  size_t n = 0;

  (void)state;
  /* A request for one resource instance gets the bare resource instance TLV:
   * 0x41 = 01 0 00 001, ID 3, length 1. */
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &inst63, &rec, 1, &out, &n), LMM_OK);
  assert_int_equal(n, 3);
  assert_memory_equal(out, ((const uint8_t[]){0x41, 0x03, 'b'}), 3);
  lmm_free(out);
  /* Resource 300 with 300 bytes: 0xF0 = 11 1 10 000 (16-bit ID 0x012C, 16-bit length
   * 0x012C). */
  memset(long_str, 'x', 300);
  long_str[300] = '\0';
  rec.path = mkpath(OID, 0, 300, -1);
  rec.value.str = long_str;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_INST, &rec, 1, &out, &n), LMM_OK);
  assert_int_equal(n, 5 + 300);
  assert_memory_equal(out, ((const uint8_t[]){0xF0, 0x01, 0x2C, 0x01, 0x2C, 'x'}), 6);
  lmm_free(out);
}

static void test_decode_leaf_above_base(void **state) {
  lmm_path inst63 = mkpath(OID, 0, 6, 3);
  /* For /42769/0/6/3, a resource TLV with the right ID is a value of /42769/0/6 itself: above
   * the request, not in it. */
  static const uint8_t res6[] = {0xC1, 0x06, 'a'};

  (void)state;
  expect_proto(LMM_FMT_TLV, &inst63, res6, sizeof res6, NULL, "lies outside");
}

/* ============================================================= round trip */

static void roundtrip_group_mgmt(uint16_t fmt) {
  lmm_group_mgmt back = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0}, dec = {0};
  lmm_obj_def gm;
  uint8_t *out = NULL;
  size_t n = 0;
  char why[128];

  lmm_group_mgmt_def(OID, &gm);
  gm_records(&r, 7);
  {
    lmm_path base = mkpath(OID, 7, -1, -1);
    assert_int_equal(lmm_lwm2m_encode(fmt, &base, r.items, r.n, &out, &n), LMM_OK);
    assert_int_equal(lmm_lwm2m_decode(fmt, &base, out, n, &gm, &dec, why, sizeof why), LMM_OK);
  }
  assert_records_equal(&r, &dec);
  assert_int_equal(lmm_group_mgmt_from_records(dec.items, dec.n, &back, why, sizeof why), LMM_OK);
  assert_string_equal(back.group_id, "grp1");
  assert_int_equal(back.group_type, LMM_GROUP_MBMS);
  assert_int_equal(back.n_tmgi, 2);
  assert_int_equal(back.tmgi_riid[0], 0);
  assert_int_equal(back.tmgi_riid[1], 3);
  assert_string_equal(back.tmgi[1], "aabbcc00102");
  assert_int_equal(back.n_schedule, 2);
  assert_int_equal(back.schedule_riid[1], 2);
  assert_true(back.schedule[1] == 1700003600);
  assert_true(back.response_time_window == 300);
  assert_int_equal(back.multicast_port, 5683);
  assert_string_equal(back.answer_uri, "coap://h/a");
  assert_null(back.member_list);
  lmm_free(out);
  lmm_records_clear(&r);
  lmm_records_clear(&dec);
  lmm_group_mgmt_clear(&back);
}

static void test_roundtrip_tlv(void **state) {
  (void)state;
  roundtrip_group_mgmt(LMM_FMT_TLV);
}

static void test_roundtrip_all_types(void **state) {
  lmm_records r = {0}, back = {0};
  lmm_value v[] = {
      {.type = LMM_RT_BOOLEAN, .v.b = false},
      {.type = LMM_RT_OBJLNK, .v.lnk = {65535, 65535}},
      {.type = LMM_RT_UNSIGNED, .v.u = UINT64_MAX},
      {.type = LMM_RT_FLOAT, .v.f = -1e300},
      {.type = LMM_RT_CORELNK, .str = "</5/0>"},
      {.type = LMM_RT_OPAQUE},
      {.type = LMM_RT_TIME, .v.i = INT64_MAX},
  };
  uint16_t rid[] = {0, 1, 2, 3, 4, 5, 7};
  uint8_t *out = NULL, bytes[] = {0, 1, 2};
  size_t n = 0;

  (void)state;
  v[5].bytes = bytes;
  v[5].len = sizeof bytes;
  for (size_t i = 0; i < N_OF(v); i++) {
    lmm_path p = mkpath(42770, 0, rid[i], -1);
    assert_int_equal(lmm_records_add(&r, &p, &v[i]), LMM_OK);
  }
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &BASE_ALL, r.items, r.n, &out, &n), LMM_OK);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_ALL, out, n, &all_def, &back, NULL, 0),
                   LMM_OK);
  assert_records_equal(&r, &back);
  lmm_free(out);
  lmm_records_clear(&r);
  lmm_records_clear(&back);
}

/* ============================================================== malformed */

static void test_malformed_truncated(void **state) {
  lmm_obj_def gm;
  static const uint8_t t1[] = {0xC8};             /* type byte only */
  static const uint8_t t2[] = {0xE8, 0x01};       /* 16-bit ID cut after one byte */
  static const uint8_t t3[] = {0xC8, 0x00};       /* 8-bit length missing */
  static const uint8_t t4[] = {0xD0, 0x00, 0x01}; /* 16-bit length cut */
  /* Second TLV cut: a good /1 then a lone type byte at offset 3. */
  static const uint8_t t5[] = {0xC1, 0x01, 0x00, 0xC1};

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(LMM_FMT_TLV, &BASE_INST, t1, sizeof t1, &gm, "byte 0");
  expect_proto(LMM_FMT_TLV, &BASE_INST, t2, sizeof t2, &gm, "truncated");
  expect_proto(LMM_FMT_TLV, &BASE_INST, t3, sizeof t3, &gm, "truncated");
  expect_proto(LMM_FMT_TLV, &BASE_INST, t4, sizeof t4, &gm, "truncated");
  expect_proto(LMM_FMT_TLV, &BASE_INST, t5, sizeof t5, &gm, "byte 3");
}

static void test_malformed_length_overflow(void **state) {
  lmm_obj_def gm;
  /* 0xC5: length 5 in the type byte, one byte present. */
  static const uint8_t l1[] = {0xC5, 0x00, 'a'};
  /* 24-bit length 0x010000 with one byte of value. */
  static const uint8_t l2[] = {0xD8, 0x00, 0x01, 0x00, 0x00, 'x'};
  /* A multiple resource of length 3 whose instance claims 4 bytes: past its container even
   * though the payload continues. */
  static const uint8_t l3[] = {0x83, 0x06, 0x44, 0x00, 'a', 'b', 'c', 'd'};

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(LMM_FMT_TLV, &BASE_INST, l1, sizeof l1, &gm, "runs past");
  expect_proto(LMM_FMT_TLV, &BASE_INST, l2, sizeof l2, &gm, "runs past");
  expect_proto(LMM_FMT_TLV, &BASE_INST, l3, sizeof l3, &gm, "byte 2");
}

static void test_malformed_values(void **state) {
  lmm_obj_def gm;
  const lmm_obj_def *loc = lmm_obj_def_oma(6), *dev = lmm_obj_def_oma(3);
  lmm_path loc0 = mkpath(6, 0, -1, -1), dev0 = mkpath(3, 0, -1, -1);
  static const uint8_t int3[] = {0xC3, 0x01, 0x00, 0x00, 0x01}; /* 3-byte integer */
  static const uint8_t int0[] = {0xC0, 0x09};                   /* empty integer */
  static const uint8_t int5[] = {0xC5, 0x02, 1, 2, 3, 4, 5};    /* 5-byte integer */
  static const uint8_t flt2[] = {0xC2, 0x00, 0x3F, 0xC0};       /* 2-byte float */
  static const uint8_t flt3[] = {0xC3, 0x00, 0x3F, 0xC0, 0x00}; /* 3-byte float */
  static const uint8_t nul[] = {0xC3, 0x00, 'a', 0x00, 'b'};    /* NUL inside a string */
  static const uint8_t utf[] = {0xC2, 0x00, 0xC3, 0x28};        /* bad UTF-8 */
  static const uint8_t exe[] = {0xC0, 0x04};                    /* Reboot has no value */
  static const uint8_t boo[] = {0xC1, 0x00, 0x02};              /* boolean 2 */
  static const uint8_t lnk[] = {0xC3, 0x01, 0x00, 0x03, 0x00};  /* 3-byte objlnk */

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(LMM_FMT_TLV, &BASE_INST, int3, sizeof int3, &gm, "integer length 3");
  expect_proto(LMM_FMT_TLV, &BASE_INST, int0, sizeof int0, &gm, "integer length 0");
  expect_proto(LMM_FMT_TLV, &BASE_INST, int5, sizeof int5, &gm, "integer length 5");
  expect_proto(LMM_FMT_TLV, &loc0, flt2, sizeof flt2, loc, "float length 2");
  expect_proto(LMM_FMT_TLV, &loc0, flt3, sizeof flt3, loc, "float length 3");
  expect_proto(LMM_FMT_TLV, &BASE_INST, nul, sizeof nul, &gm, "UTF-8");
  expect_proto(LMM_FMT_TLV, &BASE_INST, utf, sizeof utf, &gm, "UTF-8");
  expect_proto(LMM_FMT_TLV, &dev0, exe, sizeof exe, dev, "executable");
  expect_proto(LMM_FMT_TLV, &BASE_ALL, boo, sizeof boo, &all_def, "boolean");
  expect_proto(LMM_FMT_TLV, &BASE_ALL, lnk, sizeof lnk, &all_def, "object link");
}

static void test_malformed_structure(void **state) {
  lmm_obj_def gm;
  lmm_path res6 = mkpath(OID, 0, 6, -1), inst63 = mkpath(OID, 0, 6, 3);
  /* Object instance wrapper with ID 1 for /42769/0: 0x03 = 00 0 00 011, ID 1, length 3. */
  static const uint8_t wrong_iid[] = {0x03, 0x01, 0xC1, 0x01, 0x00};
  /* Resource instance directly inside an object instance. */
  static const uint8_t inst_in_obj[] = {0x03, 0x00, 0x41, 0x00, 'a'};
  /* Object instance inside a multiple resource. */
  static const uint8_t obj_in_multi[] = {0x82, 0x06, 0x00, 0x00};
  /* A resource at the top of a payload for /42769: its instance is unknown. */
  static const uint8_t res_top_obj[] = {0xC1, 0x01, 0x00};
  /* A resource instance at the top of a payload for /42769/0. */
  static const uint8_t inst_top[] = {0x41, 0x06, 'a'};
  /* Group ID (single) sent as a multiple resource; TMGI (multiple) sent as one value. */
  static const uint8_t single_as_multi[] = {0x83, 0x00, 0x41, 0x00, 'a'};
  static const uint8_t multi_as_single[] = {0xC1, 0x06, 'a'};
  /* Resource ID 65535 (reserved): 0xE1 = 16-bit ID 0xFFFF, length 1. */
  static const uint8_t id_ffff[] = {0xE1, 0xFF, 0xFF, 0x00};
  /* The same resource twice (at bytes 0 and 3). */
  static const uint8_t dup[] = {0xC1, 0x01, 0x00, 0xC1, 0x01, 0x01};
  /* A resource ID other than the base's for /42769/0/6. */
  static const uint8_t wrong_rid[] = {0xC1, 0x07, 'a'};
  /* Instance 2 for /42769/0/6/3. */
  static const uint8_t wrong_riid[] = {0x41, 0x02, 'a'};

  (void)state;
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(LMM_FMT_TLV, &BASE_INST, wrong_iid, sizeof wrong_iid, &gm, "object instance 1");
  expect_proto(LMM_FMT_TLV, &BASE_INST, inst_in_obj, sizeof inst_in_obj, &gm, "byte 2");
  expect_proto(LMM_FMT_TLV, &res6, obj_in_multi, sizeof obj_in_multi, &gm, "not allowed");
  expect_proto(LMM_FMT_TLV, &BASE_OBJ, res_top_obj, sizeof res_top_obj, &gm, "cannot stand");
  expect_proto(LMM_FMT_TLV, &BASE_INST, inst_top, sizeof inst_top, &gm, "cannot stand");
  expect_proto(LMM_FMT_TLV, &BASE_INST, single_as_multi, sizeof single_as_multi, &gm,
               "single resource");
  expect_proto(LMM_FMT_TLV, &BASE_INST, multi_as_single, sizeof multi_as_single, &gm,
               "multiple resource");
  expect_proto(LMM_FMT_TLV, &BASE_INST, id_ffff, sizeof id_ffff, &gm, "65535");
  expect_proto(LMM_FMT_TLV, &BASE_INST, dup, sizeof dup, &gm, "byte 3");
  expect_proto(LMM_FMT_TLV, &res6, wrong_rid, sizeof wrong_rid, &gm, "resource 7");
  expect_proto(LMM_FMT_TLV, &inst63, wrong_riid, sizeof wrong_riid, &gm, "resource instance 2");
}

static void test_decode_bad_arguments(void **state) {
  lmm_records out = {0};
  lmm_obj_def gm;
  lmm_path bad = {OID, 0, 0, 0, 0};
  char why[64];

  (void)state;
  lmm_group_mgmt_def(42770, &gm);
  /* A definition of another object than the base's. */
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, (const uint8_t *)"", 0, &gm, &out, why, sizeof why),
      LMM_ERR_ARG);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &bad, NULL, 0, NULL, &out, NULL, 0), LMM_ERR_ARG);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &BASE_INST, NULL, 3, NULL, &out, NULL, 0),
                   LMM_ERR_ARG);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_LINK, &BASE_INST, NULL, 0, NULL, &out, NULL, 0),
                   LMM_ERR_ARG);
  assert_int_equal(out.n, 0);
}

/* ======================================================= text and opaque */

static void expect_text(const lmm_value *v, const char *want) {
  lmm_record rec = {mkpath(42770, 0, 0, -1), *v};
  uint8_t *out = NULL;
  size_t n = 0;

  rec.path = mkpath(42770, 0, 0, -1);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TEXT, &rec.path, &rec, 1, &out, &n), LMM_OK);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(out, want, n);
  lmm_free(out);
}

static void test_text_encode(void **state) {
  uint8_t bytes[] = {1, 2, 3};
  lmm_value v = {.type = LMM_RT_INTEGER, .v.i = -300};

  (void)state;
  expect_text(&v, "-300");
  v.type = LMM_RT_TIME;
  v.v.i = 1700000000;
  expect_text(&v, "1700000000");
  v.type = LMM_RT_UNSIGNED;
  v.v.u = UINT64_MAX;
  expect_text(&v, "18446744073709551615");
  v.type = LMM_RT_FLOAT;
  v.v.f = 1.5;
  expect_text(&v, "1.5");
  v.v.f = 2.0; /* keeps a decimal point */
  expect_text(&v, "2.0");
  v.v.f = 0.1;
  expect_text(&v, "0.1");
  v.type = LMM_RT_BOOLEAN;
  v.v.b = true;
  expect_text(&v, "1");
  v.v.b = false;
  expect_text(&v, "0");
  v.type = LMM_RT_OBJLNK;
  v.v.lnk.oid = 3;
  v.v.lnk.iid = 0;
  expect_text(&v, "3:0");
  v.type = LMM_RT_STRING;
  v.str = "grp 1";
  expect_text(&v, "grp 1");
  /* Opaque in plain text is standard base64: 01 02 03 -> "AQID". */
  v.type = LMM_RT_OPAQUE;
  v.str = NULL;
  v.bytes = bytes;
  v.len = 3;
  expect_text(&v, "AQID");
}

static void expect_text_decodes(uint16_t rid, const char *text, const lmm_value *want) {
  lmm_path p = mkpath(42770, 0, rid, -1);
  lmm_records out = {0};
  char why[128];

  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TEXT, &p, (const uint8_t *)text, strlen(text), &all_def,
                                    &out, why, sizeof why),
                   LMM_OK);
  assert_int_equal(out.n, 1);
  assert_value_equal(&out.items[0].value, want);
  lmm_records_clear(&out);
}

static void test_text_decode(void **state) {
  lmm_value v = {.type = LMM_RT_BOOLEAN, .v.b = true};
  lmm_path gm0 = mkpath(OID, 0, 9, -1), s0 = mkpath(OID, 0, 0, -1);
  lmm_obj_def gm;
  lmm_records out = {0};
  uint8_t three[] = {1, 2, 3};

  (void)state;
  expect_text_decodes(0, "1", &v);
  v = (lmm_value){.type = LMM_RT_OBJLNK, .v.lnk = {3, 7}};
  expect_text_decodes(1, "3:7", &v);
  v = (lmm_value){.type = LMM_RT_UNSIGNED, .v.u = 42};
  expect_text_decodes(2, "42", &v);
  v = (lmm_value){.type = LMM_RT_FLOAT, .v.f = -2.5e3};
  expect_text_decodes(3, "-2.5e3", &v);
  v = (lmm_value){.type = LMM_RT_OPAQUE, .bytes = three, .len = 3};
  expect_text_decodes(5, "AQID", &v);
  v = (lmm_value){.type = LMM_RT_TIME, .v.i = -1};
  expect_text_decodes(7, "-1", &v);
  lmm_group_mgmt_def(OID, &gm);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TEXT, &gm0, (const uint8_t *)"300", 3, &gm, &out, NULL, 0), LMM_OK);
  assert_int_equal(out.items[0].value.type, LMM_RT_INTEGER);
  assert_true(out.items[0].value.v.i == 300);
  /* Without a definition text is a string. */
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_TEXT, &s0, (const uint8_t *)"300", 3, NULL, &out, NULL, 0), LMM_OK);
  assert_int_equal(out.items[1].value.type, LMM_RT_STRING);
  assert_string_equal(out.items[1].value.str, "300");
  lmm_records_clear(&out);
}

static void test_text_malformed(void **state) {
  lmm_obj_def gm;
  lmm_path p9 = mkpath(OID, 0, 9, -1), p6 = mkpath(OID, 0, 6, -1), p0 = mkpath(OID, 0, 0, -1);
  lmm_path a[10];

  (void)state;
  for (int i = 0; i < 8; i++)
    a[i] = mkpath(42770, 0, i, -1);
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(LMM_FMT_TEXT, &p9, " 1", 2, &gm, "Integer");
  expect_proto(LMM_FMT_TEXT, &p9, "1.5", 3, &gm, "Integer");
  expect_proto(LMM_FMT_TEXT, &p9, "", 0, &gm, "Integer");
  expect_proto(LMM_FMT_TEXT, &p9, "99999999999999999999", 20, &gm, "Integer");
  expect_proto(LMM_FMT_TEXT, &a[0], "true", 4, &all_def, "Boolean");
  expect_proto(LMM_FMT_TEXT, &a[1], "3:70000", 7, &all_def, "Objlnk");
  expect_proto(LMM_FMT_TEXT, &a[2], "-1", 2, &all_def, "Unsigned");
  expect_proto(LMM_FMT_TEXT, &a[3], "inf", 3, &all_def, "Float");
  expect_proto(LMM_FMT_TEXT, &a[3], "1e999", 5, &all_def, "Float");
  expect_proto(LMM_FMT_TEXT, &a[5], "AQI", 3, &all_def, "base64");
  expect_proto(LMM_FMT_TEXT, &a[6], "", 0, &all_def, "executable");
  expect_proto(LMM_FMT_TEXT, &p0, "a\0b", 3, &gm, "NUL");
  expect_proto(LMM_FMT_TEXT, &BASE_INST, "x", 1, &gm, "one resource");
  expect_proto(LMM_FMT_TEXT, &p6, "x", 1, &gm, "instances");
  a[9] = mkpath(OID, 0, 0, 1); /* an instance of Group ID, which has none */
  expect_proto(LMM_FMT_TEXT, &a[9], "x", 1, &gm, "single resource");
}

static void test_opaque_format(void **state) {
  lmm_path pkg = mkpath(5, 0, 0, -1), p0 = mkpath(OID, 0, 0, -1);
  uint8_t bytes[] = {0, 0xFF, 'a'};
  lmm_record rec = {pkg, {.type = LMM_RT_OPAQUE, .bytes = bytes, .len = 3}};
  lmm_records out = {0};
  lmm_obj_def gm;
  uint8_t *enc = NULL;
  size_t n = 0;

  (void)state;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_OPAQUE, &pkg, &rec, 1, &enc, &n), LMM_OK);
  assert_int_equal(n, 3);
  assert_memory_equal(enc, bytes, 3);
  lmm_free(enc);
  assert_int_equal(
      lmm_lwm2m_decode(LMM_FMT_OPAQUE, &pkg, bytes, 3, lmm_obj_def_oma(5), &out, NULL, 0), LMM_OK);
  assert_int_equal(out.items[0].value.type, LMM_RT_OPAQUE);
  assert_memory_equal(out.items[0].value.bytes, bytes, 3);
  lmm_records_clear(&out);
  /* Only Opaque goes in the opaque format, and only one value. */
  rec.value.type = LMM_RT_STRING;
  rec.value.str = "x";
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_OPAQUE, &pkg, &rec, 1, &enc, &n), LMM_ERR_ARG);
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TEXT, &BASE_INST, &rec, 1, &enc, &n), LMM_ERR_ARG);
  lmm_group_mgmt_def(OID, &gm);
  expect_proto(LMM_FMT_OPAQUE, &p0, "abc", 3, &gm, "not an Opaque");
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_string_resource),
      cmocka_unit_test(test_decode_instance_with_and_without_wrapper),
      cmocka_unit_test(test_decode_integers),
      cmocka_unit_test(test_decode_other_types),
      cmocka_unit_test(test_decode_float8_and_location),
      cmocka_unit_test(test_decode_16bit_id_and_lengths),
      cmocka_unit_test(test_decode_resource_paths),
      cmocka_unit_test(test_decode_empty),
      cmocka_unit_test(test_encode_instance_matches_hand_vector),
      cmocka_unit_test(test_encode_sorts_records),
      cmocka_unit_test(test_encode_value_sizes),
      cmocka_unit_test(test_encode_large_value_uses_24bit_length),
      cmocka_unit_test(test_encode_refuses),
      cmocka_unit_test(test_encode_wide_ids_and_instance_base),
      cmocka_unit_test(test_decode_leaf_above_base),
      cmocka_unit_test(test_roundtrip_tlv),
      cmocka_unit_test(test_roundtrip_all_types),
      cmocka_unit_test(test_malformed_truncated),
      cmocka_unit_test(test_malformed_length_overflow),
      cmocka_unit_test(test_malformed_values),
      cmocka_unit_test(test_malformed_structure),
      cmocka_unit_test(test_decode_bad_arguments),
      cmocka_unit_test(test_text_encode),
      cmocka_unit_test(test_text_decode),
      cmocka_unit_test(test_text_malformed),
      cmocka_unit_test(test_opaque_format),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
