/* tlv_decode.c - OMA LwM2M TLV (content format 11542, LwM2M 1.1 Core clause 7.4.3): the
 * strict decoder. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

/* Path depth a TLV of each type stands for (object instance /O/I, resource /O/I/R, ...). */
static unsigned tlv_level(int type) {
  return type == LMMI_TLV_OBJ_INST ? 2u : type == LMMI_TLV_RES_INST ? 4u : 3u;
}

static const char *tlv_name(int type) {
  static const char *const names[] = {"object instance", "resource instance", "multiple resource",
                                      "resource"};
  return names[type & 3];
}

typedef struct dec {
  const uint8_t *buf;
  const lmm_path *base;
  const lmm_obj_def *def;
  lmm_records *out;
  size_t *off; /* header offset of each record's TLV, for the duplicate message */
  size_t off_cap;
  char *why;
  size_t cap;
} dec;

typedef struct tlv {
  int type;
  uint16_t id;
  size_t at;  /* offset of the type byte */
  size_t val; /* offset of the value */
  size_t len;
} tlv;

/* Reads the TLV header at `pos`, which must lie inside [pos, end) with its whole value. */
static lmm_err read_tlv(dec *d, size_t pos, size_t end, tlv *t) {
  const uint8_t *b = d->buf;
  size_t k = pos + 1, lt, need;
  uint8_t type;

  type = b[pos];
  t->type = type >> 6;
  t->at = pos;
  need = 1u + ((type & 0x20) ? 2u : 1u) + ((type >> 3) & 3u);
  if (end - pos < need)
    return lmmi_lwm2m_fail(d->why, d->cap,
                           "TLV at byte %zu: header of %zu bytes truncated (%zu left)", pos, need,
                           end - pos);
  if (type & 0x20) {
    t->id = (uint16_t)((b[k] << 8) | b[k + 1]);
    k += 2;
  } else {
    t->id = b[k++];
  }
  lt = (type >> 3) & 3u;
  if (lt == 0) {
    t->len = type & 7u;
  } else {
    t->len = 0;
    for (size_t i = 0; i < lt; i++)
      t->len = (t->len << 8) | b[k++];
  }
  t->val = k;
  if (t->id == 0xffffu)
    return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu: ID 65535 is reserved", pos);
  if (t->len > end - k)
    return lmmi_lwm2m_fail(d->why, d->cap,
                           "TLV at byte %zu: length %zu runs past the end of its container (%zu "
                           "bytes left)",
                           pos, t->len, end - k);
  return LMM_OK;
}

static uint64_t get_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;

  for (size_t i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* Turns the value bytes of t into a value of type `type`. */
static lmm_err decode_value(dec *d, const tlv *t, lmm_rtype type, const lmm_path *p, lmm_value *v) {
  const uint8_t *b = d->buf + t->val;
  size_t n = t->len;
  char path[32];

  memset(v, 0, sizeof *v);
  v->type = type;
  switch (type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (!lmmi_lwm2m_utf8_ok(b, n)) goto bad_text;
    if ((v->str = malloc(n + 1)) == NULL) return LMM_ERR_NOMEM;
    if (n != 0) memcpy(v->str, b, n);
    v->str[n] = '\0';
    return LMM_OK;
  case LMM_RT_OPAQUE:
    if ((v->bytes = malloc(n != 0 ? n : 1)) == NULL) return LMM_ERR_NOMEM;
    if (n != 0) memcpy(v->bytes, b, n);
    v->len = n;
    return LMM_OK;
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    if (n != 1 && n != 2 && n != 4 && n != 8) goto bad_int;
    {
      uint64_t u = get_be(b, n);
      /* Sign-extend from the top bit of the n-byte field. */
      if (n < 8 && (u >> (8u * n - 1u)) != 0) u |= ~(uint64_t)0 << (8u * n);
      memcpy(&v->v.i, &u, sizeof u);
    }
    return LMM_OK;
  case LMM_RT_UNSIGNED:
    if (n != 1 && n != 2 && n != 4 && n != 8) goto bad_int;
    v->v.u = get_be(b, n);
    return LMM_OK;
  case LMM_RT_FLOAT:
    if (n == 4) {
      uint32_t bits = (uint32_t)get_be(b, 4);
      float f;
      memcpy(&f, &bits, sizeof f);
      v->v.f = f;
    } else if (n == 8) {
      uint64_t bits = get_be(b, 8);
      memcpy(&v->v.f, &bits, sizeof bits);
    } else {
      return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu (%s): float length %zu is not 4 or 8",
                             t->at, lmm_path_format(p, path, sizeof path), n);
    }
    return LMM_OK;
  case LMM_RT_BOOLEAN:
    if (n != 1 || b[0] > 1)
      return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu (%s): a boolean is one byte, 0 or 1",
                             t->at, lmm_path_format(p, path, sizeof path));
    v->v.b = b[0] == 1;
    return LMM_OK;
  case LMM_RT_OBJLNK:
    if (n != 4)
      return lmmi_lwm2m_fail(d->why, d->cap,
                             "TLV at byte %zu (%s): an object link is 4 bytes, not %zu", t->at,
                             lmm_path_format(p, path, sizeof path), n);
    v->v.lnk.oid = (uint16_t)get_be(b, 2);
    v->v.lnk.iid = (uint16_t)get_be(b + 2, 2);
    return LMM_OK;
  case LMM_RT_NONE:
  default:
    return lmmi_lwm2m_fail(d->why, d->cap,
                           "TLV at byte %zu (%s): the resource has no value (executable)", t->at,
                           lmm_path_format(p, path, sizeof path));
  }
