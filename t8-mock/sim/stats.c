/* stats.c - lwm2m-mbms-sim: the counters, summed for the summary on stderr at exit and written
 * whole (totals and every device) to --stats-json. */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fw.h"
#include "group.h"
#include "observe.h"
#include "lmm_wire/hex.h"

typedef struct totals {
  uint64_t req[SIM_M_N], resp[SIM_C_N], dropped, gm_changes, fw_updates;
  unsigned gm_devices, updated_devices;
  uint64_t grp_bytes, frags, frag_dup, frag_rec, frag_uni, pulls, reboots, offline;
  unsigned by_state[4], by_result[10];
} totals;

static void sum(const sim_fleet *f, totals *t) {
  memset(t, 0, sizeof *t);
  for (unsigned i = 0; i < f->n; i++) {
    const sim_counters *c = &f->dev[i].c;
    for (int k = 0; k < SIM_M_N; k++)
      t->req[k] += c->req[k];
    for (int k = 0; k < SIM_C_N; k++)
      t->resp[k] += c->resp[k];
    t->dropped += c->dropped;
    t->gm_changes += c->gm_changes;
    t->fw_updates += c->fw_updates;
    t->gm_devices += c->gm_changes > 0;
    t->updated_devices += c->fw_updates > 0;
    t->grp_bytes += c->grp_bytes, t->frags += c->frags, t->frag_dup += c->frag_dup;
    t->frag_rec += c->frag_rec, t->frag_uni += c->frag_uni, t->pulls += c->pulls;
    t->reboots += c->reboots, t->offline += c->offline;
    const sim_fw *fw = &f->dev[i].fw;
    if (fw->state < 4) t->by_state[fw->state]++;
    if (fw->result < 10) t->by_result[fw->result]++;
  }
}

void sim_stats_summary(const sim_fleet *f) {
  totals t;
  sum(f, &t);
  uint64_t all = 0;
  for (int k = 0; k < SIM_M_N; k++)
    all += t.req[k];
  fprintf(stderr,
          "lwm2m-mbms-sim: %u devices, %llu requests (GET %llu, PUT %llu, POST %llu, DELETE %llu, "
          "other %llu), %llu dropped, %u to no device\n",
          f->n, (unsigned long long)all, (unsigned long long)t.req[SIM_M_GET],
          (unsigned long long)t.req[SIM_M_PUT], (unsigned long long)t.req[SIM_M_POST],
          (unsigned long long)t.req[SIM_M_DELETE], (unsigned long long)t.req[SIM_M_OTHER],
          (unsigned long long)t.dropped, f->no_device);
  fprintf(stderr, "lwm2m-mbms-sim: responses 2.xx %llu, 4.xx %llu, 5.xx %llu\n",
          (unsigned long long)t.resp[SIM_C_2XX], (unsigned long long)t.resp[SIM_C_4XX],
          (unsigned long long)t.resp[SIM_C_5XX]);
  fprintf(stderr, "lwm2m-mbms-sim: Group Mgmt written on %u devices (%llu changes)", t.gm_devices,
          (unsigned long long)t.gm_changes);
  /* As runs of consecutive devices ("dev-0000..dev-0999"), which keeps a whole group short. */
  unsigned runs = 0;
  for (unsigned i = 0; i < f->n; i++) {
    if (!f->dev[i].c.gm_changes) continue;
    unsigned j = i;
    while (j + 1 < f->n && f->dev[j + 1].c.gm_changes)
      j++;
    if (runs++ == 50) {
      fputs(", ...", stderr);
      break;
    }
    char a[48], b[48];
    fprintf(stderr, "%s%s", runs > 1 ? ", " : ": ", sim_dev_ep(f, i, a, sizeof a));
    if (j > i) fprintf(stderr, "..%s", sim_dev_ep(f, j, b, sizeof b));
    i = j;
  }
  fputc('\n', stderr);
  fprintf(stderr,
          "lwm2m-mbms-sim: firmware updated on %u devices; at most %u CoAP sessions at once\n",
          t.updated_devices, f->sessions_max);
  sim_group_summary(f);
  sim_obs_summary(f);
  if (t.frags || t.frag_uni || t.pulls || t.reboots)
    fprintf(stderr,
            "lwm2m-mbms-sim: firmware: %llu blob fragments kept from groups (%llu duplicates, "
            "%llu rebuilt from parity), %llu by unicast; %llu pulls; %llu reboots; at most %llu "
            "bytes of blob buffers\n",
            (unsigned long long)t.frags, (unsigned long long)t.frag_dup,
            (unsigned long long)t.frag_rec, (unsigned long long)t.frag_uni,
            (unsigned long long)t.pulls, (unsigned long long)t.reboots,
            (unsigned long long)f->blob_mem_max);
  if (f->cfg->delay_ms)
    fprintf(stderr, "lwm2m-mbms-sim: answers delayed by %u ms; at most %zu held at once\n",
            f->cfg->delay_ms, f->held_max);
  if (f->cfg->server_only)
    fprintf(stderr, "lwm2m-mbms-sim: %u unicast requests ignored (not from --server-addr)\n",
            f->filtered);
}

static void json_counters(FILE *fp, const uint32_t *req, const uint32_t *resp) {
  fprintf(fp,
          "\"requests\":{\"GET\":%u,\"PUT\":%u,\"POST\":%u,\"DELETE\":%u,\"other\":%u},"
          "\"responses\":{\"2xx\":%u,\"4xx\":%u,\"5xx\":%u}",
          req[SIM_M_GET], req[SIM_M_PUT], req[SIM_M_POST], req[SIM_M_DELETE], req[SIM_M_OTHER],
          resp[SIM_C_2XX], resp[SIM_C_4XX], resp[SIM_C_5XX]);
}

