/* frame.c — the turf.v1 wire format: encoding with msgpack-c's packer and a
 * strict msgpack reader of our own for decoding (see frame.h, PROTOCOL.md).
 *
 * Owns the memory of decoded frames: one block holding the frame, the list of
 * arrays it allocated and a copy of the input that all decoded strings point
 * into; proto_frame_free releases it all.
 *
 * Each frame type's keys are described once, in a table (frame__keys_*), and
 * both directions are driven by it, so the encoder refuses exactly what the
 * decoder would refuse and writes optional keys only when they differ from
 * the default the decoder fills in. That is what makes round trips exact.
 *
 * Decoding is two passes over the input. The first (frame__scan) checks that
 * the bytes are one well-formed msgpack map, within the nesting limit, with
 * no trailing bytes, and finds "t"; it allocates nothing. The second decodes
 * the keys of that type from the frame's own copy of the input. Every length
 * and count is checked against the bytes that remain before it is trusted
 * (each element needs at least one byte), and against the limits in proto.h
 * before anything is allocated, so a hostile count of 4 billion costs
 * nothing. msgpack_unpack is not used because it allocates by declared count. */
#include "frame.h"
#include "zone.h"

#include <msgpack.h>

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reader */

typedef enum {
  FRAME__NIL,
  FRAME__BOOL,
  FRAME__UINT,  /* any integer >= 0, whatever its encoding */
  FRAME__NINT,  /* any integer < 0 */
  FRAME__FLOAT,
  FRAME__STR,
  FRAME__BIN,
  FRAME__EXT,
  FRAME__ARRAY,
  FRAME__MAP,
} frame__kind_t;

typedef struct {
  const uint8_t *p;   /* next byte to read */
  const uint8_t *end; /* one past the last byte */
} frame__rd_t;

/* One msgpack header. Scalars (including str/bin/ext/float bodies) are fully
 * consumed by frame__next; for arrays and maps only the header is, and the
 * count has been checked against the bytes that remain. */
typedef struct {
  frame__kind_t kind;
  uint64_t u;          /* UINT: value; BOOL: 0/1; STR/BIN/EXT: body length
                          (bytes); ARRAY: elements; MAP: pairs */
  int64_t i;           /* NINT: value */
  const uint8_t *body; /* STR/BIN/EXT: first byte of the body */
} frame__item_t;

static size_t frame__left(const frame__rd_t *rd) {
  return (size_t)(rd->end - rd->p);
}

/* Reads an n-byte big-endian unsigned integer; the caller checked n bytes
 * remain. */
static uint64_t frame__be(frame__rd_t *rd, unsigned n) {
  uint64_t v = 0;
  unsigned k;
  for (k = 0; k < n; k++)
    v = (v << 8) | rd->p[k];
  rd->p += n;
  return v;
}

static int frame__next(frame__rd_t *rd, frame__item_t *it) {
  uint8_t b;
  unsigned width = 0; /* bytes of the length or value after the tag */
  uint64_t v;

  if (rd->p >= rd->end)
    return PROTO_EBAD_FRAME;
  b = *rd->p++;
  it->body = NULL;
  it->u = 0;
  it->i = 0;

  if (b <= 0x7f) {
    it->kind = FRAME__UINT;
    it->u = b;
    return 0;
  }
  if (b >= 0xe0) {
    it->kind = FRAME__NINT;
    it->i = (int64_t)b - 256;
    return 0;
  }
  if (b >= 0xa0 && b <= 0xbf) {
    it->kind = FRAME__STR;
    v = b & 0x1f;
    goto body;
  }
  if (b >= 0x90 && b <= 0x9f) {
    it->kind = FRAME__ARRAY;
    v = b & 0x0f;
    goto container;
  }
  if (b >= 0x80 && b <= 0x8f) {
    it->kind = FRAME__MAP;
    v = b & 0x0f;
    goto container;
  }

  switch (b) {
  case 0xc0:
    it->kind = FRAME__NIL;
    return 0;
  case 0xc2:
  case 0xc3:
    it->kind = FRAME__BOOL;
    it->u = b == 0xc3;
    return 0;
  case 0xc4:
  case 0xc5:
  case 0xc6:
    it->kind = FRAME__BIN;
    width = 1u << (b - 0xc4);
    break;
  case 0xc7:
  case 0xc8:
  case 0xc9:
    it->kind = FRAME__EXT;
    width = 1u << (b - 0xc7);
    break;
  case 0xca:
  case 0xcb:
    it->kind = FRAME__FLOAT;
    v = b == 0xca ? 4 : 8;
    goto body;
  case 0xcc:
  case 0xcd:
  case 0xce:
  case 0xcf:
    width = 1u << (b - 0xcc);
    if (frame__left(rd) < width)
      return PROTO_EBAD_FRAME;
    it->kind = FRAME__UINT;
    it->u = frame__be(rd, width);
    return 0;
  case 0xd0:
  case 0xd1:
  case 0xd2:
  case 0xd3:
    width = 1u << (b - 0xd0);
    if (frame__left(rd) < width)
      return PROTO_EBAD_FRAME;
    v = frame__be(rd, width);
    if (width < 8 && (v >> (8 * width - 1)) != 0)
      v |= UINT64_MAX << (8 * width); /* sign-extend */
    if ((v >> 63) == 0) {
      /* a signed encoding of a non-negative value is just an integer */
      it->kind = FRAME__UINT;
      it->u = v;
    } else {
      it->kind = FRAME__NINT;
      memcpy(&it->i, &v, sizeof v); /* two's complement, no overflow */
    }
    return 0;
  case 0xd4:
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    it->kind = FRAME__EXT;
    v = (uint64_t)1 << (b - 0xd4);
    goto ext_body;
  case 0xd9:
  case 0xda:
  case 0xdb:
    it->kind = FRAME__STR;
    width = 1u << (b - 0xd9);
    break;
  case 0xdc:
  case 0xdd:
    it->kind = FRAME__ARRAY;
    width = b == 0xdc ? 2 : 4;
    if (frame__left(rd) < width)
      return PROTO_EBAD_FRAME;
    v = frame__be(rd, width);
    goto container;
  case 0xde:
  case 0xdf:
    it->kind = FRAME__MAP;
    width = b == 0xde ? 2 : 4;
    if (frame__left(rd) < width)
      return PROTO_EBAD_FRAME;
    v = frame__be(rd, width);
    goto container;
  default: /* 0xc1 is never used */
    return PROTO_EBAD_FRAME;
  }

  /* str8/16/32, bin8/16/32, ext8/16/32: a length of `width` bytes. */
  if (frame__left(rd) < width)
    return PROTO_EBAD_FRAME;
  v = frame__be(rd, width);
  if (it->kind == FRAME__EXT)
    goto ext_body;
  goto body;

ext_body:
  /* the one-byte ext type precedes the data */
  if (frame__left(rd) < 1)
    return PROTO_EBAD_FRAME;
  rd->p++;
body:
  if (frame__left(rd) < v)
    return PROTO_EBAD_FRAME;
  it->u = v;
  it->body = rd->p;
  rd->p += v;
  return 0;

container:
  /* Every element takes at least one byte: a count the rest of the input
   * cannot hold is a truncated frame, whatever the limits say. */
  if (it->kind == FRAME__MAP ? v > frame__left(rd) / 2 : v > frame__left(rd))
    return PROTO_EBAD_FRAME;
  it->u = v;
  return 0;
}

