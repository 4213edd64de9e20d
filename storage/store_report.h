/* store_report.h — private to storage/: the funder report (STORE_REPORT of
 * store.h) read on the coordinators' reader thread, and the log of downloads
 * (STORE_EXPORT_LOG) written on the writer thread. store_sqlite.c only
 * dispatches to these. */
#ifndef TURF_STORE_REPORT_H
#define TURF_STORE_REPORT_H

#include <sqlite3.h>

#include "store.h"

/* Reader thread: fills req->u.report in one read transaction on db.
 * Returns 0, PROTO_EBAD_FIELD (no such table), PROTO_ESTORAGE or
 * PROTO_ENOMEM; outputs are freed by store__report_dispose either way. */
int store__report(sqlite3 *db, store_req_t *req);
void store__report_dispose(store_req_t *req);

/* Writer thread, inside the group commit's transaction: one row of the
 * exports table. Returns 0 or PROTO_ESTORAGE. */
int store__export_log(sqlite3 *db, store_req_t *req);

/* The schema step that creates the exports table (version 9). */
extern const char store__schema_exports[];

#endif
