/* report_html.c - report --html: one self-contained page of a campaign for an operator: its
 * phases on a time line, its answers over the Response Time Window as a bar chart, counts by
 * state, and the member table (docs/report.md).
 *
 * Everything a person reads is rendered here, in HTML and inline SVG, so the page shows all
 * of it without a script; the inline script (report_page.c) only sorts and filters the table.
 * The figures go in once more as one JSON object, for scripts that read the page. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

extern const char cli_page_css[], cli_page_js[];

/* ------------------------------------------------------------------ escaping */

/* Text and attribute values alike: whatever a device or the store holds never becomes markup. */
void cli_html_esc(FILE *f, const char *s) {
  for (; s && *s; s++)
    switch (*s) {
    case '&':
      fputs("&amp;", f);
      break;
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    case '\'':
      fputs("&#39;", f);
      break;
    default:
      fputc(*s, f);
    }
}

/* The JSON of the data block, with every <, > and & as \u escapes: they occur only inside
 * strings, where the escapes mean the same, and then neither "</script" nor "<!--" can end
 * or bend the script element whatever a value holds. */
static void put_json_safe(FILE *f, const char *json, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (json[i] == '<')
      fputs("\\u003c", f);
    else if (json[i] == '>')
      fputs("\\u003e", f);
    else if (json[i] == '&')
      fputs("\\u0026", f);
    else
      fputc(json[i], f);
  }
}

/* ------------------------------------------------------------------ figures */

/* The states of an operation campaign's members, one each (the counts add up to the members). */
enum { ST_GROUP, ST_REPAIR, ST_UNICAST, ST_SILENT, ST_REFUSED, ST_FAILED, ST_PENDING, ST_N };
static const char *const st_name[ST_N] = {"answered by group",
                                          "answered by repair",
                                          "answered by unicast",
                                          "silent (no answer)",
                                          "refused",
                                          "failed",
                                          "pending"};
static const char *const st_key[ST_N] = {"answeredByGroup", "answeredByRepair", "answeredByUnicast",
                                         "silent",          "refused",          "failed",
                                         "pending"};
static const char *const st_class[ST_N] = {"ok",      "ok",     "ok",     "silent",
                                           "refused", "failed", "pending"};

static int op_state(const lmm_outcome *o) {
  if (!o->done) return ST_PENDING;
  if (lmm_outcome_refused(o)) return ST_REFUSED;
  if (cli_outcome_ok(o))
    return o->repaired ? ST_REPAIR : o->via == LMM_VIA_UNICAST ? ST_UNICAST : ST_GROUP;
  if (!o->coap_code && (o->err == LMM_ERR_TIMEOUT || o->group_step == LMM_STEP_SILENT))
    return ST_SILENT;
  return ST_FAILED;
}

static bool group_path(lmm_path_kind via) {
  return via == LMM_VIA_MBMS || via == LMM_VIA_MULTICAST;
}

/* The chart: which members it counts, and its buckets. A group campaign counts every answer
 * to the group request (whatever its code: the totals' "by path" mbms and multicast), by its
 * time after the request went on air, over the Response Time Window; later ones (the grace
 * after the window) in one "after the window" bar. A unicast campaign counts the answers by
 * their latency, a firmware campaign the members that ended by their time to the end; both
 * over [0, the slowest]. */
enum { CHART_BUCKETS = 20 };
typedef struct chart {
  const char *what;  /* the caption's subject */
  int64_t bucket_ms; /* width of a bucket */
  size_t nb;         /* buckets in range; counts[nb] is the "after the window" one */
  size_t counts[CHART_BUCKETS + 1];
  size_t total;           /* members counted */
  int64_t min_ms, max_ms; /* of the counted members, -1 none */
  bool window;            /* the range is the Response Time Window */
} chart;

static bool in_chart(const lmm_campaign_info *info, const lmm_outcome *o) {
  if (info->kind == LMM_CK_FIRMWARE) return o->fw_end != LMM_FWC_PENDING;
  if (!o->done) return false;
  if (group_path(info->via)) return group_path(o->via);
  return o->via == LMM_VIA_UNICAST && o->coap_code != 0;
}

