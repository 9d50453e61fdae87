/* client.c - T8 SCS/AS client: GMD-via-MB2 requests over libcurl's multi interface, driven by
 * the context's event loop, with retries, OAuth2 bearer tokens and typed results. This file: the
 * client's life and the libcurl glue (client_http.c: one request over HTTP; client_calls.c: the
 * calls). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t8/client_impl.h"
#include "t8/client_internal.h"

/* ------------------------------------------------------------ curl multi glue */

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)e, (void)socketp;
  lmm_t8_client *cl = userp;
  size_t i = 0;
  while (i < cl->n_socks && cl->socks[i].fd != s)
    i++;
  if (what == CURL_POLL_REMOVE) {
    if (i < cl->n_socks) cl->socks[i] = cl->socks[--cl->n_socks];
    return 0;
  }
  if (i == cl->n_socks) {
    if (cl->n_socks == cl->cap_socks) {
      size_t cap = cl->cap_socks ? cl->cap_socks * 2 : 8;
      sockent *n = realloc(cl->socks, cap * sizeof *n);
      if (!n) return -1; /* curl fails the transfer: an honest NOMEM-as-transport error */
      cl->socks = n, cl->cap_socks = cap;
    }
    cl->socks[cl->n_socks++].fd = s;
  }
  cl->socks[i].events =
      (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  lmm_t8_client *cl = userp;
  cl->curl_deadline = timeout_ms < 0 ? -1 : lmm_ctx_now_ms(cl->ctx) + timeout_ms;
  return 0;
}

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  lmm_t8_client *cl = self;
  for (size_t i = 0; i < cl->n_socks && i < cap; i++)
    pfd[i] = (struct pollfd){.fd = cl->socks[i].fd, .events = cl->socks[i].events};
  return cl->n_socks;
}

static int64_t src_deadline(void *self) {
  return ((lmm_t8_client *)self)->curl_deadline;
}

static void drain_done(lmm_t8_client *cl) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(cl->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      lmm_t8_request *r = NULL;
      CURLcode cc = m->data.result;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
      lmmi_t8_request_finish(r, cc);
    }
}

