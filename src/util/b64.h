/* b64.h - standard base64 with padding (RFC 4648 section 4) over Mbed TLS. */
#ifndef LMMI_B64_H
#define LMMI_B64_H

#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/err.h"

/** Encodes; *out is an owned NUL-terminated string (free()). */
lmm_err lmmi_b64_encode(const uint8_t *in, size_t len, char **out);
/** Decodes strictly: only the standard alphabet, padding required, no whitespace.
 *  *out is owned (free(); non-NULL even for an empty result). LMM_ERR_PROTO when malformed. */
lmm_err lmmi_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);

#endif
