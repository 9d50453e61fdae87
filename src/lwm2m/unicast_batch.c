/* unicast_batch.c - batches of the unicast engine: starting one, its figures, cancelling and
 * freeing it, and the blocking wait. */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/unicast_internal.h"

/* ------------------------------------------------------------------- bodies */

lmmi_body *lmmi_uc_body_new(const uint8_t *data, size_t len) {
  lmmi_body *b = malloc(sizeof *b + len);
  if (!b) return NULL;
  b->refs = 1, b->len = len;
  memcpy(b->data, data, len);
  return b;
}

void lmmi_uc_body_unref(lmmi_body *b) {
  if (b && --b->refs == 0) free(b);
}

void lmmi_uc_body_release(coap_session_t *s, void *body) {
  (void)s;
  lmmi_uc_body_unref(body);
}

/* ------------------------------------------------------------------- batches */

void lmmi_uc_destroy_if_released(lmm_batch *b) {
  if (b->freed && b->busy == 0) lmmi_uc_batch_destroy(b);
}

LMM_API lmm_err lmm_batch_start(lmm_unicast *u, const lmm_member *members, size_t n,
                                const lmm_op *op, uint16_t exempt_oid, const lmm_batch_handlers *h,
                                void *user, lmm_batch **out) {
  if (!u || (!members && n) || !op || !h || !out) return LMM_ERR_ARG;
  if (op->len && !op->payload) return LMM_ERR_ARG;
  if ((unsigned)op->kind > (unsigned)LMM_OPK_DISCOVER) return LMM_ERR_ARG;
  lmm_batch *b = calloc(1, sizeof *b);
  if (!b) return LMM_ERR_NOMEM;
  b->slots = n ? calloc(n, sizeof *b->slots) : NULL;
  if (n && !b->slots) goto nomem;
  b->op = *op;
  if (op->len) {
    if (!(b->body = lmmi_uc_body_new(op->payload, op->len))) goto nomem;
    b->op.payload = b->body->data;
  } else {
    b->op.payload = NULL;
  }
  if (op->query) {
    if (!(b->query_copy = strdup(op->query))) goto nomem;
    b->op.query = b->query_copy;
  }
  b->u = u;
  b->members = members, b->n = n;
  b->exempt_oid = exempt_oid;
  b->h = h, b->user = user;
  for (size_t i = 0; i < n; i++) {
    lmmi_uslot *s = &b->slots[i];
    s->b = b, s->index = i;
    s->t_first = s->resend_at = s->hs_due = -1;
    s->heap_idx = SIZE_MAX;
    s->cf = -1;
    s->accept_alt = LMM_ACCEPT_NONE;
  }
  b->prev = u->batches_tail;
  if (u->batches_tail)
    u->batches_tail->next = b;
  else
    u->batches = b;
  u->batches_tail = b;
  u->n_queued += n;
  if (n == 0) u->zero_pending++;
  *out = b;
  return LMM_OK;
nomem:
  free(b->slots), lmmi_uc_body_unref(b->body), free(b->query_copy), free(b);
  return LMM_ERR_NOMEM;
}

LMM_API void lmm_batch_get_stats(const lmm_batch *b, lmm_batch_stats *out) {
  if (!out) return;
  if (!b) {
    memset(out, 0, sizeof *out);
    return;
  }
  out->members = b->n;
  out->done = b->done;
  out->succeeded = b->succeeded;
  out->failed = b->failed;
  out->in_flight = b->in_flight;
}

LMM_API bool lmm_batch_done(const lmm_batch *b) {
  return b && b->done == b->n;
}

/* Takes the batch out of the engine: sessions released, no more callbacks. */
void lmmi_uc_batch_cancel(lmm_batch *b) {
  lmm_unicast *u = b->u;
  if (!u || b->cancelled) return;
  b->cancelled = true;
  for (size_t i = 0; i < b->next_queued; i++) {
    lmmi_uslot *s = &b->slots[i];
    lmmi_uc_heap_remove(u, s);
    bool observing = s->observing;
    lmmi_uc_obs_unlink(u, s);
    lmmi_uc_peer_detach(u, s, observing);
    free(s->payload);
    s->payload = NULL;
  }
  /* Out of the queues (one pass each, whatever their length). */
  lmmi_uslot **pp = &u->attn_head;
  u->attn_tail = NULL;
  while (*pp) {
    if ((*pp)->b == b) {
      (*pp)->in_attn = false;
      *pp = (*pp)->attn_next;
    } else {
      u->attn_tail = *pp;
      pp = &(*pp)->attn_next;
    }
  }
  lmmi_notify **np = &u->notify_head;
  u->notify_tail = NULL;
  while (*np) {
    if ((*np)->b == b) {
      lmmi_notify *dead = *np;
      *np = dead->next;
      free(dead);
    } else {
      u->notify_tail = *np;
      np = &(*np)->next;
    }
  }
  u->in_flight -= b->in_flight;
  u->n_queued -= b->n - b->next_queued;
  if (b->n == 0 && !b->done_reported && u->zero_pending) u->zero_pending--;
  if (b->prev)
    b->prev->next = b->next;
  else
    u->batches = b->next;
  if (b->next)
    b->next->prev = b->prev;
  else
    u->batches_tail = b->prev;
  b->prev = b->next = NULL;
  u->gen++;
}

void lmmi_uc_batch_destroy(lmm_batch *b) {
  free(b->slots);
  lmmi_uc_body_unref(b->body); /* libcoap may still hold it, for an exchange that outlives us */
  free(b->query_copy);
  free(b->cache_host);
  free(b);
}

LMM_API void lmm_batch_free(lmm_batch *b) {
  if (!b || b->freed) return;
  lmmi_uc_batch_cancel(b);
  b->freed = true;
  if (b->busy == 0) lmmi_uc_batch_destroy(b);
  /* else: a callback of this batch or lmm_batch_wait() is running; freed when it returns */
}

LMM_API lmm_err lmm_batch_wait(lmm_batch *b, long timeout_ms) {
  if (!b || b->freed) return LMM_ERR_ARG;
  if (lmm_batch_done(b)) return LMM_OK;
  if (!b->u || b->cancelled) return LMM_ERR_STATE;
  lmm_ctx *ctx = b->u->ctx;
  int64_t start = lmm_ctx_now_ms(ctx);
  lmm_err rc = LMM_OK;
  b->busy++;
  while (!lmm_batch_done(b) && !b->freed && !b->cancelled) {
    int wait = 1000;
    if (timeout_ms >= 0) {
      int64_t left = start + timeout_ms - lmm_ctx_now_ms(ctx);
      if (left <= 0) {
        rc = LMM_ERR_TIMEOUT;
        break;
      }
      if (left < wait) wait = (int)left;
    }
    lmm_err e = lmm_ctx_run_once(ctx, wait);
    if (e != LMM_OK && e != LMM_ERR_IO) {
      rc = e;
      break;
    }
  }
  if (rc == LMM_OK && !lmm_batch_done(b)) rc = b->freed ? LMM_OK : LMM_ERR_STATE;
  b->busy--;
  lmmi_uc_destroy_if_released(b);
  return rc;
}
