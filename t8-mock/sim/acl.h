/* acl.h - lwm2m-mbms-sim feature: the devices' LwM2M Server accounts (object 1) and Access
 * Control (object 2, LwM2M 1.1 Core section 7.3): which server a request comes from, what it
 * may do on each object instance, and the Read, Write, Create and Delete of /2 instances
 * (docs/access-control.md). */
#ifndef LMM_SIM_ACL_H
#define LMM_SIM_ACL_H

#include "device.h"

#define SIM_ACL_OBJECT_IID 65535u /* Object Instance ID of an instance that governs Create */

/* Whether access control applies: with a single server account it does not, and that server
 * has every right (the single-server rule). */
static inline bool sim_acl_on(const sim_fleet *f) {
  return f->cfg->n_servers > 1;
}

/* The Short Server ID of the account a unicast request on session s comes from: the account
 * whose address and port are its source, else the account without an address; 0 when none. */
uint16_t sim_acl_ssid_of(const sim_fleet *f, const coap_session_t *s);

/* The bootstrap's Access Control instances, with several accounts: one for every object
 * instance a device has at start (/3/0, /5/0, /6/0, instance 0 of each --objects object) and
 * one for Create of Group Mgmt instances, each owned by the first account and with no ACL
 * entry (so its owner has every right, the others none). 0, or -1 out of memory. */
int sim_acl_provision(sim_fleet *f);

/* The rights (SIM_ACL_* bits) of server `ssid` on /oid/oiid of device i: every right when
 * access control is off; else the server's own ACL entry, else every right for the Access
 * Control Owner, else the default entry (ACL instance 0), else none; none when no Access
 * Control instance governs /oid/oiid. */
unsigned sim_acl_rights(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t oid, uint16_t oiid);

/* 0 when server `ssid` has `right` on /oid/oiid of device i, else 4.01 with `why`. */
int sim_acl_check(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t oid, uint16_t oiid,
                  unsigned right, char *why, size_t cap);

/* An object instance that server `ssid` created gets an Access Control instance owned by that
 * server (LwM2M 1.1 Core 7.3.2); nothing when access control is off. 0, or 5.00 when there is
 * no room. */
int sim_acl_created(sim_fleet *f, unsigned i, uint16_t oid, uint16_t oiid, uint16_t ssid);
/* An object instance was deleted: the Access Control instance that governed it goes too. */
void sim_acl_deleted(sim_fleet *f, unsigned i, uint16_t oid, uint16_t oiid);

/* Appends every value of /2/iid of device i (oid: 2). 0 or a CoAP code (4.04, 5.00). */
int sim_acl_read(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid, lmm_records *out);

/* Writes decoded records into /2/iid on behalf of server `ssid`: `replace` for a PUT of the
 * whole instance (its ACL becomes the payload's), else a partial update (a PUT of a resource
 * or of one ACL entry replaces that, a POST what it names). Only the instance's Access Control
 * Owner may (4.01). 0 or a CoAP code with `why`. */
int sim_aco_write(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_path *p,
                  const lmm_records *recs, bool replace, char *why, size_t cap);
/* Creates /2 instance from the records of one instance (Object ID and Object Instance ID
 * mandatory; the owner, when given, must be `ssid` itself). 0 with *iid, or a CoAP code. */
int sim_aco_create(sim_fleet *f, unsigned i, uint16_t ssid, const lmm_records *recs, uint16_t *iid,
                   char *why, size_t cap);
/* Deletes /2/iid on behalf of server `ssid` (its owner only). 0 or a CoAP code with `why`. */
int sim_aco_delete(sim_fleet *f, unsigned i, uint16_t ssid, uint16_t iid, char *why, size_t cap);

#endif
