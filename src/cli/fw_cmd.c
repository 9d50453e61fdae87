/* fw_cmd.c - "lwm2m-mbms deliver GROUP --firmware FILE" (a firmware campaign: lmm_fwc): the
 * engines and the blob server, the run with its progress, signals and cancel requests from
 * the store, then the report and the exit status. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
  lmm_fwc_members(fwc, n);
  lmm_outcome *o = calloc(*n ? *n : 1, sizeof *o);
  for (size_t i = 0; o && i < *n; i++)
    lmm_fwc_outcome(fwc, i, &o[i]); /* as the store has it: `report N` prints the same */
  return o;
}

/* How long a cancelled campaign may take to reach its end before --wait gives up on it. */
#define CANCEL_GRACE_MS 30000

/* Runs the started campaign to its end (or --wait), then prints the report; the exit status. */
static int fw_wait_and_report(fw_run *r, lmm_store *s, const cli_fw_opts *f, size_t n) {
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

static int start_blob_server(cli *c, const cli_fw_opts *f, lmm_blob_server **out) {
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
  cli_fw_opts f = {0};
  int first = 0, rc = cli_fw_opts_parse(c, argc + 1, args, &f, &first);
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
  if ((rc = cli_fw_read_image(c, f.file, to_group ? CLI_FW_MAX_GROUP : CLI_FW_MAX_UNICAST, &image,
                              &len)))
    goto out;
  if ((rc = cli_store_open(c, &s)) || (rc = cli_group_get(c, s, group, &g))) goto out;
  lmm_path_kind via;
  if ((rc = cli_pick_via(c, &g, f.via, &via))) goto out;
  to_group = via != LMM_VIA_UNICAST;
  if (to_group && len > CLI_FW_MAX_GROUP) {
    rc = cli_usage(c, "--firmware: '%s' has %zu bytes; a blob to a group is at most %u (64 MiB)",
                   f.file, len, CLI_FW_MAX_GROUP);
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
  if (f.fec >= 0 && f.fec_code == LMM_FEC_RS) {
    rc =
        cli_usage(c, "--fec is the XOR stride: with --fec-code rs give --fec-block and --fec-loss");
    goto out;
  }
  if ((f.fec_block >= 0 || f.fec_loss >= 0) && (f.fec_code == LMM_FEC_XOR || f.fec >= 0)) {
    rc = cli_usage(c, "--%s is for --fec-code rs, not xor",
                   f.fec_block >= 0 ? "fec-block" : "fec-loss");
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
  if ((rc = cli_check_protect(c, f.protect, via, m, n))) goto out;
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
  if (f.fec >= 0) cfg.fec_stride = (uint32_t)f.fec, cfg.fec_code = LMM_FEC_XOR;
  if (f.fec_code >= 0) cfg.fec_code = (lmm_fec_code)f.fec_code;
  if (f.fec_block >= 0) cfg.fec_block = (uint32_t)f.fec_block;
  if (f.fec_loss >= 0) cfg.fec_loss = f.fec_loss;
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
  cfg.protect = f.protect;
  cfg.version = f.pkg_version;
  cfg.expect_version = f.expect_version;
  /* Absolute, so that 'resume' finds the image from any directory. */
  char *abs = realpath(f.file, NULL);
  cfg.image_name = abs ? abs : f.file;
  c->last_error[0] = '\0';
  lmm_err e;
  e = lmm_fwc_new(&deps, &cfg, &fw_handlers, &r, &r.fwc);
  free(abs);
  if (e != LMM_OK) {
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

int cli_fw_resume(cli *c, lmm_store *s, const lmm_campaign_info *info, const cli_run_opts *ro,
                  const char *file, const char *blob_listen, const char *blob_host) {
  long long id = (long long)info->id;
  char *stored = lmm_fwc_image_name(info);
  const char *path = file ? file : stored;
  uint8_t *image = NULL;
  size_t len = 0;
  cli_engines eng = {0};
  fw_run r = {.c = c};
  cli_fw_opts f = {.ro = *ro, .via = info->via, .blob_listen = blob_listen, .blob_host = blob_host};
  lmm_blob_server *blobs = NULL;
  bool pulls = lmm_fwc_resume_needs_blobs(info);
  int rc;
  if (!path) {
    rc = cli_usage(c, "campaign %lld is a firmware campaign: give its image with --firmware FILE",
                   id);
    goto out;
  }
  if ((blob_listen || blob_host) && !pulls) {
    rc = cli_usage(c, "--%s serves pulls: campaign %lld does not pull by unicast",
                   blob_listen ? "blob-listen" : "blob-host", id);
    goto out;
  }
  if ((rc = cli_fw_read_image(c, path,
                              info->via == LMM_VIA_UNICAST ? CLI_FW_MAX_UNICAST : CLI_FW_MAX_GROUP,
                              &image, &len)))
    goto out;
  if ((rc = cli_engines_setup(c, &eng, info->via, &f.ro, &notifier_handlers, &r))) goto out;
  /* The URI written before named the stopped process's server: pulls get a new one. */
  if (pulls && (rc = start_blob_server(c, &f, &blobs))) goto out;
  lmm_fwc_deps deps = {c->ctx, eng.uni, eng.t8, eng.ans, blobs, s};
  c->last_error[0] = '\0';
  lmm_err e = lmm_fwc_resume(&deps, info->id, image, len, &fw_handlers, &r, &r.fwc);
  const char *why = *c->last_error ? c->last_error : lmm_strerror(e);
  if (e == LMM_ERR_ARG)
    rc = cli_usage(c, "campaign %lld cannot be resumed with '%s': %s", id, path, why);
  else if (e == LMM_ERR_STATE || e == LMM_ERR_PROTO)
    rc = cli_usage(c, "campaign %lld cannot be resumed: %s", id, why);
  else if (e == LMM_ERR_NOTFOUND)
    rc = cli_usage(c, "campaign %lld: its group or members are gone", id);
  else if (e != LMM_OK)
    rc = cli_store_fail(c, s, "resuming the firmware campaign", e);
  if (e != LMM_OK) goto out;
  size_t n;
  lmm_fwc_members(r.fwc, &n);
  if (c->progress)
    fprintf(stderr, "campaign %lld: resuming firmware '%s' (%zu bytes) to %zu members via %s\n", id,
            path, len, n, cli_via_name(info->via));
  if ((e = lmm_fwc_start(r.fwc)) != LMM_OK) {
    cli_err(c, "cannot start campaign %lld: %s", id, lmm_strerror(e));
    rc = cli_exit_of(e) == EXIT_USAGE ? EXIT_REFUSED : cli_exit_of(e);
    goto out;
  }
  rc = fw_wait_and_report(&r, s, &f, n);
out:
  lmm_fwc_free(r.fwc);
  lmm_blob_server_free(blobs); /* after the campaign that serves from it */
  cli_engines_free(&eng);
  free(image);
  free(stored);
  return rc;
}
