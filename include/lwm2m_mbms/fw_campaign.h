/* fw_campaign.h - a firmware campaign: one blob to a whole group (Grp-Fw-01..03), over MBMS or
 * IP multicast (fragments, status rounds, repair; docs/protocol.md section 5) or over unicast
 * (push or pull), then the update in waves, each member followed to its Update Result. */
#ifndef LWM2M_MBMS_FW_CAMPAIGN_H
#define LWM2M_MBMS_FW_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaign.h"
#include "ctx.h"
#include "err.h"
#include "group.h"
#include "t8.h"
#include "unicast.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_fwc lmm_fwc;
typedef struct lmm_blob_server lmm_blob_server;

/** What the campaign uses; all borrowed, must outlive it. `t8` for MBMS groups, `answers` for
 *  MBMS and multicast groups, `blobs` for the unicast pull method, `store` optional. */
typedef struct lmm_fwc_deps {
  lmm_ctx *ctx;
  lmm_unicast *unicast;
  lmm_t8_client *t8;
  lmm_answers *answers;
  lmm_blob_server *blobs;
  lmm_store *store;
} lmm_fwc_deps;

/** How unicast members get the package. */
typedef enum lmm_fwc_method {
  LMM_FWC_PUSH = 0, /**< Block1 write of /5/0/0 */
  LMM_FWC_PULL,     /**< a coap:// URI of the blob server written to /5/0/1 */
  LMM_FWC_AUTO      /**< each member's Delivery Method (/5/0/9) decides; push when both */
} lmm_fwc_method;

/** The erasure code of a blob to a group (docs/fec.md). */
typedef enum lmm_fec_code {
  LMM_FEC_XOR = 0, /**< XOR parity, one per fec_stride fragments (the code before 0.2) */
  LMM_FEC_RS = 1   /**< systematic Reed-Solomon in interleaved blocks of fec_block (default) */
} lmm_fec_code;

typedef struct lmm_fwc_config {
  const lmm_group_info *group; /**< copied */
  const lmm_member *members;   /**< copied */
  size_t n_members;
  const uint8_t *image; /**< copied */
  size_t len;
  lmm_path_kind via;             /**< lmm_path_kind; LMM_VIA_NONE: the group's type */
  lmm_fwc_method method;         /**< lmm_fwc_method, for unicast */
  uint32_t fragment_size;        /**< 16..1024 (default 512) */
  uint32_t fec_stride;           /**< xor: one parity fragment per this many data fragments;
                                  *   0 none */
  lmm_fec_code fec_code;         /**< lmm_fec_code (default LMM_FEC_RS) */
  uint32_t fec_block;            /**< rs: source fragments per block, 1..254 (default 171) */
  double fec_loss;               /**< rs: reception loss the first pass's parity is sized
                                  *   for, 0 .. 0.5 (default 0.05) */
  uint64_t rate_bps;             /**< bearer bytes per second (default 1000000) */
  long window_s;                 /**< answer window of the status rounds; -1: the group's */
  long grace_ms;                 /**< after a window (default 1000) */
  int max_rounds;                /**< status rounds before the incomplete fail (default 5) */
  unsigned repair_multicast_min; /**< a fragment missed by this many goes to the group (3) */
  size_t wave_count;             /**< first wave: this many members (0: see wave_percent) */
  double wave_percent;           /**< ... or this percentage of them (0: no wave) */
  double success_threshold;      /**< share of the wave that must succeed to go on (default 1.0) */
  double error_threshold;     /**< share of the wave whose failure stops it (default 0.0 = any) */
  long update_wait_ms;        /**< after the update before the results round (default 1000) */
  long update_deadline_ms;    /**< for a member's Update Result (default 300000) */
  bool skip_group_mgmt;       /**< members already configured: no Group Mgmt write */
  const char *mcast_if;       /**< interface address for IP multicast (default 127.0.0.1);
                               *   copied */
  const char *version;        /**< the package's version, announced to the group (v=); NULL:
                               *   none; 1..32 of letters, digits and . _ - + */
  const char *expect_version; /**< unicast members: back at Idle after the update with Update
                               *   Result 0 and this PkgVersion count as updated
                               *   (lmm_fw_config.expect_version); NULL: Update Result 1 only.
                               *   Copied */
  const char *image_name;     /**< where the image came from (e.g. its file), kept with the
                               *   stored campaign for a resume (lmm_fwc_image_name()); NULL:
                               *   none. Copied into the store only */
  lmm_protect protect;        /**< group message protection (default LMM_PROTECT_AUTO) */
} lmm_fwc_config;

