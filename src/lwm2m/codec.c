/* codec.c - lmm_lwm2m_encode()/lmm_lwm2m_decode(): argument checks, dispatch to SenML-JSON and
 * TLV, and the single-value formats plain text and opaque. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "util/b64.h"
#include "lwm2m/lwm2m_internal.h"

/* ------------------------------------------------------- single-value formats */

static const char *type_name(lmm_rtype t) {
  switch (t) {
  case LMM_RT_INTEGER:
    return "Integer";
  case LMM_RT_UNSIGNED:
    return "Unsigned Integer";
  case LMM_RT_FLOAT:
    return "Float";
  case LMM_RT_BOOLEAN:
    return "Boolean (0 or 1)";
  case LMM_RT_TIME:
    return "Time";
  case LMM_RT_OBJLNK:
    return "Objlnk (oid:iid)";
  default:
    return "typed";
  }
}

/* Copies n bytes into a new buffer with a NUL after them (handy for text, not counted). */
static lmm_err owned_copy(const void *p, size_t n, uint8_t **out, size_t *out_len) {
  uint8_t *b;

  if (n == SIZE_MAX || (b = malloc(n + 1)) == NULL) return LMM_ERR_NOMEM;
  if (n != 0) memcpy(b, p, n);
  b[n] = '\0';
  *out = b;
  *out_len = n;
  return LMM_OK;
}

/* Plain text (LwM2M 1.1 Core clause 7.4.1): numbers in decimal, booleans "0"/"1", object links
 * "oid:iid", opaque as standard base64 (RFC 4648 section 4, with padding). */
static lmm_err text_encode(const lmm_value *v, uint8_t **out, size_t *out_len) {
  char num[48];
  size_t k;
  lmm_err rc;
  char *b64;

  switch (v->type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK: {
    const char *s = v->str != NULL ? v->str : "";
    size_t n = strlen(s);
    if (!lmmi_lwm2m_utf8_ok((const uint8_t *)s, n)) return LMM_ERR_ARG;
    return owned_copy(s, n, out, out_len);
  }
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    return owned_copy(num, lmmi_lwm2m_fmt_i64(v->v.i, num), out, out_len);
  case LMM_RT_UNSIGNED:
    return owned_copy(num, lmmi_lwm2m_fmt_u64(v->v.u, num), out, out_len);
  case LMM_RT_FLOAT:
    if (!isfinite(v->v.f)) return LMM_ERR_ARG;
    return owned_copy(num, lmmi_lwm2m_fmt_double(v->v.f, num), out, out_len);
  case LMM_RT_BOOLEAN:
    return owned_copy(v->v.b ? "1" : "0", 1, out, out_len);
  case LMM_RT_OBJLNK:
    k = lmmi_lwm2m_fmt_u64(v->v.lnk.oid, num);
    num[k++] = ':';
    k += lmmi_lwm2m_fmt_u64(v->v.lnk.iid, num + k);
    return owned_copy(num, k, out, out_len);
  case LMM_RT_OPAQUE:
    if (v->bytes == NULL && v->len != 0) return LMM_ERR_ARG;
    if ((rc = lmmi_b64_encode(v->bytes, v->len, &b64)) != LMM_OK) return rc;
    *out = (uint8_t *)b64;
    *out_len = strlen(b64);
    return LMM_OK;
  case LMM_RT_NONE:
  default:
    return LMM_ERR_ARG;
  }
}

/* The definition of the resource a single-value payload for `base` holds, with the checks both
 * single-value formats share. */
