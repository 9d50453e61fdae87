/* lmmt_coap.c - test support: a small libcoap client that keeps its session open and records
 * every response and notification it gets. */
#include "lmmt_coap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>

struct lmmt_coap {
  coap_context_t *ctx;
  coap_session_t *s;
  lmmt_msg msg[LMMT_COAP_MSG_MAX];
  size_t n;
  uint8_t rej[8][8]; /* tokens answered with a Reset */
  size_t rej_len[8], n_rej;
  bool failed;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool same_tok(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

lmmt_req lmmt_req_make(int method, const char *path) {
  lmmt_req r = {.method = method, .path = path, .cf = -1, .accept = -1, .observe = -1};
  return r;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid) {
  (void)sent, (void)mid;
  lmmt_coap *c = coap_session_get_app_data(s);
  if (!c) return COAP_RESPONSE_OK;
  coap_bin_const_t tok = coap_pdu_get_token(rcvd);
  if (c->n < LMMT_COAP_MSG_MAX) {
    lmmt_msg *m = &c->msg[c->n++];
    coap_opt_iterator_t it;
    coap_opt_t *o;
    size_t len = 0;
    const uint8_t *data = NULL;
    memset(m, 0, sizeof *m);
    m->code = coap_pdu_get_code(rcvd);
    m->type = coap_pdu_get_type(rcvd);
    m->at = now_s();
    o = coap_check_option(rcvd, COAP_OPTION_CONTENT_FORMAT, &it);
    m->cf = o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
    o = coap_check_option(rcvd, COAP_OPTION_OBSERVE, &it);
    m->observe = o ? (long)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
    m->tok_len = tok.length <= 8 ? tok.length : 8;
    memcpy(m->tok, tok.s, m->tok_len);
    coap_get_data(rcvd, &len, &data);
    m->data = malloc(len + 1);
    if (m->data) {
      if (len) memcpy(m->data, data, len);
      m->data[len] = '\0';
      m->len = len;
    }
  }
  for (size_t k = 0; k < c->n_rej; k++)
    if (same_tok(c->rej[k], c->rej_len[k], tok.s, tok.length))
      return COAP_RESPONSE_FAIL; /* libcoap answers it with a Reset */
  return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid) {
  (void)sent, (void)reason, (void)mid;
  lmmt_coap *c = coap_session_get_app_data(s);
  if (c) c->failed = true;
}

static int on_event(coap_session_t *s, const coap_event_t ev) {
  lmmt_coap *c = coap_session_get_app_data(s);
  if (c && ev == COAP_EVENT_SESSION_FAILED) c->failed = true;
  return 0;
}

lmmt_coap *lmmt_coap_open(const char *host, int port) {
  lmmt_coap *c = calloc(1, sizeof *c);
  coap_address_t dst;
  if (!c) return NULL;
  coap_address_init(&dst);
  dst.addr.sin.sin_family = AF_INET;
  dst.addr.sin.sin_port = htons((uint16_t)port);
  dst.size = sizeof dst.addr.sin;
  if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1 || !(c->ctx = coap_new_context(NULL)) ||
      !(c->s = coap_new_client_session(c->ctx, NULL, &dst, COAP_PROTO_UDP))) {
    lmmt_coap_close(c);
    return NULL;
  }
  coap_register_response_handler(c->ctx, on_response);
  coap_register_nack_handler(c->ctx, on_nack);
  coap_register_event_handler(c->ctx, on_event);
  coap_session_set_app_data(c->s, c);
  return c;
}

void lmmt_coap_close(lmmt_coap *c) {
  if (!c) return;
  if (c->s) {
    coap_session_set_app_data(c->s, NULL);
    coap_session_release(c->s);
  }
  if (c->ctx) coap_free_context(c->ctx);
  for (size_t k = 0; k < c->n; k++)
    free(c->msg[k].data);
  free(c);
}

int lmmt_coap_send(lmmt_coap *c, const lmmt_req *r, uint8_t tok[8], size_t *tok_len) {
  coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, (coap_pdu_code_t)r->method, c->s);
  coap_optlist_t *ol = NULL;
  uint8_t buf[4];
  if (!pdu) return -1;
  if (r->tok) {
    memcpy(tok, r->tok, r->tok_len);
    *tok_len = r->tok_len;
  } else {
    coap_session_new_token(c->s, tok_len, tok);
  }
  coap_add_token(pdu, *tok_len, tok);
  /* A path may carry its query ("/3/0/13?pmin=1") instead of r->query. */
  const char *qmark = r->path ? strchr(r->path, '?') : NULL;
  const char *pend = qmark ? qmark : r->path ? r->path + strlen(r->path) : NULL;
  for (const char *p = r->path; p && p < pend;) {
    p += *p == '/';
    const char *e = memchr(p, '/', (size_t)(pend - p));
    size_t n = e ? (size_t)(e - p) : (size_t)(pend - p);
    coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_URI_PATH, n, (const uint8_t *)p));
    p += n;
  }
  for (const char *q = qmark ? qmark + 1 : r->query; q && *q;) {
    const char *e = strchr(q, '&');
    size_t n = e ? (size_t)(e - q) : strlen(q);
    coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_URI_QUERY, n, (const uint8_t *)q));
    q += n + (e != NULL);
  }
  if (r->observe >= 0)
    coap_insert_optlist(
        &ol, coap_new_optlist(COAP_OPTION_OBSERVE,
                              coap_encode_var_safe(buf, sizeof buf, (unsigned)r->observe), buf));
  if (r->cf >= 0)
    coap_insert_optlist(
        &ol, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
                              coap_encode_var_safe(buf, sizeof buf, (unsigned)r->cf), buf));
  if (r->accept >= 0)
    coap_insert_optlist(
        &ol, coap_new_optlist(COAP_OPTION_ACCEPT,
                              coap_encode_var_safe(buf, sizeof buf, (unsigned)r->accept), buf));
  int ok = coap_add_optlist_pdu(pdu, &ol);
  coap_delete_optlist(ol);
  if (ok && r->payload) ok = coap_add_data(pdu, r->len, r->payload);
  if (!ok) {
    coap_delete_pdu(pdu);
    return -1;
  }
  return coap_send(c->s, pdu) == COAP_INVALID_MID ? -1 : 0;
}

