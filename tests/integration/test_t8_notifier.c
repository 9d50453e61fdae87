/* test_t8_notifier.c - the T8 notification receiver over real loopback HTTP, libcurl as the SCEF,
 * at its base URL: with accept_base, as for an SCEF that notifies one fixed URL. The strict
 * default (per-delivery URLs only) is tests/integration/test_t8_notifier_strict.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/t8.h"

#define API  "/3gpp-group-message-delivery-mb2/v1"
#define TXN1 "http://scef.example:8080" API "/as01/tmgi-allocation/0a1b2c00101/delivery-via-mbms/t1"
#define TXN2 "http://scef.example:8080" API "/as01/tmgi-allocation/0a1b2c00101/delivery-via-mbms/t2"
#define JSON "application/json"

/* ------------------------------------------------------------ what the handlers saw */

typedef struct events {
  pthread_mutex_t mu; /* thread mode calls the handlers on the listener's thread */
  int n_delivery, n_test;
  char last[512];
  bool delivered;
  pthread_t thread;
  lmm_t8_notifier *forget_from_handler; /* when set, on_delivery forgets the link it got */
} events;

static void on_delivery(void *user, const char *transaction, bool delivered) {
  events *ev = user;
  pthread_mutex_lock(&ev->mu);
  ev->n_delivery++;
  snprintf(ev->last, sizeof ev->last, "%s", transaction);
  ev->delivered = delivered;
  ev->thread = pthread_self();
  pthread_mutex_unlock(&ev->mu);
  /* Handlers run without the receiver's lock: registering from inside must not deadlock. */
  if (ev->forget_from_handler) lmm_t8_notifier_forget(ev->forget_from_handler, transaction);
}

static void on_test(void *user, const char *subscription) {
  events *ev = user;
  pthread_mutex_lock(&ev->mu);
  ev->n_test++;
  snprintf(ev->last, sizeof ev->last, "%s", subscription);
  ev->thread = pthread_self();
  pthread_mutex_unlock(&ev->mu);
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, on_test};

/* ------------------------------------------------------------ the SCEF side (libcurl) */

typedef struct http_call {
  const char *url;
  const char *method;       /* NULL: POST */
  const char *content_type; /* NULL: no Content-Type header at all */
  const char *body;
  size_t len;
  bool chunked; /* send the body chunked (no Content-Length) */
  size_t read_pos;
  CURLcode cc;
  long status;
  char ctype[128];
  char allow[64];
  char *resp;
  size_t resp_len;
  atomic_bool done;
} http_call;

static size_t on_write(char *p, size_t size, size_t nmemb, void *u) {
  http_call *c = u;
  size_t n = size * nmemb;
  char *grown = realloc(c->resp, c->resp_len + n + 1);
  if (!grown) return 0;
  c->resp = grown;
  memcpy(c->resp + c->resp_len, p, n);
  c->resp_len += n;
  c->resp[c->resp_len] = '\0';
  return n;
}

/* Keeps the value of a header we look at, without its line ending. */
static void keep_header(const char *line, size_t n, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return;
  const char *v = line + nl + 1;
  size_t vl = n - nl - 1;
  while (vl && (*v == ' ' || *v == '\t'))
    v++, vl--;
  while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
    vl--;
  snprintf(out, cap, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *u) {
  http_call *c = u;
  size_t n = size * nmemb;
  keep_header(p, n, "Content-Type", c->ctype, sizeof c->ctype);
  keep_header(p, n, "Allow", c->allow, sizeof c->allow);
  return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *u) {
  http_call *c = u;
  size_t n = size * nmemb, left = c->len - c->read_pos;
  if (n > left) n = left;
  if (n > 100) n = 100; /* several chunks */
  memcpy(p, c->body + c->read_pos, n);
  c->read_pos += n;
  return n;
}

static void *http_thread(void *arg) {
  http_call *c = arg;
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = NULL;
  char ct[160];

  c->cc = CURLE_FAILED_INIT;
  if (h) {
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    if (c->method && strcmp(c->method, "GET") == 0) {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (c->chunked) {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, c);
      hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
    } else {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)c->len);
      if (c->method) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    }
    /* "Content-Type:" with nothing after it makes curl drop its default form type. */
    snprintf(ct, sizeof ct, "Content-Type:%s%s", c->content_type ? " " : "",
             c->content_type ? c->content_type : "");
    hdr = curl_slist_append(hdr, ct);
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    c->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
  }
  atomic_store(&c->done, true);
  return NULL;
}

