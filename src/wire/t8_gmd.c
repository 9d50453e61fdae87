/* t8_gmd.c - JSON of GMDViaMBMSByMb2, its collection and its merge patch. */
#include "lmm_wire/t8_json.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "t8_internal.h"

#define REASON_PORT "must be an integer between 0 and 65535"

/* -------------------------------------------------------- GMDViaMBMSByMb2 */

/* WebsockNotifConfig {websocketUri: Link, requestWebsocketUri: boolean}. */
static lmm_err websock_check(const cJSON *v, const char *ptr, lmmw_t8_err *err) {
  char *uri = NULL;
  bool req;
  lmm_err rc;

  if (!cJSON_IsObject(v)) return lmmw_json_fail(err, ptr, REASON_OBJECT);
  rc = lmmw_json_get_str(v, ptr, "websocketUri", LMMW_JS_LINK, &uri, NULL, err);
  free(uri);
  if (rc == LMM_OK) rc = lmmw_json_get_bool(v, ptr, "requestWebsocketUri", &req, NULL, err);
  return rc;
}

static lmm_err get_websock(const cJSON *obj, const char *base, char **out, lmmw_t8_err *err) {
  const cJSON *v;
  char ptr[sizeof((lmmw_t8_err *)0)->param];
  lmm_err rc;

  if (lmmw_json_member(obj, "websockNotifConfig", &v) != LMMW_JM_VALUE) return LMM_OK;
  lmmw_json_ptr(ptr, sizeof ptr, base, "websockNotifConfig", -1);
  if ((rc = websock_check(v, ptr, err))) return rc;
  return lmmw_json_print(v, out);
}

static const char *const gmd_ro_members[] = {"scefMessageDeliveryIPv4", "scefMessageDeliveryIPv6",
                                             "scefMessageDeliveryPort"};

static lmm_err reject_gmd_ro(const cJSON *o, const char *base, lmmw_t8_err *err) {
  lmm_err rc = LMM_OK;

  for (size_t i = 0; i < sizeof gmd_ro_members / sizeof *gmd_ro_members && rc == LMM_OK; i++)
    rc = lmmw_json_reject(o, base, gmd_ro_members[i], err);
  return rc;
}

static lmm_err gmd_from_json(const cJSON *o, const char *base, unsigned flags, lmm_gmd *g,
                             lmmw_t8_err *err) {
  lmmw_jm test = LMMW_JM_ABSENT, payload = LMMW_JM_ABSENT;
  long port = -1;
  lmm_err rc;

  if (!cJSON_IsObject(o)) return lmmw_json_fail(err, base, REASON_OBJECT);
  if ((flags & LMMW_T8_REJECT_RO) && (rc = reject_gmd_ro(o, base, err))) return rc;
  if ((rc = lmmw_json_get_str(o, base, "self", LMMW_JS_LINK, &g->self, NULL, err)) ||
      (rc = lmmw_json_get_str(o, base, "notificationDestination", LMMW_JS_LINK,
                              &g->notification_destination, NULL, err)) ||
      (rc = lmmw_json_get_bool(o, base, "requestTestNotification", &g->request_test_notification,
                               &test, err)) ||
      (rc = get_websock(o, base, &g->websock_notif_config_json, err)) ||
      (rc = lmmw_json_get_str(o, base, "externalGroupId", LMMW_JS_EGID, &g->external_group_id, NULL,
                              err)) ||
      (rc = lmmw_t8_get_loc_area(o, base, &g->mbms_loc_area, NULL, err)) ||
      (rc = lmmw_json_get_time(o, base, "messageDeliveryStartTime", &g->message_delivery_start_time,
                               NULL, err)) ||
      (rc = lmmw_json_get_bytes(o, base, "groupMessagePayload", &g->payload, &g->payload_len,
                                &payload, err)) ||
      (rc = lmmw_json_get_str(o, base, "scefMessageDeliveryIPv4", LMMW_JS_IPV4, &g->scef_ipv4, NULL,
                              err)) ||
      (rc = lmmw_json_get_str(o, base, "scefMessageDeliveryIPv6", LMMW_JS_IPV6, &g->scef_ipv6, NULL,
                              err)) ||
      (rc = lmmw_json_get_int(o, base, "scefMessageDeliveryPort", 0, 65535, REASON_PORT, &port,
                              NULL, err)))
    return rc;
  g->has_request_test_notification = test == LMMW_JM_VALUE;
  g->has_payload = payload == LMMW_JM_VALUE;
  g->scef_port = (int32_t)port;
  if ((flags & LMMW_T8_REQUIRE) && g->notification_destination == NULL)
    return lmmw_t8_fail_required(err, base, "notificationDestination");
  return lmmw_t8_id_from_self(g->self, &g->transaction_id);
}

