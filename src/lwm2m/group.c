/* group.c - members of a group: member IDs, reachability, and the operators' members file. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/group.h"

LMM_API void lmm_member_clear(lmm_member *m) {
  if (!m) return;
  free(m->ep), free(m->uri), free(m->psk_identity);
  if (m->psk_key) memset(m->psk_key, 0, m->psk_key_len); /* keys do not linger in freed memory */
  free(m->psk_key);
  memset(m, 0, sizeof *m);
}

LMM_API void lmm_members_free(lmm_member *m, size_t n) {
  if (!m) return;
  for (size_t i = 0; i < n; i++)
    lmm_member_clear(&m[i]);
  free(m);
}

LMM_API lmm_err lmm_member_copy(lmm_member *dst, const lmm_member *src) {
  lmm_member t = *src;
  t.ep = src->ep ? strdup(src->ep) : NULL;
  t.uri = src->uri ? strdup(src->uri) : NULL;
  t.psk_identity = src->psk_identity ? strdup(src->psk_identity) : NULL;
  t.psk_key = NULL;
  if (src->psk_key_len && (t.psk_key = malloc(src->psk_key_len)))
    memcpy(t.psk_key, src->psk_key, src->psk_key_len);
  if ((src->ep && !t.ep) || (src->uri && !t.uri) || (src->psk_identity && !t.psk_identity) ||
      (src->psk_key_len && !t.psk_key)) {
    lmm_member_clear(&t);
    return LMM_ERR_NOMEM;
  }
  *dst = t;
  return LMM_OK;
}

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...) {
  if (!why || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
}

/* Endpoint Client Names end up in URIs, SenML names and the Member List resource (which is
 * comma-separated): keep them to printable characters with no separators of those forms. */
static bool ep_char_ok(unsigned char c) {
  return isgraph(c) && c != ',' && c != '/' && c != '=' && c != '#' && c != '"' && c != '\\';
}

LMM_API lmm_err lmm_member_id_parse(const char *s, char **ep, uint16_t *oid, char *why,
                                    size_t why_cap) {
  if (!s || strncmp(s, "ep=", 3)) {
    say(why, why_cap, "member ID must start with 'ep=' (ep=NAME/OBJECT-ID)");
    return LMM_ERR_ARG;
  }
  const char *name = s + 3, *slash = strrchr(name, '/');
  if (!slash || slash == name) {
    say(why, why_cap, "member ID '%s' lacks '/OBJECT-ID' or the endpoint name", s);
    return LMM_ERR_ARG;
  }
  for (const char *p = name; p < slash; p++)
    if (!ep_char_ok((unsigned char)*p)) {
      say(why, why_cap, "endpoint name in '%s' has a forbidden character '%c'", s, *p);
      return LMM_ERR_ARG;
    }
  char *end;
  errno = 0;
  unsigned long v = strtoul(slash + 1, &end, 10);
  if (!isdigit((unsigned char)slash[1]) || *end || errno || v > 65534) {
    say(why, why_cap, "object ID in '%s' is not a number from 0 to 65534", s);
    return LMM_ERR_ARG;
  }
  char *e = strndup(name, (size_t)(slash - name));
  if (!e) return LMM_ERR_NOMEM;
  *ep = e;
  *oid = (uint16_t)v;
  return LMM_OK;
}

LMM_API char *lmm_member_id_format(const lmm_member *m, char *buf, size_t cap) {
  snprintf(buf, cap, "ep=%s/%u", m->ep ? m->ep : "", (unsigned)m->oid);
  return buf;
}

LMM_API bool lmm_member_allows(const lmm_member *m, const lmm_path *p) {
  return m && p && p->depth >= 1 && p->oid == m->oid;
}

/* coap://HOST[:PORT] or coaps://..., HOST a name, IPv4, or [IPv6]; no path, query or user. */
static bool uri_ok(const char *u, bool *secure, char *why, size_t cap) {
  const char *h;
  if (!strncmp(u, "coap://", 7))
    h = u + 7, *secure = false;
  else if (!strncmp(u, "coaps://", 8))
    h = u + 8, *secure = true;
  else {
    say(why, cap, "URI '%s' must start with coap:// or coaps://", u);
    return false;
  }
  const char *end;
  if (*h == '[') {
    end = strchr(h, ']');
    if (!end || end == h + 1) {
      say(why, cap, "URI '%s' has an unterminated IPv6 address", u);
      return false;
    }
    end++;
  } else {
    end = h;
    while (*end && *end != ':' && *end != '/') {
      if (!isalnum((unsigned char)*end) && *end != '.' && *end != '-') {
        say(why, cap, "URI '%s' has a bad host character '%c'", u, *end);
        return false;
      }
      end++;
    }
    if (end == h) {
      say(why, cap, "URI '%s' has no host", u);
      return false;
    }
  }
  if (*end == ':') {
    char *pe;
    errno = 0;
    unsigned long port = strtoul(end + 1, &pe, 10);
    if (!isdigit((unsigned char)end[1]) || errno || port == 0 || port > 65535 ||
        (*pe && *pe != '/')) {
      say(why, cap, "URI '%s' has a bad port", u);
      return false;
    }
    end = pe;
  }
  if (*end == '/' && end[1] == '\0') end++; /* a lone trailing slash is harmless */
  if (*end) {
    say(why, cap, "URI '%s' must not carry a path or query: the operation supplies it", u);
    return false;
  }
  return true;
}

static int hexval(int c) {
  return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* psk-key=hex:0011.. or psk-key=text:secret */
static lmm_err parse_key(const char *v, lmm_member *m, char *why, size_t cap) {
  if (!strncmp(v, "hex:", 4)) {
    size_t n = strlen(v + 4);
    if (n == 0 || n % 2 || n / 2 > 64) {
      say(why, cap, "psk-key hex must have an even number (2..128) of digits");
      return LMM_ERR_ARG;
    }
    if (!(m->psk_key = malloc(n / 2))) return LMM_ERR_NOMEM;
    for (size_t i = 0; i < n / 2; i++) {
      int hi = hexval((unsigned char)v[4 + 2 * i]), lo = hexval((unsigned char)v[5 + 2 * i]);
      if (hi < 0 || lo < 0) {
        say(why, cap, "psk-key has a non-hex digit at position %zu", 2 * i + 1);
        return LMM_ERR_ARG;
      }
      m->psk_key[i] = (uint8_t)(hi << 4 | lo);
    }
    m->psk_key_len = n / 2;
    return LMM_OK;
  }
  if (!strncmp(v, "text:", 5) && v[5]) {
    size_t n = strlen(v + 5);
    if (n > 64) {
      say(why, cap, "psk-key text is longer than 64 bytes");
      return LMM_ERR_ARG;
    }
    if (!(m->psk_key = (uint8_t *)strdup(v + 5))) return LMM_ERR_NOMEM;
    m->psk_key_len = n;
    return LMM_OK;
  }
  say(why, cap, "psk-key must be hex:DIGITS or text:SECRET");
  return LMM_ERR_ARG;
}

/* One non-comment line, already split into whitespace-separated words. */
static lmm_err parse_line(char **w, size_t nw, lmm_member *m, char *why, size_t cap) {
  lmm_err rc;
  if (nw < 2) {
    say(why, cap, "expected 'ep=NAME/OID URI [options]'");
    return LMM_ERR_ARG;
  }
  if ((rc = lmm_member_id_parse(w[0], &m->ep, &m->oid, why, cap)) != LMM_OK) return rc;
  bool secure;
  if (!uri_ok(w[1], &secure, why, cap)) return LMM_ERR_ARG;
  if (!(m->uri = strdup(w[1]))) return LMM_ERR_NOMEM;
  size_t ul = strlen(m->uri);
  if (ul && m->uri[ul - 1] == '/') m->uri[ul - 1] = '\0';
  m->format = 110;
  for (size_t i = 2; i < nw; i++) {
    char *eq = strchr(w[i], '=');
    if (!eq) {
      say(why, cap, "option '%s' is not NAME=VALUE", w[i]);
      return LMM_ERR_ARG;
    }
    *eq = '\0';
    const char *k = w[i], *v = eq + 1;
    if (!strcmp(k, "format")) {
      if (!strcmp(v, "senml-json"))
        m->format = 110;
      else if (!strcmp(v, "tlv"))
        m->format = 11542;
      else {
        say(why, cap, "format must be senml-json or tlv, not '%s'", v);
        return LMM_ERR_ARG;
      }
    } else if (!strcmp(k, "psk-id")) {
      if (!*v || m->psk_identity) {
        say(why, cap, "psk-id is empty or given twice");
        return LMM_ERR_ARG;
      }
      if (!(m->psk_identity = strdup(v))) return LMM_ERR_NOMEM;
    } else if (!strcmp(k, "psk-key")) {
      if (m->psk_key) {
        say(why, cap, "psk-key given twice");
        return LMM_ERR_ARG;
      }
      if ((rc = parse_key(v, m, why, cap)) != LMM_OK) return rc;
    } else {
      say(why, cap, "unknown option '%s' (known: format, psk-id, psk-key)", k);
      return LMM_ERR_ARG;
    }
  }
  if (secure && (!m->psk_identity || !m->psk_key)) {
    say(why, cap, "a coaps:// member needs psk-id and psk-key");
    return LMM_ERR_ARG;
  }
  if (!secure && (m->psk_identity || m->psk_key)) {
    say(why, cap, "psk-id/psk-key only make sense with coaps://");
    return LMM_ERR_ARG;
  }
  return LMM_OK;
}

/* Duplicate member IDs would make per-member results ambiguous: sort a copy of the keys and
 * compare neighbours, O(n log n) for fleets of 10,000+. */
typedef struct idkey {
  const char *ep;
  uint16_t oid;
  size_t line;
} idkey;

static int idkey_cmp(const void *a, const void *b) {
  const idkey *x = a, *y = b;
  int c = strcmp(x->ep, y->ep);
  return c ? c : (int)x->oid - (int)y->oid;
}

LMM_API lmm_err lmm_members_parse(const char *text, size_t len, lmm_member **out, size_t *n,
                                  char *why, size_t why_cap) {
  if (!text || !out || !n) return LMM_ERR_ARG;
  lmm_member *v = NULL;
  size_t *lines = NULL, cnt = 0, cap = 0, lineno = 0;
  lmm_err rc = LMM_OK;
  const char *p = text, *end = text + len;
  char msg[200];
  while (p < end && rc == LMM_OK) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    lineno++;
    if (memchr(p, '\0', (size_t)(le - p))) {
      say(why, why_cap, "line %zu: contains a NUL byte", lineno);
      rc = LMM_ERR_ARG;
      break;
    }
    char *line = strndup(p, (size_t)(le - p));
    if (!line) {
      rc = LMM_ERR_NOMEM;
      break;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *w[16], *save = NULL;
    size_t nw = 0;
    /* strtok_r(): strtok() keeps its place in process-wide state, and group.h promises that
     * members files may be parsed on several threads at once. */
    for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
      if (nw == 16) {
        nw = 17;
        break;
      }
      w[nw++] = tok;
    }
    if (nw > 16) {
      say(why, why_cap, "line %zu: too many words", lineno);
      rc = LMM_ERR_ARG;
    } else if (nw > 0) {
      if (cnt == cap) {
        size_t nc = cap ? cap * 2 : 64;
        lmm_member *nv = realloc(v, nc * sizeof *nv);
        size_t *nl2 = nv ? realloc(lines, nc * sizeof *nl2) : NULL;
        if (nv) v = nv;
        if (nl2) lines = nl2;
        if (!nv || !nl2)
          rc = LMM_ERR_NOMEM;
        else
          cap = nc;
      }
      if (rc == LMM_OK) {
        memset(&v[cnt], 0, sizeof v[cnt]);
        rc = parse_line(w, nw, &v[cnt], msg, sizeof msg);
        if (rc == LMM_OK)
          lines[cnt++] = lineno;
        else {
          lmm_member_clear(&v[cnt]);
          if (rc == LMM_ERR_ARG) say(why, why_cap, "line %zu: %s", lineno, msg);
        }
      }
    }
    free(line);
    p = nl ? nl + 1 : end;
  }
  if (rc == LMM_OK && cnt > 1) {
    idkey *k = malloc(cnt * sizeof *k);
    if (!k) rc = LMM_ERR_NOMEM;
    for (size_t i = 0; k && i < cnt; i++)
      k[i] = (idkey){v[i].ep, v[i].oid, lines[i]};
    if (k) {
      qsort(k, cnt, sizeof *k, idkey_cmp);
      for (size_t i = 1; i < cnt; i++)
        if (!idkey_cmp(&k[i - 1], &k[i])) {
          size_t a = k[i - 1].line < k[i].line ? k[i - 1].line : k[i].line;
          size_t b = k[i - 1].line < k[i].line ? k[i].line : k[i - 1].line;
          say(why, why_cap, "line %zu: member ep=%s/%u already on line %zu", b, k[i].ep,
              (unsigned)k[i].oid, a);
          rc = LMM_ERR_ARG;
          break;
        }
      free(k);
    }
  }
  free(lines);
  if (rc != LMM_OK) {
    lmm_members_free(v, cnt);
    return rc;
  }
  *out = v, *n = cnt;
  return LMM_OK;
}

LMM_API lmm_err lmm_members_load(const char *path, lmm_member **out, size_t *n, char *why,
                                 size_t why_cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    say(why, why_cap, "cannot open '%s': %s", path, strerror(errno));
    return LMM_ERR_IO;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t r = fread(buf + len, 1, cap - len, f);
    len += r;
    if (r == 0) break;
    if (len == cap) {
      if (cap >= (256u << 20)) { /* 256 MiB of members is a mistake, not a fleet */
        free(buf), fclose(f);
        say(why, why_cap, "'%s' is larger than 256 MiB", path);
        return LMM_ERR_ARG;
      }
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  bool bad = ferror(f);
  fclose(f);
  if (!buf) return LMM_ERR_NOMEM;
  if (bad) {
    free(buf);
    say(why, why_cap, "cannot read '%s'", path);
    return LMM_ERR_IO;
  }
  lmm_err rc = lmm_members_parse(buf, len, out, n, why, why_cap);
  free(buf);
  return rc;
}

LMM_API char *lmm_members_format(const lmm_member *m, size_t n) {
  size_t cap = 256 + n * 64, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  len = (size_t)snprintf(s, cap, "# lwm2m-mbms members file: ep=NAME/OBJECT-ID URI [options]\n");
  for (size_t i = 0; i < n; i++) {
    size_t need = strlen(m[i].ep ? m[i].ep : "") + strlen(m[i].uri ? m[i].uri : "") +
                  (m[i].psk_identity ? strlen(m[i].psk_identity) : 0) + 2 * m[i].psk_key_len + 80;
    if (len + need >= cap) {
      while (len + need >= cap)
        cap *= 2;
      char *ns = realloc(s, cap);
      if (!ns) {
        free(s);
        return NULL;
      }
      s = ns;
    }
    len += (size_t)snprintf(s + len, cap - len, "ep=%s/%u %s", m[i].ep ? m[i].ep : "",
                            (unsigned)m[i].oid, m[i].uri ? m[i].uri : "");
    if (m[i].format == 11542) len += (size_t)snprintf(s + len, cap - len, " format=tlv");
    if (m[i].psk_identity)
      len += (size_t)snprintf(s + len, cap - len, " psk-id=%s", m[i].psk_identity);
    if (m[i].psk_key_len) {
      len += (size_t)snprintf(s + len, cap - len, " psk-key=hex:");
      for (size_t k = 0; k < m[i].psk_key_len; k++)
        len += (size_t)snprintf(s + len, cap - len, "%02x", m[i].psk_key[k]);
    }
    s[len++] = '\n';
    s[len] = '\0';
  }
  return s;
}

LMM_API lmm_err lmm_group_mgmt_encode(const lmm_group_mgmt *g, uint16_t oid, uint16_t iid,
                                      uint16_t fmt, uint8_t **out, size_t *out_len) {
  lmm_records r = {0};
  lmm_path base = {.oid = oid, .iid = iid, .depth = 2};
  lmm_err rc = lmm_group_mgmt_to_records(g, oid, iid, &r);
  if (rc == LMM_OK) rc = lmm_lwm2m_encode(fmt, &base, r.items, r.n, out, out_len);
  lmm_records_clear(&r);
  return rc;
}