static int frame__skip(frame__rd_t *rd, int depth);

/* Skips what follows an already read header: the children of an array or
 * map. depth is the nesting level of that container (the top map is 1). */
static int frame__skip_rest(frame__rd_t *rd, const frame__item_t *it,
                            int depth) {
  uint64_t n, k;
  int r;

  if (it->kind != FRAME__ARRAY && it->kind != FRAME__MAP)
    return 0;
  if (depth > PROTO_MAX_DEPTH)
    return PROTO_ETOO_LARGE;
  n = it->kind == FRAME__MAP ? it->u * 2 : it->u;
  for (k = 0; k < n; k++)
    if ((r = frame__skip(rd, depth + 1)) != 0)
      return r;
  return 0;
}

/* Skips one value whose nesting level would be depth. Recursion is bounded by
 * PROTO_MAX_DEPTH and the work by the input length. */
static int frame__skip(frame__rd_t *rd, int depth) {
  frame__item_t it;
  int r = frame__next(rd, &it);
  return r != 0 ? r : frame__skip_rest(rd, &it, depth);
}

static bool frame__str_is(const frame__item_t *it, const char *name) {
  size_t n = strlen(name);
  return it->kind == FRAME__STR && it->u == n && memcmp(it->body, name, n) == 0;
}

/* Reads one op fields map: 0..PROTO_MAX_FIELDS_PER_OP pairs of field id
 * (1..255) and value (nil, bool, int64, str). With out == NULL it only
 * validates; otherwise it fills out[0..*n), strings pointing into the input.
 * Repeated ids are left to schema_validate_op. */
static int frame__fields(frame__rd_t *rd, proto_field_t *out, uint32_t *n) {
  frame__item_t it;
  uint64_t k;
  int r;

  if ((r = frame__next(rd, &it)) != 0)
    return r;
  if (it.kind != FRAME__MAP)
    return PROTO_EBAD_FIELD;
  if (it.u > PROTO_MAX_FIELDS_PER_OP)
    return PROTO_ETOO_LARGE;
  *n = (uint32_t)it.u;
  for (k = 0; k < *n; k++) {
    proto_value_t v;
    uint8_t id;

    if ((r = frame__next(rd, &it)) != 0)
      return r;
    if (it.kind != FRAME__UINT || it.u < 1 || it.u > 255)
      return PROTO_EBAD_FIELD;
    id = (uint8_t)it.u;
    if ((r = frame__next(rd, &it)) != 0)
      return r;
    switch (it.kind) {
    case FRAME__NIL:
      v.type = PROTO_NIL;
      v.u.i = 0;
      break;
    case FRAME__BOOL:
      v.type = PROTO_BOOL;
      v.u.b = it.u != 0;
      break;
    case FRAME__UINT:
      if (it.u > INT64_MAX)
        return PROTO_EBAD_FIELD;
      v.type = PROTO_INT;
      v.u.i = (int64_t)it.u;
      break;
    case FRAME__NINT:
      v.type = PROTO_INT;
      v.u.i = it.i;
      break;
    case FRAME__STR:
      if (it.u > PROTO_MAX_TEXT_BYTES)
        return PROTO_ETOO_LARGE;
      v.type = PROTO_STR;
      v.u.s.ptr = (const char *)it.body;
      v.u.s.len = (uint32_t)it.u;
      break;
    default:
      return PROTO_EBAD_FIELD;
    }
    if (out != NULL) {
      out[k].id = id;
      out[k].value = v;
    }
  }
  return 0;
}

/* ------------------------------------------------------------ key tables */

typedef enum {
  FRAME__K_U8,      /* uint8_t, range min..max, else BAD_FIELD */
  FRAME__K_U32,     /* uint32_t, range min..max, else BAD_FIELD */
  FRAME__K_U64,     /* uint64_t, range min..max, else BAD_FIELD */
  FRAME__K_LIMIT,   /* uint32_t pull limit: 1..max (TOO_LARGE above), absent
                       means FRAME__PULL_DEFAULT; encoded only when != 0 */
  FRAME__K_I64,     /* int64_t */
  FRAME__K_CODE,    /* int32_t wire error code, 1..INT32_MAX */
  FRAME__K_BOOL,    /* bool */
  FRAME__K_STR,     /* proto_str_t, byte length min..max (TOO_LARGE above),
                       text (proto_text_valid), else BAD_FIELD */
  FRAME__K_ID,      /* the same, an id (proto_id_valid) */
  FRAME__K_DEVICE,  /* the same, a device id a client may take: not reserved
                       (proto_device_id_reserved) */
  FRAME__K_KEY,     /* a record key: byte length only; schema_validate_op
                       refuses a bad one as that op's INVALID_OP, so one bad
                       op does not refuse the ops around it */
  FRAME__K_FIELDS,  /* the op itself: fields, nfields, fields_raw */
  FRAME__K_OPS_PUSH,    /* proto_op_t * at off, uint32_t count at count_off */
  FRAME__K_OPS_CHANGES, /* same, ops as sent by the server */
  FRAME__K_RANGES,  /* proto_range_t * and count */
  FRAME__K_REJECTS, /* proto_reject_t * and count */
} frame__ktype_t;

typedef struct {
  const char *name;
  frame__ktype_t type;
  bool required; /* else optional: absent means zero/empty/false, and the
                    encoder omits it when it holds that value */
  size_t off;       /* of the member in its struct */
  size_t count_off; /* arrays: of the uint32_t element count */
  uint64_t min, max;
} frame__key_t;

