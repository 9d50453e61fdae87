/* handlers.c - CoAP dispatch of lwm2m-mbms-sim: device by local address, the operation a request
 * is, the reply on the wire (Block2, No-Response, --delay-ms), group requests and DTLS keys. */
#include "serve.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "blob.h"
#include "delay.h"
#include "group.h"
#include "msg.h"
#include "observe.h"

/* libcoap 4.3.1 has no application data on a context: the event handler finds the fleet
 * here (one fleet per process). */
static sim_fleet *event_fleet;

static const char *method_name(int m) {
  static const char *const names[] = {"GET", "PUT", "POST", "DELETE", "other"};
  return names[m];
}

static int method_index(coap_pdu_code_t c) {
  switch (c) {
  case COAP_REQUEST_CODE_GET:
    return SIM_M_GET;
  case COAP_REQUEST_CODE_PUT:
    return SIM_M_PUT;
  case COAP_REQUEST_CODE_POST:
    return SIM_M_POST;
  case COAP_REQUEST_CODE_DELETE:
    return SIM_M_DELETE;
  default:
    return SIM_M_OTHER;
  }
}

void sim_fail(sim_reply *rp, int code, const char *fmt, ...) {
  va_list ap;
  rp->code = code;
  va_start(ap, fmt);
  vsnprintf(rp->diag, sizeof rp->diag, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------ blobs */

/* A blob message (docs/protocol.md 5.2) by unicast, or a status or update by group (the group's
 * announces and fragments go to blob.c from group.c directly). */
static void serve_blob(sim_req *r, sim_reply *rp, const sim_blob_msg *m) {
  char text[LMMW_BLOB_STATUS_MAX + 1];
  size_t len = 0;
  int rc;
  switch (m->kind) {
  case SIM_BLOB_MALFORMED:
    FAIL(rp, CODE(400), "%s", m->why);
  case SIM_BLOB_DATA:
    rc = sim_blob_data(r->f, r->i, m, r->s == NULL, rp->diag, sizeof rp->diag);
    if (rc == SIM_SILENT)
      rp->silent = true;
    else
      rp->code = rc;
    return;
  case SIM_BLOB_STATUS:
    if ((rc = sim_blob_status(r->f, r->i, m, text, &len)) != 0) FAIL(rp, rc, "out of memory");
    if (!(rp->body = malloc(len ? len : 1))) FAIL(rp, CODE(500), "out of memory");
    memcpy(rp->body, text, len);
    rp->len = len;
    rp->fmt = LMM_FMT_TEXT;
    rp->code = CODE(205);
    return;
  case SIM_BLOB_UPDATE:
    if ((rc = sim_blob_update(r->f, r->i, m)) == CODE(405))
      FAIL(rp, rc, "Update of a blob this device has not downloaded");
    rp->code = rc ? rc : CODE(204);
    return;
  default:
    FAIL(rp, CODE(500), "not a blob message");
  }
}

/* ------------------------------------------------------------------ access control */

/* Whether the request's server may do what it asks (docs/access-control.md), else the reply
 * is 4.01. Objects 1 and 2 follow their own rules (acl.c); Discover is always allowed; an
 * instance that does not exist is left to the operation's 4.04, except the Create of a Group
 * Mgmt instance by a Write, which needs Create on the object. Blob messages are a Write, a
 * Read or an Execute of /5/0 by their method. */
static bool access_allowed(sim_req *r, sim_reply *rp) {
  sim_fleet *f = r->f;
  uint16_t oid = r->p.oid, oiid = r->p.iid;
  bool gm = oid == f->cfg->gm_oid;
  unsigned right;
  if (!sim_acl_on(f)) return true;
  if (r->ssid == 0) {
    sim_fail(rp, CODE(401), "access control: not from a server account of this device");
    return false;
  }
  if (oid == 1 || oid == 2) return true;
  bool exists = r->p.depth >= 2 && sim_instance_exists(f, r->i, oid, oiid);
  switch (r->method) {
  case SIM_M_GET:
    if (r->accept == LMM_FMT_LINK) return true;
    if (r->p.depth == 1) {
      if (gm) return true; /* the instances it may not read are left out (ops_read.c) */
      oiid = 0, exists = sim_instance_exists(f, r->i, oid, 0);
    }
    right = SIM_ACL_READ;
    break;
  case SIM_M_PUT:
    if (r->has_query && r->len == 0 && r->p.depth >= 2)
      right = SIM_ACL_READ; /* Write-Attributes */
    else if (gm && r->p.depth == 2 && !exists)
      right = SIM_ACL_CREATE, oiid = SIM_ACL_OBJECT_IID, exists = true;
    else
      right = SIM_ACL_WRITE;
    break;
  case SIM_M_POST:
    if (r->p.depth == 1 && !gm) return true; /* no Create on a single-instance object: 4.05 */
    if (r->p.depth == 1)
      right = SIM_ACL_CREATE, oiid = SIM_ACL_OBJECT_IID, exists = true;
    else
      right = r->p.depth == 3 ? SIM_ACL_EXECUTE : SIM_ACL_WRITE;
    break;
  case SIM_M_DELETE:
    right = SIM_ACL_DELETE;
    break;
  default:
    return true;
  }
  if (!exists) return true;
  int rc = sim_acl_check(f, r->i, r->ssid, oid, oiid, right, rp->diag, sizeof rp->diag);
  if (rc) rp->code = rc;
  return rc == 0;
}

/* ------------------------------------------------------------------ dispatch */

static void serve(sim_req *r, sim_reply *rp) {
  sim_blob_msg bm;
  if (!sim_parse_path(r->pdu, &r->p)) FAIL(rp, CODE(404), "no such path");
  if (!(r->def = sim_obj_def(r->f, r->p.oid)) ||
      (r->p.oid == r->f->cfg->gm_oid && (r->d->flags & SIM_DEV_NO_GM)))
    FAIL(rp, CODE(404), "no object %u", r->p.oid);
  long cf = sim_opt_uint(r->pdu, COAP_OPTION_CONTENT_FORMAT, 2);
  long accept = sim_opt_uint(r->pdu, COAP_OPTION_ACCEPT, 2);
  r->cf = cf == -2 ? 65536 : (int)cf;
  r->accept = accept == -2 ? 65536 : (int)accept;
  coap_get_data(r->pdu, &r->len, &r->data);
  if (!access_allowed(r, rp)) return;
  if (r->bm)
    bm = *r->bm;
  else
    sim_blob_classify(r->pdu, r->s != NULL, &bm);
  if (bm.kind == SIM_BLOB_DATA && bm.block1) {
    uint8_t *body = NULL;
    r->blob = true;
    r->blob_index = bm.index;
    if (sim_block1(r, rp, &body)) { /* the whole fragment */
      bm.data = r->data, bm.len = r->len;
      if (!sim_blob_check_len(&bm)) bm.kind = SIM_BLOB_MALFORMED;
      serve_blob(r, rp, &bm);
    }
    free(body);
    return;
  }
  if (bm.kind != SIM_BLOB_NONE) {
    serve_blob(r, rp, &bm);
    return;
  }
  switch (r->method) {
  case SIM_M_GET:
    sim_do_read(r, rp);
    return;
  case SIM_M_DELETE:
    sim_do_delete(r, rp);
    return;
  case SIM_M_PUT:
  case SIM_M_POST: {
    uint8_t *body = NULL;
    if (sim_block1(r, rp, &body)) {
      if (r->method == SIM_M_PUT)
        sim_do_put(r, rp);
      else
        sim_do_post(r, rp);
    }
    free(body);
    return;
  }
  default:
    FAIL(rp, CODE(405), "method not allowed");
  }
}

static void send_reply(const coap_pdu_t *request, coap_pdu_t *resp, sim_reply *rp) {
  uint8_t buf[8];
  if (rp->observe) /* before what coap_add_data_blocked_response() adds */
    coap_add_option(resp, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof buf, rp->obs_seq),
                    buf);
  if (rp->body && rp->code == CODE(205)) {
    /* Adds Content-Format and ETag, and cuts a body larger than one datagram into Block2
     * blocks; the client asks for the next ones, and the body is made again for each. */
    coap_add_data_blocked_response(request, resp, (uint16_t)rp->fmt, -1, rp->len, rp->body);
    return;
  }
  coap_pdu_set_code(resp, (coap_pdu_code_t)rp->code);
  if (rp->loc) {
    char s[8];
    int n = snprintf(s, sizeof s, "%u", rp->loc_oid);
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, (size_t)n, (const uint8_t *)s);
    n = snprintf(s, sizeof s, "%u", rp->loc_iid);
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, (size_t)n, (const uint8_t *)s);
  }
  if (rp->block1 && (rp->code >> 5) == 2) {
    uint32_t v = (rp->b1.num << 4) | ((rp->code == CODE(231) ? 1u : 0u) << 3) | rp->b1.szx;
    coap_add_option(resp, COAP_OPTION_BLOCK1, coap_encode_var_safe(buf, sizeof buf, v), buf);
  }
  if ((rp->code >> 5) != 2 && rp->diag[0])
    coap_add_data(resp, strlen(rp->diag), (const uint8_t *)rp->diag);
}

