/* fw_campaign.c - a firmware campaign (docs/protocol.md section 5): configuration by the
 * ordinary campaign (TMGI, Group Mgmt writes), then the blob as paced fragments to the group,
 * status rounds and repair, the update in waves, and each member's final Update Result. Over
 * unicast it runs firmware jobs (fw_unicast.c), wave by wave. Everything runs from the
 * context's loop; at most one timer, one unicast batch and one group token are live at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "campaign/blob.h"
#include "campaign/campaign_internal.h"
#include "core/ctx_internal.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/fw_campaign.h"

enum { FW_OID = 5 };
#define POLL_INTERVAL_MS 300

/* What the single live unicast batch is doing. */
enum { B_STATUS = 0, B_FRAG, B_EXEC };

/* Where the flow is, for the callbacks that are shared by several steps. */
typedef enum step {
  S_IDLE = 0,
  S_CONFIG,
  S_SEND,        /* first pass of fragments */
  S_STATUS,      /* status round, group part */
  S_STATUS_UNI,  /* status round, unicast to the silent */
  S_REPAIR,      /* multicast and unicast repair together */
  S_WAVE_EXEC,   /* Execute to the first wave by unicast */
  S_EXEC,        /* update request to the group */
  S_EXEC_UNI,    /* Execute by unicast to the silent */
  S_WAIT_UPDATE, /* the update takes time */
  S_RESULTS,     /* results round, group part */
  S_POLL,        /* results by unicast polling */
  S_UNI_JOB,     /* unicast firmware job */
  S_END
} step;

typedef struct item {
  size_t m;      /* member index */
  uint32_t frag; /* B_FRAG only */
  char *query;   /* B_FRAG only: owned, freed at the item's outcome */
} item;

typedef struct fwm {
  uint8_t *missing; /* K bits; NULL until a status listed some */
  uint32_t n_missing;
  bool allowed, downloaded, executing, answered, in_play, wave, polled;
  int64_t deadline;
  char *error;
} fwm;

typedef struct ep_ix {
  const char *ep;
  size_t index;
} ep_ix;

struct lmm_fwc {
  lmm_fwc_deps d;
  lmm_fwc_config cfg;
  const lmm_fwc_handlers *h;
  void *user;
  lmm_group_info group;
  lmm_member *members;
  size_t n;
  uint8_t *image;
  size_t len;
  lmmi_blob_desc desc;
  uint32_t k, q;
  uint8_t *parity; /* Q * F */
  lmm_fwc_member *rep;
  fwm *m;
  ep_ix *by_ep;
  lmm_fwc_stats st;
  int via;
  step step;
  bool started, finished, cancel_req, wave_done;
  lmm_err result;
  char *error;
  int64_t t0;
  long window_ms;
  /* configuration */
  lmm_campaign *setup;
  char *tmgi;
  /* group sending */
  lmmi_group_dest dest; /* the group's address, or the delivery's MB2-U port */
  lmm_t8_request *t8req;
  char *gmd_self;
  uint32_t *queue; /* fragment indices; UINT32_MAX is the announce */
  size_t n_queue, pos;
  int64_t pace_t0;
  uint64_t pace_bytes;
  uint8_t frag_token[LMMI_TOKEN_LEN];
  uint8_t token[LMMI_TOKEN_LEN];
  bool answers_open;
  size_t n_in_play, n_answered;
  /* repair: both halves must end before the next round */
  bool repair_mcast_busy, repair_uni_busy;
  /* the unicast batch */
  lmm_batch *batch;
  int bkind;
  item *items;
  lmm_member *sub;
  size_t n_items;
  char status_q[LMMI_BLOB_QUERY_MAX + 1], exec_q[32];
  /* unicast path */
  lmm_fw_job *job;
  size_t *job_map;
  /* timers */
  lmmi_timer *timer, *cancel_timer;
  int64_t update_deadline;
  /* store */
  int64_t id;
  lmm_campaign_info info;
};

static void finish(lmm_fwc *c, int phase, lmm_err rc, const char *why);
static void status_round(lmm_fwc *c);
static void update_start(lmm_fwc *c);
static void results_round(lmm_fwc *c);
static void poll_round(lmm_fwc *c);
static void repair_plan(lmm_fwc *c);
static void uni_next(lmm_fwc *c);

/* ------------------------------------------------------------------ names */

LMM_API const char *lmm_fwc_phase_name(int phase) {
  static const char *const names[] = {"created",   "configuring", "sending",  "status",
                                      "repairing", "wave",        "updating", "done",
                                      "stopped",   "cancelled",   "failed"};
  return phase >= 0 && phase < (int)(sizeof names / sizeof names[0]) ? names[phase] : "unknown";
}

LMM_API const char *lmm_fwc_end_name(int end) {
  static const char *const names[] = {"pending", "updated",   "failed",
                                      "held",    "cancelled", "refused"};
  return end >= 0 && end < (int)(sizeof names / sizeof names[0]) ? names[end] : "unknown";
}

/* ------------------------------------------------------------------ helpers */

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

static int64_t now_ms(const lmm_fwc *c) {
  return lmm_ctx_now_ms(c->d.ctx);
}

static void set_phase(lmm_fwc *c, int phase) {
  if (c->st.phase == phase) return;
  c->st.phase = phase;
  lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: %s", (long long)c->id,
           lmm_fwc_phase_name(phase));
  if (c->h && c->h->on_phase) c->h->on_phase(c->user, phase);
}

static void set_timer(lmm_fwc *c, int64_t due, lmmi_timer_fn fn) {
  if (c->timer) lmmi_timer_cancel(c->d.ctx, c->timer);
  c->timer = lmmi_timer_add(c->d.ctx, due, fn, c);
  /* Without a timer nothing would drive the campaign: it fails rather than hangs. */
  if (!c->timer) finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "cannot arm a timer");
}

/* Member i ends (once). */
static void end_member(lmm_fwc *c, size_t i, int end, lmm_err err, const char *why) {
  lmm_fwc_member *r = &c->rep[i];
  if (r->end != LMM_FWC_PENDING) return;
  r->end = end;
  r->err = err;
  r->elapsed_ms = now_ms(c) - c->t0;
  free(c->m[i].error);
  c->m[i].error = why ? strdup(why) : NULL;
  r->error = c->m[i].error ? c->m[i].error : (why ? lmm_strerror(LMM_ERR_NOMEM) : NULL);
  c->m[i].in_play = false;
  free(c->m[i].missing), c->m[i].missing = NULL;
  if (c->h && c->h->on_member) c->h->on_member(c->user, i, r);
}

static size_t count_pending(const lmm_fwc *c) {
  size_t n = 0;
  for (size_t i = 0; i < c->n; i++)
    n += c->rep[i].end == LMM_FWC_PENDING;
  return n;
}

/* ------------------------------------------------------------------ store */

