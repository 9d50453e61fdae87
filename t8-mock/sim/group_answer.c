/* group_answer.c - the answers of group delivery (docs/protocol.md section 2): each waits in a
 * timer queue for its random moment in the Response Time Window, then goes as a confirmable POST
 * to its Answer URI (and, when No-Response allows, as a NON response to the request's source);
 * their acknowledgements, and the counters of group delivery. */
#include "group_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fw.h"
#include "lmm_wire/hex.h"
#include "msg.h"
#include "observe.h"

/* ------------------------------------------------------------------ the timer queue */

static bool before(const gans *a, const gans *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

bool sim_group_answer_push(sim_group *g, gans *a) {
  if (g->n_heap >= GRP_HEAP_MAX) return false;
  if (g->n_heap == g->cap_heap) {
    size_t nc = g->cap_heap ? g->cap_heap * 2 : 256;
    gans *nh = realloc(g->heap, nc * sizeof *nh);
    if (!nh) return false;
    g->heap = nh, g->cap_heap = nc;
  }
  size_t k = g->n_heap++;
  a->seq = g->seq++;
  while (k > 0) {
    size_t up = (k - 1) / 2;
    if (!before(a, &g->heap[up])) break;
    g->heap[k] = g->heap[up];
    k = up;
  }
  g->heap[k] = *a;
  if (g->n_heap > g->heap_max) g->heap_max = g->n_heap;
  return true;
}

static gans heap_pop(sim_group *g) {
  gans top = g->heap[0], last = g->heap[--g->n_heap];
  size_t k = 0, n = g->n_heap;
  for (;;) {
    size_t c = 2 * k + 1;
    if (c >= n) break;
    if (c + 1 < n && before(&g->heap[c + 1], &g->heap[c])) c++;
    if (!before(&g->heap[c], &last)) break;
    g->heap[k] = g->heap[c];
    k = c;
  }
  if (n) g->heap[k] = last;
  return top;
}

void sim_group_answer_free(gans *a) {
  free(a->body);
  free(a->uri);
}

/* ------------------------------------------------------------------ answers */

/* The session for device i's answer to `dst`: a pool of GRP_POOL sessions per destination,
 * session k bound to the address of device k, used by devices k, k + GRP_POOL, ... */
static coap_session_t *answer_session(sim_fleet *f, sim_group *g, const struct sockaddr_in *dst,
                                      unsigned i) {
  gdest *d = NULL;
  for (size_t k = 0; k < g->n_dest && !d; k++)
    if (g->dest[k].addr.sin_addr.s_addr == dst->sin_addr.s_addr &&
        g->dest[k].addr.sin_port == dst->sin_port)
      d = &g->dest[k];
  if (!d) {
    gdest *nd = realloc(g->dest, (g->n_dest + 1) * sizeof *nd);
    if (!nd) return NULL;
    g->dest = nd;
    d = &g->dest[g->n_dest++];
    memset(d, 0, sizeof *d);
    d->addr = *dst;
  }
  unsigned slot = i % (f->n < GRP_POOL ? f->n : GRP_POOL);
  coap_session_t *s = d->s[slot];
  if (s && coap_session_get_state(s) == COAP_SESSION_STATE_NONE) {
    coap_session_release(s); /* broken (e.g. ICMP unreachable): start again */
    s = d->s[slot] = NULL;
  }
  if (!s) {
    coap_address_t local, remote;
    coap_address_init(&local);
    coap_address_init(&remote);
    local.addr.sin.sin_family = AF_INET;
    local.addr.sin.sin_addr.s_addr = htonl(sim_dev_addr(f, slot));
    local.size = sizeof local.addr.sin;
    remote.addr.sin = *dst;
    remote.size = sizeof remote.addr.sin;
    if (!(s = coap_new_client_session(f->ctx, &local, &remote, COAP_PROTO_UDP))) return NULL;
    coap_session_set_nstart(s, GRP_NSTART);
    d->s[slot] = s;
  }
  return s;
}

/* The NON response to the group request's source (No-Response did not suppress it), from the
 * device's own address (IP_PKTINFO). */
static void reply_to_source(sim_fleet *f, sim_group *g, const gans *a) {
  uint8_t hdr[4 + 8 + 8], *msg;
  size_t n = 0;
  if (g->reply_fd < 0 &&
      (g->reply_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
    return;
  uint16_t mid = (uint16_t)sim_rand(f);
  hdr[n++] = (uint8_t)(0x50 | a->tok_len); /* ver 1, NON */
  hdr[n++] = (uint8_t)a->code;
  hdr[n++] = (uint8_t)(mid >> 8), hdr[n++] = (uint8_t)mid;
  memcpy(hdr + n, a->tok, a->tok_len), n += a->tok_len;
  if (a->fmt >= 0) { /* Content-Format (12): delta 12, 0..2 bytes */
    if (a->fmt == 0)
      hdr[n++] = 0xc0;
    else if (a->fmt < 256)
      hdr[n++] = 0xc1, hdr[n++] = (uint8_t)a->fmt;
    else
      hdr[n++] = 0xc2, hdr[n++] = (uint8_t)(a->fmt >> 8), hdr[n++] = (uint8_t)a->fmt;
  }
  if (!(msg = malloc(n + 1 + a->len))) return;
  memcpy(msg, hdr, n);
  if (a->len) msg[n++] = 0xff, memcpy(msg + n, a->body, a->len), n += a->len;
  union {
    char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } cb;
  memset(&cb, 0, sizeof cb);
  struct iovec iov = {msg, n};
  struct msghdr mh = {.msg_name = (void *)&a->src,
                      .msg_namelen = sizeof a->src,
                      .msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = cb.b,
                      .msg_controllen = sizeof cb.b};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = IPPROTO_IP;
  cm->cmsg_type = IP_PKTINFO;
  cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
  struct in_pktinfo pi = {0};
  pi.ipi_spec_dst.s_addr = htonl(sim_dev_addr(f, a->dev));
  memcpy(CMSG_DATA(cm), &pi, sizeof pi);
  if (sendmsg(g->reply_fd, &mh, 0) >= 0) sim_count_response(&f->dev[a->dev], a->code);
  free(msg);
}

static void send_answer(sim_fleet *f, sim_group *g, gans *a) {
  sim_device *d = &f->dev[a->dev];
  coap_uri_t u;
  struct sockaddr_in dst;
  char q[64], ep[48];
  uint8_t tok[8], cf[4];
  if (a->to_source) reply_to_source(f, g, a);
  if (!a->uri || !sim_coap_uri(a->uri, &u, &dst)) {
    d->c.ans_failed++;
    if (f->cfg->verbose)
      fprintf(stderr, "%s: no usable Answer URI '%s'\n", sim_dev_ep(f, a->dev, ep, sizeof ep),
              a->uri ? a->uri : "");
    return;
  }
  coap_session_t *s = answer_session(f, g, &dst, a->dev);
  coap_pdu_t *pdu = s ? coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
                                      coap_new_message_id(s), a->len + 256 + strlen(a->uri))
                      : NULL;
  if (!pdu) {
    d->c.ans_failed++;
    return;
  }
  /* The token says which device answers: index and a sequence number. */
  uint32_t seq = g->answer_seq++;
  tok[0] = (uint8_t)(a->dev >> 24), tok[1] = (uint8_t)(a->dev >> 16);
  tok[2] = (uint8_t)(a->dev >> 8), tok[3] = (uint8_t)a->dev;
  tok[4] = (uint8_t)(seq >> 24), tok[5] = (uint8_t)(seq >> 16);
  tok[6] = (uint8_t)(seq >> 8), tok[7] = (uint8_t)seq;
  coap_add_token(pdu, sizeof tok, tok);
  sim_add_segments(pdu, COAP_OPTION_URI_PATH, &u.path, '/');
  if (a->fmt >= 0)
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf, (unsigned)a->fmt), cf);
  sim_add_segments(pdu, COAP_OPTION_URI_QUERY, &u.query, '&');
  int n = snprintf(q, sizeof q, "ep=%s", sim_dev_ep(f, a->dev, ep, sizeof ep));
  coap_add_option(pdu, COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q);
  memcpy(q, "t=", 2);
  memset(q + 2, '0', 16);
  lmmw_hex(a->tok, a->tok_len, q + 2 + 2 * (8 - a->tok_len)); /* left-padded to 16 digits */
  coap_add_option(pdu, COAP_OPTION_URI_QUERY, 18, (const uint8_t *)q);
  n = snprintf(q, sizeof q, "c=%d.%02d", a->code >> 5, a->code & 31);
  coap_add_option(pdu, COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q);
  if (a->len && !coap_add_data(pdu, a->len, a->body)) {
    coap_delete_pdu(pdu);
    d->c.ans_failed++;
    return;
  }
  if (coap_send(s, pdu) == COAP_INVALID_MID)
    d->c.ans_failed++;
  else
    d->c.ans_sent++;
}

