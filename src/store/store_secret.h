/* store_secret.h - the store's secrets (members' DTLS PSKs, groups' message keys): put, get,
 * delete by kind and name, for the store and for callers outside it (the group protection). */
#ifndef LMMI_STORE_SECRET_H
#define LMMI_STORE_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/store.h"

/* Secrets live in a key file of their own beside the state file (PATH.keys, 0600), attached to
 * the store's connection as database "keys": the state file can be copied, mailed with a bug
 * report or backed up without them. Each of these calls is one statement, so it is atomic on
 * its own and takes part in the caller's transaction when one is open. Without the key file
 * (unreadable, open to others, not ours) they fail with LMM_ERR_DB and a message naming it;
 * the rest of the store works without it. `kind` says whose secret it is ("psk": a member's
 * DTLS PSK, "group": a group's message key), `name` which one within the kind; both
 * non-empty, borrowed. */

/** Stores (or replaces) secret `kind`/`name`: `len` bytes of `key`, copied. LMM_OK;
 *  LMM_ERR_ARG for an empty kind or name or no key; LMM_ERR_DB. */
lmm_err lmmi_store_secret_put(lmm_store *s, const char *kind, const char *name, const uint8_t *key,
                              size_t len);
/** Secret `kind`/`name` into `*key` (owned: zeroise, then free()) and `*len`; both untouched on
 *  failure. LMM_OK; LMM_ERR_NOTFOUND when absent; LMM_ERR_ARG; LMM_ERR_DB; LMM_ERR_NOMEM. */
lmm_err lmmi_store_secret_get(lmm_store *s, const char *kind, const char *name, uint8_t **key,
                              size_t *len);
/** Deletes secret `kind`/`name`; LMM_OK also when there was none. LMM_ERR_ARG; LMM_ERR_DB. */
lmm_err lmmi_store_secret_del(lmm_store *s, const char *kind, const char *name);

#endif
