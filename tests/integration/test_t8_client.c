/* test_t8_client.c - the T8 client against the real t8-mock over loopback: every operation,
 * error statuses, retries, notifications, the bearer and MB2-U; and against a scripted HTTP
 * server for malformed answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct fixture {
  lmmt_mock mock;
  lmm_ctx *ctx;
  lmm_t8_client *cl;
  int bearer_port;
} fixture;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts a mock with the given extra flags and a client for scsAsId "as1". */
static fixture *start(const char *const *extra, const lmm_t8_config *cfg_in) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->bearer_port = lmmt_random_port();
  char port[16];
  snprintf(port, sizeof port, "%d", f->bearer_port);
  const char *args[40] = {"--bearer-port", port, "--seed", "7"};
  int n = 4;
  for (int i = 0; extra && extra[i]; i++)
    args[n++] = extra[i];
  args[n] = NULL;
  assert_int_equal(lmmt_mock_start(&f->mock, args), 0);
  assert_int_equal(lmm_ctx_new(NULL, &f->ctx), LMM_OK);
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  if (cfg_in) cfg = *cfg_in;
  cfg.api_root = f->mock.api_root;
  if (!cfg.scs_as_id) cfg.scs_as_id = "as1";
  if (!cfg_in) cfg.retry_base_ms = 50;
  assert_int_equal(lmm_t8_client_new(f->ctx, &cfg, &f->cl), LMM_OK);
  return f;
}

static void stop(fixture *f) {
  lmm_t8_client_free(f->cl);
  lmm_ctx_free(f->ctx);
  assert_int_equal(lmmt_mock_stop(&f->mock), 0); /* a clean exit on SIGTERM */
  free(f);
}

static void test_tmgi_lifecycle(void **state) {
  (void)state;
  const char *extra[] = {"--tmgi-lifetime", "600", NULL};
  fixture *f = start(extra, NULL);
  lmm_tmgi_allocation req = {.external_group_id = "building7@iot.example"}, a = {0}, g = {0};
  lmm_t8_result res;
  int64_t before = time(NULL);
  assert_int_equal(lmm_t8_tmgi_create(f->cl, &req, &a, &res), LMM_OK);
  assert_int_equal(res.http_status, 201);
  assert_int_equal(res.attempts, 1);
  assert_non_null(a.tmgi);
  assert_int_equal(strlen(a.tmgi), 11); /* 6 hex + MCC 001 + MNC 01 */
  assert_memory_equal(a.tmgi + 6, "00101", 5);
  assert_non_null(a.self);
  assert_non_null(strstr(a.self, a.tmgi));
  assert_string_equal(a.external_group_id, "building7@iot.example");
  assert_in_range(a.tmgi_expiration, before + 599, before + 602);

  assert_int_equal(lmm_t8_tmgi_get(f->cl, a.tmgi, &g, &res), LMM_OK);
  assert_string_equal(g.tmgi, a.tmgi);
  assert_string_equal(g.external_group_id, "building7@iot.example");
  lmm_tmgi_allocation_clear(&g);

  /* A second allocation, then the list holds both. */
  lmm_tmgi_allocation b = {0}, *list = NULL;
  size_t n = 0;
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &b, &res), LMM_OK);
  assert_string_not_equal(a.tmgi, b.tmgi);
  assert_int_equal(lmm_t8_tmgi_list(f->cl, &list, &n, &res), LMM_OK);
  assert_int_equal(n, 2);
  int seen = 0;
  for (size_t i = 0; i < n; i++)
    seen += !strcmp(list[i].tmgi, a.tmgi) + 2 * !strcmp(list[i].tmgi, b.tmgi);
  assert_int_equal(seen, 3);
  lmm_tmgi_allocation_list_free(list, n);

  /* Renew by PATCH and by PUT: the expiration moves and the body changes take effect. */
  sleep(1);
  lmm_tmgi_allocation_patch p = {.set_external_group_id = true,
                                 .external_group_id = "b8@iot.example"};
  assert_int_equal(lmm_t8_tmgi_patch(f->cl, a.tmgi, &p, &g, &res), LMM_OK);
  assert_int_equal(res.http_status, 200);
  assert_string_equal(g.external_group_id, "b8@iot.example");
  assert_true(g.tmgi_expiration > a.tmgi_expiration);
  int64_t patched = g.tmgi_expiration;
  lmm_tmgi_allocation_clear(&g);
  sleep(1);
  lmm_tmgi_allocation put = {.external_group_id = "b9@iot.example"};
  assert_int_equal(lmm_t8_tmgi_put(f->cl, a.tmgi, &put, &g, &res), LMM_OK);
  assert_string_equal(g.external_group_id, "b9@iot.example");
  assert_true(g.tmgi_expiration > patched);
  lmm_tmgi_allocation_clear(&g);

  /* Delete: gone afterwards (404 with a ProblemDetails). */
  assert_int_equal(lmm_t8_tmgi_delete(f->cl, a.tmgi, &res), LMM_OK);
  assert_int_equal(res.http_status, 204);
  assert_int_equal(lmm_t8_tmgi_get(f->cl, a.tmgi, &g, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 404);
  assert_true(res.has_problem);
  assert_int_equal(res.problem.status, 404);
  char *d = lmm_t8_result_describe(&res);
  assert_non_null(strstr(d, "404"));
  lmm_free(d);
  lmm_t8_result_clear(&res);
  assert_int_equal(lmmt_log_count(&f->mock, "tmgi_deleted", a.tmgi), 1);
  lmm_tmgi_allocation_clear(&a);
  lmm_tmgi_allocation_clear(&b);
  stop(f);
}

