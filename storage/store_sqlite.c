/* store_sqlite.c — the SQLite backend of the storage interface (store.h).
 *
 * Owns three connections to one database file in WAL mode and the three
 * threads that use them: a writer that group-commits hello/push/status and
 * the dashboard's actions (many requests, one transaction, one fsync), a
 * reader that serves the tablets' pulls from a query-only connection, so a
 * long pull never holds up a commit, and a second reader for coordinators'
 * views and reports, so that a report never holds up a tablet's pull. Completed requests go to a done list and are handed back on the
 * caller's loop through one uv_async_t. The loop thread only ever moves
 * pointers under a mutex; it never touches SQLite.
 *
 * Also owns the database schema and its migrations (PRAGMA user_version),
 * and store_seed_demo, which writes the demo organisation as ordinary ops. */
#include "store.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "hlc.h"
#include "replica.h"
#include "schema.h"
#include "scope.h"
#include "store_dashboard.h"
#include "store_report.h"

#define STORE__SCHEMA_VERSION 9
#define STORE__DEFAULT_BATCH 256
#define STORE__READ_BATCH 32     /* pulls taken from the queue at once */
#define STORE__BUSY_TIMEOUT_MS 5000
#define STORE__TOKEN_BYTES 32    /* random bytes in a device token */
#define STORE__HASH_HEX 64       /* hex sha256 */
#define STORE__CODE_LEN 8
#define STORE__CODE_TTL_MS ((int64_t)24 * 60 * 60 * 1000)
#define STORE__SEED_DEVICE "server"
#define STORE__DEMO_ORG "Buurtwerk Demo"

/* ---- schema -------------------------------------------------------------- */

/* Server tables of schema version 1 (the replica's tables follow them).
 * ops is clustered on (org, server_seq) — WITHOUT ROWID — because pulls read
 * one organisation's ops in server_seq order, a range scan on that key. */
static const char store__schema_v1[] =
    "CREATE TABLE orgs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  head INTEGER NOT NULL DEFAULT 0, -- newest server_seq\n"
    "  created_ms INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE devices (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  org INTEGER NOT NULL REFERENCES orgs (id),\n"
    "  name TEXT,\n"
    "  token_hash TEXT, -- hex sha256 of the token; NULL: cannot log in\n"
    "  app TEXT,\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  last_seen_ms INTEGER,\n"
    "  last_seq INTEGER NOT NULL DEFAULT 0, -- highest device_seq held\n"
    "  outbox INTEGER DEFAULT 0,            -- ops the device still has to push\n"
    "  clock_offset_ms INTEGER DEFAULT 0,   -- server clock minus device clock\n"
    "  online INTEGER DEFAULT 0,\n"
    "  revoked INTEGER DEFAULT 0\n"
    ");\n"
    "CREATE INDEX devices_by_org ON devices (org);\n"
    "CREATE TABLE ops (\n"
    "  org INTEGER NOT NULL REFERENCES orgs (id),\n"
    "  server_seq INTEGER NOT NULL,\n"
    "  device TEXT NOT NULL REFERENCES devices (id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  hlc INTEGER NOT NULL,\n"
    "  rtype INTEGER NOT NULL,\n"
    "  k TEXT NOT NULL,\n"
    "  k2 TEXT NOT NULL DEFAULT '',\n"
    "  base INTEGER NOT NULL DEFAULT 0,\n"
    "  fields BLOB NOT NULL, -- msgpack map, exactly as sent on the wire\n"
    "  PRIMARY KEY (org, server_seq),\n"
    "  UNIQUE (device, seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE rejected_ops (\n"
    "  device TEXT NOT NULL REFERENCES devices (id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  org INTEGER NOT NULL,\n"
    "  code INTEGER NOT NULL, -- positive wire code\n"
    "  message TEXT,\n"
    "  rtype INTEGER,\n"
    "  k TEXT,\n"
    "  k2 TEXT,\n"
    "  fields BLOB,\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  PRIMARY KEY (device, seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE enroll_codes (\n"
    "  code TEXT PRIMARY KEY,\n"
    "  org INTEGER NOT NULL REFERENCES orgs (id),\n"
    "  expires_ms INTEGER NOT NULL,\n"
    "  uses_left INTEGER NOT NULL\n"
    ");\n";

/* Schema version 2: access control — where each op belongs (scope.h),
 * devices limited to some locations, enrolment codes that carry those
 * locations, coordinator accounts (server/auth.c), and indexes on record ids
 * so that "does this id belong to another organisation" is one lookup. */
static const char store__schema_v2[] =
    "ALTER TABLE ops ADD COLUMN loc TEXT; -- where the op belongs: NULL the whole\n"
    "  -- organisation, '' no location known, else a location id (scope.h)\n"
    "ALTER TABLE devices ADD COLUMN revoked_ms INTEGER;\n"
    "CREATE TABLE device_locations ( -- a device sees only these; none: all\n"
    "  device TEXT NOT NULL REFERENCES devices (id),\n"
    "  location TEXT NOT NULL,\n"
    "  PRIMARY KEY (device, location)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE enroll_code_locations ( -- given to the devices a code enrols\n"
    "  code TEXT NOT NULL REFERENCES enroll_codes (code),\n"
    "  location TEXT NOT NULL,\n"
    "  PRIMARY KEY (code, location)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE coordinators (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  org INTEGER NOT NULL REFERENCES orgs (id),\n"
    "  login TEXT NOT NULL UNIQUE,\n"
    "  name TEXT,\n"
    "  role TEXT NOT NULL DEFAULT 'coordinator', -- coordinator | viewer\n"
    "  password_hash TEXT NOT NULL, -- crypt(3) yescrypt: salted and slow\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  disabled INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    /* Fresh databases got it from the replica DDL already; the same
     * columns as replica.c generates for the erasure type. */
    "CREATE TABLE IF NOT EXISTS erasures (\n"
    "  org INTEGER NOT NULL,\n"
    "  participant TEXT NOT NULL,\n"
    "  erased INTEGER,\n"
    "  PRIMARY KEY (org, participant)\n"
    ");\n"
    "CREATE INDEX locations_by_id ON locations (id);\n"
    "CREATE INDEX activities_by_id ON activities (id);\n"
    "CREATE INDEX sessions_by_id ON sessions (id);\n"
    "CREATE INDEX participants_by_id ON participants (id);\n"
    "CREATE INDEX messages_by_id ON messages (id);\n"
    /* Ops of an older database get their place from today's records. */
    "UPDATE ops SET loc = CASE\n"
    "  WHEN rtype = 1 THEN k\n"
    "  WHEN rtype = 2 THEN COALESCE((SELECT location FROM activities a\n"
    "    WHERE a.org = ops.org AND a.id = ops.k), '')\n"
    "  WHEN rtype IN (3, 5, 6, 8) THEN COALESCE((SELECT a.location FROM sessions s\n"
    "    JOIN activities a ON a.org = s.org AND a.id = s.activity\n"
    "    WHERE s.org = ops.org AND s.id = ops.k), '')\n"
    "  WHEN rtype = 7 THEN COALESCE((SELECT a.location FROM messages m\n"
    "    JOIN activities a ON a.org = m.org AND a.id = m.activity\n"
    "    WHERE m.org = ops.org AND m.id = ops.k), '')\n"
    "  ELSE NULL END;\n";

/* Schema version 3: ops without foreign keys. Only the writer adds ops, for
 * an organisation and a device it has just read (the device's row, with its
 * organisation, authenticates the push; the administrator's and the
 * dashboard's ops name their organisation's own device), and nothing
 * deletes organisations or devices; the two checks were a lookup in orgs
 * and one in devices for every op logged. SQLite cannot drop a constraint,
 * so the table is copied, same columns in the same order, same keys. */
static const char store__schema_v3[] =
    "CREATE TABLE ops_v3 (\n"
    "  org INTEGER NOT NULL,\n"
    "  server_seq INTEGER NOT NULL,\n"
    "  device TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  hlc INTEGER NOT NULL,\n"
    "  rtype INTEGER NOT NULL,\n"
    "  k TEXT NOT NULL,\n"
    "  k2 TEXT NOT NULL DEFAULT '',\n"
    "  base INTEGER NOT NULL DEFAULT 0,\n"
    "  fields BLOB NOT NULL, -- msgpack map, exactly as sent on the wire\n"
    "  loc TEXT, -- where the op belongs: NULL the whole organisation,\n"
    "  -- '' no location known, else a location id (scope.h)\n"
    "  PRIMARY KEY (org, server_seq),\n"
    "  UNIQUE (device, seq)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO ops_v3 (org, server_seq, device, seq, hlc, rtype, k, k2, base, fields, loc)\n"
    "  SELECT org, server_seq, device, seq, hlc, rtype, k, k2, base, fields, loc FROM ops;\n"
    "DROP TABLE ops;\n"
    "ALTER TABLE ops_v3 RENAME TO ops;\n";

/* Schema version 5: which participants a device limited to some locations
 * may see (scope.h). Both tables only grow, in the transaction of the op
 * that adds a row; an older database gets them from its log. */
static const char store__schema_v5[] =
    "CREATE TABLE participant_locations ( -- the first check-in naming a\n"
    "  -- participant at a location: from then on they are visible there\n"
    "  org INTEGER NOT NULL,\n"
    "  participant TEXT NOT NULL,\n"
    "  location TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL, -- that check-in's server_seq\n"
    "  PRIMARY KEY (org, participant, location)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE participant_creators ( -- the device of a participant's first op\n"
    "  org INTEGER NOT NULL,\n"
    "  participant TEXT NOT NULL,\n"
    "  device TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL, -- that op's server_seq\n"
    "  PRIMARY KEY (org, participant)\n"
    ") WITHOUT ROWID;\n"
    "INSERT OR IGNORE INTO participant_locations (org, participant, location, seq)\n"
    "  SELECT org, k2, loc, min(server_seq) FROM ops\n"
    "  WHERE rtype = 5 AND loc IS NOT NULL AND loc <> '' GROUP BY org, k2, loc;\n"
    "INSERT OR IGNORE INTO participant_creators (org, participant, device, seq)\n"
    "  SELECT org, k, device, min(server_seq) FROM ops WHERE rtype = 4 GROUP BY org, k;\n";

/* Schema version 6: a device's scope generation, bumped with every change
 * of its locations (scope_set_device), and the generation it has synced
 * again from scratch for. While the first is greater the device is told to
 * drop its replica and pull from 0 (welcome "rs", PROTOCOL.md section 6). */
static const char store__schema_v6[] =
    "ALTER TABLE devices ADD COLUMN scope_gen INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE devices ADD COLUMN scope_synced INTEGER NOT NULL DEFAULT 0;\n";

/* Version 7: what each device said of its storage in its last hello
 * (hello.st, hello.su), so coordinators see a tablet whose outbox the
 * browser may clear. */
static const char store__schema_v7[] =
    "ALTER TABLE devices ADD COLUMN storage INTEGER NOT NULL DEFAULT 0; -- PROTO_STORAGE_*\n"
    "ALTER TABLE devices ADD COLUMN storage_used INTEGER NOT NULL DEFAULT 0; -- percent\n";

/* Version 8: each organisation's time zone (an IANA name, zone.h): its
 * "today", report periods and the times shown, whatever the server's own. */
static const char store__schema_v8[] =
    "ALTER TABLE orgs ADD COLUMN tz TEXT NOT NULL DEFAULT '" ZONE_DEFAULT "';\n";

/* Runs every migration after the database's user_version, each in its own
 * transaction with the version bump, so a crash leaves a whole version. */
