/* gw_config.c - the server's Group Mgmt instances on the gateway: Write (PUT replaces, POST
 * updates), Read and Delete of /GM/IID, every value checked before anything is stored, and
 * the instances kept in the store as groups with their members (store_gw.h maps IDs). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"
#include "store/store_gw.h"

/* vsnprintf: a reason cut short is fine, and the compiler does not second-guess it. */
static int say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return n;
}

static char *dupn(const char *s) {
  return s ? strdup(s) : NULL;
}

void lmmi_gw_inst_free(lmmi_gw_inst *in) {
  if (!in) return;
  lmm_group_info_clear(&in->g);
  lmm_members_free(in->m, in->n);
  free(in->target), free(in->gm_tmgi), free(in);
}

lmmi_gw_inst *lmmi_gw_inst_get(lmm_gateway *gw, uint16_t iid) {
  for (size_t i = 0; i < gw->n_inst; i++)
    if (gw->inst[i]->iid == iid) return gw->inst[i];
  return NULL;
}

/* The path part of a Fanout Target ("/fanout/b7" or "coap://gw:5683/fanout/b7") without its
 * outer '/': owned, or NULL with the reason. */
static char *target_path(const char *t, char *why, size_t cap) {
  const char *p = t;
  if (!strncmp(t, "coap://", 7) || !strncmp(t, "coaps://", 8)) {
    p = strchr(strstr(t, "//") + 2, '/');
    if (!p) {
      say(why, cap, "Fanout Target '%s' has no path", t);
      return NULL;
    }
  } else if (*t != '/') {
    say(why, cap, "Fanout Target '%s' is neither a path (/...) nor a coap:// URI", t);
    return NULL;
  }
  while (*p == '/')
    p++;
  size_t n = strlen(p);
  while (n && p[n - 1] == '/')
    n--;
  if (!n || strpbrk(p, "?#") || strstr(p, "//")) {
    say(why, cap, "Fanout Target '%s': its path must be /SEGMENT[/SEGMENT...]", t);
    return NULL;
  }
  return strndup(p, n);
}

static bool ipv4_multicast(const char *a) {
  struct in_addr in;
  return a && inet_pton(AF_INET, a, &in) == 1 && (ntohl(in.s_addr) >> 28) == 14;
}

/* Splits the Member List into members reached as the attached devices are. */
static bool members_of(const lmm_gateway *gw, const char *list, lmm_member **out, size_t *n,
                       char *why, size_t cap) {
  lmm_member *m = NULL;
  size_t k = 0, slots = 1;
  for (const char *c = list; *c; c++)
    slots += *c == ',';
  if (!(m = calloc(slots, sizeof *m))) return say(why, cap, "out of memory"), false;
  const char *p = list;
  while (p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    while (len && (*p == ' ' || *p == '\t'))
      p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
      len--;
    char id[300], w[160], *ep = NULL;
    uint16_t oid;
    if (len >= sizeof id) {
      say(why, cap, "Member List: entry %zu is longer than %zu bytes", k + 1, sizeof id - 1);
      goto fail;
    }
    memcpy(id, p, len), id[len] = '\0';
    if (lmm_member_id_parse(id, &ep, &oid, w, sizeof w) != LMM_OK) {
      say(why, cap, "Member List: '%s': %s", id, w);
      goto fail;
    }
    const lmm_member *d = lmmi_gw_device(gw, ep);
    bool dup = false;
    for (size_t j = 0; j < k && !dup; j++)
      dup = m[j].oid == oid && !strcmp(m[j].ep, ep);
    if (!d || dup) {
      say(why, cap,
          dup ? "Member List: '%s' is listed twice"
              : "Member List: '%s': endpoint '%s' is not a device attached to the gateway",
          id, ep);
      lmm_free(ep);
      goto fail;
    }
    lmm_free(ep);
    if (lmm_member_copy(&m[k], d) != LMM_OK) {
      say(why, cap, "out of memory");
      goto fail;
    }
    m[k++].oid = oid;
    p = comma ? comma + 1 : NULL;
  }
  *out = m, *n = k;
  return true;
fail:
  lmm_members_free(m, k);
  return false;
}

