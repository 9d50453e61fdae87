/* store_secret.c - the store's secrets (members' DTLS PSKs, groups' keys) in a key file of
 * their own beside the state file, attached to the store's connection as database "keys". */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_internal.h"

/* "LMMK": tells our key files from our state files and from other SQLite databases. */
#define KEYS_APP_ID     0x4C4D4D4B
#define KEYS_APP_ID_SQL "1280134475"
#define KEYS_VERSION    1

/* WITHOUT ROWID: a secret is found by its key, and a row is one short record. */
static const char KEYS_SCHEMA_SQL[] = "CREATE TABLE keys.secrets("
                                      " kind TEXT NOT NULL CHECK(kind <> ''),"
                                      " name TEXT NOT NULL CHECK(name <> ''),"
                                      " key BLOB NOT NULL CHECK(length(key) > 0),"
                                      " PRIMARY KEY(kind, name)) WITHOUT ROWID;"
                                      "PRAGMA keys.application_id=" KEYS_APP_ID_SQL ";"
                                      "PRAGMA keys.user_version=1;";

static const char SQL_PUT[] = "INSERT INTO keys.secrets(kind, name, key) VALUES(?1, ?2, ?3)"
                              " ON CONFLICT(kind, name) DO UPDATE SET key = excluded.key";
static const char SQL_GET[] = "SELECT key FROM keys.secrets WHERE kind = ?1 AND name = ?2";
static const char SQL_DEL[] = "DELETE FROM keys.secrets WHERE kind = ?1 AND name = ?2";
static const char SQL_DEL_RANGE[] =
    "DELETE FROM keys.secrets WHERE kind = 'psk' AND name >= ?1 AND name < ?2";
/* A PSK whose member is gone. Groups' keys are not swept: a campaign over a group that is not
 * in the store (a members file given to deliver) keeps its key under the group's name. */
#define ORPHANS                                                                                    \
  " FROM keys.secrets WHERE kind = 'psk' AND name NOT IN (SELECT " LMMI_PSK_NAME_SQL(              \
      "group_name", "ep", "oid") " FROM members WHERE psk_key_len > 0)"

/* ------------------------------------------------------------ the calls */

static lmm_err secret_ready(lmm_store *s, const char *kind, const char *name, const char *what) {
  if (!s) return LMM_ERR_ARG;
  if (!s->db) return LMM_ERR_STATE;
  if (!kind || !*kind || !name || !*name)
    return lmmi_store_say(s, LMM_ERR_ARG, "%s: a secret needs a kind and a name", what);
  if (!s->keys_ok) return lmmi_store_say(s, LMM_ERR_DB, "%s: %s", what, s->keys_why);
  return LMM_OK;
}

lmm_err lmmi_store_secret_put(lmm_store *s, const char *kind, const char *name, const uint8_t *key,
                              size_t len) {
  lmm_err rc = secret_ready(s, kind, name, "storing a key");
  if (rc != LMM_OK) return rc;
  if (!key || !len) return lmmi_store_say(s, LMM_ERR_ARG, "storing key %s %s: no key", kind, name);
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_SECRET_PUT, SQL_PUT);
  if (!st) return LMM_ERR_DB;
  int src =
      lmmi_bind_text(st, 1, kind) | lmmi_bind_text(st, 2, name) | lmmi_bind_blob(st, 3, key, len);
  rc = src == LMMI_DB_OK ? lmmi_store_exec_stmt(s, st, "storing a key")
                         : lmmi_store_fail(s, src, "storing a key");
  lmmi_db_clear_bindings(st); /* the statement keeps no pointer to the caller's key */
  return rc;
}

