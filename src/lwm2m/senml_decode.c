/* senml_decode.c - SenML-JSON (RFC 8428, content format 110) as LwM2M 1.1 uses it: the strict
 * decoder, from records of fields to typed LwM2M records. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"
#include "lwm2m/senml_internal.h"

static const char *type_name(lmm_rtype t) {
  static const char *const names[] = {"none",   "String",  "Integer", "Unsigned Integer",
                                      "Float",  "Boolean", "Opaque",  "Time",
                                      "Objlnk", "Corelnk"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "unknown";
}

/* RFC 8428 section 5: "vd" is base64url (RFC 4648 section 5) without padding. */

static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Strict: only the URL-safe alphabet, no padding, and the unused low bits of the last
 * character zero, so that every byte string has exactly one text form. *out is owned (at
 * least one byte allocated). 0 ok, 1 malformed, -1 out of memory. */
static int b64url_decode(const char *s, size_t n, uint8_t **out, size_t *out_len) {
  uint8_t *buf;
  size_t k = 0, full = n / 4 * 4;
  int c[4];

  if (n % 4 == 1) return 1;
  for (size_t i = 0; i < n; i++)
    if (b64url_value((unsigned char)s[i]) < 0) return 1;
  if (n % 4 == 2 && (b64url_value((unsigned char)s[n - 1]) & 0x0f) != 0) return 1;
  if (n % 4 == 3 && (b64url_value((unsigned char)s[n - 1]) & 0x03) != 0) return 1;
  if ((buf = malloc(n / 4 * 3 + 3)) == NULL) return -1;
  for (size_t i = 0; i < full; i += 4) {
    for (int j = 0; j < 4; j++)
      c[j] = b64url_value((unsigned char)s[i + (size_t)j]);
    buf[k++] = (uint8_t)((c[0] << 2) | (c[1] >> 4));
    buf[k++] = (uint8_t)((c[1] << 4) | (c[2] >> 2));
    buf[k++] = (uint8_t)((c[2] << 6) | c[3]);
  }
  if (n - full >= 2) {
    c[0] = b64url_value((unsigned char)s[full]);
    c[1] = b64url_value((unsigned char)s[full + 1]);
    buf[k++] = (uint8_t)((c[0] << 2) | (c[1] >> 4));
    if (n - full == 3) {
      c[2] = b64url_value((unsigned char)s[full + 2]);
      buf[k++] = (uint8_t)((c[1] << 4) | (c[2] >> 2));
    }
  }
  *out = buf;
  *out_len = k;
  return 0;
}

/* The SenML fields this decoder knows. Values are the bit of each in `seen`. */
enum {
  F_BN = 1 << 0,
  F_BT = 1 << 1,
  F_BU = 1 << 2,
  F_BV = 1 << 3,
  F_BS = 1 << 4,
  F_BVER = 1 << 5,
  F_N = 1 << 6,
  F_U = 1 << 7,
  F_V = 1 << 8,
  F_VS = 1 << 9,
  F_VB = 1 << 10,
  F_VD = 1 << 11,
  F_VLO = 1 << 12,
  F_S = 1 << 13,
  F_T = 1 << 14,
  F_UT = 1 << 15
};
#define F_VALUES  (F_V | F_VS | F_VB | F_VD | F_VLO)
#define F_NUMBERS (F_BT | F_BV | F_BS | F_BVER | F_V | F_S | F_T | F_UT)
#define F_STRINGS (F_BN | F_BU | F_N | F_U | F_VS | F_VD | F_VLO)

static const struct {
  const char *name;
  unsigned bit;
} fields[] = {{"bn", F_BN},   {"bt", F_BT},     {"bu", F_BU}, {"bv", F_BV},
              {"bs", F_BS},   {"bver", F_BVER}, {"n", F_N},   {"u", F_U},
              {"v", F_V},     {"vs", F_VS},     {"vb", F_VB}, {"vd", F_VD},
              {"vlo", F_VLO}, {"s", F_S},       {"t", F_T},   {"ut", F_UT}};

/* State that carries from record to record (RFC 8428 section 4.6: base fields apply until
 * changed), plus the fields of the current record. */
typedef struct senml_state {
  char *bn; /* owned */
  size_t bn_len;
  bool has_bv;
  lmmi_sj_num bv;
  /* current record */
  unsigned seen;
  lmmi_sj_str name, str; /* "n"; the text of vs / vd / vlo */
  lmmi_sj_num num;       /* "v" */
  bool b;                /* "vb" */
} senml_state;

static void record_reset(senml_state *st) {
  free(st->name.own);
  free(st->str.own);
  memset(&st->name, 0, sizeof st->name);
  memset(&st->str, 0, sizeof st->str);
  st->seen = 0;
}

