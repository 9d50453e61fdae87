/* store.c - the SQLite state store: opening and schema, shared helpers, groups and members. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_internal.h"

/* "LMMS": tells our files from other applications' SQLite databases. */
#define STORE_APP_ID     0x4C4D4D53
#define STORE_APP_ID_SQL "1280134483"
/* Bump, with a step in MIGRATIONS, whenever the tables change. */
#define STORE_SCHEMA_VERSION 4
/* Busy timeout of every connection, and the bound of the retries of use_wal(). */
#define STORE_BUSY_MS 5000

/* Durability and concurrency, chosen once per connection:
 *  - WAL: readers (`lwm2m-mbms report`) never block the writer running a campaign, and a
 *    commit is one append to the -wal file.
 *  - synchronous=NORMAL: in WAL mode SQLite then fsyncs only at checkpoints, not at every
 *    commit. A committed transaction is still safe across a *process* crash (kill -9, abort,
 *    a segfault): COMMIT returns only after its frames, the last one marked as a commit, have
 *    been handed to the kernel with write(), and the kernel's page cache outlives the
 *    process; the next opener replays the -wal up to the last commit frame whose checksum
 *    holds. Only an OS crash or a power cut can lose the most recent commits, and even then
 *    the database stays consistent (a torn tail fails its checksum and is ignored): whole
 *    transactions vanish, never half of one. That trade buys campaigns their many small
 *    commits at memory speed.
 *  - busy_timeout 5000: the CLI and a running campaign share the file; a writer waits for
 *    the other instead of failing at once.
 *  - foreign_keys ON: deleting a group deletes its members, and outcomes follow campaigns. */
/* The tables of schema version 1, frozen: every file, new or old, reaches the current version
 * through the same MIGRATIONS, so a new file and an upgraded one cannot differ. */
static const char SCHEMA_SQL[] =
    "CREATE TABLE groups("
    " name TEXT PRIMARY KEY NOT NULL CHECK(name <> ''),"
    " type INTEGER NOT NULL,"
    " gm_oid INTEGER NOT NULL CHECK(gm_oid BETWEEN 0 AND 65535),"
    " external_group_id TEXT,"
    " multicast_address TEXT,"
    " multicast_port INTEGER NOT NULL,"
    " response_time_window INTEGER NOT NULL,"
    " fanout_target TEXT,"
    " schedule TEXT NOT NULL," /* comma list of epoch seconds: never queried by element */
    " tmgi TEXT,"
    " tmgi_expiration INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE members("
    " group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " ep TEXT NOT NULL CHECK(ep <> ''),"
    " oid INTEGER NOT NULL CHECK(oid BETWEEN 0 AND 65535),"
    " uri TEXT,"
    " psk_identity TEXT,"
    " psk_key BLOB,"
    " format INTEGER NOT NULL,"
    " UNIQUE(group_name, ep, oid),"
    " UNIQUE(group_name, position));"
    /* No foreign key to groups: a deleted group's campaign reports stay readable. AUTOINCREMENT
     * so an id is never reused: "newest first" is id order, and an old report's id never
     * comes to name another campaign. */
    "CREATE TABLE campaigns("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " group_name TEXT NOT NULL,"
    " state INTEGER NOT NULL,"
    " via INTEGER NOT NULL,"
    " op_kind INTEGER NOT NULL,"
    " op_path TEXT,"
    " op_format INTEGER NOT NULL,"
    " op_payload BLOB,"
    " op_query TEXT,"
    " window_s INTEGER NOT NULL,"
    " repair INTEGER NOT NULL,"
    " token_hex TEXT,"
    " tmgi TEXT,"
    " t8_transaction TEXT,"
    " t8_status INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL,"
    " delivered_ms INTEGER NOT NULL,"
    " finished_ms INTEGER NOT NULL,"
    " error TEXT);"
    "CREATE INDEX campaigns_by_group ON campaigns(group_name, id);"
    "CREATE TABLE outcomes("
    " campaign INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " ep TEXT NOT NULL,"
    " oid INTEGER NOT NULL CHECK(oid BETWEEN 0 AND 65535),"
    " via INTEGER NOT NULL DEFAULT 0,"
    " gm_written INTEGER NOT NULL DEFAULT 0,"
    " done INTEGER NOT NULL DEFAULT 0,"
    " repaired INTEGER NOT NULL DEFAULT 0,"
    " coap_code INTEGER NOT NULL DEFAULT 0,"
    " err INTEGER NOT NULL DEFAULT 0,"
    " payload BLOB,"
    " content_format INTEGER NOT NULL DEFAULT -1,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " latency_ms INTEGER NOT NULL DEFAULT 0,"
    " error TEXT,"
    " PRIMARY KEY(campaign, ep, oid),"
    " UNIQUE(campaign, position));"
    "PRAGMA application_id=" STORE_APP_ID_SQL ";";

