/* ctx.c - the context: configured clocks, logging, randomness, timers and the event engine
 * that multiplexes every module's sockets into one pollfd set for the host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>
#include <curl/curl.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include "core/ctx_internal.h"

struct lmmi_timer {
  int64_t due;
  uint64_t seq; /* ties broken by creation order, so equal deadlines fire FIFO */
  lmmi_timer_fn fn;
  void *arg;
  lmmi_timer *next;
};

struct lmm_ctx {
  lmm_ctx_config cfg;
  lmmi_source **sources;
  size_t n_sources, cap_sources;
  lmmi_timer *timers; /* sorted by (due, seq) */
  uint64_t timer_seq;
  bool drbg_ready;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

/* Everything process-wide of the libraries underneath happens here and nowhere else: done
 * when an engine is created, it would race between threads (libcoap guards its start-up with
 * a plain flag) and could never be undone. libcoap's logging is process-wide and prints to
 * stderr, while the library never prints: it is turned down to emergencies only. */
LMM_API lmm_err lmm_global_init(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return LMM_ERR_IO;
  coap_startup();
  coap_set_log_level(LOG_EMERG);
  coap_dtls_set_log_level(LOG_EMERG);
  return LMM_OK;
}

LMM_API void lmm_global_cleanup(void) {
  coap_cleanup();
  curl_global_cleanup();
}

static int64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

LMM_API int64_t lmm_ctx_now_ms(const lmm_ctx *ctx) {
  return ctx->cfg.now_ms ? ctx->cfg.now_ms(ctx->cfg.user) : clock_ms(CLOCK_MONOTONIC);
}

LMM_API int64_t lmm_ctx_wall_ms(const lmm_ctx *ctx) {
  return ctx->cfg.wall_ms ? ctx->cfg.wall_ms(ctx->cfg.user) : clock_ms(CLOCK_REALTIME);
}

/* A fixed seed replaces the entropy source, so a seeded context draws the same bytes on every
 * run: that is what makes jitter and random waits reproducible in tests. */
static int seed_entropy(void *p, unsigned char *out, size_t len) {
  const uint64_t *seed = p;
  uint64_t x = *seed ? *seed : 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    out[i] = (unsigned char)x;
  }
  return 0;
}

LMM_API lmm_err lmm_ctx_new(const lmm_ctx_config *cfg, lmm_ctx **out) {
  static const lmm_ctx_config defaults = LMM_CTX_CONFIG_DEFAULT;
  if (!out) return LMM_ERR_ARG;
  lmm_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return LMM_ERR_NOMEM;
  ctx->cfg = cfg ? *cfg : defaults;
  if (!ctx->cfg.random) {
    static const char pers[] = "lwm2m-mbms";
    int rc;
    mbedtls_ctr_drbg_init(&ctx->drbg);
    mbedtls_entropy_init(&ctx->entropy);
    if (ctx->cfg.seed)
      rc = mbedtls_ctr_drbg_seed(&ctx->drbg, seed_entropy, &ctx->cfg.seed,
                                 (const unsigned char *)pers, sizeof pers - 1);
    else
      rc = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy,
                                 (const unsigned char *)pers, sizeof pers - 1);
    ctx->drbg_ready = true;
    if (rc != 0) {
      lmm_ctx_free(ctx);
      return LMM_ERR_IO;
    }
  }
  *out = ctx;
  return LMM_OK;
}

LMM_API void lmm_ctx_free(lmm_ctx *ctx) {
  if (!ctx) return;
  while (ctx->timers) {
    lmmi_timer *t = ctx->timers;
    ctx->timers = t->next;
    free(t);
  }
  free(ctx->sources);
  if (ctx->drbg_ready) {
    mbedtls_ctr_drbg_free(&ctx->drbg);
    mbedtls_entropy_free(&ctx->entropy);
  }
  free(ctx);
}

void lmmi_log(const lmm_ctx *ctx, lmm_log_level level, const char *fmt, ...) {
  if (!ctx->cfg.log || level > ctx->cfg.log_level) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ctx->cfg.log(ctx->cfg.user, level, buf);
}

lmm_err lmmi_random(lmm_ctx *ctx, void *buf, size_t len) {
  if (ctx->cfg.random) return ctx->cfg.random(ctx->cfg.user, buf, len) == 0 ? LMM_OK : LMM_ERR_IO;
  unsigned char *p = buf;
  while (len > 0) { /* the DRBG hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST per call */
    size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
    if (mbedtls_ctr_drbg_random(&ctx->drbg, p, n) != 0) return LMM_ERR_IO;
    p += n, len -= n;
  }
  return LMM_OK;
}

