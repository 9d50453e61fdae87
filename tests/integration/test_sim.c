/* test_sim.c - the real lwm2m-mbms-sim over loopback: every object in every format, the Group
 * Mgmt object, firmware push and update, CoAPS keys, faults, the files it writes, a large
 * fleet, and a clean stop. Talks with a small libcoap client, raw UDP and coap-client-openssl. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define GM             LMM_GROUP_MGMT_OID
#define C(cls, detail) (((cls) << 5) | (detail))

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Host of device i for the default base address 127.1.0.1 (fleets below 254 devices). */
static const char *host_of(unsigned i) {
  static char buf[4][16];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "127.1.0.%u", i + 1);
  return buf[k];
}

/* ------------------------------------------------------------------ libcoap client */

typedef struct resp {
  int code; /* 0: no answer */
  int cf;   /* -1 when absent */
  uint8_t *data;
  size_t len;
  char loc[32]; /* Location-Path joined by '/' */
  bool done, failed;
} resp;

static void resp_free(resp *r) {
  free(r->data);
  memset(r, 0, sizeof *r);
}

static coap_response_t on_resp(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd,
                               const coap_mid_t mid) {
  (void)sent, (void)mid;
  resp *r = coap_session_get_app_data(s);
  if (!r) return COAP_RESPONSE_OK;
  size_t len, off, total;
  const uint8_t *d;
  coap_opt_iterator_t it;
  coap_opt_t *o;
  r->code = coap_pdu_get_code(rcvd);
  o = coap_check_option(rcvd, COAP_OPTION_CONTENT_FORMAT, &it);
  r->cf = o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
  if (coap_get_data_large(rcvd, &len, &d, &off, &total)) {
    r->data = malloc(len + 1);
    memcpy(r->data, d, len);
    r->data[len] = '\0';
    r->len = len;
  }
  coap_opt_filter_t fl;
  coap_option_filter_clear(&fl);
  coap_option_filter_set(&fl, COAP_OPTION_LOCATION_PATH);
  coap_option_iterator_init(rcvd, &it, &fl);
  while ((o = coap_option_next(&it))) {
    size_t n = strlen(r->loc);
    snprintf(r->loc + n, sizeof r->loc - n, "/%.*s", (int)coap_opt_length(o),
             (const char *)coap_opt_value(o));
  }
  r->done = true;
  return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid) {
  (void)sent, (void)reason, (void)mid;
  resp *r = coap_session_get_app_data(s);
  if (r) r->failed = r->done = true; /* NULL: the context is being freed */
}

static int on_event(coap_session_t *s, const coap_event_t ev) {
  resp *r = coap_session_get_app_data(s);
  if (r && (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED ||
            ev == COAP_EVENT_SESSION_FAILED))
    r->failed = r->done = true;
  return 0;
}

typedef struct peer {
  const char *host;
  int port;
  const char *psk_id; /* CoAPS when set */
  const uint8_t *key;
  size_t key_len;
} peer;

/* One request; waits at most `wait_ms` for its outcome. Block1 and Block2 are done by libcoap
 * (COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY on the client side). */
static resp request(const peer *pe, coap_pdu_code_t method, const char *path, int cf, int accept,
                    const void *payload, size_t len, int wait_ms) {
  resp r = {0};
  coap_address_t dst;
  coap_address_init(&dst);
  dst.addr.sin.sin_family = AF_INET;
  dst.addr.sin.sin_port = htons((uint16_t)pe->port);
  inet_pton(AF_INET, pe->host, &dst.addr.sin.sin_addr);
  dst.size = sizeof dst.addr.sin;
  coap_context_t *ctx = coap_new_context(NULL);
  assert_non_null(ctx);
  coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(ctx, on_resp);
  coap_register_nack_handler(ctx, on_nack);
  coap_register_event_handler(ctx, on_event);
  coap_session_t *s;
  if (pe->psk_id) {
    coap_dtls_cpsk_t cpsk;
    memset(&cpsk, 0, sizeof cpsk);
    cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    cpsk.psk_info.identity.s = (const uint8_t *)pe->psk_id;
    cpsk.psk_info.identity.length = strlen(pe->psk_id);
    cpsk.psk_info.key.s = pe->key;
    cpsk.psk_info.key.length = pe->key_len;
    s = coap_new_client_session_psk2(ctx, NULL, &dst, COAP_PROTO_DTLS, &cpsk);
  } else {
    s = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
  }
  assert_non_null(s);
  coap_session_set_app_data(s, &r);
  coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, method, s);
  assert_non_null(pdu);
  uint8_t tok[8], buf[4];
  size_t tl;
  coap_session_new_token(s, &tl, tok);
  coap_add_token(pdu, tl, tok);
  coap_optlist_t *ol = NULL;
  for (const char *p = path; *p;) {
    p += *p == '/';
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_URI_PATH, n, (const uint8_t *)p));
    p += n;
  }
  if (cf >= 0)
    coap_insert_optlist(&ol,
                        coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
                                         coap_encode_var_safe(buf, sizeof buf, (unsigned)cf), buf));
  if (accept >= 0)
    coap_insert_optlist(
        &ol, coap_new_optlist(COAP_OPTION_ACCEPT,
                              coap_encode_var_safe(buf, sizeof buf, (unsigned)accept), buf));
  coap_add_optlist_pdu(pdu, &ol);
  coap_delete_optlist(ol);
  if (payload) coap_add_data_large_request(s, pdu, len, payload, NULL, NULL);
  coap_send(s, pdu);
  double end = now_s() + wait_ms / 1000.0;
  while (!r.done && now_s() < end)
    coap_io_process(ctx, 50);
  coap_session_set_app_data(s, NULL);
  coap_session_release(s);
  coap_free_context(ctx);
  return r;
}

/* GET `path` from n peers at once: one session (its own socket) each, all in one context, so
 * that every request is out before any answer comes. Waits at most `wait_ms` for them all. */
static void get_many(const peer *pes, size_t n, const char *path, resp *out, int wait_ms) {
  coap_context_t *ctx = coap_new_context(NULL);
  assert_non_null(ctx);
  coap_register_response_handler(ctx, on_resp);
  coap_register_nack_handler(ctx, on_nack);
  coap_session_t **ss = calloc(n, sizeof *ss);
  assert_non_null(ss);
  for (size_t k = 0; k < n; k++) {
    memset(&out[k], 0, sizeof out[k]);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)pes[k].port);
    inet_pton(AF_INET, pes[k].host, &dst.addr.sin.sin_addr);
    dst.size = sizeof dst.addr.sin;
    ss[k] = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
    assert_non_null(ss[k]);
    coap_session_set_app_data(ss[k], &out[k]);
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, ss[k]);
    assert_non_null(pdu);
    uint8_t tok[8];
    size_t tl;
    coap_session_new_token(ss[k], &tl, tok);
    coap_add_token(pdu, tl, tok);
    for (const char *p = path; *p;) {
      p += *p == '/';
      const char *e = strchr(p, '/');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      coap_add_option(pdu, COAP_OPTION_URI_PATH, l, (const uint8_t *)p);
      p += l;
    }
    assert_int_not_equal(coap_send(ss[k], pdu), COAP_INVALID_MID);
  }
  double end = now_s() + wait_ms / 1000.0;
  for (size_t done = 0; done < n && now_s() < end;) {
    coap_io_process(ctx, 20);
    done = 0;
    for (size_t k = 0; k < n; k++)
      done += out[k].done;
  }
  for (size_t k = 0; k < n; k++) {
    coap_session_set_app_data(ss[k], NULL);
    coap_session_release(ss[k]);
  }
  free(ss);
  coap_free_context(ctx);
}

