/* test_frame_encode_limits.c — proto_encode refuses to produce what
 * proto_decode would refuse: TOO_LARGE over a limit (string, count, frame
 * size), BAD_FIELD for a missing or out-of-range value, UNKNOWN_TYPE for a
 * frame type that does not exist; the buffer is left as it was. At every
 * limit, the largest accepted value encodes and decodes. */
#include "check.h"
#include "frame.h"

static char text[PROTO_MAX_TEXT_BYTES + 1];

static proto_str_t s_(size_t n) {
  proto_str_t s = {text, (uint32_t)n};
  return s;
}

/* Encodes f after some earlier content; on failure the earlier content must
 * be untouched. On success the frame must decode. Returns the code. */
static int encode(const proto_frame_t *f) {
  proto_buf_t b;
  proto_frame_t *d = NULL;
  int r;

  proto_buf_init(&b, 8);
  b.len = 0;
  {
    proto_frame_t ping;
    memset(&ping, 0, sizeof ping);
    ping.type = PROTO_PING;
    ping.u.ping.nonce = 42;
    CHECK_EQ_INT(proto_encode(&ping, &b), 0);
  }
  CHECK_EQ_INT(b.len, 7);
  r = proto_encode(f, &b);
  if (r != 0) {
    CHECK_EQ_INT(b.len, 7);
    CHECK(memcmp(proto_buf_data(&b), "\x82\xa1t\x09\xa1n\x2a", 7) == 0);
  } else {
    CHECK_EQ_INT(proto_decode(proto_buf_data(&b) + 7, b.len - 7, &d), 0);
    CHECK_EQ_INT(d->type, f->type);
    proto_frame_free(d);
  }
  proto_buf_dispose(&b);
  return r;
}

static proto_field_t one_field = {1, {PROTO_STR, {.s = {"present", 7}}}};

static void op_init(proto_op_t *op) {
  memset(op, 0, sizeof *op);
  op->seq = 1;
  op->hlc = 1;
  op->type = 5;
  op->key = PROTO_STR("session-1");
  op->key2 = PROTO_STR("participant-1");
  op->nfields = 1;
  op->fields = &one_field;
}

static void test_unknown_type(void) {
  proto_frame_t f;
  memset(&f, 0, sizeof f);
  f.type = (proto_frame_type_t)0;
  CHECK_EQ_INT(encode(&f), PROTO_EUNKNOWN_TYPE);
  f.type = (proto_frame_type_t)11;
  CHECK_EQ_INT(encode(&f), PROTO_EUNKNOWN_TYPE);
}

static void test_hello(void) {
  proto_frame_t f;
  proto_str_t *strs[5];
  size_t i;

  memset(&f, 0, sizeof f);
  f.type = PROTO_HELLO;
  f.u.hello.version = 1;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD); /* no device id */
  f.u.hello.device = s_(PROTO_MAX_ID_BYTES);
  CHECK_EQ_INT(encode(&f), 0);
  f.u.hello.device = s_(PROTO_MAX_ID_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.hello.device = PROTO_STR("tablet");

  strs[0] = &f.u.hello.app;
  strs[1] = &f.u.hello.name;
  strs[2] = &f.u.hello.token;
  strs[3] = &f.u.hello.code;
  strs[4] = &f.u.hello.device;
  for (i = 0; i < 4; i++) {
    *strs[i] = s_(PROTO_MAX_ID_BYTES);
    CHECK_EQ_INT(encode(&f), 0);
    *strs[i] = s_(PROTO_MAX_ID_BYTES + 1);
    CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
    *strs[i] = PROTO_STR("");
  }
  /* a non-empty string without bytes is a caller bug, not a frame */
  f.u.hello.name.ptr = NULL;
  f.u.hello.name.len = 3;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
}

