/* test_gateway.c - `lwm2m-mbms gateway` end to end, with libcoap's coap-client as the LwM2M
 * server: Group Mgmt instances written, refused with their diagnostics (nothing stored), kept
 * over a restart; a Read of /6/0 of 200 members by unicast, by IP multicast and over MBMS (the
 * real t8-mock), every member's location in one answer; a Write that some members refuse;
 * silent members; Observe and Write-Attributes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lmmt_gwclient.h"
#include "lmmt_libcoap.h"

#define N_READ 200

/* The SenML-JSON of Group Mgmt instance /42769/`iid`; `more` (may be "") holds extra records,
 * each starting with ','. `members`: "ep=NAME/OID" comma list. Owned (free()). */
static char *gm_json(int iid, const char *id, int type, long number, const char *members,
                     const char *target, const char *more) {
  size_t cap = strlen(members) + strlen(more) + 512;
  char *s = malloc(cap);
  assert_non_null(s);
  int n =
      snprintf(s, cap, "[{\"bn\":\"/42769/%d/\",\"n\":\"0\",\"vs\":\"%s\"},{\"n\":\"1\",\"v\":%d}",
               iid, id, type);
  if (number >= 0) n += snprintf(s + n, cap - (size_t)n, ",{\"n\":\"2\",\"v\":%ld}", number);
  snprintf(s + n, cap - (size_t)n, ",{\"n\":\"3\",\"vs\":\"%s\"},{\"n\":\"4\",\"vs\":\"%s\"}%s]",
           members, target, more);
  return s;
}

