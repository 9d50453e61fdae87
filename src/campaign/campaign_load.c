/* campaign_load.c - an operation campaign made from its config (lmm_campaign_new) or from its
 * stored row and outcomes (lmm_campaign_resume), and its accessors and end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/op_internal.h"

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

static void fill(void *owner, size_t i, lmm_outcome *o) {
  const lmm_campaign *c = owner;
  *o = c->out[i]; /* shallow: the store copies what it writes */
}

lmm_err lmmi_op_prepare(lmm_campaign *c) {
  snprintf(c->what, sizeof c->what, "campaign %lld", (long long)c->info.id);
  c->in_repair = calloc(c->n ? c->n : 1, sizeof *c->in_repair);
  c->finals = calloc(c->n ? c->n : 1, sizeof *c->finals);
  if (!c->in_repair || !c->finals) return LMM_ERR_NOMEM;
  lmm_err rc = lmmi_member_index_build(&c->ix, c->members, c->n);
  if (rc == LMM_OK)
    rc = lmmi_recorder_init(&c->rec, c->d.ctx, c->d.store, c->info.id, c->n, fill, c, c->what);
  return rc;
}

/* Copies the operation, payload and query included: the caller's may go right after. */
static lmm_err op_copy(lmm_campaign *c, const lmm_op *op) {
  c->op = *op;
  c->op.payload = NULL, c->op.query = NULL;
  if (op->len) {
    if (!(c->op_payload = malloc(op->len))) return LMM_ERR_NOMEM;
    memcpy(c->op_payload, op->payload, op->len);
    c->op.payload = c->op_payload;
  }
  if (op->query && !(c->op.query = c->op_query = strdup(op->query))) return LMM_ERR_NOMEM;
  return LMM_OK;
}

/* The stored row of a new campaign. Its copies are all checked: a row without its path or
 * payload would be stored, and resumed, as another operation. */
static lmm_err info_init(lmm_campaign *c, const lmm_campaign_config *cfg) {
  char buf[32];
  const char *path = lmm_path_format(&c->op.path, buf, sizeof buf);
  c->info.group = dupn(c->group.name);
  c->info.via = c->via;
  c->info.op_kind = c->op.kind;
  c->info.op_path = dupn(path);
  c->info.op_format = c->op.format;
  c->info.op_accept = c->op.accept;
  if (c->op.len && (c->info.op_payload = malloc(c->op.len)))
    memcpy(c->info.op_payload, c->op.payload, c->op.len), c->info.op_len = c->op.len;
  c->info.op_query = dupn(c->op_query);
  c->info.window_s = cfg->window_s >= 0 ? cfg->window_s : c->group.response_time_window;
  if (c->info.window_s < 0) c->info.window_s = 30;
  c->info.repair = !cfg->no_repair;
  c->info.protect = (int)cfg->protect;
  c->info.t8_status = -1;
  c->info.created_ms = lmm_ctx_wall_ms(c->d.ctx);
  c->info.state = LMM_CS_CREATED;
  if ((c->group.name && !c->info.group) || (path && !c->info.op_path) ||
      (c->op.len && !c->info.op_payload) || (c->op_query && !c->info.op_query))
    return LMM_ERR_NOMEM; /* what was copied goes with the campaign */
  return LMM_OK;
}

