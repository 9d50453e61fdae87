/* t8_json.c - JSON mapping of the T8 GMD-via-MB2 types (TMGIAllocation, GMDViaMBMSByMb2, their
 * merge patches, notifications, ProblemDetails) and deep copies of them. */
#include "lmm_wire/t8_json.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"

#define REASON_OBJECT "must be a JSON object"
#define REASON_PORT   "must be an integer between 0 and 65535"
#define REASON_STATUS "must be an integer HTTP status code (100 to 599)"

/* ---------------------------------------------------------------- helpers */

/* Fails "is required" at member `name` of the object at the root. */
static lmm_err fail_required(lmmw_t8_err *err, const char *base, const char *name) {
  char ptr[sizeof((lmmw_t8_err *)0)->param];

  lmmw_json_ptr(ptr, sizeof ptr, base, name, -1);
  return lmmw_json_fail(err, ptr, "is required");
}

/* Sets *id to the last path segment of `self`, the only place the TMGI or transaction id
 * travels (neither is a JSON member). */
static lmm_err id_from_self(const char *self, char **id) {
  free(*id);
  *id = NULL;
  return lmmw_t8_link_segment(self, id);
}

/* Encodes `root` (taking it) into *out. */
static lmm_err finish(cJSON *root, lmm_err rc, char **out) {
  char *text = NULL;

  if (rc == LMM_OK) rc = lmmw_json_print(root, &text);
  cJSON_Delete(root);
  if (rc == LMM_OK) *out = text;
  return rc;
}

/* ----------------------------------------------------------- MbmsLocArea */

static lmm_err loc_area_from_json(const cJSON *v, const char *ptr, lmm_mbms_loc_area **out,
                                  lmmw_t8_err *err) {
  lmm_mbms_loc_area *a;
  lmm_err rc;

  if (!cJSON_IsObject(v)) return lmmw_json_fail(err, ptr, REASON_OBJECT);
  if ((a = calloc(1, sizeof *a)) == NULL) return LMM_ERR_NOMEM;
  /* A null member inside is treated as absent: the area is replaced as a whole, never merged. */
  if ((rc = lmmw_json_get_strv(v, ptr, "cellId", &a->cell_ids, &a->n_cell_ids, NULL, err)) ||
      (rc = lmmw_json_get_strv(v, ptr, "enodeBId", &a->enodeb_ids, &a->n_enodeb_ids, NULL, err)) ||
      (rc = lmmw_json_get_objv_text(v, ptr, "geographicArea", &a->geographic_area_json, NULL,
                                    err)) ||
      (rc = lmmw_json_get_strv(v, ptr, "mbmsServiceAreaId", &a->service_area_ids,
                               &a->n_service_area_ids, NULL, err)) ||
      (rc = lmmw_json_get_objv_text(v, ptr, "civicAddress", &a->civic_address_json, NULL, err))) {
    lmm_mbms_loc_area_free(a);
    return rc;
  }
  *out = a;
  return LMM_OK;
}

static lmm_err get_loc_area(const cJSON *obj, const char *base, lmm_mbms_loc_area **out,
                            lmmw_jm *seen, lmmw_t8_err *err) {
  const cJSON *v;
  char ptr[sizeof((lmmw_t8_err *)0)->param];
  lmmw_jm m = lmmw_json_member(obj, "mbmsLocArea", &v);

  if (seen != NULL) *seen = m;
  if (m != LMMW_JM_VALUE) return LMM_OK;
  lmmw_json_ptr(ptr, sizeof ptr, base, "mbmsLocArea", -1);
  return loc_area_from_json(v, ptr, out, err);
}

