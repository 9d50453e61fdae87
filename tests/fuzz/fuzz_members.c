/* fuzz_members.c - libFuzzer target for the operators' members file (docs/members-file.md):
 * whatever parses must hold members the rest of the library can trust (a valid member ID, a
 * coap:// or coaps:// URI, PSK credentials exactly for coaps://, a known format, no duplicate),
 * format back to a file that parses to the same members, and copy; whatever fails must say
 * which line and leave nothing behind. The first line also goes to the member ID parser. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static bool str_eq(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool member_eq(const lmm_member *a, const lmm_member *b) {
  return str_eq(a->ep, b->ep) && a->oid == b->oid && str_eq(a->uri, b->uri) &&
         str_eq(a->psk_identity, b->psk_identity) && a->psk_key_len == b->psk_key_len &&
         (a->psk_key_len == 0 || memcmp(a->psk_key, b->psk_key, a->psk_key_len) == 0) &&
         a->format == b->format;
}

static void check_member(const lmm_member *m) {
  char id[320], *ep = NULL;
  uint16_t oid = 0;
  bool secure;

  CHECK(m->ep != NULL && m->ep[0] != '\0' && m->uri != NULL);
  secure = strncmp(m->uri, "coaps://", 8) == 0;
  CHECK(secure || strncmp(m->uri, "coap://", 7) == 0);
  CHECK(secure == (m->psk_identity != NULL) && secure == (m->psk_key_len > 0));
  CHECK(m->psk_key_len <= 64 && (m->psk_key_len == 0 || m->psk_key != NULL));
  CHECK(m->format == LMM_FMT_SENML_JSON || m->format == LMM_FMT_TLV);
  /* The member ID formats to text that parses back to it. */
  lmm_member_id_format(m, id, sizeof id);
  if (strlen(id) < sizeof id - 1) {
    CHECK(lmm_member_id_parse(id, &ep, &oid, NULL, 0) == LMM_OK);
    CHECK(strcmp(ep, m->ep) == 0 && oid == m->oid);
    lmm_free(ep);
  }
}

static void member_id(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t len = nl ? (size_t)(nl - data) : size;
  char *s = malloc(len + 1), *ep = NULL, why[200] = "";
  uint16_t oid = 7;

  CHECK(s != NULL);
  memcpy(s, data, len);
  s[len] = '\0';
  if (lmm_member_id_parse(s, &ep, &oid, why, sizeof why) == LMM_OK) {
    CHECK(ep != NULL && ep[0] != '\0' && strchr(ep, '/') == NULL && oid != 65535);
    lmm_free(ep);
  } else {
    CHECK(ep == NULL && oid == 7 && why[0] != '\0');
  }
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lmm_member *m = (lmm_member *)&m, *back = NULL, copy;
  size_t n = 12345, nb = 0;
  char why[256] = "";
  char *text;

  member_id(data, size);
  /* The bytes go in as they are (no NUL after them), so an over-read shows up under ASan. */
  lmm_err rc = lmm_members_parse((const char *)data, size, &m, &n, why, sizeof why);
  if (rc != LMM_OK) {
    CHECK(rc == LMM_ERR_ARG);
    CHECK(m == (lmm_member *)&m && n == 12345); /* nothing in *out */
    CHECK(strncmp(why, "line ", 5) == 0);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    check_member(&m[i]);
    CHECK(lmm_member_copy(&copy, &m[i]) == LMM_OK);
    CHECK(member_eq(&copy, &m[i]));
    lmm_member_clear(&copy);
  }
  text = lmm_members_format(m, n);
  CHECK(text != NULL);
  if (lmm_members_parse(text, strlen(text), &back, &nb, why, sizeof why) != LMM_OK) {
    fprintf(stderr, "formatted members do not parse: %s\n%s", why, text);
    abort();
  }
  CHECK(nb == n);
  for (size_t i = 0; i < n; i++)
    CHECK(member_eq(&m[i], &back[i]));
  lmm_free(text);
  lmm_members_free(back, nb);
  lmm_members_free(m, n);
  return 0;
}
