/* mock.h - what the t8-mock modules share: configuration, state, and the calls between them. */
#ifndef T8MOCK_MOCK_H
#define T8MOCK_MOCK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "lwm2m_mbms/t8.h"

/* Caps that keep a misbehaving client from exhausting the mock (documented in docs/t8-mock.md). */
#define MOCK_MAX_TMGIS          65536u /* live TMGIs, all scsAsIds together */
#define MOCK_MAX_GMDS           4096u  /* deliveries per TMGI */
#define MOCK_NOTIFY_CONNECT_MS  2000L
#define MOCK_NOTIFY_TIMEOUT_MS  5000L
#define MOCK_NOTIFY_MAX_WAIT_MS 60000L /* cap of one retry wait, Retry-After included */
#define MOCK_NOTIFY_MAX_RETRIES 10
/* --create-reply-delay-ms: how long a held 201 waits at most for its delivery's notification. */
#define MOCK_REPLY_WAIT_MAX_MS 30000L

/* ------------------------------------------------------------------ configuration */

typedef struct mock_cfg {
  struct sockaddr_storage listen_sa; /* --listen */
  socklen_t listen_len;
  char listen_host[64]; /* numeric host as given, without brackets */
  const char *ready_file;
  const char *api_root_arg; /* --api-root, or NULL for http://ADDR:PORT */
  const char *token;
  const char *token_file;
  const char **scs_as_ids; /* --scs-as-id (borrowed from argv); none: any */
  size_t n_scs_as_ids;
  int64_t tmgi_lifetime_s;
  char mcc[4];
  char mnc[4];
  struct in_addr bearer_if;
  char bearer_if_text[INET_ADDRSTRLEN];
  uint16_t bearer_port;
  struct sockaddr_storage up_sa; /* --user-plane-addr, port 0 */
  socklen_t up_len;
  char up_addr[64];
  size_t max_body;
  const char *tls_cert; /* --tls-cert: PEM file; NULL = plain HTTP */
  const char *tls_key;  /* --tls-key */
  size_t max_datagram;
  double loss;
  double fail_rate;
  uint64_t fail_first;
  int fail_status;
  long retry_after;
  long latency_ms;
  double notify_loss;
  int notify_retries;         /* --notify-retries: extra attempts after a failed one */
  long notify_backoff_ms;     /* --notify-backoff-ms: wait before the first retry, then doubled */
  long create_reply_delay_ms; /* --create-reply-delay-ms: 0 = off */
  uint64_t seed;
  bool seed_set;
  const char *log_file;
  const char *state_file; /* --state-file: the TMGIs kept across restarts, or NULL */
  bool verbose;
} mock_cfg;

/* ------------------------------------------------------------------ state */

typedef enum mock_play {
  PLAY_NONE,    /* no payload to play */
  PLAY_PENDING, /* payload waits for its start time (and for its TestNotification) */
  PLAY_DONE     /* payload sent on the bearer (or dropped by --loss) */
} mock_play;

typedef struct mock_gmd {
  struct mock_gmd *next;
  uint64_t id;  /* unique in the process; names the delivery in queued work */
  char txn[20]; /* transactionId: 16 lowercase hex digits */
  lmm_gmd g;    /* the representation served (self, members, scefMessageDelivery*) */
  mock_play play;
  int64_t play_ms;   /* wall-clock ms of the next play when PLAY_PENDING */
  bool test_pending; /* its TestNotification is queued: the play waits for it */
  int up_fd;         /* MB2-U socket, -1 when none */
  uint16_t up_port;
  bool up_forwarded;    /* a user-plane datagram was forwarded (the notification is sent once) */
  uint32_t up_overflow; /* datagrams the kernel dropped on up_fd (SO_RXQ_OVFL), as last logged */
  bool notified;        /* a GMDByMb2Notification of it is done: sent, failed for good, or lost */
} mock_gmd;

