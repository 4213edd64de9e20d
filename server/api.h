/* api.h — /api/report: the funder report's tables for download, as CSV (for
 * a spreadsheet) or JSON (for a program), to a logged-in coordinator
 * (auth.h; the session cookie, as the dashboard's page has it).
 *
 *   GET /api/report?from=YYYY-MM-DD&to=YYYY-MM-DD[&location=ID][&activity=ID]
 *       [&table=NAME][&format=csv|json][&sep=;|,][&lang=nl|en][&names=1]
 *
 * docs/dashboard.md (Reports) lists the tables and their columns. Exports
 * are deliberate and logged: the participants table (one row per person)
 * is for coordinators only and shows pseudonyms unless names=1; every
 * download is written to the exports table (who, when, what, how many
 * rows) before a byte of it is sent, and the organisation's coordinators'
 * pages list it (dashboard_on_export). A download that cannot be logged is
 * not sent. The table is read on the store's coordinators' reader thread,
 * never on the loop.
 *
 * Wiring into ws.c as for auth.h: a protocol API_PROTOCOL_NAME whose
 * callback is api_lws_callback, api_mount among the vhost's mounts, and
 * api_attach() once the context exists. Loop thread only. */
#ifndef TURF_API_H
#define TURF_API_H

#include <libwebsockets.h>

#include "../storage/store.h"
#include "dashboard.h"

typedef struct api_s api_t;

#define API_PROTOCOL_NAME "turf-api"
#define API_SESSION_BYTES 512 /* lws per-request data of /api */

extern const struct lws_http_mount api_mount;

int api_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* store must outlive it; dash may be NULL (no page then hears of a
 * download). NULL on ENOMEM. */
api_t *api_new(store_t *store, dashboard_t *dash);
/* Makes /api on vhost answer with api; call once before the loop runs.
 * Returns 0 or -1. */
int api_attach(api_t *api, struct lws_vhost *vhost);
/* After every connection has closed and the store has answered what it was
 * asked; requests still out then hold their own memory. */
void api_free(api_t *api);

#endif
