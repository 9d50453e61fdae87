/* campaign.c - one group operation on one group, TS 23.682 5.5.1 as a state machine: TMGI,
 * Group Mgmt writes, the group message (MBMS, IP multicast or unicast), answers, repair. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lmm_wire/hex.h"
#include "campaign/campaign_internal.h"
#include "core/ctx_internal.h"

#define FLUSH_EVERY 256 /* outcomes buffered before a store transaction */
#define FLUSH_MS    250 /* and at most this long: a crash loses at most this much */

typedef struct ep_ix {
  const char *ep;
  size_t index;
} ep_ix;

struct lmm_campaign {
  lmm_campaign_deps d;
  lmm_campaign_config cfg;
  const lmm_campaign_handlers *h;
  void *user;
  lmm_group_info group;
  lmm_member *members;
  size_t n;
  lmm_op op;
  uint8_t *op_payload;
  char *op_query;
  lmm_campaign_info info;
  lmm_outcome *out;
  ep_ix *by_ep; /* sorted by ep: answers find their member in O(log n) */
  bool *in_repair;
  size_t *dirty; /* members whose outcome waits for the store, each once */
  bool *is_dirty;
  size_t n_dirty;
  int via;
  uint8_t token[LMMI_TOKEN_LEN];
  bool answers_open, started, closing, finished, resumed_after_delivery;
  lmm_err result;
  lmm_batch *batch;
  lmm_member *sub; /* members of the current batch */
  size_t *sub_map; /* batch index -> campaign index */
  size_t n_sub;
  int batch_phase; /* 0 group mgmt, 1 operation (unicast group or repair) */
  lmmi_timer *timer;
  lmmi_timer *flush_timer;
  lmm_t8_request *t8req;
  uint8_t *gm_senml, *gm_tlv;
  size_t gm_senml_len, gm_tlv_len;
  int64_t delivered_mono;
  size_t n_done;
  size_t n_refetch;     /* answered the group read in a format they cannot serve: asked again */
  int64_t start_s;      /* the Schedule entry the group request waits for; 0 at once */
  uint8_t *pending_msg; /* a multicast group request waiting for its Schedule */
  size_t pending_len;
};

static void set_state(lmm_campaign *c, int st);
static int64_t now_ms(lmm_campaign *c);
static void finish(lmm_campaign *c, lmm_err rc, const char *why);
static void phase_group_mgmt(lmm_campaign *c);
static void phase_deliver(lmm_campaign *c);
static void phase_repair(lmm_campaign *c);
static void all_answered(lmm_campaign *c);

/* ------------------------------------------------------------------ helpers */

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

static lmm_err group_copy(lmm_group_info *d, const lmm_group_info *s) {
  *d = *s;
  d->name = dupn(s->name), d->external_group_id = dupn(s->external_group_id);
  d->multicast_address = dupn(s->multicast_address), d->fanout_target = dupn(s->fanout_target);
  d->tmgi = dupn(s->tmgi);
  d->schedule = NULL;
  if (s->n_schedule && (d->schedule = malloc(s->n_schedule * sizeof *d->schedule)))
    memcpy(d->schedule, s->schedule, s->n_schedule * sizeof *d->schedule);
  if ((s->name && !d->name) || (s->external_group_id && !d->external_group_id) ||
      (s->multicast_address && !d->multicast_address) || (s->fanout_target && !d->fanout_target) ||
      (s->tmgi && !d->tmgi) || (s->n_schedule && !d->schedule)) {
    lmm_group_info_clear(d);
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}

static int ep_cmp(const void *a, const void *b) {
  const ep_ix *x = a, *y = b;
  int r = strcmp(x->ep, y->ep);
  return r ? r : (x->index > y->index) - (x->index < y->index);
}

/* A failed write keeps the outcomes queued: the next flush (by count, age or phase change)
 * tries them again, so a store that is briefly busy or full loses nothing. */
static void flush(lmm_campaign *c) {
  if (!c->d.store || !c->n_dirty) return;
  lmm_outcome *tmp = malloc(c->n_dirty * sizeof *tmp);
  if (!tmp) return;
  for (size_t i = 0; i < c->n_dirty; i++)
    tmp[i] = c->out[c->dirty[i]];
  lmm_err rc = lmm_store_outcomes_put(c->d.store, c->info.id, tmp, c->n_dirty);
  free(tmp);
  if (rc != LMM_OK) {
    lmmi_log(c->d.ctx, LMM_LOG_ERROR,
             "campaign %lld: cannot store %zu outcomes (kept to retry): %s", (long long)c->info.id,
             c->n_dirty, lmm_store_errmsg(c->d.store));
    return;
  }
  for (size_t i = 0; i < c->n_dirty; i++)
    c->is_dirty[c->dirty[i]] = false;
  c->n_dirty = 0;
}

static void flush_due(void *arg) {
  lmm_campaign *c = arg;
  c->flush_timer = NULL;
  flush(c);
}

/* Outcomes go to the store in batches (one transaction each), by count or by age, so that a
 * campaign killed in its answer window keeps the answers it had taken. */
static void mark_dirty(lmm_campaign *c, size_t i) {
  if (!c->d.store) return;
  if (!c->is_dirty[i]) /* once in the queue, whatever changes before the next flush */
    c->is_dirty[i] = true, c->dirty[c->n_dirty++] = i;
  if (c->n_dirty >= FLUSH_EVERY) flush(c);
  /* Also after a failed flush: what it kept is retried by age, not only by the next outcome. */
  if (c->n_dirty && !c->flush_timer)
    c->flush_timer = lmmi_timer_add(c->d.ctx, now_ms(c) + FLUSH_MS, flush_due, c);
}

static void save_info(lmm_campaign *c) {
  if (c->d.store && lmm_store_campaign_update(c->d.store, &c->info) != LMM_OK)
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "campaign %lld: cannot store its state: %s",
             (long long)c->info.id, lmm_store_errmsg(c->d.store));
}