/* "ep=dev-FROM/OID,...,ep=dev-(TO-1)/OID" appended to `buf`. */
static void add_members(char *buf, size_t cap, int from, int to, int oid) {
  size_t n = strlen(buf);
  for (int i = from; i < to; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%sep=dev-%04d/%d", n ? "," : "", i, oid);
}

static lmmt_tool_run coap(const char *method, const char *fmt, const char *payload,
                          const char *uri) {
  const char *args[16] = {"-m", method, "-B", "60"};
  int k = 4;
  if (fmt) args[k++] = "-t", args[k++] = fmt;
  if (payload) args[k++] = "-e", args[k++] = payload;
  args[k++] = uri;
  args[k] = NULL;
  return lmmt_coap_client_run(90 * 1000, args);
}

static void url(char *out, size_t cap, const lmmt_gw *g, const char *path) {
  snprintf(out, cap, "%s%s", g->uri, path);
}

/* A request whose answer must be the error `code` (e.g. "4.00") with `diag` in its text. */
static void expect_error(const lmmt_gw *g, const char *method, const char *fmt, const char *payload,
                         const char *path, const char *code, const char *diag) {
  char u[256];
  url(u, sizeof u, g, path);
  lmmt_tool_run r = coap(method, fmt, payload, u);
  bool ok = strstr(r.err, code) && strstr(r.err, diag); /* coap-client: errors on stderr */
  if (!ok)
    fprintf(stderr, "%s %s: want %s '%s', got '%s' / '%s'\n", method, path, code, diag, r.out,
            r.err);
  lmmt_tool_run_free(&r);
  assert_true(ok);
}

/* The answer of a fan-out parsed: the number of members with status `st`, and of those whose
 * record `leaf` (e.g. "/6/0/0") is there. */
typedef struct tally {
  int members, ok, refused, failed, silent, with_leaf;
  char eps[2100][16];
} tally;

static void count(const char *json, const char *leaf, tally *t) {
  memset(t, 0, sizeof *t);
  cJSON *a = cJSON_Parse(json);
  if (!cJSON_IsArray(a)) fprintf(stderr, "not SenML-JSON: %.300s\n", json);
  assert_true(cJSON_IsArray(a));
  const char *bn = "";
  const cJSON *r;
  cJSON_ArrayForEach(r, a) {
    const cJSON *b = cJSON_GetObjectItem(r, "bn"), *n = cJSON_GetObjectItem(r, "n");
    if (cJSON_IsString(b)) bn = b->valuestring;
    char name[128];
    snprintf(name, sizeof name, "%s%s", bn, cJSON_IsString(n) ? n->valuestring : "");
    const char *slash = strchr(name + 1, '/');
    assert_non_null(slash);
    if (!strcmp(slash, "/status")) {
      const char *v = cJSON_GetObjectItem(r, "vs")->valuestring;
      assert_true(t->members < 2100);
      snprintf(t->eps[t->members++], sizeof t->eps[0], "%.*s", (int)(slash - name - 1), name + 1);
      t->ok += !strcmp(v, "ok"), t->refused += !strcmp(v, "refused");
      t->failed += !strcmp(v, "failed"), t->silent += !strcmp(v, "silent");
    } else if (leaf && !strcmp(slash, leaf)) {
      assert_true(cJSON_IsNumber(cJSON_GetObjectItem(r, "v")));
      t->with_leaf++;
    }
  }
  cJSON_Delete(a);
}

/* Every endpoint dev-0000 .. dev-(n-1) named once, in member order. */
static void assert_eps(const tally *t, int n) {
  assert_int_equal(t->members, n);
  for (int i = 0; i < n; i++) {
    char ep[16];
    snprintf(ep, sizeof ep, "dev-%04d", i);
    assert_string_equal(t->eps[i], ep);
  }
}

static void read_all(const lmmt_gw *g, const char *path, int n) {
  char u[256];
  url(u, sizeof u, g, path);
  lmmt_tool_run r = coap("get", NULL, NULL, u);
  if (r.status || !*r.out) fprintf(stderr, "GET %s: %d '%s'\n", path, r.status, r.err);
  assert_int_equal(r.status, 0);
  static tally t;
  count(r.out, "/6/0/0", &t);
  assert_eps(&t, n);
  assert_int_equal(t.ok, n);
  assert_int_equal(t.with_leaf, n);
  lmmt_tool_run_free(&r);
}

static const char *db_in(char *buf, size_t cap, const char *dir) {
  snprintf(buf, cap, "%s/state.db", dir);
  return buf;
}

/* Waits up to 20 s for `needle` to occur `want` times in the gateway's log; the count. */
static int log_wait(const lmmt_gw *g, const char *needle, int want) {
  int n = 0;
  for (int k = 0; k < 400; k++) {
    char *log = lmmt_read_file(g->err_path, NULL);
    n = log ? lmmt_count_of(log, needle) : 0;
    free(log);
    if (n >= want) break;
    usleep(50000);
  }
  return n;
}

/* ------------------------------------------------------------------ configuration */

static void test_config_errors(void **state) {
  (void)state;
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "5", "--object", "6", NULL}),
                   0);
  char dir[64], db[96], u[256];
  assert_int_equal(lmmt_scratch_dir(dir, "gwcfg"), 0);
  db_in(db, sizeof db, dir);
  lmmt_gw g;
  assert_int_equal(lmmt_gw_start(&g, db, sim.members_path, NULL,
                                 (const char *[]){"--coaps-listen", "127.0.0.1:0", "--psk-id",
                                                  "server", "--psk-key", "text:s3cret", NULL}),
                   0);
  char list[256] = "";
  add_members(list, sizeof list, 0, 5, 6);
  char *p;
  /* Member Number against Member List */
  p = gm_json(0, "b7", 2, 4, list, "/fanout/b7", "");
  expect_error(&g, "put", "110", p, "/42769/0", "4.00", "Member Number (resource 2) is 4 but");
  free(p);
  /* a member that is no attached device */
  p = gm_json(0, "b7", 2, 2, "ep=dev-0000/6,ep=nobody/6", "/fanout/b7", "");
  expect_error(&g, "put", "110", p, "/42769/0", "4.00", "endpoint 'nobody' is not a device");
  free(p);
  /* a malformed member ID, a malformed write, the wrong content format, MBMS without its ID */
  p = gm_json(0, "b7", 2, -1, "ep=dev-0000", "/fanout/b7", "");
  expect_error(&g, "put", "110", p, "/42769/0", "4.00", "Member List: 'ep=dev-0000'");
  free(p);
  expect_error(&g, "put", "110", "[{\"bn\":\"/42769/0/\",\"n\":\"0\"", "/42769/0", "4.00",
               "/42769/0:");
  expect_error(&g, "put", "0", "b7", "/42769/0", "4.15", "SenML-JSON (110) or TLV");
  p = gm_json(0, "b7", 0, 5, list, "/fanout/b7", "");
  expect_error(&g, "put", "110", p, "/42769/0", "4.00", "External Group ID (resource 5)");
  free(p);
  p = gm_json(0, "b7", 1, 5, list, "/fanout/b7", ",{\"n\":\"7\",\"vs\":\"10.0.0.1\"}");
  expect_error(&g, "put", "110", p, "/42769/0", "4.00", "IPv4 multicast address");
  free(p);
  p = gm_json(0, "b7", 2, 5, list, "fanout", "");
  expect_error(&g, "put", "110", p, "/42769/0", "4.00", "neither a path");
  free(p);
  /* nothing of it was stored */
  expect_error(&g, "get", NULL, NULL, "/42769/0", "4.04", "no instance /42769/0");
  assert_true(lmmt_cli_check(db, NULL, 0, NULL, NULL, (const char *[]){"group", "list", NULL}));
  lmmt_run gl = lmmt_cli_run(db, NULL, (const char *[]){"group", "list", NULL});
  assert_null(strstr(gl.out, "b7"));
  lmmt_run_free(&gl);
  expect_error(&g, "get", NULL, NULL, "/fanout/b7/6/0", "4.04", "no Fanout Target");

  /* a good one, then a second whose Fanout Target or Group ID clashes */
  p = gm_json(0, "b7", 2, 5, list, "coap://gw.example/fanout/b7/", "");
  url(u, sizeof u, &g, "/42769/0");
  lmmt_tool_run r = coap("put", "110", p, u);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "");
  lmmt_tool_run_free(&r);
  free(p);
  p = gm_json(1, "b8", 2, 1, "ep=dev-0000/6", "/fanout/b7/x", "");
  expect_error(&g, "put", "110", p, "/42769/1", "4.00", "overlaps that of instance 0");
  free(p);
  p = gm_json(1, "b7", 2, 1, "ep=dev-0000/6", "/fanout/b9", "");
  expect_error(&g, "put", "110", p, "/42769/1", "4.00", "Group ID 'b7' is instance 0's");
  free(p);
  expect_error(&g, "get", NULL, NULL, "/42769/1", "4.04", "no instance");
  expect_error(&g, "get", NULL, NULL, "/42769/0/3", "4.05", "whole Group Mgmt instances");
  expect_error(&g, "get", NULL, NULL, "/fanout/b7", "4.00", "name an object");
  expect_error(&g, "get", NULL, NULL, "/fanout/b7/x", "4.00", "is no LwM2M path");
  expect_error(&g, "delete", NULL, NULL, "/fanout/b7/6/0", "4.05", "a Fanout Target takes");

  /* the instance reads back, over CoAPS too (the server's PSK), and not with another key */
  url(u, sizeof u, &g, "/42769/0");
  r = coap("get", NULL, NULL, u);
  assert_non_null(strstr(r.out, "\"vs\":\"ep=dev-0000/6,ep=dev-0001/6"));
  assert_non_null(strstr(r.out, "{\"n\":\"2\",\"v\":5}"));
  lmmt_tool_run_free(&r);
  snprintf(u, sizeof u, "%s/42769/0", g.suri);
  r = lmmt_coap_client_run(30 * 1000,
                           (const char *[]){"-u", "server", "-k", "s3cret", "-B", "10", u, NULL});
  assert_non_null(strstr(r.out, "\"vs\":\"b7\""));
  lmmt_tool_run_free(&r);
  r = lmmt_coap_client_run(30 * 1000,
                           (const char *[]){"-u", "server", "-k", "wrong", "-B", "3", u, NULL});
  assert_null(strstr(r.out, "\"vs\":\"b7\""));
  lmmt_tool_run_free(&r);

  /* a NON request gets a NON answer */
  url(u, sizeof u, &g, "/fanout/b7/6/0/0");
  r = lmmt_coap_client_run(60 * 1000, (const char *[]){"-N", "-m", "get", "-B", "30", u, NULL});
  static tally t;
  count(r.out, "/6/0/0", &t);
  assert_eps(&t, 5);
  assert_int_equal(t.ok, 5);
  lmmt_tool_run_free(&r);

  /* DELETE removes it from the store as well */
  url(u, sizeof u, &g, "/42769/0");
  r = coap("delete", NULL, NULL, u);
  assert_int_equal(r.status, 0);
  lmmt_tool_run_free(&r);
  expect_error(&g, "get", NULL, NULL, "/42769/0", "4.04", "no instance");
  assert_int_equal(lmmt_gw_stop(&g), 0);
  gl = lmmt_cli_run(db, NULL, (const char *[]){"group", "list", NULL});
  assert_null(strstr(gl.out, "b7"));
  lmmt_run_free(&gl);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  lmmt_scratch_remove(dir);
}

