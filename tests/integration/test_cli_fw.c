/* test_cli_fw.c - "lwm2m-mbms deliver GROUP --firmware FILE", "cancel" and the report of a
 * firmware campaign: the real binary on a store in a temp directory, flag validation and its
 * messages, reports of a stored campaign in the three layouts, and whole campaigns to simulated
 * devices over IP multicast and unicast (loopback only), cancelled too. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct run {
  int status; /* exit code, or 128 + the signal that ended it */
  char *out, *err;
} run;

static void run_free(run *r) {
  free(r->out), free(r->err);
  memset(r, 0, sizeof *r);
}

typedef struct fixture {
  char dir[64];
  char db[96];
  char fw[96];    /* a 20,000-byte package */
  char empty[96]; /* an empty file */
} fixture;

static void write_bytes(const char *path, const void *p, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(p, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/lmmt-clifw-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  snprintf(f->fw, sizeof f->fw, "%s/fw.bin", f->dir);
  snprintf(f->empty, sizeof f->empty, "%s/empty.bin", f->dir);
  uint8_t *img = malloc(20000);
  if (!img) return -1;
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < 20000; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    img[i] = (uint8_t)x;
  }
  write_bytes(f->fw, img, 20000);
  free(img);
  write_bytes(f->empty, "", 0);
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

/* A started CLI: its pid and where its output goes. */
typedef struct proc {
  pid_t pid;
  char dir[32], out[64], err[64];
} proc;

static proc cli_start(const char *db, const char *const *args) {
  proc p;
  snprintf(p.dir, sizeof p.dir, "/tmp/lmmt-cli-XXXXXX");
  assert_non_null(mkdtemp(p.dir));
  snprintf(p.out, sizeof p.out, "%s/out", p.dir);
  snprintf(p.err, sizeof p.err, "%s/err", p.dir);
  const char *argv[64] = {getenv("LMM_CLI")};
  assert_non_null(argv[0]);
  int n = 1;
  if (db) argv[n++] = "--db", argv[n++] = db;
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  p.pid = fork();
  assert_true(p.pid >= 0);
  if (p.pid == 0) {
    int fo = open(p.out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(p.err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1), dup2(fe, 2);
    unsetenv("LMM_T8_API_ROOT");
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return p;
}

/* Waits at most `secs` (then kills it: the test fails on the status, never hangs). */
static run cli_wait(proc *p, int secs) {
  int st = 0;
  pid_t got = 0;
  for (int i = 0; i < secs * 20 && (got = waitpid(p->pid, &st, WNOHANG)) == 0; i++)
    usleep(50000);
  if (got == 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    print_error("the CLI did not end within %d s: killed\n", secs);
  }
  run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), lmmt_read_file(p->out, NULL),
           lmmt_read_file(p->err, NULL)};
  if (!r.out) r.out = strdup("");
  if (!r.err) r.err = strdup("");
  unlink(p->out), unlink(p->err), rmdir(p->dir);
  return r;
}

static run cli(const char *db, const char *const *args) {
  proc p = cli_start(db, args);
  return cli_wait(&p, 120);
}

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

static void write_file(const char *path, const char *text) {
  write_bytes(path, text, strlen(text));
}

/* How often `needle` occurs in `hay`. */
static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* ------------------------------------------------------------ flags */

static void test_fw_flags(void **state) {
  fixture *f = *state;
  const char *db = f->db, *fw = f->fw;
  char members[128];
  snprintf(members, sizeof members, "%s/m", f->dir);
  write_file(members, "ep=a/5 coap://127.0.0.1:9\nep=b/5 coap://127.0.0.1:9\n");
  EXPECT(db, 0, NULL, NULL, "group", "create", "u", "--type", "unicast", "--members", members);
  EXPECT(db, 0, NULL, NULL, "group", "create", "mc", "--type", "multicast", "--multicast-address",
         "239.1.2.3", "--members", members);
  EXPECT(db, 0, NULL, NULL, "group", "create", "empty", "--type", "unicast");
  char six[128];
  snprintf(six, sizeof six, "%s/six", f->dir);
  write_file(six, "ep=a/6 coap://127.0.0.1:9\n");
  EXPECT(db, 0, NULL, NULL, "group", "create", "loc", "--type", "unicast", "--members", six);

  /* The file. */
  EXPECT(db, 2, NULL, "--firmware: cannot read '/nonexistent/fw.bin': No such file", "deliver", "u",
         "--firmware", "/nonexistent/fw.bin");
  EXPECT(db, 2, NULL, "is empty", "deliver", "u", "--firmware", f->empty);
  EXPECT(db, 2, NULL, "is not a regular file", "deliver", "u", "--firmware", f->dir);
  EXPECT(db, 2, NULL, "--firmware needs a value", "deliver", "u", "--firmware");
  EXPECT(db, 2, NULL, "--rate needs a value", "deliver", "u", "--firmware", "x", "--rate");
  EXPECT(db, 2, NULL, "--firmware: give one file only", "deliver", "u", "--firmware", fw,
         "--firmware", fw);
  /* Each flag's value, named with the flag. */
  EXPECT(db, 2, NULL, "--rate: '12x' is not bytes per second", "deliver", "mc", "--firmware", fw,
         "--rate", "12x");
  EXPECT(db, 2, NULL, "--rate: '-5k'", "deliver", "mc", "--firmware", fw, "--rate", "-5k");
  EXPECT(db, 2, NULL, "--rate: '50'", "deliver", "mc", "--firmware", fw, "--rate", "50");
  EXPECT(db, 2, NULL, "--pkg-version: '2.0 beta' is not 1 to 32 of letters", "deliver", "mc",
         "--firmware", fw, "--pkg-version", "2.0 beta");
  EXPECT(db, 2, NULL, "--wave: '0' is neither", "deliver", "u", "--firmware", fw, "--wave", "0");
  EXPECT(db, 2, NULL, "--wave: '150%'", "deliver", "u", "--firmware", fw, "--wave", "150%");
  EXPECT(db, 2, NULL, "--wave: 'half'", "deliver", "u", "--firmware", fw, "--wave", "half");
  EXPECT(db, 2, NULL, "--wave: 3 is more than the 2 members of group 'u'", "deliver", "u",
         "--firmware", fw, "--wave", "3");
  EXPECT(db, 2, NULL, "--success-threshold: '90' is not a share", "deliver", "u", "--firmware", fw,
         "--wave", "1", "--success-threshold", "90");
  EXPECT(db, 2, NULL, "--error-threshold: '120%'", "deliver", "u", "--firmware", fw, "--wave", "1",
         "--error-threshold", "120%");
  EXPECT(db, 2, NULL, "--success-threshold judges the first wave", "deliver", "u", "--firmware", fw,
         "--success-threshold", "0.9");
  EXPECT(db, 2, NULL, "--fragment-size: '8' is not a whole number from 16 to 1024", "deliver", "mc",
         "--firmware", fw, "--fragment-size", "8");
  EXPECT(db, 2, NULL, "--fec: 'x'", "deliver", "mc", "--firmware", fw, "--fec", "x");
  EXPECT(db, 2, NULL, "--rounds: '0'", "deliver", "mc", "--firmware", fw, "--rounds", "0");
  EXPECT(db, 2, NULL, "--fec-code: 'raptor' is not rs or xor", "deliver", "mc", "--firmware", fw,
         "--fec-code", "raptor");
  EXPECT(db, 2, NULL, "--fec-block: '255' is not a whole number from 1 to 254", "deliver", "mc",
         "--firmware", fw, "--fec-block", "255");
  EXPECT(db, 2, NULL, "--fec-loss: '60%' is above 50%", "deliver", "mc", "--firmware", fw,
         "--fec-loss", "60%");
  EXPECT(db, 2, NULL, "--fec-loss: 'lots' is not a share", "deliver", "mc", "--firmware", fw,
         "--fec-loss", "lots");
  EXPECT(db, 2, NULL, "--fec is the XOR stride: with --fec-code rs give --fec-block", "deliver",
         "mc", "--firmware", fw, "--fec-code", "rs", "--fec", "8");
  EXPECT(db, 2, NULL, "--fec-block is for --fec-code rs, not xor", "deliver", "mc", "--firmware",
         fw, "--fec-code", "xor", "--fec-block", "100");
  EXPECT(db, 2, NULL, "--fec-loss is for mbms and multicast delivery, not unicast", "deliver", "u",
         "--firmware", fw, "--fec-loss", "5%");
  EXPECT(db, 2, NULL, "--update-deadline: '0'", "deliver", "u", "--firmware", fw,
         "--update-deadline", "0");
  EXPECT(db, 2, NULL, "--update-wait: '-1'", "deliver", "u", "--firmware", fw, "--update-wait",
         "-1");
  EXPECT(db, 2, NULL, "--method: 'sideways' is not push, pull or auto", "deliver", "u",
         "--firmware", fw, "--method", "sideways");
  EXPECT(db, 2, NULL, "--via: 'pigeon'", "deliver", "u", "--firmware", fw, "--via", "pigeon");
  EXPECT(db, 2, NULL, "--wait: 'soon'", "deliver", "u", "--firmware", fw, "--wait", "soon");
  /* Flags that do not fit together, or not the path. */
  EXPECT(db, 2, NULL, "--read is an operation's option: it cannot be combined with --firmware",
         "deliver", "u", "--firmware", fw, "--read", "/5/0/3");
  EXPECT(db, 2, NULL, "--no-repair is an operation's option", "deliver", "u", "--no-repair",
         "--firmware", fw);
  EXPECT(db, 2, NULL, "--rate is for firmware delivery (--firmware FILE)", "deliver", "u", "--read",
         "/5/0/3", "--rate", "1M");
  EXPECT(db, 2, NULL, "--wave is for deliver, not resume", "resume", "1", "--wave", "3");
  EXPECT(db, 2, NULL, "--fec is for mbms and multicast delivery, not unicast", "deliver", "u",
         "--firmware", fw, "--fec", "4");
  EXPECT(db, 2, NULL,
         "--method is for unicast delivery (--via unicast); group 'mc' goes via "
         "multicast",
         "deliver", "mc", "--firmware", fw, "--method", "pull");
  EXPECT(db, 2, NULL, "--blob-host serves pulls: give --method pull or --method auto", "deliver",
         "u", "--firmware", fw, "--blob-host", "gw.example");
  EXPECT(db, 2, NULL, "--answer-listen and --answer-uri are for mbms and multicast", "deliver", "u",
         "--firmware", fw, "--answer-listen", "127.0.0.1:0");
  EXPECT(db, 2, NULL, "group 'u' has no multicast address", "deliver", "u", "--firmware", fw,
         "--via", "multicast");
  EXPECT(db, 2, NULL, "group 'u' has no External Group ID", "deliver", "u", "--firmware", fw,
         "--via", "mbms");
  /* The group. */
  EXPECT(db, 2, NULL, "missing GROUP", "deliver", "--firmware", fw);
  EXPECT(db, 2, NULL, "too many arguments ('extra')", "deliver", "u", "extra", "--firmware", fw);
  EXPECT(db, 2, NULL, "unknown group 'nope'", "deliver", "nope", "--firmware", fw);
  EXPECT(db, 2, NULL, "group 'empty' has no members", "deliver", "empty", "--firmware", fw);
  EXPECT(db, 2, NULL, "no member of group 'loc' is a Firmware Update object (Object ID 5)",
         "deliver", "loc", "--firmware", fw);
  /* None of them stored a campaign. */
  EXPECT(db, 0, "no campaigns", NULL, "campaigns");
  run r = cli(NULL, (const char *[]){"--help", NULL});
  assert_int_equal(r.status, 0);
  static const char *const want[] = {"deliver GROUP --firmware FILE",
                                     "cancel CAMPAIGN",
                                     "--method M",
                                     "--wave N | --wave P%",
                                     "--success-threshold",
                                     "--update-deadline SEC",
                                     "--rate R"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(r.out, want[i])) fail_msg("--help lacks '%s'", want[i]);
  run_free(&r);
  /* A command's own --help gives the same text, exit 0, whatever else is on the line. */
  r = cli(NULL, (const char *[]){"deliver", "g", "--firmware", "--help", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "deliver GROUP --firmware FILE"));
  run_free(&r);
}

/* ------------------------------------------------------------ stored campaigns */

/* A firmware campaign stored through the library, one member of each end; and an operation
 * campaign and a firmware one that is still running. */
static int64_t store_fw_campaign(const char *db, int64_t *running, int64_t *operation) {
  lmm_ctx *ctx = NULL;
  lmm_store *s = NULL;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  assert_int_equal(lmm_store_open(ctx, db, &s), LMM_OK);
  lmm_member m[6] = {{.ep = "a", .oid = 5}, {.ep = "b", .oid = 5}, {.ep = "c", .oid = 5},
                     {.ep = "d", .oid = 5}, {.ep = "e", .oid = 5}, {.ep = "f", .oid = 6}};
  lmm_campaign_info c = {.group = "fleet",
                         .kind = LMM_CK_FIRMWARE,
                         .state = LMM_CS_DONE,
                         .via = LMM_VIA_MULTICAST,
                         .window_s = 5,
                         .t8_status = -1,
                         .created_ms = 1767225600000,
                         .started_ms = 1767225600100,
                         .finished_ms = 1767225642350,
                         .fw_summary = "{\"size\":20000,\"sha256\":\"ab01\",\"k\":40,\"q\":5,"
                                       "\"bytes_group\":23092,\"rounds\":2,\"phase\":\"done\"}"};
  assert_int_equal(lmm_store_campaign_create(s, &c, m, 6), LMM_OK);
  lmm_outcome o[6];
  for (int i = 0; i < 6; i++) {
    lmm_outcome_init(&o[i]);
    o[i].ep = m[i].ep, o[i].oid = m[i].oid, o[i].done = true;
  }
  o[0].via = LMM_VIA_MULTICAST, o[0].fw_end = LMM_FWC_UPDATED, o[0].fw_state = 0;
  o[0].fw_result = 1, o[0].fw_wave = true, o[0].latency_ms = 4100;
  o[0].gm_step = LMM_STEP_OK, o[0].gm_code = 0x44;
  o[1].via = LMM_VIA_MULTICAST, o[1].fw_end = LMM_FWC_UPDATED, o[1].fw_state = 0;
  o[1].fw_result = 1, o[1].fw_missed = 3, o[1].fw_repaired = 3, o[1].fw_bytes_unicast = 1536;
  o[1].latency_ms = 9000, o[1].fw_pkg_version = "2.1";
  o[2].via = LMM_VIA_MULTICAST, o[2].fw_end = LMM_FWC_FAILED, o[2].fw_state = 0;
  o[2].fw_result = 5, o[2].error = "update result 5: integrity check failure, \"bad\"";
  o[3].via = LMM_VIA_UNICAST, o[3].fw_pulled = true, o[3].fw_end = LMM_FWC_HELD;
  o[3].fw_state = 2, o[3].fw_result = 0, o[3].fw_bytes_unicast = 20000;
  o[3].error = "held: the first wave stopped the campaign";
  o[4].via = LMM_VIA_UNICAST, o[4].fw_end = LMM_FWC_FAILED, o[4].err = LMM_ERR_TIMEOUT;
  o[2].gm_step = LMM_STEP_REFUSED, o[2].gm_code = 0x84, o[2].gm_error = "4.04 Not Found";
  o[5].fw_end = LMM_FWC_REFUSED, o[5].error = "its Object ID is 6, not 5";
  assert_int_equal(lmm_store_outcomes_put(s, c.id, o, 6), LMM_OK);

  lmm_campaign_info r = {.group = "fleet",
                         .kind = LMM_CK_FIRMWARE,
                         .state = LMM_CS_DELIVERING,
                         .via = LMM_VIA_MULTICAST,
                         .t8_status = -1};
  assert_int_equal(lmm_store_campaign_create(s, &r, m, 2), LMM_OK);
  *running = r.id;
  lmm_campaign_info op = {.group = "fleet",
                          .state = LMM_CS_COLLECTING,
                          .via = LMM_VIA_UNICAST,
                          .op_kind = LMM_OPK_READ,
                          .op_path = "/5/0/3",
                          .t8_status = -1};
  assert_int_equal(lmm_store_campaign_create(s, &op, m, 1), LMM_OK);
  *operation = op.id;
  lmm_store_close(s);
  lmm_ctx_free(ctx);
  return c.id;
}

static void test_fw_report(void **state) {
  fixture *f = *state;
  const char *db = f->db;
  int64_t running, operation, id = store_fw_campaign(db, &running, &operation);
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", (long long)id);

  run r = cli(db, (const char *[]){"report", ids, NULL});
  if (r.status) print_error("%s%s", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "firmware to group fleet via multicast, done (phase done)"));
  assert_non_null(strstr(r.out, "size 20000  sha256 ab01  k 40  q 5  bytes_group 23092"));
  assert_non_null(strstr(r.out, "UPDATE RESULT / ERROR"));
  assert_non_null(strstr(r.out, "ep=a/5                       multicast     yes"));
  assert_non_null(strstr(r.out, "updated    1 firmware updated successfully"));
  assert_int_equal(count_of(r.out, "1 firmware updated successfully"), 2);
  assert_non_null(strstr(r.out, "1536      3        3     0 updated"));
  /* The error quotes the result: the text once. */
  assert_non_null(strstr(r.out, "failed     5 integrity check failure for the new firmware "
                                "package; error: update result 5: integrity check failure"));
  assert_non_null(strstr(r.out, "unicast pull"));
  assert_non_null(strstr(r.out, "held       0 initial value; error: held: the first wave"));
  assert_non_null(strstr(r.out, "unicast push"));
  assert_non_null(strstr(r.out, "error: timed out"));
  /* Each member's Group Mgmt write, the PkgVersion last read, and the steps' counts. */
  assert_non_null(strstr(r.out, "ep=a/5                       multicast     yes  2.04"));
  assert_non_null(strstr(r.out, "; Group Mgmt write: 4.04 Not Found"));
  assert_non_null(strstr(r.out, "1 firmware updated successfully; PkgVersion 2.1\n"));
  assert_non_null(strstr(r.out, "Group Mgmt write  1 ok, 1 refused, 0 failed; not run for 4\n"));
  assert_non_null(strstr(r.out, "refused    error: its Object ID is 6, not 5"));
  assert_non_null(strstr(r.out, "6 members: 2 updated, 2 failed, 1 held, 0 cancelled, 1 refused, "
                                "0 pending; by path: mbms 0, multicast 3, unicast 2 (pull 1)"));
  run_free(&r);

  r = cli(db, (const char *[]){"report", ids, "--format", "json", NULL});
  assert_int_equal(r.status, 0);
  assert_true(r.out[0] == '{');
  assert_non_null(strstr(r.out, "\"kind\":\"firmware\""));
  assert_non_null(strstr(r.out, "\"phase\":\"done\""));
  assert_non_null(strstr(r.out, "\"summary\":{\"size\":20000,\"sha256\":\"ab01\""));
  assert_null(strstr(r.out, "\"stats\"")); /* only a running deliver has them */
  assert_non_null(strstr(r.out, "{\"member\":\"ep=b/5\",\"path\":\"multicast\",\"wave\":false,"
                                "\"bytesUnicast\":1536,\"fragmentsMissed\":3,"
                                "\"fragmentsRepaired\":3,\"state\":0,\"updateResult\":1,"
                                "\"updateResultText\":\"firmware updated successfully\","
                                "\"end\":\"updated\",\"elapsedMs\":9000,\"error\":null,"
                                "\"pkgVersion\":\"2.1\",\"steps\":{\"groupMgmt\":{\"result\":"
                                "\"none\",\"code\":null,\"error\":null},\"group\":{\"result\":"
                                "\"none\",\"code\":null,\"error\":null},\"unicast\":{\"result\":"
                                "\"none\",\"code\":null,\"error\":null}}}"));
  assert_non_null(strstr(r.out, "\"path\":\"unicast pull\""));
  assert_non_null(strstr(r.out, "\"error\":\"update result 5: integrity check failure, "
                                "\\\"bad\\\"\""));
  assert_non_null(strstr(r.out, "{\"member\":\"ep=f/6\",\"path\":\"-\",\"wave\":false,"
                                "\"bytesUnicast\":0,\"fragmentsMissed\":0,\"fragmentsRepaired\":0,"
                                "\"state\":null,\"updateResult\":null,\"updateResultText\":null,"
                                "\"end\":\"refused\""));
  assert_non_null(strstr(r.out, "\"totals\":{\"members\":6,\"updated\":2,\"failed\":2,\"held\":1,"
                                "\"cancelled\":0,\"refused\":1,\"pending\":0,\"byPath\":{"
                                "\"mbms\":0,\"multicast\":3,\"unicast\":2,\"unicastPull\":1}}"));
  run_free(&r);

  r = cli(db, (const char *[]){"report", ids, "--format", "csv", NULL});
  assert_int_equal(r.status, 0);
  static const char want_csv[] =
      "member,path,wave,gm_result,gm_code,bytes_unicast,fragments_missed,fragments_repaired,state,"
      "update_result,update_result_text,end,elapsed_ms,error,pkg_version\r\n"
      "ep=a/5,multicast,yes,ok,2.04,0,0,0,0,1,firmware updated successfully,updated,4100,,\r\n"
      "ep=b/5,multicast,no,,,1536,3,3,0,1,firmware updated successfully,updated,9000,,2.1\r\n"
      "ep=c/5,multicast,no,refused,4.04,0,0,0,0,5,integrity check failure for the new firmware "
      "package,failed,0,\"update result 5: integrity check failure, \"\"bad\"\"\",\r\n"
      "ep=d/5,unicast pull,no,,,20000,0,0,2,0,initial value,held,0,held: the first wave stopped "
      "the campaign,\r\n"
      "ep=e/5,unicast push,no,,,0,0,0,,,,failed,0,timed out,\r\n"
      "ep=f/6,,no,,,0,0,0,,,,refused,0,\"its Object ID is 6, not 5\",\r\n";
  assert_string_equal(r.out, want_csv);
  run_free(&r);

  /* The list says which kind each campaign is. */
  r = cli(db, (const char *[]){"campaigns", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "KIND"));
  assert_non_null(strstr(r.out, "firmware  firmware via multicast       done"));
  assert_non_null(strstr(r.out, "operation read /5/0/3"));
  run_free(&r);
  r = cli(db, (const char *[]){"--json", "campaigns", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"kind\":\"firmware\",\"operation\":null,\"path\":null"));
  assert_non_null(strstr(r.out, "\"kind\":\"operation\",\"operation\":\"read\""));
  assert_non_null(
      strstr(r.out, "\"members\":6,\"succeeded\":2,\"failed\":3,\"pending\":0,\"refused\":1"));
  run_free(&r);
  /* A firmware campaign that has ended is not resumed (one that has not is: test_crash_resume). */
  EXPECT(db, 2, NULL, "has finished: see 'lwm2m-mbms report", "resume", ids);
  EXPECT(db, 2, NULL, "--firmware needs a value", "resume", ids, "--firmware");

  /* cancel */
  char rs[24], os[24];
  snprintf(rs, sizeof rs, "%lld", (long long)running);
  snprintf(os, sizeof os, "%lld", (long long)operation);
  EXPECT(db, 2, NULL, "has finished (done): nothing to cancel", "cancel", ids);
  EXPECT(db, 2, NULL, "unknown campaign 4242", "cancel", "4242");
  EXPECT(db, 2, NULL, "'x1' is not a campaign number", "cancel", "x1");
  EXPECT(db, 2, NULL, "missing CAMPAIGN", "cancel");
  EXPECT(db, 2, NULL, "too many arguments", "cancel", rs, rs);
  EXPECT(db, 2, NULL, "unknown option '--now'", "cancel", "--now", rs);
  EXPECT(db, 2, NULL, "is an operation campaign: only firmware campaigns can be cancelled",
         "cancel", os);
  EXPECT(db, 0, "cancel requested", NULL, "cancel", rs);
  EXPECT(db, 0, "cancel was already requested", NULL, "cancel", rs);
  EXPECT(db, 0, "\"cancelRequested\":true,\"alreadyRequested\":true", NULL, "cancel", rs, "--json");
  EXPECT(db, 0, "via multicast, delivering, cancel requested", NULL, "report", rs);
  EXPECT(db, 0, "\"cancelRequested\":true", NULL, "report", rs, "--json");
  lmm_ctx *ctx = NULL;
  lmm_store *s = NULL;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  assert_int_equal(lmm_store_open(ctx, db, &s), LMM_OK);
  bool req = false;
  assert_int_equal(lmm_store_campaign_cancel_requested(s, running, &req), LMM_OK);
  assert_true(req);
  assert_int_equal(lmm_store_campaign_cancel_requested(s, operation, &req), LMM_OK);
  assert_false(req);
  lmm_store_close(s);
  lmm_ctx_free(ctx);
}

