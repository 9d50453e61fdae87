/* group_mgmt.c - the Group Mgmt object instance as a C struct: to and from typed records. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_mbms/lwm2m.h"
#include "lwm2m/lwm2m_internal.h"

LMM_API void lmm_group_mgmt_clear(lmm_group_mgmt *g) {
  const lmm_group_mgmt init = LMM_GROUP_MGMT_INIT;

  if (g == NULL) return;
  free(g->group_id);
  free(g->member_list);
  free(g->fanout_target);
  free(g->external_group_id);
  for (size_t i = 0; i < g->n_tmgi && g->tmgi != NULL; i++)
    free(g->tmgi[i]);
  free(g->tmgi);
  free(g->tmgi_riid);
  free(g->multicast_address);
  free(g->schedule);
  free(g->schedule_riid);
  free(g->answer_uri);
  if (g->group_key != NULL) {
    /* volatile: the wipe of a secret must not be optimised away before free() */
    volatile uint8_t *k = g->group_key;
    for (size_t i = 0; i < g->group_key_len; i++)
      k[i] = 0;
  }
  free(g->group_key);
  *g = init;
}

/* ------------------------------------------------------------ to records */

static lmm_err add_str(lmm_records *r, lmm_path p, uint16_t rid, const char *s) {
  lmm_value v;

  if (s == NULL) return LMM_OK;
  memset(&v, 0, sizeof v);
  v.type = LMM_RT_STRING;
  v.str = (char *)s; /* only read: lmm_records_add() copies */
  p.rid = rid;
  p.depth = 3;
  return lmm_records_add(r, &p, &v);
}

static lmm_err add_int(lmm_records *r, lmm_path p, uint16_t rid, uint16_t riid, bool inst,
                       lmm_rtype type, int64_t i) {
  lmm_value v;

  memset(&v, 0, sizeof v);
  v.type = type;
  v.v.i = i;
  p.rid = rid;
  p.riid = riid;
  p.depth = inst ? 4 : 3;
  return lmm_records_add(r, &p, &v);
}

/* Resource instance IDs of a multiple resource must be distinct valid IDs; without an ID array
 * the instances are numbered 0, 1, ... */
static bool riids_ok(const uint16_t *riid, size_t n) {
  if (riid == NULL) return n <= 65535u;
  for (size_t i = 0; i < n; i++) {
    if (riid[i] == 0xffffu) return false;
    for (size_t k = 0; k < i; k++)
      if (riid[k] == riid[i]) return false;
  }
  return true;
}

LMM_API lmm_err lmm_group_mgmt_to_records(const lmm_group_mgmt *g, uint16_t oid, uint16_t iid,
                                          lmm_records *out) {
  lmm_records tmp = {NULL, 0, 0};
  lmm_path p = {oid, iid, 0, 0, 2};
  lmm_err rc = LMM_OK;

  if (g == NULL || out == NULL || oid == 0xffffu || iid == 0xffffu) return LMM_ERR_ARG;
  /* -1 means absent; anything else out of range is a caller's mistake, not a value to send. */
  if (g->group_type < -1 || g->group_type > LMM_GROUP_UNICAST || g->member_number < -1 ||
      g->response_time_window < -1 || g->multicast_port < -1 || g->multicast_port > 65535 ||
      (g->n_tmgi != 0 && g->tmgi == NULL) || (g->n_schedule != 0 && g->schedule == NULL) ||
      !riids_ok(g->tmgi_riid, g->n_tmgi) || !riids_ok(g->schedule_riid, g->n_schedule) ||
      (g->group_key != NULL && (g->group_key_len < 16 || g->group_key_len > 64)))
    return LMM_ERR_ARG;
  for (size_t i = 0; i < g->n_tmgi; i++)
    if (g->tmgi[i] == NULL) return LMM_ERR_ARG;

  /* In resource order, which is also the order the TLV encoder wants (no sorting needed). */
  rc = add_str(&tmp, p, LMM_GM_GROUP_ID, g->group_id);
  if (rc == LMM_OK && g->group_type >= 0)
    rc = add_int(&tmp, p, LMM_GM_GROUP_TYPE, 0, false, LMM_RT_INTEGER, g->group_type);
  if (rc == LMM_OK && g->member_number >= 0)
    rc = add_int(&tmp, p, LMM_GM_MEMBER_NUMBER, 0, false, LMM_RT_INTEGER, g->member_number);
  if (rc == LMM_OK) rc = add_str(&tmp, p, LMM_GM_MEMBER_LIST, g->member_list);
  if (rc == LMM_OK) rc = add_str(&tmp, p, LMM_GM_FANOUT_TARGET, g->fanout_target);
  if (rc == LMM_OK) rc = add_str(&tmp, p, LMM_GM_EXTERNAL_GROUP_ID, g->external_group_id);
  for (size_t i = 0; i < g->n_tmgi && rc == LMM_OK; i++) {
    lmm_value v;
    lmm_path ip = p;
    memset(&v, 0, sizeof v);
    v.type = LMM_RT_STRING;
    v.str = g->tmgi[i];
    ip.rid = LMM_GM_TMGI;
    ip.riid = g->tmgi_riid != NULL ? g->tmgi_riid[i] : (uint16_t)i;
    ip.depth = 4;
    rc = lmm_records_add(&tmp, &ip, &v);
  }
  if (rc == LMM_OK) rc = add_str(&tmp, p, LMM_GM_MULTICAST_ADDRESS, g->multicast_address);
  for (size_t i = 0; i < g->n_schedule && rc == LMM_OK; i++)
    rc = add_int(&tmp, p, LMM_GM_SCHEDULE,
                 g->schedule_riid != NULL ? g->schedule_riid[i] : (uint16_t)i, true, LMM_RT_TIME,
                 g->schedule[i]);
  if (rc == LMM_OK && g->response_time_window >= 0)
    rc = add_int(&tmp, p, LMM_GM_RESPONSE_TIME_WINDOW, 0, false, LMM_RT_INTEGER,
                 g->response_time_window);
  if (rc == LMM_OK && g->multicast_port >= 0)
    rc = add_int(&tmp, p, LMM_GM_MULTICAST_PORT, 0, false, LMM_RT_INTEGER, g->multicast_port);
  if (rc == LMM_OK) rc = add_str(&tmp, p, LMM_GM_ANSWER_URI, g->answer_uri);
  if (rc == LMM_OK && g->group_key != NULL) {
    lmm_value v;
    memset(&v, 0, sizeof v);
    v.type = LMM_RT_OPAQUE;
    v.bytes = g->group_key; /* only read: lmm_records_add() copies */
    v.len = g->group_key_len;
    p.rid = LMM_GM_GROUP_KEY;
    p.depth = 3;
    rc = lmm_records_add(&tmp, &p, &v);
  }
  if (rc == LMM_OK) rc = lmmi_lwm2m_records_move(out, &tmp);
  lmm_records_clear(&tmp);
  return rc;
}

