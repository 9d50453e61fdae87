/* gw_fanout.c - a request on a Fanout Target: the operation it means, one campaign over the
 * group's members (the CLI's flow, not a copy), and the exchange with the server held until
 * the campaign is done: answered in the ACK of one of the server's retransmissions when the
 * fan-out fits in the time a CON may wait, else ACKed at once and answered by a separate
 * response (RFC 7252 5.2.2); the rest of a big answer by Block2 (RFC 7959). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/gw_internal.h"

static int opt_int(const coap_pdu_t *req, uint16_t opt) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(req, opt, &it);
  return o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
}

/* How long a CON may stay without its ACK: the server retransmits it for MAX_TRANSMIT_SPAN
 * (45 s with RFC 7252's defaults) and accepts the ACK of any copy; a fan-out expected to take
 * longer is ACKed at once and answered by a separate response. */
#define PIGGYBACK_MS 30000
static void fanout_free(lmmi_gw_fanout *f) {
  if (!f) return;
  if (f->timer) lmmi_timer_cancel(f->gw->ctx, f->timer);
  lmm_campaign_free(f->camp);
  if (f->s) coap_session_release(f->s);
  free((void *)f->op.payload), free((void *)f->op.query), free(f->early), free(f);
}

static void unlink_fanout(lmm_gateway *gw, lmmi_gw_fanout *f) {
  for (lmmi_gw_fanout **p = &gw->fanouts; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      return;
    }
}

void lmmi_gw_fanouts_free(lmm_gateway *gw) {
  while (gw->fanouts) {
    lmmi_gw_fanout *f = gw->fanouts;
    gw->fanouts = f->next;
    if (f->inst) f->inst->busy = NULL;
    fanout_free(f);
  }
}

bool lmmi_gw_request_key(const coap_pdu_t *req, const coap_string_t *query, char *out, size_t cap) {
  coap_string_t *p = coap_get_uri_path(req);
  bool q = query && query->length;
  int n = snprintf(out, cap, "%.*s%s%.*s", p ? (int)p->length : 0, p ? (const char *)p->s : "",
                   q ? "?" : "", q ? (int)query->length : 0, q ? (const char *)query->s : "");
  coap_delete_string(p);
  return n >= 0 && (size_t)n < cap;
}

/* Sends `pdu` on the exchange's session; libcoap takes it. */
static void send_pdu(lmmi_gw_fanout *f, coap_pdu_t *pdu) {
  if (pdu && coap_send(f->s, pdu) == COAP_INVALID_MID)
    LMMI_GW_LOG(f->gw, LMM_LOG_WARN, "gateway: cannot send to the server");
}

static void ack_now(void *arg) {
  lmmi_gw_fanout *f = arg;
  f->timer = NULL;
  if (f->acked || !f->con) return;
  f->acked = true;
  send_pdu(f, coap_pdu_init(COAP_MESSAGE_ACK, COAP_EMPTY_CODE, f->mid, 4));
}

/* The answer, or its first block: in the ACK of the held CON, else as a separate response.
 * A block-wise answer goes to the block store for the server's requests of the rest (with
 * the request's method: libcoap's client asks a PUT's answer by PUTs); `body` is taken. */
static void send_answer(lmmi_gw_fanout *f, uint8_t code, uint8_t *body, size_t len) {
  coap_pdu_type_t type = !f->con    ? COAP_MESSAGE_NON
                         : f->acked ? COAP_MESSAGE_CON
                                    : COAP_MESSAGE_ACK;
  coap_mid_t mid = type == COAP_MESSAGE_ACK ? f->mid : coap_new_message_id(f->s);
  coap_pdu_t *pdu = coap_pdu_init(type, code, mid, coap_session_max_pdu_size(f->s));
  if (!pdu || !coap_add_token(pdu, f->tok_len, f->token)) {
    coap_delete_pdu(pdu);
    free(body);
    return;
  }
  uint8_t b[4];
  if (f->block1)
    coap_add_option(pdu, COAP_OPTION_BLOCK1,
                    coap_encode_var_safe(b, sizeof b, f->block1_num << 4 | f->block1_szx), b);
  bool ok = code >> 5 == 2;
  /* A diagnostic is plain text without a Content-Format (RFC 7252 5.5.2). */
  if (!lmmi_gw_put_block(pdu, code, ok ? COAP_MEDIATYPE_APPLICATION_SENML_JSON : -1, body, len, 0,
                         f->szx, NULL)) {
    coap_delete_pdu(pdu);
    free(body);
    return;
  }
  send_pdu(f, pdu);
  if (ok && len > (size_t)1 << (f->szx + 4))
    lmmi_gw_keep(f->gw, f->s, f->key, code, COAP_MEDIATYPE_APPLICATION_SENML_JSON, body, len);
  else
    free(body);
}

