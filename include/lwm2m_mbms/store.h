/* store.h - state that survives: groups, members, TMGIs, campaigns and per-member outcomes,
 * in SQLite. Every write is one transaction: a crash never leaves half of it behind. */
#ifndef LWM2M_MBMS_STORE_H
#define LWM2M_MBMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "group.h"
#include "lwm2m.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_store lmm_store;

/** Where the store lives when no path is given: $LMM_DB, else
 *  $XDG_STATE_HOME/lwm2m-mbms/state.db, else $HOME/.local/state/lwm2m-mbms/state.db.
 *  Writes into buf and returns it, or NULL when none can be made (no HOME). */
LMM_API char *lmm_store_default_path(char *buf, size_t cap);

/** Opens (creating file, parent directory and schema as needed) the store at `path` (NULL:
 *  the default). WAL journal, a busy timeout, foreign keys on. A file that is not a store of
 *  ours, or of a newer schema, is refused with LMM_ERR_DB and `why`. */
LMM_API lmm_err lmm_store_open(const char *path, lmm_store **out, char *why, size_t why_cap);
LMM_API void lmm_store_close(lmm_store *s);
/** SQLite's message for the last failure (borrowed, valid until the next call). */
LMM_API const char *lmm_store_errmsg(const lmm_store *s);

/* ------------------------------------------------------------------ groups */

/** What becomes of a group's TMGI when a campaign ends (docs/architecture.md, "TMGIs"). */
typedef enum lmm_tmgi_policy {
  LMM_TMGI_KEEP = 0,   /**< kept for the group's next campaign until it expires (renewed by
                        *   the campaign that needs it longer): no allocation per campaign,
                        *   and the members keep listening to the same bearer */
  LMM_TMGI_RELEASE = 1 /**< deleted on the SCEF (T8 DELETE) when the campaign ends; the next
                        *   campaign allocates a new one and writes it to every member */
} lmm_tmgi_policy;

/** A group as the server keeps it (seed Table 1 + Group Mgmt values). Owned members. */
typedef struct lmm_group_info {
  char *name;                   /**< Group ID: unique, set by the server */
  int type;                     /**< lmm_group_type */
  uint16_t gm_oid;              /**< Object ID of the Group Mgmt object (default 42769) */
  char *external_group_id;      /**< MBMS groups: local@domain */
  char *multicast_address;      /**< IP multicast groups */
  int32_t multicast_port;       /**< -1: default 5683 */
  int64_t response_time_window; /**< seconds */
  char *fanout_target;
  int64_t *schedule; /**< seconds since the epoch */
  size_t n_schedule;
  char *tmgi;              /**< allocated TMGI, or NULL */
  int64_t tmgi_expiration; /**< seconds since the epoch; 0 unknown */
  int64_t created;         /**< seconds since the epoch (set by the store) */
  size_t member_count;     /**< filled by get/list */
  /** Instance ID of the group's Group Mgmt object on its members (0..65534). The store
   *  assigns it on create, unique among its groups, so that a device in several groups holds
   *  one instance per group; get/list return it, update keeps it. A hand-built struct (no
   *  store) leaves it 0: instance 0. A campaign treats a negative value as 0. */
  int32_t gm_iid;
  int tmgi_policy; /**< lmm_tmgi_policy (0, keep, for a zeroed struct) */
} lmm_group_info;

LMM_API void lmm_group_info_clear(lmm_group_info *g);
LMM_API void lmm_group_info_list_free(lmm_group_info *g, size_t n);

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

/** Adds members (all or none: a member ID already in the group -> LMM_ERR_STATE, `why` names
 *  it). Members keep their insertion order. */
LMM_API lmm_err lmm_store_members_add(lmm_store *s, const char *group, const lmm_member *m,
                                      size_t n, char *why, size_t why_cap);
LMM_API lmm_err lmm_store_member_remove(lmm_store *s, const char *group, const char *ep,
                                        uint16_t oid);
/** `*out` owned (lmm_members_free()). LMM_ERR_NOTFOUND for an unknown group. */
LMM_API lmm_err lmm_store_members_get(lmm_store *s, const char *group, lmm_member **out, size_t *n);

/* --------------------------------------------------------------- campaigns */

typedef enum lmm_campaign_state {
  LMM_CS_CREATED = 0, /**< stored, nothing done yet */
  LMM_CS_CONFIGURING, /**< TMGI and Group Mgmt writes */
  LMM_CS_DELIVERING,  /**< group message on its way */
  LMM_CS_COLLECTING,  /**< answer window */
  LMM_CS_REPAIRING,   /**< unicast to the silent members */
  LMM_CS_DONE,
  LMM_CS_FAILED
} lmm_campaign_state;

/** Paths a member can be served by. */
typedef enum lmm_path_kind {
  LMM_VIA_NONE = 0,
  LMM_VIA_MBMS,
  LMM_VIA_MULTICAST,
  LMM_VIA_UNICAST
} lmm_path_kind;

/** What a campaign did with its TMGI at its end. */
typedef enum lmm_tmgi_end {
  LMM_TMGI_END_NONE = 0,      /**< no TMGI (not MBMS), or the campaign has not ended */
  LMM_TMGI_END_KEPT,          /**< left allocated for the group's next campaign */
  LMM_TMGI_END_RELEASED,      /**< deleted on the SCEF (or the SCEF no longer had it) */
  LMM_TMGI_END_RELEASE_FAILED /**< the delete failed: the TMGI lives on until it expires */
} lmm_tmgi_end;

