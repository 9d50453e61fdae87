/* gw_internal.h - what the gateway's files share: the handle, its configured instances, the
 * fan-outs and observations in flight, and the replies they make (docs/gateway.md). */
#ifndef LMMI_GW_INTERNAL_H
#define LMMI_GW_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/gateway.h"
#include "lwm2m_mbms/store.h"

/** One Group Mgmt instance the server wrote: its stored group and members. */
typedef struct lmmi_gw_inst {
  uint16_t iid;
  lmm_group_info g; /* name = Group ID */
  lmm_member *m;
  size_t n;
  char *target; /* the Fanout Target's path, without leading or trailing '/' */
  /* Group Mgmt written to every member by an earlier fan-out of this instance (this run), and
   * the TMGI it carried: a later fan-out that keeps the TMGI skips the writes. */
  bool gm_ok;
  char *gm_tmgi;
  struct lmmi_gw_fanout *busy; /* the fan-out in flight, or NULL */
} lmmi_gw_inst;

/** One request fanned out: its campaign, the server's exchange waiting for the answer, and
 *  then the answer itself, kept a while for the server's Block2 requests of the rest. */
typedef struct lmmi_gw_fanout {
  struct lmmi_gw_fanout *next;
  lmm_gateway *gw;
  lmmi_gw_inst *inst; /* NULL once done */
  lmm_campaign *camp;
  lmm_op op; /* payload and query owned */
  int64_t started_ms;
  /* the server's exchange */
  coap_session_t *s; /* referenced */
  uint8_t token[8];
  size_t tok_len;
  coap_mid_t mid;
  bool con;
  bool acked;        /* an empty ACK went: the answer is a separate response */
  unsigned szx;      /* block size the server asked for (6: 1024) */
  char key[300];     /* path?query: what the server's later Block2 requests ask for */
  lmmi_timer *timer; /* the empty ACK's time, then the answer's expiry */
  /* the answer */
  bool done;
  uint8_t code;
  char *answer; /* SenML-JSON, or the diagnostic */
  size_t answer_len;
  uint64_t etag;
} lmmi_gw_fanout;

struct lmmi_gw_obs;

struct lmm_gateway {
  lmm_ctx *ctx;
  lmm_gateway_deps d;
  uint16_t gm_oid;
  long grace_ms;
  bool no_repair;
  char *mcast_if;
  lmm_member *dev; /* attached devices, copied */
  size_t n_dev;
  uint8_t *psk_key;
  size_t psk_key_len;
  char *psk_identity;
  coap_bin_const_t psk_bin; /* what the DTLS callback hands libcoap */
  coap_context_t *coap;
  lmmi_source src;
  bool src_added;
  uint16_t port, coaps_port;
  lmmi_gw_inst **inst; /* each its own allocation: fan-outs point at them */
  size_t n_inst, cap_inst;
  lmmi_gw_fanout *fanouts;
  struct lmmi_gw_obs *obs;
  lmm_gateway_stats stats;
};

/* ---------------------------------------------------------------- replies (gateway.c) */

/** Sets `resp` to `code` with a diagnostic text payload (RFC 7252 5.5.2), printf-style. */
void lmmi_gw_reply(coap_pdu_t *resp, uint8_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** The attached device named `ep`, or NULL. */
const lmm_member *lmmi_gw_device(const lmm_gateway *gw, const char *ep);
/** Logs through the context. */
#define LMMI_GW_LOG(gw, lvl, ...) lmmi_log((gw)->ctx, (lvl), __VA_ARGS__)

/* ----------------------------------------------------------- configuration (gw_config.c) */

/** Loads the instances kept in the store. LMM_OK or the store's error. */
lmm_err lmmi_gw_config_load(lmm_gateway *gw);
/** Frees an instance and what it holds. */
void lmmi_gw_inst_free(lmmi_gw_inst *in);
/** The instance with ID `iid`, or NULL. */
lmmi_gw_inst *lmmi_gw_inst_get(lmm_gateway *gw, uint16_t iid);
/** Serves a request on /GM/IID: PUT or POST (Write), GET (Read), DELETE. */
void lmmi_gw_config_request(lmm_gateway *gw, uint16_t iid, coap_pdu_code_t method,
                            coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                            const coap_string_t *query, coap_pdu_t *resp);

/* ------------------------------------------------------------- fan-outs (gw_fanout.c) */

/** Serves a request on a Fanout Target: `rest` is the LwM2M path after the target ("/6/0").
 *  Starts the campaign and holds the exchange (docs/gateway.md, "The answer"). */
void lmmi_gw_fanout_request(lmm_gateway *gw, lmmi_gw_inst *in, const char *rest, coap_session_t *s,
                            const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp);
/** A request that belongs to a fan-out: a repeat of one in flight, or a Block2 request for the
 *  rest of an answer. Serves it and returns true; false for any other request. */
bool lmmi_gw_fanout_known(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req,
                          const coap_string_t *query, coap_resource_t *r, coap_pdu_t *resp);
/** The key of a request's exchange: its path and query. */
void lmmi_gw_request_key(const coap_pdu_t *req, const coap_string_t *query, char *out, size_t cap);
/** Frees every fan-out (their campaigns too) without answering. */
void lmmi_gw_fanouts_free(lmm_gateway *gw);

/** The SenML-JSON records of one member's result, appended to `arr` (a cJSON array), the
 *  member named by its endpoint (docs/gateway.md, "The answer"). `o` NULL: refused before
 *  sending with reason `why`. */
struct cJSON;
bool lmmi_gw_senml_member(struct cJSON *arr, const lmm_gateway *gw, const lmm_member *m,
                          const lmm_path *base, const lmm_outcome *o, const char *why);
/** The records of a member's answer payload (`fmt`), named "/EP/O/I/R", appended to `arr`:
 *  false when it cannot be decoded (the reason in `why`). */
bool lmmi_gw_senml_data(struct cJSON *arr, const lmm_gateway *gw, const char *ep,
                        const lmm_path *base, int fmt, const uint8_t *p, size_t len, char *why,
                        size_t why_cap);

/* -------------------------------------------------------- observations (gw_observe.c) */

/** An Observe registration (Observe 0) or deregistration (Observe 1) on a Fanout Target:
 *  true when served; false for a deregistration, which is then answered as a Read. */
bool lmmi_gw_observe_request(lmm_gateway *gw, lmmi_gw_inst *in, const lmm_path *p, bool cancel,
                             coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp);
/** The server reset (RST) notification `mid`, or it could not be delivered (ICMP, no ACK
 *  after the retransmissions): ends the observation it belongs to. */
void lmmi_gw_observe_lost(lmm_gateway *gw, coap_session_t *s, coap_mid_t mid);
/** Ends every observation of instance `in` (NULL: all), cancelling the members'. */
void lmmi_gw_observe_end_all(lmm_gateway *gw, const lmmi_gw_inst *in);

#endif
