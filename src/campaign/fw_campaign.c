/* fw_campaign.c - a firmware campaign (docs/protocol.md section 5): its life (new, start,
 * cancel, finish, free), its record in the store and its public calls. The flow itself is in
 * fw_fragments.c, fw_rounds.c and fw_update.c (fw_internal.h says what each holds). Everything
 * runs from the context's loop; at most one timer, one unicast pass and one group round are live
 * at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "campaign/fw_internal.h"
#include "lmm_wire/hex.h"

LMM_API const char *lmm_fwc_phase_name(lmm_fwc_phase phase) {
  static const char *const names[] = {"created",   "configuring", "sending",  "status",
                                      "repairing", "wave",        "updating", "done",
                                      "stopped",   "cancelled",   "failed"};
  return phase >= 0 && phase < (int)(sizeof names / sizeof names[0]) ? names[phase] : "unknown";
}

LMM_API const char *lmm_fwc_end_name(lmm_fwc_end end) {
  static const char *const names[] = {"pending", "updated",   "failed",
                                      "held",    "cancelled", "refused"};
  return end >= 0 && end < (int)(sizeof names / sizeof names[0]) ? names[end] : "unknown";
}

void lmmi_fwc_set_phase(lmm_fwc *c, lmm_fwc_phase phase) {
  if (c->st.phase == phase) return;
  c->st.phase = phase;
  if (!c->finished) lmmi_fwc_store_save(c); /* what a resume reads; finished() saves itself */
  lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: %s", (long long)c->id,
           lmm_fwc_phase_name(phase));
  if (c->h && c->h->on_phase) c->h->on_phase(c->user, phase);
}

void lmmi_fwc_set_timer(lmm_fwc *c, int64_t due, lmmi_timer_fn fn) {
  if (c->timer) lmmi_timer_cancel(c->d.ctx, c->timer);
  c->timer = lmmi_timer_add(c->d.ctx, due, fn, c);
  /* Without a timer nothing would drive the campaign: it fails rather than hangs. */
  if (!c->timer) lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "cannot arm a timer");
}

/* Member i ends (once). */
void lmmi_fwc_end_member(lmm_fwc *c, size_t i, int end, lmm_err err, const char *why) {
  lmm_fwc_member *r = &c->rep[i];
  if (r->end != LMM_FWC_PENDING) return;
  r->end = end;
  r->err = err;
  r->elapsed_ms = fw_now_ms(c) - c->t0;
  free(c->m[i].error);
  c->m[i].error = why ? strdup(why) : NULL;
  r->error = c->m[i].error ? c->m[i].error : (why ? lmm_strerror(LMM_ERR_NOMEM) : NULL);
  c->m[i].in_play = false;
  free(c->m[i].missing), c->m[i].missing = NULL;
  free(c->m[i].need), c->m[i].need = NULL;
  lmmi_recorder_mark(&c->rec, i); /* a member's end is never lost with the process */
  if (c->h && c->h->on_member) c->h->on_member(c->user, i, r);
}

bool lmmi_fwc_ask_update(lmm_fwc *c, size_t i) {
  if (c->rep[i].update_asked) return false;
  c->rep[i].update_asked = true;
  lmmi_recorder_mark(&c->rec, i);
  return true;
}

bool lmmi_fwc_update_recorded(lmm_fwc *c) {
  /* Written before the request leaves: after a crash, a resume must know whom it may have
   * reached, so that no member is asked twice. */
  if (lmmi_recorder_flush(&c->rec)) return true;
  char why[700];
  snprintf(why, sizeof why,
           "cannot record the update before asking it, so nothing was asked (resume it once the "
           "store can be written): %s",
           lmm_store_errmsg(c->d.store));
  lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_DB, why);
  return false;
}

size_t lmmi_fwc_count_pending(const lmm_fwc *c) {
  size_t n = 0;
  for (size_t i = 0; i < c->n; i++)
    n += c->rep[i].end == LMM_FWC_PENDING;
  return n;
}