static lmm_err add_loc_area(cJSON *obj, const lmm_mbms_loc_area *a) {
  cJSON *o;
  lmm_err rc;

  if (a == NULL) return LMM_OK;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  if ((rc = lmmw_json_add_strv(o, "cellId", a->cell_ids, a->n_cell_ids)) ||
      (rc = lmmw_json_add_strv(o, "enodeBId", a->enodeb_ids, a->n_enodeb_ids)) ||
      (rc = lmmw_json_add_json(o, "geographicArea", a->geographic_area_json,
                               lmmw_json_check_objv)) ||
      (rc = lmmw_json_add_strv(o, "mbmsServiceAreaId", a->service_area_ids,
                               a->n_service_area_ids)) ||
      (rc = lmmw_json_add_json(o, "civicAddress", a->civic_address_json, lmmw_json_check_objv))) {
    cJSON_Delete(o);
    return rc;
  }
  if (!cJSON_AddItemToObject(obj, "mbmsLocArea", o)) {
    cJSON_Delete(o);
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}

/* -------------------------------------------------------- TMGIAllocation */

static lmm_err alloc_from_json(const cJSON *o, const char *base, unsigned flags,
                               lmm_tmgi_allocation *a, lmmw_t8_err *err) {
  lmm_err rc;

  if (!cJSON_IsObject(o)) return lmmw_json_fail(err, base, REASON_OBJECT);
  if ((flags & LMMW_T8_REJECT_RO) && (rc = lmmw_json_reject(o, base, "tmgiExpiration", err)))
    return rc;
  if ((rc = lmmw_json_get_str(o, base, "self", LMMW_JS_LINK, &a->self, NULL, err)) ||
      (rc = lmmw_json_get_str(o, base, "supportedFeatures", LMMW_JS_HEX, &a->supported_features,
                              NULL, err)) ||
      (rc = lmmw_json_get_str(o, base, "externalGroupId", LMMW_JS_EGID, &a->external_group_id, NULL,
                              err)) ||
      (rc = get_loc_area(o, base, &a->mbms_loc_area, NULL, err)) ||
      (rc = lmmw_json_get_time(o, base, "tmgiExpiration", &a->tmgi_expiration, NULL, err)))
    return rc;
  return id_from_self(a->self, &a->tmgi);
}

static lmm_err alloc_to_json(const lmm_tmgi_allocation *a, unsigned flags, cJSON *o) {
  lmm_err rc;

  if ((rc = lmmw_json_add_str(o, "self", a->self, LMMW_JS_LINK)) ||
      (rc = lmmw_json_add_str(o, "supportedFeatures", a->supported_features, LMMW_JS_HEX)) ||
      (rc = lmmw_json_add_str(o, "externalGroupId", a->external_group_id, LMMW_JS_EGID)) ||
      (rc = add_loc_area(o, a->mbms_loc_area)))
    return rc;
  /* 0 is "absent": the epoch itself is never a real expiry. */
  if (!(flags & LMMW_T8_OMIT_RO) && a->tmgi_expiration != 0)
    return lmmw_json_add_time(o, "tmgiExpiration", a->tmgi_expiration);
  return LMM_OK;
}

lmm_err lmmw_t8_tmgi_allocation_encode(const lmm_tmgi_allocation *a, unsigned flags, char **out) {
  cJSON *o;

  if (a == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  return finish(o, alloc_to_json(a, flags, o), out);
}

lmm_err lmmw_t8_tmgi_allocation_decode(const char *json, size_t len, unsigned flags,
                                       lmm_tmgi_allocation *out, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  lmm_err rc;

  if (out == NULL) return LMM_ERR_ARG;
  memset(out, 0, sizeof *out);
  if ((rc = lmmw_json_parse(json, len, &doc, err)) == LMM_OK)
    rc = alloc_from_json(doc, "", flags, out, err);
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_tmgi_allocation_clear(out);
  return rc;
}

lmm_err lmmw_t8_tmgi_allocation_list_encode(const lmm_tmgi_allocation *a, size_t n, char **out) {
  cJSON *arr;
  lmm_err rc = LMM_OK;

  if (out == NULL || (a == NULL && n != 0)) return LMM_ERR_ARG;
  if ((arr = cJSON_CreateArray()) == NULL) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      rc = LMM_ERR_NOMEM;
    } else {
      rc = alloc_to_json(&a[i], 0, o);
    }
  }
  return finish(arr, rc, out);
}