static void chart_make(const lmm_campaign_info *info, const lmm_outcome *o, size_t n, chart *ch) {
  memset(ch, 0, sizeof *ch);
  ch->min_ms = ch->max_ms = -1;
  for (size_t i = 0; i < n; i++) {
    if (!in_chart(info, &o[i])) continue;
    int64_t t = o[i].latency_ms > 0 ? o[i].latency_ms : 0;
    if (ch->min_ms < 0 || t < ch->min_ms) ch->min_ms = t;
    if (t > ch->max_ms) ch->max_ms = t;
  }
  int64_t range = ch->max_ms + 1;
  ch->window = info->kind == LMM_CK_OPERATION && group_path(info->via) && info->window_s > 0;
  if (ch->window) range = info->window_s * 1000;
  if (range < 1) range = 1;
  ch->bucket_ms = (range + CHART_BUCKETS - 1) / CHART_BUCKETS;
  ch->nb = (size_t)((range + ch->bucket_ms - 1) / ch->bucket_ms);
  for (size_t i = 0; i < n; i++) {
    if (!in_chart(info, &o[i])) continue;
    int64_t t = o[i].latency_ms > 0 ? o[i].latency_ms : 0;
    size_t b = (size_t)(t / ch->bucket_ms);
    ch->counts[b < ch->nb ? b : ch->nb]++;
    ch->total++;
  }
  ch->what = info->kind == LMM_CK_FIRMWARE ? "members that ended, by their time to the end"
             : ch->window ? "answers to the group request, by their time after it went on air"
                          : "answers, by their latency";
}

/* ------------------------------------------------------------------ sections */

typedef struct phase {
  const char *name;
  int64_t ms;
} phase;

/* The campaign's moments that are known, in time order. */
static size_t phases_of(const lmm_campaign_info *info, const chart *ch, phase *p) {
  size_t k = 0;
  p[k++] = (phase){"created", info->created_ms};
  if (info->started_ms) p[k++] = (phase){"started", info->started_ms};
  bool grp = info->kind == LMM_CK_OPERATION && group_path(info->via);
  if (info->delivered_ms)
    p[k++] = (phase){grp ? "group request on air" : "delivered", info->delivered_ms};
  if (grp && info->delivered_ms && ch->min_ms >= 0) {
    p[k++] = (phase){"first answer", info->delivered_ms + ch->min_ms};
    p[k++] = (phase){"last answer", info->delivered_ms + ch->max_ms};
  }
  if (grp && info->delivered_ms && info->window_s > 0)
    p[k++] = (phase){"window closes", info->delivered_ms + info->window_s * 1000};
  if (info->finished_ms) p[k++] = (phase){"finished", info->finished_ms};
  for (size_t i = 1; i < k; i++) /* a handful: insertion sort, stable */
    for (size_t j = i; j > 0 && p[j].ms < p[j - 1].ms; j--) {
      phase t = p[j];
      p[j] = p[j - 1], p[j - 1] = t;
    }
  return k;
}

/* Label lanes around the axis (y = 60), nearest first: a label takes the first lane where it
 * overlaps none already there, so phases a few milliseconds apart stay readable. */
static const struct {
  int text_y, tick_y;
} LANES[] = {{44, 48}, {86, 74}, {26, 30}, {104, 92}, {10, 14}, {120, 108}};
#define N_LANES (sizeof LANES / sizeof LANES[0])

