/* text.h — a growable text buffer for building messages and files (the
 * dashboard's JSON, the report's CSV and SQL). On allocation failure it
 * stops growing and remembers (failed); the caller then sends nothing.
 * Pure code; one buffer per thread. */
#ifndef TURF_TEXT_H
#define TURF_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *p;      /* NUL-terminated once anything was put; NULL before */
  size_t len, cap;
  bool failed;
} text_t;

void text_put(text_t *t, const char *s, size_t n);
void text_puts(text_t *t, const char *s);
/* At most 255 bytes of formatted text; longer fails the buffer. */
void text_putf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
