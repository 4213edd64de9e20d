/* test_frame_decode_errors.c — proto_decode refuses every kind of bad input
 * with the documented code: truncation at every byte, non-map frames, a
 * missing or unknown "t", wrong types and missing required keys for every
 * key of every frame, strings, counts and nesting over the limits, hostile
 * declared lengths, trailing bytes, floats, ext, negative numbers where
 * unsigned ones belong, bad field ids and repeated keys. It also checks that
 * what must be ignored (unknown keys, whatever their content within the
 * limits) is. */
#include "check.h"
#include "frame.h"

#include <msgpack.h>

/* ----------------------------------------------- a tiny msgpack builder */

typedef struct {
  const uint8_t *p;
  size_t n;
} blob_t;

/* Blobs live in one static pool, reset per test, so nothing leaks. */
static uint8_t pool[1 << 22];
static size_t pool_n;

static int pool_write(void *data, const char *p, size_t n) {
  (void)data;
  CHECK(pool_n + n <= sizeof pool);
  memcpy(pool + pool_n, p, n);
  pool_n += n;
  return 0;
}

static msgpack_packer pk;
static void pool_reset(void) {
  pool_n = 0;
  msgpack_packer_init(&pk, NULL, pool_write);
}

static blob_t blob_from(size_t start) {
  blob_t b = {pool + start, pool_n - start};
  return b;
}

/* bytes from hex; spaces are ignored */
static blob_t H(const char *hex) {
  size_t start = pool_n;
  while (*hex) {
    unsigned v;
    if (*hex == ' ') {
      hex++;
      continue;
    }
    CHECK(sscanf(hex, "%2x", &v) == 1);
    CHECK(pool_n < sizeof pool);
    pool[pool_n++] = (uint8_t)v;
    hex += 2;
  }
  return blob_from(start);
}

static blob_t U(uint64_t v) {
  size_t start = pool_n;
  msgpack_pack_uint64(&pk, v);
  return blob_from(start);
}

static blob_t I(int64_t v) {
  size_t start = pool_n;
  msgpack_pack_int64(&pk, v);
  return blob_from(start);
}

static blob_t SN(char c, size_t n) {
  size_t start = pool_n, i;
  msgpack_pack_str(&pk, n);
  for (i = 0; i < n; i++)
    msgpack_pack_str_body(&pk, &c, 1);
  return blob_from(start);
}

static blob_t S(const char *s) {
  size_t start = pool_n;
  msgpack_pack_str_with_body(&pk, s, strlen(s));
  return blob_from(start);
}

static blob_t cat(blob_t a, blob_t b) {
  size_t start = pool_n;
  pool_write(NULL, (const char *)a.p, a.n);
  pool_write(NULL, (const char *)b.p, b.n);
  return blob_from(start);
}

/* an array of n copies of one element */
static blob_t ARR(blob_t elem, size_t n) {
  size_t start = pool_n, i;
  msgpack_pack_array(&pk, n);
  for (i = 0; i < n; i++)
    pool_write(NULL, (const char *)elem.p, elem.n);
  return blob_from(start);
}

typedef enum { K_T, K_UINT, K_INT, K_STR, K_BOOL, K_ARRAY, K_MAP } kkind_t;

typedef struct {
  const char *key;
  blob_t val;
  kkind_t kind;
  bool required;
} kv_t;

/* A map of kvs, leaving out index skip (or -1) and putting rep at index
 * rep_at (or -1). */
static blob_t map_with(const kv_t *kvs, size_t n, int skip, int rep_at,
                       blob_t rep) {
  size_t start = pool_n, i;
  msgpack_pack_map(&pk, n - (skip >= 0 ? 1 : 0));
  for (i = 0; i < n; i++) {
    blob_t v = (int)i == rep_at ? rep : kvs[i].val;
    if ((int)i == skip)
      continue;
    msgpack_pack_str_with_body(&pk, kvs[i].key, strlen(kvs[i].key));
    pool_write(NULL, (const char *)v.p, v.n);
  }
  return blob_from(start);
}

static blob_t map_of(const kv_t *kvs, size_t n) {
  blob_t none = {NULL, 0};
  return map_with(kvs, n, -1, -1, none);
}

/* Decodes from a heap copy of exactly the blob's size, so that under ASan a
 * read past the end is caught. */
static int decode(blob_t b) {
  proto_frame_t *f = NULL;
  uint8_t *exact = malloc(b.n ? b.n : 1);
  int r;
  CHECK(exact != NULL);
  if (b.n)
    memcpy(exact, b.p, b.n);
  r = proto_decode(exact, b.n, &f);
  free(exact);
  if (r == 0) {
    CHECK(f != NULL);
    proto_frame_free(f);
  } else {
    CHECK(f == NULL);
  }
  return r;
}

#define EXPECT(blob, code) CHECK_EQ_INT(decode(blob), (code))

/* ---------------------------------------------------------- templates */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static blob_t fields_ok(void) {
  /* {1: "present", 2: 1717000000000, 3: nil} */
  return cat(H("83 01"), cat(S("present"), cat(H("02"), cat(I(1717000000000),
                                                           H("03 c0")))));
}

static kv_t op_push[9], op_changes[9], reject[3];

