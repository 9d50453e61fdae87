/* observe.h - lwm2m-mbms-sim feature: Observe (RFC 7641) and the notifications. */
#ifndef LMM_SIM_OBSERVE_H
#define LMM_SIM_OBSERVE_H

#include <stdio.h>

#include "device.h"

#define SIM_OBS_PER_DEV 16u /* observations per device */

typedef struct sim_observe sim_observe;

/* Observe (RFC 7641) of a unicast GET about to be answered: `read` tells a Read (not a Discover
 * or a blob status) whose answer is `code`, `fmt`, body. Registers (Observe 0), re-registers, or
 * cancels (Observe 1, or no Observe with the token of an observation). Returns the Observe
 * value for the answer, or -1 for none (not observed: the cap, an error, a plain GET). */
long sim_obs_request(sim_fleet *f, unsigned i, coap_session_t *s, const coap_pdu_t *pdu,
                     const lmm_path *p, bool read, int code, int fmt, const uint8_t *body,
                     size_t len);
/* Device i may have changed: its observations are looked at in the loop. Cheap without any. */
void sim_obs_touch(sim_fleet *f, unsigned i);
/* Reads path p of device i as a Read with Accept `accept` would: the answer's code, its body
 * (owned, free()) or the diagnostic text, and (want_num) the value when it is one number. The
 * request handlers above lend it (serve.h's sim_read_observed()). */
typedef int sim_obs_read_fn(sim_fleet *f, unsigned i, const lmm_path *p, int accept, uint8_t **body,
                            size_t *len, double *num, bool *has_num, bool want_num);
/* Sends the notifications that are due, reading the paths by `read`; the milliseconds until the
 * next look (at least 1), or -1 when none is scheduled. */
long sim_obs_run(sim_fleet *f, sim_obs_read_fn *read);
/* Whether NON notifications may be answered with a Reset on f->udp_fd. */
bool sim_obs_watching(const sim_fleet *f);
/* Takes the Resets to NON notifications off f->udp_fd before libcoap reads it. */
void sim_obs_peek(sim_fleet *f);
/* A NACK of a CON notification (Reset, no ACK): ends its observation; false when not ours. */
bool sim_obs_nack(sim_fleet *f, coap_session_t *s, const coap_pdu_t *sent,
                  coap_nack_reason_t reason);
/* "observe":{...}, into the totals / a device's object of --stats-json; the summary line. */
void sim_obs_json_totals(const sim_fleet *f, FILE *fp);
void sim_obs_json_device(const sim_fleet *f, unsigned i, FILE *fp);
void sim_obs_summary(const sim_fleet *f);
/* Releases the observers' sessions (before the CoAP context goes). */
void sim_obs_free(sim_fleet *f);

#endif
