/* fw_send.c - a firmware campaign's configuration (the ordinary campaign does the TMGI and the
 * Group Mgmt writes), its Schedule, and the blob as fragments to the group: over one MB2-U
 * delivery for MBMS, to the multicast address otherwise, paced by a token bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_internal.h"

static void send_start(lmm_fwc *c);

static lmm_err send_raw(lmm_fwc *c, const uint8_t *msg, size_t len) {
  lmm_err rc = lmmi_dest_send(&c->dest, msg, len);
  if (rc == LMM_OK) c->st.bytes_group += len;
  return rc;
}

/* Encodes op as a group request with `token` and sends it. */
lmm_err lmmi_fwc_send_op(lmm_fwc *c, const lmm_op *op, const uint8_t token[LMMI_TOKEN_LEN]) {
  uint8_t *msg = NULL;
  size_t len = 0;
  lmm_err rc =
      lmmi_coap_group_request(op, (uint16_t)lmmi_random_below(c->d.ctx, 65536), token, &msg, &len);
  if (rc == LMM_OK) rc = send_raw(c, msg, len);
  free(msg);
  return rc;
}

const uint8_t *lmmi_fwc_frag_data(const lmm_fwc *c, uint32_t i) {
  return i < c->k ? c->image + (size_t)i * c->desc.frag
                  : c->parity + (size_t)(i - c->k) * c->desc.frag;
}

static lmm_err send_fragment(lmm_fwc *c, uint32_t idx) {
  char q[LMMW_BLOB_QUERY_MAX + 1];
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 0, .depth = 3};
  if (idx == UINT32_MAX) { /* the announce: the description with the digest, no payload */
    lmmw_blob_query(&c->desc, -1, true, q, sizeof q);
  } else {
    lmmw_blob_query(&c->desc, (long)idx, false, q, sizeof q);
    op.format = LMM_FMT_OPAQUE;
    op.payload = lmmi_fwc_frag_data(c, idx);
    op.len = lmmw_blob_frag_len(&c->desc, idx);
    c->st.fragments_sent++;
  }
  op.query = q;
  return lmmi_fwc_send_op(c, &op, c->frag_token);
}

/* Token bucket: the bearer's rate over the whole pass, a few datagrams of burst. */
static void pace(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  int64_t now = fw_now_ms(c);
  uint64_t allowed = c->cfg.rate_bps * (uint64_t)(now - c->pace_t0) / 1000 + 4u * c->desc.frag;
  while (c->pos < c->n_queue && c->pace_bytes < allowed) {
    uint32_t idx = c->queue[c->pos++];
    uint64_t before = c->st.bytes_group;
    lmm_err rc = send_fragment(c, idx);
    if (rc != LMM_OK)
      return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot send a fragment to the group");
    c->pace_bytes += c->st.bytes_group - before;
  }
  if (c->pos >= c->n_queue) return lmmi_fwc_queue_done(c);
  int64_t due = c->pace_t0 + (int64_t)((c->pace_bytes + c->desc.frag) * 1000 / c->cfg.rate_bps);
  lmmi_fwc_set_timer(c, due > now ? due : now + 1, pace);
}

/* Starts sending `idx` (owned) at the configured rate. */
void lmmi_fwc_pace_start(lmm_fwc *c, uint32_t *idx, size_t n) {
  free(c->queue);
  c->queue = idx, c->n_queue = n, c->pos = 0;
  c->pace_t0 = fw_now_ms(c), c->pace_bytes = 0;
  lmmi_fwc_set_timer(c, fw_now_ms(c), pace);
}

/* The first pass: the announce, then every data and parity fragment in order. */
static void first_pass(lmm_fwc *c) {
  uint32_t *q = malloc(((size_t)c->k + c->q + 1) * sizeof *q);
  if (!q) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  q[0] = UINT32_MAX;
  for (uint32_t i = 0; i < c->k + c->q; i++)
    q[i + 1] = i;
  lmmi_fwc_pace_start(c, q, (size_t)c->k + c->q + 1);
}

static void gmd_created(void *user, const lmm_t8_reply *rep) {
  lmm_fwc *c = user;
  c->t8req = NULL;
  if (rep->result->err != LMM_OK) {
    char *d = lmm_t8_result_describe(rep->result);
    lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rep->result->err, d ? d : "group message request failed");
    lmm_free(d);
    return;
  }
  if (rep->gmd->scef_port <= 0)
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_PROTO, "the SCEF offered no MB2-U port");
  c->gmd_self = fw_dupn(rep->gmd->self);
  lmmi_fwc_store_save(c); /* the delivery's link, for the notification that may follow */
  lmm_err rc = lmmi_dest_user_plane(&c->dest, rep->gmd);
  if (rc != LMM_OK)
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot reach the SCEF's MB2-U address");
  first_pass(c);
}

static void schedule_due(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (!c->cancel_req) send_start(c);
}

/* The first Schedule entry still ahead (Group Mgmt resource 8), in wall-clock ms; 0 when none.
 * Members in power saving wake for it: the blob must not go out earlier. */
static int64_t next_schedule_ms(const lmm_fwc *c) {
  int64_t now = lmm_ctx_wall_ms(c->d.ctx), best = 0;
  for (size_t i = 0; i < c->group.n_schedule; i++) {
    int64_t t = c->group.schedule[i] * 1000;
    if (t > now && (!best || t < best)) best = t;
  }
  return best;
}

