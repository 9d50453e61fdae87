/* client_calls.c - the asynchronous T8 calls: each builds its URL and body and starts a
 * request. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmm_wire/t8_json.h"
#include "t8/client_impl.h"

/* ------------------------------------------------------------ starting calls */

/* TMGIs and transaction ids are opaque to us but become path segments: refuse anything that
 * would turn into another path. */
static bool segment_ok(const char *s) {
  if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..")) return false;
  for (; *s; s++)
    if (*s == '/' || *s == '?' || *s == '#' || *s == '%' || isspace((unsigned char)*s) ||
        iscntrl((unsigned char)*s))
      return false;
  return true;
}

/* `dest` (may be NULL) is the create's per-delivery destination, which the request takes: it is
 * released on every failure, here or later. */
static lmm_err start_dest(lmm_t8_client *cl, lmm_t8_op op, const char *method, const char *tmgi,
                          const char *txn, char *body, const char *dest, lmm_t8_cb cb, void *user,
                          lmm_t8_request **out_req) {
  lmm_err rc = LMM_ERR_ARG;
  lmm_t8_request *r = NULL;
  if ((tmgi && !segment_ok(tmgi)) || (txn && !segment_ok(txn))) goto fail;
  rc = LMM_ERR_NOMEM;
  if (!(r = calloc(1, sizeof *r))) goto fail;
  if (dest) memcpy(r->dest, dest, sizeof r->dest), dest = NULL;
  r->cl = cl, r->op = op, r->method = method, r->cb = cb, r->user = user, r->body = body;
  body = NULL;
  r->content_type = !r->body                   ? NULL
                    : !strcmp(method, "PATCH") ? "application/merge-patch+json"
                                               : "application/json";
  size_t ul = strlen(cl->base_url) + strlen(cl->scs_as_id) + (tmgi ? strlen(tmgi) : 0) +
              (txn ? strlen(txn) : 0) + 64;
  if (!(r->url = malloc(ul))) goto fail;
  int w = snprintf(r->url, ul, "%s/%s/tmgi-allocation", cl->base_url, cl->scs_as_id);
  if (tmgi) w += snprintf(r->url + w, ul - (size_t)w, "/%s", tmgi);
  if (op >= LMM_T8_GMD_CREATE) w += snprintf(r->url + w, ul - (size_t)w, "/delivery-via-mbms");
  if (txn) snprintf(r->url + w, ul - (size_t)w, "/%s", txn);
  if ((tmgi && !(r->tmgi = strdup(tmgi))) || (txn && !(r->txn = strdup(txn)))) goto fail;
  r->next = cl->reqs;
  if (cl->reqs) cl->reqs->prev = r;
  cl->reqs = r;
  if ((rc = lmmi_t8_attempt_start(r)) != LMM_OK) {
    lmmi_t8_request_free(r);
    return rc;
  }
  if (out_req) *out_req = r;
  return LMM_OK;
fail:
  if (r && r->dest[0] && cl->notifier) lmmi_notifier_release(cl->notifier, r->dest);
  if (dest && cl->notifier) lmmi_notifier_release(cl->notifier, dest);
  if (r) free(r->url), free(r->tmgi), free(r->txn), free(r->body), free(r);
  free(body);
  return rc;
}

