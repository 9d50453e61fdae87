/* test_t8_mock_http.c - the real t8-mock over raw HTTP (libcurl easy): every status it serves,
 * TMGI and delivery resources, expiry, the bearer, MB2-U, notifications and the JSON-lines log. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>

#define BASE_PATH "/3gpp-group-message-delivery-mb2/v1"

/* ------------------------------------------------------------------ helpers: time, ports */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* A high UDP port per mock, so that tests running in parallel do not share a bearer. */
static int random_port(void) {
  static unsigned n;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return 20000 +
         (int)(((unsigned)getpid() * 7919u + (unsigned)ts.tv_nsec / 1000u + 97u * n++) % 30000u);
}

static void rfc3339(time_t t, char *buf, size_t cap) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------ helpers: the mock process */

typedef struct mockp {
  pid_t pid;
  int port;
  int bearer_port;
  char dir[64];
  char ready[128];
  char log[128];
  char base[160]; /* http://127.0.0.1:PORT/3gpp-group-message-delivery-mb2/v1 */
} mockp;

/* Mocks still running: a failed assertion leaves its test early, and the teardown must not leave
 * a process behind (it would also hold the test's stdout open). */
static pid_t live[8];

static void live_add(pid_t pid) {
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (!live[i]) {
      live[i] = pid;
      return;
    }
}

static void live_del(pid_t pid) {
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (live[i] == pid) live[i] = 0;
}

static int reap_mocks(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (live[i] > 0) {
      kill(live[i], SIGKILL);
      waitpid(live[i], NULL, 0);
      live[i] = 0;
    }
  return 0;
}

static const char *mock_bin(void) {
  const char *bin = getenv("LMM_T8_MOCK");
  if (!bin || !*bin) fail_msg("LMM_T8_MOCK is not set");
  return bin;
}

/* Starts the mock on an ephemeral port with a fresh log and a random bearer port, plus `extra`
 * (NULL-terminated); waits at most 5 s for its ready file. */