/* Loop mode: the handlers only run from lmm_ctx_process(), so the test thread drives the
 * context (as a host would) while curl blocks on its own thread. Bounded: curl gives up after
 * 10 s, the loop after about 30 s. */
static void drive(lmm_ctx *ctx, http_call *c) {
  for (int i = 0; i < 3000 && !atomic_load(&c->done); i++) {
    struct pollfd pfd[16];
    size_t n = lmm_ctx_pollfds(ctx, pfd, 16);
    if (n > 16) n = 16;
    int wait = lmm_ctx_timeout_ms(ctx, 10);
    int rc = poll(pfd, n, wait);
    if (rc < 0 && errno != EINTR) break;
    lmm_ctx_process(ctx, pfd, rc > 0 ? n : 0);
  }
}

/* Runs one request to completion; `ctx` NULL for a receiver on its own thread. */
static void http_run(lmm_ctx *ctx, http_call *c) {
  pthread_t th;
  atomic_init(&c->done, false);
  assert_int_equal(pthread_create(&th, NULL, http_thread, c), 0);
  if (ctx) drive(ctx, c);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_true(atomic_load(&c->done));
  assert_int_equal(c->cc, CURLE_OK);
}

static void call_free(http_call *c) {
  free(c->resp);
  c->resp = NULL;
  c->resp_len = 0;
}

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
  lmm_ctx *ctx;
  lmm_t8_notifier *n;
  events ev;
  char url[256];
  pthread_t main_thread;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || lmm_ctx_new(NULL, &f->ctx) != LMM_OK) return -1;
  pthread_mutex_init(&f->ev.mu, NULL);
  f->main_thread = pthread_self();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  lmm_t8_notifier_free(f->n);
  lmm_ctx_free(f->ctx);
  pthread_mutex_destroy(&f->ev.mu);
  free(f);
  return 0;
}

/* Every receiver here serves its base URL: `cfg` (NULL: the defaults) with accept_base. */
static void start(fixture *f, const lmm_t8_notifier_config *cfg) {
  lmm_t8_notifier_config c = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  if (cfg) c = *cfg;
  c.accept_base = true;
  assert_int_equal(lmm_t8_notifier_new(f->ctx, &c, &handlers, &f->ev, &f->n), LMM_OK);
  assert_non_null(f->n);
  snprintf(f->url, sizeof f->url, "%s", lmm_t8_notifier_url(f->n));
}

static void start_default(void **state) {
  start(*state, NULL);
}

static char *delivery_body(const char *txn, bool delivered) {
  static char buf[512];
  snprintf(buf, sizeof buf, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":%s}", txn,
           delivered ? "true" : "false");
  return buf;
}

/* POSTs `body` as `ct` to the receiver's URL and returns the status; the call keeps the rest. */
static long post(fixture *f, http_call *c, const char *ct, const char *body) {
  memset(c, 0, sizeof *c);
  c->url = f->url;
  c->content_type = ct;
  c->body = body;
  c->len = body ? strlen(body) : 0;
  http_run(f->ctx, c); /* also fine in thread mode: the context then has nothing to serve */
  return c->status;
}

/* Checks an application/problem+json body: its status and one invalidParams entry whose
 * param is `param` (NULL: no invalidParams required). */
