/* store_group.c - groups and their members in the SQLite state store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/store_secret.h"

/* ------------------------------------------------------------ groups */

#define GROUP_COLS                                                                                 \
  "name, type, gm_oid, external_group_id, multicast_address, multicast_port, "                     \
  "response_time_window, fanout_target, schedule, tmgi, tmgi_expiration, created, "                \
  "(SELECT count(*) FROM members m WHERE m.group_name = groups.name), gm_iid, tmgi_policy"

static const char SQL_GROUP_INSERT[] =
    "INSERT INTO groups(name, type, gm_oid, external_group_id, multicast_address, "
    "multicast_port, response_time_window, fanout_target, schedule, tmgi, tmgi_expiration, "
    "created, gm_iid, tmgi_policy) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
    "?14)";
/* The smallest Group Mgmt instance ID no group has, NULL when 0..65534 are all taken. Each
 * probe is a lookup in groups_by_gm_iid. */
static const char SQL_GROUP_FREE_IID[] =
    "SELECT CASE WHEN NOT EXISTS(SELECT 1 FROM groups WHERE gm_iid = 0) THEN 0 ELSE "
    "(SELECT min(g.gm_iid) + 1 FROM groups g WHERE g.gm_iid < 65534 AND "
    "NOT EXISTS(SELECT 1 FROM groups h WHERE h.gm_iid = g.gm_iid + 1)) END";
static const char SQL_GROUP_UPDATE[] =
    "UPDATE groups SET type = ?2, gm_oid = ?3, external_group_id = ?4, multicast_address = ?5, "
    "multicast_port = ?6, response_time_window = ?7, fanout_target = ?8, schedule = ?9, "
    "tmgi = ?10, tmgi_expiration = ?11, tmgi_policy = ?14 WHERE name = ?1";
static const char SQL_GROUP_GET[] = "SELECT " GROUP_COLS " FROM groups WHERE name = ?1";
static const char SQL_GROUP_LIST[] = "SELECT " GROUP_COLS " FROM groups ORDER BY name";
static const char SQL_GROUP_DELETE[] = "DELETE FROM groups WHERE name = ?1";
static const char SQL_GROUP_EXISTS[] = "SELECT 1 FROM groups WHERE name = ?1";

static lmm_err group_check(lmm_store *s, const lmm_group_info *g) {
  if (!g || !g->name || !*g->name) return lmmi_store_say(s, LMM_ERR_ARG, "a group needs a name");
  if (g->type < LMM_GROUP_MBMS || g->type > LMM_GROUP_UNICAST)
    return lmmi_store_say(s, LMM_ERR_ARG, "group %s: bad type %d", g->name, g->type);
  if (g->tmgi_policy != LMM_TMGI_KEEP && g->tmgi_policy != LMM_TMGI_RELEASE)
    return lmmi_store_say(s, LMM_ERR_ARG, "group %s: bad TMGI policy %d", g->name, g->tmgi_policy);
  if (g->n_schedule && !g->schedule)
    return lmmi_store_say(s, LMM_ERR_ARG, "group %s: schedule count without times", g->name);
  return LMM_OK;
}

/* "t1,t2,..." (owned), "" for none. */
static char *schedule_format(const lmm_group_info *g) {
  char *t = malloc(g->n_schedule * 21 + 1), *p = t;
  if (!t) return NULL;
  *p = '\0';
  for (size_t i = 0; i < g->n_schedule; i++)
    p += sprintf(p, "%s%lld", i ? "," : "", (long long)g->schedule[i]);
  return t;
}

static bool schedule_parse(const char *t, int64_t **out, size_t *n) {
  *out = NULL, *n = 0;
  if (!t || !*t) return true;
  size_t cap = 1;
  for (const char *p = t; *p; p++)
    cap += *p == ',';
  int64_t *v = malloc(cap * sizeof *v);
  if (!v) return false;
  const char *p = t;
  for (size_t i = 0; i < cap; i++) {
    char *end;
    errno = 0;
    v[i] = strtoll(p, &end, 10);
    if (end == p || errno || (*end != ',' && *end != '\0')) {
      free(v);
      return false;
    }
    p = end + 1;
  }
  *out = v, *n = cap;
  return true;
}

