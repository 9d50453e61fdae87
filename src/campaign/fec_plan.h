/* fec_plan.h - how many Reed-Solomon parity rows a blob transfer sends (docs/fec.md): in the
 * first pass, from the loss it is planned for, and in a repair round, from the worst count of
 * fragments a block still needs, each with a binomial margin. Pure functions: the campaign and
 * the benchmark (tests/bench/fec.c) share them. */
#ifndef LMMI_FEC_PLAN_H
#define LMMI_FEC_PLAN_H

#include <stdint.h>

/** The probability that at least `need` of `n` fragments arrive, each lost independently
 *  with probability `loss`. */
double lmmi_fec_p_enough(uint32_t n, uint32_t need, double loss);
/** Parity rows of the first pass for blocks of k: the fewest r (at most max_rows) for which a
 *  receiver with independent `loss` decodes a block from k + r with probability 0.9; 0 at no
 *  loss. */
uint32_t lmmi_fec_first_rows(uint32_t k, double loss, uint32_t max_rows);
/** New parity rows of a repair round for a block that some receiver still misses `need`
 *  fragments of: the fewest R >= need (at most max_rows) for which it gets `need` of them with
 *  probability 0.995 at `loss`. */
uint32_t lmmi_fec_repair_rows(uint32_t need, double loss, uint32_t max_rows);

/** The loss that makes a share `fail` of blocks of k short after k + rows fragments each,
 *  never below `floor`: what a status round shows of the bearer. */
double lmmi_fec_loss_seen(uint32_t k, uint32_t rows, double fail, double floor);

#endif
