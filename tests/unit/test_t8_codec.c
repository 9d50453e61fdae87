/* test_t8_codec.c - the T8 JSON codec: exact encodings, hand-written bodies decoded to stated
 * values, round trips, merge patches, ProblemDetails, links, and malformed bodies of every kind
 * with the JSON Pointer each must be blamed on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"
#include "lwm2m_mbms/ctx.h"

#define SELF_ALLOC                                                                                 \
  "https://scef.example/3gpp-group-message-delivery-mb2/v1/as01/tmgi-allocation/0a1b2c00101"
#define SELF_GMD SELF_ALLOC "/delivery-via-mbms/txn-7"
#define GEO      "[{\"shape\":\"POINT\",\"point\":{\"lon\":24.5,\"lat\":60.1}}]"
#define CIVIC    "[{\"country\":\"FI\",\"A1\":\"Uusimaa\"}]"
#define WEBSOCK  "{\"websocketUri\":\"wss://scef.example/ws\",\"requestWebsocketUri\":true}"
/* A literal body and its length. */
#define J(s)          (s), strlen(s)
#define LEAP_DAY_NOON 1709208000 /* 2024-02-29T12:00:00Z */

/* ---------------------------------------------------------------- fixtures */

static char *cell_ids[] = {"00101abcd1234", "00101abcd1235"};
static char *enodeb_ids[] = {"00101abcde"};
static char *sai_one[] = {"1a2b"};
static char *sai_two[] = {"1a2b", "1a2c"};

static lmm_mbms_loc_area full_area = {cell_ids, 2, enodeb_ids, 1, sai_one, 1, GEO, CIVIC};
static lmm_mbms_loc_area sai_area = {NULL, 0, NULL, 0, sai_two, 2, NULL, NULL};

static const uint8_t payload7[7] = {'h', 'e', 'l', 'l', 'o', 0x00, 0xff};

static lmm_tmgi_allocation alloc_fixture(void) {
  lmm_tmgi_allocation a = {0};
  a.self = SELF_ALLOC;
  a.tmgi = "0a1b2c00101";
  a.supported_features = "0f";
  a.external_group_id = "meters@iot.example";
  a.mbms_loc_area = &full_area;
  a.tmgi_expiration = LEAP_DAY_NOON;
  return a;
}

static lmm_gmd gmd_fixture(void) {
  lmm_gmd g = {0};
  g.self = SELF_GMD;
  g.transaction_id = "txn-7";
  g.notification_destination = "http://127.0.0.1:8080/t8/notifications";
  g.has_request_test_notification = true;
  g.request_test_notification = true;
  g.websock_notif_config_json = WEBSOCK;
  g.external_group_id = "meters@iot.example";
  g.mbms_loc_area = &sai_area;
  g.message_delivery_start_time = LEAP_DAY_NOON;
  g.has_payload = true;
  g.payload = (uint8_t *)payload7;
  g.payload_len = sizeof payload7;
  g.scef_ipv4 = "192.0.2.10";
  g.scef_ipv6 = "2001:db8::10";
  g.scef_port = 5683;
  return g;
}

#define ALLOC_JSON_NO_RO                                                                           \
  "{\"self\":\"" SELF_ALLOC "\",\"supportedFeatures\":\"0f\","                                     \
  "\"externalGroupId\":\"meters@iot.example\",\"mbmsLocArea\":{\"cellId\":[\"00101abcd1234\","     \
  "\"00101abcd1235\"],\"enodeBId\":[\"00101abcde\"],\"geographicArea\":" GEO ","                   \
  "\"mbmsServiceAreaId\":[\"1a2b\"],\"civicAddress\":" CIVIC "}"
#define ALLOC_JSON ALLOC_JSON_NO_RO ",\"tmgiExpiration\":\"2024-02-29T12:00:00Z\"}"

#define GMD_JSON_NO_RO                                                                             \
  "{\"self\":\"" SELF_GMD "\",\"notificationDestination\":"                                        \
  "\"http://127.0.0.1:8080/t8/notifications\",\"requestTestNotification\":true,"                   \
  "\"websockNotifConfig\":" WEBSOCK ",\"externalGroupId\":\"meters@iot.example\","                 \
  "\"mbmsLocArea\":{\"mbmsServiceAreaId\":[\"1a2b\",\"1a2c\"]},"                                   \
  "\"messageDeliveryStartTime\":\"2024-02-29T12:00:00Z\",\"groupMessagePayload\":\"aGVsbG8A/w==\""
#define GMD_JSON                                                                                   \
  GMD_JSON_NO_RO ",\"scefMessageDeliveryIPv4\":\"192.0.2.10\","                                    \
                 "\"scefMessageDeliveryIPv6\":\"2001:db8::10\",\"scefMessageDeliveryPort\":5683}"

/* ------------------------------------------------------------ comparisons */

static void assert_str_eq_or_null(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    assert_ptr_equal(a, b);
  else
    assert_string_equal(a, b);
}

static void assert_strv_eq(char **a, size_t na, char **b, size_t nb) {
  assert_int_equal(na, nb);
  for (size_t i = 0; i < na; i++)
    assert_string_equal(a[i], b[i]);
}

static void assert_area_eq(const lmm_mbms_loc_area *a, const lmm_mbms_loc_area *b) {
  if (a == NULL || b == NULL) {
    assert_ptr_equal(a, b);
    return;
  }
  assert_strv_eq(a->cell_ids, a->n_cell_ids, b->cell_ids, b->n_cell_ids);
  assert_strv_eq(a->enodeb_ids, a->n_enodeb_ids, b->enodeb_ids, b->n_enodeb_ids);
  assert_strv_eq(a->service_area_ids, a->n_service_area_ids, b->service_area_ids,
                 b->n_service_area_ids);
  assert_str_eq_or_null(a->geographic_area_json, b->geographic_area_json);
  assert_str_eq_or_null(a->civic_address_json, b->civic_address_json);
}

static void assert_alloc_eq(const lmm_tmgi_allocation *a, const lmm_tmgi_allocation *b) {
  assert_str_eq_or_null(a->self, b->self);
  assert_str_eq_or_null(a->tmgi, b->tmgi);
  assert_str_eq_or_null(a->supported_features, b->supported_features);
  assert_str_eq_or_null(a->external_group_id, b->external_group_id);
  assert_area_eq(a->mbms_loc_area, b->mbms_loc_area);
  assert_int_equal(a->tmgi_expiration, b->tmgi_expiration);
}

static void assert_gmd_eq(const lmm_gmd *a, const lmm_gmd *b) {
  assert_str_eq_or_null(a->self, b->self);
  assert_str_eq_or_null(a->transaction_id, b->transaction_id);
  assert_str_eq_or_null(a->notification_destination, b->notification_destination);
  assert_int_equal(a->has_request_test_notification, b->has_request_test_notification);
  assert_int_equal(a->request_test_notification, b->request_test_notification);
  assert_str_eq_or_null(a->websock_notif_config_json, b->websock_notif_config_json);
  assert_str_eq_or_null(a->external_group_id, b->external_group_id);
  assert_area_eq(a->mbms_loc_area, b->mbms_loc_area);
  assert_int_equal(a->message_delivery_start_time, b->message_delivery_start_time);
  assert_int_equal(a->has_payload, b->has_payload);
  assert_int_equal(a->payload_len, b->payload_len);
  if (a->payload_len != 0) assert_memory_equal(a->payload, b->payload, a->payload_len);
  assert_str_eq_or_null(a->scef_ipv4, b->scef_ipv4);
  assert_str_eq_or_null(a->scef_ipv6, b->scef_ipv6);
  assert_int_equal(a->scef_port, b->scef_port);
}

/* ------------------------------------------------------- TMGIAllocation */

static void test_alloc_encode_exact(void **state) {
  lmm_tmgi_allocation a = alloc_fixture();
  char *json = NULL;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_OK);
  assert_string_equal(json, ALLOC_JSON);
  free(json);
  /* What an SCS/AS sends: the read-only expiry left out. */
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, LMMW_T8_OMIT_RO, &json), LMM_OK);
  assert_string_equal(json, ALLOC_JSON_NO_RO "}");
  free(json);
}

static void test_alloc_encode_minimal(void **state) {
  lmm_tmgi_allocation a = {0};
  char *json = NULL;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_OK);
  assert_string_equal(json, "{}");
  free(json);
}

