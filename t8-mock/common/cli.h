/* cli.h - what the command lines of t8-mock and lwm2m-mbms-sim share: the getopt_long() table
 * from a list of names, strict numbers, and the one-line usage error. */
#ifndef LMM_T8MOCK_CLI_H
#define LMM_T8MOCK_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Fills `out` (n + 1 entries, the last one zeroed) for getopt_long() with the n options
 *  `names` (borrowed: they must outlive the table), option k returning `first` + k. The ones
 *  listed in `flags` (space-separated names) take no value, every other one requires one. */
void cli_options(const char *const *names, size_t n, const char *flags, int first,
                 struct option *out);

/** The unsigned decimal number `s` in lo..hi into *out: digits only (no sign, no blank, no
 *  trailing text). false, *out untouched, for anything else. */
bool cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/** A probability: a finite decimal number in 0..1 into *out. false, *out untouched, otherwise. */
bool cli_parse_prob(const char *s, double *out);

/** Prints "PROG: <message>" and "Try 'PROG --help'." on stderr, and returns the exit status of
 *  a usage error, 2. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