/* ------------------------------------------------------------ whole campaigns */

typedef struct fleet {
  lmmt_sim sim;
} fleet;

static void fleet_up(fleet *w, const char *db, const char *name, const char *type,
                     const char *const *sim_extra) {
  const char *sargs[24] = {"--count", "20", "--object", "5", "--update-ms", "100", "--seed", "3"};
  int k = 8;
  for (int i = 0; sim_extra && sim_extra[i] && k < 23; i++)
    sargs[k++] = sim_extra[i];
  sargs[k] = NULL;
  assert_int_equal(lmmt_sim_start(&w->sim, sargs), 0);
  char port[16], addr[32];
  snprintf(port, sizeof port, "%d", 40000 + lmmt_random_port() % 20000);
  snprintf(addr, sizeof addr, "239.%d.%d.%d", 100 + rand() % 100, rand() % 250, 1 + rand() % 250);
  if (!strcmp(type, "multicast"))
    EXPECT(db, 0, "(multicast, 20 members)", NULL, "group", "create", name, "--type", "multicast",
           "--multicast-address", addr, "--multicast-port", port, "--window", "2", "--members",
           w->sim.members_path);
  else
    EXPECT(db, 0, "(unicast, 20 members)", NULL, "group", "create", name, "--type", "unicast",
           "--members", w->sim.members_path);
}