#define FRAME__PULL_DEFAULT 500

#define K(name, type, req, st, member, min, max) \
  {(name), (type), (req), offsetof(st, member), 0, (min), (max)}
#define KA(name, type, req, st, member, count, min, max) \
  {(name), (type), (req), offsetof(st, member), offsetof(st, count), (min), (max)}
#define ID PROTO_MAX_ID_BYTES
#define TEXT PROTO_MAX_TEXT_BYTES
#define OPS PROTO_MAX_OPS_PER_FRAME

/* Ops in push frames: "d" may be left out (it is the connection's device),
 * "n" is not known yet. */
static const frame__key_t frame__keys_op_push[] = {
    K("d", FRAME__K_ID, false, proto_op_t, device, 0, ID),
    K("s", FRAME__K_U64, true, proto_op_t, seq, 1, UINT64_MAX),
    K("n", FRAME__K_U64, false, proto_op_t, server_seq, 0, UINT64_MAX),
    K("h", FRAME__K_U64, true, proto_op_t, hlc, 0, UINT64_MAX),
    K("y", FRAME__K_U8, true, proto_op_t, type, 1, 255),
    K("k", FRAME__K_KEY, true, proto_op_t, key, 1, ID),
    K("k2", FRAME__K_KEY, false, proto_op_t, key2, 0, ID),
    K("b", FRAME__K_U64, false, proto_op_t, base, 0, UINT64_MAX),
    K("f", FRAME__K_FIELDS, true, proto_op_t, fields, 0, PROTO_MAX_FIELDS_PER_OP),
};

/* Ops in changes and live frames: committed, so device and server_seq are
 * always known. */
static const frame__key_t frame__keys_op_changes[] = {
    K("d", FRAME__K_ID, true, proto_op_t, device, 1, ID),
    K("s", FRAME__K_U64, true, proto_op_t, seq, 1, UINT64_MAX),
    K("n", FRAME__K_U64, true, proto_op_t, server_seq, 1, UINT64_MAX),
    K("h", FRAME__K_U64, true, proto_op_t, hlc, 0, UINT64_MAX),
    K("y", FRAME__K_U8, true, proto_op_t, type, 1, 255),
    K("k", FRAME__K_KEY, true, proto_op_t, key, 1, ID),
    K("k2", FRAME__K_KEY, false, proto_op_t, key2, 0, ID),
    K("b", FRAME__K_U64, false, proto_op_t, base, 0, UINT64_MAX),
    K("f", FRAME__K_FIELDS, true, proto_op_t, fields, 0, PROTO_MAX_FIELDS_PER_OP),
};

static const frame__key_t frame__keys_reject[] = {
    K("s", FRAME__K_U64, true, proto_reject_t, seq, 1, UINT64_MAX),
    K("c", FRAME__K_CODE, true, proto_reject_t, code, 1, INT32_MAX),
    K("m", FRAME__K_STR, false, proto_reject_t, message, 0, TEXT),
};

static const frame__key_t frame__keys_hello[] = {
    K("v", FRAME__K_U32, true, proto_hello_t, version, 0, UINT32_MAX),
    K("app", FRAME__K_STR, false, proto_hello_t, app, 0, ID),
    K("dev", FRAME__K_DEVICE, true, proto_hello_t, device, 1, ID),
    K("name", FRAME__K_STR, false, proto_hello_t, name, 0, ID),
    K("tok", FRAME__K_ID, false, proto_hello_t, token, 0, ID),
    K("code", FRAME__K_ID, false, proto_hello_t, code, 0, ID),
    K("cur", FRAME__K_U64, false, proto_hello_t, cursor, 0, UINT64_MAX),
    K("out", FRAME__K_U64, false, proto_hello_t, outbox, 0, PROTO_MAX_OUTBOX),
    K("now", FRAME__K_I64, false, proto_hello_t, now_ms, 0, 0),
    K("st", FRAME__K_U32, false, proto_hello_t, storage, 0, PROTO_STORAGE_BEST_EFFORT),
    K("su", FRAME__K_U32, false, proto_hello_t, storage_used, 0, 100),
};

static const frame__key_t frame__keys_welcome[] = {
    K("v", FRAME__K_U32, true, proto_welcome_t, version, 0, UINT32_MAX),
    K("now", FRAME__K_I64, true, proto_welcome_t, now_ms, 0, 0),
    K("off", FRAME__K_I64, true, proto_welcome_t, offset_ms, 0, 0),
    K("head", FRAME__K_U64, true, proto_welcome_t, head, 0, UINT64_MAX),
    K("last", FRAME__K_U64, true, proto_welcome_t, last_seq, 0, UINT64_MAX),
    K("tok", FRAME__K_ID, false, proto_welcome_t, token, 0, ID),
    K("org", FRAME__K_STR, false, proto_welcome_t, org, 0, TEXT),
    K("rs", FRAME__K_BOOL, false, proto_welcome_t, resync, 0, 0),
    K("tz", FRAME__K_STR, false, proto_welcome_t, tz, 1, ZONE_NAME_MAX),
};

static const frame__key_t frame__keys_push[] = {
    K("out", FRAME__K_U64, false, proto_push_t, outbox, 0, PROTO_MAX_OUTBOX),
    KA("ops", FRAME__K_OPS_PUSH, true, proto_push_t, ops, nops, 1, OPS),
};

static const frame__key_t frame__keys_ack[] = {
    KA("a", FRAME__K_RANGES, false, proto_ack_t, ranges, nranges, 0, OPS),
    KA("r", FRAME__K_REJECTS, false, proto_ack_t, rejects, nrejects, 0, OPS),
};

static const frame__key_t frame__keys_pull[] = {
    K("cur", FRAME__K_U64, true, proto_pull_t, cursor, 0, UINT64_MAX),
    K("lim", FRAME__K_LIMIT, false, proto_pull_t, limit, 1,
      PROTO_MAX_PULL_LIMIT),
};

static const frame__key_t frame__keys_changes[] = {
    K("from", FRAME__K_U64, true, proto_changes_t, from, 0, UINT64_MAX),
    K("cur", FRAME__K_U64, true, proto_changes_t, cursor, 0, UINT64_MAX),
    K("more", FRAME__K_BOOL, true, proto_changes_t, more, 0, 0),
    KA("ops", FRAME__K_OPS_CHANGES, true, proto_changes_t, ops, nops, 0, OPS),
};

