/* notifier.c - T8 notification receiver: an HTTP listener (libmicrohttpd) for the SCEF's
 * GMDByMb2Notification and TestNotification callbacks, at its base URL and at a URL of its own
 * for each delivery, and the same checks for a host's server. This file: its life, its event
 * source and the listener (notifier_handle.c: what a notification comes to). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/ctx_internal.h"
#include "lwm2m_mbms/t8.h"
#include "t8/notifier_internal.h"
#include "t8/notifier_impl.h"
#include "t8/notify_dest.h"

#define DEFAULT_BIND_ADDR "127.0.0.1"
#define DEFAULT_PATH      "/t8/notifications"
#define DEFAULT_MAX_BODY  ((size_t)64 * 1024)
#define DEFAULT_MAX_DESTS ((size_t)4096)
/* An idle connection is dropped after this long, so a stalled peer cannot pin memory. */
#define CONN_TIMEOUT_S 30u
/* A chunked body has no length to refuse up front and 0.9.75 cannot answer mid-body: what
 * exceeds max_body is read and dropped to answer 413 at its end, but no more than this much. */
#define DISCARD_MAX ((size_t)1 << 20)

/* What one HTTP request has gathered between calls of the access handler. */
typedef struct req_state {
  lmmi_path_kind kind;
  char token[LMMI_DEST_TOKEN_LEN + 1];
  char *buf;
  size_t len, cap;
  size_t seen; /* body bytes received, kept or not */
  bool too_big;
} req_state;

/* ------------------------------------------------------------ HTTP listener */

/* Queues a response; takes `problem` (sent as application/problem+json when not NULL). A 405
 * says what is allowed, a 503 when to come back. */
static enum MHD_Result reply(struct MHD_Connection *conn, int status, char *problem) {
  struct MHD_Response *r;
  enum MHD_Result ok;

  if (problem != NULL) {
    r = MHD_create_response_from_buffer(strlen(problem), problem, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
      free(problem);
      return MHD_NO;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json") !=
        MHD_YES) {
      MHD_destroy_response(r);
      return MHD_NO;
    }
  } else {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) return MHD_NO;
  }
  if ((status == 405 && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST") != MHD_YES) ||
      (status == 503 && MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES)) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  ok = MHD_queue_response(conn, (unsigned int)status, r);
  MHD_destroy_response(r); /* the connection keeps its own reference */
  return ok;
}

/* First call of a request: only the headers are in. Whatever can be refused from them is
 * refused now, before a byte of body is read (MHD then closes the connection after the
 * answer). Returns MHD_YES with *req_cls set to go on reading. */
static enum MHD_Result on_headers(lmm_t8_notifier *n, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **req_cls) {
  const char *ct, *cl;
  char *problem = NULL;
  req_state *st;
  int status;
  char token[LMMI_DEST_TOKEN_LEN + 1] = "";
  lmmi_path_kind kind = lmmi_notifier_classify(n, url, token);

  if (kind == LMMI_PATH_NONE)
    return reply(conn, 404,
                 lmmi_notifier_problem(404, "Not Found", "no such resource", NULL, NULL));
  /* Before anything else: without the token a sender learns nothing more than this 404. */
  if ((status = lmmi_notifier_refuse_path(n, kind, token, &problem)) != 0)
    return reply(conn, status, problem);
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
    return reply(
        conn, 405,
        lmmi_notifier_problem(405, "Method Not Allowed", "only POST is served here", NULL, NULL));
  ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!lmmi_notifier_content_type_ok(ct)) {
    /* Status first: the order in which arguments are evaluated is unspecified. */
    status = lmmi_notifier_reject_content_type(n, ct, &problem);
    return reply(conn, status, problem);
  }
  cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL) {
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(cl, &end, 10);
    /* MHD already refused a malformed Content-Length; an overflow is simply too large. */
    if (errno == ERANGE || (end != cl && v > n->max_body)) {
      status = lmmi_notifier_reject_too_large(n, &problem);
      return reply(conn, status, problem);
    }
  }
  st = calloc(1, sizeof *st);
  if (st == NULL) return MHD_NO;
  st->kind = kind;
  memcpy(st->token, token, sizeof st->token);
  *req_cls = st;
  return MHD_YES;
}

