/* cli.h - what the lwm2m-mbms command files share: options, output, exit codes. */
#ifndef LMM_CLI_H
#define LMM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "lwm2m_mbms/lwm2m_mbms.h"
#include "lwm2m_mbms/blob_server.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/fw_campaign.h"

/* Exit codes, documented in --help. */
enum {
  EXIT_ALL_OK = 0,      /* every member / the operation succeeded */
  EXIT_SOME_FAILED = 1, /* finished, but some members (or the delivery) failed */
  EXIT_USAGE = 2,       /* bad flags, arguments or input files */
  EXIT_REFUSED = 3,     /* the SCEF refused, or the network failed */
  EXIT_TIMEOUT = 4      /* a deadline passed */
};

typedef struct cli {
  const char *cmd; /* e.g. "t8 tmgi allocate", for error messages */
  bool json;
  bool verbose;
  bool progress; /* stderr is a terminal and --quiet is not given */
  lmm_t8_config t8;
  lmm_ctx *ctx;
  const char *db;       /* --db or $LMM_DB; NULL: cli_store_default_path() */
  char last_error[512]; /* the library's last error log line, "" none */
  lmm_objects *objects; /* definitions from --objects / LMM_OBJECTS; NULL: built-ins only */
} cli;

/** "lwm2m-mbms: <cmd>: <fmt...>" on stderr. */
void cli_err(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** A usage error: the message, then "Try 'lwm2m-mbms --help'."; returns EXIT_USAGE. */
int cli_usage(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Exit code and message for a failed T8 call. */
int cli_t8_fail(const cli *c, const char *what, const lmm_t8_result *res);
/** A usage error unless there are exactly `want` positional arguments: "missing `what`" for
 *  fewer, "too many arguments" for more. 0 or EXIT_USAGE. */
int cli_need_args(const cli *c, int have, int want, const char *what);
/** Flushes stdout and reports a write error (a closed pipe, a full disk): 0 or EXIT_USAGE+... */
int cli_finish_output(const cli *c, int rc);

int cmd_t8(cli *c, int argc, char **argv);
/** "lwm2m-mbms gateway" (gateway_cmd.c). */
int cmd_gateway(cli *c, int argc, char **argv);

/* ------------------------------------------------- groups and campaigns (cli_util.c) */

/** Where the store lives when no --db is given (store_path.c): $LMM_DB, else
 *  $XDG_STATE_HOME/lwm2m-mbms/state.db, else $HOME/.local/state/lwm2m-mbms/state.db.
 *  Writes into buf and returns it, or NULL when none can be made (no HOME, or `cap` short). */
char *cli_store_default_path(char *buf, size_t cap);
/** Opens the state store (--db, $LMM_DB or the default path). On failure prints why and
 *  returns the exit code (EXIT_USAGE: not a store of ours, or no path can be made). */
int cli_store_open(const cli *c, lmm_store **out);
/** The message and exit code of a failed store call other than "not found". */
int cli_store_fail(const cli *c, lmm_store *s, const char *what, lmm_err e);
/** Loads a group; an unknown name is a usage error naming it. */
int cli_group_get(const cli *c, lmm_store *s, const char *name, lmm_group_info *out);
/* The members of a group that must have some (a campaign's). 0, or the exit status after the
 * message. */
int cli_group_members(const cli *c, lmm_store *s, const char *group, lmm_member **m, size_t *n);
/** Creates a T8 client from the SCEF options; usage errors for a missing/bad connection. */
int cli_t8_connect(cli *c, lmm_t8_client **out);
/** Starts the T8 notification receiver of --notify-listen `listen` (NULL: 127.0.0.1:0) and
 *  --notify-url `url` (NULL: the listener's own URL); every delivery is then notified at a URL
 *  of its own below it. 0, or the exit status after the message. */
int cli_notifier_start(cli *c, const char *listen, const char *url,
                       const lmm_t8_notifier_handlers *nh, void *user, lmm_t8_notifier **out);
/** Splits "ADDR:PORT" ("[v6]:PORT" too) into addr (cap bytes) and port. false if malformed. */
bool cli_split_hostport(const char *s, char *addr, size_t cap, uint16_t *port);
/** RFC 3339 UTC text of seconds (or milliseconds, ms=true) since the epoch; "-" for 0. */
char *cli_fmt_time(int64_t t, bool ms, char *buf, size_t cap);
/** Parses RFC 3339 ("2025-01-02T03:04:05Z", "...+02:00") or "+SECONDS" from now. */
bool cli_parse_time(const char *s, int64_t *out);
/** Prints `s` as a JSON string (quotes included); NULL prints null. */
void cli_json_str(FILE *f, const char *s);
/** Same for `len` bytes that may not be NUL-terminated. */
void cli_json_strn(FILE *f, const char *s, size_t len);
/** Names of group types, campaign states, paths and operations ("?" when unknown). */
const char *cli_group_type_name(lmm_group_type type);
const char *cli_state_name(lmm_campaign_state state);
const char *cli_via_name(lmm_path_kind via);
const char *cli_op_name(lmm_op_kind kind);
/** Takes "--json" out of a command's arguments (it may follow the command too); new argc. */
int cli_take_json(cli *c, int argc, char **argv);
/** Parses "text", "senml-json", "tlv", "opaque" (and "link") into a content format. */
bool cli_parse_format(const char *s, uint16_t *out);

/** Starts getopt's scan of a new argv (GNU getopt keeps its place from the last one). */
void cli_getopt_start(void);
/** The next option of `argv` (`argv[0]` the command's name) as getopt_long() over `shorts`
 *  and `opts` gives it (`*li`: its index in `opts`), -1 at the end, or CLI_GETOPT_ERR after
 *  the usage message every command gives alike: "--x needs a value" for a known option
 *  without its value, else "unknown or incomplete option '...'". */
int cli_getopt(const cli *c, int argc, char **argv, const char *shorts, const struct option *opts,
               int *li);
#define CLI_GETOPT_ERR (-2)

/** argv with the command's name in front, for getopt (NULL-terminated copy; free() it).
 *  getopt permutes the copy, never the caller's argv. NULL when out of memory. */
char **cli_with_name(const char *name, int argc, char **argv);
/** Parses a campaign number (a positive integer); a usage error otherwise. */
int cli_parse_campaign_id(const cli *c, const char *s, int64_t *id);
/** Reads campaign `id`; an unknown one is a usage error naming it. */
int cli_campaign_get(const cli *c, lmm_store *s, int64_t id, lmm_campaign_info *out);
/** Parses "auto", "on", "off" (--protect) into an LMM_PROTECT_*; false otherwise. */
bool cli_parse_protect(const char *s, lmm_protect *p);
/** --protect on to a group path needs every member over coaps:// (the key travels in the
 *  Group Mgmt write): 0, or the usage error naming the first plain member. */
int cli_check_protect(const cli *c, lmm_protect p, lmm_path_kind via, const lmm_member *m,
                      size_t n);
/** Parses "mbms", "multicast", "unicast" into an LMM_VIA_*; false otherwise. */
bool cli_parse_via(const char *s, lmm_path_kind *via);
/** The path of a delivery to group `g`: `want` (LMM_VIA_NONE: by the group's type), checked
 *  against the group's addresses. 0 with *via set, or the exit status after the message. */
int cli_pick_via(const cli *c, const lmm_group_info *g, lmm_path_kind want, lmm_path_kind *via);
/** A CSV field (RFC 4180 quoting) on stdout, then "," or, last, CRLF. NULL prints nothing. */
void cli_csv_field(const char *s, bool last);
/** ,"key":"RFC 3339 ms time" (or null for 0) on stdout. */
void cli_json_time(const char *key, int64_t ms);

/** Exit code of a library error: 0, EXIT_TIMEOUT, EXIT_USAGE (LMM_ERR_ARG), else EXIT_REFUSED. */
int cli_exit_of(lmm_err e);
/** Monotonic milliseconds. */
int64_t cli_mono_ms(void);

/* ------------------------------------------------- campaign engines (cli_util.c) */

/** Where answers and notifications arrive, where requests leave from, how long to wait: every
 *  campaign run shares them. */
typedef struct cli_run_opts {
  const char *answer_listen, *answer_uri, *notify_listen, *notify_url;
  const char *coap_bind;      /* --coap-bind, or $LMM_COAP_BIND; NULL: unbound */
  const char *coap_bind_from; /* which of the two, for messages */
  double wait_s;
} cli_run_opts;

/** The options of a campaign run, the same for deliver, deliver --firmware and resume: their
 *  getopt ids, and CLI_RUN_OPTIONS, their entries to put in a command's option table. */
enum {
  CLI_RUN_ALISTEN = 200,
  CLI_RUN_AURI,
  CLI_RUN_NLISTEN,
  CLI_RUN_NURL,
  CLI_RUN_COAP_BIND,
  CLI_RUN_WAIT,
  CLI_RUN_JSON,
  CLI_RUN_LAST = CLI_RUN_JSON
};
#define CLI_RUN_OPTIONS                                                                            \
  {"answer-listen", required_argument, 0, CLI_RUN_ALISTEN},                                        \
      {"answer-uri", required_argument, 0, CLI_RUN_AURI},                                          \
      {"notify-listen", required_argument, 0, CLI_RUN_NLISTEN},                                    \
      {"notify-url", required_argument, 0, CLI_RUN_NURL},                                          \
      {"coap-bind", required_argument, 0, CLI_RUN_COAP_BIND},                                      \
      {"wait", required_argument, 0, CLI_RUN_WAIT}, {                                              \
    "json", no_argument, 0, CLI_RUN_JSON                                                           \
  }
/** Whether getopt's `o` is one of CLI_RUN_OPTIONS. */
#define CLI_IS_RUN_OPTION(o) ((o) >= CLI_RUN_ALISTEN && (o) <= CLI_RUN_LAST)
/** Takes run option `o` with its value `arg` into `ro` (--json into c->json); --coap-bind is
 *  checked later, by cli_take_coap_bind(). 0, or a usage error. */
int cli_run_opt(cli *c, int o, const char *arg, cli_run_opts *ro);

/** Settles ro->coap_bind: the flag, else $LMM_COAP_BIND (empty: none), checked to be a numeric
 *  ADDR:PORT; a usage error naming where it came from otherwise. */
int cli_take_coap_bind(const cli *c, cli_run_opts *ro);

/** The engines a campaign borrows. Zero-initialise; cli_engines_free() any time after. */
typedef struct cli_engines {
  lmm_unicast *uni;
  lmm_answers *ans;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
} cli_engines;

/** Starts the engines path `via` needs; a usage error for --answer-* / --notify-* options
 *  the path does not use. `nh` and `user` receive the T8 notifications (MBMS only). */
int cli_engines_setup(cli *c, cli_engines *g, lmm_path_kind via, const cli_run_opts *ro,
                      const lmm_t8_notifier_handlers *nh, void *user);
void cli_engines_free(cli_engines *g);

/* ------------------------------------------------------ the object model (op_model.c) */

/** How many --objects a command takes. */
#define CLI_MAX_OBJECT_DIRS 16

/** Loads the DDF directories of $LMM_OBJECTS (colon-separated), then `dirs`, into
 *  c->objects (created if need be; freed by main). 0, or EXIT_USAGE after "--objects DIR:
 *  FILE:LINE: what". */
int cli_objects_load(cli *c, const char *const *dirs, size_t n);
/** The definition of object `oid`: Group Mgmt under the group's ID `gm_oid` (made in `buf`),
 *  else the loaded or built-in one, else NULL. */
const lmm_obj_def *cli_obj_def(const cli *c, uint16_t oid, uint16_t gm_oid, lmm_obj_def *buf);
/** The word of a resource type in PATH:TYPE ("string", "integer", ... "none"). */
const char *cli_rtype_word(lmm_rtype t);

/** An operation's target after the model's check. Filled in place; not to be copied (def may
 *  point at gm_buf). */
typedef struct cli_target {
  lmm_path path;
  const lmm_obj_def *def; /* NULL: object not in the model */
  const lmm_res_def *res; /* NULL: not a resource path, or not in the model (type given) */
  lmm_rtype type;         /* the resource's type: the model's, or the one given */
  bool has_given;
  lmm_rtype given; /* the :TYPE of the path, when has_given */
  lmm_obj_def gm_buf;
} cli_target;

/** The one rule for an operation's path, "PATH[:TYPE]" (`text`, without a value or query):
 *  a known resource must allow the operation (Read R, Write W, Execute E, Write-Attributes R)
 *  and agree with a :TYPE if one is given; a resource or object the model lacks needs a
 *  :TYPE (none for Execute); a whole instance or object needs a known object; Discover needs
 *  nothing. `flag` ("--write") begins the messages; `fmt` (when given) is the Read's Accept.
 *  0 with *t filled, or EXIT_USAGE after the message. */
int cli_op_target(const cli *c, const char *flag, lmm_op_kind kind, const char *text,
                  uint16_t gm_oid, bool fmt_given, uint16_t fmt, cli_target *t);

/* ------------------------------------------------- the operation of a deliver (op_build.c) */

/** The operation flags of deliver (their getopt ids). */
enum { CLI_OP_READ = 256, CLI_OP_WRITE, CLI_OP_EXEC, CLI_OP_ATTR, CLI_OP_DISC };

/** An operation and the payload and query it points at. */
typedef struct cli_op_build {
  lmm_op op;
  uint8_t *payload; /* owned: free() */
  char *query;      /* owned: free() */
} cli_op_build;

/** Builds into `b` the operation of flag `which` (CLI_OP_*) with its argument `arg`, checked
 *  against the object model (Group Mgmt under `gm_oid`); `fmt` is --format when `fmt_given`.
 *  0, or the exit status after the message (b's owned parts to free either way). */
int cli_build_op(const cli *c, int which, const char *arg, bool fmt_given, uint16_t fmt,
                 uint16_t gm_oid, cli_op_build *b);

/** The getopt ids of deliver's other options. deliver and deliver --firmware share one option
 *  table, cli_deliver_options (deliver_cmd.c; CLI_OP_* and CLI_RUN_OPTIONS are in it too), so
 *  that each can refuse the other's options by name. */
enum {
  CLI_D_FORMAT = 300,
  CLI_D_VIA,
  CLI_D_WINDOW,
  CLI_D_GRACE,
  CLI_D_NOREPAIR,
  CLI_D_SKIPGM,
  CLI_D_OBJECTS,
  CLI_D_PROTECT,
  CLI_D_QUEUE,
  CLI_D_FIRMWARE, /* the firmware campaign's own options follow it */
  CLI_D_METHOD,
  CLI_D_FRAGMENT,
  CLI_D_FEC,
  CLI_D_RATE,
  CLI_D_ROUNDS,
  CLI_D_WAVE,
  CLI_D_SUCCESS,
  CLI_D_ERROR,
  CLI_D_UPD_WAIT,
  CLI_D_UPD_DEADLINE,
  CLI_D_BLISTEN,
  CLI_D_BHOST,
  CLI_D_PKGVER,
  CLI_D_EXPECTVER,
  CLI_D_FECCODE,
  CLI_D_FECBLOCK,
  CLI_D_FECLOSS,
  CLI_D_LAST = CLI_D_FECLOSS
};
/** Whether getopt's `o` is an option of deliver --firmware only. */
#define CLI_IS_FW_OPTION(o) ((o) > CLI_D_FIRMWARE && (o) <= CLI_D_LAST)
extern const struct option cli_deliver_options[];

/* ------------------------------------------------------- printing a group (group_print.c) */

/** "keep" or "release". */
const char *cli_tmgi_policy_name(lmm_tmgi_policy p);
/** A member as a JSON object on stdout (whether it has a PSK key, never the key). */
void cli_print_member_json(const lmm_member *m);
/** A group as a JSON object on stdout; `with_members`: its `n` members `m` too (else the
 *  stored member count). */
void cli_print_group_json(const lmm_group_info *g, const lmm_member *m, size_t n,
                          bool with_members);
/** A group and its `n` members `m` as text on stdout. */
void cli_print_group_text(const lmm_group_info *g, const lmm_member *m, size_t n);

/* ------------------------------------------------------------------- commands */

int cmd_group(cli *c, int argc, char **argv);         /* group_cmd.c */
int cmd_tmgi(cli *c, int argc, char **argv);          /* tmgi_cmd.c */
int cmd_group_deliver(cli *c, int argc, char **argv); /* deliver_cmd.c */
int cmd_resume(cli *c, int argc, char **argv);        /* deliver_cmd.c */
int cmd_report(cli *c, int argc, char **argv);        /* report_cmd.c */
int cmd_campaigns(cli *c, int argc, char **argv);     /* campaigns_cmd.c */
/* campaigns_watch.c: campaigns --watch of group `group` (NULL: all), a refresh every
 * `interval_s` seconds until SIGINT or SIGTERM, or with `until_idle` until none runs; the exit
 * status. */
int cli_campaigns_watch(cli *c, const char *group, double interval_s, bool until_idle);
int cmd_fw_deliver(cli *c, int argc, char **argv); /* fw_cmd.c: deliver --firmware */
/* fw_cmd.c: resume of stored firmware campaign `info` with the image at `file` (NULL: the
 * one it was started with), a unicast pull serving it from a blob server at `blob_listen` /
 * `blob_host` (NULL: the defaults), then its report; the exit status. */
int cli_fw_resume(cli *c, lmm_store *s, const lmm_campaign_info *info, const cli_run_opts *ro,
                  const char *file, const char *blob_listen, const char *blob_host);
int cmd_cancel(cli *c, int argc, char **argv); /* cancel_cmd.c */
int cmd_worker(cli *c, int argc, char **argv); /* worker_cmd.c */

/** Report layouts. */
typedef enum cli_report_fmt { CLI_REPORT_TABLE, CLI_REPORT_JSON, CLI_REPORT_CSV } cli_report_fmt;

/** Prints a campaign's report (report_cmd.c): per member, then totals and the T8 status. */
void cli_print_report(const cli *c, cli_report_fmt fmt, const lmm_campaign_info *info,
                      const lmm_outcome *o, size_t n);
/** Writes campaign `info`'s page (report_html.c) to `path` ("-": stdout), replacing what was
 *  there only once the whole page is written. 0, or the exit status after the message. */
int cli_report_html(const cli *c, const char *path, const lmm_campaign_info *info,
                    const lmm_outcome *o, size_t n);
/* The parts of the page that report_html.c and report_html_fw.c share. */
/** `s` as HTML text or attribute value: & < > " ' as entities; NULL prints nothing. */
void cli_html_esc(FILE *f, const char *s);
/** A counts table row: name, count, and a bar of its share of `n`. */
void cli_html_count_row(FILE *f, const char *name, size_t v, size_t n);
/** A member table header cell: its #sort= key, and whether it sorts as a number. */
void cli_html_th(FILE *f, const char *key, const char *label, bool num);
/** A numeric cell (sort value in data-v), "-" when not `known`. */
void cli_html_num_td(FILE *f, bool known, long long v, const char *unit);
/** A firmware campaign's counts by wave and end, and by Update Result. */
void cli_html_fw_counts(FILE *f, const lmm_outcome *o, size_t n);
/** A firmware campaign's member table: its head and body. */
void cli_html_fw_rows(FILE *f, const lmm_outcome *o, size_t n);
/** Counts of a campaign's outcomes. */
typedef struct cli_totals {
  size_t members, succeeded, failed, pending, repaired, by_via[4];
  size_t refused; /**< members that refused access (lmm_outcome_refused()): not in failed */
} cli_totals;
void cli_count(const lmm_outcome *o, size_t n, cli_totals *t);
/** Whether an outcome is a success: done, a CoAP answer, class 2 (an operation campaign's),
 *  or Update Result 1 (a firmware campaign's: fw_end updated). */
bool cli_outcome_ok(const lmm_outcome *o);
/** "2.05" of a CoAP code into buf, "-" for 0. Returns buf. */
char *cli_code_text(uint8_t code, char *buf, size_t cap);
/** The values of an outcome as one line of text: "/6/0/0=48.0001 /6/0/1=11" for SenML (and
 *  TLV of an object the model knows), the payload as text when printable, else "hex:...";
 *  "" without payload. Owned (free()); NULL when out of memory. */
char *cli_values_text(const lmm_objects *objs, const lmm_campaign_info *info, const lmm_outcome *o);
/** Why an operation's outcome failed ("pending" while it is not done), NULL when it did not.
 *  Borrowed from `o` or static. */
const char *cli_error_text(const lmm_outcome *o);
/** "read /6/0", "write-attr /3/0/13?pmin=10": a campaign's operation, into buf (cap bytes). */
void cli_op_text(const lmm_campaign_info *info, char *buf, size_t cap);

/* ------------------------------------------------- each step per member (steps.c) */

/** The steps a member goes through: the Group Mgmt write, the group request, the unicast
 *  request (the operation of a unicast group, or the repair of a group one). */
enum { CLI_STEPS = 3 };
/** Members per step and lmm_step result. */
typedef struct cli_step_totals {
  size_t n[CLI_STEPS][LMM_STEP_SILENT + 1];
} cli_step_totals;
/** A table cell for step `k` of `o`: the answer's code ("4.04"), or "failed", "silent", "-". */
char *cli_step_cell(const lmm_outcome *o, int k, char *buf, size_t cap);
void cli_steps_count(const lmm_outcome *o, size_t n, cli_step_totals *t);
/** One summary line per step that ran: "Group Mgmt write  48 ok, 2 refused, 0 failed". */
void cli_steps_print_summary(const cli_step_totals *t);
/** ,"steps":{"groupMgmt":{"result":..,"code":..,"error":..},"group":..,"unicast":..} */
void cli_steps_json(const lmm_outcome *o);
/** ,"steps":{"groupMgmt":{"ok":N,...},...} of the totals. */
void cli_steps_json_totals(const cli_step_totals *t);
/** The six step columns of a CSV row (header, and one member's cells), each ending in ','. */
void cli_steps_csv_header(void);
void cli_steps_csv(const lmm_outcome *o);
/** "kept", "released", "release failed" or "-" (lmm_tmgi_end). */
const char *cli_tmgi_end_name(lmm_tmgi_end end);

/* ------------------------------------------------- firmware deliver options (fw_opts.c) */

/* A blob to a group is at most 64 MiB (docs/protocol.md 5.1); a unicast pull is served by
 * Block2, whose block numbers end at 2^20 blocks of 1024 bytes. Push has no smaller bound. */
#define CLI_FW_MAX_GROUP   (64u << 20)
#define CLI_FW_MAX_UNICAST (1u << 30)

/** The options of deliver --firmware. */
typedef struct cli_fw_opts {
  cli_run_opts ro;
  const char *file, *blob_listen, *blob_host;
  lmm_path_kind via; /* LMM_VIA_NONE: the group's type */
  int method;        /* -1: not given (push) */
  long fragment_size, fec, rounds, window_s, grace_ms, update_wait_ms, update_deadline_s;
  int fec_code;    /* lmm_fec_code, -1 not given */
  long fec_block;  /* -1 not given */
  double fec_loss; /* -1 not given */
  double rate;     /* bytes per second; 0 not given */
  size_t wave_count;
  double wave_percent, success, error; /* shares 0..1; -1 not given */
  bool skip_gm;
  lmm_protect protect;
  const char *pkg_version;
  const char *expect_version;
  /* The first option given that only a group path uses, and one only unicast uses. */
  const char *group_only, *unicast_only;
  /* --objects: loaded like an operation's, so that a broken directory fails every deliver the
   * same way; the firmware path itself only touches object 5, checked by the library. */
  const char *obj_dirs[CLI_MAX_OBJECT_DIRS];
  size_t n_obj_dirs;
} cli_fw_opts;

/** Parses deliver --firmware's options (args[0] the command's name) into `f`, `*first` the
 *  first positional argument. 0, or the exit status after the message. */
int cli_fw_opts_parse(cli *c, int argc, char **args, cli_fw_opts *f, int *first);
/** The whole file at `path` (at most `max` bytes), owned in `*out`; a usage error naming the
 *  file when it cannot serve as an image. 0, or the exit status after the message. */
int cli_fw_read_image(const cli *c, const char *path, size_t max, uint8_t **out, size_t *len);

/* ------------------------------------------------- firmware campaigns (fw_report.c) */

/** Counts by lmm_fwc_end of a firmware campaign's outcomes. */
typedef struct cli_fw_totals {
  size_t members, updated, failed, held, cancelled, refused, pending, by_via[4], pulled;
} cli_fw_totals;
void cli_fw_count(const lmm_outcome *o, size_t n, cli_fw_totals *t);
/** How a firmware member ended: "pending", "updated", "failed"... (lmm_fwc_end_name()). */
const char *cli_fw_end_text(const lmm_outcome *o);
/** What went wrong for a firmware member, NULL when nothing did (updated, or pending with no
 *  error yet). Borrowed from `o` or static. */
const char *cli_fw_error(const lmm_outcome *o);
/** The path that brought a member the blob: "multicast", "unicast pull"... "-" when none. */
const char *cli_fw_path_name(const lmm_outcome *o);
/** Prints a firmware campaign's report: its summary figures, per member, then totals.
 *  `live` (NULL when read from the store) adds the running campaign's own figures and phase. */
void cli_print_fw_report(const cli *c, cli_report_fmt fmt, const lmm_campaign_info *info,
                         const lmm_outcome *o, size_t n, const lmm_fwc_stats *live);

#endif
