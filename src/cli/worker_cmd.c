/* worker_cmd.c - "lwm2m-mbms worker": a long-lived instance that claims queued campaigns from
 * the shared store, one at a time, resumes each exactly as `resume` does, renews its lease from
 * inside the campaign's loop, and stops a campaign at once when the lease is lost
 * (docs/scale-out.md). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define IDLE_POLL_MS 250 /* between claims while the queue is empty */

/* Set by SIGINT / SIGTERM: the campaign in hand is given back, then the worker exits. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct worker {
  cli *c;
  lmm_store *s;
  cli_run_opts ro;
  char owner[160];
  int64_t lease_ms;
  bool exit_when_idle;
} worker;

/* One campaign in hand. */
typedef struct job {
  worker *w;
  cli_engines eng;
  lmm_campaign *camp;
  bool done;
  lmm_err result;
} job;

static void on_done(void *user, lmm_campaign *camp, lmm_err result) {
  (void)camp;
  job *j = user;
  j->done = true, j->result = result;
}

static const lmm_campaign_handlers handlers = {NULL, NULL, on_done};

static void on_delivery(void *user, const char *txn, bool delivered) {
  job *j = user;
  if (j->camp) lmm_campaign_t8_notified(j->camp, txn, delivered);
}

static const lmm_t8_notifier_handlers notifier_handlers = {on_delivery, NULL};

/* One progress line on stderr; with --json one JSON line on stdout too. */
static void event(const worker *w, int64_t id, const char *what, bool taken_over,
                  const char *detail) {
  fprintf(stderr, "lwm2m-mbms: worker %s: campaign %lld %s%s%s%s\n", w->owner, (long long)id, what,
          taken_over ? " (taken over)" : "", detail ? ": " : "", detail ? detail : "");
  if (!w->c->json) return;
  printf("{\"worker\":");
  cli_json_str(stdout, w->owner);
  printf(",\"id\":%lld,\"event\":\"%s\",\"takenOver\":%s,\"detail\":", (long long)id, what,
         taken_over ? "true" : "false");
  cli_json_str(stdout, detail);
  printf(",\"atMs\":%lld}\n", (long long)lmm_ctx_wall_ms(w->c->ctx));
  fflush(stdout);
}

