/* lmmt_cli.c - test support: run the lwm2m-mbms command line and capture what it prints. */
#include "lmmt_cli.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"

lmmt_run lmmt_cli_run(const char *db, const char *const *env, const char *const *args) {
  lmmt_run r = {127, NULL, NULL};
  char dir[] = "/tmp/lmmt-cli-XXXXXX", out[64], err[64];
  const char *cli = getenv("LMM_CLI");
  if (!cli || !mkdtemp(dir)) {
    r.out = strdup(""), r.err = strdup(cli ? "mkdtemp failed" : "LMM_CLI is not set");
    return r;
  }
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  const char *argv[96] = {cli, "--db", db};
  int n = 3;
  for (int i = 0; args[i] && n < 95; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1), dup2(fe, 2);
    unsetenv("LMM_T8_API_ROOT");
    for (int i = 0; env && env[i]; i++) {
      const char *eq = strchr(env[i], '=');
      if (!eq) {
        unsetenv(env[i]);
        continue;
      }
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
      setenv(name, eq + 1, 1);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  if (pid > 0) {
    /* Bounded: a hung command fails the test instead of hanging it. */
    int st = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
      pid_t w = waitpid(pid, &st, WNOHANG);
      if (w == pid) {
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        break;
      }
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (w < 0 || now.tv_sec - t0.tv_sec > 120) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        r.status = -1;
        break;
      }
      usleep(20000);
    }
  }
  r.out = lmmt_read_file(out, NULL);
  r.err = lmmt_read_file(err, NULL);
  if (!r.out) r.out = strdup("");
  if (!r.err) r.err = strdup("");
  unlink(out), unlink(err), rmdir(dir);
  return r;
}

void lmmt_run_free(lmmt_run *r) {
  free(r->out), free(r->err);
  memset(r, 0, sizeof *r);
}

bool lmmt_cli_check(const char *db, const char *const *env, int want_status, const char *out_has,
                    const char *err_has, const char *const *args) {
  lmmt_run r = lmmt_cli_run(db, env, args);
  bool ok = r.status == want_status && (!out_has || strstr(r.out, out_has)) &&
            (!err_has || strstr(r.err, err_has));
  if (!ok) {
    fprintf(stderr, "command:");
    for (int i = 0; args[i]; i++)
      fprintf(stderr, " %s", args[i]);
    fprintf(stderr, "\nexit %d (want %d), stdout:\n%s\nstderr:\n%s\n", r.status, want_status, r.out,
            r.err);
  }
  lmmt_run_free(&r);
  return ok;
}

int lmmt_count_of(const char *hay, const char *needle) {
  int n = 0;
  size_t l = strlen(needle);
  for (const char *p = hay; l && (p = strstr(p, needle)); p += l)
    n++;
  return n;
}
