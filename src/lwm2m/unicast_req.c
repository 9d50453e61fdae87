/* unicast_req.c - the unicast engine's request side: member URIs, host resolution and the CoAP
 * PDU of each LwM2M operation (methods, options, Block1 for large payloads). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lwm2m/unicast_internal.h"

bool lmmi_unicast_parse_uri(const char *uri, lmmi_target *t, char *why, size_t cap) {
  const char *h;
  if (!uri) {
    snprintf(why, cap, "member has no URI");
    return false;
  }
  if (!strncmp(uri, "coap://", 7))
    h = uri + 7, t->secure = false;
  else if (!strncmp(uri, "coaps://", 8))
    h = uri + 8, t->secure = true;
  else {
    snprintf(why, cap, "malformed URI '%.40s': not coap:// or coaps://", uri);
    return false;
  }
  const char *hb = h, *he;
  if (*h == '[') {
    hb = h + 1;
    he = strchr(hb, ']');
    if (!he || he == hb) {
      snprintf(why, cap, "malformed URI '%.40s': bad IPv6 literal", uri);
      return false;
    }
    h = he + 1;
  } else {
    he = h;
    while (*he && *he != ':' && *he != '/') {
      if (!isalnum((unsigned char)*he) && *he != '.' && *he != '-' && *he != '_') {
        snprintf(why, cap, "malformed URI '%.40s': bad host", uri);
        return false;
      }
      he++;
    }
    h = he;
  }
  size_t hl = (size_t)(he - hb);
  if (hl == 0 || hl >= sizeof t->host) {
    snprintf(why, cap, "malformed URI '%.40s': no host", uri);
    return false;
  }
  memcpy(t->host, hb, hl);
  t->host[hl] = '\0';
  t->port = t->secure ? 5684 : 5683;
  if (*h == ':') {
    unsigned long p = 0;
    const char *d = h + 1;
    while (isdigit((unsigned char)*d) && p <= 65535)
      p = p * 10 + (unsigned long)(*d++ - '0');
    if (d == h + 1 || p == 0 || p > 65535) {
      snprintf(why, cap, "malformed URI '%.40s': bad port", uri);
      return false;
    }
    t->port = (uint16_t)p;
    h = d;
  }
  if (*h == '/') h++;
  if (*h) {
    snprintf(why, cap, "malformed URI '%.40s': unexpected '%.10s'", uri, h);
    return false;
  }
  return true;
}

static void set_port(coap_address_t *a, uint16_t port) {
  if (a->addr.sa.sa_family == AF_INET)
    a->addr.sin.sin_port = htons(port);
  else
    a->addr.sin6.sin6_port = htons(port);
}

/* Names go through getaddrinfo(), which blocks for as long as the system resolver takes: the
 * engine is meant for numeric addresses (what a members file of a fleet holds); a name is
 * resolved once per batch and the answer reused for the batch's other members. */
