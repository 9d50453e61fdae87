/* report_cmd.c - "lwm2m-mbms report": a campaign's per-member outcomes and totals as a table,
 * JSON or CSV. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_outcome_ok(const lmm_outcome *o) {
  if (o->fw_end != LMM_FWC_PENDING) return o->fw_end == LMM_FWC_UPDATED;
  return o->done && o->err == LMM_OK && o->coap_code >> 5 == 2;
}

void cli_count(const lmm_outcome *o, size_t n, cli_totals *t) {
  memset(t, 0, sizeof *t);
  t->members = n;
  for (size_t i = 0; i < n; i++) {
    bool done = o[i].done || o[i].fw_end != LMM_FWC_PENDING;
    if (!done)
      t->pending++;
    else if (cli_outcome_ok(&o[i]))
      t->succeeded++;
    else if (lmm_outcome_refused(&o[i]))
      t->refused++;
    else
      t->failed++;
    if (done && o[i].via > LMM_VIA_NONE && o[i].via <= LMM_VIA_UNICAST) t->by_via[o[i].via]++;
    if (o[i].repaired) t->repaired++;
  }
}

char *cli_code_text(uint8_t code, char *buf, size_t cap) {
  if (!code)
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, "%u.%02u", (unsigned)(code >> 5), (unsigned)(code & 31u));
  return buf;
}

static const char *t8_status_text(const lmm_campaign_info *info) {
  if (info->t8_status == 1) return "delivered";
  if (info->t8_status == 0) return "failed";
  if (info->via != LMM_VIA_MBMS) return "n/a";
  return info->t8_transaction ? "not received" : "no delivery";
}

/* ------------------------------------------------------------------ values */

static bool utf8_printable(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7f) return false;
      i++;
      continue;
    }
    size_t k;
    if (b >= 0xc2 && b <= 0xdf)
      k = 1;
    else if (b >= 0xe0 && b <= 0xef)
      k = 2;
    else if (b >= 0xf0 && b <= 0xf4)
      k = 3;
    else
      return false;
    if (n - i <= k) return false;
    for (size_t j = 1; j <= k; j++)
      if ((p[i + j] & 0xc0) != 0x80) return false;
    i += k + 1;
  }
  return true;
}

static void put_hex(FILE *f, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%02x", p[i]);
}

/* Shortest text that reads back as the same double. */
static void put_double(FILE *f, double d) {
  char buf[40];
  if (!isfinite(d)) {
    fputs(isnan(d) ? "nan" : d > 0 ? "inf" : "-inf", f);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  fputs(buf, f);
}

/* One value: JSON (typed) or plain text. */
static void put_value(FILE *f, const lmm_value *v, bool json) {
  switch (v->type) {
  case LMM_RT_INTEGER:
  case LMM_RT_TIME:
    fprintf(f, "%lld", (long long)v->v.i);
    break;
  case LMM_RT_UNSIGNED:
    fprintf(f, "%llu", (unsigned long long)v->v.u);
    break;
  case LMM_RT_FLOAT:
    if (json && !isfinite(v->v.f))
      fputs("null", f);
    else
      put_double(f, v->v.f);
    break;
  case LMM_RT_BOOLEAN:
    fputs(v->v.b ? "true" : "false", f);
    break;
  case LMM_RT_OBJLNK:
    fprintf(f, json ? "\"%u:%u\"" : "%u:%u", v->v.lnk.oid, v->v.lnk.iid);
    break;
  case LMM_RT_OPAQUE:
    fputs(json ? "\"hex:" : "hex:", f);
    put_hex(f, v->bytes, v->len);
    if (json) fputc('"', f);
    break;
  case LMM_RT_STRING:
  case LMM_RT_CORELNK:
    if (json || !v->str || !*v->str || strpbrk(v->str, " \t\r\n\"="))
      cli_json_str(f, v->str ? v->str : "");
    else
      fputs(v->str, f);
    break;
  default:
    fputs(json ? "null" : "-", f);
  }
}

/* Decodes a SenML-JSON (or, with an object the model knows, TLV) payload into records of the
 * operation's path. false when it is some other format or does not decode. */
static bool decode(const lmm_objects *objs, const lmm_campaign_info *info, const lmm_outcome *o,
                   lmm_records *r) {
  lmm_path base;
  if (!o->payload_len || !info->op_path || lmm_path_parse(info->op_path, &base) != LMM_OK)
    return false;
  const lmm_obj_def *def = lmm_objects_get(objs, base.oid); /* loaded, else built-in */
  if (o->content_format == LMM_FMT_SENML_JSON || (o->content_format == LMM_FMT_TLV && def))
    return lmm_lwm2m_decode((uint16_t)o->content_format, &base, o->payload, o->payload_len, def, r,
                            NULL, 0) == LMM_OK &&
           r->n > 0;
  return false;
}

char *cli_values_text(const lmm_objects *objs, const lmm_campaign_info *info,
                      const lmm_outcome *o) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  lmm_records r = {0};
  if (decode(objs, info, o, &r)) {
    for (size_t i = 0; i < r.n; i++) {
      char p[32];
      fprintf(f, "%s%s=", i ? " " : "", lmm_path_format(&r.items[i].path, p, sizeof p));
      put_value(f, &r.items[i].value, false);
    }
  } else if (o->payload_len && utf8_printable(o->payload, o->payload_len)) {
    fwrite(o->payload, 1, o->payload_len, f);
  } else if (o->payload_len) {
    fputs("hex:", f);
    put_hex(f, o->payload, o->payload_len);
  }
  lmm_records_clear(&r);
  fclose(f);
  return buf;
}

