/* gprotect.h - protected group messages (docs/protocol.md section 6), shared by the library
 * (the one sender: seal) and the simulator (every member: open, replay window): a group
 * request or blob message sealed with AES-CCM-16-64-128 under a key derived, as OSCORE
 * derives its keys, from the group's secret and Group ID; the sender sequence number is the
 * Partial IV and builds the nonce. */
#ifndef LMMW_GPROTECT_H
#define LMMW_GPROTECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/err.h"

#define LMMW_GP_OPTION     65003u /* experimental range, critical and unsafe: not OSCORE's 9 */
#define LMMW_GP_VERSION    1u
#define LMMW_GP_ALG        10 /* COSE algorithm AES-CCM-16-64-128 */
#define LMMW_GP_KEY_LEN    16u
#define LMMW_GP_NONCE_LEN  13u
#define LMMW_GP_TAG_LEN    8u
#define LMMW_GP_KID_LEN    2u
#define LMMW_GP_SECRET_MIN 16u /* bytes of a group secret (Group Mgmt resource 12) */
#define LMMW_GP_SECRET_MAX 64u
#define LMMW_GP_GROUP_MAX  255u                     /* bytes of a Group ID the derivation takes */
#define LMMW_GP_SEQ_MAX    ((1ull << 40) - 1u)      /* a Partial IV holds at most 5 bytes */
#define LMMW_GP_OVERHEAD   (3u + 8u + 1u + 1u + 8u) /* bytes added to a message, at most */
#define LMMW_GP_WINDOW     64u                      /* sequence numbers the replay window spans */

/** What a sender and its receivers derive from one group secret. */
typedef struct lmmw_gp_key {
  uint8_t key[LMMW_GP_KEY_LEN];
  uint8_t iv[LMMW_GP_NONCE_LEN]; /* Common IV */
  uint8_t kid[LMMW_GP_KID_LEN];  /* Key ID: tells this key from another (a rekeyed group) */
} lmmw_gp_key;

/* Every function borrows its arguments and keeps nothing: no state, no I/O, reentrant. */

/** Derives the key, Common IV and Key ID from `secret` (len bytes, LMMW_GP_SECRET_MIN ..
 *  LMMW_GP_SECRET_MAX) and the group's Group ID (NUL-terminated, 1 .. LMMW_GP_GROUP_MAX bytes)
 *  with HKDF-SHA-256. LMM_OK; LMM_ERR_ARG (out untouched) for a length out of range. */
lmm_err lmmw_gp_derive(const uint8_t *secret, size_t len, const char *group_id, lmmw_gp_key *out);

/** Seals the CoAP message `msg` (len bytes, a NON request with a token of 1..8 bytes) under `k`
 *  with sequence number `seq` (0 .. LMMW_GP_SEQ_MAX; never twice under one key): `*out` (owned,
 *  free()) is a NON POST carrying the Group Protection option and, as payload, the original
 *  code, options and payload encrypted with the tag. LMM_ERR_ARG (nothing allocated) for a
 *  message that is no NON CoAP request or a seq out of range; LMM_ERR_NOMEM. */
lmm_err lmmw_gp_seal(const lmmw_gp_key *k, uint64_t seq, const uint8_t *msg, size_t len,
                     uint8_t **out, size_t *out_len);

/** What a receiver makes of a datagram. */
typedef enum lmmw_gp_verdict {
  LMMW_GP_OK = 0,      /* protected, and the tag verified */
  LMMW_GP_UNPROTECTED, /* a CoAP message without the Group Protection option */
  LMMW_GP_MALFORMED,   /* not CoAP, or the option or its payload broken */
  LMMW_GP_OTHER_KEY,   /* protected under another Key ID */
  LMMW_GP_BAD_TAG      /* the tag does not verify: forged, or altered on the way */
} lmmw_gp_verdict;

/** The protection fields of a datagram, as lmmw_gp_peek() read them. */
typedef struct lmmw_gp_hdr {
  uint8_t kid[LMMW_GP_KID_LEN];
  uint64_t seq;
} lmmw_gp_hdr;

/** Reads the outer message without any key: LMMW_GP_OK with `*h` filled when it is a well-formed
 *  protected message, else LMMW_GP_UNPROTECTED or LMMW_GP_MALFORMED (`*h` zeroed). */
lmmw_gp_verdict lmmw_gp_peek(const uint8_t *msg, size_t len, lmmw_gp_hdr *h);

/** Opens a protected message under `k`: on LMMW_GP_OK `*out` (owned, free()) is the original
 *  CoAP message (the outer header, message ID and token with the decrypted code, options and
 *  payload) and `*seq` its sequence number; otherwise the verdict, nothing allocated, `*seq`
 *  set when the header could be read. The replay check is the caller's (a window per key).
 *  LMMW_GP_MALFORMED also when out of memory. */
lmmw_gp_verdict lmmw_gp_open(const lmmw_gp_key *k, const uint8_t *msg, size_t len, uint8_t **out,
                             size_t *out_len, uint64_t *seq);

/** The receiver's replay window under one key (zeroed: nothing seen yet): the highest sequence
 *  number accepted and which of the LMMW_GP_WINDOW - 1 below it were. */
typedef struct lmmw_gp_window {
  uint64_t top;
  uint64_t seen; /* bit k: top - k accepted */
  bool any;
} lmmw_gp_window;

/** Whether `seq` may be accepted: above the top, or inside the window and not yet seen. */
bool lmmw_gp_window_fresh(const lmmw_gp_window *w, uint64_t seq);
/** Records `seq` as accepted (after its tag verified; only a fresh one). */
void lmmw_gp_window_accept(lmmw_gp_window *w, uint64_t seq);

#endif
