/* cli_util.c - helpers the group and campaign commands share: the store, the SCEF client,
 * names, times and JSON strings. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_need_args(const cli *c, int have, int want, const char *what) {
  if (have < want) return cli_usage(c, "missing %s", what);
  if (have > want) return cli_usage(c, "too many arguments");
  return 0;
}

int cli_exit_of(lmm_err e) {
  switch (e) {
  case LMM_OK:
    return EXIT_ALL_OK;
  case LMM_ERR_TIMEOUT:
    return EXIT_TIMEOUT;
  case LMM_ERR_ARG:
    return EXIT_USAGE;
  default:
    return EXIT_REFUSED;
  }
}

int64_t cli_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unicast always (Group Mgmt writes, repair, push), the answer receiver for group paths, the
 * T8 client and its notification receiver for MBMS: nothing a path does not use, so a flag
 * for an engine the path lacks is the operator's mistake and said so. */
int cli_engines_setup(cli *c, cli_engines *g, lmm_path_kind via, const cli_run_opts *ro,
                      const lmm_t8_notifier_handlers *nh, void *user) {
  lmm_unicast_config uc = LMM_UNICAST_CONFIG_DEFAULT;
  const char *flag = ro->coap_bind_from ? ro->coap_bind_from : "--coap-bind";
  uc.bind = ro->coap_bind;
  c->last_error[0] = '\0';
  lmm_err e = lmm_unicast_new(c->ctx, &uc, &g->uni);
  if (e == LMM_ERR_ARG && uc.bind)
    return cli_usage(c, "%s: '%s' is not a numeric ADDR:PORT (e.g. 0.0.0.0:5683, [::]:5683)", flag,
                     uc.bind);
  if (e != LMM_OK) {
    if (uc.bind) /* the port is taken and cannot be shared: the library's log says why */
      cli_err(c, "%s %s: %s", flag, uc.bind, c->last_error[0] ? c->last_error : lmm_strerror(e));
    else
      cli_err(c, "cannot start the CoAP client: %s", lmm_strerror(e));
    return EXIT_REFUSED;
  }
  if (via == LMM_VIA_MBMS || via == LMM_VIA_MULTICAST) {
    lmm_answers_config ac = LMM_ANSWERS_CONFIG_DEFAULT;
    char addr[64] = "127.0.0.1";
    if (ro->answer_listen && !cli_split_hostport(ro->answer_listen, addr, sizeof addr, &ac.port))
      return cli_usage(c, "--answer-listen: '%s' is not ADDR:PORT", ro->answer_listen);
    ac.bind_addr = addr;
    if ((e = lmm_answers_new(c->ctx, &ac, &g->ans)) != LMM_OK) {
      cli_err(c, "cannot listen for answers on %s port %u: %s", addr, ac.port, lmm_strerror(e));
      return e == LMM_ERR_ARG ? EXIT_USAGE : EXIT_REFUSED;
    }
    if (ro->answer_uri && lmm_answers_set_uri(g->ans, ro->answer_uri) != LMM_OK)
      return cli_usage(c, "--answer-uri: '%s' is not a coap:// URI", ro->answer_uri);
  } else if (ro->answer_listen || ro->answer_uri) {
    return cli_usage(c, "--answer-listen and --answer-uri are for mbms and multicast delivery");
  }
  if (via == LMM_VIA_MBMS) {
    int rc = cli_t8_connect(c, &g->t8);
    if (rc) return rc;
    if ((rc = cli_notifier_start(c, ro->notify_listen, ro->notify_url, nh, user, &g->nt)))
      return rc;
    /* Every delivery the campaign makes then has a destination of its own. */
    lmm_t8_client_attach_notifier(g->t8, g->nt);
  } else if (ro->notify_listen || ro->notify_url) {
    return cli_usage(c, "--notify-listen and --notify-url are for mbms delivery");
  }
  return 0;
}

void cli_engines_free(cli_engines *g) {
  /* The client holds the receiver: the client goes first. */
  lmm_t8_client_free(g->t8);
  lmm_t8_notifier_free(g->nt);
  lmm_answers_free(g->ans);
  lmm_unicast_free(g->uni);
  memset(g, 0, sizeof *g);
}

