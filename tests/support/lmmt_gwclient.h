/* lmmt_gwclient.h - test support: the gateway (`lwm2m-mbms gateway`) as a child process; the
 * LwM2M server that talks to it is libcoap's coap-client (lmmt_libcoap.h). */
#ifndef LMMT_GWCLIENT_H
#define LMMT_GWCLIENT_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct lmmt_gw {
  pid_t pid;
  char dir[64];  /* scratch directory: ready file, stderr */
  char uri[64];  /* coap://127.0.0.1:PORT */
  char suri[64]; /* coaps://127.0.0.1:PORT when started with --coaps-listen, else "" */
  char err_path[128];
} lmmt_gw;

/** Starts $LMM_CLI --db DB gateway --devices DEVICES --listen 127.0.0.1:0 --ready-file ... and
 *  the NULL-terminated extra arguments, with `env` (NULL-terminated "NAME=VALUE", may be NULL)
 *  set in the child (LMM_T8_API_ROOT unset first); waits (at most 20 s) for it to listen.
 *  Returns 0 or -1 (with its stderr printed). */
int lmmt_gw_start(lmmt_gw *g, const char *db, const char *devices, const char *const *env,
                  const char *const *extra);
/** SIGTERM and a bounded wait (SIGKILL after 10 s); removes the scratch directory. Returns the
 *  exit status, -1 when it had to be killed. */
int lmmt_gw_stop(lmmt_gw *g);

#endif
