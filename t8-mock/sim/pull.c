/* pull.c - pull download (docs/protocol.md 5.6): a device whose Package URI (5/0/1) was
 * written with a coap:// URI GETs it block by block (Block2, RFC 7959) from its own address,
 * hashing as the blocks come, then reports Downloaded with the digest, or Idle with an Update
 * Result. At most --max-pulls run at once; the others wait in a FIFO, in State 1.
 *
 * Block2 is driven here rather than by COAP_BLOCK_USE_LIBCOAP: that mode is set per context,
 * and on this context it would also take over the Block1 reassembly the devices' server side
 * does itself (handlers.c). */
#include "fw.h"

#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "observe.h"

#define CODE(c)         COAP_RESPONSE_CODE(c)
#define PULL_SZX        6u           /* 1,024-byte blocks asked for; the server may cut */
#define PULL_STALL_MS   (120 * 1000) /* no progress for this long: the connection is lost */
#define PULL_QUEUE_INIT 64u

typedef struct pull {
  unsigned dev;
  coap_session_t *s;
  mbedtls_sha256_context sha;
  char *uri; /* copy of the Package URI: u points into it */
  coap_uri_t u;
  uint64_t bytes, total; /* total from Size2, 0 when the server does not say */
  uint32_t num;          /* block asked for */
  uint8_t szx;
  uint8_t tok[8];
  int64_t last_ms; /* last progress */
  bool done;       /* finished or cancelled: released at the next tick */
} pull;

typedef struct sim_pulls {
  pull **run;
  size_t n_run;
  unsigned *q; /* ring of device indices; entries of cancelled pulls are skipped */
  size_t q_head, q_len, q_cap;
  size_t run_max;
  uint64_t ok, failed;
} sim_pulls;

static sim_pulls *pulls(sim_fleet *f) {
  if (!f->pulls) {
    sim_pulls *p = calloc(1, sizeof *p);
    if (p && !(p->run = calloc(f->cfg->max_pulls, sizeof *p->run))) {
      free(p);
      p = NULL;
    }
    f->pulls = p;
  }
  return f->pulls;
}

int sim_pull_request(sim_fleet *f, unsigned i) {
  sim_pulls *P = pulls(f);
  sim_device *d = &f->dev[i];
  if (!P) return CODE(500);
  if (P->q_len == P->q_cap) {
    size_t nc = P->q_cap ? 2 * P->q_cap : PULL_QUEUE_INIT;
    unsigned *nq = malloc(nc * sizeof *nq);
    if (!nq) return CODE(500);
    for (size_t k = 0; k < P->q_len; k++)
      nq[k] = P->q[(P->q_head + k) % P->q_cap];
    free(P->q);
    P->q = nq, P->q_cap = nc, P->q_head = 0;
  }
  P->q[(P->q_head + P->q_len++) % P->q_cap] = i;
  d->fw.pull = SIM_PULL_QUEUED;
  d->fw.state = SIM_FW_DOWNLOADING; /* LwM2M: Downloading from the URI write on */
  d->fw.result = SIM_RES_INITIAL;
  return 0;
}

static pull *running(const sim_pulls *P, unsigned i) {
  for (size_t k = 0; P && k < P->n_run; k++)
    if (P->run[k]->dev == i && !P->run[k]->done) return P->run[k];
  return NULL;
}

static void finish(pull *p) {
  mbedtls_sha256_free(&p->sha);
  p->done = true;
}

void sim_pull_cancel(sim_fleet *f, unsigned i) {
  sim_device *d = &f->dev[i];
  pull *p = running(f->pulls, i);
  if (p) finish(p);
  d->fw.pull = SIM_PULL_NONE; /* a queued entry is skipped when its turn comes */
}

static void fail(sim_fleet *f, pull *p, int result) {
  sim_device *d = &f->dev[p->dev];
  finish(p);
  d->fw.pull = SIM_PULL_NONE;
  d->fw.state = SIM_FW_IDLE;
  d->fw.result = (uint8_t)result;
  d->fw.bytes = 0;
  f->pulls->failed++;
  sim_obs_touch(f, p->dev);
  if (f->cfg->verbose) {
    char ep[48];
    fprintf(stderr, "%s pull of %s failed: Update Result %d\n",
            sim_dev_ep(f, p->dev, ep, sizeof ep), p->uri ? p->uri : "?", result);
  }
}