static int store__migrate(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int version, rc;
  char *err = NULL;
  char sql[64];

  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
    goto fail;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW)
    goto rollback;
  version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  st = NULL;
  if (version > STORE__SCHEMA_VERSION) {
    fprintf(stderr, "store: database schema version %d is newer than this turfd (%d)\n",
            version, STORE__SCHEMA_VERSION);
    goto rollback;
  }
  if (version < 1) {
    /* The record tables as they are today, clocks in the rows (version 4)
     * included. */
    if (sqlite3_exec(db, store__schema_v1, NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(db, replica_schema_sql(), NULL, NULL, &err) != SQLITE_OK)
      goto rollback;
  }
  /* Then each later version's step, in order. Version 4 moved each field's
   * clock into its record's row instead of a row of its own in
   * field_clocks (a read and a write per op instead of three statements
   * per field; replica.c); a database made above has them there already. */
  {
    const char *steps[STORE__SCHEMA_VERSION + 1] = {
        [2] = store__schema_v2, [3] = store__schema_v3, [4] = replica_clocks_migration_sql(),
        [5] = store__schema_v5, [6] = store__schema_v6, [7] = store__schema_v7,
        [8] = store__schema_v8,
        [9] = store__schema_exports}; /* the log of report downloads (store_report.c) */
    for (int v = 2; v <= STORE__SCHEMA_VERSION; v++) {
      if (version >= v || (v == 4 && version < 1))
        continue;
      if (sqlite3_exec(db, steps[v], NULL, NULL, &err) != SQLITE_OK)
        goto rollback;
    }
  }
  if (version < STORE__SCHEMA_VERSION) {
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE__SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
      goto rollback;
  }
  rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
  if (rc != SQLITE_OK)
    goto rollback;
  return 0;

rollback:
  sqlite3_finalize(st);
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
  fprintf(stderr, "store: migration failed: %s\n", err ? err : sqlite3_errmsg(db));
  sqlite3_free(err);
  return -1;
}

/* Process-wide SQLite settings, made before SQLite initialises (later calls
 * are refused harmlessly, so every opener may try): SQLite would otherwise
 * count every allocation under a global mutex, a lock and unlock per
 * malloc on the writer's hot path, for statistics nothing here reads. */
static void store__sqlite_config(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

/* The writer's connection:
 * - synchronous=FULL: an ack is durable;
 * - cache_size 64 MiB (an upper bound; pages are cached as they are used):
 *   a push touches a handful of pages per op in tables keyed by ids, and
 *   with SQLite's 2 MiB default most of them were read back from the file,
 *   and written again, in every transaction (a reconnect storm of 100,000
 *   ops: 260,000 preads and 266,000 pwrites with the default, 49,000 and
 *   127,000 with this). */
#define STORE__WRITER_PRAGMAS                                                   \
  "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536"

/* Opens path as a connection for writing: WAL (readers never block the
 * writer), STORE__WRITER_PRAGMAS. */
static int store__open_writer_db(const char *path, sqlite3 **out) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  char *err = NULL;
  const unsigned char *mode;

  store__sqlite_config();
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK)
    goto fail;
  sqlite3_busy_timeout(db, STORE__BUSY_TIMEOUT_MS);
  if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW)
    goto fail;
  mode = sqlite3_column_text(st, 0);
  if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
    fprintf(stderr, "store: %s: cannot switch to WAL mode\n", path);
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_exec(db, STORE__WRITER_PRAGMAS, NULL, NULL, &err) != SQLITE_OK)
    goto fail;
  *out = db;
  return 0;

fail:
  fprintf(stderr, "store: %s: %s\n", path, err ? err : db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_free(err);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return -1;
}

/* ---- request-owned memory ------------------------------------------------- */

/* Outputs a request owns live in a chain of blocks on req->_mem, freed
 * together by store_req_dispose. */
typedef struct store__blk_s store__blk_t;
struct store__blk_s {
  store__blk_t *next;
  void *extra;           /* allocated by proto_decode_fields, or NULL */
  max_align_t payload[]; /* aligned for any field type */
};

static void *store__alloc(store_req_t *req, size_t size, store__blk_t **blk_out) {
  store__blk_t *blk = malloc(sizeof(*blk) + size);
  if (blk == NULL)
    return NULL;
  blk->extra = NULL;
  blk->next = req->_mem;
  req->_mem = blk;
  if (blk_out != NULL)
    *blk_out = blk;
  return blk->payload;
}

static proto_str_t store__dup(char **at, proto_str_t s) {
  proto_str_t out = {*at, s.len};
  if (s.len > 0)
    memcpy(*at, s.ptr, s.len);
  *at += s.len;
  return out;
}

/* Copies src (device, keys, fields and their strings, raw fields map) into
 * one block owned by req; *dst points into it. Returns 0 or PROTO_ENOMEM. */
static int store__copy_op(store_req_t *req, const proto_op_t *src, proto_str_t raw,
                          proto_op_t *dst) {
  size_t size = src->nfields * sizeof(proto_field_t) + src->device.len + src->key.len +
                src->key2.len + raw.len;
  proto_field_t *fields;
  char *at;

  for (uint32_t i = 0; i < src->nfields; i++)
    if (src->fields[i].value.type == PROTO_STR)
      size += src->fields[i].value.u.s.len;
  fields = store__alloc(req, size, NULL);
  if (fields == NULL)
    return PROTO_ENOMEM;
  at = (char *)(fields + src->nfields);
  *dst = *src;
  dst->device = store__dup(&at, src->device);
  dst->key = store__dup(&at, src->key);
  dst->key2 = store__dup(&at, src->key2);
  dst->fields_raw = store__dup(&at, raw);
  dst->fields = src->nfields ? fields : NULL;
  for (uint32_t i = 0; i < src->nfields; i++) {
    fields[i] = src->fields[i];
    if (fields[i].value.type == PROTO_STR)
      fields[i].value.u.s = store__dup(&at, src->fields[i].value.u.s);
  }
  return 0;
}

void store_req_dispose(store_req_t *req) {
  store__blk_t *blk, *next;

  if (req == NULL)
    return;
  switch (req->type) {
  case STORE_PUSH:
    free(req->u.push.ack.ranges);
    free(req->u.push.ack.rejects);
    free(req->u.push.committed);
    free(req->u.push.committed_loc);
    free(req->u.push.committed_vis);
    memset(&req->u.push.ack, 0, sizeof(req->u.push.ack));
    req->u.push.committed = NULL;
    req->u.push.committed_loc = NULL;
    req->u.push.committed_vis = NULL;
    req->u.push.ncommitted = 0;
    break;
  case STORE_PULL:
    free(req->u.pull.ops);
    free(req->u.pull.locs);
    free(req->u.pull.vis);
    free(req->u.pull.backfill);
    req->u.pull.ops = NULL;
    req->u.pull.locs = NULL;
    req->u.pull.vis = NULL;
    req->u.pull.backfill = NULL;
    req->u.pull.nops = 0;
    break;
  case STORE_VIEW:
    store__view_dispose(req);
    break;
  case STORE_REPORT:
    store__report_dispose(req);
    break;
  case STORE_HEADS:
    free(req->u.heads.orgs);
    free(req->u.heads.heads);
    memset(&req->u.heads, 0, sizeof(req->u.heads));
    break;
  case STORE_HELLO:
  case STORE_STATUS:
  default:
    break;
  }
  for (blk = req->_mem; blk != NULL; blk = next) {
    next = blk->next;
    free(blk->extra);
    free(blk);
  }
  req->_mem = NULL;
}

/* ---- statements ------------------------------------------------------------ */

/* XX(member, sql). Prepared once per connection and reused. */
#define STORE__WRITER_STMTS(XX)                                                        \
  XX(begin, "BEGIN IMMEDIATE")                                                         \
  XX(commit, "COMMIT")                                                                 \
  XX(rollback, "ROLLBACK")                                                             \
  XX(device_get, "SELECT org, token_hash, revoked, last_seq, scope_gen, scope_synced "  \
                 "FROM devices WHERE id = ?1")                                         \
  XX(device_insert, "INSERT INTO devices (id, org, name, token_hash, app, created_ms) "  \
                    "VALUES (?1, ?2, NULLIF(?3, ''), ?4, NULLIF(?5, ''), ?6)")         \
  XX(device_hello, "UPDATE devices SET name = COALESCE(NULLIF(?2, ''), name), "         \
                   "app = COALESCE(NULLIF(?3, ''), app), last_seen_ms = ?4, outbox = ?5, " \
                   "clock_offset_ms = ?6, online = 1, storage = ?7, storage_used = ?8 "  \
                   "WHERE id = ?1")                                                     \
  XX(device_push, "UPDATE devices SET last_seq = ?2, outbox = ?3, last_seen_ms = ?4 "   \
                  "WHERE id = ?1")                                                      \
  XX(device_status, "UPDATE devices SET outbox = COALESCE(?2, outbox), online = ?3, last_seen_ms = ?4 "   \
                    "WHERE id = ?1 AND org = ?5")                                       \
  XX(device_scope_synced, "UPDATE devices SET scope_synced = max(scope_synced, ?2) "   \
                          "WHERE id = ?1 AND org = ?3")                                 \
  XX(code_get, "SELECT org, expires_ms, uses_left FROM enroll_codes WHERE code = ?1")   \
  XX(code_use, "UPDATE enroll_codes SET uses_left = uses_left - 1 WHERE code = ?1")     \
  XX(code_insert, "INSERT OR IGNORE INTO enroll_codes (code, org, expires_ms, uses_left) " \
                  "VALUES (?1, ?2, ?3, ?4)")                                            \
  XX(org_get, "SELECT name, head, tz FROM orgs WHERE id = ?1")                              \
  XX(org_set_head, "UPDATE orgs SET head = ?2 WHERE id = ?1")                           \
  XX(rejected_get, "SELECT code FROM rejected_ops WHERE device = ?1 AND seq = ?2")      \
  XX(rejected_put, "INSERT INTO rejected_ops (device, seq, org, code, message, rtype, k, " \
                   "k2, fields, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)") \
  XX(op_put, "INSERT INTO ops (org, server_seq, device, seq, hlc, rtype, k, k2, base, "  \
             "fields, loc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")            \
  XX(op_at, STORE__OP_AT)

/* One stored op by its server_seq, columns as the pulls' (store__row_op). */
#define STORE__OP_AT                                                                   \
  "SELECT server_seq, device, seq, hlc, base, rtype, k, k2, fields, loc FROM ops "     \
  "WHERE org = ?1 AND server_seq = ?2"

#define STORE__READER_STMTS(XX)                                                        \
  XX(begin, "BEGIN")                                                                   \
  XX(commit, "COMMIT")                                                                 \
  XX(head, "SELECT head FROM orgs WHERE id = ?1")                                      \
  XX(heads, "SELECT id, head FROM orgs ORDER BY id")                                   \
  XX(ops, "SELECT server_seq, device, seq, hlc, base, rtype, k, k2, fields FROM ops "   \
          "WHERE org = ?1 AND server_seq > ?2 ORDER BY server_seq LIMIT ?3")              \
  XX(ops_locs, "SELECT server_seq, device, seq, hlc, base, rtype, k, k2, fields, loc "   \
               "FROM ops WHERE org = ?1 AND server_seq > ?2 ORDER BY server_seq LIMIT ?3") \
  /* A device limited to some locations: its own locations' ops, the           \
   * organisation's other than participants (erasures), and the ops of the     \
   * participants visible to it by then (scope.h): created by it, or named by   \
   * an earlier check-in in one of its locations. */                            \
  XX(ops_scoped, "SELECT server_seq, device, seq, hlc, base, rtype, k, k2, fields, loc " \
                 "FROM ops o WHERE org = ?1 AND server_seq > ?2 AND ("                 \
                 "(loc IS NULL AND rtype <> 4) OR "                                    \
                 "loc IN (SELECT location FROM device_locations WHERE device = ?4) OR " \
                 "(rtype = 4 AND (EXISTS (SELECT 1 FROM participant_creators c "       \
                 "WHERE c.org = o.org AND c.participant = o.k AND c.device = ?4) OR "  \
                 "EXISTS (SELECT 1 FROM participant_locations pl WHERE pl.org = o.org " \
                 "AND pl.participant = o.k AND pl.seq < o.server_seq AND pl.location IN " \
                 "(SELECT location FROM device_locations WHERE device = ?4))))) "      \
                 "ORDER BY server_seq LIMIT ?3")                                       \
  XX(op_at, STORE__OP_AT)

