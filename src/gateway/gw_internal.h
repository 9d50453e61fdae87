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

/* ------------------------------------------------- block-wise state (gw_block.c) */

/** A request body reassembled from Block1 is at most this long (4.13 with Size1 past it). */
#define LMMI_GW_BODY_MAX (256u * 1024u)
/** Block1 transfers in progress at once: a new one drops the one idle longest. */
#define LMMI_GW_RX_MAX 8
/** A Block1 transfer without a block for this long is abandoned. */
#define LMMI_GW_RX_IDLE_MS 30000
/** Bodies kept for the server's later Block2 requests: a new one drops the one asked longest
 *  ago. */
#define LMMI_GW_TX_MAX 16
/** A kept body not asked for this long is let go. */
#define LMMI_GW_TX_KEEP_MS 60000
/** Room for a request's key: its path, '?', its query. */
#define LMMI_GW_KEY_MAX 520

/** Who a transfer is with: the peer, and the request's path and query (and, for Block1, its
 *  method; not its token, which RFC 7959 lets change from block to block). */
typedef struct lmmi_gw_who {
  coap_address_t addr;
  coap_proto_t proto;
  coap_pdu_code_t method;
  char key[LMMI_GW_KEY_MAX];
} lmmi_gw_who;

/** A request body arriving by Block1. */
typedef struct lmmi_gw_rx {
  bool used;
  lmmi_gw_who who;
  uint8_t *buf;
  size_t len, cap;
  size_t last_off, last_len; /* the last block, to know it again when it is repeated */
  int64_t at_ms;             /* its last block */
  uint64_t seq;              /* ... in the order of the gateway's blocks: the oldest goes first */
} lmmi_gw_rx;

/** A body sent block-wise, kept for the later blocks. */
typedef struct lmmi_gw_tx {
  bool used;
  lmmi_gw_who who;
  uint8_t code;
  int cf; /* -1: no Content-Format */
  uint8_t *body;
  size_t len;
  int64_t at_ms; /* sent or last asked for */
  uint64_t seq;
  uint64_t etag; /* computed once: hashing a big body for each block costs */
} lmmi_gw_tx;

/** A Block1 or Block2 option's value (RFC 7959 2.2). */
typedef struct lmmi_gw_blk {
  unsigned num, m, szx;
} lmmi_gw_blk;

/** A request's whole body: its own payload, or the Block1 transfer its last block ended. */
typedef struct lmmi_gw_body {
  const uint8_t *data;
  size_t len;
  uint8_t *owned;   /* reassembled: freed by lmmi_gw_body_clear() */
  bool block1;      /* it came with a Block1 option ... */
  lmmi_gw_blk last; /* ... and this was its last block (echoed in the final response) */
} lmmi_gw_body;

/** One request fanned out: its campaign and the server's exchange waiting for the answer.
 *  Freed once the answer is sent; a block-wise answer stays in the block store (gw_block.c)
 *  for the server's requests of the rest. */
typedef struct lmmi_gw_fanout {
  struct lmmi_gw_fanout *next;
  lmm_gateway *gw;
  lmmi_gw_inst *inst;
  lmm_campaign *camp;
  lmm_op op; /* payload and query owned */
  int64_t started_ms;
  /* the server's exchange */
  coap_session_t *s; /* referenced */
  uint8_t token[8];
  size_t tok_len;
  coap_mid_t mid;
  bool con;
  bool acked;          /* an empty ACK went: the answer is a separate response */
  unsigned szx;        /* block size the server asked for (6: 1024) */
  bool block1;         /* the request came by Block1 ... */
  unsigned block1_num; /* ... ending with this block, echoed with its size in the answer */
  unsigned block1_szx;
  lmmi_timer *timer; /* the empty ACK's time */
  bool starting;     /* within lmm_campaign_start() ... */
  bool ended;        /* ... which ended it: the answer, for the request's response */
  uint8_t early_code;
  uint8_t *early;
  char key[LMMI_GW_KEY_MAX]; /* path?query: what the server's later Block2 requests ask for */
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
  lmmi_gw_rx rx[LMMI_GW_RX_MAX];
  lmmi_gw_tx tx[LMMI_GW_TX_MAX];
  uint64_t block_seq; /* counts the blocks: the age of transfers and kept bodies */
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
                            coap_session_t *s, const coap_pdu_t *req, const char *key,
                            const lmmi_gw_body *body, coap_pdu_t *resp);

