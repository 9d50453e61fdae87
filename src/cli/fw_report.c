/* fw_report.c - the report of a firmware campaign: its summary figures, per member the path,
 * wave, bytes, fragments, State, Update Result and end, as a table, JSON or CSV. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_fw_count(const lmm_outcome *o, size_t n, cli_fw_totals *t) {
  memset(t, 0, sizeof *t);
  t->members = n;
  /* In lmm_fwc_end order; an unknown end counts as pending. */
  size_t *by_end[] = {&t->pending, &t->updated, &t->failed, &t->held, &t->cancelled, &t->refused};
  for (size_t i = 0; i < n; i++) {
    int e = o[i].fw_end;
    (*by_end[e >= 0 && e < (int)(sizeof by_end / sizeof *by_end) ? e : 0])++;
    if (o[i].via > LMM_VIA_NONE && o[i].via <= LMM_VIA_UNICAST) t->by_via[o[i].via]++;
    if (o[i].via == LMM_VIA_UNICAST && o[i].fw_pulled) t->pulled++;
  }
}

const char *cli_fw_path_name(const lmm_outcome *o) {
  if (o->via == LMM_VIA_UNICAST) return o->fw_pulled ? "unicast pull" : "unicast push";
  return cli_via_name(o->via);
}

/* ------------------------------------------------------------------ the summary */

/* The summary is JSON the library wrote; the CLI has no JSON library (public API only), and
 * needs no more than the members of one flat object, so a small scanner walks it. A summary
 * that does not scan is shown as a string, never trusted as JSON. */
typedef struct sum_item {
  const char *key, *val; /* key: inside its quotes; val: the raw JSON value */
  size_t klen, vlen;
} sum_item;

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

static const char *skip_string(const char *p) { /* p at the opening quote */
  for (p++; *p && *p != '"'; p++)
    if (*p == '\\' && !*++p) return NULL;
  return *p == '"' ? p + 1 : NULL;
}

static const char *skip_value(const char *p, int depth) {
  if (depth > 32) return NULL;
  p = skip_ws(p);
  if (*p == '"') return skip_string(p);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    p = skip_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
      if (close == '}') {
        if (*p != '"' || !(p = skip_string(p))) return NULL;
        p = skip_ws(p);
        if (*p++ != ':') return NULL;
      }
      if (!(p = skip_value(p, depth + 1))) return NULL;
      p = skip_ws(p);
      if (*p == close) return p + 1;
      if (*p++ != ',') return NULL;
      p = skip_ws(p);
    }
  }
  static const char *const words[] = {"true", "false", "null"};
  for (size_t i = 0; i < 3; i++)
    if (!strncmp(p, words[i], strlen(words[i]))) return p + strlen(words[i]);
  const char *s = p;
  if (*p == '-') p++;
  if (!isdigit((unsigned char)*p)) return NULL;
  while (isdigit((unsigned char)*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' ||
         *p == '-')
    p++;
  return p > s ? p : NULL;
}

/* The members of the top-level object (at most `cap`); -1 when `json` is not one object. */
static int summary_items(const char *json, sum_item *it, int cap) {
  if (!json) return -1;
  const char *p = skip_ws(json);
  const char *end = *p == '{' ? skip_value(p, 0) : NULL;
  if (!end || *skip_ws(end)) return -1;
  int n = 0;
  p = skip_ws(p + 1);
  while (*p == '"') {
    const char *k = p + 1, *ke = skip_string(p);
    p = skip_ws(ke);
    p = skip_ws(p + 1); /* the ':' (checked by the whole-object scan above) */
    const char *v = p, *ve = skip_value(p, 1);
    if (n < cap) it[n++] = (sum_item){k, v, (size_t)(ke - 1 - k), (size_t)(ve - v)};
    p = skip_ws(ve);
    if (*p == ',') p = skip_ws(p + 1);
  }
  return n;
}

/* The summary's "phase", when it is a plain string (copied into buf), else NULL. */
static const char *summary_phase(const char *json, char *buf, size_t cap) {
  sum_item it[64];
  int n = summary_items(json, it, 64);
  for (int i = 0; i < n; i++)
    if (it[i].klen == 5 && !strncmp(it[i].key, "phase", 5) && it[i].val[0] == '"' &&
        it[i].vlen - 2 < cap && !memchr(it[i].val + 1, '\\', it[i].vlen - 2)) {
      memcpy(buf, it[i].val + 1, it[i].vlen - 2);
      buf[it[i].vlen - 2] = '\0';
      return buf;
    }
  return NULL;
}

