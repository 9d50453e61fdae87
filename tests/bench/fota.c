/* fota.c - benchmark: one firmware image to N simulated devices, as an MBMS firmware campaign
 * (fragments through MB2-U, each device missing LOSS of the bearer's datagrams on its own draw,
 * status rounds, repair) and as a unicast push campaign (Block1 write of /5/0/0 to every
 * member), both through lmm_fwc with the same world: one t8-mock, one simulator of N devices,
 * one context, one unicast engine (max_in_flight IN_FLIGHT).
 *
 * Rows, per path:
 *   adapter bytes   bytes the adapter sent for the blob: for MBMS the CoAP messages to the
 *                   group (announce, fragments, status and update requests, multicast repair)
 *                   plus the fragment payloads it sent by unicast repair; for unicast the image
 *                   payload written to each member (CoAP and UDP headers not counted, which
 *                   favours unicast)
 *   bearer bytes    MBMS: the bytes of the bearer datagrams t8-mock sent (its log)
 *   wall time       lmm_fwc_start() to on_done, the update and its results included
 *   updated         members with Update Result 1 whose PkgVersion is the image's SHA-256
 * Then the ratios unicast / MBMS of adapter bytes and wall time. The target: MBMS sends at most
 * 1/50 of the unicast bytes and finishes sooner.
 *
 *   bench_fota [N]                  (default 1000)
 *   scripts/bench: 1000
 *   scripts/bench --quick: SIZE=65536 WINDOW=1 50
 * Environment: LMM_T8_MOCK, LMM_SIM, SIZE (bytes, default 1048576), LOSS (default 0.05),
 *   WINDOW (s, default 2), RATE (bearer bytes/s, default 4000000), FEC (stride, default 0),
 *   IN_FLIGHT (default 128). Exit status 1 when a member is not updated in either run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lmmt_bench.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long env_num(const char *name, unsigned long long def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (*end) {
    fprintf(stderr, "%s: not a number: %s\n", name, v);
    exit(2);
  }
  return x;
}

typedef struct result {
  double wall;
  unsigned long long adapter, bearer;
  size_t updated, pkg_ok, n;
  lmm_fwc_stats st;
} result;

static void done_cb(void *user, lmm_fwc *c, lmm_err rc) {
  (void)c, (void)rc;
  *(double *)user = now_s();
}

static const lmm_fwc_handlers handlers = {NULL, NULL, done_cb};

typedef struct pkg {
  char want[65];
  size_t ok;
} pkg;

static void pkg_member(void *user, const lmm_member_result *r) {
  pkg *p = user;
  p->ok += r->err == LMM_OK && r->coap_code == 0x45 && r->payload_len == 64 &&
           !memcmp(r->payload, p->want, 64);
}

static void pkg_done(void *user, lmm_batch *b) {
  (void)user, (void)b;
}

static const lmm_batch_handlers pkg_handlers = {NULL, pkg_member, NULL, pkg_done};

/* Sum of "bytes" over the mock's bearer_send lines that were not dropped. */
static unsigned long long bearer_bytes(const lmmt_mock *m) {
  size_t len;
  char *log = lmmt_read_file(m->log_path, &len);
  unsigned long long sum = 0;
  for (char *p = log; p && (p = strstr(p, "\"event\":\"bearer_send\"")); p++) {
    char *eol = strchr(p, '\n');
    char *b = strstr(p, "\"bytes\":");
    char *d = strstr(p, "\"dropped\":false");
    if (b && (!eol || b < eol) && d && (!eol || d < eol)) sum += strtoull(b + 8, NULL, 10);
  }
  free(log);
  return sum;
}

