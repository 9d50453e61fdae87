/* senml_internal.h - what the SenML-JSON decoder (senml_decode.c) shares with its strict JSON
 * reader (senml_reader.c). "sj": SenML-JSON. */
#ifndef LMMI_SENML_INTERNAL_H
#define LMMI_SENML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/lwm2m.h"

/* Where the reader is in the payload; the record index and `why` serve the error messages. */
typedef struct lmmi_sj_reader {
  const char *s;
  size_t n, i;
  size_t rec; /* index of the record being read */
  char *why;
  size_t cap;
} lmmi_sj_reader;

/* A JSON string: either a slice of the input (no escapes) or an owned copy. */
typedef struct lmmi_sj_str {
  const char *p;
  size_t n;
  char *own;
} lmmi_sj_str;

typedef enum { LMMI_SJ_INT, LMMI_SJ_UINT, LMMI_SJ_FLOAT } lmmi_sj_num_kind;

typedef struct lmmi_sj_num {
  lmmi_sj_num_kind kind;
  int64_t i;
  uint64_t u;
  double d;
} lmmi_sj_num;

/* Each reads at j->i and moves past what it read. On failure the reason, with the record
 * index and byte offset, goes to j->why (lmmi_sj_fail()). */
lmm_err lmmi_sj_fail(lmmi_sj_reader *j, const char *what);
void lmmi_sj_skip_ws(lmmi_sj_reader *j);
lmm_err lmmi_sj_string(lmmi_sj_reader *j, lmmi_sj_str *out);
lmm_err lmmi_sj_number(lmmi_sj_reader *j, lmmi_sj_num *out);
bool lmmi_sj_lit(lmmi_sj_reader *j, const char *lit);
lmm_err lmmi_sj_skip_value(lmmi_sj_reader *j, int depth);

#endif
