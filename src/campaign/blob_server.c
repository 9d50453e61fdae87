/* blob_server.c - the adapter's CoAP blob server (docs/protocol.md section 5.6): firmware
 * packages that members pull with Block2 (RFC 7959), served from the context's loop.
 *
 * Block2 is done here, not by libcoap's block mode: every request names its block, and the
 * answer is a slice of the blob computed from that request alone. libcoap's block mode would
 * keep a body and a transfer state per client session; with hundreds of members pulling at
 * once that is memory for nothing, and it would hide the blocks from the counters. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lmm_wire/hex.h"
#include "campaign/campaign_internal.h"
#include "core/ctx_internal.h"
#include "lwm2m_mbms/blob_server.h"

#define CF_OCTET_STREAM 42
/* Headers of a Block2 response besides the payload: 4 fixed, an 8-byte token, ETag (1+8),
 * Content-Format (1+1), Block2 (1+3), Size2 (1+4), payload marker; rounded up. */
#define RESPONSE_OVERHEAD 40
typedef struct blob {
  lmm_blob_id id;
  const uint8_t *data;
  uint8_t *owned; /* NULL when borrowed */
  size_t len;
  uint8_t etag[8];
  char *uri;
  lmm_blob_stats st;
  struct blob *next;
} blob;

struct lmm_blob_server {
  lmm_ctx *ctx;
  coap_context_t *coap;
  lmmi_source src;
  bool src_added;
  char *base_uri;
  uint16_t port;
  unsigned max_szx;
  blob *blobs;
  lmm_blob_server_stats stats;
};

/* ------------------------------------------------------------ loop source */

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  return lmmi_coap_pollfds(((lmm_blob_server *)self)->coap, pfd, cap);
}

static int64_t src_deadline(void *self) {
  lmm_blob_server *s = self;
  return lmmi_coap_deadline(s->ctx, s->coap);
}

static void src_process(void *self, const struct pollfd *pfd, size_t n) {
  (void)pfd, (void)n;
  lmmi_coap_serve(((lmm_blob_server *)self)->coap);
}

/* ------------------------------------------------------------ requests */

static blob *find(const lmm_blob_server *s, lmm_blob_id id) {
  for (blob *b = s->blobs; b; b = b->next)
    if (b->id == id) return b;
  return NULL;
}

/* The blob a request's Uri-Path names ("fw" / 16 hex digits), or NULL. */
static blob *lookup(const lmm_blob_server *s, const coap_pdu_t *req) {
  coap_opt_filter_t f;
  coap_opt_iterator_t it;
  coap_option_filter_clear(&f);
  coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
  if (!coap_option_iterator_init(req, &it, &f)) return NULL;
  lmm_blob_id id = 0;
  int seg = 0;
  coap_opt_t *o;
  while ((o = coap_option_next(&it))) {
    const uint8_t *v = coap_opt_value(o);
    size_t l = coap_opt_length(o);
    if (seg == 0 && (l != 2 || memcmp(v, "fw", 2))) return NULL;
    if (seg == 1) {
      uint8_t raw[sizeof id];
      if (!lmmw_unhex((const char *)v, l, raw, sizeof raw)) return NULL;
      for (size_t i = 0; i < sizeof raw; i++)
        id = id << 8 | raw[i];
    }
    if (++seg > 2) return NULL;
  }
  return seg == 2 ? find(s, id) : NULL;
}

static void on_other(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *req,
                     const coap_string_t *query, coap_pdu_t *resp) {
  (void)session, (void)query;
  lmm_blob_server *s = coap_resource_get_userdata(res);
  s->stats.requests++;
  if (lookup(s, req)) {
    s->stats.bad_method++;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_ALLOWED);
  } else {
    s->stats.not_found++;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_FOUND);
  }
}

static void add_uint_option(coap_pdu_t *pdu, coap_option_num_t num, unsigned v) {
  uint8_t buf[4];
  coap_add_option(pdu, num, coap_encode_var_safe(buf, sizeof buf, v), buf);
}

