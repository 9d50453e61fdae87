/* device.h - lwm2m-mbms-sim, the device model: the configuration, the devices (objects,
 * resources, per-device state and counters) and the fleet that holds them. The simulator's
 * layers, bottom first: msg.h (CoAP helpers), device.h, the features (attrs.h, delay.h,
 * observe.h, fw.h, blob.h, group.h, stats.h, each on device.h), the request handlers (serve.h),
 * main.c; a file includes only headers of its own module or below it, and what a lower layer
 * needs from a higher one comes as a callback (tests/api/check-layers.sh). */
#ifndef LMM_SIM_DEVICE_H
#define LMM_SIM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lwm2m_mbms/group.h"
#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/objects.h"
#include "lmm_wire/gprotect.h"

#define SIM_MAX_DEVICES 10000u
#define SIM_GM_MAX      16u /* Group Mgmt instances per device */
#define SIM_SERVERS_MAX 8u  /* LwM2M Server accounts (/1 instances) of every device */
#define SIM_ACO_MAX     64u /* Access Control instances (/2) per device */
#define SIM_ACL_MAX     8u  /* ACL entries (/2/x/2 instances) per Access Control instance */

/* A handler's code for "no answer at all": the device rebooted while serving the request. */
#define SIM_SILENT (-1)

/* ------------------------------------------------------------------ configuration */

/* Content formats a device may produce and consume (--formats). */
enum {
  SIM_FMT_TEXT = 1,
  SIM_FMT_OPAQUE = 2,
  SIM_FMT_TLV = 4,
  SIM_FMT_SENML_JSON = 8,
  SIM_FMT_LINK = 16,
  SIM_FMT_ALL = 31
};

/* Device indices of a fault flag ("0,5,10-12"), as inclusive ranges. */
typedef struct sim_devlist {
  uint32_t (*r)[2];
  size_t n;
} sim_devlist;

/* One LwM2M Server account (--server): its Short Server ID, and the source address and port
 * its requests come from (none: every source no other account claims). */
typedef struct sim_server {
  uint16_t ssid;
  bool has_addr;
  uint32_t addr; /* IPv4, host byte order */
  uint16_t port;
} sim_server;

typedef struct sim_config {
  unsigned count;
  uint32_t base_addr; /* IPv4, host byte order */
  uint16_t port, dtls_port;
  bool dtls, verbose;
  const char *psk_secret;
  const char *ep_prefix;
  uint16_t object; /* Object ID in member IDs */
  unsigned tlv_every;
  const char *members_file, *ready_file, *stats_json;
  uint16_t gm_oid;
  sim_server servers[SIM_SERVERS_MAX]; /* --server; one account of SSID 1 by default */
  unsigned n_servers;
  double drop;
  uint64_t seed;
  unsigned update_ms;         /* simulated firmware update time */
  unsigned max_idle_sessions; /* libcoap server sessions kept when idle */
  unsigned session_timeout;   /* seconds before an idle session is closed */
  unsigned delay_ms;          /* every answer is held this long (0: answered at once) */
  double group_loss;          /* probability that a device misses a group datagram */
  uint32_t mcast_if;          /* interface address group sockets join on (host order) */
  unsigned max_pulls;         /* pull downloads running at once; the others wait their turn */
  unsigned fw_reboot_ms;      /* how long a --fw-reboot device stays unreachable */
  sim_devlist fw_corrupt, fw_reboot, fw_refuse;
  lmm_objects *objects; /* --objects: more objects every device serves (owned) */
  /* How strict sample clients behave (docs/simulator.md, Strict clients). */
  bool require_accept; /* a Read without an Accept option gets 5.00 */
  unsigned formats;    /* SIM_FMT_* bits: the content formats the devices know */
  sim_devlist no_group_mgmt, fw_no_success;
  /* Observe (observe.c). */
  unsigned max_obs;          /* observations at once, fleet-wide */
  unsigned notify_con_every; /* every N-th notification of an observation is CON (0: daily) */
  bool server_only;          /* --server-addr: unicast requests from elsewhere are ignored */
  uint32_t server_addr;      /* IPv4, host byte order */
  uint16_t server_port;
} sim_config;

/* Whether the devices know content format `fmt` (--formats). A number the simulator has no
 * codec for passes: the operation refuses it as it always did. */
