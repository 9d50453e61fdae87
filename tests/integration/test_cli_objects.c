/* test_cli_objects.c - the object model on the command line, against the simulated devices:
 * standard resources the old partial tables lacked, refusals by the model, PATH:TYPE for what
 * it lacks, a vendor object from --objects / LMM_OBJECTS (checked, written, its TLV answer
 * decoded typed by report), and broken DDF files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"

/* Everything one test needs: a scratch directory with the store and the DDF directories, and
 * the simulated devices, which serve the vendor object of vendor/. */
typedef struct world {
  char dir[64], db[96], vendor[96], vendor2[96], broken[96], members3[128], members_v[128];
  lmmt_sim sim;
} world;

static const char vendor_ddf[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<LWM2M>\n"
    "  <Object ObjectType=\"MODefinition\">\n"
    "    <Name>Test Meter</Name>\n"
    "    <Description1>A vendor's meter, for the tests.</Description1>\n"
    "    <ObjectID>33000</ObjectID>\n"
    "    <ObjectURN>urn:oma:lwm2m:x:33000</ObjectURN>\n"
    "    <MultipleInstances>Single</MultipleInstances>\n"
    "    <Mandatory>Optional</Mandatory>\n"
    "    <Resources>\n"
    "      <Item ID=\"1\"><Name>Label</Name><Operations>RW</Operations>"
    "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
    "<Type>String</Type><RangeEnumeration/><Units/><Description/></Item>\n"
    "      <Item ID=\"2\"><Name>Threshold</Name><Operations>RW</Operations>"
    "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
    "<Type>Integer</Type><RangeEnumeration/><Units>W</Units><Description/></Item>\n"
    "      <Item ID=\"3\"><Name>Reading</Name><Operations>R</Operations>"
    "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
    "<Type>Float</Type><RangeEnumeration/><Units>W</Units><Description/></Item>\n"
    "    </Resources>\n"
    "    <Description2/>\n"
    "  </Object>\n"
    "</LWM2M>\n";

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  assert_true(fputs(text, fp) >= 0);
  assert_int_equal(fclose(fp), 0);
}

/* The members file with every member ID's object replaced: the object a member ID names is
 * the only one a group operation may touch. */
static void members_for(const char *from, const char *to, const char *oid) {
  char *text = lmmt_read_file(from, NULL);
  assert_non_null(text);
  FILE *fp = fopen(to, "w");
  assert_non_null(fp);
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *slash = strchr(line, '/'), *sp = strchr(line, ' ');
    if (line[0] == '#' || !slash || !sp || slash > sp) {
      fprintf(fp, "%s\n", line);
      continue;
    }
    fprintf(fp, "%.*s/%s%s\n", (int)(slash - line), line, oid, sp);
  }
  assert_int_equal(fclose(fp), 0);
  free(text);
}

static lmmt_run cli_env(const world *w, const char *objects_env, const char *const *args);

