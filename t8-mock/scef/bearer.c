/* bearer.c - the simulated MBMS bearers (UDP multicast) and the MB2-U user-plane ports. */
#include "mock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UP_RCVBUF   (8 * 1024 * 1024) /* receive buffer asked for each MB2-U socket */
#define UP_RX_BURST 64u               /* datagrams read from one MB2-U socket per wake-up */

int mock_bearer_open(mock *m) {
  unsigned char loop = 1, ttl = 1;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* Loopback by default: receivers join the group on 127.0.0.1, so the sender must leave by
   * that interface and loop its datagrams back; TTL 1 keeps them off any real network. */
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m->cfg.bearer_if, sizeof m->cfg.bearer_if) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  m->bearer_fd = fd;
  return 0;
}

bool mock_bearer_send(mock *m, const char *tmgi, uint32_t service_id, const void *data, size_t len,
                      const char *transaction) {
  struct sockaddr_in to;
  char group[INET_ADDRSTRLEN];
  char err[128] = "";
  bool dropped = mock_chance(m, m->cfg.loss);
  bool ok = true;
  cJSON *o;

  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons(m->cfg.bearer_port);
  /* NOTES section 4: the bearer of service id aabbcc is 239.<aa>.<bb>.<cc>. */
  to.sin_addr.s_addr = htonl(0xEF000000u | (service_id & 0xFFFFFFu));
  inet_ntop(AF_INET, &to.sin_addr, group, sizeof group);
  if (!dropped) {
    ssize_t n = sendto(m->bearer_fd, data, len, 0, (const struct sockaddr *)&to, sizeof to);
    if (n < 0 || (size_t)n != len) {
      ok = false;
      if (n < 0)
        strerror_r(errno, err, sizeof err);
      else
        snprintf(err, sizeof err, "short send");
    }
  }
  o = mlog_begin("bearer_send");
  cJSON_AddStringToObject(o, "tmgi", tmgi);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddNumberToObject(o, "port", m->cfg.bearer_port);
  cJSON_AddNumberToObject(o, "bytes", (double)len);
  cJSON_AddBoolToObject(o, "dropped", dropped);
  mlog_str(o, "transaction", transaction);
  if (!ok) cJSON_AddStringToObject(o, "error", err);
  mlog_emit(&m->log, o);
  return ok;
}

int mock_up_open_locked(mock *m, mock_gmd *g) {
  struct sockaddr_storage sa = m->cfg.up_sa;
  socklen_t len = sizeof sa;
  uint16_t port;
  char *addr;
  int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&sa, m->cfg.up_len) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                        : ((struct sockaddr_in *)&sa)->sin_port);
  /* A firmware campaign sends thousands of fragments as a paced burst, and each is logged
   * twice before the next is read: with the default buffer (208 KiB, about a hundred
   * datagrams) a slow turn of this thread made the kernel drop some, which the adapter could
   * only take for radio loss. Best effort, as in the simulator: SO_RCVBUFFORCE as root, else
   * up to net.core.rmem_max. SO_RXQ_OVFL makes what is still dropped visible in the log. */
  int want = UP_RCVBUF, got = 0, one = 1;
  socklen_t gl = sizeof got;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  addr = strdup(m->cfg.up_addr);
  if (!addr) {
    close(fd);
    return -1;
  }
  free(g->g.scef_ipv4);
  free(g->g.scef_ipv6);
  g->g.scef_ipv4 = sa.ss_family == AF_INET ? addr : NULL;
  g->g.scef_ipv6 = sa.ss_family == AF_INET6 ? addr : NULL;
  g->g.scef_port = port;
  g->up_fd = fd;
  g->up_port = port;
  {
    cJSON *o = mlog_begin("user_plane_open");
    mlog_str(o, "transaction", g->g.self);
    cJSON_AddStringToObject(o, "addr", m->cfg.up_addr);
    cJSON_AddNumberToObject(o, "port", port);
    cJSON_AddNumberToObject(o, "rcvbuf", got);
    mlog_emit(&m->log, o);
  }
  g->up_overflow = 0;
  mock_up_wake(m);
  return 0;
}

void mock_up_close_locked(mock *m, mock_gmd *g) {
  cJSON *o;
  if (g->up_fd < 0) return;
  /* Only the user-plane thread closes: it may be polling this fd right now, and a number
   * closed here could be reused by a new socket before its poll() returns. */
  if (m->n_up_closing == m->cap_up_closing) {
    size_t cap = m->cap_up_closing ? 2 * m->cap_up_closing : 16;
    int *p = realloc(m->up_closing, cap * sizeof *p);
    if (!p) {
      /* Cannot queue it: leave it open (a leak of one fd) rather than race the thread. */
      mlog_text(&m->log, "out of memory: user-plane port %u stays open", (unsigned)g->up_port);
      g->up_fd = -1;
      return;
    }
    m->up_closing = p;
    m->cap_up_closing = cap;
  }
  m->up_closing[m->n_up_closing++] = g->up_fd;
  o = mlog_begin("user_plane_close");
  mlog_str(o, "transaction", g->g.self);
  cJSON_AddNumberToObject(o, "port", g->up_port);
  mlog_emit(&m->log, o);
  g->up_fd = -1;
  mock_up_wake(m);
}

void mock_up_wake(mock *m) {
  ssize_t n = write(m->wake[1], "w", 1);
  (void)n; /* a full pipe already means "wake up" */
}

/* What the thread needs about the delivery that owns a readable socket, copied under the lock. */
typedef struct up_hit {
  char tmgi[16];
  uint32_t sid;
  char *self;
  bool first;
  uint32_t dropped; /* dropped by the kernel since the last datagram logged */
} up_hit;

