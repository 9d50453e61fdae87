/* test_blob_server.c - the adapter's CoAP blob server over real sockets on 127.0.0.1, fetched
 * by libcoap clients in the test: a 300 KiB blob through libcoap's own Block2 client, block
 * sizes asked by hand, 4.04/4.05/4.02, the counters, and 200 clients pulling at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lwm2m_mbms/lwm2m_mbms.h"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Not periodic in any block size, so a misplaced block changes the bytes. */
static uint8_t *make_blob(size_t len, unsigned salt) {
  uint8_t *p = malloc(len);
  assert_non_null(p);
  for (size_t i = 0; i < len; i++)
    p[i] = (uint8_t)((i * 2654435761u + salt) >> 11 ^ i ^ (i >> 8));
  return p;
}

/* ------------------------------------------------------------ a CoAP client */

/* One request's outcome; a session's app data points at it. */
typedef struct fetch {
  bool done;
  uint8_t code;
  uint8_t *body;
  size_t len;
  int cf;
  uint8_t etag[8];
  size_t etag_len;
  bool has_block2, has_size2;
  unsigned block2, size2;
} fetch;

static unsigned opt_uint(const coap_pdu_t *p, coap_option_num_t num, bool *has) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(p, num, &it);
  if (has) *has = o != NULL;
  return o ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : 0;
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
                                   const coap_pdu_t *received, const coap_mid_t mid) {
  (void)sent, (void)mid;
  fetch *f = coap_session_get_app_data(session);
  if (!f || f->done) return COAP_RESPONSE_OK;
  f->done = true;
  f->code = (uint8_t)coap_pdu_get_code(received);
  bool has_cf;
  f->cf = (int)opt_uint(received, COAP_OPTION_CONTENT_FORMAT, &has_cf);
  if (!has_cf) f->cf = -1;
  f->block2 = opt_uint(received, COAP_OPTION_BLOCK2, &f->has_block2);
  f->size2 = opt_uint(received, COAP_OPTION_SIZE2, &f->has_size2);
  coap_opt_iterator_t it;
  coap_opt_t *e = coap_check_option(received, COAP_OPTION_ETAG, &it);
  if (e && coap_opt_length(e) <= sizeof f->etag) {
    f->etag_len = coap_opt_length(e);
    memcpy(f->etag, coap_opt_value(e), f->etag_len);
  }
  size_t len = 0, off = 0, total = 0;
  const uint8_t *data = NULL;
  if (coap_get_data_large(received, &len, &data, &off, &total) && len) {
    f->body = malloc(len);
    assert_non_null(f->body);
    memcpy(f->body, data, len);
    f->len = len;
  }
  return COAP_RESPONSE_OK;
}

