/* test_resume.c - a campaign killed with SIGKILL in its answer window and resumed by the CLI
 * ends with every member served, none of them twice. */
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

#define N_DEV 60

static pid_t spawn_cli(const char *const *args, const char *out_path) {
  const char *argv[32] = {getenv("LMM_CLI")};
  assert_non_null(argv[0]);
  int n = 1;
  for (int i = 0; args[i]; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (!freopen(out_path, "w", stdout)) _exit(127);
    if (!freopen("/dev/null", "w", stderr)) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int run_cli(const char *const *args, const char *out_path) {
  pid_t pid = spawn_cli(args, out_path);
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

/* The campaign's state as `campaigns --json` reports it. */
static char *campaign_state(const char *out) {
  if (run_cli((const char *[]){"--json", "campaigns", NULL}, out) != 0) return NULL;
  char *text = lmmt_read_file(out, NULL);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  cJSON *first = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, 0) : NULL;
  if (cJSON_IsObject(j) && !first) {
    cJSON *arr = cJSON_GetObjectItem(j, "campaigns");
    first = cJSON_GetArrayItem(arr, 0);
  }
  cJSON *st = first ? cJSON_GetObjectItem(first, "state") : NULL;
  char *s = cJSON_IsString(st) ? strdup(st->valuestring) : NULL;
  cJSON_Delete(j);
  return s;
}

static void test_sigkill_then_resume(void **state) {
  (void)state;
  lmmt_mock mock;
  lmmt_sim sim;
  char count[16], bport[16];
  snprintf(bport, sizeof bport, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bport, NULL}), 0);
  snprintf(count, sizeof count, "%d", N_DEV);
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", count, "--object", "6", NULL}),
                   0);
  char dir[] = "/tmp/lmmt-resume-XXXXXX", db[64], out[64];
  assert_non_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/state.db", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  setenv("LMM_DB", db, 1);
  setenv("LMM_T8_API_ROOT", mock.api_root, 1);
  setenv("LMM_T8_SCS_AS_ID", "as1", 1);
  assert_int_equal(
      run_cli((const char *[]){"group", "create", "g", "--type", "mbms", "--external-group-id",
                               "g@operator.example", "--window", "8", "--multicast-port", bport,
                               "--members", sim.members_path, NULL},
              out),
      0);
  /* Start the campaign; kill it once it is collecting answers. */
  pid_t pid = spawn_cli((const char *[]){"deliver", "g", "--read", "/6/0/0", NULL}, out);
  char *st = NULL;
  for (int i = 0; i < 200; i++) { /* at most ~20 s */
    sleep_ms(100);
    free(st);
    st = campaign_state(out);
    if (st && !strcmp(st, "collecting")) break;
  }
  assert_non_null(st);
  assert_string_equal(st, "collecting");
  free(st);
  sleep_ms(2500); /* some members have answered, most have not */
  kill(pid, SIGKILL);
  int ws;
  waitpid(pid, &ws, 0);
  assert_true(WIFSIGNALED(ws));

  /* What the store holds after the crash: some members served by MBMS, the rest pending. */
  run_cli((const char *[]){"report", "1", "--format", "json", NULL}, out);
  char *text = lmmt_read_file(out, NULL);
  cJSON *before = cJSON_Parse(text);
  free(text);
  assert_non_null(before);
  cJSON *members = cJSON_GetObjectItem(before, "members");
  assert_int_equal(cJSON_GetArraySize(members), N_DEV);
  int served_before = 0;
  bool was_served[N_DEV] = {0};
  for (int i = 0; i < N_DEV; i++) {
    cJSON *m = cJSON_GetArrayItem(members, i);
    cJSON *path = cJSON_GetObjectItem(m, "path");
    was_served[i] = cJSON_IsString(path) && !strcmp(path->valuestring, "mbms");
    served_before += was_served[i];
  }
  assert_true(served_before > 0 && served_before < N_DEV);

  /* Resume: the rest by unicast, each once. */
  assert_int_equal(run_cli((const char *[]){"resume", "1", NULL}, out), 0);
  assert_int_equal(run_cli((const char *[]){"report", "1", "--format", "json", NULL}, out), 0);
  text = lmmt_read_file(out, NULL);
  cJSON *after = cJSON_Parse(text);
  free(text);
  members = cJSON_GetObjectItem(after, "members");
  int unicast = 0;
  for (int i = 0; i < N_DEV; i++) {
    cJSON *m = cJSON_GetArrayItem(members, i);
    const char *path = cJSON_GetObjectItem(m, "path")->valuestring;
    assert_string_equal(cJSON_GetObjectItem(m, "code")->valuestring, "2.05");
    if (was_served[i])
      assert_string_equal(path, "mbms"); /* not served again */
    else
      assert_string_equal(path, "unicast"), unicast++;
  }
  assert_int_equal(served_before + unicast, N_DEV);
  cJSON_Delete(before);
  cJSON_Delete(after);

  /* The devices agree: each got the group request once, and a unicast Read only if its
   * answer had not been recorded. */
  kill(sim.pid, SIGTERM);
  waitpid(sim.pid, &ws, 0);
  sim.pid = 0;
  text = lmmt_read_file(sim.stats_path, NULL);
  cJSON *stats = cJSON_Parse(text);
  free(text);
  cJSON *devs = cJSON_GetObjectItem(stats, "devices");
  assert_int_equal(cJSON_GetArraySize(devs), N_DEV);
  for (int i = 0; i < N_DEV; i++) {
    cJSON *req = cJSON_GetObjectItem(cJSON_GetArrayItem(devs, i), "requests");
    int gets = cJSON_GetObjectItem(req, "GET")->valueint;
    if (gets != 1 + !was_served[i])
      fail_msg("device %d saw %d GETs, expected %d", i, gets, 1 + !was_served[i]);
  }
  cJSON_Delete(stats);
  lmmt_sim_stop(&sim);
  lmmt_mock_stop(&mock);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* Progress is drawn on a terminal and never written when stderr is a pipe or a file. */
static void test_progress_only_on_terminal(void **state) {
  (void)state;
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "20", "--object", "6", NULL}),
                   0);
  char dir[] = "/tmp/lmmt-progress-XXXXXX", db[64], out[64], err[64], cmd[1024];
  assert_non_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/state.db", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  setenv("LMM_DB", db, 1);
  assert_int_equal(run_cli((const char *[]){"group", "create", "u", "--type", "unicast",
                                            "--members", sim.members_path, NULL},
                           out),
                   0);
  /* Not a terminal: nothing on stderr. */
  snprintf(cmd, sizeof cmd, "'%s' deliver u --read /6/0/0 >'%s' 2>'%s'", getenv("LMM_CLI"), out,
           err);
  assert_int_equal(system(cmd), 0);
  size_t len = 99;
  char *e = lmmt_read_file(err, &len);
  assert_non_null(e);
  assert_int_equal(len, 0);
  free(e);
  /* A terminal (script(1) gives the program a pseudo-terminal): the progress line is there. */
  snprintf(cmd, sizeof cmd, "script -qec \"'%s' deliver u --read /6/0/0\" /dev/null >'%s' 2>&1",
           getenv("LMM_CLI"), out);
  assert_int_equal(system(cmd), 0);
  char *o = lmmt_read_file(out, NULL);
  assert_non_null(o);
  assert_non_null(strstr(o, "members served"));
  assert_non_null(strstr(o, "20 succeeded"));
  free(o);
  lmmt_sim_stop(&sim);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sigkill_then_resume),
                                     cmocka_unit_test(test_progress_only_on_terminal)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
