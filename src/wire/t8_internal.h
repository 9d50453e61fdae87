/* t8_internal.h - what the T8 encoders and decoders (t8_*.c) share. Private to src/wire/. */
#ifndef LMMW_T8_INTERNAL_H
#define LMMW_T8_INTERNAL_H

#include <cjson/cJSON.h>

#include "json_util.h"
#include "lmm_wire/t8_json.h"

#define REASON_OBJECT "must be a JSON object"

/** Fails "is required" at member `name` of the object at pointer `base`: LMM_ERR_PROTO. */
lmm_err lmmw_t8_fail_required(lmmw_t8_err *err, const char *base, const char *name);
/** Sets *id (freed first) to the last path segment of `self`, the only place the TMGI or
 *  transaction id travels (neither is a JSON member). LMM_OK or LMM_ERR_NOMEM. */
lmm_err lmmw_t8_id_from_self(const char *self, char **id);
/** Takes `root`: prints it into *out when rc is LMM_OK (*out untouched otherwise) and deletes
 *  it. Returns rc, or LMM_ERR_NOMEM when printing fails. */
lmm_err lmmw_t8_finish(cJSON *root, lmm_err rc, char **out);
/** Member mbmsLocArea of `obj` (at `base`) into *out (owned, lmm_mbms_loc_area_free()); absent
 *  or null leaves *out alone. `seen` (optional) tells how it appeared. */
lmm_err lmmw_t8_get_loc_area(const cJSON *obj, const char *base, lmm_mbms_loc_area **out,
                             lmmw_jm *seen, lmmw_t8_err *err);
/** Adds member mbmsLocArea (nothing for NULL). LMM_OK, LMM_ERR_ARG, LMM_ERR_NOMEM. */
lmm_err lmmw_t8_add_loc_area(cJSON *obj, const lmm_mbms_loc_area *a);
/** How many items a collection body holds: a JSON array, or (as the YAML types it) one object.
 *  LMM_ERR_PROTO for anything else. */
lmm_err lmmw_t8_list_shape(const cJSON *doc, size_t *n, lmmw_t8_err *err);

/** What the list helpers need to know of a collection's item type. */
typedef struct lmmw_t8_list_kind {
  size_t size;              /**< sizeof one item */
  void (*init)(void *item); /**< the empty item; NULL: all zeroes */
  lmm_err (*decode)(const cJSON *o, const char *ptr, void *item, lmmw_t8_err *err);
  lmm_err (*encode)(const void *item, cJSON *o);
  void (*free_list)(void *items, size_t n); /**< frees the first n items and the array */
} lmmw_t8_list_kind;

/** A JSON array of the n items (items may be NULL when n is 0): owned text in *out (free()),
 *  LMM_ERR_ARG (an item a decoder would refuse), LMM_ERR_NOMEM; *out untouched on failure. */
lmm_err lmmw_t8_list_encode(const lmmw_t8_list_kind *k, const void *items, size_t n, char **out);
/** A collection body (lmmw_t8_list_shape()) into a calloc'd array of *n items in *out, never
 *  NULL on success (free with k->free_list); on failure *out is NULL and *n 0. */
lmm_err lmmw_t8_list_decode(const lmmw_t8_list_kind *k, const char *json, size_t len, void **out,
                            size_t *n, lmmw_t8_err *err);

#endif
