/* store_seq.h - the sequence numbers of a group's protected messages, reserved ahead of use
 * in blocks, so that no number is sent twice under one key, whatever crashes in between. */
#ifndef LMMI_STORE_SEQ_H
#define LMMI_STORE_SEQ_H

#include <stdint.h>

#include "lwm2m_mbms/store.h"

/** Reserves `count` (1 .. 2^32) sequence numbers of group `name`: `[*first, *first + count)`,
 *  never handed out before by this store, also not to a process that crashed since. The
 *  reservation is committed before the call returns (write-ahead of the sending). LMM_OK;
 *  LMM_ERR_ARG; LMM_ERR_STATE when the numbers would pass 2^40 - 1 (the group needs a new
 *  key); LMM_ERR_DB with the store's message. `*first` untouched on failure. */
lmm_err lmmi_store_seq_reserve(lmm_store *s, const char *name, uint64_t count, uint64_t *first);

#endif
