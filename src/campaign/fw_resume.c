/* fw_resume.c - a firmware campaign continued from the store after its process stopped
 * (docs/protocol.md section 5.6): the settings and blob ID kept at its start (the campaign's
 * fw_config), each member as its last outcome left it, and a flow that asks the members what
 * they hold before it sends anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>

#include "campaign/fw_internal.h"
#include "lmm_wire/hex.h"

char *lmmi_fwc_config_json(const lmm_fwc *c, const lmm_fwc_config *cfg) {
  char id[2 * LMMW_BLOB_ID_LEN + 1], dg[65];
  lmmw_hex(c->desc.id, LMMW_BLOB_ID_LEN, id);
  lmmw_hex(c->desc.digest, 32, dg);
  cJSON *j = cJSON_CreateObject();
  bool ok =
      j && cJSON_AddStringToObject(j, "blob_id", id) && cJSON_AddStringToObject(j, "sha256", dg) &&
      cJSON_AddNumberToObject(j, "size", (double)c->len) &&
      cJSON_AddNumberToObject(j, "method", cfg->method) &&
      cJSON_AddNumberToObject(j, "fragment_size", cfg->fragment_size) &&
      cJSON_AddNumberToObject(j, "fec_stride", cfg->fec_stride) &&
      cJSON_AddStringToObject(j, "fec_code", cfg->fec_code == LMM_FEC_RS ? "rs" : "xor") &&
      cJSON_AddNumberToObject(j, "fec_block", cfg->fec_block) &&
      cJSON_AddNumberToObject(j, "fec_loss", cfg->fec_loss) &&
      cJSON_AddNumberToObject(j, "rate_bps", (double)cfg->rate_bps) &&
      cJSON_AddNumberToObject(j, "window_s", (double)(c->window_ms / 1000)) &&
      cJSON_AddNumberToObject(j, "grace_ms", (double)cfg->grace_ms) &&
      cJSON_AddNumberToObject(j, "max_rounds", cfg->max_rounds) &&
      cJSON_AddNumberToObject(j, "repair_multicast_min", cfg->repair_multicast_min) &&
      cJSON_AddNumberToObject(j, "wave_count", (double)cfg->wave_count) &&
      cJSON_AddNumberToObject(j, "wave_percent", cfg->wave_percent) &&
      cJSON_AddNumberToObject(j, "success_threshold", cfg->success_threshold) &&
      cJSON_AddNumberToObject(j, "error_threshold", cfg->error_threshold) &&
      cJSON_AddNumberToObject(j, "update_wait_ms", (double)cfg->update_wait_ms) &&
      cJSON_AddNumberToObject(j, "update_deadline_ms", (double)cfg->update_deadline_ms) &&
      cJSON_AddBoolToObject(j, "skip_group_mgmt", cfg->skip_group_mgmt) &&
      cJSON_AddNumberToObject(j, "protect", cfg->protect) &&
      (!cfg->mcast_if || cJSON_AddStringToObject(j, "mcast_if", cfg->mcast_if)) &&
      (!c->desc.version[0] || cJSON_AddStringToObject(j, "version", c->desc.version)) &&
      (!cfg->expect_version || cJSON_AddStringToObject(j, "expect_version", cfg->expect_version)) &&
      (!cfg->image_name || cJSON_AddStringToObject(j, "image", cfg->image_name));
  char *out = ok ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  return out;
}

/* ------------------------------------------------------------ reading it back */

