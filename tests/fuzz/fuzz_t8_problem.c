/* fuzz_t8_problem.c - libFuzzer target for what the SCEF says when it refuses: a
 * ProblemDetails body (application/problem+json), and the text the client takes out of any
 * answer (the TMGI and transaction from a Location or self link, base64 payloads, RFC 3339
 * times). Whatever decodes must encode and decode again to the same values. */
#include "fuzz_t8.h"
#include "util/b64.h"
#include "util/rfc3339.h"

static void fuzz_problem(const char *s, size_t n) {
  lmm_problem a, b;
  lmmw_t8_err e;
  char *json = NULL;

  if (decoded(lmmw_t8_problem_decode(s, n, &a, &e)) != LMM_OK) {
    check_err(&e);
    CHECK(a.invalid_params == NULL && a.type == NULL);
    return;
  }
  CHECK(lmmw_t8_problem_encode(&a, &json) == LMM_OK);
  CHECK(lmmw_t8_problem_decode(json, strlen(json), &b, &e) == LMM_OK);
  CHECK(problem_eq(&a, &b));
  free(json);
  lmm_problem_clear(&a);
  lmm_problem_clear(&b);
}

/* The text helpers see the input as one C string. */
static void fuzz_text(const char *s, size_t n) {
  char *seg, *enc = NULL, buf[32];
  uint8_t *raw = NULL;
  size_t rawn = 0;
  int64_t t = 0, t2 = 0;
  const char *api;

  seg = lmmw_t8_link_last_segment(s);
  CHECK(seg == NULL || (seg[0] != '\0' && strchr(seg, '/') == NULL && strchr(seg, '?') == NULL));
  free(seg);
  api = lmmw_t8_link_api_path(s);
  CHECK(api == NULL || strncmp(api, LMM_T8_BASE_PATH, strlen(LMM_T8_BASE_PATH)) == 0);
  (void)lmmw_t8_tmgi_ok(s);
  (void)lmmw_t8_external_group_id_ok(s);
  /* Strict base64 is canonical: what decodes encodes back to the very same text. */
  if (lmmi_b64_decode(s, n, &raw, &rawn) == LMM_OK) {
    CHECK(lmmi_b64_encode(raw, rawn, &enc) == LMM_OK);
    CHECK(strlen(enc) == n && memcmp(enc, s, n) == 0);
    free(enc);
    free(raw);
  }
  if (lmmi_rfc3339_parse(s, &t)) {
    CHECK(lmmi_rfc3339_format(t, buf, sizeof buf));
    CHECK(lmmi_rfc3339_parse(buf, &t2) && t == t2);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *z;

  /* The decoder gets the bytes as they are (no NUL), so an over-read shows up under ASan. */
  fuzz_problem((const char *)data, size);
  if ((z = malloc(size + 1)) != NULL) {
    if (size != 0) memcpy(z, data, size);
    z[size] = '\0';
    /* Embedded NULs would make the C-string helpers see a shorter text than the decoders. */
    if (strlen(z) == size) fuzz_text(z, size);
    free(z);
  }
  return 0;
}