static lmm_err gmd_to_json(const lmm_gmd *g, unsigned flags, cJSON *o) {
  lmm_err rc;

  if (g->scef_port < -1 || g->scef_port > 65535 ||
      (g->has_payload && g->payload == NULL && g->payload_len != 0))
    return LMM_ERR_ARG;
  if ((rc = lmmw_json_add_str(o, "self", g->self, LMMW_JS_LINK)) ||
      (rc = lmmw_json_add_str(o, "notificationDestination", g->notification_destination,
                              LMMW_JS_LINK)) ||
      (g->has_request_test_notification &&
       (rc = lmmw_json_add_bool(o, "requestTestNotification", g->request_test_notification))) ||
      (rc = lmmw_json_add_json(o, "websockNotifConfig", g->websock_notif_config_json,
                               websock_check)) ||
      (rc = lmmw_json_add_str(o, "externalGroupId", g->external_group_id, LMMW_JS_EGID)) ||
      (rc = lmmw_t8_add_loc_area(o, g->mbms_loc_area)) ||
      (g->message_delivery_start_time != 0 &&
       (rc = lmmw_json_add_time(o, "messageDeliveryStartTime", g->message_delivery_start_time))) ||
      (g->has_payload &&
       (rc = lmmw_json_add_bytes(o, "groupMessagePayload", g->payload, g->payload_len))))
    return rc;
  if (flags & LMMW_T8_OMIT_RO) return LMM_OK;
  if ((rc = lmmw_json_add_str(o, "scefMessageDeliveryIPv4", g->scef_ipv4, LMMW_JS_IPV4)) ||
      (rc = lmmw_json_add_str(o, "scefMessageDeliveryIPv6", g->scef_ipv6, LMMW_JS_IPV6)) ||
      (g->scef_port >= 0 && (rc = lmmw_json_add_num(o, "scefMessageDeliveryPort", g->scef_port))))
    return rc;
  return LMM_OK;
}

