/* test_interop_client.c - the simulated devices as libcoap's coap-client (Debian libcoap3-bin)
 * sees them: reads with early Block2 negotiation byte-for-byte equal to the whole answer, every
 * Accept, writes of SenML-JSON and TLV (whole, partial, Block1), Observe, error codes and CoAPS
 * with PSK. The transport is libcoap on both ends; what is independent is the LwM2M layer:
 * the tool knows nothing of our codecs, block sizes or observation handling (docs/interop.md). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lmmt_coap.h"
#include "lmmt_libcoap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define C(cls, detail) (((cls) << 5) | (detail))
#define TOOL_MS        15000 /* a bound on one coap-client run, far above what one needs */

/* coap-client with a -B bound of its own and the given arguments. */
#define CLIENT(...) lmmt_coap_client_run(TOOL_MS, (const char *[]){"-B", "5", __VA_ARGS__, NULL})

static char scratch[64];

static int setup(void **state) {
  (void)state;
  if (!lmmt_libcoap_tool("coap-client")) return -1;
  return lmmt_scratch_dir(scratch, "interop");
}

static int teardown(void **state) {
  (void)state;
  return lmmt_scratch_remove(scratch);
}

static lmmt_sim start(const char *const *extra) {
  lmmt_sim s;
  assert_int_equal(lmmt_sim_start(&s, extra), 0);
  return s;
}

/* coap://device-i:port/path, in one of four rotating buffers. */
static const char *uri(const lmmt_sim *s, unsigned i, const char *path) {
  static char buf[4][96];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "coap://%s:%d%s", lmmt_sim_host(i), s->port, path);
  return buf[k];
}

static const char *file_in(const char *name) {
  static char buf[4][128];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, name);
  return buf[k];
}

/* A run that must have succeeded: exit 0, nothing on stderr (coap-client prints an error
 * answer's code and text there, and exits 0 all the same). */
static void ok(const lmmt_tool_run *r) {
  if (r->status != 0 || r->err[0])
    fail_msg("coap-client exit %d, stdout '%s', stderr '%s'", r->status, r->out, r->err);
}

/* A run whose answer was an error: coap-client prints "C.DD diagnostic" on stderr. */
static void refused(lmmt_tool_run r, const char *code) {
  if (strncmp(r.err, code, strlen(code)) != 0)
    fail_msg("wanted %s, coap-client printed '%s' / '%s'", code, r.out, r.err);
  lmmt_tool_run_free(&r);
}

/* GET of `path` on device i with `accept` ("" none) and block size `block` ("" none), the
 * body written by the tool with -o; returns it (owned) and its length. */
static char *get_body(const lmmt_sim *s, unsigned i, const char *path, const char *accept,
                      const char *block, size_t *len) {
  const char *out = file_in("body");
  unlink(out);
  const char *args[12] = {"-B", "5", "-m", "get", "-o", out};
  int n = 6;
  if (*accept) args[n++] = "-A", args[n++] = accept;
  if (*block) args[n++] = "-b", args[n++] = block;
  args[n++] = uri(s, i, path);
  lmmt_tool_run r = lmmt_coap_client_run(TOOL_MS, args);
  ok(&r);
  lmmt_tool_run_free(&r);
  char *body = lmmt_read_file(out, len);
  if (!body) fail_msg("coap-client wrote no %s for GET %s", out, path);
  return body;
}

static cJSON *get_senml(const lmmt_sim *s, unsigned i, const char *path) {
  size_t len;
  char *body = get_body(s, i, path, "110", "", &len);
  cJSON *j = cJSON_Parse(body);
  if (!cJSON_IsArray(j)) fail_msg("GET %s -A 110 gave '%s', not a SenML array", path, body);
  free(body);
  return j;
}

