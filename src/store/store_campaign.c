/* store_campaign.c - campaigns and their per-member outcomes in the SQLite state store. */
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/fw_campaign.h"
#include "store/store_internal.h"

/* ------------------------------------------------------------ campaigns */

#define CAMPAIGN_COLS                                                                              \
  "id, group_name, state, via, op_kind, op_path, op_format, op_payload, op_query, window_s, "      \
  "repair, token_hex, tmgi, t8_transaction, t8_status, created_ms, started_ms, delivered_ms, "     \
  "finished_ms, error, kind, fw_summary, cancel_requested, op_accept, tmgi_end, fw_config, "       \
  "protect"

static const char SQL_CAMPAIGN_INSERT[] =
    "INSERT INTO campaigns(group_name, state, via, op_kind, op_path, op_format, op_payload, "
    "op_query, window_s, repair, token_hex, tmgi, t8_transaction, t8_status, created_ms, "
    "started_ms, delivered_ms, finished_ms, error, kind, fw_summary, op_accept, tmgi_end, "
    "fw_config, protect) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
    "?16, ?17, ?18, ?19, ?20, ?21, ?23, ?24, ?25, ?26)";
/* The parameter numbers of the insert, so campaign_bind_mutable() serves both; ?22 the id. */
static const char SQL_CAMPAIGN_UPDATE[] =
    "UPDATE campaigns SET state = ?2, token_hex = ?11, tmgi = ?12, t8_transaction = ?13, "
    "t8_status = ?14, started_ms = ?16, delivered_ms = ?17, finished_ms = ?18, error = ?19, "
    "fw_summary = ?21, tmgi_end = ?24 WHERE id = ?22";
static const char SQL_CAMPAIGN_GET[] = "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE id = ?1";
static const char SQL_CAMPAIGN_LIST_ALL[] =
    "SELECT " CAMPAIGN_COLS " FROM campaigns ORDER BY id DESC";
static const char SQL_CAMPAIGN_LIST_GROUP[] =
    "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE group_name = ?1 ORDER BY id DESC";
/* One statement, so no window between the state test and the write: a campaign finishing at
 * that moment is either still running (and will see the flag) or refused. */
static const char SQL_CAMPAIGN_CANCEL[] =
    "UPDATE campaigns SET cancel_requested = 1 WHERE id = ?1 AND state NOT IN (?2, ?3)";
static const char SQL_CAMPAIGN_CANCEL_GET[] =
    "SELECT cancel_requested FROM campaigns WHERE id = ?1";
/* The other columns start as a pending outcome: via NONE, not done, content format -1. */
static const char SQL_OUTCOME_INSERT[] =
    "INSERT INTO outcomes(campaign, position, ep, oid) VALUES(?1, ?2, ?3, ?4)";
/* An UPDATE, not an upsert: an outcome for someone who is not a member of the campaign is
 * the caller's mistake, and refusing it keeps a report's member list the one it started
 * with. The (campaign, ep, oid) primary key finds the row. */
static const char SQL_OUTCOME_UPDATE[] =
    "UPDATE outcomes SET via = ?4, gm_written = ?5, done = ?6, repaired = ?7, coap_code = ?8, "
    "err = ?9, payload = ?10, content_format = ?11, attempts = ?12, latency_ms = ?13, "
    "error = ?14, fw_end = ?15, fw_state = ?16, fw_result = ?17, fw_wave = ?18, "
    "fw_pulled = ?19, fw_bytes_unicast = ?20, fw_missed = ?21, fw_repaired = ?22, "
    "gm_step = ?23, gm_code = ?24, gm_error = ?25, group_step = ?26, group_code = ?27, "
    "unicast_step = ?28, unicast_code = ?29, unicast_error = ?30, fw_pkg_version = ?31, "
    "fw_exec = ?32 "
    "WHERE campaign = ?1 AND ep = ?2 AND oid = ?3";
