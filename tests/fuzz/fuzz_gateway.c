/* fuzz_gateway.c - libFuzzer target for the gateway's CoAP endpoint, as an LwM2M server (or
 * anyone who reaches its port) talks to it: a real lmm_gateway on loopback, with a real
 * unicast engine and store, four attached devices that do not exist (nothing listens at their
 * port: a fan-out's members fail fast) and a Group Mgmt instance /42769/0 of them at Fanout
 * Target /fanout/f, written through the endpoint whenever it is missing.
 *
 * The input is a series of datagrams, each after two bytes: the top bit of the first picks one
 * of two client sockets (two peers: block-wise transfers are kept per peer), the next one
 * whether the loop runs until every fan-out has answered before the next datagram (else it
 * turns once without waiting: the next one comes while the fan-out is in flight), the other
 * 14 bits are its length (cut to what is left). At the end the loop runs until every fan-out
 * has answered (bounded: members that fail at once end a fan-out in milliseconds), and what the
 * gateway sent is drained: each must be a CoAP message, and a block with its M bit set must
 * be exactly its size. The client ACKs the gateway's CON messages, as a server would. State is
 * kept from one input to the next, as a running gateway's is. */
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

#include <coap3/coap.h>

#include "lwm2m_mbms/gateway.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define DEVICES   4
#define PEERS     2
#define SETTLE_MS 2000 /* a fan-out of members that fail at once ends well within this */

typedef struct world {
  lmm_ctx *ctx;
  lmm_store *store;
  lmm_unicast *uc;
  lmm_gateway *gw;
  int fd[PEERS]; /* connected to the gateway */
  char dir[64];
} world;

static const char instance[] =
    "[{\"bn\":\"/42769/0/\",\"n\":\"0\",\"vs\":\"fz\"},{\"n\":\"1\",\"v\":2},"
    "{\"n\":\"3\",\"vs\":\"ep=dev-0/6,ep=dev-1/6,ep=dev-2/3,ep=dev-3/6\"},"
    "{\"n\":\"4\",\"vs\":\"/fanout/f\"}]";

/* The PUT of `instance` to /42769/0: a CON with its Uri-Path and Content-Format 110. */
static size_t setup_put(uint8_t *out, size_t cap) {
  static const uint8_t head[] = {0x41, 0x03, 0x12, 0x34, 0x7f,      /* CON PUT, token 7f */
                                 0xb5, '4',  '2',  '7',  '6',  '9', /* Uri-Path (11) */
                                 0x01, '0',                         /* Uri-Path */
                                 0x11, 110,                         /* Content-Format (12) */
                                 0xff};
  CHECK(sizeof head + sizeof instance - 1 <= cap);
  memcpy(out, head, sizeof head);
  memcpy(out + sizeof head, instance, sizeof instance - 1);
  return sizeof head + sizeof instance - 1;
}

static void drain(world *w);

static void settle(world *w, int64_t max_ms) {
  int64_t until = lmm_ctx_now_ms(w->ctx) + max_ms;
  lmm_gateway_stats st;
  do {
    CHECK(lmm_ctx_run_once(w->ctx, 5) == LMM_OK);
    drain(w);
    lmm_gateway_get_stats(w->gw, &st);
  } while (st.fanouts > st.answers && lmm_ctx_now_ms(w->ctx) < until);
  for (int k = 0; k < 3; k++) { /* what the last turn left: ACKs, the last block's reply */
    CHECK(lmm_ctx_run_once(w->ctx, 0) == LMM_OK);
    drain(w);
  }
}

static void ensure_instance(world *w) {
  lmm_gateway_stats st;
  lmm_gateway_get_stats(w->gw, &st);
  if (st.instances > 0) return;
  uint8_t put[512];
  size_t n = setup_put(put, sizeof put);
  CHECK(send(w->fd[0], put, n, 0) == (ssize_t)n);
  settle(w, SETTLE_MS);
}

