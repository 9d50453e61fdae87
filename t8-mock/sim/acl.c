/* acl.c - lwm2m-mbms-sim: LwM2M Server accounts (/1) and Access Control (/2), the rules of
 * LwM2M 1.1 Core section 7.3 as docs/access-control.md states them. */
#include "acl.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define ACL_RID_OID   0
#define ACL_RID_OIID  1
#define ACL_RID_ACL   2
#define ACL_RID_OWNER 3
#define ACL_BOOTSTRAP 65535u /* owner MAX_ID: changed in a bootstrap only */

uint16_t sim_acl_ssid_of(const sim_fleet *f, const coap_session_t *s) {
  const sim_config *c = f->cfg;
  const coap_address_t *ra = s ? coap_session_get_addr_remote(s) : NULL;
  uint16_t any = 0;
  for (unsigned k = 0; k < c->n_servers; k++) {
    const sim_server *sv = &c->servers[k];
    if (!sv->has_addr) {
      any = sv->ssid;
      continue;
    }
    if (ra && ra->addr.sa.sa_family == AF_INET && ntohl(ra->addr.sin.sin_addr.s_addr) == sv->addr &&
        ntohs(ra->addr.sin.sin_port) == sv->port)
      return sv->ssid;
  }
  return any;
}

static bool known_ssid(const sim_fleet *f, long ssid) {
  for (unsigned k = 0; k < f->cfg->n_servers; k++)
    if (f->cfg->servers[k].ssid == ssid) return true;
  return false;
}

/* ------------------------------------------------------------------ instances */

static sim_aco *aco_for(sim_device *d, uint16_t oid, uint16_t oiid) {
  for (unsigned k = 0; k < d->n_aco; k++)
    if (d->aco[k].oid == oid && d->aco[k].oiid == oiid) return &d->aco[k];
  return NULL;
}

static uint16_t free_iid(const sim_device *d) {
  uint16_t iid = 0; /* sorted: the first gap */
  for (unsigned k = 0; k < d->n_aco && d->aco[k].iid == iid; k++)
    iid++;
  return iid;
}

/* Inserts a copy of `a` in iid order. 0 or 5.00. */
static int insert(sim_device *d, const sim_aco *a) {
  if (d->n_aco >= SIM_ACO_MAX) return COAP_RESPONSE_CODE(500);
  if (d->n_aco == d->cap_aco) {
    uint16_t nc = d->cap_aco ? (uint16_t)(d->cap_aco * 2) : 8;
    sim_aco *n = realloc(d->aco, nc * sizeof *n);
    if (!n) return COAP_RESPONSE_CODE(500);
    d->aco = n, d->cap_aco = nc;
  }
  unsigned at = 0;
  while (at < d->n_aco && d->aco[at].iid < a->iid)
    at++;
  memmove(&d->aco[at + 1], &d->aco[at], (d->n_aco - at) * sizeof *d->aco);
  d->aco[at] = *a;
  d->n_aco++;
  return 0;
}

static int add_new(sim_device *d, uint16_t oid, uint16_t oiid, uint16_t owner) {
  sim_aco a = {.iid = free_iid(d), .oid = oid, .oiid = oiid, .owner = owner};
  return insert(d, &a);
}

int sim_acl_provision(sim_fleet *f) {
  if (!sim_acl_on(f)) return 0;
  uint16_t owner = f->cfg->servers[0].ssid;
  uint16_t oids[8 + 64];
  size_t n = 0;
  oids[n++] = 3, oids[n++] = 5, oids[n++] = 6;
  /* The --objects objects' instance 0 too: without an Access Control instance a second server
   * could not reach them at all. */
  for (uint32_t oid = 7; oid < 65535 && n < sizeof oids / sizeof *oids; oid++)
    if (oid != f->cfg->gm_oid && sim_obj_def(f, (uint16_t)oid)) oids[n++] = (uint16_t)oid;
  for (unsigned i = 0; i < f->n; i++) {
    sim_device *d = &f->dev[i];
    for (size_t k = 0; k < n; k++)
      if (add_new(d, oids[k], 0, owner)) return -1;
    if (add_new(d, f->cfg->gm_oid, SIM_ACL_OBJECT_IID, owner)) return -1;
  }
  return 0;
}

int sim_acl_created(sim_fleet *f, unsigned i, uint16_t oid, uint16_t oiid, uint16_t ssid) {
  sim_device *d = &f->dev[i];
  if (!sim_acl_on(f) || aco_for(d, oid, oiid)) return 0;
  return add_new(d, oid, oiid, ssid);
}

static void remove_at(sim_device *d, sim_aco *a) {
  size_t at = (size_t)(a - d->aco);
  memmove(&d->aco[at], &d->aco[at + 1], (d->n_aco - at - 1) * sizeof *d->aco);
  d->n_aco--;
}