static resp get(const peer *pe, const char *path, int accept) {
  return request(pe, COAP_REQUEST_CODE_GET, path, -1, accept, NULL, 0, 5000);
}

static resp put(const peer *pe, const char *path, int cf, const void *data, size_t len) {
  return request(pe, COAP_REQUEST_CODE_PUT, path, cf, -1, data, len, 10000);
}

static resp post(const peer *pe, const char *path, int cf, const void *data, size_t len) {
  return request(pe, COAP_REQUEST_CODE_POST, path, cf, -1, data, len, 5000);
}

/* Decodes an answer with the library's codecs (the simulator must produce what it reads). */
static void decode_answer(const resp *r, const char *base, lmm_records *out) {
  lmm_path p;
  char why[160] = "";
  assert_int_equal(lmm_path_parse(base, &p), LMM_OK);
  const lmm_obj_def *def = lmm_obj_def_oma(p.oid);
  lmm_obj_def gm;
  if (!def) {
    lmm_group_mgmt_def(p.oid, &gm);
    def = &gm;
  }
  if (lmm_lwm2m_decode((uint16_t)r->cf, &p, r->data, r->len, def, out, why, sizeof why) != LMM_OK)
    fail_msg("cannot decode the answer for %s (format %d): %s", base, r->cf, why);
}

static const lmm_value *find(const lmm_records *rs, int rid, int riid) {
  for (size_t k = 0; k < rs->n; k++)
    if (rs->items[k].path.rid == rid &&
        (riid < 0 ? rs->items[k].path.depth == 3
                  : rs->items[k].path.depth == 4 && rs->items[k].path.riid == riid))
      return &rs->items[k].value;
  return NULL;
}

/* ------------------------------------------------------------------ raw UDP */

/* A CoAP message with Uri-Path segments of `path`, an optional Accept and payload. */
static size_t coap_msg(uint8_t *b, int type, int code, uint16_t mid, const char *path,
                       const void *payload, size_t plen) {
  size_t n = 0;
  b[n++] = (uint8_t)(0x40 | (type << 4) | 1);
  b[n++] = (uint8_t)code;
  b[n++] = (uint8_t)(mid >> 8), b[n++] = (uint8_t)mid;
  b[n++] = 0x5a; /* token */
  unsigned last = 0;
  for (const char *p = path; *p;) {
    p += *p == '/';
    const char *e = strchr(p, '/');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    b[n++] = (uint8_t)(((11 - last) << 4) | l);
    memcpy(b + n, p, l);
    n += l, p += l, last = 11;
  }
  if (plen) {
    b[n++] = 0xff;
    memcpy(b + n, payload, plen);
    n += plen;
  }
  return n;
}

/* Payload of a CoAP message (after the 0xFF marker), walking the options; NULL if none. */
static const uint8_t *coap_payload(const uint8_t *b, size_t n, size_t *plen) {
  size_t k = 4 + (b[0] & 15);
  while (k < n && b[k] != 0xff) {
    unsigned d = b[k] >> 4, l = b[k] & 15;
    k++;
    if (d == 13) k += 1;
    if (d == 14) k += 2;
    if (l == 13)
      l = 13u + b[k++];
    else if (l == 14)
      l = 269u + ((unsigned)b[k] << 8) + b[k + 1], k += 2;
    k += l;
  }
  if (k >= n) return NULL;
  *plen = n - k - 1;
  return b + k + 1;
}

static int udp_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void udp_send(int fd, const char *host, int port, const void *b, size_t n) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  assert_int_equal(sendto(fd, b, n, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)n);
}

/* One datagram within `ms`; its source address into `from` (may be NULL). -1 on timeout. */
static ssize_t udp_recv(int fd, uint8_t *b, size_t cap, int ms, char *from) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0) return -1;
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  ssize_t n = recvfrom(fd, b, cap, 0, (struct sockaddr *)&a, &al);
  if (from) inet_ntop(AF_INET, &a.sin_addr, from, INET_ADDRSTRLEN);
  return n;
}

/* ------------------------------------------------------------------ running things */

typedef struct run {
  int status;
  char *out, *err;
} run;

static run run_sim(const char *const *args) {
  char dir[] = "/tmp/lmmt-simcli-XXXXXX", out[64], err[64];
  assert_non_null(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  const char *argv[40] = {getenv("LMM_SIM")};
  assert_non_null(argv[0]);
  int n = 1;
  for (int i = 0; args[i] && n < 39; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1), dup2(fe, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  bool done = false;
  for (int i = 0; i < 1000 && !done; i++) { /* 10 s */
    if (waitpid(pid, &st, WNOHANG) == pid)
      done = true;
    else
      sleep_ms(10);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  run r = {done && WIFEXITED(st) ? WEXITSTATUS(st) : -1, lmmt_read_file(out, NULL),
           lmmt_read_file(err, NULL)};
  unlink(out), unlink(err), rmdir(dir);
  return r;
}

static void run_free(run *r) {
  free(r->out), free(r->err);
}

/* Runs coap-client-openssl (Debian's libcoap3-bin) with `args`; its stdout, or NULL when it
 * is not installed. Every call is bounded by its own -B. */
static char *coap_client(const char *args) {
  if (access("/usr/bin/coap-client-openssl", X_OK) != 0) return NULL;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "/usr/bin/coap-client-openssl -B 5 %s 2>/dev/null", args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 1 << 16, n = 0, r;
  char *out = malloc(cap);
  while ((r = fread(out + n, 1, cap - n - 1, p)) > 0)
    n += r;
  out[n] = '\0';
  pclose(p);
  return out;
}

static lmmt_sim start(const char *const *extra) {
  lmmt_sim s;
  assert_int_equal(lmmt_sim_start(&s, extra), 0);
  return s;
}

/* SIGTERM and a bounded wait, keeping the files (lmmt_sim_stop() removes them: call it after
 * reading them). Returns the exit status, -1 if it had to be killed. */
static int stop_keep(lmmt_sim *s) {
  int st = 0;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 1000; i++) { /* 10 s */
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    sleep_ms(10);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, &st, 0);
  s->pid = 0;
  return -1;
}

static char *sim_stderr(const lmmt_sim *s) {
  char path[160];
  snprintf(path, sizeof path, "%s/stderr", s->dir);
  char *t = lmmt_read_file(path, NULL);
  return t ? t : strdup("");
}

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t k = 0; k < n; k++)
    sprintf(out + 2 * k, "%02x", b[k]);
}

static void derive_key(const char *secret, const char *ep, uint8_t key[16]) {
  size_t sl = strlen(secret), el = strlen(ep);
  uint8_t *m = malloc(sl + el), h[32];
  memcpy(m, secret, sl);
  memcpy(m + sl, ep, el);
  mbedtls_sha256_ret(m, sl + el, h, 0);
  memcpy(key, h, 16);
  free(m);
}

/* ------------------------------------------------------------------ tests */

static void test_help_and_usage(void **state) {
  (void)state;
  run r = run_sim((const char *[]){"--help", NULL});
  assert_int_equal(r.status, 0);
  static const char *const flags[] = {"--count",
                                      "--base-addr",
                                      "--port",
                                      "--dtls",
                                      "--dtls-port",
                                      "--psk-secret",
                                      "--ep-prefix",
                                      "--object",
                                      "--tlv-every",
                                      "--members-file",
                                      "--ready-file",
                                      "--group-mgmt-oid",
                                      "--server",
                                      "--drop",
                                      "--seed",
                                      "--stats-json",
                                      "--verbose",
                                      "--update-ms",
                                      "--max-idle-sessions",
                                      "--session-timeout",
                                      "--delay-ms",
                                      "--require-accept",
                                      "--formats",
                                      "--no-group-mgmt",
                                      "--fw-no-success",
                                      "--max-observations",
                                      "--notify-con-every",
                                      "--help"};
  for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
    if (!strstr(r.out, flags[k])) fail_msg("--help does not document %s", flags[k]);
  run_free(&r);

  const char *const *bad[] = {
      (const char *[]){"--frobnicate", NULL},
      (const char *[]){"--count", "0", NULL},
      (const char *[]){"--count", "10001", NULL},
      (const char *[]){"--count", NULL},
      (const char *[]){"--base-addr", "127.1.0.0", NULL},
      (const char *[]){"--base-addr", "localhost", NULL},
      (const char *[]){"--drop", "1.5", NULL},
      (const char *[]){"--port", "70000", NULL},
      (const char *[]){"--delay-ms", "60001", NULL},
      (const char *[]){"--delay-ms", "-1", NULL},
      (const char *[]){"--delay-ms", "0.5", NULL},
      (const char *[]){"--ep-prefix", "a/b", NULL},
      (const char *[]){"--server", "0", NULL},
      (const char *[]){"--server", "1", "--server", "1=127.0.0.1:5000", NULL},
      (const char *[]){"--server", "1", "--server", "2", NULL},
      (const char *[]){"--server", "2=localhost:5683", NULL},
      (const char *[]){"--group-mgmt-oid", "5", NULL},
      (const char *[]){"--formats", "cbor", NULL},
      (const char *[]){"--formats", "text", NULL},
      (const char *[]){"--no-group-mgmt", "x", NULL},
      (const char *[]){"--fw-no-success", "", NULL},
      (const char *[]){"--max-observations", "100001", NULL},
      (const char *[]){"--notify-con-every", "-1", NULL},
      (const char *[]){"extra", NULL},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    r = run_sim(bad[k]);
    if (r.status != 2) fail_msg("'%s' exited %d, not 2", bad[k][0], r.status);
    /* One line saying what is wrong, then the hint. */
    char *nl = strchr(r.err, '\n');
    assert_non_null(nl);
    assert_true(strncmp(r.err, "lwm2m-mbms-sim: ", 16) == 0);
    assert_string_equal(nl + 1, "Try 'lwm2m-mbms-sim --help'.\n");
    run_free(&r);
  }
}

/* Position formula of docs/simulator.md. */
static void position(unsigned i, uint64_t seed, double *lat, double *lon) {
  uint64_t s = seed % 10000u;
  *lat = 48.0 + 0.0001 * (double)((i + s) % 10000u);
  *lon = 11.0 + 0.0001 * (double)((7u * (uint64_t)i + s) % 10000u);
}

