/* group.h - lwm2m-mbms-sim feature: group delivery on the device side (docs/protocol.md
 * sections 1 and 2): the Group Mgmt writes, the groups joined, the group requests and their
 * answers, and the turn of the event loop that serves them. */
#ifndef LMM_SIM_GROUP_H
#define LMM_SIM_GROUP_H

#include <stdio.h>

#include "device.h"

/* Joins device i to the groups its Group Mgmt instances name now, and leaves the others. */
void sim_group_sync(sim_fleet *f, unsigned i);
/* Registers the response and NACK handlers of the answer POSTs on f->ctx. */
void sim_group_setup(sim_fleet *f);
struct sim_blob_msg; /* blob.h: a group request classified once for every member */

/* Executes a request that came by group delivery on device i exactly as a unicast one
 * (serve.h's sim_serve_pdu(), which the request handlers above lend the loop). */
typedef void sim_group_serve_fn(sim_fleet *f, unsigned i, const coap_pdu_t *pdu,
                                const struct sim_blob_msg *bm, uint16_t ssid, int *code, int *fmt,
                                uint8_t **body, size_t *len);
/* One turn of the event loop: sends due answers, waits at most wait_ms for libcoap's fd and
 * the group sockets, serves what came (group requests by `serve`). 0 or -1. */
int sim_group_io(sim_fleet *f, long wait_ms, sim_group_serve_fn *serve);
/* Group Mgmt writes (group_mgmt.c) by server `ssid` (0: none), each followed by the device's
 * membership; the instance remembers its writer, whose rights its group requests get, and a
 * new one gets an Access Control instance owned by it. All return 0 or a CoAP code; `why`
 * gets the reason of a 4.00. */
int sim_gm_create(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_records *recs, uint16_t *iid,
                  char *why, size_t cap);
int sim_gm_replace(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t iid, const lmm_records *recs,
                   char *why, size_t cap);
int sim_gm_update(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_path *p,
                  const lmm_records *recs, char *why, size_t cap);
int sim_gm_delete(sim_fleet *f, unsigned i, uint16_t iid);
/* After instance gi's Group Mgmt changed: its key, derived from the Group Key and Group ID;
 * the replay window is kept while the key stays the same (a campaign writes it again) and
 * starts afresh with a new one. */
void sim_gp_rekey(sim_gm_inst *gi);
/* Whether a Group Key in `g` can be used (a Group ID of 1..255 bytes): 0, or 4.00 with `why`. */
int sim_gp_check(const lmm_group_mgmt *g, char *why, size_t cap);
/* "group":{...}, into the totals / a device's object of --stats-json. */
void sim_group_json_totals(const sim_fleet *f, FILE *fp);
void sim_group_json_device(const sim_fleet *f, unsigned i, FILE *fp);
void sim_group_summary(const sim_fleet *f);
/* Closes the group sockets and releases the answer sessions (before the CoAP context goes). */
void sim_group_free(sim_fleet *f);

#endif
