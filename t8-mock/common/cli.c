/* cli.c - the command-line helpers t8-mock and lwm2m-mbms-sim share. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t cli_options(const char *spec, int first, struct option *out, size_t cap, char *names) {
  size_t n = 0;
  strcpy(names, spec);
  for (char *p = strtok(names, " "); p; p = strtok(NULL, " ")) {
    size_t len = strlen(p);
    bool value = len > 0 && p[len - 1] == '=';
    if (value) p[len - 1] = '\0';
    if (n + 1 >= cap) return 0;
    out[n] = (struct option){p, value ? required_argument : no_argument, NULL, first + (int)n};
    n++;
  }
  out[n] = (struct option){NULL, 0, NULL, 0};
  return n;
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
