/* opts.c - t8-mock's command line: --help and the options into a mock_cfg. */
#include "opts.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "lwm2m_mbms/t8.h"

#define usage_error(...) cli_usage_error("t8-mock", __VA_ARGS__)

const char MOCK_USAGE[] =
    "Usage: t8-mock [OPTION]...\n"
    "A mock SCEF serving the T8 API GMDviaMBMSbyMB2 (3GPP TS 29.122) under\n"
    "{apiRoot}" LMM_T8_BASE_PATH ", playing the BM-SC on simulated MBMS bearers\n"
    "(UDP multicast 239.<aa>.<bb>.<cc> for MBMS service id aabbcc), with fault injection.\n"
    "\n"
    "HTTP:\n"
    "  --listen ADDR:PORT      listen address (default 127.0.0.1:8080; PORT 0: ephemeral;\n"
    "                          IPv6 as [ADDR]:PORT)\n"
    "  --ready-file FILE       once listening, write the bound port and a newline to FILE\n"
    "                          (via FILE.tmp and rename)\n"
    "  --api-root URL          apiRoot of self links and Location headers\n"
    "                          (default http://ADDR:PORT); its path, if any, prefixes the API\n"
    "  --token TOKEN           require \"Authorization: Bearer TOKEN\" (else 401)\n"
    "  --token-file FILE       same, the token read from FILE at every request\n"
    "  --scs-as-id ID          allow only this scsAsId (repeatable; others get 403;\n"
    "                          default: any)\n"
    "  --max-body BYTES        largest request body (default 1048576; larger: 413)\n"
    "  --tls-cert FILE         serve HTTPS with this PEM certificate (chain); needs --tls-key;\n"
    "                          the default --api-root then starts with https://\n"
    "  --tls-key FILE          the PEM private key of --tls-cert\n"
    "\n"
    "TMGIs and bearers:\n"
    "  --tmgi-lifetime SEC     TMGI lifetime (default 3600): tmgiExpiration is allocation or\n"
    "                          renewal time + SEC, rounded up to the second\n"
    "  --mcc DDD               MCC in TMGIs (default 001)\n"
    "  --mnc DD[D]             MNC in TMGIs (default 01)\n"
    "  --bearer-if ADDR        IPv4 interface address for multicast sends (default 127.0.0.1)\n"
    "  --bearer-port PORT      UDP port of the simulated bearers (default 5683)\n"
    "  --user-plane-addr ADDR  address of the MB2-U ports (default 127.0.0.1)\n"
    "  --max-datagram BYTES    largest bearer datagram (default 65507; a larger\n"
    "                          groupMessagePayload gets 400)\n"
    "\n"
    "Fault injection (random choices use --seed):\n"
    "  --loss P                probability 0..1 that a bearer datagram is dropped\n"
    "  --fail-rate P           probability that a request gets --fail-status\n"
    "  --fail-first N          the first N requests get --fail-status\n"
    "  --fail-status S         429 or 503 (default 503), sent with Retry-After\n"
    "  --retry-after SEC       value of Retry-After (default 1)\n"
    "  --latency-ms MS         delay before every answer (default 0)\n"
    "  --notify-loss P         probability that a notification is not sent (never retried)\n"
    "  --notify-retries N      retries of a notification that got no answer, 408, 429 or\n"
    "                          5xx (default 3, at most 10); other answers are final\n"
    "  --notify-backoff-ms MS  wait before the first retry, doubled for each next one\n"
    "                          (default 1000; a Retry-After lengthens it; at most 60000)\n"
    "  --create-reply-delay-ms MS\n"
    "                          hold the 201 of a delivery create until the delivery has\n"
    "                          played and its notification is done, then MS more, as a slow\n"
    "                          proxy would (default 0: off; the 201 then goes first)\n"
    "  --seed N                seed of the PRNG (default: from the clock)\n"
    "\n"
    "Output:\n"
    "  --log FILE              JSON-lines event log, flushed after each line\n"
    "  --verbose               human log on stderr\n"
    "  --help                  show this help and exit\n"
    "\n"
    "State:\n"
    "  --state-file FILE       keep the TMGI allocations in FILE across restarts (read at\n"
    "                          start, rewritten at every change); deliveries are not kept\n"
    "\n"
    "SIGINT or SIGTERM stops it cleanly (exit 0).\n"
    "Exit status: 0 clean shutdown or --help; 1 cannot start (bind, log file, token file,\n"
    "state file); 2 usage error.\n"
    "See docs/t8-mock.md for the API served, the log format and what is simulated.\n";

