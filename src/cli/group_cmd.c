/* group_cmd.c - "lwm2m-mbms group ...": groups and their members in the state store. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The Group ID goes into Group Mgmt resource 0 and into every error message: printable, no
 * spaces, and not mistakable for an option. */
static int check_group_name(const cli *c, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64) return cli_usage(c, "group name '%s' must have 1 to 64 characters", name);
  if (name[0] == '-') return cli_usage(c, "group name '%s' may not start with '-'", name);
  for (const char *p = name; *p; p++)
    if (!isgraph((unsigned char)*p))
      return cli_usage(c, "group name '%s' may hold only printable characters, no spaces", name);
  return 0;
}

static bool egi_ok(const char *s) {
  const char *at = strchr(s, '@');
  if (!at || at == s || !at[1] || strchr(at + 1, '@')) return false;
  for (const char *p = s; *p; p++)
    if (!isgraph((unsigned char)*p)) return false;
  return true;
}

/* 0 multicast, 1 an IP address but not a multicast one, 2 not an IP address. */
static int multicast_kind(const char *a) {
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, a, &v4) == 1) return (ntohl(v4.s_addr) >> 28) == 0xE ? 0 : 1;
  if (inet_pton(AF_INET6, a, &v6) == 1) return v6.s6_addr[0] == 0xff ? 0 : 1;
  return 2;
}

static int parse_tmgi_policy(const cli *c, const char *arg, lmm_tmgi_policy *out) {
  if (!strcmp(arg, "keep"))
    *out = LMM_TMGI_KEEP;
  else if (!strcmp(arg, "release"))
    *out = LMM_TMGI_RELEASE;
  else
    return cli_usage(c, "--tmgi-policy: '%s' is not keep or release", arg);
  return 0;
}

/* ------------------------------------------------------------------ commands */

/* A members file, its errors as usage errors (the library names the line). */
static int load_members(const cli *c, const char *path, lmm_member **m, size_t *n) {
  char why[512] = "";
  lmm_err e = lmm_members_load(path, m, n, why, sizeof why);
  if (e != LMM_OK) return cli_usage(c, "members file '%s': %s", path, *why ? why : lmm_strerror(e));
  return 0;
}

