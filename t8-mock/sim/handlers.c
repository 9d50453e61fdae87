/* handlers.c - CoAP dispatch of lwm2m-mbms-sim: device by local address, LwM2M operations,
 * content formats, Block1 reassembly and Block2 answers. */
#include "sim.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE(c)   COAP_RESPONSE_CODE(c)
#define RX_BUDGET (64u * 1024u * 1024u) /* Block1 bodies held at once, fleet-wide */

/* What a request comes to; sent by send_reply() in one place, so that options go in order. */
typedef struct reply {
  int code;
  char diag[200]; /* diagnostic payload of an error */
  bool loc;       /* Location-Path /oid/iid (Create) */
  uint16_t loc_oid, loc_iid;
  bool block1;
  coap_block_b_t b1;
  int fmt;       /* Content-Format of body */
  uint8_t *body; /* 2.05 body; owned */
  size_t len;
  bool body_lmm; /* from the library (lmm_free), else free() */
  bool silent;   /* no answer at all: the device rebooted (--fw-reboot) */
} reply;

/* One request being served. */
typedef struct req {
  sim_fleet *f;
  unsigned i;
  sim_device *d;
  coap_session_t *s;
  const coap_pdu_t *pdu;
  lmm_path p;
  const lmm_obj_def *def;
  int method;
  int cf, accept; /* -1 when absent */
  const uint8_t *data;
  size_t len;
  bool has_query;
  bool blob;              /* a blob fragment: its Block1 blocks are kept, it is no Package push */
  long blob_index;        /* its fragment index (-1: announce), when `blob` */
  const sim_blob_msg *bm; /* classified by the caller (group delivery: once for all), or NULL */
} req;

/* Sets the reply to an error and leaves the (void) function. */
#define FAIL(...)                                                                                  \
  do {                                                                                             \
    fail(__VA_ARGS__);                                                                             \
    return;                                                                                        \
  } while (0)

/* libcoap 4.3.1 has no application data on a context: the event handler finds the fleet
 * here (one fleet per process). */
static sim_fleet *event_fleet;

static void fail(reply *rp, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(reply *rp, int code, const char *fmt, ...) {
  va_list ap;
  rp->code = code;
  va_start(ap, fmt);
  vsnprintf(rp->diag, sizeof rp->diag, fmt, ap);
  va_end(ap);
}

/* A numeric option of at most `maxlen` bytes; -1 when absent, -2 when longer. */
static long opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, size_t maxlen) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(pdu, num, &it);
  if (!o) return -1;
  if (coap_opt_length(o) > maxlen) return -2;
  return (long)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

/* 1 to 4 decimal segments, each 0..65534 without leading zeros. */
bool sim_parse_path(const coap_pdu_t *pdu, lmm_path *p) {
  coap_opt_filter_t fl;
  coap_opt_iterator_t it;
  coap_opt_t *o;
  uint16_t v[4] = {0};
  int n = 0;
  coap_option_filter_clear(&fl);
  coap_option_filter_set(&fl, COAP_OPTION_URI_PATH);
  if (!coap_option_iterator_init(pdu, &it, &fl)) return false;
  while ((o = coap_option_next(&it))) {
    const uint8_t *s = coap_opt_value(o);
    size_t len = coap_opt_length(o);
    uint32_t x = 0;
    if (n == 4 || len == 0 || len > 5 || (len > 1 && s[0] == '0')) return false;
    for (size_t k = 0; k < len; k++) {
      if (s[k] < '0' || s[k] > '9') return false;
      x = x * 10 + (uint32_t)(s[k] - '0');
    }
    if (x > 65534) return false;
    v[n++] = (uint16_t)x;
  }
  if (n == 0) return false;
  *p = (lmm_path){v[0], v[1], v[2], v[3], (uint8_t)n};
  return true;
}

static const char *method_name(int m) {
  static const char *const names[] = {"GET", "PUT", "POST", "DELETE", "other"};
  return names[m];
}

static int method_index(coap_pdu_code_t c) {
  switch (c) {
  case COAP_REQUEST_CODE_GET:
    return SIM_M_GET;
  case COAP_REQUEST_CODE_PUT:
    return SIM_M_PUT;
  case COAP_REQUEST_CODE_POST:
    return SIM_M_POST;
  case COAP_REQUEST_CODE_DELETE:
    return SIM_M_DELETE;
  default:
    return SIM_M_OTHER;
  }
}