lmm_err lmmi_store_secret_get(lmm_store *s, const char *kind, const char *name, uint8_t **key,
                              size_t *len) {
  lmm_err rc = secret_ready(s, kind, name, "reading a key");
  if (rc != LMM_OK) return rc;
  if (!key || !len) return lmmi_store_say(s, LMM_ERR_ARG, "reading a key: nowhere to put it");
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_SECRET_GET, SQL_GET);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, kind) | lmmi_bind_text(st, 2, name);
  if (src == LMMI_DB_OK) src = lmmi_db_step(st);
  if (src == LMMI_DB_ROW) {
    uint8_t *k;
    size_t n;
    if (!lmmi_col_blob(st, 0, &k, &n))
      rc = lmmi_store_say(s, LMM_ERR_NOMEM, "reading a key: out of memory");
    else if (!k)
      rc = lmmi_store_say(s, LMM_ERR_DB, "key %s %s in key file %s is empty", kind, name,
                          s->keys_path);
    else
      *key = k, *len = n;
  } else if (src == LMMI_DB_DONE) {
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no key %s %s in key file %s", kind, name,
                        s->keys_path);
  } else {
    rc = lmmi_store_fail(s, src, "reading a key");
  }
  lmmi_db_reset(st);
  return rc;
}

lmm_err lmmi_store_secret_del(lmm_store *s, const char *kind, const char *name) {
  lmm_err rc = secret_ready(s, kind, name, "deleting a key");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_SECRET_DEL, SQL_DEL);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, kind) | lmmi_bind_text(st, 2, name);
  return src == LMMI_DB_OK ? lmmi_store_exec_stmt(s, st, "deleting a key")
                           : lmmi_store_fail(s, src, "deleting a key");
}

/* The escaped group name followed by `tail` (owned). */
static char *escaped(const char *group, const char *tail) {
  size_t n = strlen(tail) + 1;
  for (const char *p = group; *p; p++)
    n += *p == '%' || *p == '/' ? 3 : 1;
  char *t = malloc(n), *q = t;
  if (!t) return NULL;
  for (const char *p = group; *p; p++) {
    if (*p == '%' || *p == '/')
      q += sprintf(q, "%%%02X", (unsigned)(unsigned char)*p);
    else
      *q++ = *p;
  }
  memcpy(q, tail, strlen(tail) + 1);
  return t;
}

char *lmmi_store_psk_name(const char *group, const char *ep, unsigned oid) {
  char tail[16];
  snprintf(tail, sizeof tail, "/%u", oid);
  size_t n = strlen(ep) + strlen(tail) + 5;
  char *t = malloc(n);
  if (!t) return NULL;
  snprintf(t, n, "/ep=%s%s", ep, tail);
  char *name = escaped(group, t);
  free(t);
  return name;
}

lmm_err lmmi_store_psk_drop_group(lmm_store *s, const char *group) {
  if (!s->keys_ok) return lmmi_store_say(s, LMM_ERR_DB, "%s", s->keys_why);
  /* Every name of the group starts "GROUP/"; '0' is the character after '/'. */
  char *lo = escaped(group, "/"), *hi = escaped(group, "0");
  lmm_err rc = LMM_ERR_NOMEM;
  lmmi_db_stmt *st = NULL;
  if (!lo || !hi) {
    lmmi_store_say(s, rc, "deleting the group's keys: out of memory");
    goto out;
  }
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_SECRET_DEL_RANGE, SQL_DEL_RANGE))) goto out;
  int src = lmmi_bind_text(st, 1, lo) | lmmi_bind_text(st, 2, hi);
  rc = src == LMMI_DB_OK ? lmmi_store_exec_stmt(s, st, "deleting the group's keys")
                         : lmmi_store_fail(s, src, "deleting the group's keys");
  lmmi_db_clear_bindings(st);
out:
  free(lo), free(hi);
  return rc;
}

/* ------------------------------------------------------------ opening */

/* The key file cannot be used: the store goes on without it, and says why when a key is
 * needed. */