/* MIGRATIONS[v - 1] takes a file from version v to v + 1. ADD COLUMNs with constant defaults:
 * SQLite then changes the table's definition, not its rows, so an upgrade is quick whatever
 * the number of outcomes, and the rows written before read back with the defaults (an
 * operation campaign, an outcome with no firmware figures). Rows are rewritten only in the
 * groups table, which stays small. */
static const char *const MIGRATIONS[STORE_SCHEMA_VERSION - 1] = {
    /* 1 -> 2: firmware campaigns (fw_campaign.h) and cancel requests from another process. */
    "ALTER TABLE campaigns ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE campaigns ADD COLUMN fw_summary TEXT;"
    "ALTER TABLE campaigns ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN fw_end INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN fw_state INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE outcomes ADD COLUMN fw_result INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE outcomes ADD COLUMN fw_wave INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN fw_pulled INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN fw_bytes_unicast INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN fw_missed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN fw_repaired INTEGER NOT NULL DEFAULT 0;",
    /* 2 -> 3: a Group Mgmt instance of its own per group, so that a device in two groups keeps
     * both (every campaign used to write instance 0). The groups there get 0, 1, 2... in the
     * order they were created: the oldest keeps instance 0, where every campaign so far wrote,
     * and each other group's next campaign writes its own. */
    "ALTER TABLE groups ADD COLUMN gm_iid INTEGER NOT NULL DEFAULT 0"
    " CHECK(gm_iid BETWEEN 0 AND 65534);"
    "UPDATE groups SET gm_iid = (SELECT count(*) FROM groups o WHERE o.rowid < groups.rowid);"
    "CREATE UNIQUE INDEX groups_by_gm_iid ON groups(gm_iid);",
    /* 3 -> 4: what becomes of a group's TMGI after a campaign (a group setting, and what each
     * campaign did with it); the Accept a read asked for, so that resume asks the same; each
     * step's own result per member (Group Mgmt write, group request, unicast), so that a failed
     * Group Mgmt write shows even when the repair served the member; the PkgVersion last read.
     * Rows written before read back as "not recorded" (step NONE), which is what they are. */
    "ALTER TABLE groups ADD COLUMN tmgi_policy INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE campaigns ADD COLUMN op_accept INTEGER NOT NULL DEFAULT 65534;" /* AUTO */
    "ALTER TABLE campaigns ADD COLUMN tmgi_end INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN gm_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN gm_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN gm_error TEXT;"
    "ALTER TABLE outcomes ADD COLUMN group_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN group_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN unicast_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN unicast_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN unicast_error TEXT;"
    "ALTER TABLE outcomes ADD COLUMN fw_pkg_version TEXT;",
};

/* ------------------------------------------------------------ shared helpers */

lmm_err lmmi_store_say(lmm_store *s, lmm_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return e;
}

lmm_err lmmi_store_fail(lmm_store *s, int rc, const char *what) {
  snprintf(s->msg, sizeof s->msg, "%s: %s", what, sqlite3_errmsg(s->db));
  return (rc & 0xff) == SQLITE_NOMEM ? LMM_ERR_NOMEM : LMM_ERR_DB;
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

/* ------------------------------------------------------------ opening */

/* Puts "PATH: " in front of the recorded message: the messages of opening name the file. */
static lmm_err on_file(lmm_store *s, const char *path, lmm_err e) {
  char keep[sizeof s->msg];
  memcpy(keep, s->msg, sizeof keep);
  return lmmi_store_say(s, e, "%s: %s", path, keep);
}

/* mkdir -p of the directory holding `path`. 0700: the store holds PSK keys. Directories that
 * exist keep their mode. */
static lmm_err make_parents(lmm_store *s, const char *path) {
  char *p = strdup(path);
  lmm_err rc = LMM_ERR_NOMEM;
  if (!p) {
    lmmi_store_say(s, rc, "out of memory");
    goto out;
  }
  for (char *q = p + 1; (q = strchr(q, '/')); q++) {
    *q = '\0';
    struct stat sb;
    if (mkdir(p, 0700) != 0 && errno != EEXIST && !(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))) {
      rc = lmmi_store_say(s, LMM_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
      goto out;
    }
    *q = '/';
  }
  rc = LMM_OK;
out:
  free(p);
  return rc;
}

/* Create a missing file as 0600 before SQLite does (it would use 0644): the store holds PSK
 * keys, and the -wal and -shm files copy the database file's mode. An empty file is a valid
 * empty database. Failure is left for sqlite3_open_v2() to report in its words. */
static void create_private(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}

typedef enum { FILE_OURS, FILE_OLD, FILE_FRESH, FILE_REFUSED } file_kind;

/* Reading these is also the first read of the file: a file that is not SQLite fails here
 * (SQLITE_NOTADB) before anything is written to it. */
static file_kind identify(lmm_store *s, const char *path, int *version) {
  /* One statement, so one snapshot: read one by one, a creator committing in between would
   * show "no application id" next to its tables. */
  static const char sql[] = "SELECT (SELECT application_id FROM pragma_application_id),"
                            " (SELECT user_version FROM pragma_user_version),"
                            " (SELECT count(*) FROM sqlite_schema)";
  int app = 0, ver = 0, ntab = 0;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    app = sqlite3_column_int(st, 0), ver = sqlite3_column_int(st, 1);
    ntab = sqlite3_column_int(st, 2);
  } else {
    lmmi_store_say(s, LMM_ERR_DB, "%s: %s", path, sqlite3_errmsg(s->db));
  }
  sqlite3_finalize(st);
  *version = ver;
  if (rc != SQLITE_ROW) return FILE_REFUSED;
  if (app == 0 && ver == 0 && ntab == 0) return FILE_FRESH;
  if (app != STORE_APP_ID) {
    lmmi_store_say(s, LMM_ERR_DB,
                   "%s: not a lwm2m-mbms store (an SQLite database of another application: "
                   "application_id %d, %d schema objects)",
                   path, app, ntab);
    return FILE_REFUSED;
  }
  if (ver > STORE_SCHEMA_VERSION) {
    lmmi_store_say(s, LMM_ERR_DB,
                   "%s: store schema version %d is newer than this program's (%d); use a newer "
                   "lwm2m-mbms",
                   path, ver, STORE_SCHEMA_VERSION);
    return FILE_REFUSED;
  }
  if (ver < 1) {
    lmmi_store_say(s, LMM_ERR_DB, "%s: damaged lwm2m-mbms store (schema version %d)", path, ver);
    return FILE_REFUSED;
  }
  return ver < STORE_SCHEMA_VERSION ? FILE_OLD : FILE_OURS;
}

