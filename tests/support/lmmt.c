/* lmmt.c - test support: the real t8-mock as a child process, its log, and bearer sockets. */
#include "lmmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

char *lmmt_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  while (b) {
    size_t r = fread(b + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
    if (n + 1 == cap) {
      char *nb = realloc(b, cap *= 2);
      if (!nb) free(b);
      b = nb;
    }
  }
  fclose(f);
  if (!b) return NULL;
  b[n] = '\0';
  if (len) *len = n;
  return b;
}

/* Starts a child that dies with the test: a failed assertion must not leave a mock behind
 * holding ctest's output pipe (ctest would wait for it until its timeout). */
static pid_t spawn(const char *bin, const char **argv, const char *dir) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char out[160];
    snprintf(out, sizeof out, "%s/stderr", dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* Starts the mock on `listen` in m->dir (made already) and waits for its ready file. */
static int mock_spawn(lmmt_mock *m, const char *bin, const char *listen, const char *const *extra) {
  char ready[128];
  snprintf(ready, sizeof ready, "%s/ready", m->dir);
  unlink(ready); /* a restart's must be its own */
  const char *argv[64] = {bin, "--listen", listen, "--ready-file", ready, "--log", m->log_path};
  int argc = 7;
  if (m->state_path[0]) argv[argc++] = "--state-file", argv[argc++] = m->state_path;
  for (int i = 0; extra && extra[i] && argc < 63; i++)
    argv[argc++] = extra[i];
  argv[argc] = NULL;
  pid_t pid = spawn(bin, argv, m->dir);
  if (pid < 0) return -1;
  m->pid = pid;
  for (int i = 0; i < 1000; i++) { /* at most 10 s */
    char *s = lmmt_read_file(ready, NULL);
    if (s) {
      m->port = atoi(s);
      free(s);
      if (m->port > 0) {
        snprintf(m->api_root, sizeof m->api_root, "http://127.0.0.1:%d", m->port);
        return 0;
      }
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      m->pid = 0;
      return -1;
    }
    sleep_ms(10);
  }
  lmmt_mock_stop(m);
  return -1;
}

static int mock_start(lmmt_mock *m, bool kept, const char *const *extra) {
  const char *bin = getenv("LMM_T8_MOCK");
  memset(m, 0, sizeof *m);
  if (!bin) {
    fprintf(stderr, "LMM_T8_MOCK is not set\n");
    return -1;
  }
  snprintf(m->dir, sizeof m->dir, "/tmp/lmmt-XXXXXX");
  if (!mkdtemp(m->dir)) return -1;
  snprintf(m->log_path, sizeof m->log_path, "%s/log.jsonl", m->dir);
  if (kept) snprintf(m->state_path, sizeof m->state_path, "%s/state.json", m->dir);
  return mock_spawn(m, bin, "127.0.0.1:0", extra);
}

int lmmt_mock_start(lmmt_mock *m, const char *const *extra) {
  return mock_start(m, false, extra);
}

int lmmt_mock_start_kept(lmmt_mock *m, const char *const *extra) {
  return mock_start(m, true, extra);
}

void lmmt_mock_kill(lmmt_mock *m) {
  if (m->pid <= 0) return;
  kill(m->pid, SIGKILL);
  waitpid(m->pid, NULL, 0);
  m->pid = 0;
}

int lmmt_mock_restart(lmmt_mock *m, const char *const *extra) {
  const char *bin = getenv("LMM_T8_MOCK");
  char listen[32];
  if (!bin || m->pid > 0 || m->port <= 0) return -1;
  snprintf(listen, sizeof listen, "127.0.0.1:%d", m->port);
  return mock_spawn(m, bin, listen, extra);
}

int lmmt_mock_stop(lmmt_mock *m) {
  int st = 0, rc = -1;
  if (m->pid > 0) {
    kill(m->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
      pid_t w = waitpid(m->pid, &st, WNOHANG);
      if (w == m->pid) {
        rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        break;
      }
      sleep_ms(10);
    }
    if (rc == -1 && !(WIFEXITED(st) || WIFSIGNALED(st))) {
      kill(m->pid, SIGKILL);
      waitpid(m->pid, &st, 0);
    }
    m->pid = 0;
  }
  char path[160];
  snprintf(path, sizeof path, "%s/ready", m->dir);
  unlink(path);
  if (!getenv("LMMT_KEEP_LOGS")) {
    snprintf(path, sizeof path, "%s/stderr", m->dir);
    unlink(path);
    unlink(m->log_path);
    if (m->state_path[0]) unlink(m->state_path);
    rmdir(m->dir);
  }
  return rc;
}

int lmmt_log_count(const lmmt_mock *m, const char *event, const char *needle) {
  char *s = lmmt_read_file(m->log_path, NULL);
  if (!s) return 0;
  char ev[96];
  snprintf(ev, sizeof ev, "\"event\":\"%s\"", event);
  int n = 0;
  for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
    if (strstr(line, ev) && (!needle || strstr(line, needle))) n++;
  free(s);
  return n;
}

int lmmt_log_wait(const lmmt_mock *m, const char *event, const char *needle, int want, int ms) {
  int n = 0;
  for (int waited = 0; waited <= ms; waited += 20) {
    if ((n = lmmt_log_count(m, event, needle)) >= want) break;
    sleep_ms(20);
  }
  return n;
}

int lmmt_bearer_join(const char *group, int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, group, &sa.sin_addr); /* bound to the group: only its datagrams */
  struct ip_mreq mr;
  inet_pton(AF_INET, group, &mr.imr_multiaddr);
  inet_pton(AF_INET, "127.0.0.1", &mr.imr_interface);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void lmmt_tmgi_group(const char *tmgi, char *out, size_t cap) {
  unsigned v = 0;
  sscanf(tmgi, "%6x", &v);
  snprintf(out, cap, "239.%u.%u.%u", (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

ssize_t lmmt_recv(int fd, void *buf, size_t cap, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0) return -1;
  return recv(fd, buf, cap, 0);
}

int lmmt_random_port(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned x = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
  return 20000 + (int)(x % 30000);
}

/* ------------------------------------------------------------ simulated devices */

int lmmt_sim_start(lmmt_sim *s, const char *const *extra) {
  const char *bin = getenv("LMM_SIM");
  memset(s, 0, sizeof *s);
  if (!bin) {
    fprintf(stderr, "LMM_SIM is not set\n");
    return -1;
  }
  snprintf(s->dir, sizeof s->dir, "/tmp/lmmt-sim-XXXXXX");
  if (!mkdtemp(s->dir)) return -1;
  char ready[128];
  snprintf(ready, sizeof ready, "%s/ready", s->dir);
  snprintf(s->members_path, sizeof s->members_path, "%s/members", s->dir);
  snprintf(s->stats_path, sizeof s->stats_path, "%s/stats.json", s->dir);
  const char *argv[64] = {bin,
                          "--port",
                          "0",
                          "--ready-file",
                          ready,
                          "--members-file",
                          s->members_path,
                          "--stats-json",
                          s->stats_path};
  int argc = 9;
  for (int i = 0; extra && extra[i] && argc < 63; i++)
    argv[argc++] = extra[i];
  argv[argc] = NULL;
  if ((s->pid = spawn(bin, argv, s->dir)) < 0) return -1;
  for (int i = 0; i < 3000; i++) { /* at most 30 s: 10,000 devices take a moment */
    char *t = lmmt_read_file(ready, NULL);
    if (t) {
      int n = sscanf(t, "%d %d", &s->port, &s->dtls_port);
      free(t);
      if (n >= 1 && s->port > 0) return 0;
    }
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return -1;
    }
    sleep_ms(10);
  }
  lmmt_sim_stop(s);
  return -1;
}

/* SIGTERM and a bounded wait (SIGKILL after 10 s); the exit status, -1 if killed. */
static int sim_terminate(lmmt_sim *s) {
  int st = 0, rc = -1;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    bool done = false;
    for (int i = 0; i < 1000 && !done; i++) { /* at most 10 s */
      if (waitpid(s->pid, &st, WNOHANG) == s->pid)
        done = true;
      else
        sleep_ms(10);
    }
    if (!done) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &st, 0);
    } else if (WIFEXITED(st)) {
      rc = WEXITSTATUS(st);
    }
    s->pid = 0;
  }
  return rc;
}

static void sim_remove_files(const lmmt_sim *s) {
  if (!getenv("LMMT_KEEP_LOGS")) {
    const char *files[] = {"ready", "ready.tmp", "members", "stats.json", "stderr"};
    char path[192];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
      snprintf(path, sizeof path, "%s/%s", s->dir, files[i]);
      unlink(path);
    }
    rmdir(s->dir);
  }
}

int lmmt_sim_stop(lmmt_sim *s) {
  int rc = sim_terminate(s);
  sim_remove_files(s);
  return rc;
}

char *lmmt_sim_stop_stats(lmmt_sim *s, int *status) {
  *status = sim_terminate(s);
  char *text = lmmt_read_file(s->stats_path, NULL);
  sim_remove_files(s);
  return text;
}
