/* device.c - the simulated devices: addressing, names and keys, and objects 3, 6 and Group Mgmt. */
#include "sim.h"

#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ addressing */

/* Device addresses skip .0 and .255 in the last octet, so an address is identified by its
 * rank among usable addresses: 254 per /24. Index = rank - rank(base), both ways in O(1). */
static uint64_t addr_rank(uint32_t a) {
  return (uint64_t)(a >> 8) * 254u + ((a & 255u) - 1u);
}

uint32_t sim_dev_addr(const sim_fleet *f, unsigned i) {
  uint64_t r = f->pos0 + i;
  return (uint32_t)((r / 254u) << 8) | (uint32_t)(r % 254u + 1u);
}

long sim_dev_index(const sim_fleet *f, uint32_t addr) {
  uint32_t last = addr & 255u;
  if (last == 0 || last == 255) return -1;
  uint64_t r = addr_rank(addr);
  if (r < f->pos0 || r - f->pos0 >= f->n) return -1;
  return (long)(r - f->pos0);
}

char *sim_dev_ep(const sim_fleet *f, unsigned i, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%04u", f->cfg->ep_prefix, i);
  return buf;
}

long sim_ep_index(const sim_fleet *f, const char *ep, size_t len) {
  size_t pl = strlen(f->cfg->ep_prefix);
  if (len <= pl || len > pl + 5 || memcmp(ep, f->cfg->ep_prefix, pl) != 0) return -1;
  unsigned long v = 0;
  for (size_t k = pl; k < len; k++) {
    if (ep[k] < '0' || ep[k] > '9') return -1;
    v = v * 10 + (unsigned long)(ep[k] - '0');
  }
  if (v >= f->n) return -1;
  /* Only the canonical spelling names a device: "dev-012" or "dev-00012" do not. */
  char canon[48];
  sim_dev_ep(f, (unsigned)v, canon, sizeof canon);
  if (strlen(canon) != len || memcmp(canon, ep, len) != 0) return -1;
  return (long)v;
}

void sim_dev_psk(const sim_fleet *f, unsigned i, uint8_t key[16]) {
  char ep[48];
  uint8_t h[32];
  mbedtls_sha256_context c;
  sim_dev_ep(f, i, ep, sizeof ep);
  mbedtls_sha256_init(&c);
  mbedtls_sha256_starts_ret(&c, 0);
  mbedtls_sha256_update_ret(&c, (const unsigned char *)f->cfg->psk_secret,
                            strlen(f->cfg->psk_secret));
  mbedtls_sha256_update_ret(&c, (const unsigned char *)ep, strlen(ep));
  mbedtls_sha256_finish_ret(&c, h);
  mbedtls_sha256_free(&c);
  memcpy(key, h, 16);
}

