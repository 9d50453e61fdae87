/* ops_read.c - lwm2m-mbms-sim: Read of the devices' objects, in the content format asked for
 * (Discover, in discover.c, when that is application/link-format). */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "fw.h"

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

/* Object 5 is the firmware's (fw.c), 2 the access control's (acl.c), every other the
 * device's. */
static int read_instance(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid, lmm_records *out) {
  if (oid == 5 && sim_instance_exists(f, i, oid, iid)) return sim_fw_read(f, i, out);
  if (oid == 2) return sim_acl_read(f, i, oid, iid, out);
  return sim_dev_read(f, i, oid, iid, out);
}

/* Appends the records of the instances the request path covers (one, or all of the object). */
int sim_collect(sim_req *r, lmm_records *out) {
  lmm_records all = {0};
  int rc = 0;
  if (r->p.depth == 1) {
    if (r->p.oid == r->f->cfg->gm_oid) {
      /* A Read of the object gives the instances the server may read (LwM2M 1.1 Core 7.3):
       * ssid 0 is a read already allowed (an observation's). */
      for (unsigned k = 0; k < r->d->n_gm && !rc; k++)
        if (!r->ssid ||
            (sim_acl_rights(r->f, r->i, r->ssid, r->p.oid, r->d->gm[k].iid) & SIM_ACL_READ))
          rc = read_instance(r->f, r->i, r->p.oid, r->d->gm[k].iid, &all);
    } else if (r->p.oid == 1) {
      for (unsigned k = 0; k < r->f->cfg->n_servers && !rc; k++)
        rc = read_instance(r->f, r->i, 1, (uint16_t)k, &all);
    } else if (r->p.oid == 2) {
      for (unsigned k = 0; k < r->d->n_aco && !rc; k++)
        rc = read_instance(r->f, r->i, 2, r->d->aco[k].iid, &all);
    } else {
      rc = read_instance(r->f, r->i, r->p.oid, 0, &all);
    }
  } else {
    rc = read_instance(r->f, r->i, r->p.oid, r->p.iid, &all);
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

/* ------------------------------------------------------------------ Observe */

int sim_read_observed(sim_fleet *f, unsigned i, const lmm_path *p, int accept, uint8_t **body,
                      size_t *len, double *num, bool *has_num, bool want_num) {
  sim_req r = {
      .f = f, .i = i, .d = &f->dev[i], .p = *p, .method = SIM_M_GET, .cf = -1, .accept = accept};
  sim_reply rp = {.fmt = -1};
  *body = NULL, *len = 0, *has_num = false;
  if (!(r.def = sim_obj_def(f, p->oid))) return COAP_RESPONSE_CODE(404);
  sim_do_read(&r, &rp);
  if (rp.code == COAP_RESPONSE_CODE(205)) {
    if ((*body = malloc(rp.len ? rp.len : 1))) memcpy(*body, rp.body, rp.len), *len = rp.len;
  } else if ((*body = (uint8_t *)strdup(rp.diag))) {
    *len = strlen(rp.diag);
  }
  if (rp.body_lmm)
    lmm_free(rp.body);
  else
    free(rp.body);
  if (!*body) return COAP_RESPONSE_CODE(500);
  if (want_num && rp.code == COAP_RESPONSE_CODE(205) && p->depth >= 3) {
    lmm_records recs = {0};
    if (sim_collect(&r, &recs) == 0 && recs.n == 1) {
      const lmm_value *v = &recs.items[0].value;
      *has_num = true;
      if (v->type == LMM_RT_INTEGER || v->type == LMM_RT_TIME)
        *num = (double)v->v.i;
      else if (v->type == LMM_RT_UNSIGNED)
        *num = (double)v->v.u;
      else if (v->type == LMM_RT_FLOAT)
        *num = v->v.f;
      else
        *has_num = false;
    }
    lmm_records_clear(&recs);
  }
  return rp.code;
}