__attribute__((format(printf, 2, 3))) static lmm_err unusable(lmm_store *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->keys_why, sizeof s->keys_why, fmt, ap);
  va_end(ap);
  lmmi_log(s->ctx, LMM_LOG_WARN, "store: %s", s->keys_why);
  return LMM_OK;
}

/* Made before SQLite sees it, 0600 whatever the umask: SQLite would make it 0644, and its -wal
 * and -shm files copy its mode. O_EXCL: a file made by another process meanwhile is judged
 * as any existing one. */
static int create_key_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EEXIST ? 0 : -1;
  int rc = fchmod(fd, 0600);
  close(fd);
  return rc;
}

/* application_id, user_version and number of schema objects of "keys", inside the caller's
 * transaction (one snapshot). False with the message recorded when it cannot be read. */
static bool keys_identify(lmm_store *s, int v[3]) {
  static const char *const sql[3] = {"PRAGMA keys.application_id", "PRAGMA keys.user_version",
                                     "SELECT count(*) FROM keys.sqlite_schema"};
  for (int i = 0; i < 3; i++) {
    lmmi_db_stmt *st = NULL;
    int rc = lmmi_db_prepare(s->db, sql[i], &st);
    if (rc == LMMI_DB_OK) rc = lmmi_db_step(st);
    v[i] = rc == LMMI_DB_ROW ? lmmi_db_column_int(st, 0) : 0;
    lmmi_db_finalize(st);
    if (rc != LMMI_DB_ROW) return false;
  }
  return true;
}

/* Judges the attached key file, and gives a fresh one its table (in a write transaction,
 * judged again there: of two processes opening it at once, the second finds it done). */
static lmm_err keys_schema(lmm_store *s) {
  int v[3] = {0};
  for (int write = 0; write < 2; write++) {
    if (lmmi_store_begin(s, write) != LMM_OK || !keys_identify(s, v)) {
      unusable(s, "key file %s: %s", s->keys_path, lmmi_db_errmsg(s->db));
      lmmi_store_rollback(s);
      return LMM_OK;
    }
    bool fresh = v[0] == 0 && v[1] == 0 && v[2] == 0;
    if (!fresh) {
      lmmi_store_rollback(s);
      if (v[0] != KEYS_APP_ID) return unusable(s, "%s is not a lwm2m-mbms key file", s->keys_path);
      if (v[1] != KEYS_VERSION)
        return unusable(s, "key file %s has a version (%d) this program does not know",
                        s->keys_path, v[1]);
      return LMM_OK;
    }
    if (write) {
      if (lmmi_db_exec(s->db, KEYS_SCHEMA_SQL) != LMMI_DB_OK || lmmi_store_commit(s) != LMM_OK) {
        lmm_err rc = unusable(s, "key file %s: %s", s->keys_path, lmmi_db_errmsg(s->db));
        lmmi_store_rollback(s);
        return rc;
      }
      return LMM_OK;
    }
    lmmi_store_rollback(s); /* fresh: look again with the write lock */
  }
  return LMM_OK;
}

