/* t8.h - T8 client (3GPP TS 29.122 "GMD via MBMS by MB2") and its notification receiver. */
#ifndef LWM2M_MBMS_T8_H
#define LWM2M_MBMS_T8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The API's base path, appended to the configured apiRoot. */
#define LMM_T8_BASE_PATH "/3gpp-group-message-delivery-mb2/v1"

/* ---------------------------------------------------------------- data types */

/** MbmsLocArea. The string lists are typed; geographicArea and civicAddress (TS 29.572 types
 *  the flow never inspects) are carried as JSON text of their arrays. Empty lists are absent. */
typedef struct lmm_mbms_loc_area {
  char **cell_ids;
  size_t n_cell_ids;
  char **enodeb_ids;
  size_t n_enodeb_ids;
  char **service_area_ids;
  size_t n_service_area_ids;
  char *geographic_area_json; /**< JSON array text or NULL */
  char *civic_address_json;   /**< JSON array text or NULL */
} lmm_mbms_loc_area;

/** TMGIAllocation. Strings are owned by the struct (free with lmm_tmgi_allocation_clear()). */
typedef struct lmm_tmgi_allocation {
  char *self;                       /**< link of the resource; NULL when absent */
  char *tmgi;                       /**< not a JSON field: the last path segment of Location/self */
  char *supported_features;         /**< hex string or NULL */
  char *external_group_id;          /**< "local@domain" or NULL */
  lmm_mbms_loc_area *mbms_loc_area; /**< NULL when absent */
  int64_t tmgi_expiration;          /**< read-only; seconds since the epoch, 0 when absent */
} lmm_tmgi_allocation;

/** GMDViaMBMSByMb2. Owned strings/bytes; free with lmm_gmd_clear(). */
typedef struct lmm_gmd {
  char *self;
  char *transaction_id;           /**< not a JSON field: last path segment of Location/self */
  char *notification_destination; /**< required on create */
  bool has_request_test_notification;
  bool request_test_notification;
  char *websock_notif_config_json; /**< WebsockNotifConfig as JSON object text, or NULL */
  char *external_group_id;
  lmm_mbms_loc_area *mbms_loc_area;
  int64_t message_delivery_start_time; /**< seconds since the epoch, 0 when absent */
  bool has_payload;
  uint8_t *payload; /**< groupMessagePayload, decoded from base64 */
  size_t payload_len;
  char *scef_ipv4;   /**< read-only user-plane address (MB2-U) */
  char *scef_ipv6;   /**< read-only */
  int32_t scef_port; /**< read-only; -1 when absent */
} lmm_gmd;

/** Fields of a merge-patch body. A field is sent when its `set_` flag is true; a set field
 *  whose value is NULL is sent as JSON null (RFC 7396: remove it). */
typedef struct lmm_tmgi_allocation_patch {
  bool set_external_group_id;
  const char *external_group_id;
  bool set_mbms_loc_area;
  const lmm_mbms_loc_area *mbms_loc_area;
} lmm_tmgi_allocation_patch;

typedef struct lmm_gmd_patch {
  bool set_external_group_id;
  const char *external_group_id;
  bool set_mbms_loc_area;
  const lmm_mbms_loc_area *mbms_loc_area;
  bool set_message_delivery_start_time;
  int64_t message_delivery_start_time; /**< 0 with the flag set sends null */
  bool set_payload;
  const uint8_t *payload; /**< NULL with the flag set sends null */
  size_t payload_len;
  bool set_notification_destination;
  const char *notification_destination;
} lmm_gmd_patch;

/** One invalidParams entry of a ProblemDetails. */
typedef struct lmm_invalid_param {
  char *param;
  char *reason; /**< may be NULL */
} lmm_invalid_param;

/** ProblemDetails (TS 29.122 clause 5.2.1.2.12). Owned strings, any may be NULL. */
typedef struct lmm_problem {
  int status; /**< the `status` member; 0 when absent */
  char *type;
  char *title;
  char *detail;
  char *instance;
  char *cause;
  lmm_invalid_param *invalid_params;
  size_t n_invalid_params;
} lmm_problem;

