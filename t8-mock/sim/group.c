/* group.c - group delivery on the device side (docs/protocol.md sections 1 and 2): devices join
 * the bearer (TMGI) and multicast groups their Group Mgmt instances name, execute the NON group
 * requests that arrive there like unicast ones, and answer each by a confirmable POST to the
 * instance's Answer URI after a random wait within its Response Time Window (group_answer.c). */
#include "group_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl.h"
#include "blob.h"
#include "msg.h"
#include "observe.h"
#include "lmm_wire/hex.h"

#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif

sim_group *sim_group_state(sim_fleet *f) {
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
  sim_group *g = sim_group_state(f);
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

/* ------------------------------------------------------------------ group requests */

/* The first instance of device i that names (group, port). */
static sim_gm_inst *instance_for(sim_device *d, uint32_t group, uint16_t port) {
  for (unsigned k = 0; k < d->n_gm; k++)
    if (names(&d->gm[k].g, group, port)) return &d->gm[k];
  return NULL;
}

static bool any_key(const sim_device *d) {
  for (unsigned k = 0; k < d->n_gm; k++)
    if (d->gm[k].keyed) return true;
  return false;
}

/* Whether an unprotected datagram is what a group request must be: a NON request with a
 * token; parsed into *pdu (owned) and classified into *bm. */
static bool parse_plain(const uint8_t *data, size_t len, coap_pdu_t **pdu, sim_blob_msg *bm,
                        const char **why) {
  coap_pdu_t *p = coap_pdu_init(0, 0, 0, len);
  int code;
  coap_bin_const_t tok;
  *pdu = NULL, *why = NULL;
  if (!p) return false;
  if (!coap_pdu_parse(COAP_PROTO_UDP, data, len, p) || coap_pdu_get_type(p) != COAP_MESSAGE_NON ||
      (code = coap_pdu_get_code(p)) == 0 || (code >> 5) != 0 ||
      (tok = coap_pdu_get_token(p)).length == 0 || tok.length > 8) {
    coap_delete_pdu(p);
    return false;
  }
  /* A blob message is parsed once for all members; a malformed one is ignored by all. */
  sim_blob_classify(p, false, bm);
  if (bm->kind == SIM_BLOB_MALFORMED) {
    *why = bm->why;
    coap_delete_pdu(p);
    return false;
  }
  *pdu = p;
  return true;
}

/* Whether device d takes a protected datagram under instance gi: the tag under its key, then
 * its replay window (in this order, as OSCORE does: a failed tag leaves the window as it was,
 * and a replayed message is counted as one only when it is genuine). Counted either way; the
 * message inside is in `*use`. */
static bool verify(sim_device *d, sim_gm_inst *gi, sim_gp_open *c, const uint8_t *data, size_t len,
                   const coap_pdu_t **use, const sim_blob_msg **bm) {
  if (!gi->keyed) { /* protected under a key it never got */
    d->c.gp_other_key++;
    return false;
  }
  const sim_gp_open *o = sim_gp_open_for(c, gi, data, len);
  switch (o->v) {
  case LMMW_GP_OK:
    break;
  case LMMW_GP_OTHER_KEY:
    d->c.gp_other_key++;
    return false;
  case LMMW_GP_BAD_TAG:
    d->c.gp_forged++;
    return false;
  default: /* under the key, yet no group request: only a key holder forges that */
    d->c.gp_forged++;
    return false;
  }
  if (!lmmw_gp_window_fresh(&gi->win, o->seq)) {
    d->c.gp_replayed++;
    return false;
  }
  lmmw_gp_window_accept(&gi->win, o->seq);
  d->c.gp_ok++;
  *use = o->pdu, *bm = &o->bm;
  return true;
}

static void on_datagram(sim_fleet *f, sim_group *g, size_t si, const uint8_t *data, size_t len,
                        const struct sockaddr_in *src, sim_group_serve_fn *serve) {
  char ep[48];
  coap_pdu_t *plain = NULL;
  sim_blob_msg pbm;
  const char *why = NULL;
  lmmw_gp_verdict pv = lmmw_gp_peek(data, len, NULL);
  bool prot = pv == LMMW_GP_OK;
  if (pv == LMMW_GP_MALFORMED || (!prot && !parse_plain(data, len, &plain, &pbm, &why))) {
    g->malformed++;
    if (f->cfg->verbose && why)
      fprintf(stderr, "lwm2m-mbms-sim: group blob message ignored: %s\n", why);
    else if (f->cfg->verbose)
      fprintf(stderr, "lwm2m-mbms-sim: malformed group datagram (%zu bytes) ignored\n", len);
    return;
  }
  uint32_t group = g->sock[si].group;
  uint16_t port = g->sock[si].port;
  /* Executing may change a device's Group Mgmt (a group Write), which may close or move this
   * socket: the members are copied first. */
  size_t words = (f->n + 63) / 64;
  uint64_t *members = malloc(words * sizeof *members);
  if (!members) {
    if (plain) coap_delete_pdu(plain);
    return;
  }
  memcpy(members, g->sock[si].member, words * sizeof *members);
  sim_gp_open opened = {0};
  int64_t now = sim_now_ms();
  for (unsigned i = 0; i < f->n; i++) {
    if (!((members[i / 64] >> (i % 64)) & 1u)) continue;
    sim_device *d = &f->dev[i];
    /* An unprotected blob announce or fragment changes no Group Mgmt, so its member bits stay
     * exact and, on a device without keys or access control, no instance is needed: the
     * per-fragment lookup (TMGIs parsed anew) is skipped. Another request may (a group Write):
     * the device is checked against its instances as they are. */
    sim_gm_inst *gi = NULL;
    bool acl = sim_acl_on(f);
    if ((prot || pbm.kind != SIM_BLOB_DATA || acl || any_key(d)) &&
        !(gi = instance_for(d, group, port)))
      continue;
    uint16_t ssid = gi ? gi->ssid : 0; /* the rights of the server that configured the group */
    if (sim_dev_offline(d, now)) {     /* rebooting (--fw-reboot) */
      d->c.offline++;
      continue;
    }
    /* Reception differs per device: each misses the broadcast on its own draw. */
    if (f->cfg->group_loss > 0 && sim_rand01(f) < f->cfg->group_loss) {
      d->c.grp_missed++;
      continue;
    }
    const coap_pdu_t *pdu = plain;
    const sim_blob_msg *bm = &pbm;
    if (prot && !verify(d, gi, &opened, data, len, &pdu, &bm)) continue;
    if (!prot && gi && gi->keyed) { /* it holds the group's key: only sealed messages count */
      d->c.gp_unprotected++;
      continue;
    }
    d->c.grp_rx++;
    if (bm->kind == SIM_BLOB_DATA) { /* announce or fragment: never answered (protocol.md 5.2) */
      char bwhy[160];
      d->c.req[SIM_M_PUT]++;
      if (acl && sim_acl_check(f, i, ssid, 5, 0, SIM_ACL_WRITE, bwhy, sizeof bwhy)) {
        if (f->cfg->verbose)
          fprintf(stderr, "%s group blob message ignored: %s\n", sim_dev_ep(f, i, ep, sizeof ep),
                  bwhy);
        continue;
      }
      sim_blob_data(f, i, bm, true, bwhy, sizeof bwhy);
      sim_obs_touch(f, i);
      continue;
    }
    const lmm_group_mgmt *inst = &gi->g;
    coap_bin_const_t tok = coap_pdu_get_token(pdu);
    int64_t window_ms = inst->response_time_window > 0 ? inst->response_time_window * 1000 : 0;
    gans a = {.dev = i, .fmt = -1, .src = *src};
    a.uri = inst->answer_uri ? strdup(inst->answer_uri) : NULL;
    a.due = now + (window_ms ? (int64_t)(sim_rand01(f) * (double)window_ms) : 0);
    memcpy(a.tok, tok.s, tok.length);
    a.tok_len = (uint8_t)tok.length;
    serve(f, i, pdu, bm, ssid, &a.code, &a.fmt, &a.body, &a.len); /* may change `inst` */
    if (a.code == 0) { /* the device rebooted meanwhile: no answer */
      sim_group_answer_free(&a);
      continue;
    }
    a.to_source = !sim_no_response(pdu, a.code);
    if (f->cfg->verbose)
      fprintf(stderr, "%s group request -> %d.%02d, answer in %lld ms\n",
              sim_dev_ep(f, i, ep, sizeof ep), a.code >> 5, a.code & 31, (long long)(a.due - now));
    if (!sim_group_answer_push(g, &a)) {
      d->c.ans_failed++;
      sim_group_answer_free(&a);
    }
  }
  sim_gp_open_clear(&opened);
  free(members);
  if (plain) coap_delete_pdu(plain);
}

/* Up to GRP_RX_BURST datagrams from socket si; returns how many were read. */
static unsigned read_socket(sim_fleet *f, sim_group *g, size_t si, sim_group_serve_fn *serve) {
  int fd = g->sock[si].fd;
  unsigned k;
  if (!g->buf && !(g->buf = malloc(GRP_DGRAM_MAX))) return 0;
  for (k = 0; k < GRP_RX_BURST; k++) {
    struct sockaddr_in src;
    socklen_t sl = sizeof src;
    ssize_t n = recvfrom(fd, g->buf, GRP_DGRAM_MAX, 0, (struct sockaddr *)&src, &sl);
    if (n < 0) break;
    on_datagram(f, g, si, g->buf, (size_t)n, &src, serve);
    /* The request may have made devices leave: the socket may be gone or moved. */
    if (si >= g->n_sock || g->sock[si].fd != fd) return k + 1;
  }
  return k;
}

/* Every group datagram already queued, before a unicast request is served. A real device
 * takes the broadcast as it comes; the simulator takes it from a kernel queue, and when it
 * falls behind (a big fleet, a slow build) a status request by unicast would otherwise be
 * answered from a state that misses fragments already sent, which the adapter must take
 * for loss and repair. Bounded, so that a sender faster than the fleet cannot starve the
 * unicast side for good. */
static void drain_groups(sim_fleet *f, sim_group *g, sim_group_serve_fn *serve) {
  int64_t until = sim_now_ms() + GRP_DRAIN_MAX_MS;
  unsigned got;
  do {
    got = 0;
    for (size_t j = 0; j < g->n_sock; j++)
      got += read_socket(f, g, j, serve);
  } while (got && sim_now_ms() < until);
}

int sim_group_io(sim_fleet *f, long wait_ms, sim_group_serve_fn *serve) {
  sim_group *g = f->grp;
  long due = sim_group_answers_due(f);
  bool rst = sim_obs_watching(f); /* Resets to NON notifications are read here (observe.c) */
  if (due >= 0 && due < wait_ms) wait_ms = due;
  if (wait_ms < 0) wait_ms = 0;
  /* libcoap reads a timeout of 0 as COAP_IO_WAIT, "until something happens": a turn that
   * must not wait at all says so with COAP_IO_NO_WAIT. */
  if ((!g || g->n_sock == 0) && !rst)
    return coap_io_process(f->ctx, wait_ms == 0 ? COAP_IO_NO_WAIT : (uint32_t)wait_ms) < 0 ? -1 : 0;
  if (!g && !(g = sim_group_state(f))) return -1;
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
    sim_group_answers_due(f);
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
  /* Whichever woke the loop: a unicast request that came in after a group datagram must find
   * it served, and one may come in between this poll and libcoap's read. */
  if (r > 0) drain_groups(f, g, serve);
  sim_group_answers_due(f); /* a window of 0 answers at once */
  return coap_io_process(f->ctx, COAP_IO_NO_WAIT) < 0 ? -1 : 0;
}

void sim_group_free(sim_fleet *f) {
  sim_group *g = f->grp;
  if (!g) return;
  for (size_t k = 0; k < g->n_sock; k++) {
    close(g->sock[k].fd);
    free(g->sock[k].member);
  }
  for (size_t k = 0; k < g->n_heap; k++)
    sim_group_answer_free(&g->heap[k]);
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
