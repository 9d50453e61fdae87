/* blob.c - a blob sent to a group (docs/protocol.md section 5), the member's side: announces
 * and fragments go into one reassembly per device (the wire library's codec, lmm_wire/blob.h), the
 * whole blob is checked against its SHA-256, a status request is answered with what is
 * missing, and an update names the blob it applies to. */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

#include "fw.h"
#include "msg.h"

#define CODE(c)    COAP_RESPONSE_CODE(c)
#define QUERY_MAX  32u /* Uri-Query items looked at */
#define UNKNOWN_ST "s=0;r=0;m=0-"

/* ------------------------------------------------------------------ the message */

static bool is_item(const uint8_t *s, size_t len, char key) {
  return len >= 2 && s[0] == (uint8_t)key && s[1] == '=';
}

bool sim_blob_check_len(sim_blob_msg *m) {
  if (m->index >= 0 && m->len != lmmw_blob_frag_len(&m->d, (uint32_t)m->index)) {
    snprintf(m->why, sizeof m->why, "fragment %ld holds %zu bytes, not %zu", m->index, m->len,
             lmmw_blob_frag_len(&m->d, (uint32_t)m->index));
    return false;
  }
  if (m->index < 0 && m->len > 0) {
    snprintf(m->why, sizeof m->why, "a blob announce carries no payload (%zu bytes)", m->len);
    return false;
  }
  return true;
}

void sim_blob_classify(const coap_pdu_t *pdu, bool unicast, sim_blob_msg *m) {
  lmm_path p;
  coap_opt_iterator_t it;
  coap_opt_filter_t fl;
  coap_opt_t *o;
  const char *items[QUERY_MAX + 2];
  size_t lens[QUERY_MAX + 2], n = 0, max = QUERY_MAX;
  bool overflow = false, has_b = false;
  memset(m, 0, sizeof *m);
  m->index = -1;
  int code = coap_pdu_get_code(pdu);
  if (!sim_parse_path(pdu, &p) || p.depth != 3 || p.oid != 5 || p.iid != 0) return;
  sim_blob_kind kind = code == COAP_REQUEST_CODE_PUT && p.rid == 0    ? SIM_BLOB_DATA
                       : code == COAP_REQUEST_CODE_GET && p.rid == 3  ? SIM_BLOB_STATUS
                       : code == COAP_REQUEST_CODE_POST && p.rid == 2 ? SIM_BLOB_UPDATE
                                                                      : SIM_BLOB_NONE;
  if (kind == SIM_BLOB_NONE) return;
  /* The update names its blob by b= alone (5.2), while the codec checks a whole description:
   * a minimal one goes first, and only the update's b= items after it. */
  if (kind == SIM_BLOB_UPDATE) {
    items[n] = "n=1", lens[n++] = 3;
    items[n] = "f=16", lens[n++] = 4;
    max += n;
  }
  coap_option_filter_clear(&fl);
  coap_option_filter_set(&fl, COAP_OPTION_URI_QUERY);
  if (!coap_option_iterator_init(pdu, &it, &fl)) return;
  while ((o = coap_option_next(&it))) {
    const uint8_t *v = coap_opt_value(o);
    size_t len = coap_opt_length(o);
    has_b = has_b || is_item(v, len, 'b');
    if (kind == SIM_BLOB_UPDATE && !is_item(v, len, 'b')) continue;
    if (n == max) {
      overflow = true;
      continue;
    }
    items[n] = (const char *)v, lens[n++] = len;
  }
  if (!has_b) return;
  if (overflow) {
    snprintf(m->why, sizeof m->why, "too many Uri-Query items (at most %u)", QUERY_MAX);
    m->kind = SIM_BLOB_MALFORMED;
    return;
  }
  lmm_err rc = lmmw_blob_query_parse(items, lens, n, &m->d, &m->index, m->why, sizeof m->why);
  if (rc == LMM_ERR_NOTFOUND) return;
  if (rc != LMM_OK) {
    m->kind = SIM_BLOB_MALFORMED;
    return;
  }
  m->kind = kind;
  if (kind != SIM_BLOB_DATA) return;
  coap_get_data(pdu, &m->len, &m->data);
  m->block1 = coap_check_option(pdu, COAP_OPTION_BLOCK1, &it) != NULL;
  if (m->block1 && !unicast) {
    snprintf(m->why, sizeof m->why, "Block1 to a group");
    m->kind = SIM_BLOB_MALFORMED;
  } else if (!m->block1 && !sim_blob_check_len(m)) {
    m->kind = SIM_BLOB_MALFORMED;
  }
}

/* ------------------------------------------------------------------ reception */

static bool same_shape(const lmmw_blob_desc *a, const lmmw_blob_desc *b) {
  return a->size == b->size && a->frag == b->frag && a->stride == b->stride && a->code == b->code &&
         a->kb == b->kb;
}