/* Sleeps `ms`, or less when a stop signal arrives. */
static void nap(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (!g_stop && nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/* A firmware campaign needs its image and blob servers; the worker does not run those yet:
 * it ends the campaign failed, saying so (a `resume` by hand continues it). */
static void fail_firmware(worker *w, lmm_campaign_info *info) {
  char why[200];
  snprintf(why, sizeof why,
           "a worker cannot run firmware campaigns yet: continue it with 'lwm2m-mbms resume "
           "%lld'",
           (long long)info->id);
  info->state = LMM_CS_FAILED;
  free(info->error);
  info->error = strdup(why);
  if (lmm_store_campaign_update(w->s, info) != LMM_OK)
    cli_err(w->c, "campaign %lld: %s", (long long)info->id, lmm_store_errmsg(w->s));
  event(w, info->id, "failed", false, why);
}

/* Runs campaign `id`, claimed. 0 when it ended or was lost; 1 when a signal stopped it. */
static int run_job(worker *w, int64_t id, bool taken_over) {
  cli *c = w->c;
  lmm_campaign_info info = {0};
  job j = {.w = w};
  int stopped = 0;
  lmm_err e = lmm_store_campaign_get(w->s, id, &info);
  if (e != LMM_OK) {
    event(w, id, "failed", taken_over, lmm_store_errmsg(w->s));
    goto out;
  }
  if (info.kind == LMM_CK_FIRMWARE) {
    fail_firmware(w, &info);
    goto out;
  }
  if (cli_engines_setup(c, &j.eng, info.via, &w->ro, &notifier_handlers, &j)) {
    event(w, id, "not started", taken_over, "its engines could not start (see above)");
    goto out;
  }
  lmm_campaign_deps deps = {c->ctx, j.eng.uni, j.eng.t8, j.eng.ans, w->s};
  if ((e = lmm_campaign_resume(&deps, id, &handlers, &j, &j.camp)) != LMM_OK ||
      (e = lmm_campaign_start(j.camp)) != LMM_OK) {
    char why[300];
    snprintf(why, sizeof why, "cannot resume it: %s%s%s", lmm_strerror(e),
             e == LMM_ERR_DB ? ": " : "", e == LMM_ERR_DB ? lmm_store_errmsg(w->s) : "");
    /* Left failed, so that it is not claimed again and again. */
    info.state = LMM_CS_FAILED;
    free(info.error);
    info.error = strdup(why);
    lmm_store_campaign_update(w->s, &info);
    event(w, id, "failed", taken_over, why);
    goto out;
  }
  char what[160];
  cli_op_text(&info, what, sizeof what);
  size_t n = 0;
  lmm_campaign_members(j.camp, &n);
  char detail[300];
  snprintf(detail, sizeof detail, "%s on %zu members of %s via %s", what, n,
           info.group ? info.group : "?", cli_via_name(info.via));
  event(w, id, "started", taken_over, detail);
  /* Renewed every third of the lease from inside the loop; a store that cannot be reached
   * is tried again until the lease would have run out, then the campaign is lost. */
  int64_t every = w->lease_ms / 3 > 0 ? w->lease_ms / 3 : 1,
          held_until = cli_mono_ms() + w->lease_ms;
  int64_t next = cli_mono_ms() + every;
  bool lost = false;
  /* The renewal comes before the loop serves anything once it is due: a worker that was
   * stopped (or starved) longer than its lease learns it lost the campaign before it writes
   * one more outcome. */
  while (!j.done && !g_stop && !lost) {
    int64_t now = cli_mono_ms();
    if (now >= next) {
      e = lmm_store_lease_renew(w->s, id, w->owner, w->lease_ms);
      now = cli_mono_ms();
      if (e == LMM_OK) {
        held_until = now + w->lease_ms, next = now + every;
      } else if (e == LMM_ERR_STATE || e == LMM_ERR_NOTFOUND || now >= held_until) {
        lost = true;
        snprintf(detail, sizeof detail, "stopped: lease lost (%s); nothing more written",
                 lmm_store_errmsg(w->s));
        break;
      } else {
        next = now + (every < 500 ? every : 500); /* the store is unreachable: try again */
      }
    }
    long slice = next - now < 200 ? (long)(next - now) : 200;
    lmm_ctx_run_once(c->ctx, slice > 0 ? slice : 0);
  }
  /* Once more before the last writes (the freeing flushes the outcomes and the row): a worker
   * stopped inside a loop turn may have served the campaign's end in that turn. */
  if (!lost && (e = lmm_store_lease_renew(w->s, id, w->owner, w->lease_ms)) != LMM_OK &&
      (e == LMM_ERR_STATE || e == LMM_ERR_NOTFOUND || cli_mono_ms() >= held_until)) {
    lost = true;
    snprintf(detail, sizeof detail, "stopped: lease lost (%s); nothing more written",
             lmm_store_errmsg(w->s));
  }
  if (lost) {
    lmm_campaign_abandon(j.camp);
    event(w, id, "lost", taken_over, detail);
    goto out;
  }
  /* Freed first: its last outcomes are in the store before the lease is given back. */
  lmm_campaign_free(j.camp);
  j.camp = NULL;
  if (!j.done) {
    stopped = 1;
    event(w, id, "released", taken_over, "stopped by a signal; another worker continues it");
  } else {
    lmm_outcome_counts k = {0};
    lmm_store_outcome_counts(w->s, id, &k);
    snprintf(detail, sizeof detail, "%s, %zu/%zu succeeded%s%s",
             j.result == LMM_OK ? "done" : "failed", k.succeeded, k.members,
             j.result == LMM_OK ? "" : ": ", j.result == LMM_OK ? "" : lmm_strerror(j.result));
    event(w, id, "finished", taken_over, detail);
  }
  if ((e = lmm_store_lease_release(w->s, id, w->owner)) != LMM_OK)
    cli_err(c, "campaign %lld: cannot release its lease: %s", (long long)id,
            lmm_store_errmsg(w->s));
out:
  lmm_campaign_free(j.camp);
  cli_engines_free(&j.eng);
  lmm_campaign_info_clear(&info);
  return stopped;
}

enum { W_NAME = 400, W_LEASE, W_IDLE };

static const struct option worker_options[] = {
    {"name", required_argument, 0, W_NAME},
    {"lease-ms", required_argument, 0, W_LEASE},
    {"exit-when-idle", no_argument, 0, W_IDLE},
    CLI_RUN_OPTIONS,
    {0, 0, 0, 0},
};

static int parse(cli *c, int argc, char **args, worker *w) {
  cli_getopt_start();
  int o, li = -1;
  char *end;
  while ((o = cli_getopt(c, argc, args, "", worker_options, &li)) != -1) {
    if (o == CLI_GETOPT_ERR) return EXIT_USAGE;
    if (o == CLI_RUN_WAIT) return cli_usage(c, "--wait is not for worker");
    if (CLI_IS_RUN_OPTION(o)) {
      int rc = cli_run_opt(c, o, optarg, &w->ro);
      if (rc) return rc;
      continue;
    }
    switch (o) {
    case W_NAME:
      if (!*optarg || strlen(optarg) >= sizeof w->owner)
        return cli_usage(c, "--name: '%s' is not a name of 1 to %zu bytes", optarg,
                         sizeof w->owner - 1);
      snprintf(w->owner, sizeof w->owner, "%s", optarg);
      break;
    case W_LEASE:
      errno = 0;
      w->lease_ms = strtol(optarg, &end, 10);
      if (errno || *end || end == optarg || w->lease_ms < 300 || w->lease_ms > 3600000)
        return cli_usage(c, "--lease-ms: '%s' is not milliseconds from 300 to 3600000", optarg);
      break;
    case W_IDLE:
      w->exit_when_idle = true;
      break;
    }
  }
  if (optind < argc) return cli_usage(c, "too many arguments ('%s')", args[optind]);
  return cli_take_coap_bind(c, &w->ro);
}

int cmd_worker(cli *c, int argc, char **argv) {
  c->cmd = "worker";
  char **args = cli_with_name("worker", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  worker w = {.c = c, .lease_ms = 15000};
  char host[128] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(w.owner, sizeof w.owner, "%s:%ld", host, (long)getpid());
  int rc = parse(c, argc + 1, args, &w);
  free(args);
  if (rc || (rc = cli_store_open(c, &w.s))) goto out;
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal; /* no SA_RESTART: a nap or a poll ends at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  fprintf(stderr, "lwm2m-mbms: worker %s: waiting for queued campaigns (lease %lld ms)\n", w.owner,
          (long long)w.lease_ms);
  while (!g_stop) {
    int64_t id = 0;
    bool taken_over = false;
    lmm_err e = lmm_store_lease_claim(w.s, w.owner, w.lease_ms, &id, &taken_over);
    if (e == LMM_OK) {
      if (run_job(&w, id, taken_over)) break;
      continue;
    }
    if (e != LMM_ERR_NOTFOUND)
      cli_err(c, "claiming a campaign: %s (trying again)", lmm_store_errmsg(w.s));
    else if (w.exit_when_idle)
      break;
    nap(IDLE_POLL_MS);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  fprintf(stderr, "lwm2m-mbms: worker %s: stopped\n", w.owner);
out:
  lmm_store_close(w.s);
  return rc ? rc : cli_finish_output(c, 0);
}
