/* group_internal.h - the state of group delivery, shared by group.c (membership, group
 * requests, the loop's turn) and group_answer.c (the answers and their sessions). */
#ifndef LMM_SIM_GROUP_INTERNAL_H
#define LMM_SIM_GROUP_INTERNAL_H

#include <netinet/in.h>
#include <poll.h>

#include "blob.h"
#include "group.h"

#define GRP_DGRAM_MAX    65536u
#define GRP_POOL         32u   /* answer sessions per Answer URI address */
#define GRP_NSTART       128u  /* CON answers in flight per session (libcoap's NSTART) */
#define GRP_RX_BURST     256u  /* datagrams read from one group socket per wake-up */
#define GRP_DRAIN_MAX_MS 20000 /* longest a unicast request waits for the group backlog */
#define GRP_HEAP_MAX     (4u * 1024u * 1024u) /* answers waiting at once, fleet-wide */
#define GRP_RCVBUF       (8 * 1024 * 1024)    /* receive buffer asked for each group socket */

/* One socket per distinct (group, port), shared by every device that joined it. */
typedef struct gsock {
  uint32_t group; /* host order */
  uint16_t port;
  int fd;
  unsigned n;       /* member devices */
  uint64_t *member; /* bitmap over the fleet */
} gsock;

/* An answer waiting for its random wait to pass. */
typedef struct gans {
  int64_t due;
  uint64_t seq; /* FIFO among equal due times */
  unsigned dev;
  int code, fmt; /* fmt -1: no Content-Format */
  uint8_t *body;
  size_t len;
  char *uri; /* the Answer URI when the request came */
  uint8_t tok[8];
  uint8_t tok_len;
  bool to_source; /* No-Response does not suppress this class: a NON response to the source */
  struct sockaddr_in src;
} gans;

/* libcoap client sessions towards one Answer URI address. */
typedef struct gdest {
  struct sockaddr_in addr;
  coap_session_t *s[GRP_POOL];
} gdest;

typedef struct sim_group {
  gsock *sock;
  size_t n_sock, cap_sock, sock_max;
  gans *heap;
  size_t n_heap, cap_heap, heap_max;
  uint64_t seq;
  gdest *dest;
  size_t n_dest;
  int reply_fd; /* NON responses to a group request's source, from the device's address */
  uint8_t *buf;
  uint32_t answer_seq;
  uint64_t malformed, join_errors;
  struct pollfd *pfd;
  size_t cap_pfd;
} sim_group;

/* A protected datagram opened under one key, kept while the next members hold the same key: a
 * group's members share it, so a fragment is decrypted and parsed once, not once per member. */
typedef struct sim_gp_open {
  bool tried;
  lmmw_gp_key key; /* the key it was opened with */
  lmmw_gp_verdict v;
  uint64_t seq;
  coap_pdu_t *pdu; /* the message inside, when v is LMMW_GP_OK */
  sim_blob_msg bm; /* ... and what it is */
} sim_gp_open;

/* Opens `data` (len bytes) under instance gi's key into `c`, or gives the last result again
 * when that was under the same key. A message whose tag verifies but whose inside is no group
 * request (or a malformed blob message) comes back LMMW_GP_MALFORMED. */
const sim_gp_open *sim_gp_open_for(sim_gp_open *c, const sim_gm_inst *gi, const uint8_t *data,
                                   size_t len);
void sim_gp_open_clear(sim_gp_open *c);
/* "protect":{...} of the totals / of device i, inside their "group" objects. */
void sim_gp_json_totals(const sim_fleet *f, FILE *fp);
void sim_gp_json_device(const sim_counters *c, FILE *fp);

/* The group state of the fleet, allocated on first use; NULL when out of memory. */
sim_group *sim_group_state(sim_fleet *f);
/* Queues answer `a` (taken) until its due time; false (a untouched) when the queue is full or
 * out of memory. */
bool sim_group_answer_push(sim_group *g, gans *a);
/* Frees what answer `a` holds. */
void sim_group_answer_free(gans *a);
/* Sends every answer that is due; the milliseconds to the next one (at least 1), or -1. */
long sim_group_answers_due(sim_fleet *f);

#endif
