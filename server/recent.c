/* recent.c — the latest committed ops of one organisation, encoded once
 * (see recent.h): a ring of (server_seq, bytes), oldest first. */
#include "recent.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint8_t *bytes; /* the op as one element of a changes frame's "ops" */
  uint32_t len;
} recent__op_t;

struct recent_s {
  recent_limits_t limits;
  recent__op_t *ring;
  uint32_t cap;   /* slots in ring (a power of two), 0 before the first */
  uint32_t start; /* slot of the oldest op */
  uint32_t count;
  uint64_t first; /* server_seq of the oldest op */
  size_t bytes;   /* held by the ops, counted into *limits.total_bytes */
};

/* Room a page keeps for its map around the ops ("t", "from", "cur",
 * "more" and the array's header): a few dozen bytes. */
#define RECENT__PAGE_ENVELOPE 64

recent_t *recent_new(const recent_limits_t *limits) {
  recent_t *r = calloc(1, sizeof *r);
  if (r) r->limits = *limits;
  return r;
}

static recent__op_t *recent__at(const recent_t *r, uint32_t i) {
  return &r->ring[(r->start + i) & (r->cap - 1)];
}

static void recent__drop_oldest(recent_t *r) {
  recent__op_t *op = recent__at(r, 0);
  r->bytes -= op->len;
  *r->limits.total_bytes -= op->len;
  free(op->bytes);
  op->bytes = NULL;
  r->start = (r->start + 1) & (r->cap - 1);
  r->count--;
  r->first++;
}

void recent_clear(recent_t *r) {
  if (!r) return;
  while (r->count) recent__drop_oldest(r);
}

void recent_free(recent_t *r) {
  if (!r) return;
  recent_clear(r);
  free(r->ring);
  free(r);
}

/* Doubles the ring, keeping the ops in order from slot 0. */
static bool recent__grow(recent_t *r) {
  uint32_t cap = r->cap ? r->cap * 2 : 256;
  recent__op_t *ring = calloc(cap, sizeof *ring);
  if (!ring) return false;
  for (uint32_t i = 0; i < r->count; i++) ring[i] = *recent__at(r, i);
  free(r->ring);
  r->ring = ring;
  r->cap = cap;
  r->start = 0;
  return true;
}

static void recent__add_one(recent_t *r, const proto_op_t *op) {
  proto_buf_t buf;

  if (r->count && op->server_seq != r->first + r->count) recent_clear(r);
  proto_buf_init(&buf, 0);
  if (proto_encode_change_op(op, &buf) != 0 || buf.len > r->limits.max_bytes) {
    proto_buf_dispose(&buf);
    recent_clear(r); /* a gap now: the next op starts over */
    return;
  }
  while (r->count && (r->bytes + buf.len > r->limits.max_bytes ||
                      *r->limits.total_bytes + buf.len > r->limits.max_total_bytes))
    recent__drop_oldest(r);
  if (*r->limits.total_bytes + buf.len > r->limits.max_total_bytes ||
      (r->count == r->cap && !recent__grow(r))) {
    proto_buf_dispose(&buf);
    recent_clear(r);
    return;
  }
  if (!r->count) r->first = op->server_seq;
  /* No headroom: the op's bytes start at the allocation. */
  *recent__at(r, r->count) = (recent__op_t){.bytes = buf.base, .len = (uint32_t)buf.len};
  r->count++;
  r->bytes += buf.len;
  *r->limits.total_bytes += buf.len;
}

void recent_add(recent_t *r, const proto_op_t *ops, uint32_t nops) {
  for (uint32_t i = 0; i < nops; i++) recent__add_one(r, &ops[i]);
}

/* A frame of type carrying the n ops from index at (whose sizes fit one
 * frame), continuing from `from` to cursor. */
static conn_msg_t *recent__frame(const recent_t *r, proto_frame_type_t type, uint32_t at,
                                 uint32_t n, size_t len, uint64_t from, uint64_t cursor,
                                 bool more) {
  proto_changes_t page = {.from = from, .cursor = cursor, .more = more, .nops = n};
  proto_buf_t buf;
  uint8_t *ops = malloc(len ? len : 1);
  size_t off = 0;
  int rc;

  if (!ops) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    const recent__op_t *op = recent__at(r, at + i);
    memcpy(ops + off, op->bytes, op->len);
    off += op->len;
  }
  proto_buf_init(&buf, LWS_PRE);
  rc = proto_encode_changes_raw(type, &page, n ? ops : NULL, len, &buf);
  free(ops);
  if (rc != 0) {
    proto_buf_dispose(&buf);
    return NULL;
  }
  return conn_msg_take(&buf);
}

/* How many ops from index at (at most limit) fit one frame; their bytes in
 * *len. */
static uint32_t recent__fit(const recent_t *r, uint32_t at, uint32_t limit, size_t *len) {
  uint32_t n = 0;
  *len = 0;
  while (at + n < r->count && n < limit &&
         *len + recent__at(r, at + n)->len <= PROTO_MAX_FRAME_BYTES - RECENT__PAGE_ENVELOPE)
    *len += recent__at(r, at + n++)->len;
  return n;
}

conn_msg_t *recent_page(const recent_t *r, uint64_t cursor, uint32_t limit, uint64_t head,
                        uint64_t *cursor_out, bool *more) {
  uint64_t last = r->first + r->count - 1;
  uint32_t at, n;
  size_t len;

  if (!r->count || last != head || cursor + 1 < r->first || cursor > last) return NULL;
  at = (uint32_t)(cursor + 1 - r->first);
  n = recent__fit(r, at, limit, &len);
  if (n == 0 && cursor < last) return NULL; /* one op alone too big: the store pages it */
  *cursor_out = cursor + n;
  *more = *cursor_out < head;
  return recent__frame(r, PROTO_CHANGES, at, n, len, cursor, *cursor_out, *more);
}

conn_msg_t *recent_live(const recent_t *r, uint64_t from, uint64_t to) {
  uint32_t at, n;
  size_t len;

  if (!r->count || from + 1 < r->first || to > r->first + r->count - 1 || to <= from)
    return NULL;
  at = (uint32_t)(from + 1 - r->first);
  n = recent__fit(r, at, (uint32_t)(to - from), &len);
  if (n != to - from) return NULL;
  return recent__frame(r, PROTO_LIVE, at, n, len, from, to, false);
}
