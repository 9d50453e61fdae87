/* deliver_cmd.c - "lwm2m-mbms deliver" and "resume": their options, a campaign run over the
 * library's engines (unicast, answer receiver, T8 client and notifier) with its progress,
 * the report, and the outcome turned into the exit status. */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef cli_run_opts run_opts;

/* The engines of one campaign run and what its callbacks saw. */
typedef struct runner {
  cli *c;
  cli_engines eng;
  lmm_campaign *camp;
  bool done;
  lmm_err result;
  lmm_campaign_state state;
} runner;

static void on_state(void *user, lmm_campaign_state state) {
  ((runner *)user)->state = state;
}

static void on_done(void *user, lmm_campaign *camp, lmm_err result) {
  (void)camp;
  runner *r = user;
  r->done = true;
  r->result = result;
}

/* No on_member: progress is counted from the outcomes themselves. */
static const lmm_campaign_handlers handlers = {NULL, on_state, on_done};

static void on_delivery(void *user, const char *txn, bool delivered) {
  runner *r = user;
  if (r->camp) lmm_campaign_t8_notified(r->camp, txn, delivered);
}

static const lmm_t8_notifier_handlers notifier_handlers = {on_delivery, NULL};

static void runner_free(runner *r) {
  lmm_campaign_free(r->camp);
  r->camp = NULL;
  cli_engines_free(&r->eng);
}

static void progress_line(const runner *r) {
  size_t n = 0, done = 0, ok = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(r->camp, &n);
  for (size_t i = 0; o && i < n; i++) {
    done += o[i].done;
    ok += cli_outcome_ok(&o[i]);
  }
  lmm_answers_stats st = {0};
  if (r->eng.ans) lmm_answers_get_stats(r->eng.ans, &st);
  fprintf(stderr, "\r\033[K%s: %zu/%zu members served, %zu succeeded", cli_state_name(r->state),
          done, n, ok);
  if (r->eng.ans) fprintf(stderr, ", %llu answers", (unsigned long long)st.accepted);
}

/* Starts the campaign, waits, prints the report; the exit status. */
static int runner_run(runner *r, const run_opts *ro, cli_report_fmt fmt) {
  cli *c = r->c;
  const lmm_campaign_info *info = lmm_campaign_get_info(r->camp);
  r->state = info->state;
  lmm_err e = lmm_campaign_start(r->camp);
  if (e != LMM_OK) {
    cli_err(c, "cannot start campaign %lld: %s", (long long)info->id, lmm_strerror(e));
    return cli_exit_of(e);
  }
  long wait_ms = ro->wait_s > 0 ? (long)(ro->wait_s * 1000) : -1;
  if (c->progress) {
    size_t n = 0;
    lmm_campaign_members(r->camp, &n);
    fprintf(stderr, "campaign %lld: %s %s on %zu members of %s via %s\n", (long long)info->id,
            cli_op_name(info->op_kind), info->op_path ? info->op_path : "?", n,
            info->group ? info->group : "?", cli_via_name(info->via));
    int64_t deadline = wait_ms < 0 ? INT64_MAX : cli_mono_ms() + wait_ms, last = 0;
    while (!r->done && cli_mono_ms() < deadline) {
      lmm_ctx_run_once(c->ctx, 200);
      if (cli_mono_ms() - last >= 250 || r->done) {
        last = cli_mono_ms();
        progress_line(r);
      }
    }
    fputs("\r\033[K", stderr);
  } else {
    e = lmm_campaign_wait(r->camp, wait_ms);
    if (e != LMM_OK && e != LMM_ERR_TIMEOUT && !r->done) {
      cli_err(c, "campaign %lld: %s", (long long)info->id, lmm_strerror(e));
      return cli_exit_of(e);
    }
  }
  info = lmm_campaign_get_info(r->camp);
  size_t n = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(r->camp, &n);
  cli_print_report(c, fmt, info, o, n);
  if (!r->done) {
    cli_err(c,
            "campaign %lld did not finish within %g s (%s); continue it with 'lwm2m-mbms "
            "resume %lld'",
            (long long)info->id, ro->wait_s, cli_state_name(info->state), (long long)info->id);
    return EXIT_TIMEOUT;
  }
  if (r->result != LMM_OK) {
    cli_err(c, "campaign %lld could not run: %s", (long long)info->id,
            info->error ? info->error : lmm_strerror(r->result));
    return cli_exit_of(r->result) == EXIT_USAGE ? EXIT_REFUSED : cli_exit_of(r->result);
  }
  cli_totals t;
  cli_count(o, n, &t);
  return t.succeeded == t.members ? EXIT_ALL_OK : EXIT_SOME_FAILED;
}

