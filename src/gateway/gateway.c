/* gateway.c - the gateway's CoAP and CoAPS endpoint in the context's loop: its life, and the
 * routing of a request to the configuration of an instance or to a Fanout Target. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_internal.h"
#include "gateway/gw_internal.h"

#define MAX_PSK 64

void lmmi_gw_reply(coap_pdu_t *resp, uint8_t code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof text) n = (int)sizeof text - 1;
  coap_pdu_set_code(resp, (coap_pdu_code_t)code);
  /* A diagnostic payload carries no Content-Format (RFC 7252 5.5.2): it is UTF-8 text. */
  coap_add_data(resp, (size_t)n, (const uint8_t *)text);
}

const lmm_member *lmmi_gw_device(const lmm_gateway *gw, const char *ep) {
  for (size_t i = 0; i < gw->n_dev; i++)
    if (!strcmp(gw->dev[i].ep, ep)) return &gw->dev[i];
  return NULL;
}

/* The instance whose Fanout Target `path` lies under, with what follows it in `*rest`. */
static lmmi_gw_inst *target_of(lmm_gateway *gw, const char *path, const char **rest) {
  for (size_t i = 0; i < gw->n_inst; i++) {
    const char *t = gw->inst[i]->target;
    size_t tl = t ? strlen(t) : 0;
    if (tl && !strncmp(path, t, tl) && (path[tl] == '/' || !path[tl])) {
      *rest = path + tl;
      return gw->inst[i];
    }
  }
  return NULL;
}

static bool observe_value(const coap_pdu_t *req, uint32_t *v) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(req, COAP_OPTION_OBSERVE, &it);
  if (!o) return false;
  *v = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
  return true;
}

/* A whole request (its body reassembled when it came by Block1) to the configuration of an
 * instance or to a Fanout Target. */
static void route(lmm_gateway *gw, const char *path, const char *key, coap_session_t *s,
                  const coap_pdu_t *req, const coap_string_t *query, const lmmi_gw_body *body,
                  coap_pdu_t *resp) {
  coap_pdu_code_t method = coap_pdu_get_code(req);
  char gm[8];
  snprintf(gm, sizeof gm, "%u", (unsigned)gw->gm_oid);
  size_t gl = strlen(gm);
  if (!strncmp(path, gm, gl) && (path[gl] == '/' || !path[gl])) {
    lmm_path p;
    char full[260];
    snprintf(full, sizeof full, "/%s", path);
    if (lmm_path_parse(full, &p) != LMM_OK)
      return lmmi_gw_reply(resp, 0x80, "'%s' is no LwM2M path", full);
    if (p.depth != 2)
      return lmmi_gw_reply(resp, 0x85,
                           "the gateway takes whole Group Mgmt instances: /%u/IID, not %s",
                           (unsigned)gw->gm_oid, full);
    return lmmi_gw_config_request(gw, p.iid, method, s, req, key, body, resp);
  }
  const char *rest = NULL;
  lmmi_gw_inst *in = target_of(gw, path, &rest);
  if (!in)
    return lmmi_gw_reply(resp, 0x84, "no Fanout Target nor Group Mgmt instance at /%s", path);
  uint32_t ov;
  if (method == COAP_REQUEST_CODE_GET && observe_value(req, &ov)) {
    lmm_path p;
    if (!*rest || lmm_path_parse(rest, &p) != LMM_OK || p.depth < 2)
      return lmmi_gw_reply(resp, 0x80, "observe TARGET/OID/IID[/RID], not /%s", path);
    if (lmmi_gw_observe_request(gw, in, &p, ov == 1, s, req, resp)) return;
  }
  lmmi_gw_fanout_request(gw, in, rest, s, req, query, key, body, resp);
}

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp) {
  lmm_gateway *gw = coap_resource_get_userdata(r);
  if (lmmi_gw_fanout_known(gw, s, req, resp)) return;
  coap_string_t *ps = coap_get_uri_path(req);
  char path[256] = "", key[LMMI_GW_KEY_MAX];
  if (ps && ps->length >= sizeof path) {
    coap_delete_string(ps);
    return lmmi_gw_reply(resp, 0x80, "path longer than %zu bytes", sizeof path - 1);
  }
  if (ps) memcpy(path, ps->s, ps->length), path[ps->length] = '\0';
  coap_delete_string(ps);
  if (!lmmi_gw_request_key(req, query, key, sizeof key))
    return lmmi_gw_reply(resp, 0x80, "path and query longer than %zu bytes", sizeof key - 1);
  lmmi_gw_blk b2;
  if (lmmi_gw_block_opt(req, COAP_OPTION_BLOCK2, &b2) < 0)
    return lmmi_gw_reply(resp, 0x82, "Block2 option: more than 3 bytes, or the reserved size 7");
  if (lmmi_gw_block2_later(gw, s, req, key, resp)) return;
  lmmi_gw_body body;
  if (!lmmi_gw_block1(gw, s, req, key, resp, &body)) return;
  gw->stats.requests++;
  route(gw, path, key, s, req, query, &body, resp);
  lmmi_gw_body_clear(&body);
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, coap_nack_reason_t reason,
                    const coap_mid_t mid) {
  (void)sent;
  lmm_gateway *gw = coap_get_app_data(coap_session_get_context(s));
  if (gw && (reason == COAP_NACK_RST || reason == COAP_NACK_ICMP_ISSUE ||
             reason == COAP_NACK_TOO_MANY_RETRIES))
    lmmi_gw_observe_lost(gw, s, mid);
}

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  return lmmi_coap_pollfds(((lmm_gateway *)self)->coap, pfd, cap);
}