/* `overflow`: the socket's count of kernel drops, as the datagram came (SO_RXQ_OVFL). */
static bool up_lookup(mock *m, int fd, uint32_t overflow, up_hit *h) {
  bool found = false;
  pthread_mutex_lock(&m->mu);
  for (mock_tmgi *t = m->tmgis; t && !found; t = t->next)
    for (mock_gmd *g = t->gmds; g; g = g->next)
      if (g->up_fd == fd) {
        memcpy(h->tmgi, t->tmgi, sizeof h->tmgi);
        h->sid = t->service_id;
        h->self = strdup(g->g.self ? g->g.self : "");
        h->first = !g->up_forwarded;
        h->dropped = overflow - g->up_overflow;
        g->up_overflow = overflow;
        found = h->self != NULL;
        break;
      }
  pthread_mutex_unlock(&m->mu);
  return found;
}

/* One datagram from an MB2-U socket: false when none is waiting. */
static bool up_forward(mock *m, int fd, uint8_t *buf, size_t cap) {
  up_hit h;
  cJSON *o;
  bool fits, ok;
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(uint32_t))];
  } ctl;
  struct iovec iov = {buf, cap};
  struct msghdr mh = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
  uint32_t overflow = 0;
  ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0) return false;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
      memcpy(&overflow, CMSG_DATA(c), sizeof overflow);
  /* Its delivery is gone; the socket is about to be closed. */
  if (!up_lookup(m, fd, overflow, &h)) return true;
  if (h.dropped) {
    /* Not the configured --loss: the mock itself fell behind. Loud, so that a test that
     * sees repairs it did not ask for can tell why. */
    o = mlog_begin("user_plane_overflow");
    cJSON_AddStringToObject(o, "transaction", h.self);
    cJSON_AddNumberToObject(o, "dropped", h.dropped);
    cJSON_AddNumberToObject(o, "dropped_total", overflow);
    mlog_emit(&m->log, o);
    fprintf(stderr,
            "t8-mock: MB2-U port of %s: %u datagrams dropped by the kernel (receive "
            "buffer full)\n",
            h.self, h.dropped);
  }
  fits = (size_t)n <= m->cfg.max_datagram && (size_t)n <= cap;
  o = mlog_begin("user_plane_rx");
  cJSON_AddStringToObject(o, "transaction", h.self);
  cJSON_AddNumberToObject(o, "bytes", (double)n);
  cJSON_AddBoolToObject(o, "forwarded", fits);
  mlog_emit(&m->log, o);
  if (fits) {
    ok = mock_bearer_send(m, h.tmgi, h.sid, buf, (size_t)n, h.self);
    if (ok && h.first) {
      /* Once per delivery: the SCEF reports that it triggered the MBMS delivery. */
      pthread_mutex_lock(&m->mu);
      mock_tmgi *t;
      for (t = m->tmgis; t; t = t->next) {
        mock_gmd *g;
        for (g = t->gmds; g; g = g->next)
          if (g->up_fd == fd && !g->up_forwarded) {
            g->up_forwarded = true;
            mock_notify_delivery_locked(m, g, true);
            break;
          }
      }
      pthread_mutex_unlock(&m->mu);
    }
  }
  free(h.self);
  return true;
}

static void *up_main(void *arg) {
  mock *m = arg;
  size_t cap = 16;
  struct pollfd *pfd = malloc(cap * sizeof *pfd);
  uint8_t *buf = malloc(65536);

  if (!buf || !pfd) {
    free(buf);
    free(pfd);
    return NULL;
  }
  pthread_mutex_lock(&m->mu);
  while (!atomic_load(&m->stopping)) {
    size_t n = 1;
    for (size_t i = 0; i < m->n_up_closing; i++)
      close(m->up_closing[i]);
    m->n_up_closing = 0;
    for (mock_tmgi *t = m->tmgis; t; t = t->next)
      for (mock_gmd *g = t->gmds; g; g = g->next)
        n += g->up_fd >= 0;
    if (n > cap) {
      struct pollfd *p = realloc(pfd, n * sizeof *p);
      if (p) {
        pfd = p;
        cap = n;
      }
    }
    n = 1;
    pfd[0].fd = m->wake[0];
    pfd[0].events = POLLIN;
    for (mock_tmgi *t = m->tmgis; t; t = t->next)
      for (mock_gmd *g = t->gmds; g && n < cap; g = g->next)
        if (g->up_fd >= 0) {
          pfd[n].fd = g->up_fd;
          pfd[n].events = POLLIN;
          n++;
        }
    pthread_mutex_unlock(&m->mu);

    if (poll(pfd, n, -1) > 0) {
      if (pfd[0].revents) {
        char drain[64];
        while (read(m->wake[0], drain, sizeof drain) > 0)
          ;
      }
      for (size_t i = 1; i < n; i++)
        if (pfd[i].revents & POLLIN) /* a burst per wake-up: each poll set costs the lock */
          for (unsigned k = 0; k < UP_RX_BURST && up_forward(m, pfd[i].fd, buf, 65536); k++)
            ;
    }
    pthread_mutex_lock(&m->mu);
  }
  pthread_mutex_unlock(&m->mu);
  free(pfd);
  free(buf);
  return NULL;
}

int mock_up_start(mock *m) {
  if (pthread_create(&m->up_th, NULL, up_main, m) != 0) return -1;
  m->up_started = true;
  return 0;
}

void mock_up_join(mock *m) {
  if (!m->up_started) return;
  mock_up_wake(m);
  pthread_join(m->up_th, NULL);
  m->up_started = false;
}