static double num(const cJSON *j, const char *k, double dflt, bool *ok) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!v) return dflt;
  if (!cJSON_IsNumber(v)) *ok = false;
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *j, const char *k, bool *ok) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  if (v && !cJSON_IsString(v)) *ok = false;
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The stored settings into `cfg` (its strings point into `j`), the blob ID and digest. */
static bool config_read(const cJSON *j, lmm_fwc_config *cfg, uint8_t id[LMMW_BLOB_ID_LEN],
                        uint8_t digest[32], double *size) {
  bool ok = cJSON_IsObject(j);
  const char *idh = str(j, "blob_id", &ok), *dg = str(j, "sha256", &ok);
  ok = ok && idh && dg && strlen(idh) == 2 * LMMW_BLOB_ID_LEN && strlen(dg) == 64 &&
       lmmw_unhex(idh, strlen(idh), id, LMMW_BLOB_ID_LEN) && lmmw_unhex(dg, 64, digest, 32);
  *size = num(j, "size", -1, &ok);
  cfg->method = (lmm_fwc_method)num(j, "method", cfg->method, &ok);
  cfg->fragment_size = (uint32_t)num(j, "fragment_size", cfg->fragment_size, &ok);
  cfg->fec_stride = (uint32_t)num(j, "fec_stride", cfg->fec_stride, &ok);
  /* Stored before Reed-Solomon: XOR parity, as it started. */
  const char *code = str(j, "fec_code", &ok);
  if (code && strcmp(code, "rs") && strcmp(code, "xor")) ok = false;
  cfg->fec_code = code && !strcmp(code, "rs") ? LMM_FEC_RS : LMM_FEC_XOR;
  cfg->fec_block = (uint32_t)num(j, "fec_block", cfg->fec_block, &ok);
  cfg->fec_loss = num(j, "fec_loss", cfg->fec_loss, &ok);
  cfg->rate_bps = (uint64_t)num(j, "rate_bps", (double)cfg->rate_bps, &ok);
  cfg->window_s = (long)num(j, "window_s", (double)cfg->window_s, &ok);
  cfg->grace_ms = (long)num(j, "grace_ms", (double)cfg->grace_ms, &ok);
  cfg->max_rounds = (int)num(j, "max_rounds", cfg->max_rounds, &ok);
  cfg->repair_multicast_min =
      (unsigned)num(j, "repair_multicast_min", cfg->repair_multicast_min, &ok);
  cfg->wave_count = (size_t)num(j, "wave_count", (double)cfg->wave_count, &ok);
  cfg->wave_percent = num(j, "wave_percent", cfg->wave_percent, &ok);
  cfg->success_threshold = num(j, "success_threshold", cfg->success_threshold, &ok);
  cfg->error_threshold = num(j, "error_threshold", cfg->error_threshold, &ok);
  cfg->update_wait_ms = (long)num(j, "update_wait_ms", (double)cfg->update_wait_ms, &ok);
  cfg->update_deadline_ms =
      (long)num(j, "update_deadline_ms", (double)cfg->update_deadline_ms, &ok);
  const cJSON *skip = cJSON_GetObjectItemCaseSensitive(j, "skip_group_mgmt");
  if (skip && !cJSON_IsBool(skip)) ok = false;
  cfg->skip_group_mgmt = cJSON_IsTrue(skip);
  double prot = num(j, "protect", LMM_PROTECT_AUTO, &ok);
  if (prot != LMM_PROTECT_AUTO && prot != LMM_PROTECT_ON && prot != LMM_PROTECT_OFF) ok = false;
  cfg->protect = ok ? (lmm_protect)prot : LMM_PROTECT_AUTO;
  cfg->mcast_if = str(j, "mcast_if", &ok);
  cfg->version = str(j, "version", &ok);
  cfg->expect_version = str(j, "expect_version", &ok);
  return ok && *size > 0;
}

LMM_API char *lmm_fwc_image_name(const lmm_campaign_info *info) {
  if (!info || info->kind != LMM_CK_FIRMWARE || !info->fw_config) return NULL;
  cJSON *j = cJSON_Parse(info->fw_config);
  bool ok = true;
  const char *name = str(j, "image", &ok);
  char *out = name ? strdup(name) : NULL;
  cJSON_Delete(j);
  return out;
}

LMM_API bool lmm_fwc_resume_needs_blobs(const lmm_campaign_info *info) {
  if (!info || info->kind != LMM_CK_FIRMWARE || info->via != LMM_VIA_UNICAST || !info->fw_config)
    return false;
  cJSON *j = cJSON_Parse(info->fw_config);
  bool ok = true;
  double m = num(j, "method", LMM_FWC_PUSH, &ok);
  cJSON_Delete(j);
  return ok && (m == LMM_FWC_PULL || m == LMM_FWC_AUTO);
}

