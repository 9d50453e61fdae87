/* senml_encode.c - SenML-JSON (RFC 8428, content format 110) as LwM2M 1.1 uses it: the
 * encoder. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

/* RFC 8428 section 5: "vd" is base64url (RFC 4648 section 5) without padding. */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_len(size_t n) {
  return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

static size_t b64url_put(char *o, const uint8_t *in, size_t n) {
  size_t k = 0, i = 0;

  for (; i + 3 <= n; i += 3) {
    uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
    o[k++] = b64url[v >> 18];
    o[k++] = b64url[(v >> 12) & 63];
    o[k++] = b64url[(v >> 6) & 63];
    o[k++] = b64url[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    o[k++] = b64url[v >> 18];
    o[k++] = b64url[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
    o[k++] = b64url[v >> 18];
    o[k++] = b64url[(v >> 12) & 63];
    o[k++] = b64url[(v >> 6) & 63];
  }
  return k;
}

typedef struct sbuf {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf;

static bool sb_room(sbuf *b, size_t more) {
  size_t cap;
  char *p;

  if (b->oom) return false;
  if (more <= b->cap - b->n) return true;
  if (more > SIZE_MAX / 2 - b->n) {
    b->oom = true;
    return false;
  }
  cap = b->cap * 2 > b->n + more ? b->cap * 2 : b->n + more;
  if ((p = realloc(b->p, cap)) == NULL) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (!sb_room(b, n)) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

#define SB_LIT(b, lit) sb_put((b), (lit), sizeof(lit) - 1)

/* A JSON string (quotes included) of n bytes of valid UTF-8. */
static void sb_json_str(sbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;

  SB_LIT(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6];
    size_t en = 2;

    if (c >= 0x20 && c != '"' && c != '\\') continue;
    /* Copy the plain run before this character in one go. */
    sb_put(b, s + run, i - run);
    run = i + 1;
    esc[0] = '\\';
    switch (c) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      en = 6;
      break;
    }
    sb_put(b, esc, en);
  }
  sb_put(b, s + run, n - run);
  SB_LIT(b, "\"");
}

/* The path parts of p below depth `from`, joined by '/', with a leading '/' if `lead`. */
static void sb_rel_name(sbuf *b, const lmm_path *p, unsigned from, bool lead) {
  const uint16_t part[4] = {p->oid, p->iid, p->rid, p->riid};
  char num[24];

  for (unsigned i = from; i < p->depth; i++) {
    if (lead || i > from) SB_LIT(b, "/");
    sb_put(b, num, lmmi_lwm2m_fmt_u64(part[i], num));
  }
}

/* The value member of a record (`"vs":"..."` etc.); LMM_ERR_ARG for a value SenML cannot hold. */
static lmm_err sb_value(sbuf *b, const lmm_value *v) {
  char num[40];

  switch (v->type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK: {
    const char *s = v->str != NULL ? v->str : "";
    size_t n = strlen(s);
    if (!lmmi_lwm2m_utf8_ok((const uint8_t *)s, n)) return LMM_ERR_ARG;
    SB_LIT(b, "\"vs\":");
    sb_json_str(b, s, n);
    return LMM_OK;
  }
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    SB_LIT(b, "\"v\":");
    sb_put(b, num, lmmi_lwm2m_fmt_i64(v->v.i, num));
    return LMM_OK;
  case LMM_RT_UNSIGNED:
    SB_LIT(b, "\"v\":");
    sb_put(b, num, lmmi_lwm2m_fmt_u64(v->v.u, num));
    return LMM_OK;
  case LMM_RT_FLOAT:
    if (!isfinite(v->v.f)) return LMM_ERR_ARG; /* JSON has no NaN or infinity */
    SB_LIT(b, "\"v\":");
    sb_put(b, num, lmmi_lwm2m_fmt_double(v->v.f, num));
    return LMM_OK;
  case LMM_RT_BOOLEAN:
    if (v->v.b)
      SB_LIT(b, "\"vb\":true");
    else
      SB_LIT(b, "\"vb\":false");
    return LMM_OK;
  case LMM_RT_OPAQUE:
    if (v->bytes == NULL && v->len != 0) return LMM_ERR_ARG;
    if (v->len > (SIZE_MAX - 16) / 4 * 3) return LMM_ERR_NOMEM;
    SB_LIT(b, "\"vd\":\"");
    if (sb_room(b, b64url_len(v->len))) b->n += b64url_put(b->p + b->n, v->bytes, v->len);
    SB_LIT(b, "\"");
    return LMM_OK;
  case LMM_RT_OBJLNK: {
    size_t k;
    SB_LIT(b, "\"vlo\":\"");
    k = lmmi_lwm2m_fmt_u64(v->v.lnk.oid, num);
    num[k++] = ':';
    k += lmmi_lwm2m_fmt_u64(v->v.lnk.iid, num + k);
    sb_put(b, num, k);
    SB_LIT(b, "\"");
    return LMM_OK;
  }
  case LMM_RT_NONE:
  default:
    return LMM_ERR_ARG;
  }
}

/* Records follow the usual LwM2M server habit (Leshan writes the same): the first carries
 * "bn" = the request path plus '/', and every record a relative "n" ("6/1"), which keeps the
 * names short for a device to resolve. When a record is the base itself (a single
 * resource read), "bn" is the bare base and such a record has no "n"; deeper records then
 * start their "n" with '/'. The caller (codec.c) has checked every path lies under base. */
lmm_err lmmi_lwm2m_senml_encode(const lmm_path *base, const lmm_record *recs, size_t n,
                                uint8_t **out, size_t *out_len) {
  sbuf b = {NULL, 0, 0, false};
  size_t est = 3, later;
  bool base_is_record = false;
  char bn[32];
  lmm_err rc = LMM_OK;
  int dup;

  /* A payload with one path twice would be refused by every decoder, ours included. */
  if ((dup = lmmi_lwm2m_find_dup(recs, n, &later)) != 0)
    return dup < 0 ? LMM_ERR_NOMEM : LMM_ERR_ARG;
  /* Sized up front so that a typical object needs one allocation. */
  for (size_t i = 0; i < n; i++) {
    const lmm_value *v = &recs[i].value;
    est += 48;
    if ((v->type == LMM_RT_STRING || v->type == LMM_RT_CORELNK) && v->str != NULL)
      est += strlen(v->str) + 8;
    else if (v->type == LMM_RT_OPAQUE && v->len < SIZE_MAX / 2)
      est += v->len / 3 * 4 + 8;
    if (recs[i].path.depth == base->depth) base_is_record = true;
  }
  b.cap = est;
  if ((b.p = malloc(b.cap)) == NULL) return LMM_ERR_NOMEM;
  SB_LIT(&b, "[");
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    const lmm_path *p = &recs[i].path;
    bool named = p->depth > base->depth;

    if (i == 0)
      SB_LIT(&b, "{");
    else
      SB_LIT(&b, ",{");
    if (i == 0) {
      size_t k = strlen(lmm_path_format(base, bn, sizeof bn));
      if (!base_is_record) bn[k++] = '/';
      SB_LIT(&b, "\"bn\":");
      sb_json_str(&b, bn, k);
      if (named) SB_LIT(&b, ",");
    }
    if (named) {
      SB_LIT(&b, "\"n\":\"");
      sb_rel_name(&b, p, base->depth, base_is_record);
      SB_LIT(&b, "\"");
    }
    if (i == 0 || named) SB_LIT(&b, ",");
    rc = sb_value(&b, &recs[i].value);
    SB_LIT(&b, "}");
  }
  /* A NUL after the text (not counted), so that callers may log the payload as a string. */
  sb_put(&b, "]", 2);
  if (rc == LMM_OK && b.oom) rc = LMM_ERR_NOMEM;
  if (rc != LMM_OK) {
    free(b.p);
    return rc;
  }
  *out = (uint8_t *)b.p;
  *out_len = b.n - 1;
  return LMM_OK;
}
