/* store.h - state that survives: groups, members, TMGIs, campaigns and per-member outcomes,
 * in SQLite. Every write is one transaction: a crash never leaves half of it behind. */
#ifndef LWM2M_MBMS_STORE_H
#define LWM2M_MBMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaign.h"
#include "ctx.h"
#include "err.h"
#include "group.h"
#include "lwm2m.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LMM_STORE_DECLARED
#define LMM_STORE_DECLARED
typedef struct lmm_store lmm_store;
#endif

/** Opens (creating file, parent directories and schema as needed) the store at `path`, with
 *  `ctx` (borrowed: must outlive the store) for the wall clock of every timestamp it writes
 *  and for its log. WAL journal, a busy timeout, foreign keys on. A file that is not a store
 *  of ours, or of a newer schema, is refused with LMM_ERR_DB.
 *
 *  As sqlite3_open(): on failure `*out` is still a handle, in a failed state, whose
 *  lmm_store_errmsg() says what is wrong (e.g. "PATH: not a lwm2m-mbms store ...") and on
 *  which every other call fails with LMM_ERR_STATE; close it with lmm_store_close(). Only
 *  when not even the handle can be allocated is `*out` NULL (LMM_ERR_NOMEM). */
LMM_API lmm_err lmm_store_open(lmm_ctx *ctx, const char *path, lmm_store **out);
LMM_API void lmm_store_close(lmm_store *s);
/** What the last call on `s` came to: why it failed, "" when it succeeded; on a handle whose
 *  open failed, why (borrowed, valid until the next call on `s`). */
LMM_API const char *lmm_store_errmsg(const lmm_store *s);

/* ------------------------------------------------------------------ groups */

/** LMM_ERR_STATE if a group of that name exists, or if all 65535 Group Mgmt instance IDs are
 *  taken; LMM_ERR_ARG for an empty name or a bad type. g->gm_iid is ignored: the group gets the
 *  smallest instance ID no other group of the store has (read it back with get). */
LMM_API lmm_err lmm_store_group_create(lmm_store *s, const lmm_group_info *g);
/** Replaces every field but name, created and gm_iid. LMM_ERR_NOTFOUND if absent. */
LMM_API lmm_err lmm_store_group_update(lmm_store *s, const lmm_group_info *g);
LMM_API lmm_err lmm_store_group_get(lmm_store *s, const char *name, lmm_group_info *out);
/** All groups ordered by name; `*out` owned (lmm_group_info_list_free()). */
LMM_API lmm_err lmm_store_group_list(lmm_store *s, lmm_group_info **out, size_t *n);
/** Deletes the group with its members; its campaigns stay (their reports remain readable). */
LMM_API lmm_err lmm_store_group_delete(lmm_store *s, const char *name);

/** Adds members (all or none: a member ID already in the group -> LMM_ERR_STATE, the message
 *  names it). Members keep their insertion order. */
LMM_API lmm_err lmm_store_members_add(lmm_store *s, const char *group, const lmm_member *m,
                                      size_t n);
LMM_API lmm_err lmm_store_member_remove(lmm_store *s, const char *group, const char *ep,
                                        uint16_t oid);
/** `*out` owned (lmm_members_free()). LMM_ERR_NOTFOUND for an unknown group. */
LMM_API lmm_err lmm_store_members_get(lmm_store *s, const char *group, lmm_member **out, size_t *n);

/* --------------------------------------------------------------- campaigns */

/** Stores a new campaign with its member list (one pending outcome row per member, in the
 *  order given): one transaction. Sets c->id. */
LMM_API lmm_err lmm_store_campaign_create(lmm_store *s, lmm_campaign_info *c, const lmm_member *m,
                                          size_t n);
/** Replaces the row's mutable fields (state, token, tmgi, T8 fields, times, error,
 *  fw_summary); never kind nor cancel_requested. */
LMM_API lmm_err lmm_store_campaign_update(lmm_store *s, const lmm_campaign_info *c);
LMM_API lmm_err lmm_store_campaign_get(lmm_store *s, int64_t id, lmm_campaign_info *out);
/** Newest first; `group` NULL for all. */
LMM_API lmm_err lmm_store_campaign_list(lmm_store *s, const char *group, lmm_campaign_info **out,
                                        size_t *n);
/** Asks campaign `id` to stop: sets its cancel_requested flag, which the process running it
 *  polls (lmm_store_campaign_cancel_requested()). Asking again is LMM_OK. LMM_ERR_NOTFOUND
 *  for an unknown id, LMM_ERR_STATE once it has finished (LMM_CS_DONE or LMM_CS_FAILED). */
LMM_API lmm_err lmm_store_campaign_request_cancel(lmm_store *s, int64_t id);
/** Whether a cancel was asked for campaign `id`. LMM_ERR_NOTFOUND for an unknown id. */
LMM_API lmm_err lmm_store_campaign_cancel_requested(lmm_store *s, int64_t id, bool *out);

/** Writes the outcomes of members (matched by ep+oid) of campaign `id` in one transaction. */
LMM_API lmm_err lmm_store_outcomes_put(lmm_store *s, int64_t id, const lmm_outcome *o, size_t n);
/** All outcomes of a campaign in member order; `*out` owned (lmm_outcome_list_free()). */
LMM_API lmm_err lmm_store_outcomes_get(lmm_store *s, int64_t id, lmm_outcome **out, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
