/* test_ddf.c - the DDF reader and the object registry: the shipped files against the standard
 * and the built-in tables, every kind of malformed file, several objects per file, and
 * redefinitions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwm2m_mbms/objects.h"
#include "lwm2m_mbms/ctx.h"

#define RW (LMM_OP_R | LMM_OP_W)

static const char *objects_dir(void) {
  static char dir[4096];
  const char *src = getenv("LMM_SRC_DIR");
  assert_non_null(src);
  snprintf(dir, sizeof dir, "%s/objects", src);
  return dir;
}

/* A DDF of one object with the given resource items (XML text), ObjectID `oid`. */
static char *ddf(unsigned oid, const char *name, const char *items) {
  static char buf[8192];
  snprintf(buf, sizeof buf,
           "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
           "<LWM2M>\n"
           "  <Object ObjectType=\"MODefinition\">\n"
           "    <Name>%s</Name>\n"
           "    <Description1>Test object.</Description1>\n"
           "    <ObjectID>%u</ObjectID>\n"
           "    <ObjectURN>urn:oma:lwm2m:x:%u</ObjectURN>\n"
           "    <MultipleInstances>Multiple</MultipleInstances>\n"
           "    <Mandatory>Optional</Mandatory>\n"
           "    <Resources>\n%s"
           "    </Resources>\n"
           "    <Description2></Description2>\n"
           "  </Object>\n"
           "</LWM2M>\n",
           name, oid, oid, items);
  return buf;
}

#define ITEM(id, name, ops, type)                                                                  \
  "      <Item ID=\"" id "\">\n"                                                                   \
  "        <Name>" name "</Name>\n"                                                                \
  "        <Operations>" ops "</Operations>\n"                                                     \
  "        <MultipleInstances>Single</MultipleInstances>\n"                                        \
  "        <Mandatory>Optional</Mandatory>\n"                                                      \
  "        <Type>" type "</Type>\n"                                                                \
  "        <RangeEnumeration></RangeEnumeration>\n"                                                \
  "        <Units></Units>\n"                                                                      \
  "        <Description>d</Description>\n"                                                         \
  "      </Item>\n"

static lmm_err load(lmm_objects *o, const char *text) {
  return lmm_objects_load_mem(o, "t.xml", text, strlen(text));
}

/* ------------------------------------------------------------ the shipped files */