static void mock_start(mockp *mp, const char *const *extra) {
  const char *argv[64];
  char bport[16];
  int n = 0;
  int64_t deadline;

  memset(mp, 0, sizeof *mp);
  snprintf(mp->dir, sizeof mp->dir, "/tmp/t8mock-XXXXXX");
  assert_non_null(mkdtemp(mp->dir));
  snprintf(mp->ready, sizeof mp->ready, "%s/ready", mp->dir);
  snprintf(mp->log, sizeof mp->log, "%s/log.jsonl", mp->dir);
  mp->bearer_port = random_port();
  snprintf(bport, sizeof bport, "%d", mp->bearer_port);
  argv[n++] = mock_bin();
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  argv[n++] = "--ready-file";
  argv[n++] = mp->ready;
  argv[n++] = "--log";
  argv[n++] = mp->log;
  argv[n++] = "--bearer-port";
  argv[n++] = bport;
  argv[n++] = "--seed";
  argv[n++] = "1";
  for (int i = 0; extra && extra[i] && n < 62; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;

  mp->pid = fork();
  assert_true(mp->pid >= 0);
  if (mp->pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the test */
    if (devnull >= 0) dup2(devnull, 1); /* stderr stays: sanitizer reports must show */
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  live_add(mp->pid);
  deadline = mono_ms() + 5000;
  while (mono_ms() < deadline) {
    FILE *f = fopen(mp->ready, "r");
    int status;
    if (f) {
      int port = 0;
      char nl = 0;
      int k = fscanf(f, "%d%c", &port, &nl);
      fclose(f);
      if (k == 2 && nl == '\n' && port > 0) {
        mp->port = port;
        snprintf(mp->base, sizeof mp->base, "http://127.0.0.1:%d" BASE_PATH, port);
        return;
      }
    }
    if (waitpid(mp->pid, &status, WNOHANG) == mp->pid) {
      live_del(mp->pid);
      mp->pid = 0;
      fail_msg("t8-mock exited during start-up");
    }
    sleep_ms(20);
  }
  kill(mp->pid, SIGKILL);
  waitpid(mp->pid, NULL, 0);
  live_del(mp->pid);
  mp->pid = 0;
  fail_msg("t8-mock did not become ready within 5 s");
}

/* SIGTERM and a bounded wait (SIGKILL after 5 s). Returns the exit status, -1 if it had to be
 * killed or died of a signal. Removes its files. */
static int mock_stop(mockp *mp) {
  int status = 0, rc = -1;
  int64_t deadline = mono_ms() + 5000;
  if (mp->pid <= 0) return -1;
  kill(mp->pid, SIGTERM);
  for (;;) {
    pid_t w = waitpid(mp->pid, &status, WNOHANG);
    if (w == mp->pid) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (mono_ms() > deadline) {
      kill(mp->pid, SIGKILL);
      waitpid(mp->pid, NULL, 0);
      break;
    }
    sleep_ms(10);
  }
  live_del(mp->pid);
  mp->pid = 0;
  return rc;
}

static void mock_cleanup(mockp *mp) {
  char tmp[160];
  unlink(mp->ready);
  snprintf(tmp, sizeof tmp, "%s.tmp", mp->ready);
  unlink(tmp);
  unlink(mp->log);
  rmdir(mp->dir);
}

/* Runs the mock binary to completion with `args`, capturing stdout and stderr. */
static int run_capture(const char *const *args, char *out, size_t out_cap, char *err,
                       size_t err_cap) {
  int po[2], pe[2], status = 0;
  const char *argv[32];
  int n = 0;
  pid_t pid;
  size_t no = 0, ne = 0;
  int64_t deadline = mono_ms() + 5000;

  argv[n++] = mock_bin();
  for (int i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  assert_int_equal(pipe(po), 0);
  assert_int_equal(pipe(pe), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    close(po[0]);
    close(pe[0]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  for (;;) {
    struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 0;
    if (poll(p, 2, 100) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; i++) {
      char *buf = i ? err : out;
      size_t *len = i ? &ne : &no;
      size_t cap = i ? err_cap : out_cap;
      if (p[i].fd < 0) continue;
      open_fds++;
      if (p[i].revents) {
        ssize_t r = read(p[i].fd, buf + *len, cap - 1 - *len);
        if (r <= 0) {
          close(p[i].fd);
          if (i)
            pe[0] = -1;
          else
            po[0] = -1;
        } else {
          *len += (size_t)r;
        }
      }
    }
    if (!open_fds || (po[0] < 0 && pe[0] < 0) || mono_ms() > deadline) break;
  }
  if (po[0] >= 0) close(po[0]);
  if (pe[0] >= 0) close(pe[0]);
  out[no] = '\0';
  err[ne] = '\0';
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (mono_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    sleep_ms(10);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------------------ helpers: the JSON-lines log */

/* Log lines of `event` whose text contains `needle` (NULL: any). Every line must be a JSON object
 * with "ts" and "event". */
static int log_count(const mockp *mp, const char *event, const char *needle) {
  FILE *f = fopen(mp->log, "r");
  char line[8192];
  int n = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f)) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *ev, *ts;
    assert_non_null(o);
    ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
    assert_true(cJSON_IsString(ev));
    assert_true(cJSON_IsString(ts));
    /* RFC 3339 UTC with milliseconds: 2024-01-02T03:04:05.678Z */
    assert_int_equal(strlen(ts->valuestring), 24);
    assert_int_equal(ts->valuestring[19], '.');
    assert_int_equal(ts->valuestring[23], 'Z');
    if (strcmp(ev->valuestring, event) == 0 && (!needle || strstr(line, needle))) n++;
    cJSON_Delete(o);
  }
  fclose(f);
  return n;
}

static int log_wait(const mockp *mp, const char *event, const char *needle, int want, int ms) {
  int64_t deadline = mono_ms() + ms;
  int n;
  while ((n = log_count(mp, event, needle)) < want && mono_ms() < deadline)
    sleep_ms(20);
  return n;
}

/* The first log line of `event` containing `needle`, parsed (cJSON_Delete it), or NULL. */
static cJSON *log_find(const mockp *mp, const char *event, const char *needle) {
  FILE *f = fopen(mp->log, "r");
  char line[8192];
  cJSON *found = NULL;
  if (!f) return NULL;
  while (!found && fgets(line, sizeof line, f)) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    if (o && cJSON_IsString(ev) && strcmp(ev->valuestring, event) == 0 &&
        (!needle || strstr(line, needle)))
      found = o;
    else
      cJSON_Delete(o);
  }
  fclose(f);
  return found;
}

/* ------------------------------------------------------------------ helpers: HTTP */

typedef struct resp {
  long status;
  char *body;
  size_t len;
  char hdrs[8192];
  size_t hlen;
  cJSON *json;
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *user) {
  resp *r = user;
  size_t k = size * n;
  char *b = realloc(r->body, r->len + k + 1);
  if (!b) return 0;
  memcpy(b + r->len, p, k);
  r->body = b;
  r->len += k;
  b[r->len] = '\0';
  return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *user) {
  resp *r = user;
  size_t k = size * n;
  if (k >= 5 && strncmp(p, "HTTP/", 5) == 0)
    r->hlen = 0; /* keep only the final response's headers (not a 100 Continue) */
  if (r->hlen + k < sizeof r->hdrs) {
    memcpy(r->hdrs + r->hlen, p, k);
    r->hlen += k;
    r->hdrs[r->hlen] = '\0';
  }
  return k;
}

/* The value of header `name` of the response, or NULL. Returns a pointer into `out`. */
static const char *header(const resp *r, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  const char *p = r->hdrs;
  while (p && *p) {
    const char *eol = strstr(p, "\r\n");
    if (!eol) break;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      size_t vl;
      while (*v == ' ')
        v++;
      vl = (size_t)(eol - v);
      if (vl >= cap) vl = cap - 1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return out;
    }
    p = eol + 2;
  }
  return NULL;
}

static void resp_free(resp *r) {
  free(r->body);
  cJSON_Delete(r->json);
  memset(r, 0, sizeof *r);
}

/* One request. `ctype` NULL: no body. `extra` headers NULL-terminated. "Expect:" is sent empty
 * unless `extra` sets it, so that bodies go at once. Parses a JSON body into r->json. */
static long http(resp *r, const char *method, const char *url, const char *ctype, const char *body,
                 const char *const *extra) {
  CURL *h = curl_easy_init();
  struct curl_slist *hd = NULL;
  char ct[128];
  bool expect_set = false;
  CURLcode rc;

  memset(r, 0, sizeof *r);
  assert_non_null(h);
  for (int i = 0; extra && extra[i]; i++) {
    hd = curl_slist_append(hd, extra[i]);
    if (strncasecmp(extra[i], "Expect:", 7) == 0) expect_set = true;
  }
  if (!expect_set) hd = curl_slist_append(hd, "Expect:");
  if (ctype) {
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    hd = curl_slist_append(hd, ct);
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  rc = curl_easy_perform(h);
  if (rc != CURLE_OK) fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(hd);
  curl_easy_cleanup(h);
  if (r->body) r->json = cJSON_Parse(r->body);
  return r->status;
}

static void url_of(const mockp *mp, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void url_of(const mockp *mp, char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(out, cap, "%s", mp->base);
  va_start(ap, fmt);
  vsnprintf(out + n, cap - (size_t)n, fmt, ap);
  va_end(ap);
}

static const char *jstr(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An error answer: status, problem+json, its status member, title, and the invalidParams entry
 * (`param` NULL: there must be none). */
static void assert_problem(const resp *r, long status, const char *param) {
  char ct[128];
  const cJSON *ip;
  if (r->status != status)
    fail_msg("expected %ld, got %ld: %s", status, r->status, r->body ? r->body : "");
  assert_non_null(header(r, "Content-Type", ct, sizeof ct));
  assert_string_equal(ct, "application/problem+json");
  assert_non_null(r->json);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(r->json, "status")->valueint, status);
  assert_non_null(jstr(r->json, "title"));
  assert_non_null(jstr(r->json, "cause"));
  ip = cJSON_GetObjectItemCaseSensitive(r->json, "invalidParams");
  if (!param) {
    assert_null(ip);
    return;
  }
  assert_true(cJSON_IsArray(ip));
  assert_int_equal(cJSON_GetArraySize(ip), 1);
  assert_non_null(jstr(cJSON_GetArrayItem(ip, 0), "param"));
  assert_string_equal(jstr(cJSON_GetArrayItem(ip, 0), "param"), param);
}

/* True for our TMGI form with the default PLMN: 6 lowercase hex digits, then 001 and 01. */
static bool tmgi_form_ok(const char *t) {
  if (strlen(t) != 11 || strcmp(t + 6, "00101") != 0 || strncmp(t, "000000", 6) == 0) return false;
  for (int i = 0; i < 6; i++)
    if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f'))) return false;
  return true;
}

/* Allocates a TMGI for `scs`; fills its id and self link. */
static void create_tmgi(const mockp *mp, const char *scs, const char *body, char *tmgi, size_t tcap,
                        char *self, size_t scap) {
  char url[512], loc[512];
  resp r;
  const char *s;
  url_of(mp, url, sizeof url, "/%s/tmgi-allocation", scs);
  if (http(&r, "POST", url, "application/json", body, NULL) != 201)
    fail_msg("TMGI POST: %ld %s", r.status, r.body ? r.body : "");
  assert_non_null(r.json);
  s = jstr(r.json, "self");
  assert_non_null(s);
  assert_non_null(header(&r, "Location", loc, sizeof loc));
  assert_string_equal(loc, s);
  assert_non_null(jstr(r.json, "tmgiExpiration"));
  snprintf(self, scap, "%s", s);
  snprintf(tmgi, tcap, "%s", strrchr(s, '/') + 1);
  assert_true(tmgi_form_ok(tmgi));
  resp_free(&r);
}

/* Creates a delivery; returns the 201 body parsed (cJSON_Delete it). */
static cJSON *create_gmd(const mockp *mp, const char *tmgi, const char *body) {
  char url[512], loc[512];
  resp r;
  cJSON *j;
  url_of(mp, url, sizeof url, "/as1/tmgi-allocation/%s/delivery-via-mbms", tmgi);
  if (http(&r, "POST", url, "application/json", body, NULL) != 201)
    fail_msg("delivery POST: %ld %s", r.status, r.body ? r.body : "");
  assert_non_null(r.json);
  assert_non_null(jstr(r.json, "self"));
  assert_non_null(header(&r, "Location", loc, sizeof loc));
  assert_string_equal(loc, jstr(r.json, "self"));
  j = r.json;
  r.json = NULL;
  resp_free(&r);
  return j;
}

/* ------------------------------------------------------------------ helpers: bearer, sink */

static void tmgi_group(const char *tmgi, char *out, size_t cap) {
  unsigned v = 0;
  sscanf(tmgi, "%6x", &v);
  snprintf(out, cap, "239.%u.%u.%u", (v >> 16) & 255u, (v >> 8) & 255u, v & 255u);
}

/* Joins the bearer of a TMGI on 127.0.0.1, bound to the group itself so that only its datagrams
 * arrive. */
static int bearer_join(const char *tmgi, int port) {
  char group[32];
  struct sockaddr_in sa;
  struct ip_mreq mr;
  int one = 1;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  tmgi_group(tmgi, group, sizeof group);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, group, &sa.sin_addr);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  inet_pton(AF_INET, group, &mr.imr_multiaddr);
  inet_pton(AF_INET, "127.0.0.1", &mr.imr_interface);
  assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr), 0);
  return fd;
}

static ssize_t recv_within(int fd, void *buf, size_t cap, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return -1;
  return recv(fd, buf, cap, 0);
}

static void send_udp(const char *addr, int port, const void *data, size_t len) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
  assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof sa), (ssize_t)len);
  close(fd);
}