/* Creates the schema of a fresh file, or upgrades an older one, in one transaction with the
 * new version number: a failure or a crash halfway leaves the file as it was. Inside BEGIN
 * IMMEDIATE and judged again there: of two processes opening the file at once, the second
 * waits, then finds the work done. */
static lmm_err schema_update(lmm_store *s, const char *path) {
  lmm_err rc = lmmi_store_begin(s, true);
  if (rc != LMM_OK) return on_file(s, path, rc);
  int ver = 0;
  file_kind k = identify(s, path, &ver);
  rc = LMM_ERR_DB;
  if (k == FILE_REFUSED) goto out;
  int from = ver;
  if (k == FILE_FRESH) {
    if (sqlite3_exec(s->db, SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK) {
      lmmi_store_say(s, rc, "%s: creating the schema: %s", path, sqlite3_errmsg(s->db));
      goto out;
    }
    ver = 1;
  }
  for (int v = ver; v < STORE_SCHEMA_VERSION; v++) {
    if (sqlite3_exec(s->db, MIGRATIONS[v - 1], NULL, NULL, NULL) != SQLITE_OK) {
      lmmi_store_say(s, rc, "%s: upgrading the store from schema version %d to %d: %s", path, v,
                     v + 1, sqlite3_errmsg(s->db));
      goto out;
    }
  }
  if (ver != STORE_SCHEMA_VERSION) {
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
      lmmi_store_say(s, rc, "%s: %s", path, sqlite3_errmsg(s->db));
      goto out;
    }
  }
  if ((rc = lmmi_store_commit(s)) != LMM_OK) {
    on_file(s, path, rc);
    goto out;
  }
  if (k == FILE_FRESH)
    lmmi_log(s->ctx, LMM_LOG_INFO, "store %s: created (schema version %d)", path,
             STORE_SCHEMA_VERSION);
  else if (from != STORE_SCHEMA_VERSION)
    lmmi_log(s->ctx, LMM_LOG_INFO, "store %s: upgraded from schema version %d to %d", path, from,
             STORE_SCHEMA_VERSION);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

/* Switches to the WAL journal (a setting stored in the file, so done once per file). */
static lmm_err use_wal(lmm_store *s, const char *path) {
  sqlite3_stmt *st = NULL;
  lmm_err rc = LMM_ERR_DB;
  int src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
  /* Switching a new file to WAL needs it alone; when processes open it together, SQLite can
   * answer SQLITE_BUSY at once rather than call the busy handler (one would deadlock the
   * other), so wait here, as long as the busy timeout would. The time slept is what counts:
   * the context's clocks may be a test's, and this wait is for another process. */
  for (int slept = 0; src == SQLITE_OK;) {
    src = sqlite3_step(st);
    if ((src & 0xff) != SQLITE_BUSY || slept >= STORE_BUSY_MS) break;
    sqlite3_reset(st);
    slept += sqlite3_sleep(5);
    src = SQLITE_OK;
  }
  if (src != SQLITE_ROW) {
    lmmi_store_say(s, rc, "%s: %s", path, sqlite3_errmsg(s->db));
    goto out;
  }
  const char *mode = (const char *)sqlite3_column_text(st, 0);
  if (!mode || (strcmp(mode, "wal") && strcmp(mode, "memory"))) { /* ":memory:" has no WAL */
    lmmi_store_say(s, rc, "%s: cannot use a WAL journal (journal mode stays %s)", path,
                   mode ? mode : "unknown");
    goto out;
  }
  rc = LMM_OK;
out:
  sqlite3_finalize(st); /* before any transaction: an unfinished pragma would block COMMIT */
  return rc;
}

static lmm_err configure(lmm_store *s, const char *path) {
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
  /* Judge the file before changing it: WAL mode would rewrite another application's file. */
  int ver = 0;
  file_kind k = identify(s, path, &ver);
  if (k == FILE_REFUSED) return LMM_ERR_DB;
  lmm_err rc = use_wal(s, path);
  if (rc != LMM_OK) return rc;
  if (sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", NULL, NULL, NULL) !=
      SQLITE_OK)
    return lmmi_store_say(s, LMM_ERR_DB, "%s: %s", path, sqlite3_errmsg(s->db));
  return k == FILE_OURS ? LMM_OK : schema_update(s, path);
}

/* Everything but the handle itself: the caller hands out `s` whatever this returns. */
static lmm_err store_open(lmm_store *s, const char *path) {
  if (!s->ctx) return lmmi_store_say(s, LMM_ERR_ARG, "no library context");
  if (!path) return lmmi_store_say(s, LMM_ERR_ARG, "no store path");
  if (!*path) return lmmi_store_say(s, LMM_ERR_ARG, "empty store path");
  lmm_err rc;
  if (strcmp(path, ":memory:")) {
    if ((rc = make_parents(s, path)) != LMM_OK) return rc;
    create_private(path);
  }
  /* NOMUTEX: a handle belongs to one thread at a time (as the rest of the library's handles),
   * so SQLite's per-connection mutex would only cost. */
  int src = sqlite3_open_v2(path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK)
    return lmmi_store_say(s, src == SQLITE_NOMEM ? LMM_ERR_NOMEM : LMM_ERR_DB, "%s: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
  return configure(s, path);
}

static void store_release(lmm_store *s) {
  for (size_t i = 0; i < LMMI_SQL_N; i++) {
    sqlite3_finalize(s->st[i]);
    s->st[i] = NULL;
  }
  /* The last connection to close checkpoints the -wal into the database and removes it. */
  sqlite3_close_v2(s->db);
  s->db = NULL;
}

LMM_API lmm_err lmm_store_open(lmm_ctx *ctx, const char *path, lmm_store **out) {
  if (!out) return LMM_ERR_ARG;
  lmm_store *s = *out = calloc(1, sizeof *s);
  if (!s) return LMM_ERR_NOMEM;
  s->ctx = ctx;
  lmm_err rc = store_open(s, path);
  if (rc == LMM_OK) {
    lmmi_log(ctx, LMM_LOG_DEBUG, "store %s: open", path);
  } else {
    /* The handle stays, without its connection, to say why (sqlite3_open()'s convention). */
    store_release(s);
    if (ctx) lmmi_log(ctx, LMM_LOG_WARN, "store: %s", s->msg);
  }
  return rc;
}

LMM_API void lmm_store_close(lmm_store *s) {
  if (!s) return;
  store_release(s);
  free(s);
}

LMM_API const char *lmm_store_errmsg(const lmm_store *s) {
  return s ? s->msg : "no store handle (out of memory)";
}

lmm_err lmmi_store_check(lmm_store *s, bool args_ok, const char *what) {
  if (!s) return LMM_ERR_ARG;
  /* A failed open's message stays: it is why every later call fails. */
  if (!s->db) return LMM_ERR_STATE;
  s->msg[0] = '\0'; /* the message is the last call's: none when it succeeds */
  if (!args_ok) return lmmi_store_say(s, LMM_ERR_ARG, "%s: an argument is missing (NULL)", what);
  return LMM_OK;
}

/* ------------------------------------------------------------ groups */

#define GROUP_COLS                                                                                 \
  "name, type, gm_oid, external_group_id, multicast_address, multicast_port, "                     \
  "response_time_window, fanout_target, schedule, tmgi, tmgi_expiration, created, "                \
  "(SELECT count(*) FROM members m WHERE m.group_name = groups.name), gm_iid, tmgi_policy"

static const char SQL_GROUP_INSERT[] =
    "INSERT INTO groups(name, type, gm_oid, external_group_id, multicast_address, "
    "multicast_port, response_time_window, fanout_target, schedule, tmgi, tmgi_expiration, "
    "created, gm_iid, tmgi_policy) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
    "?14)";
/* The smallest Group Mgmt instance ID no group has, NULL when 0..65534 are all taken. Each
 * probe is a lookup in groups_by_gm_iid. */
static const char SQL_GROUP_FREE_IID[] =
    "SELECT CASE WHEN NOT EXISTS(SELECT 1 FROM groups WHERE gm_iid = 0) THEN 0 ELSE "
    "(SELECT min(g.gm_iid) + 1 FROM groups g WHERE g.gm_iid < 65534 AND "
    "NOT EXISTS(SELECT 1 FROM groups h WHERE h.gm_iid = g.gm_iid + 1)) END";
static const char SQL_GROUP_UPDATE[] =
    "UPDATE groups SET type = ?2, gm_oid = ?3, external_group_id = ?4, multicast_address = ?5, "
    "multicast_port = ?6, response_time_window = ?7, fanout_target = ?8, schedule = ?9, "
    "tmgi = ?10, tmgi_expiration = ?11, tmgi_policy = ?14 WHERE name = ?1";
static const char SQL_GROUP_GET[] = "SELECT " GROUP_COLS " FROM groups WHERE name = ?1";
static const char SQL_GROUP_LIST[] = "SELECT " GROUP_COLS " FROM groups ORDER BY name";
static const char SQL_GROUP_DELETE[] = "DELETE FROM groups WHERE name = ?1";
static const char SQL_GROUP_EXISTS[] = "SELECT 1 FROM groups WHERE name = ?1";

static lmm_err group_check(lmm_store *s, const lmm_group_info *g) {
  if (!g || !g->name || !*g->name) return lmmi_store_say(s, LMM_ERR_ARG, "a group needs a name");
  if (g->type < LMM_GROUP_MBMS || g->type > LMM_GROUP_UNICAST)
    return lmmi_store_say(s, LMM_ERR_ARG, "group %s: bad type %d", g->name, g->type);
  if (g->tmgi_policy != LMM_TMGI_KEEP && g->tmgi_policy != LMM_TMGI_RELEASE)
    return lmmi_store_say(s, LMM_ERR_ARG, "group %s: bad TMGI policy %d", g->name, g->tmgi_policy);
  if (g->n_schedule && !g->schedule)
    return lmmi_store_say(s, LMM_ERR_ARG, "group %s: schedule count without times", g->name);
  return LMM_OK;
}

/* "t1,t2,..." (owned), "" for none. */
static char *schedule_format(const lmm_group_info *g) {
  char *t = malloc(g->n_schedule * 21 + 1), *p = t;
  if (!t) return NULL;
  *p = '\0';
  for (size_t i = 0; i < g->n_schedule; i++)
    p += sprintf(p, "%s%lld", i ? "," : "", (long long)g->schedule[i]);
  return t;
}

static bool schedule_parse(const char *t, int64_t **out, size_t *n) {
  *out = NULL, *n = 0;
  if (!t || !*t) return true;
  size_t cap = 1;
  for (const char *p = t; *p; p++)
    cap += *p == ',';
  int64_t *v = malloc(cap * sizeof *v);
  if (!v) return false;
  const char *p = t;
  for (size_t i = 0; i < cap; i++) {
    char *end;
    errno = 0;
    v[i] = strtoll(p, &end, 10);
    if (end == p || errno || (*end != ',' && *end != '\0')) {
      free(v);
      return false;
    }
    p = end + 1;
  }
  *out = v, *n = cap;
  return true;
}

/* Binds ?1..?11 and ?14, the columns insert and update share. `sched` borrowed. */
static int group_bind(sqlite3_stmt *st, const lmm_group_info *g, const char *sched) {
  int rc = SQLITE_OK;
  rc |= lmmi_bind_text(st, 1, g->name);
  rc |= sqlite3_bind_int(st, 2, g->type);
  /* 0 is the Security object, never a Group Mgmt one: a zeroed struct means the default. */
  rc |= sqlite3_bind_int(st, 3, g->gm_oid ? g->gm_oid : LMM_GROUP_MGMT_OID);
  rc |= lmmi_bind_text(st, 4, g->external_group_id);
  rc |= lmmi_bind_text(st, 5, g->multicast_address);
  rc |= sqlite3_bind_int(st, 6, g->multicast_port);
  rc |= sqlite3_bind_int64(st, 7, g->response_time_window);
  rc |= lmmi_bind_text(st, 8, g->fanout_target);
  rc |= lmmi_bind_text(st, 9, sched);
  rc |= lmmi_bind_text(st, 10, g->tmgi);
  rc |= sqlite3_bind_int64(st, 11, g->tmgi_expiration);
  rc |= sqlite3_bind_int(st, 14, g->tmgi_policy);
  return rc;
}

static lmm_err group_read(lmm_store *s, sqlite3_stmt *st, lmm_group_info *out) {
  lmm_group_info g = {0};
  lmm_err rc = LMM_ERR_NOMEM;
  g.type = sqlite3_column_int(st, 1);
  g.gm_oid = (uint16_t)sqlite3_column_int(st, 2);
  g.multicast_port = sqlite3_column_int(st, 5);
  g.response_time_window = sqlite3_column_int64(st, 6);
  g.tmgi_expiration = sqlite3_column_int64(st, 10);
  g.created = sqlite3_column_int64(st, 11);
  g.member_count = (size_t)sqlite3_column_int64(st, 12);
  g.gm_iid = sqlite3_column_int(st, 13);
  g.tmgi_policy = sqlite3_column_int(st, 14);
  if (!lmmi_col_text(st, 0, &g.name) || !lmmi_col_text(st, 3, &g.external_group_id) ||
      !lmmi_col_text(st, 4, &g.multicast_address) || !lmmi_col_text(st, 7, &g.fanout_target) ||
      !lmmi_col_text(st, 9, &g.tmgi)) {
    lmmi_store_say(s, rc, "group: out of memory");
    goto out;
  }
  const char *sched = (const char *)sqlite3_column_text(st, 8);
  if (!schedule_parse(sched, &g.schedule, &g.n_schedule)) {
    /* Also when out of memory; a damaged column is the likelier cause worth naming. */
    rc = lmmi_store_say(s, LMM_ERR_DB, "group %s: unreadable schedule \"%s\"", g.name,
                        sched ? sched : "");
    goto out;
  }
  *out = g;
  return LMM_OK;
out:
  lmm_group_info_clear(&g);
  return rc;
}

/* Whether group `name` exists: LMM_OK, LMM_ERR_NOTFOUND (message set) or an error. */
static lmm_err group_exists(lmm_store *s, const char *name) {
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_EXISTS, SQL_GROUP_EXISTS);
  if (!st) return LMM_ERR_DB;
  lmm_err rc;
  int src = lmmi_bind_text(st, 1, name);
  if (src == SQLITE_OK) src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = LMM_OK;
  else if (src == SQLITE_DONE)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", name);
  else
    rc = lmmi_store_fail(s, src, "group lookup");
  sqlite3_reset(st);
  return rc;
}

/* The free instance ID is looked up and taken in one write transaction: two processes
 * creating groups at once cannot both pick it. */
LMM_API lmm_err lmm_store_group_create(lmm_store *s, const lmm_group_info *g) {
  lmm_err rc = lmmi_store_check(s, true, "group create");
  if (rc == LMM_OK) rc = group_check(s, g);
  if (rc != LMM_OK) return rc;
  char *sched = schedule_format(g);
  sqlite3_stmt *st = NULL;
  if (!sched) return lmmi_store_say(s, LMM_ERR_NOMEM, "group create: out of memory");
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) goto out;
  /* Asked first, so that a taken name is reported as such even in a full store. */
  if ((rc = group_exists(s, g->name)) != LMM_ERR_NOTFOUND) {
    if (rc == LMM_OK) rc = lmmi_store_say(s, LMM_ERR_STATE, "group %s exists", g->name);
    goto out;
  }
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_GROUP_FREE_IID, SQL_GROUP_FREE_IID))) goto out;
  int src = sqlite3_step(st);
  if (src != SQLITE_ROW) {
    rc = lmmi_store_fail(s, src, "group create");
    goto out;
  }
  if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
    rc = lmmi_store_say(s, LMM_ERR_STATE,
                        "group %s: no Group Mgmt instance ID left: the store's groups use all "
                        "of 0..65534 (delete a group first)",
                        g->name);
    goto out;
  }
  int iid = sqlite3_column_int(st, 0);
  sqlite3_reset(st);
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_GROUP_INSERT, SQL_GROUP_INSERT))) goto out;
  src = group_bind(st, g, sched) | sqlite3_bind_int64(st, 12, lmm_ctx_wall_ms(s->ctx) / 1000) |
        sqlite3_bind_int(st, 13, iid);
  if (src != SQLITE_OK) {
    rc = lmmi_store_fail(s, src, "group create");
    goto out;
  }
  if ((src = sqlite3_step(st)) != SQLITE_DONE) {
    rc = lmmi_store_fail(s, src, "group create");
    goto out;
  }
  sqlite3_reset(st);
  rc = lmmi_store_commit(s);
