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
#define LMMW_BLOB_NEEDS_MAX   400u /* bytes of a status's e= list: longer is left out */
#define LMMW_BLOB_VERSION_MAX 32u  /* bytes of v=: letters, digits and . _ - + only */
#define LMMW_FEC_XOR          0u
#define LMMW_FEC_RS           1u
#define LMMW_RS_N_MAX         255u /* rs: k + parity rows of a block, GF(2^8) */

/** What every message of one transfer says about its blob. */
typedef struct lmmw_blob_desc {
  uint8_t id[LMMW_BLOB_ID_LEN];
  uint64_t size;   /* bytes */
  uint32_t frag;   /* fragment size F */
  uint32_t stride; /* xor: one parity fragment per `stride` data fragments, 0 no FEC;
                    * rs: parity rows per block the transfer may send (p=) */
  uint8_t code;    /* LMMW_FEC_XOR (c= absent or c=xor) or LMMW_FEC_RS (c=rs) */
  uint32_t kb;     /* rs: source fragments per block (k=) */
  bool has_digest;
  uint8_t digest[32];                      /* SHA-256 of the whole blob */
  char version[LMMW_BLOB_VERSION_MAX + 1]; /* the package's version, "" when not given */
} lmmw_blob_desc;

/* Every function borrows its arguments and keeps nothing: no state, no I/O, reentrant. `why`
 * buffers (cap bytes, optional when cap is 0) get a one-line reason on failure. */

/** Data fragments K = ceil(size / F); 0 when F is 0. */
uint32_t lmmw_blob_k(const lmmw_blob_desc *d);
/** Parity fragment indices Q. xor: Q = ceil(K / stride), 0 without FEC; parity j (index K + j)
 *  covers the data fragments i with i % Q == j: interleaved, so a burst of up to Q losses in a
 *  row hits Q different parity groups. rs: Q = p * B (lmmw_blob_blocks()); parity index
 *  K + r * B + b is row r of block b (docs/fec.md). */
uint32_t lmmw_blob_q(const lmmw_blob_desc *d);
/** rs: blocks B = ceil(K / k); data fragment i belongs to block i % B, at position i / B.
 *  0 for xor. */
uint32_t lmmw_blob_blocks(const lmmw_blob_desc *d);
/** Length of fragment `index` (data: F, the last one shorter; parity: F). `index` must be below
 *  K + Q. */
size_t lmmw_blob_frag_len(const lmmw_blob_desc *d, uint32_t index);
/** Whether the `len` bytes at `v` (no NUL needed) can be a version (v=): 1..32 bytes of letters,
 *  digits and . _ - +. */
bool lmmw_blob_version_ok(const char *v, size_t len);
/** Checks the size (1 .. LMMW_BLOB_SIZE_MAX), F (LMMW_BLOB_FRAG_MIN .. LMMW_BLOB_FRAG_MAX),
 *  and for rs k (1..254) and p (k + p at most 255): LMM_OK, or LMM_ERR_ARG with `why`. */
lmm_err lmmw_blob_desc_check(const lmmw_blob_desc *d, char *why, size_t cap);

/** The Uri-Query ('&'-joined) of a message into `out` (cap bytes, NUL-terminated, truncated to
 *  fit): b, n, f, p always, c and k for rs; i when index >= 0; d and v when with_digest (and the
 * descriptor has them). The whole query takes at most LMMW_BLOB_QUERY_MAX bytes. */
void lmmw_blob_query(const lmmw_blob_desc *d, long index, bool with_digest, char *out, size_t cap);
/** Parses n Uri-Query items (items[k] "k=v" of lens[k] bytes, no NUL needed) into *d (zeroed
 *  first) and *index (-1 when there is no i). LMM_OK; LMM_ERR_NOTFOUND when there is no b (not a
 *  blob message); LMM_ERR_ARG with `why` for a malformed or out-of-range item, a missing n or f,
 *  or an index beyond K + Q. Unknown keys are ignored (room to grow). */
lmm_err lmmw_blob_query_parse(const char *const *items, const size_t *lens, size_t n,
                              lmmw_blob_desc *d, long *index, char *why, size_t cap);

/** A member's status (the answer to GET /5/0/3 with a blob query). */
typedef struct lmmw_blob_status {
  int state;  /* Firmware Update State 0..3 */
  int result; /* Update Result */
  /* Missing data fragments as sorted, disjoint ranges [lo, hi]; hi == UINT32_MAX: to the end. */
  uint32_t (*ranges)[2];
  size_t n_ranges;
  /* rs (e=): for each block not yet decoded, [block, fragments it still needs], by block. */
  uint32_t (*needs)[2];
  size_t n_needs;
  bool has_needs; /* e= was there: a block it does not list needs nothing */
} lmmw_blob_status;

/** The status text "s=1;r=0;m=0-3,17,300-" into `out`, which has room for
 *  LMMW_BLOB_STATUS_MAX + 1 bytes (NUL-terminated). `missing` (borrowed) is a bitmap of K bits,
 *  bit set = missing; NULL for none. When the list would not fit, the tail becomes one open
 *  range from the first index left out. Returns the length written. */
size_t lmmw_blob_status_format(int state, int result, const uint8_t *missing, uint32_t k,
                               char *out);
/** As lmmw_blob_status_format(), with (rs) `needs[b]` the fragments block b (of nb) still
 *  needs before it decodes, as "e=b:n,..." for the blocks that need some, before m=; left out
 *  whole when it would take more than LMMW_BLOB_NEEDS_MAX bytes. NULL: none. */
size_t lmmw_blob_status_format_needs(int state, int result, const uint8_t *missing, uint32_t k,
                                     const uint32_t *needs, uint32_t nb, char *out);
