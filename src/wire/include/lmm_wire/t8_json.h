/* t8_json.h - JSON mapping of the T8 GMD-via-MB2 types, shared by the library and t8-mock. */
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

/* Every encoder returns LMM_OK and an owned NUL-terminated compact JSON text in *out (free with
 * free()), or LMM_ERR_NOMEM / LMM_ERR_ARG (*out untouched). Every decoder takes `len` bytes (no
 * NUL needed), returns LMM_OK and fills *out (which it first zeroes; clear it with the matching
 * lmm_*_clear()), or LMM_ERR_PROTO with `err` (optional) filled and *out left zeroed, or
 * LMM_ERR_NOMEM. Decoders ignore members they do not know (OpenAPI allows extension) but check
 * the type and form of every member they know: ExternalGroupId is local@domain with exactly one
 * '@' and both parts non-empty; Bytes is standard base64 with padding; DateTime is RFC 3339;
 * Port is 0..65535; booleans are booleans; arrays with minItems 1 are not empty. */

lmm_err lmmw_t8_tmgi_allocation_encode(const lmm_tmgi_allocation *a, unsigned flags, char **out);
lmm_err lmmw_t8_tmgi_allocation_decode(const char *json, size_t len, unsigned flags,
                                       lmm_tmgi_allocation *out, lmmw_t8_err *err);
/** Accepts a JSON array of TMGIAllocation or a single object (NOTES: the YAML types the
 *  collection GET as one object). `*out` is a calloc'd array of `*n`. */
lmm_err lmmw_t8_tmgi_allocation_list_decode(const char *json, size_t len, lmm_tmgi_allocation **out,
                                            size_t *n, lmmw_t8_err *err);
lmm_err lmmw_t8_tmgi_allocation_list_encode(const lmm_tmgi_allocation *a, size_t n, char **out);

lmm_err lmmw_t8_tmgi_patch_encode(const lmm_tmgi_allocation_patch *p, char **out);
/** Decodes a TMGIAllocationPatch into a full allocation struct holding only the patched members;
 *  `*present` gets bit 0 for externalGroupId, bit 1 for mbmsLocArea (a null value is present
 *  with the member left NULL: remove). */
lmm_err lmmw_t8_tmgi_patch_decode(const char *json, size_t len, lmm_tmgi_allocation *out,
                                  unsigned *present, lmmw_t8_err *err);

lmm_err lmmw_t8_gmd_encode(const lmm_gmd *g, unsigned flags, char **out);
lmm_err lmmw_t8_gmd_decode(const char *json, size_t len, unsigned flags, lmm_gmd *out,
                           lmmw_t8_err *err);
lmm_err lmmw_t8_gmd_list_decode(const char *json, size_t len, lmm_gmd **out, size_t *n,
                                lmmw_t8_err *err);
lmm_err lmmw_t8_gmd_list_encode(const lmm_gmd *g, size_t n, char **out);

/** GMDViaMBMSByMb2Patch bits in *present. */
enum {
  LMMW_T8_GP_EXTERNAL_GROUP_ID = 1u << 0,
  LMMW_T8_GP_MBMS_LOC_AREA = 1u << 1,
  LMMW_T8_GP_START_TIME = 1u << 2,
  LMMW_T8_GP_PAYLOAD = 1u << 3,
  LMMW_T8_GP_NOTIFICATION_DESTINATION = 1u << 4
};
lmm_err lmmw_t8_gmd_patch_encode(const lmm_gmd_patch *p, char **out);
/** Decodes a GMDViaMBMSByMb2Patch into a lmm_gmd holding the patched members; `*present` gets
 *  LMMW_T8_GP_* bits (null values present, members left empty). Read-only members are refused. */
lmm_err lmmw_t8_gmd_patch_decode(const char *json, size_t len, lmm_gmd *out, unsigned *present,
                                 lmmw_t8_err *err);

/** GMDByMb2Notification {transaction, deliveryTriggerStatus}, both required. */
lmm_err lmmw_t8_notification_encode(const char *transaction, bool delivered, char **out);
lmm_err lmmw_t8_notification_decode(const char *json, size_t len, char **transaction,
                                    bool *delivered, lmmw_t8_err *err);
/** TestNotification {subscription}, required. */
lmm_err lmmw_t8_test_notification_encode(const char *subscription, char **out);
lmm_err lmmw_t8_test_notification_decode(const char *json, size_t len, char **subscription,
                                         lmmw_t8_err *err);

/** ProblemDetails. Encoding leaves NULL members out and `status` out when 0. */
lmm_err lmmw_t8_problem_encode(const lmm_problem *p, char **out);
lmm_err lmmw_t8_problem_decode(const char *json, size_t len, lmm_problem *out, lmmw_t8_err *err);

/** True for "local@domain": exactly one '@', both sides non-empty, no whitespace/control. */
bool lmmw_t8_external_group_id_ok(const char *s);
/** True for our TMGI form: 6 hex digits of MBMS Service ID, MCC (3 digits), MNC (2 or 3). */
bool lmmw_t8_tmgi_ok(const char *s);

/** The last non-empty path segment of a URL or path (query/fragment ignored), percent-decoding
 *  not applied. Returns an owned string, or NULL for an empty/absent segment or NOMEM. */
char *lmmw_t8_link_last_segment(const char *link);
/** Pointer into `link` at the first occurrence of LMM_T8_BASE_PATH, or NULL. Borrowed. */
const char *lmmw_t8_link_api_path(const char *link);

/** Deep copies (for the client's request snapshots and replies). NULL on allocation failure. */
lmm_mbms_loc_area *lmmw_t8_loc_area_dup(const lmm_mbms_loc_area *a);
lmm_err lmmw_t8_tmgi_allocation_copy(lmm_tmgi_allocation *dst, const lmm_tmgi_allocation *src);
lmm_err lmmw_t8_gmd_copy(lmm_gmd *dst, const lmm_gmd *src);

#endif