static void test_tmgi_expiry(void **state) {
  (void)state;
  const char *extra[] = {"--tmgi-lifetime", "1", NULL};
  fixture *f = start(extra, NULL);
  lmm_tmgi_allocation a = {0}, g = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_OK);
  assert_true(a.tmgi_expiration > 0);
  assert_int_equal(lmmt_log_wait(&f->mock, "tmgi_expired", a.tmgi, 1, 4000), 1);
  assert_int_equal(lmm_t8_tmgi_get(f->cl, a.tmgi, &g, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 404);
  lmm_t8_result_clear(&res);
  /* A delivery on an expired TMGI fails the same way. */
  lmm_gmd req = {.notification_destination = "http://127.0.0.1:9/n",
                 .has_payload = true,
                 .payload = (uint8_t *)"x",
                 .payload_len = 1,
                 .scef_port = -1},
          out = {0};
  assert_int_equal(lmm_t8_gmd_create(f->cl, a.tmgi, &req, &out, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 404);
  lmm_t8_result_clear(&res);
  lmm_tmgi_allocation_clear(&a);
  stop(f);
}

/* ------------------------------------------------------- deliveries */

typedef struct events {
  int tests, deliveries;
  bool delivered;
  char transaction[512];
  char subscription[512];
  int order; /* 1 when the test notification came before the delivery notification */
} events;

static void on_delivery(void *user, const char *txn, bool delivered) {
  events *e = user;
  e->deliveries++;
  e->delivered = delivered;
  snprintf(e->transaction, sizeof e->transaction, "%s", txn);
  if (e->tests > 0 && e->order == 0) e->order = 1;
}

static void on_test(void *user, const char *sub) {
  events *e = user;
  e->tests++;
  snprintf(e->subscription, sizeof e->subscription, "%s", sub);
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, on_test};

static void run_until(lmm_ctx *ctx, const int *counter, int want, int ms) {
  int64_t end = mono_ms() + ms;
  while (*counter < want && mono_ms() < end)
    lmm_ctx_run_once(ctx, 50);
}

static void test_delivery_inline(void **state) {
  (void)state;
  fixture *f = start(NULL, NULL);
  events ev = {0};
  lmm_t8_notifier *nt;
  assert_int_equal(lmm_t8_notifier_new(f->ctx, NULL, &handlers, &ev, &nt), LMM_OK);
  lmm_t8_client_attach_notifier(f->cl, nt);
  lmm_tmgi_allocation a = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_OK);
  char group[32];
  lmmt_tmgi_group(a.tmgi, group, sizeof group);
  int bearer = lmmt_bearer_join(group, f->bearer_port);
  assert_true(bearer >= 0);

  /* A CoAP NON GET /3/0 with a token: binary, with NUL bytes, as a real group message is. */
  static const uint8_t payload[] = {0x52, 0x01, 0x12, 0x34, 0x00, 0xff, 0xb1, 0x33, 0x01, 0x30};
  lmm_gmd req = {.has_request_test_notification = true,
                 .request_test_notification = true,
                 .external_group_id = "g@example.org",
                 .has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .scef_port = -1};
  lmm_gmd out = {0};
  assert_int_equal(lmm_t8_gmd_create(f->cl, a.tmgi, &req, &out, &res), LMM_OK);
  assert_int_equal(res.http_status, 201);
  assert_non_null(out.transaction_id);
  assert_non_null(out.self);
  /* A destination of its own below the receiver's URL: "/" and 32 hex digits. */
  size_t bl = strlen(lmm_t8_notifier_url(nt));
  assert_memory_equal(out.notification_destination, lmm_t8_notifier_url(nt), bl);
  assert_int_equal(out.notification_destination[bl], '/');
  assert_int_equal(strspn(out.notification_destination + bl + 1, "0123456789abcdef"), 32);
  assert_int_equal(strlen(out.notification_destination), bl + 33);

  /* The SCEF waits for our answer to the test notification before it plays: keep the loop
   * running until the delivery is notified; the datagram waits in the bearer socket. */
  run_until(f->ctx, &ev.deliveries, 1, 5000);
  uint8_t got[2048];
  ssize_t n = lmmt_recv(bearer, got, sizeof got, 2000);
  assert_int_equal(n, sizeof payload);
  assert_memory_equal(got, payload, sizeof payload);

  assert_int_equal(ev.tests, 1);
  assert_int_equal(ev.deliveries, 1);
  assert_true(ev.delivered);
  assert_int_equal(ev.order, 1);
  assert_non_null(strstr(ev.transaction, out.transaction_id));
  assert_string_equal(ev.subscription, ev.transaction);

  /* Fetch, list, modify, replace, delete. */
  lmm_gmd g = {0}, *list = NULL;
  size_t cnt = 0;
  assert_int_equal(lmm_t8_gmd_get(f->cl, a.tmgi, out.transaction_id, &g, &res), LMM_OK);
  assert_true(g.has_payload);
  assert_int_equal(g.payload_len, sizeof payload);
  assert_memory_equal(g.payload, payload, sizeof payload);
  assert_string_equal(g.external_group_id, "g@example.org");
  lmm_gmd_clear(&g);
  assert_int_equal(lmm_t8_gmd_list(f->cl, a.tmgi, &list, &cnt, &res), LMM_OK);
  assert_int_equal(cnt, 1);
  assert_string_equal(list[0].transaction_id, out.transaction_id);
  lmm_gmd_list_free(list, cnt);
  lmm_gmd_patch p = {.set_external_group_id = true, .external_group_id = "h@example.org"};
  assert_int_equal(lmm_t8_gmd_patch(f->cl, a.tmgi, out.transaction_id, &p, &g, &res), LMM_OK);
  assert_string_equal(g.external_group_id, "h@example.org");
  lmm_gmd_clear(&g);
  lmm_gmd put = {.external_group_id = "k@example.org", .scef_port = -1};
  assert_int_equal(lmm_t8_gmd_put(f->cl, a.tmgi, out.transaction_id, &put, &g, &res), LMM_OK);
  assert_string_equal(g.external_group_id, "k@example.org");
  /* Replaced without a destination: it keeps its own. */
  assert_string_equal(g.notification_destination, out.notification_destination);
  lmm_gmd_clear(&g);
  assert_int_equal(lmm_t8_gmd_delete(f->cl, a.tmgi, out.transaction_id, &res), LMM_OK);
  assert_int_equal(lmm_t8_gmd_get(f->cl, a.tmgi, out.transaction_id, &g, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 404);
  lmm_t8_result_clear(&res);

  /* The bearer datagram and both notifications are in the mock's log. */
  assert_int_equal(lmmt_log_count(&f->mock, "bearer_send", "\"dropped\":false"), 1);
  assert_int_equal(lmmt_log_wait(&f->mock, "notify", "\"status\":204", 2, 3000), 2);
  close(bearer);
  lmm_gmd_clear(&out);
  lmm_tmgi_allocation_clear(&a);
  lmm_t8_client_free(f->cl), f->cl = NULL;
  lmm_t8_notifier_free(nt);
  stop(f);
}

static void test_delivery_user_plane(void **state) {
  (void)state;
  fixture *f = start(NULL, NULL);
  events ev = {0};
  lmm_t8_notifier *nt;
  assert_int_equal(lmm_t8_notifier_new(f->ctx, NULL, &handlers, &ev, &nt), LMM_OK);
  lmm_t8_client_attach_notifier(f->cl, nt);
  lmm_tmgi_allocation a = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_OK);
  char group[32];
  lmmt_tmgi_group(a.tmgi, group, sizeof group);
  int bearer = lmmt_bearer_join(group, f->bearer_port);
  assert_true(bearer >= 0);
  lmm_gmd req = {.scef_port = -1}, out = {0};
  assert_int_equal(lmm_t8_gmd_create(f->cl, a.tmgi, &req, &out, &res), LMM_OK);
  assert_string_equal(out.scef_ipv4, "127.0.0.1");
  assert_true(out.scef_port > 0);
  /* Larger than any JSON request would carry comfortably: the reason MB2-U exists. */
  size_t len = 60000;
  uint8_t *big = malloc(len), *got = malloc(len + 1);
  for (size_t i = 0; i < len; i++)
    big[i] = (uint8_t)(i * 7 + 3);
  assert_int_equal(lmm_t8_send_user_plane(&out, big, len), LMM_OK);
  assert_int_equal(lmmt_recv(bearer, got, len + 1, 5000), (ssize_t)len);
  assert_memory_equal(got, big, len);
  run_until(f->ctx, &ev.deliveries, 1, 5000);
  assert_int_equal(ev.deliveries, 1);
  assert_true(ev.delivered);
  assert_int_equal(lmmt_log_count(&f->mock, "user_plane_rx", NULL), 1);
  /* Without a user-plane address there is nothing to send to. */
  lmm_gmd none = {.scef_port = -1};
  assert_int_equal(lmm_t8_send_user_plane(&none, big, 10), LMM_ERR_ARG);
  free(big), free(got);
  close(bearer);
  lmm_gmd_clear(&out);
  lmm_tmgi_allocation_clear(&a);
  lmm_t8_client_free(f->cl), f->cl = NULL;
  lmm_t8_notifier_free(nt);
  stop(f);
}