static void check_problem(const http_call *c, int status, const char *param) {
  assert_true(strncasecmp(c->ctype, "application/problem+json", 24) == 0);
  assert_non_null(c->resp);
  cJSON *root = cJSON_ParseWithLength(c->resp, c->resp_len);
  assert_non_null(root);
  cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
  assert_true(cJSON_IsNumber(st));
  assert_int_equal(st->valueint, status);
  if (param) {
    cJSON *ips = cJSON_GetObjectItemCaseSensitive(root, "invalidParams");
    assert_true(cJSON_IsArray(ips));
    assert_true(cJSON_GetArraySize(ips) >= 1);
    bool seen = false;
    cJSON *ip;
    cJSON_ArrayForEach(ip, ips) {
      cJSON *p = cJSON_GetObjectItemCaseSensitive(ip, "param");
      assert_true(cJSON_IsString(p));
      if (strcmp(p->valuestring, param) == 0) seen = true;
    }
    assert_true(seen);
  }
  cJSON_Delete(root);
}

/* ------------------------------------------------------------ tests */

static void test_url_and_port(void **state) {
  fixture *f = *state;
  start(f, NULL);
  unsigned port = 0;
  char path[64] = "";
  assert_int_equal(sscanf(f->url, "http://127.0.0.1:%u%63s", &port, path), 2);
  assert_true(port > 0 && port < 65536);
  assert_string_equal(path, "/t8/notifications");

  lmm_t8_notifier *other = NULL;
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.path = "/cb";
  cfg.public_url = "https://as.example/cb";
  assert_int_equal(lmm_t8_notifier_new(f->ctx, &cfg, &handlers, &f->ev, &other), LMM_OK);
  assert_string_equal(lmm_t8_notifier_url(other), "https://as.example/cb");
  lmm_t8_notifier_free(other);

  cfg = (lmm_t8_notifier_config)LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.bind_addr = "not-an-address";
  other = (lmm_t8_notifier *)&cfg; /* sentinel: must stay as it was */
  assert_int_equal(lmm_t8_notifier_new(f->ctx, &cfg, &handlers, &f->ev, &other), LMM_ERR_ARG);
  assert_ptr_equal(other, (lmm_t8_notifier *)&cfg);
  cfg.bind_addr = NULL;
  cfg.path = "no-slash";
  assert_int_equal(lmm_t8_notifier_new(f->ctx, &cfg, &handlers, &f->ev, &other), LMM_ERR_ARG);

  lmm_t8_notifier_free(NULL);
  assert_null(lmm_t8_notifier_url(NULL));
  assert_int_equal(lmm_t8_notifier_expect(f->n, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_t8_notifier_expect(NULL, TXN1), LMM_ERR_ARG);
}

static void test_ipv6_url(void **state) {
  fixture *f = *state;
  int s = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  bool have_v6 = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
  if (s >= 0) close(s);
  if (!have_v6) skip();

  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.bind_addr = "::1";
  start(f, &cfg);
  unsigned port = 0;
  assert_int_equal(sscanf(f->url, "http://[::1]:%u/t8/notifications", &port), 1);
  assert_true(port > 0);
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  http_call c;
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 204);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 1);
}

static void test_delivery_accepted(void **state) {
  fixture *f = *state;
  http_call c;
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK); /* a set: twice is once */
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN2), LMM_OK);

  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 204);
  assert_int_equal(c.resp_len, 0);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 1);
  assert_string_equal(f->ev.last, TXN1);
  assert_true(f->ev.delivered);
  /* Loop mode: the handler ran inside lmm_ctx_process() on this thread. */
  assert_true(pthread_equal(f->ev.thread, f->main_thread));

  /* Parameters after the media type are allowed. */
  assert_int_equal(post(f, &c, "application/json; charset=utf-8", delivery_body(TXN2, false)), 204);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 2);
  assert_string_equal(f->ev.last, TXN2);
  assert_false(f->ev.delivered);
  assert_int_equal(f->ev.n_test, 0);
}

