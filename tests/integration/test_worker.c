/* test_worker.c - three `lwm2m-mbms worker` processes sharing one store run queued MBMS
 * campaigns; one is killed with SIGKILL in a campaign's answer window and another takes it
 * over once its lease runs out: every campaign ends, every member has one final outcome, and
 * each report equals the one a single `deliver` gives. On SQLite, and (LMMT_STORE=pg) on a
 * scratch PostgreSQL server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_pg.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_DEV     20
#define N_CAMP    20
#define N_WORKERS 3
#define LEASE_MS  "2000"

static lmmt_pg g_pg;
static bool g_on_pg;

static pid_t spawn_cli(const char *const *args, const char *out_path, const char *err_path) {
  const char *argv[40] = {getenv("LMM_CLI")};
  assert_non_null(argv[0]);
  int n = 1;
  for (int i = 0; args[i]; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (!freopen(out_path, "w", stdout)) _exit(127);
    if (!freopen(err_path ? err_path : "/dev/null", "w", stderr)) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int run_cli(const char *const *args, const char *out_path) {
  pid_t pid = spawn_cli(args, out_path, NULL);
  int st;
  alarm(120);
  waitpid(pid, &st, 0);
  alarm(0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cJSON *read_json(const char *path) {
  char *text = lmmt_read_file(path, NULL);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  return j;
}

/* The report of campaign `id`, parsed (the caller frees it). */
static cJSON *report(long id, const char *out) {
  char ids[24];
  snprintf(ids, sizeof ids, "%ld", id);
  run_cli((const char *[]){"report", ids, "--format", "json", NULL}, out);
  cJSON *j = read_json(out);
  assert_non_null(j);
  return j;
}

/* How many of the campaigns are done, from `campaigns --json`. */
static int count_done(const char *out) {
  if (run_cli((const char *[]){"--json", "campaigns", NULL}, out) != 0) return -1;
  cJSON *j = read_json(out);
  int done = 0;
  cJSON *c;
  cJSON_ArrayForEach(c, j) {
    cJSON *st = cJSON_GetObjectItem(c, "state");
    done += cJSON_IsString(st) && !strcmp(st->valuestring, "done");
  }
  cJSON_Delete(j);
  return done;
}

/* The events a worker printed (one JSON object a line) matching `event` and `id` (0: any):
 * the first one's atMs and id, or -1 when none. */
static int64_t find_event(const char *path, const char *event, long id, bool taken_over,
                          long *id_out) {
  char *text = lmmt_read_file(path, NULL);
  int64_t at = -1;
  for (char *line = text ? strtok(text, "\n") : NULL; line && at < 0; line = strtok(NULL, "\n")) {
    cJSON *j = cJSON_Parse(line);
    cJSON *ev = cJSON_GetObjectItem(j, "event"), *cid = cJSON_GetObjectItem(j, "id");
    cJSON *to = cJSON_GetObjectItem(j, "takenOver");
    if (cJSON_IsString(ev) && !strcmp(ev->valuestring, event) && cJSON_IsNumber(cid) &&
        (!id || (long)cid->valuedouble == id) && (!taken_over || cJSON_IsTrue(to))) {
      at = (int64_t)cJSON_GetObjectItem(j, "atMs")->valuedouble;
      if (id_out) *id_out = (long)cid->valuedouble;
    }
    cJSON_Delete(j);
  }
  free(text);
  return at;
}

/* Every member of `r` served once, with what the single-instance run `base` shows. */
static void assert_same_report(cJSON *r, cJSON *base, long id) {
  cJSON *m = cJSON_GetObjectItem(r, "members"), *b = cJSON_GetObjectItem(base, "members");
  assert_int_equal(cJSON_GetArraySize(m), N_DEV);
  assert_int_equal(cJSON_GetArraySize(b), N_DEV);
  for (int i = 0; i < N_DEV; i++) {
    cJSON *x = cJSON_GetArrayItem(m, i), *y = cJSON_GetArrayItem(b, i);
    const char *keys[] = {"member", "code", "payload"};
    for (size_t k = 0; k < 3; k++) {
      cJSON *a = cJSON_GetObjectItem(x, keys[k]), *e = cJSON_GetObjectItem(y, keys[k]);
      if (!cJSON_IsString(a) || !cJSON_IsString(e) || strcmp(a->valuestring, e->valuestring))
        fail_msg("campaign %ld member %d: %s is %s, a single deliver gave %s", id, i, keys[k],
                 cJSON_IsString(a) ? a->valuestring : "null",
                 cJSON_IsString(e) ? e->valuestring : "null");
    }
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(x, "done")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")));
  }
}

/* The fleet, the mock SCEF and a store with groups g0..g`n_camp` of the fleet, one campaign
 * of g0 run by a single deliver (its report in `base`), one queued for each of the others. */
typedef struct world {
  lmmt_mock mock;
  lmmt_sim sim;
  char dir[32], db[300], out[64];
  cJSON *base;
} world;

