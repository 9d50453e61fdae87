/* test_store_secret.c - the store's key file: secrets in and out, members' PSKs kept there and
 * not in the state file, its mode whatever the umask, and a key file that is missing, open to
 * others or not ours. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmmt.h"
#include "lwm2m_mbms/ctx.h"
#include "lwm2m_mbms/store.h"
#include "store/store_internal.h"

typedef struct fx {
  lmm_ctx *ctx;
  char dir[64], path[128], keys[140];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  if (!f || lmm_ctx_new(NULL, &f->ctx) != LMM_OK || lmmt_scratch_dir(f->dir, "secret") != 0)
    return -1;
  snprintf(f->path, sizeof f->path, "%s/st/state.db", f->dir);
  snprintf(f->keys, sizeof f->keys, "%s.keys", f->path);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  int rc = lmmt_scratch_remove(f->dir);
  lmm_ctx_free(f->ctx);
  free(f);
  return rc;
}

static lmm_store *open_ok(fx *f) {
  lmm_store *s = NULL;
  lmm_err e = lmm_store_open(f->ctx, f->path, &s);
  if (e != LMM_OK) fail_msg("open: %s", lmm_store_errmsg(s));
  return s;
}

static bool file_has(const char *path, const void *k, size_t n) {
  size_t len;
  char *b = lmmt_read_file(path, &len);
  bool has = b && memmem(b, len, k, n);
  free(b);
  return has;
}

static unsigned mode_of(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_mode & 07777;
}

static const uint8_t K1[16] = {0xde, 0xad, 0xbe, 0xef, 0x10, 0x32, 0x54, 0x76,
                               0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67};
static const uint8_t K2[16] = {0x5a, 0xa5, 0x0f, 0xf0, 0x11, 0x22, 0x33, 0x44,
                               0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc};

static void test_put_get_del(void **state) {
  fx *f = *state;
  lmm_store *s = open_ok(f);
  uint8_t *k = NULL;
  size_t n = 0;
  assert_int_equal(lmmi_store_secret_get(s, "group", "g1", &k, &n), LMM_ERR_NOTFOUND);
  assert_non_null(strstr(lmm_store_errmsg(s), f->keys));
  assert_null(k);
  assert_int_equal(lmmi_store_secret_put(s, "group", "g1", K1, sizeof K1), LMM_OK);
  assert_int_equal(lmmi_store_secret_put(s, "psk", "g1", K2, 5), LMM_OK); /* another kind */
  assert_int_equal(lmmi_store_secret_get(s, "group", "g1", &k, &n), LMM_OK);
  assert_int_equal(n, 16);
  assert_memory_equal(k, K1, 16);
  free(k);
  assert_int_equal(lmmi_store_secret_put(s, "group", "g1", K2, sizeof K2), LMM_OK); /* replaced */
  assert_int_equal(lmmi_store_secret_get(s, "group", "g1", &k, &n), LMM_OK);
  assert_memory_equal(k, K2, 16);
  free(k);
  assert_int_equal(lmmi_store_secret_put(s, "", "g1", K1, 16), LMM_ERR_ARG);
  assert_int_equal(lmmi_store_secret_put(s, "group", NULL, K1, 16), LMM_ERR_ARG);
  assert_int_equal(lmmi_store_secret_put(s, "group", "g1", NULL, 16), LMM_ERR_ARG);
  assert_int_equal(lmmi_store_secret_put(s, "group", "g1", K1, 0), LMM_ERR_ARG);
  assert_int_equal(lmmi_store_secret_get(s, "group", "g1", NULL, &n), LMM_ERR_ARG);

  /* Inside a transaction, they are part of it. */
  assert_int_equal(lmmi_store_begin(s, true), LMM_OK);
  assert_int_equal(lmmi_store_secret_del(s, "group", "g1"), LMM_OK);
  lmmi_store_rollback(s);
  assert_int_equal(lmmi_store_secret_get(s, "group", "g1", &k, &n), LMM_OK);
  free(k);
  assert_int_equal(lmmi_store_secret_del(s, "group", "g1"), LMM_OK);
  assert_int_equal(lmmi_store_secret_del(s, "group", "g1"), LMM_OK); /* gone already: fine */
  assert_int_equal(lmmi_store_secret_get(s, "group", "g1", &k, &n), LMM_ERR_NOTFOUND);
  assert_int_equal(lmmi_store_secret_get(s, "psk", "g1", &k, &n), LMM_OK);
  assert_int_equal(n, 5);
  free(k);
  lmm_store_close(s);

  /* In a store in memory, the keys are in memory too. */
  assert_int_equal(lmm_store_open(f->ctx, ":memory:", &s), LMM_OK);
  assert_int_equal(lmmi_store_secret_put(s, "group", "m", K1, 16), LMM_OK);
  assert_int_equal(lmmi_store_secret_get(s, "group", "m", &k, &n), LMM_OK);
  free(k);
  lmm_store_close(s);
}

