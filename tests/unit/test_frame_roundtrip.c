/* test_frame_roundtrip.c — every frame type encodes and decodes back to the
 * very same values; re-encoding a decoded frame gives the same bytes; op
 * fields survive the trip through fields_raw verbatim; integers use their
 * smallest encoding; the buffer keeps its headroom and appends. */
#include "check.h"
#include "frame.h"

#include <limits.h>

static void check_str_eq(proto_str_t a, proto_str_t b) {
  CHECK(proto_str_eq(a, b));
}

static void check_value_eq(const proto_value_t *a, const proto_value_t *b) {
  CHECK_EQ_INT(a->type, b->type);
  switch (a->type) {
  case PROTO_NIL:
    break;
  case PROTO_BOOL:
    CHECK_EQ_INT(a->u.b, b->u.b);
    break;
  case PROTO_INT:
    CHECK(a->u.i == b->u.i);
    break;
  case PROTO_STR:
    check_str_eq(a->u.s, b->u.s);
    break;
  }
}

static void check_fields_eq(const proto_op_t *a, const proto_op_t *b) {
  uint32_t i;
  CHECK_EQ_INT(a->nfields, b->nfields);
  for (i = 0; i < a->nfields; i++) {
    CHECK_EQ_INT(a->fields[i].id, b->fields[i].id);
    check_value_eq(&a->fields[i].value, &b->fields[i].value);
  }
}

static void check_op_eq(const proto_op_t *a, const proto_op_t *b) {
  check_str_eq(a->device, b->device);
  CHECK(a->seq == b->seq);
  CHECK(a->hlc == b->hlc);
  CHECK(a->server_seq == b->server_seq);
  CHECK(a->base == b->base);
  CHECK_EQ_INT(a->type, b->type);
  check_str_eq(a->key, b->key);
  check_str_eq(a->key2, b->key2);
  check_fields_eq(a, b);
}

static void check_frame_eq(const proto_frame_t *a, const proto_frame_t *b) {
  uint32_t i;
  CHECK_EQ_INT(a->type, b->type);
  switch (a->type) {
  case PROTO_HELLO:
    CHECK(a->u.hello.version == b->u.hello.version);
    check_str_eq(a->u.hello.app, b->u.hello.app);
    check_str_eq(a->u.hello.device, b->u.hello.device);
    check_str_eq(a->u.hello.name, b->u.hello.name);
    check_str_eq(a->u.hello.token, b->u.hello.token);
    check_str_eq(a->u.hello.code, b->u.hello.code);
    CHECK(a->u.hello.cursor == b->u.hello.cursor);
    CHECK(a->u.hello.outbox == b->u.hello.outbox);
    CHECK(a->u.hello.now_ms == b->u.hello.now_ms);
    CHECK(a->u.hello.storage == b->u.hello.storage);
    CHECK(a->u.hello.storage_used == b->u.hello.storage_used);
    break;
  case PROTO_WELCOME:
    CHECK(a->u.welcome.version == b->u.welcome.version);
    CHECK(a->u.welcome.now_ms == b->u.welcome.now_ms);
    CHECK(a->u.welcome.offset_ms == b->u.welcome.offset_ms);
    CHECK(a->u.welcome.head == b->u.welcome.head);
    CHECK(a->u.welcome.last_seq == b->u.welcome.last_seq);
    check_str_eq(a->u.welcome.token, b->u.welcome.token);
    check_str_eq(a->u.welcome.org, b->u.welcome.org);
    CHECK(a->u.welcome.resync == b->u.welcome.resync);
    break;
  case PROTO_PUSH:
    CHECK(a->u.push.outbox == b->u.push.outbox);
    CHECK_EQ_INT(a->u.push.nops, b->u.push.nops);
    for (i = 0; i < a->u.push.nops; i++)
      check_op_eq(&a->u.push.ops[i], &b->u.push.ops[i]);
    break;
  case PROTO_ACK:
    CHECK_EQ_INT(a->u.ack.nranges, b->u.ack.nranges);
    for (i = 0; i < a->u.ack.nranges; i++) {
      CHECK(a->u.ack.ranges[i].from == b->u.ack.ranges[i].from);
      CHECK(a->u.ack.ranges[i].to == b->u.ack.ranges[i].to);
    }
    CHECK_EQ_INT(a->u.ack.nrejects, b->u.ack.nrejects);
    for (i = 0; i < a->u.ack.nrejects; i++) {
      CHECK(a->u.ack.rejects[i].seq == b->u.ack.rejects[i].seq);
      CHECK_EQ_INT(a->u.ack.rejects[i].code, b->u.ack.rejects[i].code);
      check_str_eq(a->u.ack.rejects[i].message, b->u.ack.rejects[i].message);
    }
    break;
  case PROTO_PULL:
    CHECK(a->u.pull.cursor == b->u.pull.cursor);
    CHECK_EQ_INT(a->u.pull.limit, b->u.pull.limit);
    break;
  case PROTO_CHANGES:
  case PROTO_LIVE:
    CHECK(a->u.changes.from == b->u.changes.from);
    CHECK(a->u.changes.cursor == b->u.changes.cursor);
    CHECK_EQ_INT(a->u.changes.more, b->u.changes.more);
    CHECK_EQ_INT(a->u.changes.nops, b->u.changes.nops);
    for (i = 0; i < a->u.changes.nops; i++)
      check_op_eq(&a->u.changes.ops[i], &b->u.changes.ops[i]);
    break;
  case PROTO_ERROR:
    CHECK_EQ_INT(a->u.error.code, b->u.error.code);
    check_str_eq(a->u.error.message, b->u.error.message);
    CHECK_EQ_INT(a->u.error.close, b->u.error.close);
    break;
  case PROTO_PING:
  case PROTO_PONG:
    CHECK(a->u.ping.nonce == b->u.ping.nonce);
    break;
  }
}

