/* wire.h - the wire library (docs/wire.md): every format that travels between the library,
 * the SCEF and the devices beyond what LwM2M and cJSON give. Pure functions over buffers. */
#ifndef LMMW_WIRE_H
#define LMMW_WIRE_H

#include "lmm_wire/blob.h"
#include "lmm_wire/gprotect.h"
#include "lmm_wire/hex.h"
#include "lmm_wire/t8_json.h"

#endif
