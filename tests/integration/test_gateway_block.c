/* test_gateway_block.c - the gateway's own block-wise transfers (RFC 7959, docs/gateway.md
 * "Block-wise"), against `lwm2m-mbms gateway` with 200 simulated devices attached, from a raw
 * CoAP client on loopback that sends each block as the test chooses, and from libcoap's
 * coap-client: a Group Mgmt write in Block1 pieces, stored and read back equal; a block out of
 * order (4.08, nothing stored); bodies over the cap (4.13 with Size1); abandoned transfers;
 * the Read answer of 200 members fetched block by block at 64 and 1024 bytes and by
 * coap-client -b 64, all equal; later blocks of bodies the gateway no longer keeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lmmt_gwclient.h"
#include "lmmt_libcoap.h"
#include "lmmt_peer.h"

#define N_MEMBERS 200
#define BODY_CAP  (256 * 1024) /* the gateway's cap on a Block1 body (docs/gateway.md) */

typedef struct world {
  lmmt_sim sim;
  lmmt_gw gw;
  char dir[64];
  char list[N_MEMBERS * 20]; /* "ep=dev-0000/6,..." */
} world;

static world W;

static int setup(void **state) {
  (void)state;
  char db[96];
  if (lmmt_sim_start(&W.sim, (const char *[]){"--count", "200", "--object", "6", NULL}) != 0 ||
      lmmt_scratch_dir(W.dir, "gwblock") != 0)
    return -1;
  snprintf(db, sizeof db, "%s/state.db", W.dir);
  if (lmmt_gw_start(&W.gw, db, W.sim.members_path, NULL, NULL) != 0) return -1;
  size_t n = 0;
  for (int i = 0; i < N_MEMBERS; i++)
    n += (size_t)snprintf(W.list + n, sizeof W.list - n, "%sep=dev-%04d/6", i ? "," : "", i);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int a = lmmt_gw_stop(&W.gw), b = lmmt_sim_stop(&W.sim);
  lmmt_scratch_remove(W.dir);
  return a == 0 && b == 0 ? 0 : -1;
}

/* Instance `iid` of every attached device, group "g<iid>" at /fanout/g<iid>: ~3 KB. Owned. */
static char *instance(int iid, int type, const char *more) {
  size_t cap = strlen(W.list) + 512;
  char *s = malloc(cap);
  assert_non_null(s);
  snprintf(
      s, cap,
      "[{\"bn\":\"/42769/%d/\",\"n\":\"0\",\"vs\":\"g%d\"},{\"n\":\"1\",\"v\":%d},"
      "{\"n\":\"2\",\"v\":%d},{\"n\":\"3\",\"vs\":\"%s\"},{\"n\":\"4\",\"vs\":\"/fanout/g%d\"}%s]",
      iid, iid, type, N_MEMBERS, W.list, iid, more);
  return s;
}

/* ------------------------------------------------------------------ a raw client */

typedef struct client {
  int fd;
  struct sockaddr_in gw;
  uint16_t mid;
  uint8_t tok;
} client;

static void client_open(client *c) {
  memset(c, 0, sizeof *c);
  c->fd = lmmt_peer_open(0, NULL);
  assert_true(c->fd >= 0);
  const char *colon = strrchr(W.gw.uri, ':');
  assert_non_null(colon);
  c->gw.sin_family = AF_INET;
  c->gw.sin_port = htons((uint16_t)atoi(colon + 1));
  c->gw.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->mid = (uint16_t)rand();
}

static void client_close(client *c) {
  close(c->fd);
}

static unsigned blk(unsigned num, bool m, unsigned szx) {
  return num << 4 | (m ? 8u : 0u) | szx;
}

/* A CON request on `path` ("42769/0", segments split here) with the options `o` and the
 * payload, and its response within `ms` (owned: coap_delete_pdu()). Fails the test when none
 * comes. */
