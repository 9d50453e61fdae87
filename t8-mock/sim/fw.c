/* fw.c - the Firmware Update object (5): push download into a running digest, update timer,
 * and the faults of a device's firmware storage and update (--fw-corrupt, --fw-reboot,
 * --fw-refuse, --fw-no-success). Blobs to a group are in blob.c, pull downloads in pull.c. */
#include "fw.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "observe.h"
#include "lmm_wire/hex.h"

static void drop_push(sim_fw *fw) {
  if (fw->sha) mbedtls_sha256_free(fw->sha);
  free(fw->sha);
  fw->sha = NULL;
}

void sim_fw_clear(sim_fw *fw) {
  drop_push(fw);
  free(fw->uri);
  fw->uri = NULL;
}

void sim_fw_blob_release(sim_fleet *f, sim_blob *b) {
  if (b->rx.data) f->blob_mem -= b->d.size;
  lmmw_blob_rx_clear(&b->rx);
}

void sim_fw_blob_drop(sim_fleet *f, sim_device *d) {
  if (!d->blob) return;
  sim_fw_blob_release(f, d->blob);
  free(d->blob);
  d->blob = NULL;
}

const char *sim_fw_blob_version(const sim_device *d) {
  const sim_blob *b = d->blob;
  /* Only while the package held is that blob: a later push or pull replaces it. */
  if (!b || b->phase != SIM_BLOB_PH_DONE || !b->d.version[0] || !d->fw.has_digest ||
      memcmp(d->fw.digest, b->d.digest, 32) != 0)
    return NULL;
  return b->d.version;
}

void sim_fw_drop_downloads(sim_fleet *f, unsigned i) {
  sim_device *d = &f->dev[i];
  drop_push(&d->fw);
  sim_pull_cancel(f, i);
  sim_fw_blob_drop(f, d);
}

void sim_fw_hash(const sim_device *d, mbedtls_sha256_context *sha, uint64_t offset,
                 const uint8_t *data, size_t len) {
  if (offset == 0 && len > 0 && (d->flags & SIM_DEV_FW_CORRUPT)) {
    uint8_t bad = (uint8_t)~data[0];
    mbedtls_sha256_update_ret(sha, &bad, 1);
    data++, len--;
  }
  mbedtls_sha256_update_ret(sha, data, len);
}

void sim_fw_reboot(sim_fleet *f, unsigned i) {
  sim_device *d = &f->dev[i];
  sim_fw_drop_downloads(f, i);
  d->fw.state = SIM_FW_IDLE;
  d->fw.result = SIM_RES_INITIAL;
  d->fw.bytes = 0;
  d->fw.has_digest = false;
  d->flags = (uint8_t)(d->flags & ~SIM_DEV_FW_REBOOT);
  d->offline_until = sim_now_ms() + (int64_t)f->cfg->fw_reboot_ms;
  d->c.reboots++;
  sim_obs_touch(f, i);
  if (f->cfg->verbose) {
    char ep[48];
    fprintf(stderr, "%s reboots in the middle of a download, back in %u ms\n",
            sim_dev_ep(f, i, ep, sizeof ep), f->cfg->fw_reboot_ms);
  }
}

int sim_fw_read(sim_fleet *f, unsigned i, lmm_records *out) {
  sim_fw *fw = &f->dev[i].fw;
  char ver[65] = "";
  sim_fw_tick(f, &f->dev[i], sim_now_ms());
  /* PkgVersion is the SHA-256 of the package received: a server (or a test) can check that
   * the device got exactly the bytes it was sent. */
  if (fw->has_digest) lmmw_hex(fw->digest, 32, ver);
  int rc = sim_add_str(out, 5, 1, fw->uri ? fw->uri : "");
  if (!rc) rc = sim_add_int(out, 5, 3, -1, fw->state);
  if (!rc) rc = sim_add_int(out, 5, 5, -1, fw->result);
  const char *name = sim_fw_blob_version(&f->dev[i]);
  if (!rc) rc = sim_add_str(out, 5, 6, name ? name : fw->has_digest ? "lwm2m-mbms-sim" : "");
  if (!rc) rc = sim_add_str(out, 5, 7, ver);
  if (!rc) rc = sim_add_int(out, 5, 8, 0, 0);  /* CoAP */
  if (!rc) rc = sim_add_int(out, 5, 8, 1, 1);  /* CoAPS */
  if (!rc) rc = sim_add_int(out, 5, 9, -1, 2); /* push and pull */
  return rc;
}

