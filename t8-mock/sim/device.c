/* device.c - the simulated devices: addressing, names and keys, and objects 3, 6 and Group Mgmt. */
#include "device.h"

#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lmm_wire/hex.h"

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

/* Not time(): glibc reads it from the coarse clock, which lags CLOCK_REALTIME by up to a tick,
 * and observe.c looks at Current Time 2 ms after each CLOCK_REALTIME second: with time() the
 * look saw the old second and the clock was notified every other second only. */
int64_t sim_wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

/* The update is simulated by time alone: State stays Updating for --update-ms, then the
 * package becomes the running firmware. Checked lazily, on every access to the device, so
 * that 10,000 devices need no timers. */
void sim_fw_tick(sim_fleet *f, sim_device *d, int64_t now_ms) {
  (void)f;
  if (d->fw.state != SIM_FW_UPDATING || now_ms < d->fw.update_done_ms) return;
  d->fw.state = SIM_FW_IDLE;
  if (d->flags & SIM_DEV_FW_REFUSE) { /* the old firmware keeps running */
    d->fw.result = SIM_RES_UPDATE_FAILED;
    return;
  }
  /* Many sample clients install the package and go back to Idle without ever setting Update
   * Result 1: a server must learn the outcome from the firmware version. */
  d->fw.result = (d->flags & SIM_DEV_FW_NO_SUCCESS) ? SIM_RES_INITIAL : SIM_RES_SUCCESS;
  memcpy(d->fw.installed, d->fw.digest, sizeof d->fw.installed);
  d->fw.has_installed = true;
  d->c.fw_updates++;
}

void sim_count_response(sim_device *d, int code) {
  int cls = code >> 5;
  if (cls == 2) d->c.resp[SIM_C_2XX]++;
  if (cls == 4) d->c.resp[SIM_C_4XX]++;
  if (cls == 5) d->c.resp[SIM_C_5XX]++;
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
  return 0;
}

void sim_fleet_free(sim_fleet *f) {
  for (unsigned i = 0; f->dev && i < f->n; i++) {
    sim_device *d = &f->dev[i];
    if (d->rx) free(d->rx->buf);
    free(d->rx);
    for (unsigned k = 0; k < d->n_gm; k++)
      lmm_group_mgmt_clear(&d->gm[k].g);
    free(d->gm);
    free(d->aco);
    if (d->kept) lmm_records_clear(d->kept);
    free(d->kept);
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
  if (!rc) rc = add_time(out, 3, 13, sim_wall_s() + d->time_offset);
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

/* Server (1): one instance per account (--server). What nothing simulates (Lifetime,
 * Binding...) reads as a plain default until the server writes it; then it is kept. */
static int read_server(sim_fleet *f, unsigned i, uint16_t iid, lmm_records *out) {
  const sim_device *d = &f->dev[i];
  static const uint16_t defaults[] = {1, 6, 7};
  lmm_path p = {1, iid, 0, 0, 3};
  lmm_value v = {.type = LMM_RT_INTEGER, .v.i = f->cfg->servers[iid].ssid};
  if (lmm_records_add(out, &p, &v) != LMM_OK) return COAP_RESPONSE_CODE(500);
  for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++) {
    bool kept = false;
    for (size_t j = 0; d->kept && j < d->kept->n && !kept; j++) {
      const lmm_path *q = &d->kept->items[j].path;
      kept = q->oid == 1 && q->iid == iid && q->rid == defaults[k];
    }
    if (kept) continue;
    p.rid = defaults[k];
    if (defaults[k] == 1)
      v = (lmm_value){.type = LMM_RT_INTEGER, .v.i = 86400};
    else if (defaults[k] == 6)
      v = (lmm_value){.type = LMM_RT_BOOLEAN, .v.b = false};
    else
      v = (lmm_value){.type = LMM_RT_STRING, .str = (char *)"U"};
    if (lmm_records_add(out, &p, &v) != LMM_OK) return COAP_RESPONSE_CODE(500);
  }
  return add_kept(d, 1, iid, out);
}

const lmm_obj_def *sim_obj_def(const sim_fleet *f, uint16_t oid) {
  if (oid == f->cfg->gm_oid) return &f->gm_def;
  if (oid == 1 || oid == 2 || oid == 3 || oid == 5 || oid == 6) return lmm_obj_def_oma(oid);
  /* Objects of --objects files; the other built-in ones (0, 4, 7) are not simulated. */
  const lmm_obj_def *d = lmm_objects_get(f->cfg->objects, oid);
  return d && d != lmm_obj_def_oma(oid) ? d : NULL;
}

bool sim_instance_exists(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid) {
  if (oid == f->cfg->gm_oid) return sim_gm_find(&f->dev[i], iid) != NULL;
  if (oid == 1) return iid < f->cfg->n_servers; /* one instance per server account */
  if (oid == 2) return sim_aco_find(&f->dev[i], iid) != NULL;
  return sim_obj_def(f, oid) && iid == 0;
}

int sim_dev_read(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid, lmm_records *out) {
  if (!sim_instance_exists(f, i, oid, iid)) return COAP_RESPONSE_CODE(404);
  if (oid == f->cfg->gm_oid) {
    sim_gm_inst *gi = sim_gm_find(&f->dev[i], iid);
    /* The Group Key is write-only: an instance reads back without it (a shallow copy). */
    lmm_group_mgmt g = gi->g;
    g.group_key = NULL, g.group_key_len = 0;
    return lmm_group_mgmt_to_records(&g, oid, iid, out) == LMM_OK ? 0 : COAP_RESPONSE_CODE(500);
  }
  switch (oid) {
  case 1:
    return read_server(f, i, iid, out);
  case 3:
    return read_device(f, i, out);
  case 6:
    return read_location(f, i, out);
  default: /* an --objects object: what was written to it */
    return add_kept(&f->dev[i], oid, iid, out);
  }
}

int sim_refuse(char *why, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && cap) vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return code;
}

