/* unicast_coap.c - the unicast engine's libcoap handlers: responses, NACKs and session events
 * are recorded in the member's slot and queued, never handed to the application from here. */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/unicast_internal.h"

/* ------------------------------------------------------------- libcoap handlers */

static lmmi_uslot *slot_of(coap_session_t *cs) {
  return coap_session_get_app_data(cs);
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
  lmmi_uslot *s = slot_of(cs);
  if (!s || s->session != cs || !s->b || !s->b->u) return COAP_RESPONSE_OK;
  lmm_unicast *u = s->b->u;
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

static void on_nack(coap_session_t *cs, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid) {
  (void)sent, (void)mid;
  lmmi_uslot *s = slot_of(cs);
  if (!s || s->session != cs || !s->b || !s->b->u) return;
  lmm_unicast *u = s->b->u;
  if (s->state != LMMI_SLOT_ACTIVE) {
    if (s->observing && reason != COAP_NACK_ICMP_ISSUE) {
      s->pending = LMMI_PEND_OBS_END;
      lmmi_uc_attn_push(u, s);
    }
    return;
  }
  if (s->pending == LMMI_PEND_RESP || s->pending == LMMI_PEND_FINAL) return;
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
  lmmi_uslot *s = slot_of(cs);
  if (!s || s->session != cs || !s->b || !s->b->u) return 0;
  lmm_unicast *u = s->b->u;
  switch (ev) {
  case COAP_EVENT_DTLS_CONNECTED:
    if (s->hs_due >= 0) {
      s->hs_due = -1;
      if (s->heap_idx != SIZE_MAX) lmmi_uc_heap_push(u, s); /* re-sift with its new due time */
    }
    break;
  case COAP_EVENT_DTLS_ERROR:
  case COAP_EVENT_DTLS_CLOSED:
  case COAP_EVENT_SESSION_FAILED:
    if (s->state == LMMI_SLOT_ACTIVE && s->pending == LMMI_PEND_NONE) {
      lmmi_uc_set_text(s, s->hs_due >= 0 ? "DTLS handshake failed"
                                         : "DTLS session closed by the peer");
      lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, u->cfg.ack_timeout_ms);
    } else if (s->state == LMMI_SLOT_DONE && s->observing) {
      s->pending = LMMI_PEND_OBS_END;
      lmmi_uc_attn_push(u, s);
    }
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
