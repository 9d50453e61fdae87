/* core.h - the building blocks every campaign is made of (docs/architecture.md, "The campaign
 * core"). An operation campaign (campaign.c) and a firmware campaign (fw_*.c) are compositions
 * of these; so is anything else that runs a flow on a group. Each block owns one thing and says
 * what it wants from its owner through a few callbacks:
 *
 *   lmmi_member_index  members by Endpoint Client Name, for the answers of a group request
 *   lmmi_configure     "configure the group": the TMGI (allocate, renew, release by policy)
 *                      and the Group Mgmt writes to the members
 *   lmmi_channel       the way to the group: the IP multicast address, or a T8 delivery (its
 *                      body carrying one request, or its MB2-U port carrying many datagrams)
 *   lmmi_round         "send to the group and collect": a fresh token registered with the
 *                      answer receiver, the Response Time Window, its early end
 *   lmmi_pass          "repair by unicast": one unicast batch over a chosen subset of members
 *   lmmi_recorder      "record outcomes": the campaign's row and its members' outcomes to the
 *                      store, batched by count and age, retried after a failed write
 *
 * Blocks never call one another's owners, hold no process-wide state and run from the
 * context's loop only. Each is embedded in its owner's struct (no allocation of its own beyond
 * what it holds), starts zeroed, and its stop and free calls may come at any
 * time, also from its own callbacks, and again. */
#ifndef LMMI_CAMPAIGN_CORE_H
#define LMMI_CAMPAIGN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaign/campaign_internal.h"
#include "campaign/protect.h"
#include "core/ctx_internal.h"

/* ------------------------------------------------------------ member index */

typedef struct lmmi_member_ref {
  const char *ep; /* borrowed from the owner's members */
  size_t index;
} lmmi_member_ref;

/** Members sorted by name (then index): an answer finds its member in O(log n). */
typedef struct lmmi_member_index {
  lmmi_member_ref *by_ep;
  size_t n;
} lmmi_member_index;

/** Indexes `m[0..n)` (borrowed: names must stay valid and unchanged while the index lives).
 *  LMM_ERR_NOMEM, the index then empty. */
lmm_err lmmi_member_index_build(lmmi_member_index *x, const lmm_member *m, size_t n);
/** The first member named `ep` (in member order) that `accept` takes (NULL: any), SIZE_MAX when
 *  none: one endpoint may be several members (one per Object ID). */
size_t lmmi_member_index_find(const lmmi_member_index *x, const char *ep,
                              bool (*accept)(const void *owner, size_t i), const void *owner);
void lmmi_member_index_free(lmmi_member_index *x);

/* ------------------------------------------------- group: the first Schedule */

/** The first Schedule entry (Group Mgmt resource 8) still ahead of `wall_ms`, in wall-clock ms;
 *  0 when there is none. Members in power saving wake for it: nothing goes to the group earlier. */
int64_t lmmi_group_next_schedule_ms(const lmm_group_info *g, int64_t wall_ms);
/** The path a campaign takes on `g` when asked for `via` (LMM_VIA_NONE: the group's type). */
lmm_path_kind lmmi_group_path(const lmm_group_info *g, lmm_path_kind via);
/** Deep copy of a group; `*d` zeroed on LMM_ERR_NOMEM. */
lmm_err lmmi_group_copy(lmm_group_info *d, const lmm_group_info *s);

/* -------------------------------------------------------------- configure */

typedef struct lmmi_configure lmmi_configure;

typedef struct lmmi_configure_handlers {
  /** Member `i`'s Group Mgmt write ended: `err`/`code` as the unicast engine said, `error` its
   *  text when it did not succeed (borrowed, valid during the call). */
  void (*on_member)(void *owner, size_t i, lmm_err err, uint8_t code, const char *error);
  /** The configuration ended: LMM_OK (whatever single writes did), or why it could not run
   *  (`why` borrowed). The TMGI, if any, is in lmmi_configure.tmgi. */
  void (*on_done)(void *owner, lmm_err rc, const char *why);
  /** The TMGI release asked by lmmi_configure_release() ended (lmm_tmgi_end). */
  void (*on_released)(void *owner, lmm_tmgi_end end);
} lmmi_configure_handlers;

