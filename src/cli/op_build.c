/* op_build.c - the operation of "lwm2m-mbms deliver" from its flag (--read, --write,
 * --execute, --write-attr, --discover): the path through the object model, a typed value
 * encoded as the payload, a checked Write-Attributes query. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int hexval(int ch) {
  return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a' + 10) : -1;
}

/* "hex:DIGITS" into owned bytes; false if malformed. */
static bool parse_hex(const char *s, uint8_t **out, size_t *len) {
  if (strncmp(s, "hex:", 4)) return false;
  s += 4;
  size_t n = strlen(s);
  if (n % 2) return false;
  uint8_t *b = malloc(n / 2 + 1);
  if (!b) return false;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(b);
      return false;
    }
    b[i] = (uint8_t)(hi << 4 | lo);
  }
  *out = b, *len = n / 2;
  return true;
}

static const char *type_name(lmm_rtype t) {
  static const char *names[] = {"none",           "a string",   "an integer", "an unsigned integer",
                                "a float",        "a boolean",  "opaque",     "a time",
                                "an object link", "a CoRE link"};
  return t <= LMM_RT_CORELNK ? names[t] : "?";
}

/* VALUE text as a typed value of `type`; strings and bytes are borrowed or owned by *bytes. */
static bool parse_value(const char *s, lmm_rtype type, lmm_value *v, uint8_t **bytes) {
  char *end;
  memset(v, 0, sizeof *v);
  v->type = type;
  errno = 0;
  switch (type) {
  case LMM_RT_INTEGER:
    v->v.i = strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
  case LMM_RT_TIME:
    if (cli_parse_time(s, &v->v.i) && s[0] != '+') return true;
    v->v.i = strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
  case LMM_RT_UNSIGNED:
    v->v.u = strtoull(s, &end, 10);
    return isdigit((unsigned char)*s) && !*end && errno == 0;
  case LMM_RT_FLOAT:
    v->v.f = strtod(s, &end);
    return *s && !*end && isfinite(v->v.f) && !isspace((unsigned char)*s);
  case LMM_RT_BOOLEAN:
    if (!strcmp(s, "true") || !strcmp(s, "1"))
      v->v.b = true;
    else if (!strcmp(s, "false") || !strcmp(s, "0"))
      v->v.b = false;
    else
      return false;
    return true;
  case LMM_RT_OBJLNK: {
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != ':' || a > 65535) return false;
    const char *p = end + 1;
    unsigned long b = strtoul(p, &end, 10);
    if (end == p || *end || b > 65535) return false;
    v->v.lnk.oid = (uint16_t)a, v->v.lnk.iid = (uint16_t)b;
    return true;
  }
  case LMM_RT_OPAQUE:
    if (!parse_hex(s, bytes, &v->len)) return false;
    v->bytes = *bytes;
    return true;
  default:
    v->type = type == LMM_RT_CORELNK ? LMM_RT_CORELNK : LMM_RT_STRING;
    v->str = (char *)s;
    return true;
  }
}

/* The operation's path ("PATH[:TYPE]" is the text before `stop`, or all of `arg`) through
 * the model's one rule. */
static int target(const cli *c, const char *flag, lmm_op_kind kind, const char *arg,
                  const char *stop, uint16_t gm_oid, bool fmt_given, uint16_t fmt, cli_target *t) {
  char text[80];
  size_t n = stop ? (size_t)(stop - arg) : strlen(arg);
  if (n >= sizeof text) return cli_usage(c, "%s: path too long", flag);
  memcpy(text, arg, n);
  text[n] = '\0';
  return cli_op_target(c, flag, kind, text, gm_oid, fmt_given, fmt, t);
}