static void test_read_every_object_and_format(void **state) {
  (void)state;
  lmmt_sim s =
      start((const char *[]){"--count", "20", "--tlv-every", "5", "--seed", "12345", NULL});
  peer d2 = {host_of(2), s.port, NULL, NULL, 0}, d4 = {host_of(4), s.port, NULL, NULL, 0};
  static const int objs[] = {3, 5, 6};
  for (size_t k = 0; k < 3; k++) {
    char path[16];
    snprintf(path, sizeof path, "/%d/0", objs[k]);
    /* default (SenML-JSON on a 1.1 device, TLV on a 1.0 one), then each format asked for */
    resp r = get(&d2, path, -1);
    assert_int_equal(r.code, C(2, 5));
    assert_int_equal(r.cf, LMM_FMT_SENML_JSON);
    resp_free(&r);
    r = get(&d4, path, -1);
    assert_int_equal(r.code, C(2, 5));
    assert_int_equal(r.cf, LMM_FMT_TLV);
    resp_free(&r);
    static const int fmts[] = {LMM_FMT_SENML_JSON, LMM_FMT_TLV};
    for (size_t f = 0; f < 2; f++) {
      lmm_records rs = {0};
      r = get(&d2, path, fmts[f]);
      assert_int_equal(r.code, C(2, 5));
      assert_int_equal(r.cf, fmts[f]);
      decode_answer(&r, path, &rs);
      assert_true(rs.n >= 5);
      if (objs[k] == 3) {
        assert_string_equal(find(&rs, 2, -1)->str, "dev-0002");
        assert_string_equal(find(&rs, 0, -1)->str, "lwm2m-mbms");
        assert_string_equal(find(&rs, 3, -1)->str, "1.0");
      } else if (objs[k] == 5) {
        assert_int_equal(find(&rs, 3, -1)->v.i, 0);
        assert_int_equal(find(&rs, 5, -1)->v.i, 0);
        assert_int_equal(find(&rs, 8, 1)->v.i, 1);
      } else {
        double lat, lon;
        position(2, 12345, &lat, &lon);
        assert_true(fabs(find(&rs, 0, -1)->v.f - lat) < 1e-9);
        assert_true(fabs(find(&rs, 1, -1)->v.f - lon) < 1e-9);
        assert_int_equal(find(&rs, 5, -1)->v.i, 1700000002);
      }
      lmm_records_clear(&rs);
      resp_free(&r);
    }
  }
  /* single resources: text by default and on request */
  resp r = get(&d2, "/3/0/2", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_int_equal(r.cf, LMM_FMT_TEXT);
  assert_string_equal((char *)r.data, "dev-0002");
  resp_free(&r);
  r = get(&d4, "/6/0/0", LMM_FMT_TEXT);
  assert_int_equal(r.code, C(2, 5));
  double lat, lon;
  position(4, 12345, &lat, &lon);
  assert_true(fabs(strtod((char *)r.data, NULL) - lat) < 1e-9);
  resp_free(&r);
  r = get(&d2, "/5/0/3", LMM_FMT_TLV);
  assert_int_equal(r.code, C(2, 5));
  assert_int_equal(r.cf, LMM_FMT_TLV);
  resp_free(&r);
  r = get(&d2, "/5/0/8/1", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "1");
  resp_free(&r);
  /* formats that cannot carry the answer */
  r = get(&d2, "/6/0", LMM_FMT_TEXT);
  assert_int_equal(r.code, C(4, 6));
  resp_free(&r);
  r = get(&d4, "/6/0", LMM_FMT_SENML_JSON);
  assert_int_equal(r.code, C(4, 6));
  resp_free(&r);
  r = get(&d2, "/6/0", 60);
  assert_int_equal(r.code, C(4, 6));
  resp_free(&r);
  /* Discover */
  r = get(&d2, "/5/0", LMM_FMT_LINK);
  assert_int_equal(r.code, C(2, 5));
  assert_int_equal(r.cf, LMM_FMT_LINK);
  assert_non_null(strstr((char *)r.data, "</5/0/0>"));
  assert_non_null(strstr((char *)r.data, "</5/0/8>;dim=2"));
  resp_free(&r);
  /* an independent client agrees */
  char args[128];
  snprintf(args, sizeof args, "-m get -A 110 coap://%s:%d/6/0", host_of(7), s.port);
  char *out = coap_client(args);
  if (out) {
    position(7, 12345, &lat, &lon);
    char want[32];
    snprintf(want, sizeof want, "\"v\":%.4f", lat);
    if (!strstr(out, "\"bn\":\"/6/0/\"") || !strstr(out, want))
      fail_msg("coap-client got '%s', wanted %s", out, want);
    free(out);
  }
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

/* The instance the server writes in step 3 of the flow. */
static void sample_instance(lmm_group_mgmt *g) {
  static char *tmgis[] = {"0a1b2c00101", "0a1b2d00101"};
  static uint16_t tmgi_riid[] = {0, 3};
  *g = (lmm_group_mgmt)LMM_GROUP_MGMT_INIT;
  g->group_id = "building-7";
  g->group_type = LMM_GROUP_MBMS;
  g->member_number = 20;
  g->member_list = "ep=dev-0000/42769,ep=dev-0001/42769";
  g->external_group_id = "building7@operator.example";
  g->tmgi = tmgis, g->tmgi_riid = tmgi_riid, g->n_tmgi = 2;
  g->multicast_address = "239.10.27.44";
  g->response_time_window = 30;
}

static void test_group_mgmt(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "20", "--tlv-every", "5", NULL});
  peer d1 = {host_of(1), s.port, NULL, NULL, 0}, d4 = {host_of(4), s.port, NULL, NULL, 0};
  lmm_group_mgmt g, back;
  uint8_t *senml, *tlv;
  size_t senml_len, tlv_len;
  sample_instance(&g);
  assert_int_equal(lmm_group_mgmt_encode(&g, GM, 0, LMM_FMT_SENML_JSON, &senml, &senml_len),
                   LMM_OK);
  assert_int_equal(lmm_group_mgmt_encode(&g, GM, 0, LMM_FMT_TLV, &tlv, &tlv_len), LMM_OK);

  /* whole-instance write creates it; read back in both formats */
  resp r = put(&d1, "/42769/0", LMM_FMT_SENML_JSON, senml, senml_len);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  static const int fmts[] = {LMM_FMT_SENML_JSON, LMM_FMT_TLV};
  for (size_t f = 0; f < 2; f++) {
    lmm_records rs = {0};
    r = get(&d1, "/42769/0", fmts[f]);
    assert_int_equal(r.code, C(2, 5));
    decode_answer(&r, "/42769/0", &rs);
    back = (lmm_group_mgmt)LMM_GROUP_MGMT_INIT; /* from_records clears it first */
    assert_int_equal(lmm_group_mgmt_from_records(rs.items, rs.n, &back, NULL, 0), LMM_OK);
    assert_string_equal(back.group_id, "building-7");
    assert_string_equal(back.external_group_id, "building7@operator.example");
    assert_string_equal(back.member_list, g.member_list);
    assert_int_equal(back.n_tmgi, 2);
    assert_int_equal(back.tmgi_riid[1], 3);
    assert_string_equal(back.tmgi[1], "0a1b2d00101");
    assert_int_equal(back.response_time_window, 30);
    lmm_group_mgmt_clear(&back);
    lmm_records_clear(&rs);
    resp_free(&r);
  }
  r = get(&d1, "/42769/0/6/3", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "0a1b2d00101");
  resp_free(&r);
  r = get(&d1, "/42769/0/5", -1);
  assert_string_equal((char *)r.data, "building7@operator.example");
  resp_free(&r);

  /* External Group ID is R: only the whole-instance write sets it */
  r = put(&d1, "/42769/0/5", LMM_FMT_TEXT, "other", 5);
  assert_int_equal(r.code, C(4, 5));
  resp_free(&r);
  const char *egid = "[{\"bn\":\"/42769/0/\",\"n\":\"5\",\"vs\":\"x\"}]";
  r = post(&d1, "/42769/0", LMM_FMT_SENML_JSON, egid, strlen(egid));
  assert_int_equal(r.code, C(4, 5));
  resp_free(&r);
  /* an RW resource, and a partial update adding a TMGI */
  r = put(&d1, "/42769/0/0", LMM_FMT_TEXT, "building-8", 10);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  const char *upd = "[{\"bn\":\"/42769/0/\",\"n\":\"6/5\",\"vs\":\"0a1b2e00101\"}]";
  r = post(&d1, "/42769/0", LMM_FMT_SENML_JSON, upd, strlen(upd));
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get(&d1, "/42769/0/6", LMM_FMT_SENML_JSON);
  assert_int_equal(r.code, C(2, 5));
  assert_non_null(strstr((char *)r.data, "0a1b2c00101"));
  assert_non_null(strstr((char *)r.data, "0a1b2e00101"));
  resp_free(&r);
  r = get(&d1, "/42769/0/0", -1);
  assert_string_equal((char *)r.data, "building-8");
  resp_free(&r);

  /* malformed payloads and missing mandatory resources: 4.00 with a reason */
  r = put(&d1, "/42769/0", LMM_FMT_SENML_JSON, "[{\"bn\":", 7);
  assert_int_equal(r.code, C(4, 0));
  assert_true(r.len > 0);
  resp_free(&r);
  r = put(&d1, "/42769/0", LMM_FMT_TLV, "\xc8\x00", 2);
  assert_int_equal(r.code, C(4, 0));
  resp_free(&r);
  const char *nomand = "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"g\"}]";
  r = put(&d1, "/42769/0", LMM_FMT_SENML_JSON, nomand, strlen(nomand));
  assert_int_equal(r.code, C(4, 0));
  assert_non_null(strstr((char *)r.data, "External Group ID"));
  resp_free(&r);
  r = put(&d1, "/42769/0", -1, senml, senml_len);
  assert_int_equal(r.code, C(4, 0));
  resp_free(&r);

  /* Create, then Delete */
  uint8_t *c7;
  size_t c7_len;
  assert_int_equal(lmm_group_mgmt_encode(&g, GM, 7, LMM_FMT_SENML_JSON, &c7, &c7_len), LMM_OK);
  r = post(&d1, "/42769", LMM_FMT_SENML_JSON, c7, c7_len);
  assert_int_equal(r.code, C(2, 1));
  assert_string_equal(r.loc, "/42769/7");
  resp_free(&r);
  r = post(&d1, "/42769", LMM_FMT_SENML_JSON, c7, c7_len); /* exists */
  assert_int_equal(r.code, C(4, 0));
  resp_free(&r);
  r = get(&d1, "/42769", LMM_FMT_SENML_JSON);
  assert_int_equal(r.code, C(2, 5));
  assert_non_null(strstr((char *)r.data, "7/"));
  resp_free(&r);
  r = request(&d1, COAP_REQUEST_CODE_DELETE, "/42769/7", -1, -1, NULL, 0, 5000);
  assert_int_equal(r.code, C(2, 2));
  resp_free(&r);
  r = get(&d1, "/42769/7", -1);
  assert_int_equal(r.code, C(4, 4));
  resp_free(&r);
  lmm_free(c7);

  /* a TLV-only device: TLV accepted, SenML refused */
  r = put(&d4, "/42769/0", LMM_FMT_SENML_JSON, senml, senml_len);
  assert_int_equal(r.code, C(4, 15));
  resp_free(&r);
  r = put(&d4, "/42769/0", LMM_FMT_TLV, tlv, tlv_len);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get(&d4, "/42769/0", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_int_equal(r.cf, LMM_FMT_TLV);
  resp_free(&r);

  /* a Member List larger than one block comes with Block1 and goes back with Block2 */
  char *big = malloc(40000);
  size_t bl = 0;
  for (unsigned i = 0; bl < 30000; i++)
    bl += (size_t)sprintf(big + bl, "%sep=dev-%04u/42769", i ? "," : "", i);
  lmm_group_mgmt gb;
  sample_instance(&gb);
  gb.member_list = big;
  uint8_t *bigp;
  size_t bigp_len;
  assert_int_equal(lmm_group_mgmt_encode(&gb, GM, 1, LMM_FMT_SENML_JSON, &bigp, &bigp_len), LMM_OK);
  r = put(&d1, "/42769/1", LMM_FMT_SENML_JSON, bigp, bigp_len);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get(&d1, "/42769/1/3", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_int_equal(r.len, bl);
  assert_memory_equal(r.data, big, bl);
  resp_free(&r);
  lmm_free(bigp);
  free(big);

  lmm_free(senml);
  lmm_free(tlv);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_errors_and_acl(void **state) {
  (void)state;
  /* Two server accounts turn access control on: these requests come from server 1, which owns
   * the bootstrap's Access Control instances; server 2 is a source nobody here uses. */
  lmmt_sim s =
      start((const char *[]){"--count", "20", "--server", "1", "--server", "2=127.0.0.9:9", NULL});
  peer d1 = {host_of(1), s.port, NULL, NULL, 0};
  static const struct {
    coap_pdu_code_t m;
    const char *path;
    int code;
  } cases[] = {
      {COAP_REQUEST_CODE_GET, "/99/0", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/3/1", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/3/0/99", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/42769/0", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/42769/0/6/1", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/abc", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/3/0/0/0/0", C(4, 4)},
      {COAP_REQUEST_CODE_GET, "/3/0/4", C(4, 5)}, /* executable */
      {COAP_REQUEST_CODE_GET, "/5/0/0", C(4, 5)}, /* write-only */
      {COAP_REQUEST_CODE_DELETE, "/3/0", C(4, 5)},
      {COAP_REQUEST_CODE_POST, "/3/0/2", C(4, 5)}, /* Execute on a non-executable */
      {COAP_REQUEST_CODE_POST, "/3/0/4", C(2, 4)}, /* Reboot */
      {COAP_REQUEST_CODE_POST, "/5/0/2", C(4, 5)}, /* Update while Idle */
      {COAP_REQUEST_CODE_POST, "/6", C(4, 5)},     /* Create on a single-instance object */
      {COAP_REQUEST_CODE_FETCH, "/3/0", C(4, 5)},
      {COAP_REQUEST_CODE_DELETE, "/42769/3", C(4, 4)},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    resp r = request(&d1, cases[k].m, cases[k].path, -1, -1, NULL, 0, 5000);
    if (r.code != cases[k].code)
      fail_msg("%d %s: got %d.%02d, wanted %d.%02d", cases[k].m, cases[k].path, r.code >> 5,
               r.code & 31, cases[k].code >> 5, cases[k].code & 31);
    resp_free(&r);
  }
  resp r = put(&d1, "/6/0/0", LMM_FMT_TEXT, "1.5", 3);
  assert_int_equal(r.code, C(4, 5));
  resp_free(&r);
  r = put(&d1, "/3/0/13", LMM_FMT_TEXT, "1800000000", 10); /* Current Time is RW */
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  /* no device at an address beyond the fleet */
  peer none = {"127.1.0.200", s.port, NULL, NULL, 0};
  r = get(&none, "/3/0", -1);
  assert_int_equal(r.code, C(4, 4));
  resp_free(&r);
  /* Server 1 takes away its own rights on device 3's /3/0 (Access Control instance 0) and on
   * the Create of Group Mgmt instances (instance 3): that device refuses, the others answer. */
  peer d3 = {host_of(3), s.port, NULL, NULL, 0};
  r = put(&d3, "/2/0/2/1", LMM_FMT_TEXT, "0", 1);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = put(&d3, "/2/3/2/1", LMM_FMT_TEXT, "0", 1);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get(&d3, "/3/0", -1);
  assert_int_equal(r.code, C(4, 1));
  resp_free(&r);
  r = put(&d3, "/42769/0", LMM_FMT_SENML_JSON, "[]", 2);
  assert_int_equal(r.code, C(4, 1));
  resp_free(&r);
  r = get(&d1, "/3/0", -1);
  assert_int_equal(r.code, C(2, 5));
  resp_free(&r);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static resp get_state(const peer *pe) {
  return get(pe, "/5/0/3", -1);
}

static void test_firmware(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "20", "--update-ms", "400", NULL});
  peer d5 = {host_of(5), s.port, NULL, NULL, 0};
  size_t n = 100 * 1024;
  uint8_t *fw = malloc(n), digest[32];
  char want[65];
  for (size_t k = 0; k < n; k++)
    fw[k] = (uint8_t)(k * 31 + (k >> 8));
  mbedtls_sha256_ret(fw, n, digest, 0);
  hex(digest, 32, want);

  resp r = put(&d5, "/5/0/0", LMM_FMT_OPAQUE, fw, n); /* 100 blocks of 1024 bytes */
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get_state(&d5);
  assert_string_equal((char *)r.data, "2");
  resp_free(&r);
  r = get(&d5, "/5/0/7", -1); /* PkgVersion: the SHA-256 of what arrived */
  assert_string_equal((char *)r.data, want);
  resp_free(&r);

  r = post(&d5, "/5/0/2", -1, NULL, 0);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get_state(&d5);
  assert_string_equal((char *)r.data, "3");
  resp_free(&r);
  r = post(&d5, "/5/0/2", -1, NULL, 0); /* not in Downloaded any more */
  assert_int_equal(r.code, C(4, 5));
  resp_free(&r);
  bool idle = false;
  for (int i = 0; i < 100 && !idle; i++) { /* at most ~5 s */
    r = get_state(&d5);
    idle = r.data && strcmp((char *)r.data, "0") == 0;
    resp_free(&r);
    if (!idle) sleep_ms(50);
  }
  assert_true(idle);
  r = get(&d5, "/5/0/5", -1);
  assert_string_equal((char *)r.data, "1");
  resp_free(&r);
  r = get(&d5, "/3/0/3", -1); /* the running firmware is now the package */
  assert_string_equal((char *)r.data, want);
  resp_free(&r);

  /* Package URI: a scheme other than coap:// is refused (Update Result 9); "" resets to Idle */
  r = put(&d5, "/5/0/1", LMM_FMT_TEXT, "http://127.0.0.1/fw", 19);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get(&d5, "/5/0/5", -1);
  assert_string_equal((char *)r.data, "9");
  resp_free(&r);
  r = put(&d5, "/5/0/1", LMM_FMT_TEXT, "", 0);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  r = get(&d5, "/5/0/5", -1);
  assert_string_equal((char *)r.data, "0");
  resp_free(&r);

  /* Block1 out of sequence: 4.08 (raw: block 3 with no transfer started) */
  int fd = udp_socket();
  uint8_t b[1400], in[1500];
  size_t len = coap_msg(b, 0, COAP_REQUEST_CODE_PUT, 0x1234, "/5/0/0", NULL, 0);
  len -= 0; /* Block1 option (27) after Uri-Path (11): delta 16 -> 13 + 3 */
  b[len++] = 0xd1, b[len++] = 3, b[len++] = (uint8_t)((3 << 4) | 8 | 2); /* num 3, M, 64 B */
  b[len++] = 0xff;
  memset(b + len, 7, 64);
  len += 64;
  udp_send(fd, host_of(5), s.port, b, len);
  ssize_t got = udp_recv(fd, in, sizeof in, 3000, NULL);
  assert_true(got >= 4);
  assert_int_equal(in[1], C(4, 8));
  close(fd);

  /* an independent Block1 client */
  char path[] = "/tmp/lmmt-sim-fw-XXXXXX";
  int tf = mkstemp(path);
  assert_true(tf >= 0);
  assert_int_equal(write(tf, fw, n), (ssize_t)n);
  close(tf);
  char args[256];
  snprintf(args, sizeof args, "-m put -t 42 -f %s coap://%s:%d/5/0/0", path, host_of(6), s.port);
  char *out = coap_client(args);
  if (out) {
    peer d6 = {host_of(6), s.port, NULL, NULL, 0};
    r = get(&d6, "/5/0/7", -1);
    assert_string_equal((char *)r.data, want);
    resp_free(&r);
    free(out);
  }
  unlink(path);
  free(fw);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_dtls(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "10", "--dtls", "--dtls-port", "0", "--psk-secret",
                                      "s3cret", NULL});
  assert_true(s.dtls_port > 0);
  assert_true(s.dtls_port != s.port);
  /* the members file has coaps URIs and the derived keys */
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(s.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 10);
  uint8_t key[16];
  derive_key("s3cret", "dev-0002", key);
  char uri[64];
  snprintf(uri, sizeof uri, "coaps://127.1.0.3:%d", s.dtls_port);
  assert_string_equal(m[2].uri, uri);
  assert_string_equal(m[2].psk_identity, "dev-0002");
  assert_int_equal(m[2].psk_key_len, 16);
  assert_memory_equal(m[2].psk_key, key, 16);
  lmm_members_free(m, n);

  peer ok = {host_of(2), s.dtls_port, "dev-0002", key, 16};
  resp r = get(&ok, "/3/0/2", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "dev-0002");
  resp_free(&r);
  uint8_t wrong[16];
  memcpy(wrong, key, 16);
  wrong[0] ^= 1;
  peer bad = {host_of(2), s.dtls_port, "dev-0002", wrong, 16};
  r = get(&bad, "/3/0/2", -1);
  assert_int_equal(r.code, 0);
  resp_free(&r);
  /* another device's identity and key, sent to this device: refused too */
  uint8_t k3[16];
  derive_key("s3cret", "dev-0003", k3);
  peer other = {host_of(2), s.dtls_port, "dev-0003", k3, 16};
  r = get(&other, "/3/0/2", -1);
  assert_int_equal(r.code, 0);
  resp_free(&r);
  /* plain CoAP still answers on its own port */
  peer plain = {host_of(2), s.port, NULL, NULL, 0};
  r = get(&plain, "/3/0/2", -1);
  assert_int_equal(r.code, C(2, 5));
  resp_free(&r);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_members_file_and_addresses(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "12", "--base-addr", "127.1.0.250", "--tlv-every",
                                      "4", "--object", "5", "--ep-prefix", "m-", NULL});
  char *text = lmmt_read_file(s.members_path, NULL);
  assert_non_null(text);
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(s.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 12);
  /* .250 to .254, then .1 of the next /24: .255 and .0 are skipped */
  static const char *const hosts[] = {"127.1.0.250", "127.1.0.251", "127.1.0.252", "127.1.0.253",
                                      "127.1.0.254", "127.1.1.1",   "127.1.1.2",   "127.1.1.3",
                                      "127.1.1.4",   "127.1.1.5",   "127.1.1.6",   "127.1.1.7"};
  for (size_t i = 0; i < n; i++) {
    char ep[16], uri[64];
    snprintf(ep, sizeof ep, "m-%04zu", i);
    snprintf(uri, sizeof uri, "coap://%s:%d", hosts[i], s.port);
    assert_string_equal(m[i].ep, ep);
    assert_int_equal(m[i].oid, 5);
    assert_string_equal(m[i].uri, uri);
    assert_int_equal(m[i].format, i % 4 == 3 ? LMM_FMT_TLV : LMM_FMT_SENML_JSON);
    assert_null(m[i].psk_identity);
  }
  lmm_members_free(m, n);
  free(text);
  peer d5 = {"127.1.1.1", s.port, NULL, NULL, 0};
  resp r = get(&d5, "/3/0/2", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "m-0005");
  resp_free(&r);
  /* one client socket, many devices: each answer comes from the device asked */
  int fd = udp_socket();
  uint8_t b[256], in[512];
  for (unsigned i = 0; i < n; i++) {
    size_t len = coap_msg(b, 0, COAP_REQUEST_CODE_GET, (uint16_t)(100 + i), "/3/0/2", NULL, 0);
    udp_send(fd, hosts[i], s.port, b, len);
  }
  for (unsigned k = 0; k < n; k++) {
    char from[INET_ADDRSTRLEN];
    ssize_t got = udp_recv(fd, in, sizeof in, 3000, from);
    assert_true(got > 4);
    unsigned i = (unsigned)(((in[2] << 8) | in[3]) - 100);
    assert_true(i < n);
    assert_string_equal(from, hosts[i]);
    size_t pl;
    const uint8_t *p = coap_payload(in, (size_t)got, &pl);
    char ep[16];
    snprintf(ep, sizeof ep, "m-%04u", i);
    assert_non_null(p);
    assert_int_equal(pl, strlen(ep));
    assert_memory_equal(p, ep, pl);
  }
  close(fd);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_large_fleet(void **state) {
  (void)state;
  double t0 = now_s();
  lmmt_sim s = start((const char *[]){"--count", "2000", NULL});
  double started = now_s() - t0;
  if (started > 5.0) fail_msg("2000 devices took %.1f s to start", started);
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(s.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 2000);
  assert_string_equal(m[1999].ep, "dev-1999");
  char host[32];
  assert_int_equal(sscanf(m[1999].uri, "coap://%31[0-9.]", host), 1);
  assert_string_equal(host, "127.1.7.222"); /* 1999 = 7 * 254 + 221: .1 + 221, 7 /24s on */
  peer last = {host, s.port, NULL, NULL, 0};
  resp r = get(&last, "/3/0/2", -1);
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "dev-1999");
  resp_free(&r);
  lmm_members_free(m, n);
  assert_int_equal(lmmt_sim_stop(&s), 0);
}