static void test_core_files(void **state) {
  (void)state;
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  lmm_err e = lmm_objects_load_dir(o, objects_dir());
  if (e != LMM_OK) print_error("%s\n", lmm_objects_errmsg(o));
  assert_int_equal(e, LMM_OK);
  assert_int_equal(lmm_objects_count(o), 8);
  for (unsigned oid = 0; oid < 8; oid++)
    assert_non_null(lmm_objects_at(o, oid));

  /* Spot checks against the standard (LwM2M 1.1 object versions). */
  const lmm_obj_def *sec = lmm_objects_get(o, 0), *srv = lmm_objects_get(o, 1);
  const lmm_obj_def *dev = lmm_objects_get(o, 3), *fw = lmm_objects_get(o, 5);
  assert_string_equal(sec->name, "LWM2M Security");
  assert_string_equal(sec->version, "1.1");
  assert_string_equal(lmm_obj_def_res(sec, 10)->name, "Short Server ID");
  assert_int_equal(lmm_obj_def_res(sec, 10)->type, LMM_RT_INTEGER);
  assert_int_equal(lmm_obj_def_res(sec, 10)->ops, 0); /* bootstrap only */
  assert_int_equal(lmm_obj_def_res(sec, 17)->type, LMM_RT_OBJLNK);
  assert_int_equal(lmm_obj_def_res(srv, 1)->ops, RW);
  assert_int_equal(lmm_obj_def_res(srv, 1)->type, LMM_RT_INTEGER);
  assert_string_equal(lmm_obj_def_res(srv, 1)->name, "Lifetime");
  assert_string_equal(lmm_obj_def_res(srv, 1)->units, "s");
  assert_int_equal(lmm_obj_def_res(srv, 8)->ops, LMM_OP_E);
  assert_int_equal(lmm_obj_def_res(srv, 23)->type, LMM_RT_BOOLEAN);
  assert_string_equal(dev->urn, "urn:oma:lwm2m:oma:3:1.1");
  assert_false(dev->multiple);
  assert_true(dev->mandatory);
  assert_string_equal(lmm_obj_def_res(dev, 14)->name, "UTC Offset");
  assert_int_equal(lmm_obj_def_res(dev, 14)->ops, RW);
  assert_int_equal(lmm_obj_def_res(dev, 14)->type, LMM_RT_STRING);
  assert_string_equal(lmm_obj_def_res(dev, 12)->name, "Reset Error Code");
  assert_int_equal(lmm_obj_def_res(dev, 12)->ops, LMM_OP_E);
  assert_int_equal(lmm_obj_def_res(dev, 12)->type, LMM_RT_NONE);
  assert_true(lmm_obj_def_res(dev, 11)->multiple);
  assert_true(lmm_obj_def_res(dev, 11)->mandatory);
  assert_int_equal(lmm_obj_def_res(dev, 22)->type, LMM_RT_OBJLNK);
  assert_null(lmm_obj_def_res(dev, 23));
  assert_string_equal(lmm_obj_def_res(fw, 3)->name, "State");
  assert_int_equal(lmm_obj_def_res(fw, 3)->ops, LMM_OP_R);
  assert_int_equal(lmm_obj_def_res(fw, 3)->type, LMM_RT_INTEGER);
  assert_string_equal(lmm_obj_def_res(fw, 3)->range, "0..3");
  assert_null(lmm_obj_def_res(fw, 4));
  assert_int_equal(lmm_obj_def_res(lmm_objects_get(o, 4), 2)->type, LMM_RT_INTEGER);
  assert_string_equal(lmm_obj_def_res(lmm_objects_get(o, 4), 2)->units, "dBm");
  assert_int_equal(lmm_obj_def_res(lmm_objects_get(o, 7), 6)->ops, LMM_OP_E);
  assert_int_equal(lmm_obj_def_res(lmm_objects_get(o, 2), 2)->multiple, true);

  /* The built-in tables are generated from these very files: every field agrees. */
  for (unsigned oid = 0; oid < 8; oid++) {
    const lmm_obj_def *f = lmm_objects_get(o, (uint16_t)oid), *b = lmm_obj_def_oma((uint16_t)oid);
    assert_non_null(b);
    assert_ptr_not_equal(f, b);
    assert_int_equal(f->oid, b->oid);
    assert_string_equal(f->name, b->name);
    assert_string_equal(f->urn, b->urn);
    assert_string_equal(f->version, b->version);
    assert_int_equal(f->multiple, b->multiple);
    assert_int_equal(f->mandatory, b->mandatory);
    assert_int_equal(f->n_res, b->n_res);
    for (size_t i = 0; i < f->n_res; i++) {
      const lmm_res_def *x = &f->res[i], *y = lmm_obj_def_res(b, x->id);
      assert_non_null(y);
      assert_string_equal(x->name, y->name);
      assert_int_equal(x->ops, y->ops);
      assert_int_equal(x->type, y->type);
      assert_int_equal(x->multiple, y->multiple);
      assert_int_equal(x->mandatory, y->mandatory);
      assert_true((!x->range && !y->range) || !strcmp(x->range, y->range));
      assert_true((!x->units && !y->units) || !strcmp(x->units, y->units));
      assert_non_null(x->description);
      assert_string_equal(x->description, y->description);
    }
  }
  lmm_objects_free(o);
}

/* The Group Mgmt DDF in docs/ reads too (the generator uses it the same way). */
static void test_group_mgmt_file(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/objects/group-mgmt.xml", getenv("LMM_SRC_DIR"));
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(lmm_objects_load_file(o, path), LMM_OK);
  const lmm_obj_def *gm = lmm_objects_get(o, 42769);
  lmm_obj_def b;
  lmm_group_mgmt_def(42769, &b);
  assert_non_null(gm);
  assert_int_equal(gm->n_res, b.n_res);
  assert_string_equal(lmm_obj_def_res(gm, 5)->name, "External Group ID");
  assert_int_equal(lmm_obj_def_res(gm, 5)->ops, LMM_OP_R);
  assert_int_equal(lmm_obj_def_res(gm, 8)->type, LMM_RT_TIME);
  assert_true(lmm_obj_def_res(gm, 8)->multiple);
  lmm_objects_free(o);
}

