/* cli_out.c - lwm2m-mbms: how a command reports what went wrong (usage errors, the SCEF's
 * refusals, a failed write of the output), apart from main.c so that the commands' parsers
 * can be built without the program (tests/fuzz/fuzz_cli.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_err(const cli *c, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "lwm2m-mbms: %s%s", c && c->cmd ? c->cmd : "", c && c->cmd ? ": " : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_usage(const cli *c, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "lwm2m-mbms: %s%s", c && c->cmd ? c->cmd : "", c && c->cmd ? ": " : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'lwm2m-mbms --help'.\n", stderr);
  return EXIT_USAGE;
}

int cli_t8_fail(const cli *c, const char *what, const lmm_t8_result *res) {
  char *d = lmm_t8_result_describe(res);
  cli_err(c, "%s: %s", what, d ? d : lmm_strerror(res->err));
  lmm_free(d);
  switch (res->err) {
  case LMM_ERR_TIMEOUT:
    return EXIT_TIMEOUT;
  case LMM_ERR_ARG:
    return EXIT_USAGE;
  default:
    return EXIT_REFUSED;
  }
}

int cli_finish_output(const cli *c, int rc) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    cli_err(c, "cannot write the output: %s", strerror(errno));
    return rc ? rc : EXIT_USAGE;
  }
  return rc;
}