/* A new reception of `desc`, replacing any download the device had. */
static int start(sim_fleet *f, unsigned i, const lmmw_blob_desc *desc) {
  sim_device *d = &f->dev[i];
  sim_fw_drop_downloads(f, i);
  d->fw.state = SIM_FW_IDLE;
  d->fw.bytes = 0;
  d->fw.has_digest = false;
  d->fw.result = SIM_RES_INITIAL;
  sim_blob *b = calloc(1, sizeof *b);
  /* The fleet-wide budget stands for the device's RAM: malloc() alone would succeed on an
   * overcommitting kernel and fail only when the pages are touched. */
  if (!b || f->blob_mem + desc->size > SIM_BLOB_BUDGET || lmmw_blob_rx_init(&b->rx, desc) != 0) {
    free(b);
    d->fw.result = SIM_RES_NO_RAM;
    return CODE(500);
  }
  b->d = *desc;
  b->phase = SIM_BLOB_PH_RX;
  d->blob = b;
  d->fw.state = SIM_FW_DOWNLOADING;
  f->blob_mem += desc->size;
  if (f->blob_mem > f->blob_mem_max) f->blob_mem_max = f->blob_mem;
  return 0;
}

/* With every data fragment and the digest, the blob is checked; its buffer goes either way. */
/* A copy of the last blob whose digest a device checked and found right. Every device of a
 * group receives the same image, and hashing each one's copy (1 MiB for each of hundreds of
 * devices) was most of the simulator's time in a firmware campaign: a device whose copy is
 * byte for byte this one has the same digest, found by a memcmp. */
typedef struct sim_blob_ok {
  uint8_t id[LMMW_BLOB_ID_LEN];
  uint8_t digest[32];
  uint64_t size;
  uint8_t *data;
} sim_blob_ok;

void sim_blob_fleet_free(sim_fleet *f) {
  if (f->blob_ok) free(f->blob_ok->data);
  free(f->blob_ok);
  f->blob_ok = NULL;
}

static bool same_as_verified(const sim_fleet *f, const sim_blob *b) {
  const sim_blob_ok *v = f->blob_ok;
  return v && v->size == b->d.size && !memcmp(v->id, b->d.id, sizeof v->id) &&
         !memcmp(v->digest, b->d.digest, 32) && !memcmp(v->data, b->rx.data, (size_t)v->size);
}

/* Keeps b's data as the verified copy; best effort (without memory, devices hash). */
static void keep_verified(sim_fleet *f, const sim_blob *b) {
  sim_blob_ok *v = f->blob_ok;
  uint8_t *copy = malloc(b->d.size ? (size_t)b->d.size : 1);
  if (!copy) return;
  if (!v && !(v = f->blob_ok = calloc(1, sizeof *v))) {
    free(copy);
    return;
  }
  free(v->data);
  memcpy(copy, b->rx.data, (size_t)b->d.size);
  memcpy(v->id, b->d.id, sizeof v->id);
  memcpy(v->digest, b->d.digest, 32);
  v->size = b->d.size, v->data = copy;
}

static void check_complete(sim_fleet *f, unsigned i) {
  sim_device *d = &f->dev[i];
  sim_blob *b = d->blob;
  if (b->phase != SIM_BLOB_PH_RX || !lmmw_blob_rx_complete(&b->rx) || !b->d.has_digest) return;
  uint8_t got[32];
  /* --fw-corrupt devices hash what they hold altered: they always hash. */
  bool corrupt = d->flags & SIM_DEV_FW_CORRUPT;
  if (!corrupt && same_as_verified(f, b)) {
    memcpy(got, b->d.digest, 32);
  } else {
    mbedtls_sha256_context sha;
    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    sim_fw_hash(d, &sha, 0, b->rx.data, (size_t)b->d.size);
    mbedtls_sha256_finish_ret(&sha, got);
    mbedtls_sha256_free(&sha);
    if (!corrupt && !memcmp(got, b->d.digest, 32)) keep_verified(f, b);
  }
  sim_fw_blob_release(f, b);
  bool ok = memcmp(got, b->d.digest, 32) == 0;
  if (ok) {
    memcpy(d->fw.digest, got, 32);
    d->fw.has_digest = true;
    d->fw.bytes = b->d.size;
    d->fw.state = SIM_FW_DOWNLOADED;
    b->phase = SIM_BLOB_PH_DONE;
  } else {
    d->fw.state = SIM_FW_IDLE;
    d->fw.result = SIM_RES_INTEGRITY;
    d->fw.bytes = 0;
    b->phase = SIM_BLOB_PH_FAILED;
  }
  if (f->cfg->verbose) {
    char ep[48];
    fprintf(stderr, "%s blob of %llu bytes %s\n", sim_dev_ep(f, i, ep, sizeof ep),
            (unsigned long long)b->d.size, ok ? "downloaded" : "failed its digest check");
  }
}

/* Takes the digest a message carries; false when it contradicts the one known. */
static bool learn_digest(sim_blob *b, const lmmw_blob_desc *m) {
  if (m->version[0] && !b->d.version[0]) memcpy(b->d.version, m->version, sizeof b->d.version);
  if (!m->has_digest) return true;
  if (b->d.has_digest) return memcmp(b->d.digest, m->digest, 32) == 0;
  memcpy(b->d.digest, m->digest, 32);
  b->d.has_digest = true;
  return true;
}