static void set_state(lmm_campaign *c, int st) {
  flush(c);
  c->info.state = st;
  save_info(c);
  if (c->h && c->h->on_state) c->h->on_state(c->user, st);
}

/* Records a final outcome for member i (once). */
static void outcome(lmm_campaign *c, size_t i, int via, lmm_err err, uint8_t code,
                    const uint8_t *payload, size_t len, int fmt, int attempts, int64_t latency,
                    const char *error) {
  lmm_outcome *o = &c->out[i];
  if (o->done) return;
  o->done = true;
  c->n_done++;
  o->via = via;
  o->err = err, o->coap_code = code, o->content_format = fmt;
  o->attempts = attempts, o->latency_ms = latency;
  free(o->payload), o->payload = NULL, o->payload_len = 0;
  if (len && (o->payload = malloc(len))) memcpy(o->payload, payload, len), o->payload_len = len;
  free(o->error);
  o->error = dupn(error);
  mark_dirty(c, i);
  if (c->h && c->h->on_member) c->h->on_member(c->user, i, o);
}

static int64_t now_ms(lmm_campaign *c) {
  return lmm_ctx_now_ms(c->d.ctx);
}

/* How a request went, as the report's step columns show it. */
static int step_of(lmm_err err, uint8_t code) {
  if (err != LMM_OK) return LMM_STEP_FAILED;
  return code >> 5 == 2 ? LMM_STEP_OK : LMM_STEP_REFUSED;
}

/* ------------------------------------------------------------ unicast batches */

static void batch_prepare(void *user, size_t bi, const lmm_member *m, lmm_op *op) {
  lmm_campaign *c = user;
  (void)bi;
  if (c->batch_phase == 0) {
    bool tlv = m->format == LMM_FMT_TLV;
    op->format = tlv ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
    op->payload = tlv ? c->gm_tlv : c->gm_senml;
    op->len = tlv ? c->gm_tlv_len : c->gm_senml_len;
  }
}

static void batch_member(void *user, const lmm_member_result *r) {
  lmm_campaign *c = user;
  size_t i = c->sub_map[r->index];
  char text[160];
  const char *err = r->error;
  if (!err && r->err == LMM_OK && r->coap_code >> 5 != 2) {
    snprintf(text, sizeof text, "%u.%02u", r->coap_code >> 5, r->coap_code & 31);
    err = text;
  }
  lmm_outcome *o = &c->out[i];
  if (c->batch_phase == 0) {
    o->gm_written = r->err == LMM_OK && r->coap_code >> 5 == 2;
    o->gm_step = step_of(r->err, r->coap_code);
    o->gm_code = r->coap_code;
    free(o->gm_error), o->gm_error = NULL;
    if (!o->gm_written) {
      o->gm_error = dupn(err ? err : lmm_strerror(r->err));
      free(o->error);
      o->error = dupn(o->gm_error);
    }
    mark_dirty(c, i);
    return;
  }
  bool group_path = c->via != LMM_VIA_UNICAST;
  o->repaired = group_path;
  o->unicast_step = step_of(r->err, r->coap_code);
  o->unicast_code = r->coap_code;
  free(o->unicast_error);
  o->unicast_error = o->unicast_step == LMM_STEP_OK ? NULL : dupn(err ? err : lmm_strerror(r->err));
  outcome(c, i, LMM_VIA_UNICAST, r->err, r->coap_code, r->payload, r->payload_len,
          r->content_format, r->attempts, r->latency_ms, err);
}

static void batch_done(void *user, lmm_batch *b) {
  lmm_campaign *c = user;
  (void)b;
  int phase = c->batch_phase;
  c->batch = NULL;
  lmm_batch_free(b); /* the engine allows freeing a batch from its own on_done */
  free(c->sub), c->sub = NULL;
  free(c->sub_map), c->sub_map = NULL;
  if (phase == 0)
    phase_deliver(c);
  else
    finish(c, LMM_OK, NULL);
}

static const lmm_batch_handlers batch_handlers = {batch_prepare, batch_member, NULL, batch_done};

/* Starts a batch over the members selected by `pick`. */
static lmm_err start_batch(lmm_campaign *c, int phase, const lmm_op *op,
                           bool (*pick)(lmm_campaign *, size_t)) {
  size_t k = 0;
  c->sub = calloc(c->n ? c->n : 1, sizeof *c->sub);
  c->sub_map = calloc(c->n ? c->n : 1, sizeof *c->sub_map);
  if (!c->sub || !c->sub_map) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < c->n; i++)
    if (pick(c, i)) c->sub[k] = c->members[i], c->sub_map[k++] = i; /* shallow: members outlive */
  c->n_sub = k;
  c->batch_phase = phase;
  if (k == 0) {
    free(c->sub), c->sub = NULL;
    free(c->sub_map), c->sub_map = NULL;
    return LMM_ERR_NOTFOUND;
  }
  return lmm_batch_start(c->d.unicast, c->sub, k, op, c->group.gm_oid, &batch_handlers, c,
                         &c->batch);
}

/* ----------------------------------------------------------------- phases */

static bool pick_pending(lmm_campaign *c, size_t i) {
  return !c->out[i].done;
}

