/* main.c - lwm2m-mbms-sim: command line, start-up, the event loop and signals. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attrs.h"
#include "delay.h"
#include "fw.h"
#include "group.h"
#include "observe.h"
#include "stats.h"

static const char USAGE[] =
    "Usage: lwm2m-mbms-sim [OPTION]...\n"
    "A fleet of simulated LwM2M devices in one process, each with its own CoAP endpoint on a\n"
    "loopback address, for tests, benchmarks and demos of lwm2m-mbms.\n"
    "\n"
    "Fleet:\n"
    "  --count N               number of devices, 1..10000 (default 10)\n"
    "  --base-addr A           IPv4 address of device 0 (default 127.1.0.1); device i is\n"
    "                          A + i, skipping .0 and .255 in the last octet\n"
    "  --port P                CoAP UDP port of every device (default 5683; 0: one ephemeral\n"
    "                          port shared by all, reported in the members and ready files)\n"
    "  --dtls                  also serve CoAPS (DTLS-PSK) on --dtls-port\n"
    "  --dtls-port P           CoAPS port (default 5684; 0: ephemeral)\n"
    "  --psk-secret S          secret from which each device's PSK is derived:\n"
    "                          key = SHA-256(S || ep)[0..15], identity = ep\n"
    "                          (default \"lwm2m-mbms-sim\")\n"
    "  --ep-prefix P           endpoint names P0000, P0001, ... (default \"dev-\"; at most 16\n"
    "                          printable characters, none of / , = # \" \\)\n"
    "  --object O              Object ID in each member ID of the members file (ep=NAME/O;\n"
    "                          default 42769)\n"
    "  --tlv-every K           every K-th device (dev-(K-1), dev-(2K-1), ...) is an LwM2M 1.0\n"
    "                          device: TLV only, SenML refused with 4.15 (default 0: none)\n"
    "  --group-mgmt-oid ID     Object ID of the Group Mgmt object (default 42769)\n"
    "  --objects DIR           every device also serves the objects of the DDF files in DIR\n"
    "                          (instance 0; it keeps what is written and reads it back;\n"
    "                          repeatable)\n"
    "\n"
    "Strict clients (behaviour of small sample LwM2M clients):\n"
    "  --require-accept        a Read (GET, with or without Observe) without an Accept\n"
    "                          option gets 5.00 Internal Server Error\n"
    "  --formats NAMES         the content formats the devices produce and consume, of text,\n"
    "                          opaque, tlv, senml-json, link (default: all); a Read whose\n"
    "                          Accept is not listed gets 4.06, a Write whose Content-Format\n"
    "                          is not listed 4.15; tlv or senml-json must be listed\n"
    "  --no-group-mgmt LIST    those devices have no Group Mgmt object: 4.04 to every\n"
    "                          request to it, and they never join a group (LIST: device\n"
    "                          indices, as for the --fw-* faults)\n"
    "  (and --fw-no-success under Faults: updates that never report Update Result 1)\n"
    "\n"
    "Faults:\n"
    "  --deny EP               that device answers 4.01 Unauthorized to everything\n"
    "                          (repeatable)\n"
    "  --drop RATE             probability 0..1 that a device ignores a request (no answer,\n"
    "                          not even an ACK: the client's retransmission helps)\n"
    "  --seed N                PRNG seed: device positions and drops (default 0)\n"
    "  --update-ms MS          how long a firmware update takes, State 3 (default 100)\n"
    "  --delay-ms MS           every device answers each request MS ms late (0..60000,\n"
    "                          default 0), as behind a slow radio link: each answer, every\n"
    "                          block of a Block1 or Block2 transfer included, leaves MS ms\n"
    "                          after its request came (a CON's ACK with it, not before);\n"
    "                          the other devices are served meanwhile\n"
    "  --group-loss P          probability 0..1 that a device misses a group request (each\n"
    "                          member draws on its own; default 0)\n"
    "  --mcast-if A            IPv4 address of the interface group sockets join on\n"
    "                          (default 127.0.0.1)\n"
    "  --server-addr A:P       the devices ignore, silently (no answer, no ACK), every unicast\n"
    "                          request whose source is not IPv4 address A, UDP port P, as a\n"
    "                          NAT or a client that filters by source would (counted as\n"
    "                          \"filtered\"); group requests are not affected\n"
    "  --fw-corrupt LIST       those devices' storage corrupts one byte of every firmware\n"
    "                          download (blob, push, pull): a blob fails its digest check\n"
    "                          (Update Result 5), a package gets a wrong PkgVersion\n"
    "  --fw-reboot LIST        those devices reboot once, in the middle of a download (half\n"
    "                          of it received): the download is lost (State 0, Update\n"
    "                          Result 0) and the device ignores every request, group ones\n"
    "                          included, for --fw-reboot-ms\n"
    "  --fw-reboot-ms MS       how long a rebooting device is away, 0..3600000 (default 1000)\n"
    "  --fw-refuse LIST        those devices accept the Update (Execute /5/0/2), then fail it\n"
    "                          after --update-ms: State 0, Update Result 8, firmware unchanged\n"
    "  --fw-no-success LIST    those devices install an update and go back to State 0 Idle\n"
    "                          without reporting it: Update Result stays 0, as many sample\n"
    "                          clients do (Firmware Version and PkgVersion show the package)\n"
    "                          LIST: device indices, e.g. 0,5,10-12 (repeatable)\n"
    "\n"
    "Firmware:\n"
    "  --max-pulls N           pull downloads (a coap:// Package URI) running at once, the\n"
    "                          others wait their turn in State 1 (1..10000, default 64)\n"
    "\n"
    "Observe (RFC 7641; Write-Attributes pmin, pmax, gt, lt, st are honoured):\n"
    "  --max-observations N    observations at once, fleet-wide (0..100000, default 10000;\n"
    "                          each device holds 16 at most); beyond, a GET with Observe is\n"
    "                          answered as a plain Read, without Observe\n"
    "  --notify-con-every N    every N-th notification of an observation is confirmable, the\n"
    "                          others NON (0..100000, default 5; 0: once a day only)\n"
    "\n"
    "Sessions (libcoap keeps one per client address and port):\n"
    "  --max-idle-sessions N   idle sessions kept before the least recently used is closed\n"
    "                          (default 1000)\n"
    "  --session-timeout SEC   an idle session is closed after SEC seconds (default 60)\n"
    "\n"
    "Output:\n"
    "  --members-file FILE     write the members file of the fleet (one line per device; coaps\n"
    "                          URIs with psk-id and psk-key when --dtls)\n"
    "  --ready-file FILE       once bound, write \"PORT DTLS_PORT\\n\" (0: no DTLS) to FILE.tmp\n"
    "                          and rename it to FILE\n"
    "  --stats-json FILE       on exit, write per-device counters as JSON\n"
    "  --verbose               one line per request on stderr\n"
    "  --help                  show this help and exit\n"
    "\n"
    "SIGINT or SIGTERM stops it: a summary goes to stderr, --stats-json is written, exit 0.\n"
    "Exit status: 0 clean shutdown or --help; 1 cannot start (bind, files, memory);\n"
    "2 usage error.\n"
    "See docs/simulator.md for the objects, the position formula and what is simulated.\n";

enum {
  O_COUNT = 256,
  O_BASE,
  O_PORT,
  O_DTLS,
  O_DTLS_PORT,
  O_SECRET,
  O_PREFIX,
  O_OBJECT,
  O_TLV,
  O_MEMBERS,
  O_READY,
  O_GM_OID,
  O_DENY,
  O_DROP,
  O_SEED,
  O_STATS,
  O_VERBOSE,
  O_UPDATE_MS,
  O_MAX_IDLE,
  O_SESSION_TIMEOUT,
  O_DELAY_MS,
  O_GROUP_LOSS,
  O_MCAST_IF,
  O_FW_CORRUPT,
  O_FW_REBOOT,
  O_FW_REBOOT_MS,
  O_FW_REFUSE,
  O_MAX_PULLS,
  O_OBJECTS,
  O_REQUIRE_ACCEPT,
  O_FORMATS,
  O_NO_GM,
  O_FW_NO_SUCCESS,
  O_MAX_OBS,
  O_CON_EVERY,
  O_SERVER_ADDR,
  O_HELP
};

static const struct option OPTS[] = {
    {"count", required_argument, NULL, O_COUNT},
    {"base-addr", required_argument, NULL, O_BASE},
    {"port", required_argument, NULL, O_PORT},
    {"dtls", no_argument, NULL, O_DTLS},
    {"dtls-port", required_argument, NULL, O_DTLS_PORT},
    {"psk-secret", required_argument, NULL, O_SECRET},
    {"ep-prefix", required_argument, NULL, O_PREFIX},
    {"object", required_argument, NULL, O_OBJECT},
    {"tlv-every", required_argument, NULL, O_TLV},
    {"members-file", required_argument, NULL, O_MEMBERS},
    {"ready-file", required_argument, NULL, O_READY},
    {"group-mgmt-oid", required_argument, NULL, O_GM_OID},
    {"deny", required_argument, NULL, O_DENY},
    {"drop", required_argument, NULL, O_DROP},
    {"seed", required_argument, NULL, O_SEED},
    {"stats-json", required_argument, NULL, O_STATS},
    {"verbose", no_argument, NULL, O_VERBOSE},
    {"update-ms", required_argument, NULL, O_UPDATE_MS},
    {"max-idle-sessions", required_argument, NULL, O_MAX_IDLE},
    {"session-timeout", required_argument, NULL, O_SESSION_TIMEOUT},
    {"delay-ms", required_argument, NULL, O_DELAY_MS},
    {"group-loss", required_argument, NULL, O_GROUP_LOSS},
    {"mcast-if", required_argument, NULL, O_MCAST_IF},
    {"fw-corrupt", required_argument, NULL, O_FW_CORRUPT},
    {"fw-reboot", required_argument, NULL, O_FW_REBOOT},
    {"fw-reboot-ms", required_argument, NULL, O_FW_REBOOT_MS},
    {"fw-refuse", required_argument, NULL, O_FW_REFUSE},
    {"max-pulls", required_argument, NULL, O_MAX_PULLS},
    {"objects", required_argument, NULL, O_OBJECTS},
    {"require-accept", no_argument, NULL, O_REQUIRE_ACCEPT},
    {"formats", required_argument, NULL, O_FORMATS},
    {"no-group-mgmt", required_argument, NULL, O_NO_GM},
    {"fw-no-success", required_argument, NULL, O_FW_NO_SUCCESS},
    {"max-observations", required_argument, NULL, O_MAX_OBS},
    {"notify-con-every", required_argument, NULL, O_CON_EVERY},
    {"server-addr", required_argument, NULL, O_SERVER_ADDR},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

/* The flags that name devices by index ("0,5,10-12"): where each list goes, and the device flag
 * it sets. */