static int build_write(const cli *c, const char *arg, bool fmt_given, uint16_t fmt, uint16_t gm_oid,
                       cli_op_build *b) {
  const char *eq = strchr(arg, '=');
  if (!eq) return cli_usage(c, "--write: '%s' is not PATH=VALUE", arg);
  const char *val = eq + 1;
  cli_target t;
  int rc = target(c, "--write", LMM_OPK_WRITE, arg, eq, gm_oid, fmt_given, fmt, &t);
  if (rc) return rc;
  char path_s[32];
  lmm_path_format(&t.path, path_s, sizeof path_s);
  lmm_path *p = &b->op.path;
  *p = t.path;
  b->op.kind = LMM_OPK_WRITE;
  if (p->depth == 1)
    return cli_usage(c, "--write: '%s' names an object: write an instance or a resource", path_s);
  if (p->depth == 2) {
    /* A whole instance: the operator gives the encoded body, checked by decoding it. */
    if (!fmt_given || (fmt != LMM_FMT_SENML_JSON && fmt != LMM_FMT_TLV))
      return cli_usage(c,
                       "--write: an instance (%s) needs --format senml-json (VALUE: SenML-JSON "
                       "text) or --format tlv (VALUE: hex:DIGITS)",
                       path_s);
    size_t len;
    if (fmt == LMM_FMT_TLV) {
      if (!parse_hex(val, &b->payload, &len))
        return cli_usage(c, "--write: a TLV value must be hex:DIGITS (an even number of digits)");
    } else {
      len = strlen(val);
      if (!(b->payload = malloc(len + 1))) return EXIT_SOME_FAILED;
      memcpy(b->payload, val, len + 1);
    }
    lmm_records r = {0};
    char why[256] = "";
    lmm_err e = lmm_lwm2m_decode(fmt, p, b->payload, len, t.def, &r, why, sizeof why);
    size_t nrec = r.n;
    lmm_records_clear(&r);
    if (e != LMM_OK)
      return cli_usage(c, "--write: the %s value does not parse: %s",
                       fmt == LMM_FMT_TLV ? "TLV" : "SenML-JSON", *why ? why : lmm_strerror(e));
    if (!nrec) return cli_usage(c, "--write: the value holds no resource");
    b->op.format = fmt, b->op.payload = b->payload, b->op.len = len;
    return 0;
  }
  /* One resource, typed by the model or by the PATH:TYPE the operator gave. */
  const lmm_res_def *res = t.res;
  lmm_rtype type = t.type;
  if (!fmt_given) fmt = type == LMM_RT_OPAQUE ? LMM_FMT_OPAQUE : LMM_FMT_TEXT;
  if (fmt == LMM_FMT_OPAQUE) type = LMM_RT_OPAQUE;
  if (fmt == LMM_FMT_LINK) return cli_usage(c, "--write: --format link is for --discover only");
  lmm_value v;
  uint8_t *bytes = NULL;
  if (!parse_value(val, type, &v, &bytes)) {
    free(bytes);
    if (type == LMM_RT_OPAQUE)
      return cli_usage(c,
                       "--write: an opaque value must be hex:DIGITS (an even number of digits), "
                       "not '%s'",
                       val);
    return cli_usage(c, "--write: '%s' is not %s (%s%s%s is %s)", val, type_name(type), path_s,
                     res ? " " : "", res ? res->name : "", type_name(type));
  }
  lmm_record rec = {.path = *p, .value = v};
  size_t len = 0;
  uint8_t *enc = NULL;
  lmm_err e = lmm_lwm2m_encode(fmt, p, &rec, 1, &enc, &len);
  free(bytes);
  if (e != LMM_OK)
    return cli_usage(c, "--write: %s value cannot be sent as format %u: %s", type_name(type), fmt,
                     lmm_strerror(e));
  /* Our own copy, freed with free() like every other payload here. */
  b->payload = malloc(len ? len : 1);
  if (!b->payload) {
    lmm_free(enc);
    return EXIT_SOME_FAILED;
  }
  if (len) memcpy(b->payload, enc, len);
  lmm_free(enc);
  b->op.format = fmt, b->op.payload = b->payload, b->op.len = len;
  return 0;
}

static bool attr_ok(const char *q) {
  static const char *const ints[] = {"pmin", "pmax", "epmin", "epmax", "hqmax"};
  static const char *const nums[] = {"gt", "lt", "st"};
  static const char *const flags[] = {"edge", "con"};
  if (!*q) return false;
  for (const char *item = q; *item;) {
    const char *amp = strchr(item, '&');
    size_t n = amp ? (size_t)(amp - item) : strlen(item);
    const char *eq = memchr(item, '=', n);
    size_t kn = eq ? (size_t)(eq - item) : n;
    char val[64] = "";
    if (!n || (eq && (n - kn - 1 == 0 || n - kn - 1 >= sizeof val))) return false;
    if (eq) memcpy(val, eq + 1, n - kn - 1);
    int kind = -1;
    for (size_t i = 0; kind < 0 && i < sizeof ints / sizeof ints[0]; i++)
      if (strlen(ints[i]) == kn && !strncmp(item, ints[i], kn)) kind = 0;
    for (size_t i = 0; kind < 0 && i < sizeof nums / sizeof nums[0]; i++)
      if (strlen(nums[i]) == kn && !strncmp(item, nums[i], kn)) kind = 1;
    for (size_t i = 0; kind < 0 && i < sizeof flags / sizeof flags[0]; i++)
      if (strlen(flags[i]) == kn && !strncmp(item, flags[i], kn)) kind = 2;
    if (kind < 0) return false;
    if (eq) { /* without a value the attribute is removed */
      char *end;
      if (kind == 0) {
        if (!isdigit((unsigned char)val[0])) return false;
        strtoul(val, &end, 10);
      } else if (kind == 1) {
        double d = strtod(val, &end);
        if (!isfinite(d)) return false;
      } else {
        end = val + 1;
        if (strcmp(val, "0") && strcmp(val, "1")) return false;
      }
      if (*end) return false;
    }
    item += n + (amp ? 1 : 0);
    if (amp && !*item) return false;
  }
  return true;
}

