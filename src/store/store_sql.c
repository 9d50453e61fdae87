/* store_sql.c - what the store's tables share: cached statements, transactions, recorded
 * failures, column copies and bindings. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

lmm_err lmmi_store_say(lmm_store *s, lmm_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return e;
}

lmm_err lmmi_store_fail(lmm_store *s, int rc, const char *what) {
  lmmi_db_describe(s->db, rc, what, s->msg, sizeof s->msg);
  return (rc & 0xff) == LMMI_DB_NOMEM ? LMM_ERR_NOMEM : LMM_ERR_DB;
}

lmmi_db_stmt *lmmi_store_stmt(lmm_store *s, lmmi_sql slot, const char *sql) {
  lmmi_db_stmt *st = s->st[slot];
  if (st) {
    lmmi_db_reset(st);
    lmmi_db_clear_bindings(st);
    return st;
  }
  int rc = lmmi_db_prepare_persistent(s->db, sql, &st);
  if (rc != LMMI_DB_OK) {
    lmmi_store_fail(s, rc, "prepare");
    return NULL;
  }
  return s->st[slot] = st;
}

lmm_err lmmi_store_exec_stmt(lmm_store *s, lmmi_db_stmt *st, const char *what) {
  int rc = lmmi_db_step(st);
  lmm_err e = rc == LMMI_DB_DONE ? LMM_OK : lmmi_store_fail(s, rc, what);
  lmmi_db_reset(st);
  return e;
}

lmm_err lmmi_store_begin(lmm_store *s, bool write) {
  int rc = lmmi_db_begin(s->db, write);
  return rc == LMMI_DB_OK ? LMM_OK : lmmi_store_fail(s, rc, "begin");
}

lmm_err lmmi_store_commit(lmm_store *s) {
  int rc = lmmi_db_commit(s->db);
  return rc == LMMI_DB_OK ? LMM_OK : lmmi_store_fail(s, rc, "commit");
}

void lmmi_store_rollback(lmm_store *s) {
  if (!lmmi_db_in_transaction(s->db)) return;
  char keep[sizeof s->msg];
  memcpy(keep, s->msg, sizeof keep);
  lmmi_db_rollback(s->db);
  memcpy(s->msg, keep, sizeof keep);
}

bool lmmi_col_text(lmmi_db_stmt *st, int col, char **out) {
  *out = NULL;
  const char *t = lmmi_db_column_text(st, col);
  if (!t) return lmmi_db_column_is_null(st, col); /* NULL vs out of memory */
  size_t len = (size_t)lmmi_db_column_bytes(st, col);
  if (!(*out = malloc(len + 1))) return false;
  memcpy(*out, t, len + 1);
  return true;
}

bool lmmi_col_blob(lmmi_db_stmt *st, int col, uint8_t **out, size_t *len) {
  *out = NULL, *len = 0;
  const void *b = lmmi_db_column_blob(st, col);
  size_t n = (size_t)lmmi_db_column_bytes(st, col);
  if (!b || !n) return true; /* NULL or empty: both come back as no payload */
  if (!(*out = malloc(n))) return false;
  memcpy(*out, b, n);
  *len = n;
  return true;
}

int lmmi_bind_text(lmmi_db_stmt *st, int col, const char *v) {
  return v ? lmmi_db_bind_text(st, col, v) : lmmi_db_bind_null(st, col);
}

int lmmi_bind_blob(lmmi_db_stmt *st, int col, const void *v, size_t len) {
  if (!v || !len) return lmmi_db_bind_null(st, col);
  return lmmi_db_bind_blob64(st, col, v, len);
}

bool lmmi_grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return true;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *np = realloc(*p, ncap * size);
  if (!np) return false;
  *p = np, *cap = ncap;
  return true;
}

lmm_err lmmi_store_rows(lmm_store *s, lmmi_db_stmt *st, size_t size, lmmi_row_reader read,
                        void **out, size_t *n, const char *what) {
  size_t cap = 0;
  int src;
  *out = NULL, *n = 0;
  while ((src = lmmi_db_step(st)) == LMMI_DB_ROW) {
    if (!lmmi_grow(out, &cap, *n + 1, size))
      return lmmi_store_say(s, LMM_ERR_NOMEM, "%s: out of memory", what);
    lmm_err rc = read(s, st, (char *)*out + *n * size);
    if (rc != LMM_OK) return rc;
    ++*n;
  }
  return src == LMMI_DB_DONE ? LMM_OK : lmmi_store_fail(s, src, what);
}

lmm_err lmmi_store_rows_of(lmm_store *s, lmmi_owner_check owner, const void *key, lmmi_db_stmt *st,
                           size_t size, lmmi_row_reader read, void **out, size_t *n,
                           const char *what) {
  *out = NULL, *n = 0;
  lmm_err rc = lmmi_store_begin(s, false);
  if (rc == LMM_OK) rc = owner(s, key);
  if (rc == LMM_OK) rc = lmmi_store_rows(s, st, size, read, out, n, what);
  lmmi_db_reset(st);
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}
