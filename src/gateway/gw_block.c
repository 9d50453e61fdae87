/* gw_block.c - the gateway's own block-wise transfers (RFC 7959) with bounded state: request
 * bodies reassembled from Block1, and large answers cut into Block2 blocks from a store of
 * the bodies sent, keyed by the peer and the request's path and query. libcoap's block mode
 * is off on this endpoint: its server-side code in 4.3.1 crashed on a datagram after the
 * wrong state (tests/fuzz/regress/gateway/), and anyone who reaches the port can send one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"

/* The option's value, RFC 7959 2.2: NUM, M and SZX in 0 to 3 bytes. */
int lmmi_gw_block_opt(const coap_pdu_t *pdu, uint16_t opt, lmmi_gw_blk *b) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(pdu, opt, &it);
  if (!o) return 0;
  if (coap_opt_length(o) > 3) return -1;
  unsigned v = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
  b->num = v >> 4, b->m = (v >> 3) & 1, b->szx = v & 7;
  return b->szx == 7 ? -1 : 1; /* 7 is reserved (BERT, over TCP only) */
}

static size_t block_size(unsigned szx) {
  return (size_t)1 << (szx + 4);
}

static void who_of(lmmi_gw_who *w, coap_session_t *s, const char *key, coap_pdu_code_t method) {
  memset(w, 0, sizeof *w);
  w->addr = *coap_session_get_addr_remote(s);
  w->proto = coap_session_get_proto(s);
  w->method = method;
  snprintf(w->key, sizeof w->key, "%s", key);
}

static bool same(const lmmi_gw_who *a, const lmmi_gw_who *b, bool method_too) {
  return a->proto == b->proto && coap_address_equals(&a->addr, &b->addr) &&
         (!method_too || a->method == b->method) && !strcmp(a->key, b->key);
}

static void add_uint_opt(coap_pdu_t *pdu, uint16_t opt, unsigned v) {
  uint8_t b[4];
  coap_add_option(pdu, opt, coap_encode_var_safe(b, sizeof b, v), b);
}

static void add_block_opt(coap_pdu_t *pdu, uint16_t opt, unsigned num, bool m, unsigned szx) {
  add_uint_opt(pdu, opt, num << 4 | (m ? 8u : 0u) | szx);
}

/* ------------------------------------------------------------------ Block1 */

static void rx_drop(lmmi_gw_rx *rx) {
  free(rx->buf);
  memset(rx, 0, sizeof *rx);
}

/* Transfers without a block for LMMI_GW_RX_IDLE_MS are abandoned. */
static void rx_sweep(lmm_gateway *gw, int64_t now) {
  for (size_t i = 0; i < LMMI_GW_RX_MAX; i++)
    if (gw->rx[i].used && now - gw->rx[i].at_ms > LMMI_GW_RX_IDLE_MS) rx_drop(&gw->rx[i]);
}

/* A free slot, else the one idle longest, dropped. */
static lmmi_gw_rx *rx_slot(lmm_gateway *gw) {
  lmmi_gw_rx *old = &gw->rx[0];
  for (size_t i = 0; i < LMMI_GW_RX_MAX; i++) {
    if (!gw->rx[i].used) return &gw->rx[i];
    if (gw->rx[i].seq < old->seq) old = &gw->rx[i];
  }
  LMMI_GW_LOG(gw, LMM_LOG_INFO, "gateway: Block1 transfer of /%s dropped for a newer one",
              old->who.key);
  rx_drop(old);
  return old;
}

static bool too_large(coap_pdu_t *resp, const char *key, size_t size) {
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE(413));
  add_uint_opt(resp, COAP_OPTION_SIZE1, LMMI_GW_BODY_MAX);
  char t[400];
  int n = snprintf(t, sizeof t, "the body of /%s is %zu bytes or more, over the gateway's %u", key,
                   size, (unsigned)LMMI_GW_BODY_MAX);
  coap_add_data(resp,
                n < 0                  ? 0
                : (size_t)n < sizeof t ? (size_t)n
                                       : sizeof t - 1,
                (const uint8_t *)t);
  return false;
}

static bool append(lmmi_gw_rx *rx, const uint8_t *d, size_t len) {
  if (rx->len + len > rx->cap) {
    size_t cap = rx->cap ? rx->cap : 1024;
    while (cap < rx->len + len)
      cap *= 2;
    if (cap > LMMI_GW_BODY_MAX) cap = LMMI_GW_BODY_MAX;
    uint8_t *nb = realloc(rx->buf, cap);
    if (!nb) return false;
    rx->buf = nb, rx->cap = cap;
  }
  if (len) memcpy(rx->buf + rx->len, d, len);
  rx->len += len;
  return true;
}

