/* test_fw_group.c - firmware campaigns over a group path end to end: 1 MiB to 500 simulated
 * devices over MBMS (MB2-U through t8-mock) and over IP multicast at 0, 5 and 20 % reception
 * loss per device, and with parity; every device must end with the exact image and Update
 * Result 1, and the adapter must send at most 1/50 of what unicast would. */
#include "fw_world.h"

static void test_mbms_500_no_loss(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MBMS, 500, "0", 0, 2);
}

static void test_mbms_500_loss_5(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MBMS, 500, "0.05", 0, 2);
}

static void test_mbms_500_loss_20(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MBMS, 500, "0.2", 0, 2);
}

static void test_mbms_500_loss_5_fec(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MBMS, 500, "0.05", 8, 2);
}

static void test_multicast_500_loss_5(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MULTICAST, 500, "0.05", 0, 2);
}

/* Loss on the bearer: every member misses the same 5 % (20 %) of the datagrams, status and
 * update requests included. The repair goes to the group, once per lost fragment. */
static void test_mbms_500_bearer_loss_5(void **state) {
  (void)state;
  g_bearer_loss = "0.05";
  all_updated(LMM_GROUP_MBMS, 500, "0", 0, 2);
  g_bearer_loss = "0";
}

static void test_mbms_500_bearer_loss_20(void **state) {
  (void)state;
  g_bearer_loss = "0.2";
  all_updated(LMM_GROUP_MBMS, 500, "0", 0, 2);
  g_bearer_loss = "0";
}

static void test_multicast_500_no_loss(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MULTICAST, 500, "0", 0, 2);
}

static void test_multicast_500_loss_20(void **state) {
  (void)state;
  all_updated(LMM_GROUP_MULTICAST, 500, "0.2", 0, 2);
}

int main(void) {
  lmm_global_init();
  /* TEST_FILTER=test_cancel (a glob) runs the matching tests only. */
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  g_max_retransmit = 4; /* every device answers */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mbms_500_no_loss),        cmocka_unit_test(test_mbms_500_loss_5),
      cmocka_unit_test(test_mbms_500_loss_20),        cmocka_unit_test(test_mbms_500_loss_5_fec),
      cmocka_unit_test(test_multicast_500_loss_5),    cmocka_unit_test(test_mbms_500_bearer_loss_5),
      cmocka_unit_test(test_mbms_500_bearer_loss_20), cmocka_unit_test(test_multicast_500_no_loss),
      cmocka_unit_test(test_multicast_500_loss_20),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lmm_global_cleanup();
  return rc;
}