const char *cli_error_text(const lmm_outcome *o) {
  if (!o->done) return "pending";
  if (o->error && *o->error) return o->error;
  if (o->err != LMM_OK) return lmm_strerror((lmm_err)o->err);
  return NULL;
}

/* ------------------------------------------------------------------ layouts */

void cli_op_text(const lmm_campaign_info *info, char *buf, size_t cap) {
  snprintf(buf, cap, "%s %s%s%s", cli_op_name(info->op_kind), info->op_path ? info->op_path : "?",
           info->op_query ? "?" : "", info->op_query ? info->op_query : "");
}

static void report_table(const lmm_objects *objs, const lmm_campaign_info *info,
                         const lmm_outcome *o, size_t n) {
  char t1[40], t2[40], op[320];
  cli_op_text(info, op, sizeof op);
  printf("campaign %lld: %s on group %s via %s, %s\n", (long long)info->id, op,
         info->group ? info->group : "?", cli_via_name(info->via), cli_state_name(info->state));
  printf("created %s  finished %s", cli_fmt_time(info->created_ms / 1000, false, t1, sizeof t1),
         cli_fmt_time(info->finished_ms / 1000, false, t2, sizeof t2));
  if (info->finished_ms && info->started_ms)
    printf(" (%.3f s)", (double)(info->finished_ms - info->started_ms) / 1000.0);
  printf("\n");
  if (info->tmgi || info->t8_transaction)
    printf("tmgi %s (%s)  delivery %s\n", info->tmgi ? info->tmgi : "-",
           cli_tmgi_end_name(info->tmgi_end), info->t8_transaction ? info->t8_transaction : "-");
  if (info->error) printf("error: %s\n", info->error);
  printf("\n%-28s %-19s %-5s %-7s %-7s %-7s %8s %10s  %s\n", "MEMBER", "PATH", "CODE", "GM",
         "GROUP", "UNICAST", "ATTEMPTS", "LATENCY", "VALUES / ERROR");
  for (size_t i = 0; i < n; i++) {
    char id[96], code[8], path[32], lat[24], st[CLI_STEPS][16];
    for (int k = 0; k < CLI_STEPS; k++)
      cli_step_cell(&o[i], k, st[k], sizeof st[k]);
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    snprintf(path, sizeof path, "%s%s", o[i].done ? cli_via_name(o[i].via) : "-",
             o[i].repaired ? " (repaired)" : "");
    if (o[i].done && o[i].latency_ms >= 0)
      snprintf(lat, sizeof lat, "%lld ms", (long long)o[i].latency_ms);
    else
      snprintf(lat, sizeof lat, "-");
    printf("%-28s %-19s %-5s %-7s %-7s %-7s %8d %10s  ", lmm_member_id_format(&m, id, sizeof id),
           path, cli_code_text(o[i].coap_code, code, sizeof code), st[0], st[1], st[2],
           o[i].attempts, lat);
    char *v = cli_values_text(objs, info, &o[i]);
    const char *e = cli_error_text(&o[i]);
    if (cli_outcome_ok(&o[i]) || !e) {
      for (char *p = v; p && *p; p++) /* one line per member */
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
      fputs(v && *v ? v : "", stdout);
    } else {
      printf("%s: %s", lmm_outcome_refused(&o[i]) ? "refused" : "error", e);
      /* A Group Mgmt write that failed is worth its own words even when the member's final
       * error is another step's. */
      if (o[i].gm_error && (!o[i].error || strcmp(o[i].gm_error, o[i].error)))
        printf("; Group Mgmt write: %s", o[i].gm_error);
      if (v && *v && !(o[i].error && strstr(o[i].error, v))) {
        for (char *p = v; *p; p++)
          if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
        printf(" (%s)", v);
      }
    }
    free(v);
    printf("\n");
  }
  cli_totals t;
  cli_count(o, n, &t);
  printf("\n%zu members: %zu succeeded, %zu failed, %zu pending, %zu refused; by path: mbms %zu, "
         "multicast %zu, unicast %zu; repaired %zu\n",
         t.members, t.succeeded, t.failed, t.pending, t.refused, t.by_via[LMM_VIA_MBMS],
         t.by_via[LMM_VIA_MULTICAST], t.by_via[LMM_VIA_UNICAST], t.repaired);
  cli_step_totals sc;
  cli_steps_count(o, n, &sc);
  cli_steps_print_summary(&sc);
  printf("T8 notification: %s\n", t8_status_text(info));
}

