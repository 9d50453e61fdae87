/* test_store.c - the state store: every table round trip, all-or-nothing batches,
 * reopening, a crash in the middle of a transaction, foreign files, the upgrade of an older
 * schema, cancel requests, and the directories a path needs. With LMMT_STORE=pg the cases
 * that are not about SQLite's files run on a scratch PostgreSQL server instead (test_store_pg). */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/fw_campaign.h"
#include "lwm2m_mbms/store.h"
#include "lmmt_pg.h"
#include "lwm2m_mbms/unicast.h"

static void unhook_syscalls(void);
static int g_fail_alloc_in = -1; /* SQLite allocations left before one fails; -1: none */

/* ------------------------------------------------------------ fixture */

typedef struct fx {
  char dir[64];
  char path[256]; /* dir/state.db, or the URI of the test's own PostgreSQL database */
  lmm_ctx *ctx;   /* every store of the test borrows it */
  lmm_store *s;
} fx;

static lmmt_pg g_pg; /* the scratch server, when the cases run on PostgreSQL */
static bool g_on_pg; /* LMMT_STORE=pg */
static int g_db_seq; /* each case its own database */

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  if (!f) return -1;
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp || strlen(tmp) > 40) tmp = "/tmp"; /* the paths below have fixed room */
  snprintf(f->dir, sizeof f->dir, "%s/lmm-store-XXXXXX", tmp);
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
  if (g_on_pg) {
    char name[32];
    snprintf(name, sizeof name, "t%d", ++g_db_seq);
    if (lmmt_pg_create_db(&g_pg, name, f->path, sizeof f->path) != 0) return -1;
  }
  if (lmm_ctx_new(NULL, &f->ctx) != LMM_OK) return -1;
  if (lmm_store_open(f->ctx, f->path, &f->s) != LMM_OK) {
    fprintf(stderr, "open: %s\n", lmm_store_errmsg(f->s));
    return -1;
  }
  *state = f;
  return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static int teardown(void **state) {
  fx *f = *state;
  unhook_syscalls(); /* in case a failing test left them in place */
  g_fail_alloc_in = -1;
  lmm_store_close(f->s);
  lmm_ctx_free(f->ctx);
  nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static void reopen(fx *f) {
  lmm_store_close(f->s);
  f->s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, f->path, &f->s), LMM_OK);
}

/* Runs `sql` on the store's database behind the store's back, on either engine: 0, 1 for a
 * constraint violated, -1 for any other failure. */
static int raw_exec(fx *f, const char *sql) {
  if (g_on_pg) {
    PGconn *c = PQconnectdb(f->path);
    PGresult *r = PQexec(c, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0
             : st && !strncmp(st, "23", 2)                                                 ? 1
                                                                                           : -1;
    PQclear(r);
    PQfinish(c);
    return rc;
  }
  sqlite3 *db;
  if (sqlite3_open(f->path, &db) != SQLITE_OK) return -1;
  sqlite3_busy_timeout(db, 5000);
  int r = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return r == SQLITE_OK ? 0 : r == SQLITE_CONSTRAINT ? 1 : -1;
}

/* The integer of the first column of the first row of `sql`, read behind the store's back. */
static long long raw_int(fx *f, const char *sql) {
  long long v = -1;
  if (g_on_pg) {
    PGconn *c = PQconnectdb(f->path);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      const char *s = PQgetvalue(r, 0, 0);
      v = *s == 't' ? 1 : *s == 'f' ? 0 : atoll(s);
    }
    PQclear(r);
    PQfinish(c);
    return v;
  }
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* A handle whose open failed: its message goes into `why`; every call on it is refused with
 * LMM_ERR_STATE and leaves that message as it was; then it is closed. */
static void failed_open(lmm_store *s, char *why, size_t cap) {
  assert_non_null(s);
  snprintf(why, cap, "%s", lmm_store_errmsg(s));
  assert_true(strlen(why) > 0);
  lmm_group_info *g = NULL;
  size_t n = 0;
  assert_int_equal(lmm_store_group_list(s, &g, &n), LMM_ERR_STATE);
  assert_string_equal(lmm_store_errmsg(s), why);
  lmm_store_close(s);
}

/* ------------------------------------------------------------ data */

static lmm_group_info group_named(const char *name, int64_t *sched, size_t nsched) {
  lmm_group_info g = {0};
  g.name = (char *)name;
  g.type = LMM_GROUP_MBMS;
  g.gm_oid = 42769;
  g.external_group_id = "meters@example.net";
  g.multicast_address = "ff35::1";
  g.multicast_port = 5684;
  g.response_time_window = 45;
  g.fanout_target = "coap://[ff35::1]:5684";
  g.schedule = sched, g.n_schedule = nsched;
  g.tmgi = "0a1b2c00101";
  g.tmgi_expiration = 1900000000;
  return g;
}

/* Field x of a and b: equal strings, or both NULL. */
#define STR_EQ(x)                                                                                  \
  do {                                                                                             \
    if (!a->x || !b->x)                                                                            \
      assert_ptr_equal(a->x, b->x);                                                                \
    else                                                                                           \
      assert_string_equal(a->x, b->x);                                                             \
  } while (0)

static void group_equal(const lmm_group_info *a, const lmm_group_info *b) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->gm_oid, b->gm_oid);
  STR_EQ(external_group_id);
  STR_EQ(multicast_address);
  STR_EQ(fanout_target);
  STR_EQ(tmgi);
  assert_int_equal(a->multicast_port, b->multicast_port);
  assert_int_equal(a->response_time_window, b->response_time_window);
  assert_int_equal(a->n_schedule, b->n_schedule);
  for (size_t i = 0; i < a->n_schedule; i++)
    assert_int_equal(a->schedule[i], b->schedule[i]);
  assert_int_equal(a->tmgi_expiration, b->tmgi_expiration);
}

static lmm_member *make_members(size_t n, const char *prefix, uint16_t oid) {
  lmm_member *m = calloc(n, sizeof *m);
  assert_non_null(m);
  for (size_t i = 0; i < n; i++) {
    char ep[64], uri[64];
    snprintf(ep, sizeof ep, "%s-%05zu", prefix, i);
    snprintf(uri, sizeof uri, "coap://127.0.%zu.%zu:5683", i / 250, i % 250 + 1);
    m[i].ep = strdup(ep), m[i].uri = strdup(uri), m[i].oid = oid;
    m[i].format = i % 2 ? 11542 : 110;
    assert_non_null(m[i].ep);
    assert_non_null(m[i].uri);
  }
  return m;
}

static void member_equal(const lmm_member *a, const lmm_member *b) {
  assert_string_equal(a->ep, b->ep);
  assert_int_equal(a->oid, b->oid);
  STR_EQ(uri);
  STR_EQ(psk_identity);
  assert_int_equal(a->psk_key_len, b->psk_key_len);
  if (a->psk_key_len) assert_memory_equal(a->psk_key, b->psk_key, a->psk_key_len);
  assert_int_equal(a->format, b->format);
}

static size_t member_count(lmm_store *s, const char *group) {
  lmm_member *m = NULL;
  size_t n = 0;
  assert_int_equal(lmm_store_members_get(s, group, &m, &n), LMM_OK);
  lmm_members_free(m, n);
  return n;
}

static lmm_campaign_info campaign_on(const char *group) {
  static uint8_t payload[] = {0x00, 0x01, 0x00, 0xff, 'x'};
  lmm_campaign_info c = {0};
  c.group = (char *)group;
  c.state = LMM_CS_CREATED;
  c.via = LMM_VIA_MBMS;
  c.op_kind = 1;
  c.op_path = "/5/0/1";
  c.op_format = 42;
  c.op_payload = payload, c.op_len = sizeof payload;
  c.op_query = "pmin=10&pmax=60";
  c.window_s = 30;
  c.repair = true;
  c.t8_status = -1;
  return c;
}

/* ------------------------------------------------------------ groups */

static void test_groups(void **state) {
  fx *f = *state;
  int64_t sched[] = {1700000000, 1700003600, -5};
  lmm_group_info g = group_named("meters", sched, 3), got;
  /* The store's clock, not time(): glibc's time() reads a coarse clock that can lag
   * CLOCK_REALTIME by a tick, so "created <= time(NULL)" fails at a second's edge. */
  int64_t before = lmm_ctx_wall_ms(f->ctx) / 1000;
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  assert_int_equal(lmm_store_group_get(f->s, "meters", &got), LMM_OK);
  group_equal(&g, &got);
  assert_true(got.created >= before && got.created <= lmm_ctx_wall_ms(f->ctx) / 1000);
  assert_int_equal(got.member_count, 0);
  assert_int_equal(got.gm_iid, 0); /* the first group: the instance campaigns always used */
  int64_t created = got.created;
  lmm_group_info_clear(&got);

  /* Refusals leave the store as it was. */
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "meters"));
  lmm_group_info bad = group_named("", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &bad), LMM_ERR_ARG);
  bad = group_named("x", NULL, 0), bad.type = 7;
  assert_int_equal(lmm_store_group_create(f->s, &bad), LMM_ERR_ARG);
  assert_int_equal(lmm_store_group_get(f->s, "x", &got), LMM_ERR_NOTFOUND);

  /* A zeroed Group Mgmt object ID means the default; no strings, no schedule. */
  lmm_group_info plain = {.name = "alpha", .type = LMM_GROUP_UNICAST, .multicast_port = -1};
  assert_int_equal(lmm_store_group_create(f->s, &plain), LMM_OK);
  assert_int_equal(lmm_store_group_get(f->s, "alpha", &got), LMM_OK);
  assert_int_equal(got.gm_oid, 42769);
  assert_int_equal(got.gm_iid, 1);
  assert_null(got.tmgi);
  assert_null(got.schedule);
  assert_int_equal(got.n_schedule, 0);
  assert_int_equal(got.multicast_port, -1);
  lmm_group_info_clear(&got);
  lmm_group_info z = group_named("zulu", NULL, 0);
  z.gm_iid = 1; /* the caller's value is not taken: the store picks a free one */
  assert_int_equal(lmm_store_group_create(f->s, &z), LMM_OK);

  lmm_group_info *list;
  size_t n;
  assert_int_equal(lmm_store_group_list(f->s, &list, &n), LMM_OK);
  assert_int_equal(n, 3);
  assert_string_equal(list[0].name, "alpha");
  assert_string_equal(list[1].name, "meters");
  assert_string_equal(list[2].name, "zulu");
  assert_int_equal(list[0].gm_iid, 1);
  assert_int_equal(list[1].gm_iid, 0);
  assert_int_equal(list[2].gm_iid, 2);
  group_equal(&list[1], &g);
  lmm_group_info_list_free(list, n);

  /* Update replaces every field but name and created. */
  int64_t sched2[] = {42};
  lmm_group_info u = {.name = "meters",
                      .type = LMM_GROUP_MULTICAST,
                      .gm_oid = 42770,
                      .multicast_address = "239.1.2.3",
                      .multicast_port = -1,
                      .response_time_window = 5,
                      .schedule = sched2,
                      .n_schedule = 1,
                      .tmgi_expiration = 0,
                      .created = 1,
                      .gm_iid = 2};
  assert_int_equal(lmm_store_group_update(f->s, &u), LMM_OK);
  assert_int_equal(lmm_store_group_get(f->s, "meters", &got), LMM_OK);
  group_equal(&u, &got);
  assert_int_equal(got.created, created);
  assert_int_equal(got.gm_iid, 0); /* kept: its members hold that instance */
  lmm_group_info_clear(&got);
  u.name = "nobody";
  assert_int_equal(lmm_store_group_update(f->s, &u), LMM_ERR_NOTFOUND);

  /* Delete takes the members along: a new group of the same name starts empty. */
  lmm_member *m = make_members(5, "dev", 42769);
  assert_int_equal(lmm_store_members_add(f->s, "meters", m, 5), LMM_OK);
  assert_int_equal(lmm_store_group_get(f->s, "meters", &got), LMM_OK);
  assert_int_equal(got.member_count, 5);
  lmm_group_info_clear(&got);
  assert_int_equal(lmm_store_group_delete(f->s, "meters"), LMM_OK);
  assert_int_equal(lmm_store_group_get(f->s, "meters", &got), LMM_ERR_NOTFOUND);
  lmm_member *mm;
  assert_int_equal(lmm_store_members_get(f->s, "meters", &mm, &n), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_group_delete(f->s, "meters"), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  assert_int_equal(member_count(f->s, "meters"), 0);
  assert_int_equal(lmm_store_group_get(f->s, "meters", &got), LMM_OK);
  assert_int_equal(got.gm_iid, 0); /* the deleted group's instance ID is free again */
  lmm_group_info_clear(&got);
  /* ...and the members' rows are really gone, not just unreachable. */
  assert_int_equal(raw_int(f, "SELECT count(*) FROM members"), 0);
  lmm_members_free(m, 5);
}

