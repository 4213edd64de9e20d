/* log.h — one line per event that matters, to stderr:
 *   2026-11-29T10:04:05.123Z info  push device=... ops=12 acked=12
 * Levels filter what is written; the loop thread is the only writer except
 * for startup and shutdown messages. */
#ifndef TURF_LOG_H
#define TURF_LOG_H

typedef enum {
  LOG_ERROR = 0,
  LOG_WARN = 1,
  LOG_INFO = 2,
  LOG_DEBUG = 3,
} log_level_t;

/* Returns 0, or -1 when name is not error|warn|info|debug. */
int log_parse_level(const char *name, log_level_t *out);
void log_set_level(log_level_t level);
int log_enabled(log_level_t level);
void log_write(log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif
