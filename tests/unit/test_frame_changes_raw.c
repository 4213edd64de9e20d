/* test_frame_changes_raw.c — a changes or live frame assembled from ops
 * encoded one by one (proto_encode_change_op, proto_encode_changes_raw; the
 * server keeps recent ops encoded) is byte for byte the frame proto_encode
 * writes from the same values, and decodes back to them. */
#include "check.h"
#include "frame.h"

#include <stdio.h>
#include <string.h>

static proto_field_t fields[3][2];
static char keys[3][40];

static proto_op_t make_op(int i) {
  proto_op_t op;
  memset(&op, 0, sizeof(op));
  snprintf(keys[i], sizeof(keys[i]), "01a22567-d194-7219-9af3-7939516fa7c%d", i);
  op.device = PROTO_STR("01a22567-d1bf-74a1-973b-0908c54e5b23");
  op.seq = 7 + (uint64_t)i;
  op.hlc = ((uint64_t)1764392000000 << 16) + (uint64_t)i;
  op.server_seq = 41 + (uint64_t)i;
  op.base = i == 1 ? 0 : 40; /* 0 is left out of the map */
  op.type = 5;
  op.key = proto_str(keys[i]);
  op.key2 = i == 2 ? PROTO_STR("") : PROTO_STR("P1");
  fields[i][0] = (proto_field_t){.id = 1, .value = {.type = PROTO_STR, .u.s = PROTO_STR("present")}};
  fields[i][1] = (proto_field_t){.id = 2, .value = {.type = PROTO_INT, .u.i = 1764392000000 + i}};
  op.fields = fields[i];
  op.nfields = 2;
  return op;
}

static void check_same(proto_frame_type_t type, const proto_op_t *ops, uint32_t n, bool more) {
  proto_frame_t frame = {.type = type};
  proto_changes_t raw_page;
  proto_buf_t direct, raw, one;
  proto_frame_t *back = NULL;
  uint8_t joined[4096];
  size_t len = 0;

  frame.u.changes = (proto_changes_t){.from = 40, .cursor = 40 + n, .more = more, .nops = n,
                                      .ops = (proto_op_t *)ops};
  proto_buf_init(&direct, 16);
  CHECK_EQ_INT(proto_encode(&frame, &direct), 0);

  for (uint32_t i = 0; i < n; i++) {
    proto_buf_init(&one, 0);
    CHECK_EQ_INT(proto_encode_change_op(&ops[i], &one), 0);
    CHECK(len + one.len <= sizeof(joined));
    memcpy(joined + len, proto_buf_data(&one), one.len);
    len += one.len;
    proto_buf_dispose(&one);
  }
  raw_page = frame.u.changes;
  raw_page.ops = NULL;
  proto_buf_init(&raw, 16);
  CHECK_EQ_INT(proto_encode_changes_raw(type, &raw_page, n ? joined : NULL, len, &raw), 0);

  CHECK_EQ_INT(raw.len, direct.len);
  CHECK(memcmp(proto_buf_data(&raw), proto_buf_data(&direct), raw.len) == 0);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&raw), raw.len, &back), 0);
  CHECK_EQ_INT(back->type, type);
  CHECK_EQ_INT(back->u.changes.nops, n);
  CHECK(back->u.changes.more == more);
  for (uint32_t i = 0; i < n; i++) {
    CHECK(back->u.changes.ops[i].server_seq == ops[i].server_seq);
    CHECK(proto_str_eq(back->u.changes.ops[i].key, ops[i].key));
  }
  proto_frame_free(back);
  proto_buf_dispose(&direct);
  proto_buf_dispose(&raw);
}

int main(void) {
  proto_op_t ops[3] = {make_op(0), make_op(1), make_op(2)};
  proto_changes_t page = {.from = 1, .cursor = 2, .nops = 1};
  proto_buf_t buf;

  check_same(PROTO_CHANGES, ops, 3, false);
  check_same(PROTO_CHANGES, ops, 1, true);
  check_same(PROTO_CHANGES, ops, 0, false);
  check_same(PROTO_LIVE, ops, 3, false);
  check_same(PROTO_LIVE, ops + 2, 1, false);

  /* Only changes and live frames; ops either raw or decoded, not both;
   * nothing is appended on refusal. */
  proto_buf_init(&buf, 0);
  CHECK_EQ_INT(proto_encode_changes_raw(PROTO_PUSH, &page, "x", 1, &buf), PROTO_EUNKNOWN_TYPE);
  CHECK_EQ_INT(proto_encode_changes_raw(PROTO_CHANGES, &page, NULL, 0, &buf), PROTO_EBAD_FIELD);
  page.ops = ops;
  CHECK_EQ_INT(proto_encode_changes_raw(PROTO_CHANGES, &page, "x", 1, &buf), PROTO_EBAD_FIELD);
  CHECK_EQ_INT(buf.len, 0);
  proto_buf_dispose(&buf);
  return 0;
}