/* Encodes f, decodes it, checks equality, re-encodes the decoded frame and
 * checks the bytes are identical. Returns the decoded frame. */
static proto_frame_t *roundtrip(const proto_frame_t *f) {
  proto_buf_t a, b;
  proto_frame_t *d = NULL;

  proto_buf_init(&a, 0);
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(f, &a), 0);
  CHECK(a.len > 0 && a.len <= PROTO_MAX_FRAME_BYTES);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&a), a.len, &d), 0);
  CHECK(d != NULL);
  CHECK(d->_mem != NULL);
  check_frame_eq(f, d);
  CHECK_EQ_INT(proto_encode(d, &b), 0);
  CHECK_EQ_INT(a.len, b.len);
  CHECK(memcmp(proto_buf_data(&a), proto_buf_data(&b), a.len) == 0);
  proto_buf_dispose(&a);
  proto_buf_dispose(&b);
  return d;
}

static void roundtrip_free(const proto_frame_t *f) {
  proto_frame_free(roundtrip(f));
}

static char big_text[PROTO_MAX_TEXT_BYTES];
static char max_id[PROTO_MAX_ID_BYTES];

static proto_str_t s_(const char *p, size_t n) {
  proto_str_t s = {p, (uint32_t)n};
  return s;
}

static void test_hello(void) {
  proto_frame_t f;
  memset(&f, 0, sizeof f);
  f.type = PROTO_HELLO;
  f.u.hello.version = PROTO_VERSION;
  f.u.hello.app = PROTO_STR("turf-android/1.4.2");
  f.u.hello.device = PROTO_STR("0190a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b");
  f.u.hello.name = PROTO_STR("Tablet Feijenoord \xc3\xa9\xc3\xa9n");
  f.u.hello.token = PROTO_STR("tok_abcdef");
  f.u.hello.code = PROTO_STR("K7Q-42Z");
  f.u.hello.cursor = 40;
  f.u.hello.outbox = 3;
  f.u.hello.now_ms = 1717000000123;
  f.u.hello.storage = PROTO_STORAGE_BEST_EFFORT;
  f.u.hello.storage_used = 42;
  roundtrip_free(&f);

  /* limits at their edge, big and negative numbers */
  f.u.hello.version = UINT32_MAX;
  f.u.hello.app = s_(max_id, sizeof max_id);
  f.u.hello.device = s_(max_id, sizeof max_id);
  f.u.hello.name = s_(max_id, sizeof max_id);
  f.u.hello.token = s_(max_id, sizeof max_id);
  f.u.hello.code = s_(max_id, sizeof max_id);
  f.u.hello.cursor = UINT64_MAX;
  f.u.hello.outbox = PROTO_MAX_OUTBOX;
  f.u.hello.now_ms = INT64_MIN;
  f.u.hello.storage_used = 100;
  roundtrip_free(&f);

  /* what a storage report may not say */
  {
    proto_buf_t buf;
    proto_buf_init(&buf, 0);
    f.u.hello.storage = PROTO_STORAGE_BEST_EFFORT + 1;
    CHECK(proto_encode(&f, &buf) == PROTO_EBAD_FIELD);
    f.u.hello.storage = PROTO_STORAGE_PERSISTENT;
    f.u.hello.storage_used = 101;
    CHECK(proto_encode(&f, &buf) == PROTO_EBAD_FIELD);
    f.u.hello.storage_used = 0;
    proto_buf_dispose(&buf);
  }

  /* only what is required: the optional keys are left out */
  memset(&f, 0, sizeof f);
  f.type = PROTO_HELLO;
  f.u.hello.device = PROTO_STR("d");
  {
    proto_buf_t b;
    proto_buf_init(&b, 0);
    CHECK_EQ_INT(proto_encode(&f, &b), 0);
    /* {"t":1,"v":0,"dev":"d"} */
    static const uint8_t want[] = {0x83, 0xa1, 't', 0x01, 0xa1, 'v', 0x00,
                                   0xa3, 'd',  'e', 'v',  0xa1, 'd'};
    CHECK_EQ_INT(b.len, sizeof want);
    CHECK(memcmp(proto_buf_data(&b), want, sizeof want) == 0);
    proto_buf_dispose(&b);
  }
  roundtrip_free(&f);
}

