/* tlv.c - OMA LwM2M TLV (content format 11542, LwM2M 1.1 Core clause 7.4.3): encoder and
 * strict decoder. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

/* Bits 7-6 of the type byte. */
enum { TLV_OBJ_INST = 0, TLV_RES_INST = 1, TLV_MULTI_RES = 2, TLV_RES = 3 };

/* The largest value a TLV can carry: the length field is at most 24 bits. */
#define TLV_MAX_LEN 0xffffffu

/* Path depth a TLV of each type stands for (object instance /O/I, resource /O/I/R, ...). */
static unsigned tlv_level(int type) {
  return type == TLV_OBJ_INST ? 2u : type == TLV_RES_INST ? 4u : 3u;
}

static const char *tlv_name(int type) {
  static const char *const names[] = {"object instance", "resource instance", "multiple resource",
                                      "resource"};
  return names[type & 3];
}

/* ================================================================ encoder */

static size_t header_len(uint16_t id, size_t len) {
  return 1u + (id > 0xffu ? 2u : 1u) +
         (len < 8u         ? 0u
          : len <= 0xffu   ? 1u
          : len <= 0xffffu ? 2u
                           : 3u);
}

static size_t put_header(uint8_t *p, int type, uint16_t id, size_t len) {
  size_t k = 1;
  uint8_t t = (uint8_t)(type << 6);

  if (id > 0xffu) {
    t |= 0x20;
    p[k++] = (uint8_t)(id >> 8);
  }
  p[k++] = (uint8_t)id;
  if (len < 8u) {
    t |= (uint8_t)len;
  } else if (len <= 0xffu) {
    t |= 0x08;
    p[k++] = (uint8_t)len;
  } else if (len <= 0xffffu) {
    t |= 0x10;
    p[k++] = (uint8_t)(len >> 8);
    p[k++] = (uint8_t)len;
  } else {
    t |= 0x18;
    p[k++] = (uint8_t)(len >> 16);
    p[k++] = (uint8_t)(len >> 8);
    p[k++] = (uint8_t)len;
  }
  p[0] = t;
  return k;
}

/* Smallest of 1, 2, 4, 8 bytes holding v in two's complement. */
static size_t int_len(int64_t v) {
  if (v >= INT8_MIN && v <= INT8_MAX) return 1;
  if (v >= INT16_MIN && v <= INT16_MAX) return 2;
  if (v >= INT32_MIN && v <= INT32_MAX) return 4;
  return 8;
}

static size_t uint_len(uint64_t v) {
  return v <= 0xffu ? 1 : v <= 0xffffu ? 2 : v <= 0xffffffffu ? 4 : 8;
}

/* A float goes in 4 bytes when single precision holds it exactly (the range check first:
 * converting an out-of-range double to float is undefined behaviour). No fabs(): the library
 * does not link libm. */
static bool fits_float(double d) {
  return isfinite(d) && d <= FLT_MAX && d >= -FLT_MAX && (double)(float)d == d;
}

static void put_be(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8u * (n - 1u - i)));
}

/* Length of the value bytes of v, or SIZE_MAX when v cannot be carried in TLV. */
static size_t value_len(const lmm_value *v) {
  size_t n;

  switch (v->type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (v->str == NULL) return 0;
    n = strlen(v->str);
    /* Refuse what the decoder would refuse, so that our own output always reads back. */
    return lmmi_lwm2m_utf8_ok((const uint8_t *)v->str, n) ? n : SIZE_MAX;
  case LMM_RT_OPAQUE:
    return v->bytes == NULL && v->len != 0 ? SIZE_MAX : v->len;
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    return int_len(v->v.i);
  case LMM_RT_UNSIGNED:
    return uint_len(v->v.u);
  case LMM_RT_FLOAT:
    return fits_float(v->v.f) ? 4 : 8;
  case LMM_RT_BOOLEAN:
    return 1;
  case LMM_RT_OBJLNK:
    return 4;
  case LMM_RT_NONE:
  default:
    return SIZE_MAX;
  }
}

static void put_value(uint8_t *p, const lmm_value *v, size_t n) {
  switch (v->type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (n != 0) memcpy(p, v->str, n);
    break;
  case LMM_RT_OPAQUE:
    if (n != 0) memcpy(p, v->bytes, n);
    break;
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    put_be(p, (uint64_t)v->v.i, n);
    break;
  case LMM_RT_UNSIGNED:
    put_be(p, v->v.u, n);
    break;
  case LMM_RT_FLOAT:
    if (n == 4) {
      float f = (float)v->v.f;
      uint32_t bits;
      memcpy(&bits, &f, sizeof bits);
      put_be(p, bits, 4);
    } else {
      uint64_t bits;
      memcpy(&bits, &v->v.f, sizeof bits);
      put_be(p, bits, 8);
    }
    break;
  case LMM_RT_BOOLEAN:
    p[0] = v->v.b ? 1 : 0;
    break;
  case LMM_RT_OBJLNK:
    put_be(p, ((uint64_t)v->v.lnk.oid << 16) | v->v.lnk.iid, 4);
    break;
  default:
    break;
  }
}

