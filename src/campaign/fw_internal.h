/* fw_internal.h - what the firmware campaign's files share: its state (struct lmm_fwc), the
 * steps of its flow, and the functions one file calls in another. A firmware campaign is a
 * composition of the campaign core's blocks (core.h) like an operation campaign: configure
 * the group, a channel to it, rounds of group requests and their answers, unicast passes,
 * the recorder. The files: fw_campaign.c (lifecycle, store, public calls), fw_fragments.c
 * (configuration, and the paced fragments to the group), fw_rounds.c (status rounds, answers,
 * repair plan), fw_update.c (the unicast passes, the update in waves, results, the unicast
 * path). */
#ifndef LMMI_FW_INTERNAL_H
#define LMMI_FW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/blob.h"
#include "campaign/core.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/fw_campaign.h"

enum { FW_OID = 5 };
#define POLL_INTERVAL_MS 300

/* What the single live unicast pass is doing. */
typedef enum pass_kind { B_STATUS = 0, B_FRAG, B_EXEC } pass_kind;

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
  uint32_t *need;   /* rs: fragments each of the B blocks still needs; NULL with missing */
  uint32_t n_missing;
  bool allowed, downloaded, executing, answered, in_play, wave, polled;
  bool exec_unsure; /* resumed with its update asked: its status says whether it ran */
  int64_t deadline;
  char *error;
  char *pkg_version; /* owned; the report points at it */
  char *gm_error;    /* owned; the report points at it */
} fwm;

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
  lmmw_blob_desc desc;
  uint32_t k, q;
  uint8_t *parity;   /* Q * F */
  uint32_t nb;       /* rs: blocks B; 0 for xor */
  uint32_t next_row; /* rs: the next parity row never sent (first pass: rows 0..next_row-1) */
  double loss_est;   /* rs: reception loss the status rounds show, at least cfg.fec_loss */
  lmm_fwc_member *rep;
  fwm *m;
  lmmi_member_index ix;
  lmm_fwc_stats st;
  lmm_path_kind via;
  step step;
  bool started, closing, finished, cancel_req, wave_done;
  bool resumed;        /* from the store: a status round instead of the first pass */
  uint32_t round_base; /* status rounds of the runs before a resume: max_rounds is per run */
  int final_phase;     /* set when closing: the phase on_done reports */
  lmm_err result;
  char *error;
  int64_t t0;
  long window_ms;
  char *expect_version; /* owned copy of cfg.expect_version */
  char *mcast_if;       /* owned copy of cfg.mcast_if; c->cfg.mcast_if points at it */
  /* the blocks */
  lmmi_configure conf; /* its tmgi is the campaign's */
  bool *conf_skip;     /* members it does not write (not allowed) */
  lmmi_channel ch;     /* the group's address, or the delivery's MB2-U port */
  lmmi_round round;    /* the current status or update request */
  lmmi_pass pass;      /* the current unicast pass */
  lmmi_recorder rec;
  char what[48]; /* "firmware campaign 7", for the log */
  /* group sending */
  uint32_t *queue; /* fragment indices; UINT32_MAX is the announce */
  size_t n_queue, pos;
  int64_t pace_t0;
  uint64_t pace_bytes;
  uint8_t frag_token[LMMI_TOKEN_LEN];
  size_t n_in_play, n_answered;
  /* repair: both halves must end before the next round */
  bool repair_mcast_busy, repair_uni_busy;
  /* the unicast pass's items */
  pass_kind bkind;
  item *items;
  size_t n_items;
  char status_q[LMMW_BLOB_QUERY_MAX + 1], exec_q[32];
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

static inline char *fw_dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

static inline int64_t fw_now_ms(const lmm_fwc *c) {
  return lmm_ctx_now_ms(c->d.ctx);
}

/* fw_campaign.c */
lmm_err lmmi_fwc_build(const lmm_fwc_deps *deps, const lmm_fwc_config *cfg,
                       const lmm_fwc_handlers *h, void *user, lmm_fwc **out);
void lmmi_fwc_queries(lmm_fwc *c);
lmm_err lmmi_fwc_recorder_init(lmm_fwc *c);
/** Marks that the update is asked of member i (for the store); whether it was new. */
bool lmmi_fwc_ask_update(lmm_fwc *c, size_t i);
/** Stores what lmmi_fwc_ask_update() marked, before the update goes out: false (and the
 *  campaign failed) when the store refused, and then nothing may be sent. */
