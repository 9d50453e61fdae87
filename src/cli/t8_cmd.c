/* t8_cmd.c - "lwm2m-mbms t8 ...": the T8 operations one by one, for operators and the demo. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void fmt_time(int64_t t, char *buf, size_t cap) {
  struct tm tm;
  time_t tt = (time_t)t;
  if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(buf, cap, "-");
}

static void print_alloc(const cli *c, const lmm_tmgi_allocation *a) {
  if (c->json) {
    char *j = lmm_tmgi_allocation_to_json(a);
    /* The TMGI is no member of the API's JSON; scripts want it without parsing a URL. */
    printf("{\"tmgi\":\"%s\",\"allocation\":%s}\n", a->tmgi ? a->tmgi : "", j ? j : "null");
    lmm_free(j);
    return;
  }
  char exp[32];
  fmt_time(a->tmgi_expiration, exp, sizeof exp);
  printf("%-14s %-32s %s\n", a->tmgi ? a->tmgi : "-",
         a->external_group_id ? a->external_group_id : "-", exp);
}

/* Parses "--opt" flags of a subcommand; argv[0] is the subcommand's name. */
typedef struct sub_opts {
  const char *external_group_id, *payload_hex, *payload_file, *start_time, *notify_listen,
      *notify_url;
  bool put, user_plane, test_notification;
  double wait_s;
} sub_opts;

static int parse_sub(cli *c, int argc, char **argv, sub_opts *so, int *first_pos) {
  enum { O_EGI = 256, O_PUT, O_HEX, O_FILE, O_UP, O_START, O_TEST, O_LISTEN, O_URL, O_WAIT };
  static const struct option opts[] = {{"external-group-id", required_argument, 0, O_EGI},
                                       {"put", no_argument, 0, O_PUT},
                                       {"payload-hex", required_argument, 0, O_HEX},
                                       {"payload-file", required_argument, 0, O_FILE},
                                       {"user-plane", no_argument, 0, O_UP},
                                       {"start-time", required_argument, 0, O_START},
                                       {"test-notification", no_argument, 0, O_TEST},
                                       {"notify-listen", required_argument, 0, O_LISTEN},
                                       {"notify-url", required_argument, 0, O_URL},
                                       {"wait", required_argument, 0, O_WAIT},
                                       {0, 0, 0, 0}};
  so->wait_s = 30;
  cli_getopt_start();
  int o;
  char *end;
  while ((o = cli_getopt(c, argc, argv, "", opts, NULL)) != -1) { /* options may follow TMGI */
    switch (o) {
    case O_EGI:
      so->external_group_id = optarg;
      break;
    case O_PUT:
      so->put = true;
      break;
    case O_HEX:
      so->payload_hex = optarg;
      break;
    case O_FILE:
      so->payload_file = optarg;
      break;
    case O_UP:
      so->user_plane = true;
      break;
    case O_START:
      so->start_time = optarg;
      break;
    case O_TEST:
      so->test_notification = true;
      break;
    case O_LISTEN:
      so->notify_listen = optarg;
      break;
    case O_URL:
      so->notify_url = optarg;
      break;
    case O_WAIT:
      so->wait_s = strtod(optarg, &end);
      if (*end || end == optarg || so->wait_s < 0 || so->wait_s > 86400)
        return cli_usage(c, "--wait: '%s' is not a number of seconds from 0 to 86400", optarg);
      break;
    default: /* CLI_GETOPT_ERR: said */
      return EXIT_USAGE;
    }
  }
  *first_pos = optind;
  return 0;
}

static int hexval(int ch) {
  return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a' + 10) : -1;
}