/** Outcome of one T8 call. `err` tells the family of failure:
 *  LMM_OK; LMM_ERR_T8 (the SCEF answered an error status: `http_status`, `problem`);
 *  LMM_ERR_NET (no usable HTTP exchange: `transport_error`); LMM_ERR_PROTO (the answer was
 *  malformed: `transport_error` says how); LMM_ERR_TIMEOUT; LMM_ERR_CANCELLED. */
typedef struct lmm_t8_result {
  lmm_err err;
  int http_status;  /**< last HTTP status seen; 0 if none */
  int attempts;     /**< HTTP attempts made (retries included) */
  bool has_problem; /**< `problem` was parsed from an application/problem+json body */
  lmm_problem problem;
  char transport_error[256];
} lmm_t8_result;

/* Freeing. A `_clear` frees what the struct owns and leaves it empty (all zero, but lmm_gmd's
 * scef_port is -1), ready for reuse; the struct itself stays the caller's. Clearing twice is
 * harmless; NULL is a no-op. Strings or arrays the caller put in by hand must have
 * come from malloc(), as the library's own do. */

/** Frees a heap-allocated area (as the decoders hang under `mbms_loc_area`), its lists and
 *  strings, and `a` itself. NULL: no-op. */
LMM_API void lmm_mbms_loc_area_free(lmm_mbms_loc_area *a);
/** Frees the strings and the area `a` owns and zeroes it. NULL: no-op. */
LMM_API void lmm_tmgi_allocation_clear(lmm_tmgi_allocation *a);
/** Frees the strings, area and payload `g` owns and empties it (scef_port -1). NULL: no-op. */
LMM_API void lmm_gmd_clear(lmm_gmd *g);
/** Frees the strings and invalidParams `p` owns and zeroes it. NULL: no-op. */
LMM_API void lmm_problem_clear(lmm_problem *p);
/** Frees the ProblemDetails of `r` and zeroes the whole result. NULL: no-op. */
LMM_API void lmm_t8_result_clear(lmm_t8_result *r);
/** One-line description of a result, e.g. "HTTP 404 (cause TMGI_NOT_FOUND): unknown TMGI".
 *  Returns owned text (free with lmm_free()) or NULL on allocation failure. */
LMM_API char *lmm_t8_result_describe(const lmm_t8_result *r);

/** The object as the API's JSON (read-only members included). Owned text, free with
 *  lmm_free(); NULL on allocation failure or a NULL argument. */
LMM_API char *lmm_tmgi_allocation_to_json(const lmm_tmgi_allocation *a);
/** Like lmm_tmgi_allocation_to_json(), for a GMDViaMBMSByMb2 (the payload in base64). Also
 *  NULL when `g` has a payload length without payload bytes. */
LMM_API char *lmm_gmd_to_json(const lmm_gmd *g);
/** Like lmm_tmgi_allocation_to_json(), for a ProblemDetails. */
LMM_API char *lmm_problem_to_json(const lmm_problem *p);

/* ------------------------------------------------------------------ client */

typedef struct lmm_t8_client lmm_t8_client;
typedef struct lmm_t8_notifier lmm_t8_notifier;
typedef struct lmm_t8_request lmm_t8_request;

typedef struct lmm_t8_config {
  const char *api_root;    /**< e.g. "https://scef.example:8443"; LMM_T8_BASE_PATH is appended */
  const char *scs_as_id;   /**< required */
  const char *token;       /**< OAuth2 bearer token, or NULL */
  const char *token_file;  /**< file holding the token (read at each request, so it can rotate) */
  const char *ca_file;     /**< CA bundle for TLS verification; NULL = system default */
  bool tls_verify;         /**< verify the SCEF's certificate and host name (default true) */
  long connect_timeout_ms; /**< default 5000 */
  long request_timeout_ms; /**< one HTTP attempt; default 15000 */
  int max_retries;         /**< extra attempts after the first for retryable failures; default 4 */
  long retry_base_ms;      /**< first back-off; doubles each retry, with full jitter; default 200 */
  long retry_max_ms;       /**< cap of one back-off and of an honoured Retry-After; default 30000 */
  size_t max_response;     /**< largest response body accepted; default 1 MiB */
} lmm_t8_config;

#define LMM_T8_CONFIG_DEFAULT                                                                      \
  {                                                                                                \
    .api_root = NULL, .scs_as_id = NULL, .token = NULL, .token_file = NULL, .ca_file = NULL,       \
    .tls_verify = true, .connect_timeout_ms = 5000, .request_timeout_ms = 15000, .max_retries = 4, \
    .retry_base_ms = 200, .retry_max_ms = 30000, .max_response = 1u << 20                          \
  }

