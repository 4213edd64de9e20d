/* conn.h — one websocket connection: reassembly of incoming messages, a
 * queue of outgoing frames written only when lws says the socket is
 * writable (with a byte budget past which a too slow reader is dropped),
 * and a reference count so that storage requests still in flight never
 * touch freed memory. The sync engine's connections (turf.v1) and the
 * dashboard's pages (dashboard.c) both speak through it; the sync state
 * below is the sync engine's alone.
 *
 * Lifetime: created on LWS_CALLBACK_ESTABLISHED with one reference held by
 * the lws connection; every pending storage request takes another. When lws
 * closes the connection `wsi` becomes NULL and that reference is dropped;
 * the memory is freed when the last reference goes. Loop thread only. */
#ifndef TURF_CONN_H
#define TURF_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../protocol/frame.h"

struct lws;
typedef struct conn_s conn_t;
typedef struct org_s org_t;

/* An encoded frame shared by every connection it is queued on (live frames
 * go to many). Payload at data + LWS_PRE. */
typedef struct {
  uint32_t refs;
  size_t len;       /* payload (bytes) */
  uint8_t *data;    /* allocation, LWS_PRE headroom first */
} conn_msg_t;

typedef enum {
  CONN_NEW = 0,      /* waiting for hello */
  CONN_HELLO,        /* hello is with the store */
  CONN_READY,        /* authenticated */
} conn_state_t;

struct conn_s {
  struct lws *wsi;          /* NULL once lws has closed the connection */
  uint32_t refs;
  uint64_t id;              /* for log lines */
  char peer[64];

  /* incoming message being reassembled from fragments */
  uint8_t *rx;
  size_t rx_len, rx_cap;
  bool rx_discard;          /* rest of an oversized or text message */

  /* outgoing frames, oldest first */
  conn_msg_t **txq;
  size_t txq_head, txq_len, txq_cap;
  size_t tx_bytes;          /* queued, not yet written (bytes) */
  bool close_when_flushed;  /* an error with x=true is queued last */
  bool going_away;          /* ... and it is SHUTTING_DOWN: close code 1001 */

  /* sync state (owned by sync.c) */
  conn_state_t state;
  bool pending;             /* counted in its peer's connections before a
                               welcome (peers.h) */
  int64_t org_id;
  org_t *org;
  char device[PROTO_MAX_ID_BYTES + 1];
  bool live;                /* caught up: committed ops are sent unasked */
  uint64_t sent_seq;        /* server_seq of the last op sent to it */
  uint32_t pushes_in_flight;
  double tokens;            /* frame rate limiter */
  uint64_t tokens_at_ms;
  uint64_t limited_notice_ms; /* when RATE_LIMITED was last sent */
  double push_tokens;       /* push rate limiter (pushes) */
  uint64_t push_tokens_at_ms;
  char *scope;              /* NULL: the device sees its whole organisation;
                               else its location ids, each NUL-terminated,
                               ending with an empty string (owned; see
                               storage/scope.h) */
  uint64_t resync_gen;      /* 0, or its welcome said "rs": the scope
                               generation to record once a pull from 0 is
                               served (store_hello_t.resync_gen) */
  conn_t *org_prev, *org_next;
};

conn_t *conn_new(struct lws *wsi, uint64_t id); /* NULL on ENOMEM */
void conn_ref(conn_t *conn);
void conn_unref(conn_t *conn); /* frees on the last reference */

conn_msg_t *conn_msg_encode(const proto_frame_t *frame); /* NULL on error */
/* The message of a frame encoded into buf (initialised with LWS_PRE
 * headroom); buf's memory moves into it and buf is left empty. NULL when out
 * of memory (buf is disposed of then). */
conn_msg_t *conn_msg_take(proto_buf_t *buf);
/* A message holding a copy of len bytes of data. NULL on ENOMEM. */
conn_msg_t *conn_msg_copy(const void *data, size_t len);
void conn_msg_unref(conn_msg_t *msg);

/* Queues msg (takes a reference) and asks lws for a writable callback.
 * Returns 0, or -1 when the connection is gone or over max_queued bytes (the
 * connection is then closed as too slow). */
int conn_send(conn_t *conn, conn_msg_t *msg, size_t max_queued);
/* Encodes and queues one frame. Same returns as conn_send, plus -1 when the
 * frame cannot be encoded. */
int conn_send_frame(conn_t *conn, const proto_frame_t *frame, size_t max_queued);
/* Queues an error frame; with close, the connection closes after it. */
void conn_send_error(conn_t *conn, int code, const char *message, bool close);

/* For LWS_CALLBACK_SERVER_WRITEABLE: writes queued frames (a few per call so
 * one connection cannot starve the others). Returns -1 to close. */
int conn_on_writable(conn_t *conn);

/* Appends a received fragment. kind_ok: whether a message of this kind
 * (text or binary, lws_frame_is_binary) is one the protocol takes. Returns
 * 1 when msg is a whole message (*msg / *len valid until the next call), 0
 * when more is to come, or a negative PROTO_E* code for a message to
 * reject (the rest of it is discarded): PROTO_EBAD_FRAME for the wrong
 * kind, PROTO_ETOO_LARGE past max_bytes. */
int conn_on_receive(conn_t *conn, const void *in, size_t len, bool first,
                    bool final, bool kind_ok, size_t max_bytes,
                    const uint8_t **msg, size_t *msg_len);

#endif
