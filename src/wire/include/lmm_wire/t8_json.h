/* t8_json.h - the JSON of the T8 API GMDviaMBMSbyMB2 (3GPP TS 29.122 5.8): its types to and from
 * text, strictly checked, shared by the library (client, notification receiver) and t8-mock. */
#ifndef LMMW_T8_JSON_H
#define LMMW_T8_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "lwm2m_mbms/t8.h"

/** Where a decode failed: a JSON Pointer to the member (e.g. "/mbmsLocArea/cellId/0", "" for
 *  the whole body) and why. Maps one-to-one onto a ProblemDetails invalidParams entry. */
typedef struct lmmw_t8_err {
  char param[96];
  char reason[160];
} lmmw_t8_err;

/* Decode flags. */
enum {
  /** Reject read-only members (tmgiExpiration, scefMessageDelivery*) in a request body:
   *  what the SCEF does with a body from an SCS/AS. */
  LMMW_T8_REJECT_RO = 1u << 0,
  /** Require the members the schema marks required (notificationDestination in a GMD). */
  LMMW_T8_REQUIRE = 1u << 1
};

/* Encode flags. */
enum {
  /** Leave out read-only members: what an SCS/AS sends. */
  LMMW_T8_OMIT_RO = 1u << 0
};

/* Conventions of every function below, unless its comment says otherwise.
 * Encoders borrow their input and return LMM_OK with an owned NUL-terminated compact JSON text
 * in *out (free with free()); LMM_ERR_ARG for a NULL argument or a value a decoder would
 * refuse; LMM_ERR_NOMEM. *out is untouched on failure.
 * Decoders borrow `len` bytes of `json` (no NUL needed) and fill *out, which they first set to
 * its cleared state (zeroes; a lmm_gmd's scef_port -1). LMM_OK: the members are owned by *out,
 * free them with the matching lmm_*_clear() of lwm2m_mbms/t8.h. LMM_ERR_PROTO: `err` (optional)
 * says where and why, and *out is left cleared. LMM_ERR_NOMEM: *out left cleared. LMM_ERR_ARG:
 * a NULL out-pointer, nothing written. They ignore members they do not know (OpenAPI allows
 * extension) but check the type and form of every member they know: ExternalGroupId is
 * local@domain with exactly one '@' and both parts non-empty; Bytes is standard base64 with
 * padding; DateTime is RFC 3339; Port is 0..65535; booleans are booleans; arrays with minItems 1
 * are not empty. The parser is strict: RFC 8259 numbers, valid UTF-8, no NUL byte or \u0000, at
 * most 64 levels, nothing after the value. Every function is reentrant: no state, no I/O. */

/** TMGIAllocation. `flags`: LMMW_T8_OMIT_RO leaves tmgiExpiration out (0 also means absent).
 *  The TMGI itself is not a member: it is the last segment of `self`. */
lmm_err lmmw_t8_tmgi_allocation_encode(const lmm_tmgi_allocation *a, unsigned flags, char **out);
/** TMGIAllocation. `flags`: LMMW_T8_REJECT_RO refuses tmgiExpiration. out->tmgi is taken from
 *  the last path segment of `self` (NULL without one). */
lmm_err lmmw_t8_tmgi_allocation_decode(const char *json, size_t len, unsigned flags,
                                       lmm_tmgi_allocation *out, lmmw_t8_err *err);
/** A collection of TMGIAllocation: a JSON array, or a single object (NOTES: the YAML types the
 *  collection GET as one object). *out is a calloc'd array of *n (never NULL on success, even
 *  for "[]"; free with lmm_tmgi_allocation_list_free()); on failure *out is NULL and *n 0, and
 *  `err` points at the item at fault ("/2/externalGroupId"). */
lmm_err lmmw_t8_tmgi_allocation_list_decode(const char *json, size_t len, lmm_tmgi_allocation **out,
                                            size_t *n, lmmw_t8_err *err);
/** A JSON array of the n allocations, read-only members included (`a` may be NULL when n is 0). */
lmm_err lmmw_t8_tmgi_allocation_list_encode(const lmm_tmgi_allocation *a, size_t n, char **out);

/** TMGIAllocationPatch (RFC 7396): only the members `p` sets, a set NULL one as null. */
lmm_err lmmw_t8_tmgi_patch_encode(const lmm_tmgi_allocation_patch *p, char **out);
/** TMGIAllocationPatch into an allocation holding only the patched members; *present gets
 *  LMMW_T8_GP_EXTERNAL_GROUP_ID and LMMW_T8_GP_MBMS_LOC_AREA for the members there (a null
 *  value is present with the member left NULL: remove). tmgiExpiration is refused (read-only).
 *  *present is 0 on failure. */
lmm_err lmmw_t8_tmgi_patch_decode(const char *json, size_t len, lmm_tmgi_allocation *out,
                                  unsigned *present, lmmw_t8_err *err);

/** GMDViaMBMSByMb2. `flags`: LMMW_T8_OMIT_RO leaves scefMessageDeliveryIPv4/IPv6/Port out.
 *  LMM_ERR_ARG also for a port outside -1..65535 or a payload flagged without its bytes. */
