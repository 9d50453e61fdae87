/* objects.c - object definitions: the OMA objects the project uses (3, 5, 6) and Group Mgmt. */
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/lwm2m.h"

#define RW      (LMM_OP_R | LMM_OP_W)
#define N_OF(a) (sizeof(a) / sizeof *(a))

/* ------------------------------------------------------------- OMA objects */

/* Device (3), only the resources this project reads or executes: enough to identify a member
 * and to reboot it after a firmware update. */
static const lmm_res_def device_res[] = {
    {0, "Manufacturer", LMM_OP_R, false, false, LMM_RT_STRING, NULL, NULL,
     "Human readable manufacturer name"},
    {1, "Model Number", LMM_OP_R, false, false, LMM_RT_STRING, NULL, NULL,
     "A model identifier (manufacturer specified string)"},
    {2, "Serial Number", LMM_OP_R, false, false, LMM_RT_STRING, NULL, NULL, "Serial number"},
    {3, "Firmware Version", LMM_OP_R, false, false, LMM_RT_STRING, NULL, NULL,
     "Current firmware version of the Device"},
    {4, "Reboot", LMM_OP_E, false, true, LMM_RT_NONE, NULL, NULL, "Reboot the LwM2M Device"},
    {13, "Current Time", RW, false, false, LMM_RT_TIME, NULL, NULL,
     "Current UNIX time of the LwM2M Client"},
    {16, "Supported Binding and Modes", LMM_OP_R, false, true, LMM_RT_STRING, NULL, NULL,
     "Indicates which bindings and modes are supported in the LwM2M Client"},
};

/* Firmware Update (5), complete as in object version 1.0. */
static const lmm_res_def firmware_res[] = {
    {0, "Package", LMM_OP_W, false, true, LMM_RT_OPAQUE, NULL, NULL,
     "Firmware package (push delivery)"},
    {1, "Package URI", RW, false, true, LMM_RT_STRING, "0..255 bytes", NULL,
     "URI from where the device can download the firmware package (pull delivery); writing an "
     "empty string resets the state machine to Idle"},
    {2, "Update", LMM_OP_E, false, true, LMM_RT_NONE, NULL, NULL,
     "Updates the firmware with the downloaded package (only in state Downloaded)"},
    {3, "State", LMM_OP_R, false, true, LMM_RT_INTEGER, "0..3", NULL,
     "0 Idle, 1 Downloading, 2 Downloaded, 3 Updating"},
    {5, "Update Result", LMM_OP_R, false, true, LMM_RT_INTEGER, "0..9", NULL,
     "Result of downloading or updating the firmware (0 initial value, 1 success, 2..9 "
     "failures)"},
    {6, "PkgName", LMM_OP_R, false, false, LMM_RT_STRING, "0..255 bytes", NULL,
     "Name of the firmware package"},
    {7, "PkgVersion", LMM_OP_R, false, false, LMM_RT_STRING, "0..255 bytes", NULL,
     "Version of the firmware package"},
    {8, "Firmware Update Protocol Support", LMM_OP_R, true, false, LMM_RT_INTEGER, "0..5", NULL,
     "Protocols the device can download with: 0 CoAP, 1 CoAPS, 2 HTTP 1.1, 3 HTTPS 1.1, "
     "4 CoAP over TCP, 5 CoAP over TLS"},
    {9, "Firmware Update Delivery Method", LMM_OP_R, false, true, LMM_RT_INTEGER, "0..2", NULL,
     "0 pull only, 1 push only, 2 both"},
};

/* Location (6). LwM2M 1.1 types Latitude, Longitude (and the other measures) as Float; 1.0 had
 * them as String. */
