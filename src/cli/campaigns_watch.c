/* campaigns_watch.c - "lwm2m-mbms campaigns --watch": a live view of the running campaigns
 * from another shell. It only reads the store, as the process running a campaign writes it,
 * so it sees what `report` would see at that moment (docs/report.md). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Set by SIGINT / SIGTERM: the refresh loop ends at its next turn. A command line's own
 * process-wide state; the library has none. */
static volatile sig_atomic_t g_stop;

static void on_stop(int sig) {
  (void)sig;
  g_stop = 1;
}

enum { BAR_WIDTH = 30 };

static bool running(const lmm_campaign_info *c) {
  return c->state != LMM_CS_DONE && c->state != LMM_CS_FAILED;
}

/* "[##########....................]": members with a final outcome of all. */
static void bar(char *buf, size_t done, size_t members) {
  size_t fill = members ? done * BAR_WIDTH / members : 0;
  buf[0] = '[';
  for (size_t i = 0; i < BAR_WIDTH; i++)
    buf[1 + i] = i < fill ? '#' : '.';
  buf[BAR_WIDTH + 1] = ']';
  buf[BAR_WIDTH + 2] = '\0';
}

static void what_text(const lmm_campaign_info *c, char *buf, size_t cap) {
  if (c->kind == LMM_CK_FIRMWARE)
    snprintf(buf, cap, "firmware");
  else
    cli_op_text(c, buf, cap);
}

/* One refresh: the running campaigns of the list `l` with their counts `k`. `lines` is how
 * many lines the last terminal frame took (redrawn over), updated. */
static void frame(const cli *c, int64_t now, const lmm_campaign_info *l,
                  const lmm_outcome_counts *k, size_t n, bool tty, int *lines) {
  struct winsize ws;
  int cols = tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
  char tm[40], b[BAR_WIDTH + 3], what[320];
  cli_fmt_time(now, true, tm, sizeof tm);
  size_t nrun = 0;
  for (size_t i = 0; i < n; i++)
    nrun += running(&l[i]);
  if (c->json) {
    printf("{\"time\":\"%s\",\"running\":%zu,\"campaigns\":[", tm, nrun);
  } else if (tty) {
    if (*lines) printf("\033[%dA\033[J", *lines); /* back to the frame's top, clear below */
    printf("%s  %zu campaign%s running (Ctrl-C to stop)\n", tm, nrun, nrun == 1 ? "" : "s");
    *lines = 1;
  } else if (!nrun) {
    printf("%s no campaign running\n", tm);
  }
  size_t shown = 0;
  for (size_t i = 0; i < n; i++) {
    if (!running(&l[i])) continue;
    const lmm_outcome_counts *t = &k[i];
    size_t failed = t->done - t->succeeded - t->refused;
    int64_t since = l[i].started_ms ? l[i].started_ms : l[i].created_ms;
    double elapsed = since && now > since ? (double)(now - since) / 1000.0 : 0.0;
    bar(b, t->done, t->members);
    what_text(&l[i], what, sizeof what);
    if (c->json) {
      printf("%s{\"id\":%lld,\"group\":", shown ? "," : "", (long long)l[i].id);
      cli_json_str(stdout, l[i].group);
      printf(",\"kind\":\"%s\",\"operation\":",
             l[i].kind == LMM_CK_FIRMWARE ? "firmware" : "operation");
      cli_json_str(stdout, what);
      printf(",\"state\":\"%s\",\"members\":%zu,\"done\":%zu,\"succeeded\":%zu,\"failed\":%zu,"
             "\"refused\":%zu,\"pending\":%zu,\"elapsedMs\":%lld}",
             cli_state_name(l[i].state), t->members, t->done, t->succeeded, failed, t->refused,
             t->members - t->done, (long long)(elapsed * 1000));
    } else {
      /* The group name is the store's: printed as is, but never a control character that
       * would steer the terminal. */
      char grp[64];
      snprintf(grp, sizeof grp, "%s", l[i].group ? l[i].group : "-");
      for (char *p = grp; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
      char line[512];
      snprintf(
          line, sizeof line,
          "%s%6lld  %-16s %-11s %s %zu/%zu %3zu%%  ok %zu, failed %zu, refused %zu  %.1f s  %s",
          tty ? "" : tm, (long long)l[i].id, grp, cli_state_name(l[i].state), b, t->done,
          t->members, t->members ? t->done * 100 / t->members : 0, t->succeeded, failed, t->refused,
          elapsed, what);
      /* A line wider than the terminal would wrap, and the next redraw would climb too few
       * lines: cut it short, never inside a UTF-8 sequence. */
      size_t len = strlen(line);
      if (tty && cols > 1 && len >= (size_t)cols) {
        len = (size_t)cols - 1;
        while (len && ((unsigned char)line[len] & 0xc0) == 0x80)
          len--;
      }
      printf("%.*s\n", (int)len, line);
      if (!tty) continue;
      ++*lines;
    }
    shown++;
  }
  if (c->json) printf("]}\n");
  fflush(stdout);
}

/* Sleeps `ms`, or less when a stop signal arrives. */
static void nap(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

int cli_campaigns_watch(cli *c, const char *group, double interval_s, bool until_idle) {
  lmm_store *s = NULL;
  int rc = cli_store_open(c, &s);
  if (rc) return rc;
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_stop; /* no SA_RESTART: the nap ends at once */
  sigemptyset(&sa.sa_mask);
  g_stop = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  bool tty = !c->json && isatty(STDOUT_FILENO);
  int lines = 0;
  while (!g_stop) {
    int64_t t0 = cli_mono_ms();
    lmm_campaign_info *l = NULL;
    size_t n = 0;
    lmm_err e = lmm_store_campaign_list(s, group, &l, &n);
    lmm_outcome_counts *k = e == LMM_OK ? calloc(n ? n : 1, sizeof *k) : NULL;
    if (e == LMM_OK && !k) e = LMM_ERR_NOMEM;
    size_t nrun = 0;
    for (size_t i = 0; e == LMM_OK && i < n; i++) {
      if (!running(&l[i])) continue;
      nrun++;
      /* A campaign deleted between the two reads is left out, not an error. */
      lmm_err ec = lmm_store_outcome_counts(s, l[i].id, &k[i]);
      if (ec != LMM_OK && ec != LMM_ERR_NOTFOUND) e = ec;
    }
    if (e == LMM_OK) frame(c, lmm_ctx_wall_ms(c->ctx), l, k, n, tty, &lines);
    free(k);
    lmm_campaign_info_list_free(l, n);
    if (e != LMM_OK) {
      rc = cli_store_fail(c, s, "reading the campaigns", e);
      break;
    }
    if (ferror(stdout) || (until_idle && !nrun)) break; /* cli_finish_output() says why */
    int64_t left = (int64_t)(interval_s * 1000) - (cli_mono_ms() - t0);
    if (left > 0) nap(left);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  lmm_store_close(s);
  return rc;
}