/* ------------------------------------------------------------ malformed files */

static void test_malformed(void **state) {
  (void)state;
  static const struct {
    const char *items; /* resource items of a one-object file (NULL: `whole` is the file) */
    const char *whole;
    const char *want; /* in the message, after "t.xml:" */
  } cases[] = {
      {ITEM("1", "A", "R", "Strng"), NULL,
       "t.xml:16: <Item ID=\"1\">: <Type> 'Strng' is not a DDF type"},
      {ITEM("1", "A", "RX", "String"), NULL,
       "t.xml:13: <Item ID=\"1\">: <Operations> 'RX' is not R, W, RW, E or empty"},
      {ITEM("1", "A", "R", "String") ITEM("1", "B", "W", "Integer"), NULL,
       "t.xml:21: <Item ID=\"1\">: resource 1 of object 'Vendor' is defined twice (first at "
       "line 11)"},
      {ITEM("65535", "A", "R", "String"), NULL,
       "t.xml:11: <Item ID=\"65535\">: the ID is out of range (0 to 65534)"},
      {ITEM("x1", "A", "R", "String"), NULL, "t.xml:11: <Item ID=\"x1\">: the ID is not a number"},
      {"      <Item ID=\"4\">\n"
       "        <Operations>R</Operations>\n"
       "        <MultipleInstances>Single</MultipleInstances>\n"
       "        <Mandatory>Optional</Mandatory>\n"
       "        <Type>String</Type>\n"
       "      </Item>\n",
       NULL, "t.xml:11: <Item ID=\"4\">: <Name> is missing"},
      {ITEM("2", "", "R", "String"), NULL, "t.xml:12: <Item ID=\"2\">: <Name> is empty"},
      {ITEM("2", "A", "RW", ""), NULL,
       "t.xml:11: <Item ID=\"2\">: <Type> is empty, but only an executable (E) resource"},
      {"      <Item ID=\"2\"><Name>A</Name><Name>B</Name></Item>\n", NULL,
       "t.xml:11: <Name> appears twice in <Item>"},
      {"      <Item ID=\"2\"><Colour>red</Colour></Item>\n", NULL,
       "t.xml:11: unexpected <Colour> in <Item>"},
      {"      <Item ID=\"2\"><Name>A<b>x</b></Name></Item>\n", NULL,
       "t.xml:11: <Name> may hold only text, not <b>"},
      {"      <Item ID=\"2\" Kind=\"x\"><Name>A</Name></Item>\n", NULL,
       "t.xml:11: <Item>: unknown attribute 'Kind'"},
      {"      <Item ID=\"2\"><MultipleInstances>Many</MultipleInstances></Item>\n", NULL,
       "t.xml:11: <MultipleInstances>: 'Many' is neither Multiple nor Single"},
      {"", NULL, "t.xml:3: <Object> Vendor: <Resources> holds no <Item>"},
      {ITEM("1", "A", "R", "String"), "", "t.xml:12: not well-formed XML: unclosed token"},
      {NULL, "<LWM2M><Object><Name>x</Name>", "t.xml:1: not well-formed XML: no element found"},
      {NULL, "<?xml version=\"1.0\"?>\n<LWM2M>\n</LWM2M>\n", "t.xml:4: no <Object> in the file"},
      {NULL, "<?xml version=\"1.0\"?>\n<Objects/>\n",
       "t.xml:2: the root element is <Objects>, not <LWM2M>: not a DDF file"},
      {NULL,
       "<?xml version=\"1.0\"?>\n<!DOCTYPE LWM2M [<!ENTITY a \"aaaaaaaa\"><!ENTITY b "
       "\"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<LWM2M><Object><Name>&b;</Name></Object></LWM2M>\n",
       "t.xml:2: a DOCTYPE is not allowed in a DDF file"},
      {NULL, "<LWM2M><Object><Name>&unknown;</Name></Object></LWM2M>",
       "t.xml:1: not well-formed XML: undefined entity"},
      {NULL, "<LWM2M>stray<Object/></LWM2M>", "t.xml:1: text directly inside <LWM2M>"},
      {NULL,
       "<LWM2M>\n<Object>\n<Name>N</Name>\n<MultipleInstances>Single</MultipleInstances>\n"
       "<Mandatory>Optional</Mandatory>\n<Resources>" ITEM(
           "0", "A", "R", "String") "</Resources>\n</Object>\n</LWM2M>\n",
       "t.xml:2: <Object> N: <ObjectID> is missing"},
  };
  char buf[8192];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *text = cases[i].whole;
    if (cases[i].items) {
      text = ddf(33000, "Vendor", cases[i].items);
      if (cases[i].whole) { /* cut the document short: not well-formed */
        snprintf(buf, sizeof buf, "%.*s<", (int)(strlen(text) / 2), text);
        text = buf;
      }
    }
    lmm_objects *o;
    assert_int_equal(lmm_objects_new(&o), LMM_OK);
    lmm_err e = load(o, text);
    const char *m = lmm_objects_errmsg(o);
    if (e != LMM_ERR_ARG || !strstr(m, cases[i].want))
      print_error("case %zu: got %d '%s', want '%s'\n", i, e, m, cases[i].want);
    assert_int_equal(e, LMM_ERR_ARG);
    assert_non_null(strstr(m, cases[i].want));
    assert_int_equal(lmm_objects_count(o), 0); /* nothing half-loaded */
    assert_null(lmm_objects_get(o, 33000));
    lmm_objects_free(o);
  }
}

