/* unicast.c - the unicast engine: one LwM2M operation to many members over CoAP/CoAPS as one
 * asynchronous batch, on a libcoap client context driven by the lmm_ctx event loop.
 *
 * How it runs:
 * - One libcoap context per engine; its single epoll fd is the engine's only pollfd, and its
 *   next retransmission (coap_io_prepare_epoll) joins the members' own deadlines.
 * - At most cfg.max_in_flight members are ACTIVE at once, across all batches of the engine. A
 *   member talks through a peer (unicast_peer.c): one libcoap session to one device address,
 *   with one exchange on the wire at a time (NSTART = 1). Unbound (the default), every attempt
 *   has a peer and a socket of its own, released as soon as the outcome is known, so sockets
 *   stay bounded by the window (plus the Observe members that keep theirs).
 * - libcoap's handlers never call the application: they record what happened in the member's
 *   slot and queue it. The engine acts on the queue after coap_io_process() returns: it releases
 *   sessions, decides re-sends and calls on_member / on_notify / on_done. So a callback may start
 *   or free batches without pulling a session from under libcoap.
 * - Members not started are a cursor per batch; a response finds its peer through the session's
 *   app data and its member by token; deadlines are a binary heap of the ACTIVE members: no O(N)
 *   work per event.
 * - A lost exchange (retransmissions exhausted, ICMP, DTLS failure) is re-sent only while the
 *   member's deadline still allows one whole attempt (MAX_TRANSMIT_WAIT, plus the handshake
 *   limit for CoAPS), with a new token; an RST is final. Unbound, on a new session (new socket).
 *
 * Bound (cfg.bind): every session's socket is bound to the one local address and port (libcoap
 * sets SO_REUSEADDR and connects it; the kernel hands a datagram to the connected socket whose
 * address pair matches). libcoap refuses a second session with the same address pair, so there
 * is one session per device, shared: the members that talk to a device (two members at one URI,
 * two batches at once, an observation kept open and a read, a re-send) take turns on its
 * session, each exchange with a token of its own. Serialising members on a session each was the
 * other way; it fails on Observe (the observation's session never frees the device) and pays a
 * DTLS handshake per request. Sharing also keeps RFC 7252's NSTART = 1 per device. The cost:
 * a member whose deadline passes (or whose batch is freed) mid-exchange cannot take its request
 * back out of libcoap; the session is then dropped and the next member goes on a new one, or,
 * when an observation lives on it, the next member waits until libcoap is done with the
 * exchange (its answer or its give-up). Tokens of a new session start from a random value, so a
 * late answer to a dropped one never matches. Request bodies are reference-counted, since such an
 * exchange may outlive its member and its batch. docs/architecture.md tells how a bound engine
 * shares the port with the host's own CoAP socket.
 *
 * Limits (libcoap 4.3.1 and this design):
 * - ACK_TIMEOUT below 1 s and MAX_RETRANSMIT 0 are raised to 1 s and 1 (libcoap ignores them).
 * - Host names are resolved with getaddrinfo(), which blocks; once per batch per name.
 * - libcoap's start-up and log level are process-wide: lmm_global_init() sets them.
 * - Observe: the first answer is the member's outcome; the session is kept for notifications
 *   until the batch is freed (libcoap then sends a deregistration) or a Cancel Observe batch on
 *   the same member (same ep and URI) and path takes it over. A cancel with no known
 *   observation is sent as a plain GET with Observe 1.
 * - Bound: members of the other address family than cfg.bind are refused; a CoAPS member whose
 *   PSK identity differs from that of the device's open session waits (retrying every
 *   ACK_TIMEOUT) until that session is gone.
 * - lmm_unicast_free() cancels and detaches running batches; they must still be freed.
 *   Callbacks must not free the engine.
 *
 * The engine's files: this one starts members, acts on outcomes and runs the event source;
 * unicast_queue.c keeps the deadline heap and the attention queue, unicast_peer.c the peers and
 * the bound address, unicast_session.c the sessions, sends and observations, unicast_coap.c the
 * libcoap handlers, unicast_batch.c the batches, unicast_req.c the URIs and PDUs.
 * unicast_internal.h is what they share.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwm2m/unicast_internal.h"

/* --------------------------------------------------------------- starting */

/* Time one whole attempt may take before libcoap gives up: the RFC 7252 MAX_TRANSMIT_WAIT,
 * ACK_TIMEOUT * (2^(MAX_RETRANSMIT+1) - 1) * ACK_RANDOM_FACTOR (1.5), plus the handshake limit
 * for CoAPS. A re-send happens only when this still fits before the member's deadline. */
