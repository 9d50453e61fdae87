/* fw_update.c - a firmware campaign's unicast passes (status reads, repair writes, Executes),
 * the update (a first wave by unicast and its thresholds, then the group), the results
 * (a group status round, then polling), and the unicast path (firmware jobs, wave by wave). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_internal.h"

static void results_round(lmm_fwc *c);

static void pass_prepare(void *owner, size_t k, size_t i, lmm_op *op) {
  lmm_fwc *c = owner;
  (void)i;
  if (c->bkind != B_FRAG) return;
  item *it = &c->items[k];
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmmw_blob_query(&c->desc, (long)it->frag, true, q, sizeof q);
  free(it->query);
  it->query = strdup(q);
  op->query = it->query ? it->query : "";
  op->payload = lmmi_fwc_frag_data(c, it->frag);
  op->len = lmmw_blob_frag_len(&c->desc, it->frag);
}

static void pass_result(void *owner, size_t k, size_t i, const lmm_member_result *r) {
  lmm_fwc *c = owner;
  item *it = &c->items[k];
  free(it->query), it->query = NULL;
  if (c->rep[i].end != LMM_FWC_PENDING) return;
  bool ok = r->err == LMM_OK && r->coap_code >> 5 == 2;
  char text[200];
  if (r->err == LMM_OK && lmm_code_is_refusal(r->coap_code)) {
    /* Its Access Control denies the server this step: the member's decision, not a fault. */
    snprintf(text, sizeof text, "%s refused %u.%02u%s%s",
             c->bkind == B_FRAG   ? "repair PUT /5/0/0"
             : c->bkind == B_EXEC ? "Execute /5/0/2"
                                  : "status GET /5/0/3",
             r->coap_code >> 5, r->coap_code & 31, r->error ? ": " : "", r->error ? r->error : "");
    lmmi_fwc_end_member(c, i, LMM_FWC_REFUSED, LMM_ERR_COAP, text);
    return;
  }
  if (!ok)
    snprintf(text, sizeof text, "%s: %s",
             c->bkind == B_FRAG   ? "repair PUT /5/0/0"
             : c->bkind == B_EXEC ? "Execute /5/0/2"
                                  : "status GET /5/0/3",
             r->error ? r->error : lmm_strerror(r->err));
  switch (c->bkind) {
  case B_FRAG:
    if (ok) {
      size_t n = lmmw_blob_frag_len(&c->desc, it->frag);
      c->rep[i].fragments_repaired++;
      c->rep[i].bytes_unicast += n;
      c->st.bytes_unicast += n;
      c->st.unicast_repairs++;
    } else if (r->err != LMM_OK) {
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, r->err, text);
    }
    break;
  case B_EXEC:
    if (ok) {
      c->m[i].executing = true;
      c->m[i].deadline = fw_now_ms(c) + c->cfg.update_deadline_ms;
    } else {
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, r->err == LMM_OK ? LMM_ERR_COAP : r->err, text);
    }
    break;
  default: /* B_STATUS */
    if (!ok) {
      /* While waiting for an update a device may be rebooting: only the deadline ends it. */
      if (c->step == S_POLL && fw_now_ms(c) < c->m[i].deadline) break;
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, r->err == LMM_OK ? LMM_ERR_COAP : r->err, text);
      break;
    }
    c->m[i].answered = true;
    lmmi_fwc_apply_status(c, i, r->payload, r->payload_len, c->step == S_POLL, true);
    break;
  }
}

/* Frees the unicast pass's items (the pass itself is over or stopped). */
void lmmi_fwc_drop_items(lmm_fwc *c) {
  for (size_t k = 0; k < c->n_items; k++)
    free(c->items[k].query);
  free(c->items), c->items = NULL;
  c->n_items = 0;
}

static void pass_done(void *owner) {
  lmm_fwc *c = owner;
  lmmi_fwc_drop_items(c);
  lmmi_fwc_after_batch(c, c->step);
}

static const lmmi_pass_handlers pass_handlers = {
    .prepare = pass_prepare, .on_result = pass_result, .on_done = pass_done};

