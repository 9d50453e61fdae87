/* unicast_internal.h - what the unicast engine's files share: the engine, batch, per-member slot
 * and peer types, and the request helpers (member URIs, name resolution, building the PDU). */
#ifndef LMMI_UNICAST_INTERNAL_H
#define LMMI_UNICAST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/unicast.h"

/* Life of one member of a batch:
 *   QUEUED  -> not started (index >= batch->next_queued)
 *   ACTIVE  -> counted in flight: a request outstanding, a re-send waiting, or an outcome
 *              recorded by a libcoap handler and waiting in the attention queue
 *   DONE    -> on_member has run (an Observe member may still hold its session)
 * An ACTIVE member is attached to a peer (the session it talks through) from its first send:
 * as the peer's owner (its exchange on the wire), waiting for the wire, or between two attempts
 * (bound engines keep the peer for the re-send); an observing DONE member stays attached. */
enum { LMMI_SLOT_QUEUED = 0, LMMI_SLOT_ACTIVE, LMMI_SLOT_DONE };

/* What a libcoap handler left for the engine to act on (outside libcoap). */
enum {
  LMMI_PEND_NONE = 0,
  LMMI_PEND_RESP,   /* a response arrived: the member's outcome */
  LMMI_PEND_FAIL,   /* this attempt failed; re-sent if the deadline allows a whole attempt */
  LMMI_PEND_FINAL,  /* failed for good (refused, RST, deadline passed) */
  LMMI_PEND_OBS_END /* an observation's session died: drop it quietly */
};

#define LMMI_TOKEN_MAX 8
#define LMMI_ERRTEXT   96

typedef struct lmmi_uslot lmmi_uslot;
typedef struct lmmi_peer lmmi_peer;

/* A request body handed to libcoap without a copy: libcoap calls back when it is done with it
 * (after the last block, or when the session goes), which may be after the member's outcome on
 * a shared session. */
typedef struct lmmi_body {
  size_t refs, len;
  uint8_t data[]; /* len bytes */
} lmmi_body;

struct lmmi_uslot {
  lmm_batch *b;
  size_t index;
  uint8_t state, pending;
  bool in_attn, observing, dtls, retryable, keep_session;
  bool waiting;              /* in its peer's queue for the wire */
  lmmi_peer *peer;           /* attached to (see above), or NULL */
  lmmi_uslot *pprev, *pnext; /* in the peer's waiting queue or its observations */
  lmm_op op;                 /* the batch's operation after prepare() */
  uint8_t token[LMMI_TOKEN_MAX];
  uint8_t token_len;
  int attempts;
  uint16_t accept_alt; /* a Read's second-choice Accept after 4.06/5.00; LMM_ACCEPT_NONE: none */
  int64_t t_first;     /* first send, -1 before */
  int64_t deadline;    /* t_first-independent: set when the member starts */
  int64_t resend_at;   /* -1: no re-send waiting */
  int64_t hs_due;      /* -1: no DTLS handshake running */
  int64_t pause_ms;    /* before a re-send after this failure */
  size_t heap_idx;     /* SIZE_MAX: not in the deadline heap */
  /* the outcome */
  lmm_err err;
  uint8_t code;
  int cf;
  uint8_t *payload; /* owned copy, freed after on_member */
  size_t payload_len;
  char errtext[LMMI_ERRTEXT];
  lmmi_uslot *attn_next;
  lmmi_uslot *obs_prev, *obs_next;
  char *obs_key; /* "EP\nURI" of an observation: the member array may go after on_done */
};

/* One session to one device address and protocol, and the members that use it. Unbound, each
 * attempt has a peer of its own (a fresh socket); bound, the members that talk to one device
 * share its peer, one exchange on the wire at a time (NSTART = 1), the others waiting in turn.
 * A peer goes when its last member leaves it. */
struct lmmi_peer {
  lmm_unicast *u;
  coap_session_t *session; /* NULL before the first send and after a dead one was dropped */
  coap_address_t addr;
  char *host; /* of the first member's URI, for error texts */
  bool dtls;
  bool dead;      /* the session failed: dropped, and reopened by the next send */
  bool wire_busy; /* an exchange is outstanding (its member may have left: see wire_token) */
  bool polite;    /* unbound observation leaving: released without a disconnect */
  bool in_kick;
  uint8_t wire_token[LMMI_TOKEN_MAX];
  uint8_t wire_token_len;
  lmmi_uslot *owner;                 /* the member whose exchange is on the wire */
  lmmi_uslot *wait_head, *wait_tail; /* waiting for the wire, in order */
  lmmi_uslot *observers;             /* observing members (DONE) on this session */
  size_t users;                      /* members attached */
  char *psk_identity;                /* bound CoAPS: the credentials of the session */
  uint8_t *psk_key;
  size_t psk_key_len;
  lmmi_peer *hnext;     /* bound: chain of the engine's peer table */
  lmmi_peer *kick_next; /* in the engine's list of peers to serve */
};

