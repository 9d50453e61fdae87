/* test_t8_tls.c - T8 over HTTPS: the client and the command line against the real t8-mock
 * serving TLS on loopback, with certificates made at run time by the openssl command line (a
 * CA and its server certificate, an untrusted CA and its own, a certificate for another host). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

/* Made once for the whole run by make_pki(). */
static char pki[64];

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The path of `name` in the scratch directory (a static buffer per call slot). */
static const char *in_pki(const char *name) {
  static char bufs[8][128];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", pki, name);
  return b;
}

/* Runs openssl with `args` (NULL-terminated), its output into the scratch directory's log.
 * Any failure, including openssl missing, fails the test loudly with that log. */
static void openssl(const char *const *args) {
  const char *argv[40] = {"openssl"};
  int n = 1;
  for (int i = 0; args[i] && n < 39; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  const char *log = in_pki("openssl.log");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    execvp("openssl", (char *const *)argv);
    fprintf(stderr, "cannot run openssl: %s\n", strerror(errno));
    _exit(127);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    char *text = lmmt_read_file(log, NULL);
    fail_msg("openssl %s failed (status %d); the certificates of this test cannot be made "
             "(scripts/install-deps installs openssl):\n%s",
             args[0], WIFEXITED(st) ? WEXITSTATUS(st) : -1, text ? text : "(no output)");
  }
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

/* A self-signed CA `name`.pem with its key `name`.key (P-256: quick to make). */
static void make_ca(const char *name, const char *cn) {
  char key[16], pem[16], subj[64];
  snprintf(key, sizeof key, "%s.key", name);
  snprintf(pem, sizeof pem, "%s.pem", name);
  snprintf(subj, sizeof subj, "/CN=%s", cn);
  openssl((const char *[]){"req",
                           "-x509",
                           "-newkey",
                           "ec",
                           "-pkeyopt",
                           "ec_paramgen_curve:prime256v1",
                           "-nodes",
                           "-keyout",
                           in_pki(key),
                           "-out",
                           in_pki(pem),
                           "-days",
                           "2",
                           "-subj",
                           subj,
                           "-addext",
                           "basicConstraints=critical,CA:TRUE",
                           "-addext",
                           "keyUsage=critical,keyCertSign,cRLSign",
                           NULL});
}

/* A server certificate `name`.pem (key `name`.key) signed by CA `ca`, naming `san`. */
static void make_server(const char *name, const char *ca, const char *san, const char *serial) {
  char key[16], csr[16], pem[16], ext[16], cakey[16], capem[16], text[160];
  snprintf(key, sizeof key, "%s.key", name);
  snprintf(csr, sizeof csr, "%s.csr", name);
  snprintf(pem, sizeof pem, "%s.pem", name);
  snprintf(ext, sizeof ext, "%s.ext", name);
  snprintf(cakey, sizeof cakey, "%s.key", ca);
  snprintf(capem, sizeof capem, "%s.pem", ca);
  snprintf(text, sizeof text,
           "subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
           "extendedKeyUsage=serverAuth\n",
           san);
  write_text(in_pki(ext), text);
  openssl((const char *[]){"req", "-new", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", in_pki(key), "-out",
                           in_pki(csr), "-subj", "/CN=t8-mock", NULL});
  openssl((const char *[]){"x509", "-req", "-in", in_pki(csr), "-CA", in_pki(capem), "-CAkey",
                           in_pki(cakey), "-set_serial", serial, "-days", "2", "-extfile",
                           in_pki(ext), "-out", in_pki(pem), NULL});
}

static int make_pki(void **state) {
  (void)state;
  if (lmmt_scratch_dir(pki, "tls") != 0) return -1;
  make_ca("ca", "lmm test CA");
  make_server("good", "ca", "IP:127.0.0.1,DNS:localhost", "2");
  make_ca("rogue", "lmm untrusted CA");
  make_server("rogue-srv", "rogue", "IP:127.0.0.1,DNS:localhost", "3");
  make_server("other", "ca", "DNS:other.example", "4");
  return 0;
}

static int remove_pki(void **state) {
  (void)state;
  if (!getenv("LMMT_KEEP_LOGS")) lmmt_scratch_remove(pki);
  return 0;
}

/* ------------------------------------------------------------ a mock over HTTPS */

typedef struct world {
  lmmt_mock mock;
  char https_root[64]; /* https://127.0.0.1:PORT */
  lmm_ctx *ctx;
  lmm_t8_client *cl;
  lmm_t8_notifier *nt;
  int deliveries;
  bool delivered;
} world;

static void on_delivery(void *user, const char *txn, bool delivered) {
  world *w = user;
  (void)txn;
  w->deliveries++;
  w->delivered = delivered;
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, NULL};

/* Starts the mock with the certificate and key `cert` ("good", "rogue-srv", "other"). */
static void mock_start(world *w, const char *cert) {
  char pem[16], key[16], port[16];
  memset(w, 0, sizeof *w);
  snprintf(pem, sizeof pem, "%s.pem", cert);
  snprintf(key, sizeof key, "%s.key", cert);
  snprintf(port, sizeof port, "%d", lmmt_random_port());
  const char *extra[] = {"--tls-cert",    in_pki(pem), "--tls-key", in_pki(key),
                         "--bearer-port", port,        NULL};
  assert_int_equal(lmmt_mock_start(&w->mock, extra), 0);
  snprintf(w->https_root, sizeof w->https_root, "https://127.0.0.1:%d", w->mock.port);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
}

/* A client of the mock at `root` (NULL: https://127.0.0.1:PORT), retrying quickly. */
static void client_new(world *w, const char *root, const char *ca_file, bool verify) {
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = root ? root : w->https_root;
  cfg.scs_as_id = "as1";
  cfg.ca_file = ca_file;
  cfg.tls_verify = verify;
  cfg.retry_base_ms = 20;
  lmm_t8_client_free(w->cl);
  w->cl = NULL;
  assert_int_equal(lmm_t8_client_new(w->ctx, &cfg, &w->cl), LMM_OK);
}

static void world_stop(world *w) {
  lmm_t8_client_free(w->cl);
  lmm_t8_notifier_free(w->nt);
  lmm_ctx_free(w->ctx);
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
}

/* A TMGI allocation that the TLS layer must refuse, at once (a certificate does not change on
 * a retry) and saying so: the message names a certificate problem, plus `also` when given. */
static void expect_refused(world *w, const char *also) {
  lmm_tmgi_allocation a = {0}, *list = NULL;
  size_t n = 0;
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(w->cl, NULL, &a, &res), LMM_ERR_NET);
  assert_int_equal(res.attempts, 1);
  assert_int_equal(res.http_status, 0);
  char *d = lmm_t8_result_describe(&res);
  assert_non_null(d);
  print_message("refused as expected: %s\n", d);
  if (!strstr(d, "certificate") || (also && !strstr(d, also)))
    fail_msg("expected a certificate problem%s%s, got: %s", also ? " naming " : "",
             also ? also : "", d);
  lmm_free(d);
  lmm_t8_result_clear(&res);
  /* A GET is idempotent, yet not retried either. */
  assert_int_equal(lmm_t8_tmgi_list(w->cl, &list, &n, &res), LMM_ERR_NET);
  assert_int_equal(res.attempts, 1);
  assert_non_null(strstr(res.transport_error, "certificate"));
  lmm_t8_result_clear(&res);
  /* Nothing reached the mock's HTTP layer. */
  assert_int_equal(lmmt_log_count(&w->mock, "http", NULL), 0);
}