static bool send_block(sim_fleet *f, pull *p) {
  uint8_t buf[8];
  coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET,
                                  coap_new_message_id(p->s), coap_session_max_pdu_size(p->s));
  if (!pdu) return false;
  uint64_t t = sim_rand(f);
  for (int k = 0; k < 8; k++)
    p->tok[k] = (uint8_t)(t >> (8 * k));
  coap_add_token(pdu, sizeof p->tok, p->tok);
  sim_add_segments(pdu, COAP_OPTION_URI_PATH, &p->u.path, '/');
  sim_add_segments(pdu, COAP_OPTION_URI_QUERY, &p->u.query, '&');
  coap_add_option(pdu, COAP_OPTION_BLOCK2,
                  coap_encode_var_safe(buf, sizeof buf, p->num << 4 | p->szx), buf);
  return coap_send(p->s, pdu) != COAP_INVALID_MID;
}

static void start(sim_fleet *f, sim_pulls *P, unsigned i) {
  sim_device *d = &f->dev[i];
  struct sockaddr_in dst;
  pull *p = calloc(1, sizeof *p);
  if (!p) {
    d->fw.pull = SIM_PULL_NONE, d->fw.state = SIM_FW_IDLE, d->fw.result = SIM_RES_NO_RAM;
    return;
  }
  p->dev = i;
  p->szx = PULL_SZX;
  p->last_ms = sim_now_ms();
  mbedtls_sha256_init(&p->sha);
  mbedtls_sha256_starts_ret(&p->sha, 0);
  P->run[P->n_run++] = p;
  if (P->n_run > P->run_max) P->run_max = P->n_run;
  d->fw.pull = SIM_PULL_RUNNING;
  d->c.pulls++;
  /* Resolved at its turn, not in the Write's handler: a name lookup may take a while. */
  if (!d->fw.uri || !(p->uri = strdup(d->fw.uri)) || !sim_coap_uri(p->uri, &p->u, &dst)) {
    fail(f, p, p->uri || !d->fw.uri ? SIM_RES_INVALID_URI : SIM_RES_NO_RAM);
    return;
  }
  coap_address_t local, remote;
  coap_address_init(&local);
  coap_address_init(&remote);
  local.addr.sin.sin_family = AF_INET;
  local.addr.sin.sin_addr.s_addr = htonl(sim_dev_addr(f, i)); /* from the device's address */
  local.size = sizeof local.addr.sin;
  remote.addr.sin = dst;
  remote.size = sizeof remote.addr.sin;
  if (!(p->s = coap_new_client_session(f->ctx, &local, &remote, COAP_PROTO_UDP)) ||
      !send_block(f, p))
    fail(f, p, SIM_RES_CONN_LOST);
}

void sim_pull_tick(sim_fleet *f) {
  sim_pulls *P = f->pulls;
  if (!P) return;
  int64_t now = sim_now_ms();
  for (size_t k = 0; k < P->n_run;) {
    pull *p = P->run[k];
    /* libcoap drops a session whose peer sent an ICMP error without telling the handlers. */
    if (!p->done && (now - p->last_ms > PULL_STALL_MS ||
                     coap_session_get_state(p->s) == COAP_SESSION_STATE_NONE))
      fail(f, p, SIM_RES_CONN_LOST);
    if (!p->done) {
      k++;
      continue;
    }
    if (p->s) coap_session_release(p->s);
    free(p->uri);
    free(p);
    P->run[k] = P->run[--P->n_run];
  }
  while (P->q_len && P->n_run < f->cfg->max_pulls) {
    unsigned i = P->q[P->q_head];
    P->q_head = (P->q_head + 1) % P->q_cap, P->q_len--;
    if (f->dev[i].fw.pull == SIM_PULL_QUEUED) start(f, P, i);
  }
}

static pull *by_session(const sim_fleet *f, const coap_session_t *s) {
  const sim_pulls *P = f->pulls;
  for (size_t k = 0; P && k < P->n_run; k++)
    if (P->run[k]->s == s) return P->run[k];
  return NULL;
}

