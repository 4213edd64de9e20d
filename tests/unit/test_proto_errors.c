/* test_proto_errors.c — the error table: every code has a message and a
 * name under its negative (C) and positive (wire) form; unknown codes get a
 * fallback; byte strings compare bytewise. */
#include "check.h"
#include "proto.h"

#include <limits.h>

static void test_table(void) {
#define X(name, code, msg)                                     \
  CHECK_EQ_STR(proto_strerror(PROTO_E##name), msg);            \
  CHECK_EQ_STR(proto_strerror(code), msg);                     \
  CHECK_EQ_STR(proto_errname(PROTO_E##name), #name);           \
  CHECK_EQ_STR(proto_errname(code), #name);                    \
  CHECK_EQ_INT(PROTO_E##name, -(code));
  PROTO_ERRNO_MAP(X)
#undef X
  CHECK_EQ_STR(proto_errname(21), "SEQ_GAP");
  CHECK_EQ_STR(proto_errname(PROTO_ETOO_LARGE), "TOO_LARGE");
  /* Wire codes clients act on (PROTOCOL.md section 8). */
  CHECK_EQ_INT(PROTO_EREVOKED, -12);
  CHECK_EQ_INT(PROTO_ERESCOPED, -13);
  CHECK_EQ_STR(proto_errname(13), "RESCOPED");
}

static void test_unknown(void) {
  static const int codes[] = {0, 14, 19, 25, 29, 32, -14, 1000, INT_MIN,
                              INT_MAX};
  size_t i;
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    CHECK_EQ_STR(proto_strerror(codes[i]), "unknown error");
    CHECK_EQ_STR(proto_errname(codes[i]), "UNKNOWN");
  }
}

static void test_strings(void) {
  proto_str_t e = proto_str(NULL);
  CHECK_EQ_INT(e.len, 0);
  CHECK(e.ptr != NULL);
  CHECK(proto_str_eq(e, proto_str("")));
  CHECK(proto_str_eq(proto_str("abc"), PROTO_STR("abc")));
  CHECK(!proto_str_eq(proto_str("abc"), PROTO_STR("abd")));
  CHECK(!proto_str_eq(proto_str("abc"), PROTO_STR("ab")));
  {
    proto_str_t n1 = {NULL, 0};
    CHECK(proto_str_eq(n1, e));
    CHECK_EQ_INT(proto_str_cmp(n1, e), 0);
    CHECK_EQ_INT(proto_str_cmp(n1, PROTO_STR("a")), -1);
  }
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("a"), PROTO_STR("b")), -1);
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("b"), PROTO_STR("a")), 1);
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("a"), PROTO_STR("ab")), -1);
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("ab"), PROTO_STR("a")), 1);
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("ab"), PROTO_STR("ab")), 0);
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR(""), PROTO_STR("a")), -1);
  /* bytes compare unsigned: UTF-8 sorts after ASCII */
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("\xc3\xa9"), PROTO_STR("z")), 1);
  /* embedded NUL bytes are data, not terminators */
  CHECK_EQ_INT(proto_str_cmp(PROTO_STR("a\0b"), PROTO_STR("a\0c")), -1);
  CHECK(!proto_str_eq(PROTO_STR("a\0b"), PROTO_STR("a\0c")));
}

int main(void) {
  test_table();
  test_unknown();
  test_strings();
  return 0;
}
