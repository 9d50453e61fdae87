/* fw_cmd.c - "lwm2m-mbms deliver GROUP --firmware FILE" (a firmware campaign: lmm_fwc) and
 * "lwm2m-mbms cancel": options, the image file, the run with its progress, signals and cancel
 * requests from the store, then the report and the exit status. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* A blob to a group is at most 64 MiB (docs/protocol.md 5.1); a unicast pull is served by
 * Block2, whose block numbers end at 2^20 blocks of 1024 bytes. Push has no smaller bound. */
#define FW_MAX_GROUP   (64u << 20)
#define FW_MAX_UNICAST (1u << 30)

/* ------------------------------------------------------------------ options */

typedef struct fw_opts {
  cli_run_opts ro;
  const char *file, *blob_listen, *blob_host;
  lmm_path_kind via; /* LMM_VIA_NONE: the group's type */
  int method;        /* -1: not given (push) */
  long fragment_size, fec, rounds, window_s, grace_ms, update_wait_ms, update_deadline_s;
  double rate; /* bytes per second; 0 not given */
  size_t wave_count;
  double wave_percent, success, error; /* shares 0..1; -1 not given */
  bool skip_gm;
  const char *pkg_version;
  const char *expect_version;
  /* The first option given that only a group path uses, and one only unicast uses. */
  const char *group_only, *unicast_only;
  /* --objects: loaded like an operation's, so that a broken directory fails every deliver the
   * same way; the firmware path itself only touches object 5, checked by the library. */
  const char *obj_dirs[CLI_MAX_OBJECT_DIRS];
  size_t n_obj_dirs;
} fw_opts;

enum {
  F_FIRMWARE = 400,
  F_VIA,
  F_METHOD,
  F_FRAGMENT,
  F_FEC,
  F_RATE,
  F_WINDOW,
  F_GRACE,
  F_ROUNDS,
  F_WAVE,
  F_SUCCESS,
  F_ERROR,
  F_UPD_WAIT,
  F_UPD_DEADLINE,
  F_SKIPGM,
  F_ALISTEN,
  F_AURI,
  F_NLISTEN,
  F_NURL,
  F_COAP_BIND,
  F_WAIT,
  F_JSON,
  F_BLISTEN,
  F_BHOST,
  F_PKGVER,
  F_EXPECTVER,
  F_OBJECTS,
  F_OPERATION /* an operation campaign's flag */
};

/* A whole number from lo to hi; the error names the flag and the value. */
static int parse_long(const cli *c, const char *flag, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi)
    return cli_usage(c, "--%s: '%s' is not a whole number from %ld to %ld", flag, s, lo, hi);
  *out = v;
  return 0;
}

/* "250000", "500k", "1.5M", "1G": bytes per second (k = 1000). */
static int parse_rate(const cli *c, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end != s && (*end == 'k' || *end == 'K'))
    v *= 1e3, end++;
  else if (end != s && *end == 'M')
    v *= 1e6, end++;
  else if (end != s && *end == 'G')
    v *= 1e9, end++;
  if (end == s || *end || !isfinite(v) || v < 100 || v > 1e10 || s[0] == '-' || s[0] == ' ')
    return cli_usage(c,
                     "--rate: '%s' is not bytes per second from 100 to 10G (e.g. 250000, 500k, "
                     "2M)",
                     s);
  *out = v;
  return 0;
}

/* A share: "0.9" (0 to 1) or "90%" (0 to 100). */
static int parse_share(const cli *c, const char *flag, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  bool pct = end != s && *end == '%';
  if (pct) v /= 100, end++;
  if (end == s || *end || !isfinite(v) || v < 0 || v > 1 || s[0] == ' ')
    return cli_usage(c, "--%s: '%s' is not a share: 0 to 1, or a percentage like 90%%", flag, s);
  *out = v;
  return 0;
}

