/* campaign.c - one group operation on one group, TS 23.682 5.5.1: configure the group (TMGI,
 * Group Mgmt writes), the group message (MBMS or IP multicast; a unicast group gets the
 * operation by unicast), the answers within the window, the repair of the silent, the TMGI
 * policy at the end. Each step is a block of the campaign core (core.h); this file says only
 * how they follow one another and what each member's outcome becomes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/hex.h" /* lmmw_hex */
#include "campaign/op_internal.h"

static void finish(lmm_campaign *c, lmm_err rc, const char *why);
static void phase_deliver(lmm_campaign *c);
static void phase_repair(void *arg);

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

static int64_t now_ms(lmm_campaign *c) {
  return lmm_ctx_now_ms(c->d.ctx);
}

static void set_state(lmm_campaign *c, lmm_campaign_state st) {
  c->info.state = st;
  lmmi_recorder_save_info(&c->rec, &c->info);
  if (c->h && c->h->on_state) c->h->on_state(c->user, st);
}

/* Records a final outcome for member i (once). */
static void outcome(lmm_campaign *c, size_t i, lmm_path_kind via, lmm_err err, uint8_t code,
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
  lmmi_recorder_mark(&c->rec, i);
  if (c->h && c->h->on_member) c->h->on_member(c->user, i, o);
}

/* ----------------------------------------------------- configure the group */

static void conf_member(void *owner, size_t i, lmm_err err, uint8_t code, const char *error) {
  lmm_campaign *c = owner;
  lmm_outcome *o = &c->out[i];
  o->gm_written = err == LMM_OK && code >> 5 == 2;
  o->gm_step = lmmi_step_of(err, code);
  o->gm_code = code;
  free(o->gm_error), o->gm_error = NULL;
  if (!o->gm_written) {
    o->gm_error = dupn(error);
    free(o->error);
    o->error = dupn(error);
  }
  lmmi_recorder_mark(&c->rec, i);
  /* Its Access Control denies this server the group configuration: a decision, not a fault,
   * so the member is not repaired by unicast behind its owner's back but ends refused, with
   * the code (docs/access-control.md). */
  if (err == LMM_OK && lmm_code_is_refusal(code)) {
    char text[300];
    snprintf(text, sizeof text, "Group Mgmt write refused %u.%02u: %s", code >> 5, code & 31,
             error ? error : "access control");
    outcome(c, i, LMM_VIA_NONE, LMM_OK, code, NULL, 0, -1, 1, 0, text);
  }
}

static void conf_done(void *owner, lmm_err rc, const char *why) {
  lmm_campaign *c = owner;
  if (rc != LMM_OK) return finish(c, rc, why);
  if (c->conf.tmgi && (!c->info.tmgi || strcmp(c->info.tmgi, c->conf.tmgi))) {
    free(c->info.tmgi);
    c->info.tmgi = dupn(c->conf.tmgi);
  }
  phase_deliver(c);
}

static void finished(lmm_campaign *c) {
  c->finished = true;
  c->info.finished_ms = lmm_ctx_wall_ms(c->d.ctx);
  if (!lmmi_recorder_flush(&c->rec)) {
    /* Answers the store refused (a full disk): a final state in the row would say the
     * campaign is over while its outcomes there are still pending, and 'resume' would refuse
     * it. The row keeps its last phase, so that resume asks again only the members whose
     * answers were lost; the campaign fails with the store's reason. */
    char why[700];
    snprintf(why, sizeof why,
             "its answers could not be stored (resume it once the store can be "
             "written): %s",
             lmm_store_errmsg(c->d.store));
    if (c->result == LMM_OK) c->result = LMM_ERR_DB;
    free(c->info.error);
    c->info.error = dupn(why);
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "%s failed: %s", c->what, why);
    c->info.state = LMM_CS_FAILED;
    if (c->h && c->h->on_state) c->h->on_state(c->user, c->info.state);
  } else {
    set_state(c, c->result == LMM_OK ? LMM_CS_DONE : LMM_CS_FAILED);
  }
  if (c->h && c->h->on_done) c->h->on_done(c->user, c, c->result);
}

static void conf_released(void *owner, lmm_tmgi_end end) {
  lmm_campaign *c = owner;
  c->info.tmgi_end = end;
  finished(c);
}

static const lmmi_configure_handlers conf_handlers = {
    .on_member = conf_member, .on_done = conf_done, .on_released = conf_released};