enum {
  O_LISTEN = 256,
  O_READY,
  O_API_ROOT,
  O_TOKEN,
  O_TOKEN_FILE,
  O_SCS,
  O_LIFETIME,
  O_MCC,
  O_MNC,
  O_BEARER_IF,
  O_BEARER_PORT,
  O_UP_ADDR,
  O_MAX_BODY,
  O_TLS_CERT,
  O_TLS_KEY,
  O_MAX_DGRAM,
  O_LOSS,
  O_FAIL_RATE,
  O_FAIL_FIRST,
  O_FAIL_STATUS,
  O_RETRY_AFTER,
  O_LATENCY,
  O_NOTIFY_LOSS,
  O_NOTIFY_RETRIES,
  O_NOTIFY_BACKOFF,
  O_REPLY_DELAY,
  O_SEED,
  O_LOG,
  O_STATE_FILE,
  O_VERBOSE,
  O_HELP
};

/* The long options, in the order of the O_ values above: '=' marks those that take a value. */
static const char OPTIONS[] =
    "listen= ready-file= api-root= token= token-file= scs-as-id= tmgi-lifetime= mcc= mnc= "
    "bearer-if= bearer-port= user-plane-addr= max-body= tls-cert= tls-key= max-datagram= loss= "
    "fail-rate= "
    "fail-first= fail-status= retry-after= latency-ms= notify-loss= notify-retries= "
    "notify-backoff-ms= create-reply-delay-ms= seed= log= state-file= verbose help";
#define N_OPTIONS (O_HELP - O_LISTEN + 1)

static bool parse_digits(const char *s, size_t lo, size_t hi, char *out) {
  size_t n = strlen(s);
  if (n < lo || n > hi) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  memcpy(out, s, n + 1);
  return true;
}

/* A numeric IPv4 or IPv6 address with a port. */
static bool parse_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *sa,
                           socklen_t *len) {
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST;
  if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai) return false;
  if (ai->ai_addrlen > sizeof *sa) {
    freeaddrinfo(ai);
    return false;
  }
  memset(sa, 0, sizeof *sa);
  memcpy(sa, ai->ai_addr, ai->ai_addrlen);
  *len = (socklen_t)ai->ai_addrlen;
  freeaddrinfo(ai);
  if (sa->ss_family == AF_INET)
    ((struct sockaddr_in *)sa)->sin_port = htons(port);
  else
    ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
  return true;
}

static bool parse_listen(const char *s, mock_cfg *c) {
  const char *colon;
  char host[64];
  size_t hl;
  uint64_t port;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return false;
    hl = (size_t)(close - s - 1);
    if (hl == 0 || hl >= sizeof host) return false;
    memcpy(host, s + 1, hl);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host) return false;
    hl = (size_t)(colon - s);
    memcpy(host, s, hl);
  }
  host[hl] = '\0';
  if (!cli_parse_u64(colon + 1, 0, 65535, &port)) return false;
  if (!parse_sockaddr(host, (uint16_t)port, &c->listen_sa, &c->listen_len)) return false;
  if (s[0] != '[' && c->listen_sa.ss_family != AF_INET) return false; /* IPv6 must be bracketed */
  memcpy(c->listen_host, host, hl + 1);
  return true;
}

