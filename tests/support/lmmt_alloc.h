/* lmmt_alloc.h - test support: an allocator that refuses the k-th allocation, for the tests
 * that prove every failure path (docs/architecture.md, "Testing under allocation failure"). */
#ifndef LMMT_ALLOC_H
#define LMMT_ALLOC_H

#include <stdbool.h>

/** Routes cJSON, SQLite and libcurl through the counting allocator. Call first in main(),
 *  before lmm_global_init() and before anything opens a store: SQLite and libcurl take an
 *  allocator only before they initialize. Returns 0, or -1 when one of them refused. */
int lmmt_alloc_install(void);
/** Undoes lmmt_alloc_install()'s libcurl set-up: call last in main(), after
 *  lmm_global_cleanup(). */
void lmmt_alloc_uninstall(void);
/** Arms the countdown: the k-th allocation from now fails (0: the next one), once; every
 *  other allocation succeeds. Counts our code's malloc/calloc/realloc/strdup/strndup and
 *  those of cJSON, SQLite and libcurl. */
void lmmt_alloc_fail_at(long k);
/** Disarms; returns whether the armed failure happened. */
bool lmmt_alloc_disarm(void);

/** Runs `call` (an lmm_err expression) with the k-th allocation failing, for k = 0, 1, ...
 *  until it returns LMM_OK with no failure injected. A call that fails must return one of the
 *  errors `ok_err` accepts (an expression of `r_`) and leave `unchanged` true; a failure the
 *  call absorbed (LMM_OK although an allocation failed) must leave `whole` true: the result
 *  is complete, as without the failure. `cleanup` runs after every LMM_OK. The number of
 *  failure points goes into `*points` (a long). */
#define LMMT_FOR_EVERY_ALLOC_FAILURE(points, call, ok_err, unchanged, whole, cleanup)              \
  do {                                                                                             \
    long k_ = 0;                                                                                   \
    for (;; k_++) {                                                                                \
      assert_true(k_ < 100000);                                                                    \
      lmmt_alloc_fail_at(k_);                                                                      \
      lmm_err r_ = (call);                                                                         \
      bool failed_ = lmmt_alloc_disarm();                                                          \
      if (r_ != LMM_OK) {                                                                          \
        assert_true(failed_);                                                                      \
        if (!(ok_err)) fail_msg("k=%ld: %s returned %d", k_, #call, (int)r_);                      \
        unchanged;                                                                                 \
        continue;                                                                                  \
      }                                                                                            \
      whole;                                                                                       \
      cleanup;                                                                                     \
      if (!failed_) break;                                                                         \
    }                                                                                              \
    *(points) = k_;                                                                                \
  } while (0)

#endif
