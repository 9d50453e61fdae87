/* value.c - typed values and record lists, plus the number, text and duplicate-path helpers the
 * LwM2M codecs share. */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

/* ------------------------------------------------------------------ values */

LMM_API void lmm_value_clear(lmm_value *v) {
  if (v == NULL) return;
  free(v->str);
  free(v->bytes);
  memset(v, 0, sizeof *v);
  v->type = LMM_RT_NONE;
}

/* Deep copy into *dst (overwritten, not freed). On failure *dst is zeroed. */
lmm_err lmmi_lwm2m_value_copy(lmm_value *dst, const lmm_value *src) {
  lmm_value v = *src;

  v.str = NULL;
  v.bytes = NULL;
  if (src->str != NULL && (v.str = strdup(src->str)) == NULL) goto nomem;
  if (src->bytes != NULL) {
    /* At least one byte, so that a present empty value stays distinguishable from no bytes. */
    v.bytes = malloc(src->len != 0 ? src->len : 1);
    if (v.bytes == NULL) goto nomem;
    if (src->len != 0) memcpy(v.bytes, src->bytes, src->len);
  }
  *dst = v;
  return LMM_OK;
nomem:
  free(v.str);
  memset(dst, 0, sizeof *dst);
  return LMM_ERR_NOMEM;
}

/* ------------------------------------------------------------------ records */

LMM_API void lmm_records_clear(lmm_records *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n; i++)
    lmm_value_clear(&r->items[i].value);
  free(r->items);
  r->items = NULL;
  r->n = r->cap = 0;
}

/* Room for `more` further records. */
static lmm_err records_reserve(lmm_records *r, size_t more) {
  size_t cap;
  lmm_record *items;

  if (more <= r->cap - r->n) return LMM_OK;
  if (more > SIZE_MAX / sizeof *items - r->n) return LMM_ERR_NOMEM;
  cap = r->cap != 0 ? r->cap : 8;
  while (cap - r->n < more)
    cap = cap > SIZE_MAX / sizeof *items / 2 ? r->n + more : cap * 2;
  items = realloc(r->items, cap * sizeof *items);
  if (items == NULL) return LMM_ERR_NOMEM;
  r->items = items;
  r->cap = cap;
  return LMM_OK;
}

LMM_API lmm_err lmm_records_add(lmm_records *r, const lmm_path *p, const lmm_value *v) {
  lmm_value copy;
  lmm_err rc;

  if (r == NULL || p == NULL || v == NULL || p->depth < 3 || p->depth > 4) return LMM_ERR_ARG;
  if ((rc = records_reserve(r, 1)) != LMM_OK) return rc;
  if ((rc = lmmi_lwm2m_value_copy(&copy, v)) != LMM_OK) return rc;
  r->items[r->n].path = *p;
  r->items[r->n].value = copy;
  r->n++;
  return LMM_OK;
}

/* Appends a record taking *v (zeroed on success; still the caller's on failure). The decoders
 * build values in place, so a deep copy there would only double the allocations. */
lmm_err lmmi_lwm2m_records_push(lmm_records *r, const lmm_path *p, lmm_value *v) {
  lmm_err rc;

  if ((rc = records_reserve(r, 1)) != LMM_OK) return rc;
  r->items[r->n].path = *p;
  r->items[r->n].value = *v;
  r->n++;
  memset(v, 0, sizeof *v);
  return LMM_OK;
}

/* Appends all of src to dst and empties src. On failure both are unchanged: decoders fill a
 * scratch list and move it in only when the whole payload was good. */
lmm_err lmmi_lwm2m_records_move(lmm_records *dst, lmm_records *src) {
  lmm_err rc;

  if (src->n == 0) {
    lmm_records_clear(src);
    return LMM_OK;
  }
  if (dst->n == 0 && dst->items == NULL) {
    *dst = *src;
    memset(src, 0, sizeof *src);
    return LMM_OK;
  }
  if ((rc = records_reserve(dst, src->n)) != LMM_OK) return rc;
  memcpy(dst->items + dst->n, src->items, src->n * sizeof *src->items);
  dst->n += src->n;
  free(src->items);
  memset(src, 0, sizeof *src);
  return LMM_OK;
}

