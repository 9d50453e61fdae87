/* steps.c - each step's result per member (Group Mgmt write, group request, unicast request)
 * in the reports: cells of the table, JSON objects, CSV columns and the counts of the summary,
 * for operation and firmware campaigns alike. */
#include <string.h>

#include "cli.h"

static const char *const step_keys[CLI_STEPS] = {"groupMgmt", "group", "unicast"};
static const char *const step_titles[CLI_STEPS] = {"Group Mgmt write", "group request",
                                                   "unicast request"};

static void step_of(const lmm_outcome *o, int k, lmm_step *step, uint8_t *code,
                    const char **error) {
  switch (k) {
  case 0:
    *step = o->gm_step, *code = o->gm_code, *error = o->gm_error;
    break;
  case 1:
    *step = o->group_step, *code = o->group_code, *error = NULL;
    break;
  default:
    *step = o->unicast_step, *code = o->unicast_code, *error = o->unicast_error;
  }
}

char *cli_step_cell(const lmm_outcome *o, int k, char *buf, size_t cap) {
  lmm_step step;
  uint8_t code;
  const char *error;
  step_of(o, k, &step, &code, &error);
  if ((step == LMM_STEP_OK || step == LMM_STEP_REFUSED) && code)
    snprintf(buf, cap, "%u.%02u", (unsigned)(code >> 5), (unsigned)(code & 31u));
  else
    snprintf(buf, cap, "%s", lmm_step_name(step));
  return buf;
}

void cli_steps_count(const lmm_outcome *o, size_t n, cli_step_totals *t) {
  memset(t, 0, sizeof *t);
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < CLI_STEPS; k++) {
      lmm_step step;
      uint8_t code;
      const char *error;
      step_of(&o[i], k, &step, &code, &error);
      if (step <= LMM_STEP_SILENT) t->n[k][step]++;
    }
}

void cli_steps_print_summary(const cli_step_totals *t) {
  for (int k = 0; k < CLI_STEPS; k++) {
    const size_t *c = t->n[k];
    if (c[LMM_STEP_OK] + c[LMM_STEP_REFUSED] + c[LMM_STEP_FAILED] + c[LMM_STEP_SILENT] == 0)
      continue; /* the step did not run in this campaign */
    printf("%-17s %zu ok, %zu refused, %zu failed", step_titles[k], c[LMM_STEP_OK],
           c[LMM_STEP_REFUSED], c[LMM_STEP_FAILED]);
    if (k == 1) printf(", %zu silent", c[LMM_STEP_SILENT]);
    if (c[LMM_STEP_NONE]) printf("; not run for %zu", c[LMM_STEP_NONE]);
    printf("\n");
  }
}

void cli_steps_json(const lmm_outcome *o) {
  printf(",\"steps\":{");
  for (int k = 0; k < CLI_STEPS; k++) {
    lmm_step step;
    uint8_t code;
    const char *error;
    step_of(o, k, &step, &code, &error);
    printf("%s\"%s\":{\"result\":\"%s\",\"code\":", k ? "," : "", step_keys[k],
           step == LMM_STEP_NONE ? "none" : lmm_step_name(step));
    if (code)
      printf("\"%u.%02u\"", (unsigned)(code >> 5), (unsigned)(code & 31u));
    else
      printf("null");
    printf(",\"error\":");
    cli_json_str(stdout, error);
    printf("}");
  }
  printf("}");
}

void cli_steps_json_totals(const cli_step_totals *t) {
  printf(",\"steps\":{");
  for (int k = 0; k < CLI_STEPS; k++) {
    const size_t *c = t->n[k];
    printf("%s\"%s\":{\"ok\":%zu,\"refused\":%zu,\"failed\":%zu,\"silent\":%zu,\"none\":%zu}",
           k ? "," : "", step_keys[k], c[LMM_STEP_OK], c[LMM_STEP_REFUSED], c[LMM_STEP_FAILED],
           c[LMM_STEP_SILENT], c[LMM_STEP_NONE]);
  }
  printf("}");
}

void cli_steps_csv_header(void) {
  fputs("gm_result,gm_code,group_result,group_code,unicast_result,unicast_code,", stdout);
}

void cli_steps_csv(const lmm_outcome *o) {
  for (int k = 0; k < CLI_STEPS; k++) {
    lmm_step step;
    uint8_t code;
    const char *error;
    step_of(o, k, &step, &code, &error);
    char cb[8] = "";
    if (code) snprintf(cb, sizeof cb, "%u.%02u", (unsigned)(code >> 5), (unsigned)(code & 31u));
    cli_csv_field(step == LMM_STEP_NONE ? "" : lmm_step_name(step), false);
    cli_csv_field(cb, false);
  }
}

const char *cli_tmgi_end_name(lmm_tmgi_end end) {
  switch (end) {
  case LMM_TMGI_END_KEPT:
    return "kept";
  case LMM_TMGI_END_RELEASED:
    return "released";
  case LMM_TMGI_END_RELEASE_FAILED:
    return "release failed";
  default:
    return "-";
  }
}