static void test_alloc_decode_handwritten(void **state) {
  const char *body = "{ \"self\" : \"/3gpp-group-message-delivery-mb2/v1/as01/tmgi-allocation/"
                     "0a1b2c001012/\",\n \"externalGroupId\":\"fleet-1@ops.example\","
                     "\"mbmsLocArea\":{\"cellId\":[\"c1\"],\"geographicArea\":[ {\"shape\" : "
                     "\"POINT\"} ]},\"tmgiExpiration\":\"2024-02-29T13:00:00+01:00\","
                     "\"unknownExtension\":{\"x\":[1,2]}}";
  lmm_tmgi_allocation a;
  lmmw_t8_err e = {{0}, {0}};

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(body, strlen(body), 0, &a, &e), LMM_OK);
  assert_string_equal(a.self, "/3gpp-group-message-delivery-mb2/v1/as01/tmgi-allocation/"
                              "0a1b2c001012/");
  assert_string_equal(a.tmgi, "0a1b2c001012"); /* trailing '/' ignored */
  assert_null(a.supported_features);
  assert_string_equal(a.external_group_id, "fleet-1@ops.example");
  assert_non_null(a.mbms_loc_area);
  assert_int_equal(a.mbms_loc_area->n_cell_ids, 1);
  assert_string_equal(a.mbms_loc_area->cell_ids[0], "c1");
  assert_int_equal(a.mbms_loc_area->n_enodeb_ids, 0);
  assert_null(a.mbms_loc_area->enodeb_ids);
  assert_string_equal(a.mbms_loc_area->geographic_area_json, "[{\"shape\":\"POINT\"}]");
  assert_null(a.mbms_loc_area->civic_address_json);
  assert_int_equal(a.tmgi_expiration, LEAP_DAY_NOON);
  lmm_tmgi_allocation_clear(&a);
}

static void test_alloc_round_trip(void **state) {
  lmm_tmgi_allocation a = alloc_fixture(), b;
  char *json = NULL;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_OK);
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(json, strlen(json), 0, &b, NULL), LMM_OK);
  assert_alloc_eq(&a, &b);
  assert_int_equal(b.tmgi_expiration, LEAP_DAY_NOON); /* the expiry field survives */
  lmm_tmgi_allocation_clear(&b);
  free(json);
}

static void test_alloc_read_only_refused(void **state) {
  const char *body = "{\"externalGroupId\":\"a@b\",\"tmgiExpiration\":\"2024-02-29T12:00:00Z\"}";
  lmm_tmgi_allocation a;
  lmmw_t8_err e = {{0}, {0}};

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(body, strlen(body), LMMW_T8_REJECT_RO, &a, &e),
                   LMM_ERR_PROTO);
  assert_string_equal(e.param, "/tmgiExpiration");
  assert_string_equal(e.reason, "is read-only");
  assert_null(a.external_group_id); /* left zeroed */
  /* Accepted without the flag: what a client reading the SCEF's answer does. */
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(body, strlen(body), 0, &a, &e), LMM_OK);
  assert_int_equal(a.tmgi_expiration, LEAP_DAY_NOON);
  lmm_tmgi_allocation_clear(&a);
  /* A null read-only member is the same as an absent one. */
  body = "{\"tmgiExpiration\":null}";
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(body, strlen(body), LMMW_T8_REJECT_RO, &a, &e),
                   LMM_OK);
  assert_int_equal(a.tmgi_expiration, 0);
  lmm_tmgi_allocation_clear(&a);
}

static void test_alloc_nulls_are_absent(void **state) {
  const char *body = "{\"self\":null,\"supportedFeatures\":null,\"externalGroupId\":null,"
                     "\"mbmsLocArea\":null,\"tmgiExpiration\":null}";
  lmm_tmgi_allocation a;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(body, strlen(body), 0, &a, NULL), LMM_OK);
  assert_null(a.self);
  assert_null(a.tmgi);
  assert_null(a.supported_features);
  assert_null(a.external_group_id);
  assert_null(a.mbms_loc_area);
  assert_int_equal(a.tmgi_expiration, 0);
  lmm_tmgi_allocation_clear(&a);
}

static void test_alloc_decode_uses_length(void **state) {
  /* The text continues past `len`: only the first 25 bytes are the body. */
  const char *buf = "{\"externalGroupId\":\"a@b\"}GARBAGE";
  lmm_tmgi_allocation a;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(buf, 25, 0, &a, NULL), LMM_OK);
  assert_string_equal(a.external_group_id, "a@b");
  lmm_tmgi_allocation_clear(&a);
}

static void test_alloc_duplicate_keys_first_wins(void **state) {
  const char *body = "{\"externalGroupId\":\"first@x\",\"externalGroupId\":\"second@x\"}";
  lmm_tmgi_allocation a;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_decode(body, strlen(body), 0, &a, NULL), LMM_OK);
  assert_string_equal(a.external_group_id, "first@x");
  lmm_tmgi_allocation_clear(&a);
}

static void test_alloc_list(void **state) {
  lmm_tmgi_allocation in[2] = {alloc_fixture(), {0}}, *out = NULL;
  size_t n = 0;
  char *json = NULL;
  lmmw_t8_err e = {{0}, {0}};
  const char *one = "{\"self\":\"/x/tmgi-allocation/0a1b2c00102\"}";
  const char *bad = "[{\"externalGroupId\":\"a@b\"},{\"externalGroupId\":\"nope\"}]";

  (void)state;
  in[1].self = "/3gpp-group-message-delivery-mb2/v1/as01/tmgi-allocation/0a1b2c00102";
  in[1].tmgi = "0a1b2c00102";
  assert_int_equal(lmmw_t8_tmgi_allocation_list_encode(in, 2, &json), LMM_OK);
  assert_int_equal(
      strncmp(json, "[" ALLOC_JSON ",{\"self\":", strlen("[" ALLOC_JSON ",{\"self\":")), 0);
  assert_int_equal(lmmw_t8_tmgi_allocation_list_decode(json, strlen(json), &out, &n, &e), LMM_OK);
  assert_int_equal(n, 2);
  assert_alloc_eq(&out[0], &in[0]);
  assert_alloc_eq(&out[1], &in[1]);
  lmm_tmgi_allocation_list_free(out, n);
  free(json);

  /* The YAML types the collection as one object: accepted as a list of one. */
  assert_int_equal(lmmw_t8_tmgi_allocation_list_decode(one, strlen(one), &out, &n, &e), LMM_OK);
  assert_int_equal(n, 1);
  assert_string_equal(out[0].tmgi, "0a1b2c00102");
  lmm_tmgi_allocation_list_free(out, n);

  assert_int_equal(lmmw_t8_tmgi_allocation_list_encode(NULL, 0, &json), LMM_OK);
  assert_string_equal(json, "[]");
  assert_int_equal(lmmw_t8_tmgi_allocation_list_decode(json, strlen(json), &out, &n, &e), LMM_OK);
  assert_int_equal(n, 0);
  assert_non_null(out);
  lmm_tmgi_allocation_list_free(out, n);
  free(json);

  out = (lmm_tmgi_allocation *)&e; /* must be reset on failure */
  assert_int_equal(lmmw_t8_tmgi_allocation_list_decode(bad, strlen(bad), &out, &n, &e),
                   LMM_ERR_PROTO);
  assert_null(out);
  assert_int_equal(n, 0);
  assert_string_equal(e.param, "/1/externalGroupId");
  assert_int_equal(lmmw_t8_tmgi_allocation_list_decode(J("[1]"), &out, &n, &e), LMM_ERR_PROTO);
  assert_string_equal(e.param, "/0");
  assert_int_equal(lmmw_t8_tmgi_allocation_list_decode(J("\"x\""), &out, &n, &e), LMM_ERR_PROTO);
  assert_string_equal(e.param, "");
  assert_string_equal(e.reason, "must be a JSON array or object");
}

/* ----------------------------------------------------------- GMDViaMBMSByMb2 */

static void test_gmd_encode_exact(void **state) {
  lmm_gmd g = gmd_fixture();
  char *json = NULL;

  (void)state;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_OK);
  assert_string_equal(json, GMD_JSON);
  free(json);
  assert_int_equal(lmmw_t8_gmd_encode(&g, LMMW_T8_OMIT_RO, &json), LMM_OK);
  assert_string_equal(json, GMD_JSON_NO_RO "}");
  free(json);
}

static void test_gmd_encode_minimal(void **state) {
  lmm_gmd g = {0};
  char *json = NULL;

  (void)state;
  g.scef_port = -1;
  g.notification_destination = "http://h/n";
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_OK);
  assert_string_equal(json, "{\"notificationDestination\":\"http://h/n\"}");
  free(json);
  /* An empty payload is still a payload: "" (the MB2-U path is chosen by leaving it out). */
  g.has_payload = true;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_OK);
  assert_string_equal(json,
                      "{\"notificationDestination\":\"http://h/n\",\"groupMessagePayload\":\"\"}");
  free(json);
}

