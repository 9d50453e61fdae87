/* fw_rounds.c - a firmware campaign's status rounds: the group request and the answers, the
 * silent members asked by unicast, each member's missing fragments, and the repair plan
 * (fragments missed by many go to the group again, the rest by unicast). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_internal.h"

static void round_over(void *owner);

static bool allowed(const void *owner, size_t i) {
  return ((const lmm_fwc *)owner)->m[i].allowed;
}

static lmmi_answer_class on_answer(void *owner, const char *ep, uint8_t code, int fmt,
                                   const uint8_t *payload, size_t len) {
  lmm_fwc *c = owner;
  (void)fmt;
  size_t i = lmmi_member_index_find(&c->ix, ep, allowed, c);
  if (i == SIZE_MAX) return LMMI_ANS_UNKNOWN;
  fwm *m = &c->m[i];
  if (!m->in_play || m->answered) return LMMI_ANS_DUPLICATE;
  m->answered = true;
  c->n_answered++;
  if (c->step == S_EXEC) {
    if (code >> 5 == 2) {
      m->executing = true;
      m->deadline = fw_now_ms(c) + c->cfg.update_deadline_ms;
    } else {
      char text[80];
      bool refused = lmm_code_is_refusal(code);
      snprintf(text, sizeof text, "the update request was %s %u.%02u",
               refused ? "refused" : "answered", code >> 5, code & 31);
      lmmi_fwc_end_member(c, i, refused ? LMM_FWC_REFUSED : LMM_FWC_FAILED, LMM_ERR_COAP, text);
    }
  } else if (lmm_code_is_refusal(code)) {
    char text[80];
    snprintf(text, sizeof text, "the status request was refused %u.%02u", code >> 5, code & 31);
    lmmi_fwc_end_member(c, i, LMM_FWC_REFUSED, LMM_ERR_COAP, text);
  } else if (code >> 5 != 2 ||
             !lmmi_fwc_apply_status(c, i, payload, len, c->step == S_RESULTS, false)) {
    m->answered = false; /* asked again by unicast */
    c->n_answered--;
  }
  if (c->n_answered >= c->n_in_play) lmmi_round_end_now(&c->round);
  return LMMI_ANS_ACCEPTED;
}

/* A status text from member i, in the download rounds or (results) after the update. An
 * unreadable one from the group path is asked again by unicast (false); from unicast it is
 * the member's last word, and fails it. */
bool lmmi_fwc_apply_status(lmm_fwc *c, size_t i, const uint8_t *p, size_t len, bool results,
                           bool last_word) {
  lmmw_blob_status s;
  char why[160];
  fwm *m = &c->m[i];
  lmm_fwc_member *r = &c->rep[i];
  if (lmmw_blob_status_parse(p, len, &s, why, sizeof why) != LMM_OK) {
    char text[220];
    snprintf(text, sizeof text, "unreadable status: %s", why);
    lmmi_log(c->d.ctx, LMM_LOG_WARN, "firmware campaign %lld: %s: %s", (long long)c->id,
             c->members[i].ep, text);
    if (last_word) lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_PROTO, text);
    return false;
  }
  r->state = s.state, r->update_result = s.result;
  if (m->exec_unsure) {
    /* Resumed after its update was asked: Updating, or Idle with a result, means the Execute
     * ran; Downloaded or less means it never did, and it may be asked (once more) later. */
    m->exec_unsure = false;
    if (s.state != 3 && !(s.state == 0 && s.result != 0)) m->executing = false;
  }
  if (s.state == 0 && s.result == 1 && (results || m->executing)) {
    lmmi_fwc_end_member(c, i, LMM_FWC_UPDATED, LMM_OK, NULL);
  } else if (s.state == 0 && s.result >= 2) {
    char text[160];
    snprintf(text, sizeof text, "Update Result %d: %s", s.result,
             lmm_fw_update_result_text(s.result));
    lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_OK, text);
  } else if (results) {
    /* Still Updating, or not started yet: the polling goes on until the deadline. */
  } else if (s.state == 2 || s.state == 3) {
    m->downloaded = true;
    free(m->missing), m->missing = NULL;
    free(m->need), m->need = NULL;
    m->n_missing = 0;
  } else {
    if (!m->missing) m->missing = calloc((c->k + 7) / 8, 1);
    if (!m->missing) {
      lmmw_blob_status_clear(&s);
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_NOMEM, "out of memory");
      return true;
    }
    memset(m->missing, 0, (c->k + 7) / 8);
    if (s.n_ranges == 0) { /* nothing listed and nothing downloaded: everything */
      for (uint32_t f = 0; f < c->k; f++)
        lmmw_bit_set(m->missing, f);
    } else {
      lmmw_blob_status_mark(&s, m->missing, c->k);
    }
    uint32_t n = 0;
    for (uint32_t f = 0; f < c->k; f++)
      n += lmmw_bit(m->missing, f);
    m->n_missing = n;
    if (c->nb) lmmi_fwc_fec_needs(c, i, &s);
    if (c->st.rounds == 1 && !r->missed_first) r->missed_first = n;
  }
  lmmw_blob_status_clear(&s);
  return true;
}

