/* test_cli_contention.c - the command line's state file shared and starved: two campaigns and
 * group edits from several processes at once on one file, and a campaign whose writes fail
 * with EFBIG (RLIMIT_FSIZE: what a full disk looks like to the store) halfway. A clear error
 * naming the file, never SQLite's raw words; no outcome lost; the file intact; a resume
 * completes what the failed campaign left. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmmt.h"
#include "lmmt_cli.h"

/* Starts $LMM_CLI --db DB ARGS... in the background, stdout and stderr into `out`; with
 * `fsize` > 0, under RLIMIT_FSIZE `fsize` and SIGXFSZ ignored, so that a write past it fails
 * with EFBIG instead of killing the process. */
static pid_t spawn_cli(const char *db, const char *out, long fsize, const char *const *args) {
  const char *argv[40] = {getenv("LMM_CLI"), "--db", db};
  int n = 3;
  for (int i = 0; args[i] && n < 39; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) _exit(127);
    dup2(fd, 1), dup2(fd, 2);
    if (fsize > 0) {
      struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
      signal(SIGXFSZ, SIG_IGN); /* stays ignored across exec */
      if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(126);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int wait_cli(pid_t pid) {
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void integrity_ok(const char *db) {
  sqlite3 *h;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  sqlite3_close(h);
}

/* The first `from`..`to` lines of members file `src` into `dst`. */
static void members_slice(const char *src, const char *dst, int from, int to) {
  FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
  assert_non_null(in);
  assert_non_null(out);
  char line[512];
  for (int i = 0; fgets(line, sizeof line, in);) {
    if (line[0] == '#' || line[0] == '\n') continue;
    if (i >= from && i < to) fputs(line, out);
    i++;
  }
  fclose(in), fclose(out);
}

/* "report ID": every one of `n` members answered. */
static void all_answered(const char *db, const char *id, int n) {
  char want[96];
  snprintf(want, sizeof want, "%d members: %d succeeded, 0 failed, 0 pending", n, n);
  assert_true(lmmt_cli_check(db, NULL, 0, want, NULL, (const char *[]){"report", id, NULL}));
}

/* A process that lost the race for the file may fail, but only with words that say so. */
static void busy_or_ok(int status, const char *out, const char *db, const char *what) {
  char *text = lmmt_read_file(out, NULL);
  assert_non_null(text);
  print_message("%s: exit %d%s%s", what, status, status ? ": " : "\n", status ? text : "");
  assert_null(strstr(text, "SQLITE_"));
  if (status != 0) {
    assert_non_null(strstr(text, db));
    assert_true(strstr(text, "busy") || strstr(text, "locked"));
  }
  free(text);
}

static void test_two_campaigns_and_edits(void **state) {
  (void)state;
  char dir[64], db[128], all[128], m1[128], m2[128], o1[128], o2[128];
  assert_int_equal(lmmt_scratch_dir(dir, "contend"), 0);
  snprintf(db, sizeof db, "%s/st.db", dir);
  lmmt_sim sim;
  /* Every answer 400 ms late: each campaign lasts long enough for the others to meet it. */
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "40", "--object", "3",
                                                         "--delay-ms", "400", NULL}),
                   0);
  snprintf(all, sizeof all, "%s", sim.members_path);
  snprintf(m1, sizeof m1, "%s/m1", dir);
  snprintf(m2, sizeof m2, "%s/m2", dir);
  members_slice(all, m1, 0, 20);
  members_slice(all, m2, 20, 40);
  assert_true(lmmt_cli_check(
      db, NULL, 0, NULL, NULL,
      (const char *[]){"group", "create", "a", "--type", "unicast", "--members", m1, NULL}));
  assert_true(lmmt_cli_check(
      db, NULL, 0, NULL, NULL,
      (const char *[]){"group", "create", "b", "--type", "unicast", "--members", m2, NULL}));
  snprintf(o1, sizeof o1, "%s/o1", dir);
  snprintf(o2, sizeof o2, "%s/o2", dir);
  pid_t p1 = spawn_cli(db, o1, 0, (const char *[]){"deliver", "a", "--read", "/3/0/0", NULL});
  pid_t p2 = spawn_cli(db, o2, 0, (const char *[]){"deliver", "b", "--read", "/3/0/1", NULL});
  /* Meanwhile, from this side: groups made, filled, emptied and deleted. */
  int edits_ok = 0, edits = 0;
  for (int k = 0; k < 6; k++) {
    char name[16];
    snprintf(name, sizeof name, "e%d", k);
    const char *const cmds[][8] = {
        {"group", "create", name, "--type", "unicast", "--members", m1, NULL},
        {"group", "remove-member", name, "ep=dev-0003/3", NULL},
        {"group", "add-member", name, "ep=dev-0003/3", "coap://127.0.0.1:5999", NULL},
        {"campaigns", NULL},
        {"group", "delete", name, NULL}};
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
      lmmt_run r = lmmt_cli_run(db, NULL, cmds[c]);
      edits++;
      if (r.status == 0) {
        edits_ok++;
      } else {
        print_message("%s %s: exit %d: %s", cmds[c][0], cmds[c][1], r.status, r.err);
        assert_null(strstr(r.err, "SQLITE_"));
        assert_non_null(strstr(r.err, db));
        assert_true(strstr(r.err, "busy") || strstr(r.err, "locked"));
      }
      lmmt_run_free(&r);
    }
  }
  int s1 = wait_cli(p1), s2 = wait_cli(p2);
  busy_or_ok(s1, o1, db, "deliver a");
  busy_or_ok(s2, o2, db, "deliver b");
  print_message("group edits during the campaigns: %d of %d succeeded\n", edits_ok, edits);
  integrity_ok(db);
  /* Nothing lost: each campaign that ran has every answer stored. */
  lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"campaigns", NULL});
  print_message("%s", r.out);
  bool a_seen = false, b_seen = false;
  for (int id = 1; id <= 2; id++) {
    char ids[8];
    snprintf(ids, sizeof ids, "%d", id);
    lmmt_run rep = lmmt_cli_run(db, NULL, (const char *[]){"report", ids, NULL});
    if (rep.status == 0) {
      a_seen |= strstr(rep.out, "on group a") != NULL;
      b_seen |= strstr(rep.out, "on group b") != NULL;
      all_answered(db, ids, 20);
    }
    lmmt_run_free(&rep);
  }
  assert_true(a_seen || s1 != 0);
  assert_true(b_seen || s2 != 0);
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_scratch_remove(dir), 0);
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