LMM_API void lmm_fwc_outcome(const lmm_fwc *c, size_t i, lmm_outcome *o) {
  const lmm_fwc_member *r = &c->rep[i];
  lmm_outcome_init(o);
  o->ep = c->members[i].ep;
  o->oid = c->members[i].oid;
  o->via = r->via;
  o->gm_written =
      r->gm_step == LMM_STEP_OK || (c->cfg.skip_group_mgmt && c->via != LMM_VIA_UNICAST);
  o->gm_step = r->gm_step;
  o->gm_code = r->gm_code;
  o->gm_error = (char *)r->gm_error;
  o->fw_pkg_version = (char *)r->pkg_version;
  o->done = r->end != LMM_FWC_PENDING;
  o->repaired = r->fragments_repaired > 0;
  o->err = r->err;
  o->content_format = -1;
  o->latency_ms = r->elapsed_ms;
  o->error = (char *)r->error;
  o->fw_end = r->end;
  o->fw_state = r->state;
  o->fw_result = r->update_result;
  o->fw_wave = r->wave;
  o->fw_pulled = r->pulled;
  o->fw_bytes_unicast = r->bytes_unicast;
  o->fw_missed = r->missed_first;
  o->fw_repaired = r->fragments_repaired;
  o->fw_exec = r->update_asked;
}

static void fill(void *owner, size_t i, lmm_outcome *o) {
  lmm_fwc_outcome(owner, i, o); /* borrowed pointers: the recorder writes it at once */
}

lmm_err lmmi_fwc_recorder_init(lmm_fwc *c) {
  snprintf(c->what, sizeof c->what, "firmware campaign %lld", (long long)c->id);
  return lmmi_recorder_init(&c->rec, c->d.ctx, c->d.store, c->id, c->n, fill, c, c->what);
}

bool lmmi_fwc_store_save(lmm_fwc *c) {
  if (!c->d.store || !c->id) return true;
  lmm_fwc_stats st;
  lmm_fwc_get_stats(c, &st);
  char dg[65] = "";
  for (int b = 0; b < 32; b++)
    snprintf(dg + 2 * b, 3, "%02x", c->desc.digest[b]);
  char summary[600];
  snprintf(summary, sizeof summary,
           "{\"size\":%zu,\"sha256\":\"%s\",\"fragment_size\":%u,\"k\":%u,\"q\":%u,"
           "\"bytes_group\":%llu,\"bytes_unicast\":%llu,\"fragments_sent\":%llu,\"rounds\":%u,"
           "\"multicast_repairs\":%u,\"unicast_repairs\":%u,\"repair_rounds\":%u,"
           "\"fec_next_row\":%u,\"phase\":\"%s\"}",
           c->len, dg, c->desc.frag, c->k, c->q, (unsigned long long)st.bytes_group,
           (unsigned long long)st.bytes_unicast, (unsigned long long)st.fragments_sent, st.rounds,
           st.multicast_repairs, st.unicast_repairs, st.repair_rounds, c->next_row,
           lmm_fwc_phase_name(st.phase));
  free(c->info.fw_summary);
  c->info.fw_summary = fw_dupn(summary);
  static const int cs[] = {LMM_CS_CREATED,    LMM_CS_CONFIGURING, LMM_CS_DELIVERING,
                           LMM_CS_COLLECTING, LMM_CS_REPAIRING,   LMM_CS_DELIVERING,
                           LMM_CS_DELIVERING, LMM_CS_DONE,        LMM_CS_DONE,
                           LMM_CS_DONE,       LMM_CS_FAILED};
  c->info.state = cs[st.phase];
  free(c->info.tmgi), c->info.tmgi = fw_dupn(c->conf.tmgi);
  free(c->info.t8_transaction), c->info.t8_transaction = fw_dupn(c->ch.delivery);
  free(c->info.error), c->info.error = fw_dupn(c->error);
  if (c->finished) c->info.finished_ms = lmm_ctx_wall_ms(c->d.ctx);
  /* The outcomes first, then the row. Outcomes the store refused (a full disk) under a final
   * state would say the campaign is over while its members there are still pending, and
   * 'resume' would refuse it: the row then keeps its last phase, which resume continues. */
  for (size_t i = 0; i < c->n; i++)
    lmmi_recorder_mark(&c->rec, i);
  if (!lmmi_recorder_flush(&c->rec) && c->finished) return false;
  lmmi_recorder_save_info(&c->rec, &c->info);
  return true;
}

