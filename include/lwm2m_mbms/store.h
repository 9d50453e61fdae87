/* store.h - state that survives: groups, members, TMGIs, campaigns and per-member outcomes,
 * in SQLite, or in a PostgreSQL database that several instances share (docs/store.md). Every
 * write is one transaction: a crash never leaves half of it behind.
 *
 * Common to every call on a handle: it returns LMM_OK or an lmm_err, and lmm_store_errmsg()
 * then says what the call came to (why it failed, "" when it did not); LMM_ERR_ARG for a NULL
 * handle or argument, LMM_ERR_STATE on a handle whose open failed, LMM_ERR_NOMEM when out of
 * memory, LMM_ERR_DB when SQLite fails (a damaged file, a full disk, a lock held longer than
 * the busy timeout). A call that fails leaves the file as it was. Arguments are borrowed for
 * the call; results handed out are owned by the caller, to free as each call says.
 *
 * Threads: a handle belongs to one thread at a time (make all calls on one context, and on
 * the stores made with it, from one thread). Other handles on the same file, in this process
 * or another (a `report` while a `deliver` runs), may read and write it at the same time. */
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

/** Opens (creating file, parent directories and schema as needed, the directories 0700 and
 *  the file 0600) the store at `path` (copied), or upgrades an older store of ours, with `ctx`
 *  (borrowed: must outlive the store) for the wall clock of every timestamp it writes and for
 *  its log. WAL journal, a busy timeout, foreign keys on. Blocks for the file's I/O, and up to
 *  the busy timeout while another process holds it.
 *
 *  Members' PSKs are kept apart, in the key file `path`.keys (made 0600 whatever the umask;
 *  docs/keys.md), never in the state file. A key file that cannot be used (unreadable, open to
 *  group or others, not ours) does not fail the open: the calls that need a key fail then, with
 *  LMM_ERR_DB and a message naming the key file.
 *
 *  As sqlite3_open(): on failure `*out` is still a handle, in a failed state, whose
 *  lmm_store_errmsg() says what is wrong (e.g. "PATH: not a lwm2m-mbms store ...") and on
 *  which every other call fails with LMM_ERR_STATE; close it with lmm_store_close(). Only
 *  when not even the handle can be allocated is `*out` NULL (LMM_ERR_NOMEM).
 *  @return LMM_OK; LMM_ERR_ARG for a NULL `ctx`, `out` (then nothing in `*out`) or `path`, or
 *  an empty path; LMM_ERR_IO when a parent directory cannot be made; LMM_ERR_DB for a file
 *  that is not SQLite, not ours, of a newer schema, or that cannot be upgraded (it is left as
 *  it was), and for a file or directory this process may not write (the store writes every
 *  campaign into the file, and its -wal and -shm files next to it; nothing is touched then);
 *  LMM_ERR_NOMEM. */
/** `path` may instead be a PostgreSQL URI (postgresql://... or postgres://..., libpq's form):
 *  the store is then that database, its schema created or upgraded on open, its secrets in the
 *  schema "keys" closed to other roles, and no message shows the URI's password. LMM_ERR_DB
 *  when the server cannot be reached or refuses the login, and for a database with tables of
 *  another application or of a newer schema. Blocks for the connection. */
LMM_API lmm_err lmm_store_open(lmm_ctx *ctx, const char *path, lmm_store **out);
/** Closes the handle, opened or failed, and frees it; the last connection to the file folds
 *  the journal back into it. Every campaign that uses the store must be freed first. NULL:
 *  no-op. */
LMM_API void lmm_store_close(lmm_store *s);
/** What the last call on `s` came to: why it failed, "" when it succeeded; on a handle whose
 *  open failed, why. Never NULL. Borrowed; valid until the next call on `s` or its close. */
LMM_API const char *lmm_store_errmsg(const lmm_store *s);

/* ------------------------------------------------------------------ groups */