/* The summary as "key value" pairs on lines of at most ~100 columns. */
static void summary_table(const char *json) {
  sum_item it[64];
  int n = summary_items(json, it, 64);
  if (n < 0) {
    if (json) printf("summary: %s\n", json);
    return;
  }
  int col = 0;
  for (int i = 0; i < n; i++) {
    const char *v = it[i].val;
    size_t vl = it[i].vlen;
    if (vl >= 2 && v[0] == '"') v++, vl -= 2; /* strings without their quotes */
    int w = (int)(it[i].klen + vl + 1);
    if (col && col + 2 + w > 100) {
      putchar('\n');
      col = 0;
    }
    printf("%s%.*s %.*s", col ? "  " : "", (int)it[i].klen, it[i].key, (int)vl, v);
    col += (col ? 2 : 0) + w;
  }
  if (col) putchar('\n');
}

/* ------------------------------------------------------------------ layouts */

const char *cli_fw_end_text(const lmm_outcome *o) {
  return o->fw_end == LMM_FWC_PENDING ? "pending" : lmm_fwc_end_name(o->fw_end);
}

const char *cli_fw_error(const lmm_outcome *o) {
  if (o->fw_end == LMM_FWC_UPDATED) return NULL;
  if (o->error && *o->error) return o->error;
  if (o->err != LMM_OK) return lmm_strerror((lmm_err)o->err);
  return NULL;
}