static void test_object_id_range(void **state) {
  (void)state;
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(load(o, ddf(65535, "Big", ITEM("0", "A", "R", "String"))), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "t.xml:6: <ObjectID>: 65535 is out of range"));
  assert_int_equal(load(o, ddf(99999999, "Big", ITEM("0", "A", "R", "String"))), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "is out of range (0 to 65534)"));
  assert_int_equal(lmm_objects_count(o), 0);
  /* 65534 is the last valid ID. */
  assert_int_equal(load(o, ddf(65534, "Last", ITEM("0", "A", "R", "String"))), LMM_OK);
  assert_string_equal(lmm_objects_errmsg(o), "");
  lmm_objects_free(o);
}

/* A size limit before Expat sees the data. */
static void test_too_big(void **state) {
  (void)state;
  size_t n = (4u << 20) + 1;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, ' ', n);
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(lmm_objects_load_mem(o, "big.xml", big, n), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "big.xml: 4194305 bytes is more than"));
  lmm_objects_free(o);
  free(big);
}

/* ------------------------------------------------------------ files, directories */

static void test_two_objects_in_one_file(void **state) {
  (void)state;
  char text[8192];
  /* Two objects: the second is bad, so neither may stay. */
  const char *one = ddf(33000, "First", ITEM("0", "A", "RW", "Integer"));
  const char *end = strstr(one, "  </Object>");
  assert_non_null(end);
  end += strlen("  </Object>\n");
  int head = (int)(end - one);
  snprintf(text, sizeof text,
           "%.*s  <Object ObjectType=\"MODefinition\"><Name>Second</Name>"
           "<ObjectID>33001</ObjectID><MultipleInstances>Single</MultipleInstances>"
           "<Mandatory>Optional</Mandatory><Resources>" ITEM(
               "7", "B", "R", "Float") "</Resources></Object>\n</LWM2M>\n",
           head, one);
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(load(o, text), LMM_OK);
  assert_int_equal(lmm_objects_count(o), 2);
  assert_string_equal(lmm_objects_get(o, 33000)->name, "First");
  assert_string_equal(lmm_objects_get(o, 33001)->name, "Second");
  assert_false(lmm_objects_get(o, 33001)->multiple);
  assert_string_equal(lmm_objects_get(o, 33001)->version, "1.0"); /* absent: 1.0 */
  assert_int_equal(lmm_obj_def_res(lmm_objects_get(o, 33001), 7)->type, LMM_RT_FLOAT);
  lmm_objects_free(o);

  char *bad = strdup(text);
  assert_non_null(bad);
  char *t = strstr(bad, "<Type>Float</Type>");
  memcpy(t, "<Type>Flaot</Type>", 18);
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(load(o, bad), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "'Flaot' is not a DDF type"));
  assert_int_equal(lmm_objects_count(o), 0);
  assert_null(lmm_objects_get(o, 33000));
  lmm_objects_free(o);

  /* The same object twice in one file. */
  snprintf(text, sizeof text, "%.*s%s", head, one, strstr(one, "  <Object"));
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(load(o, text), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "object 33000 is defined twice in this file"));
  lmm_objects_free(o);
  free(bad);
}