#define LMM_FWC_CONFIG_DEFAULT                                                                     \
  {                                                                                                \
    .group = NULL, .members = NULL, .n_members = 0, .image = NULL, .len = 0, .via = LMM_VIA_NONE,  \
    .method = LMM_FWC_PUSH, .fragment_size = 512, .fec_stride = 0, .fec_code = LMM_FEC_RS,         \
    .fec_block = 171, .fec_loss = 0.05, .rate_bps = 1000000, .window_s = -1, .grace_ms = 1000,     \
    .max_rounds = 5, .repair_multicast_min = 3, .wave_count = 0, .wave_percent = 0,                \
    .success_threshold = 1.0, .error_threshold = 0.0, .update_wait_ms = 1000,                      \
    .update_deadline_ms = 300000, .skip_group_mgmt = false, .mcast_if = NULL, .version = NULL,     \
    .expect_version = NULL, .image_name = NULL, .protect = LMM_PROTECT_AUTO                        \
  }

/** Where a member ended. */
typedef enum lmm_fwc_end {
  LMM_FWC_PENDING = 0,
  LMM_FWC_UPDATED,   /**< Update Result 1 */
  LMM_FWC_FAILED,    /**< a failure Update Result, or unreachable, or a deadline */
  LMM_FWC_HELD,      /**< downloaded but not updated: the first wave stopped the campaign */
  LMM_FWC_CANCELLED, /**< the campaign was cancelled before its update */
  LMM_FWC_REFUSED    /**< its Object ID is not 5 (nothing sent), or it refused the server
                      *   access (4.01 or 4.03, lmm_code_is_refusal()) to the Group Mgmt write,
                      *   the package, the status or the update (the error says which) */
} lmm_fwc_end;

/** One member's report. Borrowed from the campaign. */
typedef struct lmm_fwc_member {
  const lmm_member *member;
  lmm_path_kind via;           /**< lmm_path_kind that brought most of the blob */
  bool pulled;                 /**< unicast pull (else push) when via is unicast */
  bool wave;                   /**< in the first wave */
  lmm_fwc_end end;             /**< lmm_fwc_end */
  lmm_err err;                 /**< why it failed (LMM_OK when it got a failure result) */
  int state;                   /**< last Firmware Update State seen, -1 unknown */
  int update_result;           /**< last Update Result seen, -1 unknown */
  uint64_t bytes_unicast;      /**< blob bytes the adapter sent it by unicast */
  uint32_t missed_first;       /**< data fragments it missed in the first pass */
  uint32_t fragments_repaired; /**< fragments it got again by unicast */
  int64_t elapsed_ms;          /**< from the start to its end */
  const char *error;           /**< NULL when updated */
  const char *pkg_version;     /**< PkgVersion (/5/0/7) as last read (unicast path), or NULL */
  lmm_step gm_step;            /**< the Group Mgmt write (lmm_step; NONE over unicast) */
  uint8_t gm_code;             /**< its answer's code, 0 none */
  const char *gm_error;        /**< why it failed, or NULL */
  bool update_asked;           /**< its update (Execute) was asked, by the group or by unicast */
} lmm_fwc_member;

typedef enum lmm_fwc_phase {
  LMM_FWC_P_CREATED = 0,
  LMM_FWC_P_CONFIGURING, /**< TMGI, Group Mgmt writes */
  LMM_FWC_P_SENDING,     /**< announce and fragments */
  LMM_FWC_P_STATUS,      /**< a status round */
  LMM_FWC_P_REPAIRING,
  LMM_FWC_P_WAVE,     /**< the first wave's update */
  LMM_FWC_P_UPDATING, /**< the update of the rest, and its results */
  LMM_FWC_P_DONE,
  LMM_FWC_P_STOPPED, /**< the first wave crossed a threshold */
  LMM_FWC_P_CANCELLED,
  LMM_FWC_P_FAILED
} lmm_fwc_phase;