static void make_inner(void) {
  kv_t p[] = {
      {"s", U(6), K_UINT, true},
      {"h", U((uint64_t)1717000000000 << 16), K_UINT, true},
      {"y", U(5), K_UINT, true},
      {"k", S("0190a1b2-0000-7000-8000-00000000000a"), K_STR, true},
      {"k2", S("0190a1b2-0000-7000-8000-00000000000b"), K_STR, false},
      {"b", U(40), K_UINT, false},
      {"f", fields_ok(), K_MAP, true},
      {"d", S("tablet-1"), K_STR, false},
      {"n", U(0), K_UINT, false},
  };
  memcpy(op_push, p, sizeof p);
  memcpy(op_changes, p, sizeof p);
  op_changes[7].required = true;
  op_changes[8].required = true;
  op_changes[8].val = U(41);
  {
    kv_t r[] = {
        {"s", U(8), K_UINT, true},
        {"c", U(20), K_UINT, true},
        {"m", S("bad status"), K_STR, false},
    };
    memcpy(reject, r, sizeof r);
  }
}

typedef struct {
  kv_t kvs[10];
  size_t n;
} tmpl_t;

static tmpl_t tmpl[PROTO_PONG + 1];

static void make_templates(void) {
  blob_t op1 = ARR(map_of(op_push, N(op_push)), 1);
  blob_t opc = ARR(map_of(op_changes, N(op_changes)), 2);
  tmpl_t t[] = {
      {{{0}}, 0},
      {{{"t", U(1), K_T, true},
        {"v", U(1), K_UINT, true},
        {"app", S("turf-sample/0.1"), K_STR, false},
        {"dev", S("tablet-1"), K_STR, true},
        {"name", S("Tablet 1"), K_STR, false},
        {"tok", S("tok"), K_STR, false},
        {"code", S("K7Q42Z"), K_STR, false},
        {"cur", U(40), K_UINT, false},
        {"out", U(3), K_UINT, false},
        {"now", I(-5), K_INT, false}},
       10},
      {{{"t", U(2), K_T, true},
        {"v", U(1), K_UINT, true},
        {"now", I(1717000000000), K_INT, true},
        {"off", I(-1200), K_INT, true},
        {"head", U(43), K_UINT, true},
        {"last", U(5), K_UINT, true},
        {"tok", S("secret"), K_STR, false},
        {"org", S("Buurtwerk"), K_STR, false},
        {"rs", H("c3"), K_BOOL, false}},
       9},
      {{{"t", U(3), K_T, true},
        {"out", U(2), K_UINT, false},
        {"ops", op1, K_ARRAY, true}},
       3},
      {{{"t", U(4), K_T, true},
        {"a", ARR(H("92 06 07"), 2), K_ARRAY, false},
        {"r", ARR(map_of(reject, N(reject)), 1), K_ARRAY, false}},
       3},
      {{{"t", U(5), K_T, true},
        {"cur", U(40), K_UINT, true},
        {"lim", U(100), K_UINT, false}},
       3},
      {{{"t", U(6), K_T, true},
        {"from", U(40), K_UINT, true},
        {"cur", U(43), K_UINT, true},
        {"more", H("c2"), K_BOOL, true},
        {"ops", opc, K_ARRAY, true}},
       5},
      {{{"t", U(7), K_T, true},
        {"from", U(43), K_UINT, true},
        {"cur", U(45), K_UINT, true},
        {"more", H("c3"), K_BOOL, true},
        {"ops", opc, K_ARRAY, true}},
       5},
      {{{"t", U(8), K_T, true},
        {"c", U(4), K_UINT, true},
        {"m", S("a field is missing"), K_STR, false},
        {"x", H("c3"), K_BOOL, false}},
       4},
      {{{"t", U(9), K_T, true}, {"n", U(77), K_UINT, true}}, 2},
      {{{"t", U(10), K_T, true}, {"n", U(77), K_UINT, true}}, 2},
  };
  memcpy(tmpl, t, sizeof t);
}

static blob_t frame_of(int type) {
  return map_of(tmpl[type].kvs, tmpl[type].n);
}

static void setup(void) {
  pool_reset();
  make_inner();
  make_templates();
}

/* ------------------------------------------------------------ the tests */

static void test_templates_are_valid(void) {
  int type;
  setup();
  for (type = PROTO_HELLO; type <= PROTO_PONG; type++) {
    proto_frame_t *f = NULL;
    blob_t b = frame_of(type);
    CHECK_EQ_INT(proto_decode(b.p, b.n, &f), 0);
    CHECK_EQ_INT(f->type, type);
    proto_frame_free(f);
  }
}

static void test_truncated_everywhere(void) {
  int type;
  size_t cut;
  setup();
  CHECK_EQ_INT(proto_decode("", 0, &(proto_frame_t *){NULL}), PROTO_EBAD_FRAME);
  for (type = PROTO_HELLO; type <= PROTO_PONG; type++) {
    blob_t b = frame_of(type);
    for (cut = 0; cut < b.n; cut++) {
      blob_t t = {b.p, cut};
      EXPECT(t, PROTO_EBAD_FRAME);
    }
  }
}

