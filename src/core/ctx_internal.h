/* ctx_internal.h - what library modules share about the context: event sources, timers,
 * logging and randomness. */
#ifndef LMMI_CTX_INTERNAL_H
#define LMMI_CTX_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "lwm2m_mbms/ctx.h"

/** An event source plugged into the context (the T8 HTTP client, a notification listener,
 *  later the CoAP engine). The context asks every source for its fds and its next deadline and
 *  hands each the whole polled array; a source picks its own fds out of it. */
typedef struct lmmi_source {
  /** Fills up to `cap` entries; returns how many it needs. */
  size_t (*pollfds)(void *self, struct pollfd *pfd, size_t cap);
  /** Monotonic ms of its next deadline, or -1. */
  int64_t (*deadline_ms)(void *self);
  /** Serves ready fds (may be none) and due deadlines. */
  void (*process)(void *self, const struct pollfd *pfd, size_t n);
  void *self;
  /** Sources are served in ascending `order` (ties: registration order). Receivers of events
   *  that refer to replies (a T8 notification naming a delivery) go after the source that
   *  brings those replies, so one turn of the loop never sees the event first. */
  int order;
} lmmi_source;

enum { LMMI_ORDER_CLIENT = 0, LMMI_ORDER_RECEIVER = 10 };

/** Registers a source; `src` is borrowed and must stay valid until removed. */
lmm_err lmmi_ctx_add_source(lmm_ctx *ctx, lmmi_source *src);
void lmmi_ctx_remove_source(lmm_ctx *ctx, lmmi_source *src);

/** One-shot timers. The handle is owned by the context: it is freed after the callback ran or
 *  on cancel. Cancelling from inside its own callback is not allowed (it is already gone). */
typedef struct lmmi_timer lmmi_timer;
typedef void (*lmmi_timer_fn)(void *arg);
lmmi_timer *lmmi_timer_add(lmm_ctx *ctx, int64_t due_ms, lmmi_timer_fn fn, void *arg);
void lmmi_timer_cancel(lmm_ctx *ctx, lmmi_timer *t);

/** Logging through the configured sink; printf-style. */
void lmmi_log(const lmm_ctx *ctx, lmm_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Random bytes from the configured source. */
lmm_err lmmi_random(lmm_ctx *ctx, void *buf, size_t len);
/** Uniform integer in [0, bound) (bound > 0), without modulo bias. */
uint64_t lmmi_random_below(lmm_ctx *ctx, uint64_t bound);

#endif