LMM_API lmm_err lmm_campaign_new(const lmm_campaign_deps *deps, const lmm_campaign_config *cfg,
                                 const lmm_campaign_handlers *h, void *user, lmm_campaign **out) {
  if (!deps || !deps->ctx || !deps->unicast || !cfg || !cfg->group || !out ||
      (cfg->n_members && !cfg->members))
    return LMM_ERR_ARG;
  lmm_path_kind via = lmmi_group_path(cfg->group, cfg->via);
  if (via == LMM_VIA_MBMS && (!deps->t8 || !deps->answers || !cfg->group->external_group_id))
    return LMM_ERR_ARG;
  if (via == LMM_VIA_MULTICAST && (!deps->answers || !cfg->group->multicast_address))
    return LMM_ERR_ARG;
  if (cfg->group->gm_iid > 65534) return LMM_ERR_ARG; /* 65535 is no instance ID in LwM2M */
  lmm_campaign *c = calloc(1, sizeof *c);
  if (!c) return LMM_ERR_NOMEM;
  c->d = *deps, c->cfg = *cfg, c->h = h, c->user = user, c->via = via, c->n = cfg->n_members;
  c->cfg.group = NULL, c->cfg.members = NULL;
  if (c->cfg.grace_ms < 0) c->cfg.grace_ms = 3000;
  lmm_err rc = lmmi_group_copy(&c->group, cfg->group);
  if (rc != LMM_OK) {
    free(c);
    return rc;
  }
  if (!c->group.gm_oid) c->group.gm_oid = LMM_GROUP_MGMT_OID;
  if (c->group.gm_iid < 0) c->group.gm_iid = 0; /* "not set": instance 0, as before */
  c->members = calloc(c->n ? c->n : 1, sizeof *c->members);
  c->out = calloc(c->n ? c->n : 1, sizeof *c->out);
  rc = c->members && c->out ? LMM_OK : LMM_ERR_NOMEM;
  for (size_t i = 0; rc == LMM_OK && i < c->n; i++) {
    lmm_outcome_init(&c->out[i]);
    rc = lmm_member_copy(&c->members[i], &cfg->members[i]);
    if (rc == LMM_OK && !(c->out[i].ep = strdup(c->members[i].ep))) rc = LMM_ERR_NOMEM;
    c->out[i].oid = c->members[i].oid;
  }
  if (rc == LMM_OK) rc = op_copy(c, &cfg->op);
  if (rc == LMM_OK) rc = info_init(c, cfg);
  /* Everything that can run out of memory comes before the row: a campaign that fails to be
   * made leaves nothing in the store. */
  if (rc == LMM_OK) rc = lmmi_op_prepare(c);
  if (rc == LMM_OK && deps->store) {
    rc = lmm_store_campaign_create(deps->store, &c->info, c->members, c->n);
    snprintf(c->what, sizeof c->what, "campaign %lld", (long long)c->info.id);
    c->rec.id = c->info.id;
  }
  if (rc != LMM_OK) {
    lmm_campaign_free(c);
    return rc;
  }
  *out = c;
  return LMM_OK;
}

/* Members are matched by ID: one removed from the group since cannot be served. */
static lmm_err resume_members(lmm_campaign *c, const lmm_member *all, size_t nall) {
  c->members = calloc(c->n ? c->n : 1, sizeof *c->members);
  if (!c->members) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < c->n; i++) {
    size_t k = 0;
    while (k < nall && (strcmp(all[k].ep, c->out[i].ep) || all[k].oid != c->out[i].oid))
      k++;
    if (k < nall) {
      lmm_err rc = lmm_member_copy(&c->members[i], &all[k]);
      if (rc != LMM_OK) return rc;
      continue;
    }
    c->members[i].ep = strdup(c->out[i].ep), c->members[i].oid = c->out[i].oid;
    if (!c->members[i].ep) return LMM_ERR_NOMEM; /* the index needs every name */
    if (!c->out[i].done) {
      c->out[i].done = true, c->out[i].err = LMM_ERR_NOTFOUND;
      c->out[i].error = dupn("no longer a member of the group");
    }
  }
  return LMM_OK;
}

/* The operation as the row stored it. */
static lmm_err resume_op(lmm_campaign *c) {
  lmm_op op = LMM_OP_INIT;
  lmm_err rc = lmm_path_parse(c->info.op_path, &op.path);
  op.kind = (lmm_op_kind)c->info.op_kind, op.format = c->info.op_format;
  op.accept = c->info.op_accept;
  op.payload = c->info.op_payload, op.len = c->info.op_len, op.query = c->info.op_query;
  return rc == LMM_OK ? op_copy(c, &op) : rc;
}