out:
  if (st) sqlite3_reset(st);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  free(sched);
  return rc;
}

LMM_API lmm_err lmm_store_group_update(lmm_store *s, const lmm_group_info *g) {
  lmm_err rc = lmmi_store_check(s, true, "group update");
  if (rc == LMM_OK) rc = group_check(s, g);
  if (rc != LMM_OK) return rc;
  char *sched = schedule_format(g);
  sqlite3_stmt *st = NULL;
  rc = LMM_ERR_NOMEM;
  if (!sched) {
    lmmi_store_say(s, rc, "group update: out of memory");
    goto out;
  }
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_GROUP_UPDATE, SQL_GROUP_UPDATE))) goto out;
  int src = group_bind(st, g, sched);
  if (src != SQLITE_OK) {
    rc = lmmi_store_fail(s, src, "group update");
    goto out;
  }
  if ((rc = lmmi_store_exec_stmt(s, st, "group update")) != LMM_OK) goto out;
  if (sqlite3_changes(s->db) == 0) rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", g->name);
out:
  if (st) sqlite3_reset(st);
  free(sched);
  return rc;
}

LMM_API lmm_err lmm_store_group_get(lmm_store *s, const char *name, lmm_group_info *out) {
  lmm_err rc = lmmi_store_check(s, name && out, "group get");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_GET, SQL_GROUP_GET);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, name);
  if (src == SQLITE_OK) src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = group_read(s, st, out);
  else if (src == SQLITE_DONE)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", name);
  else
    rc = lmmi_store_fail(s, src, "group get");
  sqlite3_reset(st);
  return rc;
}