static void test_gmd_decode_handwritten(void **state) {
  const char *body = "{\"notificationDestination\":\"https://as.example/cb\","
                     "\"requestTestNotification\":false,"
                     "\"self\":\"http://scef/3gpp-group-message-delivery-mb2/v1/as01/"
                     "tmgi-allocation/0a1b2c00101/delivery-via-mbms/42?x=1#frag\","
                     "\"groupMessagePayload\":\"ZnctMS4yLjM=\","
                     "\"messageDeliveryStartTime\":\"2024-02-29T11:30:00-00:30\","
                     "\"scefMessageDeliveryPort\":0}";
  lmm_gmd g;

  (void)state;
  assert_int_equal(lmmw_t8_gmd_decode(body, strlen(body), LMMW_T8_REQUIRE, &g, NULL), LMM_OK);
  assert_string_equal(g.notification_destination, "https://as.example/cb");
  assert_true(g.has_request_test_notification);
  assert_false(g.request_test_notification);
  assert_string_equal(g.transaction_id, "42"); /* query and fragment ignored */
  assert_true(g.has_payload);
  assert_int_equal(g.payload_len, 8);
  assert_memory_equal(g.payload, "fw-1.2.3", 8);
  assert_int_equal(g.message_delivery_start_time, LEAP_DAY_NOON);
  assert_int_equal(g.scef_port, 0);
  assert_null(g.scef_ipv4);
  assert_null(g.external_group_id);
  assert_null(g.mbms_loc_area);
  assert_null(g.websock_notif_config_json);
  lmm_gmd_clear(&g);
}

static void test_gmd_decode_absent_values(void **state) {
  const char *body = "{\"notificationDestination\":\"http://h/n\",\"groupMessagePayload\":null,"
                     "\"scefMessageDeliveryPort\":null,\"requestTestNotification\":null}";
  lmm_gmd g;

  (void)state;
  assert_int_equal(lmmw_t8_gmd_decode(body, strlen(body), 0, &g, NULL), LMM_OK);
  assert_false(g.has_payload);
  assert_null(g.payload);
  assert_int_equal(g.scef_port, -1);
  assert_false(g.has_request_test_notification);
  assert_null(g.transaction_id);
  lmm_gmd_clear(&g);
  body = "{\"notificationDestination\":\"http://h/n\",\"groupMessagePayload\":\"\"}";
  assert_int_equal(lmmw_t8_gmd_decode(body, strlen(body), 0, &g, NULL), LMM_OK);
  assert_true(g.has_payload);
  assert_non_null(g.payload);
  assert_int_equal(g.payload_len, 0);
  lmm_gmd_clear(&g);
}

static void test_gmd_round_trip(void **state) {
  lmm_gmd g = gmd_fixture(), d;
  char *json = NULL;

  (void)state;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_OK);
  assert_int_equal(lmmw_t8_gmd_decode(json, strlen(json), LMMW_T8_REQUIRE, &d, NULL), LMM_OK);
  assert_gmd_eq(&g, &d);
  lmm_gmd_clear(&d);
  free(json);
  /* Without read-only members the SCEF-side strict decode accepts it. */
  assert_int_equal(lmmw_t8_gmd_encode(&g, LMMW_T8_OMIT_RO, &json), LMM_OK);
  assert_int_equal(
      lmmw_t8_gmd_decode(json, strlen(json), LMMW_T8_REQUIRE | LMMW_T8_REJECT_RO, &d, NULL),
      LMM_OK);
  assert_null(d.scef_ipv4);
  assert_int_equal(d.scef_port, -1);
  assert_int_equal(d.payload_len, 7);
  lmm_gmd_clear(&d);
  free(json);
}

static void test_gmd_required_and_read_only(void **state) {
  static const struct {
    const char *body;
    unsigned flags;
    const char *param, *reason;
  } cases[] = {
      {"{}", LMMW_T8_REQUIRE, "/notificationDestination", "is required"},
      {"{\"notificationDestination\":null}", LMMW_T8_REQUIRE, "/notificationDestination",
       "is required"},
      {"{\"notificationDestination\":\"u\",\"scefMessageDeliveryIPv4\":\"192.0.2.1\"}",
       LMMW_T8_REJECT_RO, "/scefMessageDeliveryIPv4", "is read-only"},
      {"{\"notificationDestination\":\"u\",\"scefMessageDeliveryIPv6\":\"::1\"}", LMMW_T8_REJECT_RO,
       "/scefMessageDeliveryIPv6", "is read-only"},
      {"{\"notificationDestination\":\"u\",\"scefMessageDeliveryPort\":9}", LMMW_T8_REJECT_RO,
       "/scefMessageDeliveryPort", "is read-only"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lmm_gmd g;
    lmmw_t8_err e = {{0}, {0}};
    assert_int_equal(
        lmmw_t8_gmd_decode(cases[i].body, strlen(cases[i].body), cases[i].flags, &g, &e),
        LMM_ERR_PROTO);
    assert_string_equal(e.param, cases[i].param);
    assert_string_equal(e.reason, cases[i].reason);
    assert_int_equal(g.scef_port, -1); /* the cleared state */
    assert_null(g.notification_destination);
  }
  {
    /* Without the flags, the same bodies are fine. */
    lmm_gmd g;
    assert_int_equal(lmmw_t8_gmd_decode(J("{}"), 0, &g, NULL), LMM_OK);
    lmm_gmd_clear(&g);
  }
}

static void test_gmd_list(void **state) {
  lmm_gmd in[2] = {gmd_fixture(), gmd_fixture()}, *out = NULL;
  size_t n = 0;
  char *json = NULL;
  lmmw_t8_err e = {{0}, {0}};
  const char *bad = "[{},{\"scefMessageDeliveryPort\":1.5}]";

  (void)state;
  in[1].has_payload = false;
  in[1].payload = NULL;
  in[1].payload_len = 0;
  in[1].scef_port = -1;
  in[1].mbms_loc_area = NULL;
  assert_int_equal(lmmw_t8_gmd_list_encode(in, 2, &json), LMM_OK);
  assert_int_equal(lmmw_t8_gmd_list_decode(json, strlen(json), &out, &n, &e), LMM_OK);
  assert_int_equal(n, 2);
  assert_gmd_eq(&out[0], &in[0]);
  assert_gmd_eq(&out[1], &in[1]);
  lmm_gmd_list_free(out, n);
  free(json);
  assert_int_equal(lmmw_t8_gmd_list_decode(bad, strlen(bad), &out, &n, &e), LMM_ERR_PROTO);
  assert_string_equal(e.param, "/1/scefMessageDeliveryPort");
  assert_null(out);
  assert_int_equal(lmmw_t8_gmd_list_decode(J("{}"), &out, &n, &e), LMM_OK);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].scef_port, -1);
  lmm_gmd_list_free(out, n);
}

/* ------------------------------------------------------------ merge patches */

