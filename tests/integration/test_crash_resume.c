/* test_crash_resume.c - the CLI killed with SIGKILL at random points of an operation campaign
 * and of a firmware campaign over MBMS, 20 times each, and of firmware campaigns over unicast
 * (push and pull, 10 times), every run continued with 'resume': each campaign ends with every
 * member served, no member updated twice, and the state file passes SQLite's integrity check
 * after every kill. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define KILLS     20
#define UNI_KILLS 10
#define N_DEV     20

typedef struct world {
  lmmt_mock mock;
  lmmt_sim sim;
  char dir[64], db[96], out[96], fw[96];
  char bearer_port[16];
  unsigned seed;
} world;

static pid_t spawn_cli(const world *w, const char *const *args) {
  const char *argv[40] = {getenv("LMM_CLI"), "--db", w->db};
  assert_non_null(argv[0]);
  int n = 3;
  for (int i = 0; args[i] && n < 39; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (!freopen(w->out, "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits for `pid` at most `ms` (then kills it with SIGKILL): whether it was killed. */
static bool wait_or_kill(pid_t pid, int ms, int *status) {
  for (int t = 0; t < ms; t += 10) {
    if (waitpid(pid, status, WNOHANG) == pid) return false;
    sleep_ms(10);
  }
  kill(pid, SIGKILL);
  assert_int_equal(waitpid(pid, status, 0), pid);
  return WIFSIGNALED(*status);
}

