/* test_strict_client.c - the command line against simulated devices set to behave as the
 * small independent LwM2M clients of real deployments do: a Read without Accept gets 5.00,
 * a format they lack gets 4.06, some have no Group Mgmt object, and the firmware object never
 * reports Update Result 1. Each case checks what an operator relies on: every member served,
 * and a report that says what each step did and why a member ended. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lmmt_cli.h"

typedef struct fixture {
  char dir[64];
  char db[96];
  char fw[96];
  char fw_sha[65];
} fixture;

#define FW_SIZE 12000

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  if (lmmt_scratch_dir(f->dir, "strict") != 0) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  snprintf(f->fw, sizeof f->fw, "%s/fw.bin", f->dir);
  uint8_t *img = malloc(FW_SIZE);
  if (!img) return -1;
  for (size_t i = 0; i < FW_SIZE; i++)
    img[i] = (uint8_t)(i * 31 + 7);
  FILE *fp = fopen(f->fw, "wb");
  if (!fp || fwrite(img, 1, FW_SIZE, fp) != FW_SIZE || fclose(fp) != 0) return -1;
  uint8_t d[32];
  mbedtls_sha256_ret(img, FW_SIZE, d, 0);
  for (int i = 0; i < 32; i++)
    snprintf(f->fw_sha + 2 * i, 3, "%02x", d[i]);
  free(img);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = lmmt_scratch_remove(f->dir);
  free(f);
  return rc;
}

#define EXPECT(db, want_status, out_has, err_has, ...)                                             \
  assert_true(lmmt_cli_check(db, NULL, want_status, out_has, err_has,                              \
                             (const char *[]){__VA_ARGS__, NULL}))

static lmmt_run cli(const char *db, const char *const *args) {
  lmmt_run r = lmmt_cli_run(db, NULL, args);
  if (r.status != 0) fprintf(stderr, "exit %d\nstdout:\n%s\nstderr:\n%s\n", r.status, r.out, r.err);
  return r;
}

/* The id of the newest campaign, from "campaigns --json". */
static void newest(const char *db, char *id, size_t cap) {
  lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"--json", "campaigns", NULL});
  assert_int_equal(r.status, 0);
  const char *p = strstr(r.out, "\"id\":");
  assert_non_null(p);
  snprintf(id, cap, "%lld", strtoll(p + 5, NULL, 10));
  lmmt_run_free(&r);
}

static lmmt_run report(const char *db, const char *fmt) {
  char id[24];
  newest(db, id, sizeof id);
  lmmt_run r = lmmt_cli_run(db, NULL, (const char *[]){"report", id, "--format", fmt, NULL});
  assert_int_equal(r.status, 0);
  return r;
}

/* Devices that answer 5.00 to a Read without Accept: every read the command line makes carries
 * one (text for one resource, the member's format for an instance), and all are served. */
