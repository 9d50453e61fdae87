/* fw_unicast.c - firmware to a group over unicast (Grp-Fw-02): Package write with Block1 (push)
 * or Package URI write (pull: the member downloads from the adapter's blob server or another
 * URI), then polling rounds (one batch per round and kind, not one timer per member) that
 * follow each member through Downloaded, Update (Execute) and its Update Result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/firmware.h"

enum {
  FW_OID = 5,
  RID_PACKAGE = 0,
  RID_URI = 1,
  RID_UPDATE = 2,
  RID_STATE = 3,
  RID_RESULT = 5,
  RID_PKG_VERSION = 7,
  RID_DELIVERY = 9
};
enum { DM_PULL = 0, DM_PUSH = 1 }; /* Delivery Method values; 2 is both */
#define MAX_URI 255                /* /5/0/1 is a String of at most 255 bytes */
enum { ST_IDLE = 0, ST_DOWNLOADED = 2 };

/* Where a member is in the flow; a member is in at most one batch at a time. */
typedef enum mstate {
  M_WRITE,    /* in the Package write batch (push) */
  M_URI,      /* in the Package URI write batch (pull) */
  M_METHOD,   /* in the Delivery Method read (auto), before either write */
  M_WAIT_DL,  /* written, polling State until Downloaded */
  M_EXEC,     /* Downloaded: Execute due in the next round */
  M_WAIT_UPD, /* Execute accepted, polling State until Idle */
  M_RESULT,   /* Idle seen: Update Result due in the next round */
  M_VERSION,  /* Update Result read: PkgVersion due in the next round, then the verdict */
  M_FINAL
} mstate;

/* One batch per kind of request; the rounds start the three polling kinds together. */
enum { K_WRITE = 0, K_URI, K_METHOD, K_STATE, K_RESULT, K_EXEC, K_VERSION, K_COUNT };

typedef struct fw_batch {
  lmm_fw_job *j;
  int kind;
  lmm_batch *b;
  lmm_member *sub; /* shallow copies of the job's members: the batch borrows them */
  size_t *map;     /* batch index -> member index */
} fw_batch;

typedef struct fw_member {
  mstate st;
  int64_t t0;        /* its first send (monotonic ms) */
  int64_t deadline;  /* of the current wait */
  char *error;       /* owned; the report points at it */
  char *pkg_version; /* owned; the report points at it */
  int result;        /* the Update Result M_VERSION judges */
  bool version_read; /* PkgVersion read since the Execute */
} fw_member;

struct lmm_fw_job {
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_fw_config cfg;
  const lmm_fw_handlers *h;
  void *user;
  lmm_member *members;
  size_t n;
  uint8_t *image; /* freed once the write batch holds its own copy, unless the server serves it */
  size_t len;
  const char *uri;    /* written to /5/0/1: the blob's (server's storage) or uri_owned */
  char *uri_owned;    /* copy of cfg.pull_uri */
  char *expect_owned; /* copy of cfg.expect_version */
  lmm_blob_id blob;   /* registered on cfg.server; 0 none */
  lmm_fw_report *rep;
  fw_member *m;
  fw_batch bt[K_COUNT];
  lmmi_timer *timer; /* the start, then the next polling round */
  int round_pending; /* polling batches of the current round still running */
  size_t n_final;
  bool started, finished;
  lmm_err result;
};

static const char *const step_name[K_COUNT] = {"write /5/0/0", "write /5/0/1", "read /5/0/9",
                                               "read /5/0/3",  "read /5/0/5",  "execute /5/0/2",
                                               "read /5/0/7"};

static int64_t now_ms(const lmm_fw_job *j) {
  return lmm_ctx_now_ms(j->ctx);
}

LMM_API const char *lmm_fw_update_result_text(int result) {
  switch (result) {
  case 0:
    return "initial value";
  case 1:
    return "firmware updated successfully";
  case 2:
    return "not enough flash memory for the new firmware package";
  case 3:
    return "out of RAM during the download";
  case 4:
    return "connection lost during the download";
  case 5:
    return "integrity check failure for the new firmware package";
  case 6:
    return "unsupported package type";
  case 7:
    return "invalid URI";
  case 8:
    return "firmware update failed";
  case 9:
    return "unsupported protocol";
  default:
    return "unknown update result";
  }
}