static int32_t iid_of(lmm_store *s, const char *name) {
  lmm_group_info g;
  assert_int_equal(lmm_store_group_get(s, name, &g), LMM_OK);
  int32_t iid = g.gm_iid;
  lmm_group_info_clear(&g);
  return iid;
}

/* Each group its own Group Mgmt instance ID: the smallest free one, gaps filled, until all of
 * 0..65534 are taken. */
static void test_group_mgmt_iids(void **state) {
  fx *f = *state;
  const char *names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++) {
    lmm_group_info g = group_named(names[i], NULL, 0);
    assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
    assert_int_equal(iid_of(f->s, names[i]), i);
  }
  assert_int_equal(lmm_store_group_delete(f->s, "b"), LMM_OK);
  assert_int_equal(lmm_store_group_delete(f->s, "c"), LMM_OK);
  lmm_group_info e = group_named("e", NULL, 0), g5 = group_named("f", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &e), LMM_OK);
  assert_int_equal(lmm_store_group_create(f->s, &g5), LMM_OK);
  assert_int_equal(iid_of(f->s, "e"), 1);
  assert_int_equal(iid_of(f->s, "f"), 2);
  assert_int_equal(lmm_store_group_delete(f->s, "a"), LMM_OK);
  lmm_group_info a = group_named("a2", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &a), LMM_OK);
  assert_int_equal(iid_of(f->s, "a2"), 0);

  /* The store keeps them unique even against a hand-edited file. */
  assert_int_equal(raw_exec(f, "UPDATE groups SET gm_iid = 0 WHERE name = 'e'"), 1);
  assert_int_equal(raw_exec(f, "UPDATE groups SET gm_iid = 65535 WHERE name = 'e'"), 1);

  /* Fill every other ID (one transaction, not 65535 group creates), then ask for one more. */
  assert_int_equal(
      raw_exec(f, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 65534)"
                  " INSERT INTO groups(name, type, gm_oid, multicast_port, response_time_window,"
                  " schedule, tmgi_expiration, created, gm_iid)"
                  " SELECT 'bulk' || i, 2, 42769, -1, 30, '', 0, 0, i FROM n"
                  " WHERE i NOT IN (SELECT gm_iid FROM groups)"),
      0);
  lmm_group_info *list;
  size_t n;
  assert_int_equal(lmm_store_group_list(f->s, &list, &n), LMM_OK);
  assert_int_equal(n, 65535);
  lmm_group_info_list_free(list, n);
  lmm_group_info full = group_named("one-too-many", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &full), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "no Group Mgmt instance ID left"));
  assert_int_equal(lmm_store_group_get(f->s, "one-too-many", &e), LMM_ERR_NOTFOUND);
  /* A taken name is still reported as such in a full store. */
  assert_int_equal(lmm_store_group_create(f->s, &a), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "a2 exists"));
  /* The last ID, and one in the middle, come back when their groups go. */
  assert_int_equal(raw_exec(f, "DELETE FROM groups WHERE gm_iid IN (40000, 65534)"), 0);
  assert_int_equal(lmm_store_group_create(f->s, &full), LMM_OK);
  assert_int_equal(iid_of(f->s, "one-too-many"), 40000);
  full.name = "last";
  assert_int_equal(lmm_store_group_create(f->s, &full), LMM_OK);
  assert_int_equal(iid_of(f->s, "last"), 65534);
}

/* ------------------------------------------------------------ members */

static void test_members(void **state) {
  fx *f = *state;
  lmm_group_info g = group_named("g", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  static uint8_t key[] = {0x00, 0x11, 0x00, 0x22};
  lmm_member m[3] = {
      {.ep = "c-last-alphabetically", .oid = 5, .uri = "coap://127.0.0.1:5683", .format = 110},
      {.ep = "a",
       .oid = 42769,
       .uri = "coaps://meter.example:5684",
       .psk_identity = "id-a",
       .psk_key = key,
       .psk_key_len = sizeof key,
       .format = 11542},
      {.ep = "a", .oid = 5, .uri = NULL, .format = 110}, /* same endpoint, other object */
  };
  assert_int_equal(lmm_store_members_add(f->s, "g", m, 3), LMM_OK);
  lmm_member *got;
  size_t n;
  assert_int_equal(lmm_store_members_get(f->s, "g", &got, &n), LMM_OK);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < 3; i++)
    member_equal(&got[i], &m[i]); /* insertion order, not name order */
  lmm_members_free(got, n);

  /* One already stored refuses the whole batch: "new" is not stored either. */
  lmm_member batch[2] = {{.ep = "new", .oid = 5, .format = 110}, m[1]};
  assert_int_equal(lmm_store_members_add(f->s, "g", batch, 2), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "ep=a/42769"));
  assert_non_null(strstr(lmm_store_errmsg(f->s), "already"));
  assert_int_equal(member_count(f->s, "g"), 3);
  /* A duplicate inside the batch too. */
  lmm_member twice[3] = {{.ep = "x", .oid = 1}, {.ep = "y", .oid = 1}, {.ep = "x", .oid = 1}};
  assert_int_equal(lmm_store_members_add(f->s, "g", twice, 3), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "ep=x/1"));
  assert_non_null(strstr(lmm_store_errmsg(f->s), "twice"));
  assert_int_equal(member_count(f->s, "g"), 3);
  lmm_member noname = {.ep = "", .oid = 1};
  assert_int_equal(lmm_store_members_add(f->s, "g", &noname, 1), LMM_ERR_ARG);
  assert_int_equal(lmm_store_members_add(f->s, "nogroup", m, 1), LMM_ERR_NOTFOUND);
  assert_true(strlen(lmm_store_errmsg(f->s)) > 0);
  assert_int_equal(lmm_store_members_get(f->s, "nogroup", &got, &n), LMM_ERR_NOTFOUND);

  /* Remove keeps the others' order; a later add goes to the end. */
  assert_int_equal(lmm_store_member_remove(f->s, "g", "a", 42769), LMM_OK);
  assert_int_equal(lmm_store_member_remove(f->s, "g", "a", 42769), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_member_remove(f->s, "nogroup", "a", 5), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_members_add(f->s, "g", &m[1], 1), LMM_OK);
  assert_int_equal(lmm_store_members_get(f->s, "g", &got, &n), LMM_OK);
  assert_int_equal(n, 3);
  member_equal(&got[0], &m[0]);
  member_equal(&got[1], &m[2]);
  member_equal(&got[2], &m[1]);
  lmm_members_free(got, n);
  /* The same member ID may be in two groups. */
  lmm_group_info g2 = group_named("g2", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &g2), LMM_OK);
  assert_int_equal(lmm_store_members_add(f->s, "g2", m, 3), LMM_OK);
  assert_int_equal(lmm_store_members_add(f->s, "g2", NULL, 0), LMM_OK);
  assert_int_equal(member_count(f->s, "g2"), 3);
}

/* ------------------------------------------------------------ campaigns */

static void test_campaign_create_1000(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(1000, "dev", 42769);
  lmm_campaign_info c = campaign_on("fleet");
  int64_t before = (int64_t)time(NULL) * 1000;
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 1000), LMM_OK);
  assert_true(c.id > 0);
  assert_true(c.created_ms >= before); /* 0 given: the store's clock */
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &o, &n), LMM_OK);
  assert_int_equal(n, 1000);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(o[i].ep, m[i].ep);
    assert_int_equal(o[i].oid, 42769);
    assert_int_equal(o[i].via, LMM_VIA_NONE);
    assert_false(o[i].done);
    assert_false(o[i].gm_written);
    assert_false(o[i].repaired);
    assert_int_equal(o[i].coap_code, 0);
    assert_int_equal(o[i].err, LMM_OK);
    assert_null(o[i].payload);
    assert_int_equal(o[i].payload_len, 0);
    assert_int_equal(o[i].content_format, -1);
    assert_int_equal(o[i].attempts, 0);
    assert_null(o[i].error);
    assert_int_equal(o[i].fw_end, 0);
    assert_int_equal(o[i].fw_state, -1);
    assert_int_equal(o[i].fw_result, -1);
    assert_false(o[i].fw_wave);
    assert_false(o[i].fw_pulled);
    assert_int_equal(o[i].fw_bytes_unicast, 0);
    assert_int_equal(o[i].fw_missed, 0);
    assert_int_equal(o[i].fw_repaired, 0);
  }
  lmm_outcome_list_free(o, n);

  /* A member listed twice: refused, and no campaign left behind. */
  lmm_campaign_info d = campaign_on("fleet");
  lmm_member dup[2] = {m[7], m[7]};
  assert_int_equal(lmm_store_campaign_create(f->s, &d, dup, 2), LMM_ERR_ARG);
  assert_int_equal(d.id, 0);
  lmm_campaign_info *list;
  assert_int_equal(lmm_store_campaign_list(f->s, NULL, &list, &n), LMM_OK);
  assert_int_equal(n, 1);
  lmm_campaign_info_list_free(list, n);
  lmm_campaign_info e = campaign_on("");
  assert_int_equal(lmm_store_campaign_create(f->s, &e, m, 1), LMM_ERR_ARG);
  lmm_members_free(m, 1000);
}

static void outcome_equal(const lmm_outcome *a, const lmm_outcome *b) {
  assert_string_equal(a->ep, b->ep);
  assert_int_equal(a->oid, b->oid);
  assert_int_equal(a->via, b->via);
  assert_int_equal(a->gm_written, b->gm_written);
  assert_int_equal(a->done, b->done);
  assert_int_equal(a->repaired, b->repaired);
  assert_int_equal(a->coap_code, b->coap_code);
  assert_int_equal(a->err, b->err);
  assert_int_equal(a->payload_len, b->payload_len);
  if (a->payload_len) assert_memory_equal(a->payload, b->payload, a->payload_len);
  assert_int_equal(a->content_format, b->content_format);
  assert_int_equal(a->attempts, b->attempts);
  assert_int_equal(a->latency_ms, b->latency_ms);
  STR_EQ(error);
  assert_int_equal(a->fw_end, b->fw_end);
  assert_int_equal(a->fw_state, b->fw_state);
  assert_int_equal(a->fw_result, b->fw_result);
  assert_int_equal(a->fw_wave, b->fw_wave);
  assert_int_equal(a->fw_pulled, b->fw_pulled);
  assert_int_equal(a->fw_bytes_unicast, b->fw_bytes_unicast);
  assert_int_equal(a->fw_missed, b->fw_missed);
  assert_int_equal(a->fw_repaired, b->fw_repaired);
}

