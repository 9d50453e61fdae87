/* db_pg.c - the PostgreSQL back end of db.h, over libpq: ?N placeholders become $N, every
 * parameter travels typed (int8, text, bytea), results come back as text; SQLSTATEs map onto
 * db.h's codes. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"

/* Type OIDs of pg_type (stable across releases; catalog/pg_type_d.h is a server header). */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_TEXT  25

/* Every writer takes this transaction-scoped advisory lock first: writers serialise as they
 * do on one SQLite file ("LMMS"). */
#define WRITER_LOCK "1280134483"

typedef struct pg_db {
  lmmi_db base;
  PGconn *c;
  char err[1024];
  int64_t changes;
} pg_db;

typedef struct pg_param {
  unsigned type; /* 0: unbound (sent as a NULL text) */
  const char *val;
  int len, fmt;
  char num[24];
} pg_param;

typedef struct pg_stmt {
  lmmi_db_stmt base;
  char *sql;    /* $N */
  int nparams;  /* the highest N */
  bool guarded; /* an INSERT: run inside a savepoint within a transaction */
  pg_param *p;
  PGresult *res; /* of the last run, until reset */
  int row;
  unsigned char **blob; /* per column of the current row: unescaped bytea */
  size_t *blen;
} pg_stmt;

static pg_db *D(lmmi_db *db) {
  return (pg_db *)db;
}
static pg_stmt *S(lmmi_db_stmt *st) {
  return (pg_stmt *)st;
}

static void quiet(void *arg, const char *msg) {
  (void)arg, (void)msg;
} /* the library never prints */

bool lmmi_db_is_pg_uri(const char *s) {
  return s && (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11));
}

void lmmi_db_mask_uri(const char *uri, char *out, size_t cap) {
  if (!cap) return;
  out[0] = '\0';
  if (!uri) return;
  const char *scheme = strstr(uri, "://");
  const char *auth = scheme ? scheme + 3 : uri;
  const char *end = auth + strcspn(auth, "/?#");
  const char *at = NULL;
  for (const char *q = auth; q < end; q++)
    if (*q == '@') at = q;
  const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  size_t o = 0;
#define PUT(ptr, n)                                                                                \
  do {                                                                                             \
    size_t n_ = (n);                                                                               \
    if (o + n_ >= cap) n_ = cap - 1 - o;                                                           \
    memcpy(out + o, (ptr), n_);                                                                    \
    o += n_;                                                                                       \
  } while (0)
  if (colon) {
    PUT(uri, (size_t)(colon + 1 - uri));
    PUT("***", 3);
    uri = at;
  }
  /* password=... in the query string */
  for (const char *q = uri; *q;) {
    const char *pw = strstr(q, "password=");
    if (!pw || (pw != uri && pw[-1] != '?' && pw[-1] != '&')) {
      if (!pw) {
        PUT(q, strlen(q));
        break;
      }
      PUT(q, (size_t)(pw + 9 - q));
      q = pw + 9;
      continue;
    }
    PUT(q, (size_t)(pw + 9 - q));
    PUT("***", 3);
    q = pw + 9 + strcspn(pw + 9, "&#");
  }
#undef PUT
  out[o] = '\0';
}

/* SQLSTATE -> db.h's code. */
static int map_state(const PGresult *r) {
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!st) return LMMI_DB_ERROR;
  if (!strcmp(st, "23505")) return LMMI_DB_CONSTRAINT_UNIQUE;
  if (!strncmp(st, "23", 2)) return LMMI_DB_CONSTRAINT;
  if (!strcmp(st, "53200")) return LMMI_DB_NOMEM;
  if (!strncmp(st, "53", 2)) return LMMI_DB_FULL;
  if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03")) return LMMI_DB_BUSY;
  if (!strncmp(st, "42501", 5)) return LMMI_DB_PERM;
  if (!strcmp(st, "25006")) return LMMI_DB_READONLY;
  if (!strncmp(st, "08", 2)) return LMMI_DB_IOERR;
  return LMMI_DB_ERROR;
}