bool lmmi_fwc_update_recorded(lmm_fwc *c);
void lmmi_fwc_finish(lmm_fwc *c, int phase, lmm_err rc, const char *why);
void lmmi_fwc_set_phase(lmm_fwc *c, lmm_fwc_phase phase);
/** Replaces the one timer; without memory for it the campaign fails rather than hangs. */
void lmmi_fwc_set_timer(lmm_fwc *c, int64_t due, lmmi_timer_fn fn);
/** Member i ends (once), with `why` copied. */
void lmmi_fwc_end_member(lmm_fwc *c, size_t i, int end, lmm_err err, const char *why);
size_t lmmi_fwc_count_pending(const lmm_fwc *c);
/** Saves the outcomes, then the campaign's row. False when a finished campaign's outcomes
 *  could not be stored: its row is then left at its last phase, for resume. */
bool lmmi_fwc_store_save(lmm_fwc *c);
/** The group's TMGI release (lmmi_configure_release) ended: the campaign's end follows. */
void lmmi_fwc_released(void *owner, lmm_tmgi_end end);

/* fw_resume.c */
/** The settings a resume needs, as the JSON of the campaign's fw_config; owned, NULL when out
 *  of memory. */
char *lmmi_fwc_config_json(const lmm_fwc *c, const lmm_fwc_config *cfg);

/* fw_fragments.c */
/** Encodes op as a group request with `token` and sends it to the group. */
lmm_err lmmi_fwc_send_op(lmm_fwc *c, const lmm_op *op, const uint8_t token[LMMI_TOKEN_LEN]);
const uint8_t *lmmi_fwc_frag_data(const lmm_fwc *c, uint32_t i);
/** Sends the fragments `idx` (owned; UINT32_MAX the announce) at the bearer's rate. */
void lmmi_fwc_pace_start(lmm_fwc *c, uint32_t *idx, size_t n);
/** The configuration (TMGI, Group Mgmt writes), then the first pass. */
void lmmi_fwc_config_start(lmm_fwc *c);

/* fw_fec.c */
/** Why the erasure code settings cannot be used, or NULL. */
const char *lmmi_fwc_fec_check(const lmm_fwc_config *cfg);
/** The code's part of the blob description (c->desc.size and frag set). */
void lmmi_fwc_fec_desc(lmm_fwc *c, const lmm_fwc_config *cfg);
/** K, Q, the parity of the image, and the rows of the first pass. */
lmm_err lmmi_fwc_fec_setup(lmm_fwc *c);
/** rs: member i's per-block needs from its status `s` (its missing bitmap set). */
void lmmi_fwc_fec_needs(lmm_fwc *c, size_t i, const lmmw_blob_status *s);
/** rs: a repair round of new parity rows for every block some member still needs, by
 *  unicast for the blocks the rows left cannot cover. */
void lmmi_fwc_fec_repair(lmm_fwc *c);

/* fw_rounds.c */
/** Runs a repair: `it` (owned, n_pairs) by unicast, `mq` (owned, n_mq indices) to the group. */
void lmmi_fwc_repair_run(lmm_fwc *c, item *it, size_t n_pairs, uint32_t *mq, size_t n_mq);
/** A status text from member i (see the definition). */
bool lmmi_fwc_apply_status(lmm_fwc *c, size_t i, const uint8_t *p, size_t len, bool results,
                           bool last_word);
void lmmi_fwc_close_round(lmm_fwc *c);
/** One group request (status or update) to the members in play, then the window. */
void lmmi_fwc_group_round(lmm_fwc *c, step s, const lmm_op *op);
void lmmi_fwc_status_op(const lmm_fwc *c, lmm_op *op);
void lmmi_fwc_status_round(lmm_fwc *c);
/** A pass of fragments ended (the first, or a multicast repair). */
void lmmi_fwc_queue_done(lmm_fwc *c);
void lmmi_fwc_repair_plan(lmm_fwc *c);

/* fw_update.c */
/** Starts the unicast batch over `items` (owned). LMM_ERR_NOTFOUND (items freed) for none. */
lmm_err lmmi_fwc_start_items(lmm_fwc *c, pass_kind kind, item *items, size_t n);
/** Items for the pending members that `pick` selects; NULL when out of memory. */
item *lmmi_fwc_pick_items(lmm_fwc *c, bool (*pick)(const lmm_fwc *, size_t), size_t *n);
void lmmi_fwc_drop_items(lmm_fwc *c);
/** What follows the end of the unicast batch (or of a step without one). */
void lmmi_fwc_after_batch(lmm_fwc *c, step was);
void lmmi_fwc_update_start(lmm_fwc *c);
void lmmi_fwc_poll_round(lmm_fwc *c);
/** The unicast path: a firmware job for the first wave, or for all the rest. */
void lmmi_fwc_uni_next(lmm_fwc *c);

#endif
