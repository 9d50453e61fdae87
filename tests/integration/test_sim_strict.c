/* test_sim_strict.c - lwm2m-mbms-sim behaving like a strict sample LwM2M client: Reads without
 * Accept refused, a restricted set of content formats, devices without the Group Mgmt object,
 * firmware that never reports success; and Discover on an object (LwM2M 1.1). Each flag is
 * checked with and without it, over loopback with a libcoap client. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lmmt_coap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define C(cls, detail) (((cls) << 5) | (detail))
#define GET            COAP_REQUEST_CODE_GET
#define PUT            COAP_REQUEST_CODE_PUT
#define POST           COAP_REQUEST_CODE_POST

/* A Group Mgmt instance with its mandatory resources only. */
#define GM_INSTANCE "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"g\"},{\"n\":\"5\",\"vs\":\"e\"}]"

static lmmt_sim start(const char *const *extra) {
  lmmt_sim s;
  assert_int_equal(lmmt_sim_start(&s, extra), 0);
  return s;
}

/* One request to device i; fails the test when nothing answers. */
static lmmt_msg rq(const lmmt_sim *s, unsigned i, int method, const char *path, int cf, int accept,
                   const char *payload) {
  lmmt_req r = lmmt_req_make(method, path);
  lmmt_msg m;
  r.cf = cf, r.accept = accept;
  if (payload) r.payload = payload, r.len = strlen(payload);
  if (lmmt_coap_request(lmmt_sim_host(i), s->port, &r, 5000, &m) != 0)
    fail_msg("no answer from device %u to %s", i, path);
  return m;
}

/* A request's answer code, and a check of it (tests/support/lmmt_coap.h). */
#define code_of(s, i, method, path, cf, accept, payload)                                           \
  lmmt_sim_code((s)->port, i, method, path, cf, accept, payload, NULL, 0)
#define expect(s, i, method, path, cf, accept, payload, want)                                      \
  assert_true(lmmt_sim_expect((s)->port, i, method, path, cf, accept, payload, want))

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

/* Runs the simulator with `args` only to see it refuse them: exit 2 and one line. */
static void expect_usage_error(const char *const *args, const char *needle) {
  lmmt_sim s;
  if (lmmt_sim_start(&s, args) == 0) {
    lmmt_sim_stop(&s);
    fail_msg("'%s %s' was accepted", args[0], args[1] ? args[1] : "");
  }
  /* lmmt_sim_start() saw it exit; its stderr says why. */
  char path[160];
  snprintf(path, sizeof path, "%s/stderr", s.dir);
  char *err = lmmt_read_file(path, NULL);
  assert_non_null(err);
  if (!strstr(err, needle)) fail_msg("stderr does not say '%s': %s", needle, err);
  assert_non_null(strstr(err, "Try 'lwm2m-mbms-sim --help'."));
  free(err);
  lmmt_sim_stop(&s);
}

/* ------------------------------------------------------------------ --require-accept */

