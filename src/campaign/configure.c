/* configure.c - "configure the group", the first half of TS 23.682 5.5.1 for every kind of
 * campaign: the TMGI of an MBMS group (reused while it lives long enough, renewed, or
 * allocated, and recorded in the stored group), then the Group Mgmt object written to each
 * member by unicast; and at the campaign's end, the group's TMGI policy (keep or release). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/core.h"

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

static void done(lmmi_configure *g, lmm_err rc, const char *why) {
  free(g->sub), g->sub = NULL;
  free(g->map), g->map = NULL;
  g->h->on_done(g->owner, rc, why);
}

/* ----------------------------------------------------------- Group Mgmt writes */

static void gm_prepare(void *user, size_t k, const lmm_member *m, lmm_op *op) {
  lmmi_configure *g = user;
  (void)k;
  bool tlv = m->format == LMM_FMT_TLV;
  op->format = tlv ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
  op->payload = tlv ? g->tlv : g->senml;
  op->len = tlv ? g->tlv_len : g->senml_len;
}

static void gm_member(void *user, const lmm_member_result *r) {
  lmmi_configure *g = user;
  char text[16];
  const char *err = r->error;
  if (!err && r->err == LMM_OK && r->coap_code >> 5 != 2) {
    snprintf(text, sizeof text, "%u.%02u", r->coap_code >> 5, r->coap_code & 31);
    err = text;
  }
  if (!err && r->err != LMM_OK) err = lmm_strerror(r->err);
  g->h->on_member(g->owner, g->map[r->index], r->err, r->coap_code, err);
}

static void gm_done(void *user, lmm_batch *b) {
  lmmi_configure *g = user;
  lmm_batch_free(b); /* allowed from its own on_done */
  g->batch = NULL;
  done(g, LMM_OK, NULL);
}

static const lmm_batch_handlers gm_handlers = {
    .prepare = gm_prepare, .on_member = gm_member, .on_done = gm_done};

static lmm_err gm_encode(lmmi_configure *g) {
  const lmm_group_info *gr = g->group;
  lmm_group_mgmt gm = LMM_GROUP_MGMT_INIT;
  char *tmgi[1] = {g->tmgi};
  uint16_t riid[1] = {0};
  gm.group_id = gr->name;
  gm.group_type = gr->type;
  gm.member_number = g->member_number;
  gm.external_group_id = gr->external_group_id ? gr->external_group_id : "";
  if (g->tmgi) gm.tmgi = tmgi, gm.tmgi_riid = riid, gm.n_tmgi = 1;
  gm.multicast_address = gr->multicast_address;
  uint16_t *sriid = NULL;
  if (gr->n_schedule && (sriid = calloc(gr->n_schedule, sizeof *sriid))) {
    for (size_t i = 0; i < gr->n_schedule; i++)
      sriid[i] = (uint16_t)i;
    gm.schedule = gr->schedule, gm.schedule_riid = sriid, gm.n_schedule = gr->n_schedule;
  }
  gm.response_time_window = g->window_s;
  gm.multicast_port = gr->multicast_port > 0 ? gr->multicast_port : 5683;
  gm.answer_uri = (char *)g->answer_uri;
  if (g->prot.on) gm.group_key = g->prot.secret, gm.group_key_len = g->prot.secret_len;
  /* The group's own instance: writing another group's would make its members stop listening
   * to that group. */
  uint16_t iid = (uint16_t)(gr->gm_iid > 0 ? gr->gm_iid : 0);
  lmm_err rc =
      lmm_group_mgmt_encode(&gm, gr->gm_oid, iid, LMM_FMT_SENML_JSON, &g->senml, &g->senml_len);
  if (rc == LMM_OK)
    rc = lmm_group_mgmt_encode(&gm, gr->gm_oid, iid, LMM_FMT_TLV, &g->tlv, &g->tlv_len);
  free(sriid);
  return rc;
}