static void keep_error(pg_db *d, const PGresult *r) {
  const char *m = r ? PQresultErrorMessage(r) : "";
  if (!m || !*m) m = PQerrorMessage(d->c);
  const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  snprintf(d->err, sizeof d->err, "%.*s%s%s%s", (int)strcspn(m, "\n"), m, code ? " (SQLSTATE " : "",
           code ? code : "", code ? ")" : "");
}

/* Runs a statement without parameters; LMMI_DB_OK or the error kept. */
static int run_plain(pg_db *d, const char *sql) {
  PGresult *r = PQexec(d->c, sql);
  ExecStatusType t = PQresultStatus(r);
  int rc = LMMI_DB_OK;
  if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
    keep_error(d, r);
    rc = r ? map_state(r) : LMMI_DB_NOMEM;
  } else if (t == PGRES_COMMAND_OK) {
    d->changes = atoll(PQcmdTuples(r));
  }
  PQclear(r);
  return rc;
}

static void pg_close(lmmi_db *db) {
  PQfinish(D(db)->c);
  free(db);
}

/* ?N -> $N and ? -> the next number, outside quotes; the highest number into *n. */
static char *translate(const char *sql, int *n) {
  size_t len = strlen(sql);
  char *out = malloc(len * 2 + 1), *o = out;
  if (!out) return NULL;
  int next = 0, max = 0;
  char quote = 0;
  for (const char *p = sql; *p; p++) {
    if (quote) {
      if (*p == quote) quote = 0;
      *o++ = *p;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
      *o++ = *p;
    } else if (*p == '?') {
      int k = 0;
      while (p[1] >= '0' && p[1] <= '9')
        k = k * 10 + (*++p - '0');
      if (!k) k = ++next;
      if (k > max) max = k;
      o += sprintf(o, "$%d", k);
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  *n = max;
  return out;
}

static void drop_row(pg_stmt *s) {
  if (!s->blob || !s->res) return;
  for (int i = 0; i < PQnfields(s->res); i++) {
    PQfreemem(s->blob[i]);
    s->blob[i] = NULL;
  }
}

static void pg_reset(lmmi_db_stmt *st) {
  pg_stmt *s = S(st);
  drop_row(s);
  free(s->blob), free(s->blen);
  s->blob = NULL, s->blen = NULL;
  PQclear(s->res);
  s->res = NULL;
  s->row = 0;
}

static void pg_finalize(lmmi_db_stmt *st) {
  pg_reset(st);
  free(S(st)->sql);
  free(S(st)->p);
  free(st);
}

static int pg_prepare(lmmi_db *db, const char *sql, bool persistent, lmmi_db_stmt **out) {
  (void)persistent; /* statements run as PQexecParams: the server plans each run */
  *out = NULL;
  pg_stmt *s = calloc(1, sizeof *s);
  if (!s) return LMMI_DB_NOMEM;
  s->base.db = db;
  s->sql = translate(sql, &s->nparams);
  s->p = calloc((size_t)s->nparams + 1, sizeof *s->p);
  if (!s->sql || !s->p) {
    free(s->sql), free(s->p), free(s);
    return LMMI_DB_NOMEM;
  }
  *out = &s->base;
  return LMMI_DB_OK;
}

static void pg_guard(lmmi_db_stmt *st) {
  S(st)->guarded = true;
}

static void pg_clear(lmmi_db_stmt *st) {
  pg_stmt *s = S(st);
  memset(s->p, 0, ((size_t)s->nparams + 1) * sizeof *s->p);
}

static pg_param *param(lmmi_db_stmt *st, int col) {
  pg_stmt *s = S(st);
  return col >= 1 && col <= s->nparams ? &s->p[col - 1] : NULL;
}

static int pg_bind_int64(lmmi_db_stmt *st, int col, int64_t v) {
  pg_param *p = param(st, col);
  if (!p) return LMMI_DB_ERROR;
  snprintf(p->num, sizeof p->num, "%lld", (long long)v);
  p->type = OID_INT8, p->val = p->num, p->len = 0, p->fmt = 0;
  return LMMI_DB_OK;
}
static int pg_bind_text(lmmi_db_stmt *st, int col, const char *v) {
  pg_param *p = param(st, col);
  if (!p) return LMMI_DB_ERROR;
  p->type = OID_TEXT, p->val = v, p->len = 0, p->fmt = 0;
  return LMMI_DB_OK;
}
static int pg_bind_blob(lmmi_db_stmt *st, int col, const void *v, size_t len) {
  pg_param *p = param(st, col);
  if (!p || len > 0x7fffffff) return LMMI_DB_ERROR;
  p->type = OID_BYTEA, p->val = v, p->len = (int)len, p->fmt = 1;
  return LMMI_DB_OK;
}
static int pg_bind_null(lmmi_db_stmt *st, int col) {
  pg_param *p = param(st, col);
  if (!p) return LMMI_DB_ERROR;
  /* Untyped: the server infers the type from where it goes (an int column, a text one). */
  memset(p, 0, sizeof *p);
  p->type = 1;
  return LMMI_DB_OK;
}

static int run(pg_stmt *s) {
  pg_db *d = D(s->base.db);
  int n = s->nparams;
  unsigned types[n + 1];
  const char *vals[n + 1];
  int lens[n + 1], fmts[n + 1];
  for (int i = 0; i < n; i++) {
    pg_param *p = &s->p[i];
    /* Never bound: SQL NULL, typed text so that an unused number is no error. */
    types[i] = p->type == 1 ? 0 : p->type ? p->type : OID_TEXT;
    vals[i] = p->val, lens[i] = p->len, fmts[i] = p->fmt;
  }
  /* A failed statement aborts a PostgreSQL transaction, where SQLite goes on: a statement
   * whose failure the store judges, then carries on (lmmi_db_guard()), runs inside a savepoint
   * of its own. Others fail only when the transaction is lost anyway. */
  bool sp = s->guarded && PQtransactionStatus(d->c) == PQTRANS_INTRANS;
  if (sp && run_plain(d, "SAVEPOINT lmm_stmt") != LMMI_DB_OK) return LMMI_DB_ERROR;
  s->res = PQexecParams(d->c, s->sql, n, types, vals, lens, fmts, 0);
  ExecStatusType t = PQresultStatus(s->res);
  if (t == PGRES_TUPLES_OK) {
    if (sp) run_plain(d, "RELEASE SAVEPOINT lmm_stmt");
    int nf = PQnfields(s->res);
    s->blob = calloc((size_t)nf + 1, sizeof *s->blob);
    s->blen = calloc((size_t)nf + 1, sizeof *s->blen);
    if (!s->blob || !s->blen) return LMMI_DB_NOMEM;
    s->row = 0;
    return PQntuples(s->res) > 0 ? LMMI_DB_ROW : LMMI_DB_DONE;
  }
  if (t == PGRES_COMMAND_OK) {
    d->changes = atoll(PQcmdTuples(s->res));
    if (sp) run_plain(d, "RELEASE SAVEPOINT lmm_stmt");
    return LMMI_DB_DONE;
  }
  keep_error(d, s->res);
  int rc = s->res ? map_state(s->res) : LMMI_DB_NOMEM;
  if (sp) {
    char keep[sizeof d->err];
    memcpy(keep, d->err, sizeof keep);
    run_plain(d, "ROLLBACK TO SAVEPOINT lmm_stmt");
    run_plain(d, "RELEASE SAVEPOINT lmm_stmt");
    memcpy(d->err, keep, sizeof keep);
  }
  PQclear(s->res);
  s->res = NULL;
  return rc;
}

static int pg_step(lmmi_db_stmt *st) {
  pg_stmt *s = S(st);
  if (!s->res) return run(s);
  drop_row(s);
  if (PQresultStatus(s->res) != PGRES_TUPLES_OK) return LMMI_DB_DONE;
  return ++s->row < PQntuples(s->res) ? LMMI_DB_ROW : LMMI_DB_DONE;
}

static bool has(pg_stmt *s, int col) {
  return s->res && PQresultStatus(s->res) == PGRES_TUPLES_OK && s->row < PQntuples(s->res) &&
         col >= 0 && col < PQnfields(s->res) && !PQgetisnull(s->res, s->row, col);
}

static int64_t pg_col_int64(lmmi_db_stmt *st, int col) {
  pg_stmt *s = S(st);
  if (!has(s, col)) return 0;
  const char *v = PQgetvalue(s->res, s->row, col);
  if (*v == 't' || *v == 'f') return *v == 't'; /* a boolean (EXISTS, comparisons) */
  return (int64_t)strtoll(v, NULL, 10);
}
static const char *pg_col_text(lmmi_db_stmt *st, int col) {
  pg_stmt *s = S(st);
  return has(s, col) ? PQgetvalue(s->res, s->row, col) : NULL;
}
static const void *pg_col_blob(lmmi_db_stmt *st, int col) {
  pg_stmt *s = S(st);
  if (!has(s, col)) return NULL;
  if (PQftype(s->res, col) != OID_BYTEA) return PQgetvalue(s->res, s->row, col);
  if (!s->blob[col]) {
    size_t n = 0;
    s->blob[col] = PQunescapeBytea((const unsigned char *)PQgetvalue(s->res, s->row, col), &n);
    s->blen[col] = s->blob[col] ? n : 0;
  }
  return s->blob[col];
}
static size_t pg_col_bytes(lmmi_db_stmt *st, int col) {
  pg_stmt *s = S(st);
  if (!has(s, col)) return 0;
  if (PQftype(s->res, col) != OID_BYTEA) return (size_t)PQgetlength(s->res, s->row, col);
  pg_col_blob(st, col);
  return s->blen[col];
}
static bool pg_col_null(lmmi_db_stmt *st, int col) {
  return !has(S(st), col);
}

static int pg_exec(lmmi_db *db, const char *sql) {
  return run_plain(D(db), sql);
}

static int pg_begin(lmmi_db *db, bool write) {
  /* Writers: READ COMMITTED behind one advisory lock, so each sees every commit before it
   * (what SQLite's BEGIN IMMEDIATE gives). Readers: one snapshot for all their statements. */
  return run_plain(D(db), write ? "BEGIN ISOLATION LEVEL READ COMMITTED;"
                                  "SELECT pg_advisory_xact_lock(" WRITER_LOCK ")"
                                : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static const char *pg_errmsg(lmmi_db *db) {
  return D(db)->err;
}

static void pg_describe(lmmi_db *db, int rc, const char *what, char *out, size_t cap) {
  (void)rc;
  snprintf(out, cap, "%s: %s", what, D(db)->err[0] ? D(db)->err : "PostgreSQL failed");
}
static int64_t pg_changes(lmmi_db *db) {
  return D(db)->changes;
}
static int64_t pg_last_id(lmmi_db *db) {
  PGresult *r = PQexec(D(db)->c, "SELECT lastval()");
  int64_t id = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                   ? (int64_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                   : 0;
  PQclear(r);
  return id;
}
static bool pg_in_tx(lmmi_db *db) {
  PGTransactionStatusType t = PQtransactionStatus(D(db)->c);
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static const lmmi_db_ops PG_OPS = {
    .engine = LMMI_DB_PG,
    .close = pg_close,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .clear_bindings = pg_clear,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_int64 = pg_col_int64,
    .column_text = pg_col_text,
    .column_blob = pg_col_blob,
    .column_bytes = pg_col_bytes,
    .column_is_null = pg_col_null,
    .exec = pg_exec,
    .begin = pg_begin,
    .errmsg = pg_errmsg,
    .describe = pg_describe,
    .changes = pg_changes,
    .last_insert_id = pg_last_id,
    .in_transaction = pg_in_tx,
    .guard = pg_guard,
};

int lmmi_db_pg_open(const char *uri, lmmi_db **out, char *why, size_t cap) {
  *out = NULL;
  char masked[512];
  lmmi_db_mask_uri(uri, masked, sizeof masked);
  pg_db *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(why, cap, "%s: out of memory", masked);
    return LMMI_DB_NOMEM;
  }
  d->base.ops = &PG_OPS;
  d->c = PQconnectdb(uri);
  if (!d->c || PQstatus(d->c) != CONNECTION_OK) {
    const char *m = d->c ? PQerrorMessage(d->c) : "out of memory";
    snprintf(why, cap, "%s: cannot connect: %.*s", masked, (int)strcspn(m, "\n"), m);
    PQfinish(d->c);
    free(d);
    return LMMI_DB_CANTOPEN;
  }
  PQsetNoticeProcessor(d->c, quiet, NULL);
  *out = &d->base;
  return LMMI_DB_OK;
}