#define STORE__STMT_MEMBER(name, sql) sqlite3_stmt *name;

/* The writer thread's connection. Used only by the thread that owns it: the
 * writer thread while the store runs, or store_seed_demo's caller. */
typedef struct {
  sqlite3 *db;
  replica_t *replica;
  scope_t *scope;      /* who may write what, where ops belong */
  scope_device_t dev;  /* the pushing device's locations, per push */
  proto_buf_t blob; /* scratch for encoding a fields map */
  STORE__WRITER_STMTS(STORE__STMT_MEMBER)
} store__writer_t;

/* The reader thread's query-only connection. */
typedef struct {
  sqlite3 *db;
  scope_t *scope; /* its reads only: a device's locations, participants seen */
  STORE__READER_STMTS(STORE__STMT_MEMBER)
} store__reader_t;

static int store__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
    fprintf(stderr, "store: cannot prepare \"%s\": %s\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  return 0;
}

static void store__writer_close(store__writer_t *w) {
#define STORE__FINALIZE(name, sql) sqlite3_finalize(w->name);
  STORE__WRITER_STMTS(STORE__FINALIZE)
#undef STORE__FINALIZE
  replica_close(w->replica);
  scope_close(w->scope);
  scope_device_dispose(&w->dev);
  proto_buf_dispose(&w->blob);
  memset(w, 0, sizeof(*w));
}

/* Prepares everything on db (whose schema is migrated). db stays the
 * caller's; store__writer_close finalizes but does not close it. */
static int store__writer_open(store__writer_t *w, sqlite3 *db) {
  replica_options_t ropts = {.log_conflicts = true};

  memset(w, 0, sizeof(*w));
  w->db = db;
  proto_buf_init(&w->blob, 0);
#define STORE__PREPARE(name, sql)                      \
  if (store__prepare(db, sql, &w->name) != 0)          \
    goto fail;
  STORE__WRITER_STMTS(STORE__PREPARE)
#undef STORE__PREPARE
  w->replica = replica_open(db, &ropts);
  if (w->replica == NULL)
    goto fail;
  w->scope = scope_open(db);
  if (w->scope == NULL)
    goto fail;
  return 0;

fail:
  store__writer_close(w);
  return -1;
}

static void store__reader_close(store__reader_t *r) {
#define STORE__FINALIZE(name, sql) sqlite3_finalize(r->name);
  STORE__READER_STMTS(STORE__FINALIZE)
#undef STORE__FINALIZE
  scope_close(r->scope);
  sqlite3_close(r->db);
  memset(r, 0, sizeof(*r));
}

/* Opens a second, query-only connection; takes ownership of nothing. */
static int store__reader_open(store__reader_t *r, const char *path) {
  memset(r, 0, sizeof(*r));
  if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(r->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "store: %s: reader: %s\n", path,
            r->db ? sqlite3_errmsg(r->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(r->db, STORE__BUSY_TIMEOUT_MS);
#define STORE__PREPARE(name, sql)                      \
  if (store__prepare(r->db, sql, &r->name) != 0)       \
    goto fail;
  STORE__READER_STMTS(STORE__PREPARE)
#undef STORE__PREPARE
  if (store__dashboard_functions(r->db) != 0)
    goto fail;
  r->scope = scope_open(r->db);
  if (r->scope == NULL)
    goto fail;
  return 0;

fail:
  store__reader_close(r);
  return -1;
}

/* ---- SQL helpers ----------------------------------------------------------- */

/* Not copied (SQLITE_STATIC): s must stay alive until the statement is
 * stepped and reset, which store__exec and store__done do, clearing the
 * bindings too. */
static int store__bind_str(sqlite3_stmt *st, int i, proto_str_t s) {
  return sqlite3_bind_text(st, i, s.len ? s.ptr : "", (int)s.len, SQLITE_STATIC);
}

static int store__bind_blob(sqlite3_stmt *st, int i, proto_str_t s) {
  return sqlite3_bind_blob(st, i, s.len ? s.ptr : "", (int)s.len, SQLITE_STATIC);
}

/* Steps a statement that returns no rows and resets it. 0 or ESTORAGE. */
static int store__exec(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "store: %s: %s\n", sqlite3_sql(st), sqlite3_errmsg(sqlite3_db_handle(st)));
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* After a SELECT: resets and reports rc as 0 (row or done) or ESTORAGE. */
static int store__done(sqlite3_stmt *st, int rc) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fprintf(stderr, "store: %s: %s\n", sqlite3_sql(st), sqlite3_errmsg(sqlite3_db_handle(st)));
    return PROTO_ESTORAGE;
  }
  return 0;
}

typedef struct {
  bool found;
  bool revoked;
  int64_t org;
  uint64_t last_seq;
  uint64_t scope_gen, scope_synced; /* see store__schema_v6 */
  char token_hash[STORE__HASH_HEX + 1]; /* "" when the device has none */
} store__device_t;

static int store__device_load(store__writer_t *w, proto_str_t id, store__device_t *d) {
  sqlite3_stmt *st = w->device_get;
  int rc;

  memset(d, 0, sizeof(*d));
  store__bind_str(st, 1, id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *hash = sqlite3_column_text(st, 1);
    d->found = true;
    d->org = sqlite3_column_int64(st, 0);
    d->revoked = sqlite3_column_int(st, 2) != 0;
    d->last_seq = (uint64_t)sqlite3_column_int64(st, 3);
    d->scope_gen = (uint64_t)sqlite3_column_int64(st, 4);
    d->scope_synced = (uint64_t)sqlite3_column_int64(st, 5);
    if (hash != NULL && sqlite3_column_bytes(st, 1) == STORE__HASH_HEX)
      memcpy(d->token_hash, hash, STORE__HASH_HEX + 1);
  }
  return store__done(st, rc);
}

/* Reads an organisation's name (into name, may be NULL) and head. */
/* name and tz (at least ZONE_NAME_MAX + 1 bytes) may be NULL. */
static int store__org_load(store__writer_t *w, int64_t org, char *name, size_t name_size,
                           char *tz, uint64_t *head, bool *found) {
  sqlite3_stmt *st = w->org_get;
  int rc;

  *found = false;
  sqlite3_bind_int64(st, 1, org);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *found = true;
    *head = (uint64_t)sqlite3_column_int64(st, 1);
    if (name != NULL) {
      const unsigned char *n = sqlite3_column_text(st, 0);
      snprintf(name, name_size, "%s", n ? (const char *)n : "");
    }
    if (tz != NULL) {
      const unsigned char *z = sqlite3_column_text(st, 2);
      snprintf(tz, ZONE_NAME_MAX + 1, "%s", z ? (const char *)z : ZONE_DEFAULT);
    }
  }
  return store__done(st, rc);
}

static int store__set_head(store__writer_t *w, int64_t org, uint64_t head) {
  sqlite3_bind_int64(w->org_set_head, 1, org);
  sqlite3_bind_int64(w->org_set_head, 2, (int64_t)head);
  return store__exec(w->org_set_head);
}