int sim_stats_write(const sim_fleet *f) {
  const char *path = f->cfg->stats_json;
  size_t pl = strlen(path);
  char *tmp = malloc(pl + 5);
  if (!tmp) return -1;
  memcpy(tmp, path, pl);
  memcpy(tmp + pl, ".tmp", 5);
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot write '%s': %s\n", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  totals t;
  sum(f, &t);
  fprintf(fp,
          "{\"count\":%u,\"port\":%u,\"dtls_port\":%u,\"seed\":%llu,\"no_device\":%u,"
          "\"filtered\":%u,"
          "\"sessions_max\":%u,\"sessions_at_exit\":%u,\"delay_ms\":%u,\"held_max\":%zu,"
          "\"group_loss\":%g,"
          "\"totals\":{\"requests\":{\"GET\":%llu,"
          "\"PUT\":%llu,\"POST\":%llu,"
          "\"DELETE\":%llu,\"other\":%llu},\"responses\":{\"2xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
          "\"dropped\":%llu,\"group_mgmt_changes\":%llu,\"group_mgmt_devices\":%u,",
          f->n, f->port, f->cfg->dtls ? f->dtls_port : 0u, (unsigned long long)f->cfg->seed,
          f->no_device, f->filtered, f->sessions_max, f->sessions, f->cfg->delay_ms, f->held_max,
          f->cfg->group_loss, (unsigned long long)t.req[SIM_M_GET],
          (unsigned long long)t.req[SIM_M_PUT], (unsigned long long)t.req[SIM_M_POST],
          (unsigned long long)t.req[SIM_M_DELETE], (unsigned long long)t.req[SIM_M_OTHER],
          (unsigned long long)t.resp[SIM_C_2XX], (unsigned long long)t.resp[SIM_C_4XX],
          (unsigned long long)t.resp[SIM_C_5XX], (unsigned long long)t.dropped,
          (unsigned long long)t.gm_changes, t.gm_devices);
  sim_group_json_totals(f, fp);
  sim_obs_json_totals(f, fp);
  fprintf(fp,
          "\"fw\":{\"group_bytes\":%llu,\"fragments\":%llu,\"duplicates\":%llu,\"recovered\":%llu,"
          "\"unicast_fragments\":%llu,\"pulls\":%llu,\"reboots\":%llu,\"offline_ignored\":%llu,"
          "\"blob_memory_max\":%llu,",
          (unsigned long long)t.grp_bytes, (unsigned long long)t.frags,
          (unsigned long long)t.frag_dup, (unsigned long long)t.frag_rec,
          (unsigned long long)t.frag_uni, (unsigned long long)t.pulls,
          (unsigned long long)t.reboots, (unsigned long long)t.offline,
          (unsigned long long)f->blob_mem_max);
  sim_pull_json(f, fp);
  fputs(",\"by_state\":[", fp);
  for (int k = 0; k < 4; k++)
    fprintf(fp, "%s%u", k ? "," : "", t.by_state[k]);
  fputs("],\"by_result\":[", fp);
  for (int k = 0; k < 10; k++)
    fprintf(fp, "%s%u", k ? "," : "", t.by_result[k]);
  fprintf(fp, "]},\"fw_updates\":%llu},\n\"devices\":[\n", (unsigned long long)t.fw_updates);
  for (unsigned i = 0; i < f->n; i++) {
    const sim_device *d = &f->dev[i];
    char ep[48], host[INET_ADDRSTRLEN], dg[65];
    struct in_addr in = {htonl(sim_dev_addr(f, i))};
    inet_ntop(AF_INET, &in, host, sizeof host);
    /* Endpoint names hold no '"' or '\' (--ep-prefix refuses them): no escaping needed. */
    fprintf(fp, "{\"ep\":\"%s\",\"addr\":\"%s\",", sim_dev_ep(f, i, ep, sizeof ep), host);
    json_counters(fp, d->c.req, d->c.resp);
    fprintf(fp, ",\"dropped\":%u,\"group_mgmt_changes\":%u,\"group_mgmt_instances\":[",
            d->c.dropped, d->c.gm_changes);
    for (unsigned k = 0; k < d->n_gm; k++)
      fprintf(fp, "%s%u", k ? "," : "", d->gm[k].iid);
    if (d->fw.has_digest) lmmw_hex(d->fw.digest, 32, dg);
    fputs("],", fp);
    sim_group_json_device(f, i, fp);
    sim_obs_json_device(f, i, fp);
    fprintf(fp,
            "\"fw\":{\"state\":%u,\"result\":%u,\"bytes\":%llu,\"sha256\":%s%s%s,"
            "\"updates\":%u,\"group_bytes\":%llu,\"fragments\":%u,\"duplicates\":%u,"
            "\"recovered\":%u,\"unicast_fragments\":%u,\"pulls\":%u,\"reboots\":%u,"
            "\"offline_ignored\":%u}}%s\n",
            d->fw.state, d->fw.result, (unsigned long long)d->fw.bytes,
            d->fw.has_digest ? "\"" : "", d->fw.has_digest ? dg : "null",
            d->fw.has_digest ? "\"" : "", d->c.fw_updates, (unsigned long long)d->c.grp_bytes,
            d->c.frags, d->c.frag_dup, d->c.frag_rec, d->c.frag_uni, d->c.pulls, d->c.reboots,
            d->c.offline, i + 1 < f->n ? "," : "");
  }
  fprintf(fp, "]}\n");
  bool ok = !ferror(fp);
  ok = (fclose(fp) == 0) && ok;
  int rc = ok && rename(tmp, path) == 0 ? 0 : -1;
  if (rc) {
    fprintf(stderr, "lwm2m-mbms-sim: cannot write '%s': %s\n", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

/* ------------------------------------------------------------------ main */
