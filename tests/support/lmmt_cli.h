/* lmmt_cli.h - test support: run the lwm2m-mbms command line ($LMM_CLI) as an operator would,
 * with its output captured, and check its exit status and output. */
#ifndef LMMT_CLI_H
#define LMMT_CLI_H

#include <stdbool.h>

typedef struct lmmt_run {
  int status; /* exit code, or -1 when killed or hung (120 s) */
  char *out, *err;
} lmmt_run;

/** Runs $LMM_CLI --db DB ARGS... (NULL-terminated). `env` (may be NULL) is a NULL-terminated
 *  list of "NAME=VALUE" to set, or "NAME" to unset, in the child only; LMM_T8_API_ROOT is
 *  always unset first. Never fails: a CLI that cannot start gives status 127. */
lmmt_run lmmt_cli_run(const char *db, const char *const *env, const char *const *args);
void lmmt_run_free(lmmt_run *r);
/** Runs and checks the status and that stdout / stderr contain the given texts (NULL: not
 *  checked); prints the command and its output when not. Returns whether it matched. */
bool lmmt_cli_check(const char *db, const char *const *env, int want_status, const char *out_has,
                    const char *err_has, const char *const *args);
/** How many times `needle` occurs in `hay`. */
int lmmt_count_of(const char *hay, const char *needle);

#endif
