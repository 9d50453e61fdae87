/* group.c - group delivery on the device side (docs/protocol.md sections 1 and 2): devices join
 * the bearer (TMGI) and multicast groups their Group Mgmt instances name, execute the NON group
 * requests that arrive there like unicast ones, and answer each by a confirmable POST to the
 * instance's Answer URI after a random wait within its Response Time Window. */
#include "group.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blob.h"
#include "fw.h"
#include "msg.h"
#include "observe.h"
#include "lmm_wire/hex.h"

#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif

#define GRP_DGRAM_MAX 65536u
#define GRP_POOL      32u  /* answer sessions per Answer URI address */
#define GRP_NSTART    128u /* CON answers in flight per session (libcoap's NSTART) */
#define GRP_RX_BURST  256u /* datagrams read from one group socket per wake-up */
#define GRP_HEAP_MAX  (4u * 1024u * 1024u) /* answers waiting at once, fleet-wide */
#define GRP_RCVBUF    (8 * 1024 * 1024)    /* receive buffer asked for each group socket */

/* One socket per distinct (group, port), shared by every device that joined it. */
typedef struct gsock {
  uint32_t group; /* host order */
  uint16_t port;
  int fd;
  unsigned n;       /* member devices */
  uint64_t *member; /* bitmap over the fleet */
} gsock;

/* An answer waiting for its random wait to pass. */
typedef struct gans {
  int64_t due;
  uint64_t seq; /* FIFO among equal due times */
  unsigned dev;
  int code, fmt; /* fmt -1: no Content-Format */
  uint8_t *body;
  size_t len;
  char *uri; /* the Answer URI when the request came */
  uint8_t tok[8];
  uint8_t tok_len;
  bool to_source; /* No-Response does not suppress this class: a NON response to the source */
  struct sockaddr_in src;
} gans;

/* libcoap client sessions towards one Answer URI address. */
typedef struct gdest {
  struct sockaddr_in addr;
  coap_session_t *s[GRP_POOL];
} gdest;

typedef struct sim_group {
  gsock *sock;
  size_t n_sock, cap_sock, sock_max;
  gans *heap;
  size_t n_heap, cap_heap, heap_max;
  uint64_t seq;
  gdest *dest;
  size_t n_dest;
  int reply_fd; /* NON responses to a group request's source, from the device's address */
  uint8_t *buf;
  uint32_t answer_seq;
  uint64_t malformed, join_errors;
  struct pollfd *pfd;
  size_t cap_pfd;
} sim_group;

static sim_group *grp(sim_fleet *f) {
  if (!f->grp) {
    f->grp = calloc(1, sizeof *f->grp);
    if (f->grp) f->grp->reply_fd = -1;
  }
  return f->grp;
}

/* ------------------------------------------------------------------ membership */

/* The bearer of a TMGI: 239.<aa>.<bb>.<cc> from its first 6 hex digits (the service ID). */
static bool tmgi_group(const char *tmgi, uint32_t *out) {
  uint32_t v = 0;
  if (!tmgi) return false;
  for (int k = 0; k < 6; k++) {
    int x = lmmw_hexval((unsigned char)tmgi[k]);
    if (x < 0) return false;
    v = v << 4 | (uint32_t)x;
  }
  *out = 0xef000000u | v;
  return true;
}

static bool mcast_addr(const char *s, uint32_t *out) {
  struct in_addr in;
  if (!s || !s[0] || inet_pton(AF_INET, s, &in) != 1) return false;
  *out = ntohl(in.s_addr);
  return (*out >> 28) == 0xe;
}

static uint16_t inst_port(const lmm_group_mgmt *g) {
  return g->multicast_port > 0 && g->multicast_port <= 65535 ? (uint16_t)g->multicast_port : 5683;
}

