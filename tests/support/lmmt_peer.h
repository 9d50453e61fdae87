/* lmmt_peer.h - test support: a scripted raw CoAP peer on loopback UDP, for tests that check a
 * request on the wire and choose the answer byte by byte. */
#ifndef LMMT_PEER_H
#define LMMT_PEER_H

#include <stdint.h>

#include <netinet/in.h>

#include <coap3/coap.h>

/** A non-blocking UDP socket on 127.0.0.1:port (0: any); the bound port goes to *out_port (0 on
 *  failure). Returns the fd or -1. */
int lmmt_peer_open(int port, int *out_port);
/** Waits up to `ms` for one datagram and parses it as CoAP over UDP. Returns an owned PDU
 *  (coap_delete_pdu()) or NULL (nothing came, or it did not parse). */
coap_pdu_t *lmmt_peer_recv(int fd, struct sockaddr_in *from, int ms);
/** A piggybacked answer to `req`: ACK, `code`, its MID and token, Content-Format `cf` (-1:
 *  none) and `payload` (NULL: none). */
void lmmt_peer_answer(int fd, const struct sockaddr_in *to, const coap_pdu_t *req, uint8_t code,
                      int cf, const char *payload);
/** The value of option `num` of `p` as an unsigned number, -1 when absent. */
int lmmt_pdu_opt_uint(const coap_pdu_t *p, uint16_t num);

/** One option of a message: `s` (a string, may be "") when not NULL, else the number `u` in
 *  as few bytes as it takes. */
typedef struct lmmt_opt {
  uint16_t num;
  const char *s;
  unsigned u;
} lmmt_opt;
/** Encodes a CoAP message over UDP into `out`: `type` (COAP_MESSAGE_CON...), `code`, `mid`,
 *  the token, the options (in any order: they are sorted) and the payload (NULL: none).
 *  Returns its length, 0 when it does not fit in `cap` or an option is over 268 bytes. */
size_t lmmt_coap_encode(uint8_t *out, size_t cap, int type, uint8_t code, uint16_t mid,
                        const uint8_t *tok, size_t tok_len, const lmmt_opt *opts, size_t n_opts,
                        const void *payload, size_t len);

#endif