static inline bool sim_fmt_known(const sim_config *c, int fmt) {
  unsigned bit = fmt == LMM_FMT_TEXT         ? SIM_FMT_TEXT
                 : fmt == LMM_FMT_OPAQUE     ? SIM_FMT_OPAQUE
                 : fmt == LMM_FMT_TLV        ? SIM_FMT_TLV
                 : fmt == LMM_FMT_SENML_JSON ? SIM_FMT_SENML_JSON
                 : fmt == LMM_FMT_LINK       ? SIM_FMT_LINK
                                             : 0;
  return bit == 0 || (c->formats & bit) != 0;
}

/* ------------------------------------------------------------------ devices */

enum { SIM_M_GET, SIM_M_PUT, SIM_M_POST, SIM_M_DELETE, SIM_M_OTHER, SIM_M_N };
enum { SIM_C_2XX, SIM_C_4XX, SIM_C_5XX, SIM_C_N };

typedef struct sim_counters {
  uint32_t req[SIM_M_N];  /* requests seen, by method (dropped ones included) */
  uint32_t resp[SIM_C_N]; /* responses sent, by class (2.31 Continue counts as 2.xx) */
  uint32_t dropped;       /* ignored by --drop */
  uint32_t gm_changes;    /* successful changes of the Group Mgmt object */
  uint32_t fw_updates;    /* completed firmware updates */
  uint32_t grp_rx;        /* group requests received (group.c) */
  uint32_t grp_missed;    /* group requests missed by --group-loss */
  uint32_t ans_sent;      /* answer POSTs sent to the Answer URI */
  uint32_t ans_acked;     /* answer POSTs acknowledged (a response came) */
  uint32_t ans_failed;    /* answer POSTs not sent, or given up after retransmissions */
  uint32_t offline;       /* requests ignored while rebooting (--fw-reboot), group ones included */
  uint32_t frags;         /* blob fragments received by group and kept (data and parity) */
  uint32_t frag_dup;      /* blob fragments it had already (by group or unicast) */
  uint32_t frag_rec;      /* data fragments rebuilt from parity */
  uint32_t frag_uni;      /* blob fragments received by unicast (repair) */
  uint32_t pulls;         /* pull downloads started */
  uint32_t reboots;
  uint32_t notifications; /* Observe notifications sent (observe.c) */
  uint64_t grp_bytes;     /* payload bytes of the blob fragments received by group */
  /* Protected group messages (docs/protocol.md section 6; group_protect.c). */
  uint32_t gp_ok;          /* accepted: the tag verified and the sequence number was fresh */
  uint32_t gp_forged;      /* dropped: no valid tag under its key (forged, or altered) */
  uint32_t gp_replayed;    /* dropped: sequence number seen already, or below the window */
  uint32_t gp_unprotected; /* dropped: not protected, while its instance has a key */
  uint32_t gp_other_key;   /* dropped: protected under a key it does not hold */
} sim_counters;

/* Firmware Update object state machine (NOTES section 3). */
enum { SIM_FW_IDLE = 0, SIM_FW_DOWNLOADING = 1, SIM_FW_DOWNLOADED = 2, SIM_FW_UPDATING = 3 };

/* Update Result values (object 5, resource 5) the simulator sets. */
enum {
  SIM_RES_INITIAL = 0,
  SIM_RES_SUCCESS = 1,
  SIM_RES_NO_FLASH = 2,
  SIM_RES_NO_RAM = 3,
  SIM_RES_CONN_LOST = 4,
  SIM_RES_INTEGRITY = 5,
  SIM_RES_INVALID_URI = 7,
  SIM_RES_UPDATE_FAILED = 8,
  SIM_RES_UNSUPPORTED_PROTOCOL = 9
};

/* fw.pull: where a pull download stands (pull.c). */
enum { SIM_PULL_NONE = 0, SIM_PULL_QUEUED, SIM_PULL_RUNNING };

typedef struct sim_fw {
  mbedtls_sha256_context *sha; /* only while Downloading: ~110 bytes that idle devices skip */
  char *uri;                   /* Package URI (1), NULL when empty */
  uint64_t bytes;              /* received so far, or size of the downloaded package */
  int64_t update_done_ms;      /* monotonic time at which Updating ends */
  uint8_t digest[32];          /* SHA-256 of the downloaded package */
  uint8_t installed[32];       /* SHA-256 of the installed one (valid if has_installed) */
  uint8_t state, result;
  uint8_t pull; /* SIM_PULL_* */
  bool has_digest, has_installed;
} sim_fw;

/* A Block1 transfer in progress (RFC 7959) that is not a firmware package: the body is kept
 * because the payload can only be decoded whole. */
