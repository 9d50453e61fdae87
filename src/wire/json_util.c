/* json_util.c - strict JSON parsing, typed member access and validated output for the T8
 * codec; also the string-form checks and link helpers t8_json.h exports. */
#include "json_util.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/rfc3339.h"

/* ------------------------------------------------------------------ errors */

lmm_err lmmw_json_fail(lmmw_t8_err *err, const char *ptr, const char *fmt, ...) {
  va_list ap;

  if (err == NULL) return LMM_ERR_PROTO;
  snprintf(err->param, sizeof err->param, "%s", ptr != NULL ? ptr : "");
  va_start(ap, fmt);
  vsnprintf(err->reason, sizeof err->reason, fmt, ap);
  va_end(ap);
  return LMM_ERR_PROTO;
}

void lmmw_json_ptr(char *buf, size_t cap, const char *base, const char *name, long idx) {
  size_t used;

  /* Member names of this API hold neither '~' nor '/', so no RFC 6901 escaping is needed. */
  snprintf(buf, cap, "%s%s%s", base != NULL ? base : "", name != NULL ? "/" : "",
           name != NULL ? name : "");
  used = strlen(buf);
  if (idx >= 0 && used < cap) snprintf(buf + used, cap - used, "/%ld", idx);
}

/* Fails with the pointer of member `name` (and item idx when >= 0) under base. */
static lmm_err fail_at(lmmw_t8_err *err, const char *base, const char *name, long idx,
                       const char *reason) {
  char ptr[sizeof((lmmw_t8_err *)0)->param];

  lmmw_json_ptr(ptr, sizeof ptr, base, name, idx);
  return lmmw_json_fail(err, ptr, "%s", reason);
}

/* ------------------------------------------------------------ text checks */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;

  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (avail < n) return 0;
  /* The second byte's range is what excludes overlongs, surrogates and > U+10FFFF. */
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return n;
}

bool lmmw_utf8_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);

  while (left > 0) {
    size_t n = utf8_len(p, left);
    if (n == 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

static bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

/* Length of the RFC 8259 number at s, or 0 when malformed. cJSON itself takes "01", "1." and
 * "-" apart loosely (strtod), so the grammar is enforced here. */
static size_t number_len(const unsigned char *s, size_t avail) {
  size_t i = 0;

  if (i < avail && s[i] == '-') i++;
  if (i >= avail || !is_digit(s[i])) return 0;
  if (s[i] == '0')
    i++;
  else
    while (i < avail && is_digit(s[i]))
      i++;
  if (i < avail && s[i] == '.') {
    i++;
    if (i >= avail || !is_digit(s[i])) return 0;
    while (i < avail && is_digit(s[i]))
      i++;
  }
  if (i < avail && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < avail && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= avail || !is_digit(s[i])) return 0;
    while (i < avail && is_digit(s[i]))
      i++;
  }
  /* "01", "1.2.3" and "1e5e5" would otherwise split into two tokens. */
  if (i < avail &&
      (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
    return 0;
  return i;
}

/* One pass over the text for what cJSON lets through: bytes it would misread (NUL, invalid
 * UTF-8, raw control characters, "\u0000" which a C string cannot hold), loose numbers, and
 * nesting deep enough to cost recursion. Grammar errors are left to cJSON. Returns false with
 * the offending offset and a reason. */
static bool prescan(const unsigned char *s, size_t len, size_t *at, const char **why) {
  bool in_str = false;
  size_t i = 0, depth = 0;

  while (i < len) {
    unsigned char c = s[i];
    size_t n;

    *at = i;
    if (c == 0) {
      *why = "NUL byte";
      return false;
    }
    if (c >= 0x80) {
      if ((n = utf8_len(s + i, len - i)) == 0) {
        *why = "invalid UTF-8";
        return false;
      }
      i += n;
      continue;
    }
    if (in_str) {
      if (c < 0x20) {
        *why = "unescaped control character in a string";
        return false;
      }
      if (c == '"') {
        in_str = false;
      } else if (c == '\\') {
        if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
          *why = "\\u0000 in a string";
          return false;
        }
        i++; /* the escaped character cannot end the string */
        if (i < len && s[i] >= 0x80)
          continue; /* not a valid escape: cJSON reports it; keep the UTF-8 check in step */
      }
      i++;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > LMMW_JSON_MAX_DEPTH) {
        *why = "nesting too deep";
        return false;
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) depth--;
    } else if (c == '-' || is_digit(c)) {
      if ((n = number_len(s + i, len - i)) == 0) {
        *why = "malformed number";
        return false;
      }
      i += n;
      continue;
    } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      *why = "control character";
      return false;
    }
    i++;
  }
  return true;
}

static bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