static const char SQL_OUTCOME_LIST[] =
    "SELECT ep, oid, via, gm_written, done, repaired, coap_code, err, payload, content_format, "
    "attempts, latency_ms, error, fw_end, fw_state, fw_result, fw_wave, fw_pulled, "
    "fw_bytes_unicast, fw_missed, fw_repaired, gm_step, gm_code, gm_error, group_step, "
    "group_code, unicast_step, unicast_code, unicast_error, fw_pkg_version, fw_exec FROM outcomes "
    "WHERE campaign = ?1 ORDER BY position";

/* The rules of lmm_outcome_refused() and a success, in SQL: a firmware end decides when there
 * is one, else the answer. ?2 updated, ?3 refused (lmm_fwc_end), ?4 and ?5 the refusal codes,
 * ?6..?8 the paths. Counts are coalesce(sum(CASE WHEN ... THEN 1 ELSE 0 END), 0), integers
 * tested with <> 0: SQL both engines accept (docs/store.md, "Dialect"). "Final" is done <> 0
 * OR fw_end <> 0. */
static const char SQL_OUTCOME_COUNTS[] =
    "SELECT count(*),"
    " coalesce(sum(CASE WHEN done <> 0 OR fw_end <> 0 THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN (fw_end <> 0 AND fw_end = ?2) OR (fw_end = 0 AND done <> 0 AND"
    " err = 0 AND coap_code >> 5 = 2) THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN (fw_end <> 0 AND fw_end = ?3) OR (fw_end = 0 AND done <> 0 AND"
    " err = 0 AND coap_code IN (?4, ?5)) THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN (done <> 0 OR fw_end <> 0) AND via = ?6 THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN (done <> 0 OR fw_end <> 0) AND via = ?7 THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN (done <> 0 OR fw_end <> 0) AND via = ?8 THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN repaired <> 0 THEN 1 ELSE 0 END), 0) "
    "FROM outcomes WHERE campaign = ?1";

static lmm_err campaign_read(lmm_store *s, lmmi_db_stmt *st, void *out) {
  lmm_campaign_info c = {0};
  c.id = lmmi_db_column_int64(st, 0);
  c.state = lmmi_db_column_int(st, 2);
  c.via = lmmi_db_column_int(st, 3);
  c.op_kind = lmmi_db_column_int(st, 4);
  c.op_format = (uint16_t)lmmi_db_column_int(st, 6);
  c.window_s = lmmi_db_column_int64(st, 9);
  c.repair = lmmi_db_column_int(st, 10) != 0;
  c.t8_status = lmmi_db_column_int(st, 14);
  c.created_ms = lmmi_db_column_int64(st, 15);
  c.started_ms = lmmi_db_column_int64(st, 16);
  c.delivered_ms = lmmi_db_column_int64(st, 17);
  c.finished_ms = lmmi_db_column_int64(st, 18);
  c.kind = lmmi_db_column_int(st, 20);
  c.cancel_requested = lmmi_db_column_int(st, 22) != 0;
  c.op_accept = (uint16_t)lmmi_db_column_int(st, 23);
  c.tmgi_end = lmmi_db_column_int(st, 24);
  c.protect = lmmi_db_column_int(st, 26);
  if (!lmmi_col_text(st, 25, &c.fw_config) || !lmmi_col_text(st, 1, &c.group) ||
      !lmmi_col_text(st, 5, &c.op_path) || !lmmi_col_blob(st, 7, &c.op_payload, &c.op_len) ||
      !lmmi_col_text(st, 8, &c.op_query) || !lmmi_col_text(st, 11, &c.token_hex) ||
      !lmmi_col_text(st, 12, &c.tmgi) || !lmmi_col_text(st, 13, &c.t8_transaction) ||
      !lmmi_col_text(st, 19, &c.error) || !lmmi_col_text(st, 21, &c.fw_summary)) {
    lmm_campaign_info_clear(&c);
    return lmmi_store_say(s, LMM_ERR_NOMEM, "campaign: out of memory");
  }
  *(lmm_campaign_info *)out = c;
  return LMM_OK;
}

/* Steps the statement of `slot` (one row by id, ?1) to campaign `id`'s row: LMM_OK with *out
 * on the row (the caller reads, then resets it), else LMM_ERR_NOTFOUND (message set) or an
 * error, the statement reset. */