static void test_test_notification_accepted(void **state) {
  fixture *f = *state;
  http_call c;
  char body[512];
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  snprintf(body, sizeof body, "{\"subscription\":\"%s\"}", TXN1);
  assert_int_equal(post(f, &c, JSON, body), 204);
  call_free(&c);
  assert_int_equal(f->ev.n_test, 1);
  assert_int_equal(f->ev.n_delivery, 0);
  assert_string_equal(f->ev.last, TXN1);
}

static void test_unknown_transaction_404(void **state) {
  fixture *f = *state;
  http_call c;
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN2), LMM_OK);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 404);
  check_problem(&c, 404, NULL);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 0);

  char body[512];
  snprintf(body, sizeof body, "{\"subscription\":\"%s\"}", TXN1);
  assert_int_equal(post(f, &c, JSON, body), 404);
  call_free(&c);
  assert_int_equal(f->ev.n_test, 0);
}

static void test_accept_unknown(void **state) {
  fixture *f = *state;
  http_call c;
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.accept_unknown = true;
  start(f, &cfg);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, false)), 204);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 1);
  assert_string_equal(f->ev.last, TXN1);
  assert_false(f->ev.delivered);
}

static void test_forgotten_404(void **state) {
  fixture *f = *state;
  http_call c;
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  lmm_t8_notifier_forget(f->n, TXN1);
  lmm_t8_notifier_forget(f->n, TXN1); /* forgetting what is not there is harmless */
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 404);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 0);

  /* A handler may forget its own link: the next notification for it is then unknown. */
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  f->ev.forget_from_handler = f->n;
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 204);
  call_free(&c);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 404);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 1);
}

static void test_other_host_same_path(void **state) {
  fixture *f = *state;
  http_call c;
  const char *seen_as =
      "https://10.1.2.3:8443" API "/as01/tmgi-allocation/0a1b2c00101/delivery-via-mbms/t1";
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  assert_int_equal(post(f, &c, JSON, delivery_body(seen_as, true)), 204);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 1);
  assert_string_equal(f->ev.last, seen_as); /* handed on as sent */

  /* Forgetting by another host's spelling forgets the same delivery. */
  lmm_t8_notifier_forget(f->n, seen_as);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 404);
  call_free(&c);
}

static void test_malformed_json_400(void **state) {
  fixture *f = *state;
  http_call c;
  assert_int_equal(post(f, &c, JSON, "{\"transaction\": \"x\", "), 400);
  check_problem(&c, 400, NULL);
  cJSON *root = cJSON_ParseWithLength(c.resp, c.resp_len);
  cJSON *ips = cJSON_GetObjectItemCaseSensitive(root, "invalidParams");
  assert_true(cJSON_IsArray(ips));
  assert_int_equal(cJSON_GetArraySize(ips), 1);
  assert_true(
      cJSON_IsString(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ips, 0), "param")));
  cJSON_Delete(root);
  call_free(&c);

  /* Valid JSON but neither kind of notification. */
  assert_int_equal(post(f, &c, JSON, "[1,2]"), 400);
  check_problem(&c, 400, NULL);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery + f->ev.n_test, 0);
}

static void test_missing_status_400(void **state) {
  fixture *f = *state;
  http_call c;
  char body[512];
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  snprintf(body, sizeof body, "{\"transaction\":\"%s\"}", TXN1);
  assert_int_equal(post(f, &c, JSON, body), 400);
  check_problem(&c, 400, "/deliveryTriggerStatus");
  call_free(&c);

  /* A string where a boolean belongs is reported at the same member. */
  snprintf(body, sizeof body, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":\"yes\"}", TXN1);
  assert_int_equal(post(f, &c, JSON, body), 400);
  check_problem(&c, 400, "/deliveryTriggerStatus");
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 0);
}

static void test_empty_body_400(void **state) {
  fixture *f = *state;
  http_call c;
  assert_int_equal(post(f, &c, JSON, ""), 400);
  check_problem(&c, 400, NULL);
  call_free(&c);
}

