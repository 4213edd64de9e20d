/* test_zone.c — zone.c against the C library's localtime (which reads the
 * same database, for the one zone in TZ): the offset, date and time of day
 * of instants every 7 hours 13 minutes from 1900 to 2200, in zones north
 * and south of the equator, with half and quarter hours, without DST and
 * across the date line. Past 2037 a zone file has no transitions left and
 * its footer's rule decides. Also: names that must not load. */
#include "check.h"
#include "zone.h"

#include <stdlib.h>
#include <time.h>

static const char *const zones[] = {
    "Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Kathmandu",
    "Pacific/Kiritimati", "Pacific/Apia", "America/Sao_Paulo", "Europe/Dublin", "UTC",
    "America/St_Johns", "Africa/Casablanca", "Australia/Lord_Howe",
};

int main(void) {
  CHECK(zone_name_valid("Europe/Amsterdam"));
  CHECK(zone_name_valid("Etc/GMT+3"));
  const char *bad[] = {"", "/etc/passwd", "../etc/passwd", "Europe/../../etc/passwd", "Europe//Amsterdam",
                       "Europe/", "Europe/Amsterdam ", "Europe\\Amsterdam",
                       "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/B"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(!zone_name_valid(bad[i]));
    CHECK(zone_load(bad[i]) == NULL);
  }
  CHECK(zone_load("Europe/Atlantis") == NULL);
  CHECK(zone_load("Europe") == NULL); /* a directory, not a file */
  CHECK(zone_load(NULL) == NULL);

  long compared = 0;
  for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
    zone_t *z = zone_load(zones[i]);
    if (!z) {
      fprintf(stderr, "zone %s did not load\n", zones[i]);
      abort();
    }
    CHECK_EQ_STR(zone_name(z), zones[i]);
    setenv("TZ", zones[i], 1);
    tzset();
    for (int64_t t = -2208988800LL; t < 7258118400LL; t += 7 * 3600 + 13 * 60) {
      time_t tt = (time_t)t;
      struct tm tm;
      CHECK(localtime_r(&tt, &tm) != NULL);
      int32_t off = zone_offset(z, t);
      if (off != tm.tm_gmtoff) {
        fprintf(stderr, "%s at %lld: offset %d, localtime says %ld\n", zones[i], (long long)t, off,
                tm.tm_gmtoff);
        abort();
      }
      char want[48], date[11], hhmm[6];
      snprintf(want, sizeof want, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
      zone_date(z, t * 1000 + 999, date);
      CHECK_EQ_STR(date, want);
      snprintf(want, sizeof want, "%02d:%02d", tm.tm_hour, tm.tm_min);
      zone_hhmm(z, t * 1000, hhmm);
      CHECK_EQ_STR(hhmm, want);
      CHECK_EQ_INT(zone_weekday(z, t * 1000), tm.tm_wday == 0 ? 7 : tm.tm_wday);
      compared++;
    }
    zone_free(z);
  }
  /* Milliseconds before the epoch belong to the second before it. */
  zone_t *utc = zone_load("UTC");
  char date[11], hhmm[6];
  zone_date(utc, -1, date);
  CHECK_EQ_STR(date, "1969-12-31");
  zone_hhmm(utc, -1, hhmm);
  CHECK_EQ_STR(hhmm, "23:59");
  zone_free(utc);
  printf("%ld instants compared\n", compared);
  return 0;
}