/* Binds ?1..?11 and ?14, the columns insert and update share. `sched` borrowed. */
static int group_bind(lmmi_db_stmt *st, const lmm_group_info *g, const char *sched) {
  int rc = LMMI_DB_OK;
  rc |= lmmi_bind_text(st, 1, g->name);
  rc |= lmmi_db_bind_int(st, 2, g->type);
  /* 0 is the Security object, never a Group Mgmt one: a zeroed struct means the default. */
  rc |= lmmi_db_bind_int(st, 3, g->gm_oid ? g->gm_oid : LMM_GROUP_MGMT_OID);
  rc |= lmmi_bind_text(st, 4, g->external_group_id);
  rc |= lmmi_bind_text(st, 5, g->multicast_address);
  rc |= lmmi_db_bind_int(st, 6, g->multicast_port);
  rc |= lmmi_db_bind_int64(st, 7, g->response_time_window);
  rc |= lmmi_bind_text(st, 8, g->fanout_target);
  rc |= lmmi_bind_text(st, 9, sched);
  rc |= lmmi_bind_text(st, 10, g->tmgi);
  rc |= lmmi_db_bind_int64(st, 11, g->tmgi_expiration);
  rc |= lmmi_db_bind_int(st, 14, g->tmgi_policy);
  return rc;
}

static lmm_err group_read(lmm_store *s, lmmi_db_stmt *st, void *out) {
  lmm_group_info g = {0};
  lmm_err rc = LMM_ERR_NOMEM;
  g.type = lmmi_db_column_int(st, 1);
  g.gm_oid = (uint16_t)lmmi_db_column_int(st, 2);
  g.multicast_port = lmmi_db_column_int(st, 5);
  g.response_time_window = lmmi_db_column_int64(st, 6);
  g.tmgi_expiration = lmmi_db_column_int64(st, 10);
  g.created = lmmi_db_column_int64(st, 11);
  g.member_count = (size_t)lmmi_db_column_int64(st, 12);
  g.gm_iid = lmmi_db_column_int(st, 13);
  g.tmgi_policy = lmmi_db_column_int(st, 14);
  if (!lmmi_col_text(st, 0, &g.name) || !lmmi_col_text(st, 3, &g.external_group_id) ||
      !lmmi_col_text(st, 4, &g.multicast_address) || !lmmi_col_text(st, 7, &g.fanout_target) ||
      !lmmi_col_text(st, 9, &g.tmgi)) {
    lmmi_store_say(s, rc, "group: out of memory");
    goto out;
  }
  const char *sched = (const char *)lmmi_db_column_text(st, 8);
  if (!schedule_parse(sched, &g.schedule, &g.n_schedule)) {
    /* Also when out of memory; a damaged column is the likelier cause worth naming. */
    rc = lmmi_store_say(s, LMM_ERR_DB, "group %s: unreadable schedule \"%s\"", g.name,
                        sched ? sched : "");
    goto out;
  }
  *(lmm_group_info *)out = g;
  return LMM_OK;
out:
  lmm_group_info_clear(&g);
  return rc;
}

/* Whether group `name` exists: LMM_OK, LMM_ERR_NOTFOUND (message set) or an error. */
static lmm_err group_exists(lmm_store *s, const char *name) {
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_EXISTS, SQL_GROUP_EXISTS);
  if (!st) return LMM_ERR_DB;
  lmm_err rc;
  int src = lmmi_bind_text(st, 1, name);
  if (src == LMMI_DB_OK) src = lmmi_db_step(st);
  if (src == LMMI_DB_ROW)
    rc = LMM_OK;
  else if (src == LMMI_DB_DONE)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", name);
  else
    rc = lmmi_store_fail(s, src, "group lookup");
  lmmi_db_reset(st);
  return rc;
}

static lmm_err group_named(lmm_store *s, const void *name) {
  return group_exists(s, name);
}

/* The free instance ID is looked up and taken in one write transaction: two processes
 * creating groups at once cannot both pick it. */