static void store_save(lmm_fwc *c) {
  if (!c->d.store || !c->id) return;
  lmm_fwc_stats st;
  lmm_fwc_get_stats(c, &st);
  char dg[65] = "";
  for (int b = 0; b < 32; b++)
    snprintf(dg + 2 * b, 3, "%02x", c->desc.digest[b]);
  char summary[600];
  snprintf(summary, sizeof summary,
           "{\"size\":%zu,\"sha256\":\"%s\",\"fragment_size\":%u,\"k\":%u,\"q\":%u,"
           "\"bytes_group\":%llu,\"bytes_unicast\":%llu,\"fragments_sent\":%llu,\"rounds\":%u,"
           "\"multicast_repairs\":%u,\"unicast_repairs\":%u,\"phase\":\"%s\"}",
           c->len, dg, c->desc.frag, c->k, c->q, (unsigned long long)st.bytes_group,
           (unsigned long long)st.bytes_unicast, (unsigned long long)st.fragments_sent, st.rounds,
           st.multicast_repairs, st.unicast_repairs, lmm_fwc_phase_name(st.phase));
  free(c->info.fw_summary);
  c->info.fw_summary = dupn(summary);
  static const int cs[] = {LMM_CS_CREATED,    LMM_CS_CONFIGURING, LMM_CS_DELIVERING,
                           LMM_CS_COLLECTING, LMM_CS_REPAIRING,   LMM_CS_DELIVERING,
                           LMM_CS_DELIVERING, LMM_CS_DONE,        LMM_CS_DONE,
                           LMM_CS_DONE,       LMM_CS_FAILED};
  c->info.state = cs[st.phase];
  free(c->info.tmgi), c->info.tmgi = dupn(c->tmgi);
  free(c->info.t8_transaction), c->info.t8_transaction = dupn(c->gmd_self);
  free(c->info.error), c->info.error = dupn(c->error);
  if (c->finished) c->info.finished_ms = lmm_ctx_wall_ms(c->d.ctx);
  if (lmm_store_campaign_update(c->d.store, &c->info) != LMM_OK)
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "firmware campaign %lld: cannot store its state: %s",
             (long long)c->id, lmm_store_errmsg(c->d.store));
  lmm_outcome *o = calloc(c->n, sizeof *o);
  if (!o) return;
  for (size_t i = 0; i < c->n; i++) {
    const lmm_fwc_member *r = &c->rep[i];
    o[i].ep = c->members[i].ep;
    o[i].oid = c->members[i].oid;
    o[i].via = r->via;
    o[i].gm_written = true;
    o[i].done = r->end != LMM_FWC_PENDING;
    o[i].repaired = r->fragments_repaired > 0;
    o[i].err = r->err;
    o[i].content_format = -1;
    o[i].latency_ms = r->elapsed_ms;
    o[i].error = (char *)r->error;
    o[i].fw_end = r->end;
    o[i].fw_state = r->state;
    o[i].fw_result = r->update_result;
    o[i].fw_wave = r->wave;
    o[i].fw_pulled = r->pulled;
    o[i].fw_bytes_unicast = r->bytes_unicast;
    o[i].fw_missed = r->missed_first;
    o[i].fw_repaired = r->fragments_repaired;
  }
  if (lmm_store_outcomes_put(c->d.store, c->id, o, c->n) != LMM_OK)
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "firmware campaign %lld: cannot store outcomes: %s",
             (long long)c->id, lmm_store_errmsg(c->d.store));
  free(o);
}

/* ------------------------------------------------------------------ sending to the group */

static lmm_err send_raw(lmm_fwc *c, const uint8_t *msg, size_t len) {
  lmm_err rc = lmmi_dest_send(&c->dest, msg, len);
  if (rc == LMM_OK) c->st.bytes_group += len;
  return rc;
}

/* Encodes op as a group request with `token` and sends it. */
static lmm_err send_op(lmm_fwc *c, const lmm_op *op, const uint8_t token[LMMI_TOKEN_LEN]) {
  uint8_t *msg = NULL;
  size_t len = 0;
  lmm_err rc =
      lmmi_coap_group_request(op, (uint16_t)lmmi_random_below(c->d.ctx, 65536), token, &msg, &len);
  if (rc == LMM_OK) rc = send_raw(c, msg, len);
  free(msg);
  return rc;
}

static const uint8_t *frag_data(const lmm_fwc *c, uint32_t i) {
  return i < c->k ? c->image + (size_t)i * c->desc.frag
                  : c->parity + (size_t)(i - c->k) * c->desc.frag;
}

static lmm_err send_fragment(lmm_fwc *c, uint32_t idx) {
  char q[LMMI_BLOB_QUERY_MAX + 1];
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_WRITE;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 0, .depth = 3};
  if (idx == UINT32_MAX) { /* the announce: the description with the digest, no payload */
    lmmi_blob_query(&c->desc, -1, true, q, sizeof q);
  } else {
    lmmi_blob_query(&c->desc, (long)idx, false, q, sizeof q);
    op.format = LMM_FMT_OPAQUE;
    op.payload = frag_data(c, idx);
    op.len = lmmi_blob_frag_len(&c->desc, idx);
    c->st.fragments_sent++;
  }
  op.query = q;
  return send_op(c, &op, c->frag_token);
}

static void queue_done(lmm_fwc *c);

/* Token bucket: the bearer's rate over the whole pass, a few datagrams of burst. */
static void pace(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  int64_t now = now_ms(c);
  uint64_t allowed = c->cfg.rate_bps * (uint64_t)(now - c->pace_t0) / 1000 + 4u * c->desc.frag;
  while (c->pos < c->n_queue && c->pace_bytes < allowed) {
    uint32_t idx = c->queue[c->pos++];
    uint64_t before = c->st.bytes_group;
    lmm_err rc = send_fragment(c, idx);
    if (rc != LMM_OK) return finish(c, LMM_FWC_P_FAILED, rc, "cannot send a fragment to the group");
    c->pace_bytes += c->st.bytes_group - before;
  }
  if (c->pos >= c->n_queue) return queue_done(c);
  int64_t due = c->pace_t0 + (int64_t)((c->pace_bytes + c->desc.frag) * 1000 / c->cfg.rate_bps);
  set_timer(c, due > now ? due : now + 1, pace);
}

/* Starts sending `idx` (owned) at the configured rate. */
static void pace_start(lmm_fwc *c, uint32_t *idx, size_t n) {
  free(c->queue);
  c->queue = idx, c->n_queue = n, c->pos = 0;
  c->pace_t0 = now_ms(c), c->pace_bytes = 0;
  set_timer(c, now_ms(c), pace);
}

/* ------------------------------------------------------------------ the unicast batch */

static void batch_prepare(void *user, size_t bi, const lmm_member *mb, lmm_op *op) {
  lmm_fwc *c = user;
  (void)mb;
  if (c->bkind != B_FRAG) return;
  item *it = &c->items[bi];
  char q[LMMI_BLOB_QUERY_MAX + 1];
  lmmi_blob_query(&c->desc, (long)it->frag, true, q, sizeof q);
  free(it->query);
  it->query = strdup(q);
  op->query = it->query ? it->query : "";
  op->payload = frag_data(c, it->frag);
  op->len = lmmi_blob_frag_len(&c->desc, it->frag);
}

static bool apply_status(lmm_fwc *c, size_t i, const uint8_t *p, size_t len, bool results,
                         bool last_word);

static void batch_member(void *user, const lmm_member_result *r) {
  lmm_fwc *c = user;
  item *it = &c->items[r->index];
  size_t i = it->m;
  free(it->query), it->query = NULL;
  if (c->rep[i].end != LMM_FWC_PENDING) return;
  bool ok = r->err == LMM_OK && r->coap_code >> 5 == 2;
  char text[200];
  if (!ok)
    snprintf(text, sizeof text, "%s: %s",
             c->bkind == B_FRAG   ? "repair PUT /5/0/0"
             : c->bkind == B_EXEC ? "Execute /5/0/2"
                                  : "status GET /5/0/3",
             r->error ? r->error : lmm_strerror(r->err));
  switch (c->bkind) {
  case B_FRAG:
    if (ok) {
      size_t n = lmmi_blob_frag_len(&c->desc, it->frag);
      c->rep[i].fragments_repaired++;
      c->rep[i].bytes_unicast += n;
      c->st.bytes_unicast += n;
      c->st.unicast_repairs++;
    } else if (r->err != LMM_OK) {
      end_member(c, i, LMM_FWC_FAILED, r->err, text);
    }
    break;
  case B_EXEC:
    if (ok) {
      c->m[i].executing = true;
      c->m[i].deadline = now_ms(c) + c->cfg.update_deadline_ms;
    } else {
      end_member(c, i, LMM_FWC_FAILED, r->err == LMM_OK ? LMM_ERR_COAP : r->err, text);
    }
    break;
  default: /* B_STATUS */
    if (!ok) {
      /* While waiting for an update a device may be rebooting: only the deadline ends it. */
      if (c->step == S_POLL && now_ms(c) < c->m[i].deadline) break;
      end_member(c, i, LMM_FWC_FAILED, r->err == LMM_OK ? LMM_ERR_COAP : r->err, text);
      break;
    }
    c->m[i].answered = true;
    apply_status(c, i, r->payload, r->payload_len, c->step == S_POLL, true);
    break;
  }
}