/* A piece of the body: kept while within max_body, dropped (but counted) beyond. */
static enum MHD_Result on_upload(lmm_t8_notifier *n, req_state *st, const char *data, size_t size) {
  st->seen += size;
  if (st->too_big || size > n->max_body - st->len) {
    if (!st->too_big) {
      free(st->buf);
      st->buf = NULL;
      st->len = st->cap = 0;
      st->too_big = true;
    }
    if (st->seen - n->max_body > DISCARD_MAX) {
      lmmi_log(n->ctx, LMM_LOG_WARN, "t8 notifier: dropping a connection sending %zu+ bytes",
               st->seen);
      return MHD_NO;
    }
    return MHD_YES;
  }
  if (st->len + size > st->cap) {
    size_t cap = st->cap ? st->cap : (n->max_body < 1024 ? n->max_body : 1024);
    char *grown;
    /* Doubling, but never past max_body (which bounds len + size, so this ends). */
    while (cap < st->len + size)
      cap = cap > n->max_body / 2 ? n->max_body : cap * 2;
    grown = realloc(st->buf, cap);
    if (grown == NULL) return MHD_NO;
    st->buf = grown;
    st->cap = cap;
  }
  memcpy(st->buf + st->len, data, size);
  st->len += size;
  return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls) {
  lmm_t8_notifier *n = cls;
  req_state *st = *req_cls;
  char *problem = NULL;
  int status;

  (void)version;
  if (st == NULL) return on_headers(n, conn, url, method, req_cls);
  if (*upload_data_size != 0) {
    size_t size = *upload_data_size;
    *upload_data_size = 0; /* all consumed, kept or dropped */
    return on_upload(n, st, upload_data, size);
  }
  if (st->too_big)
    status = lmmi_notifier_reject_too_large(n, &problem);
  else
    status = lmmi_notifier_handle_body(n, st->kind, st->token, st->buf, st->len, &problem);
  return reply(conn, status, problem);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  req_state *st = *req_cls;

  (void)cls;
  (void)conn;
  (void)toe;
  if (st != NULL) {
    free(st->buf);
    free(st);
    *req_cls = NULL;
  }
}

/* ------------------------------------------------------------ event source (loop mode) */

static size_t src_pollfds(void *self, struct pollfd *pfd, size_t cap) {
  lmm_t8_notifier *n = self;
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(n->daemon, MHD_DAEMON_INFO_EPOLL_FD);

  if (info == NULL) return 0;
  if (cap >= 1) {
    pfd[0].fd = info->epoll_fd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
  }
  return 1;
}

static int64_t src_deadline(void *self) {
  lmm_t8_notifier *n = self;
  MHD_UNSIGNED_LONG_LONG t;

  if (MHD_get_timeout(n->daemon, &t) != MHD_YES) return -1;
  if (t > INT32_MAX) t = INT32_MAX;
  return lmm_ctx_now_ms(n->ctx) + (int64_t)t;
}

static void src_process(void *self, const struct pollfd *pfd, size_t nfd) {
  lmm_t8_notifier *n = self;

  (void)pfd;
  (void)nfd;
  /* MHD's epoll set is edge-triggered inside: it may have work left over that no fd will
   * announce again (MHD_get_timeout() then says 0). Its manual asks for MHD_run() after every
   * poll whatever the fds say; with external polling MHD_run() never blocks. */
  (void)MHD_run(n->daemon);
}

/* ------------------------------------------------------------ life cycle */

/* Fills `ss` from a numeric address; false if it is neither IPv4 nor IPv6. */
static bool parse_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss, bool *v6) {
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

  memset(ss, 0, sizeof *ss);

  if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *v6 = true;
    return true;
  }
  return false;
}

static char *make_url(const char *addr, bool v6, uint16_t port, const char *path) {
  int len = snprintf(NULL, 0, v6 ? "http://[%s]:%u%s" : "http://%s:%u%s", addr, port, path);
  char *url;

  if (len < 0) return NULL;
  url = malloc((size_t)len + 1);
  if (url != NULL)
    snprintf(url, (size_t)len + 1, v6 ? "http://[%s]:%u%s" : "http://%s:%u%s", addr, port, path);
  return url;
}

/* The path of an absolute URL ("/" when it has none). Owned; NULL when out of memory. */
static char *url_path_of(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  return strdup(p ? p : "/");
}

static void notifier_destroy(lmm_t8_notifier *n) {
  size_t i;

  /* The daemon first: it may still run handlers (its own thread) and its shutdown hands each
   * open request back to on_completed(). Only then may the context stop polling it. */
  if (n->daemon != NULL) MHD_stop_daemon(n->daemon);
  if (n->source_added) lmmi_ctx_remove_source(n->ctx, &n->src);
  for (i = 0; i < n->n_links; i++)
    free(n->links[i]);
  free(n->links);
  if (n->dests_ready) lmmi_dests_clear(&n->dests);
  free(n->path);
  free(n->url);
  free(n->url_path);
  pthread_mutex_destroy(&n->mu);
  free(n);
}