LMM_API lmm_err lmm_store_group_list(lmm_store *s, lmm_group_info **out, size_t *n) {
  lmm_err rc = lmmi_store_check(s, out && n, "group list");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_LIST, SQL_GROUP_LIST);
  if (!st) return LMM_ERR_DB;
  lmm_group_info *v = NULL;
  size_t nv = 0, cap = 0;
  rc = LMM_OK;
  int src = SQLITE_DONE;
  while (rc == LMM_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    if (!lmmi_grow((void **)&v, &cap, nv + 1, sizeof *v))
      rc = lmmi_store_say(s, LMM_ERR_NOMEM, "group list: out of memory");
    else if ((rc = group_read(s, st, &v[nv])) == LMM_OK)
      nv++;
  }
  if (rc == LMM_OK && src != SQLITE_DONE) rc = lmmi_store_fail(s, src, "group list");
  sqlite3_reset(st);
  if (rc != LMM_OK) {
    lmm_group_info_list_free(v, nv);
    return rc;
  }
  *out = v, *n = nv;
  return LMM_OK;
}

LMM_API lmm_err lmm_store_group_delete(lmm_store *s, const char *name) {
  lmm_err rc = lmmi_store_check(s, name, "group delete");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_DELETE, SQL_GROUP_DELETE);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, name);
  if (src != SQLITE_OK) return lmmi_store_fail(s, src, "group delete");
  /* One statement, so one transaction: its members go with it through ON DELETE CASCADE. */
  rc = lmmi_store_exec_stmt(s, st, "group delete");
  if (rc == LMM_OK && sqlite3_changes(s->db) == 0)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", name);
  return rc;
}

