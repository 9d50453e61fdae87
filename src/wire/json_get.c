/* json_get.c - typed access to the members of a decoded JSON object, checked against their
 * form, with a JSON Pointer error for each that is wrong. */
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/rfc3339.h"

static lmm_err fail_at(lmmw_t8_err *err, const char *base, const char *name, long idx,
                       const char *reason) {
  char ptr[sizeof((lmmw_t8_err *)0)->param];

  lmmw_json_ptr(ptr, sizeof ptr, base, name, idx);
  return lmmw_json_fail(err, ptr, "%s", reason);
}

/* ------------------------------------------------------------ member input */

lmmw_jm lmmw_json_member(const cJSON *obj, const char *name, const cJSON **val) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

  *val = v;
  if (v == NULL) return LMMW_JM_ABSENT;
  return cJSON_IsNull(v) ? LMMW_JM_NULL : LMMW_JM_VALUE;
}

/* Looks the member up and reports it through `seen`; true when it holds a value. */
static bool lookup(const cJSON *obj, const char *name, const cJSON **v, lmmw_jm *seen) {
  lmmw_jm m = lmmw_json_member(obj, name, v);

  if (seen != NULL) *seen = m;
  return m == LMMW_JM_VALUE;
}

lmm_err lmmw_json_get_str(const cJSON *obj, const char *base, const char *name, lmmw_jstr kind,
                          char **out, lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;
  char *s;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  if (!cJSON_IsString(v) || !lmmw_jstr_ok(v->valuestring, kind))
    return fail_at(err, base, name, -1, lmmw_jstr_reason(kind));
  if ((s = strdup(v->valuestring)) == NULL) return LMM_ERR_NOMEM;
  free(*out);
  *out = s;
  return LMM_OK;
}

lmm_err lmmw_json_get_bool(const cJSON *obj, const char *base, const char *name, bool *out,
                           lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  if (!cJSON_IsBool(v)) return fail_at(err, base, name, -1, "must be a boolean");
  *out = cJSON_IsTrue(v);
  return LMM_OK;
}

lmm_err lmmw_json_get_time(const cJSON *obj, const char *base, const char *name, int64_t *out,
                           lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  if (!cJSON_IsString(v) || !lmmi_rfc3339_parse(v->valuestring, out))
    return fail_at(err, base, name, -1,
                   "must be an RFC 3339 date-time string between years 0000 and 9999");
  return LMM_OK;
}

lmm_err lmmw_json_get_bytes(const cJSON *obj, const char *base, const char *name, uint8_t **out,
                            size_t *out_len, lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;
  uint8_t *buf = NULL;
  size_t n = 0;
  lmm_err rc;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  if (!cJSON_IsString(v))
    rc = LMM_ERR_PROTO;
  else
    rc = lmmi_b64_decode(v->valuestring, strlen(v->valuestring), &buf, &n);
  if (rc == LMM_ERR_PROTO)
    return fail_at(err, base, name, -1,
                   "must be a base64 string (standard alphabet, with padding)");
  if (rc != LMM_OK) return rc;
  free(*out);
  *out = buf;
  *out_len = n;
  return LMM_OK;
}

lmm_err lmmw_json_get_int(const cJSON *obj, const char *base, const char *name, long lo, long hi,
                          const char *reason, long *out, lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;
  double d;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  /* Range first, on the double: converting an out-of-range double to an integer is undefined. */
  if (!cJSON_IsNumber(v) || !((d = v->valuedouble) >= (double)lo && d <= (double)hi) ||
      (double)(long)d != d)
    return fail_at(err, base, name, -1, reason);
  *out = (long)d;
  return LMM_OK;
}

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

lmm_err lmmw_json_get_strv(const cJSON *obj, const char *base, const char *name, char ***out,
                           size_t *n, lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v, *it;
  char **arr;
  size_t cnt, i = 0;
  lmm_err rc = LMM_ERR_NOMEM;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  if (!cJSON_IsArray(v) || (cnt = (size_t)cJSON_GetArraySize(v)) == 0)
    return fail_at(err, base, name, -1, "must be an array of strings with at least one item");
  if ((arr = calloc(cnt, sizeof *arr)) == NULL) return LMM_ERR_NOMEM;
  cJSON_ArrayForEach(it, v) {
    if (!cJSON_IsString(it) || !lmmw_utf8_ok(it->valuestring)) {
      rc = fail_at(err, base, name, (long)i, "must be a string");
      goto fail;
    }
    if ((arr[i] = strdup(it->valuestring)) == NULL) goto fail;
    i++;
  }
  strv_free(*out, *n);
  *out = arr;
  *n = cnt;
  return LMM_OK;
fail:
  strv_free(arr, i);
  return rc;
}

lmm_err lmmw_json_check_objv(const cJSON *v, const char *ptr, lmmw_t8_err *err) {
  const cJSON *it;
  long i = 0;

  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
    return lmmw_json_fail(err, ptr, "must be an array of objects with at least one item");
  cJSON_ArrayForEach(it, v) {
    if (!cJSON_IsObject(it)) return fail_at(err, ptr, NULL, i, "must be a JSON object");
    i++;
  }
  return LMM_OK;
}

lmm_err lmmw_json_get_objv_text(const cJSON *obj, const char *base, const char *name, char **out,
                                lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;
  char ptr[sizeof((lmmw_t8_err *)0)->param];
  char *text;
  lmm_err rc;

  if (!lookup(obj, name, &v, seen)) return LMM_OK;
  lmmw_json_ptr(ptr, sizeof ptr, base, name, -1);
  if ((rc = lmmw_json_check_objv(v, ptr, err)) != LMM_OK) return rc;
  if ((rc = lmmw_json_print(v, &text)) != LMM_OK) return rc;
  free(*out);
  *out = text;
  return LMM_OK;
}

lmm_err lmmw_json_reject(const cJSON *obj, const char *base, const char *name, lmmw_t8_err *err) {
  const cJSON *v;

  if (lmmw_json_member(obj, name, &v) == LMMW_JM_VALUE)
    return fail_at(err, base, name, -1, "is read-only");
  return LMM_OK;
}
