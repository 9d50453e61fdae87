/* blob.c - the blob transfer's wire format (docs/protocol.md section 5). Hand-written because
 * it is our own format: a query of five short keys and a status text of ranges. */
#include "lmm_wire/blob.h"
#include "lmm_wire/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t lmmw_blob_k(const lmmw_blob_desc *d) {
  return d->frag ? (uint32_t)((d->size + d->frag - 1) / d->frag) : 0;
}

uint32_t lmmw_blob_blocks(const lmmw_blob_desc *d) {
  if (d->code != LMMW_FEC_RS || !d->kb) return 0;
  return (uint32_t)(((uint64_t)lmmw_blob_k(d) + d->kb - 1) / d->kb);
}

uint32_t lmmw_blob_q(const lmmw_blob_desc *d) {
  uint32_t k = lmmw_blob_k(d);
  if (d->code == LMMW_FEC_RS) /* p <= 255 and B <= K: no wrap */
    return d->stride <= LMMW_RS_N_MAX ? d->stride * lmmw_blob_blocks(d) : 0;
  /* In 64 bits: k + stride - 1 wraps for a stride near UINT32_MAX (p= is a peer's number). */
  return d->stride ? (uint32_t)(((uint64_t)k + d->stride - 1) / d->stride) : 0;
}

size_t lmmw_blob_frag_len(const lmmw_blob_desc *d, uint32_t index) {
  uint32_t k = lmmw_blob_k(d);
  if (index + 1 == k) return (size_t)(d->size - (uint64_t)(k - 1) * d->frag);
  return d->frag;
}

lmm_err lmmw_blob_desc_check(const lmmw_blob_desc *d, char *why, size_t cap) {
  if (d->size == 0 || d->size > LMMW_BLOB_SIZE_MAX) {
    snprintf(why, cap, "blob size %llu outside 1..%u", (unsigned long long)d->size,
             LMMW_BLOB_SIZE_MAX);
    return LMM_ERR_ARG;
  }
  if (d->frag < LMMW_BLOB_FRAG_MIN || d->frag > LMMW_BLOB_FRAG_MAX) {
    snprintf(why, cap, "fragment size %u outside %u..%u", d->frag, LMMW_BLOB_FRAG_MIN,
             LMMW_BLOB_FRAG_MAX);
    return LMM_ERR_ARG;
  }
  if (d->code == LMMW_FEC_RS && (d->kb < 1 || d->kb >= LMMW_RS_N_MAX)) {
    snprintf(why, cap, "Reed-Solomon block of %u source fragments outside 1..%u", d->kb,
             LMMW_RS_N_MAX - 1);
    return LMM_ERR_ARG;
  }
  if (d->code == LMMW_FEC_RS && d->stride > LMMW_RS_N_MAX - d->kb) {
    snprintf(why, cap, "%u parity rows with blocks of %u: k + p above %u", d->stride, d->kb,
             LMMW_RS_N_MAX);
    return LMM_ERR_ARG;
  }
  return LMM_OK;
}

bool lmmw_blob_version_ok(const char *v, size_t len) {
  if (len == 0 || len > LMMW_BLOB_VERSION_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    char c = v[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

void lmmw_blob_query(const lmmw_blob_desc *d, long index, bool with_digest, char *out, size_t cap) {
  char id[2 * LMMW_BLOB_ID_LEN + 1], dg[65];
  lmmw_hex(d->id, sizeof d->id, id);
  int n = snprintf(out, cap, "b=%s&n=%llu&f=%u&p=%u", id, (unsigned long long)d->size, d->frag,
                   d->stride);
  if (n > 0 && (size_t)n < cap && d->code == LMMW_FEC_RS)
    n += snprintf(out + n, cap - (size_t)n, "&c=rs&k=%u", d->kb);
  if (n > 0 && (size_t)n < cap && index >= 0)
    n += snprintf(out + n, cap - (size_t)n, "&i=%ld", index);
  if (n > 0 && (size_t)n < cap && with_digest && d->has_digest) {
    lmmw_hex(d->digest, 32, dg);
    n += snprintf(out + n, cap - (size_t)n, "&d=%s", dg);
  }
  if (n > 0 && (size_t)n < cap && with_digest && d->version[0])
    snprintf(out + n, cap - (size_t)n, "&v=%s", d->version);
}

/* Decimal digits only (no sign, no blanks), at most `max`. */
static bool parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0 || len > 20) return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t nv = v * 10 + (uint64_t)(s[i] - '0');
    if (nv / 10 != v) return false;
    v = nv;
  }
  if (v > max) return false;
  *out = v;
  return true;
}

