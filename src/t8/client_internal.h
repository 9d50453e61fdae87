/* client_internal.h - what the blocking T8 calls need of the client beyond its public API. */
#ifndef LMMI_T8_CLIENT_INTERNAL_H
#define LMMI_T8_CLIENT_INTERNAL_H

#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/t8.h"

/** The context the client runs in. Borrowed. */
lmm_ctx *lmmi_t8_client_ctx(const lmm_t8_client *cl);

#endif
