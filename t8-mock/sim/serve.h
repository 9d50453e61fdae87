/* serve.h - lwm2m-mbms-sim, the request handlers above every feature: the request being served
 * and its reply, shared by the dispatch (handlers.c), the LwM2M operations (ops_read.c,
 * ops_write.c, discover.c) and Block1 (block1.c). Only main.c is above them. */
#ifndef LMM_SIM_SERVE_H
#define LMM_SIM_SERVE_H

#include "blob.h"
#include "device.h"

#define CODE(c)      COAP_RESPONSE_CODE(c)
#define SIM_BODY_MAX (256u * 1024u) /* largest reassembled Block1 body of other writes */

/* What a request comes to; sent by send_reply() in one place, so that options go in order. */
typedef struct sim_reply {
  int code;
  char diag[200]; /* diagnostic payload of an error */
  bool loc;       /* Location-Path /oid/iid (Create) */
  uint16_t loc_oid, loc_iid;
  bool block1;
  coap_block_b_t b1;
  int fmt;       /* Content-Format of body */
  uint8_t *body; /* 2.05 body; owned */
  size_t len;
  bool body_lmm; /* from the library (lmm_free), else free() */
  bool silent;   /* no answer at all: the device rebooted (--fw-reboot) */
  bool observe;  /* an Observe option with obs_seq: the GET registered an observation */
  uint32_t obs_seq;
} sim_reply;

/* One request being served. */
typedef struct sim_req {
  sim_fleet *f;
  unsigned i;
  sim_device *d;
  coap_session_t *s;
  const coap_pdu_t *pdu;
  lmm_path p;
  const lmm_obj_def *def;
  int method;
  int cf, accept; /* -1 when absent */
  const uint8_t *data;
  size_t len;
  bool has_query;
  bool blob;              /* a blob fragment: its Block1 blocks are kept, it is no Package push */
  long blob_index;        /* its fragment index (-1: announce), when `blob` */
  const sim_blob_msg *bm; /* classified by the caller (group delivery: once for all), or NULL */
  bool read;              /* a Read answered 2.05 (not a Discover, not a blob status) */
  uint16_t ssid;          /* the server account it comes from (a group request: the Group Mgmt
                           * instance's writer); 0 none */
} sim_req;

/* Sets the reply to an error and leaves the (void) function. */
#define FAIL(...)                                                                                  \
  do {                                                                                             \
    sim_fail(__VA_ARGS__);                                                                         \
    return;                                                                                        \
  } while (0)

/* Sets the reply to an error and returns -1. */
#define REFUSE(...)                                                                                \
  do {                                                                                             \
    sim_fail(__VA_ARGS__);                                                                         \
    return -1;                                                                                     \
  } while (0)

/* Sets the reply to an error with its diagnostic text. */
void sim_fail(sim_reply *rp, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- ops_read.c */

/* The resource at depth >= 3, with the 4.04 / 4.05 of a path that names none. */
const lmm_res_def *sim_target_res(const sim_req *r, sim_reply *rp);
bool sim_single_value(const lmm_path *p, const lmm_res_def *rd);
bool sim_is_tlv_only(const sim_req *r);
/* Appends the records of the instances the request path covers (one, or all of the object),
 * those within the path. 0 or a CoAP code. */
int sim_collect(sim_req *r, lmm_records *out);
/* Read (and Discover, with Accept: application/link-format). */
void sim_do_read(sim_req *r, sim_reply *rp);
/* The sim_obs_read_fn of observe.c: an observed path read again, as a Read would. */
int sim_read_observed(sim_fleet *f, unsigned i, const lmm_path *p, int accept, uint8_t **body,
                      size_t *len, double *num, bool *has_num, bool want_num);

/* ---------------------------------------------------------------- discover.c */

/* Discover (LwM2M 1.1): the link list of the path, checked to exist by the caller. */
void sim_do_discover(sim_req *r, sim_reply *rp);

/* ---------------------------------------------------------------- ops_write.c */

/* Everything about a PUT or POST that does not need the payload: target, method, format. Run
 * on the first block already, so that a refused transfer stops there. Returns the payload's
 * format, 0 when there is none to decode (Execute, Write-Attributes), or -1 with the reply
 * set. */
int sim_precheck(const sim_req *r, sim_reply *rp);
void sim_do_put(sim_req *r, sim_reply *rp);
void sim_do_post(sim_req *r, sim_reply *rp);
void sim_do_delete(sim_req *r, sim_reply *rp);

/* ---------------------------------------------------------------- block1.c */

/* Handles the Block1 option (RFC 7959). Returns true when the request is complete (r->data
 * then holds the whole body; *body is owned by the caller, free()), false when the reply is set
 * (2.31 Continue or an error). */
bool sim_block1(sim_req *r, sim_reply *rp, uint8_t **body);

/* ---------------------------------------------------------------- handlers.c */

/* Executes a request that came by group delivery (a parsed NON request, no session) on device
 * i exactly as a unicast one from server `ssid`: *code (0: the device answers nothing), and the
 * body (owned, free()) with its Content-Format (-1: none; an error's diagnostic text has none).
 * `bm`: the request as sim_blob_classify() found it (once for every member), or NULL. Counts the
 * request, not a response. */
void sim_serve_pdu(sim_fleet *f, unsigned i, const coap_pdu_t *pdu, const sim_blob_msg *bm,
                   uint16_t ssid, int *code, int *fmt, uint8_t **body, size_t *len);

/* Registers the request handlers on f->ctx. 0 or -1. */
int sim_coap_setup(sim_fleet *f);
/* The validate_id_call_back of coap_context_set_psk2(). */
const coap_bin_const_t *sim_psk_for_identity(coap_bin_const_t *identity, coap_session_t *session,
                                             void *arg);

#endif
