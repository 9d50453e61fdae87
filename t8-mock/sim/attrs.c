/* attrs.c - lwm2m-mbms-sim: the notification attributes (pmin, pmax, gt, lt, st) that
 * Write-Attributes sets per device and path, their inheritance (resource <- instance <- object),
 * and their text in a Discover answer. */
#include "attrs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE(c)    COAP_RESPONSE_CODE(c)
#define PERIOD_MAX 86400000u /* seconds (1000 days): longer periods are refused */

/* The attributes attached at one path (depth 1 to 3) of a device. */
struct sim_attr_entry {
  lmm_path p;
  sim_attrs a;
};

static bool same(const lmm_path *a, const lmm_path *b) {
  return a->depth == b->depth && a->oid == b->oid && (a->depth < 2 || a->iid == b->iid) &&
         (a->depth < 3 || a->rid == b->rid);
}

static sim_attr_entry *find(const sim_device *d, const lmm_path *p) {
  for (unsigned k = 0; k < d->n_attr; k++)
    if (same(&d->attr[k].p, p)) return &d->attr[k];
  return NULL;
}

const sim_attrs *sim_attr_at(const sim_device *d, const lmm_path *p) {
  const sim_attr_entry *e = find(d, p);
  return e ? &e->a : NULL;
}

/* Each attribute comes from the most specific level that sets it. */
sim_attrs sim_attr_effective(const sim_device *d, const lmm_path *p) {
  sim_attrs out = {0};
  for (uint8_t depth = p->depth < 3 ? p->depth : 3; depth >= 1; depth--) {
    lmm_path up = *p;
    up.depth = depth;
    const sim_attr_entry *e = find(d, &up);
    if (!e) continue;
    unsigned fresh = e->a.set & ~out.set;
    if (fresh & SIM_A_PMIN) out.pmin = e->a.pmin;
    if (fresh & SIM_A_PMAX) out.pmax = e->a.pmax;
    if (fresh & SIM_A_GT) out.gt = e->a.gt;
    if (fresh & SIM_A_LT) out.lt = e->a.lt;
    if (fresh & SIM_A_ST) out.st = e->a.st;
    out.set = (uint8_t)(out.set | fresh);
  }
  return out;
}

static bool is_numeric(lmm_rtype t) {
  return t == LMM_RT_INTEGER || t == LMM_RT_UNSIGNED || t == LMM_RT_FLOAT || t == LMM_RT_TIME;
}

static bool parse_period(const char *v, size_t n, uint32_t *out) {
  uint64_t x = 0;
  if (n == 0 || n > 10) return false;
  for (size_t k = 0; k < n; k++) {
    if (v[k] < '0' || v[k] > '9') return false;
    x = x * 10 + (uint64_t)(v[k] - '0');
  }
  if (x > PERIOD_MAX) return false;
  *out = (uint32_t)x;
  return true;
}

static bool parse_number(const char *v, size_t n, double *out) {
  char buf[40], *end;
  if (n == 0 || n >= sizeof buf) return false;
  memcpy(buf, v, n);
  buf[n] = 0;
  if (buf[0] == ' ' || buf[0] == '+') return false;
  *out = strtod(buf, &end);
  return *end == 0 && isfinite(*out);
}

