/* fw_unicast.c - firmware to a group over unicast (Grp-Fw-02): Package write with Block1 (push)
 * or Package URI write (pull: the member downloads from the adapter's blob server or another
 * URI), then each member followed through Downloaded, Update (Execute) and its Update Result.
 * This file is the job's life and public calls; the rounds are in fw_unicast_rounds.c, the
 * judging of answers in fw_unicast_answers.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_unicast_internal.h"

/* First turn of the loop: refusals are reported, then the State read of a resumed job, or the
 * Delivery Method read (auto), or the writes go out. */
static void kick(void *arg) {
  lmm_fw_job *j = arg;
  j->timer = NULL;
  lmm_path pkg = {.oid = FW_OID, .iid = 0, .rid = RID_PACKAGE, .depth = 3};
  mstate first = j->cfg.delivery == LMM_FW_AUTO   ? M_METHOD
                 : j->cfg.delivery == LMM_FW_PULL ? M_URI
                                                  : M_WRITE;
  /* One resumed member sends the whole job through the State read first: its other members
   * just answer Idle there and get the package after it, so only one kind of send batch is
   * ever live at a time. */
  bool check = false;
  for (size_t i = 0; i < j->n; i++)
    check |= j->m[i].resumed;
  for (size_t i = 0; i < j->n; i++) {
    if (!lmm_member_allows(&j->members[i], &pkg)) {
      char text[96];
      snprintf(text, sizeof text, "refused: member of object %u, not the Firmware Update (5)",
               j->members[i].oid);
      j->rep[i].stage = LMM_FW_STAGE_NONE;
      lmmi_fwj_finalize(j, i, LMM_ERR_ARG, false, text);
      continue;
    }
    j->m[i].st = check ? M_CHECK : first;
    j->m[i].resumed = check;
    j->rep[i].pulled = !check && first == M_URI;
  }
  if (!check && first != M_METHOD) return lmmi_fwj_start_writes(j);
  lmm_err rc = check ? lmmi_fwj_start_kind(j, K_CHECK, M_CHECK, M_CHECK)
                     : lmmi_fwj_start_kind(j, K_METHOD, M_METHOD, M_METHOD);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return lmmi_fwj_abort(j, rc,
                          check ? "cannot start the State read"
                                : "cannot start the Delivery "
                                  "Method read");
  lmmi_fwj_check_done(j);
}

LMM_API lmm_err lmm_fw_new(lmm_ctx *ctx, lmm_unicast *u, const lmm_fw_config *cfg,
                           const lmm_member *members, size_t n, const uint8_t *image, size_t len,
                           const lmm_fw_handlers *h, void *user, lmm_fw_job **out) {
  lmm_fw_config dflt = LMM_FW_CONFIG_DEFAULT;
  if (!cfg) cfg = &dflt;
  int dlv = (int)cfg->delivery;
  bool pull = dlv == LMM_FW_PULL || dlv == LMM_FW_AUTO;
  /* Pulling from someone else's URI is the one case where the job never needs the bytes. */
  bool need_image = !(dlv == LMM_FW_PULL && cfg->pull_uri);
  if (!ctx || !u || (n && !members) || (need_image && (!image || !len)) || !out ||
      cfg->poll_interval_ms < 0 || cfg->download_deadline_ms < 0 || cfg->update_deadline_ms < 0 ||
      dlv < LMM_FW_PUSH || dlv > LMM_FW_AUTO || (pull && !cfg->server == !cfg->pull_uri) ||
      (pull && cfg->pull_uri && (!*cfg->pull_uri || strlen(cfg->pull_uri) > MAX_URI)))
    return LMM_ERR_ARG;
  lmm_fw_job *j = calloc(1, sizeof *j);
  if (!j) return LMM_ERR_NOMEM;
  j->ctx = ctx, j->u = u, j->cfg = *cfg, j->h = h, j->user = user, j->n = n;
  j->len = need_image ? len : 0;
  j->cfg.pull_uri = NULL; /* the caller's string: only the copy is kept */
  if (!pull) j->cfg.server = NULL;
  j->members = calloc(n ? n : 1, sizeof *j->members);
  j->rep = calloc(n ? n : 1, sizeof *j->rep);
  j->m = calloc(n ? n : 1, sizeof *j->m);
  lmm_err rc = j->members && j->rep && j->m ? LMM_OK : LMM_ERR_NOMEM;
  if (rc == LMM_OK && need_image) {
    if ((j->image = malloc(len)))
      memcpy(j->image, image, len);
    else
      rc = LMM_ERR_NOMEM;
  }
  if (rc == LMM_OK && pull && cfg->pull_uri && !(j->uri = j->uri_owned = strdup(cfg->pull_uri)))
    rc = LMM_ERR_NOMEM;
  j->cfg.expect_version = NULL; /* likewise */
  if (rc == LMM_OK && cfg->expect_version && !(j->expect_owned = strdup(cfg->expect_version)))
    rc = LMM_ERR_NOMEM;
  /* Registered now rather than at start, so that the server's refusal reaches the caller. */
  if (rc == LMM_OK && pull && cfg->server)
    rc = lmm_blob_server_add(cfg->server, j->image, len, LMM_BLOB_BORROW, &j->blob, &j->uri);
  if (rc == LMM_OK && j->uri && strlen(j->uri) > MAX_URI) rc = LMM_ERR_ARG;
  for (size_t i = 0; rc == LMM_OK && i < n; i++) {
    rc = lmm_member_copy(&j->members[i], &members[i]);
    j->rep[i] =
        (lmm_fw_report){.index = i, .member = &j->members[i], .update_result = -1, .state = -1};
    j->rep[i].stage = LMM_FW_STAGE_WRITE;
  }
  if (rc != LMM_OK) {
    lmm_fw_free(j); /* members not yet copied are zeroed: freeing all n is safe */
    return rc;
  }
  *out = j;
  return LMM_OK;
}

