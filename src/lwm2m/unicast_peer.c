/* unicast_peer.c - the unicast engine's peers: the session to one device and the members that
 * share it (one exchange on the wire at a time), and the local address of a bound engine. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwm2m/unicast_internal.h"

/* ---------------------------------------------------------------- the peer table */

static size_t addr_hash(const coap_address_t *a, bool dtls) {
  const uint8_t *p;
  size_t n;
  uint16_t port;
  if (a->addr.sa.sa_family == AF_INET) {
    p = (const uint8_t *)&a->addr.sin.sin_addr, n = 4, port = a->addr.sin.sin_port;
  } else {
    p = (const uint8_t *)&a->addr.sin6.sin6_addr, n = 16, port = a->addr.sin6.sin6_port;
  }
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  h = (h ^ (port & 0xFFu)) * 1099511628211ull;
  h = (h ^ (port >> 8)) * 1099511628211ull;
  h = (h ^ (dtls ? 1u : 0u)) * 1099511628211ull;
  return (size_t)h;
}

static lmmi_peer **bucket(lmm_unicast *u, const coap_address_t *a, bool dtls) {
  return &u->ptab[addr_hash(a, dtls) & (u->ptab_cap - 1)];
}

static lmmi_peer *table_find(lmm_unicast *u, const coap_address_t *a, bool dtls) {
  if (!u->ptab_cap) return NULL;
  for (lmmi_peer *p = *bucket(u, a, dtls); p; p = p->hnext)
    if (p->dtls == dtls && coap_address_equals(&p->addr, a)) return p;
  return NULL;
}

static bool table_add(lmm_unicast *u, lmmi_peer *p) {
  if (u->n_peers + 1 > u->ptab_cap) { /* load factor at most 1 */
    size_t cap = u->ptab_cap ? u->ptab_cap * 2 : 64;
    lmmi_peer **t = calloc(cap, sizeof *t);
    if (!t) return false;
    for (size_t i = 0; i < u->ptab_cap; i++)
      for (lmmi_peer *q = u->ptab[i], *next; q; q = next) {
        next = q->hnext;
        lmmi_peer **bk = &t[addr_hash(&q->addr, q->dtls) & (cap - 1)];
        q->hnext = *bk;
        *bk = q;
      }
    free(u->ptab);
    u->ptab = t, u->ptab_cap = cap;
  }
  lmmi_peer **bk = bucket(u, &p->addr, p->dtls);
  p->hnext = *bk;
  *bk = p;
  u->n_peers++;
  return true;
}

static void table_remove(lmm_unicast *u, lmmi_peer *p) {
  if (!u->ptab_cap) return;
  for (lmmi_peer **pp = bucket(u, &p->addr, p->dtls); *pp; pp = &(*pp)->hnext)
    if (*pp == p) {
      *pp = p->hnext;
      u->n_peers--;
      return;
    }
}

/* ---------------------------------------------------------------- peers */

static void peer_free(lmmi_peer *p) {
  free(p->host);
  free(p->psk_identity);
  free(p->psk_key);
  free(p);
}

static lmmi_peer *peer_new(lmm_unicast *u, const coap_address_t *addr, bool dtls,
                           const lmm_member *m, const char *host) {
  lmmi_peer *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->u = u, p->addr = *addr, p->dtls = dtls;
  p->host = strdup(host ? host : "?");
  bool ok = p->host != NULL;
  if (ok && u->bound && dtls) {
    p->psk_identity = strdup(m->psk_identity);
    p->psk_key = malloc(m->psk_key_len);
    ok = p->psk_identity && p->psk_key;
    if (ok) memcpy(p->psk_key, m->psk_key, m->psk_key_len), p->psk_key_len = m->psk_key_len;
  }
  if (!ok || (u->bound && !table_add(u, p))) {
    peer_free(p);
    return NULL;
  }
  return p;
}

/* A device's CoAPS session carries one PSK identity: a member with other credentials at the same
 * address waits until the session is gone. */
static bool same_credentials(const lmmi_peer *p, const lmm_member *m) {
  return !p->dtls ||
         (!strcmp(p->psk_identity, m->psk_identity) && p->psk_key_len == m->psk_key_len &&
          !memcmp(p->psk_key, m->psk_key, m->psk_key_len));
}

void lmmi_uc_peer_join(lmmi_peer *p, lmmi_uslot *s) {
  s->peer = p;
  s->waiting = false;
  s->pprev = s->pnext = NULL;
  p->users++;
}

