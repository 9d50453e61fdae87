/* gw_observe.c - Observe on a Fanout Target: the gateway observes each member with the unicast
 * engine (a campaign has no notifications) and relays each member's answer and change to the
 * server as one notification carrying that member's records; Observe 1, a reset or the
 * instance's end cancels the members' observations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/gw_internal.h"

typedef struct lmmi_gw_obs {
  struct lmmi_gw_obs *next;
  lmm_gateway *gw;
  const lmmi_gw_inst *inst;
  lmm_path path;
  coap_session_t *s; /* referenced */
  uint8_t token[8];
  size_t tok_len;
  lmm_member *m; /* shallow copies of the instance's allowed members */
  size_t n;
  lmm_batch *batch;
  uint32_t seq;        /* the Observe value of the next notification */
  coap_mid_t last_mid; /* of the last notification sent (a RST names it) */
} lmmi_gw_obs;

static void obs_free(lmmi_gw_obs *o) {
  LMMI_GW_LOG(o->gw, LMM_LOG_INFO, "gateway: observation of %zu members of group '%s' ended", o->n,
              o->inst->g.name);
  lmm_batch_free(o->batch); /* cancels the members' observations */
  if (o->s) coap_session_release(o->s);
  free(o->m), free(o);
}

static void obs_unlink(lmm_gateway *gw, lmmi_gw_obs *o) {
  for (lmmi_gw_obs **p = &gw->obs; *p; p = &(*p)->next)
    if (*p == o) {
      *p = o->next;
      return;
    }
}

/* One notification: `arr`'s records (taken), code 2.05, the next Observe value. */
static void notify(lmmi_gw_obs *o, cJSON *arr) {
  char *text = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  if (!text) return;
  size_t len = strlen(text);
  coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_RESPONSE_CODE(205),
                                  coap_new_message_id(o->s), coap_session_max_pdu_size(o->s));
  uint8_t b[4];
  if (pdu && coap_add_token(pdu, o->tok_len, o->token) &&
      coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(b, sizeof b, o->seq), b) &&
      coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                      coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_SENML_JSON),
                      b) &&
      coap_add_data(pdu, len, (const uint8_t *)text)) {
    o->seq = (o->seq + 1) & 0xFFFFFF;
    o->last_mid = coap_pdu_get_mid(pdu);
    if (coap_send(o->s, pdu) != COAP_INVALID_MID) {
      o->gw->stats.notifications++;
      LMMI_GW_LOG(o->gw, LMM_LOG_DEBUG, "gateway: notification %u of group '%s'",
                  (unsigned)(o->seq - 1), o->inst->g.name);
    }
  } else {
    /* One member's records fit a datagram (a resource or an instance); more is not relayed. */
    LMMI_GW_LOG(o->gw, LMM_LOG_WARN, "gateway: a notification of %zu bytes is not sent", len);
    coap_delete_pdu(pdu);
  }
  free(text);
}

static void on_member(void *user, const lmm_member_result *r) {
  lmmi_gw_obs *o = user;
  cJSON *arr = cJSON_CreateArray();
  lmm_outcome oc;
  lmm_outcome_init(&oc);
  oc.done = true, oc.err = r->err, oc.coap_code = r->coap_code;
  oc.payload = (uint8_t *)r->payload, oc.payload_len = r->payload_len;
  oc.content_format = r->content_format, oc.error = (char *)r->error;
  if (arr && lmmi_gw_senml_member(arr, o->gw, r->member, &o->path, &oc, NULL))
    notify(o, arr);
  else
    cJSON_Delete(arr);
}

static void on_notify(void *user, size_t index, const uint8_t *payload, size_t len, int format) {
  lmmi_gw_obs *o = user;
  if (index >= o->n) return;
  lmm_outcome oc;
  lmm_outcome_init(&oc);
  oc.done = true, oc.coap_code = 0x45;
  oc.payload = (uint8_t *)payload, oc.payload_len = len, oc.content_format = format;
  cJSON *arr = cJSON_CreateArray();
  if (arr && lmmi_gw_senml_member(arr, o->gw, &o->m[index], &o->path, &oc, NULL))
    notify(o, arr);
  else
    cJSON_Delete(arr);
}

