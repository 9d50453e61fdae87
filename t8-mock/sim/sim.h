/* sim.h - lwm2m-mbms-sim internals: the fleet, its devices, and what its files share. */
#ifndef LMM_SIM_H
#define LMM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>

#include <coap3/coap.h>
#include <mbedtls/sha256.h>

#include "lmm_wire/blob.h"
#include "lmm_wire/hex.h"
#include "lwm2m_mbms/group.h"
#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m_mbms/objects.h"

#define SIM_MAX_DEVICES 10000u
#define SIM_FW_MAX      (16u * 1024u * 1024u) /* largest firmware package a device takes */
#define SIM_BODY_MAX    (256u * 1024u)        /* largest reassembled Block1 body of other writes */
#define SIM_GM_MAX      16u                   /* Group Mgmt instances per device */
#define SIM_BLOB_BUDGET (4ull * 1024u * 1024u * 1024u) /* blob buffers held at once, fleet-wide */

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
  const char **deny; /* endpoint names; borrowed from argv */
  size_t n_deny;
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
  lmm_group_mgmt g;
} sim_gm_inst;

enum {
  SIM_DEV_DENY = 1,
  SIM_DEV_TLV = 2,
  SIM_DEV_FW_CORRUPT = 4,    /* --fw-corrupt */
  SIM_DEV_FW_REBOOT = 8,     /* --fw-reboot, until it happened */
  SIM_DEV_FW_REFUSE = 16,    /* --fw-refuse */
  SIM_DEV_NO_GM = 32,        /* --no-group-mgmt: the device has no Group Mgmt object */
  SIM_DEV_FW_NO_SUCCESS = 64 /* --fw-no-success: an update leaves Update Result 0 */
};

/* A blob (docs/protocol.md section 5) the device receives or received last (blob.c). */
typedef struct sim_blob sim_blob;

/* An answer held back by --delay-ms (delay.c). */
typedef struct sim_held sim_held;

/* Notification attributes (LwM2M 1.1 <NOTIFICATION> class) set by Write-Attributes (attrs.c). */
enum { SIM_A_PMIN = 1, SIM_A_PMAX = 2, SIM_A_GT = 4, SIM_A_LT = 8, SIM_A_ST = 16 };
typedef struct sim_attrs {
  uint8_t set;         /* SIM_A_* bits of the attributes present */
  uint32_t pmin, pmax; /* seconds */
  double gt, lt, st;
} sim_attrs;
typedef struct sim_attr_entry sim_attr_entry;

#define SIM_ATTR_MAX    32u /* paths with attributes per device */
#define SIM_OBS_PER_DEV 16u /* observations per device */
#define SIM_OBS_NONE    UINT32_MAX

/* One device: ~200 bytes while idle; strings and instances live on the heap only when set. */
typedef struct sim_device {
  sim_fw fw;
  sim_rx *rx;
  sim_held *held;  /* its answers held by --delay-ms, oldest first */
  sim_gm_inst *gm; /* sorted by iid */
  sim_blob *blob;  /* NULL until a blob message came */
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
  struct sim_observe *obs;         /* observations (observe.c); NULL until first used */
  int udp_fd;                      /* the CoAP endpoint's socket, -1 when unknown */
} sim_fleet;

/* ---------------------------------------------------------------- msg.c */

/* /O[/I[/R[/RI]]] from the Uri-Path options; false when they are no such path. */
bool sim_parse_path(const coap_pdu_t *pdu, lmm_path *p);
/* A numeric option of at most `maxlen` bytes; -1 when absent, -2 when longer. */
long sim_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, size_t maxlen);
/* Whether the request's No-Response option (RFC 7967) declines answers of this code's class. */
bool sim_no_response(const coap_pdu_t *request, int code);
/* Resolves a coap:// URI (host by name or address); false for anything else. `u` points into
 * `uri`. */
bool sim_coap_uri(const char *uri, coap_uri_t *u, struct sockaddr_in *dst);
/* Adds one option `num` per `sep`-separated segment of s (Uri-Path, Uri-Query). */
void sim_add_segments(coap_pdu_t *pdu, coap_option_num_t num, const coap_str_const_t *s, char sep);

/* ---------------------------------------------------------------- device.c */

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

/* ---------------------------------------------------------------- fw.c */