static void writes_start(lmmi_configure *g) {
  if (g->skip_writes || g->via == LMM_VIA_UNICAST) return done(g, LMM_OK, NULL);
  lmm_err rc = gm_encode(g);
  if (rc != LMM_OK) return done(g, rc, "cannot encode the Group Mgmt object");
  size_t k = 0;
  g->sub = calloc(g->n ? g->n : 1, sizeof *g->sub);
  g->map = calloc(g->n ? g->n : 1, sizeof *g->map);
  if (!g->sub || !g->map) return done(g, LMM_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < g->n; i++)
    if (!g->skip || !g->skip[i]) g->sub[k] = g->members[i], g->map[k++] = i; /* shallow */
  if (!k) return done(g, LMM_OK, NULL);
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  op.path = (lmm_path){.oid = g->group->gm_oid,
                       .iid = (uint16_t)(g->group->gm_iid > 0 ? g->group->gm_iid : 0),
                       .depth = 2};
  rc = lmm_batch_start(g->unicast, g->sub, k, &op, g->group->gm_oid, &gm_handlers, g, &g->batch);
  if (rc != LMM_OK) done(g, rc, "cannot start the Group Mgmt writes");
}

/* ------------------------------------------------------------------ TMGI */

/* A TMGI the configuration allocated (or renewed) belongs to the group: recorded in the stored
 * group (its other fields as they are there now: `group set` since stays), so that the next
 * campaign on the group uses it or, by the group's policy, this one releases it. */
static void remember_tmgi(lmmi_configure *g, const lmm_tmgi_allocation *a) {
  lmm_group_info *gr = g->group;
  free(gr->tmgi);
  gr->tmgi = dupn(a->tmgi);
  if (a->tmgi_expiration) gr->tmgi_expiration = a->tmgi_expiration;
  if (!g->store) return;
  lmm_group_info s = {0};
  lmm_err rc = lmm_store_group_get(g->store, gr->name, &s);
  if (rc == LMM_OK) {
    free(s.tmgi);
    s.tmgi = dupn(gr->tmgi);
    s.tmgi_expiration = gr->tmgi_expiration;
    rc = lmm_store_group_update(g->store, &s);
  }
  /* A group that is not in the store (a host's own) has nothing to record. */
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    lmmi_log(g->ctx, LMM_LOG_ERROR, "%s: cannot record TMGI %s: %s", g->what, a->tmgi,
             lmm_store_errmsg(g->store));
  lmm_group_info_clear(&s);
}

static void tmgi_reply(void *user, const lmm_t8_reply *rep) {
  lmmi_configure *g = user;
  g->req = NULL;
  if (rep->result->err != LMM_OK) {
    /* A TMGI the SCEF no longer knows (expired, released) is allocated afresh, once. */
    if (rep->op == LMM_T8_TMGI_PATCH && rep->result->http_status == 404 && !g->realloc_tried) {
      g->realloc_tried = true;
      lmm_tmgi_allocation req = {.external_group_id = g->group->external_group_id};
      if (lmm_t8_tmgi_create_async(g->t8, &req, tmgi_reply, g, &g->req) == LMM_OK) return;
    }
    char *d = lmm_t8_result_describe(rep->result);
    char why[512];
    snprintf(why, sizeof why, "TMGI %s at the SCEF %s: %s",
             rep->op == LMM_T8_TMGI_CREATE ? "allocation" : "renewal",
             lmm_t8_client_base_url(g->t8), d ? d : "failed");
    lmm_free(d);
    return done(g, rep->result->err, why);
  }
  if (rep->allocation) {
    remember_tmgi(g, rep->allocation);
    free(g->tmgi);
    if (!(g->tmgi = dupn(rep->allocation->tmgi)) && rep->allocation->tmgi)
      return done(g, LMM_ERR_NOMEM, "out of memory");
  }
  writes_start(g);
}

lmm_err lmmi_configure_start(lmmi_configure *g) {
  if (!g->group->gm_oid) return LMM_ERR_ARG;
  g->realloc_tried = false;
  /* The key first: a group the policy refuses gets no TMGI and no write. */
  char why[400] = "";
  lmm_err prc = lmmi_protect_setup(&g->prot, g->ctx, g->store, g->group, g->members, g->n,
                                   g->via == LMM_VIA_UNICAST ? LMM_PROTECT_OFF : g->protect,
                                   g->skip_writes, why, sizeof why);
  if (prc != LMM_OK) {
    done(g, prc, why);
    return LMM_OK;
  }
  if (g->via != LMM_VIA_MBMS) {
    writes_start(g);
    return LMM_OK;
  }
  if (!g->t8) return LMM_ERR_ARG;
  const lmm_group_info *gr = g->group;
  if (gr->tmgi && gr->tmgi_expiration >= g->tmgi_needed_until) {
    free(g->tmgi);
    if (!(g->tmgi = strdup(gr->tmgi))) return LMM_ERR_NOMEM;
    writes_start(g);
    return LMM_OK;
  }
  if (gr->tmgi) { /* renew: it would expire before the campaign ends */
    lmm_tmgi_allocation_patch p = {0};
    return lmm_t8_tmgi_patch_async(g->t8, gr->tmgi, &p, tmgi_reply, g, &g->req);
  }
  lmm_tmgi_allocation req = {.external_group_id = gr->external_group_id};
  return lmm_t8_tmgi_create_async(g->t8, &req, tmgi_reply, g, &g->req);
}