/* --------------------------------------------------------- error statuses */

static void test_errors(void **state) {
  (void)state;
  const char *extra[] = {"--scs-as-id", "as1", "--max-body", "2000", "--max-datagram", "100", NULL};
  fixture *f = start(extra, NULL);
  lmm_t8_result res;
  lmm_tmgi_allocation a = {0};
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_OK);

  /* 400: the payload is larger than the bearer takes; the problem names the member. */
  uint8_t big[200] = {0};
  lmm_gmd req = {.notification_destination = "http://127.0.0.1:9/n",
                 .has_payload = true,
                 .payload = big,
                 .payload_len = sizeof big,
                 .scef_port = -1},
          out = {0};
  assert_int_equal(lmm_t8_gmd_create(f->cl, a.tmgi, &req, &out, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 400);
  assert_true(res.has_problem);
  assert_true(res.problem.n_invalid_params >= 1);
  assert_string_equal(res.problem.invalid_params[0].param, "/groupMessagePayload");
  lmm_t8_result_clear(&res);

  /* 413: a body over --max-body. */
  uint8_t huge[3000] = {0};
  req.payload = huge, req.payload_len = sizeof huge;
  assert_int_equal(lmm_t8_gmd_create(f->cl, a.tmgi, &req, &out, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 413);
  assert_int_equal(res.attempts, 1);
  lmm_t8_result_clear(&res);

  /* 404 for an unknown TMGI, and the argument check for a TMGI that is no path segment. */
  lmm_tmgi_allocation g = {0};
  assert_int_equal(lmm_t8_tmgi_get(f->cl, "ffffff00101", &g, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 404);
  lmm_t8_result_clear(&res);
  assert_int_equal(lmm_t8_tmgi_get(f->cl, "../x", &g, &res), LMM_ERR_ARG);
  lmm_t8_result_clear(&res);

  /* 403: another scsAsId is not allowed. */
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = f->mock.api_root, cfg.scs_as_id = "intruder";
  lmm_t8_client *other;
  assert_int_equal(lmm_t8_client_new(f->ctx, &cfg, &other), LMM_OK);
  assert_int_equal(lmm_t8_tmgi_create(other, NULL, &g, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 403);
  lmm_t8_result_clear(&res);
  lmm_t8_client_free(other);

  /* Bad arguments never reach the wire. */
  lmm_tmgi_allocation badreq = {.external_group_id = "no-at-sign"};
  assert_int_equal(lmm_t8_tmgi_create(f->cl, &badreq, &g, &res), LMM_ERR_ARG);
  lmm_t8_result_clear(&res);
  lmm_tmgi_allocation_clear(&a);
  stop(f);
}

static void test_auth(void **state) {
  (void)state;
  char tokfile[] = "/tmp/lmmt-token-XXXXXX";
  int fd = mkstemp(tokfile);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "s3cret\n", 7), 7);
  close(fd);
  const char *extra[] = {"--token", "s3cret", NULL};
  fixture *f = start(extra, NULL);
  lmm_t8_result res;
  lmm_tmgi_allocation a = {0};
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 401);
  lmm_t8_result_clear(&res);

  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = f->mock.api_root, cfg.scs_as_id = "as1", cfg.token = "wrong";
  lmm_t8_client *c2;
  assert_int_equal(lmm_t8_client_new(f->ctx, &cfg, &c2), LMM_OK);
  assert_int_equal(lmm_t8_tmgi_create(c2, NULL, &a, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 401);
  lmm_t8_result_clear(&res);
  lmm_t8_client_free(c2);

  cfg.token = NULL, cfg.token_file = tokfile; /* trailing newline is not part of the token */
  assert_int_equal(lmm_t8_client_new(f->ctx, &cfg, &c2), LMM_OK);
  assert_int_equal(lmm_t8_tmgi_create(c2, NULL, &a, &res), LMM_OK);
  lmm_tmgi_allocation_clear(&a);
  lmm_t8_client_free(c2);
  cfg.token_file = "/nonexistent/token";
  assert_int_equal(lmm_t8_client_new(f->ctx, &cfg, &c2), LMM_ERR_IO);
  unlink(tokfile);
  stop(f);
}

static void test_retry_after_503(void **state) {
  (void)state;
  const char *extra[] = {"--fail-first", "2", "--fail-status", "503", "--retry-after", "1", NULL};
  fixture *f = start(extra, NULL);
  lmm_t8_result res;
  lmm_tmgi_allocation a = {0};
  int64_t t0 = mono_ms();
  /* A POST: 503 says the SCEF did nothing, so even a creation is retried. */
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_OK);
  int64_t took = mono_ms() - t0;
  assert_int_equal(res.attempts, 3);
  assert_true(took >= 1900); /* two Retry-After: 1 waits were honoured, not the 50 ms back-off */
  assert_int_equal(lmmt_log_count(&f->mock, "fault", "503"), 2);
  lmm_tmgi_allocation_clear(&a);
  stop(f);
}