/* Appends the values of /5/0 to out. */
int sim_fw_read(sim_fleet *f, unsigned i, lmm_records *out);
/* One block of a Package (5/0/0) push at byte `offset`; `more` false on the last one; `total`
 * the package size when known (Size1), else 0. Returns 0 or a CoAP code (4.08 out of order, 4.13
 * too large, 4.05 while Updating), or SIM_SILENT when the device rebooted (--fw-reboot). */
int sim_fw_package_block(sim_fleet *f, unsigned i, uint64_t offset, const uint8_t *data, size_t len,
                         bool more, uint64_t total);
/* A write of object 5's records (checked by sim_check_records()): Package, Package URI. 0 or a
 * CoAP code with `why`. */
int sim_fw_write(sim_fleet *f, unsigned i, const lmm_records *recs, char *why, size_t cap);
/* Package URI write: "" resets to Idle; a coap:// URI starts a pull download (pull.c). */
int sim_fw_write_uri(sim_fleet *f, unsigned i, const char *uri);
/* Execute /5/0/2. 4.05 unless Downloaded. */
int sim_fw_update(sim_fleet *f, unsigned i);
void sim_fw_clear(sim_fw *fw);
/* Drops whatever download is in progress or held (push digest, pull, blob) before another one
 * starts; the state is the caller's to set. */
void sim_fw_drop_downloads(sim_fleet *f, unsigned i);
/* --fw-reboot: the device loses its download (State 0, Update Result 0) and is unreachable for
 * --fw-reboot-ms. */
void sim_fw_reboot(sim_fleet *f, unsigned i);
/* Hashes bytes [offset, offset + len) of a package as the device's storage gives them back:
 * with --fw-corrupt, byte 0 comes back with its bits flipped. */
void sim_fw_hash(const sim_device *d, mbedtls_sha256_context *sha, uint64_t offset,
                 const uint8_t *data, size_t len);

/* The blob a device receives or received last (docs/protocol.md section 5): its buffer is part
 * of the firmware download, dropped with the others; blob.c runs the protocol on it. */
enum { SIM_BLOB_PH_RX, SIM_BLOB_PH_DONE, SIM_BLOB_PH_FAILED };
struct sim_blob {
  lmmw_blob_desc d; /* the blob held or last held; with its digest once one was learned */
  lmmw_blob_rx rx;  /* while receiving (SIM_BLOB_PH_RX), else empty */
  uint8_t phase;
};
/* Frees the reassembly buffer of b (its description stays). */
void sim_fw_blob_release(sim_fleet *f, sim_blob *b);
/* Forgets the device's blob and frees its buffer. */
void sim_fw_blob_drop(sim_fleet *f, sim_device *d);
/* The version (v=) announced with the package device d holds, when it came as a blob; NULL
 * otherwise. PkgName (/5/0/6) shows it. */
const char *sim_fw_blob_version(const sim_device *d);

static inline bool sim_dev_offline(const sim_device *d, int64_t now_ms) {
  return d->offline_until > now_ms;
}

/* ---------------------------------------------------------------- blob.c */

typedef enum sim_blob_kind {
  SIM_BLOB_NONE = 0, /* not a blob message: served as before */
  SIM_BLOB_DATA,     /* PUT /5/0/0 announce (index -1) or fragment */
  SIM_BLOB_STATUS,   /* GET /5/0/3 */
  SIM_BLOB_UPDATE,   /* POST /5/0/2?b */
  SIM_BLOB_MALFORMED /* a blob message with a bad query or fragment: `why` */
} sim_blob_kind;

/* A request as a blob message (docs/protocol.md 5.2); `data` points into the request. */
typedef struct sim_blob_msg {
  sim_blob_kind kind;
  lmmw_blob_desc d;
  long index; /* fragment index, -1 for an announce (and for status, update) */
  const uint8_t *data;
  size_t len;
  bool block1; /* a fragment in Block1 blocks: its length is checked once it is whole */
  char why[160];
} sim_blob_msg;

/* Whether the request is a blob message, parsed with the shared codec. `unicast`: by unicast a
 * fragment may come in Block1 blocks (a 1,024-byte fragment and its query exceed one datagram);
 * to a group Block1 is undefined (malformed). */
