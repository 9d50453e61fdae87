/* campaign.h - one group operation on one group: the TS 23.682 5.5.1 flow as a state machine
 * driven by the context's loop (TMGI, Group Mgmt writes, group message, answers, repair), and
 * what a campaign is made of: its row (lmm_campaign_info) and its members' outcomes.
 *
 * Threads: a campaign and an answer receiver belong to their context's thread; make all calls
 * on one context, and on everything made from it, from one thread. */
#ifndef LWM2M_MBMS_CAMPAIGN_H
#define LWM2M_MBMS_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "err.h"
#include "group.h"
#include "lwm2m.h"
#include "t8.h"
#include "unicast.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------- campaigns and outcomes */

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
  lmm_campaign_state state;
  lmm_path_kind via; /**< the path the group operation goes by */
  /* the operation */
  lmm_op_kind op_kind;
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
  lmm_campaign_kind kind;                                    /**< set on create, never changed */
  char *fw_summary;      /**< firmware campaigns: a JSON object of their figures, or NULL */
  bool cancel_requested; /**< loaded only: see lmm_store_campaign_request_cancel() */
  uint16_t op_accept;    /**< the Accept of a read (LMM_ACCEPT_AUTO, NONE or a format);
                          *   set on create, never changed */
  lmm_tmgi_end tmgi_end;
  char *fw_config; /**< firmware campaigns: a JSON object of the settings and blob ID that
                    *   lmm_fwc_resume() needs, or NULL; set on create, never changed */
  int protect;     /**< operation campaigns: the lmm_protect they started with, which
                    *   lmm_campaign_resume() applies again; set on create, never changed */
} lmm_campaign_info;

/** Frees what `c` owns and zeroes it; `c` itself is the caller's. NULL: no-op. */
LMM_API void lmm_campaign_info_clear(lmm_campaign_info *c);
/** Clears the `n` rows of the array `c` and frees the array (as returned by
 *  lmm_store_campaign_list()). NULL: no-op. */
LMM_API void lmm_campaign_info_list_free(lmm_campaign_info *c, size_t n);

/** How one step of a campaign went for a member: the Group Mgmt write, the group request,
 *  the unicast request (the only request of a unicast group, the repair of a group one). */
typedef enum lmm_step {
  LMM_STEP_NONE = 0, /**< the step did not run for this member (or was not recorded) */
  LMM_STEP_OK,       /**< answered with a success code (2.xx) */
  LMM_STEP_REFUSED,  /**< answered with an error code (kept with the step) */
  LMM_STEP_FAILED,   /**< no answer: a timeout, a network error, refused before sending */
  LMM_STEP_SILENT    /**< the group request: no answer within the Response Time Window */
} lmm_step;

/** The name of a step result: "ok", "refused", "failed", "silent", and "-" for LMM_STEP_NONE
 *  or a value that is no lmm_step. Never NULL; static storage. */
LMM_API const char *lmm_step_name(lmm_step step);

/** One member's outcome in a campaign. Owned members. */
typedef struct lmm_outcome {
  char *ep;
  uint16_t oid;
  lmm_path_kind via; /**< the path that served it; LMM_VIA_NONE while pending */
  bool gm_written;   /**< the Group Mgmt write succeeded */
  bool done;         /**< has a final outcome (success or failure) */
  bool repaired;     /**< served by unicast repair after a group path */
  uint8_t coap_code; /**< 0 none */
  lmm_err err;
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
  lmm_step gm_step;      /**< the Group Mgmt write */
  uint8_t gm_code;       /**< its answer's code, 0 none */
  char *gm_error;        /**< why it failed, NULL when it did not */
  lmm_step group_step;   /**< the group request (MBMS / IP multicast) */
  uint8_t group_code;    /**< the code of the member's answer to it, 0 none */
  lmm_step unicast_step; /**< the unicast request: the operation itself or its repair */
  uint8_t unicast_code;  /**< its answer's code, 0 none */
  char *unicast_error;   /**< why it failed, NULL when it did not */
  char *fw_pkg_version;  /**< firmware: PkgVersion (/5/0/7) as last read, NULL never read */
  bool fw_exec; /**< firmware: an update (Execute) was asked of it; stored before it goes out */
} lmm_outcome;

/** Whether CoAP `code` is an access refusal: 4.01 Unauthorized (what an LwM2M client answers
 *  when its Access Control object denies the server the operation) or 4.03 Forbidden. */