static const frame__key_t frame__keys_error[] = {
    K("c", FRAME__K_CODE, true, proto_error_t, code, 1, INT32_MAX),
    K("m", FRAME__K_STR, false, proto_error_t, message, 0, TEXT),
    K("x", FRAME__K_BOOL, false, proto_error_t, close, 0, 0),
};

static const frame__key_t frame__keys_ping[] = {
    K("n", FRAME__K_U64, true, proto_ping_t, nonce, 0, UINT64_MAX),
};

#undef K
#undef KA
#undef ID
#undef TEXT
#undef OPS

typedef struct {
  const frame__key_t *keys;
  uint32_t nkeys;
} frame__table_t;

#define FRAME__T(a) {(a), (uint32_t)(sizeof(a) / sizeof((a)[0]))}
#define FRAME__TYPE_MAX PROTO_PONG
/* Indexed by frame type; ping and pong share their single key. */
static const frame__table_t frame__tables[FRAME__TYPE_MAX + 1] = {
    [PROTO_HELLO] = FRAME__T(frame__keys_hello),
    [PROTO_WELCOME] = FRAME__T(frame__keys_welcome),
    [PROTO_PUSH] = FRAME__T(frame__keys_push),
    [PROTO_ACK] = FRAME__T(frame__keys_ack),
    [PROTO_PULL] = FRAME__T(frame__keys_pull),
    [PROTO_CHANGES] = FRAME__T(frame__keys_changes),
    [PROTO_LIVE] = FRAME__T(frame__keys_changes),
    [PROTO_ERROR] = FRAME__T(frame__keys_error),
    [PROTO_PING] = FRAME__T(frame__keys_ping),
    [PROTO_PONG] = FRAME__T(frame__keys_ping),
};
static const frame__table_t frame__table_op_push = FRAME__T(frame__keys_op_push);
static const frame__table_t frame__table_op_changes =
    FRAME__T(frame__keys_op_changes);
static const frame__table_t frame__table_reject = FRAME__T(frame__keys_reject);
#undef FRAME__T

/* frame__decode_map spots repeated keys with a 32-bit mask; the largest
 * table (hello) must fit it. */
_Static_assert(sizeof(frame__keys_hello) / sizeof(frame__key_t) <= 32,
               "seen mask");

/* What a string key may hold, beyond its length (section 5.1). */
static int frame__str_content(const frame__key_t *key, proto_str_t s) {
  switch (key->type) {
  case FRAME__K_ID:
    return proto_id_valid(s) ? 0 : PROTO_EBAD_FIELD;
  case FRAME__K_DEVICE:
    return proto_id_valid(s) && !proto_device_id_reserved(s) ? 0 : PROTO_EBAD_FIELD;
  case FRAME__K_KEY:
    return 0;
  default:
    return proto_text_valid(s, true) ? 0 : PROTO_EBAD_FIELD;
  }
}

/* ---------------------------------------------------------------- decoder */

/* Arrays a decoded frame owns besides its block. Each is allocated at most
 * once per frame because a known key may appear only once. */
typedef struct {
  proto_op_t *ops;
  proto_field_t *fields;
  proto_range_t *ranges;
  proto_reject_t *rejects;
} frame__mem_t;

typedef struct {
  proto_frame_t frame; /* first, so the frame pointer is the block pointer */
  frame__mem_t mem;
  uint8_t copy[];      /* the input; every decoded string points into it */
} frame__block_t;

typedef struct {
  frame__rd_t rd;
  frame__mem_t *mem;
} frame__dec_t;

/* First pass: one well-formed map, nothing after it, nesting within
 * PROTO_MAX_DEPTH, and a single integer "t" naming a known frame type.
 * Allocates nothing. */
static int frame__scan(const uint8_t *buf, size_t len, proto_frame_type_t *type) {
  frame__rd_t rd = {buf, buf + len};
  frame__item_t it;
  uint64_t k;
  int r, t_count = 0;
  bool t_int = false;
  int64_t t = 0;

  if ((r = frame__next(&rd, &it)) != 0)
    return r;
  if (it.kind != FRAME__MAP)
    return PROTO_EBAD_FRAME;
  for (k = it.u; k > 0; k--) {
    frame__item_t key, val;
    if ((r = frame__next(&rd, &key)) != 0 ||
        (r = frame__skip_rest(&rd, &key, 2)) != 0)
      return r;
    if ((r = frame__next(&rd, &val)) != 0 ||
        (r = frame__skip_rest(&rd, &val, 2)) != 0)
      return r;
    if (frame__str_is(&key, "t")) {
      t_count++;
      t_int = val.kind == FRAME__UINT || val.kind == FRAME__NINT;
      /* any value above the last type is as unknown as a huge one */
      t = val.kind == FRAME__UINT
              ? (val.u > FRAME__TYPE_MAX ? -1 : (int64_t)val.u)
              : -1;
    }
  }
  if (rd.p != rd.end)
    return PROTO_EBAD_FRAME;
  if (t_count != 1 || !t_int)
    return PROTO_EBAD_FIELD;
  if (t < 1 || t > FRAME__TYPE_MAX)
    return PROTO_EUNKNOWN_TYPE;
  *type = (proto_frame_type_t)t;
  return 0;
}

static int frame__decode_map(frame__dec_t *d, const frame__table_t *table,
                             void *base, int depth);

static int frame__decode_uint(frame__dec_t *d, const frame__key_t *key,
                              uint64_t *out) {
  frame__item_t it;
  int r = frame__next(&d->rd, &it);
  if (r != 0)
    return r;
  if (it.kind != FRAME__UINT || it.u < key->min || it.u > key->max)
    return PROTO_EBAD_FIELD;
  *out = it.u;
  return 0;
}

/* Decodes the array of ops at key into freshly allocated ops, then gives all
 * their fields one shared array. */