void sim_blob_classify(const coap_pdu_t *pdu, bool unicast, sim_blob_msg *m);
/* Checks the length of the fragment or announce in m->data; false (m->why) when it is wrong. */
bool sim_blob_check_len(sim_blob_msg *m);
/* An announce or fragment for device i: a CoAP code (2.04, 4.00 with why, 4.01, 4.05, 5.00),
 * or SIM_SILENT when it made the device reboot. By group the code is not answered. */
int sim_blob_data(sim_fleet *f, unsigned i, const sim_blob_msg *m, bool by_group, char *why,
                  size_t cap);
/* The status text (LMMW_BLOB_STATUS_MAX + 1 bytes) for a status request; 0 or 5.00. */
int sim_blob_status(sim_fleet *f, unsigned i, const sim_blob_msg *m, char *out, size_t *len);
/* Update of blob m->d.id: 0 (Updating) or 4.05 when the device has not downloaded it. */
int sim_blob_update(sim_fleet *f, unsigned i, const sim_blob_msg *m);

/* ---------------------------------------------------------------- pull.c */

/* Queues a pull of the device's Package URI (fw.uri, a coap:// URI): 0 or 5.00. */
int sim_pull_request(sim_fleet *f, unsigned i);
/* Stops the device's pull, queued or running. */
void sim_pull_cancel(sim_fleet *f, unsigned i);
/* Between two turns of the loop: releases finished pulls, starts queued ones. */
void sim_pull_tick(sim_fleet *f);
/* A response or NACK on the simulator's client sessions: true when it was a pull's. */
bool sim_pull_response(sim_fleet *f, coap_session_t *s, const coap_pdu_t *rcvd);
bool sim_pull_nack(sim_fleet *f, coap_session_t *s);
/* Pull counters of --stats-json: "pull":{...}, in the fw totals. */
void sim_pull_json(const sim_fleet *f, FILE *fp);
/* Releases every pull session (before the CoAP context goes). */
void sim_pull_free(sim_fleet *f);

/* ---------------------------------------------------------------- delay.c */

#define SIM_HELD_MAX 262144u /* answers held at once, fleet-wide; a request beyond is lost */

/* Holds `answer` (owned from here on; ACK or NON, with the request's Message ID) for
 * --delay-ms. `local` is the device's address the request came to: the session is shared by
 * every device its client talks to, and its local address moves with each datagram. */
void sim_hold(sim_fleet *f, unsigned i, coap_session_t *s, const coap_address_t *local,
              coap_mid_t mid, bool con, coap_pdu_t *answer);
/* Whether the answer to CON request `mid` of session s to device i is still held: the request
 * is then a retransmission (RFC 7252 4.5: processed once). */
bool sim_held_find(const sim_fleet *f, unsigned i, const coap_session_t *s, coap_mid_t mid);
/* Sends every answer that is due; returns the milliseconds until the next one is (rounded up,
 * at least 1), or -1 when none is held. */
long sim_held_flush(sim_fleet *f);
/* Frees the answers still held, unsent (at exit, before the CoAP context goes). */
void sim_held_clear(sim_fleet *f);

/* ---------------------------------------------------------------- group.c */

/* Joins device i to the groups its Group Mgmt instances name now, and leaves the others. */
void sim_group_sync(sim_fleet *f, unsigned i);
/* Registers the response and NACK handlers of the answer POSTs on f->ctx. */
void sim_group_setup(sim_fleet *f);
/* Executes a request that came by group delivery on device i exactly as a unicast one
 * (serve.h's sim_serve_pdu(), which the request handlers above lend the loop). */
typedef void sim_group_serve_fn(sim_fleet *f, unsigned i, const coap_pdu_t *pdu,
                                const struct sim_blob_msg *bm, int *code, int *fmt, uint8_t **body,
                                size_t *len);
/* One turn of the event loop: sends due answers, waits at most wait_ms for libcoap's fd and
 * the group sockets, serves what came (group requests by `serve`). 0 or -1. */
int sim_group_io(sim_fleet *f, long wait_ms, sim_group_serve_fn *serve);
/* Group Mgmt writes (group_mgmt.c), each followed by the device's membership. All return 0 or a
 * CoAP code; `why` gets the reason of a 4.00. */
int sim_gm_create(sim_fleet *f, unsigned i, const lmm_records *recs, uint16_t *iid, char *why,
                  size_t cap);
int sim_gm_replace(sim_fleet *f, unsigned i, uint16_t iid, const lmm_records *recs, char *why,
                   size_t cap);