static void after_batch(lmm_fwc *c, step was);

/* Frees the unicast batch's items and member copies (the batch itself is gone or going). */
static void drop_items(lmm_fwc *c) {
  for (size_t k = 0; k < c->n_items; k++)
    free(c->items[k].query);
  free(c->items), c->items = NULL;
  free(c->sub), c->sub = NULL;
  c->n_items = 0;
}

static void batch_done(void *user, lmm_batch *b) {
  lmm_fwc *c = user;
  lmm_batch_free(b);
  c->batch = NULL;
  drop_items(c);
  after_batch(c, c->step);
}

static const lmm_batch_handlers batch_handlers = {batch_prepare, batch_member, NULL, batch_done};

/* Starts the unicast batch over `items` (owned). LMM_ERR_NOTFOUND (and items freed) for none. */
static lmm_err start_items(lmm_fwc *c, int kind, item *items, size_t n) {
  if (!n) {
    free(items);
    return LMM_ERR_NOTFOUND;
  }
  c->sub = calloc(n, sizeof *c->sub);
  if (!c->sub) {
    free(items);
    return LMM_ERR_NOMEM;
  }
  for (size_t k = 0; k < n; k++)
    c->sub[k] = c->members[items[k].m]; /* shallow: the campaign's members outlive the batch */
  c->items = items, c->n_items = n, c->bkind = kind;
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .depth = 3};
  if (kind == B_STATUS) {
    op.kind = LMM_OPK_READ, op.path.rid = 3, op.query = c->status_q;
  } else if (kind == B_EXEC) {
    op.kind = LMM_OPK_EXECUTE, op.path.rid = 2, op.query = c->exec_q;
  } else {
    op.kind = LMM_OPK_WRITE, op.path.rid = 0, op.format = LMM_FMT_OPAQUE;
  }
  lmm_err rc = lmm_batch_start(c->d.unicast, c->sub, n, &op, 0xFFFF, &batch_handlers, c, &c->batch);
  if (rc != LMM_OK) drop_items(c);
  return rc;
}

/* Items for the pending members that `pick` selects. */
static item *pick_items(lmm_fwc *c, bool (*pick)(const lmm_fwc *, size_t), size_t *n) {
  item *it = calloc(c->n ? c->n : 1, sizeof *it);
  *n = 0;
  if (!it) return NULL;
  for (size_t i = 0; i < c->n; i++)
    if (c->rep[i].end == LMM_FWC_PENDING && pick(c, i)) it[(*n)++] = (item){.m = i};
  return it;
}

/* ------------------------------------------------------------------ answers */

static size_t find_member(const lmm_fwc *c, const char *ep) {
  size_t lo = 0, hi = c->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(c->by_ep[mid].ep, ep) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t k = lo; k < c->n && !strcmp(c->by_ep[k].ep, ep); k++)
    if (c->m[c->by_ep[k].index].allowed) return c->by_ep[k].index;
  return SIZE_MAX;
}

static void round_over(void *arg);

static lmmi_answer_class on_answer(void *owner, const char *ep, uint8_t code, int fmt,
                                   const uint8_t *payload, size_t len) {
  lmm_fwc *c = owner;
  (void)fmt;
  size_t i = find_member(c, ep);
  if (i == SIZE_MAX) return LMMI_ANS_UNKNOWN;
  fwm *m = &c->m[i];
  if (!m->in_play || m->answered) return LMMI_ANS_DUPLICATE;
  m->answered = true;
  c->n_answered++;
  if (c->step == S_EXEC) {
    if (code >> 5 == 2) {
      m->executing = true;
      m->deadline = now_ms(c) + c->cfg.update_deadline_ms;
    } else {
      char text[80];
      snprintf(text, sizeof text, "the update request was answered %u.%02u", code >> 5, code & 31);
      end_member(c, i, LMM_FWC_FAILED, LMM_ERR_COAP, text);
    }
  } else if (code >> 5 != 2 || !apply_status(c, i, payload, len, c->step == S_RESULTS, false)) {
    m->answered = false; /* asked again by unicast */
    c->n_answered--;
  }
  /* Everyone answered: the window's end moves to now (on a timer turn, not in here). */
  if (c->n_answered >= c->n_in_play) set_timer(c, now_ms(c), round_over);
  return LMMI_ANS_ACCEPTED;
}

/* A status text from member i, in the download rounds or (results) after the update. An
 * unreadable one from the group path is asked again by unicast (false); from unicast it is
 * the member's last word, and fails it. */
static bool apply_status(lmm_fwc *c, size_t i, const uint8_t *p, size_t len, bool results,
                         bool last_word) {
  lmmi_blob_status s;
  char why[160];
  fwm *m = &c->m[i];
  lmm_fwc_member *r = &c->rep[i];
  if (lmmi_blob_status_parse(p, len, &s, why, sizeof why) != LMM_OK) {
    char text[220];
    snprintf(text, sizeof text, "unreadable status: %s", why);
    lmmi_log(c->d.ctx, LMM_LOG_WARN, "firmware campaign %lld: %s: %s", (long long)c->id,
             c->members[i].ep, text);
    if (last_word) end_member(c, i, LMM_FWC_FAILED, LMM_ERR_PROTO, text);
    return false;
  }
  r->state = s.state, r->update_result = s.result;
  if (s.state == 0 && s.result == 1 && (results || m->executing)) {
    end_member(c, i, LMM_FWC_UPDATED, LMM_OK, NULL);
  } else if (s.state == 0 && s.result >= 2) {
    char text[160];
    snprintf(text, sizeof text, "Update Result %d: %s", s.result,
             lmm_fw_update_result_text(s.result));
    end_member(c, i, LMM_FWC_FAILED, LMM_OK, text);
  } else if (results) {
    /* Still Updating, or not started yet: the polling goes on until the deadline. */
  } else if (s.state == 2 || s.state == 3) {
    m->downloaded = true;
    free(m->missing), m->missing = NULL;
    m->n_missing = 0;
  } else {
    if (!m->missing) m->missing = calloc((c->k + 7) / 8, 1);
    if (!m->missing) {
      lmmi_blob_status_clear(&s);
      end_member(c, i, LMM_FWC_FAILED, LMM_ERR_NOMEM, "out of memory");
      return true;
    }
    memset(m->missing, 0, (c->k + 7) / 8);
    if (s.n_ranges == 0) { /* nothing listed and nothing downloaded: everything */
      for (uint32_t f = 0; f < c->k; f++)
        lmmi_bit_set(m->missing, f);
    } else {
      lmmi_blob_status_mark(&s, m->missing, c->k);
    }
    uint32_t n = 0;
    for (uint32_t f = 0; f < c->k; f++)
      n += lmmi_bit(m->missing, f);
    m->n_missing = n;
    if (c->st.rounds == 1 && !r->missed_first) r->missed_first = n;
  }
  lmmi_blob_status_clear(&s);
  return true;
}

