/* fw_unicast_rounds.c - the unicast firmware job's driver: one batch per kind of request, the
 * polling rounds that start them (one batch per round and kind, not one timer per member), the
 * writes, and each member's outcome once it is known. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_unicast_internal.h"

/* ------------------------------------------------------------------ outcomes */

static void set_error(lmm_fw_job *j, size_t i, const char *text) {
  free(j->m[i].error);
  j->m[i].error = text ? strdup(text) : NULL;
  /* Without memory for the text, the report still says that it failed. */
  j->rep[i].error = j->m[i].error ? j->m[i].error : (text ? lmm_strerror(LMM_ERR_NOMEM) : NULL);
}

/* Records member i's outcome (once) and reports it. */
void lmmi_fwj_finalize(lmm_fw_job *j, size_t i, lmm_err err, bool ok, const char *error) {
  fw_member *m = &j->m[i];
  lmm_fw_report *r = &j->rep[i];
  if (m->st == M_FINAL) return;
  m->st = M_FINAL;
  j->n_final++;
  r->final = true, r->ok = ok, r->err = err;
  if (r->stage != LMM_FW_STAGE_NONE) r->elapsed_ms = lmmi_fwj_now(j) - m->t0;
  set_error(j, i, ok ? NULL : error);
  if (!ok)
    lmmi_log(j->ctx, LMM_LOG_DEBUG, "firmware: %s failed at stage %d: %s", j->members[i].ep,
             (int)r->stage, r->error);
  if (j->h && j->h->on_member) j->h->on_member(j->user, r);
}

static bool batch_running(const lmm_fw_job *j) {
  for (int k = 0; k < K_COUNT; k++)
    if (j->bt[k].b) return true;
  return false;
}

/* on_done once every member has its outcome and nothing is in flight. Callers return at once
 * afterwards: the handler may free the job. */
void lmmi_fwj_check_done(lmm_fw_job *j) {
  if (j->finished || j->n_final < j->n || batch_running(j) || j->round_pending) return;
  j->finished = true;
  if (j->timer) lmmi_timer_cancel(j->ctx, j->timer), j->timer = NULL;
  if (j->send_timer) lmmi_timer_cancel(j->ctx, j->send_timer), j->send_timer = NULL;
  size_t ok = 0;
  for (size_t i = 0; i < j->n; i++)
    ok += j->rep[i].ok;
  lmmi_log(j->ctx, LMM_LOG_INFO, "firmware: %zu of %zu members updated", ok, j->n);
  if (j->h && j->h->on_done) j->h->on_done(j->user, j, j->result);
}

void lmmi_fwj_drop_batch(fw_batch *fb) {
  if (fb->b) lmm_batch_free(fb->b);
  fb->b = NULL;
  free(fb->sub), fb->sub = NULL;
  free(fb->map), fb->map = NULL;
}

/* The job cannot go on: every member still running fails with `rc`. Only from a timer
 * callback (never inside a batch's own callback, as it frees the batches). */
void lmmi_fwj_abort(lmm_fw_job *j, lmm_err rc, const char *why) {
  for (int k = 0; k < K_COUNT; k++)
    lmmi_fwj_drop_batch(&j->bt[k]);
  j->round_pending = 0;
  if (j->timer) lmmi_timer_cancel(j->ctx, j->timer), j->timer = NULL;
  if (j->send_timer) lmmi_timer_cancel(j->ctx, j->send_timer), j->send_timer = NULL;
  j->result = rc;
  lmmi_log(j->ctx, LMM_LOG_ERROR, "firmware: %s: %s", why, lmm_strerror(rc));
  for (size_t i = 0; i < j->n; i++)
    lmmi_fwj_finalize(j, i, rc, false, why);
  lmmi_fwj_check_done(j);
}

/* --------------------------------------------------------------- the rounds */

static void round_fire(void *arg);

/* Arms the next polling round unless one runs or is armed already (its end re-arms). */
void lmmi_fwj_arm_round(lmm_fw_job *j, int64_t due) {
  if (j->round_pending || j->timer || j->finished) return;
  j->timer = lmmi_timer_add(j->ctx, due, round_fire, j);
  /* Without a timer nothing would drive the polling: fail now rather than hang. */
  if (!j->timer) {
    j->result = LMM_ERR_NOMEM;
    for (size_t i = 0; i < j->n; i++)
      if (j->m[i].st != M_FINAL && j->m[i].st != M_WRITE)
        lmmi_fwj_finalize(j, i, LMM_ERR_NOMEM, false, "cannot arm the polling round");
  }
}

