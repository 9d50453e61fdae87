/* fuzz_check.h - the check every fuzz target asserts with. abort() rather than assert(): the
 * check must stay in release builds of the fuzzer, and libFuzzer reports an abort as a crash
 * with its input. */
#ifndef LMM_FUZZ_CHECK_H
#define LMM_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#endif