static void test_outcomes_roundtrip(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(3, "dev", 5);
  lmm_campaign_info c = campaign_on("g");
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 3), LMM_OK);
  static uint8_t pl[] = {'a', 0, 'b', 0, 0, 'c'};
  /* Written in another order than the members': matched by ep + oid. */
  lmm_outcome o[2] = {
      {.ep = m[2].ep,
       .oid = 5,
       .via = LMM_VIA_UNICAST,
       .gm_written = true,
       .done = true,
       .repaired = true,
       .coap_code = 0x45,
       .err = LMM_OK,
       .payload = pl,
       .payload_len = sizeof pl,
       .content_format = 11542,
       .attempts = 3,
       .latency_ms = 1234567890123,
       .error = NULL,
       .fw_end = 1,
       .fw_state = 0,
       .fw_result = 1,
       .fw_wave = true,
       .fw_pulled = true,
       .fw_bytes_unicast = 5000000000ull, /* beyond 32 bits */
       .fw_missed = 4000000000u,          /* beyond INT32_MAX */
       .fw_repaired = 17},
      {.ep = m[0].ep,
       .oid = 5,
       .via = LMM_VIA_MBMS,
       .done = true,
       .coap_code = 0,
       .err = LMM_ERR_TIMEOUT,
       .content_format = -1,
       .attempts = 1,
       .latency_ms = 30000,
       .error = "no answer within the window",
       .fw_end = 0,
       .fw_state = -1,
       .fw_result = -1},
  };
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, o, 2), LMM_OK);
  lmm_outcome *got;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &got, &n), LMM_OK);
  assert_int_equal(n, 3);
  outcome_equal(&got[0], &o[1]);
  outcome_equal(&got[2], &o[0]);
  assert_false(got[1].done); /* untouched: still pending */
  assert_string_equal(got[1].ep, m[1].ep);
  lmm_outcome_list_free(got, n);

  /* A batch with one non-member changes nothing at all. */
  lmm_outcome bad[2] = {{.ep = m[1].ep, .oid = 5, .done = true, .content_format = -1},
                        {.ep = "stranger", .oid = 5, .content_format = -1}};
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, bad, 2), LMM_ERR_NOTFOUND);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "stranger"));
  bad[1].ep = m[1].ep, bad[1].oid = 42769; /* right name, wrong object */
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, bad, 2), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &got, &n), LMM_OK);
  assert_false(got[1].done);
  outcome_equal(&got[2], &o[0]);
  lmm_outcome_list_free(got, n);
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id + 100, o, 1), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id + 100, &got, &n), LMM_ERR_NOTFOUND);
  lmm_outcome noep = {.ep = NULL};
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, &noep, 1), LMM_ERR_ARG);
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, NULL, 0), LMM_OK);
  lmm_members_free(m, 3);
}

/* The counts a live view polls agree with what the outcomes themselves say, for every kind of
 * row: pending, answered, refused, failed, repaired, and firmware ends. */
static void test_outcome_counts(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(9, "dev", 5);
  lmm_campaign_info c = campaign_on("g");
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 9), LMM_OK);
  lmm_outcome_counts k, none;
  assert_int_equal(lmm_store_outcome_counts(f->s, c.id, &k), LMM_OK);
  assert_int_equal(k.members, 9);
  assert_int_equal(k.done + k.succeeded + k.refused + k.repaired, 0);
  lmm_outcome o[8];
  for (int i = 0; i < 8; i++) {
    lmm_outcome_init(&o[i]);
    o[i].ep = m[i].ep, o[i].oid = 5, o[i].done = true;
  }
  o[0].via = LMM_VIA_MBMS, o[0].coap_code = 0x45;                               /* by the group */
  o[1].via = LMM_VIA_MULTICAST, o[1].coap_code = 0x81;                          /* refused 4.01 */
  o[2].via = LMM_VIA_UNICAST, o[2].repaired = true, o[2].coap_code = 0x44;      /* repaired */
  o[3].via = LMM_VIA_UNICAST, o[3].repaired = true, o[3].err = LMM_ERR_TIMEOUT; /* failed */
  o[4].via = LMM_VIA_MBMS, o[4].coap_code = 0x84;                               /* failed 4.04 */
  o[5].via = LMM_VIA_UNICAST, o[5].coap_code = 0x83, o[5].err = LMM_ERR_COAP;   /* not refused */
  o[6].done = false, o[6].fw_end = LMM_FWC_UPDATED, o[6].via = LMM_VIA_MULTICAST;
  o[7].done = false, o[7].fw_end = LMM_FWC_REFUSED;
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, o, 8), LMM_OK);
  assert_int_equal(lmm_store_outcome_counts(f->s, c.id, &k), LMM_OK);
  assert_int_equal(k.members, 9);
  assert_int_equal(k.done, 8); /* dev 8 is still pending */
  assert_int_equal(k.succeeded, 3);
  assert_int_equal(k.refused, 2);
  assert_int_equal(k.by_via[LMM_VIA_MBMS], 2);
  assert_int_equal(k.by_via[LMM_VIA_MULTICAST], 2);
  assert_int_equal(k.by_via[LMM_VIA_UNICAST], 3);
  assert_int_equal(k.repaired, 2);
  /* The same figures from the rows themselves. */
  lmm_outcome *got;
  size_t n, refused = 0;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &got, &n), LMM_OK);
  for (size_t i = 0; i < n; i++)
    refused += lmm_outcome_refused(&got[i]);
  assert_int_equal(refused, k.refused);
  lmm_outcome_list_free(got, n);

  memset(&none, 0x5a, sizeof none);
  k = none;
  assert_int_equal(lmm_store_outcome_counts(f->s, c.id + 100, &k), LMM_ERR_NOTFOUND);
  assert_memory_equal(&k, &none, sizeof k); /* untouched */
  assert_non_null(strstr(lmm_store_errmsg(f->s), "no campaign"));
  assert_int_equal(lmm_store_outcome_counts(f->s, c.id, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_store_outcome_counts(NULL, c.id, &k), LMM_ERR_ARG);
  lmm_members_free(m, 9);
}

static void campaign_equal(const lmm_campaign_info *a, const lmm_campaign_info *b) {
  assert_int_equal(a->id, b->id);
  STR_EQ(group);
  assert_int_equal(a->state, b->state);
  assert_int_equal(a->via, b->via);
  assert_int_equal(a->op_kind, b->op_kind);
  STR_EQ(op_path);
  assert_int_equal(a->op_format, b->op_format);
  assert_int_equal(a->op_len, b->op_len);
  if (a->op_len) assert_memory_equal(a->op_payload, b->op_payload, a->op_len);
  STR_EQ(op_query);
  assert_int_equal(a->window_s, b->window_s);
  assert_int_equal(a->repair, b->repair);
  STR_EQ(token_hex);
  STR_EQ(tmgi);
  STR_EQ(t8_transaction);
  assert_int_equal(a->t8_status, b->t8_status);
  assert_int_equal(a->created_ms, b->created_ms);
  assert_int_equal(a->started_ms, b->started_ms);
  assert_int_equal(a->delivered_ms, b->delivered_ms);
  assert_int_equal(a->finished_ms, b->finished_ms);
  STR_EQ(error);
  assert_int_equal(a->kind, b->kind);
  STR_EQ(fw_summary);
  STR_EQ(fw_config);
  assert_int_equal(a->protect, b->protect);
  assert_int_equal(a->cancel_requested, b->cancel_requested);
}

static void test_campaign_update_list(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(2, "dev", 42769);
  lmm_campaign_info a = campaign_on("g1"), b = campaign_on("g2"), c = campaign_on("g1");
  a.created_ms = 1000, b.created_ms = 2000, c.created_ms = 3000;
  c.repair = false, c.op_query = NULL, c.op_payload = NULL, c.op_len = 0;
  assert_int_equal(lmm_store_campaign_create(f->s, &a, m, 2), LMM_OK);
  assert_int_equal(lmm_store_campaign_create(f->s, &b, m, 2), LMM_OK);
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 0), LMM_OK);
  assert_true(a.id < b.id && b.id < c.id);
  assert_int_equal(a.created_ms, 1000); /* given: kept */

  lmm_campaign_info got;
  assert_int_equal(lmm_store_campaign_get(f->s, a.id, &got), LMM_OK);
  campaign_equal(&got, &a);
  lmm_campaign_info_clear(&got);
  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  campaign_equal(&got, &c);
  lmm_campaign_info_clear(&got);

  lmm_campaign_info *list;
  size_t n;
  assert_int_equal(lmm_store_campaign_list(f->s, NULL, &list, &n), LMM_OK);
  assert_int_equal(n, 3);
  assert_int_equal(list[0].id, c.id);
  assert_int_equal(list[1].id, b.id);
  assert_int_equal(list[2].id, a.id);
  campaign_equal(&list[1], &b);
  lmm_campaign_info_list_free(list, n);
  assert_int_equal(lmm_store_campaign_list(f->s, "g1", &list, &n), LMM_OK);
  assert_int_equal(n, 2);
  assert_int_equal(list[0].id, c.id);
  assert_int_equal(list[1].id, a.id);
  lmm_campaign_info_list_free(list, n);
  assert_int_equal(lmm_store_campaign_list(f->s, "none", &list, &n), LMM_OK);
  assert_int_equal(n, 0);
  lmm_campaign_info_list_free(list, n);

  /* Update: the mutable fields change; the operation and creation time stay. */
  lmm_campaign_info u = a;
  u.state = LMM_CS_DONE, u.token_hex = "0123456789abcdef", u.tmgi = "0a1b2c00101";
  u.t8_transaction = "http://scef/3gpp-group-message-delivery-mb2/v1/as/deliveries/7";
  u.t8_status = 1, u.started_ms = 1100, u.delivered_ms = 1200, u.finished_ms = 1300;
  u.error = "2 members failed";
  u.op_path = "/ignored", u.created_ms = 99, u.via = LMM_VIA_UNICAST;
  assert_int_equal(lmm_store_campaign_update(f->s, &u), LMM_OK);
  assert_int_equal(lmm_store_campaign_get(f->s, a.id, &got), LMM_OK);
  u.op_path = a.op_path, u.created_ms = a.created_ms, u.via = a.via;
  campaign_equal(&got, &u);
  lmm_campaign_info_clear(&got);
  u.error = NULL, u.token_hex = NULL; /* back to NULL */
  assert_int_equal(lmm_store_campaign_update(f->s, &u), LMM_OK);
  assert_int_equal(lmm_store_campaign_get(f->s, a.id, &got), LMM_OK);
  assert_null(got.error);
  assert_null(got.token_hex);
  lmm_campaign_info_clear(&got);
  u.id = c.id + 1000;
  assert_int_equal(lmm_store_campaign_update(f->s, &u), LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_campaign_get(f->s, c.id + 1000, &got), LMM_ERR_NOTFOUND);
  lmm_members_free(m, 2);
}

static void test_outcome_init(void **state) {
  (void)state;
  lmm_outcome o;
  memset(&o, 0x5a, sizeof o);
  lmm_outcome_init(&o);
  assert_null(o.ep);
  assert_null(o.payload);
  assert_null(o.error);
  assert_false(o.done);
  assert_int_equal(o.content_format, -1);
  assert_int_equal(o.fw_end, 0);
  assert_int_equal(o.fw_state, -1);
  assert_int_equal(o.fw_result, -1);
  assert_int_equal(o.fw_bytes_unicast, 0);
  lmm_outcome_init(NULL);
}