static void phase_configure(lmm_campaign *c) {
  set_state(c, LMM_CS_CONFIGURING);
  if (c->via == LMM_VIA_MBMS && (!c->d.t8 || !c->d.answers))
    return finish(c, LMM_ERR_ARG, "an MBMS campaign needs a T8 client and an answer receiver");
  for (size_t i = 0; i < c->n; i++)
    c->finals[i] = c->out[i].done;
  lmmi_configure *g = &c->conf;
  g->ctx = c->d.ctx, g->unicast = c->d.unicast, g->t8 = c->d.t8, g->store = c->d.store;
  g->group = &c->group, g->members = c->members, g->n = c->n, g->skip = c->finals;
  g->member_number = (int64_t)c->n;
  g->via = c->via, g->window_s = c->info.window_s;
  g->tmgi_needed_until = lmm_ctx_wall_ms(c->d.ctx) / 1000 + c->info.window_s +
                         c->cfg.tmgi_lifetime_margin_s + c->cfg.grace_ms / 1000 + 60;
  g->answer_uri = c->d.answers ? lmm_answers_uri(c->d.answers) : NULL;
  g->skip_writes = c->cfg.skip_group_mgmt;
  g->protect = c->cfg.protect;
  g->what = c->what, g->h = &conf_handlers, g->owner = c;
  lmm_err rc = lmmi_configure_start(g);
  if (rc != LMM_OK) finish(c, rc, "cannot send the TMGI request");
}

/* ----------------------------------------------------------------- unicast */

static void uni_result(void *owner, size_t k, size_t i, const lmm_member_result *r) {
  lmm_campaign *c = owner;
  (void)k;
  char text[16];
  const char *err = r->error;
  if (!err && r->err == LMM_OK && r->coap_code >> 5 != 2) {
    snprintf(text, sizeof text, "%u.%02u", r->coap_code >> 5, r->coap_code & 31);
    err = text;
  }
  lmm_outcome *o = &c->out[i];
  o->repaired = c->via != LMM_VIA_UNICAST;
  o->unicast_step = lmmi_step_of(r->err, r->coap_code);
  o->unicast_code = r->coap_code;
  free(o->unicast_error);
  o->unicast_error = o->unicast_step == LMM_STEP_OK ? NULL : dupn(err ? err : lmm_strerror(r->err));
  outcome(c, i, LMM_VIA_UNICAST, r->err, r->coap_code, r->payload, r->payload_len,
          r->content_format, r->attempts, r->latency_ms, err);
}

static void uni_done(void *owner) {
  finish(owner, LMM_OK, NULL);
}

static const lmmi_pass_handlers uni_handlers = {.on_result = uni_result, .on_done = uni_done};

/* The operation by unicast to every member still without an outcome: a unicast group's only
 * request, or the repair of a group one. */
static void unicast_pending(lmm_campaign *c, const char *what) {
  size_t *idx = malloc((c->n ? c->n : 1) * sizeof *idx), k = 0;
  if (!idx) return finish(c, LMM_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < c->n; i++)
    if (!c->out[i].done) idx[k++] = i;
  lmm_err rc = lmmi_pass_start(&c->pass, c->d.unicast, c->members, idx, k, &c->op, c->group.gm_oid,
                               &uni_handlers, c);
  free(idx);
  if (rc == LMM_ERR_NOTFOUND)
    finish(c, LMM_OK, NULL);
  else if (rc != LMM_OK)
    finish(c, rc, what);
}

/* ------------------------------------------------------------ group answers */

/* Whether a group answer with `code` is to be asked again by unicast rather than kept: a read
 * whose Accept the library chose, refused as a format the member cannot serve (4.06, or 5.00
 * as small clients answer). With repair off, the answer is what the member said. */
static bool refetch(const lmm_campaign *c, uint8_t code) {
  return !c->cfg.no_repair && c->op.accept == LMM_ACCEPT_AUTO && c->op.kind == LMM_OPK_READ &&
         (code == (4 << 5 | 6) || code == (5 << 5 | 0));
}

static bool covers(const void *owner, size_t i) {
  const lmm_campaign *c = owner;
  return lmm_member_allows(&c->members[i], &c->op.path);
}

static void answered(lmm_campaign *c) {
  if (c->n_done + c->n_refetch == c->n && c->info.state == LMM_CS_COLLECTING)
    lmmi_round_end_now(&c->round);
}