/* A tiny HTTP server receiving the mock's notifications (libmicrohttpd, own thread). */
typedef struct note {
  char method[16];
  char path[128];
  char ctype[128];
  char *body;
  int64_t at_ms;
} note;

typedef struct sink {
  struct MHD_Daemon *d;
  int port;
  char url[128];
  pthread_mutex_t mu;
  note notes[64];
  int n;
} sink;

typedef struct sink_req {
  char *body;
  size_t len;
} sink_req;

static enum MHD_Result sink_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version, const char *upload,
                                       size_t *upload_size, void **con_cls) {
  sink *s = cls;
  sink_req *q = *con_cls;
  struct MHD_Response *mr;
  enum MHD_Result ret;
  (void)version;
  if (!q) {
    q = calloc(1, sizeof *q);
    *con_cls = q;
    return q ? MHD_YES : MHD_NO;
  }
  if (*upload_size) {
    char *b = realloc(q->body, q->len + *upload_size + 1);
    if (!b) return MHD_NO;
    memcpy(b + q->len, upload, *upload_size);
    q->body = b;
    q->len += *upload_size;
    b[q->len] = '\0';
    *upload_size = 0;
    return MHD_YES;
  }
  pthread_mutex_lock(&s->mu);
  if (s->n < 64) {
    note *n = &s->notes[s->n++];
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    snprintf(n->method, sizeof n->method, "%s", method);
    snprintf(n->path, sizeof n->path, "%s", url);
    snprintf(n->ctype, sizeof n->ctype, "%s", ct ? ct : "");
    n->body = q->body ? q->body : strdup("");
    n->at_ms = mono_ms();
    q->body = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  ret = MHD_queue_response(c, 204, mr);
  MHD_destroy_response(mr);
  return ret;
}

static void sink_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
  sink_req *q = *con_cls;
  (void)cls;
  (void)c;
  (void)toe;
  if (q) {
    free(q->body);
    free(q);
  }
  *con_cls = NULL;
}

static void sink_start(sink *s) {
  struct sockaddr_in sa;
  const union MHD_DaemonInfo *info;
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                          sink_on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_NOTIFY_COMPLETED, sink_on_completed, s, MHD_OPTION_END);
  assert_non_null(s->d);
  info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  assert_non_null(info);
  s->port = info->port;
  snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/t8/notify", s->port);
}

static int sink_count(sink *s) {
  int n;
  pthread_mutex_lock(&s->mu);
  n = s->n;
  pthread_mutex_unlock(&s->mu);
  return n;
}

static int sink_wait(sink *s, int want, int ms) {
  int64_t deadline = mono_ms() + ms;
  int n;
  while ((n = sink_count(s)) < want && mono_ms() < deadline)
    sleep_ms(10);
  return n;
}

static void sink_stop(sink *s) {
  MHD_stop_daemon(s->d);
  for (int i = 0; i < s->n; i++)
    free(s->notes[i].body);
  pthread_mutex_destroy(&s->mu);
}

/* Checks notification i: a POST of application/json to the sink's path; returns its body parsed
 * (cJSON_Delete it). */
static cJSON *sink_note(sink *s, int i) {
  cJSON *j;
  pthread_mutex_lock(&s->mu);
  assert_true(i < s->n);
  assert_string_equal(s->notes[i].method, "POST");
  assert_string_equal(s->notes[i].path, "/t8/notify");
  assert_string_equal(s->notes[i].ctype, "application/json");
  j = cJSON_Parse(s->notes[i].body);
  pthread_mutex_unlock(&s->mu);
  assert_non_null(j);
  return j;
}

static void assert_delivery_note(sink *s, int i, const char *self, bool delivered) {
  cJSON *j = sink_note(s, i);
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "deliveryTriggerStatus");
  assert_non_null(jstr(j, "transaction"));
  assert_string_equal(jstr(j, "transaction"), self);
  assert_true(cJSON_IsBool(st));
  assert_int_equal(cJSON_IsTrue(st), delivered);
  cJSON_Delete(j);
}

/* ------------------------------------------------------------------ tests */

/* --help documents every flag and exits 0; a bad flag is one line plus the hint, exit 2. */
static void test_command_line(void **state) {
  static const char *const flags[] = {"--listen",
                                      "--ready-file",
                                      "--api-root",
                                      "--token",
                                      "--token-file",
                                      "--scs-as-id",
                                      "--tmgi-lifetime",
                                      "--mcc",
                                      "--mnc",
                                      "--bearer-if",
                                      "--bearer-port",
                                      "--user-plane-addr",
                                      "--max-body",
                                      "--max-datagram",
                                      "--loss",
                                      "--fail-rate",
                                      "--fail-first",
                                      "--fail-status",
                                      "--retry-after",
                                      "--latency-ms",
                                      "--notify-loss",
                                      "--seed",
                                      "--log",
                                      "--verbose",
                                      NULL};
  static const char *const bad[][3] = {
      {"--bogus", NULL, NULL}, {"--loss", "1.5", NULL},         {"--fail-status", "500", NULL},
      {"--mcc", "01", NULL},   {"--listen", "localhost", NULL}, {"--bearer-port", "0", NULL},
      {"--seed", NULL, NULL},  {"extra-arg", NULL, NULL}};
  char out[16384], err[4096];
  const char *help[] = {"--help", NULL};
  (void)state;
  assert_int_equal(run_capture(help, out, sizeof out, err, sizeof err), 0);
  for (int i = 0; flags[i]; i++)
    if (!strstr(out, flags[i])) fail_msg("--help does not mention %s", flags[i]);
  assert_string_equal(err, "");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *nl;
    assert_int_equal(run_capture(bad[i], out, sizeof out, err, sizeof err), 2);
    assert_string_equal(out, "");
    nl = strchr(err, '\n');
    assert_non_null(nl);
    assert_true(strncmp(err, "t8-mock: ", 9) == 0);
    assert_string_equal(nl + 1, "Try 't8-mock --help'.\n");
  }
}

