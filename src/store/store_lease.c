/* store_lease.c - campaign leases (lwm2m_mbms/lease.h), in a table made on first use (as group_seq
 * is): stores that never queued a campaign are not upgraded. */
#include "lwm2m_mbms/lease.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/* until_ms 0 and no owner: queued, nobody holds it. No foreign key: a lease goes with its
 * campaign's end (its state), and the row stays as a record of the last holder. */
static const char SQL_TABLE[] = "CREATE TABLE IF NOT EXISTS campaign_leases("
                                " campaign BIGINT PRIMARY KEY,"
                                " owner TEXT,"
                                " until_ms BIGINT NOT NULL DEFAULT 0)";
static const char SQL_CLAIMABLE[] =
    "SELECT l.campaign, l.owner FROM campaign_leases l JOIN campaigns c ON c.id = l.campaign"
    " WHERE c.state NOT IN (?1, ?2) AND (l.owner IS NULL OR l.until_ms < ?3)"
    " ORDER BY l.campaign LIMIT 1";
/* Rows another claimer has locked are skipped, not waited for; SQLite has one writer at a
 * time and needs no such clause (the one engine-specific piece of the store's SQL). */
static const char SQL_CLAIMABLE_PG[] =
    "SELECT l.campaign, l.owner FROM campaign_leases l JOIN campaigns c ON c.id = l.campaign"
    " WHERE c.state NOT IN (?1, ?2) AND (l.owner IS NULL OR l.until_ms < ?3)"
    " ORDER BY l.campaign LIMIT 1 FOR UPDATE OF l SKIP LOCKED";

/* Runs one prepared statement of `sql` with the given integer and text bindings (NULL text:
 * not bound), stepping it once: LMMI_DB_ROW with the statement left in *out for the caller to
 * read and finalize, LMMI_DB_DONE (statement finalized), or an error recorded. */
static int one(lmm_store *s, const char *sql, const int64_t *iv, int ni, int text_at,
               const char *text, lmmi_db_stmt **out, const char *what, lmm_err *rc) {
  lmmi_db_stmt *st = NULL;
  *out = NULL;
  int r = lmmi_db_prepare(s->db, sql, &st);
  for (int i = 0; r == LMMI_DB_OK && i < ni; i++)
    r = lmmi_db_bind_int64(st, i + 1, iv[i]);
  if (r == LMMI_DB_OK && text) r = lmmi_db_bind_text(st, text_at, text);
  if (r == LMMI_DB_OK) r = lmmi_db_step(st);
  if (r == LMMI_DB_ROW) {
    *out = st;
    return r;
  }
  if (r != LMMI_DB_DONE) *rc = lmmi_store_fail(s, r, what);
  lmmi_db_finalize(st);
  return r;
}

/* Inside the caller's write transaction: two instances never create it at once. */
static lmm_err table(lmm_store *s, const char *what) {
  int r = lmmi_db_exec(s->db, SQL_TABLE);
  return r == LMMI_DB_OK ? LMM_OK : lmmi_store_fail(s, r, what);
}