static void phase_group_mgmt(lmm_campaign *c) {
  set_state(c, LMM_CS_CONFIGURING);
  if (c->cfg.skip_group_mgmt || c->via == LMM_VIA_UNICAST) {
    phase_deliver(c);
    return;
  }
  lmm_group_mgmt gm = LMM_GROUP_MGMT_INIT;
  char *tmgi[1] = {c->info.tmgi};
  uint16_t riid[1] = {0};
  gm.group_id = c->group.name;
  gm.group_type = c->group.type;
  gm.member_number = (int64_t)c->n;
  gm.external_group_id = c->group.external_group_id ? c->group.external_group_id : "";
  if (c->info.tmgi) gm.tmgi = tmgi, gm.tmgi_riid = riid, gm.n_tmgi = 1;
  gm.multicast_address = c->group.multicast_address;
  uint16_t *sriid = NULL;
  if (c->group.n_schedule && (sriid = calloc(c->group.n_schedule, sizeof *sriid))) {
    for (size_t i = 0; i < c->group.n_schedule; i++)
      sriid[i] = (uint16_t)i;
    gm.schedule = c->group.schedule, gm.schedule_riid = sriid, gm.n_schedule = c->group.n_schedule;
  }
  gm.response_time_window = c->info.window_s;
  gm.multicast_port = c->group.multicast_port > 0 ? c->group.multicast_port : 5683;
  gm.answer_uri = c->d.answers ? (char *)lmm_answers_uri(c->d.answers) : NULL;
  /* The group's own instance: writing another group's would make its members stop
   * listening to that group. */
  uint16_t iid = (uint16_t)c->group.gm_iid;
  lmm_err rc = lmm_group_mgmt_encode(&gm, c->group.gm_oid, iid, LMM_FMT_SENML_JSON, &c->gm_senml,
                                     &c->gm_senml_len);
  if (rc == LMM_OK)
    rc = lmm_group_mgmt_encode(&gm, c->group.gm_oid, iid, LMM_FMT_TLV, &c->gm_tlv, &c->gm_tlv_len);
  free(sriid);
  if (rc != LMM_OK) return finish(c, rc, "cannot encode the Group Mgmt object");
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  op.path = (lmm_path){.oid = c->group.gm_oid, .iid = iid, .depth = 2};
  rc = start_batch(c, 0, &op, pick_pending);
  if (rc == LMM_ERR_NOTFOUND)
    phase_deliver(c);
  else if (rc != LMM_OK)
    finish(c, rc, "cannot start the Group Mgmt writes");
}

/* Whether a group answer with `code` is to be asked again by unicast rather than kept: a read
 * whose Accept the library chose, refused as a format the member cannot serve (4.06, or 5.00
 * as small clients answer). With repair off, the answer is what the member said. */
static bool refetch(const lmm_campaign *c, uint8_t code) {
  return !c->cfg.no_repair && c->op.accept == LMM_ACCEPT_AUTO && c->op.kind == LMM_OPK_READ &&
         (code == (4 << 5 | 6) || code == (5 << 5 | 0));
}

static lmmi_answer_class on_answer(void *owner, const char *ep, uint8_t code, int fmt,
                                   const uint8_t *payload, size_t len) {
  lmm_campaign *c = owner;
  /* Binary search for the first entry of that name: one endpoint may be several members. */
  size_t lo = 0, hi = c->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(c->by_ep[mid].ep, ep) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t k = lo; k < c->n && !strcmp(c->by_ep[k].ep, ep); k++) {
    size_t i = c->by_ep[k].index;
    if (!lmm_member_allows(&c->members[i], &c->op.path)) continue;
    lmm_outcome *o = &c->out[i];
    if (o->done) return c->in_repair[i] ? LMMI_ANS_LATE : LMMI_ANS_DUPLICATE;
    if (c->in_repair[i]) return LMMI_ANS_LATE;
    if (o->group_step != LMM_STEP_NONE) return LMMI_ANS_DUPLICATE; /* waits for its refetch */
    o->group_step = step_of(LMM_OK, code);
    o->group_code = code;
    if (refetch(c, code)) {
      /* It heard the request but cannot answer in the group's one Accept: the repair asks
       * it by unicast, where the engine picks its own format. */
      c->n_refetch++;
      mark_dirty(c, i);
      if (c->n_done + c->n_refetch == c->n && c->info.state == LMM_CS_COLLECTING) all_answered(c);
      return LMMI_ANS_ACCEPTED;
    }
    char text[16];
    snprintf(text, sizeof text, "%u.%02u", code >> 5, code & 31);
    outcome(c, i, c->via, LMM_OK, code, payload, len, fmt, 1, now_ms(c) - c->delivered_mono,
            code >> 5 == 2 ? NULL : text);
    if (c->n_done + c->n_refetch == c->n && c->info.state == LMM_CS_COLLECTING) all_answered(c);
    return LMMI_ANS_ACCEPTED;
  }
  return LMMI_ANS_UNKNOWN;
}

static void window_over(void *arg) {
  lmm_campaign *c = arg;
  c->timer = NULL;
  phase_repair(c);
}

/* Every member has answered: nothing is left to wait for. The window's end moves to now, on
 * a timer turn rather than from inside the answer receiver's callback. */
static void all_answered(lmm_campaign *c) {
  /* The window's own timer is cancelled only once the new one exists: without memory for it,
   * the window still ends at its time instead of never. */
  lmmi_timer *t = lmmi_timer_add(c->d.ctx, now_ms(c), window_over, c);
  if (!t) return;
  if (c->timer) lmmi_timer_cancel(c->d.ctx, c->timer);
  c->timer = t;
}