/* splitmix64: small, seedable, and the same sequence on every platform. */
uint64_t sim_rand(sim_fleet *f) {
  uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double sim_rand01(sim_fleet *f) {
  return (double)(sim_rand(f) >> 11) * (1.0 / 9007199254740992.0);
}

int64_t sim_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sim_fleet_init(sim_fleet *f, const sim_config *cfg) {
  memset(f, 0, sizeof *f);
  f->cfg = cfg;
  f->n = cfg->count;
  f->pos0 = addr_rank(cfg->base_addr);
  f->rng = cfg->seed;
  lmm_group_mgmt_def(cfg->gm_oid, &f->gm_def);
  if ((f->pos0 + f->n - 1) / 254u > 0xffffffu) {
    fprintf(stderr, "lwm2m-mbms-sim: %u devices from the base address run past 255.255.255.254\n",
            f->n);
    return -1;
  }
  f->dev = calloc(f->n, sizeof *f->dev);
  if (!f->dev) {
    fprintf(stderr, "lwm2m-mbms-sim: out of memory for %u devices\n", f->n);
    return -1;
  }
  f->udp_fd = -1;
  for (unsigned i = 0; i < f->n; i++) {
    f->dev[i].obs_first = SIM_OBS_NONE;
    if (cfg->tlv_every && (i + 1) % cfg->tlv_every == 0) f->dev[i].flags |= SIM_DEV_TLV;
  }
  for (size_t k = 0; k < cfg->n_deny; k++) {
    long i = sim_ep_index(f, cfg->deny[k], strlen(cfg->deny[k]));
    if (i >= 0) f->dev[i].flags |= SIM_DEV_DENY;
  }
  return 0;
}

void sim_fleet_free(sim_fleet *f) {
  for (unsigned i = 0; f->dev && i < f->n; i++) {
    sim_device *d = &f->dev[i];
    sim_fw_clear(&d->fw);
    sim_blob_drop(f, d);
    if (d->rx) free(d->rx->buf);
    free(d->rx);
    for (unsigned k = 0; k < d->n_gm; k++)
      lmm_group_mgmt_clear(&d->gm[k].g);
    free(d->gm);
    if (d->kept) lmm_records_clear(d->kept);
    free(d->kept);
    sim_attr_free(d);
  }
  free(f->dev);
  f->dev = NULL;
}

/* ------------------------------------------------------------------ values */

static int add(lmm_records *out, uint16_t oid, uint16_t rid, int riid, const lmm_value *v) {
  lmm_path p = {oid, 0, rid, riid < 0 ? 0 : (uint16_t)riid, riid < 0 ? 3 : 4};
  return lmm_records_add(out, &p, v) == LMM_OK ? 0 : COAP_RESPONSE_CODE(500);
}

int sim_add_str(lmm_records *out, uint16_t oid, uint16_t rid, const char *s) {
  lmm_value v = {.type = LMM_RT_STRING, .str = (char *)s}; /* copied by lmm_records_add() */
  return add(out, oid, rid, -1, &v);
}

int sim_add_int(lmm_records *out, uint16_t oid, uint16_t rid, int riid, int64_t i) {
  lmm_value v = {.type = LMM_RT_INTEGER, .v.i = i};
  return add(out, oid, rid, riid, &v);
}

static int add_float(lmm_records *out, uint16_t oid, uint16_t rid, double x) {
  lmm_value v = {.type = LMM_RT_FLOAT, .v.f = x};
  return add(out, oid, rid, -1, &v);
}

static int add_time(lmm_records *out, uint16_t oid, uint16_t rid, int64_t t) {
  lmm_value v = {.type = LMM_RT_TIME, .v.i = t};
  return add(out, oid, rid, -1, &v);
}

/* ------------------------------------------------------------------ kept values */

/* Values a device only stores: removes what `r` replaces (the resource, or one of its
 * instances), then keeps a copy. 0 or 5.00. */
static int keep(sim_device *d, const lmm_record *r) {
  if (!d->kept && !(d->kept = calloc(1, sizeof *d->kept))) return COAP_RESPONSE_CODE(500);
  lmm_records *k = d->kept;
  size_t w = 0;
  for (size_t j = 0; j < k->n; j++) {
    const lmm_path *q = &k->items[j].path;
    bool same = q->oid == r->path.oid && q->iid == r->path.iid && q->rid == r->path.rid &&
                (r->path.depth == 3 || q->depth == 3 || q->riid == r->path.riid);
    if (same)
      lmm_value_clear(&k->items[j].value);
    else
      k->items[w++] = k->items[j];
  }
  k->n = w;
  return lmm_records_add(k, &r->path, &r->value) == LMM_OK ? 0 : COAP_RESPONSE_CODE(500);
}

/* Appends the kept values of /oid/iid. */
static int add_kept(const sim_device *d, uint16_t oid, uint16_t iid, lmm_records *out) {
  for (size_t j = 0; d->kept && j < d->kept->n; j++) {
    const lmm_record *r = &d->kept->items[j];
    if (r->path.oid == oid && r->path.iid == iid &&
        lmm_records_add(out, &r->path, &r->value) != LMM_OK)
      return COAP_RESPONSE_CODE(500);
  }
  return 0;
}

/* Device (3): identity of the member, and the firmware it runs. */
static int read_device(sim_fleet *f, unsigned i, lmm_records *out) {
  sim_device *d = &f->dev[i];
  char ep[48], ver[65];
  sim_fw_tick(f, d, sim_now_ms());
  sim_dev_ep(f, i, ep, sizeof ep);
  /* After an update the running firmware is the package: its SHA-256 shows which one. */
  if (d->fw.has_installed)
    lmmw_hex(d->fw.installed, 32, ver);
  else
    snprintf(ver, sizeof ver, "1.0");
  int rc = sim_add_str(out, 3, 0, "lwm2m-mbms");
  if (!rc) rc = sim_add_str(out, 3, 1, "sim");
  if (!rc) rc = sim_add_str(out, 3, 2, ep);
  if (!rc) rc = sim_add_str(out, 3, 3, ver);
  if (!rc) rc = add_time(out, 3, 13, (int64_t)time(NULL) + d->time_offset);
  if (!rc) rc = sim_add_str(out, 3, 16, "U");
  if (!rc) rc = add_kept(d, 3, 0, out); /* UTC Offset, Timezone, once written */
  return rc;
}

/* Location (6): a fixed position per device, so that a group Read has checkable answers.
 * docs/simulator.md states the formula; tests recompute it. */
static int read_location(sim_fleet *f, unsigned i, lmm_records *out) {
  uint64_t s = f->cfg->seed % 10000u;
  double lat = 48.0 + 0.0001 * (double)((i + s) % 10000u);
  double lon = 11.0 + 0.0001 * (double)((7u * (uint64_t)i + s) % 10000u);
  int rc = add_float(out, 6, 0, lat);
  if (!rc) rc = add_float(out, 6, 1, lon);
  if (!rc) rc = add_float(out, 6, 2, 500.0 + (double)(i % 100u));
  if (!rc) rc = add_float(out, 6, 3, 5.0 + (double)(i % 20u));
  if (!rc) rc = add_time(out, 6, 5, 1700000000 + (int64_t)i);
  if (!rc) rc = add_float(out, 6, 6, 0.5 * (double)(i % 10u));
  return rc;
}

const lmm_obj_def *sim_obj_def(const sim_fleet *f, uint16_t oid) {
  if (oid == f->cfg->gm_oid) return &f->gm_def;
  if (oid == 3 || oid == 5 || oid == 6) return lmm_obj_def_oma(oid);
  /* Objects of --objects files; the other built-in ones (0, 1, 2, 4, 7) are not simulated. */
  const lmm_obj_def *d = lmm_objects_get(f->cfg->objects, oid);
  return d && d != lmm_obj_def_oma(oid) ? d : NULL;
}

bool sim_instance_exists(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid) {
  if (oid == f->cfg->gm_oid) return sim_gm_find(&f->dev[i], iid) != NULL;
  return sim_obj_def(f, oid) && iid == 0;
}

int sim_read_instance(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid, lmm_records *out) {
  if (!sim_instance_exists(f, i, oid, iid)) return COAP_RESPONSE_CODE(404);
  if (oid == f->cfg->gm_oid) {
    sim_gm_inst *gi = sim_gm_find(&f->dev[i], iid);
    return lmm_group_mgmt_to_records(&gi->g, oid, iid, out) == LMM_OK ? 0 : COAP_RESPONSE_CODE(500);
  }
  switch (oid) {
  case 3:
    return read_device(f, i, out);
  case 5:
    return sim_fw_read(f, i, out);
  case 6:
    return read_location(f, i, out);
  default: /* an --objects object: what was written to it */
    return add_kept(&f->dev[i], oid, iid, out);
  }
}

static int say(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && cap) vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return code;
}