static void test_429_exhausts_retries(void **state) {
  (void)state;
  const char *extra[] = {"--fail-first", "100", "--fail-status", "429", "--retry-after", "0", NULL};
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.max_retries = 2, cfg.retry_base_ms = 10;
  fixture *f = start(extra, &cfg);
  lmm_t8_result res;
  lmm_tmgi_allocation a = {0};
  assert_int_equal(lmm_t8_tmgi_get(f->cl, "0a0b0c00101", &a, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 429);
  assert_int_equal(res.attempts, 3);
  lmm_t8_result_clear(&res);
  stop(f);
}

static void test_timeout_post_not_retried(void **state) {
  (void)state;
  const char *extra[] = {"--latency-ms", "1500", NULL};
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.request_timeout_ms = 300, cfg.max_retries = 2, cfg.retry_base_ms = 10;
  fixture *f = start(extra, &cfg);
  lmm_t8_result res;
  lmm_tmgi_allocation a = {0};
  /* The POST may have reached the SCEF: retrying could allocate twice. */
  assert_int_equal(lmm_t8_tmgi_create(f->cl, NULL, &a, &res), LMM_ERR_TIMEOUT);
  assert_int_equal(res.attempts, 1);
  /* A GET is safe to repeat. */
  assert_int_equal(lmm_t8_tmgi_list(f->cl, &(lmm_tmgi_allocation *){NULL}, &(size_t){0}, &res),
                   LMM_ERR_TIMEOUT);
  assert_int_equal(res.attempts, 3);
  stop(f);
}

static void test_connection_refused(void **state) {
  (void)state;
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = "http://127.0.0.1:9", cfg.scs_as_id = "as1", cfg.max_retries = 2;
  cfg.retry_base_ms = 10;
  lmm_t8_client *cl;
  assert_int_equal(lmm_t8_client_new(ctx, &cfg, &cl), LMM_OK);
  lmm_t8_result res;
  lmm_tmgi_allocation a = {0};
  /* Nothing was sent, so even the POST is tried again before giving up. */
  assert_int_equal(lmm_t8_tmgi_create(cl, NULL, &a, &res), LMM_ERR_NET);
  assert_int_equal(res.attempts, 3);
  assert_int_equal(res.http_status, 0);
  assert_true(strlen(res.transport_error) > 0);
  lmm_t8_client_free(cl);
  lmm_ctx_free(ctx);
}

static void test_config_checked(void **state) {
  (void)state;
  lmm_ctx *ctx;
  lmm_t8_client *cl = NULL;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = "ftp://x", cfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(ctx, &cfg, &cl), LMM_ERR_ARG);
  cfg.api_root = "http://x", cfg.scs_as_id = "a/b";
  assert_int_equal(lmm_t8_client_new(ctx, &cfg, &cl), LMM_ERR_ARG);
  cfg.scs_as_id = NULL;
  assert_int_equal(lmm_t8_client_new(ctx, &cfg, &cl), LMM_ERR_ARG);
  assert_null(cl);
  cfg.api_root = "http://x/", cfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(ctx, &cfg, &cl), LMM_OK);
  assert_string_equal(lmm_t8_client_base_url(cl), "http://x/3gpp-group-message-delivery-mb2/v1");
  lmm_t8_client_free(cl);
  lmm_ctx_free(ctx);
}

