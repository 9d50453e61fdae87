/* coap_msg.c - the group request as raw CoAP bytes. libcoap 4.3.1 builds PDUs for its own
 * sessions but has no public call that hands the encoded bytes out, and a group request
 * travels inside a T8 JSON body or an MB2-U datagram, not over a libcoap session. */
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_internal.h"
#include "lwm2m/unicast_internal.h"

uint8_t lmmi_op_method(lmm_op_kind k) {
  switch (k) {
  case LMM_OPK_READ:
  case LMM_OPK_DISCOVER:
  case LMM_OPK_OBSERVE:
  case LMM_OPK_CANCEL_OBSERVE:
    return 1;
  case LMM_OPK_WRITE_UPDATE:
  case LMM_OPK_CREATE:
  case LMM_OPK_EXECUTE:
    return 2;
  case LMM_OPK_WRITE:
  case LMM_OPK_WRITE_ATTR:
    return 3;
  case LMM_OPK_DELETE:
    return 4;
  }
  return 0;
}

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  bool oom, too_long; /* an option value past RFC 7252's 65804 bytes */
} wbuf;

static void put(wbuf *w, const void *src, size_t n) {
  if (w->oom) return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->len + n)
      cap *= 2;
    uint8_t *np = realloc(w->p, cap);
    if (!np) {
      w->oom = true;
      return;
    }
    w->p = np, w->cap = cap;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}

/* RFC 7252 3.1: delta and length as 4-bit nibbles with 13/14 extensions. */
static void put_option(wbuf *w, unsigned *last, unsigned num, const void *val, size_t len) {
  if (len > 269 + 0xFFFF) {
    w->too_long = true;
    return;
  }
  unsigned delta = num - *last;
  uint8_t hdr[5];
  size_t h = 1;
  unsigned dn, ln;
  uint8_t ext[4];
  size_t e = 0;
  if (delta < 13)
    dn = delta;
  else if (delta < 269)
    dn = 13, ext[e++] = (uint8_t)(delta - 13);
  else
    dn = 14, ext[e++] = (uint8_t)((delta - 269) >> 8), ext[e++] = (uint8_t)(delta - 269);
  if (len < 13)
    ln = (unsigned)len;
  else if (len < 269)
    ln = 13, ext[e++] = (uint8_t)(len - 13);
  else
    ln = 14, ext[e++] = (uint8_t)((len - 269) >> 8), ext[e++] = (uint8_t)(len - 269);
  hdr[0] = (uint8_t)(dn << 4 | ln);
  memcpy(hdr + 1, ext, e);
  h += e;
  put(w, hdr, h);
  put(w, val, len);
  *last = num;
}

static void put_uint_option(wbuf *w, unsigned *last, unsigned num, unsigned v) {
  uint8_t b[4];
  size_t n = 0;
  for (int s = 24; s >= 0; s -= 8) /* minimal length: leading zero bytes are left out */
    if (n || (v >> s) & 0xff) b[n++] = (uint8_t)(v >> s);
  put_option(w, last, num, b, n);
}

lmm_err lmmi_coap_group_request(const lmm_op *op, uint16_t mid, const uint8_t token[LMMI_TOKEN_LEN],
                                uint8_t **out, size_t *out_len) {
  uint8_t code = lmmi_op_method(op->kind);
  /* An observation needs a relationship with each member: no group form. */
  if (!code || op->kind == LMM_OPK_OBSERVE || op->kind == LMM_OPK_CANCEL_OBSERVE ||
      op->path.depth < 1 || op->path.depth > 4)
    return LMM_ERR_ARG;
  wbuf w = {0};
  uint8_t hdr[4] = {0x50 | LMMI_TOKEN_LEN, code, (uint8_t)(mid >> 8), (uint8_t)mid}; /* v1 NON */
  put(&w, hdr, 4);
  put(&w, token, LMMI_TOKEN_LEN);
  unsigned last = 0;
  const uint16_t parts[4] = {op->path.oid, op->path.iid, op->path.rid, op->path.riid};
  for (int i = 0; i < op->path.depth; i++) {
    char seg[8];
    int n = 0;
    unsigned v = parts[i];
    char tmp[8];
    do
      tmp[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    for (int k = 0; k < n; k++)
      seg[k] = tmp[n - 1 - k];
    put_option(&w, &last, 11, seg, (size_t)n); /* Uri-Path */
  }
  if (op->payload && op->len) put_uint_option(&w, &last, 12, op->format); /* Content-Format */
  if (op->query && *op->query) { /* Uri-Query, one option per '&'-separated item */
    const char *q = op->query;
    while (*q) {
      const char *amp = strchr(q, '&');
      size_t n = amp ? (size_t)(amp - q) : strlen(q);
      if (n) put_option(&w, &last, 15, q, n);
      q += n + (amp ? 1 : 0);
    }
  }
  if (op->kind == LMM_OPK_DISCOVER) {
    put_uint_option(&w, &last, 17, LMM_FMT_LINK);
  } else if (code == 1) {
    /* One Accept for the whole group: the engine's choice for a member that says nothing of
     * its format (text for one resource, SenML-JSON for more). A member that cannot answer in
     * it says 4.06 or 5.00, and the campaign asks it again by unicast in its own format. */
    lmm_op chosen = *op;
    (void)lmmi_unicast_choose_accept(&chosen, NULL, 0xFFFF);
    if (chosen.accept != LMM_ACCEPT_NONE) put_uint_option(&w, &last, 17, chosen.accept);
  }
  put_uint_option(&w, &last, 258, 26); /* No-Response: suppress 2.xx, 4.xx and 5.xx */
  if (op->payload && op->len) {
    static const uint8_t marker = 0xff;
    put(&w, &marker, 1);
    put(&w, op->payload, op->len);
  }
  if (w.oom || w.too_long) {
    free(w.p);
    return w.oom ? LMM_ERR_NOMEM : LMM_ERR_ARG;
  }
  *out = w.p, *out_len = w.len;
  return LMM_OK;
}
