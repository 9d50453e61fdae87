/* main.c - t8-mock: start-up, signals and clean shutdown of the mock SCEF (the command line is
 * opts.c). */
#include "mock.h"
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lwm2m_mbms/t8.h"

/* apiRoot, base URL and the path served (the apiRoot's own path, if any, comes first). */
static int set_urls(mock *m) {
  char buf[256];
  const char *root = m->cfg.api_root_arg, *p;
  size_t n;
  if (!root) {
    const char *scheme = m->cfg.tls_cert ? "https" : "http";
    if (m->cfg.listen_sa.ss_family == AF_INET6)
      snprintf(buf, sizeof buf, "%s://[%s]:%u", scheme, m->cfg.listen_host, (unsigned)m->port);
    else
      snprintf(buf, sizeof buf, "%s://%s:%u", scheme, m->cfg.listen_host, (unsigned)m->port);
    root = buf;
  }
  m->api_root = strdup(root);
  if (!m->api_root) return -1;
  n = strlen(m->api_root);
  while (n && m->api_root[n - 1] == '/')
    m->api_root[--n] = '\0';
  m->base_url = malloc(n + sizeof LMM_T8_BASE_PATH);
  if (!m->base_url) return -1;
  memcpy(m->base_url, m->api_root, n);
  memcpy(m->base_url + n, LMM_T8_BASE_PATH, sizeof LMM_T8_BASE_PATH);
  p = strstr(m->base_url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  m->base_path = strdup(p ? p : LMM_T8_BASE_PATH);
  return m->base_path ? 0 : -1;
}

static int listen_socket(mock *m) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int one = 1, e;
  int fd = socket(m->cfg.listen_sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&m->cfg.listen_sa, m->cfg.listen_len) != 0 ||
      listen(fd, 128) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
    goto fail;
  m->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                           : ((struct sockaddr_in *)&sa)->sin_port);
  m->listen_fd = fd;
  return 0;
fail:
  e = errno;
  close(fd);
  errno = e;
  return -1;
}

static int write_ready(const char *file, uint16_t port) {
  size_t n = strlen(file);
  char *tmp = malloc(n + 5);
  FILE *f;
  int rc = -1;
  if (!tmp) return -1;
  memcpy(tmp, file, n);
  memcpy(tmp + n, ".tmp", 5);
  f = fopen(tmp, "w");
  if (f) {
    bool ok = fprintf(f, "%u\n", (unsigned)port) > 0;
    if (fclose(f) == 0 && ok && rename(tmp, file) == 0) rc = 0;
  }
  if (rc != 0) unlink(tmp);
  free(tmp);
  return rc;
}

/* The whole of a small file, NUL-terminated (libmicrohttpd takes certificates as PEM text). */
static char *read_pem(const char *file) {
  FILE *f = fopen(file, "r");
  char *buf = NULL, *grown;
  size_t len = 0, cap = 0, n;
  if (!f) return NULL;
  do {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (1u << 20) || !(grown = realloc(buf, cap))) { /* no key or chain is that big */
        free(buf);
        fclose(f);
        errno = EFBIG;
        return NULL;
      }
      buf = grown;
    }
    n = fread(buf + len, 1, 4096, f);
    len += n;
  } while (n > 0);
  buf[len] = '\0';
  if (ferror(f)) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static uint64_t seed_from_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

static void shutdown_all(mock *m) {
  pthread_mutex_lock(&m->mu);
  atomic_store(&m->stopping, true);
  pthread_cond_broadcast(&m->stop_cv);
  pthread_cond_broadcast(&m->notified_cv);
  pthread_cond_broadcast(&m->sched_cv);
  pthread_cond_broadcast(&m->send_cv);
  pthread_mutex_unlock(&m->mu);
  /* HTTP first: no new work arrives while the workers wind down. */
  mock_http_stop(m);
  mock_sched_join(m);
  mock_up_join(m);
}

