/* observe.c - lwm2m-mbms-sim: Observe (RFC 7641) and LwM2M notifications. A GET with Observe 0
 * registers an observation of an object, instance, resource or resource instance; the device
 * notifies changes of the value read there, as its Write-Attributes (pmin, pmax, gt, lt, st)
 * allow; Observe 1, a GET without Observe on the same token, a Reset, or a CON notification not
 * acknowledged ends it.
 *
 * Not libcoap's observable resources: the fleet is one catch-all resource, whose observers
 * libcoap would notify all at once, from the address of whichever device the client's session
 * last reached (a server session is keyed by the client's address and port only); and libcoap
 * knows nothing of pmin or pmax. So the observations are kept here, timed by the simulator's
 * loop (a heap of due times), and each notification is a PDU sent on the observer's session with
 * the device's address put on it for the send, as delay.c does for held answers. */
#include "observe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "attrs.h"

#define NONE         SIM_OBS_NONE
#define SEQ_MASK     0xffffffu          /* the Observe option carries 24 bits */
#define CON_EVERY_MS (24 * 3600 * 1000) /* RFC 7641 4.5: a CON at least once a day */
#define BLOCK        1024u              /* a notification body larger than this goes in Block2 */
#define MIDS         4u                 /* NON notifications remembered to match a Reset */

enum { C_DEREG, C_GET, C_RESET, C_TIMEOUT, C_GONE, C_SESSION, C_N };
static const char *const CANCEL_NAMES[C_N] = {"deregister", "get",  "reset",
                                              "timeout",    "gone", "session"};

typedef struct obs {
  bool used;
  unsigned dev;
  uint32_t next; /* the device's next observation, or NONE */
  lmm_path path;
  int fmt;              /* Content-Format of the registration answer, kept for notifications */
  coap_session_t *s;    /* the observer's session (referenced) */
  coap_address_t peer;  /* its address, to match a Reset */
  coap_address_t local; /* the device's address */
  uint8_t tok[8], tok_len;
  uint32_t seq;       /* Observe value last sent */
  int64_t last_ms;    /* last notification (or the registration answer) */
  int64_t not_before; /* --delay-ms: the registration answer leaves then */
  int64_t last_con_ms;
  uint64_t hash;         /* of the body last sent */
  double num;            /* value last sent, when a single number */
  bool has_num, changed; /* changed: a change waits for pmin */
  unsigned since_con;    /* notifications since the last CON */
  uint16_t mid[MIDS];    /* of the last NON notifications */
  uint8_t n_mid;
  int64_t due;
  uint32_t hpos; /* in the heap, or NONE */
} obs;

struct sim_observe {
  obs *o;
  uint32_t cap, n_used, *free_ids, n_free;
  uint32_t *heap, n_heap;
  unsigned *pending;
  size_t n_pending;
  uint64_t registered, refused, notifications, con, active_max, cancelled[C_N];
};

/* Allocated on the first Observe: --max-observations slots. */
static sim_observe *state(sim_fleet *f) {
  if (!f->obs) {
    sim_observe *w = calloc(1, sizeof *w);
    if (w) {
      size_t n = f->cfg->max_obs ? f->cfg->max_obs : 1;
      w->cap = f->cfg->max_obs;
      w->o = calloc(n, sizeof *w->o);
      w->free_ids = malloc(n * sizeof *w->free_ids);
      w->heap = malloc(n * sizeof *w->heap);
      w->pending = malloc(f->n * sizeof *w->pending);
      if (!w->o || !w->free_ids || !w->heap || !w->pending) {
        free(w->o), free(w->free_ids), free(w->heap), free(w->pending), free(w);
        return NULL;
      }
      for (uint32_t k = 0; k < w->cap; k++)
        w->free_ids[k] = w->cap - 1 - k;
      w->n_free = w->cap;
    }
    f->obs = w;
  }
  return f->obs;
}

/* ------------------------------------------------------------------ the heap of due times */

static void heap_set(sim_observe *w, uint32_t at, uint32_t id) {
  w->heap[at] = id;
  w->o[id].hpos = at;
}

static void heap_up(sim_observe *w, uint32_t at) {
  uint32_t id = w->heap[at];
  while (at > 0) {
    uint32_t up = (at - 1) / 2;
    if (w->o[w->heap[up]].due <= w->o[id].due) break;
    heap_set(w, at, w->heap[up]);
    at = up;
  }
  heap_set(w, at, id);
}