static void fleet_down(fleet *w) {
  assert_int_equal(lmmt_sim_stop(&w->sim), 0);
}

/* The id of the newest campaign of the group, from "campaigns --json". */
static int64_t newest_campaign(const char *db, const char *group) {
  run r = cli(db, (const char *[]){"--json", "campaigns", group, NULL});
  assert_int_equal(r.status, 0);
  const char *p = strstr(r.out, "\"id\":");
  int64_t id = p ? strtoll(p + 5, NULL, 10) : 0;
  run_free(&r);
  return id;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_all_updated(const char *db, const char *group, const char *path) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)newest_campaign(db, group));
  run r = cli(db, (const char *[]){"report", id, NULL});
  assert_int_equal(r.status, 0);
  if (count_of(r.out, "updated    1 firmware updated successfully") != 20)
    fail_msg("report:\n%s", r.out);
  char want[160];
  snprintf(want, sizeof want,
           "20 members: 20 updated, 0 failed, 0 held, 0 cancelled, 0 refused, "
           "0 pending; by path: %s",
           path);
  assert_non_null(strstr(r.out, want));
  run_free(&r);
  r = cli(db, (const char *[]){"report", id, "--format", "csv", NULL});
  assert_int_equal(r.status, 0);
  assert_int_equal(count_of(r.out, ",1,firmware updated successfully,updated,"), 20);
  run_free(&r);
}

