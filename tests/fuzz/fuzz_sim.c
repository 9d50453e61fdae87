/* fuzz_sim.c - libFuzzer target for the simulator's request handling, what a server (or anyone
 * on the network) sends a simulated device. A fleet of two devices serves on loopback as
 * lwm2m-mbms-sim does; the input's first byte picks the device and the way in, the rest is one
 * CoAP datagram:
 *   - unicast: sent to the device's address, parsed by libcoap, served by the handlers
 *     (Block1 and Block2, Observe, Discover, Write-Attributes, blob fragments, firmware);
 *   - group delivery: parsed as the group socket does and served by sim_serve_pdu(), as a
 *     request that came by multicast or MBMS.
 * Devices keep their state from one input to the next, as a real one does. Whatever comes, the
 * simulator must neither crash nor leak, and its reply must be a CoAP message. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve.h"

#include "blob.h"
#include "delay.h"
#include "group.h"
#include "observe.h"
#include "opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define DEVICES 2

typedef struct world {
  sim_config cfg;
  sim_fleet f;
  int fd; /* the server's socket */
  struct sockaddr_in dev[DEVICES];
} world;

/* The fleet of `lwm2m-mbms-sim --count 2 --port 0`, with short firmware updates and reboots so
 * that devices do not stay away for long. */
static world *setup(void) {
  static world w;
  static char *argv[] = {"lwm2m-mbms-sim",
                         "--count",
                         "2",
                         "--port",
                         "0",
                         "--update-ms",
                         "1",
                         "--fw-reboot",
                         "1",
                         "--fw-reboot-ms",
                         "1",
                         "--max-observations",
                         "8",
                         NULL};
  coap_address_t a;
  coap_endpoint_t *ep;
  const char *es;
  bool help = false;

  if (w.f.ctx != NULL) return &w;
  CHECK(sim_opts_parse((int)(sizeof argv / sizeof *argv) - 1, argv, &w.cfg, &help) == 0);
  CHECK(sim_fleet_init(&w.f, &w.cfg) == 0 && sim_opts_apply(&w.f) == 0);
  w.f.udp_fd = -1;
  coap_startup();
  coap_set_log_level(LOG_EMERG);
  CHECK((w.f.ctx = coap_new_context(NULL)) != NULL);
  coap_context_set_max_idle_sessions(w.f.ctx, w.cfg.max_idle_sessions);
  coap_address_init(&a);
  a.addr.sin.sin_family = AF_INET;
  a.addr.sin.sin_addr.s_addr = htonl(INADDR_ANY); /* every 127.x.y.z: one socket for all */
  a.size = sizeof a.addr.sin;
  CHECK((ep = coap_new_endpoint(w.f.ctx, &a, COAP_PROTO_UDP)) != NULL);
  es = coap_endpoint_str(ep); /* "0.0.0.0:PORT UDP" */
  CHECK(es != NULL && strrchr(es, ':') != NULL);
  w.f.port = (uint16_t)atoi(strrchr(es, ':') + 1);
  CHECK(sim_coap_setup(&w.f) == 0);
  for (unsigned i = 0; i < DEVICES; i++) {
    w.dev[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(w.f.port)};
    w.dev[i].sin_addr.s_addr = htonl(sim_dev_addr(&w.f, i));
  }
  w.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  CHECK(w.fd >= 0);
  return &w;
}

/* The simulator's answers to the server: each must be a CoAP message. */
static void drain(world *w) {
  uint8_t buf[2048];
  ssize_t n;

  while ((n = recv(w->fd, buf, sizeof buf, 0)) > 0) {
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof buf);
    CHECK(pdu != NULL && coap_pdu_parse(COAP_PROTO_UDP, buf, (size_t)n, pdu));
    coap_delete_pdu(pdu);
  }
}

/* As a group socket serves a datagram (group.c): a NON request with a token, a blob message
 * classified once, its announce or fragment kept without an answer, anything else executed. */
static void by_group(world *w, unsigned i, const uint8_t *data, size_t size) {
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size > 0 ? size : 1);
  uint8_t *body = NULL;
  size_t len = 0;
  int code = 0, fmt = -1;
  coap_bin_const_t tok;
  sim_blob_msg bm;
  char why[160];

  CHECK(pdu != NULL);
  if (!coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu) ||
      coap_pdu_get_type(pdu) != COAP_MESSAGE_NON || coap_pdu_get_code(pdu) == 0 ||
      COAP_RESPONSE_CLASS(coap_pdu_get_code(pdu)) != 0 ||
      (tok = coap_pdu_get_token(pdu)).length == 0 || tok.length > 8 ||
      sim_dev_offline(&w->f.dev[i], sim_now_ms()))
    goto out;
  sim_blob_classify(pdu, false, &bm);
  if (bm.kind == SIM_BLOB_MALFORMED) goto out;
  if (bm.kind == SIM_BLOB_DATA) {
    (void)sim_blob_data(&w->f, i, &bm, true, why, sizeof why);
    goto out;
  }
  sim_serve_pdu(&w->f, i, pdu, &bm, 1, &code, &fmt, &body, &len);
  CHECK(code == 0 || (code >> 5 >= 2 && code >> 5 <= 5));
  CHECK(len == 0 || body != NULL);
  free(body);
out:
  coap_delete_pdu(pdu);
}

/* A turn asked not to wait serves what is there and returns: it once blocked until libcoap's
 * next timer, seconds later (tests/fuzz/regress/sim/). The bound is generous for a loaded
 * machine. */
static void turn(world *w) {
  int64_t t0 = sim_now_ms();
  CHECK(sim_group_io(&w->f, 0, sim_serve_pdu) == 0);
  CHECK(sim_now_ms() - t0 < 2000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  world *w = setup();
  unsigned i;

  if (size == 0) return 0;
  i = data[0] % DEVICES;
  if (data[0] & 2) {
    by_group(w, i, data + 1, size - 1);
  } else {
    (void)sendto(w->fd, data + 1, size - 1, 0, (struct sockaddr *)&w->dev[i], sizeof w->dev[i]);
    /* Loopback queued it before sendto() returned: a turn without waiting serves it. */
    turn(w);
  }
  /* What the main loop does on every turn: held answers, due notifications, updates; not the
   * pull downloads, which would look up the Package URI's host name (DNS) from a fuzz input. */
  (void)sim_held_flush(&w->f);
  (void)sim_obs_run(&w->f, sim_read_observed);
  for (unsigned k = 0; k < DEVICES; k++)
    sim_fw_tick(&w->f, &w->f.dev[k], sim_now_ms());
  turn(w);
  drain(w);
  return 0;
}