/* The first Schedule entry still ahead (resource 8): members in power saving wake for it, so
 * the group request must not go earlier. 0 when there is none. */
static int64_t next_schedule(const lmm_campaign *c) {
  int64_t now_s = lmm_ctx_wall_ms(c->d.ctx) / 1000, best = 0;
  for (size_t i = 0; i < c->group.n_schedule; i++)
    if (c->group.schedule[i] > now_s && (!best || c->group.schedule[i] < best))
      best = c->group.schedule[i];
  return best;
}

/* The answer window opens when the group request goes on air: now, or at its Schedule. */
static void collecting(lmm_campaign *c) {
  int64_t wall = lmm_ctx_wall_ms(c->d.ctx), on_air = c->start_s * 1000;
  int64_t ahead = on_air > wall ? on_air - wall : 0;
  c->info.delivered_ms = wall + ahead;
  c->delivered_mono = now_ms(c) + ahead;
  set_state(c, LMM_CS_COLLECTING);
  int64_t due = c->delivered_mono + c->info.window_s * 1000 + c->cfg.grace_ms;
  c->timer =
      lmmi_timer_add(c->d.ctx, c->n_done + c->n_refetch == c->n ? now_ms(c) : due, window_over, c);
  if (!c->timer) finish(c, LMM_ERR_NOMEM, "cannot arm the answer window");
}

static void gmd_created(void *user, const lmm_t8_reply *rep) {
  lmm_campaign *c = user;
  c->t8req = NULL;
  if (rep->result->err != LMM_OK) {
    char *d = lmm_t8_result_describe(rep->result);
    finish(c, rep->result->err, d ? d : "group message request failed");
    lmm_free(d);
    return;
  }
  free(c->info.t8_transaction);
  c->info.t8_transaction = dupn(rep->gmd->self);
  if (!rep->gmd->has_payload && rep->gmd->scef_port > 0) { /* MB2-U */
    uint8_t *msg = NULL;
    size_t len;
    lmm_err rc = lmmi_coap_group_request(&c->op, (uint16_t)lmmi_random_below(c->d.ctx, 65536),
                                         c->token, &msg, &len);
    if (rc == LMM_OK) rc = lmm_t8_send_user_plane(rep->gmd, msg, len);
    free(msg);
    if (rc != LMM_OK) return finish(c, rc, "cannot send the group message over MB2-U");
  }
  collecting(c);
}

/* One datagram: the shared destination set-up (group_send.c), opened and closed around it. */
static lmm_err send_multicast(lmm_campaign *c, const uint8_t *msg, size_t len) {
  lmmi_group_dest d;
  lmm_err rc =
      lmmi_dest_multicast(&d, c->group.multicast_address, c->group.multicast_port, c->cfg.mcast_if);
  if (rc == LMM_OK) rc = lmmi_dest_send(&d, msg, len);
  lmmi_dest_close(&d);
  return rc;
}

static void multicast_due(void *arg) {
  lmm_campaign *c = arg;
  c->timer = NULL;
  lmm_err rc = send_multicast(c, c->pending_msg, c->pending_len);
  free(c->pending_msg), c->pending_msg = NULL;
  if (rc != LMM_OK) return finish(c, rc, "cannot send the group request to the multicast group");
  collecting(c);
}

static void phase_deliver(lmm_campaign *c) {
  if (c->cfg.configure_only) return finish(c, LMM_OK, NULL);
  set_state(c, LMM_CS_DELIVERING);
  c->info.started_ms = c->info.started_ms ? c->info.started_ms : lmm_ctx_wall_ms(c->d.ctx);
  /* Members whose Object ID does not cover the operation are refused before anything is sent. */
  for (size_t i = 0; i < c->n; i++)
    if (!c->out[i].done && !lmm_member_allows(&c->members[i], &c->op.path))
      outcome(c, i, LMM_VIA_NONE, LMM_ERR_ARG, 0, NULL, 0, -1, 0, 0,
              "operation outside the member's Object ID");
  if (c->via == LMM_VIA_UNICAST || c->resumed_after_delivery) {
    lmm_err rc = start_batch(c, 1, &c->op, pick_pending);
    if (rc == LMM_ERR_NOTFOUND)
      finish(c, LMM_OK, NULL);
    else if (rc != LMM_OK)
      finish(c, rc, "cannot start the unicast operation");
    return;
  }
  /* A resumed campaign gets its deps anew: the group request needs the answer receiver. */
  if (!c->d.answers) return finish(c, LMM_ERR_ARG, "a group request needs an answer receiver");
  lmm_err rc = lmmi_random(c->d.ctx, c->token, sizeof c->token);
  char th[2 * LMMI_TOKEN_LEN + 1];
  lmmw_hex(c->token, sizeof c->token, th);
  free(c->info.token_hex);
  c->info.token_hex = dupn(th);
  if (rc == LMM_OK) rc = lmmi_answers_open(c->d.answers, c->token, on_answer, c);
  if (rc != LMM_OK) return finish(c, rc, "cannot open the group request");
  c->answers_open = true;
  uint8_t *msg = NULL;
  size_t len = 0;
  rc = lmmi_coap_group_request(&c->op, (uint16_t)lmmi_random_below(c->d.ctx, 65536), c->token, &msg,
                               &len);
  if (rc != LMM_OK) return finish(c, rc, "this operation cannot be sent to a group");
  save_info(c);
  c->start_s = next_schedule(c);
  if (c->via == LMM_VIA_MULTICAST) {
    if (c->start_s) { /* held until the Schedule: we are the sender, there is no BM-SC */
      c->pending_msg = msg, c->pending_len = len;
      int64_t wait = c->start_s * 1000 - lmm_ctx_wall_ms(c->d.ctx);
      c->timer = lmmi_timer_add(c->d.ctx, now_ms(c) + (wait > 0 ? wait : 0), multicast_due, c);
      if (!c->timer) finish(c, LMM_ERR_NOMEM, "cannot arm the Schedule");
      return;
    }
    rc = send_multicast(c, msg, len);
    free(msg);
    if (rc != LMM_OK) return finish(c, rc, "cannot send the group request to the multicast group");
    collecting(c);
    return;
  }
  lmm_gmd g = {.scef_port = -1};
  g.external_group_id = c->group.external_group_id;
  g.message_delivery_start_time = c->start_s; /* the BM-SC holds it until then */
  if (len <= c->cfg.inline_max) g.has_payload = true, g.payload = msg, g.payload_len = len;
  rc = lmm_t8_gmd_create_async(c->d.t8, c->info.tmgi, &g, gmd_created, c, &c->t8req);
  free(msg);
  if (rc != LMM_OK) finish(c, rc, "cannot send the T8 group message request");
}

