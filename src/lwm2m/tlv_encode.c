/* tlv_encode.c - OMA LwM2M TLV (content format 11542, LwM2M 1.1 Core clause 7.4.3): the
 * encoder. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

/* The largest value a TLV can carry: the length field is at most 24 bits. */
#define TLV_MAX_LEN 0xffffffu

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
    k = p != NULL ? put_header(p, LMMI_TLV_RES, first->rid, n) : header_len(first->rid, n);
    if (p != NULL) put_value(p + k, &e->recs[enc_idx(e, i)].value, n);
    return k + n;
  }
  for (size_t x = i; x < j; x++) {
    size_t n = e->vlen[enc_idx(e, x)];
    content += header_len(enc_path(e, x)->riid, n) + n;
  }
  if (p == NULL) return header_len(first->rid, content) + content;
  k = put_header(p, LMMI_TLV_MULTI_RES, first->rid, content);
  for (size_t x = i; x < j; x++) {
    size_t idx = enc_idx(e, x), n = e->vlen[idx];
    k += put_header(p + k, LMMI_TLV_RES_INST, e->recs[idx].path.riid, n);
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
      k = put_header(p + total, LMMI_TLV_OBJ_INST, iid, content);
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
    k = put_header(p, LMMI_TLV_RES_INST, base->riid, len);
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