uint64_t lmmi_random_below(lmm_ctx *ctx, uint64_t bound) {
  if (bound <= 1) return 0;
  /* Rejection sampling: values in the last partial block of size bound would bias the result. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound, x;
  do {
    if (lmmi_random(ctx, &x, sizeof x) != LMM_OK) return 0;
  } while (x >= limit);
  return x % bound;
}

lmm_err lmmi_ctx_add_source(lmm_ctx *ctx, lmmi_source *src) {
  if (ctx->n_sources == ctx->cap_sources) {
    size_t cap = ctx->cap_sources ? ctx->cap_sources * 2 : 4;
    lmmi_source **s = realloc(ctx->sources, cap * sizeof *s);
    if (!s) return LMM_ERR_NOMEM;
    ctx->sources = s, ctx->cap_sources = cap;
  }
  size_t i = ctx->n_sources;
  while (i > 0 && ctx->sources[i - 1]->order > src->order) {
    ctx->sources[i] = ctx->sources[i - 1];
    i--;
  }
  ctx->sources[i] = src;
  ctx->n_sources++;
  return LMM_OK;
}

void lmmi_ctx_remove_source(lmm_ctx *ctx, lmmi_source *src) {
  for (size_t i = 0; i < ctx->n_sources; i++)
    if (ctx->sources[i] == src) {
      memmove(&ctx->sources[i], &ctx->sources[i + 1],
              (ctx->n_sources - i - 1) * sizeof *ctx->sources);
      ctx->n_sources--;
      return;
    }
}

lmmi_timer *lmmi_timer_add(lmm_ctx *ctx, int64_t due_ms, lmmi_timer_fn fn, void *arg) {
  lmmi_timer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->due = due_ms, t->fn = fn, t->arg = arg, t->seq = ctx->timer_seq++;
  lmmi_timer **pp = &ctx->timers;
  while (*pp && (*pp)->due <= due_ms)
    pp = &(*pp)->next;
  t->next = *pp;
  *pp = t;
  return t;
}

void lmmi_timer_cancel(lmm_ctx *ctx, lmmi_timer *t) {
  for (lmmi_timer **pp = &ctx->timers; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      free(t);
      return;
    }
}

LMM_API size_t lmm_ctx_pollfds(lmm_ctx *ctx, struct pollfd *pfd, size_t cap) {
  size_t need = 0;
  for (size_t i = 0; i < ctx->n_sources; i++) {
    size_t room = need < cap ? cap - need : 0;
    need += ctx->sources[i]->pollfds(ctx->sources[i]->self, room ? pfd + need : NULL, room);
  }
  return need;
}

static int64_t next_deadline(lmm_ctx *ctx) {
  int64_t d = ctx->timers ? ctx->timers->due : -1;
  for (size_t i = 0; i < ctx->n_sources; i++) {
    int64_t s = ctx->sources[i]->deadline_ms(ctx->sources[i]->self);
    if (s >= 0 && (d < 0 || s < d)) d = s;
  }
  return d;
}

LMM_API int lmm_ctx_timeout_ms(lmm_ctx *ctx, int host_max) {
  int64_t d = next_deadline(ctx);
  if (d < 0) return host_max < 0 ? -1 : host_max;
  int64_t wait = d - lmm_ctx_now_ms(ctx);
  if (wait < 0) wait = 0;
  if (host_max >= 0 && wait > host_max) wait = host_max;
  return wait > 0x7fffffff ? 0x7fffffff : (int)wait;
}

LMM_API lmm_err lmm_ctx_process(lmm_ctx *ctx, const struct pollfd *pfd, size_t n) {
  /* Sources may be removed from a callback; the bound is re-read on every turn. */
  for (size_t i = 0; i < ctx->n_sources; i++)
    ctx->sources[i]->process(ctx->sources[i]->self, pfd, n);
  /* Fire the timers due now; ones added by callbacks for "now" wait for the next call, so a
   * callback that re-arms itself at once cannot starve the host's loop. */
  int64_t now = lmm_ctx_now_ms(ctx);
  uint64_t seq_limit = ctx->timer_seq;
  while (ctx->timers && ctx->timers->due <= now && ctx->timers->seq < seq_limit) {
    lmmi_timer *t = ctx->timers;
    ctx->timers = t->next;
    lmmi_timer_fn fn = t->fn;
    void *arg = t->arg;
    free(t);
    fn(arg);
  }
  return LMM_OK;
}

LMM_API lmm_err lmm_ctx_run_once(lmm_ctx *ctx, int max_wait_ms) {
  struct pollfd stack[32], *pfd = stack;
  size_t n = lmm_ctx_pollfds(ctx, stack, 32);
  if (n > 32) {
    pfd = calloc(n, sizeof *pfd);
    if (!pfd) return LMM_ERR_NOMEM;
    n = lmm_ctx_pollfds(ctx, pfd, n);
  }
  int wait = lmm_ctx_timeout_ms(ctx, max_wait_ms);
  int rc = poll(pfd, n, wait);
  lmm_err err = LMM_OK;
  if (rc < 0 && errno != EINTR)
    err = LMM_ERR_IO;
  else
    err = lmm_ctx_process(ctx, pfd, rc > 0 ? n : 0);
  if (pfd != stack) free(pfd);
  return err;
}