/* ------------------------------------------------------------------ fan-outs */

static void test_read_200_unicast_restart(void **state) {
  (void)state;
  lmmt_sim sim;
  char count_s[8];
  snprintf(count_s, sizeof count_s, "%d", N_READ);
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", count_s, "--object", "6",
                                                         "--tlv-every", "5", NULL}),
                   0);
  char dir[64], db[96], u[256];
  assert_int_equal(lmmt_scratch_dir(dir, "gwuni"), 0);
  db_in(db, sizeof db, dir);
  lmmt_gw g;
  assert_int_equal(lmmt_gw_start(&g, db, sim.members_path, NULL, NULL), 0);
  static char list[N_READ * 20];
  list[0] = '\0';
  add_members(list, sizeof list, 0, N_READ, 6);
  char *p = gm_json(3, "building-7", 2, N_READ, list, "/fanout/building7", "");
  url(u, sizeof u, &g, "/42769/3");
  lmmt_tool_run r = coap("put", "110", p, u); /* a few KB: Block1 */
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "");
  lmmt_tool_run_free(&r);
  free(p);
  read_all(&g, "/fanout/building7/6/0", N_READ);

  /* restarted, it still knows the group: the same Read without a new write */
  assert_int_equal(lmmt_gw_stop(&g), 0);
  assert_int_equal(lmmt_gw_start(&g, db, sim.members_path, NULL, NULL), 0);
  read_all(&g, "/fanout/building7/6/0", N_READ);
  url(u, sizeof u, &g, "/42769/3");
  r = coap("get", NULL, NULL, u);
  assert_non_null(strstr(r.out, "\"vs\":\"building-7\""));
  lmmt_tool_run_free(&r);
  /* each fan-out is a campaign of the store */
  lmmt_run cr = lmmt_cli_run(db, NULL, (const char *[]){"campaigns", NULL});
  assert_int_equal(lmmt_count_of(cr.out, "building-7"), 2);
  lmmt_run_free(&cr);
  /* the same members as an IP multicast group: the campaign goes by the group's type */
  char more[128];
  snprintf(more, sizeof more,
           ",{\"n\":\"7\",\"vs\":\"239.%d.%d.%d\"},{\"n\":\"10\",\"v\":%d},"
           "{\"n\":\"9\",\"v\":2}",
           100 + rand() % 100, rand() % 250, 1 + rand() % 250, lmmt_random_port());
  p = gm_json(4, "building-7-mc", 1, N_READ, list, "/fanout/b7mc", more);
  url(u, sizeof u, &g, "/42769/4");
  r = coap("put", "110", p, u);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "");
  lmmt_tool_run_free(&r);
  free(p);
  read_all(&g, "/fanout/b7mc/6/0", N_READ);
  cr = lmmt_cli_run(db, NULL, (const char *[]){"report", "3", NULL});
  char want[96];
  /* every 5th device speaks TLV only (--tlv-every 5): it refuses the group request's SenML-JSON
   * and is repaired by unicast, in TLV */
  snprintf(want, sizeof want, "by path: mbms 0, multicast %d, unicast %d; repaired %d",
           N_READ - N_READ / 5, N_READ / 5, N_READ / 5);
  const char *tot = strstr(cr.out, " members: ");
  if (!strstr(cr.out, want)) fail_msg("want \"%s\" in:\n%.300s", want, tot ? tot : cr.out);
  lmmt_run_free(&cr);
  assert_int_equal(lmmt_gw_stop(&g), 0);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  lmmt_scratch_remove(dir);
}