static int run_cli(const world *w, const char *const *args) {
  int st;
  pid_t pid = spawn_cli(w, args);
  if (wait_or_kill(pid, 120000, &st)) fail_msg("the CLI hung: killed after 120 s");
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The state of campaign `id` as 'report' has it (with the firmware phase, "state/phase"), or
 * NULL when there is none. Owned. */
static char *campaign_state(const world *w, int id) {
  char ids[16];
  snprintf(ids, sizeof ids, "%d", id);
  if (run_cli(w, (const char *[]){"--json", "report", ids, NULL}) != 0) return NULL;
  char *text = lmmt_read_file(w->out, NULL);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  cJSON *c = cJSON_GetObjectItem(j, "campaign");
  cJSON *st = cJSON_GetObjectItem(c, "state"), *ph = cJSON_GetObjectItem(c, "phase");
  char *s = NULL;
  if (cJSON_IsString(st) && (s = malloc(64)))
    snprintf(s, 64, "%s%s%s", st->valuestring, cJSON_IsString(ph) ? "/" : "",
             cJSON_IsString(ph) ? ph->valuestring : "");
  cJSON_Delete(j);
  return s;
}

static void integrity_ok(const world *w) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(w->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* How many members of campaign `id` the file has as ended, and as asked their update (the
 * write-ahead flag). */
static void stored_counts(const world *w, int id, int *done, int *asked) {
  sqlite3 *db;
  sqlite3_stmt *st;
  *done = *asked = -1;
  assert_int_equal(sqlite3_open_v2(w->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT total(done), total(fw_exec) FROM outcomes "
                                      "WHERE campaign = ?1",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_int(st, 1, id);
  if (sqlite3_step(st) == SQLITE_ROW)
    *done = sqlite3_column_int(st, 0), *asked = sqlite3_column_int(st, 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Runs campaign `id` (started by `first`) with SIGKILLs after a random [lo, hi) ms of each
 * run, 'resume' after each, until it ends or `*kills` reaches `max_kills`; then resumes it to
 * its end. Returns the exit status of the run that ended it. */
static int crash_and_resume(world *w, int id, const char *const *first, int lo, int hi, int *kills,
                            int max_kills) {
  char ids[16];
  snprintf(ids, sizeof ids, "%d", id);
  const char *const resume[] = {"resume", ids, NULL};
  for (;;) {
    char *state = campaign_state(w, id);
    bool exists = state != NULL, ended = state && !strncmp(state, "done", 4);
    if (state && !strncmp(state, "failed", 6)) fail_msg("campaign %d failed", id);
    free(state);
    if (ended) return 0;
    int st;
    pid_t pid = spawn_cli(w, exists ? resume : first);
    if (*kills < max_kills) {
      if (!wait_or_kill(pid, lo + (int)(rand_r(&w->seed) % (unsigned)(hi - lo)), &st)) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
        char *out = lmmt_read_file(w->out, NULL);
        fail_msg("campaign %d: %s ended with %d:\n%s", id, exists ? "resume" : "deliver",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, out ? out : "");
      }
      (*kills)++;
      integrity_ok(w);
      char *at = campaign_state(w, id);
      int done, asked;
      stored_counts(w, id, &done, &asked);
      print_message("  kill %2d: campaign %d stored as %s, %d members ended, %d asked to update\n",
                    *kills, id, at ? at : "(none yet)", done < 0 ? 0 : done, asked < 0 ? 0 : asked);
      free(at);
      continue;
    }
    if (wait_or_kill(pid, 120000, &st)) fail_msg("campaign %d: the last resume hung", id);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
}

static cJSON *report(const world *w, int id) {
  char ids[16];
  snprintf(ids, sizeof ids, "%d", id);
  assert_int_equal(run_cli(w, (const char *[]){"report", ids, "--format", "json", NULL}), 0);
  char *text = lmmt_read_file(w->out, NULL);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  assert_non_null(j);
  return j;
}

static void world_up(world *w, const char *type, const char *object, const char *update_ms,
                     const char *delay_ms) {
  memset(w, 0, sizeof *w);
  w->seed = (unsigned)time(NULL);
  print_message("seed %u\n", w->seed);
  snprintf(w->bearer_port, sizeof w->bearer_port, "%d", lmmt_random_port());
  assert_int_equal(
      lmmt_mock_start(&w->mock, (const char *[]){"--bearer-port", w->bearer_port, NULL}), 0);
  char count[16];
  snprintf(count, sizeof count, "%d", N_DEV);
  assert_int_equal(
      lmmt_sim_start(&w->sim, (const char *[]){"--count", count, "--object", object, "--update-ms",
                                               update_ms, "--delay-ms", delay_ms, NULL}),
      0);
  snprintf(w->dir, sizeof w->dir, "/tmp/lmmt-crash-XXXXXX");
  assert_non_null(mkdtemp(w->dir));
  snprintf(w->db, sizeof w->db, "%s/state.db", w->dir);
  snprintf(w->out, sizeof w->out, "%s/out", w->dir);
  snprintf(w->fw, sizeof w->fw, "%s/fw.bin", w->dir);
  setenv("LMM_T8_API_ROOT", w->mock.api_root, 1);
  setenv("LMM_T8_SCS_AS_ID", "as1", 1);
  if (!strcmp(type, "unicast"))
    assert_int_equal(run_cli(w, (const char *[]){"group", "create", "g", "--type", "unicast",
                                                 "--members", w->sim.members_path, NULL}),
                     0);
  else
    assert_int_equal(
        run_cli(w, (const char *[]){"group", "create", "g", "--type", "mbms", "--external-group-id",
                                    "g@operator.example", "--window", "2", "--multicast-port",
                                    w->bearer_port, "--members", w->sim.members_path, NULL}),
        0);
}

/* Stops the fleet and returns its --stats-json devices (owned). */
static cJSON *world_down(world *w) {
  int st;
  char *text = lmmt_sim_stop_stats(&w->sim, &st);
  assert_non_null(text);
  cJSON *stats = cJSON_Parse(text);
  free(text);
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
  assert_int_equal(system(cmd), 0);
  return stats;
}

/* A Read over MBMS, killed anywhere from the TMGI to the repair by unicast. */
static void test_operation_campaign(void **state) {
  (void)state;
  world w;
  world_up(&w, "mbms", "6", "100", "300"); /* answers 300 ms late: every step takes a while */
  int kills = 0, campaigns = 0;
  while (kills < KILLS) {
    campaigns++;
    const char *const first[] = {"deliver", "g", "--read", "/6/0/0", "--grace-ms", "300", NULL};
    assert_int_equal(crash_and_resume(&w, campaigns, first, 50, 2200, &kills, KILLS), 0);
    cJSON *r = report(&w, campaigns);
    cJSON *members = cJSON_GetObjectItem(r, "members");
    assert_int_equal(cJSON_GetArraySize(members), N_DEV);
    for (int i = 0; i < N_DEV; i++) {
      cJSON *m = cJSON_GetArrayItem(members, i);
      assert_string_equal(cJSON_GetObjectItem(m, "code")->valuestring, "2.05");
    }
    cJSON_Delete(r);
    integrity_ok(&w);
  }
  print_message("operation campaigns: %d, SIGKILLs %d, every member served in each\n", campaigns,
                kills);
  cJSON_Delete(world_down(&w));
}

/* Every member of campaign `id` ended updated. */
static void all_updated(const world *w, int id) {
  cJSON *r = report(w, id);
  cJSON *members = cJSON_GetObjectItem(r, "members");
  assert_int_equal(cJSON_GetArraySize(members), N_DEV);
  for (int i = 0; i < N_DEV; i++) {
    cJSON *m = cJSON_GetArrayItem(members, i);
    cJSON *end = cJSON_GetObjectItem(m, "end");
    if (!cJSON_IsString(end) || strcmp(end->valuestring, "updated")) {
      char *t = cJSON_Print(m);
      fail_msg("campaign %d: member %d did not end updated: %s", id, i, t);
    }
  }
  cJSON_Delete(r);
}

/* Stops the world; each device ran one update per campaign: no Execute ran twice. */
static void updated_once_each(world *w, int campaigns) {
  cJSON *stats = world_down(w);
  cJSON *devs = cJSON_GetObjectItem(stats, "devices");
  assert_int_equal(cJSON_GetArraySize(devs), N_DEV);
  for (int i = 0; i < N_DEV; i++) {
    cJSON *fw = cJSON_GetObjectItem(cJSON_GetArrayItem(devs, i), "fw");
    int updates = cJSON_GetObjectItem(fw, "updates")->valueint;
    if (updates != campaigns)
      fail_msg("device %d ran %d updates in %d campaigns", i, updates, campaigns);
  }
  cJSON_Delete(stats);
}

/* A firmware image over MBMS, killed anywhere from the TMGI to the results: the blob ID stays,
 * the members keep what they received, and none is updated twice. */
static void test_firmware_campaign(void **state) {
  (void)state;
  world w;
  world_up(&w, "mbms", "5", "800", "0");
  FILE *f = fopen(w.fw, "wb");
  assert_non_null(f);
  for (int i = 0; i < 48 * 1024; i++)
    fputc((i * 7 + i / 251) & 0xFF, f);
  fclose(f);
  int kills = 0, campaigns = 0;
  while (kills < KILLS) {
    campaigns++;
    /* 96 fragments at 24 kB/s: the first pass alone takes about 2 s. */
    const char *const first[] = {"deliver",       "g",        "--firmware", w.fw,      "--rate",
                                 "24000",         "--window", "1",          "--grace", "300",
                                 "--update-wait", "300",      NULL};
    assert_int_equal(crash_and_resume(&w, campaigns, first, 50, 4000, &kills, KILLS), 0);
    all_updated(&w, campaigns);
  }
  updated_once_each(&w, campaigns);
  print_message("firmware campaigns: %d, SIGKILLs %d, every member updated once in each\n",
                campaigns, kills);
}

/* A firmware image by unicast, push and pull in turn, with a first wave, killed anywhere from
 * the first write to the last result: a member that holds the package is not sent it again, a
 * pull gets a URI on the new process's blob server, and none is updated twice. */
static void test_unicast_firmware_campaign(void **state) {
  (void)state;
  world w;
  world_up(&w, "unicast", "5", "600", "30"); /* 30 ms per answer: downloads take a while */
  FILE *f = fopen(w.fw, "wb");
  assert_non_null(f);
  for (int i = 0; i < 8 * 1024; i++)
    fputc((i * 13 + i / 97) & 0xFF, f);
  fclose(f);
  int kills = 0, campaigns = 0, pulls = 0;
  while (kills < UNI_KILLS) {
    campaigns++;
    bool pull = campaigns % 2 == 0;
    pulls += pull;
    const char *const first[] = {"deliver", "g",        "--firmware",
                                 w.fw,      "--method", pull ? "pull" : "push",
                                 "--wave",  "25%",      NULL};
    assert_int_equal(crash_and_resume(&w, campaigns, first, 50, 2500, &kills, UNI_KILLS), 0);
    all_updated(&w, campaigns);
  }
  updated_once_each(&w, campaigns);
  print_message("unicast firmware campaigns: %d (%d push, %d pull), SIGKILLs %d, every member "
                "updated once in each\n",
                campaigns, campaigns - pulls, pulls, kills);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_operation_campaign),
                                     cmocka_unit_test(test_firmware_campaign),
                                     cmocka_unit_test(test_unicast_firmware_campaign)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