static void test_require_accept(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", "--require-accept", NULL});
  /* No Accept: 5.00 with a reason, for a resource, an instance and an observation alike. */
  lmmt_msg m = rq(&s, 0, GET, "/3/0/0", -1, -1, NULL);
  assert_int_equal(m.code, C(5, 0));
  assert_non_null(strstr(m.data, "Accept"));
  lmmt_msg_free(&m);
  expect(&s, 1, GET, "/3/0", -1, -1, NULL, C(5, 0));
  lmmt_req r = lmmt_req_make(GET, "/3/0/13");
  r.observe = 0;
  assert_int_equal(lmmt_coap_request(lmmt_sim_host(0), s.port, &r, 5000, &m), 0);
  assert_int_equal(m.code, C(5, 0));
  assert_int_equal(m.observe, -1);
  lmmt_msg_free(&m);
  /* With Accept it reads; Discover carries Accept: application/link-format. */
  m = rq(&s, 0, GET, "/3/0/0", -1, LMM_FMT_TEXT, NULL);
  assert_int_equal(m.code, C(2, 5));
  assert_string_equal(m.data, "lwm2m-mbms");
  lmmt_msg_free(&m);
  expect(&s, 0, GET, "/3/0", -1, LMM_FMT_SENML_JSON, NULL, C(2, 5));
  expect(&s, 0, GET, "/3", -1, LMM_FMT_LINK, NULL, C(2, 5));
  /* Writes need no Accept. */
  expect(&s, 0, PUT, "/3/0/13", LMM_FMT_TEXT, -1, "1700000000", C(2, 4));
  cJSON *j = stop_stats(&s);
  assert_int_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "totals"), "responses"), "5xx")
          ->valueint,
      3);
  cJSON_Delete(j);

  /* Without the flag a Read without Accept answers in the device's default format. */
  s = start((const char *[]){"--count", "1", NULL});
  m = rq(&s, 0, GET, "/3/0/0", -1, -1, NULL);
  assert_int_equal(m.code, C(2, 5));
  assert_int_equal(m.cf, LMM_FMT_TEXT);
  assert_string_equal(m.data, "lwm2m-mbms");
  lmmt_msg_free(&m);
  m = rq(&s, 0, GET, "/3/0", -1, -1, NULL);
  assert_int_equal(m.code, C(2, 5));
  assert_int_equal(m.cf, LMM_FMT_SENML_JSON);
  lmmt_msg_free(&m);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* ------------------------------------------------------------------ --formats */

/* A Group Mgmt instance with its mandatory resources, in TLV. */
static char *gm_tlv(size_t *len) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  uint8_t *b;
  g.group_id = "g";
  g.external_group_id = "e";
  assert_int_equal(lmm_group_mgmt_encode(&g, LMM_GROUP_MGMT_OID, 0, LMM_FMT_TLV, &b, len), LMM_OK);
  char *copy = malloc(*len + 1);
  memcpy(copy, b, *len);
  copy[*len] = 0;
  lmm_free(b);
  return copy;
}