static void report_json(const lmm_objects *objs, const lmm_campaign_info *info,
                        const lmm_outcome *o, size_t n) {
  printf("{\"campaign\":{\"id\":%lld,\"group\":", (long long)info->id);
  cli_json_str(stdout, info->group);
  printf(",\"operation\":\"%s\",\"path\":", cli_op_name(info->op_kind));
  cli_json_str(stdout, info->op_path);
  printf(",\"query\":");
  cli_json_str(stdout, info->op_query);
  printf(",\"format\":%u,\"payloadBytes\":%zu,\"via\":\"%s\",\"state\":\"%s\",\"windowS\":%lld,"
         "\"repair\":%s,\"tmgi\":",
         info->op_format, info->op_len, cli_via_name(info->via), cli_state_name(info->state),
         (long long)info->window_s, info->repair ? "true" : "false");
  cli_json_str(stdout, info->tmgi);
  printf(",\"tmgiEnd\":\"%s\",\"t8Transaction\":", cli_tmgi_end_name(info->tmgi_end));
  cli_json_str(stdout, info->t8_transaction);
  printf(",\"t8Notification\":\"%s\"", t8_status_text(info));
  cli_json_time("created", info->created_ms);
  cli_json_time("started", info->started_ms);
  cli_json_time("delivered", info->delivered_ms);
  cli_json_time("finished", info->finished_ms);
  printf(",\"error\":");
  cli_json_str(stdout, info->error);
  printf("},\"members\":[");
  for (size_t i = 0; i < n; i++) {
    char id[96], code[8];
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    printf("%s{\"member\":", i ? "," : "");
    cli_json_str(stdout, lmm_member_id_format(&m, id, sizeof id));
    printf(",\"path\":\"%s\",\"repaired\":%s,\"done\":%s,\"ok\":%s,\"refused\":%s,\"code\":",
           o[i].done ? cli_via_name(o[i].via) : "-", o[i].repaired ? "true" : "false",
           o[i].done ? "true" : "false", cli_outcome_ok(&o[i]) ? "true" : "false",
           lmm_outcome_refused(&o[i]) ? "true" : "false");
    if (o[i].coap_code)
      printf("\"%s\"", cli_code_text(o[i].coap_code, code, sizeof code));
    else
      printf("null");
    if (o[i].content_format >= 0)
      printf(",\"contentFormat\":%d", o[i].content_format);
    else
      printf(",\"contentFormat\":null");
    lmm_records r = {0};
    printf(",\"values\":");
    if (decode(objs, info, &o[i], &r)) {
      printf("[");
      for (size_t k = 0; k < r.n; k++) {
        char p[32];
        printf("%s{\"path\":\"%s\",\"value\":", k ? "," : "",
               lmm_path_format(&r.items[k].path, p, sizeof p));
        put_value(stdout, &r.items[k].value, true);
        printf("}");
      }
      printf("],\"payload\":null,\"payloadHex\":null");
    } else if (o[i].payload_len && utf8_printable(o[i].payload, o[i].payload_len)) {
      printf("null,\"payload\":");
      cli_json_strn(stdout, (const char *)o[i].payload, o[i].payload_len);
      printf(",\"payloadHex\":null");
    } else if (o[i].payload_len) {
      printf("null,\"payload\":null,\"payloadHex\":\"");
      put_hex(stdout, o[i].payload, o[i].payload_len);
      printf("\"");
    } else {
      printf("null,\"payload\":null,\"payloadHex\":null");
    }
    lmm_records_clear(&r);
    printf(",\"attempts\":%d,\"latencyMs\":", o[i].attempts);
    if (o[i].done)
      printf("%lld", (long long)o[i].latency_ms);
    else
      printf("null");
    printf(",\"error\":");
    cli_json_str(stdout, cli_outcome_ok(&o[i]) ? NULL : cli_error_text(&o[i]));
    cli_steps_json(&o[i]);
    printf("}");
  }
  cli_totals t;
  cli_count(o, n, &t);
  cli_step_totals sc;
  cli_steps_count(o, n, &sc);
  printf("],\"totals\":{\"members\":%zu,\"succeeded\":%zu,\"failed\":%zu,\"pending\":%zu,"
         "\"refused\":%zu,"
         "\"byPath\":{\"mbms\":%zu,\"multicast\":%zu,\"unicast\":%zu},\"repaired\":%zu,"
         "\"t8Notification\":\"%s\"",
         t.members, t.succeeded, t.failed, t.pending, t.refused, t.by_via[LMM_VIA_MBMS],
         t.by_via[LMM_VIA_MULTICAST], t.by_via[LMM_VIA_UNICAST], t.repaired, t8_status_text(info));
  printf("}");
  cli_steps_json_totals(&sc);
  printf("}\n");
}

