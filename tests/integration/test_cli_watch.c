/* test_cli_watch.c - campaigns --watch from another shell: a deliver runs over the simulated
 * devices in the background while the watch reads the same store, sees the campaign progress
 * and stops (--until-idle) once it has ended. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct fixture {
  char dir[64], db[96];
  lmmt_sim sim;
} fixture;

/* 24 devices in a multicast group with a 3 s window: their answers spread over it, and the
 * campaign stores them in batches as they come, which is what the watch shows. */
static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || lmmt_scratch_dir(f->dir, "watch") != 0) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  if (lmmt_sim_start(&f->sim, (const char *[]){"--count", "24", "--object", "3", NULL}) != 0)
    return -1;
  char port[16], addr[32];
  int p = lmmt_random_port();
  snprintf(port, sizeof port, "%d", p);
  snprintf(addr, sizeof addr, "239.72.%d.%d", (p >> 8) & 255, p & 255);
  if (!lmmt_cli_check(f->db, NULL, 0, NULL, NULL,
                      (const char *[]){"group", "create", "mc", "--type", "multicast",
                                       "--multicast-address", addr, "--multicast-port", port,
                                       "--window", "3", "--members", f->sim.members_path, NULL}))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = lmmt_sim_stop(&f->sim) == 0 ? 0 : -1;
  if (lmmt_scratch_remove(f->dir) != 0) rc = -1;
  free(f);
  return rc;
}

