/* report_html_fw.c - report --html of a firmware campaign: its members by wave and end, by
 * Update Result, and its member table (the page itself: report_html.c). */
#include <string.h>

#include "cli.h"

enum { FW_ENDS = 6, FW_RESULTS = 16 };

void cli_html_fw_counts(FILE *f, const lmm_outcome *o, size_t n) {
  size_t w[2][FW_ENDS] = {{0}}, res[FW_RESULTS + 1] = {0}, unknown = 0;
  for (size_t i = 0; i < n; i++) {
    int e = o[i].fw_end >= 0 && o[i].fw_end < FW_ENDS ? o[i].fw_end : 0;
    w[o[i].fw_wave ? 0 : 1][e]++;
    if (o[i].fw_result < 0)
      unknown++;
    else
      res[o[i].fw_result < FW_RESULTS ? o[i].fw_result : FW_RESULTS]++;
  }
  fputs("<h2>Members by wave and end</h2>\n<table class=\"counts\" id=\"waves\"><thead><tr>"
        "<th></th>",
        f);
  for (int e = 0; e < FW_ENDS; e++) {
    lmm_outcome x = {.fw_end = e};
    fprintf(f, "<th class=\"n\">%s</th>", cli_fw_end_text(&x));
  }
  fputs("</tr></thead><tbody>\n", f);
  for (int k = 0; k < 2; k++) {
    fprintf(f, "<tr><td>%s</td>", k ? "the rest" : "first wave");
    for (int e = 0; e < FW_ENDS; e++)
      fprintf(f, "<td class=\"n\">%zu</td>", w[k][e]);
    fputs("</tr>\n", f);
  }
  fputs("</tbody></table>\n<h2>Members by Update Result</h2>\n<table class=\"counts\" "
        "id=\"results\"><tbody>\n",
        f);
  for (int r = 0; r <= FW_RESULTS; r++) {
    if (!res[r]) continue;
    char name[160];
    const char *text = r < FW_RESULTS ? lmm_fw_update_result_text(r) : NULL;
    if (r < FW_RESULTS)
      snprintf(name, sizeof name, "%d %s", r, text ? text : "");
    else
      snprintf(name, sizeof name, "%d or more", FW_RESULTS);
    cli_html_count_row(f, name, res[r], n);
  }
  if (unknown) cli_html_count_row(f, "never read", unknown, n);
  fputs("</tbody></table>\n", f);
  cli_fw_totals t;
  cli_fw_count(o, n, &t);
  fprintf(f,
          "<p class=\"note\">%zu members: %zu updated, %zu failed, %zu held, %zu cancelled, "
          "%zu refused, %zu pending; by path: mbms %zu, multicast %zu, unicast %zu (pull "
          "%zu)</p>\n",
          t.members, t.updated, t.failed, t.held, t.cancelled, t.refused, t.pending,
          t.by_via[LMM_VIA_MBMS], t.by_via[LMM_VIA_MULTICAST], t.by_via[LMM_VIA_UNICAST], t.pulled);
}

void cli_html_fw_rows(FILE *f, const lmm_outcome *o, size_t n) {
  static const char *const end_class[FW_ENDS] = {"pending", "ok",     "failed",
                                                 "silent",  "silent", "refused"};
  fputs("<thead><tr>", f);
  cli_html_th(f, "member", "member", false), cli_html_th(f, "end", "end", false),
      cli_html_th(f, "path", "path", false);
  cli_html_th(f, "wave", "wave", false), cli_html_th(f, "gm", "Group Mgmt", false),
      cli_html_th(f, "state", "State", true);
  cli_html_th(f, "result", "Update Result", true), cli_html_th(f, "bytes", "unicast bytes", true);
  cli_html_th(f, "missed", "missed", true), cli_html_th(f, "repaired", "repaired", true);
  cli_html_th(f, "elapsed", "elapsed", true), cli_html_th(f, "error", "error / PkgVersion", false);
  fputs("</tr></thead><tbody>\n", f);
  for (size_t i = 0; i < n; i++) {
    char id[96], gm[16];
    int e = o[i].fw_end >= 0 && o[i].fw_end < FW_ENDS ? o[i].fw_end : 0;
    lmm_member m = {.ep = o[i].ep, .oid = o[i].oid};
    fprintf(f, "<tr class=\"s-%s\"><td>", end_class[e]);
    cli_html_esc(f, lmm_member_id_format(&m, id, sizeof id));
    fprintf(f, "</td><td class=\"st\">%s</td><td>%s</td><td>%s</td><td>%s</td>",
            cli_fw_end_text(&o[i]), cli_fw_path_name(&o[i]), o[i].fw_wave ? "yes" : "-",
            cli_step_cell(&o[i], 0, gm, sizeof gm));
    cli_html_num_td(f, o[i].fw_state >= 0, o[i].fw_state, "");
    if (o[i].fw_result >= 0) {
      const char *t = lmm_fw_update_result_text(o[i].fw_result);
      fprintf(f, "<td class=\"n\" data-v=\"%d\">%d %s</td>", o[i].fw_result, o[i].fw_result,
              t ? t : "");
    } else {
      fputs("<td class=\"n\" data-v=\"\">-</td>", f);
    }
    cli_html_num_td(f, true, (long long)o[i].fw_bytes_unicast, "");
    cli_html_num_td(f, true, (long long)o[i].fw_missed, "");
    cli_html_num_td(f, true, (long long)o[i].fw_repaired, "");
    cli_html_num_td(f, o[i].fw_end != LMM_FWC_PENDING, (long long)o[i].latency_ms, " ms");
    fputs("<td class=\"v\">", f);
    const char *err = cli_fw_error(&o[i]);
    if (err) {
      fputs("<span class=\"err\">", f);
      cli_html_esc(f, err);
      fputs("</span>", f);
    }
    if (o[i].fw_pkg_version) {
      fputs(err ? "; PkgVersion " : "PkgVersion ", f);
      cli_html_esc(f, o[i].fw_pkg_version);
    }
    fputs("</td></tr>\n", f);
  }
  fputs("</tbody>", f);
}
