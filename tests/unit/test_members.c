/* test_members.c - member IDs and the members file: what operators write, and every mistake
 * reported with its line number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwm2m_mbms/group.h"
#include "lwm2m_mbms/ctx.h"

static void test_member_id(void **state) {
  (void)state;
  char *ep = NULL, why[200];
  uint16_t oid = 0;
  assert_int_equal(lmm_member_id_parse("ep=meter-17/5", &ep, &oid, why, sizeof why), LMM_OK);
  assert_string_equal(ep, "meter-17");
  assert_int_equal(oid, 5);
  free(ep);
  /* The last '/' splits: names may not hold '/', so this one is refused. */
  static const char *bad[] = {"meter/5",     "ep=/5",          "ep=meter",    "ep=meter/",
                              "ep=meter/x",  "ep=meter/65535", "ep=me,ter/5", "ep=a/b/5",
                              "ep=me ter/5", "ep=meter/-1",    "ep=meter/5x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    why[0] = '\0';
    assert_int_equal(lmm_member_id_parse(bad[i], &ep, &oid, why, sizeof why), LMM_ERR_ARG);
    assert_true(strlen(why) > 0);
  }
  lmm_member m = {.ep = "x", .oid = 42769};
  char buf[64];
  assert_string_equal(lmm_member_id_format(&m, buf, sizeof buf), "ep=x/42769");
}

static void test_allows(void **state) {
  (void)state;
  lmm_member m = {.ep = "ota", .oid = 5};
  lmm_path p;
  assert_int_equal(lmm_path_parse("/5/0/0", &p), LMM_OK);
  assert_true(lmm_member_allows(&m, &p));
  assert_int_equal(lmm_path_parse("/5", &p), LMM_OK);
  assert_true(lmm_member_allows(&m, &p));
  assert_int_equal(lmm_path_parse("/3/0/4", &p), LMM_OK);
  assert_false(lmm_member_allows(&m, &p)); /* an OTA server may touch object 5 only */
}

static const char good[] =
    "# building 7, floor 2\n"
    "\n"
    "ep=dev-0001/42769 coap://127.1.0.1:5683\n"
    "   ep=dev-0002/42769\tcoap://[::1]:5683/   format=tlv   # an LwM2M 1.0 device\n"
    "ep=dev-0003/5 coaps://meter3.example:5684 psk-id=dev-0003 psk-key=hex:00112233aabbccdd\n"
    "ep=dev-0004/5 coaps://127.1.0.4 psk-id=id4 psk-key=text:s3cret\r\n"
    "ep=dev-0001/5 coap://127.1.0.1\n"; /* same endpoint, another object: another member */