long sim_group_answers_due(sim_fleet *f) {
  sim_group *g = f->grp;
  if (!g || !g->n_heap) return -1;
  int64_t now = sim_now_ms();
  while (g->n_heap && g->heap[0].due <= now) {
    gans a = heap_pop(g);
    send_answer(f, g, &a);
    sim_group_answer_free(&a);
  }
  if (!g->n_heap) return -1;
  int64_t w = g->heap[0].due - now;
  return w < 1 ? 1 : (long)w;
}

static unsigned dev_of_token(const sim_fleet *f, const coap_pdu_t *pdu) {
  coap_bin_const_t t = coap_pdu_get_token(pdu);
  if (t.length != 8) return UINT32_MAX;
  unsigned i = (unsigned)t.s[0] << 24 | (unsigned)t.s[1] << 16 | (unsigned)t.s[2] << 8 | t.s[3];
  return i < f->n ? i : UINT32_MAX;
}

static sim_fleet *resp_fleet; /* libcoap 4.3.1 has no application data on a context */

static coap_response_t on_answer_response(coap_session_t *s, const coap_pdu_t *sent,
                                          const coap_pdu_t *rcvd, const coap_mid_t mid) {
  (void)sent, (void)mid;
  sim_fleet *f = resp_fleet;
  if (sim_pull_response(f, s, rcvd)) return COAP_RESPONSE_OK;
  if (coap_session_get_type(s) != COAP_SESSION_TYPE_CLIENT) return COAP_RESPONSE_OK;
  unsigned i = dev_of_token(f, rcvd);
  if (i != UINT32_MAX) f->dev[i].c.ans_acked++;
  return COAP_RESPONSE_OK;
}