static void test_read_needs_accept(void **state) {
  fixture *f = *state;
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "10", "--object", "3", "--require-accept",
                                            "--tlv-every", "4", NULL}),
      0);
  EXPECT(f->db, 0, "(unicast, 10 members)", NULL, "group", "create", "acc", "--type", "unicast",
         "--members", sim.members_path);
  EXPECT(f->db, 0, "10 members: 10 succeeded, 0 failed", NULL, "deliver", "acc", "--read", "/3/0");
  lmmt_run r = report(f->db, "json");
  /* The TLV-only devices (every 4th) answered in TLV, the others in SenML-JSON: each in its own
   * format, first time, and the values decode. */
  assert_int_equal(lmmt_count_of(r.out, "\"contentFormat\":11542"), 2);
  assert_int_equal(lmmt_count_of(r.out, "\"contentFormat\":110"), 8);
  assert_int_equal(lmmt_count_of(r.out, "\"attempts\":1,"), 10);
  assert_int_equal(lmmt_count_of(r.out, "{\"path\":\"/3/0/0\",\"value\":"), 10);
  lmmt_run_free(&r);
  EXPECT(f->db, 0, "10 members: 10 succeeded, 0 failed", NULL, "deliver", "acc", "--read",
         "/3/0/0");
  r = report(f->db, "json");
  assert_int_equal(lmmt_count_of(r.out, "\"contentFormat\":0"), 10); /* text/plain */
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* Devices without SenML-JSON (4.06 to it): the read falls back to TLV, once, per member. */
static void test_format_fallback(void **state) {
  fixture *f = *state;
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "6", "--object", "3",
                                                         "--formats", "tlv,text,opaque", NULL}),
                   0);
  EXPECT(f->db, 0, "(unicast, 6 members)", NULL, "group", "create", "fmt", "--type", "unicast",
         "--members", sim.members_path);
  EXPECT(f->db, 0, "6 members: 6 succeeded, 0 failed", NULL, "deliver", "fmt", "--read", "/3/0");
  lmmt_run r = report(f->db, "json");
  assert_int_equal(lmmt_count_of(r.out, "\"contentFormat\":11542"), 6);
  assert_int_equal(lmmt_count_of(r.out, "\"attempts\":2,"), 6);
  assert_int_equal(lmmt_count_of(r.out, "{\"path\":\"/3/0/0\",\"value\":"), 6);
  lmmt_run_free(&r);
  /* An explicit format is the operator's: no fallback, the refusal is the answer. */
  EXPECT(f->db, 1, "6 members: 0 succeeded, 6 failed", NULL, "deliver", "fmt", "--read", "/3/0",
         "--format", "senml-json");
  r = report(f->db, "table");
  assert_int_equal(lmmt_count_of(r.out, "4.06 Not Acceptable"), 6);
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* Over MBMS, three devices have no Group Mgmt object: their write gets 4.04, they never hear
 * the broadcast, the repair serves them, and the report says all three steps. */
static void test_no_group_mgmt_object(void **state) {
  fixture *f = *state;
  lmmt_mock mock;
  char bp[16];
  snprintf(bp, sizeof bp, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bp, NULL}), 0);
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "12", "--object", "6",
                                                         "--no-group-mgmt", "0-2", NULL}),
                   0);
  EXPECT(f->db, 0, "(mbms, 12 members)", NULL, "group", "create", "nogm", "--type", "mbms",
         "--external-group-id", "nogm@operator.example", "--multicast-port", bp, "--window", "1",
         "--members", sim.members_path);
  EXPECT(f->db, 0, "12 members: 12 succeeded, 0 failed", NULL, "--api-root", mock.api_root,
         "--scs-as-id", "as1", "deliver", "nogm", "--read", "/6/0", "--grace-ms", "500");
  lmmt_run r = report(f->db, "table");
  assert_int_equal(lmmt_count_of(r.out, "unicast (repaired)  2.05  4.04    silent  2.05"), 3);
  assert_int_equal(lmmt_count_of(r.out, "mbms                2.05  2.04    2.05    -"), 9);
  assert_non_null(strstr(r.out, "Group Mgmt write  9 ok, 3 refused, 0 failed\n"));
  assert_non_null(strstr(r.out, "group request     9 ok, 0 refused, 0 failed, 3 silent\n"));
  assert_non_null(strstr(r.out, "unicast request   3 ok, 0 refused, 0 failed; not run for 9\n"));
  assert_non_null(strstr(r.out, "(kept)")); /* the TMGI stays for the group's next campaign */
  lmmt_run_free(&r);
  r = report(f->db, "csv");
  assert_int_equal(lmmt_count_of(r.out, ",unicast,yes,refused,4.04,silent,,ok,2.05,2.05,"), 3);
  assert_int_equal(lmmt_count_of(r.out, ",mbms,no,ok,2.04,ok,2.05,,,2.05,"), 9);
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
}

/* A group Read goes with one Accept (SenML-JSON for an instance): the TLV-only members answer
 * it 4.06 and are asked again by unicast, in TLV. */