static lmm_err single_target(const char *fmt_name, const lmm_path *base, const lmm_obj_def *def,
                             const lmm_res_def **rd, char *why, size_t cap) {
  char b[32];

  lmm_path_format(base, b, sizeof b);
  if (base->depth < 3)
    return lmmi_lwm2m_fail(why, cap, "%s carries one resource value, but %s was requested",
                           fmt_name, b);
  *rd = lmm_obj_def_res(def, base->rid);
  if (*rd != NULL && (*rd)->multiple && base->depth == 3)
    return lmmi_lwm2m_fail(why, cap, "%s cannot carry %s: the resource has instances", fmt_name, b);
  if (*rd != NULL && !(*rd)->multiple && base->depth == 4)
    return lmmi_lwm2m_fail(why, cap, "%s: %s names an instance of a single resource", fmt_name, b);
  return LMM_OK;
}

static lmm_err text_decode(const lmm_path *base, const uint8_t *p, size_t n, const lmm_obj_def *def,
                           lmm_records *out, char *why, size_t cap) {
  const lmm_res_def *rd = NULL;
  const char *s = (const char *)p;
  lmm_value v;
  lmm_err rc;
  char b[32];
  bool ok = true;

  if ((rc = single_target("text", base, def, &rd, why, cap)) != LMM_OK) return rc;
  lmm_path_format(base, b, sizeof b);
  memset(&v, 0, sizeof v);
  /* Without a definition text can only be a string. */
  v.type = rd != NULL ? rd->type : LMM_RT_STRING;
  switch (v.type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (!lmmi_lwm2m_utf8_ok(p, n))
      return lmmi_lwm2m_fail(why, cap, "text (%s): not UTF-8, or holds a NUL", b);
    {
      uint8_t *copy;
      size_t copy_len;
      if ((rc = owned_copy(p, n, &copy, &copy_len)) != LMM_OK) return rc;
      v.str = (char *)copy;
    }
    break;
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    ok = lmmi_lwm2m_parse_i64(s, n, &v.v.i);
    break;
  case LMM_RT_UNSIGNED:
    ok = lmmi_lwm2m_parse_u64(s, n, &v.v.u);
    break;
  case LMM_RT_FLOAT:
    ok = lmmi_lwm2m_parse_double(s, n, &v.v.f);
    break;
  case LMM_RT_BOOLEAN:
    ok = n == 1 && (s[0] == '0' || s[0] == '1');
    v.v.b = ok && s[0] == '1';
    break;
  case LMM_RT_OBJLNK:
    ok = lmmi_lwm2m_parse_objlnk(s, n, &v.v.lnk.oid, &v.v.lnk.iid);
    break;
  case LMM_RT_OPAQUE:
    rc = lmmi_b64_decode(s, n, &v.bytes, &v.len);
    if (rc == LMM_ERR_NOMEM) return rc;
    ok = rc == LMM_OK;
    break;
  case LMM_RT_NONE:
  default:
    return lmmi_lwm2m_fail(why, cap, "text (%s): the resource is executable and has no value", b);
  }
  if (!ok) {
    rc = lmmi_lwm2m_fail(why, cap, "text (%s): not a valid %s value", b,
                         v.type == LMM_RT_OPAQUE ? "base64 (Opaque)" : type_name(v.type));
    lmm_value_clear(&v);
    return rc;
  }
  if ((rc = lmmi_lwm2m_records_push(out, base, &v)) != LMM_OK) lmm_value_clear(&v);
  return rc;
}

static lmm_err opaque_decode(const lmm_path *base, const uint8_t *p, size_t n,
                             const lmm_obj_def *def, lmm_records *out, char *why, size_t cap) {
  const lmm_res_def *rd = NULL;
  lmm_value v;
  lmm_err rc;
  char b[32];

  if ((rc = single_target("opaque", base, def, &rd, why, cap)) != LMM_OK) return rc;
  if (rd != NULL && rd->type != LMM_RT_OPAQUE)
    return lmmi_lwm2m_fail(why, cap, "opaque: %s is not an Opaque resource",
                           lmm_path_format(base, b, sizeof b));
  memset(&v, 0, sizeof v);
  v.type = LMM_RT_OPAQUE;
  if ((v.bytes = malloc(n != 0 ? n : 1)) == NULL) return LMM_ERR_NOMEM;
  if (n != 0) memcpy(v.bytes, p, n);
  v.len = n;
  if ((rc = lmmi_lwm2m_records_push(out, base, &v)) != LMM_OK) lmm_value_clear(&v);
  return rc;
}

