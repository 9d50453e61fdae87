/* test_group_mgmt.c - the Group Mgmt definition (as the seed table has it, plus 10 and 11), the
 * OMA definitions, and the instance struct to and from records. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/ctx.h"

#define OID LMM_GROUP_MGMT_OID
#define RW  (LMM_OP_R | LMM_OP_W)

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

/* ============================================================ definitions */

static void test_group_mgmt_definition(void **state) {
  /* The seed's table, row by row, then the two extensions. */
  static const struct {
    uint16_t id;
    const char *name;
    unsigned ops;
    bool multiple, mandatory;
    lmm_rtype type;
  } want[] = {
      {0, "Group ID", RW, false, true, LMM_RT_STRING},
      {1, "Group Type", RW, false, false, LMM_RT_INTEGER},
      {2, "Member Number", RW, false, false, LMM_RT_INTEGER},
      {3, "Member List", RW, false, false, LMM_RT_STRING},
      {4, "Fanout Target", RW, false, false, LMM_RT_STRING},
      {5, "External Group ID", LMM_OP_R, false, true, LMM_RT_STRING},
      {6, "TMGI", RW, true, false, LMM_RT_STRING},
      {7, "Multicast Address", RW, false, false, LMM_RT_STRING},
      {8, "Schedule", RW, true, false, LMM_RT_TIME},
      {9, "Response Time Window", RW, false, false, LMM_RT_INTEGER},
      {10, "Multicast Port", RW, false, false, LMM_RT_INTEGER},
      {11, "Answer URI", RW, false, false, LMM_RT_STRING},
      {12, "Group Key", LMM_OP_W, false, false, LMM_RT_OPAQUE},
  };
  lmm_obj_def d;

  (void)state;
  memset(&d, 0, sizeof d);
  lmm_group_mgmt_def(OID, &d);
  assert_int_equal(d.oid, 42769);
  assert_string_equal(d.name, "Group Mgmt");
  assert_string_equal(d.urn, "urn:oma:lwm2m:x:42769");
  assert_true(d.multiple);
  assert_false(d.mandatory);
  assert_int_equal(d.n_res, 13);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    const lmm_res_def *r = lmm_obj_def_res(&d, want[i].id);
    assert_non_null(r);
    assert_string_equal(r->name, want[i].name);
    assert_int_equal(r->ops, want[i].ops);
    assert_int_equal(r->multiple, want[i].multiple);
    assert_int_equal(r->mandatory, want[i].mandatory);
    assert_int_equal(r->type, want[i].type);
    assert_non_null(r->description);
  }
  assert_string_equal(lmm_obj_def_res(&d, 9)->units, "s");
  assert_string_equal(lmm_obj_def_res(&d, 10)->range, "0..65535");
  assert_null(lmm_obj_def_res(&d, 13));
  assert_null(lmm_obj_def_res(NULL, 0));
}

static void test_group_mgmt_definition_other_ids(void **state) {
  lmm_obj_def a, b;

  (void)state;
  lmm_group_mgmt_def(42800, &a);
  assert_int_equal(a.oid, 42800);
  assert_string_equal(a.urn, "urn:oma:lwm2m:x:42800");
  /* Outside the test range the ID still works; there is just no URN text for it. */
  lmm_group_mgmt_def(35000, &b);
  assert_int_equal(b.oid, 35000);
  assert_null(b.urn);
  assert_ptr_equal(a.res, b.res); /* one static table */
}

static void test_oma_definitions(void **state) {
  const lmm_obj_def *dev = lmm_obj_def_oma(3), *fw = lmm_obj_def_oma(5), *loc = lmm_obj_def_oma(6);

  (void)state;
  assert_non_null(dev);
  assert_non_null(fw);
  assert_non_null(loc);
  /* The core objects are 0..7; Group Mgmt's ID belongs to each group, not to this table. */
  assert_non_null(lmm_obj_def_oma(4));
  assert_null(lmm_obj_def_oma(8));
  assert_null(lmm_obj_def_oma(42769));
  assert_string_equal(dev->urn, "urn:oma:lwm2m:oma:3:1.1");
  assert_int_equal(lmm_obj_def_res(dev, 4)->ops, LMM_OP_E);
  assert_int_equal(lmm_obj_def_res(dev, 4)->type, LMM_RT_NONE);
  assert_int_equal(lmm_obj_def_res(dev, 13)->type, LMM_RT_TIME);
  assert_string_equal(lmm_obj_def_res(dev, 16)->name, "Supported Binding and Modes");
  assert_int_equal(lmm_obj_def_res(fw, 0)->ops, LMM_OP_W);
  assert_int_equal(lmm_obj_def_res(fw, 0)->type, LMM_RT_OPAQUE);
  assert_int_equal(lmm_obj_def_res(fw, 1)->ops, RW);
  assert_int_equal(lmm_obj_def_res(fw, 2)->ops, LMM_OP_E);
  assert_null(lmm_obj_def_res(fw, 4));
  assert_true(lmm_obj_def_res(fw, 8)->multiple);
  assert_int_equal(lmm_obj_def_res(fw, 9)->type, LMM_RT_INTEGER);
  assert_int_equal(lmm_obj_def_res(loc, 0)->type, LMM_RT_FLOAT);
  assert_string_equal(lmm_obj_def_res(loc, 0)->units, "deg");
  assert_int_equal(lmm_obj_def_res(loc, 4)->type, LMM_RT_OPAQUE);
  assert_int_equal(lmm_obj_def_res(loc, 5)->type, LMM_RT_TIME);
  assert_int_equal(lmm_obj_def_res(loc, 6)->type, LMM_RT_FLOAT);
}