static void after_round(lmm_fw_job *j) {
  bool now = false, poll = false;
  for (size_t i = 0; i < j->n; i++) {
    mstate s = j->m[i].st;
    now |= s == M_EXEC || s == M_RESULT || s == M_VERSION;
    poll |= s == M_WAIT_DL || s == M_WAIT_UPD;
  }
  if (now || poll)
    lmmi_fwj_arm_round(j, now ? lmmi_fwj_now(j) : lmmi_fwj_now(j) + j->cfg.poll_interval_ms);
}

static void batch_done(void *user, lmm_batch *b);
static const lmm_batch_handlers fw_handlers = {NULL, lmmi_fwj_batch_member, NULL, batch_done};

/* Starts a batch of `kind` over the members in state `want`. LMM_ERR_NOTFOUND when none. */
lmm_err lmmi_fwj_start_kind(lmm_fw_job *j, int kind, mstate want, mstate want2) {
  fw_batch *fb = &j->bt[kind];
  size_t k = 0;
  for (size_t i = 0; i < j->n; i++)
    k += j->m[i].st == want || j->m[i].st == want2;
  if (!k) return LMM_ERR_NOTFOUND;
  fb->j = j, fb->kind = kind;
  fb->sub = calloc(k, sizeof *fb->sub);
  fb->map = calloc(k, sizeof *fb->map);
  if (!fb->sub || !fb->map) {
    lmmi_fwj_drop_batch(fb);
    return LMM_ERR_NOMEM;
  }
  k = 0;
  for (size_t i = 0; i < j->n; i++)
    if (j->m[i].st == want || j->m[i].st == want2) fb->sub[k] = j->members[i], fb->map[k++] = i;
  static const uint16_t rid[K_COUNT] = {RID_PACKAGE, RID_URI,    RID_DELIVERY,    RID_STATE,
                                        RID_RESULT,  RID_UPDATE, RID_PKG_VERSION, RID_STATE};
  /* Write-ahead: the host records that the update is asked before it can reach anyone, so
   * that a resume after a crash knows whom it may have reached. */
  lmm_err held =
      kind == K_EXEC && j->cfg.before_execute ? j->cfg.before_execute(j->user, fb->map, k) : LMM_OK;
  if (held != LMM_OK) {
    for (size_t x = 0; x < k; x++)
      lmmi_fwj_finalize(j, fb->map[x], held, false,
                        "execute /5/0/2: not sent: the update could not be recorded first");
    lmmi_fwj_drop_batch(fb);
    return LMM_ERR_NOTFOUND;
  }
  lmm_op op = LMM_OP_INIT;
  op.kind = kind == K_WRITE || kind == K_URI ? LMM_OPK_WRITE
            : kind == K_EXEC                 ? LMM_OPK_EXECUTE
                                             : LMM_OPK_READ;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = rid[kind], .depth = 3};
  if (kind == K_WRITE) op.format = LMM_FMT_OPAQUE, op.payload = j->image, op.len = j->len;
  /* Plain text: the one format every LwM2M version accepts for a single String resource. */
  if (kind == K_URI)
    op.format = LMM_FMT_TEXT, op.payload = (const uint8_t *)j->uri, op.len = strlen(j->uri);
  lmm_err rc = lmm_batch_start(j->u, fb->sub, k, &op, 0xFFFF, &fw_handlers, fb, &fb->b);
  if (rc != LMM_OK) lmmi_fwj_drop_batch(fb);
  return rc;
}