lmm_err lmmw_blob_query_parse(const char *const *items, const size_t *lens, size_t n,
                              lmmw_blob_desc *d, long *index, char *why, size_t cap) {
  bool has_b = false, has_n = false, has_f = false, has_k = false;
  uint64_t v;
  memset(d, 0, sizeof *d);
  *index = -1;
  for (size_t k = 0; k < n; k++) {
    const char *s = items[k];
    size_t len = lens[k];
    if (len < 2 || s[1] != '=') continue;
    const char *val = s + 2;
    size_t vl = len - 2;
    switch (s[0]) {
    case 'b':
      if (!lmmw_unhex(val, vl, d->id, LMMW_BLOB_ID_LEN)) goto bad;
      has_b = true;
      break;
    case 'n':
      if (!parse_u64(val, vl, LMMW_BLOB_SIZE_MAX, &v)) goto bad;
      d->size = v, has_n = true;
      break;
    case 'f':
      if (!parse_u64(val, vl, LMMW_BLOB_FRAG_MAX, &v)) goto bad;
      d->frag = (uint32_t)v, has_f = true;
      break;
    case 'p':
      if (!parse_u64(val, vl, UINT32_MAX, &v)) goto bad;
      d->stride = (uint32_t)v;
      break;
    case 'c':
      if (vl == 2 && !memcmp(val, "rs", 2))
        d->code = LMMW_FEC_RS;
      else if (vl == 3 && !memcmp(val, "xor", 3))
        d->code = LMMW_FEC_XOR;
      else
        goto bad;
      break;
    case 'k':
      if (!parse_u64(val, vl, LMMW_RS_N_MAX, &v)) goto bad;
      d->kb = (uint32_t)v, has_k = true;
      break;
    case 'i':
      if (!parse_u64(val, vl, 2u * LMMW_BLOB_SIZE_MAX, &v)) goto bad;
      *index = (long)v;
      break;
    case 'd':
      if (!lmmw_unhex(val, vl, d->digest, 32)) goto bad;
      d->has_digest = true;
      break;
    case 'v':
      if (!lmmw_blob_version_ok(val, vl)) goto bad;
      memcpy(d->version, val, vl);
      d->version[vl] = 0;
      break;
    default:
      break;
    }
    continue;
  bad:
    snprintf(why, cap, "bad blob query item '%.*s'", (int)(len > 80 ? 80 : len), s);
    return LMM_ERR_ARG;
  }
  if (!has_b) return LMM_ERR_NOTFOUND;
  if (!has_n || !has_f) {
    snprintf(why, cap, "blob query without %s", has_n ? "f (fragment size)" : "n (size)");
    return LMM_ERR_ARG;
  }
  if (d->code == LMMW_FEC_RS && !has_k) {
    snprintf(why, cap, "blob query c=rs without k (source fragments per block)");
    return LMM_ERR_ARG;
  }
  if (d->code != LMMW_FEC_RS) d->kb = 0; /* k= means nothing to xor */
  lmm_err rc = lmmw_blob_desc_check(d, why, cap);
  if (rc != LMM_OK) return rc;
  if (*index >= 0 && (uint64_t)*index >= (uint64_t)lmmw_blob_k(d) + lmmw_blob_q(d)) {
    snprintf(why, cap, "fragment index %ld beyond the %u fragments", *index,
             lmmw_blob_k(d) + lmmw_blob_q(d));
    return LMM_ERR_ARG;
  }
  return LMM_OK;
}