/* ------------------------------------------------------------------ outcomes */

static void set_error(lmm_fw_job *j, size_t i, const char *text) {
  free(j->m[i].error);
  j->m[i].error = text ? strdup(text) : NULL;
  /* Without memory for the text, the report still says that it failed. */
  j->rep[i].error = j->m[i].error ? j->m[i].error : (text ? lmm_strerror(LMM_ERR_NOMEM) : NULL);
}

/* Records member i's outcome (once) and reports it. */
static void finalize(lmm_fw_job *j, size_t i, lmm_err err, bool ok, const char *error) {
  fw_member *m = &j->m[i];
  lmm_fw_report *r = &j->rep[i];
  if (m->st == M_FINAL) return;
  m->st = M_FINAL;
  j->n_final++;
  r->final = true, r->ok = ok, r->err = err;
  if (r->stage != LMM_FW_STAGE_NONE) r->elapsed_ms = now_ms(j) - m->t0;
  set_error(j, i, ok ? NULL : error);
  if (!ok)
    lmmi_log(j->ctx, LMM_LOG_DEBUG, "firmware: %s failed at stage %d: %s", j->members[i].ep,
             (int)r->stage, r->error);
  if (j->h && j->h->on_member) j->h->on_member(j->user, r);
}

static bool batch_running(const lmm_fw_job *j) {
  for (int k = 0; k < K_COUNT; k++)
    if (j->bt[k].b) return true;
  return false;
}

/* on_done once every member has its outcome and nothing is in flight. Callers return at once
 * afterwards: the handler may free the job. */
static void check_done(lmm_fw_job *j) {
  if (j->finished || j->n_final < j->n || batch_running(j) || j->round_pending) return;
  j->finished = true;
  if (j->timer) lmmi_timer_cancel(j->ctx, j->timer), j->timer = NULL;
  size_t ok = 0;
  for (size_t i = 0; i < j->n; i++)
    ok += j->rep[i].ok;
  lmmi_log(j->ctx, LMM_LOG_INFO, "firmware: %zu of %zu members updated", ok, j->n);
  if (j->h && j->h->on_done) j->h->on_done(j->user, j, j->result);
}

static void drop_batch(fw_batch *fb) {
  if (fb->b) lmm_batch_free(fb->b);
  fb->b = NULL;
  free(fb->sub), fb->sub = NULL;
  free(fb->map), fb->map = NULL;
}

/* The job cannot go on: every member still running fails with `rc`. Only from a timer
 * callback (never inside a batch's own callback, as it frees the batches). */
static void abort_job(lmm_fw_job *j, lmm_err rc, const char *why) {
  for (int k = 0; k < K_COUNT; k++)
    drop_batch(&j->bt[k]);
  j->round_pending = 0;
  if (j->timer) lmmi_timer_cancel(j->ctx, j->timer), j->timer = NULL;
  j->result = rc;
  lmmi_log(j->ctx, LMM_LOG_ERROR, "firmware: %s: %s", why, lmm_strerror(rc));
  for (size_t i = 0; i < j->n; i++)
    finalize(j, i, rc, false, why);
  check_done(j);
}

/* --------------------------------------------------------------- the rounds */

static void round_fire(void *arg);

/* Arms the next polling round unless one runs or is armed already (its end re-arms). */
static void arm_round(lmm_fw_job *j, int64_t due) {
  if (j->round_pending || j->timer || j->finished) return;
  j->timer = lmmi_timer_add(j->ctx, due, round_fire, j);
  /* Without a timer nothing would drive the polling: fail now rather than hang. */
  if (!j->timer) {
    j->result = LMM_ERR_NOMEM;
    for (size_t i = 0; i < j->n; i++)
      if (j->m[i].st != M_FINAL && j->m[i].st != M_WRITE)
        finalize(j, i, LMM_ERR_NOMEM, false, "cannot arm the polling round");
  }
}

static void after_round(lmm_fw_job *j) {
  bool now = false, poll = false;
  for (size_t i = 0; i < j->n; i++) {
    mstate s = j->m[i].st;
    now |= s == M_EXEC || s == M_RESULT || s == M_VERSION;
    poll |= s == M_WAIT_DL || s == M_WAIT_UPD;
  }
  if (now || poll) arm_round(j, now ? now_ms(j) : now_ms(j) + j->cfg.poll_interval_ms);
}