void sim_acl_deleted(sim_fleet *f, unsigned i, uint16_t oid, uint16_t oiid) {
  sim_device *d = &f->dev[i];
  sim_aco *a = aco_for(d, oid, oiid);
  if (a) remove_at(d, a);
}

/* ------------------------------------------------------------------ rights */

unsigned sim_acl_rights(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t oid, uint16_t oiid) {
  if (!sim_acl_on(f)) return SIM_ACL_ALL;
  const sim_aco *a = aco_for(&f->dev[i], oid, oiid);
  if (!a || ssid == 0) return 0;
  for (unsigned k = 0; k < a->n_acl; k++)
    if (a->acl_ssid[k] == ssid) return a->acl_bits[k];
  if (a->owner == ssid) return SIM_ACL_ALL;
  for (unsigned k = 0; k < a->n_acl; k++)
    if (a->acl_ssid[k] == 0) return a->acl_bits[k];
  return 0;
}

static const char *right_name(unsigned right) {
  switch (right) {
  case SIM_ACL_READ:
    return "Read";
  case SIM_ACL_WRITE:
    return "Write";
  case SIM_ACL_EXECUTE:
    return "Execute";
  case SIM_ACL_DELETE:
    return "Delete";
  default:
    return "Create";
  }
}

int sim_acl_check(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t oid, uint16_t oiid,
                  unsigned right, char *why, size_t cap) {
  if ((sim_acl_rights(f, i, ssid, oid, oiid) & right) == right) return 0;
  if (oiid == SIM_ACL_OBJECT_IID)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(401), "access control: server %u may not %s /%u",
                      ssid, right_name(right), oid);
  return sim_refuse(why, cap, COAP_RESPONSE_CODE(401),
                    "access control: server %u may not %s /%u/%u", ssid, right_name(right), oid,
                    oiid);
}

/* ------------------------------------------------------------------ Read */

static int add_int(lmm_records *out, uint16_t oid, uint16_t iid, uint16_t rid, int riid,
                   int64_t v) {
  lmm_path p = {oid, iid, rid, riid < 0 ? 0 : (uint16_t)riid, riid < 0 ? 3 : 4};
  lmm_value val = {.type = LMM_RT_INTEGER, .v.i = v};
  return lmm_records_add(out, &p, &val) == LMM_OK ? 0 : COAP_RESPONSE_CODE(500);
}

int sim_acl_read(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid, lmm_records *out) {
  int rc = 0;
  (void)oid; /* /1 is the device's (device.c) */
  const sim_aco *a = sim_aco_find(&f->dev[i], iid);
  if (!a) return COAP_RESPONSE_CODE(404);
  rc = add_int(out, 2, iid, ACL_RID_OID, -1, a->oid);
  if (!rc) rc = add_int(out, 2, iid, ACL_RID_OIID, -1, a->oiid);
  for (unsigned k = 0; k < a->n_acl && !rc; k++)
    rc = add_int(out, 2, iid, ACL_RID_ACL, a->acl_ssid[k], a->acl_bits[k]);
  if (!rc) rc = add_int(out, 2, iid, ACL_RID_OWNER, -1, a->owner);
  return rc;
}

/* ------------------------------------------------------------------ Write */

static int set_entry(sim_aco *a, long ssid, int64_t bits, char *why, size_t cap) {
  if (ssid < 0 || ssid > 65534)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400),
                      "ACL entry %ld: not a Short Server ID (0 default, 1..65534)", ssid);
  if (bits < 0 || bits > SIM_ACL_ALL)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "ACL entry %ld: rights %lld not 0..31",
                      ssid, (long long)bits);
  for (unsigned k = 0; k < a->n_acl; k++)
    if (a->acl_ssid[k] == ssid) {
      a->acl_bits[k] = (uint8_t)bits;
      return 0;
    }
  if (a->n_acl >= SIM_ACL_MAX)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "more than %u ACL entries", SIM_ACL_MAX);
  a->acl_ssid[a->n_acl] = (uint16_t)ssid;
  a->acl_bits[a->n_acl++] = (uint8_t)bits;
  return 0;
}

static bool int_of(const lmm_value *v, int64_t *out) {
  if (v->type == LMM_RT_INTEGER || v->type == LMM_RT_TIME)
    *out = v->v.i;
  else if (v->type == LMM_RT_UNSIGNED && v->v.u <= INT64_MAX)
    *out = (int64_t)v->v.u;
  else
    return false;
  return true;
}

/* Applies `recs` to `a` (a copy: the caller keeps it only when everything applied). Object ID
 * and Object Instance ID may be named only with their current values: they say what the
 * instance governs, which a Write cannot move. */
