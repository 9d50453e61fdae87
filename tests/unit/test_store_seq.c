/* test_store_seq.c - the store's group secrets and the sequence number blocks of protected
 * group messages: kept across a close, never handed out twice, forgotten with their group.
 * With LMMT_STORE=pg, on a scratch PostgreSQL server (test_store_seq_pg). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmmt.h"
#include "lmmt_pg.h"
#include "lwm2m_mbms/lwm2m_mbms.h"
#include "store/store_secret.h"
#include "store/store_seq.h"

#define SEQ_LAST ((1ull << 40) - 1u) /* the last Partial IV of 5 bytes */

static void test_secrets(void **state) {
  (void)state;
  lmm_ctx *ctx = NULL;
  char dir[64], path[256];
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_store *s = lmmt_store_open(ctx, dir);
  assert_non_null(s);
  uint8_t k1[16], k2[32], *got = (uint8_t *)"untouched";
  size_t len = 7;
  memset(k1, 0x11, sizeof k1), memset(k2, 0x22, sizeof k2);
  assert_int_equal(lmmi_store_secret_get(s, "group", "g", &got, &len), LMM_ERR_NOTFOUND);
  assert_int_equal(lmmi_store_secret_put(s, "group", "g", k1, sizeof k1), LMM_OK);
  assert_int_equal(lmmi_store_secret_put(s, "other", "g", k2, sizeof k2), LMM_OK);
  assert_int_equal(lmmi_store_secret_put(s, "group", "g", k2, 0), LMM_ERR_ARG);
  /* Kept across a close. */
  snprintf(path, sizeof path, "%s", lmmt_store_last_path());
  lmm_store_close(s);
  assert_int_equal(lmm_store_open(ctx, path, &s), LMM_OK);
  assert_int_equal(lmmi_store_secret_get(s, "group", "g", &got, &len), LMM_OK);
  assert_int_equal(len, sizeof k1);
  assert_memory_equal(got, k1, sizeof k1);
  free(got);
  /* Replaced, then deleted; another kind is another secret. */
  assert_int_equal(lmmi_store_secret_put(s, "group", "g", k2, sizeof k2), LMM_OK);
  assert_int_equal(lmmi_store_secret_get(s, "group", "g", &got, &len), LMM_OK);
  assert_int_equal(len, sizeof k2);
  free(got);
  assert_int_equal(lmmi_store_secret_del(s, "group", "g"), LMM_OK);
  assert_int_equal(lmmi_store_secret_del(s, "group", "g"), LMM_OK);
  assert_int_equal(lmmi_store_secret_get(s, "group", "g", &got, &len), LMM_ERR_NOTFOUND);
  assert_int_equal(lmmi_store_secret_get(s, "other", "g", &got, &len), LMM_OK);
  free(got);
  /* A group's key goes with the group. */
  lmm_group_info g = {.name = "b7",
                      .type = LMM_GROUP_MULTICAST,
                      .gm_oid = 42769,
                      .multicast_address = "239.1.2.3",
                      .multicast_port = -1};
  assert_int_equal(lmm_store_group_create(s, &g), LMM_OK);
  assert_int_equal(lmmi_store_secret_put(s, "group", "b7", k1, sizeof k1), LMM_OK);
  assert_int_equal(lmm_store_group_delete(s, "b7"), LMM_OK);
  assert_int_equal(lmmi_store_secret_get(s, "group", "b7", &got, &len), LMM_ERR_NOTFOUND);
  assert_int_equal(lmmt_store_remove(s, dir), 0);
  lmm_ctx_free(ctx);
}

static void test_sequence_blocks(void **state) {
  (void)state;
  lmm_ctx *ctx = NULL;
  char dir[64], path[256];
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_store *s = lmmt_store_open(ctx, dir);
  assert_non_null(s);
  snprintf(path, sizeof path, "%s", lmmt_store_last_path());
  uint64_t a = 99, b = 99, c = 99, o = 99;
  assert_int_equal(lmmi_store_seq_reserve(s, "g", 1024, &a), LMM_OK);
  assert_int_equal(a, 0);
  assert_int_equal(lmmi_store_seq_reserve(s, "g", 10, &b), LMM_OK);
  assert_int_equal(b, 1024);
  assert_int_equal(lmmi_store_seq_reserve(s, "h", 10, &o), LMM_OK); /* each group its own */
  assert_int_equal(o, 0);
  /* A second handle on the same file (another process) gets what follows; so does the first
   * handle after a close, as after a crash. */
  lmm_store *s2 = NULL;
  assert_int_equal(lmm_store_open(ctx, path, &s2), LMM_OK);
  assert_int_equal(lmmi_store_seq_reserve(s2, "g", 1, &c), LMM_OK);
  assert_int_equal(c, 1034);
  lmm_store_close(s2);
  lmm_store_close(s);
  assert_int_equal(lmm_store_open(ctx, path, &s), LMM_OK);
  assert_int_equal(lmmi_store_seq_reserve(s, "g", 1, &c), LMM_OK);
  assert_int_equal(c, 1035);
  /* Up to 2^40 - 1, and no further. */
  assert_int_equal(lmmi_store_seq_reserve(s, "g", 0, &c), LMM_ERR_ARG);
  for (int i = 0; i < 255; i++)
    assert_int_equal(lmmi_store_seq_reserve(s, "big", 1ull << 32, &c), LMM_OK);
  assert_int_equal(c, 254ull << 32);
  /* 2^40 numbers in all (0 .. 2^40 - 1): one more block of 2^32 - 1, then one, then none. */
  assert_int_equal(lmmi_store_seq_reserve(s, "big", (1ull << 32) - 1, &c), LMM_OK);
  assert_int_equal(c, 255ull << 32);
  assert_int_equal(lmmi_store_seq_reserve(s, "big", 2, &c), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(s), "used up"));
  assert_int_equal(lmmi_store_seq_reserve(s, "big", 1, &c), LMM_OK);
  assert_true(c == SEQ_LAST);
  assert_int_equal(lmmi_store_seq_reserve(s, "big", 1, &c), LMM_ERR_STATE);
  assert_int_equal(lmmt_store_remove(s, dir), 0);
  lmm_ctx_free(ctx);
}

static lmmt_pg g_pg;
int main(void) {
  int engine = lmmt_pg_from_env(&g_pg);
  if (engine < 0) return 1;
  if (engine == 1) {
    lmmt_store_on_pg(&g_pg);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secrets),
      cmocka_unit_test(test_sequence_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
