/* unicast_queue.c - the unicast engine's bookkeeping of ACTIVE members: the deadline heap (next
 * due time of each) and the attention queue (outcomes recorded by libcoap's handlers). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lwm2m/unicast_internal.h"

int64_t lmmi_uc_slot_due(const lmmi_uslot *s) {
  int64_t d = s->deadline;
  if (s->resend_at >= 0 && s->resend_at < d) d = s->resend_at;
  if (s->hs_due >= 0 && s->hs_due < d) d = s->hs_due;
  return d;
}

/* ------------------------------------------------------------- deadline heap */

static void heap_swap(lmm_unicast *u, size_t a, size_t b) {
  lmmi_uslot *t = u->heap[a];
  u->heap[a] = u->heap[b], u->heap[b] = t;
  u->heap[a]->heap_idx = a, u->heap[b]->heap_idx = b;
}

static void heap_up(lmm_unicast *u, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (lmmi_uc_slot_due(u->heap[p]) <= lmmi_uc_slot_due(u->heap[i])) break;
    heap_swap(u, p, i);
    i = p;
  }
}

static void heap_down(lmm_unicast *u, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < u->heap_n && lmmi_uc_slot_due(u->heap[l]) < lmmi_uc_slot_due(u->heap[m])) m = l;
    if (r < u->heap_n && lmmi_uc_slot_due(u->heap[r]) < lmmi_uc_slot_due(u->heap[m])) m = r;
    if (m == i) return;
    heap_swap(u, i, m);
    i = m;
  }
}

lmm_err lmmi_uc_heap_reserve(lmm_unicast *u, size_t need) {
  if (need <= u->heap_cap) return LMM_OK;
  size_t cap = u->heap_cap ? u->heap_cap * 2 : 64;
  while (cap < need)
    cap *= 2;
  lmmi_uslot **h = realloc(u->heap, cap * sizeof *h);
  if (!h) return LMM_ERR_NOMEM;
  u->heap = h, u->heap_cap = cap;
  return LMM_OK;
}

/* The heap never grows here: a slot is ACTIVE (and so counted in in_flight) before it is
 * pushed, and lmmi_uc_heap_reserve() made room for every ACTIVE slot when it started. */
void lmmi_uc_heap_push(lmm_unicast *u, lmmi_uslot *s) {
  if (s->heap_idx != SIZE_MAX) {
    heap_up(u, s->heap_idx);
    heap_down(u, s->heap_idx);
    return;
  }
  s->heap_idx = u->heap_n;
  u->heap[u->heap_n++] = s;
  heap_up(u, s->heap_idx);
}

void lmmi_uc_heap_remove(lmm_unicast *u, lmmi_uslot *s) {
  size_t i = s->heap_idx;
  if (i == SIZE_MAX) return;
  s->heap_idx = SIZE_MAX;
  if (--u->heap_n == i) return;
  u->heap[i] = u->heap[u->heap_n];
  u->heap[i]->heap_idx = i;
  heap_up(u, i);
  heap_down(u, u->heap[i]->heap_idx);
}

/* ----------------------------------------------------------- attention queue */

void lmmi_uc_attn_push(lmm_unicast *u, lmmi_uslot *s) {
  lmmi_uc_heap_remove(u, s);
  if (s->in_attn) return;
  s->in_attn = true;
  s->attn_next = NULL;
  if (u->attn_tail)
    u->attn_tail->attn_next = s;
  else
    u->attn_head = s;
  u->attn_tail = s;
}

lmmi_uslot *lmmi_uc_attn_pop(lmm_unicast *u) {
  lmmi_uslot *s = u->attn_head;
  if (!s) return NULL;
  u->attn_head = s->attn_next;
  if (!u->attn_head) u->attn_tail = NULL;
  s->in_attn = false;
  s->attn_next = NULL;
  return s;
}

void lmmi_uc_set_text(lmmi_uslot *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->errtext, sizeof s->errtext, fmt, ap);
  va_end(ap);
}

/* An attempt failed: `retryable` ones are re-sent when the deadline allows (decided later, in
 * drain_attn, with the time then). */
void lmmi_uc_mark_fail(lmm_unicast *u, lmmi_uslot *s, lmm_err err, bool retryable,
                       int64_t pause_ms) {
  s->pending = retryable ? LMMI_PEND_FAIL : LMMI_PEND_FINAL;
  s->err = err;
  s->retryable = retryable;
  s->pause_ms = pause_ms;
  lmmi_uc_attn_push(u, s);
}

void lmmi_uc_fail_now(lmm_unicast *u, lmmi_uslot *s, lmm_err err) {
  s->pending = LMMI_PEND_FINAL;
  s->err = err;
  lmmi_uc_attn_push(u, s);
}
