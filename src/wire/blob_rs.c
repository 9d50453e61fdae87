/* blob_rs.c - systematic Reed-Solomon for a blob (docs/fec.md): the data fragments in B
 * interleaved blocks of k, parity row r of block b is row k + r of the Cauchy matrix over
 * GF(2^8) (ISA-L's gf_gen_cauchy1_matrix: 1 / ((k + r) ^ j)), so any k of a block's fragments
 * give it back. Encoding and decoding are ISA-L's ec_encode_data(); the decoder inverts only
 * the m x m submatrix of the m missing columns. */
#include "lmm_wire/blob.h"

#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

/* The coefficient of source position j in parity row r of blocks of k. */
static uint8_t coef(uint32_t k, uint32_t r, uint32_t j) {
  return gf_inv((uint8_t)((k + r) ^ j));
}

/* Source position j of block b: its data in `blob` (the caller's K * F bytes when padded, or
 * size bytes with `last` a padded copy of the short last fragment), or `zero` past K. */
static uint8_t *src_of(const lmmw_blob_desc *d, uint32_t b, uint32_t j, const uint8_t *blob,
                       uint8_t *last, uint8_t *zero) {
  uint32_t nb = lmmw_blob_blocks(d), k = lmmw_blob_k(d);
  uint64_t i = (uint64_t)j * nb + b;
  if (i >= k) return zero;
  if (last && i + 1 == k) return last;
  return (uint8_t *)blob + (size_t)i * d->frag;
}

lmm_err lmmw_blob_rs_encode(const lmmw_blob_desc *d, const uint8_t *blob, uint32_t row_lo,
                            uint32_t row_hi, uint8_t *out) {
  if (d->code != LMMW_FEC_RS || !d->kb || row_lo > row_hi || row_hi > d->stride ||
      d->kb + row_hi > LMMW_RS_N_MAX)
    return LMM_ERR_ARG;
  uint32_t rows = row_hi - row_lo, kb = d->kb, nb = lmmw_blob_blocks(d), kk = lmmw_blob_k(d);
  if (!rows) return LMM_OK;
  size_t f = d->frag;
  uint8_t *a = malloc((size_t)rows * kb), *tbl = malloc(32u * kb * rows);
  uint8_t *zero = calloc(1, f), *last = calloc(1, f);
  uint8_t **in = malloc(kb * sizeof *in), **outp = malloc(rows * sizeof *outp);
  lmm_err rc = LMM_ERR_NOMEM;
  if (!a || !tbl || !zero || !last || !in || !outp) goto done;
  memcpy(last, blob + (size_t)(kk - 1) * f, lmmw_blob_frag_len(d, kk - 1));
  for (uint32_t r = 0; r < rows; r++)
    for (uint32_t j = 0; j < kb; j++)
      a[(size_t)r * kb + j] = coef(kb, row_lo + r, j);
  ec_init_tables((int)kb, (int)rows, a, tbl);
  for (uint32_t b = 0; b < nb; b++) {
    for (uint32_t j = 0; j < kb; j++)
      in[j] = src_of(d, b, j, blob, last, zero);
    for (uint32_t r = 0; r < rows; r++)
      outp[r] = out + ((size_t)r * nb + b) * f;
    ec_encode_data((int)f, (int)kb, (int)rows, tbl, in, outp);
  }
  rc = LMM_OK;
done:
  free(a), free(tbl), free(zero), free(last), free(in), free(outp);
  return rc;
}

lmm_err lmmw_blob_rs_decode(const lmmw_blob_desc *d, uint32_t b, uint8_t *data, const uint8_t *have,
                            const uint32_t *rows, uint8_t *const *par, uint32_t m) {
  uint32_t kb = d->kb, nb = lmmw_blob_blocks(d), kk = lmmw_blob_k(d);
  if (d->code != LMMW_FEC_RS || !kb || b >= nb || m > kb) return LMM_ERR_ARG;
  for (uint32_t t = 0; t < m; t++)
    if (rows[t] >= d->stride) return LMM_ERR_ARG;
  size_t f = d->frag;
  uint32_t *miss = malloc(kb * sizeof *miss), *known = malloc(kb * sizeof *known);
  uint8_t *sub = malloc((size_t)m * m + 1), *inv = malloc((size_t)m * m + 1);
  uint8_t *dm = malloc((size_t)m * kb + 1), *tbl = malloc(32u * kb * (m ? m : 1) + 32u * m * m);
  uint8_t *zero = calloc(1, f);
  uint8_t **in = malloc(kb * sizeof *in), **outp = malloc((m ? m : 1) * sizeof *outp);
  lmm_err rc = LMM_ERR_NOMEM;
  if (!miss || !known || !sub || !inv || !dm || !tbl || !zero || !in || !outp) goto done;
  uint32_t nm = 0, nk = 0;
  for (uint32_t j = 0; j < kb; j++) {
    uint64_t i = (uint64_t)j * nb + b;
    if (i < kk && !lmmw_bit(have, (uint32_t)i))
      miss[nm++] = j;
    else
      known[nk++] = j;
  }
  rc = LMM_ERR_ARG;
  if (nm != m) goto done;
  rc = LMM_OK;
  if (!m) goto done;
  for (uint32_t t = 0; t < m; t++)
    for (uint32_t u = 0; u < m; u++)
      sub[t * m + u] = coef(kb, rows[t], miss[u]);
  if (gf_invert_matrix(sub, inv, (int)m) != 0) { /* Cauchy submatrices are invertible */
    rc = LMM_ERR_ARG;
    goto done;
  }
  /* missing = inv * (parity + A_known * known): the known columns, then the parity ones.
   * inv * A_known is itself a product of byte vectors (the rows of A_known, nk long): ISA-L's
   * vector code does it, not m * m * nk table look-ups. */
  if (nk) {
    for (uint32_t t = 0; t < m; t++) {
      for (uint32_t c = 0; c < nk; c++)
        dm[(size_t)t * kb + c] = coef(kb, rows[t], known[c]);
      in[t] = dm + (size_t)t * kb; /* row t of A_known, in dm's row t for now */
    }
    uint8_t *prod = malloc((size_t)m * nk);
    uint8_t **pp = malloc(m * sizeof *pp);
    if (!prod || !pp) {
      free(prod), free(pp);
      rc = LMM_ERR_NOMEM;
      goto done;
    }
    for (uint32_t u = 0; u < m; u++)
      pp[u] = prod + (size_t)u * nk;
    ec_init_tables((int)m, (int)m, inv, tbl);
    ec_encode_data((int)nk, (int)m, (int)m, tbl, in, pp);
    for (uint32_t u = 0; u < m; u++)
      memcpy(dm + (size_t)u * kb, prod + (size_t)u * nk, nk);
    free(prod), free(pp);
  }
  for (uint32_t u = 0; u < m; u++)
    for (uint32_t t = 0; t < m; t++)
      dm[(size_t)u * kb + nk + t] = inv[u * m + t];
  for (uint32_t c = 0; c < nk; c++) {
    uint64_t i = (uint64_t)known[c] * nb + b;
    in[c] = i < kk ? data + (size_t)i * f : zero;
  }
  for (uint32_t t = 0; t < m; t++)
    in[nk + t] = par[t];
  for (uint32_t u = 0; u < m; u++)
    outp[u] = data + ((size_t)miss[u] * nb + b) * f;
  ec_init_tables((int)kb, (int)m, dm, tbl);
  ec_encode_data((int)f, (int)kb, (int)m, tbl, in, outp);
done:
  free(miss), free(known), free(sub), free(inv), free(dm), free(tbl), free(zero), free(in),
      free(outp);
  return rc;
}
