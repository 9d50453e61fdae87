/* ops_write.c - lwm2m-mbms-sim: Write, Write-Partial Update, Create, Execute, Write-Attributes
 * and Delete. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "attrs.h"
#include "fw.h"
#include "group.h"

/* ------------------------------------------------------------------ Write, Create */

/* Content-Format of a write payload, or -1 with the reply set. */
/* Objects 3, 5, 6 and those of --objects: object 5 is the firmware's (fw.c), the others the
 * device's. Every record is checked before anything changes. */
static int write_fixed(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_records *recs,
                       char *why, size_t cap) {
  int rc = sim_check_records(sim_obj_def(f, p->oid), recs, false, why, cap);
  if (rc) return rc;
  return p->oid == 5 ? sim_fw_write(f, i, recs, why, cap) : sim_dev_write(f, i, p, recs, why, cap);
}

/* Execute on /oid/iid/rid of objects 3 and 5. Returns 0 or a CoAP code. */
static int execute(sim_fleet *f, unsigned i, const lmm_path *p) {
  const lmm_res_def *rd = lmm_obj_def_res(sim_obj_def(f, p->oid), p->rid);
  if (!rd) return COAP_RESPONSE_CODE(404);
  if (!(rd->ops & LMM_OP_E)) return COAP_RESPONSE_CODE(405);
  if (p->oid == 5 && p->rid == 2) return sim_fw_update(f, i);
  return 0; /* Reboot (3/0/4): accepted; a simulated device comes back at once, unchanged */
}

static int write_format(const sim_req *r, const lmm_res_def *rd, sim_reply *rp) {
  bool single = sim_single_value(&r->p, rd);
  if (r->cf < 0) {
    int f = rd && rd->type == LMM_RT_OPAQUE ? LMM_FMT_OPAQUE : LMM_FMT_TEXT;
    if (!single) {
      sim_fail(rp, CODE(400), "Content-Format missing");
      return -1;
    }
    if (!sim_fmt_known(r->f->cfg, f)) {
      sim_fail(rp, CODE(415),
               "no Content-Format: read as format %d, which this device does not take", f);
      return -1;
    }
    return f;
  }
  if (!sim_fmt_known(r->f->cfg, r->cf)) {
    sim_fail(rp, CODE(415), "this device does not take format %d", r->cf);
    return -1;
  }
  if (r->cf == LMM_FMT_SENML_JSON && sim_is_tlv_only(r)) {
    sim_fail(rp, CODE(415), "this LwM2M 1.0 device speaks TLV only");
    return -1;
  }
  if (r->cf == LMM_FMT_SENML_JSON || r->cf == LMM_FMT_TLV) return r->cf;
  if (single && (r->cf == LMM_FMT_TEXT || r->cf == LMM_FMT_OPAQUE)) return r->cf;
  sim_fail(rp, CODE(415), "Content-Format %d not accepted here", r->cf);
  return -1;
}

/* Decodes the payload for `base`; false with the reply set (4.00 and the codec's reason). */
static bool decode(const sim_req *r, int fmt, const lmm_path *base, lmm_records *out,
                   sim_reply *rp) {
  char why[160] = "";
  if (lmm_lwm2m_decode((uint16_t)fmt, base, r->data, r->len, r->def, out, why, sizeof why) !=
      LMM_OK) {
    sim_fail(rp, CODE(400), "malformed payload: %s", why[0] ? why : "cannot decode");
    return false;
  }
  for (size_t k = 0; k < out->n; k++) {
    const lmm_path *p = &out->items[k].path;
    if (p->depth < 3 || !lmm_path_within(base, p)) {
      char a[32], b[32];
      sim_fail(rp, CODE(400), "value for %s outside %s", lmm_path_format(p, a, sizeof a),
               lmm_path_format(base, b, sizeof b));
      return false;
    }
  }
  return true;
}

/* Everything about a PUT or POST that does not need the payload: target, method, format. Run
 * on the first block already, so that a refused transfer stops there. Returns the payload's
 * format, 0 when there is none to decode (Execute, Write-Attributes), or -1 with the reply
 * set. */
