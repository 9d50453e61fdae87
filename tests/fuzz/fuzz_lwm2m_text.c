/* fuzz_lwm2m_text.c - libFuzzer target for the single-value formats of a device's answer, plain
 * text and opaque, under resource paths of each type (see fuzz_lwm2m.h for what must hold of
 * whatever decodes). */
#include "fuzz_lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lmm_obj_def gm;

  lmm_group_mgmt_def(LMM_GROUP_MGMT_OID, &gm);
  /* The bytes go in as they are (no NUL after them), so an over-read shows up under ASan. */
  one(LMM_FMT_TEXT, "/42769/0/9", data, size, &gm);
  one(LMM_FMT_TEXT, "/6/0/0", data, size, lmm_obj_def_oma(6));
  one(LMM_FMT_TEXT, "/3/0/13", data, size, lmm_obj_def_oma(3));
  one(LMM_FMT_TEXT, "/42769/0/0", data, size, NULL);
  one(LMM_FMT_OPAQUE, "/5/0/0", data, size, lmm_obj_def_oma(5));
  return 0;
}
