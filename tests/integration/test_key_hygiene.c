/* test_key_hygiene.c - members' DTLS PSKs through a whole CoAPS campaign of the command line
 * (group create from a members file, an operation, a firmware push, reports, group show): with
 * logging at its most verbose, no key appears in anything the command line or the simulator
 * prints, nor in the state file or its -wal and -shm; the key file holds them, mode 0600 even
 * under umask 000, as is the state file. The same for the group key that protects a multicast
 * group's messages (carried to the members by the Group Mgmt write over CoAPS). */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mbedtls/base64.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmmt.h"
#include "lmmt_cli.h"
#include "lwm2m_mbms/group.h"

enum { N = 5 };

/* Everything captured, to be searched at the end: each command's stdout and stderr. */
typedef struct seen {
  char *text[64];
  size_t len[64];
  const char *what[64];
  size_t n;
} seen;

static void keep(seen *s, const char *what, char *text) {
  assert_true(s->n < 64);
  s->what[s->n] = what, s->len[s->n] = strlen(text), s->text[s->n++] = text;
}

/* Runs the command line with --verbose, checks its status, keeps what it printed. */
static void run(seen *s, const char *db, int want, const char *out_has, const char *const *args) {
  const char *argv[40] = {"--verbose"};
  int n = 1;
  for (int i = 0; args[i] && n < 39; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  lmmt_run r = lmmt_cli_run(db, NULL, argv);
  if (r.status != want || (out_has && !strstr(r.out, out_has)))
    fail_msg("%s %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", args[0], args[1] ? args[1] : "",
             r.status, want, r.out, r.err);
  keep(s, args[0], r.out);
  keep(s, args[0], r.err);
}

/* Whether `hay` holds key `k` in raw bytes, in hex (either case) or in base64. */
static const char *key_in(const char *hay, size_t len, const uint8_t *k, size_t n) {
  char lo[2 * 64 + 1], up[2 * 64 + 1];
  unsigned char b64[128];
  size_t bl = 0;
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++) {
    snprintf(lo + 2 * i, 3, "%02x", k[i]);
    snprintf(up + 2 * i, 3, "%02X", k[i]);
  }
  assert_int_equal(mbedtls_base64_encode(b64, sizeof b64, &bl, k, n), 0);
  if (memmem(hay, len, k, n)) return "raw";
  if (memmem(hay, len, lo, 2 * n)) return "hex";
  if (memmem(hay, len, up, 2 * n)) return "HEX";
  /* Without its padding, which depends on what follows it in a longer encoding. */
  while (bl && b64[bl - 1] == '=')
    bl--;
  if (memmem(hay, len, b64, bl)) return "base64";
  return NULL;
}

/* The multicast group's key, once read from the key file (16 bytes). */
static uint8_t group_key[64];
static size_t group_key_len;

static void no_key_in(const char *what, const char *hay, size_t len, const lmm_member *m) {
  for (size_t i = 0; i < N; i++) {
    const char *how = key_in(hay, len, m[i].psk_key, m[i].psk_key_len);
    if (how) fail_msg("%s holds the PSK of %s (%s)", what, m[i].ep, how);
  }
  const char *how = group_key_len ? key_in(hay, len, group_key, group_key_len) : NULL;
  if (how) fail_msg("%s holds the group key (%s)", what, how);
}