static int apply(sim_fleet *f, sim_aco *a, const lmm_path *p, const lmm_records *recs,
                 bool clear_acl, char *why, size_t cap) {
  if (clear_acl) a->n_acl = 0;
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_record *r = &recs->items[k];
    int64_t v;
    if (!int_of(&r->value, &v))
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "resource %u: not an integer",
                        r->path.rid);
    switch (r->path.rid) {
    case ACL_RID_OID:
    case ACL_RID_OIID:
      if (v != (r->path.rid == ACL_RID_OID ? a->oid : a->oiid))
        return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "resource %u (%s) cannot change",
                          r->path.rid,
                          r->path.rid == ACL_RID_OID ? "Object ID" : "Object Instance ID");
      break;
    case ACL_RID_ACL: {
      if (r->path.depth != 4)
        return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "ACL needs resource instances");
      int rc = set_entry(a, r->path.riid, v, why, cap);
      if (rc) return rc;
      break;
    }
    case ACL_RID_OWNER:
      if (!known_ssid(f, v) && v != ACL_BOOTSTRAP)
        return sim_refuse(why, cap, COAP_RESPONSE_CODE(400),
                          "Access Control Owner %lld is no server account of this device",
                          (long long)v);
      a->owner = (uint16_t)v;
      break;
    default:
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(404), "no resource %u in object 2",
                        r->path.rid);
    }
  }
  (void)p;
  return 0;
}

static int owner_only(const sim_fleet *f, const sim_aco *a, uint16_t ssid, char *why, size_t cap) {
  if (!sim_acl_on(f) || a->owner == ssid) return 0;
  if (a->owner == ACL_BOOTSTRAP)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(401),
                      "access control: /2/%u is changed by a bootstrap only", a->iid);
  return sim_refuse(why, cap, COAP_RESPONSE_CODE(401),
                    "access control: only its owner (server %u) may change /2/%u", a->owner,
                    a->iid);
}

int sim_aco_write(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_path *p,
                  const lmm_records *recs, bool replace, char *why, size_t cap) {
  sim_aco *a = sim_aco_find(&f->dev[i], p->iid);
  if (!a) return sim_refuse(why, cap, COAP_RESPONSE_CODE(404), "no instance /2/%u", p->iid);
  int rc = owner_only(f, a, ssid, why, cap);
  if (rc) return rc;
  sim_aco next = *a;
  /* A PUT of the ACL resource replaces all its entries, as a PUT of the instance does. */
  bool clear = replace || (p->depth == 3 && p->rid == ACL_RID_ACL);
  if ((rc = apply(f, &next, p, recs, clear, why, cap)) != 0) return rc;
  *a = next;
  return 0;
}

int sim_aco_create(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_records *recs, uint16_t *iid,
                   char *why, size_t cap) {
  sim_device *d = &f->dev[i];
  int64_t oid = -1, oiid = -1;
  if (recs->n == 0)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "Create needs the instance's resources");
  uint16_t id = recs->items[0].path.iid;
  for (size_t k = 0; k < recs->n; k++) {
    const lmm_record *r = &recs->items[k];
    if (r->path.iid != id)
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "Create of more than one instance");
    if (r->path.rid == ACL_RID_OID && !int_of(&r->value, &oid)) oid = -2;
    if (r->path.rid == ACL_RID_OIID && !int_of(&r->value, &oiid)) oiid = -2;
  }
  if (oid < 1 || oid > 65534 || oiid < 0 || oiid > 65535)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400),
                      "Create needs Object ID (1..65534) and Object Instance ID (0..65535)");
  if (sim_aco_find(d, id))
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "instance /2/%u already exists", id);
  if (aco_for(d, (uint16_t)oid, (uint16_t)oiid))
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400),
                      "/%lld/%lld already has an Access Control instance", (long long)oid,
                      (long long)oiid);
  sim_aco a = {.iid = id, .oid = (uint16_t)oid, .oiid = (uint16_t)oiid, .owner = ssid};
  int rc = apply(f, &a, NULL, recs, true, why, cap);
  if (rc) return rc;
  /* A server cannot make an instance that another server would own. */
  if (sim_acl_on(f) && a.owner != ssid)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(401),
                      "access control: server %u cannot create an instance owned by %u", ssid,
                      a.owner);
  if ((rc = insert(d, &a)) != 0) return sim_refuse(why, cap, rc, "no room for more instances");
  *iid = id;
  return 0;
}

int sim_aco_delete(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t iid, char *why, size_t cap) {
  sim_device *d = &f->dev[i];
  sim_aco *a = sim_aco_find(d, iid);
  if (!a) return sim_refuse(why, cap, COAP_RESPONSE_CODE(404), "no instance /2/%u", iid);
  int rc = owner_only(f, a, ssid, why, cap);
  if (rc) return rc;
  remove_at(d, a);
  return 0;
}
