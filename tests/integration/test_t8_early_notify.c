/* test_t8_early_notify.c - a notification that overtakes its delivery's 201 (a slow proxy,
 * played by t8-mock --create-reply-delay-ms) is still matched: real mock, real receiver. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct events {
  int deliveries, tests;
  bool delivered;
  char transaction[512], subscription[512];
  int order_ok; /* 1 when the TestNotification came before the delivery's */
} events;

static void on_delivery(void *user, const char *txn, bool delivered) {
  events *e = user;
  e->deliveries++;
  e->delivered = delivered;
  snprintf(e->transaction, sizeof e->transaction, "%s", txn);
  e->order_ok = e->tests > 0;
}

static void on_test(void *user, const char *sub) {
  events *e = user;
  e->tests++;
  snprintf(e->subscription, sizeof e->subscription, "%s", sub);
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, on_test};

typedef struct world {
  lmmt_mock mock;
  lmm_ctx *ctx;
  lmm_t8_client *cl;
  lmm_t8_notifier *nt;
  events ev;
  char tmgi[32];
} world;

/* A mock that holds every delivery's 201 until 500 ms after its notification went out, a
 * client and a receiver attached to it, and one TMGI. */
static void world_start_cfg(world *w, const char *delay_ms, const lmm_t8_notifier_config *ncfg) {
  memset(w, 0, sizeof *w);
  char port[16];
  snprintf(port, sizeof port, "%d", lmmt_random_port());
  const char *extra[] = {"--create-reply-delay-ms", delay_ms, "--bearer-port", port, NULL};
  assert_int_equal(lmmt_mock_start(&w->mock, extra), 0);
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

static void world_start_delay(world *w, const char *delay_ms) {
  world_start_cfg(w, delay_ms, NULL);
}

static void world_start(world *w) {
  world_start_delay(w, "500");
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

/* The mock's log must show the order the test is about: the delivery's notification answered
 * (204) before the creating POST's 201 went out. */
static void assert_notified_before_201(const lmmt_mock *m) {
  /* The mock logs a request once it has been sent in full: the client may have its 201 first. */
  assert_int_equal(lmmt_log_wait(m, "http", "delivery-via-mbms\",\"status\":201", 1, 5000), 1);
  char *log = lmmt_read_file(m->log_path, NULL);
  assert_non_null(log);
  const char *note = strstr(log, "\"kind\":\"delivery\"");
  assert_non_null(note);
  const char *line = note;
  while (line > log && line[-1] != '\n')
    line--;
  const char *eol = strchr(note, '\n');
  assert_non_null(eol);
  assert_non_null(strstr(line, "\"status\":204"));
  assert_true(strstr(line, "\"status\":204") < eol);
  const char *created = strstr(log, "delivery-via-mbms\",\"status\":201");
  assert_non_null(created);
  assert_true(note < created);
  free(log);
}

/* The blocking call returns with the 201 after the notification had already come: it was
 * accepted, and handed on once the delivery was known. */
static void test_blocking_create(void **state) {
  (void)state;
  world w;
  world_start(&w);
  static const uint8_t payload[] = {0x52, 0x01, 0x12, 0x34, 0xb1, 0x33};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .scef_port = -1},
          out = {.scef_port = -1};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_gmd_create(w.cl, w.tmgi, &req, &out, &res), LMM_OK);
  assert_int_equal(res.http_status, 201);
  lmm_t8_result_clear(&res);
  run_until(w.ctx, &w.ev.deliveries, 1, 5000);
  assert_int_equal(w.ev.deliveries, 1);
  assert_true(w.ev.delivered);
  assert_string_equal(w.ev.transaction, out.self);
  assert_notified_before_201(&w.mock);
  lmm_t8_notifier_stats st;
  lmm_t8_notifier_get_stats(w.nt, &st);
  assert_int_equal(st.accepted, 1);
  assert_int_equal(st.unknown, 0);
  /* The SCEF got 204 at once: no attempt was refused or repeated. */
  assert_int_equal(lmmt_log_count(&w.mock, "notify", NULL), 1);
  lmm_gmd_clear(&out);
  world_stop(&w);
}

typedef struct created {
  events *ev;
  int deliveries_seen; /* how many delivery events the handler had had when the 201 came */
  bool done;
  lmm_err err;
  char self[512];
} created;

static void on_created(void *user, const lmm_t8_reply *rep) {
  created *c = user;
  c->done = true;
  c->err = rep->result->err;
  c->deliveries_seen = c->ev->deliveries + c->ev->tests;
  if (rep->gmd && rep->gmd->self) snprintf(c->self, sizeof c->self, "%s", rep->gmd->self);
}

/* Asynchronously, with a TestNotification first: both notifications overtake the 201, and
 * both reach the handlers only after the create's callback (which is where a campaign learns
 * the link it then matches them against), in the order they were sent. */
static void test_async_create_with_test_notification(void **state) {
  (void)state;
  world w;
  world_start(&w);
  static const uint8_t payload[] = {0x52, 0x01};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .has_request_test_notification = true,
                 .request_test_notification = true,
                 .scef_port = -1};
  created c = {.ev = &w.ev};
  assert_int_equal(lmm_t8_gmd_create_async(w.cl, w.tmgi, &req, on_created, &c, NULL), LMM_OK);
  int64_t end = mono_ms() + 10000;
  while (!c.done && mono_ms() < end)
    lmm_ctx_run_once(w.ctx, 50);
  assert_true(c.done);
  assert_int_equal(c.err, LMM_OK);
  assert_int_equal(c.deliveries_seen, 0);
  run_until(w.ctx, &w.ev.deliveries, 1, 5000);
  assert_int_equal(w.ev.tests, 1);
  assert_int_equal(w.ev.deliveries, 1);
  assert_int_equal(w.ev.order_ok, 1);
  assert_string_equal(w.ev.subscription, c.self);
  assert_string_equal(w.ev.transaction, c.self);
  assert_notified_before_201(&w.mock);
  world_stop(&w);
}

