/* test_interop_server.c - our unicast engine and campaigns with libcoap's coap-server (Debian
 * libcoap3-bin) as the member: a plain CoAP server with dynamic resources (-d), no LwM2M in it.
 * The command line writes and reads through a unicast group (over CoAP and CoAPS), and the
 * engine writes and reads a SenML-JSON body larger than a block. What the server does
 * differently from an LwM2M client (no instance level, no Discover, Accept ignored, 2.01 for a
 * first write) is in docs/interop.md; these tests pin what our side makes of it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lmmt_libcoap.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define KEY "interop-psk"

typedef struct fixture {
  char dir[64], db[96], members[96];
  lmmt_coap_server srv[2];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || !lmmt_libcoap_tool("coap-server") || lmmt_scratch_dir(f->dir, "interop-srv")) {
    free(f);
    return -1;
  }
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  snprintf(f->members, sizeof f->members, "%s/members", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  lmmt_scratch_remove(f->dir);
  free(f);
  return 0;
}

/* Two fresh coap-servers (dynamic resources, a PSK for CoAPS on port + 1) and a members file
 * naming them, each allowed object 3; `coaps` puts them behind DTLS. */
static void servers_up(fixture *f, bool coaps) {
  for (int i = 0; i < 2; i++)
    assert_int_equal(
        lmmt_coap_server_start(&f->srv[i], (const char *[]){"-d", "50", "-k", KEY, NULL}), 0);
  FILE *m = fopen(f->members, "w");
  assert_non_null(m);
  for (int i = 0; i < 2; i++)
    if (coaps)
      fprintf(m, "ep=srv-%d/3 coaps://127.0.0.1:%d psk-id=srv-%d psk-key=text:%s\n", i,
              f->srv[i].port + 1, i, KEY);
    else
      fprintf(m, "ep=srv-%d/3 coap://127.0.0.1:%d\n", i, f->srv[i].port);
  assert_int_equal(fclose(m), 0);
}

static void servers_down(fixture *f) {
  for (int i = 0; i < 2; i++)
    assert_int_equal(lmmt_coap_server_stop(&f->srv[i]), 0);
}

#define EXPECT(f, want_status, out_has, ...)                                                       \
  assert_true(lmmt_cli_check((f)->db, NULL, want_status, out_has, NULL,                            \
                             (const char *[]){__VA_ARGS__, NULL}))

/* The campaign's --json report, parsed by what it holds as text. */
static char *report_json(fixture *f, const char *id) {
  lmmt_run r = lmmt_cli_run(f->db, NULL, (const char *[]){"--json", "report", id, NULL});
  assert_int_equal(r.status, 0);
  char *out = r.out;
  r.out = NULL;
  lmmt_run_free(&r);
  return out;
}

/* ------------------------------------------------------------------ the command line */

