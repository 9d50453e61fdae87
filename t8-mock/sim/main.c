/* main.c - lwm2m-mbms-sim: start-up, the event loop, signals and shutdown (the command line is
 * opts.c). */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl.h"
#include "attrs.h"
#include "delay.h"
#include "fw.h"
#include "group.h"
#include "observe.h"
#include "opts.h"
#include "stats.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
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
  sim_blob_fleet_free(f);
  sim_fleet_free(f);
}

int main(int argc, char **argv) {
  sim_config cfg = {0};
  sim_fleet fleet;
  bool help = false;
  int rc = sim_opts_parse(argc, argv, &cfg, &help);
  if (rc || help) {
    if (help && fputs(SIM_USAGE, stdout) == EOF) rc = 1;
    sim_opts_free(&cfg);
    return rc;
  }
  memset(&fleet, 0, sizeof fleet);
  if (sim_fleet_init(&fleet, &cfg) != 0) {
    fleet_free(&fleet);
    sim_opts_free(&cfg);
    return 1;
  }
  if ((rc = sim_opts_apply(&fleet)) != 0) {
    fleet_free(&fleet);
    sim_opts_free(&cfg);
    return rc;
  }
  if (sim_acl_provision(&fleet) != 0) {
    fprintf(stderr, "lwm2m-mbms-sim: out of memory for the Access Control instances\n");
    fleet_free(&fleet);
    sim_opts_free(&cfg);
    return 1;
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
  sim_opts_free(&cfg);
  return rc;
}