/* ------------------------------------------------------------ tests */

/* Trusting the CA: a TMGI is allocated and a delivery made, whose notification comes back. */
static void test_ca_file_success(void **state) {
  (void)state;
  world w;
  mock_start(&w, "good");
  client_new(&w, NULL, in_pki("ca.pem"), true);
  assert_int_equal(lmm_t8_notifier_new(w.ctx, NULL, &handlers, &w, &w.nt), LMM_OK);
  lmm_t8_client_attach_notifier(w.cl, w.nt);

  lmm_tmgi_allocation a = {0};
  lmm_t8_result res;
  assert_int_equal(lmm_t8_tmgi_create(w.cl, NULL, &a, &res), LMM_OK);
  assert_int_equal(res.http_status, 201);
  assert_non_null(a.self);
  assert_int_equal(strncmp(a.self, "https://127.0.0.1:", 18), 0); /* the mock's links are TLS */
  static const uint8_t payload[] = {0x52, 0x01, 0x02};
  lmm_gmd req = {.has_payload = true,
                 .payload = (uint8_t *)payload,
                 .payload_len = sizeof payload,
                 .scef_port = -1},
          out = {0};
  assert_int_equal(lmm_t8_gmd_create(w.cl, a.tmgi, &req, &out, &res), LMM_OK);
  assert_int_equal(res.http_status, 201);
  assert_non_null(out.transaction_id);
  int64_t end = mono_ms() + 5000;
  while (w.deliveries == 0 && mono_ms() < end)
    lmm_ctx_run_once(w.ctx, 50);
  assert_int_equal(w.deliveries, 1);
  assert_true(w.delivered);
  assert_int_equal(lmmt_log_count(&w.mock, "bearer_send", a.tmgi), 1);

  /* The certificate names localhost too. */
  char root[64];
  snprintf(root, sizeof root, "https://localhost:%d", w.mock.port);
  client_new(&w, root, in_pki("ca.pem"), true);
  lmm_tmgi_allocation g = {0};
  assert_int_equal(lmm_t8_tmgi_get(w.cl, a.tmgi, &g, &res), LMM_OK);
  assert_string_equal(g.tmgi, a.tmgi);
  lmm_tmgi_allocation_clear(&g);
  lmm_t8_result_clear(&res);
  lmm_gmd_clear(&out);
  lmm_tmgi_allocation_clear(&a);
  world_stop(&w);
}