static void test_wrong_content_type_415(void **state) {
  fixture *f = *state;
  http_call c;
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  assert_int_equal(post(f, &c, "text/plain", delivery_body(TXN1, true)), 415);
  check_problem(&c, 415, NULL);
  call_free(&c);
  assert_int_equal(post(f, &c, "application/jsonp", delivery_body(TXN1, true)), 415);
  call_free(&c);
  assert_int_equal(post(f, &c, NULL, delivery_body(TXN1, true)), 415);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 0);
}

static void test_get_405(void **state) {
  fixture *f = *state;
  http_call c;
  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.method = "GET";
  http_run(f->ctx, &c);
  assert_int_equal(c.status, 405);
  assert_string_equal(c.allow, "POST");
  check_problem(&c, 405, NULL);
  call_free(&c);

  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.method = "PUT";
  c.content_type = JSON;
  c.body = delivery_body(TXN1, true);
  c.len = strlen(c.body);
  http_run(f->ctx, &c);
  assert_int_equal(c.status, 405);
  assert_string_equal(c.allow, "POST");
  call_free(&c);
}

static void test_other_path_404(void **state) {
  fixture *f = *state;
  http_call c;
  char url[300];
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  snprintf(url, sizeof url, "%s/extra", lmm_t8_notifier_url(f->n));
  memset(&c, 0, sizeof c);
  c.url = url;
  c.content_type = JSON;
  c.body = delivery_body(TXN1, true);
  c.len = strlen(c.body);
  http_run(f->ctx, &c);
  assert_int_equal(c.status, 404);
  check_problem(&c, 404, NULL);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 0);
  lmm_t8_notifier_stats st;
  lmm_t8_notifier_get_stats(f->n, &st);
  assert_int_equal(st.unknown, 0); /* a wrong path is not an unknown delivery */
}

static void test_too_large_413(void **state) {
  fixture *f = *state;
  http_call c;
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  char big[1024];
  cfg.max_body = 200;
  start(f, &cfg);
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  /* Valid and registered, but padded past max_body with whitespace. */
  snprintf(big, sizeof big, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":true%300s}", TXN1,
           "");
  assert_true(strlen(big) > cfg.max_body);
  assert_int_equal(post(f, &c, JSON, big), 413);
  check_problem(&c, 413, NULL);
  call_free(&c);

  /* Without a Content-Length the limit is found while reading. */
  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.content_type = JSON;
  c.body = big;
  c.len = strlen(big);
  c.chunked = true;
  http_run(f->ctx, &c);
  assert_int_equal(c.status, 413);
  check_problem(&c, 413, NULL);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 0);

  /* The same chunked, within the limit, is accepted. */
  const char *small = delivery_body(TXN1, true);
  assert_true(strlen(small) <= cfg.max_body);
  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.content_type = JSON;
  c.body = small;
  c.len = strlen(small);
  c.chunked = true;
  http_run(f->ctx, &c);
  assert_int_equal(c.status, 204);
  call_free(&c);
  assert_int_equal(f->ev.n_delivery, 1);
}

/* Far past the default limit: answered 413 from the headers while curl is still sending. */
static void test_too_large_default_413(void **state) {
  fixture *f = *state;
  http_call c;
  size_t len = 300 * 1024;
  char *big = malloc(len + 1);
  assert_non_null(big);
  memset(big, ' ', len);
  big[0] = '{';
  big[len - 1] = '}';
  big[len] = '\0';
  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.content_type = JSON;
  c.body = big;
  c.len = len;
  http_run(f->ctx, &c);
  free(big);
  assert_int_equal(c.status, 413);
  call_free(&c);
}

