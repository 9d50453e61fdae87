/* fuzz_ddf.c - libFuzzer target for the DDF reader, which reads operators' and vendors' files:
 * whatever parses must be a definition the rest of the library can trust (names set, IDs
 * unique and in range, types and operations valid), and whatever fails must leave the
 * registry as it was. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/ddf.h"
#include "lwm2m_mbms/objects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static void check_def(const lmm_obj_def *d) {
  CHECK(d->name && *d->name && d->version && d->oid != 65535);
  CHECK(d->n_res > 0 && d->res);
  for (size_t i = 0; i < d->n_res; i++) {
    const lmm_res_def *r = &d->res[i];
    CHECK(r->name && *r->name && r->id != 65535);
    CHECK(r->type <= LMM_RT_CORELNK && (r->ops & ~7u) == 0);
    CHECK(r->type != LMM_RT_NONE || r->ops == LMM_OP_E || r->ops == 0);
    CHECK(lmm_obj_def_res(d, r->id) == r); /* IDs are unique: the lookup finds this one */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lmmi_ddf_list l = {0};
  char why[256];
  lmm_err e = lmmi_ddf_parse("fuzz.xml", data, size, &l, why, sizeof why);
  if (e == LMM_OK) {
    CHECK(l.n > 0);
    for (size_t i = 0; i < l.n; i++)
      check_def(l.defs[i]);
  } else {
    CHECK(l.n == 0 && !strncmp(why, "fuzz.xml", 8));
  }
  lmmi_ddf_list_clear(&l);

  /* The registry: a file that fails adds nothing; one that loads is found by its IDs. */
  lmm_objects *o = NULL;
  CHECK(lmm_objects_new(&o) == LMM_OK);
  e = lmm_objects_load_mem(o, "fuzz.xml", data, size);
  if (e == LMM_OK) {
    for (size_t i = 0; i < lmm_objects_count(o); i++)
      CHECK(lmm_objects_get(o, lmm_objects_at(o, i)->oid) == lmm_objects_at(o, i));
    /* The same file again is a redefinition of everything in it. */
    size_t n = lmm_objects_count(o);
    CHECK(lmm_objects_load_mem(o, "again.xml", data, size) == LMM_ERR_ARG);
    CHECK(lmm_objects_count(o) == n);
  } else {
    CHECK(lmm_objects_count(o) == 0 && *lmm_objects_errmsg(o));
  }
  lmm_objects_free(o);
  return 0;
}
