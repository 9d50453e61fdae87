/* msg.c - lwm2m-mbms-sim: CoAP message helpers every layer uses, with no device in them: the
 * LwM2M path of a request, numeric options, No-Response, coap:// URIs and their segments. */
#include "msg.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>

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

/* A numeric option of at most `maxlen` bytes; -1 when absent, -2 when longer. */
long sim_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, size_t maxlen) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(pdu, num, &it);
  if (!o) return -1;
  if (coap_opt_length(o) > maxlen) return -2;
  return (long)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

bool sim_no_response(const coap_pdu_t *request, int code) {
  long v = sim_opt_uint(request, COAP_OPTION_NORESPONSE, 1);
  int cls = code >> 5;
  return v > 0 && cls >= 1 && cls <= 5 && (v & (1L << (cls - 1))) != 0;
}

bool sim_coap_uri(const char *uri, coap_uri_t *u, struct sockaddr_in *dst) {
  char host[256];
  if (coap_split_uri((const uint8_t *)uri, strlen(uri), u) < 0 || u->scheme != COAP_URI_SCHEME_COAP)
    return false;
  if (u->host.length == 0 || u->host.length >= sizeof host) return false;
  memcpy(host, u->host.s, u->host.length);
  host[u->host.length] = 0;
  memset(dst, 0, sizeof *dst);
  dst->sin_family = AF_INET;
  dst->sin_port = htons(u->port);
  if (inet_pton(AF_INET, host, &dst->sin_addr) == 1) return true;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *res = NULL;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return false;
  dst->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return true;
}

void sim_add_segments(coap_pdu_t *pdu, coap_option_num_t num, const coap_str_const_t *s, char sep) {
  size_t k = 0;
  while (s && k < s->length) {
    size_t e = k;
    while (e < s->length && s->s[e] != (uint8_t)sep)
      e++;
    if (e > k) coap_add_option(pdu, num, e - k, s->s + k);
    k = e + 1;
  }
}