static void timeline(FILE *f, const phase *p, size_t k) {
  const int W = 960, L = 20, R = 20;
  const double CHAR_W = 6.8; /* of the page's 12 px sans-serif, generously */
  int64_t t0 = p[0].ms, span = p[k - 1].ms - t0;
  double lane_end[N_LANES];
  for (size_t l = 0; l < N_LANES; l++)
    lane_end[l] = -1e9;
  fputs("<h2>Time line</h2>\n<svg id=\"timeline\" viewBox=\"0 0 960 128\" role=\"img\" "
        "aria-label=\"phases of the campaign\">\n<line class=\"axis\" x1=\"20\" y1=\"60\" "
        "x2=\"940\" y2=\"60\"/>\n",
        f);
  for (size_t i = 0; i < k; i++) {
    double x = L + (span > 0 ? (double)(p[i].ms - t0) * (W - L - R) / (double)span : 0);
    char label[64];
    int n = snprintf(label, sizeof label, "%s +%.3f s", p[i].name, (double)(p[i].ms - t0) / 1000.0);
    double w = (n > 0 ? n : 0) * CHAR_W;
    const char *anchor = x < 120 ? "start" : x > W - 120 ? "end" : "middle";
    double x0 = x < 120 ? x : x > W - 120 ? x - w : x - w / 2;
    size_t l = 0; /* phases come in time order: a lane's last label is its rightmost */
    while (l + 1 < N_LANES && lane_end[l] + 8 > x0)
      l++;
    if (lane_end[l] < x0 + w) lane_end[l] = x0 + w;
    int ty = LANES[l].text_y, tick = LANES[l].tick_y;
    fprintf(f,
            "<g class=\"phase\" data-phase=\"%s\" data-ms=\"%lld\"><line x1=\"%.1f\" y1=\"%d\" "
            "x2=\"%.1f\" y2=\"60\"/><circle cx=\"%.1f\" cy=\"60\" r=\"4\"/><text x=\"%.1f\" "
            "y=\"%d\" text-anchor=\"%s\">%s</text></g>\n",
            p[i].name, (long long)p[i].ms, x, tick, x, x, x, ty, anchor, label);
  }
  fputs("</svg>\n<table class=\"phases\"><thead><tr><th>phase</th><th>time (UTC)</th><th "
        "class=\"n\">after created</th></tr></thead><tbody>\n",
        f);
  for (size_t i = 0; i < k; i++) {
    char t[40];
    fprintf(f, "<tr><td>%s</td><td>%s</td><td class=\"n\">%.3f s</td></tr>\n", p[i].name,
            cli_fmt_time(p[i].ms, true, t, sizeof t), (double)(p[i].ms - t0) / 1000.0);
  }
  fputs("</tbody></table>\n", f);
}

static void bar_chart(FILE *f, const chart *ch) {
  const int W = 960, H = 240, L = 44, B = 28, T = 12;
  size_t slots = ch->nb + (ch->counts[ch->nb] ? 1 : 0), top = 1;
  for (size_t b = 0; b <= ch->nb; b++)
    if (ch->counts[b] > top) top = ch->counts[b];
  double bw = (double)(W - L - 8) / (double)slots, ph = H - B - T;
  fprintf(f, "<h2>Answers</h2>\n<p class=\"note\">%zu %s, in buckets of %lld ms", ch->total,
          ch->what, (long long)ch->bucket_ms);
  if (ch->window)
    fprintf(f,
            " over the Response Time Window (%zu buckets of it); the last bar, if any, "
            "holds those after the window closed",
            ch->nb);
  fputs(". Each bar's height is its count; empty buckets have none.</p>\n", f);
  fprintf(f,
          "<svg id=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"answers per "
          "bucket\" data-bucket-ms=\"%lld\" data-buckets=\"%zu\" data-total=\"%zu\">\n"
          "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
          "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%zu</text>"
          "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
          W, H, (long long)ch->bucket_ms, ch->nb, ch->total, L, H - B, W - 8, H - B, L - 4, T + 8,
          top, L - 4, H - B);
  for (size_t b = 0; b < slots; b++) {
    bool late = b == ch->nb;
    long long from = (long long)b * ch->bucket_ms, to = late ? -1 : from + ch->bucket_ms;
    double x = L + 1 + (double)b * bw, h = ph * (double)ch->counts[b] / (double)top;
    if (ch->counts[b]) {
      fprintf(f,
              "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
              "data-count=\"%zu\" data-from-ms=\"%lld\" data-to-ms=\"%lld\"><title>%zu ",
              late ? " late" : "", x, H - B - h, bw > 3 ? bw - 2 : bw, h, ch->counts[b], from, to,
              ch->counts[b]);
      if (late)
        fprintf(f, "from %lld ms on (after the window)</title></rect>\n", from);
      else
        fprintf(f, "in %lld to %lld ms</title></rect>\n", from, to);
    }
    if (!late && to >= 0 && b % 5 == 0)
      fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%lld</text>\n", x, H - B + 14, from);
    if (late && ch->counts[b])
      fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\">later</text>\n", x, H - B + 14);
  }
  fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">ms</text>\n</svg>\n",
          W - 8, H - 2);
}

