/* notify_dest.c - the per-delivery notification destinations of a receiver: pending until the
 * delivery's 201 binds them to its link, holding what arrives before that. */
#include "t8/notify_dest.h"

#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"

typedef enum dest_state {
  D_PENDING,  /* handed out, the 201 not in yet: arrivals are held */
  D_FLUSHING, /* bound; held events are being handed on, arrivals still queue behind them */
  D_BOUND     /* bound and drained: arrivals are handed on at once */
} dest_state;

struct lmmi_dest {
  char token[LMMI_DEST_TOKEN_LEN + 1];
  dest_state state;
  char *link; /* the delivery's link once bound */
  lmmi_dest_event held[LMMI_DEST_HELD_MAX];
  size_t n_held;
};

const char *lmmi_dest_link_key(const char *link) {
  const char *p = lmmw_t8_link_api_path(link);
  return p ? p : link;
}

static void dest_free(lmmi_dest *e) {
  for (size_t i = 0; i < e->n_held; i++)
    free(e->held[i].link);
  free(e->link);
  free(e);
}

lmm_err lmmi_dests_init(lmmi_dests *d, size_t max) {
  memset(d, 0, sizeof *d);
  d->max = max;
  return pthread_mutex_init(&d->mu, NULL) == 0 ? LMM_OK : LMM_ERR_NOMEM;
}

void lmmi_dests_clear(lmmi_dests *d) {
  for (size_t i = 0; i < d->n; i++)
    dest_free(d->v[i]);
  free(d->v);
  pthread_mutex_destroy(&d->mu);
  memset(d, 0, sizeof *d);
}

/* Whether two tokens are equal, in a time that does not depend on where they differ: a sender
 * who times our 404s must not learn a token digit by digit. */
static bool token_equal(const char *a, const char *b) {
  unsigned diff = 0;
  for (size_t i = 0; i < LMMI_DEST_TOKEN_LEN; i++)
    diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
  return diff == 0;
}

/* Caller holds mu. Tokens are random and few: a linear scan is cheaper than keeping an index.
 * `token` is LMMI_DEST_TOKEN_LEN characters (the path parser checked it). */
static size_t find(const lmmi_dests *d, const char *token) {
  size_t i = 0;
  while (i < d->n && !token_equal(d->v[i]->token, token))
    i++;
  return i;
}

bool lmmi_dests_known(lmmi_dests *d, const char *token) {
  bool known;
  pthread_mutex_lock(&d->mu);
  known = find(d, token) < d->n;
  pthread_mutex_unlock(&d->mu);
  return known;
}

static void unlink_at(lmmi_dests *d, size_t i) {
  memmove(d->v + i, d->v + i + 1, (d->n - i - 1) * sizeof *d->v);
  d->n--;
}

lmm_err lmmi_dests_add(lmmi_dests *d, const char *token) {
  lmmi_dest *e = calloc(1, sizeof *e), *evicted = NULL;
  lmm_err rc = LMM_OK;

  if (e == NULL) return LMM_ERR_NOMEM;
  memcpy(e->token, token, LMMI_DEST_TOKEN_LEN);
  e->token[LMMI_DEST_TOKEN_LEN] = '\0';
  e->state = D_PENDING;
  pthread_mutex_lock(&d->mu);
  if (d->n >= d->max) {
    /* Evicting a bound destination loses its later notifications (404) at a strict receiver;
     * with accept_base its delivery stays registered by link and a notification naming it is
     * still taken there. A pending one is in use. */
    size_t i = 0;
    while (i < d->n && d->v[i]->state != D_BOUND)
      i++;
    if (i == d->n) {
      rc = LMM_ERR_STATE;
      goto out;
    }
    evicted = d->v[i];
    unlink_at(d, i);
  }
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 16;
    lmmi_dest **grown = realloc(d->v, cap * sizeof *grown);
    if (grown == NULL) {
      rc = LMM_ERR_NOMEM;
      goto out;
    }
    d->v = grown;
    d->cap = cap;
  }
  d->v[d->n++] = e;
  e = NULL;
out:
  pthread_mutex_unlock(&d->mu);
  free(e);
  if (evicted != NULL) dest_free(evicted);
  return rc;
}