int main(int argc, char **argv) {
  mock *m = calloc(1, sizeof *m);
  bool help = false;
  int rc, sig = 0;
  sigset_t set;
  cJSON *o;

  if (!m) {
    fputs("t8-mock: out of memory\n", stderr);
    return 1;
  }
  m->bearer_fd = -1;
  m->listen_fd = -1;
  m->wake[0] = m->wake[1] = -1;
  rc = mock_opts_parse(argc, argv, &m->cfg, &help);
  if (rc != 0 || help) {
    if (help) fputs(MOCK_USAGE, stdout);
    free(m->cfg.scs_as_ids);
    free(m);
    if (help && (fflush(stdout) != 0 || ferror(stdout))) return 1;
    return rc;
  }
  if (!m->cfg.seed_set) m->cfg.seed = seed_from_clock();

  /* Signals are taken by sigwait() below: block them before any thread exists so that every
   * thread (MHD's included) inherits the mask. */
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  rc = 1;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fputs("t8-mock: cannot initialise libcurl\n", stderr);
    free(m->cfg.scs_as_ids);
    free(m);
    return 1;
  }
  if (mlog_open(&m->log, m->cfg.log_file, m->cfg.verbose) != 0) {
    fprintf(stderr, "t8-mock: cannot open log '%s': %s\n", m->cfg.log_file, strerror(errno));
    curl_global_cleanup();
    free(m->cfg.scs_as_ids);
    free(m);
    return 1;
  }
  if (m->cfg.token_file && access(m->cfg.token_file, R_OK) != 0) {
    fprintf(stderr, "t8-mock: cannot read token file '%s': %s\n", m->cfg.token_file,
            strerror(errno));
    goto out_log;
  }
  if (m->cfg.tls_cert) {
    const char *bad = !(m->tls_cert_pem = read_pem(m->cfg.tls_cert)) ? m->cfg.tls_cert
                      : !(m->tls_key_pem = read_pem(m->cfg.tls_key)) ? m->cfg.tls_key
                                                                     : NULL;
    if (bad) {
      fprintf(stderr, "t8-mock: cannot read '%s': %s\n", bad, strerror(errno));
      goto out_log;
    }
  }
  if (mock_state_init(m) != 0) {
    fputs("t8-mock: cannot initialise threads\n", stderr);
    goto out_log;
  }
  if (mock_bearer_open(m) != 0) {
    fprintf(stderr, "t8-mock: cannot open the bearer socket on %s: %s\n", m->cfg.bearer_if_text,
            strerror(errno));
    goto out_state;
  }
  if (pipe(m->wake) != 0 || fcntl(m->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
      fcntl(m->wake[1], F_SETFL, O_NONBLOCK) != 0) {
    fprintf(stderr, "t8-mock: pipe: %s\n", strerror(errno));
    goto out_state;
  }
  /* Bound here rather than by MHD: the self links need the real port before the first
   * request can arrive. */
  if (listen_socket(m) != 0) {
    fprintf(stderr, "t8-mock: cannot listen on %s%s%s:%u: %s\n",
            m->cfg.listen_sa.ss_family == AF_INET6 ? "[" : "", m->cfg.listen_host,
            m->cfg.listen_sa.ss_family == AF_INET6 ? "]" : "",
            (unsigned)ntohs(((struct sockaddr_in *)&m->cfg.listen_sa)->sin_port), strerror(errno));
    goto out_state;
  }
  if (set_urls(m) != 0) {
    fputs("t8-mock: out of memory\n", stderr);
    goto out_state;
  }
  if (mock_persist_load(m) != 0) {
    fprintf(stderr, "t8-mock: cannot read state file '%s'\n", m->cfg.state_file);
    goto out_state;
  }
  if (mock_http_start(m) != 0) {
    fprintf(stderr, "t8-mock: cannot start the HTTP server%s\n",
            m->cfg.tls_cert ? " (is the TLS certificate or key unusable? --verbose says)" : "");
    goto out_state;
  }
  if (mock_sched_start(m) != 0 || mock_up_start(m) != 0) {
    fputs("t8-mock: cannot start threads\n", stderr);
    goto out_http;
  }
  if (m->cfg.ready_file && write_ready(m->cfg.ready_file, m->port) != 0) {
    fprintf(stderr, "t8-mock: cannot write ready file '%s': %s\n", m->cfg.ready_file,
            strerror(errno));
    goto out_http;
  }
  o = mlog_begin("start");
  cJSON_AddNumberToObject(o, "port", m->port);
  cJSON_AddStringToObject(o, "apiRoot", m->api_root);
  cJSON_AddStringToObject(o, "base", m->base_url);
  {
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->cfg.seed);
    cJSON_AddStringToObject(o, "seed", seed); /* a string: JSON numbers lose 64-bit values */
  }
  cJSON_AddNumberToObject(o, "bearerPort", m->cfg.bearer_port);
  cJSON_AddNumberToObject(o, "pid", (double)getpid());
  mlog_emit(&m->log, o);

  while (sigwait(&set, &sig) != 0)
    ;
  o = mlog_begin("stop");
  cJSON_AddStringToObject(o, "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
  mlog_emit(&m->log, o);
  rc = 0;

out_http:
  shutdown_all(m);
out_state:
  if (m->listen_fd >= 0) close(m->listen_fd); /* still ours: MHD never started with it */
  if (m->bearer_fd >= 0) close(m->bearer_fd);
  if (m->wake[0] >= 0) {
    close(m->wake[0]);
    close(m->wake[1]);
  }
  mock_state_free(m);
out_log:
  mlog_close(&m->log);
  curl_global_cleanup();
  free(m->tls_cert_pem);
  free(m->tls_key_pem);
  free(m->api_root);
  free(m->base_url);
  free(m->base_path);
  free(m->cfg.scs_as_ids);
  free(m);
  return rc;
}
