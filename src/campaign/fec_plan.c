/* fec_plan.c - the Reed-Solomon parity a blob transfer sends (fec_plan.h, docs/fec.md). */
#include "campaign/fec_plan.h"

#include <math.h>

double lmmi_fec_p_enough(uint32_t n, uint32_t need, double loss) {
  if (need == 0) return 1.0;
  if (need > n) return 0.0;
  if (loss <= 0) return 1.0;
  if (loss >= 1) return 0.0;
  /* P(X >= need) for X ~ Binomial(n, 1 - loss), summed in logs (n is at most 255). */
  double q = 1 - loss, sum = 0;
  for (uint32_t x = need; x <= n; x++) {
    double lc = lgamma((double)n + 1) - lgamma((double)x + 1) - lgamma((double)(n - x) + 1);
    sum += exp(lc + x * log(q) + (n - x) * log(loss));
  }
  return sum > 1 ? 1 : sum;
}

uint32_t lmmi_fec_first_rows(uint32_t k, double loss, uint32_t max_rows) {
  if (loss <= 0) return 0;
  uint32_t r = 0;
  while (r < max_rows && lmmi_fec_p_enough(k + r, k, loss) < 0.9)
    r++;
  return r;
}

uint32_t lmmi_fec_repair_rows(uint32_t need, double loss, uint32_t max_rows) {
  uint32_t r = need;
  while (r < max_rows && lmmi_fec_p_enough(r, need, loss) < 0.995)
    r++;
  return r < max_rows ? r : max_rows;
}

double lmmi_fec_loss_seen(uint32_t k, uint32_t rows, double fail, double floor) {
  double lo = 0, hi = 0.9;
  for (int it = 0; it < 40; it++) {
    double mid = (lo + hi) / 2;
    if (1 - lmmi_fec_p_enough(k + rows, k, mid) < fail)
      lo = mid;
    else
      hi = mid;
  }
  return lo > floor ? lo : floor;
}