static void test_tmgi_patch(void **state) {
  lmm_tmgi_allocation_patch p = {0};
  lmm_tmgi_allocation a;
  unsigned present = 99;
  char *json = NULL;
  lmmw_t8_err e = {{0}, {0}};

  (void)state;
  /* Nothing set: an empty object. */
  assert_int_equal(lmmw_t8_tmgi_patch_encode(&p, &json), LMM_OK);
  assert_string_equal(json, "{}");
  assert_int_equal(lmmw_t8_tmgi_patch_decode(json, strlen(json), &a, &present, &e), LMM_OK);
  assert_int_equal(present, 0);
  free(json);

  /* A value set, the other member untouched (absent from the body). */
  p.set_external_group_id = true;
  p.external_group_id = "new@grp";
  assert_int_equal(lmmw_t8_tmgi_patch_encode(&p, &json), LMM_OK);
  assert_string_equal(json, "{\"externalGroupId\":\"new@grp\"}");
  assert_int_equal(lmmw_t8_tmgi_patch_decode(json, strlen(json), &a, &present, &e), LMM_OK);
  assert_int_equal(present, LMMW_T8_GP_EXTERNAL_GROUP_ID);
  assert_string_equal(a.external_group_id, "new@grp");
  assert_null(a.mbms_loc_area);
  lmm_tmgi_allocation_clear(&a);
  free(json);

  /* Set to null (remove), and the area set. */
  p.external_group_id = NULL;
  p.set_mbms_loc_area = true;
  p.mbms_loc_area = &sai_area;
  assert_int_equal(lmmw_t8_tmgi_patch_encode(&p, &json), LMM_OK);
  assert_string_equal(
      json,
      "{\"externalGroupId\":null,\"mbmsLocArea\":{\"mbmsServiceAreaId\":[\"1a2b\",\"1a2c\"]}}");
  assert_int_equal(lmmw_t8_tmgi_patch_decode(json, strlen(json), &a, &present, &e), LMM_OK);
  assert_int_equal(present, LMMW_T8_GP_EXTERNAL_GROUP_ID | LMMW_T8_GP_MBMS_LOC_AREA);
  assert_null(a.external_group_id);
  assert_area_eq(a.mbms_loc_area, &sai_area);
  lmm_tmgi_allocation_clear(&a);
  free(json);

  p.mbms_loc_area = NULL;
  assert_int_equal(lmmw_t8_tmgi_patch_encode(&p, &json), LMM_OK);
  assert_string_equal(json, "{\"externalGroupId\":null,\"mbmsLocArea\":null}");
  assert_int_equal(lmmw_t8_tmgi_patch_decode(json, strlen(json), &a, &present, &e), LMM_OK);
  assert_int_equal(present, LMMW_T8_GP_EXTERNAL_GROUP_ID | LMMW_T8_GP_MBMS_LOC_AREA);
  assert_null(a.mbms_loc_area);
  free(json);

  /* Errors. */
  assert_int_equal(lmmw_t8_tmgi_patch_decode(J("{\"tmgiExpiration\":\"2024-02-29T12:00:00Z\"}"), &a,
                                             &present, &e),
                   LMM_ERR_PROTO);
  assert_string_equal(e.param, "/tmgiExpiration");
  assert_int_equal(present, 0);
  assert_int_equal(
      lmmw_t8_tmgi_patch_decode(J("{\"externalGroupId\":\"a@b@c\"}"), &a, &present, &e),
      LMM_ERR_PROTO);
  assert_string_equal(e.param, "/externalGroupId");
  assert_int_equal(lmmw_t8_tmgi_patch_decode(J("[]"), &a, &present, &e), LMM_ERR_PROTO);
  assert_string_equal(e.param, "");
  p.external_group_id = "bad";
  assert_int_equal(lmmw_t8_tmgi_patch_encode(&p, &json), LMM_ERR_ARG);
}

static void test_gmd_patch(void **state) {
  lmm_gmd_patch p = {0};
  lmm_gmd g;
  unsigned present = 0;
  char *json = NULL;
  lmmw_t8_err e = {{0}, {0}};

  (void)state;
  p.set_message_delivery_start_time = true;
  p.message_delivery_start_time = LEAP_DAY_NOON;
  p.set_payload = true;
  p.payload = (const uint8_t *)"\x01\x02\x03";
  p.payload_len = 3;
  assert_int_equal(lmmw_t8_gmd_patch_encode(&p, &json), LMM_OK);
  assert_string_equal(json, "{\"messageDeliveryStartTime\":\"2024-02-29T12:00:00Z\","
                            "\"groupMessagePayload\":\"AQID\"}");
  assert_int_equal(lmmw_t8_gmd_patch_decode(json, strlen(json), &g, &present, &e), LMM_OK);
  assert_int_equal(present, LMMW_T8_GP_START_TIME | LMMW_T8_GP_PAYLOAD);
  assert_int_equal(g.message_delivery_start_time, LEAP_DAY_NOON);
  assert_true(g.has_payload);
  assert_int_equal(g.payload_len, 3);
  assert_memory_equal(g.payload, "\x01\x02\x03", 3);
  assert_null(g.external_group_id);
  assert_int_equal(g.scef_port, -1);
  lmm_gmd_clear(&g);
  free(json);

  /* Every member set to null. */
  p.set_external_group_id = p.set_mbms_loc_area = p.set_notification_destination = true;
  p.message_delivery_start_time = 0;
  p.payload = NULL;
  p.payload_len = 0;
  assert_int_equal(lmmw_t8_gmd_patch_encode(&p, &json), LMM_OK);
  assert_string_equal(json, "{\"externalGroupId\":null,\"mbmsLocArea\":null,"
                            "\"messageDeliveryStartTime\":null,\"groupMessagePayload\":null,"
                            "\"notificationDestination\":null}");
  assert_int_equal(lmmw_t8_gmd_patch_decode(json, strlen(json), &g, &present, &e), LMM_OK);
  assert_int_equal(present, LMMW_T8_GP_EXTERNAL_GROUP_ID | LMMW_T8_GP_MBMS_LOC_AREA |
                                LMMW_T8_GP_START_TIME | LMMW_T8_GP_PAYLOAD |
                                LMMW_T8_GP_NOTIFICATION_DESTINATION);
  assert_false(g.has_payload);
  assert_null(g.payload);
  assert_int_equal(g.message_delivery_start_time, 0);
  assert_null(g.notification_destination);
  lmm_gmd_clear(&g);
  free(json);

  /* Values for the rest. */
  p.external_group_id = "g@d";
  p.mbms_loc_area = &full_area;
  p.notification_destination = "http://new/cb";
  p.set_message_delivery_start_time = p.set_payload = false;
  assert_int_equal(lmmw_t8_gmd_patch_encode(&p, &json), LMM_OK);
  assert_int_equal(lmmw_t8_gmd_patch_decode(json, strlen(json), &g, &present, &e), LMM_OK);
  assert_int_equal(present, LMMW_T8_GP_EXTERNAL_GROUP_ID | LMMW_T8_GP_MBMS_LOC_AREA |
                                LMMW_T8_GP_NOTIFICATION_DESTINATION);
  assert_string_equal(g.external_group_id, "g@d");
  assert_area_eq(g.mbms_loc_area, &full_area);
  assert_string_equal(g.notification_destination, "http://new/cb");
  lmm_gmd_clear(&g);
  free(json);

  /* Read-only members are refused in a patch whatever the flags. */
  assert_int_equal(
      lmmw_t8_gmd_patch_decode(J("{\"scefMessageDeliveryPort\":80}"), &g, &present, &e),
      LMM_ERR_PROTO);
  assert_string_equal(e.param, "/scefMessageDeliveryPort");
  assert_string_equal(e.reason, "is read-only");
  assert_int_equal(
      lmmw_t8_gmd_patch_decode(J("{\"groupMessagePayload\":\"AQI\"}"), &g, &present, &e),
      LMM_ERR_PROTO);
  assert_string_equal(e.param, "/groupMessagePayload");
  assert_int_equal(present, 0);
}

/* ------------------------------------------------------------ notifications */

static void test_notifications(void **state) {
  char *json = NULL, *link = NULL;
  bool delivered = false;
  lmmw_t8_err e = {{0}, {0}};

  (void)state;
  assert_int_equal(lmmw_t8_notification_encode(SELF_GMD, true, &json), LMM_OK);
  assert_string_equal(json, "{\"transaction\":\"" SELF_GMD "\",\"deliveryTriggerStatus\":true}");
  assert_int_equal(lmmw_t8_notification_decode(json, strlen(json), &link, &delivered, &e), LMM_OK);
  assert_string_equal(link, SELF_GMD);
  assert_true(delivered);
  free(link);
  free(json);

  assert_int_equal(
      lmmw_t8_notification_decode(J("{\"deliveryTriggerStatus\":false,\"transaction\":\"/t/1\"}"),
                                  &link, &delivered, &e),
      LMM_OK);
  assert_string_equal(link, "/t/1");
  assert_false(delivered);
  free(link);

  assert_int_equal(
      lmmw_t8_notification_decode(J("{\"deliveryTriggerStatus\":true}"), &link, &delivered, &e),
      LMM_ERR_PROTO);
  assert_string_equal(e.param, "/transaction");
  assert_string_equal(e.reason, "is required");
  assert_null(link);
  assert_int_equal(
      lmmw_t8_notification_decode(J("{\"transaction\":\"/t/1\"}"), &link, &delivered, &e),
      LMM_ERR_PROTO);
  assert_string_equal(e.param, "/deliveryTriggerStatus");
  assert_int_equal(lmmw_t8_notification_decode(
                       J("{\"transaction\":\"/t/1\",\"deliveryTriggerStatus\":\"true\"}"), &link,
                       &delivered, &e),
                   LMM_ERR_PROTO);
  assert_string_equal(e.param, "/deliveryTriggerStatus");
  assert_string_equal(e.reason, "must be a boolean");
  assert_int_equal(
      lmmw_t8_notification_decode(J("{\"transaction\":7,\"deliveryTriggerStatus\":true}"), &link,
                                  &delivered, &e),
      LMM_ERR_PROTO);
  assert_string_equal(e.param, "/transaction");
  assert_null(link);
  assert_false(delivered);

  assert_int_equal(lmmw_t8_test_notification_encode(SELF_GMD, &json), LMM_OK);
  assert_string_equal(json, "{\"subscription\":\"" SELF_GMD "\"}");
  assert_int_equal(lmmw_t8_test_notification_decode(json, strlen(json), &link, &e), LMM_OK);
  assert_string_equal(link, SELF_GMD);
  free(link);
  free(json);
  assert_int_equal(lmmw_t8_test_notification_decode(J("{}"), &link, &e), LMM_ERR_PROTO);
  assert_string_equal(e.param, "/subscription");
  assert_int_equal(lmmw_t8_test_notification_decode(J("{\"subscription\":\"\"}"), &link, &e),
                   LMM_ERR_PROTO);
  assert_string_equal(e.param, "/subscription");
  assert_int_equal(lmmw_t8_notification_encode(NULL, true, &json), LMM_ERR_ARG);
}