/* Checks instance `iid`'s new values and makes the group and members to store. */
static bool validate(const lmm_gateway *gw, uint16_t iid, const lmm_group_mgmt *v,
                     lmmi_gw_inst *out, char *why, size_t cap) {
  if (!v->group_id || !*v->group_id)
    return say(why, cap, "Group ID (resource 0) is missing"), false;
  if (v->group_type < 0) return say(why, cap, "Group Type (resource 1) is missing"), false;
  if (!v->member_list || !*v->member_list)
    return say(why, cap, "Member List (resource 3) is missing"), false;
  if (!v->fanout_target || !*v->fanout_target)
    return say(why, cap, "Fanout Target (resource 4) is missing"), false;
  if (v->group_type == LMM_GROUP_MBMS &&
      (!v->external_group_id || !strchr(v->external_group_id, '@')))
    return say(why, cap, "an MBMS group needs External Group ID (resource 5) local@domain"), false;
  if (v->group_type == LMM_GROUP_MULTICAST && !ipv4_multicast(v->multicast_address))
    return say(why, cap,
               "an IP multicast group needs Multicast Address (resource 7), an IPv4 "
               "multicast address, not '%s'",
               v->multicast_address ? v->multicast_address : ""),
           false;
  if (!(out->target = target_path(v->fanout_target, why, cap))) return false;
  char gm[8];
  size_t gl = (size_t)snprintf(gm, sizeof gm, "%u", (unsigned)gw->gm_oid);
  if (!strncmp(out->target, gm, gl) && (out->target[gl] == '/' || !out->target[gl]))
    return say(why, cap, "Fanout Target '%s' lies under the Group Mgmt object", v->fanout_target),
           false;
  for (size_t i = 0; i < gw->n_inst; i++) {
    const lmmi_gw_inst *o = gw->inst[i];
    if (o->iid == iid) continue;
    size_t a = strlen(o->target), b = strlen(out->target), s = a < b ? a : b;
    if (!strncmp(o->target, out->target, s) && (o->target[s] == '/' || !o->target[s]) &&
        (out->target[s] == '/' || !out->target[s]))
      return say(why, cap, "Fanout Target '%s' overlaps that of instance %u (/%s)",
                 v->fanout_target, (unsigned)o->iid, o->target),
             false;
    if (!strcmp(o->g.name, v->group_id))
      return say(why, cap, "Group ID '%s' is instance %u's", v->group_id, (unsigned)o->iid), false;
  }
  if (!members_of(gw, v->member_list, &out->m, &out->n, why, cap)) return false;
  if (v->member_number >= 0 && (size_t)v->member_number != out->n)
    return say(why, cap, "Member Number (resource 2) is %lld but Member List has %zu members",
               (long long)v->member_number, out->n),
           false;
  lmm_group_info *g = &out->g;
  g->type = (lmm_group_type)v->group_type;
  g->gm_oid = gw->gm_oid;
  g->multicast_port = v->multicast_port;
  g->response_time_window = v->response_time_window >= 0 ? v->response_time_window : 30;
  g->tmgi_policy = LMM_TMGI_KEEP;
  if (!(g->name = dupn(v->group_id)) ||
      (v->external_group_id && !(g->external_group_id = dupn(v->external_group_id))) ||
      (v->multicast_address && !(g->multicast_address = dupn(v->multicast_address))) ||
      !(g->fanout_target = dupn(v->fanout_target)))
    return say(why, cap, "out of memory"), false;
  if (v->n_schedule) {
    if (!(g->schedule = malloc(v->n_schedule * sizeof *g->schedule)))
      return say(why, cap, "out of memory"), false;
    memcpy(g->schedule, v->schedule, v->n_schedule * sizeof *g->schedule);
    g->n_schedule = v->n_schedule;
  }
  out->iid = iid;
  return true;
}

/* The instance as the server wrote it (and the TMGI the gateway got for it). */
static lmm_err to_gm(const lmmi_gw_inst *in, lmm_group_mgmt *v) {
  char *list = NULL;
  size_t len = 0;
  for (size_t i = 0; i < in->n; i++) {
    char id[300];
    lmm_member_id_format(&in->m[i], id, sizeof id);
    char *nl = realloc(list, len + strlen(id) + 2);
    if (!nl) return free(list), LMM_ERR_NOMEM;
    list = nl;
    len += (size_t)sprintf(list + len, "%s%s", i ? "," : "", id);
  }
  v->member_list = list ? list : strdup("");
  v->group_id = dupn(in->g.name);
  v->group_type = (int)in->g.type;
  v->member_number = (int64_t)in->n;
  v->fanout_target = dupn(in->g.fanout_target);
  v->external_group_id = dupn(in->g.external_group_id);
  v->multicast_address = dupn(in->g.multicast_address);
  v->response_time_window = in->g.response_time_window;
  v->multicast_port = in->g.multicast_port;
  if (in->g.tmgi && (v->tmgi = calloc(1, sizeof *v->tmgi)) &&
      (v->tmgi_riid = calloc(1, sizeof *v->tmgi_riid)) && (v->tmgi[0] = strdup(in->g.tmgi)))
    v->n_tmgi = 1;
  if (in->g.n_schedule && (v->schedule = malloc(in->g.n_schedule * sizeof(int64_t))) &&
      (v->schedule_riid = calloc(in->g.n_schedule, sizeof(uint16_t)))) {
    for (size_t k = 0; k < in->g.n_schedule; k++)
      v->schedule[k] = in->g.schedule[k], v->schedule_riid[k] = (uint16_t)k;
    v->n_schedule = in->g.n_schedule;
  }
  return v->member_list && v->group_id && v->fanout_target ? LMM_OK : LMM_ERR_NOMEM;
}

