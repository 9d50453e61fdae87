/* test_ctx.c - the context: injected clock, timers, seeded randomness, source order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/ctx_internal.h"

static int64_t fake_now;
static int64_t fake_clock(void *user) {
  (void)user;
  return fake_now;
}

static lmm_ctx *new_ctx(uint64_t seed) {
  lmm_ctx_config cfg = LMM_CTX_CONFIG_DEFAULT;
  cfg.now_ms = fake_clock, cfg.seed = seed;
  lmm_ctx *ctx = NULL;
  assert_int_equal(lmm_ctx_new(&cfg, &ctx), LMM_OK);
  return ctx;
}

static char fired[16];
static void mark(void *arg) {
  strncat(fired, arg, sizeof fired - strlen(fired) - 1);
}

static void test_timers(void **state) {
  (void)state;
  fake_now = 1000;
  fired[0] = '\0';
  lmm_ctx *ctx = new_ctx(1);
  assert_int_equal(lmm_ctx_timeout_ms(ctx, -1), -1); /* nothing to wait for */
  assert_int_equal(lmm_ctx_timeout_ms(ctx, 500), 500);
  lmmi_timer_add(ctx, 1300, mark, "c");
  lmmi_timer_add(ctx, 1100, mark, "a");
  lmmi_timer *b = lmmi_timer_add(ctx, 1200, mark, "b");
  lmmi_timer_add(ctx, 1100, mark, "A"); /* same deadline: after "a" */
  assert_int_equal(lmm_ctx_timeout_ms(ctx, -1), 100);
  assert_int_equal(lmm_ctx_timeout_ms(ctx, 40), 40);
  lmm_ctx_process(ctx, NULL, 0);
  assert_string_equal(fired, "");
  fake_now = 1250;
  lmm_ctx_process(ctx, NULL, 0);
  assert_string_equal(fired, "aAb");
  lmmi_timer *d = lmmi_timer_add(ctx, 1260, mark, "d");
  lmmi_timer_cancel(ctx, d);
  fake_now = 5000;
  assert_int_equal(lmm_ctx_timeout_ms(ctx, -1), 0); /* overdue */
  lmm_ctx_process(ctx, NULL, 0);
  assert_string_equal(fired, "aAbc");
  (void)b;
  lmm_ctx_free(ctx);
}

static void test_seeded_random(void **state) {
  (void)state;
  lmm_ctx *a = new_ctx(42), *b = new_ctx(42), *c = new_ctx(43);
  uint8_t x[64], y[64], z[64];
  assert_int_equal(lmmi_random(a, x, sizeof x), LMM_OK);
  assert_int_equal(lmmi_random(b, y, sizeof y), LMM_OK);
  assert_int_equal(lmmi_random(c, z, sizeof z), LMM_OK);
  assert_memory_equal(x, y, sizeof x);     /* same seed, same bytes */
  assert_memory_not_equal(x, z, sizeof x); /* another seed, others */
  int hist[10] = {0};
  for (int i = 0; i < 10000; i++) {
    uint64_t v = lmmi_random_below(a, 10);
    assert_true(v < 10);
    hist[v]++;
  }
  for (int i = 0; i < 10; i++)
    assert_in_range(hist[i], 800, 1200); /* roughly uniform */
  assert_int_equal(lmmi_random_below(a, 1), 0);
  lmm_ctx_free(a), lmm_ctx_free(b), lmm_ctx_free(c);
}

static char order_log[8];
static size_t no_fds(void *self, struct pollfd *p, size_t cap) {
  (void)self, (void)p, (void)cap;
  return 0;
}
static int64_t no_deadline(void *self) {
  (void)self;
  return -1;
}
static void log_process(void *self, const struct pollfd *p, size_t n) {
  (void)p, (void)n;
  strncat(order_log, self, sizeof order_log - strlen(order_log) - 1);
}

static void test_source_order(void **state) {
  (void)state;
  lmm_ctx *ctx = new_ctx(1);
  lmmi_source r = {no_fds, no_deadline, log_process, "R", LMMI_ORDER_RECEIVER};
  lmmi_source c1 = {no_fds, no_deadline, log_process, "1", LMMI_ORDER_CLIENT};
  lmmi_source c2 = {no_fds, no_deadline, log_process, "2", LMMI_ORDER_CLIENT};
  assert_int_equal(lmmi_ctx_add_source(ctx, &r), LMM_OK); /* a receiver created first... */
  assert_int_equal(lmmi_ctx_add_source(ctx, &c1), LMM_OK);
  assert_int_equal(lmmi_ctx_add_source(ctx, &c2), LMM_OK);
  order_log[0] = '\0';
  lmm_ctx_process(ctx, NULL, 0);
  assert_string_equal(order_log, "12R"); /* ...is still served after the clients */
  lmmi_ctx_remove_source(ctx, &c1);
  order_log[0] = '\0';
  lmm_ctx_process(ctx, NULL, 0);
  assert_string_equal(order_log, "2R");
  lmm_ctx_free(ctx);
}

static void test_strerror(void **state) {
  (void)state;
  for (int e = LMM_OK; e <= LMM_ERR_DB; e++)
    assert_non_null(lmm_strerror((lmm_err)e));
  assert_string_equal(lmm_strerror((lmm_err)999), "unknown error");
  assert_int_equal(lmm_ctx_new(NULL, NULL), LMM_ERR_ARG);
  lmm_ctx_free(NULL);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timers), cmocka_unit_test(test_seeded_random),
      cmocka_unit_test(test_source_order), cmocka_unit_test(test_strerror)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
