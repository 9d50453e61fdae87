/* store_gw.h - which stored group each of a gateway's Group Mgmt instances is: the server names
 * an instance by its ID (/42769/N), the store names a group by its Group ID. */
#ifndef LMMI_STORE_GW_H
#define LMMI_STORE_GW_H

#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/store.h"

/** One instance: its ID under the gateway's Group Mgmt object, and its group's name. */
typedef struct lmmi_gw_row {
  uint16_t iid;
  char *group; /* owned */
} lmmi_gw_row;

/** Records that instance `iid` of object `oid` is group `group` (replacing what it was).
 *  LMM_OK; LMM_ERR_DB with the store's message. */
lmm_err lmmi_store_gw_set(lmm_store *s, uint16_t oid, uint16_t iid, const char *group);
/** Forgets instance `iid` of object `oid` (LMM_OK also when it was not there). */
lmm_err lmmi_store_gw_unset(lmm_store *s, uint16_t oid, uint16_t iid);
/** The instances of object `oid` in ID order: `*out` an owned array of `*n`
 *  (lmmi_store_gw_rows_free(); NULL when none). Both untouched on failure. */
lmm_err lmmi_store_gw_list(lmm_store *s, uint16_t oid, lmmi_gw_row **out, size_t *n);
void lmmi_store_gw_rows_free(lmmi_gw_row *r, size_t n);

#endif