/* Checks every record against the definition before anything changes: unknown resource ->
 * 4.04, not writable -> 4.05 (unless `any` allows R resources: the whole-instance write). */
int sim_check_records(const lmm_obj_def *def, const lmm_records *recs, bool any, char *why,
                      size_t cap) {
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_path *p = &recs->items[k].path;
    const lmm_res_def *rd = lmm_obj_def_res(def, p->rid);
    if (p->depth < 3 || !rd)
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(404), "no resource %u in object %u", p->rid,
                        def->oid);
    if (p->depth == 4 && !rd->multiple)
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(404), "resource %u has no instances", p->rid);
    if (!(rd->ops & LMM_OP_W) && !(any && (rd->ops & LMM_OP_R)))
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(405), "resource %u (%s) is not writable",
                        p->rid, rd->name);
  }
  return 0;
}

int sim_dev_write(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_records *recs, char *why,
                  size_t cap) {
  sim_device *d = &f->dev[i];
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_record *r = &recs->items[k];
    int rc = 0;
    if (p->oid == 3 && r->path.rid == 13)
      d->time_offset = r->value.v.i - sim_wall_s();
    else /* nothing to simulate: kept and read back */
      rc = keep(d, r);
    if (rc) return sim_refuse(why, cap, rc, "out of memory");
  }
  return 0;
}

/* ------------------------------------------------------------------ Group Mgmt */

sim_gm_inst *sim_gm_find(sim_device *d, uint16_t iid) {
  for (unsigned k = 0; k < d->n_gm; k++)
    if (d->gm[k].iid == iid) return &d->gm[k];
  return NULL;
}

sim_aco *sim_aco_find(sim_device *d, uint16_t iid) {
  for (unsigned k = 0; k < d->n_aco; k++)
    if (d->aco[k].iid == iid) return &d->aco[k];
  return NULL;
}

uint16_t sim_gm_free_iid(const sim_device *d) {
  uint16_t iid = 0; /* gm is sorted: the first gap */
  for (unsigned k = 0; k < d->n_gm && d->gm[k].iid == iid; k++)
    iid++;
  return iid;
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