/* The number of record k of a SenML array, or of its "vs" / "v" as text. */
static const cJSON *rec(const cJSON *a, int k, const char *field) {
  const cJSON *x = cJSON_GetObjectItem(cJSON_GetArrayItem(a, k), field);
  if (!x) fail_msg("SenML record %d has no '%s'", k, field);
  return x;
}

/* Decodes a TLV body of `base` typed by `def`. */
static void tlv_decode(const char *base, const char *body, size_t len, const lmm_obj_def *def,
                       lmm_records *out) {
  lmm_path p;
  char why[128] = "";
  assert_int_equal(lmm_path_parse(base, &p), LMM_OK);
  if (lmm_lwm2m_decode(LMM_FMT_TLV, &p, (const uint8_t *)body, len, def, out, why, sizeof why))
    fail_msg("TLV of %s does not decode: %s", base, why);
}

static const lmm_record *find(const lmm_records *r, uint16_t iid, uint16_t rid) {
  for (size_t k = 0; k < r->n; k++)
    if (r->items[k].path.iid == iid && r->items[k].path.rid == rid) return &r->items[k];
  fail_msg("no /%u/%u in the TLV answer", iid, rid);
  return NULL;
}

/* A Group Mgmt instance in SenML-JSON whose External Group ID is long, so that a few of them
 * fill more than one 1,024-byte datagram. */
static const char *long_instance(unsigned iid) {
  static char buf[512];
  snprintf(buf, sizeof buf,
           "[{\"bn\":\"/42769/%u/\",\"n\":\"0\",\"vs\":\"group-%u\"},{\"n\":\"5\",\"vs\":"
           "\"floor-%u.building-7.campus-north@operator.example.net\"},{\"n\":\"9\",\"v\":%u}]",
           iid, iid, iid, 10 + iid);
  return buf;
}

/* ------------------------------------------------------------------ reads */

static void test_block2_equals_whole_answer(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  for (unsigned iid = 0; iid < 12; iid++) { /* Write (replace) and Create in turn */
    char path[32];
    snprintf(path, sizeof path, "/42769/%u", iid);
    lmmt_tool_run r =
        iid % 2 ? CLIENT("-m", "post", "-t", "110", "-e", long_instance(iid), uri(&s, 0, "/42769"))
                : CLIENT("-m", "put", "-t", "110", "-e", long_instance(iid), uri(&s, 0, path));
    ok(&r);
    lmmt_tool_run_free(&r);
  }
  static const char *const paths[] = {"/42769", "/42769/3", "/42769/3/5", "/6/0", "/5/0", "/3/0/2"};
  static const char *const accepts[] = {"110", "11542", ""};
  static const char *const blocks[] = {"16", "32", "64", "512"};
  for (size_t p = 0; p < sizeof paths / sizeof *paths; p++)
    for (size_t a = 0; a < sizeof accepts / sizeof *accepts; a++) {
      size_t whole_len, len;
      char *whole = get_body(&s, 0, paths[p], accepts[a], "", &whole_len);
      assert_true(whole_len > 0);
      if (p == 0 && a == 0) {
        assert_true(whole_len > 1024); /* the device cut it itself: late Block2 */
        cJSON *j = cJSON_Parse(whole);
        assert_int_equal(cJSON_GetArraySize(j), 36); /* 12 instances of 3 resources */
        cJSON_Delete(j);
      }
      for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        char *part = get_body(&s, 0, paths[p], accepts[a], blocks[b], &len);
        if (len != whole_len || memcmp(part, whole, len) != 0)
          fail_msg("GET %s -A '%s' -b %s: %zu bytes differ from the %zu of the whole answer",
                   paths[p], accepts[a], blocks[b], len, whole_len);
        free(part);
      }
      free(whole);
    }
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_accept_formats(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "3", NULL});
  /* SenML-JSON: the Location of device 2 (docs/simulator.md) */
  cJSON *j = get_senml(&s, 2, "/6/0");
  assert_string_equal(rec(j, 0, "bn")->valuestring, "/6/0/");
  assert_string_equal(rec(j, 0, "n")->valuestring, "0");
  assert_true(rec(j, 0, "v")->valuedouble - (48.0 + 0.0001 * 2) < 1e-9);
  assert_string_equal(rec(j, 4, "n")->valuestring, "5");
  assert_int_equal((long long)rec(j, 4, "v")->valuedouble, 1700000002LL);
  cJSON_Delete(j);
  /* TLV, typed by the Location definition */
  size_t len;
  char *body = get_body(&s, 2, "/6/0", "11542", "", &len);
  lmm_records r = {0};
  tlv_decode("/6/0", body, len, lmm_obj_def_oma(6), &r);
  assert_int_equal(r.n, 6);
  assert_int_equal(find(&r, 0, 1)->value.type, LMM_RT_FLOAT);
  assert_true(find(&r, 0, 1)->value.v.f - (11.0 + 0.0001 * 14) < 1e-9);
  assert_int_equal(find(&r, 0, 5)->value.v.i, 1700000002LL);
  lmm_records_clear(&r);
  free(body);
  /* text for one resource, the same value */
  body = get_body(&s, 2, "/3/0/2", "0", "", &len);
  assert_string_equal(body, "dev-0002");
  free(body);
  /* Discover: a link list */
  body = get_body(&s, 2, "/5/0", "40", "", &len);
  assert_non_null(strstr(body, "</5/0>,</5/0/0>"));
  assert_non_null(strstr(body, "</5/0/8>;dim=2"));
  free(body);
  /* formats that cannot carry the answer */
  refused(CLIENT("-A", "0", uri(&s, 2, "/6/0")), "4.06");
  refused(CLIENT("-A", "60", uri(&s, 2, "/6/0")), "4.06");
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* ------------------------------------------------------------------ writes */