LMM_API lmm_err lmm_fw_start(lmm_fw_job *j) {
  if (!j) return LMM_ERR_ARG;
  if (j->started) return LMM_ERR_STATE;
  int64_t now = lmmi_fwj_now(j);
  for (size_t i = 0; i < j->n; i++)
    j->m[i].t0 = now;
  /* Refusals go out from the loop too: no callback ever runs inside lmm_fw_start(). */
  if (!(j->timer = lmmi_timer_add(j->ctx, now, kick, j))) return LMM_ERR_NOMEM;
  j->started = true;
  return LMM_OK;
}

LMM_API lmm_err lmm_fw_resume_member(lmm_fw_job *j, size_t i, bool update_asked) {
  if (!j || i >= j->n) return LMM_ERR_ARG;
  if (j->started) return LMM_ERR_STATE;
  j->m[i].resumed = true;
  j->m[i].unsure = update_asked;
  return LMM_OK;
}

LMM_API void lmm_fw_free(lmm_fw_job *j) {
  if (!j) return;
  if (j->timer) lmmi_timer_cancel(j->ctx, j->timer);
  if (j->send_timer) lmmi_timer_cancel(j->ctx, j->send_timer);
  for (int k = 0; k < K_COUNT; k++)
    lmmi_fwj_drop_batch(&j->bt[k]);
  if (j->blob) lmm_blob_server_remove(j->cfg.server, j->blob);
  for (size_t i = 0; j->m && i < j->n; i++)
    free(j->m[i].error), free(j->m[i].pkg_version);
  if (j->members) lmm_members_free(j->members, j->n);
  free(j->rep), free(j->m), free(j->image), free(j->uri_owned), free(j->expect_owned), free(j);
}

LMM_API bool lmm_fw_done(const lmm_fw_job *j) {
  return j && j->finished;
}

LMM_API const lmm_fw_report *lmm_fw_reports(const lmm_fw_job *j, size_t *n) {
  if (n) *n = j ? j->n : 0;
  return j ? j->rep : NULL;
}

LMM_API lmm_err lmm_fw_wait(lmm_fw_job *j, long timeout_ms) {
  if (!j || !j->started) return LMM_ERR_STATE;
  int64_t end = timeout_ms < 0 ? -1 : lmmi_fwj_now(j) + timeout_ms;
  while (!j->finished) {
    if (end >= 0 && lmmi_fwj_now(j) >= end) return LMM_ERR_TIMEOUT;
    lmm_err rc = lmm_ctx_run_once(j->ctx, 200);
    if (rc != LMM_OK) return rc;
  }
  return LMM_OK;
}