/* ------------------------------------------------------------ members */

static const char SQL_MEMBER_NEXT_POS[] =
    "SELECT coalesce(max(position) + 1, 0) FROM members WHERE group_name = ?1";
static const char SQL_MEMBER_INSERT[] =
    "INSERT INTO members(group_name, position, ep, oid, uri, psk_identity, psk_key, format) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_MEMBER_POS[] =
    "SELECT position FROM members WHERE group_name = ?1 AND ep = ?2 AND oid = ?3";
static const char SQL_MEMBER_DELETE[] =
    "DELETE FROM members WHERE group_name = ?1 AND ep = ?2 AND oid = ?3";
static const char SQL_MEMBER_LIST[] =
    "SELECT ep, oid, uri, psk_identity, psk_key, format FROM members WHERE group_name = ?1 "
    "ORDER BY position";

static lmm_err members_check(lmm_store *s, const lmm_member *m, size_t n) {
  if (n && !m) return lmmi_store_say(s, LMM_ERR_ARG, "no members given");
  for (size_t i = 0; i < n; i++) {
    if (!m[i].ep || !*m[i].ep)
      return lmmi_store_say(s, LMM_ERR_ARG, "member %zu has no endpoint name", i + 1);
    if (m[i].psk_key_len && !m[i].psk_key)
      return lmmi_store_say(s, LMM_ERR_ARG, "member ep=%s/%u: key length without key", m[i].ep,
                            m[i].oid);
  }
  return LMM_OK;
}