static void store__hex(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* out = lowercase hex sha256 of s. Returns 0 or PROTO_EINTERNAL. */
static int store__sha256_hex(proto_str_t s, char out[STORE__HASH_HEX + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s.len ? s.ptr : "", s.len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
    return PROTO_EINTERNAL;
  store__hex(md, n, out);
  return 0;
}

/* The fields map of op as stored in ops.fields: what the device sent when
 * the decoder kept it, else freshly encoded into w's scratch buffer (valid
 * until the next call). */
static int store__fields_blob(store__writer_t *w, const proto_op_t *op, proto_str_t *out) {
  int rc;
  if (op->fields_raw.len > 0) {
    *out = op->fields_raw;
    return 0;
  }
  w->blob.len = 0;
  rc = proto_encode_fields(op, &w->blob);
  if (rc != 0)
    return rc;
  out->ptr = (const char *)proto_buf_data(&w->blob);
  out->len = (uint32_t)w->blob.len;
  return 0;
}

/* Appends a committed op (server_seq set) to the ops table; where is where
 * it belongs (scope_check_op). */
static int store__op_put(store__writer_t *w, int64_t org, const proto_op_t *op, proto_str_t blob,
                         const scope_where_t *where) {
  sqlite3_stmt *st = w->op_put;
  sqlite3_bind_int64(st, 1, org);
  sqlite3_bind_int64(st, 2, (int64_t)op->server_seq);
  store__bind_str(st, 3, op->device);
  sqlite3_bind_int64(st, 4, (int64_t)op->seq);
  sqlite3_bind_int64(st, 5, (int64_t)op->hlc);
  sqlite3_bind_int(st, 6, op->type);
  store__bind_str(st, 7, op->key);
  store__bind_str(st, 8, op->key2);
  sqlite3_bind_int64(st, 9, (int64_t)op->base);
  store__bind_blob(st, 10, blob);
  scope_bind_where(st, 11, where);
  return store__exec(st);
}

/* ---- writer requests ------------------------------------------------------ */

/* A new random token into token (64 hex chars) and its hash into hash. */
static int store__new_token(char token[PROTO_MAX_ID_BYTES + 1], char hash[STORE__HASH_HEX + 1]) {
  unsigned char raw[STORE__TOKEN_BYTES];
  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return PROTO_EINTERNAL;
  store__hex(raw, sizeof(raw), token);
  OPENSSL_cleanse(raw, sizeof(raw));
  return store__sha256_hex(proto_str(token), hash);
}

/* Sets the hello's scope from the device's locations (request-owned). */
static int store__hello_scope(store__writer_t *w, store_req_t *req, proto_str_t device) {
  scope_device_t dev;
  size_t size = 1;
  char *at;
  int rc = scope_device_load(w->scope, device, &dev);

  req->u.hello.scope = NULL;
  if (rc != 0 || dev.n == 0)
    return rc;
  for (uint32_t i = 0; i < dev.n; i++)
    size += strlen(dev.ids[i]) + 1;
  at = store__alloc(req, size, NULL);
  if (at == NULL) {
    scope_device_dispose(&dev);
    return PROTO_ENOMEM;
  }
  req->u.hello.scope = at;
  for (uint32_t i = 0; i < dev.n; i++) {
    size_t n = strlen(dev.ids[i]) + 1;
    memcpy(at, dev.ids[i], n);
    at += n;
  }
  *at = '\0';
  scope_device_dispose(&dev);
  return 0;
}

/* Copies where (scope.h) into req's memory as a committed_loc / locs
 * entry. Returns 0 or PROTO_ENOMEM. */
static int store__loc_copy(store_req_t *req, const scope_where_t *where, proto_str_t *out) {
  char *at;
  out->ptr = NULL;
  out->len = 0;
  if (where->place == SCOPE_ORG)
    return 0;
  out->ptr = "";
  if (where->place == SCOPE_UNPLACED)
    return 0;
  at = store__alloc(req, strlen(where->loc), NULL);
  if (at == NULL)
    return PROTO_ENOMEM;
  *out = store__dup(&at, proto_str(where->loc));
  return 0;
}

/* Copies the current row of st (columns server_seq, device, seq, hlc,
 * base, rtype, k, k2, fields[, loc]) into *op, owned by req; with loc
 * non-NULL also column 9 (ptr NULL when SQL NULL). Returns 0, PROTO_ENOMEM
 * or PROTO_ESTORAGE (an undecodable fields map). */
static int store__row_op(store_req_t *req, sqlite3_stmt *st, proto_op_t *op, proto_str_t *loc) {
  proto_str_t device, key, key2, raw, l = {NULL, 0};
  bool has_loc = false;
  store__blk_t *blk;
  char *at;

  device.ptr = (const char *)sqlite3_column_text(st, 1);
  device.len = (uint32_t)sqlite3_column_bytes(st, 1);
  key.ptr = (const char *)sqlite3_column_text(st, 6);
  key.len = (uint32_t)sqlite3_column_bytes(st, 6);
  key2.ptr = (const char *)sqlite3_column_text(st, 7);
  key2.len = (uint32_t)sqlite3_column_bytes(st, 7);
  raw.ptr = sqlite3_column_blob(st, 8);
  raw.len = (uint32_t)sqlite3_column_bytes(st, 8);
  if (loc != NULL && sqlite3_column_type(st, 9) != SQLITE_NULL) {
    has_loc = true;
    l.ptr = (const char *)sqlite3_column_text(st, 9);
    l.len = (uint32_t)sqlite3_column_bytes(st, 9);
  }
  at = store__alloc(req, (size_t)device.len + key.len + key2.len + raw.len + l.len, &blk);
  if (at == NULL)
    return PROTO_ENOMEM;
  memset(op, 0, sizeof(*op));
  op->server_seq = (uint64_t)sqlite3_column_int64(st, 0);
  op->seq = (uint64_t)sqlite3_column_int64(st, 2);
  op->hlc = (uint64_t)sqlite3_column_int64(st, 3);
  op->base = (uint64_t)sqlite3_column_int64(st, 4);
  op->type = (uint8_t)sqlite3_column_int(st, 5);
  op->device = store__dup(&at, device);
  op->key = store__dup(&at, key);
  op->key2 = store__dup(&at, key2);
  op->fields_raw = store__dup(&at, raw);
  if (loc != NULL)
    *loc = has_loc ? store__dup(&at, l) : (proto_str_t){NULL, 0};
  if (proto_decode_fields(op->fields_raw.ptr, op->fields_raw.len, op, &blk->extra) != 0) {
    fprintf(stderr, "store: op %" PRIu64 " has an undecodable fields map\n", op->server_seq);
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* Reads the ops of org at seqs[0..n) (op_at: STORE__OP_AT) into out,
 * owned by req. Returns 0, PROTO_ENOMEM or PROTO_ESTORAGE. */
static int store__ops_at(store_req_t *req, sqlite3_stmt *op_at, int64_t org, const uint64_t *seqs,
                         uint32_t n, proto_op_t *out) {
  for (uint32_t i = 0; i < n; i++) {
    int rc;
    sqlite3_bind_int64(op_at, 1, org);
    sqlite3_bind_int64(op_at, 2, (int64_t)seqs[i]);
    rc = sqlite3_step(op_at);
    if (rc == SQLITE_ROW)
      rc = store__row_op(req, op_at, &out[i], NULL) == 0 ? SQLITE_ROW : SQLITE_ERROR;
    else if (rc == SQLITE_DONE)
      rc = SQLITE_ERROR; /* a slot names an op the log does not hold */
    if (store__done(op_at, rc) != 0)
      return PROTO_ESTORAGE;
  }
  return 0;
}

/* The list scope_participant_seen made, copied into req's memory (NULL
 * stays NULL). Frees list. */
static const char *store__list_copy(store_req_t *req, char *list) {
  size_t len = 0;
  char *at;
  if (list == NULL)
    return NULL;
  while (list[len] != '\0')
    len += strlen(list + len) + 1;
  at = store__alloc(req, len + 1, NULL);
  if (at != NULL)
    memcpy(at, list, len + 1);
  free(list);
  return at;
}

/* Fills *vis (store_vis_t) for op, committed at loc (ptr NULL: the whole
 * organisation). first: for a check-in, whether it was the first to name
 * its participant at loc; -1 when the caller does not know (then it is
 * found from what was seen before). Returns 0, PROTO_ENOMEM or
 * PROTO_ESTORAGE. */
static int store__vis_fill(store_req_t *req, scope_t *scope, sqlite3_stmt *op_at, int64_t org,
                           const proto_op_t *op, proto_str_t loc, int first, store_vis_t *vis) {
  char creator[PROTO_MAX_ID_BYTES + 1], *list, *at;
  uint64_t seqs[PROTO_MAX_FIELDS_PER_OP];
  proto_str_t participant;
  uint32_t n;
  int rc;

  memset(vis, 0, sizeof(*vis));
  if (op->type == SCHEMA_PARTICIPANT)
    participant = op->key;
  else if (op->type == SCHEMA_CHECKIN && loc.len > 0 && first != 0)
    participant = op->key2;
  else
    return 0;
  rc = scope_participant_seen(scope, org, participant, op->server_seq, &list, creator);
  if (rc != 0)
    return rc;
  if (op->type == SCHEMA_CHECKIN && first < 0 && scope_list_allows(list, loc) && list != NULL) {
    free(list); /* named at loc before: not the first */
    return 0;
  }
  vis->seen = store__list_copy(req, list);
  if (list != NULL && vis->seen == NULL)
    return PROTO_ENOMEM;
  at = store__alloc(req, strlen(creator) + 1, NULL);
  if (at == NULL)
    return PROTO_ENOMEM;
  memcpy(at, creator, strlen(creator) + 1);
  vis->creator = proto_str(at);
  if (op->type != SCHEMA_CHECKIN)
    return 0;
  vis->first = true;
  rc = scope_participant_holders(scope, org, participant, op->server_seq, seqs, &n);
  if (rc != 0 || n == 0)
    return rc;
  vis->backfill = store__alloc(req, n * sizeof(*vis->backfill), NULL);
  if (vis->backfill == NULL)
    return PROTO_ENOMEM;
  rc = store__ops_at(req, op_at, org, seqs, n, vis->backfill);
  if (rc == 0)
    vis->nbackfill = n;
  return rc;
}

/* Authenticates with a token, or enrols with a code. Nothing is written
 * unless the credentials hold. */
static int store__hello(store__writer_t *w, store_req_t *req) {
  store_hello_t *h = &req->u.hello;
  const proto_hello_t *in = h->hello;
  store__device_t d;
  char hash[STORE__HASH_HEX + 1];
  int64_t org = 0;
  bool found;
  int rc;

  if (in == NULL || in->device.len == 0 || in->device.len > PROTO_MAX_ID_BYTES)
    return PROTO_EBAD_CREDENTIALS;
  rc = store__device_load(w, in->device, &d);
  if (rc != 0)
    return rc;

  /* A revoked device is told so, whatever it sends: it then erases what it
   * holds (PROTOCOL.md section 6). Knowing that an id was revoked helps
   * nobody else. */
  if (d.found && d.revoked)
    return PROTO_EREVOKED;
  if (in->token.len > 0) {
    if (!d.found || d.token_hash[0] == '\0')
      return PROTO_EBAD_CREDENTIALS;
    rc = store__sha256_hex(in->token, hash);
    if (rc != 0)
      return rc;
    if (CRYPTO_memcmp(hash, d.token_hash, STORE__HASH_HEX) != 0)
      return PROTO_EBAD_CREDENTIALS;
    org = d.org;
  } else if (in->code.len > 0) {
    sqlite3_stmt *st = w->code_get;
    int64_t expires = 0, uses = 0;
    store__bind_str(st, 1, in->code);
    rc = sqlite3_step(st);
    found = rc == SQLITE_ROW;
    if (found) {
      org = sqlite3_column_int64(st, 0);
      expires = sqlite3_column_int64(st, 1);
      uses = sqlite3_column_int64(st, 2);
    }
    rc = store__done(st, rc);
    if (rc != 0)
      return rc;
    if (!found || expires <= h->now_ms || uses <= 0)
      return PROTO_EBAD_CREDENTIALS;
    /* A code enrols a new device id only. Every tablet of an organisation
     * learns the others' ids from their ops, so a code that re-enrolled a
     * known id would hand that device's token, history and messages to
     * whoever holds any unused code. */
    if (d.found)
      return PROTO_EBAD_CREDENTIALS;

    rc = store__new_token(h->token, hash);
    if (rc != 0)
      return rc;
    store__bind_str(w->device_insert, 1, in->device);
    sqlite3_bind_int64(w->device_insert, 2, org);
    store__bind_str(w->device_insert, 3, in->name);
    sqlite3_bind_text(w->device_insert, 4, hash, STORE__HASH_HEX, SQLITE_TRANSIENT);
    store__bind_str(w->device_insert, 5, in->app);
    sqlite3_bind_int64(w->device_insert, 6, h->now_ms);
    rc = store__exec(w->device_insert);
    if (rc != 0)
      return rc;
    rc = scope_enroll(w->scope, in->code, in->device);
    if (rc != 0)
      return rc;
    store__bind_str(w->code_use, 1, in->code);
    rc = store__exec(w->code_use);
    if (rc != 0)
      return rc;
  } else {
    return PROTO_EBAD_CREDENTIALS;
  }

  rc = store__org_load(w, org, h->org_name, sizeof(h->org_name), h->org_tz, &h->head, &found);
  if (rc != 0)
    return rc;
  if (!found)
    return PROTO_EBAD_CREDENTIALS;
  h->org_id = org;
  h->last_seq = d.last_seq; /* 0 for a new device */
  h->resync_gen = d.scope_gen > d.scope_synced ? d.scope_gen : 0;
  rc = store__hello_scope(w, req, in->device);
  if (rc != 0)
    return rc;

  store__bind_str(w->device_hello, 1, in->device);
  store__bind_str(w->device_hello, 2, in->name);
  store__bind_str(w->device_hello, 3, in->app);
  sqlite3_bind_int64(w->device_hello, 4, h->now_ms);
  sqlite3_bind_int64(w->device_hello, 5, (int64_t)in->outbox);
  sqlite3_bind_int64(w->device_hello, 6, h->offset_ms);
  sqlite3_bind_int64(w->device_hello, 7, in->storage);
  sqlite3_bind_int64(w->device_hello, 8, in->storage_used);
  return store__exec(w->device_hello);
}

static void store__ack(proto_ack_t *ack, uint64_t seq) {
  if (ack->nranges > 0 && ack->ranges[ack->nranges - 1].to + 1 == seq) {
    ack->ranges[ack->nranges - 1].to = seq;
    return;
  }
  ack->ranges[ack->nranges].from = seq;
  ack->ranges[ack->nranges].to = seq;
  ack->nranges++;
}

static void store__reject(proto_ack_t *ack, uint64_t seq, int code) {
  proto_reject_t *r = &ack->rejects[ack->nrejects++];
  r->seq = seq;
  r->code = code < 0 ? -code : code;
  r->message = proto_str(proto_strerror(code));
}

/* Looks up whether (device, seq) was refused before; *code is its wire code
 * or 0. */
static int store__rejected_code(store__writer_t *w, proto_str_t device, uint64_t seq, int *code) {
  sqlite3_stmt *st = w->rejected_get;
  int rc;
  *code = 0;
  store__bind_str(st, 1, device);
  sqlite3_bind_int64(st, 2, (int64_t)seq);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *code = sqlite3_column_int(st, 0);
  return store__done(st, rc);
}

/* A refusal is durable: the seq is consumed and answers the same forever. */
static int store__rejected_put(store__writer_t *w, int64_t org, const proto_op_t *op, int code,
                               int64_t now_ms) {
  sqlite3_stmt *st = w->rejected_put;
  proto_str_t blob;
  store__bind_str(st, 1, op->device);
  sqlite3_bind_int64(st, 2, (int64_t)op->seq);
  sqlite3_bind_int64(st, 3, org);
  sqlite3_bind_int(st, 4, code < 0 ? -code : code);
  sqlite3_bind_text(st, 5, proto_strerror(code), -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 6, op->type);
  store__bind_str(st, 7, op->key);
  store__bind_str(st, 8, op->key2);
  /* An erased participant's data is not kept, not even as a refusal. */
  if (code != PROTO_EERASED && store__fields_blob(w, op, &blob) == 0)
    store__bind_blob(st, 9, blob);
  else
    sqlite3_bind_null(st, 9); /* kept for the record only; not re-encodable */
  sqlite3_bind_int64(st, 10, now_ms);
  return store__exec(st);
}

static int store__push(store__writer_t *w, store_req_t *req) {
  store_push_t *p = &req->u.push;
  store__device_t d;
  uint64_t last, head;
  bool found, gap = false;
  int rc;

  if (p->device.len == 0 || p->device.len > PROTO_MAX_ID_BYTES)
    return PROTO_EBAD_CREDENTIALS;
  rc = store__device_load(w, p->device, &d);
  if (rc != 0)
    return rc;
  if (d.found && d.revoked)
    return PROTO_EREVOKED;
  if (!d.found || d.org != p->org_id)
    return PROTO_EBAD_CREDENTIALS;
  rc = store__org_load(w, p->org_id, NULL, 0, NULL, &head, &found);
  if (rc != 0)
    return rc;
  if (!found)
    return PROTO_EBAD_CREDENTIALS;
  last = d.last_seq;
  scope_device_dispose(&w->dev);
  rc = scope_device_load(w->scope, p->device, &w->dev);
  if (rc != 0)
    return PROTO_ESTORAGE;

  if (p->nops > 0) {
    p->ack.ranges = calloc(p->nops, sizeof(*p->ack.ranges));
    p->ack.rejects = calloc(p->nops, sizeof(*p->ack.rejects));
    p->committed = calloc(p->nops, sizeof(*p->committed));
    p->committed_loc = calloc(p->nops, sizeof(*p->committed_loc));
    p->committed_vis = calloc(p->nops, sizeof(*p->committed_vis));
    if (p->ack.ranges == NULL || p->ack.rejects == NULL || p->committed == NULL ||
        p->committed_loc == NULL || p->committed_vis == NULL)
      return PROTO_ENOMEM;
  }

  for (uint32_t i = 0; i < p->nops; i++) {
    const proto_op_t *in = &p->ops[i];
    proto_op_t op = *in;
    proto_str_t blob = {NULL, 0};
    scope_where_t where;
    bool first;
    int code;

    op.device = p->device;
    if (gap && op.seq > last) {
      /* After a refused seq the later ops of the push wait for it too, or
       * they would be stored out of the device's order. */
      store__reject(&p->ack, op.seq, PROTO_ESEQ_GAP); /* not consumed */
      continue;
    }
    if (op.seq == 0) {
      store__reject(&p->ack, op.seq, PROTO_EINVALID_OP); /* seqs start at 1 */
      continue;
    }
    if (op.seq <= last) {
      /* Already decided: a refusal stays a refusal, anything else is held
       * durably and is acknowledged again without being applied. */
      rc = store__rejected_code(w, op.device, op.seq, &code);
      if (rc != 0)
        return rc;
      if (code != 0)
        store__reject(&p->ack, op.seq, code);
      else
        store__ack(&p->ack, op.seq);
      continue;
    }
    if (op.seq > last + 1) {
      store__reject(&p->ack, op.seq, PROTO_ESEQ_GAP); /* not consumed */
      gap = true;
      continue;
    }

    /* The device cannot have seen more than the server has; a larger base
     * would hide real conflicts. */
    if (op.base > head)
      op.base = head;
    op.server_seq = head + 1;
    /* An op is its connection's device's: one naming another is refused,
     * never stored as that device's. */
    code = in->device.len > 0 && !proto_str_eq(in->device, p->device) ? PROTO_EINVALID_OP
                                                                       : schema_validate_op(&op);
    if (code == 0)
      code = scope_check_op(w->scope, p->org_id, &w->dev, &op, &where);
    if (code == 0)
      code = store__fields_blob(w, &op, &blob) == 0 ? 0 : PROTO_EINVALID_OP;
    if (code == 0)
      code = replica_apply(w->replica, p->org_id, &op);
    if (code == PROTO_ESTORAGE || code == PROTO_ENOMEM)
      return PROTO_ESTORAGE;
    if (code != 0) {
      rc = store__rejected_put(w, p->org_id, &op, code, p->now_ms);
      if (rc != 0)
        return rc;
      last = op.seq;
      store__reject(&p->ack, op.seq, code);
      continue;
    }
    rc = store__op_put(w, p->org_id, &op, blob, &where);
    if (rc == 0)
      rc = scope_note_op(w->scope, p->org_id, &op, &where, &first);
    if (rc != 0)
      return rc;
    head = op.server_seq;
    last = op.seq;
    rc = store__copy_op(req, &op, blob, &p->committed[p->ncommitted]);
    if (rc == 0)
      rc = store__loc_copy(req, &where, &p->committed_loc[p->ncommitted]);
    if (rc == 0)
      rc = store__vis_fill(req, w->scope, w->op_at, p->org_id, &op,
                           p->committed_loc[p->ncommitted], first,
                           &p->committed_vis[p->ncommitted]);
    if (rc != 0)
      return PROTO_ESTORAGE;
    p->ncommitted++;
    store__ack(&p->ack, op.seq);
  }

  store__bind_str(w->device_push, 1, p->device);
  sqlite3_bind_int64(w->device_push, 2, (int64_t)last);
  sqlite3_bind_int64(w->device_push, 3, (int64_t)p->outbox);
  sqlite3_bind_int64(w->device_push, 4, p->now_ms);
  rc = store__exec(w->device_push);
  if (rc != 0)
    return rc;
  if (p->ncommitted > 0) {
    rc = store__set_head(w, p->org_id, head);
    if (rc != 0)
      return rc;
  }
  p->head = head;
  return 0;
}

static int store__status(store__writer_t *w, store_req_t *req) {
  store_status_t *s = &req->u.status;
  sqlite3_stmt *st = w->device_status;
  int rc;

  store__bind_str(st, 1, s->device);
  if (s->outbox == STORE_OUTBOX_UNCHANGED)
    sqlite3_bind_null(st, 2);
  else
    sqlite3_bind_int64(st, 2, (int64_t)s->outbox);
  sqlite3_bind_int(st, 3, s->online ? 1 : 0);
  sqlite3_bind_int64(st, 4, s->now_ms);
  sqlite3_bind_int64(st, 5, s->org_id);
  rc = store__exec(st);
  if (rc != 0 || s->scope_synced == 0)
    return rc;
  st = w->device_scope_synced;
  store__bind_str(st, 1, s->device);
  sqlite3_bind_int64(st, 2, (int64_t)s->scope_synced);
  sqlite3_bind_int64(st, 3, s->org_id);
  return store__exec(st);
}

/* ---- reader requests ------------------------------------------------------ */

static int store__heads(store__reader_t *r, store_req_t *req) {
  store_heads_t *h = &req->u.heads;
  uint32_t cap = 0;
  int rc;

  while ((rc = sqlite3_step(r->heads)) == SQLITE_ROW) {
    if (h->n == cap) {
      uint32_t grown = cap ? 2 * cap : 16;
      int64_t *orgs = realloc(h->orgs, grown * sizeof(*orgs));
      if (orgs) h->orgs = orgs;
      uint64_t *heads = orgs ? realloc(h->heads, grown * sizeof(*heads)) : NULL;
      if (!heads) {
        store__done(r->heads, SQLITE_DONE);
        return PROTO_ENOMEM;
      }
      h->heads = heads;
      cap = grown;
    }
    h->orgs[h->n] = sqlite3_column_int64(r->heads, 0);
    h->heads[h->n++] = (uint64_t)sqlite3_column_int64(r->heads, 1);
  }
  return store__done(r->heads, rc);
}

/* The scoped device's locations as a list (scope_list_allows' format),
 * into *out (the caller frees it; NULL: unscoped). Returns 0 or an error. */
static int store__device_list(store__reader_t *r, proto_str_t device, char **out) {
  scope_device_t dev;
  size_t size = 1;
  char *at;
  int rc = scope_device_load(r->scope, device, &dev);

  *out = NULL;
  if (rc != 0 || dev.n == 0)
    return rc;
  for (uint32_t i = 0; i < dev.n; i++)
    size += strlen(dev.ids[i]) + 1;
  at = *out = malloc(size);
  if (at == NULL) {
    scope_device_dispose(&dev);
    return PROTO_ENOMEM;
  }
  for (uint32_t i = 0; i < dev.n; i++) {
    size_t n = strlen(dev.ids[i]) + 1;
    memcpy(at, dev.ids[i], n);
    at += n;
  }
  *at = '\0';
  scope_device_dispose(&dev);
  return 0;
}

/* For a scoped pull: the seqs of the earlier ops of the participant a
 * check-in names that the device must get right before it, because the
 * check-in makes them visible to it (*n = 0: none). */
static int store__pull_backfill(store__reader_t *r, store_pull_t *p, const char *list,
                                const proto_op_t *op, uint64_t seqs[PROTO_MAX_FIELDS_PER_OP],
                                uint32_t *n) {
  char creator[PROTO_MAX_ID_BYTES + 1], *seen;
  bool sees;
  int rc;

  *n = 0;
  if (op->type != SCHEMA_CHECKIN || op->key2.len == 0)
    return 0;
  rc = scope_participant_seen(r->scope, p->org_id, op->key2, op->server_seq, &seen, creator);
  if (rc != 0)
    return rc;
  sees = scope_list_sees(list, p->device, seen, proto_str(creator));
  free(seen);
  if (sees)
    return 0;
  return scope_participant_holders(r->scope, p->org_id, op->key2, op->server_seq, seqs, n);
}

static int store__pull(store__reader_t *r, store_req_t *req) {
  store_pull_t *p = &req->u.pull;
  sqlite3_stmt *st;
  uint64_t head = 0, room, cap;
  uint32_t limit = p->limit, natural = 0;
  char *list = NULL;
  int rc, result = 0;

  if (limit == 0 || limit > PROTO_MAX_PULL_LIMIT)
    limit = PROTO_MAX_PULL_LIMIT;
  p->next_cursor = p->cursor;

  /* One read transaction: head and the page come from the same snapshot. */
  if (store__exec(r->begin) != 0)
    return PROTO_ESTORAGE;
  st = r->head;
  sqlite3_bind_int64(st, 1, p->org_id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    head = (uint64_t)sqlite3_column_int64(st, 0);
  if (store__done(st, rc) != 0) {
    result = PROTO_ESTORAGE;
    goto end;
  }
  p->head = head;
  /* server_seqs are contiguous per org, so the page is at most this long. */
  room = head > p->cursor ? head - p->cursor : 0;
  if (room == 0)
    goto end;
  if (room > limit)
    room = limit;
  /* A scoped page holds up to limit ops with the backfill, and its first
   * check-in may bring its backfill beyond that. */
  cap = p->scoped ? (uint64_t)limit + PROTO_MAX_FIELDS_PER_OP : room;
  p->ops = calloc((size_t)cap, sizeof(*p->ops));
  if (p->ops == NULL) {
    result = PROTO_ESTORAGE;
    goto end;
  }
  if (p->scoped && (result = store__device_list(r, p->device, &list)) != 0)
    goto end;

  if (p->want_locs) {
    p->locs = calloc((size_t)cap, sizeof(*p->locs));
    p->vis = calloc((size_t)cap, sizeof(*p->vis));
    if (p->locs == NULL || p->vis == NULL) {
      result = PROTO_ESTORAGE;
      goto end;
    }
  }

  st = p->scoped ? r->ops_scoped : p->want_locs ? r->ops_locs : r->ops;
  sqlite3_bind_int64(st, 1, p->org_id);
  sqlite3_bind_int64(st, 2, (int64_t)p->cursor);
  sqlite3_bind_int64(st, 3, (int64_t)room);
  if (p->scoped)
    store__bind_str(st, 4, p->device);
  while (natural < room && p->nops < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    proto_op_t op;
    proto_str_t loc = {NULL, 0};
    uint64_t seqs[PROTO_MAX_FIELDS_PER_OP];
    uint32_t nb = 0;

    result = store__row_op(req, st, &op, p->want_locs ? &loc : NULL);
    if (result == 0 && p->scoped)
      result = store__pull_backfill(r, p, list, &op, seqs, &nb);
    if (result != 0)
      break;
    if (nb > 0) {
      /* The check-in and its backfill stay together: a page that has
       * ops already ends before them. */
      if (p->nops + nb + 1 > limit && p->nops > 0) {
        rc = SQLITE_ROW;
        break;
      }
      if (p->backfill == NULL && (p->backfill = calloc((size_t)cap, sizeof(bool))) == NULL) {
        result = PROTO_ENOMEM;
        break;
      }
      result = store__ops_at(req, r->op_at, p->org_id, seqs, nb, p->ops + p->nops);
      if (result != 0)
        break;
      for (uint32_t i = 0; i < nb; i++)
        p->backfill[p->nops++] = true;
    }
    if (p->want_locs) {
      p->locs[p->nops] = loc;
      result = store__vis_fill(req, r->scope, r->op_at, p->org_id, &op, loc, -1,
                               &p->vis[p->nops]);
      if (result != 0)
        break;
    }
    p->ops[p->nops++] = op;
    natural++;
    p->next_cursor = op.server_seq;
  }
  if (result == 0) {
    bool read_all = rc == SQLITE_DONE;
    if (store__done(st, rc == SQLITE_ROW ? SQLITE_DONE : rc) != 0)
      result = PROTO_ESTORAGE;
    /* Everything up to head was looked at (the query ran out of rows
     * before the page filled up): a scoped device's cursor moves past the
     * ops it may not see. */
    else if (read_all && natural < room)
      p->next_cursor = head;
  } else {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
  if (result == PROTO_ENOMEM)
    result = PROTO_ESTORAGE;

end:
  free(list);
  if (store__exec(r->commit) != 0 && result == 0)
    result = PROTO_ESTORAGE;
  return result;
}

/* ---- threads and queues ---------------------------------------------------- */

/* A FIFO of requests waiting for one thread. The mutex guards every field;
 * it is held only to move pointers, never across SQLite calls, so the loop
 * thread submitting work never waits on disk. */
typedef struct {
  uv_mutex_t mu;
  uv_cond_t cond;  /* signalled when a request arrives or stop is set */
  store_req_t *head, *tail;
  bool stop;       /* store_close began: no new requests; drain, then exit */
} store__queue_t;

/* A reading thread: its queue and its own query-only connection. */
typedef struct {
  store_t *store;
  store__queue_t q;
  store__reader_t reader; /* used only by its thread */
  uv_thread_t thread;
} store__lane_t;

/* Two of them: the tablets' pulls never wait behind a coordinator's view
 * or report, the heaviest reads there are. */
enum { STORE__TABLETS = 0, STORE__COORDINATORS, STORE__NLANES };

struct store_s {
  uv_loop_t *loop;
  uv_async_t async; /* wakes the loop for completions and thread exits */
  uint32_t max_batch;
  store__writer_t writer; /* used only by writer_thread */
  sqlite3 *writer_db;     /* closed by writer_thread when it exits */
  store__queue_t wq;
  uv_thread_t writer_thread;
  store__lane_t lanes[STORE__NLANES];
  /* Completed requests, in completion order, and the number of threads that
   * have exited; both guarded by done_mu. */
  uv_mutex_t done_mu;
  store_req_t *done_head, *done_tail;
  int exited;
  uint64_t max_hlc;        /* greatest stored HLC at open (store_max_hlc) */
  /* Loop thread only. */
  bool closed; /* uv_close(async) called */
  void (*close_done)(void *arg);
  void *close_arg;
};

static int store__queue_init(store__queue_t *q) {
  memset(q, 0, sizeof(*q));
  if (uv_mutex_init(&q->mu) != 0)
    return -1;
  if (uv_cond_init(&q->cond) != 0) {
    uv_mutex_destroy(&q->mu);
    return -1;
  }
  return 0;
}

static void store__queue_dispose(store__queue_t *q) {
  uv_cond_destroy(&q->cond);
  uv_mutex_destroy(&q->mu);
}

/* Blocks until requests are queued, then takes up to max of them (a
 * NULL-terminated list, in order). Returns NULL once stopped and empty. */
static store_req_t *store__queue_take(store__queue_t *q, uint32_t max) {
  store_req_t *first, *last;
  uint32_t n = 1;

  uv_mutex_lock(&q->mu);
  while (q->head == NULL && !q->stop)
    uv_cond_wait(&q->cond, &q->mu);
  first = q->head;
  if (first != NULL) {
    last = first;
    while (n < max && last->_next != NULL) {
      last = last->_next;
      n++;
    }
    q->head = last->_next;
    if (q->head == NULL)
      q->tail = NULL;
    last->_next = NULL;
  }
  uv_mutex_unlock(&q->mu);
  return first;
}

static void store__queue_stop(store__queue_t *q) {
  uv_mutex_lock(&q->mu);
  q->stop = true;
  uv_cond_signal(&q->cond);
  uv_mutex_unlock(&q->mu);
}

/* Hands a list of finished requests to the loop thread. */
static void store__complete(store_t *s, store_req_t *list) {
  store_req_t *last = list;
  if (list == NULL)
    return;
  while (last->_next != NULL)
    last = last->_next;
  uv_mutex_lock(&s->done_mu);
  if (s->done_tail != NULL)
    s->done_tail->_next = list;
  else
    s->done_head = list;
  s->done_tail = last;
  uv_mutex_unlock(&s->done_mu);
  uv_async_send(&s->async);
}

static void store__thread_exited(store_t *s) {
  uv_mutex_lock(&s->done_mu);
  s->exited++;
  uv_mutex_unlock(&s->done_mu);
  uv_async_send(&s->async);
}

/* Outputs of a request whose transaction was rolled back are not true. */
static void store__fail(store_req_t *req) {
  store_req_dispose(req);
  switch (req->type) {
  case STORE_HELLO:
    req->u.hello.token[0] = '\0';
    req->u.hello.org_name[0] = '\0';
    req->u.hello.org_tz[0] = '\0';
    req->u.hello.org_id = 0;
    req->u.hello.resync_gen = 0;
    req->u.hello.scope = NULL;
    break;
  case STORE_PUSH:
    req->u.push.head = 0;
    break;
  case STORE_ACTION:
    req->u.action.nops = 0;
    req->u.action.head = 0;
    break;
  default:
    break;
  }
  req->status = PROTO_ESTORAGE;
}

/* One group commit: every request of the list in one transaction. A request
 * may be refused on its own (bad credentials); an SQLite error fails the
 * whole group, which is rolled back, and the next group tries again. */
static void store__write_group(store__writer_t *w, store_req_t *list) {
  store_req_t *req;
  /* scope_cache_begin: the scope cache stays valid unless another
   * connection committed since the last group. */
  bool failed = store__exec(w->begin) != 0 || scope_cache_begin(w->scope) != 0;

  for (req = list; req != NULL && !failed; req = req->_next) {
    int rc;
    switch (req->type) {
    case STORE_HELLO:
      rc = store__hello(w, req);
      break;
    case STORE_PUSH:
      rc = store__push(w, req);
      break;
    case STORE_STATUS:
      rc = store__status(w, req);
      break;
    case STORE_ACTION:
      rc = store__action(w->db, w->replica, w->scope, req);
      break;
    case STORE_EXPORT_LOG:
      rc = store__export_log(w->db, req);
      break;
    default:
      rc = PROTO_EINTERNAL;
      break;
    }
    if (rc == PROTO_ESTORAGE || rc == PROTO_ENOMEM || rc == PROTO_EINTERNAL)
      failed = true;
    req->status = rc;
  }
  if (!failed && store__exec(w->commit) != 0)
    failed = true;
  if (failed) {
    /* A failed COMMIT may already have rolled back. */
    if (!sqlite3_get_autocommit(w->db))
      store__exec(w->rollback);
    scope_cache_forget(w->scope); /* it may hold what was rolled back */
    for (req = list; req != NULL; req = req->_next)
      store__fail(req);
  }
}

static void store__writer_main(void *arg) {
  store_t *s = arg;
  store_req_t *list;

  while ((list = store__queue_take(&s->wq, s->max_batch)) != NULL) {
    store__write_group(&s->writer, list);
    store__complete(s, list);
  }
  store__writer_close(&s->writer);
  sqlite3_close(s->writer_db); /* may checkpoint the WAL: not on the loop */
  s->writer_db = NULL;
  store__thread_exited(s);
}

static void store__reader_main(void *arg) {
  store__lane_t *lane = arg;
  store_t *s = lane->store;
  store__reader_t *r = &lane->reader;
  store_req_t *list, *req;

  while ((list = store__queue_take(&lane->q, STORE__READ_BATCH)) != NULL) {
    for (req = list; req != NULL; req = req->_next) {
      req->status = req->type == STORE_PULL     ? store__pull(r, req)
                    : req->type == STORE_VIEW   ? store__view(r->db, req)
                    : req->type == STORE_HEADS  ? store__heads(r, req)
                    : req->type == STORE_REPORT ? store__report(r->db, req)
                                                : PROTO_EINTERNAL;
      if (req->status != 0) {
        store_req_dispose(req);
        /* A report's own refusal (no such table) stays what it is. */
        if (req->type != STORE_REPORT || req->status != PROTO_EBAD_FIELD)
          req->status = PROTO_ESTORAGE;
      }
    }
    store__complete(s, list);
  }
  store__reader_close(r);
  store__thread_exited(s);
}

static void store__free(store_t *s) {
  store__queue_dispose(&s->wq);
  for (int i = 0; i < STORE__NLANES; i++)
    store__queue_dispose(&s->lanes[i].q);
  uv_mutex_destroy(&s->done_mu);
  free(s);
}

static void store__close_cb(uv_handle_t *handle) {
  store_t *s = handle->data;
  void (*done)(void *) = s->close_done;
  void *arg = s->close_arg;
  store__free(s);
  if (done != NULL)
    done(arg);
}

static void store__async_cb(uv_async_t *handle) {
  store_t *s = handle->data;
  store_req_t *list, *req;
  int exited;

  uv_mutex_lock(&s->done_mu);
  list = s->done_head;
  s->done_head = s->done_tail = NULL;
  exited = s->exited;
  uv_mutex_unlock(&s->done_mu);

  while (list != NULL) {
    req = list;
    list = req->_next;
    req->_next = NULL;
    req->_cb(req);
  }
  /* Every thread has handed over its last completions (they count
   * themselves out after that, under the same mutex): nothing can send on
   * the handle any more. Joining waits only for them to return. */
  if (exited == 1 + STORE__NLANES && !s->closed) {
    s->closed = true;
    uv_thread_join(&s->writer_thread);
    for (int i = 0; i < STORE__NLANES; i++)
      uv_thread_join(&s->lanes[i].thread);
    uv_close((uv_handle_t *)&s->async, store__close_cb);
  }
}

static int store__query_int(sqlite3 *db, const char *sql, int64_t param, int64_t *out,
                            bool *found);

uint64_t store_max_hlc(const store_t *s) { return s->max_hlc; }

store_t *store_open(const char *path, uv_loop_t *loop, const store_options_t *opts) {
  store_t *s;
  sqlite3 *db = NULL;
  int64_t max_hlc = 0;
  bool found;

  s = calloc(1, sizeof(*s));
  if (s == NULL) {
    fprintf(stderr, "store: out of memory\n");
    return NULL;
  }
  s->loop = loop;
  s->max_batch = opts != NULL && opts->max_batch_reqs > 0 ? opts->max_batch_reqs
                                                          : STORE__DEFAULT_BATCH;
  if (store__open_writer_db(path, &db) != 0)
    goto fail_free;
  if (store__migrate(db) != 0)
    goto fail_db;
  if (store__writer_open(&s->writer, db) != 0)
    goto fail_db;
  s->writer_db = db;
  /* A full scan, once per start: ops has no index on hlc, and the bound
   * must cover every op, not only recent ones. */
  if (store__query_int(db, "SELECT COALESCE(MAX(hlc), 0) FROM ops", 0, &max_hlc, &found) != 0)
    goto fail_writer;
  s->max_hlc = (uint64_t)max_hlc;
  for (int i = 0; i < STORE__NLANES; i++) {
    s->lanes[i].store = s;
    if (store__reader_open(&s->lanes[i].reader, path) != 0 ||
        store__queue_init(&s->lanes[i].q) != 0) {
      store__reader_close(&s->lanes[i].reader);
      while (i-- > 0) {
        store__queue_dispose(&s->lanes[i].q);
        store__reader_close(&s->lanes[i].reader);
      }
      goto fail_writer;
    }
  }
  if (store__queue_init(&s->wq) != 0)
    goto fail_lanes;
  if (uv_mutex_init(&s->done_mu) != 0)
    goto fail_wq;
  if (uv_async_init(loop, &s->async, store__async_cb) != 0)
    goto fail_done;
  s->async.data = s;
  if (uv_thread_create(&s->writer_thread, store__writer_main, s) != 0) {
    /* Nothing ran yet: close the handle; the memory goes with it. */
    s->closed = true;
    store__writer_close(&s->writer);
    sqlite3_close(db);
    for (int i = 0; i < STORE__NLANES; i++)
      store__reader_close(&s->lanes[i].reader);
    uv_close((uv_handle_t *)&s->async, store__close_cb);
    fprintf(stderr, "store: cannot start the writer thread\n");
    return NULL;
  }
  for (int i = 0; i < STORE__NLANES; i++) {
    if (uv_thread_create(&s->lanes[i].thread, store__reader_main, &s->lanes[i]) == 0)
      continue;
    fprintf(stderr, "store: cannot start a reader thread\n");
    /* The threads started drain and close their own connections. */
    store__queue_stop(&s->wq);
    uv_thread_join(&s->writer_thread); /* it closes the writer connection */
    for (int j = 0; j < STORE__NLANES; j++) {
      store__queue_stop(&s->lanes[j].q);
      if (j < i)
        uv_thread_join(&s->lanes[j].thread);
      else
        store__reader_close(&s->lanes[j].reader);
    }
    s->closed = true;
    uv_close((uv_handle_t *)&s->async, store__close_cb);
    return NULL;
  }
  return s;

fail_done:
  uv_mutex_destroy(&s->done_mu);
fail_wq:
  store__queue_dispose(&s->wq);
fail_lanes:
  for (int i = 0; i < STORE__NLANES; i++) {
    store__queue_dispose(&s->lanes[i].q);
    store__reader_close(&s->lanes[i].reader);
  }
fail_writer:
  store__writer_close(&s->writer);
fail_db:
  sqlite3_close(db);
fail_free:
  free(s);
  return NULL;
}

int store_submit(store_t *s, store_req_t *req, store_cb cb) {
  store__queue_t *q;

  switch (req->type) {
  case STORE_HELLO:
    req->u.hello.org_id = 0;
    req->u.hello.org_name[0] = '\0';
    req->u.hello.org_tz[0] = '\0';
    req->u.hello.last_seq = 0;
    req->u.hello.head = 0;
    req->u.hello.resync_gen = 0;
    req->u.hello.token[0] = '\0';
    req->u.hello.scope = NULL;
    q = &s->wq;
    break;
  case STORE_PUSH:
    memset(&req->u.push.ack, 0, sizeof(req->u.push.ack));
    req->u.push.committed = NULL;
    req->u.push.committed_loc = NULL;
    req->u.push.ncommitted = 0;
    req->u.push.head = 0;
    q = &s->wq;
    break;
  case STORE_STATUS:
    q = &s->wq;
    break;
  case STORE_PULL:
    req->u.pull.ops = NULL;
    req->u.pull.locs = NULL;
    req->u.pull.nops = 0;
    req->u.pull.next_cursor = 0;
    req->u.pull.head = 0;
    q = &s->lanes[STORE__TABLETS].q;
    break;
  case STORE_VIEW:
    memset(req->u.view.json, 0, sizeof(req->u.view.json));
    req->u.view.org = 0;
    q = &s->lanes[STORE__COORDINATORS].q;
    break;
  case STORE_HEADS:
    memset(&req->u.heads, 0, sizeof(req->u.heads));
    q = &s->lanes[STORE__TABLETS].q;
    break;
  case STORE_ACTION:
    req->u.action.nops = 0;
    req->u.action.head = 0;
    q = &s->wq;
    break;
  case STORE_REPORT:
    req->u.report.body = NULL;
    req->u.report.len = 0;
    req->u.report.rows = 0;
    q = &s->lanes[STORE__COORDINATORS].q;
    break;
  case STORE_EXPORT_LOG:
    q = &s->wq;
    break;
  default:
    return PROTO_EINTERNAL;
  }
  req->status = 0;
  req->_cb = cb;
  req->_next = NULL;
  req->_mem = NULL;

  uv_mutex_lock(&q->mu);
  if (q->stop) {
    uv_mutex_unlock(&q->mu);
    return PROTO_ESHUTTING_DOWN;
  }
  if (q->tail != NULL)
    q->tail->_next = req;
  else
    q->head = req;
  q->tail = req;
  uv_cond_signal(&q->cond);
  uv_mutex_unlock(&q->mu);
  return 0;
}

void store_close(store_t *s, void (*done)(void *arg), void *arg) {
  assert(s->close_done == NULL && !s->closed);
  s->close_done = done;
  s->close_arg = arg;
  /* The threads drain their queues, close their connections and count
   * themselves out; store__async_cb then closes the handle. */
  store__queue_stop(&s->wq);
  for (int i = 0; i < STORE__NLANES; i++)
    store__queue_stop(&s->lanes[i].q);
}

/* ---- demo seed ------------------------------------------------------------- */

/* UUIDv7 text (RFC 9562): 48-bit ms timestamp, version 7, variant 10, the
 * rest random, so ids sort by creation time. Returns 0 or PROTO_EINTERNAL. */
static int store__uuid7(int64_t now_ms, char out[37]) {
  unsigned char b[16];
  char hex[33];
  uint64_t ms = now_ms > 0 ? (uint64_t)now_ms : 0;

  if (RAND_bytes(b, sizeof(b)) != 1)
    return PROTO_EINTERNAL;
  for (int i = 0; i < 6; i++)
    b[i] = (unsigned char)(ms >> (40 - 8 * i));
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  store__hex(b, sizeof(b), hex);
  snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
  return 0;
}

/* State of one seeding transaction: ops come from device "server" with
 * contiguous seqs and HLCs after every op the organisation holds. */
typedef struct {
  store__writer_t *w;
  int64_t org;
  uint64_t head;
  uint64_t last_seq;
  hlc_t clock;
  int64_t now_ms;
} store__seed_t;

static proto_field_t store__fstr(uint8_t id, const char *s) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_STR, .u.s = proto_str(s)}};
  return f;
}

static proto_field_t store__fint(uint8_t id, int64_t i) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_INT, .u.i = i}};
  return f;
}

