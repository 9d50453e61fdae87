/* unicast_session.c - the unicast engine's sessions: finding a member's peer, opening its
 * session, sending the member's request on it, releasing it, and the observations. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lwm2m/unicast_internal.h"

/* ---------------------------------------------------------------- sessions */

/* Never called from inside a libcoap handler (the engine only releases from its own code). */
void lmmi_uc_session_drop(lmm_unicast *u, coap_session_t *cs, bool observing) {
  (void)u;
  if (!cs) return;
  coap_session_set_app_data(cs, NULL);
  /* Cancels what is still queued on it (else libcoap holds the session, and its socket, until
   * the retransmissions end). An observing session is left to libcoap's release, which sends
   * the deregistration. */
  if (!observing) coap_session_disconnected(cs, COAP_NACK_NOT_DELIVERABLE);
  coap_session_release(cs);
}

void lmmi_uc_obs_unlink(lmm_unicast *u, lmmi_uslot *s) {
  if (!s->observing) return;
  if (s->obs_prev)
    s->obs_prev->obs_next = s->obs_next;
  else
    u->observations = s->obs_next;
  if (s->obs_next) s->obs_next->obs_prev = s->obs_prev;
  s->obs_prev = s->obs_next = NULL;
  lmmi_peer *p = s->peer;
  if (p) { /* and out of its peer's observations */
    if (s->pprev)
      s->pprev->pnext = s->pnext;
    else if (p->observers == s)
      p->observers = s->pnext;
    if (s->pnext) s->pnext->pprev = s->pprev;
    s->pprev = s->pnext = NULL;
  }
  s->observing = false;
  free(s->obs_key);
  s->obs_key = NULL;
}

static char *member_key(const lmm_member *m) {
  const char *ep = m->ep ? m->ep : "", *uri = m->uri ? m->uri : "";
  size_t a = strlen(ep), b = strlen(uri);
  char *k = malloc(a + b + 2);
  if (!k) return NULL;
  memcpy(k, ep, a);
  k[a] = '\n';
  memcpy(k + a + 1, uri, b + 1);
  return k;
}

/* The key is copied: an Observe batch's member array need only last until on_done, while the
 * observation lasts until the batch is freed or cancelled. Without memory for the key the
 * observation still works; only a later Cancel Observe cannot find it. */
void lmmi_uc_obs_link(lmm_unicast *u, lmmi_uslot *s) {
  lmmi_peer *p = s->peer;
  s->observing = true;
  s->obs_key = member_key(&s->b->members[s->index]);
  s->obs_prev = NULL;
  s->obs_next = u->observations;
  if (u->observations) u->observations->obs_prev = s;
  u->observations = s;
  if (p->owner == s) p->owner = NULL;
  s->pprev = NULL;
  s->pnext = p->observers;
  if (p->observers) p->observers->pprev = s;
  p->observers = s;
  lmmi_uc_peer_kick(p); /* the wire is free for the next member */
}

static bool same_path(const lmm_path *a, const lmm_path *b) {
  return a->depth == b->depth && a->oid == b->oid && (a->depth < 2 || a->iid == b->iid) &&
         (a->depth < 3 || a->rid == b->rid) && (a->depth < 4 || a->riid == b->riid);
}

static lmmi_uslot *find_observation(lmm_unicast *u, const lmm_member *m, const lmm_path *p) {
  char *key = member_key(m);
  lmmi_uslot *found = NULL;
  for (lmmi_uslot *o = u->observations; key && o && !found; o = o->obs_next)
    if (o->obs_key && same_path(&o->op.path, p) && !strcmp(o->obs_key, key)) found = o;
  free(key);
  return found;
}

/* Whether observation `o` is member m's on path p (its ep and URI, as find_observation()). */
static bool same_member(const lmmi_uslot *o, const lmm_member *m, const lmm_path *p) {
  char *key = member_key(m);
  bool same = key && same_path(&o->op.path, p) && !strcmp(o->obs_key, key);
  free(key);
  return same;
}

