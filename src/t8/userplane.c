/* userplane.c - MB2-U: the payload of a delivery created without one goes to the SCEF's
 * user-plane address over UDP. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t8/userplane.h"

/* Largest UDP payload over IPv4 (65,535 - 20 IP - 8 UDP). */
#define MAX_DATAGRAM 65507

lmm_err lmmi_t8_user_plane_addr(const lmm_gmd *gmd, struct sockaddr_storage *ss, socklen_t *sl) {
  if (!gmd || gmd->scef_port <= 0 || gmd->scef_port > 65535) return LMM_ERR_ARG;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  /* Prefer IPv4 when the SCEF offers both: loopback and most SCEF deployments are IPv4. */
  if (gmd->scef_ipv4 && inet_pton(AF_INET, gmd->scef_ipv4, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET, v4->sin_port = htons((uint16_t)gmd->scef_port), *sl = sizeof *v4;
  } else if (gmd->scef_ipv6 && inet_pton(AF_INET6, gmd->scef_ipv6, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6, v6->sin6_port = htons((uint16_t)gmd->scef_port), *sl = sizeof *v6;
  } else {
    return LMM_ERR_ARG;
  }
  return LMM_OK;
}

LMM_API lmm_err lmm_t8_send_user_plane(const lmm_gmd *gmd, const void *payload, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl;
  if ((!payload && len) || len > MAX_DATAGRAM || lmmi_t8_user_plane_addr(gmd, &ss, &sl) != LMM_OK)
    return LMM_ERR_ARG;
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return LMM_ERR_IO;
  ssize_t n = sendto(fd, payload, len, 0, (struct sockaddr *)&ss, sl);
  close(fd);
  return n == (ssize_t)len ? LMM_OK : LMM_ERR_IO;
}