static void test_welcome(void) {
  proto_frame_t f;
  memset(&f, 0, sizeof f);
  f.type = PROTO_WELCOME;
  f.u.welcome.version = PROTO_VERSION;
  f.u.welcome.now_ms = 1717000000999;
  f.u.welcome.offset_ms = -3600 * 1000;
  f.u.welcome.head = 43;
  f.u.welcome.last_seq = 5;
  f.u.welcome.token = PROTO_STR("0123456789abcdef0123456789abcdef");
  f.u.welcome.org = PROTO_STR("Stichting Buurtwerk Zuid");
  roundtrip_free(&f);

  f.u.welcome.token = PROTO_STR("");
  f.u.welcome.org = s_(big_text, sizeof big_text);
  f.u.welcome.offset_ms = INT64_MAX;
  f.u.welcome.now_ms = 0;
  f.u.welcome.head = 0;
  f.u.welcome.last_seq = 0;
  roundtrip_free(&f);

  f.u.welcome.resync = true;
  roundtrip_free(&f);
}

/* "rs" is optional: left out when false, true on the wire when set, and a
 * welcome without it (an older server) decodes as false. */
static void test_welcome_resync(void) {
  /* {"t": 2, "v": 1, "now": 0, "off": 0, "head": 0, "last": 0} */
  static const uint8_t plain[] = {0x86, 0xa1, 't', 0x02, 0xa1, 'v', 0x01, 0xa3, 'n', 'o', 'w',
                                  0x00, 0xa3, 'o', 'f', 'f', 0x00, 0xa4, 'h', 'e', 'a', 'd',
                                  0x00, 0xa4, 'l', 'a', 's', 't', 0x00};
  static const uint8_t with_rs[] = {0x87, 0xa1, 't', 0x02, 0xa1, 'v', 0x01, 0xa3, 'n', 'o',
                                    'w', 0x00, 0xa3, 'o', 'f', 'f', 0x00, 0xa4, 'h', 'e',
                                    'a', 'd', 0x00, 0xa4, 'l', 'a', 's', 't', 0x00, 0xa2,
                                    'r', 's', 0xc3};
  proto_frame_t f, *out = NULL;
  proto_buf_t buf;

  memset(&f, 0, sizeof f);
  f.type = PROTO_WELCOME;
  f.u.welcome.version = 1;
  proto_buf_init(&buf, 0);
  CHECK_EQ_INT(proto_encode(&f, &buf), 0);
  CHECK_EQ_INT(buf.len, sizeof plain);
  CHECK(memcmp(proto_buf_data(&buf), plain, sizeof plain) == 0);
  f.u.welcome.resync = true;
  buf.len = 0;
  CHECK_EQ_INT(proto_encode(&f, &buf), 0);
  CHECK_EQ_INT(buf.len, sizeof with_rs);
  CHECK(memcmp(proto_buf_data(&buf), with_rs, sizeof with_rs) == 0);
  proto_buf_dispose(&buf);

  CHECK_EQ_INT(proto_decode(plain, sizeof plain, &out), 0);
  CHECK(!out->u.welcome.resync);
  proto_frame_free(out);
  CHECK_EQ_INT(proto_decode(with_rs, sizeof with_rs, &out), 0);
  CHECK(out->u.welcome.resync);
  proto_frame_free(out);
}

