/* group_mgmt.c - lwm2m-mbms-sim: writes of the Group Mgmt object (Create, replace, partial
 * update, Delete), each followed by the device's group membership (group.c). */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "attrs.h"

/* A whole instance must carry every mandatory resource of the definition (Group ID and
 * External Group ID): a device cannot make them up. */
static int check_mandatory(const lmm_obj_def *def, const lmm_records *recs, char *why, size_t cap) {
  for (size_t r = 0; r < def->n_res; r++) {
    if (!def->res[r].mandatory) continue;
    bool found = false;
    for (size_t k = 0; k < recs->n && !found; k++)
      found = recs->items[k].path.rid == def->res[r].id;
    if (!found)
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "mandatory resource %u (%s) is missing",
                        def->res[r].id, def->res[r].name);
  }
  return 0;
}

static int build(const lmm_records *recs, lmm_group_mgmt *g, char *why, size_t cap) {
  char msg[160] = "";
  *g = (lmm_group_mgmt)LMM_GROUP_MGMT_INIT;
  if (lmm_group_mgmt_from_records(recs->items, recs->n, g, msg, sizeof msg) != LMM_OK) {
    lmm_group_mgmt_clear(g);
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "%s", msg[0] ? msg : "invalid instance");
  }
  int rc = sim_gp_check(g, why, cap);
  if (rc) lmm_group_mgmt_clear(g);
  return rc;
}

/* Counts the change and makes the device join the bearers of its instances' TMGIs and their
 * Multicast Addresses, and leave what none names any more (group.c). Every instance is looked
 * at: another one may name the same group. Runs inside a CoAP request handler: it must not
 * block. */
static void changed(sim_fleet *f, unsigned i) {
  f->dev[i].c.gm_changes++;
  sim_group_sync(f, i);
}

/* Inserts or replaces instance `iid` with `g` (taken). */
static int put_instance(sim_device *d, uint16_t iid, lmm_group_mgmt *g) {
  sim_gm_inst *gi = sim_gm_find(d, iid);
  if (gi) {
    lmm_group_mgmt_clear(&gi->g);
    gi->g = *g;
    sim_gp_rekey(gi);
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
  memset(&d->gm[at], 0, sizeof d->gm[at]);
  d->gm[at].iid = iid;
  d->gm[at].g = *g;
  sim_gp_rekey(&d->gm[at]);
  d->n_gm++;
  return 0;
}

static int whole_write(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t iid,
                       const lmm_records *recs, char *why, size_t cap) {
  sim_device *d = &f->dev[i];
  lmm_group_mgmt g;
  bool created = !sim_gm_find(d, iid);
  int rc = sim_check_records(&f->gm_def, recs, true, why, cap);
  if (!rc) rc = check_mandatory(&f->gm_def, recs, why, cap);
  if (!rc && !sim_gm_find(d, iid) && d->n_gm >= SIM_GM_MAX)
    rc = sim_refuse(why, cap, COAP_RESPONSE_CODE(500), "no room for more than %u instances",
                    SIM_GM_MAX);
  if (!rc) rc = build(recs, &g, why, cap);
  if (rc) return rc;
  if (created && (rc = sim_acl_created(f, i, f->cfg->gm_oid, iid, ssid)) != 0) {
    lmm_group_mgmt_clear(&g);
    return sim_refuse(why, cap, rc, "no room for its Access Control instance");
  }
  if ((rc = put_instance(d, iid, &g)) != 0) {
    lmm_group_mgmt_clear(&g);
    if (created) sim_acl_deleted(f, i, f->cfg->gm_oid, iid);
    return sim_refuse(why, cap, rc, "out of memory");
  }
  sim_gm_find(d, iid)->ssid = ssid;
  changed(f, i);
  return 0;
}

int sim_gm_create(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_records *recs, uint16_t *iid,
                  char *why, size_t cap) {
  if (recs->n == 0)
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "Create needs the instance's resources");
  uint16_t id = recs->items[0].path.iid;
  for (size_t k = 1; k < recs->n; k++)
    if (recs->items[k].path.iid != id)
      return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "Create of more than one instance");
  if (sim_gm_find(&f->dev[i], id))
    return sim_refuse(why, cap, COAP_RESPONSE_CODE(400), "instance %u already exists", id);
  *iid = id;
  return whole_write(f, i, ssid, id, recs, why, cap);
}

int sim_gm_replace(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t iid, const lmm_records *recs,
                   char *why, size_t cap) {
  return whole_write(f, i, ssid, iid, recs, why, cap);
}

/* Whether the new record `n`, written at request path `p`, replaces the old record `o`. */
static bool covers(const lmm_path *p, const lmm_record *n, const lmm_record *o) {
  if (o->path.rid != n->path.rid) return false;
  if (p->depth == 3) return true; /* a resource write replaces all its instances */
  return o->path.depth != 4 || n->path.depth != 4 || o->path.riid == n->path.riid;
}

int sim_gm_update(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_path *p,
                  const lmm_records *recs, char *why, size_t cap) {
  sim_device *d = &f->dev[i];
  sim_gm_inst *gi = sim_gm_find(d, p->iid);
  lmm_records old = {0}, merged = {0};
  lmm_group_mgmt g;
  if (!gi) return sim_refuse(why, cap, COAP_RESPONSE_CODE(404), "no instance %u", p->iid);
  int rc = sim_check_records(&f->gm_def, recs, false, why, cap);
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
  sim_gp_rekey(gi);
  gi->ssid = ssid;
  changed(f, i);
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
  sim_acl_deleted(f, i, f->cfg->gm_oid, iid);
  changed(f, i);
  return 0;
}
