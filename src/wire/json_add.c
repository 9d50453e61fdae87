/* json_add.c - members added to an encoded JSON object, refused when a decoder would refuse
 * them. */
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/rfc3339.h"

/* ----------------------------------------------------------- member output */

lmm_err lmmw_json_add_str(cJSON *obj, const char *name, const char *s, lmmw_jstr kind) {
  if (s == NULL) return LMM_OK;
  if (!lmmw_jstr_ok(s, kind)) return LMM_ERR_ARG;
  return cJSON_AddStringToObject(obj, name, s) != NULL ? LMM_OK : LMM_ERR_NOMEM;
}

lmm_err lmmw_json_add_null(cJSON *obj, const char *name) {
  return cJSON_AddNullToObject(obj, name) != NULL ? LMM_OK : LMM_ERR_NOMEM;
}

lmm_err lmmw_json_add_bool(cJSON *obj, const char *name, bool b) {
  return cJSON_AddBoolToObject(obj, name, b) != NULL ? LMM_OK : LMM_ERR_NOMEM;
}

lmm_err lmmw_json_add_num(cJSON *obj, const char *name, double d) {
  return cJSON_AddNumberToObject(obj, name, d) != NULL ? LMM_OK : LMM_ERR_NOMEM;
}

lmm_err lmmw_json_add_time(cJSON *obj, const char *name, int64_t t) {
  char buf[32];

  if (!lmmi_rfc3339_format(t, buf, sizeof buf)) return LMM_ERR_ARG;
  return cJSON_AddStringToObject(obj, name, buf) != NULL ? LMM_OK : LMM_ERR_NOMEM;
}

lmm_err lmmw_json_add_bytes(cJSON *obj, const char *name, const uint8_t *p, size_t n) {
  char *text;
  lmm_err rc;

  if (p == NULL && n != 0) return LMM_ERR_ARG;
  if ((rc = lmmi_b64_encode(p, n, &text)) != LMM_OK) return rc;
  rc = cJSON_AddStringToObject(obj, name, text) != NULL ? LMM_OK : LMM_ERR_NOMEM;
  free(text);
  return rc;
}

lmm_err lmmw_json_add_strv(cJSON *obj, const char *name, char *const *v, size_t n) {
  cJSON *arr;

  if (n == 0) return LMM_OK;
  if (v == NULL) return LMM_ERR_ARG;
  for (size_t i = 0; i < n; i++)
    if (v[i] == NULL || !lmmw_utf8_ok(v[i])) return LMM_ERR_ARG;
  if ((arr = cJSON_AddArrayToObject(obj, name)) == NULL) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    cJSON *s = cJSON_CreateString(v[i]);
    if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
      cJSON_Delete(s);
      return LMM_ERR_NOMEM;
    }
  }
  return LMM_OK;
}

lmm_err lmmw_json_add_json(cJSON *obj, const char *name, const char *text,
                           lmm_err (*check)(const cJSON *v, const char *ptr, lmmw_t8_err *err)) {
  cJSON *v = NULL;
  lmm_err rc;

  if (text == NULL) return LMM_OK;
  /* The same strict parser as for input: what goes out must come back in. */
  rc = lmmw_json_parse(text, strlen(text), &v, NULL);
  if (rc == LMM_OK && check != NULL) rc = check(v, "", NULL);
  if (rc == LMM_ERR_PROTO) rc = LMM_ERR_ARG;
  if (rc == LMM_OK && !cJSON_AddItemToObject(obj, name, v)) rc = LMM_ERR_NOMEM;
  if (rc != LMM_OK) cJSON_Delete(v);
  return rc;
}

lmm_err lmmw_json_print(const cJSON *root, char **out) {
  char *text = cJSON_PrintUnformatted(root);
  char *copy;

  if (text == NULL) return LMM_ERR_NOMEM;
  copy = strdup(text);
  cJSON_free(text);
  if (copy == NULL) return LMM_ERR_NOMEM;
  *out = copy;
  return LMM_OK;
}

char *lmmw_strdup_or_null(const char *s, bool *ok) {
  char *d;

  if (s == NULL) return NULL;
  if ((d = strdup(s)) == NULL) *ok = false;
  return d;
}