static void batch_member(void *user, const lmm_member_result *r);
static void batch_done(void *user, lmm_batch *b);
static const lmm_batch_handlers fw_handlers = {NULL, batch_member, NULL, batch_done};

/* Starts a batch of `kind` over the members in state `want`. LMM_ERR_NOTFOUND when none. */
static lmm_err start_kind(lmm_fw_job *j, int kind, mstate want, mstate want2) {
  fw_batch *fb = &j->bt[kind];
  size_t k = 0;
  for (size_t i = 0; i < j->n; i++)
    k += j->m[i].st == want || j->m[i].st == want2;
  if (!k) return LMM_ERR_NOTFOUND;
  fb->j = j, fb->kind = kind;
  fb->sub = calloc(k, sizeof *fb->sub);
  fb->map = calloc(k, sizeof *fb->map);
  if (!fb->sub || !fb->map) {
    drop_batch(fb);
    return LMM_ERR_NOMEM;
  }
  k = 0;
  for (size_t i = 0; i < j->n; i++)
    if (j->m[i].st == want || j->m[i].st == want2) fb->sub[k] = j->members[i], fb->map[k++] = i;
  static const uint16_t rid[K_COUNT] = {RID_PACKAGE, RID_URI,    RID_DELIVERY,   RID_STATE,
                                        RID_RESULT,  RID_UPDATE, RID_PKG_VERSION};
  lmm_op op = LMM_OP_INIT;
  op.kind = kind == K_WRITE || kind == K_URI ? LMM_OPK_WRITE
            : kind == K_EXEC                 ? LMM_OPK_EXECUTE
                                             : LMM_OPK_READ;
  op.path = (lmm_path){.oid = FW_OID, .iid = 0, .rid = rid[kind], .depth = 3};
  if (kind == K_WRITE) op.format = LMM_FMT_OPAQUE, op.payload = j->image, op.len = j->len;
  /* Plain text: the one format every LwM2M version accepts for a single String resource. */
  if (kind == K_URI)
    op.format = LMM_FMT_TEXT, op.payload = (const uint8_t *)j->uri, op.len = strlen(j->uri);
  lmm_err rc = lmm_batch_start(j->u, fb->sub, k, &op, 0xFFFF, &fw_handlers, fb, &fb->b);
  if (rc != LMM_OK) drop_batch(fb);
  return rc;
}

static void round_fire(void *arg) {
  lmm_fw_job *j = arg;
  j->timer = NULL;
  int64_t now = now_ms(j);
  for (size_t i = 0; i < j->n; i++) {
    fw_member *m = &j->m[i];
    if ((m->st == M_WAIT_DL || m->st == M_WAIT_UPD || m->st == M_RESULT) && now > m->deadline) {
      const lmm_fw_report *r = &j->rep[i];
      bool dl = m->st == M_WAIT_DL || r->stage == LMM_FW_STAGE_WRITE;
      /* What the member last showed says why: still Downloading, or back at Idle with a
       * result it never set (many clients do not report success), and which package runs. */
      char seen[160], text[256];
      int o = snprintf(seen, sizeof seen, "last seen: State %d, Update Result %d", r->state,
                       r->update_result);
      if (!dl && o > 0 && (size_t)o < sizeof seen)
        snprintf(seen + o, sizeof seen - (size_t)o, ", PkgVersion %s",
                 r->pkg_version ? r->pkg_version : "not read");
      snprintf(text, sizeof text, "%s within %ld ms%s (%s)",
               dl ? "not Downloaded" : "no Update Result 1",
               dl ? j->cfg.download_deadline_ms : j->cfg.update_deadline_ms,
               dl ? "" : " after the Execute", seen);
      finalize(j, i, LMM_ERR_TIMEOUT, false, text);
    }
  }
  static const struct {
    int kind;
    mstate a, b;
  } plan[] = {{K_STATE, M_WAIT_DL, M_WAIT_UPD},
              {K_RESULT, M_RESULT, M_RESULT},
              {K_EXEC, M_EXEC, M_EXEC},
              {K_VERSION, M_VERSION, M_VERSION}};
  for (size_t p = 0; p < sizeof plan / sizeof plan[0]; p++) {
    lmm_err rc = start_kind(j, plan[p].kind, plan[p].a, plan[p].b);
    if (rc == LMM_OK)
      j->round_pending++;
    else if (rc != LMM_ERR_NOTFOUND)
      return abort_job(j, rc, "cannot start a polling batch");
  }
  check_done(j);
}