/* Opens a group request with a fresh token for the members in play. */
static lmm_err open_round(lmm_fwc *c) {
  c->n_answered = 0;
  for (size_t i = 0; i < c->n; i++)
    c->m[i].answered = false;
  return lmmi_round_open(&c->round, c->d.ctx, c->d.answers, on_answer, c);
}

void lmmi_fwc_close_round(lmm_fwc *c) {
  lmmi_round_close(&c->round);
}

static bool pick_silent(const lmm_fwc *c, size_t i) {
  return c->m[i].in_play && !c->m[i].answered;
}

static void round_over(void *owner) {
  lmm_fwc *c = owner;
  lmmi_fwc_close_round(c);
  size_t n;
  item *it = lmmi_fwc_pick_items(c, pick_silent, &n);
  if (!it) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  step next = c->step == S_STATUS ? S_STATUS_UNI : c->step == S_EXEC ? S_EXEC_UNI : S_POLL;
  c->step = next;
  if (next == S_POLL) { /* the results round's silent members join the polling */
    free(it);
    return lmmi_fwc_poll_round(c);
  }
  lmm_err rc = lmmi_fwc_start_items(c, next == S_EXEC_UNI ? B_EXEC : B_STATUS, it, n);
  if (rc == LMM_ERR_NOTFOUND) return lmmi_fwc_after_batch(c, next);
  if (rc != LMM_OK) lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start a unicast batch");
}

/* Sends one group request (status or update) to the members in play and waits the window. */
void lmmi_fwc_group_round(lmm_fwc *c, step s, const lmm_op *op) {
  c->step = s;
  c->n_in_play = 0;
  for (size_t i = 0; i < c->n; i++)
    c->n_in_play += c->m[i].in_play;
  if (!c->n_in_play)
    return lmmi_fwc_after_batch(c, s == S_STATUS ? S_STATUS_UNI
                                   : s == S_EXEC ? S_EXEC_UNI
                                                 : S_POLL);
  lmm_err rc = open_round(c);
  if (rc == LMM_OK) rc = lmmi_fwc_send_op(c, op, c->round.token);
  if (rc != LMM_OK) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot send a group request");
  if (lmmi_round_end_at(&c->round, fw_now_ms(c) + c->window_ms + c->cfg.grace_ms, round_over, c) !=
      LMM_OK)
    lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "cannot arm the answer window");
}

void lmmi_fwc_status_op(const lmm_fwc *c, lmm_op *op) {
  *op = (lmm_op)LMM_OP_INIT;
  op->kind = LMM_OPK_READ;
  op->path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 3, .depth = 3};
  op->query = c->status_q;
}

void lmmi_fwc_status_round(lmm_fwc *c) {
  if (c->cancel_req) return;
  for (size_t i = 0; i < c->n; i++)
    c->m[i].in_play = c->rep[i].end == LMM_FWC_PENDING && c->m[i].allowed && !c->m[i].downloaded;
  c->st.rounds++;
  lmmi_fwc_set_phase(c, LMM_FWC_P_STATUS);
  lmm_op op;
  lmmi_fwc_status_op(c, &op);
  lmmi_fwc_group_round(c, S_STATUS, &op);
}

