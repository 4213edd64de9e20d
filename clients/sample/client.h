/* client.h — the sync side of a tablet: websocket connections to turfd on a
 * libuv loop, with libwebsockets attached to that loop as a foreign loop.
 *
 * A client_t owns one lws context and may hold many connections (the `sim`
 * command runs many tablets in one process). Each client_conn_t binds one
 * local file (local.h) to one server: it says hello, pushes the outbox in
 * batches until every op is acked or rejected, pulls until caught up,
 * applies live changes, answers pings, pings every 20 s, retries uploads on
 * a timer and reconnects with exponential backoff and full jitter.
 *
 * Loop thread only. Lifetime: client_new, client_conn_start..., run the
 * loop; client_shutdown (safe anywhere, also inside callbacks) closes every
 * connection and timer and destroys the lws context from outside lws
 * callbacks, after which uv_run returns; then client_free finishes the lws
 * teardown and frees everything, and uv_loop_close returns 0. */
#ifndef TURF_CLIENT_H
#define TURF_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"
#include "local.h"

typedef struct client_s client_t;
typedef struct client_conn_s client_conn_t;

/* Counters of one connection, summed over its reconnects. */
typedef struct {
  uint64_t pushed;   /* ops sent in push frames (a resend counts again) */
  uint64_t acked;    /* outbox entries acknowledged as durable */
  uint64_t rejected; /* outbox entries the server refused (now attention) */
  uint64_t pulled;   /* ops applied from changes and live frames */
  uint32_t welcomes; /* sessions that reached welcome */
  uint32_t resyncs;  /* welcomes that said "rs": the replica was dropped */
} client_stats_t;

typedef struct {
  /* A welcome was applied to the local file (offset, token, durable ops). */
  void (*on_welcome)(client_conn_t *conn, const proto_welcome_t *welcome);
  /* An op of another device was applied. live: it arrived (directly or via
   * the pull it prompted) after this session had first caught up. */
  void (*on_op)(client_conn_t *conn, const proto_op_t *op, bool live);
  /* Everything in the outbox is acked or rejected and the pull has caught
   * up. Runs each time the connection reaches that state. */
  void (*on_synced)(client_conn_t *conn);
  /* The connection failed or closed. reason is human text; code is a
   * negative PROTO_E* code when the server said why, else 0. will_retry:
   * a reconnect is scheduled. */
  void (*on_disconnect)(client_conn_t *conn, int code, const char *reason, bool will_retry);
} client_callbacks_t;

typedef struct {
  const char *url;  /* ws://host[:port][/path] or wss://...; copied */
  const char *code; /* enrolment code, sent in hello only while the file
                       holds no token (after that the token); copied; may
                       be NULL */
  bool reconnect;   /* reconnect after a drop or a failed attempt */
  void *data;       /* the caller's context, see client_conn_data */
  client_callbacks_t cb;
} client_conn_options_t;

/* Creates the lws context on loop (which the caller owns and runs). Returns
 * NULL after printing why to stderr. */
client_t *client_new(uv_loop_t *loop);

typedef struct {
  const char *ca_file; /* PEM file of the CA certificate(s) a wss:// server's
                          certificate must chain to (its name must match the
                          URL's host too); NULL: the system's CAs */
} client_options_t;

/* client_new with options; opts may be NULL. */
client_t *client_new_opts(uv_loop_t *loop, const client_options_t *opts);

/* Adds a connection for local (borrowed: it must outlive the client) and
 * starts connecting. Returns NULL on ENOMEM or a bad URL (printed). The
 * connection belongs to the client and is freed by client_free. */
client_conn_t *client_conn_start(client_t *client, local_t *local,
                                 const client_conn_options_t *opts);

void *client_conn_data(const client_conn_t *conn);
local_t *client_conn_local(const client_conn_t *conn);
/* Counters so far; cannot fail. */
client_stats_t client_conn_stats(const client_conn_t *conn);
/* True between welcome and the next disconnect. */
bool client_conn_ready(const client_conn_t *conn);
/* True when the last on_synced still holds (nothing left to push or pull). */
bool client_conn_synced(const client_conn_t *conn);

/* Begins closing everything; idempotent; safe inside any callback. No
 * callback of any connection runs after it returns. */
void client_shutdown(client_t *client);

/* After uv_run has returned following client_shutdown: completes the lws
 * teardown, runs the loop until its last handles closed, and frees the
 * client and its connections. NULL is fine. */
void client_free(client_t *client);

#endif
