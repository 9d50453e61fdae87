/* ctx.h - the library context: clock, randomness, logging and the event engine. */
#ifndef LWM2M_MBMS_CTX_H
#define LWM2M_MBMS_CTX_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_ctx lmm_ctx;

typedef enum lmm_log_level {
  LMM_LOG_ERROR = 0,
  LMM_LOG_WARN,
  LMM_LOG_INFO,
  LMM_LOG_DEBUG
} lmm_log_level;

/** Everything the context takes from its host. Any callback may be NULL for the default. */
typedef struct lmm_ctx_config {
  /** Monotonic milliseconds. Default: CLOCK_MONOTONIC. */
  int64_t (*now_ms)(void *user);
  /** Wall-clock milliseconds since the epoch. Default: CLOCK_REALTIME. */
  int64_t (*wall_ms)(void *user);
  /** Log sink. Default: nothing is logged (the library never prints). `msg` is borrowed. */
  void (*log)(void *user, lmm_log_level level, const char *msg);
  lmm_log_level log_level;
  /** Fills `buf` with random bytes, returns 0 on success. Default: Mbed TLS CTR-DRBG. */
  int (*random)(void *user, void *buf, size_t len);
  /** When non-zero and `random` is NULL, the CTR-DRBG is seeded from this value alone, so
   *  every jitter and random wait repeats from run to run (tests, reproducible benchmarks). */
  uint64_t seed;
  void *user;
} lmm_ctx_config;

#define LMM_CTX_CONFIG_DEFAULT                                                                     \
  {                                                                                                \
    .now_ms = NULL, .wall_ms = NULL, .log = NULL, .log_level = LMM_LOG_WARN, .random = NULL,       \
    .seed = 0, .user = NULL                                                                        \
  }

/** Process-wide set-up of the libraries underneath: libcurl, and libcoap with its logging
 *  turned off (the library never prints). Required once before any other call of the library,
 *  before any thread starts; pairs with lmm_global_cleanup(), after every object is freed.
 *  @return LMM_OK; LMM_ERR_IO when libcurl cannot start. */
LMM_API lmm_err lmm_global_init(void);
/** Undoes lmm_global_init() (libcurl's global state). Call once, after every context and
 *  object of the library is freed, when no other thread uses the library (or libcurl). */
LMM_API void lmm_global_cleanup(void);

/** Creates a context. `cfg` is copied (its `user` is borrowed and handed to the callbacks);
 *  NULL means defaults. `*out` untouched on failure: LMM_ERR_ARG (`out` NULL), LMM_ERR_NOMEM,
 *  LMM_ERR_IO (the random generator could not be seeded). Free with lmm_ctx_free().
 *  Threads: a context and everything made from it (clients, engines, receivers, servers,
 *  jobs, campaigns) are used from one thread, the one that runs its loop; the library takes
 *  no lock for them. The only exceptions are the calls marked thread-safe (the T8
 *  notification receiver's). Separate contexts may run on separate threads. */
LMM_API lmm_err lmm_ctx_new(const lmm_ctx_config *cfg, lmm_ctx **out);
/** Frees the context. Every object made from it must be freed first. NULL is a no-op. */
LMM_API void lmm_ctx_free(lmm_ctx *ctx);

/** Fills up to `cap` pollfd entries with the descriptors the library waits on.
 *  @return how many it needs (call again with a larger array when that exceeds `cap`). */
LMM_API size_t lmm_ctx_pollfds(lmm_ctx *ctx, struct pollfd *pfd, size_t cap);
/** Milliseconds until the library next needs lmm_ctx_process() even with no I/O;
 *  never more than `host_max` (a negative `host_max` means no limit of the host's, and -1
 *  is returned when the library waits for nothing). */
LMM_API int lmm_ctx_timeout_ms(lmm_ctx *ctx, int host_max);
/** Serves what is ready in `pfd` (entries the host filled with lmm_ctx_pollfds() and polled)
 *  and every timer that is due. Never blocks. Callbacks run from inside this call; timers
 *  they arm for "now" wait for the next call. Not re-entrant: not to be called, nor
 *  lmm_ctx_run_once() or any blocking helper (*_wait(), the blocking T8 calls), from a
 *  callback. @return LMM_OK. */
LMM_API lmm_err lmm_ctx_process(lmm_ctx *ctx, const struct pollfd *pfd, size_t n);
/** Blocking helper for standalone use: one poll of at most `max_wait_ms` (shortened to the
 *  library's next deadline; negative: until something happens), then process. Not from a
 *  callback (see lmm_ctx_process()). @return LMM_OK (an interrupted poll too); LMM_ERR_IO
 *  when poll() fails; LMM_ERR_NOMEM when the pollfd array cannot grow past 32 entries. */
LMM_API lmm_err lmm_ctx_run_once(lmm_ctx *ctx, int max_wait_ms);

/** Monotonic milliseconds as the context sees them: the configured now_ms, else
 *  CLOCK_MONOTONIC. The library's own timers and deadlines run on this clock. */
LMM_API int64_t lmm_ctx_now_ms(const lmm_ctx *ctx);
/** Wall-clock milliseconds since the epoch: the configured wall_ms, else CLOCK_REALTIME. What
 *  the library stores and what it compares with times from outside (a Schedule, an HTTP date)
 *  is on this clock. */
LMM_API int64_t lmm_ctx_wall_ms(const lmm_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
