/* group_util.c - what every campaign asks of its group: which path it takes, when its
 * Schedule lets the first message go, and a copy of it to own. */
#include <stdlib.h>
#include <string.h>

#include "campaign/core.h"

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

lmm_path_kind lmmi_group_path(const lmm_group_info *g, lmm_path_kind via) {
  if (via != LMM_VIA_NONE) return via;
  return g->type == LMM_GROUP_MBMS        ? LMM_VIA_MBMS
         : g->type == LMM_GROUP_MULTICAST ? LMM_VIA_MULTICAST
                                          : LMM_VIA_UNICAST;
}

int64_t lmmi_group_next_schedule_ms(const lmm_group_info *g, int64_t wall_ms) {
  int64_t best = 0;
  for (size_t i = 0; i < g->n_schedule; i++) {
    int64_t t = g->schedule[i] * 1000;
    if (t > wall_ms && (!best || t < best)) best = t;
  }
  return best;
}

lmm_err lmmi_group_copy(lmm_group_info *d, const lmm_group_info *s) {
  *d = *s;
  d->name = dupn(s->name), d->external_group_id = dupn(s->external_group_id);
  d->multicast_address = dupn(s->multicast_address), d->fanout_target = dupn(s->fanout_target);
  d->tmgi = dupn(s->tmgi);
  d->schedule = NULL;
  if (s->n_schedule && (d->schedule = malloc(s->n_schedule * sizeof *d->schedule)))
    memcpy(d->schedule, s->schedule, s->n_schedule * sizeof *d->schedule);
  if ((s->name && !d->name) || (s->external_group_id && !d->external_group_id) ||
      (s->multicast_address && !d->multicast_address) || (s->fanout_target && !d->fanout_target) ||
      (s->tmgi && !d->tmgi) || (s->n_schedule && !d->schedule)) {
    lmm_group_info_clear(d);
    memset(d, 0, sizeof *d);
    return LMM_ERR_NOMEM;
  }
  return LMM_OK;
}
