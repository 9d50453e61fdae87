/* t8_tmgi.c - JSON of TMGIAllocation, its collection and its merge patch. */
#include "lmm_wire/t8_json.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "t8_internal.h"

/* -------------------------------------------------------- TMGIAllocation */

static lmm_err alloc_from_json(const cJSON *o, const char *base, unsigned flags,
                               lmm_tmgi_allocation *a, lmmw_t8_err *err) {
  lmm_err rc;

  if (!cJSON_IsObject(o)) return lmmw_json_fail(err, base, REASON_OBJECT);
  if ((flags & LMMW_T8_REJECT_RO) && (rc = lmmw_json_reject(o, base, "tmgiExpiration", err)))
    return rc;
  if ((rc = lmmw_json_get_str(o, base, "self", LMMW_JS_LINK, &a->self, NULL, err)) ||
      (rc = lmmw_json_get_str(o, base, "supportedFeatures", LMMW_JS_HEX, &a->supported_features,
                              NULL, err)) ||
      (rc = lmmw_json_get_str(o, base, "externalGroupId", LMMW_JS_EGID, &a->external_group_id, NULL,
                              err)) ||
      (rc = lmmw_t8_get_loc_area(o, base, &a->mbms_loc_area, NULL, err)) ||
      (rc = lmmw_json_get_time(o, base, "tmgiExpiration", &a->tmgi_expiration, NULL, err)))
    return rc;
  return lmmw_t8_id_from_self(a->self, &a->tmgi);
}

static lmm_err alloc_to_json(const lmm_tmgi_allocation *a, unsigned flags, cJSON *o) {
  lmm_err rc;

  if ((rc = lmmw_json_add_str(o, "self", a->self, LMMW_JS_LINK)) ||
      (rc = lmmw_json_add_str(o, "supportedFeatures", a->supported_features, LMMW_JS_HEX)) ||
      (rc = lmmw_json_add_str(o, "externalGroupId", a->external_group_id, LMMW_JS_EGID)) ||
      (rc = lmmw_t8_add_loc_area(o, a->mbms_loc_area)))
    return rc;
  /* 0 is "absent": the epoch itself is never a real expiry. */
  if (!(flags & LMMW_T8_OMIT_RO) && a->tmgi_expiration != 0)
    return lmmw_json_add_time(o, "tmgiExpiration", a->tmgi_expiration);
  return LMM_OK;
}

lmm_err lmmw_t8_tmgi_allocation_encode(const lmm_tmgi_allocation *a, unsigned flags, char **out) {
  cJSON *o;

  if (a == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  return lmmw_t8_finish(o, alloc_to_json(a, flags, o), out);
}

lmm_err lmmw_t8_tmgi_allocation_decode(const char *json, size_t len, unsigned flags,
                                       lmm_tmgi_allocation *out, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  lmm_err rc;

  if (out == NULL) return LMM_ERR_ARG;
  memset(out, 0, sizeof *out);
  if ((rc = lmmw_json_parse(json, len, &doc, err)) == LMM_OK)
    rc = alloc_from_json(doc, "", flags, out, err);
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_tmgi_allocation_clear(out);
  return rc;
}

/* The collection's items, for the list helpers of t8_json.c. */
static lmm_err alloc_item_decode(const cJSON *o, const char *ptr, void *item, lmmw_t8_err *err) {
  return alloc_from_json(o, ptr, 0, item, err);
}

static lmm_err alloc_item_encode(const void *item, cJSON *o) {
  return alloc_to_json(item, 0, o);
}

static void alloc_items_free(void *items, size_t n) {
  lmm_tmgi_allocation_list_free(items, n);
}

static const lmmw_t8_list_kind alloc_list = {sizeof(lmm_tmgi_allocation), NULL, alloc_item_decode,
                                             alloc_item_encode, alloc_items_free};

lmm_err lmmw_t8_tmgi_allocation_list_encode(const lmm_tmgi_allocation *a, size_t n, char **out) {
  return lmmw_t8_list_encode(&alloc_list, a, n, out);
}

lmm_err lmmw_t8_tmgi_allocation_list_decode(const char *json, size_t len, lmm_tmgi_allocation **out,
                                            size_t *n, lmmw_t8_err *err) {
  void *items = NULL;
  lmm_err rc;

  if (out == NULL || n == NULL) return LMM_ERR_ARG;
  rc = lmmw_t8_list_decode(&alloc_list, json, len, &items, n, err);
  *out = items;
  return rc;
}

lmm_err lmmw_t8_tmgi_patch_encode(const lmm_tmgi_allocation_patch *p, char **out) {
  cJSON *o;
  lmm_err rc = LMM_OK;

  if (p == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  /* RFC 7396: a member set to null removes it; members not set stay out of the body. */
  if (p->set_external_group_id)
    rc = p->external_group_id == NULL
             ? lmmw_json_add_null(o, "externalGroupId")
             : lmmw_json_add_str(o, "externalGroupId", p->external_group_id, LMMW_JS_EGID);
  if (rc == LMM_OK && p->set_mbms_loc_area)
    rc = p->mbms_loc_area == NULL ? lmmw_json_add_null(o, "mbmsLocArea")
                                  : lmmw_t8_add_loc_area(o, p->mbms_loc_area);
  return lmmw_t8_finish(o, rc, out);
}

lmm_err lmmw_t8_tmgi_patch_decode(const char *json, size_t len, lmm_tmgi_allocation *out,
                                  unsigned *present, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  lmmw_jm egid = LMMW_JM_ABSENT, area = LMMW_JM_ABSENT;
  lmm_err rc;

  if (out == NULL || present == NULL) return LMM_ERR_ARG;
  memset(out, 0, sizeof *out);
  *present = 0;
  if ((rc = lmmw_json_parse(json, len, &doc, err))) goto out;
  if (!cJSON_IsObject(doc)) {
    rc = lmmw_json_fail(err, "", REASON_OBJECT);
    goto out;
  }
  /* tmgiExpiration is not in the patch schema, but sending it means the client believes it
   * can set it: say so rather than silently ignore it. */
  if ((rc = lmmw_json_reject(doc, "", "tmgiExpiration", err)) ||
      (rc = lmmw_json_get_str(doc, "", "externalGroupId", LMMW_JS_EGID, &out->external_group_id,
                              &egid, err)) ||
      (rc = lmmw_t8_get_loc_area(doc, "", &out->mbms_loc_area, &area, err)))
    goto out;
  *present = (egid != LMMW_JM_ABSENT ? LMMW_T8_GP_EXTERNAL_GROUP_ID : 0u) |
             (area != LMMW_JM_ABSENT ? LMMW_T8_GP_MBMS_LOC_AREA : 0u);
out:
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_tmgi_allocation_clear(out);
  return rc;
}