static coap_context_t *client_new(bool block_mode) {
  coap_context_t *c = coap_new_context(NULL);
  assert_non_null(c);
  if (block_mode) coap_context_set_block_mode(c, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(c, on_response);
  return c;
}

static coap_session_t *session_to(coap_context_t *c, uint16_t port, fetch *f) {
  coap_address_t dst;
  coap_address_init(&dst);
  dst.addr.sin.sin_family = AF_INET;
  dst.addr.sin.sin_port = htons(port);
  dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  dst.size = sizeof dst.addr.sin;
  coap_session_t *s = coap_new_client_session(c, NULL, &dst, COAP_PROTO_UDP);
  assert_non_null(s);
  coap_session_set_app_data(s, f);
  return s;
}

/* Sends `method` on the path segments (NULL-terminated), with a Block2 option unless block2 < 0. */
static void send_req(coap_session_t *s, coap_pdu_code_t method, const char *const *path,
                     long block2) {
  coap_pdu_t *p = coap_new_pdu(COAP_MESSAGE_CON, method, s);
  assert_non_null(p);
  uint8_t tok[8];
  size_t tl;
  coap_session_new_token(s, &tl, tok);
  coap_add_token(p, tl, tok);
  for (int i = 0; path[i]; i++)
    coap_add_option(p, COAP_OPTION_URI_PATH, strlen(path[i]), (const uint8_t *)path[i]);
  if (block2 >= 0) {
    uint8_t b[4];
    coap_add_option(p, COAP_OPTION_BLOCK2, coap_encode_var_safe(b, sizeof b, (unsigned)block2), b);
  }
  assert_int_not_equal(coap_send(s, p), COAP_INVALID_MID);
}

/* One turn over the library's descriptors and the client's, then both serve what is ready. */
static void pump(lmm_ctx *ctx, coap_context_t *cli) {
  struct pollfd pfd[16];
  size_t n = lmm_ctx_pollfds(ctx, pfd, 15);
  assert_true(n < 15);
  pfd[n] = (struct pollfd){.fd = coap_context_get_coap_fd(cli), .events = POLLIN};
  coap_tick_t now;
  coap_ticks(&now);
  unsigned cms = coap_io_prepare_epoll(cli, now);
  int wait = lmm_ctx_timeout_ms(ctx, 20);
  if (cms && (int)cms < wait) wait = (int)cms;
  int rc = poll(pfd, n + 1, wait);
  lmm_ctx_process(ctx, pfd, rc > 0 ? n : 0);
  for (int k = 0; k < 64; k++) {
    coap_io_process(cli, COAP_IO_NO_WAIT);
    struct pollfd p = {.fd = pfd[n].fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) break;
  }
}

static void wait_all(lmm_ctx *ctx, coap_context_t *cli, fetch *f, size_t n, int ms) {
  int64_t end = mono_ms() + ms;
  for (;;) {
    size_t done = 0;
    for (size_t i = 0; i < n; i++)
      done += f[i].done;
    if (done == n) return;
    if (mono_ms() > end) fail_msg("%zu of %zu requests answered in %d ms", done, n, ms);
    pump(ctx, cli);
  }
}

/* The 16 hex digits of a blob URI, after checking its whole form. */
static const char *uri_id(const lmm_blob_server *s, const char *uri) {
  const char *base = lmm_blob_server_base_uri(s);
  assert_non_null(uri);
  assert_memory_equal(uri, base, strlen(base));
  assert_memory_equal(uri + strlen(base), "/fw/", 4);
  const char *id = uri + strlen(base) + 4;
  assert_int_equal(strlen(id), 16);
  assert_int_equal(strspn(id, "0123456789abcdef"), 16);
  return id;
}

static void fetch_clear(fetch *f) {
  free(f->body);
  memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ tests */

static void test_fetch_300k(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_blob_server *s;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &s), LMM_OK);
  uint16_t port = lmm_blob_server_port(s);
  assert_true(port > 0);
  char want_base[64];
  snprintf(want_base, sizeof want_base, "coap://127.0.0.1:%u", port);
  assert_string_equal(lmm_blob_server_base_uri(s), want_base);

  const size_t len = 300 * 1024;
  uint8_t *data = make_blob(len, 1);
  lmm_blob_id id = 0;
  const char *uri = NULL;
  assert_int_equal(lmm_blob_server_add(s, data, len, 0, &id, &uri), LMM_OK);
  assert_true(id != 0);
  assert_string_equal(lmm_blob_server_uri(s, id), uri);
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, id);
  assert_string_equal(uri_id(s, uri), hex);
  uint8_t *expect = malloc(len);
  memcpy(expect, data, len);
  memset(data, 0xAA, len); /* copied at add: the caller's buffer is no longer read */
  free(data);

  coap_context_t *cli = client_new(true);
  fetch f = {0};
  coap_session_t *cs = session_to(cli, port, &f);
  const char *path[] = {"fw", hex, NULL};
  int64_t t0 = mono_ms();
  send_req(cs, COAP_REQUEST_CODE_GET, path, -1);
  wait_all(ctx, cli, &f, 1, 20000);
  print_message("300 KiB with Block2 in %lld ms\n", (long long)(mono_ms() - t0));
  assert_int_equal(f.code, COAP_RESPONSE_CODE_CONTENT);
  assert_int_equal(f.len, len);
  assert_memory_equal(f.body, expect, len);
  assert_int_equal(f.cf, 42);
  unsigned char d[32];
  assert_int_equal(mbedtls_sha256_ret(expect, len, d, 0), 0);
  assert_int_equal(f.etag_len, 8);
  assert_memory_equal(f.etag, d, 8);

  lmm_blob_server_stats st;
  lmm_blob_server_get_stats(s, &st);
  assert_int_equal(st.bytes_sent, len);
  assert_int_equal(st.blocks, len / 1024);
  assert_int_equal(st.requests, len / 1024);
  assert_int_equal(st.completions, 1);
  assert_int_equal(st.not_found, 0);
  lmm_blob_stats bst;
  assert_int_equal(lmm_blob_server_blob_stats(s, id, &bst), LMM_OK);
  assert_int_equal(bst.bytes_sent, len);
  assert_int_equal(bst.blocks, len / 1024);
  assert_int_equal(bst.completions, 1);

  /* Removed: the same path is 4.04 now, and the ID is unknown to every call. */
  assert_int_equal(lmm_blob_server_remove(s, id), LMM_OK);
  assert_int_equal(lmm_blob_server_remove(s, id), LMM_ERR_NOTFOUND);
  assert_null(lmm_blob_server_uri(s, id));
  assert_int_equal(lmm_blob_server_blob_stats(s, id, &bst), LMM_ERR_NOTFOUND);
  fetch_clear(&f);
  send_req(cs, COAP_REQUEST_CODE_GET, path, -1);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.code, COAP_RESPONSE_CODE_NOT_FOUND);
  fetch_clear(&f);

  coap_free_context(cli);
  free(expect);
  lmm_blob_server_free(s);
  lmm_ctx_free(ctx);
}

