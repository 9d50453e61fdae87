/* opts.c - lwm2m-mbms-sim's command line: --help, the options into a sim_config, and the
 * checks of the fault lists against the fleet. */
#include "opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define usage_error(...) cli_usage_error("lwm2m-mbms-sim", __VA_ARGS__)

const char SIM_USAGE[] =
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
    "Access control (docs/access-control.md):\n"
    "  --server SSID[=A:P]     an LwM2M Server account (/1 instance) with Short Server ID\n"
    "                          SSID 1..65534, whose requests come from IPv4 address A, UDP\n"
    "                          port P; without =A:P, from every source no other account\n"
    "                          names (at most one such). Repeatable, at most 8; the first\n"
    "                          owns the bootstrap's Access Control (/2) instances. Default:\n"
    "                          one account, SSID 1, and with one account everything is\n"
    "                          allowed (no access control)\n"
    "\n"
    "Faults:\n"
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
  O_SERVER,
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

/* The long options, in the order of the O_ values above: '=' marks those that take a value. */
static const char OPTIONS[] =
    "count= base-addr= port= dtls dtls-port= psk-secret= ep-prefix= object= tlv-every= "
    "members-file= ready-file= group-mgmt-oid= server= drop= seed= stats-json= verbose update-ms= "
    "max-idle-sessions= session-timeout= delay-ms= group-loss= mcast-if= fw-corrupt= fw-reboot= "
    "fw-reboot-ms= fw-refuse= max-pulls= objects= require-accept formats= no-group-mgmt= "
    "fw-no-success= max-observations= notify-con-every= server-addr= help";
#define N_OPTIONS (O_HELP - O_COUNT + 1)

/* The options that take a number in a range: where it goes in sim_config, and what the usage
 * error says is expected (NULL: the range). */
typedef struct num_opt {
  int opt;
  uint64_t lo, hi;
  size_t off, size;
  const char *expect;
} num_opt;

#define NUM(o, lo, hi, field, expect)                                                              \
  { o, lo, hi, offsetof(sim_config, field), sizeof(((sim_config *)0)->field), expect }
static const num_opt NUMS[] = {
    NUM(O_COUNT, 1, SIM_MAX_DEVICES, count, NULL),
    NUM(O_PORT, 0, 65535, port, NULL),
    NUM(O_DTLS_PORT, 0, 65535, dtls_port, NULL),
    NUM(O_OBJECT, 0, 65534, object, "an Object ID 0..65534"),
    NUM(O_GM_OID, 0, 65534, gm_oid, "an Object ID 0..65534"),
    NUM(O_TLV, 0, SIM_MAX_DEVICES, tlv_every, NULL),
    NUM(O_SEED, 0, UINT64_MAX, seed, "an unsigned integer"),
    NUM(O_FW_REBOOT_MS, 0, 3600000, fw_reboot_ms, NULL),
    NUM(O_MAX_OBS, 0, 100000, max_obs, NULL),
    NUM(O_CON_EVERY, 0, 100000, notify_con_every, NULL),
    NUM(O_MAX_PULLS, 1, SIM_MAX_DEVICES, max_pulls, NULL),
    NUM(O_UPDATE_MS, 0, 3600000, update_ms, NULL),
    NUM(O_DELAY_MS, 0, 60000, delay_ms, NULL),
    NUM(O_MAX_IDLE, 1, 1000000, max_idle_sessions, NULL),
    NUM(O_SESSION_TIMEOUT, 1, 86400, session_timeout, "1..86400 seconds")};

static const num_opt *num_of(int opt) {
  for (size_t k = 0; k < sizeof NUMS / sizeof *NUMS; k++)
    if (NUMS[k].opt == opt) return &NUMS[k];
  return NULL;
}

/* v into the unsigned field of `size` bytes at `at`. */
static void store(void *at, size_t size, uint64_t v) {
  if (size == sizeof(uint16_t)) {
    uint16_t x = (uint16_t)v;
    memcpy(at, &x, sizeof x);
  } else if (size == sizeof(unsigned)) {
    unsigned x = (unsigned)v;
    memcpy(at, &x, sizeof x);
  } else {
    memcpy(at, &v, sizeof v);
  }
}

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
    if (!cli_parse_u64(item, 0, SIM_MAX_DEVICES - 1, &lo)) return false;
    hi = lo;
    if (dash && !cli_parse_u64(dash + 1, lo, SIM_MAX_DEVICES - 1, &hi)) return false;
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

/* "A.B.C.D:PORT" into *addr and *port. */
static bool parse_addr_port(const char *s, uint32_t *addr, uint16_t *port) {
  const char *colon = strrchr(s, ':');
  char host[INET_ADDRSTRLEN];
  struct in_addr in;
  uint64_t p;
  if (!colon || (size_t)(colon - s) >= sizeof host) return false;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  if (inet_pton(AF_INET, host, &in) != 1 || !cli_parse_u64(colon + 1, 1, 65535, &p)) return false;
  *addr = ntohl(in.s_addr);
  *port = (uint16_t)p;
  return true;
}

/* --server "SSID" or "SSID=A:P": one more account; a usage error's message otherwise. */
static const char *add_server(const char *s, sim_config *c) {
  static char why[160];
  const char *eq = strchr(s, '=');
  char num[8];
  uint64_t ssid;
  sim_server sv = {0};
  size_t n = eq ? (size_t)(eq - s) : strlen(s);
  if (n == 0 || n >= sizeof num) return "expected SSID or SSID=A:P, SSID 1..65534";
  memcpy(num, s, n);
  num[n] = '\0';
  if (!cli_parse_u64(num, 1, 65534, &ssid)) return "expected SSID or SSID=A:P, SSID 1..65534";
  sv.ssid = (uint16_t)ssid;
  if (eq && !(sv.has_addr = parse_addr_port(eq + 1, &sv.addr, &sv.port)))
    return "expected A:P after '=': a numeric IPv4 address and a port 1..65535";
  if (c->n_servers >= SIM_SERVERS_MAX) return "at most 8 server accounts";
  for (unsigned k = 0; k < c->n_servers; k++) {
    const sim_server *o = &c->servers[k];
    if (o->ssid == sv.ssid) {
      snprintf(why, sizeof why, "Short Server ID %u given twice", sv.ssid);
      return why;
    }
    if (!o->has_addr && !sv.has_addr)
      return "only one account may go without an address (it takes every other source)";
    if (o->has_addr && sv.has_addr && o->addr == sv.addr && o->port == sv.port)
      return "two accounts with the same address and port";
  }
  c->servers[c->n_servers++] = sv;
  return NULL;
}

/* --server-addr "A.B.C.D:PORT". */
static bool parse_server_addr(const char *s, sim_config *c) {
  if (!parse_addr_port(s, &c->server_addr, &c->server_port)) return false;
  c->server_only = true;
  return true;
}

void sim_opts_free(sim_config *c) {
  lmm_objects_free(c->objects);
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

int sim_opts_parse(int argc, char **argv, sim_config *c, bool *help) {
  struct option opts[N_OPTIONS + 1];
  char names[sizeof OPTIONS];
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

  if (cli_options(OPTIONS, O_COUNT, opts, N_OPTIONS + 1, names) != N_OPTIONS)
    return usage_error("internal error: the option table does not match its options");
  opterr = 0;
  while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    const char *a = optarg;
    const num_opt *no = num_of(o);
    if (no) {
      char range[48] = "";
      if (!no->expect)
        snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)no->lo,
                 (unsigned long long)no->hi);
      if (!cli_parse_u64(a, no->lo, no->hi, &v))
        return usage_error("--%s: expected %s, got '%s'", opts[o - O_COUNT].name,
                           no->expect ? no->expect : range, a);
      store((char *)c + no->off, no->size, v);
      continue;
    }
    switch (o) {
    case O_BASE: {
      struct in_addr in;
      if (inet_pton(AF_INET, a, &in) != 1)
        return usage_error("--base-addr: expected a numeric IPv4 address, got '%s'", a);
      c->base_addr = ntohl(in.s_addr);
      if ((c->base_addr & 255u) == 0 || (c->base_addr & 255u) == 255)
        return usage_error("--base-addr: the last octet must be 1..254, got '%s'", a);
      break;
    }
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
    case O_SERVER: {
      const char *why = add_server(a, c);
      if (why) return usage_error("--server '%s': %s", a, why);
      break;
    }
    case O_DROP:
    case O_GROUP_LOSS:
      if (!cli_parse_prob(a, o == O_DROP ? &c->drop : &c->group_loss))
        return usage_error("--%s: expected a probability 0..1, got '%s'", opts[o - O_COUNT].name,
                           a);
      break;
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
  if (c->n_servers == 0) /* one server account, which has every right */
    c->servers[c->n_servers++] = (sim_server){.ssid = 1};
  if (c->gm_oid == 3 || c->gm_oid == 5 || c->gm_oid == 6)
    return usage_error("--group-mgmt-oid: %u is an OMA object of every device", c->gm_oid);
  if (c->tlv_every && !(c->formats & SIM_FMT_TLV))
    return usage_error("--tlv-every: its LwM2M 1.0 devices speak TLV, which --formats leaves out");
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

int sim_opts_apply(sim_fleet *f) {
  return apply_faults(f);
}
