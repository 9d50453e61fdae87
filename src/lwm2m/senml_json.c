/* senml_json.c - SenML-JSON (RFC 8428, content format 110) as LwM2M 1.1 uses it: encoder and
 * strict decoder. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

static const char *type_name(lmm_rtype t) {
  static const char *const names[] = {"none",   "String",  "Integer", "Unsigned Integer",
                                      "Float",  "Boolean", "Opaque",  "Time",
                                      "Objlnk", "Corelnk"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "unknown";
}

/* ============================================================== base64url */

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

static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Strict: only the URL-safe alphabet, no padding, and the unused low bits of the last
 * character zero, so that every byte string has exactly one text form. *out is owned (at
 * least one byte allocated). 0 ok, 1 malformed, -1 out of memory. */
static int b64url_decode(const char *s, size_t n, uint8_t **out, size_t *out_len) {
  uint8_t *buf;
  size_t k = 0, full = n / 4 * 4;
  int c[4];

  if (n % 4 == 1) return 1;
  for (size_t i = 0; i < n; i++)
    if (b64url_value((unsigned char)s[i]) < 0) return 1;
  if (n % 4 == 2 && (b64url_value((unsigned char)s[n - 1]) & 0x0f) != 0) return 1;
  if (n % 4 == 3 && (b64url_value((unsigned char)s[n - 1]) & 0x03) != 0) return 1;
  if ((buf = malloc(n / 4 * 3 + 3)) == NULL) return -1;
  for (size_t i = 0; i < full; i += 4) {
    for (int j = 0; j < 4; j++)
      c[j] = b64url_value((unsigned char)s[i + (size_t)j]);
    buf[k++] = (uint8_t)((c[0] << 2) | (c[1] >> 4));
    buf[k++] = (uint8_t)((c[1] << 4) | (c[2] >> 2));
    buf[k++] = (uint8_t)((c[2] << 6) | c[3]);
  }
  if (n - full >= 2) {
    c[0] = b64url_value((unsigned char)s[full]);
    c[1] = b64url_value((unsigned char)s[full + 1]);
    buf[k++] = (uint8_t)((c[0] << 2) | (c[1] >> 4));
    if (n - full == 3) {
      c[2] = b64url_value((unsigned char)s[full + 2]);
      buf[k++] = (uint8_t)((c[1] << 4) | (c[2] >> 2));
    }
  }
  *out = buf;
  *out_len = k;
  return 0;
}

/* ================================================================ encoder */

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

/* ================================================================ decoder */

typedef struct jp {
  const char *s;
  size_t n, i;
  size_t rec; /* index of the record being read */
  char *why;
  size_t cap;
} jp;

/* A JSON string: either a slice of the input (no escapes) or an owned copy. */
typedef struct jstr {
  const char *p;
  size_t n;
  char *own;
} jstr;

typedef enum { NUM_INT, NUM_UINT, NUM_FLOAT } num_kind;

typedef struct jnum {
  num_kind kind;
  int64_t i;
  uint64_t u;
  double d;
} jnum;

static lmm_err jfail(jp *j, const char *what) {
  return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu, byte %zu: %s", j->rec, j->i, what);
}

