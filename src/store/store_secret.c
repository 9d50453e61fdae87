/* store_secret.c - secrets beside the state: a `secrets` table in the state file, made on first
 * use (the file is 0600 in a 0700 directory, as for the members' PSK keys). */
#include "store/store_secret.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

static const char SQL_TABLE[] = "CREATE TABLE IF NOT EXISTS secrets(kind TEXT NOT NULL,"
                                " name TEXT NOT NULL, value BLOB NOT NULL,"
                                " PRIMARY KEY(kind, name))";

/* The statement `sql`, the table made first; NULL with the message recorded. */
static sqlite3_stmt *prepare(lmm_store *s, const char *sql) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_exec(s->db, SQL_TABLE, NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) lmmi_store_fail(s, rc, "secrets");
  return rc == SQLITE_OK ? st : NULL;
}

lmm_err lmmi_store_secret_put(lmm_store *s, const char *kind, const char *name, const uint8_t *key,
                              size_t len) {
  lmm_err rc = lmmi_store_check(s, kind && name && key && len, "secret put");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO secrets(kind, name, value) VALUES(?,?,?)");
  if (!st) return LMM_ERR_DB;
  lmmi_bind_text(st, 1, kind), lmmi_bind_text(st, 2, name), lmmi_bind_blob(st, 3, key, len);
  rc = lmmi_store_exec_stmt(s, st, "secret put");
  sqlite3_finalize(st);
  return rc;
}

lmm_err lmmi_store_secret_get(lmm_store *s, const char *kind, const char *name, uint8_t **key,
                              size_t *len) {
  lmm_err rc = lmmi_store_check(s, kind && name && key && len, "secret get");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = prepare(s, "SELECT value FROM secrets WHERE kind = ? AND name = ?");
  if (!st) return LMM_ERR_DB;
  lmmi_bind_text(st, 1, kind), lmmi_bind_text(st, 2, name);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    rc = lmmi_col_blob(st, 0, key, len) ? (*key ? LMM_OK : LMM_ERR_NOTFOUND) : LMM_ERR_NOMEM;
  } else {
    rc = r == SQLITE_DONE ? LMM_ERR_NOTFOUND : lmmi_store_fail(s, r, "secret get");
  }
  sqlite3_finalize(st);
  return rc;
}

lmm_err lmmi_store_secret_del(lmm_store *s, const char *kind, const char *name) {
  lmm_err rc = lmmi_store_check(s, kind && name, "secret delete");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = prepare(s, "DELETE FROM secrets WHERE kind = ? AND name = ?");
  if (!st) return LMM_ERR_DB;
  lmmi_bind_text(st, 1, kind), lmmi_bind_text(st, 2, name);
  rc = lmmi_store_exec_stmt(s, st, "secret delete");
  sqlite3_finalize(st);
  return rc;
}
