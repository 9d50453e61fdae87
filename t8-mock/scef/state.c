/* state.c - TMGIs and deliveries, the notification queue, the clock and the seeded PRNG. */
#include "mock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmm_wire/t8_json.h"

int64_t mock_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mock_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: tiny, good enough for loss decisions, and the same sequence for the same --seed. */
uint64_t mock_rand(mock *m) {
  uint64_t z;
  pthread_mutex_lock(&m->rng_mu);
  m->rng += 0x9E3779B97F4A7C15ull;
  z = m->rng;
  pthread_mutex_unlock(&m->rng_mu);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool mock_chance(mock *m, double p) {
  if (!(p > 0.0)) return false;
  if (p >= 1.0) return true;
  return (double)(mock_rand(m) >> 11) * 0x1.0p-53 < p;
}

void mock_sleep_ms(mock *m, long ms) {
  struct timespec ts;
  int64_t until;
  if (ms <= 0) return;
  until = mock_now_ms() + ms;
  ts.tv_sec = (time_t)(until / 1000);
  ts.tv_nsec = (long)(until % 1000) * 1000000L;
  pthread_mutex_lock(&m->mu);
  while (!atomic_load(&m->stopping) && mock_now_ms() < until)
    if (pthread_cond_timedwait(&m->stop_cv, &m->mu, &ts) == ETIMEDOUT) break;
  pthread_mutex_unlock(&m->mu);
}

int mock_state_init(mock *m) {
  atomic_init(&m->stopping, false);
  if (pthread_mutex_init(&m->mu, NULL) != 0 || pthread_mutex_init(&m->rng_mu, NULL) != 0 ||
      pthread_cond_init(&m->sched_cv, NULL) != 0 || pthread_cond_init(&m->send_cv, NULL) != 0 ||
      pthread_cond_init(&m->stop_cv, NULL) != 0 || pthread_cond_init(&m->notified_cv, NULL) != 0)
    return -1;
  m->rng = m->cfg.seed;
  /* A seeded random start, so that two runs with different seeds do not hand out the same
   * TMGIs (a client must not assume them), while one seed always gives the same sequence. */
  m->next_service_id = (uint32_t)(mock_rand(m) % 0xFFFFFFu) + 1u;
  m->next_gmd_id = 1;
  return 0;
}

void mock_note_free(mock_note *n) {
  if (!n) return;
  free(n->url);
  free(n->body);
  free(n->transaction);
  free(n);
}

static void gmd_free(mock_gmd *g) {
  lmm_gmd_clear(&g->g);
  free(g);
}

static void tmgi_free(mock_tmgi *t) {
  while (t->gmds) {
    mock_gmd *g = t->gmds;
    t->gmds = g->next;
    if (g->up_fd >= 0) close(g->up_fd);
    gmd_free(g);
  }
  lmm_tmgi_allocation_clear(&t->a);
  free(t->scs_as_id);
  free(t);
}

void mock_state_free(mock *m) {
  while (m->tmgis) {
    mock_tmgi *t = m->tmgis;
    m->tmgis = t->next;
    tmgi_free(t);
  }
  while (m->notes) {
    mock_note *n = m->notes;
    m->notes = n->next;
    mock_note_free(n);
  }
  for (size_t i = 0; i < m->n_up_closing; i++)
    close(m->up_closing[i]);
  free(m->up_closing);
  free(m->unreleased);
  pthread_cond_destroy(&m->sched_cv);
  pthread_cond_destroy(&m->send_cv);
  pthread_cond_destroy(&m->stop_cv);
  pthread_cond_destroy(&m->notified_cv);
  pthread_mutex_destroy(&m->rng_mu);
  pthread_mutex_destroy(&m->mu);
}

char *mock_pct_encode(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = malloc(3 * n + 1), *p = out;
  if (!out) return NULL;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      *p++ = (char)c;
    } else {
      *p++ = '%';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  *p = '\0';
  return out;
}

static bool service_id_used(const mock *m, uint32_t sid) {
  for (const mock_tmgi *t = m->tmgis; t; t = t->next)
    if (t->service_id == sid) return true;
  return false;
}

void mock_tmgi_renew_locked(mock *m, mock_tmgi *t, int64_t now_ms) {
  /* Rounded up so that the TMGI lives at least --tmgi-lifetime and dies exactly at the
   * tmgiExpiration the client was told (DateTime has whole seconds here). */
  int64_t s = (now_ms + m->cfg.tmgi_lifetime_s * 1000 + 999) / 1000;
  t->a.tmgi_expiration = s;
  t->expires_ms = s * 1000;
  mock_persist_save_locked(m); /* every allocation and renewal ends here */
}

mock_tmgi *mock_tmgi_new_locked(mock *m, const char *scs, bool *full) {
  mock_tmgi *t;
  char *enc = NULL;
  uint32_t sid = m->next_service_id;
  uint32_t tries = 0;

  *full = false;
  if (m->n_tmgis >= MOCK_MAX_TMGIS) {
    *full = true;
    return NULL;
  }
  /* Sequential from the seeded start, skipping 000000 and ids still alive. */
  while (sid == 0 || service_id_used(m, sid)) {
    sid = (sid + 1) & 0xFFFFFFu;
    if (++tries > 0xFFFFFFu) {
      *full = true;
      return NULL;
    }
  }
  t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->service_id = sid;
  snprintf(t->tmgi, sizeof t->tmgi, "%06x%s%s", (unsigned)sid, m->cfg.mcc, m->cfg.mnc);
  t->scs_as_id = strdup(scs);
  enc = mock_pct_encode(scs);
  t->a.tmgi = strdup(t->tmgi);
  if (t->scs_as_id && enc && t->a.tmgi) {
    size_t len = strlen(m->base_url) + strlen(enc) + strlen(t->tmgi) + 32;
    t->a.self = malloc(len);
    if (t->a.self) snprintf(t->a.self, len, "%s/%s/tmgi-allocation/%s", m->base_url, enc, t->tmgi);
  }
  free(enc);
  if (!t->scs_as_id || !t->a.self) {
    tmgi_free(t);
    return NULL;
  }
  m->next_service_id = (sid + 1) & 0xFFFFFFu;
  t->next = m->tmgis;
  m->tmgis = t;
  m->n_tmgis++;
  return t;
}

static void unlink_tmgi(mock *m, mock_tmgi *t) {
  for (mock_tmgi **pp = &m->tmgis; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      m->n_tmgis--;
      return;
    }
}

/* What a TMGI's expiry takes from a delivery that has not played: the SCS/AS is told it failed. */
static bool gmd_unplayed(const mock_gmd *g) {
  return g->play == PLAY_PENDING || (g->play == PLAY_NONE && g->up_fd >= 0 && !g->up_forwarded);
}

void mock_tmgi_remove_locked(mock *m, mock_tmgi *t, bool expired) {
  cJSON *o = mlog_begin(expired ? "tmgi_expired" : "tmgi_deleted");
  cJSON_AddStringToObject(o, "tmgi", t->tmgi);
  if (!expired) cJSON_AddStringToObject(o, "scsAsId", t->scs_as_id);
  mlog_emit(&m->log, o);
  unlink_tmgi(m, t);
  while (t->gmds) {
    mock_gmd *g = t->gmds;
    if (expired && gmd_unplayed(g)) mock_notify_delivery_locked(m, g, false);
    mock_gmd_remove_locked(m, t, g);
  }
  tmgi_free(t);
  mock_persist_save_locked(m);
  pthread_cond_broadcast(&m->sched_cv);
}

mock_tmgi *mock_tmgi_find_locked(mock *m, const char *tmgi, int64_t now_ms) {
  for (mock_tmgi *t = m->tmgis; t; t = t->next)
    if (strcmp(t->tmgi, tmgi) == 0) {
      /* The scheduler may not have woken yet: the clock, not the thread, decides. */
      if (now_ms >= t->expires_ms) {
        mock_tmgi_remove_locked(m, t, true);
        return NULL;
      }
      return t;
    }
  return NULL;
}

mock_gmd *mock_gmd_find_locked(mock_tmgi *t, const char *txn) {
  for (mock_gmd *g = t->gmds; g; g = g->next)
    if (strcmp(g->txn, txn) == 0) return g;
  return NULL;
}

mock_gmd *mock_gmd_find_id_locked(mock *m, uint64_t id, mock_tmgi **owner) {
  for (mock_tmgi *t = m->tmgis; t; t = t->next)
    for (mock_gmd *g = t->gmds; g; g = g->next)
      if (g->id == id) {
        if (owner) *owner = t;
        return g;
      }
  return NULL;
}

void mock_gmd_remove_locked(mock *m, mock_tmgi *t, mock_gmd *g) {
  for (mock_gmd **pp = &t->gmds; *pp; pp = &(*pp)->next)
    if (*pp == g) {
      *pp = g->next;
      t->n_gmds--;
      break;
    }
  mock_up_close_locked(m, g);
  gmd_free(g);
  pthread_cond_broadcast(&m->sched_cv);
}

void mock_gmd_txn_locked(mock *m, mock_tmgi *t, char out[20]) {
  do
    snprintf(out, 20, "%016llx", (unsigned long long)mock_rand(m));
  while (mock_gmd_find_locked(t, out));
}

static bool is_held(const mock *m, uint64_t id) {
  for (size_t i = 0; i < m->n_unreleased; i++)
    if (m->unreleased[i] == id) return true;
  return false;
}

void mock_note_push_locked(mock *m, mock_note *n) {
  mock_note **pp = &m->notes;
  n->gate = is_held(m, n->gmd_id) ? n->gmd_id : 0;
  while (*pp)
    pp = &(*pp)->next;
  n->next = NULL;
  *pp = n;
  pthread_cond_broadcast(&m->send_cv);
}

void mock_note_requeue_locked(mock *m, mock_note *n) {
  n->gate = 0; /* it was sent once: its 201 is long gone */
  n->next = m->notes;
  m->notes = n;
  pthread_cond_broadcast(&m->send_cv);
}

static mock_note *note_new(const mock_gmd *g, bool test, bool delivered) {
  mock_note *n = calloc(1, sizeof *n);
  lmm_err rc;
  if (!n) return NULL;
  n->gmd_id = g->id;
  n->test = test;
  n->delivered = delivered;
  n->url = strdup(g->g.notification_destination ? g->g.notification_destination : "");
  n->transaction = strdup(g->g.self ? g->g.self : "");
  rc = test
           ? lmmw_t8_test_notification_encode(n->transaction ? n->transaction : "", &n->body)
           : lmmw_t8_notification_encode(n->transaction ? n->transaction : "", delivered, &n->body);
  if (rc != LMM_OK || !n->url || !n->transaction) {
    mock_note_free(n);
    return NULL;
  }
  return n;
}

void mock_notify_delivery_locked(mock *m, const mock_gmd *g, bool delivered) {
  mock_note *n = note_new(g, false, delivered);
  if (n)
    mock_note_push_locked(m, n);
  else
    mlog_text(&m->log, "out of memory: a notification for %s is lost", g->txn);
}

void mock_notify_test_locked(mock *m, const mock_gmd *g) {
  mock_note *n = note_new(g, true, false);
  if (n)
    mock_note_push_locked(m, n);
  else
    mlog_text(&m->log, "out of memory: a test notification for %s is lost", g->txn);
}

int mock_hold_locked(mock *m, uint64_t id) {
  if (m->n_unreleased == m->cap_unreleased) {
    size_t cap = m->cap_unreleased ? 2 * m->cap_unreleased : 16;
    uint64_t *p = realloc(m->unreleased, cap * sizeof *p);
    if (!p) return -1;
    m->unreleased = p;
    m->cap_unreleased = cap;
  }
  m->unreleased[m->n_unreleased++] = id;
  return 0;
}

void mock_release(mock *m, uint64_t id) {
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n_unreleased; i++)
    if (m->unreleased[i] == id) {
      m->unreleased[i] = m->unreleased[--m->n_unreleased];
      break;
    }
  for (mock_note *n = m->notes; n; n = n->next)
    if (n->gate == id) n->gate = 0;
  pthread_cond_broadcast(&m->send_cv);
  pthread_cond_broadcast(&m->sched_cv);
  pthread_mutex_unlock(&m->mu);
}