/* --queue: the stored, never started campaign goes to the queue a worker claims from. Freed
 * first, so that its row is complete before anyone can claim it. */
static int queue_campaign(runner *r, lmm_store *s) {
  cli *c = r->c;
  int64_t id = lmm_campaign_get_info(r->camp)->id;
  lmm_campaign_free(r->camp);
  r->camp = NULL;
  lmm_err e = lmm_store_lease_enqueue(s, id);
  if (e != LMM_OK) return cli_store_fail(c, s, "queueing the campaign", e);
  if (c->json)
    printf("{\"id\":%lld,\"queued\":true}\n", (long long)id);
  else
    printf("campaign %lld queued\n", (long long)id);
  return cli_finish_output(c, 0);
}

/* ------------------------------------------------------------------ options */

typedef struct deliver_opts {
  run_opts ro;
  int which, n_ops;
  const char *op_arg;
  bool fmt_given, no_repair, skip_gm;
  bool queue; /* --queue: stored and queued for a worker, not run */
  lmm_protect protect;
  uint16_t fmt;
  lmm_path_kind via; /* LMM_VIA_NONE: the group's type */
  long window_s, grace_ms;
  bool firmware;       /* --firmware: the whole command goes to cmd_fw_deliver() */
  const char *fw_file; /* resume: --firmware FILE, the image of a firmware campaign */
  const char *blob_listen, *blob_host;       /* resume: where a unicast pull serves it now */
  const char *fw_flag;                       /* the first firmware-only option seen */
  const char *obj_dirs[CLI_MAX_OBJECT_DIRS]; /* --objects, in order */
  size_t n_obj_dirs;
} deliver_opts;

const struct option cli_deliver_options[] = {
    {"read", required_argument, 0, CLI_OP_READ},
    {"write", required_argument, 0, CLI_OP_WRITE},
    {"execute", required_argument, 0, CLI_OP_EXEC},
    {"write-attr", required_argument, 0, CLI_OP_ATTR},
    {"discover", required_argument, 0, CLI_OP_DISC},
    {"format", required_argument, 0, CLI_D_FORMAT},
    {"via", required_argument, 0, CLI_D_VIA},
    {"window", required_argument, 0, CLI_D_WINDOW},
    {"grace-ms", required_argument, 0, CLI_D_GRACE},
    {"grace", required_argument, 0, CLI_D_GRACE},
    {"no-repair", no_argument, 0, CLI_D_NOREPAIR},
    {"skip-group-mgmt", no_argument, 0, CLI_D_SKIPGM},
    {"objects", required_argument, 0, CLI_D_OBJECTS},
    {"protect", required_argument, 0, CLI_D_PROTECT},
    {"queue", no_argument, 0, CLI_D_QUEUE},
    CLI_RUN_OPTIONS,
    {"firmware", required_argument, 0, CLI_D_FIRMWARE},
    {"method", required_argument, 0, CLI_D_METHOD},
    {"fragment-size", required_argument, 0, CLI_D_FRAGMENT},
    {"fec", required_argument, 0, CLI_D_FEC},
    {"fec-code", required_argument, 0, CLI_D_FECCODE},
    {"fec-block", required_argument, 0, CLI_D_FECBLOCK},
    {"fec-loss", required_argument, 0, CLI_D_FECLOSS},
    {"rate", required_argument, 0, CLI_D_RATE},
    {"rounds", required_argument, 0, CLI_D_ROUNDS},
    {"wave", required_argument, 0, CLI_D_WAVE},
    {"success-threshold", required_argument, 0, CLI_D_SUCCESS},
    {"error-threshold", required_argument, 0, CLI_D_ERROR},
    {"update-wait", required_argument, 0, CLI_D_UPD_WAIT},
    {"update-deadline", required_argument, 0, CLI_D_UPD_DEADLINE},
    {"blob-listen", required_argument, 0, CLI_D_BLISTEN},
    {"blob-host", required_argument, 0, CLI_D_BHOST},
    {"pkg-version", required_argument, 0, CLI_D_PKGVER},
    {"expect-version", required_argument, 0, CLI_D_EXPECTVER},
    {0, 0, 0, 0},
};