static void test_read_200_mbms(void **state) {
  (void)state;
  lmmt_mock mock;
  int bearer = lmmt_random_port();
  char port_s[16], count_s[8], env_root[96], more[128];
  snprintf(port_s, sizeof port_s, "%d", bearer);
  snprintf(count_s, sizeof count_s, "%d", N_READ);
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", port_s, NULL}), 0);
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", count_s, "--object", "6", NULL}), 0);
  char dir[64], db[96], u[256];
  assert_int_equal(lmmt_scratch_dir(dir, "gwmbms"), 0);
  db_in(db, sizeof db, dir);
  snprintf(env_root, sizeof env_root, "LMM_T8_API_ROOT=%s", mock.api_root);
  lmmt_gw g;
  assert_int_equal(lmmt_gw_start(&g, db, sim.members_path,
                                 (const char *[]){env_root, "LMM_T8_SCS_AS_ID=as1", NULL},
                                 (const char *[]){"--grace-ms", "500", NULL}),
                   0);
  static char list[N_READ * 20];
  list[0] = '\0';
  add_members(list, sizeof list, 0, N_READ, 6);
  snprintf(more, sizeof more,
           ",{\"n\":\"5\",\"vs\":\"building7@operator.example\"},{\"n\":\"9\",\"v\":3},"
           "{\"n\":\"10\",\"v\":%d}",
           bearer);
  char *p = gm_json(0, "b7-mbms", 0, N_READ, list, "/fanout/b7", more);
  url(u, sizeof u, &g, "/42769/0");
  lmmt_tool_run r = coap("put", "110", p, u);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "");
  lmmt_tool_run_free(&r);
  free(p);
  read_all(&g, "/fanout/b7/6/0", N_READ);
  /* it went as one T8 group message, and the members answered the group request */
  assert_true(lmmt_log_count(&mock, "bearer_send", NULL) == 1);
  lmmt_run rep = lmmt_cli_run(db, NULL, (const char *[]){"report", "1", "--format", "csv", NULL});
  assert_true(lmmt_count_of(rep.out, "mbms") >= N_READ / 2);
  lmmt_run_free(&rep);
  /* a second fan-out of the same group needs no Group Mgmt write: the TMGI is kept */
  read_all(&g, "/fanout/b7/6/0", N_READ);
  char *log = lmmt_read_file(g.err_path, NULL);
  assert_non_null(strstr(log, "(200 members), Group Mgmt written before"));
  free(log);

  /* a window longer than a CON may wait for its ACK: ACKed at once, a separate response */
  snprintf(more, sizeof more,
           ",{\"n\":\"5\",\"vs\":\"small@operator.example\"},{\"n\":\"9\",\"v\":21},"
           "{\"n\":\"10\",\"v\":%d}",
           bearer);
  p = gm_json(1, "small", 0, 3, "ep=dev-0000/6,ep=dev-0001/6,ep=dev-0002/6", "/fanout/small", more);
  url(u, sizeof u, &g, "/42769/1");
  r = coap("put", "110", p, u);
  assert_string_equal(r.err, "");
  lmmt_tool_run_free(&r);
  free(p);
  url(u, sizeof u, &g, "/fanout/small/6/0/0");
  lmmt_tool_job *bg =
      lmmt_coap_client_start(90 * 1000, (const char *[]){"-m", "get", "-B", "60", u, NULL});
  assert_non_null(bg);
  assert_int_equal(log_wait(&g, "fan-out of /6/0/0 to group 'small'", 1), 1);
  /* one fan-out per group at a time; the instance stays as it is meanwhile */
  expect_error(&g, "get", NULL, NULL, "/fanout/small/6/0/0", "5.03", "a fan-out is in flight");
  expect_error(&g, "delete", NULL, NULL, "/42769/1", "5.03", "a fan-out is in flight");
  r = lmmt_coap_client_finish(bg);
  static tally t;
  count(r.out, "/6/0/0", &t);
  assert_eps(&t, 3);
  assert_int_equal(t.ok, 3);
  lmmt_tool_run_free(&r);
  log = lmmt_read_file(g.err_path, NULL);
  assert_non_null(strstr(log, "(separate response)"));
  free(log);
  assert_int_equal(lmmt_gw_stop(&g), 0);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
  lmmt_scratch_remove(dir);
}