static coap_session_t *open_session(lmm_unicast *u, lmmi_peer *p, const lmm_member *m) {
  coap_session_t *cs;
  const coap_address_t *local = u->bound ? &u->local : NULL;
  if (p->dtls) {
    coap_dtls_cpsk_t psk;
    memset(&psk, 0, sizeof psk);
    psk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    psk.psk_info.identity.s = (const uint8_t *)m->psk_identity;
    psk.psk_info.identity.length = strlen(m->psk_identity);
    psk.psk_info.key.s = m->psk_key;
    psk.psk_info.key.length = m->psk_key_len;
    cs = coap_new_client_session_psk2(u->coap, local, &p->addr, COAP_PROTO_DTLS, &psk);
  } else {
    cs = coap_new_client_session(u->coap, local, &p->addr, COAP_PROTO_UDP);
  }
  if (!cs) return NULL;
  coap_session_set_app_data(cs, p);
  coap_fixed_point_t at = {(uint16_t)(u->cfg.ack_timeout_ms / 1000),
                           (uint16_t)(u->cfg.ack_timeout_ms % 1000)};
  coap_session_set_ack_timeout(cs, at);
  coap_session_set_max_retransmit(cs, (uint16_t)u->cfg.max_retransmit);
  if (u->bound) {
    /* Sessions to one device follow each other on one address and port: libcoap's tokens (ours
     * and those of its block transfers) start from a random value, so that a late answer to a
     * dropped session never matches an exchange of the next. */
    uint8_t seed[8];
    if (lmmi_random(u->ctx, seed, sizeof seed) == LMM_OK)
      coap_session_init_token(cs, sizeof seed, seed);
  }
  return cs;
}

/* The member's payload as libcoap gets it: the batch's copy when prepare() left it, else (bound)
 * a copy of the member's own, which may have to outlive on_member on a shared session; unbound,
 * the member's own is borrowed (its session goes before on_member). NULL: borrowed. The caller
 * unrefs what it gets once the PDU is built. */
static lmmi_body *payload_body(lmm_unicast *u, const lmmi_uslot *s) {
  lmmi_body *bb = s->b->body;
  if (!s->op.len) return NULL;
  uintptr_t at = (uintptr_t)s->op.payload, lo = bb ? (uintptr_t)bb->data : 0;
  if (bb && at >= lo && at - lo <= bb->len && s->op.len <= bb->len - (at - lo)) {
    bb->refs++;
    return bb;
  }
  return u->bound ? lmmi_uc_body_new(s->op.payload, s->op.len) : NULL;
}