static void test_not_a_map(void) {
  setup();
  EXPECT(H("93 01 02 03"), PROTO_EBAD_FRAME);
  EXPECT(H("09"), PROTO_EBAD_FRAME);
  EXPECT(S("hello"), PROTO_EBAD_FRAME);
  EXPECT(H("c0"), PROTO_EBAD_FRAME);
  EXPECT(H("c3"), PROTO_EBAD_FRAME);
  EXPECT(H("cb 3f f0 00 00 00 00 00 00"), PROTO_EBAD_FRAME);
  EXPECT(H("c1"), PROTO_EBAD_FRAME); /* never-used byte */
  EXPECT(H("82 a1 74 09 a1 6e c1"), PROTO_EBAD_FRAME);
  /* JSON is not msgpack */
  EXPECT(S("{\"t\":9}"), PROTO_EBAD_FRAME);
  {
    const char *json = "{\"t\":9,\"n\":1}";
    blob_t b = {(const uint8_t *)json, strlen(json)};
    EXPECT(b, PROTO_EBAD_FRAME);
  }
}

static void test_type_key(void) {
  setup();
  EXPECT(H("80"), PROTO_EBAD_FIELD);                   /* {} */
  EXPECT(H("81 a1 6e 01"), PROTO_EBAD_FIELD);          /* {"n":1} */
  EXPECT(cat(H("82 a1 74"), cat(S("ping"), H("a1 6e 01"))), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 ca 41 10 00 00 a1 6e 01"), PROTO_EBAD_FIELD); /* 9.0f */
  EXPECT(H("82 a1 74 c0 a1 6e 01"), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 91 09 a1 6e 01"), PROTO_EBAD_FIELD);
  EXPECT(H("83 a1 74 09 a1 74 09 a1 6e 01"), PROTO_EBAD_FIELD); /* twice */
  EXPECT(H("82 a1 54 09 a1 6e 01"), PROTO_EBAD_FIELD); /* "T" is not "t" */
  EXPECT(H("82 a1 74 00 a1 6e 01"), PROTO_EUNKNOWN_TYPE);
  EXPECT(H("82 a1 74 0b a1 6e 01"), PROTO_EUNKNOWN_TYPE);
  EXPECT(H("82 a1 74 cc ff a1 6e 01"), PROTO_EUNKNOWN_TYPE);
  EXPECT(H("82 a1 74 cd 01 09 a1 6e 01"), PROTO_EUNKNOWN_TYPE); /* 265 */
  EXPECT(H("82 a1 74 ff a1 6e 01"), PROTO_EUNKNOWN_TYPE);       /* -1 */
  EXPECT(H("82 a1 74 d3 80 00 00 00 00 00 00 09 a1 6e 01"),
         PROTO_EUNKNOWN_TYPE);
  EXPECT(H("82 a1 74 cf ff ff ff ff ff ff ff ff a1 6e 01"),
         PROTO_EUNKNOWN_TYPE);
  /* "t" may come anywhere in the map */
  EXPECT(H("82 a1 6e 01 a1 74 09"), 0);
}

/* Every key of every frame, and of ops and rejects, given each value of a
 * wrong type: BAD_FIELD. */
static blob_t wrong[K_MAP + 1][12];
static size_t nwrong[K_MAP + 1];

static void make_wrong(void) {
  blob_t f32 = H("ca 3f c0 00 00"), f64 = H("cb 3f f8 00 00 00 00 00 00");
  blob_t nil = H("c0"), yes = H("c3"), arr = H("91 01"), map = H("81 a1 61 01");
  blob_t bin = H("c4 01 61"), ext = H("d4 01 00"), neg = H("ff");
  blob_t ustr = S("12"), u = U(1);
  blob_t w_uint[] = {ustr, f32, f64, nil, yes, neg, arr, map, bin, ext,
                     I(INT64_MIN)};
  blob_t w_int[] = {ustr, f32, f64, nil, yes, arr, map, bin, ext,
                    U(UINT64_MAX), U((uint64_t)INT64_MAX + 1)};
  blob_t w_str[] = {u, f32, nil, yes, arr, map, bin, ext, neg};
  blob_t w_bool[] = {u, U(0), nil, S("true"), f64, arr, map, ext};
  blob_t w_arr[] = {map, S("x"), nil, u, f32, bin, ext, yes};
  blob_t w_map[] = {H("90"), H("91 01"), S("x"), nil, u, f32, bin, ext};
#define SET(k, a)                          \
  memcpy(wrong[k], a, sizeof a);           \
  nwrong[k] = sizeof a / sizeof(blob_t)
  SET(K_UINT, w_uint);
  SET(K_INT, w_int);
  SET(K_STR, w_str);
  SET(K_BOOL, w_bool);
  SET(K_ARRAY, w_arr);
  SET(K_MAP, w_map);
#undef SET
}

static void test_wrong_types(void) {
  int type;
  size_t i, w;
  setup();
  make_wrong();
  for (type = PROTO_HELLO; type <= PROTO_PONG; type++) {
    tmpl_t *t = &tmpl[type];
    for (i = 0; i < t->n; i++) {
      if (t->kvs[i].kind == K_T)
        continue;
      for (w = 0; w < nwrong[t->kvs[i].kind]; w++) {
        blob_t b = map_with(t->kvs, t->n, -1, (int)i, wrong[t->kvs[i].kind][w]);
        EXPECT(b, PROTO_EBAD_FIELD);
      }
    }
  }

  /* inside an op of a push and of a changes frame, and inside a reject */
  for (i = 0; i < N(op_push); i++) {
    for (w = 0; w < nwrong[op_push[i].kind]; w++) {
      blob_t rep = wrong[op_push[i].kind][w];
      blob_t op = map_with(op_push, N(op_push), -1, (int)i, rep);
      blob_t b = map_with(tmpl[PROTO_PUSH].kvs, tmpl[PROTO_PUSH].n, -1, 2,
                          ARR(op, 1));
      EXPECT(b, PROTO_EBAD_FIELD);
      op = map_with(op_changes, N(op_changes), -1, (int)i, rep);
      b = map_with(tmpl[PROTO_LIVE].kvs, tmpl[PROTO_LIVE].n, -1, 4,
                   cat(H("92"), cat(map_of(op_changes, N(op_changes)), op)));
      EXPECT(b, PROTO_EBAD_FIELD);
    }
  }
  for (i = 0; i < N(reject); i++) {
    for (w = 0; w < nwrong[reject[i].kind]; w++) {
      blob_t r = map_with(reject, N(reject), -1, (int)i,
                          wrong[reject[i].kind][w]);
      blob_t b = map_with(tmpl[PROTO_ACK].kvs, tmpl[PROTO_ACK].n, -1, 2,
                          ARR(r, 1));
      EXPECT(b, PROTO_EBAD_FIELD);
    }
  }
  /* an op or a reject that is not a map, a range that is not a pair */
  EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, H("91 01")), PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, H("91 90")), PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 2, H("91 c0")), PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 1, H("91 01")), PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 1, H("91 91 01")),
         PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 1, H("91 93 01 02 03")),
         PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 1, H("91 92 01 a1 32")),
         PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 1, H("91 92 ff 02")),
         PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 1, H("91 82 01 02 03 04")),
         PROTO_EBAD_FIELD);
}

