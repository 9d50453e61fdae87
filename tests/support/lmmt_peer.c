/* lmmt_peer.c - test support: a scripted raw CoAP peer on loopback UDP. */
#include "lmmt_peer.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

int lmmt_peer_open(int port, int *out_port) {
  if (out_port) *out_port = 0;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
    close(fd);
    return -1;
  }
  if (out_port) *out_port = ntohs(a.sin_port);
  return fd;
}

coap_pdu_t *lmmt_peer_recv(int fd, struct sockaddr_in *from, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0) return NULL;
  uint8_t buf[2048];
  socklen_t fl = sizeof *from;
  ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)from, &fl);
  if (n <= 0) return NULL;
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, (size_t)n);
  if (!pdu) return NULL;
  if (!coap_pdu_parse(COAP_PROTO_UDP, buf, (size_t)n, pdu)) {
    coap_delete_pdu(pdu);
    return NULL;
  }
  return pdu;
}

void lmmt_peer_answer(int fd, const struct sockaddr_in *to, const coap_pdu_t *req, uint8_t code,
                      int cf, const char *payload) {
  uint8_t out[512];
  coap_bin_const_t tok = coap_pdu_get_token(req);
  coap_mid_t mid = coap_pdu_get_mid(req);
  size_t o = 0, plen = payload ? strlen(payload) : 0;
  if (plen > 400) plen = 400;
  out[o++] = (uint8_t)(0x60 | tok.length); /* version 1, ACK */
  out[o++] = code;
  out[o++] = (uint8_t)(mid >> 8), out[o++] = (uint8_t)mid;
  memcpy(out + o, tok.s, tok.length), o += tok.length;
  if (cf == 0) {
    out[o++] = 0xC0; /* Content-Format (12), empty value: 0 */
  } else if (cf > 0 && cf < 256) {
    out[o++] = 0xC1, out[o++] = (uint8_t)cf;
  } else if (cf >= 256) {
    out[o++] = 0xC2, out[o++] = (uint8_t)(cf >> 8), out[o++] = (uint8_t)cf;
  }
  if (plen) {
    out[o++] = 0xFF;
    memcpy(out + o, payload, plen), o += plen;
  }
  sendto(fd, out, o, 0, (const struct sockaddr *)to, sizeof *to);
}

int lmmt_pdu_opt_uint(const coap_pdu_t *p, uint16_t num) {
  coap_opt_iterator_t it;
  const coap_opt_t *o = coap_check_option(p, num, &it);
  return o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
}

/* RFC 7252 3.1: a delta or length nibble, with its 1-byte extension from 13 on. */
static size_t nibble(unsigned v, unsigned *n, uint8_t *ext) {
  if (v < 13) return *n = v, 0;
  *n = 13, *ext = (uint8_t)(v - 13);
  return 1;
}

size_t lmmt_coap_encode(uint8_t *out, size_t cap, int type, uint8_t code, uint16_t mid,
                        const uint8_t *tok, size_t tok_len, const lmmt_opt *opts, size_t n_opts,
                        const void *payload, size_t len) {
  lmmt_opt sorted[32];
  if (n_opts > 32 || tok_len > 8 || cap < 4 + tok_len) return 0;
  /* Stable: repeated options (Uri-Path segments) keep their order. */
  for (size_t i = 0; i < n_opts; i++) {
    size_t k = i;
    for (; k > 0 && sorted[k - 1].num > opts[i].num; k--)
      sorted[k] = sorted[k - 1];
    sorted[k] = opts[i];
  }
  size_t o = 0;
  out[o++] = (uint8_t)(0x40 | (type & 3) << 4 | tok_len);
  out[o++] = code;
  out[o++] = (uint8_t)(mid >> 8), out[o++] = (uint8_t)mid;
  memcpy(out + o, tok, tok_len), o += tok_len;
  unsigned last = 0;
  for (size_t i = 0; i < n_opts; i++) {
    uint8_t val[4];
    const uint8_t *v = val;
    size_t vl = 0;
    if (sorted[i].s) {
      v = (const uint8_t *)sorted[i].s, vl = strlen(sorted[i].s);
    } else {
      for (unsigned u = sorted[i].u; u; u >>= 8)
        vl++;
      for (size_t k = 0; k < vl; k++)
        val[k] = (uint8_t)(sorted[i].u >> (8 * (vl - 1 - k)));
    }
    unsigned dn, ln;
    uint8_t de = 0, le = 0;
    if (sorted[i].num - last > 268 || vl > 268) return 0;
    size_t dx = nibble(sorted[i].num - last, &dn, &de), lx = nibble((unsigned)vl, &ln, &le);
    if (o + 1 + dx + lx + vl > cap) return 0;
    out[o++] = (uint8_t)(dn << 4 | ln);
    if (dx) out[o++] = de;
    if (lx) out[o++] = le;
    memcpy(out + o, v, vl), o += vl;
    last = sorted[i].num;
  }
  if (payload && len) {
    if (o + 1 + len > cap) return 0;
    out[o++] = 0xFF;
    memcpy(out + o, payload, len), o += len;
  }
  return o;
}
