/* test_store_lease.c - campaign leases: claimed once, renewed by their holder only, taken over
 * when they expire, given back, never for a finished campaign; several processes claiming at
 * once each get other campaigns. With LMMT_STORE=pg, on a scratch PostgreSQL server
 * (test_store_lease_pg). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_pg.h"
#include "lwm2m_mbms/lwm2m_mbms.h"
#include "lwm2m_mbms/lease.h"

static int64_t g_now = 1700000000000; /* the stores' wall clock */
static int64_t wall(void *user) {
  (void)user;
  return g_now;
}

typedef struct fx {
  lmm_ctx *ctx;
  lmm_store *s;
  char dir[64], path[256];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  lmm_ctx_config cfg = LMM_CTX_CONFIG_DEFAULT;
  cfg.wall_ms = wall;
  if (!f || lmm_ctx_new(&cfg, &f->ctx) != LMM_OK) return -1;
  if (!(f->s = lmmt_store_open(f->ctx, f->dir))) return -1;
  snprintf(f->path, sizeof f->path, "%s", lmmt_store_last_path());
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  int rc = lmmt_store_remove(f->s, f->dir);
  lmm_ctx_free(f->ctx);
  free(f);
  return rc;
}

static int64_t new_campaign(lmm_store *s) {
  lmm_member m = {.ep = "dev-1", .oid = 6, .uri = "coap://127.0.0.1:5683"};
  lmm_campaign_info c = {
      .group = "g", .via = LMM_VIA_UNICAST, .op_kind = 1, .op_path = "/6/0", .t8_status = -1};
  assert_int_equal(lmm_store_campaign_create(s, &c, &m, 1), LMM_OK);
  return c.id;
}

static void finish(lmm_store *s, int64_t id) {
  lmm_campaign_info c;
  assert_int_equal(lmm_store_campaign_get(s, id, &c), LMM_OK);
  c.state = LMM_CS_DONE;
  assert_int_equal(lmm_store_campaign_update(s, &c), LMM_OK);
  lmm_campaign_info_clear(&c);
}

static void test_claim_renew_takeover(void **state) {
  fx *f = *state;
  lmm_store *s = f->s;
  int64_t id = -1;
  bool over = true;
  assert_int_equal(lmm_store_lease_claim(s, "w1", 1000, &id, &over), LMM_ERR_NOTFOUND);
  assert_int_equal(id, -1);
  assert_int_equal(lmm_store_lease_enqueue(s, 999), LMM_ERR_NOTFOUND);
  int64_t a = new_campaign(s), b = new_campaign(s), c = new_campaign(s), d = new_campaign(s);
  finish(s, d);
  assert_int_equal(lmm_store_lease_enqueue(s, d), LMM_ERR_STATE);
  assert_int_equal(lmm_store_lease_enqueue(s, a), LMM_OK);
  assert_int_equal(lmm_store_lease_enqueue(s, a), LMM_OK); /* twice: still one */
  assert_int_equal(lmm_store_lease_enqueue(s, b), LMM_OK);
  assert_int_equal(lmm_store_lease_claim(s, "", 1000, &id, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_store_lease_claim(s, "w1", 0, &id, NULL), LMM_ERR_ARG);

  /* Oldest first; c was never queued, so nobody claims it. */
  assert_int_equal(lmm_store_lease_claim(s, "w1", 1000, &id, &over), LMM_OK);
  assert_int_equal(id, a);
  assert_false(over);
  assert_int_equal(lmm_store_lease_claim(s, "w2", 1000, &id, &over), LMM_OK);
  assert_int_equal(id, b);
  assert_int_equal(lmm_store_lease_claim(s, "w3", 1000, &id, NULL), LMM_ERR_NOTFOUND);
  char *who;
  int64_t until;
  assert_int_equal(lmm_store_lease_get(s, c, &who, &until), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_lease_get(s, b, &who, &until), LMM_OK);
  assert_string_equal(who, "w2");
  assert_int_equal(until, g_now + 1000);
  free(who);

  /* w1 renews, w2 does not: after the lease, w3 takes over b, and w2 learns it lost it. */
  g_now += 800;
  assert_int_equal(lmm_store_lease_renew(s, a, "w1", 1000), LMM_OK);
  assert_int_equal(lmm_store_lease_renew(s, a, "w2", 1000), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(s), "held by w1"));
  g_now += 201; /* b's lease ended 1 ms ago; a's runs 599 ms more */
  assert_int_equal(lmm_store_lease_claim(s, "w3", 1000, &id, &over), LMM_OK);
  assert_int_equal(id, b);
  assert_true(over);
  assert_int_equal(lmm_store_lease_renew(s, b, "w2", 1000), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(s), "held by w3"));
  assert_int_equal(lmm_store_lease_claim(s, "w2", 1000, &id, NULL), LMM_ERR_NOTFOUND);

  /* Given back: claimable at once, not as a takeover. */
  assert_int_equal(lmm_store_lease_release(s, a, "w3"), LMM_ERR_STATE);
  assert_int_equal(lmm_store_lease_release(s, a, "w1"), LMM_OK);
  assert_int_equal(lmm_store_lease_get(s, a, &who, &until), LMM_OK);
  assert_null(who);
  assert_int_equal(lmm_store_lease_claim(s, "w2", 1000, &id, &over), LMM_OK);
  assert_int_equal(id, a);
  assert_false(over);

  /* A finished campaign is nobody's to take over, however old its lease. */
  finish(s, a);
  finish(s, b);
  g_now += 100000;
  assert_int_equal(lmm_store_lease_claim(s, "w4", 1000, &id, NULL), LMM_ERR_NOTFOUND);
  /* The lease outlives a reopen: it is in the store, not in the process. */
  int64_t e = new_campaign(s);
  assert_int_equal(lmm_store_lease_enqueue(s, e), LMM_OK);
  assert_int_equal(lmm_store_lease_claim(s, "w4", 1000, &id, NULL), LMM_OK);
  lmm_store_close(s);
  assert_int_equal(lmm_store_open(f->ctx, f->path, &f->s), LMM_OK);
  assert_int_equal(lmm_store_lease_renew(f->s, e, "w4", 1000), LMM_OK);
}