int sim_blob_data(sim_fleet *f, unsigned i, const sim_blob_msg *m, bool by_group, char *why,
                  size_t cap) {
  sim_device *d = &f->dev[i];
  bool frag = m->index >= 0;
  sim_fw_tick(f, d, sim_now_ms());
  if (by_group)
    d->c.grp_bytes += m->len;
  else if (frag)
    d->c.frag_uni++;
  if (d->fw.state == SIM_FW_UPDATING) {
    snprintf(why, cap, "updating: no download now");
    return CODE(405);
  }
  sim_blob *b = d->blob;
  bool same = b && memcmp(b->d.id, m->d.id, LMMW_BLOB_ID_LEN) == 0;
  if (same && !same_shape(&b->d, &m->d)) {
    snprintf(why, cap, "blob query contradicts the blob's size, fragment size or code");
    return CODE(400);
  }
  /* A blob that failed its check is not taken again from the group, where fragments go on
   * for the other members; a fragment sent to this device alone is a new attempt. */
  if (same && b->phase == SIM_BLOB_PH_FAILED && by_group) return CODE(204);
  if (!same || b->phase == SIM_BLOB_PH_FAILED) {
    int rc = start(f, i, &m->d);
    if (rc) {
      snprintf(why, cap, "no memory for a blob of %llu bytes", (unsigned long long)m->d.size);
      return rc;
    }
    b = d->blob;
  }
  if (!learn_digest(b, &m->d)) {
    snprintf(why, cap, "blob query contradicts the blob's digest");
    return CODE(400);
  }
  if (b->phase != SIM_BLOB_PH_RX) { /* downloaded or updated: repair for the others */
    if (frag) d->c.frag_dup++;
    return CODE(204);
  }
  if (frag) {
    uint32_t rec = b->rx.recovered;
    lmmw_blob_feed r = lmmw_blob_rx_feed(&b->rx, (uint32_t)m->index, m->data, m->len);
    if (r == LMMW_BLOB_BAD) { /* sim_blob_classify() checked index and length */
      snprintf(why, cap, "fragment %ld does not fit the blob", m->index);
      return CODE(400);
    }
    if (r == LMMW_BLOB_DUPLICATE)
      d->c.frag_dup++;
    else if (by_group)
      d->c.frags++;
    d->c.frag_rec += b->rx.recovered - rec;
    uint64_t held = (uint64_t)b->rx.n_have * b->d.frag;
    d->fw.bytes = held < b->d.size ? held : b->d.size;
    if ((d->flags & SIM_DEV_FW_REBOOT) && 2ull * b->rx.n_have >= b->rx.k) {
      sim_fw_reboot(f, i);
      return SIM_SILENT;
    }
  }
  check_complete(f, i);
  return CODE(204);
}

/* ------------------------------------------------------------------ status, update */

int sim_blob_status(sim_fleet *f, unsigned i, const sim_blob_msg *m, char *out, size_t *len) {
  sim_device *d = &f->dev[i];
  sim_fw_tick(f, d, sim_now_ms());
  sim_blob *b = d->blob;
  if (!b || memcmp(b->d.id, m->d.id, LMMW_BLOB_ID_LEN) != 0 || !same_shape(&b->d, &m->d)) {
    if (b &&
        b->phase == SIM_BLOB_PH_RX) { /* one blob at a time: another ID drops the partial one */
      sim_fw_blob_drop(f, d);
      d->fw.state = SIM_FW_IDLE;
      d->fw.bytes = 0;
    }
    memcpy(out, UNKNOWN_ST, sizeof UNKNOWN_ST);
    *len = sizeof UNKNOWN_ST - 1;
    return 0;
  }
  if (b->phase == SIM_BLOB_PH_RX && learn_digest(b, &m->d)) check_complete(f, i);
  if (b->phase != SIM_BLOB_PH_RX) {
    *len = lmmw_blob_status_format(d->fw.state, d->fw.result, NULL, 0, out);
    return 0;
  }
  uint8_t *missing = malloc(((size_t)b->rx.k + 7) / 8);
  if (!missing) return CODE(500);
  lmmw_blob_rx_missing(&b->rx, missing);
  /* Reed-Solomon: what each block still needs, so one repair round can be sized for all. */
  uint32_t nb = lmmw_blob_blocks(&b->d), *needs = nb ? calloc(nb, sizeof *needs) : NULL;
  if (needs) lmmw_blob_rx_needs(&b->rx, needs);
  *len = lmmw_blob_status_format_needs(d->fw.state, d->fw.result, missing, b->rx.k, needs, nb, out);
  free(missing), free(needs);
  return 0;
}

int sim_blob_update(sim_fleet *f, unsigned i, const sim_blob_msg *m) {
  sim_device *d = &f->dev[i];
  sim_fw_tick(f, d, sim_now_ms());
  const sim_blob *b = d->blob;
  if (!b || b->phase != SIM_BLOB_PH_DONE || memcmp(b->d.id, m->d.id, LMMW_BLOB_ID_LEN) != 0)
    return CODE(405);
  return sim_fw_update(f, i);
}
