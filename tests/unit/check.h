/* check.h — assertions for unit tests. A failed check prints where and why
 * and aborts, so CTest reports the test as failed. */
#ifndef TURF_CHECK_H
#define TURF_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(expr)                                                          \
  do {                                                                       \
    if (!(expr)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
      abort();                                                               \
    }                                                                        \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
  do {                                                                       \
    long long check__a = (long long)(a), check__b = (long long)(b);          \
    if (check__a != check__b) {                                              \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,     \
              __LINE__, #a, #b, check__a, check__b);                         \
      abort();                                                               \
    }                                                                        \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                   \
  do {                                                                       \
    const char *check__a = (a), *check__b = (b);                             \
    if (strcmp(check__a, check__b) != 0) {                                   \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
              __LINE__, #a, #b, check__a, check__b);                         \
      abort();                                                               \
    }                                                                        \
  } while (0)

#endif
