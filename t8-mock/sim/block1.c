/* block1.c - lwm2m-mbms-sim: Block1 (RFC 7959) reassembly per device, and the firmware
 * Package pushed block by block into the device's running digest. */
#include "serve.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"
#include "msg.h"

#define RX_BUDGET (64u * 1024u * 1024u) /* Block1 bodies held at once, fleet-wide */

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

/* A push of the Package: streamed into the digest, never stored. A query without a payload
 * is Write-Attributes on the Package, not an empty package (which resets the download). */
static bool is_package(const sim_req *r) {
  return r->method == SIM_M_PUT && r->p.depth == 3 && r->p.oid == 5 && r->p.iid == 0 &&
         r->p.rid == 0 && (r->cf < 0 || r->cf == LMM_FMT_OPAQUE) && !r->blob &&
         !(r->has_query && r->len == 0);
}

/* Handles the Block1 option (RFC 7959), done by the application rather than by libcoap:
 * libcoap keeps one session per client address and port, shared by all devices, so its
 * reassembly could mix two devices' transfers from one client socket; and a firmware package
 * must not be buffered. Returns true when the request is complete (r->data then holds the
 * whole body), false when the reply is set (2.31 Continue or an error). */
bool sim_block1(sim_req *r, sim_reply *rp, uint8_t **body) {
  coap_block_b_t b;
  *body = NULL;
  if (is_package(r) && !sim_fmt_known(r->f->cfg, LMM_FMT_OPAQUE)) { /* --formats */
    sim_fail(rp, CODE(415), "this device does not take format %d, a Package's", LMM_FMT_OPAQUE);
    return false;
  }
  if (!coap_get_block_b(r->s, r->pdu, COAP_OPTION_BLOCK1, &b)) {
    if (is_package(r)) {
      int rc = sim_fw_package_block(r->f, r->i, 0, r->data, r->len, false, r->len);
      if (rc == CODE(413))
        sim_fail(rp, rc, "package larger than %u bytes", SIM_FW_MAX);
      else if (rc)
        sim_fail(rp, rc, "firmware state does not allow a package now");
      else
        rp->code = CODE(204);
      return false;
    }
    return true;
  }
  if (b.szx > 6) {
    sim_fail(rp, CODE(400), "Block1 size exponent %u", (unsigned)b.szx);
    return false;
  }
  size_t bs = (size_t)1 << (b.szx + 4);
  uint64_t off = (uint64_t)b.num << (b.szx + 4);
  if (r->len > bs || (b.m && r->len != bs)) {
    sim_fail(rp, CODE(400), "block %u holds %zu bytes, not %zu", b.num, r->len, bs);
    return false;
  }
  long size1 = sim_opt_uint(r->pdu, COAP_OPTION_SIZE1, 4);
  rp->block1 = true;
  rp->b1 = b;
  if (is_package(r)) {
    int rc = size1 > (long)SIM_FW_MAX ? CODE(413)
                                      : sim_fw_package_block(r->f, r->i, off, r->data, r->len, b.m,
                                                             size1 > 0 ? (uint64_t)size1 : 0);
    if (rc == SIM_SILENT)
      rp->silent = true;
    else if (rc == CODE(413))
      sim_fail(rp, rc, "package larger than %u bytes", SIM_FW_MAX);
    else if (rc == CODE(408))
      sim_fail(rp, rc, "block %u out of sequence", b.num);
    else if (rc)
      sim_fail(rp, rc, "firmware state does not allow a package now");
    else
      rp->code = b.m ? CODE(231) : CODE(204);
    return false;
  }
  sim_device *d = r->d;
  if (b.num == 0) {
    rx_free(r->f, d);
    if (sim_precheck(r, rp) < 0) return false;
    if (size1 > (long)SIM_BODY_MAX) {
      sim_fail(rp, CODE(413), "body larger than %u bytes", SIM_BODY_MAX);
      return false;
    }
    if (!(d->rx = calloc(1, sizeof *d->rx))) {
      sim_fail(rp, CODE(500), "out of memory");
      return false;
    }
    d->rx->path = r->p, d->rx->method = (uint8_t)r->method, d->rx->fmt = r->cf;
    d->rx->blob_index = r->blob ? r->blob_index : LONG_MIN;
  } else if (!d->rx || !same_path(&d->rx->path, &r->p) || d->rx->method != r->method ||
             d->rx->blob_index != (r->blob ? r->blob_index : LONG_MIN)) {
    sim_fail(rp, CODE(408), "block %u of no transfer in progress", b.num);
    return false;
  } else if (b.m && off + r->len == d->rx->len) {
    rp->code = CODE(231); /* a retransmission: acknowledged again */
    return false;
  } else if (off != d->rx->len) {
    sim_fail(rp, CODE(408), "block %u out of sequence", b.num);
    return false;
  }
  sim_rx *rx = d->rx;
  if (rx->len + r->len > SIM_BODY_MAX) {
    rx_free(r->f, d);
    sim_fail(rp, CODE(413), "body larger than %u bytes", SIM_BODY_MAX);
    return false;
  }
  if (rx->len + r->len > rx->cap) {
    size_t nc = rx->cap ? rx->cap * 2 : 4096;
    while (nc < rx->len + r->len)
      nc *= 2;
    uint8_t *nb = r->f->rx_bytes + nc - rx->cap <= RX_BUDGET ? realloc(rx->buf, nc) : NULL;
    if (!nb) {
      rx_free(r->f, d);
      sim_fail(rp, CODE(413), "simulator out of reassembly memory");
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
