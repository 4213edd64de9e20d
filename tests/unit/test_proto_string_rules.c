/* test_proto_string_rules.c — what ids and text may hold (PROTOCOL.md 5.1):
 * ids are printable ASCII; text is UTF-8 without control characters or
 * bidirectional overrides; the server's own device ids are reserved. */
#include "check.h"
#include "proto.h"

static proto_str_t s_(const char *p, uint32_t n) {
  proto_str_t s = {p, n};
  return s;
}

#define ID_OK(lit) CHECK(proto_id_valid(PROTO_STR(lit)))
#define ID_BAD(lit) CHECK(!proto_id_valid(PROTO_STR(lit)))
#define TEXT_OK(lit, lines) CHECK(proto_text_valid(PROTO_STR(lit), lines))
#define TEXT_BAD(lit, lines) CHECK(!proto_text_valid(PROTO_STR(lit), lines))

static void test_ids(void) {
  ID_OK("0190f3c6-e2b4-7f08-a1d3-0b9c5e6f7a28");
  ID_OK("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  ID_OK("act-1-2026-12-03");
  ID_OK("!~");
  ID_OK(""); /* length is the key table's business */
  CHECK(!proto_id_valid(s_("victim\0x", 8)));
  ID_BAD("a b");
  ID_BAD("tab\there");
  ID_BAD("caf\xc3\xa9");
  ID_BAD("\xc0\x80");
  ID_BAD("x\x7f");
}

static void test_text(void) {
  TEXT_OK("Ay\xc5\x9f" "e Y\xc4\xb1ld\xc4\xb1z", false); /* Ayşe Yıldız */
  TEXT_OK("\xd9\x81\xd8\xa7\xd8\xb7\xd9\x85\xd8\xa9", false); /* Arabic, no controls */
  TEXT_OK("Koffie \xe2\x98\x95 \xf0\x9f\x8e\x89", false);      /* BMP and astral */
  TEXT_OK("\xe2\x80\x8f", false);                              /* RLM is a mark, kept */
  TEXT_OK("regel 1\nregel 2\r\n\tingesprongen", true);
  TEXT_BAD("regel 1\nregel 2", false);
  TEXT_BAD("tab\there", false);
  CHECK(!proto_text_valid(s_("a\0b", 3), true));
  TEXT_BAD("bell\x07", true);
  TEXT_BAD("del\x7f", true);
  TEXT_BAD("c1 \xc2\x85", true);                         /* U+0085 */
  TEXT_BAD("Jan \xe2\x80\xae" "fdp.exe", false);         /* U+202E RLO */
  TEXT_BAD("\xe2\x80\xaa", true);                        /* U+202A LRE */
  TEXT_BAD("\xe2\x81\xa6isolate\xe2\x81\xa9", true);    /* U+2066, U+2069 */
  TEXT_OK("\xe2\x81\xaa", true);                         /* U+206A: outside the range */
  TEXT_BAD("\xff\xfeok", true);
  TEXT_BAD("\xc0\x80", true);         /* overlong NUL */
  TEXT_BAD("\xe0\x80\xaf", true);     /* overlong '/' */
  TEXT_BAD("\xed\xa0\x80", true);     /* surrogate U+D800 */
  TEXT_BAD("\xf4\x90\x80\x80", true); /* above U+10FFFF */
  TEXT_BAD("\xe2\x82", true);         /* truncated */
  TEXT_BAD("\x80", true);             /* lone continuation byte */
}

static void test_reserved(void) {
  CHECK(proto_device_id_reserved(PROTO_STR("server")));
  CHECK(proto_device_id_reserved(PROTO_STR("server-2")));
  CHECK(proto_device_id_reserved(PROTO_STR("turfctl-0190f3c6")));
  CHECK(!proto_device_id_reserved(PROTO_STR("servers")));
  CHECK(!proto_device_id_reserved(PROTO_STR("my-server")));
  CHECK(!proto_device_id_reserved(PROTO_STR("turfctl")));
  CHECK(!proto_device_id_reserved(PROTO_STR("0190f3c6-e2b4-7f08-a1d3-0b9c5e6f7a28")));
}

int main(void) {
  test_ids();
  test_text();
  test_reserved();
  printf("ok - ids, text and reserved device ids\n");
  return 0;
}
