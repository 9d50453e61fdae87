/* test_accept.c - the Accept option of every request the library makes, on the wire: the
 * engine's choice per path and member (LMM_ACCEPT_AUTO), the one fallback to the other format
 * after 4.06 or 5.00, an operator's explicit choice left alone, and the group request's Accept.
 * A scripted raw CoAP peer on loopback answers exactly what each case needs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "campaign/campaign_internal.h"
#include "lmmt_peer.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define C205 0x45
#define C404 0x84
#define C406 0x86
#define C500 0xA0

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct world {
  lmm_ctx *ctx;
  lmm_unicast *u;
  int peer, port;
  lmm_member m[2]; /* 0: SenML-JSON member, 1: TLV member; same peer */
} world;

typedef struct result {
  int calls;
  lmm_err err;
  uint8_t code;
  int cf, attempts;
} result;

static void on_member(void *user, const lmm_member_result *r) {
  result *res = user;
  res->calls++;
  res->err = r->err, res->code = r->coap_code, res->cf = r->content_format;
  res->attempts = r->attempts;
}

static const lmm_batch_handlers handlers = {NULL, on_member, NULL, NULL};

static int setup(void **state) {
  world *w = calloc(1, sizeof *w);
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  cc.seed = 7;
  lmm_unicast_config uc = LMM_UNICAST_CONFIG_DEFAULT;
  uc.ack_timeout_ms = 1000;
  uc.max_retransmit = 1;
  uc.member_deadline_ms = 8000;
  if (!w || lmm_ctx_new(&cc, &w->ctx) != LMM_OK || lmm_unicast_new(w->ctx, &uc, &w->u) != LMM_OK)
    return -1;
  w->peer = lmmt_peer_open(0, &w->port);
  if (w->peer < 0) return -1;
  char uri[64];
  snprintf(uri, sizeof uri, "coap://127.0.0.1:%d", w->port);
  for (int i = 0; i < 2; i++) {
    w->m[i].ep = strdup(i ? "tlv-dev" : "senml-dev");
    w->m[i].uri = strdup(uri);
    w->m[i].oid = 5;
    w->m[i].format = i ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
  }
  *state = w;
  return 0;
}

static int teardown(void **state) {
  world *w = *state;
  for (int i = 0; i < 2; i++)
    lmm_member_clear(&w->m[i]);
  close(w->peer);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  free(w);
  return 0;
}

/* The next request the peer gets while the engine runs, or NULL after `ms`. */
static coap_pdu_t *next_request(world *w, struct sockaddr_in *from, int ms) {
  int64_t until = mono_ms() + ms;
  coap_pdu_t *req = NULL;
  while (!req && mono_ms() < until) {
    lmm_ctx_run_once(w->ctx, 10);
    req = lmmt_peer_recv(w->peer, from, 0);
  }
  return req;
}

static lmm_op op_of(lmm_op_kind kind, const char *path) {
  lmm_op op = LMM_OP_INIT;
  op.kind = kind;
  assert_int_equal(lmm_path_parse(path, &op.path), LMM_OK);
  return op;
}

/* ------------------------------------------------------------ the choice */

typedef struct choice {
  lmm_op_kind kind;
  const char *path;
  int member;      /* 0 SenML-JSON, 1 TLV */
  uint16_t exempt; /* the batch's Group Mgmt object */
  int accept;      /* expected Accept option, -1 none */
} choice;