static void heap_down(sim_observe *w, uint32_t at) {
  uint32_t id = w->heap[at];
  for (;;) {
    uint32_t c = 2 * at + 1;
    if (c >= w->n_heap) break;
    if (c + 1 < w->n_heap && w->o[w->heap[c + 1]].due < w->o[w->heap[c]].due) c++;
    if (w->o[w->heap[c]].due >= w->o[id].due) break;
    heap_set(w, at, w->heap[c]);
    at = c;
  }
  heap_set(w, at, id);
}

static void heap_remove(sim_observe *w, uint32_t id) {
  uint32_t at = w->o[id].hpos;
  if (at == NONE) return;
  w->o[id].hpos = NONE;
  uint32_t last = w->heap[--w->n_heap];
  if (at == w->n_heap) return;
  heap_set(w, at, last);
  heap_up(w, at);
  heap_down(w, w->o[last].hpos);
}

/* Sets the observation's next look at `due` (INT64_MAX: none). */
static void schedule(sim_observe *w, uint32_t id, int64_t due) {
  obs *o = &w->o[id];
  if (due == INT64_MAX) {
    heap_remove(w, id);
    return;
  }
  o->due = due;
  if (o->hpos == NONE) {
    o->hpos = w->n_heap;
    w->heap[w->n_heap++] = id;
    heap_up(w, o->hpos);
  } else {
    heap_up(w, o->hpos);
    heap_down(w, o->hpos);
  }
}

/* ------------------------------------------------------------------ the list */

static uint32_t find(const sim_fleet *f, unsigned i, const coap_session_t *s, const uint8_t *tok,
                     size_t tok_len) {
  const sim_observe *w = f->obs;
  for (uint32_t id = f->dev[i].obs_first; w && id != NONE; id = w->o[id].next)
    if (w->o[id].s == s && w->o[id].tok_len == tok_len && !memcmp(w->o[id].tok, tok, tok_len))
      return id;
  return NONE;
}

static void cancel(sim_fleet *f, uint32_t id, int why) {
  sim_observe *w = f->obs;
  obs *o = &w->o[id];
  sim_device *d = &f->dev[o->dev];
  uint32_t *p = &d->obs_first;
  while (*p != id)
    p = &w->o[*p].next;
  *p = o->next;
  d->n_obs--;
  heap_remove(w, id);
  coap_session_release(o->s);
  w->cancelled[why]++;
  w->n_used--;
  if (f->cfg->verbose) {
    char ep[48], path[32];
    fprintf(stderr, "%s observation of %s ends (%s)\n", sim_dev_ep(f, o->dev, ep, sizeof ep),
            lmm_path_format(&o->path, path, sizeof path), CANCEL_NAMES[why]);
  }
  memset(o, 0, sizeof *o);
  w->free_ids[w->n_free++] = id;
}

static uint64_t fnv1a(const uint8_t *b, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t k = 0; k < n; k++)
    h = (h ^ b[k]) * 0x100000001b3ull;
  return h;
}