typedef struct devlist_opt {
  int opt;
  const char *name;
  size_t off; /* of its sim_devlist in sim_config */
  uint8_t flag;
} devlist_opt;

static const devlist_opt DEVLISTS[] = {
    {O_FW_CORRUPT, "fw-corrupt", offsetof(sim_config, fw_corrupt), SIM_DEV_FW_CORRUPT},
    {O_FW_REBOOT, "fw-reboot", offsetof(sim_config, fw_reboot), SIM_DEV_FW_REBOOT},
    {O_FW_REFUSE, "fw-refuse", offsetof(sim_config, fw_refuse), SIM_DEV_FW_REFUSE},
    {O_NO_GM, "no-group-mgmt", offsetof(sim_config, no_group_mgmt), SIM_DEV_NO_GM},
    {O_FW_NO_SUCCESS, "fw-no-success", offsetof(sim_config, fw_no_success), SIM_DEV_FW_NO_SUCCESS}};

static const devlist_opt *devlist_of(int opt) {
  size_t k = 0;
  while (DEVLISTS[k].opt != opt)
    k++;
  return &DEVLISTS[k];
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("lwm2m-mbms-sim: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'lwm2m-mbms-sim --help'.\n", stderr);
  return 2;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  unsigned long long v;
  if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* "0,5,10-12" appended to l; false when it is not such a list. */
static bool parse_devlist(const char *s, sim_devlist *l) {
  while (*s) {
    uint64_t lo, hi;
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    char item[32];
    if (n == 0 || n >= sizeof item) return false;
    memcpy(item, s, n);
    item[n] = 0;
    char *dash = strchr(item, '-');
    if (dash) *dash = 0;
    if (!parse_u64(item, 0, SIM_MAX_DEVICES - 1, &lo)) return false;
    hi = lo;
    if (dash && !parse_u64(dash + 1, lo, SIM_MAX_DEVICES - 1, &hi)) return false;
    void *nr = realloc(l->r, (l->n + 1) * sizeof *l->r);
    if (!nr) return false;
    l->r = nr;
    l->r[l->n][0] = (uint32_t)lo, l->r[l->n][1] = (uint32_t)hi;
    l->n++;
    s += n;
    if (*s == ',' && !*++s) return false; /* a trailing comma */
  }
  return l->n > 0;
}

/* "tlv,text" as SIM_FMT_* bits; false when a name is unknown or empty. */
static bool parse_formats(const char *s, unsigned *out) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {{"text", SIM_FMT_TEXT},
               {"opaque", SIM_FMT_OPAQUE},
               {"tlv", SIM_FMT_TLV},
               {"senml-json", SIM_FMT_SENML_JSON},
               {"link", SIM_FMT_LINK}};
  unsigned v = 0;
  for (;;) {
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s), k = 0;
    while (k < sizeof names / sizeof *names &&
           !(strlen(names[k].name) == n && strncmp(names[k].name, s, n) == 0))
      k++;
    if (k == sizeof names / sizeof *names) return false;
    v |= names[k].bit;
    if (!comma) break;
    s = comma + 1;
  }
  *out = v;
  return true;
}