int sim_gm_update(sim_fleet *f, unsigned i, const lmm_path *p, const lmm_records *recs, char *why,
                  size_t cap);
int sim_gm_delete(sim_fleet *f, unsigned i, uint16_t iid);
/* "group":{...}, into the totals / a device's object of --stats-json. */
void sim_group_json_totals(const sim_fleet *f, FILE *fp);
void sim_group_json_device(const sim_fleet *f, unsigned i, FILE *fp);
void sim_group_summary(const sim_fleet *f);
/* Closes the group sockets and releases the answer sessions (before the CoAP context goes). */
void sim_group_free(sim_fleet *f);

/* ---------------------------------------------------------------- handlers.c */

/* Executes a request that came by group delivery (a parsed NON request, no session) on device
 * i exactly as a unicast one: *code (0: the device answers nothing), and the body (owned,
 * free()) with its Content-Format (-1: none; an error's diagnostic text has none). `bm`: the
 * request as sim_blob_classify() found it (once for every member), or NULL. Counts the
 * request, not a response. */
void sim_serve_pdu(sim_fleet *f, unsigned i, const coap_pdu_t *pdu, const sim_blob_msg *bm,
                   int *code, int *fmt, uint8_t **body, size_t *len);

/* Registers the request handlers on f->ctx. 0 or -1. */
int sim_coap_setup(sim_fleet *f);
/* The validate_id_call_back of coap_context_set_psk2(). */
const coap_bin_const_t *sim_psk_for_identity(coap_bin_const_t *identity, coap_session_t *session,
                                             void *arg);

/* ---------------------------------------------------------------- attrs.c */

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

/* ---------------------------------------------------------------- observe.c */

typedef struct sim_observe sim_observe;

/* Observe (RFC 7641) of a unicast GET about to be answered: `read` tells a Read (not a Discover
 * or a blob status) whose answer is `code`, `fmt`, body. Registers (Observe 0), re-registers, or
 * cancels (Observe 1, or no Observe with the token of an observation). Returns the Observe
 * value for the answer, or -1 for none (not observed: the cap, an error, a plain GET). */
long sim_obs_request(sim_fleet *f, unsigned i, coap_session_t *s, const coap_pdu_t *pdu,
                     const lmm_path *p, bool read, int code, int fmt, const uint8_t *body,
                     size_t len);
/* Device i may have changed: its observations are looked at in the loop. Cheap without any. */
void sim_obs_touch(sim_fleet *f, unsigned i);
/* Reads path p of device i as a Read with Accept `accept` would: the answer's code, its body
 * (owned, free()) or the diagnostic text, and (want_num) the value when it is one number. The
 * request handlers above lend it (serve.h's sim_read_observed()). */
typedef int sim_obs_read_fn(sim_fleet *f, unsigned i, const lmm_path *p, int accept, uint8_t **body,
                            size_t *len, double *num, bool *has_num, bool want_num);
/* Sends the notifications that are due, reading the paths by `read`; the milliseconds until the
 * next look (at least 1), or -1 when none is scheduled. */
long sim_obs_run(sim_fleet *f, sim_obs_read_fn *read);
/* Whether NON notifications may be answered with a Reset on f->udp_fd. */
bool sim_obs_watching(const sim_fleet *f);
/* Takes the Resets to NON notifications off f->udp_fd before libcoap reads it. */
void sim_obs_peek(sim_fleet *f);
/* A NACK of a CON notification (Reset, no ACK): ends its observation; false when not ours. */
bool sim_obs_nack(sim_fleet *f, coap_session_t *s, const coap_pdu_t *sent,
                  coap_nack_reason_t reason);
/* "observe":{...}, into the totals / a device's object of --stats-json; the summary line. */
void sim_obs_json_totals(const sim_fleet *f, FILE *fp);
void sim_obs_json_device(const sim_fleet *f, unsigned i, FILE *fp);
void sim_obs_summary(const sim_fleet *f);
/* Releases the observers' sessions (before the CoAP context goes). */
void sim_obs_free(sim_fleet *f);

/* ---------------------------------------------------------------- stats.c */

/* The summary on stderr at exit. */
void sim_stats_summary(const sim_fleet *f);
/* Writes --stats-json (via FILE.tmp and a rename); 0 or -1 (message on stderr). */
int sim_stats_write(const sim_fleet *f);

#endif
