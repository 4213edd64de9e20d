/* dashboard.h — the coordinator dashboard's live side: a websocket
 * subprotocol (turf.dashboard.v1) on turfd's port that sends the browser
 * JSON views of an organisation (today's sessions, devices, conflicts,
 * probable duplicates, group messages) and sends them again whenever a
 * commit or a device changes them, and that carries out the coordinator's
 * revert, dismiss and merge actions as server-written ops.
 *
 * The feed is JSON, not msgpack: the page then needs no decoder library,
 * and SQLite builds the documents (storage/store_dashboard.c). Each JSON
 * message travels in a binary websocket frame and the page decodes it with
 * TextDecoder, so that a device name with broken UTF-8 is shown with a
 * replacement character instead of breaking the connection (browsers close
 * on a text frame that is not UTF-8). Messages are documented in
 * docs/dashboard.md.
 *
 * Only a request with a live coordinator session (auth.h) may connect, and
 * a browser's Origin must be the page's own (so another site open in the
 * coordinator's browser cannot drive it). A page sees only its
 * coordinator's organisation, acts only when their role may write, and is
 * closed when their session ends. Loop thread only. */
#ifndef TURF_DASHBOARD_H
#define TURF_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../storage/store.h"
#include "sync.h"

#define DASHBOARD_SUBPROTOCOL "turf.dashboard.v1"

struct lws;
typedef struct dashboard_s dashboard_t;

/* store and sync must outlive the dashboard. NULL on ENOMEM. */
dashboard_t *dashboard_new(uv_loop_t *loop, store_t *store, sync_t *sync);
/* After every connection has closed and the store has answered everything
 * it was asked (main.c's shutdown order). */
void dashboard_free(dashboard_t *dash);

/* Per-connection data lws allocates (and zeroes) for the dashboard
 * protocol; private to dashboard.c. */
typedef struct {
  void *_client;
} dashboard_session_t;

/* The lws protocol callback of turf.dashboard.v1 (ws.c forwards to it);
 * user points to a dashboard_session_t. */
int dashboard_callback(dashboard_t *dash, struct lws *wsi, int reason, void *user, void *in,
                       size_t len);

/* From the sync engine: ops were committed to org (ncommitted may be 0 when
 * a push only changed a device's outbox), or one of org's devices said
 * hello or left. The views that can have changed are read again and sent
 * to the pages showing org; nothing is read when no page shows it. */
void dashboard_on_commit(dashboard_t *dash, int64_t org, uint32_t ncommitted);
void dashboard_on_device(dashboard_t *dash, int64_t org);
/* From the report API (api.h): a download of org's was logged; its
 * coordinators' pages list it. */
void dashboard_on_export(dashboard_t *dash, int64_t org);

#endif
