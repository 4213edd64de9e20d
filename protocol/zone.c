/* zone.c — IANA time zones from TZif files (RFC 8536): the transitions of
 * the file's 64-bit block, and after the last of them the rule of its
 * footer (a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3"), which is
 * how a slim file describes every year to come. The C library's localtime
 * knows one zone per process (TZ); an organisation's zone is its own. */
#include "zone.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONE__FILE_MAX (1 << 20) /* the largest zone file is under 10 KiB */

/* A rule day: Mm.w.d (month, week 1-5 with 5 the last, weekday 0 =
 * Sunday), Jn (1-365, no Feb 29) or n (0-365), at `secs` local time. */
typedef struct {
  char kind; /* 'M', 'J' or 'n' */
  int month, week, wday, day;
  int32_t secs;
} zone__day_t;

/* The footer's rule: standard offset, and when has_dst its DST offset and
 * the days it starts (in standard time) and ends (in DST). */
typedef struct {
  int32_t std_off, dst_off; /* seconds east of UTC */
  bool has_dst;
  zone__day_t start, end;
} zone__rule_t;

struct zone {
  char name[ZONE_NAME_MAX + 1];
  int64_t *times;  /* transitions, ascending */
  uint8_t *types;  /* type index of each transition */
  int32_t *offs;   /* offset of each type */
  uint32_t ntimes, ntypes;
  bool has_rule;
  zone__rule_t rule;
};

bool zone_name_valid(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > ZONE_NAME_MAX || name[0] == '/' || name[n - 1] == '/') return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-';
    if (!ok || (c == '/' && name[i + 1] == '/')) return false;
  }
  return true;
}

/* ---- civil dates ---- */