static void test_parse_good(void **state) {
  (void)state;
  lmm_member *m = NULL;
  size_t n = 0;
  char why[200] = "";
  assert_int_equal(lmm_members_parse(good, strlen(good), &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 5);
  assert_string_equal(m[0].ep, "dev-0001");
  assert_int_equal(m[0].oid, 42769);
  assert_string_equal(m[0].uri, "coap://127.1.0.1:5683");
  assert_int_equal(m[0].format, 110);
  assert_string_equal(m[1].uri, "coap://[::1]:5683"); /* trailing slash dropped */
  assert_int_equal(m[1].format, 11542);
  assert_string_equal(m[2].psk_identity, "dev-0003");
  assert_int_equal(m[2].psk_key_len, 8);
  static const uint8_t k[] = {0x00, 0x11, 0x22, 0x33, 0xaa, 0xbb, 0xcc, 0xdd};
  assert_memory_equal(m[2].psk_key, k, 8);
  assert_int_equal(m[3].psk_key_len, 6);
  assert_memory_equal(m[3].psk_key, "s3cret", 6);
  assert_int_equal(m[4].oid, 5);

  /* What we write, we read back the same. */
  char *text = lmm_members_format(m, n);
  assert_non_null(text);
  lmm_member *m2 = NULL;
  size_t n2 = 0;
  assert_int_equal(lmm_members_parse(text, strlen(text), &m2, &n2, why, sizeof why), LMM_OK);
  assert_int_equal(n2, n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(m2[i].ep, m[i].ep);
    assert_int_equal(m2[i].oid, m[i].oid);
    assert_string_equal(m2[i].uri, m[i].uri);
    assert_int_equal(m2[i].format, m[i].format);
    assert_int_equal(m2[i].psk_key_len, m[i].psk_key_len);
    if (m[i].psk_key_len) assert_memory_equal(m2[i].psk_key, m[i].psk_key, m[i].psk_key_len);
  }
  free(text);
  lmm_member copy;
  assert_int_equal(lmm_member_copy(&copy, &m[2]), LMM_OK);
  assert_string_equal(copy.psk_identity, "dev-0003");
  assert_ptr_not_equal(copy.psk_key, m[2].psk_key);
  lmm_member_clear(&copy);
  lmm_members_free(m2, n2);
  lmm_members_free(m, n);
}

typedef struct bad_case {
  const char *text;
  const char *expect; /* substring of the message, which starts with the line number */
} bad_case;

static void test_parse_bad(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"ep=a/1 coap://h\nep=b/1\n", "line 2: expected"},
      {"# c\n\nep=a/1 http://h\n", "line 3: URI 'http://h' must start with coap://"},
      {"ep=a/1 coap://h:0\n", "line 1: URI 'coap://h:0' has a bad port"},
      {"ep=a/1 coap://h:70000\n", "bad port"},
      {"ep=a/1 coap://h/5/0\n", "must not carry a path"},
      {"ep=a/1 coap://h_x\n", "bad host character"},
      {"ep=a/1 coap://[::1\n", "unterminated IPv6"},
      {"ep=a/1 coaps://h\n", "needs psk-id and psk-key"},
      {"ep=a/1 coap://h psk-id=x\n", "only make sense with coaps://"},
      {"ep=a/1 coaps://h psk-id=x psk-key=hex:0g\n", "non-hex"},
      {"ep=a/1 coaps://h psk-id=x psk-key=hex:123\n", "even number"},
      {"ep=a/1 coaps://h psk-id=x psk-key=raw\n", "hex:DIGITS or text:SECRET"},
      {"ep=a/1 coap://h format=json\n", "format must be senml-json or tlv"},
      {"ep=a/1 coap://h colour=red\n", "unknown option 'colour'"},
      {"ep=a/1 coap://h format\n", "is not NAME=VALUE"},
      {"a/1 coap://h\n", "line 1: member ID must start with 'ep='"},
      {"ep=a/1 coap://h\nep=b/1 coap://h\nep=a/1 coap://k\n",
       "line 3: member ep=a/1 already on line 1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lmm_member *m = (lmm_member *)0x1;
    size_t n = 99;
    char why[200] = "";
    assert_int_equal(
        lmm_members_parse(cases[i].text, strlen(cases[i].text), &m, &n, why, sizeof why),
        LMM_ERR_ARG);
    if (!strstr(why, cases[i].expect))
      fail_msg("case %zu: '%s' lacks '%s'", i, why, cases[i].expect);
    assert_ptr_equal(m, (lmm_member *)0x1); /* untouched on failure */
    assert_int_equal(n, 99);
  }
  char nul[] = "ep=a/1 coap://h\nep=b/1 co\0ap://h\n";
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_parse(nul, sizeof nul - 1, &m, &n, why, sizeof why), LMM_ERR_ARG);
  assert_non_null(strstr(why, "line 2: contains a NUL"));
}

static void test_load(void **state) {
  (void)state;
  char path[] = "/tmp/lmmt-members-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  /* 10,000 members: a fleet-sized file loads, and the duplicate check stays cheap. */
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < 10000; i++)
    fprintf(f, "ep=dev-%05d/42769 coap://127.1.%d.%d:5683\n", i, i / 250, i % 250 + 1);
  fclose(f);
  lmm_member *m = NULL;
  size_t n = 0;
  char why[200] = "";
  assert_int_equal(lmm_members_load(path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 10000);
  assert_string_equal(m[9999].uri, "coap://127.1.39.250:5683");
  lmm_members_free(m, n);
  unlink(path);
  assert_int_equal(lmm_members_load("/nonexistent/members", &m, &n, why, sizeof why), LMM_ERR_IO);
  assert_non_null(strstr(why, "/nonexistent/members"));
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_member_id),
                                     cmocka_unit_test(test_allows),
                                     cmocka_unit_test(test_parse_good),
                                     cmocka_unit_test(test_parse_bad), cmocka_unit_test(test_load)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