void lmmt_coap_run(lmmt_coap *c, int ms) {
  double end = now_s() + ms / 1000.0;
  for (double left = ms / 1000.0; left > 0; left = end - now_s())
    coap_io_process(c->ctx, (uint32_t)(left * 1000) + 1);
}

size_t lmmt_coap_count(const lmmt_coap *c, const uint8_t *tok, size_t tok_len) {
  size_t n = 0;
  for (size_t k = 0; k < c->n; k++)
    n += same_tok(c->msg[k].tok, c->msg[k].tok_len, tok, tok_len);
  return n;
}

const lmmt_msg *lmmt_coap_msg(const lmmt_coap *c, const uint8_t *tok, size_t tok_len, size_t k) {
  for (size_t j = 0; j < c->n; j++)
    if (same_tok(c->msg[j].tok, c->msg[j].tok_len, tok, tok_len) && k-- == 0) return &c->msg[j];
  return NULL;
}

size_t lmmt_coap_wait(lmmt_coap *c, const uint8_t *tok, size_t tok_len, size_t n, int ms) {
  double end = now_s() + ms / 1000.0;
  size_t have;
  while ((have = lmmt_coap_count(c, tok, tok_len)) < n && !c->failed && now_s() < end)
    coap_io_process(c->ctx, 20);
  return have;
}

void lmmt_coap_reject(lmmt_coap *c, const uint8_t *tok, size_t tok_len) {
  if (c->n_rej == 8 || tok_len > 8) return;
  memcpy(c->rej[c->n_rej], tok, tok_len);
  c->rej_len[c->n_rej++] = tok_len;
}

bool lmmt_coap_failed(const lmmt_coap *c) {
  return c->failed;
}

int lmmt_coap_request(const char *host, int port, const lmmt_req *r, int ms, lmmt_msg *out) {
  lmmt_coap *c = lmmt_coap_open(host, port);
  uint8_t tok[8];
  size_t tl = 0;
  int rc = -1;
  memset(out, 0, sizeof *out);
  if (c && lmmt_coap_send(c, r, tok, &tl) == 0 && lmmt_coap_wait(c, tok, tl, 1, ms) >= 1) {
    lmmt_msg *m = (lmmt_msg *)lmmt_coap_msg(c, tok, tl, 0);
    *out = *m;
    m->data = NULL; /* handed over */
    rc = 0;
  }
  lmmt_coap_close(c);
  return rc;
}

void lmmt_msg_free(lmmt_msg *m) {
  free(m->data);
  memset(m, 0, sizeof *m);
}

/* ------------------------------------------------ one request to a simulated device */

const char *lmmt_sim_host(unsigned i) {
  static char buf[4][16];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "127.1.0.%u", i + 1);
  return buf[k];
}

int lmmt_sim_code(int port, unsigned i, int method, const char *path, int cf, int accept,
                  const char *payload, char *diag, size_t cap) {
  lmmt_req r = lmmt_req_make(method, path);
  lmmt_msg m;
  r.cf = cf, r.accept = accept;
  if (payload) r.payload = payload, r.len = strlen(payload);
  if (lmmt_coap_request(lmmt_sim_host(i), port, &r, 5000, &m) != 0) {
    if (diag) snprintf(diag, cap, "no answer");
    return -1;
  }
  int code = m.code;
  if (diag) snprintf(diag, cap, "%s", m.data ? m.data : "");
  lmmt_msg_free(&m);
  return code;
}

bool lmmt_sim_expect(int port, unsigned i, int method, const char *path, int cf, int accept,
                     const char *payload, int want) {
  char diag[256];
  int got = lmmt_sim_code(port, i, method, path, cf, accept, payload, diag, sizeof diag);
  if (got == want) return true;
  if (got < 0)
    fprintf(stderr, "device %u %s: no answer, expected %d.%02d\n", i, path, want >> 5, want & 31);
  else
    fprintf(stderr, "device %u %s (cf %d, accept %d): %d.%02d (%s), expected %d.%02d\n", i, path,
            cf, accept, got >> 5, got & 31, diag, want >> 5, want & 31);
  return false;
}

const char *lmmt_gm_instance(unsigned iid, int rtw) {
  static char buf[256];
  snprintf(buf, sizeof buf,
           "[{\"bn\":\"/42769/%u/\",\"n\":\"0\",\"vs\":\"g\"},{\"n\":\"5\",\"vs\":\"e\"},"
           "{\"n\":\"9\",\"v\":%d}]",
           iid, rtw);
  return buf;
}