static coap_pdu_t *request(client *c, uint8_t code, const char *path, const lmmt_opt *o, size_t n,
                           const void *payload, size_t len, int ms) {
  lmmt_opt opts[32];
  size_t k = 0;
  char segs[256], *save = NULL;
  snprintf(segs, sizeof segs, "%s", path);
  for (char *t = strtok_r(segs, "/", &save); t && k < 16; t = strtok_r(NULL, "/", &save))
    opts[k++] = (lmmt_opt){COAP_OPTION_URI_PATH, t, 0};
  for (size_t i = 0; i < n && k < 32; i++)
    opts[k++] = o[i];
  uint8_t tok[2] = {0x5a, ++c->tok}, buf[1400];
  size_t l = lmmt_coap_encode(buf, sizeof buf, COAP_MESSAGE_CON, code, ++c->mid, tok, sizeof tok,
                              opts, k, payload, len);
  assert_true(l > 0);
  assert_int_equal(sendto(c->fd, buf, l, 0, (struct sockaddr *)&c->gw, sizeof c->gw), (ssize_t)l);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int left = ms; left > 0;) {
    struct sockaddr_in from;
    coap_pdu_t *pdu = lmmt_peer_recv(c->fd, &from, left);
    if (pdu) {
      coap_bin_const_t t = coap_pdu_get_token(pdu);
      if (t.length == sizeof tok && !memcmp(t.s, tok, sizeof tok)) return pdu;
      coap_delete_pdu(pdu); /* an answer to an earlier request */
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
  }
  fail_msg("no answer to %s within %d ms", path, ms);
  return NULL;
}

static size_t payload_of(const coap_pdu_t *p, const uint8_t **d) {
  size_t len = 0;
  if (!coap_get_data(p, &len, d)) len = 0, *d = NULL;
  return len;
}

/* The response's code is `code` and its diagnostic holds `diag` (NULL: not checked). */
static void expect(const coap_pdu_t *p, int code, const char *diag) {
  const uint8_t *d;
  size_t len = payload_of(p, &d);
  char text[600];
  snprintf(text, sizeof text, "%.*s", (int)len, d ? (const char *)d : "");
  if ((int)coap_pdu_get_code(p) != code || (diag && !strstr(text, diag)))
    fail_msg("want %d.%02d '%s', got %d.%02d '%s'", code >> 5, code & 31, diag ? diag : "",
             coap_pdu_get_code(p) >> 5, coap_pdu_get_code(p) & 31, text);
}

static void etag_of(const coap_pdu_t *p, char out[20]) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(p, COAP_OPTION_ETAG, &it);
  out[0] = '\0';
  for (size_t i = 0; o && i < coap_opt_length(o) && i < 8; i++)
    sprintf(out + 2 * i, "%02x", coap_opt_value(o)[i]);
}

/* PUTs `body` to `path` in blocks of 2^(szx+4) bytes, in order (Size1 on the first): each
 * block but the last gets 2.31 with its Block1 echoed; the last one's response is returned. */
static coap_pdu_t *put_blocks(client *c, const char *path, const char *body, unsigned szx) {
  size_t bs = (size_t)1 << (szx + 4), len = strlen(body);
  for (unsigned num = 0;; num++) {
    size_t off = (size_t)num * bs, n = len - off < bs ? len - off : bs;
    bool more = off + n < len;
    lmmt_opt o[3] = {{COAP_OPTION_CONTENT_FORMAT, NULL, 110},
                     {COAP_OPTION_BLOCK1, NULL, blk(num, more, szx)},
                     {COAP_OPTION_SIZE1, NULL, (unsigned)len}};
    coap_pdu_t *r = request(c, COAP_REQUEST_CODE_PUT, path, o, num ? 2 : 3, body + off, n, 5000);
    if (!more) {
      assert_int_equal(lmmt_pdu_opt_uint(r, COAP_OPTION_BLOCK1), (int)blk(num, false, szx));
      return r;
    }
    expect(r, COAP_RESPONSE_CODE(231), NULL);
    assert_int_equal(lmmt_pdu_opt_uint(r, COAP_OPTION_BLOCK1), (int)blk(num, true, szx));
    coap_delete_pdu(r);
  }
}

/* GETs `path` block by block: of 2^(szx+4) bytes asked in the first request (early
 * negotiation), or the gateway's own size for szx -1. Every block must carry the same ETag
 * and Size2, each but the last be full. The body, owned, NUL-terminated; its ETag in `etag`. */
