/* test_alloc_fail.c - the main paths with the k-th allocation failing, for every k: a group's
 * creation with its members into a real store, the T8 decoders, the SenML-JSON decoder. Each
 * failure returns an error, leaks nothing (the sanitizer build checks) and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"
#include "lmmt.h"
#include "lmmt_alloc.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define N_MEMBERS 12

typedef struct fx {
  lmm_ctx *ctx;
  lmm_store *s;
  char dir[64];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(lmm_ctx_new(NULL, &f->ctx), LMM_OK);
  assert_non_null(f->s = lmmt_store_open(f->ctx, f->dir));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  assert_int_equal(lmmt_store_remove(f->s, f->dir), 0);
  lmm_ctx_free(f->ctx);
  free(f);
  return 0;
}

/* Everything the store holds about groups, as text: two equal texts, an unchanged store. */
static char *store_text(lmm_store *s) {
  lmm_group_info *g = NULL;
  size_t n = 0;
  assert_int_equal(lmm_store_group_list(s, &g, &n), LMM_OK);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "%s %d %u %s %s %d %lld %s %lld %lld %d %d %zu [", g[i].name, g[i].type,
            g[i].gm_oid, g[i].external_group_id ? g[i].external_group_id : "-",
            g[i].multicast_address ? g[i].multicast_address : "-", g[i].multicast_port,
            (long long)g[i].response_time_window, g[i].tmgi ? g[i].tmgi : "-",
            (long long)g[i].tmgi_expiration, (long long)g[i].created, g[i].gm_iid, g[i].tmgi_policy,
            g[i].member_count);
    for (size_t k = 0; k < g[i].n_schedule; k++)
      fprintf(out, " %lld", (long long)g[i].schedule[k]);
    lmm_member *m = NULL;
    size_t nm = 0;
    assert_int_equal(lmm_store_members_get(s, g[i].name, &m, &nm), LMM_OK);
    char *mt = lmm_members_format(m, nm);
    assert_non_null(mt);
    fprintf(out, " ]\n%s", mt);
    lmm_free(mt);
    lmm_members_free(m, nm);
  }
  assert_int_equal(fclose(out), 0);
  lmm_group_info_list_free(g, n);
  return text;
}

#define ASSERT_STORE_IS(s, want)                                                                   \
  do {                                                                                             \
    char *now_ = store_text(s);                                                                    \
    assert_string_equal(now_, want);                                                               \
    free(now_);                                                                                    \
  } while (0)

/* A members file as an operator writes one: formats, a CoAPS member with a PSK, comments. */
static char *members_file(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  fprintf(out, "# building 7\n");
  for (int i = 0; i < N_MEMBERS; i++)
    fprintf(out, "ep=meter-%02d/%d coap%s://127.0.0.%d:%d %s%s\n", i, i % 3 ? 6 : 5,
            i % 4 ? "" : "s", i + 1, i % 4 ? 5683 : 5684, i % 2 ? "format=tlv" : "",
            i % 4 ? "" : " psk-id=meter psk-key=hex:00112233445566778899aabbccddeeff");
  assert_int_equal(fclose(out), 0);
  return text;
}

/* The whole results of the calls that succeed, checked with no failure armed. */
static void members_are(const lmm_member *m, size_t n, const char *want) {
  char *t = lmm_members_format(m, n);
  assert_non_null(t);
  assert_string_equal(t, want);
  lmm_free(t);
}

static void stored_members_are(lmm_store *s, const char *group, const char *want) {
  lmm_member *m = NULL;
  size_t n = 0;
  assert_int_equal(lmm_store_members_get(s, group, &m, &n), LMM_OK);
  members_are(m, n, want);
  lmm_members_free(m, n);
}