typedef struct enc {
  const lmm_record *recs;
  const size_t *order; /* sorted positions, or NULL when the input already is in order */
  const size_t *vlen;  /* value length by original index */
} enc;

static size_t enc_idx(const enc *e, size_t i) {
  return e->order != NULL ? e->order[i] : i;
}

static const lmm_path *enc_path(const enc *e, size_t i) {
  return &e->recs[enc_idx(e, i)].path;
}

/* Each emit_* writes at p when p is not NULL and returns the bytes it takes: called with NULL
 * first to size a wrapper's content, then again to write it. */

/* One resource: records [i, j) share (iid, rid); one record at depth 3 is a plain resource,
 * records at depth 4 its instances. */
static size_t emit_resource(const enc *e, size_t i, size_t j, uint8_t *p) {
  const lmm_path *first = enc_path(e, i);
  size_t content = 0, k;

  if (first->depth == 3) {
    size_t n = e->vlen[enc_idx(e, i)];
    k = p != NULL ? put_header(p, TLV_RES, first->rid, n) : header_len(first->rid, n);
    if (p != NULL) put_value(p + k, &e->recs[enc_idx(e, i)].value, n);
    return k + n;
  }
  for (size_t x = i; x < j; x++) {
    size_t n = e->vlen[enc_idx(e, x)];
    content += header_len(enc_path(e, x)->riid, n) + n;
  }
  if (p == NULL) return header_len(first->rid, content) + content;
  k = put_header(p, TLV_MULTI_RES, first->rid, content);
  for (size_t x = i; x < j; x++) {
    size_t idx = enc_idx(e, x), n = e->vlen[idx];
    k += put_header(p + k, TLV_RES_INST, e->recs[idx].path.riid, n);
    put_value(p + k, &e->recs[idx].value, n);
    k += n;
  }
  return k;
}

/* The resources of one instance: records [i, j) share the iid. */
static size_t emit_resources(const enc *e, size_t i, size_t j, uint8_t *p) {
  size_t total = 0;

  while (i < j) {
    size_t g = i + 1;
    while (g < j && enc_path(e, g)->rid == enc_path(e, i)->rid)
      g++;
    total += emit_resource(e, i, g, p != NULL ? p + total : NULL);
    i = g;
  }
  return total;
}

/* Object instance TLVs around the resources, one per iid (a payload for /O). */
static size_t emit_instances(const enc *e, size_t n, uint8_t *p) {
  size_t total = 0, i = 0;

  while (i < n) {
    size_t g = i + 1, content, k;
    uint16_t iid = enc_path(e, i)->iid;

    while (g < n && enc_path(e, g)->iid == iid)
      g++;
    content = emit_resources(e, i, g, NULL);
    if (p == NULL) {
      total += header_len(iid, content) + content;
    } else {
      k = put_header(p + total, TLV_OBJ_INST, iid, content);
      emit_resources(e, i, g, p + total + k);
      total += k + content;
    }
    i = g;
  }
  return total;
}

static size_t emit_all(const enc *e, const lmm_path *base, size_t n, uint8_t *p) {
  if (base->depth == 1) return emit_instances(e, n, p);
  if (base->depth == 4) {
    /* One resource instance on its own: no multiple-resource wrapper. */
    size_t len = e->vlen[enc_idx(e, 0)], k;
    if (p == NULL) return header_len(base->riid, len) + len;
    k = put_header(p, TLV_RES_INST, base->riid, len);
    put_value(p + k, &e->recs[enc_idx(e, 0)].value, len);
    return k + len;
  }
  return emit_resources(e, 0, n, p);
}

/* Order of records inside one object: instance, resource, then the plain value before (the
 * conflicting) instances, then instance ID. */
static int path_cmp(const lmm_path *a, const lmm_path *b) {
  if (a->iid != b->iid) return a->iid < b->iid ? -1 : 1;
  if (a->rid != b->rid) return a->rid < b->rid ? -1 : 1;
  if (a->depth != b->depth) return a->depth < b->depth ? -1 : 1;
  if (a->depth == 4 && a->riid != b->riid) return a->riid < b->riid ? -1 : 1;
  return 0;
}

typedef struct sort_item {
  const lmm_path *path;
  size_t idx;
} sort_item;

