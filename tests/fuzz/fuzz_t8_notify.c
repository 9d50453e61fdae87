/* fuzz_t8_notify.c - libFuzzer target for the T8 notification receiver: the input is the body
 * of a POST as the SCEF sends it, handed to lmm_t8_notifier_handle_request() at the base URL,
 * at a per-delivery URL (awaiting its 201, or bound), at an unknown one or elsewhere, of a
 * strict receiver or one with accept_base; its first byte picks where, which receiver and with
 * which Content-Type. Whatever the body, the answer must be one of the documented statuses, an
 * error must carry a ProblemDetails of that status, a strict receiver must refuse everything
 * but its delivery's own URL, an accepted one must reach a handler exactly once (held ones when
 * their 201 comes, unless a strict receiver then finds they name another delivery, which it
 * counts), and the receiver must count it. The body also goes through the notification codecs'
 * round trip. */
#include "fuzz_t8.h"

#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/t8.h"
#include "t8/notifier_internal.h"

#define LINK                                                                                       \
  "http://scef.example/3gpp-group-message-delivery-mb2/v1/as1/tmgi-allocation/0a1b2c00101/"        \
  "delivery-via-mbms/7"
#define PATH   "/t8/notifications"
#define NOBODY "0123456789abcdef0123456789abcdef" /* a destination never handed out */

static int events;
static char last_link[512];

static void on_delivery(void *user, const char *transaction, bool delivered) {
  (void)user, (void)delivered;
  CHECK(transaction != NULL && transaction[0] != '\0');
  snprintf(last_link, sizeof last_link, "%s", transaction);
  events++;
}

static void on_test(void *user, const char *subscription) {
  (void)user;
  CHECK(subscription != NULL && subscription[0] != '\0');
  snprintf(last_link, sizeof last_link, "%s", subscription);
  events++;
}

static const lmm_t8_notifier_handlers handlers = {on_delivery, on_test};

/* Two receivers for the whole run, strict and with accept_base: their listeners stay idle,
 * every request comes through the host's entry point. */
static lmm_t8_notifier *receiver(bool accept_base) {
  static lmm_ctx *ctx;
  static lmm_t8_notifier *n[2];
  lmm_t8_notifier_config cfg = LMM_T8_NOTIFIER_CONFIG_DEFAULT;
  lmm_ctx_config cc = LMM_CTX_CONFIG_DEFAULT;

  if (n[accept_base] != NULL) return n[accept_base];
  cc.seed = 1;
  if (ctx == NULL) {
    CHECK(lmm_global_init() == LMM_OK);
    CHECK(lmm_ctx_new(&cc, &ctx) == LMM_OK);
  }
  cfg.path = PATH;
  cfg.accept_base = accept_base;
  CHECK(lmm_t8_notifier_new(ctx, &cfg, &handlers, NULL, &n[accept_base]) == LMM_OK);
  return n[accept_base];
}

static void fuzz_notifications(const char *s, size_t n) {
  char *t1 = NULL, *t2 = NULL, *json = NULL;
  bool d1 = false, d2 = false;
  lmmw_t8_err e;

  if (decoded(lmmw_t8_notification_decode(s, n, &t1, &d1, &e)) == LMM_OK) {
    CHECK(lmmw_t8_notification_encode(t1, d1, &json) == LMM_OK);
    CHECK(lmmw_t8_notification_decode(json, strlen(json), &t2, &d2, &e) == LMM_OK);
    CHECK(str_eq(t1, t2) && d1 == d2);
    free(json);
    free(t1);
    free(t2);
  } else {
    check_err(&e);
    CHECK(t1 == NULL);
  }
  t1 = t2 = NULL;
  if (decoded(lmmw_t8_test_notification_decode(s, n, &t1, &e)) == LMM_OK) {
    CHECK(lmmw_t8_test_notification_encode(t1, &json) == LMM_OK);
    CHECK(lmmw_t8_test_notification_decode(json, strlen(json), &t2, &e) == LMM_OK);
    CHECK(str_eq(t1, t2));
    free(json);
    free(t1);
    free(t2);
  } else {
    check_err(&e);
    CHECK(t1 == NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const types[] = {NULL, "application/json", "application/json; charset=utf-8",
                                      "text/plain"};
  lmm_t8_notifier *n;
  lmm_t8_notifier_stats before, after, flushed;
  char token[LMMI_DEST_TOKEN_LEN + 1], path[128], *url = NULL, *problem = NULL;
  const char *body, *p = NULL;
  unsigned sel, where;
  bool expect, bound, held, strict;
  size_t len;
  int status;

  if (size == 0) return 0;
  sel = data[0];
  body = (const char *)data + 1;
  len = size - 1;
  fuzz_notifications(body, len);

  where = sel & 7;  /* 0 NULL, 1 base, 2 base?query, 3 own URL, 4 unknown URL, 5+ elsewhere */
  expect = sel & 8; /* the delivery's link is registered */
  bound = sel & 16; /* its destination's 201 came, and was handled, before the notification */
  strict = !(sel & 128);
  n = receiver(!strict);
  if (expect) CHECK(lmm_t8_notifier_expect(n, LINK) == LMM_OK);
  CHECK(lmmi_notifier_reserve(n, token, &url) == LMM_OK);
  free(url);
  if (bound) { /* as the client does: bound before the create's callback, flushed after it */
    lmmi_notifier_bind(n, token, LINK);
    lmmi_notifier_flush(n, token, LINK);
  }
  switch (where) {
  case 0:
    break;
  case 1:
    p = PATH;
    break;
  case 2:
    p = PATH "?x=1";
    break;
  case 3:
    snprintf(path, sizeof path, "%s/%s", PATH, token);
    p = path;
    break;
  case 4:
    p = PATH "/" NOBODY;
    break;
  default:
    p = "/elsewhere";
  }

  lmm_t8_notifier_get_stats(n, &before);
  events = 0;
  last_link[0] = '\0';
  status = lmm_t8_notifier_handle_request(n, p, types[(sel >> 5) & 3], body, len, &problem);
  lmm_t8_notifier_get_stats(n, &after);
  CHECK(status == 204 || status == 400 || status == 404 || status == 415 || status == 503);
  /* Strict: nothing but the delivery's own URL gets past the path, whatever the body. */
  if (strict && where != 3) CHECK(status == 404);
  if (status == 204) {
    CHECK(problem == NULL);
    CHECK(after.accepted == before.accepted + 1);
    /* Held at a destination whose 201 has not come: handed on once it comes, unless a strict
     * receiver then finds it names another delivery (dropped and counted). */
    held = where == 3 && !bound;
    CHECK(events == (held ? 0 : 1));
    if (held) {
      lmmi_notifier_bind(n, token, LINK);
      lmmi_notifier_flush(n, token, LINK);
      lmm_t8_notifier_get_stats(n, &flushed);
      if (strict)
        CHECK(events + (int)(flushed.mismatched - after.mismatched) == 1);
      else
        CHECK(events == 1);
    }
    /* At its own URL a notification is the URL's delivery's, whatever link it names. */
    if (where == 3 && events == 1) CHECK(strcmp(last_link, LINK) == 0);
  } else {
    lmm_problem pd;
    lmmw_t8_err e;
    CHECK(events == 0 && after.accepted == before.accepted);
    CHECK(problem != NULL);
    CHECK(lmmw_t8_problem_decode(problem, strlen(problem), &pd, &e) == LMM_OK);
    CHECK(pd.status == status);
    lmm_problem_clear(&pd);
  }
  lmm_free(problem);
  lmmi_notifier_release(n, token);
  lmm_t8_notifier_forget(n, LINK);
  return 0;
}