static void test_missing_keys(void) {
  int type;
  size_t i;
  setup();
  for (type = PROTO_HELLO; type <= PROTO_PONG; type++) {
    tmpl_t *t = &tmpl[type];
    blob_t none = {NULL, 0};
    for (i = 0; i < t->n; i++) {
      blob_t b = map_with(t->kvs, t->n, (int)i, -1, none);
      EXPECT(b, t->kvs[i].required ? PROTO_EBAD_FIELD : 0);
    }
  }
  for (i = 0; i < N(op_push); i++) {
    blob_t none = {NULL, 0};
    blob_t op = map_with(op_push, N(op_push), (int)i, -1, none);
    blob_t b = map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op, 1));
    EXPECT(b, op_push[i].required ? PROTO_EBAD_FIELD : 0);
    op = map_with(op_changes, N(op_changes), (int)i, -1, none);
    b = map_with(tmpl[PROTO_CHANGES].kvs, 5, -1, 4, ARR(op, 1));
    EXPECT(b, op_changes[i].required ? PROTO_EBAD_FIELD : 0);
  }
  for (i = 0; i < N(reject); i++) {
    blob_t none = {NULL, 0};
    blob_t r = map_with(reject, N(reject), (int)i, -1, none);
    blob_t b = map_with(tmpl[PROTO_ACK].kvs, 3, -1, 2, ARR(r, 1));
    EXPECT(b, reject[i].required ? PROTO_EBAD_FIELD : 0);
  }
}

/* Values of the right type but outside their range. */
static void test_out_of_range(void) {
  setup();
#define F(t, i, v) map_with(tmpl[t].kvs, tmpl[t].n, -1, (i), (v))
#define OP(i, v)                                                            \
  map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2,                                  \
           ARR(map_with(op_push, N(op_push), -1, (i), (v)), 1))