int mock_opts_parse(int argc, char **argv, mock_cfg *c, bool *help) {
  struct option opts[N_OPTIONS + 1];
  char names[sizeof OPTIONS];
  int o;
  uint64_t v;
  c->tmgi_lifetime_s = 3600;
  snprintf(c->mcc, sizeof c->mcc, "001");
  snprintf(c->mnc, sizeof c->mnc, "01");
  c->bearer_port = 5683;
  c->max_body = 1048576;
  c->max_datagram = 65507;
  c->fail_status = 503;
  c->retry_after = 1;
  c->notify_retries = 3;
  c->notify_backoff_ms = 1000;
  parse_listen("127.0.0.1:8080", c);
  parse_sockaddr("127.0.0.1", 0, &c->up_sa, &c->up_len);
  snprintf(c->up_addr, sizeof c->up_addr, "127.0.0.1");
  inet_pton(AF_INET, "127.0.0.1", &c->bearer_if);
  snprintf(c->bearer_if_text, sizeof c->bearer_if_text, "127.0.0.1");

  if (cli_options(OPTIONS, O_LISTEN, opts, N_OPTIONS + 1, names) != N_OPTIONS)
    return usage_error("internal error: the option table does not match its options");
  opterr = 0;
  while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    const char *a = optarg;
    switch (o) {
    case O_LISTEN:
      if (!parse_listen(a, c))
        return usage_error("--listen: expected ADDR:PORT with a numeric address, got '%s'%s", a,
                           "");
      break;
    case O_READY:
      c->ready_file = a;
      break;
    case O_API_ROOT:
      if (strncasecmp(a, "http://", 7) != 0 && strncasecmp(a, "https://", 8) != 0)
        return usage_error("--api-root: expected an http:// or https:// URL, got '%s'", a);
      c->api_root_arg = a;
      break;
    case O_TOKEN:
      if (!a[0]) return usage_error("--token: the token is empty");
      c->token = a;
      break;
    case O_TOKEN_FILE:
      c->token_file = a;
      break;
    case O_SCS: {
      const char **p;
      if (!a[0] || strchr(a, '/'))
        return usage_error("--scs-as-id: expected a non-empty path segment, got '%s'", a);
      p = realloc(c->scs_as_ids, (c->n_scs_as_ids + 1) * sizeof *p);
      if (!p) return usage_error("out of memory");
      c->scs_as_ids = p;
      p[c->n_scs_as_ids++] = a;
      break;
    }
    case O_LIFETIME:
      if (!cli_parse_u64(a, 0, 10ull * 366 * 86400, &v) || v == 0)
        return usage_error("--tmgi-lifetime: expected seconds >= 1, got '%s'", a);
      c->tmgi_lifetime_s = (int64_t)v;
      break;
    case O_MCC:
      if (!parse_digits(a, 3, 3, c->mcc))
        return usage_error("--mcc: expected 3 digits, got '%s'", a);
      break;
    case O_MNC:
      if (!parse_digits(a, 2, 3, c->mnc))
        return usage_error("--mnc: expected 2 or 3 digits, got '%s'", a);
      break;
    case O_BEARER_IF:
      if (inet_pton(AF_INET, a, &c->bearer_if) != 1)
        return usage_error("--bearer-if: expected an IPv4 address, got '%s'", a);
      snprintf(c->bearer_if_text, sizeof c->bearer_if_text, "%s", a);
      break;
    case O_BEARER_PORT:
      if (!cli_parse_u64(a, 0, 65535, &v) || v == 0)
        return usage_error("--bearer-port: expected 1..65535, got '%s'", a);
      c->bearer_port = (uint16_t)v;
      break;
    case O_UP_ADDR:
      if (strlen(a) >= sizeof c->up_addr || !parse_sockaddr(a, 0, &c->up_sa, &c->up_len))
        return usage_error("--user-plane-addr: expected a numeric address, got '%s'", a);
      snprintf(c->up_addr, sizeof c->up_addr, "%s", a);
      break;
    case O_MAX_BODY:
      if (!cli_parse_u64(a, 0, 1ull << 30, &v) || v == 0)
        return usage_error("--max-body: expected 1..1073741824, got '%s'", a);
      c->max_body = (size_t)v;
      break;
    case O_TLS_CERT:
      c->tls_cert = a;
      break;
    case O_TLS_KEY:
      c->tls_key = a;
      break;
    case O_MAX_DGRAM:
      if (!cli_parse_u64(a, 0, 65507, &v) || v == 0)
        return usage_error("--max-datagram: expected 1..65507, got '%s'", a);
      c->max_datagram = (size_t)v;
      break;
    case O_LOSS:
      if (!cli_parse_prob(a, &c->loss))
        return usage_error("--loss: expected a probability 0..1, got '%s'", a);
      break;
    case O_FAIL_RATE:
      if (!cli_parse_prob(a, &c->fail_rate))
        return usage_error("--fail-rate: expected a probability 0..1, got '%s'", a);
      break;
    case O_NOTIFY_LOSS:
      if (!cli_parse_prob(a, &c->notify_loss))
        return usage_error("--notify-loss: expected a probability 0..1, got '%s'", a);
      break;
    case O_NOTIFY_RETRIES:
      if (!cli_parse_u64(a, 0, MOCK_NOTIFY_MAX_RETRIES, &v))
        return usage_error("--notify-retries: expected 0..%d, got '%s'", MOCK_NOTIFY_MAX_RETRIES,
                           a);
      c->notify_retries = (int)v;
      break;
    case O_NOTIFY_BACKOFF:
      if (!cli_parse_u64(a, 0, (uint64_t)MOCK_NOTIFY_MAX_WAIT_MS, &v))
        return usage_error("--notify-backoff-ms: expected 0..%ld, got '%s'",
                           MOCK_NOTIFY_MAX_WAIT_MS, a);
      c->notify_backoff_ms = (long)v;
      break;
    case O_REPLY_DELAY:
      if (!cli_parse_u64(a, 0, 600000, &v))
        return usage_error("--create-reply-delay-ms: expected 0..600000, got '%s'", a);
      c->create_reply_delay_ms = (long)v;
      break;
    case O_FAIL_FIRST:
      if (!cli_parse_u64(a, 0, UINT64_MAX, &c->fail_first))
        return usage_error("--fail-first: expected a count, got '%s'", a);
      break;
    case O_FAIL_STATUS:
      if (strcmp(a, "429") != 0 && strcmp(a, "503") != 0)
        return usage_error("--fail-status: expected 429 or 503, got '%s'", a);
      c->fail_status = atoi(a);
      break;
    case O_RETRY_AFTER:
      if (!cli_parse_u64(a, 0, 86400, &v))
        return usage_error("--retry-after: expected seconds 0..86400, got '%s'", a);
      c->retry_after = (long)v;
      break;
    case O_LATENCY:
      if (!cli_parse_u64(a, 0, 600000, &v))
        return usage_error("--latency-ms: expected 0..600000, got '%s'", a);
      c->latency_ms = (long)v;
      break;
    case O_SEED:
      if (!cli_parse_u64(a, 0, UINT64_MAX, &c->seed))
        return usage_error("--seed: expected an unsigned integer, got '%s'", a);
      c->seed_set = true;
      break;
    case O_LOG:
      c->log_file = a;
      break;
    case O_STATE_FILE:
      c->state_file = a;
      break;
    case O_VERBOSE:
      c->verbose = true;
      break;
    case O_HELP:
      *help = true;
      return 0;
    case ':':
      return usage_error("option '%s' requires an argument", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
  if (c->token && c->token_file) return usage_error("--token and --token-file exclude each other");
  if (!c->tls_cert != !c->tls_key) return usage_error("--tls-cert and --tls-key go together");
  return 0;
}