static lmm_err campaign_find(lmm_store *s, lmmi_sql slot, const char *sql, int64_t id,
                             const char *what, lmmi_db_stmt **out) {
  /* Set on every path: callers read *out only on LMM_OK, but an optimiser that inlines this
   * cannot always see that, and -Wmaybe-uninitialized must stay quiet at -O3. */
  *out = NULL;
  lmmi_db_stmt *st = lmmi_store_stmt(s, slot, sql);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_db_bind_int64(st, 1, id);
  if (src == LMMI_DB_OK) src = lmmi_db_step(st);
  if (src == LMMI_DB_ROW) {
    *out = st;
    return LMM_OK;
  }
  lmm_err rc = src == LMMI_DB_DONE
                   ? lmmi_store_say(s, LMM_ERR_NOTFOUND, "no campaign %lld", (long long)id)
                   : lmmi_store_fail(s, src, what);
  lmmi_db_reset(st);
  return rc;
}

/* Whether campaign `id` exists: LMM_OK, LMM_ERR_NOTFOUND (message set) or an error. */
static lmm_err campaign_exists(lmm_store *s, int64_t id) {
  lmmi_db_stmt *st;
  lmm_err rc = campaign_find(s, LMMI_SQL_CAMPAIGN_CANCEL_GET, SQL_CAMPAIGN_CANCEL_GET, id,
                             "campaign lookup", &st);
  if (rc == LMM_OK) lmmi_db_reset(st);
  return rc;
}

static lmm_err campaign_numbered(lmm_store *s, const void *id) {
  return campaign_exists(s, *(const int64_t *)id);
}

/* Binds the columns a campaign update changes, at the insert's parameter numbers. */
static int campaign_bind_mutable(lmmi_db_stmt *st, const lmm_campaign_info *c) {
  return lmmi_db_bind_int(st, 2, c->state) | lmmi_bind_text(st, 11, c->token_hex) |
         lmmi_bind_text(st, 12, c->tmgi) | lmmi_bind_text(st, 13, c->t8_transaction) |
         lmmi_db_bind_int(st, 14, c->t8_status) | lmmi_db_bind_int64(st, 16, c->started_ms) |
         lmmi_db_bind_int64(st, 17, c->delivered_ms) | lmmi_db_bind_int64(st, 18, c->finished_ms) |
         lmmi_bind_text(st, 19, c->error) | lmmi_bind_text(st, 21, c->fw_summary) |
         lmmi_db_bind_int(st, 24, c->tmgi_end);
}

static lmm_err campaign_check(lmm_store *s, const lmm_campaign_info *c, const lmm_member *m,
                              size_t n) {
  if (!c || !c->group || !*c->group)
    return lmmi_store_say(s, LMM_ERR_ARG, "a campaign needs a group name");
  if (c->kind != LMM_CK_OPERATION && c->kind != LMM_CK_FIRMWARE)
    return lmmi_store_say(s, LMM_ERR_ARG, "bad campaign kind %d", c->kind);
  if (c->protect < LMM_PROTECT_AUTO || c->protect > LMM_PROTECT_OFF)
    return lmmi_store_say(s, LMM_ERR_ARG, "bad protection policy %d", c->protect);
  if (c->op_len && !c->op_payload)
    return lmmi_store_say(s, LMM_ERR_ARG, "payload length without payload");
  if (n && !m) return lmmi_store_say(s, LMM_ERR_ARG, "no members given");
  for (size_t i = 0; i < n; i++)
    if (!m[i].ep || !*m[i].ep)
      return lmmi_store_say(s, LMM_ERR_ARG, "member %zu has no endpoint name", i + 1);
  return LMM_OK;
}