#define COP(i, v)                                                           \
  map_with(tmpl[PROTO_CHANGES].kvs, 5, -1, 4,                               \
           ARR(map_with(op_changes, N(op_changes), -1, (i), (v)), 1))
  EXPECT(F(PROTO_HELLO, 1, U((uint64_t)UINT32_MAX + 1)), PROTO_EBAD_FIELD);
  EXPECT(F(PROTO_HELLO, 1, U(UINT32_MAX)), 0);
  EXPECT(F(PROTO_HELLO, 3, S("")), PROTO_EBAD_FIELD); /* empty device id */
  EXPECT(F(PROTO_PULL, 2, U(0)), PROTO_EBAD_FIELD);
  EXPECT(F(PROTO_PULL, 2, U(PROTO_MAX_PULL_LIMIT)), 0);
  EXPECT(F(PROTO_PULL, 2, U(PROTO_MAX_PULL_LIMIT + 1)), PROTO_ETOO_LARGE);
  EXPECT(F(PROTO_PULL, 2, U(UINT64_MAX)), PROTO_ETOO_LARGE);
  EXPECT(F(PROTO_ERROR, 1, U(0)), PROTO_EBAD_FIELD);
  EXPECT(F(PROTO_ERROR, 1, I(-4)), PROTO_EBAD_FIELD);
  EXPECT(F(PROTO_ERROR, 1, U((uint64_t)INT32_MAX + 1)), PROTO_EBAD_FIELD);
  EXPECT(F(PROTO_ERROR, 1, U(INT32_MAX)), 0);
  EXPECT(F(PROTO_PUSH, 2, H("90")), PROTO_EBAD_FIELD); /* push needs an op */
  EXPECT(F(PROTO_CHANGES, 4, H("90")), 0);             /* changes need not */
  EXPECT(F(PROTO_ACK, 1, H("90")), 0);
  EXPECT(F(PROTO_ACK, 1, H("91 92 00 01")), PROTO_EBAD_FIELD); /* from 0 */
  EXPECT(F(PROTO_ACK, 1, H("91 92 03 02")), PROTO_EBAD_FIELD); /* from > to */
  EXPECT(F(PROTO_ACK, 1, H("91 92 03 03")), 0);
  EXPECT(OP(0, U(0)), PROTO_EBAD_FIELD);   /* device_seq 0 */
  EXPECT(OP(2, U(0)), PROTO_EBAD_FIELD);   /* record type 0 */
  EXPECT(OP(2, U(256)), PROTO_EBAD_FIELD); /* record type > 255 */
  EXPECT(OP(2, U(255)), 0);
  EXPECT(OP(3, S("")), PROTO_EBAD_FIELD);  /* empty key */
  EXPECT(OP(4, S("")), 0);                 /* empty key2 = none */
  EXPECT(OP(7, S("")), 0);                 /* push: device may be empty */
  EXPECT(COP(7, S("")), PROTO_EBAD_FIELD); /* changes: device required */
  EXPECT(COP(8, U(0)), PROTO_EBAD_FIELD);  /* changes: server_seq >= 1 */
  {
    blob_t r = map_with(reject, N(reject), -1, 0, U(0));
    EXPECT(F(PROTO_ACK, 2, ARR(r, 1)), PROTO_EBAD_FIELD);
    r = map_with(reject, N(reject), -1, 1, U(0));
    EXPECT(F(PROTO_ACK, 2, ARR(r, 1)), PROTO_EBAD_FIELD);
  }
#undef F
#undef OP
#undef COP
}

static void test_string_limits(void) {
  blob_t id, id1, text, text1;
  size_t i;
  static const size_t hello_ids[] = {2, 3, 4, 5, 6}; /* app dev name tok code */
  setup();
  id = SN('i', PROTO_MAX_ID_BYTES);
  id1 = SN('i', PROTO_MAX_ID_BYTES + 1);
  text = SN('x', PROTO_MAX_TEXT_BYTES);
  text1 = SN('x', PROTO_MAX_TEXT_BYTES + 1);
#define F(t, i, v) map_with(tmpl[t].kvs, tmpl[t].n, -1, (int)(i), (v))
  for (i = 0; i < N(hello_ids); i++) {
    EXPECT(F(PROTO_HELLO, hello_ids[i], id), 0);
    EXPECT(F(PROTO_HELLO, hello_ids[i], id1), PROTO_ETOO_LARGE);
  }
  EXPECT(F(PROTO_WELCOME, 6, id), 0);
  EXPECT(F(PROTO_WELCOME, 6, id1), PROTO_ETOO_LARGE);
  EXPECT(F(PROTO_WELCOME, 7, text), 0);
  EXPECT(F(PROTO_WELCOME, 7, text1), PROTO_ETOO_LARGE);
  EXPECT(F(PROTO_ERROR, 2, text), 0);
  EXPECT(F(PROTO_ERROR, 2, text1), PROTO_ETOO_LARGE);
  {
    blob_t r = map_with(reject, N(reject), -1, 2, text1);
    EXPECT(F(PROTO_ACK, 2, ARR(r, 1)), PROTO_ETOO_LARGE);
  }
  /* op keys: k, k2, d */
  for (i = 3; i <= 7; i += (i == 4 ? 3 : 1)) {
    blob_t op = map_with(op_push, N(op_push), -1, (int)i, id);
    EXPECT(F(PROTO_PUSH, 2, ARR(op, 1)), 0);
    op = map_with(op_push, N(op_push), -1, (int)i, id1);
    EXPECT(F(PROTO_PUSH, 2, ARR(op, 1)), PROTO_ETOO_LARGE);
  }
  /* a field's string value */
  {
    blob_t f = cat(H("81 02"), text);
    blob_t op = map_with(op_push, N(op_push), -1, 6, f);
    EXPECT(F(PROTO_PUSH, 2, ARR(op, 1)), 0);
    f = cat(H("81 02"), text1);
    op = map_with(op_push, N(op_push), -1, 6, f);
    EXPECT(F(PROTO_PUSH, 2, ARR(op, 1)), PROTO_ETOO_LARGE);
  }
  /* unknown keys may hold long strings: only the frame size bounds them */
  EXPECT(cat(H("83 a1 74 09 a1 6e 01 a1 7a"), SN('z', 100000)), 0);
#undef F
}

