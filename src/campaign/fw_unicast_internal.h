/* fw_unicast_internal.h - what the files of the unicast firmware job (lmm_fw_job, firmware.h)
 * share: its state, and the calls one file makes into another. fw_unicast.c is the job's life
 * and public calls; fw_unicast_rounds.c drives the batches and the polling rounds and records
 * each member's outcome; fw_unicast_answers.c judges what each member answers. */
#ifndef LMMI_FW_UNICAST_INTERNAL_H
#define LMMI_FW_UNICAST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
enum { ST_IDLE = 0, ST_DOWNLOADED = 2, ST_UPDATING = 3 };

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
  M_CHECK,    /* resumed: in the State read that says what it holds, before anything is sent */
  M_FINAL
} mstate;

/* One batch per kind of request; the rounds start the three polling kinds together. */
enum { K_WRITE = 0, K_URI, K_METHOD, K_STATE, K_RESULT, K_EXEC, K_VERSION, K_CHECK, K_COUNT };

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
  bool resumed;      /* lmm_fw_resume_member(): its State is read before anything is sent */
  bool unsure;       /* resumed with its update asked: its State says whether it ran */
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
  lmmi_timer *timer;      /* the start, then the next polling round */
  lmmi_timer *send_timer; /* the writes (or the Delivery Method read) after a read before them */
  int round_pending;      /* polling batches of the current round still running */
  size_t n_final;
  bool started, finished;
  lmm_err result;
};

static inline int64_t lmmi_fwj_now(const lmm_fw_job *j) {
  return lmm_ctx_now_ms(j->ctx);
}

/* fw_unicast_rounds.c */
/** Records member i's outcome (once) and reports it. */
void lmmi_fwj_finalize(lmm_fw_job *j, size_t i, lmm_err err, bool ok, const char *error);
/** on_done once every member has its outcome and nothing is in flight. Callers return at once
 *  afterwards: the handler may free the job. */
void lmmi_fwj_check_done(lmm_fw_job *j);
void lmmi_fwj_drop_batch(fw_batch *fb);
/** The job cannot go on: every member still running fails with `rc`. Only from a timer
 *  callback (never inside a batch's own callback, as it frees the batches). */
void lmmi_fwj_abort(lmm_fw_job *j, lmm_err rc, const char *why);
/** Arms the next polling round unless one runs or is armed already (its end re-arms). */
void lmmi_fwj_arm_round(lmm_fw_job *j, int64_t due);
/** Starts a batch of `kind` over the members in state `want` or `want2`. LMM_ERR_NOTFOUND when
 *  none. */
lmm_err lmmi_fwj_start_kind(lmm_fw_job *j, int kind, mstate want, mstate want2);
/** Both writes at once: the members that push and the members that pull. From a timer only. */
void lmmi_fwj_start_writes(lmm_fw_job *j);
/** The members due to be sent the package (M_METHOD, M_WRITE, M_URI) go out from the loop,
 *  from a timer of their own (allowed inside a batch's callback). */
void lmmi_fwj_sends_due(lmm_fw_job *j);

/* fw_unicast_answers.c */
/** A member's answer in one of the job's batches (`user` is its fw_batch). */
void lmmi_fwj_batch_member(void *user, const lmm_member_result *r);

#endif