/* "N" members, or "P%" of them. */
static int parse_wave(const cli *c, const char *s, fw_opts *f) {
  char *end;
  double v = strtod(s, &end);
  if (end != s && *end == '%' && !end[1] && isfinite(v) && v > 0 && v <= 100 && s[0] != ' ') {
    f->wave_percent = v, f->wave_count = 0;
    return 0;
  }
  long n;
  errno = 0;
  n = strtol(s, &end, 10);
  if (end != s && !*end && !errno && n >= 1 && n <= 10000000 && s[0] != ' ' && s[0] != '+') {
    f->wave_count = (size_t)n, f->wave_percent = 0;
    return 0;
  }
  return cli_usage(c,
                   "--wave: '%s' is neither a number of members (1 or more) nor a percentage "
                   "(e.g. 10%%)",
                   s);
}

static int parse_fw_opts(cli *c, int argc, char **args, fw_opts *f, int *first) {
  static const struct option opts[] = {{"firmware", required_argument, 0, F_FIRMWARE},
                                       {"via", required_argument, 0, F_VIA},
                                       {"method", required_argument, 0, F_METHOD},
                                       {"fragment-size", required_argument, 0, F_FRAGMENT},
                                       {"fec", required_argument, 0, F_FEC},
                                       {"rate", required_argument, 0, F_RATE},
                                       {"window", required_argument, 0, F_WINDOW},
                                       {"grace", required_argument, 0, F_GRACE},
                                       {"grace-ms", required_argument, 0, F_GRACE},
                                       {"rounds", required_argument, 0, F_ROUNDS},
                                       {"wave", required_argument, 0, F_WAVE},
                                       {"success-threshold", required_argument, 0, F_SUCCESS},
                                       {"error-threshold", required_argument, 0, F_ERROR},
                                       {"update-wait", required_argument, 0, F_UPD_WAIT},
                                       {"update-deadline", required_argument, 0, F_UPD_DEADLINE},
                                       {"skip-group-mgmt", no_argument, 0, F_SKIPGM},
                                       {"pkg-version", required_argument, 0, F_PKGVER},
                                       {"expect-version", required_argument, 0, F_EXPECTVER},
                                       {"answer-listen", required_argument, 0, F_ALISTEN},
                                       {"answer-uri", required_argument, 0, F_AURI},
                                       {"notify-listen", required_argument, 0, F_NLISTEN},
                                       {"notify-url", required_argument, 0, F_NURL},
                                       {"coap-bind", required_argument, 0, F_COAP_BIND},
                                       {"wait", required_argument, 0, F_WAIT},
                                       {"json", no_argument, 0, F_JSON},
                                       {"blob-listen", required_argument, 0, F_BLISTEN},
                                       {"blob-host", required_argument, 0, F_BHOST},
                                       {"objects", required_argument, 0, F_OBJECTS},
                                       {"read", required_argument, 0, F_OPERATION},
                                       {"write", required_argument, 0, F_OPERATION},
                                       {"execute", required_argument, 0, F_OPERATION},
                                       {"write-attr", required_argument, 0, F_OPERATION},
                                       {"discover", required_argument, 0, F_OPERATION},
                                       {"format", required_argument, 0, F_OPERATION},
                                       {"no-repair", no_argument, 0, F_OPERATION},
                                       {0, 0, 0, 0}};
  f->via = LMM_VIA_NONE;
  f->method = -1;
  f->fragment_size = f->fec = f->rounds = f->window_s = f->grace_ms = -1;
  f->update_wait_ms = f->update_deadline_s = -1;
  f->success = f->error = -1;
  optind = 0, opterr = 0;
  int o, li = -1, rc = 0;
  char *end;
  while (!rc && (o = getopt_long(argc, args, "", opts, &li)) != -1) {
    const char *name = o == '?' || o == ':' ? NULL : opts[li].name;
    if (o == F_FRAGMENT || o == F_FEC || o == F_RATE || o == F_ROUNDS || o == F_WINDOW ||
        o == F_GRACE || o == F_PKGVER)
      f->group_only = f->group_only ? f->group_only : name;
    if (o == F_METHOD || o == F_BLISTEN || o == F_BHOST || o == F_EXPECTVER)
      f->unicast_only = f->unicast_only ? f->unicast_only : name;
    switch (o) {
    case F_FIRMWARE:
      if (f->file) return cli_usage(c, "--firmware: give one file only");
      f->file = optarg;
      break;
    case F_VIA:
      if (!cli_parse_via(optarg, &f->via))
        rc = cli_usage(c, "--via: '%s' is not mbms, multicast or unicast", optarg);
      break;
    case F_METHOD:
      if (!strcmp(optarg, "push"))
        f->method = LMM_FWC_PUSH;
      else if (!strcmp(optarg, "pull"))
        f->method = LMM_FWC_PULL;
      else if (!strcmp(optarg, "auto"))
        f->method = LMM_FWC_AUTO;
      else
        rc = cli_usage(c, "--method: '%s' is not push, pull or auto", optarg);
      break;
    case F_FRAGMENT:
      rc = parse_long(c, name, optarg, 16, 1024, &f->fragment_size);
      break;
    case F_FEC:
      rc = parse_long(c, name, optarg, 0, 1024, &f->fec);
      break;
    case F_RATE:
      rc = parse_rate(c, optarg, &f->rate);
      break;
    case F_WINDOW:
      rc = parse_long(c, name, optarg, 1, 86400, &f->window_s);
      break;
    case F_GRACE:
      rc = parse_long(c, name, optarg, 0, 3600000, &f->grace_ms);
      break;
    case F_ROUNDS:
      rc = parse_long(c, name, optarg, 1, 100, &f->rounds);
      break;
    case F_WAVE:
      rc = parse_wave(c, optarg, f);
      break;
    case F_SUCCESS:
      rc = parse_share(c, name, optarg, &f->success);
      break;
    case F_ERROR:
      rc = parse_share(c, name, optarg, &f->error);
      break;
    case F_UPD_WAIT:
      rc = parse_long(c, name, optarg, 0, 3600000, &f->update_wait_ms);
      break;
    case F_UPD_DEADLINE:
      rc = parse_long(c, name, optarg, 1, 7 * 86400, &f->update_deadline_s);
      break;
    case F_SKIPGM:
      f->skip_gm = true;
      break;
    case F_PKGVER: {
      size_t n = strlen(optarg);
      bool ok = n >= 1 && n <= 32;
      for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)optarg[i]) || strchr("._-+", optarg[i]);
      if (!ok)
        rc = cli_usage(c, "--pkg-version: '%s' is not 1 to 32 of letters, digits and . _ - +",
                       optarg);
      f->pkg_version = optarg;
      break;
    }
    case F_EXPECTVER:
      /* /5/0/7 is a String of at most 255 bytes: a longer one can never match. */
      if (!*optarg || strlen(optarg) > 255)
        rc = cli_usage(c, "--expect-version: '%s' is not 1 to 255 characters", optarg);
      f->expect_version = optarg;
      break;
    case F_ALISTEN:
      f->ro.answer_listen = optarg;
      break;
    case F_AURI:
      if (strncmp(optarg, "coap://", 7) && strncmp(optarg, "coaps://", 8))
        rc = cli_usage(c, "--answer-uri: '%s' is not a coap:// or coaps:// URI", optarg);
      f->ro.answer_uri = optarg;
      break;
    case F_NLISTEN:
      f->ro.notify_listen = optarg;
      break;
    case F_COAP_BIND:
      f->ro.coap_bind = optarg;
      break;
    case F_NURL:
      if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
        rc = cli_usage(c, "--notify-url: '%s' is not an http(s) URL", optarg);
      f->ro.notify_url = optarg;
      break;
    case F_WAIT:
      f->ro.wait_s = strtod(optarg, &end);
      if (*end || end == optarg || !(f->ro.wait_s >= 0) || f->ro.wait_s > 7 * 86400)
        rc = cli_usage(c, "--wait: '%s' is not a number of seconds from 0 to 604800", optarg);
      break;
    case F_JSON:
      c->json = true;
      break;
    case F_BLISTEN:
      f->blob_listen = optarg;
      break;
    case F_BHOST:
      if (!*optarg) rc = cli_usage(c, "--blob-host: empty host");
      f->blob_host = optarg;
      break;
    case F_OBJECTS:
      if (f->n_obj_dirs == CLI_MAX_OBJECT_DIRS)
        rc = cli_usage(c, "--objects: at most %d directories", CLI_MAX_OBJECT_DIRS);
      else
        f->obj_dirs[f->n_obj_dirs++] = optarg;
      break;
    case F_OPERATION:
      rc = cli_usage(c, "--%s is an operation's option: it cannot be combined with --firmware",
                     name);
      break;
    default:
      if (optopt) /* a known option without its value */
        rc = cli_usage(c, "%s needs a value", args[optind - 1]);
      else
        rc = cli_usage(c, "unknown or incomplete option '%s'", args[optind - 1]);
    }
  }
  if (rc || (rc = cli_take_coap_bind(c, &f->ro))) return rc;
  if (!f->file) return cli_usage(c, "missing --firmware FILE");
  if ((f->success >= 0 || f->error >= 0) && !f->wave_count && !(f->wave_percent > 0))
    return cli_usage(c, "--%s judges the first wave: give --wave N or --wave P%% too",
                     f->success >= 0 ? "success-threshold" : "error-threshold");
  *first = optind;
  return 0;
}