typedef struct mock_tmgi {
  struct mock_tmgi *next;
  char tmgi[16];
  uint32_t service_id;
  char *scs_as_id;
  lmm_tmgi_allocation a; /* the representation served (self, members, tmgiExpiration) */
  int64_t expires_ms;    /* == a.tmgi_expiration * 1000: it expires at the reported instant */
  mock_gmd *gmds;
  size_t n_gmds;
} mock_tmgi;

/* A notification waiting for the sender thread. */
typedef struct mock_note {
  struct mock_note *next;
  uint64_t gate; /* id of a delivery whose 201 is not yet sent: hold until then; 0 = go */
  uint64_t gmd_id;
  bool test;      /* TestNotification, else GMDByMb2Notification */
  bool delivered; /* deliveryTriggerStatus */
  char *url;
  char *body;
  char *transaction;  /* the delivery's self link */
  int attempts;       /* POSTs made so far */
  int64_t not_before; /* wall-clock ms before which a retry is not sent; 0 = at once */
} mock_note;

typedef struct mock_log {
  pthread_mutex_t mu;
  FILE *f;
  bool verbose;
} mock_log;

typedef struct mock {
  mock_cfg cfg;
  mock_log log;
  char *tls_cert_pem; /* --tls-cert's contents: MHD takes PEM in memory */
  char *tls_key_pem;
  char *api_root;  /* without trailing '/' */
  char *base_url;  /* api_root + LMM_T8_BASE_PATH */
  char *base_path; /* the path part of base_url: what the HTTP server serves */
  uint16_t port;   /* bound HTTP port */

  pthread_mutex_t mu; /* guards everything below, except the atomics */
  pthread_cond_t sched_cv;
  pthread_cond_t send_cv;
  pthread_cond_t stop_cv;
  pthread_cond_t notified_cv; /* a delivery's notification is done (held 201s wait for it) */
  atomic_bool stopping;
  mock_tmgi *tmgis;
  size_t n_tmgis;
  uint32_t next_service_id;
  bool restoring; /* --state-file being read: nothing to save yet */
  uint64_t next_gmd_id;
  uint64_t n_requests;
  mock_note *notes;
  uint64_t *unreleased; /* ids of deliveries whose creating 201 is not yet completely sent */
  size_t n_unreleased, cap_unreleased;
  int *up_closing; /* MB2-U sockets to close: only the user-plane thread closes them */
  size_t n_up_closing, cap_up_closing;

  pthread_mutex_t rng_mu;
  uint64_t rng;

  int listen_fd; /* handed to MHD, which then owns it (-1 afterwards) */
  int bearer_fd;
  int wake[2]; /* pipe that wakes the user-plane thread */
  void *http;  /* struct MHD_Daemon * */
  pthread_t sched_th, send_th, up_th;
  bool sched_started, send_started, up_started;
} mock;

/* ------------------------------------------------------------------ log.c */

int mlog_open(mock_log *l, const char *path, bool verbose);
void mlog_close(mock_log *l);
/** A new log object with "ts" and "event"; NULL on allocation failure (callers may add to NULL:
 *  cJSON ignores it). */