static void stop_all(lmm_fwc *c) {
  if (c->timer) lmmi_timer_cancel(c->d.ctx, c->timer), c->timer = NULL;
  lmmi_fwc_close_round(c);
  lmmi_pass_stop(&c->pass);
  lmmi_fwc_drop_items(c);
  if (c->job) lmm_fw_free(c->job), c->job = NULL;
  free(c->job_map), c->job_map = NULL;
  lmmi_configure_stop(&c->conf);
  lmmi_channel_stop(&c->ch);
}

static void finished(lmm_fwc *c) {
  c->finished = true;
  lmmi_fwc_set_phase(c, c->final_phase);
  if (!lmmi_fwc_store_save(c) && c->result == LMM_OK) {
    char why[700];
    snprintf(why, sizeof why,
             "its outcomes could not be stored (resume it once the store can be written): %s",
             lmm_store_errmsg(c->d.store));
    c->result = LMM_ERR_DB;
    free(c->error), c->error = fw_dupn(why);
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "firmware campaign %lld: %s", (long long)c->id, why);
  }
  if (c->h && c->h->on_done) c->h->on_done(c->user, c, c->result);
}

void lmmi_fwc_released(void *owner, lmm_tmgi_end end) {
  lmm_fwc *c = owner;
  c->info.tmgi_end = end;
  finished(c);
}

void lmmi_fwc_finish(lmm_fwc *c, int phase, lmm_err rc, const char *why) {
  if (c->closing) return;
  c->closing = true;
  stop_all(c);
  c->step = S_END;
  c->final_phase = phase;
  c->result = rc;
  if (why && (rc != LMM_OK || phase == LMM_FWC_P_STOPPED)) {
    free(c->error);
    c->error = fw_dupn(why);
  }
  if (rc != LMM_OK) {
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "firmware campaign %lld failed: %s", (long long)c->id,
             why ? why : lmm_strerror(rc));
    for (size_t i = 0; i < c->n; i++)
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, rc, why ? why : lmm_strerror(rc));
  }
  /* The user-plane port is released: the delivery has nothing more to carry. */
  lmmi_channel_end_delivery(&c->ch);
  lmm_tmgi_end end;
  if (lmmi_configure_release(&c->conf, &end)) return; /* lmmi_fwc_released() follows */
  if (end != LMM_TMGI_END_NONE) c->info.tmgi_end = end;
  finished(c);
}

static void cancel_fire(void *arg) {
  lmm_fwc *c = arg;
  c->cancel_timer = NULL;
  if (c->closing) return;
  stop_all(c);
  for (size_t i = 0; i < c->n; i++)
    if (c->rep[i].end == LMM_FWC_PENDING)
      lmmi_fwc_end_member(c, i, LMM_FWC_CANCELLED, LMM_ERR_CANCELLED,
                          c->m[i].executing ? "cancelled while updating: result unknown"
                                            : "cancelled before its update");
  lmmi_fwc_finish(c, LMM_FWC_P_CANCELLED, LMM_OK, "cancelled");
}

LMM_API void lmm_fwc_cancel(lmm_fwc *c) {
  if (!c || c->closing || c->cancel_req) return;
  c->cancel_req = true;
  c->cancel_timer = lmmi_timer_add(c->d.ctx, fw_now_ms(c), cancel_fire, c);
}

/* Everything of a new or resumed campaign but its row in the store: the checks, the copies,
 * a fresh blob ID (a resumed campaign puts its own back), the parity and the member index. */
