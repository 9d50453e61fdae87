/* main.c - lwm2m-mbms: global options, the SCEF connection, and the command table. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage_text[] =
    "Usage: lwm2m-mbms [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Delivers LwM2M operations to groups of devices over unicast, IP multicast and 3GPP MBMS\n"
    "(TS 23.682 clause 5.5.1, T8 API of TS 29.122).\n"
    "\n"
    "Commands:\n"
    "  t8 tmgi allocate [--external-group-id ID]   allocate a TMGI on the SCEF\n"
    "  t8 tmgi show TMGI | list                     fetch one TMGI allocation, or all\n"
    "  t8 tmgi renew TMGI [--put] [--external-group-id ID]\n"
    "                                               extend the TMGI's expiration (PATCH, or PUT)\n"
    "  t8 tmgi release TMGI                         delete the allocation\n"
    "  t8 deliver TMGI (--payload-hex HEX | --payload-file FILE) [DELIVERY OPTIONS]\n"
    "                                               send a group message, wait for its "
    "notification\n"
    "  t8 delivery show TMGI TXN | list TMGI | delete TMGI TXN\n"
    "  version                                      print the version\n"
    "\n"
    "Groups (kept in the state store, see --db):\n"
    "  group create NAME --type mbms|multicast|unicast [GROUP OPTIONS]\n"
    "                                               create a group\n"
    "  group list                                   all groups\n"
    "  group show NAME                              a group's values and members\n"
    "  group set NAME [--tmgi-policy P] [--window SEC]\n"
    "                                               change how campaigns treat the group\n"
    "  group delete NAME                            delete a group and its members\n"
    "  group add-member NAME (--members FILE | MEMBER-ID URI [format=F] [psk-id=ID] "
    "[psk-key=K])\n"
    "                                               add members (words of a members-file "
    "line)\n"
    "  group remove-member NAME MEMBER-ID           remove one member (ep=NAME/OID)\n"
    "  tmgi allocate GROUP                          allocate a TMGI for the group's External "
    "Group ID\n"
    "  tmgi show GROUP | renew GROUP | release GROUP\n"
    "                                               the group's TMGI on the SCEF\n"
    "\n"
    "Campaigns (one group operation, or one firmware package, to one group):\n"
    "  deliver GROUP OPERATION [DELIVER OPTIONS]    run a campaign, then print its report\n"
    "  deliver GROUP --firmware FILE [FIRMWARE OPTIONS]\n"
    "                                               deliver a firmware package and update the\n"
    "                                               members, then print the report\n"
    "  report CAMPAIGN [--format table|json|csv] [--objects DIR]\n"
    "                                               per-member outcomes and totals\n"
    "  report CAMPAIGN --html FILE                  the same as one self-contained web page\n"
    "                                               (time line, answers chart, counts, a\n"
    "                                               sortable member table); FILE '-': stdout\n"
    "  campaigns [GROUP]                            list campaigns, newest first\n"
    "  campaigns [GROUP] --watch [--interval SEC] [--until-idle] [--json]\n"
    "                                               live view of the running campaigns, a\n"
    "                                               progress bar each, every SEC seconds\n"
    "                                               (default 1, 0.05 to 3600) until Ctrl-C,\n"
    "                                               or with --until-idle until none runs\n"
    "  resume CAMPAIGN [--firmware FILE] [--blob-listen A:P] [--blob-host H]\n"
    "         [--answer-*, --notify-*, --coap-bind, --wait, --json]\n"
    "                                               continue an unfinished campaign (a unicast\n"
    "                                               pull serves the image again on --blob-*)\n"
    "  cancel CAMPAIGN                              ask the deliver running a firmware campaign\n"
    "                                               to stop (no more fragments, no update)\n"
    "  worker [--name OWNER] [--lease-ms N] [--exit-when-idle] [--answer-*, --notify-*,\n"
    "         --coap-bind, --json]                  run queued campaigns one after another,\n"
    "                                               holding a lease on each in the store, and\n"
    "                                               take over those whose owner stopped\n"
    "                                               renewing (docs/scale-out.md)\n"
    "\n"
    "Gateway (docs/gateway.md):\n"
    "  gateway --devices FILE [--listen A:P] [--coaps-listen A:P --psk-id ID --psk-key K]\n"
    "          [--group-mgmt-oid ID] [--grace-ms MS] [--no-repair] [--ready-file FILE]\n"
    "          [--mcast-if ADDR] [--answer-*, --notify-*, --coap-bind]\n"
    "                                               serve as the LwM2M Gateway of the devices\n"
    "                                               in FILE (a members file) until SIGINT or\n"
    "                                               SIGTERM: the server writes Group Mgmt\n"
    "                                               instances to /42769/N, and each request on\n"
    "                                               a Fanout Target is one campaign whose\n"
    "                                               members' results come back in one\n"
    "                                               SenML-JSON answer (--listen default\n"
    "                                               127.0.0.1:5683; K: hex:HEX or text:TEXT)\n"
    "\n"
    "Group options (group create):\n"
    "  --type T              mbms (3GPP MBMS over T8), multicast (IP multicast) or unicast\n"
    "  --external-group-id ID   External Group ID, local@domain (required for mbms)\n"
    "  --multicast-address A IPv4 or IPv6 multicast address (required for multicast)\n"
    "  --multicast-port P    UDP port of group messages (default 5683)\n"
    "  --window SEC          Response Time Window: members answer within it (default 30)\n"
    "  --fanout-target URI   the gateway's Fanout Target\n"
    "  --schedule TIME       when the group operates, RFC 3339 or +SECONDS (repeatable)\n"
    "  --members FILE        members file (docs/members-file.md)\n"
    "  --group-mgmt-oid ID   Object ID of the Group Mgmt object on the members (default "
    "42769)\n"
    "  --tmgi-policy P       keep (default): a campaign leaves the TMGI for the group's next\n"
    "                        campaign until it expires; release: deleted when a campaign ends\n"
    "\n"
    "Deliver options (the OPERATION is exactly one of):\n"
    "  --read PATH[:TYPE]    Read, e.g. /6/0/0\n"
    "  --write PATH[:TYPE]=VALUE   Write; a single resource's VALUE goes as text unless\n"
    "                        --format (opaque: hex:DIGITS; an instance takes senml-json text\n"
    "                        or tlv hex:)\n"
    "  --execute PATH[:none][=ARGS]   Execute\n"
    "  --write-attr PATH[:TYPE]?QUERY   Write-Attributes, e.g. /3/0/13?pmin=10&pmax=60\n"
    "  --discover PATH       Discover\n"
    "  Every path is checked against the object model (objects 0-7 and Group Mgmt built in,\n"
    "  more from --objects): the resource must allow the operation (Read R, Write W, Execute\n"
    "  E); one the model lacks needs its :TYPE, one of string integer unsigned float boolean\n"
    "  opaque time objlnk corelnk none (e.g. /3/0/99:string=abc, --execute /3/0/99:none).\n"
    "  --objects DIR         also load the OMA DDF files (*.xml) of DIR; repeatable; after\n"
    "                        the directories of LMM_OBJECTS (colon-separated). deliver,\n"
    "                        deliver --firmware and report take it\n"
    "  --format F            text, senml-json, tlv or opaque (the payload, or Accept of a "
    "Read)\n"
    "  --via P               mbms, multicast or unicast (default: the group's type)\n"
    "  --window SEC          override the group's Response Time Window\n"
    "  --grace-ms MS         wait after the window before repair (default 3000)\n"
    "  --no-repair           leave silent members failed instead of repairing by unicast\n"
    "  --skip-group-mgmt     the members are configured already: no Group Mgmt write\n"
    "  --protect P           seal group messages with the group's key: auto (default: when\n"
    "                        every member is coaps://, the key going in the Group Mgmt\n"
    "                        write), on (refuse a member over plain coap://) or off\n"
    "  --queue               store the campaign and queue it for a 'worker' instead of\n"
    "                        running it; prints its id ({\"id\":N,\"queued\":true} with\n"
    "                        --json); not with --firmware, --skip-group-mgmt, --grace-ms\n"
    "  --answer-listen ADDR:PORT  where members' answers arrive (default 127.0.0.1:0)\n"
    "  --answer-uri URI      Answer URI to give members, if it differs from the listener's\n"
    "  --notify-listen ADDR:PORT  where T8 notifications arrive (default 127.0.0.1:0)\n"
    "  --notify-url URL      base URL to give the SCEF, if it differs from the listener's;\n"
    "                        each delivery is notified at URL/<32 hex digits> of its own\n"
    "  --coap-bind ADDR:PORT send every CoAP request to the members from this numeric local\n"
    "                        address and port, e.g. 0.0.0.0:5683, the LwM2M server's own, for\n"
    "                        devices behind a NAT or that accept only their server's address\n"
    "                        (default: an ephemeral port per request)    [LMM_COAP_BIND]\n"
    "  --wait SEC            give up waiting after SEC seconds (default 0: until it ends);\n"
    "                        the campaign stays stored: continue it with 'resume'\n"
    "\n"
    "Firmware options (deliver GROUP --firmware FILE; FILE: the package, 1 byte to 64 MiB to\n"
    "a group, to 1 GiB by unicast; members with Object ID 5 get it, the others are refused):\n"
    "  --via P               mbms, multicast or unicast (default: the group's type)\n"
    "  --method M            unicast: push (Block1 write of /5/0/0, default), pull (the\n"
    "                        members fetch it from our blob server, /5/0/1) or auto (each\n"
    "                        member's Delivery Method /5/0/9 decides)\n"
    "  --blob-listen ADDR:PORT   pull: where the blob server listens (default 127.0.0.1:0)\n"
    "  --blob-host HOST      pull: host written into the package URI, if not the listener's\n"
    "  --pkg-version V       group: the package's version, announced with it (1 to 32 of\n"
    "                        letters, digits and . _ - +)\n"
    "  --expect-version V    unicast: a member back at Idle after the update with Update\n"
    "                        Result 0 (many clients never set 1) and PkgVersion /5/0/7 equal\n"
    "                        to V counts as updated; without it only Update Result 1 counts\n"
    "  --fragment-size N     group: bytes per fragment, 16 to 1024 (default 512)\n"
    "  --fec-code rs|xor     group: the erasure code (default rs: Reed-Solomon, docs/fec.md)\n"
    "  --fec-block K         group, rs: source fragments per block, 1 to 254 (default 171)\n"
    "  --fec-loss P          group, rs: reception loss the first pass's parity is sized for,\n"
    "                        0 to 50% (default 5%); repair rounds size themselves from the\n"
    "                        members' status\n"
    "  --fec STRIDE          group: XOR parity, one per STRIDE fragments (0: none); implies\n"
    "                        --fec-code xor\n"
    "  --rate R              group: bearer bytes per second, e.g. 250000, 500k, 2M (default 1M)\n"
    "  --window SEC          group: answer window of the status rounds (default: the group's)\n"
    "  --grace MS            group: wait after a window (default 1000)\n"
    "  --rounds N            group: status and repair rounds before the incomplete fail\n"
    "                        (default 5)\n"
    "  --wave N | --wave P%  update this many members (or share) first, by unicast, and go on\n"
    "                        only if they pass the thresholds (default: no wave)\n"
    "  --success-threshold S share of the wave that must update to go on: 0 to 1 or a\n"
    "                        percentage (default 1, all)\n"
    "  --error-threshold S   share of the wave whose failure stops the rest (default 0: any)\n"
    "  --update-wait MS      after the update, before its results are asked (default 1000)\n"
    "  --update-deadline SEC for each member's Update Result (default 300)\n"
    "  --skip-group-mgmt, --protect, --answer-listen, --answer-uri, --notify-listen,\n"
    "  --notify-url, --coap-bind   as for an operation\n"
    "  --wait SEC            after SEC seconds, cancel the campaign and report (exit 4)\n"
    "  Progress shows on a terminal. Ctrl-C (SIGINT) or SIGTERM cancels the campaign and\n"
    "  prints the report; a second one aborts at once. 'lwm2m-mbms cancel ID' from another\n"
    "  shell does the same as the first.\n"
    "\n"
    "State store:\n"
    "  --db FILE|URI         SQLite file of groups and campaigns, or a PostgreSQL\n"
    "                        database postgresql://USER:PASSWORD@HOST:PORT/DB  [LMM_DB]\n"
    "                        (default $XDG_STATE_HOME/lwm2m-mbms/state.db; --state: the same)\n"
    "\n"
    "SCEF connection (flags or environment):\n"
    "  --api-root URL        apiRoot of the SCEF               [LMM_T8_API_ROOT]\n"
    "  --scs-as-id ID        our SCS/AS identifier             [LMM_T8_SCS_AS_ID]\n"
    "  --token-file FILE     OAuth2 bearer token, read per request [LMM_T8_TOKEN_FILE]\n"
    "  --ca-file FILE        CA bundle to verify the SCEF      [LMM_T8_CA_FILE]\n"
    "  --insecure            do not verify the SCEF's TLS certificate\n"
    "  --timeout SEC         one HTTP attempt (default 15)\n"
    "  --retries N           retries of idempotent calls on 429/503/network errors (default 4)\n"
    "\n"
    "Delivery options (t8 deliver):\n"
    "  --user-plane          send the payload over MB2-U (UDP) instead of inside the request\n"
    "  --external-group-id ID   the group's External Group ID (local@domain)\n"
    "  --start-time TIME     messageDeliveryStartTime, RFC 3339, or +SECONDS from now\n"
    "  --test-notification   ask the SCEF for a test notification first\n"
    "  --notify-listen ADDR:PORT  where to receive notifications (default 127.0.0.1:0)\n"
    "  --notify-url URL      base URL to give the SCEF, if it differs from the listener's;\n"
    "                        the delivery is notified at URL/<32 hex digits> of its own\n"
    "  --wait SEC            how long to wait for the delivery notification (default 30; 0: none)\n"
    "\n"
    "Output:\n"
    "  --json                machine-readable JSON on stdout (report: also --format)\n"
    "  --quiet               no progress on the terminal\n"
    "  --verbose             log the library's steps to stderr\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status:\n"
    "  0  success (all members served, or the delivery confirmed; firmware: every member\n"
    "     updated, Update Result 1)\n"
    "  1  finished, but some members failed or the SCEF reported the delivery failed\n"
    "     (firmware: some member failed, was held by the wave, cancelled or refused)\n"
    "     (also: a failure of the state store)\n"
    "  2  usage error, bad argument or bad input file (unknown group, bad path, members "
    "file)\n"
    "  3  the SCEF refused the request, or the network failed\n"
    "  4  a deadline passed (no answer, no notification in time)\n";

/* Errors are kept even without --verbose: a command can then say why the library refused
 * something (lmm_fwc_new() explains an LMM_ERR_ARG only in the log). */