/* Parses deliver's (all = true) or resume's options. args[0] is the command's name. */
static int parse_opts(cli *c, int argc, char **args, bool all, deliver_opts *d, int *first) {
  const struct option *opts = cli_deliver_options;
  d->via = LMM_VIA_NONE, d->window_s = -1, d->grace_ms = -1;
  cli_getopt_start();
  int o, li = -1;
  char *end;
  while ((o = cli_getopt(c, argc, args, "", opts, &li)) != -1) {
    if (o == CLI_GETOPT_ERR) return EXIT_USAGE;
    if (!all && o == CLI_D_FIRMWARE) {
      d->fw_file = optarg;
      continue;
    }
    if (!all && (o == CLI_D_BLISTEN || o == CLI_D_BHOST)) {
      if (o == CLI_D_BHOST && !*optarg) return cli_usage(c, "--blob-host: empty host");
      *(o == CLI_D_BLISTEN ? &d->blob_listen : &d->blob_host) = optarg;
      continue;
    }
    if (!all && !CLI_IS_RUN_OPTION(o))
      return cli_usage(c, "--%s is for deliver, not resume", opts[li].name);
    if (CLI_IS_RUN_OPTION(o)) {
      int rc = cli_run_opt(c, o, optarg, &d->ro);
      if (rc) return rc;
      continue;
    }
    if (CLI_IS_FW_OPTION(o)) {
      if (!d->fw_flag) d->fw_flag = opts[li].name;
      continue;
    }
    switch (o) {
    case CLI_OP_READ:
    case CLI_OP_WRITE:
    case CLI_OP_EXEC:
    case CLI_OP_ATTR:
    case CLI_OP_DISC:
      d->which = o, d->op_arg = optarg, d->n_ops++;
      break;
    case CLI_D_FORMAT:
      if (!cli_parse_format(optarg, &d->fmt))
        return cli_usage(c, "--format: '%s' is not text, senml-json, tlv or opaque", optarg);
      d->fmt_given = true;
      break;
    case CLI_D_VIA:
      if (!cli_parse_via(optarg, &d->via))
        return cli_usage(c, "--via: '%s' is not mbms, multicast or unicast", optarg);
      break;
    case CLI_D_WINDOW:
      d->window_s = strtol(optarg, &end, 10);
      if (*end || end == optarg || d->window_s < 0 || d->window_s > 86400)
        return cli_usage(c, "--window: '%s' is not a number of seconds from 0 to 86400", optarg);
      break;
    case CLI_D_GRACE:
      d->grace_ms = strtol(optarg, &end, 10);
      if (*end || end == optarg || d->grace_ms < 0 || d->grace_ms > 3600000)
        return cli_usage(c, "--grace-ms: '%s' is not milliseconds from 0 to 3600000", optarg);
      break;
    case CLI_D_NOREPAIR:
      d->no_repair = true;
      break;
    case CLI_D_SKIPGM:
      d->skip_gm = true;
      break;
    case CLI_D_QUEUE:
      d->queue = true;
      break;
    case CLI_D_PROTECT:
      if (!cli_parse_protect(optarg, &d->protect))
        return cli_usage(c, "--protect: '%s' is not auto, on or off", optarg);
      break;
    case CLI_D_FIRMWARE:
      d->firmware = true;
      break;
    case CLI_D_OBJECTS:
      if (d->n_obj_dirs == CLI_MAX_OBJECT_DIRS)
        return cli_usage(c, "--objects: at most %d directories", CLI_MAX_OBJECT_DIRS);
      d->obj_dirs[d->n_obj_dirs++] = optarg;
      break;
    }
  }
  if (d->queue && d->firmware)
    return cli_usage(c, "--queue: only operation campaigns can be queued for now");
  /* A worker resumes the stored row, which keeps neither of these. */
  if (d->queue && (d->skip_gm || d->grace_ms >= 0))
    return cli_usage(c, "--%s cannot be queued: the store does not keep it",
                     d->skip_gm ? "skip-group-mgmt" : "grace-ms");
  if (!d->firmware && d->fw_flag)
    return cli_usage(c, "--%s is for firmware delivery (--firmware FILE)", d->fw_flag);
  *first = optind;
  return d->firmware ? 0 : cli_take_coap_bind(c, &d->ro); /* firmware: parsed again there */
}

