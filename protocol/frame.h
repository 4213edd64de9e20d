/* frame.h — the turf.v1 wire format: every frame is one binary websocket
 * message holding one msgpack map. Key "t" is the frame type; the other keys
 * are listed per frame in PROTOCOL.md. Unknown keys are ignored (so a newer
 * peer can add them); a known key with the wrong type is PROTO_EBAD_FIELD.
 *
 * Encoding uses msgpack-c's packer. Decoding is our own strict reader: it
 * trusts nothing — every length, count and nesting level is checked against
 * the bytes that remain and the limits in proto.h before anything is
 * allocated — so bad input yields an error code, never a crash. */
#ifndef TURF_FRAME_H
#define TURF_FRAME_H

#include "proto.h"

typedef enum {
  PROTO_HELLO = 1,   /* client -> server, first frame */
  PROTO_WELCOME = 2, /* server -> client, answer to hello */
  PROTO_PUSH = 3,    /* client -> server, a batch of ops */
  PROTO_ACK = 4,     /* server -> client, which pushed ops are durable */
  PROTO_PULL = 5,    /* client -> server, ask for ops after a cursor */
  PROTO_CHANGES = 6, /* server -> client, a page of ops, answer to pull */
  PROTO_LIVE = 7,    /* server -> client, ops just committed by others */
  PROTO_ERROR = 8,   /* either way */
  PROTO_PING = 9,    /* either way; answered with pong */
  PROTO_PONG = 10,
} proto_frame_type_t;

/* hello.st: what the device knows of its own storage. A browser may clear a
 * site's data under storage pressure unless it granted persistence; a
 * tablet whose outbox sits in such storage can lose what it recorded. */
enum {
  PROTO_STORAGE_UNKNOWN = 0,    /* not said (the default) */
  PROTO_STORAGE_PERSISTENT = 1, /* kept until the device's user removes it */
  PROTO_STORAGE_BEST_EFFORT = 2 /* may be cleared by the platform */
};

typedef struct {
  uint32_t version;        /* "v": PROTO_VERSION */
  proto_str_t app;         /* "app": client name/version, <= 64 bytes */
  proto_str_t device;      /* "dev": device id, 1..64 bytes */
  proto_str_t name;        /* "name": human name of the device, optional */
  proto_str_t token;       /* "tok": device token, or empty when enrolling */
  proto_str_t code;        /* "code": enrolment code, or empty */
  uint64_t cursor;         /* "cur": last server_seq the client has applied */
  uint64_t outbox;         /* "out": ops recorded but not yet acked */
  int64_t now_ms;          /* "now": the client's wall clock (ms) */
  uint32_t storage;        /* "st": PROTO_STORAGE_*: may the device's storage
                              be cleared by its platform? */
  uint32_t storage_used;   /* "su": how full that storage is (percent of its
                              quota, 0..100; 0 with PROTO_STORAGE_UNKNOWN) */
} proto_hello_t;

typedef struct {
  uint32_t version;        /* "v" */
  int64_t now_ms;          /* "now": the server's wall clock (ms) */
  int64_t offset_ms;       /* "off": server clock minus device clock (ms) */
  uint64_t head;           /* "head": the organisation's newest server_seq */
  uint64_t last_seq;       /* "last": highest device_seq the server holds for
                              this device (all of them are durable) */
  proto_str_t token;       /* "tok": set only when this hello enrolled */
  proto_str_t org;         /* "org": organisation name */
  bool resync;             /* "rs": the device's locations changed: drop the
                              replica, keep the outbox, pull from 0
                              (PROTOCOL.md section 6, Scope changes) */
  proto_str_t tz;          /* "tz": the organisation's time zone (IANA name,
                              zone.h): what "today" is for its tablets */
} proto_welcome_t;

typedef struct {
  uint64_t outbox;         /* "out": ops still waiting after this batch */
  uint32_t nops;           /* "ops": array of op maps, 1..PROTO_MAX_OPS */
  proto_op_t *ops;
} proto_push_t;

typedef struct {
  uint64_t from, to;       /* inclusive device_seq range */
} proto_range_t;

typedef struct {
  uint64_t seq;            /* device_seq of the refused op */
  int32_t code;            /* positive wire code (INVALID_OP, SEQ_GAP, ...) */
  proto_str_t message;
} proto_reject_t;

