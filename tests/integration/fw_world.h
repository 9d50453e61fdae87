/* fw_world.h - what the firmware campaign tests share: t8-mock, a simulated fleet of Firmware
 * Update devices, the library's engines and a store; running a campaign and checking every
 * device's PkgVersion (the SHA-256 of what it holds). Included by test_fw_*.c only. */
#ifndef FW_WORLD_H
#define FW_WORLD_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "lmmt.h"
#include "lwm2m_mbms/lwm2m_mbms.h"

#define MIB (1024u * 1024u)

typedef struct world {
  lmmt_mock mock;
  lmmt_sim sim;
  lmm_ctx *ctx;
  lmm_unicast *u;
  lmm_t8_client *t8;
  lmm_t8_notifier *nt;
  lmm_answers *ans;
  lmm_blob_server *blobs;
  lmm_store *store;
  char dbdir[64];
  lmm_member *m;
  size_t n;
  int bearer_port;
  lmm_fwc *c;
  size_t on_member, on_done;
  lmm_fwc_phase phases[16];
  size_t n_phases;
} world;

static inline int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Loss on the bearer itself (t8-mock --loss: every member misses the same datagram), as
 * opposed to each member's own reception loss (the simulator's --group-loss). */
static const char *g_bearer_loss = "0";

/* The unicast engine's MAX_RETRANSMIT. 2 keeps a test of silent devices short; a test whose
 * devices all answer takes RFC 7252's 4: the simulator serves a unicast request only after the
 * broadcast already sent (t8-mock/sim/group.c), and 500 devices of a sanitizer build on a
 * loaded machine can be seconds behind it. */
static int g_max_retransmit = 2;

static inline void world_up(world *w, int count, const char *group_loss,
                            const char *const *sim_extra) {
  memset(w, 0, sizeof *w);
  w->bearer_port = lmmt_random_port();
  char port[16], cnt[16];
  snprintf(port, sizeof port, "%d", w->bearer_port);
  snprintf(cnt, sizeof cnt, "%d", count);
  assert_int_equal(lmmt_mock_start(&w->mock, (const char *[]){"--bearer-port", port, "--seed", "5",
                                                              "--loss", g_bearer_loss, NULL}),
                   0);
  const char *sargs[32] = {"--count", cnt, "--object", "5", "--update-ms", "100", "--seed", "11"};
  int k = 8;
  if (strcmp(group_loss, "0") != 0) sargs[k++] = "--group-loss", sargs[k++] = group_loss;
  for (int i = 0; sim_extra && sim_extra[i] && k < 31; i++)
    sargs[k++] = sim_extra[i];
  sargs[k] = NULL;
  assert_int_equal(lmmt_sim_start(&w->sim, sargs), 0);
  char why[256];
  assert_int_equal(lmm_members_load(w->sim.members_path, &w->m, &w->n, why, sizeof why), LMM_OK);
  assert_int_equal(lmm_ctx_new(NULL, &w->ctx), LMM_OK);
  lmm_unicast_config ucfg = LMM_UNICAST_CONFIG_DEFAULT;
  ucfg.ack_timeout_ms = 1000, ucfg.max_retransmit = g_max_retransmit,
  ucfg.member_deadline_ms = 20000;
  ucfg.max_in_flight = 128;
  assert_int_equal(lmm_unicast_new(w->ctx, &ucfg, &w->u), LMM_OK);
  lmm_t8_config tcfg = LMM_T8_CONFIG_DEFAULT;
  tcfg.api_root = w->mock.api_root, tcfg.scs_as_id = "as1";
  assert_int_equal(lmm_t8_client_new(w->ctx, &tcfg, &w->t8), LMM_OK);
  /* A delivery needs a notification destination: the receiver gives it. */
  assert_int_equal(lmm_t8_notifier_new(w->ctx, NULL, NULL, NULL, &w->nt), LMM_OK);
  lmm_t8_client_attach_notifier(w->t8, w->nt);
  assert_int_equal(lmm_answers_new(w->ctx, NULL, &w->ans), LMM_OK);
  assert_int_equal(lmm_blob_server_new(w->ctx, NULL, &w->blobs), LMM_OK);
  assert_non_null(w->store = lmmt_store_open(w->ctx, w->dbdir));
}

static inline void world_down(world *w) {
  lmm_fwc_free(w->c);
  assert_int_equal(lmmt_store_remove(w->store, w->dbdir), 0);
  lmm_answers_free(w->ans);
  lmm_blob_server_free(w->blobs);
  lmm_t8_client_free(w->t8);
  lmm_t8_notifier_free(w->nt);
  lmm_unicast_free(w->u);
  lmm_ctx_free(w->ctx);
  lmm_members_free(w->m, w->n);
  assert_int_equal(lmmt_sim_stop(&w->sim), 0);
  assert_int_equal(lmmt_mock_stop(&w->mock), 0);
}

