/* json_util.h - JSON helpers behind the T8 codec: strict parsing, typed member access with
 * JSON Pointer errors, and validated member output. Private to src/wire/. */
#ifndef LMMW_JSON_UTIL_H
#define LMMW_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lmm_wire/t8_json.h"

/** Deepest nesting of arrays and objects accepted in a body (ours need about 6). */
#define LMMW_JSON_MAX_DEPTH 64

/** Parses `len` bytes of JSON text strictly: RFC 8259 grammar (numbers included), valid UTF-8,
 *  no NUL byte, no "\u0000" escape (C strings could not hold it), at most LMMW_JSON_MAX_DEPTH
 *  levels, numbers of at most 63 characters, nothing but whitespace after the value. Returns
 *  LMM_OK and an owned tree in *root (cJSON_Delete()); LMM_ERR_PROTO with `err` at pointer ""
 *  naming the byte offset (from 0); LMM_ERR_NOMEM for well-formed text cJSON had no memory
 *  for. */
lmm_err lmmw_json_parse(const char *json, size_t len, cJSON **root, lmmw_t8_err *err);

/** Fills `err` (optional) with `ptr` and the formatted reason, both truncated to fit.
 *  Returns LMM_ERR_PROTO, so a caller can `return lmmw_json_fail(...)`. */
lmm_err lmmw_json_fail(lmmw_t8_err *err, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Writes the JSON Pointer of member `name` (NULL: none) then item `idx` (negative: none)
 *  under the pointer `base` into buf. */
void lmmw_json_ptr(char *buf, size_t cap, const char *base, const char *name, long idx);

/** How a member appears in an object. */
typedef enum lmmw_jm { LMMW_JM_ABSENT = 0, LMMW_JM_NULL, LMMW_JM_VALUE } lmmw_jm;
/** Looks member `name` up (case-sensitively; with duplicated keys, the first one). */
lmmw_jm lmmw_json_member(const cJSON *obj, const char *name, const cJSON **val);

/** String forms checked on the way in and out. Every form also requires valid UTF-8. */
typedef enum lmmw_jstr {
  LMMW_JS_ANY,  /**< any string */
  LMMW_JS_LINK, /**< Link/Uri: non-empty, no control characters or spaces */
  LMMW_JS_EGID, /**< ExternalGroupId: local@domain */
  LMMW_JS_HEX,  /**< SupportedFeatures: [A-Fa-f0-9]* */
  LMMW_JS_IPV4, /**< dotted decimal */
  LMMW_JS_IPV6  /**< RFC 4291 text form */
} lmmw_jstr;
bool lmmw_jstr_ok(const char *s, lmmw_jstr kind);
/** The invalidParams reason for a member of that form that is wrong. */
const char *lmmw_jstr_reason(lmmw_jstr kind);
/** True when `s` (NUL-terminated) is valid UTF-8 without overlongs or surrogates. */
bool lmmw_utf8_ok(const char *s);

/* Member getters. Each looks up member `name` of `obj` (an object at pointer `base`): absent or
 * null leaves *out untouched and returns LMM_OK; a value of the right type and form is stored
 * (owned) and LMM_OK returned; otherwise LMM_ERR_PROTO (err at "<base>/<name>...") or
 * LMM_ERR_NOMEM. `seen` (optional) receives how the member appeared. */
lmm_err lmmw_json_get_str(const cJSON *obj, const char *base, const char *name, lmmw_jstr kind,
                          char **out, lmmw_jm *seen, lmmw_t8_err *err);
lmm_err lmmw_json_get_bool(const cJSON *obj, const char *base, const char *name, bool *out,
                           lmmw_jm *seen, lmmw_t8_err *err);
/** DateTime: RFC 3339 text to seconds since the epoch. */
lmm_err lmmw_json_get_time(const cJSON *obj, const char *base, const char *name, int64_t *out,
                           lmmw_jm *seen, lmmw_t8_err *err);
/** Bytes: strict base64; *out is non-NULL even for an empty string. */
lmm_err lmmw_json_get_bytes(const cJSON *obj, const char *base, const char *name, uint8_t **out,
                            size_t *out_len, lmmw_jm *seen, lmmw_t8_err *err);
/** An integer in lo..hi (a JSON number with no fractional part). `reason` names the range. */
lmm_err lmmw_json_get_int(const cJSON *obj, const char *base, const char *name, long lo, long hi,
                          const char *reason, long *out, lmmw_jm *seen, lmmw_t8_err *err);
/** array of string, minItems 1. *out and *n are replaced only on success. */
lmm_err lmmw_json_get_strv(const cJSON *obj, const char *base, const char *name, char ***out,
                           size_t *n, lmmw_jm *seen, lmmw_t8_err *err);
/** array of objects, minItems 1, kept as its compact JSON text. */
lmm_err lmmw_json_get_objv_text(const cJSON *obj, const char *base, const char *name, char **out,
                                lmmw_jm *seen, lmmw_t8_err *err);
/** LMM_ERR_PROTO "is read-only" when the member is there with a non-null value. */
lmm_err lmmw_json_reject(const cJSON *obj, const char *base, const char *name, lmmw_t8_err *err);

/** Checks that `v` is an array of objects with at least one item (err at ptr or ptr/i). */
lmm_err lmmw_json_check_objv(const cJSON *v, const char *ptr, lmmw_t8_err *err);

/* Member output. Each adds member `name` to `obj`: LMM_OK, LMM_ERR_ARG when the value does not
 * have the form a decoder would accept, LMM_ERR_NOMEM. A NULL string adds nothing. */
lmm_err lmmw_json_add_str(cJSON *obj, const char *name, const char *s, lmmw_jstr kind);
lmm_err lmmw_json_add_null(cJSON *obj, const char *name);
lmm_err lmmw_json_add_bool(cJSON *obj, const char *name, bool b);
lmm_err lmmw_json_add_num(cJSON *obj, const char *name, double d);
lmm_err lmmw_json_add_time(cJSON *obj, const char *name, int64_t t);
/** `p` may be NULL when n is 0. */
lmm_err lmmw_json_add_bytes(cJSON *obj, const char *name, const uint8_t *p, size_t n);
/** Adds nothing when n is 0. */
lmm_err lmmw_json_add_strv(cJSON *obj, const char *name, char *const *v, size_t n);
/** Adds the parsed JSON `text` (NULL: nothing), checked by `check` (NULL: any value). */
lmm_err lmmw_json_add_json(cJSON *obj, const char *name, const char *text,
                           lmm_err (*check)(const cJSON *v, const char *ptr, lmmw_t8_err *err));
/** Prints compactly into an owned malloc'd string (free()), so callers do not depend on the
 *  cJSON allocation hooks. */
lmm_err lmmw_json_print(const cJSON *root, char **out);

/** lmmw_t8_link_last_segment() telling "no segment" (LMM_OK, *out NULL) from LMM_ERR_NOMEM. */
lmm_err lmmw_t8_link_segment(const char *link, char **out);

/** strdup() that keeps NULL as NULL; *ok turns false when an allocation fails. */
char *lmmw_strdup_or_null(const char *s, bool *ok);

#endif