lmm_err lmmi_fwc_build(const lmm_fwc_deps *deps, const lmm_fwc_config *cfg,
                       const lmm_fwc_handlers *h, void *user, lmm_fwc **out) {
  if (!deps || !deps->ctx || !deps->unicast || !cfg || !cfg->group || !out) return LMM_ERR_ARG;
  const char *bad = NULL;
  lmm_path_kind via = lmmi_group_path(cfg->group, cfg->via);
  if (!cfg->image || !cfg->len)
    bad = "an empty image";
  else if (!cfg->members || !cfg->n_members)
    bad = "no members";
  else if (cfg->len > LMMW_BLOB_SIZE_MAX && via != LMM_VIA_UNICAST)
    bad = "an image over 64 MiB for a group path";
  else if (via != LMM_VIA_UNICAST &&
           (cfg->fragment_size < LMMW_BLOB_FRAG_MIN || cfg->fragment_size > LMMW_BLOB_FRAG_MAX))
    bad = "a fragment size outside 16..1024";
  else if (cfg->rate_bps == 0 && via != LMM_VIA_UNICAST)
    bad = "a rate of 0";
  else if (cfg->max_rounds < 1)
    bad = "fewer than 1 status round";
  else if (cfg->wave_percent < 0 || cfg->wave_percent > 100)
    bad = "a wave percentage outside 0..100";
  else if (cfg->success_threshold < 0 || cfg->success_threshold > 1 || cfg->error_threshold < 0 ||
           cfg->error_threshold > 1)
    bad = "a threshold outside 0..1";
  else if (cfg->grace_ms < 0 || cfg->update_wait_ms < 0 || cfg->update_deadline_ms < 0)
    bad = "a negative time";
  else if (via == LMM_VIA_MBMS && (!deps->t8 || !deps->answers || !cfg->group->external_group_id))
    bad = "an MBMS path without a T8 client, an answer receiver or an External Group ID";
  else if (via == LMM_VIA_MULTICAST && (!deps->answers || !cfg->group->multicast_address))
    bad = "a multicast path without an answer receiver or a multicast address";
  else if (via == LMM_VIA_UNICAST && cfg->method != LMM_FWC_PUSH && !deps->blobs)
    bad = "a pull or auto method without a blob server";
  else if (cfg->method < LMM_FWC_PUSH || cfg->method > LMM_FWC_AUTO)
    bad = "an unknown unicast method";
  else if (via != LMM_VIA_UNICAST && (bad = lmmi_fwc_fec_check(cfg)))
    ;
  else if (cfg->version && !lmmw_blob_version_ok(cfg->version, strlen(cfg->version)))
    bad = "a version that is not 1..32 of letters, digits and . _ - +";
  if (bad) {
    lmmi_log(deps->ctx, LMM_LOG_ERROR, "firmware campaign: refused: %s", bad);
    return LMM_ERR_ARG;
  }
  lmm_fwc *c = calloc(1, sizeof *c);
  if (!c) return LMM_ERR_NOMEM;
  c->d = *deps, c->cfg = *cfg, c->h = h, c->user = user, c->via = via;
  c->n = cfg->n_members;
  c->len = cfg->len;
  c->cfg.group = NULL, c->cfg.members = NULL, c->cfg.image = NULL;
  long window_s = cfg->window_s >= 0 ? cfg->window_s : (long)cfg->group->response_time_window;
  c->window_ms = window_s * 1000;
  lmm_err rc = LMM_ERR_NOMEM;
  c->group.name = fw_dupn(cfg->group->name);
  c->group.type = cfg->group->type;
  c->group.gm_oid = cfg->group->gm_oid;
  c->group.gm_iid = cfg->group->gm_iid;
  c->group.external_group_id = fw_dupn(cfg->group->external_group_id);
  c->group.multicast_address = fw_dupn(cfg->group->multicast_address);
  c->group.multicast_port = cfg->group->multicast_port;
  c->group.response_time_window = window_s;
  c->group.tmgi = fw_dupn(cfg->group->tmgi);
  c->group.tmgi_expiration = cfg->group->tmgi_expiration;
  c->group.tmgi_policy = cfg->group->tmgi_policy;
  c->cfg.expect_version = NULL, c->cfg.image_name = NULL; /* copies are kept, or the store's */
  if (cfg->expect_version && !(c->expect_version = fw_dupn(cfg->expect_version))) goto fail;
  if (cfg->mcast_if && !(c->mcast_if = fw_dupn(cfg->mcast_if))) goto fail;
  c->cfg.mcast_if = c->mcast_if;
  if (cfg->group->n_schedule) {
    c->group.schedule = malloc(cfg->group->n_schedule * sizeof *c->group.schedule);
    if (!c->group.schedule) goto fail;
    memcpy(c->group.schedule, cfg->group->schedule,
           cfg->group->n_schedule * sizeof *c->group.schedule);
    c->group.n_schedule = cfg->group->n_schedule;
  }
  c->image = malloc(c->len);
  c->members = calloc(c->n, sizeof *c->members);
  c->rep = calloc(c->n, sizeof *c->rep);
  c->m = calloc(c->n, sizeof *c->m);
  if (!c->group.name || !c->image || !c->members || !c->rep || !c->m) goto fail;
  memcpy(c->image, cfg->image, c->len);
  for (size_t i = 0; i < c->n; i++)
    if (lmm_member_copy(&c->members[i], &cfg->members[i]) != LMM_OK) goto fail;
  /* Blob description: fresh ID, SHA-256 of the image. */
  c->desc.size = c->len;
  c->desc.frag = cfg->fragment_size;
  c->desc.stride = cfg->fec_stride;
  c->desc.has_digest = true;
  if (cfg->version) snprintf(c->desc.version, sizeof c->desc.version, "%s", cfg->version);
  c->cfg.version = NULL; /* not kept: the description has it */
  if (lmmi_random(c->d.ctx, c->desc.id, sizeof c->desc.id) != LMM_OK ||
      lmmi_random(c->d.ctx, c->frag_token, sizeof c->frag_token) != LMM_OK)
    goto fail;
  mbedtls_sha256_ret(c->image, c->len, c->desc.digest, 0);
  if (via != LMM_VIA_UNICAST) {
    char why[160];
    lmmi_fwc_fec_desc(c, cfg);
    if (lmmw_blob_desc_check(&c->desc, why, sizeof why) != LMM_OK) {
      lmmi_log(deps->ctx, LMM_LOG_ERROR, "firmware campaign: refused: %s", why);
      rc = LMM_ERR_ARG;
      goto fail;
    }
    if ((rc = lmmi_fwc_fec_setup(c)) != LMM_OK) goto fail;
    rc = LMM_ERR_NOMEM;
  }
  c->st.k = c->k, c->st.q = c->q;
  lmmi_fwc_queries(c);
  lmm_path fw_path = {.oid = FW_OID, .iid = 0, .rid = 0, .depth = 3};
  for (size_t i = 0; i < c->n; i++) {
    c->m[i].allowed = lmm_member_allows(&c->members[i], &fw_path);
    c->rep[i].member = &c->members[i];
    c->rep[i].via = via;
    c->rep[i].state = c->rep[i].update_result = -1;
  }
  if (lmmi_member_index_build(&c->ix, c->members, c->n) != LMM_OK) goto fail;
  *out = c;
  return LMM_OK;
fail:
  lmm_fwc_free(c);
  return rc;
}

