/* gateway_cmd.c - "lwm2m-mbms gateway": the library's gateway (gateway.h) over the engines a
 * campaign run uses, served until SIGINT or SIGTERM. Parsing and set-up only. */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void on_delivery(void *user, const char *txn, bool delivered) {
  lmm_gateway **gw = user;
  if (*gw) lmm_gateway_t8_notified(*gw, txn, delivered);
}

static const lmm_t8_notifier_handlers notifier_handlers = {on_delivery, NULL};

enum {
  GW_LISTEN = 1,
  GW_COAPS,
  GW_PSK_ID,
  GW_PSK_KEY,
  GW_DEVICES,
  GW_GMOID,
  GW_GRACE,
  GW_NOREPAIR,
  GW_READY,
  GW_MCAST_IF
};

static const struct option options[] = {
    {"listen", required_argument, 0, GW_LISTEN},
    {"coaps-listen", required_argument, 0, GW_COAPS},
    {"psk-id", required_argument, 0, GW_PSK_ID},
    {"psk-key", required_argument, 0, GW_PSK_KEY},
    {"devices", required_argument, 0, GW_DEVICES},
    {"group-mgmt-oid", required_argument, 0, GW_GMOID},
    {"grace-ms", required_argument, 0, GW_GRACE},
    {"no-repair", no_argument, 0, GW_NOREPAIR},
    {"ready-file", required_argument, 0, GW_READY},
    {"mcast-if", required_argument, 0, GW_MCAST_IF},
    CLI_RUN_OPTIONS,
    {0, 0, 0, 0},
};

/* hex:0011.. or text:secret, as a members file's psk-key= (docs/members-file.md). */
static bool parse_key(const char *v, uint8_t *key, size_t *len) {
  if (!strncmp(v, "text:", 5)) {
    size_t n = strlen(v + 5);
    if (!n || n > 64) return false;
    memcpy(key, v + 5, n), *len = n;
    return true;
  }
  if (strncmp(v, "hex:", 4)) return false;
  const char *h = v + 4;
  size_t n = strlen(h);
  if (!n || n % 2 || n > 128) return false;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned b;
    if (sscanf(h + 2 * i, "%2x", &b) != 1 || !strchr("0123456789abcdefABCDEF", h[2 * i]) ||
        !strchr("0123456789abcdefABCDEF", h[2 * i + 1]))
      return false;
    key[i] = (uint8_t)b;
  }
  *len = n / 2;
  return true;
}

typedef struct gw_opts {
  cli_run_opts ro;
  const char *listen, *coaps, *psk_id, *psk_key, *devices, *ready, *mcast_if;
  long gm_oid, grace_ms;
  bool no_repair;
} gw_opts;

static int parse(cli *c, int argc, char **args, gw_opts *o) {
  o->gm_oid = LMM_GROUP_MGMT_OID, o->grace_ms = -1;
  cli_getopt_start();
  int k, li = -1;
  char *end;
  while ((k = cli_getopt(c, argc, args, "", options, &li)) != -1) {
    if (k == CLI_GETOPT_ERR) return EXIT_USAGE;
    if (CLI_IS_RUN_OPTION(k)) {
      int rc = cli_run_opt(c, k, optarg, &o->ro);
      if (rc) return rc;
      continue;
    }
    switch (k) {
    case GW_LISTEN:
      o->listen = optarg;
      break;
    case GW_COAPS:
      o->coaps = optarg;
      break;
    case GW_PSK_ID:
      o->psk_id = optarg;
      break;
    case GW_PSK_KEY:
      o->psk_key = optarg;
      break;
    case GW_DEVICES:
      o->devices = optarg;
      break;
    case GW_READY:
      o->ready = optarg;
      break;
    case GW_MCAST_IF:
      o->mcast_if = optarg;
      break;
    case GW_NOREPAIR:
      o->no_repair = true;
      break;
    case GW_GMOID:
      o->gm_oid = strtol(optarg, &end, 10);
      if (*end || end == optarg || o->gm_oid < 0 || o->gm_oid > 65534)
        return cli_usage(c, "--group-mgmt-oid: '%s' is not an Object ID (0..65534)", optarg);
      break;
    default: /* GW_GRACE */
      o->grace_ms = strtol(optarg, &end, 10);
      if (*end || end == optarg || o->grace_ms < 0 || o->grace_ms > 3600000)
        return cli_usage(c, "--grace-ms: '%s' is not milliseconds from 0 to 3600000", optarg);
    }
  }
  if (optind < argc) return cli_usage(c, "too many arguments ('%s')", args[optind]);
  if (!o->devices) return cli_usage(c, "missing --devices FILE (the devices behind the gateway)");
  if (o->coaps && (!o->psk_id || !o->psk_key))
    return cli_usage(c, "--coaps-listen needs --psk-id and --psk-key (the server's credentials)");
  if (!o->coaps && (o->psk_id || o->psk_key))
    return cli_usage(c, "--psk-id and --psk-key are for --coaps-listen");
  if (o->ro.wait_s > 0 || c->json) return cli_usage(c, "--wait and --json are not for gateway");
  return cli_take_coap_bind(c, &o->ro);
}