lmm_err lmmi_store_keys_open(lmm_store *s, const char *path) {
  bool memory = !strcmp(path, ":memory:");
  size_t n = strlen(path) + 6;
  if (!(s->keys_path = malloc(n)))
    return lmmi_store_say(s, LMM_ERR_NOMEM, "%s: out of memory", path);
  snprintf(s->keys_path, n, "%s%s", path, memory ? "" : ".keys");
  if (!memory) {
    struct stat sb;
    if (create_key_file(s->keys_path) != 0)
      return unusable(s, "cannot create the key file %s: %s", s->keys_path, strerror(errno));
    if (lstat(s->keys_path, &sb) != 0)
      return unusable(s, "key file %s: %s", s->keys_path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return unusable(s, "key file %s is not a regular file", s->keys_path);
    if (sb.st_mode & 077) {
      return unusable(s, "key file %s is open to others than its owner (mode %04o): make it 0600",
                      s->keys_path, (unsigned)(sb.st_mode & 07777));
    }
    /* Another user who owns it can change its mode, or replace the keys, at any time; root
     * is trusted as it is for the directory above it (OpenSSH judges its key files alike). */
    if (sb.st_uid != geteuid() && sb.st_uid != 0) {
      return unusable(s, "key file %s belongs to another user (uid %u, this process runs as %u)",
                      s->keys_path, (unsigned)sb.st_uid, (unsigned)geteuid());
    }
    if (access(s->keys_path, R_OK | W_OK) != 0)
      return unusable(s, "key file %s: %s", s->keys_path, strerror(errno));
  }
  lmmi_db_stmt *st = NULL;
  int src = lmmi_db_prepare(s->db, "ATTACH ?1 AS keys", &st);
  if (src == LMMI_DB_OK) src = lmmi_db_bind_text(st, 1, s->keys_path);
  if (src == LMMI_DB_OK) src = lmmi_db_step(st);
  lmmi_db_finalize(st);
  if (src != LMMI_DB_DONE) {
    if ((src & 0xff) == LMMI_DB_NOMEM)
      return lmmi_store_say(s, LMM_ERR_NOMEM, "%s: out of memory", s->keys_path);
    return unusable(s, "key file %s: %s", s->keys_path, lmmi_db_errmsg(s->db));
  }
  /* Judged before WAL mode changes anything: another application's file stays as it was. */
  int v[3] = {0};
  bool judged = lmmi_store_begin(s, false) == LMM_OK && keys_identify(s, v);
  lmmi_store_rollback(s);
  lmm_err rc = LMM_OK;
  if (!judged)
    rc = unusable(s, "key file %s: %s", s->keys_path, lmmi_db_errmsg(s->db));
  else if ((v[0] || v[1] || v[2]) && v[0] != KEYS_APP_ID)
    rc = unusable(s, "%s is not a lwm2m-mbms key file", s->keys_path);
  else if (lmmi_store_use_wal(s, "keys", s->keys_path) != LMM_OK)
    rc = unusable(s, "%s", s->msg);
  /* Deleted keys are overwritten, not only unlinked from the b-tree. */
  else if (lmmi_db_exec(s->db, "PRAGMA keys.secure_delete=ON") != LMMI_DB_OK)
    rc = unusable(s, "key file %s: %s", s->keys_path, lmmi_db_errmsg(s->db));
  else if ((rc = keys_schema(s)) == LMM_OK && !s->keys_why[0])
    s->keys_ok = true;
  if (!s->keys_ok) lmmi_db_exec(s->db, "DETACH keys");
  s->msg[0] = '\0';
  return rc;
}

void lmmi_store_keys_sweep(lmm_store *s) {
  if (!s->keys_ok) return;
  /* Looked for first without the write lock: an open that finds none (the usual case) does
   * not wait for a writer. */
  lmmi_db_stmt *st = NULL;
  int src = lmmi_db_prepare(s->db, "SELECT EXISTS(SELECT 1" ORPHANS ")", &st);
  bool any = src == LMMI_DB_OK && lmmi_db_step(st) == LMMI_DB_ROW && lmmi_db_column_int(st, 0);
  lmmi_db_finalize(st);
  if (!any) return;
  if (lmmi_store_begin(s, true) != LMM_OK || lmmi_db_exec(s->db, "DELETE" ORPHANS) != LMMI_DB_OK ||
      lmmi_store_commit(s) != LMM_OK) {
    lmmi_log(s->ctx, LMM_LOG_WARN, "store: deleting keys of removed members from %s: %s",
             s->keys_path, lmmi_db_errmsg(s->db));
    lmmi_store_rollback(s);
  } else {
    lmmi_log(s->ctx, LMM_LOG_INFO, "store: deleted %lld keys of removed members from %s",
             (long long)lmmi_db_changes(s->db), s->keys_path);
  }
  s->msg[0] = '\0';
}
