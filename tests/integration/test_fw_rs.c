/* test_fw_rs.c - Reed-Solomon firmware over MBMS end to end (docs/fec.md): 1 MiB to 200
 * simulated devices through t8-mock, each losing 5 % of what the bearer carries. The campaign
 * ends with every device holding the image and Update Result 1 after at most one repair round,
 * with no fragment sent by unicast; the repair sends parity rows never sent before; and a
 * campaign stopped in its status round resumes from the next unsent row. */
#include "fw_world.h"

#define N_DEV 200

/* Runs the loop until the campaign reaches `phase` (true) or ends (false). */
static bool run_until(world *w, lmm_fwc_phase phase, lmm_fwc_stats *at) {
  for (int i = 0; i < 2400; i++) {
    lmm_err rc = lmm_fwc_wait(w->c, 50);
    lmm_fwc_get_stats(w->c, at);
    if (at->phase == phase) return true;
    if (rc == LMM_OK) return false;
    assert_int_equal(rc, LMM_ERR_TIMEOUT);
  }
  fail_msg("the campaign did not reach phase %s in 120 s", lmm_fwc_phase_name(phase));
  return false;
}

static void all_done(world *w, const char *digest) {
  size_t n;
  const lmm_fwc_member *m = lmm_fwc_members(w->c, &n);
  for (size_t i = 0; i < n; i++) {
    if (m[i].end != LMM_FWC_UPDATED)
      print_message("%s: %s (%s)\n", m[i].member->ep, lmm_fwc_end_name(m[i].end),
                    m[i].error ? m[i].error : "");
    assert_int_equal(m[i].end, LMM_FWC_UPDATED);
    assert_int_equal(m[i].bytes_unicast, 0);
  }
  bool *match = calloc(w->n, sizeof *match);
  assert_int_equal(check_pkg(w, digest, match), w->n);
  free(match);
}

static void test_rs_loss_5(void **state) {
  (void)state;
  world w;
  world_up(&w, N_DEV, "0.05", NULL);
  uint8_t *image = make_image(MIB, 3);
  char digest[65];
  sha256_hex(image, MIB, digest);
  /* 1 MB/s: a loaded machine's simulator keeps up, so the only loss is the 5 % it plays. */
  run r = {.type = LMM_GROUP_MBMS, .window_s = 2, .rate = 1000000};
  start_fw(&w, &r, image, MIB);
  free(image);
  lmm_fwc_stats first, st;
  assert_true(run_until(&w, LMM_FWC_P_SENDING, &first));
  uint32_t rows0 = first.fec_rows, blocks = (MIB / 512 + 170) / 171;
  assert_true(rows0 > 0);       /* parity sized for 5 %, not none */
  assert_true(rows0 < 171 / 5); /* and not a fifth of the blob */
  assert_int_equal(lmm_fwc_wait(w.c, 240000), LMM_OK);
  lmm_fwc_get_stats(w.c, &st);
  print_stats("MBMS rs, reception loss 5 %", &w, 0);
  print_message("first pass %u rows of %u blocks; %u rows in the end, %u repair rounds\n", rows0,
                blocks, st.fec_rows, st.repair_rounds);
  assert_int_equal(st.phase, LMM_FWC_P_DONE);
  assert_int_equal(st.updated, N_DEV);
  assert_true(st.repair_rounds <= 1);
  assert_int_equal(st.unicast_repairs, 0);
  assert_int_equal(st.bytes_unicast, 0);
  /* Every repair fragment is a new row of some block: at most (rows added) x blocks of them,
   * and the first pass was the data and the first rows only. */
  if (st.repair_rounds) {
    assert_true(st.fec_rows > rows0);
    assert_true(st.multicast_repairs > 0);
    assert_true(st.multicast_repairs <= (st.fec_rows - rows0) * blocks);
  }
  assert_int_equal(st.fragments_sent, MIB / 512 + rows0 * blocks + st.multicast_repairs);
  /* Within 1.2 x the image's fragments on the bearer. */
  assert_true(st.fragments_sent * 10 <= (MIB / 512) * 12);
  all_done(&w, digest);
  world_down(&w);
}

/* Stopped as its first repair starts (its process gone, the repair's rows counted as sent),
 * resumed from the store: it goes on from the next row never sent, and every device still
 * ends with the image without a unicast repair. */
static void test_rs_resume(void **state) {
  (void)state;
  world w;
  world_up(&w, N_DEV, "0.05", NULL);
  uint8_t *image = make_image(MIB, 4);
  char digest[65];
  sha256_hex(image, MIB, digest);
  /* 1 MB/s: a loaded machine's simulator keeps up, so the only loss is the 5 % it plays. */
  run r = {.type = LMM_GROUP_MBMS, .window_s = 2, .rate = 1000000};
  start_fw(&w, &r, image, MIB);
  /* A resume finds the group and its members in the store, as the command line keeps them. */
  lmm_group_info g = {.name = "fleet",
                      .type = LMM_GROUP_MBMS,
                      .gm_oid = LMM_GROUP_MGMT_OID,
                      .gm_iid = 2,
                      .external_group_id = "fleet@operator.example",
                      .multicast_address = "239.77.5.1",
                      .multicast_port = w.bearer_port,
                      .response_time_window = 2};
  assert_int_equal(lmm_store_group_create(w.store, &g), LMM_OK);
  assert_int_equal(lmm_store_members_add(w.store, "fleet", w.m, w.n), LMM_OK);
  lmm_fwc_stats at, st;
  assert_true(run_until(&w, LMM_FWC_P_REPAIRING, &at));
  assert_true(at.repair_rounds == 1 && at.fec_rows > 0);
  int64_t id = lmm_fwc_id(w.c);
  lmm_fwc_free(w.c), w.c = NULL; /* the process stops: the store keeps the campaign */
  lmm_fwc_deps deps = {w.ctx, w.u, w.t8, w.ans, w.blobs, w.store};
  assert_int_equal(lmm_fwc_resume(&deps, id, image, MIB, &handlers, &w, &w.c), LMM_OK);
  lmm_fwc_get_stats(w.c, &st);
  assert_int_equal(st.fec_rows, at.fec_rows); /* the next row is where it stopped */
  assert_int_equal(lmm_fwc_start(w.c), LMM_OK);
  assert_int_equal(lmm_fwc_wait(w.c, 240000), LMM_OK);
  lmm_fwc_get_stats(w.c, &st);
  print_stats("MBMS rs resumed", &w, 0);
  assert_int_equal(st.phase, LMM_FWC_P_DONE);
  assert_int_equal(st.updated, N_DEV);
  assert_true(st.fec_rows >= at.fec_rows);
  assert_int_equal(st.unicast_repairs, 0);
  free(image);
  all_done(&w, digest);
  world_down(&w);
}

int main(void) {
  lmm_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rs_loss_5),
      cmocka_unit_test(test_rs_resume),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
