/* userplane.h - the MB2-U destination of a delivery, for senders that keep their own socket
 * (a firmware campaign sends thousands of datagrams to one delivery). */
#ifndef LMMI_T8_USERPLANE_H
#define LMMI_T8_USERPLANE_H

#include <sys/socket.h>

#include "lwm2m_mbms/t8.h"

/** The SCEF's user-plane address of `gmd` (IPv4 preferred). LMM_ERR_ARG when it has none. */
lmm_err lmmi_t8_user_plane_addr(const lmm_gmd *gmd, struct sockaddr_storage *ss, socklen_t *sl);

#endif
