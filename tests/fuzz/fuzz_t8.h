/* fuzz_t8.h - what the T8 JSON fuzz targets share: a check that stays in release builds, and
 * the equality of decoded T8 values (for the decode, encode, decode-again round trips). */
#ifndef LMM_FUZZ_T8_H
#define LMM_FUZZ_T8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

/* Nothing runs out of memory in a fuzz run: LMM_ERR_NOMEM from a decode would be a text that
 * the codec's grammar check passed and cJSON then refused, reported as the wrong error. */
static inline lmm_err decoded(lmm_err rc) {
  CHECK(rc != LMM_ERR_NOMEM);
  return rc;
}

static inline bool str_eq(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static inline bool strv_eq(char **a, size_t na, char **b, size_t nb) {
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++)
    if (!str_eq(a[i], b[i])) return false;
  return true;
}

static inline bool area_eq(const lmm_mbms_loc_area *a, const lmm_mbms_loc_area *b) {
  if (a == NULL || b == NULL) return a == b;
  return strv_eq(a->cell_ids, a->n_cell_ids, b->cell_ids, b->n_cell_ids) &&
         strv_eq(a->enodeb_ids, a->n_enodeb_ids, b->enodeb_ids, b->n_enodeb_ids) &&
         strv_eq(a->service_area_ids, a->n_service_area_ids, b->service_area_ids,
                 b->n_service_area_ids) &&
         str_eq(a->geographic_area_json, b->geographic_area_json) &&
         str_eq(a->civic_address_json, b->civic_address_json);
}

static inline bool alloc_eq(const lmm_tmgi_allocation *a, const lmm_tmgi_allocation *b) {
  return str_eq(a->self, b->self) && str_eq(a->tmgi, b->tmgi) &&
         str_eq(a->supported_features, b->supported_features) &&
         str_eq(a->external_group_id, b->external_group_id) &&
         area_eq(a->mbms_loc_area, b->mbms_loc_area) && a->tmgi_expiration == b->tmgi_expiration;
}

static inline bool gmd_eq(const lmm_gmd *a, const lmm_gmd *b) {
  return str_eq(a->self, b->self) && str_eq(a->transaction_id, b->transaction_id) &&
         str_eq(a->notification_destination, b->notification_destination) &&
         a->has_request_test_notification == b->has_request_test_notification &&
         a->request_test_notification == b->request_test_notification &&
         str_eq(a->websock_notif_config_json, b->websock_notif_config_json) &&
         str_eq(a->external_group_id, b->external_group_id) &&
         area_eq(a->mbms_loc_area, b->mbms_loc_area) &&
         a->message_delivery_start_time == b->message_delivery_start_time &&
         a->has_payload == b->has_payload && a->payload_len == b->payload_len &&
         (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0) &&
         str_eq(a->scef_ipv4, b->scef_ipv4) && str_eq(a->scef_ipv6, b->scef_ipv6) &&
         a->scef_port == b->scef_port;
}

static inline bool problem_eq(const lmm_problem *a, const lmm_problem *b) {
  if (a->status != b->status || !str_eq(a->type, b->type) || !str_eq(a->title, b->title) ||
      !str_eq(a->detail, b->detail) || !str_eq(a->instance, b->instance) ||
      !str_eq(a->cause, b->cause) || a->n_invalid_params != b->n_invalid_params)
    return false;
  for (size_t i = 0; i < a->n_invalid_params; i++)
    if (!str_eq(a->invalid_params[i].param, b->invalid_params[i].param) ||
        !str_eq(a->invalid_params[i].reason, b->invalid_params[i].reason))
      return false;
  return true;
}

/* A failed decode must leave a terminated, pointer-shaped error. */
static inline void check_err(const lmmw_t8_err *e) {
  CHECK(memchr(e->param, '\0', sizeof e->param) != NULL);
  CHECK(memchr(e->reason, '\0', sizeof e->reason) != NULL);
  CHECK(e->param[0] == '\0' || e->param[0] == '/');
  CHECK(e->reason[0] != '\0');
}

#endif
