/* fw_fragments.c - a firmware campaign's configuration (the core's "configure the group": the
 * TMGI and the Group Mgmt writes), its Schedule, and the blob as fragments to the group through
 * the core's channel: one MB2-U delivery for MBMS, the multicast address otherwise, paced by a
 * token bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_internal.h"

static void send_start(lmm_fwc *c);

/* Encodes op as a group request with `token` and sends it. */
lmm_err lmmi_fwc_send_op(lmm_fwc *c, const lmm_op *op, const uint8_t token[LMMI_TOKEN_LEN]) {
  lmm_err rc = lmmi_channel_send_op(&c->ch, c->d.ctx, op, token);
  c->st.bytes_group = c->ch.bytes;
  return rc;
}
const uint8_t *lmmi_fwc_frag_data(const lmm_fwc *c, uint32_t i) {
  return i < c->k ? c->image + (size_t)i * c->desc.frag
                  : c->parity + (size_t)(i - c->k) * c->desc.frag;
}

static lmm_err send_fragment(lmm_fwc *c, uint32_t idx) {
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 0, .depth = 3};
  if (idx == UINT32_MAX) { /* the announce: the description with the digest, no payload */
    lmmw_blob_query(&c->desc, -1, true, q, sizeof q);
  } else {
    lmmw_blob_query(&c->desc, (long)idx, false, q, sizeof q);
    op.format = LMM_FMT_OPAQUE;
    op.payload = lmmi_fwc_frag_data(c, idx);
    op.len = lmmw_blob_frag_len(&c->desc, idx);
    c->st.fragments_sent++;
  }
  op.query = q;
  return lmmi_fwc_send_op(c, &op, c->frag_token);
}

/* Token bucket: the bearer's rate over the whole pass, a few datagrams of burst. */
static void pace(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  int64_t now = fw_now_ms(c);
  uint64_t allowed = c->cfg.rate_bps * (uint64_t)(now - c->pace_t0) / 1000 + 4u * c->desc.frag;
  while (c->pos < c->n_queue && c->pace_bytes < allowed) {
    uint32_t idx = c->queue[c->pos++];
    uint64_t before = c->st.bytes_group;
    lmm_err rc = send_fragment(c, idx);
    if (rc != LMM_OK)
      return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot send a fragment to the group");
    c->pace_bytes += c->st.bytes_group - before;
  }
  if (c->pos >= c->n_queue) return lmmi_fwc_queue_done(c);
  int64_t due = c->pace_t0 + (int64_t)((c->pace_bytes + c->desc.frag) * 1000 / c->cfg.rate_bps);
  lmmi_fwc_set_timer(c, due > now ? due : now + 1, pace);
}

/* Starts sending `idx` (owned) at the configured rate. */
void lmmi_fwc_pace_start(lmm_fwc *c, uint32_t *idx, size_t n) {
  free(c->queue);
  c->queue = idx, c->n_queue = n, c->pos = 0;
  c->pace_t0 = fw_now_ms(c), c->pace_bytes = 0;
  lmmi_fwc_set_timer(c, fw_now_ms(c), pace);
}

/* The first pass: the announce, then the data fragments and the first parity in order. */
static void first_pass(lmm_fwc *c) {
  /* Reed-Solomon: the first rows of every block (indices K..K+r*B-1); the rest for repair. */
  uint32_t n = c->k + (c->nb ? c->next_row * c->nb : c->q);
  uint32_t *q = malloc(((size_t)n + 1) * sizeof *q);
  if (!q) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  q[0] = UINT32_MAX;
  for (uint32_t i = 0; i < n; i++)
    q[i + 1] = i;
  lmmi_fwc_pace_start(c, q, (size_t)n + 1);
}

static void channel_open(void *owner, lmm_err rc, const char *why) {
  lmm_fwc *c = owner;
  if (rc != LMM_OK) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, why);
  lmmi_fwc_store_save(c); /* the delivery's link, for the notification that may follow */
  /* Resumed: the members say what they hold, and only what they miss is sent again. */
  if (c->resumed) return lmmi_fwc_status_round(c);
  first_pass(c);
}

static void schedule_due(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (!c->cancel_req) send_start(c);
}