/* Block `num` of 64 bytes of `path` (the rest of a body already fetched whole, `body`): 2.05
 * with exactly those bytes. Returns the answer for the caller's further checks (it frees it). */
static coap_pdu_t *expect_block64(client *c, const char *path, unsigned num, const char *body) {
  lmmt_opt o = {COAP_OPTION_BLOCK2, NULL, blk(num, false, 2)};
  coap_pdu_t *r = request(c, COAP_REQUEST_CODE_GET, path, &o, 1, NULL, 0, 5000);
  expect(r, COAP_RESPONSE_CODE(205), NULL);
  const uint8_t *d;
  assert_int_equal(payload_of(r, &d), 64);
  assert_memory_equal(d, body + (size_t)num * 64, 64);
  return r;
}

static char *fetch(client *c, const char *path, int szx, int first_ms, size_t *out_len,
                   char etag[20]) {
  char *body = NULL, tag0[20] = "";
  size_t len = 0;
  long size2 = -1;
  for (unsigned num = 0;; num++) {
    lmmt_opt o = {COAP_OPTION_BLOCK2, NULL, blk(num, false, szx < 0 ? 6u : (unsigned)szx)};
    bool ask = num > 0 || szx >= 0;
    coap_pdu_t *r =
        request(c, COAP_REQUEST_CODE_GET, path, &o, ask ? 1 : 0, NULL, 0, num ? 5000 : first_ms);
    expect(r, COAP_RESPONSE_CODE(205), NULL);
    const uint8_t *d;
    size_t n = payload_of(r, &d);
    body = realloc(body, len + n + 1);
    assert_non_null(body);
    memcpy(body + len, d, n), len += n, body[len] = '\0';
    int b = lmmt_pdu_opt_uint(r, COAP_OPTION_BLOCK2);
    char tag[20];
    etag_of(r, tag);
    if (b < 0 && num == 0) { /* it fits in one datagram */
      coap_delete_pdu(r);
      break;
    }
    assert_true(b >= 0);
    assert_int_equal((unsigned)b >> 4, num);
    if (num == 0)
      snprintf(tag0, sizeof tag0, "%s", tag), size2 = lmmt_pdu_opt_uint(r, COAP_OPTION_SIZE2);
    if (szx >= 0 || num > 0) assert_int_equal(b & 7, szx < 0 ? 6 : szx);
    assert_true(tag[0] != '\0');
    assert_string_equal(tag, tag0);
    assert_int_equal(lmmt_pdu_opt_uint(r, COAP_OPTION_SIZE2), size2);
    bool more = b & 8;
    if (more) assert_int_equal(n, (size_t)1 << ((b & 7) + 4));
    coap_delete_pdu(r);
    if (!more) break;
  }
  if (size2 >= 0) assert_int_equal((size_t)size2, len);
  if (etag) snprintf(etag, 20, "%s", tag0);
  *out_len = len;
  return body;
}

/* ------------------------------------------------------------------ Block1 */

/* A write in Block1 pieces is stored and reads back as written; so is one by coap-client in
 * blocks of 64 bytes. A later block of the config Read, asked by a peer that holds none of it,
 * is cut from the body built again: the same bytes, the same ETag. */