static void test_formats(void **state) {
  (void)state;
  size_t tlv_len;
  char *tlv = gm_tlv(&tlv_len);
  lmmt_sim s = start((const char *[]){"--count", "2", "--formats", "tlv,text,opaque", NULL});
  /* Reads: a format left out is Not Acceptable; without Accept the device answers in one it has. */
  expect(&s, 0, GET, "/3/0", -1, LMM_FMT_SENML_JSON, NULL, C(4, 6));
  expect(&s, 0, GET, "/3", -1, LMM_FMT_LINK, NULL, C(4, 6));
  lmmt_msg m = rq(&s, 0, GET, "/3/0", -1, LMM_FMT_TLV, NULL);
  assert_int_equal(m.code, C(2, 5));
  assert_int_equal(m.cf, LMM_FMT_TLV);
  lmmt_msg_free(&m);
  m = rq(&s, 0, GET, "/3/0", -1, -1, NULL);
  assert_int_equal(m.code, C(2, 5));
  assert_int_equal(m.cf, LMM_FMT_TLV);
  lmmt_msg_free(&m);
  m = rq(&s, 1, GET, "/3/0/0", -1, -1, NULL);
  assert_int_equal(m.cf, LMM_FMT_TEXT);
  lmmt_msg_free(&m);
  /* Writes: SenML-JSON is Unsupported Content-Format, TLV and text are taken. */
  lmmt_req w = lmmt_req_make(PUT, "/42769/0");
  w.cf = LMM_FMT_SENML_JSON, w.payload = GM_INSTANCE, w.len = strlen(GM_INSTANCE);
  assert_int_equal(lmmt_coap_request(lmmt_sim_host(0), s.port, &w, 5000, &m), 0);
  assert_int_equal(m.code, C(4, 15));
  assert_non_null(strstr(m.data, "110"));
  lmmt_msg_free(&m);
  w.cf = LMM_FMT_TLV, w.payload = tlv, w.len = tlv_len;
  assert_int_equal(lmmt_coap_request(lmmt_sim_host(0), s.port, &w, 5000, &m), 0);
  assert_int_equal(m.code, C(2, 4));
  lmmt_msg_free(&m);
  expect(&s, 0, PUT, "/3/0/13", LMM_FMT_TEXT, -1, "1700000000", C(2, 4));
  expect(&s, 0, PUT, "/5/0/0", LMM_FMT_OPAQUE, -1, "package", C(2, 4));
  assert_int_equal(lmmt_sim_stop(&s), 0);

  /* Neither text nor opaque: a single value comes in SenML-JSON, text and a Package are refused. */
  s = start((const char *[]){"--count", "1", "--formats", "senml-json,link", NULL});
  expect(&s, 0, GET, "/3/0/0", -1, LMM_FMT_TEXT, NULL, C(4, 6));
  expect(&s, 0, GET, "/3/0", -1, LMM_FMT_TLV, NULL, C(4, 6));
  m = rq(&s, 0, GET, "/3/0/0", -1, -1, NULL);
  assert_int_equal(m.code, C(2, 5));
  assert_int_equal(m.cf, LMM_FMT_SENML_JSON);
  lmmt_msg_free(&m);
  expect(&s, 0, GET, "/3", -1, LMM_FMT_LINK, NULL, C(2, 5));
  expect(&s, 0, PUT, "/3/0/13", LMM_FMT_TEXT, -1, "1700000000", C(4, 15));
  expect(&s, 0, PUT, "/3/0/13", -1, -1, "1700000000", C(4, 15));
  expect(&s, 0, PUT, "/5/0/0", LMM_FMT_OPAQUE, -1, "package", C(4, 15));
  expect(&s, 0, PUT, "/5/0/0", -1, -1, "package", C(4, 15));
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, GM_INSTANCE, C(2, 4));
  assert_int_equal(lmmt_sim_stop(&s), 0);

  /* With --tlv-every the LwM2M 1.0 devices keep to TLV within the list. */
  s = start(
      (const char *[]){"--count", "2", "--tlv-every", "2", "--formats", "tlv,senml-json", NULL});
  expect(&s, 0, GET, "/3/0", -1, LMM_FMT_SENML_JSON, NULL, C(2, 5));
  expect(&s, 1, GET, "/3/0", -1, LMM_FMT_SENML_JSON, NULL, C(4, 6));
  expect(&s, 1, GET, "/3/0", -1, LMM_FMT_TLV, NULL, C(2, 5));
  expect(&s, 0, GET, "/3/0/0", -1, LMM_FMT_TEXT, NULL, C(4, 6));
  assert_int_equal(lmmt_sim_stop(&s), 0);

  /* The default: every format. */
  s = start((const char *[]){"--count", "1", NULL});
  expect(&s, 0, GET, "/3/0", -1, LMM_FMT_SENML_JSON, NULL, C(2, 5));
  expect(&s, 0, GET, "/3/0", -1, LMM_FMT_TLV, NULL, C(2, 5));
  expect(&s, 0, GET, "/3/0/0", -1, LMM_FMT_TEXT, NULL, C(2, 5));
  expect(&s, 0, GET, "/3", -1, LMM_FMT_LINK, NULL, C(2, 5));
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, GM_INSTANCE, C(2, 4));
  expect(&s, 0, PUT, "/5/0/0", -1, -1, "package", C(2, 4));
  assert_int_equal(lmmt_sim_stop(&s), 0);
  free(tlv);

  expect_usage_error((const char *[]){"--formats", "tlv,cbor", NULL}, "--formats: expected");
  expect_usage_error((const char *[]){"--formats", "", NULL}, "--formats: expected");
  expect_usage_error((const char *[]){"--formats", "tlv,", NULL}, "--formats: expected");
  expect_usage_error((const char *[]){"--formats", "text,link", NULL}, "neither tlv nor senml");
  expect_usage_error((const char *[]){"--formats", "senml-json", "--tlv-every", "3", NULL},
                     "--tlv-every");
}

/* ------------------------------------------------------------------ --no-group-mgmt */

#define NG_TMGI   "0b0c0d00101"
#define NG_BEARER "239.11.12.13" /* of service id 0b0c0d */

