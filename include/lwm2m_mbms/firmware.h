/* firmware.h - firmware to a group over unicast (Grp-Fw-02): the Package write with Block1
 * (push) or the Package URI write that members download from (pull), then each member followed
 * through Downloaded, Update and its Update Result, as one job. */
#ifndef LWM2M_MBMS_FIRMWARE_H
#define LWM2M_MBMS_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blob_server.h"
#include "ctx.h"
#include "err.h"
#include "group.h"
#include "unicast.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_fw_job lmm_fw_job;

/** How far a member got. A member's report keeps the furthest stage it entered. */
typedef enum lmm_fw_stage {
  LMM_FW_STAGE_NONE = 0,   /**< nothing sent: refused (its Object ID is not 5) */
  LMM_FW_STAGE_WRITE,      /**< the Package write to /5/0/0 (push) or the Package URI write to
                            *   /5/0/1 (pull), or waiting for State 2 after it; with
                            *   LMM_FW_AUTO also the read of /5/0/9 before it */
  LMM_FW_STAGE_DOWNLOADED, /**< State 2 seen; the Execute of /5/0/2 comes next */
  LMM_FW_STAGE_UPDATING,   /**< the Execute was accepted; waiting for State 0 and a result */
  LMM_FW_STAGE_DONE        /**< back to Idle with an Update Result (success or not) */
} lmm_fw_stage;

/** How the package reaches a member (docs/protocol.md section 5.6). */
typedef enum lmm_fw_delivery {
  LMM_FW_PUSH = 0, /**< the adapter writes the package to /5/0/0 with Block1 */
  LMM_FW_PULL,     /**< the adapter writes a coap:// URI to /5/0/1; the member downloads it */
  LMM_FW_AUTO      /**< per member, by its Delivery Method /5/0/9 (read once): 0 pull only ->
                    *   pull, 1 push only -> push, 2 both -> pull unless `prefer_push`; a member
                    *   that answers the read with an error code or an unreadable value gets the
                    *   preferred method too (one that cannot be reached fails there) */
} lmm_fw_delivery;

typedef struct lmm_fw_config {
  long poll_interval_ms;     /**< between two polling rounds (default 200) */
  long download_deadline_ms; /**< from the acknowledged write to State 2 (default 60000) */
  long update_deadline_ms;   /**< from the accepted Execute to a result (default 300000) */
  /* Appended, so that an initializer written before pull existed keeps meaning push: zero is
   * LMM_FW_PUSH with no server. */
  lmm_fw_delivery delivery; /**< default LMM_FW_PUSH */
  bool prefer_push;         /**< LMM_FW_AUTO, member supports both: push (default false: pull) */
  /** Pull (LMM_FW_PULL / LMM_FW_AUTO): the job registers the image there at lmm_fw_new() and
   *  writes the blob's URI; the blob is removed by lmm_fw_free(). Borrowed: must outlive the
   *  job. Exactly one of `server` and `pull_uri` is needed for pull. */
  lmm_blob_server *server;
  /** Pull from elsewhere: this URI (at most 255 bytes, copied) is written as is. The image may
   *  then be NULL with LMM_FW_PULL; the adapter sends no package bytes. */
  const char *pull_uri;
  /** Many clients never set Update Result 1: a member back at Idle after the Execute with
   *  Update Result still 0 whose PkgVersion (/5/0/7) equals this text counts as updated (the
   *  report says how it was judged). NULL (default): only Update Result 1 counts. Copied. */
  const char *expect_version;
  /** Optional (NULL: none). Runs from the loop just before the Execute of /5/0/2 leaves for
   *  the `n` members `idx` (indices into the member array given to lmm_fw_new(); borrowed,
   *  valid during the call), with the job's `user`: the place to record durably that their
   *  update is asked (write-ahead), so that after a crash a resumed job never asks it twice
   *  (lmm_fw_resume_member()). LMM_OK sends; any other error holds the Execute back: those
   *  members fail with that error and nothing is sent to them. Must not free the job. */
  lmm_err (*before_execute)(void *user, const size_t *idx, size_t n);
} lmm_fw_config;

#define LMM_FW_CONFIG_DEFAULT                                                                      \
  {                                                                                                \
    .poll_interval_ms = 200, .download_deadline_ms = 60000, .update_deadline_ms = 300000,          \
    .delivery = LMM_FW_PUSH, .prefer_push = false, .server = NULL, .pull_uri = NULL,               \
    .expect_version = NULL, .before_execute = NULL                                                 \
  }

