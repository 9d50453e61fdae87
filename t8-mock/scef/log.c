/* log.c - the JSON-lines event log (--log) and the human log on stderr (--verbose). */
#include "mock.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int mlog_open(mock_log *l, const char *path, bool verbose) {
  l->f = NULL;
  l->verbose = verbose;
  if (pthread_mutex_init(&l->mu, NULL) != 0) return -1;
  if (path) {
    /* Append, so a restarted mock does not wipe what a test or an operator still reads. */
    l->f = fopen(path, "a");
    if (!l->f) {
      pthread_mutex_destroy(&l->mu);
      return -1;
    }
  }
  return 0;
}

void mlog_close(mock_log *l) {
  if (l->f) {
    fclose(l->f);
    l->f = NULL;
  }
  pthread_mutex_destroy(&l->mu);
}

void mlog_ts(int64_t ms, char *buf, size_t cap) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&s, &tm)) {
    snprintf(buf, cap, "1970-01-01T00:00:00.000Z");
    return;
  }
  /* strftime rather than one snprintf of six ints: the compiler cannot bound the ints and
   * warns (format-truncation) at -O3, though the fields of a struct tm always fit. */
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  if (n == 0) {
    if (cap) buf[0] = '\0';
    return;
  }
  snprintf(buf + n, cap - n, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
}

cJSON *mlog_begin(const char *event) {
  cJSON *o = cJSON_CreateObject();
  char ts[32];
  if (!o) return NULL;
  mlog_ts(mock_now_ms(), ts, sizeof ts);
  cJSON_AddStringToObject(o, "ts", ts);
  cJSON_AddStringToObject(o, "event", event);
  return o;
}

void mlog_str(cJSON *o, const char *key, const char *s) {
  if (s)
    cJSON_AddStringToObject(o, key, s);
  else
    cJSON_AddNullToObject(o, key);
}

/* The human form: "t8-mock: 12:00:00.123 http method=POST status=201 ...", from the same object
 * so that both logs always say the same thing. */
static void human(const cJSON *o) {
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
  const cJSON *it;
  const char *t = cJSON_IsString(ts) ? ts->valuestring : "";
  fprintf(stderr, "t8-mock: %.12s %s", strlen(t) > 11 ? t + 11 : t,
          cJSON_IsString(ev) ? ev->valuestring : "?");
  cJSON_ArrayForEach(it, o) {
    if (it == ts || it == ev || !it->string) continue;
    if (cJSON_IsString(it)) {
      fprintf(stderr, " %s=%s", it->string, it->valuestring);
    } else {
      char *v = cJSON_PrintUnformatted(it);
      fprintf(stderr, " %s=%s", it->string, v ? v : "?");
      cJSON_free(v);
    }
  }
  fputc('\n', stderr);
}

void mlog_emit(mock_log *l, cJSON *o) {
  if (!o) return;
  if (l->f || l->verbose) {
    char *s = l->f ? cJSON_PrintUnformatted(o) : NULL;
    pthread_mutex_lock(&l->mu);
    if (l->f && s) {
      fputs(s, l->f);
      fputc('\n', l->f);
      fflush(l->f); /* tests read the file while the mock runs */
    }
    if (l->verbose) human(o);
    pthread_mutex_unlock(&l->mu);
    cJSON_free(s);
  }
  cJSON_Delete(o);
}

void mlog_text(mock_log *l, const char *fmt, ...) {
  va_list ap;
  if (!l->verbose) return;
  pthread_mutex_lock(&l->mu);
  fputs("t8-mock: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  pthread_mutex_unlock(&l->mu);
}