static void skip_ws(jp *j) {
  while (j->i < j->n &&
         (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
    j->i++;
}

static int hex4(const char *s) {
  int v = 0;

  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Reads the string at j->i (which is '"'). Refuses control characters, bad escapes, lone
 * surrogates, invalid UTF-8 and NUL (values become C strings). */
static lmm_err parse_string(jp *j, jstr *out) {
  size_t start = ++j->i, end = start, k = 0;
  bool escaped = false;
  char *o;

  out->own = NULL;
  while (end < j->n && j->s[end] != '"') {
    unsigned char c = (unsigned char)j->s[end];
    if (c < 0x20) {
      j->i = end;
      return jfail(j, "control character in a string");
    }
    if (c == '\\') {
      escaped = true;
      if (++end >= j->n) break;
    }
    end++;
  }
  if (end >= j->n) {
    j->i = j->n;
    return jfail(j, "unterminated string");
  }
  if (!escaped) {
    if (!lmmi_lwm2m_utf8_ok((const uint8_t *)j->s + start, end - start)) {
      j->i = start;
      return jfail(j, "a string must be UTF-8 without NUL");
    }
    out->p = j->s + start;
    out->n = end - start;
    j->i = end + 1;
    return LMM_OK;
  }
  /* Escapes never make a string longer than its source text. */
  if ((o = malloc(end - start + 1)) == NULL) return LMM_ERR_NOMEM;
  for (size_t i = start; i < end;) {
    uint32_t cp;
    int h;

    if (j->s[i] != '\\') {
      o[k++] = j->s[i++];
      continue;
    }
    j->i = i;
    switch (j->s[i + 1]) {
    case '"':
    case '\\':
    case '/':
      o[k++] = j->s[i + 1];
      i += 2;
      continue;
    case 'b':
      o[k++] = '\b';
      i += 2;
      continue;
    case 'f':
      o[k++] = '\f';
      i += 2;
      continue;
    case 'n':
      o[k++] = '\n';
      i += 2;
      continue;
    case 'r':
      o[k++] = '\r';
      i += 2;
      continue;
    case 't':
      o[k++] = '\t';
      i += 2;
      continue;
    case 'u':
      break;
    default:
      free(o);
      return jfail(j, "bad escape in a string");
    }
    if (end - i < 6 || (h = hex4(j->s + i + 2)) < 0) goto bad_u;
    cp = (uint32_t)h;
    i += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff) goto bad_u;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      int lo;
      if (end - i < 6 || j->s[i] != '\\' || j->s[i + 1] != 'u' || (lo = hex4(j->s + i + 2)) < 0 ||
          lo < 0xdc00 || lo > 0xdfff)
        goto bad_u;
      cp = 0x10000u + ((cp - 0xd800u) << 10) + ((uint32_t)lo - 0xdc00u);
      i += 6;
    }
    if (cp == 0) goto bad_u;
    k += put_utf8(o + k, cp);
  }
  if (!lmmi_lwm2m_utf8_ok((const uint8_t *)o, k)) {
    free(o);
    j->i = start;
    return jfail(j, "a string must be UTF-8 without NUL");
  }
  o[k] = '\0';
  out->own = o;
  out->p = o;
  out->n = k;
  j->i = end + 1;
  return LMM_OK;
bad_u:
  free(o);
  return jfail(j, "bad \\u escape (malformed, lone surrogate or NUL)");
}

static lmm_err parse_number(jp *j, jnum *out) {
  size_t start = j->i, n;
  const char *s = j->s + start;
  bool integral = true;

  while (j->i < j->n && strchr("+-0123456789.eE", j->s[j->i]) != NULL && j->s[j->i] != '\0') {
    if (strchr(".eE", j->s[j->i]) != NULL) integral = false;
    j->i++;
  }
  n = j->i - start;
  if (!lmmi_lwm2m_parse_double(s, n, &out->d)) {
    j->i = start;
    return jfail(j, "malformed or out-of-range number");
  }
  if (integral && lmmi_lwm2m_parse_i64(s, n, &out->i))
    out->kind = NUM_INT;
  else if (integral && lmmi_lwm2m_parse_u64(s, n, &out->u))
    out->kind = NUM_UINT;
  else
    out->kind = NUM_FLOAT;
  return LMM_OK;
}

static bool parse_lit(jp *j, const char *lit) {
  size_t n = strlen(lit);

  if (j->n - j->i < n || memcmp(j->s + j->i, lit, n) != 0) return false;
  j->i += n;
  return true;
}

/* Skips any JSON value (the value of a field we do not use), checking its syntax. */
static lmm_err skip_value(jp *j, int depth) {
  lmm_err rc;
  char open, close;
  bool first = true;

  if (depth > 32) return jfail(j, "nesting too deep");
  skip_ws(j);
  if (j->i >= j->n) return jfail(j, "value expected");
  switch (j->s[j->i]) {
  case '"': {
    jstr s;
    if ((rc = parse_string(j, &s)) != LMM_OK) return rc;
    free(s.own);
    return LMM_OK;
  }
  case 't':
    return parse_lit(j, "true") ? LMM_OK : jfail(j, "bad literal");
  case 'f':
    return parse_lit(j, "false") ? LMM_OK : jfail(j, "bad literal");
  case 'n':
    return parse_lit(j, "null") ? LMM_OK : jfail(j, "bad literal");
  case '[':
  case '{':
    break;
  default: {
    jnum num;
    return parse_number(j, &num);
  }
  }
  open = j->s[j->i++];
  close = open == '[' ? ']' : '}';
  for (;;) {
    skip_ws(j);
    if (j->i < j->n && j->s[j->i] == close && first) {
      j->i++;
      return LMM_OK;
    }
    if (open == '{') {
      jstr key;
      if (j->i >= j->n || j->s[j->i] != '"') return jfail(j, "member name expected");
      if ((rc = parse_string(j, &key)) != LMM_OK) return rc;
      free(key.own);
      skip_ws(j);
      if (j->i >= j->n || j->s[j->i] != ':') return jfail(j, "':' expected");
      j->i++;
    }
    if ((rc = skip_value(j, depth + 1)) != LMM_OK) return rc;
    first = false;
    skip_ws(j);
    if (j->i < j->n && j->s[j->i] == ',') {
      j->i++;
      continue;
    }
    if (j->i < j->n && j->s[j->i] == close) {
      j->i++;
      return LMM_OK;
    }
    return jfail(j, open == '[' ? "',' or ']' expected" : "',' or '}' expected");
  }
}

/* The SenML fields this decoder knows. Values are the bit of each in `seen`. */
enum {
  F_BN = 1 << 0,
  F_BT = 1 << 1,
  F_BU = 1 << 2,
  F_BV = 1 << 3,
  F_BS = 1 << 4,
  F_BVER = 1 << 5,
  F_N = 1 << 6,
  F_U = 1 << 7,
  F_V = 1 << 8,
  F_VS = 1 << 9,
  F_VB = 1 << 10,
  F_VD = 1 << 11,
  F_VLO = 1 << 12,
  F_S = 1 << 13,
  F_T = 1 << 14,
  F_UT = 1 << 15
};
#define F_VALUES  (F_V | F_VS | F_VB | F_VD | F_VLO)
#define F_NUMBERS (F_BT | F_BV | F_BS | F_BVER | F_V | F_S | F_T | F_UT)
#define F_STRINGS (F_BN | F_BU | F_N | F_U | F_VS | F_VD | F_VLO)

static const struct {
  const char *name;
  unsigned bit;
} fields[] = {{"bn", F_BN},   {"bt", F_BT},     {"bu", F_BU}, {"bv", F_BV},
              {"bs", F_BS},   {"bver", F_BVER}, {"n", F_N},   {"u", F_U},
              {"v", F_V},     {"vs", F_VS},     {"vb", F_VB}, {"vd", F_VD},
              {"vlo", F_VLO}, {"s", F_S},       {"t", F_T},   {"ut", F_UT}};

/* State that carries from record to record (RFC 8428 section 4.6: base fields apply until
 * changed), plus the fields of the current record. */
typedef struct senml_state {
  char *bn; /* owned */
  size_t bn_len;
  bool has_bv;
  jnum bv;
  /* current record */
  unsigned seen;
  jstr name, str; /* "n"; the text of vs / vd / vlo */
  jnum num;       /* "v" */
  bool b;         /* "vb" */
} senml_state;

static void record_reset(senml_state *st) {
  free(st->name.own);
  free(st->str.own);
  memset(&st->name, 0, sizeof st->name);
  memset(&st->str, 0, sizeof st->str);
  st->seen = 0;
}

/* Reads one field "key": value of the record at j->i into st. */
static lmm_err parse_field(jp *j, senml_state *st) {
  jstr key;
  unsigned bit = 0;
  lmm_err rc;
  size_t key_at = j->i;

  if (j->i >= j->n || j->s[j->i] != '"') return jfail(j, "field name expected");
  if ((rc = parse_string(j, &key)) != LMM_OK) return rc;
  for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
    if (strlen(fields[f].name) == key.n && memcmp(fields[f].name, key.p, key.n) == 0)
      bit = fields[f].bit;
  /* RFC 8428 section 4.4: a field whose name ends in '_' must be understood or the whole pack
   * refused. */
  if (bit == 0 && key.n != 0 && key.p[key.n - 1] == '_') {
    free(key.own);
    j->i = key_at;
    return jfail(j, "unknown must-understand field (name ends in '_')");
  }
  free(key.own);
  skip_ws(j);
  if (j->i >= j->n || j->s[j->i] != ':') return jfail(j, "':' expected");
  j->i++;
  skip_ws(j);
  if (bit == 0) return skip_value(j, 1);
  if (st->seen & bit) {
    j->i = key_at;
    return jfail(j, "field repeated in one record");
  }
  st->seen |= bit;
  if (j->i >= j->n) return jfail(j, "value expected");
  if (bit & F_NUMBERS) {
    jnum num;
    char c = j->s[j->i];
    if (c != '-' && (c < '0' || c > '9')) return jfail(j, "this field must be a number");
    if ((rc = parse_number(j, &num)) != LMM_OK) return rc;
    if (bit == F_V) st->num = num;
    if (bit == F_BV) {
      st->bv = num;
      st->has_bv = true;
    }
    return LMM_OK;
  }
  if (bit & F_STRINGS) {
    jstr s;
    if (j->s[j->i] != '"') return jfail(j, "this field must be a string");
    if ((rc = parse_string(j, &s)) != LMM_OK) return rc;
    if (bit == F_BN) {
      char *copy = malloc(s.n + 1);
      if (copy == NULL) {
        free(s.own);
        return LMM_ERR_NOMEM;
      }
      memcpy(copy, s.p, s.n);
      copy[s.n] = '\0';
      free(st->bn);
      st->bn = copy;
      st->bn_len = s.n;
      free(s.own);
    } else if (bit == F_N) {
      st->name = s;
    } else if (bit & (F_VS | F_VD | F_VLO)) {
      /* A second value field is refused later ("more than one value"); keep no leak meanwhile. */
      free(st->str.own);
      st->str = s;
    } else {
      free(s.own); /* units */
    }
    return LMM_OK;
  }
  /* F_VB */
  if (parse_lit(j, "true"))
    st->b = true;
  else if (parse_lit(j, "false"))
    st->b = false;
  else
    return jfail(j, "\"vb\" must be true or false");
  return LMM_OK;
}

/* Applies "bv" to "v" (RFC 8428: the record's value is the base value plus its own). */
static bool apply_bv(const senml_state *st, jnum *v) {
  if (!st->has_bv) return true;
  if (st->bv.kind == NUM_INT && v->kind == NUM_INT &&
      ((st->bv.i >= 0 && v->i <= INT64_MAX - st->bv.i) ||
       (st->bv.i < 0 && v->i >= INT64_MIN - st->bv.i))) {
    v->i += st->bv.i;
    v->d = (double)v->i;
    return true;
  }
  v->d += st->bv.d;
  v->kind = NUM_FLOAT;
  return isfinite(v->d);
}

/* 2^63 and 2^64 as doubles: the exclusive upper bounds of int64 and uint64. Integrality is
 * tested by a cast back and forth inside those bounds (no floor(): the library does not link
 * libm). */
#define TWO_63 9223372036854775808.0
#define TWO_64 18446744073709551616.0

/* Builds the value of the current record, converted to the resource's type when known. */
static lmm_err make_value(jp *j, senml_state *st, const lmm_res_def *rd, const char *path,
                          lmm_value *v) {
  unsigned have = st->seen & F_VALUES;
  lmm_rtype want;
  jnum num = st->num;
  int r;

  memset(v, 0, sizeof *v);
  if (have == F_V && !apply_bv(st, &num))
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu (%s): bv + v overflows", j->rec, path);
  if (rd != NULL) {
    want = rd->type;
  } else {
    /* No definition: the SenML field decides. */
    want = have == F_VS           ? LMM_RT_STRING
           : have == F_VB         ? LMM_RT_BOOLEAN
           : have == F_VD         ? LMM_RT_OPAQUE
           : have == F_VLO        ? LMM_RT_OBJLNK
           : num.kind == NUM_INT  ? LMM_RT_INTEGER
           : num.kind == NUM_UINT ? LMM_RT_UNSIGNED
                                  : LMM_RT_FLOAT;
  }
  v->type = want;
  switch (want) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (have != F_VS) break;
    if ((v->str = malloc(st->str.n + 1)) == NULL) return LMM_ERR_NOMEM;
    memcpy(v->str, st->str.p, st->str.n);
    v->str[st->str.n] = '\0';
    return LMM_OK;
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    if (have != F_V) break;
    if (num.kind == NUM_INT) {
      v->v.i = num.i;
    } else if (num.kind == NUM_FLOAT && num.d >= -TWO_63 && num.d < TWO_63 &&
               (double)(int64_t)num.d == num.d) {
      v->v.i = (int64_t)num.d; /* an integral number written as 2.0 or 2e0 */
    } else {
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): %s resource needs an integer in range", j->rec,
                             path, type_name(want));
    }
    return LMM_OK;
  case LMM_RT_UNSIGNED:
    if (have != F_V) break;
    if (num.kind == NUM_INT && num.i >= 0) {
      v->v.u = (uint64_t)num.i;
    } else if (num.kind == NUM_UINT) {
      v->v.u = num.u;
    } else if (num.kind == NUM_FLOAT && num.d >= 0 && num.d < TWO_64 &&
               (double)(uint64_t)num.d == num.d) {
      v->v.u = (uint64_t)num.d;
    } else {
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): Unsigned Integer resource needs an integer "
                             ">= 0 in range",
                             j->rec, path);
    }
    return LMM_OK;
  case LMM_RT_FLOAT:
    if (have != F_V) break;
    v->v.f = num.d;
    return LMM_OK;
  case LMM_RT_BOOLEAN:
    if (have != F_VB) break;
    v->v.b = st->b;
    return LMM_OK;
  case LMM_RT_OPAQUE:
    if (have != F_VD) break;
    r = b64url_decode(st->str.p, st->str.n, &v->bytes, &v->len);
    if (r < 0) return LMM_ERR_NOMEM;
    if (r > 0)
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): \"vd\" is not base64url without padding",
                             j->rec, path);
    return LMM_OK;
  case LMM_RT_OBJLNK:
    if (have != F_VLO) break;
    if (!lmmi_lwm2m_parse_objlnk(st->str.p, st->str.n, &v->v.lnk.oid, &v->v.lnk.iid))
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): \"vlo\" must be \"oid:iid\" (0..65535)",
                             j->rec, path);
    return LMM_OK;
  case LMM_RT_NONE:
  default:
    return lmmi_lwm2m_fail(j->why, j->cap,
                           "SenML record %zu (%s): the resource is executable and has no value",
                           j->rec, path);
  }
  return lmmi_lwm2m_fail(j->why, j->cap,
                         "SenML record %zu (%s): \"%s\" does not fit a resource of type %s", j->rec,
                         path,
                         have == F_V    ? "v"
                         : have == F_VS ? "vs"
                         : have == F_VB ? "vb"
                         : have == F_VD ? "vd"
                                        : "vlo",
                         type_name(want));
}