void cli_html_count_row(FILE *f, const char *name, size_t v, size_t n) {
  fprintf(f,
          "<tr><td>%s</td><td class=\"n\">%zu</td><td><span class=\"meter\" "
          "style=\"width:%.1fem\"></span></td></tr>\n",
          name, v, n ? 20.0 * (double)v / (double)n : 0.0);
}

static void op_counts(FILE *f, const lmm_outcome *o, size_t n, const size_t *st) {
  fputs("<h2>Members by state</h2>\n<table class=\"counts\" id=\"counts\"><tbody>\n", f);
  for (int k = 0; k < ST_N; k++)
    cli_html_count_row(f, st_name[k], st[k], n);
  cli_totals t;
  cli_count(o, n, &t);
  fprintf(f,
          "</tbody></table>\n<p class=\"note\">%zu members: %zu succeeded, %zu failed, %zu "
          "pending, %zu refused; by path: mbms %zu, multicast %zu, unicast %zu; repaired "
          "%zu</p>\n",
          t.members, t.succeeded, t.failed, t.pending, t.refused, t.by_via[LMM_VIA_MBMS],
          t.by_via[LMM_VIA_MULTICAST], t.by_via[LMM_VIA_UNICAST], t.repaired);
}

/* A header cell: its sort key (for #sort=), and whether it sorts as a number. */
void cli_html_th(FILE *f, const char *key, const char *label, bool num) {
  fprintf(f, "<th data-key=\"%s\"%s>%s</th>", key, num ? " data-type=\"num\" class=\"n\"" : "",
          label);
}

void cli_html_num_td(FILE *f, bool known, long long v, const char *unit) {
  if (known)
    fprintf(f, "<td class=\"n\" data-v=\"%lld\">%lld%s</td>", v, v, unit);
  else
    fputs("<td class=\"n\" data-v=\"\">-</td>", f);
}

static void op_rows(FILE *f, const cli *c, const lmm_campaign_info *info, const lmm_outcome *o,
                    size_t n) {
  fputs("<thead><tr>", f);
  cli_html_th(f, "member", "member", false), cli_html_th(f, "state", "state", false),
      cli_html_th(f, "path", "path", false);
  cli_html_th(f, "code", "code", false), cli_html_th(f, "gm", "Group Mgmt", false),
      cli_html_th(f, "group", "group", false);
  cli_html_th(f, "unicast", "unicast", false), cli_html_th(f, "attempts", "attempts", true);
  cli_html_th(f, "latency", "latency", true), cli_html_th(f, "values", "values / error", false);
  fputs("</tr></thead><tbody>\n", f);
  for (size_t i = 0; i < n; i++) {
    char id[96], code[8], st[CLI_STEPS][16];
    int s = op_state(&o[i]);
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    fprintf(f, "<tr class=\"s-%s\"><td>", st_class[s]);
    cli_html_esc(f, lmm_member_id_format(&m, id, sizeof id));
    fprintf(f, "</td><td class=\"st\">%s</td><td>%s%s</td><td>%s</td>", st_name[s],
            o[i].done ? cli_via_name(o[i].via) : "-", o[i].repaired ? " (repaired)" : "",
            cli_code_text(o[i].coap_code, code, sizeof code));
    for (int k = 0; k < CLI_STEPS; k++)
      fprintf(f, "<td>%s</td>", cli_step_cell(&o[i], k, st[k], sizeof st[k]));
    cli_html_num_td(f, true, o[i].attempts, "");
    cli_html_num_td(f, o[i].done && o[i].latency_ms >= 0, (long long)o[i].latency_ms, " ms");
    fputs("<td class=\"v\">", f);
    char *v = cli_values_text(c->objects, info, &o[i]);
    const char *e = cli_outcome_ok(&o[i]) ? NULL : cli_error_text(&o[i]);
    if (e) {
      fputs("<span class=\"err\">", f);
      cli_html_esc(f, e);
      fputs("</span>", f);
      if (o[i].gm_error && (!o[i].error || strcmp(o[i].gm_error, o[i].error))) {
        fputs("; Group Mgmt write: ", f);
        cli_html_esc(f, o[i].gm_error);
      }
      if (v && *v) fputs(" ", f);
    }
    cli_html_esc(f, v);
    free(v);
    fputs("</td></tr>\n", f);
  }
  fputs("</tbody>", f);
}