static int64_t src_deadline(void *self) {
  lmm_gateway *gw = self;
  return lmmi_coap_deadline(gw->ctx, gw->coap);
}

static void src_process(void *self, const struct pollfd *pfd, size_t n) {
  (void)pfd, (void)n;
  lmmi_coap_serve(((lmm_gateway *)self)->coap);
}

/* The server's identity is the one we know: any other gets no key, so its handshake fails. */
static const coap_bin_const_t *psk_for(coap_bin_const_t *identity, coap_session_t *s, void *arg) {
  (void)s;
  lmm_gateway *gw = arg;
  size_t il = strlen(gw->psk_identity);
  if (!identity || identity->length != il || memcmp(identity->s, gw->psk_identity, il)) return NULL;
  gw->psk_bin.s = gw->psk_key, gw->psk_bin.length = gw->psk_key_len; /* libcoap copies it */
  return &gw->psk_bin;
}

static lmm_err add_dtls(lmm_gateway *gw, const char *bind, uint16_t port) {
  coap_address_t a;
  coap_address_init(&a);
  if (inet_pton(AF_INET, bind, &a.addr.sin.sin_addr) == 1) {
    a.addr.sin.sin_family = AF_INET, a.addr.sin.sin_port = htons(port);
    a.size = sizeof a.addr.sin;
  } else if (inet_pton(AF_INET6, bind, &a.addr.sin6.sin6_addr) == 1) {
    a.addr.sin6.sin6_family = AF_INET6, a.addr.sin6.sin6_port = htons(port);
    a.size = sizeof a.addr.sin6;
  } else {
    return LMM_ERR_ARG;
  }
  coap_dtls_spsk_t sp;
  memset(&sp, 0, sizeof sp);
  sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
  sp.validate_id_call_back = psk_for;
  sp.id_call_back_arg = gw;
  if (!coap_context_set_psk2(gw->coap, &sp)) return LMM_ERR_IO;
  coap_endpoint_t *ep = coap_new_endpoint(gw->coap, &a, COAP_PROTO_DTLS);
  if (!ep) return LMM_ERR_IO;
  const char *es = coap_endpoint_str(ep), *colon = es ? strrchr(es, ':') : NULL;
  gw->coaps_port = colon ? (uint16_t)atoi(colon + 1) : port;
  return LMM_OK;
}

static lmm_err copy_config(lmm_gateway *gw, const lmm_gateway_config *cfg) {
  gw->gm_oid = cfg->gm_oid ? cfg->gm_oid : LMM_GROUP_MGMT_OID;
  gw->grace_ms = cfg->grace_ms, gw->no_repair = cfg->no_repair;
  if (cfg->mcast_if && !(gw->mcast_if = strdup(cfg->mcast_if))) return LMM_ERR_NOMEM;
  if (cfg->n_devices && !cfg->devices) return LMM_ERR_ARG;
  if (cfg->n_devices && !(gw->dev = calloc(cfg->n_devices, sizeof *gw->dev))) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < cfg->n_devices; i++) {
    if (!cfg->devices[i].ep || !cfg->devices[i].uri) return LMM_ERR_ARG;
    for (size_t k = 0; k < i; k++)
      if (!strcmp(cfg->devices[k].ep, cfg->devices[i].ep)) return LMM_ERR_ARG;
    if (lmm_member_copy(&gw->dev[i], &cfg->devices[i]) != LMM_OK) return LMM_ERR_NOMEM;
    gw->n_dev++;
  }
  if (!cfg->coaps) return LMM_OK;
  if (!cfg->psk_identity || !*cfg->psk_identity || !cfg->psk_key || !cfg->psk_key_len ||
      cfg->psk_key_len > MAX_PSK)
    return LMM_ERR_ARG;
  if (!(gw->psk_identity = strdup(cfg->psk_identity)) || !(gw->psk_key = malloc(cfg->psk_key_len)))
    return LMM_ERR_NOMEM;
  memcpy(gw->psk_key, cfg->psk_key, cfg->psk_key_len);
  gw->psk_key_len = cfg->psk_key_len;
  return LMM_OK;
}

