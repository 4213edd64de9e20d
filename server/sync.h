/* sync.h — the sync engine on the loop: hello and enrolment, pushes handed
 * to storage and acked once durable, pulls answered in pages, and live
 * fan-out of committed ops to the other connections of an organisation.
 * It knows frames and connections; the websocket transport (ws.c) feeds it
 * whole messages and writable events. Loop thread only. */
#ifndef TURF_SYNC_H
#define TURF_SYNC_H

#include <uv.h>

#include "../storage/store.h"
#include "config.h"
#include "conn.h"

typedef struct sync_s sync_t;

/* store and cfg must outlive the engine. NULL on ENOMEM. */
sync_t *sync_new(uv_loop_t *loop, store_t *store, const config_t *cfg);
/* Call after every connection has closed. */
void sync_free(sync_t *sync);

/* Transport events. sync_on_open returns 0, or -1 when the connection is
 * refused (its address already holds --max-pending-per-address connections
 * not yet welcomed, or out of memory; logged): the caller closes it, and
 * sync_on_close is not called for it. */
int sync_on_open(sync_t *sync, conn_t *conn);
void sync_on_message(sync_t *sync, conn_t *conn, const uint8_t *msg, size_t len);
/* A message was refused before decoding (text frame, oversized). */
void sync_on_bad_message(sync_t *sync, conn_t *conn, int code);
void sync_on_close(sync_t *sync, conn_t *conn);

/* Administration (server/admin.c relays turfctl's notices). */
/* Ops were committed to org_id outside this process (turfctl): reads them
 * and sends them live to the organisation's connections. */
void sync_org_changed(sync_t *sync, int64_t org_id);
/* device was revoked: its connections get BAD_CREDENTIALS and close at
 * once, before anything else is sent to them. Returns how many. */
uint32_t sync_device_revoked(sync_t *sync, const char *device);
/* device's locations changed (turfctl device scope): its connections get
 * RESCOPED and close at once, before anything else is sent to them, so it
 * reconnects, gets its new scope and is told to sync again ("rs"). Returns
 * how many. */
uint32_t sync_device_rescoped(sync_t *sync, const char *device);

/* The coordinator dashboard (dashboard.h) to tell about commits and
 * devices coming and going; NULL (the default) tells no one. */
typedef struct dashboard_s dashboard_t;
void sync_set_dashboard(sync_t *sync, dashboard_t *dashboard);
/* Calls cb with the device id of each connection of org that said hello
 * (a device may appear once per connection). */
void sync_foreach_online(sync_t *sync, int64_t org_id, void (*cb)(void *arg, const char *device),
                         void *arg);

/* From now on new frames get SHUTTING_DOWN; nothing new reaches storage.
 * Every welcomed connection is told SHUTTING_DOWN (x = true, close code
 * 1001) once it has no push in flight: a push the store is committing is
 * acked first. sync_welcomed_count says how many are still open. */
void sync_begin_shutdown(sync_t *sync);
uint32_t sync_welcomed_count(const sync_t *sync);
uint32_t sync_connection_count(const sync_t *sync);

#endif
