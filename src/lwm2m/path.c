/* path.c - LwM2M paths (/O, /O/I, /O/I/R, /O/I/R/RI): parsing, formatting, containment. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

/* LwM2M reserves 65535 in every part (it means "no ID"), so paths stop at 65534. */
#define PART_MAX 65534u

bool lmmi_lwm2m_path_ok(const lmm_path *p) {
  if (p == NULL || p->depth < 1 || p->depth > 4) return false;
  if (p->oid > PART_MAX) return false;
  if (p->depth >= 2 && p->iid > PART_MAX) return false;
  if (p->depth >= 3 && p->rid > PART_MAX) return false;
  if (p->depth >= 4 && p->riid > PART_MAX) return false;
  return true;
}

LMM_API lmm_err lmm_path_parse(const char *s, lmm_path *out) {
  uint16_t part[4] = {0, 0, 0, 0};
  uint8_t depth = 0;

  if (s == NULL || out == NULL || *s != '/') return LMM_ERR_ARG;
  while (*s == '/') {
    uint32_t v = 0;
    size_t digits = 0;

    s++;
    if (depth == 4) return LMM_ERR_ARG;
    /* Leading zeros are refused so that every path has exactly one text form: paths are
     * compared and used as keys in their text form elsewhere (SenML names, logs). */
    if (s[0] == '0' && s[1] >= '0' && s[1] <= '9') return LMM_ERR_ARG;
    while (*s >= '0' && *s <= '9') {
      v = v * 10u + (uint32_t)(*s - '0');
      if (v > PART_MAX) return LMM_ERR_ARG;
      s++;
      digits++;
    }
    if (digits == 0) return LMM_ERR_ARG; /* "//", a trailing '/', or a non-digit */
    part[depth++] = (uint16_t)v;
  }
  if (*s != '\0') return LMM_ERR_ARG;
  out->oid = part[0];
  out->iid = part[1];
  out->rid = part[2];
  out->riid = part[3];
  out->depth = depth;
  return LMM_OK;
}

LMM_API char *lmm_path_format(const lmm_path *p, char *buf, size_t cap) {
  char tmp[32];
  size_t n = 0;
  uint16_t part[4];

  if (buf == NULL || cap == 0) return buf;
  if (p == NULL) {
    buf[0] = '\0';
    return buf;
  }
  part[0] = p->oid;
  part[1] = p->iid;
  part[2] = p->rid;
  part[3] = p->riid;
  /* Written by hand rather than with snprintf: this runs once per record on every encode. */
  for (unsigned i = 0; i < p->depth && i < 4; i++) {
    char digits[5];
    unsigned v = part[i], k = 0;

    do {
      digits[k++] = (char)('0' + v % 10u);
      v /= 10u;
    } while (v != 0);
    tmp[n++] = '/';
    while (k > 0)
      tmp[n++] = digits[--k];
  }
  if (n == 0) tmp[n++] = '/'; /* depth 0: the root */
  if (n >= cap) n = cap - 1;
  memcpy(buf, tmp, n);
  buf[n] = '\0';
  return buf;
}

LMM_API bool lmm_path_within(const lmm_path *outer, const lmm_path *inner) {
  if (outer == NULL || inner == NULL || inner->depth < outer->depth) return false;
  if (outer->depth >= 1 && inner->oid != outer->oid) return false;
  if (outer->depth >= 2 && inner->iid != outer->iid) return false;
  if (outer->depth >= 3 && inner->rid != outer->rid) return false;
  if (outer->depth >= 4 && inner->riid != outer->riid) return false;
  return true;
}