/* --------------------------------------------------------- batch callbacks */

/* The integer of a single-resource answer (State, Update Result), -1 when unreadable. */
static long read_int(const lmm_member_result *r, uint16_t rid) {
  lmm_path p = {.oid = FW_OID, .iid = 0, .rid = rid, .depth = 3};
  lmm_records recs = {0};
  uint16_t fmt = r->content_format >= 0 ? (uint16_t)r->content_format : LMM_FMT_TEXT;
  long v = -1;
  if (lmm_lwm2m_decode(fmt, &p, r->payload, r->payload_len, lmm_obj_def_oma(FW_OID), &recs, NULL,
                       0) == LMM_OK &&
      recs.n == 1) {
    const lmm_value *val = &recs.items[0].value;
    if (val->type == LMM_RT_INTEGER && val->v.i >= 0 && val->v.i <= 255) v = (long)val->v.i;
    if (val->type == LMM_RT_UNSIGNED && val->v.u <= 255) v = (long)val->v.u;
  }
  lmm_records_clear(&recs);
  return v;
}

/* The text of a single String resource answer, owned; NULL when there is none. */
static char *read_str(const lmm_member_result *r, uint16_t rid) {
  lmm_path p = {.oid = FW_OID, .iid = 0, .rid = rid, .depth = 3};
  lmm_records recs = {0};
  uint16_t fmt = r->content_format >= 0 ? (uint16_t)r->content_format : LMM_FMT_TEXT;
  char *s = NULL;
  if (r->err == LMM_OK && r->coap_code == 0x45 &&
      lmm_lwm2m_decode(fmt, &p, r->payload, r->payload_len, lmm_obj_def_oma(FW_OID), &recs, NULL,
                       0) == LMM_OK &&
      recs.n == 1 && recs.items[0].value.type == LMM_RT_STRING && recs.items[0].value.str)
    s = strdup(recs.items[0].value.str);
  lmm_records_clear(&recs);
  return s;
}

/* The verdict once Update Result and PkgVersion have been read after the Execute. */
static void judge(lmm_fw_job *j, size_t i) {
  fw_member *m = &j->m[i];
  lmm_fw_report *rep = &j->rep[i];
  int v = m->result;
  char text[256];
  m->version_read = true;
  if (v == 0) {
    if (j->expect_owned && m->pkg_version && !strcmp(m->pkg_version, j->expect_owned)) {
      rep->stage = LMM_FW_STAGE_DONE;
      return finalize(j, i, LMM_OK, true, NULL);
    }
    m->st = M_WAIT_UPD; /* Idle without a result yet: keep waiting, until the deadline */
    return;
  }
  rep->stage = LMM_FW_STAGE_DONE;
  snprintf(text, sizeof text, "update result %d: %s (PkgVersion %s)", v,
           lmm_fw_update_result_text(v), m->pkg_version ? m->pkg_version : "not read");
  finalize(j, i, LMM_OK, v == 1, text);
}

static void step_failed(lmm_fw_job *j, size_t i, int kind, const lmm_member_result *r) {
  char text[200], code[16];
  snprintf(code, sizeof code, "%u.%02u", r->coap_code >> 5, r->coap_code & 31);
  const char *why = r->error ? r->error : r->err != LMM_OK ? lmm_strerror(r->err) : code;
  snprintf(text, sizeof text, "%s: %s", step_name[kind], why);
  j->rep[i].coap_code = r->coap_code;
  finalize(j, i, r->err != LMM_OK ? r->err : LMM_ERR_COAP, false, text);
}

