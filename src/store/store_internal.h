/* store_internal.h - what the store's files share: the handle, its cached statements,
 * transactions and the mapping of SQLite failures to lmm_err (store_sql.c). */
#ifndef LMMI_STORE_INTERNAL_H
#define LMMI_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx_internal.h"
#include "store/db.h"
#include "lwm2m_mbms/store.h"
#include "store/store_secret.h"

/** Slots of the per-handle statement cache. Each slot always holds the same SQL text (the
 *  caller passes it), prepared on first use and kept until lmm_store_close(). */
typedef enum lmmi_sql {
  LMMI_SQL_GROUP_EXISTS = 0,
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
  LMMI_SQL_OUTCOME_COUNTS,
  LMMI_SQL_SECRET_PUT,
  LMMI_SQL_SECRET_GET,
  LMMI_SQL_SECRET_DEL,
  LMMI_SQL_SECRET_DEL_RANGE,
  LMMI_SQL_N
} lmmi_sql;

struct lmm_store {
  lmm_ctx *ctx; /* borrowed: the clock of every timestamp, and the log */
  lmmi_db *db;  /* NULL in a handle whose open failed */
  lmmi_db_stmt *st[LMMI_SQL_N];
  char msg[512];      /* the last failure, for lmm_store_errmsg() */
  char *keys_path;    /* owned: the key file (store_secret.c), NULL before it is known */
  bool keys_ok;       /* the key file is attached as database "keys" */
  char keys_why[512]; /* when it is not: why, naming the file */
  bool key_missing;   /* the last members read found a member without its key */
};

/** Whether a call can go ahead on `s`, which every public call asks first: LMM_OK with the
 *  message cleared; LMM_ERR_ARG when `s` is NULL, or when `args_ok` is false (the message then
 *  names `what`); LMM_ERR_STATE on a handle whose open failed, whose message (why) is kept. */
lmm_err lmmi_store_check(lmm_store *s, bool args_ok, const char *what);

/** The cached statement of `slot` (preparing `sql` on first use), reset with no bindings;
 *  NULL with the message recorded if it cannot be prepared. Borrowed from the handle. */
lmmi_db_stmt *lmmi_store_stmt(lmm_store *s, lmmi_sql slot, const char *sql);

/** Records SQLite's current message (prefixed by `what`) and maps `rc` to an lmm_err:
 *  LMMI_DB_NOMEM -> LMM_ERR_NOMEM, anything else -> LMM_ERR_DB. */
