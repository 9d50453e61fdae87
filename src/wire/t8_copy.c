/* t8_copy.c - deep copies of the T8 types (the client's request snapshots and replies). */
#include "lmm_wire/t8_json.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "t8_internal.h"

/* ------------------------------------------------------------ deep copies */

static bool strv_dup(char **src, size_t n, char ***dst) {
  char **v;

  *dst = NULL;
  if (n == 0) return true;
  if (src == NULL || (v = calloc(n, sizeof *v)) == NULL) return false;
  *dst = v;
  for (size_t i = 0; i < n; i++)
    if (src[i] == NULL || (v[i] = strdup(src[i])) == NULL)
      return false; /* the caller frees the half-built copy with its count */
  return true;
}

lmm_mbms_loc_area *lmmw_t8_loc_area_dup(const lmm_mbms_loc_area *a) {
  lmm_mbms_loc_area *d;
  bool ok = true;

  if (a == NULL || (d = calloc(1, sizeof *d)) == NULL) return NULL;
  /* Counts are set before copying so the free below sees every allocated entry (the arrays
   * are calloc'd, so entries not reached are NULL). */
  d->n_cell_ids = a->n_cell_ids;
  d->n_enodeb_ids = a->n_enodeb_ids;
  d->n_service_area_ids = a->n_service_area_ids;
  ok = strv_dup(a->cell_ids, a->n_cell_ids, &d->cell_ids) &&
       strv_dup(a->enodeb_ids, a->n_enodeb_ids, &d->enodeb_ids) &&
       strv_dup(a->service_area_ids, a->n_service_area_ids, &d->service_area_ids);
  d->geographic_area_json = lmmw_strdup_or_null(a->geographic_area_json, &ok);
  d->civic_address_json = lmmw_strdup_or_null(a->civic_address_json, &ok);
  if (!ok) {
    lmm_mbms_loc_area_free(d);
    return NULL;
  }
  return d;
}

/* Copies the area when there is one; false on allocation failure. */
static bool area_copy(const lmm_mbms_loc_area *src, lmm_mbms_loc_area **dst) {
  *dst = NULL;
  return src == NULL || (*dst = lmmw_t8_loc_area_dup(src)) != NULL;
}

lmm_err lmmw_t8_tmgi_allocation_copy(lmm_tmgi_allocation *dst, const lmm_tmgi_allocation *src) {
  lmm_tmgi_allocation c = {0};
  bool ok = true;

  if (dst == NULL || src == NULL) return LMM_ERR_ARG;
  c.self = lmmw_strdup_or_null(src->self, &ok);
  c.tmgi = lmmw_strdup_or_null(src->tmgi, &ok);
  c.supported_features = lmmw_strdup_or_null(src->supported_features, &ok);
  c.external_group_id = lmmw_strdup_or_null(src->external_group_id, &ok);
  c.tmgi_expiration = src->tmgi_expiration;
  if (!ok || !area_copy(src->mbms_loc_area, &c.mbms_loc_area)) {
    lmm_tmgi_allocation_clear(&c);
    return LMM_ERR_NOMEM;
  }
  *dst = c;
  return LMM_OK;
}

lmm_err lmmw_t8_gmd_copy(lmm_gmd *dst, const lmm_gmd *src) {
  lmm_gmd c;
  bool ok = true;

  if (dst == NULL || src == NULL ||
      (src->has_payload && src->payload == NULL && src->payload_len != 0))
    return LMM_ERR_ARG;
  c = *src;
  c.self = lmmw_strdup_or_null(src->self, &ok);
  c.transaction_id = lmmw_strdup_or_null(src->transaction_id, &ok);
  c.notification_destination = lmmw_strdup_or_null(src->notification_destination, &ok);
  c.websock_notif_config_json = lmmw_strdup_or_null(src->websock_notif_config_json, &ok);
  c.external_group_id = lmmw_strdup_or_null(src->external_group_id, &ok);
  c.scef_ipv4 = lmmw_strdup_or_null(src->scef_ipv4, &ok);
  c.scef_ipv6 = lmmw_strdup_or_null(src->scef_ipv6, &ok);
  c.mbms_loc_area = NULL;
  c.payload = NULL;
  if (src->has_payload) {
    /* One byte at least, so an empty payload still has a non-NULL pointer. */
    if ((c.payload = malloc(src->payload_len != 0 ? src->payload_len : 1)) == NULL)
      ok = false;
    else if (src->payload_len != 0)
      memcpy(c.payload, src->payload, src->payload_len);
  } else {
    c.payload_len = 0;
  }
  if (!ok || !area_copy(src->mbms_loc_area, &c.mbms_loc_area)) {
    lmm_gmd_clear(&c);
    return LMM_ERR_NOMEM;
  }
  *dst = c;
  return LMM_OK;
}
