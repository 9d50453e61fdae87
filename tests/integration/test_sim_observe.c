/* test_sim_observe.c - Observe (RFC 7641) and LwM2M notification attributes in lwm2m-mbms-sim:
 * registration, notifications of writes, firmware state and the clock, pmin / pmax / gt / st,
 * the ways an observation ends, the caps. Over loopback, with a libcoap client, raw UDP (one
 * socket observing two devices) and coap-client-openssl. Write-Attributes: test_sim_attrs.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>

#include "lmmt.h"
#include "lmmt_coap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define C(cls, detail) (((cls) << 5) | (detail))
#define GET            COAP_REQUEST_CODE_GET
#define PUT            COAP_REQUEST_CODE_PUT
#define POST           COAP_REQUEST_CODE_POST
/* A request to device i of fleet s and its expected code (tests/support/lmmt_coap.h). */
#define expect(s, i, method, path, cf, payload, want)                                              \
  assert_true(lmmt_sim_expect((s)->port, i, method, path, cf, -1, payload, want))
#define host_of  lmmt_sim_host
#define instance lmmt_gm_instance
#define RTW      "/42769/0/9" /* Response Time Window: an RW integer to observe */

static lmmt_sim start(const char *const *extra) {
  lmmt_sim s;
  assert_int_equal(lmmt_sim_start(&s, extra), 0);
  return s;
}

static void write_rtw(const lmmt_sim *s, unsigned i, const char *value) {
  expect(s, i, PUT, RTW, LMM_FMT_TEXT, value, C(2, 4));
}

/* An observer: a client session to device i and the token of its registration. */
typedef struct observer {
  lmmt_coap *c;
  uint8_t tok[8];
  size_t tl;
} observer;

/* Registers on `path` (Accept `accept`) from client c, or from a new one when c is NULL, and
 * waits for the answer. */
static observer observe(const lmmt_sim *s, unsigned i, lmmt_coap *c, const char *path, int accept) {
  observer o = {.c = c ? c : lmmt_coap_open(host_of(i), s->port)};
  assert_non_null(o.c);
  lmmt_req r = lmmt_req_make(GET, path);
  r.observe = 0, r.accept = accept;
  assert_int_equal(lmmt_coap_send(o.c, &r, o.tok, &o.tl), 0);
  assert_int_equal(lmmt_coap_wait(o.c, o.tok, o.tl, 1, 5000), 1);
  return o;
}

static size_t count(const observer *o) {
  return lmmt_coap_count(o->c, o->tok, o->tl);
}

static const lmmt_msg *msg(const observer *o, size_t k) {
  const lmmt_msg *m = lmmt_coap_msg(o->c, o->tok, o->tl, k);
  assert_non_null(m);
  return m;
}

/* Waits for the observer's n-th message (1-based), at most ms; fails when it does not come. */
static const lmmt_msg *wait_msg(const observer *o, size_t n, int ms) {
  size_t got = lmmt_coap_wait(o->c, o->tok, o->tl, n, ms);
  if (got < n) fail_msg("%zu messages on the observation, expected %zu", got, n);
  return msg(o, n - 1);
}

static cJSON *stop_stats(lmmt_sim *s) {
  int st;
  char *text = lmmt_sim_stop_stats(s, &st);
  assert_int_equal(st, 0);
  assert_non_null(text);
  cJSON *j = cJSON_Parse(text);
  free(text);
  assert_non_null(j);
  return j;
}

static int jint(const cJSON *j, const char *a, const char *b, const char *c) {
  const cJSON *x = cJSON_GetObjectItem(j, a);
  if (b) x = cJSON_GetObjectItem(x, b);
  if (c) x = cJSON_GetObjectItem(x, c);
  if (!x) fail_msg("no %s.%s.%s in the stats", a, b ? b : "", c ? c : "");
  return x->valueint;
}

/* ------------------------------------------------------------------ registration, writes */