/* Block sizes asked by hand: a smaller SZX is honoured, a larger one rescaled to the server's
 * maximum over the same offset; a block past the end is 4.02; a small blob needs no Block2. */
static void test_block_sizes(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_blob_server_config cfg = LMM_BLOB_SERVER_CONFIG_DEFAULT;
  cfg.max_block_size = 256;
  cfg.advertise_host = "fw.example.net";
  lmm_blob_server *s;
  assert_int_equal(lmm_blob_server_new(ctx, &cfg, &s), LMM_OK);
  char want[64];
  snprintf(want, sizeof want, "coap://fw.example.net:%u", lmm_blob_server_port(s));
  assert_string_equal(lmm_blob_server_base_uri(s), want);
  const size_t len = 5000;
  uint8_t *data = make_blob(len, 2);
  lmm_blob_id id, small_id;
  const char *uri, *small_uri;
  assert_int_equal(lmm_blob_server_add(s, data, len, LMM_BLOB_BORROW, &id, &uri), LMM_OK);
  assert_int_equal(lmm_blob_server_add(s, data, 100, 0, &small_id, &small_uri), LMM_OK);
  assert_true(id != small_id);
  char hex[17], small_hex[17];
  snprintf(hex, sizeof hex, "%s", uri_id(s, uri));
  snprintf(small_hex, sizeof small_hex, "%s", uri_id(s, small_uri));
  const char *path[] = {"fw", hex, NULL}, *small_path[] = {"fw", small_hex, NULL};

  coap_context_t *cli = client_new(false);
  fetch f = {0};
  coap_session_t *cs = session_to(cli, lmm_blob_server_port(s), &f);
  unsigned char d[32];
  assert_int_equal(mbedtls_sha256_ret(data, len, d, 0), 0);

  /* Block 5 of 64 bytes (SZX 2): bytes 320..383, more to come; no Size2 past block 0. */
  send_req(cs, COAP_REQUEST_CODE_GET, path, 5 << 4 | 2);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.code, COAP_RESPONSE_CODE_CONTENT);
  assert_true(f.has_block2);
  assert_int_equal(f.block2, 5 << 4 | 1 << 3 | 2);
  assert_int_equal(f.len, 64);
  assert_memory_equal(f.body, data + 320, 64);
  assert_int_equal(f.cf, 42);
  assert_memory_equal(f.etag, d, 8);
  assert_false(f.has_size2);
  fetch_clear(&f);

  /* Block 0 without Block2 in the request: 256 bytes (the server's maximum), M set, Size2. */
  send_req(cs, COAP_REQUEST_CODE_GET, path, -1);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.block2, 0 << 4 | 1 << 3 | 4);
  assert_int_equal(f.len, 256);
  assert_memory_equal(f.body, data, 256);
  assert_true(f.has_size2);
  assert_int_equal(f.size2, len);
  fetch_clear(&f);

  /* Block 2 of 1024 (offset 2048) asked from a server of 256: block 8 of 256. */
  send_req(cs, COAP_REQUEST_CODE_GET, path, 2 << 4 | 6);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.block2, 8 << 4 | 1 << 3 | 4);
  assert_memory_equal(f.body, data + 2048, 256);
  fetch_clear(&f);

  /* The last block: short, M clear (5000 = 19 * 256 + 136). */
  send_req(cs, COAP_REQUEST_CODE_GET, path, 19 << 4 | 4);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.block2, 19 << 4 | 4);
  assert_int_equal(f.len, 136);
  assert_memory_equal(f.body, data + 19 * 256, 136);
  fetch_clear(&f);

  /* Past the end, and BERT (SZX 7, TCP only): 4.02. */
  send_req(cs, COAP_REQUEST_CODE_GET, path, 20 << 4 | 4);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.code, COAP_RESPONSE_CODE_BAD_OPTION);
  fetch_clear(&f);
  send_req(cs, COAP_REQUEST_CODE_GET, path, 7);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.code, COAP_RESPONSE_CODE_BAD_OPTION);
  fetch_clear(&f);

  /* A blob of one block goes whole, without Block2. */
  send_req(cs, COAP_REQUEST_CODE_GET, small_path, -1);
  wait_all(ctx, cli, &f, 1, 5000);
  assert_int_equal(f.code, COAP_RESPONSE_CODE_CONTENT);
  assert_false(f.has_block2);
  assert_int_equal(f.len, 100);
  assert_memory_equal(f.body, data, 100);
  fetch_clear(&f);

  lmm_blob_server_stats st;
  lmm_blob_server_get_stats(s, &st);
  assert_int_equal(st.requests, 7);
  assert_int_equal(st.blocks, 5);
  assert_int_equal(st.bytes_sent, 64 + 256 + 256 + 136 + 100);
  assert_int_equal(st.bad_block, 2);
  assert_int_equal(st.completions, 2);

  coap_free_context(cli);
  lmm_blob_server_free(s); /* the borrowed blob is still registered: free leaves `data` alone */
  free(data);
  lmm_ctx_free(ctx);
}