/* An op for every record shape: ids, key2, base, and every value type. */
static proto_field_t fields_all[PROTO_MAX_FIELDS_PER_OP];

static void fill_ops(proto_op_t *ops, uint32_t n, bool committed) {
  static proto_field_t checkin[3];
  static proto_field_t tally[1];
  uint32_t i;

  checkin[0].id = 1;
  checkin[0].value.type = PROTO_STR;
  checkin[0].value.u.s = PROTO_STR("present");
  checkin[1].id = 2;
  checkin[1].value.type = PROTO_INT;
  checkin[1].value.u.i = 1717000000000;
  checkin[2].id = 3;
  checkin[2].value.type = PROTO_NIL;
  tally[0].id = 1;
  tally[0].value.type = PROTO_INT;
  tally[0].value.u.i = 12;

  for (i = 0; i < PROTO_MAX_FIELDS_PER_OP; i++) {
    proto_field_t *f = &fields_all[i];
    f->id = (uint8_t)(i == 0 ? 255 : i + 1);
    switch (i % 8) {
    case 0:
      f->value.type = PROTO_NIL;
      break;
    case 1:
      f->value.type = PROTO_BOOL;
      f->value.u.b = true;
      break;
    case 2:
      f->value.type = PROTO_BOOL;
      f->value.u.b = false;
      break;
    case 3:
      f->value.type = PROTO_INT;
      f->value.u.i = i < 8 ? INT64_MIN : INT64_MAX;
      break;
    case 4:
      f->value.type = PROTO_INT;
      f->value.u.i = i < 8 ? -1 : 0;
      break;
    case 5:
      f->value.type = PROTO_STR;
      f->value.u.s = i < 8 ? PROTO_STR("") : s_(big_text, sizeof big_text);
      break;
    case 6:
      f->value.type = PROTO_INT;
      f->value.u.i = i < 8 ? 127 : -33;
      break;
    default:
      f->value.type = PROTO_STR;
      f->value.u.s = PROTO_STR("Koffieochtend \xe2\x98\x95");
      break;
    }
  }

  memset(ops, 0, n * sizeof *ops);
  for (i = 0; i < n; i++) {
    proto_op_t *op = &ops[i];
    op->seq = 5 + i;
    op->hlc = ((uint64_t)1717000000000 + i) << 16 | i;
    op->base = i % 2 ? 0 : 40;
    if (committed) {
      op->device = i % 3 ? PROTO_STR("dev-a") : s_(max_id, sizeof max_id);
      op->server_seq = 41 + i;
    }
    switch (i % 3) {
    case 0:
      op->type = 5;
      op->key = PROTO_STR("0190a1b2-0000-7000-8000-00000000000a");
      op->key2 = s_(max_id, sizeof max_id);
      op->nfields = 3;
      op->fields = checkin;
      break;
    case 1:
      op->type = 255; /* the decoder does not judge record types */
      op->key = s_(max_id, sizeof max_id);
      op->nfields = PROTO_MAX_FIELDS_PER_OP;
      op->fields = fields_all;
      break;
    default:
      op->type = 6;
      op->key = PROTO_STR("s");
      op->nfields = i == 2 ? 0 : 1; /* an empty fields map is well formed */
      op->fields = i == 2 ? NULL : tally;
      break;
    }
  }
  ops[0].seq = UINT64_MAX;
  ops[0].hlc = UINT64_MAX;
  ops[0].base = UINT64_MAX;
  if (committed)
    ops[0].server_seq = UINT64_MAX;
}