/* A firmware campaign: its kind and summary round trip; update rewrites the summary only. */
static void test_firmware_campaign(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(3, "fw", 5);
  lmm_campaign_info c = campaign_on("meters");
  c.kind = LMM_CK_FIRMWARE, c.op_kind = 0, c.op_path = NULL, c.op_payload = NULL, c.op_len = 0;
  c.op_query = NULL, c.via = LMM_VIA_MULTICAST;
  c.fw_summary = "{\"size\":65536,\"phase\":\"created\"}";
  c.fw_config = "{\"blob_id\":\"00112233445566778899aabbccddeeff\"}";
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 3), LMM_OK);
  lmm_campaign_info got;
  lmm_campaign_info op = campaign_on("meters");
  op.fw_summary = NULL;
  op.protect = LMM_PROTECT_OFF;
  assert_int_equal(lmm_store_campaign_create(f->s, &op, m, 1), LMM_OK);
  assert_int_equal(lmm_store_campaign_get(f->s, op.id, &got), LMM_OK);
  assert_int_equal(got.protect, LMM_PROTECT_OFF); /* what a resume applies again */
  lmm_campaign_info_clear(&got);
  lmm_campaign_info badp = campaign_on("meters");
  badp.protect = 3;
  assert_int_equal(lmm_store_campaign_create(f->s, &badp, m, 1), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "protection policy"));

  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  campaign_equal(&got, &c);
  assert_int_equal(got.kind, LMM_CK_FIRMWARE);
  assert_false(got.cancel_requested);
  lmm_campaign_info_clear(&got);

  lmm_campaign_info u = c;
  u.state = LMM_CS_DELIVERING, u.kind = LMM_CK_OPERATION, u.cancel_requested = true;
  u.fw_summary = "{\"size\":65536,\"k\":128,\"phase\":\"sending\"}";
  assert_int_equal(lmm_store_campaign_update(f->s, &u), LMM_OK);
  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  u.kind = LMM_CK_FIRMWARE, u.cancel_requested = false; /* neither is update's to change */
  campaign_equal(&got, &u);
  assert_string_equal(got.fw_config, c.fw_config); /* set on create, kept */
  lmm_campaign_info_clear(&got);
  u.fw_summary = NULL;
  assert_int_equal(lmm_store_campaign_update(f->s, &u), LMM_OK);
  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  assert_null(got.fw_summary);
  lmm_campaign_info_clear(&got);

  lmm_campaign_info *list;
  size_t n;
  assert_int_equal(lmm_store_campaign_list(f->s, "meters", &list, &n), LMM_OK);
  assert_int_equal(n, 2);
  assert_int_equal(list[0].kind, LMM_CK_OPERATION);
  assert_null(list[0].fw_summary);
  assert_int_equal(list[1].kind, LMM_CK_FIRMWARE);
  lmm_campaign_info_list_free(list, n);

  lmm_campaign_info bad = campaign_on("meters");
  bad.kind = 7;
  assert_int_equal(lmm_store_campaign_create(f->s, &bad, m, 1), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_store_errmsg(f->s), "kind"));

  /* A member's firmware figures, then its final ones: each put replaces them all. */
  lmm_outcome o;
  lmm_outcome_init(&o);
  o.ep = m[1].ep, o.oid = 5, o.via = LMM_VIA_MULTICAST, o.fw_wave = true, o.fw_missed = 3;
  o.fw_state = 1;
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, &o, 1), LMM_OK);
  o.done = true, o.fw_end = 2, o.fw_state = 0, o.fw_result = 5, o.fw_repaired = 3;
  o.fw_bytes_unicast = 1536, o.err = LMM_ERR_TIMEOUT, o.error = "Update Result 5";
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, &o, 1), LMM_OK);
  lmm_outcome *out;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &out, &n), LMM_OK);
  assert_int_equal(n, 3);
  outcome_equal(&out[1], &o);
  assert_int_equal(out[0].fw_state, -1);
  lmm_outcome_list_free(out, n);
  lmm_members_free(m, 3);
}

/* The cancel flag: set by one connection (the `cancel` command), seen by another (the
 * process running the campaign); refused for unknown and finished campaigns. */
static void test_cancel_request(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(2, "dev", 5);
  lmm_campaign_info c = campaign_on("g"), done = campaign_on("g"), failed = campaign_on("g");
  c.kind = done.kind = failed.kind = LMM_CK_FIRMWARE;
  done.state = LMM_CS_DONE, failed.state = LMM_CS_FAILED;
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 2), LMM_OK);
  assert_int_equal(lmm_store_campaign_create(f->s, &done, m, 2), LMM_OK);
  assert_int_equal(lmm_store_campaign_create(f->s, &failed, m, 2), LMM_OK);

  lmm_store *other;
  assert_int_equal(lmm_store_open(f->ctx, f->path, &other), LMM_OK);
  bool req = true;
  assert_int_equal(lmm_store_campaign_cancel_requested(f->s, c.id, &req), LMM_OK);
  assert_false(req);
  assert_int_equal(lmm_store_campaign_request_cancel(other, c.id), LMM_OK);
  assert_int_equal(lmm_store_campaign_cancel_requested(f->s, c.id, &req), LMM_OK);
  assert_true(req);
  assert_int_equal(lmm_store_campaign_request_cancel(other, c.id), LMM_OK); /* again: fine */

  /* The running campaign's own updates keep the flag. */
  c.state = LMM_CS_DELIVERING, c.fw_summary = "{}";
  assert_int_equal(lmm_store_campaign_update(f->s, &c), LMM_OK);
  lmm_campaign_info got;
  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  assert_true(got.cancel_requested);
  lmm_campaign_info_clear(&got);

  assert_int_equal(lmm_store_campaign_request_cancel(other, done.id), LMM_ERR_STATE);
  assert_non_null(strstr(lmm_store_errmsg(other), "finished"));
  assert_int_equal(lmm_store_campaign_request_cancel(other, failed.id), LMM_ERR_STATE);
  assert_int_equal(lmm_store_campaign_cancel_requested(f->s, done.id, &req), LMM_OK);
  assert_false(req);
  assert_int_equal(lmm_store_campaign_request_cancel(other, failed.id + 50), LMM_ERR_NOTFOUND);
  assert_non_null(strstr(lmm_store_errmsg(other), "no campaign"));
  assert_int_equal(lmm_store_campaign_cancel_requested(f->s, failed.id + 50, &req),
                   LMM_ERR_NOTFOUND);
  assert_int_equal(lmm_store_campaign_cancel_requested(f->s, c.id, NULL), LMM_ERR_ARG);
  assert_int_equal(lmm_store_campaign_request_cancel(NULL, c.id), LMM_ERR_ARG);
  lmm_store_close(other);
  lmm_members_free(m, 2);
}

static void test_deleted_group_keeps_campaigns(void **state) {
  fx *f = *state;
  lmm_group_info g = group_named("gone", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  lmm_member *m = make_members(4, "dev", 42769);
  assert_int_equal(lmm_store_members_add(f->s, "gone", m, 4), LMM_OK);
  lmm_campaign_info c = campaign_on("gone");
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 4), LMM_OK);
  lmm_outcome o = {.ep = m[3].ep, .oid = 42769, .done = true, .coap_code = 0x44};
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, &o, 1), LMM_OK);
  assert_int_equal(lmm_store_group_delete(f->s, "gone"), LMM_OK);

  lmm_campaign_info got;
  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  assert_string_equal(got.group, "gone");
  lmm_campaign_info_clear(&got);
  lmm_outcome *out;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &out, &n), LMM_OK);
  assert_int_equal(n, 4);
  assert_true(out[3].done);
  assert_int_equal(out[3].coap_code, 0x44);
  lmm_outcome_list_free(out, n);
  lmm_campaign_info *list;
  assert_int_equal(lmm_store_campaign_list(f->s, "gone", &list, &n), LMM_OK);
  assert_int_equal(n, 1);
  lmm_campaign_info_list_free(list, n);
  lmm_members_free(m, 4);
}

/* ------------------------------------------------------------ durability */