lmmi_peer_rc lmmi_uc_peer_attach(lmm_unicast *u, lmmi_uslot *s, const coap_address_t *addr,
                                 const char *host) {
  const lmm_member *m = &s->b->members[s->index];
  lmmi_peer *p = u->bound ? table_find(u, addr, s->dtls) : NULL;
  if (p && !same_credentials(p, m)) return LMMI_PEER_WAIT;
  if (!p && !(p = peer_new(u, addr, s->dtls, m, host))) return LMMI_PEER_NOMEM;
  lmmi_uc_peer_join(p, s);
  return LMMI_PEER_OK;
}

void lmmi_uc_peer_kick(lmmi_peer *p) {
  lmm_unicast *u = p->u;
  if (p->in_kick) return;
  p->in_kick = true;
  p->kick_next = NULL;
  if (u->kick_tail)
    u->kick_tail->kick_next = p;
  else
    u->kick_head = p;
  u->kick_tail = p;
}

static void kick_remove(lmm_unicast *u, lmmi_peer *p) {
  if (!p->in_kick) return;
  lmmi_peer *prev = NULL;
  for (lmmi_peer *q = u->kick_head; q; prev = q, q = q->kick_next)
    if (q == p) {
      if (prev)
        prev->kick_next = q->kick_next;
      else
        u->kick_head = q->kick_next;
      if (u->kick_tail == q) u->kick_tail = prev;
      break;
    }
  p->in_kick = false;
  p->kick_next = NULL;
}

static bool wire_free(const lmmi_peer *p) {
  return !p->owner && !p->wire_busy;
}

void lmmi_uc_peer_submit(lmm_unicast *u, lmmi_uslot *s) {
  lmmi_peer *p = s->peer;
  if (wire_free(p) && !p->wait_head) {
    lmmi_uc_send_on_peer(u, s);
    return;
  }
  s->waiting = true;
  s->pnext = NULL;
  s->pprev = p->wait_tail;
  if (p->wait_tail)
    p->wait_tail->pnext = s;
  else
    p->wait_head = s;
  p->wait_tail = s;
  s->hs_due = -1;
  lmmi_uc_heap_push(u, s); /* for its deadline */
}

static void wait_remove(lmmi_peer *p, lmmi_uslot *s) {
  if (s->pprev)
    s->pprev->pnext = s->pnext;
  else
    p->wait_head = s->pnext;
  if (s->pnext)
    s->pnext->pprev = s->pprev;
  else
    p->wait_tail = s->pprev;
  s->pprev = s->pnext = NULL;
  s->waiting = false;
}

/* The member leaves the wire while its exchange is still outstanding (deadline, cancel). With no
 * observation on the session it is dropped, which cancels the exchange, and the next member
 * goes at once on a fresh one; an observation keeps the session: the next member then waits
 * until libcoap is done with the exchange (its response or its give-up). The exchange's body is
 * reference-counted, so it may outlive the member. */
static void abandon(lmmi_peer *p) {
  if (!p->observers) p->dead = true;
}

void lmmi_uc_peer_pause(lmm_unicast *u, lmmi_uslot *s) {
  (void)u;
  lmmi_peer *p = s->peer;
  if (!p) return;
  if (p->owner == s) {
    p->owner = NULL;
    if (p->wire_busy) abandon(p);
  } else if (s->waiting) {
    wait_remove(p, s);
  }
  lmmi_uc_peer_kick(p);
}

static void peer_release(lmm_unicast *u, lmmi_peer *p) {
  kick_remove(u, p);
  if (u->bound) table_remove(u, p);
  lmmi_uc_session_drop(u, p->session, p->polite && !p->dead);
  p->session = NULL;
  peer_free(p);
}

void lmmi_uc_peer_detach(lmm_unicast *u, lmmi_uslot *s, bool deregister) {
  lmmi_peer *p = s->peer;
  if (!p) return;
  lmmi_uc_peer_pause(u, s);
  if (deregister && p->session && !p->dead) {
    if (u->bound) {
      /* The session may stay for others: the observation is cancelled on its own (a NON, as
       * libcoap's release would send). */
      coap_binary_t tok = {s->token_len, s->token};
      coap_cancel_observe(p->session, &tok, COAP_MESSAGE_NON);
    } else {
      p->polite = true; /* its own session: libcoap's release deregisters */
    }
  }
  s->peer = NULL;
  if (--p->users == 0) peer_release(u, p);
}

