/* ops_read.c - lwm2m-mbms-sim: Read of the devices' objects, in the content format asked for
 * (Discover, in discover.c, when that is application/link-format). */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The resource at depth >= 3, with the 4.04 / 4.05 of a path that names none. */
const lmm_res_def *sim_target_res(const sim_req *r, sim_reply *rp) {
  const lmm_res_def *rd = lmm_obj_def_res(r->def, r->p.rid);
  if (!rd) {
    sim_fail(rp, CODE(404), "no resource %u in object %u", r->p.rid, r->p.oid);
    return NULL;
  }
  if (r->p.depth == 4 && !rd->multiple) {
    sim_fail(rp, CODE(404), "resource %u has no instances", r->p.rid);
    return NULL;
  }
  return rd;
}

bool sim_single_value(const lmm_path *p, const lmm_res_def *rd) {
  return p->depth == 4 || (p->depth == 3 && rd && !rd->multiple);
}

bool sim_is_tlv_only(const sim_req *r) {
  return (r->d->flags & SIM_DEV_TLV) != 0;
}

/* Appends the records of the instances the request path covers (one, or all of the object). */
int sim_collect(sim_req *r, lmm_records *out) {
  lmm_records all = {0};
  int rc = 0;
  if (r->p.depth == 1) {
    if (r->p.oid == r->f->cfg->gm_oid) {
      for (unsigned k = 0; k < r->d->n_gm && !rc; k++)
        rc = sim_read_instance(r->f, r->i, r->p.oid, r->d->gm[k].iid, &all);
    } else {
      rc = sim_read_instance(r->f, r->i, r->p.oid, 0, &all);
    }
  } else {
    rc = sim_read_instance(r->f, r->i, r->p.oid, r->p.iid, &all);
  }
  for (size_t k = 0; k < all.n && !rc; k++)
    if (lmm_path_within(&r->p, &all.items[k].path) &&
        lmm_records_add(out, &all.items[k].path, &all.items[k].value) != LMM_OK)
      rc = CODE(500);
  lmm_records_clear(&all);
  return rc;
}

/* ------------------------------------------------------------------ Read */

/* The format of an answer to a Read without Accept: text for a single value (opaque for an
 * opaque resource), SenML-JSON for several, TLV on an LwM2M 1.0 device; a format the device
 * does not know (--formats) gives way to the next, and every device knows TLV or SenML-JSON. */
static int default_format(const sim_req *r, bool single, const lmm_res_def *rd) {
  const sim_config *c = r->f->cfg;
  if (single) {
    int f = rd->type == LMM_RT_OPAQUE ? LMM_FMT_OPAQUE : LMM_FMT_TEXT;
    if (sim_fmt_known(c, f)) return f;
  }
  return sim_is_tlv_only(r) || !sim_fmt_known(c, LMM_FMT_SENML_JSON) ? LMM_FMT_TLV
                                                                     : LMM_FMT_SENML_JSON;
}

void sim_do_read(sim_req *r, sim_reply *rp) {
  const lmm_res_def *rd = NULL;
  lmm_records recs = {0};
  int fmt;
  /* Strict sample clients pick their encoder from the Accept option and fail without one. */
  if (r->accept < 0 && r->f->cfg->require_accept)
    FAIL(rp, CODE(500), "Read without an Accept option: this device needs one");
  if (r->p.depth >= 2 && !sim_instance_exists(r->f, r->i, r->p.oid, r->p.iid))
    FAIL(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
  if (r->p.depth >= 3) {
    if (!(rd = sim_target_res(r, rp))) return;
    if (!(rd->ops & LMM_OP_R))
      FAIL(rp, CODE(405), "resource %u (%s) is not readable", rd->id, rd->name);
  }
  if (r->accept >= 0 && !sim_fmt_known(r->f->cfg, r->accept))
    FAIL(rp, CODE(406), "this device does not produce format %d", r->accept);
  if (r->accept == LMM_FMT_LINK) {
    sim_do_discover(r, rp);
    return;
  }
  bool single = sim_single_value(&r->p, rd);
  if (r->accept >= 0) {
    fmt = r->accept;
    if (fmt == LMM_FMT_SENML_JSON && sim_is_tlv_only(r))
      FAIL(rp, CODE(406), "this LwM2M 1.0 device answers in TLV only");
    if (fmt != LMM_FMT_SENML_JSON && fmt != LMM_FMT_TLV &&
        !(single && (fmt == LMM_FMT_TEXT || fmt == LMM_FMT_OPAQUE)))
      FAIL(rp, CODE(406), "cannot answer %s in format %d",
           single ? "this resource" : "several values", fmt);
  } else {
    fmt = default_format(r, single, rd);
  }
  int rc = sim_collect(r, &recs);
  if (!rc && r->p.depth >= 3 && recs.n == 0) rc = CODE(404);
  if (rc) {
    lmm_records_clear(&recs);
    FAIL(rp, rc, rc == CODE(404) ? "no value" : "cannot read");
  }
  uint8_t *out = NULL;
  size_t len = 0;
  lmm_err e = lmm_lwm2m_encode((uint16_t)fmt, &r->p, recs.items, recs.n, &out, &len);
  lmm_records_clear(&recs);
  if (e != LMM_OK) {
    lmm_free(out);
    FAIL(rp, r->accept >= 0 ? CODE(406) : CODE(500), "cannot encode in format %d: %s", fmt,
         lmm_strerror(e));
  }
  rp->code = CODE(205);
  rp->fmt = fmt;
  r->read = true;
  rp->body = out, rp->len = len, rp->body_lmm = true;
}