static const lmm_res_def location_res[] = {
    {0, "Latitude", LMM_OP_R, false, true, LMM_RT_FLOAT, NULL, "deg",
     "The decimal notation of latitude"},
    {1, "Longitude", LMM_OP_R, false, true, LMM_RT_FLOAT, NULL, "deg",
     "The decimal notation of longitude"},
    {2, "Altitude", LMM_OP_R, false, false, LMM_RT_FLOAT, NULL, "m",
     "The decimal notation of altitude in meters above sea level"},
    {3, "Radius", LMM_OP_R, false, false, LMM_RT_FLOAT, NULL, "m",
     "The size of the area around a position"},
    {4, "Velocity", LMM_OP_R, false, false, LMM_RT_OPAQUE, NULL, NULL,
     "The velocity (3GPP TS 23.032 encoding)"},
    {5, "Timestamp", LMM_OP_R, false, true, LMM_RT_TIME, NULL, NULL,
     "The timestamp of when the location measurement was performed"},
    {6, "Speed", LMM_OP_R, false, false, LMM_RT_FLOAT, NULL, "m/s",
     "Speed is the time rate of change in position"},
};

static const lmm_obj_def oma_objects[] = {
    {3, "Device", "urn:oma:lwm2m:oma:3", "1.0", false, true, device_res, N_OF(device_res),
     "This LwM2M Object provides a range of Device related information (subset)."},
    {5, "Firmware Update", "urn:oma:lwm2m:oma:5", "1.0", false, false, firmware_res,
     N_OF(firmware_res),
     "This LwM2M Object enables management of firmware which is to be updated."},
    {6, "Location", "urn:oma:lwm2m:oma:6", "1.0", false, false, location_res, N_OF(location_res),
     "This LwM2M Object provides a range of location telemetry related information."},
};

LMM_API const lmm_obj_def *lmm_obj_def_oma(uint16_t oid) {
  for (size_t i = 0; i < N_OF(oma_objects); i++)
    if (oma_objects[i].oid == oid) return &oma_objects[i];
  return NULL;
}

LMM_API const lmm_res_def *lmm_obj_def_res(const lmm_obj_def *def, uint16_t rid) {
  if (def == NULL || def->res == NULL) return NULL;
  /* A linear scan: tables hold about a dozen entries, fewer than a binary search would pay
   * for, and nothing requires them to be sorted. */
  for (size_t i = 0; i < def->n_res; i++)
    if (def->res[i].id == rid) return &def->res[i];
  return NULL;
}

/* ------------------------------------------------------------- Group Mgmt */

/* Resources 0..9 as the seed proposal's table has them; 10 and 11 are this project's
 * extensions (docs/objects/group-mgmt.md says why). */
