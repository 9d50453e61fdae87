/* opts.h - t8-mock's command line (opts.c), for main.c. */
#ifndef LMM_T8MOCK_OPTS_H
#define LMM_T8MOCK_OPTS_H

#include <stdbool.h>

#include "mock.h"

/* The --help text: every flag, the exit statuses. */
extern const char MOCK_USAGE[];

/* Fills *c (zeroed by the caller) from the command line: the defaults, then each flag. Returns
 * 0 (with *help set for --help), or 2 after printing a usage error on stderr. The strings of *c
 * point into argv; c->scs_as_ids is allocated (free()), also after a failed parse. */
int mock_opts_parse(int argc, char **argv, mock_cfg *c, bool *help);

#endif