static void test_not_found_and_methods(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_blob_server *s;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &s), LMM_OK);
  uint8_t data[2000] = {1, 2, 3};
  lmm_blob_id id;
  const char *uri;
  assert_int_equal(lmm_blob_server_add(s, data, sizeof data, 0, &id, &uri), LMM_OK);
  char hex[17], other[17];
  snprintf(hex, sizeof hex, "%s", uri_id(s, uri));
  snprintf(other, sizeof other, "%016" PRIx64, id ^ 1);

  coap_context_t *cli = client_new(false);
  fetch f = {0};
  coap_session_t *cs = session_to(cli, lmm_blob_server_port(s), &f);
  static const struct {
    coap_pdu_code_t method;
    int path; /* 0 the blob, 1 another ID, 2 /fw, 3 /x/<id>, 4 the blob + one more segment */
    uint8_t code;
  } cases[] = {
      {COAP_REQUEST_CODE_GET, 1, COAP_RESPONSE_CODE_NOT_FOUND},
      {COAP_REQUEST_CODE_GET, 2, COAP_RESPONSE_CODE_NOT_FOUND},
      {COAP_REQUEST_CODE_GET, 3, COAP_RESPONSE_CODE_NOT_FOUND},
      {COAP_REQUEST_CODE_GET, 4, COAP_RESPONSE_CODE_NOT_FOUND},
      {COAP_REQUEST_CODE_PUT, 0, COAP_RESPONSE_CODE_NOT_ALLOWED},
      {COAP_REQUEST_CODE_POST, 0, COAP_RESPONSE_CODE_NOT_ALLOWED},
      {COAP_REQUEST_CODE_DELETE, 0, COAP_RESPONSE_CODE_NOT_ALLOWED},
      {COAP_REQUEST_CODE_DELETE, 1, COAP_RESPONSE_CODE_NOT_FOUND},
      {COAP_REQUEST_CODE_PUT, 1, COAP_RESPONSE_CODE_NOT_FOUND},
      {COAP_REQUEST_CODE_GET, 0, COAP_RESPONSE_CODE_CONTENT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *p0[] = {"fw", hex, NULL}, *p1[] = {"fw", other, NULL}, *p2[] = {"fw", NULL},
               *p3[] = {"x", hex, NULL}, *p4[] = {"fw", hex, "more", NULL};
    const char *const *paths[] = {p0, p1, p2, p3, p4};
    send_req(cs, cases[i].method, paths[cases[i].path], -1);
    wait_all(ctx, cli, &f, 1, 5000);
    if (f.code != cases[i].code) fail_msg("case %zu: code %#x", i, f.code);
    fetch_clear(&f);
  }
  lmm_blob_server_stats st;
  lmm_blob_server_get_stats(s, &st);
  assert_int_equal(st.requests, 10);
  assert_int_equal(st.not_found, 6);
  assert_int_equal(st.bad_method, 3);
  assert_int_equal(st.blocks, 1);
  assert_int_equal(st.bytes_sent, 1024);
  lmm_blob_stats bst;
  assert_int_equal(lmm_blob_server_blob_stats(s, id, &bst), LMM_OK);
  assert_int_equal(bst.requests, 1); /* GETs of the blob only */

  coap_free_context(cli);
  lmm_blob_server_free(s);
  lmm_ctx_free(ctx);
}