/* Reads one field "key": value of the record at j->i into st. */
static lmm_err parse_field(lmmi_sj_reader *j, senml_state *st) {
  lmmi_sj_str key;
  unsigned bit = 0;
  lmm_err rc;
  size_t key_at = j->i;

  if (j->i >= j->n || j->s[j->i] != '"') return lmmi_sj_fail(j, "field name expected");
  if ((rc = lmmi_sj_string(j, &key)) != LMM_OK) return rc;
  for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
    if (strlen(fields[f].name) == key.n && memcmp(fields[f].name, key.p, key.n) == 0)
      bit = fields[f].bit;
  /* RFC 8428 section 4.4: a field whose name ends in '_' must be understood or the whole pack
   * refused. */
  if (bit == 0 && key.n != 0 && key.p[key.n - 1] == '_') {
    free(key.own);
    j->i = key_at;
    return lmmi_sj_fail(j, "unknown must-understand field (name ends in '_')");
  }
  free(key.own);
  lmmi_sj_skip_ws(j);
  if (j->i >= j->n || j->s[j->i] != ':') return lmmi_sj_fail(j, "':' expected");
  j->i++;
  lmmi_sj_skip_ws(j);
  if (bit == 0) return lmmi_sj_skip_value(j, 1);
  if (st->seen & bit) {
    j->i = key_at;
    return lmmi_sj_fail(j, "field repeated in one record");
  }
  st->seen |= bit;
  if (j->i >= j->n) return lmmi_sj_fail(j, "value expected");
  if (bit & F_NUMBERS) {
    lmmi_sj_num num;
    char c = j->s[j->i];
    if (c != '-' && (c < '0' || c > '9')) return lmmi_sj_fail(j, "this field must be a number");
    if ((rc = lmmi_sj_number(j, &num)) != LMM_OK) return rc;
    if (bit == F_V) st->num = num;
    if (bit == F_BV) {
      st->bv = num;
      st->has_bv = true;
    }
    return LMM_OK;
  }
  if (bit & F_STRINGS) {
    lmmi_sj_str s;
    if (j->s[j->i] != '"') return lmmi_sj_fail(j, "this field must be a string");
    if ((rc = lmmi_sj_string(j, &s)) != LMM_OK) return rc;
    if (bit == F_BN) {
      char *copy = malloc(s.n + 1);
      if (copy == NULL) {
        free(s.own);
        return LMM_ERR_NOMEM;
      }
      memcpy(copy, s.p, s.n);
      copy[s.n] = '\0';
      free(st->bn);
      st->bn = copy;
      st->bn_len = s.n;
      free(s.own);
    } else if (bit == F_N) {
      st->name = s;
    } else if (bit & (F_VS | F_VD | F_VLO)) {
      /* A second value field is refused later ("more than one value"); keep no leak meanwhile. */
      free(st->str.own);
      st->str = s;
    } else {
      free(s.own); /* units */
    }
    return LMM_OK;
  }
  /* F_VB */
  if (lmmi_sj_lit(j, "true"))
    st->b = true;
  else if (lmmi_sj_lit(j, "false"))
    st->b = false;
  else
    return lmmi_sj_fail(j, "\"vb\" must be true or false");
  return LMM_OK;
}

/* Applies "bv" to "v" (RFC 8428: the record's value is the base value plus its own). */
static bool apply_bv(const senml_state *st, lmmi_sj_num *v) {
  if (!st->has_bv) return true;
  if (st->bv.kind == LMMI_SJ_INT && v->kind == LMMI_SJ_INT &&
      ((st->bv.i >= 0 && v->i <= INT64_MAX - st->bv.i) ||
       (st->bv.i < 0 && v->i >= INT64_MIN - st->bv.i))) {
    v->i += st->bv.i;
    v->d = (double)v->i;
    return true;
  }
  v->d += st->bv.d;
  v->kind = LMMI_SJ_FLOAT;
  return isfinite(v->d);
}

/* 2^63 and 2^64 as doubles: the exclusive upper bounds of int64 and uint64. Integrality is
 * tested by a cast back and forth inside those bounds (no floor(): the library does not link
 * libm). */
#define TWO_63 9223372036854775808.0
#define TWO_64 18446744073709551616.0

