/* fw_opts.c - what "lwm2m-mbms deliver GROUP --firmware FILE" is given: its options, checked
 * one by one and together, and the image file. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------ options */

/* A whole number from lo to hi; the error names the flag and the value. */
static int parse_long(const cli *c, const char *flag, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi)
    return cli_usage(c, "--%s: '%s' is not a whole number from %ld to %ld", flag, s, lo, hi);
  *out = v;
  return 0;
}

/* "250000", "500k", "1.5M", "1G": bytes per second (k = 1000). */
static int parse_rate(const cli *c, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end != s && (*end == 'k' || *end == 'K'))
    v *= 1e3, end++;
  else if (end != s && *end == 'M')
    v *= 1e6, end++;
  else if (end != s && *end == 'G')
    v *= 1e9, end++;
  if (end == s || *end || !isfinite(v) || v < 100 || v > 1e10 || s[0] == '-' || s[0] == ' ')
    return cli_usage(c,
                     "--rate: '%s' is not bytes per second from 100 to 10G (e.g. 250000, 500k, "
                     "2M)",
                     s);
  *out = v;
  return 0;
}

/* A share: "0.9" (0 to 1) or "90%" (0 to 100). */
static int parse_share(const cli *c, const char *flag, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  bool pct = end != s && *end == '%';
  if (pct) v /= 100, end++;
  if (end == s || *end || !isfinite(v) || v < 0 || v > 1 || s[0] == ' ')
    return cli_usage(c, "--%s: '%s' is not a share: 0 to 1, or a percentage like 90%%", flag, s);
  *out = v;
  return 0;
}

/* "N" members, or "P%" of them. */
static int parse_wave(const cli *c, const char *s, cli_fw_opts *f) {
  char *end;
  double v = strtod(s, &end);
  if (end != s && *end == '%' && !end[1] && isfinite(v) && v > 0 && v <= 100 && s[0] != ' ') {
    f->wave_percent = v, f->wave_count = 0;
    return 0;
  }
  long n;
  errno = 0;
  n = strtol(s, &end, 10);
  if (end != s && !*end && !errno && n >= 1 && n <= 10000000 && s[0] != ' ' && s[0] != '+') {
    f->wave_count = (size_t)n, f->wave_percent = 0;
    return 0;
  }
  return cli_usage(c,
                   "--wave: '%s' is neither a number of members (1 or more) nor a percentage "
                   "(e.g. 10%%)",
                   s);
}