/* libcoap sends nothing for a NON response without a code: a CON request is not even
 * acknowledged. */
static void send_nothing(coap_pdu_t *resp) {
  coap_pdu_set_type(resp, COAP_MESSAGE_NON);
  coap_pdu_set_code(resp, COAP_EMPTY_CODE);
}

/* --delay-ms: the answer the handler made (resp) is copied and held, and libcoap sends nothing
 * now. What libcoap would do with a No-Response option is done here, as its send never sees
 * the held copy. false when out of memory: the caller answers at once. */
static bool hold_answer(sim_fleet *f, unsigned i, coap_session_t *s, const coap_pdu_t *request,
                        coap_pdu_t *resp) {
  const coap_address_t *la = coap_session_get_addr_local(s);
  coap_mid_t mid = coap_pdu_get_mid(resp);
  coap_pdu_t *h = NULL;
  if (!la) return false;
  if (sim_no_response(request, coap_pdu_get_code(resp))) {
    if (coap_pdu_get_type(resp) != COAP_MESSAGE_ACK) {
      send_nothing(resp);
      return true;
    }
    h = coap_pdu_init(COAP_MESSAGE_ACK, COAP_EMPTY_CODE, mid, 4); /* the CON is still ACKed */
  } else {
    coap_bin_const_t tok = coap_pdu_get_token(resp);
    size_t len;
    const uint8_t *data;
    h = coap_pdu_duplicate(resp, s, tok.length, tok.s, NULL); /* options, not the payload */
    if (h) {
      coap_pdu_set_mid(h, mid); /* duplicating drew a new one */
      if (coap_get_data(resp, &len, &data) && !coap_add_data(h, len, data)) {
        coap_delete_pdu(h);
        h = NULL;
      }
    }
  }
  if (!h) return false;
  send_nothing(resp);
  sim_hold(f, i, s, la, mid, coap_pdu_get_type(request) == COAP_MESSAGE_CON, h);
  return true;
}

