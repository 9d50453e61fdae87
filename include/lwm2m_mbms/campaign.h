/* campaign.h - one group operation on one group: the TS 23.682 5.5.1 flow as a state machine
 * driven by the context's loop (TMGI, Group Mgmt writes, group message, answers, repair). */
#ifndef LWM2M_MBMS_CAMPAIGN_H
#define LWM2M_MBMS_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "err.h"
#include "group.h"
#include "lwm2m.h"
#include "store.h"
#include "t8.h"
#include "unicast.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------- answer receiver */

typedef struct lmm_answers lmm_answers;

typedef struct lmm_answers_config {
  const char *bind_addr; /**< numeric address; default "127.0.0.1" */
  uint16_t port;         /**< 0: ephemeral */
  const char *path;      /**< default "lmm/a" */
  bool no_listener;      /**< the host receives answers itself (lmm_answers_handle()) */
} lmm_answers_config;

#define LMM_ANSWERS_CONFIG_DEFAULT                                                                 \
  { NULL, 0, NULL, false }

typedef struct lmm_answers_stats {
  uint64_t accepted, duplicate, late, unknown, malformed;
} lmm_answers_stats;

/** Starts the receiver of members' answers (docs/protocol.md section 2): a CoAP endpoint in
 *  the context's loop, unless `no_listener`. LMM_ERR_ARG for a bind address that is not
 *  numeric or a URI (address, port, path) longer than 255 bytes; LMM_ERR_IO when the port
 *  cannot be bound. */
LMM_API lmm_err lmm_answers_new(lmm_ctx *ctx, const lmm_answers_config *cfg, lmm_answers **out);
LMM_API void lmm_answers_free(lmm_answers *a);
/** The Answer URI to give members (Group Mgmt resource 11). Borrowed. */
LMM_API const char *lmm_answers_uri(const lmm_answers *a);
/** Overrides the advertised URI (e.g. a host's public address). Copied. */
LMM_API lmm_err lmm_answers_set_uri(lmm_answers *a, const char *uri);
/** For a host with its own CoAP server: hands in one answer POST. `query` is the Uri-Query
 *  options joined by '&' ("ep=..&t=..&c=2.05"). Returns the CoAP code to answer with
 *  (0x44 2.04, 0x80 4.00, 0x84 4.04). */
LMM_API uint8_t lmm_answers_handle(lmm_answers *a, const char *query, int content_format,
                                   const uint8_t *payload, size_t len);
LMM_API void lmm_answers_get_stats(const lmm_answers *a, lmm_answers_stats *out);

/* ---------------------------------------------------------------- campaign */

typedef struct lmm_campaign lmm_campaign;

/** What the campaign uses; all borrowed, must outlive it. `t8` is needed for MBMS groups,
 *  `answers` for MBMS and multicast groups, `store` (optional) keeps the campaign. */
typedef struct lmm_campaign_deps {
  lmm_ctx *ctx;
  lmm_unicast *unicast;
  lmm_t8_client *t8;
  lmm_answers *answers;
  lmm_store *store;
} lmm_campaign_deps;

typedef struct lmm_campaign_config {
  const lmm_group_info *group; /**< copied */
  const lmm_member *members;   /**< copied */
  size_t n_members;
  lmm_op op;                   /**< copied (payload too) */
  int via;                     /**< lmm_path_kind; LMM_VIA_NONE: the group's type */
  long window_s;               /**< -1: the group's Response Time Window */
  long grace_ms;               /**< after the window before repair (default 3000) */
  bool no_repair;              /**< leave silent members failed */
  bool skip_group_mgmt;        /**< members already configured: no Group Mgmt write */
  size_t inline_max;           /**< larger group messages go over MB2-U (default 1024) */
  const char *mcast_if;        /**< interface address for IP multicast, numeric IPv4
                                *   (default 127.0.0.1); another fails the send (LMM_ERR_ARG) */
  long tmgi_lifetime_margin_s; /**< renew a TMGI expiring sooner than the campaign end +
                                *   this (default 60) */
} lmm_campaign_config;

#define LMM_CAMPAIGN_CONFIG_DEFAULT                                                                \
  { NULL, NULL, 0, LMM_OP_INIT, LMM_VIA_NONE, -1, 3000, false, false, 1024, NULL, 60 }

/** Progress and results. Called from lmm_ctx_process(). */
typedef struct lmm_campaign_handlers {
  /** A member got its final outcome (borrowed, valid during the call). */
  void (*on_member)(void *user, size_t index, const lmm_outcome *o);
  /** The campaign entered a new state (lmm_campaign_state). */
  void (*on_state)(void *user, int state);
  /** Finished: LMM_OK (whatever the members' results) or why it could not run. */
  void (*on_done)(void *user, lmm_campaign *c, lmm_err result);
} lmm_campaign_handlers;

/** Creates a campaign (stored at once when deps has a store). `h` not copied. */
LMM_API lmm_err lmm_campaign_new(const lmm_campaign_deps *deps, const lmm_campaign_config *cfg,
                                 const lmm_campaign_handlers *h, void *user, lmm_campaign **out);
/** Reloads stored campaign `id`, to continue it with lmm_campaign_start(): members whose
 *  outcome is final are not served again; the others are served by unicast if the group
 *  message had gone out, else the flow restarts for them. */
LMM_API lmm_err lmm_campaign_resume(const lmm_campaign_deps *deps, int64_t id,
                                    const lmm_campaign_handlers *h, void *user, lmm_campaign **out);
/** Starts (never blocks). LMM_ERR_STATE if already started. */
LMM_API lmm_err lmm_campaign_start(lmm_campaign *c);
/** Frees; cancels what is in flight (no more callbacks). NULL: no-op. Allowed from on_done. */
LMM_API void lmm_campaign_free(lmm_campaign *c);
/** Borrowed; valid until freed. */
LMM_API const lmm_campaign_info *lmm_campaign_get_info(const lmm_campaign *c);
LMM_API const lmm_outcome *lmm_campaign_outcomes(const lmm_campaign *c, size_t *n);
LMM_API const lmm_member *lmm_campaign_members(const lmm_campaign *c, size_t *n);
/** Hands in the T8 delivery notification (from the host's notification receiver handler):
 *  recorded in the campaign's info when `transaction` is its delivery. Returns true if it was. */
LMM_API bool lmm_campaign_t8_notified(lmm_campaign *c, const char *transaction, bool delivered);
/** Runs the context until the campaign is done or `timeout_ms` passes (-1: no limit). */
LMM_API lmm_err lmm_campaign_wait(lmm_campaign *c, long timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
