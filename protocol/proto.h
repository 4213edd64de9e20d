/* proto.h — the vocabulary shared by every part of Turf: values, ops, and the
 * one table of error codes used both as C return values (negated) and on the
 * wire (positive, in error frames and op rejections).
 *
 * Pure definitions; no I/O. */
#ifndef TURF_PROTO_H
#define TURF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_SUBPROTOCOL "turf.v1"

/* Limits every decoder and producer enforces (see PROTOCOL.md). */
#define PROTO_MAX_FRAME_BYTES (1u << 20) /* one websocket message (bytes) */
#define PROTO_MAX_ID_BYTES 64            /* device ids, record keys, tokens */
#define PROTO_MAX_TEXT_BYTES 4096        /* any string field value (bytes) */
#define PROTO_MAX_OPS_PER_FRAME 1000     /* push and changes frames */
#define PROTO_MAX_FIELDS_PER_OP 16
#define PROTO_MAX_PULL_LIMIT 1000
#define PROTO_MAX_DEPTH 4                /* nesting of maps/arrays in a frame */
#define PROTO_MAX_OUTBOX ((UINT64_C(1) << 53) - 1) /* "out" counts: exact in JS, in int64 */

/* XX(name, wire code, message). Wire codes are stable: never renumber. */
#define PROTO_ERRNO_MAP(XX)                                                   \
  XX(BAD_FRAME, 1, "frame is not valid msgpack or not a map")                  \
  XX(TOO_LARGE, 2, "frame, string or count exceeds its limit")                 \
  XX(UNKNOWN_TYPE, 3, "unknown frame type")                                    \
  XX(BAD_FIELD, 4, "a field is missing or has the wrong type")                 \
  XX(UNSUPPORTED_VERSION, 5, "protocol version not supported")                 \
  XX(NOT_AUTHENTICATED, 6, "hello must be the first frame")                    \
  XX(BAD_CREDENTIALS, 7, "unknown device, wrong token or invalid code")        \
  XX(ALREADY_AUTHENTICATED, 8, "hello sent twice")                             \
  XX(RATE_LIMITED, 9, "too many frames; slow down")                            \
  XX(STORAGE, 10, "the server could not store this; retry later")             \
  XX(SHUTTING_DOWN, 11, "the server is shutting down; reconnect later")        \
  XX(REVOKED, 12, "this device was revoked; it must erase what it holds")      \
  XX(RESCOPED, 13, "this device's locations changed; reconnect and sync again") \
  XX(INVALID_OP, 20, "op is not valid for its record type")                    \
  XX(SEQ_GAP, 21, "device_seq skips a number; resend from the first unacked")  \
  XX(NOT_AUTHOR, 22, "only the author may change this message")                \
  XX(OUT_OF_SCOPE, 23, "record belongs outside this device's scope")           \
  XX(ERASED, 24, "the participant was erased; the op is dropped")              \
  XX(NOMEM, 30, "out of memory")                                               \
  XX(INTERNAL, 31, "internal error")

typedef enum {
#define PROTO__ERR_ENUM(name, code, msg) PROTO_E##name = -(code),
  PROTO_ERRNO_MAP(PROTO__ERR_ENUM)
#undef PROTO__ERR_ENUM
} proto_errno_t;

/* Message for a negative (C) or positive (wire) code; cannot fail. */
const char *proto_strerror(int code);
/* Symbolic name ("SEQ_GAP") for a negative or positive code; cannot fail. */
const char *proto_errname(int code);

/* A byte string that points into memory owned by someone else (usually the
 * frame it was decoded from). Not NUL-terminated. */
typedef struct {
  const char *ptr;
  uint32_t len;
} proto_str_t;

#define PROTO_STR(lit) ((proto_str_t){(lit), (uint32_t)(sizeof(lit) - 1)})
proto_str_t proto_str(const char *cstr); /* cstr may be NULL -> empty */
bool proto_str_eq(proto_str_t a, proto_str_t b);
int proto_str_cmp(proto_str_t a, proto_str_t b); /* bytewise, shorter first */

/* What strings may hold (PROTOCOL.md section 5.1). An id (device id, record
 * key, token, enrolment code) is printable ASCII, 0x21..0x7e: ids are
 * compared and stored bytewise and used as C strings, so a NUL, a space or
 * a look-alike character would let two ids seem one. Text is UTF-8 (no
 * overlong forms, surrogates or code points above U+10FFFF) without
 * control characters (C0 but, where lines is true, tab, line feed and
 * carriage return; DEL; C1) and without the bidirectional embedding,
 * override and isolate controls (U+202A..U+202E, U+2066..U+2069), which
 * make a name display as other text. Cannot fail. */
bool proto_id_valid(proto_str_t s);
bool proto_text_valid(proto_str_t s, bool lines);

/* True for device ids only the server gives out: "server", "server-..."
 * (its own devices, one per organisation) and "turfctl-..." (the
 * administrator's command). A client may not enrol as one. */
bool proto_device_id_reserved(proto_str_t id);

typedef enum { PROTO_NIL = 0, PROTO_BOOL, PROTO_INT, PROTO_STR } proto_vtype_t;

typedef struct {
  proto_vtype_t type;
  union {
    bool b;
    int64_t i;
    proto_str_t s;
  } u;
} proto_value_t;

/* One field an op sets. id is per record type (schema.h). */
typedef struct {
  uint8_t id;
  proto_value_t value;
} proto_field_t;

/* A change to one record. Identified by (device, seq). */
typedef struct {
  proto_str_t device;  /* empty inside push frames: the connection's device */
  uint64_t seq;        /* device_seq, >= 1, contiguous per device */
  uint64_t hlc;        /* hybrid logical clock, see hlc.h */
  uint64_t server_seq; /* per-organisation sequence; 0 until committed */
  uint64_t base;       /* server cursor the device had pulled when recording */
  uint8_t type;        /* schema_type id */
  proto_str_t key;     /* record id (for check-ins: the session id) */
  proto_str_t key2;    /* second key part (check-ins: participant id) or empty */
  uint32_t nfields;
  proto_field_t *fields;
  proto_str_t fields_raw; /* the msgpack map of fields exactly as on the wire;
                             set by the decoder, used by the encoder if
                             non-empty (so stored ops are re-sent verbatim) */
} proto_op_t;

#endif