/* Inserts the pending outcome rows of `id`, inside the caller's transaction. */
static lmm_err outcomes_insert(lmm_store *s, int64_t id, const lmm_member *m, size_t n) {
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_OUTCOME_INSERT, SQL_OUTCOME_INSERT);
  if (!st) return LMM_ERR_DB;
  lmm_err rc = LMM_OK;
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    lmmi_db_reset(st);
    int src = lmmi_db_bind_int64(st, 1, id) | lmmi_db_bind_int64(st, 2, (int64_t)i) |
              lmmi_bind_text(st, 3, m[i].ep) | lmmi_db_bind_int(st, 4, m[i].oid);
    if (src == LMMI_DB_OK) src = lmmi_db_step(st);
    if (src == LMMI_DB_CONSTRAINT_PRIMARYKEY || src == LMMI_DB_CONSTRAINT_UNIQUE)
      rc = lmmi_store_say(s, LMM_ERR_ARG, "member ep=%s/%u is listed twice", m[i].ep, m[i].oid);
    else if (src != LMMI_DB_DONE)
      rc = lmmi_store_fail(s, src, "campaign create");
  }
  lmmi_db_reset(st);
  return rc;
}

LMM_API lmm_err lmm_store_campaign_create(lmm_store *s, lmm_campaign_info *c, const lmm_member *m,
                                          size_t n) {
  lmm_err rc = lmmi_store_check(s, true, "campaign create");
  if (rc == LMM_OK) rc = campaign_check(s, c, m, n);
  if (rc != LMM_OK) return rc;
  int64_t created = c->created_ms ? c->created_ms : lmm_ctx_wall_ms(s->ctx);
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) goto out;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_CAMPAIGN_INSERT, SQL_CAMPAIGN_INSERT);
  rc = LMM_ERR_DB;
  if (!st) goto out;
  int src = campaign_bind_mutable(st, c) | lmmi_bind_text(st, 1, c->group) |
            lmmi_db_bind_int(st, 3, c->via) | lmmi_db_bind_int(st, 4, c->op_kind) |
            lmmi_bind_text(st, 5, c->op_path) | lmmi_db_bind_int(st, 6, c->op_format) |
            lmmi_bind_blob(st, 7, c->op_payload, c->op_len) | lmmi_bind_text(st, 8, c->op_query) |
            lmmi_db_bind_int64(st, 9, c->window_s) | lmmi_db_bind_int(st, 10, c->repair) |
            lmmi_db_bind_int64(st, 15, created) | lmmi_db_bind_int(st, 20, c->kind) |
            lmmi_db_bind_int(st, 23, c->op_accept) | lmmi_bind_text(st, 25, c->fw_config) |
            lmmi_db_bind_int(st, 26, c->protect);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "campaign create");
    goto out;
  }
  if ((rc = lmmi_store_exec_stmt(s, st, "campaign create")) != LMM_OK) goto out;
  int64_t id = lmmi_db_last_insert_id(s->db);
  if ((rc = outcomes_insert(s, id, m, n)) != LMM_OK || (rc = lmmi_store_commit(s)) != LMM_OK)
    goto out;
  c->id = id, c->created_ms = created; /* only once the row is there for good */
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

LMM_API lmm_err lmm_store_campaign_update(lmm_store *s, const lmm_campaign_info *c) {
  lmm_err rc = lmmi_store_check(s, c, "campaign update");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_CAMPAIGN_UPDATE, SQL_CAMPAIGN_UPDATE);
  if (!st) return LMM_ERR_DB;
  int src = campaign_bind_mutable(st, c) | lmmi_db_bind_int64(st, 22, c->id);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "campaign update");
    lmmi_db_reset(st);
    return rc;
  }
  rc = lmmi_store_exec_stmt(s, st, "campaign update");
  if (rc == LMM_OK && lmmi_db_changes(s->db) == 0)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no campaign %lld", (long long)c->id);
  return rc;
}

LMM_API lmm_err lmm_store_campaign_get(lmm_store *s, int64_t id, lmm_campaign_info *out) {
  lmm_err rc = lmmi_store_check(s, out != NULL, "campaign get");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st;
  rc = campaign_find(s, LMMI_SQL_CAMPAIGN_GET, SQL_CAMPAIGN_GET, id, "campaign get", &st);
  if (rc != LMM_OK) return rc;
  rc = campaign_read(s, st, out);
  lmmi_db_reset(st);
  return rc;
}

