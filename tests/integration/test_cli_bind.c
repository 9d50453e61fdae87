/* test_cli_bind.c - lwm2m-mbms --coap-bind (and LMM_COAP_BIND) against the real lwm2m-mbms-sim
 * started with --server-addr, whose devices ignore requests from any other address and port:
 * an operation and a firmware push to a unicast group reach every member; bad values are usage
 * errors naming the flag, a port that cannot be shared is exit 3 with the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"

typedef struct fixture {
  char dir[64];
  char db[96];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  if (lmmt_scratch_dir(f->dir, "clib") != 0) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = lmmt_scratch_remove(f->dir);
  free(f);
  return rc;
}

/* $LMM_CLI with LMM_COAP_BIND set to `env_bind`, or unset for NULL. */
static lmmt_run cli(const char *db, const char *env_bind, const char *const *args) {
  char e[96];
  snprintf(e, sizeof e, "LMM_COAP_BIND=%s", env_bind ? env_bind : "");
  const char *env[] = {env_bind ? e : "LMM_COAP_BIND", NULL};
  return lmmt_cli_run(db, env, args);
}

static bool check(const char *db, const char *env_bind, int want_status, const char *out_has,
                  const char *err_has, const char *const *args) {
  char e[96];
  snprintf(e, sizeof e, "LMM_COAP_BIND=%s", env_bind ? env_bind : "");
  const char *env[] = {env_bind ? e : "LMM_COAP_BIND", NULL};
  return lmmt_cli_check(db, env, want_status, out_has, err_has, args);
}

#define EXPECT(db, env_bind, want_status, out_has, err_has, ...)                                   \
  assert_true(                                                                                     \
      check(db, env_bind, want_status, out_has, err_has, (const char *[]){__VA_ARGS__, NULL}))

/* A UDP port free at the time of the call (the kernel's pick). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* The fleet for a server at 127.0.0.1:port, as unicast group `name` of the store. */
static void fleet_up(lmmt_sim *sim, const char *db, const char *name, int port, const char *count,
                     const char *object) {
  char sa[32];
  snprintf(sa, sizeof sa, "127.0.0.1:%d", port);
  const char *extra[] = {"--count", count, "--object", object, "--server-addr", sa, NULL};
  assert_int_equal(lmmt_sim_start(sim, extra), 0);
  EXPECT(db, NULL, 0, "created (unicast,", NULL, "group", "create", name, "--type", "unicast",
         "--members", sim->members_path);
}

static void test_deliver_bound(void **state) {
  fixture *f = *state;
  int port = free_port();
  char bind_s[32];
  snprintf(bind_s, sizeof bind_s, "127.0.0.1:%d", port);
  lmmt_sim sim;
  fleet_up(&sim, f->db, "fleet", port, "12", "6");
  EXPECT(f->db, NULL, 0,
         "12 members: 12 succeeded, 0 failed, 0 pending, 0 refused; by path: mbms 0, multicast 0, "
         "unicast 12",
         NULL, "deliver", "fleet", "--read", "/6/0/0", "--coap-bind", bind_s);
  /* The same from the environment, and the flag wins over it. */
  EXPECT(f->db, bind_s, 0, "12 members: 12 succeeded", NULL, "deliver", "fleet", "--read",
         "/6/0/1");
  EXPECT(f->db, "not-an-address", 0, "12 members: 12 succeeded", NULL, "deliver", "fleet", "--read",
         "/6/0/1", "--coap-bind", bind_s);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

static void test_firmware_bound(void **state) {
  fixture *f = *state;
  int port = free_port();
  char bind_s[32], fw[96];
  snprintf(bind_s, sizeof bind_s, "127.0.0.1:%d", port);
  snprintf(fw, sizeof fw, "%s/fw.bin", f->dir);
  FILE *fp = fopen(fw, "wb");
  assert_non_null(fp);
  for (int i = 0; i < 20000; i++)
    fputc((i * 7919) >> 3 & 255, fp);
  assert_int_equal(fclose(fp), 0);
  lmmt_sim sim;
  fleet_up(&sim, f->db, "fw", port, "5", "5");
  EXPECT(f->db, NULL, 0,
         "5 members: 5 updated, 0 failed, 0 held, 0 cancelled, 0 refused, 0 pending", NULL,
         "deliver", "fw", "--firmware", fw, "--method", "push", "--coap-bind", bind_s);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

static void test_bad_bind(void **state) {
  fixture *f = *state;
  const char *db = f->db, *m = "/tmp/lmmt-clib-members";
  FILE *fp = fopen(m, "w");
  assert_non_null(fp);
  fputs("ep=a/6 coap://127.0.0.1:9\n", fp);
  assert_int_equal(fclose(fp), 0);
  EXPECT(db, NULL, 0, NULL, NULL, "group", "create", "u", "--type", "unicast", "--members", m);
  unlink(m);
  EXPECT(db, NULL, 2, NULL, "deliver: --coap-bind: 'localhost:5683' is not a numeric ADDR:PORT",
         "deliver", "u", "--read", "/6/0/0", "--coap-bind", "localhost:5683");
  EXPECT(db, NULL, 2, NULL, "--coap-bind: '127.0.0.1' is not", "deliver", "u", "--read", "/6/0/0",
         "--coap-bind", "127.0.0.1");
  EXPECT(db, NULL, 2, NULL, "--coap-bind: '[::1]:99999' is not", "deliver", "u", "--read", "/6/0/0",
         "--coap-bind", "[::1]:99999");
  EXPECT(db, NULL, 2, NULL, "--coap-bind needs a value", "deliver", "u", "--read", "/6/0/0",
         "--coap-bind");
  EXPECT(db, "1.2.3", 2, NULL, "LMM_COAP_BIND: '1.2.3' is not a numeric ADDR:PORT", "deliver", "u",
         "--read", "/6/0/0");
  EXPECT(db, NULL, 2, NULL, "resume: --coap-bind: 'x' is not", "resume", "1", "--coap-bind", "x");
  EXPECT(db, NULL, 2, NULL, "--coap-bind: 'x:y' is not", "deliver", "u", "--firmware", "/etc/hosts",
         "--coap-bind", "x:y");
  /* A port held by a socket without SO_REUSEADDR: exit 3, with the system's reason. */
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
  char held[32];
  snprintf(held, sizeof held, "127.0.0.1:%d", ntohs(a.sin_port));
  EXPECT(db, NULL, 3, NULL, "Address already in use", "deliver", "u", "--read", "/6/0/0",
         "--coap-bind", held);
  EXPECT(db, held, 3, NULL, "LMM_COAP_BIND", "deliver", "u", "--read", "/6/0/0");
  close(fd);
  /* Set but empty: as if unset (the member at port 9 then fails on its own: exit 1 or 4). */
  lmmt_run r = cli(db, "", (const char *[]){"deliver", "u", "--read", "/6/0/0", NULL});
  assert_true(r.status == 1 || r.status == 3 || r.status == 4);
  assert_null(strstr(r.err, "LMM_COAP_BIND"));
  lmmt_run_free(&r);
  r = cli(db, NULL, (const char *[]){"--help", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "--coap-bind ADDR:PORT"));
  assert_non_null(strstr(r.out, "LMM_COAP_BIND"));
  lmmt_run_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_deliver_bound, setup, teardown),
      cmocka_unit_test_setup_teardown(test_firmware_bound, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_bind, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
