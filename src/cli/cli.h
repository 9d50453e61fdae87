/* cli.h - what the lwm2m-mbms command files share: options, output, exit codes. */
#ifndef LMM_CLI_H
#define LMM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "lwm2m_mbms/lwm2m_mbms.h"

/* Exit codes, documented in --help. */
enum {
  EXIT_ALL_OK = 0,      /* every member / the operation succeeded */
  EXIT_SOME_FAILED = 1, /* finished, but some members (or the delivery) failed */
  EXIT_USAGE = 2,       /* bad flags, arguments or input files */
  EXIT_REFUSED = 3,     /* the SCEF refused, or the network failed */
  EXIT_TIMEOUT = 4      /* a deadline passed */
};

typedef struct cli {
  const char *cmd; /* e.g. "t8 tmgi allocate", for error messages */
  bool json;
  bool verbose;
  bool progress; /* stderr is a terminal and --quiet is not given */
  lmm_t8_config t8;
  lmm_ctx *ctx;
} cli;

/** "lwm2m-mbms: <cmd>: <fmt...>" on stderr. */
void cli_err(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** A usage error: the message, then "Try 'lwm2m-mbms --help'."; returns EXIT_USAGE. */
int cli_usage(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Exit code and message for a failed T8 call. */
int cli_t8_fail(const cli *c, const char *what, const lmm_t8_result *res);
/** Flushes stdout and reports a write error (a closed pipe, a full disk): 0 or EXIT_USAGE+... */
int cli_finish_output(const cli *c, int rc);

int cmd_t8(cli *c, int argc, char **argv);

#endif
