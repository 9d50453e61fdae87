/* store_path.c - where the state store lives when no --db is given: the environment's
 * choice, read by the command line only (the library never reads the environment). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

char *cli_store_default_path(char *buf, size_t cap) {
  const char *e;
  int n;
  if (!buf || !cap) return NULL;
  if ((e = getenv("LMM_DB")) && *e)
    n = snprintf(buf, cap, "%s", e);
  else if ((e = getenv("XDG_STATE_HOME")) && *e == '/') /* XDG: a relative value is invalid */
    n = snprintf(buf, cap, "%s/lwm2m-mbms/state.db", e);
  else if ((e = getenv("HOME")) && *e)
    n = snprintf(buf, cap, "%s/.local/state/lwm2m-mbms/state.db", e);
  else
    return NULL;
  return n >= 0 && (size_t)n < cap ? buf : NULL; /* a cut path would name another file */
}