bad_text:
  return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu (%s): a string must be UTF-8 without NUL",
                         t->at, lmm_path_format(p, path, sizeof path));
bad_int:
  return lmmi_lwm2m_fail(d->why, d->cap,
                         "TLV at byte %zu (%s): integer length %zu is not 1, 2, 4 or 8", t->at,
                         lmm_path_format(p, path, sizeof path), n);
}

/* Decodes the leaf t at path p (depth 3 or 4) and appends it. */
static lmm_err add_leaf(dec *d, const tlv *t, const lmm_path *p) {
  const lmm_res_def *rd = lmm_obj_def_res(d->def, p->rid);
  lmm_value v;
  lmm_err rc;

  /* Without a definition (or for a resource it does not know) TLV says nothing about the type:
   * the bytes come out as they are. */
  if ((rc = decode_value(d, t, rd != NULL ? rd->type : LMM_RT_OPAQUE, p, &v)) != LMM_OK) {
    lmm_value_clear(&v);
    return rc;
  }
  if (d->out->n == d->off_cap) {
    size_t cap = d->off_cap != 0 ? d->off_cap * 2 : 16;
    size_t *off = realloc(d->off, cap * sizeof *off);
    if (off == NULL) {
      lmm_value_clear(&v);
      return LMM_ERR_NOMEM;
    }
    d->off = off;
    d->off_cap = cap;
  }
  d->off[d->out->n] = t->at;
  if ((rc = lmmi_lwm2m_records_push(d->out, p, &v)) != LMM_OK) lmm_value_clear(&v);
  return rc;
}

/* The definition must agree with how a resource arrived: instances only for a multiple
 * resource, a plain value only for a single one. Unknown resources take either form. */
static lmm_err check_shape(dec *d, const tlv *t, const lmm_path *p, bool as_instances) {
  const lmm_res_def *rd = lmm_obj_def_res(d->def, p->rid);
  char path[32];

  if (rd == NULL || rd->multiple == as_instances) return LMM_OK;
  return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu: %s is a %s resource but came as %s",
                         t->at, lmm_path_format(p, path, sizeof path),
                         as_instances ? "single" : "multiple",
                         as_instances ? "instances" : "one value");
}

static lmm_err decode_tlv(dec *d, const tlv *t, lmm_path p);

/* Decodes the TLVs filling [pos, end), children of a TLV of type parent_type at path p. */
static lmm_err decode_children(dec *d, size_t pos, size_t end, int parent_type, lmm_path p) {
  lmm_err rc;

  while (pos < end) {
    tlv c;
    bool ok;

    if ((rc = read_tlv(d, pos, end, &c)) != LMM_OK) return rc;
    ok = parent_type == LMMI_TLV_OBJ_INST ? (c.type == LMMI_TLV_RES || c.type == LMMI_TLV_MULTI_RES)
                                          : c.type == LMMI_TLV_RES_INST;
    if (!ok)
      return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu: %s TLV inside %s TLV is not allowed",
                             c.at, tlv_name(c.type), tlv_name(parent_type));
    if ((rc = decode_tlv(d, &c, p)) != LMM_OK) return rc;
    pos = c.val + c.len;
  }
  return LMM_OK;
}

