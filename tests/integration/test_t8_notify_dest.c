/* test_t8_notify_dest.c - per-delivery notification URLs: handed out by the receiver to the
 * client's creates against the real t8-mock, then probed over loopback HTTP as an SCEF would. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define JSON "application/json"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct events {
  int deliveries;
  char transaction[512];
} events;

static void on_delivery(void *user, const char *txn, bool delivered) {
  events *e = user;
  (void)delivered;
  e->deliveries++;
  snprintf(e->transaction, sizeof e->transaction, "%s", txn);
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, NULL};

typedef struct world {
  lmmt_mock mock;
  lmm_ctx *ctx;
  lmm_t8_client *cl;
  lmm_t8_notifier *nt;
  events ev;
  char tmgi[32];
} world;

static void world_start(world *w, const lmm_t8_notifier_config *ncfg) {
  memset(w, 0, sizeof *w);
  char port[16];
  snprintf(port, sizeof port, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&w->mock, (const char *[]){"--bearer-port", port, NULL}), 0);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = w->mock.api_root;
  cfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(w->ctx, &cfg, &w->cl), LMM_OK);
  assert_int_equal(lmm_t8_notifier_new(w->ctx, ncfg, &handlers, &w->ev, &w->nt), LMM_OK);
  lmm_t8_client_attach_notifier(w->cl, w->nt);
  lmm_tmgi_allocation a = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(w->cl, NULL, &a, &res), LMM_OK);
  snprintf(w->tmgi, sizeof w->tmgi, "%s", a.tmgi);
  lmm_tmgi_allocation_clear(&a);
}

static void world_stop(world *w) {
  lmm_t8_client_free(w->cl);
  lmm_t8_notifier_free(w->nt);
  lmm_ctx_free(w->ctx);
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
}

static void run_until(lmm_ctx *ctx, const int *counter, int want, int ms) {
  int64_t end = mono_ms() + ms;
  while (*counter < want && mono_ms() < end)
    lmm_ctx_run_once(ctx, 50);
}

/* One delivery created and notified; `out` gets it. */
static void deliver(world *w, lmm_gmd *out) {
  static const uint8_t payload[] = {0x52, 0x01};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .scef_port = -1};
  lmm_t8_result res;
  int before = w->ev.deliveries;
  memset(out, 0, sizeof *out);
  assert_int_equal(lmm_t8_gmd_create(w->cl, w->tmgi, &req, out, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  run_until(w->ctx, &w->ev.deliveries, before + 1, 5000);
  assert_int_equal(w->ev.deliveries, before + 1);
  assert_string_equal(w->ev.transaction, out->self);
}

/* ------------------------------------------------------------ the SCEF side: one POST */

typedef struct post_ctx {
  const char *url, *ct, *body;
  size_t len;
  long status;
  char resp[1024];
  size_t resp_len;
  volatile bool done;
} post_ctx;

static size_t keep_body(char *p, size_t size, size_t n, void *u) {
  post_ctx *pc = u;
  size_t len = size * n, room = sizeof pc->resp - 1 - pc->resp_len;
  memcpy(pc->resp + pc->resp_len, p, len < room ? len : room);
  pc->resp_len += len < room ? len : room;
  pc->resp[pc->resp_len] = '\0';
  return len;
}

/* The receiver is served from this thread's context loop, so the POST goes through the multi
 * interface while the loop turns. Bounded: curl gives up after 10 s. */
static long request(world *w, const char *method, const char *url, const char *ct, const char *body,
                    size_t len, char *resp, size_t cap) {
  CURL *h = curl_easy_init();
  CURLM *m = curl_multi_init();
  struct curl_slist *hd = NULL;
  post_ctx pc = {.url = url, .ct = ct, .body = body, .len = len};
  char ctl[128];
  int running = 1;
  assert_non_null(h);
  assert_non_null(m);
  snprintf(ctl, sizeof ctl, "Content-Type: %s", ct);
  hd = curl_slist_append(hd, ctl);
  hd = curl_slist_append(hd, "Expect:");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  if (strcmp(method, "GET") == 0) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &pc);
  curl_multi_add_handle(m, h);
  while (running) {
    curl_multi_perform(m, &running);
    if (running) {
      curl_multi_poll(m, NULL, 0, 5, NULL);
      lmm_ctx_run_once(w->ctx, 5);
    }
  }
  CURLMsg *msg;
  int left;
  CURLcode cc = CURLE_FAILED_INIT;
  while ((msg = curl_multi_info_read(m, &left)))
    if (msg->msg == CURLMSG_DONE) cc = msg->data.result;
  assert_int_equal(cc, CURLE_OK);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &pc.status);
  if (resp) snprintf(resp, cap, "%s", pc.resp);
  curl_multi_remove_handle(m, h);
  curl_easy_cleanup(h);
  curl_multi_cleanup(m);
  curl_slist_free_all(hd);
  return pc.status;
}