typedef struct sim_rx {
  lmm_path path;
  uint8_t method;
  int fmt;         /* Content-Format of the first block, -1 when absent */
  long blob_index; /* fragment index of a blob fragment's blocks (-1: announce); else LONG_MIN */
  uint8_t *buf;
  size_t len, cap;
} sim_rx;

typedef struct sim_gm_inst {
  uint16_t iid;
  uint16_t ssid; /* the server that last wrote it: a group request runs with its rights */
  lmm_group_mgmt g;
  bool keyed;         /* g has a Group Key: only messages protected under it are taken */
  lmmw_gp_key key;    /* derived from the Group Key and Group ID */
  lmmw_gp_window win; /* the replay window under that key */
} sim_gm_inst;

/* Rights of an ACL entry (LwM2M 1.1 Core 7.3, object 2 resource 2). */
enum {
  SIM_ACL_READ = 1, /* Read, Observe, Write-Attributes */
  SIM_ACL_WRITE = 2,
  SIM_ACL_EXECUTE = 4,
  SIM_ACL_DELETE = 8,
  SIM_ACL_CREATE = 16,
  SIM_ACL_ALL = 31
};

/* One Access Control object instance (/2/iid): the rights of each server on /oid/oiid (oiid
 * 65535: Create on the object). */
typedef struct sim_aco {
  uint16_t iid, oid, oiid, owner;
  uint8_t n_acl;
  uint16_t acl_ssid[SIM_ACL_MAX]; /* 0: the default entry, for servers without their own */
  uint8_t acl_bits[SIM_ACL_MAX];
} sim_aco;

enum {
  SIM_DEV_TLV = 2,
  SIM_DEV_FW_CORRUPT = 4,    /* --fw-corrupt */
  SIM_DEV_FW_REBOOT = 8,     /* --fw-reboot, until it happened */
  SIM_DEV_FW_REFUSE = 16,    /* --fw-refuse */
  SIM_DEV_NO_GM = 32,        /* --no-group-mgmt: the device has no Group Mgmt object */
  SIM_DEV_FW_NO_SUCCESS = 64 /* --fw-no-success: an update leaves Update Result 0 */
};

/* A blob (docs/protocol.md section 5) the device receives or received last (fw.h). */
typedef struct sim_blob sim_blob;

/* An answer held back by --delay-ms (delay.h). */
typedef struct sim_held sim_held;

/* The attributes Write-Attributes set on a device, one entry per path (attrs.h). */
typedef struct sim_attr_entry sim_attr_entry;

#define SIM_OBS_NONE UINT32_MAX /* no observation (observe.h) */

/* One device: ~200 bytes while idle; strings and instances live on the heap only when set. */
typedef struct sim_device {
  sim_fw fw;
  sim_rx *rx;
  sim_held *held;  /* its answers held by --delay-ms, oldest first */
  sim_gm_inst *gm; /* sorted by iid */
  sim_aco *aco;    /* Access Control instances, sorted by iid (acl.c); NULL: none */
  uint16_t n_aco, cap_aco;
  sim_blob *blob; /* NULL until a blob message came */
  uint16_t n_gm, cap_gm;
  uint8_t flags;
  int64_t time_offset;   /* Current Time (3/0/13) minus the clock, as written by the server */
  lmm_records *kept;     /* values written that nothing simulates (e.g. /3/0/14 UTC Offset,
                          * the resources of --objects objects); NULL until the first one */
  int64_t offline_until; /* monotonic ms: rebooting (--fw-reboot) until then */
  sim_attr_entry *attr;  /* Write-Attributes, one entry per path (attrs.c) */
  uint16_t n_attr;
  uint8_t n_obs;      /* observations of the device (observe.c) */
  bool obs_pending;   /* a change may wait to be notified */
  uint32_t obs_first; /* its first observation, SIM_OBS_NONE when none */
  sim_counters c;
} sim_device;

