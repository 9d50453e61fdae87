/* t8_free.c - freeing the public T8 data types of lwm2m_mbms/t8.h. Here rather than in the
 * library because the decoders produce them and free them on failure: the wire library must not
 * depend on the library above it. Exported by the shared library (LMM_API). */
#include "lwm2m_mbms/t8.h"

#include <stdlib.h>
#include <string.h>

static void strv_free(char **v, size_t n) {
  if (v == NULL) return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

LMM_API void lmm_mbms_loc_area_free(lmm_mbms_loc_area *a) {
  if (a == NULL) return;
  strv_free(a->cell_ids, a->n_cell_ids);
  strv_free(a->enodeb_ids, a->n_enodeb_ids);
  strv_free(a->service_area_ids, a->n_service_area_ids);
  free(a->geographic_area_json);
  free(a->civic_address_json);
  free(a);
}

LMM_API void lmm_tmgi_allocation_clear(lmm_tmgi_allocation *a) {
  if (a == NULL) return;
  free(a->self);
  free(a->tmgi);
  free(a->supported_features);
  free(a->external_group_id);
  lmm_mbms_loc_area_free(a->mbms_loc_area);
  memset(a, 0, sizeof *a);
}

LMM_API void lmm_gmd_clear(lmm_gmd *g) {
  if (g == NULL) return;
  free(g->self);
  free(g->transaction_id);
  free(g->notification_destination);
  free(g->websock_notif_config_json);
  free(g->external_group_id);
  lmm_mbms_loc_area_free(g->mbms_loc_area);
  free(g->payload);
  free(g->scef_ipv4);
  free(g->scef_ipv6);
  memset(g, 0, sizeof *g);
  g->scef_port = -1; /* 0 is a valid port: -1 is the "absent" value */
}

LMM_API void lmm_problem_clear(lmm_problem *p) {
  if (p == NULL) return;
  free(p->type);
  free(p->title);
  free(p->detail);
  free(p->instance);
  free(p->cause);
  if (p->invalid_params != NULL) {
    for (size_t i = 0; i < p->n_invalid_params; i++) {
      free(p->invalid_params[i].param);
      free(p->invalid_params[i].reason);
    }
    free(p->invalid_params);
  }
  memset(p, 0, sizeof *p);
}

LMM_API void lmm_tmgi_allocation_list_free(lmm_tmgi_allocation *a, size_t n) {
  if (a == NULL) return;
  for (size_t i = 0; i < n; i++)
    lmm_tmgi_allocation_clear(&a[i]);
  free(a);
}

LMM_API void lmm_gmd_list_free(lmm_gmd *g, size_t n) {
  if (g == NULL) return;
  for (size_t i = 0; i < n; i++)
    lmm_gmd_clear(&g[i]);
  free(g);
}
