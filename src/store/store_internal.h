/* store_internal.h - what the store's files share: the handle, its cached statements,
 * transactions and the mapping of SQLite failures to lmm_err (store_sql.c). */
#ifndef LMMI_STORE_INTERNAL_H
#define LMMI_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/store.h"

/** Slots of the per-handle statement cache. Each slot always holds the same SQL text (the
 *  caller passes it), prepared on first use and kept until lmm_store_close(). */
typedef enum lmmi_sql {
  LMMI_SQL_BEGIN = 0,
  LMMI_SQL_BEGIN_IMMEDIATE,
  LMMI_SQL_COMMIT,
  LMMI_SQL_ROLLBACK,
  LMMI_SQL_GROUP_EXISTS,
  LMMI_SQL_GROUP_INSERT,
  LMMI_SQL_GROUP_UPDATE,
  LMMI_SQL_GROUP_GET,
  LMMI_SQL_GROUP_LIST,
  LMMI_SQL_GROUP_DELETE,
  LMMI_SQL_GROUP_FREE_IID,
  LMMI_SQL_MEMBER_NEXT_POS,
  LMMI_SQL_MEMBER_INSERT,
  LMMI_SQL_MEMBER_POS,
  LMMI_SQL_MEMBER_DELETE,
  LMMI_SQL_MEMBER_LIST,
  LMMI_SQL_CAMPAIGN_INSERT,
  LMMI_SQL_CAMPAIGN_UPDATE,
  LMMI_SQL_CAMPAIGN_GET,
  LMMI_SQL_CAMPAIGN_LIST_ALL,
  LMMI_SQL_CAMPAIGN_LIST_GROUP,
  LMMI_SQL_CAMPAIGN_CANCEL,
  LMMI_SQL_CAMPAIGN_CANCEL_GET,
  LMMI_SQL_OUTCOME_INSERT,
  LMMI_SQL_OUTCOME_UPDATE,
  LMMI_SQL_OUTCOME_LIST,
  LMMI_SQL_N
} lmmi_sql;

struct lmm_store {
  lmm_ctx *ctx; /* borrowed: the clock of every timestamp, and the log */
  sqlite3 *db;  /* NULL in a handle whose open failed */
  sqlite3_stmt *st[LMMI_SQL_N];
  char msg[512]; /* the last failure, for lmm_store_errmsg() */
};

/** Whether a call can go ahead on `s`, which every public call asks first: LMM_OK with the
 *  message cleared; LMM_ERR_ARG when `s` is NULL, or when `args_ok` is false (the message then
 *  names `what`); LMM_ERR_STATE on a handle whose open failed, whose message (why) is kept. */
lmm_err lmmi_store_check(lmm_store *s, bool args_ok, const char *what);

/** The cached statement of `slot` (preparing `sql` on first use), reset with no bindings;
 *  NULL with the message recorded if it cannot be prepared. Borrowed from the handle. */
sqlite3_stmt *lmmi_store_stmt(lmm_store *s, lmmi_sql slot, const char *sql);

/** Records SQLite's current message (prefixed by `what`) and maps `rc` to an lmm_err:
 *  SQLITE_NOMEM -> LMM_ERR_NOMEM, anything else -> LMM_ERR_DB. */
lmm_err lmmi_store_fail(lmm_store *s, int rc, const char *what);
/** Records a message of our own (not SQLite's) and returns `e`. */
lmm_err lmmi_store_say(lmm_store *s, lmm_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** BEGIN IMMEDIATE (writers) or BEGIN (a consistent snapshot for multi-statement reads). */
lmm_err lmmi_store_begin(lmm_store *s, bool write);
lmm_err lmmi_store_commit(lmm_store *s);
/** Rolls back whatever is open; a no-op outside a transaction (SQLite may already have
 *  rolled back on its own after an I/O or memory error). Keeps the recorded message. */
void lmmi_store_rollback(lmm_store *s);

/** Steps a statement that returns no row. SQLITE_DONE -> LMM_OK; else lmmi_store_fail(). */
lmm_err lmmi_store_exec_stmt(lmm_store *s, sqlite3_stmt *st, const char *what);

/** Column copies: NULL column -> NULL. Return false only when out of memory. */
bool lmmi_col_text(sqlite3_stmt *st, int col, char **out);
bool lmmi_col_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len);

/** Binds text or NULL; and a blob of `len` bytes (NULL or empty -> SQL NULL). Borrowed: the
 *  data must stay valid until the statement is stepped. */
int lmmi_bind_text(sqlite3_stmt *st, int col, const char *v);
int lmmi_bind_blob(sqlite3_stmt *st, int col, const void *v, size_t len);

/** Reads the current row of `st` into `*out` (an element of the array lmmi_store_rows()
 *  grows): LMM_OK, or the error with its message recorded (`out` then owns nothing). */
typedef lmm_err (*lmmi_row_reader)(lmm_store *s, sqlite3_stmt *st, void *out);

/** Steps `st` (prepared and bound by the caller, who resets it) to its end, reading each row
 *  with `read` into a growing array of `size`-byte elements. `*out` and `*n` hold the rows read
 *  whatever the result: the caller frees them on failure. `what` names the call in the
 *  message of a failure. */
lmm_err lmmi_store_rows(lmm_store *s, sqlite3_stmt *st, size_t size, lmmi_row_reader read,
                        void **out, size_t *n, const char *what);

/** Whether the owner `key` of a list exists (a group by name, a campaign by id): LMM_OK, or
 *  LMM_ERR_NOTFOUND (or another error) with its message recorded. */
typedef lmm_err (*lmmi_owner_check)(lmm_store *s, const void *key);

/** The rows of `st` (prepared and bound by the caller) as lmmi_store_rows() reads them, in one
 *  read snapshot with the check that their owner `key` exists: "no such owner" and the rows
 *  describe the same moment, and a writer committing halfway cannot mix two states. Resets
 *  `st`. On failure the rows read so far are left in `*out`, `*n` for the caller to free. */
lmm_err lmmi_store_rows_of(lmm_store *s, lmmi_owner_check owner, const void *key, sqlite3_stmt *st,
                           size_t size, lmmi_row_reader read, void **out, size_t *n,
                           const char *what);

/** Makes room for `need` elements of `size` bytes in *p (capacity *cap), doubling. False when
 *  out of memory (*p and *cap unchanged). */
bool lmmi_grow(void **p, size_t *cap, size_t need, size_t size);

#endif