static inline void h_member(void *user, size_t index, const lmm_fwc_member *m) {
  world *w = user;
  (void)index;
  assert_int_not_equal(m->end, LMM_FWC_PENDING);
  w->on_member++;
}

static inline void h_phase(void *user, lmm_fwc_phase phase) {
  world *w = user;
  if (w->n_phases < 16) w->phases[w->n_phases++] = phase;
}

static inline void h_done(void *user, lmm_fwc *c, lmm_err result) {
  world *w = user;
  (void)c, (void)result;
  w->on_done++;
}

static const lmm_fwc_handlers handlers = {h_member, h_phase, h_done};

static inline uint8_t *make_image(size_t len, unsigned seed) {
  uint8_t *p = malloc(len);
  assert_non_null(p);
  uint32_t x = 2463534242u + seed;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return p;
}

static inline void sha256_hex(const uint8_t *p, size_t len, char out[65]) {
  uint8_t d[32];
  assert_int_equal(mbedtls_sha256_ret(p, len, d, 0), 0);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ------------------------------------------------------------ PkgVersion read back */

typedef struct pkg_check {
  const char *want;
  size_t n, matched;
  bool *match; /* per member */
} pkg_check;

static inline void pkg_member(void *user, const lmm_member_result *r) {
  pkg_check *pc = user;
  pc->n++;
  bool ok = r->err == LMM_OK && r->coap_code == 0x45 && r->payload_len == 64 &&
            !memcmp(r->payload, pc->want, 64);
  pc->matched += ok;
  pc->match[r->index] = ok;
}

static inline void pkg_done(void *user, lmm_batch *b) {
  (void)user, (void)b;
}

static const lmm_batch_handlers pkg_handlers = {NULL, pkg_member, NULL, pkg_done};

/* Which members hold exactly the image (by PkgVersion). Returns the count. */
static inline size_t check_pkg(world *w, const char *digest, bool *match) {
  pkg_check pc = {.want = digest, .match = match};
  lmm_op op = LMM_OP_INIT;
  op.path = (lmm_path){.oid = 5, .iid = 0, .rid = 7, .depth = 3};
  lmm_batch *b;
  assert_int_equal(lmm_batch_start(w->u, w->m, w->n, &op, 0xFFFF, &pkg_handlers, &pc, &b), LMM_OK);
  assert_int_equal(lmm_batch_wait(b, 30000), LMM_OK);
  lmm_batch_free(b);
  assert_int_equal(pc.n, w->n);
  return pc.matched;
}

/* ------------------------------------------------------------ running a campaign */

typedef struct run {
  int type;   /* lmm_group_type */
  int method; /* lmm_fwc_method, unicast */
  long window_s;
  uint32_t fec;
  size_t wave;
  double err_threshold;
  int fault;     /* 0 none, 1 cancel once sending */
  uint64_t rate; /* bearer bytes per second; 0: 4,000,000 */
} run;

static inline void start_fw(world *w, const run *r, const uint8_t *image, size_t len) {
  static lmm_group_info g;
  g = (lmm_group_info){.name = "fleet",
                       .type = r->type,
                       .gm_oid = LMM_GROUP_MGMT_OID,
                       .external_group_id = "fleet@operator.example",
                       .multicast_address = "239.77.5.1",
                       .multicast_port =
                           r->type == LMM_GROUP_MBMS ? w->bearer_port : lmmt_random_port(),
                       .response_time_window = r->window_s,
                       .gm_iid = 2}; /* not 0: the instance follows the group */
  lmm_fwc_config cfg = LMM_FWC_CONFIG_DEFAULT;
  cfg.group = &g, cfg.members = w->m, cfg.n_members = w->n;
  cfg.image = image, cfg.len = len;
  cfg.rate_bps = r->rate ? r->rate : 4000000;
  cfg.fec_stride = r->fec;
  if (r->fec) cfg.fec_code = LMM_FEC_XOR; /* a stride is XOR parity */
  cfg.wave_count = r->wave;
  cfg.error_threshold = r->err_threshold;
  cfg.success_threshold = 0;
  cfg.update_wait_ms = 300;
  cfg.update_deadline_ms = 20000;
  cfg.grace_ms = 500;
  cfg.method = r->method;
  cfg.version = "2.1.0+fleet";
  lmm_fwc_deps deps = {w->ctx, w->u, w->t8, w->ans, w->blobs, w->store};
  assert_int_equal(lmm_fwc_new(&deps, &cfg, &handlers, w, &w->c), LMM_OK);
  assert_int_equal(lmm_fwc_start(w->c), LMM_OK);
  assert_int_equal(lmm_fwc_start(w->c), LMM_ERR_STATE);
}

static inline void print_stats(const char *what, world *w, int64_t took) {
  lmm_fwc_stats st;
  lmm_fwc_get_stats(w->c, &st);
  print_message("%s: %zu members in %lld ms: %zu updated, %zu failed, %zu held; K=%u Q=%u, "
                "group %llu bytes (%llu fragments), unicast %llu bytes, %u rounds, repairs "
                "%u multicast / %u unicast\n",
                what, w->n, (long long)took, st.updated, st.failed, st.held, st.k, st.q,
                (unsigned long long)st.bytes_group, (unsigned long long)st.fragments_sent,
                (unsigned long long)st.bytes_unicast, st.rounds, st.multicast_repairs,
                st.unicast_repairs);
}

/* The whole group gets the image and Update Result 1. */
static inline void all_updated_by(int type, int method, int count, const char *loss, uint32_t fec,
                                  long window) {
  world w;
  world_up(&w, count, loss, NULL);
  uint8_t *image = make_image(MIB, 1);
  char digest[65];
  sha256_hex(image, MIB, digest);
  run r = {.type = type, .method = method, .window_s = window, .fec = fec};
  int64_t t0 = mono_ms();
  start_fw(&w, &r, image, MIB);
  free(image); /* the campaign has its copy */
  assert_int_equal(lmm_fwc_wait(w.c, 240000), LMM_OK);
  int64_t took = mono_ms() - t0;
  char what[80];
  snprintf(what, sizeof what, "%s reception loss %s bearer loss %s fec %u",
           type == LMM_GROUP_MBMS        ? "MBMS"
           : type == LMM_GROUP_MULTICAST ? "multicast"
           : method == LMM_FWC_PULL      ? "unicast pull"
                                         : "unicast push",
           loss, g_bearer_loss, fec);
  print_stats(what, &w, took);
  assert_int_equal(w.on_done, 1);
  assert_int_equal(w.on_member, w.n);
  size_t n;
  const lmm_fwc_member *m = lmm_fwc_members(w.c, &n);
  uint64_t unicast = 0;
  for (size_t i = 0; i < n; i++) {
    if (m[i].end != LMM_FWC_UPDATED)
      print_message("%s: %s (%s)\n", m[i].member->ep, lmm_fwc_end_name(m[i].end),
                    m[i].error ? m[i].error : "");
    assert_int_equal(m[i].end, LMM_FWC_UPDATED);
    assert_int_equal(m[i].update_result, 1);
    assert_null(m[i].error);
    unicast += m[i].bytes_unicast;
  }
  lmm_fwc_stats st;
  lmm_fwc_get_stats(w.c, &st);
  assert_int_equal(st.phase, LMM_FWC_P_DONE);
  assert_int_equal(st.updated, w.n);
  assert_int_equal(st.bytes_unicast, unicast);
  if (type == LMM_GROUP_UNICAST) {
    /* Each member got the whole image by its own transfer, the way it was asked to. */
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(m[i].via, LMM_VIA_UNICAST);
      assert_int_equal(m[i].pulled, method == LMM_FWC_PULL);
      assert_int_equal(m[i].bytes_unicast, MIB);
    }
    assert_int_equal(st.bytes_group, 0);
    lmm_blob_server_stats bs;
    lmm_blob_server_get_stats(w.blobs, &bs);
    assert_int_equal(bs.bytes_sent, method == LMM_FWC_PULL ? (uint64_t)w.n * MIB : 0);
    goto check;
  }
  assert_int_equal(st.k, MIB / 512);
  /* The adapter sent the blob a few times over, whatever the fleet size: at most 1/50 of what
   * a unicast push to every member would send. */
  assert_true(st.bytes_group >= MIB);
  assert_true((st.bytes_group + st.bytes_unicast) * 50 <= (uint64_t)w.n * MIB);
  if (strcmp(loss, "0") == 0 && strcmp(g_bearer_loss, "0") == 0)
    assert_int_equal(st.unicast_repairs + st.multicast_repairs, 0);
check:;
  bool *match = calloc(w.n, sizeof *match);
  assert_int_equal(check_pkg(&w, digest, match), w.n);
  free(match);
  /* The store has the campaign with every member's final result. */
  lmm_outcome *o;
  size_t on;
  assert_int_equal(lmm_store_outcomes_get(w.store, lmm_fwc_id(w.c), &o, &on), LMM_OK);
  assert_int_equal(on, w.n);
  for (size_t i = 0; i < on; i++) {
    assert_int_equal(o[i].fw_end, LMM_FWC_UPDATED);
    assert_int_equal(o[i].fw_result, 1);
  }
  lmm_outcome_list_free(o, on);
  lmm_campaign_info ci;
  assert_int_equal(lmm_store_campaign_get(w.store, lmm_fwc_id(w.c), &ci), LMM_OK);
  assert_int_equal(ci.kind, LMM_CK_FIRMWARE);
  assert_non_null(ci.fw_summary);
  assert_non_null(strstr(ci.fw_summary, digest));
  lmm_campaign_info_clear(&ci);
  world_down(&w);
}

static inline void all_updated(int type, int count, const char *loss, uint32_t fec, long window) {
  all_updated_by(type, LMM_FWC_PUSH, count, loss, fec, window);
}

#endif
