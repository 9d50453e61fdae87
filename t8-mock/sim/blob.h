/* blob.h - lwm2m-mbms-sim feature: a blob sent to a group (docs/protocol.md section 5), the
 * member's side of the protocol. */
#ifndef LMM_SIM_BLOB_H
#define LMM_SIM_BLOB_H

#include "device.h"
#include "lmm_wire/blob.h"

#define SIM_BLOB_BUDGET (4ull * 1024u * 1024u * 1024u) /* blob buffers held at once, fleet-wide */

typedef enum sim_blob_kind {
  SIM_BLOB_NONE = 0, /* not a blob message: served as before */
  SIM_BLOB_DATA,     /* PUT /5/0/0 announce (index -1) or fragment */
  SIM_BLOB_STATUS,   /* GET /5/0/3 */
  SIM_BLOB_UPDATE,   /* POST /5/0/2?b */
  SIM_BLOB_MALFORMED /* a blob message with a bad query or fragment: `why` */
} sim_blob_kind;

/* A request as a blob message (docs/protocol.md 5.2); `data` points into the request. */
typedef struct sim_blob_msg {
  sim_blob_kind kind;
  lmmw_blob_desc d;
  long index; /* fragment index, -1 for an announce (and for status, update) */
  const uint8_t *data;
  size_t len;
  bool block1; /* a fragment in Block1 blocks: its length is checked once it is whole */
  char why[160];
} sim_blob_msg;

/* Whether the request is a blob message, parsed with the shared codec. `unicast`: by unicast a
 * fragment may come in Block1 blocks (a 1,024-byte fragment and its query exceed one datagram);
 * to a group Block1 is undefined (malformed). */
void sim_blob_classify(const coap_pdu_t *pdu, bool unicast, sim_blob_msg *m);
/* Checks the length of the fragment or announce in m->data; false (m->why) when it is wrong. */
bool sim_blob_check_len(sim_blob_msg *m);
/* An announce or fragment for device i: a CoAP code (2.04, 4.00 with why, 4.01, 4.05, 5.00),
 * or SIM_SILENT when it made the device reboot. By group the code is not answered. */
int sim_blob_data(sim_fleet *f, unsigned i, const sim_blob_msg *m, bool by_group, char *why,
                  size_t cap);
/* The status text (LMMW_BLOB_STATUS_MAX + 1 bytes) for a status request; 0 or 5.00. */
int sim_blob_status(sim_fleet *f, unsigned i, const sim_blob_msg *m, char *out, size_t *len);
/* Update of blob m->d.id: 0 (Updating) or 4.05 when the device has not downloaded it. */
int sim_blob_update(sim_fleet *f, unsigned i, const sim_blob_msg *m);

/* Frees what the fleet holds for every device's blob (the verified copy). */
void sim_blob_fleet_free(sim_fleet *f);

#endif