/* Checks every record against the definition before anything changes: unknown resource ->
 * 4.04, not writable -> 4.05 (unless `any` allows R resources: the whole-instance write). */
static int check_records(const lmm_obj_def *def, const lmm_records *recs, bool any, char *why,
                         size_t cap) {
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_path *p = &recs->items[k].path;
    const lmm_res_def *rd = lmm_obj_def_res(def, p->rid);
    if (p->depth < 3 || !rd)
      return say(why, cap, COAP_RESPONSE_CODE(404), "no resource %u in object %u", p->rid,
                 def->oid);
    if (p->depth == 4 && !rd->multiple)
      return say(why, cap, COAP_RESPONSE_CODE(404), "resource %u has no instances", p->rid);
    if (!(rd->ops & LMM_OP_W) && !(any && (rd->ops & LMM_OP_R)))
      return say(why, cap, COAP_RESPONSE_CODE(405), "resource %u (%s) is not writable", p->rid,
                 rd->name);
  }
  return 0;
}

int sim_write_fixed(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_records *recs, char *why,
                    size_t cap) {
  sim_device *d = &f->dev[i];
  const lmm_obj_def *def = sim_obj_def(f, p->oid);
  int rc = check_records(def, recs, false, why, cap);
  if (rc) return rc;
  for (size_t k = 0; k < recs->n; k++) { /* values first, so that a bad one changes nothing */
    const lmm_record *r = &recs->items[k];
    if (p->oid == 5 && r->path.rid == 1 && r->value.str && strlen(r->value.str) > 255)
      return say(why, cap, COAP_RESPONSE_CODE(400), "Package URI longer than 255 bytes");
  }
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_record *r = &recs->items[k];
    if (p->oid == 3 && r->path.rid == 13) {
      d->time_offset = r->value.v.i - (int64_t)time(NULL);
    } else if (p->oid == 5 && r->path.rid == 0) {
      rc = sim_fw_package_block(f, i, 0, r->value.bytes, r->value.len, false, r->value.len);
    } else if (p->oid == 5 && r->path.rid == 1) {
      rc = sim_fw_write_uri(f, i, r->value.str ? r->value.str : "");
    } else if (p->oid != 5) { /* nothing to simulate: kept and read back */
      rc = keep(d, r);
    }
    if (rc)
      return say(why, cap, rc,
                 p->oid == 5 ? "firmware state does not allow this write" : "out of memory");
  }
  return 0;
}