LMM_API lmm_err lmm_store_group_create(lmm_store *s, const lmm_group_info *g) {
  lmm_err rc = lmmi_store_check(s, true, "group create");
  if (rc == LMM_OK) rc = group_check(s, g);
  if (rc != LMM_OK) return rc;
  char *sched = schedule_format(g);
  lmmi_db_stmt *st = NULL;
  if (!sched) return lmmi_store_say(s, LMM_ERR_NOMEM, "group create: out of memory");
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) goto out;
  /* Asked first, so that a taken name is reported as such even in a full store. */
  if ((rc = group_exists(s, g->name)) != LMM_ERR_NOTFOUND) {
    if (rc == LMM_OK) rc = lmmi_store_say(s, LMM_ERR_STATE, "group %s exists", g->name);
    goto out;
  }
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_GROUP_FREE_IID, SQL_GROUP_FREE_IID))) goto out;
  int src = lmmi_db_step(st);
  if (src != LMMI_DB_ROW) {
    rc = lmmi_store_fail(s, src, "group create");
    goto out;
  }
  if (lmmi_db_column_is_null(st, 0)) {
    rc = lmmi_store_say(s, LMM_ERR_STATE,
                        "group %s: no Group Mgmt instance ID left: the store's groups use all "
                        "of 0..65534 (delete a group first)",
                        g->name);
    goto out;
  }
  int iid = lmmi_db_column_int(st, 0);
  lmmi_db_reset(st);
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_GROUP_INSERT, SQL_GROUP_INSERT))) goto out;
  src = group_bind(st, g, sched) | lmmi_db_bind_int64(st, 12, lmm_ctx_wall_ms(s->ctx) / 1000) |
        lmmi_db_bind_int(st, 13, iid);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "group create");
    goto out;
  }
  if ((src = lmmi_db_step(st)) != LMMI_DB_DONE) {
    rc = lmmi_store_fail(s, src, "group create");
    goto out;
  }
  lmmi_db_reset(st);
  rc = lmmi_store_commit(s);
out:
  if (st) lmmi_db_reset(st);
  if (rc != LMM_OK) lmmi_store_rollback(s);
  free(sched);
  return rc;
}

LMM_API lmm_err lmm_store_group_update(lmm_store *s, const lmm_group_info *g) {
  lmm_err rc = lmmi_store_check(s, true, "group update");
  if (rc == LMM_OK) rc = group_check(s, g);
  if (rc != LMM_OK) return rc;
  char *sched = schedule_format(g);
  lmmi_db_stmt *st = NULL;
  rc = LMM_ERR_NOMEM;
  if (!sched) {
    lmmi_store_say(s, rc, "group update: out of memory");
    goto out;
  }
  rc = LMM_ERR_DB;
  if (!(st = lmmi_store_stmt(s, LMMI_SQL_GROUP_UPDATE, SQL_GROUP_UPDATE))) goto out;
  int src = group_bind(st, g, sched);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "group update");
    goto out;
  }
  if ((rc = lmmi_store_exec_stmt(s, st, "group update")) != LMM_OK) goto out;
  if (lmmi_db_changes(s->db) == 0) rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", g->name);
out:
  if (st) lmmi_db_reset(st);
  free(sched);
  return rc;
}

LMM_API lmm_err lmm_store_group_get(lmm_store *s, const char *name, lmm_group_info *out) {
  lmm_err rc = lmmi_store_check(s, name && out, "group get");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_GET, SQL_GROUP_GET);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, name);
  if (src == LMMI_DB_OK) src = lmmi_db_step(st);
  if (src == LMMI_DB_ROW)
    rc = group_read(s, st, out);
  else if (src == LMMI_DB_DONE)
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", name);
  else
    rc = lmmi_store_fail(s, src, "group get");
  lmmi_db_reset(st);
  return rc;
}

LMM_API lmm_err lmm_store_group_list(lmm_store *s, lmm_group_info **out, size_t *n) {
  lmm_err rc = lmmi_store_check(s, out && n, "group list");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_LIST, SQL_GROUP_LIST);
  if (!st) return LMM_ERR_DB;
  lmm_group_info *v = NULL;
  size_t nv = 0;
  rc = lmmi_store_rows(s, st, sizeof *v, group_read, (void **)&v, &nv, "group list");
  lmmi_db_reset(st);
  if (rc != LMM_OK) {
    lmm_group_info_list_free(v, nv);
    return rc;
  }
  *out = v, *n = nv;
  return LMM_OK;
}

