/* json_parse.c - strict JSON parsing for the T8 codec (what cJSON lets through is refused
 * here first) and the JSON Pointer errors every decoder reports. */
#include "json_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ errors */

lmm_err lmmw_json_fail(lmmw_t8_err *err, const char *ptr, const char *fmt, ...) {
  va_list ap;

  if (err == NULL) return LMM_ERR_PROTO;
  snprintf(err->param, sizeof err->param, "%s", ptr != NULL ? ptr : "");
  va_start(ap, fmt);
  vsnprintf(err->reason, sizeof err->reason, fmt, ap);
  va_end(ap);
  return LMM_ERR_PROTO;
}

void lmmw_json_ptr(char *buf, size_t cap, const char *base, const char *name, long idx) {
  size_t used;

  /* Member names of this API hold neither '~' nor '/', so no RFC 6901 escaping is needed. */
  snprintf(buf, cap, "%s%s%s", base != NULL ? base : "", name != NULL ? "/" : "",
           name != NULL ? name : "");
  used = strlen(buf);
  if (idx >= 0 && used < cap) snprintf(buf + used, cap - used, "/%ld", idx);
}

/* Fails with the pointer of member `name` (and item idx when >= 0) under base. */

/* ------------------------------------------------------------ text checks */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;

  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (avail < n) return 0;
  /* The second byte's range is what excludes overlongs, surrogates and > U+10FFFF. */
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return n;
}

bool lmmw_utf8_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);

  while (left > 0) {
    size_t n = utf8_len(p, left);
    if (n == 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

static bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

/* Length of the RFC 8259 number at s, or 0 when malformed. cJSON itself takes "01", "1." and
 * "-" apart loosely (strtod), so the grammar is enforced here. */
static size_t number_len(const unsigned char *s, size_t avail) {
  size_t i = 0;

  if (i < avail && s[i] == '-') i++;
  if (i >= avail || !is_digit(s[i])) return 0;
  if (s[i] == '0')
    i++;
  else
    while (i < avail && is_digit(s[i]))
      i++;
  if (i < avail && s[i] == '.') {
    i++;
    if (i >= avail || !is_digit(s[i])) return 0;
    while (i < avail && is_digit(s[i]))
      i++;
  }
  if (i < avail && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < avail && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= avail || !is_digit(s[i])) return 0;
    while (i < avail && is_digit(s[i]))
      i++;
  }
  /* "01", "1.2.3" and "1e5e5" would otherwise split into two tokens. */
  if (i < avail &&
      (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
    return 0;
  return i;
}

/* One pass over the text for what cJSON lets through: bytes it would misread (NUL, invalid
 * UTF-8, raw control characters, "\u0000" which a C string cannot hold), loose numbers, and
 * nesting deep enough to cost recursion. The grammar is grammar_ok()'s. Returns false with
 * the offending offset and a reason. */
static bool prescan(const unsigned char *s, size_t len, size_t *at, const char **why) {
  bool in_str = false;
  size_t i = 0, depth = 0;

  while (i < len) {
    unsigned char c = s[i];
    size_t n;

    *at = i;
    if (c == 0) {
      *why = "NUL byte";
      return false;
    }
    if (c >= 0x80) {
      if ((n = utf8_len(s + i, len - i)) == 0) {
        *why = "invalid UTF-8";
        return false;
      }
      i += n;
      continue;
    }
    if (in_str) {
      if (c < 0x20) {
        *why = "unescaped control character in a string";
        return false;
      }
      if (c == '"') {
        in_str = false;
      } else if (c == '\\') {
        if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
          *why = "\\u0000 in a string";
          return false;
        }
        i++; /* the escaped character cannot end the string */
        if (i < len && s[i] >= 0x80)
          continue; /* not a valid escape: cJSON reports it; keep the UTF-8 check in step */
      }
      i++;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > LMMW_JSON_MAX_DEPTH) {
        *why = "nesting too deep";
        return false;
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) depth--;
    } else if (c == '-' || is_digit(c)) {
      if ((n = number_len(s + i, len - i)) == 0) {
        *why = "malformed number";
        return false;
      }
      i += n;
      continue;
    } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      *why = "control character";
      return false;
    }
    i++;
  }
  return true;
}

