/* round.c - one group request's answers: the token that matches them (docs/protocol.md
 * section 2), registered with the answer receiver for as long as the round is open, and the
 * end of the Response Time Window. */
#include "campaign/core.h"

lmm_err lmmi_round_open(lmmi_round *r, lmm_ctx *ctx, lmm_answers *answers, lmmi_answer_fn fn,
                        void *owner) {
  lmmi_round_close(r);
  r->ctx = ctx, r->answers = answers;
  /* A fresh token per request: a late answer to an earlier round cannot count for this one. */
  lmm_err rc = lmmi_random(ctx, r->token, sizeof r->token);
  if (rc == LMM_OK) rc = lmmi_answers_open(answers, r->token, fn, owner);
  r->open = rc == LMM_OK;
  return rc;
}

static void window_over(void *arg) {
  lmmi_round *r = arg;
  r->timer = NULL;
  r->on_over(r->owner);
}

lmm_err lmmi_round_end_at(lmmi_round *r, int64_t due_ms, void (*on_over)(void *), void *owner) {
  lmmi_timer *t = lmmi_timer_add(r->ctx, due_ms, window_over, r);
  if (!t) return LMM_ERR_NOMEM;
  if (r->timer) lmmi_timer_cancel(r->ctx, r->timer);
  r->timer = t, r->on_over = on_over, r->owner = owner;
  return LMM_OK;
}

void lmmi_round_end_now(lmmi_round *r) {
  if (!r->on_over) return; /* no window yet: its start sees that everyone answered */
  /* The old end is cancelled only once the new one exists: without memory for it, the window
   * still ends at its time instead of never. */
  lmmi_round_end_at(r, lmm_ctx_now_ms(r->ctx), r->on_over, r->owner);
}

void lmmi_round_close(lmmi_round *r) {
  if (r->open) lmmi_answers_close(r->answers, r->token), r->open = false;
  if (r->timer) lmmi_timer_cancel(r->ctx, r->timer), r->timer = NULL;
  r->on_over = NULL;
}
