/* lmmt_bench.c - the BENCH_JSON line of every benchmark (cJSON), and the process's resident
 * set from /proc/self/status for the memory figures. */
#include "lmmt_bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

struct lmmt_bench {
  cJSON *obj;
};

static void *must(void *p) {
  if (!p) {
    fprintf(stderr, "lmmt_bench: out of memory\n");
    exit(1);
  }
  return p;
}

lmmt_bench *lmmt_bench_new(const char *name) {
  lmmt_bench *b = must(calloc(1, sizeof *b));
  b->obj = must(cJSON_CreateObject());
  must(cJSON_AddStringToObject(b->obj, "bench", name));
  return b;
}

static void put(lmmt_bench *b, const char *key, cJSON *item) {
  must(item);
  if (cJSON_GetObjectItemCaseSensitive(b->obj, key))
    cJSON_ReplaceItemInObjectCaseSensitive(b->obj, key, item);
  else
    cJSON_AddItemToObject(b->obj, key, item);
}

void lmmt_bench_num(lmmt_bench *b, const char *key, double v) {
  put(b, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

void lmmt_bench_numf(lmmt_bench *b, double v, const char *fmt, ...) {
  char key[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(key, sizeof key, fmt, ap);
  va_end(ap);
  lmmt_bench_num(b, key, v);
}

void lmmt_bench_str(lmmt_bench *b, const char *key, const char *s) {
  put(b, key, cJSON_CreateString(s ? s : ""));
}

void lmmt_bench_ok(lmmt_bench *b, bool ok) {
  put(b, "ok", cJSON_CreateBool(ok));
}

int lmmt_bench_print(lmmt_bench *b) {
  if (!b) return 0;
  char *s = must(cJSON_PrintUnformatted(b->obj));
  int rc = printf("BENCH_JSON %s\n", s) < 0 || fflush(stdout) != 0 ? -1 : 0;
  cJSON_free(s);
  cJSON_Delete(b->obj);
  free(b);
  return rc;
}

/* The "NAME:   123 kB" line of /proc/self/status, in bytes. */
static long long status_kb(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long long v = -1;
  size_t nl = strlen(name);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, name, nl) && line[nl] == ':') {
      v = strtoll(line + nl + 1, NULL, 10) * 1024;
      break;
    }
  fclose(f);
  return v;
}

long long lmmt_peak_rss(void) {
  return status_kb("VmHWM");
}

long long lmmt_rss(void) {
  return status_kb("VmRSS");
}

int lmmt_peak_rss_reset(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return -1;
  int rc = fputs("5", f) < 0 ? -1 : 0;
  return fclose(f) != 0 ? -1 : rc;
}
