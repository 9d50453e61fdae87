/* cli.h - what the command lines of t8-mock and lwm2m-mbms-sim share: the getopt_long() table
 * from a list of names, strict numbers, and the one-line usage error. */
#ifndef LMM_T8MOCK_CLI_H
#define LMM_T8MOCK_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The getopt_long() table of the options of `spec`: their names, space-separated, in the
 *  order of the values they return, `first` for the first one and one more for each next; a
 *  name ending in '=' takes a value, the others none. Writes the entries and a zeroed last one
 *  into `out` (room for cap entries) and the names into `names` (at least strlen(spec) + 1
 *  bytes, the caller's: the table points into it). Returns the number of options, 0 when cap is
 *  too small. */
size_t cli_options(const char *spec, int first, struct option *out, size_t cap, char *names);

/** The unsigned decimal number `s` in lo..hi into *out: digits only (no sign, no blank, no
 *  trailing text). false, *out untouched, for anything else. */
bool cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/** A probability: a finite decimal number in 0..1 into *out. false, *out untouched, otherwise. */
bool cli_parse_prob(const char *s, double *out);

/** Prints "PROG: <message>" and "Try 'PROG --help'." on stderr, and returns the exit status of
 *  a usage error, 2. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