/* 200 clients, each its own socket and session, pull a 32 KiB blob at the same time. */
static void test_many_clients(void **state) {
  (void)state;
  enum { N = 200, LEN = 32 * 1024 };
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_blob_server *s;
  assert_int_equal(lmm_blob_server_new(ctx, NULL, &s), LMM_OK);
  uint8_t *data = make_blob(LEN, 3);
  lmm_blob_id id;
  const char *uri;
  assert_int_equal(lmm_blob_server_add(s, data, LEN, 0, &id, &uri), LMM_OK);
  char hex[17];
  snprintf(hex, sizeof hex, "%s", uri_id(s, uri));
  const char *path[] = {"fw", hex, NULL};
  coap_context_t *cli = client_new(true);
  fetch *f = calloc(N, sizeof *f);
  assert_non_null(f);
  int64_t t0 = mono_ms();
  for (int i = 0; i < N; i++)
    send_req(session_to(cli, lmm_blob_server_port(s), &f[i]), COAP_REQUEST_CODE_GET, path, -1);
  wait_all(ctx, cli, f, N, 60000);
  print_message("%d clients x %d bytes in %lld ms\n", N, LEN, (long long)(mono_ms() - t0));
  for (int i = 0; i < N; i++) {
    assert_int_equal(f[i].code, COAP_RESPONSE_CODE_CONTENT);
    assert_int_equal(f[i].len, LEN);
    assert_memory_equal(f[i].body, data, LEN);
    fetch_clear(&f[i]);
  }
  lmm_blob_stats bst;
  assert_int_equal(lmm_blob_server_blob_stats(s, id, &bst), LMM_OK);
  assert_int_equal(bst.completions, N);
  assert_true(bst.bytes_sent >= (uint64_t)N * LEN); /* more only if a block was asked twice */
  free(f);
  coap_free_context(cli);
  free(data);
  lmm_blob_server_free(s);
  lmm_ctx_free(ctx);
}

static void test_args(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_blob_server *s = NULL;
  lmm_blob_server_config cfg = LMM_BLOB_SERVER_CONFIG_DEFAULT;
  assert_int_equal(lmm_blob_server_new(NULL, NULL, &s), LMM_ERR_ARG);
  cfg.bind_addr = "localhost"; /* numeric only */
  assert_int_equal(lmm_blob_server_new(ctx, &cfg, &s), LMM_ERR_ARG);
  cfg.bind_addr = "0.0.0.0"; /* a wildcard needs a host to advertise */
  assert_int_equal(lmm_blob_server_new(ctx, &cfg, &s), LMM_ERR_ARG);
  cfg.bind_addr = NULL;
  cfg.max_block_size = 1000;
  assert_int_equal(lmm_blob_server_new(ctx, &cfg, &s), LMM_ERR_ARG);
  cfg.max_block_size = 2048;
  assert_int_equal(lmm_blob_server_new(ctx, &cfg, &s), LMM_ERR_ARG);
  assert_null(s);
  cfg = (lmm_blob_server_config)LMM_BLOB_SERVER_CONFIG_DEFAULT;
  cfg.bind_addr = "0.0.0.0";
  cfg.advertise_host = "192.0.2.7";
  assert_int_equal(lmm_blob_server_new(ctx, &cfg, &s), LMM_OK);
  uint8_t b[16] = {0};
  lmm_blob_id id;
  const char *uri;
  assert_int_equal(lmm_blob_server_add(s, NULL, 4, 0, &id, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_blob_server_add(s, b, 0, 0, &id, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_blob_server_add(s, b, sizeof b, 0, NULL, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_blob_server_add(s, b, sizeof b, 0, &id, &uri), LMM_OK);
  assert_memory_equal(uri, "coap://192.0.2.7:", 17);
  assert_int_equal(lmm_blob_server_remove(s, 0), LMM_ERR_NOTFOUND);
  lmm_blob_server_free(s);
  lmm_blob_server_free(NULL);
  lmm_ctx_free(ctx);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1; /* libcoap's set-up too */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_args),         cmocka_unit_test(test_fetch_300k),
      cmocka_unit_test(test_block_sizes),  cmocka_unit_test(test_not_found_and_methods),
      cmocka_unit_test(test_many_clients),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