static void test_reopen(void **state) {
  fx *f = *state;
  int64_t sched[] = {1, 2};
  lmm_group_info g = group_named("kept", sched, 2), gg;
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  lmm_member *m = make_members(10, "dev", 42769);
  assert_int_equal(lmm_store_members_add(f->s, "kept", m, 10), LMM_OK);
  lmm_campaign_info c = campaign_on("kept");
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, 10), LMM_OK);
  lmm_outcome o = {.ep = m[5].ep, .oid = 42769, .done = true, .error = "e"};
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, &o, 1), LMM_OK);

  reopen(f);
  assert_int_equal(lmm_store_group_get(f->s, "kept", &gg), LMM_OK);
  group_equal(&gg, &g);
  assert_int_equal(gg.member_count, 10);
  lmm_group_info_clear(&gg);
  lmm_member *mm;
  size_t n;
  assert_int_equal(lmm_store_members_get(f->s, "kept", &mm, &n), LMM_OK);
  assert_int_equal(n, 10);
  for (size_t i = 0; i < n; i++)
    member_equal(&mm[i], &m[i]);
  lmm_members_free(mm, n);
  lmm_campaign_info got;
  assert_int_equal(lmm_store_campaign_get(f->s, c.id, &got), LMM_OK);
  campaign_equal(&got, &c);
  lmm_campaign_info_clear(&got);
  lmm_outcome *out;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &out, &n), LMM_OK);
  assert_int_equal(n, 10);
  assert_true(out[5].done);
  assert_string_equal(out[5].error, "e");
  lmm_outcome_list_free(out, n);
  /* A new campaign after reopening never reuses an id. */
  lmm_campaign_info d = campaign_on("kept");
  assert_int_equal(lmm_store_campaign_create(f->s, &d, m, 1), LMM_OK);
  assert_true(d.id > c.id);
  lmm_members_free(m, 10);

  if (g_on_pg) {
    /* The keys' schema is closed to every other role of the server. */
    assert_int_equal(raw_exec(f, "CREATE ROLE other LOGIN"), 0);
    assert_int_equal(raw_int(f, "SELECT has_schema_privilege('other', 'keys', 'USAGE')"), 0);
    assert_int_equal(raw_int(f, "SELECT has_table_privilege('other', 'keys.secrets', 'SELECT')"),
                     0);
    assert_int_equal(raw_int(f, "SELECT has_table_privilege('other', 'groups', 'SELECT')"), 0);
    return;
  }
  /* The file is private: it holds PSK keys. */
  struct stat sb;
  assert_int_equal(stat(f->path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  char wal[280];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_int_equal(stat(wal, &sb), 0); /* WAL mode, and the journal as private as the file */
  assert_int_equal(sb.st_mode & 0777, 0600);
}

/* The crash: a child process starts writing 10,000 outcomes and dies at the N-th write(2)
 * SQLite makes inside the transaction, before COMMIT could finish. SQLite's unix VFS lets a
 * program replace its system calls, which puts the crash at an exact point. */
enum { CRASH_EXIT, CRASH_SIGKILL, FAIL_ENOSPC };
enum { CRASH_N = 10000, CRASH_AT_WRITE = 200 };
static int g_writes_left = -1; /* -1: not armed */
static int g_crash_mode, g_notify_fd;
static sqlite3_syscall_ptr g_real_write, g_real_pwrite, g_real_pwrite64;

static void crash_now(void) {
  if (g_crash_mode == CRASH_EXIT) _exit(86);
  /* Tell the parent we are mid-transaction, then wait for its SIGKILL. */
  if (write(g_notify_fd, "k", 1) != 1) _exit(87);
  for (;;)
    pause();
}

/* True when this write must not happen: the crash (which does not return) or, for
 * FAIL_ENOSPC, a full disk from the armed write on. */
static bool write_refused(void) {
  if (g_writes_left < 0) return false;
  if (g_writes_left > 0) {
    g_writes_left--;
    return false;
  }
  if (g_crash_mode != FAIL_ENOSPC) crash_now();
  errno = ENOSPC;
  return true;
}

static ssize_t hook_write(int fd, const void *b, size_t n) {
  if (write_refused()) return -1;
  return ((ssize_t(*)(int, const void *, size_t))g_real_write)(fd, b, n);
}
static ssize_t hook_pwrite(int fd, const void *b, size_t n, off_t off) {
  if (write_refused()) return -1;
  return ((ssize_t(*)(int, const void *, size_t, off_t))g_real_pwrite)(fd, b, n, off);
}
static ssize_t hook_pwrite64(int fd, const void *b, size_t n, off_t off) {
  if (write_refused()) return -1;
  return ((ssize_t(*)(int, const void *, size_t, off_t))g_real_pwrite64)(fd, b, n, off);
}

static void hook_syscalls(void) {
  sqlite3_vfs *v = sqlite3_vfs_find(NULL);
  if (!v || v->iVersion < 3 || !v->xSetSystemCall) _exit(88);
  g_real_write = v->xGetSystemCall(v, "write");
  g_real_pwrite = v->xGetSystemCall(v, "pwrite");
  g_real_pwrite64 = v->xGetSystemCall(v, "pwrite64");
  if (g_real_write) v->xSetSystemCall(v, "write", (sqlite3_syscall_ptr)hook_write);
  if (g_real_pwrite) v->xSetSystemCall(v, "pwrite", (sqlite3_syscall_ptr)hook_pwrite);
  if (g_real_pwrite64) v->xSetSystemCall(v, "pwrite64", (sqlite3_syscall_ptr)hook_pwrite64);
}

static void unhook_syscalls(void) {
  sqlite3_vfs *v = sqlite3_vfs_find(NULL);
  g_writes_left = -1;
  if (v && v->iVersion >= 3 && v->xSetSystemCall) v->xSetSystemCall(v, NULL, NULL); /* all */
}

/* One outcome per member of m[0..n), all done with `attempts`, payloads of `payload` bytes. */
static lmm_outcome *crash_outcomes(const lmm_member *m, size_t n, int attempts, size_t payload) {
  lmm_outcome *o = calloc(n, sizeof *o);
  uint8_t *pl = payload ? malloc(payload) : NULL;
  if (!o || (payload && !pl)) {
    free(o), free(pl);
    return NULL;
  }
  if (pl) memset(pl, 0xa5, payload);
  for (size_t i = 0; i < n; i++) {
    o[i].ep = m[i].ep, o[i].oid = m[i].oid, o[i].attempts = attempts, o[i].done = true;
    o[i].payload = pl, o[i].payload_len = payload, o[i].content_format = -1;
  }
  return o;
}

/* Frees what crash_outcomes() made (one payload buffer shared by all). */
static void crash_outcomes_free(lmm_outcome *o) {
  if (o) free(o[0].payload);
  free(o);
}

static void child_writes(const char *path, int mode, int notify_fd, const lmm_member *m,
                         int64_t id) {
  lmm_store *s = NULL;
  lmm_ctx *ctx = NULL;
  /* Payloads large enough that the transaction outgrows SQLite's page cache and spills
   * uncommitted frames into the -wal before COMMIT: the crash leaves real debris. */
  lmm_outcome *o = crash_outcomes(m, CRASH_N, 2, 300);
  if (!o || lmm_ctx_new(NULL, &ctx) != LMM_OK || lmm_store_open(ctx, path, &s) != LMM_OK) _exit(89);
  g_crash_mode = mode, g_notify_fd = notify_fd;
  hook_syscalls();
  g_writes_left = CRASH_AT_WRITE;
  lmm_store_outcomes_put(s, id, o, CRASH_N);
  _exit(0); /* reached only if the put finished without the crash firing */
}

static void crash_case(fx *f, int mode) {
  lmm_member *m = make_members(CRASH_N, "dev", 42769);
  lmm_campaign_info c = campaign_on("g");
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, CRASH_N), LMM_OK);
  lmm_outcome *old = crash_outcomes(m, CRASH_N, 1, 0);
  assert_non_null(old);
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, old, CRASH_N), LMM_OK);
  crash_outcomes_free(old);
  lmm_store_close(f->s); /* no SQLite connection crosses the fork */
  f->s = NULL;

  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    child_writes(f->path, mode, p[1], m, c.id);
  }
  close(p[1]);
  int st;
  if (mode == CRASH_SIGKILL) {
    char b;
    assert_int_equal(read(p[0], &b, 1), 1);
    kill(pid, SIGKILL);
  }
  assert_int_equal(waitpid(pid, &st, 0), pid);
  close(p[0]);
  if (mode == CRASH_EXIT) {
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 86);
  } else {
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
  }
  /* The crash left uncommitted frames behind in the -wal. */
  char wal[280];
  struct stat sb;
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_int_equal(stat(wal, &sb), 0);
  assert_true(sb.st_size > 0);

  reopen(f);
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &o, &n), LMM_OK);
  assert_int_equal(n, CRASH_N);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(o[i].attempts, 1); /* the old state, whole */
    assert_null(o[i].payload);
  }
  lmm_outcome_list_free(o, n);
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
  sqlite3_finalize(q);
  sqlite3_close(db);
  /* And the store goes on working. */
  lmm_outcome *again = crash_outcomes(m, CRASH_N, 3, 0);
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, again, CRASH_N), LMM_OK);
  crash_outcomes_free(again);
  lmm_members_free(m, CRASH_N);
}

static void test_crash_exit(void **state) {
  crash_case(*state, CRASH_EXIT);
}

static void test_crash_sigkill(void **state) {
  crash_case(*state, CRASH_SIGKILL);
}

/* A write failing in the middle (a full disk from the k-th write on, for several k): the put
 * reports LMM_ERR_DB with SQLite's reason, the store keeps its old state, and once the disk
 * has room again the same put goes through. */
static void test_disk_full(void **state) {
  fx *f = *state;
  lmm_member *m = make_members(CRASH_N, "dev", 42769);
  lmm_campaign_info c = campaign_on("g");
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, CRASH_N), LMM_OK);
  lmm_outcome *old = crash_outcomes(m, CRASH_N, 1, 0), *big = crash_outcomes(m, CRASH_N, 2, 300);
  assert_non_null(old);
  assert_non_null(big);
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, old, CRASH_N), LMM_OK);
  static const int at[] = {0, 1, 2, 7, 100, 1000};
  for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
    g_crash_mode = FAIL_ENOSPC;
    hook_syscalls();
    g_writes_left = at[k];
    assert_int_equal(lmm_store_outcomes_put(f->s, c.id, big, CRASH_N), LMM_ERR_DB);
    assert_true(strlen(lmm_store_errmsg(f->s)) > 0);
    unhook_syscalls();
    lmm_outcome *o;
    size_t n;
    assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &o, &n), LMM_OK);
    assert_int_equal(n, CRASH_N);
    for (size_t i = 0; i < n; i++)
      assert_int_equal(o[i].attempts, 1);
    lmm_outcome_list_free(o, n);
  }
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, big, CRASH_N), LMM_OK);
  reopen(f);
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &o, &n), LMM_OK);
  assert_int_equal(o[n - 1].attempts, 2);
  assert_int_equal(o[n - 1].payload_len, 300);
  lmm_outcome_list_free(o, n);
  crash_outcomes_free(old), crash_outcomes_free(big);
  lmm_members_free(m, CRASH_N);
}

/* SQLite's allocator with a countdown: the k-th allocation from now fails. Installed in main()
 * before SQLite initializes (sqlite3_config() refuses afterwards). */
static sqlite3_mem_methods g_mem;
static bool g_alloc_failed;

static bool alloc_refused(void) {
  if (g_fail_alloc_in < 0 || g_fail_alloc_in-- > 0) return false;
  g_alloc_failed = true;
  return true;
}
static void *fail_malloc(int n) {
  return alloc_refused() ? NULL : g_mem.xMalloc(n);
}
static void *fail_realloc(void *p, int n) {
  return alloc_refused() ? NULL : g_mem.xRealloc(p, n);
}

static bool install_failing_allocator(void) {
  sqlite3_mem_methods m;
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &g_mem) != SQLITE_OK) return false;
  m = g_mem;
  m.xMalloc = fail_malloc, m.xRealloc = fail_realloc;
  /* Lookaside memory would serve small allocations past the countdown. */
  return sqlite3_config(SQLITE_CONFIG_MALLOC, &m) == SQLITE_OK &&
         sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) == SQLITE_OK;
}

/* Runs `call` with the k-th SQLite allocation failing, for k = 0, 1, ... until it succeeds
 * without a failure; after each failure `unchanged` must still hold. */
#define FOR_EVERY_ALLOC_FAILURE(call, unchanged)                                                   \
  do {                                                                                             \
    int k_ = 0;                                                                                    \
    for (;; k_++) {                                                                                \
      assert_true(k_ < 100000);                                                                    \
      g_alloc_failed = false, g_fail_alloc_in = k_;                                                \
      lmm_err r_ = (call);                                                                         \
      g_fail_alloc_in = -1;                                                                        \
      if (r_ == LMM_OK && !g_alloc_failed) break;                                                  \
      if (r_ == LMM_OK) continue; /* a failure SQLite absorbed (e.g. a cache that stays cold) */   \
      assert_true(r_ == LMM_ERR_NOMEM || r_ == LMM_ERR_DB);                                        \
      unchanged;                                                                                   \
    }                                                                                              \
    print_message("  %s: %d failure points\n", #call, k_);                                         \
  } while (0)

static void test_out_of_memory(void **state) {
  fx *f = *state;
  if (!g_mem.xMalloc) skip(); /* SQLite was initialized before main() could install it */
  enum { N = 20 };
  lmm_group_info g = group_named("g", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  lmm_member *m = make_members(N, "dev", 42769);
  reopen(f); /* statements not yet prepared: their preparation fails too */
  FOR_EVERY_ALLOC_FAILURE(lmm_store_members_add(f->s, "g", m, N),
                          assert_int_equal(member_count(f->s, "g"), 0));
  assert_int_equal(member_count(f->s, "g"), N);

  lmm_campaign_info c = campaign_on("g");
  lmm_campaign_info *list;
  size_t n;
  FOR_EVERY_ALLOC_FAILURE(lmm_store_campaign_create(f->s, &c, m, N),
                          (assert_int_equal(c.id, 0),
                           assert_int_equal(lmm_store_campaign_list(f->s, NULL, &list, &n), LMM_OK),
                           assert_int_equal(n, 0), lmm_campaign_info_list_free(list, n)));
  assert_true(c.id > 0);

  lmm_outcome *o = crash_outcomes(m, N, 5, 10), *got;
  assert_non_null(o);
  FOR_EVERY_ALLOC_FAILURE(lmm_store_outcomes_put(f->s, c.id, o, N),
                          (assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &got, &n), LMM_OK),
                           assert_int_equal(n, N), assert_int_equal(got[0].attempts, 0),
                           assert_int_equal(got[N - 1].attempts, 0),
                           lmm_outcome_list_free(got, n)));
  assert_int_equal(lmm_store_outcomes_get(f->s, c.id, &got, &n), LMM_OK);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(got[i].attempts, 5);
  lmm_outcome_list_free(got, n);
  crash_outcomes_free(o);
  lmm_members_free(m, N);
}

/* Processes that find the same file missing at once: one creates the schema, the others
 * wait for it (busy timeout) and find ours; then they all write. */