/* A UDP socket on 127.0.0.1 with an ephemeral port (into *port). */
static int udp_bound(int *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t al = sizeof a;
  assert_true(fd >= 0);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* Whether the n bytes at b hold the text s. */
static bool contains(const uint8_t *b, size_t n, const char *s) {
  size_t l = strlen(s);
  for (size_t k = 0; k + l <= n; k++)
    if (memcmp(b + k, s, l) == 0) return true;
  return false;
}

/* Sends a NON GET /3/0/0 with an 8-byte token to the bearer group on loopback. */
static void group_get(int mport) {
  uint8_t m[32];
  size_t n = 0;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct in_addr ifa;
  unsigned char loop = 1;
  inet_pton(AF_INET, "127.0.0.1", &ifa);
  assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa), 0);
  assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop), 0);
  m[n++] = 0x58, m[n++] = 0x01, m[n++] = 0x77, m[n++] = 0x01; /* NON GET, TKL 8 */
  memcpy(m + n, "\x11\x22\x33\x44\x55\x66\x77\x88", 8), n += 8;
  m[n++] = 0xb1, m[n++] = '3', m[n++] = 0x01, m[n++] = '0', m[n++] = 0x01, m[n++] = '0';
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mport)};
  inet_pton(AF_INET, NG_BEARER, &a.sin_addr);
  assert_int_equal(sendto(fd, m, n, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)n);
  close(fd);
}

static const cJSON *jpath(const cJSON *j, const char *a, const char *b, const char *c) {
  const cJSON *x = cJSON_GetObjectItem(j, a);
  if (b) x = cJSON_GetObjectItem(x, b);
  if (c) x = cJSON_GetObjectItem(x, c);
  assert_non_null(x);
  return x;
}

static void test_no_group_mgmt(void **state) {
  (void)state;
  int aport, mport = lmmt_random_port();
  int afd = udp_bound(&aport);
  char inst[512];
  snprintf(inst, sizeof inst,
           "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"g\"},{\"n\":\"5\",\"vs\":\"e\"},"
           "{\"n\":\"6/0\",\"vs\":\"" NG_TMGI "\"},{\"n\":\"10\",\"v\":%d},"
           "{\"n\":\"11\",\"vs\":\"coap://127.0.0.1:%d/a\"}]",
           mport, aport);
  lmmt_sim s = start((const char *[]){"--count", "3", "--no-group-mgmt", "1", NULL});
  /* Device 1 has no object 42769: whatever is asked of it is Not Found. */
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, inst, C(2, 4));
  expect(&s, 2, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, inst, C(2, 4));
  lmmt_msg m = rq(&s, 1, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, inst);
  assert_int_equal(m.code, C(4, 4));
  assert_string_equal(m.data, "no object 42769");
  lmmt_msg_free(&m);
  expect(&s, 1, POST, "/42769", LMM_FMT_SENML_JSON, -1, inst, C(4, 4));
  expect(&s, 1, GET, "/42769", -1, LMM_FMT_SENML_JSON, NULL, C(4, 4));
  expect(&s, 1, GET, "/42769", -1, LMM_FMT_LINK, NULL, C(4, 4));
  expect(&s, 1, GET, "/42769/0/0", -1, -1, NULL, C(4, 4));
  expect(&s, 1, COAP_REQUEST_CODE_DELETE, "/42769/0", -1, -1, NULL, C(4, 4));
  expect(&s, 1, PUT, "/42769/0?pmin=1", -1, -1, NULL, C(4, 4));
  /* Its other objects are as on any device. */
  expect(&s, 1, GET, "/3/0/0", -1, -1, NULL, C(2, 5));
  expect(&s, 0, GET, "/42769", -1, LMM_FMT_LINK, NULL, C(2, 5));

  /* A group request reaches the two members, not device 1: it never joined. */
  group_get(mport);
  bool seen[3] = {false};
  uint8_t buf[2048];
  for (int k = 0; k < 50 && !(seen[0] && seen[2]); k++) {
    ssize_t n = lmmt_recv(afd, buf, sizeof buf - 1, 100);
    if (n <= 0) continue;
    buf[n] = 0;
    for (unsigned i = 0; i < 3; i++) {
      char ep[16];
      snprintf(ep, sizeof ep, "ep=dev-%04u", i);
      if (contains(buf, (size_t)n, ep)) seen[i] = true;
    }
  }
  assert_true(seen[0] && seen[2]);
  cJSON *j = stop_stats(&s);
  const cJSON *devs = cJSON_GetObjectItem(j, "devices");
  for (int i = 0; i < 3; i++) {
    const cJSON *d = cJSON_GetArrayItem(devs, i);
    assert_int_equal(jpath(d, "group", "received", NULL)->valueint, i == 1 ? 0 : 1);
    assert_int_equal(cJSON_GetArraySize(jpath(d, "group_mgmt_instances", NULL, NULL)),
                     i == 1 ? 0 : 1);
  }
  assert_int_equal(jpath(j, "totals", "group", "sockets")->valueint, 1);
  cJSON_Delete(j);
  close(afd);

  /* Without the flag every device has the object. */
  s = start((const char *[]){"--count", "2", NULL});
  expect(&s, 1, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, GM_INSTANCE, C(2, 4));
  expect(&s, 1, GET, "/42769", -1, LMM_FMT_LINK, NULL, C(2, 5));
  assert_int_equal(lmmt_sim_stop(&s), 0);
  expect_usage_error((const char *[]){"--count", "3", "--no-group-mgmt", "3", NULL},
                     "--no-group-mgmt: device 3 is not in the fleet");
  expect_usage_error((const char *[]){"--no-group-mgmt", "a", NULL}, "--no-group-mgmt: expected");
}

