/* campaign_internal.h - what the campaign modules share: the group request encoder and the
 * answer receiver's registry of open group requests. */
#ifndef LMMI_CAMPAIGN_INTERNAL_H
#define LMMI_CAMPAIGN_INTERNAL_H

#include <sys/socket.h>

#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/store.h"

#define LMMI_TOKEN_LEN 8

/** Encodes `op` as the NON group request of docs/protocol.md section 1 (No-Response 26).
 *  `*out` owned (free()). LMM_ERR_ARG for an operation that cannot go to a group. */
lmm_err lmmi_coap_group_request(const lmm_op *op, uint16_t mid, const uint8_t token[LMMI_TOKEN_LEN],
                                uint8_t **out, size_t *out_len);
/** CoAP method code of an operation (1 GET, 2 POST, 3 PUT, 4 DELETE), 0 when none fits. */
uint8_t lmmi_op_method(lmm_op_kind k);

/** How the owner of a group request took an answer. */
typedef enum lmmi_answer_class {
  LMMI_ANS_ACCEPTED = 0,
  LMMI_ANS_DUPLICATE,
  LMMI_ANS_LATE,
  LMMI_ANS_UNKNOWN /* not a member */
} lmmi_answer_class;

typedef lmmi_answer_class (*lmmi_answer_fn)(void *owner, const char *ep, uint8_t code,
                                            int content_format, const uint8_t *payload, size_t len);

/** Opens a group request: answers carrying its token go to `fn`. */
lmm_err lmmi_answers_open(lmm_answers *a, const uint8_t token[LMMI_TOKEN_LEN], lmmi_answer_fn fn,
                          void *owner);
/** Closes it: later answers with that token are "unknown". */
void lmmi_answers_close(lmm_answers *a, const uint8_t token[LMMI_TOKEN_LEN]);

/* Where group messages go (group_send.c). */
typedef struct lmmi_group_dest {
  int fd; /* valid while `open`: a zeroed destination is closed */
  bool open;
  struct sockaddr_storage to;
  socklen_t to_len;
} lmmi_group_dest;

/** The group's address and port (0: 5683), sent from interface `ifaddr` (NULL: 127.0.0.1),
 *  TTL 1, loopback on. LMM_ERR_ARG for an address that is not numeric IPv4, LMM_ERR_IO. */
lmm_err lmmi_dest_multicast(lmmi_group_dest *d, const char *group, int port, const char *ifaddr);
/** The MB2-U port the SCEF offered for delivery `gmd`. */
lmm_err lmmi_dest_user_plane(lmmi_group_dest *d, const lmm_gmd *gmd);
lmm_err lmmi_dest_send(const lmmi_group_dest *d, const void *msg, size_t len);
/** Closes (again: no-op). */
void lmmi_dest_close(lmmi_group_dest *d);

/* The libcoap side of the adapter's CoAP servers (answer receiver, blob server), in answers.c. */
struct coap_context_t;
struct pollfd;
/** A libcoap context with one UDP endpoint on `bind` (an IPv4 or IPv6 literal; "127.0.0.1" when
 *  NULL or empty) and `port` (0: any). `*bound_port` gets the port bound, `*wildcard` (may be
 *  NULL) whether `bind` is the unspecified address. LMM_ERR_ARG for an address that is no
 *  literal, LMM_ERR_IO when the endpoint cannot be bound, LMM_ERR_NOMEM. */
lmm_err lmmi_coap_listen(const char *bind, uint16_t port, struct coap_context_t **out,
                         uint16_t *bound_port, bool *wildcard);
/** A loop source over a libcoap context: its epoll fd (which also carries its timers)... */
size_t lmmi_coap_pollfds(struct coap_context_t *coap, struct pollfd *pfd, size_t cap);
/** ... the loop time of its next timer (retransmits, idle sessions), -1 for none ... */
int64_t lmmi_coap_deadline(lmm_ctx *ctx, struct coap_context_t *coap);
/** ... and serving it: every datagram waiting, up to a bound per turn so that the other sources
 *  still get theirs (libcoap reads one datagram per call). */
void lmmi_coap_serve(struct coap_context_t *coap);
/** The UDP socket of a context made by lmmi_coap_listen(), found among what its epoll fd
 *  watches; -1 when it cannot be told (no /proc). Borrowed: libcoap owns it. */
int lmmi_coap_udp_fd(struct coap_context_t *coap);
/** Asks for a receive buffer of `want` bytes on `fd` (past net.core.rmem_max when the process
 *  may); returns the size the kernel reports (which counts its own overhead), 0 for fd -1. */
int lmmi_sock_widen_rcvbuf(int fd, int want);
/** Datagrams the kernel dropped on `fd` since it was opened (a full receive buffer); 0 when
 *  the kernel cannot tell (SO_MEMINFO) or fd is -1. */
uint64_t lmmi_sock_drops(int fd);

#endif
