/* fw_unicast_answers.c - what the members of a unicast firmware job answer, judged: the
 * Delivery Method that picks push or pull, State through Downloaded and the update, Update
 * Result and PkgVersion for the verdict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/fw_unicast_internal.h"

static const char *const step_name[K_COUNT] = {"write /5/0/0", "write /5/0/1", "read /5/0/9",
                                               "read /5/0/3",  "read /5/0/5",  "execute /5/0/2",
                                               "read /5/0/7",  "read /5/0/3"};

LMM_API const char *lmm_fw_update_result_text(int result) {
  switch (result) {
  case 0:
    return "initial value";
  case 1:
    return "firmware updated successfully";
  case 2:
    return "not enough flash memory for the new firmware package";
  case 3:
    return "out of RAM during the download";
  case 4:
    return "connection lost during the download";
  case 5:
    return "integrity check failure for the new firmware package";
  case 6:
    return "unsupported package type";
  case 7:
    return "invalid URI";
  case 8:
    return "firmware update failed";
  case 9:
    return "unsupported protocol";
  default:
    return "unknown update result";
  }
}

/* --------------------------------------------------------- batch callbacks */

/* The integer of a single-resource answer (State, Update Result), -1 when unreadable. */
static long read_int(const lmm_member_result *r, uint16_t rid) {
  lmm_path p = {.oid = FW_OID, .iid = 0, .rid = rid, .depth = 3};
  lmm_records recs = {0};
  uint16_t fmt = r->content_format >= 0 ? (uint16_t)r->content_format : LMM_FMT_TEXT;
  long v = -1;
  if (lmm_lwm2m_decode(fmt, &p, r->payload, r->payload_len, lmm_obj_def_oma(FW_OID), &recs, NULL,
                       0) == LMM_OK &&
      recs.n == 1) {
    const lmm_value *val = &recs.items[0].value;
    if (val->type == LMM_RT_INTEGER && val->v.i >= 0 && val->v.i <= 255) v = (long)val->v.i;
    if (val->type == LMM_RT_UNSIGNED && val->v.u <= 255) v = (long)val->v.u;
  }
  lmm_records_clear(&recs);
  return v;
}

/* The text of a single String resource answer, owned; NULL when there is none. */
static char *read_str(const lmm_member_result *r, uint16_t rid) {
  lmm_path p = {.oid = FW_OID, .iid = 0, .rid = rid, .depth = 3};
  lmm_records recs = {0};
  uint16_t fmt = r->content_format >= 0 ? (uint16_t)r->content_format : LMM_FMT_TEXT;
  char *s = NULL;
  if (r->err == LMM_OK && r->coap_code == 0x45 &&
      lmm_lwm2m_decode(fmt, &p, r->payload, r->payload_len, lmm_obj_def_oma(FW_OID), &recs, NULL,
                       0) == LMM_OK &&
      recs.n == 1 && recs.items[0].value.type == LMM_RT_STRING && recs.items[0].value.str)
    s = strdup(recs.items[0].value.str);
  lmm_records_clear(&recs);
  return s;
}

/* The verdict once Update Result and PkgVersion have been read after the Execute. */
static void judge(lmm_fw_job *j, size_t i) {
  fw_member *m = &j->m[i];
  lmm_fw_report *rep = &j->rep[i];
  int v = m->result;
  char text[256];
  m->version_read = true;
  if (v == 0) {
    if (j->expect_owned && m->pkg_version && !strcmp(m->pkg_version, j->expect_owned)) {
      rep->stage = LMM_FW_STAGE_DONE;
      return lmmi_fwj_finalize(j, i, LMM_OK, true, NULL);
    }
    m->st = M_WAIT_UPD; /* Idle without a result yet: keep waiting, until the deadline */
    return;
  }
  rep->stage = LMM_FW_STAGE_DONE;
  snprintf(text, sizeof text, "update result %d: %s (PkgVersion %s)", v,
           lmm_fw_update_result_text(v), m->pkg_version ? m->pkg_version : "not read");
  lmmi_fwj_finalize(j, i, LMM_OK, v == 1, text);
}

static void step_failed(lmm_fw_job *j, size_t i, int kind, const lmm_member_result *r) {
  char text[200], code[16];
  snprintf(code, sizeof code, "%u.%02u", r->coap_code >> 5, r->coap_code & 31);
  const char *why = r->error ? r->error : r->err != LMM_OK ? lmm_strerror(r->err) : code;
  snprintf(text, sizeof text, "%s: %s", step_name[kind], why);
  j->rep[i].coap_code = r->coap_code;
  lmmi_fwj_finalize(j, i, r->err != LMM_OK ? r->err : LMM_ERR_COAP, false, text);
}