static const lmm_res_def group_mgmt_res[] = {
    {LMM_GM_GROUP_ID, "Group ID", RW, false, true, LMM_RT_STRING, NULL, NULL,
     "Indicates group identifier. This value MUST be unique within the LwM2M Server and is set "
     "by the LwM2M Server."},
    {LMM_GM_GROUP_TYPE, "Group Type", RW, false, false, LMM_RT_INTEGER,
     "0: 3GPP MBMS, 1: IP multicast, 2: Unicast", NULL,
     "Indicates the group type. It is used for the Gateway."},
    {LMM_GM_MEMBER_NUMBER, "Member Number", RW, false, false, LMM_RT_INTEGER, NULL, NULL,
     "Indicates the number of members within the group. It is used for the Gateway."},
    {LMM_GM_MEMBER_LIST, "Member List", RW, false, false, LMM_RT_STRING, NULL, NULL,
     "Indicates all of the member identifiers of the group (ep={Endpoint Client Name}/{Object "
     "ID}, comma-separated). It is used for the Gateway."},
    {LMM_GM_FANOUT_TARGET, "Fanout Target", RW, false, false, LMM_RT_STRING, NULL, NULL,
     "Indicates the group fan out target URI. It is used to indicate the Gateway to map the "
     "group request to single member requests from the LwM2M Server."},
    {LMM_GM_EXTERNAL_GROUP_ID, "External Group ID", LMM_OP_R, false, true, LMM_RT_STRING, NULL,
     NULL,
     "The External-Group-ID as specified in 3GPP TS 23.682 clause 4.6.3: the globally unique ID "
     "exposed by the underlying network that is mapped to an internally used identifier (Group "
     "ID) for a specific group related service."},
    {LMM_GM_TMGI, "TMGI", RW, true, false, LMM_RT_STRING, NULL, NULL,
     "The Temporary Mobile Group Identity allocated to identify the MBMS bearer service (3GPP TS "
     "23.246). Together with the External Group ID it identifies the 3GPP multicast or "
     "broadcast message."},
    {LMM_GM_MULTICAST_ADDRESS, "Multicast Address", RW, false, false, LMM_RT_STRING, NULL, NULL,
     "The multicast address assigned by the LwM2M Server for the LwM2M Client to join the "
     "multicast group (RFC 5771, RFC 2375)."},
    {LMM_GM_SCHEDULE, "Schedule", RW, true, false, LMM_RT_TIME, NULL, NULL,
     "The absolute time when the LwM2M Server performs the group operation; used to wake up a "
     "client in power saving mode."},
    {LMM_GM_RESPONSE_TIME_WINDOW, "Response Time Window", RW, false, false, LMM_RT_INTEGER, NULL,
     "s",
     "How long the LwM2M Client may wait before sending its response: it waits a random time "
     "shorter than this value, so that the members of a group do not all answer at once."},
    {LMM_GM_MULTICAST_PORT, "Multicast Port", RW, false, false, LMM_RT_INTEGER, "0..65535", NULL,
     "The UDP port where group messages arrive (default 5683)."},
    {LMM_GM_ANSWER_URI, "Answer URI", RW, false, false, LMM_RT_STRING, NULL, NULL,
     "The CoAP URI to which a member sends its answer to a group operation (see "
     "docs/protocol.md)."},
};

/* URNs of the test range 42769..42800. A URN must point at storage that outlives the
 * definition, and the ID is a parameter, so the texts are spelled out for the range the
 * project uses. The "x" form marks an unregistered object; OMA assigns the real URN together
 * with the ID. */
#define GM_URN(n) "urn:oma:lwm2m:x:" #n
static const char *const group_mgmt_urns[] = {
    GM_URN(42769), GM_URN(42770), GM_URN(42771), GM_URN(42772), GM_URN(42773), GM_URN(42774),
    GM_URN(42775), GM_URN(42776), GM_URN(42777), GM_URN(42778), GM_URN(42779), GM_URN(42780),
    GM_URN(42781), GM_URN(42782), GM_URN(42783), GM_URN(42784), GM_URN(42785), GM_URN(42786),
    GM_URN(42787), GM_URN(42788), GM_URN(42789), GM_URN(42790), GM_URN(42791), GM_URN(42792),
    GM_URN(42793), GM_URN(42794), GM_URN(42795), GM_URN(42796), GM_URN(42797), GM_URN(42798),
    GM_URN(42799), GM_URN(42800),
};
#define GM_URN_FIRST 42769u

LMM_API void lmm_group_mgmt_def(uint16_t oid, lmm_obj_def *out) {
  if (out == NULL) return;
  out->oid = oid;
  out->name = "Group Mgmt";
  /* Outside the test range no text exists for the ID: NULL, like an absent range or unit. */
  out->urn = oid >= GM_URN_FIRST && oid - GM_URN_FIRST < N_OF(group_mgmt_urns)
                 ? group_mgmt_urns[oid - GM_URN_FIRST]
                 : NULL;
  out->version = "1.0";
  out->multiple = true;
  out->mandatory = false;
  out->res = group_mgmt_res;
  out->n_res = N_OF(group_mgmt_res);
  out->description = "Group information of LwM2M Clients for group operations over unicast, IP "
                     "multicast and 3GPP MBMS (TS 23.682 clause 5.5.1).";
}