/* ---------------------------------------------------------- from records */

/* The integer of an Integer (or Unsigned Integer) value; Time resources also take Integer,
 * which is what SenML without a definition yields. */
static bool int_of(const lmm_value *v, bool time, int64_t *out) {
  if (v->type == LMM_RT_INTEGER || (time && v->type == LMM_RT_TIME)) {
    *out = v->v.i;
    return true;
  }
  if (v->type == LMM_RT_UNSIGNED && v->v.u <= (uint64_t)INT64_MAX) {
    *out = (int64_t)v->v.u;
    return true;
  }
  return false;
}

static char **str_slot(lmm_group_mgmt *g, uint16_t rid) {
  switch (rid) {
  case LMM_GM_GROUP_ID:
    return &g->group_id;
  case LMM_GM_MEMBER_LIST:
    return &g->member_list;
  case LMM_GM_FANOUT_TARGET:
    return &g->fanout_target;
  case LMM_GM_EXTERNAL_GROUP_ID:
    return &g->external_group_id;
  case LMM_GM_MULTICAST_ADDRESS:
    return &g->multicast_address;
  case LMM_GM_ANSWER_URI:
    return &g->answer_uri;
  default:
    return NULL;
  }
}

/* Range of each single Integer resource. */
static bool int_range(uint16_t rid, int64_t *lo, int64_t *hi) {
  *lo = 0;
  switch (rid) {
  case LMM_GM_GROUP_TYPE:
    *hi = LMM_GROUP_UNICAST;
    return true;
  case LMM_GM_MEMBER_NUMBER:
  case LMM_GM_RESPONSE_TIME_WINDOW:
    *hi = INT64_MAX;
    return true;
  case LMM_GM_MULTICAST_PORT:
    *hi = 65535;
    return true;
  default:
    return false;
  }
}

static lmm_err add_tmgi(lmm_group_mgmt *g, uint16_t riid, const char *s) {
  char **t = realloc(g->tmgi, (g->n_tmgi + 1) * sizeof *t);
  uint16_t *r;

  if (t == NULL) return LMM_ERR_NOMEM;
  g->tmgi = t;
  if ((r = realloc(g->tmgi_riid, (g->n_tmgi + 1) * sizeof *r)) == NULL) return LMM_ERR_NOMEM;
  g->tmgi_riid = r;
  if ((t[g->n_tmgi] = strdup(s)) == NULL) return LMM_ERR_NOMEM;
  r[g->n_tmgi++] = riid;
  return LMM_OK;
}

static lmm_err add_schedule(lmm_group_mgmt *g, uint16_t riid, int64_t when) {
  int64_t *s = realloc(g->schedule, (g->n_schedule + 1) * sizeof *s);
  uint16_t *r;

  if (s == NULL) return LMM_ERR_NOMEM;
  g->schedule = s;
  if ((r = realloc(g->schedule_riid, (g->n_schedule + 1) * sizeof *r)) == NULL)
    return LMM_ERR_NOMEM;
  g->schedule_riid = r;
  s[g->n_schedule] = when;
  r[g->n_schedule++] = riid;
  return LMM_OK;
}