static int run(lmm_ctx *ctx, lmm_unicast *u, lmm_t8_client *t8, lmm_answers *ans,
               const lmmt_mock *mock, lmm_member *m, size_t n, int type, int bearer_port,
               const uint8_t *img, size_t len, const char *digest, result *out) {
  lmm_group_info g = {.name = type == LMM_GROUP_MBMS ? "fota-mbms" : "fota-unicast",
                      .type = type,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .external_group_id = "fota@operator.example",
                      .multicast_port = bearer_port,
                      .response_time_window = (int64_t)env_num("WINDOW", 2)};
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = m, cfg.n_members = n, cfg.image = img, cfg.len = len;
  cfg.rate_bps = env_num("RATE", 4000000);
  cfg.fec_stride = (uint32_t)env_num("FEC", 0);
  cfg.update_wait_ms = 300, cfg.grace_ms = 500;
  cfg.update_deadline_ms = 60000;
  lmm_fwc_deps deps = {ctx, u, t8, ans, NULL, NULL};
  double end = 0;
  lmm_fwc *c;
  unsigned long long bearer0 = type == LMM_GROUP_MBMS ? bearer_bytes(mock) : 0;
  if (lmm_fwc_new(&deps, &cfg, &handlers, &end, &c) != LMM_OK) return -1;
  double t0 = now_s();
  if (lmm_fwc_start(c) != LMM_OK || lmm_fwc_wait(c, 900000) != LMM_OK) {
    lmm_fwc_free(c);
    return -1;
  }
  out->wall = end - t0;
  lmm_fwc_get_stats(c, &out->st);
  out->adapter = out->st.bytes_group + out->st.bytes_unicast;
  out->bearer = type == LMM_GROUP_MBMS ? bearer_bytes(mock) - bearer0 : 0;
  out->updated = out->st.updated;
  out->n = n;
  lmm_fwc_free(c);
  pkg p = {.ok = 0};
  memcpy(p.want, digest, 65);
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = 5, .iid = 0, .rid = 7, .depth = 3};
  lmm_batch *b;
  if (lmm_batch_start(u, m, n, &op, 0xFFFF, &pkg_handlers, &p, &b) != LMM_OK) return -1;
  lmm_batch_wait(b, 60000);
  lmm_batch_free(b);
  out->pkg_ok = p.ok;
  return 0;
}

