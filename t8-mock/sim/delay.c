/* delay.c - --delay-ms: answers held back and sent late, as by a device behind a slow radio link,
 * without blocking the loop that serves every device.
 *
 * A request is served when it arrives (its effects are visible at once); its answer, made by the
 * same code as an immediate one, is held and sent --delay-ms later as the piggybacked ACK (or
 * NON) it would have been. With one delay for all, answers fall due in arrival order: the queue
 * is a FIFO, and main.c's loop waits no longer than the time to its head.
 *
 * Why not libcoap's coap_register_async() (which re-runs the handler after a delay and sends a
 * separate response: an empty ACK at once, the answer later as a CON)? libcoap 4.3.1 keys a
 * server session by the client's address and port only, and overwrites the session's local
 * address with each datagram. A client that talks to several devices from one socket would get
 * a delayed answer from the address of whichever device it wrote to last, and a request to a
 * second device with the same token would be taken for a retransmission and swallowed. Here each
 * held answer keeps the device's address and puts it on the session just for the send. */
#include "delay.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct sim_held {
  sim_held *next;       /* the fleet's queue, first due first */
  sim_held *dev_next;   /* the same device's held answers, oldest first */
  int64_t due_us;       /* monotonic */
  coap_session_t *s;    /* referenced until sent */
  coap_pdu_t *pdu;      /* the answer */
  coap_address_t local; /* the device's address the request came to */
  unsigned dev;
  coap_mid_t mid; /* of the request (an ACK carries it too) */
  bool con;
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sim_hold(sim_fleet *f, unsigned i, coap_session_t *s, const coap_address_t *local,
              coap_mid_t mid, bool con, coap_pdu_t *answer) {
  sim_held *h = calloc(1, sizeof *h);
  if (!h) { /* the answer is lost, as a datagram may be: a CON request is retransmitted */
    coap_delete_pdu(answer);
    return;
  }
  h->due_us = now_us() + (int64_t)f->cfg->delay_ms * 1000;
  h->s = coap_session_reference(s);
  h->pdu = answer;
  h->local = *local;
  h->dev = i;
  h->mid = mid;
  h->con = con;
  if (f->held_tail)
    f->held_tail->next = h;
  else
    f->held_head = h;
  f->held_tail = h;
  sim_held **p = &f->dev[i].held;
  while (*p)
    p = &(*p)->dev_next;
  *p = h;
  if (++f->n_held > f->held_max) f->held_max = f->n_held;
}

bool sim_held_find(const sim_fleet *f, unsigned i, const coap_session_t *s, coap_mid_t mid) {
  for (const sim_held *h = f->dev[i].held; h; h = h->dev_next)
    if (h->con && h->s == s && h->mid == mid) return true;
  return false;
}

/* Unlinks the head of the queue, which is also the oldest answer of its device. */
static sim_held *pop(sim_fleet *f) {
  sim_held *h = f->held_head;
  f->held_head = h->next;
  if (!f->held_head) f->held_tail = NULL;
  sim_device *d = &f->dev[h->dev];
  d->held = h->dev_next;
  f->n_held--;
  return h;
}

static void send_held(sim_fleet *f, sim_held *h) {
  /* coap_session_get_addr_local() points into the session: the answer must leave from the
   * device's address, not from that of the last datagram on this session. The session's hash
   * key holds the client's address and the local port only, so this does not move it. */
  coap_address_t *la = (coap_address_t *)coap_session_get_addr_local(h->s);
  int code = coap_pdu_get_code(h->pdu);
  if (!la || coap_session_get_state(h->s) != COAP_SESSION_STATE_ESTABLISHED) {
    coap_delete_pdu(h->pdu); /* the session went (a DTLS peer closed it): nobody to answer */
  } else {
    coap_address_t keep = *la;
    *la = h->local;
    if (coap_send(h->s, h->pdu) != COAP_INVALID_MID) sim_count_response(&f->dev[h->dev], code);
    *la = keep;
  }
  h->pdu = NULL;
  coap_session_release(h->s);
  free(h);
}

long sim_held_flush(sim_fleet *f) {
  int64_t now = now_us();
  while (f->held_head && f->held_head->due_us <= now)
    send_held(f, pop(f));
  if (!f->held_head) return -1;
  int64_t wait = (f->held_head->due_us - now_us() + 999) / 1000;
  return wait < 1 ? 1 : (long)wait;
}

void sim_held_clear(sim_fleet *f) {
  while (f->held_head) {
    sim_held *h = pop(f);
    coap_delete_pdu(h->pdu);
    coap_session_release(h->s);
    free(h);
  }
}
