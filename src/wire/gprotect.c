/* gprotect.c - protected group messages (docs/protocol.md section 6): the key derivation, the
 * seal and open of one CoAP message, and the receiver's replay window. OSCORE (RFC 8613) where
 * it fits: its HKDF info, its nonce from the Partial IV, its AEAD; our own option and AAD. */
#include "lmm_wire/gprotect.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/ccm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

/* ------------------------------------------------------------ derivation */

/* A CBOR head of major type `major` and argument `v` (v < 65536) at `p`; its length. */
static size_t cbor_head(uint8_t *p, uint8_t major, size_t v) {
  if (v < 24) return p[0] = (uint8_t)(major << 5 | v), 1;
  if (v < 256) return p[0] = (uint8_t)(major << 5 | 24), p[1] = (uint8_t)v, 2;
  p[0] = (uint8_t)(major << 5 | 25), p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)v;
  return 3;
}

/* OSCORE's info (RFC 8613 section 3.2.1), [id, id_context, alg_aead, type, L], with the sender
 * ID empty (the adapter is the group's only sender) and the Group ID as ID Context. */
static lmm_err hkdf(const uint8_t *secret, size_t len, const char *gid, const char *type,
                    uint8_t *out, size_t n) {
  uint8_t info[16 + LMMW_GP_GROUP_MAX + 16];
  size_t gl = strlen(gid), tl = strlen(type), k = 0;
  info[k++] = 0x85;                /* array(5) */
  info[k++] = 0x40;                /* id: empty bstr */
  k += cbor_head(info + k, 2, gl); /* id_context: bstr */
  memcpy(info + k, gid, gl), k += gl;
  info[k++] = LMMW_GP_ALG;         /* alg_aead: 10 */
  k += cbor_head(info + k, 3, tl); /* type: tstr */
  memcpy(info + k, type, tl), k += tl;
  k += cbor_head(info + k, 0, n); /* L */
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  /* OSCORE's default Master Salt is empty. */
  return md && mbedtls_hkdf(md, NULL, 0, secret, len, info, k, out, n) == 0 ? LMM_OK : LMM_ERR_ARG;
}

lmm_err lmmw_gp_derive(const uint8_t *secret, size_t len, const char *group_id, lmmw_gp_key *out) {
  lmmw_gp_key k;
  if (!secret || !group_id || !out || len < LMMW_GP_SECRET_MIN || len > LMMW_GP_SECRET_MAX ||
      !group_id[0] || strlen(group_id) > LMMW_GP_GROUP_MAX)
    return LMM_ERR_ARG;
  lmm_err rc = hkdf(secret, len, group_id, "Key", k.key, sizeof k.key);
  if (rc == LMM_OK) rc = hkdf(secret, len, group_id, "IV", k.iv, sizeof k.iv);
  if (rc == LMM_OK) rc = hkdf(secret, len, group_id, "KeyID", k.kid, sizeof k.kid);
  if (rc == LMM_OK) *out = k;
  memset(&k, 0, sizeof k);
  return rc;
}

/* ------------------------------------------------------------ the message */

/* OSCORE's nonce (RFC 8613 section 5.2): size of the sender ID (0), the ID left-padded to 7
 * bytes, the Partial IV left-padded to 5, XOR the Common IV. */
static void nonce(const lmmw_gp_key *k, uint64_t seq, uint8_t out[LMMW_GP_NONCE_LEN]) {
  memcpy(out, k->iv, LMMW_GP_NONCE_LEN);
  for (unsigned b = 0; b < 5; b++)
    out[LMMW_GP_NONCE_LEN - 1 - b] ^= (uint8_t)(seq >> (8 * b));
}

/* The Partial IV's bytes: the sequence number big-endian without leading zeros, at least one. */
static size_t piv_len(uint64_t seq) {
  size_t n = 1;
  while (n < 5 && (seq >> (8 * n)) != 0)
    n++;
  return n;
}

/* AAD: version, algorithm, the outer first byte (version, type, token length) and code, the
 * token (what the members' answers name), the option's value (Key ID, Partial IV). The message
 * ID is left out, as OSCORE leaves it: it only tells retransmissions apart. */
static size_t aad(const uint8_t *outer, size_t tkl, const uint8_t *opt, size_t optlen,
                  uint8_t *out) {
  size_t k = 0;
  out[k++] = LMMW_GP_VERSION, out[k++] = LMMW_GP_ALG;
  out[k++] = outer[0], out[k++] = outer[1];
  memcpy(out + k, outer + 4, tkl), k += tkl;
  memcpy(out + k, opt, optlen), k += optlen;
  return k;
}