static int setup(void **state) {
  world *w = calloc(1, sizeof *w);
  if (!w) return -1;
  snprintf(w->dir, sizeof w->dir, "/tmp/lmmt-clio-XXXXXX");
  if (!mkdtemp(w->dir)) return -1;
  snprintf(w->db, sizeof w->db, "%s/state.db", w->dir);
  snprintf(w->vendor, sizeof w->vendor, "%s/vendor", w->dir);
  snprintf(w->vendor2, sizeof w->vendor2, "%s/vendor2", w->dir);
  snprintf(w->broken, sizeof w->broken, "%s/broken", w->dir);
  if (mkdir(w->vendor, 0700) || mkdir(w->vendor2, 0700) || mkdir(w->broken, 0700)) return -1;
  char path[160];
  snprintf(path, sizeof path, "%s/meter.xml", w->vendor);
  write_file(path, vendor_ddf);
  snprintf(path, sizeof path, "%s/meter.xml", w->vendor2);
  write_file(path, vendor_ddf);
  /* Line 8 of the broken file carries a type that does not exist. */
  snprintf(path, sizeof path, "%s/a-good.xml", w->broken);
  write_file(path, vendor_ddf);
  snprintf(path, sizeof path, "%s/b-broken.xml", w->broken);
  write_file(path, "<?xml version=\"1.0\"?>\n<LWM2M><Object><Name>X</Name><ObjectID>33001"
                   "</ObjectID><MultipleInstances>Single</MultipleInstances><Mandatory>"
                   "Optional</Mandatory>\n<Resources>\n<Item ID=\"0\"><Name>A</Name>"
                   "<Operations>R</Operations>\n<MultipleInstances>Single</MultipleInstances>"
                   "\n<Mandatory>Optional</Mandatory>\n\n<Type>Text</Type></Item></Resources>"
                   "</Object></LWM2M>\n");
  if (lmmt_sim_start(&w->sim, (const char *[]){"--count", "3", "--object", "3", "--objects",
                                               w->vendor, NULL}) != 0)
    return -1;
  snprintf(w->members3, sizeof w->members3, "%s/members-3", w->dir);
  snprintf(w->members_v, sizeof w->members_v, "%s/members-33000", w->dir);
  members_for(w->sim.members_path, w->members3, "3");
  members_for(w->sim.members_path, w->members_v, "33000");
  *state = w;
  lmmt_run r = cli_env(w, NULL,
                       (const char *[]){"group", "create", "dev", "--type", "unicast", "--members",
                                        w->members3, NULL});
  int rc = r.status;
  lmmt_run_free(&r);
  r = cli_env(w, NULL,
              (const char *[]){"group", "create", "meters", "--type", "unicast", "--members",
                               w->members_v, NULL});
  rc |= r.status;
  lmmt_run_free(&r);
  return rc ? -1 : 0;
}

static int teardown(void **state) {
  world *w = *state;
  int rc = lmmt_sim_stop(&w->sim) == 0 ? 0 : -1;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
  if (system(cmd) != 0) rc = -1;
  free(w);
  return rc;
}

/* $LMM_CLI --db DB args..., with LMM_OBJECTS set to `objects_env` (NULL: unset). */
static lmmt_run cli_env(const world *w, const char *objects_env, const char *const *args) {
  char e[512];
  snprintf(e, sizeof e, "LMM_OBJECTS=%s", objects_env ? objects_env : "");
  const char *env[] = {objects_env ? e : "LMM_OBJECTS", NULL};
  return lmmt_cli_run(w->db, env, args);
}

/* Runs and checks the exit status and that stdout / stderr contain the texts (NULL: not
 * checked); prints everything when it fails. */
static void expect_env(const world *w, const char *objects_env, int want, const char *out_has,
                       const char *err_has, const char *const *args) {
  char e[512];
  snprintf(e, sizeof e, "LMM_OBJECTS=%s", objects_env ? objects_env : "");
  const char *env[] = {objects_env ? e : "LMM_OBJECTS", NULL};
  assert_true(lmmt_cli_check(w->db, env, want, out_has, err_has, args));
}

#define EXPECT(w, want, out_has, err_has, ...)                                                     \
  expect_env(w, NULL, want, out_has, err_has, (const char *[]){__VA_ARGS__, NULL})
#define EXPECT_ENV(w, env, want, out_has, err_has, ...)                                            \
  expect_env(w, env, want, out_has, err_has, (const char *[]){__VA_ARGS__, NULL})

/* The newest campaign of a group, as text. */
static void last_campaign(const world *w, const char *group, char id[24]) {
  lmmt_run r = cli_env(w, NULL, (const char *[]){"--json", "campaigns", group, NULL});
  assert_int_equal(r.status, 0);
  const char *p = strstr(r.out, "\"id\":");
  assert_non_null(p);
  snprintf(id, 24, "%lld", strtoll(p + 5, NULL, 10));
  lmmt_run_free(&r);
}

/* UTC Offset is a standard Device resource: it goes out, the devices keep it, a Read shows
 * it. The partial tables of before refused it locally (exit 2). */
static void test_standard_resource(void **state) {
  world *w = *state;
  EXPECT(w, 0, "3 members: 3 succeeded, 0 failed", NULL, "deliver", "dev", "--write",
         "/3/0/14=+02:00");
  EXPECT(w, 0, "unicast             2.04", NULL, "deliver", "dev", "--write",
         "/3/0/15=Europe/Paris");
  EXPECT(w, 0, "+02:00", NULL, "deliver", "dev", "--read", "/3/0/14");
  EXPECT(w, 0, "/3/0/15=Europe/Paris", NULL, "deliver", "dev", "--read", "/3/0", "--format",
         "senml-json");
  /* An executable the old table lacked: checked as executable, and the devices accept it. */
  EXPECT(w, 0, "3 members: 3 succeeded", NULL, "deliver", "dev", "--execute", "/3/0/12");
}

