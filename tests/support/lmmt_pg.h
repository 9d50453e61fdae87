/* lmmt_pg.h - test support: a scratch PostgreSQL server of the test's own, in a temporary
 * directory, run by a dedicated unprivileged user, listening on 127.0.0.1 only. */
#ifndef LMMT_PG_H
#define LMMT_PG_H

typedef struct lmmt_pg {
  char dir[64];      /* the scratch directory: data/, the socket, the log */
  char bindir[256];  /* /usr/lib/postgresql/N/bin */
  char user[32];     /* the system user running the server ("lmmpg" under root) */
  char password[40]; /* of the database role "lmm" */
  int port;
  char uri[256]; /* postgresql://lmm:PASSWORD@127.0.0.1:PORT/postgres */
  int started;
} lmmt_pg;

/** Starts the server (initdb, pg_ctl start, then waits until it answers, at most 60 s).
 *  When the PostgreSQL server binaries are not installed, prints why on stderr and exits 77
 *  (ctest: "Skipped"). Returns 0, or -1 with the reason and the server's log on stderr. */
int lmmt_pg_start(lmmt_pg *pg);
/** A new empty database `name` on the server, and its URI into `uri`. 0 or -1. */
int lmmt_pg_create_db(lmmt_pg *pg, const char *name, char *uri, unsigned cap);
/** Stops the server and removes its directory. Safe on a server that did not start. */
void lmmt_pg_stop(lmmt_pg *pg);
/** The engine a test's store cases run on, from LMMT_STORE: "pg" starts `pg` (as
 *  lmmt_pg_start(), exiting 77 without PostgreSQL) and stops it when the process exits.
 *  Returns 1 on PostgreSQL, 0 on SQLite (LMMT_STORE unset or another value), -1 when the
 *  server could not start (the test must fail; the reason is on stderr). */
int lmmt_pg_from_env(lmmt_pg *pg);

#endif