/* --------------------------------------------------------------- release */

/* What the T8 DELETE of a TMGI came to: LMM_TMGI_END_RELEASED (also a 404: the SCEF no longer
 * had it), the stored group forgetting it if it still names it; or LMM_TMGI_END_RELEASE_FAILED,
 * logged. */
static lmm_tmgi_end tmgi_released(lmm_ctx *ctx, lmm_store *store, const char *group,
                                  const char *tmgi, const lmm_t8_reply *rep, const char *what) {
  /* 404: the SCEF no longer has it (expired, or released by someone else): gone either way. */
  if (rep->result->err != LMM_OK && rep->result->http_status != 404) {
    char *d = lmm_t8_result_describe(rep->result);
    lmmi_log(ctx, LMM_LOG_WARN, "%s: TMGI %s not released (kept until it expires): %s", what, tmgi,
             d ? d : "failed");
    lmm_free(d);
    return LMM_TMGI_END_RELEASE_FAILED;
  }
  /* The stored group, not the campaign's copy: what was set on it since (group set) stays,
   * and a TMGI the group took in the meantime is not forgotten. */
  lmm_group_info g = {0};
  lmm_err rc = store ? lmm_store_group_get(store, group, &g) : LMM_ERR_NOTFOUND;
  if (rc == LMM_OK && g.tmgi && !strcmp(g.tmgi, tmgi)) {
    free(g.tmgi), g.tmgi = NULL;
    g.tmgi_expiration = 0;
    rc = lmm_store_group_update(store, &g);
  }
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    lmmi_log(ctx, LMM_LOG_ERROR, "%s: cannot store the released TMGI %s: %s", what, tmgi,
             lmm_store_errmsg(store));
  lmm_group_info_clear(&g);
  return LMM_TMGI_END_RELEASED;
}

static void tmgi_deleted(void *user, const lmm_t8_reply *rep) {
  lmmi_configure *g = user;
  g->req = NULL;
  lmm_tmgi_end end = tmgi_released(g->ctx, g->store, g->group->name, g->tmgi, rep, g->what);
  if (end == LMM_TMGI_END_RELEASED) {
    free(g->group->tmgi), g->group->tmgi = NULL;
    g->group->tmgi_expiration = 0;
  }
  g->h->on_released(g->owner, end);
}

bool lmmi_configure_release(lmmi_configure *g, lmm_tmgi_end *end) {
  *end = LMM_TMGI_END_NONE;
  if (g->via != LMM_VIA_MBMS || !g->tmgi) return false;
  if (g->group->tmgi_policy != LMM_TMGI_RELEASE || !g->t8) {
    *end = LMM_TMGI_END_KEPT;
    return false;
  }
  if (g->req) lmm_t8_request_cancel(g->req), g->req = NULL;
  if (lmm_t8_tmgi_delete_async(g->t8, g->tmgi, tmgi_deleted, g, &g->req) == LMM_OK) return true;
  *end = LMM_TMGI_END_RELEASE_FAILED;
  lmmi_log(g->ctx, LMM_LOG_WARN, "%s: cannot send the release of TMGI %s", g->what, g->tmgi);
  return false;
}

void lmmi_configure_stop(lmmi_configure *g) {
  if (g->req) lmm_t8_request_cancel(g->req), g->req = NULL;
  if (g->batch) lmm_batch_free(g->batch), g->batch = NULL;
  free(g->sub), g->sub = NULL;
  free(g->map), g->map = NULL;
}

void lmmi_configure_free(lmmi_configure *g) {
  lmmi_configure_stop(g);
  lmmi_protect_free(&g->prot);
  /* The encoded writes carry the key: wiped before they go back to the heap. */
  if (g->senml) memset(g->senml, 0, g->senml_len);
  if (g->tlv) memset(g->tlv, 0, g->tlv_len);
  lmm_free(g->senml), lmm_free(g->tlv);
  g->senml = g->tlv = NULL;
  free(g->tmgi), g->tmgi = NULL;
}
