/* unicast.c - the unicast engine: one LwM2M operation to many members over CoAP/CoAPS as one
 * asynchronous batch, on a libcoap client context driven by the lmm_ctx event loop.
 *
 * How it runs:
 * - One libcoap context per engine; its single epoll fd is the engine's only pollfd, and its
 *   next retransmission (coap_io_prepare_epoll) joins the members' own deadlines.
 * - At most cfg.max_in_flight members are ACTIVE at once, across all batches of the engine; each
 *   has one session (its own UDP socket) and one request outstanding (NSTART = 1). A member's
 *   session is released as soon as its outcome is known, so sockets stay bounded by the window
 *   (plus the Observe members that keep theirs).
 * - libcoap's handlers never call the application: they record what happened in the member's
 *   slot and queue it. The engine acts on the queue after coap_io_process() returns: it releases
 *   sessions, decides re-sends and calls on_member / on_notify / on_done. So a callback may start
 *   or free batches without pulling a session from under libcoap.
 * - Members not started are a cursor per batch; a response finds its member through the
 *   session's app data; deadlines are a binary heap of the ACTIVE members: no O(N) work per event.
 * - A lost exchange (retransmissions exhausted, ICMP, DTLS failure) is re-sent on a new session
 *   (new socket, new token) only while the member's deadline still allows one whole attempt
 *   (MAX_TRANSMIT_WAIT, plus the handshake limit for CoAPS); an RST is final.
 *
 * Limits (libcoap 4.3.1 and this design):
 * - ACK_TIMEOUT below 1 s and MAX_RETRANSMIT 0 are raised to 1 s and 1 (libcoap ignores them).
 * - Host names are resolved with getaddrinfo(), which blocks; once per batch per name.
 * - coap_startup() and libcoap's log level (set to LOG_EMERG so nothing reaches stderr) are
 *   process-wide; coap_cleanup() is never called.
 * - Observe: the first answer is the member's outcome; the session is kept for notifications
 *   until the batch is freed (libcoap then sends a deregistration) or a Cancel Observe batch on
 *   the same member (same ep and URI) and path takes it over. A cancel with no known
 *   observation is sent as a plain GET with Observe 1 on a new session.
 * - lmm_unicast_free() cancels and detaches running batches; they must still be freed.
 *   Callbacks must not free the engine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/unicast_internal.h"

/* ---------------------------------------------------------------- small helpers */

static int64_t now_ms(const lmm_unicast *u) {
  return lmm_ctx_now_ms(u->ctx);
}

/* Time one whole attempt may take before libcoap gives up: the RFC 7252 MAX_TRANSMIT_WAIT,
 * ACK_TIMEOUT * (2^(MAX_RETRANSMIT+1) - 1) * ACK_RANDOM_FACTOR (1.5), plus the handshake limit
 * for CoAPS. A re-send happens only when this still fits before the member's deadline. */
static int64_t attempt_span_ms(const lmm_unicast *u, bool dtls) {
  int64_t w = (int64_t)u->cfg.ack_timeout_ms * (((int64_t)1 << (u->cfg.max_retransmit + 1)) - 1);
  w = w * 3 / 2;
  return dtls ? w + u->cfg.dtls_timeout_ms : w;
}

static int64_t slot_due(const lmmi_uslot *s) {
  int64_t d = s->deadline;
  if (s->resend_at >= 0 && s->resend_at < d) d = s->resend_at;
  if (s->hs_due >= 0 && s->hs_due < d) d = s->hs_due;
  return d;
}

/* ------------------------------------------------------------- deadline heap */

static void heap_swap(lmm_unicast *u, size_t a, size_t b) {
  lmmi_uslot *t = u->heap[a];
  u->heap[a] = u->heap[b], u->heap[b] = t;
  u->heap[a]->heap_idx = a, u->heap[b]->heap_idx = b;
}

static void heap_up(lmm_unicast *u, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (slot_due(u->heap[p]) <= slot_due(u->heap[i])) break;
    heap_swap(u, p, i);
    i = p;
  }
}

static void heap_down(lmm_unicast *u, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < u->heap_n && slot_due(u->heap[l]) < slot_due(u->heap[m])) m = l;
    if (r < u->heap_n && slot_due(u->heap[r]) < slot_due(u->heap[m])) m = r;
    if (m == i) return;
    heap_swap(u, i, m);
    i = m;
  }
}

static lmm_err heap_reserve(lmm_unicast *u, size_t need) {
  if (need <= u->heap_cap) return LMM_OK;
  size_t cap = u->heap_cap ? u->heap_cap * 2 : 64;
  while (cap < need)
    cap *= 2;
  lmmi_uslot **h = realloc(u->heap, cap * sizeof *h);
  if (!h) return LMM_ERR_NOMEM;
  u->heap = h, u->heap_cap = cap;
  return LMM_OK;
}

