/* fw.c - the Firmware Update object (5): push download into a running digest, update timer. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

/* Update Result values (object 5, resource 5) the simulator sets. */
enum { RES_INITIAL = 0, RES_SUCCESS = 1, RES_NO_FLASH = 2, RES_UNSUPPORTED_PROTOCOL = 9 };

void sim_fw_clear(sim_fw *fw) {
  if (fw->sha) mbedtls_sha256_free(fw->sha);
  free(fw->sha);
  free(fw->uri);
  fw->sha = NULL;
  fw->uri = NULL;
}

static void drop_download(sim_fw *fw) {
  if (fw->sha) mbedtls_sha256_free(fw->sha);
  free(fw->sha);
  fw->sha = NULL;
}

/* The update is simulated by time alone: State stays Updating for --update-ms, then the
 * package becomes the running firmware. Checked lazily, on every access to the device, so
 * that 10,000 devices need no timers. */
void sim_fw_tick(sim_fleet *f, sim_device *d, int64_t now_ms) {
  (void)f;
  if (d->fw.state != SIM_FW_UPDATING || now_ms < d->fw.update_done_ms) return;
  d->fw.state = SIM_FW_IDLE;
  d->fw.result = RES_SUCCESS;
  memcpy(d->fw.installed, d->fw.digest, sizeof d->fw.installed);
  d->fw.has_installed = true;
  d->c.fw_updates++;
}

int sim_fw_read(sim_fleet *f, unsigned i, lmm_records *out) {
  sim_fw *fw = &f->dev[i].fw;
  char ver[65] = "";
  sim_fw_tick(f, &f->dev[i], sim_now_ms());
  /* PkgVersion is the SHA-256 of the package received: a server (or a test) can check that
   * the device got exactly the bytes it was sent. */
  if (fw->has_digest) sim_hex(fw->digest, 32, ver);
  int rc = sim_add_str(out, 5, 1, fw->uri ? fw->uri : "");
  if (!rc) rc = sim_add_int(out, 5, 3, -1, fw->state);
  if (!rc) rc = sim_add_int(out, 5, 5, -1, fw->result);
  if (!rc) rc = sim_add_str(out, 5, 6, fw->has_digest ? "lwm2m-mbms-sim" : "");
  if (!rc) rc = sim_add_str(out, 5, 7, ver);
  if (!rc) rc = sim_add_int(out, 5, 8, 0, 0);  /* CoAP */
  if (!rc) rc = sim_add_int(out, 5, 8, 1, 1);  /* CoAPS */
  if (!rc) rc = sim_add_int(out, 5, 9, -1, 1); /* push only: see docs/simulator.md */
  return rc;
}

int sim_fw_package_block(sim_fleet *f, unsigned i, uint64_t offset, const uint8_t *data, size_t len,
                         bool more) {
  sim_device *d = &f->dev[i];
  sim_fw *fw = &d->fw;
  sim_fw_tick(f, d, sim_now_ms());
  if (fw->state == SIM_FW_UPDATING) return COAP_RESPONSE_CODE(405);
  /* A retransmitted block (its acknowledgement was lost) is acknowledged again, not hashed
   * twice. */
  if (offset + len == fw->bytes && len > 0 &&
      ((fw->state == SIM_FW_DOWNLOADING && more) || (fw->state == SIM_FW_DOWNLOADED && !more)))
    return 0;
  if (offset == 0) {
    drop_download(fw);
    fw->bytes = 0;
    fw->has_digest = false;
    fw->result = RES_INITIAL;
    if (len == 0 && !more) { /* an empty package resets the state machine */
      fw->state = SIM_FW_IDLE;
      return 0;
    }
    if (!(fw->sha = malloc(sizeof *fw->sha))) return COAP_RESPONSE_CODE(500);
    mbedtls_sha256_init(fw->sha);
    mbedtls_sha256_starts_ret(fw->sha, 0);
    fw->state = SIM_FW_DOWNLOADING;
  } else if (fw->state != SIM_FW_DOWNLOADING || !fw->sha || offset != fw->bytes) {
    return COAP_RESPONSE_CODE(408); /* Request Entity Incomplete: a block is missing */
  }
  if (fw->bytes + len > SIM_FW_MAX) {
    drop_download(fw);
    fw->state = SIM_FW_IDLE;
    fw->result = RES_NO_FLASH;
    fw->bytes = 0;
    return COAP_RESPONSE_CODE(413);
  }
  mbedtls_sha256_update_ret(fw->sha, data, len);
  fw->bytes += len;
  if (!more) {
    mbedtls_sha256_finish_ret(fw->sha, fw->digest);
    drop_download(fw);
    fw->has_digest = true;
    fw->state = SIM_FW_DOWNLOADED;
  }
  return 0;
}

int sim_fw_write_uri(sim_fleet *f, unsigned i, const char *uri) {
  sim_device *d = &f->dev[i];
  sim_fw *fw = &d->fw;
  sim_fw_tick(f, d, sim_now_ms());
  if (fw->state == SIM_FW_UPDATING) return COAP_RESPONSE_CODE(405);
  char *copy = NULL;
  if (uri[0] && !(copy = strdup(uri))) return COAP_RESPONSE_CODE(500);
  free(fw->uri);
  fw->uri = copy;
  drop_download(fw);
  fw->state = SIM_FW_IDLE;
  fw->bytes = 0;
  fw->has_digest = false;
  /* "" cancels and resets (Update Result 0). A real URI would start a pull download, which
   * the simulator does not do: it reports Unsupported protocol at once, so a server waiting
   * for State 2 learns it immediately instead of timing out. */
  fw->result = uri[0] ? RES_UNSUPPORTED_PROTOCOL : RES_INITIAL;
  return 0;
}

int sim_fw_update(sim_fleet *f, unsigned i) {
  sim_device *d = &f->dev[i];
  sim_fw_tick(f, d, sim_now_ms());
  /* LwM2M: Update is only meaningful in Downloaded; the client returns 4.05 otherwise. */
  if (d->fw.state != SIM_FW_DOWNLOADED) return COAP_RESPONSE_CODE(405);
  d->fw.state = SIM_FW_UPDATING;
  d->fw.update_done_ms = sim_now_ms() + (int64_t)f->cfg->update_ms;
  return 0;
}