int sim_attr_write(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_obj_def *def,
                   const coap_pdu_t *pdu, char *why, size_t cap) {
  sim_device *d = &f->dev[i];
  const lmm_res_def *rd = p->depth == 3 ? lmm_obj_def_res(def, p->rid) : NULL;
  sim_attr_entry *e = find(d, p);
  sim_attrs a = e ? e->a : (sim_attrs){0};
  coap_opt_filter_t fl;
  coap_opt_iterator_t it;
  coap_opt_t *o;
  if (p->depth == 4) {
    snprintf(why, cap, "LwM2M 1.1 has no attributes on a resource instance");
    return CODE(400);
  }
  /* Everything is checked on a copy: a bad item leaves the stored attributes as they were. */
  coap_option_filter_clear(&fl);
  coap_option_filter_set(&fl, COAP_OPTION_URI_QUERY);
  coap_option_iterator_init(pdu, &it, &fl);
  while ((o = coap_option_next(&it))) {
    const char *s = (const char *)coap_opt_value(o);
    size_t len = coap_opt_length(o);
    const char *eq = memchr(s, '=', len);
    size_t kn = eq ? (size_t)(eq - s) : len, vn = eq ? len - kn - 1 : 0;
    const char *v = eq ? eq + 1 : NULL;
    static const struct {
      const char *name;
      uint8_t bit;
    } names[] = {{"pmin", SIM_A_PMIN},
                 {"pmax", SIM_A_PMAX},
                 {"gt", SIM_A_GT},
                 {"lt", SIM_A_LT},
                 {"st", SIM_A_ST}};
    uint8_t bit = 0;
    for (size_t k = 0; k < sizeof names / sizeof *names && !bit; k++)
      if (strlen(names[k].name) == kn && memcmp(names[k].name, s, kn) == 0) bit = names[k].bit;
    if (!bit) {
      snprintf(why, cap, "unknown attribute '%.*s' (LwM2M 1.1 has pmin pmax gt lt st)", (int)kn, s);
      return CODE(400);
    }
    if (!v) { /* a name without a value unsets it at this level */
      a.set = (uint8_t)(a.set & ~bit);
      continue;
    }
    bool ok;
    double x = 0;
    if (bit == SIM_A_PMIN || bit == SIM_A_PMAX)
      ok = parse_period(v, vn, bit == SIM_A_PMIN ? &a.pmin : &a.pmax);
    else
      ok = parse_number(v, vn, &x) && !(bit == SIM_A_ST && x < 0);
    if (!ok) {
      snprintf(why, cap, "bad value in '%.*s'", (int)len, s);
      return CODE(400);
    }
    if (bit & (SIM_A_GT | SIM_A_LT | SIM_A_ST)) {
      /* Thresholds and steps compare a resource's numeric value. */
      if (!(rd && !rd->multiple && is_numeric(rd->type))) {
        snprintf(why, cap, "attribute '%.*s' is for a single numeric resource only", (int)kn, s);
        return CODE(400);
      }
      *(bit == SIM_A_GT ? &a.gt : bit == SIM_A_LT ? &a.lt : &a.st) = x;
    }
    a.set = (uint8_t)(a.set | bit);
  }
  if ((a.set & SIM_A_GT) && (a.set & SIM_A_LT) &&
      !(a.lt + 2 * ((a.set & SIM_A_ST) ? a.st : 0) < a.gt)) {
    snprintf(why, cap, "lt + 2 st must stay below gt");
    return CODE(400);
  }
  if (e && !a.set) { /* nothing left at this level */
    *e = d->attr[--d->n_attr];
    return 0;
  }
  if (e) {
    e->a = a;
    return 0;
  }
  if (!a.set) return 0;
  if (d->n_attr >= SIM_ATTR_MAX) {
    snprintf(why, cap, "no room for attributes on more than %u paths", SIM_ATTR_MAX);
    return CODE(500);
  }
  sim_attr_entry *n = realloc(d->attr, (d->n_attr + 1u) * sizeof *n);
  if (!n) {
    snprintf(why, cap, "out of memory");
    return CODE(500);
  }
  d->attr = n;
  d->attr[d->n_attr++] = (sim_attr_entry){*p, a};
  return 0;
}

void sim_attr_forget(sim_device *d, uint16_t oid, uint16_t iid) {
  for (unsigned k = 0; k < d->n_attr;)
    if (d->attr[k].p.depth >= 2 && d->attr[k].p.oid == oid && d->attr[k].p.iid == iid)
      d->attr[k] = d->attr[--d->n_attr];
    else
      k++;
}

void sim_attr_free(sim_device *d) {
  free(d->attr);
  d->attr = NULL;
  d->n_attr = 0;
}

/* The shortest decimal that reads back as x ("50", "42.2"). */
static void number(char *buf, size_t cap, double x) {
  if (x == floor(x) && fabs(x) < 1e15) { /* %g would write 50 as 5e+01 */
    snprintf(buf, cap, "%.0f", x);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) return;
  }
}

size_t sim_attr_format(const sim_attrs *a, char *buf, size_t cap) {
  size_t n = 0;
  char x[32];
  buf[0] = 0;
  if (!a) return 0;
  if (a->set & SIM_A_PMIN) n += (size_t)snprintf(buf + n, cap - n, ";pmin=%u", a->pmin);
  if (n < cap && (a->set & SIM_A_PMAX))
    n += (size_t)snprintf(buf + n, cap - n, ";pmax=%u", a->pmax);
  if (n < cap && (a->set & SIM_A_GT))
    number(x, sizeof x, a->gt), n += (size_t)snprintf(buf + n, cap - n, ";gt=%s", x);
  if (n < cap && (a->set & SIM_A_LT))
    number(x, sizeof x, a->lt), n += (size_t)snprintf(buf + n, cap - n, ";lt=%s", x);
  if (n < cap && (a->set & SIM_A_ST))
    number(x, sizeof x, a->st), n += (size_t)snprintf(buf + n, cap - n, ";st=%s", x);
  return n < cap ? n : cap - 1;
}
