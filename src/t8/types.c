/* types.c - the T8 results of lwm2m_mbms/t8.h: freeing and describing them (the T8 data types
 * themselves are freed by the wire library, src/wire/t8_free.c, which decodes them). */
#include "lwm2m_mbms/t8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LMM_API void lmm_t8_result_clear(lmm_t8_result *r) {
  if (r == NULL) return;
  lmm_problem_clear(&r->problem);
  memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- describe */

/* A growing string; `failed` sticks after the first allocation failure. */
typedef struct sbuf {
  char *s;
  size_t len, cap;
  bool failed;
} sbuf;

static void sb_grow(sbuf *b, size_t need) {
  char *n;
  size_t cap;

  if (b->failed || b->len + need + 1 <= b->cap) return;
  cap = b->cap != 0 ? b->cap : 128;
  while (cap < b->len + need + 1)
    cap *= 2;
  if ((n = realloc(b->s, cap)) == NULL) {
    b->failed = true;
    return;
  }
  b->s = n;
  b->cap = cap;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = true;
    return;
  }
  sb_grow(b, (size_t)n);
  if (b->failed) return;
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Appends text from the peer with control characters (line breaks included) turned into
 * spaces: the description is promised to be one line, and a ProblemDetails detail is not. */
static void sb_text(sbuf *b, const char *s) {
  size_t n = strlen(s);

  sb_grow(b, n);
  if (b->failed) return;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    b->s[b->len++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
  }
  b->s[b->len] = '\0';
}

static const char *http_reason(int status) {
  switch (status) {
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 409:
    return "Conflict";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return NULL;
  }
}

static void describe_t8(sbuf *b, const lmm_t8_result *r) {
  const lmm_problem *p = r->has_problem ? &r->problem : NULL;
  const char *reason = http_reason(r->http_status);
  const char *text;

  sb_printf(b, "HTTP %d", r->http_status);
  if (reason != NULL) sb_printf(b, " %s", reason);
  if (p == NULL) return;
  if (p->cause != NULL) {
    sb_printf(b, " (cause ");
    sb_text(b, p->cause);
    sb_printf(b, ")");
  }
  /* The detail is specific to this occurrence; the title only names the problem type. */
  text = p->detail != NULL ? p->detail : p->title;
  if (text != NULL) {
    sb_printf(b, ": ");
    sb_text(b, text);
  }
  for (size_t i = 0; i < p->n_invalid_params; i++) {
    const lmm_invalid_param *ip = &p->invalid_params[i];
    sb_printf(b, "; invalid ");
    sb_text(b, ip->param != NULL ? ip->param : "?");
    if (ip->reason != NULL) {
      sb_printf(b, ": ");
      sb_text(b, ip->reason);
    }
  }
}

LMM_API char *lmm_t8_result_describe(const lmm_t8_result *r) {
  sbuf b = {NULL, 0, 0, false};
  const char *te;

  if (r == NULL) return NULL;
  te = r->transport_error;
  /* transport_error is a fixed array: bound the read even if the writer forgot the NUL. */
  if (memchr(te, '\0', sizeof r->transport_error) == NULL) te = "";
  switch (r->err) {
  case LMM_OK:
    sb_printf(&b, "OK");
    if (r->http_status != 0) sb_printf(&b, " (HTTP %d)", r->http_status);
    break;
  case LMM_ERR_T8:
    describe_t8(&b, r);
    break;
  case LMM_ERR_NET:
    sb_printf(&b, "network error: ");
    sb_text(&b, *te != '\0' ? te : "no usable HTTP exchange");
    break;
  case LMM_ERR_PROTO:
    sb_printf(&b, "malformed answer");
    if (r->http_status != 0) sb_printf(&b, " (HTTP %d)", r->http_status);
    sb_printf(&b, ": ");
    sb_text(&b, *te != '\0' ? te : "unspecified");
    break;
  case LMM_ERR_TIMEOUT:
    sb_printf(&b, "timed out");
    if (*te != '\0') {
      sb_printf(&b, ": ");
      sb_text(&b, te);
    }
    break;
  case LMM_ERR_CANCELLED:
    sb_printf(&b, "cancelled");
    break;
  default:
    sb_printf(&b, "error %d", (int)r->err);
    if (*te != '\0') {
      sb_printf(&b, ": ");
      sb_text(&b, te);
    }
    break;
  }
  if (r->attempts > 1) sb_printf(&b, " (after %d attempts)", r->attempts);
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  return b.s;
}
