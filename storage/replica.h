/* replica.h — the materialised tables (locations, activities, sessions,
 * participants, check-ins, tallies, messages, session logs) and the one
 * function that applies an op to them with the merge rules of protocol/.
 *
 * Used by the server inside its write transactions and by the sample client
 * for its local replica, so tablet and server merge with the same code. Works
 * on a sqlite3 connection owned by the caller; never begins or commits a
 * transaction itself. Not thread-safe: one replica per connection, used from
 * the thread that owns that connection. */
#ifndef TURF_REPLICA_H
#define TURF_REPLICA_H

#include <sqlite3.h>

#include "../protocol/proto.h"

typedef struct replica_s replica_t;

typedef struct {
  bool log_conflicts; /* keep discarded LWW values in the conflicts table */
} replica_options_t;

/* DDL (CREATE TABLE/INDEX/VIEW ... ) for the materialised tables with their
 * field clocks and the conflict log, as the server database and the
 * tablet's local file create them today. Static string; cannot fail. */
const char *replica_schema_sql(void);

/* Moves the field clocks of a replica created before they lived in the
 * record rows (a field_clocks table, one row per written field) into the
 * rows; the result is what replica_schema_sql() creates. For the caller's
 * migrations, inside their transaction. Static string; cannot fail. */
const char *replica_clocks_migration_sql(void);

/* Prepares statements on db, whose schema must already include
 * replica_schema_sql(). Returns NULL on failure. db stays the caller's. */
replica_t *replica_open(sqlite3 *db, const replica_options_t *opts);
void replica_close(replica_t *replica); /* NULL is fine */

/* Applies op to organisation org. op->device must be set; op->server_seq is
 * 0 for a tablet's own not-yet-committed op. Applying the same op again
 * changes nothing. Returns 0; PROTO_EINVALID_OP or PROTO_ENOT_AUTHOR when the
 * op is refused (nothing changed); PROTO_ESTORAGE on an SQLite error (the
 * caller should roll back). */
int replica_apply(replica_t *replica, int64_t org, const proto_op_t *op);

/* A tablet's own op came back from the server with the server's HLC (which
 * differs when the server bounded a clock that ran ahead) and server_seq:
 * every field clock of op's record still written by (op->device, op->seq)
 * takes op->hlc and op->server_seq. Returns 0 or PROTO_ESTORAGE. */
int replica_rebase_own(replica_t *replica, int64_t org, const proto_op_t *op);

#endif
