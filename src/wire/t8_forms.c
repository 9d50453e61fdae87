/* t8_forms.c - the string forms of the T8 types (ExternalGroupId, TMGI, Link, IP addresses)
 * and the ids carried in links. */
#include "json_util.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

/* ---------------------------------------------------------- string forms */

bool lmmw_t8_external_group_id_ok(const char *s) {
  const char *at;

  if (s == NULL || (at = strchr(s, '@')) == NULL || at == s || at[1] == '\0' ||
      strchr(at + 1, '@') != NULL)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p <= 0x20 || *p == 0x7f) return false;
  return true;
}

static bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool lmmw_t8_tmgi_ok(const char *s) {
  size_t n;

  if (s == NULL) return false;
  n = strlen(s);
  if (n != 11 && n != 12) return false;
  for (size_t i = 0; i < n; i++)
    if (i < 6 ? !is_hex((unsigned char)s[i]) : !is_digit((unsigned char)s[i])) return false;
  return true;
}

bool lmmw_jstr_ok(const char *s, lmmw_jstr kind) {
  unsigned char addr[16];

  if (s == NULL || !lmmw_utf8_ok(s)) return false;
  switch (kind) {
  case LMMW_JS_ANY:
    return true;
  case LMMW_JS_LINK:
    if (*s == '\0') return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
      if (*p <= 0x20 || *p == 0x7f) return false;
    return true;
  case LMMW_JS_EGID:
    return lmmw_t8_external_group_id_ok(s);
  case LMMW_JS_HEX:
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
      if (!is_hex(*p)) return false;
    return true;
  case LMMW_JS_IPV4:
    return inet_pton(AF_INET, s, addr) == 1;
  case LMMW_JS_IPV6:
    return inet_pton(AF_INET6, s, addr) == 1;
  }
  return false;
}

const char *lmmw_jstr_reason(lmmw_jstr kind) {
  switch (kind) {
  case LMMW_JS_ANY:
    break;
  case LMMW_JS_LINK:
    return "must be a non-empty URI string without spaces";
  case LMMW_JS_EGID:
    return "must be a string of the form local@domain";
  case LMMW_JS_HEX:
    return "must be a string of hexadecimal digits";
  case LMMW_JS_IPV4:
    return "must be an IPv4 address in dotted-decimal form";
  case LMMW_JS_IPV6:
    return "must be an IPv6 address";
  }
  return "must be a string";
}

/* ------------------------------------------------------------------ links */

lmm_err lmmw_t8_link_segment(const char *link, char **out) {
  const char *path, *end, *start, *p;
  char *seg;

  *out = NULL;
  if (link == NULL) return LMM_OK;
  end = link + strcspn(link, "?#");
  /* Skip "scheme://authority" or "//authority": a host is not a path segment. */
  path = link;
  for (p = link; p < end && *p != '/' && *p != ':'; p++)
    ;
  if (p + 2 < end && p[0] == ':' && p[1] == '/' && p[2] == '/')
    path = p + 3;
  else if (end - link >= 2 && link[0] == '/' && link[1] == '/')
    path = link + 2;
  if (path != link) {
    while (path < end && *path != '/')
      path++;
  }
  while (end > path && end[-1] == '/')
    end--;
  start = end;
  while (start > path && start[-1] != '/')
    start--;
  if (start == end) return LMM_OK;
  if ((seg = malloc((size_t)(end - start) + 1)) == NULL) return LMM_ERR_NOMEM;
  memcpy(seg, start, (size_t)(end - start));
  seg[end - start] = '\0';
  *out = seg;
  return LMM_OK;
}

char *lmmw_t8_link_last_segment(const char *link) {
  char *seg;

  return lmmw_t8_link_segment(link, &seg) == LMM_OK ? seg : NULL;
}

const char *lmmw_t8_link_api_path(const char *link) {
  return link != NULL ? strstr(link, LMM_T8_BASE_PATH) : NULL;
}
