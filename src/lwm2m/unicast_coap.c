/* unicast_coap.c - the unicast engine's libcoap handlers: responses, NACKs and session events
 * are recorded in the member's slot and queued, never handed to the application from here.
 * A session belongs to a peer (its app data); a response finds its member by token (libcoap
 * gives a block transfer's whole answer the token of its first request). */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/unicast_internal.h"

/* ------------------------------------------------------------- libcoap handlers */

static lmmi_peer *peer_of(coap_session_t *cs) {
  lmmi_peer *p = coap_session_get_app_data(cs);
  return p && p->session == cs ? p : NULL;
}

static bool token_is(const uint8_t *t, size_t tl, coap_bin_const_t b) {
  return tl == b.length && (!tl || !memcmp(t, b.s, tl));
}

static void queue_notify(lmm_unicast *u, lmmi_uslot *s, const uint8_t *data, size_t len, int cf) {
  lmmi_notify *nt = malloc(sizeof *nt + len);
  if (!nt) {
    lmmi_log(u->ctx, LMM_LOG_WARN, "unicast: notification of member %zu dropped: out of memory",
             s->index);
    return;
  }
  nt->b = s->b, nt->index = s->index, nt->cf = cf, nt->len = len, nt->next = NULL;
  if (len) memcpy(nt->data, data, len);
  if (u->notify_tail)
    u->notify_tail->next = nt;
  else
    u->notify_head = nt;
  u->notify_tail = nt;
}

static coap_response_t on_response(coap_session_t *cs, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcv, const coap_mid_t mid) {
  (void)sent, (void)mid;
  lmmi_peer *p = peer_of(cs);
  if (!p) return COAP_RESPONSE_OK;
  coap_bin_const_t tok = coap_pdu_get_token(rcv);
  if (p->wire_busy && token_is(p->wire_token, p->wire_token_len, tok)) {
    p->wire_busy = false; /* the exchange is over; its member (if still here) is told below */
    if (!p->owner) lmmi_uc_peer_kick(p);
  }
  lmmi_uslot *s = lmmi_uc_peer_slot(p, tok.s, tok.length);
  if (!s || !s->b || !s->b->u) return COAP_RESPONSE_OK; /* not ours (any more) */
  lmm_unicast *u = p->u;
  size_t len = 0, off = 0, total = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data_large(rcv, &len, &data, &off, &total)) len = 0, data = NULL;
  coap_opt_iterator_t it;
  const coap_opt_t *o = coap_check_option(rcv, COAP_OPTION_CONTENT_FORMAT, &it);
  int cf = o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
  bool has_observe = coap_check_option(rcv, COAP_OPTION_OBSERVE, &it) != NULL;
  if (s->state == LMMI_SLOT_ACTIVE && s->pending != LMMI_PEND_RESP) {
    s->pending = LMMI_PEND_RESP;
    s->err = LMM_OK;
    s->code = (uint8_t)coap_pdu_get_code(rcv);
    s->cf = cf;
    free(s->payload);
    s->payload = NULL, s->payload_len = 0;
    if (len) {
      s->payload = malloc(len);
      if (!s->payload) {
        s->pending = LMMI_PEND_FINAL, s->err = LMM_ERR_NOMEM;
        lmmi_uc_set_text(s, "out of memory for a %zu-byte response", len);
      } else {
        memcpy(s->payload, data, len);
        s->payload_len = len;
      }
    }
    /* An Observe member keeps its session when the device accepted the observation. */
    s->keep_session = s->op.kind == LMM_OPK_OBSERVE && has_observe && s->code >> 5 == 2;
    lmmi_uc_attn_push(u, s);
    return COAP_RESPONSE_OK;
  }
  if (s->op.kind == LMM_OPK_OBSERVE && (s->observing || s->pending == LMMI_PEND_RESP)) {
    queue_notify(u, s, data, len, cf);
    return COAP_RESPONSE_OK;
  }
  return COAP_RESPONSE_OK;
}

/* A NACK names the PDU that failed. Its token tells an observation's; the exchange on the wire is
 * the only other one of ours, whatever the token (its later blocks carry libcoap's own). */