static void test_concurrent_open(void **state) {
  fx *f = *state;
  enum { KIDS = 8 };
  char path[160];
  snprintf(path, sizeof path, "%s/new/state.db", f->dir);
  fflush(NULL);
  pid_t pid[KIDS];
  for (int i = 0; i < KIDS; i++) {
    assert_true((pid[i] = fork()) >= 0);
    if (pid[i] == 0) {
      lmm_store *s;
      char name[16];
      snprintf(name, sizeof name, "g%d", i);
      lmm_group_info g = group_named(name, NULL, 0);
      lmm_member *m = make_members(100, name, 5);
      if (lmm_store_open(f->ctx, path, &s) != LMM_OK) {
        fprintf(stderr, "child %d: %s\n", i, lmm_store_errmsg(s));
        _exit(1);
      }
      int rc = lmm_store_group_create(s, &g) != LMM_OK ||
               lmm_store_members_add(s, name, m, 100) != LMM_OK;
      lmm_store_close(s);
      _exit(rc ? 2 : 0);
    }
  }
  for (int i = 0; i < KIDS; i++) {
    int st;
    assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  lmm_store *s;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  lmm_group_info *g;
  size_t n;
  assert_int_equal(lmm_store_group_list(s, &g, &n), LMM_OK);
  assert_int_equal(n, KIDS);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(g[i].member_count, 100);
  lmm_group_info_list_free(g, n);
  lmm_store_close(s);
}

/* ------------------------------------------------------------ foreign files */

static void sql_on(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_refused(void **state) {
  fx *f = *state;
  char path[160], why[256];
  lmm_store *s = NULL;

  /* Not SQLite at all: refused, and left byte for byte as it was. */
  snprintf(path, sizeof path, "%s/notes.txt", f->dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  for (int i = 0; i < 200; i++)
    fputs("these are an operator's notes, not a database\n", fp);
  fclose(fp);
  struct stat before, after;
  assert_int_equal(stat(path, &before), 0);
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_ERR_DB);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "not a database"));
  assert_non_null(strstr(why, path));
  assert_int_equal(stat(path, &after), 0);
  assert_int_equal(after.st_size, before.st_size);

  /* SQLite, but another application's. */
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  sql_on(path, "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_ERR_DB);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "not a lwm2m-mbms store"));
  sql_on(path, "PRAGMA user_version=1"); /* a version alone does not make it ours */
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_ERR_DB);
  failed_open(s, why, sizeof why);

  /* Ours, but written by a newer program. */
  lmm_store_close(f->s);
  f->s = NULL;
  sql_on(f->path, "PRAGMA user_version=8");
  assert_int_equal(lmm_store_open(f->ctx, f->path, &s), LMM_ERR_DB);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "newer"));
  sql_on(f->path, "PRAGMA user_version=7");
  reopen(f);

  /* Nowhere to put it. */
  snprintf(path, sizeof path, "%s/notes.txt/sub/state.db", f->dir);
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_ERR_IO);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "notes.txt"));
  assert_int_equal(lmm_store_open(f->ctx, "", &s), LMM_ERR_ARG);
  failed_open(s, why, sizeof why);
}

/* ------------------------------------------------------------ schema upgrade */

/* Schema version 1 as the first release wrote it, frozen here: the upgrade must work on
 * exactly these files, whatever store.c's tables become. */
static const char V1_SCHEMA[] =
    "CREATE TABLE groups(name TEXT PRIMARY KEY NOT NULL CHECK(name <> ''),"
    " type INTEGER NOT NULL, gm_oid INTEGER NOT NULL CHECK(gm_oid BETWEEN 0 AND 65535),"
    " external_group_id TEXT, multicast_address TEXT, multicast_port INTEGER NOT NULL,"
    " response_time_window INTEGER NOT NULL, fanout_target TEXT, schedule TEXT NOT NULL,"
    " tmgi TEXT, tmgi_expiration INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE members(group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,"
    " position INTEGER NOT NULL, ep TEXT NOT NULL CHECK(ep <> ''),"
    " oid INTEGER NOT NULL CHECK(oid BETWEEN 0 AND 65535), uri TEXT, psk_identity TEXT,"
    " psk_key BLOB, format INTEGER NOT NULL, UNIQUE(group_name, ep, oid),"
    " UNIQUE(group_name, position));"
    "CREATE TABLE campaigns(id INTEGER PRIMARY KEY AUTOINCREMENT, group_name TEXT NOT NULL,"
    " state INTEGER NOT NULL, via INTEGER NOT NULL, op_kind INTEGER NOT NULL, op_path TEXT,"
    " op_format INTEGER NOT NULL, op_payload BLOB, op_query TEXT, window_s INTEGER NOT NULL,"
    " repair INTEGER NOT NULL, token_hex TEXT, tmgi TEXT, t8_transaction TEXT,"
    " t8_status INTEGER NOT NULL, created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL,"
    " delivered_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL, error TEXT);"
    "CREATE INDEX campaigns_by_group ON campaigns(group_name, id);"
    "CREATE TABLE outcomes(campaign INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL, ep TEXT NOT NULL,"
    " oid INTEGER NOT NULL CHECK(oid BETWEEN 0 AND 65535), via INTEGER NOT NULL DEFAULT 0,"
    " gm_written INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,"
    " repaired INTEGER NOT NULL DEFAULT 0, coap_code INTEGER NOT NULL DEFAULT 0,"
    " err INTEGER NOT NULL DEFAULT 0, payload BLOB,"
    " content_format INTEGER NOT NULL DEFAULT -1, attempts INTEGER NOT NULL DEFAULT 0,"
    " latency_ms INTEGER NOT NULL DEFAULT 0, error TEXT, PRIMARY KEY(campaign, ep, oid),"
    " UNIQUE(campaign, position));"
    "PRAGMA application_id=1280134483; PRAGMA user_version=1;"
    /* What a version 1 program had stored: a group, a member, a finished campaign with one
     * answered and one pending outcome, and a campaign still running. */
    "PRAGMA journal_mode=WAL;"
    "INSERT INTO groups VALUES('old', 1, 42769, NULL, '239.1.2.3', -1, 30, NULL, '', NULL, 0, 5);"
    "INSERT INTO members VALUES('old', 0, 'dev-a', 42769, 'coap://127.0.0.1:5701', NULL, NULL,"
    " 110);"
    "INSERT INTO campaigns VALUES(7, 'old', 5, 2, 1, '/3/0', 110, NULL, NULL, 30, 1, 'aa', NULL,"
    " NULL, -1, 1000, 1100, 1200, 1300, NULL);"
    "INSERT INTO campaigns VALUES(8, 'old', 3, 2, 1, '/3/0', 110, NULL, NULL, 30, 1, NULL, NULL,"
    " NULL, -1, 2000, 2100, 0, 0, NULL);"
    "INSERT INTO outcomes(campaign, position, ep, oid, via, done, coap_code, payload,"
    " content_format, attempts, latency_ms) VALUES(7, 0, 'dev-a', 42769, 2, 1, 69, x'41', 0,"
    " 1, 12);"
    "INSERT INTO outcomes(campaign, position, ep, oid) VALUES(7, 1, 'dev-b', 42769);";

static int pragma_int(const char *path, const char *pragma) {
  sqlite3 *db;
  sqlite3_stmt *st;
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA %s", pragma);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static bool has_column(const char *path, const char *table, const char *col) {
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  bool has = sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return has;
}

static void test_upgrade_v1(void **state) {
  fx *f = *state;
  char path[160];
  snprintf(path, sizeof path, "%s/v1.db", f->dir);
  sql_on(path, V1_SCHEMA);
  assert_int_equal(pragma_int(path, "user_version"), 1);

  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  lmm_store_close(s);
  assert_int_equal(pragma_int(path, "user_version"), 7);
  assert_true(has_column(path, "outcomes", "fw_repaired"));
  assert_true(has_column(path, "groups", "gm_iid"));

  /* What was there reads back as before, with the new fields at their defaults. */
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  lmm_group_info g;
  assert_int_equal(lmm_store_group_get(s, "old", &g), LMM_OK);
  assert_string_equal(g.multicast_address, "239.1.2.3");
  assert_int_equal(g.member_count, 1);
  assert_int_equal(g.gm_iid, 0);
  lmm_group_info_clear(&g);
  lmm_campaign_info c;
  assert_int_equal(lmm_store_campaign_get(s, 7, &c), LMM_OK);
  assert_int_equal(c.state, LMM_CS_DONE);
  assert_string_equal(c.token_hex, "aa");
  assert_int_equal(c.finished_ms, 1300);
  assert_int_equal(c.kind, LMM_CK_OPERATION);
  assert_null(c.fw_summary);
  assert_false(c.cancel_requested);
  lmm_campaign_info_clear(&c);
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(s, 7, &o, &n), LMM_OK);
  assert_int_equal(n, 2);
  assert_true(o[0].done);
  assert_int_equal(o[0].coap_code, 69);
  assert_int_equal(o[0].payload_len, 1);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(o[i].fw_end, 0);
    assert_int_equal(o[i].fw_state, -1);
    assert_int_equal(o[i].fw_result, -1);
    assert_false(o[i].fw_wave);
    assert_int_equal(o[i].fw_bytes_unicast, 0);
  }
  assert_int_equal(o[1].content_format, -1);
  lmm_outcome_list_free(o, n);

  /* And the new things work on it: a cancel request, a firmware campaign after the old ones. */
  assert_int_equal(lmm_store_campaign_request_cancel(s, 7), LMM_ERR_STATE);
  assert_int_equal(lmm_store_campaign_request_cancel(s, 8), LMM_OK);
  bool req = false;
  assert_int_equal(lmm_store_campaign_cancel_requested(s, 8, &req), LMM_OK);
  assert_true(req);
  lmm_member *m = make_members(1, "fw", 5);
  lmm_campaign_info fw = campaign_on("old");
  fw.kind = LMM_CK_FIRMWARE, fw.fw_summary = "{\"k\":3}";
  assert_int_equal(lmm_store_campaign_create(s, &fw, m, 1), LMM_OK);
  assert_true(fw.id > 8); /* AUTOINCREMENT carried over */
  lmm_campaign_info got;
  assert_int_equal(lmm_store_campaign_get(s, fw.id, &got), LMM_OK);
  campaign_equal(&got, &fw);
  lmm_campaign_info_clear(&got);
  lmm_members_free(m, 1);
  lmm_store_close(s);
  /* Opening again changes nothing more. */
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  lmm_store_close(s);
  assert_int_equal(pragma_int(path, "user_version"), 7);
}

/* Version 1 -> 2 as that release applied it, frozen like V1_SCHEMA; then what a version 2
 * program had stored on top of V1_SCHEMA's group "old": groups created in an order that is not
 * their names' order, one of them deleted since (a gap in the rowids). */
static const char V1_TO_V2[] =
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
    "ALTER TABLE outcomes ADD COLUMN fw_repaired INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version=2;"
    "INSERT INTO groups VALUES('zeta', 2, 42769, NULL, NULL, -1, 30, NULL, '', NULL, 0, 6);"
    "INSERT INTO groups VALUES('alpha', 1, 42770, NULL, '239.1.2.4', -1, 30, NULL, '', NULL, 0,"
    " 7);"
    "INSERT INTO groups VALUES('gone', 2, 42769, NULL, NULL, -1, 30, NULL, '', NULL, 0, 8);"
    "INSERT INTO groups VALUES('mid', 0, 42769, 'm@x.example', NULL, -1, 30, NULL, '1,2',"
    " '0a1b2c00101', 99, 9);"
    "DELETE FROM groups WHERE name = 'gone';";