static void on_request(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *pdu,
                       const coap_string_t *query, coap_pdu_t *resp) {
  sim_fleet *f = coap_resource_get_userdata(res);
  const coap_address_t *la = coap_session_get_addr_local(s);
  sim_reply rp = {.fmt = -1};
  long i = -1;
  int m = method_index(coap_pdu_get_code(pdu));
  bool delay = f->cfg->delay_ms > 0;
  if (sim_filtered(f, s)) { /* --server-addr: as if it never came (no answer, no ACK) */
    send_nothing(resp);
    return;
  }
  /* One endpoint serves every device: the address the request came to says which. */
  if (la && la->addr.sa.sa_family == AF_INET)
    i = sim_dev_index(f, ntohl(la->addr.sin.sin_addr.s_addr));
  if (i < 0) { /* answered at once: there is no device, so no slow link either */
    f->no_device++;
    sim_fail(&rp, CODE(404), "no device at this address");
    send_reply(pdu, resp, &rp);
    return;
  }
  sim_device *d = &f->dev[i];
  char ep[48];
  if (sim_dev_offline(d, sim_now_ms())) { /* rebooting: as if switched off */
    d->c.offline++;
    send_nothing(resp);
    return;
  }
  if (delay && coap_pdu_get_type(pdu) == COAP_MESSAGE_CON &&
      sim_held_find(f, (unsigned)i, s, coap_pdu_get_mid(pdu))) {
    /* A retransmission that came while the answer is held (the client's ACK_TIMEOUT is shorter
     * than --delay-ms): served once, and answered by the held answer (RFC 7252 4.5). Not
     * counted: it is the same request. */
    send_nothing(resp);
    if (f->cfg->verbose)
      fprintf(stderr, "%s %s retransmitted while its answer is held\n",
              sim_dev_ep(f, (unsigned)i, ep, sizeof ep), method_name(m));
    return;
  }
  d->c.req[m]++;
  bool lost = f->cfg->drop > 0 && sim_rand01(f) < f->cfg->drop;
  if (lost || (delay && f->n_held >= SIM_HELD_MAX)) {
    /* Simulated loss (or no room to hold one more answer): a NON response with no code is not
     * sent at all, so the client retransmits as it would after a lost datagram. */
    d->c.dropped++;
    send_nothing(resp);
    if (f->cfg->verbose)
      fprintf(stderr, "%s %s dropped\n", sim_dev_ep(f, (unsigned)i, ep, sizeof ep), method_name(m));
    return;
  }
  sim_req r = {.f = f, .i = (unsigned)i, .d = d, .s = s, .pdu = pdu, .method = m};
  r.has_query = query != NULL;
  r.ssid = sim_acl_ssid_of(f, s);
  serve(&r, &rp);
  if (rp.silent) { /* rebooted while serving it: the request is lost with the rest */
    send_nothing(resp);
    free(rp.body);
    if (f->cfg->verbose)
      fprintf(stderr, "%s %s: rebooted, no answer\n", sim_dev_ep(f, (unsigned)i, ep, sizeof ep),
              method_name(m));
    return;
  }
  if (m == SIM_M_GET) {
    long seq =
        sim_obs_request(f, (unsigned)i, s, pdu, &r.p, r.read, rp.code, rp.fmt, rp.body, rp.len);
    rp.observe = seq >= 0, rp.obs_seq = (uint32_t)seq;
  }
  sim_obs_touch(f, (unsigned)i); /* a change is notified from the loop, after this answer */
  send_reply(pdu, resp, &rp);
  int c = coap_pdu_get_code(resp);
  bool held = delay && hold_answer(f, (unsigned)i, s, pdu, resp);
  if (!held) sim_count_response(d, c); /* a held answer counts when it is sent */
  if (f->cfg->verbose) {
    char path[32] = "?";
    if (r.p.depth) lmm_path_format(&r.p, path, sizeof path);
    char obs[24] = "";
    if (rp.observe) snprintf(obs, sizeof obs, " (Observe %u)", rp.obs_seq);
    fprintf(stderr, "%s %s %s -> %d.%02d%s%s%s%s\n", sim_dev_ep(f, (unsigned)i, ep, sizeof ep),
            method_name(m), path, c >> 5, c & 31, rp.diag[0] ? ": " : "", rp.diag, obs,
            held ? " (held)" : "");
  }
  if (rp.body_lmm)
    lmm_free(rp.body);
  else
    free(rp.body);
}