static bool is_ws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The code unit of "\uXXXX" at s[i] (the backslash), or -1. */
static long utf16_unit(const unsigned char *s, size_t len, size_t i) {
  long v = 0;

  if (i + 6 > len || s[i] != '\\' || s[i + 1] != 'u') return -1;
  for (size_t k = 2; k < 6; k++) {
    int h = hex_value(s[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* The string whose opening quote is at s[*i]: its escapes as cJSON decodes them (a high
 * surrogate only with its low one). *i moves past the closing quote. */
static bool string_ok(const unsigned char *s, size_t len, size_t *i, const char **why) {
  size_t p = *i + 1;

  while (p < len && s[p] != '"') {
    if (s[p] != '\\') {
      p++;
      continue;
    }
    if (p + 1 >= len) { /* a backslash last: unterminated */
      p = len;
      break;
    }
    if (s[p + 1] != 'u') {
      if (!memchr("\"\\/bfnrt", s[p + 1], 8)) { /* not strchr(): it finds a NUL */
        *why = "invalid escape in a string";
        return false;
      }
      p += 2;
      continue;
    }
    long u = utf16_unit(s, len, p);
    if (u < 0 || (u >= 0xdc00 && u <= 0xdfff)) {
      *why = u < 0 ? "invalid \\u escape" : "lone low surrogate in a string";
      return false;
    }
    if (u >= 0xd800 && u <= 0xdbff) {
      long lo = utf16_unit(s, len, p + 6);
      if (lo < 0xdc00 || lo > 0xdfff) {
        *why = "high surrogate without its low one";
        return false;
      }
      p += 6;
    }
    p += 6;
  }
  if (p >= len) {
    *why = "unterminated string";
    return false;
  }
  *i = p + 1;
  return true;
}

/* Longest number cJSON 1.7.15 reads whole (it copies a number into a 64-byte buffer). */
#define NUMBER_MAX 63

/* What the grammar wants next. */
enum { WANT_VALUE, WANT_VALUE_OR_CLOSE, WANT_KEY, WANT_KEY_OR_CLOSE, WANT_COLON, WANT_NEXT };

/* The RFC 8259 grammar over a text that prescan() passed (so nesting is bounded), up to the
 * end of the first value: what follows it is lmmw_json_parse()'s to refuse. Every text it
 * passes is one cJSON reads, so that cJSON failing afterwards can only mean it ran out of
 * memory: a good answer must not read as a malformed one. Returns false with the offending
 * offset and a reason. */
static bool grammar_ok(const unsigned char *s, size_t len, size_t *at, const char **why) {
  unsigned char open[LMMW_JSON_MAX_DEPTH]; /* '{' or '[' of each container we are in */
  size_t depth = 0, i = 0;
  int want = WANT_VALUE;

  for (;;) {
    while (i < len && is_ws(s[i]))
      i++;
    *at = i;
    if (i == len) {
      *why = "unexpected end of the text";
      return false;
    }
    unsigned char c = s[i];
    bool closes = depth > 0 && c == (open[depth - 1] == '{' ? '}' : ']');
    if (closes && (want == WANT_NEXT || want == WANT_VALUE_OR_CLOSE || want == WANT_KEY_OR_CLOSE)) {
      i++, depth--;
      want = WANT_NEXT;
    } else if (want == WANT_NEXT && c == ',' && depth > 0) {
      i++;
      want = open[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
      continue;
    } else if (want == WANT_NEXT) {
      *why = "expected ',' or the end of an array or object";
      return false;
    } else if (want == WANT_COLON) {
      if (c != ':') {
        *why = "expected ':'";
        return false;
      }
      i++;
      want = WANT_VALUE;
      continue;
    } else if (want == WANT_KEY || want == WANT_KEY_OR_CLOSE) {
      if (c != '"') {
        *why = "expected a member name";
        return false;
      }
      if (!string_ok(s, len, &i, why)) return false;
      want = WANT_COLON;
      continue;
    } else if (c == '{' || c == '[') {
      if (depth == LMMW_JSON_MAX_DEPTH) { /* prescan() refused it already */
        *why = "nesting too deep";
        return false;
      }
      open[depth++] = c, i++;
      want = c == '{' ? WANT_KEY_OR_CLOSE : WANT_VALUE_OR_CLOSE;
      continue;
    } else if (c == '"') {
      if (!string_ok(s, len, &i, why)) return false;
      want = WANT_NEXT;
    } else if (c == '-' || is_digit(c)) {
      size_t n = number_len(s + i, len - i);
      if (n == 0 || n > NUMBER_MAX) {
        *why = n == 0 ? "malformed number" : "number too long";
        return false;
      }
      i += n;
      want = WANT_NEXT;
    } else if (len - i >= 4 && (memcmp(s + i, "true", 4) == 0 || memcmp(s + i, "null", 4) == 0)) {
      i += 4;
      want = WANT_NEXT;
    } else if (len - i >= 5 && memcmp(s + i, "false", 5) == 0) {
      i += 5;
      want = WANT_NEXT;
    } else {
      *why = "unexpected character";
      return false;
    }
    if (want == WANT_NEXT && depth == 0) return true;
  }
}

lmm_err lmmw_json_parse(const char *json, size_t len, cJSON **root, lmmw_t8_err *err) {
  const char *end = NULL, *why = NULL;
  size_t at = 0;
  cJSON *doc;

  *root = NULL;
  if (json == NULL || len == 0)
    return lmmw_json_fail(err, "", "empty body: a JSON value is required");
  if (!prescan((const unsigned char *)json, len, &at, &why) ||
      !grammar_ok((const unsigned char *)json, len, &at, &why))
    return lmmw_json_fail(err, "", "not valid JSON at byte %zu: %s", at, why);
  /* Not require_null_terminated: with an explicit length cJSON would then demand a NUL inside
   * the buffer. The trailing check is done below instead. */
  doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (doc == NULL) return LMM_ERR_NOMEM; /* the text is one cJSON reads: see grammar_ok() */
  while (end < json + len && is_ws((unsigned char)*end))
    end++;
  if (end != json + len) {
    cJSON_Delete(doc);
    return lmmw_json_fail(err, "", "unexpected data after the JSON value at byte %zu",
                          (size_t)(end - json));
  }
  *root = doc;
  return LMM_OK;
}