/** Stores a new group (`g` borrowed; its created, member_count and gm_iid are not read: the
 *  store sets created from the context's clock, and gives the group the smallest Group Mgmt
 *  instance ID no other group of the store has; read them back with lmm_store_group_get()).
 *  @return LMM_OK; LMM_ERR_STATE if a group of that name exists, or if all 65535 instance
 *  IDs are taken; LMM_ERR_ARG for an empty name, a bad type or TMGI policy, or a schedule
 *  count without times. */
LMM_API lmm_err lmm_store_group_create(lmm_store *s, const lmm_group_info *g);
/** Replaces every field of group `g->name` but name, created and gm_iid with `g`'s.
 *  @return LMM_OK; LMM_ERR_NOTFOUND if there is no such group; LMM_ERR_ARG as for create. */
LMM_API lmm_err lmm_store_group_update(lmm_store *s, const lmm_group_info *g);
/** Reads group `name` into `*out` (which then owns its strings: lmm_group_info_clear()),
 *  member_count included. @return LMM_OK; LMM_ERR_NOTFOUND if there is no such group (`*out`
 *  untouched); LMM_ERR_DB for a damaged row. */
LMM_API lmm_err lmm_store_group_get(lmm_store *s, const char *name, lmm_group_info *out);
/** All groups ordered by name: `*out` an owned array of `*n` (lmm_group_info_list_free();
 *  NULL when there are none). Both untouched on failure. */
LMM_API lmm_err lmm_store_group_list(lmm_store *s, lmm_group_info **out, size_t *n);
/** Deletes group `name` with its members; its campaigns stay (their reports remain
 *  readable). @return LMM_OK; LMM_ERR_NOTFOUND if there is no such group. */
LMM_API lmm_err lmm_store_group_delete(lmm_store *s, const char *name);

/** Adds the `n` members of `m` (copied into the store; their PSKs into the key file) to group
 *  `group`, after those it has: members keep their insertion order. All or none.
 *  @return LMM_OK; LMM_ERR_NOTFOUND for an unknown group; LMM_ERR_STATE when a member ID (ep
 *  and Object ID) is in the group already or twice in `m` (the message names it); LMM_ERR_ARG
 *  for a member without an endpoint name or with a key length but no key; LMM_ERR_DB when a
 *  member has a PSK and the key file cannot be used. */
LMM_API lmm_err lmm_store_members_add(lmm_store *s, const char *group, const lmm_member *m,
                                      size_t n);
/** Removes member ep=`ep`/`oid` from group `group`; the others keep their order.
 *  @return LMM_OK; LMM_ERR_NOTFOUND when the group has no such member. */
LMM_API lmm_err lmm_store_member_remove(lmm_store *s, const char *group, const char *ep,
                                        uint16_t oid);
/** The members of group `group` in their order, their PSKs read from the key file: `*out` an
 *  owned array of `*n` (lmm_members_free(); NULL when there are none), read in one snapshot.
 *  Both untouched on failure. @return LMM_OK; LMM_ERR_NOTFOUND for an unknown group;
 *  LMM_ERR_DB when a member's PSK cannot be read (the message names the member and the key
 *  file). */
LMM_API lmm_err lmm_store_members_get(lmm_store *s, const char *group, lmm_member **out, size_t *n);

/* --------------------------------------------------------------- campaigns */

/** Stores a new campaign `*c` with its member list (`n` members of `m`; one pending outcome
 *  row per member, in the order given), in one transaction. `c`'s id is ignored; on success
 *  the store sets c->id, and c->created_ms from the context's clock when it is 0. Nothing else
 *  of `c` or `m` is kept by reference. @return LMM_OK; LMM_ERR_ARG for no group name, a bad
 *  kind, a payload length without payload, a member without an endpoint name, or a member
 *  listed twice; `*c` untouched on failure. */
LMM_API lmm_err lmm_store_campaign_create(lmm_store *s, lmm_campaign_info *c, const lmm_member *m,
                                          size_t n);
/** Replaces the mutable fields of row c->id with `c`'s: state, token, TMGI and its end, T8
 *  fields, times, error, fw_summary; never kind nor cancel_requested, nor the operation.
 *  @return LMM_OK; LMM_ERR_NOTFOUND if there is no such campaign. */
