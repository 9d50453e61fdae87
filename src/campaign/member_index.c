/* member_index.c - members by Endpoint Client Name: an answer to a group request names its
 * sender by name only, and a group of 100,000 must not be searched linearly per answer. */
#include <stdlib.h>
#include <string.h>

#include "campaign/core.h"

static int ref_cmp(const void *a, const void *b) {
  const lmmi_member_ref *x = a, *y = b;
  int r = strcmp(x->ep, y->ep);
  return r ? r : (x->index > y->index) - (x->index < y->index);
}

lmm_err lmmi_member_index_build(lmmi_member_index *x, const lmm_member *m, size_t n) {
  x->n = 0;
  x->by_ep = calloc(n ? n : 1, sizeof *x->by_ep);
  if (!x->by_ep) return LMM_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    x->by_ep[i] = (lmmi_member_ref){m[i].ep, i};
  qsort(x->by_ep, n, sizeof *x->by_ep, ref_cmp);
  x->n = n;
  return LMM_OK;
}

size_t lmmi_member_index_find(const lmmi_member_index *x, const char *ep,
                              bool (*accept)(const void *owner, size_t i), const void *owner) {
  size_t lo = 0, hi = x->n;
  while (lo < hi) { /* the first entry of that name */
    size_t mid = (lo + hi) / 2;
    if (strcmp(x->by_ep[mid].ep, ep) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t k = lo; k < x->n && !strcmp(x->by_ep[k].ep, ep); k++)
    if (!accept || accept(owner, x->by_ep[k].index)) return x->by_ep[k].index;
  return SIZE_MAX;
}

void lmmi_member_index_free(lmmi_member_index *x) {
  free(x->by_ep);
  x->by_ep = NULL, x->n = 0;
}
