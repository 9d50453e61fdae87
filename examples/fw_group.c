/* fw_group.c - how a host (an LwM2M server with its own poll loop) sends a firmware package to
 * an IP multicast group with lmm_fwc: fragments to the group, the members' status answers,
 * repair, the update, and each member's Update Result, all from the host's loop.
 *
 *   example_fw_group MEMBERS_FILE GROUP_ADDR PORT FIRMWARE_FILE
 *
 * MEMBERS_FILE is in the format of docs/members-file.md (the simulator writes one:
 * lwm2m-mbms-sim --object 5 --members-file FILE). Exit status 0 when every member updated.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct app {
  int done; /* 0 running, 1 finished */
} app;

static void on_member(void *user, size_t index, const lmm_fwc_member *m) {
  (void)user;
  printf("%4zu %-24s %-9s Update Result %d%s%s\n", index, m->member->ep, lmm_fwc_end_name(m->end),
         m->update_result, m->error ? ": " : "", m->error ? m->error : "");
}

static void on_phase(void *user, lmm_fwc_phase phase) {
  (void)user;
  printf("-- %s\n", lmm_fwc_phase_name(phase));
}

static void on_done(void *user, lmm_fwc *c, lmm_err result) {
  (void)c;
  ((app *)user)->done = 1;
  if (result != LMM_OK) fprintf(stderr, "the campaign could not run: %s\n", lmm_strerror(result));
}

static const lmm_fwc_handlers handlers = {on_member, on_phase, on_done};

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
      fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = n > 0 ? (size_t)n : 0;
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s MEMBERS_FILE GROUP_ADDR PORT FIRMWARE_FILE\n", argv[0]);
    return 2;
  }
  char why[256];
  lmm_member *members = NULL;
  size_t n = 0, len = 0;
  if (lmm_members_load(argv[1], &members, &n, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "%s\n", why);
    return 2;
  }
  uint8_t *image = read_file(argv[4], &len);
  if (!image) {
    fprintf(stderr, "%s: cannot read a non-empty file\n", argv[4]);
    return 2;
  }
  app a = {0};
  lmm_ctx *ctx = NULL;
  lmm_unicast *u = NULL;
  lmm_answers *ans = NULL;
  lmm_fwc *c = NULL;
  if (lmm_global_init() != LMM_OK || lmm_ctx_new(NULL, &ctx) != LMM_OK ||
      lmm_unicast_new(ctx, NULL, &u) != LMM_OK || lmm_answers_new(ctx, NULL, &ans) != LMM_OK) {
    fprintf(stderr, "set-up failed\n");
    return 1;
  }
  lmm_group_info g = {.name = "example",
                      .type = LMM_GROUP_MULTICAST,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .multicast_address = argv[2],
                      .multicast_port = atoi(argv[3]),
                      .response_time_window = 2};
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = members, cfg.n_members = n, cfg.image = image, cfg.len = len;
  cfg.fec_loss = 0.05; /* Reed-Solomon parity sized for 5 % loss (the default code) */
  lmm_fwc_deps deps = {ctx, u, NULL, ans, NULL, NULL};
  if (lmm_fwc_new(&deps, &cfg, &handlers, &a, &c) != LMM_OK || lmm_fwc_start(c) != LMM_OK) {
    fprintf(stderr, "the campaign was refused (see the log above)\n");
    return 1;
  }
  free(image); /* the campaign keeps its own copy */

  /* The host's loop: its own descriptors would sit beside the library's in pfd. */
  struct pollfd pfd[256];
  while (!a.done) {
    size_t k = lmm_ctx_pollfds(ctx, pfd, 256);
    if (k > 256) k = 256;
    int ready = poll(pfd, k, lmm_ctx_timeout_ms(ctx, 1000));
    lmm_ctx_process(ctx, pfd, ready > 0 ? k : 0);
  }
  lmm_fwc_stats st;
  lmm_fwc_get_stats(c, &st);
  printf("%zu updated, %zu failed; %llu bytes to the group, %llu by unicast, %u status rounds\n",
         st.updated, st.failed, (unsigned long long)st.bytes_group,
         (unsigned long long)st.bytes_unicast, st.rounds);
  int rc = st.updated == n ? 0 : 1;
  lmm_fwc_free(c);
  lmm_answers_free(ans);
  lmm_unicast_free(u);
  lmm_ctx_free(ctx);
  lmm_members_free(members, n);
  lmm_global_cleanup();
  return rc;
}
