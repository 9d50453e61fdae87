/* test_acl.c - access control on the simulated devices (docs/access-control.md): ACL entries
 * written over CoAP by the Access Control Owner, what a second server account sees, and how an
 * MBMS operation campaign and firmware campaigns (multicast, unicast push and pull) report the
 * members that refuse: refused, with the code, not failed and not silent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lmmt_coap.h"

#define PUT     COAP_REQUEST_CODE_PUT
#define GET     COAP_REQUEST_CODE_GET
#define DEL     COAP_REQUEST_CODE_DELETE
#define C(a, b) ((a) << 5 | (b))
#define TEXT    0

static int got_code;

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid) {
  (void)s, (void)sent, (void)mid;
  got_code = coap_pdu_get_code(rcvd);
  return COAP_RESPONSE_OK;
}

/* One request to device `dev` from 127.0.0.1:`from` (the address of a --server account): the
 * answer's code, -1 when none came. */
static int code_from(int from, int port, unsigned dev, int method, const char *path,
                     const char *text) {
  coap_address_t src, dst;
  coap_address_init(&src), coap_address_init(&dst);
  src.addr.sin.sin_family = dst.addr.sin.sin_family = AF_INET;
  src.size = dst.size = sizeof src.addr.sin;
  src.addr.sin.sin_port = htons((uint16_t)from);
  inet_pton(AF_INET, "127.0.0.1", &src.addr.sin.sin_addr);
  dst.addr.sin.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, lmmt_sim_host(dev), &dst.addr.sin.sin_addr);
  coap_context_t *ctx = coap_new_context(NULL);
  coap_session_t *s = ctx ? coap_new_client_session(ctx, &src, &dst, COAP_PROTO_UDP) : NULL;
  if (!s) {
    coap_free_context(ctx);
    return -1;
  }
  coap_register_response_handler(ctx, on_response);
  coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, (coap_pdu_code_t)method, s);
  uint8_t tok[8], buf[4];
  size_t tl;
  coap_session_new_token(s, &tl, tok);
  coap_add_token(pdu, tl, tok);
  coap_optlist_t *ol = NULL;
  for (const char *p = path; *p;) {
    p += *p == '/';
    size_t n = strcspn(p, "/");
    coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_URI_PATH, n, (const uint8_t *)p));
    p += n;
  }
  if (text)
    coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
                                              coap_encode_var_safe(buf, sizeof buf, TEXT), buf));
  coap_add_optlist_pdu(pdu, &ol);
  coap_delete_optlist(ol);
  if (text) coap_add_data(pdu, strlen(text), (const uint8_t *)text);
  got_code = -1;
  coap_send(s, pdu);
  for (int k = 0; k < 250 && got_code < 0; k++)
    coap_io_process(ctx, 20);
  coap_session_release(s);
  coap_free_context(ctx);
  return got_code;
}

/* Server 1 is every source but server 2's address (the command line, the tests' clients). */
static int s1(int port, unsigned dev, int method, const char *path, const char *text) {
  return lmmt_sim_code(port, dev, method, path, text ? TEXT : -1, -1, text, NULL, 0);
}

