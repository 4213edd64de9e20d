/* local.c — the tablet's local file (see local.h).
 *
 * Owns the SQLite connection, the replica_t prepared on it, and the device
 * id copied from meta. All sync state lives in the meta table and is read
 * inside the transaction that uses it (other processes may write the file
 * too). */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hlc.h"
#include "replica.h"
#include "schema.h"

/* Tablets keep one organisation per file; the replica tables still carry
 * the org column, which is 0 locally. */
#define LOCAL__ORG 0
/* PRAGMA user_version of a file created by this code. */
#define LOCAL__VERSION 3
/* How long a writer waits for another process's transaction (ms). */
#define LOCAL__BUSY_MS 15000

struct local_s {
  sqlite3 *db;
  replica_t *replica;
  int64_t skew_ms; /* added to the real clock (ms) */
  char device[PROTO_MAX_ID_BYTES + 1];
};

static const char local__schema[] =
    "CREATE TABLE meta (\n"
    "  k TEXT PRIMARY KEY, -- device, name, token, server, org, cursor,\n"
    "                      -- next_seq, offset_ms, hlc_last, hlc_remote\n"
    "  v\n"
    ");\n"
    "CREATE TABLE outbox (\n"
    "  seq INTEGER PRIMARY KEY, -- device_seq\n"
    "  hlc INTEGER NOT NULL,\n"
    "  type INTEGER NOT NULL,   -- schema type id\n"
    "  key TEXT NOT NULL,\n"
    "  key2 TEXT NOT NULL DEFAULT '',\n"
    "  base INTEGER NOT NULL,   -- cursor when recorded\n"
    "  fields BLOB NOT NULL,    -- msgpack map from proto_encode_fields\n"
    "  created_ms INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE attention (\n"
    "  seq INTEGER PRIMARY KEY, -- device_seq of the refused op\n"
    "  code INTEGER NOT NULL,   -- positive wire code\n"
    "  message TEXT NOT NULL,\n"
    "  hlc INTEGER NOT NULL,\n"
    "  type INTEGER NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  key2 TEXT NOT NULL DEFAULT '',\n"
    "  base INTEGER NOT NULL,\n"
    "  fields BLOB NOT NULL,\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  rejected_ms INTEGER NOT NULL\n"
    ");\n";

/* ---- small SQL helpers --------------------------------------------------- */

static int local__exec(local_t *l, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(l->db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "turf-tablet: local file: %s\n", err ? err : "error");
    sqlite3_free(err);
    return PROTO_ESTORAGE;
  }
  return 0;
}