/* ------------------------------------------------------------- fan-outs (gw_fanout.c) */

/** Serves a request on a Fanout Target: `rest` is the LwM2M path after the target ("/6/0"),
 *  `body` its whole payload. Starts the campaign and holds the exchange (docs/gateway.md, "The
 *  answer"). A later block of an answer no longer kept gets 4.08: nothing fans out again. */
void lmmi_gw_fanout_request(lmm_gateway *gw, lmmi_gw_inst *in, const char *rest, coap_session_t *s,
                            const coap_pdu_t *req, const coap_string_t *query, const char *key,
                            const lmmi_gw_body *body, coap_pdu_t *resp);
/** A repeat of a request whose fan-out is in flight (the server's retransmission): kept
 *  unanswered while the exchange is held, else answered with the empty ACK again; true. False
 *  for any other request. */
bool lmmi_gw_fanout_known(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req,
                          coap_pdu_t *resp);
/** The key of a request's exchange, its path and query ("fanout/b7/6/0", "42769/0?a=1"),
 *  into `out`: false when it does not fit in `cap` bytes. */
bool lmmi_gw_request_key(const coap_pdu_t *req, const coap_string_t *query, char *out, size_t cap);
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

/* ------------------------------------------------------------ block-wise (gw_block.c) */

/** Decodes option `opt` (Block1 or Block2) of `pdu` into `*b`: 1; 0 when absent; -1 when
 *  malformed (over 3 bytes, or the reserved size 7). */
int lmmi_gw_block_opt(const coap_pdu_t *pdu, uint16_t opt, lmmi_gw_blk *b);
/** The whole body of `req` (RFC 7959 2.5 for Block1). True with `*body` set (borrowing `req`
 *  or owning the reassembled body: lmmi_gw_body_clear()) when the request is whole: its own
 *  payload, or the last block of a transfer, whose Block1 then goes into `resp` (options
 *  above 27 and the payload may follow). False when `resp` is answered: 2.31 Continue for a
 *  block with more to follow; 4.08 for a block of no transfer in progress or out of order
 *  (the transfer dropped); 4.13 with Size1 for a body over LMMI_GW_BODY_MAX (announced by
 *  Size1, or adding up); 4.00 for a block of the wrong length; 4.02 for a malformed option.
 *  `key`: the request's path and query (lmmi_gw_request_key()). */
bool lmmi_gw_block1(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req, const char *key,
                    coap_pdu_t *resp, lmmi_gw_body *body);
void lmmi_gw_body_clear(lmmi_gw_body *b);
/** Sets `pdu` to block `num` of size 2^(szx+4) of `body` with `code` and Content-Format `cf`
 *  (-1: none): the whole body when it fits in one block and `num` is 0; else the block with
 *  ETag (`*etag`, or computed from the body when NULL: the same for the same body), Block2 and
 *  Size2. A block past the end: 4.02 with a
 *  diagnostic, false. The PDU must have no payload yet. */
bool lmmi_gw_put_block(coap_pdu_t *pdu, uint8_t code, int cf, const uint8_t *body, size_t len,
                       unsigned num, unsigned szx, const uint64_t *etag);
/** Keeps `body` (taken: malloc'ed) for the later blocks the peer of `s` asks for `key`, in
 *  place of what it had there (LMMI_GW_TX_MAX, LMMI_GW_TX_KEEP_MS). */
void lmmi_gw_keep(lmm_gateway *gw, coap_session_t *s, const char *key, uint8_t code, int cf,
                  uint8_t *body, size_t len);
/** Answers `resp` with `body` (taken), the block `req`'s Block2 asks (block 0 of 1024 bytes
 *  without one), kept for the later blocks when it spans more than one. */
void lmmi_gw_respond(lmm_gateway *gw, coap_session_t *s, const char *key, const coap_pdu_t *req,
                     coap_pdu_t *resp, uint8_t code, int cf, uint8_t *body, size_t len);
/** A request for a later block (Block2 num > 0) of a body kept for this peer and `key`:
 *  served from it, true; false when it is no such request or the body is not kept. */
bool lmmi_gw_block2_later(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req,
                          const char *key, coap_pdu_t *resp);
/** Frees every transfer and kept body. */
void lmmi_gw_blocks_free(lmm_gateway *gw);

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