LMM_API lmm_err lmm_campaign_resume(const lmm_campaign_deps *deps, int64_t id,
                                    const lmm_campaign_handlers *h, void *user,
                                    lmm_campaign **out) {
  if (!deps || !deps->store || !deps->unicast || !out) return LMM_ERR_ARG;
  lmm_campaign_info info = {0};
  lmm_group_info group = {0};
  lmm_outcome *outs = NULL;
  lmm_member *all = NULL;
  size_t n = 0, nall = 0;
  lmm_err rc = lmm_store_campaign_get(deps->store, id, &info);
  if (rc == LMM_OK && (info.state == LMM_CS_DONE)) rc = LMM_ERR_STATE;
  if (rc == LMM_OK) rc = lmm_store_group_get(deps->store, info.group, &group);
  if (rc == LMM_OK) rc = lmm_store_outcomes_get(deps->store, id, &outs, &n);
  if (rc == LMM_OK) rc = lmm_store_members_get(deps->store, info.group, &all, &nall);
  lmm_campaign *c = NULL;
  if (rc == LMM_OK && !(c = calloc(1, sizeof *c))) rc = LMM_ERR_NOMEM;
  if (rc == LMM_OK) {
    lmm_campaign_config dflt = LMM_CAMPAIGN_CONFIG_DEFAULT;
    c->d = *deps, c->cfg = dflt, c->h = h, c->user = user, c->via = info.via;
    c->cfg.no_repair = !info.repair;
    c->cfg.protect = (lmm_protect)info.protect;
    c->group = group, group = (lmm_group_info){0};
    if (!c->group.gm_oid) c->group.gm_oid = LMM_GROUP_MGMT_OID;
    c->info = info, info = (lmm_campaign_info){0};
    free(c->info.error);
    c->info.error = NULL;
    c->n = n, c->out = outs, outs = NULL;
    rc = resume_members(c, all, nall);
    if (rc == LMM_OK) rc = resume_op(c);
    /* Once the group message went out, the rest can only be reached by unicast. */
    c->resumed_after_delivery = c->info.state >= LMM_CS_DELIVERING;
    if (rc == LMM_OK) rc = lmmi_op_prepare(c);
    for (size_t i = 0; rc == LMM_OK && i < n; i++) {
      c->n_done += c->out[i].done;
      if (!c->out[i].done && c->resumed_after_delivery && c->via != LMM_VIA_UNICAST)
        c->in_repair[i] = true;
    }
  }
  lmm_campaign_info_clear(&info);
  lmm_group_info_clear(&group);
  lmm_outcome_list_free(outs, n);
  lmm_members_free(all, nall);
  if (rc != LMM_OK) {
    lmm_campaign_free(c);
    return rc;
  }
  *out = c;
  return LMM_OK;
}

LMM_API void lmm_campaign_free(lmm_campaign *c) {
  if (!c) return;
  lmmi_round_close(&c->round);
  lmmi_pass_stop(&c->pass);
  lmmi_channel_free(&c->ch);
  lmmi_configure_free(&c->conf);
  if (c->hold) lmmi_timer_cancel(c->d.ctx, c->hold);
  lmmi_recorder_free(&c->rec); /* what is still marked reaches the store */
  lmmi_member_index_free(&c->ix);
  lmm_group_info_clear(&c->group);
  lmm_members_free(c->members, c->n);
  lmm_outcome_list_free(c->out, c->n);
  lmm_campaign_info_clear(&c->info);
  free(c->op_payload), free(c->op_query), free(c->in_repair), free(c->finals);
  free(c->pending_msg);
  free(c);
}

LMM_API void lmm_campaign_abandon(lmm_campaign *c) {
  if (c) lmmi_recorder_detach(&c->rec);
}

LMM_API const lmm_campaign_info *lmm_campaign_get_info(const lmm_campaign *c) {
  return &c->info;
}

LMM_API const lmm_outcome *lmm_campaign_outcomes(const lmm_campaign *c, size_t *n) {
  *n = c->n;
  return c->out;
}

LMM_API const lmm_member *lmm_campaign_members(const lmm_campaign *c, size_t *n) {
  *n = c->n;
  return c->members;
}