static void test_group_read_refetched(void **state) {
  fixture *f = *state;
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "9", "--object", "6",
                                                         "--tlv-every", "3", NULL}),
                   0);
  char port[16], addr[32];
  snprintf(port, sizeof port, "%d", 40000 + lmmt_random_port() % 20000);
  snprintf(addr, sizeof addr, "239.%d.%d.%d", 100 + getpid() % 100, getpid() % 250,
           1 + lmmt_random_port() % 250);
  EXPECT(f->db, 0, "(multicast, 9 members)", NULL, "group", "create", "mc", "--type", "multicast",
         "--multicast-address", addr, "--multicast-port", port, "--window", "1", "--members",
         sim.members_path);
  EXPECT(f->db, 0, "9 members: 9 succeeded, 0 failed", NULL, "deliver", "mc", "--read", "/6/0",
         "--grace-ms", "500");
  lmmt_run r = report(f->db, "table");
  assert_int_equal(lmmt_count_of(r.out, "unicast (repaired)  2.05  2.04    4.06    2.05"), 3);
  assert_non_null(strstr(r.out, "group request     6 ok, 3 refused, 0 failed, 0 silent\n"));
  lmmt_run_free(&r);
  r = report(f->db, "json");
  assert_int_equal(lmmt_count_of(r.out, "\"contentFormat\":11542"), 3);
  assert_int_equal(lmmt_count_of(r.out, "{\"path\":\"/6/0/0\",\"value\":"), 9);
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* The firmware object never reports Update Result 1 (and Reads need an Accept): the push works,
 * the report says what each member last showed and why it ended; with --expect-version the
 * package's PkgVersion counts as success. */
static void test_firmware_never_reports_success(void **state) {
  fixture *f = *state;
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "4", "--object", "5", "--update-ms", "100",
                                            "--require-accept", "--fw-no-success", "0-3", NULL}),
      0);
  EXPECT(f->db, 0, "(unicast, 4 members)", NULL, "group", "create", "fwn", "--type", "unicast",
         "--members", sim.members_path);
  lmmt_run r = lmmt_cli_run(
      f->db, NULL,
      (const char *[]){"deliver", "fwn", "--firmware", f->fw, "--update-deadline", "2", NULL});
  assert_int_equal(r.status, 1);
  lmmt_run_free(&r);
  char want[256];
  snprintf(want, sizeof want,
           "no Update Result 1 within 2000 ms after the Execute (last seen: State 0, Update "
           "Result 0, PkgVersion %s)",
           f->fw_sha);
  r = report(f->db, "table");
  assert_int_equal(lmmt_count_of(r.out, want), 4);
  assert_non_null(strstr(r.out, "4 members: 0 updated, 4 failed"));
  lmmt_run_free(&r);
  r = report(f->db, "csv");
  assert_int_equal(lmmt_count_of(r.out, f->fw_sha), 8); /* in the error and the pkg_version */
  lmmt_run_free(&r);

  r = cli(f->db, (const char *[]){"deliver", "fwn", "--firmware", f->fw, "--update-deadline", "20",
                                  "--expect-version", f->fw_sha, NULL});
  assert_int_equal(r.status, 0);
  lmmt_run_free(&r);
  r = report(f->db, "table");
  assert_non_null(strstr(r.out, "4 members: 4 updated, 0 failed"));
  snprintf(want, sizeof want, "0 initial value; PkgVersion %s\n", f->fw_sha);
  assert_int_equal(lmmt_count_of(r.out, want), 4);
  lmmt_run_free(&r);
  EXPECT(f->db, 2, NULL, "--expect-version: '' is not 1 to 255 characters", "deliver", "fwn",
         "--firmware", f->fw, "--expect-version", "");
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_read_needs_accept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_format_fallback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_group_mgmt_object, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_read_refetched, setup, teardown),
      cmocka_unit_test_setup_teardown(test_firmware_never_reports_success, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