LMM_API lmm_err lmm_store_campaign_list(lmm_store *s, const char *group, lmm_campaign_info **out,
                                        size_t *n) {
  lmm_err rc = lmmi_store_check(s, out && n, "campaign list");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = group
                         ? lmmi_store_stmt(s, LMMI_SQL_CAMPAIGN_LIST_GROUP, SQL_CAMPAIGN_LIST_GROUP)
                         : lmmi_store_stmt(s, LMMI_SQL_CAMPAIGN_LIST_ALL, SQL_CAMPAIGN_LIST_ALL);
  if (!st) return LMM_ERR_DB;
  lmm_campaign_info *v = NULL;
  size_t nv = 0;
  int src = group ? lmmi_bind_text(st, 1, group) : LMMI_DB_OK;
  rc = src != LMMI_DB_OK
           ? lmmi_store_fail(s, src, "campaign list")
           : lmmi_store_rows(s, st, sizeof *v, campaign_read, (void **)&v, &nv, "campaign list");
  lmmi_db_reset(st);
  if (rc != LMM_OK) {
    lmm_campaign_info_list_free(v, nv);
    return rc;
  }
  *out = v, *n = nv;
  return LMM_OK;
}

LMM_API lmm_err lmm_store_campaign_request_cancel(lmm_store *s, int64_t id) {
  lmm_err rc = lmmi_store_check(s, true, "campaign cancel");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_CAMPAIGN_CANCEL, SQL_CAMPAIGN_CANCEL);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_db_bind_int64(st, 1, id) | lmmi_db_bind_int(st, 2, LMM_CS_DONE) |
            lmmi_db_bind_int(st, 3, LMM_CS_FAILED);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "campaign cancel");
    lmmi_db_reset(st);
    return rc;
  }
  rc = lmmi_store_exec_stmt(s, st, "campaign cancel");
  if (rc != LMM_OK || lmmi_db_changes(s->db) > 0) return rc;
  /* Nothing changed: no such campaign, or a finished one (which stays finished). */
  if ((rc = campaign_exists(s, id)) != LMM_OK) return rc;
  return lmmi_store_say(s, LMM_ERR_STATE, "campaign %lld has finished", (long long)id);
}

LMM_API lmm_err lmm_store_campaign_cancel_requested(lmm_store *s, int64_t id, bool *out) {
  lmm_err rc = lmmi_store_check(s, out != NULL, "campaign cancel check");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st;
  rc = campaign_find(s, LMMI_SQL_CAMPAIGN_CANCEL_GET, SQL_CAMPAIGN_CANCEL_GET, id,
                     "campaign cancel check", &st);
  if (rc != LMM_OK) return rc;
  *out = lmmi_db_column_int(st, 0) != 0;
  lmmi_db_reset(st);
  return LMM_OK;
}

/* ------------------------------------------------------------ outcomes */