/** Campaign-wide figures. */
typedef struct lmm_fwc_stats {
  uint32_t k, q;              /**< data and parity fragments (0 over unicast) */
  uint64_t bytes_group;       /**< bytes the adapter sent to the group (CoAP messages) */
  uint64_t bytes_unicast;     /**< blob bytes the adapter sent by unicast */
  uint64_t fragments_sent;    /**< group fragment messages, repair rounds included */
  uint32_t rounds;            /**< status rounds */
  uint32_t multicast_repairs; /**< fragments sent to the group again */
  uint32_t unicast_repairs;   /**< fragments sent to one member */
  size_t updated, failed, held, cancelled, refused, pending;
  lmm_fwc_phase phase;    /**< lmm_fwc_phase */
  uint32_t repair_rounds; /**< repair steps between status rounds (multicast or unicast) */
  uint32_t fec_rows;      /**< rs: parity rows per block used so far (first pass and repair) */
} lmm_fwc_stats;

/** The name of a phase ("sending"), static. */
LMM_API const char *lmm_fwc_phase_name(lmm_fwc_phase phase);
/** The name of an end ("updated", "held"...), static. */
LMM_API const char *lmm_fwc_end_name(lmm_fwc_end end);

typedef struct lmm_fwc_handlers {
  void (*on_member)(void *user, size_t index, const lmm_fwc_member *m); /**< a member ended */
  void (*on_phase)(void *user, lmm_fwc_phase phase);                    /**< lmm_fwc_phase */
  /** Finished: LMM_OK when it ran to its end (members may have failed; a stop by threshold
   *  or a cancel is LMM_OK too, see the phase), else why it could not run. lmm_fwc_free()
   *  is allowed here. */
  void (*on_done)(void *user, lmm_fwc *c, lmm_err result);
} lmm_fwc_handlers;

/** Creates a campaign (stored at once when deps has a store). `h` not copied. LMM_ERR_ARG
 *  with a logged reason for an empty image, no members, or settings out of range. */
LMM_API lmm_err lmm_fwc_new(const lmm_fwc_deps *deps, const lmm_fwc_config *cfg,
                            const lmm_fwc_handlers *h, void *user, lmm_fwc **out);
/** The image name (lmm_fwc_config.image_name) stored with firmware campaign `info` (as read
 *  with lmm_store_campaign_get()): owned, free with free(); NULL when none was given, the
 *  campaign is not a firmware campaign, or out of memory. */
LMM_API char *lmm_fwc_image_name(const lmm_campaign_info *info);
/** Whether resuming firmware campaign `info` (as read with lmm_store_campaign_get()) needs a
 *  blob server in lmm_fwc_deps.blobs: true for a unicast campaign whose method is pull or
 *  auto; false otherwise, for NULL, or for settings that cannot be read (lmm_fwc_resume() says
 *  why). */
LMM_API bool lmm_fwc_resume_needs_blobs(const lmm_campaign_info *info);
/** Reloads stored firmware campaign `id` from `deps->store`, to continue it with
 *  lmm_fwc_start() after its process stopped: the same blob ID and settings, and `image`
 *  (`len` bytes, copied), which must be the image it started with (size and SHA-256 are
 *  checked). Over MBMS or IP multicast, the Group Mgmt object is written again to the members
 *  still pending (the Answer URI may have changed); then a status round asks them what they
 *  hold, and only the fragments they miss are sent again. A member whose update was asked
 *  before the stop is not asked again unless its status shows that the Execute never ran
 *  (still Downloaded). Over unicast, each pending member's State is read first
 *  (lmm_fw_resume_member()): a Downloaded one gets no package again, one whose update was
 *  asked is judged by its State and Update Result, the others get the package again (push)
 *  or the URI of the image on `deps->blobs` (pull: the URI written before named the stopped
 *  process's blob server); the first wave stays the one chosen. Members whose end is recorded
 *  keep it; one no longer in the group ends failed (LMM_ERR_NOTFOUND). `deps`, `h` and `user`
 *  as lmm_fwc_new() (`blobs` when lmm_fwc_resume_needs_blobs()); the store is required.
 *  @return LMM_OK; LMM_ERR_ARG for a NULL or empty argument, no store, an image that is not
 *  the campaign's, or no `blobs` for a unicast pull or auto campaign; LMM_ERR_NOTFOUND for an
 * unknown id or a group that is gone; LMM_ERR_STATE for an operation campaign, one that has ended,
 * one stored without its settings (before schema version 5); LMM_ERR_PROTO for unreadable stored
 * settings; LMM_ERR_NOMEM; the store's error. The reason is logged. `*out` is untouched on failure.
 */