/* Whether instance g names (group, port). */
static bool names(const lmm_group_mgmt *g, uint32_t group, uint16_t port) {
  uint32_t a;
  if (inst_port(g) != port) return false;
  for (size_t k = 0; k < g->n_tmgi; k++)
    if (tmgi_group(g->tmgi[k], &a) && a == group) return true;
  return mcast_addr(g->multicast_address, &a) && a == group;
}

static bool is_member(const gsock *s, unsigned i) {
  return (s->member[i / 64] >> (i % 64)) & 1u;
}

static void set_member(gsock *s, unsigned i, bool on) {
  uint64_t bit = (uint64_t)1 << (i % 64);
  if (on == is_member(s, i)) return;
  if (on)
    s->member[i / 64] |= bit, s->n++;
  else
    s->member[i / 64] &= ~bit, s->n--;
}

static int open_group_socket(const sim_fleet *f, uint32_t group, uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, zero = 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  struct ip_mreq mr;
  if (fd < 0) return -1;
  a.sin_addr.s_addr = htonl(group); /* only this group's datagrams */
  mr.imr_multiaddr.s_addr = htonl(group);
  mr.imr_interface.s_addr = htonl(f->cfg->mcast_if);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  /* A blob's fragments come as a paced burst; each is executed by every member before the
   * next is read, and the default buffer (208 KiB) would make the kernel drop some while the
   * loop is busy. Best effort: as root SO_RCVBUFFORCE, else up to net.core.rmem_max. */
  int want = GRP_RCVBUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  return fd;
}

/* The socket of (group, port), opened on first use; NULL when it cannot be. */
static gsock *get_sock(sim_fleet *f, sim_group *g, uint32_t group, uint16_t port) {
  for (size_t k = 0; k < g->n_sock; k++)
    if (g->sock[k].group == group && g->sock[k].port == port) return &g->sock[k];
  if (g->n_sock == g->cap_sock) {
    size_t nc = g->cap_sock ? g->cap_sock * 2 : 8;
    gsock *ns = realloc(g->sock, nc * sizeof *ns);
    if (!ns) return NULL;
    g->sock = ns, g->cap_sock = nc;
  }
  gsock s = {.group = group, .port = port, .fd = -1};
  if (!(s.member = calloc((f->n + 63) / 64, sizeof *s.member))) return NULL;
  if ((s.fd = open_group_socket(f, group, port)) < 0) {
    struct in_addr in = {htonl(group)};
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in, host, sizeof host);
    if (f->cfg->verbose || g->join_errors == 0)
      fprintf(stderr, "lwm2m-mbms-sim: cannot join %s:%u: %s\n", host, port, strerror(errno));
    g->join_errors++;
    free(s.member);
    return NULL;
  }
  g->sock[g->n_sock++] = s;
  if (g->n_sock > g->sock_max) g->sock_max = g->n_sock;
  return &g->sock[g->n_sock - 1];
}

void sim_group_sync(sim_fleet *f, unsigned i) {
  sim_group *g = grp(f);
  sim_device *d = &f->dev[i];
  if (!g) return;
  /* What the device's instances name now ... */
  for (unsigned k = 0; k < d->n_gm; k++) {
    const lmm_group_mgmt *m = &d->gm[k].g;
    uint16_t port = inst_port(m);
    uint32_t a;
    gsock *s;
    for (size_t t = 0; t < m->n_tmgi; t++)
      if (tmgi_group(m->tmgi[t], &a) && (s = get_sock(f, g, a, port))) set_member(s, i, true);
    if (mcast_addr(m->multicast_address, &a) && (s = get_sock(f, g, a, port)))
      set_member(s, i, true);
  }
  /* ... and leaving what they no longer name; a socket nobody listens on is closed. */
  for (size_t k = 0; k < g->n_sock;) {
    gsock *s = &g->sock[k];
    bool named = false;
    for (unsigned j = 0; j < d->n_gm && !named; j++)
      named = names(&d->gm[j].g, s->group, s->port);
    if (!named) set_member(s, i, false);
    if (s->n == 0) {
      close(s->fd);
      free(s->member);
      g->sock[k] = g->sock[--g->n_sock];
      continue;
    }
    k++;
  }
}