/* ----------------------------------------------------------- ProblemDetails */

static void test_problem(void **state) {
  lmm_invalid_param ips[2] = {{"/externalGroupId", "must be local@domain"}, {"/x", NULL}};
  lmm_problem p = {400,  "https://errors.example/bad", "Bad Request", "two members are wrong",
                   NULL, "INVALID_PARAMETERS",         ips,           2};
  lmm_problem d;
  char *json = NULL;
  lmmw_t8_err e = {{0}, {0}};
  const char *body = "{\"title\":\"Not Found\",\"status\":404,\"cause\":\"TMGI_NOT_FOUND\","
                     "\"detail\":\"no TMGI 0a1b2c00101\",\"supportedFeatures\":\"1\"}";

  (void)state;
  assert_int_equal(lmmw_t8_problem_encode(&p, &json), LMM_OK);
  assert_string_equal(json, "{\"type\":\"https://errors.example/bad\",\"title\":\"Bad Request\","
                            "\"status\":400,\"detail\":\"two members are wrong\","
                            "\"cause\":\"INVALID_PARAMETERS\",\"invalidParams\":["
                            "{\"param\":\"/externalGroupId\",\"reason\":\"must be local@domain\"},"
                            "{\"param\":\"/x\"}]}");
  assert_int_equal(lmmw_t8_problem_decode(json, strlen(json), &d, &e), LMM_OK);
  assert_int_equal(d.status, 400);
  assert_string_equal(d.type, "https://errors.example/bad");
  assert_string_equal(d.title, "Bad Request");
  assert_string_equal(d.detail, "two members are wrong");
  assert_null(d.instance);
  assert_string_equal(d.cause, "INVALID_PARAMETERS");
  assert_int_equal(d.n_invalid_params, 2);
  assert_string_equal(d.invalid_params[0].param, "/externalGroupId");
  assert_string_equal(d.invalid_params[0].reason, "must be local@domain");
  assert_string_equal(d.invalid_params[1].param, "/x");
  assert_null(d.invalid_params[1].reason);
  lmm_problem_clear(&d);
  free(json);

  assert_int_equal(lmmw_t8_problem_decode(body, strlen(body), &d, &e), LMM_OK);
  assert_int_equal(d.status, 404);
  assert_string_equal(d.cause, "TMGI_NOT_FOUND");
  assert_null(d.invalid_params);
  assert_int_equal(d.n_invalid_params, 0);
  lmm_problem_clear(&d);

  /* status 0 and NULL members are left out. */
  {
    lmm_problem empty = {0};
    assert_int_equal(lmmw_t8_problem_encode(&empty, &json), LMM_OK);
    assert_string_equal(json, "{}");
    free(json);
    empty.status = 42;
    assert_int_equal(lmmw_t8_problem_encode(&empty, &json), LMM_ERR_ARG);
  }

  static const struct {
    const char *body, *param;
  } bad[] = {
      {"{\"invalidParams\":[]}", "/invalidParams"},
      {"{\"invalidParams\":{}}", "/invalidParams"},
      {"{\"invalidParams\":[{\"reason\":\"r\"}]}", "/invalidParams/0/param"},
      {"{\"invalidParams\":[{\"param\":\"/a\"},3]}", "/invalidParams/1"},
      {"{\"invalidParams\":[{\"param\":\"/a\",\"reason\":5}]}", "/invalidParams/0/reason"},
      {"{\"status\":\"404\"}", "/status"},
      {"{\"status\":404.5}", "/status"},
      {"{\"status\":99}", "/status"},
      {"{\"status\":1e300}", "/status"},
      {"{\"title\":false}", "/title"},
      {"{\"cause\":[]}", "/cause"},
      {"[]", ""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    memset(&e, 0, sizeof e);
    if (lmmw_t8_problem_decode(bad[i].body, strlen(bad[i].body), &d, &e) != LMM_ERR_PROTO)
      fail_msg("accepted %s", bad[i].body);
    assert_string_equal(e.param, bad[i].param);
    assert_int_equal(d.n_invalid_params, 0);
    assert_null(d.invalid_params);
  }
}

/* -------------------------------------------------------------- malformed */

typedef struct bad_case {
  const char *body;
  size_t len; /* 0: strlen(body) */
  const char *param;
  const char *reason; /* exact when non-NULL */
} bad_case;

static const bad_case bad_gmd[] = {
    {"", 0, "", "empty body: a JSON value is required"},
    {"   ", 0, "", NULL},
    {"{\"notificationDestination\":\"u\"", 0, "", NULL}, /* truncated */
    {"{\"notificationDestination\":", 0, "", NULL},
    {"{\"notificationDestination\":\"u", 0, "", NULL},
    {"{", 0, "", NULL},
    {"[]", 0, "", "must be a JSON object"},
    {"\"text\"", 0, "", "must be a JSON object"},
    {"42", 0, "", "must be a JSON object"},
    {"null", 0, "", "must be a JSON object"},
    {"{} x", 0, "", "unexpected data after the JSON value at byte 3"},
    {"{}{}", 0, "", "unexpected data after the JSON value at byte 2"},
    {"{}\n\t ", 0, NULL, NULL}, /* trailing whitespace is fine: param NULL means success */
    {"{\"a\":1}\0", 8, "", "not valid JSON at byte 7: NUL byte"},
    {"{\"a\":\"x\0y\"}", 10, "", "not valid JSON at byte 7: NUL byte"},
    {"{\"a\":\"x\\u0000y\"}", 0, "", "not valid JSON at byte 7: \\u0000 in a string"},
    {"{\"a\":\"x\\\\u0000y\"}", 0, NULL, NULL}, /* an escaped backslash, then text */
    {"{\"a\":\"\xc3\x28\"}", 0, "", "not valid JSON at byte 6: invalid UTF-8"},
    {"{\"a\":\"\xed\xa0\x80\"}", 0, "", "not valid JSON at byte 6: invalid UTF-8"}, /* surrogate */
    {"{\"a\":\"\xc0\xaf\"}", 0, "", "not valid JSON at byte 6: invalid UTF-8"},     /* overlong */
    {"{\"a\":\"tab\there\"}", 0, "",
     "not valid JSON at byte 9: unescaped control character in a string"},
    {"{\"a\":01}", 0, "", "not valid JSON at byte 5: malformed number"},
    {"{\"a\":1.}", 0, "", "not valid JSON at byte 5: malformed number"},
    {"{\"a\":-}", 0, "", "not valid JSON at byte 5: malformed number"},
    {"{\"a\":1.5.3}", 0, "", "not valid JSON at byte 5: malformed number"},
    {"{\"a\":+1}", 0, "", NULL},
    {"{\"a\":1,}", 0, "", NULL},
    {"{'a':1}", 0, "", NULL},
    {"{\"a\":tru}", 0, "", NULL},
    {"{\"a\":\"\\x\"}", 0, "", NULL},
    {"{\"a\":\"\\ud800\"}", 0, "", NULL}, /* lone surrogate escape */
    /* The grammar is checked before cJSON reads the text, so that cJSON failing can only mean
     * it ran out of memory: what cJSON would refuse is refused here, with a reason. */
    {"{\"a\" 1}", 0, "", "not valid JSON at byte 5: expected ':'"},
    {"{1:1}", 0, "", "not valid JSON at byte 1: expected a member name"},
    {"{\"a\":1 \"b\":2}", 0, "",
     "not valid JSON at byte 7: expected ',' or the end of an array or object"},
    {"{\"a\":[1}", 0, "",
     "not valid JSON at byte 7: expected ',' or the end of an array or object"},
    {"{\"a\":[1,]}", 0, "", "not valid JSON at byte 8: unexpected character"},
    {"{\"a\":nul}", 0, "", "not valid JSON at byte 5: unexpected character"},
    {"{\"a\":\"\\q\"}", 0, "", "not valid JSON at byte 5: invalid escape in a string"},
    {"{\"a\":\"\\\0\"}", 10, "", "not valid JSON at byte 5: invalid escape in a string"},
    {"{\"a\":\"\\u12g4\"}", 0, "", "not valid JSON at byte 5: invalid \\u escape"},
    {"{\"a\":\"\\udc00\"}", 0, "", "not valid JSON at byte 5: lone low surrogate in a string"},
    {"{\"a\":\"\\ud83d\\u0041\"}", 0, "",
     "not valid JSON at byte 5: high surrogate without its low one"},
    {"{\"a\":\"\\ud83d\\ude00\"}", 0, NULL, NULL}, /* a surrogate pair */
    {"{\"a\":\"x}", 0, "", "not valid JSON at byte 5: unterminated string"},
    {"{\"a\":", 0, "", "not valid JSON at byte 5: unexpected end of the text"},
    /* RFC 8259 8.1: no byte order mark (cJSON skips one only before 2 more bytes). */
    {"\xef\xbb\xbf{}", 0, "", "not valid JSON at byte 0: unexpected character"},
    {"{\"a\":\"\\", 0, "", "not valid JSON at byte 5: unterminated string"},
    {"{\"a\":100000000000000000000000000000000000000000000000000000000000000}", 0, NULL,
     NULL}, /* 63 digits: what cJSON reads */
    {"{\"a\":1000000000000000000000000000000000000000000000000000000000000000}", 0, "",
     "not valid JSON at byte 5: number too long"},
    {"{\"self\":5}", 0, "/self", "must be a non-empty URI string without spaces"},
    {"{\"self\":\"\"}", 0, "/self", NULL},
    {"{\"self\":\"http://a b/\"}", 0, "/self", NULL},
    {"{\"notificationDestination\":true}", 0, "/notificationDestination", NULL},
    {"{\"requestTestNotification\":\"yes\"}", 0, "/requestTestNotification", "must be a boolean"},
    {"{\"requestTestNotification\":1}", 0, "/requestTestNotification", NULL},
    {"{\"websockNotifConfig\":[]}", 0, "/websockNotifConfig", "must be a JSON object"},
    {"{\"websockNotifConfig\":{\"requestWebsocketUri\":\"y\"}}", 0,
     "/websockNotifConfig/requestWebsocketUri", NULL},
    {"{\"websockNotifConfig\":{\"websocketUri\":3}}", 0, "/websockNotifConfig/websocketUri", NULL},
    {"{\"externalGroupId\":\"a\"}", 0, "/externalGroupId",
     "must be a string of the form local@domain"},
    {"{\"externalGroupId\":\"@b\"}", 0, "/externalGroupId", NULL},
    {"{\"externalGroupId\":\"a@\"}", 0, "/externalGroupId", NULL},
    {"{\"externalGroupId\":\"a@b@c\"}", 0, "/externalGroupId", NULL},
    {"{\"externalGroupId\":\"a b@c\"}", 0, "/externalGroupId", NULL},
    {"{\"externalGroupId\":\"a@b\\n\"}", 0, "/externalGroupId", NULL},
    {"{\"externalGroupId\":\"\"}", 0, "/externalGroupId", NULL},
    {"{\"externalGroupId\":[\"a@b\"]}", 0, "/externalGroupId", NULL},
    {"{\"mbmsLocArea\":[]}", 0, "/mbmsLocArea", "must be a JSON object"},
    {"{\"mbmsLocArea\":{\"cellId\":[]}}", 0, "/mbmsLocArea/cellId",
     "must be an array of strings with at least one item"},
    {"{\"mbmsLocArea\":{\"cellId\":\"c1\"}}", 0, "/mbmsLocArea/cellId", NULL},
    {"{\"mbmsLocArea\":{\"cellId\":[\"c1\",2]}}", 0, "/mbmsLocArea/cellId/1", "must be a string"},
    {"{\"mbmsLocArea\":{\"enodeBId\":[null]}}", 0, "/mbmsLocArea/enodeBId/0", NULL},
    {"{\"mbmsLocArea\":{\"mbmsServiceAreaId\":[]}}", 0, "/mbmsLocArea/mbmsServiceAreaId", NULL},
    {"{\"mbmsLocArea\":{\"geographicArea\":[]}}", 0, "/mbmsLocArea/geographicArea",
     "must be an array of objects with at least one item"},
    {"{\"mbmsLocArea\":{\"geographicArea\":[{},\"x\"]}}", 0, "/mbmsLocArea/geographicArea/1",
     "must be a JSON object"},
    {"{\"mbmsLocArea\":{\"civicAddress\":{}}}", 0, "/mbmsLocArea/civicAddress", NULL},
    {"{\"messageDeliveryStartTime\":\"2023-02-29T00:00:00Z\"}", 0, "/messageDeliveryStartTime",
     "must be an RFC 3339 date-time string between years 0000 and 9999"},
    {"{\"messageDeliveryStartTime\":\"tomorrow\"}", 0, "/messageDeliveryStartTime", NULL},
    {"{\"messageDeliveryStartTime\":1709208000}", 0, "/messageDeliveryStartTime", NULL},
    {"{\"groupMessagePayload\":\"Zg\"}", 0, "/groupMessagePayload",
     "must be a base64 string (standard alphabet, with padding)"},
    {"{\"groupMessagePayload\":\"Zm-v\"}", 0, "/groupMessagePayload", NULL},
    {"{\"groupMessagePayload\":\"Zm9v\\n\"}", 0, "/groupMessagePayload", NULL},
    {"{\"groupMessagePayload\":[1]}", 0, "/groupMessagePayload", NULL},
    {"{\"scefMessageDeliveryIPv4\":\"192.0.2\"}", 0, "/scefMessageDeliveryIPv4",
     "must be an IPv4 address in dotted-decimal form"},
    {"{\"scefMessageDeliveryIPv4\":\"2001:db8::1\"}", 0, "/scefMessageDeliveryIPv4", NULL},
    {"{\"scefMessageDeliveryIPv6\":\"192.0.2.1\"}", 0, "/scefMessageDeliveryIPv6",
     "must be an IPv6 address"},
    {"{\"scefMessageDeliveryPort\":70000}", 0, "/scefMessageDeliveryPort",
     "must be an integer between 0 and 65535"},
    {"{\"scefMessageDeliveryPort\":65536}", 0, "/scefMessageDeliveryPort", NULL},
    {"{\"scefMessageDeliveryPort\":-1}", 0, "/scefMessageDeliveryPort", NULL},
    {"{\"scefMessageDeliveryPort\":1.5}", 0, "/scefMessageDeliveryPort", NULL},
    {"{\"scefMessageDeliveryPort\":\"80\"}", 0, "/scefMessageDeliveryPort", NULL},
    {"{\"scefMessageDeliveryPort\":1e400}", 0, "/scefMessageDeliveryPort", NULL},
    {"{\"scefMessageDeliveryPort\":-1e400}", 0, "/scefMessageDeliveryPort", NULL},
    {"{\"scefMessageDeliveryPort\":123456789012345678901234567890}", 0, "/scefMessageDeliveryPort",
     NULL},
    {"{\"scefMessageDeliveryPort\":65535}", 0, NULL, NULL},
    {"{\"scefMessageDeliveryPort\":8.0e1}", 0, NULL, NULL}, /* 80: an integer in JSON terms */
};

static void test_gmd_malformed(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_gmd / sizeof *bad_gmd; i++) {
    const bad_case *c = &bad_gmd[i];
    size_t len = c->len != 0 ? c->len : strlen(c->body);
    lmm_gmd g;
    lmmw_t8_err e;
    lmm_err rc;

    memset(&e, 'x', sizeof e);
    e.param[sizeof e.param - 1] = e.reason[sizeof e.reason - 1] = '\0';
    rc = lmmw_t8_gmd_decode(c->body, len, 0, &g, &e);
    if (c->param == NULL) {
      if (rc != LMM_OK) fail_msg("case %zu refused: %s: %s", i, e.param, e.reason);
      lmm_gmd_clear(&g);
      continue;
    }
    if (rc != LMM_ERR_PROTO) fail_msg("case %zu accepted (rc %d)", i, rc);
    if (strcmp(e.param, c->param) != 0)
      fail_msg("case %zu: param \"%s\", expected \"%s\" (%s)", i, e.param, c->param, e.reason);
    if (c->reason != NULL && strcmp(e.reason, c->reason) != 0)
      fail_msg("case %zu: reason \"%s\", expected \"%s\"", i, e.reason, c->reason);
    if (c->param[0] == '\0' && c->reason == NULL &&
        strncmp(e.reason, "not valid JSON at byte ", 23))
      fail_msg("case %zu: reason \"%s\"", i, e.reason);
    /* Left in the cleared state. */
    assert_null(g.self);
    assert_null(g.mbms_loc_area);
    assert_null(g.payload);
    assert_int_equal(g.scef_port, -1);
  }
}