/* The status and update queries name the blob: made again when a resume restores its ID. */
void lmmi_fwc_queries(lmm_fwc *c) {
  lmmw_blob_query(&c->desc, -1, true, c->status_q, sizeof c->status_q);
  char idh[2 * LMMW_BLOB_ID_LEN + 1];
  lmmw_hex(c->desc.id, LMMW_BLOB_ID_LEN, idh);
  snprintf(c->exec_q, sizeof c->exec_q, "b=%s", idh);
}

LMM_API lmm_err lmm_fwc_new(const lmm_fwc_deps *deps, const lmm_fwc_config *cfg,
                            const lmm_fwc_handlers *h, void *user, lmm_fwc **out) {
  lmm_fwc *c;
  lmm_err rc = lmmi_fwc_build(deps, cfg, h, user, &c);
  if (rc != LMM_OK) return rc;
  if (c->d.store) {
    c->info.group = fw_dupn(c->group.name);
    c->info.via = c->via;
    c->info.kind = LMM_CK_FIRMWARE;
    c->info.op_kind = LMM_OPK_WRITE;
    c->info.op_path = fw_dupn("/5/0/0");
    c->info.op_format = LMM_FMT_OPAQUE;
    c->info.window_s = c->window_ms / 1000;
    c->info.repair = true;
    c->info.t8_status = -1;
    c->info.created_ms = lmm_ctx_wall_ms(c->d.ctx);
    rc = LMM_ERR_NOMEM;
    if (!c->info.group || !c->info.op_path || !(c->info.fw_config = lmmi_fwc_config_json(c, cfg)))
      goto fail;
    rc = lmm_store_campaign_create(c->d.store, &c->info, c->members, c->n);
    if (rc != LMM_OK) goto fail;
    c->id = c->info.id;
  }
  if ((rc = lmmi_fwc_recorder_init(c)) != LMM_OK) goto fail;
  *out = c;
  return LMM_OK;
fail:
  lmm_fwc_free(c);
  return rc;
}