static void test_welcome_error_pull(void) {
  proto_frame_t f;

  memset(&f, 0, sizeof f);
  f.type = PROTO_WELCOME;
  f.u.welcome.token = s_(PROTO_MAX_ID_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.welcome.token = s_(0);
  f.u.welcome.org = s_(PROTO_MAX_TEXT_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.welcome.org = s_(PROTO_MAX_TEXT_BYTES);
  CHECK_EQ_INT(encode(&f), 0);

  memset(&f, 0, sizeof f);
  f.type = PROTO_ERROR;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD); /* code 0 */
  f.u.error.code = -4;                        /* C codes are negative: no */
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  f.u.error.code = 4;
  f.u.error.message = s_(PROTO_MAX_TEXT_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.error.message = s_(PROTO_MAX_TEXT_BYTES);
  CHECK_EQ_INT(encode(&f), 0);

  memset(&f, 0, sizeof f);
  f.type = PROTO_PULL;
  f.u.pull.limit = PROTO_MAX_PULL_LIMIT + 1;
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.pull.limit = PROTO_MAX_PULL_LIMIT;
  CHECK_EQ_INT(encode(&f), 0);
}

static void test_ops(proto_frame_type_t type) {
  static proto_op_t ops[PROTO_MAX_OPS_PER_FRAME + 1];
  static proto_field_t fields[PROTO_MAX_FIELDS_PER_OP + 1];
  proto_frame_t f;
  proto_op_t *op = &ops[0];
  uint32_t *nops = type == PROTO_PUSH ? &f.u.push.nops : &f.u.changes.nops;
  uint32_t i;

  memset(&f, 0, sizeof f);
  f.type = type;
  for (i = 0; i <= PROTO_MAX_OPS_PER_FRAME; i++) {
    op_init(&ops[i]);
    ops[i].device = PROTO_STR("dev");
    ops[i].server_seq = i + 1;
  }
  if (type == PROTO_PUSH)
    f.u.push.ops = ops;
  else
    f.u.changes.ops = ops;

  *nops = 0;
  CHECK_EQ_INT(encode(&f), type == PROTO_PUSH ? PROTO_EBAD_FIELD : 0);
  *nops = PROTO_MAX_OPS_PER_FRAME;
  CHECK_EQ_INT(encode(&f), 0);
  *nops = PROTO_MAX_OPS_PER_FRAME + 1;
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  *nops = 1;
  CHECK_EQ_INT(encode(&f), 0);

  op->seq = 0;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  op->seq = 1;
  op->type = 0;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  op->type = 255;
  CHECK_EQ_INT(encode(&f), 0);
  op->key = s_(0);
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  op->key = s_(PROTO_MAX_ID_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  op->key = s_(PROTO_MAX_ID_BYTES);
  op->key2 = s_(PROTO_MAX_ID_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  op->key2 = s_(0);
  op->device = s_(PROTO_MAX_ID_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  op->device = s_(0);
  CHECK_EQ_INT(encode(&f), type == PROTO_PUSH ? 0 : PROTO_EBAD_FIELD);
  op->device = PROTO_STR("dev");
  op->server_seq = 0;
  CHECK_EQ_INT(encode(&f), type == PROTO_PUSH ? 0 : PROTO_EBAD_FIELD);
  op->server_seq = 1;

  /* fields */
  for (i = 0; i <= PROTO_MAX_FIELDS_PER_OP; i++) {
    fields[i].id = (uint8_t)(i + 1);
    fields[i].value.type = PROTO_NIL;
  }
  op->fields = fields;
  op->nfields = PROTO_MAX_FIELDS_PER_OP;
  CHECK_EQ_INT(encode(&f), 0);
  op->nfields = PROTO_MAX_FIELDS_PER_OP + 1;
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  op->nfields = 2;
  fields[1].id = 0;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  fields[1].id = 2;
  fields[1].value.type = PROTO_STR;
  fields[1].value.u.s = s_(PROTO_MAX_TEXT_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  fields[1].value.u.s = s_(PROTO_MAX_TEXT_BYTES);
  CHECK_EQ_INT(encode(&f), 0);
  fields[1].value.type = (proto_vtype_t)9;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  fields[1].value.type = PROTO_NIL;
  op->fields = NULL;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  op->fields = fields;

  /* fields_raw is checked before it is relayed */
  {
    static const struct {
      const char *raw;
      size_t len;
      int want;
    } cases[] = {
        {"\x81\x01\xc0", 3, 0},
        {"\x80", 1, 0},
        {"\x81\x01", 2, PROTO_EBAD_FIELD},          /* truncated */
        {"\x81\x01\xc0\x00", 4, PROTO_EBAD_FIELD},  /* trailing byte */
        {"\x81\x00\xc0", 3, PROTO_EBAD_FIELD},      /* field id 0 */
        {"\x81\x01\xca\0\0\0\0", 7, PROTO_EBAD_FIELD}, /* float */
        {"\x91\x01", 2, PROTO_EBAD_FIELD},          /* not a map */
        {"\xdf\xff\xff\xff\xff", 5, PROTO_EBAD_FIELD},
        {"\xde\x00\x11"
         "\x01\xc0\x02\xc0\x03\xc0\x04\xc0\x05\xc0\x06\xc0\x07\xc0\x08\xc0"
         "\x09\xc0\x0a\xc0\x0b\xc0\x0c\xc0\x0d\xc0\x0e\xc0\x0f\xc0\x10\xc0"
         "\x11\xc0",
         37, PROTO_ETOO_LARGE}, /* 17 fields */
    };
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      op->fields_raw.ptr = cases[i].raw;
      op->fields_raw.len = (uint32_t)cases[i].len;
      CHECK_EQ_INT(encode(&f), cases[i].want);
      {
        proto_buf_t b;
        proto_buf_init(&b, 0);
        CHECK_EQ_INT(proto_encode_fields(op, &b), cases[i].want);
        if (cases[i].want == 0) {
          CHECK_EQ_INT(b.len, cases[i].len);
          CHECK(memcmp(proto_buf_data(&b), cases[i].raw, b.len) == 0);
        } else {
          CHECK_EQ_INT(b.len, 0);
        }
        proto_buf_dispose(&b);
      }
    }
    op->fields_raw.ptr = NULL;
    op->fields_raw.len = 0;
  }
}

static void test_ack(void) {
  static proto_range_t ranges[PROTO_MAX_OPS_PER_FRAME + 1];
  static proto_reject_t rejects[PROTO_MAX_OPS_PER_FRAME + 1];
  proto_frame_t f;
  uint32_t i;

  for (i = 0; i <= PROTO_MAX_OPS_PER_FRAME; i++) {
    ranges[i].from = ranges[i].to = i + 1;
    rejects[i].seq = i + 1;
    rejects[i].code = 20;
  }
  memset(&f, 0, sizeof f);
  f.type = PROTO_ACK;
  f.u.ack.ranges = ranges;
  f.u.ack.rejects = rejects;
  f.u.ack.nranges = PROTO_MAX_OPS_PER_FRAME;
  f.u.ack.nrejects = PROTO_MAX_OPS_PER_FRAME;
  CHECK_EQ_INT(encode(&f), 0);
  f.u.ack.nranges = PROTO_MAX_OPS_PER_FRAME + 1;
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.ack.nranges = 1;
  f.u.ack.nrejects = PROTO_MAX_OPS_PER_FRAME + 1;
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  f.u.ack.nrejects = 1;

  ranges[0].from = 0;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  ranges[0].from = 3;
  ranges[0].to = 2;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  ranges[0].from = ranges[0].to = 1;
  rejects[0].code = 0;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  rejects[0].code = 20;
  rejects[0].seq = 0;
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
  rejects[0].seq = 1;
  rejects[0].message = s_(PROTO_MAX_TEXT_BYTES + 1);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);
  rejects[0].message = s_(0);
  f.u.ack.ranges = NULL; /* a count without an array */
  CHECK_EQ_INT(encode(&f), PROTO_EBAD_FIELD);
}

/* Where the whole frame crosses PROTO_MAX_FRAME_BYTES, the encoder and the
 * decoder draw the line at the same byte. */
static void test_frame_size(void) {
  static proto_op_t ops[PROTO_MAX_OPS_PER_FRAME];
  static proto_field_t field;
  proto_frame_t f;
  proto_buf_t b;
  uint32_t lo = 0, hi = PROTO_MAX_TEXT_BYTES, i;

  field.id = 2;
  field.value.type = PROTO_STR;
  memset(&f, 0, sizeof f);
  f.type = PROTO_PUSH;
  f.u.push.ops = ops;
  f.u.push.nops = PROTO_MAX_OPS_PER_FRAME;
  for (i = 0; i < PROTO_MAX_OPS_PER_FRAME; i++) {
    op_init(&ops[i]);
    ops[i].fields = &field;
  }
  /* 1000 ops of 4 KiB text are far over 1 MiB */
  field.value.u.s = s_(PROTO_MAX_TEXT_BYTES);
  CHECK_EQ_INT(encode(&f), PROTO_ETOO_LARGE);

  /* find the largest text length that still fits */
  while (lo + 1 < hi) {
    uint32_t mid = (lo + hi) / 2;
    field.value.u.s = s_(mid);
    if (encode(&f) == 0)
      lo = mid;
    else
      hi = mid;
  }
  field.value.u.s = s_(lo);
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  CHECK(b.len <= PROTO_MAX_FRAME_BYTES);
  /* one more byte in one op would cross the limit */
  CHECK(b.len + 1000 > PROTO_MAX_FRAME_BYTES);
  {
    proto_frame_t *d = NULL;
    CHECK_EQ_INT(proto_decode(proto_buf_data(&b), b.len, &d), 0);
    proto_frame_free(d);
  }
  proto_buf_dispose(&b);
}

int main(void) {
  memset(text, 'a', sizeof text);
  test_unknown_type();
  test_hello();
  test_welcome_error_pull();
  test_ops(PROTO_PUSH);
  test_ops(PROTO_CHANGES);
  test_ops(PROTO_LIVE);
  test_ack();
  test_frame_size();
  return 0;
}