static lmmi_answer_class on_answer(void *owner, const char *ep, uint8_t code, int fmt,
                                   const uint8_t *payload, size_t len) {
  lmm_campaign *c = owner;
  size_t i = lmmi_member_index_find(&c->ix, ep, covers, c);
  if (i == SIZE_MAX) return LMMI_ANS_UNKNOWN;
  lmm_outcome *o = &c->out[i];
  if (o->done) return c->in_repair[i] ? LMMI_ANS_LATE : LMMI_ANS_DUPLICATE;
  if (c->in_repair[i]) return LMMI_ANS_LATE;
  if (o->group_step != LMM_STEP_NONE) return LMMI_ANS_DUPLICATE; /* waits for its refetch */
  o->group_step = lmmi_step_of(LMM_OK, code);
  o->group_code = code;
  if (refetch(c, code)) {
    /* It heard the request but cannot answer in the group's one Accept: the repair asks it
     * by unicast, where the engine picks its own format. */
    c->n_refetch++;
    lmmi_recorder_mark(&c->rec, i);
    answered(c);
    return LMMI_ANS_ACCEPTED;
  }
  char text[16];
  snprintf(text, sizeof text, "%u.%02u", code >> 5, code & 31);
  outcome(c, i, c->via, LMM_OK, code, payload, len, fmt, 1, now_ms(c) - c->delivered_mono,
          code >> 5 == 2 ? NULL : text);
  answered(c);
  return LMMI_ANS_ACCEPTED;
}

/* The answer window opens when the group request goes on air: now, or at its Schedule. */
static void collecting(lmm_campaign *c) {
  int64_t wall = lmm_ctx_wall_ms(c->d.ctx), on_air = c->start_s * 1000;
  int64_t ahead = on_air > wall ? on_air - wall : 0;
  c->info.delivered_ms = wall + ahead;
  c->delivered_mono = now_ms(c) + ahead;
  set_state(c, LMM_CS_COLLECTING);
  int64_t due = c->delivered_mono + c->info.window_s * 1000 + c->cfg.grace_ms;
  if (c->n_done + c->n_refetch == c->n) due = now_ms(c);
  if (lmmi_round_end_at(&c->round, due, phase_repair, c) != LMM_OK)
    finish(c, LMM_ERR_NOMEM, "cannot arm the answer window");
}

/* ------------------------------------------------------------- the delivery */

static void channel_open(void *owner, lmm_err rc, const char *why) {
  lmm_campaign *c = owner;
  if (rc != LMM_OK) return finish(c, rc, why ? why : "group message request failed");
  free(c->info.t8_transaction);
  c->info.t8_transaction = dupn(c->ch.delivery);
  if (c->pending_msg) { /* too large for the delivery's body: over its MB2-U port */
    rc = lmmi_channel_send(&c->ch, c->pending_msg, c->pending_len);
    free(c->pending_msg), c->pending_msg = NULL;
    if (rc != LMM_OK) return finish(c, rc, "cannot send the group message over MB2-U");
  }
  collecting(c);
}

static void multicast_due(void *arg) {
  lmm_campaign *c = arg;
  c->hold = NULL;
  lmm_err rc = lmmi_channel_send(&c->ch, c->pending_msg, c->pending_len);
  free(c->pending_msg), c->pending_msg = NULL;
  if (rc != LMM_OK) return finish(c, rc, "cannot send the group request to the multicast group");
  collecting(c);
}

static void send_group_request(lmm_campaign *c, uint8_t *msg, size_t len) {
  lmmi_channel *ch = &c->ch;
  ch->t8 = c->d.t8, ch->tmgi = c->info.tmgi, ch->group = &c->group, ch->via = c->via;
  ch->mcast_if = c->cfg.mcast_if;
  ch->prot = c->conf.prot.on ? &c->conf.prot : NULL;
  int64_t at_ms = lmmi_group_next_schedule_ms(&c->group, lmm_ctx_wall_ms(c->d.ctx));
  c->start_s = at_ms / 1000;
  lmm_err rc;
  if (c->via == LMM_VIA_MULTICAST) {
    rc = lmmi_channel_open(ch, NULL, 0, 0, NULL, c);
    if (rc == LMM_OK && c->start_s) { /* held until the Schedule: we are the sender */
      c->pending_msg = msg, c->pending_len = len;
      int64_t wait = at_ms - lmm_ctx_wall_ms(c->d.ctx);
      c->hold = lmmi_timer_add(c->d.ctx, now_ms(c) + (wait > 0 ? wait : 0), multicast_due, c);
      if (!c->hold) finish(c, LMM_ERR_NOMEM, "cannot arm the Schedule");
      return;
    }
    if (rc == LMM_OK) rc = lmmi_channel_send(ch, msg, len);
    free(msg);
    if (rc != LMM_OK) return finish(c, rc, "cannot send the group request to the multicast group");
    return collecting(c);
  }
  /* MBMS: the BM-SC holds the delivery until its start time. */
  bool body = len + (ch->prot ? LMMW_GP_OVERHEAD : 0) <= c->cfg.inline_max;
  rc = lmmi_channel_open(ch, body ? msg : NULL, body ? len : 0, c->start_s, channel_open, c);
  if (body)
    free(msg);
  else
    c->pending_msg = msg, c->pending_len = len;
  if (rc != LMM_OK) finish(c, rc, "cannot send the T8 group message request");
}