/* The figures of the runs before, from the campaign's summary, so the report adds up. */
static void figures_read(lmm_fwc *c, const char *summary) {
  cJSON *j = summary ? cJSON_Parse(summary) : NULL;
  bool ok = true;
  c->st.bytes_group = (uint64_t)num(j, "bytes_group", 0, &ok);
  c->st.bytes_unicast = (uint64_t)num(j, "bytes_unicast", 0, &ok);
  c->st.fragments_sent = (uint64_t)num(j, "fragments_sent", 0, &ok);
  c->st.rounds = c->round_base = (uint32_t)num(j, "rounds", 0, &ok);
  c->st.multicast_repairs = (uint32_t)num(j, "multicast_repairs", 0, &ok);
  c->st.unicast_repairs = (uint32_t)num(j, "unicast_repairs", 0, &ok);
  c->st.repair_rounds = (uint32_t)num(j, "repair_rounds", 0, &ok);
  /* Rows sent before the stop are not sent again: the repair goes on from the next one. */
  double row = num(j, "fec_next_row", c->next_row, &ok);
  if (c->nb && row >= c->next_row && row <= c->desc.stride)
    c->next_row = c->st.fec_rows = (uint32_t)row;
  cJSON_Delete(j);
}

/* Member i as its stored outcome left it. */
static lmm_err member_restore(lmm_fwc *c, size_t i, const lmm_outcome *o) {
  lmm_fwc_member *r = &c->rep[i];
  fwm *m = &c->m[i];
  r->end = (lmm_fwc_end)o->fw_end;
  r->err = o->err;
  if (o->via != LMM_VIA_NONE) r->via = o->via;
  r->state = o->fw_state, r->update_result = o->fw_result;
  r->wave = m->wave = o->fw_wave;
  r->pulled = o->fw_pulled;
  r->bytes_unicast = o->fw_bytes_unicast;
  r->missed_first = o->fw_missed;
  r->fragments_repaired = o->fw_repaired;
  r->elapsed_ms = o->latency_ms;
  r->gm_step = o->gm_step, r->gm_code = o->gm_code;
  r->update_asked = o->fw_exec;
  if ((o->error && !(m->error = strdup(o->error))) ||
      (o->gm_error && !(m->gm_error = strdup(o->gm_error))) ||
      (o->fw_pkg_version && !(m->pkg_version = strdup(o->fw_pkg_version))))
    return LMM_ERR_NOMEM;
  r->error = m->error, r->gm_error = m->gm_error, r->pkg_version = m->pkg_version;
  if (r->end == LMM_FWC_PENDING && o->fw_exec) {
    /* Asked before the stop: it is never asked again unless its status shows the Execute
     * did not run. */
    m->executing = m->exec_unsure = true;
    m->deadline = fw_now_ms(c) + c->cfg.update_deadline_ms;
  }
  return LMM_OK;
}

/* The stored members, with the addresses the group has now; one gone from it is failed. */
static lmm_member *members_of(const lmm_outcome *o, size_t n, const lmm_member *all, size_t nall) {
  lmm_member *m = calloc(n ? n : 1, sizeof *m);
  for (size_t i = 0; m && i < n; i++) {
    size_t k = 0;
    while (k < nall && (strcmp(all[k].ep, o[i].ep) || all[k].oid != o[i].oid))
      k++;
    lmm_err rc = LMM_OK;
    if (k < nall)
      rc = lmm_member_copy(&m[i], &all[k]);
    else if (!(m[i].ep = strdup(o[i].ep)))
      rc = LMM_ERR_NOMEM;
    m[i].oid = o[i].oid;
    if (rc != LMM_OK) lmm_members_free(m, n), m = NULL;
  }
  return m;
}