static void batch_member(void *user, const lmm_member_result *r) {
  fw_batch *fb = user;
  lmm_fw_job *j = fb->j;
  size_t i = fb->map[r->index];
  fw_member *m = &j->m[i];
  lmm_fw_report *rep = &j->rep[i];
  int64_t now = now_ms(j);
  if (m->st == M_FINAL) return; /* a deadline got there first */
  rep->attempts += r->attempts;
  bool first = fb->kind == K_METHOD ||
               ((fb->kind == K_WRITE || fb->kind == K_URI) && j->cfg.delivery != LMM_FW_AUTO);
  if (first) m->t0 = now - (r->latency_ms > 0 ? r->latency_ms : 0);
  rep->elapsed_ms = now - m->t0;
  if (fb->kind == K_METHOD && r->err == LMM_OK) {
    /* An error code or an odd value is no reason to give up on a member that answers: it gets
     * the preferred method, and the write tells whether that works. */
    long dm = r->coap_code == 0x45 ? read_int(r, RID_DELIVERY) : -1;
    bool pull = dm == DM_PULL || (dm != DM_PUSH && !j->cfg.prefer_push);
    m->st = pull ? M_URI : M_WRITE;
    rep->pulled = pull;
    return;
  }
  if (fb->kind == K_VERSION) {
    /* PkgVersion is optional (4.04 from a client without it): its absence fails nobody. */
    free(m->pkg_version);
    m->pkg_version = read_str(r, RID_PKG_VERSION);
    rep->pkg_version = m->pkg_version;
    return judge(j, i);
  }
  bool answered = r->err == LMM_OK && r->coap_code >> 5 == 2;
  if ((fb->kind == K_WRITE || fb->kind == K_URI) && r->err == LMM_OK && r->coap_code != 0x44)
    answered = false;
  if (!answered) return step_failed(j, i, fb->kind, r);
  char text[160];
  long v = 0;
  if (fb->kind == K_STATE || fb->kind == K_RESULT) {
    v = read_int(r, fb->kind == K_STATE ? RID_STATE : RID_RESULT);
    if (v < 0) {
      snprintf(text, sizeof text, "%s: not an integer", step_name[fb->kind]);
      return finalize(j, i, LMM_ERR_PROTO, false, text);
    }
  }
  switch (fb->kind) {
  case K_WRITE:
  case K_URI:
    if (fb->kind == K_WRITE) rep->bytes_written = j->len;
    m->st = M_WAIT_DL, m->deadline = now + j->cfg.download_deadline_ms;
    arm_round(j, now + j->cfg.poll_interval_ms);
    break;
  case K_STATE:
    rep->state = (int)v;
    if (m->st == M_WAIT_DL && v == ST_DOWNLOADED) {
      m->st = M_EXEC, rep->stage = LMM_FW_STAGE_DOWNLOADED;
      if (rep->pulled && j->blob) rep->bytes_written = j->len;
    } else if (v == ST_IDLE)
      m->st = M_RESULT; /* after the write: it gave up (the result says why) */
    break;
  case K_EXEC:
    rep->stage = LMM_FW_STAGE_UPDATING;
    m->st = M_WAIT_UPD, m->deadline = now + j->cfg.update_deadline_ms;
    break;
  case K_RESULT:
    rep->update_result = (int)v;
    /* A member told a URI may stay Idle a while before it starts (a device queues its
     * downloads): only a result, or the deadline, ends the wait. */
    if (rep->stage == LMM_FW_STAGE_WRITE && rep->pulled && v == 0) {
      m->st = M_WAIT_DL;
      break;
    }
    if (rep->stage == LMM_FW_STAGE_WRITE) {
      snprintf(text, sizeof text, "back to Idle after the write: %s",
               v > 1 ? lmm_fw_update_result_text((int)v) : "no download");
      return finalize(j, i, v > 1 ? LMM_OK : LMM_ERR_STATE, false, text);
    }
    /* Back at Idle after the Execute: PkgVersion tells which package runs now, and judges a
     * member that leaves Update Result at 0 (read once; a later 0 just keeps waiting). */
    m->result = (int)v;
    if (v == 0 && m->version_read) {
      m->st = M_WAIT_UPD;
      break;
    }
    m->st = M_VERSION;
    break;
  default:
    break;
  }
}

static void writes_fire(void *arg);