static void test_block1_in_order(void **state) {
  (void)state;
  client c, other;
  client_open(&c), client_open(&other);
  char *body = instance(0, 2, "");
  coap_pdu_t *r = put_blocks(&c, "42769/0", body, 4); /* 12 blocks of 256 bytes */
  expect(r, COAP_RESPONSE_CODE(201), NULL);
  coap_delete_pdu(r);
  size_t len = 0, len16 = 0;
  char tag[20], tag16[20], want[N_MEMBERS * 20 + 32];
  char *back = fetch(&c, "42769/0", -1, 5000, &len, tag);
  snprintf(want, sizeof want, "{\"n\":\"3\",\"vs\":\"%s\"}", W.list);
  assert_non_null(strstr(back, want));
  assert_non_null(strstr(back, "\"n\":\"0\",\"vs\":\"g0\"}"));
  assert_non_null(strstr(back, "{\"n\":\"2\",\"v\":200}"));
  char *back16 = fetch(&c, "42769/0", 0, 5000, &len16, tag16); /* 16-byte blocks asked */
  assert_int_equal(len16, len);
  assert_memory_equal(back16, back, len);
  assert_string_equal(tag16, tag);
  r = expect_block64(&other, "42769/0", 3, back);
  char t[20];
  etag_of(r, t);
  assert_string_equal(t, tag);
  coap_delete_pdu(r);

  /* coap-client's own Block1, 64 bytes a block: the same instance as /42769/1 */
  char *b1 = instance(1, 2, ""), uri[128];
  snprintf(uri, sizeof uri, "%s/42769/1", W.gw.uri);
  lmmt_tool_run run = lmmt_coap_client_run(
      60 * 1000, (const char *[]){"-m", "put", "-t", "110", "-b", "64", "-e", b1, uri, NULL});
  assert_int_equal(run.status, 0);
  assert_string_equal(run.err, "");
  lmmt_tool_run_free(&run);
  free(back);
  back = fetch(&c, "42769/1", -1, 5000, &len, NULL);
  assert_non_null(strstr(back, want));
  assert_non_null(strstr(back, "{\"n\":\"4\",\"vs\":\"/fanout/g1\"}"));
  free(back), free(back16), free(body), free(b1);
  client_close(&c), client_close(&other);
}

/* A block out of order drops the transfer (4.08), and nothing is stored; so does the block
 * after it. A block with more to follow that is not its whole size is refused. */
static void test_block1_out_of_order(void **state) {
  (void)state;
  client c;
  client_open(&c);
  char *body = instance(5, 2, "");
  lmmt_opt o[2] = {{COAP_OPTION_CONTENT_FORMAT, NULL, 110}, {COAP_OPTION_BLOCK1, NULL, 0}};
  o[1].u = blk(0, true, 4);
  coap_pdu_t *r = request(&c, COAP_REQUEST_CODE_PUT, "42769/5", o, 2, body, 256, 5000);
  expect(r, COAP_RESPONSE_CODE(231), NULL);
  coap_delete_pdu(r);
  o[1].u = blk(2, true, 4);
  r = request(&c, COAP_REQUEST_CODE_PUT, "42769/5", o, 2, body + 512, 256, 5000);
  expect(r, COAP_RESPONSE_CODE(408), "starts at byte 512, but 256 bytes came before it");
  coap_delete_pdu(r);
  o[1].u = blk(1, true, 4);
  r = request(&c, COAP_REQUEST_CODE_PUT, "42769/5", o, 2, body + 256, 256, 5000);
  expect(r, COAP_RESPONSE_CODE(408), "no Block1 transfer of /42769/5 in progress");
  coap_delete_pdu(r);
  r = request(&c, COAP_REQUEST_CODE_GET, "42769/5", NULL, 0, NULL, 0, 5000);
  expect(r, COAP_RESPONSE_CODE(404), "no instance /42769/5");
  coap_delete_pdu(r);
  o[1].u = blk(0, true, 4);
  r = request(&c, COAP_REQUEST_CODE_PUT, "42769/5", o, 2, body, 100, 5000);
  expect(r, COAP_RESPONSE_CODE(400), "Block1 0/M/256 carries 100 bytes");
  coap_delete_pdu(r);
  free(body);
  client_close(&c);
}

/* Over the cap: announced by Size1 (refused at once), or adding up block by block; 4.13 with
 * the cap in Size1 either way, and nothing stored. */