/* A Write of UTC Offset (/3/0/14) to 20 members: 5 of them are on a device that gives the
 * gateway no access (its Access Control: 4.01), 3 have member IDs of object 6 (the member ID
 * rule: not sent), every 4th of the rest takes TLV only (4.15 to SenML). */
static void test_write_some_refuse(void **state) {
  (void)state;
  lmmt_sim open_sim, acl_sim;
  assert_int_equal(lmmt_sim_start(&open_sim, (const char *[]){"--count", "15", "--object", "3",
                                                              "--tlv-every", "4", NULL}),
                   0);
  assert_int_equal(
      lmmt_sim_start(&acl_sim, (const char *[]){"--count", "5", "--object", "3", "--base-addr",
                                                "127.1.1.1", "--ep-prefix", "acl-", "--server",
                                                "1=127.0.0.1:9", "--server", "2", NULL}),
      0);
  char dir[64], db[96], u[256], devices[128];
  assert_int_equal(lmmt_scratch_dir(dir, "gwwrite"), 0);
  db_in(db, sizeof db, dir);
  snprintf(devices, sizeof devices, "%s/devices", dir);
  char *a = lmmt_read_file(open_sim.members_path, NULL),
       *b = lmmt_read_file(acl_sim.members_path, NULL);
  FILE *f = fopen(devices, "w");
  assert_non_null(f);
  fputs(a, f), fputs(b, f);
  fclose(f);
  free(a), free(b);
  lmmt_gw g;
  assert_int_equal(lmmt_gw_start(&g, db, devices, NULL, NULL), 0);
  char list[1024] = "";
  add_members(list, sizeof list, 0, 12, 3);
  add_members(list, sizeof list, 12, 15, 6);
  for (int i = 0; i < 5; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), ",ep=acl-%04d/3", i);
  char *p = gm_json(0, "mixed", 2, 20, list, "/fanout/mixed", "");
  url(u, sizeof u, &g, "/42769/0");
  lmmt_tool_run r = coap("put", "110", p, u);
  assert_string_equal(r.out, "");
  lmmt_tool_run_free(&r);
  free(p);
  url(u, sizeof u, &g, "/fanout/mixed/3/0");
  r = coap("put", "110", "[{\"bn\":\"/3/0/\",\"n\":\"14\",\"vs\":\"+02:00\"}]", u);
  assert_int_equal(r.status, 0);
  static tally t;
  count(r.out, NULL, &t);
  assert_int_equal(t.members, 20);
  /* dev-0003, -0007, -0011 are TLV only; dev-0012..14 are object 6; acl-* refuse */
  assert_int_equal(t.ok, 12 - 3);
  assert_int_equal(t.failed, 3);
  assert_int_equal(t.refused, 3 + 5);
  assert_non_null(strstr(r.out, "{\"bn\":\"/dev-0012\",\"n\":\"/status\",\"vs\":\"refused\"},"
                                "{\"n\":\"/reason\",\"vs\":\"member ID ep=dev-0012/6: /6 only, "
                                "not /3/0\"}"));
  assert_non_null(strstr(r.out, "{\"bn\":\"/acl-0000\",\"n\":\"/status\",\"vs\":\"refused\"},"
                                "{\"n\":\"/code\",\"vs\":\"4.01\"}"));
  assert_non_null(strstr(r.out, "{\"bn\":\"/dev-0003\",\"n\":\"/status\",\"vs\":\"failed\"},"
                                "{\"n\":\"/code\",\"vs\":\"4.15\"}"));
  lmmt_tool_run_free(&r);
  /* the written value reads back through the gateway, as text from each member */
  url(u, sizeof u, &g, "/fanout/mixed/3/0/14");
  r = coap("get", NULL, NULL, u);
  assert_int_equal(lmmt_count_of(r.out, "\"vs\":\"+02:00\""), 9);
  lmmt_tool_run_free(&r);
  assert_int_equal(lmmt_gw_stop(&g), 0);
  assert_int_equal(lmmt_sim_stop(&open_sim), 0);
  assert_int_equal(lmmt_sim_stop(&acl_sim), 0);
  lmmt_scratch_remove(dir);
}