/* What a resumed member holds decides where it goes on (lmm_fw_resume_member()). */
static void check_resumed(lmm_fw_job *j, size_t i, long state, int64_t now) {
  fw_member *m = &j->m[i];
  lmm_fw_report *rep = &j->rep[i];
  if (state == ST_DOWNLOADED) {
    /* Still Downloaded after an asked update: that Execute never ran, so it is asked again. */
    m->st = M_EXEC, rep->stage = LMM_FW_STAGE_DOWNLOADED;
  } else if (state == ST_UPDATING || (state == ST_IDLE && m->unsure)) {
    /* Updating, or back at Idle after it: the result says how it went, never a second
     * Execute. */
    m->st = state == ST_UPDATING ? M_WAIT_UPD : M_RESULT, rep->stage = LMM_FW_STAGE_UPDATING;
    m->deadline = now + j->cfg.update_deadline_ms;
  } else {
    /* Idle or part-way through a download that died with the process before (its URI named
     * that process's blob server): the package again, from the start. */
    mstate first = j->cfg.delivery == LMM_FW_AUTO   ? M_METHOD
                   : j->cfg.delivery == LMM_FW_PULL ? M_URI
                                                    : M_WRITE;
    m->st = first, rep->stage = LMM_FW_STAGE_WRITE;
    rep->pulled = first == M_URI;
  }
}

void lmmi_fwj_batch_member(void *user, const lmm_member_result *r) {
  fw_batch *fb = user;
  lmm_fw_job *j = fb->j;
  size_t i = fb->map[r->index];
  fw_member *m = &j->m[i];
  lmm_fw_report *rep = &j->rep[i];
  int64_t now = lmmi_fwj_now(j);
  if (m->st == M_FINAL) return; /* a deadline got there first */
  rep->attempts += r->attempts;
  bool first =
      fb->kind == K_CHECK || (fb->kind == K_METHOD && !m->resumed) ||
      ((fb->kind == K_WRITE || fb->kind == K_URI) && j->cfg.delivery != LMM_FW_AUTO && !m->resumed);
  if (first) m->t0 = now - (r->latency_ms > 0 ? r->latency_ms : 0);
  rep->elapsed_ms = now - m->t0;
  if (fb->kind == K_METHOD && r->err == LMM_OK) {
    /* An error code or an odd value is no reason to give up on a member that answers: it gets
     * the preferred method, and the write tells whether that works. */
    long dm = r->coap_code == 0x45 ? read_int(r, RID_DELIVERY) : -1;
    bool pull = dm == DM_PULL || (dm != DM_PUSH && !j->cfg.prefer_push);
    m->st = pull ? M_URI : M_WRITE;
    rep->pulled = pull;
    return;
  }
  if (fb->kind == K_VERSION) {
    /* PkgVersion is optional (4.04 from a client without it): its absence fails nobody. */
    free(m->pkg_version);
    m->pkg_version = read_str(r, RID_PKG_VERSION);
    rep->pkg_version = m->pkg_version;
    return judge(j, i);
  }
  bool answered = r->err == LMM_OK && r->coap_code >> 5 == 2;
  if ((fb->kind == K_WRITE || fb->kind == K_URI) && r->err == LMM_OK && r->coap_code != 0x44)
    answered = false;
  if (!answered) return step_failed(j, i, fb->kind, r);
  char text[160];
  long v = 0;
  if (fb->kind == K_STATE || fb->kind == K_RESULT || fb->kind == K_CHECK) {
    v = read_int(r, fb->kind == K_RESULT ? RID_RESULT : RID_STATE);
    if (v < 0) {
      snprintf(text, sizeof text, "%s: not an integer", step_name[fb->kind]);
      return lmmi_fwj_finalize(j, i, LMM_ERR_PROTO, false, text);
    }
  }
  switch (fb->kind) {
  case K_WRITE:
  case K_URI:
    if (fb->kind == K_WRITE) rep->bytes_written = j->len;
    m->st = M_WAIT_DL, m->deadline = now + j->cfg.download_deadline_ms;
    lmmi_fwj_arm_round(j, now + j->cfg.poll_interval_ms);
    break;
  case K_STATE:
    rep->state = (int)v;
    if (m->st == M_WAIT_DL && v == ST_DOWNLOADED) {
      m->st = M_EXEC, rep->stage = LMM_FW_STAGE_DOWNLOADED;
      if (rep->pulled && j->blob) rep->bytes_written = j->len;
    } else if (v == ST_IDLE)
      m->st = M_RESULT; /* after the write: it gave up (the result says why) */
    break;
  case K_CHECK:
    rep->state = (int)v;
    check_resumed(j, i, v, now);
    break;
  case K_EXEC:
    rep->stage = LMM_FW_STAGE_UPDATING;
    m->st = M_WAIT_UPD, m->deadline = now + j->cfg.update_deadline_ms;
    break;
  case K_RESULT:
    rep->update_result = (int)v;
    /* A member told a URI may stay Idle a while before it starts (a device queues its
     * downloads): only a result, or the deadline, ends the wait. */
    if (rep->stage == LMM_FW_STAGE_WRITE && rep->pulled && v == 0) {
      m->st = M_WAIT_DL;
      break;
    }
    if (rep->stage == LMM_FW_STAGE_WRITE) {
      snprintf(text, sizeof text, "back to Idle after the write: %s",
               v > 1 ? lmm_fw_update_result_text((int)v) : "no download");
      return lmmi_fwj_finalize(j, i, v > 1 ? LMM_OK : LMM_ERR_STATE, false, text);
    }
    /* Back at Idle after the Execute: PkgVersion tells which package runs now, and judges a
     * member that leaves Update Result at 0 (read once; a later 0 just keeps waiting). */
    m->result = (int)v;
    if (v == 0 && m->version_read) {
      m->st = M_WAIT_UPD;
      break;
    }
    m->st = M_VERSION;
    break;
  default:
    break;
  }
}
