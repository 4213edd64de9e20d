/* replica.c — the materialised record tables and the one place an op is
 * applied to them, with the per-field merge rules of protocol/merge.h.
 *
 * Owns the prepared statements of one replica_t (and nothing in the
 * database: the caller owns the connection and every transaction). The
 * tables are generated from the schema table in protocol/schema.c, so a
 * field's wire id, SQL column and merge rule cannot drift apart:
 *
 *   - one row per record in <table>(org, <key>[, <key2>], <fields>...);
 *   - one row per written field in field_clocks: the (hlc, device, seq,
 *     server_seq) of the op whose value the field holds — what merge_field
 *     needs to decide the next write;
 *   - counters (tallies) keep one row per (record, device): the slot of each
 *     device carries its own value and device_seq, and the total is their
 *     sum (view session_tallies);
 *   - messages also keep their author (device of the creating op) and the
 *     wall-clock time it was posted;
 *   - conflicts keeps every LWW value that lost to a concurrent write. */
#include "replica.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hlc.h"
#include "merge.h"
#include "schema.h"

/* Statements for one field of one record type. */
typedef struct {
  sqlite3_stmt *read;  /* value and clock of the field (or the device's
                          counter slot) */
  sqlite3_stmt *write; /* stores a value (and, for counters, its seq) */
} replica__field_stmts_t;

struct replica_s {
  sqlite3 *db; /* borrowed from the caller */
  replica_options_t opts;
  /* Indexed by schema type id, then by the field's position in
   * schema_type_t.fields. Counter-only types have no insert_row. */
  sqlite3_stmt *insert_row[SCHEMA_TYPE_MAX + 1];
  replica__field_stmts_t *fields[SCHEMA_TYPE_MAX + 1];
  sqlite3_stmt *put_clock;
  sqlite3_stmt *put_conflict;
  sqlite3_stmt *message_author;
  sqlite3_stmt *rebase_clocks;
  sqlite3_stmt *rebase_posted;
  /* Field ids of a message that its first op must set. */
  uint8_t message_activity, message_body;
  /* Copies of the current slot's strings: column text is only valid until
   * the statement moves on, and the slot is needed after that. */
  char cur_text[PROTO_MAX_TEXT_BYTES];
  char cur_device[PROTO_MAX_ID_BYTES];
};

/* ---- DDL ---------------------------------------------------------------- */

static const char *replica__sql_type(proto_vtype_t vtype) {
  return vtype == PROTO_STR ? "TEXT" : "INTEGER"; /* booleans are 0/1 */
}

/* A type whose fields are counters keeps one row per (record, device). */
static bool replica__per_device(const schema_type_t *t) {
  for (uint32_t i = 0; i < t->nfields; i++)
    if (t->fields[i].rule == MERGE_COUNTER)
      return true;
  return false;
}

static char replica__ddl[16384];
static pthread_once_t replica__ddl_once = PTHREAD_ONCE_INIT;

/* Appends to replica__ddl; the buffer is sized for the schema with a wide
 * margin, and overflowing it is a programming error caught at first use. */