/* ------------------------------------------- a scripted server for bad answers */

typedef struct script {
  unsigned status;
  const char *type;
  const char *location;
  const char *body;
} script;

static enum MHD_Result serve_script(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls) {
  (void)url, (void)method, (void)version, (void)upload;
  const script *s = cls;
  if (!*con_cls) { /* first call: headers only */
    *con_cls = (void *)1;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(s->body), (void *)s->body, MHD_RESPMEM_PERSISTENT);
  if (s->type) MHD_add_response_header(r, "Content-Type", s->type);
  if (s->location) MHD_add_response_header(r, "Location", s->location);
  enum MHD_Result ret = MHD_queue_response(c, s->status, r);
  MHD_destroy_response(r);
  return ret;
}

static lmm_err against_script(const script *s, lmm_t8_op op, lmm_t8_result *res) {
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                          serve_script, (void *)s, MHD_OPTION_END);
  assert_non_null(d);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  char root[64];
  snprintf(root, sizeof root, "http://127.0.0.1:%u", info->port);
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = root, cfg.scs_as_id = "as1", cfg.max_response = 4096;
  lmm_t8_client *cl;
  assert_int_equal(lmm_t8_client_new(ctx, &cfg, &cl), LMM_OK);
  lmm_tmgi_allocation a = {0};
  lmm_err rc;
  if (op == LMM_T8_TMGI_CREATE)
    rc = lmm_t8_tmgi_create(cl, NULL, &a, res);
  else if (op == LMM_T8_TMGI_LIST) {
    lmm_tmgi_allocation *l = NULL;
    size_t n = 0;
    rc = lmm_t8_tmgi_list(cl, &l, &n, res);
    if (rc == LMM_OK) assert_int_equal(n, 1);
    lmm_tmgi_allocation_list_free(l, n);
  } else
    rc = lmm_t8_tmgi_get(cl, "0a0b0c00101", &a, res);
  lmm_tmgi_allocation_clear(&a);
  lmm_t8_client_free(cl);
  lmm_ctx_free(ctx);
  MHD_stop_daemon(d);
  return rc;
}

