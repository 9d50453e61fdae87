/* ops_read.c - lwm2m-mbms-sim: Read and Discover of the devices' objects, in the content
 * format asked for. */
#include "serve.h"

#include <stdarg.h>
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
static int collect(sim_req *r, lmm_records *out) {
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

/* ------------------------------------------------------------------ Discover */

static bool append(char **s, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool append(char **s, size_t *len, size_t *cap, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*s ? *s + *len : NULL, *s ? *cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    if (*s && *len + (size_t)n < *cap) {
      *len += (size_t)n;
      return true;
    }
    size_t nc = (*cap ? *cap : 256) * 2 + (size_t)n;
    char *ns = realloc(*s, nc);
    if (!ns) return false;
    *s = ns, *cap = nc;
  }
}

/* Link list of what the path holds (RFC 6690, LwM2M Discover): the path itself, the
 * instances under an object, and each resource with dim=N for multiple ones. Resources
 * without a value (Execute, write-only) are listed for the fixed objects. */
static void do_discover(sim_req *r, sim_reply *rp) {
  lmm_records recs = {0};
  char *s = NULL;
  size_t len = 0, cap = 0;
  bool ok = true;
  int rc = collect(r, &recs);
  if (rc) {
    sim_fail(rp, rc, "cannot read");
    goto out;
  }
  if (r->p.depth == 1) {
    ok = append(&s, &len, &cap, "</%u>;ver=%s", r->p.oid, r->def->version);
    if (r->p.oid == r->f->cfg->gm_oid)
      for (unsigned k = 0; ok && k < r->d->n_gm; k++)
        ok = append(&s, &len, &cap, ",</%u/%u>", r->p.oid, r->d->gm[k].iid);
    else
      ok = append(&s, &len, &cap, ",</%u/0>", r->p.oid);
  } else if (r->p.depth == 2) {
    ok = append(&s, &len, &cap, "</%u/%u>", r->p.oid, r->p.iid);
  }
  bool fixed = r->p.oid != r->f->cfg->gm_oid;
  for (size_t k = 0; ok && r->p.depth > 1 && k < r->def->n_res; k++) {
    const lmm_res_def *rd = &r->def->res[k];
    if (r->p.depth >= 3 && rd->id != r->p.rid) continue;
    unsigned dim = 0, any = 0;
    for (size_t j = 0; j < recs.n; j++)
      if (recs.items[j].path.rid == rd->id) any++, dim += recs.items[j].path.depth == 4;
    if (!any && !(fixed && !(rd->ops & LMM_OP_R))) continue;
    const char *sep = len ? "," : "";
    if (r->p.depth == 4)
      ok = append(&s, &len, &cap, "%s</%u/%u/%u/%u>", sep, r->p.oid, r->p.iid, r->p.rid, r->p.riid);
    else if (rd->multiple)
      ok = append(&s, &len, &cap, "%s</%u/%u/%u>;dim=%u", sep, r->p.oid, r->p.iid, rd->id, dim);
    else
      ok = append(&s, &len, &cap, "%s</%u/%u/%u>", sep, r->p.oid, r->p.iid, rd->id);
  }
  if (!ok || !s) {
    sim_fail(rp, CODE(500), "out of memory");
    goto out;
  }
  rp->code = CODE(205);
  rp->fmt = LMM_FMT_LINK;
  rp->body = (uint8_t *)s, rp->len = len;
  s = NULL;
out:
  free(s);
  lmm_records_clear(&recs);
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
    do_discover(r, rp);
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
  int rc = collect(r, &recs);
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
  rp->body = out, rp->len = len, rp->body_lmm = true;
}