/* Builds {"x":[[...]]} with the object plus `depth - 1` arrays. */
static char *nested(size_t depth) {
  char *s = malloc(depth * 2 + 8);
  size_t n = 0;

  assert_non_null(s);
  n += (size_t)sprintf(s, "{\"x\":");
  for (size_t i = 1; i < depth; i++)
    s[n++] = '[';
  for (size_t i = 1; i < depth; i++)
    s[n++] = ']';
  s[n++] = '}';
  s[n] = '\0';
  return s;
}

static void test_nesting_limit(void **state) {
  lmm_gmd g;
  lmmw_t8_err e = {{0}, {0}};
  char *s;

  (void)state;
  s = nested(64);
  assert_int_equal(lmmw_t8_gmd_decode(s, strlen(s), 0, &g, &e), LMM_OK);
  lmm_gmd_clear(&g);
  free(s);
  /* One level more is refused before cJSON recurses; 5 bytes of prefix, then the 64th '['. */
  s = nested(65);
  assert_int_equal(lmmw_t8_gmd_decode(s, strlen(s), 0, &g, &e), LMM_ERR_PROTO);
  assert_string_equal(e.param, "");
  assert_string_equal(e.reason, "not valid JSON at byte 68: nesting too deep");
  free(s);
  s = nested(5000);
  assert_int_equal(lmmw_t8_gmd_decode(s, strlen(s), 0, &g, &e), LMM_ERR_PROTO);
  assert_string_equal(e.reason, "not valid JSON at byte 68: nesting too deep");
  free(s);
}