lmm_err lmmw_t8_gmd_encode(const lmm_gmd *g, unsigned flags, char **out) {
  cJSON *o;

  if (g == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  return lmmw_t8_finish(o, gmd_to_json(g, flags, o), out);
}

/* The cleared state of a delivery: zeroes plus the port's "absent" value. */
static void gmd_init(lmm_gmd *g) {
  memset(g, 0, sizeof *g);
  g->scef_port = -1;
}

lmm_err lmmw_t8_gmd_decode(const char *json, size_t len, unsigned flags, lmm_gmd *out,
                           lmmw_t8_err *err) {
  cJSON *doc = NULL;
  lmm_err rc;

  if (out == NULL) return LMM_ERR_ARG;
  gmd_init(out);
  if ((rc = lmmw_json_parse(json, len, &doc, err)) == LMM_OK)
    rc = gmd_from_json(doc, "", flags, out, err);
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_gmd_clear(out);
  return rc;
}

static lmm_err gmd_item_decode(const cJSON *o, const char *ptr, void *item, lmmw_t8_err *err) {
  return gmd_from_json(o, ptr, 0, item, err);
}

static lmm_err gmd_item_encode(const void *item, cJSON *o) {
  return gmd_to_json(item, 0, o);
}

static void gmd_item_init(void *item) {
  gmd_init(item);
}

static void gmd_items_free(void *items, size_t n) {
  lmm_gmd_list_free(items, n);
}

static const lmmw_t8_list_kind gmd_list = {sizeof(lmm_gmd), gmd_item_init, gmd_item_decode,
                                           gmd_item_encode, gmd_items_free};

lmm_err lmmw_t8_gmd_list_encode(const lmm_gmd *g, size_t n, char **out) {
  return lmmw_t8_list_encode(&gmd_list, g, n, out);
}

lmm_err lmmw_t8_gmd_list_decode(const char *json, size_t len, lmm_gmd **out, size_t *n,
                                lmmw_t8_err *err) {
  void *items = NULL;
  lmm_err rc;

  if (out == NULL || n == NULL) return LMM_ERR_ARG;
  rc = lmmw_t8_list_decode(&gmd_list, json, len, &items, n, err);
  *out = items;
  return rc;
}

lmm_err lmmw_t8_gmd_patch_encode(const lmm_gmd_patch *p, char **out) {
  cJSON *o;
  lmm_err rc = LMM_OK;

  if (p == NULL || out == NULL) return LMM_ERR_ARG;
  if (p->set_payload && p->payload == NULL && p->payload_len != 0) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  if (p->set_external_group_id)
    rc = p->external_group_id == NULL
             ? lmmw_json_add_null(o, "externalGroupId")
             : lmmw_json_add_str(o, "externalGroupId", p->external_group_id, LMMW_JS_EGID);
  if (rc == LMM_OK && p->set_mbms_loc_area)
    rc = p->mbms_loc_area == NULL ? lmmw_json_add_null(o, "mbmsLocArea")
                                  : lmmw_t8_add_loc_area(o, p->mbms_loc_area);
  if (rc == LMM_OK && p->set_message_delivery_start_time)
    rc = p->message_delivery_start_time == 0
             ? lmmw_json_add_null(o, "messageDeliveryStartTime")
             : lmmw_json_add_time(o, "messageDeliveryStartTime", p->message_delivery_start_time);
  if (rc == LMM_OK && p->set_payload)
    rc = p->payload == NULL
             ? lmmw_json_add_null(o, "groupMessagePayload")
             : lmmw_json_add_bytes(o, "groupMessagePayload", p->payload, p->payload_len);
  if (rc == LMM_OK && p->set_notification_destination)
    rc = p->notification_destination == NULL
             ? lmmw_json_add_null(o, "notificationDestination")
             : lmmw_json_add_str(o, "notificationDestination", p->notification_destination,
                                 LMMW_JS_LINK);
  return lmmw_t8_finish(o, rc, out);
}

lmm_err lmmw_t8_gmd_patch_decode(const char *json, size_t len, lmm_gmd *out, unsigned *present,
                                 lmmw_t8_err *err) {
  cJSON *doc = NULL;
  lmmw_jm egid = LMMW_JM_ABSENT, area = LMMW_JM_ABSENT, start = LMMW_JM_ABSENT,
          payload = LMMW_JM_ABSENT, dest = LMMW_JM_ABSENT;
  lmm_err rc;

  if (out == NULL || present == NULL) return LMM_ERR_ARG;
  gmd_init(out);
  *present = 0;
  if ((rc = lmmw_json_parse(json, len, &doc, err))) goto out;
  if (!cJSON_IsObject(doc)) {
    rc = lmmw_json_fail(err, "", REASON_OBJECT);
    goto out;
  }
  if ((rc = reject_gmd_ro(doc, "", err)) ||
      (rc = lmmw_json_get_str(doc, "", "externalGroupId", LMMW_JS_EGID, &out->external_group_id,
                              &egid, err)) ||
      (rc = lmmw_t8_get_loc_area(doc, "", &out->mbms_loc_area, &area, err)) ||
      (rc = lmmw_json_get_time(doc, "", "messageDeliveryStartTime",
                               &out->message_delivery_start_time, &start, err)) ||
      (rc = lmmw_json_get_bytes(doc, "", "groupMessagePayload", &out->payload, &out->payload_len,
                                &payload, err)) ||
      (rc = lmmw_json_get_str(doc, "", "notificationDestination", LMMW_JS_LINK,
                              &out->notification_destination, &dest, err)))
    goto out;
  out->has_payload = payload == LMMW_JM_VALUE;
  *present = (egid != LMMW_JM_ABSENT ? LMMW_T8_GP_EXTERNAL_GROUP_ID : 0u) |
             (area != LMMW_JM_ABSENT ? LMMW_T8_GP_MBMS_LOC_AREA : 0u) |
             (start != LMMW_JM_ABSENT ? LMMW_T8_GP_START_TIME : 0u) |
             (payload != LMMW_JM_ABSENT ? LMMW_T8_GP_PAYLOAD : 0u) |
             (dest != LMMW_JM_ABSENT ? LMMW_T8_GP_NOTIFICATION_DESTINATION : 0u);
out:
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_gmd_clear(out);
  return rc;
}