static void phase_repair(lmm_campaign *c) {
  if (c->answers_open) lmmi_answers_close(c->d.answers, c->token), c->answers_open = false;
  size_t silent = 0;
  for (size_t i = 0; i < c->n; i++) {
    lmm_outcome *o = &c->out[i];
    if (o->done) continue;
    silent++;
    /* Still without an answer when the window closed (a resumed campaign's members heard the
     * request before the crash: whether they answered is not known). */
    if (!c->resumed_after_delivery && c->via != LMM_VIA_UNICAST && o->group_step == LMM_STEP_NONE) {
      o->group_step = LMM_STEP_SILENT;
      mark_dirty(c, i);
    }
  }
  if (!silent) return finish(c, LMM_OK, NULL);
  if (c->cfg.no_repair) {
    for (size_t i = 0; i < c->n; i++)
      if (!c->out[i].done)
        outcome(c, i, LMM_VIA_NONE, LMM_ERR_TIMEOUT, 0, NULL, 0, -1, 0, 0,
                "no answer within the window (repair off)");
    return finish(c, LMM_OK, NULL);
  }
  set_state(c, LMM_CS_REPAIRING);
  for (size_t i = 0; i < c->n; i++)
    c->in_repair[i] = !c->out[i].done;
  lmm_err rc = start_batch(c, 1, &c->op, pick_pending);
  if (rc == LMM_ERR_NOTFOUND)
    finish(c, LMM_OK, NULL);
  else if (rc != LMM_OK)
    finish(c, rc, "cannot start the unicast repair");
}

/* ------------------------------------------------------------- TMGI (MBMS) */

static void tmgi_ready(lmm_campaign *c, const lmm_tmgi_allocation *a) {
  if (a) {
    free(c->info.tmgi), c->info.tmgi = dupn(a->tmgi);
    free(c->group.tmgi), c->group.tmgi = dupn(a->tmgi);
    if (a->tmgi_expiration) c->group.tmgi_expiration = a->tmgi_expiration;
    if (c->d.store) lmm_store_group_update(c->d.store, &c->group);
  }
  phase_group_mgmt(c);
}

static void tmgi_reply(void *user, const lmm_t8_reply *rep) {
  lmm_campaign *c = user;
  c->t8req = NULL;
  if (rep->result->err != LMM_OK) {
    char *d = lmm_t8_result_describe(rep->result);
    char why[400];
    snprintf(why, sizeof why, "TMGI %s: %s",
             rep->op == LMM_T8_TMGI_CREATE ? "allocation" : "renewal", d ? d : "failed");
    lmm_free(d);
    /* A TMGI the SCEF no longer knows (expired, released) is allocated afresh, once. */
    if (rep->op == LMM_T8_TMGI_PATCH && rep->result->http_status == 404) {
      lmm_tmgi_allocation req = {.external_group_id = c->group.external_group_id};
      if (lmm_t8_tmgi_create_async(c->d.t8, &req, tmgi_reply, c, &c->t8req) == LMM_OK) return;
    }
    return finish(c, rep->result->err, why);
  }
  tmgi_ready(c, rep->allocation);
}

static void phase_tmgi(lmm_campaign *c) {
  set_state(c, LMM_CS_CONFIGURING);
  if (!c->d.t8 || !c->d.answers)
    return finish(c, LMM_ERR_ARG, "an MBMS campaign needs a T8 client and an answer receiver");
  int64_t need_until = lmm_ctx_wall_ms(c->d.ctx) / 1000 + c->info.window_s +
                       c->cfg.tmgi_lifetime_margin_s + c->cfg.grace_ms / 1000 + 60;
  lmm_err rc;
  if (c->group.tmgi && c->group.tmgi_expiration >= need_until) {
    free(c->info.tmgi), c->info.tmgi = dupn(c->group.tmgi);
    return phase_group_mgmt(c);
  }
  if (c->group.tmgi) { /* renew: it would expire before the campaign ends */
    lmm_tmgi_allocation_patch p = {0};
    rc = lmm_t8_tmgi_patch_async(c->d.t8, c->group.tmgi, &p, tmgi_reply, c, &c->t8req);
  } else {
    lmm_tmgi_allocation req = {.external_group_id = c->group.external_group_id};
    rc = lmm_t8_tmgi_create_async(c->d.t8, &req, tmgi_reply, c, &c->t8req);
  }
  if (rc != LMM_OK) finish(c, rc, "cannot send the TMGI request");
}

