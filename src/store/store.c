/* store.c - the SQLite state store: its schema and migrations, opening and closing. */
#include <errno.h>
#include <fcntl.h>
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
#define STORE_SCHEMA_VERSION 7
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
    /* 4 -> 5: what a firmware campaign needs to be resumed (its settings and blob ID), and per
     * member whether an update (Execute) was asked of it, written before it goes out, so that
     * a resumed campaign never asks twice. Older firmware campaigns have no settings and
     * cannot be resumed; older outcomes read back as "not asked". */
    ("ALTER TABLE campaigns ADD COLUMN fw_config TEXT;"
     "ALTER TABLE outcomes ADD COLUMN fw_exec INTEGER NOT NULL DEFAULT 0;"),
    /* 5 -> 6: members' PSKs move to the key file (store_secret.c); the state file keeps only
     * their length, which says that a member has one. The column goes: its bytes are
     * overwritten (secure_delete, in schema_update()), not left in free pages. */
    ("ALTER TABLE members ADD COLUMN psk_key_len INTEGER NOT NULL DEFAULT 0;"
     "INSERT OR REPLACE INTO keys.secrets(kind, name, key) SELECT 'psk', " LMMI_PSK_NAME_SQL(
         "group_name", "ep", "oid") ", psk_key FROM members WHERE length(psk_key) > 0;"
                                    "UPDATE members SET psk_key_len = length(psk_key) WHERE "
                                    "length(psk_key) > 0;"
                                    "ALTER TABLE members DROP COLUMN psk_key;"),
    /* 6 -> 7: the protection policy an operation campaign started with, so that a resumed one
     * that sends its group message again seals it (or not) as it would have. Older rows read
     * back as auto, what a resume applied to them until now. */
    "ALTER TABLE campaigns ADD COLUMN protect INTEGER NOT NULL DEFAULT 0;",
};
/* The first version whose migration reads or writes the key file. */
#define STORE_KEYS_FROM 5

/* ------------------------------------------------------------ opening */

/* Puts "PATH: " in front of the recorded message: the messages of opening name the file. */
static lmm_err on_file(lmm_store *s, const char *path, lmm_err e) {
  char keep[sizeof s->msg];
  memcpy(keep, s->msg, sizeof keep);
  return lmmi_store_say(s, e, "%s: %s", path, keep);
}

/* mkdir -p of the directory holding `path`. 0700: it holds the key file too. Directories that
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

/* Create a missing file as 0600 before SQLite does (it would use 0644): the store's secrets
 * are in its key file, but which groups and devices there are and what they answered is the
 * operator's business too; the -wal and -shm files copy the database file's mode. An empty file is
 * a valid empty database. Failure is left for sqlite3_open_v2() to report in its words. */
static void create_private(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}

/* A store that cannot be written is refused before SQLite sees it. SQLite would open it
 * read-only without a word and fail only at the first write, with "attempt to write a readonly
 * database" and no file named, after a campaign had begun; and its WAL index (-shm), which it
 * creates with the database file's mode, would stay read-only after the operator fixed the
 * file, keeping the store unwritable with the same words. The directory counts too: the -wal
 * and -shm files are made next to the database at every open. */
