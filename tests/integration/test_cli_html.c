/* test_cli_html.c - report --html as a person sees it: the page rendered by headless Chromium
 * (Debian's chromium), after its script ran. The chart's bars against the report's own JSON,
 * one table row per member, sorting, no script errors, nothing fetched, and device texts that
 * try to be markup staying text. Chromium is required: without it the test fails. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

/* A value that would be an element, an event handler and the end of a script if it were
 * ever written unescaped. */
#define EVIL "<img src=x onerror=alert(1)></script><!--"

typedef struct fixture {
  char dir[64], db[96];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || lmmt_scratch_dir(f->dir, "html") != 0) return -1;
  snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = lmmt_scratch_remove(f->dir);
  free(f);
  return rc;
}

static lmmt_run cli(const fixture *f, const char *const *args) {
  return lmmt_cli_run(f->db, NULL, args);
}

#define CLI_OK(f, ...)                                                                             \
  assert_true(lmmt_cli_check((f)->db, NULL, 0, NULL, NULL, (const char *[]){__VA_ARGS__, NULL}))

/* ------------------------------------------------------------------ Chromium */

static const char *chromium_path(void) {
  const char *p = getenv("LMM_CHROMIUM");
  return p && *p ? p : "/usr/bin/chromium";
}

/* Renders `url` in headless Chromium and returns the DOM after its scripts ran (owned), its
 * stderr (the console) in `*log`. Fails the test when Chromium is missing or hangs. */
static char *render(const fixture *f, const char *url, char **log) {
  const char *chr = chromium_path();
  if (access(chr, X_OK) != 0)
    fail_msg("%s not found: report --html is checked in Chromium; install Debian's chromium "
             "(scripts/install-deps) or set LMM_CHROMIUM",
             chr);
  char home[128], out[128], err[128];
  snprintf(home, sizeof home, "%s/chromium", f->dir);
  snprintf(out, sizeof out, "%s/dom.html", f->dir);
  snprintf(err, sizeof err, "%s/chromium.log", f->dir);
  mkdir(home, 0700);
  char udd[160];
  snprintf(udd, sizeof udd, "--user-data-dir=%s/profile", home);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1), dup2(fe, 2);
    setenv("HOME", home, 1); /* its profile and caches: in the scratch directory */
    setpgid(0, 0);           /* its helper processes go with it if it must be killed */
    /* --no-sandbox: the tests run as root here, and Chromium's sandbox refuses root. The page
     * is our own file and the resolver maps every name to nothing, so the sandbox guards
     * nothing in this run. */
    execl(chr, chr, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
          "--disable-extensions", "--disable-background-networking", "--enable-logging=stderr",
          "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND", udd, "--dump-dom", url, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (waitpid(pid, &st, WNOHANG) == pid) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec > 90) {
      kill(-pid, SIGKILL);
      waitpid(pid, &st, 0);
      fail_msg("chromium did not finish rendering %s within 90 s", url);
    }
    usleep(20 * 1000);
  }
  *log = lmmt_read_file(err, NULL);
  char *dom = lmmt_read_file(out, NULL);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !dom || !strstr(dom, "</html>"))
    fail_msg("chromium failed on %s (status %d):\n%s", url, st, *log ? *log : "");
  return dom;
}

/* What every rendered page must show: its script ran to the end, with no error, in the DOM
 * and in the console; only our two script elements; no element from a value. */
static void page_sane(const char *dom, const char *log) {
  const char *body = strstr(dom, "<body");
  assert_non_null(body);
  const char *end = strchr(body, '>');
  char tag[256];
  snprintf(tag, sizeof tag, "%.*s", (int)(end - body), body);
  if (strstr(tag, "data-errors")) fail_msg("script errors: %s", tag);
  assert_non_null(strstr(tag, "data-ready=\"1\""));
  if (log && strstr(log, "Uncaught")) fail_msg("console:\n%s", log);
  assert_int_equal(lmmt_count_of(dom, "<script"), 2);
  assert_int_equal(lmmt_count_of(dom, "<img"), 0);
  assert_int_equal(lmmt_count_of(dom, "onerror=alert(1)>"), 0); /* never as markup */
}