int cli_store_open(const cli *c, lmm_store **out) {
  char buf[4096];
  const char *path = c->db ? c->db : cli_store_default_path(buf, sizeof buf);
  if (!path)
    return cli_usage(c, "no state store: give --db FILE or set LMM_DB (HOME is not set either)");
  lmm_store *s = NULL;
  lmm_err e = lmm_store_open(c->ctx, path, &s);
  if (e != LMM_OK) {
    /* A URI may carry a password: the store's message names it masked, so it is not repeated. */
    bool uri = !strncmp(path, "postgresql://", 13) || !strncmp(path, "postgres://", 11);
    if (uri)
      cli_err(c, "cannot open the state store: %s", lmm_store_errmsg(s));
    else
      cli_err(c, "cannot open the state store '%s': %s", path, lmm_store_errmsg(s));
    lmm_store_close(s);
    return EXIT_USAGE;
  }
  *out = s;
  return 0;
}

int cli_store_fail(const cli *c, lmm_store *s, const char *what, lmm_err e) {
  const char *m = s ? lmm_store_errmsg(s) : NULL;
  if (m && *m && e == LMM_ERR_DB)
    cli_err(c, "%s: %s: %s", what, lmm_strerror(e), m);
  else
    cli_err(c, "%s: %s", what, lmm_strerror(e));
  return e == LMM_ERR_ARG ? EXIT_USAGE : EXIT_SOME_FAILED;
}

int cli_group_members(const cli *c, lmm_store *s, const char *group, lmm_member **m, size_t *n) {
  lmm_err e = lmm_store_members_get(s, group, m, n);
  if (e != LMM_OK) return cli_store_fail(c, s, "reading the members", e);
  if (!*n)
    return cli_usage(c, "group '%s' has no members: add some with 'lwm2m-mbms group add-member'",
                     group);
  return 0;
}

int cli_group_get(const cli *c, lmm_store *s, const char *name, lmm_group_info *out) {
  lmm_err e = lmm_store_group_get(s, name, out);
  if (e == LMM_ERR_NOTFOUND)
    return cli_usage(c, "unknown group '%s' (see 'lwm2m-mbms group list')", name);
  if (e != LMM_OK) return cli_store_fail(c, s, "reading the group", e);
  return 0;
}

int cli_t8_connect(cli *c, lmm_t8_client **out) {
  if (!c->t8.api_root) return cli_usage(c, "no SCEF given: use --api-root or LMM_T8_API_ROOT");
  if (!c->t8.scs_as_id)
    return cli_usage(c, "no SCS/AS id given: use --scs-as-id or LMM_T8_SCS_AS_ID");
  lmm_err e = lmm_t8_client_new(c->ctx, &c->t8, out);
  if (e == LMM_ERR_IO) return cli_usage(c, "cannot read the token file '%s'", c->t8.token_file);
  if (e == LMM_ERR_ARG)
    return cli_usage(c,
                     "bad SCEF connection: --api-root must be an http(s) URL and "
                     "--scs-as-id one path segment (got '%s', '%s')",
                     c->t8.api_root, c->t8.scs_as_id);
  if (e != LMM_OK) {
    cli_err(c, "cannot create the T8 client: %s", lmm_strerror(e));
    return EXIT_REFUSED;
  }
  return 0;
}