/* After a UNIQUE(group, ep, oid) conflict inside members_add's transaction: the earlier copy
 * is either from this batch (position >= base) or was stored before. */
static lmm_err member_dup(lmm_store *s, const char *group, const lmm_member *m, int64_t base) {
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_POS, SQL_MEMBER_POS);
  bool in_batch = false;
  if (st && lmmi_bind_text(st, 1, group) == SQLITE_OK &&
      lmmi_bind_text(st, 2, m->ep) == SQLITE_OK && sqlite3_bind_int(st, 3, m->oid) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    in_batch = sqlite3_column_int64(st, 0) >= base;
  if (st) sqlite3_reset(st);
  return lmmi_store_say(s, LMM_ERR_STATE,
                        in_batch ? "member ep=%s/%u is listed twice"
                                 : "member ep=%s/%u is already in group %s",
                        m->ep, m->oid, group);
}

LMM_API lmm_err lmm_store_members_add(lmm_store *s, const char *group, const lmm_member *m,
                                      size_t n) {
  lmm_err rc = lmmi_store_check(s, true, "members add");
  if (rc != LMM_OK) return rc;
  int64_t base = 0;
  if (!group || !*group) {
    rc = lmmi_store_say(s, LMM_ERR_ARG, "no group name");
    goto out;
  }
  if ((rc = members_check(s, m, n)) != LMM_OK || (rc = lmmi_store_begin(s, true)) != LMM_OK)
    goto out;
  if ((rc = group_exists(s, group)) != LMM_OK) goto out;

  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_NEXT_POS, SQL_MEMBER_NEXT_POS);
  rc = LMM_ERR_DB;
  if (!st) goto out;
  int src = lmmi_bind_text(st, 1, group);
  if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
    base = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (src != SQLITE_ROW) {
    rc = lmmi_store_fail(s, src, "members add");
    goto out;
  }

  if (!(st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_INSERT, SQL_MEMBER_INSERT))) goto out;
  for (size_t i = 0; i < n; i++) {
    sqlite3_reset(st);
    src = lmmi_bind_text(st, 1, group) | sqlite3_bind_int64(st, 2, base + (int64_t)i) |
          lmmi_bind_text(st, 3, m[i].ep) | sqlite3_bind_int(st, 4, m[i].oid) |
          lmmi_bind_text(st, 5, m[i].uri) | lmmi_bind_text(st, 6, m[i].psk_identity) |
          lmmi_bind_blob(st, 7, m[i].psk_key, m[i].psk_key_len) |
          sqlite3_bind_int(st, 8, m[i].format);
    if (src == SQLITE_OK) src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY) {
      sqlite3_reset(st);
      rc = member_dup(s, group, &m[i], base);
      goto out;
    }
    if (src != SQLITE_DONE) {
      rc = lmmi_store_fail(s, src, "members add");
      sqlite3_reset(st);
      goto out;
    }
  }
  sqlite3_reset(st);
  rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

