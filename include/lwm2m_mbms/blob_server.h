/* blob_server.h - the adapter's own CoAP blob server: firmware packages that members pull
 * (docs/protocol.md section 5.6), served with Block2 (RFC 7959) from the context's loop. */
#ifndef LWM2M_MBMS_BLOB_SERVER_H
#define LWM2M_MBMS_BLOB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmm_blob_server lmm_blob_server;

/** A blob's ID: 8 random bytes, the 16 hex digits of its path "/fw/<id>". Never 0. */
typedef uint64_t lmm_blob_id;

typedef struct lmm_blob_server_config {
  const char *bind_addr;      /**< numeric IPv4 or IPv6 address; default "127.0.0.1" */
  uint16_t port;              /**< 0: ephemeral (lmm_blob_server_port() tells which) */
  const char *advertise_host; /**< host written into the URIs (a name or a numeric address,
                               *   e.g. the public address behind a NAT); default: bind_addr.
                               *   Required when bind_addr is a wildcard (0.0.0.0, ::) */
  unsigned max_block_size;    /**< largest Block2 block served: 16..1024, a power of two
                               *   (0: 1024). A client asking for less gets what it asks. */
} lmm_blob_server_config;

#define LMM_BLOB_SERVER_CONFIG_DEFAULT                                                             \
  { .bind_addr = NULL, .port = 0, .advertise_host = NULL, .max_block_size = 1024 }

/** lmm_blob_server_add() flag: serve `data` in place instead of copying it. The caller keeps
 *  it valid and unchanged until lmm_blob_server_remove() or lmm_blob_server_free() (the ETag is
 *  computed once, at add). */
#define LMM_BLOB_BORROW 0x1u

/** Totals of the whole server since lmm_blob_server_new(). */
typedef struct lmm_blob_server_stats {
  uint64_t requests;    /**< every request received, whatever its path or method (but
                         *   /.well-known/core, which libcoap answers itself) */
  uint64_t blocks;      /**< 2.05 responses with (part of) a blob */
  uint64_t bytes_sent;  /**< blob bytes in those responses (payload only, not headers) */
  uint64_t not_found;   /**< 4.04: no such path or blob */
  uint64_t bad_method;  /**< 4.05: a method other than GET on a blob */
  uint64_t bad_block;   /**< 4.02: a Block2 option past the end of the blob, malformed,
                         *   or naming a block number Block2 cannot carry back */
  uint64_t completions; /**< responses that carried a blob's last byte (~ whole downloads) */
} lmm_blob_server_stats;

/** Counters of one blob since it was added. */
typedef struct lmm_blob_stats {
  uint64_t requests;    /**< GETs of this blob, answered or not (a bad Block2 too) */
  uint64_t blocks;      /**< 2.05 responses */
  uint64_t bytes_sent;  /**< blob bytes in those responses */
  uint64_t completions; /**< responses that carried its last byte */
} lmm_blob_stats;

/** Starts the server: a CoAP (UDP) endpoint served from lmm_ctx_process(). `cfg` is copied
 *  (NULL: defaults). LMM_ERR_ARG for a bind address that is not numeric, a wildcard bind
 *  without advertise_host, or a bad max_block_size; LMM_ERR_IO when the port cannot be bound.
 *  `*out` untouched on failure. */
LMM_API lmm_err lmm_blob_server_new(lmm_ctx *ctx, const lmm_blob_server_config *cfg,
                                    lmm_blob_server **out);
/** Closes the endpoint and frees every blob (borrowed data is not touched). Must come after
 *  every job that uses the server is freed. NULL: no-op. */
LMM_API void lmm_blob_server_free(lmm_blob_server *s);

/** "coap://HOST:PORT" as advertised, without a trailing slash. Borrowed; lives as long as `s`. */
LMM_API const char *lmm_blob_server_base_uri(const lmm_blob_server *s);
/** The port actually bound; 0 when `s` is NULL. */
LMM_API uint16_t lmm_blob_server_port(const lmm_blob_server *s);

/** Registers `len` bytes (1 .. 2^20 blocks of max_block_size: 1 GiB at 1024, what Block2 can
 *  address) under a fresh random ID and starts serving them at
 *  "coap://HOST:PORT/fw/<16 hex ID>". The bytes are copied unless `flags` has LMM_BLOB_BORROW.
 *  `*id` receives the ID; `uri` (optional) the URI, borrowed until the blob is removed.
 *  Content-Format 42; ETag = the first 8 bytes of its SHA-256, so a client resuming a download
 *  sees when the blob behind a URI changed. LMM_ERR_ARG for NULL or empty data, a length past
 *  that bound or `id` NULL; LMM_ERR_IO when no random ID can be drawn; LMM_ERR_NOMEM. Nothing
 *  is registered and `*id` is untouched on failure. */
LMM_API lmm_err lmm_blob_server_add(lmm_blob_server *s, const uint8_t *data, size_t len,
                                    unsigned flags, lmm_blob_id *id, const char **uri);
/** The URI of blob `id`, borrowed until it is removed; NULL when there is no such blob. */
LMM_API const char *lmm_blob_server_uri(const lmm_blob_server *s, lmm_blob_id id);
/** Stops serving blob `id` (its path answers 4.04 from now on) and frees it (its copy; borrowed
 *  data is released to the caller). Its URI string goes with it. LMM_ERR_NOTFOUND when there is
 *  no such blob; LMM_ERR_ARG when `s` is NULL. */
LMM_API lmm_err lmm_blob_server_remove(lmm_blob_server *s, lmm_blob_id id);

/** Copies the server's totals into `*out`; nothing (`*out` untouched) when either is NULL. */
LMM_API void lmm_blob_server_get_stats(const lmm_blob_server *s, lmm_blob_server_stats *out);
/** Copies the counters of blob `id` into `*out`; LMM_ERR_NOTFOUND when there is no such blob,
 *  LMM_ERR_ARG when `out` is NULL. */
LMM_API lmm_err lmm_blob_server_blob_stats(const lmm_blob_server *s, lmm_blob_id id,
                                           lmm_blob_stats *out);

#ifdef __cplusplus
}
#endif
#endif
