/* lmmt_bench.h - benchmark support: the one machine-readable line every program under
 * tests/bench/ prints besides its human table, `BENCH_JSON {"bench":"NAME",...}`, which
 * scripts/bench collects (docs/performance.md). */
#ifndef LMMT_BENCH_H
#define LMMT_BENCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lmmt_bench lmmt_bench;

/** A record of figures for bench `name` (copied). Never NULL: without memory the program
 *  stops with a message (a bench has nothing to do without its record). */
lmmt_bench *lmmt_bench_new(const char *name);
/** Sets figure `key` (copied; e.g. "writes_per_s_n10000") to `v`; a later call with the same
 *  key replaces it. A figure that is not finite is written as null. */
void lmmt_bench_num(lmmt_bench *b, const char *key, double v);
/** Like lmmt_bench_num(), its key made with printf-style `fmt`. */
void lmmt_bench_numf(lmmt_bench *b, double v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Sets `key` to a string (copied): a label, not a figure to aggregate. */
void lmmt_bench_str(lmmt_bench *b, const char *key, const char *s);
/** Sets "ok": whether every check of the run passed. */
void lmmt_bench_ok(lmmt_bench *b, bool ok);
/** Prints the record as one line, "BENCH_JSON " then compact JSON, to stdout (flushed), and
 *  frees it. NULL does nothing. Returns 0, or -1 when stdout failed. */
int lmmt_bench_print(lmmt_bench *b);

/** Peak resident set of this process so far (VmHWM of /proc/self/status), in bytes; -1 when
 *  unknown. */
long long lmmt_peak_rss(void);
/** Resets the peak to the current resident set (writes "5" to /proc/self/clear_refs): a later
 *  lmmt_peak_rss() is the peak since then. Returns 0, or -1 when the kernel refused. */
int lmmt_peak_rss_reset(void);
/** Current resident set (VmRSS), in bytes; -1 when unknown. */
long long lmmt_rss(void);

#endif