int cli_notifier_start(cli *c, const char *listen, const char *url,
                       const lmm_t8_notifier_handlers *nh, void *user, lmm_t8_notifier **out) {
  lmm_t8_notifier_config nc = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  char addr[64] = "127.0.0.1";
  if (listen && !cli_split_hostport(listen, addr, sizeof addr, &nc.port))
    return cli_usage(c, "--notify-listen: '%s' is not ADDR:PORT", listen);
  if (url && strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
    return cli_usage(c, "--notify-url: '%s' is not an http(s) URL", url);
  if (url && strpbrk(url, "?#"))
    return cli_usage(c,
                     "--notify-url: '%s' has a query or fragment: each delivery is notified "
                     "at a path below the URL",
                     url);
  nc.bind_addr = addr;
  nc.public_url = url;
  lmm_err e = lmm_t8_notifier_new(c->ctx, &nc, nh, user, out);
  if (e != LMM_OK) {
    cli_err(c, "cannot listen for notifications on %s port %u: %s", addr, nc.port, lmm_strerror(e));
    return e == LMM_ERR_ARG ? EXIT_USAGE : EXIT_REFUSED;
  }
  return 0;
}

bool cli_split_hostport(const char *s, char *addr, size_t cap, uint16_t *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s) return false;
  const char *a = s, *ae = colon;
  if (*s == '[') { /* [v6]:port */
    if (colon[-1] != ']') return false;
    a = s + 1, ae = colon - 1;
  } else if (memchr(s, ':', (size_t)(colon - s))) {
    return false; /* a bare IPv6 address needs brackets to carry a port */
  }
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || p < 0 || p > 65535 || ae <= a || (size_t)(ae - a) >= cap) return false;
  memcpy(addr, a, (size_t)(ae - a));
  addr[ae - a] = '\0';
  *port = (uint16_t)p;
  return true;
}

int cli_run_opt(cli *c, int o, const char *arg, cli_run_opts *ro) {
  char *end;
  switch (o) {
  case CLI_RUN_ALISTEN:
    ro->answer_listen = arg;
    break;
  case CLI_RUN_AURI:
    if (strncmp(arg, "coap://", 7) && strncmp(arg, "coaps://", 8))
      return cli_usage(c, "--answer-uri: '%s' is not a coap:// or coaps:// URI", arg);
    ro->answer_uri = arg;
    break;
  case CLI_RUN_NLISTEN:
    ro->notify_listen = arg;
    break;
  case CLI_RUN_NURL:
    if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
      return cli_usage(c, "--notify-url: '%s' is not an http(s) URL", arg);
    ro->notify_url = arg;
    break;
  case CLI_RUN_COAP_BIND:
    ro->coap_bind = arg;
    break;
  case CLI_RUN_WAIT:
    ro->wait_s = strtod(arg, &end);
    if (*end || end == arg || !(ro->wait_s >= 0) || ro->wait_s > 7 * 86400)
      return cli_usage(c, "--wait: '%s' is not a number of seconds from 0 to 604800", arg);
    break;
  default: /* CLI_RUN_JSON */
    c->json = true;
  }
  return 0;
}

int cli_take_coap_bind(const cli *c, cli_run_opts *ro) {
  ro->coap_bind_from = "--coap-bind";
  if (!ro->coap_bind) {
    ro->coap_bind = getenv("LMM_COAP_BIND");
    ro->coap_bind_from = "LMM_COAP_BIND";
    if (ro->coap_bind && !*ro->coap_bind) ro->coap_bind = NULL; /* set but empty: none */
  }
  if (!ro->coap_bind) return 0;
  char addr[64];
  uint16_t port;
  struct in6_addr a6;
  bool ok = cli_split_hostport(ro->coap_bind, addr, sizeof addr, &port);
  if (ok && ro->coap_bind[0] == '[')
    ok = inet_pton(AF_INET6, addr, &a6) == 1;
  else if (ok)
    ok = inet_pton(AF_INET, addr, &a6) == 1;
  if (!ok)
    return cli_usage(c, "%s: '%s' is not a numeric ADDR:PORT (e.g. 0.0.0.0:5683, [::]:5683)",
                     ro->coap_bind_from, ro->coap_bind);
  return 0;
}

char *cli_fmt_time(int64_t t, bool ms, char *buf, size_t cap) {
  struct tm tm;
  time_t tt = (time_t)(ms ? t / 1000 : t);
  if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm)) {
    snprintf(buf, cap, "-");
    return buf;
  }
  size_t n = strlen(buf);
  if (ms)
    snprintf(buf + n, cap - n, ".%03dZ", (int)(t % 1000));
  else
    snprintf(buf + n, cap - n, "Z");
  return buf;
}