/* -------------------------------------------------------------- duplicates */

typedef struct dup_key {
  uint16_t oid, iid, rid, riid;
  uint8_t depth;
  size_t idx;
} dup_key;

static int dup_cmp(const void *a, const void *b) {
  const dup_key *x = a, *y = b;

  if (x->oid != y->oid) return x->oid < y->oid ? -1 : 1;
  if (x->iid != y->iid) return x->iid < y->iid ? -1 : 1;
  if (x->rid != y->rid) return x->rid < y->rid ? -1 : 1;
  if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
  if (x->riid != y->riid) return x->riid < y->riid ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* 1 when two records collide (same path, or a resource given both as a single value and as
 * instances), with *later the larger index of the first colliding pair; 0 when none; -1 when
 * out of memory. Sorting keeps this O(n log n) for payloads of thousands of records. */
int lmmi_lwm2m_find_dup(const lmm_record *r, size_t n, size_t *later) {
  dup_key stack[32], *k = stack;
  int found = 0;

  if (n < 2) return 0;
  if (n > sizeof stack / sizeof *stack) {
    if (n > SIZE_MAX / sizeof *k || (k = malloc(n * sizeof *k)) == NULL) return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const lmm_path *p = &r[i].path;
    k[i] = (dup_key){p->oid, p->iid, p->rid, p->depth >= 4 ? p->riid : 0, p->depth, i};
  }
  qsort(k, n, sizeof *k, dup_cmp);
  for (size_t i = 1; i < n; i++) {
    const dup_key *a = &k[i - 1], *b = &k[i];
    size_t hi;

    if (a->oid != b->oid || a->iid != b->iid || a->rid != b->rid) continue;
    if (a->depth == 4 && b->depth == 4 && a->riid != b->riid) continue;
    hi = a->idx > b->idx ? a->idx : b->idx;
    if (!found || hi < *later) *later = hi;
    found = 1;
  }
  if (k != stack) free(k);
  return found;
}

/* ------------------------------------------------------------------- text */

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points above U+10FFFF) without
 * NUL: strings travel as C strings, so a NUL would silently cut them. */
bool lmmi_lwm2m_utf8_ok(const uint8_t *s, size_t n) {
  size_t i = 0;

  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;

    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      len = 2;
    else if (c >= 0xe0 && c <= 0xef)
      len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
      len = 4;
    else
      return false;
    if (n - i < len) return false;
    /* The second byte's range excludes overlongs, surrogates and > U+10FFFF. */
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
    else if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return false;
    i += len;
  }
  return true;
}

/* Writes the reason (when the caller wants one) and returns LMM_ERR_PROTO, so that a decoder
 * can `return lmmi_lwm2m_fail(...)`. */
lmm_err lmmi_lwm2m_fail(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;

  if (why == NULL || cap == 0) return LMM_ERR_PROTO;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return LMM_ERR_PROTO;
}

/* ----------------------------------------------------------------- numbers */

size_t lmmi_lwm2m_fmt_u64(uint64_t v, char *buf) {
  char tmp[20];
  size_t k = 0, n = 0;

  do {
    tmp[k++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0);
  while (k > 0)
    buf[n++] = tmp[--k];
  buf[n] = '\0';
  return n;
}

size_t lmmi_lwm2m_fmt_i64(int64_t v, char *buf) {
  if (v >= 0) return lmmi_lwm2m_fmt_u64((uint64_t)v, buf);
  buf[0] = '-';
  /* Negating in unsigned arithmetic also covers INT64_MIN. */
  return 1 + lmmi_lwm2m_fmt_u64(0u - (uint64_t)v, buf + 1);
}

/* The C library reads and writes numbers with the locale's decimal point; the wire always
 * uses '.'. */
static const char *decimal_point(void) {
  const struct lconv *lc = localeconv();

  return lc != NULL && lc->decimal_point != NULL && lc->decimal_point[0] != '\0' ? lc->decimal_point
                                                                                 : ".";
}

/* strtod over exactly n bytes that already match the JSON number grammar. */
static bool strtod_n(const char *s, size_t n, double *out) {
  const char *dp = decimal_point();
  size_t dpn = strlen(dp);
  char stack[64], *buf = stack, *end;
  size_t k = 0;
  bool ok;

  if (n > SIZE_MAX - dpn - 1) return false;
  if (n + dpn + 1 > sizeof stack && (buf = malloc(n + dpn + 1)) == NULL) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.') {
      memcpy(buf + k, dp, dpn);
      k += dpn;
    } else {
      buf[k++] = s[i];
    }
  }
  buf[k] = '\0';
  *out = strtod(buf, &end);
  ok = end == buf + k && isfinite(*out);
  if (buf != stack) free(buf);
  return ok;
}