LMM_API lmm_err lmm_store_outcomes_put(lmm_store *s, int64_t id, const lmm_outcome *o, size_t n) {
  lmm_err rc = lmmi_store_check(s, true, "outcomes put");
  if (rc != LMM_OK) return rc;
  if (n && !o) return lmmi_store_say(s, LMM_ERR_ARG, "no outcomes given");
  for (size_t i = 0; i < n; i++)
    if (!o[i].ep || (o[i].payload_len && !o[i].payload))
      return lmmi_store_say(s, LMM_ERR_ARG, "outcome %zu: no endpoint name or no payload", i + 1);
  /* One prepared statement stepped n times inside one BEGIN IMMEDIATE .. COMMIT: the cost
   * per row is a b-tree lookup and an in-memory page change; the disk sees one append to the
   * -wal at COMMIT (10,000 rows: a few milliseconds, not 10,000 commits). */
  rc = lmmi_store_begin(s, true);
  if (rc != LMM_OK || (rc = campaign_exists(s, id)) != LMM_OK) goto out;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_OUTCOME_UPDATE, SQL_OUTCOME_UPDATE);
  rc = LMM_ERR_DB;
  if (!st) goto out;
  rc = LMM_OK;
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    const lmm_outcome *x = &o[i];
    lmmi_db_reset(st);
    int src = lmmi_db_bind_int64(st, 1, id) | lmmi_bind_text(st, 2, x->ep) |
              lmmi_db_bind_int(st, 3, x->oid) | lmmi_db_bind_int(st, 4, x->via) |
              lmmi_db_bind_int(st, 5, x->gm_written) | lmmi_db_bind_int(st, 6, x->done) |
              lmmi_db_bind_int(st, 7, x->repaired) | lmmi_db_bind_int(st, 8, x->coap_code) |
              lmmi_db_bind_int(st, 9, x->err) | lmmi_bind_blob(st, 10, x->payload, x->payload_len) |
              lmmi_db_bind_int(st, 11, x->content_format) | lmmi_db_bind_int(st, 12, x->attempts) |
              lmmi_db_bind_int64(st, 13, x->latency_ms) | lmmi_bind_text(st, 14, x->error) |
              lmmi_db_bind_int(st, 15, x->fw_end) | lmmi_db_bind_int(st, 16, x->fw_state) |
              lmmi_db_bind_int(st, 17, x->fw_result) | lmmi_db_bind_int(st, 18, x->fw_wave) |
              lmmi_db_bind_int(st, 19, x->fw_pulled) |
              lmmi_db_bind_int64(st, 20, (int64_t)x->fw_bytes_unicast) |
              lmmi_db_bind_int64(st, 21, x->fw_missed) |
              lmmi_db_bind_int64(st, 22, x->fw_repaired) | lmmi_db_bind_int(st, 23, x->gm_step) |
              lmmi_db_bind_int(st, 24, x->gm_code) | lmmi_bind_text(st, 25, x->gm_error) |
              lmmi_db_bind_int(st, 26, x->group_step) | lmmi_db_bind_int(st, 27, x->group_code) |
              lmmi_db_bind_int(st, 28, x->unicast_step) |
              lmmi_db_bind_int(st, 29, x->unicast_code) | lmmi_bind_text(st, 30, x->unicast_error) |
              lmmi_bind_text(st, 31, x->fw_pkg_version) | lmmi_db_bind_int(st, 32, x->fw_exec);
    if (src == LMMI_DB_OK) src = lmmi_db_step(st);
    if (src != LMMI_DB_DONE)
      rc = lmmi_store_fail(s, src, "outcomes put");
    else if (lmmi_db_changes(s->db) == 0)
      rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "ep=%s/%u is not a member of campaign %lld", x->ep,
                          x->oid, (long long)id);
  }
  lmmi_db_reset(st);
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

static lmm_err outcome_read(lmm_store *s, lmmi_db_stmt *st, void *out) {
  lmm_outcome o = {0};
  o.oid = (uint16_t)lmmi_db_column_int(st, 1);
  o.via = lmmi_db_column_int(st, 2);
  o.gm_written = lmmi_db_column_int(st, 3) != 0;
  o.done = lmmi_db_column_int(st, 4) != 0;
  o.repaired = lmmi_db_column_int(st, 5) != 0;
  o.coap_code = (uint8_t)lmmi_db_column_int(st, 6);
  o.err = lmmi_db_column_int(st, 7);
  o.content_format = lmmi_db_column_int(st, 9);
  o.attempts = lmmi_db_column_int(st, 10);
  o.latency_ms = lmmi_db_column_int64(st, 11);
  o.fw_end = lmmi_db_column_int(st, 13);
  o.fw_state = lmmi_db_column_int(st, 14);
  o.fw_result = lmmi_db_column_int(st, 15);
  o.fw_wave = lmmi_db_column_int(st, 16) != 0;
  o.fw_pulled = lmmi_db_column_int(st, 17) != 0;
  o.fw_bytes_unicast = (uint64_t)lmmi_db_column_int64(st, 18);
  o.fw_missed = (uint32_t)lmmi_db_column_int64(st, 19);
  o.fw_repaired = (uint32_t)lmmi_db_column_int64(st, 20);
  o.gm_step = lmmi_db_column_int(st, 21);
  o.gm_code = (uint8_t)lmmi_db_column_int(st, 22);
  o.group_step = lmmi_db_column_int(st, 24);
  o.group_code = (uint8_t)lmmi_db_column_int(st, 25);
  o.unicast_step = lmmi_db_column_int(st, 26);
  o.unicast_code = (uint8_t)lmmi_db_column_int(st, 27);
  o.fw_exec = lmmi_db_column_int(st, 30) != 0;
  if (!lmmi_col_text(st, 0, &o.ep) || !lmmi_col_blob(st, 8, &o.payload, &o.payload_len) ||
      !lmmi_col_text(st, 12, &o.error) || !lmmi_col_text(st, 23, &o.gm_error) ||
      !lmmi_col_text(st, 28, &o.unicast_error) || !lmmi_col_text(st, 29, &o.fw_pkg_version)) {
    lmm_outcome_clear(&o);
    return lmmi_store_say(s, LMM_ERR_NOMEM, "outcome: out of memory");
  }
  *(lmm_outcome *)out = o;
  return LMM_OK;
}

