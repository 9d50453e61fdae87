/* fuzz_t8_json.c - libFuzzer target for the T8 JSON codec: the input goes to every decoder, and
 * whatever decodes must encode, decode again to the same values, and copy to the same values. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"
#include "util/b64.h"
#include "util/rfc3339.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() rather than assert(): the check must stay in release builds of the fuzzer. */
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static bool str_eq(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool strv_eq(char **a, size_t na, char **b, size_t nb) {
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++)
    if (!str_eq(a[i], b[i])) return false;
  return true;
}

static bool area_eq(const lmm_mbms_loc_area *a, const lmm_mbms_loc_area *b) {
  if (a == NULL || b == NULL) return a == b;
  return strv_eq(a->cell_ids, a->n_cell_ids, b->cell_ids, b->n_cell_ids) &&
         strv_eq(a->enodeb_ids, a->n_enodeb_ids, b->enodeb_ids, b->n_enodeb_ids) &&
         strv_eq(a->service_area_ids, a->n_service_area_ids, b->service_area_ids,
                 b->n_service_area_ids) &&
         str_eq(a->geographic_area_json, b->geographic_area_json) &&
         str_eq(a->civic_address_json, b->civic_address_json);
}

static bool alloc_eq(const lmm_tmgi_allocation *a, const lmm_tmgi_allocation *b) {
  return str_eq(a->self, b->self) && str_eq(a->tmgi, b->tmgi) &&
         str_eq(a->supported_features, b->supported_features) &&
         str_eq(a->external_group_id, b->external_group_id) &&
         area_eq(a->mbms_loc_area, b->mbms_loc_area) && a->tmgi_expiration == b->tmgi_expiration;
}

static bool gmd_eq(const lmm_gmd *a, const lmm_gmd *b) {
  return str_eq(a->self, b->self) && str_eq(a->transaction_id, b->transaction_id) &&
         str_eq(a->notification_destination, b->notification_destination) &&
         a->has_request_test_notification == b->has_request_test_notification &&
         a->request_test_notification == b->request_test_notification &&
         str_eq(a->websock_notif_config_json, b->websock_notif_config_json) &&
         str_eq(a->external_group_id, b->external_group_id) &&
         area_eq(a->mbms_loc_area, b->mbms_loc_area) &&
         a->message_delivery_start_time == b->message_delivery_start_time &&
         a->has_payload == b->has_payload && a->payload_len == b->payload_len &&
         (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0) &&
         str_eq(a->scef_ipv4, b->scef_ipv4) && str_eq(a->scef_ipv6, b->scef_ipv6) &&
         a->scef_port == b->scef_port;
}

static bool problem_eq(const lmm_problem *a, const lmm_problem *b) {
  if (a->status != b->status || !str_eq(a->type, b->type) || !str_eq(a->title, b->title) ||
      !str_eq(a->detail, b->detail) || !str_eq(a->instance, b->instance) ||
      !str_eq(a->cause, b->cause) || a->n_invalid_params != b->n_invalid_params)
    return false;
  for (size_t i = 0; i < a->n_invalid_params; i++)
    if (!str_eq(a->invalid_params[i].param, b->invalid_params[i].param) ||
        !str_eq(a->invalid_params[i].reason, b->invalid_params[i].reason))
      return false;
  return true;
}

/* A failed decode must leave a terminated, pointer-shaped error. */
static void check_err(const lmmw_t8_err *e) {
  CHECK(memchr(e->param, '\0', sizeof e->param) != NULL);
  CHECK(memchr(e->reason, '\0', sizeof e->reason) != NULL);
  CHECK(e->param[0] == '\0' || e->param[0] == '/');
  CHECK(e->reason[0] != '\0');
}

static void fuzz_alloc(const char *s, size_t n, unsigned flags) {
  lmm_tmgi_allocation a, b, c;
  lmmw_t8_err e;
  char *json = NULL;

  if (lmmw_t8_tmgi_allocation_decode(s, n, flags, &a, &e) != LMM_OK) {
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

  if (lmmw_t8_tmgi_allocation_list_decode(s, n, &a, &na, &e) != LMM_OK) {
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

  if (lmmw_t8_tmgi_patch_decode(s, n, &a, &pa, &e) != LMM_OK) {
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

static void fuzz_gmd(const char *s, size_t n, unsigned flags) {
  lmm_gmd a, b, c;
  lmmw_t8_err e;
  char *json = NULL;

  if (lmmw_t8_gmd_decode(s, n, flags, &a, &e) != LMM_OK) {
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

  if (lmmw_t8_gmd_list_decode(s, n, &a, &na, &e) != LMM_OK) {
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

  if (lmmw_t8_gmd_patch_decode(s, n, &a, &pa, &e) != LMM_OK) {
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

static void fuzz_notifications(const char *s, size_t n) {
  char *t1 = NULL, *t2 = NULL, *json = NULL;
  bool d1 = false, d2 = false;
  lmmw_t8_err e;

  if (lmmw_t8_notification_decode(s, n, &t1, &d1, &e) == LMM_OK) {
    CHECK(lmmw_t8_notification_encode(t1, d1, &json) == LMM_OK);
    CHECK(lmmw_t8_notification_decode(json, strlen(json), &t2, &d2, &e) == LMM_OK);
    CHECK(str_eq(t1, t2) && d1 == d2);
    free(json);
    free(t1);
    free(t2);
  } else {
    check_err(&e);
    CHECK(t1 == NULL);
  }
  t1 = t2 = NULL;
  if (lmmw_t8_test_notification_decode(s, n, &t1, &e) == LMM_OK) {
    CHECK(lmmw_t8_test_notification_encode(t1, &json) == LMM_OK);
    CHECK(lmmw_t8_test_notification_decode(json, strlen(json), &t2, &e) == LMM_OK);
    CHECK(str_eq(t1, t2));
    free(json);
    free(t1);
    free(t2);
  } else {
    check_err(&e);
    CHECK(t1 == NULL);
  }
}

static void fuzz_problem(const char *s, size_t n) {
  lmm_problem a, b;
  lmmw_t8_err e;
  char *json = NULL;

  lmm_err rc = lmmw_t8_problem_decode(s, n, &a, &e);
  /* Nothing runs out of memory here: LMM_ERR_NOMEM would be a text that the codec's grammar
   * check passed and cJSON refused. */
  CHECK(rc != LMM_ERR_NOMEM);
  if (rc != LMM_OK) {
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
  const char *s = (const char *)data;
  char *z;

  /* The decoders get the bytes as they are (no NUL), so an over-read shows up under ASan. */
  fuzz_alloc(s, size, 0);
  fuzz_alloc(s, size, LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE);
  fuzz_alloc_list(s, size);
  fuzz_tmgi_patch(s, size);
  fuzz_gmd(s, size, 0);
  fuzz_gmd(s, size, LMMW_T8_REJECT_RO | LMMW_T8_REQUIRE);
  fuzz_gmd_list(s, size);
  fuzz_gmd_patch(s, size);
  fuzz_notifications(s, size);
  fuzz_problem(s, size);
  if ((z = malloc(size + 1)) != NULL) {
    if (size != 0) memcpy(z, data, size);
    z[size] = '\0';
    /* Embedded NULs would make the C-string helpers see a shorter text than the decoders. */
    if (strlen(z) == size) fuzz_text(z, size);
    free(z);
  }
  return 0;
}