lmm_err lmmw_t8_gmd_encode(const lmm_gmd *g, unsigned flags, char **out);
/** GMDViaMBMSByMb2. `flags`: LMMW_T8_REJECT_RO refuses the scefMessageDelivery* members,
 *  LMMW_T8_REQUIRE demands notificationDestination. out->transaction_id is taken from the last
 *  path segment of `self`; has_payload and has_request_test_notification tell presence. */
lmm_err lmmw_t8_gmd_decode(const char *json, size_t len, unsigned flags, lmm_gmd *out,
                           lmmw_t8_err *err);
/** A collection of GMDViaMBMSByMb2, as lmmw_t8_tmgi_allocation_list_decode() (free with
 *  lmm_gmd_list_free()). */
lmm_err lmmw_t8_gmd_list_decode(const char *json, size_t len, lmm_gmd **out, size_t *n,
                                lmmw_t8_err *err);
/** A JSON array of the n deliveries, read-only members included (`g` may be NULL when n is 0). */
lmm_err lmmw_t8_gmd_list_encode(const lmm_gmd *g, size_t n, char **out);

/** GMDViaMBMSByMb2Patch bits in *present. */
enum {
  LMMW_T8_GP_EXTERNAL_GROUP_ID = 1u << 0,
  LMMW_T8_GP_MBMS_LOC_AREA = 1u << 1,
  LMMW_T8_GP_START_TIME = 1u << 2,
  LMMW_T8_GP_PAYLOAD = 1u << 3,
  LMMW_T8_GP_NOTIFICATION_DESTINATION = 1u << 4
};
/** GMDViaMBMSByMb2Patch (RFC 7396): only the members `p` sets, a set NULL (or 0 time) one as
 *  null. LMM_ERR_ARG also for a payload set with a length but no bytes. */
lmm_err lmmw_t8_gmd_patch_encode(const lmm_gmd_patch *p, char **out);
/** GMDViaMBMSByMb2Patch into a delivery holding the patched members; *present gets LMMW_T8_GP_*
 *  bits (null values present, members left empty). Read-only members are refused. *present is
 *  0 on failure. */
lmm_err lmmw_t8_gmd_patch_decode(const char *json, size_t len, lmm_gmd *out, unsigned *present,
                                 lmmw_t8_err *err);

/** GMDByMb2Notification {transaction, deliveryTriggerStatus}. `transaction` is a link. */
lmm_err lmmw_t8_notification_encode(const char *transaction, bool delivered, char **out);
/** GMDByMb2Notification: both members required. *transaction is owned (free()); on failure it
 *  is NULL and *delivered false. */
lmm_err lmmw_t8_notification_decode(const char *json, size_t len, char **transaction,
                                    bool *delivered, lmmw_t8_err *err);
/** TestNotification {subscription}; `subscription` is a link. */
lmm_err lmmw_t8_test_notification_encode(const char *subscription, char **out);
/** TestNotification: `subscription` required. *subscription is owned (free()), NULL on
 *  failure. */
lmm_err lmmw_t8_test_notification_decode(const char *json, size_t len, char **subscription,
                                         lmmw_t8_err *err);

/** ProblemDetails. NULL members are left out, and `status` when 0; LMM_ERR_ARG also for a status
 *  outside 100..599 or an invalidParams entry without `param`. */
lmm_err lmmw_t8_problem_encode(const lmm_problem *p, char **out);
/** ProblemDetails (free with lmm_problem_clear()). */
lmm_err lmmw_t8_problem_decode(const char *json, size_t len, lmm_problem *out, lmmw_t8_err *err);

/** True for "local@domain": exactly one '@', both sides non-empty, no whitespace/control.
 *  False for NULL. */
bool lmmw_t8_external_group_id_ok(const char *s);
/** True for our TMGI form: 6 hex digits of MBMS Service ID, MCC (3 digits), MNC (2 or 3).
 *  False for NULL. */
bool lmmw_t8_tmgi_ok(const char *s);

/** The last non-empty path segment of a URL or path (query and fragment ignored; a host is no
 *  segment; no percent-decoding). Returns an owned string (free()), or NULL for a NULL link, no
 *  segment, or an allocation failure. */
char *lmmw_t8_link_last_segment(const char *link);
/** The first occurrence of LMM_T8_BASE_PATH in `link`, or NULL (also for a NULL link).
 *  Borrowed: a pointer into `link`, valid as long as it is. */
const char *lmmw_t8_link_api_path(const char *link);

/** A deep copy of `a` (free with lmm_mbms_loc_area_free()); NULL for NULL or on allocation
 *  failure. */
lmm_mbms_loc_area *lmmw_t8_loc_area_dup(const lmm_mbms_loc_area *a);
/** A deep copy of `src` into *dst, which is overwritten, not cleared first (free with
 *  lmm_tmgi_allocation_clear()). LMM_ERR_ARG for NULL, LMM_ERR_NOMEM; *dst untouched on
 *  failure. */
lmm_err lmmw_t8_tmgi_allocation_copy(lmm_tmgi_allocation *dst, const lmm_tmgi_allocation *src);
/** A deep copy of `src` into *dst, as lmmw_t8_tmgi_allocation_copy() (free with
 *  lmm_gmd_clear()); an empty payload still gets a non-NULL pointer. LMM_ERR_ARG also for a
 *  payload flagged without its bytes. */
lmm_err lmmw_t8_gmd_copy(lmm_gmd *dst, const lmm_gmd *src);

#endif
