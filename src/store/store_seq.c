/* store_seq.c - sequence number blocks of protected group messages: one row per group, the
 * first number not yet handed out, in a table of the state file made on first use. */
#include "store/store_seq.h"

#include "store/store_internal.h"

#define SEQ_MAX ((1ull << 40) - 1u) /* what a Partial IV of 5 bytes holds (protocol.md 6) */

static const char SQL_TABLE[] = "CREATE TABLE IF NOT EXISTS group_seq(name TEXT PRIMARY KEY,"
                                " next INTEGER NOT NULL CHECK(next >= 0))";

lmm_err lmmi_store_seq_reserve(lmm_store *s, const char *name, uint64_t count, uint64_t *first) {
  lmm_err rc = lmmi_store_check(s, name && first && count && count <= (1ull << 32), "seq reserve");
  if (rc != LMM_OK) return rc;
  int r = sqlite3_exec(s->db, SQL_TABLE, NULL, NULL, NULL);
  if (r != SQLITE_OK) return lmmi_store_fail(s, r, "seq reserve");
  sqlite3_stmt *get = NULL, *put = NULL;
  /* One write transaction: two senders of one store (two processes) get disjoint blocks. */
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) return rc;
  uint64_t next = 0;
  r = sqlite3_prepare_v2(s->db, "SELECT next FROM group_seq WHERE name = ?", -1, &get, NULL);
  if (r == SQLITE_OK) {
    lmmi_bind_text(get, 1, name);
    r = sqlite3_step(get);
    if (r == SQLITE_ROW) next = (uint64_t)sqlite3_column_int64(get, 0), r = SQLITE_OK;
    if (r == SQLITE_DONE) r = SQLITE_OK;
  }
  if (r != SQLITE_OK) {
    rc = lmmi_store_fail(s, r, "seq reserve");
    goto out;
  }
  if (next > SEQ_MAX || count > SEQ_MAX + 1 - next) {
    rc = lmmi_store_say(s, LMM_ERR_STATE,
                        "group %s: its protected messages' sequence numbers are used up: "
                        "give the group a new key",
                        name);
    goto out;
  }
  r = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO group_seq(name, next) VALUES(?, ?)", -1,
                         &put, NULL);
  if (r == SQLITE_OK) {
    lmmi_bind_text(put, 1, name);
    sqlite3_bind_int64(put, 2, (sqlite3_int64)(next + count));
    rc = lmmi_store_exec_stmt(s, put, "seq reserve");
  } else {
    rc = lmmi_store_fail(s, r, "seq reserve");
  }
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
  if (rc == LMM_OK) *first = next;
out:
  sqlite3_finalize(get);
  sqlite3_finalize(put);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}
