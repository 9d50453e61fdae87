/* test_group_protect.c - protected group messages end to end (docs/protocol.md section 6): the
 * CLI against simulated devices over DTLS, through IP multicast and the mock SCEF's MBMS bearer,
 * an operation and a firmware image; then an attacker on the group address with a forged
 * message, altered and replayed copies of genuine ones and an unprotected one: no device acts,
 * and each counts exactly what it dropped. And a sender killed mid-transfer: the next one never
 * reuses a sequence number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmm_wire/gprotect.h"
#include "lmmt.h"
#include "lmmt_cli.h"

#define N_DEV 8

typedef struct world {
  lmmt_sim sim;
  char dir[64], db[96], fw[96];
  char addr[32], port[16];
  int cap; /* the test's own socket on the group: what went to it */
} world;

/* The fleet; `delay_ms` holds every device's answers that long (the Group Mgmt writes'
 * included). */
static void world_up_slow(world *w, const char *object, const char *delay_ms) {
  memset(w, 0, sizeof *w);
  assert_int_equal(lmmt_scratch_dir(w->dir, "gprot"), 0);
  snprintf(w->db, sizeof w->db, "%s/state.db", w->dir);
  assert_int_equal(lmmt_sim_start(&w->sim, (const char *[]){"--count", "8", "--dtls", "--object",
                                                            object, "--update-ms", "100", "--seed",
                                                            "5", "--delay-ms", delay_ms, NULL}),
                   0);
  snprintf(w->port, sizeof w->port, "%d", 40000 + lmmt_random_port() % 20000);
  snprintf(w->addr, sizeof w->addr, "239.%d.%d.%d", 100 + rand() % 100, rand() % 250,
           1 + rand() % 250);
  w->cap = lmmt_bearer_join(w->addr, atoi(w->port));
  assert_true(w->cap >= 0);
  char want[48];
  snprintf(want, sizeof want, "(multicast, %d members)", N_DEV);
  assert_true(
      lmmt_cli_check(w->db, NULL, 0, want, NULL,
                     (const char *[]){"group", "create", "grp", "--type", "multicast",
                                      "--multicast-address", w->addr, "--multicast-port", w->port,
                                      "--window", "1", "--members", w->sim.members_path, NULL}));
}

static void world_up(world *w, const char *object) {
  world_up_slow(w, object, "0");
}

/* Stops the simulator: its totals' "group" object (owned: cJSON_Delete the root in *root). */
static const cJSON *world_down(world *w, cJSON **root) {
  int st;
  char *js = lmmt_sim_stop_stats(&w->sim, &st);
  assert_int_equal(st, 0);
  assert_non_null(js);
  *root = cJSON_Parse(js);
  free(js);
  assert_non_null(*root);
  close(w->cap);
  lmmt_scratch_remove(w->dir);
  return cJSON_GetObjectItem(cJSON_GetObjectItem(*root, "totals"), "group");
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(o, k);
  if (!cJSON_IsNumber(v)) fail_msg("no number \"%s\"", k);
  return v->valuedouble;
}

/* Every datagram waiting on the capture socket (a short wait for the last), into `out`. */
typedef struct captured {
  uint8_t *msg[4096];
  size_t len[4096], n;
} captured;

static void capture(int fd, captured *c, int first_ms) {
  uint8_t buf[2048];
  ssize_t n;
  for (int ms = first_ms; c->n < 4096 && (n = lmmt_recv(fd, buf, sizeof buf, ms)) >= 0; ms = 200) {
    c->msg[c->n] = malloc((size_t)n);
    memcpy(c->msg[c->n], buf, (size_t)n);
    c->len[c->n++] = (size_t)n;
  }
}

static void captured_free(captured *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->msg[i]);
  c->n = 0;
}

static uint64_t seq_of(const uint8_t *m, size_t len) {
  lmmw_gp_hdr h;
  if (lmmw_gp_peek(m, len, &h) != LMMW_GP_OK) fail_msg("a group datagram was not protected");
  return h.seq;
}