LMM_API bool lmm_code_is_refusal(uint8_t code);
/** Whether the member of outcome `o` refused the server access, rather than failed: its final
 *  answer (the group request's or the unicast request's) or its Group Mgmt write was an access
 *  refusal (lmm_code_is_refusal()), or, for a firmware campaign, it ended LMM_FWC_REFUSED.
 *  NULL: false. */
LMM_API bool lmm_outcome_refused(const lmm_outcome *o);
/** Makes `*o` a pending outcome that owns nothing: zeroes, and -1 for content_format, fw_state
 *  and fw_result (their "none"); what it held before is not freed. Use it rather than {0} for
 *  outcomes that reach the store. NULL: no-op. */
LMM_API void lmm_outcome_init(lmm_outcome *o);
/** Frees what `o` owns (ep, payload and the error texts) and zeroes it; `o` itself is the
 *  caller's. NULL: no-op. */
LMM_API void lmm_outcome_clear(lmm_outcome *o);
/** Clears the `n` outcomes of the array `o` and frees the array (as returned by
 *  lmm_store_outcomes_get()). NULL: no-op. */
LMM_API void lmm_outcome_list_free(lmm_outcome *o, size_t n);

/* ---------------------------------------------------------- answer receiver */

typedef struct lmm_answers lmm_answers;

typedef struct lmm_answers_config {
  const char *bind_addr; /**< numeric address; default "127.0.0.1" */
  uint16_t port;         /**< 0: ephemeral */
  const char *path;      /**< default "lmm/a" */
  bool no_listener;      /**< the host receives answers itself (lmm_answers_handle()) */
} lmm_answers_config;

#define LMM_ANSWERS_CONFIG_DEFAULT                                                                 \
  { .bind_addr = NULL, .port = 0, .path = NULL, .no_listener = false }

typedef struct lmm_answers_stats {
  uint64_t accepted, duplicate, late, unknown, malformed;
  /** The listener's receive buffer as the kernel reports it (bytes; Linux reports twice what
   *  it granted, for its overhead): the receiver asks for LMM_ANSWERS_RCVBUF, and less than
   *  twice that means net.core.rmem_max capped it. 0 when unknown or with `no_listener`. */
  int rcvbuf;
  /** Answers the kernel dropped on the listener's socket, its buffer full: each costs the
   *  member a retransmission (CON) or, late in the window, a unicast repair. */
  uint64_t rx_drops;
} lmm_answers_stats;

/** The receive buffer the answer receiver asks for: 10,000 members answering within a few
 *  seconds send bursts that the kernel's default (about 200 KiB, a few hundred datagrams)
 *  cannot hold while the loop is busy elsewhere. */
#define LMM_ANSWERS_RCVBUF (8 * 1024 * 1024)

/** Starts the receiver of members' answers (docs/protocol.md section 2): a CoAP endpoint
 *  served from lmm_ctx_process() of `ctx` (borrowed: must outlive it), unless `no_listener`.
 *  `cfg` is copied (NULL: defaults). Campaigns borrow the receiver: free it after them.
 *  @return LMM_OK; LMM_ERR_ARG for a NULL `ctx` or `out`, a bind address that is not numeric,
 *  or a URI (address, port, path) longer than 255 bytes; LMM_ERR_IO when the port cannot be
 *  bound; LMM_ERR_NOMEM. `*out` is untouched on failure. */
LMM_API lmm_err lmm_answers_new(lmm_ctx *ctx, const lmm_answers_config *cfg, lmm_answers **out);
/** Closes the endpoint and frees the receiver. Every campaign that uses it must be freed
 *  first. NULL: no-op. */
LMM_API void lmm_answers_free(lmm_answers *a);
/** The Answer URI the campaigns give members (Group Mgmt resource 11): the listener's own, or
 *  the one set with lmm_answers_set_uri(); NULL with `no_listener` until one is set.
 *  Borrowed; valid until the next lmm_answers_set_uri() or lmm_answers_free(). */
LMM_API const char *lmm_answers_uri(const lmm_answers *a);
/** Replaces the advertised URI (e.g. a host's public address, or its own CoAP server's with
 *  `no_listener`); `uri` is copied, and used by the campaigns that start their Group Mgmt
 *  writes from then on. @return LMM_OK; LMM_ERR_ARG for NULL; LMM_ERR_NOMEM (URI unchanged). */