lmm_err lmmi_dests_arrive(lmmi_dests *d, const char *token, const lmmi_dest_event *ev,
                          lmmi_dest_verdict *verdict, char **bound) {
  /* Copied before locking, in case it is kept. */
  char *copy = strdup(ev->link);
  lmm_err rc = LMM_OK;
  size_t i;

  *bound = NULL;
  if (copy == NULL) return LMM_ERR_NOMEM;
  pthread_mutex_lock(&d->mu);
  i = find(d, token);
  if (i == d->n) {
    *verdict = LMMI_DEST_UNKNOWN;
  } else if (d->v[i]->state != D_BOUND) {
    lmmi_dest *e = d->v[i];
    if (e->n_held == LMMI_DEST_HELD_MAX) {
      *verdict = LMMI_DEST_FULL;
    } else {
      e->held[e->n_held].test = ev->test;
      e->held[e->n_held].delivered = ev->delivered;
      e->held[e->n_held].link = copy;
      e->n_held++;
      copy = NULL;
      *verdict = LMMI_DEST_HELD;
    }
  } else {
    free(copy);
    copy = strdup(d->v[i]->link);
    if (copy == NULL) {
      rc = LMM_ERR_NOMEM;
    } else {
      *bound = copy;
      copy = NULL;
      *verdict = LMMI_DEST_BOUND;
    }
  }
  pthread_mutex_unlock(&d->mu);
  free(copy);
  return rc;
}

lmm_err lmmi_dests_bind(lmmi_dests *d, const char *token, const char *link) {
  char *copy = strdup(link);
  size_t i;

  if (copy == NULL) return LMM_ERR_NOMEM;
  pthread_mutex_lock(&d->mu);
  i = find(d, token);
  if (i < d->n && d->v[i]->link == NULL) {
    d->v[i]->link = copy;
    d->v[i]->state = D_FLUSHING;
    copy = NULL;
  }
  pthread_mutex_unlock(&d->mu);
  free(copy);
  return LMM_OK;
}

bool lmmi_dests_pop(lmmi_dests *d, const char *token, lmmi_dest_event *ev) {
  bool got = false;
  size_t i;

  pthread_mutex_lock(&d->mu);
  i = find(d, token);
  if (i < d->n && d->v[i]->link != NULL) {
    lmmi_dest *e = d->v[i];
    if (e->n_held > 0) {
      *ev = e->held[0];
      memmove(e->held, e->held + 1, (e->n_held - 1) * sizeof *e->held);
      e->n_held--;
      got = true;
    } else {
      e->state = D_BOUND;
    }
  }
  pthread_mutex_unlock(&d->mu);
  return got;
}

size_t lmmi_dests_remove(lmmi_dests *d, const char *token) {
  lmmi_dest *gone = NULL;
  size_t i, dropped = 0;

  pthread_mutex_lock(&d->mu);
  i = find(d, token);
  if (i < d->n) {
    gone = d->v[i];
    unlink_at(d, i);
  }
  pthread_mutex_unlock(&d->mu);
  if (gone != NULL) {
    dropped = gone->n_held;
    dest_free(gone);
  }
  return dropped;
}

void lmmi_dests_forget_key(lmmi_dests *d, const char *key) {
  lmmi_dest *gone[8];
  size_t n_gone;

  /* Normally one destination per link; a few at a time keeps the frees out of the lock. */
  do {
    n_gone = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n && n_gone < sizeof gone / sizeof *gone;)
      if (d->v[i]->link != NULL && strcmp(lmmi_dest_link_key(d->v[i]->link), key) == 0) {
        gone[n_gone++] = d->v[i];
        unlink_at(d, i);
      } else {
        i++;
      }
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n_gone; i++)
      dest_free(gone[i]);
  } while (n_gone == sizeof gone / sizeof *gone);
}

bool lmmi_dests_token_of(lmmi_dests *d, const char *key, char token[LMMI_DEST_TOKEN_LEN + 1]) {
  bool found = false;

  pthread_mutex_lock(&d->mu);
  /* The newest first, should a link ever have been bound twice. */
  for (size_t i = d->n; i-- > 0;)
    if (d->v[i]->link != NULL && strcmp(lmmi_dest_link_key(d->v[i]->link), key) == 0) {
      memcpy(token, d->v[i]->token, LMMI_DEST_TOKEN_LEN + 1);
      found = true;
      break;
    }
  pthread_mutex_unlock(&d->mu);
  return found;
}