/* Shape of a collection body: a JSON array, or (as the YAML types it) a single object. */
static lmm_err list_shape(const cJSON *doc, size_t *n, lmmw_t8_err *err) {
  if (cJSON_IsArray(doc))
    *n = (size_t)cJSON_GetArraySize(doc);
  else if (cJSON_IsObject(doc))
    *n = 1;
  else
    return lmmw_json_fail(err, "", "must be a JSON array or object");
  return LMM_OK;
}

lmm_err lmmw_t8_tmgi_allocation_list_decode(const char *json, size_t len, lmm_tmgi_allocation **out,
                                            size_t *n, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  const cJSON *it;
  lmm_tmgi_allocation *arr = NULL;
  size_t cnt = 0, i = 0;
  lmm_err rc;

  if (out == NULL || n == NULL) return LMM_ERR_ARG;
  *out = NULL;
  *n = 0;
  if ((rc = lmmw_json_parse(json, len, &doc, err)) || (rc = list_shape(doc, &cnt, err))) goto out;
  /* Never NULL on success, even for "[]": callers test the pointer. */
  if ((arr = calloc(cnt != 0 ? cnt : 1, sizeof *arr)) == NULL) {
    rc = LMM_ERR_NOMEM;
    goto out;
  }
  if (cJSON_IsObject(doc)) {
    rc = alloc_from_json(doc, "", 0, &arr[0], err);
    i = 1;
  } else {
    cJSON_ArrayForEach(it, doc) {
      char ptr[24];
      lmmw_json_ptr(ptr, sizeof ptr, "", NULL, (long)i);
      /* Counted first, so a failed item is cleared with the others. */
      i++;
      if ((rc = alloc_from_json(it, ptr, 0, &arr[i - 1], err)) != LMM_OK) break;
    }
  }
  if (rc == LMM_OK) {
    *out = arr;
    *n = cnt;
    arr = NULL;
  }
out:
  lmm_tmgi_allocation_list_free(arr, i);
  cJSON_Delete(doc);
  return rc;
}

lmm_err lmmw_t8_tmgi_patch_encode(const lmm_tmgi_allocation_patch *p, char **out) {
  cJSON *o;
  lmm_err rc = LMM_OK;

  if (p == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  /* RFC 7396: a member set to null removes it; members not set stay out of the body. */
  if (p->set_external_group_id)
    rc = p->external_group_id == NULL
             ? lmmw_json_add_null(o, "externalGroupId")
             : lmmw_json_add_str(o, "externalGroupId", p->external_group_id, LMMW_JS_EGID);
  if (rc == LMM_OK && p->set_mbms_loc_area)
    rc = p->mbms_loc_area == NULL ? lmmw_json_add_null(o, "mbmsLocArea")
                                  : add_loc_area(o, p->mbms_loc_area);
  return finish(o, rc, out);
}

lmm_err lmmw_t8_tmgi_patch_decode(const char *json, size_t len, lmm_tmgi_allocation *out,
                                  unsigned *present, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  lmmw_jm egid = LMMW_JM_ABSENT, area = LMMW_JM_ABSENT;
  lmm_err rc;

  if (out == NULL || present == NULL) return LMM_ERR_ARG;
  memset(out, 0, sizeof *out);
  *present = 0;
  if ((rc = lmmw_json_parse(json, len, &doc, err))) goto out;
  if (!cJSON_IsObject(doc)) {
    rc = lmmw_json_fail(err, "", REASON_OBJECT);
    goto out;
  }
  /* tmgiExpiration is not in the patch schema, but sending it means the client believes it
   * can set it: say so rather than silently ignore it. */
  if ((rc = lmmw_json_reject(doc, "", "tmgiExpiration", err)) ||
      (rc = lmmw_json_get_str(doc, "", "externalGroupId", LMMW_JS_EGID, &out->external_group_id,
                              &egid, err)) ||
      (rc = get_loc_area(doc, "", &out->mbms_loc_area, &area, err)))
    goto out;
  *present = (egid != LMMW_JM_ABSENT ? LMMW_T8_GP_EXTERNAL_GROUP_ID : 0u) |
             (area != LMMW_JM_ABSENT ? LMMW_T8_GP_MBMS_LOC_AREA : 0u);
out:
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_tmgi_allocation_clear(out);
  return rc;
}

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
      (rc = get_loc_area(o, base, &g->mbms_loc_area, NULL, err)) ||
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
    return fail_required(err, base, "notificationDestination");
  return id_from_self(g->self, &g->transaction_id);
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
      (rc = add_loc_area(o, g->mbms_loc_area)) ||
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
  return finish(o, gmd_to_json(g, flags, o), out);
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

lmm_err lmmw_t8_gmd_list_encode(const lmm_gmd *g, size_t n, char **out) {
  cJSON *arr;
  lmm_err rc = LMM_OK;

  if (out == NULL || (g == NULL && n != 0)) return LMM_ERR_ARG;
  if ((arr = cJSON_CreateArray()) == NULL) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      rc = LMM_ERR_NOMEM;
    } else {
      rc = gmd_to_json(&g[i], 0, o);
    }
  }
  return finish(arr, rc, out);
}