/* ---------------------------------------------------------------- lifecycle */

static void finished(lmm_campaign *c) {
  c->finished = true;
  c->info.finished_ms = lmm_ctx_wall_ms(c->d.ctx);
  set_state(c, c->result == LMM_OK ? LMM_CS_DONE : LMM_CS_FAILED);
  if (c->h && c->h->on_done) c->h->on_done(c->user, c, c->result);
}

int lmmi_tmgi_released(lmm_ctx *ctx, lmm_store *store, const char *group, const char *tmgi,
                       const lmm_t8_reply *rep, const char *what) {
  /* 404: the SCEF no longer has it (expired, or released by someone else): gone either way. */
  if (rep->result->err != LMM_OK && rep->result->http_status != 404) {
    char *d = lmm_t8_result_describe(rep->result);
    lmmi_log(ctx, LMM_LOG_WARN, "%s: TMGI %s not released (kept until it expires): %s", what, tmgi,
             d ? d : "failed");
    lmm_free(d);
    return LMM_TMGI_END_RELEASE_FAILED;
  }
  /* The stored group, not the campaign's copy: what was set on it since (group set) stays,
   * and a TMGI the group took in the meantime is not forgotten. */
  lmm_group_info g = {0};
  lmm_err rc = store ? lmm_store_group_get(store, group, &g) : LMM_ERR_NOTFOUND;
  if (rc == LMM_OK && g.tmgi && !strcmp(g.tmgi, tmgi)) {
    free(g.tmgi), g.tmgi = NULL;
    g.tmgi_expiration = 0;
    rc = lmm_store_group_update(store, &g);
  }
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    lmmi_log(ctx, LMM_LOG_ERROR, "%s: cannot store the released TMGI %s: %s", what, tmgi,
             lmm_store_errmsg(store));
  lmm_group_info_clear(&g);
  return LMM_TMGI_END_RELEASED;
}

static void tmgi_deleted(void *user, const lmm_t8_reply *rep) {
  lmm_campaign *c = user;
  c->t8req = NULL;
  char what[40];
  snprintf(what, sizeof what, "campaign %lld", (long long)c->info.id);
  c->info.tmgi_end =
      lmmi_tmgi_released(c->d.ctx, c->d.store, c->group.name, c->info.tmgi, rep, what);
  if (c->info.tmgi_end == LMM_TMGI_END_RELEASED) {
    free(c->group.tmgi), c->group.tmgi = NULL;
    c->group.tmgi_expiration = 0;
  }
  finished(c);
}

/* The group's TMGI policy, once the campaign is over: keep it for the next campaign, or
 * release it. A campaign that only configures the group (a firmware campaign's set-up) leaves
 * it to its owner. Returns true when a release is on its way (finished() follows). */
static bool tmgi_dispose(lmm_campaign *c) {
  if (c->via != LMM_VIA_MBMS || !c->info.tmgi || c->cfg.configure_only) return false;
  if (c->group.tmgi_policy != LMM_TMGI_RELEASE || !c->d.t8) {
    c->info.tmgi_end = LMM_TMGI_END_KEPT;
    return false;
  }
  if (lmm_t8_tmgi_delete_async(c->d.t8, c->info.tmgi, tmgi_deleted, c, &c->t8req) == LMM_OK)
    return true;
  c->info.tmgi_end = LMM_TMGI_END_RELEASE_FAILED;
  lmmi_log(c->d.ctx, LMM_LOG_WARN, "campaign %lld: cannot send the release of TMGI %s",
           (long long)c->info.id, c->info.tmgi);
  return false;
}

static void finish(lmm_campaign *c, lmm_err rc, const char *why) {
  if (c->closing) return;
  c->closing = true;
  c->result = rc;
  if (c->answers_open) lmmi_answers_close(c->d.answers, c->token), c->answers_open = false;
  if (c->t8req) lmm_t8_request_cancel(c->t8req), c->t8req = NULL;
  if (rc != LMM_OK) {
    free(c->info.error);
    c->info.error = dupn(why ? why : lmm_strerror(rc));
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "campaign %lld failed: %s", (long long)c->info.id,
             c->info.error);
  }
  if (!tmgi_dispose(c)) finished(c);
}

static lmm_err prepare_common(lmm_campaign *c) {
  c->by_ep = calloc(c->n ? c->n : 1, sizeof *c->by_ep);
  c->in_repair = calloc(c->n ? c->n : 1, sizeof *c->in_repair);
  c->dirty = calloc(c->n ? c->n : 1, sizeof *c->dirty);
  c->is_dirty = calloc(c->n ? c->n : 1, sizeof *c->is_dirty);
  if (!c->by_ep || !c->in_repair || !c->dirty || !c->is_dirty) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < c->n; i++)
    c->by_ep[i] = (ep_ix){c->members[i].ep, i};
  qsort(c->by_ep, c->n, sizeof *c->by_ep, ep_cmp);
  return LMM_OK;
}