int cli_fw_opts_parse(cli *c, int argc, char **args, cli_fw_opts *f, int *first) {
  const struct option *opts = cli_deliver_options;
  f->via = LMM_VIA_NONE;
  f->method = -1;
  f->fragment_size = f->fec = f->rounds = f->window_s = f->grace_ms = -1;
  f->update_wait_ms = f->update_deadline_s = -1;
  f->success = f->error = -1;
  f->fec_code = -1, f->fec_block = -1, f->fec_loss = -1;
  cli_getopt_start();
  int o, li = -1, rc = 0;
  while (!rc && (o = cli_getopt(c, argc, args, "", opts, &li)) != -1) {
    if (o == CLI_GETOPT_ERR) {
      rc = EXIT_USAGE;
      break;
    }
    const char *name = opts[li].name;
    if (o == CLI_D_FRAGMENT || o == CLI_D_FEC || o == CLI_D_RATE || o == CLI_D_ROUNDS ||
        o == CLI_D_FECCODE || o == CLI_D_FECBLOCK || o == CLI_D_FECLOSS || o == CLI_D_WINDOW ||
        o == CLI_D_GRACE || o == CLI_D_PKGVER)
      f->group_only = f->group_only ? f->group_only : name;
    if (o == CLI_D_METHOD || o == CLI_D_BLISTEN || o == CLI_D_BHOST || o == CLI_D_EXPECTVER)
      f->unicast_only = f->unicast_only ? f->unicast_only : name;
    if (CLI_IS_RUN_OPTION(o)) {
      rc = cli_run_opt(c, o, optarg, &f->ro);
      continue;
    }
    switch (o) {
    case CLI_D_FIRMWARE:
      if (f->file) return cli_usage(c, "--firmware: give one file only");
      f->file = optarg;
      break;
    case CLI_D_VIA:
      if (!cli_parse_via(optarg, &f->via))
        rc = cli_usage(c, "--via: '%s' is not mbms, multicast or unicast", optarg);
      break;
    case CLI_D_METHOD:
      if (!strcmp(optarg, "push"))
        f->method = LMM_FWC_PUSH;
      else if (!strcmp(optarg, "pull"))
        f->method = LMM_FWC_PULL;
      else if (!strcmp(optarg, "auto"))
        f->method = LMM_FWC_AUTO;
      else
        rc = cli_usage(c, "--method: '%s' is not push, pull or auto", optarg);
      break;
    case CLI_D_FRAGMENT:
      rc = parse_long(c, name, optarg, 16, 1024, &f->fragment_size);
      break;
    case CLI_D_FEC:
      rc = parse_long(c, name, optarg, 0, 1024, &f->fec);
      break;
    case CLI_D_FECCODE:
      if (!strcmp(optarg, "rs"))
        f->fec_code = LMM_FEC_RS;
      else if (!strcmp(optarg, "xor"))
        f->fec_code = LMM_FEC_XOR;
      else
        rc = cli_usage(c, "--fec-code: '%s' is not rs or xor", optarg);
      break;
    case CLI_D_FECBLOCK:
      rc = parse_long(c, name, optarg, 1, 254, &f->fec_block);
      break;
    case CLI_D_FECLOSS:
      rc = parse_share(c, name, optarg, &f->fec_loss);
      if (!rc && f->fec_loss > 0.5)
        rc = cli_usage(c, "--fec-loss: '%s' is above 50%%: broadcast does not pay off there",
                       optarg);
      break;
    case CLI_D_RATE:
      rc = parse_rate(c, optarg, &f->rate);
      break;
    case CLI_D_WINDOW:
      rc = parse_long(c, name, optarg, 1, 86400, &f->window_s);
      break;
    case CLI_D_GRACE:
      rc = parse_long(c, name, optarg, 0, 3600000, &f->grace_ms);
      break;
    case CLI_D_ROUNDS:
      rc = parse_long(c, name, optarg, 1, 100, &f->rounds);
      break;
    case CLI_D_WAVE:
      rc = parse_wave(c, optarg, f);
      break;
    case CLI_D_SUCCESS:
      rc = parse_share(c, name, optarg, &f->success);
      break;
    case CLI_D_ERROR:
      rc = parse_share(c, name, optarg, &f->error);
      break;
    case CLI_D_UPD_WAIT:
      rc = parse_long(c, name, optarg, 0, 3600000, &f->update_wait_ms);
      break;
    case CLI_D_UPD_DEADLINE:
      rc = parse_long(c, name, optarg, 1, 7 * 86400, &f->update_deadline_s);
      break;
    case CLI_D_SKIPGM:
      f->skip_gm = true;
      break;
    case CLI_D_PROTECT:
      if (!cli_parse_protect(optarg, &f->protect))
        rc = cli_usage(c, "--protect: '%s' is not auto, on or off", optarg);
      break;
    case CLI_D_PKGVER: {
      size_t n = strlen(optarg);
      bool ok = n >= 1 && n <= 32;
      for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)optarg[i]) || strchr("._-+", optarg[i]);
      if (!ok)
        rc = cli_usage(c, "--pkg-version: '%s' is not 1 to 32 of letters, digits and . _ - +",
                       optarg);
      f->pkg_version = optarg;
      break;
    }
    case CLI_D_EXPECTVER:
      /* /5/0/7 is a String of at most 255 bytes: a longer one can never match. */
      if (!*optarg || strlen(optarg) > 255)
        rc = cli_usage(c, "--expect-version: '%s' is not 1 to 255 characters", optarg);
      f->expect_version = optarg;
      break;
    case CLI_D_BLISTEN:
      f->blob_listen = optarg;
      break;
    case CLI_D_BHOST:
      if (!*optarg) rc = cli_usage(c, "--blob-host: empty host");
      f->blob_host = optarg;
      break;
    case CLI_D_OBJECTS:
      if (f->n_obj_dirs == CLI_MAX_OBJECT_DIRS)
        rc = cli_usage(c, "--objects: at most %d directories", CLI_MAX_OBJECT_DIRS);
      else
        f->obj_dirs[f->n_obj_dirs++] = optarg;
      break;
    case CLI_OP_READ:
    case CLI_OP_WRITE:
    case CLI_OP_EXEC:
    case CLI_OP_ATTR:
    case CLI_OP_DISC:
    case CLI_D_FORMAT:
    case CLI_D_NOREPAIR:
      rc = cli_usage(c, "--%s is an operation's option: it cannot be combined with --firmware",
                     name);
      break;
    }
  }
  if (rc || (rc = cli_take_coap_bind(c, &f->ro))) return rc;
  if (!f->file) return cli_usage(c, "missing --firmware FILE");
  if ((f->success >= 0 || f->error >= 0) && !f->wave_count && !(f->wave_percent > 0))
    return cli_usage(c, "--%s judges the first wave: give --wave N or --wave P%% too",
                     f->success >= 0 ? "success-threshold" : "error-threshold");
  *first = optind;
  return 0;
}

/* ------------------------------------------------------------------ the image */

int cli_fw_read_image(const cli *c, const char *path, size_t max, uint8_t **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) return cli_usage(c, "--firmware: cannot read '%s': %s", path, strerror(errno));
  int rc = 0;
  uint8_t *buf = NULL;
  if (fstat(fd, &sb) != 0) {
    rc = cli_usage(c, "--firmware: cannot read '%s': %s", path, strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) {
    rc = cli_usage(c, "--firmware: '%s' is not a regular file", path);
  } else if (sb.st_size == 0) {
    rc = cli_usage(c, "--firmware: '%s' is empty: a firmware package has at least one byte", path);
  } else if ((uint64_t)sb.st_size > max) {
    rc = cli_usage(c, "--firmware: '%s' has %lld bytes; this path carries at most %zu (%zu MiB)",
                   path, (long long)sb.st_size, max, max >> 20);
  } else if (!(buf = malloc((size_t)sb.st_size))) {
    cli_err(c, "--firmware: no memory for %lld bytes", (long long)sb.st_size);
    rc = EXIT_SOME_FAILED;
  } else {
    size_t got = 0, want = (size_t)sb.st_size;
    while (got < want) {
      ssize_t k = read(fd, buf + got, want - got);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        rc = cli_usage(c, "--firmware: cannot read '%s': %s", path,
                       k < 0 ? strerror(errno) : "it got shorter while being read");
        break;
      }
      got += (size_t)k;
    }
  }
  close(fd);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf, *len = (size_t)sb.st_size;
  return 0;
}
