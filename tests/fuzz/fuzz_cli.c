/* fuzz_cli.c - libFuzzer target for the command line's parsers of operators' words: the first
 * byte picks one, the rest is its argument (one word) or, split at newlines, its arguments.
 *   0 deliver --firmware's options (counts, sizes, rates, shares, waves, durations, URIs and
 *     addresses of the run options), cli_fw_opts_parse(); or, when the first word is "t8",
 *     the options of "lwm2m-mbms t8 ..." up to where it would connect to the SCEF;
 *   1 a deliver operation (PATH[:TYPE][=VALUE], hex:, ?QUERY), cli_build_op(), with and
 *     without --format;
 *   2 the single words: times (RFC 3339, +SECONDS), ADDR:PORT, formats, paths, campaign
 *     numbers.
 * What parses must be within the documented ranges, and a Write's payload must decode in its
 * format; what does not must be a usage error (exit 2), never a crash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* To the descriptor: the parsers' usage messages go to a stderr that is /dev/null here. */
#include "fuzz_check.h"

#define MAX_ARGS 32

static void quiet(void) {
  static FILE *null;
  if (null == NULL && (null = fopen("/dev/null", "w")) != NULL) stderr = null;
}

static void fw_opts(cli *c, char **argv, int argc) {
  cli_fw_opts f;
  int first = -1, rc;

  memset(&f, 0, sizeof f);
  rc = cli_fw_opts_parse(c, argc, argv, &f, &first);
  if (rc != 0) {
    CHECK(rc == EXIT_USAGE);
    return;
  }
  CHECK(f.file != NULL && first >= 1 && first <= argc);
  CHECK(f.fragment_size == -1 || (f.fragment_size >= 16 && f.fragment_size <= 1024));
  CHECK(f.fec == -1 || (f.fec >= 0 && f.fec <= 1024));
  CHECK(f.rounds == -1 || (f.rounds >= 1 && f.rounds <= 100));
  CHECK(f.window_s == -1 || (f.window_s >= 1 && f.window_s <= 86400));
  CHECK(f.rate == 0 || (f.rate >= 100 && f.rate <= 1e10));
  CHECK(f.success == -1 || (f.success >= 0 && f.success <= 1));
  CHECK(f.error == -1 || (f.error >= 0 && f.error <= 1));
  CHECK(f.wave_percent == 0 || (f.wave_percent > 0 && f.wave_percent <= 100));
  CHECK(f.wave_count <= 10000000 && !(f.wave_count && f.wave_percent > 0));
  CHECK(f.ro.wait_s >= 0 && f.ro.wait_s <= 7 * 86400);
  CHECK(f.n_obj_dirs <= CLI_MAX_OBJECT_DIRS);
}

static void operation(cli *c, unsigned sel, const char *arg) {
  static const uint16_t fmts[] = {LMM_FMT_TEXT, LMM_FMT_SENML_JSON, LMM_FMT_TLV, LMM_FMT_OPAQUE,
                                  LMM_FMT_LINK};
  cli_op_build b = {.op = LMM_OP_INIT};
  bool fmt_given = sel & 8;
  uint16_t fmt = fmts[(sel >> 4) % 5];
  int which = CLI_OP_READ + (int)(sel & 7) % 5, rc;

  rc = cli_build_op(c, which, arg, fmt_given, fmt, LMM_GROUP_MGMT_OID, &b);
  if (rc != 0) {
    CHECK(rc == EXIT_USAGE);
  } else {
    CHECK(b.op.path.depth >= 1 && b.op.path.depth <= 4);
    CHECK(b.op.len == 0 || b.op.payload != NULL);
    /* A Write's payload is what a device decodes: it must decode in its own format. */
    if (b.op.kind == LMM_OPK_WRITE && b.op.len > 0 &&
        (b.op.format == LMM_FMT_TEXT || b.op.format == LMM_FMT_SENML_JSON ||
         b.op.format == LMM_FMT_TLV)) {
      lmm_records recs = {0};
      char why[160];
      if (lmm_lwm2m_decode(b.op.format, &b.op.path, b.op.payload, b.op.len, NULL, &recs, why,
                           sizeof why) != LMM_OK) {
        dprintf(2, "'%s': payload does not decode: %s\n", arg, why);
        abort();
      }
      lmm_records_clear(&recs);
    }
  }
  free(b.payload);
  free(b.query);
}

static void words(cli *c, const char *s) {
  char addr[64];
  uint16_t port, fmt;
  int64_t t, id;
  lmm_path_kind via;
  lmm_path p;

  char buf[40];
  int64_t back;

  /* A time that parses prints as one that parses to the same second. */
  if (cli_parse_time(s, &t) && t != 0) {
    CHECK(strcmp(cli_fmt_time(t, false, buf, sizeof buf), "-") != 0);
    CHECK(cli_parse_time(buf, &back) && back == t);
  }
  if (cli_split_hostport(s, addr, sizeof addr, &port)) CHECK(memchr(addr, '\0', sizeof addr));
  if (cli_parse_format(s, &fmt))
    CHECK(fmt == LMM_FMT_TEXT || fmt == LMM_FMT_OPAQUE || fmt == LMM_FMT_LINK ||
          fmt == LMM_FMT_TLV || fmt == LMM_FMT_SENML_JSON);
  if (cli_parse_via(s, &via))
    CHECK(via == LMM_VIA_MBMS || via == LMM_VIA_MULTICAST || via == LMM_VIA_UNICAST);
  if (lmm_path_parse(s, &p) == LMM_OK) CHECK(p.depth <= 4);
  if (cli_parse_campaign_id(c, s, &id) == 0) CHECK(id > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cli c = {.cmd = "deliver"};
  char *text, *argv[MAX_ARGS + 2];
  int argc = 0;
  unsigned sel;

  if (size == 0) return 0;
  quiet();
  sel = data[0];
  if ((text = malloc(size)) == NULL) return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  switch (sel % 3) {
  case 0:
    argv[argc++] = "deliver";
    for (char *w = text; w != NULL && argc < MAX_ARGS + 1;) {
      char *nl = strchr(w, '\n');
      if (nl) *nl = '\0';
      argv[argc++] = w;
      w = nl ? nl + 1 : NULL;
    }
    argv[argc] = NULL;
    /* "t8 ...": its subcommands' options; with no SCEF given it stops before connecting. */
    if (argc >= 2 && strcmp(argv[1], "t8") == 0)
      CHECK(cmd_t8(&c, argc - 2, argv + 2) == EXIT_USAGE);
    else
      fw_opts(&c, argv, argc);
    break;
  case 1:
    operation(&c, sel / 3, text);
    break;
  default:
    words(&c, text);
  }
  free(text);
  return 0;
}