/** One member's outcome. Borrowed: see lmm_fw_reports() and lmm_fw_handlers. */
typedef struct lmm_fw_report {
  size_t index;             /**< position in the member array given to lmm_fw_new() */
  const lmm_member *member; /**< the job's copy */
  lmm_fw_stage stage;
  bool final;              /**< the member's outcome is known (always true in on_member) */
  bool ok;                 /**< stage DONE with Update Result 1 */
  lmm_err err;             /**< LMM_OK when every step got an answer (even a non-1 Update Result);
                            *   LMM_ERR_ARG refused, LMM_ERR_TIMEOUT a deadline, LMM_ERR_COAP a step
                            *   answered with an error code, LMM_ERR_PROTO an unreadable State/Result,
                            *   LMM_ERR_STATE back to Idle after a push write with no result, or the
                            *   engine's error (LMM_ERR_NET ...). Back to Idle after the write with
                            *   an Update Result > 1 (e.g. 7 invalid URI, 9 unsupported protocol)
                            *   fails at once, with LMM_OK and that update_result; after a pull
                            *   write, Idle with result 0 is waited out (the member may not have
                            *   started its download yet) until download_deadline_ms */
  size_t bytes_written;    /**< package bytes the adapter sent to it by unicast. Push: the image
                            *   length once the write got 2.04, else 0 (the engine reports no
                            *   partial Block1 progress). Pull from `server`: the image length
                            *   once it reached State 2, else 0 (the server does not attribute
                            *   blocks to members, so this is what it had to serve, not a count of
                            *   its datagrams: lmm_blob_server_get_stats() has those). Pull from
                            *   `pull_uri`: 0 */
  int update_result;       /**< /5/0/5 as last read, -1 when never read */
  uint8_t coap_code;       /**< code of the last failed step (e.g. 0x85 4.05), 0 when none */
  int attempts;            /**< requests the engine sent to it, summed over every step */
  int64_t elapsed_ms;      /**< from its first send to its outcome (or to now while running) */
  const char *error;       /**< NULL when ok; otherwise what went wrong */
  bool pulled;             /**< the URI write was the path chosen for it (pull), not Block1 */
  int state;               /**< /5/0/3 as last read, -1 when never read */
  const char *pkg_version; /**< /5/0/7 as last read (once the member is back at Idle after
                            *   the Execute, and at a deadline), NULL when never read or
                            *   absent; the job's copy */
} lmm_fw_report;

/** Callbacks, run from lmm_ctx_process(). Not copied: the table must outlive the job. */
typedef struct lmm_fw_handlers {
  /** A member got its outcome (`r` borrowed, valid during the call). Must not free the job. */
  void (*on_member)(void *user, const lmm_fw_report *r);
  /** Every member has its outcome: `result` is LMM_OK whatever the members' results, or why
   *  the job could not go on (LMM_ERR_NOMEM; the members left then fail with it).
   *  lmm_fw_free() is allowed here. */
  void (*on_done)(void *user, lmm_fw_job *j, lmm_err result);
} lmm_fw_handlers;

/** Creates a job that brings `image` to `members` through the engine `u` (borrowed: must
 *  outlive the job; its max_in_flight bounds the concurrency, its block_size the Block1
 *  blocks). `members` and `image` are copied, `cfg` too (NULL: defaults; `pull_uri` copied,
 *  `server` borrowed). `h` not copied. With `cfg->server` the image is registered there now
 *  (borrowed from the job's copy, removed by lmm_fw_free()). LMM_ERR_ARG for NULL arguments, an
 *  empty image (allowed only for LMM_FW_PULL with `pull_uri`), a negative interval or deadline,
 *  an unknown `delivery`, pull or auto without exactly one of `server` and `pull_uri`, or a
 *  `pull_uri` empty or longer than 255 bytes; the server's error when it refuses the image. */
LMM_API lmm_err lmm_fw_new(lmm_ctx *ctx, lmm_unicast *u, const lmm_fw_config *cfg,
                           const lmm_member *members, size_t n, const uint8_t *image, size_t len,
                           const lmm_fw_handlers *h, void *user, lmm_fw_job **out);
/** Marks member `i` as resumed: a job before this one (stopped by a crash) may have sent it
 *  part or all of the package, and, when `update_asked`, its Execute. Its State (/5/0/3) is
 *  read before anything is sent: 2 Downloaded goes straight to the Execute (no package again;
 *  asked even with `update_asked`, as a client leaves Downloaded when it takes an Execute);
 *  3 Updating is waited for; 0 Idle after an asked update has its Update Result read (so an
 *  Execute that ran is never asked again); anything else gets the package again from the start
 *  (push: Package write; pull: this job's URI, which replaces the one written before). Call
 *  before lmm_fw_start(). LMM_ERR_ARG for NULL or `i` out of range; LMM_ERR_STATE once
 *  started. */
LMM_API lmm_err lmm_fw_resume_member(lmm_fw_job *j, size_t i, bool update_asked);
/** Starts (never blocks; everything happens in lmm_ctx_process(): no callback runs inside this
 *  call). Members whose Object ID is not 5 are refused there, with nothing sent. LMM_ERR_ARG
 *  for NULL; LMM_ERR_STATE if already started; LMM_ERR_NOMEM (not started: may be retried). */
LMM_API lmm_err lmm_fw_start(lmm_fw_job *j);
/** Cancels what is in flight (no more callbacks), removes the image from the blob server (a
 *  member still downloading then gets 4.04) and frees. NULL: no-op. Allowed from on_done, not
 *  from on_member. */
LMM_API void lmm_fw_free(lmm_fw_job *j);
/** True once on_done has run. */
LMM_API bool lmm_fw_done(const lmm_fw_job *j);
/** The reports of all members, in member order; `*n` (`n` may be NULL) their count. Borrowed;
 *  valid until the job is freed, and changing while it runs: a report's strings may be
 *  replaced by the loop, so copy what must outlast the next lmm_ctx_process(). NULL (and 0)
 *  when `j` is NULL. */
LMM_API const lmm_fw_report *lmm_fw_reports(const lmm_fw_job *j, size_t *n);
/** Blocking helper: runs the context until the job is done or `timeout_ms` passes (-1: no
 *  limit). LMM_OK, LMM_ERR_TIMEOUT, LMM_ERR_STATE when not started (or NULL), or the context's
 *  error. Not from a callback (the loop is not re-entrant). */
LMM_API lmm_err lmm_fw_wait(lmm_fw_job *j, long timeout_ms);
/** The OMA meaning of an Update Result (/5/0/5), e.g. 5 "integrity check failure". Never NULL;
 *  static storage. */
LMM_API const char *lmm_fw_update_result_text(int result);

#ifdef __cplusplus
}
#endif
#endif