/* The heap never grows here: a slot is ACTIVE (and so counted in in_flight) before it is
 * pushed, and heap_reserve() made room for every ACTIVE slot when it started. */
static void heap_push(lmm_unicast *u, lmmi_uslot *s) {
  if (s->heap_idx != SIZE_MAX) {
    heap_up(u, s->heap_idx);
    heap_down(u, s->heap_idx);
    return;
  }
  s->heap_idx = u->heap_n;
  u->heap[u->heap_n++] = s;
  heap_up(u, s->heap_idx);
}

static void heap_remove(lmm_unicast *u, lmmi_uslot *s) {
  size_t i = s->heap_idx;
  if (i == SIZE_MAX) return;
  s->heap_idx = SIZE_MAX;
  if (--u->heap_n == i) return;
  u->heap[i] = u->heap[u->heap_n];
  u->heap[i]->heap_idx = i;
  heap_up(u, i);
  heap_down(u, u->heap[i]->heap_idx);
}

/* ----------------------------------------------------------- attention queue */

static void attn_push(lmm_unicast *u, lmmi_uslot *s) {
  heap_remove(u, s);
  if (s->in_attn) return;
  s->in_attn = true;
  s->attn_next = NULL;
  if (u->attn_tail)
    u->attn_tail->attn_next = s;
  else
    u->attn_head = s;
  u->attn_tail = s;
}

static lmmi_uslot *attn_pop(lmm_unicast *u) {
  lmmi_uslot *s = u->attn_head;
  if (!s) return NULL;
  u->attn_head = s->attn_next;
  if (!u->attn_head) u->attn_tail = NULL;
  s->in_attn = false;
  s->attn_next = NULL;
  return s;
}

static void set_text(lmmi_uslot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_text(lmmi_uslot *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->errtext, sizeof s->errtext, fmt, ap);
  va_end(ap);
}

/* An attempt failed: `retryable` ones are re-sent when the deadline allows (decided later, in
 * drain_attn, with the time then). */
static void mark_fail(lmm_unicast *u, lmmi_uslot *s, lmm_err err, bool retryable,
                      int64_t pause_ms) {
  s->pending = retryable ? LMMI_PEND_FAIL : LMMI_PEND_FINAL;
  s->err = err;
  s->retryable = retryable;
  s->pause_ms = pause_ms;
  attn_push(u, s);
}

/* ---------------------------------------------------------------- sessions */

/* Never called from inside a libcoap handler (the engine only releases from its own code). */
static void session_drop(lmm_unicast *u, coap_session_t *cs, bool observing) {
  (void)u;
  if (!cs) return;
  coap_session_set_app_data(cs, NULL);
  /* Cancels what is still queued on it (else libcoap holds the session, and its socket, until
   * the retransmissions end). An observing session is left to libcoap's release, which sends
   * the deregistration. */
  if (!observing) coap_session_disconnected(cs, COAP_NACK_NOT_DELIVERABLE);
  coap_session_release(cs);
}

static void obs_unlink(lmm_unicast *u, lmmi_uslot *s) {
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
static void obs_link(lmm_unicast *u, lmmi_uslot *s) {
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
        set_text(s, "out of memory for a %zu-byte response", len);
      } else {
        memcpy(s->payload, data, len);
        s->payload_len = len;
      }
    }
    /* An Observe member keeps its session when the device accepted the observation. */
    s->keep_session = s->op.kind == LMM_OPK_OBSERVE && has_observe && s->code >> 5 == 2;
    attn_push(u, s);
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
      attn_push(u, s);
    }
    return;
  }
  if (s->pending == LMMI_PEND_RESP || s->pending == LMMI_PEND_FINAL) return;
  int64_t pause = u->cfg.ack_timeout_ms;
  switch (reason) {
  case COAP_NACK_TOO_MANY_RETRIES:
    set_text(s, "retransmissions exhausted after %d sends", u->cfg.max_retransmit + 1);
    if (s->attempts > 1)
      set_text(s, "retransmissions exhausted after %d sends (attempt %d)",
               u->cfg.max_retransmit + 1, s->attempts);
    mark_fail(u, s, LMM_ERR_TIMEOUT, true, 0);
    break;
  case COAP_NACK_RST:
    set_text(s, "reset by the peer (RST)");
    mark_fail(u, s, LMM_ERR_NET, false, 0);
    break;
  case COAP_NACK_TLS_FAILED:
    set_text(s, "DTLS handshake failed");
    mark_fail(u, s, LMM_ERR_NET, true, pause);
    break;
  case COAP_NACK_ICMP_ISSUE:
    set_text(s, "ICMP: destination unreachable");
    mark_fail(u, s, LMM_ERR_NET, true, pause);
    break;
  case COAP_NACK_NOT_DELIVERABLE:
  default:
    set_text(s, "not deliverable");
    mark_fail(u, s, LMM_ERR_NET, true, pause);
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
      if (s->heap_idx != SIZE_MAX) heap_push(u, s); /* re-sift with its new due time */
    }
    break;
  case COAP_EVENT_DTLS_ERROR:
  case COAP_EVENT_DTLS_CLOSED:
  case COAP_EVENT_SESSION_FAILED:
    if (s->state == LMMI_SLOT_ACTIVE && s->pending == LMMI_PEND_NONE) {
      set_text(s, s->hs_due >= 0 ? "DTLS handshake failed" : "DTLS session closed by the peer");
      mark_fail(u, s, LMM_ERR_NET, true, u->cfg.ack_timeout_ms);
    } else if (s->state == LMMI_SLOT_DONE && s->observing) {
      s->pending = LMMI_PEND_OBS_END;
      attn_push(u, s);
    }
    break;
  default:
    break;
  }
  return 0;
}

