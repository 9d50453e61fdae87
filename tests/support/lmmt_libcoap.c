/* lmmt_libcoap.c - test support: coap-client and coap-server of Debian's libcoap3-bin as child
 * processes, bounded in time, with their output captured. */
#include "lmmt_libcoap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"

struct lmmt_tool_job {
  pid_t pid;
  int status;
  bool ended, timed_out;
  long long deadline_ms;
  char dir[64], out[96], err[96];
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

const char *lmmt_libcoap_tool(const char *name) {
  static char path[2][128];
  bool server = strcmp(name, "coap-server") == 0;
  const char *env = getenv(server ? "LMM_COAP_SERVER" : "LMM_COAP_CLIENT");
  char *p = path[server];
  if (env && *env)
    snprintf(p, sizeof path[0], "%s", env);
  else
    snprintf(p, sizeof path[0], "/usr/bin/%s-openssl", name);
  if (access(p, X_OK) != 0) {
    fprintf(stderr,
            "%s is missing: it comes with the Debian package libcoap3-bin "
            "(scripts/install-deps installs it)\n",
            p);
    return NULL;
  }
  return p;
}

/* A child that dies with the test (a failed assertion must not leave a tool behind holding
 * ctest's pipe), with stdin from /dev/null and stdout / stderr into files. */
static pid_t spawn(const char *bin, const char *const *args, const char *out, const char *err) {
  const char *argv[64] = {bin};
  int n = 1;
  for (int i = 0; args && args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int in = open("/dev/null", O_RDONLY);
  int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || fo < 0 || fe < 0) _exit(126);
  dup2(in, 0), dup2(fo, 1), dup2(fe, 2);
  execv(bin, (char *const *)argv);
  _exit(127);
}

lmmt_tool_job *lmmt_coap_client_start(int timeout_ms, const char *const *args) {
  const char *bin = lmmt_libcoap_tool("coap-client");
  lmmt_tool_job *j = calloc(1, sizeof *j);
  if (!bin || !j) {
    free(j);
    return NULL;
  }
  snprintf(j->dir, sizeof j->dir, "/tmp/lmmt-coap-XXXXXX");
  if (!mkdtemp(j->dir)) {
    perror("mkdtemp");
    free(j);
    return NULL;
  }
  snprintf(j->out, sizeof j->out, "%s/out", j->dir);
  snprintf(j->err, sizeof j->err, "%s/err", j->dir);
  j->deadline_ms = now_ms() + timeout_ms;
  j->pid = spawn(bin, args, j->out, j->err);
  if (j->pid < 0) {
    perror("fork");
    rmdir(j->dir);
    free(j);
    return NULL;
  }
  return j;
}

static void reap(lmmt_tool_job *j, bool block) {
  if (j->ended) return;
  int st = 0;
  if (waitpid(j->pid, &st, block ? 0 : WNOHANG) == j->pid) {
    j->ended = true;
    j->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
}

bool lmmt_tool_job_ended(lmmt_tool_job *j) {
  reap(j, false);
  return j->ended;
}

lmmt_tool_run lmmt_coap_client_finish(lmmt_tool_job *j) {
  lmmt_tool_run r = {.status = 127};
  if (!j) {
    r.out = strdup(""), r.err = strdup("coap-client did not start");
    return r;
  }
  while (!lmmt_tool_job_ended(j) && now_ms() < j->deadline_ms)
    sleep_ms(10);
  if (!j->ended) {
    kill(j->pid, SIGKILL);
    reap(j, true);
    j->timed_out = true;
    j->status = -1;
  }
  r.status = j->status, r.timed_out = j->timed_out;
  r.out = lmmt_read_file(j->out, &r.out_len);
  r.err = lmmt_read_file(j->err, NULL);
  if (!r.out) r.out = strdup(""), r.out_len = 0;
  if (!r.err) r.err = strdup("");
  if (!getenv("LMMT_KEEP_LOGS")) unlink(j->out), unlink(j->err), rmdir(j->dir);
  free(j);
  return r;
}

lmmt_tool_run lmmt_coap_client_run(int timeout_ms, const char *const *args) {
  return lmmt_coap_client_finish(lmmt_coap_client_start(timeout_ms, args));
}

void lmmt_tool_run_free(lmmt_tool_run *r) {
  free(r->out), free(r->err);
  memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ coap-server */

/* Whether UDP port `port` of 127.0.0.1 can be bound now (nobody holds it). */
static bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

int lmmt_coap_server_start(lmmt_coap_server *s, const char *const *extra) {
  memset(s, 0, sizeof *s);
  const char *bin = lmmt_libcoap_tool("coap-server");
  if (!bin) return -1;
  for (int tries = 0; tries < 20; tries++) {
    int port = lmmt_random_port();
    if (port <= 0 || port >= 65535 || !port_free(port) || !port_free(port + 1)) continue;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const char *args[48] = {"-A", "127.0.0.1", "-p", ps, "-v", "0"};
    int n = 6;
    for (int i = 0; extra && extra[i] && n < 47; i++)
      args[n++] = extra[i];
    args[n] = NULL;
    pid_t pid = spawn(bin, args, "/dev/null", "/dev/null");
    if (pid < 0) break;
    /* Bound when the port cannot be taken any more; with a key, port + 1 too (DTLS). */
    bool dtls = false;
    for (int i = 0; extra && extra[i]; i++)
      dtls |= strcmp(extra[i], "-k") == 0;
    for (long long until = now_ms() + 5000; now_ms() < until;) {
      if (!port_free(port) && (!dtls || !port_free(port + 1))) {
        s->pid = pid, s->port = port;
        return 0;
      }
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = 0; /* it died: the port was taken meanwhile, try another */
        break;
      }
      sleep_ms(10);
    }
    if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
  }
  fprintf(stderr, "%s did not start on a loopback port\n", bin);
  return -1;
}

int lmmt_coap_server_stop(lmmt_coap_server *s) {
  if (s->pid <= 0) return -1;
  kill(s->pid, SIGTERM);
  for (long long until = now_ms() + 3000; now_ms() < until; sleep_ms(10))
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return 0;
    }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
  return -1;
}

/* ------------------------------------------------------------------ coap-client's log */

size_t lmmt_coap_log_responses(const char *log, lmmt_logged_pdu *out, size_t cap) {
  size_t n = 0;
  for (const char *line = log; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    char type[4];
    int cls, detail;
    /* libcoap's coap_show_pdu(): "v:1 t:ACK c:2.05 i:8cb5 {01} [ Options ] :: 'payload'" */
    if (sscanf(line, "v:1 t:%3s c:%d.%d ", type, &cls, &detail) == 3 && cls >= 2 && cls <= 5) {
      if (n < cap) {
        lmmt_logged_pdu *p = &out[n];
        memset(p, 0, sizeof *p);
        p->code = cls << 5 | detail;
        snprintf(p->type, sizeof p->type, "%s", type);
        p->observe = -1;
        const char *o = strstr(line, "Observe:");
        if (o && o < line + len) p->observe = strtol(o + 8, NULL, 10);
        const char *e = strstr(line, "ETag:");
        if (e && e < line + len) sscanf(e + 5, "%23[0-9a-fx]", p->etag);
        const char *b = strstr(line, "Block2:");
        p->block2 = b && b < line + len ? strtol(b + 7, NULL, 10) : -1;
        const char *pl = strstr(line, ":: ");
        if (pl && pl < line + len) {
          pl += 3;
          size_t plen = (size_t)(line + len - pl);
          if (plen >= 2 && pl[0] == '\'' && pl[plen - 1] == '\'') pl++, plen -= 2;
          if (plen >= sizeof p->payload) plen = sizeof p->payload - 1;
          memcpy(p->payload, pl, plen);
        }
      }
      n++;
    }
    line = end ? end + 1 : NULL;
  }
  return n;
}