static void test_psk_names(void **state) {
  (void)state;
  char *a = lmmi_store_psk_name("b7", "dev-1", 6), *b = lmmi_store_psk_name("a/b%c", "x/y", 5);
  assert_string_equal(a, "b7/ep=dev-1/6");
  assert_string_equal(b, "a%2Fb%25c/ep=x/y/5");
  free(a), free(b);
  /* The same text from SQL, as the upgrade of old stores builds it. */
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT " LMMI_PSK_NAME_SQL("'a/b%c'", "'x/y'", "5"), -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "a%2Fb%25c/ep=x/y/5");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static lmm_member keyed(const char *ep, const uint8_t *k) {
  lmm_member m = {0};
  m.ep = (char *)ep, m.oid = 6, m.uri = "coaps://127.0.0.1:5999", m.psk_identity = (char *)ep;
  m.psk_key = (uint8_t *)k, m.psk_key_len = 16, m.format = LMM_FMT_SENML_JSON;
  return m;
}

static void add_group(lmm_store *s, const char *name, const lmm_member *m, size_t n) {
  lmm_group_info g = {0};
  g.name = (char *)name, g.type = LMM_GROUP_UNICAST, g.multicast_port = -1;
  g.response_time_window = 30;
  assert_int_equal(lmm_store_group_create(s, &g), LMM_OK);
  if (lmm_store_members_add(s, name, m, n) != LMM_OK) fail_msg("%s", lmm_store_errmsg(s));
}

/* Made with umask 0, the state file and the key file are still 0600; the keys are in the key
 * file only, and leave it with their member or group. */
static void test_members_keys(void **state) {
  fx *f = *state;
  mode_t old = umask(0);
  lmm_store *s = open_ok(f);
  umask(old);
  assert_int_equal(mode_of(f->path), 0600);
  assert_int_equal(mode_of(f->keys), 0600);
  lmm_member m[2] = {keyed("dev-a", K1), keyed("dev-b", K2)};
  add_group(s, "g1", m, 2);
  add_group(s, "g2", m, 1);
  lmm_member *got;
  size_t n;
  assert_int_equal(lmm_store_members_get(s, "g1", &got, &n), LMM_OK);
  assert_int_equal(n, 2);
  assert_memory_equal(got[1].psk_key, K2, 16);
  lmm_members_free(got, n);
  /* A member listed twice: neither the member nor the key of the batch stays. */
  lmm_member dup[2] = {keyed("dev-c", K1), keyed("dev-c", K2)};
  assert_int_equal(lmm_store_members_add(s, "g2", dup, 2), LMM_ERR_STATE);
  uint8_t *k;
  assert_int_equal(lmmi_store_secret_get(s, "psk", "g2/ep=dev-c/6", &k, &n), LMM_ERR_NOTFOUND);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_false(file_has(f->path, K1, 16) || file_has(wal, K1, 16));
  assert_false(file_has(f->path, K2, 16) || file_has(wal, K2, 16));
  lmm_store_close(s);
  assert_false(file_has(f->path, K1, 16) || file_has(f->path, K2, 16));
  assert_true(file_has(f->keys, K1, 16) && file_has(f->keys, K2, 16));

  s = open_ok(f);
  assert_int_equal(lmm_store_group_delete(s, "g1"), LMM_OK);
  assert_int_equal(lmmi_store_secret_get(s, "psk", "g1/ep=dev-a/6", &k, &n), LMM_ERR_NOTFOUND);
  assert_int_equal(lmmi_store_secret_get(s, "psk", "g2/ep=dev-a/6", &k, &n), LMM_OK);
  free(k);
  lmm_store_close(s);
  assert_false(file_has(f->keys, K2, 16)); /* overwritten, not only unlinked */
  assert_true(file_has(f->keys, K1, 16));  /* g2's dev-a */
}

/* A key file lost, or replaced by one open to everyone or by another file: the store still
 * opens and serves what needs no key; what needs one fails naming the key file. */