/* ============================================================ to records */

static void test_to_records(void **state) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0};
  char *tmgi[] = {"0a1b2c00101", "aabbcc00102"};
  uint16_t tmgi_riid[] = {0, 3};
  int64_t sched[] = {1700000000};
  char p[32];

  (void)state;
  g.group_id = "grp1";
  g.group_type = LMM_GROUP_MULTICAST;
  g.member_number = 0;
  g.member_list = "ep=a/5,ep=b/5";
  g.external_group_id = "eg1";
  g.tmgi = tmgi;
  g.tmgi_riid = tmgi_riid;
  g.n_tmgi = 2;
  g.schedule = sched; /* no ID array: numbered from 0 */
  g.n_schedule = 1;
  g.multicast_port = 0;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 4, &r), LMM_OK);
  assert_int_equal(r.n, 9);
  assert_string_equal(lmm_path_format(&r.items[0].path, p, sizeof p), "/42769/4/0");
  assert_string_equal(r.items[0].value.str, "grp1");
  assert_ptr_not_equal(r.items[0].value.str, g.group_id); /* copied */
  assert_true(r.items[1].value.v.i == 1);
  assert_true(r.items[2].value.v.i == 0); /* 0 is set, only -1 is absent */
  assert_string_equal(lmm_path_format(&r.items[3].path, p, sizeof p), "/42769/4/3");
  assert_string_equal(lmm_path_format(&r.items[4].path, p, sizeof p), "/42769/4/5");
  assert_string_equal(lmm_path_format(&r.items[6].path, p, sizeof p), "/42769/4/6/3");
  assert_string_equal(lmm_path_format(&r.items[7].path, p, sizeof p), "/42769/4/8/0");
  assert_int_equal(r.items[7].value.type, LMM_RT_TIME);
  assert_string_equal(lmm_path_format(&r.items[8].path, p, sizeof p), "/42769/4/10");
  assert_true(r.items[8].value.v.i == 0);
  lmm_records_clear(&r);
}

static void test_to_records_refuses(void **state) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0};
  char *tmgi[] = {"a", "b"};
  uint16_t same[] = {1, 1};

  (void)state;
  g.group_id = "g";
  g.group_type = 3;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 0, &r), LMM_ERR_ARG);
  g.group_type = -1;
  g.multicast_port = 65536;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 0, &r), LMM_ERR_ARG);
  g.multicast_port = -1;
  g.response_time_window = -2;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 0, &r), LMM_ERR_ARG);
  g.response_time_window = -1;
  g.tmgi = tmgi;
  g.tmgi_riid = same;
  g.n_tmgi = 2;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 0, &r), LMM_ERR_ARG);
  g.n_tmgi = 0;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 65535, &r), LMM_ERR_ARG);
  assert_int_equal(lmm_group_mgmt_to_records(NULL, OID, 0, &r), LMM_ERR_ARG);
  assert_int_equal(r.n, 0);
  /* An empty instance gives no records. */
  g = (lmm_group_mgmt)LMM_GROUP_MGMT_INIT;
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 0, &r), LMM_OK);
  assert_int_equal(r.n, 0);
}

/* ========================================================== from records */

static void add_str(lmm_records *r, int rid, int riid, const char *s) {
  lmm_path p = mkpath(OID, 2, rid, riid);
  lmm_value v = {.type = LMM_RT_STRING, .str = (char *)s};
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
}

static void add_int(lmm_records *r, int rid, int riid, lmm_rtype type, int64_t i) {
  lmm_path p = mkpath(OID, 2, rid, riid);
  lmm_value v = {.type = type, .v.i = i};
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
}