static void stored_group_is(lmm_store *s, const lmm_group_info *g) {
  lmm_group_info got = {0};
  assert_int_equal(lmm_store_group_get(s, g->name, &got), LMM_OK);
  assert_int_equal(got.type, g->type);
  assert_string_equal(got.external_group_id, g->external_group_id);
  assert_string_equal(got.fanout_target, g->fanout_target);
  assert_int_equal(got.response_time_window, g->response_time_window);
  assert_int_equal(got.n_schedule, g->n_schedule);
  for (size_t i = 0; i < g->n_schedule; i++)
    assert_int_equal(got.schedule[i], g->schedule[i]);
  assert_int_equal(got.gm_iid, 1); /* "other" has 0 */
  assert_int_equal(got.tmgi_policy, g->tmgi_policy);
  lmm_group_info_clear(&got);
}

static void remove_members(lmm_store *s, const char *group, const lmm_member *m, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(lmm_store_member_remove(s, group, m[i].ep, m[i].oid), LMM_OK);
}

/* `lwm2m-mbms group create NAME --type mbms ... --members FILE`: the members file's parse,
 * the group's row, then its members, each call failing at each of its allocations. */
static void test_group_create(void **state) {
  fx *f = *state;
  long points;
  char *file = members_file(), why[256];
  lmm_member *m = NULL, *ref = NULL;
  size_t n = 0, nref = 0;
  assert_int_equal(lmm_members_parse(file, strlen(file), &ref, &nref, why, sizeof why), LMM_OK);
  char *ref_text = lmm_members_format(ref, nref);
  assert_non_null(ref_text);
  LMMT_FOR_EVERY_ALLOC_FAILURE(
      &points, lmm_members_parse(file, strlen(file), &m, &n, why, sizeof why), r_ == LMM_ERR_NOMEM,
      (assert_null(m), assert_int_equal(n, 0)), members_are(m, n, ref_text),
      (lmm_members_free(m, n), m = NULL, n = 0));
  print_message("  members file parse: %ld failure points\n", points);

  /* Another group first, so that the store's choice of an instance ID has work to do. */
  lmm_group_info other = {.name = "other", .type = LMM_GROUP_UNICAST, .multicast_port = -1};
  assert_int_equal(lmm_store_group_create(f->s, &other), LMM_OK);
  int64_t sched[] = {1900000000, 1900003600};
  lmm_group_info g = {.name = "building-7",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = 42769,
                      .external_group_id = "building7@operator.example",
                      .multicast_port = -1,
                      .response_time_window = 30,
                      .fanout_target = "coap://gw.example",
                      .schedule = sched,
                      .n_schedule = 2,
                      .tmgi_policy = LMM_TMGI_RELEASE};
  char *before = store_text(f->s);
  LMMT_FOR_EVERY_ALLOC_FAILURE(&points, lmm_store_group_create(f->s, &g),
                               r_ == LMM_ERR_NOMEM || r_ == LMM_ERR_DB,
                               ASSERT_STORE_IS(f->s, before), stored_group_is(f->s, &g),
                               assert_int_equal(lmm_store_group_delete(f->s, g.name), LMM_OK));
  print_message("  group create: %ld failure points\n", points);
  free(before);

  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  before = store_text(f->s);
  LMMT_FOR_EVERY_ALLOC_FAILURE(
      &points, lmm_store_members_add(f->s, g.name, ref, nref),
      r_ == LMM_ERR_NOMEM || r_ == LMM_ERR_DB, ASSERT_STORE_IS(f->s, before),
      stored_members_are(f->s, g.name, ref_text), remove_members(f->s, g.name, ref, nref));
  print_message("  members add: %ld failure points\n", points);
  free(before);
  lmm_free(ref_text);
  lmm_members_free(ref, nref);
  free(file);
}

/* ------------------------------------------------------------------ T8 decoders */

/* Each decoder's input: what t8-mock and real SCEFs answer, every member filled in. */
static const char tmgi_body[] =
    "{\"self\":\"http://scef/3gpp-group-message-delivery-mb2/v1/as1/tmgi-allocation/0a1b2c00101\","
    "\"supportedFeatures\":\"0\",\"externalGroupId\":\"building7@operator.example\","
    "\"mbmsLocArea\":{\"cellId\":[\"c1\",\"c2\"],\"enodeBId\":[\"e1\"],\"geographicArea\":"
    "[{\"shape\":\"POINT\",\"point\":{\"lon\":24.5,\"lat\":60.1}}],\"mbmsServiceAreaId\":"
    "[\"s1\",\"s2\"],\"civicAddress\":[{\"country\":\"FI\",\"A1\":\"Uusimaa\"}]},"
    "\"tmgiExpiration\":\"2030-01-01T00:00:00Z\"}";
