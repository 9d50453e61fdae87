/* recorder.c - a campaign's record in the store: its row, and its members' outcomes in batches
 * (one transaction each, by count or by age), so that a campaign killed in its answer window
 * keeps the answers it had taken and a store write per answer does not limit the ingest. */
#include <stdlib.h>

#include "campaign/core.h"

#define FLUSH_EVERY 256 /* outcomes marked before a store transaction */
#define FLUSH_MS    250 /* and at most this long: a crash loses at most this much */

lmm_err lmmi_recorder_init(lmmi_recorder *r, lmm_ctx *ctx, lmm_store *store, int64_t id, size_t n,
                           void (*fill)(void *, size_t, lmm_outcome *), void *owner,
                           const char *what) {
  *r = (lmmi_recorder){
      .ctx = ctx, .store = store, .id = id, .n = n, .fill = fill, .owner = owner, .what = what};
  if (!store) return LMM_OK;
  r->dirty = calloc(n ? n : 1, sizeof *r->dirty);
  r->is_dirty = calloc(n ? n : 1, sizeof *r->is_dirty);
  if (!r->dirty || !r->is_dirty) {
    free(r->dirty), free(r->is_dirty);
    r->dirty = NULL, r->is_dirty = NULL, r->store = NULL;
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}

bool lmmi_recorder_flush(lmmi_recorder *r) {
  if (!r->store || !r->n_dirty) return true;
  lmm_outcome *tmp = malloc(r->n_dirty * sizeof *tmp);
  if (!tmp) return false; /* kept marked: retried by the next flush */
  for (size_t k = 0; k < r->n_dirty; k++) {
    lmm_outcome_init(&tmp[k]);
    r->fill(r->owner, r->dirty[k], &tmp[k]);
  }
  lmm_err rc = lmm_store_outcomes_put(r->store, r->id, tmp, r->n_dirty);
  free(tmp); /* shallow: the pointers in it are the owner's */
  if (rc != LMM_OK) {
    lmmi_log(r->ctx, LMM_LOG_ERROR, "%s: cannot store %zu outcomes (kept to retry): %s", r->what,
             r->n_dirty, lmm_store_errmsg(r->store));
    return false;
  }
  for (size_t k = 0; k < r->n_dirty; k++)
    r->is_dirty[r->dirty[k]] = false;
  r->n_dirty = 0;
  return true;
}

static void flush_due(void *arg) {
  lmmi_recorder *r = arg;
  r->timer = NULL;
  lmmi_recorder_flush(r);
}

void lmmi_recorder_mark(lmmi_recorder *r, size_t i) {
  if (!r->store || i >= r->n) return;
  if (!r->is_dirty[i]) /* once in the queue, whatever changes before the next flush */
    r->is_dirty[i] = true, r->dirty[r->n_dirty++] = i;
  if (r->n_dirty >= FLUSH_EVERY) lmmi_recorder_flush(r);
  /* Also after a failed flush: what it kept is retried by age, not only by the next mark. */
  if (r->n_dirty && !r->timer)
    r->timer = lmmi_timer_add(r->ctx, lmm_ctx_now_ms(r->ctx) + FLUSH_MS, flush_due, r);
}

void lmmi_recorder_save_info(lmmi_recorder *r, const lmm_campaign_info *info) {
  if (!r->store) return;
  lmmi_recorder_flush(r);
  if (lmm_store_campaign_update(r->store, info) != LMM_OK)
    lmmi_log(r->ctx, LMM_LOG_ERROR, "%s: cannot store its state: %s", r->what,
             lmm_store_errmsg(r->store));
}

void lmmi_recorder_free(lmmi_recorder *r) {
  lmmi_recorder_flush(r);
  if (r->timer) lmmi_timer_cancel(r->ctx, r->timer), r->timer = NULL;
  free(r->dirty), free(r->is_dirty);
  r->dirty = NULL, r->is_dirty = NULL, r->store = NULL, r->n_dirty = 0;
}

void lmmi_recorder_detach(lmmi_recorder *r) {
  if (r->timer) lmmi_timer_cancel(r->ctx, r->timer), r->timer = NULL;
  r->n_dirty = 0, r->store = NULL;
}

lmm_step lmmi_step_of(lmm_err err, uint8_t code) {
  if (err != LMM_OK) return LMM_STEP_FAILED;
  return code >> 5 == 2 ? LMM_STEP_OK : LMM_STEP_REFUSED;
}
