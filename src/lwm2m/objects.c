/* objects.c - lookups in the built-in object definitions: the core objects 0-7 and the Group
 * Mgmt object, whose tables are generated from the shipped DDF files (builtin.h). */
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/builtin.h"
#include "lwm2m_mbms/lwm2m.h"

#define N_OF(a) (sizeof(a) / sizeof *(a))

LMM_API const lmm_obj_def *lmm_obj_def_oma(uint16_t oid) {
  /* The generator checks that the table holds 0..n-1 in order: the ID is the index. */
  return oid < lmmi_builtin_n_objects ? &lmmi_builtin_objects[oid] : NULL;
}

LMM_API const lmm_res_def *lmm_obj_def_res(const lmm_obj_def *def, uint16_t rid) {
  if (def == NULL || def->res == NULL) return NULL;
  /* A linear scan: tables hold a few dozen entries at most, and nothing requires a DDF to
   * list its resources in order. */
  for (size_t i = 0; i < def->n_res; i++)
    if (def->res[i].id == rid) return &def->res[i];
  return NULL;
}

/* URNs of the test range 42769..42800. A URN must point at storage that outlives the
 * definition, and the ID is a parameter, so the texts are spelled out for the range the
 * project uses. The "x" form marks an unregistered object; OMA assigns the real URN together
 * with the ID. */
#define GM_URN(n) "urn:oma:lwm2m:x:" #n
static const char *const group_mgmt_urns[] = {
    GM_URN(42769), GM_URN(42770), GM_URN(42771), GM_URN(42772), GM_URN(42773), GM_URN(42774),
    GM_URN(42775), GM_URN(42776), GM_URN(42777), GM_URN(42778), GM_URN(42779), GM_URN(42780),
    GM_URN(42781), GM_URN(42782), GM_URN(42783), GM_URN(42784), GM_URN(42785), GM_URN(42786),
    GM_URN(42787), GM_URN(42788), GM_URN(42789), GM_URN(42790), GM_URN(42791), GM_URN(42792),
    GM_URN(42793), GM_URN(42794), GM_URN(42795), GM_URN(42796), GM_URN(42797), GM_URN(42798),
    GM_URN(42799), GM_URN(42800),
};
#define GM_URN_FIRST 42769u

LMM_API void lmm_group_mgmt_def(uint16_t oid, lmm_obj_def *out) {
  if (out == NULL) return;
  *out = lmmi_group_mgmt_template;
  out->oid = oid;
  /* Outside the test range no text exists for the ID: NULL, like an absent range or unit. */
  out->urn = oid >= GM_URN_FIRST && oid - GM_URN_FIRST < N_OF(group_mgmt_urns)
                 ? group_mgmt_urns[oid - GM_URN_FIRST]
                 : NULL;
}
