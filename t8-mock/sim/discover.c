/* discover.c - lwm2m-mbms-sim: Discover (LwM2M 1.1 Core, Device Management and Service
 * Enablement interface): the link list (RFC 6690) of an object, an instance or a resource. */
#include "serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"

/* A growing text; `ok` turns false for good when memory runs out. */
typedef struct text {
  char *s;
  size_t len, cap;
  bool ok;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
  while (t->ok) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) break;
    if (t->s && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t nc = (t->cap ? t->cap : 256) * 2 + (size_t)n;
    char *ns = realloc(t->s, nc);
    if (!ns) break;
    t->s = ns, t->cap = nc;
  }
  t->ok = false;
}

/* The attributes of `p` after its link: those attached there; on the target of a Discover of a
 * resource, those in force there, inherited from the instance and the object. */
static void attributes(const sim_req *r, text *t, uint16_t iid, uint16_t rid, uint8_t depth) {
  char buf[160];
  lmm_path p = {r->p.oid, iid, rid, 0, depth};
  sim_attrs eff;
  const sim_attrs *a = sim_attr_at(r->d, &p);
  if (depth == 3 && r->p.depth == 3) eff = sim_attr_effective(r->d, &p), a = &eff;
  if (a && sim_attr_format(a, buf, sizeof buf)) add(t, "%s", buf);
}

/* The links of the resources of instance `iid` that the request covers: those with a value
 * (for the fixed objects also the Execute and write-only ones, which have none), dim=N for a
 * multiple resource. */
static void resources(sim_req *r, uint16_t iid, const lmm_records *recs, text *t) {
  bool fixed = r->p.oid != r->f->cfg->gm_oid;
  for (size_t k = 0; t->ok && k < r->def->n_res; k++) {
    const lmm_res_def *rd = &r->def->res[k];
    if (r->p.depth >= 3 && rd->id != r->p.rid) continue;
    unsigned dim = 0, any = 0;
    for (size_t j = 0; j < recs->n; j++) {
      const lmm_path *p = &recs->items[j].path;
      if (p->iid == iid && p->rid == rd->id) any++, dim += p->depth == 4;
    }
    if (!any && !(fixed && !(rd->ops & LMM_OP_R))) continue;
    const char *sep = t->len ? "," : "";
    if (r->p.depth == 4) {
      add(t, "%s</%u/%u/%u/%u>", sep, r->p.oid, iid, rd->id, r->p.riid);
      continue;
    }
    if (rd->multiple)
      add(t, "%s</%u/%u/%u>;dim=%u", sep, r->p.oid, iid, rd->id, dim);
    else
      add(t, "%s</%u/%u/%u>", sep, r->p.oid, iid, rd->id);
    attributes(r, t, iid, rd->id, 3);
  }
}

/* LwM2M 1.1: a Discover of an object lists the object (with its version), then each instance
 * followed by its resources; of an instance, the instance and its resources; of a resource,
 * the resource alone; each with the attributes Write-Attributes attached to it. docs/simulator.md
 * names the clause. */
void sim_do_discover(sim_req *r, sim_reply *rp) {
  lmm_records recs = {0};
  text t = {.ok = true};
  int rc = sim_collect(r, &recs);
  if (rc) {
    lmm_records_clear(&recs);
    FAIL(rp, rc, "cannot read");
  }
  if (r->p.depth == 1) {
    add(&t, "</%u>;ver=%s", r->p.oid, r->def->version);
    attributes(r, &t, 0, 0, 1);
    bool gm = r->p.oid == r->f->cfg->gm_oid;
    unsigned n = gm ? r->d->n_gm : 1;
    for (unsigned k = 0; t.ok && k < n; k++) {
      uint16_t iid = gm ? r->d->gm[k].iid : 0;
      add(&t, ",</%u/%u>", r->p.oid, iid);
      attributes(r, &t, iid, 0, 2);
      resources(r, iid, &recs, &t);
    }
  } else {
    if (r->p.depth == 2) {
      add(&t, "</%u/%u>", r->p.oid, r->p.iid);
      attributes(r, &t, r->p.iid, 0, 2);
    }
    resources(r, r->p.iid, &recs, &t);
  }
  lmm_records_clear(&recs);
  if (!t.ok || !t.s) {
    free(t.s);
    FAIL(rp, CODE(500), "out of memory");
  }
  rp->code = CODE(205);
  rp->fmt = LMM_FMT_LINK;
  rp->body = (uint8_t *)t.s, rp->len = t.len;
}
