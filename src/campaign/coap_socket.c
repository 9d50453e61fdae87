/* coap_socket.c - the UDP socket under a libcoap server endpoint: its receive buffer widened
 * for bursts of answers, and the kernel's count of datagrams it dropped on that socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <coap3/coap.h>
#include <linux/sock_diag.h> /* SK_MEMINFO_* */

#include "campaign/campaign_internal.h"

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

/* libcoap 4.3.1 gives no access to an endpoint's socket. Its epoll fd does list what it
 * watches (/proc/self/fdinfo, "tfd:" lines), and a context made by lmmi_coap_listen() watches
 * one UDP socket (and a timerfd): that socket is the endpoint's. Looking there, rather than
 * at every descriptor of the process bound to the port, never touches a host's own socket
 * that shares the port. */
int lmmi_coap_udp_fd(coap_context_t *coap) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", coap_context_get_coap_fd(coap));
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int found = -1;
  while (found < 0 && fgets(line, sizeof line, f)) {
    int fd, type;
    socklen_t tl = sizeof type;
    if (sscanf(line, "tfd: %d", &fd) == 1 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
        type == SOCK_DGRAM)
      found = fd;
  }
  fclose(f);
  return found;
}

int lmmi_sock_widen_rcvbuf(int fd, int want) {
  if (fd < 0) return 0;
  /* SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it the kernel caps
   * SO_RCVBUF there. Either way the size granted is what counts, and is read back. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  int got = 0;
  socklen_t l = sizeof got;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &l);
  return got;
}

uint64_t lmmi_sock_drops(int fd) {
  uint32_t mi[SK_MEMINFO_VARS];
  socklen_t l = sizeof mi;
  memset(mi, 0, sizeof mi);
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &l) != 0 ||
      l < (SK_MEMINFO_DROPS + 1) * sizeof mi[0])
    return 0;
  return mi[SK_MEMINFO_DROPS];
}
