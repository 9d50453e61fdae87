/* pass.c - one unicast batch over a chosen subset of a campaign's members: the Group Mgmt
 * writes, a unicast group's operation, the repair of the silent, a firmware campaign's status
 * reads, fragment writes and Executes. The batch sees only its items; the pass maps each back
 * to the campaign's member. */
#include <stdlib.h>
#include <string.h>

#include "campaign/core.h"

static void pass_prepare(void *user, size_t k, const lmm_member *m, lmm_op *op) {
  lmmi_pass *p = user;
  (void)m;
  if (p->h->prepare) p->h->prepare(p->owner, k, p->map[k], op);
}

static void pass_member(void *user, const lmm_member_result *r) {
  lmmi_pass *p = user;
  p->h->on_result(p->owner, r->index, p->map[r->index], r);
}

static void release(lmmi_pass *p) {
  free(p->sub), p->sub = NULL;
  free(p->map), p->map = NULL;
  p->n = 0;
}

static void pass_done(void *user, lmm_batch *b) {
  lmmi_pass *p = user;
  lmm_batch_free(b); /* the engine allows freeing a batch from its own on_done */
  p->batch = NULL;
  release(p);
  p->h->on_done(p->owner); /* may start the next pass on p */
}

static const lmm_batch_handlers pass_handlers = {
    .prepare = pass_prepare, .on_member = pass_member, .on_done = pass_done};

lmm_err lmmi_pass_start(lmmi_pass *p, lmm_unicast *u, const lmm_member *members, const size_t *idx,
                        size_t n, const lmm_op *op, uint16_t exempt_oid,
                        const lmmi_pass_handlers *h, void *owner) {
  if (p->batch) return LMM_ERR_STATE;
  if (!n) return LMM_ERR_NOTFOUND;
  p->sub = calloc(n, sizeof *p->sub);
  p->map = malloc(n * sizeof *p->map);
  if (!p->sub || !p->map) {
    release(p);
    return LMM_ERR_NOMEM;
  }
  for (size_t k = 0; k < n; k++)
    p->sub[k] = members[idx[k]], p->map[k] = idx[k]; /* shallow: the members outlive the pass */
  p->n = n, p->h = h, p->owner = owner;
  lmm_err rc = lmm_batch_start(u, p->sub, n, op, exempt_oid, &pass_handlers, p, &p->batch);
  if (rc != LMM_OK) release(p), p->batch = NULL;
  return rc;
}

bool lmmi_pass_busy(const lmmi_pass *p) {
  return p->batch != NULL;
}

void lmmi_pass_stop(lmmi_pass *p) {
  if (p->batch) lmm_batch_free(p->batch), p->batch = NULL;
  release(p);
}
