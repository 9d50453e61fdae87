/* stats.h - lwm2m-mbms-sim feature: the counters, summed at exit and written to
 * --stats-json. */
#ifndef LMM_SIM_STATS_H
#define LMM_SIM_STATS_H

#include "device.h"

/* The summary on stderr at exit. */
void sim_stats_summary(const sim_fleet *f);
/* Writes --stats-json (via FILE.tmp and a rename); 0 or -1 (message on stderr). */
int sim_stats_write(const sim_fleet *f);

#endif