int sim_execute(sim_fleet *f, unsigned i, const lmm_path *p) {
  const lmm_res_def *rd = lmm_obj_def_res(sim_obj_def(f, p->oid), p->rid);
  if (!rd) return COAP_RESPONSE_CODE(404);
  if (!(rd->ops & LMM_OP_E)) return COAP_RESPONSE_CODE(405);
  if (p->oid == 5 && p->rid == 2) return sim_fw_update(f, i);
  return 0; /* Reboot (3/0/4): accepted; a simulated device comes back at once, unchanged */
}

/* ------------------------------------------------------------------ Group Mgmt */

sim_gm_inst *sim_gm_find(sim_device *d, uint16_t iid) {
  for (unsigned k = 0; k < d->n_gm; k++)
    if (d->gm[k].iid == iid) return &d->gm[k];
  return NULL;
}

uint16_t sim_gm_free_iid(const sim_device *d) {
  uint16_t iid = 0; /* gm is sorted: the first gap */
  for (unsigned k = 0; k < d->n_gm && d->gm[k].iid == iid; k++)
    iid++;
  return iid;
}

/* A whole instance must carry every mandatory resource of the definition (Group ID and
 * External Group ID): a device cannot make them up. */
static int check_mandatory(const lmm_obj_def *def, const lmm_records *recs, char *why, size_t cap) {
  for (size_t r = 0; r < def->n_res; r++) {
    if (!def->res[r].mandatory) continue;
    bool found = false;
    for (size_t k = 0; k < recs->n && !found; k++)
      found = recs->items[k].path.rid == def->res[r].id;
    if (!found)
      return say(why, cap, COAP_RESPONSE_CODE(400), "mandatory resource %u (%s) is missing",
                 def->res[r].id, def->res[r].name);
  }
  return 0;
}