void sim_serve_pdu(sim_fleet *f, unsigned i, const coap_pdu_t *pdu, const sim_blob_msg *bm,
                   uint16_t ssid, int *code, int *fmt, uint8_t **body, size_t *len) {
  sim_device *d = &f->dev[i];
  sim_reply rp = {.fmt = -1};
  coap_opt_iterator_t it;
  int m = method_index(coap_pdu_get_code(pdu));
  sim_req r = {.f = f, .i = i, .d = d, .s = NULL, .pdu = pdu, .method = m, .bm = bm};
  r.has_query = coap_check_option(pdu, COAP_OPTION_URI_QUERY, &it) != NULL;
  r.ssid = ssid;
  d->c.req[m]++;
  serve(&r, &rp);
  sim_obs_touch(f, i);
  *code = rp.silent ? 0 : rp.code ? rp.code : CODE(500);
  *fmt = -1, *body = NULL, *len = 0;
  if (rp.body && rp.code == CODE(205)) { /* the whole body: an answer POST is not cut */
    if ((*body = malloc(rp.len ? rp.len : 1))) {
      memcpy(*body, rp.body, rp.len);
      *len = rp.len, *fmt = rp.fmt;
    } else {
      *code = CODE(500);
    }
  } else if ((rp.code >> 5) != 2 && rp.diag[0] && (*body = (uint8_t *)strdup(rp.diag))) {
    *len = strlen(rp.diag);
  }
  if (f->cfg->verbose) {
    char path[32] = "?", ep[48];
    if (r.p.depth) lmm_path_format(&r.p, path, sizeof path);
    fprintf(stderr, "%s %s %s (group) -> %d.%02d%s%s\n", sim_dev_ep(f, i, ep, sizeof ep),
            method_name(m), path, *code >> 5, *code & 31, rp.diag[0] ? ": " : "", rp.diag);
  }
  if (rp.body_lmm)
    lmm_free(rp.body);
  else
    free(rp.body);
}