typedef enum lmm_t8_op {
  LMM_T8_TMGI_CREATE,
  LMM_T8_TMGI_GET,
  LMM_T8_TMGI_LIST,
  LMM_T8_TMGI_PUT,
  LMM_T8_TMGI_PATCH,
  LMM_T8_TMGI_DELETE,
  LMM_T8_GMD_CREATE,
  LMM_T8_GMD_GET,
  LMM_T8_GMD_LIST,
  LMM_T8_GMD_PUT,
  LMM_T8_GMD_PATCH,
  LMM_T8_GMD_DELETE
} lmm_t8_op;

/** What an asynchronous call hands its callback. Everything is borrowed: valid only during
 *  the callback. Which object fields are set depends on `op` and on success. */
typedef struct lmm_t8_reply {
  lmm_t8_op op;
  const lmm_t8_result *result;
  const lmm_tmgi_allocation *allocation;  /**< TMGI create/get/put/patch (NULL after a 204) */
  const lmm_tmgi_allocation *allocations; /**< TMGI list */
  size_t n_allocations;
  const lmm_gmd *gmd;  /**< GMD create/get/put/patch */
  const lmm_gmd *gmds; /**< GMD list */
  size_t n_gmds;
} lmm_t8_reply;

/** Completion callback. May start new requests; must not free the client. */
typedef void (*lmm_t8_cb)(void *user, const lmm_t8_reply *reply);

/** Creates a client on `ctx` (borrowed: it must outlive the client). `cfg` and its strings
 *  are copied. Validates the config: LMM_ERR_ARG for an api_root that is not http:// or
 *  https://, a missing scs_as_id or one that would change the path ('/', '?', '#', '%', a
 *  space or a control character); LMM_ERR_IO when token_file cannot be opened; LMM_ERR_NOMEM.
 *  `*out` untouched on failure; free the client with lmm_t8_client_free(). */
LMM_API lmm_err lmm_t8_client_new(lmm_ctx *ctx, const lmm_t8_config *cfg, lmm_t8_client **out);
/** Frees the client; requests in flight are cancelled without their callbacks. NULL: no-op. */
LMM_API void lmm_t8_client_free(lmm_t8_client *cl);
/** Borrowed; valid until the client is freed: "{api_root}/3gpp-group-message-delivery-mb2/v1". */
LMM_API const char *lmm_t8_client_base_url(const lmm_t8_client *cl);
/** Ties a notification receiver to the client. A delivery created (POST) with an empty
 *  notificationDestination gets a URL of its own from the receiver, registered before the
 *  request is sent, so its notifications are accepted even when they overtake the 201 (they are
 *  then handed to the receiver's handlers right after the create's callback). A PUT with an
 *  empty destination keeps the delivery's own URL (else the receiver's base URL). Every created
 *  delivery's link is also registered for the base URL, and forgotten on its DELETE. NULL
 *  detaches. The receiver is borrowed: it must outlive the client, or be detached first. */
LMM_API void lmm_t8_client_attach_notifier(lmm_t8_client *cl, lmm_t8_notifier *n);

/* Asynchronous calls: never block. Each sends one request (retried as the config says) and
 * hands its final outcome to `cb` exactly once, from lmm_ctx_process() of the client's context,
 * never from inside the call; `cb` may be NULL (the outcome is then dropped), and it is not
 * called for a request cancelled, or in flight when the client is freed. `req`, `p` and the
 * string arguments are copied (encoded) before the call returns. `*out_req` (optional) is set
 * on LMM_OK only, to a handle that stays valid until the callback starts or the request is
 * cancelled, whichever comes first: it is freed just before the callback runs.
 * Returns LMM_OK once the request is under way. Otherwise nothing was sent and `cb` will not be
 * called: LMM_ERR_ARG for a required argument NULL, a TMGI or transaction id that is empty,
 * "." or "..", or holds '/', '?', '#', '%', a space or a control character (they become path
 * segments), or an externalGroupId not of the form "local@domain"; LMM_ERR_IO when `token_file`
 * cannot be read; LMM_ERR_NOMEM. How the exchange ended is in the reply's result
 * (lmm_t8_result), not in the return value.
 * Allowed from any callback of the same context (a completion, a notification handler on the
 * context's loop, a batch or campaign callback); like everything made from one lmm_ctx, only
 * from the thread that runs that context. */

