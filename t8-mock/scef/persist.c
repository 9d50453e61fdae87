/* persist.c - --state-file: the TMGI allocations kept across a restart, as a real SCEF keeps
 * them, so that a test can kill the mock (SIGKILL) and start it again on the same port while a
 * client retries: the TMGIs it had handed out are still known. Deliveries are not kept: one
 * in flight when the SCEF dies is lost, as a real SCEF's would be. */
#include "mock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"

/* Written whole at every change (allocation, renewal, release, expiry) to FILE.tmp and renamed:
 * a mock killed at any moment leaves the old state or the new one, never half of either. No
 * fsync: the point is surviving the process, not the machine. */
void mock_persist_save_locked(mock *m) {
  if (!m->cfg.state_file || m->restoring) return;
  cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "tmgis");
  cJSON_AddNumberToObject(root, "nextServiceId", m->next_service_id);
  bool ok = root && arr;
  for (const mock_tmgi *t = m->tmgis; ok && t; t = t->next) {
    char *json = NULL;
    cJSON *e = cJSON_CreateObject(), *a = NULL;
    if (lmmw_t8_tmgi_allocation_encode(&t->a, 0, &json) == LMM_OK) a = cJSON_Parse(json);
    free(json);
    ok = e && a && cJSON_AddStringToObject(e, "scsAsId", t->scs_as_id) &&
         cJSON_AddStringToObject(e, "tmgi", t->tmgi) &&
         cJSON_AddNumberToObject(e, "serviceId", t->service_id);
    if (ok) cJSON_AddItemToObject(e, "allocation", a), a = NULL;
    cJSON_Delete(a);
    if (e) cJSON_AddItemToArray(arr, e);
  }
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  char tmp[1024];
  FILE *f = NULL;
  ok = text && snprintf(tmp, sizeof tmp, "%s.tmp", m->cfg.state_file) < (int)sizeof tmp &&
       (f = fopen(tmp, "w")) != NULL;
  ok = ok && fputs(text, f) >= 0;
  if (f && fclose(f) != 0) ok = false;
  if (ok && rename(tmp, m->cfg.state_file) != 0) ok = false;
  if (!ok)
    fprintf(stderr, "t8-mock: cannot write state file '%s': %s\n", m->cfg.state_file,
            strerror(errno));
  free(text);
}

/* One saved TMGI back, under its old TMGI: the service id is taken again through the
 * allocator (so the same MCC and MNC give the same TMGI), then what was allocated. */
static int restore_one(mock *m, const cJSON *e) {
  const cJSON *scs = cJSON_GetObjectItem(e, "scsAsId"), *tm = cJSON_GetObjectItem(e, "tmgi");
  const cJSON *sid = cJSON_GetObjectItem(e, "serviceId"),
              *al = cJSON_GetObjectItem(e, "allocation");
  if (!cJSON_IsString(scs) || !cJSON_IsString(tm) || !cJSON_IsNumber(sid) || !cJSON_IsObject(al) ||
      sid->valuedouble < 1 || sid->valuedouble > 0xFFFFFF)
    return -1;
  char *json = cJSON_PrintUnformatted(al);
  lmm_tmgi_allocation a;
  lmmw_t8_err je;
  lmm_err rc =
      json ? lmmw_t8_tmgi_allocation_decode(json, strlen(json), 0, &a, &je) : LMM_ERR_NOMEM;
  free(json);
  if (rc != LMM_OK) return -1;
  bool full = false;
  m->next_service_id = (uint32_t)sid->valuedouble;
  mock_tmgi *t = a.tmgi_expiration * 1000 > mock_now_ms()
                     ? mock_tmgi_new_locked(m, scs->valuestring, &full)
                     : NULL;
  int r = 0;
  if (!t) {
    r = a.tmgi_expiration * 1000 > mock_now_ms() ? -1 : 0; /* expired meanwhile: gone */
  } else if (strcmp(t->tmgi, tm->valuestring) != 0) {
    fprintf(stderr, "t8-mock: state file: TMGI %s does not match --mcc/--mnc: dropped\n",
            tm->valuestring);
    mock_tmgi_remove_locked(m, t, false);
  } else {
    t->a.external_group_id = a.external_group_id, a.external_group_id = NULL;
    t->a.mbms_loc_area = a.mbms_loc_area, a.mbms_loc_area = NULL;
    t->a.supported_features = a.supported_features, a.supported_features = NULL;
    t->a.tmgi_expiration = a.tmgi_expiration;
    t->expires_ms = a.tmgi_expiration * 1000;
    cJSON *o = mlog_begin("tmgi_restored");
    cJSON_AddStringToObject(o, "tmgi", t->tmgi);
    cJSON_AddStringToObject(o, "scsAsId", t->scs_as_id);
    mlog_emit(&m->log, o);
  }
  lmm_tmgi_allocation_clear(&a);
  return r;
}

int mock_persist_load(mock *m) {
  if (!m->cfg.state_file) return 0;
  FILE *f = fopen(m->cfg.state_file, "r");
  if (!f) return errno == ENOENT ? 0 : -1; /* a first start */
  char *text = NULL;
  size_t len = 0, cap = 0, got;
  char buf[4096];
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    if (len + got + 1 > cap) {
      char *n = realloc(text, cap = (len + got + 1) * 2);
      if (!n) break;
      text = n;
    }
    memcpy(text + len, buf, got), len += got;
  }
  fclose(f);
  if (!text) return len ? -1 : 0;
  text[len] = '\0';
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *arr = cJSON_GetObjectItem(root, "tmgis");
  const cJSON *next = cJSON_GetObjectItem(root, "nextServiceId");
  int rc = cJSON_IsArray(arr) && cJSON_IsNumber(next) ? 0 : -1;
  pthread_mutex_lock(&m->mu);
  m->restoring = true;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (rc == 0 && restore_one(m, e) != 0) rc = -1;
  }
  if (rc == 0) m->next_service_id = (uint32_t)next->valuedouble & 0xFFFFFFu;
  m->restoring = false;
  if (rc == 0) mock_persist_save_locked(m); /* without what expired meanwhile */
  pthread_mutex_unlock(&m->mu);
  cJSON_Delete(root);
  return rc;
}