static void report_csv(const lmm_objects *objs, const lmm_campaign_info *info, const lmm_outcome *o,
                       size_t n) {
  fputs("member,path,repaired,", stdout);
  cli_steps_csv_header();
  fputs("code,values,attempts,latency_ms,error\r\n", stdout);
  for (size_t i = 0; i < n; i++) {
    char id[96], code[8], num[24];
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    cli_csv_field(lmm_member_id_format(&m, id, sizeof id), false);
    cli_csv_field(o[i].done ? cli_via_name(o[i].via) : "", false);
    cli_csv_field(o[i].repaired ? "yes" : "no", false);
    cli_steps_csv(&o[i]);
    cli_csv_field(o[i].coap_code ? cli_code_text(o[i].coap_code, code, sizeof code) : "", false);
    char *v = cli_values_text(objs, info, &o[i]);
    cli_csv_field(v, false);
    free(v);
    snprintf(num, sizeof num, "%d", o[i].attempts);
    cli_csv_field(num, false);
    if (o[i].done)
      snprintf(num, sizeof num, "%lld", (long long)o[i].latency_ms);
    else
      num[0] = '\0';
    cli_csv_field(num, false);
    cli_csv_field(cli_outcome_ok(&o[i]) ? NULL : cli_error_text(&o[i]), true);
  }
}