static void test_upgrade_v2(void **state) {
  fx *f = *state;
  char path[160], why[256] = "";
  snprintf(path, sizeof path, "%s/v2.db", f->dir);
  sql_on(path, V1_SCHEMA);
  sql_on(path, V1_TO_V2);
  assert_int_equal(pragma_int(path, "user_version"), 2);
  assert_false(has_column(path, "groups", "gm_iid"));

  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  assert_int_equal(pragma_int(path, "user_version"), 7);
  /* Distinct instance IDs in creation order; the oldest group keeps instance 0. */
  assert_int_equal(iid_of(s, "old"), 0);
  assert_int_equal(iid_of(s, "zeta"), 1);
  assert_int_equal(iid_of(s, "alpha"), 2);
  assert_int_equal(iid_of(s, "mid"), 3);
  lmm_group_info g;
  assert_int_equal(lmm_store_group_get(s, "mid", &g), LMM_OK); /* the rest as it was */
  assert_string_equal(g.tmgi, "0a1b2c00101");
  assert_int_equal(g.n_schedule, 2);
  assert_int_equal(g.created, 9);
  lmm_group_info_clear(&g);
  lmm_campaign_info c;
  assert_int_equal(lmm_store_campaign_get(s, 7, &c), LMM_OK);
  assert_int_equal(c.state, LMM_CS_DONE);
  lmm_campaign_info_clear(&c);
  /* New groups take the free IDs after them, and the gap a deleted one leaves. */
  lmm_group_info n = group_named("new", NULL, 0);
  assert_int_equal(lmm_store_group_create(s, &n), LMM_OK);
  assert_int_equal(iid_of(s, "new"), 4);
  assert_int_equal(lmm_store_group_delete(s, "zeta"), LMM_OK);
  n.name = "newer";
  assert_int_equal(lmm_store_group_create(s, &n), LMM_OK);
  assert_int_equal(iid_of(s, "newer"), 1);
  lmm_store_close(s);
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  assert_int_equal(iid_of(s, "alpha"), 2); /* reopening renumbers nothing */
  lmm_store_close(s);
  assert_int_equal(pragma_int(path, "user_version"), 7);

  /* A step 2 -> 3 that fails (a hand-added column of that name) leaves version 2 whole. */
  snprintf(path, sizeof path, "%s/v2-odd.db", f->dir);
  sql_on(path, V1_SCHEMA);
  sql_on(path, V1_TO_V2);
  sql_on(path, "ALTER TABLE groups ADD COLUMN gm_iid TEXT");
  s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_ERR_DB);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "from schema version 2 to 3"));
  assert_int_equal(pragma_int(path, "user_version"), 2);
}

/* Version 2 -> 3 as that release applied it, frozen; then what a version 3 program stored: an
 * MBMS group with a TMGI, and a finished campaign with its outcomes. */
static const char V2_TO_V3[] =
    "ALTER TABLE groups ADD COLUMN gm_iid INTEGER NOT NULL DEFAULT 0"
    " CHECK(gm_iid BETWEEN 0 AND 65534);"
    "UPDATE groups SET gm_iid = (SELECT count(*) FROM groups o WHERE o.rowid < groups.rowid);"
    "CREATE UNIQUE INDEX groups_by_gm_iid ON groups(gm_iid);"
    "PRAGMA user_version=3;"
    "INSERT INTO groups VALUES('m3', 0, 42769, 'm3@x.example', NULL, -1, 30, NULL, '',"
    " '0a1b2c00101', 4102444800, 10, 9);"
    "INSERT INTO campaigns(id, group_name, state, via, op_kind, op_path, op_format, window_s,"
    " repair, tmgi, t8_status, created_ms, started_ms, delivered_ms, finished_ms)"
    " VALUES(9, 'm3', 5, 1, 0, '/6/0', 0, 30, 1, '0a1b2c00101', 1, 1, 2, 3, 4);"
    "INSERT INTO outcomes(campaign, position, ep, oid, via, gm_written, done, repaired,"
    " coap_code) VALUES(9, 0, 'dev-c', 6, 3, 1, 1, 1, 69);";

static void test_upgrade_v3(void **state) {
  fx *f = *state;
  char path[160];
  snprintf(path, sizeof path, "%s/v3.db", f->dir);
  sql_on(path, V1_SCHEMA);
  sql_on(path, V1_TO_V2);
  sql_on(path, V2_TO_V3);
  assert_int_equal(pragma_int(path, "user_version"), 3);
  assert_false(has_column(path, "outcomes", "gm_step"));
  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  assert_int_equal(pragma_int(path, "user_version"), 7);
  /* The old rows read back with the new fields at "not recorded". */
  lmm_group_info g;
  assert_int_equal(lmm_store_group_get(s, "m3", &g), LMM_OK);
  assert_string_equal(g.tmgi, "0a1b2c00101");
  assert_int_equal(g.tmgi_policy, LMM_TMGI_KEEP);
  g.tmgi_policy = LMM_TMGI_RELEASE; /* and the new setting is kept */
  assert_int_equal(lmm_store_group_update(s, &g), LMM_OK);
  g.tmgi_policy = 7;
  assert_int_equal(lmm_store_group_update(s, &g), LMM_ERR_ARG);
  assert_non_null(strstr(lmm_store_errmsg(s), "TMGI policy"));
  lmm_group_info_clear(&g);
  assert_int_equal(lmm_store_group_get(s, "m3", &g), LMM_OK);
  assert_int_equal(g.tmgi_policy, LMM_TMGI_RELEASE);
  lmm_group_info_clear(&g);
  lmm_campaign_info c;
  assert_int_equal(lmm_store_campaign_get(s, 9, &c), LMM_OK);
  assert_int_equal(c.op_accept, LMM_ACCEPT_AUTO);
  assert_int_equal(c.tmgi_end, LMM_TMGI_END_NONE);
  assert_int_equal(c.protect, LMM_PROTECT_AUTO); /* version 7's column: what resume applied */
  c.tmgi_end = LMM_TMGI_END_RELEASED;
  assert_int_equal(lmm_store_campaign_update(s, &c), LMM_OK);
  lmm_campaign_info_clear(&c);
  assert_int_equal(lmm_store_campaign_get(s, 9, &c), LMM_OK);
  assert_int_equal(c.tmgi_end, LMM_TMGI_END_RELEASED);
  lmm_outcome *o;
  size_t n;
  assert_int_equal(lmm_store_outcomes_get(s, 9, &o, &n), LMM_OK);
  assert_int_equal(n, 1);
  assert_true(o[0].gm_written);
  assert_int_equal(o[0].gm_step, LMM_STEP_NONE);
  assert_int_equal(o[0].group_step, LMM_STEP_NONE);
  assert_int_equal(o[0].unicast_step, LMM_STEP_NONE);
  assert_null(o[0].gm_error);
  assert_null(o[0].fw_pkg_version);
  assert_false(o[0].fw_exec); /* version 5's column: not asked */
  assert_null(c.fw_config);   /* an old firmware campaign has no settings to resume with */
  /* The steps go in and come back. */
  o[0].gm_step = LMM_STEP_REFUSED, o[0].gm_code = 0x84, o[0].gm_error = strdup("4.04 Not Found");
  o[0].group_step = LMM_STEP_SILENT;
  o[0].unicast_step = LMM_STEP_OK, o[0].unicast_code = 0x45;
  o[0].fw_pkg_version = strdup("2.1");
  o[0].fw_exec = true;
  assert_int_equal(lmm_store_outcomes_put(s, 9, o, 1), LMM_OK);
  lmm_outcome_list_free(o, n);
  assert_int_equal(lmm_store_outcomes_get(s, 9, &o, &n), LMM_OK);
  assert_int_equal(o[0].gm_step, LMM_STEP_REFUSED);
  assert_int_equal(o[0].gm_code, 0x84);
  assert_string_equal(o[0].gm_error, "4.04 Not Found");
  assert_int_equal(o[0].group_step, LMM_STEP_SILENT);
  assert_int_equal(o[0].unicast_step, LMM_STEP_OK);
  assert_int_equal(o[0].unicast_code, 0x45);
  assert_null(o[0].unicast_error);
  assert_string_equal(o[0].fw_pkg_version, "2.1");
  assert_true(o[0].fw_exec);
  lmm_outcome_list_free(o, n);
  lmm_campaign_info_clear(&c);
  lmm_store_close(s);
  assert_string_equal(lmm_step_name(LMM_STEP_SILENT), "silent");
  assert_string_equal(lmm_step_name(99), "-");
}

/* Versions 3 -> 4 and 4 -> 5 as those releases applied them, frozen; then what a version 5
 * program stored: members with their PSKs in the members table, one of them in a group whose
 * name holds the characters a key's name escapes. */
static const char V3_TO_V5[] =
    "ALTER TABLE groups ADD COLUMN tmgi_policy INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE campaigns ADD COLUMN op_accept INTEGER NOT NULL DEFAULT 65534;"
    "ALTER TABLE campaigns ADD COLUMN tmgi_end INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN gm_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN gm_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN gm_error TEXT;"
    "ALTER TABLE outcomes ADD COLUMN group_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN group_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN unicast_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN unicast_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN unicast_error TEXT;"
    "ALTER TABLE outcomes ADD COLUMN fw_pkg_version TEXT;"
    "ALTER TABLE campaigns ADD COLUMN fw_config TEXT;"
    "ALTER TABLE outcomes ADD COLUMN fw_exec INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version=5;"
    "INSERT INTO groups(name, type, gm_oid, multicast_port, response_time_window, schedule,"
    " tmgi_expiration, created, gm_iid) VALUES('a/b%2Fc', 2, 42769, -1, 30, '', 0, 11, 40);"
    "INSERT INTO members(group_name, position, ep, oid, uri, psk_identity, psk_key, format)"
    " VALUES('old', 1, 'dev-k', 6, 'coaps://127.0.0.1:5702', 'dev-k',"
    " x'8a0b5c1d9e2f3a4b5c6d7e8f90a1b2c3', 110),"
    " ('a/b%2Fc', 0, 'dev-k', 6, 'coaps://127.0.0.1:5702', 'dev-k',"
    " x'f0e1d2c3b4a5968778695a4b3c2d1e0f', 11542);";

static const uint8_t V5_KEY_OLD[16] = {0x8a, 0x0b, 0x5c, 0x1d, 0x9e, 0x2f, 0x3a, 0x4b,
                                       0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0xa1, 0xb2, 0xc3};
