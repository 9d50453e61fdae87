/* http_gmd.c - the GMD via MBMS by MB2 resources: deliveries of a TMGI, created, read,
 * replaced, patched and deleted, and the plays they schedule. */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

static void log_gmd(mock *m, const char *event, const mock_tmgi *t, const mock_gmd *g) {
  cJSON *o = mlog_begin(event);
  mlog_str(o, "transaction", g->g.self);
  cJSON_AddStringToObject(o, "tmgi", t->tmgi);
  if (g->g.has_payload)
    cJSON_AddNumberToObject(o, "bytes", (double)g->g.payload_len);
  else
    cJSON_AddNullToObject(o, "bytes");
  if (g->play == PLAY_PENDING) {
    char at[40];
    mlog_ts(g->play_ms, at, sizeof at);
    cJSON_AddStringToObject(o, "playAt", at);
  } else {
    cJSON_AddNullToObject(o, "playAt");
  }
  if (g->up_fd >= 0) cJSON_AddNumberToObject(o, "userPlanePort", g->up_port);
  mlog_emit(&m->log, o);
}

/* Checks what the codec cannot know: a usable callback URL and a payload that fits one
 * bearer datagram. Returns false after sending the 400. */
static bool gmd_members_ok(mock *m, req *q, struct MHD_Connection *c, const lmm_gmd *g,
                           bool check_dest, enum MHD_Result *ret) {
  if (check_dest) {
    bool ok = false;
    CURLU *u = curl_url();
    char *scheme = NULL;
    if (u && g->notification_destination &&
        curl_url_set(u, CURLUPART_URL, g->notification_destination, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
      ok = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    if (!ok) {
      *ret =
          http_send_problem(q, c, 400, "INVALID_PARAMETER", "notificationDestination is not usable",
                            "/notificationDestination", "must be an absolute http or https URL");
      return false;
    }
  }
  if (g->has_payload && g->payload_len > m->cfg.max_datagram) {
    char why[96];
    snprintf(why, sizeof why, "larger than one bearer datagram (%zu bytes)", m->cfg.max_datagram);
    *ret = http_send_problem(q, c, 400, "INVALID_PARAMETER", why, "/groupMessagePayload", why);
    return false;
  }
  return true;
}

/* Decides what plays next after a delivery's members changed (see docs/t8-mock.md): a payload
 * not yet played is (re)scheduled at the current start time; a played one plays again only when
 * the payload itself changed. */
static void gmd_schedule(mock_gmd *g, bool payload_changed, int64_t now) {
  int64_t at = g->g.message_delivery_start_time * 1000;
  if (!g->g.has_payload) {
    g->play = PLAY_NONE;
    return;
  }
  if (g->play == PLAY_DONE && !payload_changed) return;
  g->play = PLAY_PENDING;
  g->play_ms = (g->g.message_delivery_start_time > 0 && at > now) ? at : now;
}

static bool payload_differs(const lmm_gmd *a, const lmm_gmd *b) {
  if (a->has_payload != b->has_payload) return true;
  if (!a->has_payload) return false;
  return a->payload_len != b->payload_len ||
         (a->payload_len && memcmp(a->payload, b->payload, a->payload_len) != 0);
}

enum MHD_Result http_gmd_list(mock *m, req *q, struct MHD_Connection *c) {
  int status = 0;
  const char *cause = NULL, *detail = NULL;
  lmm_gmd *arr = NULL;
  size_t n = 0;
  char *json = NULL;
  lmm_err rc = LMM_ERR_NOMEM;
  mock_tmgi *t;

  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  if (t) {
    arr = calloc(t->n_gmds ? t->n_gmds : 1, sizeof *arr);
    if (arr) {
      for (mock_gmd *g = t->gmds; g; g = g->next)
        arr[n++] = g->g; /* shallow: the encoder only reads */
      rc = lmmw_t8_gmd_list_encode(arr, n, &json);
    }
  }
  pthread_mutex_unlock(&m->mu);
  free(arr);
  if (!t) return http_send_problem(q, c, status, cause, detail, NULL, NULL);
  if (rc != LMM_OK) return http_send_nomem(q, c);
  return http_send_json(q, c, 200, json, NULL);
}

/* A new delivery of t from the decoded body (whose members it takes); NULL on NOMEM or when no
 * MB2-U port can be opened (`*up_failed`). Not yet linked into t. */
static mock_gmd *gmd_new_locked(mock *m, mock_tmgi *t, lmm_gmd *in, bool *up_failed) {
  mock_gmd *g = calloc(1, sizeof *g);
  size_t len = strlen(t->a.self) + 64;
  if (!g) return NULL;
  g->up_fd = -1;
  g->id = m->next_gmd_id++;
  mock_gmd_txn_locked(m, t, g->txn);
  g->g = *in;
  memset(in, 0, sizeof *in);
  free(g->g.self);
  free(g->g.transaction_id);
  g->g.transaction_id = strdup(g->txn);
  g->g.self = malloc(len);
  g->g.scef_port = -1;
  if (g->g.self) snprintf(g->g.self, len, "%s/delivery-via-mbms/%s", t->a.self, g->txn);
  if (!g->g.self || !g->g.transaction_id) goto fail;
  /* Without a payload the SCS/AS needs an MB2-U port: no port, no delivery. */
  if (!g->g.has_payload && mock_up_open_locked(m, g) != 0) {
    *up_failed = true;
    goto fail;
  }
  return g;
fail:
  lmm_gmd_clear(&g->g);
  free(g);
  return NULL;
}

/* --create-reply-delay-ms: the 201 of a delivery that plays at once waits until its
 * GMDByMb2Notification is done (bounded by MOCK_REPLY_WAIT_MAX_MS), then the delay. This
 * connection has a thread of its own, so only this answer waits. */
static void hold_reply(mock *m, uint64_t id, bool plays_now) {
  if (plays_now) {
    int64_t until = mock_now_ms() + MOCK_REPLY_WAIT_MAX_MS;
    struct timespec ts;
    ts.tv_sec = (time_t)(until / 1000);
    ts.tv_nsec = (long)(until % 1000) * 1000000L;
    pthread_mutex_lock(&m->mu);
    while (!atomic_load(&m->stopping)) {
      mock_gmd *g = mock_gmd_find_id_locked(m, id, NULL);
      if (!g || g->notified) break; /* deleted meanwhile: nothing left to wait for */
      if (pthread_cond_timedwait(&m->notified_cv, &m->mu, &ts) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&m->mu);
  }
  mock_sleep_ms(m, m->cfg.create_reply_delay_ms);
}

enum MHD_Result http_gmd_create(mock *m, req *q, struct MHD_Connection *c) {
  lmm_gmd in;
  lmmw_t8_err je;
  enum MHD_Result ret;
  int status = 0;
  const char *cause = NULL, *detail = NULL;
  mock_tmgi *t;
  mock_gmd *g = NULL;
  char *json = NULL, *loc = NULL;
  bool up_failed = false, too_many = false, plays_now = false;
  bool delay = m->cfg.create_reply_delay_ms > 0;
  uint64_t id = 0;
  lmm_err rc;

  /* A missing resource is reported before a malformed body. */
  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  pthread_mutex_unlock(&m->mu);
  if (!t) return http_send_problem(q, c, status, cause, detail, NULL, NULL);
  rc = lmmw_t8_gmd_decode(q->body ? q->body : "", q->len, LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE, &in,
                          &je);
  if (rc != LMM_OK) return http_bad_body(q, c, rc, &je);
  if (!gmd_members_ok(m, q, c, &in, true, &ret)) {
    lmm_gmd_clear(&in);
    return ret;
  }

  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  if (t && t->n_gmds >= MOCK_MAX_GMDS)
    too_many = true;
  else if (t && (g = gmd_new_locked(m, t, &in, &up_failed)) != NULL) {
    gmd_schedule(g, true, mock_now_ms());
    g->next = t->gmds;
    t->gmds = g;
    t->n_gmds++;
    rc = lmmw_t8_gmd_encode(&g->g, 0, &json);
    loc = strdup(g->g.self);
    /* Normally the notifications wait for the 201; a delayed 201 waits for them instead. */
    if (rc != LMM_OK || !loc || (!delay && mock_hold_locked(m, g->id) != 0)) {
      mock_gmd_remove_locked(m, t, g);
      g = NULL;
    } else {
      if (!delay) q->release_id = g->id;
      id = g->id;
      plays_now = g->play == PLAY_PENDING && g->play_ms <= mock_now_ms();
      log_gmd(m, "delivery_created", t, g);
      /* Queued now but held until the 201 is sent; the play waits for it. */
      if (g->g.has_request_test_notification && g->g.request_test_notification) {
        g->test_pending = true;
        mock_notify_test_locked(m, g);
      }
      pthread_cond_broadcast(&m->sched_cv);
    }
  }
  pthread_mutex_unlock(&m->mu);
  lmm_gmd_clear(&in);
  if (!t) return http_send_problem(q, c, status, cause, detail, NULL, NULL);
  if (too_many)
    return http_send_problem(q, c, 503, "SYSTEM_FAILURE", "too many deliveries on this TMGI", NULL,
                             NULL);
  if (up_failed)
    return http_send_problem(q, c, 503, "SYSTEM_FAILURE", "cannot open a user-plane port", NULL,
                             NULL);
  if (!g) {
    free(json);
    free(loc);
    return http_send_nomem(q, c);
  }
  if (delay) hold_reply(m, id, plays_now);
  ret = http_send_json(q, c, 201, json, loc);
  free(loc);
  return ret;
}

/* PUT: replaces the writable members; the SCEF keeps self and the MB2-U address. Takes `in`'s
 * members. Returns whether the payload changed. */
static bool gmd_put_locked(mock_gmd *g, lmm_gmd *in) {
  lmm_gmd old = g->g;
  bool changed = payload_differs(&old, in);
  free(in->self);
  free(in->transaction_id);
  free(in->scef_ipv4);
  free(in->scef_ipv6);
  in->self = old.self;
  in->transaction_id = old.transaction_id;
  in->scef_ipv4 = old.scef_ipv4;
  in->scef_ipv6 = old.scef_ipv6;
  in->scef_port = old.scef_port;
  old.self = old.transaction_id = old.scef_ipv4 = old.scef_ipv6 = NULL;
  g->g = *in;
  memset(in, 0, sizeof *in);
  lmm_gmd_clear(&old);
  return changed;
}

/* PATCH (RFC 7396): the members present replace (or, when null, remove) the stored ones. Takes
 * them from `in`. Returns whether the payload changed. */
static bool gmd_patch_locked(mock_gmd *g, lmm_gmd *in, unsigned present) {
  bool changed = false;
  if (present & LMMW_T8_GP_EXTERNAL_GROUP_ID) {
    free(g->g.external_group_id);
    g->g.external_group_id = in->external_group_id;
    in->external_group_id = NULL;
  }
  if (present & LMMW_T8_GP_MBMS_LOC_AREA) {
    lmm_mbms_loc_area_free(g->g.mbms_loc_area);
    g->g.mbms_loc_area = in->mbms_loc_area;
    in->mbms_loc_area = NULL;
  }
  if (present & LMMW_T8_GP_START_TIME)
    g->g.message_delivery_start_time = in->message_delivery_start_time;
  if (present & LMMW_T8_GP_PAYLOAD) {
    changed = payload_differs(&g->g, in);
    free(g->g.payload);
    g->g.has_payload = in->has_payload;
    g->g.payload = in->payload;
    g->g.payload_len = in->payload_len;
    in->payload = NULL;
    in->has_payload = false;
  }
  if (present & LMMW_T8_GP_NOTIFICATION_DESTINATION) {
    free(g->g.notification_destination);
    g->g.notification_destination = in->notification_destination;
    in->notification_destination = NULL;
  }
  return changed;
}

enum MHD_Result http_gmd_one(mock *m, req *q, struct MHD_Connection *c) {
  lmm_gmd in;
  unsigned present = 0;
  lmmw_t8_err je;
  enum MHD_Result ret;
  int status = 0;
  const char *cause = NULL, *detail = NULL;
  mock_tmgi *t;
  mock_gmd *g = NULL;
  char *json = NULL;
  lmm_err rc = LMM_OK;
  bool up_failed = false;

  memset(&in, 0, sizeof in);
  memset(&je, 0, sizeof je);
  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  if (t && !mock_gmd_find_locked(t, q->txn)) {
    t = NULL;
    status = 404;
    cause = "TRANSACTION_NOT_FOUND";
    detail = "unknown transaction";
  }
  pthread_mutex_unlock(&m->mu);
  /* A missing resource is reported before a malformed body. */
  if (!t) return http_send_problem(q, c, status, cause, detail, NULL, NULL);

  if (q->meth == M_PUT) {
    rc = lmmw_t8_gmd_decode(q->body ? q->body : "", q->len, LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE,
                            &in, &je);
    if (rc != LMM_OK) return http_bad_body(q, c, rc, &je);
    if (!gmd_members_ok(m, q, c, &in, true, &ret)) {
      lmm_gmd_clear(&in);
      return ret;
    }
  } else if (q->meth == M_PATCH) {
    rc = lmmw_t8_gmd_patch_decode(q->body ? q->body : "", q->len, &in, &present, &je);
    if (rc != LMM_OK) return http_bad_body(q, c, rc, &je);
    if ((present & LMMW_T8_GP_NOTIFICATION_DESTINATION) && !in.notification_destination) {
      lmm_gmd_clear(&in);
      return http_send_problem(q, c, 400, "INVALID_PARAMETER",
                               "notificationDestination is required", "/notificationDestination",
                               "cannot be removed");
    }
    if (!gmd_members_ok(m, q, c, &in, (present & LMMW_T8_GP_NOTIFICATION_DESTINATION) != 0, &ret)) {
      lmm_gmd_clear(&in);
      return ret;
    }
  }

  /* Looked up again: it may have gone while the body was decoded without the lock. */
  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  if (t) {
    g = mock_gmd_find_locked(t, q->txn);
    if (!g) {
      status = 404;
      cause = "TRANSACTION_NOT_FOUND";
      detail = "unknown transaction";
    }
  }
  if (g) {
    bool changed;
    switch (q->meth) {
    case M_DELETE:
      log_gmd(m, "delivery_deleted", t, g);
      mock_gmd_remove_locked(m, t, g);
      break;
    case M_PUT:
    case M_PATCH:
      changed = q->meth == M_PUT ? gmd_put_locked(g, &in) : gmd_patch_locked(g, &in, present);
      /* A delivery left without a payload gets an MB2-U port, as at creation. */
      if (!g->g.has_payload && g->up_fd < 0 && mock_up_open_locked(m, g) != 0) up_failed = true;
      gmd_schedule(g, changed, mock_now_ms());
      log_gmd(m, "delivery_updated", t, g);
      pthread_cond_broadcast(&m->sched_cv);
      rc = lmmw_t8_gmd_encode(&g->g, 0, &json);
      break;
    default:
      rc = lmmw_t8_gmd_encode(&g->g, 0, &json);
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  lmm_gmd_clear(&in);
  if (!g) return http_send_problem(q, c, status, cause, detail, NULL, NULL);
  if (q->meth == M_DELETE) return http_send(q, c, 204, http_response(NULL, NULL));
  if (up_failed) mlog_text(&m->log, "cannot open a user-plane port for %s", q->txn);
  if (rc != LMM_OK) return http_send_nomem(q, c);
  return http_send_json(q, c, 200, json, NULL);
}