static void test_file_too_large(void **state) {
  (void)state;
  char dir[64], db[128], wal[140], out[128];
  assert_int_equal(lmmt_scratch_dir(dir, "efbig"), 0);
  snprintf(db, sizeof db, "%s/st.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  snprintf(out, sizeof out, "%s/out", dir);
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "400", "--object", "3", NULL}),
                   0);
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL,
                             (const char *[]){"group", "create", "g", "--type", "unicast",
                                              "--members", sim.members_path, NULL}));
  /* How far one campaign's journal grows: a campaign run with a connection of ours open, so
   * that its -wal stays to be measured. */
  sqlite3 *hold; /* read-write: as the last to close, it folds the -wal in and removes it */
  assert_int_equal(sqlite3_open_v2(db, &hold, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(hold, "SELECT 1 FROM groups", NULL, NULL, NULL), SQLITE_OK);
  long w0 = file_size(wal);
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL,
                             (const char *[]){"deliver", "g", "--read", "/3/0", NULL}));
  long grown = file_size(wal) - w0;
  assert_int_equal(sqlite3_close(hold), SQLITE_OK);
  assert_int_equal(file_size(wal), 0); /* the next campaign's journal starts empty */
  /* Lower and lower limits until one falls within the campaign's answers: its creation fits,
   * some answers do, the rest do not. How the answers group into commits varies from run to
   * run, so the limit is searched for rather than computed; steps of 8 KiB are well within
   * what 400 answers write. A limit met at the campaign's creation is below the window. */
  char *text = NULL, id[16] = "";
  int st = 0;
  for (long limit = grown; limit > 48 * 1024 && !id[0]; limit -= 8192) {
    pid_t p = spawn_cli(db, out, limit, (const char *[]){"deliver", "g", "--read", "/3", NULL});
    st = wait_cli(p);
    free(text);
    assert_non_null(text = lmmt_read_file(out, NULL));
    /* A process under the limit cannot fold the -wal into the grown state file: one
     * without it does, so that the next run's journal starts empty again. */
    lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"--json", "campaigns", NULL});
    assert_int_equal(r.status, 0);
    if (st == 0) {
      lmmt_run_free(&r);
      continue;
    }
    print_message("under RLIMIT_FSIZE %ld: exit %d:\n%s", limit, st, text);
    assert_true(st > 0); /* exited, with an error: not killed, not crashed */
    assert_non_null(strstr(text, db));
    assert_true(strstr(text, "File too large") || strstr(text, "disk is full"));
    assert_null(strstr(text, "SQLITE_"));
    if (strstr(text, "creating the campaign")) fail_msg("no limit fell within the answers");
    const char *p1 = strstr(r.out, "\"id\":"); /* newest first */
    assert_non_null(p1);
    snprintf(id, sizeof id, "%ld", strtol(p1 + 5, NULL, 10));
    lmmt_run_free(&r);
  }
  free(text);
  assert_true(id[0]);

  /* The limit lifted: the file is intact, the campaign is there with what it had committed,
   * and resume completes it. */
  integrity_ok(db);
  all_answered(db, "1", 400);
  lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"report", id, NULL});
  assert_int_equal(r.status, 0);
  const char *sum = strstr(r.out, "400 members:");
  assert_non_null(sum);
  print_message("campaign %s as the failure left it: %s", id, sum);
  assert_null(strstr(sum, "400 succeeded")); /* it did stop halfway */
  assert_null(strstr(sum, " 0 succeeded"));  /* with answers committed before */
  lmmt_run_free(&r);
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL, (const char *[]){"resume", id, NULL}));
  all_answered(db, id, 400);
  integrity_ok(db);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_scratch_remove(dir), 0);
}

