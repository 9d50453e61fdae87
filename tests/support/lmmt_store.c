/* lmmt_store.c - test support: a state store of its own per test, removed afterwards. */
#include "lmmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmmt_pg.h"
#include "lwm2m_mbms/store.h"

static lmmt_pg *g_pg;    /* lmmt_store_on_pg() */
static int g_pg_seq;     /* each store its own database */
static char g_last[256]; /* lmmt_store_last_path() */

void lmmt_store_on_pg(lmmt_pg *pg) {
  g_pg = pg;
}

const char *lmmt_store_last_path(void) {
  return g_last;
}

int lmmt_scratch_dir(char dir[64], const char *tag) {
  snprintf(dir, 64, "/tmp/lmmt-%.20s-XXXXXX", tag);
  if (mkdtemp(dir)) return 0;
  perror("lmmt_scratch_dir: mkdtemp");
  return -1;
}

int lmmt_scratch_remove(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

lmm_store *lmmt_store_open(lmm_ctx *ctx, char dir[64]) {
  if (lmmt_scratch_dir(dir, "db") != 0) return NULL;
  char path[256];
  snprintf(path, sizeof path, "%s/state.db", dir);
  if (g_pg) {
    char name[32];
    snprintf(name, sizeof name, "store%d", ++g_pg_seq);
    if (lmmt_pg_create_db(g_pg, name, path, sizeof path) != 0) return NULL;
  }
  snprintf(g_last, sizeof g_last, "%s", path);
  lmm_store *s = NULL;
  if (lmm_store_open(ctx, path, &s) != LMM_OK) {
    fprintf(stderr, "lmmt_store_open: %s\n", lmm_store_errmsg(s));
    lmm_store_close(s);
    return NULL;
  }
  return s;
}

int lmmt_store_remove(lmm_store *s, const char *dir) {
  lmm_store_close(s);
  return lmmt_scratch_remove(dir);
}