/* Whether the query names gt, lt or st (with or without a value). */
static bool has_step_attr(const char *q) {
  for (const char *item = q; *item;) {
    size_t n = strcspn(item, "&");
    size_t kn = strcspn(item, "=&");
    if (kn == 2 && (!strncmp(item, "gt", 2) || !strncmp(item, "lt", 2) || !strncmp(item, "st", 2)))
      return true;
    item += n + (item[n] ? 1 : 0);
  }
  return false;
}

int cli_build_op(const cli *c, int which, const char *arg, bool fmt_given, uint16_t fmt,
                 uint16_t gm_oid, cli_op_build *b) {
  cli_target t;
  int rc;
  switch (which) {
  case CLI_OP_READ:
    b->op.kind = LMM_OPK_READ;
    if (fmt_given) b->op.accept = fmt;
    rc = target(c, "--read", LMM_OPK_READ, arg, NULL, gm_oid, fmt_given, fmt, &t);
    b->op.path = t.path;
    return rc;
  case CLI_OP_DISC:
    b->op.kind = LMM_OPK_DISCOVER;
    if (fmt_given && fmt != LMM_FMT_LINK)
      return cli_usage(c, "--discover answers in link format: drop --format");
    rc = target(c, "--discover", LMM_OPK_DISCOVER, arg, NULL, gm_oid, fmt_given, fmt, &t);
    b->op.path = t.path;
    return rc;
  case CLI_OP_WRITE:
    return build_write(c, arg, fmt_given, fmt, gm_oid, b);
  case CLI_OP_EXEC: {
    b->op.kind = LMM_OPK_EXECUTE;
    const char *eq = strchr(arg, '=');
    if ((rc = target(c, "--execute", LMM_OPK_EXECUTE, arg, eq, gm_oid, fmt_given, fmt, &t)))
      return rc;
    b->op.path = t.path;
    if (eq && eq[1]) {
      size_t n = strlen(eq + 1);
      if (!(b->payload = malloc(n))) return EXIT_SOME_FAILED;
      memcpy(b->payload, eq + 1, n);
      b->op.payload = b->payload, b->op.len = n, b->op.format = LMM_FMT_TEXT;
    }
    return 0;
  }
  default: { /* CLI_OP_ATTR */
    b->op.kind = LMM_OPK_WRITE_ATTR;
    const char *q = strchr(arg, '?');
    if (!q) return cli_usage(c, "--write-attr: '%s' is not PATH?QUERY (e.g. /3/0/13?pmin=10)", arg);
    if ((rc = target(c, "--write-attr", LMM_OPK_WRITE_ATTR, arg, q, gm_oid, fmt_given, fmt, &t)))
      return rc;
    b->op.path = t.path;
    if (!attr_ok(q + 1))
      return cli_usage(c,
                       "--write-attr: '%s' is not a list of NAME[=NUMBER] joined by '&' (names: "
                       "pmin pmax gt lt st epmin epmax edge con hqmax)",
                       q + 1);
    /* gt, lt and st compare numbers: on a resource of another type no device can honour them. */
    bool numeric = t.type == LMM_RT_INTEGER || t.type == LMM_RT_UNSIGNED ||
                   t.type == LMM_RT_FLOAT || t.type == LMM_RT_TIME;
    if (t.path.depth >= 3 && !numeric && has_step_attr(q + 1))
      return cli_usage(c, "--write-attr: gt, lt and st need a numeric resource; %.*s is %s",
                       (int)(q - arg), arg, cli_rtype_word(t.type));
    if (!(b->query = strdup(q + 1))) return EXIT_SOME_FAILED;
    b->op.query = b->query;
    return 0;
  }
  }
}
