/* ddf.h - the OMA DDF (object definition XML) reader, shared by the object registry and the
 * build's generator of the built-in tables (tools/ddf2c.c). */
#ifndef LMM_LWM2M_DDF_H
#define LMM_LWM2M_DDF_H

#include <stdbool.h>
#include <stddef.h>

#include "lwm2m_mbms/lwm2m.h"

/* The OMA registry's largest files are a few hundred KiB: 4 MiB leaves room for any real
 * object and still stops a runaway file before Expat sees it. */
#define LMMI_DDF_MAX_BYTES (4u << 20)
/* One element's text (a description is the longest): beyond this the file is not a DDF. */
#define LMMI_DDF_MAX_TEXT (64u << 10)

/* Definitions read from DDF files. Every pointer in a definition (names, texts, the resource
 * table) is owned by it: lmmi_ddf_def_free(). */
typedef struct lmmi_ddf_list {
  lmm_obj_def **defs;
  size_t n, cap;
} lmmi_ddf_list;

/* Parses one DDF held in memory (`len` bytes, not NUL-terminated) and appends every <Object>
 * it holds to `out`. `name` (borrowed) names the input in errors: "NAME:LINE: what".
 * LMM_ERR_ARG for anything malformed (why says what, where), LMM_ERR_NOMEM; on failure
 * nothing is appended. Objects already in `out` are not checked against: the caller decides
 * what a redefinition means. */
lmm_err lmmi_ddf_parse(const char *name, const void *buf, size_t len, lmmi_ddf_list *out, char *why,
                       size_t why_cap);

/* Reads a whole file (at most LMMI_DDF_MAX_BYTES) into owned memory (free()). LMM_ERR_IO
 * (why: the system's reason) or LMM_ERR_ARG (too big). */
lmm_err lmmi_ddf_read_file(const char *path, char **buf, size_t *len, char *why, size_t why_cap);

/* Frees a definition made by lmmi_ddf_parse() and everything it points to. NULL is a no-op. */
void lmmi_ddf_def_free(lmm_obj_def *d);
/* Frees every definition in the list and the list's array; the list is left empty. */
void lmmi_ddf_list_clear(lmmi_ddf_list *l);
/* Appends `d` (the list takes it); false when out of memory (`d` stays the caller's). */
bool lmmi_ddf_list_push(lmmi_ddf_list *l, lmm_obj_def *d);
/* Frees the strings of a resource definition and zeroes it. */
void lmmi_ddf_res_clear(lmm_res_def *r);

#endif