/* ------------------------------------------------------------------ --fw-no-success */

/* The text value of a resource of device i. */
static char *read_text(const lmmt_sim *s, unsigned i, const char *path) {
  lmmt_msg m = rq(s, i, GET, path, -1, LMM_FMT_TEXT, NULL);
  if (m.code != C(2, 5)) fail_msg("device %u %s: %d.%02d", i, path, m.code >> 5, m.code & 31);
  char *v = m.data;
  m.data = NULL;
  lmmt_msg_free(&m);
  return v;
}

static void expect_text(const lmmt_sim *s, unsigned i, const char *path, const char *want) {
  char *v = read_text(s, i, path);
  if (strcmp(v, want) != 0) fail_msg("device %u %s is '%s', expected '%s'", i, path, v, want);
  free(v);
}

static void test_fw_no_success(void **state) {
  (void)state;
  static const char pkg[] = "firmware image 2";
  uint8_t h[32];
  char sha[65];
  mbedtls_sha256_ret((const unsigned char *)pkg, strlen(pkg), h, 0);
  for (int k = 0; k < 32; k++)
    sprintf(sha + 2 * k, "%02x", h[k]);
  /* Device 0 as always, 1 never reports success, 2 refuses (which still says so). */
  lmmt_sim s = start((const char *[]){"--count", "3", "--update-ms", "1000", "--fw-no-success",
                                      "1,2", "--fw-refuse", "2", NULL});
  for (unsigned i = 0; i < 3; i++) {
    expect(&s, i, PUT, "/5/0/0", LMM_FMT_OPAQUE, -1, pkg, C(2, 4));
    expect_text(&s, i, "/5/0/3", "2");
    expect(&s, i, POST, "/5/0/2", -1, -1, NULL, C(2, 4));
    expect_text(&s, i, "/5/0/3", "3"); /* Updating for --update-ms */
    expect_text(&s, i, "/5/0/5", "0");
  }
  for (unsigned i = 0; i < 3; i++) {
    char *st = NULL;
    for (int k = 0; k < 100; k++) { /* at most 5 s */
      free(st);
      st = read_text(&s, i, "/5/0/3");
      if (strcmp(st, "3") != 0) break;
      usleep(50000);
    }
    assert_string_equal(st, "0");
    free(st);
  }
  expect_text(&s, 0, "/5/0/5", "1");
  expect_text(&s, 1, "/5/0/5", "0");
  expect_text(&s, 2, "/5/0/5", "8");
  for (unsigned i = 0; i < 3; i++) {
    expect_text(&s, i, "/5/0/7", sha);
    expect_text(&s, i, "/5/0/6", "lwm2m-mbms-sim");
    expect_text(&s, i, "/3/0/3", i == 2 ? "1.0" : sha); /* installed, except when refused */
  }
  cJSON *j = stop_stats(&s);
  const cJSON *devs = cJSON_GetObjectItem(j, "devices");
  for (int i = 0; i < 3; i++)
    assert_int_equal(jpath(cJSON_GetArrayItem(devs, i), "fw", "updates", NULL)->valueint,
                     i == 2 ? 0 : 1);
  const cJSON *by = jpath(j, "totals", "fw", "by_result");
  assert_int_equal(cJSON_GetArrayItem(by, 0)->valueint, 1);
  assert_int_equal(cJSON_GetArrayItem(by, 1)->valueint, 1);
  assert_int_equal(cJSON_GetArrayItem(by, 8)->valueint, 1);
  cJSON_Delete(j);
  expect_usage_error((const char *[]){"--count", "2", "--fw-no-success", "0-2", NULL},
                     "--fw-no-success: device 2 is not in the fleet");
}

