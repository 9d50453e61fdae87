/* group.h - groups and their members, and the operators' members file. */
#ifndef LWM2M_MBMS_GROUP_H
#define LWM2M_MBMS_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lwm2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A member: "ep={Endpoint Client Name}/{Object ID}" plus how to reach it. Owned strings. */
typedef struct lmm_member {
  char *ep;           /**< Endpoint Client Name */
  uint16_t oid;       /**< the only object a group operation may touch on this member */
  char *uri;          /**< coap://HOST:PORT or coaps://HOST:PORT (HOST numeric or a name) */
  char *psk_identity; /**< CoAPS only */
  uint8_t *psk_key;   /**< CoAPS only */
  size_t psk_key_len;
  uint16_t format; /**< content format for instance writes: LMM_FMT_SENML_JSON or LMM_FMT_TLV */
} lmm_member;

LMM_API void lmm_member_clear(lmm_member *m);
LMM_API void lmm_members_free(lmm_member *m, size_t n);
/** Deep copy; *dst untouched on failure. */
LMM_API lmm_err lmm_member_copy(lmm_member *dst, const lmm_member *src);

/** Parses a member ID "ep=NAME/OID". `*ep` is owned. LMM_ERR_ARG with `why` when malformed. */
LMM_API lmm_err lmm_member_id_parse(const char *s, char **ep, uint16_t *oid, char *why,
                                    size_t why_cap);
/** Writes "ep=NAME/OID" into buf; returns buf (truncated text if cap is short). */
LMM_API char *lmm_member_id_format(const lmm_member *m, char *buf, size_t cap);

/** Whether a group operation on `p` may be sent to `m`: only paths within its Object ID. */
LMM_API bool lmm_member_allows(const lmm_member *m, const lmm_path *p);

/** Parses a members file (format in docs/members-file.md): one member per line,
 *    ep=NAME/OID  URI  [format=senml-json|tlv] [psk-id=ID] [psk-key=hex:HEX|text:TEXT]
 *  '#' starts a comment, blank lines are skipped. Duplicate member IDs are refused. On
 *  failure returns LMM_ERR_ARG (or LMM_ERR_IO for a file that cannot be read) with `why`
 *  naming the line number and the reason, and nothing in `*out`. `*out` is an owned array
 *  (lmm_members_free()). */
LMM_API lmm_err lmm_members_parse(const char *text, size_t len, lmm_member **out, size_t *n,
                                  char *why, size_t why_cap);
LMM_API lmm_err lmm_members_load(const char *path, lmm_member **out, size_t *n, char *why,
                                 size_t why_cap);
/** Writes members in the file format (with a header comment). Returns owned text. */
LMM_API char *lmm_members_format(const lmm_member *m, size_t n);

#ifdef __cplusplus
}
#endif
#endif