/* Decodes t, whose parent stands for path p (the part of p deeper than t's level is unset). */
static lmm_err decode_tlv(dec *d, const tlv *t, lmm_path p) {
  lmm_err rc;

  switch (t->type) {
  case LMMI_TLV_OBJ_INST:
    p.iid = t->id;
    p.depth = 2;
    return decode_children(d, t->val, t->val + t->len, LMMI_TLV_OBJ_INST, p);
  case LMMI_TLV_MULTI_RES:
    p.rid = t->id;
    p.depth = 3;
    if ((rc = check_shape(d, t, &p, true)) != LMM_OK) return rc;
    return decode_children(d, t->val, t->val + t->len, LMMI_TLV_MULTI_RES, p);
  case LMMI_TLV_RES:
    p.rid = t->id;
    p.depth = 3;
    if ((rc = check_shape(d, t, &p, false)) != LMM_OK) return rc;
    return add_leaf(d, t, &p);
  default: /* LMMI_TLV_RES_INST */
    p.riid = t->id;
    p.depth = 4;
    return add_leaf(d, t, &p);
  }
}

/* A top-level TLV either stands one level below the base (/O/I -> resources) or repeats a part
 * of the base as a wrapper (an object instance TLV around the resources of /O/I); deeper ones
 * would leave a part of their path unknown. */
static lmm_err decode_top(dec *d, const tlv *t) {
  const lmm_path *base = d->base;
  unsigned lvl = tlv_level(t->type);
  lmm_path p = *base;
  char bpath[32];
  lmm_err rc;

  lmm_path_format(base, bpath, sizeof bpath);
  if (lvl > base->depth + 1u)
    return lmmi_lwm2m_fail(d->why, d->cap,
                           "TLV at byte %zu: %s TLV cannot stand at the top of a payload for %s",
                           t->at, tlv_name(t->type), bpath);
  if (lvl <= base->depth) {
    uint16_t want = lvl == 2 ? base->iid : lvl == 3 ? base->rid : base->riid;
    if (t->id != want)
      return lmmi_lwm2m_fail(d->why, d->cap, "TLV at byte %zu: %s %u is not the requested %s",
                             t->at, tlv_name(t->type), (unsigned)t->id, bpath);
  }
  /* A resource instance at the top belongs to the resource of the base (/O/I/R). */
  if (t->type == LMMI_TLV_RES_INST) {
    p.depth = 3;
    if ((rc = check_shape(d, t, &p, true)) != LMM_OK) return rc;
  }
  p.depth = (uint8_t)(lvl - 1u);
  return decode_tlv(d, t, p);
}

/* Appends the records of buf to `out` (the caller's scratch list). */
lmm_err lmmi_lwm2m_tlv_decode(const lmm_path *base, const uint8_t *buf, size_t len,
                              const lmm_obj_def *def, lmm_records *out, char *why, size_t cap) {
  dec d = {buf, base, def, out, NULL, 0, why, cap};
  size_t pos = 0, later = 0;
  lmm_err rc = LMM_OK;
  int dup;

  while (pos < len) {
    tlv t;
    if ((rc = read_tlv(&d, pos, len, &t)) != LMM_OK || (rc = decode_top(&d, &t)) != LMM_OK) break;
    pos = t.val + t.len;
  }
  if (rc == LMM_OK) {
    /* Every path lies under the base by construction; what remains is a leaf standing above
     * it (a resource TLV for /O/I/R/RI). */
    for (size_t i = 0; i < out->n; i++) {
      if (!lmm_path_within(base, &out->items[i].path)) {
        char p[32], b[32];
        rc = lmmi_lwm2m_fail(why, cap, "TLV at byte %zu: %s lies outside %s", d.off[i],
                             lmm_path_format(&out->items[i].path, p, sizeof p),
                             lmm_path_format(base, b, sizeof b));
        break;
      }
    }
  }
  if (rc == LMM_OK) {
    dup = lmmi_lwm2m_find_dup(out->items, out->n, &later);
    if (dup < 0) {
      rc = LMM_ERR_NOMEM;
    } else if (dup > 0) {
      char p[32];
      rc = lmmi_lwm2m_fail(why, cap,
                           "TLV at byte %zu: %s repeats or conflicts with an earlier record",
                           d.off[later], lmm_path_format(&out->items[later].path, p, sizeof p));
    }
  }
  free(d.off);
  return rc;
}
