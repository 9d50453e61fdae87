/* db_sqlite.c - the SQLite back end of db.h: a thin layer over sqlite3, whose result codes
 * db.h uses as they are. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "store/db.h"

typedef struct sq_db {
  lmmi_db base;
  sqlite3 *h;
} sq_db;

typedef struct sq_stmt {
  lmmi_db_stmt base;
  sqlite3_stmt *h;
} sq_stmt;

static sqlite3 *H(lmmi_db *db) {
  return ((sq_db *)db)->h;
}
static sqlite3_stmt *S(lmmi_db_stmt *st) {
  return ((sq_stmt *)st)->h;
}

static void sq_close(lmmi_db *db) {
  /* The last connection to close checkpoints the -wal into the database and removes it. */
  sqlite3_close_v2(H(db));
  free(db);
}

static int sq_prepare(lmmi_db *db, const char *sql, bool persistent, lmmi_db_stmt **out) {
  *out = NULL;
  sq_stmt *st = calloc(1, sizeof *st);
  if (!st) return LMMI_DB_NOMEM;
  st->base.db = db;
  /* PERSISTENT: these live as long as the handle; SQLite keeps them out of its lookaside. */
  int rc =
      sqlite3_prepare_v3(H(db), sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st->h, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(st->h);
    free(st);
    return rc;
  }
  *out = &st->base;
  return LMMI_DB_OK;
}

static void sq_finalize(lmmi_db_stmt *st) {
  sqlite3_finalize(S(st));
  free(st);
}
static void sq_reset(lmmi_db_stmt *st) {
  sqlite3_reset(S(st));
}
static void sq_clear(lmmi_db_stmt *st) {
  sqlite3_clear_bindings(S(st));
}
static int sq_bind_int64(lmmi_db_stmt *st, int col, int64_t v) {
  return sqlite3_bind_int64(S(st), col, (sqlite3_int64)v);
}
static int sq_bind_text(lmmi_db_stmt *st, int col, const char *v) {
  return sqlite3_bind_text(S(st), col, v, -1, SQLITE_STATIC);
}
static int sq_bind_blob(lmmi_db_stmt *st, int col, const void *v, size_t len) {
  return sqlite3_bind_blob64(S(st), col, v, (sqlite3_uint64)len, SQLITE_STATIC);
}
static int sq_bind_null(lmmi_db_stmt *st, int col) {
  return sqlite3_bind_null(S(st), col);
}
static int sq_step(lmmi_db_stmt *st) {
  return sqlite3_step(S(st));
}
static int64_t sq_col_int64(lmmi_db_stmt *st, int col) {
  return sqlite3_column_int64(S(st), col);
}
static const char *sq_col_text(lmmi_db_stmt *st, int col) {
  return (const char *)sqlite3_column_text(S(st), col);
}
static const void *sq_col_blob(lmmi_db_stmt *st, int col) {
  return sqlite3_column_blob(S(st), col);
}
static size_t sq_col_bytes(lmmi_db_stmt *st, int col) {
  return (size_t)sqlite3_column_bytes(S(st), col);
}
static bool sq_col_null(lmmi_db_stmt *st, int col) {
  return sqlite3_column_type(S(st), col) == SQLITE_NULL;
}
static int sq_exec(lmmi_db *db, const char *sql) {
  return sqlite3_exec(H(db), sql, NULL, NULL, NULL);
}

static int sq_begin(lmmi_db *db, bool write) {
  /* IMMEDIATE takes the write lock up front: a writer that only found out at its first
   * INSERT that another holds it could not wait (SQLITE_BUSY_SNAPSHOT), only fail. */
  return sq_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
}
static const char *sq_errmsg(lmmi_db *db) {
  return sqlite3_errmsg(H(db));
}
static int64_t sq_changes(lmmi_db *db) {
  return sqlite3_changes(H(db));
}
static int64_t sq_last_id(lmmi_db *db) {
  return sqlite3_last_insert_rowid(H(db));
}
static bool sq_in_tx(lmmi_db *db) {
  return !sqlite3_get_autocommit(H(db));
}

static off_t size_of(const char *path, const char *suffix) {
  char p[4200];
  struct stat sb;
  snprintf(p, sizeof p, "%s%s", path, suffix);
  return stat(p, &sb) == 0 ? sb.st_size : 0;
}

