/* test_answers_block.c - the answer receiver takes an answer as one datagram only: a POST with
 * Block1 (or Block2) gets 4.02 Bad Option and counts as malformed, and nothing reaches the
 * group request's owner; a whole answer from the same source is still accepted (2.04). Real
 * UDP over loopback to a real receiver (libcoap). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "campaign/campaign_internal.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/ctx.h"

static const uint8_t token[LMMI_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static unsigned delivered;

static lmmi_answer_class on_answer(void *owner, const char *ep, uint8_t code, int content_format,
                                   const uint8_t *payload, size_t len) {
  (void)owner, (void)ep, (void)code, (void)content_format, (void)payload, (void)len;
  delivered++;
  return LMMI_ANS_ACCEPTED;
}

/* A CON POST to /lmm/a?ep=dev-0&t=0102030405060708&c=2.05 with message ID `mid`, Block1
 * `block1` (0: none; else its one-byte value) and `plen` bytes of payload. */
static size_t answer_pdu(uint8_t *b, uint16_t mid, uint8_t block1, size_t plen) {
  size_t n = 0;
  b[n++] = 0x41, b[n++] = 0x02, b[n++] = (uint8_t)(mid >> 8), b[n++] = (uint8_t)mid;
  b[n++] = 0xAA;                                  /* token */
  b[n++] = 0xB3, memcpy(b + n, "lmm", 3), n += 3; /* Uri-Path (11) */
  b[n++] = 0x01, b[n++] = 'a';
  b[n++] = 0x47, memcpy(b + n, "ep=dev0", 7), n += 7; /* Uri-Query (15) */
  b[n++] = 0x0D, b[n++] = 18 - 13, memcpy(b + n, "t=0102030405060708", 18), n += 18;
  b[n++] = 0x06, memcpy(b + n, "c=2.05", 6), n += 6;
  if (block1) b[n++] = 0xC1, b[n++] = block1; /* Block1 (27) */
  if (plen) {
    b[n++] = 0xFF;
    memset(b + n, 'x', plen), n += plen;
  }
  return n;
}

/* Sends a datagram, serves the receiver until its reply comes: the reply's code. */
static uint8_t exchange(lmm_ctx *ctx, int fd, const uint8_t *b, size_t n) {
  assert_int_equal(send(fd, b, n, 0), (ssize_t)n);
  uint8_t r[256];
  for (int turn = 0; turn < 200; turn++) {
    assert_int_equal(lmm_ctx_run_once(ctx, 10), LMM_OK);
    ssize_t got = recv(fd, r, sizeof r, MSG_DONTWAIT);
    if (got >= 4) {
      assert_int_equal(r[0] >> 4, 0x6); /* version 1, ACK */
      return r[1];
    }
  }
  fail_msg("no reply from the answer receiver");
  return 0;
}

static void test_block_refused(void **state) {
  (void)state;
  lmm_ctx *ctx;
  lmm_answers *a;
  assert_int_equal(lmm_ctx_new(NULL, &ctx), LMM_OK);
  assert_int_equal(lmm_answers_new(ctx, NULL, &a), LMM_OK);
  assert_int_equal(lmmi_answers_open(a, token, on_answer, NULL), LMM_OK);
  const char *uri = lmm_answers_uri(a), *colon = strrchr(uri, ':');
  assert_non_null(colon);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);

  uint8_t b[256];
  /* The first block of a block-wise answer (NUM 0, M, 64 bytes), then a later one (NUM 9):
   * both refused, nothing handed on. */
  assert_int_equal(exchange(ctx, fd, b, answer_pdu(b, 1, 0x0A, 64)), 0x82);
  assert_int_equal(exchange(ctx, fd, b, answer_pdu(b, 2, 0x92, 64)), 0x82);
  assert_int_equal(delivered, 0);
  lmm_answers_stats st;
  lmm_answers_get_stats(a, &st);
  assert_int_equal(st.malformed, 2);
  assert_int_equal(st.accepted, 0);
  /* The whole answer is taken. */
  assert_int_equal(exchange(ctx, fd, b, answer_pdu(b, 3, 0, 100)), 0x44);
  assert_int_equal(delivered, 1);
  lmm_answers_get_stats(a, &st);
  assert_int_equal(st.accepted, 1);
  assert_int_equal(st.malformed, 2);
  close(fd);
  lmm_answers_free(a);
  lmm_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_block_refused)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
