/* http_tmgi.c - the TMGI Allocation resources: list, allocate, read, renew, release. */
#include "http.h"

#include <stdlib.h>
#include <string.h>

/* Finds the TMGI of the request for its scsAsId; sends 404/403 and returns NULL otherwise. */
mock_tmgi *http_lookup_tmgi(mock *m, req *q, int *status, const char **cause, const char **detail) {
  mock_tmgi *t = mock_tmgi_find_locked(m, q->tmgi, mock_now_ms());
  if (!t) {
    *status = 404;
    *cause = "TMGI_NOT_FOUND";
    *detail = "unknown or expired TMGI";
    return NULL;
  }
  if (strcmp(t->scs_as_id, q->scs) != 0) {
    *status = 403;
    *cause = "REQUEST_NOT_AUTHORIZED";
    *detail = "the TMGI belongs to another scsAsId";
    return NULL;
  }
  return t;
}

static void log_tmgi(mock *m, const char *event, const mock_tmgi *t) {
  char exp[40] = "";
  cJSON *o = mlog_begin(event);
  cJSON_AddStringToObject(o, "tmgi", t->tmgi);
  cJSON_AddStringToObject(o, "scsAsId", t->scs_as_id);
  mlog_str(o, "externalGroupId", t->a.external_group_id);
  mlog_ts(t->expires_ms, exp, sizeof exp);
  cJSON_AddStringToObject(o, "expires", exp);
  mlog_emit(&m->log, o);
}

enum MHD_Result http_tmgi_list(mock *m, req *q, struct MHD_Connection *c) {
  lmm_tmgi_allocation *arr = NULL;
  size_t n = 0;
  char *json = NULL;
  lmm_err rc = LMM_OK;
  int64_t now = mock_now_ms();
  mock_tmgi *t, *tn;

  pthread_mutex_lock(&m->mu);
  for (t = m->tmgis; t; t = tn) {
    tn = t->next;
    if (now >= t->expires_ms) mock_tmgi_remove_locked(m, t, true);
  }
  arr = calloc(m->n_tmgis ? m->n_tmgis : 1, sizeof *arr);
  if (arr) {
    for (t = m->tmgis; t; t = t->next)
      if (strcmp(t->scs_as_id, q->scs) == 0) arr[n++] = t->a; /* shallow: the encoder only reads */
    rc = lmmw_t8_tmgi_allocation_list_encode(arr, n, &json);
  }
  pthread_mutex_unlock(&m->mu);
  free(arr);
  if (!arr || rc != LMM_OK) return http_send_nomem(q, c);
  return http_send_json(q, c, 200, json, NULL);
}

enum MHD_Result http_tmgi_create(mock *m, req *q, struct MHD_Connection *c) {
  lmm_tmgi_allocation in;
  lmmw_t8_err je;
  mock_tmgi *t;
  bool full = false;
  char *json = NULL, *loc = NULL;
  lmm_err rc = lmmw_t8_tmgi_allocation_decode(q->body ? q->body : "", q->len,
                                              LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE, &in, &je);
  if (rc != LMM_OK) return http_bad_body(q, c, rc, &je);

  pthread_mutex_lock(&m->mu);
  t = mock_tmgi_new_locked(m, q->scs, &full);
  if (t) {
    t->a.external_group_id = in.external_group_id;
    t->a.mbms_loc_area = in.mbms_loc_area;
    in.external_group_id = NULL;
    in.mbms_loc_area = NULL;
    /* The mock implements no optional feature: the common subset is empty. */
    if (in.supported_features) t->a.supported_features = strdup("0");
    mock_tmgi_renew_locked(m, t, mock_now_ms());
    rc = lmmw_t8_tmgi_allocation_encode(&t->a, 0, &json);
    loc = strdup(t->a.self);
    if (rc != LMM_OK || !loc) {
      mock_tmgi_remove_locked(m, t, false);
      t = NULL;
    } else {
      log_tmgi(m, "tmgi_allocated", t);
      pthread_cond_broadcast(&m->sched_cv);
    }
  }
  pthread_mutex_unlock(&m->mu);
  lmm_tmgi_allocation_clear(&in);
  if (!t) {
    free(json);
    free(loc);
    if (full)
      return http_send_problem(q, c, 503, "TMGI_ALLOCATION_FAILED", "no free TMGI", NULL, NULL);
    return http_send_nomem(q, c);
  }
  {
    enum MHD_Result ret = http_send_json(q, c, 201, json, loc);
    free(loc);
    return ret;
  }
}

enum MHD_Result http_tmgi_one(mock *m, req *q, struct MHD_Connection *c) {
  lmm_tmgi_allocation in;
  unsigned present = 0;
  lmmw_t8_err je;
  mock_tmgi *t;
  lmm_err rc = LMM_OK;
  char *json = NULL;
  int status = 0;
  const char *cause = NULL, *detail = NULL;

  memset(&in, 0, sizeof in);
  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  pthread_mutex_unlock(&m->mu);
  if (!t) return http_send_problem(q, c, status, cause, detail, NULL, NULL);

  if (q->meth == M_PUT)
    rc = lmmw_t8_tmgi_allocation_decode(q->body ? q->body : "", q->len,
                                        LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE, &in, &je);
  else if (q->meth == M_PATCH)
    rc = lmmw_t8_tmgi_patch_decode(q->body ? q->body : "", q->len, &in, &present, &je);
  if (rc != LMM_OK) return http_bad_body(q, c, rc, &je);

  /* Looked up again: the TMGI may have gone while the body was decoded without the lock. */
  pthread_mutex_lock(&m->mu);
  t = http_lookup_tmgi(m, q, &status, &cause, &detail);
  if (t) {
    switch (q->meth) {
    case M_DELETE:
      mock_tmgi_remove_locked(m, t, false);
      break;
    case M_PUT:
      /* PUT replaces the writable members: absent ones are removed. */
      free(t->a.external_group_id);
      lmm_mbms_loc_area_free(t->a.mbms_loc_area);
      t->a.external_group_id = in.external_group_id;
      t->a.mbms_loc_area = in.mbms_loc_area;
      in.external_group_id = NULL;
      in.mbms_loc_area = NULL;
      mock_tmgi_renew_locked(m, t, mock_now_ms());
      log_tmgi(m, "tmgi_renewed", t);
      break;
    case M_PATCH:
      if (present & 1u) {
        free(t->a.external_group_id);
        t->a.external_group_id = in.external_group_id;
        in.external_group_id = NULL;
      }
      if (present & 2u) {
        lmm_mbms_loc_area_free(t->a.mbms_loc_area);
        t->a.mbms_loc_area = in.mbms_loc_area;
        in.mbms_loc_area = NULL;
      }
      mock_tmgi_renew_locked(m, t, mock_now_ms());
      log_tmgi(m, "tmgi_renewed", t);
      break;
    default:
      break;
    }
    if (q->meth != M_DELETE) rc = lmmw_t8_tmgi_allocation_encode(&t->a, 0, &json);
    pthread_cond_broadcast(&m->sched_cv);
  }
  pthread_mutex_unlock(&m->mu);
  lmm_tmgi_allocation_clear(&in);
  if (!t) return http_send_problem(q, c, status, cause, detail, NULL, NULL);
  if (q->meth == M_DELETE) return http_send(q, c, 204, http_response(NULL, NULL));
  if (rc != LMM_OK) return http_send_nomem(q, c);
  return http_send_json(q, c, 200, json, NULL);
}
