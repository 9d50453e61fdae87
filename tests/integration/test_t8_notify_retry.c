/* test_t8_notify_retry.c - t8-mock retries a failed notification: a host's own HTTP server
 * (libmicrohttpd, in the test) that refuses the first attempts and then hands bodies to the
 * library's receiver, and a receiver that is not there at all. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define HOOK "/hooks/t8"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ the host's own server */

typedef struct scripted {
  int status;              /* answered instead of handing the body on */
  const char *retry_after; /* Retry-After of that answer, or NULL */
} scripted;

typedef struct host {
  struct MHD_Daemon *d;
  uint16_t port;
  char url[128]; /* http://127.0.0.1:PORT/hooks/t8 */
  lmm_t8_notifier *nt;
  const scripted *script; /* the first n_script POSTs get these answers */
  int n_script;
  pthread_mutex_t mu;
  int n_posts;
  char paths[8][256];
  int statuses[8];
  atomic_int deliveries;
  char transaction[512];
} host;

typedef struct host_req {
  char *buf;
  size_t len;
} host_req;

static void on_delivery(void *user, const char *txn, bool delivered) {
  host *h = user;
  (void)delivered;
  pthread_mutex_lock(&h->mu);
  snprintf(h->transaction, sizeof h->transaction, "%s", txn);
  pthread_mutex_unlock(&h->mu);
  atomic_fetch_add(&h->deliveries, 1);
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, NULL};

static enum MHD_Result host_answer(struct MHD_Connection *c, int status, char *problem,
                                   const char *retry_after) {
  struct MHD_Response *r =
      problem ? MHD_create_response_from_buffer(strlen(problem), problem, MHD_RESPMEM_MUST_FREE)
              : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!r) return MHD_NO;
  if (problem) MHD_add_response_header(r, "Content-Type", "application/problem+json");
  if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

/* Gathers the body, then answers from the script or from the library's receiver, with the
 * request's path so that a per-delivery URL is told from the base one. */
static enum MHD_Result host_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *data,
                                    size_t *size, void **con_cls) {
  host *h = cls;
  host_req *q = *con_cls;
  (void)method, (void)version;
  if (!q) {
    *con_cls = q = calloc(1, sizeof *q);
    return q ? MHD_YES : MHD_NO;
  }
  if (*size) {
    char *grown = realloc(q->buf, q->len + *size);
    if (!grown) return MHD_NO;
    memcpy(grown + q->len, data, *size);
    q->buf = grown, q->len += *size, *size = 0;
    return MHD_YES;
  }
  pthread_mutex_lock(&h->mu);
  int i = h->n_posts++;
  if (i < 8) snprintf(h->paths[i], sizeof h->paths[i], "%s", url);
  pthread_mutex_unlock(&h->mu);
  if (i < h->n_script) return host_answer(c, h->script[i].status, NULL, h->script[i].retry_after);
  char *problem = NULL;
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  int status = lmm_t8_notifier_handle_request(h->nt, url, ct, q->buf, q->len, &problem);
  pthread_mutex_lock(&h->mu);
  if (i < 8) h->statuses[i] = status;
  pthread_mutex_unlock(&h->mu);
  /* The receiver's text is ours to free; MHD frees what it is handed with free(). */
  char *copy = problem ? strdup(problem) : NULL;
  lmm_free(problem);
  return host_answer(c, status, copy, status == 503 ? "1" : NULL);
}

static void host_done(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  host_req *q = *con_cls;
  (void)cls, (void)c, (void)toe;
  if (q) free(q->buf), free(q);
  *con_cls = NULL;
}

static void host_start(host *h, lmm_ctx *ctx, const scripted *script, int n_script) {
  memset(h, 0, sizeof *h);
  pthread_mutex_init(&h->mu, NULL);
  atomic_init(&h->deliveries, 0);
  h->script = script, h->n_script = n_script;
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                          host_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_NOTIFY_COMPLETED, host_done, h, MHD_OPTION_END);
  assert_non_null(h->d);
  h->port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT)->port;
  snprintf(h->url, sizeof h->url, "http://127.0.0.1:%u" HOOK, (unsigned)h->port);
  /* The library's receiver advertises the host's server; its own listener is not used. */
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.public_url = h->url;
  assert_int_equal(lmm_t8_notifier_new(ctx, &cfg, &handlers, h, &h->nt), LMM_OK);
}

