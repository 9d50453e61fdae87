/* lmmt_store.c - test support: a state store of its own per test, removed afterwards. */
#include "lmmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/store.h"

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
  char path[96];
  snprintf(path, sizeof path, "%s/state.db", dir);
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