void lmmi_fwc_queue_done(lmm_fwc *c) {
  if (c->step == S_SEND) return lmmi_fwc_status_round(c);
  c->repair_mcast_busy = false; /* S_REPAIR */
  if (!c->repair_uni_busy) lmmi_fwc_status_round(c);
}

/* Which data fragments go to the group again, and which to single members. */
void lmmi_fwc_repair_plan(lmm_fwc *c) {
  if (c->cancel_req) return;
  bool any = false;
  for (size_t i = 0; i < c->n; i++)
    any |= c->rep[i].end == LMM_FWC_PENDING && c->m[i].allowed && !c->m[i].downloaded;
  if (!any) return lmmi_fwc_update_start(c);
  uint32_t rounds = c->st.rounds - c->round_base; /* this run's: a resume starts afresh */
  if (rounds >= (uint32_t)c->cfg.max_rounds) {
    for (size_t i = 0; i < c->n; i++)
      if (c->rep[i].end == LMM_FWC_PENDING && c->m[i].allowed && !c->m[i].downloaded) {
        char text[120];
        snprintf(text, sizeof text, "still missing %u fragments after %d rounds", c->m[i].n_missing,
                 c->cfg.max_rounds);
        lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_TIMEOUT, text);
      }
    return lmmi_fwc_update_start(c);
  }
  /* The last repair before the last status round goes all by unicast: a multicast repair is
   * as lossy as the first pass, a unicast one is acknowledged. */
  uint32_t mcast_min = rounds + 1 >= (uint32_t)c->cfg.max_rounds
                           ? UINT32_MAX
                           : (c->cfg.repair_multicast_min ? c->cfg.repair_multicast_min : 1);
  if (c->nb && mcast_min != UINT32_MAX) return lmmi_fwc_fec_repair(c);
  uint32_t *count = calloc(c->k ? c->k : 1, sizeof *count);
  if (!count) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  size_t n_pairs = 0;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing) continue;
    for (uint32_t f = 0; f < c->k; f++)
      if (lmmw_bit(m->missing, f)) count[f]++;
  }
  uint32_t *mq = malloc((c->k ? c->k : 1) * sizeof *mq);
  size_t n_mq = 0;
  if (!mq) {
    free(count);
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  }
  for (uint32_t f = 0; f < c->k; f++) {
    if (!count[f]) continue;
    if (count[f] >= mcast_min)
      mq[n_mq++] = f;
    else
      n_pairs += count[f];
  }
  item *it = n_pairs ? calloc(n_pairs, sizeof *it) : NULL;
  if (n_pairs && !it) {
    free(count), free(mq);
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing) continue;
    for (uint32_t f = 0; f < c->k; f++)
      if (lmmw_bit(m->missing, f) && count[f] < mcast_min) it[k++] = (item){.m = i, .frag = f};
  }
  free(count);
  lmmi_fwc_repair_run(c, it, n_pairs, mq, n_mq);
}

void lmmi_fwc_repair_run(lmm_fwc *c, item *it, size_t n_pairs, uint32_t *mq, size_t n_mq) {
  if (n_mq || n_pairs) c->st.repair_rounds++;
  lmmi_fwc_set_phase(c, LMM_FWC_P_REPAIRING);
  c->step = S_REPAIR;
  c->st.multicast_repairs += (uint32_t)n_mq;
  c->repair_mcast_busy = n_mq > 0;
  c->repair_uni_busy = n_pairs > 0;
  if (n_pairs) {
    lmm_err rc = lmmi_fwc_start_items(c, B_FRAG, it, n_pairs);
    if (rc != LMM_OK) {
      free(mq);
      return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start the unicast repair");
    }
  }
  if (n_mq)
    lmmi_fwc_pace_start(c, mq, n_mq);
  else
    free(mq);
  if (!n_mq && !n_pairs) lmmi_fwc_status_round(c); /* members that listed nothing: ask again */
}
