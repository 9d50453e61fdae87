/* fuzz_senml.c - libFuzzer target for the SenML-JSON decoder (LwM2M 1.1 devices' answers): the
 * input is decoded under several request paths, with and without the object's definition (see
 * fuzz_lwm2m.h for what must hold of whatever decodes). */
#include "fuzz_lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lmm_obj_def gm;

  lmm_group_mgmt_def(LMM_GROUP_MGMT_OID, &gm);
  /* The bytes go in as they are (no NUL after them), so an over-read shows up under ASan. */
  one(LMM_FMT_SENML_JSON, "/42769/0", data, size, &gm);
  one(LMM_FMT_SENML_JSON, "/42769", data, size, NULL);
  one(LMM_FMT_SENML_JSON, "/42769/0/8", data, size, &gm);
  one(LMM_FMT_SENML_JSON, "/6/0", data, size, lmm_obj_def_oma(6));
  one(LMM_FMT_SENML_JSON, "/3", data, size, lmm_obj_def_oma(3));
  return 0;
}
