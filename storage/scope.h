/* scope.h — access control where the data is: which location an op belongs
 * to, whether a device may write it, which record ids belong to another
 * organisation, and which participants were erased.
 *
 * A device belongs to one organisation and, optionally, to some of its
 * locations (its scope). Locations, activities, sessions and everything
 * recorded in a session (check-ins, tallies, session logs) and messages
 * belong to one location, found by following session -> activity ->
 * location (messages: activity -> location); participants and erasures
 * belong to the whole organisation. A scoped device receives and may write
 * only what belongs to its locations or to the whole organisation, except
 * participants: it receives a participant's ops only once the participant
 * is visible to it (PROTOCOL.md section 6, Scope) — a check-in names them
 * in one of its locations, or their first op came from the device itself.
 *
 * Works on a sqlite3 connection of the server database owned by the caller,
 * inside the caller's transaction (turfd's writer thread, or turfctl).
 * Not thread-safe: one scope_t per connection, used by its owner only. */
#ifndef TURF_SCOPE_H
#define TURF_SCOPE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "../protocol/proto.h"

typedef struct scope_s scope_t;

/* Where an op belongs once applied; stored with the op (ops.loc) so that
 * pulls and live fan-out filter without looking anything up. */
typedef enum {
  SCOPE_ORG = 0,      /* the whole organisation (participants, erasures):
                         ops.loc NULL */
  SCOPE_UNPLACED = 1, /* a location-bound record whose location is not known
                         (a session of an activity never seen): ops.loc '';
                         only devices without a scope receive it */
  SCOPE_LOCATION = 2, /* belongs to location `loc`: ops.loc = loc */
} scope_place_t;

typedef struct {
  scope_place_t place;
  char loc[PROTO_MAX_ID_BYTES + 1]; /* SCOPE_LOCATION: the location id */
} scope_where_t;

/* The locations a device is limited to; n == 0 means the whole
 * organisation. ids is owned (scope_device_dispose frees it). */
typedef struct {
  uint32_t n;
  char (*ids)[PROTO_MAX_ID_BYTES + 1];
} scope_device_t;

/* Prepares statements on db, whose schema must be the server's (store.h
 * migrates it). db stays the caller's. Returns NULL on failure (printed). */
scope_t *scope_open(sqlite3 *db);
void scope_close(scope_t *scope); /* NULL is fine */

/* Loads device's locations into *out (n == 0: unscoped). Returns 0 or
 * PROTO_ESTORAGE / PROTO_ENOMEM (*out is then empty). */
int scope_device_load(scope_t *scope, proto_str_t device, scope_device_t *out);
void scope_device_dispose(scope_device_t *dev); /* safe on a zeroed one */

/* Whether a device with scope dev may see something placed at where.
 * Cannot fail. */
bool scope_device_allows(const scope_device_t *dev, const scope_where_t *where);

/* Decides, before op is applied to organisation org, whether it may be
 * written, and where it will belong (*where, always set on 0).
 * dev is the writing device's scope, or NULL for the administrator
 * (turfctl, the demo seed), who may write anything in org, erasures
 * included. For a device the op is refused with:
 *   PROTO_EOUT_OF_SCOPE when a record it names (its key, its second key, a
 *     location / activity / participant it points to) exists in another
 *     organisation; when it is an erasure (administrators only); or, for a
 *     scoped device, when the record's location before or after the op is
 *     outside the device's locations;
 *   PROTO_EERASED when it is about an erased participant.
 * Returns 0, one of those, or PROTO_ESTORAGE. Reads only. */
int scope_check_op(scope_t *scope, int64_t org, const scope_device_t *dev, const proto_op_t *op,
                   scope_where_t *where);

/* A cache of what scope_check_op looks up (which organisation an id
 * belongs to, a session's activity, an activity's location, erasures), for
 * a connection whose record tables only this scope_t's scope_check_op
 * callers write (turfd's writer). Off until scope_cache_begin is called.
 * Call scope_cache_begin after every BEGIN: it empties the cache when
 * another connection has committed since (PRAGMA data_version), and turns
 * the cache on. Call scope_cache_forget after a ROLLBACK (the cache may
 * hold what the rolled-back transaction wrote). Every op given to
 * scope_check_op must then be applied, or its transaction rolled back,
 * before the next call: the entries an op may change are dropped when it is
 * checked. scope_cache_begin returns 0 or PROTO_ESTORAGE (the cache is then
 * off). */
