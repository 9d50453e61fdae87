/* test_bench_json.c - the benchmarks' machine-readable line cannot rot: bench_answers,
 * bench_store, bench_unicast_fanout and bench_fec, run with tiny N against the real receiver, store
 * and simulator, each print one `BENCH_JSON {...}` line that parses and holds the figures
 * scripts/bench and docs/performance.md name; scripts/bench-summary turns two runs' lines into
 * their median and spread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmmt.h"

/* Runs `cmd` (a shell command line), returns its stdout (owned) and exit status. */
static char *run(const char *cmd, int *status) {
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  assert_non_null(out);
  size_t got;
  while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (len + 1 == cap) {
      out = realloc(out, cap *= 2);
      assert_non_null(out);
    }
  }
  out[len] = '\0';
  int st = pclose(p);
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

/* The one BENCH_JSON line of `out`, parsed (owned); fails the test when there is none, more
 * than one, or it does not parse. */
static cJSON *bench_line(const char *out, const char *name) {
  const char *tag = "BENCH_JSON ", *at = strstr(out, tag);
  if (!at) fail_msg("%s printed no BENCH_JSON line:\n%s", name, out);
  assert_true(at == out || at[-1] == '\n');
  const char *end = strchr(at, '\n');
  assert_non_null(end);
  assert_null(strstr(end, tag)); /* exactly one */
  char *line = strndup(at + strlen(tag), (size_t)(end - at - strlen(tag)));
  cJSON *j = cJSON_Parse(line);
  if (!j) fail_msg("%s: BENCH_JSON does not parse: %s", name, line);
  free(line);
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bench");
  assert_true(cJSON_IsString(b));
  assert_string_equal(b->valuestring, name);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  return j;
}

/* Figure `key` of `j`: a number; its value. */
static double figure(const cJSON *j, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!cJSON_IsNumber(v)) fail_msg("BENCH_JSON has no number '%s'", key);
  return v->valuedouble;
}

static const char *bin_dir(void) {
  const char *d = getenv("LMM_BENCH_DIR");
  if (!d || !*d) fail_msg("LMM_BENCH_DIR is not set (ctest sets it)");
  return d;
}

static void test_answers(void **state) {
  (void)state;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "SOURCES=20 %s/bench_answers 300", bin_dir());
  int st;
  char *out = run(cmd, &st);
  assert_int_equal(st, 0);
  assert_non_null(strstr(out, "answers/s")); /* the human table is still there */
  cJSON *j = bench_line(out, "answers");
  assert_true(figure(j, "answers_per_s_n300") > 0);
  assert_true(figure(j, "cpu_us_per_answer_n300") > 0);
  /* 300 answers fit any receive buffer: every one arrives and is acknowledged. */
  assert_true(figure(j, "lost_n300") == 0);
  assert_true(figure(j, "sender_unacked_n300") == 0);
  assert_true(figure(j, "rx_drops_n300") == 0);
  assert_true(figure(j, "sources") == 20);
  cJSON_Delete(j);
  free(out);
}

static void test_store(void **state) {
  (void)state;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/bench_store 100", bin_dir());
  int st;
  char *out = run(cmd, &st);
  assert_int_equal(st, 0);
  cJSON *j = bench_line(out, "store");
  assert_true(figure(j, "rows_per_s_n100") > 0);
  assert_true(figure(j, "bytes_per_member_n100") > 0);
  figure(j, "create_ms_n100");
  figure(j, "members_add_ms_n100");
  cJSON_Delete(j);
  free(out);
}

/* bench_fec's loss is seeded, so its figures are the same on every machine: at 200 receivers
 * the Reed-Solomon sizing must meet the FEC targets of docs/fec.md, and beat XOR parity. */