static void on_nack(coap_session_t *cs, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid) {
  (void)mid;
  lmmi_peer *p = peer_of(cs);
  if (!p) return;
  lmm_unicast *u = p->u;
  lmmi_uslot *o = NULL;
  if (sent) {
    coap_bin_const_t tok = coap_pdu_get_token(sent);
    for (o = p->observers; o && !token_is(o->token, o->token_len, tok); o = o->pnext)
      ;
  }
  if (!o && !p->wire_busy && p->observers && !p->observers->pnext)
    o = p->observers; /* the only thing on an idle session (a notification's blocks) */
  if (o) {
    if (reason != COAP_NACK_ICMP_ISSUE && o->pending != LMMI_PEND_OBS_END) {
      o->pending = LMMI_PEND_OBS_END;
      lmmi_uc_attn_push(u, o);
    }
    return;
  }
  if (!p->wire_busy) return; /* nothing of ours: a late NACK of an exchange already over */
  p->wire_busy = false;
  /* Session-wide failures: the session is replaced (an ICMP error leaves the request in
   * libcoap's queue, to be sent again; a new session is the way to stop it). */
  if (reason == COAP_NACK_TLS_FAILED || reason == COAP_NACK_ICMP_ISSUE ||
      reason == COAP_NACK_NOT_DELIVERABLE)
    lmmi_uc_peer_fail(p);
  lmmi_uslot *s = p->owner;
  if (!s) {
    lmmi_uc_peer_kick(p);
    return;
  }
  if (s->state != LMMI_SLOT_ACTIVE || s->pending == LMMI_PEND_RESP || s->pending == LMMI_PEND_FINAL)
    return;
  int64_t pause = u->cfg.ack_timeout_ms;
  switch (reason) {
  case COAP_NACK_TOO_MANY_RETRIES:
    lmmi_uc_set_text(s, "retransmissions exhausted after %d sends", u->cfg.max_retransmit + 1);
    if (s->attempts > 1)
      lmmi_uc_set_text(s, "retransmissions exhausted after %d sends (attempt %d)",
                       u->cfg.max_retransmit + 1, s->attempts);
    lmmi_uc_mark_fail(u, s, LMM_ERR_TIMEOUT, true, 0);
    break;
  case COAP_NACK_RST:
    lmmi_uc_set_text(s, "reset by the peer (RST)");
    lmmi_uc_mark_fail(u, s, LMM_ERR_NET, false, 0);
    break;
  case COAP_NACK_TLS_FAILED:
    lmmi_uc_set_text(s, "DTLS handshake failed");
    lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, pause);
    break;
  case COAP_NACK_ICMP_ISSUE:
    lmmi_uc_set_text(s, "ICMP: destination unreachable");
    lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, pause);
    break;
  case COAP_NACK_NOT_DELIVERABLE:
  default:
    lmmi_uc_set_text(s, "not deliverable");
    lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, pause);
    break;
  }
}

static int on_event(coap_session_t *cs, const coap_event_t ev) {
  lmmi_peer *p = peer_of(cs);
  if (!p) return 0;
  lmm_unicast *u = p->u;
  lmmi_uslot *s = p->owner;
  switch (ev) {
  case COAP_EVENT_DTLS_CONNECTED:
    if (s && s->hs_due >= 0) {
      s->hs_due = -1;
      if (s->heap_idx != SIZE_MAX) lmmi_uc_heap_push(u, s); /* re-sift with its new due time */
    }
    break;
  case COAP_EVENT_DTLS_ERROR:
  case COAP_EVENT_DTLS_CLOSED:
  case COAP_EVENT_SESSION_FAILED:
    if (s && s->state == LMMI_SLOT_ACTIVE && s->pending == LMMI_PEND_NONE) {
      lmmi_uc_set_text(s, s->hs_due >= 0 ? "DTLS handshake failed"
                                         : "DTLS session closed by the peer");
      lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, u->cfg.ack_timeout_ms);
    }
    lmmi_uc_peer_fail(p); /* and its observations end */
    break;
  default:
    break;
  }
  return 0;
}
void lmmi_uc_register_handlers(coap_context_t *coap) {
  coap_register_response_handler(coap, on_response);
  coap_register_nack_handler(coap, on_nack);
  coap_register_event_handler(coap, on_event);
}

/* A bound engine shares its address and port with the host: while it holds a session to a
 * device, whatever that device sends to the address reaches the engine's socket, its own requests
 * included. They are left unanswered (not even an ACK): the device sends them again, and once
 * the session is gone they reach the host's socket. libcoap would answer 4.04 (no resource). */
static void on_stray_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                             const coap_string_t *query, coap_pdu_t *resp) {
  (void)r, (void)s, (void)req, (void)query;
  coap_pdu_set_type(resp, COAP_MESSAGE_NON); /* libcoap sends no response without a code */
  coap_pdu_set_code(resp, COAP_EMPTY_CODE);
}

bool lmmi_uc_register_stray(coap_context_t *coap) {
  coap_resource_t *r = coap_resource_unknown_init2(on_stray_request, 0);
  if (!r) return false;
  static const coap_request_t methods[] = {
      COAP_REQUEST_GET,   COAP_REQUEST_POST,  COAP_REQUEST_PUT,   COAP_REQUEST_DELETE,
      COAP_REQUEST_FETCH, COAP_REQUEST_PATCH, COAP_REQUEST_IPATCH};
  for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
    coap_register_request_handler(r, methods[k], on_stray_request);
  coap_add_resource(coap, r);
  return true;
}