/* --help explains the rule and the flag. */
static void test_help(void **state) {
  world *w = *state;
  EXPECT(w, 0, "--objects DIR", NULL, "--help");
  EXPECT(w, 0, "--write PATH[:TYPE]=VALUE", NULL, "--help");
  EXPECT(w, 0, "LMM_OBJECTS", NULL, "--help");
}

/* The model refuses what the standard forbids, locally, before any device is asked. */
static void test_refusals(void **state) {
  world *w = *state;
  EXPECT(w, 2, NULL,
         "deliver: --execute: /3/0/99: object 3 (Device) has no resource 99 in the object model "
         "(give its type: /3/0/99:none, or load its DDF with --objects DIR)",
         "deliver", "dev", "--execute", "/3/0/99");
  EXPECT(w, 2, NULL,
         "--write: /3/0/99: object 3 (Device) has no resource 99 in the object model (give its "
         "type: /3/0/99:string=VALUE",
         "deliver", "dev", "--write", "/3/0/99=x");
  EXPECT(w, 2, NULL, "--execute: /3/0/13 (Current Time) is not executable (operations: RW)",
         "deliver", "dev", "--execute", "/3/0/13");
  EXPECT(w, 2, NULL, "--write: /3/0/16 (Supported Binding and Modes) is not writable", "deliver",
         "dev", "--write", "/3/0/16=UQ");
  EXPECT(w, 2, NULL, "--write: /3/0/14 (UTC Offset) is string in the object model, not integer",
         "deliver", "dev", "--write", "/3/0/14:integer=5");
  EXPECT(w, 2, NULL, "--read: /3/0/4 (Reboot) is executable: it has no value to read", "deliver",
         "dev", "--read", "/3/0/4");
  EXPECT(w, 2, NULL, "--write: /3/0/11/0 (Error Code) is not writable (operations: R)", "deliver",
         "dev", "--write", "/3/0/11/0=1");
  EXPECT(w, 2, NULL, "--read: /3/0/14/1 (UTC Offset) is a single-instance resource", "deliver",
         "dev", "--read", "/3/0/14/1");
  EXPECT(w, 2, NULL, "--write-attr: gt, lt and st need a numeric resource; /3/0/14 is string",
         "deliver", "dev", "--write-attr", "/3/0/14?gt=5");
  EXPECT(w, 2, NULL, "--execute: /3/0/99: an Execute carries no value: the type is :none",
         "deliver", "dev", "--execute", "/3/0/99:string");
  EXPECT(w, 2, NULL, "--read: 'text' is not a resource type", "deliver", "dev", "--read",
         "/3/0/99:text");
  EXPECT(w, 2, NULL, "--read: /33000/0/1: object 33000 is not in the object model", "deliver",
         "meters", "--read", "/33000/0/1");
  EXPECT(w, 2, NULL, "--read: /33000/0: object 33000 is not in the object model (load its DDF",
         "deliver", "meters", "--read", "/33000/0");
}

/* A :TYPE lets what the model lacks go out as asked: the devices answer for themselves. */
static void test_typed_unknown(void **state) {
  world *w = *state;
  EXPECT(w, 1, "unicast             4.04", NULL, "deliver", "dev", "--write", "/3/0/99:string=x");
  EXPECT(w, 1, "unicast             4.04", NULL, "deliver", "dev", "--read", "/3/0/99:string");
  EXPECT(w, 1, "unicast             4.04", NULL, "deliver", "dev", "--execute", "/3/0/99:none");
  /* Without the DDF the vendor object still goes out with its types given. */
  EXPECT(w, 0, "3 members: 3 succeeded", NULL, "deliver", "meters", "--write",
         "/33000/0/2:integer=9");
}

/* A vendor object from --objects: checked by its DDF, written, and its TLV answer decoded
 * typed by report when the report has the DDF too (and not without it). */