static void send_start(lmm_fwc *c) {
  int64_t at =
      c->step == S_CONFIG ? lmmi_group_next_schedule_ms(&c->group, lmm_ctx_wall_ms(c->d.ctx)) : 0;
  c->step = S_SEND;
  if (at) {
    lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: holding the blob for the Schedule",
             (long long)c->id);
    return lmmi_fwc_set_timer(c, fw_now_ms(c) + (at - lmm_ctx_wall_ms(c->d.ctx)), schedule_due);
  }
  lmmi_fwc_set_phase(c, LMM_FWC_P_SENDING);
  /* MBMS: one delivery without a body opens the user-plane port; every fragment is one MB2-U
   * datagram on it. */
  lmmi_channel *ch = &c->ch;
  ch->t8 = c->d.t8, ch->tmgi = c->conf.tmgi, ch->group = &c->group, ch->via = c->via;
  ch->mcast_if = c->cfg.mcast_if;
  ch->prot = c->conf.prot.on ? &c->conf.prot : NULL;
  lmm_err rc = lmmi_channel_open(ch, NULL, 0, 0, channel_open, c);
  if (rc != LMM_OK)
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc,
                           c->via == LMM_VIA_MBMS ? "cannot send the T8 group message request"
                                                  : "cannot open a socket to the multicast group");
  if (c->via == LMM_VIA_MULTICAST) c->resumed ? lmmi_fwc_status_round(c) : first_pass(c);
}

static void conf_member(void *owner, size_t i, lmm_err err, uint8_t code, const char *error) {
  lmm_fwc *c = owner;
  c->rep[i].gm_step = lmmi_step_of(err, code), c->rep[i].gm_code = code;
  free(c->m[i].gm_error), c->m[i].gm_error = NULL;
  if (c->rep[i].gm_step != LMM_STEP_OK && error && (c->m[i].gm_error = strdup(error)))
    c->rep[i].gm_error = c->m[i].gm_error;
  if (c->rep[i].gm_step != LMM_STEP_OK) {
    char text[300];
    bool refused = err == LMM_OK && lmm_code_is_refusal(code);
    snprintf(text, sizeof text, "Group Mgmt write %s: %s", refused ? "refused" : "failed",
             error ? error : "no answer");
    lmmi_fwc_end_member(c, i, refused ? LMM_FWC_REFUSED : LMM_FWC_FAILED,
                        refused ? LMM_ERR_COAP : LMM_ERR_NET, text);
  }
}

static void conf_done(void *owner, lmm_err rc, const char *why) {
  lmm_fwc *c = owner;
  if (rc != LMM_OK) {
    char text[300];
    snprintf(text, sizeof text, "configuration: %s", why ? why : lmm_strerror(rc));
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, text);
  }
  if (c->cancel_req) return;
  if (!lmmi_fwc_count_pending(c)) return lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  send_start(c);
}

static const lmmi_configure_handlers conf_handlers = {
    .on_member = conf_member, .on_done = conf_done, .on_released = lmmi_fwc_released};

void lmmi_fwc_config_start(lmm_fwc *c) {
  lmmi_fwc_set_phase(c, LMM_FWC_P_CONFIGURING);
  c->step = S_CONFIG;
  bool *skip = calloc(c->n ? c->n : 1, sizeof *skip);
  if (!skip) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  size_t allowed = 0;
  /* A resumed campaign writes again to every member still pending: the Answer URI of this
   * run may not be the last run's. */
  for (size_t i = 0; i < c->n; i++)
    skip[i] = !c->m[i].allowed || c->rep[i].end != LMM_FWC_PENDING, allowed += c->m[i].allowed;
  c->conf_skip = skip;
  lmmi_configure *g = &c->conf;
  g->ctx = c->d.ctx, g->unicast = c->d.unicast, g->t8 = c->d.t8, g->store = c->d.store;
  g->group = &c->group, g->members = c->members, g->n = c->n, g->skip = skip;
  g->member_number = (int64_t)allowed; /* members that may take a firmware operation */
  g->via = c->via, g->window_s = c->window_ms / 1000;
  /* The window, the default grace (3 s) and two minutes of margin, as an operation campaign. */
  g->tmgi_needed_until = lmm_ctx_wall_ms(c->d.ctx) / 1000 + c->window_ms / 1000 + 3 + 120;
  g->answer_uri = c->d.answers ? lmm_answers_uri(c->d.answers) : NULL;
  g->skip_writes = c->cfg.skip_group_mgmt;
  g->protect = c->cfg.protect;
  g->what = c->what, g->h = &conf_handlers, g->owner = c;
  lmm_err rc = lmmi_configure_start(g);
  if (rc != LMM_OK) lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start the configuration");
}
