/* senml_reader.c - the strict JSON reader under the SenML-JSON decoder: strings (UTF-8, no NUL,
 * escapes checked), numbers, literals and skipping values the decoder does not use. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m_internal.h"
#include "lwm2m/senml_internal.h"

lmm_err lmmi_sj_fail(lmmi_sj_reader *j, const char *what) {
  return lmmi_lwm2m_fail(j->why, j->cap, "SenML record %zu, byte %zu: %s", j->rec, j->i, what);
}

void lmmi_sj_skip_ws(lmmi_sj_reader *j) {
  while (j->i < j->n &&
         (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
    j->i++;
}

static int hex4(const char *s) {
  int v = 0;

  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* The character the escape \c stands for (RFC 8259 section 7), or -1 when c starts no
 * two-character escape ('u' included: four hex digits follow it). */
static int short_escape(char c) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *p = c != '\0' ? strchr(from, c) : NULL;
  return p != NULL ? (unsigned char)to[p - from] : -1;
}

/* Reads the string at j->i (which is '"'). Refuses control characters, bad escapes, lone
 * surrogates, invalid UTF-8 and NUL (values become C strings). */
lmm_err lmmi_sj_string(lmmi_sj_reader *j, lmmi_sj_str *out) {
  size_t start = ++j->i, end = start, k = 0;
  bool escaped = false;
  char *o;

  out->own = NULL;
  while (end < j->n && j->s[end] != '"') {
    unsigned char c = (unsigned char)j->s[end];
    if (c < 0x20) {
      j->i = end;
      return lmmi_sj_fail(j, "control character in a string");
    }
    if (c == '\\') {
      escaped = true;
      if (++end >= j->n) break;
    }
    end++;
  }
  if (end >= j->n) {
    j->i = j->n;
    return lmmi_sj_fail(j, "unterminated string");
  }
  if (!escaped) {
    if (!lmmi_lwm2m_utf8_ok((const uint8_t *)j->s + start, end - start)) {
      j->i = start;
      return lmmi_sj_fail(j, "a string must be UTF-8 without NUL");
    }
    out->p = j->s + start;
    out->n = end - start;
    j->i = end + 1;
    return LMM_OK;
  }
  /* Escapes never make a string longer than its source text. */
  if ((o = malloc(end - start + 1)) == NULL) return LMM_ERR_NOMEM;
  for (size_t i = start; i < end;) {
    uint32_t cp;
    int h, c;

    if (j->s[i] != '\\') {
      o[k++] = j->s[i++];
      continue;
    }
    j->i = i;
    if ((c = short_escape(j->s[i + 1])) >= 0) {
      o[k++] = (char)c;
      i += 2;
      continue;
    }
    if (j->s[i + 1] != 'u') {
      free(o);
      return lmmi_sj_fail(j, "bad escape in a string");
    }
    if (end - i < 6 || (h = hex4(j->s + i + 2)) < 0) goto bad_u;
    cp = (uint32_t)h;
    i += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff) goto bad_u;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      int lo;
      if (end - i < 6 || j->s[i] != '\\' || j->s[i + 1] != 'u' || (lo = hex4(j->s + i + 2)) < 0 ||
          lo < 0xdc00 || lo > 0xdfff)
        goto bad_u;
      cp = 0x10000u + ((cp - 0xd800u) << 10) + ((uint32_t)lo - 0xdc00u);
      i += 6;
    }
    if (cp == 0) goto bad_u;
    k += put_utf8(o + k, cp);
  }
  if (!lmmi_lwm2m_utf8_ok((const uint8_t *)o, k)) {
    free(o);
    j->i = start;
    return lmmi_sj_fail(j, "a string must be UTF-8 without NUL");
  }
  o[k] = '\0';
  out->own = o;
  out->p = o;
  out->n = k;
  j->i = end + 1;
  return LMM_OK;
bad_u:
  free(o);
  return lmmi_sj_fail(j, "bad \\u escape (malformed, lone surrogate or NUL)");
}

lmm_err lmmi_sj_number(lmmi_sj_reader *j, lmmi_sj_num *out) {
  size_t start = j->i, n;
  const char *s = j->s + start;
  bool integral = true;

  while (j->i < j->n && strchr("+-0123456789.eE", j->s[j->i]) != NULL && j->s[j->i] != '\0') {
    if (strchr(".eE", j->s[j->i]) != NULL) integral = false;
    j->i++;
  }
  n = j->i - start;
  if (!lmmi_lwm2m_parse_double(s, n, &out->d)) {
    j->i = start;
    return lmmi_sj_fail(j, "malformed or out-of-range number");
  }
  if (integral && lmmi_lwm2m_parse_i64(s, n, &out->i))
    out->kind = LMMI_SJ_INT;
  else if (integral && lmmi_lwm2m_parse_u64(s, n, &out->u))
    out->kind = LMMI_SJ_UINT;
  else
    out->kind = LMMI_SJ_FLOAT;
  return LMM_OK;
}

bool lmmi_sj_lit(lmmi_sj_reader *j, const char *lit) {
  size_t n = strlen(lit);

  if (j->n - j->i < n || memcmp(j->s + j->i, lit, n) != 0) return false;
  j->i += n;
  return true;
}

/* Skips any JSON value (the value of a field we do not use), checking its syntax. */
lmm_err lmmi_sj_skip_value(lmmi_sj_reader *j, int depth) {
  lmm_err rc;
  char open, close;
  bool first = true;

  if (depth > 32) return lmmi_sj_fail(j, "nesting too deep");
  lmmi_sj_skip_ws(j);
  if (j->i >= j->n) return lmmi_sj_fail(j, "value expected");
  switch (j->s[j->i]) {
  case '"': {
    lmmi_sj_str s;
    if ((rc = lmmi_sj_string(j, &s)) != LMM_OK) return rc;
    free(s.own);
    return LMM_OK;
  }
  case 't':
    return lmmi_sj_lit(j, "true") ? LMM_OK : lmmi_sj_fail(j, "bad literal");
  case 'f':
    return lmmi_sj_lit(j, "false") ? LMM_OK : lmmi_sj_fail(j, "bad literal");
  case 'n':
    return lmmi_sj_lit(j, "null") ? LMM_OK : lmmi_sj_fail(j, "bad literal");
  case '[':
  case '{':
    break;
  default: {
    lmmi_sj_num num;
    return lmmi_sj_number(j, &num);
  }
  }
  open = j->s[j->i++];
  close = open == '[' ? ']' : '}';
  for (;;) {
    lmmi_sj_skip_ws(j);
    if (j->i < j->n && j->s[j->i] == close && first) {
      j->i++;
      return LMM_OK;
    }
    if (open == '{') {
      lmmi_sj_str key;
      if (j->i >= j->n || j->s[j->i] != '"') return lmmi_sj_fail(j, "member name expected");
      if ((rc = lmmi_sj_string(j, &key)) != LMM_OK) return rc;
      free(key.own);
      lmmi_sj_skip_ws(j);
      if (j->i >= j->n || j->s[j->i] != ':') return lmmi_sj_fail(j, "':' expected");
      j->i++;
    }
    if ((rc = lmmi_sj_skip_value(j, depth + 1)) != LMM_OK) return rc;
    first = false;
    lmmi_sj_skip_ws(j);
    if (j->i < j->n && j->s[j->i] == ',') {
      j->i++;
      continue;
    }
    if (j->i < j->n && j->s[j->i] == close) {
      j->i++;
      return LMM_OK;
    }
    return lmmi_sj_fail(j, open == '[' ? "',' or ']' expected" : "',' or '}' expected");
  }
}