static void test_from_records(void **state) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0};
  char why[128];

  (void)state;
  add_str(&r, 0, -1, "grp");
  add_int(&r, 1, -1, LMM_RT_INTEGER, 2);
  add_int(&r, 2, -1, LMM_RT_INTEGER, 10000);
  add_str(&r, 3, -1, "ep=a/5");
  add_str(&r, 4, -1, "coap://gw/fanout");
  add_str(&r, 5, -1, "ext@example");
  add_str(&r, 6, 9, "t9");
  add_str(&r, 6, 1, "t1");
  add_str(&r, 7, -1, "239.1.2.3");
  add_int(&r, 8, 4, LMM_RT_TIME, 1700000000);
  add_int(&r, 8, 5, LMM_RT_INTEGER, 1700000600); /* SenML without a definition gives Integer */
  add_int(&r, 9, -1, LMM_RT_INTEGER, 0);
  add_int(&r, 10, -1, LMM_RT_INTEGER, 65535);
  add_str(&r, 11, -1, "coap://srv/answers");
  /* Whatever `out` held is freed first. */
  g.group_id = strdup("old");
  assert_int_equal(lmm_group_mgmt_from_records(r.items, r.n, &g, why, sizeof why), LMM_OK);
  assert_string_equal(g.group_id, "grp");
  assert_int_equal(g.group_type, LMM_GROUP_UNICAST);
  assert_true(g.member_number == 10000);
  assert_string_equal(g.member_list, "ep=a/5");
  assert_string_equal(g.fanout_target, "coap://gw/fanout");
  assert_string_equal(g.external_group_id, "ext@example");
  assert_int_equal(g.n_tmgi, 2);
  assert_string_equal(g.tmgi[0], "t9");
  assert_int_equal(g.tmgi_riid[0], 9);
  assert_int_equal(g.tmgi_riid[1], 1);
  assert_string_equal(g.multicast_address, "239.1.2.3");
  assert_int_equal(g.n_schedule, 2);
  assert_int_equal(g.schedule_riid[1], 5);
  assert_true(g.schedule[1] == 1700000600);
  assert_true(g.response_time_window == 0);
  assert_int_equal(g.multicast_port, 65535);
  assert_string_equal(g.answer_uri, "coap://srv/answers");
  lmm_group_mgmt_clear(&g);
  assert_null(g.group_id);
  assert_int_equal(g.group_type, -1);
  assert_int_equal(g.n_tmgi, 0);
  lmm_group_mgmt_clear(&g);
  lmm_group_mgmt_clear(NULL);
  /* A partial set (a Write of some resources) is fine; absent ones stay absent. */
  assert_int_equal(lmm_group_mgmt_from_records(&r.items[9], 1, &g, why, sizeof why), LMM_OK);
  assert_null(g.group_id);
  assert_int_equal(g.n_schedule, 1);
  assert_int_equal(g.multicast_port, -1);
  lmm_group_mgmt_clear(&g);
  lmm_records_clear(&r);
}

/* from_records must refuse the one record, naming `path` in the reason. */
static void expect_refused(lmm_path p, lmm_value v, const char *path, const char *needle) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0};
  char why[128] = "";

  add_str(&r, 0, -1, "fine");
  assert_int_equal(lmm_records_add(&r, &p, &v), LMM_OK);
  assert_int_equal(lmm_group_mgmt_from_records(r.items, r.n, &g, why, sizeof why), LMM_ERR_PROTO);
  if (strstr(why, path) == NULL || strstr(why, needle) == NULL)
    fail_msg("reason \"%s\" lacks \"%s\" or \"%s\"", why, path, needle);
  assert_null(g.group_id);
  lmm_records_clear(&r);
}

