/* attrs.h - lwm2m-mbms-sim feature: the notification attributes Write-Attributes sets
 * (pmin, pmax, gt, lt, st) per device and path. */
#ifndef LMM_SIM_ATTRS_H
#define LMM_SIM_ATTRS_H

#include "device.h"

/* Notification attributes (LwM2M 1.1 <NOTIFICATION> class) set by Write-Attributes (attrs.c). */
enum { SIM_A_PMIN = 1, SIM_A_PMAX = 2, SIM_A_GT = 4, SIM_A_LT = 8, SIM_A_ST = 16 };
typedef struct sim_attrs {
  uint8_t set;         /* SIM_A_* bits of the attributes present */
  uint32_t pmin, pmax; /* seconds */
  double gt, lt, st;
} sim_attrs;

#define SIM_ATTR_MAX 32u /* paths with attributes per device */

/* Write-Attributes of the request's Uri-Query items (pmin, pmax, gt, lt, st; a name alone
 * unsets it) on `p` (depth 1..3) of device i: 0, or 4.00 / 5.00 with why. All or nothing. */
int sim_attr_write(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_obj_def *def,
                   const coap_pdu_t *pdu, char *why, size_t cap);
/* The attributes attached exactly at `p`, or NULL. Valid until the next write. */
const sim_attrs *sim_attr_at(const sim_device *d, const lmm_path *p);
/* The attributes in force at `p`: each from the most specific of resource, instance, object. */
sim_attrs sim_attr_effective(const sim_device *d, const lmm_path *p);
/* ";pmin=10;pmax=60..." into buf; its length. */
size_t sim_attr_format(const sim_attrs *a, char *buf, size_t cap);
/* Drops the attributes of instance oid/iid and its resources (the instance was deleted). */
void sim_attr_forget(sim_device *d, uint16_t oid, uint16_t iid);
void sim_attr_free(sim_device *d);

#endif