/* A notification waiting to be handed to on_notify (queued by the response handler). */
typedef struct lmmi_notify {
  lmm_batch *b;
  size_t index;
  int cf;
  size_t len;
  struct lmmi_notify *next;
  uint8_t data[]; /* len bytes */
} lmmi_notify;

struct lmm_batch {
  lmm_unicast *u; /* NULL once the engine was freed (the batch is cancelled) */
  const lmm_member *members;
  size_t n;
  lmm_op op;
  lmmi_body *body; /* the operation's payload (copied), NULL when it has none */
  char *query_copy;
  uint16_t exempt_oid;
  const lmm_batch_handlers *h;
  void *user;
  lmmi_uslot *slots;
  size_t next_queued;
  size_t done, succeeded, failed, in_flight;
  bool done_reported, freed, cancelled;
  int busy; /* callbacks or lmm_batch_wait() running on it: freeing waits */
  /* one-entry cache for names (most batches use one server name or none) */
  char *cache_host;
  coap_address_t cache_addr;
  lmm_batch *prev, *next;
};

struct lmm_unicast {
  lmm_ctx *ctx;
  lmm_unicast_config cfg;
  coap_context_t *coap;
  int epfd;
  lmmi_source src;
  lmm_batch *batches, *batches_tail;
  unsigned gen; /* bumped when a batch leaves the list (iterations restart) */
  size_t in_flight, n_queued, zero_pending;
  lmmi_uslot **heap; /* min-heap of ACTIVE members by their next due time */
  size_t heap_n, heap_cap;
  lmmi_uslot *attn_head, *attn_tail;
  lmmi_notify *notify_head, *notify_tail;
  lmmi_uslot *observations;
  int64_t coap_due; /* libcoap's next retransmission, -1: none */
  /* cfg.bind: every session is bound to `local` (see unicast.c) */
  bool bound;
  coap_address_t local;
  char *bind_text;  /* the copy cfg.bind points to */
  int port_fd;      /* bound to port 0: the socket that holds the port picked, else -1 */
  lmmi_peer **ptab; /* bound: peers by address, chained; ptab_cap a power of two */
  size_t ptab_cap, n_peers;
  lmmi_peer *kick_head, *kick_tail; /* peers whose next member may go, or dead sessions */
};

/* ------------------------------------------------ the engine's files share (lmmi_uc_) */

static inline int64_t lmmi_uc_now_ms(const lmm_unicast *u) {
  return lmm_ctx_now_ms(u->ctx);
}