static void test_counts(void) {
  blob_t op;
  blob_t many_fields;
  size_t i;
  setup();
#define F(t, i, v) map_with(tmpl[t].kvs, tmpl[t].n, -1, (int)(i), (v))
  op = map_of(op_push, N(op_push));
  EXPECT(F(PROTO_PUSH, 2, ARR(op, PROTO_MAX_OPS_PER_FRAME)), 0);
  EXPECT(F(PROTO_PUSH, 2, ARR(op, PROTO_MAX_OPS_PER_FRAME + 1)),
         PROTO_ETOO_LARGE);
  op = map_of(op_changes, N(op_changes));
  EXPECT(F(PROTO_CHANGES, 4, ARR(op, PROTO_MAX_OPS_PER_FRAME)), 0);
  EXPECT(F(PROTO_LIVE, 4, ARR(op, PROTO_MAX_OPS_PER_FRAME + 1)),
         PROTO_ETOO_LARGE);
  EXPECT(F(PROTO_ACK, 1, ARR(H("92 01 01"), PROTO_MAX_OPS_PER_FRAME)), 0);
  EXPECT(F(PROTO_ACK, 1, ARR(H("92 01 01"), PROTO_MAX_OPS_PER_FRAME + 1)),
         PROTO_ETOO_LARGE);
  EXPECT(F(PROTO_ACK, 2, ARR(map_of(reject, 3), PROTO_MAX_OPS_PER_FRAME + 1)),
         PROTO_ETOO_LARGE);

  /* fields per op */
  for (int n = PROTO_MAX_FIELDS_PER_OP; n <= PROTO_MAX_FIELDS_PER_OP + 1; n++) {
    size_t start = pool_n;
    msgpack_pack_map(&pk, (size_t)n);
    for (i = 0; i < (size_t)n; i++) {
      msgpack_pack_uint8(&pk, (uint8_t)(i + 1));
      msgpack_pack_nil(&pk);
    }
    many_fields = blob_from(start);
    op = map_with(op_push, N(op_push), -1, 6, many_fields);
    EXPECT(F(PROTO_PUSH, 2, ARR(op, 1)),
           n > PROTO_MAX_FIELDS_PER_OP ? PROTO_ETOO_LARGE : 0);
  }
#undef F
}

static void test_field_ids_and_values(void) {
  static const char *bad[] = {
      "81 00 01",          /* id 0 */
      "81 cd 01 00 01",    /* id 256 */
      "81 ff 01",          /* id -1 */
      "81 a1 31 01",       /* id as a string */
      "81 c0 01",          /* id nil */
      "81 ca 3f 80 00 00 01", /* id as a float */
      "81 01 ca 3f c0 00 00", /* float value */
      "81 01 cb 3f f8 00 00 00 00 00 00",
      "81 01 c4 01 61",    /* bin value */
      "81 01 d6 ff 00 00 00 01", /* ext (timestamp) value */
      "81 01 cf 80 00 00 00 00 00 00 00", /* 2^63 does not fit int64 */
      "91 01",             /* not a map */
  };
  static const char *good[] = {
      "80",
      "81 cc ff c0",       /* id 255 */
      "81 d0 05 c3",       /* id as int8 */
      "81 01 cf 7f ff ff ff ff ff ff ff",
      "81 01 d3 80 00 00 00 00 00 00 00",
      "82 01 c2 01 c3",    /* a repeated id is schema's business */
  };
  /* the fields map is at level 4: a container value would be level 5 */
  static const char *deep[] = {
      "81 01 91 01",       /* array value */
      "81 01 81 01 01",    /* map value */
      "81 91 01 01",       /* array as id */
  };
  size_t i;
  setup();
  for (i = 0; i < N(deep); i++) {
    blob_t op = map_with(op_push, N(op_push), -1, 6, H(deep[i]));
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op, 1)),
           PROTO_ETOO_LARGE);
  }
  for (i = 0; i < N(bad); i++) {
    blob_t op = map_with(op_push, N(op_push), -1, 6, H(bad[i]));
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op, 1)),
           PROTO_EBAD_FIELD);
  }
  for (i = 0; i < N(good); i++) {
    blob_t op = map_with(op_push, N(op_push), -1, 6, H(good[i]));
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op, 1)), 0);
  }
}

/* Declared lengths and counts far beyond the input: refused before any
 * allocation (ASan would report a 4 GiB allocation or a read overrun). */