static void test_stats(void **state) {
  fixture *f = *state;
  http_call c;
  lmm_t8_notifier_stats st;
  lmm_t8_notifier_get_stats(f->n, &st);
  assert_int_equal(st.accepted + st.malformed + st.unknown, 0);

  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 204);
  call_free(&c);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, false)), 204);
  call_free(&c);
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN2, true)), 404);
  call_free(&c);
  assert_int_equal(post(f, &c, JSON, "nope"), 400);
  call_free(&c);
  assert_int_equal(post(f, &c, "text/plain", "{}"), 415);
  call_free(&c);

  lmm_t8_notifier_get_stats(f->n, &st);
  assert_int_equal(st.accepted, 2);
  assert_int_equal(st.unknown, 1);
  assert_int_equal(st.malformed, 2); /* 400 and 415 */
}

static void test_thread_mode(void **state) {
  fixture *f = *state;
  http_call c;
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.own_thread = true;
  start(f, &cfg);
  /* No source on the context: nothing for a host to poll. */
  struct pollfd pfd[4];
  assert_int_equal(lmm_ctx_pollfds(f->ctx, pfd, 4), 0);

  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.content_type = JSON;
  c.body = delivery_body(TXN1, true);
  c.len = strlen(c.body);
  http_run(NULL, &c); /* the context is never driven */
  assert_int_equal(c.status, 204);
  call_free(&c);

  pthread_mutex_lock(&f->ev.mu);
  assert_int_equal(f->ev.n_delivery, 1);
  assert_string_equal(f->ev.last, TXN1);
  assert_true(f->ev.delivered);
  assert_false(pthread_equal(f->ev.thread, f->main_thread));
  pthread_mutex_unlock(&f->ev.mu);

  memset(&c, 0, sizeof c);
  c.url = f->url;
  c.content_type = JSON;
  c.body = delivery_body(TXN2, true);
  c.len = strlen(c.body);
  http_run(NULL, &c);
  assert_int_equal(c.status, 404);
  call_free(&c);
}

static void test_handle_direct(void **state) {
  fixture *f = *state;
  char *problem = (char *)"sentinel";
  const char *body = delivery_body(TXN1, true);

  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);
  assert_int_equal(lmm_t8_notifier_handle(f->n, JSON, body, strlen(body), &problem), 204);
  assert_null(problem);
  assert_int_equal(f->ev.n_delivery, 1);
  assert_string_equal(f->ev.last, TXN1);
  assert_true(pthread_equal(f->ev.thread, f->main_thread));

  /* No content type: not checked. No problem pointer: nothing handed out. */
  assert_int_equal(lmm_t8_notifier_handle(f->n, NULL, body, strlen(body), NULL), 204);
  assert_int_equal(f->ev.n_delivery, 2);

  /* The body need not be NUL-terminated. */
  char raw[512];
  size_t len = strlen(body);
  memcpy(raw, body, len);
  raw[len] = 'x';
  assert_int_equal(lmm_t8_notifier_handle(f->n, JSON, raw, len, NULL), 204);

  body = delivery_body(TXN2, true);
  assert_int_equal(lmm_t8_notifier_handle(f->n, JSON, body, strlen(body), &problem), 404);
  assert_non_null(problem);
  assert_non_null(strstr(problem, "\"status\":404"));
  lmm_free(problem);

  char bad[512];
  snprintf(bad, sizeof bad, "{\"transaction\":\"%s\"}", TXN1);
  assert_int_equal(lmm_t8_notifier_handle(f->n, JSON, bad, strlen(bad), &problem), 400);
  assert_non_null(problem);
  assert_non_null(strstr(problem, "/deliveryTriggerStatus"));
  assert_non_null(strstr(problem, "invalidParams"));
  lmm_free(problem);

  assert_int_equal(lmm_t8_notifier_handle(f->n, JSON, "", 0, &problem), 400);
  lmm_free(problem);
  assert_int_equal(lmm_t8_notifier_handle(f->n, JSON, NULL, 0, &problem), 400);
  lmm_free(problem);
  assert_int_equal(lmm_t8_notifier_handle(f->n, "text/plain", body, strlen(body), &problem), 415);
  lmm_free(problem);

  lmm_t8_notifier_stats st;
  lmm_t8_notifier_get_stats(f->n, &st);
  assert_int_equal(st.accepted, 3);
  assert_int_equal(st.unknown, 1);
  assert_int_equal(st.malformed, 4);
  assert_int_equal(f->ev.n_delivery, 3);
}