static void test_auto_accept_per_path_and_member(void **state) {
  world *w = *state;
  static const choice cases[] = {
      {LMM_OPK_READ, "/5/0/3", 0, 0xFFFF, LMM_FMT_TEXT},     /* Integer resource */
      {LMM_OPK_READ, "/5/0/3", 1, 0xFFFF, LMM_FMT_TEXT},     /* the same for a TLV member */
      {LMM_OPK_READ, "/5/0/0", 0, 0xFFFF, LMM_FMT_OPAQUE},   /* Package: Opaque */
      {LMM_OPK_READ, "/5/0", 0, 0xFFFF, LMM_FMT_SENML_JSON}, /* an instance */
      {LMM_OPK_READ, "/5/0", 1, 0xFFFF, LMM_FMT_TLV},
      {LMM_OPK_READ, "/5", 1, 0xFFFF, LMM_FMT_TLV},            /* an object */
      {LMM_OPK_READ, "/5/0/8", 0, 0xFFFF, LMM_FMT_SENML_JSON}, /* multiple-instance resource */
      {LMM_OPK_READ, "/5/0/8", 1, 0xFFFF, LMM_FMT_TLV},
      {LMM_OPK_READ, "/5/0/8/1", 1, 0xFFFF, LMM_FMT_TEXT},   /* one of its instances */
      {LMM_OPK_READ, "/5/0/60000", 0, 0xFFFF, LMM_FMT_TEXT}, /* not in the model */
      {LMM_OPK_OBSERVE, "/5/0/3", 1, 0xFFFF, LMM_FMT_TEXT},
      {LMM_OPK_OBSERVE, "/5/0", 1, 0xFFFF, LMM_FMT_TLV},
      {LMM_OPK_DISCOVER, "/5", 0, 0xFFFF, LMM_FMT_LINK},
      {LMM_OPK_READ, "/42769/3/6", 0, 42769, LMM_FMT_SENML_JSON}, /* Group Mgmt TMGI: multiple */
      {LMM_OPK_READ, "/42769/3/0", 1, 42769, LMM_FMT_TEXT},       /* Group ID */
      {LMM_OPK_WRITE, "/5/0/1", 0, 0xFFFF, -1},                   /* no body to accept */
      {LMM_OPK_EXECUTE, "/5/0/2", 0, 0xFFFF, -1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const choice *c = &cases[k];
    lmm_op op = op_of(c->kind, c->path);
    if (c->kind == LMM_OPK_WRITE) op.payload = (const uint8_t *)"x", op.len = 1;
    result res = {0};
    lmm_batch *b;
    assert_int_equal(
        lmm_batch_start(w->u, &w->m[c->member], 1, &op, c->exempt, &handlers, &res, &b), LMM_OK);
    struct sockaddr_in from;
    coap_pdu_t *req = next_request(w, &from, 3000);
    if (!req) fail_msg("case %zu (%s for member %d): no request", k, c->path, c->member);
    if (lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT) != c->accept)
      fail_msg("case %zu (%s for member %d): Accept %d, expected %d", k, c->path, c->member,
               lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT), c->accept);
    if (c->kind == LMM_OPK_DISCOVER) /* a link list, or the engine refuses the answer */
      lmmt_peer_answer(w->peer, &from, req, C205, LMM_FMT_LINK, "</5>");
    else
      lmmt_peer_answer(w->peer, &from, req, C205, LMM_FMT_TEXT, "1");
    coap_delete_pdu(req);
    assert_int_equal(lmm_batch_wait(b, 3000), LMM_OK);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.code, C205);
    assert_int_equal(res.attempts, 1);
    lmm_batch_free(b);
  }
}

/* ------------------------------------------------------------ the fallback */

typedef struct fallback {
  const char *path;
  int member;
  uint16_t accept;       /* what the operation asks: AUTO or an explicit format */
  uint8_t first_answer;  /* the peer's answer to the first request */
  int first_accept;      /* expected Accept of the first request */
  int second_accept;     /* expected Accept of the second request, -1: none must come */
  uint8_t second_answer; /* the peer's answer to it */
  uint8_t outcome;       /* the member's final code */
  int attempts;
} fallback;

static void test_fallback_once_after_406_or_500(void **state) {
  world *w = *state;
  static const fallback cases[] = {
      /* an instance: SenML-JSON refused, TLV served */
      {"/5/0", 0, LMM_ACCEPT_AUTO, C406, LMM_FMT_SENML_JSON, LMM_FMT_TLV, C205, C205, 2},
      /* and the other way round for a TLV member */
      {"/5/0", 1, LMM_ACCEPT_AUTO, C406, LMM_FMT_TLV, LMM_FMT_SENML_JSON, C205, C205, 2},
      /* one resource: text refused with 5.00 (as small clients do), SenML-JSON served */
      {"/5/0/3", 0, LMM_ACCEPT_AUTO, C500, LMM_FMT_TEXT, LMM_FMT_SENML_JSON, C205, C205, 2},
      /* ... and by a TLV member: TLV */
      {"/5/0/3", 1, LMM_ACCEPT_AUTO, C500, LMM_FMT_TEXT, LMM_FMT_TLV, C205, C205, 2},
      /* only once: the second refusal is the outcome */
      {"/5/0", 0, LMM_ACCEPT_AUTO, C406, LMM_FMT_SENML_JSON, LMM_FMT_TLV, C406, C406, 2},
      /* an operator's explicit format: no fallback */
      {"/5/0", 0, LMM_FMT_SENML_JSON, C406, LMM_FMT_SENML_JSON, -1, 0, C406, 1},
      /* another error is the device's answer, not a format problem */
      {"/5/0/3", 0, LMM_ACCEPT_AUTO, C404, LMM_FMT_TEXT, -1, 0, C404, 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const fallback *c = &cases[k];
    lmm_op op = op_of(LMM_OPK_READ, c->path);
    op.accept = c->accept;
    result res = {0};
    lmm_batch *b;
    assert_int_equal(lmm_batch_start(w->u, &w->m[c->member], 1, &op, 0xFFFF, &handlers, &res, &b),
                     LMM_OK);
    struct sockaddr_in from;
    coap_pdu_t *req = next_request(w, &from, 3000);
    assert_non_null(req);
    assert_int_equal(lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT), c->first_accept);
    lmmt_peer_answer(w->peer, &from, req, c->first_answer, -1, "refused");
    coap_delete_pdu(req);
    if (c->second_accept >= 0) {
      req = next_request(w, &from, 3000);
      assert_non_null(req);
      if (lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT) != c->second_accept)
        fail_msg("case %zu: second Accept %d, expected %d", k,
                 lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT), c->second_accept);
      lmmt_peer_answer(w->peer, &from, req, c->second_answer, c->second_accept, "0");
      coap_delete_pdu(req);
    }
    assert_int_equal(lmm_batch_wait(b, 5000), LMM_OK);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.err, LMM_OK);
    if (res.code != c->outcome) fail_msg("case %zu: outcome 0x%02x", k, res.code);
    assert_int_equal(res.attempts, c->attempts);
    if (c->second_accept >= 0 && c->second_answer == C205)
      assert_int_equal(res.cf, c->second_accept);
    /* Nothing more goes out for this member. */
    req = next_request(w, &from, 300);
    if (req) {
      coap_delete_pdu(req);
      fail_msg("case %zu: a request after the outcome", k);
    }
    lmm_batch_free(b);
  }
}