static lmm_err check_writable(lmm_store *s, const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if ((size_t)(slash - path) < sizeof dir)
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  else
    dir[0] = '\0'; /* too long to check here: SQLite will say */
  if (dir[0] && access(dir, W_OK | X_OK) != 0)
    return lmmi_store_say(s, LMM_ERR_DB,
                          "%s: the state file's directory %s is not writable (%s): the store "
                          "makes its -wal and -shm files there",
                          path, dir, strerror(errno));
  if (access(path, W_OK) != 0)
    return lmmi_store_say(s, LMM_ERR_DB, "%s: the state file is not writable (%s)", path,
                          strerror(errno));
  return LMM_OK;
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
  lmmi_db_stmt *st = NULL;
  int rc = lmmi_db_prepare(s->db, sql, &st);
  if (rc == LMMI_DB_OK && (rc = lmmi_db_step(st)) == LMMI_DB_ROW) {
    app = lmmi_db_column_int(st, 0), ver = lmmi_db_column_int(st, 1);
    ntab = lmmi_db_column_int(st, 2);
  } else {
    lmmi_store_say(s, LMM_ERR_DB, "%s: %s", path, lmmi_db_errmsg(s->db));
  }
  lmmi_db_finalize(st);
  *version = ver;
  if (rc != LMMI_DB_ROW) return FILE_REFUSED;
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
  /* Every step until the keys moved out may leave key bytes in freed space: overwrite it. */
  lmmi_db_exec(s->db, "PRAGMA main.secure_delete=ON");
  lmm_err rc = lmmi_store_begin(s, true);
  if (rc != LMM_OK) return on_file(s, path, rc);
  int ver = 0;
  file_kind k = identify(s, path, &ver);
  rc = LMM_ERR_DB;
  if (k == FILE_REFUSED) goto out;
  int from = ver;
  if (k == FILE_FRESH) {
    if (lmmi_db_exec(s->db, SCHEMA_SQL) != LMMI_DB_OK) {
      lmmi_store_say(s, rc, "%s: creating the schema: %s", path, lmmi_db_errmsg(s->db));
      goto out;
    }
    ver = 1;
  }
  if (ver <= STORE_KEYS_FROM && !s->keys_ok) {
    lmmi_store_say(s, rc, "%s: upgrading the store to schema version %d needs its key file: %s",
                   path, STORE_KEYS_FROM + 1, s->keys_why);
    goto out;
  }
  for (int v = ver; v < STORE_SCHEMA_VERSION; v++) {
    if (lmmi_db_exec(s->db, MIGRATIONS[v - 1]) != LMMI_DB_OK) {
      lmmi_store_say(s, rc, "%s: upgrading the store from schema version %d to %d: %s", path, v,
                     v + 1, lmmi_db_errmsg(s->db));
      goto out;
    }
  }
  if (ver != STORE_SCHEMA_VERSION) {
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
    if (lmmi_db_exec(s->db, sql) != LMMI_DB_OK) {
      lmmi_store_say(s, rc, "%s: %s", path, lmmi_db_errmsg(s->db));
      goto out;
    }
  }
  if ((rc = lmmi_store_commit(s)) != LMM_OK) {
    on_file(s, path, rc);
    goto out;
  }
  /* The old pages, keys and all, are overwritten in the file now rather than at the next
   * checkpoint; the -wal left is empty. A reader holding an old snapshot only delays it. */
  if (from <= STORE_KEYS_FROM && k != FILE_FRESH)
    lmmi_db_exec(s->db, "PRAGMA main.wal_checkpoint(TRUNCATE)");
  if (k == FILE_FRESH)
    lmmi_log(s->ctx, LMM_LOG_INFO, "store %s: created (schema version %d)", path,
             STORE_SCHEMA_VERSION);
  else if (from != STORE_SCHEMA_VERSION)
    lmmi_log(s->ctx, LMM_LOG_INFO, "store %s: upgraded from schema version %d to %d", path, from,
             STORE_SCHEMA_VERSION);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  lmmi_db_exec(s->db, "PRAGMA main.secure_delete=OFF");
  return rc;
}