/* The bootstrap's Access Control instances: 0 /3/0, 1 /5/0, 2 /6/0, 3 Create of /42769. */
static void test_rules(void **state) {
  (void)state;
  int p2 = 20000 + lmmt_random_port() % 20000;
  char srv2[32];
  snprintf(srv2, sizeof srv2, "2=127.0.0.1:%d", p2);
  lmmt_sim sim;
  assert_int_equal(lmmt_sim_start(&sim, (const char *[]){"--count", "3", "--server", "1",
                                                         "--server", srv2, NULL}),
                   0);
  int port = sim.port;
  /* Without entries: the owner (server 1) may do everything, server 2 nothing. */
  assert_int_equal(s1(port, 0, GET, "/6/0", NULL), C(2, 5));
  assert_int_equal(code_from(p2, port, 0, GET, "/6/0", NULL), C(4, 1));
  assert_int_equal(code_from(p2, port, 0, GET, "/1", NULL), C(2, 5)); /* its accounts */
  /* Server 1 lets server 2 read device 0's /6/0 and takes the Read from itself. */
  assert_int_equal(s1(port, 0, PUT, "/2/2/2/2", "1"), C(2, 4));
  assert_int_equal(s1(port, 0, PUT, "/2/2/2/1", "0"), C(2, 4));
  assert_int_equal(s1(port, 0, GET, "/6/0", NULL), C(4, 1));
  assert_int_equal(code_from(p2, port, 0, GET, "/6/0", NULL), C(2, 5));
  assert_int_equal(code_from(p2, port, 0, PUT, "/6/0/0", "1.5"), C(4, 1)); /* Read only */
  /* Device 1 was not touched: the other way round. */
  assert_int_equal(s1(port, 1, GET, "/6/0", NULL), C(2, 5));
  assert_int_equal(code_from(p2, port, 1, GET, "/6/0", NULL), C(4, 1));
  /* A default entry (ACL instance 0) serves a server without its own entry. */
  assert_int_equal(s1(port, 1, PUT, "/2/0/2/0", "1"), C(2, 4));
  assert_int_equal(code_from(p2, port, 1, GET, "/3/0", NULL), C(2, 5));
  /* Server 2 is not the owner: it can neither change nor delete the instance. */
  assert_int_equal(code_from(p2, port, 0, PUT, "/2/2/2/2", "31"), C(4, 1));
  assert_int_equal(code_from(p2, port, 0, DEL, "/2/2", NULL), C(4, 1));
  assert_int_equal(code_from(p2, port, 0, GET, "/6/0/1", NULL), C(2, 5)); /* unchanged */
  /* Bad settings are refused with their reason, nothing changes. */
  assert_int_equal(s1(port, 0, PUT, "/2/2/2/1", "99"), C(4, 0));
  assert_int_equal(s1(port, 0, PUT, "/2/2/3", "7"), C(4, 0)); /* owner: no such account */
  assert_int_equal(s1(port, 0, PUT, "/2/2/0", "5"), C(4, 5)); /* Object ID is read-only */
  /* Ownership handed over: then server 1 may no longer change it. */
  assert_int_equal(s1(port, 2, PUT, "/2/1/3", "2"), C(2, 4));
  assert_int_equal(s1(port, 2, PUT, "/2/1/2/1", "31"), C(4, 1));
  assert_int_equal(code_from(p2, port, 2, PUT, "/2/1/2/1", "31"), C(2, 4));
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

typedef struct fixture {
  char dir[64], db[96], fw[96];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || lmmt_scratch_dir(f->dir, "acl") != 0) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  snprintf(f->fw, sizeof f->fw, "%s/fw.bin", f->dir);
  FILE *fp = fopen(f->fw, "wb");
  if (!fp) return -1;
  for (int i = 0; i < 6000; i++)
    fputc((i * 31 + 7) & 255, fp);
  if (fclose(fp) != 0) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = lmmt_scratch_remove(f->dir);
  free(f);
  return rc;
}

static lmmt_run cli(const char *db, const char *const *args) {
  return lmmt_cli_run(db, NULL, args);
}

/* An MBMS group Read of /6/0: members 0 and 1 refuse server 1 the Create of Group Mgmt
 * instances, 2 and 3 the Read of /6/0 (which the group request runs with, as server 1 wrote
 * their Group Mgmt instance); the other five are served by the group. */
static void test_mbms_campaign(void **state) {
  fixture *f = *state;
  lmmt_mock mock;
  char bp[16];
  snprintf(bp, sizeof bp, "%d", lmmt_random_port());
  assert_int_equal(lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bp, NULL}), 0);
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "9", "--object", "6", "--server", "1",
                                            "--server", "2=127.0.0.1:9", NULL}),
      0);
  for (unsigned i = 0; i < 2; i++)
    assert_int_equal(s1(sim.port, i, PUT, "/2/3/2/1", "0"), C(2, 4));
  for (unsigned i = 2; i < 4; i++)
    assert_int_equal(s1(sim.port, i, PUT, "/2/2/2/1", "30"), C(2, 4));
  lmmt_run r =
      cli(f->db, (const char *[]){"group", "create", "acl", "--type", "mbms", "--external-group-id",
                                  "acl@operator.example", "--multicast-port", bp, "--window", "1",
                                  "--members", sim.members_path, NULL});
  assert_int_equal(r.status, 0);
  lmmt_run_free(&r);
  r = cli(f->db, (const char *[]){"--api-root", mock.api_root, "--scs-as-id", "as1", "deliver",
                                  "acl", "--read", "/6/0", "--grace-ms", "500", NULL});
  if (r.status != 1) fprintf(stderr, "%s\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.out, "9 members: 5 succeeded, 0 failed, 0 pending, 4 refused;"));
  assert_non_null(strstr(r.out, "Group Mgmt write  7 ok, 2 refused, 0 failed\n"));
  /* Those that refused the Group Mgmt write never heard the group: not silent. */
  assert_non_null(
      strstr(r.out, "group request     5 ok, 2 refused, 0 failed, 0 silent; not run for 2\n"));
  assert_null(strstr(r.out, "unicast request")); /* nobody repaired */
  assert_int_equal(lmmt_count_of(r.out, "refused: Group Mgmt write refused 4.01"), 2);
  lmmt_run_free(&r);
  r = cli(f->db, (const char *[]){"--json", "report", "1", NULL});
  assert_int_equal(r.status, 0);
  assert_int_equal(lmmt_count_of(r.out, "\"refused\":true,\"code\":\"4.01\""), 4);
  assert_int_equal(lmmt_count_of(r.out, "\"refused\":false,\"code\":\"2.05\""), 5);
  for (int i = 0; i < 4; i++) { /* exactly members 0..3 */
    char want[64];
    snprintf(want, sizeof want, "{\"member\":\"ep=dev-%04d/6\",\"path\":", i);
    const char *m = strstr(r.out, want);
    assert_non_null(m);
    const char *end = strstr(m + 1, "{\"member\":");
    const char *ref = strstr(m, "\"refused\":true");
    assert_true(ref && (!end || ref < end));
  }
  assert_non_null(strstr(r.out, "\"succeeded\":5,\"failed\":0,\"pending\":0,\"refused\":4,"));
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_mock_stop(&mock), 0);
}

