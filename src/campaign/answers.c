/* answers.c - the receiver of members' answers (docs/protocol.md section 2): a CoAP endpoint in
 * the context's loop, and the registry that routes an answer to its group request by token. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "lmm_wire/hex.h"
#include "campaign/campaign_internal.h"
#include "core/ctx_internal.h"

#define MAX_ANSWER                 (64u * 1024u) /* an answer carries one operation's result, never a blob */
#define LMMI_ANSWERS_IDLE_SESSIONS 64u           /* idle sessions of members' addresses kept */

typedef struct open_req {
  uint8_t token[LMMI_TOKEN_LEN];
  lmmi_answer_fn fn;
  void *owner;
} open_req;

struct lmm_answers {
  lmm_ctx *ctx;
  coap_context_t *coap;
  lmmi_source src;
  char *uri;
  char *path;
  open_req *reqs;
  size_t n_reqs, cap_reqs;
  lmm_answers_stats stats;
  int fd; /* the listener's socket (libcoap's), -1 when unknown */
};

/* Datagrams served per turn of the host's loop: hundreds of members answering or pulling at
 * once must not wait one loop turn each; bounded so that the other sources still get their turn. */
#define MAX_READS_PER_TURN 128

size_t lmmi_coap_pollfds(coap_context_t *coap, struct pollfd *pfd, size_t cap) {
  if (cap >= 1) pfd[0] = (struct pollfd){.fd = coap_context_get_coap_fd(coap), .events = POLLIN};
  return 1;
}

int64_t lmmi_coap_deadline(lmm_ctx *ctx, coap_context_t *coap) {
  coap_tick_t now;
  coap_ticks(&now);
  /* libcoap tells how long until its own next timer (retransmits, idle sessions). */
  unsigned ms = coap_io_prepare_epoll(coap, now);
  return ms ? lmm_ctx_now_ms(ctx) + ms : -1;
}

void lmmi_coap_serve(coap_context_t *coap) {
  /* libcoap's epoll fd also carries its timers: serve it on every turn, not only on POLLIN. */
  struct pollfd p = {.fd = coap_context_get_coap_fd(coap), .events = POLLIN};
  for (int k = 0; k < MAX_READS_PER_TURN; k++) {
    coap_io_process(coap, COAP_IO_NO_WAIT);
    if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) break;
  }
}

lmm_err lmmi_coap_listen(const char *bind, uint16_t port, coap_context_t **out,
                         uint16_t *bound_port, bool *wildcard) {
  if (!bind || !*bind) bind = "127.0.0.1";
  coap_address_t addr;
  coap_address_init(&addr);
  bool any;
  if (inet_pton(AF_INET, bind, &addr.addr.sin.sin_addr) == 1) {
    addr.addr.sin.sin_family = AF_INET, addr.addr.sin.sin_port = htons(port);
    addr.size = sizeof addr.addr.sin;
    any = addr.addr.sin.sin_addr.s_addr == htonl(INADDR_ANY);
  } else if (inet_pton(AF_INET6, bind, &addr.addr.sin6.sin6_addr) == 1) {
    addr.addr.sin6.sin6_family = AF_INET6, addr.addr.sin6.sin6_port = htons(port);
    addr.size = sizeof addr.addr.sin6;
    any = IN6_IS_ADDR_UNSPECIFIED(&addr.addr.sin6.sin6_addr);
  } else {
    return LMM_ERR_ARG;
  }
  coap_context_t *coap = coap_new_context(NULL);
  if (!coap) return LMM_ERR_NOMEM;
  coap_endpoint_t *ep = coap_new_endpoint(coap, &addr, COAP_PROTO_UDP);
  if (!ep) {
    coap_free_context(coap);
    return LMM_ERR_IO;
  }
  /* libcoap 4.3.1 has no getter for an endpoint's port: read it back from its text form. */
  const char *es = coap_endpoint_str(ep), *colon = es ? strrchr(es, ':') : NULL;
  *bound_port = colon ? (uint16_t)atoi(colon + 1) : port;
  if (wildcard) *wildcard = any;
  *out = coap;
  return LMM_OK;
}

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  return lmmi_coap_pollfds(((lmm_answers *)self)->coap, pfd, cap);
}

static int64_t src_deadline(void *self) {
  lmm_answers *a = self;
  return lmmi_coap_deadline(a->ctx, a->coap);
}

static void src_process(void *self, const struct pollfd *pfd, size_t n) {
  (void)pfd, (void)n;
  lmmi_coap_serve(((lmm_answers *)self)->coap);
}