void lmmi_uc_send_on_peer(lmm_unicast *u, lmmi_uslot *s) {
  lmmi_peer *p = s->peer;
  const lmm_member *m = &s->b->members[s->index];
  int64_t now = lmmi_uc_now_ms(u);
  if (p->dead) { /* replaced: a fresh session (libcoap keeps one per address pair) */
    lmmi_uc_session_drop(u, p->session, false);
    p->session = NULL;
    p->dead = false;
    p->wire_busy = false;
  }
  if (!p->session && !(p->session = open_session(u, p, m))) {
    lmmi_uc_set_text(s, "cannot open a %s session to %.60s", p->dtls ? "CoAPS" : "CoAP", p->host);
    lmmi_uc_fail_now(u, s, errno == EMFILE || errno == ENFILE ? LMM_ERR_IO : LMM_ERR_NET);
    return;
  }
  lmmi_uslot *obs = NULL;
  if (s->op.kind == LMM_OPK_CANCEL_OBSERVE)
    for (obs = p->observers; obs; obs = obs->pnext)
      if (obs->obs_key && obs->pending != LMMI_PEND_OBS_END && same_member(obs, m, &s->op.path))
        break;
  if (obs) {
    /* Take the observation over: the deregistration goes out on its session with its token,
     * and its answer is this member's outcome. */
    memcpy(s->token, obs->token, obs->token_len);
    s->token_len = obs->token_len;
    lmmi_uc_obs_unlink(u, obs);
    lmmi_uc_peer_detach(u, obs, false); /* not the last: this member is attached */
    coap_binary_t tok = {s->token_len, s->token};
    if (!coap_cancel_observe(p->session, &tok, COAP_MESSAGE_CON)) {
      lmmi_uc_set_text(s, "cannot send the observe cancellation");
      lmmi_uc_fail_now(u, s, LMM_ERR_NET);
      return;
    }
  } else {
    lmmi_body *body = payload_body(u, s);
    if (s->op.len && u->bound && !body) {
      lmmi_uc_set_text(s, "out of memory");
      lmmi_uc_fail_now(u, s, LMM_ERR_NOMEM);
      return;
    }
    coap_pdu_t *pdu = lmmi_unicast_build_pdu(p->session, &s->op, u->cfg.block_size, body, s->token,
                                             &s->token_len, s->errtext, sizeof s->errtext);
    lmmi_uc_body_unref(body);
    if (!pdu) {
      lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
      return;
    }
    if (coap_send(p->session, pdu) == COAP_INVALID_MID) { /* coap_send() freed the PDU */
      lmmi_uc_set_text(s, "cannot send to %.60s", p->host);
      lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, u->cfg.ack_timeout_ms);
      s->attempts++;
      if (s->t_first < 0) s->t_first = now;
      return;
    }
  }
  p->owner = s;
  p->wire_busy = true;
  memcpy(p->wire_token, s->token, s->token_len);
  p->wire_token_len = s->token_len;
  s->attempts++;
  if (s->t_first < 0) s->t_first = now;
  s->hs_due = p->dtls && coap_session_get_state(p->session) != COAP_SESSION_STATE_ESTABLISHED
                  ? now + u->cfg.dtls_timeout_ms
                  : -1;
  if (s->pending == LMMI_PEND_NONE) lmmi_uc_heap_push(u, s);
}

static bool same_family(const coap_address_t *a, const coap_address_t *b) {
  return a->addr.sa.sa_family == b->addr.sa.sa_family;
}

/* Unbound, a re-send starts over on a fresh session (a new socket, a new token, no stale state
 * from the failed exchange); bound, it stays on the device's peer and takes its turn there. */
void lmmi_uc_send_attempt(lmm_unicast *u, lmmi_uslot *s) {
  const lmm_member *m = &s->b->members[s->index];
  s->resend_at = -1;
  s->pending = LMMI_PEND_NONE;
  if (!s->peer) {
    lmmi_target t;
    coap_address_t addr;
    if (!lmmi_unicast_parse_uri(m->uri, &t, s->errtext, sizeof s->errtext)) {
      lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
      return;
    }
    lmm_err rc = lmmi_unicast_resolve(s->b, &t, &addr, s->errtext, sizeof s->errtext);
    if (rc != LMM_OK) {
      lmmi_uc_fail_now(u, s, rc);
      return;
    }
    if (u->bound && !same_family(&addr, &u->local)) {
      lmmi_uc_set_text(s, "%.60s is IPv%c, the engine sends from %.40s", t.host,
                       addr.addr.sa.sa_family == AF_INET ? '4' : '6', u->bind_text);
      lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
      return;
    }
    lmmi_uslot *obs = NULL;
    if (s->op.kind == LMM_OPK_CANCEL_OBSERVE) obs = find_observation(u, m, &s->op.path);
    if (obs) {
      lmmi_uc_peer_join(obs->peer, s);
    } else {
      lmmi_peer_rc pr = lmmi_uc_peer_attach(u, s, &addr, t.host);
      if (pr == LMMI_PEER_NOMEM) {
        lmmi_uc_set_text(s, "out of memory");
        lmmi_uc_fail_now(u, s, LMM_ERR_NOMEM);
        return;
      }
      if (pr == LMMI_PEER_WAIT) {
        /* Not an attempt: nothing was sent. Tried again later, up to the deadline. */
        lmmi_uc_set_text(s, "waiting: the CoAPS session to %.40s uses another PSK identity",
                         t.host);
        s->resend_at = lmmi_uc_now_ms(u) + u->cfg.ack_timeout_ms;
        lmmi_uc_heap_push(u, s);
        return;
      }
    }
  }
  lmmi_uc_peer_submit(u, s);
}
