/* test_sim_attrs.c - Write-Attributes in lwm2m-mbms-sim (LwM2M 1.1 <NOTIFICATION> attributes):
 * what is refused and why, what is stored per level, unset and dropped with its instance, and how
 * Discover shows it, inherited included. Over loopback with a libcoap client. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "lmmt.h"
#include "lmmt_coap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define C(cls, detail) (((cls) << 5) | (detail))
#define GET            COAP_REQUEST_CODE_GET
#define PUT            COAP_REQUEST_CODE_PUT
/* A request to device i of fleet s and its expected code (tests/support/lmmt_coap.h). */
#define expect(s, i, method, path, cf, payload, want)                                              \
  assert_true(lmmt_sim_expect((s)->port, i, method, path, cf, -1, payload, want))
#define host_of  lmmt_sim_host
#define instance lmmt_gm_instance
#define RTW      "/42769/0/9" /* Response Time Window: an RW integer resource */

static lmmt_sim start(const char *const *extra) {
  lmmt_sim s;
  assert_int_equal(lmmt_sim_start(&s, extra), 0);
  return s;
}

static void expect_links(const lmmt_sim *s, const char *path, const char *want) {
  lmmt_req r = lmmt_req_make(GET, path);
  lmmt_msg m;
  r.accept = LMM_FMT_LINK;
  assert_int_equal(lmmt_coap_request(host_of(0), s->port, &r, 5000, &m), 0);
  assert_int_equal(m.code, C(2, 5));
  if (strcmp(m.data, want) != 0) fail_msg("Discover %s:\n  got  %s\n  want %s", path, m.data, want);
  lmmt_msg_free(&m);
}

static void test_write_attributes(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  /* Refused, each with its reason, and nothing stored. */
  static const struct {
    const char *path, *why;
    int code;
  } bad[] = {
      {RTW "?pmin=x", "bad value", C(4, 0)},
      {RTW "?pmin=-1", "bad value", C(4, 0)},
      {RTW "?foo=1", "unknown attribute 'foo'", C(4, 0)},
      {RTW "?epmin=1", "unknown attribute 'epmin'", C(4, 0)},
      {RTW "?st=-1", "bad value", C(4, 0)},
      {RTW "?gt=1&lt=5", "lt + 2 st", C(4, 0)},
      {RTW "?lt=1&gt=4&st=2", "lt + 2 st", C(4, 0)},
      {"/42769/0?gt=1", "single numeric resource", C(4, 0)},
      {"/3/0/0?gt=1", "single numeric resource", C(4, 0)},
      {"/42769/0/6?st=1", "single numeric resource", C(4, 0)},
      {"/42769/0/6/0?pmin=1", "resource instance", C(4, 0)},
      {"/42769/0/77?pmin=1", "no resource 77", C(4, 4)},
      {"/42769/1?pmin=1", "no instance", C(4, 4)},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    char diag[256];
    int code = lmmt_sim_code(s.port, 0, PUT, bad[k].path, -1, -1, NULL, diag, sizeof diag);
    if (code != bad[k].code || !strstr(diag, bad[k].why))
      fail_msg("%s: %d.%02d '%s'", bad[k].path, code >> 5, code & 31, diag);
  }
  expect_links(&s, "/42769", "</42769>;ver=1.0,</42769/0>,</42769/0/0>,</42769/0/5>,</42769/0/9>");
  /* Each level keeps its own; a resource's Discover shows what it inherits. */
  expect(&s, 0, PUT, "/42769?pmin=10", -1, NULL, C(2, 4));
  expect(&s, 0, PUT, "/42769/0?pmax=60", -1, NULL, C(2, 4));
  expect(&s, 0, PUT, RTW "?gt=50&lt=42.2&pmin=2", -1, NULL, C(2, 4));
  expect_links(&s, "/42769",
               "</42769>;ver=1.0;pmin=10,</42769/0>;pmax=60,</42769/0/0>,</42769/0/5>,"
               "</42769/0/9>;pmin=2;gt=50;lt=42.2");
  expect_links(&s, "/42769/0",
               "</42769/0>;pmax=60,</42769/0/0>,</42769/0/5>,</42769/0/9>;pmin=2;gt=50;lt=42.2");
  expect_links(&s, RTW, "</42769/0/9>;pmin=2;pmax=60;gt=50;lt=42.2");
  expect_links(&s, "/42769/0/0", "</42769/0/0>;pmin=10;pmax=60");
  /* A name without a value unsets it; a later write adds to what is there. */
  expect(&s, 0, PUT, RTW "?pmin&lt", -1, NULL, C(2, 4));
  expect(&s, 0, PUT, RTW "?st=0.5", -1, NULL, C(2, 4));
  expect_links(&s, RTW, "</42769/0/9>;pmin=10;pmax=60;gt=50;st=0.5");
  /* The instance's attributes go with it. */
  expect(&s, 0, COAP_REQUEST_CODE_DELETE, "/42769/0", -1, NULL, C(2, 2));
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  expect_links(&s, "/42769",
               "</42769>;ver=1.0;pmin=10,</42769/0>,</42769/0/0>,</42769/0/5>,</42769/0/9>");
  /* Write-Attributes on the Package is no empty Package: the download stays. */
  expect(&s, 0, PUT, "/5/0/0", LMM_FMT_OPAQUE, "package", C(2, 4));
  expect(&s, 0, PUT, "/5/0/0?pmin=1", -1, NULL, C(2, 4));
  char v[64];
  lmmt_req r = lmmt_req_make(GET, "/5/0/3");
  lmmt_msg m;
  assert_int_equal(lmmt_coap_request(host_of(0), s.port, &r, 5000, &m), 0);
  snprintf(v, sizeof v, "%s", m.data);
  lmmt_msg_free(&m);
  assert_string_equal(v, "2");
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_attributes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