static void test_fw_deliver_multicast(void **state) {
  fixture *f = *state;
  fleet w;
  fleet_up(&w, f->db, "mfleet", "multicast", NULL);
  double t0 = now_s();
  run r = cli(f->db, (const char *[]){"deliver", "mfleet", "--firmware", f->fw, "--grace", "300",
                                      "--fec", "8", "--rate", "500k", "--json", NULL});
  double t1 = now_s();
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_true(r.out[0] == '{');
  assert_string_equal(r.err, ""); /* no progress when stderr is not a terminal */
  assert_non_null(strstr(r.out, "\"kind\":\"firmware\""));
  assert_non_null(strstr(r.out, "\"via\":\"multicast\""));
  assert_non_null(strstr(r.out, "\"stats\":{\"phase\":\"done\",\"k\":40,\"q\":5,"));
  assert_int_equal(count_of(r.out, "\"updateResult\":1,"), 20);
  assert_non_null(strstr(r.out, "\"totals\":{\"members\":20,\"updated\":20,\"failed\":0"));
  /* The live report has each member's Group Mgmt write, as the stored one does. */
  assert_int_equal(count_of(r.out, "\"groupMgmt\":{\"result\":\"ok\",\"code\":\"2.04\""), 20);
  run_free(&r);
  print_message("deliver --firmware (20,000 bytes) to 20 devices over multicast: %.2f s\n",
                t1 - t0);
  check_all_updated(f->db, "mfleet", "mbms 0, multicast 20, unicast 0");
  fleet_down(&w);
}