static void batch_done(void *user, lmm_batch *b) {
  fw_batch *fb = user;
  lmm_fw_job *j = fb->j;
  (void)b;
  drop_batch(fb); /* the engine allows freeing a batch from its own on_done */
  bool polling =
      fb->kind == K_STATE || fb->kind == K_RESULT || fb->kind == K_EXEC || fb->kind == K_VERSION;
  if (polling && --j->round_pending == 0) after_round(j);
  /* The writes start from the loop, not from here: a failure to start them aborts the job,
   * which frees batches, and that is not allowed inside a batch's callback. */
  if (fb->kind == K_METHOD && !(j->timer = lmmi_timer_add(j->ctx, now_ms(j), writes_fire, j))) {
    j->result = LMM_ERR_NOMEM;
    for (size_t i = 0; i < j->n; i++)
      if (j->m[i].st == M_WRITE || j->m[i].st == M_URI)
        finalize(j, i, LMM_ERR_NOMEM, false, "cannot start the writes");
  }
  check_done(j);
}

/* ------------------------------------------------------------------ the job */

/* Both writes at once: the members that push and the members that pull. From a timer only. */
static void start_writes(lmm_fw_job *j) {
  lmm_err rc = start_kind(j, K_WRITE, M_WRITE, M_WRITE);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return abort_job(j, rc, "cannot start the Package write");
  rc = start_kind(j, K_URI, M_URI, M_URI);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return abort_job(j, rc, "cannot start the Package URI write");
  /* The push batch has its own copy; the blob server reads the job's until lmm_fw_free(). */
  if (!j->blob) free(j->image), j->image = NULL;
  check_done(j);
}

static void writes_fire(void *arg) {
  lmm_fw_job *j = arg;
  j->timer = NULL;
  start_writes(j);
}

/* First turn of the loop: refusals are reported, then the Delivery Method read (auto) or the
 * writes go out. */
static void kick(void *arg) {
  lmm_fw_job *j = arg;
  j->timer = NULL;
  lmm_path pkg = {.oid = FW_OID, .iid = 0, .rid = RID_PACKAGE, .depth = 3};
  mstate first = j->cfg.delivery == LMM_FW_AUTO   ? M_METHOD
                 : j->cfg.delivery == LMM_FW_PULL ? M_URI
                                                  : M_WRITE;
  for (size_t i = 0; i < j->n; i++) {
    if (!lmm_member_allows(&j->members[i], &pkg)) {
      char text[96];
      snprintf(text, sizeof text, "refused: member of object %u, not the Firmware Update (5)",
               j->members[i].oid);
      j->rep[i].stage = LMM_FW_STAGE_NONE;
      finalize(j, i, LMM_ERR_ARG, false, text);
      continue;
    }
    j->m[i].st = first;
    j->rep[i].pulled = first == M_URI;
  }
  if (first != M_METHOD) return start_writes(j);
  lmm_err rc = start_kind(j, K_METHOD, M_METHOD, M_METHOD);
  if (rc != LMM_OK && rc != LMM_ERR_NOTFOUND)
    return abort_job(j, rc, "cannot start the Delivery Method read");
  check_done(j);
}