/* Allocate, read, list, renew by PUT and PATCH, delete; then 404 and an empty list. */
static void test_tmgi_lifecycle(void **state) {
  mockp mp;
  char tmgi[32], self[512], url[512], coll[512], ct[128];
  resp r;
  const cJSON *j;
  (void)state;
  mock_start(&mp, NULL);
  url_of(&mp, coll, sizeof coll, "/as1/tmgi-allocation");
  assert_int_equal(http(&r, "GET", coll, NULL, NULL, NULL), 200);
  assert_non_null(header(&r, "Content-Type", ct, sizeof ct));
  assert_string_equal(ct, "application/json");
  assert_string_equal(r.body, "[]");
  resp_free(&r);

  create_tmgi(&mp, "as1", "{\"externalGroupId\":\"fleet1@example.com\"}", tmgi, sizeof tmgi, self,
              sizeof self);
  snprintf(url, sizeof url, "%s", self);
  assert_true(strncmp(self, mp.base, strlen(mp.base)) == 0);

  assert_int_equal(http(&r, "GET", url, NULL, NULL, NULL), 200);
  assert_string_equal(jstr(r.json, "self"), self);
  assert_string_equal(jstr(r.json, "externalGroupId"), "fleet1@example.com");
  assert_non_null(jstr(r.json, "tmgiExpiration"));
  resp_free(&r);

  assert_int_equal(http(&r, "GET", coll, NULL, NULL, NULL), 200);
  assert_true(cJSON_IsArray(r.json));
  assert_int_equal(cJSON_GetArraySize(r.json), 1);
  assert_string_equal(jstr(cJSON_GetArrayItem(r.json, 0), "self"), self);
  resp_free(&r);

  /* Another scsAsId sees nothing of it. */
  url_of(&mp, url, sizeof url, "/as2/tmgi-allocation");
  assert_int_equal(http(&r, "GET", url, NULL, NULL, NULL), 200);
  assert_string_equal(r.body, "[]");
  resp_free(&r);

  assert_int_equal(http(&r, "PUT", self, "application/json",
                        "{\"externalGroupId\":\"fleet2@example.com\"}", NULL),
                   200);
  assert_string_equal(jstr(r.json, "externalGroupId"), "fleet2@example.com");
  assert_string_equal(jstr(r.json, "self"), self);
  resp_free(&r);

  assert_int_equal(http(&r, "PATCH", self, "application/merge-patch+json",
                        "{\"mbmsLocArea\":{\"cellId\":[\"c1\"]}}", NULL),
                   200);
  assert_string_equal(jstr(r.json, "externalGroupId"), "fleet2@example.com");
  j = cJSON_GetObjectItemCaseSensitive(r.json, "mbmsLocArea");
  assert_non_null(j);
  resp_free(&r);

  assert_int_equal(
      http(&r, "PATCH", self, "application/merge-patch+json", "{\"externalGroupId\":null}", NULL),
      200);
  assert_null(jstr(r.json, "externalGroupId"));
  resp_free(&r);

  assert_int_equal(http(&r, "DELETE", self, NULL, NULL, NULL), 204);
  assert_int_equal(r.len, 0);
  resp_free(&r);
  assert_int_equal(http(&r, "GET", self, NULL, NULL, NULL), 404);
  assert_problem(&r, 404, NULL);
  resp_free(&r);
  assert_int_equal(http(&r, "GET", coll, NULL, NULL, NULL), 200);
  assert_string_equal(r.body, "[]");
  resp_free(&r);

  assert_int_equal(log_count(&mp, "tmgi_allocated", tmgi), 1);
  assert_int_equal(log_count(&mp, "tmgi_allocated", "fleet1@example.com"), 1);
  assert_int_equal(log_count(&mp, "tmgi_renewed", tmgi), 3);
  assert_int_equal(log_count(&mp, "tmgi_deleted", tmgi), 1);
  assert_int_equal(log_wait(&mp, "http", "\"status\":201", 1, 2000), 1);
  {
    cJSON *o = log_find(&mp, "http", "\"method\":\"POST\"");
    assert_non_null(o);
    assert_string_equal(jstr(o, "path"), BASE_PATH "/as1/tmgi-allocation");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "status")->valueint, 201);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "ms")));
    cJSON_Delete(o);
  }
  assert_int_equal(mock_stop(&mp), 0);
  assert_int_equal(log_count(&mp, "stop", NULL), 1);
  mock_cleanup(&mp);
}

/* 400 in its several forms, each with the member at fault. */
static void test_bad_requests(void **state) {
  static const struct {
    const char *what; /* "tmgi" or "gmd" */
    const char *body;
    const char *param; /* NULL: no invalidParams */
  } cases[] = {
      {"tmgi", "{\"externalGroupId\":", NULL},
      {"tmgi", "[1,2]", NULL},
      {"tmgi", "", NULL},
      {"tmgi", "{\"externalGroupId\":\"no-at-sign\"}", "/externalGroupId"},
      {"tmgi", "{\"externalGroupId\":\"a@b@c\"}", "/externalGroupId"},
      {"tmgi", "{\"tmgiExpiration\":\"2030-01-01T00:00:00Z\"}", "/tmgiExpiration"},
      {"gmd", "{}", "/notificationDestination"},
      {"gmd",
       "{\"notificationDestination\":\"http://127.0.0.1:9/n\",\"groupMessagePayload\":"
       "\"not base64!\"}",
       "/groupMessagePayload"},
      {"gmd",
       "{\"notificationDestination\":\"http://127.0.0.1:9/n\",\"groupMessagePayload\":"
       "\"aGVsbG8\"}",
       "/groupMessagePayload"},
      {"gmd",
       "{\"notificationDestination\":\"http://127.0.0.1:9/n\","
       "\"messageDeliveryStartTime\":\"tomorrow\"}",
       "/messageDeliveryStartTime"},
      {"gmd",
       "{\"notificationDestination\":\"http://127.0.0.1:9/n\","
       "\"scefMessageDeliveryPort\":4000}",
       "/scefMessageDeliveryPort"},
      {"gmd", "{\"notificationDestination\":\"http://127.0.0.1:9/n\",\"externalGroupId\":\"x\"}",
       "/externalGroupId"},
      {"gmd", "{\"notificationDestination\":\"not a url\"}", "/notificationDestination"},
      /* 12 bytes > --max-datagram 8 */
      {"gmd",
       "{\"notificationDestination\":\"http://127.0.0.1:9/n\",\"groupMessagePayload\":"
       "\"aGVsbG8gd29ybGQh\"}",
       "/groupMessagePayload"},
  };
  const char *extra[] = {"--max-datagram", "8", NULL};
  mockp mp;
  char tmgi[32], self[512], url[1024];
  resp r;
  (void)state;
  mock_start(&mp, extra);
  create_tmgi(&mp, "as1", "{}", tmgi, sizeof tmgi, self, sizeof self);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (strcmp(cases[i].what, "tmgi") == 0)
      url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
    else
      snprintf(url, sizeof url, "%s/delivery-via-mbms", self);
    http(&r, "POST", url, "application/json", cases[i].body, NULL);
    assert_problem(&r, 400, cases[i].param);
    resp_free(&r);
  }
  /* PUT is checked like POST; PATCH too, and the required destination cannot be removed. */
  assert_int_equal(http(&r, "PUT", self, "application/json", "{\"externalGroupId\":\"bad\"}", NULL),
                   400);
  assert_problem(&r, 400, "/externalGroupId");
  resp_free(&r);
  {
    char gself[512];
    cJSON *g = create_gmd(&mp, tmgi,
                          "{\"notificationDestination\":\"http://127.0.0.1:9/n\","
                          "\"messageDeliveryStartTime\":\"2099-01-01T00:00:00Z\","
                          "\"groupMessagePayload\":\"aGk=\"}");
    snprintf(gself, sizeof gself, "%s", jstr(g, "self"));
    cJSON_Delete(g);
    http(&r, "PUT", gself, "application/json", "{\"groupMessagePayload\":\"aGk=\"}", NULL);
    assert_problem(&r, 400, "/notificationDestination");
    resp_free(&r);
    http(&r, "PATCH", gself, "application/merge-patch+json", "{\"notificationDestination\":null}",
         NULL);
    assert_problem(&r, 400, "/notificationDestination");
    resp_free(&r);
    http(&r, "PATCH", gself, "application/merge-patch+json",
         "{\"scefMessageDeliveryIPv4\":\"1.2.3.4\"}", NULL);
    assert_problem(&r, 400, "/scefMessageDeliveryIPv4");
    resp_free(&r);
    http(&r, "PATCH", gself, "application/merge-patch+json", "{oops", NULL);
    assert_problem(&r, 400, NULL);
    resp_free(&r);
  }
  /* Unknown members are ignored. */
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  assert_int_equal(http(&r, "POST", url, "application/json", "{\"vendorExt\":{\"a\":1}}", NULL),
                   201);
  resp_free(&r);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
}