/* With the engine's default timers (a whole attempt outlasts the default deadline) the
 * fallback still happens: the device has just answered. */
static void test_fallback_with_defaults(void **state) {
  world *w = *state;
  lmm_unicast_free(w->u);
  assert_int_equal(lmm_unicast_new(w->ctx, NULL, &w->u), LMM_OK);
  lmm_op op = op_of(LMM_OPK_READ, "/5/0");
  result res = {0};
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(w->u, &w->m[0], 1, &op, 0xFFFF, &handlers, &res, &b), LMM_OK);
  struct sockaddr_in from;
  coap_pdu_t *req = next_request(w, &from, 3000);
  assert_non_null(req);
  assert_int_equal(lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT), LMM_FMT_SENML_JSON);
  lmmt_peer_answer(w->peer, &from, req, C406, -1, NULL);
  coap_delete_pdu(req);
  req = next_request(w, &from, 3000);
  assert_non_null(req);
  assert_int_equal(lmmt_pdu_opt_uint(req, COAP_OPTION_ACCEPT), LMM_FMT_TLV);
  lmmt_peer_answer(w->peer, &from, req, C205, LMM_FMT_TLV, "x");
  coap_delete_pdu(req);
  assert_int_equal(lmm_batch_wait(b, 5000), LMM_OK);
  assert_int_equal(res.code, C205);
  assert_int_equal(res.attempts, 2);
  lmm_batch_free(b);
}

/* ------------------------------------------------------- the group request */

static int group_accept(lmm_op_kind kind, const char *path, uint16_t accept) {
  lmm_op op = op_of(kind, path);
  op.accept = accept;
  if (kind == LMM_OPK_WRITE) op.payload = (const uint8_t *)"x", op.len = 1;
  const uint8_t token[LMMI_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t *msg = NULL;
  size_t len = 0;
  assert_int_equal(lmmi_coap_group_request(&op, 77, token, &msg, &len), LMM_OK);
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, len);
  assert_non_null(pdu);
  assert_true(coap_pdu_parse(COAP_PROTO_UDP, msg, len, pdu));
  int a = lmmt_pdu_opt_uint(pdu, COAP_OPTION_ACCEPT);
  coap_delete_pdu(pdu);
  free(msg);
  return a;
}

static void test_group_request_accept(void **state) {
  (void)state;
  assert_int_equal(group_accept(LMM_OPK_READ, "/5/0/3", LMM_ACCEPT_AUTO), LMM_FMT_TEXT);
  assert_int_equal(group_accept(LMM_OPK_READ, "/6/0", LMM_ACCEPT_AUTO), LMM_FMT_SENML_JSON);
  assert_int_equal(group_accept(LMM_OPK_READ, "/6/0", LMM_FMT_TLV), LMM_FMT_TLV);
  assert_int_equal(group_accept(LMM_OPK_READ, "/6/0", LMM_ACCEPT_NONE), -1);
  assert_int_equal(group_accept(LMM_OPK_DISCOVER, "/6", LMM_ACCEPT_AUTO), LMM_FMT_LINK);
  assert_int_equal(group_accept(LMM_OPK_WRITE, "/6/0/0", LMM_ACCEPT_AUTO), -1);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_auto_accept_per_path_and_member, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fallback_once_after_406_or_500, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fallback_with_defaults, setup, teardown),
      cmocka_unit_test(test_group_request_accept),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
