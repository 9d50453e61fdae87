/* test_fw_unicast_resume.c - a unicast firmware job that continues one stopped before, against
 * the real lwm2m-mbms-sim: the write-ahead hook runs before every Execute and can hold it back;
 * a resumed member is asked its State first, so one already Downloaded gets no package again,
 * one already updated is judged without a second Execute, and one that holds nothing gets the
 * package (push) or a new URI (pull). The simulator's update count shows that no Execute ran
 * twice. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lmmt.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV      8
#define IMAGE_SIZE (12 * 1024)

typedef struct hook {
  lmm_err answer;   /* what before_execute returns */
  int asked[N_DEV]; /* times each member index was announced */
  size_t calls;
} hook;

static lmm_err before_execute(void *user, const size_t *idx, size_t n) {
  hook *h = user;
  h->calls++;
  for (size_t k = 0; k < n; k++) {
    assert_true(idx[k] < N_DEV);
    h->asked[idx[k]]++;
  }
  return h->answer;
}

static void on_member(void *user, const lmm_fw_report *r) {
  (void)user, (void)r;
}

static void on_done(void *user, lmm_fw_job *j, lmm_err result) {
  (void)user, (void)j, (void)result;
}

static const lmm_fw_handlers handlers = {on_member, on_done};

typedef struct world {
  lmmt_sim sim;
  lmm_member *m;
  size_t n;
  lmm_ctx *ctx;
  lmm_unicast *u;
  uint8_t image[IMAGE_SIZE];
} world;

static void world_up(world *w) {
  const char *extra[] = {"--count", "8", "--object", "5", "--update-ms", "100", NULL};
  assert_int_equal(lmmt_sim_start(&w->sim, extra), 0);
  char why[200];
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(w->n, N_DEV);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.member_deadline_ms = 10000;
  assert_int_equal(lmm_unicast_new(w->ctx, &ucfg, &w->u), LMM_OK);
  for (size_t i = 0; i < IMAGE_SIZE; i++)
    w->image[i] = (uint8_t)(i * 31 + i / 253);
}

/* Runs a job over the first `n` members; `asked` (NULL: not resumed) marks each one resumed,
 * with its update asked or not. The reports are copied into `out`. */
static void run_job(world *w, lmm_fw_delivery dlv, lmm_blob_server *srv, size_t n, const int *asked,
                    hook *h, lmm_fw_report *out) {
  lmm_fw_config cfg = LMM_FW_CONFIG_DEFAULT;
  cfg.delivery = dlv;
  cfg.server = srv;
  cfg.download_deadline_ms = 10000;
  cfg.update_deadline_ms = 10000;
  cfg.before_execute = before_execute;
  lmm_fw_job *j;
  assert_int_equal(lmm_fw_new(w->ctx, w->u, &cfg, w->m, n, w->image, IMAGE_SIZE, &handlers, h, &j),
                   LMM_OK);
  for (size_t i = 0; asked && i < n; i++)
    assert_int_equal(lmm_fw_resume_member(j, i, asked[i] != 0), LMM_OK);
  assert_int_equal(lmm_fw_start(j), LMM_OK);
  assert_int_equal(lmm_fw_resume_member(j, 0, false), LMM_ERR_STATE);
  assert_int_equal(lmm_fw_wait(j, 30000), LMM_OK);
  size_t rn;
  const lmm_fw_report *r = lmm_fw_reports(j, &rn);
  assert_int_equal(rn, n);
  for (size_t i = 0; i < n; i++) {
    out[i] = r[i];
    out[i].error = out[i].pkg_version = NULL; /* the job's strings go with it */
    if (!r[i].ok)
      print_message("%s: stage %d err %d result %d: %s\n", r[i].member->ep, (int)r[i].stage,
                    (int)r[i].err, r[i].update_result, r[i].error ? r[i].error : "");
  }
  lmm_fw_free(j);
}

/* The simulator's update count of each device, after stopping it. */
static void updates_of(world *w, int *updates) {
  int st;
  char *text = lmmt_sim_stop_stats(&w->sim, &st);
  assert_non_null(text);
  cJSON *stats = cJSON_Parse(text);
  free(text);
  cJSON *devs = cJSON_GetObjectItem(stats, "devices");
  assert_int_equal(cJSON_GetArraySize(devs), N_DEV);
  for (int i = 0; i < N_DEV; i++)
    updates[i] =
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(devs, i), "fw"), "updates")
            ->valueint;
  cJSON_Delete(stats);
}

