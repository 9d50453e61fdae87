/* notify.c - the scheduler (TMGI expiry, timed plays) and the notification sender (libcurl). */
#include "mock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

/* A play taken out of the state so that the bearer send runs without the lock. */
typedef struct play_job {
  uint64_t gmd_id;
  char tmgi[16];
  uint32_t sid;
  uint8_t *payload;
  size_t len;
  char *self;
} play_job;

static void job_free(play_job *j) {
  if (!j) return;
  free(j->payload);
  free(j->self);
  free(j);
}

static play_job *job_new(const mock_tmgi *t, const mock_gmd *g) {
  play_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->gmd_id = g->id;
  memcpy(j->tmgi, t->tmgi, sizeof j->tmgi);
  j->sid = t->service_id;
  j->len = g->g.payload_len;
  j->payload = malloc(j->len ? j->len : 1);
  j->self = strdup(g->g.self ? g->g.self : "");
  if (!j->payload || !j->self) {
    job_free(j);
    return NULL;
  }
  if (j->len) memcpy(j->payload, g->g.payload, j->len);
  return j;
}

/* One pass over the state: expires what is due, takes at most one due play (marked done), and
 * returns the earliest future deadline in *next (INT64_MAX: none). */
static play_job *sched_pass(mock *m, int64_t now, int64_t *next) {
  mock_tmgi *t, *tn;
  *next = INT64_MAX;
  for (t = m->tmgis; t; t = tn) {
    tn = t->next;
    if (now >= t->expires_ms)
      mock_tmgi_remove_locked(m, t, true);
    else if (t->expires_ms < *next)
      *next = t->expires_ms;
  }
  for (t = m->tmgis; t; t = t->next)
    for (mock_gmd *g = t->gmds; g; g = g->next) {
      if (g->play != PLAY_PENDING || g->test_pending) continue;
      if (now >= g->play_ms) {
        play_job *j = job_new(t, g);
        if (!j) {
          *next = now + 100; /* out of memory: try again shortly */
          return NULL;
        }
        g->play = PLAY_DONE;
        return j;
      }
      if (g->play_ms < *next) *next = g->play_ms;
    }
  return NULL;
}

static void *sched_main(void *arg) {
  mock *m = arg;
  pthread_mutex_lock(&m->mu);
  while (!atomic_load(&m->stopping)) {
    int64_t next;
    play_job *j = sched_pass(m, mock_now_ms(), &next);
    if (j) {
      bool ok;
      pthread_mutex_unlock(&m->mu);
      ok = mock_bearer_send(m, j->tmgi, j->sid, j->payload, j->len, j->self);
      pthread_mutex_lock(&m->mu);
      {
        /* Notify from the delivery as it is now (its destination may have been replaced);
         * if it was deleted meanwhile, nobody is left to tell. */
        mock_gmd *g = mock_gmd_find_id_locked(m, j->gmd_id, NULL);
        if (g) mock_notify_delivery_locked(m, g, ok);
      }
      job_free(j);
      continue;
    }
    if (next == INT64_MAX) {
      pthread_cond_wait(&m->sched_cv, &m->mu);
    } else {
      struct timespec ts;
      ts.tv_sec = (time_t)(next / 1000);
      ts.tv_nsec = (long)(next % 1000) * 1000000L;
      pthread_cond_timedwait(&m->sched_cv, &m->mu, &ts);
    }
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

/* ------------------------------------------------------------------ sender */

/* What one POST of a notification ended with. */
typedef struct attempt {
  long status;         /* HTTP status; 0 when no answer came */
  long retry_after_ms; /* from a Retry-After of delay-seconds; -1 when none */
  char err[CURL_ERROR_SIZE];
} attempt;

static size_t discard(char *p, size_t size, size_t n, void *user) {
  (void)p;
  (void)user;
  return size * n;
}

/* Keeps Retry-After (delay-seconds form only: the HTTP-date form is not worth a mock's while). */
static size_t on_header(char *p, size_t size, size_t n, void *user) {
  attempt *a = user;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
    char buf[32];
    size_t vl = len - (sizeof name - 1);
    char *end;
    long v;
    if (vl >= sizeof buf) vl = sizeof buf - 1;
    memcpy(buf, p + sizeof name - 1, vl);
    buf[vl] = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    while (*end == ' ' || *end == '\r' || *end == '\n')
      end++;
    if (errno == 0 && end != buf && *end == '\0' && v >= 0)
      a->retry_after_ms = v > MOCK_NOTIFY_MAX_WAIT_MS / 1000 ? MOCK_NOTIFY_MAX_WAIT_MS : v * 1000;
  }
  return len;
}

/* Aborts a transfer in flight when the mock shuts down, so SIGTERM never waits 5 s. */
static int xfer_check(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  mock *m = user;
  (void)dt;
  (void)dn;
  (void)ut;
  (void)un;
  return atomic_load(&m->stopping) ? 1 : 0;
}

static void post_note(mock *m, CURL *h, const mock_note *n, attempt *a) {
  struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
  struct curl_slist *h2 = hd ? curl_slist_append(hd, "Expect:") : NULL;
  CURLcode rc;
  a->status = 0;
  a->retry_after_ms = -1;
  a->err[0] = '\0';
  if (!h2) {
    curl_slist_free_all(hd);
    snprintf(a->err, sizeof a->err, "out of memory");
    return;
  }
  hd = h2;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, n->url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, n->body);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(n->body));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "t8-mock");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, MOCK_NOTIFY_CONNECT_MS);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, MOCK_NOTIFY_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  /* The SCS/AS is reached directly: a proxy from the environment would only get in the way of
   * loopback tests. */
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->err);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_check);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, m);
  rc = curl_easy_perform(h);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    a->err[0] = '\0';
  } else if (!a->err[0]) {
    snprintf(a->err, sizeof a->err, "%s", curl_easy_strerror(rc));
  }
  curl_slist_free_all(hd);
}

