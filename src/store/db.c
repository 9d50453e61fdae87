/* db.c - the engine-neutral calls of db.h: each dispatches to its connection's back end. */
#include "store/db.h"

void lmmi_db_close(lmmi_db *db) {
  if (db) db->ops->close(db);
}
lmmi_db_engine lmmi_db_engine_of(const lmmi_db *db) {
  return db->ops->engine;
}
int lmmi_db_prepare(lmmi_db *db, const char *sql, lmmi_db_stmt **out) {
  return db->ops->prepare(db, sql, false, out);
}
int lmmi_db_prepare_persistent(lmmi_db *db, const char *sql, lmmi_db_stmt **out) {
  return db->ops->prepare(db, sql, true, out);
}
void lmmi_db_finalize(lmmi_db_stmt *st) {
  if (st) st->db->ops->finalize(st);
}
void lmmi_db_guard(lmmi_db_stmt *st) {
  if (st->db->ops->guard) st->db->ops->guard(st);
}
void lmmi_db_reset(lmmi_db_stmt *st) {
  st->db->ops->reset(st);
}
void lmmi_db_clear_bindings(lmmi_db_stmt *st) {
  st->db->ops->clear_bindings(st);
}
int lmmi_db_bind_int(lmmi_db_stmt *st, int col, int v) {
  return st->db->ops->bind_int64(st, col, v);
}
int lmmi_db_bind_int64(lmmi_db_stmt *st, int col, int64_t v) {
  return st->db->ops->bind_int64(st, col, v);
}
int lmmi_db_bind_text(lmmi_db_stmt *st, int col, const char *v) {
  return st->db->ops->bind_text(st, col, v);
}
int lmmi_db_bind_blob64(lmmi_db_stmt *st, int col, const void *v, size_t len) {
  return st->db->ops->bind_blob(st, col, v, len);
}
int lmmi_db_bind_null(lmmi_db_stmt *st, int col) {
  return st->db->ops->bind_null(st, col);
}
int lmmi_db_step(lmmi_db_stmt *st) {
  return st->db->ops->step(st);
}
int lmmi_db_column_int(lmmi_db_stmt *st, int col) {
  return (int)st->db->ops->column_int64(st, col);
}
int64_t lmmi_db_column_int64(lmmi_db_stmt *st, int col) {
  return st->db->ops->column_int64(st, col);
}
const char *lmmi_db_column_text(lmmi_db_stmt *st, int col) {
  return st->db->ops->column_text(st, col);
}
const void *lmmi_db_column_blob(lmmi_db_stmt *st, int col) {
  return st->db->ops->column_blob(st, col);
}
size_t lmmi_db_column_bytes(lmmi_db_stmt *st, int col) {
  return st->db->ops->column_bytes(st, col);
}
bool lmmi_db_column_is_null(lmmi_db_stmt *st, int col) {
  return st->db->ops->column_is_null(st, col);
}
int lmmi_db_exec(lmmi_db *db, const char *sql) {
  return db->ops->exec(db, sql);
}
int lmmi_db_begin(lmmi_db *db, bool write) {
  return db->ops->begin(db, write);
}
int lmmi_db_commit(lmmi_db *db) {
  return db->ops->exec(db, "COMMIT");
}
int lmmi_db_rollback(lmmi_db *db) {
  return db->ops->exec(db, "ROLLBACK");
}
bool lmmi_db_in_transaction(lmmi_db *db) {
  return db->ops->in_transaction(db);
}
const char *lmmi_db_errmsg(lmmi_db *db) {
  return db->ops->errmsg(db);
}
void lmmi_db_describe(lmmi_db *db, int rc, const char *what, char *out, size_t cap) {
  db->ops->describe(db, rc, what, out, cap);
}
int64_t lmmi_db_changes(lmmi_db *db) {
  return db->ops->changes(db);
}
int64_t lmmi_db_last_insert_id(lmmi_db *db) {
  return db->ops->last_insert_id(db);
}