int scope_cache_begin(scope_t *scope);
void scope_cache_forget(scope_t *scope);

/* Binds where as the value of ops.loc (NULL, '' or the location id).
 * Returns an SQLite result code. */
int scope_bind_where(sqlite3_stmt *st, int index, const scope_where_t *where);

/* Reads ops.loc from column col into *where. Cannot fail. */
void scope_column_where(sqlite3_stmt *st, int col, scope_where_t *where);

/* Gives a device the locations its enrolment code was issued for (none:
 * the whole organisation), replacing what it had. Call in the transaction
 * that enrols it. Returns
 * 0 or PROTO_ESTORAGE. */
int scope_enroll(scope_t *scope, proto_str_t code, proto_str_t device);

/* Whether list (location ids, each NUL-terminated, ending with an empty
 * string; NULL: unscoped) lets a device see an op whose ops.loc is loc
 * (loc.ptr NULL: the whole organisation; "": unplaced). Pure; for the
 * server's live fan-out. Cannot fail. */
bool scope_list_allows(const char *list, proto_str_t loc);

/* Visibility of participants. The server keeps, per participant, the
 * device whose op created them and, per location, the server_seq of the
 * first check-in there that names them (tables participant_creators and
 * participant_locations). Both only grow, so whether a device could see a
 * participant at server_seq n is fixed once n is committed: pulls and live
 * fan-out decide alike, whenever they run. */

/* Records what a committed op (applied, logged with its server_seq, placed
 * at where by scope_check_op) makes visible: a participant op's creator, a
 * check-in's participant at its location. *first (may be NULL) tells
 * whether op is a check-in that made its participant visible at its
 * location for the first time. Call in the op's transaction. Returns 0 or
 * PROTO_ESTORAGE. */
int scope_note_op(scope_t *scope, int64_t org, const proto_op_t *op, const scope_where_t *where,
                  bool *first);

/* Where participant was visible before server_seq n: *locs (the caller
 * frees it; NULL when none) lists the locations of check-ins naming them
 * with a smaller server_seq, in scope_list_allows' format; creator is the
 * device whose op created them if that op's server_seq is <= n, else "".
 * Returns 0, PROTO_ENOMEM or PROTO_ESTORAGE (*locs NULL then). */
int scope_participant_seen(scope_t *scope, int64_t org, proto_str_t participant, uint64_t n,
                           char **locs, char creator[PROTO_MAX_ID_BYTES + 1]);

/* The server_seqs (ascending, distinct, each < below) of the ops whose
 * values the participant's fields hold now (the replica's slots). Applying
 * those ops gives a replica the participant as the server has them, so
 * they are what a device newly seeing a participant needs of the past: at
 * most one op per field. *n is set to their number (<= out's capacity,
 * PROTO_MAX_FIELDS_PER_OP). Returns 0 or PROTO_ESTORAGE. */
int scope_participant_holders(scope_t *scope, int64_t org, proto_str_t participant,
                              uint64_t below, uint64_t out[PROTO_MAX_FIELDS_PER_OP],
                              uint32_t *n);

/* Whether two location lists (scope_list_allows' format; NULL: none for
 * b, unscoped for a) share a location. Pure. Cannot fail. */
bool scope_lists_meet(const char *a, const char *b);

/* Whether a device of scope list `list` (NULL: unscoped) and id `device`
 * could see a participant that was visible at seen_locs or created by
 * creator (scope_participant_seen). Pure. Cannot fail. */
bool scope_list_sees(const char *list, proto_str_t device, const char *seen_locs,
                     proto_str_t creator);

/* Gives a device new locations (locs: ids, n == 0: the whole
 * organisation), replacing what it had, and bumps its scope generation
 * (devices.scope_gen), so that it is told to sync again from scratch
 * (PROTOCOL.md section 6, Scope changes). *changed is false when it had
 * exactly those locations already: nothing is written then. Call in one
 * transaction with whatever else goes with the change (the caller's).
 * Returns 0 or PROTO_ESTORAGE (*changed false). */
int scope_set_device(scope_t *scope, proto_str_t device, const char *const *locs, uint32_t n,
                     bool *changed);

#endif