cJSON *mlog_begin(const char *event);
/** Writes the line (and the human form with --verbose), then frees `o`. NULL: no-op. */
void mlog_emit(mock_log *l, cJSON *o);
/** Adds a string member, or JSON null when `s` is NULL. */
void mlog_str(cJSON *o, const char *key, const char *s);
/** A human line on stderr with --verbose only. */
void mlog_text(mock_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** "YYYY-MM-DDThh:mm:ss.mmmZ" of a wall-clock ms into buf (>= 32 bytes). */
void mlog_ts(int64_t ms, char *buf, size_t cap);

/* ------------------------------------------------------------------ state.c */

int64_t mock_now_ms(void);  /* wall clock */
int64_t mock_mono_ms(void); /* monotonic */
uint64_t mock_rand(mock *m);
/** True with probability p; consumes no randomness when p is 0 or 1. */
bool mock_chance(mock *m, double p);
/** Sleeps up to ms, returns early on shutdown. */
void mock_sleep_ms(mock *m, long ms);

int mock_state_init(mock *m);
void mock_state_free(mock *m);

/** Percent-encodes everything but RFC 3986 unreserved characters. Owned; NULL on NOMEM. */
char *mock_pct_encode(const char *s);

/* The calls below need m->mu held. */
/** Allocates a TMGI for scs; NULL on NOMEM or when no service id is free (`*full` set). */
mock_tmgi *mock_tmgi_new_locked(mock *m, const char *scs, bool *full);
/** Sets tmgiExpiration to now + lifetime, rounded up to the whole second (it expires exactly at
 *  the reported instant). */
void mock_tmgi_renew_locked(mock *m, mock_tmgi *t, int64_t now_ms);
/** Finds a live TMGI; an expired one is expired now and not found. */
mock_tmgi *mock_tmgi_find_locked(mock *m, const char *tmgi, int64_t now_ms);
/** Removes a TMGI and its deliveries; `expired` sends the failure notifications. */
void mock_tmgi_remove_locked(mock *m, mock_tmgi *t, bool expired);
mock_gmd *mock_gmd_find_locked(mock_tmgi *t, const char *txn);

/* ------------------------------------------------------------------ persist.c */

/** Reads --state-file (none yet: nothing to do) and allocates its live TMGIs again, before the
 *  HTTP server starts. Returns 0, or -1 when the file cannot be read or is malformed. */
int mock_persist_load(mock *m);
/** Writes the TMGIs to --state-file (no-op without one); needs m->mu held. A failure is said
 *  on stderr, and the mock goes on. */
void mock_persist_save_locked(mock *m);
mock_gmd *mock_gmd_find_id_locked(mock *m, uint64_t id, mock_tmgi **owner);
/** Unlinks and frees a delivery (closing its user-plane port). */
void mock_gmd_remove_locked(mock *m, mock_tmgi *t, mock_gmd *g);
/** A fresh transaction id unique within t. */
void mock_gmd_txn_locked(mock *m, mock_tmgi *t, char out[20]);

/** Queues a notification; it is held while its delivery's creating 201 is unsent. Takes `n`. */
void mock_note_push_locked(mock *m, mock_note *n);
/** Puts a notification to be retried back at the head of the queue, so that it stays ahead of
 *  its delivery's later ones. Takes `n`. */
void mock_note_requeue_locked(mock *m, mock_note *n);
/** Builds and queues a GMDByMb2Notification / TestNotification for a delivery. */
void mock_notify_delivery_locked(mock *m, const mock_gmd *g, bool delivered);
void mock_notify_test_locked(mock *m, const mock_gmd *g);
/** Marks a delivery's creating request as unanswered (its notifications are held). */
int mock_hold_locked(mock *m, uint64_t id);
/** The creating 201 is sent: its held notifications may go. Takes the lock. */
void mock_release(mock *m, uint64_t id);
void mock_note_free(mock_note *n);

/* ------------------------------------------------------------------ bearer.c */

int mock_bearer_open(mock *m);
/** Sends one datagram to the TMGI's bearer, honouring --loss; logs bearer_send. Returns false
 *  only if the send itself failed (a datagram dropped by --loss counts as sent). No lock held. */
bool mock_bearer_send(mock *m, const char *tmgi, uint32_t service_id, const void *data, size_t len,
                      const char *transaction);
/** Opens the MB2-U socket of a delivery on --user-plane-addr port 0; fills g->up_fd, up_port and
 *  the scefMessageDelivery* members. Lock held. */
int mock_up_open_locked(mock *m, mock_gmd *g);
/** Hands a user-plane socket to the user-plane thread for closing. Lock held. */
void mock_up_close_locked(mock *m, mock_gmd *g);
void mock_up_wake(mock *m);
int mock_up_start(mock *m);
void mock_up_join(mock *m);

/* ------------------------------------------------------------------ notify.c */

int mock_sched_start(mock *m);
void mock_sched_join(mock *m);

/* ------------------------------------------------------------------ http.c */

int mock_http_start(mock *m);
void mock_http_stop(mock *m);

#endif