LMM_API lmm_err lmm_store_group_delete(lmm_store *s, const char *name) {
  lmm_err rc = lmmi_store_check(s, name, "group delete");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_GROUP_DELETE, SQL_GROUP_DELETE);
  if (!st) return LMM_ERR_DB;
  /* Its members go with it through ON DELETE CASCADE, and their keys in the same transaction.
   * Without the key file the group goes all the same: its keys, which nothing reads any more,
   * are swept at an open that finds the key file again (lmmi_store_keys_sweep()). */
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) return rc;
  int src = lmmi_bind_text(st, 1, name);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "group delete");
    goto out;
  }
  if ((rc = lmmi_store_exec_stmt(s, st, "group delete")) != LMM_OK) goto out;
  if (lmmi_db_changes(s->db) == 0) {
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "no group %s", name);
    goto out;
  }
  if (s->keys_ok && (rc = lmmi_store_psk_drop_group(s, name)) != LMM_OK) goto out;
  /* Its key goes too: a later group of the same name must not inherit a key that the old
   * group's members (some perhaps not members of the new one) hold. */
  if (s->keys_ok && (rc = lmmi_store_secret_del(s, "group", name)) != LMM_OK) goto out;
  rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

/* ------------------------------------------------------------ members */

static const char SQL_MEMBER_NEXT_POS[] =
    "SELECT coalesce(max(position) + 1, 0) FROM members WHERE group_name = ?1";
static const char SQL_MEMBER_INSERT[] =
    "INSERT INTO members(group_name, position, ep, oid, uri, psk_identity, psk_key_len, format) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_MEMBER_POS[] =
    "SELECT position FROM members WHERE group_name = ?1 AND ep = ?2 AND oid = ?3";
static const char SQL_MEMBER_DELETE[] =
    "DELETE FROM members WHERE group_name = ?1 AND ep = ?2 AND oid = ?3";
static const char SQL_MEMBER_LIST[] =
    "SELECT ep, oid, uri, psk_identity, psk_key_len, format, group_name FROM members "
    "WHERE group_name = ?1 "
    "ORDER BY position";

static lmm_err members_check(lmm_store *s, const lmm_member *m, size_t n) {
  if (n && !m) return lmmi_store_say(s, LMM_ERR_ARG, "no members given");
  for (size_t i = 0; i < n; i++) {
    if (!m[i].ep || !*m[i].ep)
      return lmmi_store_say(s, LMM_ERR_ARG, "member %zu has no endpoint name", i + 1);
    if (m[i].psk_key_len && !m[i].psk_key)
      return lmmi_store_say(s, LMM_ERR_ARG, "member ep=%s/%u: key length without key", m[i].ep,
                            m[i].oid);
    if (m[i].psk_key_len && !s->keys_ok)
      return lmmi_store_say(s, LMM_ERR_DB, "member ep=%s/%u: its PSK cannot be stored: %s", m[i].ep,
                            m[i].oid, s->keys_why);
  }
  return LMM_OK;
}

/* Member `m`'s PSK into the key file, in the caller's transaction. */
static lmm_err member_key_put(lmm_store *s, const char *group, const lmm_member *m) {
  char *name = lmmi_store_psk_name(group, m->ep, m->oid);
  if (!name) return lmmi_store_say(s, LMM_ERR_NOMEM, "members add: out of memory");
  lmm_err rc = lmmi_store_secret_put(s, "psk", name, m->psk_key, m->psk_key_len);
  free(name);
  return rc;
}

/* After a UNIQUE(group, ep, oid) conflict inside members_add's transaction: the earlier copy
 * is either from this batch (position >= base) or was stored before. */
static lmm_err member_dup(lmm_store *s, const char *group, const lmm_member *m, int64_t base) {
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_POS, SQL_MEMBER_POS);
  bool in_batch = false;
  if (st && lmmi_bind_text(st, 1, group) == LMMI_DB_OK &&
      lmmi_bind_text(st, 2, m->ep) == LMMI_DB_OK && lmmi_db_bind_int(st, 3, m->oid) == LMMI_DB_OK &&
      lmmi_db_step(st) == LMMI_DB_ROW)
    in_batch = lmmi_db_column_int64(st, 0) >= base;
  if (st) lmmi_db_reset(st);
  return lmmi_store_say(s, LMM_ERR_STATE,
                        in_batch ? "member ep=%s/%u is listed twice"
                                 : "member ep=%s/%u is already in group %s",
                        m->ep, m->oid, group);
}

