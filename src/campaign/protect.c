/* protect.c - the policy, key and sequence numbers of a group's protected messages
 * (docs/protocol.md section 6, docs/security.md). */
#include "campaign/protect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_secret.h"
#include "store/store_seq.h"

#define KEY_KIND "group"
#define KEY_LEN  16u /* a fresh group secret: as long as the AES key it makes */

static void wipe(void *p, size_t n) {
  volatile uint8_t *b = p;
  while (n--)
    *b++ = 0;
}

static bool over_dtls(const lmm_member *m) {
  return m->uri && !strncmp(m->uri, "coaps://", 8);
}

/* The key: the stored one, else (members to be written) a new one, kept before it is used. */
static lmm_err take_key(lmmi_protect *p, lmm_ctx *ctx, lmm_store *store, const char *group,
                        bool use_stored, char *why, size_t cap) {
  uint8_t *k = NULL;
  size_t len = 0;
  lmm_err rc = store ? lmmi_store_secret_get(store, KEY_KIND, group, &k, &len) : LMM_ERR_NOTFOUND;
  if (rc == LMM_OK) {
    if (len < LMMW_GP_SECRET_MIN || len > LMMW_GP_SECRET_MAX) {
      snprintf(why, cap, "group %s: its stored key has %zu bytes (16 to 64 expected)", group, len);
      rc = LMM_ERR_STATE;
    } else {
      memcpy(p->secret, k, len), p->secret_len = len;
    }
    wipe(k, len);
    free(k);
    return rc;
  }
  if (rc != LMM_ERR_NOTFOUND) {
    snprintf(why, cap, "group %s: cannot read its key: %s", group, lmm_store_errmsg(store));
    return rc;
  }
  if (use_stored) {
    snprintf(why, cap,
             "group %s has no key yet and its members are not written (skip Group Mgmt): a "
             "protected campaign needs one that writes them first",
             group);
    return LMM_ERR_STATE;
  }
  if ((rc = lmmi_random(ctx, p->secret, KEY_LEN)) != LMM_OK) {
    snprintf(why, cap, "group %s: no random bytes for its key", group);
    return rc;
  }
  p->secret_len = KEY_LEN;
  if (store && (rc = lmmi_store_secret_put(store, KEY_KIND, group, p->secret, KEY_LEN)) != LMM_OK)
    snprintf(why, cap, "group %s: cannot keep its key: %s", group, lmm_store_errmsg(store));
  return rc;
}

lmm_err lmmi_protect_setup(lmmi_protect *p, lmm_ctx *ctx, lmm_store *store, const lmm_group_info *g,
                           const lmm_member *m, size_t n, lmm_protect mode, bool use_stored,
                           char *why, size_t cap) {
  lmmi_protect_free(p);
  if (mode == LMM_PROTECT_OFF) return LMM_OK;
  size_t plain = 0, first = SIZE_MAX;
  for (size_t i = 0; i < n; i++)
    if (!over_dtls(&m[i])) plain++, first = first == SIZE_MAX ? i : first;
  /* The key travels in the Group Mgmt write: over plain CoAP anyone on the path would read it
   * and could then forge to the whole group. */
  if (plain && mode == LMM_PROTECT_ON) {
    snprintf(why, cap,
             "group %s: protected group messages need every member over coaps:// (the key "
             "travels in the Group Mgmt write): member %s is %s",
             g->name, m[first].ep, m[first].uri ? m[first].uri : "without a URI");
    return LMM_ERR_ARG;
  }
  if (plain) {
    lmmi_log(ctx, plain < n ? LMM_LOG_WARN : LMM_LOG_INFO,
             "group %s: group messages not protected: %zu of %zu members over plain coap://",
             g->name, plain, n);
    return LMM_OK;
  }
  if (!g->name || !g->name[0] || strlen(g->name) > LMMW_GP_GROUP_MAX) {
    snprintf(why, cap, "a protected group needs a Group ID of 1 to %u bytes", LMMW_GP_GROUP_MAX);
    return LMM_ERR_ARG;
  }
  lmm_err rc = take_key(p, ctx, store, g->name, use_stored, why, cap);
  if (rc == LMM_OK && lmmw_gp_derive(p->secret, p->secret_len, g->name, &p->key) != LMM_OK) {
    snprintf(why, cap, "group %s: cannot derive its keys", g->name);
    rc = LMM_ERR_ARG;
  }
  if (rc == LMM_OK && !(p->group = strdup(g->name))) {
    snprintf(why, cap, "out of memory");
    rc = LMM_ERR_NOMEM;
  }
  if (rc != LMM_OK) {
    lmmi_protect_free(p);
    return rc;
  }
  p->ctx = ctx, p->store = store;
  lmmi_log(ctx, LMM_LOG_INFO, "group %s: group messages protected (Key ID %02x%02x)", g->name,
           p->key.kid[0], p->key.kid[1]);
  /* Without a store the key is this campaign's own (made just now): its numbers start at 0. */
  p->next = 0, p->end = store ? 0 : LMMW_GP_SEQ_MAX + 1;
  p->on = true;
  return LMM_OK;
}

lmm_err lmmi_protect_seal(lmmi_protect *p, const uint8_t *msg, size_t len, uint8_t **out,
                          size_t *out_len) {
  if (!p->on) return LMM_ERR_STATE;
  if (p->next >= p->end) {
    /* Write-ahead: the block is committed before its first number goes out, so a crash at
     * any point leaves the store past every number sent. */
    uint64_t first;
    lmm_err rc = lmmi_store_seq_reserve(p->store, p->group, LMMI_PROTECT_BLOCK, &first);
    if (rc != LMM_OK) {
      lmmi_log(p->ctx, LMM_LOG_ERROR, "group %s: cannot reserve sequence numbers: %s", p->group,
               lmm_store_errmsg(p->store));
      return rc;
    }
    p->next = first, p->end = first + LMMI_PROTECT_BLOCK;
  }
  lmm_err rc = lmmw_gp_seal(&p->key, p->next, msg, len, out, out_len);
  if (rc == LMM_OK) p->next++, p->sealed++;
  return rc;
}

void lmmi_protect_free(lmmi_protect *p) {
  free(p->group);
  wipe(p, sizeof *p);
}
