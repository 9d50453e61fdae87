/* t8_host_loop.c - how a host (an LwM2M server with its own poll loop) drives the T8 client
 * without blocking: allocate a TMGI, send one group message, wait for its notification.
 *
 *   example_t8_host_loop http://127.0.0.1:8080 as1
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m_mbms.h"

typedef struct app {
  lmm_t8_client *t8;
  const uint8_t *payload;
  size_t payload_len;
  char tmgi[64];
  int done; /* 0 running, 1 success, -1 failure */
} app;

static void fail(app *a, const char *what, const lmm_t8_result *r) {
  char *d = lmm_t8_result_describe(r);
  fprintf(stderr, "%s: %s\n", what, d ? d : lmm_strerror(r->err));
  lmm_free(d);
  a->done = -1;
}

static void on_gmd(void *user, const lmm_t8_reply *rep) {
  app *a = user;
  if (rep->result->err != LMM_OK) return fail(a, "group message", rep->result);
  printf("delivery %s accepted; waiting for the notification\n", rep->gmd->transaction_id);
}

static void on_tmgi(void *user, const lmm_t8_reply *rep) {
  app *a = user;
  if (rep->result->err != LMM_OK) return fail(a, "TMGI allocation", rep->result);
  snprintf(a->tmgi, sizeof a->tmgi, "%s", rep->allocation->tmgi);
  printf("TMGI %s allocated\n", a->tmgi);
  /* Chaining from a callback is allowed: the next request starts in the same loop. */
  lmm_gmd g = {.has_payload = true,
               .payload = (uint8_t *)a->payload,
               .payload_len = a->payload_len,
               .scef_port = -1};
  if (lmm_t8_gmd_create_async(a->t8, a->tmgi, &g, on_gmd, a, NULL) != LMM_OK) a->done = -1;
}

static void on_delivery(void *user, const char *txn, bool delivered) {
  app *a = user;
  printf("notification for %s: %s\n", txn, delivered ? "delivered" : "NOT delivered");
  a->done = delivered ? 1 : -1;
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, NULL};

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s API_ROOT SCS_AS_ID\n", argv[0]);
    return 2;
  }
  static const uint8_t get_location[] = {0x50, 0x01, 0x00, 0x01, 0xb1, 0x36}; /* NON GET /6 */
  app a = {.payload = get_location, .payload_len = sizeof get_location};
  lmm_ctx *ctx = NULL;
  lmm_t8_notifier *nt = NULL;
  lmm_t8_config cfg = LMM_T8_CONFIG_DEFAULT;
  cfg.api_root = argv[1], cfg.scs_as_id = argv[2];
  if (lmm_global_init() != LMM_OK || lmm_ctx_new(NULL, &ctx) != LMM_OK ||
      lmm_t8_notifier_new(ctx, NULL, &handlers, &a, &nt) != LMM_OK ||
      lmm_t8_client_new(ctx, &cfg, &a.t8) != LMM_OK) {
    fprintf(stderr, "set-up failed\n");
    return 1;
  }
  lmm_t8_client_attach_notifier(a.t8, nt);
  if (lmm_t8_tmgi_create_async(a.t8, NULL, on_tmgi, &a, NULL) != LMM_OK) return 1;

  /* The host's loop: its own descriptors would sit in pfd[0..nhost) beside the library's. */
  struct pollfd pfd[64];
  for (int turns = 0; a.done == 0 && turns < 10000; turns++) {
    size_t n = lmm_ctx_pollfds(ctx, pfd, 64);
    if (n > 64) n = 64;
    int wait = lmm_ctx_timeout_ms(ctx, 1000);
    int ready = poll(pfd, n, wait);
    lmm_ctx_process(ctx, pfd, ready > 0 ? n : 0);
  }
  lmm_t8_client_free(a.t8);
  lmm_t8_notifier_free(nt);
  lmm_ctx_free(ctx);
  lmm_global_cleanup();
  return a.done == 1 ? 0 : 1;
}