static lmm_err start(lmm_t8_client *cl, lmm_t8_op op, const char *method, const char *tmgi,
                     const char *txn, char *body, lmm_t8_cb cb, void *user,
                     lmm_t8_request **out_req) {
  return start_dest(cl, op, method, tmgi, txn, body, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_create_async(lmm_t8_client *cl, const lmm_tmgi_allocation *req,
                                         lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  static const lmm_tmgi_allocation empty = {0};
  char *body = NULL;
  if (req && req->external_group_id && !lmmw_t8_external_group_id_ok(req->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_tmgi_allocation_encode(req ? req : &empty, LMMW_T8_OMIT_RO, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_TMGI_CREATE, "POST", NULL, NULL, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_get_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req) {
  if (!tmgi) return LMM_ERR_ARG;
  return start(cl, LMM_T8_TMGI_GET, "GET", tmgi, NULL, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_list_async(lmm_t8_client *cl, lmm_t8_cb cb, void *user,
                                       lmm_t8_request **out_req) {
  return start(cl, LMM_T8_TMGI_LIST, "GET", NULL, NULL, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_put_async(lmm_t8_client *cl, const char *tmgi,
                                      const lmm_tmgi_allocation *req, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req) {
  char *body = NULL;
  if (!tmgi || !req) return LMM_ERR_ARG;
  if (req->external_group_id && !lmmw_t8_external_group_id_ok(req->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_tmgi_allocation_encode(req, LMMW_T8_OMIT_RO, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_TMGI_PUT, "PUT", tmgi, NULL, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_patch_async(lmm_t8_client *cl, const char *tmgi,
                                        const lmm_tmgi_allocation_patch *p, lmm_t8_cb cb,
                                        void *user, lmm_t8_request **out_req) {
  static const lmm_tmgi_allocation_patch empty = {0};
  char *body = NULL;
  if (!tmgi) return LMM_ERR_ARG;
  if (p && p->set_external_group_id && p->external_group_id &&
      !lmmw_t8_external_group_id_ok(p->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_tmgi_patch_encode(p ? p : &empty, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_TMGI_PATCH, "PATCH", tmgi, NULL, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_tmgi_delete_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb,
                                         void *user, lmm_t8_request **out_req) {
  if (!tmgi) return LMM_ERR_ARG;
  return start(cl, LMM_T8_TMGI_DELETE, "DELETE", tmgi, NULL, NULL, cb, user, out_req);
}

/* A delivery needs somewhere to be notified: the caller's URL, else the attached receiver's
 * `own` URL for this delivery, else the receiver's base URL. */
static lmm_err gmd_body(lmm_t8_client *cl, const lmm_gmd *req, const char *own, char **body) {
  if (!req) return LMM_ERR_ARG;
  if (req->external_group_id && !lmmw_t8_external_group_id_ok(req->external_group_id))
    return LMM_ERR_ARG;
  lmm_gmd g = *req;
  if (!g.notification_destination || !*g.notification_destination)
    g.notification_destination = own            ? (char *)own
                                 : cl->notifier ? (char *)lmm_t8_notifier_url(cl->notifier)
                                                : NULL;
  if (!g.notification_destination) return LMM_ERR_ARG;
  return lmmw_t8_gmd_encode(&g, LMMW_T8_OMIT_RO, body);
}

static bool wants_destination(const lmm_t8_client *cl, const lmm_gmd *req) {
  return cl->notifier && req && (!req->notification_destination || !*req->notification_destination);
}

LMM_API lmm_err lmm_t8_gmd_create_async(lmm_t8_client *cl, const char *tmgi, const lmm_gmd *req,
                                        lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  char *body = NULL, *url = NULL;
  char dest[LMMI_DEST_TOKEN_LEN + 1] = "";
  if (!tmgi || !req) return LMM_ERR_ARG;
  /* Registered before the POST leaves: behind a proxy the notification may come before the 201
   * that tells which transaction it is. */
  if (wants_destination(cl, req)) {
    lmm_err dr = lmmi_notifier_reserve(cl->notifier, dest, &url);
    if (dr == LMM_ERR_STATE && lmmi_notifier_strict(cl->notifier)) {
      /* The base URL would refuse its notification: better no delivery than a silent one. */
      lmmi_log(cl->ctx, LMM_LOG_ERROR,
               "T8: every notification destination awaits its 201: no room for another delivery");
      return dr;
    }
    if (dr == LMM_ERR_STATE)
      lmmi_log(cl->ctx, LMM_LOG_WARN,
               "T8: every notification destination awaits its 201: this delivery is notified at "
               "the base URL and matched only once its 201 is in");
    else if (dr != LMM_OK)
      return dr;
  }
  lmm_err rc = gmd_body(cl, req, url, &body);
  free(url);
  if (rc != LMM_OK) {
    if (dest[0]) lmmi_notifier_release(cl->notifier, dest);
    return rc;
  }
  return start_dest(cl, LMM_T8_GMD_CREATE, "POST", tmgi, NULL, body, dest[0] ? dest : NULL, cb,
                    user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_get_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                     lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  if (!tmgi || !txn) return LMM_ERR_ARG;
  return start(cl, LMM_T8_GMD_GET, "GET", tmgi, txn, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_list_async(lmm_t8_client *cl, const char *tmgi, lmm_t8_cb cb, void *user,
                                      lmm_t8_request **out_req) {
  if (!tmgi) return LMM_ERR_ARG;
  return start(cl, LMM_T8_GMD_LIST, "GET", tmgi, NULL, NULL, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_put_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                     const lmm_gmd *req, lmm_t8_cb cb, void *user,
                                     lmm_t8_request **out_req) {
  char *body = NULL, *url = NULL;
  if (!tmgi || !txn) return LMM_ERR_ARG;
  if (wants_destination(cl, req) && segment_ok(tmgi) && segment_ok(txn)) {
    /* A replacement keeps the delivery's own destination, when it has one. */
    char dest[LMMI_DEST_TOKEN_LEN + 1];
    size_t ll = strlen(cl->base_url) + strlen(cl->scs_as_id) + strlen(tmgi) + strlen(txn) + 64;
    char *link = malloc(ll);
    if (!link) return LMM_ERR_NOMEM;
    snprintf(link, ll, "%s/%s/tmgi-allocation/%s/delivery-via-mbms/%s", cl->base_url, cl->scs_as_id,
             tmgi, txn);
    lmm_err dr = LMM_OK;
    if (lmmi_notifier_token_of(cl->notifier, link, dest)) {
      if (!(url = lmmi_notifier_url_of(cl->notifier, dest))) dr = LMM_ERR_NOMEM;
    } else if (lmmi_notifier_strict(cl->notifier) &&
               (dr = lmmi_notifier_reserve(cl->notifier, dest, &url)) == LMM_OK) {
      /* A strict receiver refuses the base URL: the delivery gets a URL of its own, bound at
       * once since its link is known. */
      lmmi_notifier_bind(cl->notifier, dest, link);
      lmmi_notifier_flush(cl->notifier, dest, link); /* nothing can be held yet; keeps it BOUND */
    }
    free(link);
    if (dr != LMM_OK) return dr;
  }
  lmm_err rc = gmd_body(cl, req, url, &body);
  free(url);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_GMD_PUT, "PUT", tmgi, txn, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_patch_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                       const lmm_gmd_patch *p, lmm_t8_cb cb, void *user,
                                       lmm_t8_request **out_req) {
  char *body = NULL;
  if (!tmgi || !txn || !p) return LMM_ERR_ARG;
  if (p->set_external_group_id && p->external_group_id &&
      !lmmw_t8_external_group_id_ok(p->external_group_id))
    return LMM_ERR_ARG;
  lmm_err rc = lmmw_t8_gmd_patch_encode(p, &body);
  if (rc != LMM_OK) return rc;
  return start(cl, LMM_T8_GMD_PATCH, "PATCH", tmgi, txn, body, cb, user, out_req);
}

LMM_API lmm_err lmm_t8_gmd_delete_async(lmm_t8_client *cl, const char *tmgi, const char *txn,
                                        lmm_t8_cb cb, void *user, lmm_t8_request **out_req) {
  if (!tmgi || !txn) return LMM_ERR_ARG;
  return start(cl, LMM_T8_GMD_DELETE, "DELETE", tmgi, txn, NULL, cb, user, out_req);
}
