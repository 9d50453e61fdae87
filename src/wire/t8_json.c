/* t8_json.c - what the T8 encoders and decoders share: required members, the id in a self link,
 * the output text, MbmsLocArea and the shape of a collection. */
#include "lmm_wire/t8_json.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "t8_internal.h"

/* ---------------------------------------------------------------- helpers */

lmm_err lmmw_t8_fail_required(lmmw_t8_err *err, const char *base, const char *name) {
  char ptr[sizeof((lmmw_t8_err *)0)->param];

  lmmw_json_ptr(ptr, sizeof ptr, base, name, -1);
  return lmmw_json_fail(err, ptr, "is required");
}

lmm_err lmmw_t8_id_from_self(const char *self, char **id) {
  free(*id);
  *id = NULL;
  return lmmw_t8_link_segment(self, id);
}

lmm_err lmmw_t8_finish(cJSON *root, lmm_err rc, char **out) {
  char *text = NULL;

  if (rc == LMM_OK) rc = lmmw_json_print(root, &text);
  cJSON_Delete(root);
  if (rc == LMM_OK) *out = text;
  return rc;
}

/* ----------------------------------------------------------- MbmsLocArea */

static lmm_err loc_area_from_json(const cJSON *v, const char *ptr, lmm_mbms_loc_area **out,
                                  lmmw_t8_err *err) {
  lmm_mbms_loc_area *a;
  lmm_err rc;

  if (!cJSON_IsObject(v)) return lmmw_json_fail(err, ptr, REASON_OBJECT);
  if ((a = calloc(1, sizeof *a)) == NULL) return LMM_ERR_NOMEM;
  /* A null member inside is treated as absent: the area is replaced as a whole, never merged. */
  if ((rc = lmmw_json_get_strv(v, ptr, "cellId", &a->cell_ids, &a->n_cell_ids, NULL, err)) ||
      (rc = lmmw_json_get_strv(v, ptr, "enodeBId", &a->enodeb_ids, &a->n_enodeb_ids, NULL, err)) ||
      (rc = lmmw_json_get_objv_text(v, ptr, "geographicArea", &a->geographic_area_json, NULL,
                                    err)) ||
      (rc = lmmw_json_get_strv(v, ptr, "mbmsServiceAreaId", &a->service_area_ids,
                               &a->n_service_area_ids, NULL, err)) ||
      (rc = lmmw_json_get_objv_text(v, ptr, "civicAddress", &a->civic_address_json, NULL, err))) {
    lmm_mbms_loc_area_free(a);
    return rc;
  }
  *out = a;
  return LMM_OK;
}

lmm_err lmmw_t8_get_loc_area(const cJSON *obj, const char *base, lmm_mbms_loc_area **out,
                             lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;
  char ptr[sizeof((lmmw_t8_err *)0)->param];
  lmmw_jm m = lmmw_json_member(obj, "mbmsLocArea", &v);

  if (seen != NULL) *seen = m;
  if (m != LMMW_JM_VALUE) return LMM_OK;
  lmmw_json_ptr(ptr, sizeof ptr, base, "mbmsLocArea", -1);
  return loc_area_from_json(v, ptr, out, err);
}

lmm_err lmmw_t8_add_loc_area(cJSON *obj, const lmm_mbms_loc_area *a) {
  cJSON *o;
  lmm_err rc;

  if (a == NULL) return LMM_OK;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  if ((rc = lmmw_json_add_strv(o, "cellId", a->cell_ids, a->n_cell_ids)) ||
      (rc = lmmw_json_add_strv(o, "enodeBId", a->enodeb_ids, a->n_enodeb_ids)) ||
      (rc = lmmw_json_add_json(o, "geographicArea", a->geographic_area_json,
                               lmmw_json_check_objv)) ||
      (rc = lmmw_json_add_strv(o, "mbmsServiceAreaId", a->service_area_ids,
                               a->n_service_area_ids)) ||
      (rc = lmmw_json_add_json(o, "civicAddress", a->civic_address_json, lmmw_json_check_objv))) {
    cJSON_Delete(o);
    return rc;
  }
  if (!cJSON_AddItemToObject(obj, "mbmsLocArea", o)) {
    cJSON_Delete(o);
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}

lmm_err lmmw_t8_list_shape(const cJSON *doc, size_t *n, lmmw_t8_err *err) {
  if (cJSON_IsArray(doc))
    *n = (size_t)cJSON_GetArraySize(doc);
  else if (cJSON_IsObject(doc))
    *n = 1;
  else
    return lmmw_json_fail(err, "", "must be a JSON array or object");
  return LMM_OK;
}

lmm_err lmmw_t8_list_encode(const lmmw_t8_list_kind *k, const void *items, size_t n, char **out) {
  cJSON *arr;
  lmm_err rc = LMM_OK;

  if (out == NULL || (items == NULL && n != 0)) return LMM_ERR_ARG;
  if ((arr = cJSON_CreateArray()) == NULL) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      rc = LMM_ERR_NOMEM;
    } else {
      rc = k->encode((const char *)items + i * k->size, o);
    }
  }
  return lmmw_t8_finish(arr, rc, out);
}

lmm_err lmmw_t8_list_decode(const lmmw_t8_list_kind *k, const char *json, size_t len, void **out,
                            size_t *n, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  const cJSON *it;
  char *arr = NULL;
  size_t cnt = 0, i = 0;
  lmm_err rc;

  *out = NULL;
  *n = 0;
  if ((rc = lmmw_json_parse(json, len, &doc, err)) || (rc = lmmw_t8_list_shape(doc, &cnt, err)))
    goto out;
  /* Never NULL on success, even for "[]": callers test the pointer. */
  if ((arr = calloc(cnt != 0 ? cnt : 1, k->size)) == NULL) {
    rc = LMM_ERR_NOMEM;
    goto out;
  }
  for (size_t j = 0; k->init != NULL && j < cnt; j++)
    k->init(arr + j * k->size);
  if (cJSON_IsObject(doc)) {
    rc = k->decode(doc, "", arr, err);
    i = 1;
  } else {
    cJSON_ArrayForEach(it, doc) {
      char ptr[24];
      lmmw_json_ptr(ptr, sizeof ptr, "", NULL, (long)i);
      /* Counted first, so a failed item is cleared with the others. */
      i++;
      if ((rc = k->decode(it, ptr, arr + (i - 1) * k->size, err)) != LMM_OK) break;
    }
  }
  if (rc == LMM_OK) {
    *out = arr;
    *n = cnt;
    arr = NULL;
  }
out:
  if (arr != NULL) k->free_list(arr, i);
  cJSON_Delete(doc);
  return rc;
}