long sim_obs_request(sim_fleet *f, unsigned i, coap_session_t *s, const coap_pdu_t *pdu,
                     const lmm_path *p, bool read, int code, int fmt, const uint8_t *body,
                     size_t len) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_OBSERVE, &it);
  long v = o ? (long)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
  coap_bin_const_t tok = coap_pdu_get_token(pdu);
  sim_device *d = &f->dev[i];
  char ep[48], ps[32];
  uint32_t id = find(f, i, s, tok.s, tok.length);
  if (v != 0) {
    coap_block_b_t b;
    /* The next blocks of a large answer are plain GETs, with the token of the observation. */
    if (id == NONE || (v < 0 && coap_get_block_b(s, pdu, COAP_OPTION_BLOCK2, &b) && b.num > 0))
      return -1;
    cancel(f, id, v == 1 ? C_DEREG : C_GET);
    return -1;
  }
  /* A re-registration that fails ends the old one (RFC 7641 4.1: the entry is replaced). */
  if (code != COAP_RESPONSE_CODE(205) || !read || tok.length > 8) {
    if (id != NONE) cancel(f, id, C_GONE);
    return -1;
  }
  sim_observe *w = state(f);
  const coap_address_t *la = coap_session_get_addr_local(s);
  if (!la) return -1;
  if (id == NONE) {
    const char *full = !w || w->n_free == 0          ? "fleet-wide"
                       : d->n_obs >= SIM_OBS_PER_DEV ? "on this device"
                                                     : NULL;
    if (full) {
      /* RFC 7641 4.1: the request falls back to a plain GET, answered without Observe. */
      if (w) w->refused++;
      if (f->cfg->verbose)
        fprintf(stderr, "%s %s not observed: %u observations %s at most\n",
                sim_dev_ep(f, i, ep, sizeof ep), lmm_path_format(p, ps, sizeof ps),
                full[0] == 'f' ? f->cfg->max_obs : SIM_OBS_PER_DEV, full);
      return -1;
    }
    id = w->free_ids[--w->n_free];
    obs *n = &w->o[id];
    memset(n, 0, sizeof *n);
    n->used = true;
    n->dev = i;
    n->hpos = NONE;
    n->s = coap_session_reference(s);
    n->peer = *coap_session_get_addr_remote(s);
    n->tok_len = (uint8_t)tok.length;
    memcpy(n->tok, tok.s, tok.length);
    n->next = d->obs_first;
    n->last_con_ms = sim_now_ms();
    d->obs_first = id;
    d->n_obs++;
    if (++w->n_used > w->active_max) w->active_max = w->n_used;
    w->registered++;
  }
  obs *n = &w->o[id];
  int64_t now = sim_now_ms();
  n->path = *p;
  n->fmt = fmt;
  n->local = *la;
  n->hash = fnv1a(body, len);
  n->has_num = false;
  n->changed = false;
  n->last_ms = now;
  n->not_before = now + (int64_t)f->cfg->delay_ms;
  n->seq = (n->seq + 1) & SEQ_MASK;
  sim_obs_touch(f, i); /* the timers of the new observation are set in the loop */
  return (long)n->seq;
}

void sim_obs_touch(sim_fleet *f, unsigned i) {
  sim_observe *w = f->obs;
  sim_device *d = &f->dev[i];
  if (!w || d->obs_first == NONE || d->obs_pending) return;
  d->obs_pending = true;
  w->pending[w->n_pending++] = i;
}

/* ------------------------------------------------------------------ notifications */

/* Exported by libcoap 4.3.1 and declared in coap3/coap_hashkey.h, which cannot be included:
 * it needs uthash.h, which Debian does not install. */
void coap_hash_impl(const unsigned char *s, size_t len, unsigned char h[4]);

static void add_uint(coap_pdu_t *pdu, coap_option_num_t num, unsigned v) {
  uint8_t b[4];
  coap_add_option(pdu, num, coap_encode_var_safe(b, sizeof b, v), b);
}

/* Sends one notification (a 2.05 with Observe, or the error that ends the observation, without
 * it) on the observer's session, from the device's address. */