LMM_API lmm_err lmm_store_outcomes_get(lmm_store *s, int64_t id, lmm_outcome **out, size_t *n) {
  lmm_err rc = lmmi_store_check(s, out && n, "outcomes get");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_OUTCOME_LIST, SQL_OUTCOME_LIST);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_db_bind_int64(st, 1, id);
  if (src != LMMI_DB_OK) return lmmi_store_fail(s, src, "outcomes get");
  lmm_outcome *v;
  size_t nv;
  rc = lmmi_store_rows_of(s, campaign_numbered, &id, st, sizeof *v, outcome_read, (void **)&v, &nv,
                          "outcomes get");
  if (rc != LMM_OK) {
    lmm_outcome_list_free(v, nv);
    return rc;
  }
  *out = v, *n = nv;
  return LMM_OK;
}

LMM_API lmm_err lmm_store_outcome_counts(lmm_store *s, int64_t id, lmm_outcome_counts *out) {
  lmm_err rc = lmmi_store_check(s, out != NULL, "outcome counts");
  if (rc != LMM_OK) return rc;
  /* One snapshot: the campaign is there, and the counts are of one moment of its rows. */
  if ((rc = lmmi_store_begin(s, false)) != LMM_OK) return rc;
  if ((rc = campaign_exists(s, id)) != LMM_OK) goto out;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_OUTCOME_COUNTS, SQL_OUTCOME_COUNTS);
  rc = LMM_ERR_DB;
  if (!st) goto out;
  int src = lmmi_db_bind_int64(st, 1, id) | lmmi_db_bind_int(st, 2, LMM_FWC_UPDATED) |
            lmmi_db_bind_int(st, 3, LMM_FWC_REFUSED) | lmmi_db_bind_int(st, 4, 4 << 5 | 1) |
            lmmi_db_bind_int(st, 5, 4 << 5 | 3) | lmmi_db_bind_int(st, 6, LMM_VIA_MBMS) |
            lmmi_db_bind_int(st, 7, LMM_VIA_MULTICAST) | lmmi_db_bind_int(st, 8, LMM_VIA_UNICAST);
  if (src == LMMI_DB_OK) src = lmmi_db_step(st);
  if (src != LMMI_DB_ROW) {
    rc = lmmi_store_fail(s, src, "outcome counts");
  } else {
    lmm_outcome_counts c = {0};
    c.members = (size_t)lmmi_db_column_int64(st, 0);
    c.done = (size_t)lmmi_db_column_int64(st, 1);
    c.succeeded = (size_t)lmmi_db_column_int64(st, 2);
    c.refused = (size_t)lmmi_db_column_int64(st, 3);
    for (int v = LMM_VIA_MBMS; v <= LMM_VIA_UNICAST; v++)
      c.by_via[v] = (size_t)lmmi_db_column_int64(st, 3 + v);
    c.repaired = (size_t)lmmi_db_column_int64(st, 7);
    *out = c;
    rc = LMM_OK;
  }
  lmmi_db_reset(st);
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}