/** What a campaign does. */
typedef enum lmm_campaign_kind {
  LMM_CK_OPERATION = 0, /**< one LwM2M operation (campaign.h) */
  LMM_CK_FIRMWARE = 1   /**< a firmware blob and its update (fw_campaign.h) */
} lmm_campaign_kind;

/** A campaign row. Owned members. */
typedef struct lmm_campaign_info {
  int64_t id; /**< set by the store on create */
  char *group;
  int state; /**< lmm_campaign_state */
  int via;   /**< lmm_path_kind the group operation goes by */
  /* the operation */
  int op_kind;   /**< lmm_op_kind */
  char *op_path; /**< "/6/0" */
  uint16_t op_format;
  uint8_t *op_payload;
  size_t op_len;
  char *op_query; /**< Write-Attributes query or NULL */
  int64_t window_s;
  bool repair;
  char *token_hex; /**< the group request's token (16 hex digits) or NULL */
  char *tmgi;
  char *t8_transaction; /**< link of the T8 delivery, or NULL */
  int t8_status;        /**< -1 no notification yet, 0 failed, 1 delivered */
  int64_t created_ms, started_ms, delivered_ms, finished_ms; /**< wall clock, 0 = not yet */
  char *error;                                               /**< why a campaign failed, or NULL */
  int kind;              /**< lmm_campaign_kind; set on create, never changed */
  char *fw_summary;      /**< firmware campaigns: a JSON object of their figures, or NULL */
  bool cancel_requested; /**< loaded only: see lmm_store_campaign_request_cancel() */
  uint16_t op_accept;    /**< the Accept of a read (LMM_ACCEPT_AUTO, NONE or a format);
                          *   set on create, never changed */
  int tmgi_end;          /**< lmm_tmgi_end */
} lmm_campaign_info;

LMM_API void lmm_campaign_info_clear(lmm_campaign_info *c);
LMM_API void lmm_campaign_info_list_free(lmm_campaign_info *c, size_t n);
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

/** How one step of a campaign went for a member: the Group Mgmt write, the group request,
 *  the unicast request (the only request of a unicast group, the repair of a group one). */
typedef enum lmm_step {
  LMM_STEP_NONE = 0, /**< the step did not run for this member (or was not recorded) */
  LMM_STEP_OK,       /**< answered with a success code (2.xx) */
  LMM_STEP_REFUSED,  /**< answered with an error code (kept with the step) */
  LMM_STEP_FAILED,   /**< no answer: a timeout, a network error, refused before sending */
  LMM_STEP_SILENT    /**< the group request: no answer within the Response Time Window */
} lmm_step;

/** The name of a step result ("ok", "refused", "failed", "silent", "-" for none); static. */
LMM_API const char *lmm_step_name(int step);

/** One member's outcome in a campaign. Owned members. */
typedef struct lmm_outcome {
  char *ep;
  uint16_t oid;
  int via;           /**< lmm_path_kind that served it; LMM_VIA_NONE while pending */
  bool gm_written;   /**< the Group Mgmt write succeeded */
  bool done;         /**< has a final outcome (success or failure) */
  bool repaired;     /**< served by unicast repair after a group path */
  uint8_t coap_code; /**< 0 none */
  int err;           /**< lmm_err */
  uint8_t *payload;
  size_t payload_len;
  int content_format; /**< -1 none */
  int attempts;
  int64_t latency_ms; /**< from the group request's delivery (or the unicast send) */
  char *error;
  /* Firmware campaigns (lmm_fwc_member); an operation campaign leaves the defaults. */
  int fw_end;                /**< lmm_fwc_end; 0 pending */
  int fw_state;              /**< last Firmware Update State, -1 unknown */
  int fw_result;             /**< last Update Result, -1 unknown */
  bool fw_wave;              /**< in the first wave */
  bool fw_pulled;            /**< unicast pull (else push) when via is unicast */
  uint64_t fw_bytes_unicast; /**< blob bytes sent to it by unicast */
  uint32_t fw_missed;        /**< data fragments missed in the first pass */
  uint32_t fw_repaired;      /**< fragments sent to it again by unicast */
  /* Each step's own result, whatever the final outcome above says (lmm_step). */
  int gm_step;          /**< the Group Mgmt write */
  uint8_t gm_code;      /**< its answer's code, 0 none */
  char *gm_error;       /**< why it failed, NULL when it did not */
  int group_step;       /**< the group request (MBMS / IP multicast) */
  uint8_t group_code;   /**< the code of the member's answer to it, 0 none */
  int unicast_step;     /**< the unicast request: the operation itself or its repair */
  uint8_t unicast_code; /**< its answer's code, 0 none */
  char *unicast_error;  /**< why it failed, NULL when it did not */
  char *fw_pkg_version; /**< firmware: PkgVersion (/5/0/7) as last read, NULL never read */
} lmm_outcome;

/** A pending outcome with no owned members: zeroes, and -1 for content_format, fw_state and
 *  fw_result (their "none"). Use it rather than {0} for outcomes that reach the store. */
LMM_API void lmm_outcome_init(lmm_outcome *o);
LMM_API void lmm_outcome_clear(lmm_outcome *o);
LMM_API void lmm_outcome_list_free(lmm_outcome *o, size_t n);
/** Writes the outcomes of members (matched by ep+oid) of campaign `id` in one transaction. */
LMM_API lmm_err lmm_store_outcomes_put(lmm_store *s, int64_t id, const lmm_outcome *o, size_t n);
/** All outcomes of a campaign in member order; `*out` owned (lmm_outcome_list_free()). */
LMM_API lmm_err lmm_store_outcomes_get(lmm_store *s, int64_t id, lmm_outcome **out, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