static void round_fire(void *arg) {
  lmm_fw_job *j = arg;
  j->timer = NULL;
  int64_t now = lmmi_fwj_now(j);
  for (size_t i = 0; i < j->n; i++) {
    fw_member *m = &j->m[i];
    if ((m->st == M_WAIT_DL || m->st == M_WAIT_UPD || m->st == M_RESULT) && now > m->deadline) {
      const lmm_fw_report *r = &j->rep[i];
      bool dl = m->st == M_WAIT_DL || r->stage == LMM_FW_STAGE_WRITE;
      /* What the member last showed says why: still Downloading, or back at Idle with a
       * result it never set (many clients do not report success), and which package runs. */
      char seen[160], text[256];
      int o = snprintf(seen, sizeof seen, "last seen: State %d, Update Result %d", r->state,
                       r->update_result);
      if (!dl && o > 0 && (size_t)o < sizeof seen)
        snprintf(seen + o, sizeof seen - (size_t)o, ", PkgVersion %s",
                 r->pkg_version ? r->pkg_version : "not read");
      snprintf(text, sizeof text, "%s within %ld ms%s (%s)",
               dl ? "not Downloaded" : "no Update Result 1",
               dl ? j->cfg.download_deadline_ms : j->cfg.update_deadline_ms,
               dl ? "" : " after the Execute", seen);
      lmmi_fwj_finalize(j, i, LMM_ERR_TIMEOUT, false, text);
    }
  }
  static const struct {
    int kind;
    mstate a, b;
  } plan[] = {{K_STATE, M_WAIT_DL, M_WAIT_UPD},
              {K_RESULT, M_RESULT, M_RESULT},
              {K_EXEC, M_EXEC, M_EXEC},
              {K_VERSION, M_VERSION, M_VERSION}};
  for (size_t p = 0; p < sizeof plan / sizeof plan[0]; p++) {
    lmm_err rc = lmmi_fwj_start_kind(j, plan[p].kind, plan[p].a, plan[p].b);
    if (rc == LMM_OK)
      j->round_pending++;
    else if (rc != LMM_ERR_NOTFOUND)
      return lmmi_fwj_abort(j, rc, "cannot start a polling batch");
  }
  lmmi_fwj_check_done(j);
}

static void batch_done(void *user, lmm_batch *b) {
  fw_batch *fb = user;
  lmm_fw_job *j = fb->j;
  (void)b;
  lmmi_fwj_drop_batch(fb); /* the engine allows freeing a batch from its own on_done */
  bool polling =
      fb->kind == K_STATE || fb->kind == K_RESULT || fb->kind == K_EXEC || fb->kind == K_VERSION;
  if (polling && --j->round_pending == 0) after_round(j);
  /* What the check found: the Downloaded and the updating are polled, the rest sent again. */
  if (fb->kind == K_CHECK) after_round(j);
  if (fb->kind == K_METHOD || fb->kind == K_CHECK) lmmi_fwj_sends_due(j);
  lmmi_fwj_check_done(j);
}

static bool any_in(const lmm_fw_job *j, mstate a, mstate b, mstate c) {
  for (size_t i = 0; i < j->n; i++)
    if (j->m[i].st == a || j->m[i].st == b || j->m[i].st == c) return true;
  return false;
}

/* Both writes at once: the members that push and the members that pull. From a timer only. */
void lmmi_fwj_start_writes(lmm_fw_job *j) {
  lmm_err rc = lmmi_fwj_start_kind(j, K_WRITE, M_WRITE, M_WRITE);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return lmmi_fwj_abort(j, rc, "cannot start the Package write");
  rc = lmmi_fwj_start_kind(j, K_URI, M_URI, M_URI);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return lmmi_fwj_abort(j, rc, "cannot start the Package URI write");
  /* The push batch has its own copy; the blob server reads the job's until lmm_fw_free(). A
   * member still to be checked or asked its Delivery Method may need a push later. */
  if (!j->blob && !any_in(j, M_CHECK, M_METHOD, M_METHOD)) free(j->image), j->image = NULL;
  lmmi_fwj_check_done(j);
}

/* The Delivery Method read first where it is due, then the writes of the others. */
static void sends_fire(void *arg) {
  lmm_fw_job *j = arg;
  j->send_timer = NULL;
  lmm_err rc = lmmi_fwj_start_kind(j, K_METHOD, M_METHOD, M_METHOD);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return lmmi_fwj_abort(j, rc, "cannot start the Delivery Method read");
  lmmi_fwj_start_writes(j);
}

void lmmi_fwj_sends_due(lmm_fw_job *j) {
  /* Nothing new while a send batch runs: its own members are still in its state. */
  if (j->send_timer || j->bt[K_METHOD].b || j->bt[K_WRITE].b || j->bt[K_URI].b ||
      !any_in(j, M_METHOD, M_WRITE, M_URI))
    return;
  /* The writes start from the loop, not from here: a failure to start them aborts the job,
   * which frees batches, and that is not allowed inside a batch's callback. */
  if ((j->send_timer = lmmi_timer_add(j->ctx, lmmi_fwj_now(j), sends_fire, j))) return;
  j->result = LMM_ERR_NOMEM;
  for (size_t i = 0; i < j->n; i++)
    if (j->m[i].st == M_METHOD || j->m[i].st == M_WRITE || j->m[i].st == M_URI)
      lmmi_fwj_finalize(j, i, LMM_ERR_NOMEM, false, "cannot start the writes");
}
