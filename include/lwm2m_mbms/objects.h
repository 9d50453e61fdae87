/* objects.h - the LwM2M object model: OMA DDF files loaded into a registry, in front of the
 * built-in definitions of the core objects 0-7. */
#ifndef LWM2M_MBMS_OBJECTS_H
#define LWM2M_MBMS_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lwm2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A set of object definitions read from DDF files (the OMA registry's XML format). Opaque;
 *  one handle per user, no state shared between handles. */
typedef struct lmm_objects lmm_objects;

/** An empty registry: lmm_objects_get() answers with the built-in definitions only.
 *  `*out` is owned (free with lmm_objects_free()); untouched on failure (LMM_ERR_NOMEM). */
LMM_API lmm_err lmm_objects_new(lmm_objects **out);
/** Frees the registry and every definition it loaded. NULL is a no-op. */
LMM_API void lmm_objects_free(lmm_objects *o);

/** Reads one DDF file; it may hold several <Object> elements. All or nothing: on failure no
 *  object of the file is added, and lmm_objects_errmsg() says "FILE:LINE: what" (the element
 *  and what is wrong with it). The file may not define an object another loaded file defines
 *  (LMM_ERR_ARG naming both); it may redefine a built-in one, and then it wins (an operator
 *  can bring a newer version of a core object). DTDs and entities are refused, files above
 *  4 MiB too. `path` is borrowed.
 *  @return LMM_OK; LMM_ERR_IO (unreadable), LMM_ERR_ARG (malformed, redefinition),
 *  LMM_ERR_NOMEM. */
LMM_API lmm_err lmm_objects_load_file(lmm_objects *o, const char *path);
/** The same for a DDF held in memory (`len` bytes, borrowed, not kept after the call). `name`
 *  (borrowed, may be NULL) stands for the file name in messages. */
LMM_API lmm_err lmm_objects_load_mem(lmm_objects *o, const char *name, const void *buf, size_t len);
/** Loads every "*.xml" file of directory `dir` (not its subdirectories), in byte order of
 *  their names, so that the outcome does not depend on the file system. All or nothing for
 *  the directory: when one file fails, nothing from `dir` stays loaded and the message names
 *  that file. A directory without any DDF file is an error too (LMM_ERR_ARG): a mistyped
 *  directory should not pass silently. */
LMM_API lmm_err lmm_objects_load_dir(lmm_objects *o, const char *dir);

/** Why the last load failed ("" after a success). Borrowed; valid until the next call on
 *  the registry. */
LMM_API const char *lmm_objects_errmsg(const lmm_objects *o);

/** The definition of object `oid`: a loaded one first, else the built-in one (objects 0-7),
 *  else NULL. `o` may be NULL (built-ins only). The Group Mgmt object is not in it: its ID
 *  is each group's own (lmm_group_mgmt_def()). Borrowed; a loaded definition is valid until
 *  lmm_objects_free(), a built-in one for ever. */
LMM_API const lmm_obj_def *lmm_objects_get(const lmm_objects *o, uint16_t oid);
/** How many definitions were loaded from files (built-ins not counted). */
LMM_API size_t lmm_objects_count(const lmm_objects *o);
/** The i-th loaded definition, in load order (NULL past the end). Borrowed, as above. */
LMM_API const lmm_obj_def *lmm_objects_at(const lmm_objects *o, size_t i);

#ifdef __cplusplus
}
#endif
#endif
