/* hex.h - hexadecimal text of bytes (blob IDs, digests, the answers' t= tokens). */
#ifndef LMMW_HEX_H
#define LMMW_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void lmmw_hex(const uint8_t *b, size_t n, char *out);
/** Exactly 2n hex digits (either case) of `s` into n bytes; false on anything else. */
bool lmmw_unhex(const char *s, size_t len, uint8_t *out, size_t n);
/** A hex digit's value (either case), -1 for anything else. */
int lmmw_hexval(int c);

#endif