/* Finds NAME=VALUE among '&'-separated items; copies VALUE into out. */
static bool query_get(const char *q, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    if (n > nl && !strncmp(q, name, nl) && q[nl] == '=') {
      size_t vl = n - nl - 1;
      if (vl >= cap) return false;
      memcpy(out, q + nl + 1, vl);
      out[vl] = '\0';
      return true;
    }
    q = amp ? amp + 1 : NULL;
  }
  return false;
}

LMM_API uint8_t lmm_answers_handle(lmm_answers *a, const char *query, int content_format,
                                   const uint8_t *payload, size_t len) {
  char ep[256], t[32], c[8];
  uint8_t token[LMMI_TOKEN_LEN];
  unsigned cls, det;
  char extra;
  bool ok = query && query_get(query, "ep", ep, sizeof ep) && ep[0] &&
            query_get(query, "t", t, sizeof t) && query_get(query, "c", c, sizeof c) &&
            sscanf(c, "%1u.%2u%c", &cls, &det, &extra) == 2 && cls >= 2 && cls <= 5 && det < 32 &&
            len <= MAX_ANSWER && (payload || !len);
  ok = ok && lmmw_unhex(t, strlen(t), token, LMMI_TOKEN_LEN);
  if (!ok) {
    a->stats.malformed++;
    lmmi_log(a->ctx, LMM_LOG_WARN, "malformed answer (query '%.200s', %zu bytes)",
             query ? query : "", len);
    return 0x80; /* 4.00 */
  }
  for (size_t i = 0; i < a->n_reqs; i++)
    if (!memcmp(a->reqs[i].token, token, LMMI_TOKEN_LEN)) {
      lmmi_answer_class k = a->reqs[i].fn(a->reqs[i].owner, ep, (uint8_t)(cls << 5 | det),
                                          content_format, payload, len);
      switch (k) {
      case LMMI_ANS_ACCEPTED:
        a->stats.accepted++;
        return 0x44;
      case LMMI_ANS_DUPLICATE:
        a->stats.duplicate++;
        return 0x44;
      case LMMI_ANS_LATE:
        a->stats.late++;
        return 0x44;
      case LMMI_ANS_UNKNOWN:
        break;
      }
      break;
    }
  a->stats.unknown++;
  lmmi_log(a->ctx, LMM_LOG_INFO, "answer from '%s' for unknown request %s", ep, t);
  return 0x84; /* 4.04 */
}

static void on_post(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *req,
                    const coap_string_t *query, coap_pdu_t *resp) {
  (void)session;
  lmm_answers *a = coap_resource_get_userdata(res);
  coap_opt_iterator_t bit;
  if (coap_check_option(req, COAP_OPTION_BLOCK1, &bit) ||
      coap_check_option(req, COAP_OPTION_BLOCK2, &bit)) {
    a->stats.malformed++;
    lmmi_log(a->ctx, LMM_LOG_INFO, "answer refused: block-wise (an answer is one datagram)");
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(402));
    return;
  }
  char q[512] = "";
  if (query && query->length < sizeof q)
    memcpy(q, query->s, query->length), q[query->length] = '\0';
  coap_opt_iterator_t it;
  coap_opt_t *opt = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
  int fmt = opt ? (int)coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt)) : -1;
  size_t len = 0, off = 0, total = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data_large(req, &len, &data, &off, &total)) len = 0, data = NULL;
  uint8_t code =
      (query && query->length >= sizeof q) ? 0x80 : lmm_answers_handle(a, q, fmt, data, len);
  if (code == 0x80 && query && query->length >= sizeof q) a->stats.malformed++;
  coap_pdu_set_code(resp, (coap_pdu_code_t)code);
}

