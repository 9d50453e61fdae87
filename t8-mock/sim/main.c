/* main.c - lwm2m-mbms-sim: command line, start-up, the event loop, signals and statistics. */
#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
    "                          LIST: device indices, e.g. 0,5,10-12 (repeatable)\n"
    "\n"
    "Firmware:\n"
    "  --max-pulls N           pull downloads (a coap:// Package URI) running at once, the\n"
    "                          others wait their turn in State 1 (1..10000, default 64)\n"
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
    {"server-addr", required_argument, NULL, O_SERVER_ADDR},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

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
  free(c->deny);
  free(c->fw_corrupt.r);
  free(c->fw_reboot.r);
  free(c->fw_refuse.r);
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
    case O_FW_REFUSE: {
      sim_devlist *l = o == O_FW_CORRUPT  ? &c->fw_corrupt
                       : o == O_FW_REBOOT ? &c->fw_reboot
                                          : &c->fw_refuse;
      if (!parse_devlist(a, l))
        return usage_error("--%s: expected device indices like 0,5,10-12 (0..%u), got '%s'",
                           o == O_FW_CORRUPT  ? "fw-corrupt"
                           : o == O_FW_REBOOT ? "fw-reboot"
                                              : "fw-refuse",
                           SIM_MAX_DEVICES - 1, a);
      break;
    }
    case O_FW_REBOOT_MS:
      if (!parse_u64(a, 0, 3600000, &v))
        return usage_error("--fw-reboot-ms: expected 0..3600000, got '%s'", a);
      c->fw_reboot_ms = (unsigned)v;
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
  static const char *const names[] = {"fw-corrupt", "fw-reboot", "fw-refuse"};
  const sim_devlist *lists[] = {&f->cfg->fw_corrupt, &f->cfg->fw_reboot, &f->cfg->fw_refuse};
  static const uint8_t flags[] = {SIM_DEV_FW_CORRUPT, SIM_DEV_FW_REBOOT, SIM_DEV_FW_REFUSE};
  for (int k = 0; k < 3; k++)
    for (size_t j = 0; j < lists[k]->n; j++) {
      if (lists[k]->r[j][1] >= f->n)
        return usage_error("--%s: device %u is not in the fleet (0..%u)", names[k],
                           lists[k]->r[j][1], f->n - 1);
      for (uint32_t i = lists[k]->r[j][0]; i <= lists[k]->r[j][1]; i++)
        f->dev[i].flags |= flags[k];
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
 * with SO_RCVBUFFORCE, else up to net.core.rmem_max). Returns the size the kernel gave. */
#define SIM_RCVBUF (8 * 1024 * 1024)
static int widen_rcvbuf(uint16_t port) {
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
  }
  return got;
}

/* ------------------------------------------------------------------ statistics */

typedef struct totals {
  uint64_t req[SIM_M_N], resp[SIM_C_N], dropped, gm_changes, fw_updates;
  unsigned gm_devices, updated_devices;
  uint64_t grp_bytes, frags, frag_dup, frag_rec, frag_uni, pulls, reboots, offline;
  unsigned by_state[4], by_result[10];
} totals;

static void sum(const sim_fleet *f, totals *t) {
  memset(t, 0, sizeof *t);
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    for (int k = 0; k < SIM_M_N; k++)
      t->req[k] += c->req[k];
    for (int k = 0; k < SIM_C_N; k++)
      t->resp[k] += c->resp[k];
    t->dropped += c->dropped;
    t->gm_changes += c->gm_changes;
    t->fw_updates += c->fw_updates;
    t->gm_devices += c->gm_changes > 0;
    t->updated_devices += c->fw_updates > 0;
    t->grp_bytes += c->grp_bytes, t->frags += c->frags, t->frag_dup += c->frag_dup;
    t->frag_rec += c->frag_rec, t->frag_uni += c->frag_uni, t->pulls += c->pulls;
    t->reboots += c->reboots, t->offline += c->offline;
    const sim_fw *fw = &f->dev[i].fw;
    if (fw->state < 4) t->by_state[fw->state]++;
    if (fw->result < 10) t->by_result[fw->result]++;
  }
}

