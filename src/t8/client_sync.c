/* client_sync.c - the blocking T8 calls: loops of lmm_ctx_run_once() over the asynchronous
 * ones, copying what the borrowed reply holds into the caller's objects. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/t8.h"
#include "t8/client_internal.h"
#include "lmm_wire/t8_json.h"

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static lmm_err problem_copy(lmm_problem *d, const lmm_problem *s) {
  memset(d, 0, sizeof *d);
  d->status = s->status;
  d->type = dup_or_null(s->type), d->title = dup_or_null(s->title);
  d->detail = dup_or_null(s->detail), d->instance = dup_or_null(s->instance);
  d->cause = dup_or_null(s->cause);
  bool ok = (!s->type || d->type) && (!s->title || d->title) && (!s->detail || d->detail) &&
            (!s->instance || d->instance) && (!s->cause || d->cause);
  if (ok && s->n_invalid_params) {
    d->invalid_params = calloc(s->n_invalid_params, sizeof *d->invalid_params);
    ok = d->invalid_params != NULL;
    for (size_t i = 0; ok && i < s->n_invalid_params; i++) {
      d->n_invalid_params = i + 1;
      d->invalid_params[i].param = dup_or_null(s->invalid_params[i].param);
      d->invalid_params[i].reason = dup_or_null(s->invalid_params[i].reason);
      ok = (!s->invalid_params[i].param || d->invalid_params[i].param) &&
           (!s->invalid_params[i].reason || d->invalid_params[i].reason);
    }
  }
  if (!ok) lmm_problem_clear(d);
  return ok ? LMM_OK : LMM_ERR_NOMEM;
}

typedef struct sync_call {
  bool done;
  lmm_err copy_err;
  lmm_t8_result *res;
  lmm_t8_result local;
  lmm_tmgi_allocation *alloc;
  lmm_tmgi_allocation **allocs;
  lmm_gmd *gmd;
  lmm_gmd **gmds;
  size_t *n;
  lmm_t8_request *req;
} sync_call;

static void sync_cb(void *user, const lmm_t8_reply *rep) {
  sync_call *s = user;
  s->done = true;
  lmm_t8_result *res = s->res;
  *res = *rep->result;
  res->problem = (lmm_problem){0};
  if (rep->result->has_problem && problem_copy(&res->problem, &rep->result->problem) != LMM_OK)
    res->has_problem = false;
  if (res->err != LMM_OK) return;
  lmm_err rc = LMM_OK;
  if (s->alloc && rep->allocation) rc = lmmw_t8_tmgi_allocation_copy(s->alloc, rep->allocation);
  if (s->gmd && rep->gmd) rc = lmmw_t8_gmd_copy(s->gmd, rep->gmd);
  if (s->allocs) {
    *s->n = 0;
    if (rep->n_allocations && !(*s->allocs = calloc(rep->n_allocations, sizeof **s->allocs)))
      rc = LMM_ERR_NOMEM;
    for (size_t i = 0; rc == LMM_OK && i < rep->n_allocations; i++, ++*s->n)
      rc = lmmw_t8_tmgi_allocation_copy(&(*s->allocs)[i], &rep->allocations[i]);
  }
  if (s->gmds) {
    *s->n = 0;
    if (rep->n_gmds && !(*s->gmds = calloc(rep->n_gmds, sizeof **s->gmds))) rc = LMM_ERR_NOMEM;
    for (size_t i = 0; rc == LMM_OK && i < rep->n_gmds; i++, ++*s->n)
      rc = lmmw_t8_gmd_copy(&(*s->gmds)[i], &rep->gmds[i]);
  }
  if (rc != LMM_OK) res->err = rc;
}

static lmm_err sync_run(lmm_t8_client *cl, sync_call *s, lmm_err started) {
  if (started != LMM_OK) {
    s->res->err = started;
    return started;
  }
  lmm_err io = LMM_OK;
  while (!s->done && io == LMM_OK)
    io = lmm_ctx_run_once(lmmi_t8_client_ctx(cl), 1000);
  if (!s->done) { /* the loop itself failed: drop the request, its callback would outlive s */
    lmm_t8_request_cancel(s->req);
    s->res->err = io;
    return io;
  }
  return s->res->err;
}

#define SYNC_INIT(res_)                                                                            \
  sync_call s = {0};                                                                               \
  s.res = (res_) ? (res_) : &s.local;                                                              \
  memset(s.res, 0, sizeof *s.res)
