/* test_cli_store_path.c - where the command line puts the state store when no --db is given
 * ($LMM_DB, $XDG_STATE_HOME, $HOME): the CLI's own source, built into this test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void set_env(const char *k, const char *v) {
  if (v)
    setenv(k, v, 1);
  else
    unsetenv(k);
}

static void test_default_path(void **state) {
  (void)state;
  static const char *const keys[] = {"LMM_DB", "XDG_STATE_HOME", "HOME"};
  char *saved[3];
  for (int i = 0; i < 3; i++)
    saved[i] = getenv(keys[i]) ? strdup(getenv(keys[i])) : NULL;
  char buf[256];

  set_env("LMM_DB", "/srv/lmm/state.db");
  set_env("XDG_STATE_HOME", "/xdg");
  set_env("HOME", "/home/op");
  assert_string_equal(cli_store_default_path(buf, sizeof buf), "/srv/lmm/state.db");
  set_env("LMM_DB", "");
  assert_string_equal(cli_store_default_path(buf, sizeof buf), "/xdg/lwm2m-mbms/state.db");
  set_env("LMM_DB", NULL);
  assert_string_equal(cli_store_default_path(buf, sizeof buf), "/xdg/lwm2m-mbms/state.db");
  set_env("XDG_STATE_HOME", "relative/dir"); /* invalid per the XDG spec: ignored */
  assert_string_equal(cli_store_default_path(buf, sizeof buf),
                      "/home/op/.local/state/lwm2m-mbms/state.db");
  set_env("XDG_STATE_HOME", NULL);
  assert_string_equal(cli_store_default_path(buf, sizeof buf),
                      "/home/op/.local/state/lwm2m-mbms/state.db");
  assert_null(cli_store_default_path(buf, 10)); /* never a cut path */
  set_env("HOME", NULL);
  assert_null(cli_store_default_path(buf, sizeof buf));

  for (int i = 0; i < 3; i++) {
    set_env(keys[i], saved[i]);
    free(saved[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