static void src_process(void *self, const struct pollfd *pfd, size_t n) {
  lmm_t8_client *cl = self;
  int running;
  for (size_t i = 0; i < n; i++) {
    if (!pfd[i].revents) continue;
    bool ours = false;
    for (size_t k = 0; k < cl->n_socks && !ours; k++)
      ours = cl->socks[k].fd == pfd[i].fd;
    if (!ours) continue;
    int mask = ((pfd[i].revents & POLLIN) ? CURL_CSELECT_IN : 0) |
               ((pfd[i].revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
               ((pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(cl->multi, pfd[i].fd, mask, &running);
  }
  if (cl->curl_deadline >= 0 && cl->curl_deadline <= lmm_ctx_now_ms(cl->ctx)) {
    cl->curl_deadline = -1;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  drain_done(cl);
}

/* ------------------------------------------------------------------ client */

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

LMM_API lmm_err lmm_t8_client_new(lmm_ctx *ctx, const lmm_t8_config *cfg, lmm_t8_client **out) {
  if (!ctx || !cfg || !out || !cfg->api_root || !cfg->scs_as_id || !*cfg->scs_as_id)
    return LMM_ERR_ARG;
  if (strncmp(cfg->api_root, "http://", 7) && strncmp(cfg->api_root, "https://", 8))
    return LMM_ERR_ARG;
  /* scsAsId becomes a path segment: refuse what would change the path. */
  for (const char *p = cfg->scs_as_id; *p; p++)
    if (*p == '/' || *p == '?' || *p == '#' || *p == '%' || isspace((unsigned char)*p) ||
        iscntrl((unsigned char)*p))
      return LMM_ERR_ARG;
  if (cfg->token_file) {
    FILE *f = fopen(cfg->token_file, "r");
    if (!f) return LMM_ERR_IO;
    fclose(f);
  }
  lmm_t8_client *cl = calloc(1, sizeof *cl);
  if (!cl) return LMM_ERR_NOMEM;
  cl->ctx = ctx;
  cl->cfg = *cfg;
  cl->api_root = strdup(cfg->api_root);
  cl->scs_as_id = strdup(cfg->scs_as_id);
  cl->token = dup_or_null(cfg->token);
  cl->token_file = dup_or_null(cfg->token_file);
  cl->ca_file = dup_or_null(cfg->ca_file);
  cl->curl_deadline = -1;
  lmm_err rc = LMM_ERR_NOMEM;
  if (!cl->api_root || !cl->scs_as_id || (cfg->token && !cl->token) ||
      (cfg->token_file && !cl->token_file) || (cfg->ca_file && !cl->ca_file))
    goto fail;
  size_t rl = strlen(cl->api_root);
  while (rl > 0 && cl->api_root[rl - 1] == '/')
    cl->api_root[--rl] = '\0';
  cl->base_url = malloc(rl + sizeof LMM_T8_BASE_PATH);
  if (!cl->base_url) goto fail;
  memcpy(cl->base_url, cl->api_root, rl);
  memcpy(cl->base_url + rl, LMM_T8_BASE_PATH, sizeof LMM_T8_BASE_PATH);
  cl->cfg.api_root = cl->api_root, cl->cfg.scs_as_id = cl->scs_as_id;
  cl->cfg.token = cl->token, cl->cfg.token_file = cl->token_file, cl->cfg.ca_file = cl->ca_file;
  if (cl->cfg.max_response == 0) cl->cfg.max_response = 1u << 20;
  if (cl->cfg.retry_base_ms <= 0) cl->cfg.retry_base_ms = 200;
  if (cl->cfg.retry_max_ms <= 0) cl->cfg.retry_max_ms = 30000;
  if (cl->cfg.max_retries < 0) cl->cfg.max_retries = 0;
  if (!(cl->multi = curl_multi_init())) goto fail;
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
  cl->source = (lmmi_source){src_pollfds, src_deadline, src_process, cl, LMMI_ORDER_CLIENT};
  if ((rc = lmmi_ctx_add_source(ctx, &cl->source)) != LMM_OK) goto fail;
  *out = cl;
  return LMM_OK;
fail:
  if (cl->multi) curl_multi_cleanup(cl->multi);
  free(cl->base_url), free(cl->api_root), free(cl->scs_as_id), free(cl->token);
  free(cl->token_file), free(cl->ca_file), free(cl);
  return rc;
}

void lmmi_t8_request_free(lmm_t8_request *r) {
  lmm_t8_client *cl = r->cl;
  if (r->prev)
    r->prev->next = r->next;
  else
    cl->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  if (r->retry_timer) lmmi_timer_cancel(cl->ctx, r->retry_timer);
  if (r->dest[0] && cl->notifier) lmmi_notifier_release(cl->notifier, r->dest);
  if (r->easy) {
    curl_multi_remove_handle(cl->multi, r->easy);
    curl_easy_cleanup(r->easy);
  }
  curl_slist_free_all(r->headers);
  free(r->url), free(r->body), free(r->tmgi), free(r->txn), free(r->resp.data);
  free(r->location), free(r->resp_type);
  free(r);
}

LMM_API void lmm_t8_client_free(lmm_t8_client *cl) {
  if (!cl) return;
  while (cl->reqs)
    lmmi_t8_request_free(cl->reqs);
  lmmi_ctx_remove_source(cl->ctx, &cl->source);
  curl_multi_cleanup(cl->multi);
  free(cl->socks), free(cl->base_url), free(cl->api_root), free(cl->scs_as_id);
  free(cl->token), free(cl->token_file), free(cl->ca_file);
  free(cl);
}

lmm_ctx *lmmi_t8_client_ctx(const lmm_t8_client *cl) {
  return cl->ctx;
}

LMM_API const char *lmm_t8_client_base_url(const lmm_t8_client *cl) {
  return cl->base_url;
}

LMM_API void lmm_t8_client_attach_notifier(lmm_t8_client *cl, lmm_t8_notifier *n) {
  /* Destinations of creates in flight belong to the receiver that handed them out. */
  for (lmm_t8_request *r = cl->reqs; r && n != cl->notifier; r = r->next)
    if (r->dest[0]) {
      if (cl->notifier) lmmi_notifier_release(cl->notifier, r->dest);
      r->dest[0] = '\0';
    }
  cl->notifier = n;
}

LMM_API void lmm_t8_request_cancel(lmm_t8_request *r) {
  if (r) lmmi_t8_request_free(r);
}