static void test_hostile_counts(void) {
  static const char *top[] = {
      "df ff ff ff ff",                       /* map32 */
      "de ff ff",                             /* map16 */
      "8f a1 74 09",                          /* fixmap 15 */
      "82 a1 74 09 a1 6e",                    /* value missing */
      "82 a1 74 09 db ff ff ff ff 6e 01",     /* str32 key */
      "82 a1 74 09 a1 7a dd ff ff ff ff 01",  /* array32 at unknown key */
      "82 a1 74 09 a1 7a dc ff ff 01",        /* array16 */
      "82 a1 74 09 a1 7a df ff ff ff ff 01 01",
      "82 a1 74 09 a1 7a db ff ff ff ff 61",
      "82 a1 74 09 a1 7a da 00 10 61",
      "82 a1 74 09 a1 7a d9 05 61",
      "82 a1 74 09 a1 7a c6 ff ff ff ff 61",  /* bin32 */
      "82 a1 74 09 a1 7a c9 ff ff ff ff 01 61", /* ext32 */
      "82 a1 74 09 a1 7a c7 05 01 61",
      "82 a1 74 09 a1 7a d8 01 61",           /* fixext16, short */
      "82 a1 74 09 a1 7a cb 00 00",           /* float64, short */
      "82 a1 74 09 a1 7a cf 00 00",           /* uint64, short */
      "82 a1 74 09 a1 7a d3 00",              /* int64, short */
      "82 a1 74 03 a3 6f 70 73 dd ff ff ff ff 80", /* ops array32 */
      "82 a1 74 03 a3 6f 70 73 dc ff ff 80",
      "82 a1 74 04 a1 61 dd ff ff ff ff 92 01 01",
      "82 a1 74 04 a1 72 dd ff ff ff ff 80",
      "82 a1 74 08 a1 6d db ff ff ff ff 78",
      "82 a1 74 08 a1 63 04 a1 6d db 7f ff ff ff", /* fine, then huge */
  };
  size_t i;
  setup();
  for (i = 0; i < N(top); i++)
    EXPECT(H(top[i]), PROTO_EBAD_FRAME);

  /* the same inside an op and its fields */
  {
    blob_t fmap = H("df ff ff ff ff 01 c0");
    blob_t op = map_with(op_push, N(op_push), -1, 6, fmap);
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op, 1)),
           PROTO_EBAD_FRAME);
    op = map_with(op_push, N(op_push), -1, 3, H("db ff ff ff ff 61"));
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op, 1)),
           PROTO_EBAD_FRAME);
  }
}

static void test_depth(void) {
  setup();
  /* the frame is level 1: an unknown key may nest up to PROTO_MAX_DEPTH */
  _Static_assert(PROTO_MAX_DEPTH == 4, "the vectors below assume 4");
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 91 91 91 01"), 0);
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 91 91 91 91 01"), PROTO_ETOO_LARGE);
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 81 01 81 01 81 01 01"), 0);
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 81 01 81 01 81 01 81 01 01"),
         PROTO_ETOO_LARGE);
  /* an empty container is a level too */
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 91 91 90"), 0);
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 91 91 91 90"), PROTO_ETOO_LARGE);
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 91 91 91 80"), PROTO_ETOO_LARGE);
  /* a container used as a map key counts too */
  EXPECT(H("83 a1 74 09 a1 6e 01 91 91 91 91 01 01"), PROTO_ETOO_LARGE);
  /* nesting far beyond the limit stops at the first level too deep, before
   * the reader notices the truncated tail (and without deep recursion) */
  {
    size_t start = pool_n, i;
    pool_write(NULL, "\x83\xa1t\x09\xa1n\x01\xa1z", 9);
    for (i = 0; i < 100000; i++)
      pool_write(NULL, "\x91", 1);
    EXPECT(blob_from(start), PROTO_ETOO_LARGE);
    pool_write(NULL, "\x01", 1);
    EXPECT(blob_from(start), PROTO_ETOO_LARGE);
  }
  /* inside an op (level 3) an unknown key can hold one more level */
  {
    blob_t extra = H("a1 7a 91 01"), deep = H("a1 7a 91 91 01");
    blob_t op = map_of(op_push, N(op_push)), op2;
    /* add an unknown key to the op map by bumping its count (9 -> 10) */
    size_t start = pool_n;
    pool_write(NULL, "\x8a", 1);
    pool_write(NULL, (const char *)op.p + 1, op.n - 1);
    pool_write(NULL, (const char *)extra.p, extra.n);
    op2 = blob_from(start);
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op2, 1)), 0);
    start = pool_n;
    pool_write(NULL, "\x8a", 1);
    pool_write(NULL, (const char *)op.p + 1, op.n - 1);
    pool_write(NULL, (const char *)deep.p, deep.n);
    op2 = blob_from(start);
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(op2, 1)),
           PROTO_ETOO_LARGE);
  }
}

static void test_trailing(void) {
  blob_t ok;
  setup();
  ok = frame_of(PROTO_PING);
  EXPECT(cat(ok, H("00")), PROTO_EBAD_FRAME);
  EXPECT(cat(ok, H("c0")), PROTO_EBAD_FRAME);
  EXPECT(cat(ok, ok), PROTO_EBAD_FRAME); /* two frames in one message */
  EXPECT(cat(frame_of(PROTO_PUSH), H("ff ff")), PROTO_EBAD_FRAME);
}