/* One record into g; `seen` has a bit per single resource already set. */
static lmm_err take_record(const lmm_record *rec, lmm_group_mgmt *g, unsigned *seen, char *why,
                           size_t cap) {
  const lmm_path *p = &rec->path;
  const lmm_value *v = &rec->value;
  bool multiple = p->rid == LMM_GM_TMGI || p->rid == LMM_GM_SCHEDULE;
  char path[32], **slot;
  int64_t i, lo, hi;

  lmm_path_format(p, path, sizeof path);
  if (p->rid > LMM_GM_GROUP_KEY)
    return lmmi_lwm2m_fail(why, cap, "%s: Group Mgmt has no resource %u", path, (unsigned)p->rid);
  if (multiple != (p->depth == 4))
    return lmmi_lwm2m_fail(why, cap, "%s: resource %u is %s", path, (unsigned)p->rid,
                           multiple ? "multiple: give its instances"
                                    : "single: it has no instances");
  if (!multiple) {
    if (*seen & (1u << p->rid)) return lmmi_lwm2m_fail(why, cap, "%s: given twice", path);
    *seen |= 1u << p->rid;
  }
  if (p->rid == LMM_GM_TMGI) {
    if (v->type != LMM_RT_STRING || v->str == NULL)
      return lmmi_lwm2m_fail(why, cap, "%s: TMGI must be a String", path);
    for (size_t k = 0; k < g->n_tmgi; k++)
      if (g->tmgi_riid[k] == p->riid) return lmmi_lwm2m_fail(why, cap, "%s: given twice", path);
    return add_tmgi(g, p->riid, v->str);
  }
  if (p->rid == LMM_GM_SCHEDULE) {
    if (!int_of(v, true, &i)) return lmmi_lwm2m_fail(why, cap, "%s: Schedule must be a Time", path);
    for (size_t k = 0; k < g->n_schedule; k++)
      if (g->schedule_riid[k] == p->riid) return lmmi_lwm2m_fail(why, cap, "%s: given twice", path);
    return add_schedule(g, p->riid, i);
  }
  if (p->rid == LMM_GM_GROUP_KEY) {
    /* The length the derivation takes (16..64 bytes, docs/protocol.md section 6). */
    if (v->type != LMM_RT_OPAQUE || v->len < 16 || v->len > 64)
      return lmmi_lwm2m_fail(why, cap, "%s: Group Key must be Opaque of 16 to 64 bytes", path);
    if ((g->group_key = malloc(v->len)) == NULL) return LMM_ERR_NOMEM;
    memcpy(g->group_key, v->bytes, v->len);
    g->group_key_len = v->len;
    return LMM_OK;
  }
  if ((slot = str_slot(g, p->rid)) != NULL) {
    if (v->type != LMM_RT_STRING || v->str == NULL)
      return lmmi_lwm2m_fail(why, cap, "%s: must be a String", path);
    return (*slot = strdup(v->str)) != NULL ? LMM_OK : LMM_ERR_NOMEM;
  }
  int_range(p->rid, &lo, &hi);
  if (!int_of(v, false, &i)) return lmmi_lwm2m_fail(why, cap, "%s: must be an Integer", path);
  if (i < lo || i > hi)
    return lmmi_lwm2m_fail(why, cap, "%s: %lld is out of range (%lld..%lld)", path, (long long)i,
                           (long long)lo, (long long)hi);
  switch (p->rid) {
  case LMM_GM_GROUP_TYPE:
    g->group_type = (int)i;
    break;
  case LMM_GM_MEMBER_NUMBER:
    g->member_number = i;
    break;
  case LMM_GM_RESPONSE_TIME_WINDOW:
    g->response_time_window = i;
    break;
  default: /* LMM_GM_MULTICAST_PORT */
    g->multicast_port = (int32_t)i;
    break;
  }
  return LMM_OK;
}

LMM_API lmm_err lmm_group_mgmt_from_records(const lmm_record *recs, size_t n, lmm_group_mgmt *out,
                                            char *why, size_t why_cap) {
  lmm_group_mgmt g = LMM_GROUP_MGMT_INIT;
  unsigned seen = 0;
  lmm_err rc = LMM_OK;

  if (why != NULL && why_cap != 0) why[0] = '\0';
  if (out == NULL || (recs == NULL && n != 0)) return LMM_ERR_ARG;
  lmm_group_mgmt_clear(out);
  for (size_t k = 0; k < n && rc == LMM_OK; k++) {
    const lmm_path *p = &recs[k].path;
    if (p->depth < 3 || p->depth > 4 || p->oid != recs[0].path.oid || p->iid != recs[0].path.iid) {
      char path[32];
      rc = lmmi_lwm2m_fail(why, why_cap,
                           "%s: not a resource of the same instance as the first "
                           "record",
                           lmm_path_format(p, path, sizeof path));
      break;
    }
    rc = take_record(&recs[k], &g, &seen, why, why_cap);
  }
  if (rc != LMM_OK) {
    if (rc == LMM_ERR_NOMEM) lmmi_lwm2m_fail(why, why_cap, "out of memory");
    lmm_group_mgmt_clear(&g);
    return rc;
  }
  *out = g;
  return LMM_OK;
}
