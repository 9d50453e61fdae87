/* answers.c - benchmark: answer ingest. A synthetic sender (a child process, so that sender and
 * receiver each have a core) blasts N members' answers to one group request at the real answer
 * receiver (lmm_answers: libcoap endpoint, query parsing, routing by token) on loopback, as the
 * members of an MBMS group do after its group request: a CON POST each,
 * /lmm/a?ep=NAME&t=TOKEN&c=2.05 with a SenML-JSON Read result, from SOURCES different loopback
 * addresses (127.3.x.y, member i from source i % SOURCES: the receiver keeps a CoAP session per
 * source). The request's owner finds each member by name in a member index, as a campaign does,
 * and counts it once.
 *
 * Figures, per N:
 *   answers/s     answers accepted / (the last acceptance - the sender's start); the sender
 *                 sends as fast as its socket takes them, unless RATE (answers/s) paces it
 *   CPU us/answer the receiving process's user + system CPU time over the run / accepted
 *   sent          datagrams the sender sent (each answer once: no retransmission, so a lost
 *                 answer is counted, not repaired)
 *   acked         2.04 ACKs the sender got back (drops on the way back or at the sender show as
 *                 sent - acked)
 *   rx drops      datagrams the kernel dropped on the receiver's socket (its buffer full;
 *                 lmm_answers_get_stats rx_drops)
 *   lost          sent - accepted: answers that never reached the campaign
 * The target (docs/performance.md): >= 100,000 answers/s with 0 lost. Exit status 1 when the
 * run could not be made; a lost answer is a figure, not a failure of the program.
 *
 *   bench_answers [N ...]            (default: 10000 100000)
 *   scripts/bench: 10000 100000
 *   scripts/bench --quick: 2000
 * Environment: SOURCES (default 1000), RATE (answers/s, default 0: unpaced). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "campaign/campaign_internal.h"
#include "campaign/core.h"
#include "lmmt_bench.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define PAYLOAD "[{\"bn\":\"/6/0/\",\"n\":\"0\",\"v\":48.8584},{\"n\":\"1\",\"v\":2.2945}]"

static const uint8_t token[LMMI_TOKEN_LEN] = {0x5e, 0x11, 0xa0, 0x42, 0x07, 0x13, 0x99, 0x01};

typedef struct owner {
  lmmi_member_index ix;
  bool *seen;
  size_t accepted;
} owner;

/* As a campaign takes an answer: the member by name, once. */
static lmmi_answer_class on_answer(void *user, const char *ep, uint8_t code, int cf,
                                   const uint8_t *payload, size_t len) {
  (void)code, (void)cf, (void)payload, (void)len;
  owner *o = user;
  size_t i = lmmi_member_index_find(&o->ix, ep, NULL, NULL);
  if (i == SIZE_MAX) return LMMI_ANS_UNKNOWN;
  if (o->seen[i]) return LMMI_ANS_DUPLICATE;
  o->seen[i] = true;
  o->accepted++;
  return LMMI_ANS_ACCEPTED;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static size_t opt(uint8_t *b, unsigned *last, unsigned num, const void *v, size_t len) {
  unsigned d = num - *last;
  size_t n = 0;
  *last = num;
  uint8_t dl = (uint8_t)(d < 13 ? d : 13), ll = (uint8_t)(len < 13 ? len : 13);
  b[n++] = (uint8_t)(dl << 4 | ll);
  if (d >= 13) b[n++] = (uint8_t)(d - 13);
  if (len >= 13) b[n++] = (uint8_t)(len - 13);
  memcpy(b + n, v, len);
  return n + len;
}

/* Member i's answer: CON POST /lmm/a?ep=..&t=..&c=2.05, Content-Format 110, the Read result. */
static size_t answer_pdu(uint8_t *b, size_t i) {
  size_t n = 0;
  b[n++] = 0x44, b[n++] = 0x02, b[n++] = (uint8_t)(i >> 8), b[n++] = (uint8_t)i; /* CON POST */
  memcpy(b + n, &(uint32_t){(uint32_t)i}, 4), n += 4;                            /* token */
  unsigned last = 0;
  n += opt(b + n, &last, 11, "lmm", 3);
  n += opt(b + n, &last, 11, "a", 1);
  n += opt(b + n, &last, 12, "\x6e", 1); /* 110 SenML-JSON */
  char q[64];
  int ql = snprintf(q, sizeof q, "ep=dev-%07zu", i);
  n += opt(b + n, &last, 15, q, (size_t)ql);
  char t[2 + 2 * LMMI_TOKEN_LEN + 1] = "t=";
  for (size_t k = 0; k < LMMI_TOKEN_LEN; k++)
    snprintf(t + 2 + 2 * k, 3, "%02x", token[k]);
  n += opt(b + n, &last, 15, t, strlen(t));
  n += opt(b + n, &last, 15, "c=2.05", 6);
  b[n++] = 0xff;
  memcpy(b + n, PAYLOAD, sizeof PAYLOAD - 1);
  return n + sizeof PAYLOAD - 1;
}

/* The child: waits for the go byte on `go`, sends, collects ACKs, writes "sent acked" back. */
static void sender(int go, int res, uint16_t port, size_t n, size_t sources, double rate) {
  int *fd = calloc(sources, sizeof *fd);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (size_t k = 0; fd && k < sources; k++) {
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr =
        htonl(0x7f030000u | (uint32_t)(k / 250 + 1) << 8 | (uint32_t)(k % 250 + 1));
    fd[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int big = 1 << 20;
    setsockopt(fd[k], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (fd[k] < 0 || bind(fd[k], (struct sockaddr *)&from, sizeof from) ||
        connect(fd[k], (struct sockaddr *)&to, sizeof to))
      _exit(3);
  }
  if (!fd) _exit(3);
  char c;
  if (read(go, &c, 1) != 1) _exit(3);
  size_t sent = 0, acked = 0;
  uint8_t b[256], r[256];
  double t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    size_t len = answer_pdu(b, i);
    int s = fd[i % sources];
    while (send(s, b, len, 0) < 0) {
      if (errno != EAGAIN && errno != ENOBUFS) _exit(4);
      poll(&(struct pollfd){.fd = s, .events = POLLOUT}, 1, 10);
    }
    sent++;
    while (recv(s, r, sizeof r, 0) > 0)
      acked++;
    if (rate > 0)
      while (now_s() - t0 < (double)sent / rate) {
      }
  }
  /* The ACKs still on their way: until none came for 1 s. */
  for (double last = now_s(); now_s() - last < 1.0;) {
    bool any = false;
    for (size_t k = 0; k < sources; k++)
      while (recv(fd[k], r, sizeof r, 0) > 0)
        acked++, any = true;
    if (any)
      last = now_s();
    else
      nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  char out[64];
  int ol = snprintf(out, sizeof out, "%zu %zu\n", sent, acked);
  _exit(write(res, out, (size_t)ol) == ol ? 0 : 5);
}

static int run(lmmt_bench *bj, size_t n, size_t sources, double rate) {
  lmm_ctx *ctx = NULL;
  lmm_answers *a = NULL;
  owner o = {0};
  lmm_member *m = calloc(n, sizeof *m);
  char(*eps)[24] = malloc(n * sizeof *eps);
  o.seen = calloc(n, sizeof *o.seen);
  int rc = 1, go[2] = {-1, -1}, res[2] = {-1, -1};
  pid_t pid = -1;
  if (!m || !eps || !o.seen) goto out;
  for (size_t i = 0; i < n; i++) {
    snprintf(eps[i], sizeof eps[i], "dev-%07zu", i);
    m[i] = (lmm_member){.ep = eps[i], .oid = 6, .uri = "coap://127.0.0.1:5683"};
  }
  if (lmmi_member_index_build(&o.ix, m, n) != LMM_OK || lmm_ctx_new(NULL, &ctx) != LMM_OK ||
      lmm_answers_new(ctx, NULL, &a) != LMM_OK || lmmi_answers_open(a, token, on_answer, &o))
    goto out;
  const char *colon = strrchr(lmm_answers_uri(a), ':');
  uint16_t port = (uint16_t)atoi(colon + 1);
  if (pipe(go) || pipe(res) || (pid = fork()) < 0) goto out;
  if (pid == 0) {
    close(go[1]), close(res[0]);
    sender(go[0], res[1], port, n, sources, rate);
  }
  close(go[0]), close(res[1]), go[0] = res[1] = -1;
  lmm_answers_stats st0, st;
  lmm_answers_get_stats(a, &st0);
  double c0 = cpu_s(), t0 = now_s(), t_last = t0, t_progress = t0;
  if (write(go[1], "g", 1) != 1) goto out;
  size_t seen = 0;
  while (o.accepted < n && now_s() - t_progress < 2.0) {
    lmm_ctx_run_once(ctx, 10);
    if (o.accepted != seen) seen = o.accepted, t_last = t_progress = now_s();
  }
  double cpu = cpu_s() - c0;
  char line[64] = "";
  size_t sent = 0, acked = 0;
  /* Keep serving (the sender waits for late ACKs) until it reports. */
  for (double tw = now_s(); now_s() - tw < 10.0;) {
    lmm_ctx_run_once(ctx, 10);
    if (poll(&(struct pollfd){.fd = res[0], .events = POLLIN}, 1, 0) > 0) break;
  }
  ssize_t got = read(res[0], line, sizeof line - 1);
  int status = -1;
  waitpid(pid, &status, 0);
  pid = -1;
  if (got <= 0 || sscanf(line, "%zu %zu", &sent, &acked) != 2 || !WIFEXITED(status) ||
      WEXITSTATUS(status)) {
    fprintf(stderr, "bench_answers: the sender failed (status %d)\n", status);
    goto out;
  }
  lmm_answers_get_stats(a, &st);
  double dt = t_last - t0, ps = dt > 0 ? (double)o.accepted / dt : 0;
  double us = o.accepted ? cpu * 1e6 / (double)o.accepted : 0;
  unsigned long long drops = (unsigned long long)(st.rx_drops - st0.rx_drops);
  printf("%8zu %12.0f %14.2f %8zu %8zu %8zu %9llu %8zu\n", n, ps, us, sent, acked, o.accepted,
         drops, sent - o.accepted);
  fflush(stdout);
  lmmt_bench_numf(bj, ps, "answers_per_s_n%zu", n);
  lmmt_bench_numf(bj, us, "cpu_us_per_answer_n%zu", n);
  lmmt_bench_numf(bj, (double)(sent - acked), "sender_unacked_n%zu", n);
  lmmt_bench_numf(bj, (double)drops, "rx_drops_n%zu", n);
  lmmt_bench_numf(bj, (double)(sent - o.accepted), "lost_n%zu", n);
  lmmt_bench_num(bj, "rcvbuf", st.rcvbuf);
  rc = 0;
out:
  if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
  for (int k = 0; k < 2; k++) {
    if (go[k] >= 0) close(go[k]);
    if (res[k] >= 0) close(res[k]);
  }
  lmm_answers_free(a);
  lmm_ctx_free(ctx);
  lmmi_member_index_free(&o.ix);
  free(o.seen), free(m), free(eps);
  return rc;
}

int main(int argc, char **argv) {
  static const char *defaults[] = {"10000", "100000"};
  const char **ns = argc > 1 ? (const char **)argv + 1 : defaults;
  int nn = argc > 1 ? argc - 1 : 2;
  const char *sv = getenv("SOURCES"), *rv = getenv("RATE");
  long sources = sv && *sv ? strtol(sv, NULL, 10) : 1000;
  double rate = rv && *rv ? strtod(rv, NULL) : 0;
  if (sources < 1 || sources > 10000 || rate < 0) {
    fprintf(stderr, "SOURCES: 1 .. 10000; RATE: >= 0\n");
    return 2;
  }
  for (int k = 0; k < nn; k++) {
    char *end;
    unsigned long x = strtoul(ns[k], &end, 10);
    if (*end || x == 0 || x > 10000000) {
      fprintf(stderr, "bench_answers: N must be 1 .. 10000000, got '%s'\n", ns[k]);
      return 2;
    }
  }
  if (lmm_global_init() != LMM_OK) return 1;
  lmmt_bench *bj = lmmt_bench_new("answers");
  lmmt_bench_num(bj, "sources", (double)sources);
  lmmt_bench_num(bj, "rate", rate);
  printf("answer ingest: CON POST answers from %ld sources to lmm_answers on loopback, %s\n",
         sources, rate > 0 ? "paced" : "unpaced");
  printf("%8s %12s %14s %8s %8s %8s %9s %8s\n", "N", "answers/s", "CPU us/answer", "sent", "acked",
         "accepted", "rx drops", "lost");
  int rc = 0;
  for (int k = 0; k < nn; k++)
    rc |= run(bj, strtoul(ns[k], NULL, 10), (size_t)sources, rate);
  lmmt_bench_ok(bj, rc == 0);
  if (lmmt_bench_print(bj) != 0) rc = 1;
  lmm_global_cleanup();
  return rc;
}