/* The page's own text: nothing that would fetch. */
static void self_contained(const char *html) {
  static const char *const bad[] = {"http://", "https://", "src=\"//", "href=\"//",
                                    "@import", "url(",     "<link",    "<iframe"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (strstr(html, bad[i])) fail_msg("the page holds '%s'", bad[i]);
  /* The only src or href attributes would be ours: there are none. */
  assert_null(strstr(html, " src=\""));
  assert_null(strstr(html, " href=\""));
}

/* The integer after `key` in `s` (e.g. "data-bucket-ms=\""), or -1. */
static long long num_after(const char *s, const char *key) {
  const char *p = s ? strstr(s, key) : NULL;
  return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* ------------------------------------------------------------------ the report's JSON */

typedef struct member {
  char path[16];
  bool repaired, done;
  long long latency;
} member;

/* The members of `report --json`, in order (at most cap). */
static size_t members_of(const char *json, member *m, size_t cap) {
  size_t n = 0;
  for (const char *p = strstr(json, "{\"member\":"); p && n < cap;
       p = strstr(p + 1, "{\"member\":")) {
    const char *q = strstr(p, "\"path\":\"");
    assert_non_null(q);
    snprintf(m[n].path, sizeof m[n].path, "%.*s", (int)strcspn(q + 8, "\""), q + 8);
    m[n].repaired = !strncmp(strstr(p, "\"repaired\":") + 11, "true", 4);
    m[n].done = !strncmp(strstr(p, "\"done\":") + 7, "true", 4);
    const char *l = strstr(p, "\"latencyMs\":") + 12;
    m[n].latency = strncmp(l, "null", 4) ? strtoll(l, NULL, 10) : -1;
    n++;
  }
  return n;
}

/* ------------------------------------------------------------------ tests */

/* A multicast group Read of 40 simulated devices, a third of which miss the group request and
 * are repaired by unicast, of a string every device was written before: the markup-like
 * value. */
static void test_page_in_chromium(void **state) {
  fixture *f = *state;
  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "40", "--object", "3", "--group-loss", "0.3",
                                            "--seed", "7", NULL}),
      0);
  char port[16], addr[32];
  int p = lmmt_random_port();
  snprintf(port, sizeof port, "%d", p);
  snprintf(addr, sizeof addr, "239.71.%d.%d", (p >> 8) & 255, p & 255);
  CLI_OK(f, "group", "create", "mc", "--type", "multicast", "--multicast-address", addr,
         "--multicast-port", port, "--window", "2", "--members", sim.members_path);
  CLI_OK(f, "deliver", "mc", "--write", "/3/0/15=" EVIL, "--grace-ms", "300");
  CLI_OK(f, "deliver", "mc", "--read", "/3/0/15", "--grace-ms", "300");
  assert_int_equal(lmmt_sim_stop(&sim), 0);

  lmmt_run r = cli(f, (const char *[]){"report", "2", "--json", NULL});
  assert_int_equal(r.status, 0);
  member m[64];
  size_t n = members_of(r.out, m, 64);
  assert_int_equal(n, 40);
  long long by_group = num_after(r.out, "\"byPath\":{\"mbms\":") +
                       num_after(strstr(r.out, "\"byPath\":"), "\"multicast\":");
  assert_true(by_group > 0 && by_group < 40); /* some by the group, some repaired */
  lmmt_run_free(&r);

  char html[128], url[192];
  snprintf(html, sizeof html, "%s/report.html", f->dir);
  CLI_OK(f, "report", "2", "--html", html);
  char *page = lmmt_read_file(html, NULL);
  assert_non_null(page);
  self_contained(page);
  assert_non_null(strstr(page, "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;!--"));
  free(page);

  /* Sorted by latency, slowest first, by the address as a person would link it. */
  snprintf(url, sizeof url, "file://%s#sort=-latency", html);
  char *log = NULL, *dom = render(f, url, &log);
  page_sane(dom, log);

  /* The bars: one per non-empty bucket of the page's width, each with the count the report's
   * own latencies give; together the members answered by the group. */
  const char *svg = strstr(dom, "<svg id=\"chart\"");
  assert_non_null(svg);
  long long bucket = num_after(svg, "data-bucket-ms=\""), nb = num_after(svg, "data-buckets=\"");
  assert_true(bucket > 0 && nb > 0 && nb <= 20);
  assert_int_equal(bucket * nb, 2000); /* the window, in 20 buckets */
  size_t want[22] = {0}, nonempty = 0;
  for (size_t i = 0; i < n; i++)
    if (m[i].done && !m[i].repaired && !strcmp(m[i].path, "multicast")) {
      long long b = m[i].latency / bucket;
      want[b < nb ? b : nb]++;
    }
  for (long long b = 0; b <= nb; b++)
    nonempty += want[b] != 0;
  const char *svg_end = strstr(svg, "</svg>");
  int bars = 0;
  long long sum = 0;
  for (const char *b = strstr(svg, "<rect class=\"bar"); b && b < svg_end;
       b = strstr(b + 1, "<rect class=\"bar")) {
    long long cnt = num_after(b, "data-count=\""), from = num_after(b, "data-from-ms=\"");
    assert_true(cnt > 0);
    assert_int_equal(cnt, want[from / bucket < nb ? from / bucket : nb]);
    bars++, sum += cnt;
  }
  assert_int_equal(bars, nonempty);
  assert_int_equal(sum, by_group);
  assert_int_equal(num_after(svg, "data-total=\""), by_group);

  /* The counts say the same, and every member has its row. */
  char want_group[96];
  snprintf(want_group, sizeof want_group, "<td>answered by group</td><td class=\"n\">%lld</td>",
           by_group);
  assert_non_null(strstr(dom, want_group));
  snprintf(want_group, sizeof want_group, "<td>answered by repair</td><td class=\"n\">%lld</td>",
           40 - by_group);
  assert_non_null(strstr(dom, want_group));
  const char *table = strstr(dom, "<table id=\"members\"");
  assert_non_null(table);
  assert_int_equal(lmmt_count_of(table, "<tr class=\"s-"), 40);
  assert_int_equal(lmmt_count_of(table, "&lt;img src=x onerror=alert(1)&gt;"), 40);
  assert_non_null(strstr(table, "data-key=\"latency\" data-type=\"num\" class=\"n\" tabindex=\"0\" "
                                "aria-sort=\"descending\""));
  /* Slowest first: the latencies down the table never rise. */
  long long last = -1;
  int seen = 0;
  for (const char *row = strstr(table, "<tr class=\"s-"); row;
       row = strstr(row + 1, "<tr class=\"s-")) {
    const char *lat = strstr(strstr(row, "data-v=\"") + 1, "data-v=\""); /* after attempts */
    long long v = strtoll(lat + 8, NULL, 10);
    if (seen++) assert_true(v <= last);
    last = v;
  }
  assert_int_equal(seen, 40);
  free(dom), free(log);

  /* The Write's page carries the value in its data block too: escaped, it cannot end the
   * script element, and the page's script still parses the block (data-ready). */
  snprintf(html, sizeof html, "%s/write.html", f->dir);
  CLI_OK(f, "report", "1", "--html", html);
  page = lmmt_read_file(html, NULL);
  assert_non_null(strstr(page, "\"value\":\"\\u003cimg src=x onerror=alert(1)\\u003e"
                               "\\u003c/script\\u003e\\u003c!--\""));
  self_contained(page);
  free(page);
  snprintf(url, sizeof url, "file://%s", html);
  dom = render(f, url, &log);
  page_sane(dom, log);
  assert_non_null(strstr(dom, "value written: <b>&lt;img src=x"));
  free(dom), free(log);
}

