/* conn.c — per-connection buffers for the websocket transport: incoming
 * message reassembly and the outgoing frame queue (conn.h). */
#include "conn.h"

#include <assert.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Frames written per writable callback: enough to drain a burst, few enough
 * that one busy connection cannot hold the loop. */
#define CONN_WRITES_PER_CALLBACK 8

conn_t *conn_new(struct lws *wsi, uint64_t id) {
  conn_t *conn = calloc(1, sizeof *conn);
  if (!conn) return NULL;
  conn->wsi = wsi;
  conn->refs = 1;
  conn->id = id;
  return conn;
}

void conn_ref(conn_t *conn) { conn->refs++; }

void conn_unref(conn_t *conn) {
  assert(conn->refs > 0);
  if (--conn->refs) return;
  for (size_t i = 0; i < conn->txq_len; i++)
    conn_msg_unref(conn->txq[(conn->txq_head + i) % conn->txq_cap]);
  free(conn->txq);
  free(conn->rx);
  free(conn->scope);
  free(conn);
}

conn_msg_t *conn_msg_take(proto_buf_t *buf) {
  conn_msg_t *msg = malloc(sizeof *msg);
  if (!msg) {
    proto_buf_dispose(buf);
    return NULL;
  }
  msg->refs = 1;
  msg->len = buf->len;
  msg->data = buf->base; /* the buffer's allocation now belongs to msg */
  proto_buf_init(buf, LWS_PRE);
  return msg;
}

conn_msg_t *conn_msg_copy(const void *data, size_t len) {
  conn_msg_t *msg = malloc(sizeof *msg);
  uint8_t *mem = malloc(LWS_PRE + len);
  if (!msg || !mem) {
    free(msg);
    free(mem);
    return NULL;
  }
  memcpy(mem + LWS_PRE, data, len);
  msg->refs = 1;
  msg->len = len;
  msg->data = mem;
  return msg;
}

conn_msg_t *conn_msg_encode(const proto_frame_t *frame) {
  proto_buf_t buf;
  proto_buf_init(&buf, LWS_PRE);
  if (proto_encode(frame, &buf) != 0) {
    proto_buf_dispose(&buf);
    return NULL;
  }
  return conn_msg_take(&buf);
}

void conn_msg_unref(conn_msg_t *msg) {
  if (msg && --msg->refs == 0) {
    free(msg->data);
    free(msg);
  }
}

int conn_send(conn_t *conn, conn_msg_t *msg, size_t max_queued) {
  /* After an error that closes, nothing more: the close must follow it. */
  if (!conn->wsi || conn->close_when_flushed) return -1;
  if (conn->tx_bytes + msg->len > max_queued) {
    log_warn("conn=%" PRIu64 " peer=%s dropped: %zu bytes unsent (too slow)", conn->id,
             conn->peer, conn->tx_bytes);
    /* The client reconnects and resumes from its cursor; nothing is lost. */
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    return -1;
  }
  if (conn->txq_len == conn->txq_cap) {
    size_t cap = conn->txq_cap ? conn->txq_cap * 2 : 8;
    conn_msg_t **q = malloc(cap * sizeof *q);
    if (!q) return -1;
    for (size_t i = 0; i < conn->txq_len; i++)
      q[i] = conn->txq[(conn->txq_head + i) % conn->txq_cap];
    free(conn->txq);
    conn->txq = q;
    conn->txq_cap = cap;
    conn->txq_head = 0;
  }
  conn->txq[(conn->txq_head + conn->txq_len) % conn->txq_cap] = msg;
  conn->txq_len++;
  conn->tx_bytes += msg->len;
  msg->refs++;
  lws_callback_on_writable(conn->wsi);
  return 0;
}

int conn_send_frame(conn_t *conn, const proto_frame_t *frame, size_t max_queued) {
  conn_msg_t *msg = conn_msg_encode(frame);
  if (!msg) {
    log_error("conn=%" PRIu64 " could not encode frame type %d", conn->id, frame->type);
    return -1;
  }
  int rc = conn_send(conn, msg, max_queued);
  conn_msg_unref(msg);
  return rc;
}