static void test_malformed_answers(void **state) {
  (void)state;
  lmm_t8_result res;
  static const script no_location = {201, "application/json", NULL, "{}"};
  assert_int_equal(against_script(&no_location, LMM_T8_TMGI_CREATE, &res), LMM_ERR_PROTO);
  assert_non_null(strstr(res.transport_error, "Location"));
  static const script bad_json = {200, "application/json", NULL, "{\"externalGroupId\": "};
  assert_int_equal(against_script(&bad_json, LMM_T8_TMGI_GET, &res), LMM_ERR_PROTO);
  static const script wrong_type = {200, "application/json", NULL, "{\"tmgiExpiration\": 5}"};
  assert_int_equal(against_script(&wrong_type, LMM_T8_TMGI_GET, &res), LMM_ERR_PROTO);
  assert_non_null(strstr(res.transport_error, "/tmgiExpiration"));
  static const script html = {200, "text/html", NULL, "<html></html>"};
  assert_int_equal(against_script(&html, LMM_T8_TMGI_GET, &res), LMM_ERR_PROTO);
  static const script bad_problem = {404, "application/problem+json", NULL, "{oops"};
  assert_int_equal(against_script(&bad_problem, LMM_T8_TMGI_GET, &res), LMM_ERR_T8);
  assert_int_equal(res.http_status, 404);
  assert_false(res.has_problem);
  static const script weird = {202, "application/json", NULL, "{}"};
  assert_int_equal(against_script(&weird, LMM_T8_TMGI_GET, &res), LMM_ERR_PROTO);
  /* Larger than max_response (4096): refused, not buffered without bound. */
  static char huge_body[9000];
  memset(huge_body, ' ', sizeof huge_body - 3);
  huge_body[0] = '{', huge_body[sizeof huge_body - 2] = '}';
  static const script huge = {200, "application/json", NULL, huge_body};
  assert_int_equal(against_script(&huge, LMM_T8_TMGI_GET, &res), LMM_ERR_PROTO);
  assert_non_null(strstr(res.transport_error, "larger than"));
  /* The collection GET is typed as one object in the YAML: a single object is a list of 1. */
  static const script single = {200, "application/json", NULL,
                                "{\"self\":\"http://x/3gpp-group-message-delivery-mb2/v1/as1/"
                                "tmgi-allocation/0a0b0c00101\"}"};
  assert_int_equal(against_script(&single, LMM_T8_TMGI_LIST, &res), LMM_OK);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tmgi_lifecycle),
      cmocka_unit_test(test_tmgi_expiry),
      cmocka_unit_test(test_delivery_inline),
      cmocka_unit_test(test_delivery_user_plane),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_auth),
      cmocka_unit_test(test_retry_after_503),
      cmocka_unit_test(test_429_exhausts_retries),
      cmocka_unit_test(test_timeout_post_not_retried),
      cmocka_unit_test(test_connection_refused),
      cmocka_unit_test(test_config_checked),
      cmocka_unit_test(test_malformed_answers),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