static void test_from_records_refuses(void **state) {
  lmm_value s = {.type = LMM_RT_STRING, .str = "x"};
  lmm_value i = {.type = LMM_RT_INTEGER};
  lmm_value o = {.type = LMM_RT_OPAQUE, .bytes = (uint8_t *)"x", .len = 1};

  (void)state;
  expect_refused(mkpath(OID, 2, 13, -1), s, "/42769/2/13", "no resource 13");
  /* The Group Key: Opaque of the lengths the key derivation takes (16..64 bytes). */
  uint8_t key[65] = {0};
  lmm_value k = {.type = LMM_RT_OPAQUE, .bytes = key, .len = 15};
  expect_refused(mkpath(OID, 2, 12, -1), k, "/42769/2/12", "16 to 64");
  k.len = 65;
  expect_refused(mkpath(OID, 2, 12, -1), k, "/42769/2/12", "16 to 64");
  expect_refused(mkpath(OID, 2, 12, -1), s, "/42769/2/12", "Opaque");
  expect_refused(mkpath(OID, 2, 1, -1), s, "/42769/2/1", "Integer");
  expect_refused(mkpath(OID, 2, 3, -1), i, "/42769/2/3", "String");
  expect_refused(mkpath(OID, 2, 5, -1), o, "/42769/2/5", "String");
  expect_refused(mkpath(OID, 2, 6, 0), i, "/42769/2/6/0", "String");
  expect_refused(mkpath(OID, 2, 8, 0), s, "/42769/2/8/0", "Time");
  i.v.i = 3;
  expect_refused(mkpath(OID, 2, 1, -1), i, "/42769/2/1", "out of range");
  i.v.i = -1;
  expect_refused(mkpath(OID, 2, 2, -1), i, "/42769/2/2", "out of range");
  expect_refused(mkpath(OID, 2, 9, -1), i, "/42769/2/9", "out of range");
  i.v.i = 65536;
  expect_refused(mkpath(OID, 2, 10, -1), i, "/42769/2/10", "out of range");
  /* Shapes: a single resource with an instance, a multiple one without. */
  expect_refused(mkpath(OID, 2, 0, 1), s, "/42769/2/0/1", "single");
  expect_refused(mkpath(OID, 2, 6, -1), s, "/42769/2/6", "multiple");
  /* Twice, and another instance than the first record's. */
  expect_refused(mkpath(OID, 2, 0, -1), s, "/42769/2/0", "twice");
  expect_refused(mkpath(OID, 3, 4, -1), s, "/42769/3/4", "same instance");
  expect_refused(mkpath(OID, 2, 4, 7), s, "/42769/2/4/7", "single");
}

/* The Group Key goes out and comes back as Opaque, through both instance formats. */
static void test_group_key(void **state) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT, back = LMM_GROUP_MGMT_INIT;
  uint8_t key[16];
  char why[128] = "";
  (void)state;
  for (int i = 0; i < 16; i++)
    key[i] = (uint8_t)(0xf0 + i);
  g.group_id = "grp", g.external_group_id = "eg";
  g.group_key = key, g.group_key_len = sizeof key;
  lmm_obj_def def;
  lmm_group_mgmt_def(OID, &def);
  for (int f = 0; f < 2; f++) {
    uint16_t fmt = f ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(lmm_group_mgmt_encode(&g, OID, 4, fmt, &buf, &len), LMM_OK);
    lmm_path p = mkpath(OID, 4, 0, -1);
    p.depth = 2;
    lmm_records r = {0};
    assert_int_equal(lmm_lwm2m_decode(fmt, &p, buf, len, &def, &r, why, sizeof why), LMM_OK);
    assert_int_equal(lmm_group_mgmt_from_records(r.items, r.n, &back, why, sizeof why), LMM_OK);
    assert_int_equal(back.group_key_len, sizeof key);
    assert_memory_equal(back.group_key, key, sizeof key);
    lmm_records_clear(&r);
    lmm_free(buf);
  }
  lmm_group_mgmt_clear(&back);
  assert_null(back.group_key);
  g.group_key_len = 8; /* not a key the devices take: not sent */
  lmm_records r = {0};
  assert_int_equal(lmm_group_mgmt_to_records(&g, OID, 4, &r), LMM_ERR_ARG);
  assert_int_equal(r.n, 0);
}

static void test_from_records_twice_multiple(void **state) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  lmm_records r = {0};
  char why[128];

  (void)state;
  add_str(&r, 6, 2, "a");
  add_str(&r, 6, 2, "b");
  assert_int_equal(lmm_group_mgmt_from_records(r.items, r.n, &g, why, sizeof why), LMM_ERR_PROTO);
  assert_non_null(strstr(why, "/42769/2/6/2"));
  assert_int_equal(g.n_tmgi, 0);
  assert_null(g.tmgi);
  assert_int_equal(lmm_group_mgmt_from_records(NULL, 1, &g, why, sizeof why), LMM_ERR_ARG);
  assert_int_equal(lmm_group_mgmt_from_records(NULL, 0, &g, NULL, 0), LMM_OK);
  lmm_records_clear(&r);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_group_mgmt_definition),
      cmocka_unit_test(test_group_mgmt_definition_other_ids),
      cmocka_unit_test(test_oma_definitions),
      cmocka_unit_test(test_to_records),
      cmocka_unit_test(test_to_records_refuses),
      cmocka_unit_test(test_from_records),
      cmocka_unit_test(test_from_records_refuses),
      cmocka_unit_test(test_from_records_twice_multiple),
      cmocka_unit_test(test_group_key),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