static const char tmgi_list_body[] =
    "[{\"self\":\"/3gpp-group-message-delivery-mb2/v1/as1/tmgi-allocation/0a1b2c00101\","
    "\"externalGroupId\":\"a@b\",\"mbmsLocArea\":{\"cellId\":[\"c1\"]}},"
    "{\"self\":\"/3gpp-group-message-delivery-mb2/v1/as1/tmgi-allocation/0a1b2d00101\","
    "\"externalGroupId\":\"c@d\",\"tmgiExpiration\":\"2030-01-01T00:00:00Z\"}]";
static const char gmd_body[] =
    "{\"self\":\"http://scef/3gpp-group-message-delivery-mb2/v1/as1/tmgi-allocation/0a1b2c00101/"
    "delivery-via-mbms/7\",\"externalGroupId\":\"building7@operator.example\","
    "\"mbmsLocArea\":{\"cellId\":[\"c1\"]},\"messageDeliveryStartTime\":\"2030-01-01T00:00:00Z\","
    "\"groupMessagePayload\":\"QAFFAA==\",\"notificationDestination\":\"http://as/n/1\","
    "\"requestTestNotification\":true,\"scefMessageDeliveryIPv4\":\"10.0.0.1\","
    "\"scefMessageDeliveryIPv6\":\"2001:db8::1\",\"scefMessageDeliveryPort\":4000}";
static const char problem_body[] =
    "{\"type\":\"about:blank\",\"title\":\"Bad\",\"status\":400,\"detail\":\"no such TMGI\","
    "\"instance\":\"/x\",\"cause\":\"INVALID_TMGI\",\"invalidParams\":[{\"param\":\"/tmgi\","
    "\"reason\":\"unknown\"},{\"param\":\"/externalGroupId\"}]}";

/* What one decoder produced; each case decodes into it, and encodes and frees it after. */
typedef union decoded {
  lmm_tmgi_allocation tmgi;
  struct {
    lmm_tmgi_allocation *a;
    size_t n;
  } list;
  lmm_gmd gmd;
  lmm_problem problem;
} decoded;

typedef struct t8_case {
  const char *what, *body;
  lmm_err (*decode)(const char *body, decoded *out);
  /* The decoded value as JSON (owned, free()), freeing it; NULL: it was left cleared. */
  char *(*take)(decoded *d, lmm_err rc);
} t8_case;

static lmmw_t8_err g_err; /* where the last decode failed */

static lmm_err tmgi_decode(const char *b, decoded *d) {
  return lmmw_t8_tmgi_allocation_decode(b, strlen(b), 0, &d->tmgi, &g_err);
}
static char *tmgi_take(decoded *d, lmm_err rc) {
  char *json = NULL;
  if (rc != LMM_OK) {
    lmm_tmgi_allocation zero = {0};
    assert_memory_equal(&d->tmgi, &zero, sizeof zero);
    return NULL;
  }
  assert_string_equal(d->tmgi.tmgi, "0a1b2c00101");
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&d->tmgi, 0, &json), LMM_OK);
  lmm_tmgi_allocation_clear(&d->tmgi);
  return json;
}

static lmm_err list_decode(const char *b, decoded *d) {
  return lmmw_t8_tmgi_allocation_list_decode(b, strlen(b), &d->list.a, &d->list.n, &g_err);
}
static char *list_take(decoded *d, lmm_err rc) {
  char *json = NULL;
  if (rc != LMM_OK) {
    assert_null(d->list.a);
    assert_int_equal(d->list.n, 0);
    return NULL;
  }
  assert_int_equal(d->list.n, 2);
  assert_string_equal(d->list.a[1].tmgi, "0a1b2d00101");
  assert_int_equal(lmmw_t8_tmgi_allocation_list_encode(d->list.a, d->list.n, &json), LMM_OK);
  lmm_tmgi_allocation_list_free(d->list.a, d->list.n);
  return json;
}