/* Resolves the name of the finished record, checks it and appends the record. */
static lmm_err finish_record(jp *j, senml_state *st, const lmm_path *base, const lmm_obj_def *def,
                             lmm_records *out) {
  unsigned have = st->seen & F_VALUES;
  char name[64], path[32];
  size_t nn = st->seen & F_N ? st->name.n : 0;
  const lmm_res_def *rd;
  lmm_path p;
  lmm_value v;
  lmm_err rc;

  /* Every valid path is shorter than this buffer; a longer name is not a path anyway. */
  if (st->bn_len + nn >= sizeof name)
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu: name is not an LwM2M path", j->rec);
  if (st->bn_len != 0) memcpy(name, st->bn, st->bn_len);
  if (nn != 0) memcpy(name + st->bn_len, st->name.p, nn);
  name[st->bn_len + nn] = '\0';
  if (lmm_path_parse(name, &p) != LMM_OK || p.depth < 3)
    return lmmi_lwm2m_fail(j->why, j->cap,
                           "SenML record %zu: name \"%s\" is not a resource or resource "
                           "instance path",
                           j->rec, name);
  lmm_path_format(&p, path, sizeof path);
  if (!lmm_path_within(base, &p)) {
    char b[32];
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu: %s lies outside %s", j->rec, path,
                           lmm_path_format(base, b, sizeof b));
  }
  if (have == 0)
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu (%s): missing value", j->rec, path);
  if ((have & (have - 1)) != 0)
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu (%s): more than one value", j->rec,
                           path);
  rd = lmm_obj_def_res(def, p.rid);
  if (rd != NULL && rd->multiple != (p.depth == 4))
    return lmmi_lwm2m_fail(
        j->why, j->cap, "SenML record %zu (%s): resource %u is %s", j->rec, path, (unsigned)p.rid,
        rd->multiple ? "multiple: give its instances" : "single: it has no instances");
  if ((rc = make_value(j, st, rd, path, &v)) != LMM_OK) {
    lmm_value_clear(&v);
    return rc;
  }
  if ((rc = lmmi_lwm2m_records_push(out, &p, &v)) != LMM_OK) lmm_value_clear(&v);
  return rc;
}

