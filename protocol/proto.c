/* proto.c — the error table's messages and names, and byte-string helpers.
 *
 * Owns nothing at run time: every string returned points to static storage. */
#include "proto.h"

#include <limits.h>
#include <string.h>

/* Wire codes are positive, C return values their negation; both are accepted
 * so a caller can pass whatever it holds. */
static int proto__wire_code(int code) {
  if (code == INT_MIN)
    return 0; /* -INT_MIN overflows; no such code exists anyway */
  return code < 0 ? -code : code;
}

const char *proto_strerror(int code) {
  switch (proto__wire_code(code)) {
#define PROTO__STRERROR_CASE(name, wire, msg) \
  case wire:                                  \
    return msg;
    PROTO_ERRNO_MAP(PROTO__STRERROR_CASE)
#undef PROTO__STRERROR_CASE
  default:
    return "unknown error";
  }
}

const char *proto_errname(int code) {
  switch (proto__wire_code(code)) {
#define PROTO__ERRNAME_CASE(name, wire, msg) \
  case wire:                                 \
    return #name;
    PROTO_ERRNO_MAP(PROTO__ERRNAME_CASE)
#undef PROTO__ERRNAME_CASE
  default:
    return "UNKNOWN";
  }
}

proto_str_t proto_str(const char *cstr) {
  proto_str_t s = {"", 0};
  if (cstr != NULL) {
    size_t n = strlen(cstr);
    s.ptr = cstr;
    /* Longer strings are truncated to what the type can express; nothing on
     * the wire comes near 4 GiB (PROTO_MAX_FRAME_BYTES). */
    s.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  }
  return s;
}

bool proto_str_eq(proto_str_t a, proto_str_t b) {
  /* memcmp with a NULL pointer is undefined even for length 0. */
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int proto_str_cmp(proto_str_t a, proto_str_t b) {
  uint32_t n = a.len < b.len ? a.len : b.len;
  int c = n == 0 ? 0 : memcmp(a.ptr, b.ptr, n);
  if (c != 0)
    return c < 0 ? -1 : 1;
  if (a.len == b.len)
    return 0;
  return a.len < b.len ? -1 : 1;
}