/* unicast_queue.c: the deadline heap and the attention queue. */
/** The member's next due time: its deadline, a re-send or a handshake limit. */
int64_t lmmi_uc_slot_due(const lmmi_uslot *s);
/** Room for `need` entries in the heap. */
lmm_err lmmi_uc_heap_reserve(lmm_unicast *u, size_t need);
/** Adds the slot, or re-sifts it when its due time changed. */
void lmmi_uc_heap_push(lmm_unicast *u, lmmi_uslot *s);
void lmmi_uc_heap_remove(lmm_unicast *u, lmmi_uslot *s);
/** Queues the slot for the engine (and takes it out of the heap); once while queued. */
void lmmi_uc_attn_push(lmm_unicast *u, lmmi_uslot *s);
lmmi_uslot *lmmi_uc_attn_pop(lmm_unicast *u);
void lmmi_uc_set_text(lmmi_uslot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** This attempt failed; a retryable one may be re-sent after `pause_ms`. */
void lmmi_uc_mark_fail(lmm_unicast *u, lmmi_uslot *s, lmm_err err, bool retryable,
                       int64_t pause_ms);
/** The member failed for good. */
void lmmi_uc_fail_now(lmm_unicast *u, lmmi_uslot *s, lmm_err err);

/* unicast_session.c: sessions and observations. */
/** Releases a session (never from inside a libcoap handler). */
void lmmi_uc_session_drop(lmm_unicast *u, coap_session_t *cs, bool observing);
/** An accepted observation: the member stays on its peer for the notifications. */
void lmmi_uc_obs_link(lmm_unicast *u, lmmi_uslot *s);
void lmmi_uc_obs_unlink(lmm_unicast *u, lmmi_uslot *s);
/** Starts one attempt of the member: finds its peer and sends, or waits for the wire.
 *  Failures are queued, never called back. */
void lmmi_uc_send_attempt(lmm_unicast *u, lmmi_uslot *s);
/** Sends the member's request on its peer, whose wire is free (opens the session if needed). */
void lmmi_uc_send_on_peer(lmm_unicast *u, lmmi_uslot *s);

/* unicast_peer.c: peers. Only lmmi_uc_peer_fail() and lmmi_uc_peer_kick() may be called from
 * a libcoap handler; the others release sessions or send. */
typedef enum { LMMI_PEER_OK, LMMI_PEER_WAIT, LMMI_PEER_NOMEM } lmmi_peer_rc;
/** The peer member `s` talks to at `addr` (bound: shared; unbound: a new one) and attaches
 *  `s` to it. LMMI_PEER_WAIT: the device's CoAPS session is open with other credentials. */
lmmi_peer_rc lmmi_uc_peer_attach(lmm_unicast *u, lmmi_uslot *s, const coap_address_t *addr,
                                 const char *host);
/** Attaches `s` to `p` as well (a Cancel Observe joining the observation's peer). */
void lmmi_uc_peer_join(lmmi_peer *p, lmmi_uslot *s);
/** Sends at once when the wire is free, else queues the member for it. */
void lmmi_uc_peer_submit(lmm_unicast *u, lmmi_uslot *s);
/** The member gives up the wire but stays attached (a bound re-send follows). */
void lmmi_uc_peer_pause(lmm_unicast *u, lmmi_uslot *s);
/** The member leaves its peer; `deregister`: it was observing. The peer goes with its last
 *  member (its session released at once). */
void lmmi_uc_peer_detach(lmm_unicast *u, lmmi_uslot *s, bool deregister);
/** The member whose exchange or observation has this token, or NULL. */
lmmi_uslot *lmmi_uc_peer_slot(const lmmi_peer *p, const uint8_t *tok, size_t len);
/** The session is unusable: the peer's observations end, and the engine drops it. */
void lmmi_uc_peer_fail(lmmi_peer *p);
/** Asks the engine to serve the peer (its next member, or its dead session). */
void lmmi_uc_peer_kick(lmmi_peer *p);
/** Serves the peers kicked since the last call. */
void lmmi_uc_peers_service(lmm_unicast *u);
/** Frees what is left (the engine is going). */
void lmmi_uc_peers_free(lmm_unicast *u);
/** Bound engines: checks that cfg.bind can be bound (and holds a port 0 picked). */
lmm_err lmmi_uc_bind_open(lmm_unicast *u);

/* unicast_batch.c: the body of requests */
lmmi_body *lmmi_uc_body_new(const uint8_t *data, size_t len);
void lmmi_uc_body_unref(lmmi_body *b);
/** libcoap's coap_release_large_data_t for a body. */
void lmmi_uc_body_release(coap_session_t *s, void *body);

/* unicast_coap.c */
void lmmi_uc_register_handlers(coap_context_t *coap);
/** Bound engines: requests that reach the engine's sockets go unanswered. */
bool lmmi_uc_register_stray(coap_context_t *coap);

/* unicast_batch.c */
/** Takes the batch out of the engine: sessions released, no more callbacks. */
void lmmi_uc_batch_cancel(lmm_batch *b);
void lmmi_uc_batch_destroy(lmm_batch *b);
/** Destroys a batch that was freed while busy, once it is not. */
void lmmi_uc_destroy_if_released(lmm_batch *b);

/* ------------------------------------------------ request helpers (unicast_req.c) */

typedef struct lmmi_target {
  bool secure;
  char host[256];
  uint16_t port;
} lmmi_target;

/** Parses coap://HOST[:PORT][/] or coaps://...; HOST a name, IPv4 or [IPv6]. false with `why`. */
bool lmmi_unicast_parse_uri(const char *uri, lmmi_target *t, char *why, size_t cap);
/** Numeric hosts at once; names with getaddrinfo() (blocking: see unicast.c), cached per batch. */
lmm_err lmmi_unicast_resolve(lmm_batch *b, const lmmi_target *t, coap_address_t *out, char *why,
                             size_t cap);
/** Builds the CoAP request of `op` for `s` (token, options, payload with Block1 when larger
 *  than `block_size`). The payload is held by `held` (libcoap takes a reference) or, when
 *  `held` is NULL, borrowed until the session is released. Returns NULL with `why` on failure. */
coap_pdu_t *lmmi_unicast_build_pdu(coap_session_t *s, const lmm_op *op, unsigned block_size,
                                   lmmi_body *held, uint8_t *token, uint8_t *token_len, char *why,
                                   size_t cap);
/** Parses cfg.bind: "IPV4:PORT" or "[IPV6]:PORT", numeric. false with `why`. */
bool lmmi_unicast_parse_bind(const char *s, coap_address_t *out, char *why, size_t cap);
/** Resolves an LMM_ACCEPT_AUTO Accept of `op` for member `m` (see unicast.h): sets
 *  op->accept to the first choice and returns the second (LMM_ACCEPT_NONE when the operation
 *  is not a Read or Observe, or the Accept was explicit). `gm_oid` names the Group Mgmt object
 *  (0xFFFF: none). */
uint16_t lmmi_unicast_choose_accept(lmm_op *op, const lmm_member *m, uint16_t gm_oid);
/** "4.04 Not Found" */
void lmmi_unicast_code_text(uint8_t code, char *buf, size_t cap);

#endif
