/* lmmt_pg.c - test support: a scratch PostgreSQL server (lmmt_pg.h). */
#define _GNU_SOURCE
#include "lmmt_pg.h"

#include <arpa/inet.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PG_USER "lmmpg"

static int sh(const char *cmd) {
  int rc = system(cmd);
  return rc == 0 ? 0 : -1;
}

/* Runs `cmd` as the server's user: through runuser under root (initdb refuses root). */
static int as_user(const lmmt_pg *pg, const char *cmd) {
  char buf[2048];
  if (geteuid() == 0)
    snprintf(buf, sizeof buf, "runuser -u %s -- sh -c '%s'", pg->user, cmd);
  else
    snprintf(buf, sizeof buf, "sh -c '%s'", cmd);
  return sh(buf);
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static void show_log(const lmmt_pg *pg) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "tail -n 20 %s/log >&2", pg->dir);
  if (system(cmd) != 0) fprintf(stderr, "lmmt_pg: no server log\n");
}

int lmmt_pg_start(lmmt_pg *pg) {
  memset(pg, 0, sizeof *pg);
  glob_t g;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
    fprintf(stderr, "SKIPPED: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): "
                    "install the Debian package postgresql (./scripts/install-deps) to run the "
                    "store's tests on PostgreSQL\n");
    exit(77);
  }
  snprintf(pg->bindir, sizeof pg->bindir, "%.*s", (int)(strlen(g.gl_pathv[g.gl_pathc - 1]) - 7),
           g.gl_pathv[g.gl_pathc - 1]);
  globfree(&g);
  if (geteuid() == 0) {
    snprintf(pg->user, sizeof pg->user, PG_USER);
    if (!getpwnam(PG_USER) &&
        sh("useradd --system --no-create-home --shell /usr/sbin/nologin " PG_USER) != 0) {
      fprintf(stderr, "lmmt_pg: cannot create the user " PG_USER "\n");
      return -1;
    }
  } else {
    struct passwd *pw = getpwuid(geteuid());
    snprintf(pg->user, sizeof pg->user, "%s", pw ? pw->pw_name : "self");
  }
  snprintf(pg->dir, sizeof pg->dir, "/tmp/lmmt-pg-XXXXXX");
  if (!mkdtemp(pg->dir)) {
    perror("lmmt_pg: mkdtemp");
    return -1;
  }
  struct passwd *pw = getpwnam(pg->user);
  if (geteuid() == 0 && (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0)) {
    perror("lmmt_pg: chown");
    return -1;
  }
  /* A password of the test's own: the URI carries one, as an operator's would. */
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  snprintf(pg->password, sizeof pg->password, "pw%08x%08x", (unsigned)rand(), (unsigned)rand());
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "echo %s > %s/pw", pg->password, pg->dir);
  if (as_user(pg, cmd) != 0) return -1;
  snprintf(cmd, sizeof cmd,
           "%s/initdb -D %s/data -U lmm --pwfile=%s/pw --auth-local=trust "
           "--auth-host=scram-sha-256 -E UTF8 --no-sync >%s/initdb.log 2>&1",
           pg->bindir, pg->dir, pg->dir, pg->dir);
  if (as_user(pg, cmd) != 0) {
    fprintf(stderr, "lmmt_pg: initdb failed:\n");
    snprintf(cmd, sizeof cmd, "tail -n 20 %s/initdb.log >&2", pg->dir);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
    return -1;
  }
  for (int attempt = 0; attempt < 5 && !pg->started; attempt++) {
    pg->port = free_port();
    snprintf(cmd, sizeof cmd,
             "%s/pg_ctl -D %s/data -l %s/log -w -t 60 -o \"-c listen_addresses=127.0.0.1 "
             "-p %d -k %s -c fsync=off -c full_page_writes=off\" start >/dev/null",
             pg->bindir, pg->dir, pg->dir, pg->port, pg->dir);
    if (as_user(pg, cmd) == 0) pg->started = 1;
  }
  if (!pg->started) {
    fprintf(stderr, "lmmt_pg: the server did not start:\n");
    show_log(pg);
    return -1;
  }
  snprintf(pg->uri, sizeof pg->uri, "postgresql://lmm:%s@127.0.0.1:%d/postgres", pg->password,
           pg->port);
  /* pg_ctl -w waited; make sure the TCP listener answers too, bounded. */
  for (int i = 0; i < 600; i++) {
    if (PQping(pg->uri) == PQPING_OK) return 0;
    usleep(100 * 1000);
  }
  fprintf(stderr, "lmmt_pg: the server does not answer on 127.0.0.1:%d\n", pg->port);
  show_log(pg);
  return -1;
}

int lmmt_pg_create_db(lmmt_pg *pg, const char *name, char *uri, unsigned cap) {
  PGconn *c = PQconnectdb(pg->uri);
  int rc = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK)
      rc = 0;
    else
      fprintf(stderr, "lmmt_pg: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
  } else {
    fprintf(stderr, "lmmt_pg: %s", PQerrorMessage(c));
  }
  PQfinish(c);
  snprintf(uri, cap, "postgresql://lmm:%s@127.0.0.1:%d/%s", pg->password, pg->port, name);
  return rc;
}

void lmmt_pg_stop(lmmt_pg *pg) {
  if (!pg->dir[0]) return;
  char cmd[600];
  if (pg->started) {
    snprintf(cmd, sizeof cmd, "%s/pg_ctl -D %s/data -m immediate -w stop >/dev/null 2>&1",
             pg->bindir, pg->dir);
    if (as_user(pg, cmd) != 0) fprintf(stderr, "lmmt_pg: pg_ctl stop failed\n");
    pg->started = 0;
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
  if (system(cmd) != 0) fprintf(stderr, "lmmt_pg: cannot remove %s\n", pg->dir);
  pg->dir[0] = '\0';
}

/* atexit() takes no argument: the one server a test process runs. */
static lmmt_pg *g_at_exit;

static void stop_at_exit(void) {
  lmmt_pg_stop(g_at_exit);
}

int lmmt_pg_from_env(lmmt_pg *pg) {
  const char *engine = getenv("LMMT_STORE");
  if (!engine || strcmp(engine, "pg") != 0) return 0;
  if (lmmt_pg_start(pg) != 0) {
    lmmt_pg_stop(pg);
    return -1;
  }
  g_at_exit = pg;
  atexit(stop_at_exit);
  return 1;
}