LMM_API lmm_err lmm_answers_new(lmm_ctx *ctx, const lmm_answers_config *cfg_in, lmm_answers **out) {
  static const lmm_answers_config defaults = LMM_ANSWERS_CONFIG_DEFAULT;
  const lmm_answers_config *cfg = cfg_in ? cfg_in : &defaults;
  if (!ctx || !out) return LMM_ERR_ARG;
  lmm_answers *a = calloc(1, sizeof *a);
  if (!a) return LMM_ERR_NOMEM;
  a->ctx = ctx;
  a->fd = -1;
  const char *bind = cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
  a->path =
      strdup(cfg->path && *cfg->path ? (cfg->path[0] == '/' ? cfg->path + 1 : cfg->path) : "lmm/a");
  if (!a->path) goto nomem;
  if (cfg->no_listener) {
    *out = a;
    return LMM_OK;
  }
  uint16_t port = 0;
  lmm_err rc = lmmi_coap_listen(bind, cfg->port, &a->coap, &port, NULL);
  if (rc != LMM_OK) {
    lmm_answers_free(a);
    return rc;
  }
  /* No block-wise receive: an answer is one datagram (protocol.md section 2), and libcoap
   * 4.3.1's Block1 reassembly is code that anyone who can reach this port could exercise (a
   * fuzz run crashed inside it once). A request with Block1 or Block2 gets 4.02 (on_post). */
  coap_context_set_block_mode(a->coap, 0);
  /* A session per member's address holds nothing we need once the answer is acknowledged (a
   * retransmitted answer is a duplicate to its owner either way), and libcoap walks every
   * session on each datagram it serves (coap_io_prepare_io): with 10,000 members answering, that
   * walk was most of the receiver's time (docs/performance.md). Keep the idle ones few. */
  coap_context_set_max_idle_sessions(a->coap, LMMI_ANSWERS_IDLE_SESSIONS);
  a->fd = lmmi_coap_udp_fd(a->coap);
  a->stats.rcvbuf = lmmi_sock_widen_rcvbuf(a->fd, LMM_ANSWERS_RCVBUF);
  /* Linux doubles what it grants for its own overhead: less than twice means capped. */
  if (a->fd >= 0 && a->stats.rcvbuf < 2 * LMM_ANSWERS_RCVBUF)
    lmmi_log(ctx, LMM_LOG_INFO,
             "answer receiver: receive buffer %d bytes, asked for %d (net.core.rmem_max caps it)",
             a->stats.rcvbuf / 2, LMM_ANSWERS_RCVBUF);
  coap_str_const_t *rp = coap_make_str_const(a->path);
  coap_resource_t *r = coap_resource_init(rp, 0);
  if (!r) goto nomem;
  coap_resource_set_userdata(r, a);
  coap_register_request_handler(r, COAP_REQUEST_POST, on_post);
  coap_add_resource(a->coap, r);
  char uri[256];
  if (snprintf(uri, sizeof uri, strchr(bind, ':') ? "coap://[%s]:%u/%s" : "coap://%s:%u/%s", bind,
               (unsigned)port, a->path) >= (int)sizeof uri) {
    lmm_answers_free(a); /* a path too long for a URI: not cut short silently */
    return LMM_ERR_ARG;
  }
  if (!(a->uri = strdup(uri))) goto nomem;
  a->src = (lmmi_source){src_pollfds, src_deadline, src_process, a, LMMI_ORDER_RECEIVER};
  if (lmmi_ctx_add_source(ctx, &a->src) != LMM_OK) goto nomem;
  *out = a;
  return LMM_OK;
nomem:
  lmm_answers_free(a);
  return LMM_ERR_NOMEM;
}

LMM_API void lmm_answers_free(lmm_answers *a) {
  if (!a) return;
  if (a->coap) {
    lmmi_ctx_remove_source(a->ctx, &a->src);
    coap_free_context(a->coap);
  }
  free(a->uri), free(a->path), free(a->reqs), free(a);
}

LMM_API const char *lmm_answers_uri(const lmm_answers *a) {
  return a->uri;
}

LMM_API lmm_err lmm_answers_set_uri(lmm_answers *a, const char *uri) {
  char *u = uri ? strdup(uri) : NULL;
  if (!u) return uri ? LMM_ERR_NOMEM : LMM_ERR_ARG;
  free(a->uri);
  a->uri = u;
  return LMM_OK;
}

LMM_API void lmm_answers_get_stats(const lmm_answers *a, lmm_answers_stats *out) {
  *out = a->stats;
  out->rx_drops = lmmi_sock_drops(a->fd);
}

lmm_err lmmi_answers_open(lmm_answers *a, const uint8_t token[LMMI_TOKEN_LEN], lmmi_answer_fn fn,
                          void *owner) {
  if (a->n_reqs == a->cap_reqs) {
    size_t cap = a->cap_reqs ? a->cap_reqs * 2 : 4;
    open_req *n = realloc(a->reqs, cap * sizeof *n);
    if (!n) return LMM_ERR_NOMEM;
    a->reqs = n, a->cap_reqs = cap;
  }
  open_req *r = &a->reqs[a->n_reqs++];
  memcpy(r->token, token, LMMI_TOKEN_LEN);
  r->fn = fn, r->owner = owner;
  return LMM_OK;
}

void lmmi_answers_close(lmm_answers *a, const uint8_t token[LMMI_TOKEN_LEN]) {
  for (size_t i = 0; i < a->n_reqs; i++)
    if (!memcmp(a->reqs[i].token, token, LMMI_TOKEN_LEN)) {
      a->reqs[i] = a->reqs[--a->n_reqs];
      return;
    }
}