static int group_create(cli *c, lmm_store *s, int argc, char **argv) {
  enum {
    O_TYPE = 256,
    O_EGI,
    O_MADDR,
    O_MPORT,
    O_WINDOW,
    O_FANOUT,
    O_SCHED,
    O_MEMBERS,
    O_GMOID,
    O_TPOL
  };
  static const struct option opts[] = {{"type", required_argument, 0, O_TYPE},
                                       {"external-group-id", required_argument, 0, O_EGI},
                                       {"multicast-address", required_argument, 0, O_MADDR},
                                       {"multicast-port", required_argument, 0, O_MPORT},
                                       {"window", required_argument, 0, O_WINDOW},
                                       {"fanout-target", required_argument, 0, O_FANOUT},
                                       {"schedule", required_argument, 0, O_SCHED},
                                       {"members", required_argument, 0, O_MEMBERS},
                                       {"group-mgmt-oid", required_argument, 0, O_GMOID},
                                       {"tmgi-policy", required_argument, 0, O_TPOL},
                                       {0, 0, 0, 0}};
  lmm_group_info g = {
      .gm_oid = LMM_GROUP_MGMT_OID, .multicast_port = -1, .response_time_window = 30};
  bool have_type = false;
  const char *members_file = NULL;
  int64_t sched[64];
  size_t n_sched = 0;
  int o, rc = 0;
  char *end;
  cli_getopt_start();
  while ((o = cli_getopt(c, argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case O_TYPE:
      if (!strcmp(optarg, "mbms"))
        g.type = LMM_GROUP_MBMS;
      else if (!strcmp(optarg, "multicast"))
        g.type = LMM_GROUP_MULTICAST;
      else if (!strcmp(optarg, "unicast"))
        g.type = LMM_GROUP_UNICAST;
      else
        return cli_usage(c, "--type: '%s' is not mbms, multicast or unicast", optarg);
      have_type = true;
      break;
    case O_EGI:
      if (!egi_ok(optarg))
        return cli_usage(c, "--external-group-id: '%s' is not local@domain", optarg);
      g.external_group_id = optarg;
      break;
    case O_MADDR:
      switch (multicast_kind(optarg)) {
      case 1:
        return cli_usage(c,
                         "--multicast-address: '%s' is not a multicast address "
                         "(IPv4 224.0.0.0/4 or IPv6 ff00::/8)",
                         optarg);
      case 2:
        return cli_usage(c, "--multicast-address: '%s' is not an IPv4 or IPv6 address", optarg);
      }
      g.multicast_address = optarg;
      break;
    case O_MPORT: {
      long p = strtol(optarg, &end, 10);
      if (*end || end == optarg || p < 1 || p > 65535)
        return cli_usage(c, "--multicast-port: '%s' is not a port from 1 to 65535", optarg);
      g.multicast_port = (int32_t)p;
      break;
    }
    case O_WINDOW: {
      long w = strtol(optarg, &end, 10);
      if (*end || end == optarg || w < 0 || w > 86400)
        return cli_usage(c, "--window: '%s' is not a number of seconds from 0 to 86400", optarg);
      g.response_time_window = w;
      break;
    }
    case O_FANOUT:
      if (!strstr(optarg, "://") || strstr(optarg, "://") == optarg || strpbrk(optarg, " \t"))
        return cli_usage(c, "--fanout-target: '%s' is not a URI (scheme://...)", optarg);
      g.fanout_target = optarg;
      break;
    case O_SCHED:
      if (n_sched == sizeof sched / sizeof sched[0])
        return cli_usage(c, "--schedule: at most %zu times", sizeof sched / sizeof sched[0]);
      if (!cli_parse_time(optarg, &sched[n_sched]))
        return cli_usage(c, "--schedule: '%s' is not YYYY-MM-DDThh:mm:ssZ (RFC 3339) or +SECONDS",
                         optarg);
      n_sched++;
      break;
    case O_MEMBERS:
      members_file = optarg;
      break;
    case O_GMOID: {
      long v = strtol(optarg, &end, 10);
      if (*end || end == optarg || v < 0 || v > 65534)
        return cli_usage(c, "--group-mgmt-oid: '%s' is not an Object ID from 0 to 65534", optarg);
      if (v == 3 || v == 5 || v == 6 || v < 3)
        return cli_usage(c, "--group-mgmt-oid: %ld is an OMA object (0-3, 5, 6), not Group Mgmt",
                         v);
      g.gm_oid = (uint16_t)v;
      break;
    }
    case O_TPOL:
      if ((rc = parse_tmgi_policy(c, optarg, &g.tmgi_policy))) return rc;
      break;
    default: /* CLI_GETOPT_ERR: said */
      return EXIT_USAGE;
    }
  }
  if ((rc = cli_need_args(c, argc - optind, 1, "group NAME"))) return rc;
  g.name = argv[optind];
  if ((rc = check_group_name(c, g.name))) return rc;
  if (!have_type) return cli_usage(c, "missing --type mbms|multicast|unicast");
  if (g.type == LMM_GROUP_MBMS && !g.external_group_id)
    return cli_usage(c, "an mbms group needs --external-group-id local@domain");
  if (g.type == LMM_GROUP_MULTICAST && !g.multicast_address)
    return cli_usage(c, "a multicast group needs --multicast-address");
  g.schedule = sched, g.n_schedule = n_sched;

  /* Every input is checked before the store is touched. */
  lmm_member *m = NULL;
  size_t n = 0;
  if (members_file && (rc = load_members(c, members_file, &m, &n))) return rc;
  lmm_err e = lmm_store_group_create(s, &g);
  /* LMM_ERR_STATE is a taken name or a full store; the lookup that tells them apart replaces
   * the store's message, so keep it. */
  char why_create[512];
  snprintf(why_create, sizeof why_create, "%s", lmm_store_errmsg(s));
  lmm_group_info old = {0};
  if (e == LMM_ERR_STATE && lmm_store_group_get(s, g.name, &old) == LMM_OK) {
    rc = cli_usage(c, "group '%s' exists already (see 'lwm2m-mbms group show %s')", g.name, g.name);
  } else if (e == LMM_ERR_STATE) {
    cli_err(c, "creating the group: %s", why_create);
    rc = EXIT_SOME_FAILED;
  } else if (e != LMM_OK) {
    rc = cli_store_fail(c, s, "creating the group", e);
  } else if (n) {
    if ((e = lmm_store_members_add(s, g.name, m, n)) != LMM_OK) {
      rc = e == LMM_ERR_STATE
               ? cli_usage(c, "members file '%s': %s", members_file, lmm_store_errmsg(s))
               : cli_store_fail(c, s, "adding the members", e);
      lmm_store_group_delete(s, g.name); /* all or nothing for the operator */
    }
  }
  if (!rc) {
    if (c->json) {
      lmm_group_info got = {0};
      if (lmm_store_group_get(s, g.name, &got) == LMM_OK) {
        cli_print_group_json(&got, m, n, true);
        printf("\n");
      }
      lmm_group_info_clear(&got);
    } else {
      printf("group %s created (%s, %zu member%s)\n", g.name, cli_group_type_name(g.type), n,
             n == 1 ? "" : "s");
    }
  }
  lmm_group_info_clear(&old);
  lmm_members_free(m, n);
  return rc;
}

static int group_list(cli *c, lmm_store *s, int npos) {
  int rc = cli_need_args(c, npos, 0, "");
  if (rc) return rc;
  lmm_group_info *g = NULL;
  size_t n = 0;
  lmm_err e = lmm_store_group_list(s, &g, &n);
  if (e != LMM_OK) return cli_store_fail(c, s, "listing the groups", e);
  if (c->json) {
    printf("[");
    for (size_t i = 0; i < n; i++) {
      if (i) printf(",");
      cli_print_group_json(&g[i], NULL, 0, false);
    }
    printf("]\n");
  } else if (!n) {
    printf("no groups\n");
  } else {
    printf("%-20s %-9s %7s %6s  %s\n", "NAME", "TYPE", "MEMBERS", "WINDOW", "ADDRESS");
    for (size_t i = 0; i < n; i++) {
      char addr[256];
      if (g[i].type == LMM_GROUP_MBMS || (!g[i].multicast_address && g[i].external_group_id))
        snprintf(addr, sizeof addr, "%s%s%s", g[i].external_group_id ? g[i].external_group_id : "-",
                 g[i].tmgi ? " tmgi " : "", g[i].tmgi ? g[i].tmgi : "");
      else if (g[i].multicast_address)
        snprintf(addr, sizeof addr, "%s port %d", g[i].multicast_address,
                 g[i].multicast_port >= 0 ? (int)g[i].multicast_port : 5683);
      else
        snprintf(addr, sizeof addr, "-");
      printf("%-20s %-9s %7zu %5llds  %s\n", g[i].name, cli_group_type_name(g[i].type),
             g[i].member_count, (long long)g[i].response_time_window, addr);
    }
  }
  lmm_group_info_list_free(g, n);
  return 0;
}

static int group_show(cli *c, lmm_store *s, char **pos, int npos) {
  int rc = cli_need_args(c, npos, 1, "group NAME");
  if (rc) return rc;
  lmm_group_info g = {0};
  if ((rc = cli_group_get(c, s, pos[0], &g))) return rc;
  lmm_member *m = NULL;
  size_t n = 0;
  lmm_err e = lmm_store_members_get(s, pos[0], &m, &n);
  if (e != LMM_OK) {
    rc = cli_store_fail(c, s, "reading the members", e);
  } else if (c->json) {
    cli_print_group_json(&g, m, n, true);
    printf("\n");
  } else {
    cli_print_group_text(&g, m, n);
  }
  lmm_members_free(m, n);
  lmm_group_info_clear(&g);
  return rc;
}

static int group_delete(cli *c, lmm_store *s, char **pos, int npos) {
  int rc = cli_need_args(c, npos, 1, "group NAME");
  if (rc) return rc;
  lmm_group_info g = {0};
  if ((rc = cli_group_get(c, s, pos[0], &g))) return rc;
  lmm_err e = lmm_store_group_delete(s, pos[0]);
  if (e == LMM_ERR_NOTFOUND)
    rc = cli_usage(c, "unknown group '%s'", pos[0]);
  else if (e != LMM_OK)
    rc = cli_store_fail(c, s, "deleting the group", e);
  else {
    /* The allocation outlives the row: say so, or nobody will ever release it. */
    if (g.tmgi)
      fprintf(stderr,
              "lwm2m-mbms: %s: warning: TMGI %s is still allocated on the SCEF; release it with "
              "'lwm2m-mbms t8 tmgi release %s'\n",
              c->cmd, g.tmgi, g.tmgi);
    if (c->json) {
      printf("{\"deleted\":");
      cli_json_str(stdout, pos[0]);
      printf("}\n");
    } else {
      printf("group %s deleted\n", pos[0]);
    }
  }
  lmm_group_info_clear(&g);
  return rc;
}

/* Settings that may change after the group was created: those that say how campaigns treat
 * it, not who is in it (its type and addresses stay, as its members were configured for
 * them). */
static int group_set(cli *c, lmm_store *s, int argc, char **argv) {
  enum { O_TPOL = 256, O_WINDOW };
  static const struct option opts[] = {{"tmgi-policy", required_argument, 0, O_TPOL},
                                       {"window", required_argument, 0, O_WINDOW},
                                       {0, 0, 0, 0}};
  lmm_tmgi_policy policy = LMM_TMGI_KEEP;
  bool set_policy = false;
  int o, rc = 0;
  long window = -1;
  char *end;
  cli_getopt_start();
  while ((o = cli_getopt(c, argc, argv, "", opts, NULL)) != -1) {
    if (o == O_TPOL) {
      if ((rc = parse_tmgi_policy(c, optarg, &policy))) return rc;
      set_policy = true;
    } else if (o == O_WINDOW) {
      window = strtol(optarg, &end, 10);
      if (*end || end == optarg || window < 0 || window > 86400)
        return cli_usage(c, "--window: '%s' is not a number of seconds from 0 to 86400", optarg);
    } else { /* CLI_GETOPT_ERR: said */
      return EXIT_USAGE;
    }
  }
  if ((rc = cli_need_args(c, argc - optind, 1, "group NAME"))) return rc;
  if (!set_policy && window < 0)
    return cli_usage(c, "nothing to set: give --tmgi-policy or --window");
  lmm_group_info g = {0};
  if ((rc = cli_group_get(c, s, argv[optind], &g))) return rc;
  if (set_policy) g.tmgi_policy = policy;
  if (window >= 0) g.response_time_window = window;
  lmm_err e = lmm_store_group_update(s, &g);
  if (e != LMM_OK) {
    rc = cli_store_fail(c, s, "updating the group", e);
  } else if (c->json) {
    cli_print_group_json(&g, NULL, 0, false);
    printf("\n");
  } else {
    printf("group %s: TMGI policy %s, response window %lld s\n", g.name,
           cli_tmgi_policy_name(g.tmgi_policy), (long long)g.response_time_window);
  }
  lmm_group_info_clear(&g);
  return rc;
}

static int group_add_member(cli *c, lmm_store *s, int argc, char **argv) {
  static const struct option opts[] = {{"members", required_argument, 0, 'm'}, {0, 0, 0, 0}};
  const char *file = NULL;
  int o, rc;
  cli_getopt_start();
  while ((o = cli_getopt(c, argc, argv, "", opts, NULL)) != -1) {
    if (o == CLI_GETOPT_ERR) return EXIT_USAGE;
    file = optarg;
  }
  char **pos = argv + optind;
  int npos = argc - optind;
  if (npos < 1) return cli_usage(c, "missing group NAME");
  if (file && npos > 1)
    return cli_usage(c, "give the members once: --members FILE or MEMBER-ID URI [options]");
  if (!file && npos == 1)
    return cli_usage(c, "missing MEMBER-ID URI [options] (or --members FILE)");
  if (!file && npos == 2) return cli_usage(c, "missing the member's URI after '%s'", pos[1]);
  lmm_group_info g = {0};
  if ((rc = cli_group_get(c, s, pos[0], &g))) return rc;
  lmm_member *m = NULL;
  size_t n = 0;
  char why[512] = "";
  if (file) {
    rc = load_members(c, file, &m, &n);
  } else {
    /* The words of one members-file line: the same parser, the same messages. */
    size_t len = 1;
    for (int i = 1; i < npos; i++) {
      if (strpbrk(pos[i], " \t\r\n#")) {
        rc = cli_usage(c, "'%s': a member word may not contain spaces or '#'", pos[i]);
        break;
      }
      len += strlen(pos[i]) + 1;
    }
    char *line = rc ? NULL : malloc(len);
    if (line) {
      line[0] = '\0';
      for (int i = 1; i < npos; i++) {
        if (i > 1) strcat(line, " ");
        strcat(line, pos[i]);
      }
      lmm_err e = lmm_members_parse(line, strlen(line), &m, &n, why, sizeof why);
      if (e != LMM_OK) {
        const char *w = why;
        if (!strncmp(w, "line 1: ", 8)) w += 8;
        rc = cli_usage(c, "bad member: %s", *w ? w : lmm_strerror(e));
      }
      free(line);
    } else if (!rc) {
      cli_err(c, "out of memory");
      rc = EXIT_SOME_FAILED;
    }
  }
  if (!rc && n == 0) rc = cli_usage(c, "members file '%s' lists no member", file);
  if (!rc) {
    lmm_err e = lmm_store_members_add(s, pos[0], m, n);
    const char *why_add = lmm_store_errmsg(s);
    if (e == LMM_ERR_STATE)
      rc = cli_usage(c, "%s", *why_add ? why_add : "a member is in the group already");
    else if (e == LMM_ERR_NOTFOUND)
      rc = cli_usage(c, "unknown group '%s'", pos[0]);
    else if (e != LMM_OK)
      rc = cli_store_fail(c, s, "adding the members", e);
  }
  if (!rc) {
    if (c->json) {
      printf("{\"group\":");
      cli_json_str(stdout, pos[0]);
      printf(",\"added\":[");
      for (size_t i = 0; i < n; i++) {
        if (i) printf(",");
        cli_print_member_json(&m[i]);
      }
      printf("],\"memberCount\":%zu}\n", g.member_count + n);
    } else if (n == 1) {
      char id[96];
      printf("member %s added to group %s (%zu members)\n",
             lmm_member_id_format(&m[0], id, sizeof id), pos[0], g.member_count + 1);
    } else {
      printf("%zu members added to group %s (%zu members)\n", n, pos[0], g.member_count + n);
    }
  }
  lmm_members_free(m, n);
  lmm_group_info_clear(&g);
  return rc;
}

static int group_remove_member(cli *c, lmm_store *s, char **pos, int npos) {
  int rc = cli_need_args(c, npos, 2, npos < 1 ? "group NAME and MEMBER-ID" : "MEMBER-ID");
  if (rc) return rc;
  char *ep = NULL, why[256] = "";
  uint16_t oid;
  if (lmm_member_id_parse(pos[1], &ep, &oid, why, sizeof why) != LMM_OK)
    return cli_usage(c, "bad member ID: %s", why);
  lmm_group_info g = {0};
  if (!(rc = cli_group_get(c, s, pos[0], &g))) {
    lmm_err e = lmm_store_member_remove(s, pos[0], ep, oid);
    if (e == LMM_ERR_NOTFOUND)
      rc = cli_usage(c, "group '%s' has no member %s", pos[0], pos[1]);
    else if (e != LMM_OK)
      rc = cli_store_fail(c, s, "removing the member", e);
    else if (c->json) {
      printf("{\"group\":");
      cli_json_str(stdout, pos[0]);
      printf(",\"removed\":");
      cli_json_str(stdout, pos[1]);
      printf("}\n");
    } else {
      printf("member %s removed from group %s\n", pos[1], pos[0]);
    }
  }
  lmm_group_info_clear(&g);
  lmm_free(ep);
  return rc;
}

int cmd_group(cli *c, int argc, char **argv) {
  static char name[48];
  c->cmd = "group";
  argc = cli_take_json(c, argc, argv);
  if (argc < 1)
    return cli_usage(c, "missing create, list, show, set, delete, add-member or remove-member");
  static const char *const verbs[] = {"create",     "list",          "show", "delete",
                                      "add-member", "remove-member", "set"};
  size_t v = 0;
  while (v < sizeof verbs / sizeof verbs[0] && strcmp(argv[0], verbs[v]))
    v++;
  if (v == sizeof verbs / sizeof verbs[0]) return cli_usage(c, "unknown command '%s'", argv[0]);
  snprintf(name, sizeof name, "group %s", argv[0]);
  c->cmd = name;
  /* Only create, add-member and set take options: elsewhere a leading '-' is a mistake. */
  if (v != 0 && v != 4 && v != 6)
    for (int i = 1; i < argc; i++)
      if (argv[i][0] == '-' && argv[i][1]) return cli_usage(c, "unknown option '%s'", argv[i]);
  lmm_store *s = NULL;
  int rc = cli_store_open(c, &s);
  if (rc) return rc;
  switch (v) {
  case 0:
    rc = group_create(c, s, argc, argv);
    break;
  case 1:
    rc = group_list(c, s, argc - 1);
    break;
  case 2:
    rc = group_show(c, s, argv + 1, argc - 1);
    break;
  case 3:
    rc = group_delete(c, s, argv + 1, argc - 1);
    break;
  case 4:
    rc = group_add_member(c, s, argc, argv);
    break;
  case 5:
    rc = group_remove_member(c, s, argv + 1, argc - 1);
    break;
  default:
    rc = group_set(c, s, argc, argv);
    break;
  }
  lmm_store_close(s);
  return rc;
}
