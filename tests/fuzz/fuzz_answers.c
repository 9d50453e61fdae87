/* fuzz_answers.c - libFuzzer target for the receiver of members' answers (docs/protocol.md
 * section 2), as a device reaches it: the input is one UDP datagram, sent over loopback to a
 * real receiver, which libcoap parses and our handler matches to an open group request by its
 * token. An input that is no CoAP message (its version bits are not 1) goes instead to the
 * host's entry point, lmm_answers_handle(), as a Uri-Query and, after a newline, a payload.
 * Whatever comes, at most one counter moves, and an answer reaches the request's owner only
 * with a member name, a response code of class 2 to 5 and its payload. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "campaign/campaign_internal.h"
#include "lwm2m_mbms/campaign.h"
#include "lwm2m_mbms/ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

/* The open group request's token: t=0102030405060708 in the seeds. */
static const uint8_t token[LMMI_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static unsigned delivered;

/* The owner's verdict varies with the name, so that every counter can move. */
static lmmi_answer_class on_answer(void *owner, const char *ep, uint8_t code, int content_format,
                                   const uint8_t *payload, size_t len) {
  (void)owner, (void)content_format;
  CHECK(ep != NULL && ep[0] != '\0' && strlen(ep) < 256);
  CHECK((code >> 5) >= 2 && (code >> 5) <= 5 && (code & 31) < 32);
  CHECK(len <= 64 * 1024 && (len == 0 || payload != NULL));
  uint8_t sum = 0; /* every byte read: ASan sees a payload that is not all there */
  for (size_t i = 0; i < len; i++)
    sum ^= payload[i];
  (void)sum;
  delivered++;
  return (lmmi_answer_class)(strlen(ep) % 4);
}

typedef struct world {
  lmm_ctx *ctx;
  lmm_answers *a;
  int fd; /* connected to the receiver */
} world;

static world *setup(void) {
  static world w;
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;
  struct sockaddr_in to = {.sin_family = AF_INET};
  const char *uri, *colon;

  if (w.ctx != NULL) return &w;
  cc.seed = 1;
  CHECK(lmm_global_init() == LMM_OK);
  CHECK(lmm_ctx_new(&cc, &w.ctx) == LMM_OK);
  CHECK(lmm_answers_new(w.ctx, NULL, &w.a) == LMM_OK);
  CHECK(lmmi_answers_open(w.a, token, on_answer, NULL) == LMM_OK);
  uri = lmm_answers_uri(w.a); /* coap://127.0.0.1:PORT/lmm/a */
  colon = strrchr(uri, ':');
  CHECK(colon != NULL);
  to.sin_port = htons((uint16_t)atoi(colon + 1));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  w.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  CHECK(w.fd >= 0 && connect(w.fd, (struct sockaddr *)&to, sizeof to) == 0);
  return &w;
}

static uint64_t total(const lmm_answers *a) {
  lmm_answers_stats s;
  lmm_answers_get_stats(a, &s);
  return s.accepted + s.duplicate + s.late + s.unknown + s.malformed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  world *w = setup();
  uint64_t before = total(w->a);
  uint8_t reply[2048];

  delivered = 0;
  if (size > 0 && data[0] >> 6 == 1) {
    CHECK(send(w->fd, data, size, 0) == (ssize_t)size || errno == EMSGSIZE);
    /* Loopback queued it before send() returned: one turn without waiting serves it. */
    CHECK(lmm_ctx_run_once(w->ctx, 0) == LMM_OK);
    while (recv(w->fd, reply, sizeof reply, 0) > 0)
      ; /* the receiver's answer, or an RST */
  } else {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ql = nl ? (size_t)(nl - data) : size;
    char *q = malloc(ql + 1);
    CHECK(q != NULL);
    memcpy(q, data, ql);
    q[ql] = '\0';
    uint8_t code = lmm_answers_handle(w->a, q, 110, nl ? nl + 1 : NULL, nl ? size - ql - 1 : 0);
    CHECK(code == 0x44 || code == 0x80 || code == 0x84);
    CHECK(total(w->a) == before + 1);
    free(q);
  }
  CHECK(total(w->a) <= before + 1 && delivered <= 1);
  return 0;
}