static void test_push(void) {
  static proto_op_t ops[PROTO_MAX_OPS_PER_FRAME];
  proto_frame_t f;
  proto_frame_t *d;

  memset(&f, 0, sizeof f);
  f.type = PROTO_PUSH;
  f.u.push.outbox = 17;
  f.u.push.nops = 6;
  f.u.push.ops = ops;
  fill_ops(ops, 6, false);
  ops[4].device = PROTO_STR("dev-own"); /* optional in push, kept if sent */
  ops[5].server_seq = 9; /* not meaningful in push, but carried if set */
  d = roundtrip(&f);
  /* decoded ops keep the exact bytes of their fields map */
  CHECK(d->u.push.ops[0].fields_raw.len > 0);
  CHECK(d->u.push.ops[2].fields_raw.len == 1); /* 0x80: empty map */
  CHECK((uint8_t)d->u.push.ops[2].fields_raw.ptr[0] == 0x80);
  proto_frame_free(d);

  /* one op, the minimum */
  f.u.push.nops = 1;
  f.u.push.outbox = 0;
  roundtrip_free(&f);

  /* the maximum number of ops */
  fill_ops(ops, PROTO_MAX_OPS_PER_FRAME, false);
  f.u.push.nops = PROTO_MAX_OPS_PER_FRAME;
  for (uint32_t i = 0; i < PROTO_MAX_OPS_PER_FRAME; i++)
    if (ops[i].fields == fields_all) {
      /* keep the frame under 1 MiB: 16 fields but no 4 KiB text */
      ops[i].nfields = 5;
    }
  roundtrip_free(&f);
}

static void test_ack(void) {
  proto_range_t ranges[3] = {{1, 1}, {6, 7}, {9, UINT64_MAX}};
  proto_reject_t rejects[3] = {
      {8, 20, PROTO_STR("status must be present, absent or excused")},
      {10, 21, PROTO_STR("")},
      {UINT64_MAX, INT32_MAX, PROTO_STR("x")},
  };
  proto_frame_t f;

  memset(&f, 0, sizeof f);
  f.type = PROTO_ACK;
  f.u.ack.nranges = 3;
  f.u.ack.ranges = ranges;
  f.u.ack.nrejects = 3;
  f.u.ack.rejects = rejects;
  roundtrip_free(&f);

  f.u.ack.nrejects = 0;
  f.u.ack.rejects = NULL;
  roundtrip_free(&f);

  f.u.ack.nranges = 0;
  f.u.ack.ranges = NULL;
  f.u.ack.nrejects = 1;
  f.u.ack.rejects = rejects;
  roundtrip_free(&f);

  f.u.ack.nrejects = 0;
  f.u.ack.rejects = NULL;
  roundtrip_free(&f); /* an empty ack is {"t":4} */
}

static void test_pull(void) {
  proto_frame_t f, *d;
  proto_buf_t b;

  memset(&f, 0, sizeof f);
  f.type = PROTO_PULL;
  f.u.pull.cursor = 40;
  f.u.pull.limit = 1;
  roundtrip_free(&f);
  f.u.pull.limit = PROTO_MAX_PULL_LIMIT;
  f.u.pull.cursor = UINT64_MAX;
  roundtrip_free(&f);
  f.u.pull.limit = 500;
  f.u.pull.cursor = 0;
  roundtrip_free(&f);

  /* limit 0 means "the default": left out, decoded as 500 */
  f.u.pull.limit = 0;
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&b), b.len, &d), 0);
  CHECK_EQ_INT(d->u.pull.limit, 500);
  CHECK(d->u.pull.cursor == 0);
  proto_frame_free(d);
  proto_buf_dispose(&b);
}

static void test_changes(proto_frame_type_t type) {
  static proto_op_t ops[8];
  proto_frame_t f;

  memset(&f, 0, sizeof f);
  f.type = type;
  f.u.changes.from = 40;
  f.u.changes.cursor = 48;
  f.u.changes.more = true;
  fill_ops(ops, 8, true);
  f.u.changes.nops = 8;
  f.u.changes.ops = ops;
  roundtrip_free(&f);

  /* an empty page */
  f.u.changes.from = 48;
  f.u.changes.cursor = 48;
  f.u.changes.more = false;
  f.u.changes.nops = 0;
  f.u.changes.ops = NULL;
  roundtrip_free(&f);
}

static void test_error(void) {
  proto_frame_t f;
  memset(&f, 0, sizeof f);
  f.type = PROTO_ERROR;
  f.u.error.code = -PROTO_EUNSUPPORTED_VERSION;
  f.u.error.message = PROTO_STR("protocol version not supported");
  f.u.error.close = true;
  roundtrip_free(&f);
  f.u.error.code = -PROTO_EBAD_FIELD;
  f.u.error.message = s_(big_text, sizeof big_text);
  f.u.error.close = false;
  roundtrip_free(&f);
  f.u.error.message = PROTO_STR("");
  roundtrip_free(&f);
}

