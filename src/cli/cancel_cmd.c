/* cancel_cmd.c - "lwm2m-mbms cancel CAMPAIGN": asks the deliver running a firmware campaign,
 * in another process, to stop, through the campaign's flag in the state store. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

int cmd_cancel(cli *c, int argc, char **argv) {
  c->cmd = "cancel";
  argc = cli_take_json(c, argc, argv);
  for (int i = 0; i < argc; i++)
    if (argv[i][0] == '-' && argv[i][1]) return cli_usage(c, "unknown option '%s'", argv[i]);
  if (argc != 1) return cli_usage(c, argc < 1 ? "missing CAMPAIGN" : "too many arguments");
  int64_t cid;
  int rc = cli_parse_campaign_id(c, argv[0], &cid);
  if (rc) return rc;
  long long id = cid;
  lmm_store *s = NULL;
  if ((rc = cli_store_open(c, &s))) return rc;
  lmm_campaign_info info = {0};
  if ((rc = cli_campaign_get(c, s, id, &info))) goto out;
  /* Only a firmware campaign polls the flag: on another, setting it would promise a stop
   * that never comes. */
  if (info.kind != LMM_CK_FIRMWARE) {
    rc = cli_usage(c,
                   "campaign %lld is an operation campaign: only firmware campaigns can be "
                   "cancelled",
                   id);
    goto out;
  }
  bool already = info.cancel_requested;
  lmm_err e = lmm_store_campaign_request_cancel(s, id);
  if (e == LMM_ERR_STATE) {
    rc = cli_usage(c,
                   "campaign %lld has finished (%s): nothing to cancel; see 'lwm2m-mbms "
                   "report %lld'",
                   id, cli_state_name(info.state), id);
    goto out;
  }
  if (e != LMM_OK) {
    rc = cli_store_fail(c, s, "requesting the cancel", e);
    goto out;
  }
  if (c->json) {
    printf("{\"id\":%lld,\"group\":", id);
    cli_json_str(stdout, info.group);
    printf(",\"state\":\"%s\",\"cancelRequested\":true,\"alreadyRequested\":%s}\n",
           cli_state_name(info.state), already ? "true" : "false");
  } else if (already)
    printf("campaign %lld: cancel was already requested; the deliver running it stops at its "
           "next step\n",
           id);
  else
    printf("campaign %lld (firmware to group %s, %s): cancel requested; the deliver running it "
           "stops within a second or so, members not yet updated end cancelled\n",
           id, info.group ? info.group : "?", cli_state_name(info.state));
out:
  lmm_campaign_info_clear(&info);
  lmm_store_close(s);
  return rc;
}
