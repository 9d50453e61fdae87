/* delay.h - lwm2m-mbms-sim feature: --delay-ms, answers held back and sent late. */
#ifndef LMM_SIM_DELAY_H
#define LMM_SIM_DELAY_H

#include "device.h"

#define SIM_HELD_MAX 262144u /* answers held at once, fleet-wide; a request beyond is lost */

/* Holds `answer` (owned from here on; ACK or NON, with the request's Message ID) for
 * --delay-ms. `local` is the device's address the request came to: the session is shared by
 * every device its client talks to, and its local address moves with each datagram. */
void sim_hold(sim_fleet *f, unsigned i, coap_session_t *s, const coap_address_t *local,
              coap_mid_t mid, bool con, coap_pdu_t *answer);
/* Whether the answer to CON request `mid` of session s to device i is still held: the request
 * is then a retransmission (RFC 7252 4.5: processed once). */
bool sim_held_find(const sim_fleet *f, unsigned i, const coap_session_t *s, coap_mid_t mid);
/* Sends every answer that is due; returns the milliseconds until the next one is (rounded up,
 * at least 1), or -1 when none is held. */
long sim_held_flush(sim_fleet *f);
/* Frees the answers still held, unsent (at exit, before the CoAP context goes). */
void sim_held_clear(sim_fleet *f);

#endif