bool sim_pull_nack(sim_fleet *f, coap_session_t *s) {
  pull *p = by_session(f, s);
  if (!p) return false;
  if (!p->done) fail(f, p, SIM_RES_CONN_LOST);
  return true;
}

bool sim_pull_response(sim_fleet *f, coap_session_t *s, const coap_pdu_t *rcvd) {
  pull *p = by_session(f, s);
  if (!p) return false;
  coap_bin_const_t tok = coap_pdu_get_token(rcvd);
  if (p->done || tok.length != sizeof p->tok || memcmp(tok.s, p->tok, sizeof p->tok) != 0)
    return true; /* late, or for a block asked before */
  sim_device *d = &f->dev[p->dev];
  int code = coap_pdu_get_code(rcvd);
  if ((code >> 5) != 2) {
    fail(f, p, code == CODE(404) ? SIM_RES_INVALID_URI : SIM_RES_CONN_LOST);
    return true;
  }
  coap_block_b_t b;
  bool blk = coap_get_block_b(s, rcvd, COAP_OPTION_BLOCK2, &b);
  size_t len = 0;
  const uint8_t *data = NULL;
  coap_get_data(rcvd, &len, &data);
  /* Not the block asked for, or no block at all after the first ones: the transfer is broken
   * (hashing it would report a wrong package as Downloaded). */
  if (blk ? ((uint64_t)b.num << (b.szx + 4)) != p->bytes : p->num > 0) {
    fail(f, p, SIM_RES_CONN_LOST);
    return true;
  }
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(rcvd, COAP_OPTION_SIZE2, &it);
  if (o) p->total = coap_decode_var_bytes8(coap_opt_value(o), coap_opt_length(o));
  if (p->bytes + len > SIM_FW_MAX) {
    fail(f, p, SIM_RES_NO_FLASH);
    return true;
  }
  sim_fw_hash(d, &p->sha, p->bytes, data, len);
  p->bytes += len;
  p->last_ms = sim_now_ms();
  d->fw.bytes = p->bytes;
  bool more = blk && b.m;
  /* Half of the package, or its second block when the server does not say its size. */
  if (more && (d->flags & SIM_DEV_FW_REBOOT) && (p->total ? 2 * p->bytes >= p->total : b.num > 0)) {
    sim_fw_reboot(f, p->dev); /* cancels this pull */
    return true;
  }
  if (more) {
    p->num = b.num + 1;
    p->szx = (uint8_t)b.szx;
    if (!send_block(f, p)) fail(f, p, SIM_RES_CONN_LOST);
    return true;
  }
  mbedtls_sha256_finish_ret(&p->sha, d->fw.digest);
  finish(p);
  d->fw.has_digest = true;
  d->fw.state = SIM_FW_DOWNLOADED;
  d->fw.pull = SIM_PULL_NONE;
  f->pulls->ok++;
  sim_obs_touch(f, p->dev);
  if (f->cfg->verbose) {
    char ep[48];
    fprintf(stderr, "%s pulled %llu bytes from %s\n", sim_dev_ep(f, p->dev, ep, sizeof ep),
            (unsigned long long)p->bytes, p->uri);
  }
  return true;
}

void sim_pull_json(const sim_fleet *f, FILE *fp) {
  const sim_pulls *P = f->pulls;
  fprintf(fp, "\"pull\":{\"downloaded\":%llu,\"failed\":%llu,\"running_max\":%zu,\"queued\":%zu}",
          (unsigned long long)(P ? P->ok : 0), (unsigned long long)(P ? P->failed : 0),
          P ? P->run_max : 0, P ? P->q_len : 0);
}

void sim_pull_free(sim_fleet *f) {
  sim_pulls *P = f->pulls;
  if (!P) return;
  for (size_t k = 0; k < P->n_run; k++) {
    pull *p = P->run[k];
    if (!p->done) mbedtls_sha256_free(&p->sha);
    if (p->s) coap_session_release(p->s);
    free(p->uri);
    free(p);
  }
  free(P->run);
  free(P->q);
  free(P);
  f->pulls = NULL;
}