/* A firmware campaign as the store keeps it: counts per wave and per Update Result, and a
 * campaign error that tries to end the data block. */
static void test_firmware_page(void **state) {
  fixture *f = *state;
  lmm_ctx *ctx = NULL;
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  assert_int_equal(lmm_ctx_new(&cc, &ctx), LMM_OK);
  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(ctx, f->db, &s), LMM_OK);
  lmm_member mem[6];
  char eps[6][16];
  for (int i = 0; i < 6; i++) {
    snprintf(eps[i], sizeof eps[i], "fw-%d", i);
    mem[i] = (lmm_member){.ep = eps[i], .oid = 5, .uri = "coap://127.0.0.1:5"};
  }
  lmm_campaign_info c = {.group = "lab</script><script>alert(2)</script>",
                         .kind = LMM_CK_FIRMWARE,
                         .state = LMM_CS_DONE,
                         .via = LMM_VIA_UNICAST,
                         .created_ms = 1767225600000,
                         .started_ms = 1767225600100,
                         .finished_ms = 1767225660000,
                         .error = "stopped: </script><!-- wave failed"};
  assert_int_equal(lmm_store_campaign_create(s, &c, mem, 6), LMM_OK);
  lmm_outcome o[6];
  static const int end[6] = {LMM_FWC_UPDATED, LMM_FWC_FAILED, LMM_FWC_UPDATED,
                             LMM_FWC_HELD,    LMM_FWC_HELD,   LMM_FWC_REFUSED};
  static const int res[6] = {1, 5, 1, -1, -1, -1};
  for (int i = 0; i < 6; i++) {
    lmm_outcome_init(&o[i]);
    o[i].ep = eps[i], o[i].oid = 5, o[i].via = LMM_VIA_UNICAST, o[i].fw_end = end[i];
    o[i].fw_result = res[i], o[i].fw_wave = i < 3, o[i].latency_ms = 1000 * (i + 1);
    o[i].done = true;
  }
  o[1].error = "Update Result 5 <b>integrity</b>";
  assert_int_equal(lmm_store_outcomes_put(s, c.id, o, 6), LMM_OK);
  lmm_store_close(s);
  lmm_ctx_free(ctx);

  char html[128], url[192], id[16];
  snprintf(html, sizeof html, "%s/fw.html", f->dir);
  snprintf(id, sizeof id, "%lld", (long long)c.id);
  CLI_OK(f, "report", id, "--html", html);
  char *page = lmmt_read_file(html, NULL);
  self_contained(page);
  assert_null(strstr(page, "</script><!--"));
  assert_null(strstr(page, "<b>integrity"));
  free(page);
  snprintf(url, sizeof url, "file://%s", html);
  char *log = NULL, *dom = render(f, url, &log);
  page_sane(dom, log);
  /* The first wave: 2 updated, 1 failed; the rest: 2 held, 1 refused. */
  assert_non_null(strstr(dom, "<tr><td>first wave</td><td class=\"n\">0</td><td class=\"n\">2"
                              "</td><td class=\"n\">1</td><td class=\"n\">0</td>"));
  assert_non_null(strstr(dom, "<tr><td>the rest</td><td class=\"n\">0</td><td class=\"n\">0"
                              "</td><td class=\"n\">0</td><td class=\"n\">2</td><td "
                              "class=\"n\">0</td><td class=\"n\">1</td></tr>"));
  assert_non_null(strstr(dom, "<td>never read</td><td class=\"n\">3</td>"));
  assert_non_null(strstr(dom, "<td class=\"n\">2</td>")); /* Update Result 1 */
  const char *table = strstr(dom, "<table id=\"members\"");
  assert_int_equal(lmmt_count_of(table, "<tr class=\"s-"), 6);
  assert_non_null(strstr(dom, "&lt;b&gt;integrity&lt;/b&gt;"));
  /* Members that ended: all six on the chart, by their time to the end. */
  const char *svg = strstr(dom, "<svg id=\"chart\"");
  assert_int_equal(num_after(svg, "data-total=\""), 6);
  assert_int_equal(lmmt_count_of(svg, "<rect class=\"bar\""), 6);
  free(dom), free(log);
}