static void test_write_senml_and_tlv(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  /* SenML-JSON: the whole instance, one resource in text, a partial update */
  lmmt_tool_run r =
      CLIENT("-m", "put", "-t", "110", "-e", lmmt_gm_instance(0, 5), uri(&s, 0, "/42769/0"));
  ok(&r), lmmt_tool_run_free(&r);
  r = CLIENT("-m", "put", "-t", "0", "-e", "7", uri(&s, 0, "/42769/0/9"));
  ok(&r), lmmt_tool_run_free(&r);
  cJSON *j = get_senml(&s, 0, "/42769/0/9");
  assert_int_equal(rec(j, 0, "v")->valueint, 7);
  cJSON_Delete(j);
  r = CLIENT("-m", "post", "-t", "110", "-e",
             "[{\"bn\":\"/42769/0/\",\"n\":\"9\",\"v\":12},{\"n\":\"10\",\"v\":5700}]",
             uri(&s, 0, "/42769/0"));
  ok(&r), lmmt_tool_run_free(&r);
  j = get_senml(&s, 0, "/42769/0");
  int seen = 0;
  for (int k = 0; k < cJSON_GetArraySize(j); k++) {
    const char *n = rec(j, k, "n")->valuestring;
    if (!strcmp(n, "9")) assert_int_equal(rec(j, k, "v")->valueint, 12), seen |= 1;
    if (!strcmp(n, "10")) assert_int_equal(rec(j, k, "v")->valueint, 5700), seen |= 2;
    if (!strcmp(n, "0")) assert_string_equal(rec(j, k, "vs")->valuestring, "g"), seen |= 4;
  }
  assert_int_equal(seen, 7); /* updated, added, and the Group ID kept */
  cJSON_Delete(j);

  /* TLV made by our encoder, sent by the tool from a file: an instance, then a partial update */
  lmm_obj_def gm;
  lmm_group_mgmt_def(42769, &gm);
  lmm_record recs[3] = {{.path = {42769, 1, 0, 0, 3}, .value = {.type = LMM_RT_STRING}},
                        {.path = {42769, 1, 5, 0, 3}, .value = {.type = LMM_RT_STRING}},
                        {.path = {42769, 1, 9, 0, 3}, .value = {.type = LMM_RT_INTEGER}}};
  recs[0].value.str = (char *)"tlv-group", recs[1].value.str = (char *)"tlv@operator.example";
  recs[2].value.v.i = 3;
  lmm_path base;
  assert_int_equal(lmm_path_parse("/42769/1", &base), LMM_OK);
  uint8_t *tlv;
  size_t tlv_len;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &base, recs, 3, &tlv, &tlv_len), LMM_OK);
  FILE *f = fopen(file_in("instance.tlv"), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(tlv, 1, tlv_len, f), tlv_len);
  assert_int_equal(fclose(f), 0);
  lmm_free(tlv);
  r = CLIENT("-m", "put", "-t", "11542", "-f", file_in("instance.tlv"), uri(&s, 0, "/42769/1"));
  ok(&r), lmmt_tool_run_free(&r);
  recs[2].value.v.i = 45;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_TLV, &base, recs + 2, 1, &tlv, &tlv_len), LMM_OK);
  f = fopen(file_in("partial.tlv"), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(tlv, 1, tlv_len, f), tlv_len);
  assert_int_equal(fclose(f), 0);
  lmm_free(tlv);
  r = CLIENT("-m", "post", "-t", "11542", "-f", file_in("partial.tlv"), uri(&s, 0, "/42769/1"));
  ok(&r), lmmt_tool_run_free(&r);
  size_t len;
  char *body = get_body(&s, 0, "/42769/1", "11542", "", &len);
  lmm_records got = {0};
  tlv_decode("/42769/1", body, len, &gm, &got);
  assert_string_equal(find(&got, 1, 0)->value.str, "tlv-group");
  assert_string_equal(find(&got, 1, 5)->value.str, "tlv@operator.example");
  assert_int_equal(find(&got, 1, 9)->value.v.i, 45);
  lmm_records_clear(&got);
  free(body);
  /* device 1 never saw any of it */
  refused(CLIENT("-A", "110", uri(&s, 1, "/42769/0")), "4.04");
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_block1_writes(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  /* a firmware package of 3,000 bytes in 64-byte blocks (RFC 7959 Block1) */
  enum { PKG = 3000 };
  uint8_t pkg[PKG];
  for (int i = 0; i < PKG; i++)
    pkg[i] = (uint8_t)(i * 131 + (i >> 7));
  FILE *f = fopen(file_in("fw.bin"), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(pkg, 1, PKG, f), PKG);
  assert_int_equal(fclose(f), 0);
  lmmt_tool_run r =
      CLIENT("-m", "put", "-b", "64", "-t", "42", "-f", file_in("fw.bin"), uri(&s, 1, "/5/0/0"));
  ok(&r), lmmt_tool_run_free(&r);
  size_t len;
  char *body = get_body(&s, 1, "/5/0/3", "0", "", &len);
  assert_string_equal(body, "2"); /* Downloaded */
  free(body);
  unsigned char d[32];
  char hex[65];
  assert_int_equal(mbedtls_sha256_ret(pkg, PKG, d, 0), 0);
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  body = get_body(&s, 1, "/5/0/7", "0", "", &len);
  assert_string_equal(body, hex); /* PkgVersion: exactly the bytes sent */
  free(body);
  /* a Group Mgmt instance in 16-byte blocks */
  r = CLIENT("-m", "put", "-b", "16", "-t", "110", "-e", long_instance(4), uri(&s, 1, "/42769/4"));
  ok(&r), lmmt_tool_run_free(&r);
  cJSON *j = get_senml(&s, 1, "/42769/4/5");
  assert_string_equal(rec(j, 0, "vs")->valuestring,
                      "floor-4.building-7.campus-north@operator.example.net");
  cJSON_Delete(j);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* ------------------------------------------------------------------ Observe */

/* The responses in a -v 7 log, after checking there is a registration answer followed by at
 * least `want` notifications with increasing Observe numbers. */
static size_t notifications(const char *log, lmmt_logged_pdu *p, size_t cap, size_t want) {
  size_t n = lmmt_coap_log_responses(log, p, cap);
  if (n > cap) n = cap;
  if (n < want + 1)
    fail_msg("%zu responses in coap-client's log, wanted %zu:\n%s", n, want + 1, log);
  for (size_t k = 0; k < n; k++) {
    if (p[k].code != C(2, 5) || p[k].observe < 0)
      fail_msg("response %zu: code %d.%02d, Observe %ld", k, p[k].code >> 5, p[k].code & 31,
               p[k].observe);
    if (k && p[k].observe <= p[k - 1].observe)
      fail_msg("Observe %ld after %ld", p[k].observe, p[k - 1].observe);
  }
  return n;
}

static void test_observe(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  /* Current Time moves with the clock: the device notifies on its own */
  lmmt_tool_run r = CLIENT("-v", "7", "-s", "3", "-A", "0", uri(&s, 0, "/3/0/13"));
  lmmt_logged_pdu p[64];
  size_t n = notifications(r.out, p, 64, 2);
  /* every second, none skipped (the device once read the clock behind its own schedule and
   * notified every other second) */
  for (size_t k = 1; k < n; k++)
    if (atol(p[k].payload) != atol(p[k - 1].payload) + 1)
      fail_msg("Current Time %s after %s", p[k].payload, p[k - 1].payload);
  lmmt_tool_run_free(&r);

  /* a value written by another client: each write is notified, in order */
  refused(CLIENT("-A", "0", uri(&s, 1, "/42769/0/9")), "4.04");
  r = CLIENT("-m", "put", "-t", "110", "-e", lmmt_gm_instance(0, 100), uri(&s, 1, "/42769/0"));
  ok(&r), lmmt_tool_run_free(&r);
  lmmt_tool_job *job =
      lmmt_coap_client_start(TOOL_MS, (const char *[]){"-B", "6", "-v", "7", "-s", "3", "-A", "0",
                                                       uri(&s, 1, "/42769/0/9"), NULL});
  assert_non_null(job);
  /* Keep writing while it observes: whenever its registration landed, the writes after it are
   * notified (no timing assumption beyond "3 s holds several writes"). */
  int v = 100;
  while (!lmmt_tool_job_ended(job)) {
    char val[16];
    snprintf(val, sizeof val, "%d", ++v);
    assert_true(lmmt_sim_expect(s.port, 1, COAP_REQUEST_CODE_PUT, "/42769/0/9", LMM_FMT_TEXT, -1,
                                val, C(2, 4)));
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
  }
  r = lmmt_coap_client_finish(job);
  n = notifications(r.out, p, 64, 2);
  for (size_t k = 1; k < n; k++) {
    int was = atoi(p[k - 1].payload), now = atoi(p[k].payload);
    if (now <= was || now > v) fail_msg("notified %d after %d (last written %d)", now, was, v);
  }
  lmmt_tool_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* A notification larger than a datagram: its first block, then the rest by Block2 (RFC 7959
 * 3.4), which the client must be able to tie to it by the ETag. */
static void test_observe_block2(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "1", NULL});
  for (unsigned iid = 0; iid < 12; iid++) {
    char path[32];
    snprintf(path, sizeof path, "/42769/%u", iid);
    lmmt_tool_run r = CLIENT("-m", "put", "-t", "110", "-e", long_instance(iid), uri(&s, 0, path));
    ok(&r), lmmt_tool_run_free(&r);
  }
  const char *out = file_in("observed");
  unlink(out);
  lmmt_tool_job *job =
      lmmt_coap_client_start(TOOL_MS, (const char *[]){"-B", "7", "-v", "7", "-s", "4", "-A", "110",
                                                       "-o", out, uri(&s, 0, "/42769"), NULL});
  assert_non_null(job);
  /* Five changes while it observes (each notified whenever its registration is in), half a
   * second apart: a change while the client fetches a notification's second block would
   * rightly make it start over (RFC 7959 2.4), and that fetch takes a millisecond. The last
   * one comes 1.5 s before its 4 s of observing end: coap-client writes a notification's first
   * block to its file as it comes, and one notified as the period ends would leave half a
   * body there when it stops. */
  int v = 100;
  for (int k = 0; k < 5 && !lmmt_tool_job_ended(job); k++) {
    char val[16];
    struct timespec ts = {0, 500 * 1000000L};
    nanosleep(&ts, NULL);
    snprintf(val, sizeof val, "%d", ++v);
    assert_true(lmmt_sim_expect(s.port, 0, COAP_REQUEST_CODE_PUT, "/42769/3/9", LMM_FMT_TEXT, -1,
                                val, C(2, 4)));
  }
  lmmt_tool_run r = lmmt_coap_client_finish(job);
  lmmt_logged_pdu p[64];
  size_t n = lmmt_coap_log_responses(r.out, p, 64), observed = 0, restarted = 0;
  assert_true(n <= 64);
  for (size_t k = 0; k < n; k++) {
    assert_int_equal(p[k].code, C(2, 5));
    if (!p[k].etag[0]) fail_msg("response %zu (Observe %ld) has no ETag", k, p[k].observe);
    if (p[k].observe >= 0) {
      observed++;
      assert_int_equal(p[k].block2, 0); /* the first block of the body */
    } else if (p[k].block2 == 0) {
      restarted++; /* a plain GET of block 0: the client started the body over */
    } else if (k && strcmp(p[k].etag, p[k - 1].etag) != 0) {
      fail_msg("block %ld has ETag %s after %s", p[k].block2, p[k].etag, p[k - 1].etag);
    }
  }
  lmmt_tool_run_free(&r);
  if (observed < 2 || restarted) fail_msg("%zu notified bodies, %zu restarts", observed, restarted);
  /* Every body whole in the output file: JSON arrays one after another, 36 records each, the
   * last with a value written. */
  size_t len;
  char *all = lmmt_read_file(out, &len);
  assert_non_null(all);
  size_t bodies = 0;
  const char *end = NULL;
  for (const char *b = all; *b; b = end, bodies++) {
    cJSON *j = cJSON_ParseWithOpts(b, &end, false);
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 36)
      fail_msg("body %zu of the observation is not whole: '%.60s...'", bodies, b);
    cJSON_Delete(j);
  }
  assert_int_equal(bodies, observed);
  free(all);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* ------------------------------------------------------------------ errors, CoAPS */

