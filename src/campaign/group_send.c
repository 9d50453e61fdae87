/* group_send.c - where group messages go: the group's IP multicast address, or the SCEF's
 * MB2-U port of a delivery. One socket per destination, kept for as many datagrams as the
 * sender has (a firmware campaign sends thousands). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "campaign/campaign_internal.h"
#include "t8/userplane.h"

static lmm_err open_fd(lmmi_group_dest *d) {
  d->fd = socket(d->to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  d->open = d->fd >= 0;
  return d->open ? LMM_OK : LMM_ERR_IO;
}

lmm_err lmmi_dest_multicast(lmmi_group_dest *d, const char *group, int port, const char *ifaddr) {
  struct sockaddr_in *sa = (struct sockaddr_in *)&d->to;
  memset(d, 0, sizeof *d);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)(port > 0 ? port : 5683));
  d->to_len = sizeof *sa;
  if (!group || inet_pton(AF_INET, group, &sa->sin_addr) != 1) return LMM_ERR_ARG;
  struct in_addr ifa;
  if (inet_pton(AF_INET, ifaddr ? ifaddr : "127.0.0.1", &ifa) != 1) return LMM_ERR_ARG;
  lmm_err rc = open_fd(d);
  if (rc != LMM_OK) return rc;
  unsigned char ttl = 1, loop = 1; /* one hop; loop so receivers on this host hear it */
  setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa);
  setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
  return LMM_OK;
}

lmm_err lmmi_dest_user_plane(lmmi_group_dest *d, const lmm_gmd *gmd) {
  memset(d, 0, sizeof *d);
  lmm_err rc = lmmi_t8_user_plane_addr(gmd, &d->to, &d->to_len);
  return rc == LMM_OK ? open_fd(d) : rc;
}

lmm_err lmmi_dest_send(const lmmi_group_dest *d, const void *msg, size_t len) {
  if (!d->open) return LMM_ERR_STATE;
  ssize_t n = sendto(d->fd, msg, len, 0, (const struct sockaddr *)&d->to, d->to_len);
  return n == (ssize_t)len ? LMM_OK : LMM_ERR_IO;
}

void lmmi_dest_close(lmmi_group_dest *d) {
  if (d->open) close(d->fd);
  d->open = false;
}