#define AAD_MAX   (4u + 8u + 8u)
#define OPT_DELTA (LMMW_GP_OPTION - 269u) /* the option's 2-byte extended delta */

lmm_err lmmw_gp_seal(const lmmw_gp_key *k, uint64_t seq, const uint8_t *msg, size_t len,
                     uint8_t **out, size_t *out_len) {
  if (!k || !msg || !out || !out_len || len < 4 || seq > LMMW_GP_SEQ_MAX) return LMM_ERR_ARG;
  size_t tkl = msg[0] & 0x0f;
  uint8_t code = msg[1];
  /* A NON request, as every group message is: what the receiver would refuse is not sealed. */
  if ((msg[0] >> 6) != 1 || ((msg[0] >> 4) & 3) != 1 || tkl < 1 || tkl > 8 || len < 4 + tkl ||
      code == 0 || (code >> 5) != 0)
    return LMM_ERR_ARG;
  size_t rest = len - 4 - tkl, n = piv_len(seq);
  size_t optlen = 3 + n, plain = 1 + rest;
  size_t total = 4 + tkl + 3 + optlen + 1 + plain + LMMW_GP_TAG_LEN;
  uint8_t *o = malloc(total), *p = malloc(plain);
  if (!o || !p) {
    free(o), free(p);
    return LMM_ERR_NOMEM;
  }
  memcpy(o, msg, 4 + tkl);
  o[1] = 0x02; /* POST: the real method travels encrypted, as OSCORE does it */
  uint8_t *opt = o + 4 + tkl;
  opt[0] = (uint8_t)(14 << 4 | optlen), opt[1] = (uint8_t)(OPT_DELTA >> 8);
  opt[2] = (uint8_t)OPT_DELTA;
  uint8_t *v = opt + 3;
  v[0] = (uint8_t)(LMMW_GP_VERSION << 4 | n);
  memcpy(v + 1, k->kid, LMMW_GP_KID_LEN);
  for (size_t b = 0; b < n; b++)
    v[3 + b] = (uint8_t)(seq >> (8 * (n - 1 - b)));
  uint8_t *ct = v + optlen;
  *ct++ = 0xff;
  p[0] = code;
  memcpy(p + 1, msg + 4 + tkl, rest);
  uint8_t iv[LMMW_GP_NONCE_LEN], ad[AAD_MAX];
  nonce(k, seq, iv);
  size_t adl = aad(o, tkl, v, optlen, ad);
  mbedtls_ccm_context ccm;
  mbedtls_ccm_init(&ccm);
  int e = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, k->key, 8 * LMMW_GP_KEY_LEN);
  if (!e)
    e = mbedtls_ccm_encrypt_and_tag(&ccm, plain, iv, sizeof iv, ad, adl, p, ct, ct + plain,
                                    LMMW_GP_TAG_LEN);
  mbedtls_ccm_free(&ccm);
  memset(p, 0, plain);
  free(p);
  if (e) {
    free(o);
    return LMM_ERR_ARG;
  }
  *out = o, *out_len = total;
  return LMM_OK;
}

/* Where the parts of a protected message are. */
typedef struct outer {
  size_t tkl;
  const uint8_t *opt; /* the option's value */
  size_t optlen;
  const uint8_t *ct; /* ciphertext then tag */
  size_t ctlen;
} outer;

/* Walks the options of a CoAP message: LMMW_GP_OK when the Group Protection option is there
 * (then it must be the only option, followed by a payload), UNPROTECTED when it is not. */
static lmmw_gp_verdict parse(const uint8_t *m, size_t len, outer *o, lmmw_gp_hdr *h) {
  memset(o, 0, sizeof *o);
  memset(h, 0, sizeof *h);
  if (!m || len < 4 || (m[0] >> 6) != 1 || (m[0] & 0x0f) > 8 || len < 4u + (m[0] & 0x0f))
    return LMMW_GP_MALFORMED;
  o->tkl = m[0] & 0x0f;
  size_t at = 4 + o->tkl, number = 0, count = 0;
  bool found = false;
  while (at < len && m[at] != 0xff) {
    size_t d = m[at] >> 4, l = m[at] & 0x0f;
    at++;
    if (d == 15 || l == 15) return LMMW_GP_MALFORMED;
    size_t *f[2] = {&d, &l};
    for (int j = 0; j < 2; j++) { /* extended delta, then extended length */
      if (*f[j] == 13) {
        if (at >= len) return LMMW_GP_MALFORMED;
        *f[j] = 13u + m[at++];
      } else if (*f[j] == 14) {
        if (at + 1 >= len) return LMMW_GP_MALFORMED;
        *f[j] = 269u + ((size_t)m[at] << 8 | m[at + 1]), at += 2;
      }
    }
    if (l > len - at) return LMMW_GP_MALFORMED;
    number += d, count++;
    if (number == LMMW_GP_OPTION) o->opt = m + at, o->optlen = l, found = true;
    at += l;
  }
  if (!found) return LMMW_GP_UNPROTECTED;
  /* Ours is the one and only outer option, on a NON POST; its value: version and Partial IV
   * length, Key ID, Partial IV. */
  const uint8_t *v = o->opt;
  size_t n = o->optlen >= 1 ? (v[0] & 0x0f) : 0;
  if (count != 1 || ((m[0] >> 4) & 3) != 1 || m[1] != 0x02 || o->optlen < 4 ||
      (v[0] >> 4) != LMMW_GP_VERSION || n < 1 || n > 5 || o->optlen != 3 + n || at >= len)
    return LMMW_GP_MALFORMED;
  o->ct = m + at + 1, o->ctlen = len - at - 1;
  if (o->ctlen < 1 + LMMW_GP_TAG_LEN) return LMMW_GP_MALFORMED;
  memcpy(h->kid, v + 1, LMMW_GP_KID_LEN);
  for (size_t b = 0; b < n; b++)
    h->seq = h->seq << 8 | v[3 + b];
  return LMMW_GP_OK;
}

