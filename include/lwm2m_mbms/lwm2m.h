/* lwm2m.h - LwM2M data model: paths, typed values, object definitions, the content-format
 * codecs (SenML-JSON, TLV, plain text, opaque) and the Group Mgmt object. */
#ifndef LWM2M_MBMS_LWM2M_H
#define LWM2M_MBMS_LWM2M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Content formats (CoAP Content-Format numbers). */
#define LMM_FMT_TEXT       0
#define LMM_FMT_LINK       40
#define LMM_FMT_OPAQUE     42
#define LMM_FMT_SENML_JSON 110
#define LMM_FMT_TLV        11542

/** Default Object ID of the Group Mgmt object: the test range 42769-42800, provisional until an
 *  ID is registered. Every API takes the ID as a parameter. */
#define LMM_GROUP_MGMT_OID 42769

/** A path /O, /O/I, /O/I/R or /O/I/R/RI; `depth` says how many parts are set (1..4). */
typedef struct lmm_path {
  uint16_t oid, iid, rid, riid;
  uint8_t depth;
} lmm_path;

/** Parses "/5/0/1" (leading '/' required, no trailing '/', each part 0..65534: 65535 is
 *  reserved by LwM2M). LMM_ERR_ARG when malformed. */
LMM_API lmm_err lmm_path_parse(const char *s, lmm_path *out);
/** Writes the path as text ("/5/0/1") into buf (at least 24 bytes). Returns buf. */
LMM_API char *lmm_path_format(const lmm_path *p, char *buf, size_t cap);
/** True if `inner` is `outer` or below it. */
LMM_API bool lmm_path_within(const lmm_path *outer, const lmm_path *inner);

typedef enum lmm_rtype {
  LMM_RT_NONE = 0, /**< no value (e.g. an Executable resource) */
  LMM_RT_STRING,
  LMM_RT_INTEGER,
  LMM_RT_UNSIGNED,
  LMM_RT_FLOAT,
  LMM_RT_BOOLEAN,
  LMM_RT_OPAQUE,
  LMM_RT_TIME,   /**< seconds since the epoch, signed */
  LMM_RT_OBJLNK, /**< Object ID : Instance ID */
  LMM_RT_CORELNK /**< RFC 6690 link text */
} lmm_rtype;

/** A typed value. `str` (STRING, CORELNK) is NUL-terminated; `bytes`/`len` (OPAQUE) may hold
 *  NULs. Both owned by whoever owns the value (free with lmm_value_clear()). */
typedef struct lmm_value {
  lmm_rtype type;
  union {
    int64_t i; /* INTEGER, TIME */
    uint64_t u;
    double f;
    bool b;
    struct {
      uint16_t oid, iid;
    } lnk;
  } v;
  char *str;
  uint8_t *bytes;
  size_t len;
} lmm_value;

/** One resource value at a full path (depth 3, or 4 for a resource instance). */
typedef struct lmm_record {
  lmm_path path;
  lmm_value value;
} lmm_record;

/** A growable list of records; zero-initialise, free with lmm_records_clear(). */
typedef struct lmm_records {
  lmm_record *items;
  size_t n, cap;
} lmm_records;

/** Frees the value's `str` and `bytes` and leaves it LMM_RT_NONE, all zero. NULL: no-op. */
LMM_API void lmm_value_clear(lmm_value *v);
/** Clears every record's value, frees the array and leaves the list empty (reusable). NULL:
 *  no-op. */
LMM_API void lmm_records_clear(lmm_records *r);
/** Appends a record; the path and the value are copied (deep: `v` stays the caller's).
 *  Pointers into `r->items` are invalidated, as the array may move. @return LMM_OK;
 *  LMM_ERR_ARG for a NULL argument or a path of depth other than 3 or 4; LMM_ERR_NOMEM (`r`
 *  unchanged). */
LMM_API lmm_err lmm_records_add(lmm_records *r, const lmm_path *p, const lmm_value *v);

/* ------------------------------------------------------------ object definitions */

