/* fw.h - lwm2m-mbms-sim feature: the Firmware Update object (5), its push and pull
 * downloads (fw.c, pull.c) and the buffer of the blob a device receives (blob.h runs the
 * protocol on it). */
#ifndef LMM_SIM_FW_H
#define LMM_SIM_FW_H

#include <stdio.h>

#include "device.h"
#include "lmm_wire/blob.h"

#define SIM_FW_MAX (16u * 1024u * 1024u) /* largest firmware package a device takes */

/* Appends the values of /5/0 to out. */
int sim_fw_read(sim_fleet *f, unsigned i, lmm_records *out);
/* One block of a Package (5/0/0) push at byte `offset`; `more` false on the last one; `total`
 * the package size when known (Size1), else 0. Returns 0 or a CoAP code (4.08 out of order, 4.13
 * too large, 4.05 while Updating), or SIM_SILENT when the device rebooted (--fw-reboot). */
int sim_fw_package_block(sim_fleet *f, unsigned i, uint64_t offset, const uint8_t *data, size_t len,
                         bool more, uint64_t total);
/* A write of object 5's records (checked by sim_check_records()): Package, Package URI. 0 or a
 * CoAP code with `why`. */
int sim_fw_write(sim_fleet *f, unsigned i, const lmm_records *recs, char *why, size_t cap);
/* Package URI write: "" resets to Idle; a coap:// URI starts a pull download (pull.c). */
int sim_fw_write_uri(sim_fleet *f, unsigned i, const char *uri);
/* Execute /5/0/2. 4.05 unless Downloaded. */
int sim_fw_update(sim_fleet *f, unsigned i);
void sim_fw_clear(sim_fw *fw);
/* Drops whatever download is in progress or held (push digest, pull, blob) before another one
 * starts; the state is the caller's to set. */
void sim_fw_drop_downloads(sim_fleet *f, unsigned i);
/* --fw-reboot: the device loses its download (State 0, Update Result 0) and is unreachable for
 * --fw-reboot-ms. */
void sim_fw_reboot(sim_fleet *f, unsigned i);
/* Hashes bytes [offset, offset + len) of a package as the device's storage gives them back:
 * with --fw-corrupt, byte 0 comes back with its bits flipped. */
void sim_fw_hash(const sim_device *d, mbedtls_sha256_context *sha, uint64_t offset,
                 const uint8_t *data, size_t len);

/* The blob a device receives or received last (docs/protocol.md section 5): its buffer is part
 * of the firmware download, dropped with the others; blob.c runs the protocol on it. */
enum { SIM_BLOB_PH_RX, SIM_BLOB_PH_DONE, SIM_BLOB_PH_FAILED };
struct sim_blob {
  lmmw_blob_desc d; /* the blob held or last held; with its digest once one was learned */
  lmmw_blob_rx rx;  /* while receiving (SIM_BLOB_PH_RX), else empty */
  uint8_t phase;
};
/* Frees the reassembly buffer of b (its description stays). */
void sim_fw_blob_release(sim_fleet *f, sim_blob *b);
/* Forgets the device's blob and frees its buffer. */
void sim_fw_blob_drop(sim_fleet *f, sim_device *d);
/* The version (v=) announced with the package device d holds, when it came as a blob; NULL
 * otherwise. PkgName (/5/0/6) shows it. */
const char *sim_fw_blob_version(const sim_device *d);

/* ---------------------------------------------------------------- pull.c */

/* Queues a pull of the device's Package URI (fw.uri, a coap:// URI): 0 or 5.00. */
int sim_pull_request(sim_fleet *f, unsigned i);
/* Stops the device's pull, queued or running. */
void sim_pull_cancel(sim_fleet *f, unsigned i);
/* Between two turns of the loop: releases finished pulls, starts queued ones. */
void sim_pull_tick(sim_fleet *f);
/* A response or NACK on the simulator's client sessions: true when it was a pull's. */
bool sim_pull_response(sim_fleet *f, coap_session_t *s, const coap_pdu_t *rcvd);
bool sim_pull_nack(sim_fleet *f, coap_session_t *s);
/* Pull counters of --stats-json: "pull":{...}, in the fw totals. */
void sim_pull_json(const sim_fleet *f, FILE *fp);
/* Releases every pull session (before the CoAP context goes). */
void sim_pull_free(sim_fleet *f);

#endif