static void test_error_answers(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "2", NULL});
  refused(CLIENT(uri(&s, 0, "/99")), "4.04");
  refused(CLIENT(uri(&s, 0, "/3/7")), "4.04");
  refused(CLIENT("-m", "put", "-t", "110", "-e", "[{\"bn\":", uri(&s, 0, "/42769/0")), "4.00");
  refused(CLIENT("-m", "put", "-t", "11542", "-e", "%c8%00", uri(&s, 0, "/42769/0")), "4.00");
  refused(CLIENT("-m", "put", "-t", "60", "-e", "x", uri(&s, 0, "/3/0/14")), "4.15");
  refused(CLIENT("-m", "put", "-t", "0", "-e", "1", uri(&s, 0, "/6/0/0")), "4.05");
  refused(CLIENT("-m", "post", uri(&s, 0, "/5/0/2")), "4.05"); /* Update while Idle */
  refused(CLIENT("-m", "fetch", uri(&s, 0, "/3/0")), "4.05");
  /* the device is still there and unchanged */
  size_t len;
  char *body = get_body(&s, 0, "/3/0/2", "0", "", &len);
  assert_string_equal(body, "dev-0000");
  free(body);
  refused(CLIENT(uri(&s, 0, "/42769/0")), "4.04");
  refused(CLIENT("-A", "0", uri(&s, 0, "/3/0/14")), "4.04"); /* UTC Offset: never written */
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* The binary PSK of a members-file line ("psk-key=hex:..."), when it holds no NUL byte:
 * coap-client takes -k as a C string, so a key with a 0 byte cannot be given to it. */