static void test_register_and_notify(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  for (unsigned i = 0; i < 2; i++)
    expect(&s, i, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  /* A plain GET carries no Observe. */
  lmmt_req r = lmmt_req_make(GET, RTW);
  lmmt_msg m;
  assert_int_equal(lmmt_coap_request(host_of(0), s.port, &r, 5000, &m), 0);
  assert_int_equal(m.observe, -1);
  lmmt_msg_free(&m);

  /* A resource, its instance and the object, from one client. */
  observer res = observe(&s, 0, NULL, RTW, LMM_FMT_TEXT);
  observer inst = observe(&s, 0, res.c, "/42769/0", LMM_FMT_SENML_JSON);
  observer obj = observe(&s, 0, res.c, "/42769", LMM_FMT_TLV);
  const lmmt_msg *a = msg(&res, 0);
  assert_int_equal(a->code, C(2, 5));
  assert_int_equal(a->type, COAP_MESSAGE_ACK);
  assert_true(a->observe >= 0);
  assert_int_equal(a->cf, LMM_FMT_TEXT);
  assert_string_equal(a->data, "5");
  assert_true(msg(&inst, 0)->observe >= 0);
  assert_int_equal(msg(&inst, 0)->cf, LMM_FMT_SENML_JSON);
  assert_true(msg(&obj, 0)->observe >= 0);
  assert_int_equal(msg(&obj, 0)->cf, LMM_FMT_TLV);

  /* A write to another device is not notified here; one to this device is, to all three, in
   * the format of each registration: the first notification after it has the new value. */
  write_rtw(&s, 1, "6");
  write_rtw(&s, 0, "7");
  const lmmt_msg *n = wait_msg(&res, 2, 5000);
  assert_int_equal(n->code, C(2, 5));
  assert_int_equal(n->type, COAP_MESSAGE_NON);
  assert_int_equal(n->cf, LMM_FMT_TEXT);
  assert_string_equal(n->data, "7");
  assert_true(n->observe > a->observe);
  n = wait_msg(&inst, 2, 5000);
  assert_int_equal(n->cf, LMM_FMT_SENML_JSON);
  assert_non_null(strstr(n->data, "\"v\":7"));
  n = wait_msg(&obj, 2, 5000);
  assert_int_equal(n->cf, LMM_FMT_TLV);

  /* A new instance changes the object, not the observed instance or resource. */
  expect(&s, 0, POST, "/42769", LMM_FMT_SENML_JSON, instance(4, 1), C(2, 1));
  write_rtw(&s, 0, "8"); /* after the Create: the order of the notifications tells */
  wait_msg(&obj, 4, 5000);
  assert_string_equal(wait_msg(&res, 3, 5000)->data, "8"); /* the device notifies it last */
  assert_int_equal(count(&res), 3);
  assert_int_equal(count(&inst), 3);
  lmm_records recs = {0};
  lmm_path base = {42769, 0, 0, 0, 1};
  lmm_obj_def def;
  lmm_group_mgmt_def(42769, &def);
  const lmmt_msg *created = msg(&obj, 2);
  assert_int_equal(lmm_lwm2m_decode(LMM_FMT_TLV, &base, (const uint8_t *)created->data,
                                    created->len, &def, &recs, NULL, 0),
                   LMM_OK);
  bool has4 = false;
  for (size_t k = 0; k < recs.n; k++)
    has4 = has4 || recs.items[k].path.iid == 4;
  assert_true(has4);
  lmm_records_clear(&recs);
  lmmt_coap_close(res.c);

  cJSON *j = stop_stats(&s);
  assert_int_equal(jint(j, "totals", "observe", "registered"), 3);
  assert_int_equal(jint(j, "totals", "observe", "active"), 3);
  assert_int_equal(jint(j, "totals", "observe", "notifications"), 7);
  const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), 0);
  assert_int_equal(jint(d0, "observe", "active", NULL), 3);
  assert_int_equal(jint(d0, "observe", "notifications", NULL), 7);
  cJSON_Delete(j);
}

/* ------------------------------------------------------------------ pmin, pmax, gt, st */

