/* builtin.h - the built-in object tables, generated at build time from the shipped DDF files
 * (the XML files in objects/, docs/objects/group-mgmt.xml) by tools/ddf2c.c into objects_builtin.c.
 */
#ifndef LMM_LWM2M_BUILTIN_H
#define LMM_LWM2M_BUILTIN_H

#include <stddef.h>

#include "lwm2m_mbms/lwm2m.h"

/* The core objects, sorted by Object ID, static storage. */
extern const lmm_obj_def lmmi_builtin_objects[];
extern const size_t lmmi_builtin_n_objects;
/* Group Mgmt as its DDF has it; lmm_group_mgmt_def() sets the ID and URN per use. */
extern const lmm_obj_def lmmi_group_mgmt_template;

#endif
