/* lmmt_coap.h - test support: a small libcoap client that keeps its session open and records
 * every response and notification it gets, for tests that talk to the simulated devices. */
#ifndef LMMT_COAP_H
#define LMMT_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMMT_COAP_MSG_MAX 256 /* messages recorded per client; later ones are dropped */

/** One response (or notification) as it came. */
typedef struct lmmt_msg {
  int code;       /**< class << 5 | detail */
  int type;       /**< COAP_MESSAGE_CON, NON or ACK */
  int cf;         /**< Content-Format, -1 when absent */
  long observe;   /**< Observe option value, -1 when absent */
  uint8_t tok[8]; /**< token */
  size_t tok_len; /**< token length */
  char *data;     /**< payload, NUL-terminated (owned by the client) */
  size_t len;     /**< payload length */
  double at;      /**< monotonic seconds at arrival */
} lmmt_msg;

/** A request. Fields left 0 / NULL / -1 are absent. */
typedef struct lmmt_req {
  int method;          /**< COAP_REQUEST_CODE_GET, ... */
  const char *path;    /**< "/3/0/13", or with its query: "/3/0/13?pmin=1&pmax=5" */
  const char *query;   /**< "pmin=1&pmax=5" (when the path has none), or NULL */
  int cf, accept;      /**< -1: no option */
  long observe;        /**< -1: no option; 0 register, 1 deregister */
  const void *payload; /**< NULL: none */
  size_t len;
  const uint8_t *tok; /**< NULL: a new token */
  size_t tok_len;
} lmmt_req;

/** Fills a request with `method` and `path`, no options. */
lmmt_req lmmt_req_make(int method, const char *path);

typedef struct lmmt_coap lmmt_coap;

/** A client with one UDP session to host:port. NULL on failure. */
lmmt_coap *lmmt_coap_open(const char *host, int port);
/** Closes the session and frees everything. NULL does nothing. */
void lmmt_coap_close(lmmt_coap *c);
/** Sends a CON request; its token goes into tok (8 bytes), its length into tok_len. 0 or -1. */
int lmmt_coap_send(lmmt_coap *c, const lmmt_req *r, uint8_t tok[8], size_t *tok_len);
/** Serves the client for `ms` milliseconds. */
void lmmt_coap_run(lmmt_coap *c, int ms);
/** Serves the client until `n` messages with this token have come, at most `ms`. Returns how
 *  many there are then. */
size_t lmmt_coap_wait(lmmt_coap *c, const uint8_t *tok, size_t tok_len, size_t n, int ms);
/** Messages with this token so far, and the k-th of them (borrowed, valid until close). */
size_t lmmt_coap_count(const lmmt_coap *c, const uint8_t *tok, size_t tok_len);
const lmmt_msg *lmmt_coap_msg(const lmmt_coap *c, const uint8_t *tok, size_t tok_len, size_t k);
/** From now on every message with this token is answered with a Reset (RFC 7641: the client
 *  lost interest); they are still recorded. */
void lmmt_coap_reject(lmmt_coap *c, const uint8_t *tok, size_t tok_len);
/** Whether the session failed (no answer after the retransmissions, ICMP error). */
bool lmmt_coap_failed(const lmmt_coap *c);

/** One request on a fresh client; the answer is copied into *out (free with lmmt_msg_free()).
 *  Returns 0, or -1 when none came within `ms`. */
int lmmt_coap_request(const char *host, int port, const lmmt_req *r, int ms, lmmt_msg *out);
void lmmt_msg_free(lmmt_msg *m);

/* ------------------------------------------------ one request to a simulated device */

/** The address of device `i` of a fleet at the default base address (below 254 devices), in
 *  one of four rotating buffers (valid for the next three calls). */
const char *lmmt_sim_host(unsigned i);
/** One request to device `i` on the fleet's `port`, on a client of its own: the answer's code,
 *  or -1 when none came within 5 s (then "no answer" goes to `diag`). `cf`, `accept`: -1 for
 *  none; `payload` may be NULL; the answer's payload goes to `diag` (may be NULL). */
int lmmt_sim_code(int port, unsigned i, int method, const char *path, int cf, int accept,
                  const char *payload, char *diag, size_t cap);
/** lmmt_sim_code() equals `want`; false (with what came on stderr) when not. */
bool lmmt_sim_expect(int port, unsigned i, int method, const char *path, int cf, int accept,
                     const char *payload, int want);
/** A Group Mgmt instance `iid` in SenML-JSON with its mandatory resources and a Response Time
 *  Window of `rtw` s (Object ID 42769); a static buffer, valid until the next call. */
const char *lmmt_gm_instance(unsigned iid, int rtw);

#endif
