/* gw_senml.c - the aggregated answer: each member's result as SenML-JSON records named by its
 * endpoint, "/EP/status" (ok, refused, failed, silent), "/EP/code" (the CoAP code it answered),
 * "/EP/reason" when it did not succeed, and its data as "/EP/O/I/R" (docs/gateway.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/gw_internal.h"

static bool add_text(cJSON *arr, const char *bn, const char *n, const char *vs) {
  cJSON *r = cJSON_CreateObject();
  if (!r || (bn && !cJSON_AddStringToObject(r, "bn", bn)) || !cJSON_AddStringToObject(r, "n", n) ||
      !cJSON_AddStringToObject(r, "vs", vs) || !cJSON_AddItemToArray(arr, r)) {
    cJSON_Delete(r);
    return false;
  }
  return true;
}

static const char *const VALUE_FIELDS[] = {"v", "vs", "vb", "vd", "vlo", "u"};

/* Appends the records of SenML array `in`, each named by its full name under "/EP" (the base
 * name set by the member's status record, so only "n" changes). */
static bool copy_records(cJSON *arr, const cJSON *in, char *why, size_t cap) {
  const char *bn = "";
  double bt = 0;
  const cJSON *r;
  cJSON_ArrayForEach(r, in) {
    if (!cJSON_IsObject(r)) return snprintf(why, cap, "answer: a record is no object"), false;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "bn");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "bt");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "n");
    if (cJSON_IsString(b)) bn = b->valuestring;
    if (cJSON_IsNumber(t)) bt = t->valuedouble;
    char name[300];
    int len = snprintf(name, sizeof name, "%s%s", bn, cJSON_IsString(n) ? n->valuestring : "");
    if (len < 0 || (size_t)len >= sizeof name || name[0] != '/')
      return snprintf(why, cap, "answer: record name '%.100s' is no path", name), false;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "n", name) || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return snprintf(why, cap, "out of memory"), false;
    }
    for (size_t k = 0; k < sizeof VALUE_FIELDS / sizeof *VALUE_FIELDS; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, VALUE_FIELDS[k]);
      if (v && !cJSON_AddItemToObject(o, VALUE_FIELDS[k], cJSON_Duplicate(v, true)))
        return snprintf(why, cap, "out of memory"), false;
    }
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(r, "t");
    if ((tt && cJSON_IsNumber(tt)) || bt != 0)
      if (!cJSON_AddNumberToObject(o, "t", bt + (cJSON_IsNumber(tt) ? tt->valuedouble : 0)))
        return snprintf(why, cap, "out of memory"), false;
  }
  return true;
}

bool lmmi_gw_senml_data(cJSON *arr, const lmm_gateway *gw, const char *ep, const lmm_path *base,
                        int fmt, const uint8_t *p, size_t len, char *why, size_t cap) {
  (void)ep;
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  if (fmt != LMM_FMT_SENML_JSON) {
    /* TLV and text carry no names of their own: decode them, typed by the object when it is
     * known, and name the records as SenML would. */
    lmm_obj_def gm;
    const lmm_obj_def *def = lmm_obj_def_oma(base->oid);
    if (base->oid == gw->gm_oid) lmm_group_mgmt_def(gw->gm_oid, &gm), def = &gm;
    lmm_records recs = {0};
    lmm_path b = *base;
    if (lmm_lwm2m_decode(fmt < 0 ? LMM_FMT_OPAQUE : (uint16_t)fmt, &b, p, len, def, &recs, why,
                         cap) != LMM_OK)
      return false;
    lmm_err rc = lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &b, recs.items, recs.n, &enc, &enc_len);
    lmm_records_clear(&recs);
    if (rc != LMM_OK) return snprintf(why, cap, "answer: cannot re-encode it as SenML"), false;
    p = enc, len = enc_len;
  }
  cJSON *in = cJSON_ParseWithLength((const char *)p, len);
  lmm_free(enc);
  bool ok = cJSON_IsArray(in);
  if (!ok)
    snprintf(why, cap, "answer: not a SenML-JSON array");
  else
    ok = copy_records(arr, in, why, cap);
  cJSON_Delete(in);
  return ok;
}

/* The member's status word and the reason when it did not succeed. */
static const char *status_of(const lmm_outcome *o, char *why, size_t cap) {
  if (!o->done) return snprintf(why, cap, "no outcome"), "failed";
  const char *e = o->error ? o->error : o->unicast_error ? o->unicast_error : o->gm_error;
  bool silent = o->group_step == LMM_STEP_SILENT && o->unicast_step == LMM_STEP_NONE;
  if (o->err != LMM_OK || !o->coap_code) {
    snprintf(why, cap, "%s", e ? e : lmm_strerror(o->err));
    return silent ? "silent" : "failed";
  }
  if (o->coap_code >> 5 == 2 && !lmm_outcome_refused(o)) return "ok";
  snprintf(why, cap, "%s", e ? e : "answered with an error code");
  return lmm_outcome_refused(o) ? "refused" : "failed";
}

bool lmmi_gw_senml_member(cJSON *arr, const lmm_gateway *gw, const lmm_member *m,
                          const lmm_path *base, const lmm_outcome *o, const char *why_in) {
  char bn[300], why[300] = "", code[8];
  snprintf(bn, sizeof bn, "/%s", m->ep);
  if (!o) return add_text(arr, bn, "/status", "refused") && add_text(arr, NULL, "/reason", why_in);
  const char *st = status_of(o, why, sizeof why);
  if (!add_text(arr, bn, "/status", st)) return false;
  if (o->coap_code) {
    snprintf(code, sizeof code, "%u.%02u", o->coap_code >> 5, o->coap_code & 31);
    if (!add_text(arr, NULL, "/code", code)) return false;
  }
  if (strcmp(st, "ok")) return add_text(arr, NULL, "/reason", why);
  if (!o->payload || !o->payload_len) return true;
  char dwhy[200] = "";
  if (!lmmi_gw_senml_data(arr, gw, m->ep, base, o->content_format, o->payload, o->payload_len, dwhy,
                          sizeof dwhy))
    return add_text(arr, NULL, "/reason", dwhy);
  return true;
}
