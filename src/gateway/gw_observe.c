/* gw_observe.c - Observe on a Fanout Target: the gateway observes each member and relays each
 * member's change to the server as one notification. */
#include "gateway/gw_internal.h"

void lmmi_gw_observe_request(lmm_gateway *gw, lmmi_gw_inst *in, const lmm_path *p, bool cancel,
                             coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp) {
  (void)gw, (void)in, (void)p, (void)cancel, (void)s, (void)req;
  lmmi_gw_reply(resp, 0xA1, "observe is not relayed yet");
}

void lmmi_gw_observe_reset(lmm_gateway *gw, coap_session_t *s, coap_mid_t mid) {
  (void)gw, (void)s, (void)mid;
}

void lmmi_gw_observe_end_all(lmm_gateway *gw, const lmmi_gw_inst *in) {
  (void)gw, (void)in;
}