/** Operations of a resource, as in a DDF: a combination of these bits. */
enum { LMM_OP_R = 1, LMM_OP_W = 2, LMM_OP_E = 4 };

typedef struct lmm_res_def {
  uint16_t id;
  const char *name;
  unsigned ops;  /**< LMM_OP_* bits */
  bool multiple; /**< multiple-instance resource */
  bool mandatory;
  lmm_rtype type;    /**< LMM_RT_NONE for executables */
  const char *range; /**< "Range or Enumeration" text, or NULL */
  const char *units; /**< or NULL */
  const char *description;
} lmm_res_def;

typedef struct lmm_obj_def {
  uint16_t oid;
  const char *name;
  const char *urn;
  const char *version; /**< object version, e.g. "1.0" */
  bool multiple;
  bool mandatory;
  const lmm_res_def *res;
  size_t n_res;
  const char *description;
} lmm_obj_def;

/** The resource definition of `rid` in `def`, or NULL. */
LMM_API const lmm_res_def *lmm_obj_def_res(const lmm_obj_def *def, uint16_t rid);

/** OMA's built-in definitions the project uses (static storage): 3 Device (a minimal subset),
 *  5 Firmware Update and 6 Location. NULL for any other ID. */
LMM_API const lmm_obj_def *lmm_obj_def_oma(uint16_t oid);
/** Fills `out` with the Group Mgmt definition under Object ID `oid` (its resource table is
 *  static; nothing to free). The ID is configurable everywhere, so the definition is made per
 *  use rather than kept in a global. */
LMM_API void lmm_group_mgmt_def(uint16_t oid, lmm_obj_def *out);

/* -------------------------------------------------------------------- codecs */

/** Encodes `n` records that all lie under `base` (the request's path: /O/I for a whole
 *  instance, /O/I/R for one resource) in `fmt`: LMM_FMT_SENML_JSON, LMM_FMT_TLV, or for a
 *  single record at depth 3, LMM_FMT_TEXT / LMM_FMT_OPAQUE. `*out` is owned (lmm_free()).
 *  LMM_ERR_ARG when a record lies outside `base`, a type cannot go in `fmt`, or the format is
 *  unknown. */
LMM_API lmm_err lmm_lwm2m_encode(uint16_t fmt, const lmm_path *base, const lmm_record *recs,
                                 size_t n, uint8_t **out, size_t *out_len);

/** Decodes a payload of `fmt` received for `base`. TLV and plain text carry no types: `def`
 *  (may be NULL) types them (without it, TLV values come out OPAQUE and text STRING). SenML
 *  values are typed by their SenML field (v/vs/vb/vd/vlo), then converted to the `def` type
 *  when there is one (an integer resource given as "v":1.5 is an error). Records are appended
 *  to `out`, owning copies of everything (`payload` and `def` are borrowed for the call only).
 *  On failure nothing is appended and `why` (may be NULL) holds the reason: LMM_ERR_PROTO for a
 *  malformed payload (with the byte offset or record index), LMM_ERR_ARG for a bad argument,
 *  an unsupported format or a `def` of another object than `base`, LMM_ERR_NOMEM. */
LMM_API lmm_err lmm_lwm2m_decode(uint16_t fmt, const lmm_path *base, const uint8_t *payload,
                                 size_t len, const lmm_obj_def *def, lmm_records *out, char *why,
                                 size_t why_cap);

/* ---------------------------------------------------------- Group Mgmt object */

/** Group types (resource 1). */
typedef enum lmm_group_type {
  LMM_GROUP_MBMS = 0,
  LMM_GROUP_MULTICAST = 1,
  LMM_GROUP_UNICAST = 2
} lmm_group_type;

