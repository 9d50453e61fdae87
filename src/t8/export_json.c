/* export_json.c - public JSON views of T8 objects, for hosts and the CLI's --json output. */
#include "lmm_wire/t8_json.h"

LMM_API char *lmm_tmgi_allocation_to_json(const lmm_tmgi_allocation *a) {
  char *out = NULL;
  return a && lmmw_t8_tmgi_allocation_encode(a, 0, &out) == LMM_OK ? out : NULL;
}

LMM_API char *lmm_gmd_to_json(const lmm_gmd *g) {
  char *out = NULL;
  return g && lmmw_t8_gmd_encode(g, 0, &out) == LMM_OK ? out : NULL;
}

LMM_API char *lmm_problem_to_json(const lmm_problem *p) {
  char *out = NULL;
  return p && lmmw_t8_problem_encode(p, &out) == LMM_OK ? out : NULL;
}