lmm_err lmmw_json_parse(const char *json, size_t len, cJSON **root, lmmw_t8_err *err) {
  const char *end = NULL, *why = NULL;
  size_t at = 0;
  cJSON *doc;

  *root = NULL;
  if (json == NULL || len == 0)
    return lmmw_json_fail(err, "", "empty body: a JSON value is required");
  if (!prescan((const unsigned char *)json, len, &at, &why))
    return lmmw_json_fail(err, "", "not valid JSON at byte %zu: %s", at, why);
  /* Not require_null_terminated: with an explicit length cJSON would then demand a NUL inside
   * the buffer. The trailing check is done below instead. */
  doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (doc == NULL) {
    at = end != NULL && end >= json ? (size_t)(end - json) : 0;
    return lmmw_json_fail(err, "", "not valid JSON at byte %zu", at);
  }
  while (end < json + len && is_ws(*end))
    end++;
  if (end != json + len) {
    cJSON_Delete(doc);
    return lmmw_json_fail(err, "", "unexpected data after the JSON value at byte %zu",
                          (size_t)(end - json));
  }
  *root = doc;
  return LMM_OK;
}

/* ---------------------------------------------------------- string forms */

bool lmmw_t8_external_group_id_ok(const char *s) {
  const char *at;

  if (s == NULL || (at = strchr(s, '@')) == NULL || at == s || at[1] == '\0' ||
      strchr(at + 1, '@') != NULL)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p <= 0x20 || *p == 0x7f) return false;
  return true;
}

static bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool lmmw_t8_tmgi_ok(const char *s) {
  size_t n;

  if (s == NULL) return false;
  n = strlen(s);
  if (n != 11 && n != 12) return false;
  for (size_t i = 0; i < n; i++)
    if (i < 6 ? !is_hex((unsigned char)s[i]) : !is_digit((unsigned char)s[i])) return false;
  return true;
}

bool lmmw_jstr_ok(const char *s, lmmw_jstr kind) {
  unsigned char addr[16];

  if (s == NULL || !lmmw_utf8_ok(s)) return false;
  switch (kind) {
  case LMMW_JS_ANY:
    return true;
  case LMMW_JS_LINK:
    if (*s == '\0') return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
      if (*p <= 0x20 || *p == 0x7f) return false;
    return true;
  case LMMW_JS_EGID:
    return lmmw_t8_external_group_id_ok(s);
  case LMMW_JS_HEX:
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
      if (!is_hex(*p)) return false;
    return true;
  case LMMW_JS_IPV4:
    return inet_pton(AF_INET, s, addr) == 1;
  case LMMW_JS_IPV6:
    return inet_pton(AF_INET6, s, addr) == 1;
  }
  return false;
}

const char *lmmw_jstr_reason(lmmw_jstr kind) {
  switch (kind) {
  case LMMW_JS_ANY:
    break;
  case LMMW_JS_LINK:
    return "must be a non-empty URI string without spaces";
  case LMMW_JS_EGID:
    return "must be a string of the form local@domain";
  case LMMW_JS_HEX:
    return "must be a string of hexadecimal digits";
  case LMMW_JS_IPV4:
    return "must be an IPv4 address in dotted-decimal form";
  case LMMW_JS_IPV6:
    return "must be an IPv6 address";
  }
  return "must be a string";
}

/* ------------------------------------------------------------------ links */

lmm_err lmmw_t8_link_segment(const char *link, char **out) {
  const char *path, *end, *start, *p;
  char *seg;

  *out = NULL;
  if (link == NULL) return LMM_OK;
  end = link + strcspn(link, "?#");
  /* Skip "scheme://authority" or "//authority": a host is not a path segment. */
  path = link;
  for (p = link; p < end && *p != '/' && *p != ':'; p++)
    ;
  if (p + 2 < end && p[0] == ':' && p[1] == '/' && p[2] == '/')
    path = p + 3;
  else if (end - link >= 2 && link[0] == '/' && link[1] == '/')
    path = link + 2;
  if (path != link) {
    while (path < end && *path != '/')
      path++;
  }
  while (end > path && end[-1] == '/')
    end--;
  start = end;
  while (start > path && start[-1] != '/')
    start--;
  if (start == end) return LMM_OK;
  if ((seg = malloc((size_t)(end - start) + 1)) == NULL) return LMM_ERR_NOMEM;
  memcpy(seg, start, (size_t)(end - start));
  seg[end - start] = '\0';
  *out = seg;
  return LMM_OK;
}

char *lmmw_t8_link_last_segment(const char *link) {
  char *seg;

  return lmmw_t8_link_segment(link, &seg) == LMM_OK ? seg : NULL;
}

const char *lmmw_t8_link_api_path(const char *link) {
  return link != NULL ? strstr(link, LMM_T8_BASE_PATH) : NULL;
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