/** Resource IDs of the Group Mgmt object: 0..9 from the proposal, 10.. our extensions. */
enum {
  LMM_GM_GROUP_ID = 0,
  LMM_GM_GROUP_TYPE = 1,
  LMM_GM_MEMBER_NUMBER = 2,
  LMM_GM_MEMBER_LIST = 3,
  LMM_GM_FANOUT_TARGET = 4,
  LMM_GM_EXTERNAL_GROUP_ID = 5,
  LMM_GM_TMGI = 6,
  LMM_GM_MULTICAST_ADDRESS = 7,
  LMM_GM_SCHEDULE = 8,
  LMM_GM_RESPONSE_TIME_WINDOW = 9,
  LMM_GM_MULTICAST_PORT = 10, /**< extension: UDP port of group messages (default 5683) */
  LMM_GM_ANSWER_URI = 11,     /**< extension: where members send their answers (docs/protocol.md) */
  LMM_GM_GROUP_KEY = 12 /**< extension: the group's secret (Opaque, write-only; protocol.md 6) */
};

/** One instance of the Group Mgmt object. Owned members; absent ones are NULL / -1 / 0-count. */
typedef struct lmm_group_mgmt {
  char *group_id;          /**< 0, mandatory */
  int group_type;          /**< 1, lmm_group_type or -1 */
  int64_t member_number;   /**< 2, or -1 */
  char *member_list;       /**< 3, comma-separated member IDs "ep=NAME/OID" */
  char *fanout_target;     /**< 4 */
  char *external_group_id; /**< 5, mandatory (R) */
  char **tmgi;             /**< 6, multiple */
  uint16_t *tmgi_riid;
  size_t n_tmgi;
  char *multicast_address; /**< 7 */
  int64_t *schedule;       /**< 8, multiple, seconds since the epoch */
  uint16_t *schedule_riid;
  size_t n_schedule;
  int64_t response_time_window; /**< 9, seconds, or -1 */
  int32_t multicast_port;       /**< 10, or -1 */
  char *answer_uri;             /**< 11 */
  uint8_t *group_key;           /**< 12, write-only: the group secret (wiped when cleared) */
  size_t group_key_len;
} lmm_group_mgmt;

#define LMM_GROUP_MGMT_INIT                                                                        \
  {                                                                                                \
    .group_id = NULL, .group_type = -1, .member_number = -1, .member_list = NULL,                  \
    .fanout_target = NULL, .external_group_id = NULL, .tmgi = NULL, .tmgi_riid = NULL,             \
    .n_tmgi = 0, .multicast_address = NULL, .schedule = NULL, .schedule_riid = NULL,               \
    .n_schedule = 0, .response_time_window = -1, .multicast_port = -1, .answer_uri = NULL,         \
    .group_key = NULL, .group_key_len = 0                                                          \
  }

/** Frees every member `g` owns and resets it to LMM_GROUP_MGMT_INIT. NULL: no-op. */
LMM_API void lmm_group_mgmt_clear(lmm_group_mgmt *g);
/** Appends the set members of `g` as records of /oid/iid (multiple resources keep their
 *  resource instance IDs); the values are copies. LMM_ERR_ARG for a NULL argument, an ID of
 *  65535 or a member out of range (e.g. a group_type or port), LMM_ERR_NOMEM; nothing is
 *  appended on failure. */
LMM_API lmm_err lmm_group_mgmt_to_records(const lmm_group_mgmt *g, uint16_t oid, uint16_t iid,
                                          lmm_records *out);
/** Builds an instance from records of one instance (typed, e.g. from lmm_lwm2m_decode() with
 *  the Group Mgmt definition). Unknown resource IDs are refused. `*out` must be initialised
 *  (LMM_GROUP_MGMT_INIT, or filled by an earlier call): its old contents are freed first. */
LMM_API lmm_err lmm_group_mgmt_from_records(const lmm_record *recs, size_t n, lmm_group_mgmt *out,
                                            char *why, size_t why_cap);

/** The whole instance /oid/iid encoded in `fmt` (SenML-JSON or TLV), ready for a Write.
 *  `*out` is owned (lmm_free()). */
LMM_API lmm_err lmm_group_mgmt_encode(const lmm_group_mgmt *g, uint16_t oid, uint16_t iid,
                                      uint16_t fmt, uint8_t **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