static int on_event(coap_session_t *s, const coap_event_t ev) {
  sim_fleet *f = event_fleet;
  (void)s;
  if (ev == COAP_EVENT_SERVER_SESSION_NEW && ++f->sessions > f->sessions_max)
    f->sessions_max = f->sessions;
  if (ev == COAP_EVENT_SERVER_SESSION_DEL && f->sessions > 0) f->sessions--;
  return 0;
}

const coap_bin_const_t *sim_psk_for_identity(coap_bin_const_t *identity, coap_session_t *s,
                                             void *arg) {
  sim_fleet *f = arg;
  if (!identity || !identity->s) return NULL;
  long i = sim_ep_index(f, (const char *)identity->s, identity->length);
  if (i < 0) return NULL;
  /* A device knows its own credentials only: another device's identity, sent to this
   * device's address, fails the handshake. */
  const coap_address_t *la = s ? coap_session_get_addr_local(s) : NULL;
  if (la && la->addr.sa.sa_family == AF_INET) {
    long at = sim_dev_index(f, ntohl(la->addr.sin.sin_addr.s_addr));
    if (at >= 0 && at != i) return NULL;
  }
  sim_dev_psk(f, (unsigned)i, f->psk_buf);
  f->psk.s = f->psk_buf;
  f->psk.length = sizeof f->psk_buf;
  return &f->psk; /* libcoap copies it */
}

int sim_coap_setup(sim_fleet *f) {
  /* One catch-all resource: libcoap 4.3.1 passes every method to the unknown-resource
   * handler when one is registered, so no resource tree is needed for 10,000 devices and
   * Group Mgmt instances that come and go. */
  coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
  if (!r) return -1;
  coap_resource_set_userdata(r, f);
  static const coap_request_t methods[] = {COAP_REQUEST_GET,    COAP_REQUEST_POST,
                                           COAP_REQUEST_DELETE, COAP_REQUEST_FETCH,
                                           COAP_REQUEST_PATCH,  COAP_REQUEST_IPATCH};
  for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
    coap_register_request_handler(r, methods[k], on_request);
  coap_add_resource(f->ctx, r);
  event_fleet = f;
  coap_register_event_handler(f->ctx, on_event);
  sim_group_setup(f);
  return 0;
}