/* Observe on a Fanout Target: one notification per member change, the member ID rule in the
 * first answer, Write-Attributes fanned out, the observation gone with the server. */
static void test_observe(void **state) {
  (void)state;
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "3", "--object", "3", NULL}),
                   0);
  char dir[64], db[96], u[256];
  assert_int_equal(lmmt_scratch_dir(dir, "gwobs"), 0);
  db_in(db, sizeof db, dir);
  lmmt_gw g;
  assert_int_equal(lmmt_gw_start(&g, db, sim.members_path, NULL, NULL), 0);
  char *p = gm_json(0, "obs", 2, 3, "ep=dev-0000/3,ep=dev-0001/3,ep=dev-0002/6", "/fanout/obs", "");
  url(u, sizeof u, &g, "/42769/0");
  lmmt_tool_run r = coap("put", "110", p, u);
  assert_string_equal(r.err, "");
  lmmt_tool_run_free(&r);
  free(p);
  url(u, sizeof u, &g, "/fanout/obs/3/0/14");
  r = coap("put", "0", "+05:00", u);
  static tally t;
  count(r.out, NULL, &t);
  assert_int_equal(t.ok, 2);
  lmmt_tool_run_free(&r);
  /* Write-Attributes: a PUT with a query and no payload */
  url(u, sizeof u, &g, "/fanout/obs/3/0/14?pmin=0&pmax=600");
  r = coap("put", NULL, NULL, u);
  count(r.out, NULL, &t);
  assert_int_equal(t.ok, 2);
  assert_int_equal(lmmt_count_of(r.out, "\"vs\":\"2.04\""), 2);
  lmmt_tool_run_free(&r);

  url(u, sizeof u, &g, "/fanout/obs/3/0/14");
  lmmt_tool_job *bg = lmmt_coap_client_start(
      30 * 1000, (const char *[]){"-m", "get", "-s", "6", "-B", "8", u, NULL});
  assert_non_null(bg);
  assert_int_equal(log_wait(&g, "notification 2 of group 'obs'", 1), 1); /* both answered */
  r = coap("put", "0", "+06:00", u);
  lmmt_tool_run_free(&r);
  assert_int_equal(log_wait(&g, "notification 4 of group 'obs'", 1), 1); /* both changed */
  r = lmmt_coap_client_finish(bg);
  assert_int_equal(lmmt_count_of(r.out, "\"vs\":\"+05:00\""), 2);
  assert_int_equal(lmmt_count_of(r.out, "\"vs\":\"+06:00\""), 2);
  assert_int_equal(lmmt_count_of(r.out, "member ID ep=dev-0002/6: /6 only"), 1);
  assert_int_equal(lmmt_count_of(r.out, "{\"bn\":\"/dev-0000\",\"n\":\"/status\",\"vs\":\"ok\"}"),
                   2);
  lmmt_tool_run_free(&r);
  /* the server is gone: the next change ends the observation of the members */
  r = coap("put", "0", "+07:00", u);
  lmmt_tool_run_free(&r);
  assert_int_equal(log_wait(&g, "observation of 2 members of group 'obs' ended", 1), 1);
  assert_int_equal(lmmt_gw_stop(&g), 0);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  lmmt_scratch_remove(dir);
}