int sim_precheck(const sim_req *r, sim_reply *rp) {
  const lmm_res_def *rd = NULL;
  bool gm = r->p.oid == r->f->cfg->gm_oid;
  bool exists = r->p.depth >= 2 && sim_instance_exists(r->f, r->i, r->p.oid, r->p.iid);
  if (r->method == SIM_M_POST) {
    if (r->p.depth == 1) {
      if (!gm && r->p.oid != 2) REFUSE(rp, CODE(405), "object %u has a single instance", r->p.oid);
      return write_format(r, NULL, rp);
    }
    if (!exists) REFUSE(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
    if (r->p.depth == 4) REFUSE(rp, CODE(405), "POST on a resource instance");
    if (r->p.depth == 3) { /* Execute: arguments, if any, are ignored */
      if (!(rd = sim_target_res(r, rp))) return -1;
      if (!(rd->ops & LMM_OP_E))
        REFUSE(rp, CODE(405), "resource %u (%s) is not executable", rd->id, rd->name);
      return 0;
    }
    return write_format(r, NULL, rp); /* Write-Partial Update */
  }
  /* PUT with a query and no payload is Write-Attributes (attrs.c). */
  if (r->has_query && r->len == 0) {
    if (r->p.depth >= 2 && !exists) REFUSE(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
    if (r->p.depth >= 3 && !sim_target_res(r, rp)) return -1;
    return 0;
  }
  if (r->p.depth == 1) REFUSE(rp, CODE(405), "Write on an object");
  /* Writing a whole Group Mgmt instance that does not exist creates it: the server's step 3
   * write is a replace, whether or not the member had the instance. */
  if (!exists && !(gm && r->p.depth == 2))
    REFUSE(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
  if (r->p.depth >= 3) {
    if (!(rd = sim_target_res(r, rp))) return -1;
    if (!(rd->ops & LMM_OP_W))
      REFUSE(rp, CODE(405), "resource %u (%s) is not writable", rd->id, rd->name);
  }
  return write_format(r, rd, rp);
}

void sim_do_put(sim_req *r, sim_reply *rp) {
  lmm_records recs = {0};
  int fmt = sim_precheck(r, rp);
  if (fmt < 0) return;
  if (fmt == 0 && r->has_query && r->len == 0) {
    int rc = sim_attr_write(r->f, r->i, &r->p, r->def, r->pdu, rp->diag, sizeof rp->diag);
    rp->code = rc ? rc : CODE(204);
    return;
  }
  if (!decode(r, fmt, &r->p, &recs, rp)) goto out;
  if (recs.n == 0 && r->p.depth >= 3) {
    sim_fail(rp, CODE(400), "no value in the payload");
    goto out;
  }
  int rc;
  if (r->p.oid == r->f->cfg->gm_oid)
    rc = r->p.depth == 2
             ? sim_gm_replace(r->f, r->i, r->ssid, r->p.iid, &recs, rp->diag, sizeof rp->diag)
             : sim_gm_update(r->f, r->i, r->ssid, &r->p, &recs, rp->diag, sizeof rp->diag);
  else if (r->p.oid == 2)
    rc = sim_aco_write(r->f, r->i, r->ssid, &r->p, &recs, r->p.depth == 2, rp->diag,
                       sizeof rp->diag);
  else
    rc = write_fixed(r->f, r->i, &r->p, &recs, rp->diag, sizeof rp->diag);
  rp->code = rc ? rc : CODE(204);
out:
  lmm_records_clear(&recs);
}

static uint16_t aco_free_iid(const sim_device *d) {
  uint16_t iid = 0; /* sorted: the first gap */
  for (unsigned k = 0; k < d->n_aco && d->aco[k].iid == iid; k++)
    iid++;
  return iid;
}

static void do_create(sim_req *r, int fmt, sim_reply *rp) {
  lmm_records recs = {0};
  uint16_t iid = 0;
  if (!decode(r, fmt, &r->p, &recs, rp)) {
    /* A Create may carry the resources alone (TLV without an Object Instance TLV): the device
     * then picks the instance ID. */
    sim_reply second = {0};
    lmm_path base = {r->p.oid, r->p.oid == 2 ? aco_free_iid(r->d) : sim_gm_free_iid(r->d), 0, 0, 2};
    lmm_records_clear(&recs);
    if (!decode(r, fmt, &base, &recs, &second)) goto out; /* the first reason is clearer */
    rp->code = 0, rp->diag[0] = '\0';
  }
  int rc = r->p.oid == 2
               ? sim_aco_create(r->f, r->i, r->ssid, &recs, &iid, rp->diag, sizeof rp->diag)
               : sim_gm_create(r->f, r->i, r->ssid, &recs, &iid, rp->diag, sizeof rp->diag);
  if (rc) {
    rp->code = rc;
  } else {
    rp->code = CODE(201);
    rp->loc = true, rp->loc_oid = r->p.oid, rp->loc_iid = iid;
  }
out:
  lmm_records_clear(&recs);
}

void sim_do_post(sim_req *r, sim_reply *rp) {
  int fmt = sim_precheck(r, rp);
  if (fmt < 0) return;
  if (r->p.depth == 1) {
    do_create(r, fmt, rp);
    return;
  }
  if (r->p.depth == 3) {
    int rc = execute(r->f, r->i, &r->p);
    if (rc == CODE(405)) FAIL(rp, rc, "Update is allowed in state 2 (Downloaded) only");
    rp->code = rc ? rc : CODE(204);
    return;
  }
  lmm_records recs = {0}; /* Write-Partial Update of an instance */
  if (decode(r, fmt, &r->p, &recs, rp)) {
    int rc = r->p.oid == r->f->cfg->gm_oid
                 ? sim_gm_update(r->f, r->i, r->ssid, &r->p, &recs, rp->diag, sizeof rp->diag)
             : r->p.oid == 2 ? sim_aco_write(r->f, r->i, r->ssid, &r->p, &recs, false, rp->diag,
                                             sizeof rp->diag)
                             : write_fixed(r->f, r->i, &r->p, &recs, rp->diag, sizeof rp->diag);
    rp->code = rc ? rc : CODE(204);
  }
  lmm_records_clear(&recs);
}

void sim_do_delete(sim_req *r, sim_reply *rp) {
  if (r->p.oid == 2 && r->p.depth == 2) {
    int rc = sim_aco_delete(r->f, r->i, r->ssid, r->p.iid, rp->diag, sizeof rp->diag);
    rp->code = rc ? rc : CODE(202);
    return;
  }
  if (r->p.oid != r->f->cfg->gm_oid || r->p.depth != 2) {
    if (r->p.depth >= 2 && !sim_instance_exists(r->f, r->i, r->p.oid, r->p.iid))
      FAIL(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
    FAIL(rp, CODE(405), "Delete is for Group Mgmt and Access Control instances only");
  }
  int rc = sim_gm_delete(r->f, r->i, r->p.iid);
  if (rc) FAIL(rp, rc, "no instance /%u/%u", r->p.oid, r->p.iid);
  rp->code = CODE(202);
}
