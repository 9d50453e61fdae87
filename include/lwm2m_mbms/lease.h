/* lease.h - campaign leases in a shared store: an instance claims a queued campaign, renews
 * its lease while it runs it, and another instance takes over a campaign whose lease expired
 * (docs/store.md, "Leases"; docs/scale-out.md). A campaign takes part once it is queued; one
 * that runs by itself, never queued, is nobody's to claim. Times are the store's context's
 * wall clock. Common rules of a store call (errors, lmm_store_errmsg(), threads): store.h. */
#ifndef LWM2M_MBMS_LEASE_H
#define LWM2M_MBMS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "export.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Queues campaign `id` for any instance to claim. @return LMM_OK (also when it was queued
 *  already); LMM_ERR_NOTFOUND for an unknown campaign; LMM_ERR_STATE for a finished one. */
LMM_API lmm_err lmm_store_lease_enqueue(lmm_store *s, int64_t id);
/** Claims the oldest claimable campaign for `owner` (copied into the store) for `lease_ms`:
 *  a queued campaign nobody holds, or one whose holder's lease has expired, not finished.
 *  Its id into `*id`, and into `*taken_over` whether it had a holder before (NULL: not asked).
 *  Two instances claiming at once never get the same campaign (PostgreSQL: SELECT ... FOR
 *  UPDATE SKIP LOCKED inside the writers' transaction). @return LMM_OK; LMM_ERR_NOTFOUND when
 *  none is claimable (`*id` untouched); LMM_ERR_ARG for no owner or a lease_ms < 1. */
LMM_API lmm_err lmm_store_lease_claim(lmm_store *s, const char *owner, int64_t lease_ms,
                                      int64_t *id, bool *taken_over);
/** Extends `owner`'s lease of campaign `id` to `lease_ms` from now. @return LMM_OK;
 *  LMM_ERR_STATE when `owner` no longer holds it (another instance took it over after the
 *  lease expired, or it was released): the caller must stop running it at once;
 *  LMM_ERR_NOTFOUND when it was never queued. */
LMM_API lmm_err lmm_store_lease_renew(lmm_store *s, int64_t id, const char *owner,
                                      int64_t lease_ms);
/** Gives campaign `id` back: claimable again at once by anyone (unless finished).
 *  @return LMM_OK; LMM_ERR_STATE when `owner` does not hold it. */
LMM_API lmm_err lmm_store_lease_release(lmm_store *s, int64_t id, const char *owner);
/** Who holds campaign `id` (returns owned in `*owner`, free with free(); NULL when nobody)
 *  and until when (`*until_ms`, wall clock ms). @return LMM_OK; LMM_ERR_NOTFOUND when it was
 *  never queued (both untouched). */
LMM_API lmm_err lmm_store_lease_get(lmm_store *s, int64_t id, char **owner, int64_t *until_ms);

#ifdef __cplusplus
}
#endif
#endif