static int frame__decode_ops(frame__dec_t *d, const frame__key_t *key,
                             void *base, int depth) {
  const frame__table_t *table = key->type == FRAME__K_OPS_PUSH
                                    ? &frame__table_op_push
                                    : &frame__table_op_changes;
  frame__item_t it;
  proto_op_t *ops = NULL;
  proto_field_t *next_field;
  size_t total = 0;
  uint32_t n, i;
  int r;

  if ((r = frame__next(&d->rd, &it)) != 0)
    return r;
  if (it.kind != FRAME__ARRAY || it.u < key->min)
    return PROTO_EBAD_FIELD;
  if (it.u > key->max)
    return PROTO_ETOO_LARGE;
  n = (uint32_t)it.u;
  if (n > 0) {
    assert(d->mem->ops == NULL);
    ops = d->mem->ops = calloc(n, sizeof(*ops));
    if (ops == NULL)
      return PROTO_ENOMEM;
  }
  *(proto_op_t **)((char *)base + key->off) = ops;
  *(uint32_t *)((char *)base + key->count_off) = n;

  for (i = 0; i < n; i++) {
    if ((r = frame__decode_map(d, table, &ops[i], depth + 1)) != 0)
      return r;
    total += ops[i].nfields;
  }
  if (total == 0)
    return 0;

  /* Field lists were validated while decoding; now read them again from
   * fields_raw into one array sized by the real total. */
  assert(d->mem->fields == NULL);
  next_field = d->mem->fields = calloc(total, sizeof(proto_field_t));
  if (next_field == NULL)
    return PROTO_ENOMEM;
  for (i = 0; i < n; i++) {
    frame__rd_t rd = {(const uint8_t *)ops[i].fields_raw.ptr,
                      (const uint8_t *)ops[i].fields_raw.ptr +
                          ops[i].fields_raw.len};
    uint32_t count;
    if (ops[i].nfields == 0)
      continue;
    if ((r = frame__fields(&rd, next_field, &count)) != 0)
      return r;
    assert(count == ops[i].nfields);
    ops[i].fields = next_field;
    next_field += count;
  }
  return 0;
}

static int frame__decode_ranges(frame__dec_t *d, const frame__key_t *key,
                                void *base) {
  frame__item_t it;
  proto_range_t *ranges = NULL;
  uint32_t n, i;
  int r;

  if ((r = frame__next(&d->rd, &it)) != 0)
    return r;
  if (it.kind != FRAME__ARRAY || it.u < key->min)
    return PROTO_EBAD_FIELD;
  if (it.u > key->max)
    return PROTO_ETOO_LARGE;
  n = (uint32_t)it.u;
  if (n > 0) {
    assert(d->mem->ranges == NULL);
    ranges = d->mem->ranges = calloc(n, sizeof(*ranges));
    if (ranges == NULL)
      return PROTO_ENOMEM;
  }
  *(proto_range_t **)((char *)base + key->off) = ranges;
  *(uint32_t *)((char *)base + key->count_off) = n;

  for (i = 0; i < n; i++) {
    frame__item_t a, b;
    if ((r = frame__next(&d->rd, &it)) != 0)
      return r;
    if (it.kind != FRAME__ARRAY || it.u != 2)
      return PROTO_EBAD_FIELD;
    if ((r = frame__next(&d->rd, &a)) != 0 ||
        (r = frame__next(&d->rd, &b)) != 0)
      return r;
    if (a.kind != FRAME__UINT || b.kind != FRAME__UINT || a.u < 1 || a.u > b.u)
      return PROTO_EBAD_FIELD;
    ranges[i].from = a.u;
    ranges[i].to = b.u;
  }
  return 0;
}

static int frame__decode_rejects(frame__dec_t *d, const frame__key_t *key,
                                 void *base, int depth) {
  frame__item_t it;
  proto_reject_t *rejects = NULL;
  uint32_t n, i;
  int r;

  if ((r = frame__next(&d->rd, &it)) != 0)
    return r;
  if (it.kind != FRAME__ARRAY || it.u < key->min)
    return PROTO_EBAD_FIELD;
  if (it.u > key->max)
    return PROTO_ETOO_LARGE;
  n = (uint32_t)it.u;
  if (n > 0) {
    assert(d->mem->rejects == NULL);
    rejects = d->mem->rejects = calloc(n, sizeof(*rejects));
    if (rejects == NULL)
      return PROTO_ENOMEM;
  }
  *(proto_reject_t **)((char *)base + key->off) = rejects;
  *(uint32_t *)((char *)base + key->count_off) = n;

  for (i = 0; i < n; i++)
    if ((r = frame__decode_map(d, &frame__table_reject, &rejects[i],
                               depth + 1)) != 0)
      return r;
  return 0;
}

/* Decodes the value of one known key into base + key->off. depth is the
 * nesting level of the map holding the key. */
static int frame__decode_value(frame__dec_t *d, const frame__key_t *key,
                               void *base, int depth) {
  void *dst = (char *)base + key->off;
  frame__item_t it;
  uint64_t u;
  uint32_t n;
  int r;

  switch (key->type) {
  case FRAME__K_U8:
    if ((r = frame__decode_uint(d, key, &u)) != 0)
      return r;
    *(uint8_t *)dst = (uint8_t)u;
    return 0;
  case FRAME__K_U32:
    if ((r = frame__decode_uint(d, key, &u)) != 0)
      return r;
    *(uint32_t *)dst = (uint32_t)u;
    return 0;
  case FRAME__K_U64:
    if ((r = frame__decode_uint(d, key, &u)) != 0)
      return r;
    *(uint64_t *)dst = u;
    return 0;
  case FRAME__K_LIMIT:
    if ((r = frame__next(&d->rd, &it)) != 0)
      return r;
    if (it.kind != FRAME__UINT || it.u < key->min)
      return PROTO_EBAD_FIELD;
    if (it.u > key->max)
      return PROTO_ETOO_LARGE;
    *(uint32_t *)dst = (uint32_t)it.u;
    return 0;
  case FRAME__K_I64:
    if ((r = frame__next(&d->rd, &it)) != 0)
      return r;
    if (it.kind == FRAME__NINT)
      *(int64_t *)dst = it.i;
    else if (it.kind == FRAME__UINT && it.u <= INT64_MAX)
      *(int64_t *)dst = (int64_t)it.u;
    else
      return PROTO_EBAD_FIELD;
    return 0;
  case FRAME__K_CODE:
    if ((r = frame__next(&d->rd, &it)) != 0)
      return r;
    if (it.kind != FRAME__UINT || it.u < key->min || it.u > key->max)
      return PROTO_EBAD_FIELD;
    *(int32_t *)dst = (int32_t)it.u;
    return 0;
  case FRAME__K_BOOL:
    if ((r = frame__next(&d->rd, &it)) != 0)
      return r;
    if (it.kind != FRAME__BOOL)
      return PROTO_EBAD_FIELD;
    *(bool *)dst = it.u != 0;
    return 0;
  case FRAME__K_STR:
  case FRAME__K_ID:
  case FRAME__K_DEVICE:
  case FRAME__K_KEY:
    if ((r = frame__next(&d->rd, &it)) != 0)
      return r;
    if (it.kind != FRAME__STR || it.u < key->min)
      return PROTO_EBAD_FIELD;
    if (it.u > key->max)
      return PROTO_ETOO_LARGE;
    ((proto_str_t *)dst)->ptr = (const char *)it.body;
    ((proto_str_t *)dst)->len = (uint32_t)it.u;
    return frame__str_content(key, *(proto_str_t *)dst);
  case FRAME__K_FIELDS: {
    proto_op_t *op = base;
    const uint8_t *start = d->rd.p;
    if ((r = frame__fields(&d->rd, NULL, &n)) != 0)
      return r;
    op->nfields = n;
    op->fields = NULL; /* filled by frame__decode_ops once all are counted */
    op->fields_raw.ptr = (const char *)start;
    op->fields_raw.len = (uint32_t)(d->rd.p - start);
    return 0;
  }
  case FRAME__K_OPS_PUSH:
  case FRAME__K_OPS_CHANGES:
    return frame__decode_ops(d, key, base, depth + 1);
  case FRAME__K_RANGES:
    return frame__decode_ranges(d, key, base);
  case FRAME__K_REJECTS:
    return frame__decode_rejects(d, key, base, depth + 1);
  }
  return PROTO_EINTERNAL;
}