LMM_API lmm_err lmm_t8_notifier_new(lmm_ctx *ctx, const lmm_t8_notifier_config *cfg,
                                    const lmm_t8_notifier_handlers *handlers, void *user,
                                    lmm_t8_notifier **out) {
  static const lmm_t8_notifier_config defaults = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  struct sockaddr_storage ss;
  const union MHD_DaemonInfo *info;
  const char *addr, *path;
  lmm_t8_notifier *n;
  unsigned int flags;
  uint16_t port;
  bool v6;
  lmm_err rc = LMM_ERR_NOMEM;

  if (ctx == NULL || out == NULL) return LMM_ERR_ARG;
  if (cfg == NULL) cfg = &defaults;
  /* An empty string means the default too, as a command line's unset option would pass it. */
  addr = cfg->bind_addr && cfg->bind_addr[0] ? cfg->bind_addr : DEFAULT_BIND_ADDR;
  path = cfg->path && cfg->path[0] ? cfg->path : DEFAULT_PATH;
  if (path[0] != '/' || !parse_addr(addr, cfg->port, &ss, &v6)) return LMM_ERR_ARG;
  /* Per-delivery URLs are the advertised one plus a path segment: no room for a query. */
  if (cfg->public_url && strpbrk(cfg->public_url, "?#")) return LMM_ERR_ARG;

  n = calloc(1, sizeof *n);
  if (n == NULL) return LMM_ERR_NOMEM;
  if (pthread_mutex_init(&n->mu, NULL) != 0) {
    free(n);
    return LMM_ERR_NOMEM;
  }
  n->ctx = ctx;
  n->handlers = handlers;
  n->user = user;
  n->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
  n->accept_unknown = cfg->accept_unknown;
  /* Accepting unknown transactions means serving where they can come: the base URL. */
  n->accept_base = cfg->accept_base || cfg->accept_unknown;
  n->own_thread = cfg->own_thread;
  n->path = strdup(path);
  if (n->path == NULL) goto fail;
  if (lmmi_dests_init(&n->dests,
                      cfg->max_destinations ? cfg->max_destinations : DEFAULT_MAX_DESTS) != LMM_OK)
    goto fail;
  n->dests_ready = true;

  /* Everything the handlers read is in place before the daemon starts: in thread mode the
   * first request may arrive before MHD_start_daemon() returns. */
  flags = MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0u) |
          (n->own_thread ? MHD_USE_INTERNAL_POLLING_THREAD : 0u);
  n->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, n, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, n,
                               MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, MHD_OPTION_END);
  if (n->daemon == NULL) {
    lmmi_log(ctx, LMM_LOG_ERROR, "t8 notifier: cannot listen on %s port %u", addr,
             (unsigned)cfg->port);
    rc = LMM_ERR_IO;
    goto fail;
  }
  info = MHD_get_daemon_info(n->daemon, MHD_DAEMON_INFO_BIND_PORT);
  port = info ? info->port : cfg->port;
  if (port == 0) { /* the ephemeral port is needed for the URL: without it we are unreachable */
    rc = LMM_ERR_IO;
    goto fail;
  }
  n->url = cfg->public_url && cfg->public_url[0] ? strdup(cfg->public_url)
                                                 : make_url(addr, v6, port, path);
  if (n->url == NULL || (n->url_path = url_path_of(n->url)) == NULL) goto fail;

  if (!n->own_thread) {
    n->src.pollfds = src_pollfds;
    n->src.deadline_ms = src_deadline;
    n->src.process = src_process;
    n->src.self = n;
    n->src.order = LMMI_ORDER_RECEIVER;
    rc = lmmi_ctx_add_source(ctx, &n->src);
    if (rc != LMM_OK) goto fail;
    n->source_added = true;
  }
  lmmi_log(ctx, LMM_LOG_INFO, "t8 notifier: listening on %s:%u%s (%s), advertised as %s", addr,
           (unsigned)port, path, n->own_thread ? "own thread" : "context loop", n->url);
  *out = n;
  return LMM_OK;
fail:
  notifier_destroy(n);
  return rc;
}

LMM_API void lmm_t8_notifier_free(lmm_t8_notifier *n) {
  if (n != NULL) notifier_destroy(n);
}

LMM_API const char *lmm_t8_notifier_url(const lmm_t8_notifier *n) {
  return n ? n->url : NULL;
}

LMM_API void lmm_t8_notifier_get_stats(lmm_t8_notifier *n, lmm_t8_notifier_stats *out) {
  if (out == NULL) return;
  if (n == NULL) {
    memset(out, 0, sizeof *out);
    return;
  }
  pthread_mutex_lock(&n->mu);
  *out = n->stats;
  pthread_mutex_unlock(&n->mu);
}