LMM_API lmm_err lmm_answers_set_uri(lmm_answers *a, const char *uri);
/** For a host with its own CoAP server: hands in one answer POST. `query` is the Uri-Query
 *  options joined by '&' ("ep=..&t=..&c=2.05"), `payload` (`len` bytes, may be NULL when 0)
 *  and `content_format` (-1: none) the request's; all borrowed for the call. The answer goes
 *  to the campaign whose group request has that token, inside this call (its on_member may
 *  run). @return the CoAP code to answer with: 0x44 2.04 (accepted, or a duplicate or late
 *  answer), 0x80 4.00 (malformed), 0x84 4.04 (no open request has that token). */
LMM_API uint8_t lmm_answers_handle(lmm_answers *a, const char *query, int content_format,
                                   const uint8_t *payload, size_t len);
/** Copies the receiver's counters since lmm_answers_new() into `*out`. */
LMM_API void lmm_answers_get_stats(const lmm_answers *a, lmm_answers_stats *out);

/* ---------------------------------------------------------------- campaign */

typedef struct lmm_campaign lmm_campaign;

#ifndef LMM_STORE_DECLARED
#define LMM_STORE_DECLARED
/** The state store (store.h); a campaign only borrows one. */
typedef struct lmm_store lmm_store;
#endif

/** What the campaign uses; all borrowed, must outlive it. `t8` is needed for MBMS groups,
 *  `answers` for MBMS and multicast groups, `store` (optional) keeps the campaign. */
typedef struct lmm_campaign_deps {
  lmm_ctx *ctx;
  lmm_unicast *unicast;
  lmm_t8_client *t8;
  lmm_answers *answers;
  lmm_store *store;
} lmm_campaign_deps;

/** Whether group messages (group requests, blob fragments) are sealed with the group's key
 *  (docs/protocol.md section 6, docs/security.md). The key travels in the Group Mgmt write, so
 *  protection needs every member reached over coaps://. */
typedef enum lmm_protect {
  LMM_PROTECT_AUTO = 0, /**< on when every member is over coaps://, else off (logged) */
  LMM_PROTECT_ON,       /**< required: a member over plain coap:// fails the campaign with
                         *   LMM_ERR_ARG before anything is sent */
  LMM_PROTECT_OFF       /**< never: group messages go as they are */
} lmm_protect;

typedef struct lmm_campaign_config {
  const lmm_group_info *group; /**< copied */
  const lmm_member *members;   /**< copied */
  size_t n_members;
  lmm_op op;                   /**< copied (payload too) */
  lmm_path_kind via;           /**< LMM_VIA_NONE: the group's type */
  long window_s;               /**< -1: the group's Response Time Window */
  long grace_ms;               /**< after the window before repair (default 3000) */
  bool no_repair;              /**< leave silent members failed */
  bool skip_group_mgmt;        /**< members already configured: no Group Mgmt write */
  size_t inline_max;           /**< larger group messages go over MB2-U (default 1024) */
  const char *mcast_if;        /**< interface address for IP multicast, numeric IPv4
                                *   (default 127.0.0.1); another fails the send (LMM_ERR_ARG) */
  long tmgi_lifetime_margin_s; /**< renew a TMGI expiring sooner than the campaign end +
                                *   this (default 60) */
  lmm_protect protect;         /**< group message protection (default LMM_PROTECT_AUTO) */
} lmm_campaign_config;

#define LMM_CAMPAIGN_CONFIG_DEFAULT                                                                \
  {                                                                                                \
    .group = NULL, .members = NULL, .n_members = 0, .op = LMM_OP_INIT, .via = LMM_VIA_NONE,        \
    .window_s = -1, .grace_ms = 3000, .no_repair = false, .skip_group_mgmt = false,                \
    .inline_max = 1024, .mcast_if = NULL, .tmgi_lifetime_margin_s = 60,                            \
    .protect = LMM_PROTECT_AUTO                                                                    \
  }

/** Progress and results, called from lmm_ctx_process() (or lmm_answers_handle(), for an
 *  answer handed in). Any may be NULL. Inside them the campaign may be read
 *  (lmm_campaign_get_info(), lmm_campaign_outcomes()...); lmm_campaign_free() is allowed in
 *  on_done only. */
typedef struct lmm_campaign_handlers {
  /** A member got its final outcome (borrowed, valid during the call). */
  void (*on_member)(void *user, size_t index, const lmm_outcome *o);
  /** The campaign entered a new state. */
  void (*on_state)(void *user, lmm_campaign_state state);
  /** Finished: LMM_OK (whatever the members' results) or why it could not run. */
  void (*on_done)(void *user, lmm_campaign *c, lmm_err result);
} lmm_campaign_handlers;