/* Decodes a map of string keys described by table into base. depth is the
 * nesting level of this map (the frame itself is 1). Unknown keys are
 * skipped, known ones may appear once. */
static int frame__decode_map(frame__dec_t *d, const frame__table_t *table,
                             void *base, int depth) {
  frame__item_t it;
  uint32_t seen = 0, j;
  uint64_t k;
  int r;

  if ((r = frame__next(&d->rd, &it)) != 0)
    return r;
  if (it.kind != FRAME__MAP)
    return PROTO_EBAD_FIELD;
  for (k = it.u; k > 0; k--) {
    frame__item_t key;
    if ((r = frame__next(&d->rd, &key)) != 0)
      return r;
    if (key.kind != FRAME__STR)
      return PROTO_EBAD_FIELD;
    for (j = 0; j < table->nkeys; j++)
      if (frame__str_is(&key, table->keys[j].name))
        break;
    if (j == table->nkeys) {
      /* "t" was checked by the scan; everything else unknown is ignored so
       * newer peers can add keys. */
      if ((r = frame__skip(&d->rd, depth + 1)) != 0)
        return r;
      continue;
    }
    if (seen & (UINT32_C(1) << j))
      return PROTO_EBAD_FIELD;
    seen |= UINT32_C(1) << j;
    if ((r = frame__decode_value(d, &table->keys[j], base, depth)) != 0)
      return r;
  }
  for (j = 0; j < table->nkeys; j++) {
    const frame__key_t *key = &table->keys[j];
    if (seen & (UINT32_C(1) << j))
      continue;
    if (key->required)
      return PROTO_EBAD_FIELD;
    if (key->type == FRAME__K_LIMIT)
      *(uint32_t *)((char *)base + key->off) = FRAME__PULL_DEFAULT;
  }
  return 0;
}

int proto_decode(const void *buf, size_t len, proto_frame_t **out) {
  frame__block_t *block;
  frame__dec_t d;
  proto_frame_type_t type = PROTO_HELLO;
  int r;

  assert(out != NULL);
  *out = NULL;
  if (len > PROTO_MAX_FRAME_BYTES)
    return PROTO_ETOO_LARGE;
  if (buf == NULL || len == 0)
    return PROTO_EBAD_FRAME;
  if ((r = frame__scan(buf, len, &type)) != 0)
    return r;

  block = calloc(1, sizeof(*block) + len);
  if (block == NULL)
    return PROTO_ENOMEM;
  memcpy(block->copy, buf, len);
  block->frame.type = type;
  block->frame._mem = &block->mem;

  d.rd.p = block->copy;
  d.rd.end = block->copy + len;
  d.mem = &block->mem;
  r = frame__decode_map(&d, &frame__tables[type], &block->frame.u, 1);
  if (r != 0) {
    proto_frame_free(&block->frame);
    return r;
  }
  assert(d.rd.p == d.rd.end); /* the scan saw the same bytes */
  *out = &block->frame;
  return 0;
}

void proto_frame_free(proto_frame_t *frame) {
  frame__block_t *block = (frame__block_t *)frame;
  if (frame == NULL)
    return;
  assert(frame->_mem == &block->mem);
  free(block->mem.rejects);
  free(block->mem.ranges);
  free(block->mem.fields);
  free(block->mem.ops);
  free(block);
}

/* ----------------------------------------------------------------- buffer */

void proto_buf_init(proto_buf_t *buf, size_t headroom) {
  buf->base = NULL; /* allocated by the first encode */
  buf->head = headroom;
  buf->len = 0;
  buf->cap = 0;
}

void proto_buf_dispose(proto_buf_t *buf) {
  free(buf->base);
  proto_buf_init(buf, buf->head);
}

/* ---------------------------------------------------------------- encoder */

typedef struct {
  proto_buf_t *buf;
  size_t start; /* buf->len before this encoding: restored on error */
  int err;      /* why the write callback refused, for the caller */
  msgpack_packer pk;
  /* Set by proto_encode_changes_raw: the changes ops, already encoded. */
  const void *ops_raw;
  size_t ops_raw_len;
} frame__enc_t;

/* msgpack-c write callback: appends to the proto_buf_t, growing it, and
 * refuses to let one encoding exceed PROTO_MAX_FRAME_BYTES. */
static int frame__write(void *data, const char *p, size_t n) {
  frame__enc_t *e = data;
  proto_buf_t *b = e->buf;

  if (n == 0)
    return 0;
  if (b->len - e->start + n > PROTO_MAX_FRAME_BYTES) {
    e->err = PROTO_ETOO_LARGE;
    return -1;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    uint8_t *base;
    while (cap < b->len + n)
      cap *= 2;
    base = realloc(b->base, b->head + cap);
    if (base == NULL) {
      e->err = PROTO_ENOMEM;
      return -1;
    }
    b->base = base;
    b->cap = cap;
  }
  memcpy(b->base + b->head + b->len, p, n);
  b->len += n;
  return 0;
}

#define FRAME__PACK(e, call)                                    \
  do {                                                          \
    if ((call) != 0)                                            \
      return (e)->err != 0 ? (e)->err : PROTO_EINTERNAL;        \
  } while (0)

