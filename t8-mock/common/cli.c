/* cli.c - the command-line helpers t8-mock and lwm2m-mbms-sim share. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool listed(const char *flags, const char *name) {
  size_t n = strlen(name);
  for (const char *p = flags; (p = strstr(p, name)) != NULL; p += n)
    if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

void cli_options(const char *const *names, size_t n, const char *flags, int first,
                 struct option *out) {
  for (size_t k = 0; k < n; k++)
    out[k] = (struct option){names[k], listed(flags, names[k]) ? no_argument : required_argument,
                             NULL, first + (int)k};
  out[n] = (struct option){NULL, 0, NULL, 0};
}

bool cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  unsigned long long v;
  if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool cli_parse_prob(const char *s, double *out) {
  char *end;
  double v;
  if (!s[0]) return false;
  errno = 0;
  v = strtod(s, &end);
  if (errno || *end || !isfinite(v) || v < 0.0 || v > 1.0) return false;
  *out = v;
  return true;
}

int cli_usage_error(const char *prog, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry '%s --help'.\n", prog);
  return 2;
}