/* Builds the value of the current record, converted to the resource's type when known. */
static lmm_err make_value(lmmi_sj_reader *j, senml_state *st, const lmm_res_def *rd,
                          const char *path, lmm_value *v) {
  unsigned have = st->seen & F_VALUES;
  lmm_rtype want;
  lmmi_sj_num num = st->num;
  int r;

  memset(v, 0, sizeof *v);
  if (have == F_V && !apply_bv(st, &num))
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu (%s): bv + v overflows", j->rec, path);
  if (rd != NULL) {
    want = rd->type;
  } else {
    /* No definition: the SenML field decides. */
    want = have == F_VS               ? LMM_RT_STRING
           : have == F_VB             ? LMM_RT_BOOLEAN
           : have == F_VD             ? LMM_RT_OPAQUE
           : have == F_VLO            ? LMM_RT_OBJLNK
           : num.kind == LMMI_SJ_INT  ? LMM_RT_INTEGER
           : num.kind == LMMI_SJ_UINT ? LMM_RT_UNSIGNED
                                      : LMM_RT_FLOAT;
  }
  v->type = want;
  switch (want) {
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (have != F_VS) break;
    if ((v->str = malloc(st->str.n + 1)) == NULL) return LMM_ERR_NOMEM;
    memcpy(v->str, st->str.p, st->str.n);
    v->str[st->str.n] = '\0';
    return LMM_OK;
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    if (have != F_V) break;
    if (num.kind == LMMI_SJ_INT) {
      v->v.i = num.i;
    } else if (num.kind == LMMI_SJ_FLOAT && num.d >= -TWO_63 && num.d < TWO_63 &&
               (double)(int64_t)num.d == num.d) {
      v->v.i = (int64_t)num.d; /* an integral number written as 2.0 or 2e0 */
    } else {
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): %s resource needs an integer in range", j->rec,
                             path, type_name(want));
    }
    return LMM_OK;
  case LMM_RT_UNSIGNED:
    if (have != F_V) break;
    if (num.kind == LMMI_SJ_INT && num.i >= 0) {
      v->v.u = (uint64_t)num.i;
    } else if (num.kind == LMMI_SJ_UINT) {
      v->v.u = num.u;
    } else if (num.kind == LMMI_SJ_FLOAT && num.d >= 0 && num.d < TWO_64 &&
               (double)(uint64_t)num.d == num.d) {
      v->v.u = (uint64_t)num.d;
    } else {
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): Unsigned Integer resource needs an integer "
                             ">= 0 in range",
                             j->rec, path);
    }
    return LMM_OK;
  case LMM_RT_FLOAT:
    if (have != F_V) break;
    v->v.f = num.d;
    return LMM_OK;
  case LMM_RT_BOOLEAN:
    if (have != F_VB) break;
    v->v.b = st->b;
    return LMM_OK;
  case LMM_RT_OPAQUE:
    if (have != F_VD) break;
    r = b64url_decode(st->str.p, st->str.n, &v->bytes, &v->len);
    if (r < 0) return LMM_ERR_NOMEM;
    if (r > 0)
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): \"vd\" is not base64url without padding",
                             j->rec, path);
    return LMM_OK;
  case LMM_RT_OBJLNK:
    if (have != F_VLO) break;
    if (!lmmi_lwm2m_parse_objlnk(st->str.p, st->str.n, &v->v.lnk.oid, &v->v.lnk.iid))
      return lmmi_lwm2m_fail(j->why, j->cap,
                             "SenML record %zu (%s): \"vlo\" must be \"oid:iid\" (0..65535)",
                             j->rec, path);
    return LMM_OK;
  case LMM_RT_NONE:
  default:
    return lmmi_lwm2m_fail(j->why, j->cap,
                           "SenML record %zu (%s): the resource is executable and has no value",
                           j->rec, path);
  }
  return lmmi_lwm2m_fail(j->why, j->cap,
                         "SenML record %zu (%s): \"%s\" does not fit a resource of type %s", j->rec,
                         path,
                         have == F_V    ? "v"
                         : have == F_VS ? "vs"
                         : have == F_VB ? "vb"
                         : have == F_VD ? "vd"
                                        : "vlo",
                         type_name(want));
}