LMM_API lmm_err lmm_fwc_resume(const lmm_fwc_deps *deps, int64_t id, const uint8_t *image,
                               size_t len, const lmm_fwc_handlers *h, void *user, lmm_fwc **out);
/** Starts (never blocks; the work goes on in lmm_ctx_process()). Unlike lmm_fw_start(),
 *  callbacks may run inside this call: on_member for each member refused before sending (Object ID
 * not 5), and on_phase and on_done when that leaves no member to serve or the first step fails.
 *  LMM_ERR_ARG for NULL; LMM_ERR_STATE if already started. */
LMM_API lmm_err lmm_fwc_start(lmm_fwc *c);
/** Stops at the next step: no more fragments, no update; members not updated end cancelled.
 *  Never calls back from inside: on_done follows from the loop. Allowed from callbacks; again,
 *  or once the campaign is ending, it does nothing. NULL: no-op. */
LMM_API void lmm_fwc_cancel(lmm_fwc *c);
/** Frees; cancels what is in flight (no more callbacks). NULL: no-op. Allowed from on_done. */
LMM_API void lmm_fwc_free(lmm_fwc *c);
/** The members' reports, in the order of cfg.members; `*n` receives their count (`c` and `n`
 *  required). Borrowed: the array lives until lmm_fwc_free(); while the campaign runs the loop
 *  updates the entries and may replace their strings (`error`, `pkg_version`, `gm_error`), so
 *  copy what must outlast the next lmm_ctx_process(). */
LMM_API const lmm_fwc_member *lmm_fwc_members(const lmm_fwc *c, size_t *n);
/** Member `i`'s result as a campaign outcome, exactly as the store records it (so that a report
 *  printed from a running campaign matches `report` from the store). `o` is overwritten; its
 *  strings are borrowed from the campaign (valid until it is freed, and changed as it runs):
 *  never free them. `i` must be below the member count. */
LMM_API void lmm_fwc_outcome(const lmm_fwc *c, size_t i, lmm_outcome *o);
/** Fills `*out` (`c` and `out` required) with the campaign-wide figures, the per-end counts
 *  tallied from the members' reports at the time of the call. */
LMM_API void lmm_fwc_get_stats(const lmm_fwc *c, lmm_fwc_stats *out);
/** The stored campaign id, 0 without a store. */
LMM_API int64_t lmm_fwc_id(const lmm_fwc *c);
/** Why the campaign failed (or why a threshold stopped it), or NULL. Borrowed; valid until
 *  lmm_fwc_free(). */
LMM_API const char *lmm_fwc_error(const lmm_fwc *c);
/** Hands in a T8 delivery notification (from the host's notification receiver): recorded
 *  (stored with the campaign) when `transaction` is the link of the campaign's MB2-U delivery.
 *  Returns true if it was. */
LMM_API bool lmm_fwc_t8_notified(lmm_fwc *c, const char *transaction, bool delivered);
/** Runs the context until on_done has run or `timeout_ms` passes (-1: no limit). LMM_OK,
 *  LMM_ERR_TIMEOUT, LMM_ERR_STATE when not started, or the loop's error. Not from a callback
 *  (the loop is not re-entrant). */
LMM_API lmm_err lmm_fwc_wait(lmm_fwc *c, long timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
