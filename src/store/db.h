/* db.h - the SQL engine under the store: a connection, statements with ?N parameters, rows
 * and transactions, with two back ends (db_sqlite.c, db_pg.c). The store's SQL is written
 * once in the dialect both engines accept (docs/store.md, "Dialect").
 *
 * Result codes are SQLite's numbers (primary and the few extended ones named here): the
 * SQLite back end passes its own through, the PostgreSQL one maps its SQLSTATEs onto them, so
 * the store judges one set. LMMI_DB_OK is 0: binding results may be or-ed together. */
#ifndef LMMI_STORE_DB_H
#define LMMI_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMMI_DB_OK                    0
#define LMMI_DB_ERROR                 1
#define LMMI_DB_PERM                  3
#define LMMI_DB_BUSY                  5
#define LMMI_DB_LOCKED                6
#define LMMI_DB_NOMEM                 7
#define LMMI_DB_READONLY              8
#define LMMI_DB_IOERR                 10
#define LMMI_DB_CORRUPT               11
#define LMMI_DB_FULL                  13
#define LMMI_DB_CANTOPEN              14
#define LMMI_DB_CONSTRAINT            19
#define LMMI_DB_ROW                   100
#define LMMI_DB_DONE                  101
#define LMMI_DB_CONSTRAINT_PRIMARYKEY (LMMI_DB_CONSTRAINT | (6 << 8))
#define LMMI_DB_CONSTRAINT_UNIQUE     (LMMI_DB_CONSTRAINT | (8 << 8))

typedef enum lmmi_db_engine { LMMI_DB_SQLITE = 0, LMMI_DB_PG } lmmi_db_engine;

typedef struct lmmi_db lmmi_db;
typedef struct lmmi_db_stmt lmmi_db_stmt;

/** What a back end does; the calls below dispatch through it. */
typedef struct lmmi_db_ops {
  lmmi_db_engine engine;
  void (*close)(lmmi_db *db);
  int (*prepare)(lmmi_db *db, const char *sql, bool persistent, lmmi_db_stmt **out);
  void (*finalize)(lmmi_db_stmt *st);
  void (*reset)(lmmi_db_stmt *st);
  void (*clear_bindings)(lmmi_db_stmt *st);
  int (*bind_int64)(lmmi_db_stmt *st, int col, int64_t v);
  int (*bind_text)(lmmi_db_stmt *st, int col, const char *v);
  int (*bind_blob)(lmmi_db_stmt *st, int col, const void *v, size_t len);
  int (*bind_null)(lmmi_db_stmt *st, int col);
  int (*step)(lmmi_db_stmt *st);
  int64_t (*column_int64)(lmmi_db_stmt *st, int col);
  const char *(*column_text)(lmmi_db_stmt *st, int col);
  const void *(*column_blob)(lmmi_db_stmt *st, int col);
  size_t (*column_bytes)(lmmi_db_stmt *st, int col);
  bool (*column_is_null)(lmmi_db_stmt *st, int col);
  int (*exec)(lmmi_db *db, const char *sql);
  int (*begin)(lmmi_db *db, bool write);
  const char *(*errmsg)(lmmi_db *db);
  void (*describe)(lmmi_db *db, int rc, const char *what, char *out, size_t cap);
  int64_t (*changes)(lmmi_db *db);
  int64_t (*last_insert_id)(lmmi_db *db);
  bool (*in_transaction)(lmmi_db *db);
  void (*guard)(lmmi_db_stmt *st);
} lmmi_db_ops;

/** The part every back end's connection and statement starts with. */
struct lmmi_db {
  const lmmi_db_ops *ops;
};
struct lmmi_db_stmt {
  lmmi_db *db;
};

/** Opens the SQLite file `path` (created when missing), extended result codes on and a busy
 *  timeout of `busy_ms`. Returns LMMI_DB_OK; else the code, with the reason in `why`
 *  (and `*out` NULL). */
int lmmi_db_sqlite_open(const char *path, int busy_ms, lmmi_db **out, char *why, size_t cap);
/** The SQLite file of schema `schema` ("main", "keys") of `db`; "" in memory, NULL for none. */
const char *lmmi_db_sqlite_filename(lmmi_db *db, const char *schema);
/** Sleeps about `ms` milliseconds; returns the time slept. */
int lmmi_db_sqlite_sleep(int ms);

