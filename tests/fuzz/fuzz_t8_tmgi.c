/* fuzz_t8_tmgi.c - libFuzzer target for the SCEF's TMGI allocation answers: a
 * TMGIAllocation (the 201 of a create, a GET), the collection GET's list, and the merge-patch
 * body; whatever decodes must encode, decode again to the same values, and copy to the same
 * values. */
#include "fuzz_t8.h"

static void fuzz_alloc(const char *s, size_t n, unsigned flags) {
  lmm_tmgi_allocation a, b, c;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_tmgi_allocation_decode(s, n, flags, &a, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(a.self == NULL && a.mbms_loc_area == NULL);
    return;
  }
  CHECK(lmmw_t8_tmgi_allocation_encode(&a, 0, &json) == LMM_OK);
  CHECK(lmmw_t8_tmgi_allocation_decode(json, strlen(json), 0, &b, &e) == LMM_OK);
  CHECK(alloc_eq(&a, &b));
  CHECK(lmmw_t8_tmgi_allocation_copy(&c, &a) == LMM_OK);
  CHECK(alloc_eq(&a, &c));
  free(json);
  /* Without the read-only expiry, the strictest decode accepts it. */
  CHECK(lmmw_t8_tmgi_allocation_encode(&a, LMMW_T8_OMIT_RO, &json) == LMM_OK);
  lmm_tmgi_allocation_clear(&b);
  CHECK(lmmw_t8_tmgi_allocation_decode(json, strlen(json), LMMW_T8_REJECT_RO, &b, &e) == LMM_OK);
  CHECK(b.tmgi_expiration == 0 && str_eq(a.external_group_id, b.external_group_id));
  free(json);
  lmm_tmgi_allocation_clear(&a);
  lmm_tmgi_allocation_clear(&b);
  lmm_tmgi_allocation_clear(&c);
}

static void fuzz_alloc_list(const char *s, size_t n) {
  lmm_tmgi_allocation *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_tmgi_allocation_list_decode(s, n, &a, &na, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(a == NULL && na == 0);
    return;
  }
  CHECK(a != NULL);
  CHECK(lmmw_t8_tmgi_allocation_list_encode(a, na, &json) == LMM_OK);
  CHECK(lmmw_t8_tmgi_allocation_list_decode(json, strlen(json), &b, &nb, &e) == LMM_OK);
  CHECK(na == nb);
  for (size_t i = 0; i < na; i++)
    CHECK(alloc_eq(&a[i], &b[i]));
  free(json);
  lmm_tmgi_allocation_list_free(a, na);
  lmm_tmgi_allocation_list_free(b, nb);
}

static void fuzz_tmgi_patch(const char *s, size_t n) {
  lmm_tmgi_allocation a, b;
  lmm_tmgi_allocation_patch p;
  unsigned pa = 0, pb = 0;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_tmgi_patch_decode(s, n, &a, &pa, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(pa == 0);
    return;
  }
  memset(&p, 0, sizeof p);
  p.set_external_group_id = (pa & LMMW_T8_GP_EXTERNAL_GROUP_ID) != 0;
  p.external_group_id = a.external_group_id;
  p.set_mbms_loc_area = (pa & LMMW_T8_GP_MBMS_LOC_AREA) != 0;
  p.mbms_loc_area = a.mbms_loc_area;
  CHECK(lmmw_t8_tmgi_patch_encode(&p, &json) == LMM_OK);
  CHECK(lmmw_t8_tmgi_patch_decode(json, strlen(json), &b, &pb, &e) == LMM_OK);
  CHECK(pa == pb);
  CHECK(alloc_eq(&a, &b));
  free(json);
  lmm_tmgi_allocation_clear(&a);
  lmm_tmgi_allocation_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;

  /* The decoders get the bytes as they are (no NUL), so an over-read shows up under ASan. */
  fuzz_alloc(s, size, 0);
  fuzz_alloc(s, size, LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE);
  fuzz_alloc_list(s, size);
  fuzz_tmgi_patch(s, size);
  return 0;
}