void conn_send_error(conn_t *conn, int code, const char *message, bool close) {
  proto_frame_t frame = {.type = PROTO_ERROR};
  if (code < 0) code = -code;
  frame.u.error.code = code;
  frame.u.error.message = proto_str(message ? message : proto_strerror(code));
  frame.u.error.close = close;
  log_info("error conn=%" PRIu64 " peer=%s device=%s code=%s close=%d msg=\"%s\"",
           conn->id, conn->peer, conn->device[0] ? conn->device : "-",
           proto_errname(code), close, message ? message : proto_strerror(code));
  /* Error frames are small; they may exceed the budget rather than vanish. */
  conn_send_frame(conn, &frame, SIZE_MAX);
  if (close) conn->close_when_flushed = true;
  if (close && code == -PROTO_ESHUTTING_DOWN) conn->going_away = true;
}

#define CONN__LWS_WRITE_CLOSE 4

int conn_on_writable(conn_t *conn) {
  for (int i = 0; i < CONN_WRITES_PER_CALLBACK && conn->txq_len; i++) {
    conn_msg_t *msg = conn->txq[conn->txq_head];
    int n = lws_write(conn->wsi, msg->data + LWS_PRE, msg->len, LWS_WRITE_BINARY);
    if (n < (int)msg->len) return -1;
    conn->txq_head = (conn->txq_head + 1) % conn->txq_cap;
    conn->txq_len--;
    conn->tx_bytes -= msg->len;
    conn_msg_unref(msg);
    if (lws_send_pipe_choked(conn->wsi)) break;
  }
  if (conn->txq_len) {
    lws_callback_on_writable(conn->wsi);
    return 0;
  }
  if (conn->close_when_flushed) {
    /* lws 4.1 on our libuv loop drops the close frame lws_close_reason()
     * asks for when the callback returns -1 (clients saw 1006, no frame),
     * so it is written here: 4 is LWS_WRITE_CLOSE, the opcode lws keeps
     * out of its public enum. The payload is the close code. */
    unsigned char frame[LWS_PRE + 2];
    int status = conn->going_away ? LWS_CLOSE_STATUS_GOINGAWAY : LWS_CLOSE_STATUS_POLICY_VIOLATION;
    frame[LWS_PRE] = (unsigned char)(status >> 8);
    frame[LWS_PRE + 1] = (unsigned char)(status & 0xff);
    lws_write(conn->wsi, frame + LWS_PRE, 2, (enum lws_write_protocol)CONN__LWS_WRITE_CLOSE);
    return -1;
  }
  return 0;
}

int conn_on_receive(conn_t *conn, const void *in, size_t len, bool first,
                    bool final, bool kind_ok, size_t max_bytes,
                    const uint8_t **msg, size_t *msg_len) {
  if (first) {
    conn->rx_len = 0;
    conn->rx_discard = false;
    if (!kind_ok) {
      conn->rx_discard = !final;
      return PROTO_EBAD_FRAME;
    }
  }
  if (conn->rx_discard) {
    if (final) conn->rx_discard = false;
    return 0;
  }
  if (conn->rx_len + len > max_bytes) {
    conn->rx_discard = !final;
    conn->rx_len = 0;
    return PROTO_ETOO_LARGE;
  }
  if (conn->rx_len + len > conn->rx_cap) {
    size_t cap = conn->rx_cap ? conn->rx_cap : 4096;
    while (cap < conn->rx_len + len) cap *= 2;
    if (cap > max_bytes) cap = max_bytes;
    uint8_t *rx = realloc(conn->rx, cap);
    if (!rx) {
      conn->rx_discard = !final;
      return PROTO_ENOMEM;
    }
    conn->rx = rx;
    conn->rx_cap = cap;
  }
  /* permessage-deflate can hand over an empty piece (in may be NULL). */
  if (len) memcpy(conn->rx + conn->rx_len, in, len);
  conn->rx_len += len;
  if (!final) return 0;
  *msg = conn->rx;
  *msg_len = conn->rx_len;
  conn->rx_len = 0;
  return 1;
}
