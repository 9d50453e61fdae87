/* opts.h - lwm2m-mbms-sim's command line (opts.c), for main.c. */
#ifndef LMM_SIM_OPTS_H
#define LMM_SIM_OPTS_H

#include <stdbool.h>

#include "device.h"

/* The --help text: every option, the exit statuses. */
extern const char SIM_USAGE[];

/* Fills *c (zeroed by the caller) from the command line: the defaults, then each option.
 * Returns 0 (with *help set for --help), or 2 after printing a usage error on stderr. The
 * strings of *c point into argv; what it allocates goes with sim_opts_free(). */
int sim_opts_parse(int argc, char **argv, sim_config *c, bool *help);
/* Frees what sim_opts_parse() allocated (also after a failed parse). */
void sim_opts_free(sim_config *c);
/* The fault lists name devices: one outside the fleet is a usage error (2, message
 * on stderr); otherwise sets the devices' fault flags and returns 0. */
int sim_opts_apply(sim_fleet *f);

#endif