/* --------------------------------------------------------------- starting */

static void fail_now(lmm_unicast *u, lmmi_uslot *s, lmm_err err) {
  s->pending = LMMI_PEND_FINAL;
  s->err = err;
  attn_push(u, s);
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
static void send_attempt(lmm_unicast *u, lmmi_uslot *s) {
  const lmm_member *m = &s->b->members[s->index];
  lmmi_target t;
  coap_address_t addr;
  int64_t now = now_ms(u);
  s->resend_at = -1;
  s->pending = LMMI_PEND_NONE;
  if (!lmmi_unicast_parse_uri(m->uri, &t, s->errtext, sizeof s->errtext)) {
    fail_now(u, s, LMM_ERR_ARG);
    return;
  }
  lmm_err rc = lmmi_unicast_resolve(s->b, &t, &addr, s->errtext, sizeof s->errtext);
  if (rc != LMM_OK) {
    fail_now(u, s, rc);
    return;
  }
  lmmi_uslot *obs = NULL;
  if (s->op.kind == LMM_OPK_CANCEL_OBSERVE) obs = find_observation(u, m, &s->op.path);
  if (obs) {
    /* Take the observation's session over: the deregistration goes out on it with the
     * observation's token, and its answer is this member's outcome. */
    s->session = obs->session;
    obs->session = NULL;
    obs_unlink(u, obs);
    coap_session_set_app_data(s->session, s);
    coap_binary_t tok = {obs->token_len, obs->token};
    memcpy(s->token, obs->token, obs->token_len);
    s->token_len = obs->token_len;
    if (!coap_cancel_observe(s->session, &tok, COAP_MESSAGE_CON)) {
      set_text(s, "cannot send the observe cancellation");
      fail_now(u, s, LMM_ERR_NET);
      return;
    }
  } else {
    s->session = open_session(u, s, m, &addr);
    if (!s->session) {
      set_text(s, "cannot open a %s session to %.60s", s->dtls ? "CoAPS" : "CoAP", t.host);
      fail_now(u, s, errno == EMFILE || errno == ENFILE ? LMM_ERR_IO : LMM_ERR_NET);
      return;
    }
    coap_pdu_t *pdu = lmmi_unicast_build_pdu(s->session, &s->op, u->cfg.block_size, s->token,
                                             &s->token_len, s->errtext, sizeof s->errtext);
    if (!pdu) {
      fail_now(u, s, LMM_ERR_ARG);
      return;
    }
    if (coap_send(s->session, pdu) == COAP_INVALID_MID) { /* coap_send() freed the PDU */
      set_text(s, "cannot send to %.60s", t.host);
      mark_fail(u, s, LMM_ERR_NET, true, u->cfg.ack_timeout_ms);
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
  if (s->pending == LMMI_PEND_NONE) heap_push(u, s);
}

static const char *path_text(const lmm_path *p, char *buf, size_t cap) {
  const unsigned v[4] = {p->oid, p->iid, p->rid, p->riid};
  size_t o = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < p->depth && i < 4 && o < cap; i++) {
    int k = snprintf(buf + o, cap - o, "/%u", v[i]);
    if (k < 0) break;
    o += (size_t)k;
  }
  return buf;
}

static bool path_allowed(const lmm_batch *b, const lmm_member *m, const lmm_path *p) {
  /* lmm_member_allows() semantics, plus the batch's exemption (the Group Mgmt object). */
  if (p->depth < 1 || p->depth > 4) return false;
  return p->oid == m->oid || p->oid == b->exempt_oid;
}

static void batch_destroy(lmm_batch *b);

/* Starts member `i` of `b`. Returns false when the batch was freed by prepare(). */
static bool start_member(lmm_unicast *u, lmm_batch *b, size_t i) {
  lmmi_uslot *s = &b->slots[i];
  const lmm_member *m = &b->members[i];
  b->next_queued++;
  u->n_queued--;
  s->state = LMMI_SLOT_ACTIVE;
  u->in_flight++, b->in_flight++;
  s->op = b->op;
  s->deadline = now_ms(u) + u->cfg.member_deadline_ms;
  if (heap_reserve(u, u->in_flight) != LMM_OK) {
    set_text(s, "out of memory");
    fail_now(u, s, LMM_ERR_NOMEM);
    return true;
  }
  if (b->h->prepare) {
    b->busy++;
    b->h->prepare(b->user, i, m, &s->op);
    b->busy--;
    if (b->freed) {
      if (!b->busy) batch_destroy(b);
      return false;
    }
  }
  s->accept_alt = lmmi_unicast_choose_accept(&s->op, m, b->exempt_oid);
  if (!path_allowed(b, m, &s->op.path)) {
    const lmm_path *p = &s->op.path;
    char pb[32];
    if (p->depth < 1 || p->depth > 4)
      set_text(s, "malformed path (depth %u)", (unsigned)p->depth);
    else
      set_text(s, "path %s is outside the member's Object ID %u", path_text(p, pb, sizeof pb),
               (unsigned)m->oid);
    fail_now(u, s, LMM_ERR_ARG);
    return true;
  }
  lmmi_target t;
  if (!lmmi_unicast_parse_uri(m->uri, &t, s->errtext, sizeof s->errtext)) {
    fail_now(u, s, LMM_ERR_ARG);
    return true;
  }
  s->dtls = t.secure;
  if (s->dtls && (!m->psk_identity || !m->psk_key || !m->psk_key_len)) {
    set_text(s, "coaps:// member without a PSK identity and key");
    fail_now(u, s, LMM_ERR_ARG);
    return true;
  }
  send_attempt(u, s);
  return true;
}

/* Starts queued members, one per batch in turn, while the window has room. */
static void fill(lmm_unicast *u) {
  while (u->n_queued > 0 && u->in_flight < u->cfg.max_in_flight) {
    bool progress = false;
    unsigned gen = u->gen;
    for (lmm_batch *b = u->batches; b && u->in_flight < u->cfg.max_in_flight; b = b->next) {
      if (b->next_queued >= b->n) continue;
      progress = true;
      if (!start_member(u, b, b->next_queued) || gen != u->gen) break; /* the list changed */
    }
    if (!progress) break;
  }
}

/* ---------------------------------------------------------------- outcomes */

static void destroy_if_released(lmm_batch *b) {
  if (b->freed && b->busy == 0) batch_destroy(b);
}

static void report_done(lmm_batch *b) {
  if (b->done_reported || b->done < b->n) return;
  b->done_reported = true;
  if (b->h->on_done) {
    b->busy++;
    b->h->on_done(b->user, b);
    b->busy--;
  }
}

/* The member's outcome is final: free its place in the window and tell the application. */
static void finish(lmm_unicast *u, lmmi_uslot *s) {
  lmm_batch *b = s->b;
  int64_t now = now_ms(u);
  heap_remove(u, s);
  s->state = LMMI_SLOT_DONE;
  s->pending = LMMI_PEND_NONE;
  s->resend_at = s->hs_due = -1;
  u->in_flight--, b->in_flight--;
  b->done++;
  bool ok = s->err == LMM_OK && s->code >> 5 == 2;
  if (ok)
    b->succeeded++;
  else
    b->failed++;
  if (s->err == LMM_OK && !ok) lmmi_unicast_code_text(s->code, s->errtext, sizeof s->errtext);
  lmm_member_result r;
  r.index = s->index;
  r.member = &b->members[s->index];
  r.err = s->err;
  r.coap_code = s->err == LMM_OK ? s->code : 0;
  r.payload = s->payload;
  r.payload_len = s->payload_len;
  r.content_format = s->err == LMM_OK ? s->cf : -1;
  r.attempts = s->attempts;
  r.latency_ms = s->t_first >= 0 ? now - s->t_first : 0;
  r.error = ok ? NULL : (s->errtext[0] ? s->errtext : lmm_strerror(s->err));
  if (!ok)
    lmmi_log(u->ctx, LMM_LOG_DEBUG, "unicast: member %zu (%s): %s", s->index,
             r.member->ep ? r.member->ep : "?", r.error);
  b->busy++;
  if (b->h->on_member) b->h->on_member(b->user, &r);
  free(s->payload);
  s->payload = NULL, s->payload_len = 0;
  if (!b->freed) report_done(b);
  b->busy--;
  destroy_if_released(b);
}

static void drain_attn(lmm_unicast *u) {
  lmmi_uslot *s;
  while ((s = attn_pop(u))) {
    uint8_t pending = s->pending;
    int64_t now = now_ms(u);
    if (pending == LMMI_PEND_OBS_END) {
      coap_session_t *cs = s->session;
      s->session = NULL;
      s->pending = LMMI_PEND_NONE;
      obs_unlink(u, s);
      session_drop(u, cs, false);
      continue;
    }
    if (s->state != LMMI_SLOT_ACTIVE) continue;
    if (pending == LMMI_PEND_RESP && s->keep_session && s->session) {
      /* An accepted observation: the session stays for the notifications. */
      obs_link(u, s);
    } else {
      session_drop(u, s->session, false);
      s->session = NULL;
    }
    s->hs_due = -1;
    if (pending == LMMI_PEND_RESP && s->accept_alt != LMM_ACCEPT_NONE &&
        (s->code == COAP_RESPONSE_CODE(406) || s->code == COAP_RESPONSE_CODE(500)) &&
        now + attempt_span_ms(u, s->dtls) <= s->deadline) {
      /* The device cannot (4.06) or will not (5.00, as small clients answer a format they
       * lack) serve the first choice: once more in the other format, on a new session. */
      char code[32];
      lmmi_unicast_code_text(s->code, code, sizeof code);
      lmmi_log(u->ctx, LMM_LOG_DEBUG, "unicast: member %zu: %s to Accept %u; asking for %u",
               s->index, code, (unsigned)s->op.accept, (unsigned)s->accept_alt);
      s->op.accept = s->accept_alt;
      s->accept_alt = LMM_ACCEPT_NONE;
      free(s->payload);
      s->payload = NULL, s->payload_len = 0;
      s->pending = LMMI_PEND_NONE;
      s->resend_at = now;
      heap_push(u, s);
      continue;
    }
    if (pending == LMMI_PEND_FAIL && s->retryable &&
        now + s->pause_ms + attempt_span_ms(u, s->dtls) <= s->deadline) {
      lmmi_log(u->ctx, LMM_LOG_DEBUG, "unicast: member %zu: %s; re-sending in %lld ms", s->index,
               s->errtext, (long long)s->pause_ms);
      s->pending = LMMI_PEND_NONE;
      s->resend_at = now + s->pause_ms;
      heap_push(u, s);
      continue;
    }
    finish(u, s);
  }
}

static void drain_notify(lmm_unicast *u) {
  lmmi_notify *nt;
  while ((nt = u->notify_head)) {
    u->notify_head = nt->next;
    if (!u->notify_head) u->notify_tail = NULL;
    lmm_batch *b = nt->b;
    if (b->h->on_notify) {
      b->busy++;
      b->h->on_notify(b->user, nt->index, nt->len ? nt->data : NULL, nt->len, nt->cf);
      b->busy--;
    }
    free(nt);
    destroy_if_released(b);
  }
}

/* Members whose time came: re-sends, handshake limits and deadlines. */
static void fire_due(lmm_unicast *u) {
  int64_t now = now_ms(u);
  while (u->heap_n > 0 && slot_due(u->heap[0]) <= now) {
    lmmi_uslot *s = u->heap[0];
    if (s->deadline <= now) {
      char last[LMMI_ERRTEXT];
      memcpy(last, s->errtext, sizeof last);
      if (last[0])
        set_text(s, "no answer within %ld ms (last attempt: %.60s)", u->cfg.member_deadline_ms,
                 last);
      else
        set_text(s, "no answer within %ld ms", u->cfg.member_deadline_ms);
      fail_now(u, s, LMM_ERR_TIMEOUT);
    } else if (s->resend_at >= 0 && s->resend_at <= now) {
      heap_remove(u, s);
      send_attempt(u, s);
    } else if (s->hs_due >= 0 && s->hs_due <= now) {
      set_text(s, "DTLS handshake failed: not completed within %ld ms", u->cfg.dtls_timeout_ms);
      mark_fail(u, s, LMM_ERR_NET, true, 0);
    } else {
      heap_remove(u, s); /* cannot happen: due <= now names one of the above */
    }
  }
}

static void report_empty_batches(lmm_unicast *u) {
  if (!u->zero_pending) return;
  unsigned gen = u->gen;
  for (lmm_batch *b = u->batches; b; b = b->next)
    if (b->n == 0 && !b->done_reported) {
      u->zero_pending--;
      report_done(b);
      if (b->freed) {
        destroy_if_released(b);
        break;
      }
      if (gen != u->gen) break;
    }
}

/* ---------------------------------------------------------- the event source */

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  lmm_unicast *u = self;
  if (cap >= 1) pfd[0] = (struct pollfd){.fd = u->epfd, .events = POLLIN};
  return 1;
}

static bool work_ready(const lmm_unicast *u) {
  return u->attn_head || u->notify_head || u->zero_pending ||
         (u->n_queued > 0 && u->in_flight < u->cfg.max_in_flight);
}

static int64_t src_deadline(void *self) {
  lmm_unicast *u = self;
  if (work_ready(u)) return 0;
  int64_t d = u->heap_n ? slot_due(u->heap[0]) : -1;
  if (u->coap_due >= 0 && (d < 0 || u->coap_due < d)) d = u->coap_due;
  return d;
}

static bool epfd_readable(const lmm_unicast *u) {
  struct pollfd p = {.fd = u->epfd, .events = POLLIN};
  return poll(&p, 1, 0) > 0;
}

static void update_coap_due(lmm_unicast *u) {
  coap_tick_t now;
  coap_ticks(&now);
  /* Also sends retransmissions that are due (their give-ups land in the attention queue). */
  unsigned t = coap_io_prepare_epoll(u->coap, now);
  u->coap_due = t ? now_ms(u) + t : -1;
}

/* Everything that happens outside libcoap: outcomes, notifications, deadlines, new members.
 * Each turn may make more work (a callback starts a batch, a start fails at once); the number
 * of turns per call is bounded so the host's loop keeps its say. */
static void service(lmm_unicast *u) {
  for (int turn = 0; turn < 8; turn++) {
    drain_attn(u);
    drain_notify(u);
    report_empty_batches(u);
    fire_due(u);
    fill(u);
    update_coap_due(u);
    if (!u->attn_head && !u->notify_head && !u->zero_pending) break;
  }
}

static bool fd_ready(const lmm_unicast *u, const struct pollfd *pfd, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (pfd[i].fd == u->epfd && pfd[i].revents) return true;
  return false;
}

static void src_process(void *self, const struct pollfd *pfd, size_t n) {
  lmm_unicast *u = self;
  /* An idle engine (no session, nothing due) has nothing for libcoap to do. */
  if (u->in_flight == 0 && !u->observations && u->coap_due < 0 && !work_ready(u) &&
      !fd_ready(u, pfd, n))
    return;
  /* coap_io_process() serves at most a handful of epoll events per call: go on while the epoll
   * fd still reports more (bounded). It is cheap when nothing is ready, and calling it on every
   * turn also covers hosts that do not hand our pollfd back. */
  for (int i = 0; i < 32; i++) {
    coap_io_process(u->coap, COAP_IO_NO_WAIT);
    if (!epfd_readable(u)) break;
  }
  service(u);
}

/* ------------------------------------------------------------------- engine */

static lmm_err check_config(const lmm_unicast_config *c) {
  if (c->max_in_flight < 1 || c->max_in_flight > (1u << 20)) return LMM_ERR_ARG;
  if (c->member_deadline_ms <= 0 || c->ack_timeout_ms <= 0 || c->dtls_timeout_ms <= 0)
    return LMM_ERR_ARG;
  if (c->ack_timeout_ms > 60000L * 60 || c->member_deadline_ms > 86400000L * 7) return LMM_ERR_ARG;
  if (c->max_retransmit < 0 || c->max_retransmit > 20) return LMM_ERR_ARG;
  if (c->block_size < 16 || c->block_size > 1024 || (c->block_size & (c->block_size - 1)))
    return LMM_ERR_ARG;
  return LMM_OK;
}

LMM_API lmm_err lmm_unicast_new(lmm_ctx *ctx, const lmm_unicast_config *cfg, lmm_unicast **out) {
  static const lmm_unicast_config defaults = LMM_UNICAST_CONFIG_DEFAULT;
  if (!ctx || !out) return LMM_ERR_ARG;
  lmm_unicast_config c = cfg ? *cfg : defaults;
  lmm_err rc = check_config(&c);
  if (rc != LMM_OK) return rc;
  if (c.ack_timeout_ms < 1000) {
    /* libcoap 4.3.1 refuses an ACK_TIMEOUT below one second (it keeps its 2 s default). */
    lmmi_log(ctx, LMM_LOG_WARN, "unicast: ack_timeout_ms %ld raised to 1000 (libcoap's minimum)",
             c.ack_timeout_ms);
    c.ack_timeout_ms = 1000;
  }
  if (c.max_retransmit < 1) {
    /* Likewise MAX_RETRANSMIT 0 (it keeps 4): one retransmission is the least there is. */
    lmmi_log(ctx, LMM_LOG_WARN, "unicast: max_retransmit 0 raised to 1 (libcoap's minimum)");
    c.max_retransmit = 1;
  }
  /* Process-wide and idempotent in libcoap 4.3.1 (a flag guards it; not thread-safe: make the
   * first call before threads start, e.g. right after lmm_global_init()). libcoap's own logging
   * is process-wide too and would print to stderr: it is turned down to emergencies only.
   * coap_cleanup() is never called: other users of libcoap in the process may still need it. */
  coap_startup();
  coap_set_log_level(LOG_EMERG);
  coap_dtls_set_log_level(LOG_EMERG);
  lmm_unicast *u = calloc(1, sizeof *u);
  if (!u) return LMM_ERR_NOMEM;
  u->ctx = ctx;
  u->cfg = c;
  u->coap_due = -1;
  rc = LMM_ERR_IO;
  if (!(u->coap = coap_new_context(NULL))) goto fail;
  coap_context_set_block_mode(u->coap, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(u->coap, on_response);
  coap_register_nack_handler(u->coap, on_nack);
  coap_register_event_handler(u->coap, on_event);
  coap_set_app_data(u->coap, u);
  u->epfd = coap_context_get_coap_fd(u->coap);
  if (u->epfd < 0) goto fail; /* a libcoap built without epoll: not supported */
  rc = LMM_ERR_NOMEM;
  if (heap_reserve(u, c.max_in_flight < 4096 ? c.max_in_flight : 4096) != LMM_OK) goto fail;
  u->src = (lmmi_source){src_pollfds, src_deadline, src_process, u, LMMI_ORDER_CLIENT};
  if ((rc = lmmi_ctx_add_source(ctx, &u->src)) != LMM_OK) goto fail;
  *out = u;
  return LMM_OK;
fail:
  if (u->coap) coap_free_context(u->coap);
  free(u->heap);
  free(u);
  return rc;
}

static void batch_cancel(lmm_batch *b);

LMM_API void lmm_unicast_free(lmm_unicast *u) {
  if (!u) return;
  /* Batches are cancelled and detached, not freed: their handles stay valid for
   * lmm_batch_get_stats()/lmm_batch_free(). */
  while (u->batches) {
    lmm_batch *b = u->batches;
    batch_cancel(b);
    b->u = NULL;
  }
  while (u->notify_head) { /* only of cancelled batches by now; batch_cancel took them */
    lmmi_notify *nt = u->notify_head;
    u->notify_head = nt->next;
    free(nt);
  }
  lmmi_ctx_remove_source(u->ctx, &u->src);
  coap_free_context(u->coap);
  free(u->heap);
  free(u);
}

/* ------------------------------------------------------------------- batches */

LMM_API lmm_err lmm_batch_start(lmm_unicast *u, const lmm_member *members, size_t n,
                                const lmm_op *op, uint16_t exempt_oid, const lmm_batch_handlers *h,
                                void *user, lmm_batch **out) {
  if (!u || (!members && n) || !op || !h || !out) return LMM_ERR_ARG;
  if (op->len && !op->payload) return LMM_ERR_ARG;
  if ((unsigned)op->kind > (unsigned)LMM_OPK_DISCOVER) return LMM_ERR_ARG;
  lmm_batch *b = calloc(1, sizeof *b);
  if (!b) return LMM_ERR_NOMEM;
  b->slots = n ? calloc(n, sizeof *b->slots) : NULL;
  if (n && !b->slots) goto nomem;
  b->op = *op;
  if (op->len) {
    if (!(b->payload_copy = malloc(op->len))) goto nomem;
    memcpy(b->payload_copy, op->payload, op->len);
    b->op.payload = b->payload_copy;
  } else {
    b->op.payload = NULL;
  }
  if (op->query) {
    if (!(b->query_copy = strdup(op->query))) goto nomem;
    b->op.query = b->query_copy;
  }
  b->u = u;
  b->members = members, b->n = n;
  b->exempt_oid = exempt_oid;
  b->h = h, b->user = user;
  for (size_t i = 0; i < n; i++) {
    lmmi_uslot *s = &b->slots[i];
    s->b = b, s->index = i;
    s->t_first = s->resend_at = s->hs_due = -1;
    s->heap_idx = SIZE_MAX;
    s->cf = -1;
    s->accept_alt = LMM_ACCEPT_NONE;
  }
  b->prev = u->batches_tail;
  if (u->batches_tail)
    u->batches_tail->next = b;
  else
    u->batches = b;
  u->batches_tail = b;
  u->n_queued += n;
  if (n == 0) u->zero_pending++;
  *out = b;
  return LMM_OK;
nomem:
  free(b->slots), free(b->payload_copy), free(b->query_copy), free(b);
  return LMM_ERR_NOMEM;
}

LMM_API void lmm_batch_get_stats(const lmm_batch *b, lmm_batch_stats *out) {
  if (!out) return;
  if (!b) {
    memset(out, 0, sizeof *out);
    return;
  }
  out->members = b->n;
  out->done = b->done;
  out->succeeded = b->succeeded;
  out->failed = b->failed;
  out->in_flight = b->in_flight;
}

LMM_API bool lmm_batch_done(const lmm_batch *b) {
  return b && b->done == b->n;
}

/* Takes the batch out of the engine: sessions released, no more callbacks. */
static void batch_cancel(lmm_batch *b) {
  lmm_unicast *u = b->u;
  if (!u || b->cancelled) return;
  b->cancelled = true;
  for (size_t i = 0; i < b->next_queued; i++) {
    lmmi_uslot *s = &b->slots[i];
    heap_remove(u, s);
    bool observing = s->observing;
    obs_unlink(u, s);
    session_drop(u, s->session, observing);
    s->session = NULL;
    free(s->payload);
    s->payload = NULL;
  }
  /* Out of the queues (one pass each, whatever their length). */
  lmmi_uslot **pp = &u->attn_head;
  u->attn_tail = NULL;
  while (*pp) {
    if ((*pp)->b == b) {
      (*pp)->in_attn = false;
      *pp = (*pp)->attn_next;
    } else {
      u->attn_tail = *pp;
      pp = &(*pp)->attn_next;
    }
  }
  lmmi_notify **np = &u->notify_head;
  u->notify_tail = NULL;
  while (*np) {
    if ((*np)->b == b) {
      lmmi_notify *dead = *np;
      *np = dead->next;
      free(dead);
    } else {
      u->notify_tail = *np;
      np = &(*np)->next;
    }
  }
  u->in_flight -= b->in_flight;
  u->n_queued -= b->n - b->next_queued;
  if (b->n == 0 && !b->done_reported && u->zero_pending) u->zero_pending--;
  if (b->prev)
    b->prev->next = b->next;
  else
    u->batches = b->next;
  if (b->next)
    b->next->prev = b->prev;
  else
    u->batches_tail = b->prev;
  b->prev = b->next = NULL;
  u->gen++;
}

static void batch_destroy(lmm_batch *b) {
  free(b->slots);
  free(b->payload_copy);
  free(b->query_copy);
  free(b->cache_host);
  free(b);
}

LMM_API void lmm_batch_free(lmm_batch *b) {
  if (!b || b->freed) return;
  batch_cancel(b);
  b->freed = true;
  if (b->busy == 0) batch_destroy(b);
  /* else: a callback of this batch or lmm_batch_wait() is running; freed when it returns */
}

LMM_API lmm_err lmm_batch_wait(lmm_batch *b, long timeout_ms) {
  if (!b || b->freed) return LMM_ERR_ARG;
  if (lmm_batch_done(b)) return LMM_OK;
  if (!b->u || b->cancelled) return LMM_ERR_STATE;
  lmm_ctx *ctx = b->u->ctx;
  int64_t start = lmm_ctx_now_ms(ctx);
  lmm_err rc = LMM_OK;
  b->busy++;
  while (!lmm_batch_done(b) && !b->freed && !b->cancelled) {
    int wait = 1000;
    if (timeout_ms >= 0) {
      int64_t left = start + timeout_ms - lmm_ctx_now_ms(ctx);
      if (left <= 0) {
        rc = LMM_ERR_TIMEOUT;
        break;
      }
      if (left < wait) wait = (int)left;
    }
    lmm_err e = lmm_ctx_run_once(ctx, wait);
    if (e != LMM_OK && e != LMM_ERR_IO) {
      rc = e;
      break;
    }
  }
  if (rc == LMM_OK && !lmm_batch_done(b)) rc = b->freed ? LMM_OK : LMM_ERR_STATE;
  b->busy--;
  destroy_if_released(b);
  return rc;
}
