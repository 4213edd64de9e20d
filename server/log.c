/* log.c — timestamped, levelled log lines on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level_t log__level = LOG_INFO;
static const char *const log__names[] = {"error", "warn", "info", "debug"};

int log_parse_level(const char *name, log_level_t *out) {
  for (int i = 0; i <= LOG_DEBUG; i++) {
    if (strcmp(name, log__names[i]) == 0) {
      *out = (log_level_t)i;
      return 0;
    }
  }
  return -1;
}

void log_set_level(log_level_t level) { log__level = level; }

int log_enabled(log_level_t level) { return level <= log__level; }

void log_write(log_level_t level, const char *fmt, ...) {
  if (!log_enabled(level)) return;
  struct timespec ts;
  struct tm tm;
  char stamp[32];
  char line[2048];
  va_list ap;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* One fprintf per line so lines from startup threads do not interleave. */
  fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000L,
          log__names[level], line);
}