static void on_get(coap_resource_t *res, coap_session_t *session, const coap_pdu_t *req,
                   const coap_string_t *query, coap_pdu_t *resp) {
  (void)query;
  lmm_blob_server *s = coap_resource_get_userdata(res);
  s->stats.requests++;
  blob *b = lookup(s, req);
  if (!b) {
    s->stats.not_found++;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_FOUND);
    return;
  }
  b->st.requests++;
  /* Our largest block, shrunk when the session's PDU limit would not hold it. */
  unsigned szx = s->max_szx;
  size_t max_pdu = coap_session_max_pdu_size(session);
  while (szx > 0 && ((size_t)1 << (szx + 4)) + RESPONSE_OVERHEAD > max_pdu)
    szx--;
  uint64_t offset = 0;
  bool asked_block = false, asked_size = false;
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(req, COAP_OPTION_BLOCK2, &it);
  if (o) {
    unsigned v = coap_opt_length(o) <= 3
                     ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o))
                     : 0xFFFFFFFFu;
    unsigned rszx = v & 7;
    /* SZX 7 is BERT, which exists only over TCP; a longer option is malformed. */
    if (v == 0xFFFFFFFFu || rszx == 7) {
      s->stats.bad_block++;
      coap_pdu_set_code(resp, COAP_RESPONSE_CODE_BAD_OPTION);
      return;
    }
    /* RFC 7959 2.4: a client's size is honoured when smaller; when it asked for more than we
     * send, its block number is rescaled to ours over the same offset. */
    offset = (uint64_t)(v >> 4) << (rszx + 4);
    if (rszx < szx) szx = rszx;
    asked_block = true;
  }
  asked_size = coap_check_option(req, COAP_OPTION_SIZE2, &it) != NULL;
  size_t bs = (size_t)1 << (szx + 4);
  /* Past the end, or (our block smaller than the client's) at a number Block2's 20 bits
   * cannot carry. */
  if (offset >= b->len || offset / bs > 0xFFFFF) {
    s->stats.bad_block++;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_BAD_OPTION);
    return;
  }
  size_t n = b->len - offset < bs ? b->len - (size_t)offset : bs;
  bool more = offset + n < b->len, block = asked_block || more;
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
  /* Options go in ascending number order: ETag 4, Content-Format 12, Block2 23, Size2 28. */
  coap_add_option(resp, COAP_OPTION_ETAG, sizeof b->etag, b->etag);
  add_uint_option(resp, COAP_OPTION_CONTENT_FORMAT, CF_OCTET_STREAM);
  if (block)
    add_uint_option(resp, COAP_OPTION_BLOCK2,
                    (unsigned)(offset / bs) << 4 | (unsigned)more << 3 | szx);
  if ((block && offset == 0) || asked_size)
    add_uint_option(resp, COAP_OPTION_SIZE2, (unsigned)b->len);
  if (!coap_add_data(resp, n, b->data + offset)) {
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_INTERNAL_ERROR);
    return;
  }
  b->st.blocks++, s->stats.blocks++;
  b->st.bytes_sent += n, s->stats.bytes_sent += n;
  if (!more) b->st.completions++, s->stats.completions++;
}

/* ------------------------------------------------------------ the server */

static void blob_free(blob *b) {
  free(b->owned), free(b->uri), free(b);
}

LMM_API lmm_err lmm_blob_server_new(lmm_ctx *ctx, const lmm_blob_server_config *cfg_in,
                                    lmm_blob_server **out) {
  static const lmm_blob_server_config defaults = LMM_BLOB_SERVER_CONFIG_DEFAULT;
  const lmm_blob_server_config *cfg = cfg_in ? cfg_in : &defaults;
  if (!ctx || !out) return LMM_ERR_ARG;
  unsigned bs = cfg->max_block_size ? cfg->max_block_size : 1024, max_szx = 0;
  while (max_szx < 6 && (16u << max_szx) < bs)
    max_szx++;
  if ((16u << max_szx) != bs) return LMM_ERR_ARG;
  const char *bind = cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
  const char *host = cfg->advertise_host && *cfg->advertise_host ? cfg->advertise_host : NULL;
  lmm_blob_server *s = calloc(1, sizeof *s);
  if (!s) return LMM_ERR_NOMEM;
  s->ctx = ctx, s->max_szx = max_szx;
  bool wildcard = false;
  lmm_err rc = lmmi_coap_listen(bind, cfg->port, &s->coap, &s->port, &wildcard);
  if (rc != LMM_OK) goto fail;
  rc = LMM_ERR_ARG;
  /* A wildcard is no address a member could reach: the URI needs a real host. */
  if (wildcard && !host) goto fail;
  if (!host) host = bind;
  rc = LMM_ERR_NOMEM;
  /* Sessions hold nothing we need between requests (Block2 is stateless here): reclaim the
   * ones of members that finished sooner than libcoap's 300 s default. */
  coap_context_set_session_timeout(s->coap, 30);
  /* One catch-all resource: blobs come and go without touching libcoap's resource table, and
   * every path, known or not, reaches our counters (libcoap alone would answer an unknown
   * DELETE with 2.02). */
  coap_resource_t *r = coap_resource_unknown_init2(on_other, 0);
  if (!r) goto fail;
  coap_resource_set_userdata(r, s);
  coap_register_request_handler(r, COAP_REQUEST_GET, on_get);
  coap_register_request_handler(r, COAP_REQUEST_POST, on_other);
  coap_register_request_handler(r, COAP_REQUEST_DELETE, on_other);
  coap_register_request_handler(r, COAP_REQUEST_FETCH, on_other);
  coap_register_request_handler(r, COAP_REQUEST_PATCH, on_other);
  coap_register_request_handler(r, COAP_REQUEST_IPATCH, on_other);
  coap_add_resource(s->coap, r);
  char uri[300];
  bool v6 = strchr(host, ':') && host[0] != '[';
  if (snprintf(uri, sizeof uri, v6 ? "coap://[%s]:%u" : "coap://%s:%u", host, (unsigned)s->port) >=
      (int)sizeof uri) {
    rc = LMM_ERR_ARG;
    goto fail;
  }
  if (!(s->base_uri = strdup(uri))) goto fail;
  s->src = (lmmi_source){src_pollfds, src_deadline, src_process, s, LMMI_ORDER_RECEIVER};
  if (lmmi_ctx_add_source(ctx, &s->src) != LMM_OK) goto fail;
  s->src_added = true;
  *out = s;
  return LMM_OK;
fail:
  lmm_blob_server_free(s);
  return rc;
}