/* The group key of group `name` from the key file, into group_key. */
static void read_group_key(const char *keys, const char *name) {
  sqlite3 *k;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open_v2(keys, &k, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(k,
                                      "SELECT key FROM secrets WHERE kind = 'group' AND name = ?1",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  group_key_len = (size_t)sqlite3_column_bytes(st, 0);
  assert_true(group_key_len >= 16 && group_key_len <= sizeof group_key);
  memcpy(group_key, sqlite3_column_blob(st, 0), group_key_len);
  sqlite3_finalize(st);
  sqlite3_close(k);
}

static void no_key_in_file(const char *path, const lmm_member *m, bool must_exist) {
  size_t len = 0;
  char *b = lmmt_read_file(path, &len);
  if (!b) {
    assert_false(must_exist);
    return;
  }
  print_message("%s: %zu bytes, no key\n", path, len);
  no_key_in(path, b, len, m);
  free(b);
}

static unsigned mode_of(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_mode & 07777;
}

static void test_coaps_campaign_keeps_keys(void **state) {
  (void)state;
  mode_t old_umask = umask(0); /* the CLI inherits it: the store must not rely on it */
  char dir[64], db[128], keys[140], wal[140], shm[140], fw[128];
  assert_int_equal(lmmt_scratch_dir(dir, "hygiene"), 0);
  snprintf(db, sizeof db, "%s/state/st.db", dir);
  snprintf(keys, sizeof keys, "%s.keys", db);
  snprintf(wal, sizeof wal, "%s-wal", db);
  snprintf(shm, sizeof shm, "%s-shm", db);
  snprintf(fw, sizeof fw, "%s/fw.bin", dir);
  FILE *fp = fopen(fw, "wb");
  assert_non_null(fp);
  for (int i = 0; i < 6000; i++)
    fputc((i * 7 + 3) & 0xff, fp);
  fclose(fp);

  lmmt_sim sim;
  assert_int_equal(
      lmmt_sim_start(&sim, (const char *[]){"--count", "5", "--object", "5", "--update-ms", "50",
                                            "--dtls", "--dtls-port", "0", "--psk-secret",
                                            "hygiene-secret", "--verbose", NULL}),
      0);
  lmm_member *m;
  size_t n;
  char why[200];
  assert_int_equal(lmm_members_load(sim.members_path, &m, &n, why, sizeof why), LMM_OK);
  assert_int_equal(n, N);
  for (size_t i = 0; i < n; i++) {
    assert_memory_equal(m[i].uri, "coaps://", 8);
    assert_int_equal(m[i].psk_key_len, 16);
  }

  /* The search finds a key where one is: the members file has them in hex. */
  size_t mlen;
  char *mf = lmmt_read_file(sim.members_path, &mlen);
  assert_non_null(mf);
  assert_string_equal(key_in(mf, mlen, m[0].psk_key, 16), "hex");
  free(mf);

  seen s = {0};
  run(&s, db, 0, "(unicast, 5 members)",
      (const char *[]){"group", "create", "sec", "--type", "unicast", "--members", sim.members_path,
                       NULL});
  assert_int_equal(mode_of(db), 0600);
  assert_int_equal(mode_of(keys), 0600);
  /* A connection of our own keeps the -wal and -shm from being removed by the last command
   * to close, so that what the commands wrote there can be searched too. */
  sqlite3 *hold;
  assert_int_equal(sqlite3_open_v2(db, &hold, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(hold, "SELECT count(*) FROM groups", NULL, NULL, NULL), SQLITE_OK);

  run(&s, db, 0, "psk-key=(16 bytes)", (const char *[]){"group", "show", "sec", NULL});
  run(&s, db, 0, "\"pskKey\":true", (const char *[]){"--json", "group", "show", "sec", NULL});
  run(&s, db, 0, "sec", (const char *[]){"--json", "group", "list", NULL});
  run(&s, db, 0, NULL, (const char *[]){"deliver", "sec", "--read", "/5/0/3", NULL});
  run(&s, db, 0, NULL, (const char *[]){"--json", "deliver", "sec", "--read", "/5/0/7", NULL});
  run(&s, db, 0, NULL,
      (const char *[]){"deliver", "sec", "--firmware", fw, "--method", "push", NULL});
  /* A multicast group of the same members: its group messages are sealed under a group key. */
  char port[8], addr[24];
  snprintf(port, sizeof port, "%d", 40000 + lmmt_random_port() % 20000);
  snprintf(addr, sizeof addr, "239.%d.%d.%d", 100 + rand() % 100, rand() % 250, 1 + rand() % 250);
  run(&s, db, 0, "(multicast, 5 members)",
      (const char *[]){"group", "create", "msec", "--type", "multicast", "--multicast-address",
                       addr, "--multicast-port", port, "--window", "1", "--members",
                       sim.members_path, NULL});
  run(&s, db, 0, "by path: mbms 0, multicast 5",
      (const char *[]){"deliver", "msec", "--read", "/5/0/3", "--protect", "on", "--grace-ms",
                       "1500", NULL});
  read_group_key(keys, "msec");
  run(&s, db, 0, NULL, (const char *[]){"campaigns", NULL});
  run(&s, db, 0, NULL, (const char *[]){"--json", "campaigns", NULL});
  for (int id = 1; id <= 4; id++) {
    char ids[8];
    snprintf(ids, sizeof ids, "%d", id);
    run(&s, db, 0, "dev-", (const char *[]){"report", ids, NULL});
    run(&s, db, 0, "dev-", (const char *[]){"--json", "report", ids, NULL});
    run(&s, db, 0, "dev-", (const char *[]){"report", ids, "--format", "csv", NULL});
  }
  /* The campaigns did run over CoAPS and did answer. */
  size_t i;
  for (i = 0; i < s.n && !strstr(s.text[i], "unicast push"); i++)
    ;
  assert_true(i < s.n);

  for (i = 0; i < s.n; i++)
    no_key_in(s.what[i], s.text[i], s.len[i], m);
  char path[160];
  snprintf(path, sizeof path, "%s/stderr", sim.dir);
  no_key_in_file(path, m, true); /* the simulator's own output, verbose too */
  no_key_in_file(db, m, true);
  no_key_in_file(wal, m, true);
  no_key_in_file(shm, m, true);
  sqlite3_close(hold);
  no_key_in_file(db, m, true); /* after the last close folded the -wal in */

  /* The key file has them, and is the owner's only. */
  size_t klen;
  char *kb = lmmt_read_file(keys, &klen);
  assert_non_null(kb);
  for (size_t k = 0; k < n; k++)
    assert_non_null(memmem(kb, klen, m[k].psk_key, m[k].psk_key_len));
  assert_non_null(memmem(kb, klen, group_key, group_key_len));
  free(kb);
  assert_int_equal(mode_of(keys), 0600);
  assert_int_equal(mode_of(db), 0600);
  char sub[80];
  snprintf(sub, sizeof sub, "%s/state", dir);
  assert_int_equal(mode_of(sub), 0700);

  for (i = 0; i < s.n; i++)
    free(s.text[i]);
  lmm_members_free(m, n);
  assert_int_equal(lmmt_sim_stop(&sim), 0);
  assert_int_equal(lmmt_scratch_remove(dir), 0);
  umask(old_umask);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_coaps_campaign_keeps_keys)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
