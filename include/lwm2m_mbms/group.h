/* group.h - groups and their members, and the operators' members file.
 *
 * Nothing here does I/O but lmm_members_load(), nor keeps state: the functions may be called
 * from any thread, on data no other thread changes meanwhile. Strings and arrays in these
 * structs are owned by the struct (heap copies) unless a comment says otherwise. */
#ifndef LWM2M_MBMS_GROUP_H
#define LWM2M_MBMS_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lwm2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A member: "ep={Endpoint Client Name}/{Object ID}" plus how to reach it. Owned strings. */
typedef struct lmm_member {
  char *ep;           /**< Endpoint Client Name */
  uint16_t oid;       /**< the only object a group operation may touch on this member */
  char *uri;          /**< coap://HOST:PORT or coaps://HOST:PORT (HOST numeric or a name) */
  char *psk_identity; /**< CoAPS only */
  uint8_t *psk_key;   /**< CoAPS only */
  size_t psk_key_len;
  uint16_t format; /**< content format for instance writes: LMM_FMT_SENML_JSON or LMM_FMT_TLV */
} lmm_member;

/** Frees what `m` owns (the PSK key is wiped first) and zeroes it; `m` itself is the
 *  caller's. NULL: no-op. */
LMM_API void lmm_member_clear(lmm_member *m);
/** Clears the `n` members of the array `m` and frees the array (as returned by
 *  lmm_members_parse(), lmm_members_load() or lmm_store_members_get()). NULL: no-op. */
LMM_API void lmm_members_free(lmm_member *m, size_t n);
/** Deep copy of `src` (borrowed) into `*dst`, which then owns its strings and key (free with
 *  lmm_member_clear()); `*dst`'s old contents are not freed. @return LMM_OK; LMM_ERR_NOMEM with
 *  `*dst` untouched. */
LMM_API lmm_err lmm_member_copy(lmm_member *dst, const lmm_member *src);

/** Parses a member ID "ep=NAME/OID" (`s` borrowed). On success `*ep` is an owned copy of NAME
 *  (free with lmm_free()) and `*oid` the Object ID. @return LMM_OK; LMM_ERR_ARG when
 *  malformed, with the reason in `why` (may be NULL; `why_cap` bytes) and `*ep`, `*oid`
 *  untouched; LMM_ERR_NOMEM. */
LMM_API lmm_err lmm_member_id_parse(const char *s, char **ep, uint16_t *oid, char *why,
                                    size_t why_cap);
/** Writes "ep=NAME/OID" of `m` into `buf` (`cap` bytes, NUL-terminated, cut short when small).
 *  @return `buf`. */
LMM_API char *lmm_member_id_format(const lmm_member *m, char *buf, size_t cap);

/** Whether a group operation on `p` may be sent to `m`: only paths within its Object ID.
 *  False when either is NULL. */
LMM_API bool lmm_member_allows(const lmm_member *m, const lmm_path *p);

/** Parses a members file (format in docs/members-file.md): one member per line,
 *    ep=NAME/OID  URI  [format=senml-json|tlv] [psk-id=ID] [psk-key=hex:HEX|text:TEXT]
 *  '#' starts a comment, blank lines are skipped. Duplicate member IDs are refused. On
 *  failure returns LMM_ERR_ARG (or LMM_ERR_IO for a file that cannot be read) with `why`
 *  naming the line number and the reason, and nothing in `*out`. `*out` is an owned array
 *  (lmm_members_free()). */
LMM_API lmm_err lmm_members_parse(const char *text, size_t len, lmm_member **out, size_t *n,
                                  char *why, size_t why_cap);
/** Reads the members file at `path` and parses it as lmm_members_parse() does; `*out` owned
 *  (lmm_members_free()). @return LMM_OK; LMM_ERR_IO when it cannot be opened or read,
 *  LMM_ERR_ARG when it is larger than 256 MiB or malformed, both with `why`; LMM_ERR_NOMEM.
 *  Nothing in `*out` on failure. Blocks for the file's reading. */
LMM_API lmm_err lmm_members_load(const char *path, lmm_member **out, size_t *n, char *why,
                                 size_t why_cap);
/** Writes the `n` members of `m` (borrowed) in the file format, with a header comment (PSK keys
 *  included, as hex). @return owned text (free with lmm_free()), or NULL when out of memory. */
LMM_API char *lmm_members_format(const lmm_member *m, size_t n);

/* ------------------------------------------------------------ groups */

/** What becomes of a group's TMGI when a campaign ends (docs/architecture.md, "TMGIs"). */
typedef enum lmm_tmgi_policy {
  LMM_TMGI_KEEP = 0,   /**< kept for the group's next campaign until it expires (renewed by
                        *   the campaign that needs it longer): no allocation per campaign,
                        *   and the members keep listening to the same bearer */
  LMM_TMGI_RELEASE = 1 /**< deleted on the SCEF (T8 DELETE) when the campaign ends; the next
                        *   campaign allocates a new one and writes it to every member */
} lmm_tmgi_policy;

/** A group as the server keeps it (seed Table 1 + Group Mgmt values). Owned members. */
typedef struct lmm_group_info {
  char *name;                   /**< Group ID: unique, set by the server */
  lmm_group_type type;          /**< MBMS, IP multicast or unicast */
  uint16_t gm_oid;              /**< Object ID of the Group Mgmt object (default 42769) */
  char *external_group_id;      /**< MBMS groups: local@domain */
  char *multicast_address;      /**< IP multicast groups */
  int32_t multicast_port;       /**< -1: default 5683 */
  int64_t response_time_window; /**< seconds */
  char *fanout_target;
  int64_t *schedule; /**< seconds since the epoch */
  size_t n_schedule;
  char *tmgi;              /**< allocated TMGI, or NULL */
  int64_t tmgi_expiration; /**< seconds since the epoch; 0 unknown */
  int64_t created;         /**< seconds since the epoch (set by the store) */
  size_t member_count;     /**< filled by get/list */
  /** Instance ID of the group's Group Mgmt object on its members (0..65534). The store
   *  assigns it on create, unique among its groups, so that a device in several groups holds
   *  one instance per group; get/list return it, update keeps it. A hand-built struct (no
   *  store) leaves it 0: instance 0. A campaign treats a negative value as 0. */
  int32_t gm_iid;
  lmm_tmgi_policy tmgi_policy; /**< LMM_TMGI_KEEP for a zeroed struct */
} lmm_group_info;

/** Frees what `g` owns and zeroes it; `g` itself is the caller's. NULL: no-op. */
LMM_API void lmm_group_info_clear(lmm_group_info *g);
/** Clears the `n` groups of the array `g` and frees the array (as returned by
 *  lmm_store_group_list()). NULL: no-op. */
LMM_API void lmm_group_info_list_free(lmm_group_info *g, size_t n);

#ifdef __cplusplus
}
#endif
#endif