LMM_API lmm_err lmm_store_members_add(lmm_store *s, const char *group, const lmm_member *m,
                                      size_t n) {
  lmm_err rc = lmmi_store_check(s, true, "members add");
  if (rc != LMM_OK) return rc;
  int64_t base = 0;
  if (!group || !*group) {
    rc = lmmi_store_say(s, LMM_ERR_ARG, "no group name");
    goto out;
  }
  if ((rc = members_check(s, m, n)) != LMM_OK || (rc = lmmi_store_begin(s, true)) != LMM_OK)
    goto out;
  if ((rc = group_exists(s, group)) != LMM_OK) goto out;

  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_NEXT_POS, SQL_MEMBER_NEXT_POS);
  rc = LMM_ERR_DB;
  if (!st) goto out;
  int src = lmmi_bind_text(st, 1, group);
  if (src == LMMI_DB_OK && (src = lmmi_db_step(st)) == LMMI_DB_ROW)
    base = lmmi_db_column_int64(st, 0);
  lmmi_db_reset(st);
  if (src != LMMI_DB_ROW) {
    rc = lmmi_store_fail(s, src, "members add");
    goto out;
  }

  if (!(st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_INSERT, SQL_MEMBER_INSERT))) goto out;
  lmmi_db_guard(st); /* a member ID taken: which one is asked next, in this transaction */
  for (size_t i = 0; i < n; i++) {
    lmmi_db_reset(st);
    src = lmmi_bind_text(st, 1, group) | lmmi_db_bind_int64(st, 2, base + (int64_t)i) |
          lmmi_bind_text(st, 3, m[i].ep) | lmmi_db_bind_int(st, 4, m[i].oid) |
          lmmi_bind_text(st, 5, m[i].uri) | lmmi_bind_text(st, 6, m[i].psk_identity) |
          lmmi_db_bind_int64(st, 7, (int64_t)(m[i].psk_key ? m[i].psk_key_len : 0)) |
          lmmi_db_bind_int(st, 8, m[i].format);
    if (src == LMMI_DB_OK) src = lmmi_db_step(st);
    if (src == LMMI_DB_CONSTRAINT_UNIQUE || src == LMMI_DB_CONSTRAINT_PRIMARYKEY) {
      lmmi_db_reset(st);
      rc = member_dup(s, group, &m[i], base);
      goto out;
    }
    if (src != LMMI_DB_DONE) {
      rc = lmmi_store_fail(s, src, "members add");
      lmmi_db_reset(st);
      goto out;
    }
    if (m[i].psk_key && m[i].psk_key_len && (rc = member_key_put(s, group, &m[i])) != LMM_OK)
      goto out;
    rc = LMM_ERR_DB;
  }
  lmmi_db_reset(st);
  rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  return rc;
}

LMM_API lmm_err lmm_store_member_remove(lmm_store *s, const char *group, const char *ep,
                                        uint16_t oid) {
  lmm_err rc = lmmi_store_check(s, group && ep, "member remove");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_DELETE, SQL_MEMBER_DELETE);
  if (!st) return LMM_ERR_DB;
  /* The key goes in the same transaction; without the key file, as for a group's delete, it
   * is swept later. */
  if ((rc = lmmi_store_begin(s, true)) != LMM_OK) return rc;
  char *name = NULL;
  int src = lmmi_bind_text(st, 1, group) | lmmi_bind_text(st, 2, ep) | lmmi_db_bind_int(st, 3, oid);
  if (src != LMMI_DB_OK) {
    rc = lmmi_store_fail(s, src, "member remove");
    goto out;
  }
  if ((rc = lmmi_store_exec_stmt(s, st, "member remove")) != LMM_OK) goto out;
  if (lmmi_db_changes(s->db) == 0) {
    rc = lmmi_store_say(s, LMM_ERR_NOTFOUND, "member ep=%s/%u is not in group %s", ep, oid, group);
    goto out;
  }
  if (s->keys_ok) {
    if (!(name = lmmi_store_psk_name(group, ep, oid))) {
      rc = lmmi_store_say(s, LMM_ERR_NOMEM, "member remove: out of memory");
      goto out;
    }
    if ((rc = lmmi_store_secret_del(s, "psk", name)) != LMM_OK) goto out;
  }
  rc = lmmi_store_commit(s);
out:
  if (rc != LMM_OK) lmmi_store_rollback(s);
  free(name);
  return rc;
}

