/* fw_fec.c - a firmware campaign's erasure code (docs/fec.md): the blob's code and layout,
 * its parity, the first pass's rows, each member's per-block needs from its status, and the
 * Reed-Solomon repair round: new parity rows, never sent before, for every block that enough
 * members still need, sized from the worst need with a binomial margin, so one repair fragment
 * serves every member short of that block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fec_plan.h"
#include "campaign/fw_internal.h"

const char *lmmi_fwc_fec_check(const lmm_fwc_config *cfg) {
  if (cfg->fec_code != LMM_FEC_XOR && cfg->fec_code != LMM_FEC_RS)
    return "an unknown FEC code (neither rs nor xor)";
  if (cfg->fec_code == LMM_FEC_RS && (cfg->fec_block < 1 || cfg->fec_block >= LMMW_RS_N_MAX))
    return "a Reed-Solomon block outside 1..254 fragments";
  if (cfg->fec_code == LMM_FEC_RS && !(cfg->fec_loss >= 0 && cfg->fec_loss <= 0.5))
    return "a planned FEC loss outside 0..0.5";
  return NULL;
}

void lmmi_fwc_fec_desc(lmm_fwc *c, const lmm_fwc_config *cfg) {
  c->desc.stride = cfg->fec_stride;
  c->desc.code = LMMW_FEC_XOR;
  c->desc.kb = 0;
  if (cfg->fec_code != LMM_FEC_RS) return;
  uint32_t k = lmmw_blob_k(&c->desc);
  /* A blob smaller than one block is one block of its own size. */
  c->desc.code = LMMW_FEC_RS;
  c->desc.kb = k && k < cfg->fec_block ? k : cfg->fec_block;
  c->desc.stride = LMMW_RS_N_MAX - c->desc.kb; /* every row the field allows */
}

lmm_err lmmi_fwc_fec_setup(lmm_fwc *c) {
  c->k = lmmw_blob_k(&c->desc), c->q = lmmw_blob_q(&c->desc);
  c->nb = lmmw_blob_blocks(&c->desc);
  c->loss_est = c->cfg.fec_loss;
  if (!c->q) return LMM_OK;
  if (!(c->parity = malloc((size_t)c->q * c->desc.frag))) return LMM_ERR_NOMEM;
  if (c->nb) {
    c->next_row = lmmi_fec_first_rows(c->desc.kb, c->cfg.fec_loss, c->desc.stride);
    c->st.fec_rows = c->next_row;
    return lmmw_blob_rs_encode(&c->desc, c->image, 0, c->desc.stride, c->parity);
  }
  for (uint32_t j = 0; j < c->q; j++)
    lmmw_blob_parity(&c->desc, c->image, j, c->parity + (size_t)j * c->desc.frag);
  return LMM_OK;
}

void lmmi_fwc_fec_needs(lmm_fwc *c, size_t i, const lmmw_blob_status *s) {
  fwm *m = &c->m[i];
  if (!m->need && !(m->need = calloc(c->nb, sizeof *m->need))) return; /* counts, below */
  for (uint32_t b = 0; b < c->nb; b++)
    m->need[b] = 0;
  for (uint32_t f = 0; f < c->k; f++)
    m->need[f % c->nb] += lmmw_bit(m->missing, f);
  if (!s->has_needs) return; /* an upper bound: its missing data fragments */
  /* What it says a block needs, never more than that block misses, and at least one when it
   * misses some (a block that lists nothing needs nothing). */
  size_t e = 0;
  for (uint32_t b = 0; b < c->nb; b++) {
    while (e < s->n_needs && s->needs[e][0] < b)
      e++;
    uint32_t said = e < s->n_needs && s->needs[e][0] == b ? s->needs[e][1] : 0;
    if (m->need[b]) m->need[b] = said && said < m->need[b] ? said : said ? m->need[b] : 1;
  }
}

/* The loss the first pass shows: the share of member-blocks that did not decode from the
 * k + r0 fragments sent, matched against the binomial; never below the planned loss. */
static double loss_seen(const lmm_fwc *c) {
  uint64_t blocks = 0, short_ = 0;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || !m->allowed) continue;
    if (m->downloaded) blocks += c->nb;
    if (!m->need) continue;
    blocks += c->nb;
    for (uint32_t b = 0; b < c->nb; b++)
      short_ += m->need[b] > 0;
  }
  if (!blocks) return c->cfg.fec_loss;
  return lmmi_fec_loss_seen(c->desc.kb, c->st.fec_rows, (double)short_ / (double)blocks,
                            c->cfg.fec_loss);
}

void lmmi_fwc_fec_repair(lmm_fwc *c) {
  uint32_t nb = c->nb, *worst = calloc(nb, sizeof *worst), *cnt = calloc(nb, sizeof *cnt);
  uint32_t *rows = calloc(nb, sizeof *rows);
  if (!worst || !cnt || !rows) goto nomem;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing || !m->need) continue;
    for (uint32_t b = 0; b < nb; b++)
      if (m->need[b]) {
        cnt[b]++;
        if (m->need[b] > worst[b]) worst[b] = m->need[b];
      }
  }
  /* The first repair learns the loss; later ones keep the highest seen. */
  double seen = c->st.repair_rounds == 0 && !c->resumed ? loss_seen(c) : 0;
  if (seen > c->loss_est) c->loss_est = seen;
  uint32_t left = c->desc.stride - c->next_row, used = 0;
  for (uint32_t b = 0; b < nb; b++) {
    /* One new row serves every member short of the block, so even one such member gets rows
     * (about what it would get by unicast); only blocks beyond the rows left go by unicast. */
    if (!cnt[b] || worst[b] > left) continue;
    rows[b] = lmmi_fec_repair_rows(worst[b], c->loss_est, left);
    if (rows[b] > used) used = rows[b];
  }
  /* New rows, row by row so that a burst spreads over the blocks. */
  size_t n_mq = 0, n_pairs = 0;
  uint32_t *mq = malloc(((size_t)used * nb + 1) * sizeof *mq);
  if (!mq) goto nomem;
  for (uint32_t r = 0; r < used; r++)
    for (uint32_t b = 0; b < nb; b++)
      if (r < rows[b]) mq[n_mq++] = c->k + (c->next_row + r) * nb + b;
  c->next_row += used;
  c->st.fec_rows = c->next_row;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing) continue;
    for (uint32_t f = 0; f < c->k; f++)
      n_pairs += lmmw_bit(m->missing, f) && !rows[f % nb];
  }
  item *it = n_pairs ? calloc(n_pairs, sizeof *it) : NULL;
  if (n_pairs && !it) {
    free(mq);
    goto nomem;
  }
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing) continue;
    for (uint32_t f = 0; f < c->k; f++)
      if (lmmw_bit(m->missing, f) && !rows[f % nb]) it[k++] = (item){.m = i, .frag = f};
  }
  lmmi_log(c->d.ctx, LMM_LOG_INFO,
           "firmware campaign %lld: repair with %u new parity rows (loss %.3f), %zu fragments "
           "by unicast",
           (long long)c->id, used, c->loss_est, n_pairs);
  free(worst), free(cnt), free(rows);
  return lmmi_fwc_repair_run(c, it, n_pairs, mq, n_mq);
nomem:
  free(worst), free(cnt), free(rows);
  lmmi_fwc_finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
}