bool lmmi_gw_fanout_known(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req,
                          coap_pdu_t *resp) {
  coap_bin_const_t tok = coap_pdu_get_token(req);
  for (lmmi_gw_fanout *f = gw->fanouts; f; f = f->next) {
    if (f->s != s) continue;
    if (tok.length == f->tok_len && !memcmp(tok.s, f->token, f->tok_len)) {
      /* The server's retransmission: held, it stays unanswered; ACKed, it gets the ACK again. */
      if (!f->acked) coap_pdu_set_type(resp, COAP_MESSAGE_NON), coap_pdu_set_code(resp, 0);
      return true;
    }
  }
  return false;
}

/* ---------------------------------------------------------------- the answer */

/* The answer: its code and body (owned), or NULL when out of memory. */
typedef struct answer {
  uint8_t code;
  char *body;
} answer;

static answer answer_text(uint8_t code, const char *text) {
  return (answer){code, strdup(text)};
}

static answer build_answer(lmmi_gw_fanout *f, lmm_campaign *c, lmm_err result) {
  const lmm_campaign_info *info = lmm_campaign_get_info(c);
  if (result != LMM_OK) {
    char t[400];
    snprintf(t, sizeof t, "the fan-out to group '%s' could not run: %s", f->inst->g.name,
             info->error ? info->error : lmm_strerror(result));
    return answer_text(0xA2, t); /* 5.02 Bad Gateway: the way to the members failed */
  }
  size_t n = 0, nm = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(c, &n);
  const lmm_member *m = lmm_campaign_members(c, &nm);
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr != NULL;
  for (size_t i = 0; ok && i < n && i < nm; i++) {
    char why[200] = "";
    bool allowed = lmm_member_allows(&m[i], &f->op.path);
    if (!allowed) {
      char p[32], id[300];
      snprintf(why, sizeof why, "member ID %s: /%u only, not %s",
               lmm_member_id_format(&m[i], id, sizeof id), (unsigned)m[i].oid,
               lmm_path_format(&f->op.path, p, sizeof p));
    }
    ok = lmmi_gw_senml_member(arr, f->gw, &m[i], &f->op.path, allowed ? &o[i] : NULL, why);
  }
  char *text = ok ? cJSON_PrintUnformatted(arr) : NULL;
  cJSON_Delete(arr);
  if (!text) return answer_text(0xA0, "out of memory building the answer");
  return (answer){f->op.kind == LMM_OPK_READ ? 0x45 : 0x44, text};
}

static void on_done(void *user, lmm_campaign *c, lmm_err result) {
  lmmi_gw_fanout *f = user;
  lmmi_gw_inst *in = f->inst;
  answer a = build_answer(f, c, result);
  /* Every member configured by this campaign: the next fan-out may skip the writes. */
  size_t n = 0;
  const lmm_outcome *o = lmm_campaign_outcomes(c, &n);
  bool all = result == LMM_OK && in->g.type != LMM_GROUP_UNICAST;
  for (size_t i = 0; all && i < n; i++)
    all = o[i].gm_written || o[i].gm_step == LMM_STEP_OK;
  lmm_group_info g = {0};
  if (lmm_store_group_get(f->gw->d.store, in->g.name, &g) == LMM_OK) {
    lmm_group_info_clear(&in->g); /* the TMGI the campaign got or kept */
    in->g = g;
  }
  if (all || result != LMM_OK) {
    in->gm_ok = all;
    free(in->gm_tmgi);
    in->gm_tmgi = all && in->g.tmgi ? strdup(in->g.tmgi) : NULL;
  }
  lmm_campaign_free(c);
  f->camp = NULL;
  in->busy = NULL;
  f->inst = NULL;
  size_t len = a.body ? strlen(a.body) : 0;
  if (f->starting) { /* within lmm_campaign_start(): the request's own response carries it */
    f->ended = true, f->early_code = a.code, f->early = (uint8_t *)a.body;
    return;
  }
  LMMI_GW_LOG(f->gw, LMM_LOG_INFO, "gateway: fan-out done in %lld ms, answer %zu bytes%s",
              (long long)(lmm_ctx_now_ms(f->gw->ctx) - f->started_ms), len,
              f->acked ? " (separate response)" : "");
  if (a.body) {
    send_answer(f, a.code, (uint8_t *)a.body, len);
    f->gw->stats.answers++;
  } else {
    LMMI_GW_LOG(f->gw, LMM_LOG_WARN, "gateway: out of memory for the answer: none sent");
  }
  unlink_fanout(f->gw, f);
  fanout_free(f);
}

static const lmm_campaign_handlers handlers = {NULL, NULL, on_done};

