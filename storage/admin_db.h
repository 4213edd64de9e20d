/* admin_db.h — the administrator's work on the server database, done
 * synchronously by turfctl (never by turfd's loop): organisations,
 * records written as ops of the organisation's administrator device,
 * enrolment codes, devices, coordinator accounts, export and erasure of a
 * participant, online backup.
 *
 * Every call that changes something runs in its own transaction (BEGIN
 * IMMEDIATE: it waits for turfd's writer, up to a busy timeout, rather than
 * failing), so turfd may serve the same file meanwhile. Ops are committed
 * exactly as a push commits them (replica.h merge, ops log, head), so
 * tablets receive them by pulling; turfctl then tells a running turfd to
 * send them live (server/admin.h).
 *
 * Returns: 0, or a negative PROTO_E* code — PROTO_EBAD_FIELD for an
 * argument that names nothing (or several things), PROTO_ESTORAGE for a
 * database error; a message saying which is printed to stderr. Output
 * listings are tab-separated with a header line. */
#ifndef TURF_ADMIN_DB_H
#define TURF_ADMIN_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../protocol/proto.h"
#include "../protocol/zone.h"

typedef struct admin_db_s admin_db_t;

#define ADMIN_DB_ID_SIZE (PROTO_MAX_ID_BYTES + 1)

/* Opens (creating and migrating) the server database at path. NULL on
 * failure (printed). */
admin_db_t *admin_db_open(const char *path);
void admin_db_close(admin_db_t *db); /* NULL is fine */

/* ---- organisations and records ---- */

int admin_db_org_create(admin_db_t *db, const char *name, int64_t now_ms, int64_t *org_out);
/* Resolves an organisation given by id or exact name. */
int admin_db_org_find(admin_db_t *db, const char *arg, int64_t *org_out);
int admin_db_org_list(admin_db_t *db, FILE *out);
/* The organisation's time zone (zone.h); setting it checks that this
 * machine's time zone database has it. */
int admin_db_org_tz(admin_db_t *db, int64_t org, char tz[ZONE_NAME_MAX + 1]);
int admin_db_org_set_tz(admin_db_t *db, int64_t org, const char *tz);

/* Resolves a record of type (schema.h) in org by its id or, failing that,
 * its unique name (participants: display name). */
int admin_db_find(admin_db_t *db, int64_t org, uint8_t type, const char *arg,
                  char id_out[ADMIN_DB_ID_SIZE]);

/* Creates a record as the administrator's op; the new id (UUIDv7) goes to
 * id_out. weekday 0 / start NULL leave those fields unset. */
int admin_db_location_create(admin_db_t *db, int64_t org, const char *name, int64_t now_ms,
                             char id_out[ADMIN_DB_ID_SIZE]);
int admin_db_activity_create(admin_db_t *db, int64_t org, const char *location,
                             const char *name, int weekday, const char *start, int64_t now_ms,
                             char id_out[ADMIN_DB_ID_SIZE]);
int admin_db_session_create(admin_db_t *db, int64_t org, const char *activity, const char *date,
                            const char *start, int64_t now_ms, char id_out[ADMIN_DB_ID_SIZE]);

/* Calls a session off (cancelled), or on again: an op on its cancelled
 * field. session is its id. */
int admin_db_session_cancel(admin_db_t *db, int64_t org, const char *session, bool cancelled,
                            int64_t now_ms);

/* Lists org's records of one kind. date may be NULL (sessions: all). */
int admin_db_location_list(admin_db_t *db, int64_t org, FILE *out);
int admin_db_activity_list(admin_db_t *db, int64_t org, FILE *out);
int admin_db_session_list(admin_db_t *db, int64_t org, const char *date, FILE *out);
int admin_db_participant_list(admin_db_t *db, int64_t org, FILE *out);

/* ---- devices ---- */

/* A new enrolment code for org, valid until now + ttl_ms for `uses`
 * enrolments, limiting the devices it enrols to locations[0..n) (ids in
 * org; n == 0: the whole organisation). code_out: 8 characters. */
int admin_db_enroll(admin_db_t *db, int64_t org, const char *const *locations, uint32_t n,
                    int64_t ttl_ms, uint32_t uses, int64_t now_ms,
                    char code_out[ADMIN_DB_ID_SIZE]);
/* Devices (of org, or all when org is 0) with their last sync. */
int admin_db_device_list(admin_db_t *db, int64_t org, int64_t now_ms, FILE *out);
/* Revokes a device: its token stops working for good. *org_out is its
 * organisation. What it pushed stays. */
int admin_db_device_revoke(admin_db_t *db, const char *device, int64_t now_ms,
                           int64_t *org_out);
/* Gives a tablet new locations: locations[0..n) (ids or names in its
 * organisation; n == 0: the whole organisation; n <= ADMIN_DB_MAX_LOCATIONS),
 * with a bump of its scope generation in the same transaction, so that it
 * drops its replica and syncs again from scratch (scope_set_device).
 * ids_out[0..n) gets the locations' ids; *changed is false when the device
 * had exactly those already (nothing written). A device that does not
 * exist, was revoked, or is the server's own is refused. */
#define ADMIN_DB_MAX_LOCATIONS 16
int admin_db_device_scope(admin_db_t *db, const char *device, const char *const *locations,
                          uint32_t n, char (*ids_out)[ADMIN_DB_ID_SIZE], bool *changed);

/* ---- coordinators ---- */

/* password_hash: a crypt(3) string from passwd_hash (server/passwd.h). */
int admin_db_coordinator_create(admin_db_t *db, int64_t org, const char *login,
                                const char *name, const char *role, const char *password_hash,
                                int64_t now_ms);
int admin_db_coordinator_list(admin_db_t *db, int64_t org, FILE *out);
int admin_db_coordinator_set_password(admin_db_t *db, const char *login,
                                      const char *password_hash);
int admin_db_coordinator_set_disabled(admin_db_t *db, const char *login, bool disabled);

/* ---- participants ---- */

/* Writes everything the server holds about participant (and the
 * duplicates merged into them) as one JSON document. */
int admin_db_participant_export(admin_db_t *db, int64_t org, const char *participant,
                                int64_t now_ms, FILE *out);

/* Erases participant and the duplicates merged into them: an erasure op
 * per id (every replica purges them, tablets offline now included, when
 * they next pull), their ops in the log rewritten to that erasure, their
 * refused ops stripped; then the file is checkpointed and, with vacuum,
 * rebuilt so no free page keeps an old copy. The erased ids are printed to
 * report, one a line. A participant merged into another is refused
 * (erase the one it is merged into). */
int admin_db_participant_erase(admin_db_t *db, int64_t org, const char *participant,
                               bool vacuum, int64_t now_ms, FILE *report);

/* ---- files ---- */

/* Copies the database to dest with SQLite's online backup (a consistent
 * snapshot while turfd writes), written next to dest and renamed into
 * place once complete and checked. */
int admin_db_backup(admin_db_t *db, const char *dest, FILE *report);

#endif