static void world_start(world *wd, const char *db_name, int n_camp) {
  char count[16], bport[16];
  snprintf(bport, sizeof bport, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&wd->mock, (const char *[]){"--bearer-port", bport, NULL}), 0);
  snprintf(count, sizeof count, "%d", N_DEV);
  assert_int_equal(
      lmmt_sim_start(&wd->sim, (const char *[]){"--count", count, "--object", "6", NULL}), 0);
  snprintf(wd->dir, sizeof wd->dir, "/tmp/lmmt-worker-XXXXXX");
  assert_non_null(mkdtemp(wd->dir));
  snprintf(wd->db, sizeof wd->db, "%s/state.db", wd->dir);
  if (g_on_pg) assert_int_equal(lmmt_pg_create_db(&g_pg, db_name, wd->db, sizeof wd->db), 0);
  snprintf(wd->out, sizeof wd->out, "%s/out", wd->dir);
  setenv("LMM_DB", wd->db, 1);
  setenv("LMM_T8_API_ROOT", wd->mock.api_root, 1);
  setenv("LMM_T8_SCS_AS_ID", "as1", 1);
  /* One group per campaign, each with its own Group Mgmt instance and TMGI, so that
   * campaigns running at once do not share a member's instance. */
  for (int g = 0; g <= n_camp; g++) {
    char name[16], ext[48];
    snprintf(name, sizeof name, "g%d", g);
    snprintf(ext, sizeof ext, "g%d@operator.example", g);
    assert_int_equal(
        run_cli((const char *[]){"group", "create", name, "--type", "mbms", "--external-group-id",
                                 ext, "--window", "3", "--multicast-port", bport, "--members",
                                 wd->sim.members_path, NULL},
                wd->out),
        0);
  }
  assert_int_equal(run_cli((const char *[]){"deliver", "g0", "--read", "/6/0/0", NULL}, wd->out),
                   0);
  wd->base = report(1, wd->out);
  for (int g = 1; g <= n_camp; g++) {
    char name[16];
    snprintf(name, sizeof name, "g%d", g);
    assert_int_equal(
        run_cli((const char *[]){"--json", "deliver", name, "--read", "/6/0/0", "--queue", NULL},
                wd->out),
        0);
    cJSON *q = read_json(wd->out);
    assert_int_equal(cJSON_GetObjectItem(q, "id")->valueint, g + 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(q, "queued")));
    cJSON_Delete(q);
  }
}

static void world_stop(world *wd) {
  cJSON_Delete(wd->base);
  lmmt_sim_stop(&wd->sim);
  lmmt_mock_stop(&wd->mock);
  if (!getenv("LMMT_KEEP_LOGS")) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", wd->dir);
    assert_int_equal(system(cmd), 0);
  }
}

static pid_t start_worker(const world *wd, int k, char *out, char *err, size_t cap) {
  char name[16];
  snprintf(name, sizeof name, "w%d", k);
  snprintf(out, cap, "%s/w%d.out", wd->dir, k);
  snprintf(err, cap, "%s/w%d.err", wd->dir, k);
  return spawn_cli(
      (const char *[]){"--json", "worker", "--name", name, "--lease-ms", LEASE_MS, NULL}, out, err);
}

