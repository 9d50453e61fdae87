/* group_print.c - a group and its members as the operator sees them: JSON and text. */
#include <stdio.h>

#include "cli.h"

const char *cli_tmgi_policy_name(lmm_tmgi_policy p) {
  return p == LMM_TMGI_RELEASE ? "release" : "keep";
}

static const char *member_format_name(uint16_t f) {
  return f == LMM_FMT_TLV ? "tlv" : "senml-json";
}

void cli_print_member_json(const lmm_member *m) {
  char id[96];
  printf("{\"member\":");
  cli_json_str(stdout, lmm_member_id_format(m, id, sizeof id));
  printf(",\"uri\":");
  cli_json_str(stdout, m->uri);
  printf(",\"format\":\"%s\",\"pskId\":", member_format_name(m->format));
  cli_json_str(stdout, m->psk_identity);
  printf(",\"pskKey\":%s}", m->psk_key_len ? "true" : "false");
}

void cli_print_group_json(const lmm_group_info *g, const lmm_member *m, size_t n,
                          bool with_members) {
  char t[40];
  printf("{\"name\":");
  cli_json_str(stdout, g->name);
  printf(",\"type\":\"%s\",\"groupMgmtOid\":%u,\"groupMgmtIid\":%d,\"externalGroupId\":",
         cli_group_type_name(g->type), g->gm_oid, (int)g->gm_iid);
  cli_json_str(stdout, g->external_group_id);
  printf(",\"multicastAddress\":");
  cli_json_str(stdout, g->multicast_address);
  if (g->multicast_port >= 0)
    printf(",\"multicastPort\":%d", (int)g->multicast_port);
  else
    printf(",\"multicastPort\":null");
  printf(",\"responseTimeWindow\":%lld,\"fanoutTarget\":", (long long)g->response_time_window);
  cli_json_str(stdout, g->fanout_target);
  printf(",\"schedule\":[");
  for (size_t i = 0; i < g->n_schedule; i++)
    printf("%s\"%s\"", i ? "," : "", cli_fmt_time(g->schedule[i], false, t, sizeof t));
  printf("],\"tmgi\":");
  cli_json_str(stdout, g->tmgi);
  printf(",\"tmgiExpiration\":");
  if (g->tmgi_expiration)
    printf("\"%s\"", cli_fmt_time(g->tmgi_expiration, false, t, sizeof t));
  else
    printf("null");
  printf(",\"tmgiPolicy\":\"%s\"", cli_tmgi_policy_name(g->tmgi_policy));
  printf(",\"created\":\"%s\",\"memberCount\":%zu", cli_fmt_time(g->created, false, t, sizeof t),
         with_members ? n : g->member_count);
  if (with_members) {
    printf(",\"members\":[");
    for (size_t i = 0; i < n; i++) {
      if (i) printf(",");
      cli_print_member_json(&m[i]);
    }
    printf("]");
  }
  printf("}");
}

void cli_print_group_text(const lmm_group_info *g, const lmm_member *m, size_t n) {
  char t[40];
  printf("group              %s\n", g->name);
  printf("type               %s\n", cli_group_type_name(g->type));
  printf("group mgmt object  /%u/%d (instance %d on every member)\n", g->gm_oid, (int)g->gm_iid,
         (int)g->gm_iid);
  printf("external group id  %s\n", g->external_group_id ? g->external_group_id : "-");
  if (g->multicast_address)
    printf("multicast          %s port %d\n", g->multicast_address,
           g->multicast_port >= 0 ? (int)g->multicast_port : 5683);
  else
    printf("multicast          -\n");
  printf("response window    %lld s\n", (long long)g->response_time_window);
  printf("fanout target      %s\n", g->fanout_target ? g->fanout_target : "-");
  printf("schedule          ");
  for (size_t i = 0; i < g->n_schedule; i++)
    printf(" %s", cli_fmt_time(g->schedule[i], false, t, sizeof t));
  printf("%s\n", g->n_schedule ? "" : " -");
  if (g->tmgi)
    printf("tmgi               %s (expires %s)\n", g->tmgi,
           cli_fmt_time(g->tmgi_expiration, false, t, sizeof t));
  else
    printf("tmgi               -\n");
  printf("tmgi policy        %s\n", g->tmgi_policy == LMM_TMGI_RELEASE
                                        ? "release (when a campaign ends)"
                                        : "keep (for the next campaign, until it expires)");
  printf("created            %s\n", cli_fmt_time(g->created, false, t, sizeof t));
  printf("members            %zu\n", n);
  for (size_t i = 0; i < n; i++) {
    char id[96];
    printf("  %-28s %s", lmm_member_id_format(&m[i], id, sizeof id), m[i].uri);
    if (m[i].format == LMM_FMT_TLV) printf(" format=tlv");
    if (m[i].psk_identity) printf(" psk-id=%s", m[i].psk_identity);
    if (m[i].psk_key_len) printf(" psk-key=(%zu bytes)", m[i].psk_key_len);
    printf("\n");
  }
}