LMM_API lmm_err lmm_gateway_new(const lmm_gateway_deps *deps, const lmm_gateway_config *cfg_in,
                                lmm_gateway **out) {
  static const lmm_gateway_config defaults = LMM_GATEWAY_CONFIG_DEFAULT;
  const lmm_gateway_config *cfg = cfg_in ? cfg_in : &defaults;
  if (!deps || !out || !deps->ctx || !deps->unicast || !deps->store) return LMM_ERR_ARG;
  lmm_gateway *gw = calloc(1, sizeof *gw);
  if (!gw) return LMM_ERR_NOMEM;
  gw->ctx = deps->ctx, gw->d = *deps;
  const char *bind = cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
  lmm_err rc = copy_config(gw, cfg);
  if (rc == LMM_OK) rc = lmmi_gw_config_load(gw);
  if (rc == LMM_OK) rc = lmmi_coap_listen(bind, cfg->port, &gw->coap, &gw->port, NULL);
  if (rc == LMM_OK && cfg->coaps) rc = add_dtls(gw, bind, cfg->coaps_port);
  if (rc != LMM_OK) goto fail;
  rc = LMM_ERR_NOMEM;
  /* Block-wise both ways is ours (gw_block.c): a Member List of a few hundred members is a
   * write of several KB (Block1), an answer of 200 members' locations tens of KB (Block2).
   * libcoap 4.3.1's own server-side block code crashed under fuzzing (on a datagram after the
   * wrong state: tests/fuzz/regress/gateway/), here and on the answer receiver. */
  coap_context_set_block_mode(gw->coap, 0);
  coap_set_app_data(gw->coap, gw);
  coap_register_nack_handler(gw->coap, on_nack);
  coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
  if (!r) goto fail;
  coap_resource_set_userdata(r, gw);
  static const coap_request_t methods[] = {COAP_REQUEST_GET,    COAP_REQUEST_POST,
                                           COAP_REQUEST_DELETE, COAP_REQUEST_FETCH,
                                           COAP_REQUEST_PATCH,  COAP_REQUEST_IPATCH};
  for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
    coap_register_request_handler(r, methods[k], on_request);
  coap_add_resource(gw->coap, r);
  gw->src = (lmmi_source){src_pollfds, src_deadline, src_process, gw, LMMI_ORDER_RECEIVER};
  if (lmmi_ctx_add_source(gw->ctx, &gw->src) != LMM_OK) goto fail;
  gw->src_added = true;
  *out = gw;
  return LMM_OK;
fail:
  lmm_gateway_free(gw);
  return rc;
}

LMM_API void lmm_gateway_free(lmm_gateway *gw) {
  if (!gw) return;
  lmmi_gw_observe_end_all(gw, NULL);
  lmmi_gw_fanouts_free(gw);
  lmmi_gw_blocks_free(gw);
  if (gw->src_added) lmmi_ctx_remove_source(gw->ctx, &gw->src);
  if (gw->coap) coap_free_context(gw->coap);
  for (size_t i = 0; i < gw->n_inst; i++)
    lmmi_gw_inst_free(gw->inst[i]);
  free(gw->inst);
  lmm_members_free(gw->dev, gw->n_dev);
  if (gw->psk_key) memset(gw->psk_key, 0, gw->psk_key_len);
  free(gw->psk_key), free(gw->psk_identity), free(gw->mcast_if), free(gw);
}

LMM_API uint16_t lmm_gateway_port(const lmm_gateway *gw, bool coaps) {
  return !gw ? 0 : coaps ? gw->coaps_port : gw->port;
}

LMM_API bool lmm_gateway_t8_notified(lmm_gateway *gw, const char *transaction, bool delivered) {
  if (!gw || !transaction) return false;
  for (lmmi_gw_fanout *f = gw->fanouts; f; f = f->next)
    if (f->camp && lmm_campaign_t8_notified(f->camp, transaction, delivered)) return true;
  return false;
}

LMM_API void lmm_gateway_get_stats(const lmm_gateway *gw, lmm_gateway_stats *out) {
  if (!gw || !out) return;
  *out = gw->stats;
  out->instances = gw->n_inst;
}