/* While a create is in flight its URL already takes notifications: up to 4 are held, a fifth
 * gets 503 (the SCEF comes back later). A held body naming another transaction was answered
 * 204 before the delivery's link was known: when the 201 comes it is dropped, and counted as a
 * mismatch; the ones naming the delivery are handed on. */
static void test_held_then_bound(void **state) {
  (void)state;
  world w;
  /* MB2-U: nothing plays before the 201, which the mock holds for 5 s: ample for what
   * follows. */
  world_start_delay(&w, "5000");
  lmm_gmd req = {.scef_port = -1};
  created c = {.ev = &w.ev};
  assert_int_equal(lmm_t8_gmd_create_async(w.cl, w.tmgi, &req, on_created, &c, NULL), LMM_OK);
  int64_t end = mono_ms() + 5000;
  while (lmmt_log_count(&w.mock, "delivery_created", NULL) < 1 && mono_ms() < end)
    lmm_ctx_run_once(w.ctx, 20);
  assert_int_equal(lmmt_log_count(&w.mock, "delivery_created", NULL), 1);
  /* The SCEF already has its destination (a GET is not held). */
  lmm_gmd *list = NULL;
  size_t n = 0;
  lmm_t8_result res;
  assert_int_equal(lmm_t8_gmd_list(w.cl, w.tmgi, &list, &n, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  assert_int_equal(n, 1);
  const char *dest = list[0].notification_destination;
  const char *base = lmm_t8_notifier_url(w.nt);
  assert_int_equal(strncmp(dest, base, strlen(base)), 0);
  const char *path = strchr(strstr(dest, "://") + 3, '/');

  char body[600], own[600], *problem = NULL;
  snprintf(body, sizeof body,
           "{\"transaction\":\"%s/as1/tmgi-allocation/%s/delivery-via-mbms/elsewhere\","
           "\"deliveryTriggerStatus\":true}",
           lmm_t8_client_base_url(w.cl), w.tmgi);
  snprintf(own, sizeof own, "{\"transaction\":\"%s\",\"deliveryTriggerStatus\":true}",
           list[0].self);
  for (int i = 0; i < 4; i++) {
    const char *b = i % 2 ? body : own;
    assert_int_equal(
        lmm_t8_notifier_handle_request(w.nt, path, "application/json", b, strlen(b), NULL), 204);
  }
  assert_int_equal(
      lmm_t8_notifier_handle_request(w.nt, path, "application/json", body, strlen(body), &problem),
      503);
  assert_non_null(problem);
  lmm_free(problem);
  assert_false(c.done); /* all of it happened before the 201 */
  assert_int_equal(w.ev.deliveries, 0);

  end = mono_ms() + 10000;
  while (!c.done && mono_ms() < end)
    lmm_ctx_run_once(w.ctx, 50);
  assert_true(c.done);
  assert_int_equal(c.err, LMM_OK);
  assert_int_equal(c.deliveries_seen, 0);
  assert_int_equal(w.ev.deliveries, 2);
  assert_string_equal(w.ev.transaction, c.self);
  lmm_t8_notifier_stats st;
  lmm_t8_notifier_get_stats(w.nt, &st);
  assert_int_equal(st.accepted, 4);
  assert_int_equal(st.early, 2);
  assert_int_equal(st.mismatched, 2);
  assert_int_equal(st.unknown, 0);
  lmm_gmd_list_free(list, n);
  world_stop(&w);
}

/* When every destination awaits its 201, a strict receiver has nowhere to be notified: the
 * create fails at once (nothing is sent) rather than going to the base URL it would refuse. */
static void test_full_strict(void **state) {
  (void)state;
  lmm_t8_notifier_config ncfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  ncfg.max_destinations = 1;
  world w;
  world_start_cfg(&w, "3000", &ncfg);
  lmm_gmd req = {.scef_port = -1}; /* MB2-U: its 201 is held for 3 s */
  created c = {.ev = &w.ev};
  assert_int_equal(lmm_t8_gmd_create_async(w.cl, w.tmgi, &req, on_created, &c, NULL), LMM_OK);
  assert_int_equal(lmm_t8_gmd_create_async(w.cl, w.tmgi, &req, on_created, &c, NULL),
                   LMM_ERR_STATE);
  int64_t end = mono_ms() + 10000;
  while (!c.done && mono_ms() < end)
    lmm_ctx_run_once(w.ctx, 50);
  assert_true(c.done);
  assert_int_equal(c.err, LMM_OK);
  assert_int_equal(lmmt_log_count(&w.mock, "delivery_created", NULL), 1);
  /* Bound now: the next create evicts it and gets the one place. */
  lmm_gmd out = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_gmd_create(w.cl, w.tmgi, &req, &out, &res), LMM_OK);
  lmm_t8_result_clear(&res);
  lmm_gmd_clear(&out);
  world_stop(&w);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocking_create),
      cmocka_unit_test(test_async_create_with_test_notification),
      cmocka_unit_test(test_held_then_bound),
      cmocka_unit_test(test_full_strict),
  };
  int failed = cmocka_run_group_tests_name("t8_early_notify", tests, NULL, NULL);
  lmm_global_cleanup();
  return failed ? 1 : 0;
}