static int local__prepare(local_t *l, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) != SQLITE_OK) {
    fprintf(stderr, "turf-tablet: local file: %s\n", sqlite3_errmsg(l->db));
    *st = NULL;
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* Runs a prepared statement that returns no rows and finalizes it. */
static int local__run(local_t *l, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "turf-tablet: local file: %s\n", sqlite3_errmsg(l->db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

static int local__begin(local_t *l) { return local__exec(l, "BEGIN IMMEDIATE"); }
static int local__commit(local_t *l) { return local__exec(l, "COMMIT"); }
static void local__rollback(local_t *l) {
  if (!sqlite3_get_autocommit(l->db))
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

static int local__meta_set_int(local_t *l, const char *key, int64_t v) {
  sqlite3_stmt *st;
  if (local__prepare(l, "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, v);
  return local__run(l, st);
}

int local_meta_set_text(local_t *l, const char *key, const char *value) {
  sqlite3_stmt *st;
  if (local__prepare(l, "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  return local__run(l, st);
}

int64_t local_meta_int(local_t *l, const char *key, int64_t dflt) {
  sqlite3_stmt *st;
  int64_t v = dflt;
  if (local__prepare(l, "SELECT v FROM meta WHERE k = ?", &st) != 0)
    return dflt;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

int local_meta_text(local_t *l, const char *key, char *buf, size_t size) {
  sqlite3_stmt *st;
  int rc;
  if (size == 0)
    return PROTO_ESTORAGE;
  buf[0] = '\0';
  if (local__prepare(l, "SELECT v FROM meta WHERE k = ?", &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
}

/* ---- open / close -------------------------------------------------------- */

/* Creates the schema unless another process got there first. */
static int local__migrate(local_t *l) {
  sqlite3_stmt *st;
  int64_t version = 0;
  char sql[64];

  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  if (local__prepare(l, "PRAGMA user_version", &st) != 0)
    goto fail;
  if (sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (version == LOCAL__VERSION)
    return local__commit(l);
  if (version == 1 || version == 2) {
    /* Version 2 added the erasure record type (the same columns as
     * replica.c generated for it then); version 3 moved the field clocks
     * into the record rows. */
    if (version == 1 && local__exec(l, "CREATE TABLE IF NOT EXISTS erasures (\n"
                                       "  org INTEGER NOT NULL,\n"
                                       "  participant TEXT NOT NULL,\n"
                                       "  erased INTEGER,\n"
                                       "  PRIMARY KEY (org, participant)\n"
                                       ")") != 0)
      goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", LOCAL__VERSION);
    if (local__exec(l, replica_clocks_migration_sql()) != 0 || local__exec(l, sql) != 0)
      goto fail;
    return local__commit(l);
  }
  if (version != 0) {
    fprintf(stderr, "turf-tablet: local file has unknown version %lld\n", (long long)version);
    goto fail;
  }
  if (local__exec(l, local__schema) != 0 || local__exec(l, replica_schema_sql()) != 0)
    goto fail;
  snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", LOCAL__VERSION);
  if (local__exec(l, sql) != 0)
    goto fail;
  return local__commit(l);

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

local_t *local_open(const char *path, int64_t skew_ms) {
  local_t *l;
  replica_options_t ropts = {.log_conflicts = false};

  l = calloc(1, sizeof(*l));
  if (l == NULL)
    return NULL;
  l->skew_ms = skew_ms;
  if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    fprintf(stderr, "turf-tablet: cannot open %s: %s\n", path,
            l->db ? sqlite3_errmsg(l->db) : "out of memory");
    goto fail_db;
  }
  sqlite3_busy_timeout(l->db, LOCAL__BUSY_MS);
  /* A check-in, once recorded, must survive a crash or power loss. */
  if (local__exec(l, "PRAGMA journal_mode = WAL") != 0 ||
      local__exec(l, "PRAGMA synchronous = FULL") != 0 ||
      /* What is deleted is overwritten, so an erased participant's name
       * does not linger in free pages of the tablet's file. */
      local__exec(l, "PRAGMA secure_delete = ON") != 0 || local__migrate(l) != 0)
    goto fail_db;
  /* The conflict log is the coordinator's tool and lives on the server. */
  l->replica = replica_open(l->db, &ropts);
  if (l->replica == NULL)
    goto fail_db;
  if (local_meta_text(l, "device", l->device, sizeof(l->device)) != 0)
    goto fail_replica;
  return l;

fail_replica:
  replica_close(l->replica);
fail_db:
  sqlite3_close(l->db);
  free(l);
  return NULL;
}

void local_close(local_t *l) {
  if (l == NULL)
    return;
  replica_close(l->replica);
  sqlite3_close(l->db);
  free(l);
}

sqlite3 *local_db(local_t *l) { return l->db; }
const char *local_device(const local_t *l) { return l->device; }

/* ---- time and ids -------------------------------------------------------- */

int64_t local_device_clock(const local_t *l) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + l->skew_ms;
}

void local_set_skew(local_t *l, int64_t skew_ms) { l->skew_ms = skew_ms; }

int64_t local_now(local_t *l) {
  return local_device_clock(l) + local_meta_int(l, "offset_ms", 0);
}

void local_uuid7(int64_t ms, char buf[LOCAL_UUID_LEN + 1]) {
  uint8_t b[16];
  size_t got = 0;

  /* getrandom only fails before the kernel pool is seeded or on signals;
   * ids must still be unique, so fall back to mixing the clock in. */
  while (got < 10) {
    ssize_t n = getrandom(b + 6 + got, 10 - got, 0);
    if (n <= 0) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      for (; got < 10; got++)
        b[6 + got] = (uint8_t)(ts.tv_nsec >> (got % 4 * 8)) ^ (uint8_t)rand();
      break;
    }
    got += (size_t)n;
  }
  for (int i = 0; i < 6; i++)
    b[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
  b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
  b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* variant 10 */
  snprintf(buf, LOCAL_UUID_LEN + 1,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

/* Deletes every row of every table but those named in keep (an SQL list
 * such as "('meta')", or "()" for none), inside the caller's transaction.
 * Returns 0 or PROTO_ESTORAGE. */
static int local__delete_tables(local_t *l, const char *keep) {
  sqlite3_stmt *st;
  char sql[200];
  int rc;

  snprintf(sql, sizeof sql, "SELECT name FROM sqlite_master WHERE type = 'table' "
                            "AND name NOT LIKE 'sqlite_%%' AND name NOT IN %s", keep);
  if (local__prepare(l, sql, &st) != 0)
    return PROTO_ESTORAGE;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\"", (const char *)sqlite3_column_text(st, 0));
    if (local__exec(l, sql) != 0) {
      sqlite3_finalize(st);
      return PROTO_ESTORAGE;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
}

int local_wipe(local_t *l) {
  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  if (local__delete_tables(l, "()") != 0 || local__commit(l) != 0)
    goto fail;
  l->device[0] = '\0';
  /* The WAL still holds the pages as they were before: truncate it. */
  return local__exec(l, "PRAGMA wal_checkpoint(TRUNCATE)") == 0 ? 0 : PROTO_ESTORAGE;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

/* Applies every outbox op to the replica again, in seq order, inside the
 * caller's transaction. Returns 0 or PROTO_ESTORAGE. */
static int local__replay_outbox(local_t *l) {
  sqlite3_stmt *st;
  int rc;

  if (local__prepare(l, "SELECT seq, hlc, type, key, key2, base, fields FROM outbox "
                        "ORDER BY seq", &st) != 0)
    return PROTO_ESTORAGE;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    proto_op_t op;
    void *mem = NULL;
    int applied;
    memset(&op, 0, sizeof(op));
    op.device = proto_str(l->device);
    op.seq = (uint64_t)sqlite3_column_int64(st, 0);
    op.hlc = (uint64_t)sqlite3_column_int64(st, 1);
    op.type = (uint8_t)sqlite3_column_int(st, 2);
    op.key = (proto_str_t){(const char *)sqlite3_column_text(st, 3),
                           (uint32_t)sqlite3_column_bytes(st, 3)};
    op.key2 = (proto_str_t){(const char *)sqlite3_column_text(st, 4),
                            (uint32_t)sqlite3_column_bytes(st, 4)};
    op.base = (uint64_t)sqlite3_column_int64(st, 5);
    applied = proto_decode_fields(sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6),
                                  &op, &mem);
    if (applied == 0)
      applied = replica_apply(l->replica, LOCAL__ORG, &op);
    free(mem);
    if (applied == PROTO_ESTORAGE) {
      sqlite3_finalize(st);
      return PROTO_ESTORAGE;
    }
    if (applied != 0) /* it stays queued: the server decides on it */
      fprintf(stderr, "turf-tablet: queued op %llu not shown again: %s\n",
              (unsigned long long)op.seq, proto_strerror(applied));
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
}

int local_resync(local_t *l) {
  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  /* Every replica table and the conflict log; the device's own state
   * (meta, outbox, attention) stays. */
  if (local__delete_tables(l, "('meta', 'outbox', 'attention')") != 0 ||
      local__replay_outbox(l) != 0 || local__meta_set_int(l, "cursor", 0) != 0 ||
      local__commit(l) != 0)
    goto fail;
  /* As in local_wipe: the deleted rows' pages were overwritten
   * (secure_delete); the WAL's old images of them go with the checkpoint.
   * One that cannot finish now (another process reading) is retried by
   * SQLite's next automatic checkpoint. */
  sqlite3_exec(l->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  return 0;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

int local_forget_unenrolled_device(local_t *l) {
  char token[PROTO_MAX_ID_BYTES + 1];
  int64_t outbox;

  if (local_meta_text(l, "token", token, sizeof(token)) != 0)
    return PROTO_ESTORAGE;
  if (token[0] != '\0' || l->device[0] == '\0')
    return 0;
  if ((outbox = local_outbox_count(l)) != 0)
    return outbox < 0 ? PROTO_ESTORAGE : 0;
  if (local_meta_set_text(l, "device", "") != 0)
    return PROTO_ESTORAGE;
  l->device[0] = '\0';
  return 0;
}

int local_ensure_device(local_t *l, const char *name) {
  char id[LOCAL_UUID_LEN + 1];

  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  if (local_meta_text(l, "device", l->device, sizeof(l->device)) != 0)
    goto fail;
  if (l->device[0] == '\0') {
    local_uuid7(local_device_clock(l), id);
    if (local_meta_set_text(l, "device", id) != 0)
      goto fail;
    snprintf(l->device, sizeof(l->device), "%s", id);
  }
  if (name != NULL && local_meta_set_text(l, "name", name) != 0)
    goto fail;
  if (local__commit(l) != 0)
    goto fail;
  return 0;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

uint64_t local_cursor(local_t *l) { return (uint64_t)local_meta_int(l, "cursor", 0); }

/* ---- recording ----------------------------------------------------------- */

int local_record(local_t *l, proto_op_t *op, local_prepare_cb prepare, void *arg,
                 uint64_t *seq_out) {
  proto_buf_t fields;
  sqlite3_stmt *st = NULL;
  hlc_t clock;
  uint64_t seq;
  int64_t now;
  int rc;

  if (l->device[0] == '\0')
    return PROTO_EINVALID_OP; /* no identity yet: enrol first */
  proto_buf_init(&fields, 0);
  if (local__begin(l) != 0) {
    rc = PROTO_ESTORAGE;
    goto done;
  }
  seq = (uint64_t)local_meta_int(l, "next_seq", 1);
  now = local_now(l);
  hlc_init(&clock, (uint64_t)local_meta_int(l, "hlc_last", 0));
  op->device = proto_str(l->device);
  op->seq = seq;
  op->hlc = hlc_now(&clock, now);
  op->server_seq = 0;
  op->base = local_cursor(l);
  op->fields_raw = (proto_str_t){NULL, 0};

  if (prepare != NULL) {
    rc = prepare(arg, l, op);
    if (rc != 0)
      goto rollback;
  }
  rc = replica_apply(l->replica, LOCAL__ORG, op);
  if (rc != 0)
    goto rollback;
  rc = proto_encode_fields(op, &fields);
  if (rc != 0)
    goto rollback;
  rc = PROTO_ESTORAGE;
  if (local__prepare(l,
                     "INSERT INTO outbox (seq, hlc, type, key, key2, base, fields, created_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     &st) != 0)
    goto rollback;
  sqlite3_bind_int64(st, 1, (int64_t)seq);
  sqlite3_bind_int64(st, 2, (int64_t)op->hlc);
  sqlite3_bind_int(st, 3, op->type);
  sqlite3_bind_text(st, 4, op->key.ptr ? op->key.ptr : "", (int)op->key.len, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, op->key2.ptr ? op->key2.ptr : "", (int)op->key2.len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, (int64_t)op->base);
  sqlite3_bind_blob(st, 7, proto_buf_data(&fields), (int)fields.len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, now);
  if (local__run(l, st) != 0)
    goto rollback;
  if (local__meta_set_int(l, "next_seq", (int64_t)seq + 1) != 0 ||
      local__meta_set_int(l, "hlc_last", (int64_t)clock.last) != 0)
    goto rollback;
  if (local__commit(l) != 0)
    goto rollback;
  if (seq_out != NULL)
    *seq_out = seq;
  rc = 0;
  goto done;

rollback:
  local__rollback(l);
done:
  proto_buf_dispose(&fields);
  return rc;
}

/* ---- outbox -------------------------------------------------------------- */

int64_t local_outbox_count_after(local_t *l, uint64_t after_seq) {
  sqlite3_stmt *st;
  int64_t n = PROTO_ESTORAGE;
  if (local__prepare(l, "SELECT COUNT(*) FROM outbox WHERE seq > ?", &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_int64(st, 1, (int64_t)after_seq);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

int64_t local_outbox_count(local_t *l) { return local_outbox_count_after(l, 0); }

void local_batch_dispose(local_batch_t *batch) {
  free(batch->_mem);
  memset(batch, 0, sizeof(*batch));
}

/* Copies n bytes into the batch's string arena. */
static proto_str_t local__arena_put(char **at, const void *p, int n) {
  proto_str_t s = {*at, (uint32_t)(n > 0 ? n : 0)};
  if (n > 0)
    memcpy(*at, p, (size_t)n);
  *at += s.len;
  return s;
}

int local_outbox_load(local_t *l, uint64_t after_seq, uint32_t max, local_batch_t *batch) {
  sqlite3_stmt *st;
  size_t bytes = 0;
  uint32_t n = 0;
  char *at;
  int rc;

  memset(batch, 0, sizeof(*batch));
  /* Two passes: size the arena, then fill it, so the batch is one
   * allocation whatever it holds. Both run in one read transaction. */
  if (local__exec(l, "BEGIN") != 0)
    return PROTO_ESTORAGE;
  if (local__prepare(l,
                     "SELECT seq, hlc, type, key, key2, base, fields FROM outbox "
                     "WHERE seq > ? ORDER BY seq LIMIT ?",
                     &st) != 0)
    goto fail;
  sqlite3_bind_int64(st, 1, (int64_t)after_seq);
  sqlite3_bind_int64(st, 2, max);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    bytes += (size_t)sqlite3_column_bytes(st, 3) + (size_t)sqlite3_column_bytes(st, 4) +
             (size_t)sqlite3_column_bytes(st, 6);
    n++;
  }
  if (rc != SQLITE_DONE) {
    sqlite3_finalize(st);
    goto fail;
  }
  batch->_mem = malloc(sizeof(proto_op_t) * (n ? n : 1) + bytes + 1);
  if (batch->_mem == NULL) {
    sqlite3_finalize(st);
    local__rollback(l);
    return PROTO_ENOMEM;
  }
  batch->ops = batch->_mem;
  at = (char *)(batch->ops + (n ? n : 1));
  sqlite3_reset(st);
  while (batch->nops < n && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    proto_op_t *op = &batch->ops[batch->nops++];
    memset(op, 0, sizeof(*op));
    op->seq = (uint64_t)sqlite3_column_int64(st, 0);
    op->hlc = (uint64_t)sqlite3_column_int64(st, 1);
    op->type = (uint8_t)sqlite3_column_int(st, 2);
    op->key = local__arena_put(&at, sqlite3_column_text(st, 3), sqlite3_column_bytes(st, 3));
    op->key2 = local__arena_put(&at, sqlite3_column_text(st, 4), sqlite3_column_bytes(st, 4));
    op->base = (uint64_t)sqlite3_column_int64(st, 5);
    op->fields_raw =
        local__arena_put(&at, sqlite3_column_blob(st, 6), sqlite3_column_bytes(st, 6));
  }
  sqlite3_finalize(st);
  if (batch->nops != n)
    goto fail;
  return local__exec(l, "COMMIT");

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

int local_apply_ack(local_t *l, const proto_ack_t *ack, local_ack_result_t *res) {
  sqlite3_stmt *st;
  uint32_t i;

  memset(res, 0, sizeof(*res));
  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  for (i = 0; i < ack->nranges; i++) {
    if (local__prepare(l, "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", &st) != 0)
      goto fail;
    sqlite3_bind_int64(st, 1, (int64_t)ack->ranges[i].from);
    sqlite3_bind_int64(st, 2, (int64_t)ack->ranges[i].to);
    if (local__run(l, st) != 0)
      goto fail;
    res->acked += (uint64_t)sqlite3_changes(l->db);
  }
  for (i = 0; i < ack->nrejects; i++) {
    const proto_reject_t *r = &ack->rejects[i];
    if (r->code == -PROTO_ESEQ_GAP) {
      res->seq_gap = true;
      continue;
    }
    if (local__prepare(l,
                       "INSERT OR REPLACE INTO attention (seq, code, message, hlc, type, key, "
                       "key2, base, fields, created_ms, rejected_ms) "
                       "SELECT seq, ?, ?, hlc, type, key, key2, base, fields, created_ms, ? "
                       "FROM outbox WHERE seq = ?",
                       &st) != 0)
      goto fail;
    sqlite3_bind_int(st, 1, r->code);
    sqlite3_bind_text(st, 2, r->message.len ? r->message.ptr : proto_strerror(r->code),
                      r->message.len ? (int)r->message.len : -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, local_now(l));
    sqlite3_bind_int64(st, 4, (int64_t)r->seq);
    if (local__run(l, st) != 0)
      goto fail;
    if (local__prepare(l, "DELETE FROM outbox WHERE seq = ?", &st) != 0)
      goto fail;
    sqlite3_bind_int64(st, 1, (int64_t)r->seq);
    if (local__run(l, st) != 0)
      goto fail;
    res->rejected += (uint64_t)sqlite3_changes(l->db);
  }
  if (local__commit(l) != 0)
    goto fail;
  return 0;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

/* ---- welcome and changes ------------------------------------------------- */

/* Copies a wire string into a NUL-terminated buffer (truncating). */
static void local__cstr(char *buf, size_t size, proto_str_t s) {
  size_t n = s.len < size - 1 ? s.len : size - 1;
  if (n > 0)
    memcpy(buf, s.ptr, n);
  buf[n] = '\0';
}

int local_apply_welcome(local_t *l, const proto_welcome_t *w) {
  char text[PROTO_MAX_ID_BYTES + 1];
  int64_t next_seq;

  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  if (local__meta_set_int(l, "offset_ms", w->offset_ms) != 0)
    goto fail;
  if (w->token.len > 0) {
    local__cstr(text, sizeof(text), w->token);
    if (local_meta_set_text(l, "token", text) != 0)
      goto fail;
  }
  if (w->org.len > 0) {
    local__cstr(text, sizeof(text), w->org);
    if (local_meta_set_text(l, "org", text) != 0)
      goto fail;
  }
  if (w->tz.len > 0) { /* what "today" is for this organisation */
    local__cstr(text, sizeof(text), w->tz);
    if (local_meta_set_text(l, "tz", text) != 0)
      goto fail;
  }
  /* Ops up to last_seq are decided, but not all accepted: one may have
   * been refused in an ack that never arrived. They stay in the outbox and
   * are pushed again; the server answers each as it did (acked again, or
   * refused again with the same code), so none is dropped unseen.
   * The server already holds seqs up to last_seq (a file restored from an
   * old copy): new ops must not reuse them, or the server would take them
   * for resends and drop them. */
  /* A server restored from an older backup numbers new ops again from
   * below this cursor: pull everything again (applying an op twice
   * changes nothing), or those ops would never arrive. */
  if (local_cursor(l) > w->head) {
    fprintf(stderr, "turf-tablet: server's head %llu is below this file's cursor %llu; "
                    "pulling everything again\n",
            (unsigned long long)w->head, (unsigned long long)local_cursor(l));
    if (local__meta_set_int(l, "cursor", 0) != 0)
      goto fail;
  }
  next_seq = local_meta_int(l, "next_seq", 1);
  if ((uint64_t)next_seq <= w->last_seq) {
    fprintf(stderr, "turf-tablet: server holds ops up to seq %llu, file expected %lld\n",
            (unsigned long long)w->last_seq, (long long)next_seq - 1);
    if (local__meta_set_int(l, "next_seq", (int64_t)w->last_seq + 1) != 0)
      goto fail;
  }
  if (local__commit(l) != 0)
    goto fail;
  return 0;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

/* After the replica applied an erasure op: the participant must not
 * survive in the outbox (ops recorded here before the erasure arrived) or
 * in attention (refused ops). Their entries become the erasure itself:
 * outbox entries keep their seq — deleting them would leave a gap the
 * server refuses — and the server rejects them as ERASED; attention entries
 * keep saying that something was refused, without what. So a tablet ends
 * the same whether the ack of its refused op or the erasure came first.
 * Returns 0 or PROTO_ESTORAGE. */
static int local__purge_erased(local_t *l, const proto_op_t *op) {
  static const char *const sql[] = {
      "UPDATE outbox SET type = ?2, key = ?1, key2 = '', fields = ?3 "
      "WHERE (type = ?4 AND key = ?1) OR (type = ?5 AND key2 = ?1)",
      "UPDATE attention SET type = ?2, key = ?1, key2 = '', fields = ?3 "
      "WHERE (type = ?4 AND key = ?1) OR (type = ?5 AND key2 = ?1)",
  };
  proto_buf_t fields;
  int rc = 0;

  proto_buf_init(&fields, 0);
  if (proto_encode_fields(op, &fields) != 0) {
    proto_buf_dispose(&fields);
    return PROTO_ESTORAGE;
  }
  for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == 0; i++) {
    sqlite3_stmt *st;
    if (local__prepare(l, sql[i], &st) != 0) {
      rc = PROTO_ESTORAGE;
      break;
    }
    sqlite3_bind_text(st, 1, op->key.ptr, (int)op->key.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, SCHEMA_ERASURE);
    sqlite3_bind_blob(st, 3, proto_buf_data(&fields), (int)fields.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, SCHEMA_PARTICIPANT);
    sqlite3_bind_int(st, 5, SCHEMA_CHECKIN);
    rc = local__run(l, st);
  }
  proto_buf_dispose(&fields);
  return rc;
}

int local_apply_changes(local_t *l, const proto_changes_t *ch, local_op_cb cb, void *arg) {
  proto_str_t me = proto_str(l->device);
  bool erased = false;
  hlc_t clock;
  uint64_t remote;
  uint32_t i;
  int rc;

  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  if (local_cursor(l) != ch->from || ch->cursor < ch->from) {
    local__rollback(l);
    return LOCAL_STALE;
  }
  hlc_init(&clock, (uint64_t)local_meta_int(l, "hlc_last", 0));
  remote = (uint64_t)local_meta_int(l, "hlc_remote", 0);
  for (i = 0; i < ch->nops; i++) {
    const proto_op_t *op = &ch->ops[i];
    bool own = proto_str_eq(op->device, me);
    if (own) {
      /* Our op may come back with an HLC the server bounded: move the
       * clocks of what it wrote here, then apply it as the server did, so
       * a field it lost locally to our own ahead-of-time write is decided
       * again with the server's clocks. */
      rc = replica_rebase_own(l->replica, LOCAL__ORG, op);
      if (rc != 0)
        goto fail;
    }
    rc = replica_apply(l->replica, LOCAL__ORG, op);
    if (rc == PROTO_ESTORAGE)
      goto fail;
    if (rc == 0 && op->type == SCHEMA_ERASURE) {
      if (local__purge_erased(l, op) != 0)
        goto fail;
      erased = true;
    }
    if (rc != 0) {
      /* The server committed it, so its replica took it; ours refusing it
       * means the two disagree. Keep going (the cursor must move on) but
       * say so. */
      fprintf(stderr, "turf-tablet: op %llu of %.*s refused locally: %s\n",
              (unsigned long long)op->server_seq, (int)op->device.len, op->device.ptr,
              proto_strerror(rc));
    }
    hlc_observe(&clock, op->hlc);
    if (op->hlc > remote)
      remote = op->hlc;
  }
  if (local__meta_set_int(l, "cursor", (int64_t)ch->cursor) != 0 ||
      local__meta_set_int(l, "hlc_last", (int64_t)clock.last) != 0 ||
      local__meta_set_int(l, "hlc_remote", (int64_t)remote) != 0)
    goto fail;
  if (local__commit(l) != 0)
    goto fail;
  /* The erased data's pages are overwritten in the file (secure_delete),
   * but the WAL still holds their old images until a checkpoint; one that
   * cannot finish now (another process reading) is retried by SQLite's
   * next automatic checkpoint. */
  if (erased)
    sqlite3_exec(l->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  if (cb != NULL)
    for (i = 0; i < ch->nops; i++)
      cb(arg, &ch->ops[i], proto_str_eq(ch->ops[i].device, me));
  return 0;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}

int local_settle_clock(local_t *l) {
  int64_t now, last, remote;

  if (local__begin(l) != 0)
    return PROTO_ESTORAGE;
  if (local_outbox_count(l) != 0)
    goto done; /* own ops still to be rebased: stay monotonic */
  now = local_now(l);
  last = local_meta_int(l, "hlc_last", 0);
  remote = local_meta_int(l, "hlc_remote", 0);
  if (HLC_MS((uint64_t)last) > now + HLC_MAX_AHEAD_MS) {
    uint64_t settled = HLC_MAKE(now, 0);
    if ((uint64_t)remote > settled)
      settled = (uint64_t)remote;
    if (local__meta_set_int(l, "hlc_last", (int64_t)settled) != 0)
      goto fail;
  }
done:
  return local__commit(l) == 0 ? 0 : PROTO_ESTORAGE;

fail:
  local__rollback(l);
  return PROTO_ESTORAGE;
}