static void test_fw_deliver_unicast(void **state) {
  fixture *f = *state;
  fleet w;
  fleet_up(&w, f->db, "ufleet", "unicast", NULL);
  double t0 = now_s();
  run r = cli(f->db, (const char *[]){"deliver", "ufleet", "--firmware", f->fw, "--method", "push",
                                      "--wave", "25%", NULL});
  double t1 = now_s();
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_int_equal(count_of(r.out, "unicast push  yes  -            20000"), 5); /* the wave: 25% */
  assert_int_equal(count_of(r.out, "unicast push  -    -            20000"), 15);
  run_free(&r);
  print_message("deliver --firmware (20,000 bytes) to 20 devices by unicast push: %.2f s\n",
                t1 - t0);
  check_all_updated(f->db, "ufleet", "mbms 0, multicast 0, unicast 20 (pull 0)");
  fleet_down(&w);
}

/* Over MBMS through the mock SCEF: TMGI, Group Mgmt writes, fragments over MB2-U with 10 %
 * reception loss per device, repair; the version announced with the package. */
static void test_fw_deliver_mbms(void **state) {
  fixture *f = *state;
  lmmt_mock mock;
  char bp[16];
  snprintf(bp, sizeof bp, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bp, NULL}), 0);
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "20", "--object", "5", "--update-ms", "100",
                                            "--group-loss", "0.1", "--seed", "4", NULL}),
      0);
  EXPECT(f->db, 0, "(mbms, 20 members)", NULL, "group", "create", "bfleet", "--type", "mbms",
         "--external-group-id", "bfleet@operator.example", "--multicast-port", bp, "--window", "1",
         "--members", sim.members_path);
  run r = cli(f->db, (const char *[]){"--api-root", mock.api_root, "--scs-as-id", "as1", "deliver",
                                      "bfleet", "--firmware", f->fw, "--pkg-version", "3.0.1",
                                      "--grace", "300", "--update-wait", "200", NULL});
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  run_free(&r);
  check_all_updated(f->db, "bfleet", "mbms 20, multicast 0, unicast 0");
  /* The SCEF carried the fragments on the bearer, and the announce named the version. */
  assert_true(lmmt_log_count(&mock, "bearer_send", NULL) >= 40);
  assert_true(lmmt_log_count(&mock, "tmgi_allocated", NULL) == 1);
  /* The TMGI the campaign allocated is the group's (policy keep): the next campaign, with the
   * group switched to release, uses it and deletes it at its end. */
  EXPECT(f->db, 0, "tmgi policy        keep", NULL, "group", "show", "bfleet");
  run g = cli(f->db, (const char *[]){"--json", "group", "show", "bfleet", NULL});
  assert_int_equal(g.status, 0);
  const char *t = strstr(g.out, "\"tmgi\":\"");
  assert_non_null(t);
  char tmgi[32] = "";
  sscanf(t + 8, "%31[^\"]", tmgi);
  run_free(&g);
  EXPECT(f->db, 0, "TMGI policy release", NULL, "group", "set", "bfleet", "--tmgi-policy",
         "release");
  r = cli(f->db,
          (const char *[]){"--api-root", mock.api_root, "--scs-as-id", "as1", "deliver", "bfleet",
                           "--firmware", f->fw, "--grace", "300", "--update-wait", "200", NULL});
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  char want[64];
  snprintf(want, sizeof want, "tmgi %s (released)", tmgi);
  assert_non_null(strstr(r.out, want));
  run_free(&r);
  assert_int_equal(lmmt_log_count(&mock, "tmgi_allocated", NULL), 1);
  assert_int_equal(lmmt_log_wait(&mock, "tmgi_deleted", tmgi, 1, 3000), 1);
  EXPECT(f->db, 0, "tmgi               -", NULL, "group", "show", "bfleet");
  EXPECT(f->db, 2, NULL, "--tmgi-policy: 'often' is not keep or release", "group", "set", "bfleet",
         "--tmgi-policy", "often");
  EXPECT(f->db, 2, NULL, "nothing to set", "group", "set", "bfleet");
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
}

