/* notifier_impl.h - the T8 notification receiver's state, shared by notifier.c (life, event
 * source, HTTP listener) and notifier_handle.c (registered links, checks, handling,
 * per-delivery destinations). */
#ifndef LMMI_T8_NOTIFIER_IMPL_H
#define LMMI_T8_NOTIFIER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/t8.h"
#include "t8/notify_dest.h"

struct lmm_t8_notifier {
  lmm_ctx *ctx;
  const lmm_t8_notifier_handlers *handlers; /* borrowed; may be NULL */
  void *user;
  char *path;     /* served by the listener */
  char *url;      /* the base URL advertised */
  char *url_path; /* the path of `url`, which a host's own server may see instead of `path` */
  size_t max_body;
  bool accept_base; /* the base URL serves, and a mismatch is taken (lmm_t8_notifier_config) */
  bool accept_unknown;
  bool own_thread;

  struct MHD_Daemon *daemon;
  lmmi_source src;
  bool source_added;

  /* Guards links and stats: expect/forget/handle may come from any thread, and in thread mode
   * the listener's thread serves requests while the host registers deliveries. */
  pthread_mutex_t mu;
  char **links; /* sorted (strcmp) keys, each owned */
  size_t n_links, cap_links;
  lmm_t8_notifier_stats stats;

  lmmi_dests dests; /* the per-delivery destinations, under a lock of their own */
  bool dests_ready;
};

/* Where a request was sent: the base URL, a per-delivery URL below it, or elsewhere. */
typedef enum lmmi_path_kind { LMMI_PATH_NONE, LMMI_PATH_BASE, LMMI_PATH_DEST } lmmi_path_kind;

/** An owned ProblemDetails text (free()), or NULL when out of memory (the status still goes
 *  out). The strings are borrowed for the call; param NULL: no invalidParams. */
char *lmmi_notifier_problem(int status, const char *title, const char *detail, const char *param,
                            const char *reason);
/** "application/json", any case, optionally followed by parameters ("; charset=utf-8"). */
bool lmmi_notifier_content_type_ok(const char *ct);
/** Counts and logs a refused content type: returns 415 with its ProblemDetails in *problem. */
int lmmi_notifier_reject_content_type(lmm_t8_notifier *n, const char *ct, char **problem);
/** Counts and logs a body over max_body: returns 413 with its ProblemDetails in *problem. */
int lmmi_notifier_reject_too_large(lmm_t8_notifier *n, char **problem);
/** Refuses from the path alone what a strict receiver never takes: the base URL and a
 *  destination token not handed out (or forgotten). Returns 404 with its ProblemDetails in
 *  *problem, or 0 to go on. */
int lmmi_notifier_refuse_path(lmm_t8_notifier *n, lmmi_path_kind kind, const char *token,
                              char **problem);
/** What the listener and lmm_t8_notifier_handle_request() share: the body is in memory, its
 *  content type judged and its URL classified. Returns the HTTP status; `*problem` owned or
 *  NULL. */
int lmmi_notifier_handle_body(lmm_t8_notifier *n, lmmi_path_kind kind, const char *token,
                              const char *body, size_t len, char **problem);
/** Where `path` points: the listener serves n->path, a host's own server may see the advertised
 *  URL's path instead; a query is not part of the path. A destination's token goes to `token`
 *  (LMMI_DEST_TOKEN_LEN + 1 bytes). */
lmmi_path_kind lmmi_notifier_classify(const lmm_t8_notifier *n, const char *path, char *token);

#endif