LMM_API lmm_err lmm_campaign_new(const lmm_campaign_deps *deps, const lmm_campaign_config *cfg,
                                 const lmm_campaign_handlers *h, void *user, lmm_campaign **out) {
  if (!deps || !deps->ctx || !deps->unicast || !cfg || !cfg->group || !out ||
      (cfg->n_members && !cfg->members))
    return LMM_ERR_ARG;
  int via = cfg->via != LMM_VIA_NONE                  ? cfg->via
            : cfg->group->type == LMM_GROUP_MBMS      ? LMM_VIA_MBMS
            : cfg->group->type == LMM_GROUP_MULTICAST ? LMM_VIA_MULTICAST
                                                      : LMM_VIA_UNICAST;
  if (via == LMM_VIA_MBMS && (!deps->t8 || !deps->answers || !cfg->group->external_group_id))
    return LMM_ERR_ARG;
  if (via == LMM_VIA_MULTICAST && (!deps->answers || !cfg->group->multicast_address))
    return LMM_ERR_ARG;
  if (cfg->group->gm_iid > 65534) return LMM_ERR_ARG; /* 65535 is no instance ID in LwM2M */
  lmm_campaign *c = calloc(1, sizeof *c);
  if (!c) return LMM_ERR_NOMEM;
  c->d = *deps, c->cfg = *cfg, c->h = h, c->user = user, c->via = via, c->n = cfg->n_members;
  c->cfg.group = NULL, c->cfg.members = NULL;
  if (c->cfg.grace_ms < 0) c->cfg.grace_ms = 3000;
  lmm_err rc = group_copy(&c->group, cfg->group);
  if (rc != LMM_OK) {
    free(c);
    return rc;
  }
  if (!c->group.gm_oid) c->group.gm_oid = LMM_GROUP_MGMT_OID;
  if (c->group.gm_iid < 0) c->group.gm_iid = 0; /* "not set": instance 0, as before */
  c->members = calloc(c->n ? c->n : 1, sizeof *c->members);
  c->out = calloc(c->n ? c->n : 1, sizeof *c->out);
  rc = c->members && c->out ? LMM_OK : LMM_ERR_NOMEM;
  for (size_t i = 0; rc == LMM_OK && i < c->n; i++) {
    lmm_outcome_init(&c->out[i]);
    rc = lmm_member_copy(&c->members[i], &cfg->members[i]);
    if (rc == LMM_OK && !(c->out[i].ep = strdup(c->members[i].ep))) rc = LMM_ERR_NOMEM;
    c->out[i].oid = c->members[i].oid;
  }
  c->op = cfg->op;
  c->op.payload = NULL;
  if (rc == LMM_OK && cfg->op.len) {
    if ((c->op_payload = malloc(cfg->op.len)))
      memcpy(c->op_payload, cfg->op.payload, cfg->op.len);
    else
      rc = LMM_ERR_NOMEM;
    c->op.payload = c->op_payload;
  }
  if (rc == LMM_OK && cfg->op.query && !(c->op_query = strdup(cfg->op.query))) rc = LMM_ERR_NOMEM;
  c->op.query = c->op_query;
  if (rc == LMM_OK) rc = prepare_common(c);
  /* The stored row. */
  char path[32];
  c->info.group = dupn(c->group.name);
  c->info.via = via;
  c->info.op_kind = c->op.kind;
  c->info.op_path = dupn(lmm_path_format(&c->op.path, path, sizeof path));
  c->info.op_format = c->op.format;
  c->info.op_accept = c->op.accept;
  if (c->op.len && (c->info.op_payload = malloc(c->op.len)))
    memcpy(c->info.op_payload, c->op.payload, c->op.len), c->info.op_len = c->op.len;
  c->info.op_query = dupn(c->op_query);
  c->info.window_s = cfg->window_s >= 0 ? cfg->window_s : c->group.response_time_window;
  if (c->info.window_s < 0) c->info.window_s = 30;
  c->info.repair = !cfg->no_repair;
  c->info.t8_status = -1;
  c->info.created_ms = lmm_ctx_wall_ms(deps->ctx);
  c->info.state = LMM_CS_CREATED;
  if (rc == LMM_OK && deps->store)
    rc = lmm_store_campaign_create(deps->store, &c->info, c->members, c->n);
  if (rc != LMM_OK) {
    lmm_campaign_free(c);
    return rc;
  }
  *out = c;
  return LMM_OK;
}