/* By unicast pull: each member fetches the package from the CLI's blob server. */
static void test_fw_deliver_pull(void **state) {
  fixture *f = *state;
  fleet w;
  fleet_up(&w, f->db, "pfleet", "unicast", NULL);
  run r = cli(f->db, (const char *[]){"deliver", "pfleet", "--firmware", f->fw, "--method", "pull",
                                      "--blob-listen", "127.0.0.1:0", NULL});
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_int_equal(count_of(r.out, "unicast pull"), 20);
  run_free(&r);
  check_all_updated(f->db, "pfleet", "mbms 0, multicast 0, unicast 20 (pull 20)");
  fleet_down(&w);
}

/* The first wave fails (device 0 fails its update): the rest are held, exit 1. */
static void test_fw_wave_stops(void **state) {
  fixture *f = *state;
  fleet w;
  fleet_up(&w, f->db, "wfleet", "unicast", (const char *[]){"--fw-refuse", "0", NULL});
  run r = cli(f->db, (const char *[]){"deliver", "wfleet", "--firmware", f->fw, "--wave", "4",
                                      "--json", NULL});
  if (r.status != 1) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.out, "\"phase\":\"stopped\""));
  assert_non_null(strstr(r.out, "\"totals\":{\"members\":20,\"updated\":3,\"failed\":1,"
                                "\"held\":16,"));
  run_free(&r);
  fleet_down(&w);
}