/* ------------------------------------------------------------------ the data block */

static char *data_json(const lmm_campaign_info *info, const char *written, const chart *ch,
                       const phase *p, size_t k, const size_t *st, size_t n, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f) return NULL;
  bool fw = info->kind == LMM_CK_FIRMWARE;
  char op[320];
  cli_op_text(info, op, sizeof op);
  fprintf(f, "{\"campaign\":{\"id\":%lld,\"kind\":\"%s\",\"group\":", (long long)info->id,
          fw ? "firmware" : "operation");
  cli_json_str(f, info->group);
  fputs(",\"operation\":", f);
  cli_json_str(f, fw ? NULL : op);
  fputs(",\"value\":", f);
  cli_json_str(f, written);
  fprintf(f,
          ",\"via\":\"%s\",\"state\":\"%s\",\"windowS\":%lld,\"error\":", cli_via_name(info->via),
          cli_state_name(info->state), (long long)info->window_s);
  cli_json_str(f, info->error);
  fputs("},\"phases\":[", f);
  for (size_t i = 0; i < k; i++)
    fprintf(f, "%s{\"name\":\"%s\",\"ms\":%lld}", i ? "," : "", p[i].name, (long long)p[i].ms);
  fprintf(f, "],\"chart\":{\"bucketMs\":%lld,\"window\":%s,\"total\":%zu,\"buckets\":[",
          (long long)ch->bucket_ms, ch->window ? "true" : "false", ch->total);
  for (size_t b = 0; b < ch->nb; b++)
    fprintf(f, "%s%zu", b ? "," : "", ch->counts[b]);
  fprintf(f, "],\"late\":%zu},\"members\":%zu", ch->counts[ch->nb], n);
  if (!fw) {
    fputs(",\"states\":{", f);
    for (int s = 0; s < ST_N; s++)
      fprintf(f, "%s\"%s\":%zu", s ? "," : "", st_key[s], st[s]);
    fputs("}", f);
  }
  fputs("}", f);
  if (fclose(f)) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* ------------------------------------------------------------------ the page */