/* ---------------------------------------------------------------- the request */

/* The operation a request on TARGET/`p` means, into `op` (payload and query copied). */
static bool op_of(const coap_pdu_t *req, const coap_string_t *query, const lmmi_gw_body *body,
                  const lmm_path *p, lmm_op *op, uint8_t *code, char *why, size_t cap) {
  size_t len = body->len;
  const uint8_t *data = body->data;
  int fmt = opt_int(req, COAP_OPTION_CONTENT_FORMAT);
  *code = 0x80;
  switch (coap_pdu_get_code(req)) {
  case COAP_REQUEST_CODE_GET: {
    int accept = opt_int(req, COAP_OPTION_ACCEPT);
    if (accept >= 0 && accept != LMM_FMT_SENML_JSON) {
      *code = 0x86;
      snprintf(why, cap, "the gateway answers in SenML-JSON (110) only, not %d", accept);
      return false;
    }
    op->kind = LMM_OPK_READ;
    break;
  }
  case COAP_REQUEST_CODE_PUT:
    if (len) {
      if (fmt < 0) {
        *code = 0x8F;
        snprintf(why, cap, "a Write needs its Content-Format");
        return false;
      }
      op->kind = LMM_OPK_WRITE, op->format = (uint16_t)fmt;
    } else if (query && query->length) {
      op->kind = LMM_OPK_WRITE_ATTR;
      if (!(op->query = strndup((const char *)query->s, query->length))) goto nomem;
    } else {
      snprintf(why, cap, "PUT without a payload (Write) or a query (Write-Attributes)");
      return false;
    }
    break;
  case COAP_REQUEST_CODE_POST:
    if (p->depth == 3) {
      op->kind = LMM_OPK_EXECUTE, op->format = LMM_FMT_TEXT;
    } else if (p->depth == 2 && len && fmt >= 0) {
      op->kind = LMM_OPK_WRITE_UPDATE, op->format = (uint16_t)fmt;
    } else {
      *code = 0x85;
      snprintf(why, cap,
               "POST fans out as Execute (TARGET/O/I/R) or a partial Write with a "
               "payload (TARGET/O/I)");
      return false;
    }
    break;
  default:
    *code = 0x85;
    snprintf(why, cap,
             "a Fanout Target takes GET (Read, Observe), PUT (Write, "
             "Write-Attributes) and POST (Execute, partial Write)");
    return false;
  }
  op->path = *p;
  if (len) {
    uint8_t *c = malloc(len);
    if (!c) goto nomem;
    memcpy(c, data, len);
    op->payload = c, op->len = len;
  }
  return true;
nomem:
  *code = 0xA0;
  snprintf(why, cap, "out of memory");
  return false;
}

/* Whether this fan-out may skip the Group Mgmt writes: an earlier one of the same instance
 * wrote every member, and the TMGI it wrote is the one this campaign will keep (not expiring
 * within the window and the campaign's renewal margin). */
static bool may_skip(const lmm_gateway *gw, const lmmi_gw_inst *in) {
  if (!in->gm_ok) return false;
  if (in->g.type != LMM_GROUP_MBMS) return true;
  int64_t now_s = lmm_ctx_wall_ms(gw->ctx) / 1000;
  return in->gm_tmgi && in->g.tmgi && !strcmp(in->gm_tmgi, in->g.tmgi) &&
         in->g.tmgi_expiration > now_s + in->g.response_time_window + 120;
}