bool lmmi_gw_block1(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req, const char *key,
                    coap_pdu_t *resp, lmmi_gw_body *body) {
  memset(body, 0, sizeof *body);
  size_t len = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data(req, &len, &data)) len = 0, data = NULL;
  int64_t now = lmm_ctx_now_ms(gw->ctx);
  rx_sweep(gw, now);
  lmmi_gw_blk b;
  int has = lmmi_gw_block_opt(req, COAP_OPTION_BLOCK1, &b);
  if (has < 0)
    return lmmi_gw_reply(resp, 0x82, "Block1 option: more than 3 bytes, or the reserved size 7"),
           false;
  if (!has) {
    body->data = data, body->len = len;
    return true;
  }
  size_t bs = block_size(b.szx), off = (size_t)b.num * bs;
  if (b.m ? len != bs : len > bs)
    return lmmi_gw_reply(resp, 0x80, "Block1 %u%s/%zu carries %zu bytes: %s", b.num,
                         b.m ? "/M" : "", bs, len,
                         b.m ? "a block with more to follow is its whole size" : "over its size"),
           false;
  lmmi_gw_who who;
  who_of(&who, s, key, coap_pdu_get_code(req));
  lmmi_gw_rx *rx = NULL;
  for (size_t i = 0; i < LMMI_GW_RX_MAX && !rx; i++)
    if (gw->rx[i].used && same(&gw->rx[i].who, &who, true)) rx = &gw->rx[i];
  coap_opt_iterator_t it;
  coap_opt_t *s1 = coap_check_option(req, COAP_OPTION_SIZE1, &it);
  size_t announced = s1 ? coap_decode_var_bytes8(coap_opt_value(s1), coap_opt_length(s1)) : 0;
  if (announced > LMMI_GW_BODY_MAX || off + len > LMMI_GW_BODY_MAX) {
    if (rx) rx_drop(rx);
    return too_large(resp, key, announced > off + len ? announced : off + len);
  }
  if (b.num == 0) {
    if (rx) rx_drop(rx); /* a new transfer of the same resource replaces the old one */
    if (!b.m) {          /* the whole body in one block */
      body->data = data, body->len = len, body->block1 = true, body->last = b;
      add_block_opt(resp, COAP_OPTION_BLOCK1, 0, false, b.szx);
      return true;
    }
    rx = rx_slot(gw);
    rx->used = true, rx->who = who;
  } else if (!rx) {
    return lmmi_gw_reply(resp, 0x88,
                         "no Block1 transfer of /%s in progress (block %u came): send it again "
                         "from block 0",
                         key, b.num),
           false;
  } else if (b.m && off == rx->last_off && len == rx->last_len && off + len == rx->len) {
    /* The same block again (its 2.31 was lost): the transfer is where it was. */
    rx->at_ms = now, rx->seq = ++gw->block_seq;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(231));
    add_block_opt(resp, COAP_OPTION_BLOCK1, b.num, true, b.szx);
    return false;
  } else if (off != rx->len) {
    size_t had = rx->len;
    rx_drop(rx);
    return lmmi_gw_reply(resp, 0x88,
                         "Block1 %u of /%s starts at byte %zu, but %zu bytes came before it: the "
                         "transfer is dropped, send it again from block 0",
                         b.num, key, off, had),
           false;
  }
  if (!append(rx, data, len)) {
    rx_drop(rx);
    return lmmi_gw_reply(resp, 0xA0, "out of memory for the body of /%s", key), false;
  }
  rx->last_off = off, rx->last_len = len, rx->at_ms = now, rx->seq = ++gw->block_seq;
  if (b.m) {
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(231)); /* Continue */
    add_block_opt(resp, COAP_OPTION_BLOCK1, b.num, true, b.szx);
    return false;
  }
  body->owned = rx->buf, body->data = rx->buf, body->len = rx->len;
  body->block1 = true, body->last = b;
  rx->buf = NULL;
  rx_drop(rx);
  add_block_opt(resp, COAP_OPTION_BLOCK1, b.num, false, b.szx);
  return true;
}