static void page(FILE *f, const cli *c, const lmm_campaign_info *info, const lmm_outcome *o,
                 size_t n, const char *written, const char *json, size_t jlen, const chart *ch,
                 const phase *p, size_t k, const size_t *st) {
  bool fw = info->kind == LMM_CK_FIRMWARE;
  char op[320], t1[40], t2[40];
  cli_op_text(info, op, sizeof op);
  fprintf(f,
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta "
          "name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
          "<title>campaign %lld: ",
          (long long)info->id);
  cli_html_esc(f, fw ? "firmware" : op);
  fputs(" on ", f);
  cli_html_esc(f, info->group);
  fprintf(f, "</title>\n<style>%s</style>\n</head><body>\n<h1>Campaign %lld: ", cli_page_css,
          (long long)info->id);
  cli_html_esc(f, fw ? "firmware" : op);
  fputs(" on group ", f);
  cli_html_esc(f, info->group ? info->group : "?");
  fprintf(f, " via %s, %s</h1>\n", cli_via_name(info->via), cli_state_name(info->state));
  if (written) {
    fputs("<p class=\"meta\">value written: <b>", f);
    cli_html_esc(f, written);
    fputs("</b></p>\n", f);
  }
  fprintf(f, "<p class=\"meta\">created <b>%s</b>, finished <b>%s</b>",
          cli_fmt_time(info->created_ms, true, t1, sizeof t1),
          cli_fmt_time(info->finished_ms, true, t2, sizeof t2));
  if (info->finished_ms && info->started_ms)
    fprintf(f, " (%.3f s)", (double)(info->finished_ms - info->started_ms) / 1000.0);
  fprintf(f, "; %zu members; Response Time Window %lld s</p>\n", n, (long long)info->window_s);
  if (info->tmgi) {
    fputs("<p class=\"meta\">TMGI <b>", f);
    cli_html_esc(f, info->tmgi);
    fprintf(f, "</b> (%s)</p>\n", cli_tmgi_end_name(info->tmgi_end));
  }
  if (info->error) {
    fputs("<p class=\"meta err\">error: ", f);
    cli_html_esc(f, info->error);
    fputs("</p>\n", f);
  }
  timeline(f, p, k);
  bar_chart(f, ch);
  if (fw)
    cli_html_fw_counts(f, o, n);
  else
    op_counts(f, o, n, st);
  fprintf(f,
          "<h2>Members</h2>\n<p class=\"note\"><span id=\"shown\">%zu members</span>; "
          "click a column's header to sort by it.</p>\n<table id=\"members\">",
          n);
  if (fw)
    cli_html_fw_rows(f, o, n);
  else
    op_rows(f, c, info, o, n);
  fputs("</table>\n<script type=\"application/json\" id=\"lmm-data\">", f);
  put_json_safe(f, json, jlen);
  fprintf(f, "</script>\n<script>%s</script>\n</body></html>\n", cli_page_js);
}

int cli_report_html(const cli *c, const char *path, const lmm_campaign_info *info,
                    const lmm_outcome *o, size_t n) {
  chart ch;
  chart_make(info, o, n, &ch);
  phase p[8];
  size_t k = phases_of(info, &ch, p), st[ST_N] = {0};
  for (size_t i = 0; i < n; i++)
    st[op_state(&o[i])]++;
  /* What a Write wrote, as its answers' values read: the page says what the members were told. */
  char *written = NULL;
  if (info->kind == LMM_CK_OPERATION && info->op_kind == LMM_OPK_WRITE && info->op_len) {
    lmm_outcome w = {.payload = info->op_payload,
                     .payload_len = info->op_len,
                     .content_format = info->op_format};
    written = cli_values_text(c->objects, info, &w);
  }
  size_t jlen = 0;
  char *json = data_json(info, written, &ch, p, k, st, n, &jlen);
  if (!json) {
    free(written);
    cli_err(c, "--html: out of memory");
    return EXIT_SOME_FAILED;
  }
  if (!strcmp(path, "-")) {
    page(stdout, c, info, o, n, written, json, jlen, &ch, p, k, st);
    free(json), free(written);
    return 0; /* stdout's write errors: cli_finish_output() */
  }
  /* A file is written beside the target, then renamed over it: a failure never leaves half
   * a page, nor spoils the one there was. Mode 0600 like the store's: it holds the devices'
   * answers. Anything else that exists (a device, a FIFO, /dev/stdout) is written in place. */
  struct stat sb;
  bool in_place = stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
  size_t plen = strlen(path);
  char *tmp = in_place ? NULL : malloc(plen + 16);
  int fd = -1, rc = 0;
  if (in_place) {
    fd = open(path, O_WRONLY | O_TRUNC);
  } else if (tmp) {
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    fd = mkstemp(tmp);
  } else {
    errno = ENOMEM;
  }
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    cli_err(c, "--html %s: cannot write: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    if (fd >= 0 && tmp) unlink(tmp);
    rc = EXIT_USAGE;
  } else {
    page(f, c, info, o, n, written, json, jlen, &ch, p, k, st);
    bool bad = ferror(f) != 0;
    int saved = errno;
    if (fclose(f) != 0 && !bad) bad = true, saved = errno;
    if (!bad && tmp && rename(tmp, path) != 0) bad = true, saved = errno;
    if (bad) {
      cli_err(c, "--html %s: cannot write: %s", path, strerror(saved));
      if (tmp) unlink(tmp);
      rc = EXIT_USAGE;
    }
  }
  free(tmp);
  free(json), free(written);
  return rc;
}