static void test_key_file_trouble(void **state) {
  fx *f = *state;
  lmm_store *s = open_ok(f);
  lmm_member m[1] = {keyed("dev-a", K1)};
  add_group(s, "g1", m, 1);
  lmm_store_close(s);

  assert_int_equal(unlink(f->keys), 0);
  s = open_ok(f); /* an empty key file is made again */
  lmm_member *got;
  size_t n;
  assert_int_equal(lmm_store_members_get(s, "g1", &got, &n), LMM_ERR_DB);
  print_message("missing key: %s\n", lmm_store_errmsg(s));
  assert_non_null(strstr(lmm_store_errmsg(s), f->keys));
  assert_non_null(strstr(lmm_store_errmsg(s), "dev-a"));
  lmm_group_info g;
  assert_int_equal(lmm_store_group_get(s, "g1", &g), LMM_OK);
  lmm_group_info_clear(&g);
  /* Adding the member again mends it. */
  assert_int_equal(lmm_store_member_remove(s, "g1", "dev-a", 6), LMM_OK);
  assert_int_equal(lmm_store_members_add(s, "g1", m, 1), LMM_OK);
  assert_int_equal(lmm_store_members_get(s, "g1", &got, &n), LMM_OK);
  lmm_members_free(got, n);
  lmm_store_close(s);

  assert_int_equal(chmod(f->keys, 0644), 0);
  s = open_ok(f);
  assert_int_equal(lmm_store_members_get(s, "g1", &got, &n), LMM_ERR_DB);
  print_message("open key file: %s\n", lmm_store_errmsg(s));
  assert_non_null(strstr(lmm_store_errmsg(s), f->keys));
  assert_non_null(strstr(lmm_store_errmsg(s), "0644"));
  lmm_member m2[1] = {keyed("dev-b", K2)};
  assert_int_equal(lmm_store_members_add(s, "g1", m2, 1), LMM_ERR_DB);
  assert_non_null(strstr(lmm_store_errmsg(s), f->keys));
  lmm_member plain = {.ep = "dev-p", .oid = 6, .uri = "coap://127.0.0.1:5999"};
  assert_int_equal(lmm_store_members_add(s, "g1", &plain, 1), LMM_OK); /* needs no key */
  lmm_store_close(s);
  assert_int_equal(mode_of(f->keys), 0644); /* left for the operator to judge */
  assert_int_equal(chmod(f->keys, 0600), 0);

  /* One that another user owns is not used either, whatever its mode. Only root can give a
   * file away: as anyone else the check cannot be made, and says so. */
  if (geteuid() == 0) {
    assert_int_equal(chown(f->keys, 4242, (gid_t)-1), 0);
    s = open_ok(f);
    assert_int_equal(lmm_store_members_get(s, "g1", &got, &n), LMM_ERR_DB);
    print_message("owned by another: %s\n", lmm_store_errmsg(s));
    assert_non_null(strstr(lmm_store_errmsg(s), f->keys));
    assert_non_null(strstr(lmm_store_errmsg(s), "uid 4242"));
    lmm_store_close(s);
    assert_int_equal(chown(f->keys, 0, (gid_t)-1), 0);
  } else {
    print_message("NOT CHECKED: a key file owned by another user (needs root to chown)\n");
  }

  /* Another SQLite file in its place is not written to. */
  assert_int_equal(unlink(f->keys), 0);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->keys, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(chmod(f->keys, 0600), 0);
  s = open_ok(f);
  assert_int_equal(lmm_store_members_get(s, "g1", &got, &n), LMM_ERR_DB);
  assert_non_null(strstr(lmm_store_errmsg(s), "not a lwm2m-mbms key file"));
  lmm_store_close(s);
}

/* A key whose member went while the key file was away, or in a crash between the commits of
 * the two files, is deleted at the next open. */
static void test_sweep(void **state) {
  fx *f = *state;
  lmm_store *s = open_ok(f);
  lmm_member m[2] = {keyed("dev-a", K1), keyed("dev-b", K2)};
  add_group(s, "g1", m, 2);
  lmm_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM members WHERE ep = 'dev-b'", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = open_ok(f);
  uint8_t *k;
  size_t n;
  assert_int_equal(lmmi_store_secret_get(s, "psk", "g1/ep=dev-b/6", &k, &n), LMM_ERR_NOTFOUND);
  assert_int_equal(lmmi_store_secret_get(s, "psk", "g1/ep=dev-a/6", &k, &n), LMM_OK);
  free(k);
  lmm_store_close(s);
  assert_false(file_has(f->keys, K2, 16));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
      cmocka_unit_test_setup_teardown(test_psk_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_members_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_file_trouble, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
