/* bframe.c — changes and live frames read in place (see bframe.h).
 *
 * The reader follows protocol/frame.c's frame__next: integers are kinds by
 * value, not by encoding (a signed encoding of a value >= 0 is an unsigned
 * integer), and every length is checked against the bytes that remain. Any
 * doubt returns false, and the frame goes to proto_decode. */
#include "bframe.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  BF__NIL,
  BF__BOOL,
  BF__UINT,
  BF__NINT,
  BF__OTHER, /* float, bin, ext: never valid where the tablets look */
  BF__STR,
  BF__ARRAY,
  BF__MAP,
} bf__kind_t;

typedef struct {
  const uint8_t *p, *end;
} bf__rd_t;

typedef struct {
  bf__kind_t kind;
  uint64_t u;          /* UINT, BOOL; STR: length; ARRAY: elements; MAP: pairs */
  const uint8_t *body; /* STR */
} bf__item_t;

static uint64_t bf__be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned k = 0; k < n; k++) v = (v << 8) | p[k];
  return v;
}

static bool bf__next(bf__rd_t *rd, bf__item_t *it) {
  size_t left;
  unsigned width;
  uint64_t v;
  uint8_t b;

  if (rd->p >= rd->end) return false;
  b = *rd->p++;
  left = (size_t)(rd->end - rd->p);
  if (b <= 0x7f) {
    it->kind = BF__UINT;
    it->u = b;
    return true;
  }
  if (b >= 0xe0) {
    it->kind = BF__NINT;
    return true;
  }
  if (b >= 0xa0 && b <= 0xbf) {
    v = b & 0x1f;
    goto str;
  }
  if (b <= 0x9f) { /* fixmap 0x80-0x8f, fixarray 0x90-0x9f */
    it->kind = b <= 0x8f ? BF__MAP : BF__ARRAY;
    it->u = b & 0x0f;
    return true;
  }
  switch (b) {
  case 0xc0:
    it->kind = BF__NIL;
    return true;
  case 0xc2:
  case 0xc3:
    it->kind = BF__BOOL;
    it->u = b == 0xc3;
    return true;
  case 0xc4: /* bin 8/16/32 */
  case 0xc5:
  case 0xc6:
    width = 1u << (b - 0xc4);
    if (left < width) return false;
    v = bf__be(rd->p, width);
    rd->p += width;
    goto other;
  case 0xc7: /* ext 8/16/32: length, type byte, data */
  case 0xc8:
  case 0xc9:
    width = 1u << (b - 0xc7);
    if (left < width) return false;
    v = bf__be(rd->p, width) + 1;
    rd->p += width;
    goto other;
  case 0xca:
  case 0xcb:
    v = b == 0xca ? 4 : 8;
    goto other;
  case 0xcc:
  case 0xcd:
  case 0xce:
  case 0xcf:
    width = 1u << (b - 0xcc);
    if (left < width) return false;
    it->kind = BF__UINT;
    it->u = bf__be(rd->p, width);
    rd->p += width;
    return true;
  case 0xd0:
  case 0xd1:
  case 0xd2:
  case 0xd3:
    width = 1u << (b - 0xd0);
    if (left < width) return false;
    v = bf__be(rd->p, width);
    rd->p += width;
    if ((v >> (8 * width - 1)) != 0) { /* negative */
      it->kind = BF__NINT;
    } else {
      it->kind = BF__UINT;
      it->u = v;
    }
    return true;
  case 0xd4: /* fixext 1..16: type byte and data */
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    v = ((uint64_t)1 << (b - 0xd4)) + 1;
    goto other;
  case 0xd9:
  case 0xda:
  case 0xdb:
    width = 1u << (b - 0xd9);
    if (left < width) return false;
    v = bf__be(rd->p, width);
    rd->p += width;
    goto str;
  case 0xdc:
  case 0xdd:
  case 0xde:
  case 0xdf:
    width = (b & 1) ? 4 : 2;
    if (left < width) return false;
    it->kind = b <= 0xdd ? BF__ARRAY : BF__MAP;
    it->u = bf__be(rd->p, width);
    rd->p += width;
    return true;
  default: /* 0xc1 */
    return false;
  }

str:
  if ((size_t)(rd->end - rd->p) < v) return false;
  it->kind = BF__STR;
  it->u = v;
  it->body = rd->p;
  rd->p += v;
  return true;
other:
  if ((size_t)(rd->end - rd->p) < v) return false;
  it->kind = BF__OTHER;
  rd->p += v;
  return true;
}

