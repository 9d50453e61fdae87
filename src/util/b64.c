/* b64.c - strict standard base64 (RFC 4648 section 4) over Mbed TLS. */
#include "util/b64.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

/* 6-bit value of a standard-alphabet character, or -1. Mbed TLS has its own table, but it is
 * lenient (spaces, line breaks, missing padding), so the strict check happens here first. */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* True when `in` is canonical base64: length a multiple of 4, only the standard alphabet, '='
 * only as one or two final characters, and the unused low bits before the padding zero
 * (RFC 4648 section 3.5 lets decoders reject those; rejecting makes the encoding of a byte
 * string unique, so decode-then-encode gives back the same text). */
static bool b64_canonical(const unsigned char *in, size_t len) {
  size_t pad = 0;
  int last;

  if (len % 4 != 0) return false;
  if (len == 0) return true;
  if (in[len - 1] == '=') pad = in[len - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < len - pad; i++)
    if (b64_value(in[i]) < 0) return false;
  last = b64_value(in[len - pad - 1]);
  if (pad == 1 && (last & 0x03) != 0) return false;
  if (pad == 2 && (last & 0x0f) != 0) return false;
  return true;
}

lmm_err lmmi_b64_encode(const uint8_t *in, size_t len, char **out) {
  size_t cap, olen = 0;
  unsigned char *buf;

  if (out == NULL || (in == NULL && len != 0)) return LMM_ERR_ARG;
  /* 4 output characters per 3 input bytes, rounded up, plus the NUL. */
  if (len / 3 >= (SIZE_MAX - 5) / 4) return LMM_ERR_NOMEM;
  cap = (len + 2) / 3 * 4 + 1;
  buf = malloc(cap);
  if (buf == NULL) return LMM_ERR_NOMEM;
  if (len != 0 && mbedtls_base64_encode(buf, cap, &olen, in, len) != 0) {
    free(buf);
    return LMM_ERR_NOMEM; /* cannot happen with the size computed above */
  }
  /* Mbed TLS writes no terminator for an empty input. */
  buf[olen] = '\0';
  *out = (char *)buf;
  return LMM_OK;
}

lmm_err lmmi_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len) {
  const unsigned char *s = (const unsigned char *)in;
  unsigned char *buf;
  size_t olen = 0;

  if (out == NULL || out_len == NULL || (in == NULL && len != 0)) return LMM_ERR_ARG;
  if (!b64_canonical(s, len)) return LMM_ERR_PROTO;
  /* At least one byte so that an empty result is still a non-NULL pointer. */
  buf = malloc(len / 4 * 3 + 1);
  if (buf == NULL) return LMM_ERR_NOMEM;
  if (len != 0 && mbedtls_base64_decode(buf, len / 4 * 3 + 1, &olen, s, len) != 0) {
    free(buf);
    return LMM_ERR_PROTO;
  }
  *out = buf;
  *out_len = olen;
  return LMM_OK;
}