LMM_API lmm_err lmm_store_campaign_update(lmm_store *s, const lmm_campaign_info *c);
/** Reads campaign `id` into `*out` (which then owns its strings and payload:
 *  lmm_campaign_info_clear()), cancel_requested included. @return LMM_OK; LMM_ERR_NOTFOUND
 *  for an unknown id (`*out` untouched). */
LMM_API lmm_err lmm_store_campaign_get(lmm_store *s, int64_t id, lmm_campaign_info *out);
/** The campaigns of group `group` (NULL: of every group, those of deleted groups included),
 *  newest first: `*out` an owned array of `*n` (lmm_campaign_info_list_free(); NULL when
 *  there are none). Both untouched on failure. */
LMM_API lmm_err lmm_store_campaign_list(lmm_store *s, const char *group, lmm_campaign_info **out,
                                        size_t *n);
/** Asks campaign `id` to stop: sets its cancel_requested flag, which the process running it
 *  polls (lmm_store_campaign_cancel_requested()). Asking again is LMM_OK. @return LMM_OK;
 *  LMM_ERR_NOTFOUND for an unknown id; LMM_ERR_STATE once it has finished (LMM_CS_DONE or
 *  LMM_CS_FAILED). */
LMM_API lmm_err lmm_store_campaign_request_cancel(lmm_store *s, int64_t id);
/** Whether a cancel was asked for campaign `id`, into `*out`. @return LMM_OK;
 *  LMM_ERR_NOTFOUND for an unknown id (`*out` untouched). */
LMM_API lmm_err lmm_store_campaign_cancel_requested(lmm_store *s, int64_t id, bool *out);

/** Writes the `n` outcomes of `o` (copied into the store) over those of the members they name
 *  (by ep and Object ID) in campaign `id`, in one transaction: all or none.
 *  @return LMM_OK; LMM_ERR_NOTFOUND for an unknown campaign or an outcome of someone who is not
 *  one of its members (the message names it); LMM_ERR_ARG for an outcome without ep, or with a
 *  payload length but no payload. */
LMM_API lmm_err lmm_store_outcomes_put(lmm_store *s, int64_t id, const lmm_outcome *o, size_t n);
/** All outcomes of campaign `id` in member order, read in one snapshot: `*out` an owned array
 *  of `*n` (lmm_outcome_list_free(); NULL when there are none). Both untouched on failure.
 *  @return LMM_OK; LMM_ERR_NOTFOUND for an unknown campaign. */
LMM_API lmm_err lmm_store_outcomes_get(lmm_store *s, int64_t id, lmm_outcome **out, size_t *n);

/** How far a campaign has come: counts over its outcomes (lmm_store_outcome_counts()). */
typedef struct lmm_outcome_counts {
  size_t members;   /**< outcome rows: the campaign's members */
  size_t done;      /**< with a final outcome: done, or a firmware end other than pending */
  size_t succeeded; /**< final and a success: a 2.xx answer without error; firmware: updated */
  size_t refused;   /**< final and refused access, as lmm_outcome_refused() says */
  size_t by_via[4]; /**< final, by the path that served them (index: lmm_path_kind) */
  size_t repaired;  /**< served by unicast repair after a group path */
} lmm_outcome_counts;

/** Counts the outcomes of campaign `id` into `*out` in one query, without reading them: what a
 *  live view polls while the campaign runs (lmm_store_outcomes_get() reads every payload).
 *  The counts agree with what lmm_outcome_refused() and the outcomes' fields say of the rows
 *  lmm_store_outcomes_get() would return at that moment; failed is done - succeeded -
 *  refused. @return LMM_OK; LMM_ERR_NOTFOUND for an unknown campaign (`*out` untouched). */
LMM_API lmm_err lmm_store_outcome_counts(lmm_store *s, int64_t id, lmm_outcome_counts *out);

#ifdef __cplusplus
}
#endif
#endif
