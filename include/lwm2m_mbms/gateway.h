/* gateway.h - the LwM2M Gateway of the Group Mgmt proposal's use case 2: a CoAP (and CoAPS)
 * endpoint that an LwM2M server configures by writing Group Mgmt instances to it, and that fans
 * an operation sent to a group's Fanout Target out to the group's members, as one campaign
 * (campaign.h) per request, answering with every member's result in one SenML-JSON response
 * (docs/gateway.md).
 *
 * Threads: a gateway belongs to its context's thread, as campaigns do. */
#ifndef LWM2M_MBMS_GATEWAY_H
#define LWM2M_MBMS_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaign.h"
#include "ctx.h"
#include "err.h"
#include "group.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_gateway lmm_gateway;

/** What the gateway uses; all borrowed, must outlive it (as lmm_campaign_deps: `t8` for MBMS
 *  groups, `answers` for MBMS and multicast groups). `store` is required: the configured
 *  groups live there and survive a restart. */
typedef lmm_campaign_deps lmm_gateway_deps;

typedef struct lmm_gateway_config {
  const char *bind_addr;     /**< numeric address of both endpoints; default "127.0.0.1" */
  uint16_t port;             /**< CoAP port; 0: ephemeral (lmm_gateway_port()) */
  bool coaps;                /**< also a CoAPS (DTLS-PSK) endpoint */
  uint16_t coaps_port;       /**< its port; 0: ephemeral */
  const char *psk_identity;  /**< the server's PSK identity the CoAPS endpoint accepts */
  const uint8_t *psk_key;    /**< and its key (`psk_key_len` bytes) */
  size_t psk_key_len;        /**< 1..64 */
  const lmm_member *devices; /**< the devices attached to the gateway: how to reach each
                              *   endpoint (URI, format, PSK); the Object ID is not used */
  size_t n_devices;
  uint16_t gm_oid;      /**< Object ID of the Group Mgmt object, on the gateway and on the
                         *   members; 0: LMM_GROUP_MGMT_OID */
  long grace_ms;        /**< a fan-out's wait after the window before repair; -1: the campaign's
                         *   default */
  bool no_repair;       /**< fan-outs leave silent members silent */
  const char *mcast_if; /**< interface address for IP multicast groups (campaign config) */
} lmm_gateway_config;

#define LMM_GATEWAY_CONFIG_DEFAULT                                                                 \
  {                                                                                                \
    .bind_addr = NULL, .port = 0, .coaps = false, .coaps_port = 0, .psk_identity = NULL,           \
    .psk_key = NULL, .psk_key_len = 0, .devices = NULL, .n_devices = 0, .gm_oid = 0,               \
    .grace_ms = -1, .no_repair = false, .mcast_if = NULL                                           \
  }

/** Counters since lmm_gateway_new(). */
typedef struct lmm_gateway_stats {
  uint64_t requests;      /**< requests served (configuration and fan-outs) */
  uint64_t config_ok;     /**< Group Mgmt instances stored or deleted */
  uint64_t config_bad;    /**< configuration requests refused (nothing stored) */
  uint64_t fanouts;       /**< fan-outs started (one campaign each) */
  uint64_t answers;       /**< aggregated answers sent */
  uint64_t notifications; /**< Observe notifications relayed to the server */
  size_t instances;       /**< Group Mgmt instances configured now */
} lmm_gateway_stats;

/** Starts the gateway: loads the Group Mgmt instances kept in `deps->store` by an earlier run,
 *  binds its endpoint(s) and serves them from lmm_ctx_process() of `deps->ctx`. `deps` is
 *  copied (what it points at is borrowed); `cfg` is copied with its devices and key.
 *  @return LMM_OK; LMM_ERR_ARG for a NULL argument, no context, unicast engine or store, a bind
 *  address that is not numeric, CoAPS without a PSK identity and key (or a key over 64 bytes),
 *  or two devices with one endpoint name; LMM_ERR_IO when a port cannot be bound;
 *  LMM_ERR_DB when the store cannot be read (lmm_store_errmsg()); LMM_ERR_NOMEM. `*out` is
 *  untouched on failure. */
LMM_API lmm_err lmm_gateway_new(const lmm_gateway_deps *deps, const lmm_gateway_config *cfg,
                                lmm_gateway **out);
/** Cancels the fan-outs in flight (their campaigns are freed and stay in the store, unfinished;
 *  the server gets no answer to them), ends the relayed observations, closes the endpoints and
 *  frees the gateway. Not from a callback of the context. NULL: no-op. */
LMM_API void lmm_gateway_free(lmm_gateway *gw);
/** The bound port of the CoAP endpoint (`coaps` false) or the CoAPS one; 0 for NULL or an
 *  endpoint not opened. */
LMM_API uint16_t lmm_gateway_port(const lmm_gateway *gw, bool coaps);
/** Hands in a T8 delivery notification (from the host's notification receiver handler;
 *  `transaction` borrowed for the call), for the fan-out whose delivery it names.
 *  @return whether one took it; false for NULL arguments. */
LMM_API bool lmm_gateway_t8_notified(lmm_gateway *gw, const char *transaction, bool delivered);
/** Copies the gateway's counters into `*out` (nothing when either is NULL). */
LMM_API void lmm_gateway_get_stats(const lmm_gateway *gw, lmm_gateway_stats *out);

#ifdef __cplusplus
}
#endif
#endif
