/* lmmt.h - test support: start the real t8-mock, read its JSON-lines log, listen on a bearer. */
#ifndef LMMT_H
#define LMMT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct lmmt_mock {
  pid_t pid;
  int port;
  char dir[64]; /* scratch directory of this mock (log, ready file) */
  char log_path[128];
  char api_root[64];    /* http://127.0.0.1:PORT */
  char state_path[128]; /* its --state-file, "" for none */
} lmmt_mock;

/** Starts $LMM_T8_MOCK on 127.0.0.1:0 with --ready-file, --log and the NULL-terminated extra
 *  arguments; waits (at most 10 s) until it is listening. Returns 0 or -1. */
int lmmt_mock_start(lmmt_mock *m, const char *const *extra);
/** Like lmmt_mock_start(), with a --state-file in its directory: its TMGIs outlive a kill. */
int lmmt_mock_start_kept(lmmt_mock *m, const char *const *extra);
/** SIGKILL and reaping, as a crash: the directory, log and state file stay (lmmt_mock_stop()
 *  removes them). */
void lmmt_mock_kill(lmmt_mock *m);
/** Starts a killed mock again on its old port, with its state file and the NULL-terminated
 *  extra arguments; waits for it like lmmt_mock_start(). Returns 0 or -1. */
int lmmt_mock_restart(lmmt_mock *m, const char *const *extra);
/** SIGTERM, then a bounded wait (SIGKILL after 5 s). Returns the exit status, -1 if killed. */
int lmmt_mock_stop(lmmt_mock *m);
/** Number of log lines of event `event` that contain `needle` (NULL: any). */
int lmmt_log_count(const lmmt_mock *m, const char *event, const char *needle);
/** Waits up to `ms` for lmmt_log_count() to reach `want`; returns the last count. */
int lmmt_log_wait(const lmmt_mock *m, const char *event, const char *needle, int want, int ms);
/** Whole file as a NUL-terminated owned string (free()), or NULL. */
char *lmmt_read_file(const char *path, size_t *len);
/** A UDP socket bound to `port` (SO_REUSEADDR) that joined multicast `group` on 127.0.0.1. */
int lmmt_bearer_join(const char *group, int port);
/** The bearer group of a TMGI (NOTES: 239.<aa>.<bb>.<cc> from the service id). */
void lmmt_tmgi_group(const char *tmgi, char *out, size_t cap);
/** Receives one datagram within `ms`; returns its length or -1. */
ssize_t lmmt_recv(int fd, void *buf, size_t cap, int ms);
/** A port number unlikely to collide between tests running in parallel. */
int lmmt_random_port(void);

#endif

/* ------------------------------------------------------------ simulated devices */

typedef struct lmmt_sim {
  pid_t pid;
  int port, dtls_port;
  char dir[64];
  char members_path[128];
  char stats_path[128];
} lmmt_sim;

/** Starts $LMM_SIM with --port 0 --ready-file --members-file --stats-json and the extra
 *  arguments; waits (at most 30 s) until it is ready. Returns 0 or -1. */
int lmmt_sim_start(lmmt_sim *s, const char *const *extra);
/** SIGTERM and a bounded wait; returns the exit status, -1 if it had to be killed. */
int lmmt_sim_stop(lmmt_sim *s);
/** Stops it like lmmt_sim_stop() (status into *status) and returns its --stats-json text
 *  (owned, free()), or NULL when it wrote none. */
char *lmmt_sim_stop_stats(lmmt_sim *s, int *status);

/* ------------------------------------------------------------ scratch store */

typedef struct lmm_store lmm_store;
typedef struct lmm_ctx lmm_ctx;

/** Opens a state store of context `ctx` in a fresh directory under /tmp, whose path goes into
 *  `dir`. NULL on failure, with the reason on stderr. */
lmm_store *lmmt_store_open(lmm_ctx *ctx, char dir[64]);
/** A fresh scratch directory /tmp/lmmt-TAG-XXXXXX into `dir`; 0, or -1 with the reason on
 *  stderr. */
int lmmt_scratch_dir(char dir[64], const char *tag);
/** Removes a scratch directory and what it holds. 0 or -1. */
int lmmt_scratch_remove(const char *dir);
/** Closes the store (NULL: none) and removes its directory. Returns 0 or -1. */
int lmmt_store_remove(lmm_store *s, const char *dir);
struct lmmt_pg;
/** From now on lmmt_store_open() gives each store a new database on the scratch server `pg`
 *  (lmmt_pg.h) instead of a file; NULL: files again. */
void lmmt_store_on_pg(struct lmmt_pg *pg);
/** The path or URI of the store lmmt_store_open() opened last, to open it again. */
const char *lmmt_store_last_path(void);
