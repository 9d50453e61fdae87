/* group_info.c - a group as the server keeps it (lmm_group_info): freeing its copies. */
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/group.h"

LMM_API void lmm_group_info_clear(lmm_group_info *g) {
  if (!g) return;
  free(g->name), free(g->external_group_id), free(g->multicast_address);
  free(g->fanout_target), free(g->schedule), free(g->tmgi);
  memset(g, 0, sizeof *g);
}

LMM_API void lmm_group_info_list_free(lmm_group_info *g, size_t n) {
  if (!g) return;
  for (size_t i = 0; i < n; i++)
    lmm_group_info_clear(&g[i]);
  free(g);
}