/** POSTs a TMGI allocation (`req` may be NULL: an empty TMGIAllocation; read-only members are
 *  not sent). The reply's `allocation` carries the TMGI from the Location header. */
LMM_API lmm_err lmm_t8_tmgi_create_async(lmm_t8_client *cl, const lmm_tmgi_allocation *req,
                                         lmm_t8_cb cb, void *user, lmm_t8_request **out_req);
/** GETs the allocation of `tmgi`. */
LMM_API lmm_err lmm_t8_tmgi_get_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req);
/** GETs every allocation of the client's scsAsId (the reply's `allocations`, maybe none). */
LMM_API lmm_err lmm_t8_tmgi_list_async(lmm_t8_client *cl, lmm_t8_cb cb, void *user,
                                       lmm_t8_request **out_req);
/** Renews the expiration by PUT of the whole resource (`req` required). The reply's
 *  `allocation` is NULL when the SCEF answers 204. */
LMM_API lmm_err lmm_t8_tmgi_put_async(lmm_t8_client *cl, const char *tmgi,
                                      const lmm_tmgi_allocation *req, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req);
/** Renews the expiration (and changes fields) by PATCH (application/merge-patch+json); `p`
 *  NULL sends an empty patch. The reply's `allocation` is NULL when the SCEF answers 204. */
LMM_API lmm_err lmm_t8_tmgi_patch_async(lmm_t8_client *cl, const char *tmgi,
                                        const lmm_tmgi_allocation_patch *p, lmm_t8_cb cb,
                                        void *user, lmm_t8_request **out_req);
/** DELETEs the allocation of `tmgi`, releasing the TMGI. */
LMM_API lmm_err lmm_t8_tmgi_delete_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb,
                                         void *user, lmm_t8_request **out_req);
/** POSTs a delivery to `tmgi` (`req` required; read-only members are not sent). An empty
 *  notificationDestination is filled from the attached receiver (see
 *  lmm_t8_client_attach_notifier()); with none attached it is LMM_ERR_ARG, and LMM_ERR_STATE
 *  when every destination of a strict receiver (no accept_base) awaits its 201. The reply's
 *  `gmd` carries the transaction id from the Location header; with a receiver attached, the
 *  delivery's link is registered with it before the callback runs. */
LMM_API lmm_err lmm_t8_gmd_create_async(lmm_t8_client *cl, const char *tmgi, const lmm_gmd *req,
                                        lmm_t8_cb cb, void *user, lmm_t8_request **out_req);
/** GETs delivery `txn` of `tmgi`. */
LMM_API lmm_err lmm_t8_gmd_get_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                     lmm_t8_cb cb, void *user, lmm_t8_request **out_req);
/** GETs every delivery of `tmgi` (the reply's `gmds`, maybe none). */
LMM_API lmm_err lmm_t8_gmd_list_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req);
/** Replaces delivery `txn` by PUT (`req` required). An empty notificationDestination keeps
 *  the delivery's own URL at the attached receiver; a delivery without one gets a new one
 *  bound to it at once (a receiver with accept_base gives its base URL instead; LMM_ERR_ARG
 *  with no receiver). The reply's `gmd` is NULL when the SCEF answers 204. */
LMM_API lmm_err lmm_t8_gmd_put_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                     const lmm_gmd *req, lmm_t8_cb cb, void *user,
                                     lmm_t8_request **out_req);
/** Changes delivery `txn` by PATCH (application/merge-patch+json; `p` required). The reply's
 *  `gmd` is NULL when the SCEF answers 204. */
LMM_API lmm_err lmm_t8_gmd_patch_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                       const lmm_gmd_patch *p, lmm_t8_cb cb, void *user,
                                       lmm_t8_request **out_req);
/** DELETEs delivery `txn`; on success the attached receiver forgets its link. */
LMM_API lmm_err lmm_t8_gmd_delete_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                        lmm_t8_cb cb, void *user, lmm_t8_request **out_req);
/** Cancels a request in flight and frees its handle; its callback is not called. A create's
 *  per-delivery notification URL is given back to the receiver. NULL: no-op. Not for a handle
 *  whose callback has started (it is gone by then): a callback must not cancel its own
 *  request. Allowed from other callbacks. */