/* The same in a write transaction of its own, for the calls that need no other. */
static lmm_err table_alone(lmm_store *s, const char *what) {
  lmm_err rc = lmmi_store_begin(s, true);
  if (rc == LMM_OK) rc = table(s, what);
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

lmm_err lmm_store_lease_enqueue(lmm_store *s, int64_t id) {
  const char *what = "campaign enqueue";
  lmm_err rc = lmmi_store_check(s, true, what);
  if (rc != LMM_OK) return rc;
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) return rc;
  if ((rc = table(s, what)) != LMM_OK) goto out;
  lmmi_db_stmt *st;
  int64_t v[1] = {id};
  int r = one(s, "SELECT state FROM campaigns WHERE id = ?1", v, 1, 0, NULL, &st, what, &rc);
  if (r != LMMI_DB_ROW) {
    if (r == LMMI_DB_DONE)
      rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no campaign %lld", (long long)id);
    goto out;
  }
  int state = lmmi_db_column_int(st, 0);
  lmmi_db_finalize(st);
  if (state == LMM_CS_DONE || state == LMM_CS_FAILED) {
    rc = lmmi_store_say(s, LMM_ERR_STATE, "campaign %lld has finished", (long long)id);
    goto out;
  }
  r = one(s, "INSERT INTO campaign_leases(campaign) VALUES(?1) ON CONFLICT(campaign) DO NOTHING", v,
          1, 0, NULL, &st, what, &rc);
  if (r != LMMI_DB_DONE) goto out;
  rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

lmm_err lmm_store_lease_claim(lmm_store *s, const char *owner, int64_t lease_ms, int64_t *id,
                              bool *taken_over) {
  const char *what = "campaign claim";
  lmm_err rc = lmmi_store_check(s, owner && *owner && id && lease_ms >= 1, what);
  if (rc != LMM_OK) return rc;
  int64_t now = lmm_ctx_wall_ms(s->ctx);
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) return rc;
  if ((rc = table(s, what)) != LMM_OK) goto out;
  lmmi_db_stmt *st;
  int64_t v[3] = {LMM_CS_DONE, LMM_CS_FAILED, now};
  bool pg = lmmi_db_engine_of(s->db) == LMMI_DB_PG;
  int r = one(s, pg ? SQL_CLAIMABLE_PG : SQL_CLAIMABLE, v, 3, 0, NULL, &st, what, &rc);
  if (r != LMMI_DB_ROW) {
    if (r == LMMI_DB_DONE) rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no campaign to claim");
    goto out;
  }
  int64_t got = lmmi_db_column_int64(st, 0);
  bool held = !lmmi_db_column_is_null(st, 1);
  lmmi_db_finalize(st);
  int64_t w[2] = {got, now + lease_ms};
  r = one(s, "UPDATE campaign_leases SET owner = ?3, until_ms = ?2 WHERE campaign = ?1", w, 2, 3,
          owner, &st, what, &rc);
  if (r != LMMI_DB_DONE || (rc = lmmi_store_commit(s)) != LMM_OK) goto out;
  *id = got;
  if (taken_over) *taken_over = held;
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

/* An UPDATE of `owner`'s row of campaign `id`: LMM_OK when it changed it, else why not. */
static lmm_err owned_update(lmm_store *s, const char *sql, int64_t id, const char *owner,
                            int64_t until, const char *what) {
  lmm_err rc = lmmi_store_check(s, owner != NULL, what);
  if (rc != LMM_OK) return rc;
  if ((rc = table_alone(s, what)) != LMM_OK) return rc;
  lmmi_db_stmt *st;
  int64_t v[2] = {id, until};
  int r = one(s, sql, v, 2, 3, owner, &st, what, &rc);
  if (r != LMMI_DB_DONE) return rc;
  if (lmmi_db_changes(s->db) > 0) return LMM_OK;
  char *holder = NULL;
  int64_t t;
  if ((rc = lmm_store_lease_get(s, id, &holder, &t)) != LMM_OK) return rc;
  rc = lmmi_store_say(s, LMM_ERR_STATE, "campaign %lld: %s does not hold it (%s%s)", (long long)id,
                      owner, holder ? "held by " : "held by nobody", holder ? holder : "");
  free(holder);
  return rc;
}

lmm_err lmm_store_lease_renew(lmm_store *s, int64_t id, const char *owner, int64_t lease_ms) {
  /* One statement: a takeover commits either before it (then this changes nothing) or after. */
  int64_t until = s && s->ctx ? lmm_ctx_wall_ms(s->ctx) + lease_ms : 0;
  return owned_update(s,
                      "UPDATE campaign_leases SET until_ms = ?2 WHERE campaign = ?1 AND owner = ?3",
                      id, owner, until, "lease renew");
}

lmm_err lmm_store_lease_release(lmm_store *s, int64_t id, const char *owner) {
  return owned_update(
      s,
      "UPDATE campaign_leases SET owner = NULL, until_ms = ?2 WHERE campaign = ?1 AND owner = ?3",
      id, owner, 0, "lease release");
}

lmm_err lmm_store_lease_get(lmm_store *s, int64_t id, char **owner, int64_t *until_ms) {
  const char *what = "lease get";
  lmm_err rc = lmmi_store_check(s, owner && until_ms, what);
  if (rc != LMM_OK || (rc = table_alone(s, what)) != LMM_OK) return rc;
  lmmi_db_stmt *st;
  int64_t v[1] = {id};
  int r = one(s, "SELECT owner, until_ms FROM campaign_leases WHERE campaign = ?1", v, 1, 0, NULL,
              &st, what, &rc);
  if (r != LMMI_DB_ROW)
    return r == LMMI_DB_DONE ? lmmi_store_say(s, LMM_ERR_NOTFOUND, "campaign %lld was never queued",
                                              (long long)id)
                             : rc;
  char *o = NULL;
  if (!lmmi_col_text(st, 0, &o))
    rc = lmmi_store_say(s, LMM_ERR_NOMEM, "%s: out of memory", what);
  else
    *owner = o, *until_ms = lmmi_db_column_int64(st, 1);
  lmmi_db_finalize(st);
  return rc;
}