LMM_API lmm_err lmm_fw_new(lmm_ctx *ctx, lmm_unicast *u, const lmm_fw_config *cfg,
                           const lmm_member *members, size_t n, const uint8_t *image, size_t len,
                           const lmm_fw_handlers *h, void *user, lmm_fw_job **out) {
  lmm_fw_config dflt = LMM_FW_CONFIG_DEFAULT;
  if (!cfg) cfg = &dflt;
  int dlv = (int)cfg->delivery;
  bool pull = dlv == LMM_FW_PULL || dlv == LMM_FW_AUTO;
  /* Pulling from someone else's URI is the one case where the job never needs the bytes. */
  bool need_image = !(dlv == LMM_FW_PULL && cfg->pull_uri);
  if (!ctx || !u || (n && !members) || (need_image && (!image || !len)) || !out ||
      cfg->poll_interval_ms < 0 || cfg->download_deadline_ms < 0 || cfg->update_deadline_ms < 0 ||
      dlv < LMM_FW_PUSH || dlv > LMM_FW_AUTO || (pull && !cfg->server == !cfg->pull_uri) ||
      (pull && cfg->pull_uri && (!*cfg->pull_uri || strlen(cfg->pull_uri) > MAX_URI)))
    return LMM_ERR_ARG;
  lmm_fw_job *j = calloc(1, sizeof *j);
  if (!j) return LMM_ERR_NOMEM;
  j->ctx = ctx, j->u = u, j->cfg = *cfg, j->h = h, j->user = user, j->n = n;
  j->len = need_image ? len : 0;
  j->cfg.pull_uri = NULL; /* the caller's string: only the copy is kept */
  if (!pull) j->cfg.server = NULL;
  j->members = calloc(n ? n : 1, sizeof *j->members);
  j->rep = calloc(n ? n : 1, sizeof *j->rep);
  j->m = calloc(n ? n : 1, sizeof *j->m);
  lmm_err rc = j->members && j->rep && j->m ? LMM_OK : LMM_ERR_NOMEM;
  if (rc == LMM_OK && need_image) {
    if ((j->image = malloc(len)))
      memcpy(j->image, image, len);
    else
      rc = LMM_ERR_NOMEM;
  }
  if (rc == LMM_OK && pull && cfg->pull_uri && !(j->uri = j->uri_owned = strdup(cfg->pull_uri)))
    rc = LMM_ERR_NOMEM;
  j->cfg.expect_version = NULL; /* likewise */
  if (rc == LMM_OK && cfg->expect_version && !(j->expect_owned = strdup(cfg->expect_version)))
    rc = LMM_ERR_NOMEM;
  /* Registered now rather than at start, so that the server's refusal reaches the caller. */
  if (rc == LMM_OK && pull && cfg->server)
    rc = lmm_blob_server_add(cfg->server, j->image, len, LMM_BLOB_BORROW, &j->blob, &j->uri);
  if (rc == LMM_OK && j->uri && strlen(j->uri) > MAX_URI) rc = LMM_ERR_ARG;
  for (size_t i = 0; rc == LMM_OK && i < n; i++) {
    rc = lmm_member_copy(&j->members[i], &members[i]);
    j->rep[i] =
        (lmm_fw_report){.index = i, .member = &j->members[i], .update_result = -1, .state = -1};
    j->rep[i].stage = LMM_FW_STAGE_WRITE;
  }
  if (rc != LMM_OK) {
    lmm_fw_free(j); /* members not yet copied are zeroed: freeing all n is safe */
    return rc;
  }
  *out = j;
  return LMM_OK;
}

LMM_API lmm_err lmm_fw_start(lmm_fw_job *j) {
  if (!j) return LMM_ERR_ARG;
  if (j->started) return LMM_ERR_STATE;
  int64_t now = now_ms(j);
  for (size_t i = 0; i < j->n; i++)
    j->m[i].t0 = now;
  /* Refusals go out from the loop too: no callback ever runs inside lmm_fw_start(). */
  if (!(j->timer = lmmi_timer_add(j->ctx, now, kick, j))) return LMM_ERR_NOMEM;
  j->started = true;
  return LMM_OK;
}

LMM_API void lmm_fw_free(lmm_fw_job *j) {
  if (!j) return;
  if (j->timer) lmmi_timer_cancel(j->ctx, j->timer);
  for (int k = 0; k < K_COUNT; k++)
    drop_batch(&j->bt[k]);
  if (j->blob) lmm_blob_server_remove(j->cfg.server, j->blob);
  for (size_t i = 0; j->m && i < j->n; i++)
    free(j->m[i].error), free(j->m[i].pkg_version);
  if (j->members) lmm_members_free(j->members, j->n);
  free(j->rep), free(j->m), free(j->image), free(j->uri_owned), free(j->expect_owned), free(j);
}

LMM_API bool lmm_fw_done(const lmm_fw_job *j) {
  return j && j->finished;
}

LMM_API const lmm_fw_report *lmm_fw_reports(const lmm_fw_job *j, size_t *n) {
  if (n) *n = j ? j->n : 0;
  return j ? j->rep : NULL;
}

LMM_API lmm_err lmm_fw_wait(lmm_fw_job *j, long timeout_ms) {
  if (!j || !j->started) return LMM_ERR_STATE;
  int64_t end = timeout_ms < 0 ? -1 : now_ms(j) + timeout_ms;
  while (!j->finished) {
    if (end >= 0 && now_ms(j) >= end) return LMM_ERR_TIMEOUT;
    lmm_err rc = lmm_ctx_run_once(j->ctx, 200);
    if (rc != LMM_OK) return rc;
  }
  return LMM_OK;
}