/** Parses the `len` bytes of a status text into *out: LMM_OK with out->ranges owned (free with
 *  lmmw_blob_status_clear()); LMM_ERR_PROTO (malformed, ranges not sorted and disjoint, no valid
 *  s= and r=) or LMM_ERR_NOMEM with `why`, *out cleared. */
lmm_err lmmw_blob_status_parse(const uint8_t *text, size_t len, lmmw_blob_status *out, char *why,
                               size_t cap);
/** Frees s->ranges and s->needs and empties the lists (state and result stay). */
void lmmw_blob_status_clear(lmmw_blob_status *s);
/** Sets the bits of `missing` (the caller's bitmap of K bits) for every data fragment the status
 *  lists; indices at or beyond K are ignored. */
void lmmw_blob_status_mark(const lmmw_blob_status *s, uint8_t *missing, uint32_t k);

/** Parity fragment j (0 .. Q-1) of the whole `blob` (size bytes) into `out` (F bytes): the XOR
 *  of its data fragments, each zero-padded to F. All zeroes without FEC. */
void lmmw_blob_parity(const lmmw_blob_desc *d, const uint8_t *blob, uint32_t j, uint8_t *out);

/** A receiver's reassembly of one blob; its buffers are allocated whole by lmmw_blob_rx_init(). */
typedef struct lmmw_blob_rx {
  lmmw_blob_desc d;
  uint8_t *data;             /* size bytes */
  uint8_t *have;             /* K + Q bits */
  uint8_t *parity;           /* xor: Q * F bytes, kept until their group is whole */
  struct lmmw_rs_block *blk; /* rs: one per block, its parity kept until it decodes */
  uint32_t k, q, n_have;
  uint32_t recovered; /* data fragments rebuilt from parity */
} lmmw_blob_rx;

typedef enum lmmw_blob_feed {
  LMMW_BLOB_STORED = 0, /* new fragment kept */
  LMMW_BLOB_DUPLICATE,  /* already had it */
  LMMW_BLOB_COMPLETE,   /* the last missing data fragment arrived (or was recovered) */
  LMMW_BLOB_BAD         /* wrong length or index: ignored */
} lmmw_blob_feed;

/** Starts a reassembly of `d` (copied, checked by the caller) in *rx, which owns its buffers
 *  (K * F bytes of data; xor: Q * F of parity; rs: parity as it comes, at most what its block
 *  misses) until lmmw_blob_rx_clear(). LMM_OK, or LMM_ERR_NOMEM
 *  with *rx cleared. */
lmm_err lmmw_blob_rx_init(lmmw_blob_rx *rx, const lmmw_blob_desc *d);
/** Frees the buffers and zeroes *rx; a cleared or zeroed rx is fine. */
void lmmw_blob_rx_clear(lmmw_blob_rx *rx);
/** Takes fragment `index` (its `len` bytes are copied). xor: a parity fragment completes a group
 *  that misses exactly one data fragment; rs: any k fragments of a block decode its missing
 *  data fragments. What is rebuilt counts in rx->recovered. */
lmmw_blob_feed lmmw_blob_rx_feed(lmmw_blob_rx *rx, uint32_t index, const uint8_t *p, size_t len);
/** Whether every data fragment is there (received or recovered): rx->data holds the blob. */
bool lmmw_blob_rx_complete(const lmmw_blob_rx *rx);
/** The missing data fragments as a bitmap of K bits into `bits`, the caller's (K + 7) / 8
 *  bytes. */
void lmmw_blob_rx_missing(const lmmw_blob_rx *rx, uint8_t *bits);
/** rs: the fragments each block still needs before it decodes (its missing data fragments
 *  less the parity it holds) into `needs`, the caller's B entries; nothing for xor. */
void lmmw_blob_rx_needs(const lmmw_blob_rx *rx, uint32_t *needs);

/* ------------------------------------------------------------------ rs (blob_rs.c) */

/** Parity rows `row_lo` .. `row_hi - 1` of every block of the whole `blob` (size bytes) into
 *  `out`, (row_hi - row_lo) * B * F bytes in index order (row, then block): systematic
 *  Reed-Solomon over GF(2^8), row r of the Cauchy matrix (ISA-L). LMM_OK; LMM_ERR_ARG for an
 *  xor descriptor or rows beyond p; LMM_ERR_NOMEM. */
lmm_err lmmw_blob_rs_encode(const lmmw_blob_desc *d, const uint8_t *blob, uint32_t row_lo,
                            uint32_t row_hi, uint8_t *out);
/** Block b's data fragments that are missing in `have` (K bits) when rows `rows[0..m-1]` with
 *  payloads `par[0..m-1]` (F bytes each) are known, rebuilt into `data` (K * F bytes, each
 *  fragment at i * F, padding zero): m must equal the count missing. Inverts only the m x m
 *  submatrix of the missing columns. LMM_OK; LMM_ERR_ARG for a wrong count; LMM_ERR_NOMEM. */
lmm_err lmmw_blob_rs_decode(const lmmw_blob_desc *d, uint32_t b, uint8_t *data, const uint8_t *have,
                            const uint32_t *rows, uint8_t *const *par, uint32_t m);

/** Bit i of the bitmap b (least significant bit first in each byte). */
static inline bool lmmw_bit(const uint8_t *b, uint32_t i) {
  return (b[i / 8] >> (i % 8)) & 1u;
}
/** Sets bit i of the bitmap b. */
static inline void lmmw_bit_set(uint8_t *b, uint32_t i) {
  b[i / 8] |= (uint8_t)(1u << (i % 8));
}

#endif