static bool bf__skip(bf__rd_t *rd, int depth);

/* The children of an item just read, whose nesting level is depth (the
 * frame's map is 1); containers deeper than PROTO_MAX_DEPTH are refused. */
static bool bf__skip_rest(bf__rd_t *rd, const bf__item_t *it, int depth) {
  uint64_t n;
  if (it->kind != BF__ARRAY && it->kind != BF__MAP) return true;
  if (depth > PROTO_MAX_DEPTH) return false;
  n = it->kind == BF__MAP ? it->u * 2 : it->u;
  for (uint64_t k = 0; k < n; k++)
    if (!bf__skip(rd, depth + 1)) return false;
  return true;
}

static bool bf__skip(bf__rd_t *rd, int depth) {
  bf__item_t it;
  return bf__next(rd, &it) && bf__skip_rest(rd, &it, depth);
}

static bool bf__uint(bf__rd_t *rd, uint64_t min, uint64_t max, uint64_t *out) {
  bf__item_t it;
  if (!bf__next(rd, &it) || it.kind != BF__UINT || it.u < min || it.u > max) return false;
  *out = it.u;
  return true;
}

static bool bf__str(bf__rd_t *rd, uint32_t min, uint32_t max, proto_str_t *out) {
  bf__item_t it;
  if (!bf__next(rd, &it) || it.kind != BF__STR || it.u < min || it.u > max) return false;
  out->ptr = (const char *)it.body;
  out->len = (uint32_t)it.u;
  return true;
}

/* An op's fields map (level 4): up to PROTO_MAX_FIELDS_PER_OP pairs of id
 * 1..255 and nil, bool, int64 or string value. */
static bool bf__fields(bf__rd_t *rd, proto_op_t *op) {
  const uint8_t *start = rd->p;
  bf__item_t it;
  if (!bf__next(rd, &it) || it.kind != BF__MAP || it.u > PROTO_MAX_FIELDS_PER_OP) return false;
  op->nfields = (uint32_t)it.u;
  for (uint32_t k = 0; k < op->nfields; k++) {
    if (!bf__next(rd, &it) || it.kind != BF__UINT || it.u < 1 || it.u > 255) return false;
    if (!bf__next(rd, &it)) return false;
    switch (it.kind) {
    case BF__NIL:
    case BF__BOOL:
    case BF__NINT:
      break;
    case BF__UINT:
      if (it.u > INT64_MAX) return false;
      break;
    case BF__STR:
      if (it.u > PROTO_MAX_TEXT_BYTES) return false;
      break;
    default:
      return false;
    }
  }
  op->fields = NULL;
  op->fields_raw.ptr = (const char *)start;
  op->fields_raw.len = (uint32_t)(rd->p - start);
  return true;
}

/* Keys of a committed op (frame.c's frame__keys_op_changes). */
enum { BF__D, BF__S, BF__N, BF__H, BF__Y, BF__K, BF__K2, BF__B, BF__F };
#define BF__OP_REQUIRED \
  ((1u << BF__D) | (1u << BF__S) | (1u << BF__N) | (1u << BF__H) | (1u << BF__Y) | \
   (1u << BF__K) | (1u << BF__F))

static int bf__op_key(const bf__item_t *key) {
  const uint8_t *s = key->body;
  if (key->u == 1) {
    switch (s[0]) {
    case 'd': return BF__D;
    case 's': return BF__S;
    case 'n': return BF__N;
    case 'h': return BF__H;
    case 'y': return BF__Y;
    case 'k': return BF__K;
    case 'b': return BF__B;
    case 'f': return BF__F;
    default: return -1;
    }
  }
  return key->u == 2 && s[0] == 'k' && s[1] == '2' ? BF__K2 : -1;
}

