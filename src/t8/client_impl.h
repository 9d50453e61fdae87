/* client_impl.h - the T8 client's state and a request's, shared by the files of the client:
 * client.c (life, libcurl glue), client_http.c (an attempt, its retries, what the answer comes
 * to) and client_calls.c (the calls that start requests). */
#ifndef LMMI_T8_CLIENT_IMPL_H
#define LMMI_T8_CLIENT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/t8.h"
#include "t8/notifier_internal.h"

typedef struct sockent {
  curl_socket_t fd;
  short events;
} sockent;

typedef struct buf {
  char *data;
  size_t len, cap;
} buf;

struct lmm_t8_request {
  lmm_t8_client *cl;
  lmm_t8_op op;
  const char *method;
  char *url;
  char *body;
  const char *content_type;
  char *tmgi; /* the path's TMGI, so replies without a body still name it */
  char *txn;
  lmm_t8_cb cb;
  void *user;
  int attempts;
  CURL *easy;
  struct curl_slist *headers;
  buf resp;
  bool too_large;
  char *location;
  char *resp_type;
  long retry_after_ms; /* -1: no Retry-After header */
  lmmi_timer *retry_timer;
  /* A create's per-delivery notification destination at the attached receiver; "" when none.
   * Released if the create fails or is cancelled, bound to the delivery on its 201. */
  char dest[LMMI_DEST_TOKEN_LEN + 1];
  char errbuf[CURL_ERROR_SIZE];
  lmm_t8_request *prev, *next;
};

struct lmm_t8_client {
  lmm_ctx *ctx;
  char *api_root, *scs_as_id, *token, *token_file, *ca_file;
  lmm_t8_config cfg; /* string members point at the copies above */
  char *base_url;
  CURLM *multi;
  lmmi_source source;
  sockent *socks;
  size_t n_socks, cap_socks;
  int64_t curl_deadline; /* -1: curl waits for nothing */
  lmm_t8_request *reqs;
  lmm_t8_notifier *notifier;
};

/** Unlinks the request from its client and frees it: its timer, its receiver destination (not
 *  yet bound), its easy handle. */
void lmmi_t8_request_free(lmm_t8_request *r);
/** Starts (another) attempt of the request on the client's multi handle, with fresh headers
 *  (the token is read again). LMM_OK, LMM_ERR_IO (token file), LMM_ERR_NOMEM. */
lmm_err lmmi_t8_attempt_start(lmm_t8_request *r);
/** The attempt ended with `cc`: retries it, or decodes the answer, calls the callback and frees
 *  the request. */
void lmmi_t8_request_finish(lmm_t8_request *r, CURLcode cc);

#endif