/* ------------------------------------------------------------------ rounds */

/* Opens a group request with a fresh token for the members in play. */
static lmm_err open_round(lmm_fwc *c) {
  if (c->answers_open) lmmi_answers_close(c->d.answers, c->token), c->answers_open = false;
  lmm_err rc = lmmi_random(c->d.ctx, c->token, sizeof c->token);
  if (rc == LMM_OK) rc = lmmi_answers_open(c->d.answers, c->token, on_answer, c);
  c->answers_open = rc == LMM_OK;
  c->n_answered = 0;
  for (size_t i = 0; i < c->n; i++)
    c->m[i].answered = false;
  return rc;
}

static void close_round(lmm_fwc *c) {
  if (c->answers_open) lmmi_answers_close(c->d.answers, c->token), c->answers_open = false;
}

static bool pick_silent(const lmm_fwc *c, size_t i) {
  return c->m[i].in_play && !c->m[i].answered;
}

static void round_over(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  close_round(c);
  size_t n;
  item *it = pick_items(c, pick_silent, &n);
  if (!it) return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  step next = c->step == S_STATUS ? S_STATUS_UNI : c->step == S_EXEC ? S_EXEC_UNI : S_POLL;
  c->step = next;
  if (next == S_POLL) { /* the results round's silent members join the polling */
    free(it);
    return poll_round(c);
  }
  lmm_err rc = start_items(c, next == S_EXEC_UNI ? B_EXEC : B_STATUS, it, n);
  if (rc == LMM_ERR_NOTFOUND) return after_batch(c, next);
  if (rc != LMM_OK) finish(c, LMM_FWC_P_FAILED, rc, "cannot start a unicast batch");
}

/* Sends one group request (status or update) to the members in play and waits the window. */
static void group_round(lmm_fwc *c, step s, const lmm_op *op) {
  c->step = s;
  c->n_in_play = 0;
  for (size_t i = 0; i < c->n; i++)
    c->n_in_play += c->m[i].in_play;
  if (!c->n_in_play)
    return after_batch(c, s == S_STATUS ? S_STATUS_UNI : s == S_EXEC ? S_EXEC_UNI : S_POLL);
  lmm_err rc = open_round(c);
  if (rc == LMM_OK) rc = send_op(c, op, c->token);
  if (rc != LMM_OK) return finish(c, LMM_FWC_P_FAILED, rc, "cannot send a group request");
  set_timer(c, now_ms(c) + c->window_ms + c->cfg.grace_ms, round_over);
}

static void status_op(const lmm_fwc *c, lmm_op *op) {
  *op = (lmm_op)LMM_OP_INIT;
  op->kind = LMM_OPK_READ;
  op->path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 3, .depth = 3};
  op->query = c->status_q;
}

static void status_round(lmm_fwc *c) {
  if (c->cancel_req) return;
  for (size_t i = 0; i < c->n; i++)
    c->m[i].in_play = c->rep[i].end == LMM_FWC_PENDING && c->m[i].allowed && !c->m[i].downloaded;
  c->st.rounds++;
  set_phase(c, LMM_FWC_P_STATUS);
  lmm_op op;
  status_op(c, &op);
  group_round(c, S_STATUS, &op);
}

static void queue_done(lmm_fwc *c) {
  if (c->step == S_SEND) return status_round(c);
  c->repair_mcast_busy = false; /* S_REPAIR */
  if (!c->repair_uni_busy) status_round(c);
}

/* Which data fragments go to the group again, and which to single members. */
static void repair_plan(lmm_fwc *c) {
  if (c->cancel_req) return;
  bool any = false;
  for (size_t i = 0; i < c->n; i++)
    any |= c->rep[i].end == LMM_FWC_PENDING && c->m[i].allowed && !c->m[i].downloaded;
  if (!any) return update_start(c);
  if (c->st.rounds >= (uint32_t)c->cfg.max_rounds) {
    for (size_t i = 0; i < c->n; i++)
      if (c->rep[i].end == LMM_FWC_PENDING && c->m[i].allowed && !c->m[i].downloaded) {
        char text[120];
        snprintf(text, sizeof text, "still missing %u fragments after %d rounds", c->m[i].n_missing,
                 c->cfg.max_rounds);
        end_member(c, i, LMM_FWC_FAILED, LMM_ERR_TIMEOUT, text);
      }
    return update_start(c);
  }
  uint32_t *count = calloc(c->k ? c->k : 1, sizeof *count);
  if (!count) return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  /* The last repair before the last status round goes all by unicast: a multicast repair is
   * as lossy as the first pass, a unicast one is acknowledged. */
  uint32_t mcast_min = c->st.rounds + 1 >= (uint32_t)c->cfg.max_rounds
                           ? UINT32_MAX
                           : (c->cfg.repair_multicast_min ? c->cfg.repair_multicast_min : 1);
  size_t n_pairs = 0;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing) continue;
    for (uint32_t f = 0; f < c->k; f++)
      if (lmmi_bit(m->missing, f)) count[f]++;
  }
  uint32_t *mq = malloc((c->k ? c->k : 1) * sizeof *mq);
  size_t n_mq = 0;
  if (!mq) {
    free(count);
    return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  }
  for (uint32_t f = 0; f < c->k; f++) {
    if (!count[f]) continue;
    if (count[f] >= mcast_min)
      mq[n_mq++] = f;
    else
      n_pairs += count[f];
  }
  item *it = n_pairs ? calloc(n_pairs, sizeof *it) : NULL;
  if (n_pairs && !it) {
    free(count), free(mq);
    return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++) {
    const fwm *m = &c->m[i];
    if (c->rep[i].end != LMM_FWC_PENDING || m->downloaded || !m->missing) continue;
    for (uint32_t f = 0; f < c->k; f++)
      if (lmmi_bit(m->missing, f) && count[f] < mcast_min) it[k++] = (item){.m = i, .frag = f};
  }
  free(count);
  set_phase(c, LMM_FWC_P_REPAIRING);
  c->step = S_REPAIR;
  c->st.multicast_repairs += (uint32_t)n_mq;
  c->repair_mcast_busy = n_mq > 0;
  c->repair_uni_busy = n_pairs > 0;
  if (n_pairs) {
    lmm_err rc = start_items(c, B_FRAG, it, n_pairs);
    if (rc != LMM_OK) {
      free(mq);
      return finish(c, LMM_FWC_P_FAILED, rc, "cannot start the unicast repair");
    }
  }
  if (n_mq)
    pace_start(c, mq, n_mq);
  else
    free(mq);
  if (!n_mq && !n_pairs) status_round(c); /* members that listed nothing: ask again */
}

/* ------------------------------------------------------------------ update and results */

static bool pick_wave_exec(const lmm_fwc *c, size_t i) {
  return c->m[i].wave && c->m[i].downloaded && !c->m[i].executing;
}