/* The attacker: one datagram to the group from a socket of its own. */
static void inject(const world *w, const uint8_t *m, size_t len) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct in_addr ifa;
  inet_pton(AF_INET, "127.0.0.1", &ifa);
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(w->port))};
  inet_pton(AF_INET, w->addr, &to.sin_addr);
  assert_int_equal(sendto(fd, m, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
  close(fd);
}

/* NON PUT /3/0/14 "+09:00" (UTC Offset), No-Response 26, token `t`: what a device would act on. */
static size_t evil_write(uint8_t t, uint8_t *out) {
  const uint8_t m[] = {0x58, 0x03, 0x77, t,    t,    t,   t,    t,   t,   t,
                       t,    t,    0xb1, '3',  0x01, '0', 0x02, '1', '4', 0x10,
                       0xd1, 0xe9, 0x1a, 0xff, '+',  '0', '9',  ':', '0', '0'};
  memcpy(out, m, sizeof m);
  return sizeof m;
}

/* A read of the whole fleet by the group; every member must answer by the group, `ok` of them
 * with success. Returns the report (owned). */
static char *group_read(const world *w, const char *path, const char *protect, int ok) {
  char want[128];
  snprintf(
      want, sizeof want,
      "%d members: %d succeeded, %d failed, 0 pending, 0 refused; by path: mbms 0, multicast %d, "
      "unicast 0",
      N_DEV, ok, N_DEV - ok, N_DEV);
  lmmt_run r = lmmt_cli_run(w->db, NULL,
                            (const char *[]){"deliver", "grp", "--read", path, "--protect", protect,
                                             "--no-repair", "--grace-ms", "1500", NULL});
  if (r.status != (ok == N_DEV ? 0 : 1) || !strstr(r.out, want))
    fail_msg("deliver --read %s: exit %d, want \"%s\":\n%s\n%s", path, r.status, want, r.out,
             r.err);
  char *out = r.out;
  r.out = NULL;
  lmmt_run_free(&r);
  return out;
}

/* The attacks on one captured genuine message `g`; returns how many forged ones were sent. */
static int attack(const world *w, const uint8_t *g, size_t glen) {
  uint8_t m[2048], *sealed;
  size_t len;
  lmmw_gp_hdr h;
  assert_int_equal(lmmw_gp_peek(g, glen, &h), LMMW_GP_OK);
  /* 1. Forged: a key of the attacker's own, the group's Key ID copied from the wire. */
  uint8_t secret[16];
  for (int i = 0; i < 16; i++)
    secret[i] = (uint8_t)rand();
  lmmw_gp_key k;
  assert_int_equal(lmmw_gp_derive(secret, sizeof secret, "grp", &k), LMM_OK);
  memcpy(k.kid, h.kid, sizeof k.kid);
  len = evil_write(0xe1, m);
  assert_int_equal(lmmw_gp_seal(&k, h.seq + 100, m, len, &sealed, &len), LMM_OK);
  inject(w, sealed, len);
  free(sealed);
  /* 2-4. Altered copies: the ciphertext's last byte, a token byte, the Partial IV. */
  size_t opt = 4 + (g[0] & 15); /* the option: a byte of delta and length, two of delta */
  size_t at[3] = {glen - 1, 5, opt + 3 + (g[opt] & 15) - 1};
  lmmw_gp_hdr dummy;
  for (int i = 0; i < 3; i++) {
    memcpy(m, g, glen);
    m[at[i]] ^= 0x01;
    assert_int_equal(lmmw_gp_peek(m, glen, &dummy), LMMW_GP_OK); /* well-formed, still */
    inject(w, m, glen);
  }
  /* 5. Replayed as it was. 6. Unprotected. */
  inject(w, g, glen);
  len = evil_write(0xe2, m);
  inject(w, m, len);
  return 4;
}

static void check_counts(const cJSON *grp, double ok, double forged, double replayed,
                         double unprot) {
  const cJSON *p = cJSON_GetObjectItem(grp, "protect");
  assert_non_null(p);
  char *s = cJSON_PrintUnformatted(p);
  print_message("protect: %s\n", s);
  free(s);
  assert_int_equal((int)num(p, "accepted"), (int)ok);
  assert_int_equal((int)num(p, "forged"), (int)forged);
  assert_int_equal((int)num(p, "replayed"), (int)replayed);
  assert_int_equal((int)num(p, "unprotected"), (int)unprot);
  assert_int_equal((int)num(p, "other_key"), 0);
}

/* ------------------------------------------------------------------ the tests */

static void test_multicast_op_and_attacks(void **state) {
  (void)state;
  world w;
  world_up(&w, "3");
  /* A plain member would receive the key in clear: refused before anything is sent. */
  char plain[160];
  snprintf(plain, sizeof plain, "%s/plain.members", w.dir);
  FILE *fp = fopen(plain, "w");
  fprintf(fp, "ep=dev-0000/3 coap://127.1.0.1:%d\n", w.sim.port);
  fclose(fp);
  assert_true(lmmt_cli_check(w.db, NULL, 0, NULL, NULL,
                             (const char *[]){"group", "create", "plain", "--type", "multicast",
                                              "--multicast-address", w.addr, "--multicast-port",
                                              w.port, "--members", plain, NULL}));
  assert_true(lmmt_cli_check(
      w.db, NULL, 2, NULL, "member ep=dev-0000/3 is coap://",
      (const char *[]){"deliver", "plain", "--read", "/3/0/0", "--protect", "on", NULL}));
  assert_true(lmmt_cli_check(
      w.db, NULL, 2, NULL, "--protect: 'maybe' is not auto, on or off",
      (const char *[]){"deliver", "grp", "--read", "/3/0/0", "--protect", "maybe", NULL}));

  free(group_read(&w, "/3/0/0", "on", N_DEV));
  captured c = {0};
  capture(w.cap, &c, 2000);
  assert_int_equal(c.n, 1);
  uint64_t s1 = seq_of(c.msg[0], c.len[0]);
  int forged = attack(&w, c.msg[0], c.len[0]);
  /* The same fleet, protected by default now that every member is coaps://: its answers
   * also prove that the attacks before it, on the same socket, were all read. The UTC Offset
   * the forged and the unprotected Write would have set is still unset everywhere. */
  char *rep = group_read(&w, "/3/0/14", "auto", 0);
  assert_int_equal(lmmt_count_of(rep, "error: 4.04 (no value)"), N_DEV);
  free(rep);
  captured d = {0};
  capture(w.cap, &d, 2000);
  assert_int_equal(d.n, 1 + 6); /* the attacker's six, then the genuine one */
  assert_true(seq_of(d.msg[6], d.len[6]) > s1);
  cJSON *root;
  const cJSON *grp = world_down(&w, &root);
  check_counts(grp, 2 * N_DEV, forged * N_DEV, N_DEV, N_DEV);
  /* No device acted on them: two requests each, two answers each. */
  assert_int_equal((int)num(grp, "received"), 2 * N_DEV);
  assert_int_equal((int)num(grp, "answers_sent"), 2 * N_DEV);
  cJSON_Delete(root);
  captured_free(&c), captured_free(&d);
}

static void test_mbms_op(void **state) {
  (void)state;
  lmmt_mock mock;
  char bp[16];
  snprintf(bp, sizeof bp, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bp, NULL}), 0);
  world w;
  memset(&w, 0, sizeof w);
  assert_int_equal(lmmt_scratch_dir(w.dir, "gprot"), 0);
  snprintf(w.db, sizeof w.db, "%s/state.db", w.dir);
  assert_int_equal(lmmt_sim_start(&w.sim, (const char *[]){"--count", "8", "--dtls", "--object",
                                                           "3", "--seed", "6", NULL}),
                   0);
  assert_true(lmmt_cli_check(w.db, NULL, 0, "(mbms, 8 members)", NULL,
                             (const char *[]){"group", "create", "bgrp", "--type", "mbms",
                                              "--external-group-id", "bgrp@operator.example",
                                              "--multicast-port", bp, "--window", "1", "--members",
                                              w.sim.members_path, NULL}));
  const char *env[] = {NULL};
  const char *args[] = {"--api-root",  mock.api_root, "--scs-as-id", "as1",       "deliver",
                        "bgrp",        "--read",      "/3/0/0",      "--protect", "on",
                        "--no-repair", "--grace-ms",  "1500",        NULL};
  const char *want =
      "8 members: 8 succeeded, 0 failed, 0 pending, 0 refused; by path: mbms 8, multicast 0";
  assert_true(lmmt_cli_check(w.db, env, 0, want, NULL, args));
  /* The TMGI stays with the group: the test listens on its bearer for the second campaign. */
  lmmt_run g = lmmt_cli_run(w.db, NULL, (const char *[]){"--json", "group", "show", "bgrp", NULL});
  const char *t = strstr(g.out, "\"tmgi\":\"");
  assert_non_null(t);
  char tmgi[32] = "", group[32];
  sscanf(t + 8, "%31[^\"]", tmgi);
  lmmt_run_free(&g);
  lmmt_tmgi_group(tmgi, group, sizeof group);
  int fd = lmmt_bearer_join(group, atoi(bp));
  assert_true(fd >= 0);
  assert_true(lmmt_cli_check(w.db, env, 0, want, NULL, args));
  captured c = {0};
  capture(fd, &c, 2000);
  assert_int_equal(c.n, 1);
  assert_true(seq_of(c.msg[0], c.len[0]) > 0); /* the first campaign's was 0: never again */
  /* Someone who can send on the bearer replays it, and sends an unprotected Write; the third
   * campaign's answers show both were read before it, and dropped. */
  snprintf(w.addr, sizeof w.addr, "%s", group), snprintf(w.port, sizeof w.port, "%s", bp);
  inject(&w, c.msg[0], c.len[0]);
  uint8_t evil[64];
  inject(&w, evil, evil_write(0xe3, evil));
  assert_true(lmmt_cli_check(w.db, env, 0, want, NULL, args));
  captured_free(&c);
  close(fd);
  w.cap = -1;
  int st;
  char *js = lmmt_sim_stop_stats(&w.sim, &st);
  cJSON *root = cJSON_Parse(js);
  free(js);
  check_counts(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "totals"), "group"), 3 * N_DEV, 0,
               N_DEV, N_DEV);
  cJSON_Delete(root);
  lmmt_scratch_remove(w.dir);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
}