void lmmi_gw_fanout_request(lmm_gateway *gw, lmmi_gw_inst *in, const char *rest, coap_session_t *s,
                            const coap_pdu_t *req, const coap_string_t *query, const char *key,
                            const lmmi_gw_body *body, coap_pdu_t *resp) {
  lmm_path p;
  lmmi_gw_blk b2 = {0, 0, 6};
  if (lmmi_gw_block_opt(req, COAP_OPTION_BLOCK2, &b2) > 0 && b2.num > 0)
    /* Not fanned out again: the members would be asked a second time for one answer. */
    return lmmi_gw_reply(resp, 0x88,
                         "Block2 %u of /%s: that answer is no longer kept (%d s at most): send the "
                         "request again from block 0",
                         b2.num, key, LMMI_GW_TX_KEEP_MS / 1000);
  if (!*rest) return lmmi_gw_reply(resp, 0x80, "name an object: /%s/OID[/IID[/RID]]", in->target);
  if (lmm_path_parse(rest, &p) != LMM_OK)
    return lmmi_gw_reply(resp, 0x80, "'%s' after the Fanout Target /%s is no LwM2M path", rest,
                         in->target);
  if (in->busy)
    return lmmi_gw_reply(resp, 0xA3, "group '%s': a fan-out is in flight; send it again after",
                         in->g.name);
  lmmi_gw_fanout *f = calloc(1, sizeof *f);
  char why[300] = "";
  uint8_t code = 0xA0;
  if (!f) return lmmi_gw_reply(resp, code, "out of memory");
  f->gw = gw, f->inst = in;
  f->op = (lmm_op)LMM_OP_INIT;
  if (!op_of(req, query, body, &p, &f->op, &code, why, sizeof why)) goto fail;
  lmm_campaign_config cfg = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cfg.group = &in->g, cfg.members = in->m, cfg.n_members = in->n;
  cfg.op = f->op;
  /* A partial Write has no group request form: it goes to each member by unicast. */
  cfg.via = f->op.kind == LMM_OPK_WRITE_UPDATE ? LMM_VIA_UNICAST : LMM_VIA_NONE;
  if (gw->grace_ms >= 0) cfg.grace_ms = gw->grace_ms;
  cfg.no_repair = gw->no_repair;
  cfg.skip_group_mgmt = may_skip(gw, in);
  cfg.mcast_if = gw->mcast_if;
  lmm_err rc = lmm_campaign_new(&gw->d, &cfg, &handlers, f, &f->camp);
  if (rc != LMM_OK) {
    code = rc == LMM_ERR_ARG ? 0xA2 : 0xA0;
    snprintf(why, sizeof why, "the campaign cannot be made: %s%s%s", lmm_strerror(rc),
             rc == LMM_ERR_DB ? ": " : "", rc == LMM_ERR_DB ? lmm_store_errmsg(gw->d.store) : "");
    goto fail;
  }
  f->s = coap_session_reference(s);
  coap_bin_const_t tok = coap_pdu_get_token(req);
  f->tok_len = tok.length < sizeof f->token ? tok.length : sizeof f->token;
  memcpy(f->token, tok.s, f->tok_len);
  f->mid = coap_pdu_get_mid(req);
  f->con = coap_pdu_get_type(req) == COAP_MESSAGE_CON;
  f->szx = b2.szx; /* early negotiation (RFC 7959 2.4): the size the server asked for */
  f->block1 = body->block1, f->block1_num = body->last.num, f->block1_szx = body->last.szx;
  snprintf(f->key, sizeof f->key, "%s", key);
  f->started_ms = lmm_ctx_now_ms(gw->ctx);
  in->busy = f;
  f->next = gw->fanouts, gw->fanouts = f;
  gw->stats.fanouts++;
  char ps[32];
  LMMI_GW_LOG(gw, LMM_LOG_INFO, "gateway: fan-out of %s to group '%s' (%zu members)%s",
              lmm_path_format(&p, ps, sizeof ps), in->g.name, in->n,
              cfg.skip_group_mgmt ? ", Group Mgmt written before" : "");
  /* A campaign may end within its start (it cannot run at all): on_done then leaves the
   * answer here, for the response libcoap sends on return. */
  f->starting = true;
  rc = lmm_campaign_start(f->camp);
  f->starting = false;
  if (rc != LMM_OK && !f->ended) {
    snprintf(why, sizeof why, "the campaign cannot start: %s", lmm_strerror(rc));
    in->busy = NULL;
    f->ended = true, f->early_code = 0xA0, f->early = (uint8_t *)strdup(why);
  }
  if (f->ended) {
    uint8_t ec = f->early_code, *eb = f->early;
    size_t el = eb ? strlen((const char *)eb) : 0;
    f->early = NULL;
    unlink_fanout(gw, f);
    fanout_free(f);
    if (!eb) return lmmi_gw_reply(resp, 0xA0, "out of memory for the answer");
    gw->stats.answers++;
    bool ok = ec >> 5 == 2;
    return lmmi_gw_respond(gw, s, key, req, resp, ec,
                           ok ? COAP_MEDIATYPE_APPLICATION_SENML_JSON : -1, eb, el);
  }
  /* Held without its ACK while the fan-out may end within PIGGYBACK_MS; else ACKed now. */
  long expect_ms = in->g.type == LMM_GROUP_UNICAST
                       ? 10000
                       : (long)in->g.response_time_window * 1000 + cfg.grace_ms + 10000;
  if (f->con && expect_ms > PIGGYBACK_MS)
    f->acked = true; /* libcoap's empty ACK for the response left empty below */
  else if (f->con &&
           !(f->timer = lmmi_timer_add(gw->ctx, f->started_ms + PIGGYBACK_MS, ack_now, f)))
    f->acked = true;
  if (!f->acked) coap_pdu_set_type(resp, COAP_MESSAGE_NON), coap_pdu_set_code(resp, 0);
  return;
fail:
  fanout_free(f);
  lmmi_gw_reply(resp, code, "%s", why);
}