/* ------------------------------------------------------------------ public */

LMM_API lmm_err lmm_lwm2m_encode(uint16_t fmt, const lmm_path *base, const lmm_record *recs,
                                 size_t n, uint8_t **out, size_t *out_len) {
  if (!lmmi_lwm2m_path_ok(base) || out == NULL || out_len == NULL || (recs == NULL && n != 0))
    return LMM_ERR_ARG;
  for (size_t i = 0; i < n; i++) {
    const lmm_path *p = &recs[i].path;
    if (p->depth < 3 || !lmmi_lwm2m_path_ok(p) || !lmm_path_within(base, p)) return LMM_ERR_ARG;
  }
  switch (fmt) {
  case LMM_FMT_SENML_JSON:
    return lmmi_lwm2m_senml_encode(base, recs, n, out, out_len);
  case LMM_FMT_TLV:
    return lmmi_lwm2m_tlv_encode(base, recs, n, out, out_len);
  case LMM_FMT_TEXT:
  case LMM_FMT_OPAQUE:
    /* One value, at the request path itself (a resource, or a resource instance). */
    if (n != 1 || base->depth < 3 || recs[0].path.depth != base->depth) return LMM_ERR_ARG;
    if (fmt == LMM_FMT_TEXT) return text_encode(&recs[0].value, out, out_len);
    if (recs[0].value.type != LMM_RT_OPAQUE ||
        (recs[0].value.bytes == NULL && recs[0].value.len != 0))
      return LMM_ERR_ARG;
    return owned_copy(recs[0].value.bytes, recs[0].value.len, out, out_len);
  default:
    return LMM_ERR_ARG;
  }
}

LMM_API lmm_err lmm_lwm2m_decode(uint16_t fmt, const lmm_path *base, const uint8_t *payload,
                                 size_t len, const lmm_obj_def *def, lmm_records *out, char *why,
                                 size_t why_cap) {
  lmm_records tmp = {NULL, 0, 0};
  lmm_err rc;

  if (why != NULL && why_cap != 0) why[0] = '\0';
  if (!lmmi_lwm2m_path_ok(base) || out == NULL || (payload == NULL && len != 0)) {
    lmmi_lwm2m_fail(why, why_cap, "invalid argument");
    return LMM_ERR_ARG;
  }
  if (def != NULL && def->oid != base->oid) {
    lmmi_lwm2m_fail(why, why_cap, "the definition is of object %u, the path of object %u",
                    (unsigned)def->oid, (unsigned)base->oid);
    return LMM_ERR_ARG;
  }
  if (payload == NULL) payload = (const uint8_t *)"";
  switch (fmt) {
  case LMM_FMT_SENML_JSON:
    rc = lmmi_lwm2m_senml_decode(base, (const char *)payload, len, def, &tmp, why, why_cap);
    break;
  case LMM_FMT_TLV:
    rc = lmmi_lwm2m_tlv_decode(base, payload, len, def, &tmp, why, why_cap);
    break;
  case LMM_FMT_TEXT:
    rc = text_decode(base, payload, len, def, &tmp, why, why_cap);
    break;
  case LMM_FMT_OPAQUE:
    rc = opaque_decode(base, payload, len, def, &tmp, why, why_cap);
    break;
  default:
    lmmi_lwm2m_fail(why, why_cap, "content format %u is not supported", (unsigned)fmt);
    return LMM_ERR_ARG;
  }
  if (rc == LMM_OK) rc = lmmi_lwm2m_records_move(out, &tmp);
  if (rc == LMM_ERR_NOMEM) lmmi_lwm2m_fail(why, why_cap, "out of memory");
  lmm_records_clear(&tmp);
  return rc;
}
