/* fuzz_t8_gmd.c - libFuzzer target for the SCEF's "GMD via MBMS by MB2" answers: a
 * GMDViaMBMSByMb2 (the 201 of a create, a GET, with the user-plane address), the collection
 * GET's list, and the merge-patch body; whatever decodes must encode, decode again to the same
 * values, and copy to the same values. */
#include "fuzz_t8.h"

static void fuzz_gmd(const char *s, size_t n, unsigned flags) {
  lmm_gmd a, b, c;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_gmd_decode(s, n, flags, &a, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(a.self == NULL && a.payload == NULL && a.scef_port == -1);
    return;
  }
  CHECK(!a.has_payload || a.payload != NULL);
  CHECK(a.scef_port >= -1 && a.scef_port <= 65535);
  CHECK(lmmw_t8_gmd_encode(&a, 0, &json) == LMM_OK);
  CHECK(lmmw_t8_gmd_decode(json, strlen(json), 0, &b, &e) == LMM_OK);
  CHECK(gmd_eq(&a, &b));
  CHECK(lmmw_t8_gmd_copy(&c, &a) == LMM_OK);
  CHECK(gmd_eq(&a, &c));
  free(json);
  CHECK(lmmw_t8_gmd_encode(&a, LMMW_T8_OMIT_RO, &json) == LMM_OK);
  lmm_gmd_clear(&b);
  CHECK(lmmw_t8_gmd_decode(json, strlen(json), LMMW_T8_REJECT_RO, &b, &e) == LMM_OK);
  CHECK(b.scef_ipv4 == NULL && b.scef_ipv6 == NULL && b.scef_port == -1);
  free(json);
  lmm_gmd_clear(&a);
  lmm_gmd_clear(&b);
  lmm_gmd_clear(&c);
}

static void fuzz_gmd_list(const char *s, size_t n) {
  lmm_gmd *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_gmd_list_decode(s, n, &a, &na, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(a == NULL && na == 0);
    return;
  }
  CHECK(lmmw_t8_gmd_list_encode(a, na, &json) == LMM_OK);
  CHECK(lmmw_t8_gmd_list_decode(json, strlen(json), &b, &nb, &e) == LMM_OK);
  CHECK(na == nb);
  for (size_t i = 0; i < na; i++)
    CHECK(gmd_eq(&a[i], &b[i]));
  free(json);
  lmm_gmd_list_free(a, na);
  lmm_gmd_list_free(b, nb);
}

static void fuzz_gmd_patch(const char *s, size_t n) {
  lmm_gmd a, b;
  lmm_gmd_patch p;
  unsigned pa = 0, pb = 0;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_gmd_patch_decode(s, n, &a, &pa, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(pa == 0);
    return;
  }
  memset(&p, 0, sizeof p);
  p.set_external_group_id = (pa & LMMW_T8_GP_EXTERNAL_GROUP_ID) != 0;
  p.external_group_id = a.external_group_id;
  p.set_mbms_loc_area = (pa & LMMW_T8_GP_MBMS_LOC_AREA) != 0;
  p.mbms_loc_area = a.mbms_loc_area;
  p.set_message_delivery_start_time = (pa & LMMW_T8_GP_START_TIME) != 0;
  p.message_delivery_start_time = a.message_delivery_start_time;
  p.set_payload = (pa & LMMW_T8_GP_PAYLOAD) != 0;
  p.payload = a.has_payload ? a.payload : NULL;
  p.payload_len = a.payload_len;
  p.set_notification_destination = (pa & LMMW_T8_GP_NOTIFICATION_DESTINATION) != 0;
  p.notification_destination = a.notification_destination;
  CHECK(lmmw_t8_gmd_patch_encode(&p, &json) == LMM_OK);
  CHECK(lmmw_t8_gmd_patch_decode(json, strlen(json), &b, &pb, &e) == LMM_OK);
  CHECK(pa == pb);
  CHECK(gmd_eq(&a, &b));
  free(json);
  lmm_gmd_clear(&a);
  lmm_gmd_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;

  /* The decoders get the bytes as they are (no NUL), so an over-read shows up under ASan. */
  fuzz_gmd(s, size, 0);
  fuzz_gmd(s, size, LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE);
  fuzz_gmd_list(s, size);
  fuzz_gmd_patch(s, size);
  return 0;
}