/* Without a CA file the system store is used, which does not hold our test CA. */
static void test_system_store_refused(void **state) {
  (void)state;
  world w;
  mock_start(&w, "good");
  client_new(&w, NULL, NULL, true);
  expect_refused(&w, NULL);
  world_stop(&w);
}

/* A server whose certificate comes from a CA we were not told to trust. */
static void test_untrusted_ca_refused(void **state) {
  (void)state;
  world w;
  mock_start(&w, "rogue-srv");
  client_new(&w, NULL, in_pki("ca.pem"), true);
  expect_refused(&w, NULL);
  world_stop(&w);
}

/* A certificate from the trusted CA, but for another host than the one connected to. */
static void test_wrong_host_refused(void **state) {
  (void)state;
  world w;
  mock_start(&w, "other");
  client_new(&w, NULL, in_pki("ca.pem"), true);
  expect_refused(&w, "127.0.0.1");
  world_stop(&w);
}

/* tls_verify off (--insecure) takes any of them: an operator's explicit choice. */
static void test_insecure_accepts(void **state) {
  (void)state;
  const char *certs[] = {"rogue-srv", "other"};
  for (size_t i = 0; i < sizeof certs / sizeof *certs; i++) {
    world w;
    mock_start(&w, certs[i]);
    client_new(&w, NULL, NULL, false);
    lmm_tmgi_allocation a = {0};
    lmm_t8_result res;
    assert_int_equal(lmm_t8_tmgi_create(w.cl, NULL, &a, &res), LMM_OK);
    assert_int_equal(res.http_status, 201);
    lmm_tmgi_allocation_clear(&a);
    lmm_t8_result_clear(&res);
    world_stop(&w);
  }
}

/* The command line: --ca-file (or LMM_T8_CA_FILE) makes it work; without it the operator is
 * told it is a certificate problem, with the SCEF-refused exit status; --insecure works. */
static void test_cli(void **state) {
  (void)state;
  world w;
  mock_start(&w, "good");
  char root[96], db[128], dir[64];
  snprintf(root, sizeof root, "LMM_T8_API_ROOT=%s", w.https_root);
  assert_int_equal(lmmt_scratch_dir(dir, "tls-cli"), 0);
  snprintf(db, sizeof db, "%s/state.db", dir);
  const char *env[] = {root, "LMM_T8_SCS_AS_ID=as1", "LMM_T8_CA_FILE", NULL};
  assert_true(lmmt_cli_check(
      db, env, 0, NULL, NULL,
      (const char *[]){"--ca-file", in_pki("ca.pem"), "t8", "tmgi", "allocate", NULL}));
  assert_int_equal(lmmt_log_count(&w.mock, "tmgi_allocated", NULL), 1);
  char ca_env[160];
  snprintf(ca_env, sizeof ca_env, "LMM_T8_CA_FILE=%s", in_pki("ca.pem"));
  const char *env_ca[] = {root, "LMM_T8_SCS_AS_ID=as1", ca_env, NULL};
  assert_true(
      lmmt_cli_check(db, env_ca, 0, NULL, NULL, (const char *[]){"t8", "tmgi", "list", NULL}));

  lmmt_run r = lmmt_cli_run(db, env, (const char *[]){"t8", "tmgi", "allocate", NULL});
  print_message("the CLI without --ca-file: exit %d: %s", r.status, r.err);
  if (r.status != 3 || !strstr(r.err, "lwm2m-mbms: t8") || !strstr(r.err, "certificate"))
    fail_msg("expected exit 3 and a certificate problem, got %d: %s", r.status, r.err);
  lmmt_run_free(&r);
  assert_int_equal(lmmt_log_count(&w.mock, "tmgi_allocated", NULL), 1);

  assert_true(lmmt_cli_check(db, env, 0, NULL, NULL,
                             (const char *[]){"--insecure", "t8", "tmgi", "allocate", NULL}));
  assert_int_equal(lmmt_log_count(&w.mock, "tmgi_allocated", NULL), 2);
  assert_int_equal(lmmt_scratch_remove(dir), 0);
  world_stop(&w);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ca_file_success),      cmocka_unit_test(test_system_store_refused),
      cmocka_unit_test(test_untrusted_ca_refused), cmocka_unit_test(test_wrong_host_refused),
      cmocka_unit_test(test_insecure_accepts),     cmocka_unit_test(test_cli),
  };
  int failed = cmocka_run_group_tests_name("t8_tls", tests, make_pki, remove_pki);
  lmm_global_cleanup();
  return failed ? 1 : 0;
}