static void on_answer_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t r,
                           const coap_mid_t mid) {
  (void)r, (void)mid;
  sim_fleet *f = resp_fleet;
  if (sim_pull_nack(f, s) || sim_obs_nack(f, s, sent, r)) return;
  /* Only the answer POSTs' sessions are client sessions: a CON on a server session is a
   * notification, whose token is the observer's. */
  if (coap_session_get_type(s) != COAP_SESSION_TYPE_CLIENT) return;
  unsigned i = sent ? dev_of_token(f, sent) : UINT32_MAX;
  if (i != UINT32_MAX) f->dev[i].c.ans_failed++;
}

void sim_group_setup(sim_fleet *f) {
  resp_fleet = f;
  coap_register_response_handler(f->ctx, on_answer_response);
  coap_register_nack_handler(f->ctx, on_answer_nack);
}

/* ------------------------------------------------------------------ statistics, exit */

void sim_group_json_totals(const sim_fleet *f, FILE *fp) {
  const sim_group *g = f->grp;
  uint64_t rx = 0, missed = 0, sent = 0, acked = 0, failed = 0;
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    rx += c->grp_rx, missed += c->grp_missed, sent += c->ans_sent, acked += c->ans_acked;
    failed += c->ans_failed;
  }
  fprintf(fp,
          "\"group\":{\"received\":%llu,\"missed\":%llu,\"answers_sent\":%llu,"
          "\"answers_acked\":%llu,\"answers_failed\":%llu,\"malformed\":%llu,"
          "\"join_errors\":%llu,\"sockets\":%zu,\"sockets_max\":%zu,\"pending_max\":%zu,"
          "\"pending_at_exit\":%zu,",
          (unsigned long long)rx, (unsigned long long)missed, (unsigned long long)sent,
          (unsigned long long)acked, (unsigned long long)failed,
          (unsigned long long)(g ? g->malformed : 0), (unsigned long long)(g ? g->join_errors : 0),
          g ? g->n_sock : 0, g ? g->sock_max : 0, g ? g->heap_max : 0, g ? g->n_heap : 0);
  sim_gp_json_totals(f, fp);
  fputs("},", fp);
}

void sim_group_json_device(const sim_fleet *f, unsigned i, FILE *fp) {
  const sim_counters *c = &f->dev[i].c;
  fprintf(fp,
          "\"group\":{\"received\":%u,\"missed\":%u,\"answers_sent\":%u,\"answers_acked\":%u,"
          "\"answers_failed\":%u,",
          c->grp_rx, c->grp_missed, c->ans_sent, c->ans_acked, c->ans_failed);
  sim_gp_json_device(c, fp);
  fputs("},", fp);
}

void sim_group_summary(const sim_fleet *f) {
  const sim_group *g = f->grp;
  uint64_t rx = 0, missed = 0, sent = 0, acked = 0;
  if (!g) return;
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    rx += c->grp_rx, missed += c->grp_missed, sent += c->ans_sent, acked += c->ans_acked;
  }
  uint64_t pok = 0, pbad = 0;
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    pok += c->gp_ok;
    pbad += c->gp_forged + c->gp_replayed + c->gp_unprotected + c->gp_other_key;
  }
  if (pok || pbad)
    fprintf(stderr, "lwm2m-mbms-sim: protected group messages accepted %llu, dropped %llu\n",
            (unsigned long long)pok, (unsigned long long)pbad);
  fprintf(stderr,
          "lwm2m-mbms-sim: group requests received %llu, missed %llu, %llu malformed; answers "
          "sent %llu, acknowledged %llu\n",
          (unsigned long long)rx, (unsigned long long)missed, (unsigned long long)g->malformed,
          (unsigned long long)sent, (unsigned long long)acked);
}
