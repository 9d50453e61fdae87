/* tmgi_cmd.c - "lwm2m-mbms tmgi ...": a group's TMGI on the SCEF, kept with the group in the
 * state store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_tmgi(const cli *c, const lmm_group_info *g) {
  char t[40];
  cli_fmt_time(g->tmgi_expiration, false, t, sizeof t);
  if (c->json) {
    printf("{\"group\":");
    cli_json_str(stdout, g->name);
    printf(",\"tmgi\":");
    cli_json_str(stdout, g->tmgi);
    printf(",\"externalGroupId\":");
    cli_json_str(stdout, g->external_group_id);
    if (g->tmgi_expiration)
      printf(",\"tmgiExpiration\":\"%s\"}\n", t);
    else
      printf(",\"tmgiExpiration\":null}\n");
  } else {
    printf("%-20s %-14s %-32s %s\n", g->name, g->tmgi ? g->tmgi : "-",
           g->external_group_id ? g->external_group_id : "-", t);
  }
}

static int set_tmgi(const cli *c, lmm_store *s, lmm_group_info *g, const char *tmgi,
                    int64_t expiration) {
  char *dup = tmgi ? strdup(tmgi) : NULL;
  if (tmgi && !dup) {
    cli_err(c, "out of memory");
    return EXIT_SOME_FAILED;
  }
  free(g->tmgi);
  g->tmgi = dup;
  g->tmgi_expiration = expiration;
  lmm_err e = lmm_store_group_update(s, g);
  return e == LMM_OK ? 0 : cli_store_fail(c, s, "saving the TMGI in the group", e);
}

int cmd_tmgi(cli *c, int argc, char **argv) {
  static char name[48];
  c->cmd = "tmgi";
  argc = cli_take_json(c, argc, argv);
  if (argc < 1) return cli_usage(c, "missing allocate, show, renew or release");
  const char *verb = argv[0];
  if (strcmp(verb, "allocate") && strcmp(verb, "show") && strcmp(verb, "renew") &&
      strcmp(verb, "release"))
    return cli_usage(c, "unknown command '%s' (allocate, show, renew, release)", verb);
  snprintf(name, sizeof name, "tmgi %s", verb);
  c->cmd = name;
  for (int i = 1; i < argc; i++)
    if (argv[i][0] == '-' && argv[i][1]) return cli_usage(c, "unknown option '%s'", argv[i]);
  int rc = cli_need_args(c, argc - 1, 1, "GROUP");
  if (rc) return rc;
  lmm_store *s = NULL;
  if ((rc = cli_store_open(c, &s))) return rc;
  lmm_group_info g = {0};
  lmm_t8_client *cl = NULL;
  lmm_t8_result res = {0};
  lmm_tmgi_allocation a = {0};
  char t[40];
  if ((rc = cli_group_get(c, s, argv[1], &g))) goto out;
  if (!strcmp(verb, "allocate")) {
    if (!g.external_group_id) {
      rc = cli_usage(c, "group '%s' has no External Group ID: a TMGI is for an mbms group", g.name);
      goto out;
    }
    if (g.tmgi) {
      rc = cli_usage(c, "group '%s' has TMGI %s already (expires %s): renew or release it", g.name,
                     g.tmgi, cli_fmt_time(g.tmgi_expiration, false, t, sizeof t));
      goto out;
    }
  } else if (!g.tmgi) {
    rc = cli_usage(c, "group '%s' has no TMGI: allocate one with 'lwm2m-mbms tmgi allocate %s'",
                   g.name, g.name);
    goto out;
  }
  if ((rc = cli_t8_connect(c, &cl))) goto out;

  if (!strcmp(verb, "allocate")) {
    lmm_tmgi_allocation req = {.external_group_id = g.external_group_id};
    if (lmm_t8_tmgi_create(cl, &req, &a, &res) != LMM_OK) {
      rc = cli_t8_fail(c, "TMGI allocation", &res);
    } else if (!a.tmgi) {
      cli_err(c, "TMGI allocation: the SCEF gave no TMGI (no Location, no self link)");
      rc = EXIT_REFUSED;
    } else if ((rc = set_tmgi(c, s, &g, a.tmgi, a.tmgi_expiration))) {
      /* Unrecorded, nobody would ever release it: give it back. */
      lmm_t8_result r2 = {0};
      if (lmm_t8_tmgi_delete(cl, a.tmgi, &r2) != LMM_OK)
        cli_err(c,
                "TMGI %s stays allocated on the SCEF: release it with 'lwm2m-mbms t8 tmgi "
                "release %s'",
                a.tmgi, a.tmgi);
      lmm_t8_result_clear(&r2);
    } else {
      print_tmgi(c, &g);
    }
  } else if (!strcmp(verb, "show")) {
    if (lmm_t8_tmgi_get(cl, g.tmgi, &a, &res) != LMM_OK) {
      rc = cli_t8_fail(c, g.tmgi, &res);
      if (res.http_status == 404)
        cli_err(c, "the SCEF no longer knows TMGI %s: 'lwm2m-mbms tmgi release %s' forgets it",
                g.tmgi, g.name);
    } else {
      if (a.tmgi_expiration && a.tmgi_expiration != g.tmgi_expiration)
        rc = set_tmgi(c, s, &g, g.tmgi, a.tmgi_expiration);
      if (!rc) print_tmgi(c, &g);
    }
  } else if (!strcmp(verb, "renew")) {
    lmm_tmgi_allocation_patch p = {0}; /* an empty merge patch: only the expiration moves */
    if (lmm_t8_tmgi_patch(cl, g.tmgi, &p, &a, &res) != LMM_OK) {
      rc = cli_t8_fail(c, g.tmgi, &res);
    } else {
      if (!a.tmgi_expiration) { /* 204: ask for the new expiration */
        lmm_tmgi_allocation_clear(&a);
        lmm_t8_result_clear(&res);
        if (lmm_t8_tmgi_get(cl, g.tmgi, &a, &res) != LMM_OK) rc = cli_t8_fail(c, g.tmgi, &res);
      }
      if (!rc) rc = set_tmgi(c, s, &g, g.tmgi, a.tmgi_expiration);
      if (!rc) print_tmgi(c, &g);
    }
  } else { /* release */
    char *tmgi = strdup(g.tmgi);
    bool gone = false;
    if (!tmgi) {
      cli_err(c, "out of memory");
      rc = EXIT_SOME_FAILED;
    } else if (lmm_t8_tmgi_delete(cl, tmgi, &res) != LMM_OK) {
      if (res.err == LMM_ERR_T8 && res.http_status == 404) {
        fprintf(stderr,
                "lwm2m-mbms: %s: warning: the SCEF did not know TMGI %s any more; forgotten\n",
                c->cmd, tmgi);
        gone = true;
      } else {
        rc = cli_t8_fail(c, tmgi, &res);
      }
    } else {
      gone = true;
    }
    if (gone && !(rc = set_tmgi(c, s, &g, NULL, 0))) {
      if (c->json) {
        printf("{\"group\":");
        cli_json_str(stdout, g.name);
        printf(",\"released\":");
        cli_json_str(stdout, tmgi);
        printf("}\n");
      } else {
        printf("TMGI %s of group %s released\n", tmgi, g.name);
      }
    }
    free(tmgi);
  }
out:
  lmm_tmgi_allocation_clear(&a);
  lmm_t8_result_clear(&res);
  lmm_t8_client_free(cl);
  lmm_group_info_clear(&g);
  lmm_store_close(s);
  return rc;
}