/* MBMS without repair: the members that missed the group request are named silent, with why. */
static void test_silent_members(void **state) {
  (void)state;
  lmmt_mock mock;
  int bearer = lmmt_random_port();
  char port_s[16], env_root[96], more[192], dir[64], db[96], u[256], devices[128];
  snprintf(port_s, sizeof port_s, "%d", bearer);
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", port_s, NULL}), 0);
  lmmt_sim hear, deaf;
  assert_int_equal(lmmt_sim_start(&hear, (const char *[]){"--count", "3", "--object", "6", NULL}),
                   0);
  assert_int_equal(lmmt_sim_start(&deaf, (const char *[]){"--count", "3", "--object", "6",
                                                          "--base-addr", "127.1.2.1", "--ep-prefix",
                                                          "deaf-", "--group-loss", "1", NULL}),
                   0);
  assert_int_equal(lmmt_scratch_dir(dir, "gwsilent"), 0);
  db_in(db, sizeof db, dir);
  snprintf(devices, sizeof devices, "%s/devices", dir);
  char *a = lmmt_read_file(hear.members_path, NULL), *b = lmmt_read_file(deaf.members_path, NULL);
  FILE *f = fopen(devices, "w");
  assert_non_null(f);
  fputs(a, f), fputs(b, f);
  fclose(f);
  free(a), free(b);
  snprintf(env_root, sizeof env_root, "LMM_T8_API_ROOT=%s", mock.api_root);
  lmmt_gw g;
  assert_int_equal(lmmt_gw_start(&g, db, devices,
                                 (const char *[]){env_root, "LMM_T8_SCS_AS_ID=as1", NULL},
                                 (const char *[]){"--no-repair", "--grace-ms", "300", NULL}),
                   0);
  snprintf(more, sizeof more,
           ",{\"n\":\"5\",\"vs\":\"quiet@operator.example\"},{\"n\":\"9\",\"v\":1},"
           "{\"n\":\"10\",\"v\":%d}",
           bearer);
  char *p = gm_json(0, "quiet", 0, 6,
                    "ep=dev-0000/6,ep=dev-0001/6,ep=dev-0002/6,ep=deaf-0000/6,ep=deaf-0001/6,"
                    "ep=deaf-0002/6",
                    "/fanout/quiet", more);
  url(u, sizeof u, &g, "/42769/0");
  lmmt_tool_run r = coap("put", "110", p, u);
  assert_string_equal(r.err, "");
  lmmt_tool_run_free(&r);
  free(p);
  url(u, sizeof u, &g, "/fanout/quiet/6/0/0");
  r = coap("get", NULL, NULL, u);
  static tally t;
  count(r.out, "/6/0/0", &t);
  assert_int_equal(t.members, 6);
  assert_int_equal(t.ok, 3);
  assert_int_equal(t.with_leaf, 3);
  assert_int_equal(t.silent, 3);
  assert_non_null(strstr(r.out, "{\"bn\":\"/deaf-0001\",\"n\":\"/status\",\"vs\":\"silent\"},"
                                "{\"n\":\"/reason\",\"vs\":\""));
  lmmt_tool_run_free(&r);
  assert_int_equal(lmmt_gw_stop(&g), 0);
  assert_int_equal(lmmt_sim_stop(&hear), 0);
  assert_int_equal(lmmt_sim_stop(&deaf), 0);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
  lmmt_scratch_remove(dir);
}