LMM_API lmm_err lmm_store_member_remove(lmm_store *s, const char *group, const char *ep,
                                        uint16_t oid) {
  lmm_err rc = lmmi_store_check(s, group && ep, "member remove");
  if (rc != LMM_OK) return rc;
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_DELETE, SQL_MEMBER_DELETE);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, group) | lmmi_bind_text(st, 2, ep) | sqlite3_bind_int(st, 3, oid);
  if (src != SQLITE_OK) return lmmi_store_fail(s, src, "member remove");
  rc = lmmi_store_exec_stmt(s, st, "member remove");
  if (rc == LMM_OK && sqlite3_changes(s->db) == 0)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "member ep=%s/%u is not in group %s", ep, oid, group);
  return rc;
}

static lmm_err member_read(sqlite3_stmt *st, lmm_member *out) {
  lmm_member m = {0};
  m.oid = (uint16_t)sqlite3_column_int(st, 1);
  m.format = (uint16_t)sqlite3_column_int(st, 5);
  if (!lmmi_col_text(st, 0, &m.ep) || !lmmi_col_text(st, 2, &m.uri) ||
      !lmmi_col_text(st, 3, &m.psk_identity) || !lmmi_col_blob(st, 4, &m.psk_key, &m.psk_key_len)) {
    lmm_member_clear(&m);
    return LMM_ERR_NOMEM;
  }
  *out = m;
  return LMM_OK;
}

LMM_API lmm_err lmm_store_members_get(lmm_store *s, const char *group, lmm_member **out,
                                      size_t *n) {
  lmm_err rc = lmmi_store_check(s, group && out && n, "members get");
  if (rc != LMM_OK) return rc;
  lmm_member *v = NULL;
  size_t nv = 0, cap = 0;
  /* One read snapshot: "no such group" and the list must describe the same moment. */
  rc = lmmi_store_begin(s, false);
  if (rc != LMM_OK || (rc = group_exists(s, group)) != LMM_OK) goto out;
  sqlite3_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_LIST, SQL_MEMBER_LIST);
  rc = LMM_ERR_DB;
  if (!st) goto out;
  int src = lmmi_bind_text(st, 1, group);
  rc = LMM_OK;
  while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    if (!lmmi_grow((void **)&v, &cap, nv + 1, sizeof *v) || member_read(st, &v[nv]) != LMM_OK) {
      rc = lmmi_store_say(s, LMM_ERR_NOMEM, "members get: out of memory");
      break;
    }
    nv++;
    src = SQLITE_OK;
  }
  if (rc == LMM_OK && src != SQLITE_DONE) rc = lmmi_store_fail(s, src, "members get");
  sqlite3_reset(st);
  if (rc == LMM_OK) rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) {
    lmmi_store_rollback(s);
    lmm_members_free(v, nv);
    return rc;
  }
  *out = v, *n = nv;
  return LMM_OK;
}