static const uint8_t V5_KEY_ODD[16] = {0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                                       0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

/* Whether file `path` (absent: no) holds the `n` bytes of `k`. */
static bool file_has(const char *path, const uint8_t *k, size_t n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return false;
  size_t cap = 1 << 16, len = 0;
  uint8_t *b = malloc(cap);
  assert_non_null(b);
  size_t got;
  while ((got = fread(b + len, 1, cap - len, fp)) > 0)
    if ((len += got) == cap) assert_non_null(b = realloc(b, cap *= 2));
  fclose(fp);
  bool has = memmem(b, len, k, n) != NULL;
  free(b);
  return has;
}

/* Whether the state file at `path` or its -wal or -shm holds `k`. */
static bool state_has(const char *path, const uint8_t *k, size_t n) {
  char p[200];
  bool has = file_has(path, k, n);
  snprintf(p, sizeof p, "%s-wal", path);
  has |= file_has(p, k, n);
  snprintf(p, sizeof p, "%s-shm", path);
  return has | file_has(p, k, n);
}

static void member_key_is(lmm_store *s, const char *group, size_t i, const uint8_t *k) {
  lmm_member *m;
  size_t n;
  assert_int_equal(lmm_store_members_get(s, group, &m, &n), LMM_OK);
  assert_true(i < n);
  assert_int_equal(m[i].psk_key_len, 16);
  assert_memory_equal(m[i].psk_key, k, 16);
  assert_string_equal(m[i].psk_identity, "dev-k");
  lmm_members_free(m, n);
}

static void test_upgrade_v5_keys(void **state) {
  fx *f = *state;
  char path[160], keys[180];
  snprintf(path, sizeof path, "%s/v5.db", f->dir);
  snprintf(keys, sizeof keys, "%s.keys", path);
  sql_on(path, V1_SCHEMA);
  sql_on(path, V1_TO_V2);
  sql_on(path, V2_TO_V3);
  sql_on(path, V3_TO_V5);
  assert_int_equal(pragma_int(path, "user_version"), 5);
  assert_true(state_has(path, V5_KEY_OLD, 16)); /* the search finds what is there */
  assert_int_equal(access(keys, F_OK), -1);

  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  assert_int_equal(pragma_int(path, "user_version"), 7);
  assert_false(has_column(path, "members", "psk_key"));
  /* The members read back as before, keys included; a member without a key has none. */
  member_key_is(s, "old", 1, V5_KEY_OLD);
  member_key_is(s, "a/b%2Fc", 0, V5_KEY_ODD);
  lmm_member *m;
  size_t n;
  assert_int_equal(lmm_store_members_get(s, "old", &m, &n), LMM_OK);
  assert_int_equal(n, 2);
  assert_null(m[0].psk_key);
  assert_int_equal(m[0].psk_key_len, 0);
  assert_int_equal(m[1].format, 110);
  lmm_members_free(m, n);
  /* Gone from the state file already, before the close folds the journal in. */
  assert_false(state_has(path, V5_KEY_OLD, 16));
  assert_false(state_has(path, V5_KEY_ODD, 16));
  lmm_store_close(s);
  assert_false(state_has(path, V5_KEY_OLD, 16));
  assert_false(state_has(path, V5_KEY_ODD, 16));
  assert_true(file_has(keys, V5_KEY_OLD, 16));
  assert_true(file_has(keys, V5_KEY_ODD, 16));
  struct stat sb;
  assert_int_equal(stat(keys, &sb), 0);
  assert_int_equal(sb.st_mode & 07777, 0600);

  /* A removed member's key leaves the key file too, its bytes overwritten. */
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  member_key_is(s, "old", 1, V5_KEY_OLD);
  assert_int_equal(lmm_store_member_remove(s, "a/b%2Fc", "dev-k", 6), LMM_OK);
  member_key_is(s, "old", 1,
                V5_KEY_OLD); /* the other group's member of the same ep keeps its own */
  lmm_store_close(s);
  assert_false(file_has(keys, V5_KEY_ODD, 16));
  assert_true(file_has(keys, V5_KEY_OLD, 16));
  assert_int_equal(pragma_int(path, "user_version"), 7);
}

/* An upgrade that fails halfway leaves the file at version 1, with none of its changes. */
static void test_upgrade_fails_whole(void **state) {
  fx *f = *state;
  char path[160], why[256] = "";
  snprintf(path, sizeof path, "%s/v1-odd.db", f->dir);
  sql_on(path, V1_SCHEMA);
  /* A column of that name already there (hand-edited file): the 4th ALTER of the step fails. */
  sql_on(path, "ALTER TABLE outcomes ADD COLUMN fw_end TEXT");
  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_ERR_DB);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "from schema version 1 to 2"));
  assert_non_null(strstr(why, "fw_end"));
  assert_int_equal(pragma_int(path, "user_version"), 1);
  assert_false(has_column(path, "campaigns", "kind")); /* the ALTERs before it: rolled back */
  assert_false(has_column(path, "campaigns", "cancel_requested"));
  /* Repaired by hand, it upgrades. */
  sql_on(path, "ALTER TABLE outcomes DROP COLUMN fw_end");
  assert_int_equal(lmm_store_open(f->ctx, path, &s), LMM_OK);
  lmm_store_close(s);
  assert_int_equal(pragma_int(path, "user_version"), 7);
}

/* ------------------------------------------------------------ directories */

/* The store makes the directories its path needs, private. Which path that is when none is
 * given is the command line's business (the library never reads the environment): see
 * test_cli_store_path and test_cli_groups. */
static void test_open_makes_dirs(void **state) {
  fx *f = *state;
  lmm_store *s = NULL;
  char why[256];
  assert_int_equal(lmm_store_open(f->ctx, NULL, &s), LMM_ERR_ARG);
  failed_open(s, why, sizeof why);
  assert_non_null(strstr(why, "no store path"));

  char home[160], dir[200], db[240];
  snprintf(home, sizeof home, "%s/home", f->dir);
  snprintf(dir, sizeof dir, "%s/.local/state/lwm2m-mbms", home);
  snprintf(db, sizeof db, "%s/state.db", dir);
  assert_int_equal(lmm_store_open(f->ctx, db, &s), LMM_OK);
  lmm_store_close(s);
  struct stat sb;
  assert_int_equal(stat(dir, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_int_equal(sb.st_mode & 0777, 0700);
  assert_int_equal(stat(db, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  snprintf(db, sizeof db, "%s/xdg/lwm2m-mbms/state.db", f->dir);
  assert_int_equal(lmm_store_open(f->ctx, db, &s), LMM_OK);
  lmm_store_close(s);
  assert_int_equal(stat(db, &sb), 0);
}

/* ------------------------------------------------------------ speed */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_timing_10000(void **state) {
  fx *f = *state;
  enum { N = 10000 };
  lmm_member *m = make_members(N, "dev", 42769);
  lmm_campaign_info c = campaign_on("g");
  double t0 = now_s();
  assert_int_equal(lmm_store_campaign_create(f->s, &c, m, N), LMM_OK);
  double t1 = now_s();
  lmm_outcome *o = calloc(N, sizeof *o);
  assert_non_null(o);
  static uint8_t pl[] = "{\"bn\":\"/3/0/\",\"n\":\"0\",\"vs\":\"ACME\"}";
  for (size_t i = 0; i < N; i++)
    o[i] = (lmm_outcome){.ep = m[i].ep,
                         .oid = 42769,
                         .via = LMM_VIA_MBMS,
                         .done = true,
                         .coap_code = 0x45,
                         .payload = pl,
                         .payload_len = sizeof pl - 1,
                         .content_format = 110,
                         .attempts = 1,
                         .latency_ms = (int64_t)i};
  double t2 = now_s();
  assert_int_equal(lmm_store_outcomes_put(f->s, c.id, o, N), LMM_OK);
  double t3 = now_s();
  print_message("store: campaign_create with %d members %.1f ms; outcomes_put of %d: %.1f ms\n", N,
                (t1 - t0) * 1e3, N, (t3 - t2) * 1e3);
  free(o);
  lmm_members_free(m, N);
}

/* A URI's password never shows in a message: a refused login names the URI with it masked. */
static void test_pg_uri_masked(void **state) {
  fx *f = *state;
  char bad[300], *at = strchr(f->path, '@');
  assert_non_null(at);
  snprintf(bad, sizeof bad, "postgresql://lmm:wrong-%s%s", g_pg.password, at);
  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(f->ctx, bad, &s), LMM_ERR_DB);
  const char *why = lmm_store_errmsg(s);
  assert_null(strstr(why, g_pg.password));
  assert_non_null(strstr(why, "postgresql://lmm:***@127.0.0.1"));
  assert_non_null(strstr(why, "cannot connect"));
  lmm_store_close(s);
  /* ...and a database of another application is refused, not taken over. */
  assert_int_equal(raw_exec(f, "CREATE DATABASE foreign_app"), 0);
  char other[256];
  snprintf(other, sizeof other, "%.*s/foreign_app", (int)(strrchr(f->path, '/') - f->path),
           f->path);
  fx g = *f;
  snprintf(g.path, sizeof g.path, "%s", other);
  assert_int_equal(raw_exec(&g, "CREATE TABLE stuff(x INTEGER)"), 0);
  assert_int_equal(lmm_store_open(f->ctx, other, &s), LMM_ERR_DB);
  assert_non_null(strstr(lmm_store_errmsg(s), "not a lwm2m-mbms store"));
  assert_null(strstr(lmm_store_errmsg(s), g_pg.password));
  lmm_store_close(s);
}

/* Members' PSKs on PostgreSQL: read back with the members, never in the state tables, gone
 * with their member, and one whose member was deleted behind the store's back is swept at the
 * next open. */
static void test_pg_member_keys(void **state) {
  fx *f = *state;
  static const uint8_t k1[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  static const uint8_t k2[16] = {0x5a, 0xa5, 0x0f, 0xf0, 9, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7};
  lmm_member m[2] = {{.ep = "dev-a",
                      .oid = 6,
                      .uri = "coaps://127.0.0.1:5999",
                      .psk_identity = "dev-a",
                      .psk_key = (uint8_t *)k1,
                      .psk_key_len = 16},
                     {.ep = "dev-b",
                      .oid = 6,
                      .uri = "coaps://127.0.0.1:5999",
                      .psk_identity = "dev-b",
                      .psk_key = (uint8_t *)k2,
                      .psk_key_len = 16}};
  lmm_group_info g = group_named("g1", NULL, 0);
  assert_int_equal(lmm_store_group_create(f->s, &g), LMM_OK);
  assert_int_equal(lmm_store_members_add(f->s, "g1", m, 2), LMM_OK);
  lmm_member *got;
  size_t n;
  assert_int_equal(lmm_store_members_get(f->s, "g1", &got, &n), LMM_OK);
  assert_int_equal(n, 2);
  assert_int_equal(got[1].psk_key_len, 16);
  assert_memory_equal(got[1].psk_key, k2, 16);
  lmm_members_free(got, n);
  assert_int_equal(raw_int(f, "SELECT count(*) FROM keys.secrets WHERE kind = 'psk'"), 2);
  /* A member listed twice: neither the batch's members nor their keys stay. */
  lmm_member dup[2] = {m[0], m[0]};
  dup[0].ep = dup[1].ep = "dev-c";
  assert_int_equal(lmm_store_members_add(f->s, "g1", dup, 2), LMM_ERR_STATE);
  assert_int_equal(raw_int(f, "SELECT count(*) FROM keys.secrets"), 2);
  assert_int_equal(lmm_store_member_remove(f->s, "g1", "dev-a", 6), LMM_OK);
  assert_int_equal(raw_int(f, "SELECT count(*) FROM keys.secrets"), 1);
  assert_int_equal(raw_exec(f, "DELETE FROM members WHERE ep = 'dev-b'"), 0);
  reopen(f);
  assert_int_equal(raw_int(f, "SELECT count(*) FROM keys.secrets"), 0);
}

/* The cases about the store's contract, not about SQLite's files: run on both engines. */
#define PORTABLE_CASES                                                                             \
  cmocka_unit_test_setup_teardown(test_groups, setup, teardown),                                   \
      cmocka_unit_test_setup_teardown(test_group_mgmt_iids, setup, teardown),                      \
      cmocka_unit_test_setup_teardown(test_members, setup, teardown),                              \
      cmocka_unit_test_setup_teardown(test_campaign_create_1000, setup, teardown),                 \
      cmocka_unit_test_setup_teardown(test_outcomes_roundtrip, setup, teardown),                   \
      cmocka_unit_test_setup_teardown(test_outcome_counts, setup, teardown),                       \
      cmocka_unit_test_setup_teardown(test_campaign_update_list, setup, teardown),                 \
      cmocka_unit_test_setup_teardown(test_outcome_init, setup, teardown),                         \
      cmocka_unit_test_setup_teardown(test_firmware_campaign, setup, teardown),                    \
      cmocka_unit_test_setup_teardown(test_cancel_request, setup, teardown),                       \
      cmocka_unit_test_setup_teardown(test_deleted_group_keeps_campaigns, setup, teardown),        \
      cmocka_unit_test_setup_teardown(test_reopen, setup, teardown)

int main(void) {
  if (!install_failing_allocator()) g_mem.xMalloc = NULL;
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER")); /* e.g. "*crash*" */
  if (lmm_global_init() != LMM_OK) return 1;
  int engine = lmmt_pg_from_env(&g_pg);
  if (engine < 0) return 1;
  g_on_pg = engine == 1;
  if (engine == 1) {
    const struct CMUnitTest pg_tests[] = {
        PORTABLE_CASES,
        cmocka_unit_test_setup_teardown(test_pg_uri_masked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_member_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timing_10000, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("store on PostgreSQL", pg_tests, NULL, NULL);
    lmm_global_cleanup();
    return rc;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_mgmt_iids, setup, teardown),
      cmocka_unit_test_setup_teardown(test_members, setup, teardown),
      cmocka_unit_test_setup_teardown(test_campaign_create_1000, setup, teardown),
      cmocka_unit_test_setup_teardown(test_outcomes_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_outcome_counts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_campaign_update_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_outcome_init, setup, teardown),
      cmocka_unit_test_setup_teardown(test_firmware_campaign, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deleted_group_keeps_campaigns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_exit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_sigkill, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_v3, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_v2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_v5_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_fails_whole, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_makes_dirs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timing_10000, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
