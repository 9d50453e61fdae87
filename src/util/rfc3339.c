/* rfc3339.c - RFC 3339 date-time text <-> seconds since the epoch, with civil-date arithmetic
 * of its own (timegm() is not standard C and mktime() depends on the local time zone). */
#include "util/rfc3339.h"

#include <stdio.h>

/* Years 0000..9999 are what the four-digit text form can hold; parsing refuses instants outside
 * that range too (an offset can push 0000-01-01 into year -1), so whatever parses also formats. */
#define MIN_YEAR 0
#define MAX_YEAR 9999

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H. Hinnant's algorithm:
 * exact for every year, no tables, no locale). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* Inverse of days_from_civil(). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  int64_t era;
  unsigned doe, yoe, doy, mp;

  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int64_t min_epoch(void) {
  return days_from_civil(MIN_YEAR, 1, 1) * 86400;
}

static int64_t max_epoch(void) {
  return days_from_civil(MAX_YEAR, 12, 31) * 86400 + 86399;
}

bool lmmi_rfc3339_format(int64_t epoch_s, char *buf, size_t cap) {
  int64_t days, secs, y;
  unsigned m, d;

  if (buf == NULL || cap < 21 || epoch_s < min_epoch() || epoch_s > max_epoch()) return false;
  /* Floor division, so instants before 1970 fall on the right day. */
  days = epoch_s / 86400;
  secs = epoch_s % 86400;
  if (secs < 0) {
    secs += 86400;
    days--;
  }
  civil_from_days(days, &y, &m, &d);
  snprintf(buf, cap, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d, (int)(secs / 3600),
           (int)(secs / 60 % 60), (int)(secs % 60));
  return true;
}

/* Reads exactly `n` decimal digits. */
static bool digits(const char **p, int n, int *out) {
  int v = 0;

  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return true;
}

static bool expect(const char **p, char c) {
  if (**p != c) return false;
  (*p)++;
  return true;
}

bool lmmi_rfc3339_parse(const char *s, int64_t *epoch_s) {
  const char *p = s;
  int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
  int64_t t;

  if (s == NULL || epoch_s == NULL) return false;
  if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &mon) || !expect(&p, '-') ||
      !digits(&p, 2, &day))
    return false;
  if (*p != 'T' && *p != 't' && *p != ' ') return false;
  p++;
  if (!digits(&p, 2, &hour) || !expect(&p, ':') || !digits(&p, 2, &min) || !expect(&p, ':') ||
      !digits(&p, 2, &sec))
    return false;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9')
      p++; /* truncated: the API carries whole seconds */
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p == '+' ? 1 : -1;
    p++;
    if (!digits(&p, 2, &oh) || !expect(&p, ':') || !digits(&p, 2, &om)) return false;
  } else {
    return false;
  }
  if (*p != '\0') return false;
  if (mon < 1 || mon > 12 || day < 1 || (unsigned)day > days_in_month(year, (unsigned)mon) ||
      hour > 23 || min > 59 || sec > 60 || oh > 23 || om > 59)
    return false;
  /* A leap second has no POSIX time of its own: it becomes the second before it. */
  if (sec == 60) sec = 59;
  t = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hour * 3600 + min * 60 + sec;
  /* The local time is ahead of UTC by the offset: subtract it to get UTC. */
  t -= (int64_t)sign * (oh * 3600 + om * 60);
  if (t < min_epoch() || t > max_epoch()) return false;
  *epoch_s = t;
  return true;
}