static void fw_table(const lmm_campaign_info *info, const lmm_outcome *o, size_t n,
                     const lmm_fwc_stats *live) {
  char t1[40], t2[40], ph[48];
  const char *phase =
      live ? lmm_fwc_phase_name(live->phase) : summary_phase(info->fw_summary, ph, sizeof ph);
  printf("campaign %lld: firmware to group %s via %s, %s", (long long)info->id,
         info->group ? info->group : "?", cli_via_name(info->via), cli_state_name(info->state));
  if (phase) printf(" (phase %s)", phase);
  printf("%s\n", info->cancel_requested ? ", cancel requested" : "");
  printf("created %s  finished %s", cli_fmt_time(info->created_ms / 1000, false, t1, sizeof t1),
         cli_fmt_time(info->finished_ms / 1000, false, t2, sizeof t2));
  if (info->finished_ms && info->started_ms)
    printf(" (%.3f s)", (double)(info->finished_ms - info->started_ms) / 1000.0);
  printf("\n");
  if (info->tmgi || info->t8_transaction)
    printf("tmgi %s (%s)  delivery %s\n", info->tmgi ? info->tmgi : "-",
           cli_tmgi_end_name(info->tmgi_end), info->t8_transaction ? info->t8_transaction : "-");
  summary_table(info->fw_summary);
  if (info->error) printf("error: %s\n", info->error);
  printf("\n%-28s %-13s %-4s %-7s %10s %6s %8s %5s %-9s  %s\n", "MEMBER", "PATH", "WAVE", "GM",
         "UNICAST B", "MISSED", "REPAIRED", "STATE", "END", "UPDATE RESULT / ERROR");
  for (size_t i = 0; i < n; i++) {
    char id[96], st[16], gm[16];
    cli_step_cell(&o[i], 0, gm, sizeof gm);
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    if (o[i].fw_state >= 0)
      snprintf(st, sizeof st, "%d", o[i].fw_state);
    else
      snprintf(st, sizeof st, "-");
    printf("%-28s %-13s %-4s %-7s %10llu %6lu %8lu %5s %-9s  ",
           lmm_member_id_format(&m, id, sizeof id), cli_fw_path_name(&o[i]),
           o[i].fw_wave ? "yes" : "-", gm, (unsigned long long)o[i].fw_bytes_unicast,
           (unsigned long)o[i].fw_missed, (unsigned long)o[i].fw_repaired, st,
           cli_fw_end_text(&o[i]));
    const char *res = o[i].fw_result >= 0 ? lmm_fw_update_result_text(o[i].fw_result) : NULL;
    if (res) printf("%d %s", o[i].fw_result, res);
    const char *e = cli_fw_error(&o[i]);
    if (e && !(res && strstr(e, res))) { /* the error often quotes the result: once is enough */
      printf("%serror: ", res ? "; " : "");
      for (const char *p = e; *p; p++) /* one line per member */
        putchar(*p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
    }
    if (o[i].gm_error && (!e || !strstr(e, o[i].gm_error)))
      printf("%sGroup Mgmt write: %s", res || e ? "; " : "", o[i].gm_error);
    if (o[i].fw_pkg_version) printf("%sPkgVersion %s", res || e ? "; " : "", o[i].fw_pkg_version);
    if (!res && !e && !o[i].gm_error && !o[i].fw_pkg_version) putchar('-');
    printf("\n");
  }
  cli_fw_totals t;
  cli_fw_count(o, n, &t);
  printf("\n%zu members: %zu updated, %zu failed, %zu held, %zu cancelled, %zu refused, %zu "
         "pending; by path: mbms %zu, multicast %zu, unicast %zu (pull %zu)\n",
         t.members, t.updated, t.failed, t.held, t.cancelled, t.refused, t.pending,
         t.by_via[LMM_VIA_MBMS], t.by_via[LMM_VIA_MULTICAST], t.by_via[LMM_VIA_UNICAST], t.pulled);
  cli_step_totals sc;
  cli_steps_count(o, n, &sc);
  cli_steps_print_summary(&sc);
  if (live && info->via == LMM_VIA_UNICAST)
    printf("sent: %llu bytes by unicast\n", (unsigned long long)live->bytes_unicast);
  else if (live)
    printf("sent: %llu bytes to the group (%llu fragment messages, %u status rounds, %u "
           "fragments again to the group), %llu bytes by unicast (%u fragments)\n",
           (unsigned long long)live->bytes_group, (unsigned long long)live->fragments_sent,
           live->rounds, live->multicast_repairs, (unsigned long long)live->bytes_unicast,
           live->unicast_repairs);
}

static void fw_json(const lmm_campaign_info *info, const lmm_outcome *o, size_t n,
                    const lmm_fwc_stats *live) {
  char ph[48];
  const char *phase =
      live ? lmm_fwc_phase_name(live->phase) : summary_phase(info->fw_summary, ph, sizeof ph);
  printf("{\"campaign\":{\"id\":%lld,\"kind\":\"firmware\",\"group\":", (long long)info->id);
  cli_json_str(stdout, info->group);
  printf(",\"via\":\"%s\",\"state\":\"%s\",\"phase\":", cli_via_name(info->via),
         cli_state_name(info->state));
  cli_json_str(stdout, phase);
  printf(",\"cancelRequested\":%s,\"windowS\":%lld,\"tmgi\":",
         info->cancel_requested ? "true" : "false", (long long)info->window_s);
  cli_json_str(stdout, info->tmgi);
  printf(",\"tmgiEnd\":\"%s\",\"t8Transaction\":", cli_tmgi_end_name(info->tmgi_end));
  cli_json_str(stdout, info->t8_transaction);
  cli_json_time("created", info->created_ms);
  cli_json_time("started", info->started_ms);
  cli_json_time("delivered", info->delivered_ms);
  cli_json_time("finished", info->finished_ms);
  printf(",\"error\":");
  cli_json_str(stdout, info->error);
  printf(",\"summary\":");
  if (summary_items(info->fw_summary, NULL, 0) >= 0)
    fputs(info->fw_summary, stdout);
  else
    cli_json_str(stdout, info->fw_summary); /* NULL -> null; not JSON -> a string */
  printf("}");
  if (live)
    printf(",\"stats\":{\"phase\":\"%s\",\"k\":%u,\"q\":%u,\"bytesGroup\":%llu,"
           "\"bytesUnicast\":%llu,\"fragmentsSent\":%llu,\"rounds\":%u,\"multicastRepairs\":%u,"
           "\"unicastRepairs\":%u,\"updated\":%zu,\"failed\":%zu,\"held\":%zu,\"cancelled\":%zu,"
           "\"refused\":%zu,\"pending\":%zu}",
           lmm_fwc_phase_name(live->phase), live->k, live->q, (unsigned long long)live->bytes_group,
           (unsigned long long)live->bytes_unicast, (unsigned long long)live->fragments_sent,
           live->rounds, live->multicast_repairs, live->unicast_repairs, live->updated,
           live->failed, live->held, live->cancelled, live->refused, live->pending);
  printf(",\"members\":[");
  for (size_t i = 0; i < n; i++) {
    char id[96];
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    printf("%s{\"member\":", i ? "," : "");
    cli_json_str(stdout, lmm_member_id_format(&m, id, sizeof id));
    printf(",\"path\":\"%s\",\"wave\":%s,\"bytesUnicast\":%llu,\"fragmentsMissed\":%lu,"
           "\"fragmentsRepaired\":%lu,\"state\":",
           o[i].via ? cli_fw_path_name(&o[i]) : "-", o[i].fw_wave ? "true" : "false",
           (unsigned long long)o[i].fw_bytes_unicast, (unsigned long)o[i].fw_missed,
           (unsigned long)o[i].fw_repaired);
    if (o[i].fw_state >= 0)
      printf("%d", o[i].fw_state);
    else
      printf("null");
    printf(",\"updateResult\":");
    if (o[i].fw_result >= 0) {
      printf("%d,\"updateResultText\":", o[i].fw_result);
      cli_json_str(stdout, lmm_fw_update_result_text(o[i].fw_result));
    } else {
      printf("null,\"updateResultText\":null");
    }
    printf(",\"end\":\"%s\",\"elapsedMs\":", cli_fw_end_text(&o[i]));
    if (o[i].fw_end != LMM_FWC_PENDING)
      printf("%lld", (long long)o[i].latency_ms);
    else
      printf("null");
    printf(",\"error\":");
    cli_json_str(stdout, cli_fw_error(&o[i]));
    printf(",\"pkgVersion\":");
    cli_json_str(stdout, o[i].fw_pkg_version);
    cli_steps_json(&o[i]);
    printf("}");
  }
  cli_fw_totals t;
  cli_fw_count(o, n, &t);
  cli_step_totals sc;
  cli_steps_count(o, n, &sc);
  printf("],\"totals\":{\"members\":%zu,\"updated\":%zu,\"failed\":%zu,\"held\":%zu,"
         "\"cancelled\":%zu,\"refused\":%zu,\"pending\":%zu,\"byPath\":{\"mbms\":%zu,"
         "\"multicast\":%zu,\"unicast\":%zu,\"unicastPull\":%zu}",
         t.members, t.updated, t.failed, t.held, t.cancelled, t.refused, t.pending,
         t.by_via[LMM_VIA_MBMS], t.by_via[LMM_VIA_MULTICAST], t.by_via[LMM_VIA_UNICAST], t.pulled);
  printf("}");
  cli_steps_json_totals(&sc);
  printf("}\n");
}

static void fw_csv(const lmm_outcome *o, size_t n) {
  fputs("member,path,wave,gm_result,gm_code,bytes_unicast,fragments_missed,fragments_repaired,"
        "state,update_result,update_result_text,end,elapsed_ms,error,pkg_version\r\n",
        stdout);
  for (size_t i = 0; i < n; i++) {
    char id[96], num[32];
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    cli_csv_field(lmm_member_id_format(&m, id, sizeof id), false);
    cli_csv_field(o[i].via ? cli_fw_path_name(&o[i]) : "", false);
    cli_csv_field(o[i].fw_wave ? "yes" : "no", false);
    cli_csv_field(o[i].gm_step ? lmm_step_name(o[i].gm_step) : "", false);
    snprintf(num, sizeof num, "%u.%02u", (unsigned)(o[i].gm_code >> 5),
             (unsigned)(o[i].gm_code & 31));
    cli_csv_field(o[i].gm_code ? num : "", false);
    snprintf(num, sizeof num, "%llu", (unsigned long long)o[i].fw_bytes_unicast);
    cli_csv_field(num, false);
    snprintf(num, sizeof num, "%lu", (unsigned long)o[i].fw_missed);
    cli_csv_field(num, false);
    snprintf(num, sizeof num, "%lu", (unsigned long)o[i].fw_repaired);
    cli_csv_field(num, false);
    snprintf(num, sizeof num, "%d", o[i].fw_state);
    cli_csv_field(o[i].fw_state >= 0 ? num : "", false);
    snprintf(num, sizeof num, "%d", o[i].fw_result);
    cli_csv_field(o[i].fw_result >= 0 ? num : "", false);
    cli_csv_field(o[i].fw_result >= 0 ? lmm_fw_update_result_text(o[i].fw_result) : "", false);
    cli_csv_field(cli_fw_end_text(&o[i]), false);
    snprintf(num, sizeof num, "%lld", (long long)o[i].latency_ms);
    cli_csv_field(o[i].fw_end != LMM_FWC_PENDING ? num : "", false);
    cli_csv_field(cli_fw_error(&o[i]), false);
    cli_csv_field(o[i].fw_pkg_version ? o[i].fw_pkg_version : "", true);
  }
}

void cli_print_fw_report(const cli *c, cli_report_fmt fmt, const lmm_campaign_info *info,
                         const lmm_outcome *o, size_t n, const lmm_fwc_stats *live) {
  (void)c;
  switch (fmt) {
  case CLI_REPORT_JSON:
    fw_json(info, o, n, live);
    break;
  case CLI_REPORT_CSV:
    fw_csv(o, n);
    break;
  default:
    fw_table(info, o, n, live);
  }
}