static int load_payload(cli *c, const sub_opts *so, uint8_t **out, size_t *len) {
  if (!!so->payload_hex == !!so->payload_file)
    return cli_usage(c, "give the payload once: --payload-hex HEX or --payload-file FILE");
  if (so->payload_hex) {
    size_t n = strlen(so->payload_hex);
    if (n == 0 || n % 2)
      return cli_usage(c, "--payload-hex: need an even, non-zero number of hex digits");
    uint8_t *b = malloc(n / 2);
    if (!b) return EXIT_REFUSED;
    for (size_t i = 0; i < n / 2; i++) {
      int hi = hexval((unsigned char)so->payload_hex[2 * i]),
          lo = hexval((unsigned char)so->payload_hex[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        free(b);
        return cli_usage(c, "--payload-hex: '%c%c' at offset %zu is not hex",
                         so->payload_hex[2 * i], so->payload_hex[2 * i + 1], 2 * i);
      }
      b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = b, *len = n / 2;
    return 0;
  }
  FILE *f = fopen(so->payload_file, "rb");
  if (!f)
    return cli_usage(c, "--payload-file: cannot open '%s': %s", so->payload_file, strerror(errno));
  size_t cap = 65536, n = 0;
  uint8_t *b = malloc(cap);
  while (b) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
    if (n == cap) {
      if (cap >= (64u << 20)) { /* a group message is small; refuse to slurp a disk image */
        free(b), fclose(f);
        return cli_usage(c, "--payload-file: '%s' is larger than 64 MiB", so->payload_file);
      }
      uint8_t *nb = realloc(b, cap *= 2);
      if (!nb) free(b);
      b = nb;
    }
  }
  bool bad = ferror(f);
  fclose(f);
  if (!b || bad) {
    free(b);
    return cli_usage(c, "--payload-file: cannot read '%s'", so->payload_file);
  }
  if (n == 0) {
    free(b);
    return cli_usage(c, "--payload-file: '%s' is empty", so->payload_file);
  }
  *out = b, *len = n;
  return 0;
}

/* RFC 3339 text, or "+SECONDS" from now. */
static int parse_start(cli *c, const char *s, int64_t *out) {
  char *end;
  if (s[0] == '+') {
    long v = strtol(s + 1, &end, 10);
    if (*end || end == s + 1 || v < 0 || v > 86400 * 365)
      return cli_usage(c, "--start-time: '%s' is not +SECONDS", s);
    *out = (int64_t)time(NULL) + v;
    return 0;
  }
  struct tm tm = {0};
  end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || (strcmp(end, "Z") && strcmp(end, "z")))
    return cli_usage(c, "--start-time: '%s' is not YYYY-MM-DDThh:mm:ssZ or +SECONDS", s);
  *out = (int64_t)timegm(&tm);
  return 0;
}

typedef struct wait_state {
  int tests, deliveries;
  bool delivered;
} wait_state;

static void on_delivery(void *user, const char *txn, bool delivered) {
  (void)txn;
  wait_state *w = user;
  w->deliveries++;
  w->delivered = delivered;
}

static void on_test(void *user, const char *sub) {
  (void)sub;
  ((wait_state *)user)->tests++;
}

static const lmm_t8_notifier_handlers wait_handlers = {on_delivery, on_test};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_deliver(cli *c, lmm_t8_client *cl, const char *tmgi, const sub_opts *so) {
  uint8_t *payload = NULL;
  size_t len = 0;
  int rc = load_payload(c, so, &payload, &len);
  if (rc) return rc;
  lmm_gmd req = {.scef_port = -1}, out = {.scef_port = -1};
  if (so->start_time && (rc = parse_start(c, so->start_time, &req.message_delivery_start_time))) {
    free(payload);
    return rc;
  }
  req.external_group_id = (char *)so->external_group_id;
  req.has_request_test_notification = so->test_notification;
  req.request_test_notification = so->test_notification;
  if (!so->user_plane) req.has_payload = true, req.payload = payload, req.payload_len = len;

  wait_state ws = {0};
  lmm_t8_notifier *nt = NULL;
  if ((rc = cli_notifier_start(c, so->notify_listen, so->notify_url, &wait_handlers, &ws, &nt))) {
    free(payload);
    return rc;
  }
  /* The delivery gets a destination of its own, registered before the request leaves: its
   * notification is matched even when it overtakes the 201 (a proxy on the way). */
  lmm_t8_client_attach_notifier(cl, nt);
  lmm_err e;
  lmm_t8_result res;
  if ((e = lmm_t8_gmd_create(cl, tmgi, &req, &out, &res)) != LMM_OK) {
    rc = cli_t8_fail(c, "group message request", &res);
    goto out;
  }
  if (so->user_plane && (e = lmm_t8_send_user_plane(&out, payload, len)) != LMM_OK) {
    cli_err(c, "sending %zu bytes over MB2-U to %s port %d: %s", len,
            out.scef_ipv4   ? out.scef_ipv4
            : out.scef_ipv6 ? out.scef_ipv6
                            : "(no address)",
            out.scef_port, lmm_strerror(e));
    rc = e == LMM_ERR_ARG ? EXIT_USAGE : EXIT_REFUSED;
    goto out;
  }
  if (!c->json)
    printf("delivery %s created on TMGI %s (%zu bytes%s)\n", out.transaction_id, tmgi, len,
           so->user_plane ? " over MB2-U" : " inline");
  int64_t deadline = mono_ms() + (int64_t)(so->wait_s * 1000);
  int64_t last_tick = 0;
  while (so->wait_s > 0 && ws.deliveries == 0 && mono_ms() < deadline) {
    lmm_ctx_run_once(c->ctx, 200);
    if (c->progress && mono_ms() - last_tick >= 1000) {
      last_tick = mono_ms();
      fprintf(stderr, "\rwaiting for the delivery notification... %llds left ",
              (long long)((deadline - last_tick) / 1000));
    }
  }
  if (c->progress && last_tick) fputs("\r\033[K", stderr);
  const char *status = ws.deliveries == 0 ? (so->wait_s > 0 ? "timeout" : "not-waited")
                       : ws.delivered     ? "delivered"
                                          : "failed";
  if (c->json) {
    char *j = lmm_gmd_to_json(&out);
    printf("{\"transaction\":\"%s\",\"tmgi\":\"%s\",\"bytes\":%zu,\"path\":\"%s\","
           "\"testNotifications\":%d,\"deliveryStatus\":\"%s\",\"delivery\":%s}\n",
           out.transaction_id, tmgi, len, so->user_plane ? "mb2-u" : "inline", ws.tests, status,
           j ? j : "null");
    lmm_free(j);
  } else {
    if (so->test_notification)
      printf("test notification: %s\n", ws.tests ? "received" : "not received");
    printf("delivery notification: %s\n", status);
  }
  rc = ws.deliveries == 0 ? (so->wait_s > 0 ? EXIT_TIMEOUT : 0)
       : ws.delivered     ? 0
                          : EXIT_SOME_FAILED;
  if (rc == EXIT_TIMEOUT) cli_err(c, "no delivery notification within %g s", so->wait_s);
out:
  lmm_t8_result_clear(&res);
  lmm_gmd_clear(&out);
  free(payload);
  /* The client holds the receiver: free the client first (the caller does), then it. */
  lmm_t8_client_attach_notifier(cl, NULL);
  lmm_t8_notifier_free(nt);
  return rc;
}

