/* unicast.h - the unicast engine: one LwM2M operation to many members over CoAP/CoAPS, as one
 * asynchronous batch with per-member outcomes. */
#ifndef LWM2M_MBMS_UNICAST_H
#define LWM2M_MBMS_UNICAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "err.h"
#include "group.h"
#include "lwm2m.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_unicast lmm_unicast;
typedef struct lmm_batch lmm_batch;

/** LwM2M operations of the Device Management interface. */
typedef enum lmm_op_kind {
  LMM_OPK_READ = 0,       /**< GET */
  LMM_OPK_WRITE,          /**< PUT: Write (replace) */
  LMM_OPK_WRITE_UPDATE,   /**< POST on an instance: Write (partial update) */
  LMM_OPK_CREATE,         /**< POST on an object */
  LMM_OPK_EXECUTE,        /**< POST on a resource */
  LMM_OPK_DELETE,         /**< DELETE */
  LMM_OPK_OBSERVE,        /**< GET with Observe 0; notifications go to on_notify */
  LMM_OPK_CANCEL_OBSERVE, /**< GET with Observe 1 */
  LMM_OPK_WRITE_ATTR,     /**< PUT with attributes in the query, no payload */
  LMM_OPK_DISCOVER        /**< GET with Accept: application/link-format */
} lmm_op_kind;

/** Accept of a Read, Observe or Discover (lmm_op.accept). A number below these is sent as
 *  given (an operator's explicit choice: no fallback). */
#define LMM_ACCEPT_NONE 0xFFFF /**< no Accept option at all */
/** The engine chooses per member: for one resource, text/plain (application/octet-stream for
 *  an Opaque one, by the object definition of lmm_obj_def_oma() or the batch's Group Mgmt
 *  object); for an object, an instance or a multiple-instance resource, the member's format
 *  (lmm_member.format: SenML-JSON or TLV); for Discover, link format. A Read or Observe
 *  answered 4.06 Not Acceptable or 5.00 Internal Server Error is asked once more in the other
 *  format (one resource: the member's format; otherwise SenML-JSON <-> TLV), and that second
 *  answer is the member's outcome. The default of LMM_OP_INIT. */
#define LMM_ACCEPT_AUTO 0xFFFE

/** One operation. Borrowed by lmm_batch_start() only for the call: it copies what it needs. */
typedef struct lmm_op {
  lmm_op_kind kind;
  lmm_path path;
  uint16_t format;        /**< Content-Format of the payload (writes, create, execute args) */
  const uint8_t *payload; /**< may be NULL */
  size_t len;             /**< larger than the block size: sent with Block1 */
  uint16_t accept;        /**< Accept of reads: a content format, LMM_ACCEPT_AUTO (default)
                           *   or LMM_ACCEPT_NONE */
  const char *query;      /**< Write-Attributes, e.g. "pmin=10&pmax=60"; NULL otherwise */
} lmm_op;

#define LMM_OP_INIT                                                                                \
  {                                                                                                \
    .kind = LMM_OPK_READ, .path = {.oid = 0, .iid = 0, .rid = 0, .riid = 0, .depth = 0},           \
    .format = 0, .payload = NULL, .len = 0, .accept = LMM_ACCEPT_AUTO, .query = NULL               \
  }

typedef struct lmm_unicast_config {
  size_t max_in_flight;    /**< members with a request outstanding at once (default 64) */
  long member_deadline_ms; /**< total time a member may take, retransmissions included
                            *   (default 60000); past it the member fails with a timeout */
  long ack_timeout_ms;     /**< RFC 7252 ACK_TIMEOUT (default 2000) */
  int max_retransmit;      /**< RFC 7252 MAX_RETRANSMIT (default 4) */
  unsigned block_size;     /**< Block1/Block2 size: 16..1024, a power of two (default 1024) */
  long dtls_timeout_ms;    /**< DTLS handshake limit (default 10000) */
  /** Local address and port every request leaves from: "IPV4:PORT" or "[IPV6]:PORT", numeric
   *  (e.g. "0.0.0.0:5683", the LwM2M server's own CoAP port, so that devices behind a NAT or
   *  that filter by source accept the requests). Port 0 picks one (lmm_unicast_local_port()).
   *  Members must then be of the address's family; the members that talk to one device take
   *  turns on its one session (the wait counts in member_deadline_ms). NULL (default): each
   *  request from an ephemeral port of its own. Copied by lmm_unicast_new().
   *  docs/architecture.md tells how it shares the port with the host's own CoAP socket. */
  const char *bind;
} lmm_unicast_config;

/* Fields may be added at the end: set them by name. */
#define LMM_UNICAST_CONFIG_DEFAULT                                                                 \
  {                                                                                                \
    .max_in_flight = 64, .member_deadline_ms = 60000, .ack_timeout_ms = 2000, .max_retransmit = 4, \
    .block_size = 1024, .dtls_timeout_ms = 10000, .bind = NULL                                     \
  }

/** What one member's operation came to. Borrowed: the struct, `payload` and `error` are valid
 *  during on_member only (the engine frees the payload when the callback returns: copy what
 *  must outlive it); `member` points into the batch's `members` array, the caller's own. */
