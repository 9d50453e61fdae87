/* store_secret.h - secrets the store keeps beside its state (a group's key): put, get, delete
 * by kind and name. */
#ifndef LMMI_STORE_SECRET_H
#define LMMI_STORE_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/store.h"

/** Keeps `key` (len bytes, copied) as the secret `name` of `kind` ("group": a group's key),
 *  replacing one there. LMM_OK; LMM_ERR_ARG; LMM_ERR_DB with the store's message. */
lmm_err lmmi_store_secret_put(lmm_store *s, const char *kind, const char *name, const uint8_t *key,
                              size_t len);
/** The secret `name` of `kind`: `*key` owned (free(); wipe it first), `*len` its bytes.
 *  LMM_ERR_NOTFOUND when absent (outputs untouched); LMM_ERR_DB, LMM_ERR_NOMEM. */
lmm_err lmmi_store_secret_get(lmm_store *s, const char *kind, const char *name, uint8_t **key,
                              size_t *len);
/** Forgets the secret `name` of `kind` (LMM_OK also when there was none). */
lmm_err lmmi_store_secret_del(lmm_store *s, const char *kind, const char *name);

#endif