/* ------------------------------------------------------------------ the image */

/* The whole file, owned; a usage error naming the file when it cannot serve as an image. */
static int read_image(const cli *c, const char *path, size_t max, uint8_t **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) return cli_usage(c, "--firmware: cannot read '%s': %s", path, strerror(errno));
  int rc = 0;
  uint8_t *buf = NULL;
  if (fstat(fd, &sb) != 0) {
    rc = cli_usage(c, "--firmware: cannot read '%s': %s", path, strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) {
    rc = cli_usage(c, "--firmware: '%s' is not a regular file", path);
  } else if (sb.st_size == 0) {
    rc = cli_usage(c, "--firmware: '%s' is empty: a firmware package has at least one byte", path);
  } else if ((uint64_t)sb.st_size > max) {
    rc = cli_usage(c, "--firmware: '%s' has %lld bytes; this path carries at most %zu (%zu MiB)",
                   path, (long long)sb.st_size, max, max >> 20);
  } else if (!(buf = malloc((size_t)sb.st_size))) {
    cli_err(c, "--firmware: no memory for %lld bytes", (long long)sb.st_size);
    rc = EXIT_SOME_FAILED;
  } else {
    size_t got = 0, want = (size_t)sb.st_size;
    while (got < want) {
      ssize_t k = read(fd, buf + got, want - got);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        rc = cli_usage(c, "--firmware: cannot read '%s': %s", path,
                       k < 0 ? strerror(errno) : "it got shorter while being read");
        break;
      }
      got += (size_t)k;
    }
  }
  close(fd);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf, *len = (size_t)sb.st_size;
  return 0;
}

