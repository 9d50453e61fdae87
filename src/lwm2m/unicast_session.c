/* unicast_session.c - the unicast engine's sessions: opening one per attempt, sending the
 * member's request on it, releasing it, and the observations that keep theirs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
  s->observing = true;
  s->obs_key = member_key(&s->b->members[s->index]);
  s->obs_prev = NULL;
  s->obs_next = u->observations;
  if (u->observations) u->observations->obs_prev = s;
  u->observations = s;
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

static coap_session_t *open_session(lmm_unicast *u, lmmi_uslot *s, const lmm_member *m,
                                    const coap_address_t *addr) {
  coap_session_t *cs;
  if (s->dtls) {
    coap_dtls_cpsk_t psk;
    memset(&psk, 0, sizeof psk);
    psk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    psk.psk_info.identity.s = (const uint8_t *)m->psk_identity;
    psk.psk_info.identity.length = strlen(m->psk_identity);
    psk.psk_info.key.s = m->psk_key;
    psk.psk_info.key.length = m->psk_key_len;
    cs = coap_new_client_session_psk2(u->coap, NULL, addr, COAP_PROTO_DTLS, &psk);
  } else {
    cs = coap_new_client_session(u->coap, NULL, addr, COAP_PROTO_UDP);
  }
  if (!cs) return NULL;
  coap_session_set_app_data(cs, s);
  coap_fixed_point_t at = {(uint16_t)(u->cfg.ack_timeout_ms / 1000),
                           (uint16_t)(u->cfg.ack_timeout_ms % 1000)};
  coap_session_set_ack_timeout(cs, at);
  coap_session_set_max_retransmit(cs, (uint16_t)u->cfg.max_retransmit);
  return cs;
}

/* Sends one attempt on a fresh session (a re-send never reuses the old one: a new socket, a new
 * token, no stale state from the failed exchange). Failures are queued, never called back. */
void lmmi_uc_send_attempt(lmm_unicast *u, lmmi_uslot *s) {
  const lmm_member *m = &s->b->members[s->index];
  lmmi_target t;
  coap_address_t addr;
  int64_t now = lmmi_uc_now_ms(u);
  s->resend_at = -1;
  s->pending = LMMI_PEND_NONE;
  if (!lmmi_unicast_parse_uri(m->uri, &t, s->errtext, sizeof s->errtext)) {
    lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
    return;
  }
  lmm_err rc = lmmi_unicast_resolve(s->b, &t, &addr, s->errtext, sizeof s->errtext);
  if (rc != LMM_OK) {
    lmmi_uc_fail_now(u, s, rc);
    return;
  }
  lmmi_uslot *obs = NULL;
  if (s->op.kind == LMM_OPK_CANCEL_OBSERVE) obs = find_observation(u, m, &s->op.path);
  if (obs) {
    /* Take the observation's session over: the deregistration goes out on it with the
     * observation's token, and its answer is this member's outcome. */
    s->session = obs->session;
    obs->session = NULL;
    lmmi_uc_obs_unlink(u, obs);
    coap_session_set_app_data(s->session, s);
    coap_binary_t tok = {obs->token_len, obs->token};
    memcpy(s->token, obs->token, obs->token_len);
    s->token_len = obs->token_len;
    if (!coap_cancel_observe(s->session, &tok, COAP_MESSAGE_CON)) {
      lmmi_uc_set_text(s, "cannot send the observe cancellation");
      lmmi_uc_fail_now(u, s, LMM_ERR_NET);
      return;
    }
  } else {
    s->session = open_session(u, s, m, &addr);
    if (!s->session) {
      lmmi_uc_set_text(s, "cannot open a %s session to %.60s", s->dtls ? "CoAPS" : "CoAP", t.host);
      lmmi_uc_fail_now(u, s, errno == EMFILE || errno == ENFILE ? LMM_ERR_IO : LMM_ERR_NET);
      return;
    }
    coap_pdu_t *pdu = lmmi_unicast_build_pdu(s->session, &s->op, u->cfg.block_size, s->token,
                                             &s->token_len, s->errtext, sizeof s->errtext);
    if (!pdu) {
      lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
      return;
    }
    if (coap_send(s->session, pdu) == COAP_INVALID_MID) { /* coap_send() freed the PDU */
      lmmi_uc_set_text(s, "cannot send to %.60s", t.host);
      lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, u->cfg.ack_timeout_ms);
      s->attempts++;
      if (s->t_first < 0) s->t_first = now;
      return;
    }
  }
  s->attempts++;
  if (s->t_first < 0) s->t_first = now;
  s->hs_due = s->dtls && coap_session_get_state(s->session) != COAP_SESSION_STATE_ESTABLISHED
                  ? now + u->cfg.dtls_timeout_ms
                  : -1;
  if (s->pending == LMMI_PEND_NONE) lmmi_uc_heap_push(u, s);
}