static pid_t spawn_cli(const char *db, const char *const *args) {
  const char *argv[40] = {getenv("LMM_CLI"), "--db", db};
  int n = 3;
  for (int i = 0; args[i] && n < 39; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1), dup2(null, 2);
    unsetenv("LMM_T8_API_ROOT");
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* A firmware image, sealed fragment by fragment; the first sender killed halfway through the
 * fragments: the next campaign starts past every number the first could have sent. Then the
 * fragments are replayed, altered and sent unprotected to the updated fleet. */
static void test_firmware_multicast_crash(void **state) {
  (void)state;
  world w;
  world_up(&w, "5");
  snprintf(w.fw, sizeof w.fw, "%s/fw.bin", w.dir);
  FILE *fp = fopen(w.fw, "wb");
  for (int i = 0; i < 12000; i++)
    fputc((i * 31) & 255, fp);
  fclose(fp);
  /* Slow enough (12,000 bytes at 8 kB/s) to be killed among its fragments. */
  pid_t pid = spawn_cli(w.db, (const char *[]){"deliver", "grp", "--firmware", w.fw, "--rate", "8k",
                                               "--protect", "on", NULL});
  captured before = {0};
  uint8_t buf[2048];
  ssize_t n;
  while (before.n < 6 && (n = lmmt_recv(w.cap, buf, sizeof buf, 20000)) >= 0) {
    before.msg[before.n] = malloc((size_t)n);
    memcpy(before.msg[before.n], buf, (size_t)n);
    before.len[before.n++] = (size_t)n;
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  capture(w.cap, &before, 300);
  assert_true(before.n >= 6);
  uint64_t top = 0;
  for (size_t i = 0; i < before.n; i++) {
    uint64_t s = seq_of(before.msg[i], before.len[i]);
    top = s > top ? s : top;
  }
  /* Again from the start, to the end: every member updated, by the group. No parity on this
   * lossless path (--fec-loss 0): a parity row reaching a device that already holds the image
   * would count as a duplicate, and the count must stay 0 to show the replay was refused. */
  lmmt_run r = lmmt_cli_run(w.db, NULL,
                            (const char *[]){"deliver", "grp", "--firmware", w.fw, "--grace", "300",
                                             "--update-wait", "200", "--protect", "on",
                                             "--fec-loss", "0", NULL});
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "8 members: 8 updated, 0 failed"));
  assert_non_null(strstr(r.out, "by path: mbms 0, multicast 8, unicast 0"));
  lmmt_run_free(&r);
  captured after = {0};
  capture(w.cap, &after, 2000);
  assert_true(after.n >= 24 + 2); /* 12,000 / 512: 24 fragments, an announce, status, update */
  for (size_t i = 0; i < after.n; i++)
    if (seq_of(after.msg[i], after.len[i]) <= top)
      fail_msg("sequence number %llu sent again after the crash (the first sender reached %llu)",
               (unsigned long long)seq_of(after.msg[i], after.len[i]), (unsigned long long)top);
  for (size_t i = 0; i < after.n; i++) /* never one twice */
    for (size_t j = i + 1; j < after.n; j++)
      assert_true(seq_of(after.msg[i], after.len[i]) != seq_of(after.msg[j], after.len[j]));
  /* The attacks on a fragment (the 5th datagram: the announce went first). */
  int forged = attack(&w, after.msg[4], after.len[4]);
  /* Sentinel: a status read by the group, after the attacks on the same socket. */
  free(group_read(&w, "/5/0/3", "on", N_DEV));
  cJSON *root;
  const cJSON *grp = world_down(&w, &root);
  double accepted = num(cJSON_GetObjectItem(grp, "protect"), "accepted");
  assert_true(accepted >= (double)(N_DEV * (after.n + 1)));
  check_counts(grp, accepted, forged * N_DEV, N_DEV, N_DEV);
  /* No device took the replayed fragment (no duplicate) nor the Write; all stay updated. */
  const cJSON *fw = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "totals"), "fw");
  assert_int_equal((int)num(fw, "duplicates"), 0);
  const cJSON *updated = cJSON_GetArrayItem(cJSON_GetObjectItem(fw, "by_result"), 1);
  assert_non_null(updated);
  assert_int_equal((int)updated->valuedouble, N_DEV);
  cJSON_Delete(root);
  captured_free(&before), captured_free(&after);
}