void lmmi_gw_body_clear(lmmi_gw_body *b) {
  free(b->owned);
  memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ Block2 */

static void tx_drop(lmmi_gw_tx *tx) {
  free(tx->body);
  memset(tx, 0, sizeof *tx);
}

void lmmi_gw_blocks_free(lmm_gateway *gw) {
  for (size_t i = 0; i < LMMI_GW_RX_MAX; i++)
    rx_drop(&gw->rx[i]);
  for (size_t i = 0; i < LMMI_GW_TX_MAX; i++)
    tx_drop(&gw->tx[i]);
}

/* FNV-1a over the code, format and body: the same representation gets the same ETag, so a
 * body built again (a config Read) still matches the blocks the server already has. */
static uint64_t etag_of(uint8_t code, uint16_t cf, const uint8_t *p, size_t len) {
  uint64_t h = 1469598103934665603ull;
  uint8_t head[3] = {code, (uint8_t)(cf >> 8), (uint8_t)cf};
  for (size_t i = 0; i < sizeof head; i++)
    h = (h ^ head[i]) * 1099511628211ull;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

bool lmmi_gw_put_block(coap_pdu_t *pdu, uint8_t code, int cf, const uint8_t *body, size_t len,
                       unsigned num, unsigned szx, const uint64_t *etag) {
  size_t bs = block_size(szx), off = (size_t)num * bs;
  bool blockwise = len > bs || num > 0;
  if (blockwise && off >= len) {
    coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(402));
    char t[160];
    int n =
        snprintf(t, sizeof t, "Block2 %u/%zu is past the end of the %zu-byte body", num, bs, len);
    coap_add_data(pdu, n < 0 ? 0 : (size_t)n, (const uint8_t *)t);
    return false;
  }
  coap_pdu_set_code(pdu, (coap_pdu_code_t)code);
  if (blockwise) {
    uint64_t e = etag ? *etag : etag_of(code, (uint16_t)(cf < 0 ? 0 : cf), body, len);
    uint8_t eb[8];
    for (int i = 0; i < 8; i++)
      eb[i] = (uint8_t)(e >> (56 - 8 * i));
    coap_add_option(pdu, COAP_OPTION_ETAG, sizeof eb, eb);
  }
  if (cf >= 0) add_uint_opt(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)cf);
  size_t n = len;
  if (blockwise) {
    n = len - off < bs ? len - off : bs;
    add_block_opt(pdu, COAP_OPTION_BLOCK2, num, off + n < len, szx);
    add_uint_opt(pdu, COAP_OPTION_SIZE2, (unsigned)len);
  }
  return !n || coap_add_data(pdu, n, body + off);
}

/* Bodies not asked for within LMMI_GW_TX_KEEP_MS are let go. */
static void tx_sweep(lmm_gateway *gw, int64_t now) {
  for (size_t i = 0; i < LMMI_GW_TX_MAX; i++)
    if (gw->tx[i].used && now - gw->tx[i].at_ms > LMMI_GW_TX_KEEP_MS) tx_drop(&gw->tx[i]);
}

void lmmi_gw_keep(lmm_gateway *gw, coap_session_t *s, const char *key, uint8_t code, int cf,
                  uint8_t *body, size_t len) {
  int64_t now = lmm_ctx_now_ms(gw->ctx);
  tx_sweep(gw, now);
  lmmi_gw_who who;
  who_of(&who, s, key, 0);
  for (size_t i = 0; i < LMMI_GW_TX_MAX; i++)
    if (gw->tx[i].used && same(&gw->tx[i].who, &who, false)) tx_drop(&gw->tx[i]);
  lmmi_gw_tx *tx = NULL, *old = &gw->tx[0];
  for (size_t i = 0; i < LMMI_GW_TX_MAX && !tx; i++) {
    if (!gw->tx[i].used)
      tx = &gw->tx[i];
    else if (gw->tx[i].at_ms < old->at_ms)
      old = &gw->tx[i];
  }
  if (!tx) tx_drop(tx = old); /* the one asked for longest ago makes room */
  tx->used = true, tx->who = who, tx->code = code, tx->cf = cf;
  tx->etag = etag_of(code, (uint16_t)(cf < 0 ? 0 : cf), body, len);
  tx->body = body, tx->len = len, tx->at_ms = now, tx->seq = ++gw->block_seq;
}

void lmmi_gw_respond(lmm_gateway *gw, coap_session_t *s, const char *key, const coap_pdu_t *req,
                     coap_pdu_t *resp, uint8_t code, int cf, uint8_t *body, size_t len) {
  lmmi_gw_blk b = {0, 0, 6};
  if (lmmi_gw_block_opt(req, COAP_OPTION_BLOCK2, &b) <= 0) b.num = 0, b.szx = 6;
  if (lmmi_gw_put_block(resp, code, cf, body, len, b.num, b.szx, NULL) && len > block_size(b.szx))
    lmmi_gw_keep(gw, s, key, code, cf, body, len);
  else
    free(body);
}

bool lmmi_gw_block2_later(lmm_gateway *gw, coap_session_t *s, const coap_pdu_t *req,
                          const char *key, coap_pdu_t *resp) {
  lmmi_gw_blk b;
  if (lmmi_gw_block_opt(req, COAP_OPTION_BLOCK2, &b) <= 0 || b.num == 0) return false;
  int64_t now = lmm_ctx_now_ms(gw->ctx);
  tx_sweep(gw, now);
  lmmi_gw_who who;
  who_of(&who, s, key, 0);
  for (size_t i = 0; i < LMMI_GW_TX_MAX; i++) {
    lmmi_gw_tx *tx = &gw->tx[i];
    if (!tx->used || !same(&tx->who, &who, false)) continue;
    tx->at_ms = now, tx->seq = ++gw->block_seq;
    lmmi_gw_put_block(resp, tx->code, tx->cf, tx->body, tx->len, b.num, b.szx, &tx->etag);
    return true;
  }
  return false;
}
