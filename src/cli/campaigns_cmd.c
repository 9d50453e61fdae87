/* campaigns_cmd.c - "lwm2m-mbms campaigns": the list of stored campaigns with their counts,
 * or with --watch the live view of those running (campaigns_watch.c). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_campaigns(cli *c, int argc, char **argv) {
  c->cmd = "campaigns";
  enum { O_JSON = 1, O_WATCH, O_INTERVAL, O_UNTIL_IDLE };
  static const struct option opts[] = {{"json", no_argument, 0, O_JSON},
                                       {"watch", no_argument, 0, O_WATCH},
                                       {"interval", required_argument, 0, O_INTERVAL},
                                       {"until-idle", no_argument, 0, O_UNTIL_IDLE},
                                       {0, 0, 0, 0}};
  bool watch = false, until_idle = false;
  const char *interval = NULL;
  double every = 1.0;
  cli_getopt_start();
  char **args = cli_with_name("campaigns", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  int o, rc = 0;
  while (!rc && (o = cli_getopt(c, argc + 1, args, "", opts, NULL)) != -1) {
    if (o == O_JSON) {
      c->json = true;
    } else if (o == O_WATCH) {
      watch = true;
    } else if (o == O_UNTIL_IDLE) {
      until_idle = true;
    } else if (o == O_INTERVAL) {
      char *end;
      interval = optarg;
      every = strtod(optarg, &end);
      if (end == optarg || *end || !(every >= 0.05 && every <= 3600))
        rc = cli_usage(c, "--interval: '%s' is not a number of seconds from 0.05 to 3600", optarg);
    } else { /* CLI_GETOPT_ERR: said */
      rc = EXIT_USAGE;
    }
  }
  const char *group = !rc && optind < argc + 1 ? args[optind] : NULL;
  if (!rc && argc + 1 - optind > 1) rc = cli_usage(c, "too many arguments");
  if (!rc && !watch && (interval || until_idle))
    rc = cli_usage(c, "%s needs --watch", interval ? "--interval" : "--until-idle");
  if (!rc && watch) rc = cli_campaigns_watch(c, group, every, until_idle);
  if (rc || watch) {
    free(args);
    return rc;
  }
  lmm_store *s = NULL;
  lmm_campaign_info *l = NULL;
  size_t n = 0;
  if ((rc = cli_store_open(c, &s))) goto out;
  lmm_err e = lmm_store_campaign_list(s, group, &l, &n);
  if (e != LMM_OK) {
    rc = cli_store_fail(c, s, "listing the campaigns", e);
    goto out;
  }
  if (c->json)
    printf("[");
  else if (!n && group)
    printf("no campaigns on group %s\n", group);
  else if (!n)
    printf("no campaigns\n");
  else
    printf("%6s  %-20s %-9s %-28s %-11s %-20s %7s %9s\n", "ID", "GROUP", "KIND", "OPERATION",
           "STATE", "CREATED", "MEMBERS", "SUCCEEDED");
  for (size_t i = 0; i < n; i++) {
    lmm_outcome_counts t = {0};
    lmm_store_outcome_counts(s, l[i].id, &t); /* none on failure: the list still shows it */
    size_t failed = t.done - t.succeeded - t.refused, pending = t.members - t.done;
    bool fw = l[i].kind == LMM_CK_FIRMWARE;
    char op[320], tm[40];
    if (fw)
      snprintf(op, sizeof op, "firmware via %s", cli_via_name(l[i].via));
    else
      cli_op_text(&l[i], op, sizeof op);
    cli_fmt_time(l[i].created_ms / 1000, false, tm, sizeof tm);
    if (c->json) {
      printf("%s{\"id\":%lld,\"group\":", i ? "," : "", (long long)l[i].id);
      cli_json_str(stdout, l[i].group);
      printf(",\"kind\":\"%s\",\"operation\":", fw ? "firmware" : "operation");
      cli_json_str(stdout, fw ? NULL : cli_op_name(l[i].op_kind));
      printf(",\"path\":");
      cli_json_str(stdout, fw ? NULL : l[i].op_path);
      printf(",\"via\":\"%s\",\"state\":\"%s\"", cli_via_name(l[i].via),
             cli_state_name(l[i].state));
      cli_json_time("created", l[i].created_ms);
      printf(",\"members\":%zu,\"succeeded\":%zu,\"failed\":%zu,\"pending\":%zu,\"refused\":%zu}",
             t.members, t.succeeded, failed, pending, t.refused);
    } else {
      printf("%6lld  %-20s %-9s %-28s %-11s %-20s %7zu %9zu\n", (long long)l[i].id,
             l[i].group ? l[i].group : "-", fw ? "firmware" : "operation", op,
             cli_state_name(l[i].state), tm, t.members, t.succeeded);
    }
  }
  if (c->json) printf("]\n");
out:
  lmm_campaign_info_list_free(l, n);
  lmm_store_close(s);
  free(args);
  return rc;
}