bool cli_parse_time(const char *s, int64_t *out) {
  char *end;
  if (s[0] == '+') {
    if (!isdigit((unsigned char)s[1])) return false;
    long long v = strtoll(s + 1, &end, 10);
    if (*end || v > 86400LL * 366 * 10) return false;
    *out = (int64_t)time(NULL) + v;
    return true;
  }
  struct tm tm = {0};
  end = strptime(s, "%Y-%m-%d", &tm);
  if (!end || (*end != 'T' && *end != 't') || strlen(s) < 10) return false;
  end = strptime(end + 1, "%H:%M:%S", &tm);
  if (!end) return false;
  if (*end == '.') { /* fractions of a second: the Schedule resource keeps whole seconds */
    if (!isdigit((unsigned char)end[1])) return false;
    for (end++; isdigit((unsigned char)*end); end++)
      ;
  }
  long off = 0;
  if (*end == 'Z' || *end == 'z') {
    end++;
  } else if (*end == '+' || *end == '-') {
    int sign = *end == '-' ? -1 : 1;
    if (!isdigit((unsigned char)end[1]) || !isdigit((unsigned char)end[2]) || end[3] != ':' ||
        !isdigit((unsigned char)end[4]) || !isdigit((unsigned char)end[5]))
      return false;
    int hh = (end[1] - '0') * 10 + end[2] - '0', mm = (end[4] - '0') * 10 + end[5] - '0';
    if (hh > 23 || mm > 59) return false;
    off = sign * (hh * 3600L + mm * 60L);
    end += 6;
  } else {
    return false;
  }
  if (*end) return false;
  *out = (int64_t)timegm(&tm) - off;
  return true;
}

void cli_json_strn(FILE *f, const char *s, size_t len) {
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    switch (ch) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (ch < 0x20 || ch == 0x7f)
        fprintf(f, "\\u%04x", ch);
      else
        fputc(ch, f);
    }
  }
  fputc('"', f);
}

void cli_json_str(FILE *f, const char *s) {
  if (!s)
    fputs("null", f);
  else
    cli_json_strn(f, s, strlen(s));
}

const char *cli_group_type_name(lmm_group_type type) {
  switch (type) {
  case LMM_GROUP_MBMS:
    return "mbms";
  case LMM_GROUP_MULTICAST:
    return "multicast";
  case LMM_GROUP_UNICAST:
    return "unicast";
  default:
    return "?";
  }
}

const char *cli_state_name(lmm_campaign_state state) {
  static const char *names[] = {"created",   "configuring", "delivering", "collecting",
                                "repairing", "done",        "failed"};
  return (size_t)state < sizeof names / sizeof names[0] ? names[state] : "?";
}

const char *cli_via_name(lmm_path_kind via) {
  static const char *names[] = {"-", "mbms", "multicast", "unicast"};
  return (size_t)via < sizeof names / sizeof names[0] ? names[via] : "?";
}

const char *cli_op_name(lmm_op_kind kind) {
  static const char *names[] = {"read",   "write",   "write-update",   "create",     "execute",
                                "delete", "observe", "cancel-observe", "write-attr", "discover"};
  return (size_t)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

bool cli_parse_format(const char *s, uint16_t *out) {
  static const struct {
    const char *name;
    uint16_t fmt;
  } f[] = {{"text", LMM_FMT_TEXT},
           {"senml-json", LMM_FMT_SENML_JSON},
           {"tlv", LMM_FMT_TLV},
           {"opaque", LMM_FMT_OPAQUE},
           {"link", LMM_FMT_LINK}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (!strcmp(s, f[i].name)) {
      *out = f[i].fmt;
      return true;
    }
  return false;
}

int cli_take_json(cli *c, int argc, char **argv) {
  int n = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      c->json = true;
    else
      argv[n++] = argv[i];
  }
  return n;
}

void cli_getopt_start(void) {
  optind = 0;
  opterr = 0;
}

int cli_getopt(const cli *c, int argc, char **argv, const char *shorts, const struct option *opts,
               int *li) {
  int o = getopt_long(argc, argv, shorts, opts, li);
  if (o != '?' && o != ':') return o;
  const char *arg = argv[optind - 1];
  if (optopt && !strncmp(arg, "--", 2)) /* a long option we know, without its value */
    cli_usage(c, "%s needs a value", arg);
  else
    cli_usage(c, "unknown or incomplete option '%s'", arg);
  return CLI_GETOPT_ERR;
}

char **cli_with_name(const char *name, int argc, char **argv) {
  char **a = calloc((size_t)argc + 2, sizeof *a);
  if (!a) return NULL;
  a[0] = (char *)name;
  memcpy(a + 1, argv, (size_t)argc * sizeof *argv);
  return a;
}

int cli_parse_campaign_id(const cli *c, const char *s, int64_t *id) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end || end == s || v <= 0 || errno)
    return cli_usage(c, "'%s' is not a campaign number (see 'lwm2m-mbms campaigns')", s);
  *id = v;
  return 0;
}