/* Switches to the WAL journal (a setting stored in the file, so done once per file). */
lmm_err lmmi_store_use_wal(lmm_store *s, const char *schema, const char *path) {
  lmmi_db_stmt *st = NULL;
  lmm_err rc = LMM_ERR_DB;
  char sql[48];
  snprintf(sql, sizeof sql, "PRAGMA %s.journal_mode=WAL", schema);
  int src = lmmi_db_prepare(s->db, sql, &st);
  /* Switching a new file to WAL needs it alone; when processes open it together, SQLite can
   * answer LMMI_DB_BUSY at once rather than call the busy handler (one would deadlock the
   * other), so wait here, as long as the busy timeout would. The time slept is what counts:
   * the context's clocks may be a test's, and this wait is for another process. */
  for (int slept = 0; src == LMMI_DB_OK;) {
    src = lmmi_db_step(st);
    if ((src & 0xff) != LMMI_DB_BUSY || slept >= STORE_BUSY_MS) break;
    lmmi_db_reset(st);
    slept += lmmi_db_sqlite_sleep(5);
    src = LMMI_DB_OK;
  }
  if (src != LMMI_DB_ROW) {
    lmmi_store_say(s, rc, "%s: %s", path, lmmi_db_errmsg(s->db));
    goto out;
  }
  const char *mode = (const char *)lmmi_db_column_text(st, 0);
  if (!mode || (strcmp(mode, "wal") && strcmp(mode, "memory"))) { /* ":memory:" has no WAL */
    lmmi_store_say(s, rc, "%s: cannot use a WAL journal (journal mode stays %s)", path,
                   mode ? mode : "unknown");
    goto out;
  }
  rc = LMM_OK;
out:
  lmmi_db_finalize(st); /* before any transaction: an unfinished pragma would block COMMIT */
  return rc;
}

static lmm_err configure(lmm_store *s, const char *path) {
  /* Judge the file before changing it: WAL mode would rewrite another application's file. */
  int ver = 0;
  file_kind k = identify(s, path, &ver);
  if (k == FILE_REFUSED) return LMM_ERR_DB;
  lmm_err rc = lmmi_store_use_wal(s, "main", path);
  if (rc != LMM_OK) return rc;
  if (lmmi_db_exec(s->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON") != LMMI_DB_OK)
    return lmmi_store_say(s, LMM_ERR_DB, "%s: %s", path, lmmi_db_errmsg(s->db));
  /* Before the upgrade, which moves old stores' keys into it. */
  if ((rc = lmmi_store_keys_open(s, path)) != LMM_OK) return rc;
  if (k != FILE_OURS && (rc = schema_update(s, path)) != LMM_OK) return rc;
  lmmi_store_keys_sweep(s);
  return LMM_OK;
}

/* Everything but the handle itself: the caller hands out `s` whatever this returns. */
static lmm_err store_open(lmm_store *s, const char *path) {
  if (!s->ctx) return lmmi_store_say(s, LMM_ERR_ARG, "no library context");
  if (!path) return lmmi_store_say(s, LMM_ERR_ARG, "no store path");
  if (!*path) return lmmi_store_say(s, LMM_ERR_ARG, "empty store path");
  if (lmmi_db_is_pg_uri(path)) return lmmi_store_pg_open(s, path);
  lmm_err rc;
  if (strcmp(path, ":memory:")) {
    if ((rc = make_parents(s, path)) != LMM_OK) return rc;
    create_private(path);
    if ((rc = check_writable(s, path)) != LMM_OK) return rc;
  }
  int src = lmmi_db_sqlite_open(path, STORE_BUSY_MS, &s->db, s->msg, sizeof s->msg);
  if (src != LMMI_DB_OK) return src == LMMI_DB_NOMEM ? LMM_ERR_NOMEM : LMM_ERR_DB;
  return configure(s, path);
}

static void store_release(lmm_store *s) {
  for (size_t i = 0; i < LMMI_SQL_N; i++) {
    lmmi_db_finalize(s->st[i]);
    s->st[i] = NULL;
  }
  /* The last connection to close checkpoints the -wal into the database and removes it. */
  lmmi_db_close(s->db);
  s->db = NULL;
}

LMM_API lmm_err lmm_store_open(lmm_ctx *ctx, const char *path, lmm_store **out) {
  if (!out) return LMM_ERR_ARG;
  lmm_store *s = *out = calloc(1, sizeof *s);
  if (!s) return LMM_ERR_NOMEM;
  s->ctx = ctx;
  lmm_err rc = store_open(s, path);
  if (rc == LMM_OK) {
    char shown[512];
    lmmi_db_mask_uri(path, shown, sizeof shown); /* a URI's password never goes to a log */
    lmmi_log(ctx, LMM_LOG_DEBUG, "store %s: open", lmmi_db_is_pg_uri(path) ? shown : path);
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
  free(s->keys_path);
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