typedef struct sim_fleet {
  const sim_config *cfg;
  sim_device *dev;
  unsigned n;
  uint64_t pos0; /* rank of the base address among usable addresses (see device.c) */
  lmm_obj_def gm_def;
  coap_context_t *ctx;
  uint64_t rng;
  uint16_t port, dtls_port; /* bound ports */
  unsigned sessions, sessions_max;
  uint32_t no_device;              /* requests to an address where no device is */
  uint32_t filtered;               /* unicast requests ignored: not from --server-addr */
  size_t rx_bytes;                 /* Block1 bodies held by all devices (bounded) */
  sim_held *held_head, *held_tail; /* answers held by --delay-ms, in the order they are due */
  size_t n_held, held_max;         /* held now, most held at once */
  uint8_t psk_buf[16];
  coap_bin_const_t psk;    /* the key handed to libcoap by the identity callback */
  struct sim_group *grp;   /* group sockets, pending answers (group.c); NULL until first used */
  struct sim_pulls *pulls; /* pull downloads (pull.c); NULL until first used */
  uint64_t blob_mem, blob_mem_max; /* bytes of blob buffers held now, most at once */
  struct sim_blob_ok *blob_ok;     /* the last blob a device verified (blob.c); NULL: none */
  struct sim_observe *obs;         /* observations (observe.c); NULL until first used */
  int udp_fd;                      /* the CoAP endpoint's socket, -1 when unknown */
} sim_fleet;

/* Allocates the devices; 0 or -1 (message on stderr). */
int sim_fleet_init(sim_fleet *f, const sim_config *cfg);
void sim_fleet_free(sim_fleet *f);
/* IPv4 address (host order) of device i. */
uint32_t sim_dev_addr(const sim_fleet *f, unsigned i);
/* Index of the device at `addr` (host order), or -1. */
long sim_dev_index(const sim_fleet *f, uint32_t addr);
/* Endpoint name of device i into buf (32 bytes are enough with a 16-byte prefix). */
char *sim_dev_ep(const sim_fleet *f, unsigned i, char *buf, size_t cap);
/* Index of the device whose endpoint name is `ep` (len bytes), or -1. */
long sim_ep_index(const sim_fleet *f, const char *ep, size_t len);
/* SHA-256(secret || ep)[0..15]. */
void sim_dev_psk(const sim_fleet *f, unsigned i, uint8_t key[16]);
uint64_t sim_rand(sim_fleet *f);
double sim_rand01(sim_fleet *f);
int64_t sim_now_ms(void);
/** Wall-clock seconds (CLOCK_REALTIME, the clock observe.c schedules Current Time by). */
int64_t sim_wall_s(void);
/* Append one value of /oid/0/rid (riid < 0: a single resource); 0 or 5.00. */
int sim_add_str(lmm_records *out, uint16_t oid, uint16_t rid, const char *s);
int sim_add_int(lmm_records *out, uint16_t oid, uint16_t rid, int riid, int64_t v);

/* The object definition of `oid` on every device, or NULL. */
const lmm_obj_def *sim_obj_def(const sim_fleet *f, uint16_t oid);
/* Whether instance `iid` of `oid` exists on device i. */
bool sim_instance_exists(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid);
/* Appends every value of instance oid/iid (readable resources only) of every object but 5 (the
 * firmware's, fw.c) to out. Returns a CoAP code: 0 on success, else 4.04 / 5.00. */
int sim_dev_read(sim_fleet *f, unsigned i, uint16_t oid, uint16_t iid, lmm_records *out);
/* Writes decoded records, checked by sim_check_records(), into object 3, 6 or one of --objects.
 * Returns 0 or a CoAP code, with `why`. */
int sim_dev_write(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_records *recs, char *why,
                  size_t cap);
/* Checks every record against the definition before anything changes: unknown resource -> 4.04,
 * not writable -> 4.05 (unless `any` allows R resources: the whole-instance write). */
int sim_check_records(const lmm_obj_def *def, const lmm_records *recs, bool any, char *why,
                      size_t cap);
/* Writes the reason into `why` (when cap is not 0) and returns `code`. */
int sim_refuse(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The Access Control instance /2/iid of device d, or NULL. */
sim_aco *sim_aco_find(sim_device *d, uint16_t iid);

/* Group Mgmt instances (writes: group_mgmt.c). */
sim_gm_inst *sim_gm_find(sim_device *d, uint16_t iid);
uint16_t sim_gm_free_iid(const sim_device *d);
/* Brings a device out of Updating when its simulated update time has passed. */
void sim_fw_tick(sim_fleet *f, sim_device *d, int64_t now_ms);
/* Counts an answer of code `code` sent by device d (2.xx, 4.xx, 5.xx; others not). */
void sim_count_response(sim_device *d, int code);

/* --server-addr: whether a unicast request on session s is to be ignored (its source is not the
 * server's address and port), as a NAT or a client that filters by source would; counted. */
bool sim_filtered(sim_fleet *f, const coap_session_t *s);

/* Rebooting (--fw-reboot): the device ignores everything until then. */
static inline bool sim_dev_offline(const sim_device *d, int64_t now_ms) {
  return d->offline_until > now_ms;
}

#endif