static lmm_err gmd_decode(const char *b, decoded *d) {
  return lmmw_t8_gmd_decode(b, strlen(b), LMMW_T8_REQUIRE, &d->gmd, &g_err);
}
static char *gmd_take(decoded *d, lmm_err rc) {
  char *json = NULL;
  if (rc != LMM_OK) {
    assert_null(d->gmd.self), assert_null(d->gmd.payload);
    assert_null(d->gmd.notification_destination), assert_null(d->gmd.mbms_loc_area);
    assert_int_equal(d->gmd.scef_port, -1);
    return NULL;
  }
  assert_string_equal(d->gmd.transaction_id, "7");
  assert_int_equal(lmmw_t8_gmd_encode(&d->gmd, 0, &json), LMM_OK);
  lmm_gmd_clear(&d->gmd);
  return json;
}

static lmm_err problem_decode(const char *b, decoded *d) {
  return lmmw_t8_problem_decode(b, strlen(b), &d->problem, &g_err);
}
static char *problem_take(decoded *d, lmm_err rc) {
  char *json = NULL;
  if (rc != LMM_OK) {
    lmm_problem zero = {0};
    assert_memory_equal(&d->problem, &zero, sizeof zero);
    return NULL;
  }
  assert_int_equal(d->problem.n_invalid_params, 2);
  assert_int_equal(lmmw_t8_problem_encode(&d->problem, &json), LMM_OK);
  lmm_problem_clear(&d->problem);
  return json;
}

static const t8_case t8_cases[] = {
    {"TMGIAllocation decode", tmgi_body, tmgi_decode, tmgi_take},
    {"TMGIAllocation list decode", tmgi_list_body, list_decode, list_take},
    {"GMDViaMBMSByMb2 decode", gmd_body, gmd_decode, gmd_take},
    {"ProblemDetails decode", problem_body, problem_decode, problem_take},
};

static void json_is(char *got, const char *want) {
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

/* A decode under failure returns LMM_ERR_NOMEM, never LMM_ERR_PROTO: a good answer of the
 * SCEF must not read as a malformed one. Only the decode is under failure: what it made is
 * encoded afterwards, with none armed, and must be what a decode without failure makes. */
static void test_t8_decode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof t8_cases / sizeof *t8_cases; i++) {
    const t8_case *t = &t8_cases[i];
    decoded d;
    long points;
    lmm_err rc = t->decode(t->body, &d);
    if (rc != LMM_OK) fail_msg("%s: %s: %s", t->what, g_err.param, g_err.reason);
    char *ref = t->take(&d, LMM_OK);
    LMMT_FOR_EVERY_ALLOC_FAILURE(&points, t->decode(t->body, &d), r_ == LMM_ERR_NOMEM,
                                 assert_null(t->take(&d, r_)), json_is(t->take(&d, LMM_OK), ref),
                                 (void)0);
    print_message("  %s: %ld failure points\n", t->what, points);
    free(ref);
  }
}

/* ------------------------------------------------------------------ SenML-JSON */

/* A device's answer to a Read of a whole Group Mgmt instance, and more: every value field
 * (v, vs, vb, vd, vlo), base name and time, resource instances. */
static const char senml_body[] =
    "[{\"bn\":\"/42769/0/\",\"bt\":1700000000,\"n\":\"0\",\"vs\":\"building-7\"},"
    "{\"n\":\"1\",\"v\":0},{\"n\":\"2\",\"v\":12},"
    "{\"n\":\"3\",\"vs\":\"ep=meter-00/5,ep=meter-01/6\"},"
    "{\"n\":\"5\",\"vs\":\"building7@operator.example\"},"
    "{\"n\":\"6/0\",\"vs\":\"0a1b2c00101\"},{\"n\":\"8/0\",\"v\":1900000000},"
    "{\"n\":\"9\",\"v\":30,\"t\":-5},{\"n\":\"11\",\"vs\":\"coap://127.0.0.1:5683/a\"}]";