static void replica__ddl_add(size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void replica__ddl_add(size_t *at, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(replica__ddl + *at, sizeof(replica__ddl) - *at, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(replica__ddl) - *at)
    abort();
  *at += (size_t)n;
}

static void replica__build_ddl(void) {
  size_t at = 0;

  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    bool per_device;
    if (t == NULL)
      continue;
    per_device = replica__per_device(t);
    replica__ddl_add(&at, "CREATE TABLE %s (\n  org INTEGER NOT NULL,\n  %s TEXT NOT NULL,\n",
                     t->table, t->key_column);
    if (t->key2_column != NULL)
      replica__ddl_add(&at, "  %s TEXT NOT NULL,\n", t->key2_column);
    if (per_device)
      replica__ddl_add(&at, "  device TEXT NOT NULL,\n");
    for (uint32_t i = 0; i < t->nfields; i++)
      replica__ddl_add(&at, "  %s %s,\n", t->fields[i].name,
                       replica__sql_type(t->fields[i].vtype));
    if (per_device)
      replica__ddl_add(&at, "  seq INTEGER NOT NULL, -- device_seq of the op that set this slot\n");
    if (t->id == SCHEMA_MESSAGE)
      replica__ddl_add(&at, "  author TEXT NOT NULL, -- device of the op that created it\n"
                            "  posted INTEGER,        -- wall-clock ms of that op's HLC\n");
    replica__ddl_add(&at, "  PRIMARY KEY (org, %s%s%s%s)\n);\n", t->key_column,
                     t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "",
                     per_device ? ", device" : "");
  }

  replica__ddl_add(&at,
      "CREATE VIEW session_tallies AS\n"
      "  SELECT org, session, SUM(count) AS total FROM tallies GROUP BY org, session;\n"
      "CREATE TABLE field_clocks (\n"
      "  org INTEGER NOT NULL,\n"
      "  rtype INTEGER NOT NULL,   -- schema type id\n"
      "  k TEXT NOT NULL,\n"
      "  k2 TEXT NOT NULL DEFAULT '',\n"
      "  field INTEGER NOT NULL,   -- schema field id\n"
      "  hlc INTEGER NOT NULL,     -- of the op whose value the field holds\n"
      "  device TEXT NOT NULL,\n"
      "  seq INTEGER NOT NULL,\n"
      "  server_seq INTEGER NOT NULL DEFAULT 0,\n"
      "  PRIMARY KEY (org, rtype, k, k2, field)\n"
      ") WITHOUT ROWID;\n"
      "CREATE INDEX field_clocks_by_op ON field_clocks (org, device, seq);\n"
      "CREATE TABLE conflicts (\n"
      "  id INTEGER PRIMARY KEY,\n"
      "  org INTEGER NOT NULL,\n"
      "  rtype INTEGER NOT NULL,\n"
      "  k TEXT NOT NULL,\n"
      "  k2 TEXT NOT NULL DEFAULT '',\n"
      "  field INTEGER NOT NULL,\n"
      "  kept_value,\n"
      "  kept_device TEXT NOT NULL,\n"
      "  kept_hlc INTEGER NOT NULL,\n"
      "  lost_value,\n"
      "  lost_device TEXT NOT NULL,\n"
      "  lost_hlc INTEGER NOT NULL,\n"
      "  lost_seq INTEGER NOT NULL,\n"
      "  server_seq INTEGER NOT NULL DEFAULT 0, -- of the losing op\n"
      "  created_ms INTEGER NOT NULL,\n"
      "  resolved INTEGER DEFAULT 0\n"
      ");\n"
      "CREATE INDEX conflicts_open ON conflicts (org, resolved);\n"
      "-- One row per lost write, however often its op is applied.\n"
      "CREATE UNIQUE INDEX conflicts_once\n"
      "  ON conflicts (org, rtype, k, k2, field, lost_device, lost_seq);\n");
}

const char *replica_schema_sql(void) {
  pthread_once(&replica__ddl_once, replica__build_ddl);
  return replica__ddl;
}

/* ---- open / close -------------------------------------------------------- */

static int replica__prepare(replica_t *r, const char *sql, sqlite3_stmt **out) {
  if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
    fprintf(stderr, "replica: cannot prepare \"%s\": %s\n", sql, sqlite3_errmsg(r->db));
    return -1;
  }
  return 0;
}

/* "WHERE org = :org AND <key> = :k[ AND <key2> = :k2]" for table t. */
static void replica__where_key(char *buf, size_t size, const schema_type_t *t) {
  snprintf(buf, size, "org = :org AND %s = :k%s%s%s", t->key_column,
           t->key2_column ? " AND " : "", t->key2_column ? t->key2_column : "",
           t->key2_column ? " = :k2" : "");
}