/* Puts `in` in the store in place of `old` (may be NULL). On a failure the old group is put
 * back when it can be: the store offers no transaction across its calls. */
static lmm_err store_put(lmm_gateway *gw, const lmmi_gw_inst *in, const lmmi_gw_inst *old) {
  lmm_store *s = gw->d.store;
  if (old && lmm_store_group_delete(s, old->g.name) != LMM_OK) return LMM_ERR_DB;
  lmm_err rc = lmm_store_group_create(s, &in->g);
  if (rc == LMM_OK && (rc = lmm_store_members_add(s, in->g.name, in->m, in->n)) != LMM_OK)
    lmm_store_group_delete(s, in->g.name);
  if (rc == LMM_OK && (rc = lmmi_store_gw_set(s, gw->gm_oid, in->iid, in->g.name)) != LMM_OK)
    lmm_store_group_delete(s, in->g.name);
  if (rc != LMM_OK && old && lmm_store_group_create(s, &old->g) == LMM_OK)
    lmm_store_members_add(s, old->g.name, old->m, old->n);
  return rc;
}

static lmm_err inst_add(lmm_gateway *gw, lmmi_gw_inst *in) {
  if (gw->n_inst == gw->cap_inst) {
    size_t cap = gw->cap_inst ? gw->cap_inst * 2 : 8;
    lmmi_gw_inst **n = realloc(gw->inst, cap * sizeof *n);
    if (!n) return LMM_ERR_NOMEM;
    gw->inst = n, gw->cap_inst = cap;
  }
  gw->inst[gw->n_inst++] = in;
  return LMM_OK;
}

static void inst_remove(lmm_gateway *gw, lmmi_gw_inst *in) {
  for (size_t i = 0; i < gw->n_inst; i++)
    if (gw->inst[i] == in) {
      memmove(&gw->inst[i], &gw->inst[i + 1], (gw->n_inst - i - 1) * sizeof *gw->inst);
      gw->n_inst--;
      return;
    }
}

lmm_err lmmi_gw_config_load(lmm_gateway *gw) {
  lmmi_gw_row *rows = NULL;
  size_t n = 0;
  lmm_err rc = lmmi_store_gw_list(gw->d.store, gw->gm_oid, &rows, &n);
  if (rc != LMM_OK) return rc;
  for (size_t i = 0; i < n && rc == LMM_OK; i++) {
    lmmi_gw_inst *in = calloc(1, sizeof *in);
    if (!in) {
      rc = LMM_ERR_NOMEM;
      break;
    }
    char why[200];
    in->iid = rows[i].iid;
    lmm_err e = lmm_store_group_get(gw->d.store, rows[i].group, &in->g);
    if (e == LMM_OK) e = lmm_store_members_get(gw->d.store, rows[i].group, &in->m, &in->n);
    if (e == LMM_OK && !(in->target = target_path(in->g.fanout_target ? in->g.fanout_target : "",
                                                  why, sizeof why)))
      e = LMM_ERR_ARG;
    if (e != LMM_OK) {
      /* A group deleted or spoilt behind the gateway's back: the instance is gone. */
      LMMI_GW_LOG(gw, LMM_LOG_WARN, "gateway: instance %u (group '%s') dropped: %s",
                  (unsigned)rows[i].iid, rows[i].group,
                  e == LMM_ERR_ARG ? why : lmm_store_errmsg(gw->d.store));
      lmmi_gw_inst_free(in);
      if (e == LMM_ERR_NOMEM) rc = e;
      continue;
    }
    if ((rc = inst_add(gw, in)) != LMM_OK) lmmi_gw_inst_free(in);
  }
  lmmi_store_gw_rows_free(rows, n);
  return rc;
}

static int content_format(const coap_pdu_t *req, uint16_t opt) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(req, opt, &it);
  return o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
}

