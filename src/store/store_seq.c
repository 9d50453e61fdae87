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
  int r = lmmi_db_exec(s->db, SQL_TABLE);
  if (r != LMMI_DB_OK) return lmmi_store_fail(s, r, "seq reserve");
  lmmi_db_stmt *get = NULL, *put = NULL;
  /* One write transaction: two senders of one store (two processes) get disjoint blocks. */
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) return rc;
  uint64_t next = 0;
  r = lmmi_db_prepare(s->db, "SELECT next FROM group_seq WHERE name = ?1", &get);
  if (r == LMMI_DB_OK) {
    lmmi_bind_text(get, 1, name);
    r = lmmi_db_step(get);
    if (r == LMMI_DB_ROW) next = (uint64_t)lmmi_db_column_int64(get, 0), r = LMMI_DB_OK;
    if (r == LMMI_DB_DONE) r = LMMI_DB_OK;
  }
  if (r != LMMI_DB_OK) {
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
  r = lmmi_db_prepare(s->db,
                      "INSERT INTO group_seq(name, next) VALUES(?1, ?2)"
                      " ON CONFLICT(name) DO UPDATE SET next = excluded.next",
                      &put);
  if (r == LMMI_DB_OK) {
    lmmi_bind_text(put, 1, name);
    lmmi_db_bind_int64(put, 2, (int64_t)(next + count));
    rc = lmmi_store_exec_stmt(s, put, "seq reserve");
  } else {
    rc = lmmi_store_fail(s, r, "seq reserve");
  }
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
  if (rc == LMM_OK) *first = next;
out:
  lmmi_db_finalize(get);
  lmmi_db_finalize(put);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}