static void host_stop(host *h) {
  MHD_stop_daemon(h->d);
  lmm_t8_notifier_free(h->nt);
  pthread_mutex_destroy(&h->mu);
}

/* ------------------------------------------------------------ the mock's log */

/* The `notify` lines of the log, in order, parsed; `*n` of them (at most cap). */
static int notify_lines(const lmmt_mock *m, cJSON **out, int cap) {
  char *log = lmmt_read_file(m->log_path, NULL);
  int n = 0;
  assert_non_null(log);
  for (char *line = strtok(log, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
    cJSON *o = cJSON_Parse(line);
    cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    if (cJSON_IsString(ev) && strcmp(ev->valuestring, "notify") == 0)
      out[n++] = o;
    else
      cJSON_Delete(o);
  }
  free(log);
  return n;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

static bool is_null(const cJSON *o, const char *k) {
  return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Wall-clock ms of a log line's "ts" (YYYY-MM-DDThh:mm:ss.mmmZ). */
static int64_t ts_ms(const cJSON *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "ts");
  struct tm tm = {0};
  int ms = 0;
  assert_true(cJSON_IsString(v));
  assert_int_equal(sscanf(v->valuestring, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
                          &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                   7);
  tm.tm_year -= 1900, tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ------------------------------------------------------------ tests */

typedef struct world {
  lmmt_mock mock;
  lmm_ctx *ctx;
  lmm_t8_client *cl;
  char tmgi[32];
} world;

static void world_start(world *w, const char *const *extra) {
  memset(w, 0, sizeof *w);
  char port[16];
  const char *args[16] = {"--bearer-port", port};
  int n = 2;
  snprintf(port, sizeof port, "%d", lmmt_random_port());
  for (int i = 0; extra[i]; i++)
    args[n++] = extra[i];
  args[n] = NULL;
  assert_int_equal(lmmt_mock_start(&w->mock, args), 0);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = w->mock.api_root;
  cfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(w->ctx, &cfg, &w->cl), LMM_OK);
  lmm_tmgi_allocation a = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(w->cl, NULL, &a, &res), LMM_OK);
  snprintf(w->tmgi, sizeof w->tmgi, "%s", a.tmgi);
  lmm_tmgi_allocation_clear(&a);
}

static void world_stop(world *w) {
  lmm_t8_client_free(w->cl);
  lmm_ctx_free(w->ctx);
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
}

static void create(world *w, const char *dest, lmm_gmd *out) {
  static const uint8_t payload[] = {0x52, 0x01};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .notification_destination = (char *)dest,
                 .scef_port = -1};
  lmm_t8_result res;
  memset(out, 0, sizeof *out);
  assert_int_equal(lmm_t8_gmd_create(w->cl, w->tmgi, &req, out, &res), LMM_OK);
  lmm_t8_result_clear(&res);
}

/* The host answers 503 to the first attempt: the mock comes back after --notify-backoff-ms to
 * the same per-delivery URL, and the library's receiver takes it there. */
static void test_503_then_accepted(void **state) {
  (void)state;
  world w;
  world_start(&w, (const char *[]){"--notify-retries", "3", "--notify-backoff-ms", "200", NULL});
  host h;
  static const scripted busy[] = {{503, NULL}};
  host_start(&h, w.ctx, busy, 1);
  lmm_t8_client_attach_notifier(w.cl, h.nt);
  lmm_gmd d;
  create(&w, NULL, &d);
  assert_int_equal(strncmp(d.notification_destination, h.url, strlen(h.url)), 0);
  int64_t end = mono_ms() + 8000;
  while (atomic_load(&h.deliveries) < 1 && mono_ms() < end)
    lmm_ctx_run_once(w.ctx, 50);
  assert_int_equal(atomic_load(&h.deliveries), 1);
  assert_int_equal(lmmt_log_wait(&w.mock, "notify", "\"status\":204", 1, 3000), 1);

  pthread_mutex_lock(&h.mu);
  assert_int_equal(h.n_posts, 2);
  assert_string_equal(h.paths[0], h.paths[1]);
  assert_string_equal(h.paths[1], d.notification_destination + strlen(h.url) - strlen(HOOK));
  assert_int_equal(h.statuses[1], 204);
  assert_string_equal(h.transaction, d.self);
  pthread_mutex_unlock(&h.mu);

  cJSON *lines[8];
  int n = notify_lines(&w.mock, lines, 8);
  assert_int_equal(n, 2);
  assert_int_equal(num(lines[0], "attempt"), 1);
  assert_int_equal(num(lines[0], "status"), 503);
  assert_int_equal(num(lines[0], "retryInMs"), 200);
  assert_int_equal(num(lines[1], "attempt"), 2);
  assert_int_equal(num(lines[1], "status"), 204);
  assert_true(is_null(lines[1], "retryInMs"));
  assert_true(ts_ms(lines[1]) - ts_ms(lines[0]) >= 200);
  for (int i = 0; i < n; i++)
    cJSON_Delete(lines[i]);
  lmm_gmd_clear(&d);
  lmm_t8_client_attach_notifier(w.cl, NULL);
  host_stop(&h);
  world_stop(&w);
}

/* Nobody listens: 1 + --notify-retries attempts, each wait double the one before, logged; then
 * the mock gives up. */
static void test_retries_bounded(void **state) {
  (void)state;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t sl = sizeof sa;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
  close(s); /* bound once, now free: connections are refused */
  char dead[64];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%u/n", (unsigned)ntohs(sa.sin_port));

  world w;
  world_start(&w, (const char *[]){"--notify-retries", "3", "--notify-backoff-ms", "100", NULL});
  lmm_gmd d;
  create(&w, dead, &d);
  assert_int_equal(lmmt_log_wait(&w.mock, "notify", "\"retryInMs\":null", 1, 5000), 1);
  cJSON *lines[8];
  int n = notify_lines(&w.mock, lines, 8);
  assert_int_equal(n, 4);
  static const int waits[] = {100, 200, 400};
  for (int i = 0; i < n; i++) {
    assert_int_equal(num(lines[i], "attempt"), i + 1);
    assert_true(is_null(lines[i], "status"));
    assert_false(is_null(lines[i], "error"));
    if (i < 3) {
      assert_int_equal(num(lines[i], "retryInMs"), waits[i]);
      assert_true(ts_ms(lines[i + 1]) - ts_ms(lines[i]) >= waits[i]);
    } else {
      assert_true(is_null(lines[i], "retryInMs"));
    }
  }
  for (int i = 0; i < n; i++)
    cJSON_Delete(lines[i]);
  lmm_gmd_clear(&d);
  world_stop(&w);
}

/* A 404 is final; a Retry-After lengthens the wait, within the 60 s cap; shutting down
 * abandons a pending retry. */
static void test_final_and_retry_after(void **state) {
  (void)state;
  world w;
  world_start(&w, (const char *[]){"--notify-retries", "3", "--notify-backoff-ms", "100", NULL});
  host h;
  static const scripted refused[] = {{404, NULL}, {503, "120"}};
  host_start(&h, w.ctx, refused, 2);
  lmm_gmd d1, d2;
  create(&w, h.url, &d1);
  assert_int_equal(lmmt_log_wait(&w.mock, "notify", "\"status\":404", 1, 5000), 1);
  create(&w, h.url, &d2);
  assert_int_equal(lmmt_log_wait(&w.mock, "notify", "\"status\":503", 1, 5000), 1);
  cJSON *lines[8];
  int n = notify_lines(&w.mock, lines, 8);
  assert_int_equal(n, 2);
  assert_true(is_null(lines[0], "retryInMs")); /* 404: no retry */
  assert_int_equal(num(lines[1], "retryInMs"), 60000);
  for (int i = 0; i < n; i++)
    cJSON_Delete(lines[i]);
  pthread_mutex_lock(&h.mu);
  assert_int_equal(h.n_posts, 2);
  pthread_mutex_unlock(&h.mu);
  lmm_gmd_clear(&d1);
  lmm_gmd_clear(&d2);
  host_stop(&h);
  /* A clean exit on SIGTERM within lmmt_mock_stop()'s 5 s, not after the minute's wait. */
  world_stop(&w);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_503_then_accepted),
      cmocka_unit_test(test_retries_bounded),
      cmocka_unit_test(test_final_and_retry_after),
  };
  int failed = cmocka_run_group_tests_name("t8_notify_retry", tests, NULL, NULL);
  lmm_global_cleanup();
  return failed ? 1 : 0;
}