static void test_pmin_holds_back(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  expect(&s, 0, PUT, RTW "?pmin=3", -1, NULL, C(2, 4));
  observer o = observe(&s, 0, NULL, RTW, LMM_FMT_TEXT);
  /* Two changes at once after the registration: none may be notified before pmin has passed
   * since the registration answer, and then one notification carries the last value. */
  write_rtw(&s, 0, "1");
  write_rtw(&s, 0, "2");
  lmmt_coap_run(o.c, 200);
  assert_int_equal(count(&o), 1);
  const lmmt_msg *n = wait_msg(&o, 2, 8000);
  assert_string_equal(n->data, "2");
  assert_true(n->at - msg(&o, 0)->at >= 1.5); /* it cannot come early, however slow the host */
  /* The value stays: nothing more is sent (a 1 would have come before the 2). */
  lmmt_coap_run(o.c, 300);
  assert_int_equal(count(&o), 2);
  lmmt_coap_close(o.c);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_pmax_without_change(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  /* pmax on the instance is inherited by the resource. */
  expect(&s, 0, PUT, "/42769/0?pmax=1", -1, NULL, C(2, 4));
  observer o = observe(&s, 0, NULL, RTW, LMM_FMT_TEXT);
  wait_msg(&o, 3, 5000);
  for (size_t k = 1; k < 3; k++) {
    const lmmt_msg *n = msg(&o, k);
    assert_int_equal(n->code, C(2, 5));
    assert_string_equal(n->data, "5"); /* the same value, again */
    assert_true(n->observe > msg(&o, k - 1)->observe);
  }
  lmmt_coap_close(o.c);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_gt_and_st(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  expect(&s, 0, PUT, RTW "?gt=10", -1, NULL, C(2, 4));
  observer o = observe(&s, 0, NULL, RTW, LMM_FMT_TEXT);
  /* Only the changes that cross 10 are notified: 5 -> 8 no, -> 12 yes, -> 13 no, -> 9 yes. */
  write_rtw(&s, 0, "8");
  write_rtw(&s, 0, "12");
  write_rtw(&s, 0, "13");
  write_rtw(&s, 0, "9");
  wait_msg(&o, 3, 5000);
  assert_string_equal(msg(&o, 1)->data, "12");
  assert_string_equal(msg(&o, 2)->data, "9");
  lmmt_coap_close(o.c);

  /* st on the moving clock (Current Time, 3/0/13): a notification every 2 seconds of it. */
  expect(&s, 0, PUT, "/3/0/13?st=2", -1, NULL, C(2, 4));
  o = observe(&s, 0, NULL, "/3/0/13", LMM_FMT_TEXT);
  wait_msg(&o, 3, 8000);
  for (size_t k = 1; k < 3; k++)
    assert_true(atol(msg(&o, k)->data) - atol(msg(&o, k - 1)->data) >= 2);
  lmmt_coap_close(o.c);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* ------------------------------------------------------------------ the ends of an observation */

/* A GET on `path` with the observer's token and Observe `observe` (-1: none). */
static void send_with_token(observer *o, const char *path, long observe) {
  lmmt_req r = lmmt_req_make(GET, path);
  uint8_t tok[8];
  size_t tl;
  r.accept = LMM_FMT_TEXT, r.observe = observe;
  r.tok = o->tok, r.tok_len = o->tl;
  assert_int_equal(lmmt_coap_send(o->c, &r, tok, &tl), 0);
}

static int cancelled(const cJSON *j, const char *why) {
  const cJSON *c = cJSON_GetObjectItem(
      cJSON_GetObjectItem(cJSON_GetObjectItem(j, "totals"), "observe"), "cancelled");
  return jint(c, why, NULL, NULL);
}

static void test_cancel(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  observer dereg = observe(&s, 0, NULL, RTW, LMM_FMT_TEXT);
  observer plain = observe(&s, 0, dereg.c, RTW, LMM_FMT_TEXT);
  observer reset = observe(&s, 0, dereg.c, RTW, LMM_FMT_TEXT);
  observer keep = observe(&s, 0, dereg.c, RTW, LMM_FMT_TEXT);
  /* Observe 1 with the token, and a GET without Observe with the token: plain answers. */
  send_with_token(&dereg, RTW, 1);
  send_with_token(&plain, RTW, -1);
  assert_int_equal(wait_msg(&dereg, 2, 5000)->observe, -1);
  assert_int_equal(wait_msg(&plain, 2, 5000)->observe, -1);
  /* The client forgot the third: it answers the next notification with a Reset. */
  lmmt_coap_reject(reset.c, reset.tok, reset.tl);
  write_rtw(&s, 0, "11");
  assert_string_equal(wait_msg(&keep, 2, 5000)->data, "11");
  assert_string_equal(wait_msg(&reset, 2, 5000)->data, "11");
  write_rtw(&s, 0, "12");
  assert_string_equal(wait_msg(&keep, 3, 5000)->data, "12");
  assert_int_equal(count(&dereg), 2);
  assert_int_equal(count(&plain), 2);
  assert_int_equal(count(&reset), 2);
  lmmt_coap_close(dereg.c);
  cJSON *j = stop_stats(&s);
  assert_int_equal(jint(j, "totals", "observe", "active"), 1);
  assert_int_equal(cancelled(j, "deregister"), 1);
  assert_int_equal(cancelled(j, "get"), 1);
  assert_int_equal(cancelled(j, "reset"), 1);
  cJSON_Delete(j);

  /* Every notification CON: a Reset to one of those ends its observation too (libcoap's
   * NACK), and an acknowledged one keeps it. */
  s = start((const char *[]){"--count", "1", "--notify-con-every", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  reset = observe(&s, 0, NULL, RTW, LMM_FMT_TEXT);
  keep = observe(&s, 0, reset.c, RTW, LMM_FMT_TEXT);
  lmmt_coap_reject(reset.c, reset.tok, reset.tl);
  write_rtw(&s, 0, "21");
  assert_int_equal(wait_msg(&keep, 2, 5000)->type, COAP_MESSAGE_CON);
  assert_int_equal(wait_msg(&reset, 2, 5000)->type, COAP_MESSAGE_CON);
  lmmt_coap_run(reset.c, 200); /* the Reset and the ACK leave */
  write_rtw(&s, 0, "22");
  assert_string_equal(wait_msg(&keep, 3, 5000)->data, "22");
  lmmt_coap_run(keep.c, 200);
  assert_int_equal(count(&reset), 2);
  lmmt_coap_close(reset.c);
  j = stop_stats(&s);
  assert_int_equal(cancelled(j, "reset"), 1);
  assert_int_equal(jint(j, "totals", "observe", "con"), 3);
  assert_int_equal(jint(j, "totals", "observe", "active"), 1);
  cJSON_Delete(j);
}

static void test_deleted_instance_ends_it(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  observer o = observe(&s, 0, NULL, "/42769/0", LMM_FMT_SENML_JSON);
  expect(&s, 0, COAP_REQUEST_CODE_DELETE, "/42769/0", -1, NULL, C(2, 2));
  const lmmt_msg *n = wait_msg(&o, 2, 5000);
  assert_int_equal(n->code, C(4, 4)); /* RFC 7641 4.2: an error, without Observe, ends it */
  assert_int_equal(n->observe, -1);
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 6), C(2, 4));
  lmmt_coap_run(o.c, 300);
  assert_int_equal(count(&o), 2);
  lmmt_coap_close(o.c);
  cJSON *j = stop_stats(&s);
  assert_int_equal(jint(j, "totals", "observe", "active"), 0);
  cJSON_Delete(j);
}

/* ------------------------------------------------------------------ caps */

static void test_caps(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", "--max-observations", "3", NULL});
  observer a = observe(&s, 0, NULL, "/3/0/0", LMM_FMT_TEXT);
  observer b = observe(&s, 0, a.c, "/3/0/1", LMM_FMT_TEXT);
  observer c = observe(&s, 0, a.c, "/3/0/2", LMM_FMT_TEXT);
  observer d = observe(&s, 1, NULL, "/3/0/0", LMM_FMT_TEXT);
  assert_true(msg(&a, 0)->observe >= 0 && msg(&b, 0)->observe >= 0 && msg(&c, 0)->observe >= 0);
  /* The fourth, fleet-wide, falls back to a plain Read (RFC 7641 4.1). */
  assert_int_equal(msg(&d, 0)->code, C(2, 5));
  assert_string_equal(msg(&d, 0)->data, "lwm2m-mbms");
  assert_int_equal(msg(&d, 0)->observe, -1);
  lmmt_coap_close(a.c);
  lmmt_coap_close(d.c);
  cJSON *j = stop_stats(&s);
  assert_int_equal(jint(j, "totals", "observe", "registered"), 3);
  assert_int_equal(jint(j, "totals", "observe", "refused"), 1);
  cJSON_Delete(j);

  /* 16 per device; one ended makes room again. */
  s = start((const char *[]){"--count", "1", NULL});
  observer o[17];
  lmmt_coap *cl = NULL;
  for (int k = 0; k < 17; k++) {
    o[k] = observe(&s, 0, cl, "/3/0/13", LMM_FMT_TEXT);
    cl = o[k].c;
    if ((k < 16) != (msg(&o[k], 0)->observe >= 0))
      fail_msg("registration %d: Observe %ld", k + 1, msg(&o[k], 0)->observe);
  }
  send_with_token(&o[0], "/3/0/13", 1);
  wait_msg(&o[0], 2, 5000);
  observer again = observe(&s, 0, cl, "/3/0/13", LMM_FMT_TEXT);
  assert_true(msg(&again, 0)->observe >= 0);
  lmmt_coap_close(cl);
  assert_int_equal(lmmt_sim_stop(&s), 0);

  /* None at all: every Observe is a plain Read. */
  s = start((const char *[]){"--count", "1", "--max-observations", "0", NULL});
  a = observe(&s, 0, NULL, "/3/0/0", LMM_FMT_TEXT);
  assert_int_equal(msg(&a, 0)->code, C(2, 5));
  assert_int_equal(msg(&a, 0)->observe, -1);
  lmmt_coap_close(a.c);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* ------------------------------------------------------------------ firmware, the clock */

static void test_firmware_state(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", "--update-ms", "300", NULL});
  observer st = observe(&s, 0, NULL, "/5/0/3", LMM_FMT_TEXT);
  observer res = observe(&s, 0, st.c, "/5/0/5", LMM_FMT_TEXT);
  assert_string_equal(msg(&st, 0)->data, "0");
  expect(&s, 0, PUT, "/5/0/0", LMM_FMT_OPAQUE, "package", C(2, 4));
  assert_string_equal(wait_msg(&st, 2, 5000)->data, "2");
  expect(&s, 0, POST, "/5/0/2", -1, NULL, C(2, 4));
  assert_string_equal(wait_msg(&st, 3, 5000)->data, "3");
  /* The update ends by time alone, with no request to the device: the loop notifies it. */
  assert_string_equal(wait_msg(&st, 4, 5000)->data, "0");
  assert_string_equal(wait_msg(&res, 2, 5000)->data, "1");
  assert_int_equal(count(&res), 2); /* 0 until the end of the update */
  lmmt_coap_close(st.c);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* Debian's coap-client observes Current Time, which moves with the clock. */
static void test_clock_with_coap_client(void **state) {
  (void)state;
  if (access("/usr/bin/coap-client-openssl", X_OK) != 0) {
    fail_msg("coap-client-openssl is missing: scripts/install-deps installs libcoap3-bin");
  }
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  char cmd[256];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/coap-client-openssl -B 10 -s 5 -m get -A 0 coap://%s:%d/3/0/13 2>/dev/null",
           host_of(0), s.port);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char out[512];
  size_t n = fread(out, 1, sizeof out - 1, p);
  pclose(p);
  while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
    n--;
  out[n] = 0;
  /* coap-client prints every payload as it comes, 10 digits each, one after the other. It
   * observes for 5 s and at least three must come: on a loaded machine the first is late. */
  if (n < 30 || n % 10) fail_msg("coap-client printed '%s'", out);
  for (size_t k = 10; k < n; k += 10) {
    char a[11], b[11];
    memcpy(a, out + k - 10, 10), memcpy(b, out + k, 10);
    a[10] = b[10] = 0;
    /* one a second, none skipped: the device once read the clock with time(), which lags the
     * clock its schedule follows, and notified every other second only */
    if (atol(b) != atol(a) + 1) fail_msg("Current Time %s after %s", b, a);
  }
  cJSON *j = stop_stats(&s);
  assert_int_equal(jint(j, "totals", "observe", "registered"), 1);
  assert_int_equal(cancelled(j, "deregister"), 1); /* coap-client ends with Observe 1 */
  cJSON_Delete(j);
}

/* ------------------------------------------------------------------ one socket, two devices */

/* A CON GET with Observe 0, a 4-byte token and Accept: text. */
static size_t raw_observe(uint8_t *b, uint16_t mid, uint32_t tok, const char *path) {
  size_t n = 0;
  unsigned last = 6;
  b[n++] = 0x44, b[n++] = 0x01, b[n++] = (uint8_t)(mid >> 8), b[n++] = (uint8_t)mid;
  for (int k = 3; k >= 0; k--)
    b[n++] = (uint8_t)(tok >> (8 * k));
  b[n++] = 0x60; /* Observe (6), empty: 0 */
  for (const char *p = path; *p;) {
    p += *p == '/';
    const char *e = strchr(p, '/');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    b[n++] = (uint8_t)(((11 - last) << 4) | l);
    memcpy(b + n, p, l);
    n += l, p += l, last = 11;
  }
  b[n++] = 0x60; /* Accept (17), empty: 0 */
  return n;
}

static ssize_t raw_recv(int fd, uint8_t *b, size_t cap, int ms, char *from) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0) return -1;
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  ssize_t n = recvfrom(fd, b, cap, 0, (struct sockaddr *)&a, &al);
  inet_ntop(AF_INET, &a.sin_addr, from, INET_ADDRSTRLEN);
  return n;
}

static void raw_send(int fd, const char *host, int port, const uint8_t *b, size_t n) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  assert_int_equal(sendto(fd, b, n, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)n);
}

static uint32_t tok_of(const uint8_t *b) {
  return (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
}

static void test_one_socket_two_devices(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  for (unsigned i = 0; i < 2; i++)
    expect(&s, i, PUT, "/42769/0", LMM_FMT_SENML_JSON, instance(0, 5), C(2, 4));
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  uint8_t b[256];
  char from[INET_ADDRSTRLEN];
  for (unsigned i = 0; i < 2; i++) {
    size_t n = raw_observe(b, (uint16_t)(0x100 + i), 0xabc00 + i, RTW);
    raw_send(fd, host_of(i), s.port, b, n);
    ssize_t got = raw_recv(fd, b, sizeof b, 5000, from);
    assert_true(got > 8);
    assert_int_equal(b[0] >> 4 & 3, 2); /* ACK */
    assert_int_equal(b[1], C(2, 5));
    assert_string_equal(from, host_of(i));
  }
  /* Each notification comes from its device's own address, with that observation's token,
   * although libcoap keeps one session for this socket. */
  for (int round = 0; round < 2; round++)
    for (unsigned i = 0; i < 2; i++) {
      write_rtw(&s, 1 - i, round ? "31" : "30");
      ssize_t got = raw_recv(fd, b, sizeof b, 5000, from);
      assert_true(got > 8);
      assert_int_equal(b[0] >> 4 & 3, 1); /* NON */
      assert_string_equal(from, host_of(1 - i));
      assert_int_equal(tok_of(b), 0xabc00 + (1 - i));
      if (round == 1 && i == 0) { /* a Reset to device 1's notification ends that one */
        uint8_t rst[4] = {0x70, 0x00, b[2], b[3]};
        raw_send(fd, host_of(1), s.port, rst, sizeof rst);
      }
    }
  /* Device 1 now notifies nothing; device 0 still does, and its notification is the next
   * datagram. */
  write_rtw(&s, 1, "32");
  write_rtw(&s, 0, "32");
  ssize_t got = raw_recv(fd, b, sizeof b, 5000, from);
  assert_true(got > 8);
  assert_string_equal(from, host_of(0));
  assert_int_equal(tok_of(b), 0xabc00);
  close(fd);
  cJSON *j = stop_stats(&s);
  assert_int_equal(cancelled(j, "reset"), 1);
  assert_int_equal(jint(j, "totals", "observe", "active"), 1);
  cJSON_Delete(j);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_and_notify),
      cmocka_unit_test(test_pmin_holds_back),
      cmocka_unit_test(test_pmax_without_change),
      cmocka_unit_test(test_gt_and_st),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_deleted_instance_ends_it),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_firmware_state),
      cmocka_unit_test(test_clock_with_coap_client),
      cmocka_unit_test(test_one_socket_two_devices),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