/* Resolves the name of the finished record, checks it and appends the record. */
static lmm_err finish_record(lmmi_sj_reader *j, senml_state *st, const lmm_path *base,
                             const lmm_obj_def *def, lmm_records *out) {
  unsigned have = st->seen & F_VALUES;
  char name[64], path[32];
  size_t nn = st->seen & F_N ? st->name.n : 0;
  const lmm_res_def *rd;
  lmm_path p;
  lmm_value v;
  lmm_err rc;

  /* Every valid path is shorter than this buffer; a longer name is not a path anyway. */
  if (st->bn_len + nn >= sizeof name)
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu: name is not an LwM2M path", j->rec);
  if (st->bn_len != 0) memcpy(name, st->bn, st->bn_len);
  if (nn != 0) memcpy(name + st->bn_len, st->name.p, nn);
  name[st->bn_len + nn] = '\0';
  if (lmm_path_parse(name, &p) != LMM_OK || p.depth < 3)
    return lmmi_lwm2m_fail(j->why, j->cap,
                           "SenML record %zu: name \"%s\" is not a resource or resource "
                           "instance path",
                           j->rec, name);
  lmm_path_format(&p, path, sizeof path);
  if (!lmm_path_within(base, &p)) {
    char b[32];
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu: %s lies outside %s", j->rec, path,
                           lmm_path_format(base, b, sizeof b));
  }
  if (have == 0)
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu (%s): missing value", j->rec, path);
  if ((have & (have - 1)) != 0)
    return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu (%s): more than one value", j->rec,
                           path);
  rd = lmm_obj_def_res(def, p.rid);
  if (rd != NULL && rd->multiple != (p.depth == 4))
    return lmmi_lwm2m_fail(
        j->why, j->cap, "SenML record %zu (%s): resource %u is %s", j->rec, path, (unsigned)p.rid,
        rd->multiple ? "multiple: give its instances" : "single: it has no instances");
  if ((rc = make_value(j, st, rd, path, &v)) != LMM_OK) {
    lmm_value_clear(&v);
    return rc;
  }
  if ((rc = lmmi_lwm2m_records_push(out, &p, &v)) != LMM_OK) lmm_value_clear(&v);
  return rc;
}

/* Appends the records of s to `out` (the caller's scratch list). Names are bn + n, resolved
 * as RFC 8428 section 4.6 says, and must be LwM2M paths under base; bt/t/ut, units and sums
 * are read and ignored; unknown fields are skipped unless they end in '_'. */
lmm_err lmmi_lwm2m_senml_decode(const lmm_path *base, const char *s, size_t len,
                                const lmm_obj_def *def, lmm_records *out, char *why, size_t cap) {
  lmmi_sj_reader j = {s, len, 0, 0, why, cap};
  senml_state st;
  lmm_err rc = LMM_OK;
  size_t later;
  int dup;

  memset(&st, 0, sizeof st);
  lmmi_sj_skip_ws(&j);
  if (j.i >= j.n || s[j.i] != '[')
    return lmmi_lwm2m_fail(why, cap, "SenML byte %zu: the payload must be a JSON array of records",
                           j.i);
  j.i++;
  lmmi_sj_skip_ws(&j);
  if (j.i < j.n && s[j.i] == ']') {
    j.i++;
  } else {
    for (;; j.rec++) {
      lmmi_sj_skip_ws(&j);
      if (j.i >= j.n || s[j.i] != '{') {
        rc = lmmi_sj_fail(&j, "a record must be a JSON object");
        break;
      }
      j.i++;
      lmmi_sj_skip_ws(&j);
      if (j.i < j.n && s[j.i] == '}') {
        j.i++;
      } else {
        for (;;) {
          if ((rc = parse_field(&j, &st)) != LMM_OK) break;
          lmmi_sj_skip_ws(&j);
          if (j.i < j.n && s[j.i] == ',') {
            j.i++;
            lmmi_sj_skip_ws(&j);
            continue;
          }
          if (j.i < j.n && s[j.i] == '}') {
            j.i++;
            break;
          }
          rc = lmmi_sj_fail(&j, "',' or '}' expected");
          break;
        }
        if (rc != LMM_OK) break;
      }
      if ((rc = finish_record(&j, &st, base, def, out)) != LMM_OK) break;
      record_reset(&st);
      lmmi_sj_skip_ws(&j);
      if (j.i < j.n && s[j.i] == ',') {
        j.i++;
        continue;
      }
      if (j.i < j.n && s[j.i] == ']') {
        j.i++;
        break;
      }
      rc = lmmi_sj_fail(&j, "',' or ']' expected after a record");
      break;
    }
  }
  record_reset(&st);
  free(st.bn);
  if (rc != LMM_OK) return rc;
  lmmi_sj_skip_ws(&j);
  if (j.i != j.n) return lmmi_lwm2m_fail(why, cap, "SenML byte %zu: text after the array", j.i);
  dup = lmmi_lwm2m_find_dup(out->items, out->n, &later);
  if (dup < 0) return LMM_ERR_NOMEM;
  if (dup > 0) {
    char p[32];
    return lmmi_lwm2m_fail(why, cap,
                           "SenML record %zu: %s repeats or conflicts with an earlier "
                           "record",
                           later, lmm_path_format(&out->items[later].path, p, sizeof p));
  }
  return LMM_OK;
}