static void test_block1_too_big(void **state) {
  (void)state;
  client c;
  client_open(&c);
  static char junk[1024];
  memset(junk, 'x', sizeof junk);
  lmmt_opt o[3] = {{COAP_OPTION_CONTENT_FORMAT, NULL, 110},
                   {COAP_OPTION_BLOCK1, NULL, blk(0, true, 6)},
                   {COAP_OPTION_SIZE1, NULL, BODY_CAP + 1}};
  coap_pdu_t *r = request(&c, COAP_REQUEST_CODE_PUT, "42769/6", o, 3, junk, sizeof junk, 5000);
  expect(r, COAP_RESPONSE_CODE(413), "over the gateway's 262144");
  assert_int_equal(lmmt_pdu_opt_uint(r, COAP_OPTION_SIZE1), BODY_CAP);
  coap_delete_pdu(r);
  unsigned num = 0;
  for (; num < BODY_CAP / sizeof junk; num++) {
    o[1].u = blk(num, true, 6);
    r = request(&c, COAP_REQUEST_CODE_PUT, "42769/6", o, 2, junk, sizeof junk, 5000);
    expect(r, COAP_RESPONSE_CODE(231), NULL);
    coap_delete_pdu(r);
  }
  o[1].u = blk(num, true, 6); /* one byte past the cap would do: a whole block is past it */
  r = request(&c, COAP_REQUEST_CODE_PUT, "42769/6", o, 2, junk, sizeof junk, 5000);
  expect(r, COAP_RESPONSE_CODE(413), "/42769/6 is 263168 bytes or more");
  assert_int_equal(lmmt_pdu_opt_uint(r, COAP_OPTION_SIZE1), BODY_CAP);
  coap_delete_pdu(r);
  o[1].u = blk(1, true, 6); /* the transfer is gone */
  r = request(&c, COAP_REQUEST_CODE_PUT, "42769/6", o, 2, junk, sizeof junk, 5000);
  expect(r, COAP_RESPONSE_CODE(408), "no Block1 transfer of /42769/6 in progress");
  coap_delete_pdu(r);
  r = request(&c, COAP_REQUEST_CODE_GET, "42769/6", NULL, 0, NULL, 0, 5000);
  expect(r, COAP_RESPONSE_CODE(404), NULL);
  coap_delete_pdu(r);
  client_close(&c);
}

/* Nine transfers left after their first block: the gateway keeps eight, so the oldest is
 * gone (4.08) while the newest goes on; an abandoned one started again from block 0 is
 * stored whole. */
static void test_block1_abandoned(void **state) {
  (void)state;
  client c;
  client_open(&c);
  char *body[9], path[32];
  lmmt_opt o[2] = {{COAP_OPTION_CONTENT_FORMAT, NULL, 110},
                   {COAP_OPTION_BLOCK1, NULL, blk(0, true, 4)}};
  for (int i = 0; i < 9; i++) {
    body[i] = instance(10 + i, 2, "");
    snprintf(path, sizeof path, "42769/%d", 10 + i);
    coap_pdu_t *r = request(&c, COAP_REQUEST_CODE_PUT, path, o, 2, body[i], 256, 5000);
    expect(r, COAP_RESPONSE_CODE(231), NULL);
    coap_delete_pdu(r);
  }
  o[1].u = blk(1, true, 4);
  coap_pdu_t *r = request(&c, COAP_REQUEST_CODE_PUT, "42769/10", o, 2, body[0] + 256, 256, 5000);
  expect(r, COAP_RESPONSE_CODE(408), "no Block1 transfer of /42769/10 in progress");
  coap_delete_pdu(r);
  r = request(&c, COAP_REQUEST_CODE_PUT, "42769/18", o, 2, body[8] + 256, 256, 5000);
  expect(r, COAP_RESPONSE_CODE(231), NULL);
  coap_delete_pdu(r);
  r = put_blocks(&c, "42769/11", body[1], 4);
  expect(r, COAP_RESPONSE_CODE(201), NULL);
  coap_delete_pdu(r);
  size_t len;
  char *back = fetch(&c, "42769/11", -1, 5000, &len, NULL);
  assert_non_null(strstr(back, "\"n\":\"0\",\"vs\":\"g11\"}"));
  assert_non_null(strstr(back, W.list));
  free(back);
  for (int i = 0; i < 9; i++)
    free(body[i]);
  client_close(&c);
}

/* ------------------------------------------------------------------ Block2 */

/* The Read answer of 200 members (~44 KB), fetched in blocks of 1024 and of 64 bytes, and by
 * coap-client -b 64: the same body each time (the devices' Locations are fixed). A later
 * block is served from the answer kept for that peer; another peer asking for one gets 4.08,
 * and nothing fans out again. */
