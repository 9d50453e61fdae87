/* lmmt_libcoap.h - test support: Debian's libcoap tools (libcoap3-bin) as independent CoAP
 * peers: run coap-client with a bounded time and its output captured, start and stop
 * coap-server on a free loopback port. */
#ifndef LMMT_LIBCOAP_H
#define LMMT_LIBCOAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** What a finished tool run left. */
typedef struct lmmt_tool_run {
  int status;     /**< exit code; -1 when killed at the timeout or by a signal */
  bool timed_out; /**< it was still running at the timeout and was killed */
  char *out;      /**< stdout, NUL-terminated (owned: lmmt_tool_run_free()) */
  size_t out_len; /**< bytes of stdout (it may hold NULs: -o - of binary data) */
  char *err;      /**< stderr, NUL-terminated (owned) */
} lmmt_tool_run;

/** The path of tool `name` ("coap-client" or "coap-server"): $LMM_COAP_CLIENT /
 *  $LMM_COAP_SERVER when set, else /usr/bin/NAME-openssl. When it is not executable, says so
 *  on stderr naming the Debian package that ships it and returns NULL. */
const char *lmmt_libcoap_tool(const char *name);

/** Runs coap-client with the NULL-terminated `args` (argv[1..]; they may hold any bytes but
 *  NUL, e.g. a binary PSK), stdin from /dev/null. Kills it (SIGKILL) when it runs longer than
 *  `timeout_ms`. Never fails: a tool that cannot start gives status 127 with the reason in
 *  err. Free the result with lmmt_tool_run_free(). */
lmmt_tool_run lmmt_coap_client_run(int timeout_ms, const char *const *args);

/** A coap-client started in the background (lmmt_coap_client_start()). */
typedef struct lmmt_tool_job lmmt_tool_job;
/** Starts coap-client like lmmt_coap_client_run() and returns at once; NULL when it cannot
 *  start (the reason on stderr). lmmt_coap_client_finish() must follow. */
lmmt_tool_job *lmmt_coap_client_start(int timeout_ms, const char *const *args);
/** Whether the job's process has ended (without waiting). */
bool lmmt_tool_job_ended(lmmt_tool_job *j);
/** Waits for the job (killing it at its timeout), frees it and returns what it left. */
lmmt_tool_run lmmt_coap_client_finish(lmmt_tool_job *j);

void lmmt_tool_run_free(lmmt_tool_run *r);

/** A running coap-server. */
typedef struct lmmt_coap_server {
  pid_t pid;
  int port; /**< CoAP on 127.0.0.1:port; CoAPS (with a key) on port + 1 */
} lmmt_coap_server;

/** Starts coap-server on 127.0.0.1 on a port free at the time (and port + 1), with `-v 0`
 *  and the NULL-terminated `extra` arguments (e.g. "-d", "20", "-k", "key"); waits (at most
 *  5 s per try) until its sockets are bound. Returns 0, or -1 with the reason on stderr. */
int lmmt_coap_server_start(lmmt_coap_server *s, const char *const *extra);
/** SIGTERM, then SIGKILL after 3 s. Returns 0 when it exited by itself (any status), -1 when
 *  it had to be killed or was not running. */
int lmmt_coap_server_stop(lmmt_coap_server *s);

/** Lines of a coap-client `-v 7` log that show a received response: "v:1 t:T c:C.DD ..."
 *  with a class of 2 to 5. For each, in order, the code (class << 5 | detail), the Observe
 *  value (-1 when absent), the ETag, the Block2 number and the payload as the log quotes it
 * (between ":: '" and the last
 *  "'"; "" when none, "binary data" when the tool did not print it). Returns how many were
 *  found (at most `cap` are stored). */
typedef struct lmmt_logged_pdu {
  int code;
  long observe;
  char type[4];  /**< "CON", "NON", "ACK" */
  char etag[24]; /**< "0x74418330", "" when absent */
  long block2;   /**< Block2 number, -1 when absent */
  char payload[128];
} lmmt_logged_pdu;
size_t lmmt_coap_log_responses(const char *log, lmmt_logged_pdu *out, size_t cap);

#endif