LMM_API lmm_err lmm_campaign_resume(const lmm_campaign_deps *deps, int64_t id,
                                    const lmm_campaign_handlers *h, void *user,
                                    lmm_campaign **out) {
  if (!deps || !deps->store || !deps->unicast || !out) return LMM_ERR_ARG;
  lmm_campaign_info info = {0};
  lmm_group_info group = {0};
  lmm_outcome *outs = NULL;
  lmm_member *all = NULL;
  size_t n = 0, nall = 0;
  lmm_err rc = lmm_store_campaign_get(deps->store, id, &info);
  if (rc == LMM_OK && (info.state == LMM_CS_DONE)) rc = LMM_ERR_STATE;
  if (rc == LMM_OK) rc = lmm_store_group_get(deps->store, info.group, &group);
  if (rc == LMM_OK) rc = lmm_store_outcomes_get(deps->store, id, &outs, &n);
  if (rc == LMM_OK) rc = lmm_store_members_get(deps->store, info.group, &all, &nall);
  lmm_campaign *c = NULL;
  if (rc == LMM_OK && !(c = calloc(1, sizeof *c))) rc = LMM_ERR_NOMEM;
  if (rc == LMM_OK) {
    lmm_campaign_config dflt = LMM_CAMPAIGN_CONFIG_DEFAULT;
    c->d = *deps, c->cfg = dflt, c->h = h, c->user = user, c->via = info.via;
    c->cfg.no_repair = !info.repair;
    c->group = group, group = (lmm_group_info){0};
    if (!c->group.gm_oid) c->group.gm_oid = LMM_GROUP_MGMT_OID;
    c->info = info, info = (lmm_campaign_info){0};
    free(c->info.error);
    c->info.error = NULL;
    c->n = n, c->out = outs, outs = NULL;
    c->members = calloc(n ? n : 1, sizeof *c->members);
    if (!c->members) rc = LMM_ERR_NOMEM;
    /* Members are matched by ID: one removed from the group since cannot be served. */
    for (size_t i = 0; rc == LMM_OK && i < n; i++) {
      size_t k = 0;
      while (k < nall && (strcmp(all[k].ep, c->out[i].ep) || all[k].oid != c->out[i].oid))
        k++;
      if (k < nall)
        rc = lmm_member_copy(&c->members[i], &all[k]);
      else {
        c->members[i].ep = strdup(c->out[i].ep), c->members[i].oid = c->out[i].oid;
        if (!c->members[i].ep) rc = LMM_ERR_NOMEM; /* by_ep and on_answer need every name */
        if (!c->out[i].done) {
          c->out[i].done = true, c->out[i].err = LMM_ERR_NOTFOUND;
          c->out[i].error = dupn("no longer a member of the group");
        }
      }
    }
    if (rc == LMM_OK) rc = lmm_path_parse(c->info.op_path, &c->op.path);
    c->op.kind = (lmm_op_kind)c->info.op_kind, c->op.format = c->info.op_format;
    c->op.accept = c->info.op_accept;
    if (rc == LMM_OK && c->info.op_len) {
      if ((c->op_payload = malloc(c->info.op_len)))
        memcpy(c->op_payload, c->info.op_payload, c->info.op_len);
      else
        rc = LMM_ERR_NOMEM;
      c->op.payload = c->op_payload, c->op.len = c->info.op_len;
    }
    if (rc == LMM_OK && c->info.op_query && !(c->op_query = strdup(c->info.op_query)))
      rc = LMM_ERR_NOMEM;
    c->op.query = c->op_query;
    /* Once the group message went out, the rest can only be reached by unicast. */
    c->resumed_after_delivery = c->info.state >= LMM_CS_DELIVERING;
    if (rc == LMM_OK) rc = prepare_common(c);
    if (rc == LMM_OK) {
      for (size_t i = 0; i < n; i++) {
        c->n_done += c->out[i].done;
        if (!c->out[i].done && c->resumed_after_delivery && c->via != LMM_VIA_UNICAST)
          c->in_repair[i] = true;
      }
    }
  }
  lmm_campaign_info_clear(&info);
  lmm_group_info_clear(&group);
  lmm_outcome_list_free(outs, n);
  lmm_members_free(all, nall);
  if (rc != LMM_OK) {
    lmm_campaign_free(c);
    return rc;
  }
  *out = c;
  return LMM_OK;
}

LMM_API lmm_err lmm_campaign_start(lmm_campaign *c) {
  if (!c) return LMM_ERR_ARG;
  if (c->started) return LMM_ERR_STATE;
  c->started = true;
  if (c->resumed_after_delivery)
    phase_deliver(c);
  else if (c->via == LMM_VIA_MBMS)
    phase_tmgi(c);
  else
    phase_group_mgmt(c);
  return LMM_OK;
}

LMM_API void lmm_campaign_free(lmm_campaign *c) {
  if (!c) return;
  if (c->answers_open) lmmi_answers_close(c->d.answers, c->token);
  if (c->timer) lmmi_timer_cancel(c->d.ctx, c->timer);
  if (c->flush_timer) lmmi_timer_cancel(c->d.ctx, c->flush_timer);
  if (c->t8req) lmm_t8_request_cancel(c->t8req);
  if (c->batch) lmm_batch_free(c->batch);
  flush(c);
  lmm_group_info_clear(&c->group);
  lmm_members_free(c->members, c->n);
  lmm_outcome_list_free(c->out, c->n);
  lmm_campaign_info_clear(&c->info);
  free(c->op_payload), free(c->op_query), free(c->by_ep), free(c->in_repair), free(c->dirty),
      free(c->is_dirty);
  free(c->sub), free(c->sub_map);
  lmm_free(c->gm_senml), lmm_free(c->gm_tlv);
  free(c->pending_msg);
  free(c);
}

const lmm_group_info *lmmi_campaign_group(const lmm_campaign *c) {
  return &c->group;
}

LMM_API const lmm_campaign_info *lmm_campaign_get_info(const lmm_campaign *c) {
  return &c->info;
}

LMM_API const lmm_outcome *lmm_campaign_outcomes(const lmm_campaign *c, size_t *n) {
  *n = c->n;
  return c->out;
}

LMM_API const lmm_member *lmm_campaign_members(const lmm_campaign *c, size_t *n) {
  *n = c->n;
  return c->members;
}

LMM_API bool lmm_campaign_t8_notified(lmm_campaign *c, const char *transaction, bool delivered) {
  if (!c || !transaction || !c->info.t8_transaction) return false;
  const char *a = strstr(c->info.t8_transaction, LMM_T8_BASE_PATH);
  const char *b = strstr(transaction, LMM_T8_BASE_PATH);
  if (!a || !b || strcmp(a, b)) return false;
  c->info.t8_status = delivered;
  save_info(c);
  return true;
}

LMM_API lmm_err lmm_campaign_wait(lmm_campaign *c, long timeout_ms) {
  int64_t end = timeout_ms < 0 ? -1 : lmm_ctx_now_ms(c->d.ctx) + timeout_ms;
  while (!c->finished) {
    if (end >= 0 && lmm_ctx_now_ms(c->d.ctx) >= end) return LMM_ERR_TIMEOUT;
    lmm_err rc = lmm_ctx_run_once(c->d.ctx, 200);
    if (rc != LMM_OK) return rc;
  }
  return LMM_OK;
}