int cmd_t8(cli *c, int argc, char **argv) {
  if (argc < 1) return cli_usage(c, "t8: missing 'tmgi', 'deliver' or 'delivery'");
  const char *group = argv[0];
  const char *verb = argc >= 2 ? argv[1] : NULL;
  static char name[64];
  int shift;
  if (!strcmp(group, "deliver")) {
    c->cmd = "t8 deliver", shift = 1;
  } else if ((!strcmp(group, "tmgi") || !strcmp(group, "delivery")) && verb) {
    snprintf(name, sizeof name, "t8 %s %s", group, verb);
    c->cmd = name, shift = 2;
  } else {
    c->cmd = "t8";
    return cli_usage(c, "unknown or incomplete command '%s'", group);
  }
  sub_opts so = {0};
  int first = 0, rc = parse_sub(c, argc - shift + 1, argv + shift - 1, &so, &first);
  if (rc) return rc;
  char **pos = argv + shift - 1 + first;
  int npos = argc - shift + 1 - first;

  lmm_t8_client *cl = NULL;
  if ((rc = cli_t8_connect(c, &cl)) != 0) return rc;
  lmm_t8_result res = {0};
  lmm_tmgi_allocation a = {0};
  lmm_gmd g = {.scef_port = -1};
  rc = 0;
  if (!strcmp(c->cmd, "t8 deliver")) {
    if (!(rc = cli_need_args(c, npos, 1, "TMGI"))) rc = cmd_deliver(c, cl, pos[0], &so);
  } else if (!strcmp(group, "tmgi") && !strcmp(verb, "allocate")) {
    lmm_tmgi_allocation req = {.external_group_id = (char *)so.external_group_id};
    if ((rc = cli_need_args(c, npos, 0, "")) == 0) {
      if (lmm_t8_tmgi_create(cl, &req, &a, &res) != LMM_OK)
        rc = res.err == LMM_ERR_ARG ? cli_usage(c, "--external-group-id: '%s' is not local@domain",
                                                so.external_group_id)
                                    : cli_t8_fail(c, "TMGI allocation", &res);
      else
        print_alloc(c, &a);
    }
  } else if (!strcmp(group, "tmgi") && !strcmp(verb, "show")) {
    if (!(rc = cli_need_args(c, npos, 1, "TMGI"))) {
      if (lmm_t8_tmgi_get(cl, pos[0], &a, &res) != LMM_OK)
        rc = cli_t8_fail(c, pos[0], &res);
      else
        print_alloc(c, &a);
    }
  } else if (!strcmp(group, "tmgi") && !strcmp(verb, "list")) {
    lmm_tmgi_allocation *l = NULL;
    size_t n = 0;
    if (!(rc = cli_need_args(c, npos, 0, ""))) {
      if (lmm_t8_tmgi_list(cl, &l, &n, &res) != LMM_OK)
        rc = cli_t8_fail(c, "TMGI list", &res);
      else {
        if (c->json) printf("[");
        for (size_t i = 0; i < n; i++) {
          if (c->json && i) printf(",");
          print_alloc(c, &l[i]);
        }
        if (c->json)
          printf("]\n");
        else if (!n)
          printf("no TMGI allocated\n");
      }
      lmm_tmgi_allocation_list_free(l, n);
    }
  } else if (!strcmp(group, "tmgi") && !strcmp(verb, "renew")) {
    if (!(rc = cli_need_args(c, npos, 1, "TMGI"))) {
      lmm_err e;
      if (so.put) {
        lmm_tmgi_allocation cur = {0};
        /* PUT replaces the resource: start from what the SCEF holds so nothing is lost. */
        e = lmm_t8_tmgi_get(cl, pos[0], &cur, &res);
        if (e == LMM_OK) {
          if (so.external_group_id) {
            free(cur.external_group_id);
            cur.external_group_id = strdup(so.external_group_id);
          }
          lmm_t8_result_clear(&res);
          e = lmm_t8_tmgi_put(cl, pos[0], &cur, &a, &res);
        }
        lmm_tmgi_allocation_clear(&cur);
      } else {
        lmm_tmgi_allocation_patch p = {.set_external_group_id = so.external_group_id != NULL,
                                       .external_group_id = so.external_group_id};
        e = lmm_t8_tmgi_patch(cl, pos[0], &p, &a, &res);
      }
      if (e != LMM_OK)
        rc = cli_t8_fail(c, pos[0], &res);
      else if (!a.tmgi)
        printf("%s renewed\n", pos[0]); /* 204: the SCEF sent no body */
      else
        print_alloc(c, &a);
    }
  } else if (!strcmp(group, "tmgi") && !strcmp(verb, "release")) {
    if (!(rc = cli_need_args(c, npos, 1, "TMGI"))) {
      if (lmm_t8_tmgi_delete(cl, pos[0], &res) != LMM_OK)
        rc = cli_t8_fail(c, pos[0], &res);
      else
        printf(c->json ? "{\"released\":\"%s\"}\n" : "%s released\n", pos[0]);
    }
  } else if (!strcmp(group, "delivery") && !strcmp(verb, "show")) {
    if (!(rc = cli_need_args(c, npos, 2, "TMGI and TXN"))) {
      if (lmm_t8_gmd_get(cl, pos[0], pos[1], &g, &res) != LMM_OK)
        rc = cli_t8_fail(c, pos[1], &res);
      else {
        char *j = lmm_gmd_to_json(&g);
        printf("%s\n", j ? j : "{}");
        lmm_free(j);
      }
    }
  } else if (!strcmp(group, "delivery") && !strcmp(verb, "list")) {
    lmm_gmd *l = NULL;
    size_t n = 0;
    if (!(rc = cli_need_args(c, npos, 1, "TMGI"))) {
      if (lmm_t8_gmd_list(cl, pos[0], &l, &n, &res) != LMM_OK)
        rc = cli_t8_fail(c, pos[0], &res);
      else if (c->json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
          char *j = lmm_gmd_to_json(&l[i]);
          printf("%s%s", i ? "," : "", j ? j : "null");
          lmm_free(j);
        }
        printf("]\n");
      } else {
        for (size_t i = 0; i < n; i++)
          printf("%-24s %s\n", l[i].transaction_id ? l[i].transaction_id : "-",
                 l[i].has_payload ? "inline" : "mb2-u");
        if (!n) printf("no delivery on %s\n", pos[0]);
      }
      lmm_gmd_list_free(l, n);
    }
  } else if (!strcmp(group, "delivery") && !strcmp(verb, "delete")) {
    if (!(rc = cli_need_args(c, npos, 2, "TMGI and TXN"))) {
      if (lmm_t8_gmd_delete(cl, pos[0], pos[1], &res) != LMM_OK)
        rc = cli_t8_fail(c, pos[1], &res);
      else
        printf(c->json ? "{\"deleted\":\"%s\"}\n" : "%s deleted\n", pos[1]);
    }
  } else {
    rc = cli_usage(c, "unknown command");
  }
  lmm_t8_result_clear(&res);
  lmm_tmgi_allocation_clear(&a);
  lmm_gmd_clear(&g);
  lmm_t8_client_free(cl);
  return rc;
}