static world *setup(void) {
  static world w;
  if (w.ctx) return &w;
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  cc.seed = 1;
  CHECK(lmm_global_init() == LMM_OK);
  CHECK(lmm_ctx_new(&cc, &w.ctx) == LMM_OK);
  snprintf(w.dir, sizeof w.dir, "/tmp/fuzz-gateway-XXXXXX");
  CHECK(mkdtemp(w.dir) != NULL);
  char db[96];
  snprintf(db, sizeof db, "%s/state.db", w.dir);
  CHECK(lmm_store_open(w.ctx, db, &w.store) == LMM_OK);
  lmm_unicast_config uc = LMM_UNICAST_CONFIG_DEFAULT;
  uc.member_deadline_ms = 300, uc.max_retransmit = 0;
  CHECK(lmm_unicast_new(w.ctx, &uc, &w.uc) == LMM_OK);
  /* Port 9 (discard) on loopback: nobody listens, the members' requests get ICMP errors. */
  static lmm_member dev[DEVICES];
  static char names[DEVICES][8];
  for (unsigned i = 0; i < DEVICES; i++) {
    snprintf(names[i], sizeof names[i], "dev-%u", i);
    dev[i] = (lmm_member){
        .ep = names[i], .oid = 6, .uri = "coap://127.0.0.1:9", .format = LMM_FMT_SENML_JSON};
  }
  lmm_gateway_deps deps = {.ctx = w.ctx, .unicast = w.uc, .store = w.store};
  lmm_gateway_config gc = LMM_GATEWAY_CONFIG_DEFAULT;
  gc.devices = dev, gc.n_devices = DEVICES, gc.grace_ms = 0, gc.no_repair = true;
  CHECK(lmm_gateway_new(&deps, &gc, &w.gw) == LMM_OK);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(lmm_gateway_port(w.gw, false))};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int p = 0; p < PEERS; p++) {
    w.fd[p] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CHECK(w.fd[p] >= 0 && connect(w.fd[p], (struct sockaddr *)&to, sizeof to) == 0);
  }
  return &w;
}

/* A block the gateway sent with more to come holds exactly one block of its size. */
static void check_reply(const coap_pdu_t *pdu) {
  coap_block_t b;
  if (COAP_RESPONSE_CLASS(coap_pdu_get_code(pdu)) != 2 ||
      !coap_get_block(pdu, COAP_OPTION_BLOCK2, &b) || !b.m)
    return;
  size_t len = 0;
  const uint8_t *d = NULL;
  if (!coap_get_data(pdu, &len, &d)) len = 0;
  CHECK(b.szx < 7 && len == (size_t)1 << (b.szx + 4));
}

/* Every reply must be CoAP; CON ones (separate responses, notifications) get their ACK. */
static void drain(world *w) {
  uint8_t buf[2048];
  for (int p = 0; p < PEERS; p++) {
    ssize_t n;
    while ((n = recv(w->fd[p], buf, sizeof buf, 0)) > 0) {
      coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof buf);
      CHECK(pdu != NULL && coap_pdu_parse(COAP_PROTO_UDP, buf, (size_t)n, pdu));
      check_reply(pdu);
      if (coap_pdu_get_type(pdu) == COAP_MESSAGE_CON) {
        coap_mid_t mid = coap_pdu_get_mid(pdu);
        uint8_t ack[4] = {0x60, 0x00, (uint8_t)(mid >> 8), (uint8_t)mid};
        (void)send(w->fd[p], ack, sizeof ack, 0);
      }
      coap_delete_pdu(pdu);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  world *w = setup();
  ensure_instance(w);
  size_t at = 0;
  while (at + 2 <= size) {
    int peer = data[at] >> 7;
    bool wait = data[at] & 0x40;
    size_t len = (size_t)(data[at] & 0x3f) << 8 | data[at + 1];
    at += 2;
    if (len > size - at) len = size - at;
    /* Loopback queued it before send() returned: a turn without waiting serves it. */
    (void)send(w->fd[peer], data + at, len, 0);
    at += len;
    if (wait) {
      settle(w, SETTLE_MS);
    } else {
      CHECK(lmm_ctx_run_once(w->ctx, 0) == LMM_OK);
      drain(w);
    }
  }
  settle(w, SETTLE_MS);
  return 0;
}