/* ------------------------------------------------------------------ status */

size_t lmmw_blob_status_format(int state, int result, const uint8_t *missing, uint32_t k,
                               char *out) {
  return lmmw_blob_status_format_needs(state, result, missing, k, NULL, 0, out);
}

size_t lmmw_blob_status_format_needs(int state, int result, const uint8_t *missing, uint32_t k,
                                     const uint32_t *needs, uint32_t nb, char *out) {
  const size_t cap = LMMW_BLOB_STATUS_MAX + 1;
  int n = snprintf(out, cap, "s=%d;r=%d", state, result);
  if (n < 0) return 0;
  size_t len = (size_t)n;
  if (needs) { /* whole or not at all: a cut list would understate what a block needs */
    char e[LMMW_BLOB_NEEDS_MAX + 1];
    size_t el = 0;
    bool fits = true;
    for (uint32_t b = 0; b < nb && fits; b++) {
      if (!needs[b]) continue;
      int m = snprintf(e + el, sizeof e - el, "%s%u:%u", el ? "," : ";e=", b, needs[b]);
      if (m < 0 || el + (size_t)m >= sizeof e)
        fits = false;
      else
        el += (size_t)m;
    }
    if (fits && el) memcpy(out + len, e, el + 1), len += el;
  }
  if (!missing) return len;
  bool first = true;
  for (uint32_t i = 0; i < k;) {
    if (!lmmw_bit(missing, i)) {
      i++;
      continue;
    }
    uint32_t hi = i;
    while (hi + 1 < k && lmmw_bit(missing, hi + 1))
      hi++;
    char item[32];
    int m = hi == i ? snprintf(item, sizeof item, "%u", i)
                    : snprintf(item, sizeof item, "%u-%u", i, hi);
    /* Room is kept for the open range that replaces the rest if this one does not fit. */
    char open[16];
    int om = snprintf(open, sizeof open, "%u-", i);
    size_t sep = first ? 3 : 1; /* ";m=" or "," */
    if (len + sep + (size_t)m + 1 + 12 > LMMW_BLOB_STATUS_MAX) {
      memcpy(out + len, first ? ";m=" : ",", sep);
      memcpy(out + len + sep, open, (size_t)om);
      len += sep + (size_t)om;
      out[len] = 0;
      return len;
    }
    memcpy(out + len, first ? ";m=" : ",", sep);
    memcpy(out + len + sep, item, (size_t)m);
    len += sep + (size_t)m;
    first = false;
    i = hi + 1;
  }
  out[len] = 0;
  return len;
}

void lmmw_blob_status_clear(lmmw_blob_status *s) {
  free(s->ranges), free(s->needs);
  s->ranges = NULL, s->needs = NULL;
  s->n_ranges = s->n_needs = 0;
  s->has_needs = false;
}

/* Appends one pair to a growing list; false when out of memory. */
static bool push_pair(uint32_t (**list)[2], size_t *n, size_t *cap, uint32_t a, uint32_t b) {
  if (*n == *cap) {
    size_t nc = *cap ? 2 * *cap : 8;
    void *np = realloc(*list, nc * sizeof **list);
    if (!np) return false;
    *list = np, *cap = nc;
  }
  (*list)[*n][0] = a, (*list)[*n][1] = b;
  (*n)++;
  return true;
}

static bool num(const char **p, const char *end, uint32_t *v) {
  uint64_t x = 0;
  const char *s = *p;
  if (s >= end || *s < '0' || *s > '9') return false;
  while (s < end && *s >= '0' && *s <= '9') {
    x = x * 10 + (uint64_t)(*s++ - '0');
    if (x > UINT32_MAX - 1) return false;
  }
  *v = (uint32_t)x;
  *p = s;
  return true;
}