int sim_fw_package_block(sim_fleet *f, unsigned i, uint64_t offset, const uint8_t *data, size_t len,
                         bool more, uint64_t total) {
  sim_device *d = &f->dev[i];
  sim_fw *fw = &d->fw;
  sim_fw_tick(f, d, sim_now_ms());
  if (fw->state == SIM_FW_UPDATING) return COAP_RESPONSE_CODE(405);
  /* A retransmitted block (its acknowledgement was lost) is acknowledged again, not hashed
   * twice. */
  if (fw->sha && offset + len == fw->bytes && len > 0 && fw->state == SIM_FW_DOWNLOADING && more)
    return 0;
  if (!fw->sha && offset + len == fw->bytes && len > 0 && fw->state == SIM_FW_DOWNLOADED && !more)
    return 0;
  if (offset == 0) {
    sim_fw_drop_downloads(f, i);
    fw->bytes = 0;
    fw->has_digest = false;
    fw->result = SIM_RES_INITIAL;
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
    drop_push(fw);
    fw->state = SIM_FW_IDLE;
    fw->result = SIM_RES_NO_FLASH;
    fw->bytes = 0;
    return COAP_RESPONSE_CODE(413);
  }
  sim_fw_hash(d, fw->sha, fw->bytes, data, len);
  fw->bytes += len;
  /* Half of the package, or its second block when the client did not say its size. */
  if (more && (d->flags & SIM_DEV_FW_REBOOT) && (total ? 2 * fw->bytes >= total : offset > 0)) {
    sim_fw_reboot(f, i);
    return SIM_SILENT;
  }
  if (!more) {
    mbedtls_sha256_finish_ret(fw->sha, fw->digest);
    drop_push(fw);
    fw->has_digest = true;
    fw->state = SIM_FW_DOWNLOADED;
  }
  return 0;
}

int sim_fw_write(sim_fleet *f, unsigned i, const lmm_records *recs, char *why, size_t cap) {
  for (size_t k = 0; k < recs->n; k++) { /* values first, so that a bad one changes nothing */
    const lmm_record *r = &recs->items[k];
    if (r->path.rid == 1 && r->value.str && strlen(r->value.str) > 255)
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "Package URI longer than 255 bytes");
  }
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_record *r = &recs->items[k];
    int rc = 0;
    if (r->path.rid == 0)
      rc = sim_fw_package_block(f, i, 0, r->value.bytes, r->value.len, false, r->value.len);
    else if (r->path.rid == 1)
      rc = sim_fw_write_uri(f, i, r->value.str ? r->value.str : "");
    if (rc) return sim_refuse(why, cap, rc, "firmware state does not allow this write");
  }
  return 0;
}

int sim_fw_write_uri(sim_fleet *f, unsigned i, const char *uri) {
  sim_device *d = &f->dev[i];
  sim_fw *fw = &d->fw;
  coap_uri_t u;
  sim_fw_tick(f, d, sim_now_ms());
  if (fw->state == SIM_FW_UPDATING) return COAP_RESPONSE_CODE(405);
  char *copy = NULL;
  if (uri[0] && !(copy = strdup(uri))) return COAP_RESPONSE_CODE(500);
  sim_fw_drop_downloads(f, i);
  free(fw->uri);
  fw->uri = copy;
  fw->state = SIM_FW_IDLE;
  fw->bytes = 0;
  fw->has_digest = false;
  fw->result = SIM_RES_INITIAL;
  if (!uri[0]) return 0; /* "" cancels and resets */
  /* Another scheme (coaps, http, ...) fails at once as Unsupported protocol, a coap:// URI
   * that does not parse as Invalid URI: a server waiting for State 2 learns it without timing
   * out. */
  const char *sep = strstr(uri, "://");
  if (sep && !(sep - uri == 4 && strncasecmp(uri, "coap", 4) == 0)) {
    fw->result = SIM_RES_UNSUPPORTED_PROTOCOL;
    return 0;
  }
  if (!sep || coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0 ||
      u.scheme != COAP_URI_SCHEME_COAP) {
    fw->result = SIM_RES_INVALID_URI;
    return 0;
  }
  return sim_pull_request(f, i);
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