/* Shortest of %.15g/%.16g/%.17g that reads back as the same double, always with a '.' or an
 * exponent, so that a float written as 1.0 is read back as a float and not as an integer.
 * buf holds at least 32 bytes; d must be finite. */
size_t lmmi_lwm2m_fmt_double(double d, char *buf) {
  const char *dp = decimal_point();
  size_t dpn = strlen(dp), n = 0;
  char tmp[40];

  for (int prec = 15; prec <= 17; prec++) {
    double back;
    char *p;

    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    /* Back to '.' before comparing, whatever the locale wrote. */
    if ((dpn != 1 || dp[0] != '.') && (p = strstr(tmp, dp)) != NULL) {
      *p = '.';
      memmove(p + 1, p + dpn, strlen(p + dpn) + 1);
    }
    n = strlen(tmp);
    if (prec == 17 || (strtod_n(tmp, n, &back) && back == d)) break;
  }
  if (strpbrk(tmp, ".eE") == NULL) {
    tmp[n++] = '.';
    tmp[n++] = '0';
    tmp[n] = '\0';
  }
  memcpy(buf, tmp, n + 1);
  return n;
}

/* Length of the JSON number (RFC 8259) at the start of s[0..n), or 0 when there is none. */
static size_t json_number_len(const char *s, size_t n) {
  size_t i = 0;

  if (i < n && s[i] == '-') i++;
  if (i >= n) return 0;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  } else {
    return 0;
  }
  if (i < n && s[i] == '.') {
    size_t start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == start) return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t start;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == start) return 0;
  }
  return i;
}

/* A finite number in JSON syntax (no "inf", "nan", hex, spaces or '+', which strtod would
 * take) filling all n bytes. */
bool lmmi_lwm2m_parse_double(const char *s, size_t n, double *out) {
  if (n == 0 || json_number_len(s, n) != n) return false;
  return strtod_n(s, n, out);
}

bool lmmi_lwm2m_parse_u64(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;

  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9') return false;
    d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10u) return false;
    v = v * 10u + d;
  }
  *out = v;
  return true;
}

bool lmmi_lwm2m_parse_i64(const char *s, size_t n, int64_t *out) {
  bool neg = n > 0 && s[0] == '-';
  uint64_t mag;

  if (!lmmi_lwm2m_parse_u64(s + neg, n - neg, &mag)) return false;
  if (neg) {
    if (mag > (uint64_t)INT64_MAX + 1u) return false;
    *out = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
  } else {
    if (mag > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)mag;
  }
  return true;
}

/* "oid:iid", each 0..65535 (65535:65535 is LwM2M's null link). */
bool lmmi_lwm2m_parse_objlnk(const char *s, size_t n, uint16_t *oid, uint16_t *iid) {
  const char *colon = memchr(s, ':', n);
  uint64_t a, b;
  size_t na;

  if (colon == NULL) return false;
  na = (size_t)(colon - s);
  if (na > 5 || n - na - 1 > 5) return false;
  if (!lmmi_lwm2m_parse_u64(s, na, &a) || !lmmi_lwm2m_parse_u64(colon + 1, n - na - 1, &b))
    return false;
  if (a > 65535u || b > 65535u) return false;
  *oid = (uint16_t)a;
  *iid = (uint16_t)b;
  return true;
}