/* 401, 403, 404, 405, 411, 413, 415, with their headers. */
static void test_http_statuses(void **state) {
  const char *extra[] = {"--token", "s3cret",     "--scs-as-id", "as1", "--scs-as-id",
                         "as2",     "--max-body", "1000",        NULL};
  const char *auth[] = {"Authorization: Bearer s3cret", NULL};
  const char *wrong[] = {"Authorization: Bearer nope", NULL};
  const char *chunked[] = {"Authorization: Bearer s3cret", "Transfer-Encoding: chunked", NULL};
  const char *expect[] = {"Authorization: Bearer s3cret", "Expect: 100-continue", NULL};
  mockp mp;
  char url[512], v[256], tmgi[32], self[512];
  char big[1100];
  resp r;
  (void)state;
  mock_start(&mp, extra);
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");

  /* 401 without and with a wrong token; then the right one passes. */
  http(&r, "GET", url, NULL, NULL, NULL);
  assert_problem(&r, 401, NULL);
  assert_non_null(header(&r, "WWW-Authenticate", v, sizeof v));
  assert_true(strncmp(v, "Bearer", 6) == 0);
  resp_free(&r);
  http(&r, "GET", url, NULL, NULL, wrong);
  assert_problem(&r, 401, NULL);
  assert_non_null(header(&r, "WWW-Authenticate", v, sizeof v));
  assert_non_null(strstr(v, "invalid_token"));
  resp_free(&r);
  assert_int_equal(http(&r, "GET", url, NULL, NULL, auth), 200);
  resp_free(&r);

  /* 403: an scsAsId not allowed, and a TMGI of another scsAsId. */
  url_of(&mp, url, sizeof url, "/as3/tmgi-allocation");
  http(&r, "GET", url, NULL, NULL, auth);
  assert_problem(&r, 403, NULL);
  resp_free(&r);
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  if (http(&r, "POST", url, "application/json", "{}", auth) != 201) fail_msg("POST %ld", r.status);
  snprintf(self, sizeof self, "%s", jstr(r.json, "self"));
  snprintf(tmgi, sizeof tmgi, "%s", strrchr(self, '/') + 1);
  resp_free(&r);
  url_of(&mp, url, sizeof url, "/as2/tmgi-allocation/%s", tmgi);
  http(&r, "GET", url, NULL, NULL, auth);
  assert_problem(&r, 403, NULL);
  resp_free(&r);

  /* 404: unknown paths, a trailing slash, unknown TMGI and transaction. */
  {
    /* Paths without the TMGI, then suffixes after an existing TMGI. */
    const char *paths[] = {"/as1", "/as1/tmgi", "/as1/tmgi-allocation/",
                           "/as1/tmgi-allocation/0a0b0c00101", "//tmgi-allocation"};
    const char *after[] = {"/delivery-via-mbms/nope", "/delivery-via-mbms/", "/other", "/"};
    for (int i = 0; i < 9; i++) {
      if (i < 5)
        url_of(&mp, url, sizeof url, "%s", paths[i]);
      else
        url_of(&mp, url, sizeof url, "/as1/tmgi-allocation/%s%s", tmgi, after[i - 5]);
      http(&r, "GET", url, NULL, NULL, auth);
      if (r.status != 404) fail_msg("%s: %ld", url, r.status);
      resp_free(&r);
    }
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/3gpp-group-message-delivery-mb2/v2/as1/"
             "tmgi-allocation",
             mp.port);
    assert_int_equal(http(&r, "GET", url, NULL, NULL, auth), 404);
    resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", mp.port);
    assert_int_equal(http(&r, "GET", url, NULL, NULL, auth), 404);
    resp_free(&r);
  }

  /* 405 with Allow. */
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  http(&r, "DELETE", url, NULL, NULL, auth);
  assert_problem(&r, 405, NULL);
  assert_non_null(header(&r, "Allow", v, sizeof v));
  assert_string_equal(v, "GET, POST");
  resp_free(&r);
  http(&r, "POST", self, "application/json", "{}", auth);
  assert_problem(&r, 405, NULL);
  assert_non_null(header(&r, "Allow", v, sizeof v));
  assert_string_equal(v, "GET, PUT, PATCH, DELETE");
  resp_free(&r);

  /* 411: a chunked body has no Content-Length. */
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  http(&r, "POST", url, "application/json", "{}", chunked);
  assert_problem(&r, 411, NULL);
  resp_free(&r);

  /* 413: larger than --max-body, with and without Expect: 100-continue. */
  memset(big, ' ', sizeof big - 1);
  big[0] = '{';
  big[sizeof big - 2] = '}';
  big[sizeof big - 1] = '\0';
  http(&r, "POST", url, "application/json", big, auth);
  assert_problem(&r, 413, NULL);
  resp_free(&r);
  http(&r, "POST", url, "application/json", big, expect);
  assert_problem(&r, 413, NULL);
  resp_free(&r);
  big[999] = '}';
  big[1000] = '\0'; /* exactly --max-body: accepted */
  assert_int_equal(http(&r, "POST", url, "application/json", big, auth), 201);
  resp_free(&r);

  /* 415: POST/PUT need application/json, PATCH application/merge-patch+json; parameters ok. */
  http(&r, "POST", url, "text/plain", "{}", auth);
  assert_problem(&r, 415, NULL);
  resp_free(&r);
  http(&r, "POST", url, NULL, "{}", auth); /* curl's default form type */
  assert_problem(&r, 415, NULL);
  resp_free(&r);
  http(&r, "PATCH", self, "application/json", "{}", auth);
  assert_problem(&r, 415, NULL);
  resp_free(&r);
  http(&r, "PUT", self, "application/merge-patch+json", "{}", auth);
  assert_problem(&r, 415, NULL);
  resp_free(&r);
  assert_int_equal(http(&r, "POST", url, "application/json; charset=utf-8", "{}", auth), 201);
  resp_free(&r);
  assert_int_equal(
      http(&r, "PATCH", self, "Application/Merge-Patch+JSON; charset=utf-8", "{}", auth), 200);
  resp_free(&r);

  assert_int_equal(mock_stop(&mp), 0);
  assert_true(log_count(&mp, "http", "\"status\":401") >= 2);
  assert_true(log_count(&mp, "http", "\"status\":415") >= 4);
  mock_cleanup(&mp);
}