struct lmmi_configure {
  /* set by the owner before lmmi_configure_start() */
  lmm_ctx *ctx;
  lmm_unicast *unicast;
  lmm_t8_client *t8;         /* MBMS only */
  lmm_store *store;          /* NULL: nothing recorded */
  lmm_group_info *group;     /* borrowed; its TMGI fields follow an allocation */
  const lmm_member *members; /* borrowed until on_done */
  size_t n;
  const bool *skip;      /* NULL, or n flags: members not to write */
  int64_t member_number; /* Group Mgmt resource: the members of the group */
  lmm_path_kind via;
  int64_t window_s;          /* the Response Time Window written to the members */
  int64_t tmgi_needed_until; /* wall-clock seconds the TMGI must live to */
  const char *answer_uri;    /* Group Mgmt resource 11, NULL none */
  bool skip_writes;          /* members already configured: the TMGI only */
  lmm_protect protect;       /* group message protection asked for */
  const char *what;          /* names the owner in the log ("campaign 7") */
  const lmmi_configure_handlers *h;
  void *owner;
  /* results */
  char *tmgi;        /* owned: the TMGI the group uses (MBMS), NULL none */
  lmmi_protect prot; /* the group's key when its messages are protected (prot.on) */
  /* private */
  lmm_t8_request *req;
  lmm_batch *batch;
  lmm_member *sub;
  size_t *map;
  uint8_t *senml, *tlv;
  size_t senml_len, tlv_len;
  bool realloc_tried;
};

/** Protection (`protect`: off, or the group's key into `prot`, written to the members with
 *  the Group Mgmt object; a policy that refuses the group ends it in on_done), the TMGI (MBMS:
 *  reused while it lives long enough, else renewed, else allocated; an allocation
 *  is recorded in the stored group), then the Group Mgmt write of the group's own instance to
 *  every member not skipped (not for unicast groups). Never blocks; on_done follows, from a
 *  later loop turn or from within this call. LMM_OK when started. */
lmm_err lmmi_configure_start(lmmi_configure *g);
/** The group's TMGI policy at the owner's end: LMM_TMGI_RELEASE sends the T8 DELETE and returns
 *  true (on_released follows); otherwise returns false with `*end` set (kept, none, failed). */
bool lmmi_configure_release(lmmi_configure *g, lmm_tmgi_end *end);
/** Cancels what is in flight (no more callbacks); keeps `tmgi`. */
void lmmi_configure_stop(lmmi_configure *g);
/** Stops and frees what it holds. */
void lmmi_configure_free(lmmi_configure *g);

/* --------------------------------------------------------------- channel */

typedef struct lmmi_channel lmmi_channel;

/** The channel is open (LMM_OK) or could not be (`why` borrowed). */
typedef void (*lmmi_channel_fn)(void *owner, lmm_err rc, const char *why);

struct lmmi_channel {
  /* set by the owner before lmmi_channel_open() */
  lmm_t8_client *t8; /* MBMS */
  const char *tmgi;  /* MBMS; borrowed */
  const lmm_group_info *group;
  lmm_path_kind via;    /* LMM_VIA_MBMS or LMM_VIA_MULTICAST */
  const char *mcast_if; /* multicast: interface address, NULL 127.0.0.1 */
  lmmi_protect *prot;   /* NULL, or the key every message is sealed with (borrowed) */
  /* results */
  char *delivery; /* MBMS: the delivery's link (owned), NULL before */
  uint64_t bytes; /* datagram bytes sent */
  /* private */
  lmmi_group_dest dest;
  lmm_t8_request *req;
  lmmi_channel_fn fn;
  void *owner;
  bool inline_sent;
};

/** Opens the way to the group. Multicast: a socket, at once (`fn` is not called: the return
 *  value says how it went; `inline_msg` must be NULL). MBMS: a T8 Group Message Request; with
 *  `inline_msg` its body carries that one message (the delivery starts at `start_s`, 0 at once:
 *  the BM-SC holds it until then), without it the SCEF's MB2-U port takes datagrams afterwards;
 *  LMM_OK means sent, and `fn` follows from the loop. */
lmm_err lmmi_channel_open(lmmi_channel *ch, const uint8_t *inline_msg, size_t len, int64_t start_s,
                          lmmi_channel_fn fn, void *owner);
/** Sends one datagram, sealed first when the channel has a key (LMM_ERR_STATE before the
 *  channel is open, or when its only message went in the delivery's body). */
lmm_err lmmi_channel_send(lmmi_channel *ch, const void *msg, size_t len);
/** Encodes `op` as a group request with `token` (docs/protocol.md section 1) and sends it. */
lmm_err lmmi_channel_send_op(lmmi_channel *ch, lmm_ctx *ctx, const lmm_op *op,
                             const uint8_t token[LMMI_TOKEN_LEN]);
/** MBMS: deletes the delivery on the SCEF (its MB2-U port has nothing more to carry);
 *  fire and forget. */
void lmmi_channel_end_delivery(lmmi_channel *ch);
/** Cancels what is in flight and closes the socket; keeps `delivery` and `bytes`. */
void lmmi_channel_stop(lmmi_channel *ch);
void lmmi_channel_free(lmmi_channel *ch);

/* ----------------------------------------------------------------- round */

/** One group request's answers: a fresh token registered with the answer receiver, and the
 *  end of its window. */
typedef struct lmmi_round {
  lmm_ctx *ctx;
  lmm_answers *answers;
  uint8_t token[LMMI_TOKEN_LEN];
  bool open;
  lmmi_timer *timer;
  void (*on_over)(void *owner);
  void *owner;
} lmmi_round;