static void update_start(lmm_fwc *c) {
  if (c->cancel_req) return;
  size_t cand = 0;
  for (size_t i = 0; i < c->n; i++) {
    c->m[i].in_play = false;
    cand += c->rep[i].end == LMM_FWC_PENDING && c->m[i].downloaded;
  }
  if (!cand) return finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  size_t w = c->cfg.wave_count;
  if (!w && c->cfg.wave_percent > 0) {
    w = (size_t)((double)c->n * c->cfg.wave_percent / 100.0 + 0.999999);
    if (!w) w = 1;
  }
  if (w && !c->wave_done) {
    size_t k = 0;
    for (size_t i = 0; i < c->n && k < w; i++)
      if (c->rep[i].end == LMM_FWC_PENDING && c->m[i].downloaded)
        c->m[i].wave = c->rep[i].wave = true, k++;
    set_phase(c, LMM_FWC_P_WAVE);
    c->step = S_WAVE_EXEC;
    size_t n;
    item *it = pick_items(c, pick_wave_exec, &n);
    if (!it) return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
    lmm_err rc = start_items(c, B_EXEC, it, n);
    if (rc == LMM_ERR_NOTFOUND) return after_batch(c, S_WAVE_EXEC);
    if (rc != LMM_OK) finish(c, LMM_FWC_P_FAILED, rc, "cannot start the first wave");
    return;
  }
  set_phase(c, LMM_FWC_P_UPDATING);
  for (size_t i = 0; i < c->n; i++)
    c->m[i].in_play = c->rep[i].end == LMM_FWC_PENDING && c->m[i].downloaded && !c->m[i].wave;
  lmm_op op = LMM_OP_INIT;
  op.kind = LMM_OPK_EXECUTE;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 2, .depth = 3};
  op.query = c->exec_q;
  group_round(c, S_EXEC, &op);
}

static void wait_over(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  results_round(c);
}

/* The results of the members updating: one group status round, then unicast polling. For the
 * first wave (updated by unicast) the polling alone. */
static void results_round(lmm_fwc *c) {
  for (size_t i = 0; i < c->n; i++)
    c->m[i].in_play = c->rep[i].end == LMM_FWC_PENDING && c->m[i].executing;
  if (c->step == S_WAIT_UPDATE && !c->wave_done && c->st.phase == LMM_FWC_P_WAVE) {
    c->step = S_POLL;
    return poll_round(c);
  }
  lmm_op op;
  status_op(c, &op);
  group_round(c, S_RESULTS, &op);
}

static bool pick_poll(const lmm_fwc *c, size_t i) {
  return c->m[i].executing;
}

static void poll_fire(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (c->cancel_req) return;
  poll_round(c);
}

static void poll_round(lmm_fwc *c) {
  c->step = S_POLL;
  int64_t now = now_ms(c);
  for (size_t i = 0; i < c->n; i++)
    if (c->rep[i].end == LMM_FWC_PENDING && c->m[i].executing && now > c->m[i].deadline) {
      char text[100];
      snprintf(text, sizeof text, "no Update Result within %ld ms", c->cfg.update_deadline_ms);
      end_member(c, i, LMM_FWC_FAILED, LMM_ERR_TIMEOUT, text);
    }
  size_t n;
  item *it = pick_items(c, pick_poll, &n);
  if (!it) return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  lmm_err rc = start_items(c, B_STATUS, it, n);
  if (rc == LMM_ERR_NOTFOUND) return after_batch(c, S_END);
  if (rc != LMM_OK) finish(c, LMM_FWC_P_FAILED, rc, "cannot start the result polling");
}

/* The first wave is over: go on or stop by the thresholds. */
static void wave_verdict(lmm_fwc *c) {
  size_t w = 0, ok = 0, bad = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!c->rep[i].wave) continue;
    w++;
    ok += c->rep[i].end == LMM_FWC_UPDATED;
    bad += c->rep[i].end == LMM_FWC_FAILED;
  }
  c->wave_done = true;
  double succ = w ? (double)ok / (double)w : 1.0, err = w ? (double)bad / (double)w : 0.0;
  lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: first wave %zu of %zu updated",
           (long long)c->id, ok, w);
  if (succ + 1e-9 < c->cfg.success_threshold || err > c->cfg.error_threshold + 1e-9) {
    char text[200];
    snprintf(text, sizeof text,
             "held: the first wave had %zu of %zu updated and %zu failed (success threshold "
             "%.0f%%, error threshold %.0f%%)",
             ok, w, bad, c->cfg.success_threshold * 100, c->cfg.error_threshold * 100);
    for (size_t i = 0; i < c->n; i++)
      if (c->rep[i].end == LMM_FWC_PENDING) end_member(c, i, LMM_FWC_HELD, LMM_OK, text);
    return finish(c, LMM_FWC_P_STOPPED, LMM_OK, text);
  }
  if (c->via == LMM_VIA_UNICAST) return uni_next(c);
  update_start(c);
}

static void after_batch(lmm_fwc *c, step was) {
  if (c->cancel_req || c->finished) return;
  switch (was) {
  case S_STATUS_UNI:
    return repair_plan(c);
  case S_REPAIR:
    c->repair_uni_busy = false;
    if (!c->repair_mcast_busy) status_round(c);
    return;
  case S_WAVE_EXEC:
  case S_EXEC_UNI:
    c->step = S_WAIT_UPDATE;
    return set_timer(c, now_ms(c) + c->cfg.update_wait_ms, wait_over);
  case S_POLL:
  case S_END: {
    bool left = false;
    for (size_t i = 0; i < c->n; i++)
      left |= c->rep[i].end == LMM_FWC_PENDING && c->m[i].executing;
    if (left) return set_timer(c, now_ms(c) + POLL_INTERVAL_MS, poll_fire);
    if (c->st.phase == LMM_FWC_P_WAVE) return wave_verdict(c);
    /* Members that downloaded but were never updated (none expected) end here. */
    for (size_t i = 0; i < c->n; i++)
      if (c->rep[i].end == LMM_FWC_PENDING)
        end_member(c, i, LMM_FWC_FAILED, LMM_ERR_STATE, "not updated");
    return finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  }
  default:
    return;
  }
}

/* ------------------------------------------------------------------ unicast path */

static void job_member(void *user, const lmm_fw_report *r) {
  lmm_fwc *c = user;
  size_t i = c->job_map[r->index];
  lmm_fwc_member *m = &c->rep[i];
  m->via = LMM_VIA_UNICAST;
  m->pulled = r->pulled;
  m->bytes_unicast = r->bytes_written;
  c->st.bytes_unicast += r->bytes_written;
  m->update_result = r->update_result;
  m->state = r->stage == LMM_FW_STAGE_DONE ? 0 : r->stage == LMM_FW_STAGE_DOWNLOADED ? 2 : -1;
  if (r->ok) {
    end_member(c, i, LMM_FWC_UPDATED, LMM_OK, NULL);
  } else {
    char text[240];
    if (r->update_result > 1 && r->err == LMM_OK)
      snprintf(text, sizeof text, "Update Result %d: %s", r->update_result,
               lmm_fw_update_result_text(r->update_result));
    else
      snprintf(text, sizeof text, "%s", r->error ? r->error : lmm_strerror(r->err));
    end_member(c, i, LMM_FWC_FAILED, r->err, text);
  }
}

static void job_done(void *user, lmm_fw_job *j, lmm_err result) {
  lmm_fwc *c = user;
  (void)result;
  lmm_fw_free(j);
  c->job = NULL;
  free(c->job_map), c->job_map = NULL;
  if (c->cancel_req) return;
  if (c->st.phase == LMM_FWC_P_WAVE) return wave_verdict(c);
  finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
}

static const lmm_fw_handlers job_handlers = {job_member, job_done};