static void phase_deliver(lmm_campaign *c) {
  set_state(c, LMM_CS_DELIVERING);
  c->info.started_ms = c->info.started_ms ? c->info.started_ms : lmm_ctx_wall_ms(c->d.ctx);
  /* Members whose Object ID does not cover the operation are refused before anything is sent. */
  for (size_t i = 0; i < c->n; i++)
    if (!c->out[i].done && !lmm_member_allows(&c->members[i], &c->op.path))
      outcome(c, i, LMM_VIA_NONE, LMM_ERR_ARG, 0, NULL, 0, -1, 0, 0,
              "operation outside the member's Object ID");
  if (c->via == LMM_VIA_UNICAST || c->resumed_after_delivery)
    return unicast_pending(c, "cannot start the unicast operation");
  /* A resumed campaign gets its deps anew: the group request needs the answer receiver. */
  if (!c->d.answers) return finish(c, LMM_ERR_ARG, "a group request needs an answer receiver");
  lmm_err rc = lmmi_round_open(&c->round, c->d.ctx, c->d.answers, on_answer, c);
  if (rc != LMM_OK) return finish(c, rc, "cannot open the group request");
  char th[2 * LMMI_TOKEN_LEN + 1];
  lmmw_hex(c->round.token, sizeof c->round.token, th);
  free(c->info.token_hex);
  c->info.token_hex = dupn(th);
  uint8_t *msg = NULL;
  size_t len = 0;
  rc = lmmi_coap_group_request(&c->op, (uint16_t)lmmi_random_below(c->d.ctx, 65536), c->round.token,
                               &msg, &len);
  if (rc != LMM_OK) return finish(c, rc, "this operation cannot be sent to a group");
  lmmi_recorder_save_info(&c->rec, &c->info);
  send_group_request(c, msg, len);
}

/* ------------------------------------------------------------------ repair */

static void phase_repair(void *arg) {
  lmm_campaign *c = arg;
  lmmi_round_close(&c->round);
  size_t silent = 0;
  for (size_t i = 0; i < c->n; i++) {
    lmm_outcome *o = &c->out[i];
    if (o->done) continue;
    silent++;
    /* Still without an answer when the window closed (a resumed campaign's members heard the
     * request before the crash: whether they answered is not known). */
    if (!c->resumed_after_delivery && c->via != LMM_VIA_UNICAST && o->group_step == LMM_STEP_NONE) {
      o->group_step = LMM_STEP_SILENT;
      lmmi_recorder_mark(&c->rec, i);
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
  unicast_pending(c, "cannot start the unicast repair");
}

/* ---------------------------------------------------------------- the end */

static void finish(lmm_campaign *c, lmm_err rc, const char *why) {
  if (c->closing) return;
  c->closing = true;
  c->result = rc;
  lmmi_round_close(&c->round);
  lmmi_channel_stop(&c->ch);
  lmmi_configure_stop(&c->conf);
  if (c->hold) lmmi_timer_cancel(c->d.ctx, c->hold), c->hold = NULL;
  if (rc != LMM_OK) {
    free(c->info.error);
    c->info.error = dupn(why ? why : lmm_strerror(rc));
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "%s failed: %s", c->what, c->info.error);
  }
  /* A resumed campaign did not configure: its TMGI is the one its row names. */
  if (!c->conf.tmgi && c->info.tmgi) c->conf.tmgi = dupn(c->info.tmgi);
  lmm_tmgi_end end;
  if (lmmi_configure_release(&c->conf, &end)) return; /* conf_released() follows */
  if (end != LMM_TMGI_END_NONE) c->info.tmgi_end = end;
  finished(c);
}

LMM_API lmm_err lmm_campaign_start(lmm_campaign *c) {
  if (!c) return LMM_ERR_ARG;
  if (c->started) return LMM_ERR_STATE;
  c->started = true;
  if (c->resumed_after_delivery)
    phase_deliver(c);
  else
    phase_configure(c);
  return LMM_OK;
}

LMM_API bool lmm_campaign_t8_notified(lmm_campaign *c, const char *transaction, bool delivered) {
  if (!c || !transaction || !c->info.t8_transaction) return false;
  const char *a = strstr(c->info.t8_transaction, LMM_T8_BASE_PATH);
  const char *b = strstr(transaction, LMM_T8_BASE_PATH);
  if (!a || !b || strcmp(a, b)) return false;
  c->info.t8_status = delivered;
  lmmi_recorder_save_info(&c->rec, &c->info);
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