static void test_alloc_malformed(void **state) {
  static const bad_case cases[] = {
      {"{\"supportedFeatures\":\"xyz\"}", 0, "/supportedFeatures",
       "must be a string of hexadecimal digits"},
      {"{\"supportedFeatures\":12}", 0, "/supportedFeatures", NULL},
      {"{\"tmgiExpiration\":\"2024-02-30T00:00:00Z\"}", 0, "/tmgiExpiration", NULL},
      {"{\"tmgiExpiration\":true}", 0, "/tmgiExpiration", NULL},
      {"{\"mbmsLocArea\":{\"cellId\":[\"ok\"],\"enodeBId\":[]}}", 0, "/mbmsLocArea/enodeBId", NULL},
      {"{\"externalGroupId\":\"a@b@c\"}", 0, "/externalGroupId", NULL},
      {"[{}]", 0, "", "must be a JSON object"},
      {"{\"supportedFeatures\":\"\"}", 0, NULL, NULL}, /* the pattern allows empty */
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lmm_tmgi_allocation a;
    lmmw_t8_err e = {{0}, {0}};
    lmm_err rc = lmmw_t8_tmgi_allocation_decode(cases[i].body, strlen(cases[i].body), 0, &a, &e);
    if (cases[i].param == NULL) {
      assert_int_equal(rc, LMM_OK);
      lmm_tmgi_allocation_clear(&a);
      continue;
    }
    if (rc != LMM_ERR_PROTO) fail_msg("case %zu accepted", i);
    assert_string_equal(e.param, cases[i].param);
    if (cases[i].reason != NULL) assert_string_equal(e.reason, cases[i].reason);
    assert_null(a.supported_features);
    assert_null(a.mbms_loc_area);
  }
}

static void test_bad_arguments(void **state) {
  lmm_gmd g = {0};
  lmm_tmgi_allocation a = {0};
  char *json = (char *)"untouched";
  lmm_mbms_loc_area bad_geo = {NULL, 0, NULL, 0, NULL, 0, "[]", NULL};
  lmm_mbms_loc_area bad_geo2 = {NULL, 0, NULL, 0, NULL, 0, "{\"shape\":\"POINT\"}", NULL};
  lmm_mbms_loc_area bad_civic = {NULL, 0, NULL, 0, NULL, 0, NULL, "[{}"};
  char *null_item[] = {NULL};
  lmm_mbms_loc_area bad_cells = {null_item, 1, NULL, 0, NULL, 0, NULL, NULL};

  (void)state;
  g.scef_port = -1;
  assert_int_equal(lmmw_t8_gmd_encode(NULL, 0, &json), LMM_ERR_ARG);
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, NULL), LMM_ERR_ARG);
  g.scef_port = 70000;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.scef_port = -2;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.scef_port = -1;
  g.external_group_id = "a b@c";
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.external_group_id = NULL;
  g.websock_notif_config_json = "[]";
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.websock_notif_config_json = NULL;
  g.message_delivery_start_time = INT64_MAX;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.message_delivery_start_time = 0;
  g.has_payload = true;
  g.payload_len = 3;
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.has_payload = false;
  g.scef_ipv4 = "not-an-address";
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.scef_ipv4 = NULL;
  g.notification_destination = "";
  assert_int_equal(lmmw_t8_gmd_encode(&g, 0, &json), LMM_ERR_ARG);
  g.notification_destination = NULL;
  a.mbms_loc_area = &bad_geo;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  a.mbms_loc_area = &bad_geo2;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  a.mbms_loc_area = &bad_civic;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  a.mbms_loc_area = &bad_cells;
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  a.mbms_loc_area = NULL;
  a.supported_features = "0g";
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  a.supported_features = NULL;
  a.tmgi_expiration = -62167219201; /* before year 0 */
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  /* Invalid UTF-8 would come back as a decode error: refused on the way out. */
  a.tmgi_expiration = 0;
  a.self = "/x/\xff";
  assert_int_equal(lmmw_t8_tmgi_allocation_encode(&a, 0, &json), LMM_ERR_ARG);
  assert_string_equal(json, "untouched");
  assert_int_equal(lmmw_t8_gmd_decode(J("{}"), 0, NULL, NULL), LMM_ERR_ARG);
  assert_int_equal(lmmw_t8_gmd_decode(NULL, 0, 0, &g, NULL), LMM_ERR_PROTO);
  lmm_gmd_clear(&g);
}

/* ------------------------------------------------------------- links, forms */