int cmd_group_deliver(cli *c, int argc, char **argv) {
  c->cmd = "deliver";
  char **args = cli_with_name("deliver", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  deliver_opts d = {0};
  cli_op_build b = {.op = LMM_OP_INIT};
  int first = 0, rc = parse_opts(c, argc + 1, args, true, &d, &first);
  if (!rc && d.firmware) {
    free(args);
    return cmd_fw_deliver(c, argc, argv);
  }
  lmm_store *s = NULL;
  lmm_group_info g = {0};
  lmm_member *m = NULL;
  size_t n = 0;
  runner r = {.c = c};
  if (rc) goto out;
  if (argc + 1 - first < 1) {
    rc = cli_usage(c, "missing GROUP");
    goto out;
  }
  if (argc + 1 - first > 1) {
    rc = cli_usage(c, "too many arguments ('%s')", args[first + 1]);
    goto out;
  }
  if (d.n_ops != 1) {
    rc = cli_usage(c, "%s: --read, --write, --execute, --write-attr or --discover",
                   d.n_ops ? "give one operation only" : "missing the operation");
    goto out;
  }
  const char *group = args[first];
  if ((rc = cli_objects_load(c, d.obj_dirs, d.n_obj_dirs))) goto out;
  if ((rc = cli_store_open(c, &s)) || (rc = cli_group_get(c, s, group, &g))) goto out;
  if ((rc = cli_build_op(c, d.which, d.op_arg, d.fmt_given, d.fmt, g.gm_oid, &b))) goto out;
  if ((rc = cli_group_members(c, s, group, &m, &n))) goto out;
  /* A path no member may be operated on is the operator's mistake, not n failures. */
  size_t allowed = 0;
  for (size_t i = 0; i < n; i++)
    allowed += lmm_member_allows(&m[i], &b.op.path);
  if (!allowed) {
    char id[96], p[32];
    rc = cli_usage(c, "no member of group '%s' may be operated on %s (members are like %s)", group,
                   lmm_path_format(&b.op.path, p, sizeof p),
                   lmm_member_id_format(&m[0], id, sizeof id));
    goto out;
  }
  lmm_path_kind via;
  if ((rc = cli_pick_via(c, &g, d.via, &via))) goto out;
  if ((rc = cli_check_protect(c, d.protect, via, m, n))) goto out;
  if (via != LMM_VIA_UNICAST && b.op.kind != LMM_OPK_READ && b.op.kind != LMM_OPK_WRITE &&
      b.op.kind != LMM_OPK_EXECUTE && b.op.kind != LMM_OPK_WRITE_ATTR &&
      b.op.kind != LMM_OPK_DISCOVER) {
    rc = cli_usage(c, "this operation cannot go to a group: use --via unicast");
    goto out;
  }
  if ((rc = cli_engines_setup(c, &r.eng, via, &d.ro, &notifier_handlers, &r))) goto out;
  lmm_campaign_deps deps = {c->ctx, r.eng.uni, r.eng.t8, r.eng.ans, s};
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = m, cfg.n_members = n;
  cfg.op = b.op;
  cfg.via = via;
  if (d.window_s >= 0) cfg.window_s = d.window_s;
  if (d.grace_ms >= 0) cfg.grace_ms = d.grace_ms;
  cfg.no_repair = d.no_repair;
  cfg.skip_group_mgmt = d.skip_gm;
  cfg.protect = d.protect;
  lmm_err e;
  if ((e = lmm_campaign_new(&deps, &cfg, &handlers, &r, &r.camp)) != LMM_OK) {
    if (e == LMM_ERR_ARG)
      rc = cli_usage(c, "the library refused the campaign: %s", lmm_strerror(e));
    else
      rc = cli_store_fail(c, s, "creating the campaign", e);
    goto out;
  }
  rc = d.queue ? queue_campaign(&r, s)
               : runner_run(&r, &d.ro, c->json ? CLI_REPORT_JSON : CLI_REPORT_TABLE);
out:
  runner_free(&r);
  lmm_members_free(m, n);
  lmm_group_info_clear(&g);
  lmm_store_close(s);
  free(b.payload);
  free(b.query);
  free(args);
  return rc;
}

int cmd_resume(cli *c, int argc, char **argv) {
  c->cmd = "resume";
  char **args = cli_with_name("resume", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  deliver_opts d = {0};
  int first = 0, rc = parse_opts(c, argc + 1, args, false, &d, &first);
  lmm_store *s = NULL;
  lmm_campaign_info info = {0};
  runner r = {.c = c};
  int64_t id = 0;
  if (rc) goto out;
  if (argc + 1 - first != 1) {
    rc = cli_usage(c, argc + 1 - first < 1 ? "missing CAMPAIGN" : "too many arguments");
    goto out;
  }
  if ((rc = cli_parse_campaign_id(c, args[first], &id)) || (rc = cli_store_open(c, &s)) ||
      (rc = cli_campaign_get(c, s, id, &info)))
    goto out;
  if (info.state == LMM_CS_DONE) {
    rc = cli_usage(c, "campaign %lld has finished: see 'lwm2m-mbms report %lld'", (long long)id,
                   (long long)id);
    goto out;
  }
  if (info.kind == LMM_CK_FIRMWARE) {
    rc = cli_fw_resume(c, s, &info, &d.ro, d.fw_file, d.blob_listen, d.blob_host);
    goto out;
  }
  if (d.fw_file || d.blob_listen || d.blob_host) {
    rc = cli_usage(c, "--%s: campaign %lld is an operation campaign",
                   d.fw_file       ? "firmware"
                   : d.blob_listen ? "blob-listen"
                                   : "blob-host",
                   (long long)id);
    goto out;
  }
  if ((rc = cli_engines_setup(c, &r.eng, info.via, &d.ro, &notifier_handlers, &r))) goto out;
  lmm_campaign_deps deps = {c->ctx, r.eng.uni, r.eng.t8, r.eng.ans, s};
  lmm_err e;
  if ((e = lmm_campaign_resume(&deps, id, &handlers, &r, &r.camp)) != LMM_OK) {
    if (e == LMM_ERR_STATE)
      rc = cli_usage(c, "campaign %lld cannot be resumed (%s)", (long long)id,
                     cli_state_name(info.state));
    else if (e == LMM_ERR_NOTFOUND)
      rc = cli_usage(c, "campaign %lld: its group or members are gone", (long long)id);
    else
      rc = cli_store_fail(c, s, "resuming the campaign", e);
    goto out;
  }
  rc = runner_run(&r, &d.ro, c->json ? CLI_REPORT_JSON : CLI_REPORT_TABLE);
out:
  runner_free(&r);
  lmm_campaign_info_clear(&info);
  lmm_store_close(s);
  free(args);
  return rc;
}