/* Appends the records of s to `out` (the caller's scratch list). Names are bn + n, resolved
 * as RFC 8428 section 4.6 says, and must be LwM2M paths under base; bt/t/ut, units and sums
 * are read and ignored; unknown fields are skipped unless they end in '_'. */
lmm_err lmmi_lwm2m_senml_decode(const lmm_path *base, const char *s, size_t len,
                                const lmm_obj_def *def, lmm_records *out, char *why, size_t cap) {
  jp j = {s, len, 0, 0, why, cap};
  senml_state st;
  lmm_err rc = LMM_OK;
  size_t later;
  int dup;

  memset(&st, 0, sizeof st);
  skip_ws(&j);
  if (j.i >= j.n || s[j.i] != '[')
    return lmmi_lwm2m_fail(why, cap, "SenML byte %zu: the payload must be a JSON array of records",
                           j.i);
  j.i++;
  skip_ws(&j);
  if (j.i < j.n && s[j.i] == ']') {
    j.i++;
  } else {
    for (;; j.rec++) {
      skip_ws(&j);
      if (j.i >= j.n || s[j.i] != '{') {
        rc = jfail(&j, "a record must be a JSON object");
        break;
      }
      j.i++;
      skip_ws(&j);
      if (j.i < j.n && s[j.i] == '}') {
        j.i++;
      } else {
        for (;;) {
          if ((rc = parse_field(&j, &st)) != LMM_OK) break;
          skip_ws(&j);
          if (j.i < j.n && s[j.i] == ',') {
            j.i++;
            skip_ws(&j);
            continue;
          }
          if (j.i < j.n && s[j.i] == '}') {
            j.i++;
            break;
          }
          rc = jfail(&j, "',' or '}' expected");
          break;
        }
        if (rc != LMM_OK) break;
      }
      if ((rc = finish_record(&j, &st, base, def, out)) != LMM_OK) break;
      record_reset(&st);
      skip_ws(&j);
      if (j.i < j.n && s[j.i] == ',') {
        j.i++;
        continue;
      }
      if (j.i < j.n && s[j.i] == ']') {
        j.i++;
        break;
      }
      rc = jfail(&j, "',' or ']' expected after a record");
      break;
    }
  }
  record_reset(&st);
  free(st.bn);
  if (rc != LMM_OK) return rc;
  skip_ws(&j);
  if (j.i != j.n) return lmmi_lwm2m_fail(why, cap, "SenML byte %zu: text after the array", j.i);
  dup = lmmi_lwm2m_find_dup(out->items, out->n, &later);
  if (dup < 0) return LMM_ERR_NOMEM;
  if (dup > 0) {
    char p[32];
    return lmmi_lwm2m_fail(why, cap,
                           "SenML record %zu: %s repeats or conflicts with an earlier "
                           "record",
                           later, lmm_path_format(&out->items[later].path, p, sizeof p));
  }
  return LMM_OK;
}