static int replica__prepare_type(replica_t *r, const schema_type_t *t) {
  char where[256], sql[1024];
  bool per_device = replica__per_device(t);

  replica__where_key(where, sizeof(where), t);
  if (!per_device) {
    if (t->id == SCHEMA_MESSAGE)
      snprintf(sql, sizeof(sql),
               "INSERT OR IGNORE INTO %s (org, %s, author, posted) "
               "VALUES (:org, :k, :author, :posted)",
               t->table, t->key_column);
    else
      snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO %s (org, %s%s%s) VALUES (:org, :k%s)",
               t->table, t->key_column, t->key2_column ? ", " : "",
               t->key2_column ? t->key2_column : "", t->key2_column ? ", :k2" : "");
    if (replica__prepare(r, sql, &r->insert_row[t->id]) != 0)
      return -1;
  }

  r->fields[t->id] = calloc(t->nfields, sizeof(replica__field_stmts_t));
  if (r->fields[t->id] == NULL)
    return -1;
  for (uint32_t i = 0; i < t->nfields; i++) {
    const schema_field_t *f = &t->fields[i];
    replica__field_stmts_t *s = &r->fields[t->id][i];
    if (f->rule == MERGE_COUNTER) {
      snprintf(sql, sizeof(sql), "SELECT %s, seq FROM %s WHERE %s AND device = :device",
               f->name, t->table, where);
      if (replica__prepare(r, sql, &s->read) != 0)
        return -1;
      snprintf(sql, sizeof(sql),
               "INSERT INTO %s (org, %s, device, %s, seq) VALUES (:org, :k, :device, :v, :seq) "
               "ON CONFLICT (org, %s, device) DO UPDATE SET %s = excluded.%s, seq = excluded.seq",
               t->table, t->key_column, f->name, t->key_column, f->name, f->name);
      if (replica__prepare(r, sql, &s->write) != 0)
        return -1;
    } else {
      /* The subquery reads the value; the row exists exactly when the field
       * has been written (it has a clock). */
      snprintf(sql, sizeof(sql),
               "SELECT (SELECT %s FROM %s WHERE %s), hlc, device, seq, server_seq "
               "FROM field_clocks WHERE org = :org AND rtype = %u AND k = :k AND k2 = :k2 "
               "AND field = %u",
               f->name, t->table, where, (unsigned)t->id, (unsigned)f->id);
      if (replica__prepare(r, sql, &s->read) != 0)
        return -1;
      snprintf(sql, sizeof(sql), "UPDATE %s SET %s = :v WHERE %s", t->table, f->name, where);
      if (replica__prepare(r, sql, &s->write) != 0)
        return -1;
    }
  }
  return 0;
}

replica_t *replica_open(sqlite3 *db, const replica_options_t *opts) {
  replica_t *r;
  const schema_type_t *msg;
  const schema_field_t *activity = NULL, *body = NULL;
  char sql[512];

  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->db = db;
  if (opts != NULL)
    r->opts = *opts;

  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    if (t != NULL && replica__prepare_type(r, t) != 0)
      goto fail;
  }

  msg = schema_type(SCHEMA_MESSAGE);
  for (uint32_t i = 0; msg != NULL && i < msg->nfields; i++) {
    if (strcmp(msg->fields[i].name, "activity") == 0)
      activity = &msg->fields[i];
    else if (strcmp(msg->fields[i].name, "body") == 0)
      body = &msg->fields[i];
  }
  if (activity == NULL || body == NULL) {
    fprintf(stderr, "replica: schema has no message activity/body field\n");
    goto fail;
  }
  r->message_activity = activity->id;
  r->message_body = body->id;

  if (replica__prepare(r,
          "INSERT OR REPLACE INTO field_clocks (org, rtype, k, k2, field, hlc, device, seq, "
          "server_seq) VALUES (:org, :rtype, :k, :k2, :field, :hlc, :device, :seq, :server_seq)",
          &r->put_clock) != 0)
    goto fail;
  if (replica__prepare(r,
          "INSERT OR IGNORE INTO conflicts (org, rtype, k, k2, field, kept_value, kept_device, "
          "kept_hlc, lost_value, lost_device, lost_hlc, lost_seq, server_seq, created_ms) "
          "VALUES (:org, :rtype, :k, :k2, :field, :kept_value, :kept_device, :kept_hlc, "
          ":lost_value, :lost_device, :lost_hlc, :lost_seq, :server_seq, :created_ms)",
          &r->put_conflict) != 0)
    goto fail;
  snprintf(sql, sizeof(sql), "SELECT author FROM %s WHERE org = :org AND %s = :k", msg->table,
           msg->key_column);
  if (replica__prepare(r, sql, &r->message_author) != 0)
    goto fail;
  if (replica__prepare(r,
          "UPDATE field_clocks SET hlc = :hlc, server_seq = :server_seq "
          "WHERE org = :org AND device = :device AND seq = :seq",
          &r->rebase_clocks) != 0)
    goto fail;
  /* A message was created by the op that set its write-once activity. */
  snprintf(sql, sizeof(sql),
           "UPDATE %s SET posted = :posted WHERE org = :org AND author = :device AND %s IN "
           "(SELECT k FROM field_clocks WHERE org = :org AND rtype = %u AND field = %u "
           "AND device = :device AND seq = :seq)",
           msg->table, msg->key_column, (unsigned)SCHEMA_MESSAGE, (unsigned)activity->id);
  if (replica__prepare(r, sql, &r->rebase_posted) != 0)
    goto fail;
  return r;

fail:
  replica_close(r);
  return NULL;
}