LMM_API void lmm_t8_request_cancel(lmm_t8_request *r);

/* Blocking calls: each runs its asynchronous twin and loops lmm_ctx_run_once() until the reply.
 * Everything else on the context goes on meanwhile, so other objects' callbacks may run inside
 * the call. The loop is not re-entrant: not for use from any callback of the context.
 * `out` (NULL: not wanted) receives an owned copy of the reply's object on success only; it is
 * overwritten, not cleared first (pass it empty, or clear it, or its old strings leak) and is
 * left as it was on failure and after a 204 without a body. Free it with its `_clear`.
 * `res` (NULL: not wanted) receives the outcome on every return, its ProblemDetails copied:
 * clear it with lmm_t8_result_clear() (that is safe even when nothing was allocated).
 * Returns res->err: the asynchronous call's own refusal (nothing sent), the exchange's outcome
 * (LMM_OK, LMM_ERR_T8, LMM_ERR_NET, LMM_ERR_PROTO, LMM_ERR_TIMEOUT), LMM_ERR_NOMEM when the
 * answer could not be copied (the SCEF may then have acted: a TMGI or delivery may exist), or
 * the loop's own error (LMM_ERR_IO when poll() fails; the request is then cancelled). */

/** Like lmm_t8_tmgi_create_async(), blocking until the reply. */
LMM_API lmm_err lmm_t8_tmgi_create(lmm_t8_client *cl, const lmm_tmgi_allocation *req,
                                   lmm_tmgi_allocation *out, lmm_t8_result *res);
/** Like lmm_t8_tmgi_get_async(), blocking until the reply. */
LMM_API lmm_err lmm_t8_tmgi_get(lmm_t8_client *cl, const char *tmgi, lmm_tmgi_allocation *out,
                                lmm_t8_result *res);
/** Like lmm_t8_tmgi_list_async(), blocking until the reply. `out` and `n` are required
 *  (LMM_ERR_ARG, `res` untouched) and set to NULL and 0 first; `*out` is then an owned array of
 *  `*n` allocations (NULL when none), to be freed with lmm_tmgi_allocation_list_free(*out, *n)
 *  whatever the return: after a failed copy it holds the entries copied so far. */
LMM_API lmm_err lmm_t8_tmgi_list(lmm_t8_client *cl, lmm_tmgi_allocation **out, size_t *n,
                                 lmm_t8_result *res);
/** Like lmm_t8_tmgi_put_async(), blocking until the reply. After a 204 `out` is untouched (an
 *  empty one keeps tmgi NULL: that is how to tell). */
LMM_API lmm_err lmm_t8_tmgi_put(lmm_t8_client *cl, const char *tmgi, const lmm_tmgi_allocation *req,
                                lmm_tmgi_allocation *out, lmm_t8_result *res);
/** Like lmm_t8_tmgi_patch_async(), blocking until the reply; a 204 as for lmm_t8_tmgi_put(). */
LMM_API lmm_err lmm_t8_tmgi_patch(lmm_t8_client *cl, const char *tmgi,
                                  const lmm_tmgi_allocation_patch *p, lmm_tmgi_allocation *out,
                                  lmm_t8_result *res);
/** Like lmm_t8_tmgi_delete_async(), blocking until the reply. */
LMM_API lmm_err lmm_t8_tmgi_delete(lmm_t8_client *cl, const char *tmgi, lmm_t8_result *res);
/** Like lmm_t8_gmd_create_async(), blocking until the reply. */
LMM_API lmm_err lmm_t8_gmd_create(lmm_t8_client *cl, const char *tmgi, const lmm_gmd *req,
                                  lmm_gmd *out, lmm_t8_result *res);
/** Like lmm_t8_gmd_get_async(), blocking until the reply. */
LMM_API lmm_err lmm_t8_gmd_get(lmm_t8_client *cl, const char *tmgi, const char *txn, lmm_gmd *out,
                               lmm_t8_result *res);
/** Like lmm_t8_gmd_list_async(), blocking until the reply. `out` and `n` as for
 *  lmm_t8_tmgi_list(); free `*out` with lmm_gmd_list_free(*out, *n) whatever the return. */