/** Opens the PostgreSQL database of URI `uri` (postgresql://... or postgres://...). Returns
 *  LMMI_DB_OK; else the code with the reason in `why`, the URI's password masked. */
int lmmi_db_pg_open(const char *uri, lmmi_db **out, char *why, size_t cap);
/** Whether `s` names a PostgreSQL database (postgresql:// or postgres://). */
bool lmmi_db_is_pg_uri(const char *s);
/** `uri` with its password (user:PASSWORD@, password=...) replaced by "***", into `out`. */
void lmmi_db_mask_uri(const char *uri, char *out, size_t cap);

/** NULL: no-op. Every statement must be finalized first. */
void lmmi_db_close(lmmi_db *db);
lmmi_db_engine lmmi_db_engine_of(const lmmi_db *db);
/** Prepares `sql`, ?N parameters (N from 1). `persistent`: kept for the connection's life. */
int lmmi_db_prepare(lmmi_db *db, const char *sql, lmmi_db_stmt **out);
int lmmi_db_prepare_persistent(lmmi_db *db, const char *sql, lmmi_db_stmt **out);
/** NULL: no-op. */
void lmmi_db_finalize(lmmi_db_stmt *st);
/** Marks `st` as a statement whose failure (a unique key hit) the caller judges and then goes
 *  on in the same transaction: on PostgreSQL, where a failed statement aborts the transaction,
 *  it then runs inside a savepoint of its own. SQLite: nothing to do. */
void lmmi_db_guard(lmmi_db_stmt *st);
/** Back to before the first step; bindings stay. */
void lmmi_db_reset(lmmi_db_stmt *st);
void lmmi_db_clear_bindings(lmmi_db_stmt *st);
/** Bindings: text and blobs are borrowed until the statement is stepped (SQLITE_STATIC). */
int lmmi_db_bind_int(lmmi_db_stmt *st, int col, int v);
int lmmi_db_bind_int64(lmmi_db_stmt *st, int col, int64_t v);
int lmmi_db_bind_text(lmmi_db_stmt *st, int col, const char *v);
int lmmi_db_bind_blob64(lmmi_db_stmt *st, int col, const void *v, size_t len);
int lmmi_db_bind_null(lmmi_db_stmt *st, int col);
/** LMMI_DB_ROW, LMMI_DB_DONE or an error code. */
int lmmi_db_step(lmmi_db_stmt *st);
/** Columns of the current row, from 0. Text and blobs are borrowed until the next step or
 *  reset. A NULL column reads as 0, NULL text, NULL blob of 0 bytes. */
int lmmi_db_column_int(lmmi_db_stmt *st, int col);
int64_t lmmi_db_column_int64(lmmi_db_stmt *st, int col);
const char *lmmi_db_column_text(lmmi_db_stmt *st, int col);
const void *lmmi_db_column_blob(lmmi_db_stmt *st, int col);
size_t lmmi_db_column_bytes(lmmi_db_stmt *st, int col);
bool lmmi_db_column_is_null(lmmi_db_stmt *st, int col);
/** Runs `sql`, one or more statements without parameters or rows wanted. */
int lmmi_db_exec(lmmi_db *db, const char *sql);
/** A write transaction (writers serialised: SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory
 *  lock) or a read snapshot (BEGIN; REPEATABLE READ READ ONLY). */
int lmmi_db_begin(lmmi_db *db, bool write);
int lmmi_db_commit(lmmi_db *db);
int lmmi_db_rollback(lmmi_db *db);
bool lmmi_db_in_transaction(lmmi_db *db);
/** The engine's text of the last failure. Borrowed; valid until the next call on `db`. */
const char *lmmi_db_errmsg(lmmi_db *db);
/** "WHAT: REASON" for failure `rc`, with what the engine knows of its cause (SQLite: the file
 *  and the system's reason; PostgreSQL: the server's message and SQLSTATE). */
void lmmi_db_describe(lmmi_db *db, int rc, const char *what, char *out, size_t cap);
/** Rows changed by the last INSERT, UPDATE or DELETE. */
int64_t lmmi_db_changes(lmmi_db *db);
/** The id given to the row of the last INSERT into a table with a generated id. */
int64_t lmmi_db_last_insert_id(lmmi_db *db);

#endif
