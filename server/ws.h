/* ws.h — the libwebsockets side of turfd: one context on our libuv loop
 * serving websocket subprotocol turf.v1 and plain http (/healthz) on one
 * port. Loop thread only. */
#ifndef TURF_WS_H
#define TURF_WS_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "sync.h"

typedef struct ws_s ws_t;

/* Says in words why turfd cannot listen where cfg says (a port in use, an
 * address not of this machine), before anything else starts: lws would only
 * log "ERROR on binding fd N". Returns 0 when a bind of our own succeeded or
 * the address is not numeric (lws resolves it), -1 after logging why not. */
int ws_probe_listen(const config_t *cfg);

/* Creates the lws context on loop and starts listening. Returns NULL on
 * failure (logged). */
ws_t *ws_start(uv_loop_t *loop, sync_t *sync, const config_t *cfg);
/* The port actually bound (useful with --port 0). */
int ws_port(const ws_t *ws);
/* false when lws made the context but could not listen (a TLS file that
 * does not load): stop and free ws as usual, and exit. */
bool ws_listening(const ws_t *ws);
/* Serves the dashboard's websocket (dashboard.h) with dashboard; call
 * before the loop runs. */
typedef struct dashboard_s dashboard_t;
void ws_set_dashboard(ws_t *ws, dashboard_t *dashboard);
/* Answers the /auth routes with auth (auth.h); call before the loop runs.
 * Returns 0 or -1. */
typedef struct auth_s auth_t;
int ws_set_auth(ws_t *ws, auth_t *auth);
/* Answers /api (api.h) with api; call before the loop runs. */
typedef struct api_s api_t;
int ws_set_api(ws_t *ws, api_t *api);
/* Closes every connection and the listener; lws releases its handles as the
 * loop runs on. Call from outside lws callbacks. */
void ws_stop(ws_t *ws);
/* After uv_run has returned: lets lws finish, then frees ws. */
void ws_free(ws_t *ws);

#endif