static void notify(sim_fleet *f, obs *o, int code, const uint8_t *body, size_t len, int64_t now) {
  sim_observe *w = f->obs;
  bool con = (f->cfg->notify_con_every && o->since_con + 1 >= f->cfg->notify_con_every) ||
             now - o->last_con_ms >= CON_EVERY_MS;
  coap_pdu_t *pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, (coap_pdu_code_t)code,
                                  coap_new_message_id(o->s), coap_session_max_pdu_size(o->s));
  if (!pdu) return;
  bool ok = coap_add_token(pdu, o->tok_len, o->tok);
  if (code == COAP_RESPONSE_CODE(205)) {
    /* The ETag the device's Read of this body carries (coap_add_data_blocked_response() adds
     * libcoap's coap_hash() of the whole body): a client fetching the rest of a notification
     * by Block2 must see the same one to know the blocks belong together (RFC 7959 2.4, 3.4);
     * without it libcoap's client took the blocks for another representation and started
     * over. */
    unsigned char etag[4] = {0};
    coap_hash_impl(body, len, etag);
    coap_add_option(pdu, COAP_OPTION_ETAG, sizeof etag, etag);
    o->seq = (o->seq + 1) & SEQ_MASK;
    add_uint(pdu, COAP_OPTION_OBSERVE, o->seq);
    add_uint(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)o->fmt);
    if (len > BLOCK) { /* RFC 7959 3.4: the first block; the client asks for the rest */
      add_uint(pdu, COAP_OPTION_BLOCK2, (0u << 4) | (1u << 3) | 6u);
      add_uint(pdu, COAP_OPTION_SIZE2, (unsigned)len);
      len = BLOCK;
    }
  }
  ok = ok && (!len || coap_add_data(pdu, len, body));
  coap_address_t *la = (coap_address_t *)coap_session_get_addr_local(o->s);
  if (!ok || !la) {
    coap_delete_pdu(pdu);
    return;
  }
  coap_mid_t mid = coap_pdu_get_mid(pdu);
  /* The session is shared by every device its client talks to: the notification must leave
   * from this device's address, not from that of the last datagram on the session. */
  coap_address_t keep = *la;
  *la = o->local;
  coap_mid_t sent = coap_send(o->s, pdu);
  *la = keep;
  if (sent == COAP_INVALID_MID) return;
  sim_count_response(&f->dev[o->dev], code);
  f->dev[o->dev].c.notifications++;
  if (f->cfg->verbose) {
    char ep[48], path[32];
    fprintf(stderr, "%s notifies %s -> %d.%02d (Observe %u, %s)\n",
            sim_dev_ep(f, o->dev, ep, sizeof ep), lmm_path_format(&o->path, path, sizeof path),
            code >> 5, code & 31, o->seq, con ? "CON" : "NON");
  }
  w->notifications++;
  if (con) {
    w->con++;
    o->since_con = 0;
    o->last_con_ms = now;
  } else {
    o->since_con++;
    o->mid[o->n_mid++ % MIDS] = (uint16_t)mid;
  }
}

/* Whether the threshold `t` lies between the last value sent and the new one. */
static bool crossed(double from, double to, double t, bool upper) {
  return upper ? (from > t) != (to > t) : (from < t) != (to < t);
}

static bool covers(const lmm_path *p, uint16_t oid, uint16_t rid) {
  return p->oid == oid && (p->depth < 3 || p->rid == rid);
}

/* The next wall-clock second in monotonic ms: Current Time (3/0/13) changes then. */
static int64_t next_second(int64_t now) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return now + (1000 - ts.tv_nsec / 1000000) + 2;
}

/* Looks at observation `id` now: notifies a change (pmin allowing, gt/lt/st when set) or the
 * end of pmax, and sets the time of its next look. */
static void look(sim_fleet *f, uint32_t id, int64_t now, sim_obs_read_fn *read) {
  sim_observe *w = f->obs;
  obs *o = &w->o[id];
  sim_device *d = &f->dev[o->dev];
  if (coap_session_get_state(o->s) != COAP_SESSION_STATE_ESTABLISHED) {
    cancel(f, id, C_SESSION); /* a DTLS peer closed it: nobody to notify */
    return;
  }
  if (sim_dev_offline(d, now)) { /* rebooting (--fw-reboot): silent until it is back */
    schedule(w, id, d->offline_until);
    return;
  }
  sim_attrs a = sim_attr_effective(d, &o->path);
  bool thresholds = (a.set & (SIM_A_GT | SIM_A_LT | SIM_A_ST)) != 0;
  uint8_t *body;
  size_t len;
  double v = 0;
  bool has_v;
  int code = read(f, o->dev, &o->path, o->fmt, &body, &len, &v, &has_v, thresholds);
  if (code != COAP_RESPONSE_CODE(205)) { /* the path is gone (a deleted instance) */
    notify(f, o, code, body, len, now);
    free(body);
    if (o->used) cancel(f, id, C_GONE); /* unless libcoap's NACK handler ended it meanwhile */
    return;
  }
  uint64_t h = fnv1a(body, len);
  if (h == o->hash && has_v && !o->has_num) o->num = v, o->has_num = true; /* the first value */
  if (h != o->hash) {
    o->changed = !thresholds || !has_v || !o->has_num ||
                 ((a.set & SIM_A_GT) && crossed(o->num, v, a.gt, true)) ||
                 ((a.set & SIM_A_LT) && crossed(o->num, v, a.lt, false)) ||
                 ((a.set & SIM_A_ST) && fabs(v - o->num) >= a.st);
  }
  int64_t pmin = (a.set & SIM_A_PMIN) ? (int64_t)a.pmin * 1000 : 0;
  /* pmax 0, or below pmin, sets no maximum period. */
  bool has_pmax = (a.set & SIM_A_PMAX) && a.pmax > 0 && (int64_t)a.pmax * 1000 >= pmin;
  int64_t pmax = has_pmax ? (int64_t)a.pmax * 1000 : 0;
  bool ready = now >= o->not_before && now >= o->last_ms + pmin;
  if (ready && (o->changed || (has_pmax && now >= o->last_ms + pmax))) {
    notify(f, o, code, body, len, now);
    if (!o->used) { /* libcoap could not send it and its NACK handler ended the observation */
      free(body);
      return;
    }
    o->last_ms = now;
    o->hash = h;
    o->num = v, o->has_num = has_v;
    o->changed = false;
  }
  free(body);
  int64_t earliest = o->last_ms + pmin > o->not_before ? o->last_ms + pmin : o->not_before;
  int64_t due = INT64_MAX;
  if (o->changed) due = earliest;
  if (has_pmax) {
    int64_t t = o->last_ms + pmax > o->not_before ? o->last_ms + pmax : o->not_before;
    if (t < due) due = t;
  }
  if (covers(&o->path, 3, 13)) { /* the clock moves: a change every second */
    int64_t t = next_second(now);
    if (t < earliest) t = earliest;
    if (t < due) due = t;
  }
  if (d->fw.state == SIM_FW_UPDATING && (o->path.oid == 5 || covers(&o->path, 3, 3)) &&
      d->fw.update_done_ms < due)
    due = d->fw.update_done_ms; /* the update ends by time alone */
  if (due != INT64_MAX && due <= now) due = now + 1;
  schedule(w, id, due);
}