static void send_start(lmm_fwc *c) {
  int64_t at = c->step == S_CONFIG ? next_schedule_ms(c) : 0;
  c->step = S_SEND;
  if (at) {
    lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: holding the blob for the Schedule",
             (long long)c->id);
    return lmmi_fwc_set_timer(c, fw_now_ms(c) + (at - lmm_ctx_wall_ms(c->d.ctx)), schedule_due);
  }
  lmmi_fwc_set_phase(c, LMM_FWC_P_SENDING);
  if (c->via == LMM_VIA_MBMS) {
    /* One delivery without a payload opens the user-plane port; every fragment is one MB2-U
     * datagram on it. */
    lmm_gmd g = {.scef_port = -1};
    g.external_group_id = c->group.external_group_id;
    lmm_err rc = lmm_t8_gmd_create_async(c->d.t8, c->tmgi, &g, gmd_created, c, &c->t8req);
    if (rc != LMM_OK)
      lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot send the T8 group message request");
    return;
  }
  lmm_err rc = lmmi_dest_multicast(&c->dest, c->group.multicast_address, c->group.multicast_port,
                                   c->cfg.mcast_if);
  if (rc != LMM_OK)
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot open a socket to the multicast group");
  first_pass(c);
}

/* A TMGI the configuration allocated (or renewed) belongs to the group: recorded in the store,
 * the next campaign on the group uses it (or, by the group's policy, this one releases it). */
static void remember_tmgi(lmm_fwc *c, const lmm_group_info *sg) {
  if (!c->d.store || !sg->tmgi) return;
  if (c->group.tmgi && !strcmp(c->group.tmgi, sg->tmgi) &&
      c->group.tmgi_expiration == sg->tmgi_expiration)
    return;
  free(c->group.tmgi);
  c->group.tmgi = fw_dupn(sg->tmgi);
  c->group.tmgi_expiration = sg->tmgi_expiration;
  lmm_group_info g = {0};
  lmm_err rc = lmm_store_group_get(c->d.store, c->group.name, &g);
  if (rc == LMM_OK) {
    free(g.tmgi);
    g.tmgi = fw_dupn(sg->tmgi);
    g.tmgi_expiration = sg->tmgi_expiration;
    rc = lmm_store_group_update(c->d.store, &g);
  }
  /* A group that is not in the store (a host's own) has nothing to record. */
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "firmware campaign %lld: cannot record TMGI %s: %s",
             (long long)c->id, sg->tmgi, lmm_store_errmsg(c->d.store));
  lmm_group_info_clear(&g);
}

static void setup_done(void *user, lmm_campaign *sc, lmm_err result) {
  lmm_fwc *c = user;
  if (result != LMM_OK) {
    const lmm_campaign_info *ci = lmm_campaign_get_info(sc);
    char text[300];
    snprintf(text, sizeof text, "configuration: %s", ci->error ? ci->error : lmm_strerror(result));
    lmm_campaign_free(sc);
    c->setup = NULL;
    return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, result, text);
  }
  const lmm_campaign_info *ci = lmm_campaign_get_info(sc);
  c->tmgi = fw_dupn(ci->tmgi);
  remember_tmgi(c, lmmi_campaign_group(sc));
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(sc, &n);
  /* The setup campaign had the allowed members only, in order. */
  size_t k = 0;
  for (size_t i = 0; i < c->n && k < n; i++) {
    if (!c->m[i].allowed) continue;
    c->rep[i].gm_step = o[k].gm_step, c->rep[i].gm_code = o[k].gm_code;
    if (o[k].gm_error && (c->m[i].gm_error = strdup(o[k].gm_error)))
      c->rep[i].gm_error = c->m[i].gm_error;
    if (!c->cfg.skip_group_mgmt && !o[k].gm_written) {
      char text[300];
      snprintf(text, sizeof text, "Group Mgmt write failed: %s",
               o[k].error ? o[k].error : "no answer");
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_NET, text);
    }
    k++;
  }
  lmm_campaign_free(sc);
  c->setup = NULL;
  if (c->cancel_req) return;
  if (!lmmi_fwc_count_pending(c)) return lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  send_start(c);
}

static const lmm_campaign_handlers setup_handlers = {NULL, NULL, setup_done};

void lmmi_fwc_config_start(lmm_fwc *c) {
  lmmi_fwc_set_phase(c, LMM_FWC_P_CONFIGURING);
  c->step = S_CONFIG;
  size_t k = 0;
  lmm_member *sub = calloc(c->n ? c->n : 1, sizeof *sub);
  if (!sub) return lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < c->n; i++)
    if (c->m[i].allowed) sub[k++] = c->members[i];
  lmm_campaign_deps d = {c->d.ctx, c->d.unicast, c->d.t8, c->d.answers, NULL};
  lmm_campaign_config cc = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cc.group = &c->group;
  cc.members = sub, cc.n_members = k;
  cc.op.kind = LMM_OPK_READ;
  cc.op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 3, .depth = 3};
  cc.via = c->via;
  cc.window_s = c->window_ms / 1000;
  cc.skip_group_mgmt = c->cfg.skip_group_mgmt;
  cc.configure_only = true;
  cc.mcast_if = c->cfg.mcast_if;
  lmm_err rc = lmm_campaign_new(&d, &cc, &setup_handlers, c, &c->setup);
  free(sub);
  if (rc == LMM_OK) rc = lmm_campaign_start(c->setup);
  if (rc != LMM_OK) lmmi_fwc_finish(c, LMM_FWC_P_FAILED, rc, "cannot start the configuration");
}