lmmw_gp_verdict lmmw_gp_peek(const uint8_t *msg, size_t len, lmmw_gp_hdr *h) {
  outer o;
  lmmw_gp_hdr tmp;
  lmmw_gp_verdict r = parse(msg, len, &o, h ? h : &tmp);
  if (r != LMMW_GP_OK && h) memset(h, 0, sizeof *h);
  return r;
}

lmmw_gp_verdict lmmw_gp_open(const lmmw_gp_key *k, const uint8_t *msg, size_t len, uint8_t **out,
                             size_t *out_len, uint64_t *seq) {
  outer o;
  lmmw_gp_hdr h;
  lmmw_gp_verdict r = parse(msg, len, &o, &h);
  if (r != LMMW_GP_OK) return r;
  if (seq) *seq = h.seq;
  if (!k || !out || !out_len) return LMMW_GP_MALFORMED;
  if (memcmp(h.kid, k->kid, LMMW_GP_KID_LEN)) return LMMW_GP_OTHER_KEY;
  size_t plain = o.ctlen - LMMW_GP_TAG_LEN;
  uint8_t *p = malloc(4 + o.tkl + plain);
  if (!p) return LMMW_GP_MALFORMED;
  uint8_t iv[LMMW_GP_NONCE_LEN], ad[AAD_MAX];
  nonce(k, h.seq, iv);
  size_t adl = aad(msg, o.tkl, o.opt, o.optlen, ad);
  mbedtls_ccm_context ccm;
  mbedtls_ccm_init(&ccm);
  int e = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, k->key, 8 * LMMW_GP_KEY_LEN);
  /* The plaintext goes after the header's room: code first, then options and payload. */
  uint8_t *pt = p + 3 + o.tkl;
  if (!e)
    e = mbedtls_ccm_auth_decrypt(&ccm, plain, iv, sizeof iv, ad, adl, o.ct, pt, o.ct + plain,
                                 LMMW_GP_TAG_LEN);
  mbedtls_ccm_free(&ccm);
  /* A request code inside; an empty code or a response would be the sender's bug, or a key
   * held by a member that forges (docs/security.md): refused all the same. */
  if (e || pt[0] == 0 || (pt[0] >> 5) != 0) {
    free(p);
    return e ? LMMW_GP_BAD_TAG : LMMW_GP_MALFORMED;
  }
  uint8_t code = pt[0];
  memcpy(p, msg, 4 + o.tkl); /* header and token; pt[0] (the code) is overwritten last */
  p[1] = code;
  *out = p, *out_len = 4 + o.tkl + plain - 1;
  return LMMW_GP_OK;
}

/* ------------------------------------------------------------ replay window */

bool lmmw_gp_window_fresh(const lmmw_gp_window *w, uint64_t seq) {
  if (!w->any || seq > w->top) return true;
  uint64_t back = w->top - seq;
  return back < LMMW_GP_WINDOW && !((w->seen >> back) & 1u);
}

void lmmw_gp_window_accept(lmmw_gp_window *w, uint64_t seq) {
  if (!w->any) {
    w->any = true, w->top = seq, w->seen = 1;
  } else if (seq > w->top) {
    uint64_t up = seq - w->top;
    w->seen = up >= LMMW_GP_WINDOW ? 1 : (w->seen << up) | 1;
    w->top = seq;
  } else if (w->top - seq < LMMW_GP_WINDOW) {
    w->seen |= (uint64_t)1 << (w->top - seq);
  }
}