/* ------------------------------------------------------------------ Discover */

static void expect_links(const lmmt_sim *s, unsigned i, const char *path, const char *want) {
  lmmt_msg m = rq(s, i, GET, path, -1, LMM_FMT_LINK, NULL);
  if (m.code != C(2, 5)) fail_msg("Discover %s: %d.%02d", path, m.code >> 5, m.code & 31);
  assert_int_equal(m.cf, LMM_FMT_LINK);
  if (strcmp(m.data, want) != 0) fail_msg("Discover %s:\n  got  %s\n  want %s", path, m.data, want);
  lmmt_msg_free(&m);
}

static void test_discover_object(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  /* An object: itself with its version, then every instance followed by its resources. */
  expect_links(&s, 0, "/3",
               "</3>;ver=1.1,</3/0>,</3/0/0>,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/5>,"
               "</3/0/12>,</3/0/13>,</3/0/16>");
  expect_links(&s, 0, "/5",
               "</5>;ver=1.0,</5/0>,</5/0/0>,</5/0/1>,</5/0/2>,</5/0/3>,</5/0/5>,</5/0/6>,"
               "</5/0/7>,</5/0/8>;dim=2,</5/0/9>");
  expect_links(&s, 0, "/42769", "</42769>;ver=1.0"); /* no instance yet */
  static const char inst3[] =
      "[{\"bn\":\"/42769/3/\",\"n\":\"0\",\"vs\":\"g\"},{\"n\":\"5\",\"vs\":\"e\"},"
      "{\"n\":\"6/0\",\"vs\":\"0a1b2c00101\"},{\"n\":\"6/4\",\"vs\":\"0a1b2c00102\"},"
      "{\"n\":\"9\",\"v\":5}]";
  expect(&s, 0, PUT, "/42769/3", LMM_FMT_SENML_JSON, -1, inst3, C(2, 4));
  expect(&s, 0, PUT, "/42769/0", LMM_FMT_SENML_JSON, -1, GM_INSTANCE, C(2, 4));
  expect_links(&s, 0, "/42769",
               "</42769>;ver=1.0,</42769/0>,</42769/0/0>,</42769/0/5>,</42769/3>,</42769/3/0>,"
               "</42769/3/5>,</42769/3/6>;dim=2,</42769/3/9>");
  /* An instance, a resource, a resource instance: as before. */
  expect_links(&s, 0, "/42769/3",
               "</42769/3>,</42769/3/0>,</42769/3/5>,</42769/3/6>;dim=2,</42769/3/9>");
  expect_links(&s, 0, "/42769/3/6", "</42769/3/6>;dim=2");
  expect_links(&s, 0, "/42769/3/6/4", "</42769/3/6/4>");
  expect_links(&s, 0, "/3/0",
               "</3/0>,</3/0/0>,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/5>,</3/0/12>,</3/0/13>,"
               "</3/0/16>");
  expect(&s, 0, GET, "/42769/1", -1, LMM_FMT_LINK, NULL, C(4, 4));
  expect(&s, 0, GET, "/7", -1, LMM_FMT_LINK, NULL, C(4, 4));
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_require_accept),  cmocka_unit_test(test_formats),
      cmocka_unit_test(test_no_group_mgmt),   cmocka_unit_test(test_fw_no_success),
      cmocka_unit_test(test_discover_object),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
