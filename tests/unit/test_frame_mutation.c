/* test_frame_mutation.c — decoding never crashes, whatever the bytes: valid
 * frames of every type are mutated (bits flipped, bytes replaced with
 * msgpack tags that declare huge lengths, bytes inserted, deleted, slices
 * duplicated, tails cut) with a fixed-seed generator, and each result is
 * decoded from an allocation of exactly its size, so under ASan any read
 * past the end fails the test. When a mutant decodes, it must re-encode,
 * and that encoding must decode and re-encode to the same bytes; its ops
 * must survive schema_validate_op without harm. */
#include "check.h"
#include "frame.h"
#include "schema.h"

#define ITERATIONS 200000
#define MAX_SEEDS 16

static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

/* xorshift64*: deterministic across platforms */
static uint32_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static uint8_t *seed[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static int nseeds;

static void add_seed(const proto_frame_t *f) {
  proto_buf_t b;
  CHECK(nseeds < MAX_SEEDS);
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(f, &b), 0);
  seed[nseeds] = malloc(b.len);
  CHECK(seed[nseeds] != NULL);
  memcpy(seed[nseeds], proto_buf_data(&b), b.len);
  seed_len[nseeds++] = b.len;
  proto_buf_dispose(&b);
}

static void make_seeds(void) {
  static proto_field_t fields[] = {
      {1, {PROTO_STR, {.s = {"present", 7}}}},
      {2, {PROTO_INT, {.i = 1717000000000}}},
      {3, {PROTO_NIL, {.i = 0}}},
      {4, {PROTO_BOOL, {.b = true}}},
      {5, {PROTO_INT, {.i = -70000}}},
  };
  static proto_op_t ops[3];
  static proto_range_t ranges[] = {{1, 4}, {6, 300}};
  static proto_reject_t rejects[] = {{5, 20, {"bad status", 10}},
                                     {301, 21, {"", 0}}};
  proto_frame_t f;
  int i;

  for (i = 0; i < 3; i++) {
    memset(&ops[i], 0, sizeof ops[i]);
    ops[i].seq = 5 + (uint64_t)i * 1000;
    ops[i].hlc = (uint64_t)1717000000000 << 16 | (uint64_t)i;
    ops[i].type = (uint8_t)(5 + i);
    ops[i].key = PROTO_STR("0190a1b2-0000-7000-8000-00000000000a");
    ops[i].key2 = i == 0 ? PROTO_STR("p-1") : PROTO_STR("");
    ops[i].base = (uint64_t)i * 70000;
    ops[i].device = PROTO_STR("tablet-1");
    ops[i].server_seq = 41 + (uint64_t)i;
    ops[i].fields = fields;
    ops[i].nfields = (uint32_t)(i == 0 ? 3 : i == 1 ? 5 : 1);
  }

  memset(&f, 0, sizeof f);
  f.type = PROTO_HELLO;
  f.u.hello.version = 1;
  f.u.hello.app = PROTO_STR("sample/1");
  f.u.hello.device = PROTO_STR("tablet-1");
  f.u.hello.token = PROTO_STR("tok");
  f.u.hello.cursor = 40;
  f.u.hello.outbox = 3;
  f.u.hello.now_ms = 1717000000000;
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_WELCOME;
  f.u.welcome.version = 1;
  f.u.welcome.now_ms = 1717000000000;
  f.u.welcome.offset_ms = -300;
  f.u.welcome.head = 43;
  f.u.welcome.last_seq = 5;
  f.u.welcome.org = PROTO_STR("Buurtwerk");
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_PUSH;
  f.u.push.outbox = 2;
  f.u.push.nops = 3;
  f.u.push.ops = ops;
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_ACK;
  f.u.ack.nranges = 2;
  f.u.ack.ranges = ranges;
  f.u.ack.nrejects = 2;
  f.u.ack.rejects = rejects;
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_PULL;
  f.u.pull.cursor = 40;
  f.u.pull.limit = 200;
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_CHANGES;
  f.u.changes.from = 40;
  f.u.changes.cursor = 43;
  f.u.changes.more = true;
  f.u.changes.nops = 3;
  f.u.changes.ops = ops;
  add_seed(&f);
  f.type = PROTO_LIVE;
  f.u.changes.nops = 1;
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_ERROR;
  f.u.error.code = 4;
  f.u.error.message = PROTO_STR("a field is missing");
  f.u.error.close = true;
  add_seed(&f);

  memset(&f, 0, sizeof f);
  f.type = PROTO_PING;
  f.u.ping.nonce = 123456;
  add_seed(&f);
  f.type = PROTO_PONG;
  add_seed(&f);
}