static void log_sink(void *user, lmm_log_level level, const char *msg) {
  cli *c = user;
  static const char *names[] = {"error", "warning", "info", "debug"};
  if (level == LMM_LOG_ERROR) snprintf(c->last_error, sizeof c->last_error, "%s", msg);
  if (c->verbose) fprintf(stderr, "lwm2m-mbms: %s: %s\n", names[level], msg);
}

static const char *env_or(const char *flag, const char *env) {
  return flag ? flag : getenv(env);
}

int main(int argc, char **argv) {
  cli c = {.cmd = NULL};
  lmm_t8_config t8 = LMM_T8_CONFIG_DEFAULT;
  const char *api_root = NULL, *scs = NULL, *token_file = NULL, *ca = NULL, *db = NULL;
  bool quiet = false;
  enum {
    O_API = 256,
    O_SCS,
    O_TOKEN,
    O_CA,
    O_INSECURE,
    O_TIMEOUT,
    O_RETRIES,
    O_JSON,
    O_QUIET,
    O_VERBOSE,
    O_DB
  };
  static const struct option opts[] = {{"api-root", required_argument, 0, O_API},
                                       {"scs-as-id", required_argument, 0, O_SCS},
                                       {"token-file", required_argument, 0, O_TOKEN},
                                       {"ca-file", required_argument, 0, O_CA},
                                       {"insecure", no_argument, 0, O_INSECURE},
                                       {"timeout", required_argument, 0, O_TIMEOUT},
                                       {"retries", required_argument, 0, O_RETRIES},
                                       {"json", no_argument, 0, O_JSON},
                                       {"quiet", no_argument, 0, O_QUIET},
                                       {"verbose", no_argument, 0, O_VERBOSE},
                                       {"db", required_argument, 0, O_DB},
                                       {"state", required_argument, 0, O_DB},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  /* '+': stop at the command, whose own options follow it. */
  int o;
  char *end;
  cli_getopt_start();
  while ((o = cli_getopt(&c, argc, argv, "+h", opts, NULL)) != -1) {
    switch (o) {
    case O_API:
      api_root = optarg;
      break;
    case O_SCS:
      scs = optarg;
      break;
    case O_TOKEN:
      token_file = optarg;
      break;
    case O_CA:
      ca = optarg;
      break;
    case O_INSECURE:
      t8.tls_verify = false;
      break;
    case O_TIMEOUT: {
      double s = strtod(optarg, &end);
      if (*end || end == optarg || s <= 0 || s > 3600)
        return cli_usage(&c, "--timeout: '%s' is not a number of seconds in (0, 3600]", optarg);
      t8.request_timeout_ms = (long)(s * 1000);
      break;
    }
    case O_RETRIES: {
      long n = strtol(optarg, &end, 10);
      if (*end || end == optarg || n < 0 || n > 20)
        return cli_usage(&c, "--retries: '%s' is not a count from 0 to 20", optarg);
      t8.max_retries = (int)n;
      break;
    }
    case O_JSON:
      c.json = true;
      break;
    case O_QUIET:
      quiet = true;
      break;
    case O_VERBOSE:
      c.verbose = true;
      break;
    case O_DB:
      if (!*optarg) return cli_usage(&c, "--db: empty file name");
      db = optarg;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return cli_finish_output(&c, 0);
    default: /* CLI_GETOPT_ERR: said */
      return EXIT_USAGE;
    }
  }
  if (optind >= argc) return cli_usage(&c, "no command given");
  /* 'lwm2m-mbms deliver --help' is what people type: every command's options are in the one
   * usage text. */
  for (int i = optind + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage_text, stdout);
      return cli_finish_output(&c, 0);
    }
  c.progress = !quiet && isatty(STDERR_FILENO);
  t8.api_root = env_or(api_root, "LMM_T8_API_ROOT");
  t8.scs_as_id = env_or(scs, "LMM_T8_SCS_AS_ID");
  t8.token_file = env_or(token_file, "LMM_T8_TOKEN_FILE");
  t8.ca_file = env_or(ca, "LMM_T8_CA_FILE");
  c.t8 = t8;
  c.db = env_or(db, "LMM_DB");
  if (c.db && !*c.db) c.db = NULL; /* LMM_DB= (empty) means the default */

  const char *cmd = argv[optind];
  if (!strcmp(cmd, "version")) {
    printf(c.json ? "{\"version\":\"%s\"}\n" : "lwm2m-mbms %s\n", LMM_VERSION_STRING);
    return cli_finish_output(&c, 0);
  }
  static const struct {
    const char *name;
    int (*fn)(cli *, int, char **);
  } commands[] = {{"t8", cmd_t8},         {"group", cmd_group},
                  {"tmgi", cmd_tmgi},     {"deliver", cmd_group_deliver},
                  {"report", cmd_report}, {"resume", cmd_resume},
                  {"worker", cmd_worker}, {"campaigns", cmd_campaigns},
                  {"cancel", cmd_cancel}, {"gateway", cmd_gateway}};
  int (*fn)(cli *, int, char **) = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(cmd, commands[i].name)) fn = commands[i].fn;
  if (!fn) return cli_usage(&c, "unknown command '%s'", cmd);

  if (lmm_global_init() != LMM_OK) {
    cli_err(&c, "cannot initialise the HTTP library");
    return EXIT_REFUSED;
  }
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  cc.log = log_sink, cc.user = &c;
  cc.log_level = c.verbose ? LMM_LOG_DEBUG : LMM_LOG_ERROR;
  int rc;
  if (lmm_ctx_new(&cc, &c.ctx) != LMM_OK) {
    cli_err(&c, "cannot create the library context");
    rc = EXIT_REFUSED;
  } else {
    rc = fn(&c, argc - optind - 1, argv + optind + 1);
  }
  lmm_ctx_free(c.ctx);
  lmm_objects_free(c.objects);
  lmm_global_cleanup();
  return cli_finish_output(&c, rc);
}