static int build(const lmm_records *recs, lmm_group_mgmt *g, char *why, size_t cap) {
  char msg[160] = "";
  *g = (lmm_group_mgmt)LMM_GROUP_MGMT_INIT;
  if (lmm_group_mgmt_from_records(recs->items, recs->n, g, msg, sizeof msg) != LMM_OK) {
    lmm_group_mgmt_clear(g);
    return say(why, cap, COAP_RESPONSE_CODE(400), "%s", msg[0] ? msg : "invalid instance");
  }
  return 0;
}

static void changed(sim_fleet *f, unsigned i, uint16_t iid) {
  f->dev[i].c.gm_changes++;
  sim_on_group_mgmt_changed(f, i, iid);
}

/* Inserts or replaces instance `iid` with `g` (taken). */
static int put_instance(sim_device *d, uint16_t iid, lmm_group_mgmt *g) {
  sim_gm_inst *gi = sim_gm_find(d, iid);
  if (gi) {
    lmm_group_mgmt_clear(&gi->g);
    gi->g = *g;
    return 0;
  }
  if (d->n_gm >= SIM_GM_MAX) return COAP_RESPONSE_CODE(500);
  if (d->n_gm == d->cap_gm) {
    uint16_t nc = d->cap_gm ? (uint16_t)(d->cap_gm * 2) : 1;
    sim_gm_inst *n = realloc(d->gm, nc * sizeof *n);
    if (!n) return COAP_RESPONSE_CODE(500);
    d->gm = n, d->cap_gm = nc;
  }
  unsigned at = 0;
  while (at < d->n_gm && d->gm[at].iid < iid)
    at++;
  memmove(&d->gm[at + 1], &d->gm[at], (d->n_gm - at) * sizeof *d->gm);
  d->gm[at].iid = iid;
  d->gm[at].g = *g;
  d->n_gm++;
  return 0;
}

static int whole_write(sim_fleet *f, unsigned i, uint16_t iid, const lmm_records *recs, char *why,
                       size_t cap) {
  sim_device *d = &f->dev[i];
  lmm_group_mgmt g;
  int rc = check_records(&f->gm_def, recs, true, why, cap);
  if (!rc) rc = check_mandatory(&f->gm_def, recs, why, cap);
  if (!rc && !sim_gm_find(d, iid) && d->n_gm >= SIM_GM_MAX)
    rc = say(why, cap, COAP_RESPONSE_CODE(500), "no room for more than %u instances", SIM_GM_MAX);
  if (!rc) rc = build(recs, &g, why, cap);
  if (rc) return rc;
  if ((rc = put_instance(d, iid, &g)) != 0) {
    lmm_group_mgmt_clear(&g);
    return say(why, cap, rc, "out of memory");
  }
  changed(f, i, iid);
  return 0;
}

int sim_gm_create(sim_fleet *f, unsigned i, const lmm_records *recs, uint16_t *iid, char *why,
                  size_t cap) {
  if (recs->n == 0)
    return say(why, cap, COAP_RESPONSE_CODE(400), "Create needs the instance's resources");
  uint16_t id = recs->items[0].path.iid;
  for (size_t k = 1; k < recs->n; k++)
    if (recs->items[k].path.iid != id)
      return say(why, cap, COAP_RESPONSE_CODE(400), "Create of more than one instance");
  if (sim_gm_find(&f->dev[i], id))
    return say(why, cap, COAP_RESPONSE_CODE(400), "instance %u already exists", id);
  *iid = id;
  return whole_write(f, i, id, recs, why, cap);
}

int sim_gm_replace(sim_fleet *f, unsigned i, uint16_t iid, const lmm_records *recs, char *why,
                   size_t cap) {
  return whole_write(f, i, iid, recs, why, cap);
}

/* Whether the new record `n`, written at request path `p`, replaces the old record `o`. */
static bool covers(const lmm_path *p, const lmm_record *n, const lmm_record *o) {
  if (o->path.rid != n->path.rid) return false;
  if (p->depth == 3) return true; /* a resource write replaces all its instances */
  return o->path.depth != 4 || n->path.depth != 4 || o->path.riid == n->path.riid;
}