/* Starts the unicast pass over `items` (owned). LMM_ERR_NOTFOUND (and items freed) for none. */
lmm_err lmmi_fwc_start_items(lmm_fwc *c, pass_kind kind, item *items, size_t n) {
  size_t *idx = n ? malloc(n * sizeof *idx) : NULL;
  if (!n || !idx) {
    free(items);
    return n ? LMM_ERR_NOMEM : LMM_ERR_NOTFOUND;
  }
  for (size_t k = 0; k < n; k++) {
    idx[k] = items[k].m;
    if (kind == B_EXEC) lmmi_fwc_ask_update(c, items[k].m);
  }
  if (kind == B_EXEC && !lmmi_fwc_update_recorded(c)) {
    free(items), free(idx);
    return LMM_ERR_DB;
  }
  c->items = items, c->n_items = n, c->bkind = kind;
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .depth = 3};
  if (kind == B_STATUS) {
    op.kind = LMM_OPK_READ, op.path.rid = 3, op.query = c->status_q;
  } else if (kind == B_EXEC) {
    op.kind = LMM_OPK_EXECUTE, op.path.rid = 2, op.query = c->exec_q;
  } else {
    op.kind = LMM_OPK_WRITE, op.path.rid = 0, op.format = LMM_FMT_OPAQUE;
  }
  lmm_err rc =
      lmmi_pass_start(&c->pass, c->d.unicast, c->members, idx, n, &op, 0xFFFF, &pass_handlers, c);
  free(idx);
  if (rc != LMM_OK) lmmi_fwc_drop_items(c);
  return rc;
}

/* Items for the pending members that `pick` selects. */
item *lmmi_fwc_pick_items(lmm_fwc *c, bool (*pick)(const lmm_fwc *, size_t), size_t *n) {
  item *it = calloc(c->n ? c->n : 1, sizeof *it);
  *n = 0;
  if (!it) return NULL;
  for (size_t i = 0; i < c->n; i++)
    if (c->rep[i].end == LMM_FWC_PENDING && pick(c, i)) it[(*n)++] = (item){.m = i};
  return it;
}

static bool pick_wave_exec(const lmm_fwc *c, size_t i) {
  return c->m[i].wave && c->m[i].downloaded && !c->m[i].executing;
}

void lmmi_fwc_update_start(lmm_fwc *c) {
  if (c->cancel_req) return;
  size_t cand = 0, k = 0;
  for (size_t i = 0; i < c->n; i++) {
    c->m[i].in_play = false;
    cand += c->rep[i].end == LMM_FWC_PENDING && c->m[i].downloaded;
    k += c->rep[i].wave; /* a resumed campaign keeps the wave it chose */
  }
  if (!cand) return lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  size_t w = c->cfg.wave_count;
  if (!w && c->cfg.wave_percent > 0) {
    w = (size_t)((double)c->n * c->cfg.wave_percent / 100.0 + 0.999999);
    if (!w) w = 1;
  }
  if (w && !c->wave_done) {
    for (size_t i = 0; i < c->n && k < w; i++)
      if (c->rep[i].end == LMM_FWC_PENDING && c->m[i].downloaded && !c->rep[i].wave)
        c->m[i].wave = c->rep[i].wave = true, k++;
    lmmi_fwc_set_phase(c, LMM_FWC_P_WAVE);
    c->step = S_WAVE_EXEC;
    size_t n;
    item *it = lmmi_fwc_pick_items(c, pick_wave_exec, &n);
    if (!it) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
    lmm_err rc = lmmi_fwc_start_items(c, B_EXEC, it, n);
    if (rc == LMM_ERR_NOTFOUND) return lmmi_fwc_after_batch(c, S_WAVE_EXEC);
    if (rc != LMM_OK) lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start the first wave");
    return;
  }
  lmmi_fwc_set_phase(c, LMM_FWC_P_UPDATING);
  /* Members already updating (a resumed campaign asked them before) are not asked again. */
  for (size_t i = 0; i < c->n; i++) {
    fwm *m = &c->m[i];
    m->in_play = c->rep[i].end == LMM_FWC_PENDING && m->downloaded && !m->wave && !m->executing;
    if (m->in_play) lmmi_fwc_ask_update(c, i);
  }
  if (!lmmi_fwc_update_recorded(c)) return;
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_EXECUTE;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 2, .depth = 3};
  op.query = c->exec_q;
  lmmi_fwc_group_round(c, S_EXEC, &op);
}

static void wait_over(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  results_round(c);
}

/* The results of the members updating: one group status round, then unicast polling. For the
 * first wave (updated by unicast) the polling alone. */
static void results_round(lmm_fwc *c) {
  for (size_t i = 0; i < c->n; i++)
    c->m[i].in_play = c->rep[i].end == LMM_FWC_PENDING && c->m[i].executing;
  if (c->step == S_WAIT_UPDATE && !c->wave_done && c->st.phase == LMM_FWC_P_WAVE) {
    c->step = S_POLL;
    return lmmi_fwc_poll_round(c);
  }
  lmm_op op;
  lmmi_fwc_status_op(c, &op);
  lmmi_fwc_group_round(c, S_RESULTS, &op);
}