static void test_html_errors(void **state) {
  fixture *f = *state;
  assert_true(lmmt_cli_check(f->db, NULL, 0, "report CAMPAIGN --html FILE", NULL,
                             (const char *[]){"report", "--help", NULL}));
  CLI_OK(f, "group", "create", "u", "--type", "unicast");
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "unknown campaign 9",
                             (const char *[]){"report", "9", "--html", "/tmp/x.html", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "--html: empty file name",
                             (const char *[]){"report", "1", "--html", "", NULL}));
  assert_true(
      lmmt_cli_check(f->db, NULL, 2, NULL, "without --format or --json",
                     (const char *[]){"report", "1", "--html", "x", "--format", "csv", NULL}));
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL, "--html needs a value",
                             (const char *[]){"report", "1", "--html", NULL}));

  /* A stored campaign, and places it cannot be written: refused, naming the file. */
  lmm_ctx *ctx = NULL;
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  assert_int_equal(lmm_ctx_new(&cc, &ctx), LMM_OK);
  lmm_store *s = NULL;
  assert_int_equal(lmm_store_open(ctx, f->db, &s), LMM_OK);
  lmm_member mem = {.ep = "a", .oid = 3, .uri = "coap://127.0.0.1:5"};
  lmm_campaign_info c = {
      .group = "u", .via = LMM_VIA_UNICAST, .op_kind = LMM_OPK_READ, .op_path = "/3/0/0"};
  assert_int_equal(lmm_store_campaign_create(s, &c, &mem, 1), LMM_OK);
  lmm_store_close(s);
  lmm_ctx_free(ctx);
  assert_true(lmmt_cli_check(
      f->db, NULL, 2, NULL, "--html /nonexistent/dir/r.html: cannot write: No such file",
      (const char *[]){"report", "1", "--html", "/nonexistent/dir/r.html", NULL}));
  /* A device is written in place (never renamed over): a full disk fails the write. */
  assert_true(lmmt_cli_check(f->db, NULL, 2, NULL,
                             "--html /dev/full: cannot write: No space left on device",
                             (const char *[]){"report", "1", "--html", "/dev/full", NULL}));
  struct stat sb;
  assert_int_equal(stat("/dev/full", &sb), 0);
  assert_true(S_ISCHR(sb.st_mode));
  char html[128];
  snprintf(html, sizeof html, "%s/r.html", f->dir);
  CLI_OK(f, "report", "1", "--html", html);
  char *page = lmmt_read_file(html, NULL);
  assert_non_null(strstr(page, "<td class=\"st\">pending</td>"));
  free(page);
  assert_int_equal(stat(html, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600); /* like the store: it holds the answers */
  /* "-": the page on stdout. */
  lmmt_run r = cli(f, (const char *[]){"report", "1", "--html", "-", NULL});
  assert_int_equal(r.status, 0);
  assert_true(!strncmp(r.out, "<!DOCTYPE html>", 15));
  lmmt_run_free(&r);
}

int main(void) {
  if (lmm_global_init() != LMM_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_html_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_firmware_page, setup, teardown),
      cmocka_unit_test_setup_teardown(test_page_in_chromium, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