/* "A.B.C.D:PORT" into c->server_addr and server_port. */
static bool parse_server_addr(const char *s, sim_config *c) {
  const char *colon = strrchr(s, ':');
  char host[INET_ADDRSTRLEN];
  struct in_addr in;
  uint64_t port;
  if (!colon || (size_t)(colon - s) >= sizeof host) return false;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  if (inet_pton(AF_INET, host, &in) != 1 || !parse_u64(colon + 1, 1, 65535, &port)) return false;
  c->server_only = true;
  c->server_addr = ntohl(in.s_addr);
  c->server_port = (uint16_t)port;
  return true;
}

static void config_free(sim_config *c) {
  lmm_objects_free(c->objects);
  free(c->deny);
  free(c->fw_corrupt.r);
  free(c->fw_reboot.r);
  free(c->fw_refuse.r);
  free(c->no_group_mgmt.r);
  free(c->fw_no_success.r);
}

static bool prefix_ok(const char *p) {
  size_t n = strlen(p);
  if (n > 16) return false;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)p[k];
    if (c <= ' ' || c >= 127 || strchr("/,=#\"\\", c)) return false;
  }
  return true;
}

static int parse_args(int argc, char **argv, sim_config *c, bool *help) {
  int o;
  uint64_t v;
  c->count = 10;
  inet_pton(AF_INET, "127.1.0.1", &c->base_addr);
  c->base_addr = ntohl(c->base_addr);
  c->port = 5683;
  c->dtls_port = 5684;
  c->psk_secret = "lwm2m-mbms-sim";
  c->ep_prefix = "dev-";
  c->object = LMM_GROUP_MGMT_OID;
  c->gm_oid = LMM_GROUP_MGMT_OID;
  c->update_ms = 100;
  c->max_idle_sessions = 1000;
  c->session_timeout = 60;
  c->mcast_if = 0x7f000001u; /* 127.0.0.1 */
  c->max_pulls = 64;
  c->fw_reboot_ms = 1000;
  c->formats = SIM_FMT_ALL;
  c->max_obs = 10000;
  c->notify_con_every = 5;

  opterr = 0;
  while ((o = getopt_long(argc, argv, ":", OPTS, NULL)) != -1) {
    const char *a = optarg;
    switch (o) {
    case O_COUNT:
      if (!parse_u64(a, 1, SIM_MAX_DEVICES, &v))
        return usage_error("--count: expected 1..%u, got '%s'", SIM_MAX_DEVICES, a);
      c->count = (unsigned)v;
      break;
    case O_BASE: {
      struct in_addr in;
      if (inet_pton(AF_INET, a, &in) != 1)
        return usage_error("--base-addr: expected a numeric IPv4 address, got '%s'", a);
      c->base_addr = ntohl(in.s_addr);
      if ((c->base_addr & 255u) == 0 || (c->base_addr & 255u) == 255)
        return usage_error("--base-addr: the last octet must be 1..254, got '%s'", a);
      break;
    }
    case O_PORT:
    case O_DTLS_PORT:
      if (!parse_u64(a, 0, 65535, &v))
        return usage_error("--%s: expected 0..65535, got '%s'", o == O_PORT ? "port" : "dtls-port",
                           a);
      *(o == O_PORT ? &c->port : &c->dtls_port) = (uint16_t)v;
      break;
    case O_DTLS:
      c->dtls = true;
      break;
    case O_SECRET:
      if (!a[0]) return usage_error("--psk-secret: must not be empty");
      c->psk_secret = a;
      break;
    case O_PREFIX:
      if (!prefix_ok(a))
        return usage_error("--ep-prefix: at most 16 printable characters without / , = # \" "
                           "\\ or spaces, got '%s'",
                           a);
      c->ep_prefix = a;
      break;
    case O_OBJECT:
    case O_GM_OID:
      if (!parse_u64(a, 0, 65534, &v))
        return usage_error("--%s: expected an Object ID 0..65534, got '%s'",
                           o == O_OBJECT ? "object" : "group-mgmt-oid", a);
      *(o == O_OBJECT ? &c->object : &c->gm_oid) = (uint16_t)v;
      break;
    case O_TLV:
      if (!parse_u64(a, 0, SIM_MAX_DEVICES, &v))
        return usage_error("--tlv-every: expected 0..%u, got '%s'", SIM_MAX_DEVICES, a);
      c->tlv_every = (unsigned)v;
      break;
    case O_MEMBERS:
      c->members_file = a;
      break;
    case O_READY:
      c->ready_file = a;
      break;
    case O_STATS:
      c->stats_json = a;
      break;
    case O_OBJECTS:
      if (!c->objects && lmm_objects_new(&c->objects) != LMM_OK)
        return usage_error("out of memory");
      if (lmm_objects_load_dir(c->objects, a) != LMM_OK)
        return usage_error("--objects %s: %s", a, lmm_objects_errmsg(c->objects));
      break;
    case O_DENY: {
      const char **n = realloc(c->deny, (c->n_deny + 1) * sizeof *n);
      if (!n) return usage_error("out of memory");
      c->deny = n;
      c->deny[c->n_deny++] = a;
      break;
    }
    case O_DROP:
    case O_GROUP_LOSS: {
      char *end;
      errno = 0;
      double d = strtod(a, &end);
      if (!a[0] || errno || *end || !isfinite(d) || d < 0.0 || d > 1.0)
        return usage_error("--%s: expected a probability 0..1, got '%s'",
                           o == O_DROP ? "drop" : "group-loss", a);
      *(o == O_DROP ? &c->drop : &c->group_loss) = d;
      break;
    }
    case O_MCAST_IF: {
      struct in_addr in;
      if (inet_pton(AF_INET, a, &in) != 1)
        return usage_error("--mcast-if: expected a numeric IPv4 address, got '%s'", a);
      c->mcast_if = ntohl(in.s_addr);
      break;
    }
    case O_SERVER_ADDR:
      if (!parse_server_addr(a, c))
        return usage_error("--server-addr: expected a numeric IPv4 address and a port 1..65535, "
                           "like 127.0.0.1:5683, got '%s'",
                           a);
      break;
    case O_SEED:
      if (!parse_u64(a, 0, UINT64_MAX, &v))
        return usage_error("--seed: expected an unsigned integer, got '%s'", a);
      c->seed = v;
      break;
    case O_FW_CORRUPT:
    case O_FW_REBOOT:
    case O_FW_REFUSE:
    case O_NO_GM:
    case O_FW_NO_SUCCESS: {
      const devlist_opt *d = devlist_of(o);
      if (!parse_devlist(a, (sim_devlist *)((char *)c + d->off)))
        return usage_error("--%s: expected device indices like 0,5,10-12 (0..%u), got '%s'",
                           d->name, SIM_MAX_DEVICES - 1, a);
      break;
    }
    case O_FW_REBOOT_MS:
      if (!parse_u64(a, 0, 3600000, &v))
        return usage_error("--fw-reboot-ms: expected 0..3600000, got '%s'", a);
      c->fw_reboot_ms = (unsigned)v;
      break;
    case O_MAX_OBS:
    case O_CON_EVERY:
      if (!parse_u64(a, 0, 100000, &v))
        return usage_error("--%s: expected 0..100000, got '%s'",
                           o == O_MAX_OBS ? "max-observations" : "notify-con-every", a);
      *(o == O_MAX_OBS ? &c->max_obs : &c->notify_con_every) = (unsigned)v;
      break;
    case O_MAX_PULLS:
      if (!parse_u64(a, 1, SIM_MAX_DEVICES, &v))
        return usage_error("--max-pulls: expected 1..%u, got '%s'", SIM_MAX_DEVICES, a);
      c->max_pulls = (unsigned)v;
      break;
    case O_UPDATE_MS:
      if (!parse_u64(a, 0, 3600000, &v))
        return usage_error("--update-ms: expected 0..3600000, got '%s'", a);
      c->update_ms = (unsigned)v;
      break;
    case O_DELAY_MS:
      if (!parse_u64(a, 0, 60000, &v))
        return usage_error("--delay-ms: expected 0..60000, got '%s'", a);
      c->delay_ms = (unsigned)v;
      break;
    case O_MAX_IDLE:
      if (!parse_u64(a, 1, 1000000, &v))
        return usage_error("--max-idle-sessions: expected 1..1000000, got '%s'", a);
      c->max_idle_sessions = (unsigned)v;
      break;
    case O_SESSION_TIMEOUT:
      if (!parse_u64(a, 1, 86400, &v))
        return usage_error("--session-timeout: expected 1..86400 seconds, got '%s'", a);
      c->session_timeout = (unsigned)v;
      break;
    case O_VERBOSE:
      c->verbose = true;
      break;
    case O_REQUIRE_ACCEPT:
      c->require_accept = true;
      break;
    case O_FORMATS:
      if (!parse_formats(a, &c->formats))
        return usage_error("--formats: expected names of text, opaque, tlv, senml-json, link "
                           "separated by commas, got '%s'",
                           a);
      if (!(c->formats & (SIM_FMT_TLV | SIM_FMT_SENML_JSON)))
        return usage_error("--formats: '%s' has neither tlv nor senml-json: a device could not "
                           "answer several values",
                           a);
      break;
    case O_HELP:
      *help = true;
      return 0;
    case ':':
      return usage_error("option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
  if (c->gm_oid == 3 || c->gm_oid == 5 || c->gm_oid == 6)
    return usage_error("--group-mgmt-oid: %u is an OMA object of every device", c->gm_oid);
  if (c->tlv_every && !(c->formats & SIM_FMT_TLV))
    return usage_error("--tlv-every: its LwM2M 1.0 devices speak TLV, which --formats leaves out");
  return 0;
}

/* The deny list names devices: a name outside the fleet is a mistake worth stopping for. */
static int check_deny(const sim_fleet *f) {
  for (size_t k = 0; k < f->cfg->n_deny; k++)
    if (sim_ep_index(f, f->cfg->deny[k], strlen(f->cfg->deny[k])) < 0)
      return usage_error("--deny: '%s' is not a device of this fleet (%s0000..%s%04u)",
                         f->cfg->deny[k], f->cfg->ep_prefix, f->cfg->ep_prefix, f->n - 1);
  return 0;
}

/* The fault lists name devices by index: one outside the fleet is a mistake worth stopping for.
 * Sets the devices' fault flags. */
static int apply_faults(sim_fleet *f) {
  for (size_t k = 0; k < sizeof DEVLISTS / sizeof *DEVLISTS; k++) {
    const sim_devlist *l = (const sim_devlist *)((const char *)f->cfg + DEVLISTS[k].off);
    for (size_t j = 0; j < l->n; j++) {
      if (l->r[j][1] >= f->n)
        return usage_error("--%s: device %u is not in the fleet (0..%u)", DEVLISTS[k].name,
                           l->r[j][1], f->n - 1);
      for (uint32_t i = l->r[j][0]; i <= l->r[j][1]; i++)
        f->dev[i].flags |= DEVLISTS[k].flag;
    }
  }
  return 0;
}

/* Writes `len` bytes to path via path.tmp and a rename, so that a reader never sees a partial
 * file. */
static int write_atomic(const char *path, const char *data, size_t len) {
  size_t pl = strlen(path);
  char *tmp = malloc(pl + 5);
  if (!tmp) return -1;
  memcpy(tmp, path, pl);
  memcpy(tmp + pl, ".tmp", 5);
  FILE *fp = fopen(tmp, "wb");
  int rc = -1;
  if (fp) {
    bool ok = fwrite(data, 1, len, fp) == len;
    ok = (fclose(fp) == 0) && ok;
    if (ok && rename(tmp, path) == 0) rc = 0;
  }
  if (rc) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot write '%s': %s\n", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

static int write_members(const sim_fleet *f) {
  const sim_config *c = f->cfg;
  lmm_member *m = calloc(f->n, sizeof *m);
  char *text = NULL;
  int rc = -1;
  if (!m) goto out;
  for (unsigned i = 0; i < f->n; i++) {
    char ep[48], uri[64];
    struct in_addr in = {htonl(sim_dev_addr(f, i))};
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in, host, sizeof host);
    sim_dev_ep(f, i, ep, sizeof ep);
    snprintf(uri, sizeof uri, "%s://%s:%u", c->dtls ? "coaps" : "coap", host,
             c->dtls ? f->dtls_port : f->port);
    m[i].ep = strdup(ep);
    m[i].uri = strdup(uri);
    m[i].oid = c->object;
    m[i].format = (f->dev[i].flags & SIM_DEV_TLV) ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
    if (!m[i].ep || !m[i].uri) goto out;
    if (c->dtls) {
      m[i].psk_identity = strdup(ep);
      m[i].psk_key = malloc(16);
      if (!m[i].psk_identity || !m[i].psk_key) goto out;
      m[i].psk_key_len = 16;
      sim_dev_psk(f, i, m[i].psk_key);
    }
  }
  if (!(text = lmm_members_format(m, f->n))) goto out;
  rc = write_atomic(c->members_file, text, strlen(text));
out:
  if (rc && !text) fprintf(stderr, "lwm2m-mbms-sim: out of memory for the members file\n");
  lmm_free(text);
  lmm_members_free(m, m ? f->n : 0);
  return rc;
}

static int write_ready(const sim_fleet *f) {
  char s[32];
  int n = snprintf(s, sizeof s, "%u %u\n", f->port, f->cfg->dtls ? f->dtls_port : 0u);
  return write_atomic(f->cfg->ready_file, s, (size_t)n);
}

/* The port libcoap bound: coap_endpoint_str() reads "0.0.0.0:PORT UDP". */
static uint16_t bound_port(const coap_endpoint_t *ep) {
  const char *s = coap_endpoint_str(ep);
  const char *colon = s ? strrchr(s, ':') : NULL;
  return colon ? (uint16_t)strtoul(colon + 1, NULL, 10) : 0;
}

static coap_endpoint_t *listen_on(coap_context_t *ctx, uint16_t port, coap_proto_t proto) {
  coap_address_t a;
  coap_address_init(&a);
  a.addr.sin.sin_family = AF_INET;
  a.addr.sin.sin_addr.s_addr = htonl(INADDR_ANY); /* every 127.x.y.z: one socket for all */
  a.addr.sin.sin_port = htons(port);
  a.size = sizeof a.addr.sin;
  return coap_new_endpoint(ctx, &a, proto);
}

/* One socket receives every device's requests: a client with hundreds in flight sends them in
 * bursts, and with the kernel's default buffer (212,992 bytes, a few hundred datagrams) the
 * kernel drops some while the loop is busy; the client then retransmits only after its
 * ACK_TIMEOUT (2 to 3 s). libcoap 4.3.1 gives no access to an endpoint's socket: it is found
 * among the open descriptors by its bound port, and its buffer raised to SIM_RCVBUF (as root
 * with SO_RCVBUFFORCE, else up to net.core.rmem_max). Returns the size the kernel gave; the
 * socket goes into *fd_out (when not NULL) for observe.c, which reads Resets there. */
#define SIM_RCVBUF (8 * 1024 * 1024)
static int widen_rcvbuf(uint16_t port, int *fd_out) {
  int got = 0;
  for (int fd = 3; fd < 1024; fd++) {
    struct sockaddr_in a;
    socklen_t al = sizeof a, tl;
    int type, want = SIM_RCVBUF;
    tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM) continue;
    if (getsockname(fd, (struct sockaddr *)&a, &al) != 0 || a.sin_family != AF_INET ||
        ntohs(a.sin_port) != port)
      continue;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    tl = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &tl);
    if (fd_out) *fd_out = fd;
  }
  return got;
}

/* What the features hold per device goes first, then the devices. */
static void fleet_free(sim_fleet *f) {
  for (unsigned i = 0; f->dev && i < f->n; i++) {
    sim_fw_clear(&f->dev[i].fw);
    sim_fw_blob_drop(f, &f->dev[i]);
    sim_attr_free(&f->dev[i]);
  }
  sim_fleet_free(f);
}

int main(int argc, char **argv) {
  sim_config cfg = {0};
  sim_fleet fleet;
  bool help = false;
  int rc = parse_args(argc, argv, &cfg, &help);
  if (rc || help) {
    if (help && fputs(USAGE, stdout) == EOF) rc = 1;
    config_free(&cfg);
    return rc;
  }
  memset(&fleet, 0, sizeof fleet);
  if (sim_fleet_init(&fleet, &cfg) != 0) {
    fleet_free(&fleet);
    config_free(&cfg);
    return 1;
  }
  if ((rc = check_deny(&fleet)) != 0 || (rc = apply_faults(&fleet)) != 0) {
    fleet_free(&fleet);
    config_free(&cfg);
    return rc;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: the wait in coap_io_process() returns at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  coap_startup();
  /* libcoap reports a peer's RST as an alert: only --verbose shows its messages. */
  coap_set_log_level(cfg.verbose ? LOG_WARNING : LOG_EMERG);
  rc = 1;
  coap_endpoint_t *ep = NULL, *dep = NULL;
  coap_context_t *ctx = coap_new_context(NULL);
  if (!ctx) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot create the CoAP context\n");
    goto out;
  }
  fleet.ctx = ctx;
  /* Sessions are per client address and port, not per device: a client that opens a socket
   * per request would pile them up, so idle ones are capped and time out. */
  coap_context_set_max_idle_sessions(ctx, cfg.max_idle_sessions);
  coap_context_set_session_timeout(ctx, cfg.session_timeout);
  if (cfg.dtls) {
    if (!coap_dtls_is_supported()) {
      fprintf(stderr, "lwm2m-mbms-sim: this libcoap has no DTLS\n");
      goto out;
    }
    coap_dtls_spsk_t spsk;
    memset(&spsk, 0, sizeof spsk);
    spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
    spsk.validate_id_call_back = sim_psk_for_identity;
    spsk.id_call_back_arg = &fleet;
    if (!coap_context_set_psk2(ctx, &spsk)) {
      fprintf(stderr, "lwm2m-mbms-sim: cannot set up DTLS-PSK\n");
      goto out;
    }
  }
  if (!(ep = listen_on(ctx, cfg.port, COAP_PROTO_UDP))) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot bind UDP port %u\n", cfg.port);
    goto out;
  }
  fleet.port = bound_port(ep);
  int rcvbuf = widen_rcvbuf(fleet.port, &fleet.udp_fd);
  if (cfg.dtls) {
    if (!(dep = listen_on(ctx, cfg.dtls_port, COAP_PROTO_DTLS))) {
      fprintf(stderr, "lwm2m-mbms-sim: cannot bind DTLS port %u\n", cfg.dtls_port);
      goto out;
    }
    fleet.dtls_port = bound_port(dep);
    widen_rcvbuf(fleet.dtls_port, NULL);
  }
  if (sim_coap_setup(&fleet) != 0) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot register the CoAP handlers\n");
    goto out;
  }
  /* The members file first: once the ready file exists, everything a test needs is there. */
  if (cfg.members_file && write_members(&fleet) != 0) goto out;
  if (cfg.ready_file && write_ready(&fleet) != 0) goto out;
  if (cfg.verbose)
    fprintf(stderr, "lwm2m-mbms-sim: %u devices ready on UDP port %u%s (receive buffer %d bytes)\n",
            fleet.n, fleet.port, cfg.dtls ? " and DTLS" : "", rcvbuf);

  while (!stop_requested) {
    /* Held answers (--delay-ms) are sent between two waits, each no longer than the time to
     * the next one due: the wait is in whole milliseconds, rounded up, so none goes early. */
    long wait = sim_held_flush(&fleet);
    /* Notifications due, changes seen since the last turn: read as a Read would be. */
    long notify = sim_obs_run(&fleet, sim_read_observed);
    if (notify >= 0 && (wait < 0 || notify < wait)) wait = notify;
    if (wait < 0 || wait > 500) wait = 500;
    sim_pull_tick(&fleet); /* finished pulls go, queued ones start */
    /* libcoap's fd, group sockets, group answers; group requests served as unicast ones. */
    if (sim_group_io(&fleet, wait, sim_serve_pdu) < 0) {
      /* A stop signal can land inside the wait and fail it: that is the stop, not an error. */
      if (stop_requested) break;
      fprintf(stderr, "lwm2m-mbms-sim: CoAP I/O failed: %s\n", strerror(errno));
      goto out;
    }
  }
  sim_held_clear(&fleet); /* answers still held at a stop are not sent */
  int64_t now = sim_now_ms();
  for (unsigned i = 0; i < fleet.n; i++)
    sim_fw_tick(&fleet, &fleet.dev[i], now);
  sim_stats_summary(&fleet);
  rc = cfg.stats_json && sim_stats_write(&fleet) != 0 ? 1 : 0;
out:
  sim_held_clear(&fleet);
  sim_group_free(&fleet); /* answers still pending at a stop are not sent */
  sim_pull_free(&fleet);  /* pulls still running at a stop are abandoned */
  sim_obs_free(&fleet);   /* observations end with the fleet, unannounced */
  if (ctx) coap_free_context(ctx);
  coap_cleanup();
  fleet_free(&fleet);
  config_free(&cfg);
  return rc;
}