/** A fresh random token; answers carrying it go to `fn` until the round closes.
 *  `ctx`, `answers` borrowed. LMM_ERR_NOMEM, or the randomness source's failure. */
lmm_err lmmi_round_open(lmmi_round *r, lmm_ctx *ctx, lmm_answers *answers, lmmi_answer_fn fn,
                        void *owner);
/** The window ends at loop time `due_ms`: `on_over(owner)` then, once (the round stays open
 *  until closed). Replaces an earlier end. LMM_ERR_NOMEM when no timer can be armed. */
lmm_err lmmi_round_end_at(lmmi_round *r, int64_t due_ms, void (*on_over)(void *), void *owner);
/** Everyone answered: the window ends now, on a timer turn rather than inside the answer's
 *  callback. Without memory for the new timer the old end stands. */
void lmmi_round_end_now(lmmi_round *r);
/** Closes: later answers with its token are "unknown"; cancels the window's end. */
void lmmi_round_close(lmmi_round *r);

/* ------------------------------------------------------------------- pass */

typedef struct lmmi_pass lmmi_pass;

typedef struct lmmi_pass_handlers {
  /** Optional: adjust the request for item `k` (member `i`), as lmm_batch_handlers.prepare. */
  void (*prepare)(void *owner, size_t k, size_t i, lmm_op *op);
  /** Item `k` (member `i`) ended; `r` borrowed during the call. */
  void (*on_result)(void *owner, size_t k, size_t i, const lmm_member_result *r);
  /** Every item ended; the pass is idle again (a new pass may start from here). */
  void (*on_done)(void *owner);
} lmmi_pass_handlers;

struct lmmi_pass {
  lmm_batch *batch;
  lmm_member *sub; /* shallow copies of the owner's members */
  size_t *map;     /* item -> member index */
  size_t n;
  const lmmi_pass_handlers *h;
  void *owner;
};

/** One unicast request per item: item k goes to `members[idx[k]]` (`members` borrowed until
 *  on_done; `idx` copied). `exempt_oid` as lmm_batch_start(). LMM_ERR_NOTFOUND for n == 0
 *  (nothing starts), LMM_ERR_STATE while a pass runs, else lmm_batch_start()'s result. */
lmm_err lmmi_pass_start(lmmi_pass *p, lmm_unicast *u, const lmm_member *members, const size_t *idx,
                        size_t n, const lmm_op *op, uint16_t exempt_oid,
                        const lmmi_pass_handlers *h, void *owner);
bool lmmi_pass_busy(const lmmi_pass *p);
/** Cancels the running pass (no more callbacks). */
void lmmi_pass_stop(lmmi_pass *p);

/* --------------------------------------------------------------- recorder */

typedef struct lmmi_recorder {
  lmm_ctx *ctx;
  lmm_store *store; /* NULL: the recorder does nothing */
  int64_t id;       /* the campaign's row */
  size_t n;
  size_t *dirty; /* members whose outcome waits for the store, each once */
  bool *is_dirty;
  size_t n_dirty;
  lmmi_timer *timer;
  /** Fills `o` with member i's outcome; pointers in it may be borrowed (they are read before
   *  the call that flushes returns). */
  void (*fill)(void *owner, size_t i, lmm_outcome *o);
  void *owner;
  const char *what; /* names the campaign in the log */
} lmmi_recorder;

/** For members 0..n-1 of campaign `id` in `store` (NULL: a no-op recorder). `what` is copied
 *  into a fixed buffer by the owner: borrowed here. LMM_ERR_NOMEM. */
lmm_err lmmi_recorder_init(lmmi_recorder *r, lmm_ctx *ctx, lmm_store *store, int64_t id, size_t n,
                           void (*fill)(void *, size_t, lmm_outcome *), void *owner,
                           const char *what);
/** Member i's outcome changed: written with the next batch (by count or within 250 ms). */
void lmmi_recorder_mark(lmmi_recorder *r, size_t i);
/** Writes what is marked now (one transaction). A failed write keeps it marked for the next
 *  flush, so a store that is briefly busy or full loses nothing. @return whether everything
 *  marked is in the store (true without a store or with nothing marked). */
bool lmmi_recorder_flush(lmmi_recorder *r);
/** Writes the campaign's row (after the outcomes marked so far). */
void lmmi_recorder_save_info(lmmi_recorder *r, const lmm_campaign_info *info);
/** Flushes and frees. */
void lmmi_recorder_free(lmmi_recorder *r);
/** Drops what is marked and turns the recorder into a no-op one: nothing more reaches the
 *  store (lmmi_recorder_free() then writes nothing). */
void lmmi_recorder_detach(lmmi_recorder *r);

/** How a request went, as the report's step columns show it. */
lmm_step lmmi_step_of(lmm_err err, uint8_t code);

#endif