/* Firmware to an IP multicast group: member 0 refuses the update (no Execute on /5/0), member
 * 1 the package (no Write: it drops the group's fragments and refuses their repair), member 2
 * the Group Mgmt write; the other three are updated. */
static void test_firmware_campaign(void **state) {
  fixture *f = *state;
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "6", "--object", "5", "--update-ms", "50",
                                            "--server", "1", "--server", "2=127.0.0.1:9", NULL}),
      0);
  assert_int_equal(s1(sim.port, 0, PUT, "/2/1/2/1", "27"), C(2, 4));
  assert_int_equal(s1(sim.port, 1, PUT, "/2/1/2/1", "29"), C(2, 4));
  assert_int_equal(s1(sim.port, 2, PUT, "/2/3/2/1", "0"), C(2, 4));
  char port[16], addr[32];
  snprintf(port, sizeof port, "%d", 40000 + lmmt_random_port() % 20000);
  snprintf(addr, sizeof addr, "239.%d.%d.%d", 100 + getpid() % 100, getpid() % 250,
           1 + lmmt_random_port() % 250);
  lmmt_run r = cli(f->db, (const char *[]){"group", "create", "fwa", "--type", "multicast",
                                           "--multicast-address", addr, "--multicast-port", port,
                                           "--window", "1", "--members", sim.members_path, NULL});
  assert_int_equal(r.status, 0);
  lmmt_run_free(&r);
  r = cli(f->db, (const char *[]){"deliver", "fwa", "--firmware", f->fw, "--update-deadline", "10",
                                  "--grace-ms", "300", NULL});
  if (r.status != 1) fprintf(stderr, "%s\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  lmmt_run_free(&r);
  r = cli(f->db, (const char *[]){"report", "1", NULL});
  assert_int_equal(r.status, 0);
  if (!strstr(r.out, "6 members: 3 updated, 0 failed, 0 held, 0 cancelled, 3 refused"))
    fprintf(stderr, "%s\n", r.out);
  assert_non_null(strstr(r.out, "6 members: 3 updated, 0 failed, 0 held, 0 cancelled, 3 refused"));
  assert_non_null(strstr(r.out, "the update request was refused 4.01"));
  assert_non_null(strstr(r.out, "repair PUT /5/0/0 refused 4.01"));
  assert_non_null(strstr(r.out, "Group Mgmt write refused"));
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

/* The same refusals by unicast, push and pull: member 0 may not Execute /5, member 1 may not
 * Write it (so neither the package nor its URI); the others are updated. */
static void unicast_firmware(fixture *f, const char *method, const char *id) {
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "6", "--object", "5", "--update-ms", "50",
                                            "--server", "1", "--server", "2=127.0.0.1:9", NULL}),
      0);
  assert_int_equal(s1(sim.port, 0, PUT, "/2/1/2/1", "27"), C(2, 4));
  assert_int_equal(s1(sim.port, 1, PUT, "/2/1/2/1", "29"), C(2, 4));
  char name[16];
  snprintf(name, sizeof name, "fwu-%s", method);
  lmmt_run r = cli(f->db, (const char *[]){"group", "create", name, "--type", "unicast",
                                           "--members", sim.members_path, NULL});
  assert_int_equal(r.status, 0);
  lmmt_run_free(&r);
  r = cli(f->db, (const char *[]){"deliver", name, "--firmware", f->fw, "--method", method,
                                  "--update-deadline", "10", NULL});
  if (r.status != 1) fprintf(stderr, "%s\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  lmmt_run_free(&r);
  r = cli(f->db, (const char *[]){"report", id, NULL});
  assert_int_equal(r.status, 0);
  const char *want = "6 members: 4 updated, 0 failed, 0 held, 0 cancelled, 2 refused";
  if (!strstr(r.out, want)) fprintf(stderr, "%s\n", r.out);
  assert_non_null(strstr(r.out, want));
  /* Each refused member is named with its refusal. */
  char *l0 = strstr(r.out, "ep=dev-0000/5"), *l1 = strstr(r.out, "ep=dev-0001/5");
  assert_non_null(l0);
  assert_non_null(l1);
  assert_non_null(strstr(l0, "4.01"));
  assert_non_null(strstr(l1, "4.01"));
  lmmt_run_free(&r);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
}

static void test_firmware_unicast(void **state) {
  unicast_firmware(*state, "push", "1");
  unicast_firmware(*state, "pull", "2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rules),
      cmocka_unit_test_setup_teardown(test_mbms_campaign, setup, teardown),
      cmocka_unit_test_setup_teardown(test_firmware_campaign, setup, teardown),
      cmocka_unit_test_setup_teardown(test_firmware_unicast, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