static int frame__pack_str(frame__enc_t *e, proto_str_t s) {
  FRAME__PACK(e, msgpack_pack_str(&e->pk, s.len));
  FRAME__PACK(e, msgpack_pack_str_body(&e->pk, s.ptr, s.len));
  return 0;
}

static int frame__pack_key(frame__enc_t *e, const char *name) {
  return frame__pack_str(e, proto_str(name));
}

/* The same checks frame__decode_value applies, on what is about to be
 * written. */
static int frame__check_str(const frame__key_t *key, proto_str_t s) {
  if (s.len < key->min || (s.len > 0 && s.ptr == NULL))
    return PROTO_EBAD_FIELD;
  return s.len > key->max ? PROTO_ETOO_LARGE : frame__str_content(key, s);
}

static int frame__check_count(const frame__key_t *key, uint32_t n,
                              const void *ptr) {
  if (n < key->min || (n > 0 && ptr == NULL))
    return PROTO_EBAD_FIELD;
  return n > key->max ? PROTO_ETOO_LARGE : 0;
}

/* Checks that raw is exactly one fields map the decoder accepts, so stored
 * bytes are never relayed unchecked. */
static int frame__check_fields_raw(proto_str_t raw) {
  frame__rd_t rd = {(const uint8_t *)raw.ptr,
                    (const uint8_t *)raw.ptr + raw.len};
  uint32_t n;
  int r = frame__fields(&rd, NULL, &n);
  if (r == PROTO_EBAD_FRAME || (r == 0 && rd.p != rd.end))
    return PROTO_EBAD_FIELD;
  return r;
}

static int frame__encode_fields(frame__enc_t *e, const proto_op_t *op) {
  uint32_t i;
  int r;

  if (op->fields_raw.len > 0) {
    if (op->fields_raw.ptr == NULL)
      return PROTO_EBAD_FIELD;
    if ((r = frame__check_fields_raw(op->fields_raw)) != 0)
      return r;
    return frame__write(e, op->fields_raw.ptr, op->fields_raw.len) == 0
               ? 0
               : e->err;
  }
  if (op->nfields > PROTO_MAX_FIELDS_PER_OP)
    return PROTO_ETOO_LARGE;
  if (op->nfields > 0 && op->fields == NULL)
    return PROTO_EBAD_FIELD;
  FRAME__PACK(e, msgpack_pack_map(&e->pk, op->nfields));
  for (i = 0; i < op->nfields; i++) {
    const proto_field_t *f = &op->fields[i];
    if (f->id == 0)
      return PROTO_EBAD_FIELD;
    FRAME__PACK(e, msgpack_pack_uint8(&e->pk, f->id));
    switch (f->value.type) {
    case PROTO_NIL:
      FRAME__PACK(e, msgpack_pack_nil(&e->pk));
      break;
    case PROTO_BOOL:
      FRAME__PACK(e, f->value.u.b ? msgpack_pack_true(&e->pk)
                                  : msgpack_pack_false(&e->pk));
      break;
    case PROTO_INT:
      FRAME__PACK(e, msgpack_pack_int64(&e->pk, f->value.u.i));
      break;
    case PROTO_STR:
      if (f->value.u.s.len > PROTO_MAX_TEXT_BYTES)
        return PROTO_ETOO_LARGE;
      if (f->value.u.s.len > 0 && f->value.u.s.ptr == NULL)
        return PROTO_EBAD_FIELD;
      if ((r = frame__pack_str(e, f->value.u.s)) != 0)
        return r;
      break;
    default:
      return PROTO_EBAD_FIELD;
    }
  }
  return 0;
}

static int frame__encode_map(frame__enc_t *e, const frame__table_t *table,
                             const void *base, int type);

/* True when an optional key holds the value its absence decodes to. */
static bool frame__is_default(const frame__key_t *key, const void *base) {
  const void *src = (const char *)base + key->off;
  switch (key->type) {
  case FRAME__K_U8:
    return *(const uint8_t *)src == 0;
  case FRAME__K_U32:
  case FRAME__K_LIMIT: /* 0 asks for the default (FRAME__PULL_DEFAULT) */
    return *(const uint32_t *)src == 0;
  case FRAME__K_U64:
    return *(const uint64_t *)src == 0;
  case FRAME__K_I64:
    return *(const int64_t *)src == 0;
  case FRAME__K_CODE:
    return *(const int32_t *)src == 0;
  case FRAME__K_BOOL:
    return !*(const bool *)src;
  case FRAME__K_STR:
  case FRAME__K_ID:
  case FRAME__K_DEVICE:
  case FRAME__K_KEY:
    return ((const proto_str_t *)src)->len == 0;
  case FRAME__K_FIELDS:
    return false;
  case FRAME__K_OPS_PUSH:
  case FRAME__K_OPS_CHANGES:
  case FRAME__K_RANGES:
  case FRAME__K_REJECTS:
    return *(const uint32_t *)((const char *)base + key->count_off) == 0;
  }
  return false;
}

