/* rfc3339.h - RFC 3339 date-time text <-> seconds since the epoch (UTC). */
#ifndef LMMI_RFC3339_H
#define LMMI_RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Formats as "YYYY-MM-DDThh:mm:ssZ" into buf (at least 21 bytes). False if out of range. */
bool lmmi_rfc3339_format(int64_t epoch_s, char *buf, size_t cap);
/** Parses "YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)" ('t'/'z' and a space for 'T' accepted,
 *  as RFC 3339 allows); fractions are truncated. False on anything malformed or out of range. */
bool lmmi_rfc3339_parse(const char *s, int64_t *epoch_s);

#endif
