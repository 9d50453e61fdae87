/* ddf_defs.c - what the DDF reader hands out: the owned definitions and their lists (freeing,
 * appending), and the bounded read of a DDF file into memory. */
#include "ddf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lmmi_ddf_res_clear(lmm_res_def *r) {
  free((char *)r->name);
  free((char *)r->range);
  free((char *)r->units);
  free((char *)r->description);
  memset(r, 0, sizeof *r);
}

void lmmi_ddf_def_free(lmm_obj_def *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n_res; i++)
    lmmi_ddf_res_clear((lmm_res_def *)&d->res[i]);
  free((lmm_res_def *)d->res);
  free((char *)d->name);
  free((char *)d->urn);
  free((char *)d->version);
  free((char *)d->description);
  free(d);
}

void lmmi_ddf_list_clear(lmmi_ddf_list *l) {
  for (size_t i = 0; i < l->n; i++)
    lmmi_ddf_def_free(l->defs[i]);
  free(l->defs);
  memset(l, 0, sizeof *l);
}

bool lmmi_ddf_list_push(lmmi_ddf_list *l, lmm_obj_def *d) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    lmm_obj_def **nd = realloc(l->defs, nc * sizeof *nd);
    if (!nd) return false;
    l->defs = nd, l->cap = nc;
  }
  l->defs[l->n++] = d;
  return true;
}

lmm_err lmmi_ddf_read_file(const char *path, char **buf, size_t *len, char *why, size_t why_cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (why && why_cap) snprintf(why, why_cap, "%s: %s", path, strerror(errno));
    return LMM_ERR_IO;
  }
  size_t cap = 64 * 1024, n = 0;
  char *b = malloc(cap);
  lmm_err rc = b ? LMM_OK : LMM_ERR_NOMEM;
  while (rc == LMM_OK) {
    if (n == cap) {
      if (cap > LMMI_DDF_MAX_BYTES) {
        if (why && why_cap)
          snprintf(why, why_cap, "%s: larger than a DDF file may be (%u bytes)", path,
                   LMMI_DDF_MAX_BYTES);
        rc = LMM_ERR_ARG;
        break;
      }
      char *nb = realloc(b, cap * 2);
      if (!nb) {
        rc = LMM_ERR_NOMEM;
        break;
      }
      b = nb, cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        if (why && why_cap) snprintf(why, why_cap, "%s: %s", path, strerror(errno));
        rc = LMM_ERR_IO;
      }
      break;
    }
  }
  fclose(f);
  if (rc == LMM_OK && n > LMMI_DDF_MAX_BYTES) {
    if (why && why_cap)
      snprintf(why, why_cap, "%s: larger than a DDF file may be (%u bytes)", path,
               LMMI_DDF_MAX_BYTES);
    rc = LMM_ERR_ARG;
  }
  if (rc != LMM_OK) {
    free(b);
    return rc;
  }
  *buf = b, *len = n;
  return LMM_OK;
}