LMM_API void lmm_blob_server_free(lmm_blob_server *s) {
  if (!s) return;
  if (s->src_added) lmmi_ctx_remove_source(s->ctx, &s->src);
  if (s->coap) coap_free_context(s->coap);
  while (s->blobs) {
    blob *b = s->blobs;
    s->blobs = b->next;
    blob_free(b);
  }
  free(s->base_uri), free(s);
}

LMM_API const char *lmm_blob_server_base_uri(const lmm_blob_server *s) {
  return s ? s->base_uri : NULL;
}

LMM_API uint16_t lmm_blob_server_port(const lmm_blob_server *s) {
  return s ? s->port : 0;
}

LMM_API lmm_err lmm_blob_server_add(lmm_blob_server *s, const uint8_t *data, size_t len,
                                    unsigned flags, lmm_blob_id *id, const char **uri) {
  if (!s || !data || !len || !id) return LMM_ERR_ARG;
  /* Block2 numbers have 20 bits: past 2^20 blocks a client could not ask for the rest. */
  if ((uint64_t)len > ((uint64_t)1 << 20) << (s->max_szx + 4)) return LMM_ERR_ARG;
  blob *b = calloc(1, sizeof *b);
  if (!b) return LMM_ERR_NOMEM;
  lmm_err rc = LMM_ERR_NOMEM;
  /* Random, so that a URI does not reveal how many blobs came before or let a client guess
   * another one; 0 is kept out to leave callers a "no blob" value. */
  do {
    if ((rc = lmmi_random(s->ctx, &b->id, sizeof b->id)) != LMM_OK) goto fail;
  } while (b->id == 0 || find(s, b->id));
  rc = LMM_ERR_NOMEM;
  if (flags & LMM_BLOB_BORROW) {
    b->data = data;
  } else {
    if (!(b->owned = malloc(len))) goto fail;
    memcpy(b->owned, data, len);
    b->data = b->owned;
  }
  b->len = len;
  unsigned char digest[32];
  if (mbedtls_sha256_ret(b->data, len, digest, 0) != 0) {
    rc = LMM_ERR_IO;
    goto fail;
  }
  memcpy(b->etag, digest, sizeof b->etag);
  size_t ul = strlen(s->base_uri) + sizeof "/fw/" + 16;
  if (!(b->uri = malloc(ul))) goto fail;
  snprintf(b->uri, ul, "%s/fw/%016" PRIx64, s->base_uri, b->id);
  b->next = s->blobs;
  s->blobs = b;
  *id = b->id;
  if (uri) *uri = b->uri;
  return LMM_OK;
fail:
  blob_free(b);
  return rc;
}

LMM_API const char *lmm_blob_server_uri(const lmm_blob_server *s, lmm_blob_id id) {
  const blob *b = s ? find(s, id) : NULL;
  return b ? b->uri : NULL;
}

LMM_API lmm_err lmm_blob_server_remove(lmm_blob_server *s, lmm_blob_id id) {
  if (!s) return LMM_ERR_ARG;
  for (blob **pp = &s->blobs; *pp; pp = &(*pp)->next)
    if ((*pp)->id == id) {
      blob *b = *pp;
      *pp = b->next;
      blob_free(b);
      return LMM_OK;
    }
  return LMM_ERR_NOTFOUND;
}

LMM_API void lmm_blob_server_get_stats(const lmm_blob_server *s, lmm_blob_server_stats *out) {
  if (s && out) *out = s->stats;
}

LMM_API lmm_err lmm_blob_server_blob_stats(const lmm_blob_server *s, lmm_blob_id id,
                                           lmm_blob_stats *out) {
  const blob *b = s ? find(s, id) : NULL;
  if (!b || !out) return b ? LMM_ERR_ARG : LMM_ERR_NOTFOUND;
  *out = b->st;
  return LMM_OK;
}