static const char senml_loose[] = "[{\"bn\":\"/3/0/\",\"n\":\"0\",\"vs\":\"maker\"},"
                                  "{\"n\":\"1\",\"vd\":\"AAECAw\"},{\"n\":\"2\",\"vb\":true},"
                                  "{\"n\":\"3\",\"vlo\":\"5:0\"},{\"n\":\"9\",\"v\":87.5}]";

static lmm_err senml_decode(const char *body, const lmm_path *base, const lmm_obj_def *def,
                            lmm_records *out) {
  char why[128];
  return lmm_lwm2m_decode(LMM_FMT_SENML_JSON, base, (const uint8_t *)body, strlen(body), def, out,
                          why, sizeof why);
}

/* The records as SenML-JSON again, with no failure armed; the list is emptied. */
static char *records_text(lmm_records *r, const lmm_path *base) {
  uint8_t *out = NULL;
  size_t len = 0;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, base, r->items, r->n, &out, &len), LMM_OK);
  char *text = strndup((const char *)out, len);
  assert_non_null(text);
  lmm_free(out);
  lmm_records_clear(r);
  return text;
}

/* A record the list holds before each decode: a failed decode appends nothing to it. */
static const lmm_path kept_path = {3, 0, 7, 0, 3};
static const lmm_value kept_value = {.type = LMM_RT_INTEGER, .v.i = 7};

static void list_is_kept_only(const lmm_records *r) {
  assert_int_equal(r->n, 1);
  assert_int_equal(r->items[0].path.rid, 7);
  assert_int_equal(r->items[0].value.v.i, 7);
}

/* The decoded records after the kept one are the reference's. */
static void list_is(lmm_records *r, const lmm_path *base, const char *want) {
  assert_true(r->n > 1);
  assert_int_equal(r->items[0].value.v.i, 7);
  lmm_value_clear(&r->items[0].value);
  memmove(r->items, r->items + 1, --r->n * sizeof *r->items);
  json_is(records_text(r, base), want);
}

static void senml_case(const char *what, const char *body, const lmm_path *base,
                       const lmm_obj_def *def) {
  lmm_records r = {0};
  long points;
  char why[128];
  lmm_err rc = lmm_lwm2m_decode(LMM_FMT_SENML_JSON, base, (const uint8_t *)body, strlen(body), def,
                                &r, why, sizeof why);
  if (rc != LMM_OK) fail_msg("%s: %s", what, why);
  char *ref = records_text(&r, base);
  assert_int_equal(lmm_records_add(&r, &kept_path, &kept_value), LMM_OK);
  LMMT_FOR_EVERY_ALLOC_FAILURE(
      &points, senml_decode(body, base, def, &r), r_ == LMM_ERR_NOMEM, list_is_kept_only(&r),
      list_is(&r, base, ref),
      assert_int_equal(lmm_records_add(&r, &kept_path, &kept_value), LMM_OK));
  lmm_records_clear(&r);
  print_message("  %s: %ld failure points\n", what, points);
  free(ref);
}

static void test_senml_decode(void **state) {
  (void)state;
  lmm_obj_def gm;
  lmm_group_mgmt_def(LMM_GROUP_MGMT_OID, &gm);
  lmm_path inst = {LMM_GROUP_MGMT_OID, 0, 0, 0, 2}, dev = {3, 0, 0, 0, 2};
  senml_case("SenML-JSON decode, Group Mgmt typed", senml_body, &inst, &gm);
  senml_case("SenML-JSON decode, untyped", senml_loose, &dev, NULL);
}

int main(void) {
  if (lmmt_alloc_install() != 0) {
    fprintf(stderr, "test_alloc_fail: cannot install the allocator\n");
    return 1;
  }
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_group_create, setup, teardown),
      cmocka_unit_test(test_t8_decode),
      cmocka_unit_test(test_senml_decode),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  lmmt_alloc_uninstall();
  return rc;
}