void replica_close(replica_t *r) {
  if (r == NULL)
    return;
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    sqlite3_finalize(r->insert_row[id]);
    if (t != NULL && r->fields[id] != NULL) {
      for (uint32_t i = 0; i < t->nfields; i++) {
        sqlite3_finalize(r->fields[id][i].read);
        sqlite3_finalize(r->fields[id][i].write);
      }
    }
    free(r->fields[id]);
  }
  sqlite3_finalize(r->put_clock);
  sqlite3_finalize(r->put_conflict);
  sqlite3_finalize(r->message_author);
  sqlite3_finalize(r->rebase_clocks);
  sqlite3_finalize(r->rebase_posted);
  free(r);
}

/* ---- binding helpers ----------------------------------------------------- */

/* Statements name their parameters; a statement that does not use one simply
 * skips it, so one set of helpers serves every generated statement. */
static int replica__bind_text(sqlite3_stmt *st, const char *name, proto_str_t s) {
  int i = sqlite3_bind_parameter_index(st, name);
  if (i == 0)
    return SQLITE_OK;
  return sqlite3_bind_text(st, i, s.len ? s.ptr : "", (int)s.len, SQLITE_TRANSIENT);
}

static int replica__bind_int(sqlite3_stmt *st, const char *name, int64_t v) {
  int i = sqlite3_bind_parameter_index(st, name);
  return i == 0 ? SQLITE_OK : sqlite3_bind_int64(st, i, v);
}

static int replica__bind_value(sqlite3_stmt *st, const char *name, const proto_value_t *v) {
  int i = sqlite3_bind_parameter_index(st, name);
  if (i == 0)
    return SQLITE_OK;
  switch (v->type) {
  case PROTO_BOOL:
    return sqlite3_bind_int(st, i, v->u.b ? 1 : 0);
  case PROTO_INT:
    return sqlite3_bind_int64(st, i, v->u.i);
  case PROTO_STR:
    return sqlite3_bind_text(st, i, v->u.s.len ? v->u.s.ptr : "", (int)v->u.s.len,
                             SQLITE_TRANSIENT);
  case PROTO_NIL:
  default:
    return sqlite3_bind_null(st, i);
  }
}

/* Binds :org, :k and :k2 ('' when the op has none) of op's record. */
static int replica__bind_key(sqlite3_stmt *st, int64_t org, const proto_op_t *op) {
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":k", op->key) != SQLITE_OK ||
      replica__bind_text(st, ":k2", op->key2) != SQLITE_OK)
    return SQLITE_ERROR;
  return SQLITE_OK;
}