enum { N_QUEUED = 20, N_CLAIMERS = 3 };

/* Three processes, each with its own handle, claim until nothing is left: every campaign goes
 * to exactly one of them. */
static void test_concurrent_claims(void **state) {
  fx *f = *state;
  int64_t ids[N_QUEUED];
  for (int i = 0; i < N_QUEUED; i++) {
    ids[i] = new_campaign(f->s);
    assert_int_equal(lmm_store_lease_enqueue(f->s, ids[i]), LMM_OK);
  }
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid[N_CLAIMERS];
  for (int w = 0; w < N_CLAIMERS; w++) {
    pid[w] = fork();
    assert_true(pid[w] >= 0);
    if (pid[w] == 0) {
      close(fds[0]);
      lmm_ctx *ctx;
      lmm_store *s;
      char owner[16];
      snprintf(owner, sizeof owner, "worker-%d", w);
      if (lmm_ctx_new(NULL, &ctx) != LMM_OK || lmm_store_open(ctx, f->path, &s) != LMM_OK) _exit(2);
      int64_t id;
      lmm_err e;
      while ((e = lmm_store_lease_claim(s, owner, 600000, &id, NULL)) == LMM_OK)
        if (write(fds[1], &id, sizeof id) != sizeof id) _exit(3);
      lmm_store_close(s);
      lmm_ctx_free(ctx);
      _exit(e == LMM_ERR_NOTFOUND ? 0 : 4);
    }
  }
  close(fds[1]);
  int got[N_QUEUED] = {0}, total = 0;
  int64_t id;
  while (read(fds[0], &id, sizeof id) == sizeof id) {
    total++;
    for (int i = 0; i < N_QUEUED; i++)
      if (ids[i] == id) got[i]++;
  }
  close(fds[0]);
  for (int w = 0; w < N_CLAIMERS; w++) {
    int st;
    assert_int_equal(waitpid(pid[w], &st, 0), pid[w]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  assert_int_equal(total, N_QUEUED);
  for (int i = 0; i < N_QUEUED; i++)
    assert_int_equal(got[i], 1);
}

static lmmt_pg g_pg;
int main(void) {
  int engine = lmmt_pg_from_env(&g_pg);
  if (engine < 0) return 1;
  if (engine == 1) {
    lmmt_store_on_pg(&g_pg);
  }
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_claim_renew_takeover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_claims, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