void cli_print_report(const cli *c, cli_report_fmt fmt, const lmm_campaign_info *info,
                      const lmm_outcome *o, size_t n) {
  if (info->kind == LMM_CK_FIRMWARE) {
    cli_print_fw_report(c, fmt, info, o, n, NULL);
    return;
  }
  switch (fmt) {
  case CLI_REPORT_JSON:
    report_json(c->objects, info, o, n);
    break;
  case CLI_REPORT_CSV:
    report_csv(c->objects, info, o, n);
    break;
  default:
    report_table(c->objects, info, o, n);
  }
}

/* ------------------------------------------------------------------ commands */

int cmd_report(cli *c, int argc, char **argv) {
  c->cmd = "report";
  static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                       {"json", no_argument, 0, 'j'},
                                       {"objects", required_argument, 0, 'o'},
                                       {"html", required_argument, 0, 'H'},
                                       {0, 0, 0, 0}};
  const char *html = NULL;
  bool fmt_given = c->json;
  const char *dirs[CLI_MAX_OBJECT_DIRS];
  size_t n_dirs = 0;
  cli_report_fmt fmt = c->json ? CLI_REPORT_JSON : CLI_REPORT_TABLE;
  int o;
  cli_getopt_start();
  char **args = cli_with_name("report", argc, argv);
  if (!args) return EXIT_SOME_FAILED;
  int rc = 0;
  while (!rc && (o = cli_getopt(c, argc + 1, args, "", opts, NULL)) != -1) {
    if (o == 'j' || o == 'f') fmt_given = true;
    if (o == 'H' && !*optarg)
      rc = cli_usage(c, "--html: empty file name");
    else if (o == 'H')
      html = optarg;
    else if (o == 'j')
      fmt = CLI_REPORT_JSON;
    else if (o == 'o' && n_dirs == CLI_MAX_OBJECT_DIRS)
      rc = cli_usage(c, "--objects: at most %d directories", CLI_MAX_OBJECT_DIRS);
    else if (o == 'o')
      dirs[n_dirs++] = optarg;
    else if (o == 'f' && !strcmp(optarg, "table"))
      fmt = CLI_REPORT_TABLE;
    else if (o == 'f' && !strcmp(optarg, "json"))
      fmt = CLI_REPORT_JSON;
    else if (o == 'f' && !strcmp(optarg, "csv"))
      fmt = CLI_REPORT_CSV;
    else if (o == 'f')
      rc = cli_usage(c, "--format: '%s' is not table, json or csv", optarg);
    else /* CLI_GETOPT_ERR: said */
      rc = EXIT_USAGE;
  }
  int64_t id = 0;
  if (!rc && argc + 1 - optind != 1)
    rc = cli_usage(c, argc + 1 - optind < 1 ? "missing CAMPAIGN" : "too many arguments");
  if (!rc && html && fmt_given)
    rc = cli_usage(c, "--html writes a page: give it without --format or --json");
  if (!rc) rc = cli_parse_campaign_id(c, args[optind], &id);
  /* Loaded objects type what the built-ins cannot: a vendor object's TLV answers. */
  if (!rc) rc = cli_objects_load(c, dirs, n_dirs);
  free(args);
  if (rc) return rc;
  lmm_store *s = NULL;
  if ((rc = cli_store_open(c, &s))) return rc;
  lmm_campaign_info info = {0};
  lmm_outcome *out = NULL;
  size_t n = 0;
  if (!(rc = cli_campaign_get(c, s, id, &info))) {
    lmm_err e = lmm_store_outcomes_get(s, id, &out, &n);
    if (e != LMM_OK)
      rc = cli_store_fail(c, s, "reading the outcomes", e);
    else if (html)
      rc = cli_report_html(c, html, &info, out, n);
    else
      cli_print_report(c, fmt, &info, out, n);
  }
  lmm_outcome_list_free(out, n);
  lmm_campaign_info_clear(&info);
  lmm_store_close(s);
  return rc;
}