static long post(world *w, const char *url, const char *ct, const char *body, size_t len,
                 char *resp, size_t cap) {
  return request(w, "POST", url, ct, body, len, resp, cap);
}

static long post_note(world *w, const char *url, const char *txn, char *resp, size_t cap) {
  char body[700];
  snprintf(body, sizeof body, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":true}", txn);
  return post(w, url, JSON, body, strlen(body), resp, cap);
}

/* ------------------------------------------------------------ tests */

/* The strict default: a notification is taken only at the URL handed out for its delivery, and
 * only when it names that delivery. Every other request is refused with a ProblemDetails and
 * reaches no handler. */
static void test_destination_answers(void **state) {
  (void)state;
  lmm_t8_notifier_config ncfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  ncfg.max_body = 400;
  world w;
  world_start(&w, &ncfg);
  lmm_gmd d = {0}, d2 = {0};
  deliver(&w, &d);
  deliver(&w, &d2);
  const char *own = d.notification_destination, *base = lmm_t8_notifier_url(w.nt);
  char url[512], resp[1024];
  lmm_t8_notifier_stats st;
  assert_int_equal(strncmp(own, base, strlen(base)), 0);
  assert_string_not_equal(own, d2.notification_destination);

  /* Its own URL takes a repeated notification, handed on as the delivery's. */
  assert_int_equal(post_note(&w, own, d.self, resp, sizeof resp), 204);
  assert_int_equal(w.ev.deliveries, 3);
  assert_string_equal(w.ev.transaction, d.self);

  /* The base URL takes nothing, even naming a delivery that is ours. */
  assert_int_equal(post_note(&w, base, d.self, resp, sizeof resp), 404);
  assert_non_null(strstr(resp, "\"status\":404"));
  assert_non_null(strstr(resp, "taken only at the URL handed out for each delivery"));
  /* Nor a per-delivery URL never handed out. */
  snprintf(url, sizeof url, "%s/0123456789abcdef0123456789abcdef", base);
  assert_int_equal(post_note(&w, url, d.self, resp, sizeof resp), 404);
  assert_non_null(strstr(resp, "unknown notification destination"));
  /* A known URL with the other delivery's transaction: 400 naming the member. */
  assert_int_equal(post_note(&w, own, d2.self, resp, sizeof resp), 400);
  assert_non_null(strstr(resp, "\"param\":\"/transaction\""));
  assert_non_null(strstr(resp, "names another delivery"));
  assert_int_equal(w.ev.deliveries, 3);
  lmm_t8_notifier_get_stats(w.nt, &st);
  assert_int_equal(st.unknown, 2);
  assert_int_equal(st.mismatched, 1);

  /* Not a destination's shape at all: 404 for the path, not counted as unknown. */
  snprintf(url, sizeof url, "%s/0123456789ABCDEF0123456789ABCDEF", base);
  assert_int_equal(post_note(&w, url, d.self, resp, sizeof resp), 404);
  assert_non_null(strstr(resp, "no such resource"));
  snprintf(url, sizeof url, "%s/0123456789abcdef", base);
  assert_int_equal(post_note(&w, url, d.self, NULL, 0), 404);
  lmm_t8_notifier_get_stats(w.nt, &st);
  assert_int_equal(st.unknown, 2);

  /* At its own URL: the method, then the media type, the size and the body are checked. */
  assert_int_equal(request(&w, "GET", own, JSON, NULL, 0, resp, sizeof resp), 405);
  assert_non_null(strstr(resp, "\"status\":405"));
  assert_int_equal(post(&w, own, "text/plain", "{}", 2, resp, sizeof resp), 415);
  assert_non_null(strstr(resp, "\"status\":415"));
  char big[600];
  snprintf(big, sizeof big, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":true%450s}", d.self,
           "");
  assert_int_equal(post(&w, own, JSON, big, strlen(big), resp, sizeof resp), 413);
  assert_non_null(strstr(resp, "\"status\":413"));
  assert_int_equal(post(&w, own, JSON, "{\"transaction\":", 15, resp, sizeof resp), 400);
  assert_non_null(strstr(resp, "\"status\":400"));
  assert_int_equal(post(&w, own, JSON, "{\"transaction\":1}", 17, resp, sizeof resp), 400);
  assert_non_null(strstr(resp, "/transaction"));
  assert_int_equal(w.ev.deliveries, 3);
  lmm_t8_notifier_get_stats(w.nt, &st);
  assert_int_equal(st.accepted, 3);
  assert_int_equal(st.malformed, 4);

  /* Deleted: its URL is forgotten with it. */
  lmm_t8_result res;
  assert_int_equal(lmm_t8_gmd_delete(w.cl, w.tmgi, d.transaction_id, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  assert_int_equal(post_note(&w, own, d.self, resp, sizeof resp), 404);
  assert_non_null(strstr(resp, "unknown notification destination"));
  /* The other delivery's URL still takes its own. */
  assert_int_equal(post_note(&w, d2.notification_destination, d2.self, NULL, 0), 204);
  assert_int_equal(w.ev.deliveries, 4);
  assert_string_equal(w.ev.transaction, d2.self);
  lmm_gmd_clear(&d);
  lmm_gmd_clear(&d2);
  world_stop(&w);
}

/* With accept_base, for an SCEF that notifies one fixed URL: the base URL and unknown
 * per-delivery URLs take a body naming a registered delivery, and a per-delivery URL takes a
 * body naming another delivery as its own delivery's. */
static void test_destination_answers_accept_base(void **state) {
  (void)state;
  lmm_t8_notifier_config ncfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  ncfg.accept_base = true;
  world w;
  world_start(&w, &ncfg);
  lmm_gmd d = {0};
  deliver(&w, &d);
  const char *own = d.notification_destination, *base = lmm_t8_notifier_url(w.nt);
  char url[512], resp[1024], other[600];
  lmm_t8_notifier_stats st;

  snprintf(other, sizeof other, "%s/%s/tmgi-allocation/%s/delivery-via-mbms/0000000000000000",
           lmm_t8_client_base_url(w.cl), "as1", w.tmgi);
  assert_int_equal(post_note(&w, own, other, NULL, 0), 204);
  assert_int_equal(w.ev.deliveries, 2);
  assert_string_equal(w.ev.transaction, d.self);
  lmm_t8_notifier_get_stats(w.nt, &st);
  assert_int_equal(st.mismatched, 1);

  snprintf(url, sizeof url, "%s/0123456789abcdef0123456789abcdef", base);
  assert_int_equal(post_note(&w, url, other, resp, sizeof resp), 404);
  assert_non_null(strstr(resp, "unknown notification destination"));
  assert_int_equal(post_note(&w, url, d.self, NULL, 0), 204);
  assert_int_equal(post_note(&w, base, d.self, NULL, 0), 204);
  assert_int_equal(post_note(&w, base, other, resp, sizeof resp), 404);
  assert_non_null(strstr(resp, "unknown transaction"));
  assert_int_equal(w.ev.deliveries, 4);

  /* Deleted: its URL is forgotten with it, and so is its link at the base URL. */
  lmm_t8_result res;
  assert_int_equal(lmm_t8_gmd_delete(w.cl, w.tmgi, d.transaction_id, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  assert_int_equal(post_note(&w, own, d.self, resp, sizeof resp), 404);
  assert_int_equal(post_note(&w, base, d.self, NULL, 0), 404);
  assert_int_equal(w.ev.deliveries, 4);
  lmm_gmd_clear(&d);
  world_stop(&w);
}

/* At the bound the oldest destination whose 201 came goes: at a strict receiver its URL then
 * gets 404; with accept_base its delivery is still known by link (a notification naming it is
 * taken at its old URL). New deliveries get URLs of their own either way. */
static void bound_case(bool accept_base) {
  lmm_t8_notifier_config ncfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  ncfg.max_destinations = 2;
  ncfg.accept_base = accept_base;
  world w;
  world_start(&w, &ncfg);
  lmm_gmd d[3];
  for (int i = 0; i < 3; i++)
    deliver(&w, &d[i]);
  const char *base = lmm_t8_notifier_url(w.nt);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(strncmp(d[i].notification_destination, base, strlen(base)), 0);
    for (int k = 0; k < i; k++)
      assert_string_not_equal(d[i].notification_destination, d[k].notification_destination);
  }
  char resp[1024];
  if (accept_base) {
    /* d[0]'s destination was evicted: the body's link must be known now, as at the base URL. */
    assert_int_equal(post_note(&w, d[0].notification_destination, d[1].self, NULL, 0), 204);
    assert_string_equal(w.ev.transaction, d[1].self); /* not taken as d[0]'s any more */
    lmm_t8_result res;
    assert_int_equal(lmm_t8_gmd_delete(w.cl, w.tmgi, d[1].transaction_id, &res), LMM_OK);
    lmm_t8_result_clear(&res);
    assert_int_equal(post_note(&w, d[0].notification_destination, d[1].self, resp, sizeof resp),
                     404);
    /* d[2]'s is live: a mismatching body is still d[2]'s. */
    assert_int_equal(post_note(&w, d[2].notification_destination, d[0].self, NULL, 0), 204);
    assert_string_equal(w.ev.transaction, d[2].self);
  } else {
    int before = w.ev.deliveries;
    assert_int_equal(post_note(&w, d[0].notification_destination, d[0].self, resp, sizeof resp),
                     404);
    assert_non_null(strstr(resp, "unknown notification destination"));
    assert_int_equal(post_note(&w, d[2].notification_destination, d[0].self, resp, sizeof resp),
                     400);
    assert_int_equal(post_note(&w, d[1].notification_destination, d[1].self, NULL, 0), 204);
    assert_int_equal(w.ev.deliveries, before + 1);
    assert_string_equal(w.ev.transaction, d[1].self);
  }
  for (int i = 0; i < 3; i++)
    lmm_gmd_clear(&d[i]);
  world_stop(&w);
}

static void test_bound(void **state) {
  (void)state;
  bound_case(false);
}

static void test_bound_accept_base(void **state) {
  (void)state;
  bound_case(true);
}

/* A delivery whose caller chose its destination, then replaced by a PUT that leaves it empty:
 * a strict receiver hands it a URL of its own (the base URL would refuse it), bound at once. */
static void test_put_gets_own_destination(void **state) {
  (void)state;
  world w;
  world_start(&w, NULL);
  static const uint8_t payload[] = {0x52, 0x01};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .notification_destination = "http://127.0.0.1:9/elsewhere",
                 .scef_port = -1},
          d = {0}, put = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_gmd_create(w.cl, w.tmgi, &req, &d, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  assert_string_equal(d.notification_destination, "http://127.0.0.1:9/elsewhere");
  req.notification_destination = NULL; /* the same payload: the mock plays nothing more */
  assert_int_equal(lmm_t8_gmd_put(w.cl, w.tmgi, d.transaction_id, &req, &put, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  const char *base = lmm_t8_notifier_url(w.nt);
  assert_non_null(put.notification_destination);
  assert_int_equal(strncmp(put.notification_destination, base, strlen(base)), 0);
  assert_int_equal(strlen(put.notification_destination), strlen(base) + 33);
  int before = w.ev.deliveries;
  assert_int_equal(post_note(&w, put.notification_destination, d.self, NULL, 0), 204);
  assert_int_equal(w.ev.deliveries, before + 1);
  assert_string_equal(w.ev.transaction, d.self);
  assert_int_equal(post_note(&w, base, d.self, NULL, 0), 404);
  lmm_gmd_clear(&d);
  lmm_gmd_clear(&put);
  world_stop(&w);
}

/* A host's own server hands each POST on with its path: a per-delivery path below the
 * advertised URL's path is taken; the base paths are refused (strict) and anything else is 404
 * for the path. */
static void test_host_paths(void **state) {
  (void)state;
  lmm_t8_notifier_config ncfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  ncfg.public_url = "http://127.0.0.1:9/hooks/t8/";
  world w;
  world_start(&w, &ncfg);
  lmm_gmd d = {0};
  static const uint8_t payload[] = {0x52, 0x01};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .scef_port = -1};
  lmm_t8_result res;
  /* The mock's own notification finds nobody at port 9: this test plays the SCEF. */
  assert_int_equal(lmm_t8_gmd_create(w.cl, w.tmgi, &req, &d, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  const char *prefix = "http://127.0.0.1:9/hooks/t8/";
  assert_int_equal(strncmp(d.notification_destination, prefix, strlen(prefix)), 0);
  const char *own_path = d.notification_destination + strlen("http://127.0.0.1:9");
  assert_int_equal(strlen(own_path), strlen("/hooks/t8/") + 32);

  char body[700], *problem = NULL;
  snprintf(body, sizeof body, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":true}", d.self);
  size_t len = strlen(body);
  int before = w.ev.deliveries;
  assert_int_equal(lmm_t8_notifier_handle_request(w.nt, own_path, JSON, body, len, &problem), 204);
  assert_null(problem);
  /* The base paths (a query ignored) are known paths, but a strict receiver takes nothing
   * there. */
  assert_int_equal(lmm_t8_notifier_handle_request(w.nt, "/hooks/t8/", JSON, body, len, &problem),
                   404);
  assert_non_null(problem);
  assert_non_null(strstr(problem, "taken only at the URL handed out"));
  lmm_free(problem);
  assert_int_equal(
      lmm_t8_notifier_handle_request(w.nt, "/t8/notifications?a=b", JSON, body, len, NULL), 404);
  assert_int_equal(lmm_t8_notifier_handle_request(w.nt, NULL, JSON, body, len, NULL), 404);
  assert_int_equal(lmm_t8_notifier_handle(w.nt, JSON, body, len, NULL), 404);
  assert_int_equal(w.ev.deliveries, before + 1);
  assert_int_equal(lmm_t8_notifier_handle_request(w.nt, "/elsewhere", JSON, body, len, &problem),
                   404);
  assert_non_null(problem);
  assert_non_null(strstr(problem, "no such resource"));
  lmm_free(problem);
  assert_int_equal(
      lmm_t8_notifier_handle_request(w.nt, own_path, "text/plain", body, len, &problem), 415);
  lmm_free(problem);
  assert_int_equal(w.ev.deliveries, before + 1);
  lmm_gmd_clear(&d);
  world_stop(&w);
}

/* The configuration refuses an advertised URL that cannot take a path below it. */
static void test_public_url_checked(void **state) {
  (void)state;
  lmm_ctx *ctx;
  lmm_t8_notifier *n = NULL;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  cfg.public_url = "http://as.example/cb?x=1";
  assert_int_equal(lmm_t8_notifier_new(ctx, &cfg, &handlers, NULL, &n), LMM_ERR_ARG);
  cfg.public_url = "http://as.example/cb#f";
  assert_int_equal(lmm_t8_notifier_new(ctx, &cfg, &handlers, NULL, &n), LMM_ERR_ARG);
  assert_null(n);
  lmm_ctx_free(ctx);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_destination_answers),
      cmocka_unit_test(test_destination_answers_accept_base),
      cmocka_unit_test(test_bound),
      cmocka_unit_test(test_bound_accept_base),
      cmocka_unit_test(test_put_gets_own_destination),
      cmocka_unit_test(test_host_paths),
      cmocka_unit_test(test_public_url_checked),
  };
  int failed = cmocka_run_group_tests_name("t8_notify_dest", tests, NULL, NULL);
  lmm_global_cleanup();
  return failed ? 1 : 0;
}