/* Whether a real SCEF would try again: no answer at all (refused, reset, timeout), 408, 429 and
 * 5xx say "not now". Every other answer is final: 2xx is delivered, and a 3xx (redirects are
 * not followed) or any other 4xx (400, 404, 410, 413, 415...) would come back the same. */
static bool retryable(long status) {
  return status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/* The wait before retry number `attempts` (1 for the first retry): --notify-backoff-ms, doubled
 * per retry, lengthened to a Retry-After, at most MOCK_NOTIFY_MAX_WAIT_MS. No jitter: runs with
 * one seed stay the same. */
static long retry_wait_ms(const mock *m, int attempts, long retry_after_ms) {
  long w = m->cfg.notify_backoff_ms;
  for (int i = 1; i < attempts && w < MOCK_NOTIFY_MAX_WAIT_MS; i++)
    w *= 2;
  if (retry_after_ms > w) w = retry_after_ms;
  return w > MOCK_NOTIFY_MAX_WAIT_MS ? MOCK_NOTIFY_MAX_WAIT_MS : w;
}

static bool waiting_before(const mock_note *head, const mock_note *stop, uint64_t gmd_id,
                           int64_t now) {
  for (const mock_note *p = head; p != stop; p = p->next)
    if (p->gmd_id == gmd_id && (p->gate != 0 || p->not_before > now)) return true;
  return false;
}

/* The first notification that may go now: not held for its 201, not waiting to be retried,
 * and not behind an earlier one of its delivery that is (a delivery's notifications keep their
 * order). `*next` gets the earliest retry time still ahead (INT64_MAX: none). */
static mock_note *take_ready_locked(mock *m, int64_t now, int64_t *next) {
  *next = INT64_MAX;
  for (mock_note **pp = &m->notes; *pp; pp = &(*pp)->next) {
    mock_note *n = *pp;
    if (n->gate != 0) continue;
    if (n->not_before > now) {
      if (n->not_before < *next) *next = n->not_before;
      continue;
    }
    if (waiting_before(m->notes, n, n->gmd_id, now)) continue;
    *pp = n->next;
    return n;
  }
  return NULL;
}

static void log_attempt(mock *m, const mock_note *n, bool lost, const attempt *a, long retry_in) {
  cJSON *o = mlog_begin("notify");
  cJSON_AddStringToObject(o, "kind", n->test ? "test" : "delivery");
  cJSON_AddStringToObject(o, "url", n->url);
  cJSON_AddStringToObject(o, "transaction", n->transaction);
  if (n->test)
    cJSON_AddNullToObject(o, "delivered");
  else
    cJSON_AddBoolToObject(o, "delivered", n->delivered);
  if (a->status)
    cJSON_AddNumberToObject(o, "status", (double)a->status);
  else
    cJSON_AddNullToObject(o, "status");
  cJSON_AddBoolToObject(o, "lost", lost);
  mlog_str(o, "error", a->err[0] ? a->err : NULL);
  cJSON_AddNumberToObject(o, "attempt", n->attempts);
  if (retry_in >= 0)
    cJSON_AddNumberToObject(o, "retryInMs", (double)retry_in);
  else
    cJSON_AddNullToObject(o, "retryInMs");
  mlog_emit(&m->log, o);
}

/* A notification is done for good (delivered, refused, given up, or lost): what waited for it
 * may go on. Lock held. */
static void note_done_locked(mock *m, const mock_note *n) {
  mock_gmd *g = mock_gmd_find_id_locked(m, n->gmd_id, NULL);
  if (!g) return;
  if (n->test) {
    g->test_pending = false; /* the play waited for this TestNotification */
    pthread_cond_broadcast(&m->sched_cv);
  } else {
    g->notified = true; /* a 201 held by --create-reply-delay-ms waited for this */
    pthread_cond_broadcast(&m->notified_cv);
  }
}

static void *send_main(void *arg) {
  mock *m = arg;
  CURL *h = curl_easy_init();
  attempt a;

  pthread_mutex_lock(&m->mu);
  while (!atomic_load(&m->stopping)) {
    int64_t next;
    mock_note *n = take_ready_locked(m, mock_now_ms(), &next);
    bool lost = false;
    long retry_in = -1;
    if (!n) {
      if (next == INT64_MAX) {
        pthread_cond_wait(&m->send_cv, &m->mu);
      } else {
        struct timespec ts;
        ts.tv_sec = (time_t)(next / 1000);
        ts.tv_nsec = (long)(next % 1000) * 1000000L;
        pthread_cond_timedwait(&m->send_cv, &m->mu, &ts);
      }
      continue;
    }
    pthread_mutex_unlock(&m->mu);

    /* Lost is decided once: the SCEF believes it sent the notification, so it never retries. */
    if (n->attempts == 0) lost = mock_chance(m, m->cfg.notify_loss);
    a.status = 0;
    a.retry_after_ms = -1;
    a.err[0] = '\0';
    if (!lost) {
      if (h)
        post_note(m, h, n, &a);
      else
        snprintf(a.err, sizeof a.err, "out of memory");
    }
    n->attempts++;
    if (!lost && !atomic_load(&m->stopping) && retryable(a.status) &&
        n->attempts <= m->cfg.notify_retries)
      retry_in = retry_wait_ms(m, n->attempts, a.retry_after_ms);
    log_attempt(m, n, lost, &a, retry_in);

    pthread_mutex_lock(&m->mu);
    if (retry_in >= 0) {
      n->not_before = mock_now_ms() + retry_in;
      mock_note_requeue_locked(m, n);
      continue;
    }
    note_done_locked(m, n);
    mock_note_free(n);
  }
  pthread_mutex_unlock(&m->mu);
  curl_easy_cleanup(h);
  return NULL;
}

int mock_sched_start(mock *m) {
  if (pthread_create(&m->sched_th, NULL, sched_main, m) != 0) return -1;
  m->sched_started = true;
  if (pthread_create(&m->send_th, NULL, send_main, m) != 0) return -1;
  m->send_started = true;
  return 0;
}

void mock_sched_join(mock *m) {
  pthread_mutex_lock(&m->mu);
  pthread_cond_broadcast(&m->sched_cv);
  pthread_cond_broadcast(&m->send_cv);
  pthread_mutex_unlock(&m->mu);
  if (m->sched_started) pthread_join(m->sched_th, NULL);
  if (m->send_started) pthread_join(m->send_th, NULL);
  m->sched_started = m->send_started = false;
}