/* POST updates: the stored values, with the resources the request names replaced. */
static lmm_err merged(const lmmi_gw_inst *old, uint16_t oid, const lmm_records *upd,
                      lmm_records *out) {
  lmm_group_mgmt v = LMM_GROUP_MGMT_INIT;
  lmm_records was = {0};
  lmm_err rc = to_gm(old, &v);
  if (rc == LMM_OK) rc = lmm_group_mgmt_to_records(&v, oid, old->iid, &was);
  for (size_t i = 0; rc == LMM_OK && i < was.n; i++) {
    bool replaced = false;
    for (size_t k = 0; k < upd->n && !replaced; k++)
      replaced = upd->items[k].path.rid == was.items[i].path.rid;
    if (!replaced) rc = lmm_records_add(out, &was.items[i].path, &was.items[i].value);
  }
  for (size_t k = 0; rc == LMM_OK && k < upd->n; k++)
    rc = lmm_records_add(out, &upd->items[k].path, &upd->items[k].value);
  lmm_group_mgmt_clear(&v);
  lmm_records_clear(&was);
  return rc;
}

static void do_write(lmm_gateway *gw, uint16_t iid, bool replace, const coap_pdu_t *req,
                     const lmmi_gw_body *body, coap_pdu_t *resp) {
  int fmt = content_format(req, COAP_OPTION_CONTENT_FORMAT);
  size_t len = body->len;
  const uint8_t *data = body->data;
  lmmi_gw_inst *old = lmmi_gw_inst_get(gw, iid);
  if (fmt != LMM_FMT_SENML_JSON && fmt != LMM_FMT_TLV) {
    gw->stats.config_bad++;
    return lmmi_gw_reply(resp, 0x8F,
                         "a Group Mgmt instance is written in SenML-JSON (110) or TLV "
                         "(11542), not content format %d",
                         fmt);
  }
  if (old && old->busy) {
    gw->stats.config_bad++;
    return lmmi_gw_reply(resp, 0xA3, "instance %u: a fan-out is in flight; write it after",
                         (unsigned)iid);
  }
  lmm_obj_def def;
  lmm_group_mgmt_def(gw->gm_oid, &def);
  lmm_path base = {.oid = gw->gm_oid, .iid = iid, .depth = 2};
  lmm_records recs = {0}, all = {0};
  lmm_group_mgmt v = LMM_GROUP_MGMT_INIT;
  lmmi_gw_inst *in = calloc(1, sizeof *in);
  char why[400] = "";
  uint8_t code = 0x80;
  if (!in) {
    code = 0xA0, say(why, sizeof why, "out of memory");
    goto out;
  }
  lmm_err rc = lmm_lwm2m_decode((uint16_t)fmt, &base, data, len, &def, &recs, why, sizeof why);
  if (rc == LMM_OK && !replace && old) {
    rc = merged(old, gw->gm_oid, &recs, &all);
    if (rc != LMM_OK) say(why, sizeof why, "out of memory");
  }
  lmm_records *use = !replace && old ? &all : &recs;
  if (rc == LMM_OK) rc = lmm_group_mgmt_from_records(use->items, use->n, &v, why, sizeof why);
  if (rc != LMM_OK || !validate(gw, iid, &v, in, why, sizeof why)) {
    if (rc == LMM_ERR_NOMEM) code = 0xA0;
    goto out;
  }
  /* Another group of the store (made by `lwm2m-mbms group create`) is not ours to replace. */
  lmm_group_info other = {0};
  if ((!old || strcmp(old->g.name, in->g.name)) &&
      lmm_store_group_get(gw->d.store, in->g.name, &other) == LMM_OK) {
    lmm_group_info_clear(&other);
    say(why, sizeof why, "Group ID '%s' names a group of the store that is not the gateway's",
        in->g.name);
    goto out;
  }
  if (store_put(gw, in, old) != LMM_OK) {
    code = 0xA0;
    say(why, sizeof why, "the store refused the instance: %s", lmm_store_errmsg(gw->d.store));
    if (old) { /* it may be gone from the store: the copy in memory follows it */
      lmm_group_info chk = {0};
      if (lmm_store_group_get(gw->d.store, old->g.name, &chk) != LMM_OK) {
        lmmi_store_gw_unset(gw->d.store, gw->gm_oid, iid);
        lmmi_gw_observe_end_all(gw, old);
        inst_remove(gw, old);
        lmmi_gw_inst_free(old);
      }
      lmm_group_info_clear(&chk);
    }
    goto out;
  }
  if (lmm_store_group_get(gw->d.store, in->g.name, &other) == LMM_OK) {
    lmm_group_info_clear(&in->g); /* what the store made of it: gm_iid, created */
    in->g = other;
  }
  if (old) {
    lmmi_gw_observe_end_all(gw, old);
    inst_remove(gw, old);
    lmmi_gw_inst_free(old);
  }
  if (inst_add(gw, in) != LMM_OK) {
    code = 0xA0, say(why, sizeof why, "out of memory");
    goto out;
  }
  gw->stats.config_ok++;
  LMMI_GW_LOG(gw, LMM_LOG_INFO, "gateway: instance %u is group '%s' of %zu members at /%s",
              (unsigned)iid, in->g.name, in->n, in->target);
  coap_pdu_set_code(resp, old ? COAP_RESPONSE_CODE(204) : COAP_RESPONSE_CODE(201));
  in = NULL;
  code = 0;
out:
  if (code) {
    gw->stats.config_bad++;
    lmmi_gw_reply(resp, code, "/%u/%u: %s", (unsigned)gw->gm_oid, (unsigned)iid, why);
  }
  lmmi_gw_inst_free(in);
  lmm_group_mgmt_clear(&v);
  lmm_records_clear(&recs);
  lmm_records_clear(&all);
}