static proto_field_t store__fbool(uint8_t id, bool b) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_BOOL, .u.b = b}};
  return f;
}

/* Commits one op exactly as a push would: applied to the replica, appended
 * to the ops log with the next server_seq. */
static int store__seed_op(store__seed_t *sd, uint8_t type, const char *key, proto_field_t *fields,
                          uint32_t nfields) {
  proto_op_t op;
  proto_str_t blob;
  scope_where_t where;
  int rc;

  memset(&op, 0, sizeof(op));
  op.device = PROTO_STR(STORE__SEED_DEVICE);
  op.seq = sd->last_seq + 1;
  op.hlc = hlc_now(&sd->clock, sd->now_ms);
  op.base = sd->head; /* the server has seen everything */
  op.server_seq = sd->head + 1;
  op.type = type;
  op.key = proto_str(key);
  op.nfields = nfields;
  op.fields = fields;
  rc = scope_check_op(sd->w->scope, sd->org, NULL, &op, &where);
  if (rc != 0) {
    fprintf(stderr, "store: seed op %s: %s\n", key, proto_strerror(rc));
    return PROTO_ESTORAGE;
  }
  rc = replica_apply(sd->w->replica, sd->org, &op);
  if (rc != 0) {
    fprintf(stderr, "store: seed op %s rejected: %s\n", key, proto_strerror(rc));
    return PROTO_ESTORAGE;
  }
  if (store__fields_blob(sd->w, &op, &blob) != 0)
    return PROTO_ESTORAGE;
  rc = store__op_put(sd->w, sd->org, &op, blob, &where);
  if (rc == 0)
    rc = scope_note_op(sd->w->scope, sd->org, &op, &where, NULL);
  if (rc != 0)
    return rc;
  sd->head = op.server_seq;
  sd->last_seq = op.seq;
  return 0;
}