/* --fail-first answers the first N requests with --fail-status and Retry-After; --fail-rate 1
 * answers all. */
static void test_fault_injection(void **state) {
  const char *e429[] = {"--fail-first", "2", "--fail-status", "429", "--retry-after", "7", NULL};
  const char *e503[] = {"--fail-first", "1", NULL};
  const char *erate[] = {"--fail-rate", "1", NULL};
  mockp mp;
  char url[512], v[64];
  resp r;
  (void)state;

  mock_start(&mp, e429);
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  for (int i = 0; i < 2; i++) {
    http(&r, i ? "POST" : "GET", url, i ? "application/json" : NULL, i ? "{}" : NULL, NULL);
    assert_problem(&r, 429, NULL);
    assert_non_null(header(&r, "Retry-After", v, sizeof v));
    assert_string_equal(v, "7");
    resp_free(&r);
  }
  assert_int_equal(http(&r, "GET", url, NULL, NULL, NULL), 200);
  resp_free(&r);
  assert_int_equal(log_count(&mp, "fault", "\"status\":429"), 2);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);

  mock_start(&mp, e503);
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  http(&r, "GET", url, NULL, NULL, NULL);
  assert_problem(&r, 503, NULL);
  assert_non_null(header(&r, "Retry-After", v, sizeof v));
  assert_string_equal(v, "1");
  resp_free(&r);
  assert_int_equal(http(&r, "GET", url, NULL, NULL, NULL), 200);
  resp_free(&r);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);

  mock_start(&mp, erate);
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  for (int i = 0; i < 3; i++) {
    http(&r, "GET", url, NULL, NULL, NULL);
    assert_problem(&r, 503, NULL);
    resp_free(&r);
  }
  assert_int_equal(log_count(&mp, "fault", BASE_PATH "/as1/tmgi-allocation"), 3);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
}

/* With --tmgi-lifetime 1 the TMGI is gone after 2 s; its unplayed deliveries fail (notification
 * with deliveryTriggerStatus false) and its MB2-U port closes. */
static void test_tmgi_expiry(void **state) {
  const char *extra[] = {"--tmgi-lifetime", "1", NULL};
  mockp mp;
  sink s;
  char tmgi[32], self[512], body[512], gself[512], url[512];
  resp r;
  cJSON *g;
  (void)state;
  sink_start(&s);
  mock_start(&mp, extra);
  create_tmgi(&mp, "as1", "{}", tmgi, sizeof tmgi, self, sizeof self);
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"messageDeliveryStartTime\":"
           "\"2099-01-01T00:00:00Z\",\"groupMessagePayload\":\"aGk=\"}",
           s.url);
  g = create_gmd(&mp, tmgi, body);
  snprintf(gself, sizeof gself, "%s", jstr(g, "self"));
  cJSON_Delete(g);
  assert_int_equal(http(&r, "GET", self, NULL, NULL, NULL), 200);
  resp_free(&r);

  sleep_ms(2200);
  http(&r, "GET", self, NULL, NULL, NULL);
  assert_problem(&r, 404, NULL);
  resp_free(&r);
  snprintf(url, sizeof url, "%s", gself);
  http(&r, "GET", url, NULL, NULL, NULL);
  assert_problem(&r, 404, NULL);
  resp_free(&r);
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  assert_int_equal(http(&r, "GET", url, NULL, NULL, NULL), 200);
  assert_string_equal(r.body, "[]");
  resp_free(&r);

  assert_int_equal(sink_wait(&s, 1, 3000), 1);
  assert_delivery_note(&s, 0, gself, false);
  assert_int_equal(log_count(&mp, "tmgi_expired", tmgi), 1);
  assert_int_equal(log_wait(&mp, "notify", "\"delivered\":false", 1, 2000), 1);
  assert_int_equal(log_count(&mp, "bearer_send", NULL), 0);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
  sink_stop(&s);
}

/* A delivery with a payload: TestNotification first, then ONE datagram on the bearer
 * (byte-identical), then GMDByMb2Notification true; all logged. */
static void test_delivery_payload(void **state) {
  mockp mp;
  sink s;
  char tmgi[32], self[512], body[1024], gself[512], group[32], buf[2048];
  /* "hello\0world\xff" with a NUL and a high byte, in base64 */
  static const unsigned char payload[] = {'h', 'e', 'l', 'l', 'o', 0,
                                          'w', 'o', 'r', 'l', 'd', 0xff};
  int fd;
  ssize_t n;
  cJSON *g, *o;
  resp r;
  (void)state;
  sink_start(&s);
  mock_start(&mp, NULL);
  create_tmgi(&mp, "as1", "{\"externalGroupId\":\"g@x\"}", tmgi, sizeof tmgi, self, sizeof self);
  fd = bearer_join(tmgi, mp.bearer_port);
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"requestTestNotification\":true,"
           "\"groupMessagePayload\":\"aGVsbG8Ad29ybGT/\"}",
           s.url);
  g = create_gmd(&mp, tmgi, body);
  snprintf(gself, sizeof gself, "%s", jstr(g, "self"));
  assert_true(strncmp(gself, self, strlen(self)) == 0);
  assert_non_null(strstr(gself, "/delivery-via-mbms/"));
  assert_string_equal(jstr(g, "groupMessagePayload"), "aGVsbG8Ad29ybGT/");
  assert_null(cJSON_GetObjectItemCaseSensitive(g, "scefMessageDeliveryPort"));
  cJSON_Delete(g);

  n = recv_within(fd, buf, sizeof buf, 3000);
  assert_int_equal(n, (ssize_t)sizeof payload);
  assert_memory_equal(buf, payload, sizeof payload);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 300), -1); /* exactly one datagram */

  assert_int_equal(sink_wait(&s, 2, 3000), 2);
  o = sink_note(&s, 0);
  assert_string_equal(jstr(o, "subscription"), gself);
  cJSON_Delete(o);
  assert_delivery_note(&s, 1, gself, true);

  /* The representation is served back; a GET of the list has it. */
  assert_int_equal(http(&r, "GET", gself, NULL, NULL, NULL), 200);
  assert_string_equal(jstr(r.json, "self"), gself);
  assert_string_equal(jstr(r.json, "notificationDestination"), s.url);
  resp_free(&r);
  snprintf(body, sizeof body, "%s/delivery-via-mbms", self);
  assert_int_equal(http(&r, "GET", body, NULL, NULL, NULL), 200);
  assert_int_equal(cJSON_GetArraySize(r.json), 1);
  resp_free(&r);

  tmgi_group(tmgi, group, sizeof group);
  o = log_find(&mp, "bearer_send", gself);
  assert_non_null(o);
  assert_string_equal(jstr(o, "tmgi"), tmgi);
  assert_string_equal(jstr(o, "group"), group);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "port")->valueint, mp.bearer_port);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "bytes")->valueint, (int)sizeof payload);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "dropped")));
  cJSON_Delete(o);
  assert_int_equal(log_wait(&mp, "notify", "\"kind\":\"test\"", 1, 2000), 1);
  assert_int_equal(log_wait(&mp, "notify", "\"kind\":\"delivery\"", 1, 2000), 1);
  o = log_find(&mp, "notify", "\"kind\":\"delivery\"");
  assert_non_null(o);
  assert_string_equal(jstr(o, "url"), s.url);
  assert_string_equal(jstr(o, "transaction"), gself);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "delivered")));
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "status")->valueint, 204);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "lost")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "error")));
  cJSON_Delete(o);

  /* DELETE: 204, then 404. */
  assert_int_equal(http(&r, "DELETE", gself, NULL, NULL, NULL), 204);
  resp_free(&r);
  http(&r, "GET", gself, NULL, NULL, NULL);
  assert_problem(&r, 404, NULL);
  resp_free(&r);
  close(fd);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
  sink_stop(&s);
}