lmmi_uslot *lmmi_uc_peer_slot(const lmmi_peer *p, const uint8_t *tok, size_t len) {
  lmmi_uslot *o = p->owner;
  if (o && o->token_len == len && !memcmp(o->token, tok, len)) return o;
  for (o = p->observers; o; o = o->pnext)
    if (o->token_len == len && !memcmp(o->token, tok, len)) return o;
  return NULL;
}

void lmmi_uc_peer_fail(lmmi_peer *p) {
  p->dead = true;
  p->wire_busy = false;
  for (lmmi_uslot *o = p->observers; o; o = o->pnext)
    if (o->pending != LMMI_PEND_OBS_END) {
      o->pending = LMMI_PEND_OBS_END;
      lmmi_uc_attn_push(p->u, o);
    }
  lmmi_uc_peer_kick(p);
}

void lmmi_uc_peers_service(lmm_unicast *u) {
  lmmi_peer *p;
  while ((p = u->kick_head)) {
    u->kick_head = p->kick_next;
    if (!u->kick_head) u->kick_tail = NULL;
    p->in_kick = false, p->kick_next = NULL;
    if (p->dead) { /* its exchange (if any) goes with it; the next send opens a new one */
      lmmi_uc_session_drop(u, p->session, false);
      p->session = NULL;
      p->dead = p->wire_busy = false;
    }
    /* A send that fails at once leaves the wire free: the next member then goes. */
    while (wire_free(p) && p->wait_head) {
      lmmi_uslot *s = p->wait_head;
      wait_remove(p, s);
      lmmi_uc_send_on_peer(u, s);
    }
  }
}

void lmmi_uc_peers_free(lmm_unicast *u) {
  for (size_t i = 0; i < u->ptab_cap; i++)
    while (u->ptab[i]) {
      lmmi_peer *p = u->ptab[i];
      u->ptab[i] = p->hnext;
      lmmi_uc_session_drop(u, p->session, false);
      peer_free(p);
    }
  free(u->ptab);
  u->ptab = NULL, u->ptab_cap = u->n_peers = 0;
  u->kick_head = u->kick_tail = NULL;
}

/* ---------------------------------------------------------------- the local address */

/* libcoap binds each session's socket with SO_REUSEADDR and connects it; a trial socket made the
 * same way tells at once whether that can work (a socket holding the port without
 * SO_REUSEADDR refuses it). Port 0 picks a port, and this socket then keeps it for the engine:
 * nothing reads it, and what reaches it (a stray datagram no session matches) is dropped once
 * its smallest buffer is full. */
lmm_err lmmi_uc_bind_open(lmm_unicast *u) {
  int fam = u->local.addr.sa.sa_family, on = 1, off = 0;
  int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    lmmi_log(u->ctx, LMM_LOG_ERROR, "unicast: cannot bind %s: socket: %s", u->bind_text,
             strerror(errno));
    return LMM_ERR_IO;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  socklen_t len = fam == AF_INET ? sizeof u->local.addr.sin : sizeof u->local.addr.sin6;
  if (bind(fd, &u->local.addr.sa, len) != 0) {
    int e = errno;
    lmmi_log(u->ctx, LMM_LOG_ERROR, "unicast: cannot bind %s: %s%s", u->bind_text, strerror(e),
             e == EADDRINUSE ? " (a socket holds the port without SO_REUSEADDR)" : "");
    close(fd);
    return LMM_ERR_IO;
  }
  uint16_t port = fam == AF_INET ? u->local.addr.sin.sin_port : u->local.addr.sin6.sin6_port;
  if (port != 0) {
    close(fd);
    return LMM_OK;
  }
  coap_address_t got;
  coap_address_init(&got);
  socklen_t gl = sizeof got.addr;
  if (getsockname(fd, &got.addr.sa, &gl) != 0) {
    lmmi_log(u->ctx, LMM_LOG_ERROR, "unicast: cannot bind %s: getsockname: %s", u->bind_text,
             strerror(errno));
    close(fd);
    return LMM_ERR_IO;
  }
  int small = 1; /* the kernel raises it to its minimum */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (fam == AF_INET)
    u->local.addr.sin.sin_port = got.addr.sin.sin_port;
  else
    u->local.addr.sin6.sin6_port = got.addr.sin6.sin6_port;
  u->port_fd = fd;
  return LMM_OK;
}
