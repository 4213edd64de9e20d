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

bool proto_id_valid(proto_str_t s) {
  for (uint32_t i = 0; i < s.len; i++)
    if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e)
      return false;
  return true;
}

/* Control characters and the bidirectional controls that reorder what
 * follows them. */
static bool proto__forbidden_cp(uint32_t cp, bool lines) {
  if (cp < 0x20)
    return !(lines && (cp == '\t' || cp == '\n' || cp == '\r'));
  return (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

bool proto_text_valid(proto_str_t s, bool lines) {
  const unsigned char *p = (const unsigned char *)s.ptr;
  uint32_t i = 0;

  while (i < s.len) {
    unsigned char c = p[i];
    uint32_t need, cp, k;
    if (c < 0x80) {
      need = 0;
      cp = c;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.len - i <= need)
      return false;
    for (k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || proto__forbidden_cp(cp, lines))
      return false;
    i += need + 1;
  }
  return true;
}

static bool proto__has_prefix(proto_str_t s, const char *prefix) {
  size_t n = strlen(prefix);
  return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

bool proto_device_id_reserved(proto_str_t id) {
  return proto_str_eq(id, PROTO_STR("server")) || proto__has_prefix(id, "server-") ||
         proto__has_prefix(id, "turfctl-");
}