LMM_API lmm_err lmm_t8_gmd_list(lmm_t8_client *cl, const char *tmgi, lmm_gmd **out, size_t *n,
                                lmm_t8_result *res);
/** Like lmm_t8_gmd_put_async(), blocking until the reply; after a 204 `out` is untouched. */
LMM_API lmm_err lmm_t8_gmd_put(lmm_t8_client *cl, const char *tmgi, const char *txn,
                               const lmm_gmd *req, lmm_gmd *out, lmm_t8_result *res);
/** Like lmm_t8_gmd_patch_async(), blocking until the reply; after a 204 `out` is untouched. */
LMM_API lmm_err lmm_t8_gmd_patch(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                 const lmm_gmd_patch *p, lmm_gmd *out, lmm_t8_result *res);
/** Like lmm_t8_gmd_delete_async(), blocking until the reply. */
LMM_API lmm_err lmm_t8_gmd_delete(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                  lmm_t8_result *res);
/** Clears the `n` allocations of an array from lmm_t8_tmgi_list() and frees the array. NULL:
 *  no-op. */
LMM_API void lmm_tmgi_allocation_list_free(lmm_tmgi_allocation *a, size_t n);
/** Clears the `n` deliveries of an array from lmm_t8_gmd_list() and frees the array. NULL:
 *  no-op. */
LMM_API void lmm_gmd_list_free(lmm_gmd *g, size_t n);

/** MB2-U: sends `payload` as one UDP datagram to the user-plane address and port the SCEF
 *  returned for a delivery created without a payload (scef_ipv4/ipv6 and scef_port of `gmd`).
 *  Blocks only for the sendto(). LMM_ERR_ARG if the delivery has no user-plane address or the
 *  payload exceeds one datagram (65,507 bytes); LMM_ERR_IO if the send fails. */
LMM_API lmm_err lmm_t8_send_user_plane(const lmm_gmd *gmd, const void *payload, size_t len);

/* --------------------------------------------------------- notification receiver */

/** Events handed to the library user. Strings are borrowed: valid during the call only. */
typedef struct lmm_t8_notifier_handlers {
  /** GMDByMb2Notification: `transaction` is the delivery's link, `delivered` its
   *  deliveryTriggerStatus. */
  void (*on_delivery)(void *user, const char *transaction, bool delivered);
  /** TestNotification for the delivery whose link is `subscription`. */
  void (*on_test)(void *user, const char *subscription);
} lmm_t8_notifier_handlers;

typedef struct lmm_t8_notifier_config {
  const char *bind_addr;  /**< numeric IPv4/IPv6 address; default "127.0.0.1" */
  uint16_t port;          /**< 0: an ephemeral port (see lmm_t8_notifier_url()) */
  const char *path;       /**< default "/t8/notifications" */
  const char *public_url; /**< URL advertised to the SCEF; default http://bind_addr:port/path */
  bool own_thread;        /**< serve on a thread of its own: handlers then run on that thread */
  /** Off (the default, strict): a notification is taken only at the per-delivery URL handed
   *  out for its delivery and only when its body names that delivery; the base URL and unknown
   *  per-delivery URLs get 404, a body naming another delivery 400. On: for an SCEF that
   *  notifies one fixed URL, the base URL (and an unknown per-delivery URL) takes a
   *  notification whose body names a registered delivery, and a per-delivery URL takes one
   *  naming another delivery as its own delivery's (counted as mismatched). */
  bool accept_base;
  /** Where the base URL is served, accept transactions never registered too; implies
   *  accept_base. */
  bool accept_unknown;
  size_t max_body; /**< default 64 KiB; larger bodies get 413 */
  /** Per-delivery destinations kept at once; default 4096. At the bound the oldest whose 201
   *  came is dropped (its URL then gets 404; with accept_base its delivery stays known by link);
   *  when all await their 201, a create fails with LMM_ERR_STATE, or with accept_base falls
   *  back to the base URL. */
  size_t max_destinations;
} lmm_t8_notifier_config;

#define LMM_T8_NOTIFIER_CONFIG_DEFAULT                                                             \
  {                                                                                                \
    .bind_addr = NULL, .port = 0, .path = NULL, .public_url = NULL, .own_thread = false,           \
    .accept_base = false, .accept_unknown = false, .max_body = 0, .max_destinations = 0            \
  }