static void test_vendor_object(void **state) {
  world *w = *state;
  EXPECT(w, 2, NULL, "object 33000 is not in the object model", "deliver", "meters", "--write",
         "/33000/0/2=5");
  EXPECT(w, 0, "3 members: 3 succeeded", NULL, "deliver", "meters", "--objects", w->vendor,
         "--write", "/33000/0/2=5");
  EXPECT(w, 2, NULL, "--write: 'five' is not an integer (/33000/0/2 Threshold is an integer)",
         "deliver", "meters", "--objects", w->vendor, "--write", "/33000/0/2=five");
  EXPECT(w, 2, NULL, "--write: /33000/0/3 (Reading) is not writable", "deliver", "meters",
         "--objects", w->vendor, "--write", "/33000/0/3=1.5");
  /* LMM_OBJECTS does what --objects does. */
  EXPECT_ENV(w, w->vendor, 0, "3 members: 3 succeeded", NULL, "deliver", "meters", "--write",
             "/33000/0/1=north");
  EXPECT(w, 0, "/33000/0/1=north /33000/0/2=5", NULL, "deliver", "meters", "--objects", w->vendor,
         "--read", "/33000/0", "--format", "tlv");
  char id[24];
  last_campaign(w, "meters", id);
  /* The stored TLV answers: typed with the DDF, bytes without it. */
  EXPECT(w, 0, "/33000/0/1=north /33000/0/2=5", NULL, "report", id, "--objects", w->vendor);
  EXPECT_ENV(w, w->vendor, 0,
             "\"values\":[{\"path\":\"/33000/0/1\",\"value\":\"north\"},{\"path\":\"/33000/0/"
             "2\",\"value\":5}]",
             NULL, "report", id, "--format", "json");
  lmmt_run r = cli_env(w, NULL, (const char *[]){"report", id, NULL});
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.out, "/33000/0/2=5"));
  assert_non_null(strstr(r.out, "hex:"));
  lmmt_run_free(&r);
}

/* A broken DDF: exit 2 naming the directory, the file and the line, for every command that
 * loads the model; nothing is sent. */
static void test_broken_ddf(void **state) {
  world *w = *state;
  char want[256];
  snprintf(want, sizeof want,
           "lwm2m-mbms: deliver: --objects %s: b-broken.xml:8: <Item ID=\"0\">: <Type> 'Text' "
           "is not a DDF type",
           w->broken);
  EXPECT(w, 2, NULL, want, "deliver", "meters", "--objects", w->broken, "--write", "/33000/0/2=5");
  snprintf(want, sizeof want, "lwm2m-mbms: deliver: LMM_OBJECTS %s: b-broken.xml:8:", w->broken);
  EXPECT_ENV(w, w->broken, 2, NULL, want, "deliver", "meters", "--write", "/33000/0/2=5");
  snprintf(want, sizeof want, "lwm2m-mbms: report: --objects %s: b-broken.xml:8:", w->broken);
  EXPECT(w, 2, NULL, want, "report", "1", "--objects", w->broken);
  snprintf(want, sizeof want, "--objects %s/none: cannot open the directory", w->dir);
  char missing[128];
  snprintf(missing, sizeof missing, "%s/none", w->dir);
  EXPECT(w, 2, NULL, want, "deliver", "meters", "--objects", missing, "--read", "/3/0/0");
  /* The same directory twice is read once; the same object from two directories is a
   * redefinition, named. */
  char both[256];
  snprintf(both, sizeof both, "%s:%s", w->vendor, w->vendor);
  EXPECT_ENV(w, both, 0, "3 members: 3 succeeded", NULL, "deliver", "meters", "--write",
             "/33000/0/2=6");
  snprintf(want, sizeof want,
           "--objects %s: meter.xml: object 33000 (Test Meter) is defined already by meter.xml",
           w->vendor2);
  EXPECT_ENV(w, w->vendor, 2, NULL, want, "deliver", "meters", "--objects", w->vendor2, "--write",
             "/33000/0/2=6");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_help, setup, teardown),
      cmocka_unit_test_setup_teardown(test_standard_resource, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_typed_unknown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_vendor_object, setup, teardown),
      cmocka_unit_test_setup_teardown(test_broken_ddf, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