static void test_drop_and_malformed(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "20", "--drop", "0.3", "--seed", "7", NULL});
  int fd = udp_socket();
  uint8_t b[1400], in[1500];
  /* garbage first: the simulator must survive it */
  srand(1);
  for (int k = 0; k < 300; k++) {
    size_t len = 1 + (size_t)(rand() % 200);
    for (size_t j = 0; j < len; j++)
      b[j] = (uint8_t)rand();
    if (k % 2) b[0] = (uint8_t)(0x40 | (b[0] & 0x3f)); /* version 1: gets past the header */
    udp_send(fd, host_of((unsigned)k % 20), s.port, b, len);
  }
  while (udp_recv(fd, in, sizeof in, 200, NULL) >= 0) {
  }
  /* 200 NON reads: about 30% go unanswered */
  int answered = 0;
  for (int k = 0; k < 200; k++) {
    size_t len = coap_msg(b, 1, COAP_REQUEST_CODE_GET, (uint16_t)(5000 + k), "/3/0/2", NULL, 0);
    udp_send(fd, host_of((unsigned)k % 20), s.port, b, len);
  }
  while (udp_recv(fd, in, sizeof in, 500, NULL) >= 0)
    answered++;
  if (answered < 100 || answered > 180) fail_msg("%d of 200 answered with --drop 0.3", answered);
  close(fd);
  /* a CON request gets through by retransmission */
  peer d1 = {host_of(1), s.port, NULL, NULL, 0};
  resp r = request(&d1, COAP_REQUEST_CODE_GET, "/3/0/2", -1, -1, NULL, 0, 60000);
  assert_int_equal(r.code, C(2, 5));
  resp_free(&r);
  assert_int_equal(stop_keep(&s), 0);
  /* the stats count what was dropped */
  char *js = lmmt_read_file(s.stats_path, NULL);
  assert_non_null(js);
  cJSON *j = cJSON_Parse(js);
  assert_non_null(j);
  cJSON *tot = cJSON_GetObjectItem(j, "totals");
  int dropped = cJSON_GetObjectItem(tot, "dropped")->valueint;
  assert_true(dropped >= 200 - answered);
  cJSON_Delete(j);
  free(js);
  lmmt_sim_stop(&s);
}