static void print_summary(const sim_fleet *f) {
  totals t;
  sum(f, &t);
  uint64_t all = 0;
  for (int k = 0; k < SIM_M_N; k++)
    all += t.req[k];
  fprintf(stderr,
          "lwm2m-mbms-sim: %u devices, %llu requests (GET %llu, PUT %llu, POST %llu, DELETE %llu, "
          "other %llu), %llu dropped, %u to no device\n",
          f->n, (unsigned long long)all, (unsigned long long)t.req[SIM_M_GET],
          (unsigned long long)t.req[SIM_M_PUT], (unsigned long long)t.req[SIM_M_POST],
          (unsigned long long)t.req[SIM_M_DELETE], (unsigned long long)t.req[SIM_M_OTHER],
          (unsigned long long)t.dropped, f->no_device);
  fprintf(stderr, "lwm2m-mbms-sim: responses 2.xx %llu, 4.xx %llu, 5.xx %llu\n",
          (unsigned long long)t.resp[SIM_C_2XX], (unsigned long long)t.resp[SIM_C_4XX],
          (unsigned long long)t.resp[SIM_C_5XX]);
  fprintf(stderr, "lwm2m-mbms-sim: Group Mgmt written on %u devices (%llu changes)", t.gm_devices,
          (unsigned long long)t.gm_changes);
  /* As runs of consecutive devices ("dev-0000..dev-0999"), which keeps a whole group short. */
  unsigned runs = 0;
  for (unsigned i = 0; i < f->n; i++) {
    if (!f->dev[i].c.gm_changes) continue;
    unsigned j = i;
    while (j + 1 < f->n && f->dev[j + 1].c.gm_changes)
      j++;
    if (runs++ == 50) {
      fputs(", ...", stderr);
      break;
    }
    char a[48], b[48];
    fprintf(stderr, "%s%s", runs > 1 ? ", " : ": ", sim_dev_ep(f, i, a, sizeof a));
    if (j > i) fprintf(stderr, "..%s", sim_dev_ep(f, j, b, sizeof b));
    i = j;
  }
  fputc('\n', stderr);
  fprintf(stderr,
          "lwm2m-mbms-sim: firmware updated on %u devices; at most %u CoAP sessions at once\n",
          t.updated_devices, f->sessions_max);
  sim_group_summary(f);
  if (t.frags || t.frag_uni || t.pulls || t.reboots)
    fprintf(stderr,
            "lwm2m-mbms-sim: firmware: %llu blob fragments kept from groups (%llu duplicates, "
            "%llu rebuilt from parity), %llu by unicast; %llu pulls; %llu reboots; at most %llu "
            "bytes of blob buffers\n",
            (unsigned long long)t.frags, (unsigned long long)t.frag_dup,
            (unsigned long long)t.frag_rec, (unsigned long long)t.frag_uni,
            (unsigned long long)t.pulls, (unsigned long long)t.reboots,
            (unsigned long long)f->blob_mem_max);
  if (f->cfg->delay_ms)
    fprintf(stderr, "lwm2m-mbms-sim: answers delayed by %u ms; at most %zu held at once\n",
            f->cfg->delay_ms, f->held_max);
  if (f->cfg->server_only)
    fprintf(stderr, "lwm2m-mbms-sim: %u unicast requests ignored (not from --server-addr)\n",
            f->filtered);
}