long sim_obs_run(sim_fleet *f, sim_obs_read_fn *read) {
  sim_observe *w = f->obs;
  if (!w) return -1;
  int64_t now = sim_now_ms();
  for (size_t k = 0; k < w->n_pending; k++) {
    unsigned i = w->pending[k], n = 0;
    uint32_t ids[SIM_OBS_PER_DEV];
    f->dev[i].obs_pending = false;
    /* Looking may end observations (a NACK may end all of a session's): a copy of the list. */
    for (uint32_t id = f->dev[i].obs_first; id != NONE && n < SIM_OBS_PER_DEV; id = w->o[id].next)
      ids[n++] = id;
    for (unsigned j = 0; j < n; j++)
      if (w->o[ids[j]].used && w->o[ids[j]].dev == i) look(f, ids[j], now, read);
  }
  w->n_pending = 0;
  while (w->n_heap && w->o[w->heap[0]].due <= now)
    look(f, w->heap[0], now, read);
  if (!w->n_heap) return -1;
  int64_t wait = w->o[w->heap[0]].due - now;
  return wait < 1 ? 1 : (long)wait;
}

/* ------------------------------------------------------------------ Resets, NACKs */

bool sim_obs_watching(const sim_fleet *f) {
  return f->obs && f->obs->n_used > 0 && f->udp_fd >= 0;
}

static bool same_peer(const coap_address_t *a, const struct sockaddr_in *b) {
  return a->addr.sa.sa_family == AF_INET && a->addr.sin.sin_port == b->sin_port &&
         a->addr.sin.sin_addr.s_addr == b->sin_addr.s_addr;
}

/* The NON notification of device i to `src` with Message ID `mid`, or NONE. */
static uint32_t by_mid(const sim_fleet *f, long i, const struct sockaddr_in *src, uint16_t mid) {
  const sim_observe *w = f->obs;
  for (uint32_t id = i >= 0 ? f->dev[i].obs_first : NONE; id != NONE; id = w->o[id].next) {
    const obs *o = &w->o[id];
    if (!same_peer(&o->peer, src)) continue;
    for (unsigned k = 0; k < MIDS && k < o->n_mid; k++)
      if (o->mid[k] == mid) return id;
  }
  return NONE;
}

/* libcoap drops a Reset that matches nothing it sent as CON, without telling the application:
 * the Resets to NON notifications are taken off the socket before libcoap reads it. Only a bare
 * Reset at the head of the queue that matches a notification is taken. */