int sim_gm_update(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_records *recs, char *why,
                  size_t cap) {
  sim_device *d = &f->dev[i];
  sim_gm_inst *gi = sim_gm_find(d, p->iid);
  lmm_records old = {0}, merged = {0};
  lmm_group_mgmt g;
  if (!gi) return say(why, cap, COAP_RESPONSE_CODE(404), "no instance %u", p->iid);
  int rc = check_records(&f->gm_def, recs, false, why, cap);
  if (rc) return rc;
  if (lmm_group_mgmt_to_records(&gi->g, p->oid, p->iid, &old) != LMM_OK) {
    lmm_records_clear(&old);
    return COAP_RESPONSE_CODE(500);
  }
  /* Partial update semantics (LwM2M 1.1 Write-Partial Update): what the payload names is
   * replaced, everything else stays. */
  for (size_t k = 0; k < old.n && !rc; k++) {
    bool gone = false;
    for (size_t j = 0; j < recs->n && !gone; j++)
      gone = covers(p, &recs->items[j], &old.items[k]);
    if (!gone && lmm_records_add(&merged, &old.items[k].path, &old.items[k].value) != LMM_OK)
      rc = COAP_RESPONSE_CODE(500);
  }
  for (size_t j = 0; j < recs->n && !rc; j++)
    if (lmm_records_add(&merged, &recs->items[j].path, &recs->items[j].value) != LMM_OK)
      rc = COAP_RESPONSE_CODE(500);
  if (!rc) rc = build(&merged, &g, why, cap);
  lmm_records_clear(&old);
  lmm_records_clear(&merged);
  if (rc) return rc;
  lmm_group_mgmt_clear(&gi->g);
  gi->g = g;
  changed(f, i, p->iid);
  return 0;
}

int sim_gm_delete(sim_fleet *f, unsigned i, uint16_t iid) {
  sim_device *d = &f->dev[i];
  sim_gm_inst *gi = sim_gm_find(d, iid);
  if (!gi) return COAP_RESPONSE_CODE(404);
  lmm_group_mgmt_clear(&gi->g);
  size_t at = (size_t)(gi - d->gm);
  memmove(&d->gm[at], &d->gm[at + 1], (d->n_gm - at - 1) * sizeof *d->gm);
  d->n_gm--;
  sim_attr_forget(d, f->cfg->gm_oid, iid); /* they belonged to the instance */
  changed(f, i, iid);
  return 0;
}

/* The seam for group delivery: the device joins the bearers of the instances' TMGIs and their
 * Multicast Addresses, and leaves what none names any more (group.c). Runs inside a CoAP
 * request handler: it must not block. */
void sim_on_group_mgmt_changed(sim_fleet *f, unsigned i, uint16_t iid) {
  (void)iid; /* every instance is looked at: another one may name the same group */
  sim_group_sync(f, i);
}

bool sim_filtered(sim_fleet *f, const coap_session_t *s) {
  if (!f->cfg->server_only) return false;
  const coap_address_t *ra = coap_session_get_addr_remote(s);
  if (ra && ra->addr.sa.sa_family == AF_INET &&
      ntohl(ra->addr.sin.sin_addr.s_addr) == f->cfg->server_addr &&
      ntohs(ra->addr.sin.sin_port) == f->cfg->server_port)
    return false;
  f->filtered++;
  if (f->cfg->verbose) {
    char from[INET6_ADDRSTRLEN + 8] = "?";
    if (ra && ra->addr.sa.sa_family == AF_INET) {
      char a[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &ra->addr.sin.sin_addr, a, sizeof a);
      snprintf(from, sizeof from, "%s:%u", a, ntohs(ra->addr.sin.sin_port));
    }
    fprintf(stderr, "request from %s ignored: not the server's address (--server-addr)\n", from);
  }
  return true;
}
