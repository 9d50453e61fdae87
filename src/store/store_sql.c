/* store_sql.c - what the store's tables share: cached statements, transactions, recorded
 * failures, column copies and bindings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "store/store_internal.h"

lmm_err lmmi_store_say(lmm_store *s, lmm_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return e;
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
static void write_cause(const lmm_store *s, const char *file, char *out, size_t cap) {
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
  (void)s;
  snprintf(out, cap, ": a write failed (a full disk, a file size limit or a device error)");
}

lmm_err lmmi_store_fail(lmm_store *s, int rc, const char *what) {
  int prim = rc & 0xff;
  const char *file = sqlite3_db_filename(s->db, "main");
  /* The file's own troubles (another process holding it, a full disk, an I/O error, a file
   * gone read-only) name it, and the system's reason when SQLite has one ("No space left on
   * device", "File too large"): an operator with several stores must know which to look at. */
  bool about_file = prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_READONLY ||
                    prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CORRUPT ||
                    prim == SQLITE_CANTOPEN || prim == SQLITE_PERM;
  /* Only these come from a system call just made; for the others it would be a stale one. */
  int sys = prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CANTOPEN
                ? sqlite3_system_errno(s->db)
                : 0;
  char cause[600] = "";
  if (sys)
    snprintf(cause, sizeof cause, ": %s", strerror(sys));
  else if (file && *file &&
           (rc == SQLITE_FULL || rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_SHORT_READ ||
            rc == SQLITE_IOERR_TRUNCATE || rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR))
    write_cause(s, file, cause, sizeof cause);
  else if (prim == SQLITE_BUSY)
    snprintf(cause, sizeof cause,
             ": another process has held the state file for longer than "
             "the wait allowed (busy)");
  if (about_file && file && *file)
    snprintf(s->msg, sizeof s->msg, "%s: %s%s (state file %s)", what, sqlite3_errmsg(s->db), cause,
             file);
  else
    snprintf(s->msg, sizeof s->msg, "%s: %s", what, sqlite3_errmsg(s->db));
  return prim == SQLITE_NOMEM ? LMM_ERR_NOMEM : LMM_ERR_DB;
}

sqlite3_stmt *lmmi_store_stmt(lmm_store *s, lmmi_sql slot, const char *sql) {
  sqlite3_stmt *st = s->st[slot];
  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }
  /* PERSISTENT: these live as long as the handle; SQLite keeps them out of its lookaside. */
  int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    lmmi_store_fail(s, rc, "prepare");
    return NULL;
  }
  return s->st[slot] = st;
}

lmm_err lmmi_store_exec_stmt(lmm_store *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  lmm_err e = rc == SQLITE_DONE ? LMM_OK : lmmi_store_fail(s, rc, what);
  sqlite3_reset(st);
  return e;
}

lmm_err lmmi_store_begin(lmm_store *s, bool write) {
  /* IMMEDIATE takes the write lock up front: a writer that only found out at its first
   * INSERT that another holds it could not wait (SQLITE_BUSY_SNAPSHOT), only fail. */
  sqlite3_stmt *st = write ? lmmi_store_stmt(s, LMMI_SQL_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE")
                           : lmmi_store_stmt(s, LMMI_SQL_BEGIN, "BEGIN");
  return st ? lmmi_store_exec_stmt(s, st, "begin") : LMM_ERR_DB;
}

lmm_err lmmi_store_commit(lmm_store *s) {
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_COMMIT, "COMMIT");
  return st ? lmmi_store_exec_stmt(s, st, "commit") : LMM_ERR_DB;
}

void lmmi_store_rollback(lmm_store *s) {
  if (sqlite3_get_autocommit(s->db)) return;
  char keep[sizeof s->msg];
  memcpy(keep, s->msg, sizeof keep);
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_ROLLBACK, "ROLLBACK");
  if (st) lmmi_store_exec_stmt(s, st, "rollback");
  if (!sqlite3_get_autocommit(s->db)) /* the cached statement failed: try the plain way */
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  memcpy(s->msg, keep, sizeof keep);
}

bool lmmi_col_text(sqlite3_stmt *st, int col, char **out) {
  *out = NULL;
  const unsigned char *t = sqlite3_column_text(st, col);
  if (!t) return sqlite3_column_type(st, col) == SQLITE_NULL; /* NULL vs out of memory */
  size_t len = (size_t)sqlite3_column_bytes(st, col);
  if (!(*out = malloc(len + 1))) return false;
  memcpy(*out, t, len + 1);
  return true;
}

bool lmmi_col_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len) {
  *out = NULL, *len = 0;
  const void *b = sqlite3_column_blob(st, col);
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  if (!b || !n) return true; /* NULL or empty: both come back as no payload */
  if (!(*out = malloc(n))) return false;
  memcpy(*out, b, n);
  *len = n;
  return true;
}

int lmmi_bind_text(sqlite3_stmt *st, int col, const char *v) {
  return v ? sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

int lmmi_bind_blob(sqlite3_stmt *st, int col, const void *v, size_t len) {
  if (!v || !len) return sqlite3_bind_null(st, col);
  return sqlite3_bind_blob64(st, col, v, (sqlite3_uint64)len, SQLITE_STATIC);
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

lmm_err lmmi_store_rows(lmm_store *s, sqlite3_stmt *st, size_t size, lmmi_row_reader read,
                        void **out, size_t *n, const char *what) {
  size_t cap = 0;
  int src;
  *out = NULL, *n = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (!lmmi_grow(out, &cap, *n + 1, size))
      return lmmi_store_say(s, LMM_ERR_NOMEM, "%s: out of memory", what);
    lmm_err rc = read(s, st, (char *)*out + *n * size);
    if (rc != LMM_OK) return rc;
    ++*n;
  }
  return src == SQLITE_DONE ? LMM_OK : lmmi_store_fail(s, src, what);
}

lmm_err lmmi_store_rows_of(lmm_store *s, lmmi_owner_check owner, const void *key, sqlite3_stmt *st,
                           size_t size, lmmi_row_reader read, void **out, size_t *n,
                           const char *what) {
  *out = NULL, *n = 0;
  lmm_err rc = lmmi_store_begin(s, false);
  if (rc == LMM_OK) rc = owner(s, key);
  if (rc == LMM_OK) rc = lmmi_store_rows(s, st, size, read, out, n, what);
  sqlite3_reset(st);
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}