static void test_sessions_bounded(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "20", "--max-idle-sessions", "50",
                                      "--session-timeout", "1", NULL});
  uint8_t b[256], in[512];
  /* 300 client sockets, one request each: libcoap keeps a session per client port */
  for (int k = 0; k < 300; k++) {
    int fd = udp_socket();
    size_t len = coap_msg(b, 0, COAP_REQUEST_CODE_GET, (uint16_t)k, "/3/0/2", NULL, 0);
    udp_send(fd, host_of((unsigned)k % 20), s.port, b, len);
    assert_true(udp_recv(fd, in, sizeof in, 3000, NULL) > 0);
    close(fd);
  }
  sleep_ms(2500); /* idle sessions time out after --session-timeout */
  assert_int_equal(stop_keep(&s), 0);
  char *js = lmmt_read_file(s.stats_path, NULL);
  cJSON *j = cJSON_Parse(js);
  assert_non_null(j);
  int smax = cJSON_GetObjectItem(j, "sessions_max")->valueint;
  if (smax > 60) fail_msg("%d sessions at once with --max-idle-sessions 50", smax);
  assert_int_equal(cJSON_GetObjectItem(j, "sessions_at_exit")->valueint, 0);
  cJSON_Delete(j);
  free(js);
  lmmt_sim_stop(&s);
}