static int sort_cmp(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  int c = path_cmp(x->path, y->path);

  return c != 0 ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* The caller (codec.c) has checked that every record is a valid path of depth 3 or 4 under
 * base. Encoding is on the path of writing the Group Mgmt object to every member, so it sizes
 * the payload first and allocates once; small inputs need no other allocation. */
lmm_err lmmi_lwm2m_tlv_encode(const lmm_path *base, const lmm_record *recs, size_t n, uint8_t **out,
                              size_t *out_len) {
  size_t stack_vlen[32], stack_order[32], *vlen = stack_vlen, *order = NULL, total;
  sort_item *items = NULL;
  uint8_t *buf = NULL;
  bool sorted = true;
  enc e;
  lmm_err rc = LMM_ERR_ARG;

  if (base->depth == 4 && n != 1) return LMM_ERR_ARG;
  if (n > sizeof stack_vlen / sizeof *stack_vlen) {
    if (n > SIZE_MAX / sizeof *vlen / 2) return LMM_ERR_NOMEM;
    if ((vlen = malloc(2 * n * sizeof *vlen)) == NULL) return LMM_ERR_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    vlen[i] = value_len(&recs[i].value);
    if (vlen[i] > TLV_MAX_LEN) goto out; /* SIZE_MAX too: a type TLV has no form for */
    if (i > 0 && path_cmp(&recs[i - 1].path, &recs[i].path) >= 0) sorted = false;
  }
  if (!sorted) {
    order = vlen != stack_vlen ? vlen + n : stack_order;
    if ((items = malloc(n * sizeof *items)) == NULL) {
      rc = LMM_ERR_NOMEM;
      goto out;
    }
    for (size_t i = 0; i < n; i++)
      items[i] = (sort_item){&recs[i].path, i};
    qsort(items, n, sizeof *items, sort_cmp);
    for (size_t i = 0; i < n; i++)
      order[i] = items[i].idx;
  }
  e = (enc){recs, order, vlen};
  /* Two records for one path, or a resource given both as a value and as instances, have no
   * TLV form. Sorted, they are neighbours. */
  for (size_t i = 1; i < n; i++) {
    const lmm_path *a = enc_path(&e, i - 1), *b = enc_path(&e, i);
    if (a->iid == b->iid && a->rid == b->rid &&
        (a->depth == 3 || b->depth == 3 || a->riid == b->riid))
      goto out;
  }
  total = emit_all(&e, base, n, NULL);
  /* Wrappers must fit a 24-bit length as well. */
  if (base->depth == 1) {
    for (size_t i = 0; i < n;) {
      size_t g = i + 1;
      while (g < n && enc_path(&e, g)->iid == enc_path(&e, i)->iid)
        g++;
      if (emit_resources(&e, i, g, NULL) > TLV_MAX_LEN) goto out;
      i = g;
    }
  }
  for (size_t i = 0; i < n;) {
    size_t g = i + 1, content = 0;
    while (g < n && enc_path(&e, g)->iid == enc_path(&e, i)->iid &&
           enc_path(&e, g)->rid == enc_path(&e, i)->rid)
      g++;
    for (size_t x = i; x < g && enc_path(&e, i)->depth == 4; x++)
      content += header_len(enc_path(&e, x)->riid, vlen[enc_idx(&e, x)]) + vlen[enc_idx(&e, x)];
    if (content > TLV_MAX_LEN) goto out;
    i = g;
  }
  if ((buf = malloc(total != 0 ? total : 1)) == NULL) {
    rc = LMM_ERR_NOMEM;
    goto out;
  }
  emit_all(&e, base, n, buf);
  *out = buf;
  *out_len = total;
  rc = LMM_OK;
out:
  free(items);
  if (vlen != stack_vlen) free(vlen);
  return rc;
}

/* ================================================================ decoder */

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
    ok = parent_type == TLV_OBJ_INST ? (c.type == TLV_RES || c.type == TLV_MULTI_RES)
                                     : c.type == TLV_RES_INST;
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
  case TLV_OBJ_INST:
    p.iid = t->id;
    p.depth = 2;
    return decode_children(d, t->val, t->val + t->len, TLV_OBJ_INST, p);
  case TLV_MULTI_RES:
    p.rid = t->id;
    p.depth = 3;
    if ((rc = check_shape(d, t, &p, true)) != LMM_OK) return rc;
    return decode_children(d, t->val, t->val + t->len, TLV_MULTI_RES, p);
  case TLV_RES:
    p.rid = t->id;
    p.depth = 3;
    if ((rc = check_shape(d, t, &p, false)) != LMM_OK) return rc;
    return add_leaf(d, t, &p);
  default: /* TLV_RES_INST */
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
  if (t->type == TLV_RES_INST) {
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