/* Runs a statement that returns no rows; resets it whatever happens. */
static int replica__exec(replica_t *r, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "replica: %s\n", sqlite3_errmsg(r->db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* Reads column col as a value of vtype, copying text into buf (size cap). */
static int replica__column_value(sqlite3_stmt *st, int col, proto_vtype_t vtype, char *buf,
                                 size_t cap, proto_value_t *out) {
  memset(out, 0, sizeof(*out));
  if (sqlite3_column_type(st, col) == SQLITE_NULL) {
    out->type = PROTO_NIL;
    return 0;
  }
  switch (vtype) {
  case PROTO_BOOL:
    out->type = PROTO_BOOL;
    out->u.b = sqlite3_column_int64(st, col) != 0;
    return 0;
  case PROTO_INT:
    out->type = PROTO_INT;
    out->u.i = sqlite3_column_int64(st, col);
    return 0;
  case PROTO_STR: {
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (p == NULL || n < 0 || (size_t)n > cap)
      return PROTO_ESTORAGE; /* longer than anything validation lets in */
    if (n > 0)
      memcpy(buf, p, (size_t)n);
    out->type = PROTO_STR;
    out->u.s.ptr = buf;
    out->u.s.len = (uint32_t)n;
    return 0;
  }
  case PROTO_NIL:
  default:
    out->type = PROTO_NIL;
    return 0;
  }
}

static int64_t replica__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- apply --------------------------------------------------------------- */

/* Loads the current slot of field f for op's record into cur (strings copied
 * into r's buffers). For counters the slot is op's device's own. */
static int replica__read_slot(replica_t *r, int64_t org, const proto_op_t *op,
                              const schema_field_t *f, sqlite3_stmt *st, merge_slot_t *cur) {
  int rc;

  memset(cur, 0, sizeof(*cur));
  if (replica__bind_key(st, org, op) != SQLITE_OK ||
      replica__bind_text(st, ":device", op->device) != SQLITE_OK)
    goto sql_error;
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return 0;
  }
  if (rc != SQLITE_ROW)
    goto sql_error;
  cur->present = true;
  if (replica__column_value(st, 0, f->vtype, r->cur_text, sizeof(r->cur_text), &cur->value) != 0)
    goto sql_error;
  if (f->rule == MERGE_COUNTER) {
    /* Counter slots are ordered by device_seq alone. */
    cur->device = op->device;
    cur->seq = (uint64_t)sqlite3_column_int64(st, 1);
  } else {
    const unsigned char *dev = sqlite3_column_text(st, 2);
    int n = sqlite3_column_bytes(st, 2);
    if (dev == NULL || n < 0 || (size_t)n > sizeof(r->cur_device))
      goto sql_error;
    memcpy(r->cur_device, dev, (size_t)n);
    cur->hlc = (uint64_t)sqlite3_column_int64(st, 1);
    cur->device.ptr = r->cur_device;
    cur->device.len = (uint32_t)n;
    cur->seq = (uint64_t)sqlite3_column_int64(st, 3);
    cur->server_seq = (uint64_t)sqlite3_column_int64(st, 4);
  }
  sqlite3_reset(st);
  return 0;

sql_error:
  fprintf(stderr, "replica: reading %s: %s\n", f->name, sqlite3_errmsg(r->db));
  sqlite3_reset(st);
  return PROTO_ESTORAGE;
}

static int replica__log_conflict(replica_t *r, int64_t org, const proto_op_t *op,
                                 const schema_field_t *f, const merge_slot_t *kept,
                                 const merge_slot_t *lost) {
  sqlite3_stmt *st = r->put_conflict;
  if (replica__bind_key(st, org, op) != SQLITE_OK ||
      replica__bind_int(st, ":rtype", op->type) != SQLITE_OK ||
      replica__bind_int(st, ":field", f->id) != SQLITE_OK ||
      replica__bind_value(st, ":kept_value", &kept->value) != SQLITE_OK ||
      replica__bind_text(st, ":kept_device", kept->device) != SQLITE_OK ||
      replica__bind_int(st, ":kept_hlc", (int64_t)kept->hlc) != SQLITE_OK ||
      replica__bind_value(st, ":lost_value", &lost->value) != SQLITE_OK ||
      replica__bind_text(st, ":lost_device", lost->device) != SQLITE_OK ||
      replica__bind_int(st, ":lost_hlc", (int64_t)lost->hlc) != SQLITE_OK ||
      replica__bind_int(st, ":lost_seq", (int64_t)lost->seq) != SQLITE_OK ||
      replica__bind_int(st, ":server_seq", (int64_t)lost->server_seq) != SQLITE_OK ||
      replica__bind_int(st, ":created_ms", replica__wall_ms()) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  return replica__exec(r, st);
}

static int replica__apply_field(replica_t *r, int64_t org, const proto_op_t *op,
                                const schema_type_t *t, const proto_field_t *in) {
  const schema_field_t *f = schema_field(t, in->id);
  replica__field_stmts_t *s;
  merge_slot_t cur, incoming;
  merge_decision_t decision;
  bool conflict = false;
  int rc;

  assert(f != NULL); /* schema_validate_op passed */
  s = &r->fields[t->id][f - t->fields];

  rc = replica__read_slot(r, org, op, f, s->read, &cur);
  if (rc != 0)
    return rc;
  memset(&incoming, 0, sizeof(incoming));
  incoming.present = true;
  incoming.value = in->value;
  incoming.hlc = op->hlc;
  incoming.device = op->device;
  incoming.seq = op->seq;
  incoming.server_seq = op->server_seq;

  decision = merge_field(f->rule, &cur, &incoming, op->base, &conflict);

  if (decision == MERGE_TAKE) {
    if (replica__bind_key(s->write, org, op) != SQLITE_OK ||
        replica__bind_value(s->write, ":v", &in->value) != SQLITE_OK ||
        replica__bind_text(s->write, ":device", op->device) != SQLITE_OK ||
        replica__bind_int(s->write, ":seq", (int64_t)op->seq) != SQLITE_OK) {
      sqlite3_reset(s->write);
      return PROTO_ESTORAGE;
    }
    rc = replica__exec(r, s->write);
    if (rc != 0)
      return rc;
    if (f->rule != MERGE_COUNTER) {
      sqlite3_stmt *st = r->put_clock;
      if (replica__bind_key(st, org, op) != SQLITE_OK ||
          replica__bind_int(st, ":rtype", t->id) != SQLITE_OK ||
          replica__bind_int(st, ":field", f->id) != SQLITE_OK ||
          replica__bind_int(st, ":hlc", (int64_t)op->hlc) != SQLITE_OK ||
          replica__bind_text(st, ":device", op->device) != SQLITE_OK ||
          replica__bind_int(st, ":seq", (int64_t)op->seq) != SQLITE_OK ||
          replica__bind_int(st, ":server_seq", (int64_t)op->server_seq) != SQLITE_OK) {
        sqlite3_reset(st);
        return PROTO_ESTORAGE;
      }
      rc = replica__exec(r, st);
      if (rc != 0)
        return rc;
    }
  }

  if (conflict && r->opts.log_conflicts) {
    if (decision == MERGE_TAKE)
      return replica__log_conflict(r, org, op, f, &incoming, &cur);
    return replica__log_conflict(r, org, op, f, &cur, &incoming);
  }
  return 0;
}

static bool replica__op_sets(const proto_op_t *op, uint8_t field_id) {
  for (uint32_t i = 0; i < op->nfields; i++)
    if (op->fields[i].id == field_id)
      return true;
  return false;
}

/* Messages are append-only with one author: refusals are decided here,
 * before anything is written, so a refused op changes nothing. */
static int replica__check_message(replica_t *r, int64_t org, const proto_op_t *op) {
  sqlite3_stmt *st = r->message_author;
  int rc, result = 0;

  if (replica__bind_key(st, org, op) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    proto_str_t author;
    author.ptr = (const char *)sqlite3_column_text(st, 0);
    author.len = (uint32_t)sqlite3_column_bytes(st, 0);
    if (author.ptr == NULL || !proto_str_eq(author, op->device))
      result = PROTO_ENOT_AUTHOR;
  } else if (rc == SQLITE_DONE) {
    if (!replica__op_sets(op, r->message_activity) || !replica__op_sets(op, r->message_body))
      result = PROTO_EINVALID_OP;
  } else {
    fprintf(stderr, "replica: %s\n", sqlite3_errmsg(r->db));
    result = PROTO_ESTORAGE;
  }
  sqlite3_reset(st);
  return result;
}

int replica_apply(replica_t *r, int64_t org, const proto_op_t *op) {
  const schema_type_t *t;
  int rc;

  if (op->device.len == 0 || op->device.len > PROTO_MAX_ID_BYTES)
    return PROTO_EINVALID_OP;
  rc = schema_validate_op(op);
  if (rc != 0)
    return rc;
  t = schema_type(op->type);
  assert(t != NULL);

  if (t->id == SCHEMA_MESSAGE) {
    rc = replica__check_message(r, org, op);
    if (rc != 0)
      return rc;
  }

  /* Create the record's row if this is its first op; a later op (or the
   * same one again) finds it and inserts nothing. */
  if (r->insert_row[t->id] != NULL) {
    sqlite3_stmt *st = r->insert_row[t->id];
    if (replica__bind_key(st, org, op) != SQLITE_OK ||
        replica__bind_text(st, ":author", op->device) != SQLITE_OK ||
        replica__bind_int(st, ":posted", HLC_MS(op->hlc)) != SQLITE_OK) {
      sqlite3_reset(st);
      return PROTO_ESTORAGE;
    }
    rc = replica__exec(r, st);
    if (rc != 0)
      return rc;
  }

  for (uint32_t i = 0; i < op->nfields; i++) {
    rc = replica__apply_field(r, org, op, t, &op->fields[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int replica_rebase_own(replica_t *r, int64_t org, proto_str_t device, uint64_t seq,
                       uint64_t hlc, uint64_t server_seq) {
  int rc;
  sqlite3_stmt *st = r->rebase_posted;

  /* Messages first: both statements select by (device, seq), which the
   * clock update leaves as it is, so the order only matters for clarity. */
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":device", device) != SQLITE_OK ||
      replica__bind_int(st, ":seq", (int64_t)seq) != SQLITE_OK ||
      replica__bind_int(st, ":posted", HLC_MS(hlc)) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  rc = replica__exec(r, st);
  if (rc != 0)
    return rc;

  st = r->rebase_clocks;
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":device", device) != SQLITE_OK ||
      replica__bind_int(st, ":seq", (int64_t)seq) != SQLITE_OK ||
      replica__bind_int(st, ":hlc", (int64_t)hlc) != SQLITE_OK ||
      replica__bind_int(st, ":server_seq", (int64_t)server_seq) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  return replica__exec(r, st);
}
