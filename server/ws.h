/* ws.h — the libwebsockets side of turfd: one context on our libuv loop
 * serving websocket subprotocol turf.v1 and plain http (/healthz) on one
 * port. Loop thread only. */
#ifndef TURF_WS_H
#define TURF_WS_H

#include <uv.h>

#include "config.h"
#include "sync.h"

typedef struct ws_s ws_t;

/* Creates the lws context on loop and starts listening. Returns NULL on
 * failure (logged). */
ws_t *ws_start(uv_loop_t *loop, sync_t *sync, const config_t *cfg);
/* The port actually bound (useful with --port 0). */
int ws_port(const ws_t *ws);
/* Closes every connection and the listener; lws releases its handles as the
 * loop runs on. Call from outside lws callbacks. */
void ws_stop(ws_t *ws);
/* After uv_run has returned: lets lws finish, then frees ws. */
void ws_free(ws_t *ws);

#endif
