/* store_gw.c - a gateway's Group Mgmt instances and the groups they are, in a table of the state
 * file made on first use (as group_seq is): stores that never ran a gateway are not upgraded. */
#include "store/store_gw.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/* No foreign key to groups: the gateway deletes the row with the group, and a group deleted
 * behind its back (lwm2m-mbms group delete) is an instance the gateway drops on load. */
static const char SQL_TABLE[] = "CREATE TABLE IF NOT EXISTS gateway_instances("
                                " gm_oid INTEGER NOT NULL, iid INTEGER NOT NULL,"
                                " group_name TEXT NOT NULL, PRIMARY KEY(gm_oid, iid))";

static lmm_err run(lmm_store *s, const char *sql, uint16_t oid, uint16_t iid, const char *group,
                   const char *what) {
  lmm_err rc = lmmi_store_check(s, true, what);
  if (rc != LMM_OK) return rc;
  int r = lmmi_db_exec(s->db, SQL_TABLE);
  if (r != LMMI_DB_OK) return lmmi_store_fail(s, r, what);
  lmmi_db_stmt *st = NULL;
  r = lmmi_db_prepare(s->db, sql, &st);
  if (r != LMMI_DB_OK) return lmmi_store_fail(s, r, what);
  lmmi_db_bind_int(st, 1, oid);
  lmmi_db_bind_int(st, 2, iid);
  if (group) lmmi_bind_text(st, 3, group);
  rc = lmmi_store_exec_stmt(s, st, what);
  lmmi_db_finalize(st);
  return rc;
}

lmm_err lmmi_store_gw_set(lmm_store *s, uint16_t oid, uint16_t iid, const char *group) {
  if (!group) return LMM_ERR_ARG;
  return run(s,
             "INSERT INTO gateway_instances(gm_oid, iid, group_name) VALUES(?1, ?2, ?3)"
             " ON CONFLICT(gm_oid, iid) DO UPDATE SET group_name = excluded.group_name",
             oid, iid, group, "gateway instance set");
}

lmm_err lmmi_store_gw_unset(lmm_store *s, uint16_t oid, uint16_t iid) {
  return run(s, "DELETE FROM gateway_instances WHERE gm_oid = ?1 AND iid = ?2", oid, iid, NULL,
             "gateway instance unset");
}

void lmmi_store_gw_rows_free(lmmi_gw_row *r, size_t n) {
  for (size_t i = 0; r && i < n; i++)
    free(r[i].group);
  free(r);
}

lmm_err lmmi_store_gw_list(lmm_store *s, uint16_t oid, lmmi_gw_row **out, size_t *n) {
  const char *what = "gateway instance list";
  lmm_err rc = lmmi_store_check(s, out && n, what);
  if (rc != LMM_OK) return rc;
  int r = lmmi_db_exec(s->db, SQL_TABLE);
  if (r != LMMI_DB_OK) return lmmi_store_fail(s, r, what);
  lmmi_db_stmt *st = NULL;
  r = lmmi_db_prepare(s->db,
                      "SELECT iid, group_name FROM gateway_instances WHERE gm_oid = ?1"
                      " ORDER BY iid",
                      &st);
  if (r != LMMI_DB_OK) return lmmi_store_fail(s, r, what);
  lmmi_db_bind_int(st, 1, oid);
  lmmi_gw_row *rows = NULL;
  size_t k = 0, cap = 0;
  rc = LMM_OK;
  while ((r = lmmi_db_step(st)) == LMMI_DB_ROW) {
    if (k == cap) {
      size_t nc = cap ? cap * 2 : 8;
      lmmi_gw_row *nr = realloc(rows, nc * sizeof *nr);
      if (!nr) {
        rc = LMM_ERR_NOMEM;
        break;
      }
      rows = nr, cap = nc;
    }
    rows[k].iid = (uint16_t)lmmi_db_column_int(st, 0);
    if (!lmmi_col_text(st, 1, &rows[k].group) || !rows[k].group) {
      rc = LMM_ERR_NOMEM;
      break;
    }
    k++;
  }
  if (rc == LMM_OK && r != LMMI_DB_DONE) rc = lmmi_store_fail(s, r, what);
  lmmi_db_finalize(st);
  if (rc != LMM_OK) {
    lmmi_store_gw_rows_free(rows, k);
    return rc;
  }
  *out = rows, *n = k;
  return LMM_OK;
}