lmm_err lmmi_store_fail(lmm_store *s, int rc, const char *what);
/** Records a message of our own (not SQLite's) and returns `e`. */
lmm_err lmmi_store_say(lmm_store *s, lmm_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** A write transaction, writers serialised, or a consistent snapshot for multi-statement
 *  reads (lmmi_db_begin()). */
lmm_err lmmi_store_begin(lmm_store *s, bool write);
lmm_err lmmi_store_commit(lmm_store *s);
/** Rolls back whatever is open; a no-op outside a transaction (SQLite may already have
 *  rolled back on its own after an I/O or memory error). Keeps the recorded message. */
void lmmi_store_rollback(lmm_store *s);

/** Steps a statement that returns no row. LMMI_DB_DONE -> LMM_OK; else lmmi_store_fail(). */
lmm_err lmmi_store_exec_stmt(lmm_store *s, lmmi_db_stmt *st, const char *what);

/** Column copies: NULL column -> NULL. Return false only when out of memory. */
bool lmmi_col_text(lmmi_db_stmt *st, int col, char **out);
bool lmmi_col_blob(lmmi_db_stmt *st, int col, uint8_t **out, size_t *len);

/** Binds text or NULL; and a blob of `len` bytes (NULL or empty -> SQL NULL). Borrowed: the
 *  data must stay valid until the statement is stepped. */
int lmmi_bind_text(lmmi_db_stmt *st, int col, const char *v);
int lmmi_bind_blob(lmmi_db_stmt *st, int col, const void *v, size_t len);

/** Reads the current row of `st` into `*out` (an element of the array lmmi_store_rows()
 *  grows): LMM_OK, or the error with its message recorded (`out` then owns nothing). */
typedef lmm_err (*lmmi_row_reader)(lmm_store *s, lmmi_db_stmt *st, void *out);

/** Steps `st` (prepared and bound by the caller, who resets it) to its end, reading each row
 *  with `read` into a growing array of `size`-byte elements. `*out` and `*n` hold the rows read
 *  whatever the result: the caller frees them on failure. `what` names the call in the
 *  message of a failure. */
lmm_err lmmi_store_rows(lmm_store *s, lmmi_db_stmt *st, size_t size, lmmi_row_reader read,
                        void **out, size_t *n, const char *what);

/** Whether the owner `key` of a list exists (a group by name, a campaign by id): LMM_OK, or
 *  LMM_ERR_NOTFOUND (or another error) with its message recorded. */
typedef lmm_err (*lmmi_owner_check)(lmm_store *s, const void *key);

/** The rows of `st` (prepared and bound by the caller) as lmmi_store_rows() reads them, in one
 *  read snapshot with the check that their owner `key` exists: "no such owner" and the rows
 *  describe the same moment, and a writer committing halfway cannot mix two states. Resets
 *  `st`. On failure the rows read so far are left in `*out`, `*n` for the caller to free. */
lmm_err lmmi_store_rows_of(lmm_store *s, lmmi_owner_check owner, const void *key, lmmi_db_stmt *st,
                           size_t size, lmmi_row_reader read, void **out, size_t *n,
                           const char *what);

/** Makes room for `need` elements of `size` bytes in *p (capacity *cap), doubling. False when
 *  out of memory (*p and *cap unchanged). */
bool lmmi_grow(void **p, size_t *cap, size_t need, size_t size);

/** Opens the PostgreSQL store of `uri` into `s` (store_pg.c): connects, creates or upgrades
 *  its schema; the secrets are its schema "keys". Messages name the URI with its password
 *  masked. */
lmm_err lmmi_store_pg_open(lmm_store *s, const char *uri);

/* ------------------------------------------------------------ secrets (store_secret.c) */

/* The calls on secrets are in store/store_secret.h, for the callers outside the store. */

/** The name of member ep=`ep`/`oid`'s PSK in group `group` (kind "psk"): the group name with
 *  '%' and '/' escaped (%25, %2F), then "/ep=EP/OID", so that no two members of any groups
 *  share one and a group's names share the prefix "GROUP/". Owned (free()); NULL when out of
 *  memory. LMMI_PSK_NAME_SQL is the same in SQL, for the migration of old stores. */
char *lmmi_store_psk_name(const char *group, const char *ep, unsigned oid);
#define LMMI_PSK_NAME_SQL(g, e, o)                                                                 \
  "(replace(replace(" g ", '%', '%25'), '/', '%2F') || '/ep=' || " e " || '/' || " o ")"
/** Deletes the PSKs of every member of group `group`. LMM_OK, LMM_ERR_DB, LMM_ERR_NOMEM. */
lmm_err lmmi_store_psk_drop_group(lmm_store *s, const char *group);

/** Opens the key file of the state file `path` (":memory:" gets one in memory), creating it
 *  0600 when missing, and attaches it. Never fails the store's open: when the key file cannot
 *  be used, keys_ok stays false with the reason in keys_why, and a warning is logged. Returns
 *  LMM_ERR_NOMEM only. */
lmm_err lmmi_store_keys_open(lmm_store *s, const char *path);
/** Deletes the PSKs whose member is gone (a process that died
 * between the commits of the state file and of the key file, or a delete made while the key file
 * was unavailable). Failure is logged only: it leaves a secret that nothing reads. */
void lmmi_store_keys_sweep(lmm_store *s);
/** Switches database `schema` ("main", "keys") of `s` to WAL, waiting out other processes
 *  that switch it at the same time; `path` names the file in a failure's message. */
lmm_err lmmi_store_use_wal(lmm_store *s, const char *schema, const char *path);

#endif