static void do_read(lmm_gateway *gw, lmmi_gw_inst *in, coap_session_t *s, const coap_pdu_t *req,
                    const char *key, coap_pdu_t *resp) {
  int accept = content_format(req, COAP_OPTION_ACCEPT);
  if (accept >= 0 && accept != LMM_FMT_SENML_JSON && accept != LMM_FMT_TLV)
    return lmmi_gw_reply(resp, 0x86, "the instance reads as SenML-JSON (110) or TLV (11542)");
  uint16_t fmt = accept < 0 ? LMM_FMT_SENML_JSON : (uint16_t)accept;
  lmm_group_mgmt v = LMM_GROUP_MGMT_INIT;
  uint8_t *body = NULL;
  size_t len = 0;
  lmm_err rc = to_gm(in, &v);
  if (rc == LMM_OK) rc = lmm_group_mgmt_encode(&v, gw->gm_oid, in->iid, fmt, &body, &len);
  lmm_group_mgmt_clear(&v);
  if (rc != LMM_OK)
    return lmmi_gw_reply(resp, 0xA0, "cannot encode the instance: %s", lmm_strerror(rc));
  /* A Member List of hundreds of members is several KB: Block2. A later block asked after the
   * body is let go is cut from the body built again: the same, as long as the instance is. */
  lmmi_gw_respond(gw, s, key, req, resp, 0x45, fmt, body, len);
}

void lmmi_gw_config_request(lmm_gateway *gw, uint16_t iid, coap_pdu_code_t method,
                            coap_session_t *s, const coap_pdu_t *req, const char *key,
                            const lmmi_gw_body *body, coap_pdu_t *resp) {
  lmmi_gw_inst *in = lmmi_gw_inst_get(gw, iid);
  switch (method) {
  case COAP_REQUEST_CODE_PUT:
  case COAP_REQUEST_CODE_POST:
    return do_write(gw, iid, method == COAP_REQUEST_CODE_PUT, req, body, resp);
  case COAP_REQUEST_CODE_GET:
    if (!in)
      return lmmi_gw_reply(resp, 0x84, "no instance /%u/%u", (unsigned)gw->gm_oid, (unsigned)iid);
    return do_read(gw, in, s, req, key, resp);
  case COAP_REQUEST_CODE_DELETE:
    if (!in)
      return lmmi_gw_reply(resp, 0x84, "no instance /%u/%u", (unsigned)gw->gm_oid, (unsigned)iid);
    if (in->busy)
      return lmmi_gw_reply(resp, 0xA3, "instance %u: a fan-out is in flight; delete it after",
                           (unsigned)iid);
    if (lmm_store_group_delete(gw->d.store, in->g.name) != LMM_OK ||
        lmmi_store_gw_unset(gw->d.store, gw->gm_oid, iid) != LMM_OK)
      return lmmi_gw_reply(resp, 0xA0, "the store refused the delete: %s",
                           lmm_store_errmsg(gw->d.store));
    lmmi_gw_observe_end_all(gw, in);
    inst_remove(gw, in);
    lmmi_gw_inst_free(in);
    gw->stats.config_ok++;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(202));
    return;
  default:
    return lmmi_gw_reply(resp, 0x85, "/%u/%u takes PUT, POST, GET and DELETE", (unsigned)gw->gm_oid,
                         (unsigned)iid);
  }
}
