/* test_cli_readonly.c - the command line on a state file it may not write (mode 0444, or in a
 * directory of mode 0555): a clear error naming the file, a non-zero exit, and the file and
 * its directory exactly as they were. As root the CLI runs without the capabilities that
 * override file modes, so the test means the same for root and for others. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "lmmt.h"

/* Runs $LMM_CLI --db DB ARGS... without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; stderr into
 * err_path. Returns the exit status, -1 if it did not exit. */
static int run_unprivileged(const char *db, const char *const *args, const char *err_path) {
  const char *argv[16] = {getenv("LMM_CLI"), "--db", db};
  int n = 3;
  for (int i = 0; args[i] && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* Dropped from the bounding set, they are gone after exec too, even for uid 0. */
    if (geteuid() == 0 && (prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0 ||
                           prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) != 0))
      _exit(126);
    if (!freopen("/dev/null", "w", stdout) || !freopen(err_path, "w", stderr)) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The names in `dir`, sorted and joined, into out. */
static void listing(const char *dir, char *out, size_t cap) {
  struct dirent **e;
  int n = scandir(dir, &e, NULL, alphasort);
  assert_true(n >= 0);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    strncat(out, e[i]->d_name, cap - strlen(out) - 2);
    strncat(out, " ", cap - strlen(out) - 1);
    free(e[i]);
  }
  free(e);
}

/* A store with one group, then its file made 0444 (or its directory 0555, `dir_mode`): every
 * command fails naming the file, and nothing in the directory changes. */
static void check_refused(const char *tag, bool dir_mode) {
  char dir[64], sub[128], db[160], members[160], err[160], before[512], after[512];
  assert_int_equal(lmmt_scratch_dir(dir, tag), 0);
  snprintf(sub, sizeof sub, "%s/state", dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(db, sizeof db, "%s/st.db", sub);
  snprintf(members, sizeof members, "%s/members", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  FILE *f = fopen(members, "w");
  assert_non_null(f);
  fputs("ep=dev-0/6 coap://127.0.0.1:5999\n", f);
  fclose(f);
  assert_int_equal(run_unprivileged(db,
                                    (const char *[]){"group", "create", "g1", "--type", "unicast",
                                                     "--members", members, NULL},
                                    err),
                   0);
  size_t len0;
  char *bytes0 = lmmt_read_file(db, &len0);
  assert_non_null(bytes0);
  assert_int_equal(chmod(dir_mode ? sub : db, dir_mode ? 0555 : 0444), 0);
  listing(sub, before, sizeof before);
  static const char *const cmds[][8] = {
      {"group", "create", "g2", "--type", "unicast", "--members", NULL, NULL},
      {"group", "list", NULL},
      {"campaigns", NULL}};
  for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++) {
    const char *args[8];
    memcpy(args, cmds[k], sizeof args);
    if (k == 0) args[6] = members;
    int st = run_unprivileged(db, args, err);
    char *text = lmmt_read_file(err, NULL);
    printf("%s: %s %s -> exit %d: %s", tag, args[0], args[1] ? args[1] : "", st, text ? text : "");
    fflush(stdout); /* before the next fork: the child would print it again */
    assert_true(st != 0);
    assert_non_null(text);
    assert_non_null(strstr(text, db));
    assert_non_null(strstr(text, "not writable"));
    free(text);
  }
  listing(sub, after, sizeof after);
  assert_string_equal(before, after); /* no -wal or -shm left behind */
  size_t len1;
  char *bytes1 = lmmt_read_file(db, &len1);
  assert_non_null(bytes1);
  assert_int_equal(len0, len1);
  assert_memory_equal(bytes0, bytes1, len0);
  free(bytes0), free(bytes1);
  assert_int_equal(chmod(sub, 0755), 0);
  assert_int_equal(chmod(db, 0600), 0);
  /* Writable again, it works at once: nothing read-only was left next to it. */
  assert_int_equal(run_unprivileged(db,
                                    (const char *[]){"group", "create", "g2", "--type", "unicast",
                                                     "--members", members, NULL},
                                    err),
                   0);
  assert_int_equal(lmmt_scratch_remove(dir), 0);
}

static void test_readonly_file(void **state) {
  (void)state;
  check_refused("ro-file", false);
}

static void test_readonly_dir(void **state) {
  (void)state;
  check_refused("ro-dir", true);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_readonly_file),
                                     cmocka_unit_test(test_readonly_dir)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
