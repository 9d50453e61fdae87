/* channel.c - the way to a group: a socket to its IP multicast address, or a T8 delivery on its
 * TMGI. An operation campaign's one request usually rides in the delivery's JSON body; a
 * firmware campaign's thousands of fragments (and a request too large for the body) go as
 * datagrams to the delivery's MB2-U port. Both kinds of campaign send through this one piece. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/core.h"

static void gmd_created(void *user, const lmm_t8_reply *rep) {
  lmmi_channel *ch = user;
  ch->req = NULL;
  if (rep->result->err != LMM_OK) {
    /* Named with the SCEF's URL: an operator with several SCEFs (or a test) sees which one
     * went away or said no, after how many attempts. */
    char *d = lmm_t8_result_describe(rep->result), why[512];
    snprintf(why, sizeof why, "group message request to the SCEF at %s: %s",
             lmm_t8_client_base_url(ch->t8), d ? d : "failed");
    lmm_free(d);
    ch->fn(ch->owner, rep->result->err, why);
    return;
  }
  free(ch->delivery);
  ch->delivery = rep->gmd->self ? strdup(rep->gmd->self) : NULL;
  if (ch->inline_sent) return ch->fn(ch->owner, LMM_OK, NULL);
  if (rep->gmd->scef_port <= 0)
    return ch->fn(ch->owner, LMM_ERR_PROTO, "the SCEF offered no MB2-U port");
  lmm_err rc = lmmi_dest_user_plane(&ch->dest, rep->gmd);
  ch->fn(ch->owner, rc, rc == LMM_OK ? NULL : "cannot reach the SCEF's MB2-U address");
}

lmm_err lmmi_channel_open(lmmi_channel *ch, const uint8_t *inline_msg, size_t len, int64_t start_s,
                          lmmi_channel_fn fn, void *owner) {
  lmmi_channel_stop(ch);
  ch->fn = fn, ch->owner = owner, ch->inline_sent = false;
  if (ch->via == LMM_VIA_MULTICAST) {
    if (inline_msg) return LMM_ERR_ARG;
    return lmmi_dest_multicast(&ch->dest, ch->group->multicast_address, ch->group->multicast_port,
                               ch->mcast_if);
  }
  if (ch->via != LMM_VIA_MBMS || !ch->t8 || !ch->tmgi) return LMM_ERR_ARG;
  lmm_gmd g = {.scef_port = -1};
  g.external_group_id = ch->group->external_group_id;
  g.message_delivery_start_time = start_s;
  uint8_t *sealed = NULL;
  if (inline_msg) {
    if (ch->prot) {
      lmm_err rc = lmmi_protect_seal(ch->prot, inline_msg, len, &sealed, &len);
      if (rc != LMM_OK) return rc;
      inline_msg = sealed;
    }
    g.has_payload = true, g.payload = (uint8_t *)inline_msg, g.payload_len = len;
    ch->inline_sent = true;
    ch->bytes += len;
  }
  lmm_err rc = lmm_t8_gmd_create_async(ch->t8, ch->tmgi, &g, gmd_created, ch, &ch->req);
  free(sealed); /* the request holds its own copy of the body */
  return rc;
}

lmm_err lmmi_channel_send(lmmi_channel *ch, const void *msg, size_t len) {
  uint8_t *sealed = NULL;
  if (!ch->dest.open) return LMM_ERR_STATE;
  /* Every group datagram leaves here: sealed with the next sequence number of the group's
   * key, so no path to the group can forget it. */
  if (ch->prot) {
    lmm_err rc = lmmi_protect_seal(ch->prot, msg, len, &sealed, &len);
    if (rc != LMM_OK) return rc;
    msg = sealed;
  }
  lmm_err rc = lmmi_dest_send(&ch->dest, msg, len);
  if (rc == LMM_OK) ch->bytes += len;
  free(sealed);
  return rc;
}

lmm_err lmmi_channel_send_op(lmmi_channel *ch, lmm_ctx *ctx, const lmm_op *op,
                             const uint8_t token[LMMI_TOKEN_LEN]) {
  uint8_t *msg = NULL;
  size_t len = 0;
  lmm_err rc =
      lmmi_coap_group_request(op, (uint16_t)lmmi_random_below(ctx, 65536), token, &msg, &len);
  if (rc == LMM_OK) rc = lmmi_channel_send(ch, msg, len);
  free(msg);
  return rc;
}

static void gmd_deleted(void *user, const lmm_t8_reply *rep) {
  (void)user, (void)rep; /* best effort: the delivery ends on its own at the SCEF anyway */
}

void lmmi_channel_end_delivery(lmmi_channel *ch) {
  if (ch->via != LMM_VIA_MBMS || !ch->delivery || !ch->tmgi || !ch->t8) return;
  const char *txn = strrchr(ch->delivery, '/');
  lmm_t8_request *req = NULL;
  if (txn) lmm_t8_gmd_delete_async(ch->t8, ch->tmgi, txn + 1, gmd_deleted, NULL, &req);
}

void lmmi_channel_stop(lmmi_channel *ch) {
  if (ch->req) lmm_t8_request_cancel(ch->req), ch->req = NULL;
  lmmi_dest_close(&ch->dest);
}

void lmmi_channel_free(lmmi_channel *ch) {
  lmmi_channel_stop(ch);
  free(ch->delivery), ch->delivery = NULL;
}
