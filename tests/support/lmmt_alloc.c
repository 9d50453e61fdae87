/* lmmt_alloc.c - test support: the countdown allocator of lmmt_alloc.h.
 *
 * Our code calls malloc() and friends directly, so the test program is linked with
 * `-Wl,--wrap=malloc,...` (tests/CMakeLists.txt, lmmt_alloc_test()): every call the linker
 * resolves at that link, which is all of the library's since tests take its static build,
 * goes to __wrap_malloc() below, and __real_malloc() is the C library's malloc, or the
 * sanitizer's when ASan interposes it. The library itself keeps no allocator hook and no
 * process-wide state for it. An LD_PRELOAD interposer was set aside: it would also take every
 * allocation of libc, libcoap and the sanitizer runtime, and it fights ASan for malloc.
 * The shared libraries we use keep their own calls, and are reached through the hooks they
 * offer: cJSON_InitHooks(), SQLITE_CONFIG_MALLOC and curl_global_init_mem(). libcoap and
 * libmicrohttpd offer none and are not counted. */
#include "lmmt_alloc.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* Atomic: libcurl may allocate on its resolver thread while the test's thread does. */
static _Atomic long g_left = -1; /* allocations to let through before the failure; -1 off */
static atomic_bool g_failed;

static bool refuse(void) {
  long v = atomic_load(&g_left);
  while (v >= 0) {
    if (atomic_compare_exchange_weak(&g_left, &v, v - 1)) {
      if (v > 0) return false;
      atomic_store(&g_failed, true);
      return true;
    }
  }
  return false;
}

void lmmt_alloc_fail_at(long k) {
  atomic_store(&g_failed, false);
  atomic_store(&g_left, k);
}

bool lmmt_alloc_disarm(void) {
  atomic_store(&g_left, -1);
  return atomic_load(&g_failed);
}

void *__wrap_malloc(size_t n) {
  return refuse() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
  return refuse() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return refuse() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
  return refuse() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
  return refuse() ? NULL : __real_strndup(s, n);
}

/* The hooks below end in the same allocator as free(), so memory may cross between them. */
static void *json_malloc(size_t n) {
  return __wrap_malloc(n);
}

static sqlite3_mem_methods g_sqlite; /* SQLite's own methods, which do the work */
static void *sqlite_malloc(int n) {
  return refuse() ? NULL : g_sqlite.xMalloc(n);
}
static void *sqlite_realloc(void *p, int n) {
  return refuse() ? NULL : g_sqlite.xRealloc(p, n);
}

static void *curl_malloc(size_t n) {
  return __wrap_malloc(n);
}
static void curl_free_fn(void *p) {
  free(p);
}
static void *curl_realloc(void *p, size_t n) {
  return __wrap_realloc(p, n);
}
static char *curl_strdup_fn(const char *s) {
  return __wrap_strdup(s);
}
static void *curl_calloc(size_t n, size_t size) {
  return __wrap_calloc(n, size);
}

int lmmt_alloc_install(void) {
  cJSON_Hooks h = {json_malloc, free};
  cJSON_InitHooks(&h);
  sqlite3_mem_methods m;
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &g_sqlite) != SQLITE_OK) return -1;
  m = g_sqlite;
  m.xMalloc = sqlite_malloc, m.xRealloc = sqlite_realloc;
  /* Lookaside memory would serve small allocations past the countdown. */
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK ||
      sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK)
    return -1;
  /* lmm_global_init()'s curl_global_init() later only counts one more user. */
  if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_malloc, curl_free_fn, curl_realloc,
                           curl_strdup_fn, curl_calloc) != CURLE_OK)
    return -1;
  return 0;
}

void lmmt_alloc_uninstall(void) {
  curl_global_cleanup();
}