lmm_err lmmi_unicast_resolve(lmm_batch *b, const lmmi_target *t, coap_address_t *out, char *why,
                             size_t cap) {
  coap_address_init(out);
  if (inet_pton(AF_INET, t->host, &out->addr.sin.sin_addr) == 1) {
    out->addr.sin.sin_family = AF_INET;
    out->size = sizeof out->addr.sin;
    set_port(out, t->port);
    return LMM_OK;
  }
  if (inet_pton(AF_INET6, t->host, &out->addr.sin6.sin6_addr) == 1) {
    out->addr.sin6.sin6_family = AF_INET6;
    out->size = sizeof out->addr.sin6;
    set_port(out, t->port);
    return LMM_OK;
  }
  if (b->cache_host && !strcmp(b->cache_host, t->host)) {
    *out = b->cache_addr;
    set_port(out, t->port);
    return LMM_OK;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(t->host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(why, cap, "cannot resolve '%.60s': %s", t->host, rc ? gai_strerror(rc) : "no address");
    if (res) freeaddrinfo(res);
    return LMM_ERR_NET;
  }
  const struct addrinfo *ai = res;
  for (const struct addrinfo *p = res; p; p = p->ai_next)
    if (p->ai_family == AF_INET) { /* IPv4 first: loopback fleets listen there */
      ai = p;
      break;
    }
  if (ai->ai_addrlen > sizeof out->addr) {
    freeaddrinfo(res);
    snprintf(why, cap, "cannot resolve '%.60s': odd address", t->host);
    return LMM_ERR_NET;
  }
  memcpy(&out->addr, ai->ai_addr, ai->ai_addrlen);
  out->size = ai->ai_addrlen;
  freeaddrinfo(res);
  set_port(out, t->port);
  char *copy = strdup(t->host);
  if (copy) {
    free(b->cache_host);
    b->cache_host = copy;
    b->cache_addr = *out;
  }
  return LMM_OK;
}

/* The member's format for several values: what its members file line says, SenML-JSON (the
 * LwM2M 1.1 format) when it says nothing usable. */
static uint16_t member_multi_format(const lmm_member *m) {
  return m && m->format == LMM_FMT_TLV ? LMM_FMT_TLV : LMM_FMT_SENML_JSON;
}

uint16_t lmmi_unicast_choose_accept(lmm_op *op, const lmm_member *m, uint16_t gm_oid) {
  if (op->accept != LMM_ACCEPT_AUTO) return LMM_ACCEPT_NONE;
  if (op->kind == LMM_OPK_DISCOVER) {
    op->accept = LMM_FMT_LINK;
    return LMM_ACCEPT_NONE;
  }
  bool read =
      op->kind == LMM_OPK_READ || op->kind == LMM_OPK_OBSERVE || op->kind == LMM_OPK_CANCEL_OBSERVE;
  uint16_t multi = member_multi_format(m);
  if (!read) {
    /* Writes and Executes answer without a body: an Accept would say nothing. */
    op->accept = LMM_ACCEPT_NONE;
    return LMM_ACCEPT_NONE;
  }
  if (op->path.depth < 3) {
    op->accept = multi;
    return multi == LMM_FMT_TLV ? LMM_FMT_SENML_JSON : LMM_FMT_TLV;
  }
  lmm_obj_def gm;
  const lmm_obj_def *def = NULL;
  if (op->path.oid == gm_oid && gm_oid != 0xFFFF) {
    lmm_group_mgmt_def(gm_oid, &gm);
    def = &gm;
  } else {
    def = lmm_obj_def_oma(op->path.oid);
  }
  const lmm_res_def *rd = lmm_obj_def_res(def, op->path.rid);
  if (op->path.depth == 3 && rd && rd->multiple) {
    op->accept = multi;
    return multi == LMM_FMT_TLV ? LMM_FMT_SENML_JSON : LMM_FMT_TLV;
  }
  /* One value: plain text is what every LwM2M version serves for it (opaque for Opaque); a
   * resource the model does not know is asked as text first too. */
  op->accept = rd && rd->type == LMM_RT_OPAQUE ? LMM_FMT_OPAQUE : LMM_FMT_TEXT;
  return multi;
}

void lmmi_unicast_code_text(uint8_t code, char *buf, size_t cap) {
  const char *phrase = coap_response_phrase(code);
  snprintf(buf, cap, "%u.%02u%s%s", code >> 5, code & 31u, phrase ? " " : "", phrase ? phrase : "");
}

static int add_uint_opt(coap_pdu_t *pdu, uint16_t num, unsigned v) {
  uint8_t buf[4];
  unsigned len = coap_encode_var_safe(buf, sizeof buf, v);
  return coap_add_option(pdu, num, len, buf) ? 0 : -1;
}

static unsigned szx_of(unsigned block_size) {
  unsigned szx = 0;
  while ((16u << szx) < block_size && szx < 6)
    szx++;
  return szx;
}

coap_pdu_t *lmmi_unicast_build_pdu(coap_session_t *s, const lmm_op *op, unsigned block_size,
                                   lmmi_body *held, uint8_t *token, uint8_t *token_len, char *why,
                                   size_t cap) {
  coap_pdu_code_t code = COAP_REQUEST_CODE_GET;
  bool body = false;
  int observe = -1;
  unsigned accept = op->accept;
  switch (op->kind) {
  case LMM_OPK_READ:
    break;
  case LMM_OPK_WRITE:
    code = COAP_REQUEST_CODE_PUT, body = true;
    break;
  case LMM_OPK_WRITE_UPDATE:
  case LMM_OPK_CREATE:
    code = COAP_REQUEST_CODE_POST, body = true;
    break;
  case LMM_OPK_EXECUTE:
    code = COAP_REQUEST_CODE_POST, body = op->len > 0;
    break;
  case LMM_OPK_DELETE:
    code = COAP_REQUEST_CODE_DELETE;
    break;
  case LMM_OPK_OBSERVE:
    observe = 0;
    break;
  case LMM_OPK_CANCEL_OBSERVE:
    observe = 1;
    break;
  case LMM_OPK_WRITE_ATTR:
    code = COAP_REQUEST_CODE_PUT;
    break;
  case LMM_OPK_DISCOVER:
    if (accept == LMM_ACCEPT_NONE || accept == LMM_ACCEPT_AUTO) accept = LMM_FMT_LINK;
    break;
  default:
    snprintf(why, cap, "unknown operation %d", (int)op->kind);
    return NULL;
  }
  bool get = code == COAP_REQUEST_CODE_GET;
  if (body && op->len > 0 && !op->payload) {
    snprintf(why, cap, "payload of %zu bytes is NULL", op->len);
    return NULL;
  }
  coap_pdu_t *pdu =
      coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(s), coap_session_max_pdu_size(s));
  if (!pdu) {
    snprintf(why, cap, "out of memory");
    return NULL;
  }
  size_t tl = 0;
  coap_session_new_token(s, &tl, token);
  if (tl > LMMI_TOKEN_MAX) tl = LMMI_TOKEN_MAX;
  *token_len = (uint8_t)tl;
  bool ok = coap_add_token(pdu, tl, token) != 0;
  /* Options in ascending number order: Observe 6, Uri-Path 11, Content-Format 12,
   * Uri-Query 15, Accept 17, Block2 23, Block1 27. */
  if (ok && observe >= 0) ok = add_uint_opt(pdu, COAP_OPTION_OBSERVE, (unsigned)observe) == 0;
  const uint16_t parts[4] = {op->path.oid, op->path.iid, op->path.rid, op->path.riid};
  for (unsigned i = 0; ok && i < op->path.depth && i < 4; i++) {
    char seg[8];
    int n = snprintf(seg, sizeof seg, "%u", (unsigned)parts[i]);
    ok = coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)n, (const uint8_t *)seg) != 0;
  }
  if (ok && body) ok = add_uint_opt(pdu, COAP_OPTION_CONTENT_FORMAT, op->format) == 0;
  if (ok && op->query) {
    for (const char *q = op->query; ok && *q;) {
      const char *e = strchr(q, '&');
      size_t n = e ? (size_t)(e - q) : strlen(q);
      if (n > 255) {
        snprintf(why, cap, "query part longer than 255 bytes");
        coap_delete_pdu(pdu);
        return NULL;
      }
      if (n) ok = coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)q) != 0;
      q += n + (e ? 1 : 0);
    }
  }
  if (ok && get && accept != LMM_ACCEPT_NONE && accept != LMM_ACCEPT_AUTO)
    ok = add_uint_opt(pdu, COAP_OPTION_ACCEPT, accept) == 0;
  /* Early Block2 negotiation (RFC 7959 2.4): ask for blocks no larger than ours. */
  if (ok && get && block_size < 1024)
    ok = add_uint_opt(pdu, COAP_OPTION_BLOCK2, szx_of(block_size)) == 0;
  if (ok && body && op->len > 0) {
    /* libcoap sends Block1 with the size of a Block1 option present in the PDU (else what the
     * MTU allows). The data is not copied: a body's reference goes to libcoap, which drops it
     * when done (on every path, failure included); borrowed data must stay valid until the
     * session is released, which an unbound engine does before on_member (see unicast.c). */
    if (op->len > block_size) ok = add_uint_opt(pdu, COAP_OPTION_BLOCK1, szx_of(block_size)) == 0;
    if (ok && held) {
      held->refs++;
      ok = coap_add_data_large_request(s, pdu, op->len, op->payload, lmmi_uc_body_release, held) !=
           0;
    } else if (ok) {
      ok = coap_add_data_large_request(s, pdu, op->len, op->payload, NULL, NULL) != 0;
    }
  }
  if (!ok) {
    snprintf(why, cap, "cannot build the request (options too large?)");
    coap_delete_pdu(pdu);
    return NULL;
  }
  return pdu;
}