/* A campaign killed before its group message went out sends it again when resumed: sealed or
 * not as the campaign started, not as the default would have it. Every member is coaps://, so
 * the default (auto) would seal it; this campaign started with --protect off. */
static void test_resume_keeps_protection(void **state) {
  (void)state;
  world w;
  world_up_slow(&w, "3", "2000"); /* the Group Mgmt writes take 2 s: time to kill it in them */
  pid_t pid = spawn_cli(w.db, (const char *[]){"deliver", "grp", "--read", "/3/0/0", "--protect",
                                               "off", "--grace-ms", "500", NULL});
  bool stored = false;
  for (int i = 0; i < 100 && !stored; i++) { /* its row is there before anything is sent */
    lmmt_run r = lmmt_cli_run(w.db, NULL, (const char *[]){"--json", "campaigns", NULL});
    stored = r.status == 0 && strstr(r.out, "\"id\":1,");
    lmmt_run_free(&r);
    if (!stored) usleep(100 * 1000);
  }
  assert_true(stored);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  captured c = {0};
  capture(w.cap, &c, 300);
  assert_int_equal(c.n, 0); /* killed in its Group Mgmt writes, before the group message */
  lmmt_run r = lmmt_cli_run(w.db, NULL, (const char *[]){"resume", "1", NULL});
  if (r.status != 0) print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "8 members: 8 succeeded, 0 failed"));
  lmmt_run_free(&r);
  capture(w.cap, &c, 2000);
  assert_int_equal(c.n, 1);
  lmmw_gp_hdr h;
  if (lmmw_gp_peek(c.msg[0], c.len[0], &h) == LMMW_GP_OK)
    fail_msg("the resumed campaign sealed its group message: it started with --protect off");
  cJSON *root;
  const cJSON *grp = world_down(&w, &root);
  assert_int_equal((int)num(grp, "received"), N_DEV);
  assert_int_equal((int)num(cJSON_GetObjectItem(grp, "protect"), "unprotected"), 0);
  cJSON_Delete(root);
  captured_free(&c);
}

int main(void) {
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multicast_op_and_attacks),
      cmocka_unit_test(test_mbms_op),
      cmocka_unit_test(test_firmware_multicast_crash),
      cmocka_unit_test(test_resume_keeps_protection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