/* ------------------------------------------------------------------ the timer queue */

static bool before(const gans *a, const gans *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static bool heap_push(sim_group *g, gans *a) {
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

static void gans_free(gans *a) {
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

/* Sends every answer that is due; the milliseconds to the next one (at least 1), or -1. */
static long run_due(sim_fleet *f) {
  sim_group *g = f->grp;
  if (!g || !g->n_heap) return -1;
  int64_t now = sim_now_ms();
  while (g->n_heap && g->heap[0].due <= now) {
    gans a = heap_pop(g);
    send_answer(f, g, &a);
    gans_free(&a);
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

/* ------------------------------------------------------------------ group requests */

/* The first instance of device i that names (group, port). */
static const lmm_group_mgmt *instance_for(const sim_device *d, uint32_t group, uint16_t port) {
  for (unsigned k = 0; k < d->n_gm; k++)
    if (names(&d->gm[k].g, group, port)) return &d->gm[k].g;
  return NULL;
}

static void on_datagram(sim_fleet *f, sim_group *g, size_t si, const uint8_t *data, size_t len,
                        const struct sockaddr_in *src, sim_group_serve_fn *serve) {
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, len);
  char ep[48];
  if (!pdu) return;
  int code;
  coap_bin_const_t tok;
  if (!coap_pdu_parse(COAP_PROTO_UDP, data, len, pdu) ||
      coap_pdu_get_type(pdu) != COAP_MESSAGE_NON || (code = coap_pdu_get_code(pdu)) == 0 ||
      (code >> 5) != 0 || (tok = coap_pdu_get_token(pdu)).length == 0 || tok.length > 8) {
    g->malformed++;
    if (f->cfg->verbose)
      fprintf(stderr, "lwm2m-mbms-sim: malformed group datagram (%zu bytes) ignored\n", len);
    coap_delete_pdu(pdu);
    return;
  }
  /* A blob message is parsed once for all members; a malformed one is ignored by all. */
  sim_blob_msg bm;
  sim_blob_classify(pdu, false, &bm);
  if (bm.kind == SIM_BLOB_MALFORMED) {
    g->malformed++;
    if (f->cfg->verbose)
      fprintf(stderr, "lwm2m-mbms-sim: group blob message ignored: %s\n", bm.why);
    coap_delete_pdu(pdu);
    return;
  }
  uint32_t group = g->sock[si].group;
  uint16_t port = g->sock[si].port;
  /* Executing may change a device's Group Mgmt (a group Write), which may close or move this
   * socket: the members are copied first. */
  size_t words = (f->n + 63) / 64;
  uint64_t *members = malloc(words * sizeof *members);
  if (!members) {
    coap_delete_pdu(pdu);
    return;
  }
  memcpy(members, g->sock[si].member, words * sizeof *members);
  int64_t now = sim_now_ms();
  for (unsigned i = 0; i < f->n; i++) {
    if (!((members[i / 64] >> (i % 64)) & 1u)) continue;
    sim_device *d = &f->dev[i];
    /* A blob's announce or fragment changes no Group Mgmt, so its member bits stay exact and
     * no instance is needed: the per-fragment lookup (TMGIs parsed anew) is skipped. Another
     * request may (a group Write): the device is checked against its instances as they are. */
    const lmm_group_mgmt *inst = NULL;
    if (bm.kind != SIM_BLOB_DATA && !(inst = instance_for(d, group, port))) continue;
    if (sim_dev_offline(d, now)) { /* rebooting (--fw-reboot) */
      d->c.offline++;
      continue;
    }
    /* Reception differs per device: each misses the broadcast on its own draw. */
    if (f->cfg->group_loss > 0 && sim_rand01(f) < f->cfg->group_loss) {
      d->c.grp_missed++;
      continue;
    }
    d->c.grp_rx++;
    if (bm.kind == SIM_BLOB_DATA) { /* announce or fragment: never answered (protocol.md 5.2) */
      char why[160];
      d->c.req[SIM_M_PUT]++;
      sim_blob_data(f, i, &bm, true, why, sizeof why);
      sim_obs_touch(f, i);
      continue;
    }
    int64_t window_ms = inst->response_time_window > 0 ? inst->response_time_window * 1000 : 0;
    gans a = {.dev = i, .fmt = -1, .src = *src};
    a.uri = inst->answer_uri ? strdup(inst->answer_uri) : NULL;
    a.due = now + (window_ms ? (int64_t)(sim_rand01(f) * (double)window_ms) : 0);
    memcpy(a.tok, tok.s, tok.length);
    a.tok_len = (uint8_t)tok.length;
    serve(f, i, pdu, &bm, &a.code, &a.fmt, &a.body, &a.len); /* may change `inst` */
    if (a.code == 0) { /* the device rebooted meanwhile: no answer */
      gans_free(&a);
      continue;
    }
    a.to_source = !sim_no_response(pdu, a.code);
    if (f->cfg->verbose)
      fprintf(stderr, "%s group request -> %d.%02d, answer in %lld ms\n",
              sim_dev_ep(f, i, ep, sizeof ep), a.code >> 5, a.code & 31, (long long)(a.due - now));
    if (!heap_push(g, &a)) {
      d->c.ans_failed++;
      gans_free(&a);
    }
  }
  free(members);
  coap_delete_pdu(pdu);
}

static void read_socket(sim_fleet *f, sim_group *g, size_t si, sim_group_serve_fn *serve) {
  int fd = g->sock[si].fd;
  if (!g->buf && !(g->buf = malloc(GRP_DGRAM_MAX))) return;
  for (unsigned k = 0; k < GRP_RX_BURST; k++) {
    struct sockaddr_in src;
    socklen_t sl = sizeof src;
    ssize_t n = recvfrom(fd, g->buf, GRP_DGRAM_MAX, 0, (struct sockaddr *)&src, &sl);
    if (n < 0) return;
    on_datagram(f, g, si, g->buf, (size_t)n, &src, serve);
    /* The request may have made devices leave: the socket may be gone or moved. */
    if (si >= g->n_sock || g->sock[si].fd != fd) return;
  }
}

int sim_group_io(sim_fleet *f, long wait_ms, sim_group_serve_fn *serve) {
  sim_group *g = f->grp;
  long due = run_due(f);
  bool rst = sim_obs_watching(f); /* Resets to NON notifications are read here (observe.c) */
  if (due >= 0 && due < wait_ms) wait_ms = due;
  if (wait_ms < 0) wait_ms = 0;
  if ((!g || g->n_sock == 0) && !rst)
    return coap_io_process(f->ctx, (uint32_t)wait_ms) < 0 ? -1 : 0;
  if (!g && !(g = grp(f))) return -1;
  int cfd = coap_context_get_coap_fd(f->ctx);
  if (cfd < 0) { /* libcoap without epoll: its own select() with our sockets added */
    fd_set rfds;
    int nfds = 0;
    FD_ZERO(&rfds);
    for (size_t k = 0; k < g->n_sock; k++)
      if (g->sock[k].fd < FD_SETSIZE) {
        FD_SET(g->sock[k].fd, &rfds);
        if (g->sock[k].fd >= nfds) nfds = g->sock[k].fd + 1;
      }
    if (coap_io_process_with_fds(f->ctx, (uint32_t)wait_ms, nfds, &rfds, NULL, NULL) < 0) return -1;
    for (size_t k = 0; k < g->n_sock; k++)
      if (g->sock[k].fd < FD_SETSIZE && FD_ISSET(g->sock[k].fd, &rfds)) read_socket(f, g, k, serve);
    run_due(f);
    return 0;
  }
  /* libcoap's epoll fd (its sockets and its timer) and the group sockets in one poll(). */
  coap_tick_t now;
  coap_ticks(&now);
  unsigned lt = coap_io_prepare_epoll(f->ctx, now);
  if (lt && (long)lt < wait_ms) wait_ms = (long)lt;
  if (g->cap_pfd < g->n_sock + 1) {
    struct pollfd *np = realloc(g->pfd, (g->n_sock + 1) * sizeof *np);
    if (!np) return -1;
    g->pfd = np, g->cap_pfd = g->n_sock + 1;
  }
  size_t n = 0;
  g->pfd[n++] = (struct pollfd){.fd = cfd, .events = POLLIN};
  for (size_t k = 0; k < g->n_sock; k++)
    g->pfd[n++] = (struct pollfd){.fd = g->sock[k].fd, .events = POLLIN};
  int r = poll(g->pfd, (nfds_t)n, (int)wait_ms);
  if (r < 0 && errno != EINTR) return -1;
  /* libcoap reads one datagram per endpoint and turn: what it reads next is at the head. */
  if (r > 0 && rst && (g->pfd[0].revents & POLLIN)) sim_obs_peek(f);
  if (r > 0)
    for (size_t k = 1; k < n; k++) {
      if (!(g->pfd[k].revents & POLLIN)) continue;
      for (size_t j = 0; j < g->n_sock; j++) /* sockets may have moved meanwhile */
        if (g->sock[j].fd == g->pfd[k].fd) {
          read_socket(f, g, j, serve);
          break;
        }
    }
  run_due(f); /* a window of 0 answers at once */
  return coap_io_process(f->ctx, COAP_IO_NO_WAIT) < 0 ? -1 : 0;
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
          "\"pending_at_exit\":%zu},",
          (unsigned long long)rx, (unsigned long long)missed, (unsigned long long)sent,
          (unsigned long long)acked, (unsigned long long)failed,
          (unsigned long long)(g ? g->malformed : 0), (unsigned long long)(g ? g->join_errors : 0),
          g ? g->n_sock : 0, g ? g->sock_max : 0, g ? g->heap_max : 0, g ? g->n_heap : 0);
}

void sim_group_json_device(const sim_fleet *f, unsigned i, FILE *fp) {
  const sim_counters *c = &f->dev[i].c;
  fprintf(fp,
          "\"group\":{\"received\":%u,\"missed\":%u,\"answers_sent\":%u,\"answers_acked\":%u,"
          "\"answers_failed\":%u},",
          c->grp_rx, c->grp_missed, c->ans_sent, c->ans_acked, c->ans_failed);
}

void sim_group_summary(const sim_fleet *f) {
  const sim_group *g = f->grp;
  uint64_t rx = 0, missed = 0, sent = 0, acked = 0;
  if (!g) return;
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    rx += c->grp_rx, missed += c->grp_missed, sent += c->ans_sent, acked += c->ans_acked;
  }
  fprintf(stderr,
          "lwm2m-mbms-sim: group requests received %llu, missed %llu, %llu malformed; answers "
          "sent %llu, acknowledged %llu\n",
          (unsigned long long)rx, (unsigned long long)missed, (unsigned long long)g->malformed,
          (unsigned long long)sent, (unsigned long long)acked);
}

void sim_group_free(sim_fleet *f) {
  sim_group *g = f->grp;
  if (!g) return;
  for (size_t k = 0; k < g->n_sock; k++) {
    close(g->sock[k].fd);
    free(g->sock[k].member);
  }
  for (size_t k = 0; k < g->n_heap; k++)
    gans_free(&g->heap[k]);
  for (size_t k = 0; k < g->n_dest; k++)
    for (unsigned j = 0; j < GRP_POOL; j++)
      if (g->dest[k].s[j]) coap_session_release(g->dest[k].s[j]);
  if (g->reply_fd >= 0) close(g->reply_fd);
  free(g->sock);
  free(g->heap);
  free(g->dest);
  free(g->buf);
  free(g->pfd);
  free(g);
  f->grp = NULL;
}