/* Numeric only: a name would need a resolver at start-up and could stand for several
 * addresses, while the engine sends from exactly one. */
bool lmmi_unicast_parse_bind(const char *s, coap_address_t *out, char *why, size_t cap) {
  char host[INET6_ADDRSTRLEN];
  const char *hb = s, *he, *pp;
  if (*s == '[') {
    hb = s + 1;
    he = strchr(hb, ']');
    if (!he || he[1] != ':') {
      snprintf(why, cap, "'%.60s' is not [IPV6]:PORT", s);
      return false;
    }
    pp = he + 2;
  } else {
    he = strrchr(s, ':');
    if (!he || memchr(s, ':', (size_t)(he - s))) {
      snprintf(why, cap, "'%.60s' is not IPV4:PORT or [IPV6]:PORT", s);
      return false;
    }
    pp = he + 1;
  }
  size_t hl = (size_t)(he - hb);
  unsigned long port = 0;
  const char *d = pp;
  while (isdigit((unsigned char)*d) && port <= 65535)
    port = port * 10 + (unsigned long)(*d++ - '0');
  if (d == pp || *d || port > 65535) {
    snprintf(why, cap, "'%.60s': the port is not 0..65535", s);
    return false;
  }
  coap_address_init(out);
  if (hl > 0 && hl < sizeof host) {
    memcpy(host, hb, hl);
    host[hl] = '\0';
    if (*s != '[' && inet_pton(AF_INET, host, &out->addr.sin.sin_addr) == 1) {
      out->addr.sin.sin_family = AF_INET;
      out->size = sizeof out->addr.sin;
      set_port(out, (uint16_t)port);
      return true;
    }
    if (*s == '[' && inet_pton(AF_INET6, host, &out->addr.sin6.sin6_addr) == 1) {
      out->addr.sin6.sin6_family = AF_INET6;
      out->size = sizeof out->addr.sin6;
      set_port(out, (uint16_t)port);
      return true;
    }
  }
  snprintf(why, cap, "'%.60s': not a numeric %s address", s, *s == '[' ? "IPv6" : "IPv4");
  return false;
}