static bool pick_poll(const lmm_fwc *c, size_t i) {
  return c->m[i].executing;
}

static void poll_fire(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  lmmi_fwc_poll_round(c);
}

void lmmi_fwc_poll_round(lmm_fwc *c) {
  c->step = S_POLL;
  int64_t now = fw_now_ms(c);
  for (size_t i = 0; i < c->n; i++)
    if (c->rep[i].end == LMM_FWC_PENDING && c->m[i].executing && now > c->m[i].deadline) {
      char text[100];
      snprintf(text, sizeof text, "no Update Result within %ld ms", c->cfg.update_deadline_ms);
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_TIMEOUT, text);
    }
  size_t n;
  item *it = lmmi_fwc_pick_items(c, pick_poll, &n);
  if (!it) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  lmm_err rc = lmmi_fwc_start_items(c, B_STATUS, it, n);
  if (rc == LMM_ERR_NOTFOUND) return lmmi_fwc_after_batch(c, S_END);
  if (rc != LMM_OK) lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start the result polling");
}

/* The first wave is over: go on or stop by the thresholds. */
static void wave_verdict(lmm_fwc *c) {
  size_t w = 0, ok = 0, bad = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!c->rep[i].wave) continue;
    w++;
    ok += c->rep[i].end == LMM_FWC_UPDATED;
    bad += c->rep[i].end == LMM_FWC_FAILED;
  }
  c->wave_done = true;
  double succ = w ? (double)ok / (double)w : 1.0, err = w ? (double)bad / (double)w : 0.0;
  lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: first wave %zu of %zu updated",
           (long long)c->id, ok, w);
  if (succ + 1e-9 < c->cfg.success_threshold || err > c->cfg.error_threshold + 1e-9) {
    char text[200];
    snprintf(text, sizeof text,
             "held: the first wave had %zu of %zu updated and %zu failed (success threshold "
             "%.0f%%, error threshold %.0f%%)",
             ok, w, bad, c->cfg.success_threshold * 100, c->cfg.error_threshold * 100);
    for (size_t i = 0; i < c->n; i++)
      if (c->rep[i].end == LMM_FWC_PENDING) lmmi_fwc_end_member(c, i, LMM_FWC_HELD, LMM_OK, text);
    return lmmi_fwc_finish(c, LMM_FWC_P_STOPPED, LMM_OK, text);
  }
  if (c->via == LMM_VIA_UNICAST) return lmmi_fwc_uni_next(c);
  lmmi_fwc_update_start(c);
}

void lmmi_fwc_after_batch(lmm_fwc *c, step was) {
  if (c->cancel_req || c->closing) return;
  switch (was) {
  case S_STATUS_UNI:
    return lmmi_fwc_repair_plan(c);
  case S_REPAIR:
    c->repair_uni_busy = false;
    if (!c->repair_mcast_busy) lmmi_fwc_status_round(c);
    return;
  case S_WAVE_EXEC:
  case S_EXEC_UNI:
    c->step = S_WAIT_UPDATE;
    return lmmi_fwc_set_timer(c, fw_now_ms(c) + c->cfg.update_wait_ms, wait_over);
  case S_POLL:
  case S_END: {
    bool left = false;
    for (size_t i = 0; i < c->n; i++)
      left |= c->rep[i].end == LMM_FWC_PENDING && c->m[i].executing;
    if (left) return lmmi_fwc_set_timer(c, fw_now_ms(c) + POLL_INTERVAL_MS, poll_fire);
    if (c->st.phase == LMM_FWC_P_WAVE) return wave_verdict(c);
    /* Members that downloaded but were never updated (none expected) end here. */
    for (size_t i = 0; i < c->n; i++)
      if (c->rep[i].end == LMM_FWC_PENDING)
        lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_STATE, "not updated");
    return lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  }
  default:
    return;
  }
}