int cli_campaign_get(const cli *c, lmm_store *s, int64_t id, lmm_campaign_info *out) {
  lmm_err e = lmm_store_campaign_get(s, id, out);
  if (e == LMM_ERR_NOTFOUND)
    return cli_usage(c, "unknown campaign %lld (see 'lwm2m-mbms campaigns')", (long long)id);
  if (e != LMM_OK) return cli_store_fail(c, s, "reading the campaign", e);
  return 0;
}

bool cli_parse_protect(const char *s, lmm_protect *p) {
  static const char *const names[] = {"auto", "on", "off"};
  static const lmm_protect values[] = {LMM_PROTECT_AUTO, LMM_PROTECT_ON, LMM_PROTECT_OFF};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(s, names[i])) {
      *p = values[i];
      return true;
    }
  return false;
}

int cli_check_protect(const cli *c, lmm_protect p, lmm_path_kind via, const lmm_member *m,
                      size_t n) {
  if (p != LMM_PROTECT_ON || via == LMM_VIA_UNICAST) return 0;
  for (size_t i = 0; i < n; i++)
    if (!m[i].uri || strncmp(m[i].uri, "coaps://", 8)) {
      char id[96];
      return cli_usage(c,
                       "--protect on: member %s is %s: the group key would travel in clear in "
                       "its Group Mgmt write (give every member a coaps:// URI and PSK)",
                       lmm_member_id_format(&m[i], id, sizeof id),
                       m[i].uri ? m[i].uri : "without a URI");
    }
  return 0;
}

bool cli_parse_via(const char *s, lmm_path_kind *via) {
  static const lmm_path_kind paths[] = {LMM_VIA_MBMS, LMM_VIA_MULTICAST, LMM_VIA_UNICAST};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (!strcmp(s, cli_via_name(paths[i]))) {
      *via = paths[i];
      return true;
    }
  return false;
}

int cli_pick_via(const cli *c, const lmm_group_info *g, lmm_path_kind want, lmm_path_kind *via) {
  lmm_path_kind v = want != LMM_VIA_NONE             ? want
                    : g->type == LMM_GROUP_MBMS      ? LMM_VIA_MBMS
                    : g->type == LMM_GROUP_MULTICAST ? LMM_VIA_MULTICAST
                                                     : LMM_VIA_UNICAST;
  if (v == LMM_VIA_MBMS && !g->external_group_id)
    return cli_usage(c, "--via mbms: group '%s' has no External Group ID", g->name);
  if (v == LMM_VIA_MULTICAST && !g->multicast_address)
    return cli_usage(c, "--via multicast: group '%s' has no multicast address", g->name);
  *via = v;
  return 0;
}

void cli_csv_field(const char *s, bool last) {
  if (!s) s = "";
  if (strpbrk(s, ",\"\r\n") || (*s && (s[0] == ' ' || s[strlen(s) - 1] == ' '))) {
    putchar('"');
    for (; *s; s++) {
      if (*s == '"') putchar('"');
      putchar(*s);
    }
    putchar('"');
  } else {
    fputs(s, stdout);
  }
  fputs(last ? "\r\n" : ",", stdout);
}

void cli_json_time(const char *key, int64_t ms) {
  char t[40];
  printf(",\"%s\":", key);
  if (ms)
    printf("\"%s\"", cli_fmt_time(ms, true, t, sizeof t));
  else
    printf("null");
}