/** Starts an HTTP listener for notifications (libmicrohttpd). It serves `path` and, below it,
 *  one URL per delivery handed out to an attached client (`path`/<32 hex digits>). Unless
 *  `own_thread`, it is served from lmm_ctx_process() of `ctx`. `handlers` is not copied: it
 *  must outlive the receiver. `*out` untouched on failure (LMM_ERR_IO: cannot bind;
 *  LMM_ERR_ARG: bad address, a path without '/', a public_url with a query or fragment). */
LMM_API lmm_err lmm_t8_notifier_new(lmm_ctx *ctx, const lmm_t8_notifier_config *cfg,
                                    const lmm_t8_notifier_handlers *handlers, void *user,
                                    lmm_t8_notifier **out);
/** Stops the listener and frees it, with every registration and per-delivery destination.
 *  NULL is a no-op. */
LMM_API void lmm_t8_notifier_free(lmm_t8_notifier *n);
/** Borrowed; valid until freed: the base URL below which per-delivery URLs are handed out. It
 *  takes notifications itself only with accept_base. */
LMM_API const char *lmm_t8_notifier_url(const lmm_t8_notifier *n);
/** Registers a delivery link whose notifications are expected at the base URL (which serves
 *  only with accept_base: a strict receiver matches by per-delivery URL alone). Thread-safe.
 *  Links are compared by their path from LMM_T8_BASE_PATH on, so scheme and host may differ. */
LMM_API lmm_err lmm_t8_notifier_expect(lmm_t8_notifier *n, const char *transaction_link);
/** Forgets a registered link, and the per-delivery destination of that delivery (whose URL then
 *  gets 404). Thread-safe. */
LMM_API void lmm_t8_notifier_forget(lmm_t8_notifier *n, const char *transaction_link);
/** For a host that receives notifications on its own HTTP server (set `public_url` to it, so
 *  per-delivery URLs point there too): validates the POST and hands the event to the handlers.
 *  `path` is the request's path (a query is ignored): the path of `public_url` or `path` of the
 *  config, or either followed by "/<32 hex digits>" of a per-delivery URL; NULL stands for the
 *  base URL. Returns the HTTP status to answer: 204 (accepted; at a per-delivery URL whose
 *  delivery's 201 has not come yet the event is held and handed on right after the create's
 *  callback); 400 (malformed, or at a per-delivery URL a body naming another delivery unless
 *  accept_base); 404 (another path, a per-delivery URL that is unknown or forgotten, the base
 *  URL; with accept_base these take a body naming a registered delivery); 415 (`content_type` given
 * and not application/json); 500 (out of memory); 503 (too many notifications before the 201:
 * answer with Retry-After). For an error an owned ProblemDetails JSON goes to `*problem_json` (free
 * with lmm_free(); may be NULL). `content_type` NULL is not checked; max_body is not enforced (the
 * host's server read the body). Thread-safe; handlers may call expect/forget but must not free the
 * receiver. */
LMM_API int lmm_t8_notifier_handle_request(lmm_t8_notifier *n, const char *path,
                                           const char *content_type, const char *body, size_t len,
                                           char **problem_json);
/** lmm_t8_notifier_handle_request() at the base URL (`path` NULL): 404 unless accept_base. */
LMM_API int lmm_t8_notifier_handle(lmm_t8_notifier *n, const char *content_type, const char *body,
                                   size_t len, char **problem_json);
/** Counters since start: accepted (204, held ones included), malformed (400 but a mismatch,
 *  413, 415), unknown (404 at the base URL, at an unknown or forgotten destination, or for a link
 *  never registered), early (held ones handed on after their 201), mismatched (at a
 *  per-delivery URL, a body naming another delivery: refused with 400, or dropped when it was
 *  held; with accept_base taken as the URL's delivery's, under that link). Wrong paths, methods
 *  and 503s are not counted. */
typedef struct lmm_t8_notifier_stats {
  uint64_t accepted, malformed, unknown, early, mismatched;
} lmm_t8_notifier_stats;
/** Copies the receiver's counters into `*out` (zeros when `n` is NULL; nothing when `out` is).
 *  Thread-safe: a snapshot taken under the receiver's lock. */
LMM_API void lmm_t8_notifier_get_stats(lmm_t8_notifier *n, lmm_t8_notifier_stats *out);

#ifdef __cplusplus
}
#endif
#endif
