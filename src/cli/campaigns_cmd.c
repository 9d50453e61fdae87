/* campaigns_cmd.c - "lwm2m-mbms campaigns": the list of stored campaigns with their counts. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_campaigns(cli *c, int argc, char **argv) {
  c->cmd = "campaigns";
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      c->json = true;
    else if (argv[i][0] == '-' && argv[i][1])
      return cli_usage(c, "unknown option '%s'", argv[i]);
  }
  const char *group = NULL;
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--json")) {
      if (group) return cli_usage(c, "too many arguments");
      group = argv[i];
    }
  lmm_store *s = NULL;
  int rc = cli_store_open(c, &s);
  if (rc) return rc;
  lmm_campaign_info *l = NULL;
  size_t n = 0;
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
    lmm_outcome *o = NULL;
    size_t no = 0;
    cli_totals t = {0};
    if (lmm_store_outcomes_get(s, l[i].id, &o, &no) == LMM_OK) cli_count(o, no, &t);
    lmm_outcome_list_free(o, no);
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
             t.members, t.succeeded, t.failed, t.pending, t.refused);
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
  return rc;
}
