/* campaign_info.c - a campaign's row and its members' outcomes (campaign.h): initialising,
 * freeing, and the names of step results. */
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/fw_campaign.h"

LMM_API void lmm_campaign_info_clear(lmm_campaign_info *c) {
  if (!c) return;
  free(c->group), free(c->op_path), free(c->op_payload), free(c->op_query);
  free(c->token_hex), free(c->tmgi), free(c->t8_transaction), free(c->error);
  free(c->fw_summary);
  free(c->fw_config);
  memset(c, 0, sizeof *c);
}

LMM_API void lmm_campaign_info_list_free(lmm_campaign_info *c, size_t n) {
  if (!c) return;
  for (size_t i = 0; i < n; i++)
    lmm_campaign_info_clear(&c[i]);
  free(c);
}

LMM_API const char *lmm_step_name(lmm_step step) {
  switch (step) {
  case LMM_STEP_OK:
    return "ok";
  case LMM_STEP_REFUSED:
    return "refused";
  case LMM_STEP_FAILED:
    return "failed";
  case LMM_STEP_SILENT:
    return "silent";
  default:
    return "-";
  }
}

LMM_API bool lmm_code_is_refusal(uint8_t code) {
  return code == (4 << 5 | 1) || code == (4 << 5 | 3);
}

LMM_API bool lmm_outcome_refused(const lmm_outcome *o) {
  if (!o) return false;
  if (o->fw_end != LMM_FWC_PENDING) return o->fw_end == LMM_FWC_REFUSED;
  return o->done && o->err == LMM_OK && lmm_code_is_refusal(o->coap_code);
}

LMM_API void lmm_outcome_init(lmm_outcome *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->content_format = o->fw_state = o->fw_result = -1;
}

LMM_API void lmm_outcome_clear(lmm_outcome *o) {
  if (!o) return;
  free(o->ep), free(o->payload), free(o->error);
  free(o->gm_error), free(o->unicast_error), free(o->fw_pkg_version);
  memset(o, 0, sizeof *o);
}

LMM_API void lmm_outcome_list_free(lmm_outcome *o, size_t n) {
  if (!o) return;
  for (size_t i = 0; i < n; i++)
    lmm_outcome_clear(&o[i]);
  free(o);
}