static int write_ready(const cli *c, const char *path, const char *addr, lmm_gateway *gw,
                       bool coaps) {
  FILE *f = fopen(path, "w");
  if (!f) {
    cli_err(c, "--ready-file %s: cannot write it", path);
    return EXIT_USAGE;
  }
  bool v6 = strchr(addr, ':') != NULL;
  fprintf(f, "coap://%s%s%s:%u\n", v6 ? "[" : "", addr, v6 ? "]" : "",
          (unsigned)lmm_gateway_port(gw, false));
  if (coaps)
    fprintf(f, "coaps://%s%s%s:%u\n", v6 ? "[" : "", addr, v6 ? "]" : "",
            (unsigned)lmm_gateway_port(gw, true));
  return fclose(f) ? (cli_err(c, "--ready-file %s: cannot write it", path), EXIT_USAGE) : 0;
}

int cmd_gateway(cli *c, int argc, char **argv) {
  c->cmd = "gateway";
  char **args = cli_with_name("gateway", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  gw_opts o = {0};
  lmm_store *s = NULL;
  lmm_member *dev = NULL;
  size_t n_dev = 0;
  cli_engines eng = {0};
  lmm_gateway *gw = NULL;
  uint8_t key[64];
  size_t key_len = 0;
  char addr[64] = "127.0.0.1", saddr[64] = "127.0.0.1", why[512];
  lmm_gateway_config cfg = LMM_GATEWAY_CONFIG_DEFAULT;
  cfg.port = 5683, cfg.coaps_port = 5684;
  int rc = parse(c, argc + 1, args, &o);
  if (rc) goto out;
  if (o.listen && !cli_split_hostport(o.listen, addr, sizeof addr, &cfg.port)) {
    rc = cli_usage(c, "--listen: '%s' is not ADDR:PORT", o.listen);
    goto out;
  }
  if (o.coaps &&
      (!cli_split_hostport(o.coaps, saddr, sizeof saddr, &cfg.coaps_port) || strcmp(saddr, addr))) {
    rc = cli_usage(c, "--coaps-listen: '%s' is not ADDR:PORT on the --listen address", o.coaps);
    goto out;
  }
  if (o.psk_key && !parse_key(o.psk_key, key, &key_len)) {
    rc = cli_usage(c, "--psk-key: '%s' is not hex:HEX or text:TEXT of 1 to 64 bytes", o.psk_key);
    goto out;
  }
  if (lmm_members_load(o.devices, &dev, &n_dev, why, sizeof why) != LMM_OK) {
    rc = cli_usage(c, "--devices %s: %s", o.devices, why);
    goto out;
  }
  if ((rc = cli_store_open(c, &s))) goto out;
  /* Every path a configured group may take: MBMS when a SCEF is given, else multicast (the
   * answer receiver), and unicast always. */
  lmm_path_kind via = c->t8.api_root ? LMM_VIA_MBMS : LMM_VIA_MULTICAST;
  if ((rc = cli_engines_setup(c, &eng, via, &o.ro, &notifier_handlers, &gw))) goto out;
  cfg.bind_addr = addr;
  cfg.coaps = o.coaps != NULL;
  cfg.psk_identity = o.psk_id, cfg.psk_key = key, cfg.psk_key_len = key_len;
  cfg.devices = dev, cfg.n_devices = n_dev;
  cfg.gm_oid = (uint16_t)o.gm_oid;
  cfg.grace_ms = o.grace_ms, cfg.no_repair = o.no_repair, cfg.mcast_if = o.mcast_if;
  lmm_gateway_deps deps = {c->ctx, eng.uni, eng.t8, eng.ans, s};
  lmm_err e = lmm_gateway_new(&deps, &cfg, &gw);
  if (e != LMM_OK) {
    if (e == LMM_ERR_ARG)
      rc = cli_usage(c, "the gateway refused its configuration (--listen, --devices: two "
                        "devices with one endpoint?)");
    else if (e == LMM_ERR_IO)
      cli_err(c, "cannot listen on %s: %s", o.listen ? o.listen : addr, lmm_strerror(e)),
          rc = EXIT_REFUSED;
    else
      rc = cli_store_fail(c, s, "loading the gateway's instances", e);
    goto out;
  }
  if (o.ready && (rc = write_ready(c, o.ready, addr, gw, cfg.coaps))) goto out;
  lmm_gateway_stats st;
  lmm_gateway_get_stats(gw, &st);
  fprintf(stderr, "lwm2m-mbms: gateway: coap://%s:%u%s, %zu devices, %zu instances\n", addr,
          (unsigned)lmm_gateway_port(gw, false), cfg.coaps ? " (and coaps)" : "", n_dev,
          st.instances);
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once with EINTR */
  sigemptyset(&sa.sa_mask);
  g_stop = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  while (!g_stop) {
    e = lmm_ctx_run_once(c->ctx, 1000);
    if (e != LMM_OK && e != LMM_ERR_TIMEOUT && !g_stop) {
      cli_err(c, "the event loop failed: %s", lmm_strerror(e));
      rc = EXIT_REFUSED;
      break;
    }
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
out:
  lmm_gateway_free(gw);
  gw = NULL;
  cli_engines_free(&eng);
  lmm_members_free(dev, n_dev);
  memset(key, 0, sizeof key);
  lmm_store_close(s);
  free(args);
  return rc;
}