static void test_sigterm_and_stats(void **state) {
  (void)state;
  lmmt_sim s = start((const char *[]){"--count", "20", NULL});
  peer d1 = {host_of(1), s.port, NULL, NULL, 0};
  lmm_group_mgmt g;
  uint8_t *senml;
  size_t len;
  sample_instance(&g);
  assert_int_equal(lmm_group_mgmt_encode(&g, GM, 0, LMM_FMT_SENML_JSON, &senml, &len), LMM_OK);
  resp r = put(&d1, "/42769/0", LMM_FMT_SENML_JSON, senml, len);
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  lmm_free(senml);
  r = get(&d1, "/99", -1);
  assert_int_equal(r.code, C(4, 4));
  resp_free(&r);
  assert_int_equal(stop_keep(&s), 0);

  char *err = sim_stderr(&s);
  assert_non_null(strstr(err, "2 requests (GET 1, PUT 1"));
  assert_non_null(strstr(err, "Group Mgmt written on 1 devices"));
  assert_non_null(strstr(err, "dev-0001"));
  free(err);
  char *js = lmmt_read_file(s.stats_path, NULL);
  assert_non_null(js);
  cJSON *j = cJSON_Parse(js);
  assert_non_null(j);
  assert_int_equal(cJSON_GetObjectItem(j, "count")->valueint, 20);
  cJSON *devs = cJSON_GetObjectItem(j, "devices");
  assert_int_equal(cJSON_GetArraySize(devs), 20);
  cJSON *d = cJSON_GetArrayItem(devs, 1);
  assert_string_equal(cJSON_GetObjectItem(d, "ep")->valuestring, "dev-0001");
  assert_string_equal(cJSON_GetObjectItem(d, "addr")->valuestring, "127.1.0.2");
  cJSON *req = cJSON_GetObjectItem(d, "requests");
  assert_int_equal(cJSON_GetObjectItem(req, "PUT")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItem(req, "GET")->valueint, 1);
  cJSON *rs = cJSON_GetObjectItem(d, "responses");
  assert_int_equal(cJSON_GetObjectItem(rs, "2xx")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItem(rs, "4xx")->valueint, 1);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "group_mgmt_instances")), 1);
  cJSON_Delete(j);
  free(js);
  lmmt_sim_stop(&s);
}

/* --delay-ms: every answer (each block of a transfer too) comes no sooner than the delay after
 * its request; the fleet is not serialised by it; one client socket may ask many devices; a
 * retransmission that comes while the answer is held is served once; --drop still works. Only
 * lower bounds on times, and upper bounds of several seconds. */
