/* blob.h - the wire format of a blob sent to a group (docs/protocol.md section 5), shared by
 * the library (sender, repair) and the simulator (receiver): the Uri-Query that describes a
 * blob, the status text a member answers with, the XOR parity, and a receiver's reassembly. */
#ifndef LMMW_BLOB_H
#define LMMW_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/err.h"

#define LMMW_BLOB_ID_LEN      8
#define LMMW_BLOB_FRAG_MIN    16u
#define LMMW_BLOB_FRAG_MAX    1024u
#define LMMW_BLOB_SIZE_MAX    (64u * 1024u * 1024u)
#define LMMW_BLOB_STATUS_MAX  1000u /* bytes of a status text: fits one CoAP message */
#define LMMW_BLOB_QUERY_MAX   240u
#define LMMW_BLOB_VERSION_MAX 32u /* bytes of v=: letters, digits and . _ - + only */

/** What every message of one transfer says about its blob. */
typedef struct lmmw_blob_desc {
  uint8_t id[LMMW_BLOB_ID_LEN];
  uint64_t size;   /* bytes */
  uint32_t frag;   /* fragment size F */
  uint32_t stride; /* one parity fragment per `stride` data fragments; 0: no FEC */
  bool has_digest;
  uint8_t digest[32];                      /* SHA-256 of the whole blob */
  char version[LMMW_BLOB_VERSION_MAX + 1]; /* the package's version, "" when not given */
} lmmw_blob_desc;

/** Data fragments K = ceil(size / F). */
uint32_t lmmw_blob_k(const lmmw_blob_desc *d);
/** Parity fragments Q = ceil(K / stride), 0 without FEC. Parity j (index K + j) covers the
 *  data fragments i with i % Q == j: interleaved, so a burst of up to Q losses in a row hits
 *  Q different parity groups. */
uint32_t lmmw_blob_q(const lmmw_blob_desc *d);
/** Length of fragment `index` (data: F, the last one shorter; parity: F). */
size_t lmmw_blob_frag_len(const lmmw_blob_desc *d, uint32_t index);
/** Whether `v` can be a version (v=): 1..32 bytes of letters, digits and . _ - +. */
bool lmmw_blob_version_ok(const char *v, size_t len);
/** Checks size/F/stride bounds; LMM_ERR_ARG with `why`. */
lmm_err lmmw_blob_desc_check(const lmmw_blob_desc *d, char *why, size_t cap);

/** The Uri-Query ('&'-joined) of a message: b, n, f, p always; i when index >= 0; d and v when
 *  with_digest (and the descriptor has them). Writes at most LMMW_BLOB_QUERY_MAX bytes. */
void lmmw_blob_query(const lmmw_blob_desc *d, long index, bool with_digest, char *out, size_t cap);
/** Parses Uri-Query items (each "k=v", as separate strings). `*index` -1 when there is no i.
 *  LMM_ERR_NOTFOUND when there is no b (not a blob message); LMM_ERR_ARG with `why` for a
 *  malformed or out-of-range item. Unknown keys are ignored (room to grow). */
lmm_err lmmw_blob_query_parse(const char *const *items, const size_t *lens, size_t n,
                              lmmw_blob_desc *d, long *index, char *why, size_t cap);

/** A member's status (the answer to GET /5/0/3 with a blob query). */
typedef struct lmmw_blob_status {
  int state;  /* Firmware Update State 0..3 */
  int result; /* Update Result */
  /* Missing data fragments as sorted, disjoint ranges [lo, hi]; hi == UINT32_MAX: to the end. */
  uint32_t (*ranges)[2];
  size_t n_ranges;
} lmmw_blob_status;

/** "s=1;r=0;m=0-3,17,300-": at most LMMW_BLOB_STATUS_MAX bytes; when the list would not fit,
 *  the tail becomes one open range from the first index left out. `missing` is a bitmap of K
 *  bits (bit set = missing), NULL for none. Returns the length written (out has room for
 *  LMMW_BLOB_STATUS_MAX + 1). */
size_t lmmw_blob_status_format(int state, int result, const uint8_t *missing, uint32_t k,
                               char *out);
/** Parses a status text; `ranges` owned (lmmw_blob_status_clear()). LMM_ERR_PROTO with `why`. */
lmm_err lmmw_blob_status_parse(const uint8_t *text, size_t len, lmmw_blob_status *out, char *why,
                               size_t cap);
void lmmw_blob_status_clear(lmmw_blob_status *s);
/** Sets bits of `missing` (K bits) for every index the status lists. */
void lmmw_blob_status_mark(const lmmw_blob_status *s, uint8_t *missing, uint32_t k);

/** Parity fragment j of `blob` into out (F bytes). */
void lmmw_blob_parity(const lmmw_blob_desc *d, const uint8_t *blob, uint32_t j, uint8_t *out);

/** A receiver's reassembly of one blob. The buffer is allocated whole at the first fragment. */
typedef struct lmmw_blob_rx {
  lmmw_blob_desc d;
  uint8_t *data;   /* size bytes */
  uint8_t *have;   /* K + Q bits */
  uint8_t *parity; /* Q * F bytes, kept until their group is whole */
  uint32_t k, q, n_have;
  uint32_t recovered; /* data fragments rebuilt from parity */
} lmmw_blob_rx;

typedef enum lmmw_blob_feed {
  LMMW_BLOB_STORED = 0, /* new fragment kept */
  LMMW_BLOB_DUPLICATE,  /* already had it */
  LMMW_BLOB_COMPLETE,   /* the last missing data fragment arrived (or was recovered) */
  LMMW_BLOB_BAD         /* wrong length or index: ignored */
} lmmw_blob_feed;

/** Starts a reassembly for `d` (desc copied). LMM_ERR_NOMEM. */
lmm_err lmmw_blob_rx_init(lmmw_blob_rx *rx, const lmmw_blob_desc *d);
void lmmw_blob_rx_clear(lmmw_blob_rx *rx);
/** Takes fragment `index`; parity completes a group that misses exactly one data fragment. */
lmmw_blob_feed lmmw_blob_rx_feed(lmmw_blob_rx *rx, uint32_t index, const uint8_t *p, size_t len);
bool lmmw_blob_rx_complete(const lmmw_blob_rx *rx);
/** Missing data fragments as a bitmap of K bits (caller's buffer, (K + 7) / 8 bytes). */
void lmmw_blob_rx_missing(const lmmw_blob_rx *rx, uint8_t *bits);

static inline bool lmmw_bit(const uint8_t *b, uint32_t i) {
  return (b[i / 8] >> (i % 8)) & 1u;
}
static inline void lmmw_bit_set(uint8_t *b, uint32_t i) {
  b[i / 8] |= (uint8_t)(1u << (i % 8));
}

#endif