static const lmm_batch_handlers handlers = {NULL, on_member, on_notify, NULL};

static lmmi_gw_obs *find(lmm_gateway *gw, coap_session_t *s, coap_bin_const_t tok) {
  for (lmmi_gw_obs *o = gw->obs; o; o = o->next)
    if (o->s == s && o->tok_len == tok.length && !memcmp(o->token, tok.s, tok.length)) return o;
  return NULL;
}

bool lmmi_gw_observe_request(lmm_gateway *gw, lmmi_gw_inst *in, const lmm_path *p, bool cancel,
                             coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp) {
  coap_bin_const_t tok = coap_pdu_get_token(req);
  lmmi_gw_obs *o = find(gw, s, tok);
  if (cancel) { /* RFC 7641 3.6: a GET that also ends the observation, answered as a Read */
    if (o) obs_unlink(gw, o), obs_free(o);
    return false;
  }
  if (o) obs_unlink(gw, o), obs_free(o); /* a re-registration starts afresh */
  if (!(o = calloc(1, sizeof *o)) || (in->n && !(o->m = calloc(in->n, sizeof *o->m)))) {
    free(o);
    lmmi_gw_reply(resp, 0xA0, "out of memory");
    return true;
  }
  o->gw = gw, o->inst = in, o->path = *p;
  o->tok_len = tok.length < sizeof o->token ? tok.length : sizeof o->token;
  memcpy(o->token, tok.s, o->tok_len);
  /* The initial answer names the members the member ID rule keeps out; each other member's
   * state comes in a notification of its own, when it answers and when it changes. */
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr != NULL;
  for (size_t i = 0; ok && i < in->n; i++) {
    if (lmm_member_allows(&in->m[i], p)) {
      o->m[o->n++] = in->m[i]; /* shallow: the instance outlives the observation */
      continue;
    }
    char why[200], id[300], ps[32];
    snprintf(why, sizeof why, "member ID %s: /%u only, not %s",
             lmm_member_id_format(&in->m[i], id, sizeof id), (unsigned)in->m[i].oid,
             lmm_path_format(p, ps, sizeof ps));
    ok = lmmi_gw_senml_member(arr, gw, &in->m[i], p, NULL, why);
  }
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_OBSERVE, op.path = *p;
  char *text = ok ? cJSON_PrintUnformatted(arr) : NULL;
  cJSON_Delete(arr);
  if (!text ||
      lmm_batch_start(gw->d.unicast, o->m, o->n, &op, 0xFFFF, &handlers, o, &o->batch) != LMM_OK) {
    free(text);
    obs_free(o);
    lmmi_gw_reply(resp, 0xA0, "cannot observe the members");
    return true;
  }
  o->s = coap_session_reference(s);
  o->seq = 1;
  o->next = gw->obs, gw->obs = o;
  uint8_t b[4];
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
  coap_add_option(resp, COAP_OPTION_OBSERVE, coap_encode_var_safe(b, sizeof b, 0), b);
  coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_SENML_JSON), b);
  if (!coap_add_data(resp, strlen(text), (const uint8_t *)text))
    LMMI_GW_LOG(gw, LMM_LOG_WARN, "gateway: the refused members do not fit the first answer");
  free(text);
  LMMI_GW_LOG(gw, LMM_LOG_INFO, "gateway: observing %zu members of group '%s'", o->n, in->g.name);
  return true;
}

void lmmi_gw_observe_lost(lmm_gateway *gw, coap_session_t *s, coap_mid_t mid) {
  for (lmmi_gw_obs *o = gw->obs; o; o = o->next)
    if (o->s == s && o->last_mid == mid) {
      obs_unlink(gw, o);
      obs_free(o);
      return;
    }
}

void lmmi_gw_observe_end_all(lmm_gateway *gw, const lmmi_gw_inst *in) {
  for (lmmi_gw_obs **p = &gw->obs; *p;) {
    lmmi_gw_obs *o = *p;
    if (in && o->inst != in) {
      p = &o->next;
      continue;
    }
    *p = o->next;
    obs_free(o);
  }
}