#define SYNC_RETURN(call)                                                                          \
  do {                                                                                             \
    lmm_err rc_ = sync_run(cl, &s, (call));                                                        \
    if (s.res == &s.local) lmm_t8_result_clear(&s.local);                                          \
    return rc_;                                                                                    \
  } while (0)

LMM_API lmm_err lmm_t8_tmgi_create(lmm_t8_client *cl, const lmm_tmgi_allocation *req,
                                   lmm_tmgi_allocation *out, lmm_t8_result *res) {
  SYNC_INIT(res);
  s.alloc = out;
  SYNC_RETURN(lmm_t8_tmgi_create_async(cl, req, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_tmgi_get(lmm_t8_client *cl, const char *tmgi, lmm_tmgi_allocation *out,
                                lmm_t8_result *res) {
  SYNC_INIT(res);
  s.alloc = out;
  SYNC_RETURN(lmm_t8_tmgi_get_async(cl, tmgi, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_tmgi_list(lmm_t8_client *cl, lmm_tmgi_allocation **out, size_t *n,
                                 lmm_t8_result *res) {
  if (!out || !n) return LMM_ERR_ARG;
  *out = NULL, *n = 0;
  SYNC_INIT(res);
  s.allocs = out, s.n = n;
  SYNC_RETURN(lmm_t8_tmgi_list_async(cl, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_tmgi_put(lmm_t8_client *cl, const char *tmgi, const lmm_tmgi_allocation *req,
                                lmm_tmgi_allocation *out, lmm_t8_result *res) {
  SYNC_INIT(res);
  s.alloc = out;
  SYNC_RETURN(lmm_t8_tmgi_put_async(cl, tmgi, req, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_tmgi_patch(lmm_t8_client *cl, const char *tmgi,
                                  const lmm_tmgi_allocation_patch *p, lmm_tmgi_allocation *out,
                                  lmm_t8_result *res) {
  SYNC_INIT(res);
  s.alloc = out;
  SYNC_RETURN(lmm_t8_tmgi_patch_async(cl, tmgi, p, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_tmgi_delete(lmm_t8_client *cl, const char *tmgi, lmm_t8_result *res) {
  SYNC_INIT(res);
  SYNC_RETURN(lmm_t8_tmgi_delete_async(cl, tmgi, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_gmd_create(lmm_t8_client *cl, const char *tmgi, const lmm_gmd *req,
                                  lmm_gmd *out, lmm_t8_result *res) {
  SYNC_INIT(res);
  s.gmd = out;
  SYNC_RETURN(lmm_t8_gmd_create_async(cl, tmgi, req, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_gmd_get(lmm_t8_client *cl, const char *tmgi, const char *txn, lmm_gmd *out,
                               lmm_t8_result *res) {
  SYNC_INIT(res);
  s.gmd = out;
  SYNC_RETURN(lmm_t8_gmd_get_async(cl, tmgi, txn, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_gmd_list(lmm_t8_client *cl, const char *tmgi, lmm_gmd **out, size_t *n,
                                lmm_t8_result *res) {
  if (!out || !n) return LMM_ERR_ARG;
  *out = NULL, *n = 0;
  SYNC_INIT(res);
  s.gmds = out, s.n = n;
  SYNC_RETURN(lmm_t8_gmd_list_async(cl, tmgi, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_gmd_put(lmm_t8_client *cl, const char *tmgi, const char *txn,
                               const lmm_gmd *req, lmm_gmd *out, lmm_t8_result *res) {
  SYNC_INIT(res);
  s.gmd = out;
  SYNC_RETURN(lmm_t8_gmd_put_async(cl, tmgi, txn, req, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_gmd_patch(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                 const lmm_gmd_patch *p, lmm_gmd *out, lmm_t8_result *res) {
  SYNC_INIT(res);
  s.gmd = out;
  SYNC_RETURN(lmm_t8_gmd_patch_async(cl, tmgi, txn, p, sync_cb, &s, &s.req));
}

LMM_API lmm_err lmm_t8_gmd_delete(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                  lmm_t8_result *res) {
  SYNC_INIT(res);
  SYNC_RETURN(lmm_t8_gmd_delete_async(cl, tmgi, txn, sync_cb, &s, &s.req));
}