static void test_ping_pong(void) {
  proto_frame_t f;
  proto_buf_t b;
  memset(&f, 0, sizeof f);
  f.type = PROTO_PING;
  f.u.ping.nonce = 0;
  roundtrip_free(&f);
  f.u.ping.nonce = UINT64_MAX;
  roundtrip_free(&f);
  f.type = PROTO_PONG;
  f.u.ping.nonce = 5;
  roundtrip_free(&f);

  /* integers take their smallest encoding: {"t":10,"n":5} is 7 bytes, and
   * 65536 is a uint32 (0xce) */
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  {
    static const uint8_t want[] = {0x82, 0xa1, 't', 0x0a, 0xa1, 'n', 0x05};
    CHECK_EQ_INT(b.len, sizeof want);
    CHECK(memcmp(proto_buf_data(&b), want, sizeof want) == 0);
  }
  b.len = 0;
  f.u.ping.nonce = 65536;
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  {
    static const uint8_t want[] = {0x82, 0xa1, 't', 0x0a, 0xa1, 'n',
                                   0xce, 0x00, 0x01, 0x00, 0x00};
    CHECK_EQ_INT(b.len, sizeof want);
    CHECK(memcmp(proto_buf_data(&b), want, sizeof want) == 0);
  }
  proto_buf_dispose(&b);
}

/* A server stores a pushed op's fields_raw and relays it in changes frames:
 * the bytes go out verbatim and decode to the same fields. */
static void test_fields_raw_reuse(void) {
  static proto_op_t ops[6];
  proto_frame_t push, changes;
  proto_frame_t *d1 = NULL, *d2 = NULL;
  proto_buf_t b;
  uint32_t i;

  memset(&push, 0, sizeof push);
  push.type = PROTO_PUSH;
  fill_ops(ops, 6, false);
  push.u.push.nops = 6;
  push.u.push.ops = ops;

  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(&push, &b), 0);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&b), b.len, &d1), 0);

  /* the server gives each op its device and server_seq, and drops the
   * decoded field array: only fields_raw remains */
  memset(&changes, 0, sizeof changes);
  changes.type = PROTO_CHANGES;
  changes.u.changes.from = 40;
  changes.u.changes.cursor = 46;
  changes.u.changes.nops = d1->u.push.nops;
  changes.u.changes.ops = calloc(d1->u.push.nops, sizeof(proto_op_t));
  CHECK(changes.u.changes.ops != NULL);
  for (i = 0; i < d1->u.push.nops; i++) {
    proto_op_t *op = &changes.u.changes.ops[i];
    *op = d1->u.push.ops[i];
    op->device = PROTO_STR("tablet-7");
    op->server_seq = 41 + i;
    op->nfields = 0;
    op->fields = NULL;
  }
  b.len = 0;
  CHECK_EQ_INT(proto_encode(&changes, &b), 0);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&b), b.len, &d2), 0);
  CHECK_EQ_INT(d2->type, PROTO_CHANGES);
  CHECK_EQ_INT(d2->u.changes.nops, 6);
  for (i = 0; i < 6; i++) {
    const proto_op_t *a = &d1->u.push.ops[i], *c = &d2->u.changes.ops[i];
    check_fields_eq(a, c);
    check_fields_eq(&ops[i], c);
    CHECK(proto_str_eq(a->fields_raw, c->fields_raw));
    CHECK(proto_str_eq(c->device, PROTO_STR("tablet-7")));
    CHECK(c->server_seq == 41 + i);
    CHECK(c->seq == ops[i].seq && c->hlc == ops[i].hlc);
  }

  /* the same through proto_encode_fields / proto_decode_fields, as storage
   * does */
  for (i = 0; i < 6; i++) {
    proto_op_t out;
    void *mem = NULL;
    memset(&out, 0, sizeof out);
    b.len = 0;
    CHECK_EQ_INT(proto_encode_fields(&ops[i], &b), 0);
    CHECK(proto_str_eq(s_((const char *)proto_buf_data(&b), b.len),
                       d1->u.push.ops[i].fields_raw));
    CHECK_EQ_INT(proto_decode_fields(proto_buf_data(&b), b.len, &out, &mem), 0);
    check_fields_eq(&ops[i], &out);
    CHECK(mem == (void *)out.fields);
    free(mem);
    /* encoding from fields_raw gives the same bytes again */
    b.len = 0;
    CHECK_EQ_INT(proto_encode_fields(&d1->u.push.ops[i], &b), 0);
    CHECK(proto_str_eq(s_((const char *)proto_buf_data(&b), b.len),
                       d1->u.push.ops[i].fields_raw));
  }

  free(changes.u.changes.ops);
  proto_frame_free(d1);
  proto_frame_free(d2);
  proto_buf_dispose(&b);
}