/* The same for a firmware campaign by unicast push, whose outcomes are saved at every phase
 * and at its end: a failure anywhere leaves a campaign that resume completes, every member
 * updated, none twice. */
static void test_firmware_file_too_large(void **state) {
  (void)state;
  enum { N_FW = 40 };
  char dir[64], db[128], wal[140], out[128], fw[128];
  assert_int_equal(lmmt_scratch_dir(dir, "efbig-fw"), 0);
  snprintf(db, sizeof db, "%s/st.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(fw, sizeof fw, "%s/fw.bin", dir);
  FILE *fp = fopen(fw, "wb");
  assert_non_null(fp);
  for (int i = 0; i < 4096; i++)
    fputc((i * 13 + 5) & 0xff, fp);
  fclose(fp);
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "40", "--object", "5",
                                                         "--update-ms", "50", NULL}),
                   0);
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL,
                             (const char *[]){"group", "create", "g", "--type", "unicast",
                                              "--members", sim.members_path, NULL}));
  const char *const deliver[] = {"deliver", "g", "--firmware", fw, "--method", "push", NULL};
  sqlite3 *hold;
  assert_int_equal(sqlite3_open_v2(db, &hold, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(hold, "SELECT 1 FROM groups", NULL, NULL, NULL), SQLITE_OK);
  long w0 = file_size(wal);
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL, deliver));
  long grown = file_size(wal) - w0;
  assert_int_equal(sqlite3_close(hold), SQLITE_OK);
  assert_int_equal(file_size(wal), 0);
  long step = grown / 16 > 4096 ? grown / 16 : 4096;
  int completed = 1; /* campaigns that updated every member */
  char *text = NULL, id[16] = "";
  int st = 0;
  for (long limit = grown; limit > 2 * step && !id[0]; limit -= step) {
    st = wait_cli(spawn_cli(db, out, limit, deliver));
    free(text);
    assert_non_null(text = lmmt_read_file(out, NULL));
    lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"--json", "campaigns", NULL});
    assert_int_equal(r.status, 0);
    if (st == 0) {
      completed++;
      lmmt_run_free(&r);
      continue;
    }
    print_message("firmware under RLIMIT_FSIZE %ld: exit %d:\n%s", limit, st, text);
    assert_true(st > 0);
    assert_non_null(strstr(text, db));
    assert_true(strstr(text, "File too large") || strstr(text, "disk is full"));
    assert_null(strstr(text, "SQLITE_"));
    if (strstr(text, "creating the campaign")) fail_msg("no limit fell within the campaign");
    const char *p1 = strstr(r.out, "\"id\":");
    assert_non_null(p1);
    snprintf(id, sizeof id, "%ld", strtol(p1 + 5, NULL, 10));
    lmmt_run_free(&r);
  }
  free(text);
  assert_true(id[0]);
  integrity_ok(db);
  char want[128];
  snprintf(want, sizeof want, "%d members: %d updated, 0 failed", N_FW, N_FW);
  lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"report", id, NULL});
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.out, want)); /* it did stop before the end */
  lmmt_run_free(&r);
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL, (const char *[]){"resume", id, NULL}));
  assert_true(lmmt_cli_check(db, NULL, 0, want, NULL, (const char *[]){"report", id, NULL}));
  integrity_ok(db);
  /* No member was updated twice by the failed campaign and its resume. */
  char *js = lmmt_sim_stop_stats(&sim, &st);
  assert_non_null(js);
  cJSON *stats = cJSON_Parse(js);
  free(js);
  cJSON *devs = cJSON_GetObjectItem(stats, "devices");
  assert_int_equal(cJSON_GetArraySize(devs), N_FW);
  for (int i = 0; i < N_FW; i++) {
    cJSON *f = cJSON_GetObjectItem(cJSON_GetArrayItem(devs, i), "fw");
    assert_int_equal(cJSON_GetObjectItem(f, "updates")->valueint, completed + 1);
  }
  cJSON_Delete(stats);
  assert_int_equal(lmmt_scratch_remove(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_two_campaigns_and_edits),
                                     cmocka_unit_test(test_file_too_large),
                                     cmocka_unit_test(test_firmware_file_too_large)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