/* Runs a firmware job over the pending members: the first wave's, or all the rest. */
static void uni_next(lmm_fwc *c) {
  size_t w = c->cfg.wave_count;
  if (!w && c->cfg.wave_percent > 0)
    w = (size_t)((double)c->n * c->cfg.wave_percent / 100.0 + 0.999999);
  bool wave = w && !c->wave_done;
  lmm_member *sub = calloc(c->n ? c->n : 1, sizeof *sub);
  c->job_map = calloc(c->n ? c->n : 1, sizeof *c->job_map);
  if (!sub || !c->job_map) {
    free(sub);
    return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < c->n && (!wave || k < w); i++)
    if (c->rep[i].end == LMM_FWC_PENDING) {
      if (wave) c->rep[i].wave = c->m[i].wave = true;
      sub[k] = c->members[i], c->job_map[k++] = i;
    }
  if (!k) {
    free(sub);
    return finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  }
  set_phase(c, wave ? LMM_FWC_P_WAVE : LMM_FWC_P_UPDATING);
  c->step = S_UNI_JOB;
  lmm_fw_config fc = LMM_FW_CONFIG_DEFAULT;
  fc.update_deadline_ms = c->cfg.update_deadline_ms;
  fc.delivery = c->cfg.method == LMM_FWC_PULL   ? LMM_FW_PULL
                : c->cfg.method == LMM_FWC_AUTO ? LMM_FW_AUTO
                                                : LMM_FW_PUSH;
  fc.prefer_push = true;
  if (fc.delivery != LMM_FW_PUSH) fc.server = c->d.blobs;
  lmm_err rc =
      lmm_fw_new(c->d.ctx, c->d.unicast, &fc, sub, k, c->image, c->len, &job_handlers, c, &c->job);
  free(sub); /* the job copies */
  if (rc == LMM_OK) rc = lmm_fw_start(c->job);
  if (rc != LMM_OK) finish(c, LMM_FWC_P_FAILED, rc, "cannot start the unicast firmware job");
}

/* ------------------------------------------------------------------ configuration */

/* The first pass: the announce, then every data and parity fragment in order. */
static void first_pass(lmm_fwc *c) {
  uint32_t *q = malloc(((size_t)c->k + c->q + 1) * sizeof *q);
  if (!q) return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  q[0] = UINT32_MAX;
  for (uint32_t i = 0; i < c->k + c->q; i++)
    q[i + 1] = i;
  pace_start(c, q, (size_t)c->k + c->q + 1);
}

static void gmd_created(void *user, const lmm_t8_reply *rep) {
  lmm_fwc *c = user;
  c->t8req = NULL;
  if (rep->result->err != LMM_OK) {
    char *d = lmm_t8_result_describe(rep->result);
    finish(c, LMM_FWC_P_FAILED, rep->result->err, d ? d : "group message request failed");
    lmm_free(d);
    return;
  }
  if (rep->gmd->scef_port <= 0)
    return finish(c, LMM_FWC_P_FAILED, LMM_ERR_PROTO, "the SCEF offered no MB2-U port");
  c->gmd_self = dupn(rep->gmd->self);
  store_save(c); /* the delivery's link, for the notification that may follow */
  lmm_err rc = lmmi_dest_user_plane(&c->dest, rep->gmd);
  if (rc != LMM_OK) return finish(c, LMM_FWC_P_FAILED, rc, "cannot reach the SCEF's MB2-U address");
  first_pass(c);
}

static void send_start(lmm_fwc *c);

static void schedule_due(void *arg) {
  lmm_fwc *c = arg;
  c->timer = NULL;
  if (!c->cancel_req) send_start(c);
}

/* The first Schedule entry still ahead (Group Mgmt resource 8), in wall-clock ms; 0 when none.
 * Members in power saving wake for it: the blob must not go out earlier. */
static int64_t next_schedule_ms(const lmm_fwc *c) {
  int64_t now = lmm_ctx_wall_ms(c->d.ctx), best = 0;
  for (size_t i = 0; i < c->group.n_schedule; i++) {
    int64_t t = c->group.schedule[i] * 1000;
    if (t > now && (!best || t < best)) best = t;
  }
  return best;
}

static void send_start(lmm_fwc *c) {
  int64_t at = c->step == S_CONFIG ? next_schedule_ms(c) : 0;
  c->step = S_SEND;
  if (at) {
    lmmi_log(c->d.ctx, LMM_LOG_INFO, "firmware campaign %lld: holding the blob for the Schedule",
             (long long)c->id);
    return set_timer(c, now_ms(c) + (at - lmm_ctx_wall_ms(c->d.ctx)), schedule_due);
  }
  set_phase(c, LMM_FWC_P_SENDING);
  if (c->via == LMM_VIA_MBMS) {
    /* One delivery without a payload opens the user-plane port; every fragment is one MB2-U
     * datagram on it. */
    lmm_gmd g = {.scef_port = -1};
    g.external_group_id = c->group.external_group_id;
    lmm_err rc = lmm_t8_gmd_create_async(c->d.t8, c->tmgi, &g, gmd_created, c, &c->t8req);
    if (rc != LMM_OK) finish(c, LMM_FWC_P_FAILED, rc, "cannot send the T8 group message request");
    return;
  }
  lmm_err rc = lmmi_dest_multicast(&c->dest, c->group.multicast_address, c->group.multicast_port,
                                   c->cfg.mcast_if);
  if (rc != LMM_OK)
    return finish(c, LMM_FWC_P_FAILED, rc, "cannot open a socket to the multicast group");
  first_pass(c);
}

static void setup_done(void *user, lmm_campaign *sc, lmm_err result) {
  lmm_fwc *c = user;
  if (result != LMM_OK) {
    const lmm_campaign_info *ci = lmm_campaign_get_info(sc);
    char text[300];
    snprintf(text, sizeof text, "configuration: %s", ci->error ? ci->error : lmm_strerror(result));
    lmm_campaign_free(sc);
    c->setup = NULL;
    return finish(c, LMM_FWC_P_FAILED, result, text);
  }
  const lmm_campaign_info *ci = lmm_campaign_get_info(sc);
  c->tmgi = dupn(ci->tmgi);
  size_t n;
  const lmm_outcome *o = lmm_campaign_outcomes(sc, &n);
  /* The setup campaign had the allowed members only, in order. */
  size_t k = 0;
  for (size_t i = 0; i < c->n && k < n; i++) {
    if (!c->m[i].allowed) continue;
    if (!c->cfg.skip_group_mgmt && !o[k].gm_written) {
      char text[300];
      snprintf(text, sizeof text, "Group Mgmt write failed: %s",
               o[k].error ? o[k].error : "no answer");
      end_member(c, i, LMM_FWC_FAILED, LMM_ERR_NET, text);
    }
    k++;
  }
  lmm_campaign_free(sc);
  c->setup = NULL;
  if (c->cancel_req) return;
  if (!count_pending(c)) return finish(c, LMM_FWC_P_DONE, LMM_OK, NULL);
  send_start(c);
}

static const lmm_campaign_handlers setup_handlers = {NULL, NULL, setup_done};

static void config_start(lmm_fwc *c) {
  set_phase(c, LMM_FWC_P_CONFIGURING);
  c->step = S_CONFIG;
  size_t k = 0;
  lmm_member *sub = calloc(c->n ? c->n : 1, sizeof *sub);
  if (!sub) return finish(c, LMM_FWC_P_FAILED, LMM_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < c->n; i++)
    if (c->m[i].allowed) sub[k++] = c->members[i];
  lmm_campaign_deps d = {c->d.ctx, c->d.unicast, c->d.t8, c->d.answers, NULL};
  lmm_campaign_config cc = LMM_CAMPAIGN_CONFIG_DEFAULT;
  cc.group = &c->group;
  cc.members = sub, cc.n_members = k;
  cc.op.kind = LMM_OPK_READ;
  cc.op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = 3, .depth = 3};
  cc.via = c->via;
  cc.window_s = c->window_ms / 1000;
  cc.skip_group_mgmt = c->cfg.skip_group_mgmt;
  cc.configure_only = true;
  cc.mcast_if = c->cfg.mcast_if;
  lmm_err rc = lmm_campaign_new(&d, &cc, &setup_handlers, c, &c->setup);
  free(sub);
  if (rc == LMM_OK) rc = lmm_campaign_start(c->setup);
  if (rc != LMM_OK) finish(c, LMM_FWC_P_FAILED, rc, "cannot start the configuration");
}