typedef struct {
  uint32_t nranges;        /* "a": [[from, to], ...] durable and accepted */
  proto_range_t *ranges;
  uint32_t nrejects;       /* "r": [{s, c, m}, ...] refused */
  proto_reject_t *rejects;
} proto_ack_t;

typedef struct {
  uint64_t cursor;         /* "cur": send ops with server_seq > cursor */
  uint32_t limit;          /* "lim": 1..PROTO_MAX_PULL_LIMIT */
} proto_pull_t;

/* Used for both PROTO_CHANGES and PROTO_LIVE. */
typedef struct {
  uint64_t from;           /* "from": cursor this page continues from */
  uint64_t cursor;         /* "cur": cursor after applying this page */
  bool more;               /* "more": another pull would return ops */
  uint32_t nops;           /* "ops": ops in server_seq order, each with
                              device and server_seq */
  proto_op_t *ops;
} proto_changes_t;

typedef struct {
  int32_t code;            /* "c": positive wire code */
  proto_str_t message;     /* "m" */
  bool close;              /* "x": the sender closes the connection next */
} proto_error_t;

typedef struct {
  uint64_t nonce;          /* "n": echoed by pong */
} proto_ping_t;

typedef struct proto_frame_s proto_frame_t;
struct proto_frame_s {
  proto_frame_type_t type;
  union {
    proto_hello_t hello;
    proto_welcome_t welcome;
    proto_push_t push;
    proto_ack_t ack;
    proto_pull_t pull;
    proto_changes_t changes;
    proto_error_t error;
    proto_ping_t ping;
  } u;
  void *_mem; /* decoder-owned storage: copy of the input, arrays */
};

/* Decodes one websocket message. On success *out is a new frame that owns
 * copies of everything it points to (the input may be freed); the caller
 * frees it with proto_frame_free. On error returns a negative PROTO_E* code
 * and *out is NULL. */
int proto_decode(const void *buf, size_t len, proto_frame_t **out);
void proto_frame_free(proto_frame_t *frame); /* NULL is fine */

/* A growable output buffer. `head` bytes of headroom are reserved before the
 * payload so libwebsockets can write its header in place (LWS_PRE). */
typedef struct {
  uint8_t *base; /* allocation start; payload is base + head */
  size_t head;   /* headroom (bytes) */
  size_t len;    /* payload length (bytes) */
  size_t cap;    /* payload capacity (bytes) */
} proto_buf_t;

void proto_buf_init(proto_buf_t *buf, size_t headroom);
void proto_buf_dispose(proto_buf_t *buf);
static inline uint8_t *proto_buf_data(const proto_buf_t *buf) {
  return buf->base + buf->head;
}

/* Appends the encoding of frame to buf. Fields are taken from the union
 * member matching frame->type; frame->_mem is ignored. Returns 0,
 * PROTO_ENOMEM, or PROTO_ETOO_LARGE if a limit would be exceeded; also
 * PROTO_EBAD_FIELD for a value the decoder would refuse (empty "dev", seq 0,
 * a push without ops, ...) and PROTO_EUNKNOWN_TYPE for an unknown
 * frame->type. On error buf->len is unchanged. */
int proto_encode(const proto_frame_t *frame, proto_buf_t *buf);

/* Changes and live frames from ops encoded once each (a server sends the
 * same recent ops to every tablet of an organisation):
 * proto_encode_change_op appends op as one element of such a frame's "ops"
 * array; proto_encode_changes_raw appends a PROTO_CHANGES or PROTO_LIVE
 * frame whose changes->nops ops are ops_raw, the concatenation of that
 * many proto_encode_change_op outputs (changes->ops must be NULL). The bytes
 * equal proto_encode's for the same frame. Same return codes as
 * proto_encode; the raw ops are not checked again. */
int proto_encode_change_op(const proto_op_t *op, proto_buf_t *buf);
int proto_encode_changes_raw(proto_frame_type_t type, const proto_changes_t *changes,
                             const void *ops_raw, size_t ops_raw_len, proto_buf_t *buf);

/* Encodes just an op's fields map (what proto_op_t.fields_raw holds), for
 * storing ops. Same return codes as proto_encode. */
int proto_encode_fields(const proto_op_t *op, proto_buf_t *buf);
/* Decodes a fields map produced by proto_encode_fields into op->fields,
 * allocating the array in *mem (caller frees with free()); strings point into
 * raw, which must outlive op. Returns 0 or a negative PROTO_E* code. */
int proto_decode_fields(const void *raw, size_t len, proto_op_t *op, void **mem);

#endif