static void test_workers_take_over(void **state) {
  (void)state;
  world wd;
  world_start(&wd, "workers", N_CAMP);
  char *out = wd.out;
  cJSON *base = wd.base;
  /* Three workers; the first is killed 1.5 s into its first campaign's 3 s window. */
  pid_t w[N_WORKERS];
  char wout[N_WORKERS][80], werr[N_WORKERS][80];
  for (int k = 0; k < N_WORKERS; k++)
    w[k] = start_worker(&wd, k, wout[k], werr[k], sizeof wout[k]);
  long victim = 0;
  int64_t started = -1;
  for (int i = 0; i < 300 && started < 0; i++) { /* at most ~30 s */
    sleep_ms(100);
    started = find_event(wout[0], "started", 0, false, &victim);
  }
  assert_true(started > 0);
  sleep_ms(1500);
  assert_true(find_event(wout[0], "finished", victim, false, NULL) < 0); /* still running */
  kill(w[0], SIGKILL);
  int64_t killed = wall_ms();
  int ws;
  waitpid(w[0], &ws, 0);
  assert_true(WIFSIGNALED(ws));

  int done = 0;
  for (int i = 0; i < 240 && done < N_CAMP + 1; i++) { /* at most ~120 s */
    sleep_ms(500);
    done = count_done(out);
  }
  assert_int_equal(done, N_CAMP + 1);

  /* Another worker took the victim over after its lease ran out. */
  int64_t taken = -1;
  for (int k = 1; k < N_WORKERS && taken < 0; k++)
    taken = find_event(wout[k], "started", victim, true, NULL);
  assert_true(taken > 0);
  printf("takeover of campaign %ld: %lld ms from SIGKILL to its start by another worker (lease "
         "%s ms, %s)\n",
         victim, (long long)(taken - killed), LEASE_MS, g_on_pg ? "PostgreSQL" : "SQLite");
  fflush(stdout); /* before the next fork, or its child writes it again */
  assert_true(taken - killed >= 0);

  /* Each device was asked at least once per campaign, and beyond its group request only by
   * the unicast request of a report that says the member was served that way (a member that
   * missed the group request gets just that one): no member served twice. */
  int want[N_DEV];
  for (int i = 0; i < N_DEV; i++)
    want[i] = N_CAMP + 1;
  for (long id = 1; id <= N_CAMP + 1; id++) {
    cJSON *r = report(id, out);
    if (id > 1) assert_same_report(r, base, id);
    for (int i = 0; i < N_DEV; i++) {
      cJSON *p =
          cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "members"), i), "path");
      want[i] += cJSON_IsString(p) && !strcmp(p->valuestring, "unicast");
    }
    cJSON_Delete(r);
  }
  int sim_status;
  char *stats_text = lmmt_sim_stop_stats(&wd.sim, &sim_status);
  cJSON *stats = cJSON_Parse(stats_text);
  free(stats_text);
  cJSON *devs = cJSON_GetObjectItem(stats, "devices");
  assert_int_equal(cJSON_GetArraySize(devs), N_DEV);
  for (int i = 0; i < N_DEV; i++) {
    cJSON *req = cJSON_GetObjectItem(cJSON_GetArrayItem(devs, i), "requests");
    int gets = cJSON_GetObjectItem(req, "GET")->valueint;
    if (gets < N_CAMP + 1 || gets > want[i])
      fail_msg("device %d saw %d GETs, not one per campaign (%d) plus at most one unicast "
               "request per report that says so (%d)",
               i, gets, N_CAMP + 1, want[i]);
  }
  cJSON_Delete(stats);

  /* The others stop cleanly on SIGTERM. */
  for (int k = 1; k < N_WORKERS; k++) {
    kill(w[k], SIGTERM);
    alarm(30);
    waitpid(w[k], &ws, 0);
    alarm(0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
  }
  world_stop(&wd);
}

/* A partition: a worker stopped (SIGSTOP) longer than its lease while another takes its
 * campaign over learns, once it runs again, that the lease is lost, and stops that campaign
 * without writing to it; the campaign's report is the single deliver's. */
static void test_lost_lease_stops(void **state) {
  (void)state;
  world wd;
  world_start(&wd, "partition", 1);
  char wout[2][80], werr[2][80];
  pid_t w0 = start_worker(&wd, 0, wout[0], werr[0], sizeof wout[0]);
  int64_t started = -1;
  for (int i = 0; i < 300 && started < 0; i++) {
    sleep_ms(100);
    started = find_event(wout[0], "started", 2, false, NULL);
  }
  assert_true(started > 0);
  sleep_ms(1000);
  kill(w0, SIGSTOP);
  pid_t w1 = start_worker(&wd, 1, wout[1], werr[1], sizeof wout[1]);
  int64_t taken = -1;
  for (int i = 0; i < 300 && taken < 0; i++) {
    sleep_ms(100);
    taken = find_event(wout[1], "started", 2, true, NULL);
  }
  assert_true(taken > 0);
  kill(w0, SIGCONT);
  int64_t lost = -1;
  for (int i = 0; i < 100 && lost < 0; i++) {
    sleep_ms(100);
    lost = find_event(wout[0], "lost", 2, false, NULL);
  }
  assert_true(lost > 0);
  char *err = lmmt_read_file(werr[0], NULL);
  assert_non_null(err);
  assert_non_null(strstr(err, "campaign 2 lost: stopped: lease lost"));
  free(err);
  assert_true(find_event(wout[0], "finished", 2, false, NULL) < 0);
  int done = 0;
  for (int i = 0; i < 120 && done < 2; i++) {
    sleep_ms(500);
    done = count_done(wd.out);
  }
  assert_int_equal(done, 2);
  assert_true(find_event(wout[1], "finished", 2, true, NULL) > 0);
  cJSON *r = report(2, wd.out);
  assert_same_report(r, wd.base, 2);
  cJSON_Delete(r);
  pid_t both[2] = {w0, w1};
  for (int k = 0; k < 2; k++) {
    int ws;
    kill(both[k], SIGTERM);
    alarm(30);
    waitpid(both[k], &ws, 0);
    alarm(0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
  }
  world_stop(&wd);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  int engine = lmmt_pg_from_env(&g_pg);
  if (engine < 0) return 1;
  g_on_pg = engine == 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_workers_take_over),
                                     cmocka_unit_test(test_lost_lease_stops)};
  int rc = cmocka_run_group_tests_name(g_on_pg ? "workers on PostgreSQL" : "workers on SQLite",
                                       tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