/* Starts $LMM_CLI --db DB ARGS in the background, its output into the scratch directory. */
static pid_t start_cli(const fixture *f, const char *const *args) {
  const char *argv[32] = {getenv("LMM_CLI"), "--db", f->db};
  assert_non_null(argv[0]);
  int n = 3;
  for (int i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  char out[128];
  snprintf(out, sizeof out, "%s/deliver.out", f->dir);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1), dup2(fd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* Waits (at most `ms`) for `pid`; its exit status, or -1 after killing it. */
static int wait_cli(pid_t pid, int ms) {
  int st = 0;
  for (int waited = 0; waited < ms; waited += 20) {
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    usleep(20 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

/* Waits (at most 20 s) until campaign `id` is in the store, so that the watch starts while it
 * runs rather than before it exists. */
static void wait_stored(const fixture *f, const char *id) {
  char want[32];
  snprintf(want, sizeof want, "{\"id\":%s,", id);
  for (int i = 0; i < 400; i++) {
    lmmt_run r = lmmt_cli_run(f->db, NULL, (const char *[]){"--json", "campaigns", NULL});
    bool there = r.status == 0 && strstr(r.out, want);
    lmmt_run_free(&r);
    if (there) return;
    usleep(50 * 1000);
  }
  fail_msg("campaign %s never reached the store", id);
}

static long long num_after(const char *s, const char *key) {
  const char *p = strstr(s, key);
  return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void test_watch_json(void **state) {
  fixture *f = *state;
  pid_t d = start_cli(
      f, (const char *[]){"deliver", "mc", "--read", "/3/0/0", "--grace-ms", "200", NULL});
  wait_stored(f, "1");
  lmmt_run r = lmmt_cli_run(f->db, NULL,
                            (const char *[]){"campaigns", "--watch", "--until-idle", "--json",
                                             "--interval", "0.2", NULL});
  /* The watch ended because the campaign did: the deliver is finishing or finished. */
  int dst = wait_cli(d, 20000);
  if (r.status != 0 || dst != 0) fprintf(stderr, "watch:\n%s\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_int_equal(dst, 0);
  int lines = 0, partial = 0, pending = 0, with_it = 0;
  long long last_done = -1;
  const char *last = NULL;
  for (const char *l = r.out; *l; l = strchr(l, '\n') + 1) {
    assert_non_null(strchr(l, '\n'));
    assert_true(!strncmp(l, "{\"time\":\"", 9)); /* one JSON object a line */
    lines++, last = l;
    const char *c = strstr(l, "{\"id\":1,");
    if (!c || c > strchr(l, '\n')) continue;
    with_it++;
    assert_non_null(strstr(c, "\"group\":\"mc\",\"kind\":\"operation\",\"operation\":\"read "
                              "/3/0/0\""));
    assert_int_equal(num_after(c, "\"members\":"), 24);
    long long done = num_after(c, "\"done\":");
    assert_true(done >= last_done); /* never goes back */
    last_done = done;
    if (done == 0) pending++;
    if (done > 0 && done < 24) partial++;
  }
  if (!partial) fprintf(stderr, "watch saw no partial progress:\n%s\n", r.out);
  assert_true(with_it >= 2);
  assert_true(partial >= 1); /* answers arrive over the 3 s window */
  /* The last refresh found nothing running, and is why it stopped. */
  assert_non_null(strstr(last, "\"running\":0,\"campaigns\":[]}"));
  assert_int_equal(lmmt_count_of(r.out, "\"running\":0"), 1);
  (void)pending;
  lmmt_run_free(&r);
  assert_true(lmmt_cli_check(f->db, NULL, 0, "\"state\":\"done\"", NULL,
                             (const char *[]){"report", "1", "--json", NULL}));
}

static void test_watch_text(void **state) {
  fixture *f = *state;
  pid_t d = start_cli(
      f, (const char *[]){"deliver", "mc", "--read", "/3/0/0", "--grace-ms", "200", NULL});
  wait_stored(f, "1");
  /* Not a terminal: one line per running campaign per refresh, and no escape sequence. */
  lmmt_run r = lmmt_cli_run(
      f->db, NULL,
      (const char *[]){"campaigns", "mc", "--watch", "--until-idle", "--interval", "0.25", NULL});
  int dst = wait_cli(d, 20000);
  assert_int_equal(r.status, 0);
  assert_int_equal(dst, 0);
  assert_null(strchr(r.out, '\033'));
  assert_true(lmmt_count_of(r.out, "mc ") >= 2);
  assert_true(lmmt_count_of(r.out, "/24 ") >= 2);
  assert_non_null(strstr(r.out, "read /3/0/0"));
  assert_non_null(strstr(r.out, "[#")); /* part of the bar filled... */
  assert_non_null(strstr(r.out, "#.")); /* ...and part not */
  const char *end = r.out + strlen(r.out);
  assert_true(end - r.out > 20 && !strcmp(end - 20, "no campaign running\n"));
  lmmt_run_free(&r);

  /* SIGINT ends a watch that would go on: exit 0, the last refresh printed. */
  char out[128];
  snprintf(out, sizeof out, "%s/deliver.out", f->dir);
  pid_t w = start_cli(f, (const char *[]){"campaigns", "--watch", "--interval", "0.1", NULL});
  usleep(400 * 1000);
  kill(w, SIGINT);
  assert_int_equal(wait_cli(w, 5000), 0);
  char *text = lmmt_read_file(out, NULL);
  assert_non_null(text);
  assert_non_null(strstr(text, "no campaign running"));
  free(text);
}

static void test_watch_usage(void **state) {
  fixture *f = *state;
  assert_true(lmmt_cli_check(f->db, NULL, 0,
                             "campaigns [GROUP] --watch [--interval SEC] [--until-idle] [--json]",
                             NULL, (const char *[]){"campaigns", "--help", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL,
                             "--interval: 'soon' is not a number of seconds from 0.05 to 3600",
                             (const char *[]){"campaigns", "--watch", "--interval", "soon", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "--interval: '0' is not",
                             (const char *[]){"campaigns", "--watch", "--interval", "0", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "--interval needs --watch",
                             (const char *[]){"campaigns", "--interval", "2", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "--until-idle needs --watch",
                             (const char *[]){"campaigns", "--until-idle", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "too many arguments",
                             (const char *[]){"campaigns", "a", "b", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "unknown or incomplete option '--wotch'",
                             (const char *[]){"campaigns", "--wotch", NULL}));
  /* Nothing running: --until-idle returns after one refresh. */
  assert_true(
      lmmt_cli_check(f->db, NULL, 0, "\"running\":0,\"campaigns\":[]}\n", NULL,
                     (const char *[]){"--json", "campaigns", "--watch", "--until-idle", NULL}));
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_watch_usage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_json, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_text, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