LMM_API lmm_err lmm_fwc_start(lmm_fwc *c) {
  if (!c) return LMM_ERR_ARG;
  if (c->started) return LMM_ERR_STATE;
  c->started = true;
  c->t0 = fw_now_ms(c);
  if (!c->resumed || !c->info.started_ms) c->info.started_ms = lmm_ctx_wall_ms(c->d.ctx);
  for (size_t i = 0; i < c->n; i++)
    if (!c->m[i].allowed)
      lmmi_fwc_end_member(c, i, LMM_FWC_REFUSED, LMM_ERR_ARG,
                          "its Object ID is not 5: nothing sent");
  if (!lmmi_fwc_count_pending(c)) return lmmi_fwc_finish(c, LMM_FWC_P_DONE, LMM_OK, NULL), LMM_OK;
  if (c->via == LMM_VIA_UNICAST)
    lmmi_fwc_uni_next(c);
  else
    lmmi_fwc_config_start(c);
  return LMM_OK;
}

LMM_API void lmm_fwc_free(lmm_fwc *c) {
  if (!c) return;
  stop_all(c);
  if (c->cancel_timer) lmmi_timer_cancel(c->d.ctx, c->cancel_timer);
  lmmi_channel_free(&c->ch);
  lmmi_configure_free(&c->conf);
  lmmi_recorder_free(&c->rec);
  lmmi_member_index_free(&c->ix);
  free(c->conf_skip);
  if (c->members) lmm_members_free(c->members, c->n);
  if (c->m)
    for (size_t i = 0; i < c->n; i++)
      free(c->m[i].missing), free(c->m[i].need), free(c->m[i].error), free(c->m[i].pkg_version),
          free(c->m[i].gm_error);
  lmm_group_info_clear(&c->group);
  lmm_campaign_info_clear(&c->info);
  free(c->m), free(c->rep), free(c->image), free(c->parity), free(c->queue);
  free(c->error), free(c->expect_version), free(c->mcast_if);
  free(c);
}

LMM_API const lmm_fwc_member *lmm_fwc_members(const lmm_fwc *c, size_t *n) {
  *n = c->n;
  return c->rep;
}

LMM_API void lmm_fwc_get_stats(const lmm_fwc *c, lmm_fwc_stats *out) {
  *out = c->st;
  out->updated = out->failed = out->held = out->cancelled = out->refused = out->pending = 0;
  /* In lmm_fwc_end order; an unknown end counts as pending. */
  size_t *by_end[] = {&out->pending, &out->updated,   &out->failed,
                      &out->held,    &out->cancelled, &out->refused};
  for (size_t i = 0; i < c->n; i++) {
    int e = c->rep[i].end;
    (*by_end[e >= 0 && e < (int)(sizeof by_end / sizeof *by_end) ? e : 0])++;
  }
}

LMM_API bool lmm_fwc_t8_notified(lmm_fwc *c, const char *transaction, bool delivered) {
  if (!c || !transaction || !c->ch.delivery || strcmp(transaction, c->ch.delivery) != 0)
    return false;
  c->info.t8_status = delivered ? 1 : 0;
  return true;
}

LMM_API int64_t lmm_fwc_id(const lmm_fwc *c) {
  return c->id;
}

LMM_API const char *lmm_fwc_error(const lmm_fwc *c) {
  return c->error;
}

LMM_API lmm_err lmm_fwc_wait(lmm_fwc *c, long timeout_ms) {
  if (!c->started) return LMM_ERR_STATE;
  int64_t end = timeout_ms < 0 ? INT64_MAX : fw_now_ms(c) + timeout_ms;
  while (!c->finished) {
    int64_t left = end - fw_now_ms(c);
    if (left <= 0) return LMM_ERR_TIMEOUT;
    lmm_err rc = lmm_ctx_run_once(c->d.ctx, left > 100 ? 100 : (int)left);
    if (rc != LMM_OK) return rc;
  }
  return LMM_OK;
}