/** Creates a campaign of `cfg->op` on `cfg->group`'s members. `deps` is copied (what it points
 *  at is borrowed, see lmm_campaign_deps), `cfg` and what it points at are copied; `h` is not
 *  copied and must outlive the campaign; `user` is handed to every handler. With a store the
 *  campaign is stored at once (its row and a pending outcome per member), so its id is in
 *  lmm_campaign_get_info(). Nothing is sent before lmm_campaign_start().
 *  @return LMM_OK; LMM_ERR_ARG for a NULL argument, no context or unicast engine, an MBMS path
 *  without a T8 client, answer receiver or External Group ID, a multicast one without a
 *  receiver or multicast address, or a Group Mgmt instance ID above 65534; LMM_ERR_NOMEM; or
 *  the store's error (its message: lmm_store_errmsg()). `*out` is untouched on failure. */
LMM_API lmm_err lmm_campaign_new(const lmm_campaign_deps *deps, const lmm_campaign_config *cfg,
                                 const lmm_campaign_handlers *h, void *user, lmm_campaign **out);
/** Reloads stored campaign `id` from `deps->store`, to continue it with
 *  lmm_campaign_start(): members whose outcome is final are not served again; the others are
 *  served by unicast if the group message had gone out, else the flow restarts for them; a
 *  member no longer in the group ends failed (LMM_ERR_NOTFOUND). Ownership as
 *  lmm_campaign_new(). @return LMM_OK; LMM_ERR_ARG without a store or unicast engine;
 *  LMM_ERR_NOTFOUND for an unknown id or a group that is gone; LMM_ERR_STATE for a campaign
 *  that is done; LMM_ERR_NOMEM; the store's error. `*out` is untouched on failure. */
LMM_API lmm_err lmm_campaign_resume(const lmm_campaign_deps *deps, int64_t id,
                                    const lmm_campaign_handlers *h, void *user, lmm_campaign **out);
/** Starts the campaign; never blocks: the steps run from lmm_ctx_process() and end with
 *  on_done. @return LMM_OK; LMM_ERR_ARG for NULL; LMM_ERR_STATE if already started. */
LMM_API lmm_err lmm_campaign_start(lmm_campaign *c);
/** Cancels what is in flight (no more callbacks), writes the outcomes not yet stored, and frees
 *  the campaign with everything it returned. NULL: no-op. Allowed from on_done, not from the
 *  other handlers. */
LMM_API void lmm_campaign_free(lmm_campaign *c);
/** Stops the campaign writing to its store: outcomes and state not yet written are dropped,
 *  and nothing more is written, not by lmm_campaign_free() either (whose cancelling of what
 *  is in flight still follows). For an instance that lost the campaign's lease: another now
 *  owns its row (lease.h). The campaign should be freed next. NULL: no-op. Not from inside a
 *  handler. */
LMM_API void lmm_campaign_abandon(lmm_campaign *c);
/** The campaign's row: state, TMGI, T8 delivery, times, error. Borrowed; valid until the
 *  campaign is freed, and updated in place while it runs. */
LMM_API const lmm_campaign_info *lmm_campaign_get_info(const lmm_campaign *c);
/** The members' outcomes, in member order, their count in `*n`. Borrowed; valid until the
 *  campaign is freed, and updated in place while it runs (an outcome is final once `done`). */
LMM_API const lmm_outcome *lmm_campaign_outcomes(const lmm_campaign *c, size_t *n);
/** The campaign's copy of its members, in the order of the outcomes, their count in `*n`.
 *  Borrowed; valid until the campaign is freed. */
LMM_API const lmm_member *lmm_campaign_members(const lmm_campaign *c, size_t *n);
/** Hands in a T8 delivery notification (from the host's notification receiver handler;
 *  `transaction` borrowed for the call): recorded in the campaign's row (and store) when
 *  `transaction` names its delivery. @return whether it did; false for NULL arguments. */
LMM_API bool lmm_campaign_t8_notified(lmm_campaign *c, const char *transaction, bool delivered);
/** Blocking helper: runs the context until the campaign is done or `timeout_ms` (of the
 *  context's monotonic clock) passes; -1: no limit. Not from a handler. @return LMM_OK once
 *  done (whatever its result, see on_done); LMM_ERR_TIMEOUT; or the error of
 *  lmm_ctx_run_once(). */
LMM_API lmm_err lmm_campaign_wait(lmm_campaign *c, long timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
