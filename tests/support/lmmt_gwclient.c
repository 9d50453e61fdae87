/* lmmt_gwclient.c - test support: the gateway as a child process, and coap-client runs. */
#include "lmmt_gwclient.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"

static int64_t mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Forks `argv` with stdout and stderr into the files (NULL: /dev/null) and `env` set. */
static pid_t spawn(const char *const *argv, const char *out, const char *err,
                   const char *const *env) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fo = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int fe = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fo, 1), dup2(fe, 2);
  unsetenv("LMM_T8_API_ROOT");
  for (int i = 0; env && env[i]; i++) {
    const char *eq = strchr(env[i], '=');
    char name[64];
    if (!eq) continue;
    snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
    setenv(name, eq + 1, 1);
  }
  execv(argv[0], (char *const *)argv);
  _exit(127);
}

int lmmt_gw_start(lmmt_gw *g, const char *db, const char *devices, const char *const *env,
                  const char *const *extra) {
  memset(g, 0, sizeof *g);
  const char *cli = getenv("LMM_CLI");
  if (!cli || lmmt_scratch_dir(g->dir, "gw") != 0) return -1;
  char ready[128];
  snprintf(ready, sizeof ready, "%s/ready", g->dir);
  snprintf(g->err_path, sizeof g->err_path, "%s/stderr", g->dir);
  const char *argv[64] = {cli,           "--verbose",    "--db",  db,
                          "gateway",     "--devices",    devices, "--listen",
                          "127.0.0.1:0", "--ready-file", ready};
  int n = 11;
  for (int i = 0; extra && extra[i] && n < 63; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  g->pid = spawn(argv, NULL, g->err_path, env);
  if (g->pid < 0) return -1;
  int64_t until = mono_ms() + 20000;
  while (mono_ms() < until) {
    char *t = lmmt_read_file(ready, NULL);
    if (t && strchr(t, '\n')) {
      sscanf(t, "%63s %63s", g->uri, g->suri);
      free(t);
      return 0;
    }
    free(t);
    int st;
    if (waitpid(g->pid, &st, WNOHANG) == g->pid) break;
    usleep(20000);
  }
  char *e = lmmt_read_file(g->err_path, NULL);
  fprintf(stderr, "gateway did not start: %s\n", e ? e : "");
  free(e);
  lmmt_gw_stop(g);
  return -1;
}

int lmmt_gw_stop(lmmt_gw *g) {
  int rc = -1, st = 0;
  if (g->pid > 0) {
    kill(g->pid, SIGTERM);
    int64_t until = mono_ms() + 10000;
    pid_t w = 0;
    while ((w = waitpid(g->pid, &st, WNOHANG)) == 0 && mono_ms() < until)
      usleep(20000);
    if (w == g->pid) {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    } else {
      kill(g->pid, SIGKILL);
      waitpid(g->pid, &st, 0);
    }
    if (rc != 0) {
      char *e = lmmt_read_file(g->err_path, NULL);
      fprintf(stderr, "gateway ended %d: %s\n", rc, e ? e : "");
      free(e);
    }
  }
  g->pid = 0;
  if (g->dir[0]) lmmt_scratch_remove(g->dir);
  g->dir[0] = '\0';
  return rc;
}
