/* protect.h - the adapter's side of protected group messages (docs/protocol.md section 6): the
 * policy (on, off, or on when every member is reached over DTLS), the group's key (kept in the
 * store's secrets, made once per group), and the sender sequence numbers, reserved in the store
 * in blocks before use so that none is sent twice under one key, across crashes too. */
#ifndef LMMI_CAMPAIGN_PROTECT_H
#define LMMI_CAMPAIGN_PROTECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaign/campaign_internal.h"
#include "core/ctx_internal.h"
#include "lmm_wire/gprotect.h"

#define LMMI_PROTECT_BLOCK 1024u /* sequence numbers reserved per store write */

typedef struct lmmi_protect {
  bool on;
  lmmw_gp_key key;
  uint8_t secret[LMMW_GP_SECRET_MAX]; /* what the Group Mgmt write carries (resource 12) */
  size_t secret_len;
  lmm_ctx *ctx;       /* borrowed: the log */
  lmm_store *store;   /* borrowed; NULL: the numbers are this process's alone (a fresh key) */
  char *group;        /* owned: the group's name */
  uint64_t next, end; /* [next, end): reserved and not yet used */
  uint64_t sealed;    /* messages sealed */
} lmmi_protect;

/** Decides whether `g`'s group messages are protected under `mode` (members `m[0..n)`
 *  borrowed: protection needs every one over coaps://) and, when on, takes the group's key from
 *  `store` or makes one from the context's random source and keeps it there. `use_stored`: the
 *  members were configured before (no Group Mgmt write): only a stored key will do. LMM_OK (see
 *  `p->on`); otherwise the error with the reason in `why` (`cap` bytes), `p` off. */
lmm_err lmmi_protect_setup(lmmi_protect *p, lmm_ctx *ctx, lmm_store *store, const lmm_group_info *g,
                           const lmm_member *m, size_t n, lmm_protect mode, bool use_stored,
                           char *why, size_t cap);
/** Seals `msg` (a group request, len bytes) with the next sequence number: `*out` owned
 *  (free()). A new block of numbers is reserved in the store first when the last one is used
 *  up. LMM_ERR_DB (the store's message logged), LMM_ERR_STATE (numbers used up), LMM_ERR_ARG,
 *  LMM_ERR_NOMEM; no number is used on failure. */
lmm_err lmmi_protect_seal(lmmi_protect *p, const uint8_t *msg, size_t len, uint8_t **out,
                          size_t *out_len);
/** Wipes the key and frees; `p` zeroed (off). */
void lmmi_protect_free(lmmi_protect *p);

#endif