static int64_t attempt_span_ms(const lmm_unicast *u, bool dtls) {
  int64_t w = (int64_t)u->cfg.ack_timeout_ms * (((int64_t)1 << (u->cfg.max_retransmit + 1)) - 1);
  w = w * 3 / 2;
  return dtls ? w + u->cfg.dtls_timeout_ms : w;
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

/* Starts member `i` of `b`. Returns false when the batch was freed by prepare(). */
static bool start_member(lmm_unicast *u, lmm_batch *b, size_t i) {
  lmmi_uslot *s = &b->slots[i];
  const lmm_member *m = &b->members[i];
  b->next_queued++;
  u->n_queued--;
  s->state = LMMI_SLOT_ACTIVE;
  u->in_flight++, b->in_flight++;
  s->op = b->op;
  s->deadline = lmmi_uc_now_ms(u) + u->cfg.member_deadline_ms;
  if (lmmi_uc_heap_reserve(u, u->in_flight) != LMM_OK) {
    lmmi_uc_set_text(s, "out of memory");
    lmmi_uc_fail_now(u, s, LMM_ERR_NOMEM);
    return true;
  }
  if (b->h->prepare) {
    b->busy++;
    b->h->prepare(b->user, i, m, &s->op);
    b->busy--;
    if (b->freed) {
      if (!b->busy) lmmi_uc_batch_destroy(b);
      return false;
    }
  }
  s->accept_alt = lmmi_unicast_choose_accept(&s->op, m, b->exempt_oid);
  if (!path_allowed(b, m, &s->op.path)) {
    const lmm_path *p = &s->op.path;
    char pb[32];
    if (p->depth < 1 || p->depth > 4)
      lmmi_uc_set_text(s, "malformed path (depth %u)", (unsigned)p->depth);
    else
      lmmi_uc_set_text(s, "path %s is outside the member's Object ID %u",
                       path_text(p, pb, sizeof pb), (unsigned)m->oid);
    lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
    return true;
  }
  lmmi_target t;
  if (!lmmi_unicast_parse_uri(m->uri, &t, s->errtext, sizeof s->errtext)) {
    lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
    return true;
  }
  s->dtls = t.secure;
  if (s->dtls && (!m->psk_identity || !m->psk_key || !m->psk_key_len)) {
    lmmi_uc_set_text(s, "coaps:// member without a PSK identity and key");
    lmmi_uc_fail_now(u, s, LMM_ERR_ARG);
    return true;
  }
  lmmi_uc_send_attempt(u, s);
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

static void report_done(lmm_batch *b) {
  if (b->done_reported || b->done < b->n) return;
  b->done_reported = true;
  if (b->h->on_done) {
    b->busy++;
    b->h->on_done(b->user, b);
    b->busy--;
  }
}

/* A Discover is asked with Accept: application/link-format, and a peer that cannot answer in
 * it must say 4.06 (RFC 7252 5.10.4). A plain CoAP server may ignore the Accept and send the
 * resource itself: that 2.05 is no Discover answer, and reporting it as the device's links
 * would be wrong. Without a Content-Format (RFC 7252 5.5.1 leaves the format to be inferred)
 * the body must at least start as RFC 6690's link-value does. */
static void check_discover_answer(lmmi_uslot *s) {
  if (s->err != LMM_OK || s->op.kind != LMM_OPK_DISCOVER || s->code >> 5 != 2) return;
  if (s->cf == LMM_FMT_LINK) return;
  if (s->cf < 0 && s->payload_len && s->payload[0] == '<') return;
  s->err = LMM_ERR_PROTO;
  if (s->cf < 0)
    lmmi_uc_set_text(s, "Discover answered %u.%02u without a Content-Format and not as a link list",
                     s->code >> 5, s->code & 31);
  else
    lmmi_uc_set_text(s, "Discover answered %u.%02u in Content-Format %d, not link-format (40)",
                     s->code >> 5, s->code & 31, s->cf);
}

/* The member's outcome is final: free its place in the window and tell the application. */
static void finish(lmm_unicast *u, lmmi_uslot *s) {
  lmm_batch *b = s->b;
  int64_t now = lmmi_uc_now_ms(u);
  lmmi_uc_heap_remove(u, s);
  s->state = LMMI_SLOT_DONE;
  s->pending = LMMI_PEND_NONE;
  s->resend_at = s->hs_due = -1;
  u->in_flight--, b->in_flight--;
  b->done++;
  check_discover_answer(s);
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
  lmmi_uc_destroy_if_released(b);
}

static void drain_attn(lmm_unicast *u) {
  lmmi_uslot *s;
  while ((s = lmmi_uc_attn_pop(u))) {
    uint8_t pending = s->pending;
    int64_t now = lmmi_uc_now_ms(u);
    if (pending == LMMI_PEND_OBS_END) {
      s->pending = LMMI_PEND_NONE;
      lmmi_uc_obs_unlink(u, s);
      lmmi_uc_peer_detach(u, s, false);
      continue;
    }
    if (s->state != LMMI_SLOT_ACTIVE) continue;
    s->hs_due = -1;
    if (pending == LMMI_PEND_RESP && s->accept_alt != LMM_ACCEPT_NONE &&
        (s->code == COAP_RESPONSE_CODE(406) || s->code == COAP_RESPONSE_CODE(500)) &&
        now + 2 * u->cfg.ack_timeout_ms <= s->deadline) {
      /* The device cannot (4.06) or will not (5.00, as small clients answer a format they
       * lack) serve the first choice: once more in the other format, as a re-send is sent.
       * It has just answered, so room for a prompt answer is enough (a whole attempt with all
       * its retransmissions, as a lost exchange's re-send needs, outlasts the default
       * deadline); should it not come, the deadline still ends the member. */
      char code[32];
      lmmi_unicast_code_text(s->code, code, sizeof code);
      lmmi_log(u->ctx, LMM_LOG_DEBUG, "unicast: member %zu: %s to Accept %u; asking for %u",
               s->index, code, (unsigned)s->op.accept, (unsigned)s->accept_alt);
      s->op.accept = s->accept_alt;
      s->accept_alt = LMM_ACCEPT_NONE;
      free(s->payload);
      s->payload = NULL, s->payload_len = 0;
      if (u->bound)
        lmmi_uc_peer_pause(u, s);
      else
        lmmi_uc_peer_detach(u, s, false);
      s->pending = LMMI_PEND_NONE;
      s->resend_at = now;
      lmmi_uc_heap_push(u, s);
      continue;
    }
    bool resend = pending == LMMI_PEND_FAIL && s->retryable &&
                  now + s->pause_ms + attempt_span_ms(u, s->dtls) <= s->deadline;
    lmmi_peer *p = s->peer;
    if (pending == LMMI_PEND_RESP && s->keep_session && p && p->session && !p->dead)
      lmmi_uc_obs_link(u, s); /* an accepted observation: it stays for the notifications */
    else if (resend && u->bound)
      lmmi_uc_peer_pause(u, s); /* the re-send takes its turn on the same session */
    else
      lmmi_uc_peer_detach(u, s, false); /* unbound: the session goes before on_member */
    if (resend) {
      lmmi_log(u->ctx, LMM_LOG_DEBUG, "unicast: member %zu: %s; re-sending in %lld ms", s->index,
               s->errtext, (long long)s->pause_ms);
      s->pending = LMMI_PEND_NONE;
      s->resend_at = now + s->pause_ms;
      lmmi_uc_heap_push(u, s);
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
    lmmi_uc_destroy_if_released(b);
  }
}

/* Members whose time came: re-sends, handshake limits and deadlines. */
static void fire_due(lmm_unicast *u) {
  int64_t now = lmmi_uc_now_ms(u);
  while (u->heap_n > 0 && lmmi_uc_slot_due(u->heap[0]) <= now) {
    lmmi_uslot *s = u->heap[0];
    if (s->deadline <= now) {
      char last[LMMI_ERRTEXT];
      memcpy(last, s->errtext, sizeof last);
      if (last[0])
        lmmi_uc_set_text(s, "no answer within %ld ms (last attempt: %.60s)",
                         u->cfg.member_deadline_ms, last);
      else
        lmmi_uc_set_text(s, "no answer within %ld ms", u->cfg.member_deadline_ms);
      lmmi_uc_fail_now(u, s, LMM_ERR_TIMEOUT);
    } else if (s->resend_at >= 0 && s->resend_at <= now) {
      lmmi_uc_heap_remove(u, s);
      lmmi_uc_send_attempt(u, s);
    } else if (s->hs_due >= 0 && s->hs_due <= now) {
      lmmi_uc_set_text(s, "DTLS handshake failed: not completed within %ld ms",
                       u->cfg.dtls_timeout_ms);
      lmmi_uc_mark_fail(u, s, LMM_ERR_NET, true, 0);
      if (s->peer) lmmi_uc_peer_fail(s->peer); /* the half-open session is no use to anyone */
    } else {
      lmmi_uc_heap_remove(u, s); /* cannot happen: due <= now names one of the above */
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
        lmmi_uc_destroy_if_released(b);
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
  return u->attn_head || u->notify_head || u->zero_pending || u->kick_head ||
         (u->n_queued > 0 && u->in_flight < u->cfg.max_in_flight);
}

static int64_t src_deadline(void *self) {
  lmm_unicast *u = self;
  if (work_ready(u)) return 0;
  int64_t d = u->heap_n ? lmmi_uc_slot_due(u->heap[0]) : -1;
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
  u->coap_due = t ? lmmi_uc_now_ms(u) + t : -1;
}

/* Everything that happens outside libcoap: outcomes, notifications, deadlines, new members.
 * Each turn may make more work (a callback starts a batch, a start fails at once); the number
 * of turns per call is bounded so the host's loop keeps its say. */
static void service(lmm_unicast *u) {
  for (int turn = 0; turn < 8; turn++) {
    drain_attn(u);
    lmmi_uc_peers_service(u); /* the members that waited for a wire freed above */
    drain_notify(u);
    report_empty_batches(u);
    fire_due(u);
    fill(u);
    update_coap_due(u);
    if (!u->attn_head && !u->notify_head && !u->zero_pending && !u->kick_head) break;
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
  coap_address_t local;
  char why[128];
  if (c.bind && !lmmi_unicast_parse_bind(c.bind, &local, why, sizeof why)) {
    lmmi_log(ctx, LMM_LOG_ERROR, "unicast: bind: %s", why);
    return LMM_ERR_ARG;
  }
  lmm_unicast *u = calloc(1, sizeof *u);
  if (!u) return LMM_ERR_NOMEM;
  u->ctx = ctx;
  u->cfg = c;
  u->coap_due = -1;
  u->port_fd = -1;
  if (c.bind) {
    u->bound = true, u->local = local;
    if (!(u->bind_text = strdup(c.bind))) goto fail;
    u->cfg.bind = u->bind_text;
    if ((rc = lmmi_uc_bind_open(u)) != LMM_OK) goto fail;
  }
  rc = LMM_ERR_IO;
  if (!(u->coap = coap_new_context(NULL))) goto fail;
  coap_context_set_block_mode(u->coap, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  lmmi_uc_register_handlers(u->coap);
  if (u->bound && !lmmi_uc_register_stray(u->coap)) goto fail;
  coap_set_app_data(u->coap, u);
  u->epfd = coap_context_get_coap_fd(u->coap);
  if (u->epfd < 0) goto fail; /* a libcoap built without epoll: not supported */
  rc = LMM_ERR_NOMEM;
  if (lmmi_uc_heap_reserve(u, c.max_in_flight < 4096 ? c.max_in_flight : 4096) != LMM_OK) goto fail;
  u->src = (lmmi_source){src_pollfds, src_deadline, src_process, u, LMMI_ORDER_CLIENT};
  if ((rc = lmmi_ctx_add_source(ctx, &u->src)) != LMM_OK) goto fail;
  *out = u;
  return LMM_OK;
fail:
  if (u->coap) coap_free_context(u->coap);
  if (u->port_fd >= 0) close(u->port_fd);
  free(u->bind_text);
  free(u->heap);
  free(u);
  return rc;
}

LMM_API uint16_t lmm_unicast_local_port(const lmm_unicast *u) {
  if (!u || !u->bound) return 0;
  return ntohs(u->local.addr.sa.sa_family == AF_INET ? u->local.addr.sin.sin_port
                                                     : u->local.addr.sin6.sin6_port);
}

LMM_API void lmm_unicast_free(lmm_unicast *u) {
  if (!u) return;
  /* Batches are cancelled and detached, not freed: their handles stay valid for
   * lmm_batch_get_stats()/lmm_batch_free(). */
  while (u->batches) {
    lmm_batch *b = u->batches;
    lmmi_uc_batch_cancel(b);
    b->u = NULL;
  }
  while (u->notify_head) { /* only of cancelled batches by now; lmmi_uc_batch_cancel took them */
    lmmi_notify *nt = u->notify_head;
    u->notify_head = nt->next;
    free(nt);
  }
  lmmi_uc_peers_free(u); /* none left: each went with its last member */
  lmmi_ctx_remove_source(u->ctx, &u->src);
  coap_free_context(u->coap);
  if (u->port_fd >= 0) close(u->port_fd);
  free(u->bind_text);
  free(u->heap);
  free(u);
}