static void test_redefinition(void **state) {
  (void)state;
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  /* Without files the registry answers with the built-ins. */
  assert_ptr_equal(lmm_objects_get(o, 3), lmm_obj_def_oma(3));
  assert_ptr_equal(lmm_objects_get(NULL, 6), lmm_obj_def_oma(6));
  assert_null(lmm_objects_get(o, 33000));
  /* A loaded Device wins over the built-in one; the built-in table is unchanged. */
  assert_int_equal(lmm_objects_load_mem(
                       o, "dev-1.2.xml", ddf(3, "Device", ITEM("30", "New One", "RW", "Corelnk")),
                       strlen(ddf(3, "Device", ITEM("30", "New One", "RW", "Corelnk")))),
                   LMM_OK);
  const lmm_obj_def *dev = lmm_objects_get(o, 3);
  assert_ptr_not_equal(dev, lmm_obj_def_oma(3));
  assert_int_equal(lmm_obj_def_res(dev, 30)->type, LMM_RT_CORELNK);
  assert_null(lmm_obj_def_res(dev, 14));
  assert_null(lmm_obj_def_res(lmm_obj_def_oma(3), 30));
  /* A second file defining the same object is refused, naming the first. */
  assert_int_equal(load(o, ddf(3, "Device", ITEM("31", "Other", "R", "String"))), LMM_ERR_ARG);
  assert_non_null(
      strstr(lmm_objects_errmsg(o), "t.xml: object 3 (Device) is defined already by dev-1.2.xml"));
  assert_int_equal(lmm_objects_count(o), 1);
  assert_ptr_equal(lmm_objects_get(o, 3), dev); /* still the first one, same storage */
  lmm_objects_free(o);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

static void test_load_dir(void **state) {
  (void)state;
  char dir[] = "/tmp/lmmt-ddf-XXXXXX", cmd[128];
  assert_non_null(mkdtemp(dir));
  lmm_objects *o;
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(lmm_objects_load_dir(o, dir), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "no DDF file (*.xml) in the directory"));
  write_file(dir, "b.xml", ddf(33001, "B", ITEM("0", "A", "R", "String")));
  write_file(dir, "a.xml", ddf(33000, "A", ITEM("0", "A", "R", "String")));
  write_file(dir, "notes.txt", "not a DDF");
  assert_int_equal(lmm_objects_load_dir(o, dir), LMM_OK);
  assert_int_equal(lmm_objects_count(o), 2);
  assert_int_equal(lmm_objects_at(o, 0)->oid, 33000); /* sorted by name: a.xml first */
  assert_int_equal(lmm_objects_at(o, 1)->oid, 33001);
  lmm_objects_free(o);
  /* A broken file: nothing from the directory stays, and the message names the file. */
  write_file(dir, "c.xml", ddf(33002, "C", ITEM("0", "A", "R", "Text")));
  assert_int_equal(lmm_objects_new(&o), LMM_OK);
  assert_int_equal(lmm_objects_load_dir(o, dir), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_objects_errmsg(o), "c.xml:16: <Item ID=\"0\">: <Type> 'Text'"));
  assert_int_equal(lmm_objects_count(o), 0);
  assert_null(lmm_objects_get(o, 33000));
  assert_int_equal(lmm_objects_load_dir(o, "/nonexistent/lmm"), LMM_ERR_IO);
  assert_non_null(strstr(lmm_objects_errmsg(o), "cannot open the directory"));
  assert_int_equal(lmm_objects_load_file(o, "/nonexistent/x.xml"), LMM_ERR_IO);
  assert_non_null(strstr(lmm_objects_errmsg(o), "/nonexistent/x.xml: No such file"));
  lmm_objects_free(o);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_core_files),   cmocka_unit_test(test_group_mgmt_file),
      cmocka_unit_test(test_malformed),    cmocka_unit_test(test_object_id_range),
      cmocka_unit_test(test_too_big),      cmocka_unit_test(test_two_objects_in_one_file),
      cmocka_unit_test(test_redefinition), cmocka_unit_test(test_load_dir),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