static void test_fec(void **state) {
  (void)state;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/bench_fec 200", bin_dir());
  int st;
  char *out = run(cmd, &st);
  assert_int_equal(st, 0);
  cJSON *j = bench_line(out, "fec");
  assert_true(figure(j, "receivers") == 200);
  assert_true(figure(j, "rs_5_verified") == 16);
  assert_true(figure(j, "rs_20_verified") == 16);
  assert_true(figure(j, "rs_5_bytes_x") <= 1.15);
  assert_true(figure(j, "rs_5_repair_rounds") <= 1);
  assert_true(figure(j, "rs_5_pct_no_unicast") >= 99.9);
  assert_true(figure(j, "rs_20_bytes_x") <= 1.5);
  assert_true(figure(j, "rs_20_repair_rounds") <= 2);
  assert_true(figure(j, "xor_5_bytes_x") > figure(j, "rs_5_bytes_x"));
  assert_true(figure(j, "unicast_5_bytes_x") == 200);
  cJSON_Delete(j);
  free(out);
}

static void test_fanout(void **state) {
  (void)state;
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "COAPS_N=20 CC_SAMPLE=2 BASELINE_SAMPLE=20 BASELINE_SAMPLE_DELAYED=10 %s/"
           "bench_unicast_fanout 50",
           bin_dir());
  int st;
  char *out = run(cmd, &st);
  assert_int_equal(st, 0);
  cJSON *j = bench_line(out, "unicast_fanout");
  static const char *const keys[] = {"raw_writes_per_s_n50",
                                     "raw_seq_writes_per_s_n50",
                                     "raw_ratio_n50",
                                     "raw_coap_client_writes_per_s_n50",
                                     "mem_bytes_per_member_n50",
                                     "delay_writes_per_s_n50",
                                     "delay_seq_writes_per_s_n50",
                                     "delay_coap_client_writes_per_s_n50",
                                     "coaps_writes_per_s_n20",
                                     "coaps_seq_writes_per_s_n20"};
  for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
    assert_true(figure(j, keys[k]) > 0);
  static const char *const zero[] = {"raw_failed_n50", "delay_failed_n50", "coaps_failed_n20",
                                     "raw_coap_client_failed_n50"};
  for (size_t k = 0; k < sizeof zero / sizeof *zero; k++)
    assert_true(figure(j, zero[k]) == 0);
  cJSON_Delete(j);
  free(out);
}

/* Two runs' records of one bench: the summary has each figure's median, min and max. */
static void test_summary(void **state) {
  (void)state;
  char dir[64], in[128], res[128], cmd[1024];
  assert_int_equal(lmmt_scratch_dir(dir, "benchsum"), 0);
  snprintf(in, sizeof in, "%s/runs.jsonl", dir);
  snprintf(res, sizeof res, "%s/results.json", dir);
  FILE *f = fopen(in, "w");
  assert_non_null(f);
  fputs("{\"bench\":\"x\",\"a\":10,\"s\":\"lbl\",\"ok\":true,\"_run\":1,\"_exit\":0}\n"
        "{\"bench\":\"x\",\"a\":30,\"s\":\"lbl\",\"ok\":true,\"_run\":2,\"_exit\":0}\n"
        "{\"bench\":\"x\",\"a\":20,\"s\":\"lbl\",\"ok\":false,\"_run\":3,\"_exit\":0}\n",
        f);
  assert_int_equal(fclose(f), 0);
  snprintf(cmd, sizeof cmd, "python3 %s/scripts/bench-summary %s %s --runs 3",
           getenv("LMM_SRC_DIR"), in, res);
  int st;
  char *out = run(cmd, &st);
  assert_int_equal(st, 0);
  assert_non_null(strstr(out, "x a"));
  assert_non_null(strstr(out, "FAILED: x"));
  char *text = lmmt_read_file(res, NULL);
  assert_non_null(text);
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  const cJSON *x =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "benches"), "x");
  const cJSON *a =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "figures"), "a");
  assert_true(figure(a, "median") == 20);
  assert_true(figure(a, "min") == 10);
  assert_true(figure(a, "max") == 30);
  assert_true(figure(a, "n") == 3);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(x, "ok")));
  cJSON_Delete(j);
  free(text), free(out);
  lmmt_scratch_remove(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers), cmocka_unit_test(test_store),   cmocka_unit_test(test_fanout),
      cmocka_unit_test(test_fec),     cmocka_unit_test(test_summary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