int main(int argc, char **argv) {
  const char *count = argc > 1 ? argv[1] : "1000";
  size_t len = env_num("SIZE", 1048576);
  const char *loss = getenv("LOSS") ? getenv("LOSS") : "0.05";
  if (len == 0 || len > 64u * 1024 * 1024) {
    fprintf(stderr, "SIZE: 1 .. 64 MiB\n");
    return 2;
  }
  lmm_global_init();
  int bearer_port = lmmt_random_port();
  char bp[16];
  snprintf(bp, sizeof bp, "%d", bearer_port);
  lmmt_mock mock;
  lmmt_sim sim;
  if (lmmt_mock_start(&mock, (const char *[]){"--bearer-port", bp, "--seed", "1", NULL}) != 0 ||
      lmmt_sim_start(&sim, (const char *[]){"--count", count, "--object", "5", "--update-ms", "100",
                                            "--group-loss", loss, "--seed", "2", NULL}) != 0) {
    fprintf(stderr, "cannot start t8-mock or the simulator (LMM_T8_MOCK, LMM_SIM)\n");
    return 1;
  }
  char why[200];
  lmm_member *m;
  size_t n;
  if (lmm_members_load(sim.members_path, &m, &n, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "members: %s\n", why);
    return 1;
  }
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
  lmm_answers *ans;
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.max_in_flight = env_num("IN_FLIGHT", 128);
  ucfg.member_deadline_ms = 120000;
  lmm_t8_config tcfg = LMM_T8_CONFIG_DEFAULT;
  tcfg.api_root = mock.api_root, tcfg.scs_as_id = "as1";
  if (lmm_ctx_new(NULL, &ctx) != LMM_OK || lmm_unicast_new(ctx, &ucfg, &u) != LMM_OK ||
      lmm_t8_client_new(ctx, &tcfg, &t8) != LMM_OK || lmm_answers_new(ctx, NULL, &ans) != LMM_OK ||
      lmm_t8_notifier_new(ctx, NULL, NULL, NULL, &nt) != LMM_OK)
    return 1;
  lmm_t8_client_attach_notifier(t8, nt); /* deliveries need a notification destination */
  uint8_t *img = malloc(len);
  uint32_t x = 88172645u;
  for (size_t i = 0; i < len; i++)
    x ^= x << 13, x ^= x >> 17, x ^= x << 5, img[i] = (uint8_t)x;
  uint8_t d[32];
  char digest[65];
  mbedtls_sha256_ret(img, len, d, 0);
  for (int i = 0; i < 32; i++)
    snprintf(digest + 2 * i, 3, "%02x", d[i]);

  printf("firmware of %zu bytes to %zu devices: MBMS (%s reception loss per device) vs unicast "
         "push, loopback\n",
         len, n, loss);
  fflush(stdout);
  result rm = {0}, ru = {0};
  int rc = 0;
  if (run(ctx, u, t8, ans, &mock, m, n, LMM_GROUP_MBMS, bearer_port, img, len, digest, &rm) != 0) {
    fprintf(stderr, "the MBMS campaign did not run\n");
    rc = 1;
  }
  if (run(ctx, u, t8, ans, &mock, m, n, LMM_GROUP_UNICAST, bearer_port, img, len, digest, &ru) !=
      0) {
    fprintf(stderr, "the unicast campaign did not run\n");
    rc = 1;
  }
  printf("\n%-26s %16s %16s\n", "", "MBMS", "unicast push");
  printf("%-26s %16llu %16llu\n", "adapter bytes", rm.adapter, ru.adapter);
  printf("%-26s %16.1f %16.1f\n", "adapter bytes per member", (double)rm.adapter / (double)n,
         (double)ru.adapter / (double)n);
  printf("%-26s %16llu %16s\n", "bearer bytes", rm.bearer, "-");
  printf("%-26s %16.2f %16.2f\n", "wall time (s)", rm.wall, ru.wall);
  printf("%-26s %16zu %16zu\n", "updated", rm.updated, ru.updated);
  printf("%-26s %16zu %16zu\n", "PkgVersion = SHA-256", rm.pkg_ok, ru.pkg_ok);
  printf("%-26s %16u %16s\n", "fragments K + parity Q", rm.st.k + rm.st.q, "-");
  printf("%-26s %16u %16s\n", "status rounds", rm.st.rounds, "-");
  printf("%-26s %16u %16s\n", "fragments repaired: group", rm.st.multicast_repairs, "-");
  printf("%-26s %16u %16s\n", "fragments repaired: 1:1", rm.st.unicast_repairs, "-");
  printf("\nratio unicast / MBMS: adapter bytes %.1fx, wall time %.2fx\n",
         rm.adapter ? (double)ru.adapter / (double)rm.adapter : 0,
         rm.wall > 0 ? ru.wall / rm.wall : 0);
  if (rm.updated != n || ru.updated != n || rm.pkg_ok != n || ru.pkg_ok != n) rc = 1;
  printf("%s\n", rc ? "FAILED: some members were not updated" : "every member updated in both");
  lmmt_bench *bj = lmmt_bench_new("fota");
  lmmt_bench_num(bj, "members", (double)n);
  lmmt_bench_num(bj, "image_bytes", (double)len);
  lmmt_bench_num(bj, "loss", atof(loss));
  lmmt_bench_num(bj, "mbms_adapter_bytes", (double)rm.adapter);
  lmmt_bench_num(bj, "unicast_adapter_bytes", (double)ru.adapter);
  lmmt_bench_num(bj, "mbms_bearer_bytes", (double)rm.bearer);
  lmmt_bench_num(bj, "mbms_bearer_per_image", (double)rm.bearer / (double)len);
  lmmt_bench_num(bj, "mbms_wall_s", rm.wall);
  lmmt_bench_num(bj, "unicast_wall_s", ru.wall);
  lmmt_bench_num(bj, "mbms_status_rounds", rm.st.rounds);
  lmmt_bench_num(bj, "mbms_unicast_repairs", rm.st.unicast_repairs);
  lmmt_bench_num(bj, "mbms_updated", (double)rm.updated);
  lmmt_bench_num(bj, "unicast_updated", (double)ru.updated);
  lmmt_bench_ok(bj, rc == 0);
  if (lmmt_bench_print(bj) != 0) rc = 1;
  free(img);
  lmm_answers_free(ans);
  lmm_t8_client_free(t8);
  lmm_t8_notifier_free(nt);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(m, n);
  lmmt_sim_stop(&sim);
  lmmt_mock_stop(&mock);
  lmm_global_cleanup();
  return rc;
}