static void test_block2_answer(void **state) {
  (void)state;
  client c, other;
  client_open(&c), client_open(&other);
  char *body = instance(20, 2, "");
  coap_pdu_t *r = put_blocks(&c, "42769/20", body, 6);
  expect(r, COAP_RESPONSE_CODE(201), NULL);
  coap_delete_pdu(r);
  free(body);
  size_t la, lb;
  char *a = fetch(&c, "fanout/g20/6/0", -1, 30000, &la, NULL);
  assert_true(la > 40000);
  assert_int_equal(lmmt_count_of(a, "\"n\":\"/status\",\"vs\":\"ok\""), N_MEMBERS);
  char *b = fetch(&c, "fanout/g20/6/0", 2, 30000, &lb, NULL);
  assert_int_equal(lb, la);
  assert_memory_equal(b, a, la);
  /* the kept answer, for this peer: block 100 of 64 bytes, again */
  r = expect_block64(&c, "fanout/g20/6/0", 100, a);
  coap_delete_pdu(r);
  lmmt_opt o = {COAP_OPTION_BLOCK2, NULL, blk(5000, false, 2)};
  r = request(&c, COAP_REQUEST_CODE_GET, "fanout/g20/6/0", &o, 1, NULL, 0, 5000);
  expect(r, COAP_RESPONSE_CODE(402), "past the end");
  coap_delete_pdu(r);
  o.u = blk(5, false, 2);
  r = request(&other, COAP_REQUEST_CODE_GET, "fanout/g20/6/0", &o, 1, NULL, 0, 5000);
  expect(r, COAP_RESPONSE_CODE(408), "that answer is no longer kept");
  coap_delete_pdu(r);

  char uri[128];
  snprintf(uri, sizeof uri, "%s/fanout/g20/6/0", W.gw.uri);
  lmmt_tool_run run = lmmt_coap_client_run(
      60 * 1000, (const char *[]){"-m", "get", "-b", "64", "-B", "30", uri, NULL});
  assert_int_equal(run.status, 0);
  size_t lc = strlen(run.out);
  while (lc && run.out[lc - 1] == '\n')
    lc--;
  if (lc != la || memcmp(run.out, a, la))
    fail_msg("coap-client -b 64: %zu bytes, not the %zu of the answer: %.200s / %s", lc, la,
             run.out, run.err);
  lmmt_tool_run_free(&run);
  /* three fan-outs: two fetches and coap-client's, none for the 4.08 */
  char *log = lmmt_read_file(W.gw.err_path, NULL);
  assert_int_equal(lmmt_count_of(log, "fan-out of /6/0 to group 'g20'"), 3);
  free(log);
  free(a), free(b);
  client_close(&c), client_close(&other);
}

/* A Read of /3/0 on members whose member IDs allow /6 only: every member is refused before
 * anything is sent, so the campaign ends within its start. The answer (block-wise: ~24 KB)
 * goes in the request's own response, every time: the group is not left marked busy (5.03). */
static void test_fanout_all_refused(void **state) {
  (void)state;
  client c;
  client_open(&c);
  size_t l1, l2;
  char *a = fetch(&c, "fanout/g20/3/0", -1, 10000, &l1, NULL);
  char *b = fetch(&c, "fanout/g20/3/0", 2, 10000, &l2, NULL);
  assert_int_equal(lmmt_count_of(a, "\"n\":\"/status\",\"vs\":\"refused\""), N_MEMBERS);
  assert_non_null(strstr(a, "{\"n\":\"/reason\",\"vs\":\"member ID ep=dev-0199/6: /6 only, not "
                            "/3/0\"}"));
  assert_int_equal(l2, l1);
  assert_memory_equal(b, a, l1);
  free(a), free(b);
  client_close(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_block1_in_order), cmocka_unit_test(test_block1_out_of_order),
      cmocka_unit_test(test_block1_too_big),  cmocka_unit_test(test_block1_abandoned),
      cmocka_unit_test(test_block2_answer),   cmocka_unit_test(test_fanout_all_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
