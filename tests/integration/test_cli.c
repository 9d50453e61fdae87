/* test_cli.c - the lwm2m-mbms command line against the real t8-mock: outputs, --json, exit
 * codes and error messages an operator or a script relies on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmmt.h"

typedef struct run {
  int status; /* exit code, or -1 when killed */
  char *out, *err;
} run;

static void run_free(run *r) {
  free(r->out), free(r->err);
  memset(r, 0, sizeof *r);
}

/* Runs $LMM_CLI with `args` (NULL-terminated); `api_root` goes in through the environment, as
 * an operator's shell would set it. `stdout_path` replaces the captured stdout when given. */
static run cli(const char *api_root, const char *stdout_path, const char *const *args) {
  char dir[] = "/tmp/lmmt-cli-XXXXXX", out[64], err[64];
  assert_non_null(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  const char *argv[40] = {getenv("LMM_CLI")};
  assert_non_null(argv[0]);
  int n = 1;
  for (int i = 0; args[i]; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fo = open(stdout_path ? stdout_path : out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1), dup2(fe, 2);
    if (api_root)
      setenv("LMM_T8_API_ROOT", api_root, 1);
    else
      unsetenv("LMM_T8_API_ROOT");
    setenv("LMM_T8_SCS_AS_ID", "as1", 1);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st;
  alarm(60); /* a hung CLI fails the test instead of hanging it */
  waitpid(pid, &st, 0);
  alarm(0);
  run r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, lmmt_read_file(out, NULL),
           lmmt_read_file(err, NULL)};
  if (!r.out) r.out = strdup("");
  unlink(out), unlink(err), rmdir(dir);
  return r;
}

static void test_help_and_usage(void **state) {
  (void)state;
  run r = cli(NULL, NULL, (const char *[]){"--help", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "Exit status:"));
  assert_non_null(strstr(r.out, "t8 tmgi allocate"));
  run_free(&r);
  r = cli(NULL, NULL, (const char *[]){"frobnicate", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "unknown command 'frobnicate'"));
  assert_non_null(strstr(r.err, "Try 'lwm2m-mbms --help'."));
  run_free(&r);
  r = cli(NULL, NULL, (const char *[]){"t8", "tmgi", "list", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "LMM_T8_API_ROOT"));
  run_free(&r);
  r = cli(NULL, NULL, (const char *[]){"--timeout", "abc", "t8", "tmgi", "list", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--timeout"));
  run_free(&r);
  r = cli("http://127.0.0.1:9", NULL,
          (const char *[]){"t8", "deliver", "0a0b0c00101", "--payload-hex", "5G", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--payload-hex"));
  run_free(&r);
  r = cli(
      "http://127.0.0.1:9", NULL,
      (const char *[]){"t8", "deliver", "0a0b0c00101", "--payload-file", "/nonexistent/op", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "/nonexistent/op"));
  run_free(&r);
  r = cli("http://127.0.0.1:9", NULL, (const char *[]){"t8", "tmgi", "show", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "missing TMGI"));
  run_free(&r);
}

/* Pulls "tmgi":"..." out of the --json output. */
static void json_tmgi(const char *out, char *tmgi, size_t cap) {
  const char *p = strstr(out, "\"tmgi\":\"");
  assert_non_null(p);
  p += 8;
  size_t n = strcspn(p, "\"");
  assert_true(n < cap);
  memcpy(tmgi, p, n);
  tmgi[n] = '\0';
}

static void test_tmgi_commands(void **state) {
  (void)state;
  lmmt_mock m;
  assert_int_equal(lmmt_mock_start(&m, NULL), 0);
  char tmgi[32];
  run r = cli(m.api_root, NULL,
              (const char *[]){"--json", "t8", "tmgi", "allocate", "--external-group-id",
                               "b7@op.example", NULL});
  assert_int_equal(r.status, 0);
  json_tmgi(r.out, tmgi, sizeof tmgi);
  assert_non_null(strstr(r.out, "\"externalGroupId\":\"b7@op.example\""));
  assert_non_null(strstr(r.out, "\"tmgiExpiration\""));
  run_free(&r);

  r = cli(m.api_root, NULL, (const char *[]){"t8", "tmgi", "list", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, tmgi));
  assert_non_null(strstr(r.out, "b7@op.example"));
  run_free(&r);
  r = cli(m.api_root, NULL, (const char *[]){"t8", "tmgi", "renew", tmgi, "--put", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "b7@op.example")); /* PUT kept what the SCEF held */
  run_free(&r);
  r = cli(m.api_root, NULL, (const char *[]){"t8", "tmgi", "release", tmgi, NULL});
  assert_int_equal(r.status, 0);
  run_free(&r);
  /* Now it is gone: the SCEF refuses, exit 3, and the message carries the HTTP status. */
  r = cli(m.api_root, NULL, (const char *[]){"t8", "tmgi", "show", tmgi, NULL});
  assert_int_equal(r.status, 3);
  assert_non_null(strstr(r.err, "404"));
  assert_non_null(strstr(r.err, "lwm2m-mbms: t8 tmgi show: "));
  run_free(&r);
  r = cli(m.api_root, NULL,
          (const char *[]){"t8", "tmgi", "allocate", "--external-group-id", "nope", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "local@domain"));
  run_free(&r);
  /* A full disk on stdout is an error, not a silent success. */
  r = cli(m.api_root, "/dev/full", (const char *[]){"t8", "tmgi", "list", NULL});
  assert_int_not_equal(r.status, 0);
  assert_non_null(strstr(r.err, "cannot write"));
  run_free(&r);
  assert_int_equal(lmmt_mock_stop(&m), 0);
}

static void test_deliver(void **state) {
  (void)state;
  lmmt_mock m;
  char port[16];
  snprintf(port, sizeof port, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&m, (const char *[]){"--bearer-port", port, NULL}), 0);
  char tmgi[32];
  run r = cli(m.api_root, NULL, (const char *[]){"--json", "t8", "tmgi", "allocate", NULL});
  assert_int_equal(r.status, 0);
  json_tmgi(r.out, tmgi, sizeof tmgi);
  run_free(&r);
  char group[32];
  lmmt_tmgi_group(tmgi, group, sizeof group);
  int bearer = lmmt_bearer_join(group, atoi(port));
  assert_true(bearer >= 0);

  r = cli(m.api_root, NULL,
          (const char *[]){"--json", "t8", "deliver", tmgi, "--payload-hex", "5201123dbeefb1360130",
                           "--test-notification", "--wait", "10", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"deliveryStatus\":\"delivered\""));
  assert_non_null(strstr(r.out, "\"testNotifications\":1"));
  uint8_t buf[64];
  static const uint8_t want[] = {0x52, 0x01, 0x12, 0x3d, 0xbe, 0xef, 0xb1, 0x36, 0x01, 0x30};
  assert_int_equal(lmmt_recv(bearer, buf, sizeof buf, 3000), sizeof want);
  assert_memory_equal(buf, want, sizeof want);
  run_free(&r);

  /* MB2-U from a file. */
  char file[] = "/tmp/lmmt-payload-XXXXXX";
  int fd = mkstemp(file);
  assert_int_equal(write(fd, want, sizeof want), (ssize_t)sizeof want);
  close(fd);
  r = cli(m.api_root, NULL,
          (const char *[]){"t8", "deliver", tmgi, "--payload-file", file, "--user-plane", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "over MB2-U"));
  assert_non_null(strstr(r.out, "delivery notification: delivered"));
  assert_int_equal(lmmt_recv(bearer, buf, sizeof buf, 3000), sizeof want);
  assert_memory_equal(buf, want, sizeof want);
  run_free(&r);
  unlink(file);

  r = cli(m.api_root, NULL, (const char *[]){"--json", "t8", "delivery", "list", tmgi, NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"groupMessagePayload\":\"UgESPb7vsTYBMA==\""));
  run_free(&r);

  /* A delivery on a TMGI the SCEF does not know: refused, exit 3. */
  r = cli(
      m.api_root, NULL,
      (const char *[]){"t8", "deliver", "ffffff00101", "--payload-hex", "00", "--wait", "1", NULL});
  assert_int_equal(r.status, 3);
  assert_non_null(strstr(r.err, "404"));
  run_free(&r);
  close(bearer);
  assert_int_equal(lmmt_mock_stop(&m), 0);
}

static void test_deliver_timeout(void **state) {
  (void)state;
  lmmt_mock m;
  /* The SCEF loses every notification: the CLI gives up after --wait with exit 4. */
  assert_int_equal(lmmt_mock_start(&m, (const char *[]){"--notify-loss", "1", NULL}), 0);
  char tmgi[32];
  run r = cli(m.api_root, NULL, (const char *[]){"--json", "t8", "tmgi", "allocate", NULL});
  json_tmgi(r.out, tmgi, sizeof tmgi);
  run_free(&r);
  r = cli(m.api_root, NULL,
          (const char *[]){"t8", "deliver", tmgi, "--payload-hex", "00", "--wait", "1", NULL});
  assert_int_equal(r.status, 4);
  assert_non_null(strstr(r.err, "no delivery notification within 1 s"));
  assert_non_null(strstr(r.out, "delivery notification: timeout"));
  run_free(&r);
  assert_int_equal(lmmt_mock_stop(&m), 0);
}

/* Behind a slow proxy the notification reaches the receiver before the 201 (t8-mock
 * --create-reply-delay-ms): the delivery is still reported delivered, exit 0. */
static void test_deliver_notification_before_201(void **state) {
  (void)state;
  lmmt_mock m;
  char port[16];
  snprintf(port, sizeof port, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&m, (const char *[]){"--create-reply-delay-ms", "500",
                                                        "--bearer-port", port, NULL}),
                   0);
  char tmgi[32];
  run r = cli(m.api_root, NULL, (const char *[]){"--json", "t8", "tmgi", "allocate", NULL});
  assert_int_equal(r.status, 0);
  json_tmgi(r.out, tmgi, sizeof tmgi);
  run_free(&r);
  r = cli(m.api_root, NULL,
          (const char *[]){"t8", "deliver", tmgi, "--payload-hex", "5201123d", "--notify-listen",
                           "127.0.0.1:0", "--wait", "10", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "delivery notification: delivered"));
  run_free(&r);
  /* It did overtake the 201, and was answered 204 at its first attempt. The mock logs the
   * POST once it has been sent in full, which may be after the CLI had it. */
  assert_int_equal(lmmt_log_wait(&m, "http", "delivery-via-mbms\",\"status\":201", 1, 5000), 1);
  char *log = lmmt_read_file(m.log_path, NULL);
  assert_non_null(log);
  const char *note = strstr(log, "\"kind\":\"delivery\"");
  const char *created = strstr(log, "delivery-via-mbms\",\"status\":201");
  assert_non_null(note);
  assert_non_null(created);
  assert_true(note < created);
  free(log);
  assert_int_equal(lmmt_log_count(&m, "notify", "\"status\":204"), 1);
  assert_int_equal(lmmt_log_count(&m, "notify", NULL), 1);
  assert_int_equal(lmmt_mock_stop(&m), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_and_usage),
      cmocka_unit_test(test_tmgi_commands),
      cmocka_unit_test(test_deliver),
      cmocka_unit_test(test_deliver_timeout),
      cmocka_unit_test(test_deliver_notification_before_201),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