/* Nothing reaches notificationDestination before the creating 201 is sent: with --latency-ms
 * the datagram goes at once, the notification only after the answer. */
static void test_notification_after_201(void **state) {
  const char *extra[] = {"--latency-ms", "400", NULL};
  mockp mp;
  sink s;
  char tmgi[32], self[512], body[512], buf[64];
  int fd;
  int64_t t0, t1, at;
  cJSON *g;
  (void)state;
  sink_start(&s);
  mock_start(&mp, extra);
  create_tmgi(&mp, "as1", "{}", tmgi, sizeof tmgi, self, sizeof self);
  fd = bearer_join(tmgi, mp.bearer_port);
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"groupMessagePayload\":\"aGk=\"}", s.url);
  t0 = mono_ms();
  g = create_gmd(&mp, tmgi, body);
  t1 = mono_ms();
  cJSON_Delete(g);
  assert_true(t1 - t0 >= 390); /* ms clocks truncate: allow for rounding */
  assert_int_equal(recv_within(fd, buf, sizeof buf, 3000), 2);
  assert_int_equal(sink_wait(&s, 1, 3000), 1);
  pthread_mutex_lock(&s.mu);
  at = s.notes[0].at_ms;
  pthread_mutex_unlock(&s.mu);
  /* The client had its whole answer (t1) before the notification arrived, give or take the
   * scheduling of two threads. */
  assert_true(at >= t0 + 390);
  assert_true(at + 20 >= t1);
  close(fd);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
  sink_stop(&s);
}

/* A delivery without payload opens an MB2-U port: datagrams sent there come out unchanged on the
 * bearer; the notification comes once; DELETE closes the port. */
static void test_user_plane(void **state) {
  mockp mp;
  sink s;
  char tmgi[32], self[512], body[512], gself[512], buf[2048], big[1500];
  int fd, port;
  cJSON *g, *o;
  resp r;
  (void)state;
  sink_start(&s);
  mock_start(&mp, NULL);
  create_tmgi(&mp, "as1", "{}", tmgi, sizeof tmgi, self, sizeof self);
  fd = bearer_join(tmgi, mp.bearer_port);
  snprintf(body, sizeof body, "{\"notificationDestination\":\"%s\"}", s.url);
  g = create_gmd(&mp, tmgi, body);
  snprintf(gself, sizeof gself, "%s", jstr(g, "self"));
  assert_string_equal(jstr(g, "scefMessageDeliveryIPv4"), "127.0.0.1");
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(g, "scefMessageDeliveryPort")));
  port = cJSON_GetObjectItemCaseSensitive(g, "scefMessageDeliveryPort")->valueint;
  assert_true(port > 0 && port < 65536);
  cJSON_Delete(g);
  o = log_find(&mp, "user_plane_open", gself);
  assert_non_null(o);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "port")->valueint, port);
  assert_string_equal(jstr(o, "addr"), "127.0.0.1");
  cJSON_Delete(o);

  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)(i * 7 + 3);
  send_udp("127.0.0.1", port, big, sizeof big);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 3000), (ssize_t)sizeof big);
  assert_memory_equal(buf, big, sizeof big);
  send_udp("127.0.0.1", port, "second", 6);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 3000), 6);
  assert_memory_equal(buf, "second", 6);

  assert_int_equal(sink_wait(&s, 1, 3000), 1);
  assert_delivery_note(&s, 0, gself, true);
  sleep_ms(300);
  assert_int_equal(sink_count(&s), 1); /* once, not per datagram */
  assert_int_equal(log_count(&mp, "user_plane_rx", gself), 2);
  assert_int_equal(log_count(&mp, "bearer_send", gself), 2);

  assert_int_equal(http(&r, "DELETE", gself, NULL, NULL, NULL), 204);
  resp_free(&r);
  assert_int_equal(log_wait(&mp, "user_plane_close", gself, 1, 2000), 1);
  sleep_ms(100);
  send_udp("127.0.0.1", port, "late", 4);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 500), -1);
  close(fd);
  assert_int_equal(mock_stop(&mp), 0);
  assert_int_equal(log_count(&mp, "user_plane_rx", gself), 2);
  mock_cleanup(&mp);
  sink_stop(&s);
}

/* A start time in the future holds the play; PATCH reschedules an unplayed delivery; PUT with a
 * new payload after the play plays again. */
static void test_delivery_schedule(void **state) {
  mockp mp;
  sink s;
  char tmgi[32], self[512], body[512], gself[512], when[32], buf[64];
  int fd;
  int64_t t0;
  cJSON *g;
  resp r;
  (void)state;
  sink_start(&s);
  mock_start(&mp, NULL);
  create_tmgi(&mp, "as1", "{}", tmgi, sizeof tmgi, self, sizeof self);
  fd = bearer_join(tmgi, mp.bearer_port);

  /* Start in 2-3 s: nothing before, the datagram after. */
  rfc3339(time(NULL) + 3, when, sizeof when); /* whole seconds: at least 2 s ahead */
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"messageDeliveryStartTime\":\"%s\","
           "\"groupMessagePayload\":\"b25l\"}",
           s.url, when);
  t0 = mono_ms();
  g = create_gmd(&mp, tmgi, body);
  cJSON_Delete(g);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 800), -1);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 4000), 3);
  assert_memory_equal(buf, "one", 3);
  assert_true(mono_ms() - t0 >= 900);

  /* Far in the future, then PATCHed to start now (null removes the start time). */
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"messageDeliveryStartTime\":"
           "\"2099-01-01T00:00:00Z\",\"groupMessagePayload\":\"dHdv\"}",
           s.url);
  g = create_gmd(&mp, tmgi, body);
  snprintf(gself, sizeof gself, "%s", jstr(g, "self"));
  cJSON_Delete(g);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 500), -1);
  assert_int_equal(http(&r, "PATCH", gself, "application/merge-patch+json",
                        "{\"messageDeliveryStartTime\":null,\"groupMessagePayload\":\"dGhyZWU=\"}",
                        NULL),
                   200);
  assert_null(cJSON_GetObjectItemCaseSensitive(r.json, "messageDeliveryStartTime"));
  assert_string_equal(jstr(r.json, "groupMessagePayload"), "dGhyZWU=");
  resp_free(&r);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 3000), 5);
  assert_memory_equal(buf, "three", 5);

  /* Played: the same payload again does not replay; a new one does. */
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"groupMessagePayload\":\"dGhyZWU=\"}", s.url);
  assert_int_equal(http(&r, "PUT", gself, "application/json", body, NULL), 200);
  resp_free(&r);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 500), -1);
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"groupMessagePayload\":\"Zm91cg==\"}", s.url);
  assert_int_equal(http(&r, "PUT", gself, "application/json", body, NULL), 200);
  assert_string_equal(jstr(r.json, "self"), gself);
  resp_free(&r);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 3000), 4);
  assert_memory_equal(buf, "four", 4);

  /* Three plays, three true notifications. */
  assert_int_equal(sink_wait(&s, 3, 3000), 3);
  assert_int_equal(log_wait(&mp, "notify", "\"delivered\":true", 3, 2000), 3);
  assert_int_equal(log_count(&mp, "delivery_updated", gself), 3);
  close(fd);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
  sink_stop(&s);
}

