/* lwm2m_mbms.h - umbrella header of the lwm2m-mbms library. */
#ifndef LWM2M_MBMS_H
#define LWM2M_MBMS_H

#include "lwm2m_mbms/blob_server.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/err.h"
#include "lwm2m_mbms/firmware.h"
#include "lwm2m_mbms/fw_campaign.h"
#include "lwm2m_mbms/gateway.h"
#include "lwm2m_mbms/group.h"
#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/objects.h"
#include "lwm2m_mbms/lease.h"
#include "lwm2m_mbms/store.h"
#include "lwm2m_mbms/t8.h"
#include "lwm2m_mbms/unicast.h"
#include "lwm2m_mbms/version.h"

#endif