/* Runs a one-row SELECT with an optional int64 parameter into *out. */
static int store__query_int(sqlite3 *db, const char *sql, int64_t param, int64_t *out,
                            bool *found) {
  sqlite3_stmt *st = NULL;
  int rc;
  *found = false;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "store: %s: %s\n", sql, sqlite3_errmsg(db));
    return PROTO_ESTORAGE;
  }
  if (sqlite3_bind_parameter_count(st) > 0)
    sqlite3_bind_int64(st, 1, param);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *found = true;
    *out = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fprintf(stderr, "store: %s: %s\n", sql, sqlite3_errmsg(db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* The demo organisation's first records: one location, two activities on
 * today's weekday, five participants. */
static int store__seed_records(store__seed_t *sd, int weekday) {
  static const char *const people[][2] = {
      {"Fatima el Amrani", "huisarts"}, {"Joop de Vries", NULL},
      {"Mehmet Yilmaz", "wijkteam"},    {"Anneke Bakker", NULL},
      {"Priya Ramdin", "buurtcentrum"},
  };
  static const struct {
    const char *name, *start;
  } activities[] = {{"Time to Dance", "10:00"}, {"Koffieochtend", "09:30"}};
  char location[37], id[37];
  proto_field_t f[5];
  int rc;

  if (store__uuid7(sd->now_ms, location) != 0)
    return PROTO_ESTORAGE;
  f[0] = store__fstr(1, "Huis van de Wijk Feijenoord");
  rc = store__seed_op(sd, SCHEMA_LOCATION, location, f, 1);
  if (rc != 0)
    return rc;

  for (size_t i = 0; i < sizeof(activities) / sizeof(activities[0]); i++) {
    if (store__uuid7(sd->now_ms, id) != 0)
      return PROTO_ESTORAGE;
    f[0] = store__fstr(1, location);
    f[1] = store__fstr(2, activities[i].name);
    f[2] = store__fint(3, weekday);
    f[3] = store__fstr(4, activities[i].start);
    rc = store__seed_op(sd, SCHEMA_ACTIVITY, id, f, 4);
    if (rc != 0)
      return rc;
  }

  for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
    uint32_t n = 0;
    if (store__uuid7(sd->now_ms, id) != 0)
      return PROTO_ESTORAGE;
    f[n++] = store__fstr(1, people[i][0]);
    if (people[i][1] != NULL)
      f[n++] = store__fstr(4, people[i][1]);
    f[n++] = store__fint(5, sd->now_ms);
    rc = store__seed_op(sd, SCHEMA_PARTICIPANT, id, f, n);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Gives every activity of the demo organisation a session on date, with an
 * id derived from both so a second start on the same day adds nothing. */
static int store__seed_sessions(store__seed_t *sd, const char *date) {
  sqlite3 *db = sd->w->db;
  sqlite3_stmt *list = NULL, *exists = NULL;
  struct {
    char id[PROTO_MAX_ID_BYTES + 1];
    char start[8];
  } *acts = NULL;
  size_t n = 0, cap = 0;
  int rc = PROTO_ESTORAGE, step;

  if (sqlite3_prepare_v2(db, "SELECT id, start_time FROM activities WHERE org = ?1 ORDER BY id",
                         -1, &list, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT 1 FROM sessions WHERE org = ?1 AND id = ?2", -1, &exists,
                         NULL) != SQLITE_OK)
    goto done;
  /* Collect first: the inserts below must not run under the open cursor. */
  sqlite3_bind_int64(list, 1, sd->org);
  while ((step = sqlite3_step(list)) == SQLITE_ROW) {
    const unsigned char *aid = sqlite3_column_text(list, 0);
    const unsigned char *start = sqlite3_column_text(list, 1);
    /* Room for "-YYYY-MM-DD" within PROTO_MAX_ID_BYTES; longer ids (only
     * possible for activities made on tablets) get no demo session. */
    if (aid == NULL || sqlite3_column_bytes(list, 0) > PROTO_MAX_ID_BYTES - 11)
      continue;
    if (n == cap) {
      void *grown = realloc(acts, (cap ? cap * 2 : 8) * sizeof(*acts));
      if (grown == NULL)
        goto done;
      acts = grown;
      cap = cap ? cap * 2 : 8;
    }
    snprintf(acts[n].id, sizeof(acts[n].id), "%s", (const char *)aid);
    snprintf(acts[n].start, sizeof(acts[n].start), "%s", start ? (const char *)start : "");
    n++;
  }
  if (step != SQLITE_DONE)
    goto done;

  for (size_t i = 0; i < n; i++) {
    char sid[PROTO_MAX_ID_BYTES + 32]; /* fits: ids were length-checked */
    proto_field_t f[4];
    uint32_t nf = 0;
    snprintf(sid, sizeof(sid), "%s-%s", acts[i].id, date);
    sqlite3_reset(exists);
    sqlite3_bind_int64(exists, 1, sd->org);
    sqlite3_bind_text(exists, 2, sid, -1, SQLITE_TRANSIENT);
    step = sqlite3_step(exists);
    if (step == SQLITE_ROW)
      continue;
    if (step != SQLITE_DONE)
      goto done;
    f[nf++] = store__fstr(1, acts[i].id);
    f[nf++] = store__fstr(2, date);
    if (acts[i].start[0] != '\0')
      f[nf++] = store__fstr(3, acts[i].start);
    f[nf++] = store__fbool(4, false);
    if (store__seed_op(sd, SCHEMA_SESSION, sid, f, nf) != 0)
      goto done;
  }
  rc = 0;

done:
  if (rc != 0)
    fprintf(stderr, "store: seeding sessions: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(list);
  sqlite3_finalize(exists);
  free(acts);
  return rc;
}

/* A fresh enrolment code for org: 8 characters from an alphabet without
 * look-alikes (no 0/O, 1/I), so it can be read out and typed. */
static int store__seed_code(store__seed_t *sd, uint32_t uses, char code_out[PROTO_MAX_ID_BYTES + 1]) {
  static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"; /* 32: no modulo bias */
  for (int attempt = 0; attempt < 16; attempt++) {
    unsigned char raw[STORE__CODE_LEN];
    char code[STORE__CODE_LEN + 1];
    sqlite3_stmt *st = sd->w->code_insert;
    int rc;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
      return PROTO_ESTORAGE;
    for (int i = 0; i < STORE__CODE_LEN; i++)
      code[i] = alphabet[raw[i] % 32];
    code[STORE__CODE_LEN] = '\0';
    sqlite3_bind_text(st, 1, code, STORE__CODE_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, sd->org);
    sqlite3_bind_int64(st, 3, sd->now_ms + STORE__CODE_TTL_MS);
    sqlite3_bind_int64(st, 4, uses);
    rc = store__exec(st);
    if (rc != 0)
      return rc;
    if (sqlite3_changes(sd->w->db) == 1) { /* else: that code exists; draw again */
      memcpy(code_out, code, sizeof(code));
      return 0;
    }
  }
  return PROTO_ESTORAGE;
}

static int store__seed(store__writer_t *w, int64_t now_ms, uint32_t uses,
                       char code_out[PROTO_MAX_ID_BYTES + 1]) {
  store__seed_t sd;
  store__device_t dev;
  sqlite3_stmt *st = NULL;
  int64_t value = 0;
  bool found, created = false;
  char date[11], tz[ZONE_NAME_MAX + 1];
  const zone_t *zone;
  int rc;

  memset(&sd, 0, sizeof(sd));
  sd.w = w;
  sd.now_ms = now_ms;

  rc = store__query_int(w->db, "SELECT id FROM orgs WHERE name = '" STORE__DEMO_ORG "'", 0,
                        &sd.org, &found);
  if (rc != 0)
    return rc;
  if (!found) {
    rc = store__query_int(w->db, "SELECT count(*) FROM orgs", 0, &value, &found);
    if (rc != 0)
      return rc;
    if (value > 0) {
      fprintf(stderr, "store: the database holds organisations but not \"" STORE__DEMO_ORG
                      "\"; not seeding demo data into it\n");
      return PROTO_ESTORAGE;
    }
    if (sqlite3_prepare_v2(w->db, "INSERT INTO orgs (name, created_ms) VALUES (?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK)
      return PROTO_ESTORAGE;
    sqlite3_bind_text(st, 1, STORE__DEMO_ORG, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
    sqlite3_finalize(st);
    if (rc != 0)
      return rc;
    sd.org = sqlite3_last_insert_rowid(w->db);
    created = true;
  }

  rc = store__device_load(w, PROTO_STR(STORE__SEED_DEVICE), &dev);
  if (rc != 0)
    return rc;
  if (dev.found && dev.org != sd.org) {
    fprintf(stderr, "store: device \"" STORE__SEED_DEVICE "\" belongs to another organisation\n");
    return PROTO_ESTORAGE;
  }
  if (!dev.found) {
    sqlite3_stmt *ins = w->device_insert; /* no token: it can never log in */
    sqlite3_bind_text(ins, 1, STORE__SEED_DEVICE, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, sd.org);
    sqlite3_bind_text(ins, 3, "Turf server", -1, SQLITE_STATIC);
    sqlite3_bind_null(ins, 4);
    sqlite3_bind_text(ins, 5, "turfd", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 6, now_ms);
    rc = store__exec(ins);
    if (rc != 0)
      return rc;
  }
  sd.last_seq = dev.last_seq;
  rc = store__org_load(w, sd.org, NULL, 0, tz, &sd.head, &found);
  if (rc != 0)
    return rc;
  /* Today is the organisation's. */
  if ((zone = zone_cached(tz)) == NULL) {
    fprintf(stderr, "store: time zone \"%s\" is not in this machine's time zone database\n", tz);
    return PROTO_ESTORAGE;
  }
  zone_date(zone, now_ms, date);
  rc = store__query_int(w->db, "SELECT COALESCE(MAX(hlc), 0) FROM ops WHERE org = ?1", sd.org,
                        &value, &found);
  if (rc != 0)
    return rc;
  hlc_init(&sd.clock, (uint64_t)value);

  if (created) {
    rc = store__seed_records(&sd, zone_weekday(zone, now_ms));
    if (rc != 0)
      return rc;
  }
  rc = store__seed_sessions(&sd, date);
  if (rc != 0)
    return rc;

  store__bind_str(w->device_push, 1, PROTO_STR(STORE__SEED_DEVICE));
  sqlite3_bind_int64(w->device_push, 2, (int64_t)sd.last_seq);
  sqlite3_bind_int64(w->device_push, 3, 0);
  sqlite3_bind_int64(w->device_push, 4, now_ms);
  rc = store__exec(w->device_push);
  if (rc != 0)
    return rc;
  rc = store__set_head(w, sd.org, sd.head);
  if (rc != 0)
    return rc;
  return store__seed_code(&sd, uses, code_out);
}

int store_open_sync(const char *path, sqlite3 **out) {
  sqlite3 *db = NULL;

  *out = NULL;
  if (store__open_writer_db(path, &db) != 0)
    return PROTO_ESTORAGE;
  if (store__migrate(db) != 0) {
    sqlite3_close(db);
    return PROTO_ESTORAGE;
  }
  *out = db;
  return 0;
}

int store_seed_demo(const char *path, int64_t now_ms, uint32_t uses,
                    char code_out[PROTO_MAX_ID_BYTES + 1]) {
  sqlite3 *db = NULL;
  store__writer_t w;
  int rc = PROTO_ESTORAGE;

  code_out[0] = '\0';
  if (store__open_writer_db(path, &db) != 0)
    return PROTO_ESTORAGE;
  if (store__migrate(db) != 0)
    goto close_db;
  if (store__writer_open(&w, db) != 0)
    goto close_db;
  if (store__exec(w.begin) != 0)
    goto close_writer;
  rc = store__seed(&w, now_ms, uses, code_out);
  if (rc == 0)
    rc = store__exec(w.commit);
  if (rc != 0) {
    code_out[0] = '\0';
    if (!sqlite3_get_autocommit(db))
      store__exec(w.rollback);
  }

close_writer:
  store__writer_close(&w);
close_db:
  sqlite3_close(db);
  return rc;
}

int store_seed_demo_coordinator(const char *path, const char *login, const char *password_hash,
                                int64_t now_ms) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t org = 0;
  int rc = PROTO_ESTORAGE, step;

  if (store__open_writer_db(path, &db) != 0)
    return PROTO_ESTORAGE;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_prepare_v2(db, "SELECT id FROM orgs WHERE name = '" STORE__DEMO_ORG "'", -1, &st,
                         NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_step(st) != SQLITE_ROW) {
    fprintf(stderr, "store: no demo organisation to give a coordinator\n");
    goto fail;
  }
  org = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  /* The login is the demo's own: one of another organisation is never
   * taken over (ON CONFLICT ... WHERE leaves it, and changes() says so). */
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO coordinators (org, login, name, role, password_hash, "
                         "created_ms) VALUES (?1, ?2, 'Demo coordinator', 'coordinator', ?3, ?4) "
                         "ON CONFLICT (login) DO UPDATE SET password_hash = excluded.password_hash, "
                         "role = 'coordinator', disabled = 0 WHERE org = excluded.org",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  sqlite3_bind_int64(st, 1, org);
  sqlite3_bind_text(st, 2, login, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, password_hash, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now_ms);
  step = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (step != SQLITE_DONE)
    goto fail;
  if (sqlite3_changes(db) != 1) {
    fprintf(stderr, "store: the login %s belongs to another organisation\n", login);
    goto fail;
  }
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    goto fail;
  rc = 0;
  goto done;

fail:
  if (db && sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_ROW &&
      sqlite3_errcode(db) != SQLITE_DONE)
    fprintf(stderr, "store: demo coordinator: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  if (db && !sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
  sqlite3_close(db);
  return rc;
}