static int frame__encode_value(frame__enc_t *e, const frame__key_t *key,
                               const void *base) {
  const void *src = (const char *)base + key->off;
  uint64_t u;
  uint32_t n, i;
  int r;

  switch (key->type) {
  case FRAME__K_U8:
  case FRAME__K_U32:
  case FRAME__K_U64:
    u = key->type == FRAME__K_U8    ? *(const uint8_t *)src
        : key->type == FRAME__K_U32 ? *(const uint32_t *)src
                                    : *(const uint64_t *)src;
    if (u < key->min || u > key->max)
      return PROTO_EBAD_FIELD;
    FRAME__PACK(e, msgpack_pack_uint64(&e->pk, u));
    return 0;
  case FRAME__K_LIMIT:
    u = *(const uint32_t *)src;
    if (u > key->max)
      return PROTO_ETOO_LARGE;
    FRAME__PACK(e, msgpack_pack_uint64(&e->pk, u));
    return 0;
  case FRAME__K_I64:
    FRAME__PACK(e, msgpack_pack_int64(&e->pk, *(const int64_t *)src));
    return 0;
  case FRAME__K_CODE:
    if (*(const int32_t *)src < 1)
      return PROTO_EBAD_FIELD;
    FRAME__PACK(e, msgpack_pack_int64(&e->pk, *(const int32_t *)src));
    return 0;
  case FRAME__K_BOOL:
    FRAME__PACK(e, *(const bool *)src ? msgpack_pack_true(&e->pk)
                                      : msgpack_pack_false(&e->pk));
    return 0;
  case FRAME__K_STR:
  case FRAME__K_ID:
  case FRAME__K_DEVICE:
  case FRAME__K_KEY:
    if ((r = frame__check_str(key, *(const proto_str_t *)src)) != 0)
      return r;
    return frame__pack_str(e, *(const proto_str_t *)src);
  case FRAME__K_FIELDS:
    return frame__encode_fields(e, base);
  case FRAME__K_OPS_PUSH:
  case FRAME__K_OPS_CHANGES:
  case FRAME__K_RANGES:
  case FRAME__K_REJECTS:
    break;
  }

  /* arrays */
  n = *(const uint32_t *)((const char *)base + key->count_off);
  src = *(const void *const *)src;
  if (key->type == FRAME__K_OPS_CHANGES && e->ops_raw != NULL) {
    if ((r = frame__check_count(key, n, e->ops_raw)) != 0)
      return r;
    FRAME__PACK(e, msgpack_pack_array(&e->pk, n));
    return frame__write(e, e->ops_raw, e->ops_raw_len) == 0 ? 0 : e->err;
  }
  if ((r = frame__check_count(key, n, src)) != 0)
    return r;
  FRAME__PACK(e, msgpack_pack_array(&e->pk, n));
  for (i = 0; i < n; i++) {
    switch (key->type) {
    case FRAME__K_OPS_PUSH:
      r = frame__encode_map(e, &frame__table_op_push,
                            (const proto_op_t *)src + i, 0);
      break;
    case FRAME__K_OPS_CHANGES:
      r = frame__encode_map(e, &frame__table_op_changes,
                            (const proto_op_t *)src + i, 0);
      break;
    case FRAME__K_REJECTS:
      r = frame__encode_map(e, &frame__table_reject,
                            (const proto_reject_t *)src + i, 0);
      break;
    default: {
      const proto_range_t *range = (const proto_range_t *)src + i;
      if (range->from < 1 || range->from > range->to)
        return PROTO_EBAD_FIELD;
      FRAME__PACK(e, msgpack_pack_array(&e->pk, 2));
      FRAME__PACK(e, msgpack_pack_uint64(&e->pk, range->from));
      FRAME__PACK(e, msgpack_pack_uint64(&e->pk, range->to));
      r = 0;
    }
    }
    if (r != 0)
      return r;
  }
  return 0;
}

/* Writes the keys of table from base as one map; type > 0 adds "t" first
 * (the frame itself). Required keys are always written, optional ones only
 * when they differ from what their absence decodes to. */
static int frame__encode_map(frame__enc_t *e, const frame__table_t *table,
                             const void *base, int type) {
  uint32_t j, n = type > 0 ? 1 : 0;
  int r;

  for (j = 0; j < table->nkeys; j++)
    if (table->keys[j].required || !frame__is_default(&table->keys[j], base))
      n++;
  FRAME__PACK(e, msgpack_pack_map(&e->pk, n));
  if (type > 0) {
    if ((r = frame__pack_key(e, "t")) != 0)
      return r;
    FRAME__PACK(e, msgpack_pack_uint64(&e->pk, (uint64_t)type));
  }
  for (j = 0; j < table->nkeys; j++) {
    const frame__key_t *key = &table->keys[j];
    if (!key->required && frame__is_default(key, base))
      continue;
    if ((r = frame__pack_key(e, key->name)) != 0 ||
        (r = frame__encode_value(e, key, base)) != 0)
      return r;
  }
  return 0;
}

static void frame__enc_init(frame__enc_t *e, proto_buf_t *buf) {
  e->buf = buf;
  e->start = buf->len;
  e->err = 0;
  e->ops_raw = NULL;
  e->ops_raw_len = 0;
  msgpack_packer_init(&e->pk, e, frame__write);
}

int proto_encode(const proto_frame_t *frame, proto_buf_t *buf) {
  frame__enc_t e;
  int r;

  if (frame->type < 1 || frame->type > FRAME__TYPE_MAX)
    return PROTO_EUNKNOWN_TYPE;
  frame__enc_init(&e, buf);
  r = frame__encode_map(&e, &frame__tables[frame->type], &frame->u,
                        (int)frame->type);
  if (r != 0)
    buf->len = e.start; /* drop the partial frame; the buffer may have grown */
  return r;
}

int proto_encode_change_op(const proto_op_t *op, proto_buf_t *buf) {
  frame__enc_t e;
  int r;

  frame__enc_init(&e, buf);
  r = frame__encode_map(&e, &frame__table_op_changes, op, 0);
  if (r != 0)
    buf->len = e.start;
  return r;
}

int proto_encode_changes_raw(proto_frame_type_t type, const proto_changes_t *changes,
                             const void *ops_raw, size_t ops_raw_len, proto_buf_t *buf) {
  frame__enc_t e;
  int r;

  if (type != PROTO_CHANGES && type != PROTO_LIVE)
    return PROTO_EUNKNOWN_TYPE;
  if (changes->ops != NULL || (changes->nops > 0 && ops_raw_len == 0))
    return PROTO_EBAD_FIELD;
  frame__enc_init(&e, buf);
  e.ops_raw = ops_raw;
  e.ops_raw_len = ops_raw_len;
  r = frame__encode_map(&e, &frame__tables[type], changes, (int)type);
  if (r != 0)
    buf->len = e.start;
  return r;
}

int proto_encode_fields(const proto_op_t *op, proto_buf_t *buf) {
  frame__enc_t e;
  int r;

  frame__enc_init(&e, buf);
  r = frame__encode_fields(&e, op);
  if (r != 0)
    buf->len = e.start;
  return r;
}

int proto_decode_fields(const void *raw, size_t len, proto_op_t *op,
                        void **mem) {
  frame__rd_t rd = {raw, (const uint8_t *)raw + len};
  proto_field_t *fields = NULL;
  uint32_t n, again;
  int r;

  *mem = NULL;
  if (len > PROTO_MAX_FRAME_BYTES)
    return PROTO_ETOO_LARGE;
  if (raw == NULL || len == 0)
    return PROTO_EBAD_FRAME;
  if ((r = frame__fields(&rd, NULL, &n)) != 0)
    return r;
  if (rd.p != rd.end)
    return PROTO_EBAD_FRAME;
  if (n > 0) {
    fields = calloc(n, sizeof(*fields));
    if (fields == NULL)
      return PROTO_ENOMEM;
    rd.p = raw;
    r = frame__fields(&rd, fields, &again);
    assert(r == 0 && again == n);
  }
  op->nfields = n;
  op->fields = fields;
  *mem = fields;
  return 0;
}