/* Why a write to the store failed, when SQLite does not keep the system's reason: a short
 * write (what a full disk and the file size limit both give first) sets no errno, and the
 * rollback that follows may overwrite it. So look at what can be seen afterwards: a file of
 * the store at the process's size limit, or a file system without free blocks. */
static void write_cause(const char *file, char *out, size_t cap) {
  struct rlimit rl;
  struct statvfs vs;
  const char *const suffix[] = {"", "-wal", ".keys", ".keys-wal"};
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
      /* A write that crosses the limit writes up to it: the file ends within a page of it. */
      if ((unsigned long long)size_of(file, suffix[i]) + 8192 >= (unsigned long long)rl.rlim_cur) {
        snprintf(out, cap, ": %s: %s%s reached the process's file size limit (%llu bytes)",
                 strerror(EFBIG), file, suffix[i], (unsigned long long)rl.rlim_cur);
        return;
      }
    }
  }
  if (statvfs(file, &vs) == 0 && (unsigned long long)vs.f_bavail * vs.f_frsize < 65536) {
    snprintf(out, cap, ": %s (the disk is full)", strerror(ENOSPC));
    return;
  }
  snprintf(out, cap, ": a write failed (a full disk, a file size limit or a device error)");
}

static void sq_describe(lmmi_db *db, int rc, const char *what, char *out, size_t cap) {
  int prim = rc & 0xff;
  const char *file = sqlite3_db_filename(H(db), "main");
  /* The file's own troubles (another process holding it, a full disk, an I/O error, a file
   * gone read-only) name it, and the system's reason when SQLite has one ("No space left on
   * device", "File too large"): an operator with several stores must know which to look at. */
  bool about_file = prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_READONLY ||
                    prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CORRUPT ||
                    prim == SQLITE_CANTOPEN || prim == SQLITE_PERM;
  /* Only these come from a system call just made; for the others it would be a stale one. */
  int sys = prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CANTOPEN
                ? sqlite3_system_errno(H(db))
                : 0;
  char cause[600] = "";
  if (sys)
    snprintf(cause, sizeof cause, ": %s", strerror(sys));
  else if (file && *file &&
           (rc == SQLITE_FULL || rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_SHORT_READ ||
            rc == SQLITE_IOERR_TRUNCATE || rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR))
    write_cause(file, cause, sizeof cause);
  else if (prim == SQLITE_BUSY)
    snprintf(cause, sizeof cause,
             ": another process has held the state file for longer than "
             "the wait allowed (busy)");
  if (about_file && file && *file)
    snprintf(out, cap, "%s: %s%s (state file %s)", what, sqlite3_errmsg(H(db)), cause, file);
  else
    snprintf(out, cap, "%s: %s", what, sqlite3_errmsg(H(db)));
}

static const lmmi_db_ops SQ_OPS = {
    .engine = LMMI_DB_SQLITE,
    .close = sq_close,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .clear_bindings = sq_clear,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .column_int64 = sq_col_int64,
    .column_text = sq_col_text,
    .column_blob = sq_col_blob,
    .column_bytes = sq_col_bytes,
    .column_is_null = sq_col_null,
    .exec = sq_exec,
    .begin = sq_begin,
    .errmsg = sq_errmsg,
    .describe = sq_describe,
    .changes = sq_changes,
    .last_insert_id = sq_last_id,
    .in_transaction = sq_in_tx,
};

int lmmi_db_sqlite_open(const char *path, int busy_ms, lmmi_db **out, char *why, size_t cap) {
  *out = NULL;
  sq_db *db = calloc(1, sizeof *db);
  if (!db) {
    snprintf(why, cap, "%s: out of memory", path);
    return LMMI_DB_NOMEM;
  }
  db->base.ops = &SQ_OPS;
  /* NOMUTEX: a handle belongs to one thread at a time (as the rest of the library's handles),
   * so SQLite's per-connection mutex would only cost. */
  int src = sqlite3_open_v2(path, &db->h,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    snprintf(why, cap, "%s: %s", path, db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(src));
    sqlite3_close_v2(db->h);
    free(db);
    return src;
  }
  sqlite3_extended_result_codes(db->h, 1);
  sqlite3_busy_timeout(db->h, busy_ms);
  *out = &db->base;
  return LMMI_DB_OK;
}

const char *lmmi_db_sqlite_filename(lmmi_db *db, const char *schema) {
  return sqlite3_db_filename(H(db), schema);
}

int lmmi_db_sqlite_sleep(int ms) {
  return sqlite3_sleep(ms);
}