static void run_campaigns(fixture *f, bool coaps) {
  servers_up(f, coaps);
  EXPECT(f, 0, "created (unicast, 2 members)", "group", "create", "g", "--type", "unicast",
         "--members", f->members);
  /* The first write creates the resource: coap-server answers 2.01, which is a success. */
  EXPECT(f, 0, "2 members: 2 succeeded, 0 failed", "deliver", "g", "--write", "/3/0/14=+02:00");
  char *j = report_json(f, "1");
  assert_int_equal(lmmt_count_of(j, "\"refused\":false,\"code\":\"2.01\""), 2);
  free(j);
  /* then it changes it: 2.04 */
  EXPECT(f, 0, "2 members: 2 succeeded, 0 failed", "deliver", "g", "--write", "/3/0/14=+03:30");
  j = report_json(f, "2");
  assert_int_equal(lmmt_count_of(j, "\"refused\":false,\"code\":\"2.04\""), 2);
  free(j);
  /* the read reports the value written, from each member */
  EXPECT(f, 0, "2 members: 2 succeeded, 0 failed", "deliver", "g", "--read", "/3/0/14");
  j = report_json(f, "3");
  assert_int_equal(lmmt_count_of(j, "\"refused\":false,\"code\":\"2.05\""), 2);
  assert_int_equal(lmmt_count_of(j, "\"payload\":\"+03:30\""), 2);
  free(j);
  EXPECT(f, 0, "+03:30", "report", "3", "--format", "csv");
  /* coap-server has resources, not LwM2M objects: no instance /3/0 to read (4.04, exit 1) */
  EXPECT(f, 1, "2 members: 0 succeeded, 2 failed", "deliver", "g", "--read", "/3/0");
  j = report_json(f, "4");
  assert_int_equal(lmmt_count_of(j, "\"refused\":false,\"code\":\"4.04\""), 2);
  free(j);
  /* nor Discover: it ignores the Accept (RFC 7252 5.10.4 wants 4.06) and sends the resource
   * itself, which is no link list and must not be reported as the member's links */
  EXPECT(f, 1, "Discover answered 2.05 without a Content-Format and not as a link list", "deliver",
         "g", "--discover", "/3/0/14");
  /* An LwM2M Write-Attributes is a PUT with a query and no payload: to a plain CoAP server a
   * PUT of an empty representation, which it stores (2.04), and the value is gone. */
  EXPECT(f, 0, "2 members: 2 succeeded", "deliver", "g", "--write-attr", "/3/0/14?pmin=5");
  EXPECT(f, 0, "2 members: 2 succeeded", "deliver", "g", "--read", "/3/0/14");
  j = report_json(f, "7");
  assert_int_equal(lmmt_count_of(j, "\"code\":\"2.05\",\"contentFormat\":null,\"values\":null,"
                                    "\"payload\":null"),
                   2);
  free(j);
  servers_down(f);
}

static void test_cli_campaigns(void **state) {
  run_campaigns(*state, false);
}

static void test_cli_campaigns_coaps(void **state) {
  fixture *f = *state;
  unlink(f->db); /* a store of its own: campaign IDs from 1 again */
  char keys[128];
  snprintf(keys, sizeof keys, "%s.keys", f->db);
  unlink(keys);
  run_campaigns(f, true);
}

/* ------------------------------------------------------------------ the engine */

typedef struct result {
  int calls;
  lmm_err err;
  uint8_t code;
  int cf;
  uint8_t *body;
  size_t len;
} result;

static void on_member(void *user, const lmm_member_result *r) {
  result *o = (result *)user + r->index;
  o->calls++;
  o->err = r->err, o->code = r->coap_code, o->cf = r->content_format;
  free(o->body);
  o->body = NULL, o->len = r->payload_len;
  if (r->payload_len) {
    o->body = malloc(r->payload_len);
    assert_non_null(o->body);
    memcpy(o->body, r->payload, r->payload_len);
  }
}

static const lmm_batch_handlers handlers = {.on_member = on_member};

static void run_op(lmm_unicast *u, const lmm_member *m, size_t n, const lmm_op *op, result *out) {
  for (size_t i = 0; i < n; i++)
    free(out[i].body), memset(&out[i], 0, sizeof out[i]);
  lmm_batch *b;
  /* The Group Mgmt object is exempt from the members' Object ID, as for the adapter's own
   * step 3 write. */
  assert_int_equal(lmm_batch_start(u, m, n, op, LMM_GROUP_MGMT_OID, &handlers, out, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 20000), LMM_OK);
  lmm_batch_free(b);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(out[i].calls, 1);
}

/* A Group Mgmt instance of 60 Member List entries: SenML-JSON well over 1,024 bytes. */
static void big_instance(lmm_records *r) {
  lmm_path p = {42769, 0, 0, 0, 3};
  lmm_value v = {.type = LMM_RT_STRING, .str = (char *)"building-7"};
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
  char list[2048] = "";
  for (int i = 0; i < 60; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%sep=dev-%04d/42769", i ? "," : "",
             i);
  p.rid = 3, v.str = list;
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
  p.rid = 5, v.str = (char *)"building7@operator.example";
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
  p.rid = 9, v = (lmm_value){.type = LMM_RT_INTEGER, .v.i = 30};
  assert_int_equal(lmm_records_add(r, &p, &v), LMM_OK);
}