static void world_down(world *w) {
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
}

static void test_args(void **state) {
  (void)state;
  assert_int_equal(lmm_fw_resume_member(NULL, 0, false), LMM_ERR_ARG);
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, NULL, &u), LMM_OK);
  char ep[] = "a", uri[] = "coap://127.0.0.1:9";
  lmm_member m = {.ep = ep, .oid = 5, .uri = uri};
  uint8_t img[4] = {1, 2, 3, 4};
  lmm_fw_job *j;
  assert_int_equal(lmm_fw_new(ctx, u, NULL, &m, 1, img, sizeof img, &handlers, NULL, &j), LMM_OK);
  assert_int_equal(lmm_fw_resume_member(j, 1, true), LMM_ERR_ARG);
  assert_int_equal(lmm_fw_resume_member(j, 0, true), LMM_OK);
  lmm_fw_free(j);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
}

static void test_push_resumed(void **state) {
  (void)state;
  static world w;
  world_up(&w);
  lmm_fw_report r[N_DEV];

  /* 1. Members 0..3 download, but the store refuses the write-ahead: no Execute leaves. */
  hook h = {.answer = LMM_ERR_DB};
  run_job(&w, LMM_FW_PUSH, NULL, 4, NULL, &h, r);
  for (int i = 0; i < 4; i++) {
    assert_false(r[i].ok);
    assert_int_equal(r[i].err, LMM_ERR_DB);
    assert_int_equal(r[i].stage, LMM_FW_STAGE_DOWNLOADED);
    assert_int_equal(h.asked[i], 1);
  }

  /* 2. All eight resumed: 0..3 hold the package (two of them with the update recorded as asked:
   *    still Downloaded, so it never ran), 4..7 hold nothing. */
  hook h2 = {.answer = LMM_OK};
  const int asked2[N_DEV] = {1, 1, 0, 0, 0, 0, 0, 0};
  run_job(&w, LMM_FW_PUSH, NULL, N_DEV, asked2, &h2, r);
  for (int i = 0; i < N_DEV; i++) {
    assert_true(r[i].ok);
    assert_int_equal(r[i].update_result, 1);
    assert_int_equal(r[i].bytes_written, i < 4 ? 0 : IMAGE_SIZE); /* no package again */
    assert_int_equal(h2.asked[i], 1);
  }

  /* 3. Resumed again with the update asked: all are back at Idle with Update Result 1, so they
   *    are judged updated without an Execute, and nothing is sent. */
  hook h3 = {.answer = LMM_OK};
  const int asked3[N_DEV] = {1, 1, 1, 1, 1, 1, 1, 1};
  run_job(&w, LMM_FW_PUSH, NULL, N_DEV, asked3, &h3, r);
  assert_int_equal(h3.calls, 0);
  for (int i = 0; i < N_DEV; i++) {
    assert_true(r[i].ok);
    assert_int_equal(r[i].bytes_written, 0);
  }

  /* 4. A pull resumed without the update asked: they hold nothing new (Idle), so each is written
   *    a URI on this job's blob server and updated again. */
  lmm_blob_server *srv;
  assert_int_equal(lmm_blob_server_new(w.ctx, NULL, &srv), LMM_OK);
  hook h4 = {.answer = LMM_OK};
  const int asked4[N_DEV] = {0};
  run_job(&w, LMM_FW_PULL, srv, N_DEV, asked4, &h4, r);
  for (int i = 0; i < N_DEV; i++) {
    assert_true(r[i].ok);
    assert_true(r[i].pulled);
    assert_int_equal(h4.asked[i], 1);
  }
  lmm_blob_server_stats bs;
  lmm_blob_server_get_stats(srv, &bs);
  assert_true(bs.completions >= N_DEV); /* a lost answer is served again */
  lmm_blob_server_free(srv);

  int updates[N_DEV];
  updates_of(&w, updates);
  for (int i = 0; i < N_DEV; i++)
    assert_int_equal(updates[i], 2); /* step 2 and step 4: none twice in one job */
  world_down(&w);
  print_message("resumed jobs: Downloaded members got no package again, updated members no "
                "second Execute\n");
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_args),
                                     cmocka_unit_test(test_push_resumed)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