static bool psk_of(const char *members, unsigned i, char key[17]) {
  char want[32];
  snprintf(want, sizeof want, "psk-id=dev-%04u psk-key=hex:", i);
  const char *h = strstr(members, want);
  if (!h) fail_msg("no key of dev-%04u in the members file", i);
  h += strlen(want);
  for (int k = 0; k < 16; k++) {
    unsigned b;
    if (sscanf(h + 2 * k, "%2x", &b) != 1) fail_msg("bad key of dev-%04u", i);
    if (!b) return false;
    key[k] = (char)b;
  }
  key[16] = '\0';
  return true;
}

static void test_coaps_psk(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "8", "--dtls", "--dtls-port", "0", NULL});
  char *members = lmmt_read_file(s.members_path, NULL);
  assert_non_null(members);
  unsigned dev = 8, other = 8;
  char key[17], okey[17];
  for (unsigned i = 0; i < 8 && other == 8; i++) {
    if (dev == 8 && psk_of(members, i, key))
      dev = i;
    else if (dev != 8 && psk_of(members, i, okey))
      other = i;
  }
  free(members);
  if (other == 8) fail_msg("fewer than two keys without a NUL byte among 8 devices");
  char u[96], ep[16];
  snprintf(u, sizeof u, "coaps://%s:%d/6/0", lmmt_sim_host(dev), s.dtls_port);
  snprintf(ep, sizeof ep, "dev-%04u", dev);
  lmmt_tool_run r = CLIENT("-u", ep, "-k", key, "-A", "110", u);
  ok(&r);
  cJSON *j = cJSON_Parse(r.out);
  assert_non_null(j);
  assert_true(rec(j, 0, "v")->valuedouble - (48.0 + 0.0001 * dev) < 1e-9);
  cJSON_Delete(j);
  lmmt_tool_run_free(&r);
  /* a write over DTLS, read back over plain CoAP */
  snprintf(u, sizeof u, "coaps://%s:%d/3/0/14", lmmt_sim_host(dev), s.dtls_port);
  r = CLIENT("-u", ep, "-k", key, "-m", "put", "-t", "0", "-e", "+01:00", u);
  ok(&r), lmmt_tool_run_free(&r);
  size_t len;
  char *body = get_body(&s, dev, "/3/0/14", "0", "", &len);
  assert_string_equal(body, "+01:00");
  free(body);
  /* another device's key, or its identity, fails the handshake: no answer at all */
  snprintf(u, sizeof u, "coaps://%s:%d/6/0", lmmt_sim_host(dev), s.dtls_port);
  r = CLIENT("-u", ep, "-k", okey, "-A", "110", u);
  if (strstr(r.out, "\"bn\"") || strstr(r.err, "2.05")) fail_msg("answered with a wrong key");
  lmmt_tool_run_free(&r);
  snprintf(ep, sizeof ep, "dev-%04u", other);
  r = CLIENT("-u", ep, "-k", okey, "-A", "110", u);
  if (strstr(r.out, "\"bn\"")) fail_msg("answered another device's identity");
  lmmt_tool_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_block2_equals_whole_answer),
      cmocka_unit_test(test_accept_formats),
      cmocka_unit_test(test_write_senml_and_tlv),
      cmocka_unit_test(test_block1_writes),
      cmocka_unit_test(test_observe),
      cmocka_unit_test(test_observe_block2),
      cmocka_unit_test(test_error_answers),
      cmocka_unit_test(test_coaps_psk),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  lmm_global_cleanup();
  return rc;
}
