/* test_cli_groups.c - the lwm2m-mbms group, report and campaigns commands on a store in a temp
 * directory: outputs, exit codes and the messages an operator gets for bad input, and one
 * unicast delivery to the simulated devices. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_pg.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct run {
  int status; /* exit code, or -1 when killed */
  char *out, *err;
} run;

static void run_free(run *r) {
  free(r->out), free(r->err);
  memset(r, 0, sizeof *r);
}

/* One temp directory per test: the store and the files the test writes. */
typedef struct fixture {
  char dir[64];
  char db[256]; /* dir/state.db, or the URI of the test's own PostgreSQL database */
} fixture;

static lmmt_pg g_pg; /* LMMT_STORE=pg: the commands run on a scratch PostgreSQL server */
static bool g_on_pg;
static int g_db_seq;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/lmmt-clig-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  if (g_on_pg) {
    char name[32];
    snprintf(name, sizeof name, "cli%d", ++g_db_seq);
    if (lmmt_pg_create_db(&g_pg, name, f->db, sizeof f->db) != 0) return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

/* Runs $LMM_CLI --db DB args... (db NULL: no --db, LMM_DB left as the test sets it). */
static run cli(const char *db, const char *const *args) {
  char dir[] = "/tmp/lmmt-cli-XXXXXX", out[64], err[64];
  assert_non_null(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  const char *argv[64] = {getenv("LMM_CLI")};
  assert_non_null(argv[0]);
  int n = 1;
  if (db) argv[n++] = "--db", argv[n++] = db;
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1), dup2(fe, 2);
    unsetenv("LMM_T8_API_ROOT");
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st;
  alarm(120); /* a hung CLI fails the test instead of hanging it */
  waitpid(pid, &st, 0);
  alarm(0);
  run r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, lmmt_read_file(out, NULL),
           lmmt_read_file(err, NULL)};
  if (!r.out) r.out = strdup("");
  if (!r.err) r.err = strdup("");
  unlink(out), unlink(err), rmdir(dir);
  return r;
}

/* Runs and checks the exit status and that stdout (out_has) / stderr (err_has) contain the
 * texts (NULL: not checked); prints everything when it fails. */
static void expect_run(const char *db, int want_status, const char *out_has, const char *err_has,
                       const char *const *args) {
  run r = cli(db, args);
  bool ok = r.status == want_status && (!out_has || strstr(r.out, out_has)) &&
            (!err_has || strstr(r.err, err_has));
  if (!ok) {
    print_error("command:");
    for (int i = 0; args[i]; i++)
      print_error(" %s", args[i]);
    print_error("\nexit %d (want %d), stdout:\n%s\nstderr:\n%s\n", r.status, want_status, r.out,
                r.err);
  }
  run_free(&r);
  assert_true(ok);
}

#define EXPECT(db, want_status, out_has, err_has, ...)                                             \
  expect_run(db, want_status, out_has, err_has, (const char *[]){__VA_ARGS__, NULL})

