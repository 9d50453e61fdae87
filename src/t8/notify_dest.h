/* notify_dest.h - the notification receiver's per-delivery destinations: one unguessable URL
 * token per delivery create, known before the request leaves, and the notifications that
 * arrive there before the delivery's 201. */
#ifndef LMMI_T8_NOTIFY_DEST_H
#define LMMI_T8_NOTIFY_DEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lwm2m_mbms/err.h"

#define LMMI_DEST_TOKEN_LEN 32 /* hex digits: 128 random bits */
/* Notifications kept for one delivery whose 201 has not come yet: a TestNotification and a
 * delivery notification are what a create brings, the rest is margin. */
#define LMMI_DEST_HELD_MAX 4

/** A notification kept for later. `link` owned. */
typedef struct lmmi_dest_event {
  bool test;
  bool delivered;
  char *link;
} lmmi_dest_event;

typedef struct lmmi_dest lmmi_dest;

/** The set, with a lock of its own: arrivals come from the listener (maybe its own thread),
 *  reservations and binds from the client. */
typedef struct lmmi_dests {
  pthread_mutex_t mu;
  lmmi_dest **v; /* oldest first */
  size_t n, cap, max;
} lmmi_dests;

typedef enum lmmi_dest_verdict {
  LMMI_DEST_UNKNOWN, /* no such token (never handed out, forgotten, released) */
  LMMI_DEST_HELD,    /* kept until the delivery's 201 binds it */
  LMMI_DEST_FULL,    /* kept nothing: this delivery already holds LMMI_DEST_HELD_MAX */
  LMMI_DEST_BOUND    /* the delivery is known: `*bound` is its link */
} lmmi_dest_verdict;

lmm_err lmmi_dests_init(lmmi_dests *d, size_t max);
void lmmi_dests_clear(lmmi_dests *d);

/** Adds a pending destination. At the bound the oldest bound one is evicted (its delivery stays
 *  known by link); LMM_ERR_STATE when all `max` are still waiting for their 201. */
lmm_err lmmi_dests_add(lmmi_dests *d, const char *token);
/** A notification arrived at `token`. HELD copies `link`; BOUND hands out an owned copy of the
 *  bound link in `*bound` (free()). LMM_ERR_NOMEM leaves *verdict untouched. */
lmm_err lmmi_dests_arrive(lmmi_dests *d, const char *token, const lmmi_dest_event *ev,
                          lmmi_dest_verdict *verdict, char **bound);
/** The 201 came: `link` (copied) names the delivery. Held events are then popped with
 *  lmmi_dests_pop(); arrivals meanwhile join them, so their order is kept. */
lmm_err lmmi_dests_bind(lmmi_dests *d, const char *token, const char *link);
/** Takes the oldest held event of a bound destination (`ev->link` then owned by the caller).
 *  False when none is left: from then on arrivals are BOUND. */
bool lmmi_dests_pop(lmmi_dests *d, const char *token, lmmi_dest_event *ev);
/** Whether `token` was handed out and is still kept (pending or bound). */
bool lmmi_dests_known(lmmi_dests *d, const char *token);
/** Drops a destination and whatever it holds; returns how many held events were dropped. */
size_t lmmi_dests_remove(lmmi_dests *d, const char *token);
/** Drops the destinations bound to a link whose key (API path) is `key`. */
void lmmi_dests_forget_key(lmmi_dests *d, const char *key);
/** Copies into `token` the destination bound to `key`; false when there is none. */
bool lmmi_dests_token_of(lmmi_dests *d, const char *key, char token[LMMI_DEST_TOKEN_LEN + 1]);

/** The key links are compared by: their path from the API base on (the SCEF may name its host
 *  differently in a notification than in its Location), or the whole link when it has none. */
const char *lmmi_dest_link_key(const char *link);

#endif