static lmm_err resume_build(const lmm_fwc_deps *deps, lmm_campaign_info *info,
                            const lmm_group_info *group, const lmm_outcome *o, size_t n,
                            const lmm_member *all, size_t nall, const uint8_t *image, size_t len,
                            const lmm_fwc_handlers *h, void *user, lmm_fwc **out) {
  cJSON *j = cJSON_Parse(info->fw_config);
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  uint8_t id[LMMW_BLOB_ID_LEN], want[32], got[32];
  double size;
  if (!config_read(j, &cfg, id, want, &size)) {
    lmmi_log(deps->ctx, LMM_LOG_ERROR, "firmware campaign %lld: its stored settings are unreadable",
             (long long)info->id);
    cJSON_Delete(j);
    return LMM_ERR_PROTO;
  }
  mbedtls_sha256_ret(image, len, got, 0);
  if ((double)len != size || memcmp(got, want, sizeof got) != 0) {
    lmmi_log(deps->ctx, LMM_LOG_ERROR,
             "firmware campaign %lld: the image given is not the one it started with "
             "(%zu bytes; SHA-256 differs or the size is not %.0f)",
             (long long)info->id, len, size);
    cJSON_Delete(j);
    return LMM_ERR_ARG;
  }
  lmm_member *m = members_of(o, n, all, nall);
  lmm_err rc = m ? LMM_OK : LMM_ERR_NOMEM;
  lmm_fwc *c = NULL;
  if (rc == LMM_OK) {
    cfg.group = group, cfg.members = m, cfg.n_members = n, cfg.image = image, cfg.len = len;
    cfg.via = info->via;
    rc = lmmi_fwc_build(deps, &cfg, h, user, &c);
  }
  cJSON_Delete(j);
  lmm_members_free(m, n);
  if (rc != LMM_OK) return rc;
  memcpy(c->desc.id, id, sizeof id); /* the blob the members hold parts of */
  lmmi_fwc_queries(c);
  c->resumed = true;
  c->id = info->id;
  c->info = *info, *info = (lmm_campaign_info){0};
  free(c->info.error), c->info.error = NULL;
  figures_read(c, c->info.fw_summary);
  bool rest_asked = false;
  for (size_t i = 0; rc == LMM_OK && i < n; i++) {
    rc = member_restore(c, i, &o[i]);
    rest_asked |= o[i].fw_exec && !o[i].fw_wave;
  }
  /* The group's update follows the first wave's verdict: if it was asked, the verdict was
   * to go on. */
  c->wave_done = rest_asked;
  if (rc == LMM_OK) rc = lmmi_fwc_recorder_init(c);
  for (size_t i = 0; rc == LMM_OK && i < n; i++)
    if (!c->members[i].uri) /* gone from the group since: nothing can reach it */
      lmmi_fwc_end_member(c, i, LMM_FWC_FAILED, LMM_ERR_NOTFOUND,
                          "no longer a member of the group");
  if (rc != LMM_OK) {
    lmm_fwc_free(c);
    return rc;
  }
  *out = c;
  return LMM_OK;
}

LMM_API lmm_err lmm_fwc_resume(const lmm_fwc_deps *deps, int64_t id, const uint8_t *image,
                               size_t len, const lmm_fwc_handlers *h, void *user, lmm_fwc **out) {
  if (!deps || !deps->ctx || !deps->store || !deps->unicast || !image || !len || !out)
    return LMM_ERR_ARG;
  lmm_campaign_info info = {0};
  lmm_group_info group = {0};
  lmm_outcome *o = NULL;
  lmm_member *all = NULL;
  size_t n = 0, nall = 0;
  lmm_err rc = lmm_store_campaign_get(deps->store, id, &info);
  if (rc == LMM_OK && (info.kind != LMM_CK_FIRMWARE || info.state == LMM_CS_DONE ||
                       info.state == LMM_CS_FAILED || !info.fw_config)) {
    lmmi_log(deps->ctx, LMM_LOG_ERROR, "campaign %lld cannot be resumed as a firmware campaign: %s",
             (long long)id,
             info.kind != LMM_CK_FIRMWARE ? "it is an operation campaign"
             : !info.fw_config            ? "it was stored without its settings (an older version)"
                                          : "it has ended");
    rc = LMM_ERR_STATE;
  }
  if (rc == LMM_OK) rc = lmm_store_group_get(deps->store, info.group, &group);
  if (rc == LMM_OK) rc = lmm_store_outcomes_get(deps->store, id, &o, &n);
  if (rc == LMM_OK) rc = lmm_store_members_get(deps->store, info.group, &all, &nall);
  if (rc == LMM_OK)
    rc = resume_build(deps, &info, &group, o, n, all, nall, image, len, h, user, out);
  lmm_campaign_info_clear(&info);
  lmm_group_info_clear(&group);
  lmm_outcome_list_free(o, n);
  lmm_members_free(all, nall);
  return rc;
}