/* The command's own errors: one line and exit 2. */
static void test_cli_usage(void **state) {
  (void)state;
  char dir[64], db[96];
  assert_int_equal(lmmt_scratch_dir(dir, "gwcli"), 0);
  db_in(db, sizeof db, dir);
  assert_true(lmmt_cli_check(db, NULL, 2, NULL, "missing --devices FILE",
                             (const char *[]){"gateway", NULL}));
  assert_true(lmmt_cli_check(db, NULL, 2, NULL, "--devices /nonexistent",
                             (const char *[]){"gateway", "--devices", "/nonexistent", NULL}));
  assert_true(lmmt_cli_check(
      db, NULL, 2, NULL, "--coaps-listen needs --psk-id",
      (const char *[]){"gateway", "--devices", "x", "--coaps-listen", "127.0.0.1:0", NULL}));
  assert_true(
      lmmt_cli_check(db, NULL, 2, NULL, "--listen: 'nowhere' is not ADDR:PORT",
                     (const char *[]){"gateway", "--devices", "x", "--listen", "nowhere", NULL}));
  assert_true(lmmt_cli_check(db, NULL, 0, "gateway --devices FILE", NULL,
                             (const char *[]){"gateway", "--help", NULL}));
  lmmt_scratch_remove(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_usage),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_read_200_unicast_restart),
      cmocka_unit_test(test_read_200_mbms),
      cmocka_unit_test(test_write_some_refuse),
      cmocka_unit_test(test_silent_members),
      cmocka_unit_test(test_observe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