static int64_t zone__floordiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t zone__days(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = zone__floordiv(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void zone__civil(int64_t days, int64_t *y, int *m, int *d) {
  days += 719468;
  int64_t era = zone__floordiv(days, 146097);
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool zone__leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int zone__month_days(int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && zone__leap(y) ? 29 : days[m - 1];
}

/* Seconds since the epoch of the rule day in year y at its time, the
 * local time being `off` seconds east of UTC. */
static int64_t zone__rule_instant(const zone__day_t *r, int64_t y, int32_t off) {
  int64_t days;
  if (r->kind == 'M') {
    int64_t first = zone__days(y, r->month, 1);
    int wday_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int mday = 1 + (r->wday - wday_first + 7) % 7 + (r->week - 1) * 7;
    while (mday > zone__month_days(y, r->month)) mday -= 7;
    days = first + mday - 1;
  } else if (r->kind == 'J') {
    days = zone__days(y, 1, 1) + r->day - 1 + (zone__leap(y) && r->day >= 60);
  } else {
    days = zone__days(y, 1, 1) + r->day;
  }
  return days * 86400 + r->secs - off;
}

/* ---- the footer ---- */

/* [+-]hh[:mm[:ss]] into seconds; false when there is none. */
static bool zone__secs(const char **p, int32_t *out) {
  const char *s = *p;
  int sign = 1;
  if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
  if (*s < '0' || *s > '9') return false;
  int32_t parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (i > 0) {
      if (*s != ':') break;
      s++;
    }
    if (*s < '0' || *s > '9') return false;
    int v = 0;
    while (*s >= '0' && *s <= '9' && v < 1000) v = v * 10 + (*s++ - '0');
    parts[i] = v;
  }
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  *p = s;
  return true;
}

static bool zone__abbr(const char **p) {
  const char *s = *p;
  if (*s == '<') {
    while (*s && *s != '>') s++;
    if (*s != '>') return false;
    *p = s + 1;
    return true;
  }
  while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) s++;
  if (s - *p < 3) return false;
  *p = s;
  return true;
}

static bool zone__int(const char **p, int lo, int hi, int *out) {
  const char *s = *p;
  if (*s < '0' || *s > '9') return false;
  int v = 0;
  while (*s >= '0' && *s <= '9' && v <= hi) v = v * 10 + (*s++ - '0');
  if (v < lo || v > hi) return false;
  *out = v;
  *p = s;
  return true;
}

static bool zone__day(const char **p, zone__day_t *r) {
  const char *s = *p;
  r->secs = 7200; /* 02:00 unless said */
  if (*s == 'M') {
    s++;
    r->kind = 'M';
    if (!zone__int(&s, 1, 12, &r->month) || *s++ != '.' || !zone__int(&s, 1, 5, &r->week) ||
        *s++ != '.' || !zone__int(&s, 0, 6, &r->wday))
      return false;
  } else if (*s == 'J') {
    s++;
    r->kind = 'J';
    if (!zone__int(&s, 1, 365, &r->day)) return false;
  } else {
    r->kind = 'n';
    if (!zone__int(&s, 0, 365, &r->day)) return false;
  }
  if (*s == '/' && (s++, !zone__secs(&s, &r->secs))) return false;
  *p = s;
  return true;
}

/* "STD off[DST[off][,start[/time],end[/time]]]"; POSIX offsets count west. */
static bool zone__parse_rule(const char *s, zone__rule_t *r) {
  int32_t west;
  memset(r, 0, sizeof *r);
  if (!zone__abbr(&s) || !zone__secs(&s, &west)) return false;
  r->std_off = -west;
  if (*s == '\0') return true;
  if (!zone__abbr(&s)) return false;
  r->has_dst = true;
  r->dst_off = r->std_off + 3600;
  if (*s != ',' && *s != '\0') {
    if (!zone__secs(&s, &west)) return false;
    r->dst_off = -west;
  }
  if (*s == '\0') {
    /* No rule given: POSIX leaves it to the implementation; the US rule. */
    r->start = (zone__day_t){'M', 3, 2, 0, 0, 7200};
    r->end = (zone__day_t){'M', 11, 1, 0, 0, 7200};
    return true;
  }
  return *s++ == ',' && zone__day(&s, &r->start) && *s++ == ',' && zone__day(&s, &r->end) && *s == '\0';
}

static int32_t zone__rule_offset(const zone__rule_t *r, int64_t t) {
  if (!r->has_dst) return r->std_off;
  int64_t y;
  int m, d;
  zone__civil(zone__floordiv(t + r->std_off, 86400), &y, &m, &d);
  int64_t start = zone__rule_instant(&r->start, y, r->std_off);
  int64_t end = zone__rule_instant(&r->end, y, r->dst_off);
  bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static uint32_t zone__be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t zone__be64(const uint8_t *p) {
  return (int64_t)((uint64_t)zone__be32(p) << 32 | zone__be32(p + 4));
}

/* Reads a TZif file's data block at *pos (width 4 or 8 bytes per time). */
static bool zone__block(zone_t *z, const uint8_t *buf, size_t len, size_t *pos, int width) {
  if (len - *pos < 44 || memcmp(buf + *pos, "TZif", 4) != 0) return false;
  const uint8_t *h = buf + *pos + 20;
  uint32_t isut = zone__be32(h), isstd = zone__be32(h + 4), leap = zone__be32(h + 8),
           ntimes = zone__be32(h + 12), ntypes = zone__be32(h + 16), nchars = zone__be32(h + 20);
  if (ntypes == 0 || ntypes > 256 || ntimes > 100000 || nchars > 100000 || leap > 100000 ||
      isut > ntypes || isstd > ntypes)
    return false;
  size_t need = (size_t)ntimes * (size_t)width + ntimes + (size_t)ntypes * 6 + nchars +
                (size_t)leap * (size_t)(width + 4) + isstd + isut;
  *pos += 44;
  if (len - *pos < need) return false;
  if (width == 8) {
    const uint8_t *p = buf + *pos;
    free(z->times);
    free(z->types);
    free(z->offs);
    z->times = malloc(sizeof(int64_t) * (ntimes ? ntimes : 1));
    z->types = malloc(ntimes ? ntimes : 1);
    z->offs = malloc(sizeof(int32_t) * ntypes);
    if (!z->times || !z->types || !z->offs) return false;
    for (uint32_t i = 0; i < ntimes; i++) z->times[i] = zone__be64(p + (size_t)i * 8);
    p += (size_t)ntimes * 8;
    for (uint32_t i = 0; i < ntimes; i++) {
      if (p[i] >= ntypes) return false;
      z->types[i] = p[i];
    }
    p += ntimes;
    for (uint32_t i = 0; i < ntypes; i++) z->offs[i] = (int32_t)zone__be32(p + (size_t)i * 6);
    for (uint32_t i = 1; i < ntimes; i++)
      if (z->times[i] <= z->times[i - 1]) return false;
    z->ntimes = ntimes;
    z->ntypes = ntypes;
  }
  *pos += need;
  return true;
}

zone_t *zone_load(const char *name) {
  if (!zone_name_valid(name)) return NULL;
  const char *dir = getenv("TZDIR");
  char path[512];
  if (snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name) >=
      (int)sizeof path)
    return NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = malloc(ZONE__FILE_MAX);
  size_t len = buf ? fread(buf, 1, ZONE__FILE_MAX, f) : 0;
  fclose(f);
  zone_t *z = calloc(1, sizeof *z);
  size_t pos = 0;
  /* Version 1 files have only 32-bit times; every file since 2005 also has
   * the 64-bit block and the footer, which are what is read here. */
  bool ok = buf && z && len < ZONE__FILE_MAX && len >= 44 && buf[4] >= '2' &&
            zone__block(z, buf, len, &pos, 4) && zone__block(z, buf, len, &pos, 8);
  if (ok && pos < len && buf[pos] == '\n') {
    const uint8_t *end = memchr(buf + pos + 1, '\n', len - pos - 1);
    char footer[128];
    size_t n = end ? (size_t)(end - buf - pos - 1) : 0;
    if (n > 0 && n < sizeof footer) {
      memcpy(footer, buf + pos + 1, n);
      footer[n] = '\0';
      z->has_rule = zone__parse_rule(footer, &z->rule);
    }
  }
  free(buf);
  if (!ok) {
    zone_free(z);
    return NULL;
  }
  snprintf(z->name, sizeof z->name, "%s", name);
  return z;
}

void zone_free(zone_t *zone) {
  if (!zone) return;
  free(zone->times);
  free(zone->types);
  free(zone->offs);
  free(zone);
}

const char *zone_name(const zone_t *zone) { return zone->name; }

/* Loaded zones, newest first; a name that did not load is not kept (it may
 * be installed later). */
static struct zone__cached {
  zone_t *zone;
  struct zone__cached *next;
} *zone__cache;
static pthread_mutex_t zone__cache_mu = PTHREAD_MUTEX_INITIALIZER;

const zone_t *zone_cached(const char *name) {
  if (!zone_name_valid(name)) return NULL;
  pthread_mutex_lock(&zone__cache_mu);
  struct zone__cached *c = zone__cache;
  while (c && strcmp(c->zone->name, name) != 0) c = c->next;
  if (!c) {
    zone_t *z = zone_load(name);
    c = z ? malloc(sizeof *c) : NULL;
    if (c) {
      c->zone = z;
      c->next = zone__cache;
      zone__cache = c;
    } else {
      zone_free(z);
    }
  }
  pthread_mutex_unlock(&zone__cache_mu);
  return c ? c->zone : NULL;
}

int32_t zone_offset(const zone_t *z, int64_t t) {
  if (z->ntimes == 0 || t < z->times[0]) {
    if (z->ntimes == 0 && z->has_rule) return zone__rule_offset(&z->rule, t);
    return z->offs[0];
  }
  if (t >= z->times[z->ntimes - 1] && z->has_rule) return zone__rule_offset(&z->rule, t);
  uint32_t lo = 0, hi = z->ntimes - 1; /* the last transition at or before t */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (z->times[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return z->offs[z->types[lo]];
}

static int64_t zone__local(const zone_t *z, int64_t ms) {
  int64_t t = zone__floordiv(ms, 1000);
  return t + zone_offset(z, t);
}

void zone_date(const zone_t *z, int64_t ms, char date[11]) {
  int64_t y;
  int m, d;
  zone__civil(zone__floordiv(zone__local(z, ms), 86400), &y, &m, &d);
  if (y < 0 || y > 9999) y = 0;
  snprintf(date, 11, "%04d-%02d-%02d", (int)y, m, d);
}

int zone_weekday(const zone_t *z, int64_t ms) {
  int64_t days = zone__floordiv(zone__local(z, ms), 86400);
  return (int)(((days % 7) + 7 + 3) % 7) + 1; /* 1970-01-01 was a Thursday */
}

void zone_hhmm(const zone_t *z, int64_t ms, char hhmm[6]) {
  int64_t local = zone__local(z, ms);
  unsigned secs = (unsigned)(local - zone__floordiv(local, 86400) * 86400);
  snprintf(hhmm, 6, "%02u:%02u", secs / 3600 % 24, secs / 60 % 60);
}