typedef struct lmm_member_result {
  size_t index; /**< position in the batch's member array */
  const lmm_member *member;
  lmm_err err;            /**< LMM_OK when a CoAP response arrived (any code); otherwise
                           *   LMM_ERR_TIMEOUT, LMM_ERR_NET, LMM_ERR_ARG (refused before
                           *   sending: path outside the member's Object ID, bad URI),
                           *   LMM_ERR_PROTO (a 2.xx to a Discover that is not link-format:
                           *   coap_code 0, `payload` as it came) ... */
  uint8_t coap_code;      /**< response code, e.g. 0x44 for 2.04; 0 when none */
  const uint8_t *payload; /**< the whole response body (Block2 reassembled), may be NULL */
  size_t payload_len;
  int content_format; /**< of the response, -1 when absent */
  int attempts;       /**< requests the engine sent for this member (1 + its re-sends
                       *   after lost exchanges; CoAP-layer retransmissions excluded) */
  int64_t latency_ms; /**< from the member's first send to its outcome */
  const char *error;  /**< human text when err != LMM_OK or the code is not 2.xx */
} lmm_member_result;

/** Callbacks of a batch; not copied: the table (and `user`) must outlive the batch. They run
 *  from lmm_ctx_process(), never from inside lmm_batch_start(); any of them may be NULL.
 *  `prepare` runs as the member's turn comes and may change the operation for that member
 *  (e.g. the payload in its format) in `*op`, the engine's copy for that member only; the
 *  payload (and query) it sets are borrowed: they must stay valid until on_member for that
 *  member. on_member may start other batches; it must not free this one. on_notify's payload
 *  is borrowed for the call. on_done runs once, after the last on_member (right away, from the
 *  loop, for a batch of no members); it may free the batch. No callback may free the engine,
 *  nor run the loop (lmm_ctx_process()). */
typedef struct lmm_batch_handlers {
  void (*prepare)(void *user, size_t index, const lmm_member *m, lmm_op *op);
  void (*on_member)(void *user, const lmm_member_result *r);
  /** Observe notifications after the first answer (LMM_OPK_OBSERVE only). */
  void (*on_notify)(void *user, size_t index, const uint8_t *payload, size_t len, int format);
  void (*on_done)(void *user, lmm_batch *b);
} lmm_batch_handlers;

typedef struct lmm_batch_stats {
  size_t members, done, succeeded, failed, in_flight;
} lmm_batch_stats;

/** Creates the engine (a libcoap client context) and plugs it into `ctx`. One per context.
 *  `cfg` is copied (NULL: the defaults). @return LMM_OK; LMM_ERR_ARG for a value out of range
 *  or a malformed `bind`; LMM_ERR_IO when `bind` cannot be bound (e.g. a socket holds the port
 *  without SO_REUSEADDR; the reason goes to the context's log). `*out` is untouched on failure. */
LMM_API lmm_err lmm_unicast_new(lmm_ctx *ctx, const lmm_unicast_config *cfg, lmm_unicast **out);
/** The local port requests leave from when the engine is bound (the one picked for port 0);
 *  0 when it is not bound or `u` is NULL. */
LMM_API uint16_t lmm_unicast_local_port(const lmm_unicast *u);
/** Frees the engine; running batches are cancelled without further callbacks and detached:
 *  their handles stay valid until lmm_batch_free() (lmm_batch_wait() then returns
 *  LMM_ERR_STATE). Not allowed from a callback of the engine. NULL: no-op. */
LMM_API void lmm_unicast_free(lmm_unicast *u);

/** Starts `op` on every member. Never blocks, and calls no handler from inside: members are
 *  sent from lmm_ctx_process() as the engine's window allows. `op` is copied with its payload
 *  and query; `members` is borrowed: it must stay valid and unchanged until on_done; `h` and
 *  `user` as lmm_batch_handlers says. A member whose Object ID does not cover `op->path` fails
 *  with LMM_ERR_ARG in its on_member (nothing is sent to it) — except when `op->path.oid`
 *  equals `exempt_oid` (the Group Mgmt object, which the adapter itself configures); pass
 *  0xFFFF for no exemption. `*out` receives the batch, owned by the caller (free with
 *  lmm_batch_free(), also after on_done).
 *  @return LMM_OK; LMM_ERR_ARG for `u`, `op`, `h` or `out` NULL, members NULL with `n` > 0, a
 *  payload length without payload, or an unknown kind; LMM_ERR_NOMEM. `*out` is untouched on
 *  failure. Allowed from callbacks. */
LMM_API lmm_err lmm_batch_start(lmm_unicast *u, const lmm_member *members, size_t n,
                                const lmm_op *op, uint16_t exempt_oid, const lmm_batch_handlers *h,
                                void *user, lmm_batch **out);
/** Copies the batch's counters into `*out` (zeros when `b` is NULL; nothing when `out` is).
 *  Works on a batch whose engine was freed, and from callbacks. */
LMM_API void lmm_batch_get_stats(const lmm_batch *b, lmm_batch_stats *out);
/** True once every member has its outcome (on_done has run or is about to). */
LMM_API bool lmm_batch_done(const lmm_batch *b);
/** Cancels what has not finished (no more callbacks) and frees the batch. Also the way to free a
 *  finished batch; allowed from on_done. */
LMM_API void lmm_batch_free(lmm_batch *b);
/** Blocking helper: runs the context until the batch is done or `timeout_ms` passes (-1: no
 *  limit); other objects of the context progress meanwhile. LMM_OK (also when a callback freed
 *  the batch meanwhile: `b` is then gone), LMM_ERR_TIMEOUT, LMM_ERR_STATE when its engine was
 *  freed, LMM_ERR_ARG for a NULL or freed batch, or the loop's LMM_ERR_NOMEM (a failed poll()
 *  is retried). Not from a callback (the loop is not re-entrant). */
LMM_API lmm_err lmm_batch_wait(lmm_batch *b, long timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