static void test_delay(void **state) {
  (void)state;
  const double delay = 0.5; /* --delay-ms 500 */
  lmmt_sim s = start((const char *[]){"--count", "20", "--delay-ms", "500", NULL});

  /* one request */
  peer d3 = {"127.1.0.4", s.port, NULL, NULL, 0}; /* dev-0003 */
  double t0 = now_s();
  resp r = get(&d3, "/3/0/2", -1);
  double dt = now_s() - t0;
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "dev-0003");
  resp_free(&r);
  if (dt < delay) fail_msg("answered after %.3f s with --delay-ms 500", dt);

  /* 20 devices at once, a socket each: together in about one delay, not 20 (10 s) */
  peer pe[20];
  resp rs[20];
  char hosts[20][16]; /* host_of() keeps only its last 4 */
  for (unsigned k = 0; k < 20; k++) {
    snprintf(hosts[k], sizeof hosts[k], "%s", host_of(k));
    pe[k] = (peer){hosts[k], s.port, NULL, NULL, 0};
  }
  t0 = now_s();
  get_many(pe, 20, "/3/0/2", rs, 30000);
  dt = now_s() - t0;
  for (unsigned k = 0; k < 20; k++) {
    char want[16];
    snprintf(want, sizeof want, "dev-%04u", k);
    if (rs[k].code != C(2, 5) || !rs[k].data || strcmp((char *)rs[k].data, want) != 0)
      fail_msg("device %u: code %d, '%s'", k, rs[k].code, rs[k].data ? (char *)rs[k].data : "");
    resp_free(&rs[k]);
  }
  if (dt < delay) fail_msg("20 answers after %.3f s with --delay-ms 500", dt);
  if (dt > 10 * delay) fail_msg("20 concurrent requests took %.1f s: the delay serialises", dt);

  /* one socket, 20 devices, CON requests with one token: each piggybacked answer comes from
   * the device asked (the session's local address has moved on meanwhile), none early. The
   * request to device 7 is sent again while held: it is served and answered once. */
  int fd = udp_socket();
  uint8_t b[256], in[512];
  double sent[20];
  for (unsigned k = 0; k < 20; k++) {
    size_t len = coap_msg(b, 0, COAP_REQUEST_CODE_GET, (uint16_t)(0x700 + k), "/3/0/2", NULL, 0);
    sent[k] = now_s();
    udp_send(fd, host_of(k), s.port, b, len);
  }
  sleep_ms(100);
  size_t len = coap_msg(b, 0, COAP_REQUEST_CODE_GET, 0x707, "/3/0/2", NULL, 0);
  udp_send(fd, host_of(7), s.port, b, len);
  int got[20] = {0}, answers = 0;
  ssize_t n;
  char from[INET_ADDRSTRLEN];
  while ((n = udp_recv(fd, in, sizeof in, 1500, from)) >= 0) {
    double at = now_s();
    answers++;
    assert_true(n >= 4);
    assert_int_equal(in[0] >> 4, 0x6); /* version 1, ACK */
    assert_int_equal(in[1], C(2, 5));
    unsigned k = (((unsigned)in[2] << 8) | in[3]) - 0x700u;
    assert_true(k < 20);
    got[k]++;
    assert_string_equal(from, host_of(k));
    size_t pl;
    const uint8_t *p = coap_payload(in, (size_t)n, &pl);
    char want[16];
    snprintf(want, sizeof want, "dev-%04u", k);
    assert_non_null(p);
    assert_int_equal(pl, strlen(want));
    assert_memory_equal(p, want, pl);
    if (at - sent[k] < delay) fail_msg("device %u answered after %.3f s", k, at - sent[k]);
  }
  close(fd);
  assert_int_equal(answers, 20);
  for (unsigned k = 0; k < 20; k++)
    assert_int_equal(got[k], 1);

  assert_int_equal(stop_keep(&s), 0);
  char *js = lmmt_read_file(s.stats_path, NULL);
  assert_non_null(js);
  cJSON *j = cJSON_Parse(js);
  assert_non_null(j);
  assert_int_equal(cJSON_GetObjectItem(j, "delay_ms")->valueint, 500);
  assert_true(cJSON_GetObjectItem(j, "held_max")->valueint >= 20);
  cJSON *tot = cJSON_GetObjectItem(j, "totals");
  /* 1 + 20 + 20: the retransmission is the same request */
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(tot, "requests"), "GET")->valueint, 41);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(tot, "responses"), "2xx")->valueint, 41);
  cJSON_Delete(j);
  free(js);
  lmmt_sim_stop(&s);

  /* CoAPS, Block1 and Block2: each answer, each block's too, waits its turn */
  const double bd = 0.1; /* --delay-ms 100 */
  s = start(
      (const char *[]){"--count", "4", "--delay-ms", "100", "--dtls", "--dtls-port", "0", NULL});
  uint8_t key[16];
  derive_key("lwm2m-mbms-sim", "dev-0002", key);
  peer ds = {"127.1.0.3", s.dtls_port, "dev-0002", key, 16};
  t0 = now_s();
  r = get(&ds, "/3/0/2", -1); /* the handshake is libcoap's, not delayed; the answer is */
  dt = now_s() - t0;
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "dev-0002");
  resp_free(&r);
  if (dt < bd) fail_msg("CoAPS read answered after %.3f s", dt);
  peer d1 = {"127.1.0.2", s.port, NULL, NULL, 0}; /* dev-0001 */
  char *big = malloc(8000);
  size_t bl = 0;
  for (unsigned i = 0; bl < 3000; i++)
    bl += (size_t)sprintf(big + bl, "%sep=dev-%04u/42769", i ? "," : "", i);
  lmm_group_mgmt g;
  sample_instance(&g);
  g.member_list = big;
  uint8_t *gp;
  size_t gl;
  assert_int_equal(lmm_group_mgmt_encode(&g, GM, 1, LMM_FMT_SENML_JSON, &gp, &gl), LMM_OK);
  t0 = now_s();
  r = put(&d1, "/42769/1", LMM_FMT_SENML_JSON, gp, gl); /* blocks of 1024 bytes at most */
  dt = now_s() - t0;
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  double blocks = (double)((gl + 1023) / 1024);
  if (dt < blocks * bd) fail_msg("%.0f-block Block1 write took %.3f s", blocks, dt);
  t0 = now_s();
  r = get(&d1, "/42769/1/3", -1);
  dt = now_s() - t0;
  assert_int_equal(r.code, C(2, 5));
  assert_int_equal(r.len, bl);
  assert_memory_equal(r.data, big, bl);
  resp_free(&r);
  blocks = (double)((bl + 1023) / 1024);
  if (dt < blocks * bd) fail_msg("%.0f-block Block2 read took %.3f s", blocks, dt);
  lmm_free(gp);
  free(big);
  /* a firmware package: 5 blocks, hashed as they come */
  size_t fl = 5 * 1024;
  uint8_t *fw = malloc(fl), digest[32];
  char want[65];
  for (size_t k = 0; k < fl; k++)
    fw[k] = (uint8_t)(k * 7 + 3);
  mbedtls_sha256_ret(fw, fl, digest, 0);
  hex(digest, 32, want);
  t0 = now_s();
  r = put(&d1, "/5/0/0", LMM_FMT_OPAQUE, fw, fl);
  dt = now_s() - t0;
  assert_int_equal(r.code, C(2, 4));
  resp_free(&r);
  if (dt < 5 * bd) fail_msg("5-block package took %.3f s", dt);
  r = get(&d1, "/5/0/7", -1);
  assert_string_equal((char *)r.data, want);
  resp_free(&r);
  free(fw);
  assert_int_equal(lmmt_sim_stop(&s), 0);

  /* --drop with a delay: about 30% of 200 NON reads go unanswered, the rest answer late; a CON
   * request gets through by retransmission */
  s = start(
      (const char *[]){"--count", "20", "--delay-ms", "100", "--drop", "0.3", "--seed", "7", NULL});
  fd = udp_socket();
  double nsent[200];
  for (int k = 0; k < 200; k++) {
    len = coap_msg(b, 1, COAP_REQUEST_CODE_GET, (uint16_t)(5000 + k), "/3/0/2", NULL, 0);
    nsent[k] = now_s();
    udp_send(fd, host_of((unsigned)k % 20), s.port, b, len);
  }
  answers = 0;
  while ((n = udp_recv(fd, in, sizeof in, 1000, NULL)) >= 0) {
    double at = now_s();
    assert_true(n >= 4);
    unsigned k = (((unsigned)in[2] << 8) | in[3]) - 5000u; /* a NON answer has the MID */
    assert_true(k < 200);
    if (at - nsent[k] < bd) fail_msg("NON read %u answered after %.3f s", k, at - nsent[k]);
    answers++;
  }
  close(fd);
  if (answers < 100 || answers > 180) fail_msg("%d of 200 answered with --drop 0.3", answers);
  d1.port = s.port;
  t0 = now_s();
  r = request(&d1, COAP_REQUEST_CODE_GET, "/3/0/2", -1, -1, NULL, 0, 60000);
  dt = now_s() - t0;
  assert_int_equal(r.code, C(2, 5));
  assert_string_equal((char *)r.data, "dev-0001");
  resp_free(&r);
  if (dt < bd) fail_msg("CON read answered after %.3f s", dt);
  assert_int_equal(stop_keep(&s), 0);
  js = lmmt_read_file(s.stats_path, NULL);
  assert_non_null(js);
  j = cJSON_Parse(js);
  assert_non_null(j);
  tot = cJSON_GetObjectItem(j, "totals");
  assert_true(cJSON_GetObjectItem(tot, "dropped")->valueint >= 200 - answers);
  cJSON_Delete(j);
  free(js);
  lmmt_sim_stop(&s);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1; /* libcoap's set-up too */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_and_usage),
      cmocka_unit_test(test_read_every_object_and_format),
      cmocka_unit_test(test_group_mgmt),
      cmocka_unit_test(test_errors_and_acl),
      cmocka_unit_test(test_firmware),
      cmocka_unit_test(test_dtls),
      cmocka_unit_test(test_members_file_and_addresses),
      cmocka_unit_test(test_large_fleet),
      cmocka_unit_test(test_drop_and_malformed),
      cmocka_unit_test(test_sessions_bounded),
      cmocka_unit_test(test_sigterm_and_stats),
      cmocka_unit_test(test_delay),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
