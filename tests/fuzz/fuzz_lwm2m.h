/* fuzz_lwm2m.h - what the LwM2M codec fuzz targets share: one decode under a request path
 * and a definition, whose records must be within the path, encode and decode again to the same
 * records (also across TLV and SenML), and survive the Group Mgmt struct mapping. */
#ifndef LMM_FUZZ_LWM2M_H
#define LMM_FUZZ_LWM2M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static inline bool path_eq(const lmm_path *a, const lmm_path *b) {
  return a->depth == b->depth && a->oid == b->oid && a->iid == b->iid && a->rid == b->rid &&
         (a->depth < 4 || a->riid == b->riid);
}

static inline bool value_eq(const lmm_value *a, const lmm_value *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    return a->str != NULL && b->str != NULL && strcmp(a->str, b->str) == 0;
  case LMM_RT_OPAQUE:
    return a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
  case LMM_RT_UNSIGNED:
    return a->v.u == b->v.u;
  case LMM_RT_FLOAT:
    /* Bit for bit: NaN payloads and the sign of zero must survive too. */
    return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
  case LMM_RT_BOOLEAN:
    return a->v.b == b->v.b;
  case LMM_RT_OBJLNK:
    return a->v.lnk.oid == b->v.lnk.oid && a->v.lnk.iid == b->v.lnk.iid;
  default:
    return a->v.i == b->v.i;
  }
}

static inline int path_cmp(const void *x, const void *y) {
  const lmm_path *a = &(*(const lmm_record *const *)x)->path;
  const lmm_path *b = &(*(const lmm_record *const *)y)->path;
  uint64_t ka = ((uint64_t)a->oid << 48) | ((uint64_t)a->iid << 32) | ((uint64_t)a->rid << 16) |
                (a->depth == 4 ? a->riid : 0);
  uint64_t kb = ((uint64_t)b->oid << 48) | ((uint64_t)b->iid << 32) | ((uint64_t)b->rid << 16) |
                (b->depth == 4 ? b->riid : 0);

  if (ka != kb) return ka < kb ? -1 : 1;
  return (a->depth > b->depth) - (a->depth < b->depth);
}

/* The same records in any order: TLV groups the instances of a resource and sorts, so the
 * order of a decode need not survive an encode. */
static inline bool records_eq(const lmm_records *a, const lmm_records *b) {
  const lmm_record **pa, **pb;
  bool eq = true;

  if (a->n != b->n) return false;
  if (a->n == 0) return true;
  pa = malloc(a->n * sizeof *pa);
  pb = malloc(b->n * sizeof *pb);
  CHECK(pa != NULL && pb != NULL);
  for (size_t i = 0; i < a->n; i++) {
    pa[i] = &a->items[i];
    pb[i] = &b->items[i];
  }
  qsort(pa, a->n, sizeof *pa, path_cmp);
  qsort(pb, b->n, sizeof *pb, path_cmp);
  for (size_t i = 0; i < a->n && eq; i++)
    eq = path_eq(&pa[i]->path, &pb[i]->path) && value_eq(&pa[i]->value, &pb[i]->value);
  free(pa);
  free(pb);
  return eq;
}

/* Encodes recs in fmt and decodes the result; the records must come back the same. */
static inline void reencode(uint16_t fmt, const lmm_path *base, const lmm_records *recs,
                            const lmm_obj_def *def) {
  lmm_records back = {0};
  uint8_t *enc = NULL;
  size_t n = 0;
  char why[160];

  CHECK(lmm_lwm2m_encode(fmt, base, recs->items, recs->n, &enc, &n) == LMM_OK);
  if (lmm_lwm2m_decode(fmt, base, enc, n, def, &back, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "re-decode failed: %s\n%.*s\n", why, (int)n, (const char *)enc);
    abort();
  }
  CHECK(records_eq(recs, &back));
  lmm_free(enc);
  lmm_records_clear(&back);
}

/* Group Mgmt records of /O/I must map to the struct and back to the same TLV bytes. */
static inline void group_mgmt(const lmm_path *base, const lmm_records *recs) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  lmm_records again = {0};
  uint8_t *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  char why[160] = "";

  if (lmm_group_mgmt_from_records(recs->items, recs->n, &g, why, sizeof why) != LMM_OK) {
    CHECK(why[0] != '\0');
    CHECK(g.group_id == NULL && g.tmgi == NULL && g.n_schedule == 0);
    return;
  }
  CHECK(g.group_type >= -1 && g.group_type <= 2);
  CHECK(g.multicast_port >= -1 && g.multicast_port <= 65535);
  CHECK(lmm_group_mgmt_to_records(&g, base->oid, base->iid, &again) == LMM_OK);
  /* TLV sorts, so equal sets of records give equal bytes whatever their order. */
  CHECK(lmm_lwm2m_encode(LMM_FMT_TLV, base, recs->items, recs->n, &a, &na) == LMM_OK);
  CHECK(lmm_lwm2m_encode(LMM_FMT_TLV, base, again.items, again.n, &b, &nb) == LMM_OK);
  CHECK(na == nb && (na == 0 || memcmp(a, b, na) == 0));
  lmm_free(a);
  lmm_free(b);
  lmm_records_clear(&again);
  lmm_group_mgmt_clear(&g);
}

static inline void one(uint16_t fmt, const char *path, const uint8_t *data, size_t size,
                       const lmm_obj_def *def) {
  lmm_records recs = {0};
  lmm_path base;
  char why[160];
  lmm_err rc;
  bool all_known = true, finite = true;

  CHECK(lmm_path_parse(path, &base) == LMM_OK);
  rc = lmm_lwm2m_decode(fmt, &base, data, size, def, &recs, why, sizeof why);
  if (rc != LMM_OK) {
    CHECK(rc == LMM_ERR_PROTO);
    CHECK(recs.n == 0 && recs.items == NULL);
    CHECK(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
    return;
  }
  for (size_t i = 0; i < recs.n; i++) {
    const lmm_record *r = &recs.items[i];
    CHECK(r->path.depth >= 3 && r->path.depth <= 4);
    CHECK(lmm_path_within(&base, &r->path));
    CHECK((r->value.type != LMM_RT_STRING && r->value.type != LMM_RT_CORELNK) ||
          r->value.str != NULL);
    if (lmm_obj_def_res(def, r->path.rid) == NULL) all_known = false;
    if (r->value.type == LMM_RT_FLOAT && !(r->value.v.f - r->value.v.f == 0)) finite = false;
  }
  reencode(fmt, &base, &recs, def);
  /* Across formats: TLV to SenML keeps everything JSON can hold; SenML to TLV keeps the types
   * only where the definition gives them (TLV carries none). */
  if (fmt == LMM_FMT_TLV && finite) reencode(LMM_FMT_SENML_JSON, &base, &recs, def);
  if (fmt == LMM_FMT_SENML_JSON && all_known) reencode(LMM_FMT_TLV, &base, &recs, def);
  if (def != NULL && def->oid == LMM_GROUP_MGMT_OID && base.depth == 2) group_mgmt(&base, &recs);
  lmm_records_clear(&recs);
}

#endif