/* ------------------------------------------------------------------ the run */

typedef struct fw_run {
  cli *c;
  lmm_fwc *fwc;
  bool done;
  lmm_err result;
} fw_run;

static void on_fw_done(void *user, lmm_fwc *fwc, lmm_err result) {
  (void)fwc;
  fw_run *r = user;
  r->done = true, r->result = result;
}

/* Progress and phase come from the campaign's stats: only the end is needed. */
static const lmm_fwc_handlers fw_handlers = {NULL, NULL, on_fw_done};

/* The SCEF's word that the MB2-U delivery was triggered is kept with the campaign; what each
 * member got, its answers say. */
static void on_delivery(void *user, const char *txn, bool delivered) {
  fw_run *r = user;
  if (r && r->fwc) lmm_fwc_t8_notified(r->fwc, txn, delivered);
}

static const lmm_t8_notifier_handlers notifier_handlers = {on_delivery, NULL};

/* Signals: the first one asks the loop to cancel; the second one ends the process at once
 * (default action), the store staying as its last transaction left it. */
static volatile sig_atomic_t g_signals;

static void on_signal(int sig) {
  if (++g_signals >= 2) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

static char *human_bytes(uint64_t b, char *buf, size_t cap) {
  if (b < 10000)
    snprintf(buf, cap, "%llu B", (unsigned long long)b);
  else if (b < 10000000)
    snprintf(buf, cap, "%.1f kB", (double)b / 1e3);
  else
    snprintf(buf, cap, "%.1f MB", (double)b / 1e6);
  return buf;
}

static void progress_line(const fw_run *r, size_t n) {
  lmm_fwc_stats st;
  lmm_fwc_get_stats(r->fwc, &st);
  char g[24], u[24];
  fprintf(stderr, "\r\033[K%s: %zu/%zu members ended, %zu updated, %zu failed",
          lmm_fwc_phase_name(st.phase), n - st.pending, n, st.updated, st.failed);
  if (st.held) fprintf(stderr, ", %zu held", st.held);
  if (st.cancelled) fprintf(stderr, ", %zu cancelled", st.cancelled);
  if (st.refused) fprintf(stderr, ", %zu refused", st.refused);
  fprintf(stderr, "; %s to the group, %s by unicast", human_bytes(st.bytes_group, g, sizeof g),
          human_bytes(st.bytes_unicast, u, sizeof u));
}

/* The members' reports as store outcomes, for the shared report printer. Owned array whose
 * strings are borrowed from the campaign (free() the array only). */
static lmm_outcome *outcomes_of(const lmm_fwc *fwc, size_t *n) {
  const lmm_fwc_member *m = lmm_fwc_members(fwc, n);
  lmm_outcome *o = calloc(*n ? *n : 1, sizeof *o);
  if (!o) return NULL;
  for (size_t i = 0; i < *n; i++) {
    lmm_outcome_init(&o[i]);
    o[i].ep = m[i].member->ep, o[i].oid = m[i].member->oid;
    o[i].via = m[i].via;
    o[i].done = m[i].end != LMM_FWC_PENDING;
    o[i].err = m[i].err;
    o[i].latency_ms = m[i].elapsed_ms;
    o[i].error = (char *)m[i].error;
    o[i].fw_end = m[i].end, o[i].fw_state = m[i].state, o[i].fw_result = m[i].update_result;
    o[i].fw_wave = m[i].wave, o[i].fw_pulled = m[i].pulled;
    o[i].fw_bytes_unicast = m[i].bytes_unicast;
    o[i].fw_missed = m[i].missed_first, o[i].fw_repaired = m[i].fragments_repaired;
    o[i].gm_step = m[i].gm_step, o[i].gm_code = m[i].gm_code;
    o[i].gm_error = (char *)m[i].gm_error;
    o[i].fw_pkg_version = (char *)m[i].pkg_version;
  }
  return o;
}

/* How long a cancelled campaign may take to reach its end before --wait gives up on it. */
#define CANCEL_GRACE_MS 30000

/* Runs the started campaign to its end (or --wait), then prints the report; the exit status. */
static int fw_wait_and_report(fw_run *r, lmm_store *s, const fw_opts *f, size_t n) {
  cli *c = r->c;
  int64_t id = lmm_fwc_id(r->fwc);
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once with EINTR */
  sigemptyset(&sa.sa_mask);
  g_signals = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  int64_t start = cli_mono_ms(), last_prog = 0, next_poll = start + 1000;
  int64_t deadline = f->ro.wait_s > 0 ? start + (int64_t)(f->ro.wait_s * 1000) : INT64_MAX;
  bool cancelled = false, timed_out = false;
  while (!r->done) {
    lmm_err e = lmm_ctx_run_once(c->ctx, 100);
    if (e != LMM_OK && !r->done) {
      cli_err(c, "campaign %lld: the event loop failed: %s", (long long)id, lmm_strerror(e));
      break;
    }
    int64_t now = cli_mono_ms();
    const char *why = NULL;
    if (g_signals && !cancelled) why = "interrupted (a second signal aborts at once)";
    if (!why && !cancelled && now >= next_poll) {
      bool req = false;
      next_poll = now + 1000;
      if (lmm_store_campaign_cancel_requested(s, id, &req) == LMM_OK && req)
        why = "cancel requested ('lwm2m-mbms cancel')";
    }
    if (!why && !cancelled && now >= deadline) {
      why = "--wait passed";
      timed_out = true;
    }
    if (why && !r->done) {
      if (c->progress) fputs("\r\033[K", stderr);
      cli_err(c, "campaign %lld: %s: cancelling", (long long)id, why);
      lmm_fwc_cancel(r->fwc);
      cancelled = true;
      deadline = now + CANCEL_GRACE_MS; /* a cancel that never ends is not waited for forever */
    } else if (cancelled && now >= deadline) {
      break;
    }
    if (c->progress && (now - last_prog >= 250 || r->done)) {
      last_prog = now;
      progress_line(r, n);
    }
  }
  if (c->progress) fputs("\r\033[K", stderr);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);

  lmm_fwc_stats st;
  lmm_fwc_get_stats(r->fwc, &st);
  size_t no = 0;
  lmm_outcome *o = outcomes_of(r->fwc, &no);
  /* The row as stored (times, TMGI, summary); the members and figures from the campaign
   * itself, which holds them even when the last store write failed. */
  lmm_campaign_info info = {0};
  if (lmm_store_campaign_get(s, id, &info) != LMM_OK) {
    lmm_campaign_info_clear(&info);
    info.id = id, info.kind = LMM_CK_FIRMWARE, info.via = f->via;
    info.state = r->done ? LMM_CS_DONE : LMM_CS_DELIVERING;
  }
  if (o) cli_print_fw_report(c, c->json ? CLI_REPORT_JSON : CLI_REPORT_TABLE, &info, o, no, &st);
  const char *err = lmm_fwc_error(r->fwc);
  int rc;
  if (!o) {
    cli_err(c, "campaign %lld: no memory for the report", (long long)id);
    rc = EXIT_SOME_FAILED;
  } else if (!r->done) {
    cli_err(c, "campaign %lld did not end %s; see 'lwm2m-mbms report %lld'", (long long)id,
            cancelled ? "within 30 s of its cancel" : "(the event loop failed)", (long long)id);
    rc = EXIT_TIMEOUT;
  } else if (r->result != LMM_OK) {
    cli_err(c, "campaign %lld could not run: %s", (long long)id,
            err ? err : lmm_strerror(r->result));
    rc = cli_exit_of(r->result) == EXIT_USAGE ? EXIT_REFUSED : cli_exit_of(r->result);
  } else if (timed_out) {
    rc = EXIT_TIMEOUT;
  } else {
    if (err) cli_err(c, "campaign %lld: %s", (long long)id, err);
    cli_fw_totals t;
    cli_fw_count(o, no, &t);
    rc = t.updated == t.members ? EXIT_ALL_OK : EXIT_SOME_FAILED;
  }
  free(o);
  lmm_campaign_info_clear(&info);
  return rc;
}