static void test_link_last_segment(void **state) {
  static const struct {
    const char *link, *seg;
  } v[] = {
      {SELF_ALLOC, "0a1b2c00101"},
      {SELF_GMD, "txn-7"},
      {"/3gpp-group-message-delivery-mb2/v1/as01/tmgi-allocation/0a1b2c00101", "0a1b2c00101"},
      {"/a/b/c/", "c"},
      {"/a/b/c///", "c"},
      {"/a/b/c?x=1/2", "c"},
      {"/a/b/c/?x=1", "c"},
      {"/a/b/c#frag/x", "c"},
      {"http://scef.example:8080/a/b?q#f", "b"},
      {"tmgi-allocation/0a1b2c00101", "0a1b2c00101"},
      {"0a1b2c00101", "0a1b2c00101"},
      {"/a/%2F", "%2F"}, /* no percent-decoding */
      {"/", NULL},
      {"", NULL},
      {"?x=1", NULL},
      {"http://scef.example", NULL},
      {"http://scef.example/", NULL},
      {"//scef.example", NULL},
      {"//scef.example/a", "a"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    char *seg = lmmw_t8_link_last_segment(v[i].link);
    if (v[i].seg == NULL) {
      if (seg != NULL) fail_msg("\"%s\" gave \"%s\"", v[i].link, seg);
    } else {
      if (seg == NULL || strcmp(seg, v[i].seg) != 0)
        fail_msg("\"%s\" gave \"%s\", expected \"%s\"", v[i].link, seg ? seg : "(null)", v[i].seg);
    }
    free(seg);
  }
  assert_null(lmmw_t8_link_last_segment(NULL));
}

static void test_link_api_path(void **state) {
  const char *l = "https://scef.example:8443/root/3gpp-group-message-delivery-mb2/v1/as01/x";

  (void)state;
  assert_ptr_equal(lmmw_t8_link_api_path(l), l + strlen("https://scef.example:8443/root"));
  assert_string_equal(lmmw_t8_link_api_path("/3gpp-group-message-delivery-mb2/v1/a"),
                      "/3gpp-group-message-delivery-mb2/v1/a");
  assert_null(lmmw_t8_link_api_path("https://scef.example/3gpp-group-message-delivery-mb2/v2/a"));
  assert_null(lmmw_t8_link_api_path(NULL));
}

static void test_string_forms(void **state) {
  (void)state;
  assert_true(lmmw_t8_external_group_id_ok("meters@iot.example"));
  assert_true(lmmw_t8_external_group_id_ok("a@b"));
  assert_false(lmmw_t8_external_group_id_ok("a"));
  assert_false(lmmw_t8_external_group_id_ok("@b"));
  assert_false(lmmw_t8_external_group_id_ok("a@"));
  assert_false(lmmw_t8_external_group_id_ok("a@b@c"));
  assert_false(lmmw_t8_external_group_id_ok("a b@c"));
  assert_false(lmmw_t8_external_group_id_ok("a@b\t"));
  assert_false(lmmw_t8_external_group_id_ok(""));
  assert_false(lmmw_t8_external_group_id_ok(NULL));

  assert_true(lmmw_t8_tmgi_ok("0a1b2c00101"));
  assert_true(lmmw_t8_tmgi_ok("0A1B2C001012"));
  assert_true(lmmw_t8_tmgi_ok("ffffff999999"));
  assert_false(lmmw_t8_tmgi_ok("0a1b2c0010"));    /* 10 characters */
  assert_false(lmmw_t8_tmgi_ok("0a1b2c0010123")); /* 13 characters */
  assert_false(lmmw_t8_tmgi_ok("0a1b2g00101"));   /* 'g' is not hex */
  assert_false(lmmw_t8_tmgi_ok("0a1b2c0010a"));   /* hex in the MNC */
  assert_false(lmmw_t8_tmgi_ok("0a1b2ca0101"));   /* hex in the MCC */
  assert_false(lmmw_t8_tmgi_ok(""));
  assert_false(lmmw_t8_tmgi_ok(NULL));
}

/* ---------------------------------------------------------------- copies */

static void test_copies(void **state) {
  lmm_tmgi_allocation a = alloc_fixture(), ac;
  lmm_gmd g = gmd_fixture(), gc;
  lmm_mbms_loc_area *dup;

  (void)state;
  assert_int_equal(lmmw_t8_tmgi_allocation_copy(&ac, &a), LMM_OK);
  assert_alloc_eq(&ac, &a);
  assert_ptr_not_equal(ac.self, a.self);
  assert_ptr_not_equal(ac.mbms_loc_area, a.mbms_loc_area);
  assert_ptr_not_equal(ac.mbms_loc_area->cell_ids[0], a.mbms_loc_area->cell_ids[0]);
  lmm_tmgi_allocation_clear(&ac);
  assert_null(ac.self);

  assert_int_equal(lmmw_t8_gmd_copy(&gc, &g), LMM_OK);
  assert_gmd_eq(&gc, &g);
  assert_ptr_not_equal(gc.payload, g.payload);
  assert_ptr_not_equal(gc.websock_notif_config_json, g.websock_notif_config_json);
  lmm_gmd_clear(&gc);
  assert_int_equal(gc.scef_port, -1);

  g.payload_len = 0; /* an empty payload keeps a non-NULL pointer */
  assert_int_equal(lmmw_t8_gmd_copy(&gc, &g), LMM_OK);
  assert_true(gc.has_payload);
  assert_non_null(gc.payload);
  lmm_gmd_clear(&gc);

  dup = lmmw_t8_loc_area_dup(&full_area);
  assert_non_null(dup);
  assert_area_eq(dup, &full_area);
  lmm_mbms_loc_area_free(dup);
  assert_null(lmmw_t8_loc_area_dup(NULL));
}

/* ------------------------------------------------------------- public types */

static void test_clear_functions(void **state) {
  lmm_gmd g;
  lmm_t8_result r;

  (void)state;
  lmm_mbms_loc_area_free(NULL);
  lmm_tmgi_allocation_clear(NULL);
  lmm_gmd_clear(NULL);
  lmm_problem_clear(NULL);
  lmm_t8_result_clear(NULL);
  lmm_tmgi_allocation_list_free(NULL, 3);
  lmm_gmd_list_free(NULL, 3);

  assert_int_equal(lmmw_t8_gmd_decode(GMD_JSON, strlen(GMD_JSON), 0, &g, NULL), LMM_OK);
  lmm_gmd_clear(&g);
  assert_null(g.self);
  assert_null(g.payload);
  assert_false(g.has_payload);
  assert_int_equal(g.scef_port, -1);

  memset(&r, 0, sizeof r);
  r.err = LMM_ERR_T8;
  r.http_status = 400;
  r.has_problem = true;
  assert_int_equal(lmmw_t8_problem_decode(J("{\"cause\":\"X\"}"), &r.problem, NULL), LMM_OK);
  lmm_t8_result_clear(&r);
  assert_int_equal(r.err, LMM_OK);
  assert_int_equal(r.http_status, 0);
  assert_false(r.has_problem);
  assert_null(r.problem.cause);
}

static void check_describe(const lmm_t8_result *r, const char *expected) {
  char *s = lmm_t8_result_describe(r);
  assert_non_null(s);
  assert_string_equal(s, expected);
  lmm_free(s);
}

static void test_describe(void **state) {
  lmm_t8_result r;
  const char *pd = "{\"status\":404,\"cause\":\"TMGI_NOT_FOUND\",\"detail\":\"no TMGI 0a1b2c00101 "
                   "for this SCS/AS\",\"invalidParams\":[{\"param\":\"/externalGroupId\","
                   "\"reason\":\"must be local@domain\"}]}";

  (void)state;
  memset(&r, 0, sizeof r);
  r.err = LMM_ERR_T8;
  r.http_status = 404;
  r.attempts = 1;
  check_describe(&r, "HTTP 404 Not Found");
  r.has_problem = true;
  assert_int_equal(lmmw_t8_problem_decode(pd, strlen(pd), &r.problem, NULL), LMM_OK);
  check_describe(&r, "HTTP 404 Not Found (cause TMGI_NOT_FOUND): no TMGI 0a1b2c00101 for this "
                     "SCS/AS; invalid /externalGroupId: must be local@domain");
  lmm_t8_result_clear(&r);

  r.err = LMM_ERR_T8;
  r.http_status = 503;
  r.attempts = 5;
  r.has_problem = true;
  assert_int_equal(lmmw_t8_problem_decode(J("{\"title\":\"Busy\\nnow\"}"), &r.problem, NULL),
                   LMM_OK);
  check_describe(&r, "HTTP 503 Service Unavailable: Busy now (after 5 attempts)");
  lmm_t8_result_clear(&r);

  r.err = LMM_ERR_NET;
  snprintf(r.transport_error, sizeof r.transport_error, "Could not connect to server");
  check_describe(&r, "network error: Could not connect to server");
  r.err = LMM_ERR_PROTO;
  r.http_status = 201;
  snprintf(r.transport_error, sizeof r.transport_error, "no Location header");
  check_describe(&r, "malformed answer (HTTP 201): no Location header");
  lmm_t8_result_clear(&r);
  r.http_status = 201;
  check_describe(&r, "OK (HTTP 201)");
  r.err = LMM_ERR_CANCELLED;
  check_describe(&r, "cancelled");
  r.err = LMM_ERR_TIMEOUT;
  check_describe(&r, "timed out");
  assert_null(lmm_t8_result_describe(NULL));
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_encode_exact),
      cmocka_unit_test(test_alloc_encode_minimal),
      cmocka_unit_test(test_alloc_decode_handwritten),
      cmocka_unit_test(test_alloc_round_trip),
      cmocka_unit_test(test_alloc_read_only_refused),
      cmocka_unit_test(test_alloc_nulls_are_absent),
      cmocka_unit_test(test_alloc_decode_uses_length),
      cmocka_unit_test(test_alloc_duplicate_keys_first_wins),
      cmocka_unit_test(test_alloc_list),
      cmocka_unit_test(test_gmd_encode_exact),
      cmocka_unit_test(test_gmd_encode_minimal),
      cmocka_unit_test(test_gmd_decode_handwritten),
      cmocka_unit_test(test_gmd_decode_absent_values),
      cmocka_unit_test(test_gmd_round_trip),
      cmocka_unit_test(test_gmd_required_and_read_only),
      cmocka_unit_test(test_gmd_list),
      cmocka_unit_test(test_tmgi_patch),
      cmocka_unit_test(test_gmd_patch),
      cmocka_unit_test(test_notifications),
      cmocka_unit_test(test_problem),
      cmocka_unit_test(test_gmd_malformed),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_alloc_malformed),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_link_last_segment),
      cmocka_unit_test(test_link_api_path),
      cmocka_unit_test(test_string_forms),
      cmocka_unit_test(test_copies),
      cmocka_unit_test(test_clear_functions),
      cmocka_unit_test(test_describe),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
