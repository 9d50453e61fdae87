/* store_lease.h - campaign leases: an instance claims a campaign, renews its lease while it
 * runs it, and another instance takes over a campaign whose lease expired (docs/store.md,
 * "Leases"). A campaign takes part once it is queued; one that `deliver` runs by itself, never
 * queued, is nobody's to claim. Times are the store's context's wall clock. */
#ifndef LMMI_STORE_LEASE_H
#define LMMI_STORE_LEASE_H

#include <stdint.h>

#include "lwm2m_mbms/store.h"

/** Queues campaign `id` for any instance to claim. LMM_OK (also when it was queued already);
 *  LMM_ERR_NOTFOUND for an unknown campaign; LMM_ERR_STATE for a finished one. */
lmm_err lmmi_store_lease_enqueue(lmm_store *s, int64_t id);
/** Claims the oldest claimable campaign for `owner` (copied into the store) for `lease_ms`:
 *  a queued campaign nobody holds, or one whose holder's lease has expired, not finished.
 *  Its id into `*id`, and into `*taken_over` whether it had a holder before (NULL: not asked).
 *  Two instances claiming at once never get the same campaign (PostgreSQL: SELECT ... FOR
 *  UPDATE SKIP LOCKED inside the writers' transaction). LMM_OK; LMM_ERR_NOTFOUND when none is
 *  claimable (`*id` untouched); LMM_ERR_ARG for no owner or a lease_ms < 1. */
lmm_err lmmi_store_lease_claim(lmm_store *s, const char *owner, int64_t lease_ms, int64_t *id,
                               bool *taken_over);
/** Extends `owner`'s lease of campaign `id` to `lease_ms` from now. LMM_OK; LMM_ERR_STATE when
 *  `owner` no longer holds it (another instance took it over after the lease expired, or it
 *  was released): the caller must stop running it; LMM_ERR_NOTFOUND when it was never
 *  queued. */
lmm_err lmmi_store_lease_renew(lmm_store *s, int64_t id, const char *owner, int64_t lease_ms);
/** Gives campaign `id` back: claimable again at once by anyone. LMM_OK; LMM_ERR_STATE when
 *  `owner` does not hold it. */
lmm_err lmmi_store_lease_release(lmm_store *s, int64_t id, const char *owner);
/** Who holds campaign `id` (owned, free(); NULL when nobody) and until when. LMM_OK;
 *  LMM_ERR_NOTFOUND when it was never queued. */
lmm_err lmmi_store_lease_get(lmm_store *s, int64_t id, char **owner, int64_t *until_ms);

#endif
