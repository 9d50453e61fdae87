/* registry.c - lmm_objects: object definitions loaded from DDF files, looked up before the
 * built-in ones. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ddf.h"
#include "lwm2m_mbms/objects.h"

struct lmm_objects {
  lmmi_ddf_list defs; /* each definition allocated on its own: pointers stay valid */
  char **from;        /* the file each definition came from, for redefinition messages */
  size_t from_cap;
  char errmsg[512];
};

static void say(lmm_objects *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(lmm_objects *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(o->errmsg, sizeof o->errmsg, fmt, ap);
  va_end(ap);
}

LMM_API lmm_err lmm_objects_new(lmm_objects **out) {
  if (!out) return LMM_ERR_ARG;
  lmm_objects *o = calloc(1, sizeof *o);
  if (!o) return LMM_ERR_NOMEM;
  *out = o;
  return LMM_OK;
}

/* Drops the definitions loaded after the first `keep`. */
static void truncate_to(lmm_objects *o, size_t keep) {
  for (size_t i = keep; i < o->defs.n; i++) {
    lmmi_ddf_def_free(o->defs.defs[i]);
    free(o->from[i]);
  }
  if (o->defs.n > keep) o->defs.n = keep;
}

LMM_API void lmm_objects_free(lmm_objects *o) {
  if (!o) return;
  truncate_to(o, 0);
  free(o->defs.defs);
  free(o->from);
  free(o);
}

LMM_API const char *lmm_objects_errmsg(const lmm_objects *o) {
  return o ? o->errmsg : "";
}

/* Adds what `name` defines; all of it or (on failure) none. */
static lmm_err add_parsed(lmm_objects *o, const char *name, lmmi_ddf_list *got) {
  for (size_t i = 0; i < got->n; i++)
    for (size_t j = 0; j < o->defs.n; j++)
      if (o->defs.defs[j]->oid == got->defs[i]->oid) {
        say(o, "%s: object %u (%s) is defined already by %s", name, got->defs[i]->oid,
            got->defs[i]->name, o->from[j]);
        return LMM_ERR_ARG;
      }
  if (o->defs.n + got->n > o->from_cap) {
    size_t nc = (o->defs.n + got->n) * 2;
    char **nf = realloc(o->from, nc * sizeof *nf);
    if (!nf) return LMM_ERR_NOMEM;
    o->from = nf, o->from_cap = nc;
  }
  size_t first = o->defs.n;
  for (size_t i = 0; i < got->n; i++) {
    char *f = strdup(name);
    if (!f) {
      truncate_to(o, first);
      return LMM_ERR_NOMEM;
    }
    if (o->defs.n == o->defs.cap) {
      size_t nc = o->defs.cap ? o->defs.cap * 2 : 8;
      lmm_obj_def **nd = realloc(o->defs.defs, nc * sizeof *nd);
      if (!nd) {
        free(f);
        truncate_to(o, first);
        return LMM_ERR_NOMEM;
      }
      o->defs.defs = nd, o->defs.cap = nc;
    }
    o->from[o->defs.n] = f;
    o->defs.defs[o->defs.n++] = got->defs[i];
    got->defs[i] = NULL; /* the registry owns it now */
  }
  return LMM_OK;
}

/* Parses and adds one DDF; `got` is cleared in every case. */
static lmm_err load_buf(lmm_objects *o, const char *name, const void *buf, size_t len) {
  lmmi_ddf_list got = {0};
  char why[sizeof o->errmsg];
  lmm_err rc = lmmi_ddf_parse(name, buf, len, &got, why, sizeof why);
  if (rc != LMM_OK)
    say(o, "%s", why[0] ? why : lmm_strerror(rc));
  else
    rc = add_parsed(o, name, &got);
  if (rc == LMM_ERR_NOMEM && !o->errmsg[0]) say(o, "%s: out of memory", name);
  for (size_t i = 0; i < got.n; i++) /* what was not taken (after a failure) */
    lmmi_ddf_def_free(got.defs[i]);
  free(got.defs);
  return rc;
}

static lmm_err load_path(lmm_objects *o, const char *path, const char *name) {
  char *buf = NULL;
  size_t len = 0;
  char why[sizeof o->errmsg];
  lmm_err rc = lmmi_ddf_read_file(path, &buf, &len, why, sizeof why);
  if (rc != LMM_OK) {
    say(o, "%s", why[0] ? why : lmm_strerror(rc));
    return rc;
  }
  rc = load_buf(o, name, buf, len);
  free(buf);
  return rc;
}

LMM_API lmm_err lmm_objects_load_mem(lmm_objects *o, const char *name, const void *buf,
                                     size_t len) {
  if (!o || (!buf && len)) return LMM_ERR_ARG;
  o->errmsg[0] = '\0';
  return load_buf(o, name ? name : "(memory)", buf, len);
}

LMM_API lmm_err lmm_objects_load_file(lmm_objects *o, const char *path) {
  if (!o || !path) return LMM_ERR_ARG;
  o->errmsg[0] = '\0';
  return load_path(o, path, path);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_ddf_name(const char *n) {
  size_t l = strlen(n);
  return l > 4 && n[0] != '.' && !strcmp(n + l - 4, ".xml");
}

LMM_API lmm_err lmm_objects_load_dir(lmm_objects *o, const char *dir) {
  if (!o || !dir) return LMM_ERR_ARG;
  o->errmsg[0] = '\0';
  DIR *d = opendir(dir);
  if (!d) {
    say(o, "cannot open the directory: %s", strerror(errno));
    return LMM_ERR_IO;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  lmm_err rc = LMM_OK;
  struct dirent *e;
  while (rc == LMM_OK && (e = readdir(d)) != NULL) {
    if (!is_ddf_name(e->d_name)) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **nn = realloc(names, nc * sizeof *nn);
      if (!nn) {
        rc = LMM_ERR_NOMEM;
        break;
      }
      names = nn, cap = nc;
    }
    if (!(names[n] = strdup(e->d_name)))
      rc = LMM_ERR_NOMEM;
    else
      n++;
  }
  closedir(d);
  if (rc == LMM_OK && n == 0) {
    say(o, "no DDF file (*.xml) in the directory");
    rc = LMM_ERR_ARG;
  }
  if (n) qsort(names, n, sizeof *names, by_name);
  size_t keep = o->defs.n;
  for (size_t i = 0; rc == LMM_OK && i < n; i++) {
    size_t pl = strlen(dir) + strlen(names[i]) + 2;
    char *path = malloc(pl);
    if (!path) {
      rc = LMM_ERR_NOMEM;
      break;
    }
    snprintf(path, pl, "%s/%s", dir, names[i]);
    struct stat st;
    /* A subdirectory called x.xml is no DDF file: skipped like any other non-file. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
      free(path);
      continue;
    }
    rc = load_path(o, path, names[i]);
    free(path);
  }
  if (rc != LMM_OK) truncate_to(o, keep);
  if (rc == LMM_ERR_NOMEM && !o->errmsg[0]) say(o, "out of memory");
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return rc;
}

LMM_API const lmm_obj_def *lmm_objects_get(const lmm_objects *o, uint16_t oid) {
  for (size_t i = 0; o && i < o->defs.n; i++)
    if (o->defs.defs[i]->oid == oid) return o->defs.defs[i];
  return lmm_obj_def_oma(oid);
}

LMM_API size_t lmm_objects_count(const lmm_objects *o) {
  return o ? o->defs.n : 0;
}

LMM_API const lmm_obj_def *lmm_objects_at(const lmm_objects *o, size_t i) {
  return o && i < o->defs.n ? o->defs.defs[i] : NULL;
}