/* The PSK of member `m` (of length `len`, as the state file says) from the key file. */
static lmm_err member_key_get(lmm_store *s, const char *group, lmm_member *m, size_t len) {
  char *name = lmmi_store_psk_name(group, m->ep, m->oid);
  if (!name) return lmmi_store_say(s, LMM_ERR_NOMEM, "member: out of memory");
  lmm_err rc = lmmi_store_secret_get(s, "psk", name, &m->psk_key, &m->psk_key_len);
  free(name);
  if (rc == LMM_ERR_NOTFOUND) {
    s->key_missing = true;
    return lmmi_store_say(s, LMM_ERR_DB,
                          "member ep=%s/%u of group %s: its PSK is not in the key file %s (was "
                          "the key file replaced? add the member again with its key)",
                          m->ep, m->oid, group, s->keys_path);
  }
  if (rc == LMM_ERR_DB) {
    char why[sizeof s->msg];
    snprintf(why, sizeof why, "%s", s->keys_ok ? s->msg : s->keys_why);
    return lmmi_store_say(s, rc, "member ep=%s/%u of group %s: its PSK cannot be read: %s", m->ep,
                          m->oid, group, why);
  }
  if (rc == LMM_OK && m->psk_key_len != len)
    return lmmi_store_say(s, LMM_ERR_DB,
                          "member ep=%s/%u of group %s: its PSK in the key file %s has %zu bytes, "
                          "the state file says %zu",
                          m->ep, m->oid, group, s->keys_path, m->psk_key_len, len);
  return rc;
}

static lmm_err member_read(lmm_store *s, lmmi_db_stmt *st, void *out) {
  lmm_member m = {0};
  lmm_err rc = LMM_ERR_NOMEM;
  m.oid = (uint16_t)lmmi_db_column_int(st, 1);
  m.format = (uint16_t)lmmi_db_column_int(st, 5);
  int64_t key_len = lmmi_db_column_int64(st, 4);
  if (!lmmi_col_text(st, 0, &m.ep) || !lmmi_col_text(st, 2, &m.uri) ||
      !lmmi_col_text(st, 3, &m.psk_identity)) {
    lmmi_store_say(s, rc, "member: out of memory");
    goto out;
  }
  if (key_len > 0 && (rc = member_key_get(s, (const char *)lmmi_db_column_text(st, 6), &m,
                                          (size_t)key_len)) != LMM_OK)
    goto out;
  *(lmm_member *)out = m;
  return LMM_OK;
out:
  lmm_member_clear(&m); /* zeroises a key read */
  return rc;
}

LMM_API lmm_err lmm_store_members_get(lmm_store *s, const char *group, lmm_member **out,
                                      size_t *n) {
  lmm_err rc = lmmi_store_check(s, group && out && n, "members get");
  if (rc != LMM_OK) return rc;
  lmmi_db_stmt *st = lmmi_store_stmt(s, LMMI_SQL_MEMBER_LIST, SQL_MEMBER_LIST);
  if (!st) return LMM_ERR_DB;
  int src = lmmi_bind_text(st, 1, group);
  if (src != LMMI_DB_OK) return lmmi_store_fail(s, src, "members get");
  lmm_member *v;
  size_t nv;
  s->key_missing = false;
  rc = lmmi_store_rows_of(s, group_named, group, st, sizeof *v, member_read, (void **)&v, &nv,
                          "members get");
  if (rc != LMM_OK && s->key_missing) {
    /* A read snapshot of each file is taken at its first read, and a writer commits the state
     * file just before the key file: a member added a moment ago may show without its key.
     * Under the write lock no commit is halfway: read again there, to be sure. */
    lmm_members_free(v, nv);
    v = NULL, nv = 0;
    if ((rc = lmmi_store_begin(s, true)) == LMM_OK && (rc = group_exists(s, group)) == LMM_OK &&
        (rc = lmmi_store_rows(s, st, sizeof *v, member_read, (void **)&v, &nv, "members get")) ==
            LMM_OK)
      rc = lmmi_store_commit(s);
    lmmi_db_reset(st);
    if (rc != LMM_OK) lmmi_store_rollback(s);
  }
  if (rc != LMM_OK) {
    lmm_members_free(v, nv);
    return rc;
  }
  *out = v, *n = nv;
  return LMM_OK;
}
