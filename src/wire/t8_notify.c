/* t8_notify.c - JSON of the notifications (GMDByMb2Notification, TestNotification) and of
 * ProblemDetails. */
#include "lmm_wire/t8_json.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "t8_internal.h"

#define REASON_STATUS "must be an integer HTTP status code (100 to 599)"

/* ---------------------------------------------------------- notifications */

lmm_err lmmw_t8_notification_encode(const char *transaction, bool delivered, char **out) {
  cJSON *o;
  lmm_err rc;

  if (transaction == NULL || out == NULL) return LMM_ERR_ARG;
  if ((o = cJSON_CreateObject()) == NULL) return LMM_ERR_NOMEM;
  if ((rc = lmmw_json_add_str(o, "transaction", transaction, LMMW_JS_LINK)) == LMM_OK)
    rc = lmmw_json_add_bool(o, "deliveryTriggerStatus", delivered);
  return lmmw_t8_finish(o, rc, out);
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
    rc = lmmw_t8_fail_required(err, "", "transaction");
  else if (rc == LMM_OK &&
           (rc = lmmw_json_get_bool(doc, "", "deliveryTriggerStatus", &ok, &seen, err)) == LMM_OK &&
           seen != LMMW_JM_VALUE)
    rc = lmmw_t8_fail_required(err, "", "deliveryTriggerStatus");
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
  return lmmw_t8_finish(o, lmmw_json_add_str(o, "subscription", subscription, LMMW_JS_LINK), out);
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
    rc = lmmw_t8_fail_required(err, "", "subscription");
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
    return lmmw_t8_finish(o, rc, out);
  if (p->n_invalid_params == 0) return lmmw_t8_finish(o, LMM_OK, out);
  if ((arr = cJSON_AddArrayToObject(o, "invalidParams")) == NULL)
    return lmmw_t8_finish(o, LMM_ERR_NOMEM, out);
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
  return lmmw_t8_finish(o, rc, out);
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
    if (ip->param == NULL) return lmmw_t8_fail_required(err, ptr, "param");
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