/* --loss 1 drops every datagram (logged dropped:true) but the delivery still reports true;
 * --notify-loss 1 sends no notification (logged lost:true). */
static void test_loss(void **state) {
  const char *extra[] = {"--loss", "1", "--notify-loss", "1", NULL};
  mockp mp;
  sink s;
  char tmgi[32], self[512], body[512], buf[64];
  int fd;
  cJSON *g, *o;
  (void)state;
  sink_start(&s);
  mock_start(&mp, extra);
  create_tmgi(&mp, "as1", "{}", tmgi, sizeof tmgi, self, sizeof self);
  fd = bearer_join(tmgi, mp.bearer_port);
  snprintf(body, sizeof body,
           "{\"notificationDestination\":\"%s\",\"groupMessagePayload\":\"aGk=\"}", s.url);
  g = create_gmd(&mp, tmgi, body);
  cJSON_Delete(g);
  assert_int_equal(recv_within(fd, buf, sizeof buf, 700), -1);
  assert_int_equal(log_wait(&mp, "notify", NULL, 1, 3000), 1);
  o = log_find(&mp, "bearer_send", NULL);
  assert_non_null(o);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "dropped")));
  cJSON_Delete(o);
  o = log_find(&mp, "notify", NULL);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "lost")));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "delivered")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "status")));
  cJSON_Delete(o);
  sleep_ms(200);
  assert_int_equal(sink_count(&s), 0);
  close(fd);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
  sink_stop(&s);
}

/* --api-root with a path prefixes self links and the served paths; --mcc/--mnc shape TMGIs;
 * --token-file is read at each request. */
static void test_api_root_plmn_token_file(void **state) {
  mockp mp;
  char root[128], url[512], tokfile[160], loc[512];
  const char *auth1[] = {"Authorization: Bearer first", NULL};
  const char *auth2[] = {"Authorization: bearer second", NULL};
  const char *extra[12];
  FILE *f;
  resp r;
  (void)state;
  snprintf(tokfile, sizeof tokfile, "/tmp/t8mock-token-%d", (int)getpid());
  f = fopen(tokfile, "w");
  assert_non_null(f);
  fputs("first\n", f);
  fclose(f);
  snprintf(root, sizeof root, "https://scef.example:8443/pfx/");
  extra[0] = "--api-root";
  extra[1] = root;
  extra[2] = "--mcc";
  extra[3] = "262";
  extra[4] = "--mnc";
  extra[5] = "011";
  extra[6] = "--token-file";
  extra[7] = tokfile;
  extra[8] = NULL;
  mock_start(&mp, extra);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/pfx" BASE_PATH "/as1/tmgi-allocation", mp.port);
  assert_int_equal(http(&r, "POST", url, "application/json", "{}", auth1), 201);
  assert_non_null(header(&r, "Location", loc, sizeof loc));
  assert_true(strncmp(loc, "https://scef.example:8443/pfx" BASE_PATH "/as1/tmgi-allocation/",
                      strlen("https://scef.example:8443/pfx" BASE_PATH "/as1/tmgi-allocation/")) ==
              0);
  assert_int_equal(strlen(strrchr(loc, '/') + 1), 12);
  assert_string_equal(strrchr(loc, '/') + 1 + 6, "262011");
  resp_free(&r);
  /* Without the prefix the path is unknown. */
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  assert_int_equal(http(&r, "GET", url, NULL, NULL, auth1), 404);
  resp_free(&r);
  /* Rotate the token: the new one works, the old one no longer does. */
  f = fopen(tokfile, "w");
  assert_non_null(f);
  fputs("second", f);
  fclose(f);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/pfx" BASE_PATH "/as1/tmgi-allocation", mp.port);
  assert_int_equal(http(&r, "GET", url, NULL, NULL, auth2), 200);
  resp_free(&r);
  assert_int_equal(http(&r, "GET", url, NULL, NULL, auth1), 401);
  resp_free(&r);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
  unlink(tokfile);
}

/* Garbage on the wire never takes it down. */
static void test_garbage(void **state) {
  static const char *const raw[] = {
      "GARBAGE\r\n\r\n",
      "GET /"
      "\x01\x02\xff"
      " HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST " BASE_PATH "/as1/tmgi-allocation HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: 4\r\n\r\n\x00\xff\x01{",
      "POST " BASE_PATH "/as1/tmgi-allocation HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
      "PATCH " BASE_PATH "/as1/tmgi-allocation/zzz HTTP/1.1\r\nHost: x\r\nContent-Length: "
      "-5\r\n\r\n",
      NULL};
  mockp mp;
  char url[512], buf[4096];
  resp r;
  (void)state;
  mock_start(&mp, NULL);
  for (int i = 0; raw[i]; i++) {
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t len = strlen(raw[i]);
    if (i == 2) len = strlen(raw[i]) + 4; /* the body holds a NUL */
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)mp.port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    (void)!write(fd, raw[i], len);
    shutdown(fd, SHUT_WR); /* the truncated body ends here */
    recv_within(fd, buf, sizeof buf, 2000);
    close(fd);
  }
  /* A long JSON nesting, and a huge header. */
  {
    char *deep = malloc(200002);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
    http(&r, "POST", url, "application/json", deep, NULL);
    assert_true(r.status == 400);
    resp_free(&r);
    free(deep);
  }
  url_of(&mp, url, sizeof url, "/as1/tmgi-allocation");
  assert_int_equal(http(&r, "GET", url, NULL, NULL, NULL), 200);
  resp_free(&r);
  assert_int_equal(mock_stop(&mp), 0);
  mock_cleanup(&mp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_command_line, reap_mocks),
      cmocka_unit_test_teardown(test_tmgi_lifecycle, reap_mocks),
      cmocka_unit_test_teardown(test_bad_requests, reap_mocks),
      cmocka_unit_test_teardown(test_http_statuses, reap_mocks),
      cmocka_unit_test_teardown(test_fault_injection, reap_mocks),
      cmocka_unit_test_teardown(test_tmgi_expiry, reap_mocks),
      cmocka_unit_test_teardown(test_delivery_payload, reap_mocks),
      cmocka_unit_test_teardown(test_notification_after_201, reap_mocks),
      cmocka_unit_test_teardown(test_user_plane, reap_mocks),
      cmocka_unit_test_teardown(test_delivery_schedule, reap_mocks),
      cmocka_unit_test_teardown(test_loss, reap_mocks),
      cmocka_unit_test_teardown(test_api_root_plmn_token_file, reap_mocks),
      cmocka_unit_test_teardown(test_garbage, reap_mocks),
  };
  int rc;
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