/* ------------------------------------------------------------------ lifecycle */

static void stop_all(lmm_fwc *c) {
  if (c->timer) lmmi_timer_cancel(c->d.ctx, c->timer), c->timer = NULL;
  close_round(c);
  if (c->batch) lmm_batch_free(c->batch), c->batch = NULL;
  drop_items(c);
  if (c->job) lmm_fw_free(c->job), c->job = NULL;
  free(c->job_map), c->job_map = NULL;
  if (c->setup) lmm_campaign_free(c->setup), c->setup = NULL;
  if (c->t8req) lmm_t8_request_cancel(c->t8req), c->t8req = NULL;
}

static void gmd_deleted(void *user, const lmm_t8_reply *rep) {
  (void)user, (void)rep;
}

static void finish(lmm_fwc *c, int phase, lmm_err rc, const char *why) {
  if (c->finished) return;
  stop_all(c);
  c->finished = true;
  c->step = S_END;
  c->result = rc;
  if (why && (rc != LMM_OK || phase == LMM_FWC_P_STOPPED)) {
    free(c->error);
    c->error = dupn(why);
  }
  if (rc != LMM_OK) {
    lmmi_log(c->d.ctx, LMM_LOG_ERROR, "firmware campaign %lld failed: %s", (long long)c->id,
             why ? why : lmm_strerror(rc));
    for (size_t i = 0; i < c->n; i++)
      end_member(c, i, LMM_FWC_FAILED, rc, why ? why : lmm_strerror(rc));
  }
  /* The user-plane port is released: the delivery has nothing more to carry. */
  if (c->via == LMM_VIA_MBMS && c->gmd_self && c->tmgi && c->d.t8) {
    const char *txn = strrchr(c->gmd_self, '/');
    lmm_t8_request *req = NULL;
    if (txn) lmm_t8_gmd_delete_async(c->d.t8, c->tmgi, txn + 1, gmd_deleted, NULL, &req);
  }
  set_phase(c, phase);
  store_save(c);
  if (c->h && c->h->on_done) c->h->on_done(c->user, c, rc);
}

static void cancel_fire(void *arg) {
  lmm_fwc *c = arg;
  c->cancel_timer = NULL;
  if (c->finished) return;
  stop_all(c);
  for (size_t i = 0; i < c->n; i++)
    if (c->rep[i].end == LMM_FWC_PENDING)
      end_member(c, i, LMM_FWC_CANCELLED, LMM_ERR_CANCELLED,
                 c->m[i].executing ? "cancelled while updating: result unknown"
                                   : "cancelled before its update");
  finish(c, LMM_FWC_P_CANCELLED, LMM_OK, "cancelled");
}

LMM_API void lmm_fwc_cancel(lmm_fwc *c) {
  if (!c || c->finished || c->cancel_req) return;
  c->cancel_req = true;
  c->cancel_timer = lmmi_timer_add(c->d.ctx, now_ms(c), cancel_fire, c);
}

static int ep_cmp(const void *a, const void *b) {
  const ep_ix *x = a, *y = b;
  int r = strcmp(x->ep, y->ep);
  return r ? r : (x->index > y->index) - (x->index < y->index);
}

LMM_API lmm_err lmm_fwc_new(const lmm_fwc_deps *deps, const lmm_fwc_config *cfg,
                            const lmm_fwc_handlers *h, void *user, lmm_fwc **out) {
  if (!deps || !deps->ctx || !deps->unicast || !cfg || !cfg->group || !out) return LMM_ERR_ARG;
  const char *bad = NULL;
  int via = cfg->via != LMM_VIA_NONE                  ? cfg->via
            : cfg->group->type == LMM_GROUP_MBMS      ? LMM_VIA_MBMS
            : cfg->group->type == LMM_GROUP_MULTICAST ? LMM_VIA_MULTICAST
                                                      : LMM_VIA_UNICAST;
  if (!cfg->image || !cfg->len)
    bad = "an empty image";
  else if (!cfg->members || !cfg->n_members)
    bad = "no members";
  else if (cfg->len > LMMI_BLOB_SIZE_MAX && via != LMM_VIA_UNICAST)
    bad = "an image over 64 MiB for a group path";
  else if (via != LMM_VIA_UNICAST &&
           (cfg->fragment_size < LMMI_BLOB_FRAG_MIN || cfg->fragment_size > LMMI_BLOB_FRAG_MAX))
    bad = "a fragment size outside 16..1024";
  else if (cfg->rate_bps == 0 && via != LMM_VIA_UNICAST)
    bad = "a rate of 0";
  else if (cfg->max_rounds < 1)
    bad = "fewer than 1 status round";
  else if (cfg->wave_percent < 0 || cfg->wave_percent > 100)
    bad = "a wave percentage outside 0..100";
  else if (cfg->success_threshold < 0 || cfg->success_threshold > 1 || cfg->error_threshold < 0 ||
           cfg->error_threshold > 1)
    bad = "a threshold outside 0..1";
  else if (cfg->grace_ms < 0 || cfg->update_wait_ms < 0 || cfg->update_deadline_ms < 0)
    bad = "a negative time";
  else if (via == LMM_VIA_MBMS && (!deps->t8 || !deps->answers || !cfg->group->external_group_id))
    bad = "an MBMS path without a T8 client, an answer receiver or an External Group ID";
  else if (via == LMM_VIA_MULTICAST && (!deps->answers || !cfg->group->multicast_address))
    bad = "a multicast path without an answer receiver or a multicast address";
  else if (via == LMM_VIA_UNICAST && cfg->method != LMM_FWC_PUSH && !deps->blobs)
    bad = "a pull or auto method without a blob server";
  else if (cfg->method < LMM_FWC_PUSH || cfg->method > LMM_FWC_AUTO)
    bad = "an unknown unicast method";
  else if (cfg->version && !lmmi_blob_version_ok(cfg->version, strlen(cfg->version)))
    bad = "a version that is not 1..32 of letters, digits and . _ - +";
  if (bad) {
    lmmi_log(deps->ctx, LMM_LOG_ERROR, "firmware campaign: refused: %s", bad);
    return LMM_ERR_ARG;
  }
  lmm_fwc *c = calloc(1, sizeof *c);
  if (!c) return LMM_ERR_NOMEM;
  c->d = *deps, c->cfg = *cfg, c->h = h, c->user = user, c->via = via;
  c->dest.fd = -1;
  c->n = cfg->n_members;
  c->len = cfg->len;
  c->cfg.group = NULL, c->cfg.members = NULL, c->cfg.image = NULL;
  long window_s = cfg->window_s >= 0 ? cfg->window_s : (long)cfg->group->response_time_window;
  c->window_ms = window_s * 1000;
  lmm_err rc = LMM_ERR_NOMEM;
  c->group.name = dupn(cfg->group->name);
  c->group.type = cfg->group->type;
  c->group.gm_oid = cfg->group->gm_oid;
  c->group.gm_iid = cfg->group->gm_iid;
  c->group.external_group_id = dupn(cfg->group->external_group_id);
  c->group.multicast_address = dupn(cfg->group->multicast_address);
  c->group.multicast_port = cfg->group->multicast_port;
  c->group.response_time_window = window_s;
  c->group.tmgi = dupn(cfg->group->tmgi);
  c->group.tmgi_expiration = cfg->group->tmgi_expiration;
  if (cfg->group->n_schedule) {
    c->group.schedule = malloc(cfg->group->n_schedule * sizeof *c->group.schedule);
    if (!c->group.schedule) goto fail;
    memcpy(c->group.schedule, cfg->group->schedule,
           cfg->group->n_schedule * sizeof *c->group.schedule);
    c->group.n_schedule = cfg->group->n_schedule;
  }
  c->image = malloc(c->len);
  c->members = calloc(c->n, sizeof *c->members);
  c->rep = calloc(c->n, sizeof *c->rep);
  c->m = calloc(c->n, sizeof *c->m);
  c->by_ep = calloc(c->n, sizeof *c->by_ep);
  if (!c->group.name || !c->image || !c->members || !c->rep || !c->m || !c->by_ep) goto fail;
  memcpy(c->image, cfg->image, c->len);
  for (size_t i = 0; i < c->n; i++)
    if (lmm_member_copy(&c->members[i], &cfg->members[i]) != LMM_OK) goto fail;
  /* Blob description: fresh ID, SHA-256 of the image. */
  c->desc.size = c->len;
  c->desc.frag = cfg->fragment_size;
  c->desc.stride = cfg->fec_stride;
  c->desc.has_digest = true;
  if (cfg->version) snprintf(c->desc.version, sizeof c->desc.version, "%s", cfg->version);
  c->cfg.version = NULL; /* not kept: the description has it */
  if (lmmi_random(c->d.ctx, c->desc.id, sizeof c->desc.id) != LMM_OK ||
      lmmi_random(c->d.ctx, c->frag_token, sizeof c->frag_token) != LMM_OK)
    goto fail;
  mbedtls_sha256_ret(c->image, c->len, c->desc.digest, 0);
  if (via != LMM_VIA_UNICAST) {
    char why[160];
    if (lmmi_blob_desc_check(&c->desc, why, sizeof why) != LMM_OK) {
      lmmi_log(deps->ctx, LMM_LOG_ERROR, "firmware campaign: refused: %s", why);
      rc = LMM_ERR_ARG;
      goto fail;
    }
    c->k = lmmi_blob_k(&c->desc), c->q = lmmi_blob_q(&c->desc);
    if (c->q) {
      if (!(c->parity = malloc((size_t)c->q * c->desc.frag))) goto fail;
      for (uint32_t j = 0; j < c->q; j++)
        lmmi_blob_parity(&c->desc, c->image, j, c->parity + (size_t)j * c->desc.frag);
    }
  }
  c->st.k = c->k, c->st.q = c->q;
  lmmi_blob_query(&c->desc, -1, true, c->status_q, sizeof c->status_q);
  char idh[2 * LMMI_BLOB_ID_LEN + 1];
  for (int b = 0; b < LMMI_BLOB_ID_LEN; b++)
    snprintf(idh + 2 * b, 3, "%02x", c->desc.id[b]);
  snprintf(c->exec_q, sizeof c->exec_q, "b=%s", idh);
  lmm_path fw_path = {.oid = FW_OID, .iid = 0, .rid = 0, .depth = 3};
  for (size_t i = 0; i < c->n; i++) {
    c->m[i].allowed = lmm_member_allows(&c->members[i], &fw_path);
    c->rep[i].member = &c->members[i];
    c->rep[i].via = via;
    c->rep[i].state = c->rep[i].update_result = -1;
    c->by_ep[i] = (ep_ix){c->members[i].ep, i};
  }
  qsort(c->by_ep, c->n, sizeof *c->by_ep, ep_cmp);
  if (c->d.store) {
    c->info.group = dupn(c->group.name);
    c->info.via = via;
    c->info.kind = LMM_CK_FIRMWARE;
    c->info.op_kind = LMM_OPK_WRITE;
    c->info.op_path = dupn("/5/0/0");
    c->info.op_format = LMM_FMT_OPAQUE;
    c->info.window_s = window_s;
    c->info.repair = true;
    c->info.t8_status = -1;
    c->info.created_ms = lmm_ctx_wall_ms(c->d.ctx);
    rc = lmm_store_campaign_create(c->d.store, &c->info, c->members, c->n);
    if (rc != LMM_OK) goto fail;
    c->id = c->info.id;
  }
  *out = c;
  return LMM_OK;
fail:
  lmm_fwc_free(c);
  return rc;
}