/* A slow transfer cancelled from another process ('cancel'), then one by SIGINT: both end
 * with every member cancelled, the report printed and exit 1. */
static void test_fw_cancel_running(void **state) {
  fixture *f = *state;
  fleet w;
  fleet_up(&w, f->db, "cfleet", "multicast", NULL);
  const char *const slow[] = {"deliver", "cfleet", "--firmware", f->fw, "--rate", "2k", NULL};
  proc p = cli_start(f->db, slow);
  /* Wait until the campaign is stored, then ask it to stop. */
  int64_t id = 0;
  for (int i = 0; i < 100 && !id; i++) {
    usleep(100000);
    id = newest_campaign(f->db, "cfleet");
  }
  assert_true(id > 0);
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", (long long)id);
  double t0 = now_s();
  EXPECT(f->db, 0, "cancel requested", NULL, "cancel", ids);
  run r = cli_wait(&p, 30);
  double t1 = now_s();
  if (r.status != 1) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "cancel requested ('lwm2m-mbms cancel'): cancelling"));
  assert_non_null(strstr(r.out, "(phase cancelled)"));
  assert_non_null(strstr(r.out, "20 members: 0 updated, 0 failed, 0 held, 20 cancelled"));
  run_free(&r);
  assert_true(t1 - t0 < 5); /* polled about once a second */
  EXPECT(f->db, 2, NULL, "has finished", "cancel", ids);

  p = cli_start(f->db, (const char *const[]){"deliver", "cfleet", "--firmware", f->fw, "--rate",
                                             "2k", "--json", NULL});
  usleep(1500000);
  kill(p.pid, SIGINT);
  r = cli_wait(&p, 30);
  if (r.status != 1) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "interrupted"));
  assert_non_null(strstr(r.out, "\"phase\":\"cancelled\""));
  assert_non_null(strstr(r.out, "\"cancelled\":20"));
  run_free(&r);

  /* --wait: cancelled when it passes, exit 4. */
  r = cli(f->db, (const char *[]){"deliver", "cfleet", "--firmware", f->fw, "--rate", "2k",
                                  "--wait", "1", NULL});
  if (r.status != 4) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 4);
  assert_non_null(strstr(r.err, "--wait passed: cancelling"));
  assert_non_null(strstr(r.out, "20 cancelled"));
  run_free(&r);
  fleet_down(&w);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  srand((unsigned)getpid());
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fw_flags, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_report, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_deliver_multicast, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_deliver_mbms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_deliver_pull, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_deliver_unicast, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_wave_stops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fw_cancel_running, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
