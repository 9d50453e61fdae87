/* msg.h - lwm2m-mbms-sim, the lowest layer: CoAP message helpers with no device in them
 * (the LwM2M path of a request, numeric options, No-Response, coap:// URIs). */
#ifndef LMM_SIM_MSG_H
#define LMM_SIM_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include <netinet/in.h>

#include <coap3/coap.h>

#include "lwm2m_mbms/lwm2m.h"

/* /O[/I[/R[/RI]]] from the Uri-Path options; false when they are no such path. */
bool sim_parse_path(const coap_pdu_t *pdu, lmm_path *p);
/* A numeric option of at most `maxlen` bytes; -1 when absent, -2 when longer. */
long sim_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, size_t maxlen);
/* Whether the request's No-Response option (RFC 7967) declines answers of this code's class. */
bool sim_no_response(const coap_pdu_t *request, int code);
/* Resolves a coap:// URI (host by name or address); false for anything else. `u` points into
 * `uri`. */
bool sim_coap_uri(const char *uri, coap_uri_t *u, struct sockaddr_in *dst);
/* Adds one option `num` per `sep`-separated segment of s (Uri-Path, Uri-Query). */
void sim_add_segments(coap_pdu_t *pdu, coap_option_num_t num, const coap_str_const_t *s, char sep);

#endif