static void test_engine_senml_blockwise(void **state) {
  fixture *f = *state;
  servers_up(f, false);
  lmm_member *m;
  size_t n;
  char why[160];
  assert_int_equal(lmm_members_load(f->members, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, 2);
  lmm_ctx *ctx;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  lmm_unicast_config cfg = LMM_UNICAST_CONFIG_DEFAULT;
  cfg.block_size = 64; /* Block1 out, Block2 back: many blocks each way */
  lmm_unicast *u;
  assert_int_equal(lmm_unicast_new(ctx, &cfg, &u), LMM_OK);

  lmm_records recs = {0};
  big_instance(&recs);
  lmm_path base = {42769, 0, 0, 0, 2};
  lmm_op op = {.kind = LMM_OPK_WRITE, .path = base, .format = LMM_FMT_SENML_JSON};
  uint8_t *body;
  size_t len;
  assert_int_equal(lmm_lwm2m_encode(LMM_FMT_SENML_JSON, &base, recs.items, recs.n, &body, &len),
                   LMM_OK);
  assert_true(len > 1024);
  op.payload = body, op.len = len;
  result res[2] = {0};
  run_op(u, m, n, &op, res);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(res[i].err, LMM_OK);
    assert_int_equal(res[i].code, 0x41); /* 2.01: Block1 reassembled, the resource made */
  }
  /* Read it back: Block2, the Content-Format it was written with, and our decoder agrees. */
  op = (lmm_op){.kind = LMM_OPK_READ, .path = base, .accept = LMM_FMT_SENML_JSON};
  run_op(u, m, n, &op, res);
  lmm_obj_def gm;
  lmm_group_mgmt_def(42769, &gm);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(res[i].err, LMM_OK);
    assert_int_equal(res[i].code, 0x45);
    assert_int_equal(res[i].cf, LMM_FMT_SENML_JSON);
    assert_int_equal(res[i].len, len);
    assert_memory_equal(res[i].body, body, len);
    lmm_records got = {0};
    assert_int_equal(lmm_lwm2m_decode(LMM_FMT_SENML_JSON, &base, res[i].body, res[i].len, &gm, &got,
                                      why, sizeof why),
                     LMM_OK);
    assert_int_equal(got.n, recs.n);
    assert_string_equal(got.items[1].value.str, recs.items[1].value.str);
    lmm_records_clear(&got);
  }
  /* A Discover gets the SenML body back (the server ignores Accept: link-format): not a
   * Discover answer, the engine says so */
  op = (lmm_op){.kind = LMM_OPK_DISCOVER, .path = base};
  run_op(u, m, n, &op, res);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(res[i].err, LMM_ERR_PROTO);
    assert_int_equal(res[i].code, 0);
    assert_int_equal(res[i].len, len);
  }
  /* Delete, and the read is a 4.04 answered as such (a CoAP answer: err is LMM_OK) */
  op = (lmm_op){.kind = LMM_OPK_DELETE, .path = base};
  run_op(u, m, n, &op, res);
  assert_int_equal(res[0].code, 0x42);
  op = (lmm_op){.kind = LMM_OPK_READ, .path = base, .accept = LMM_FMT_SENML_JSON};
  run_op(u, m, n, &op, res);
  assert_int_equal(res[0].err, LMM_OK);
  assert_int_equal(res[0].code, 0x84);
  for (int i = 0; i < 2; i++)
    free(res[i].body);
  lmm_free(body);
  lmm_records_clear(&recs);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  servers_down(f);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_campaigns),
      cmocka_unit_test(test_cli_campaigns_coaps),
      cmocka_unit_test(test_engine_senml_blockwise),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  lmm_global_cleanup();
  return rc;
}