static void test_floats_ext_and_unknown_keys(void) {
  setup();
  /* at unknown keys, anything well formed is skipped */
  EXPECT(H("84 a1 74 09 a1 6e 01 a1 66 ca 3f c0 00 00 a1 67 cb 3f f8 00 00 00 "
           "00 00 00"),
         0);
  EXPECT(H("84 a1 74 09 a1 6e 01 a1 65 d6 ff 00 00 00 01 a1 62 c4 02 00 01"),
         0);
  EXPECT(H("84 a1 74 09 a1 6e 01 a1 65 c7 03 05 01 02 03 a1 62 c0"), 0);
  /* maps with non-string keys under an unknown key are skipped too */
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 7a 82 01 02 c0 c3"), 0);
  /* but the frame's own keys must be strings */
  EXPECT(H("83 a1 74 09 a1 6e 01 01 02"), PROTO_EBAD_FIELD);
  EXPECT(H("83 a1 74 09 a1 6e 01 c4 01 6e 02"), PROTO_EBAD_FIELD);
  /* at known keys floats and ext are wrong types */
  EXPECT(H("82 a1 74 09 a1 6e ca 3f 80 00 00"), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 09 a1 6e cb 3f f0 00 00 00 00 00 00"), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 09 a1 6e d4 00 01"), PROTO_EBAD_FIELD);
  /* known keys may not repeat */
  EXPECT(H("83 a1 74 09 a1 6e 01 a1 6e 02"), PROTO_EBAD_FIELD);
  EXPECT(H("84 a1 74 05 a3 63 75 72 01 a3 6c 69 6d 05 a3 6c 69 6d 05"),
         PROTO_EBAD_FIELD);
  /* unknown keys inside an op and a reject are skipped; non-string keys
   * there are refused */
  {
    blob_t op = map_of(op_push, N(op_push));
    size_t start = pool_n;
    pool_write(NULL, "\x8a", 1);
    pool_write(NULL, (const char *)op.p + 1, op.n - 1);
    pool_write(NULL, "\xa3zzz\x92\xca\x00\x00\x00\x00\xc0", 11);
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(blob_from(start), 1)),
           0);
    start = pool_n;
    pool_write(NULL, "\x8a", 1);
    pool_write(NULL, (const char *)op.p + 1, op.n - 1);
    pool_write(NULL, "\x07\x07", 2);
    EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2, ARR(blob_from(start), 1)),
           PROTO_EBAD_FIELD);
    EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 2,
                    H("91 84 a1 73 01 a1 63 14 a1 6d a0 a2 7a 7a 80")),
           0);
    EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 2,
                    H("91 83 a1 73 01 a1 63 14 c0 c0")),
           PROTO_EBAD_FIELD);
  }
}

static void test_negative_where_unsigned(void) {
  setup();
  EXPECT(H("82 a1 74 09 a1 6e ff"), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 09 a1 6e d0 80"), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 09 a1 6e d3 ff ff ff ff ff ff ff ff"), PROTO_EBAD_FIELD);
  EXPECT(H("82 a1 74 05 a3 63 75 72 e0"), PROTO_EBAD_FIELD);
  /* a signed encoding of a non-negative value is fine */
  EXPECT(H("82 a1 74 09 a1 6e d1 00 05"), 0);
  EXPECT(H("82 a1 74 05 a3 63 75 72 d2 00 00 00 28"), 0);
  /* and an int key takes negatives */
  EXPECT(map_with(tmpl[PROTO_HELLO].kvs, 10, -1, 9, I(INT64_MIN)), 0);
}

static void test_frame_size(void) {
  size_t n = PROTO_MAX_FRAME_BYTES + 1;
  uint8_t *big = malloc(n);
  proto_frame_t *f = NULL;
  const char head[] = "\x83\xa1t\x09\xa1n\x01\xa1z\xc6"; /* ..., "z": bin32 */
  size_t hl = sizeof head - 1;
  uint32_t body;

  CHECK(big != NULL);
  memcpy(big, head, hl);
  body = (uint32_t)(n - hl - 4);
  big[hl] = (uint8_t)(body >> 24);
  big[hl + 1] = (uint8_t)(body >> 16);
  big[hl + 2] = (uint8_t)(body >> 8);
  big[hl + 3] = (uint8_t)body;
  memset(big + hl + 4, 0, body);
  CHECK_EQ_INT(proto_decode(big, n, &f), PROTO_ETOO_LARGE);
  CHECK(f == NULL);
  /* one byte less fits */
  body--;
  big[hl + 3] = (uint8_t)body;
  big[hl + 2] = (uint8_t)(body >> 8);
  big[hl + 1] = (uint8_t)(body >> 16);
  CHECK_EQ_INT(proto_decode(big, n - 1, &f), 0);
  CHECK_EQ_INT(f->type, PROTO_PING);
  proto_frame_free(f);
  free(big);
}

/* An error in one op after others decoded fine must free what was built
 * (ASan's leak check is the judge). */
static void test_late_errors_free(void) {
  blob_t good, bad;
  setup();
  good = map_of(op_push, N(op_push));
  bad = map_with(op_push, N(op_push), -1, 0, U(0));
  EXPECT(map_with(tmpl[PROTO_PUSH].kvs, 3, -1, 2,
                  cat(H("93"), cat(good, cat(good, bad)))),
         PROTO_EBAD_FIELD);
  EXPECT(map_with(tmpl[PROTO_ACK].kvs, 3, -1, 2,
                  cat(H("92"), cat(map_of(reject, 3), H("80")))),
         PROTO_EBAD_FIELD);
}

int main(void) {
  test_templates_are_valid();
  test_truncated_everywhere();
  test_not_a_map();
  test_type_key();
  test_wrong_types();
  test_missing_keys();
  test_out_of_range();
  test_string_limits();
  test_counts();
  test_field_ids_and_values();
  test_hostile_counts();
  test_depth();
  test_trailing();
  test_floats_ext_and_unknown_keys();
  test_negative_where_unsigned();
  test_frame_size();
  test_late_errors_free();
  return 0;
}