lmm_err lmmw_blob_status_parse(const uint8_t *text, size_t len, lmmw_blob_status *out, char *why,
                               size_t cap) {
  const char *p = (const char *)text, *end = p + len;
  uint32_t v;
  memset(out, 0, sizeof *out);
  out->state = out->result = -1;
  size_t cap_r = 0, cap_e = 0;
  while (p < end) {
    if (end - p < 2 || p[1] != '=') goto bad;
    char key = p[0];
    p += 2;
    if (key == 's' || key == 'r') {
      if (!num(&p, end, &v) || v > 255) goto bad;
      *(key == 's' ? &out->state : &out->result) = (int)v;
    } else if (key == 'm') {
      uint32_t last = 0;
      bool any = false;
      for (;;) {
        uint32_t lo, hi;
        if (!num(&p, end, &lo)) goto bad;
        hi = lo;
        if (p < end && *p == '-') {
          p++;
          if (p < end && *p >= '0' && *p <= '9') {
            if (!num(&p, end, &hi) || hi < lo) goto bad;
          } else {
            hi = UINT32_MAX;
          }
        }
        if (any && lo <= last) goto bad; /* sorted and disjoint */
        if (out->n_ranges == cap_r) {
          size_t nc = cap_r ? 2 * cap_r : 8;
          void *np = realloc(out->ranges, nc * sizeof *out->ranges);
          if (!np) {
            lmmw_blob_status_clear(out);
            snprintf(why, cap, "out of memory");
            return LMM_ERR_NOMEM;
          }
          out->ranges = np, cap_r = nc;
        }
        out->ranges[out->n_ranges][0] = lo, out->ranges[out->n_ranges][1] = hi;
        out->n_ranges++;
        last = hi, any = true;
        if (hi == UINT32_MAX || p >= end || *p != ',') break;
        p++;
      }
    } else if (key == 'e') {
      uint32_t b, need;
      bool any = false;
      for (;;) {
        uint32_t prev = any ? out->needs[out->n_needs - 1][0] : 0;
        if (!num(&p, end, &b) || p >= end || *p++ != ':' || !num(&p, end, &need)) goto bad;
        if (any && b <= prev) goto bad; /* sorted, each block once */
        if (!push_pair(&out->needs, &out->n_needs, &cap_e, b, need)) {
          lmmw_blob_status_clear(out);
          snprintf(why, cap, "out of memory");
          return LMM_ERR_NOMEM;
        }
        any = true;
        if (p >= end || *p != ',') break;
        p++;
      }
      out->has_needs = true;
    } else {
      while (p < end && *p != ';') /* unknown key: room to grow */
        p++;
    }
    if (p < end) {
      if (*p != ';') goto bad;
      p++;
    }
  }
  if (out->state < 0 || out->state > 3 || out->result < 0) {
    snprintf(why, cap, "status without a valid s= (State) and r= (Update Result)");
    lmmw_blob_status_clear(out);
    return LMM_ERR_PROTO;
  }
  return LMM_OK;
bad:
  snprintf(why, cap, "malformed status text at byte %zu", (size_t)(p - (const char *)text));
  lmmw_blob_status_clear(out);
  return LMM_ERR_PROTO;
}

void lmmw_blob_status_mark(const lmmw_blob_status *s, uint8_t *missing, uint32_t k) {
  for (size_t r = 0; r < s->n_ranges; r++)
    for (uint32_t i = s->ranges[r][0]; i < k && i <= s->ranges[r][1]; i++) {
      lmmw_bit_set(missing, i);
      if (i == UINT32_MAX) break;
    }
}

/* ------------------------------------------------------------------ parity */

void lmmw_blob_parity(const lmmw_blob_desc *d, const uint8_t *blob, uint32_t j, uint8_t *out) {
  uint32_t k = lmmw_blob_k(d), q = lmmw_blob_q(d);
  memset(out, 0, d->frag);
  if (!q) return;
  for (uint32_t i = j; i < k; i += q) {
    const uint8_t *src = blob + (size_t)i * d->frag;
    size_t n = lmmw_blob_frag_len(d, i);
    for (size_t b = 0; b < n; b++)
      out[b] ^= src[b];
  }
}
