/* group_protect.c - protected group messages on the device side (docs/protocol.md section 6):
 * each Group Mgmt instance's key, derived from its Group Key; a datagram opened once per key;
 * the counts of what was dropped, for --stats-json. The checks themselves, in their order,
 * are in group.c's on_datagram(). */
#include "group_internal.h"

#include <stdlib.h>
#include <string.h>

void sim_gp_rekey(sim_gm_inst *gi) {
  lmmw_gp_key k;
  const lmm_group_mgmt *g = &gi->g;
  if (!g->group_key || !g->group_id ||
      lmmw_gp_derive(g->group_key, g->group_key_len, g->group_id, &k) != LMM_OK) {
    gi->keyed = false;
    memset(&gi->key, 0, sizeof gi->key);
    memset(&gi->win, 0, sizeof gi->win);
    return;
  }
  /* Forgetting the window for the same key would let every message sent so far be replayed
   * after each campaign's Group Mgmt write. */
  if (!gi->keyed || memcmp(&k, &gi->key, sizeof k)) memset(&gi->win, 0, sizeof gi->win);
  gi->key = k, gi->keyed = true;
}

int sim_gp_check(const lmm_group_mgmt *g, char *why, size_t cap) {
  lmmw_gp_key k;
  if (!g->group_key) return 0;
  if (g->group_id && lmmw_gp_derive(g->group_key, g->group_key_len, g->group_id, &k) == LMM_OK)
    return 0;
  return sim_refuse(why, cap, COAP_RESPONSE_CODE(400),
                    "Group Key (12) needs a Group ID (0) of 1 to %u bytes", LMMW_GP_GROUP_MAX);
}

void sim_gp_open_clear(sim_gp_open *c) {
  if (c->pdu) coap_delete_pdu(c->pdu);
  memset(c, 0, sizeof *c);
}

const sim_gp_open *sim_gp_open_for(sim_gp_open *c, const sim_gm_inst *gi, const uint8_t *data,
                                   size_t len) {
  if (c->tried && !memcmp(&c->key, &gi->key, sizeof c->key)) return c;
  sim_gp_open_clear(c);
  c->tried = true, c->key = gi->key;
  uint8_t *plain = NULL;
  size_t plen = 0;
  c->v = lmmw_gp_open(&gi->key, data, len, &plain, &plen, &c->seq);
  if (c->v != LMMW_GP_OK) return c;
  /* Genuine, yet it must be what an unprotected group request must be (group.c). */
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, plen);
  coap_bin_const_t tok;
  if (!pdu || !coap_pdu_parse(COAP_PROTO_UDP, plain, plen, pdu) ||
      coap_pdu_get_type(pdu) != COAP_MESSAGE_NON || coap_pdu_get_code(pdu) == 0 ||
      (coap_pdu_get_code(pdu) >> 5) != 0 || (tok = coap_pdu_get_token(pdu)).length == 0 ||
      tok.length > 8) {
    if (pdu) coap_delete_pdu(pdu);
    c->v = LMMW_GP_MALFORMED;
  } else {
    sim_blob_classify(pdu, false, &c->bm);
    if (c->bm.kind == SIM_BLOB_MALFORMED) {
      coap_delete_pdu(pdu);
      c->v = LMMW_GP_MALFORMED;
    } else {
      c->pdu = pdu;
    }
  }
  free(plain);
  return c;
}

static void json(FILE *fp, uint64_t ok, uint64_t forged, uint64_t replayed, uint64_t unprot,
                 uint64_t other) {
  fprintf(fp,
          "\"protect\":{\"accepted\":%llu,\"forged\":%llu,\"replayed\":%llu,"
          "\"unprotected\":%llu,\"other_key\":%llu}",
          (unsigned long long)ok, (unsigned long long)forged, (unsigned long long)replayed,
          (unsigned long long)unprot, (unsigned long long)other);
}

void sim_gp_json_totals(const sim_fleet *f, FILE *fp) {
  uint64_t t[5] = {0};
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    t[0] += c->gp_ok, t[1] += c->gp_forged, t[2] += c->gp_replayed;
    t[3] += c->gp_unprotected, t[4] += c->gp_other_key;
  }
  json(fp, t[0], t[1], t[2], t[3], t[4]);
}

void sim_gp_json_device(const sim_counters *c, FILE *fp) {
  json(fp, c->gp_ok, c->gp_forged, c->gp_replayed, c->gp_unprotected, c->gp_other_key);
}
