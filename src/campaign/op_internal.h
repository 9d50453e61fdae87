/* op_internal.h - an operation campaign (campaign.h) as a composition of the core's blocks
 * (core.h): configure the group, send the operation to it and collect the answers in the
 * window, repair the silent by unicast, record every outcome. campaign.c runs the flow;
 * campaign_load.c makes a campaign from a config or from the store. */
#ifndef LMMI_OP_INTERNAL_H
#define LMMI_OP_INTERNAL_H

#include "campaign/core.h"

struct lmm_campaign {
  lmm_campaign_deps d;
  lmm_campaign_config cfg;
  const lmm_campaign_handlers *h;
  void *user;
  lmm_group_info group;
  lmm_member *members;
  size_t n;
  lmm_op op;
  uint8_t *op_payload;
  char *op_query;
  lmm_campaign_info info;
  lmm_outcome *out;
  bool *in_repair; /* asked by unicast: a group answer from it now is late */
  bool *finals;    /* members final before the start (resume): not configured again */
  lmm_path_kind via;
  bool started, closing, finished, resumed_after_delivery;
  lmm_err result;
  /* the blocks */
  lmmi_member_index ix;
  lmmi_configure conf;
  lmmi_channel ch;
  lmmi_round round;
  lmmi_pass pass;
  lmmi_recorder rec;
  /* the group request */
  lmmi_timer *hold;     /* a multicast request waiting for its Schedule */
  uint8_t *pending_msg; /* that request, or one waiting for the MB2-U port */
  size_t pending_len;
  int64_t start_s; /* the Schedule entry the group request waits for; 0 at once */
  int64_t delivered_mono;
  size_t n_done;
  size_t n_refetch; /* answered the group read in a format they cannot serve: asked again */
  char what[40];    /* "campaign 7", for the log */
};

/* campaign_load.c: the blocks' set-up shared by new and resume (index, recorder, names). */
lmm_err lmmi_op_prepare(lmm_campaign *c);

#endif