lmm_err lmmw_t8_gmd_list_decode(const char *json, size_t len, lmm_gmd **out, size_t *n,
                                lmmw_t8_err *err) {
  cJSON *doc = NULL;
  const cJSON *it;
  lmm_gmd *arr = NULL;
  size_t cnt = 0, i = 0;
  lmm_err rc;

  if (out == NULL || n == NULL) return LMM_ERR_ARG;
  *out = NULL;
  *n = 0;
  if ((rc = lmmw_json_parse(json, len, &doc, err)) || (rc = list_shape(doc, &cnt, err))) goto out;
  if ((arr = calloc(cnt != 0 ? cnt : 1, sizeof *arr)) == NULL) {
    rc = LMM_ERR_NOMEM;
    goto out;
  }
  for (size_t k = 0; k < cnt; k++)
    gmd_init(&arr[k]);
  if (cJSON_IsObject(doc)) {
    rc = gmd_from_json(doc, "", 0, &arr[0], err);
    i = 1;
  } else {
    cJSON_ArrayForEach(it, doc) {
      char ptr[24];
      lmmw_json_ptr(ptr, sizeof ptr, "", NULL, (long)i);
      i++;
      if ((rc = gmd_from_json(it, ptr, 0, &arr[i - 1], err)) != LMM_OK) break;
    }
  }
  if (rc == LMM_OK) {
    *out = arr;
    *n = cnt;
    arr = NULL;
  }
out:
  lmm_gmd_list_free(arr, i);
  cJSON_Delete(doc);
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
                                  : add_loc_area(o, p->mbms_loc_area);
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
  return finish(o, rc, out);
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
      (rc = get_loc_area(doc, "", &out->mbms_loc_area, &area, err)) ||
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

/* ---------------------------------------------------------- notifications */

lmm_err lmmw_t8_notification_encode(const char *transaction, bool delivered, char **out) {
  cJSON *o;
  lmm_err rc;

  if (transaction == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  if ((rc = lmmw_json_add_str(o, "transaction", transaction, LMMW_JS_LINK)) == LMM_OK)
    rc = lmmw_json_add_bool(o, "deliveryTriggerStatus", delivered);
  return finish(o, rc, out);
}

lmm_err lmmw_t8_notification_decode(const char *json, size_t len, char **transaction,
                                    bool *delivered, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  char *txn = NULL;
  bool ok = false;
  lmmw_jm seen = LMMW_JM_ABSENT;
  lmm_err rc;

  if (transaction == NULL || delivered == NULL) return LMM_ERR_ARG;
  *transaction = NULL;
  *delivered = false;
  if ((rc = lmmw_json_parse(json, len, &doc, err))) goto out;
  if (!cJSON_IsObject(doc))
    rc = lmmw_json_fail(err, "", REASON_OBJECT);
  else if ((rc = lmmw_json_get_str(doc, "", "transaction", LMMW_JS_LINK, &txn, NULL, err)) ==
               LMM_OK &&
           txn == NULL)
    rc = fail_required(err, "", "transaction");
  else if (rc == LMM_OK &&
           (rc = lmmw_json_get_bool(doc, "", "deliveryTriggerStatus", &ok, &seen, err)) == LMM_OK &&
           seen != LMMW_JM_VALUE)
    rc = fail_required(err, "", "deliveryTriggerStatus");
  if (rc == LMM_OK) {
    *transaction = txn;
    *delivered = ok;
    txn = NULL;
  }
out:
  free(txn);
  cJSON_Delete(doc);
  return rc;
}

lmm_err lmmw_t8_test_notification_encode(const char *subscription, char **out) {
  cJSON *o;

  if (subscription == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  return finish(o, lmmw_json_add_str(o, "subscription", subscription, LMMW_JS_LINK), out);
}

lmm_err lmmw_t8_test_notification_decode(const char *json, size_t len, char **subscription,
                                         lmmw_t8_err *err) {
  cJSON *doc = NULL;
  char *sub = NULL;
  lmm_err rc;

  if (subscription == NULL) return LMM_ERR_ARG;
  *subscription = NULL;
  if ((rc = lmmw_json_parse(json, len, &doc, err))) goto out;
  if (!cJSON_IsObject(doc))
    rc = lmmw_json_fail(err, "", REASON_OBJECT);
  else if ((rc = lmmw_json_get_str(doc, "", "subscription", LMMW_JS_LINK, &sub, NULL, err)) ==
               LMM_OK &&
           sub == NULL)
    rc = fail_required(err, "", "subscription");
  if (rc == LMM_OK) {
    *subscription = sub;
    sub = NULL;
  }
out:
  free(sub);
  cJSON_Delete(doc);
  return rc;
}

/* --------------------------------------------------------- ProblemDetails */

lmm_err lmmw_t8_problem_encode(const lmm_problem *p, char **out) {
  cJSON *o, *arr;
  lmm_err rc;

  if (p == NULL || out == NULL || (p->invalid_params == NULL && p->n_invalid_params != 0) ||
      (p->status != 0 && (p->status < 100 || p->status > 599)))
    return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  if ((rc = lmmw_json_add_str(o, "type", p->type, LMMW_JS_ANY)) ||
      (rc = lmmw_json_add_str(o, "title", p->title, LMMW_JS_ANY)) ||
      (p->status != 0 && (rc = lmmw_json_add_num(o, "status", p->status))) ||
      (rc = lmmw_json_add_str(o, "detail", p->detail, LMMW_JS_ANY)) ||
      (rc = lmmw_json_add_str(o, "instance", p->instance, LMMW_JS_ANY)) ||
      (rc = lmmw_json_add_str(o, "cause", p->cause, LMMW_JS_ANY)))
    return finish(o, rc, out);
  if (p->n_invalid_params == 0) return finish(o, LMM_OK, out);
  if ((arr = cJSON_AddArrayToObject(o, "invalidParams")) == NULL)
    return finish(o, LMM_ERR_NOMEM, out);
  for (size_t i = 0; i < p->n_invalid_params && rc == LMM_OK; i++) {
    const lmm_invalid_param *ip = &p->invalid_params[i];
    cJSON *e;
    if (ip->param == NULL) {
      rc = LMM_ERR_ARG;
    } else if ((e = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(arr, e)) {
      cJSON_Delete(e);
      rc = LMM_ERR_NOMEM;
    } else if ((rc = lmmw_json_add_str(e, "param", ip->param, LMMW_JS_ANY)) == LMM_OK) {
      rc = lmmw_json_add_str(e, "reason", ip->reason, LMMW_JS_ANY);
    }
  }
  return finish(o, rc, out);
}

static lmm_err invalid_params_from_json(const cJSON *o, lmm_problem *p, lmmw_t8_err *err) {
  const cJSON *v, *it;
  size_t cnt;
  long i = 0;
  lmm_err rc = LMM_OK;

  if (lmmw_json_member(o, "invalidParams", &v) != LMMW_JM_VALUE) return LMM_OK;
  if (!cJSON_IsArray(v) || (cnt = (size_t)cJSON_GetArraySize(v)) == 0)
    return lmmw_json_fail(err, "/invalidParams",
                          "must be an array of objects with at least one item");
  if ((p->invalid_params = calloc(cnt, sizeof *p->invalid_params)) == NULL) return LMM_ERR_NOMEM;
  cJSON_ArrayForEach(it, v) {
    lmm_invalid_param *ip = &p->invalid_params[i];
    char ptr[32];
    lmmw_json_ptr(ptr, sizeof ptr, "/invalidParams", NULL, i);
    /* Counted before filling, so lmm_problem_clear() frees a half-filled entry. */
    p->n_invalid_params = (size_t)++i;
    if (!cJSON_IsObject(it)) return lmmw_json_fail(err, ptr, REASON_OBJECT);
    if ((rc = lmmw_json_get_str(it, ptr, "param", LMMW_JS_ANY, &ip->param, NULL, err)) ||
        (rc = lmmw_json_get_str(it, ptr, "reason", LMMW_JS_ANY, &ip->reason, NULL, err)))
      return rc;
    if (ip->param == NULL) return fail_required(err, ptr, "param");
  }
  return LMM_OK;
}

lmm_err lmmw_t8_problem_decode(const char *json, size_t len, lmm_problem *out, lmmw_t8_err *err) {
  cJSON *doc = NULL;
  long status = 0;
  lmm_err rc;

  if (out == NULL) return LMM_ERR_ARG;
  memset(out, 0, sizeof *out);
  if ((rc = lmmw_json_parse(json, len, &doc, err))) goto out;
  if (!cJSON_IsObject(doc)) {
    rc = lmmw_json_fail(err, "", REASON_OBJECT);
    goto out;
  }
  if ((rc = lmmw_json_get_str(doc, "", "type", LMMW_JS_ANY, &out->type, NULL, err)) ||
      (rc = lmmw_json_get_str(doc, "", "title", LMMW_JS_ANY, &out->title, NULL, err)) ||
      (rc = lmmw_json_get_int(doc, "", "status", 100, 599, REASON_STATUS, &status, NULL, err)) ||
      (rc = lmmw_json_get_str(doc, "", "detail", LMMW_JS_ANY, &out->detail, NULL, err)) ||
      (rc = lmmw_json_get_str(doc, "", "instance", LMMW_JS_ANY, &out->instance, NULL, err)) ||
      (rc = lmmw_json_get_str(doc, "", "cause", LMMW_JS_ANY, &out->cause, NULL, err)) ||
      (rc = invalid_params_from_json(doc, out, err)))
    goto out;
  out->status = (int)status;
out:
  cJSON_Delete(doc);
  if (rc != LMM_OK) lmm_problem_clear(out);
  return rc;
}

/* ------------------------------------------------------------ deep copies */

static bool strv_dup(char **src, size_t n, char ***dst) {
  char **v;

  *dst = NULL;
  if (n == 0) return true;
  if (src == NULL || (v = calloc(n, sizeof *v)) == NULL) return false;
  *dst = v;
  for (size_t i = 0; i < n; i++)
    if (src[i] == NULL || (v[i] = strdup(src[i])) == NULL)
      return false; /* the caller frees the half-built copy with its count */
  return true;
}

lmm_mbms_loc_area *lmmw_t8_loc_area_dup(const lmm_mbms_loc_area *a) {
  lmm_mbms_loc_area *d;
  bool ok = true;

  if (a == NULL || (d = calloc(1, sizeof *d)) == NULL) return NULL;
  /* Counts are set before copying so the free below sees every allocated entry (the arrays
   * are calloc'd, so entries not reached are NULL). */
  d->n_cell_ids = a->n_cell_ids;
  d->n_enodeb_ids = a->n_enodeb_ids;
  d->n_service_area_ids = a->n_service_area_ids;
  ok = strv_dup(a->cell_ids, a->n_cell_ids, &d->cell_ids) &&
       strv_dup(a->enodeb_ids, a->n_enodeb_ids, &d->enodeb_ids) &&
       strv_dup(a->service_area_ids, a->n_service_area_ids, &d->service_area_ids);
  d->geographic_area_json = lmmw_strdup_or_null(a->geographic_area_json, &ok);
  d->civic_address_json = lmmw_strdup_or_null(a->civic_address_json, &ok);
  if (!ok) {
    lmm_mbms_loc_area_free(d);
    return NULL;
  }
  return d;
}

/* Copies the area when there is one; false on allocation failure. */
static bool area_copy(const lmm_mbms_loc_area *src, lmm_mbms_loc_area **dst) {
  *dst = NULL;
  return src == NULL || (*dst = lmmw_t8_loc_area_dup(src)) != NULL;
}

lmm_err lmmw_t8_tmgi_allocation_copy(lmm_tmgi_allocation *dst, const lmm_tmgi_allocation *src) {
  lmm_tmgi_allocation c = {0};
  bool ok = true;

  if (dst == NULL || src == NULL) return LMM_ERR_ARG;
  c.self = lmmw_strdup_or_null(src->self, &ok);
  c.tmgi = lmmw_strdup_or_null(src->tmgi, &ok);
  c.supported_features = lmmw_strdup_or_null(src->supported_features, &ok);
  c.external_group_id = lmmw_strdup_or_null(src->external_group_id, &ok);
  c.tmgi_expiration = src->tmgi_expiration;
  if (!ok || !area_copy(src->mbms_loc_area, &c.mbms_loc_area)) {
    lmm_tmgi_allocation_clear(&c);
    return LMM_ERR_NOMEM;
  }
  *dst = c;
  return LMM_OK;
}

lmm_err lmmw_t8_gmd_copy(lmm_gmd *dst, const lmm_gmd *src) {
  lmm_gmd c;
  bool ok = true;

  if (dst == NULL || src == NULL ||
      (src->has_payload && src->payload == NULL && src->payload_len != 0))
    return LMM_ERR_ARG;
  c = *src;
  c.self = lmmw_strdup_or_null(src->self, &ok);
  c.transaction_id = lmmw_strdup_or_null(src->transaction_id, &ok);
  c.notification_destination = lmmw_strdup_or_null(src->notification_destination, &ok);
  c.websock_notif_config_json = lmmw_strdup_or_null(src->websock_notif_config_json, &ok);
  c.external_group_id = lmmw_strdup_or_null(src->external_group_id, &ok);
  c.scef_ipv4 = lmmw_strdup_or_null(src->scef_ipv4, &ok);
  c.scef_ipv6 = lmmw_strdup_or_null(src->scef_ipv6, &ok);
  c.mbms_loc_area = NULL;
  c.payload = NULL;
  if (src->has_payload) {
    /* One byte at least, so an empty payload still has a non-NULL pointer. */
    if ((c.payload = malloc(src->payload_len != 0 ? src->payload_len : 1)) == NULL)
      ok = false;
    else if (src->payload_len != 0)
      memcpy(c.payload, src->payload, src->payload_len);
  } else {
    c.payload_len = 0;
  }
  if (!ok || !area_copy(src->mbms_loc_area, &c.mbms_loc_area)) {
    lmm_gmd_clear(&c);
    return LMM_ERR_NOMEM;
  }
  *dst = c;
  return LMM_OK;
}