/* Bytes that make a mutation interesting to a msgpack reader: tags with
 * length fields, the never-used 0xc1, extremes. */
static const uint8_t interesting[] = {
    0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
    0xc2, 0xc3, 0xc4, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcc, 0xcf, 0xd0,
    0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};

static size_t mutate(uint8_t *buf, size_t len, size_t cap) {
  int n = 1 + (int)(rnd() % 4), k;
  for (k = 0; k < n; k++) {
    size_t pos = len ? rnd() % len : 0;
    switch (rnd() % 7) {
    case 0: /* flip a bit */
      if (len)
        buf[pos] ^= (uint8_t)(1u << (rnd() % 8));
      break;
    case 1: /* replace with an interesting byte */
      if (len)
        buf[pos] = interesting[rnd() % sizeof interesting];
      break;
    case 2: /* random byte */
      if (len)
        buf[pos] = (uint8_t)rnd();
      break;
    case 3: /* insert */
      if (len < cap) {
        memmove(buf + pos + 1, buf + pos, len - pos);
        buf[pos] = rnd() % 2 ? interesting[rnd() % sizeof interesting]
                             : (uint8_t)rnd();
        len++;
      }
      break;
    case 4: /* delete */
      if (len) {
        memmove(buf + pos, buf + pos + 1, len - pos - 1);
        len--;
      }
      break;
    case 5: /* duplicate a slice */
      if (len) {
        size_t n2 = 1 + rnd() % 8;
        if (n2 > len - pos)
          n2 = len - pos;
        if (len + n2 <= cap) {
          memmove(buf + pos + n2, buf + pos, len - pos);
          len += n2;
        }
      }
      break;
    default: /* cut the tail */
      len = pos;
      break;
    }
  }
  return len;
}

/* A decoded mutant is a valid frame: it re-encodes, and that encoding is a
 * fixed point of decode + encode. */
static void check_reencodes(const proto_frame_t *f) {
  proto_buf_t a, b;
  proto_frame_t *d = NULL;
  uint32_t i;

  proto_buf_init(&a, 0);
  proto_buf_init(&b, 0);
  CHECK_EQ_INT(proto_encode(f, &a), 0);
  CHECK_EQ_INT(proto_decode(proto_buf_data(&a), a.len, &d), 0);
  CHECK_EQ_INT(proto_encode(d, &b), 0);
  CHECK_EQ_INT(a.len, b.len);
  CHECK(memcmp(proto_buf_data(&a), proto_buf_data(&b), a.len) == 0);
  if (f->type == PROTO_PUSH)
    for (i = 0; i < f->u.push.nops; i++)
      (void)schema_validate_op(&f->u.push.ops[i]);
  if (f->type == PROTO_CHANGES || f->type == PROTO_LIVE)
    for (i = 0; i < f->u.changes.nops; i++)
      (void)schema_validate_op(&f->u.changes.ops[i]);
  proto_frame_free(d);
  proto_buf_dispose(&a);
  proto_buf_dispose(&b);
}

int main(void) {
  uint8_t work[4096];
  long decoded = 0, refused = 0;
  long it;

  make_seeds();
  for (int i = 0; i < nseeds; i++) {
    proto_frame_t *f = NULL;
    CHECK_EQ_INT(proto_decode(seed[i], seed_len[i], &f), 0);
    proto_frame_free(f);
  }

  for (it = 0; it < ITERATIONS; it++) {
    int s = (int)(rnd() % (uint32_t)nseeds);
    size_t len;
    uint8_t *exact;
    proto_frame_t *f = NULL;
    int r;

    CHECK(seed_len[s] <= sizeof work / 2);
    memcpy(work, seed[s], seed_len[s]);
    len = mutate(work, seed_len[s], sizeof work);
    exact = malloc(len ? len : 1);
    CHECK(exact != NULL);
    memcpy(exact, work, len);
    r = proto_decode(exact, len, &f);
    if (r == 0) {
      CHECK(f != NULL);
      decoded++;
      check_reencodes(f);
      proto_frame_free(f);
    } else {
      CHECK(f == NULL);
      CHECK(r == PROTO_EBAD_FRAME || r == PROTO_ETOO_LARGE ||
            r == PROTO_EUNKNOWN_TYPE || r == PROTO_EBAD_FIELD);
      refused++;
    }
    free(exact);
  }
  /* both outcomes must be common, or the mutations test nothing */
  CHECK(decoded > ITERATIONS / 100);
  CHECK(refused > ITERATIONS / 10);
  printf("mutants: %ld decoded, %ld refused\n", decoded, refused);
  for (int i = 0; i < nseeds; i++)
    free(seed[i]);
  return 0;
}