/* The decoded frame owns a copy: the input may be freed right away. */
static void test_owns_copy(void) {
  proto_frame_t f, *d;
  proto_buf_t b;
  uint8_t *copy;

  memset(&f, 0, sizeof f);
  f.type = PROTO_ERROR;
  f.u.error.code = 10;
  f.u.error.message = PROTO_STR("the server could not store this");
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  copy = malloc(b.len);
  CHECK(copy != NULL);
  memcpy(copy, proto_buf_data(&b), b.len);
  CHECK_EQ_INT(proto_decode(copy, b.len, &d), 0);
  memset(copy, 0, b.len);
  free(copy);
  CHECK(proto_str_eq(d->u.error.message,
                     PROTO_STR("the server could not store this")));
  proto_frame_free(d);
  proto_frame_free(NULL);
  proto_buf_dispose(&b);
}

/* Headroom stays in front of the payload, and encodings append. */
static void test_buffer(void) {
  proto_frame_t f, *d;
  proto_buf_t b;
  size_t first;

  proto_buf_init(&b, 16);
  CHECK(b.len == 0 && b.head == 16);
  memset(&f, 0, sizeof f);
  f.type = PROTO_PING;
  f.u.ping.nonce = 1;
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  CHECK(proto_buf_data(&b) == b.base + 16);
  first = b.len;
  f.type = PROTO_WELCOME;
  f.u.welcome.version = 1;
  f.u.welcome.org = s_(big_text, 3000); /* forces the buffer to grow */
  CHECK_EQ_INT(proto_encode(&f, &b), 0);
  CHECK(b.cap >= b.len && b.len > first + 3000);
  CHECK(proto_buf_data(&b) == b.base + 16);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&b), first, &d), 0);
  CHECK_EQ_INT(d->type, PROTO_PING);
  proto_frame_free(d);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&b) + first, b.len - first, &d), 0);
  CHECK_EQ_INT(d->type, PROTO_WELCOME);
  CHECK_EQ_INT(d->u.welcome.org.len, 3000);
  proto_frame_free(d);
  proto_buf_dispose(&b);
  CHECK(b.base == NULL && b.len == 0 && b.head == 16);
}

/* A decoder must accept any integer encoding whose value fits, not only the
 * smallest: here "n" as uint64, int8 and int64, and "t" as uint16. */
static void test_wide_integers(void) {
  static const uint8_t frames[][21] = {
      {0x82, 0xa1, 't', 0xcd, 0x00, 0x09, 0xa1, 'n', 0xcf, 0, 0, 0, 0, 0, 0,
       0, 7},
      {0x82, 0xa1, 't', 0x09, 0xa1, 'n', 0xd0, 0x07},
      {0x82, 0xa1, 't', 0x09, 0xa1, 'n', 0xd3, 0, 0, 0, 0, 0, 0, 0, 7},
  };
  static const size_t lens[] = {17, 8, 15};
  proto_frame_t *d;
  size_t i;
  for (i = 0; i < 3; i++) {
    CHECK_EQ_INT(proto_decode(frames[i], lens[i], &d), 0);
    CHECK_EQ_INT(d->type, PROTO_PING);
    CHECK(d->u.ping.nonce == 7);
    proto_frame_free(d);
  }
}

int main(void) {
  memset(big_text, 'x', sizeof big_text);
  memset(max_id, 'i', sizeof max_id);
  test_hello();
  test_welcome();
  test_welcome_resync();
  test_push();
  test_ack();
  test_pull();
  test_changes(PROTO_CHANGES);
  test_changes(PROTO_LIVE);
  test_error();
  test_ping_pong();
  test_fields_raw_reuse();
  test_owns_copy();
  test_buffer();
  test_wide_integers();
  return 0;
}