/* One op map of the ops array (level 3). */
static bool bf__op(bf__rd_t *rd, proto_op_t *op) {
  bf__item_t it, key;
  uint32_t seen = 0;
  uint64_t u = 0;

  if (!bf__next(rd, &it) || it.kind != BF__MAP) return false;
  memset(op, 0, sizeof *op);
  for (uint64_t k = it.u; k > 0; k--) {
    int id;
    bool ok;
    if (!bf__next(rd, &key) || key.kind != BF__STR) return false;
    id = bf__op_key(&key);
    if (id < 0) { /* unknown keys are skipped, as proto_decode does */
      if (!bf__skip(rd, 4)) return false;
      continue;
    }
    if (seen & (1u << id)) return false;
    seen |= 1u << id;
    switch (id) {
    case BF__D: ok = bf__str(rd, 1, PROTO_MAX_ID_BYTES, &op->device); break;
    case BF__S: ok = bf__uint(rd, 1, UINT64_MAX, &op->seq); break;
    case BF__N: ok = bf__uint(rd, 1, UINT64_MAX, &op->server_seq); break;
    case BF__H: ok = bf__uint(rd, 0, UINT64_MAX, &op->hlc); break;
    case BF__Y:
      ok = bf__uint(rd, 1, 255, &u);
      op->type = (uint8_t)u;
      break;
    case BF__K: ok = bf__str(rd, 1, PROTO_MAX_ID_BYTES, &op->key); break;
    case BF__K2: ok = bf__str(rd, 0, PROTO_MAX_ID_BYTES, &op->key2); break;
    case BF__B: ok = bf__uint(rd, 0, UINT64_MAX, &op->base); break;
    default: ok = bf__fields(rd, op); break;
    }
    if (!ok) return false;
  }
  return (seen & BF__OP_REQUIRED) == BF__OP_REQUIRED;
}

static bool bf__key_is(const bf__item_t *key, const char *name, size_t n) {
  return key->u == n && memcmp(key->body, name, n) == 0;
}

int bframe_changes(const uint8_t *msg, size_t len, bframe_buf_t *buf, proto_changes_t *ch) {
  bf__rd_t rd = {msg, msg + len};
  bf__item_t it, key;
  uint64_t type = 0;
  bool seen_t = false, seen_from = false, seen_cur = false, seen_more = false, seen_ops = false;

  if (len == 0 || len > PROTO_MAX_FRAME_BYTES) return 0;
  if (!buf->ops) {
    buf->ops = malloc(PROTO_MAX_OPS_PER_FRAME * sizeof *buf->ops);
    if (!buf->ops) return 0;
  }
  memset(ch, 0, sizeof *ch);
  if (!bf__next(&rd, &it) || it.kind != BF__MAP) return 0;
  for (uint64_t k = it.u; k > 0; k--) {
    if (!bf__next(&rd, &key) || key.kind != BF__STR) return 0;
    if (bf__key_is(&key, "t", 1)) {
      if (seen_t || !bf__uint(&rd, PROTO_CHANGES, PROTO_LIVE, &type)) return 0;
      seen_t = true;
    } else if (bf__key_is(&key, "from", 4)) {
      if (seen_from || !bf__uint(&rd, 0, UINT64_MAX, &ch->from)) return 0;
      seen_from = true;
    } else if (bf__key_is(&key, "cur", 3)) {
      if (seen_cur || !bf__uint(&rd, 0, UINT64_MAX, &ch->cursor)) return 0;
      seen_cur = true;
    } else if (bf__key_is(&key, "more", 4)) {
      if (seen_more || !bf__next(&rd, &it) || it.kind != BF__BOOL) return 0;
      ch->more = it.u != 0;
      seen_more = true;
    } else if (bf__key_is(&key, "ops", 3)) {
      if (seen_ops || !bf__next(&rd, &it) || it.kind != BF__ARRAY ||
          it.u > PROTO_MAX_OPS_PER_FRAME)
        return 0;
      seen_ops = true;
      ch->nops = (uint32_t)it.u;
      ch->ops = ch->nops ? buf->ops : NULL;
      for (uint32_t i = 0; i < ch->nops; i++)
        if (!bf__op(&rd, &buf->ops[i])) return 0;
    } else if (!bf__skip(&rd, 2)) {
      return 0;
    }
  }
  if (rd.p != rd.end || !seen_t || !seen_from || !seen_cur || !seen_more || !seen_ops) return 0;
  return (int)type;
}

void bframe_buf_dispose(bframe_buf_t *buf) {
  free(buf->ops);
  buf->ops = NULL;
}