/* Log sink of a context of its own: the receiver reports through it, and only through it. */
typedef struct log_seen {
  atomic_int warn, debug;
} log_seen;

static void on_log(void *user, lmm_log_level level, const char *msg) {
  log_seen *ls = user;
  assert_non_null(strstr(msg, "t8 notifier"));
  if (level == LMM_LOG_WARN) atomic_fetch_add(&ls->warn, 1);
  if (level == LMM_LOG_DEBUG) atomic_fetch_add(&ls->debug, 1);
}

static void test_logs(void **state) {
  fixture *f = *state;
  log_seen ls;
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  cc.log = on_log;
  cc.log_level = LMM_LOG_DEBUG;
  cc.user = &ls;
  atomic_init(&ls.warn, 0);
  atomic_init(&ls.debug, 0);
  lmm_ctx_free(f->ctx);
  f->ctx = NULL;
  assert_int_equal(lmm_ctx_new(&cc, &f->ctx), LMM_OK);
  start(f, NULL);
  assert_int_equal(lmm_t8_notifier_expect(f->n, TXN1), LMM_OK);

  http_call c;
  assert_int_equal(post(f, &c, JSON, delivery_body(TXN1, true)), 204);
  call_free(&c);
  assert_int_equal(post(f, &c, JSON, "{\"transaction\":1}"), 400);
  call_free(&c);
  assert_true(atomic_load(&ls.debug) >= 1);
  assert_int_equal(atomic_load(&ls.warn), 1);
}

static void test_bind_failure(void **state) {
  fixture *f = *state;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t alen = sizeof a;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(s >= 0);
  assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s, 1), 0);
  assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);

  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.port = ntohs(a.sin_port);
  lmm_t8_notifier *out = (lmm_t8_notifier *)f; /* sentinel: must stay as it was */
  assert_int_equal(lmm_t8_notifier_new(f->ctx, &cfg, &handlers, &f->ev, &out), LMM_ERR_IO);
  assert_ptr_equal(out, (lmm_t8_notifier *)f);
  close(s);

  /* The port, now free, can be taken: the failure left nothing behind. */
  start(f, &cfg);
  char want[64];
  snprintf(want, sizeof want, "http://127.0.0.1:%u/t8/notifications", (unsigned)cfg.port);
  assert_string_equal(f->url, want);
}

#define T(fn)      cmocka_unit_test_setup_teardown(fn, setup_started, teardown)
#define T_BARE(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* A receiver in loop mode with the default configuration. */
static int setup_started(void **state) {
  if (setup(state) != 0) return -1;
  start_default(state);
  return 0;
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      T_BARE(test_url_and_port),
      T_BARE(test_ipv6_url),
      T(test_delivery_accepted),
      T(test_test_notification_accepted),
      T(test_unknown_transaction_404),
      T_BARE(test_accept_unknown),
      T(test_forgotten_404),
      T(test_other_host_same_path),
      T(test_malformed_json_400),
      T(test_missing_status_400),
      T(test_empty_body_400),
      T(test_wrong_content_type_415),
      T(test_get_405),
      T(test_other_path_404),
      T_BARE(test_too_large_413),
      T(test_too_large_default_413),
      T(test_stats),
      T_BARE(test_thread_mode),
      T(test_handle_direct),
      T_BARE(test_logs),
      T_BARE(test_bind_failure),
  };
  int failed = cmocka_run_group_tests_name("t8_notifier", tests, NULL, NULL);
  lmm_global_cleanup();
  return failed ? 1 : 0;
}
