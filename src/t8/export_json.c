/* export_json.c - public JSON views of T8 objects, for hosts and the CLI's --json output. */
#include "t8/codec.h"

LMM_API char *lmm_tmgi_allocation_to_json(const lmm_tmgi_allocation *a) {
  char *out = NULL;
  return a && lmmi_j_tmgi_allocation_encode(a, 0, &out) == LMM_OK ? out : NULL;
}

LMM_API char *lmm_gmd_to_json(const lmm_gmd *g) {
  char *out = NULL;
  return g && lmmi_j_gmd_encode(g, 0, &out) == LMM_OK ? out : NULL;
}

LMM_API char *lmm_problem_to_json(const lmm_problem *p) {
  char *out = NULL;
  return p && lmmi_j_problem_encode(p, &out) == LMM_OK ? out : NULL;
}