static void job_member(void *user, const lmm_fw_report *r) {
  lmm_fwc *c = user;
  size_t i = c->job_map[r->index];
  lmm_fwc_member *m = &c->rep[i];
  m->via = LMM_VIA_UNICAST;
  m->pulled = r->pulled;
  m->bytes_unicast = r->bytes_written;
  c->st.bytes_unicast += r->bytes_written;
  m->update_result = r->update_result;
  m->state = r->state;
  free(c->m[i].pkg_version);
  c->m[i].pkg_version = fw_dupn(r->pkg_version);
  m->pkg_version = c->m[i].pkg_version;
  if (r->ok) {
    lmmi_fwc_end_member(c, i, LMM_FWC_UPDATED, LMM_OK, NULL);
  } else if (lmm_code_is_refusal(r->coap_code)) { /* its Access Control said no */
    lmmi_fwc_end_member(c, i, LMM_FWC_REFUSED, r->err == LMM_OK ? LMM_ERR_COAP : r->err,
                        r->error ? r->error : "refused");
  } else {
    char text[240];
    if (r->update_result > 1 && r->err == LMM_OK)
      snprintf(text, sizeof text, "Update Result %d: %s", r->update_result,
               lmm_fw_update_result_text(r->update_result));
    else
      snprintf(text, sizeof text, "%s", r->error ? r->error : lmm_strerror(r->err));
    lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, r->err, text);
  }
}

static void job_done(void *user, lmm_fw_job *j, lmm_err result) {
  lmm_fwc *c = user;
  (void)result;
  lmm_fw_free(j);
  c->job = NULL;
  free(c->job_map), c->job_map = NULL;
  if (c->cancel_req) return;
  if (c->st.phase == LMM_FWC_P_WAVE) return wave_verdict(c);
  lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
}

static const lmm_fw_handlers job_handlers = {job_member, job_done};

/* The job's Executes are about to leave: their write-ahead flag goes to the store first
 * (lmmi_fwc_ask_update), so that a resume never asks a member twice. A store that refuses
 * holds them back: the job fails those members, and the campaign goes on with the others. */
static lmm_err job_before_execute(void *user, const size_t *idx, size_t n) {
  lmm_fwc *c = user;
  for (size_t k = 0; k < n; k++)
    lmmi_fwc_ask_update(c, c->job_map[idx[k]]);
  return lmmi_recorder_flush(&c->rec) ? LMM_OK : LMM_ERR_DB;
}

/* Runs a firmware job over the pending members: the first wave's, or all the rest. */
void lmmi_fwc_uni_next(lmm_fwc *c) {
  size_t w = c->cfg.wave_count;
  if (!w && c->cfg.wave_percent > 0)
    w = (size_t)((double)c->n * c->cfg.wave_percent / 100.0 + 0.999999);
  bool wave = w && !c->wave_done;
  /* A resumed campaign keeps the wave it chose: only its pending members run again. */
  size_t chosen = 0, left = 0;
  for (size_t i = 0; i < c->n; i++) {
    chosen += c->rep[i].wave;
    left += c->rep[i].wave && c->rep[i].end == LMM_FWC_PENDING;
  }
  if (wave && chosen && !left) return wave_verdict(c);
  lmm_member *sub = calloc(c->n ? c->n : 1, sizeof *sub);
  c->job_map = calloc(c->n ? c->n : 1, sizeof *c->job_map);
  if (!sub || !c->job_map) {
    free(sub);
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < c->n && (!wave || chosen || k < w); i++)
    if (c->rep[i].end == LMM_FWC_PENDING && (!wave || !chosen || c->rep[i].wave)) {
      if (wave) c->rep[i].wave = c->m[i].wave = true;
      sub[k] = c->members[i], c->job_map[k++] = i;
    }
  if (!k) {
    free(sub);
    return lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  }
  lmmi_fwc_set_phase(c, wave ? LMM_FWC_P_WAVE : LMM_FWC_P_UPDATING);
  c->step = S_UNI_JOB;
  lmm_fw_config fc = LMM_FW_CONFIG_DEFAULT;
  fc.update_deadline_ms = c->cfg.update_deadline_ms;
  fc.delivery = c->cfg.method == LMM_FWC_PULL   ? LMM_FW_PULL
                : c->cfg.method == LMM_FWC_AUTO ? LMM_FW_AUTO
                                                : LMM_FW_PUSH;
  fc.prefer_push = true;
  fc.expect_version = c->expect_version;
  fc.before_execute = job_before_execute;
  if (fc.delivery != LMM_FW_PUSH) fc.server = c->d.blobs;
  lmm_err rc =
      lmm_fw_new(c->d.ctx, c->d.unicast, &fc, sub, k, c->image, c->len, &job_handlers, c, &c->job);
  free(sub); /* the job copies */
  /* After a stop any member may hold the package, or have been asked its update: the job
   * reads their State before it sends anything. */
  for (size_t x = 0; rc == LMM_OK && c->resumed && x < k; x++)
    rc = lmm_fw_resume_member(c->job, x, c->rep[c->job_map[x]].update_asked);
  if (rc == LMM_OK) rc = lmm_fw_start(c->job);
  if (rc != LMM_OK)
    lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start the unicast firmware job");
}
