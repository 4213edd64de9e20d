/* enrol_link.c — the enrolment QR code's link (see enrol_link.h). */
#include "enrol_link.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int enrol_link(char *out, size_t size, const char *base, const char *code) {
  const char *scheme, *rest;
  size_t len;
  int n;

  if (strncmp(base, "https://", 8) == 0 || strncmp(base, "wss://", 6) == 0)
    scheme = "https";
  else if (strncmp(base, "http://", 7) == 0 || strncmp(base, "ws://", 5) == 0)
    scheme = "http";
  else
    goto fail;
  rest = strstr(base, "://") + 3;
  len = strcspn(rest, "?#");
  while (len > 0 && rest[len - 1] == '/')
    len--; /* the app's path follows */
  if (len == 0 || rest[0] == '/')
    goto fail;
  n = snprintf(out, size, "%s://%.*s/tablet/#enrol=", scheme, (int)len, rest);
  if (n < 0 || (size_t)n >= size)
    goto fail;
  /* Codes are printable ASCII; anything a fragment may not hold as it is
   * gets percent-encoded. */
  for (const char *c = code; *c; c++) {
    unsigned char ch = (unsigned char)*c;
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '.' || ch == '_' || ch == '~';
    int w = plain ? snprintf(out + n, size - (size_t)n, "%c", ch)
                  : snprintf(out + n, size - (size_t)n, "%%%02X", ch);
    if (w < 0 || (size_t)(n + w) >= size)
      goto fail;
    n += w;
  }
  return 0;

fail:
  if (size)
    out[0] = '\0';
  return -1;
}