static void json_counters(FILE *fp, const uint32_t *req, const uint32_t *resp) {
  fprintf(fp,
          "\"requests\":{\"GET\":%u,\"PUT\":%u,\"POST\":%u,\"DELETE\":%u,\"other\":%u},"
          "\"responses\":{\"2xx\":%u,\"4xx\":%u,\"5xx\":%u}",
          req[SIM_M_GET], req[SIM_M_PUT], req[SIM_M_POST], req[SIM_M_DELETE], req[SIM_M_OTHER],
          resp[SIM_C_2XX], resp[SIM_C_4XX], resp[SIM_C_5XX]);
}

static int write_stats(const sim_fleet *f) {
  const char *path = f->cfg->stats_json;
  size_t pl = strlen(path);
  char *tmp = malloc(pl + 5);
  if (!tmp) return -1;
  memcpy(tmp, path, pl);
  memcpy(tmp + pl, ".tmp", 5);
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot write '%s': %s\n", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  totals t;
  sum(f, &t);
  fprintf(fp,
          "{\"count\":%u,\"port\":%u,\"dtls_port\":%u,\"seed\":%llu,\"no_device\":%u,"
          "\"filtered\":%u,"
          "\"sessions_max\":%u,\"sessions_at_exit\":%u,\"delay_ms\":%u,\"held_max\":%zu,"
          "\"group_loss\":%g,"
          "\"totals\":{\"requests\":{\"GET\":%llu,"
          "\"PUT\":%llu,\"POST\":%llu,"
          "\"DELETE\":%llu,\"other\":%llu},\"responses\":{\"2xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
          "\"dropped\":%llu,\"group_mgmt_changes\":%llu,\"group_mgmt_devices\":%u,",
          f->n, f->port, f->cfg->dtls ? f->dtls_port : 0u, (unsigned long long)f->cfg->seed,
          f->no_device, f->filtered, f->sessions_max, f->sessions, f->cfg->delay_ms, f->held_max,
          f->cfg->group_loss, (unsigned long long)t.req[SIM_M_GET],
          (unsigned long long)t.req[SIM_M_PUT], (unsigned long long)t.req[SIM_M_POST],
          (unsigned long long)t.req[SIM_M_DELETE], (unsigned long long)t.req[SIM_M_OTHER],
          (unsigned long long)t.resp[SIM_C_2XX], (unsigned long long)t.resp[SIM_C_4XX],
          (unsigned long long)t.resp[SIM_C_5XX], (unsigned long long)t.dropped,
          (unsigned long long)t.gm_changes, t.gm_devices);
  sim_group_json_totals(f, fp);
  fprintf(fp,
          "\"fw\":{\"group_bytes\":%llu,\"fragments\":%llu,\"duplicates\":%llu,\"recovered\":%llu,"
          "\"unicast_fragments\":%llu,\"pulls\":%llu,\"reboots\":%llu,\"offline_ignored\":%llu,"
          "\"blob_memory_max\":%llu,",
          (unsigned long long)t.grp_bytes, (unsigned long long)t.frags,
          (unsigned long long)t.frag_dup, (unsigned long long)t.frag_rec,
          (unsigned long long)t.frag_uni, (unsigned long long)t.pulls,
          (unsigned long long)t.reboots, (unsigned long long)t.offline,
          (unsigned long long)f->blob_mem_max);
  sim_pull_json(f, fp);
  fputs(",\"by_state\":[", fp);
  for (int k = 0; k < 4; k++)
    fprintf(fp, "%s%u", k ? "," : "", t.by_state[k]);
  fputs("],\"by_result\":[", fp);
  for (int k = 0; k < 10; k++)
    fprintf(fp, "%s%u", k ? "," : "", t.by_result[k]);
  fprintf(fp, "]},\"fw_updates\":%llu},\n\"devices\":[\n", (unsigned long long)t.fw_updates);
  for (unsigned i = 0; i < f->n; i++) {
    const sim_device *d = &f->dev[i];
    char ep[48], host[INET_ADDRSTRLEN], dg[65];
    struct in_addr in = {htonl(sim_dev_addr(f, i))};
    inet_ntop(AF_INET, &in, host, sizeof host);
    /* Endpoint names hold no '"' or '\' (--ep-prefix refuses them): no escaping needed. */
    fprintf(fp, "{\"ep\":\"%s\",\"addr\":\"%s\",", sim_dev_ep(f, i, ep, sizeof ep), host);
    json_counters(fp, d->c.req, d->c.resp);
    fprintf(fp, ",\"dropped\":%u,\"group_mgmt_changes\":%u,\"group_mgmt_instances\":[",
            d->c.dropped, d->c.gm_changes);
    for (unsigned k = 0; k < d->n_gm; k++)
      fprintf(fp, "%s%u", k ? "," : "", d->gm[k].iid);
    if (d->fw.has_digest) lmmi_hex(d->fw.digest, 32, dg);
    fputs("],", fp);
    sim_group_json_device(f, i, fp);
    fprintf(fp,
            "\"fw\":{\"state\":%u,\"result\":%u,\"bytes\":%llu,\"sha256\":%s%s%s,"
            "\"updates\":%u,\"group_bytes\":%llu,\"fragments\":%u,\"duplicates\":%u,"
            "\"recovered\":%u,\"unicast_fragments\":%u,\"pulls\":%u,\"reboots\":%u,"
            "\"offline_ignored\":%u}}%s\n",
            d->fw.state, d->fw.result, (unsigned long long)d->fw.bytes,
            d->fw.has_digest ? "\"" : "", d->fw.has_digest ? dg : "null",
            d->fw.has_digest ? "\"" : "", d->c.fw_updates, (unsigned long long)d->c.grp_bytes,
            d->c.frags, d->c.frag_dup, d->c.frag_rec, d->c.frag_uni, d->c.pulls, d->c.reboots,
            d->c.offline, i + 1 < f->n ? "," : "");
  }
  fprintf(fp, "]}\n");
  bool ok = !ferror(fp);
  ok = (fclose(fp) == 0) && ok;
  int rc = ok && rename(tmp, path) == 0 ? 0 : -1;
  if (rc) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot write '%s': %s\n", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

/* ------------------------------------------------------------------ main */

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
    sim_fleet_free(&fleet);
    config_free(&cfg);
    return 1;
  }
  if ((rc = check_deny(&fleet)) != 0 || (rc = apply_faults(&fleet)) != 0) {
    sim_fleet_free(&fleet);
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
  int rcvbuf = widen_rcvbuf(fleet.port);
  if (cfg.dtls) {
    if (!(dep = listen_on(ctx, cfg.dtls_port, COAP_PROTO_DTLS))) {
      fprintf(stderr, "lwm2m-mbms-sim: cannot bind DTLS port %u\n", cfg.dtls_port);
      goto out;
    }
    fleet.dtls_port = bound_port(dep);
    widen_rcvbuf(fleet.dtls_port);
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
    if (wait < 0 || wait > 500) wait = 500;
    sim_pull_tick(&fleet);                /* finished pulls go, queued ones start */
    if (sim_group_io(&fleet, wait) < 0) { /* libcoap's fd, group sockets, group answers */
      fprintf(stderr, "lwm2m-mbms-sim: CoAP I/O failed\n");
      goto out;
    }
  }
  sim_held_clear(&fleet); /* answers still held at a stop are not sent */
  int64_t now = sim_now_ms();
  for (unsigned i = 0; i < fleet.n; i++)
    sim_fw_tick(&fleet, &fleet.dev[i], now);
  print_summary(&fleet);
  rc = cfg.stats_json && write_stats(&fleet) != 0 ? 1 : 0;
out:
  sim_held_clear(&fleet);
  sim_group_free(&fleet); /* answers still pending at a stop are not sent */
  sim_pull_free(&fleet);  /* pulls still running at a stop are abandoned */
  if (ctx) coap_free_context(ctx);
  coap_cleanup();
  sim_fleet_free(&fleet);
  config_free(&cfg);
  return rc;
}