/* The resource at depth >= 3, with the 4.04 / 4.05 of a path that names none. */
static const lmm_res_def *target_res(const req *r, reply *rp) {
  const lmm_res_def *rd = lmm_obj_def_res(r->def, r->p.rid);
  if (!rd) {
    fail(rp, CODE(404), "no resource %u in object %u", r->p.rid, r->p.oid);
    return NULL;
  }
  if (r->p.depth == 4 && !rd->multiple) {
    fail(rp, CODE(404), "resource %u has no instances", r->p.rid);
    return NULL;
  }
  return rd;
}

static bool single_value(const lmm_path *p, const lmm_res_def *rd) {
  return p->depth == 4 || (p->depth == 3 && rd && !rd->multiple);
}

static bool is_tlv_only(const req *r) {
  return (r->d->flags & SIM_DEV_TLV) != 0;
}

/* Appends the records of the instances the request path covers (one, or all of the object). */
static int collect(req *r, lmm_records *out) {
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
static void do_discover(req *r, reply *rp) {
  lmm_records recs = {0};
  char *s = NULL;
  size_t len = 0, cap = 0;
  bool ok = true;
  int rc = collect(r, &recs);
  if (rc) {
    fail(rp, rc, "cannot read");
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
    fail(rp, CODE(500), "out of memory");
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

static void do_read(req *r, reply *rp) {
  const lmm_res_def *rd = NULL;
  lmm_records recs = {0};
  int fmt;
  if (r->p.depth >= 2 && !sim_instance_exists(r->f, r->i, r->p.oid, r->p.iid))
    FAIL(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
  if (r->p.depth >= 3) {
    if (!(rd = target_res(r, rp))) return;
    if (!(rd->ops & LMM_OP_R))
      FAIL(rp, CODE(405), "resource %u (%s) is not readable", rd->id, rd->name);
  }
  if (r->accept == LMM_FMT_LINK) {
    do_discover(r, rp);
    return;
  }
  bool single = single_value(&r->p, rd);
  if (r->accept >= 0) {
    fmt = r->accept;
    if (fmt == LMM_FMT_SENML_JSON && is_tlv_only(r))
      FAIL(rp, CODE(406), "this LwM2M 1.0 device answers in TLV only");
    if (fmt != LMM_FMT_SENML_JSON && fmt != LMM_FMT_TLV &&
        !(single && (fmt == LMM_FMT_TEXT || fmt == LMM_FMT_OPAQUE)))
      FAIL(rp, CODE(406), "cannot answer %s in format %d",
           single ? "this resource" : "several values", fmt);
  } else if (single) {
    fmt = rd->type == LMM_RT_OPAQUE ? LMM_FMT_OPAQUE : LMM_FMT_TEXT;
  } else {
    fmt = is_tlv_only(r) ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
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

/* ------------------------------------------------------------------ Write, Create */

/* Content-Format of a write payload, or -1 with the reply set. */
static int write_format(const req *r, const lmm_res_def *rd, reply *rp) {
  bool single = single_value(&r->p, rd);
  if (r->cf < 0) {
    if (single) return rd->type == LMM_RT_OPAQUE ? LMM_FMT_OPAQUE : LMM_FMT_TEXT;
    fail(rp, CODE(400), "Content-Format missing");
    return -1;
  }
  if (r->cf == LMM_FMT_SENML_JSON && is_tlv_only(r)) {
    fail(rp, CODE(415), "this LwM2M 1.0 device speaks TLV only");
    return -1;
  }
  if (r->cf == LMM_FMT_SENML_JSON || r->cf == LMM_FMT_TLV) return r->cf;
  if (single && (r->cf == LMM_FMT_TEXT || r->cf == LMM_FMT_OPAQUE)) return r->cf;
  fail(rp, CODE(415), "Content-Format %d not accepted here", r->cf);
  return -1;
}

/* Decodes the payload for `base`; false with the reply set (4.00 and the codec's reason). */
static bool decode(const req *r, int fmt, const lmm_path *base, lmm_records *out, reply *rp) {
  char why[160] = "";
  if (lmm_lwm2m_decode((uint16_t)fmt, base, r->data, r->len, r->def, out, why, sizeof why) !=
      LMM_OK) {
    fail(rp, CODE(400), "malformed payload: %s", why[0] ? why : "cannot decode");
    return false;
  }
  for (size_t k = 0; k < out->n; k++) {
    const lmm_path *p = &out->items[k].path;
    if (p->depth < 3 || !lmm_path_within(base, p)) {
      char a[32], b[32];
      fail(rp, CODE(400), "value for %s outside %s", lmm_path_format(p, a, sizeof a),
           lmm_path_format(base, b, sizeof b));
      return false;
    }
  }
  return true;
}

/* Sets the reply to an error and returns -1. */
#define REFUSE(...)                                                                                \
  do {                                                                                             \
    fail(__VA_ARGS__);                                                                             \
    return -1;                                                                                     \
  } while (0)

/* Everything about a PUT or POST that does not need the payload: target, method, format. Run
 * on the first block already, so that a refused transfer stops there. Returns the payload's
 * format, 0 when there is none to decode (Execute, Write-Attributes), or -1 with the reply
 * set. */
static int precheck(const req *r, reply *rp) {
  const lmm_res_def *rd = NULL;
  bool gm = r->p.oid == r->f->cfg->gm_oid;
  bool exists = r->p.depth >= 2 && sim_instance_exists(r->f, r->i, r->p.oid, r->p.iid);
  if (r->method == SIM_M_POST) {
    if (r->p.depth == 1) {
      if (!gm) REFUSE(rp, CODE(405), "object %u has a single instance", r->p.oid);
      return write_format(r, NULL, rp);
    }
    if (!exists) REFUSE(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
    if (r->p.depth == 4) REFUSE(rp, CODE(405), "POST on a resource instance");
    if (r->p.depth == 3) { /* Execute: arguments, if any, are ignored */
      if (!(rd = target_res(r, rp))) return -1;
      if (!(rd->ops & LMM_OP_E))
        REFUSE(rp, CODE(405), "resource %u (%s) is not executable", rd->id, rd->name);
      return 0;
    }
    return write_format(r, NULL, rp); /* Write-Partial Update */
  }
  /* PUT with a query and no payload is Write-Attributes: accepted, nothing is observed. */
  if (r->has_query && r->len == 0) {
    if (r->p.depth >= 2 && !exists) REFUSE(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
    return 0;
  }
  if (r->p.depth == 1) REFUSE(rp, CODE(405), "Write on an object");
  /* Writing a whole Group Mgmt instance that does not exist creates it: the server's step 3
   * write is a replace, whether or not the member had the instance. */
  if (!exists && !(gm && r->p.depth == 2))
    REFUSE(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
  if (r->p.depth >= 3) {
    if (!(rd = target_res(r, rp))) return -1;
    if (!(rd->ops & LMM_OP_W))
      REFUSE(rp, CODE(405), "resource %u (%s) is not writable", rd->id, rd->name);
  }
  return write_format(r, rd, rp);
}

static void do_put(req *r, reply *rp) {
  lmm_records recs = {0};
  int fmt = precheck(r, rp);
  if (fmt < 0) return;
  if (fmt == 0 && r->has_query && r->len == 0) {
    rp->code = CODE(204);
    return;
  }
  if (!decode(r, fmt, &r->p, &recs, rp)) goto out;
  if (recs.n == 0 && r->p.depth >= 3) {
    fail(rp, CODE(400), "no value in the payload");
    goto out;
  }
  int rc;
  if (r->p.oid == r->f->cfg->gm_oid)
    rc = r->p.depth == 2 ? sim_gm_replace(r->f, r->i, r->p.iid, &recs, rp->diag, sizeof rp->diag)
                         : sim_gm_update(r->f, r->i, &r->p, &recs, rp->diag, sizeof rp->diag);
  else
    rc = sim_write_fixed(r->f, r->i, &r->p, &recs, rp->diag, sizeof rp->diag);
  rp->code = rc ? rc : CODE(204);
out:
  lmm_records_clear(&recs);
}

static void do_create(req *r, int fmt, reply *rp) {
  lmm_records recs = {0};
  uint16_t iid = 0;
  if (!decode(r, fmt, &r->p, &recs, rp)) {
    /* A Create may carry the resources alone (TLV without an Object Instance TLV): the device
     * then picks the instance ID. */
    reply second = {0};
    lmm_path base = {r->p.oid, sim_gm_free_iid(r->d), 0, 0, 2};
    lmm_records_clear(&recs);
    if (!decode(r, fmt, &base, &recs, &second)) goto out; /* the first reason is clearer */
    rp->code = 0, rp->diag[0] = '\0';
  }
  int rc = sim_gm_create(r->f, r->i, &recs, &iid, rp->diag, sizeof rp->diag);
  if (rc) {
    rp->code = rc;
  } else {
    rp->code = CODE(201);
    rp->loc = true, rp->loc_oid = r->p.oid, rp->loc_iid = iid;
  }
out:
  lmm_records_clear(&recs);
}

static void do_post(req *r, reply *rp) {
  int fmt = precheck(r, rp);
  if (fmt < 0) return;
  if (r->p.depth == 1) {
    do_create(r, fmt, rp);
    return;
  }
  if (r->p.depth == 3) {
    int rc = sim_execute(r->f, r->i, &r->p);
    if (rc == CODE(405)) FAIL(rp, rc, "Update is allowed in state 2 (Downloaded) only");
    rp->code = rc ? rc : CODE(204);
    return;
  }
  lmm_records recs = {0}; /* Write-Partial Update of an instance */
  if (decode(r, fmt, &r->p, &recs, rp)) {
    int rc = r->p.oid == r->f->cfg->gm_oid
                 ? sim_gm_update(r->f, r->i, &r->p, &recs, rp->diag, sizeof rp->diag)
                 : sim_write_fixed(r->f, r->i, &r->p, &recs, rp->diag, sizeof rp->diag);
    rp->code = rc ? rc : CODE(204);
  }
  lmm_records_clear(&recs);
}

static void do_delete(req *r, reply *rp) {
  if (r->p.oid != r->f->cfg->gm_oid || r->p.depth != 2) {
    if (r->p.depth >= 2 && !sim_instance_exists(r->f, r->i, r->p.oid, r->p.iid))
      FAIL(rp, CODE(404), "no instance /%u/%u", r->p.oid, r->p.iid);
    FAIL(rp, CODE(405), "Delete is for Group Mgmt instances only");
  }
  int rc = sim_gm_delete(r->f, r->i, r->p.iid);
  if (rc) FAIL(rp, rc, "no instance /%u/%u", r->p.oid, r->p.iid);
  rp->code = CODE(202);
}

/* ------------------------------------------------------------------ Block1 */

static void rx_free(sim_fleet *f, sim_device *d) {
  if (!d->rx) return;
  f->rx_bytes -= d->rx->cap;
  free(d->rx->buf);
  free(d->rx);
  d->rx = NULL;
}

static bool same_path(const lmm_path *a, const lmm_path *b) {
  return a->depth == b->depth && a->oid == b->oid && (a->depth < 2 || a->iid == b->iid) &&
         (a->depth < 3 || a->rid == b->rid) && (a->depth < 4 || a->riid == b->riid);
}

/* A push of the Package: streamed into the digest, never stored. */
static bool is_package(const req *r) {
  return r->method == SIM_M_PUT && r->p.depth == 3 && r->p.oid == 5 && r->p.iid == 0 &&
         r->p.rid == 0 && (r->cf < 0 || r->cf == LMM_FMT_OPAQUE) && !r->blob;
}

/* Handles the Block1 option (RFC 7959), done by the application rather than by libcoap:
 * libcoap keeps one session per client address and port, shared by all devices, so its
 * reassembly could mix two devices' transfers from one client socket; and a firmware package
 * must not be buffered. Returns true when the request is complete (r->data then holds the
 * whole body), false when the reply is set (2.31 Continue or an error). */
static bool block1(req *r, reply *rp, uint8_t **body) {
  coap_block_b_t b;
  *body = NULL;
  if (!coap_get_block_b(r->s, r->pdu, COAP_OPTION_BLOCK1, &b)) {
    if (is_package(r)) {
      int rc = sim_fw_package_block(r->f, r->i, 0, r->data, r->len, false, r->len);
      if (rc == CODE(413))
        fail(rp, rc, "package larger than %u bytes", SIM_FW_MAX);
      else if (rc)
        fail(rp, rc, "firmware state does not allow a package now");
      else
        rp->code = CODE(204);
      return false;
    }
    return true;
  }
  if (b.szx > 6) {
    fail(rp, CODE(400), "Block1 size exponent %u", (unsigned)b.szx);
    return false;
  }
  size_t bs = (size_t)1 << (b.szx + 4);
  uint64_t off = (uint64_t)b.num << (b.szx + 4);
  if (r->len > bs || (b.m && r->len != bs)) {
    fail(rp, CODE(400), "block %u holds %zu bytes, not %zu", b.num, r->len, bs);
    return false;
  }
  long size1 = opt_uint(r->pdu, COAP_OPTION_SIZE1, 4);
  rp->block1 = true;
  rp->b1 = b;
  if (is_package(r)) {
    int rc = size1 > (long)SIM_FW_MAX ? CODE(413)
                                      : sim_fw_package_block(r->f, r->i, off, r->data, r->len, b.m,
                                                             size1 > 0 ? (uint64_t)size1 : 0);
    if (rc == SIM_SILENT)
      rp->silent = true;
    else if (rc == CODE(413))
      fail(rp, rc, "package larger than %u bytes", SIM_FW_MAX);
    else if (rc == CODE(408))
      fail(rp, rc, "block %u out of sequence", b.num);
    else if (rc)
      fail(rp, rc, "firmware state does not allow a package now");
    else
      rp->code = b.m ? CODE(231) : CODE(204);
    return false;
  }
  sim_device *d = r->d;
  if (b.num == 0) {
    rx_free(r->f, d);
    if (precheck(r, rp) < 0) return false;
    if (size1 > (long)SIM_BODY_MAX) {
      fail(rp, CODE(413), "body larger than %u bytes", SIM_BODY_MAX);
      return false;
    }
    if (!(d->rx = calloc(1, sizeof *d->rx))) {
      fail(rp, CODE(500), "out of memory");
      return false;
    }
    d->rx->path = r->p, d->rx->method = (uint8_t)r->method, d->rx->fmt = r->cf;
    d->rx->blob_index = r->blob ? r->blob_index : LONG_MIN;
  } else if (!d->rx || !same_path(&d->rx->path, &r->p) || d->rx->method != r->method ||
             d->rx->blob_index != (r->blob ? r->blob_index : LONG_MIN)) {
    fail(rp, CODE(408), "block %u of no transfer in progress", b.num);
    return false;
  } else if (b.m && off + r->len == d->rx->len) {
    rp->code = CODE(231); /* a retransmission: acknowledged again */
    return false;
  } else if (off != d->rx->len) {
    fail(rp, CODE(408), "block %u out of sequence", b.num);
    return false;
  }
  sim_rx *rx = d->rx;
  if (rx->len + r->len > SIM_BODY_MAX) {
    rx_free(r->f, d);
    fail(rp, CODE(413), "body larger than %u bytes", SIM_BODY_MAX);
    return false;
  }
  if (rx->len + r->len > rx->cap) {
    size_t nc = rx->cap ? rx->cap * 2 : 4096;
    while (nc < rx->len + r->len)
      nc *= 2;
    uint8_t *nb = r->f->rx_bytes + nc - rx->cap <= RX_BUDGET ? realloc(rx->buf, nc) : NULL;
    if (!nb) {
      rx_free(r->f, d);
      fail(rp, CODE(413), "simulator out of reassembly memory");
      return false;
    }
    r->f->rx_bytes += nc - rx->cap;
    rx->buf = nb, rx->cap = nc;
  }
  if (r->len) memcpy(rx->buf + rx->len, r->data, r->len);
  rx->len += r->len;
  if (b.m) {
    rp->code = CODE(231);
    return false;
  }
  /* The last block: the body is handed over and processed like a single request, with the
   * Content-Format of the first block (later blocks need not repeat it). */
  *body = rx->buf;
  r->data = rx->buf, r->len = rx->len;
  r->cf = rx->fmt;
  r->f->rx_bytes -= rx->cap;
  rx->buf = NULL;
  rx->cap = 0;
  free(rx);
  d->rx = NULL;
  return true;
}

/* ------------------------------------------------------------------ blobs */

/* A blob message (docs/protocol.md 5.2) by unicast, or a status or update by group (the group's
 * announces and fragments go to blob.c from group.c directly). */
static void serve_blob(req *r, reply *rp, const sim_blob_msg *m) {
  char text[LMMI_BLOB_STATUS_MAX + 1];
  size_t len = 0;
  int rc;
  switch (m->kind) {
  case SIM_BLOB_MALFORMED:
    FAIL(rp, CODE(400), "%s", m->why);
  case SIM_BLOB_DATA:
    rc = sim_blob_data(r->f, r->i, m, r->s == NULL, rp->diag, sizeof rp->diag);
    if (rc == SIM_SILENT)
      rp->silent = true;
    else
      rp->code = rc;
    return;
  case SIM_BLOB_STATUS:
    if ((rc = sim_blob_status(r->f, r->i, m, text, &len)) != 0) FAIL(rp, rc, "out of memory");
    if (!(rp->body = malloc(len ? len : 1))) FAIL(rp, CODE(500), "out of memory");
    memcpy(rp->body, text, len);
    rp->len = len;
    rp->fmt = LMM_FMT_TEXT;
    rp->code = CODE(205);
    return;
  case SIM_BLOB_UPDATE:
    if ((rc = sim_blob_update(r->f, r->i, m)) == CODE(405))
      FAIL(rp, rc, "Update of a blob this device has not downloaded");
    rp->code = rc ? rc : CODE(204);
    return;
  default:
    FAIL(rp, CODE(500), "not a blob message");
  }
}

/* ------------------------------------------------------------------ dispatch */

static void serve(req *r, reply *rp) {
  sim_blob_msg bm;
  if (!sim_parse_path(r->pdu, &r->p)) FAIL(rp, CODE(404), "no such path");
  if (!(r->def = sim_obj_def(r->f, r->p.oid))) FAIL(rp, CODE(404), "no object %u", r->p.oid);
  long cf = opt_uint(r->pdu, COAP_OPTION_CONTENT_FORMAT, 2);
  long accept = opt_uint(r->pdu, COAP_OPTION_ACCEPT, 2);
  r->cf = cf == -2 ? 65536 : (int)cf;
  r->accept = accept == -2 ? 65536 : (int)accept;
  coap_get_data(r->pdu, &r->len, &r->data);
  if (r->bm)
    bm = *r->bm;
  else
    sim_blob_classify(r->pdu, r->s != NULL, &bm);
  if (bm.kind == SIM_BLOB_DATA && bm.block1) {
    uint8_t *body = NULL;
    r->blob = true;
    r->blob_index = bm.index;
    if (block1(r, rp, &body)) { /* the whole fragment */
      bm.data = r->data, bm.len = r->len;
      if (!sim_blob_check_len(&bm)) bm.kind = SIM_BLOB_MALFORMED;
      serve_blob(r, rp, &bm);
    }
    free(body);
    return;
  }
  if (bm.kind != SIM_BLOB_NONE) {
    serve_blob(r, rp, &bm);
    return;
  }
  switch (r->method) {
  case SIM_M_GET:
    do_read(r, rp);
    return;
  case SIM_M_DELETE:
    do_delete(r, rp);
    return;
  case SIM_M_PUT:
  case SIM_M_POST: {
    uint8_t *body = NULL;
    if (block1(r, rp, &body)) {
      if (r->method == SIM_M_PUT)
        do_put(r, rp);
      else
        do_post(r, rp);
    }
    free(body);
    return;
  }
  default:
    FAIL(rp, CODE(405), "method not allowed");
  }
}

static void send_reply(const coap_pdu_t *request, coap_pdu_t *resp, reply *rp) {
  uint8_t buf[8];
  if (rp->body && rp->code == CODE(205)) {
    /* Adds Content-Format and ETag, and cuts a body larger than one datagram into Block2
     * blocks; the client asks for the next ones, and the body is made again for each. */
    coap_add_data_blocked_response(request, resp, (uint16_t)rp->fmt, -1, rp->len, rp->body);
    return;
  }
  coap_pdu_set_code(resp, (coap_pdu_code_t)rp->code);
  if (rp->loc) {
    char s[8];
    int n = snprintf(s, sizeof s, "%u", rp->loc_oid);
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, (size_t)n, (const uint8_t *)s);
    n = snprintf(s, sizeof s, "%u", rp->loc_iid);
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, (size_t)n, (const uint8_t *)s);
  }
  if (rp->block1 && (rp->code >> 5) == 2) {
    uint32_t v = (rp->b1.num << 4) | ((rp->code == CODE(231) ? 1u : 0u) << 3) | rp->b1.szx;
    coap_add_option(resp, COAP_OPTION_BLOCK1, coap_encode_var_safe(buf, sizeof buf, v), buf);
  }
  if ((rp->code >> 5) != 2 && rp->diag[0])
    coap_add_data(resp, strlen(rp->diag), (const uint8_t *)rp->diag);
}

void sim_count_response(sim_device *d, int code) {
  int cls = code >> 5;
  if (cls == 2) d->c.resp[SIM_C_2XX]++;
  if (cls == 4) d->c.resp[SIM_C_4XX]++;
  if (cls == 5) d->c.resp[SIM_C_5XX]++;
}

/* libcoap sends nothing for a NON response without a code: a CON request is not even
 * acknowledged. */
static void send_nothing(coap_pdu_t *resp) {
  coap_pdu_set_type(resp, COAP_MESSAGE_NON);
  coap_pdu_set_code(resp, COAP_EMPTY_CODE);
}

bool sim_no_response(const coap_pdu_t *request, int code) {
  long v = opt_uint(request, COAP_OPTION_NORESPONSE, 1);
  int cls = code >> 5;
  return v > 0 && cls >= 1 && cls <= 5 && (v & (1L << (cls - 1))) != 0;
}

/* --delay-ms: the answer the handler made (resp) is copied and held, and libcoap sends nothing
 * now. What libcoap would do with a No-Response option is done here, as its send never sees
 * the held copy. false when out of memory: the caller answers at once. */
static bool hold_answer(sim_fleet *f, unsigned i, coap_session_t *s, const coap_pdu_t *request,
                        coap_pdu_t *resp) {
  const coap_address_t *la = coap_session_get_addr_local(s);
  coap_mid_t mid = coap_pdu_get_mid(resp);
  coap_pdu_t *h = NULL;
  if (!la) return false;
  if (sim_no_response(request, coap_pdu_get_code(resp))) {
    if (coap_pdu_get_type(resp) != COAP_MESSAGE_ACK) {
      send_nothing(resp);
      return true;
    }
    h = coap_pdu_init(COAP_MESSAGE_ACK, COAP_EMPTY_CODE, mid, 4); /* the CON is still ACKed */
  } else {
    coap_bin_const_t tok = coap_pdu_get_token(resp);
    size_t len;
    const uint8_t *data;
    h = coap_pdu_duplicate(resp, s, tok.length, tok.s, NULL); /* options, not the payload */
    if (h) {
      coap_pdu_set_mid(h, mid); /* duplicating drew a new one */
      if (coap_get_data(resp, &len, &data) && !coap_add_data(h, len, data)) {
        coap_delete_pdu(h);
        h = NULL;
      }
    }
  }
  if (!h) return false;
  send_nothing(resp);
  sim_hold(f, i, s, la, mid, coap_pdu_get_type(request) == COAP_MESSAGE_CON, h);
  return true;
}

static void on_request(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *pdu,
                       const coap_string_t *query, coap_pdu_t *resp) {
  sim_fleet *f = coap_resource_get_userdata(res);
  const coap_address_t *la = coap_session_get_addr_local(s);
  reply rp = {.fmt = -1};
  long i = -1;
  int m = method_index(coap_pdu_get_code(pdu));
  bool delay = f->cfg->delay_ms > 0;
  if (sim_filtered(f, s)) { /* --server-addr: as if it never came (no answer, no ACK) */
    send_nothing(resp);
    return;
  }
  /* One endpoint serves every device: the address the request came to says which. */
  if (la && la->addr.sa.sa_family == AF_INET)
    i = sim_dev_index(f, ntohl(la->addr.sin.sin_addr.s_addr));
  if (i < 0) { /* answered at once: there is no device, so no slow link either */
    f->no_device++;
    fail(&rp, CODE(404), "no device at this address");
    send_reply(pdu, resp, &rp);
    return;
  }
  sim_device *d = &f->dev[i];
  char ep[48];
  if (sim_dev_offline(d, sim_now_ms())) { /* rebooting: as if switched off */
    d->c.offline++;
    send_nothing(resp);
    return;
  }
  if (delay && coap_pdu_get_type(pdu) == COAP_MESSAGE_CON &&
      sim_held_find(f, (unsigned)i, s, coap_pdu_get_mid(pdu))) {
    /* A retransmission that came while the answer is held (the client's ACK_TIMEOUT is shorter
     * than --delay-ms): served once, and answered by the held answer (RFC 7252 4.5). Not
     * counted: it is the same request. */
    send_nothing(resp);
    if (f->cfg->verbose)
      fprintf(stderr, "%s %s retransmitted while its answer is held\n",
              sim_dev_ep(f, (unsigned)i, ep, sizeof ep), method_name(m));
    return;
  }
  d->c.req[m]++;
  bool lost = f->cfg->drop > 0 && sim_rand01(f) < f->cfg->drop;
  if (lost || (delay && f->n_held >= SIM_HELD_MAX)) {
    /* Simulated loss (or no room to hold one more answer): a NON response with no code is not
     * sent at all, so the client retransmits as it would after a lost datagram. */
    d->c.dropped++;
    send_nothing(resp);
    if (f->cfg->verbose)
      fprintf(stderr, "%s %s dropped\n", sim_dev_ep(f, (unsigned)i, ep, sizeof ep), method_name(m));
    return;
  }
  req r = {.f = f, .i = (unsigned)i, .d = d, .s = s, .pdu = pdu, .method = m};
  r.has_query = query != NULL;
  if (d->flags & SIM_DEV_DENY)
    fail(&rp, CODE(401), "access denied to this server");
  else
    serve(&r, &rp);
  if (rp.silent) { /* rebooted while serving it: the request is lost with the rest */
    send_nothing(resp);
    free(rp.body);
    if (f->cfg->verbose)
      fprintf(stderr, "%s %s: rebooted, no answer\n", sim_dev_ep(f, (unsigned)i, ep, sizeof ep),
              method_name(m));
    return;
  }
  send_reply(pdu, resp, &rp);
  int c = coap_pdu_get_code(resp);
  bool held = delay && hold_answer(f, (unsigned)i, s, pdu, resp);
  if (!held) sim_count_response(d, c); /* a held answer counts when it is sent */
  if (f->cfg->verbose) {
    char path[32] = "?";
    if (r.p.depth) lmm_path_format(&r.p, path, sizeof path);
    fprintf(stderr, "%s %s %s -> %d.%02d%s%s%s\n", sim_dev_ep(f, (unsigned)i, ep, sizeof ep),
            method_name(m), path, c >> 5, c & 31, rp.diag[0] ? ": " : "", rp.diag,
            held ? " (held)" : "");
  }
  if (rp.body_lmm)
    lmm_free(rp.body);
  else
    free(rp.body);
}

void sim_serve_pdu(sim_fleet *f, unsigned i, const coap_pdu_t *pdu, const sim_blob_msg *bm,
                   int *code, int *fmt, uint8_t **body, size_t *len) {
  sim_device *d = &f->dev[i];
  reply rp = {.fmt = -1};
  coap_opt_iterator_t it;
  int m = method_index(coap_pdu_get_code(pdu));
  req r = {.f = f, .i = i, .d = d, .s = NULL, .pdu = pdu, .method = m, .bm = bm};
  r.has_query = coap_check_option(pdu, COAP_OPTION_URI_QUERY, &it) != NULL;
  d->c.req[m]++;
  if (d->flags & SIM_DEV_DENY)
    fail(&rp, CODE(401), "access denied to this server");
  else
    serve(&r, &rp);
  *code = rp.silent ? 0 : rp.code ? rp.code : CODE(500);
  *fmt = -1, *body = NULL, *len = 0;
  if (rp.body && rp.code == CODE(205)) { /* the whole body: an answer POST is not cut */
    if ((*body = malloc(rp.len ? rp.len : 1))) {
      memcpy(*body, rp.body, rp.len);
      *len = rp.len, *fmt = rp.fmt;
    } else {
      *code = CODE(500);
    }
  } else if ((rp.code >> 5) != 2 && rp.diag[0] && (*body = (uint8_t *)strdup(rp.diag))) {
    *len = strlen(rp.diag);
  }
  if (f->cfg->verbose) {
    char path[32] = "?", ep[48];
    if (r.p.depth) lmm_path_format(&r.p, path, sizeof path);
    fprintf(stderr, "%s %s %s (group) -> %d.%02d%s%s\n", sim_dev_ep(f, i, ep, sizeof ep),
            method_name(m), path, *code >> 5, *code & 31, rp.diag[0] ? ": " : "", rp.diag);
  }
  if (rp.body_lmm)
    lmm_free(rp.body);
  else
    free(rp.body);
}

static int on_event(coap_session_t *s, const coap_event_t ev) {
  sim_fleet *f = event_fleet;
  (void)s;
  if (ev == COAP_EVENT_SERVER_SESSION_NEW && ++f->sessions > f->sessions_max)
    f->sessions_max = f->sessions;
  if (ev == COAP_EVENT_SERVER_SESSION_DEL && f->sessions > 0) f->sessions--;
  return 0;
}

const coap_bin_const_t *sim_psk_for_identity(coap_bin_const_t *identity, coap_session_t *s,
                                             void *arg) {
  sim_fleet *f = arg;
  if (!identity || !identity->s) return NULL;
  long i = sim_ep_index(f, (const char *)identity->s, identity->length);
  if (i < 0) return NULL;
  /* A device knows its own credentials only: another device's identity, sent to this
   * device's address, fails the handshake. */
  const coap_address_t *la = s ? coap_session_get_addr_local(s) : NULL;
  if (la && la->addr.sa.sa_family == AF_INET) {
    long at = sim_dev_index(f, ntohl(la->addr.sin.sin_addr.s_addr));
    if (at >= 0 && at != i) return NULL;
  }
  sim_dev_psk(f, (unsigned)i, f->psk_buf);
  f->psk.s = f->psk_buf;
  f->psk.length = sizeof f->psk_buf;
  return &f->psk; /* libcoap copies it */
}

int sim_coap_setup(sim_fleet *f) {
  /* One catch-all resource: libcoap 4.3.1 passes every method to the unknown-resource
   * handler when one is registered, so no resource tree is needed for 10,000 devices and
   * Group Mgmt instances that come and go. */
  coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
  if (!r) return -1;
  coap_resource_set_userdata(r, f);
  static const coap_request_t methods[] = {COAP_REQUEST_GET,    COAP_REQUEST_POST,
                                           COAP_REQUEST_DELETE, COAP_REQUEST_FETCH,
                                           COAP_REQUEST_PATCH,  COAP_REQUEST_IPATCH};
  for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
    coap_register_request_handler(r, methods[k], on_request);
  coap_add_resource(f->ctx, r);
  event_fleet = f;
  coap_register_event_handler(f->ctx, on_event);
  sim_group_setup(f);
  return 0;
}