/* Runs `sql` on the store behind the CLI's back, on either engine: 0 when it succeeded. */
static int raw_exec(const char *db, const char *sql) {
  if (g_on_pg) {
    PGconn *c = PQconnectdb(db);
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    PQfinish(c);
    return rc;
  }
  sqlite3 *sdb;
  if (sqlite3_open(db, &sdb) != SQLITE_OK) return -1;
  int rc = sqlite3_exec(sdb, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
  sqlite3_close(sdb);
  return rc;
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  assert_int_equal(fputs(text, fp) >= 0, 1);
  assert_int_equal(fclose(fp), 0);
}

static void test_help(void **state) {
  (void)state;
  run r = cli(NULL, (const char *[]){"--help", NULL});
  assert_int_equal(r.status, 0);
  static const char *const want[] = {"group create NAME", "group add-member", "tmgi allocate",
                                     "deliver GROUP",     "report CAMPAIGN",  "campaigns [GROUP]",
                                     "resume CAMPAIGN",   "--db FILE",        "t8 tmgi allocate"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_non_null(strstr(r.out, want[i]));
  run_free(&r);
  EXPECT(NULL, 2, NULL, "Try 'lwm2m-mbms --help'.", "group");
  EXPECT(NULL, 2, NULL, "unknown command 'frob'", "group", "frob");
}

static void test_group_create(void **state) {
  fixture *f = *state;
  const char *db = f->db;
  EXPECT(db, 0, "group b7 created (mbms, 0 members)", NULL, "group", "create", "b7", "--type",
         "mbms", "--external-group-id", "b7@op.example");
  /* The same name again: refused, naming it. */
  EXPECT(db, 2, NULL, "group create: group 'b7' exists already", "group", "create", "b7", "--type",
         "unicast");
  EXPECT(db, 2, NULL, "needs --external-group-id", "group", "create", "x", "--type", "mbms");
  EXPECT(db, 2, NULL, "'nope' is not local@domain", "group", "create", "x", "--type", "mbms",
         "--external-group-id", "nope");
  EXPECT(db, 2, NULL, "needs --multicast-address", "group", "create", "x", "--type", "multicast");
  EXPECT(db, 2, NULL, "'10.1.2.3' is not a multicast address", "group", "create", "x", "--type",
         "multicast", "--multicast-address", "10.1.2.3");
  EXPECT(db, 2, NULL, "'fe80::1' is not a multicast address", "group", "create", "x", "--type",
         "multicast", "--multicast-address", "fe80::1");
  EXPECT(db, 2, NULL, "'239.1.2' is not an IPv4 or IPv6 address", "group", "create", "x", "--type",
         "multicast", "--multicast-address", "239.1.2");
  EXPECT(db, 2, NULL, "--type: 'broadcast'", "group", "create", "x", "--type", "broadcast");
  EXPECT(db, 2, NULL, "missing --type", "group", "create", "x");
  EXPECT(db, 2, NULL, "missing group NAME", "group", "create", "--type", "unicast");
  EXPECT(db, 2, NULL, "--window: 'soon'", "group", "create", "x", "--type", "unicast", "--window",
         "soon");
  EXPECT(db, 2, NULL, "--multicast-port: '70000'", "group", "create", "x", "--type", "multicast",
         "--multicast-address", "239.1.2.3", "--multicast-port", "70000");
  EXPECT(db, 2, NULL, "--schedule: 'tomorrow'", "group", "create", "x", "--type", "unicast",
         "--schedule", "tomorrow");
  EXPECT(db, 2, NULL, "--group-mgmt-oid: 5 is an OMA object", "group", "create", "x", "--type",
         "unicast", "--group-mgmt-oid", "5");
  EXPECT(db, 2, NULL, "unknown or incomplete option '--colour'", "group", "create", "x", "--type",
         "unicast", "--colour", "red");
  EXPECT(db, 0, "group m4 created (multicast, 0 members)", NULL, "group", "create", "m4", "--type",
         "multicast", "--multicast-address", "ff15::4", "--multicast-port", "5700", "--window", "7",
         "--schedule", "2030-01-02T03:04:05Z", "--schedule", "2030-01-02T05:04:05+02:00",
         "--fanout-target", "coap://gw.example/fan", "--group-mgmt-oid", "42770");
  /* None of the refused ones was stored. */
  run r = cli(db, (const char *[]){"--json", "group", "show", "m4", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"type\":\"multicast\""));
  assert_non_null(strstr(r.out, "\"groupMgmtOid\":42770"));
  assert_non_null(strstr(r.out, "\"groupMgmtIid\":1")); /* the store's second group */
  assert_non_null(strstr(r.out, "\"multicastAddress\":\"ff15::4\""));
  assert_non_null(strstr(r.out, "\"multicastPort\":5700"));
  assert_non_null(strstr(r.out, "\"responseTimeWindow\":7"));
  assert_non_null(strstr(r.out, "\"fanoutTarget\":\"coap://gw.example/fan\""));
  /* Both times are the same instant, written two ways. */
  assert_non_null(
      strstr(r.out, "\"schedule\":[\"2030-01-02T03:04:05Z\",\"2030-01-02T03:04:05Z\"]"));
  assert_non_null(strstr(r.out, "\"members\":[]"));
  run_free(&r);
  r = cli(db, (const char *[]){"group", "list", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "b7"));
  assert_non_null(strstr(r.out, "b7@op.example"));
  assert_non_null(strstr(r.out, "ff15::4 port 5700"));
  assert_null(strstr(r.out, "\nx "));
  run_free(&r);
  r = cli(db, (const char *[]){"--json", "group", "list", NULL});
  assert_int_equal(r.status, 0);
  assert_true(r.out[0] == '[');
  assert_non_null(strstr(r.out, "\"name\":\"b7\""));
  assert_non_null(strstr(r.out, "\"name\":\"m4\""));
  run_free(&r);
  /* Each group has its own Group Mgmt instance on the members, and show says which. */
  EXPECT(db, 0, "group mgmt object  /42769/0 (instance 0 on every member)", NULL, "group", "show",
         "b7");
  EXPECT(db, 0, "group mgmt object  /42770/1 (instance 1 on every member)", NULL, "group", "show",
         "m4");

  /* Every instance ID taken (filled in one transaction, not 65533 commands): a new group is
   * refused with the reason, a taken name still as taken. */
  assert_int_equal(
      raw_exec(db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 65534)"
                   " INSERT INTO groups(name, type, gm_oid, multicast_port, response_time_window,"
                   " schedule, tmgi_expiration, created, gm_iid)"
                   " SELECT 'bulk' || i, 2, 42769, -1, 30, '', 0, 0, i FROM n"
                   " WHERE i NOT IN (SELECT gm_iid FROM groups)"),
      0);
  EXPECT(db, 1, NULL, "no Group Mgmt instance ID left", "group", "create", "late", "--type",
         "unicast");
  EXPECT(db, 2, NULL, "group 'b7' exists already", "group", "create", "b7", "--type", "unicast");
}

static void test_members(void **state) {
  fixture *f = *state;
  const char *db = f->db;
  char good[128], bad[128], dup[128], more[128];
  snprintf(good, sizeof good, "%s/good.members", f->dir);
  snprintf(bad, sizeof bad, "%s/bad.members", f->dir);
  snprintf(dup, sizeof dup, "%s/dup.members", f->dir);
  snprintf(more, sizeof more, "%s/more.members", f->dir);
  write_file(good, "# two devices\n"
                   "ep=dev-a/5 coap://127.0.0.1:5683\n"
                   "\n"
                   "ep=dev-b/5 coap://[::1]:5683 format=tlv  # LwM2M 1.0\n");
  write_file(bad, "ep=dev-a/5 coap://127.0.0.1:5683\n"
                  "# fine so far\n"
                  "ep=dev-c/5 http://127.0.0.1:80\n");
  write_file(dup, "ep=dev-a/5 coap://127.0.0.1:5683\n"
                  "ep=dev-a/5 coap://127.0.0.1:5684\n");
  write_file(more, "ep=dev-c/5 coap://127.0.0.1:5685\n"
                   "ep=dev-d/5 coaps://127.0.0.1:5686 psk-id=dev-d psk-key=hex:00112233\n");

  /* A members file error names the file, the line and the reason; nothing is created. */
  EXPECT(db, 2, NULL, "line 3: URI 'http://127.0.0.1:80' must start with coap://", "group",
         "create", "fw", "--type", "unicast", "--members", bad);
  EXPECT(db, 2, NULL, "line 2: member ep=dev-a/5 already on line 1", "group", "create", "fw",
         "--type", "unicast", "--members", dup);
  EXPECT(db, 2, NULL, "/nonexistent/members", "group", "create", "fw", "--type", "unicast",
         "--members", "/nonexistent/members");
  EXPECT(db, 2, NULL, "unknown group 'fw'", "group", "show", "fw");

  EXPECT(db, 0, "group fw created (unicast, 2 members)", NULL, "group", "create", "fw", "--type",
         "unicast", "--members", good);
  run r = cli(db, (const char *[]){"group", "show", "fw", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "members            2"));
  assert_non_null(strstr(r.out, "ep=dev-a/5"));
  assert_non_null(strstr(r.out, "coap://[::1]:5683 format=tlv"));
  run_free(&r);

  /* One member by the words of a members-file line. */
  EXPECT(db, 0, "member ep=dev-x/5 added to group fw (3 members)", NULL, "group", "add-member",
         "fw", "ep=dev-x/5", "coap://127.0.0.1:6000", "format=tlv");
  EXPECT(db, 2, NULL, "ep=dev-x/5", "group", "add-member", "fw", "ep=dev-x/5",
         "coap://127.0.0.1:6001");
  EXPECT(db, 2, NULL, "bad member: URI 'udp://h' must start with coap://", "group", "add-member",
         "fw", "ep=dev-y/5", "udp://h");
  EXPECT(db, 2, NULL, "format must be senml-json or tlv", "group", "add-member", "fw", "ep=dev-y/5",
         "coap://127.0.0.1:1", "format=xml");
  EXPECT(db, 2, NULL, "member ID must start with 'ep='", "group", "add-member", "fw", "dev-y/5",
         "coap://127.0.0.1:1");
  EXPECT(db, 2, NULL, "missing the member's URI", "group", "add-member", "fw", "ep=dev-y/5");
  EXPECT(db, 2, NULL, "unknown group 'nope'", "group", "add-member", "nope", "ep=dev-y/5",
         "coap://127.0.0.1:1");
  /* A file of more members, all or nothing. */
  EXPECT(db, 0, "2 members added to group fw (5 members)", NULL, "group", "add-member", "fw",
         "--members", more);
  EXPECT(db, 2, NULL, "ep=dev-c/5", "group", "add-member", "fw", "--members", more);
  EXPECT(db, 2, NULL, "line 3", "group", "add-member", "fw", "--members", bad);

  r = cli(db, (const char *[]){"--json", "group", "show", "fw", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"memberCount\":5"));
  assert_non_null(strstr(r.out, "\"member\":\"ep=dev-d/5\",\"uri\":\"coaps://127.0.0.1:5686\","
                                "\"format\":\"senml-json\",\"pskId\":\"dev-d\",\"pskKey\":true"));
  assert_null(strstr(r.out, "00112233")); /* the key is not printed */
  run_free(&r);

  EXPECT(db, 0, "member ep=dev-x/5 removed from group fw", NULL, "group", "remove-member", "fw",
         "ep=dev-x/5");
  EXPECT(db, 2, NULL, "group 'fw' has no member ep=dev-x/5", "group", "remove-member", "fw",
         "ep=dev-x/5");
  EXPECT(db, 2, NULL, "bad member ID", "group", "remove-member", "fw", "ep=dev-x");
  EXPECT(db, 2, NULL, "missing MEMBER-ID", "group", "remove-member", "fw");
  r = cli(db, (const char *[]){"group", "list", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "fw"));
  assert_non_null(strstr(r.out, "      4 "));
  run_free(&r);

  EXPECT(db, 0, "group fw deleted", NULL, "group", "delete", "fw");
  EXPECT(db, 2, NULL, "unknown group 'fw'", "group", "delete", "fw");
  EXPECT(db, 0, "no groups", NULL, "group", "list");
}

static void test_store_errors(void **state) {
  fixture *f = *state;
  char notdb[128];
  snprintf(notdb, sizeof notdb, "%s/notes.txt", f->dir);
  write_file(notdb, "this is not a database, just some text that SQLite will refuse\n");
  EXPECT(notdb, 2, NULL, "cannot open the state store", "group", "list");
  /* LMM_DB works as --db does. */
  setenv("LMM_DB", f->db, 1);
  EXPECT(NULL, 0, "group e1 created", NULL, "group", "create", "e1", "--type", "unicast");
  unsetenv("LMM_DB");
  EXPECT(f->db, 0, "e1", NULL, "group", "list");
  /* The TMGI commands check the group before calling any SCEF. */
  EXPECT(f->db, 2, NULL, "has no External Group ID", "tmgi", "allocate", "e1");
  EXPECT(f->db, 2, NULL, "group 'e1' has no TMGI", "tmgi", "renew", "e1");
  EXPECT(f->db, 2, NULL, "unknown group 'zz'", "tmgi", "show", "zz");
  EXPECT(f->db, 2, NULL, "unknown command 'steal'", "tmgi", "steal", "e1");
}

static void set_env(const char *k, const char *v) {
  if (v)
    setenv(k, v, 1);
  else
    unsetenv(k);
}

/* Without --db the command line picks the store: $LMM_DB, else $XDG_STATE_HOME/lwm2m-mbms,
 * else $HOME/.local/state/lwm2m-mbms; the directories it makes are private. The library never
 * reads the environment: choosing the path is the command line's (cli_store_default_path(),
 * unit-tested in test_cli_store_path). */
static void test_default_store(void **state) {
  fixture *f = *state;
  static const char *const keys[] = {"LMM_DB", "XDG_STATE_HOME", "HOME"};
  char *saved[3];
  for (int i = 0; i < 3; i++)
    saved[i] = getenv(keys[i]) ? strdup(getenv(keys[i])) : NULL;
  set_env("LMM_DB", NULL);
  set_env("XDG_STATE_HOME", NULL);
  set_env("HOME", NULL);
  EXPECT(NULL, 2, NULL, "HOME", "group", "list");

  char home[160], dir[200], db[240];
  snprintf(home, sizeof home, "%s/home", f->dir);
  set_env("HOME", home);
  EXPECT(NULL, 0, "no groups", NULL, "group", "list");
  snprintf(dir, sizeof dir, "%s/.local/state/lwm2m-mbms", home);
  snprintf(db, sizeof db, "%s/state.db", dir);
  struct stat sb;
  assert_int_equal(stat(dir, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_int_equal(sb.st_mode & 0777, 0700);
  assert_int_equal(stat(db, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  snprintf(dir, sizeof dir, "%s/xdg", f->dir);
  set_env("XDG_STATE_HOME", dir);
  EXPECT(NULL, 0, "no groups", NULL, "group", "list");
  snprintf(db, sizeof db, "%s/xdg/lwm2m-mbms/state.db", f->dir);
  assert_int_equal(stat(db, &sb), 0);

  for (int i = 0; i < 3; i++) {
    set_env(keys[i], saved[i]);
    free(saved[i]);
  }
}

/* A campaign stored through the library, with one member of each kind of outcome. */
static int64_t store_campaign(const char *db) {
  lmm_ctx *ctx = NULL;
  lmm_store *s = NULL;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  assert_int_equal(lmm_store_open(ctx, db, &s), LMM_OK);
  lmm_member m[5] = {{.ep = "a", .oid = 6, .uri = "coap://127.0.0.1:1"},
                     {.ep = "b", .oid = 6, .uri = "coap://127.0.0.1:2"},
                     {.ep = "c", .oid = 6, .uri = "coap://127.0.0.1:3"},
                     {.ep = "d", .oid = 6, .uri = "coap://127.0.0.1:4"},
                     {.ep = "e", .oid = 6, .uri = "coap://127.0.0.1:5"}};
  lmm_campaign_info c = {.group = "g1",
                         .state = LMM_CS_DONE,
                         .via = LMM_VIA_MBMS,
                         .op_kind = LMM_OPK_READ,
                         .op_path = "/6/0",
                         .window_s = 30,
                         .repair = true,
                         .tmgi = "0a0b0c00101",
                         .t8_transaction = "http://scef/txn/1",
                         .t8_status = 1,
                         .created_ms = 1767225600000,
                         .started_ms = 1767225600100,
                         .delivered_ms = 1767225600500,
                         .finished_ms = 1767225633250};
  assert_int_equal(lmm_store_campaign_create(s, &c, m, 5), LMM_OK);
  static const char senml[] =
      "[{\"bn\":\"/6/0/\",\"n\":\"0\",\"v\":48.5},{\"n\":\"1\",\"v\":11.25}]";
  static const char text[] = "say \"hi\", twice";
  static const char diag[] = "no such instance";
  static const uint8_t bin[] = {0x00, 0xff, 0x10};
  lmm_outcome o[5] = {{.ep = "a",
                       .oid = 6,
                       .via = LMM_VIA_MBMS,
                       .done = true,
                       .coap_code = 0x45,
                       .payload = (uint8_t *)senml,
                       .payload_len = sizeof senml - 1,
                       .content_format = LMM_FMT_SENML_JSON,
                       .attempts = 1,
                       .latency_ms = 1200,
                       .gm_step = LMM_STEP_OK,
                       .gm_code = 0x44,
                       .group_step = LMM_STEP_OK,
                       .group_code = 0x45},
                      {.ep = "b",
                       .oid = 6,
                       .via = LMM_VIA_UNICAST,
                       .done = true,
                       .repaired = true,
                       .coap_code = 0x45,
                       .payload = (uint8_t *)text,
                       .payload_len = sizeof text - 1,
                       .content_format = LMM_FMT_TEXT,
                       .attempts = 2,
                       .latency_ms = 35},
                      {.ep = "c",
                       .oid = 6,
                       .via = LMM_VIA_UNICAST,
                       .done = true,
                       .repaired = true,
                       .coap_code = 0x84,
                       .payload = (uint8_t *)diag,
                       .payload_len = sizeof diag - 1,
                       .content_format = LMM_FMT_TEXT,
                       .attempts = 1,
                       .latency_ms = 20,
                       .error = "4.04 Not Found",
                       .gm_step = LMM_STEP_REFUSED,
                       .gm_code = 0x84,
                       .gm_error = "4.04 Not Found (no object 42769)",
                       .group_step = LMM_STEP_SILENT,
                       .unicast_step = LMM_STEP_REFUSED,
                       .unicast_code = 0x84,
                       .unicast_error = "4.04 Not Found"},
                      {.ep = "d",
                       .oid = 6,
                       .via = LMM_VIA_UNICAST,
                       .done = true,
                       .repaired = true,
                       .err = LMM_ERR_TIMEOUT,
                       .content_format = -1,
                       .attempts = 3,
                       .latency_ms = 60000,
                       .error = "no answer within 60 s",
                       .gm_step = LMM_STEP_OK,
                       .gm_code = 0x44,
                       .group_step = LMM_STEP_SILENT,
                       .unicast_step = LMM_STEP_FAILED,
                       .unicast_error = "no answer within 60 s"},
                      {.ep = "e",
                       .oid = 6,
                       .via = LMM_VIA_MBMS,
                       .done = true,
                       .coap_code = 0x45,
                       .payload = (uint8_t *)bin,
                       .payload_len = sizeof bin,
                       .content_format = LMM_FMT_OPAQUE,
                       .attempts = 1,
                       .latency_ms = 800}};
  assert_int_equal(lmm_store_outcomes_put(s, c.id, o, 5), LMM_OK);
  lmm_store_close(s);
  lmm_ctx_free(ctx);
  return c.id;
}

static void test_report_formats(void **state) {
  fixture *f = *state;
  const char *db = f->db;
  EXPECT(db, 0, NULL, NULL, "group", "create", "g1", "--type", "mbms", "--external-group-id",
         "g1@op.example");
  int64_t id = store_campaign(db);
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", (long long)id);

  run r = cli(db, (const char *[]){"report", ids, NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "read /6/0 on group g1 via mbms, done"));
  assert_non_null(strstr(r.out, "ep=a/6"));
  assert_non_null(strstr(r.out, "/6/0/0=48.5 /6/0/1=11.25"));
  assert_non_null(strstr(r.out, "unicast (repaired)  2.05"));
  assert_non_null(strstr(r.out, "4.04"));
  assert_non_null(strstr(r.out, "error: no answer within 60 s"));
  assert_non_null(strstr(r.out, "hex:00ff10"));
  assert_non_null(strstr(r.out, "1200 ms"));
  assert_non_null(strstr(r.out,
                         "5 members: 3 succeeded, 2 failed, 0 pending, 0 refused; by path: mbms 2, "
                         "multicast 0, unicast 3; repaired 3"));
  assert_non_null(strstr(r.out, "T8 notification: delivered"));
  /* Each step of each member, and their counts: c's failed Group Mgmt write shows although
   * its last step is the unicast one. */
  assert_non_null(
      strstr(r.out, "ep=a/6                       mbms                2.05  2.04    2.05    -"));
  assert_non_null(strstr(r.out, "4.04  4.04    silent  4.04"));
  assert_non_null(strstr(r.out, "-     2.04    silent  failed"));
  assert_non_null(strstr(r.out, "; Group Mgmt write: 4.04 Not Found (no object 42769)"));
  assert_non_null(strstr(r.out, "Group Mgmt write  2 ok, 1 refused, 0 failed; not run for 2\n"));
  assert_non_null(
      strstr(r.out, "group request     1 ok, 0 refused, 0 failed, 2 silent; not run for 2\n"));
  assert_non_null(strstr(r.out, "unicast request   0 ok, 1 refused, 1 failed; not run for 3\n"));
  run_free(&r);

  r = cli(db, (const char *[]){"report", ids, "--format", "json", NULL});
  assert_int_equal(r.status, 0);
  assert_true(r.out[0] == '{');
  assert_non_null(strstr(r.out, "\"campaign\":{\"id\":"));
  assert_non_null(strstr(r.out, "\"tmgi\":\"0a0b0c00101\""));
  assert_non_null(strstr(r.out, "\"values\":[{\"path\":\"/6/0/0\",\"value\":48.5},"
                                "{\"path\":\"/6/0/1\",\"value\":11.25}]"));
  assert_non_null(strstr(r.out, "\"payload\":\"say \\\"hi\\\", twice\""));
  assert_non_null(strstr(r.out, "\"payloadHex\":\"00ff10\""));
  assert_non_null(strstr(r.out, "\"code\":\"4.04\""));
  assert_non_null(strstr(r.out, "\"error\":\"no answer within 60 s\""));
  assert_non_null(strstr(r.out,
                         "\"totals\":{\"members\":5,\"succeeded\":3,\"failed\":2,"
                         "\"pending\":0,\"refused\":0,\"byPath\":{\"mbms\":2,\"multicast\":0,"
                         "\"unicast\":3},\"repaired\":3,\"t8Notification\":\"delivered\"},"
                         "\"steps\":{\"groupMgmt\":{\"ok\":2,\"refused\":1,\"failed\":0,"
                         "\"silent\":0,\"none\":2},\"group\":{\"ok\":1,\"refused\":0,"
                         "\"failed\":0,\"silent\":2,\"none\":2},\"unicast\":{\"ok\":0,"
                         "\"refused\":1,\"failed\":1,\"silent\":0,\"none\":3}}}"));
  assert_non_null(strstr(r.out, "\"steps\":{\"groupMgmt\":{\"result\":\"refused\",\"code\":"
                                "\"4.04\",\"error\":\"4.04 Not Found (no object 42769)\"},"
                                "\"group\":{\"result\":\"silent\",\"code\":null,\"error\":null},"
                                "\"unicast\":{\"result\":\"refused\",\"code\":\"4.04\","
                                "\"error\":\"4.04 Not Found\"}}"));
  assert_non_null(strstr(r.out, "\"tmgiEnd\":\"-\""));
  run_free(&r);
  /* --json as a global option picks the same layout. */
  r = cli(db, (const char *[]){"--json", "report", ids, NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"totals\":{\"members\":5"));
  run_free(&r);

  r = cli(db, (const char *[]){"report", "--format", "csv", ids, NULL});
  assert_int_equal(r.status, 0);
  static const char want_csv[] =
      "member,path,repaired,gm_result,gm_code,group_result,group_code,unicast_result,"
      "unicast_code,code,values,attempts,latency_ms,error\r\n"
      "ep=a/6,mbms,no,ok,2.04,ok,2.05,,,2.05,/6/0/0=48.5 /6/0/1=11.25,1,1200,\r\n"
      "ep=b/6,unicast,yes,,,,,,,2.05,\"say \"\"hi\"\", twice\",2,35,\r\n"
      "ep=c/6,unicast,yes,refused,4.04,silent,,refused,4.04,4.04,no such instance,1,20,4.04 Not "
      "Found\r\n"
      "ep=d/6,unicast,yes,ok,2.04,silent,,failed,,,,3,60000,no answer within 60 s\r\n"
      "ep=e/6,mbms,no,,,,,,,2.05,hex:00ff10,1,800,\r\n";
  assert_string_equal(r.out, want_csv);
  run_free(&r);

  EXPECT(db, 2, NULL, "--format: 'xml' is not table, json or csv", "report", ids, "--format",
         "xml");
  EXPECT(db, 2, NULL, "unknown campaign 999", "report", "999");
  EXPECT(db, 2, NULL, "'abc' is not a campaign number", "report", "abc");
  EXPECT(db, 2, NULL, "missing CAMPAIGN", "report");

  r = cli(db, (const char *[]){"campaigns", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "g1"));
  assert_non_null(strstr(r.out, "read /6/0"));
  assert_non_null(strstr(r.out, "done"));
  run_free(&r);
  r = cli(db, (const char *[]){"--json", "campaigns", "g1", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"members\":5,\"succeeded\":3,\"failed\":2"));
  run_free(&r);
  EXPECT(db, 0, "no campaigns on group other", NULL, "campaigns", "other");
  /* The report outlives its group. */
  EXPECT(db, 0, NULL, NULL, "group", "delete", "g1");
  EXPECT(db, 0, "T8 notification: delivered", NULL, "report", ids);
  EXPECT(db, 2, NULL, "has finished", "resume", ids);
}

static void test_deliver_errors(void **state) {
  fixture *f = *state;
  const char *db = f->db;
  char members[128];
  snprintf(members, sizeof members, "%s/m", f->dir);
  write_file(members, "ep=a/6 coap://127.0.0.1:9\n");
  EXPECT(db, 0, NULL, NULL, "group", "create", "u", "--type", "unicast", "--members", members);
  EXPECT(db, 0, NULL, NULL, "group", "create", "empty", "--type", "unicast");
  EXPECT(db, 2, NULL, "unknown group 'nope'", "deliver", "nope", "--read", "/6/0/0");
  EXPECT(db, 2, NULL, "--read: '/6/x' is not an LwM2M path", "deliver", "u", "--read", "/6/x");
  EXPECT(db, 2, NULL, "missing the operation", "deliver", "u");
  EXPECT(db, 2, NULL, "give one operation only", "deliver", "u", "--read", "/6/0", "--discover",
         "/6");
  EXPECT(db, 2, NULL, "has no members", "deliver", "empty", "--read", "/6/0/0");
  EXPECT(db, 2, NULL, "no member of group 'u' may be operated on /3/0/0", "deliver", "u", "--read",
         "/3/0/0");
  EXPECT(db, 2, NULL, "is not writable", "deliver", "u", "--write", "/6/0/0=1");
  EXPECT(db, 2, NULL, "'soon' is not a time", "deliver", "u", "--write", "/3/0/13=soon");
  EXPECT(db, 2, NULL, "not PATH=VALUE", "deliver", "u", "--write", "/3/0/13");
  EXPECT(db, 2, NULL, "an instance (/6/0) needs --format", "deliver", "u", "--write", "/6/0=1");
  EXPECT(db, 2, NULL, "SenML-JSON value does not parse", "deliver", "u", "--write",
         "/6/0=[{\"n\":", "--format", "senml-json");
  EXPECT(db, 2, NULL, "opaque value must be hex:DIGITS", "deliver", "u", "--write", "/5/0/0=zz");
  EXPECT(db, 2, NULL, "is not executable", "deliver", "u", "--execute", "/3/0/0");
  EXPECT(db, 2, NULL, "not PATH?QUERY", "deliver", "u", "--write-attr", "/3/0/13");
  EXPECT(db, 2, NULL, "'pmin=x' is not a list", "deliver", "u", "--write-attr", "/3/0/13?pmin=x");
  EXPECT(db, 2, NULL, "--format: 'cbor'", "deliver", "u", "--read", "/6/0", "--format", "cbor");
  EXPECT(db, 2, NULL, "--via: 'carrier-pigeon'", "deliver", "u", "--read", "/6/0", "--via",
         "carrier-pigeon");
  EXPECT(db, 2, NULL, "group 'u' has no multicast address", "deliver", "u", "--read", "/6/0",
         "--via", "multicast");
  EXPECT(db, 2, NULL, "group 'u' has no External Group ID", "deliver", "u", "--read", "/6/0",
         "--via", "mbms");
  EXPECT(db, 2, NULL, "unknown campaign 77", "resume", "77");
}

/* One real campaign: --via unicast to 20 simulated devices, then its stored report. */
static void test_deliver_unicast(void **state) {
  fixture *f = *state;
  const char *db = f->db;
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "20", "--object", "6", NULL}),
                   0);
  EXPECT(db, 0, "group fleet created (unicast, 20 members)", NULL, "group", "create", "fleet",
         "--type", "unicast", "--members", sim.members_path);
  run r =
      cli(db, (const char *[]){"deliver", "fleet", "--read", "/6/0/0", "--via", "unicast", NULL});
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_non_null(
      strstr(r.out, "20 members: 20 succeeded, 0 failed, 0 pending, 0 refused; by path: mbms 0, "
                    "multicast 0, unicast 20; repaired 0"));
  assert_non_null(strstr(r.out, "ep=dev-0019/6"));
  assert_non_null(strstr(r.out, "48.0019"));
  assert_non_null(strstr(r.out, "unicast             2.05"));
  run_free(&r);
  /* The campaign is stored: its report reads the same from the store. */
  r = cli(db, (const char *[]){"--json", "campaigns", "fleet", NULL});
  assert_int_equal(r.status, 0);
  const char *p = strstr(r.out, "\"id\":");
  assert_non_null(p);
  char id[24];
  snprintf(id, sizeof id, "%lld", strtoll(p + 5, NULL, 10));
  assert_non_null(strstr(r.out, "\"members\":20,\"succeeded\":20"));
  run_free(&r);
  r = cli(db, (const char *[]){"report", id, "--format", "json", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"via\":\"unicast\""));
  assert_non_null(strstr(r.out,
                         "\"totals\":{\"members\":20,\"succeeded\":20,\"failed\":0,"
                         "\"pending\":0,\"refused\":0,\"byPath\":{\"mbms\":0,\"multicast\":0,"
                         "\"unicast\":20}"));
  run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* PostgreSQL through the CLI: --state is --db; a refused login shows the URI, never its
 * password. */
static void test_pg_state_flag(void **state) {
  fixture *f = *state;
  run r = cli(
      NULL, (const char *[]){"--state", f->db, "group", "create", "g", "--type", "unicast", NULL});
  assert_int_equal(r.status, 0);
  run_free(&r);
  r = cli(NULL, (const char *[]){"--state", f->db, "--json", "group", "list", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"g\""));
  run_free(&r);
  char bad[300];
  const char *at = strchr(f->db, '@');
  assert_non_null(at);
  snprintf(bad, sizeof bad, "postgresql://lmm:x%s%s", g_pg.password, at);
  r = cli(bad, (const char *[]){"group", "list", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "cannot open the state store: postgresql://lmm:***@127.0.0.1"));
  assert_null(strstr(r.err, g_pg.password));
  assert_null(strstr(r.out, g_pg.password));
  run_free(&r);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  int engine = lmmt_pg_from_env(&g_pg);
  if (engine < 0) return 1;
  g_on_pg = engine == 1;
  if (engine == 1) {
    /* The cases about the commands, not about SQLite's files and paths. */
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_group_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_unicast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_state_flag, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("CLI on PostgreSQL", pg_tests, NULL, NULL);
    lmm_global_cleanup();
    return rc;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help),
      cmocka_unit_test_setup_teardown(test_group_create, setup, teardown),
      cmocka_unit_test_setup_teardown(test_members, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_store, setup, teardown),
      cmocka_unit_test_setup_teardown(test_report_formats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deliver_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deliver_unicast, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