LMM_API lmm_err lmm_fwc_start(lmm_fwc *c) {
  if (!c) return LMM_ERR_ARG;
  if (c->started) return LMM_ERR_STATE;
  c->started = true;
  c->t0 = now_ms(c);
  c->info.started_ms = lmm_ctx_wall_ms(c->d.ctx);
  for (size_t i = 0; i < c->n; i++)
    if (!c->m[i].allowed)
      end_member(c, i, LMM_FWC_REFUSED, LMM_ERR_ARG, "its Object ID is not 5: nothing sent");
  if (!count_pending(c)) return finish(c, LMM_FWC_P_DONE, LMM_OK, NULL), LMM_OK;
  if (c->via == LMM_VIA_UNICAST)
    uni_next(c);
  else
    config_start(c);
  return LMM_OK;
}

LMM_API void lmm_fwc_free(lmm_fwc *c) {
  if (!c) return;
  stop_all(c);
  if (c->cancel_timer) lmmi_timer_cancel(c->d.ctx, c->cancel_timer);
  lmmi_dest_close(&c->dest);
  if (c->members) lmm_members_free(c->members, c->n);
  if (c->m)
    for (size_t i = 0; i < c->n; i++)
      free(c->m[i].missing), free(c->m[i].error);
  lmm_group_info_clear(&c->group);
  lmm_campaign_info_clear(&c->info);
  free(c->m), free(c->rep), free(c->by_ep), free(c->image), free(c->parity), free(c->queue);
  free(c->tmgi), free(c->gmd_self), free(c->error);
  free(c);
}

LMM_API const lmm_fwc_member *lmm_fwc_members(const lmm_fwc *c, size_t *n) {
  *n = c->n;
  return c->rep;
}

LMM_API void lmm_fwc_get_stats(const lmm_fwc *c, lmm_fwc_stats *out) {
  *out = c->st;
  out->updated = out->failed = out->held = out->cancelled = out->refused = out->pending = 0;
  for (size_t i = 0; i < c->n; i++)
    switch (c->rep[i].end) {
    case LMM_FWC_UPDATED:
      out->updated++;
      break;
    case LMM_FWC_FAILED:
      out->failed++;
      break;
    case LMM_FWC_HELD:
      out->held++;
      break;
    case LMM_FWC_CANCELLED:
      out->cancelled++;
      break;
    case LMM_FWC_REFUSED:
      out->refused++;
      break;
    default:
      out->pending++;
      break;
    }
}

LMM_API bool lmm_fwc_t8_notified(lmm_fwc *c, const char *transaction, bool delivered) {
  if (!c || !transaction || !c->gmd_self || strcmp(transaction, c->gmd_self) != 0) return false;
  c->info.t8_status = delivered ? 1 : 0;
  return true;
}

LMM_API int64_t lmm_fwc_id(const lmm_fwc *c) {
  return c->id;
}

LMM_API const char *lmm_fwc_error(const lmm_fwc *c) {
  return c->error;
}

LMM_API lmm_err lmm_fwc_wait(lmm_fwc *c, long timeout_ms) {
  if (!c->started) return LMM_ERR_STATE;
  int64_t end = timeout_ms < 0 ? INT64_MAX : now_ms(c) + timeout_ms;
  while (!c->finished) {
    int64_t left = end - now_ms(c);
    if (left <= 0) return LMM_ERR_TIMEOUT;
    lmm_err rc = lmm_ctx_run_once(c->d.ctx, left > 100 ? 100 : (int)left);
    if (rc != LMM_OK) return rc;
  }
  return LMM_OK;
}