void sim_obs_peek(sim_fleet *f) {
  for (int k = 0; k < 64 && sim_obs_watching(f); k++) {
    uint8_t b[8];
    struct sockaddr_in src;
    union {
      char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
      struct cmsghdr align;
    } cb;
    struct iovec iov = {b, sizeof b};
    struct msghdr mh = {.msg_name = &src,
                        .msg_namelen = sizeof src,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cb.buf,
                        .msg_controllen = sizeof cb.buf};
    ssize_t n = recvmsg(f->udp_fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
    if (n != 4 || b[0] != 0x70 || b[1] != 0) return; /* ver 1, RST, no token, code 0.00 */
    long dev = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof pi);
        dev = sim_dev_index(f, ntohl(pi.ipi_addr.s_addr));
      }
    uint32_t id = by_mid(f, dev, &src, (uint16_t)(b[2] << 8 | b[3]));
    if (id == NONE) return; /* libcoap's */
    if (recv(f->udp_fd, b, sizeof b, MSG_DONTWAIT) < 0 && errno != EAGAIN) return;
    cancel(f, id, C_RESET);
  }
}

bool sim_obs_nack(sim_fleet *f, coap_session_t *s, const coap_pdu_t *sent,
                  coap_nack_reason_t reason) {
  sim_observe *w = f->obs;
  bool ours = false;
  if (!w || !sent || coap_session_get_type(s) != COAP_SESSION_TYPE_SERVER) return false;
  coap_bin_const_t tok = coap_pdu_get_token(sent);
  /* A Reset ends the observation it answers. A CON notification never acknowledged means the
   * client is gone (RFC 7641 4.5): every observation on its session ends, rather than each
   * after its own CON times out, one at a time behind libcoap's NSTART of 1. */
  for (uint32_t id = 0; id < w->cap; id++) { /* rare: a scan is enough */
    const obs *o = &w->o[id];
    if (!o->used || o->s != s) continue;
    bool mine = o->tok_len == tok.length && !memcmp(o->tok, tok.s, tok.length);
    if (reason == COAP_NACK_RST && !mine) continue;
    ours = ours || mine;
    cancel(f, id, reason == COAP_NACK_RST ? C_RESET : C_TIMEOUT);
  }
  return ours;
}

/* ------------------------------------------------------------------ statistics, exit */

void sim_obs_json_totals(const sim_fleet *f, FILE *fp) {
  const sim_observe *w = f->obs;
  fprintf(fp,
          "\"observe\":{\"registered\":%llu,\"active\":%u,\"active_max\":%llu,\"refused\":%llu,"
          "\"notifications\":%llu,\"con\":%llu,\"cancelled\":{",
          (unsigned long long)(w ? w->registered : 0), w ? w->n_used : 0,
          (unsigned long long)(w ? w->active_max : 0), (unsigned long long)(w ? w->refused : 0),
          (unsigned long long)(w ? w->notifications : 0), (unsigned long long)(w ? w->con : 0));
  for (int k = 0; k < C_N; k++)
    fprintf(fp, "%s\"%s\":%llu", k ? "," : "", CANCEL_NAMES[k],
            (unsigned long long)(w ? w->cancelled[k] : 0));
  fputs("}},", fp);
}

void sim_obs_json_device(const sim_fleet *f, unsigned i, FILE *fp) {
  fprintf(fp, "\"observe\":{\"active\":%u,\"notifications\":%u},", f->dev[i].n_obs,
          f->dev[i].c.notifications);
}

void sim_obs_summary(const sim_fleet *f) {
  const sim_observe *w = f->obs;
  if (!w || (!w->registered && !w->refused)) return;
  fprintf(stderr,
          "lwm2m-mbms-sim: observations: %llu registered (%llu refused), %u at exit, at most "
          "%llu at once; %llu notifications (%llu CON)\n",
          (unsigned long long)w->registered, (unsigned long long)w->refused, w->n_used,
          (unsigned long long)w->active_max, (unsigned long long)w->notifications,
          (unsigned long long)w->con);
}

void sim_obs_free(sim_fleet *f) {
  sim_observe *w = f->obs;
  if (!w) return;
  for (uint32_t id = 0; id < w->cap; id++)
    if (w->o[id].used) coap_session_release(w->o[id].s);
  for (unsigned i = 0; i < f->n; i++)
    f->dev[i].obs_first = NONE, f->dev[i].n_obs = 0;
  free(w->o), free(w->free_ids), free(w->heap), free(w->pending);
  free(w);
  f->obs = NULL;
}