static int start_blob_server(cli *c, const fw_opts *f, lmm_blob_server **out) {
  lmm_blob_server_config bc = LMM_BLOB_SERVER_CONFIG_DEFAULT;
  char addr[64] = "127.0.0.1";
  if (f->blob_listen && !cli_split_hostport(f->blob_listen, addr, sizeof addr, &bc.port))
    return cli_usage(c, "--blob-listen: '%s' is not ADDR:PORT", f->blob_listen);
  bc.bind_addr = addr;
  bc.advertise_host = f->blob_host;
  lmm_err e = lmm_blob_server_new(c->ctx, &bc, out);
  if (e == LMM_ERR_ARG)
    return cli_usage(c,
                     "--blob-listen: cannot serve blobs on %s port %u (a numeric address; a "
                     "wildcard one needs --blob-host)",
                     addr, bc.port);
  if (e != LMM_OK) {
    cli_err(c, "cannot serve blobs on %s port %u: %s", addr, bc.port, lmm_strerror(e));
    return EXIT_REFUSED;
  }
  return 0;
}

int cmd_fw_deliver(cli *c, int argc, char **argv) {
  c->cmd = "deliver";
  char **args = cli_with_name("deliver", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  fw_opts f = {0};
  int first = 0, rc = parse_fw_opts(c, argc + 1, args, &f, &first);
  lmm_store *s = NULL;
  lmm_group_info g = {0};
  lmm_member *m = NULL;
  size_t n = 0, len = 0;
  uint8_t *image = NULL;
  cli_engines eng = {0};
  lmm_blob_server *blobs = NULL;
  fw_run r = {.c = c};
  if (rc || (rc = cli_objects_load(c, f.obj_dirs, f.n_obj_dirs))) goto out;
  if (argc + 1 - first != 1) {
    rc = argc + 1 - first < 1 ? cli_usage(c, "missing GROUP")
                              : cli_usage(c, "too many arguments ('%s')", args[first + 1]);
    goto out;
  }
  const char *group = args[first];
  /* The file before the store: a wrong path is the likeliest mistake, and costs nothing. */
  bool to_group = f.via == LMM_VIA_MBMS || f.via == LMM_VIA_MULTICAST;
  if ((rc = read_image(c, f.file, to_group ? FW_MAX_GROUP : FW_MAX_UNICAST, &image, &len)))
    goto out;
  if ((rc = cli_store_open(c, &s)) || (rc = cli_group_get(c, s, group, &g))) goto out;
  lmm_path_kind via;
  if ((rc = cli_pick_via(c, &g, f.via, &via))) goto out;
  to_group = via != LMM_VIA_UNICAST;
  if (to_group && len > FW_MAX_GROUP) {
    rc = cli_usage(c, "--firmware: '%s' has %zu bytes; a blob to a group is at most %u (64 MiB)",
                   f.file, len, FW_MAX_GROUP);
    goto out;
  }
  if (to_group && f.unicast_only) {
    rc = cli_usage(c, "--%s is for unicast delivery (--via unicast); group '%s' goes via %s",
                   f.unicast_only, group, cli_via_name(via));
    goto out;
  }
  if (!to_group && f.group_only) {
    rc = cli_usage(c, "--%s is for mbms and multicast delivery, not unicast", f.group_only);
    goto out;
  }
  if ((f.blob_listen || f.blob_host) && f.method != LMM_FWC_PULL && f.method != LMM_FWC_AUTO) {
    rc = cli_usage(c, "--%s serves pulls: give --method pull or --method auto",
                   f.blob_listen ? "blob-listen" : "blob-host");
    goto out;
  }
  if ((rc = cli_group_members(c, s, group, &m, &n))) goto out;
  size_t fw_members = 0;
  for (size_t i = 0; i < n; i++)
    fw_members += m[i].oid == 5;
  if (!fw_members) {
    char id[96];
    rc = cli_usage(c,
                   "no member of group '%s' is a Firmware Update object (Object ID 5); members "
                   "are like %s",
                   group, lmm_member_id_format(&m[0], id, sizeof id));
    goto out;
  }
  if (f.wave_count > n) {
    rc = cli_usage(c, "--wave: %zu is more than the %zu members of group '%s'", f.wave_count, n,
                   group);
    goto out;
  }
  if ((rc = cli_engines_setup(c, &eng, via, &f.ro, &notifier_handlers, &r))) goto out;
  if (!to_group && (f.method == LMM_FWC_PULL || f.method == LMM_FWC_AUTO) &&
      (rc = start_blob_server(c, &f, &blobs)))
    goto out;

  lmm_fwc_deps deps = {c->ctx, eng.uni, eng.t8, eng.ans, blobs, s};
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = m, cfg.n_members = n;
  cfg.image = image, cfg.len = len;
  cfg.via = via;
  if (f.method >= 0) cfg.method = f.method;
  if (f.fragment_size >= 0) cfg.fragment_size = (uint32_t)f.fragment_size;
  if (f.fec >= 0) cfg.fec_stride = (uint32_t)f.fec;
  if (f.rate > 0) cfg.rate_bps = (uint64_t)f.rate;
  if (f.window_s >= 0) cfg.window_s = f.window_s;
  if (f.grace_ms >= 0) cfg.grace_ms = f.grace_ms;
  if (f.rounds >= 0) cfg.max_rounds = (int)f.rounds;
  cfg.wave_count = f.wave_count, cfg.wave_percent = f.wave_percent;
  if (f.success >= 0) cfg.success_threshold = f.success;
  if (f.error >= 0) cfg.error_threshold = f.error;
  if (f.update_wait_ms >= 0) cfg.update_wait_ms = f.update_wait_ms;
  if (f.update_deadline_s >= 0) cfg.update_deadline_ms = f.update_deadline_s * 1000;
  cfg.skip_group_mgmt = f.skip_gm;
  cfg.version = f.pkg_version;
  cfg.expect_version = f.expect_version;
  c->last_error[0] = '\0';
  lmm_err e;
  if ((e = lmm_fwc_new(&deps, &cfg, &fw_handlers, &r, &r.fwc)) != LMM_OK) {
    if (e == LMM_ERR_ARG)
      rc = cli_usage(c, "the library refused the firmware campaign: %s",
                     *c->last_error ? c->last_error : lmm_strerror(e));
    else
      rc = cli_store_fail(c, s, "creating the firmware campaign", e);
    goto out;
  }
  f.via = via;
  if (c->progress)
    fprintf(stderr, "campaign %lld: firmware '%s' (%zu bytes) to %zu members of %s via %s%s\n",
            (long long)lmm_fwc_id(r.fwc), f.file, len, n, group, cli_via_name(via),
            via != LMM_VIA_UNICAST       ? ""
            : cfg.method == LMM_FWC_PULL ? " (pull)"
            : cfg.method == LMM_FWC_AUTO ? " (push or pull)"
                                         : " (push)");
  if ((e = lmm_fwc_start(r.fwc)) != LMM_OK) {
    cli_err(c, "cannot start campaign %lld: %s", (long long)lmm_fwc_id(r.fwc), lmm_strerror(e));
    rc = cli_exit_of(e) == EXIT_USAGE ? EXIT_REFUSED : cli_exit_of(e);
    goto out;
  }
  rc = fw_wait_and_report(&r, s, &f, n);
out:
  lmm_fwc_free(r.fwc);
  lmm_blob_server_free(blobs); /* after the campaign that serves from it */
  cli_engines_free(&eng);
  lmm_members_free(m, n);
  lmm_group_info_clear(&g);
  lmm_store_close(s);
  free(image);
  free(args);
  return rc;
}

/* ------------------------------------------------------------------ cancel */

int cmd_cancel(cli *c, int argc, char **argv) {
  c->cmd = "cancel";
  argc = cli_take_json(c, argc, argv);
  for (int i = 0; i < argc; i++)
    if (argv[i][0] == '-' && argv[i][1]) return cli_usage(c, "unknown option '%s'", argv[i]);
  if (argc != 1) return cli_usage(c, argc < 1 ? "missing CAMPAIGN" : "too many arguments");
  int64_t cid;
  int rc = cli_parse_campaign_id(c, argv[0], &cid);
  if (rc) return rc;
  long long id = cid;
  lmm_store *s = NULL;
  if ((rc = cli_store_open(c, &s))) return rc;
  lmm_campaign_info info = {0};
  if ((rc = cli_campaign_get(c, s, id, &info))) goto out;
  /* Only a firmware campaign polls the flag: on another, setting it would promise a stop
   * that never comes. */
  if (info.kind != LMM_CK_FIRMWARE) {
    rc = cli_usage(c,
                   "campaign %lld is an operation campaign: only firmware campaigns can be "
                   "cancelled",
                   id);
    goto out;
  }
  bool already = info.cancel_requested;
  lmm_err e = lmm_store_campaign_request_cancel(s, id);
  if (e == LMM_ERR_STATE) {
    rc = cli_usage(c,
                   "campaign %lld has finished (%s): nothing to cancel; see 'lwm2m-mbms "
                   "report %lld'",
                   id, cli_state_name(info.state), id);
    goto out;
  }
  if (e != LMM_OK) {
    rc = cli_store_fail(c, s, "requesting the cancel", e);
    goto out;
  }
  if (c->json) {
    printf("{\"id\":%lld,\"group\":", id);
    cli_json_str(stdout, info.group);
    printf(",\"state\":\"%s\",\"cancelRequested\":true,\"alreadyRequested\":%s}\n",
           cli_state_name(info.state), already ? "true" : "false");
  } else if (already)
    printf("campaign %lld: cancel was already requested; the deliver running it stops at its "
           "next step\n",
           id);
  else
    printf("campaign %lld (firmware to group %s, %s): cancel requested; the deliver running it "
           "stops within a second or so, members not yet updated end cancelled\n",
           id, info.group ? info.group : "?", cli_state_name(info.state));
out:
  lmm_campaign_info_clear(&info);
  lmm_store_close(s);
  return rc;
}
