/* store_dashboard.h — private to storage/: the coordinator dashboard's
 * requests (STORE_VIEW, STORE_ACTION of store.h), run on store_sqlite.c's
 * threads. store_sqlite.c only dispatches to these; what they read and write
 * is in store_dashboard.c. */
#ifndef TURF_STORE_DASHBOARD_H
#define TURF_STORE_DASHBOARD_H

#include <sqlite3.h>

#include "replica.h"
#include "scope.h"
#include "store.h"

/* Registers on db (the reader's connection) the SQL functions the views
 * use: turf_name_matches(name, query), fold.h's search. Returns 0 or -1. */
int store__dashboard_functions(sqlite3 *db);

/* Reader thread: fills req->u.view in one read transaction on db (the
 * reader's query-only connection). Returns 0 or PROTO_ESTORAGE / NOMEM;
 * outputs are freed by store__view_dispose either way. */
int store__view(sqlite3 *db, store_req_t *req);
void store__view_dispose(store_req_t *req);

/* Writer thread, inside the group commit's transaction on db: carries out
 * req->u.action, writing its op (if any) through replica and scope exactly
 * as a push is written. A refusal (PROTO_EBAD_FIELD, PROTO_EINVALID_OP)
 * leaves the transaction as it found it; PROTO_ESTORAGE means the caller
 * must roll the whole group back. */
int store__action(sqlite3 *db, replica_t *replica, scope_t *scope, store_req_t *req);

#endif
