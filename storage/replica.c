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
 *   - conflicts keeps every LWW value that lost to a concurrent write;
 *   - check-ins are kept twice: checkin_sources holds each (session,
 *     participant) exactly as ops wrote it, and checkins is what everyone
 *     reads: the sources merged per (session, canonical participant), where
 *     the canonical participant is found by following merged_into (a
 *     coordinator's merge of duplicates). Because checkins is recomputed from
 *     the sources whenever a source or a merged_into changes, and the fold
 *     uses the check-in merge rules (LWW status, earliest arrival, latest
 *     departure), every replica ends with the same checkins whatever order
 *     the merge and the check-ins arrive in, and a merge can be undone or
 *     re-pointed without losing whose check-in was whose. */
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
  /* Merged check-ins (see the file comment). */
  sqlite3_stmt *canon_next;       /* a participant's merged_into */
  sqlite3_stmt *has_incoming;     /* does anyone point at this participant */
  sqlite3_stmt *copy_checkin;     /* one source is the whole merged row */
  sqlite3_stmt *clear_session;    /* drops a session's merged rows */
  sqlite3_stmt *session_sources;  /* a session's sources with their clocks */
  sqlite3_stmt *insert_checkin;   /* writes one merged row */
  sqlite3_stmt *closure_sessions; /* sessions whose merge a merged_into touches */
  sqlite3_stmt *own_checkin;      /* the check-in an own op wrote, for rebase */
  /* Field ids of a message that its first op must set. */
  uint8_t message_activity, message_body;
  uint8_t participant_merged_into;
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

/* The table ops write a record type's rows to. Check-ins are written to
 * their sources; the table named in the schema holds the merged rows. */
static const char *replica__rows_table(const schema_type_t *t) {
  return t->id == SCHEMA_CHECKIN ? "checkin_sources" : t->table;
}

static void replica__ddl_table(size_t *at, const schema_type_t *t, const char *table) {
  bool per_device = replica__per_device(t);

  replica__ddl_add(at, "CREATE TABLE %s (\n  org INTEGER NOT NULL,\n  %s TEXT NOT NULL,\n", table,
                   t->key_column);
  if (t->key2_column != NULL)
    replica__ddl_add(at, "  %s TEXT NOT NULL,\n", t->key2_column);
  if (per_device)
    replica__ddl_add(at, "  device TEXT NOT NULL,\n");
  for (uint32_t i = 0; i < t->nfields; i++)
    replica__ddl_add(at, "  %s %s,\n", t->fields[i].name, replica__sql_type(t->fields[i].vtype));
  if (per_device)
    replica__ddl_add(at, "  seq INTEGER NOT NULL, -- device_seq of the op that set this slot\n");
  if (t->id == SCHEMA_MESSAGE)
    replica__ddl_add(at, "  author TEXT NOT NULL, -- device of the op that created it\n"
                         "  posted INTEGER,        -- wall-clock ms of that op's HLC\n");
  replica__ddl_add(at, "  PRIMARY KEY (org, %s%s%s%s)\n);\n", t->key_column,
                   t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "",
                   per_device ? ", device" : "");
}

static void replica__build_ddl(void) {
  size_t at = 0;

  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    if (t == NULL)
      continue;
    if (replica__rows_table(t) != t->table)
      replica__ddl_table(&at, t, replica__rows_table(t));
    replica__ddl_table(&at, t, t->table);
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
      "  ON conflicts (org, rtype, k, k2, field, lost_device, lost_seq);\n"
      "CREATE INDEX checkin_sources_by_participant ON checkin_sources (org, participant);\n"
      "CREATE INDEX participants_merged ON participants (org, merged_into)\n"
      "  WHERE merged_into IS NOT NULL;\n");
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
  const char *table = replica__rows_table(t);

  replica__where_key(where, sizeof(where), t);
  if (!per_device) {
    if (t->id == SCHEMA_MESSAGE)
      snprintf(sql, sizeof(sql),
               "INSERT OR IGNORE INTO %s (org, %s, author, posted) "
               "VALUES (:org, :k, :author, :posted)",
               table, t->key_column);
    else
      snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO %s (org, %s%s%s) VALUES (:org, :k%s)",
               table, t->key_column, t->key2_column ? ", " : "",
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
               f->name, table, where);
      if (replica__prepare(r, sql, &s->read) != 0)
        return -1;
      snprintf(sql, sizeof(sql),
               "INSERT INTO %s (org, %s, device, %s, seq) VALUES (:org, :k, :device, :v, :seq) "
               "ON CONFLICT (org, %s, device) DO UPDATE SET %s = excluded.%s, seq = excluded.seq",
               table, t->key_column, f->name, t->key_column, f->name, f->name);
      if (replica__prepare(r, sql, &s->write) != 0)
        return -1;
    } else {
      /* The subquery reads the value; the row exists exactly when the field
       * has been written (it has a clock). */
      snprintf(sql, sizeof(sql),
               "SELECT (SELECT %s FROM %s WHERE %s), hlc, device, seq, server_seq "
               "FROM field_clocks WHERE org = :org AND rtype = %u AND k = :k AND k2 = :k2 "
               "AND field = %u",
               f->name, table, where, (unsigned)t->id, (unsigned)f->id);
      if (replica__prepare(r, sql, &s->read) != 0)
        return -1;
      snprintf(sql, sizeof(sql), "UPDATE %s SET %s = :v WHERE %s", table, f->name, where);
      if (replica__prepare(r, sql, &s->write) != 0)
        return -1;
    }
  }
  return 0;
}

/* Statements of the merged check-ins, generated from the schema like the
 * rest so that a new check-in field is merged without touching this. */
static int replica__prepare_merged(replica_t *r) {
  const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
  const schema_type_t *p = schema_type(SCHEMA_PARTICIPANT);
  char cols[512], sql[4096];
  size_t at = 0, n;

  assert(c->nfields <= PROTO_MAX_FIELDS_PER_OP && c->key2_column != NULL);
  for (uint8_t i = 0; i < c->nfields; i++)
    at += (size_t)snprintf(cols + at, sizeof(cols) - at, ", %s", c->fields[i].name);

  snprintf(sql, sizeof(sql), "SELECT merged_into FROM %s WHERE org = :org AND %s = :k", p->table,
           p->key_column);
  if (replica__prepare(r, sql, &r->canon_next) != 0)
    return -1;
  snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE org = :org AND merged_into = :k LIMIT 1",
           p->table);
  if (replica__prepare(r, sql, &r->has_incoming) != 0)
    return -1;
  snprintf(sql, sizeof(sql),
           "INSERT OR REPLACE INTO %s (org, %s, %s%s) SELECT org, %s, %s%s FROM %s "
           "WHERE org = :org AND %s = :k AND %s = :k2",
           c->table, c->key_column, c->key2_column, cols, c->key_column, c->key2_column, cols,
           replica__rows_table(c), c->key_column, c->key2_column);
  if (replica__prepare(r, sql, &r->copy_checkin) != 0)
    return -1;
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = :org AND %s = :k", c->table,
           c->key_column);
  if (replica__prepare(r, sql, &r->clear_session) != 0)
    return -1;

  n = (size_t)snprintf(sql, sizeof(sql), "SELECT s.%s", c->key2_column);
  for (uint8_t i = 0; i < c->nfields; i++)
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", s.%s, c%u.hlc, c%u.device, c%u.seq",
                          c->fields[i].name, i, i, i);
  n += (size_t)snprintf(sql + n, sizeof(sql) - n, " FROM %s s", replica__rows_table(c));
  for (uint8_t i = 0; i < c->nfields; i++)
    n += (size_t)snprintf(sql + n, sizeof(sql) - n,
                          " LEFT JOIN field_clocks c%u ON c%u.org = s.org AND c%u.rtype = %u "
                          "AND c%u.k = s.%s AND c%u.k2 = s.%s AND c%u.field = %u",
                          i, i, i, (unsigned)c->id, i, c->key_column, i, c->key2_column, i,
                          (unsigned)c->fields[i].id);
  snprintf(sql + n, sizeof(sql) - n, " WHERE s.org = :org AND s.%s = :k", c->key_column);
  if (replica__prepare(r, sql, &r->session_sources) != 0)
    return -1;

  n = (size_t)snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO %s (org, %s, %s%s) VALUES "
                       "(:org, :k, :k2", c->table, c->key_column, c->key2_column, cols);
  for (uint8_t i = 0; i < c->nfields; i++)
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", :v%u", i);
  snprintf(sql + n, sizeof(sql) - n, ")");
  if (replica__prepare(r, sql, &r->insert_checkin) != 0)
    return -1;

  /* Everyone whose chain of merged_into passes through :k (UNION stops at
   * cycles), and the sessions they have check-ins in. */
  snprintf(sql, sizeof(sql),
           "WITH RECURSIVE r(id) AS (SELECT :k UNION SELECT p.%s FROM %s p JOIN r "
           "ON p.org = :org AND p.merged_into = r.id) "
           "SELECT DISTINCT %s FROM %s WHERE org = :org AND %s IN (SELECT id FROM r)",
           p->key_column, p->table, c->key_column, replica__rows_table(c), c->key2_column);
  if (replica__prepare(r, sql, &r->closure_sessions) != 0)
    return -1;
  snprintf(sql, sizeof(sql),
           "SELECT k, k2 FROM field_clocks WHERE org = :org AND device = :device AND seq = :seq "
           "AND rtype = %u LIMIT 1",
           (unsigned)c->id);
  return replica__prepare(r, sql, &r->own_checkin);
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
  {
    const schema_type_t *pt = schema_type(SCHEMA_PARTICIPANT);
    for (uint32_t i = 0; i < pt->nfields; i++)
      if (strcmp(pt->fields[i].name, "merged_into") == 0)
        r->participant_merged_into = pt->fields[i].id;
  }
  if (r->participant_merged_into == 0) {
    fprintf(stderr, "replica: schema has no participant merged_into field\n");
    goto fail;
  }
  if (replica__prepare_merged(r) != 0)
    goto fail;

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
  sqlite3_finalize(r->canon_next);
  sqlite3_finalize(r->has_incoming);
  sqlite3_finalize(r->copy_checkin);
  sqlite3_finalize(r->clear_session);
  sqlite3_finalize(r->session_sources);
  sqlite3_finalize(r->insert_checkin);
  sqlite3_finalize(r->closure_sessions);
  sqlite3_finalize(r->own_checkin);
  free(r);
}

/* ---- binding helpers ----------------------------------------------------- */

/* Statements name their parameters; a statement that does not use one simply
 * skips it, so one set of helpers serves every generated statement.
 * Text is bound SQLITE_STATIC (not copied, a malloc and memcpy per bind
 * saved on the hot path): every caller binds and then steps at once, and
 * every statement binds each parameter it uses before each step, so the
 * bound memory is alive whenever SQLite reads it. */
static int replica__bind_text(sqlite3_stmt *st, const char *name, proto_str_t s) {
  int i = sqlite3_bind_parameter_index(st, name);
  if (i == 0)
    return SQLITE_OK;
  return sqlite3_bind_text(st, i, s.len ? s.ptr : "", (int)s.len, SQLITE_STATIC);
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
                             SQLITE_STATIC);
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

/* ---- merged check-ins ------------------------------------------------------ */

/* Hops followed through merged_into before giving up; a chain that long is
 * a coordinator's mistake, and stopping there is still the same answer on
 * every replica. */
#define REPLICA__MAX_HOPS 32

typedef struct {
  char s[PROTO_MAX_ID_BYTES];
  uint32_t len;
} replica__id_t;

static proto_str_t replica__id_str(const replica__id_t *id) {
  proto_str_t s = {id->s, id->len};
  return s;
}

static void replica__id_set(replica__id_t *id, const void *p, int n) {
  id->len = n > 0 && n <= PROTO_MAX_ID_BYTES ? (uint32_t)n : 0;
  if (id->len)
    memcpy(id->s, p, id->len);
}

/* The participant id's check-ins count for: follow merged_into until a
 * participant that is not merged (or unknown here). In a cycle (two
 * coordinators merging each into the other) the bytewise smallest id of the
 * cycle is canonical. Depends only on the participants table, so every
 * replica with the same merged_into values gets the same answer. */
static int replica__canonical(replica_t *r, int64_t org, proto_str_t id, replica__id_t *out) {
  replica__id_t path[REPLICA__MAX_HOPS];
  uint32_t n = 0;
  sqlite3_stmt *st = r->canon_next;

  replica__id_set(&path[n++], id.ptr, (int)id.len);
  for (;;) {
    replica__id_t next;
    int rc;

    if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
        replica__bind_text(st, ":k", replica__id_str(&path[n - 1])) != SQLITE_OK) {
      sqlite3_reset(st);
      return PROTO_ESTORAGE;
    }
    rc = sqlite3_step(st);
    next.len = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
      replica__id_set(&next, sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      fprintf(stderr, "replica: %s\n", sqlite3_errmsg(r->db));
      return PROTO_ESTORAGE;
    }
    if (next.len == 0 || n == REPLICA__MAX_HOPS) {
      *out = path[n - 1];
      return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
      if (proto_str_eq(replica__id_str(&path[i]), replica__id_str(&next))) {
        uint32_t min = i;
        for (uint32_t j = i + 1; j < n; j++)
          if (proto_str_cmp(replica__id_str(&path[j]), replica__id_str(&path[min])) < 0)
            min = j;
        *out = path[min];
        return 0;
      }
    }
    path[n++] = next;
  }
}

/* One check-in source of a session, read for merging. */
typedef struct {
  replica__id_t participant, canonical;
  merge_slot_t slot[PROTO_MAX_FIELDS_PER_OP];
  char *text; /* owns the strings the slots point to */
} replica__source_t;

static void replica__sources_free(replica__source_t *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(src[i].text);
  free(src);
}

/* Reads one row of session_sources into src, copying its strings. */
static int replica__source_read(replica_t *r, int64_t org, const schema_type_t *c,
                                sqlite3_stmt *st, replica__source_t *src) {
  size_t need = 1, at = 0;
  int rc;

  /* Only text columns are sized: asking an integer for its bytes would
   * convert it to text. */
  memset(src, 0, sizeof(*src));
  replica__id_set(&src->participant, sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0));
  for (uint32_t i = 0; i < c->nfields; i++) {
    int col = 1 + 4 * (int)i;
    if (sqlite3_column_type(st, col) == SQLITE_TEXT)
      need += (size_t)sqlite3_column_bytes(st, col);
    need += (size_t)sqlite3_column_bytes(st, col + 2);
  }
  src->text = malloc(need);
  if (src->text == NULL)
    return PROTO_ENOMEM;
  for (uint32_t i = 0; i < c->nfields; i++) {
    int col = 1 + 4 * (int)i;
    int vn = sqlite3_column_type(st, col) == SQLITE_TEXT ? sqlite3_column_bytes(st, col) : 0;
    merge_slot_t *slot = &src->slot[i];
    const unsigned char *dev;
    int dn;
    if (sqlite3_column_type(st, col + 1) == SQLITE_NULL)
      continue; /* never written: no clock */
    slot->present = true;
    rc = replica__column_value(st, col, c->fields[i].vtype, src->text + at, (size_t)vn,
                               &slot->value);
    if (rc != 0)
      return rc;
    at += (size_t)vn;
    slot->hlc = (uint64_t)sqlite3_column_int64(st, col + 1);
    dev = sqlite3_column_text(st, col + 2);
    dn = sqlite3_column_bytes(st, col + 2);
    if (dn > 0)
      memcpy(src->text + at, dev, (size_t)dn);
    slot->device.ptr = src->text + at;
    slot->device.len = (uint32_t)dn;
    at += (size_t)dn;
    slot->seq = (uint64_t)sqlite3_column_int64(st, col + 3);
  }
  return replica__canonical(r, org, replica__id_str(&src->participant), &src->canonical);
}

static int replica__source_cmp(const void *a, const void *b) {
  const replica__source_t *x = a, *y = b;
  return proto_str_cmp(replica__id_str(&x->canonical), replica__id_str(&y->canonical));
}

/* Writes the merge of src[0..n) (one canonical participant) to checkins. */
static int replica__write_group(replica_t *r, int64_t org, const schema_type_t *c,
                                proto_str_t session, const replica__source_t *src, size_t n) {
  merge_slot_t acc[PROTO_MAX_FIELDS_PER_OP];
  sqlite3_stmt *st = r->insert_checkin;
  char name[16];
  bool conflict;

  memset(acc, 0, sizeof(acc));
  for (size_t k = 0; k < n; k++)
    for (uint32_t i = 0; i < c->nfields; i++)
      if (src[k].slot[i].present &&
          merge_field(c->fields[i].rule, &acc[i], &src[k].slot[i], 0, &conflict) == MERGE_TAKE)
        acc[i] = src[k].slot[i];
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":k", session) != SQLITE_OK ||
      replica__bind_text(st, ":k2", replica__id_str(&src[0].canonical)) != SQLITE_OK)
    goto fail;
  for (uint32_t i = 0; i < c->nfields; i++) {
    proto_value_t nil = {.type = PROTO_NIL};
    snprintf(name, sizeof(name), ":v%u", i);
    if (replica__bind_value(st, name, acc[i].present ? &acc[i].value : &nil) != SQLITE_OK)
      goto fail;
  }
  return replica__exec(r, st);

fail:
  sqlite3_reset(st);
  return PROTO_ESTORAGE;
}

/* Recomputes every merged check-in of a session from its sources. */
static int replica__rebuild_session(replica_t *r, int64_t org, proto_str_t session) {
  const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
  sqlite3_stmt *st = r->session_sources;
  replica__source_t *src = NULL;
  size_t n = 0, cap = 0;
  int rc, result = 0;

  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":k", session) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      replica__source_t *grown = realloc(src, ncap * sizeof(*src));
      if (grown == NULL) {
        result = PROTO_ESTORAGE;
        break;
      }
      src = grown;
      cap = ncap;
    }
    result = replica__source_read(r, org, c, st, &src[n]);
    n++; /* counted even on failure: its text (if any) is freed below */
    if (result != 0) {
      result = PROTO_ESTORAGE;
      break;
    }
  }
  if (result == 0 && rc != SQLITE_DONE) {
    fprintf(stderr, "replica: %s\n", sqlite3_errmsg(r->db));
    result = PROTO_ESTORAGE;
  }
  sqlite3_reset(st);
  if (result != 0)
    goto done;

  /* Clear, then write one row per canonical participant. */
  if (replica__bind_int(r->clear_session, ":org", org) != SQLITE_OK ||
      replica__bind_text(r->clear_session, ":k", session) != SQLITE_OK) {
    sqlite3_reset(r->clear_session);
    result = PROTO_ESTORAGE;
    goto done;
  }
  result = replica__exec(r, r->clear_session);
  if (result != 0)
    goto done;
  if (n > 1)
    qsort(src, n, sizeof(*src), replica__source_cmp);
  for (size_t first = 0; first < n && result == 0;) {
    size_t end = first + 1;
    while (end < n && replica__source_cmp(&src[first], &src[end]) == 0)
      end++;
    result = replica__write_group(r, org, c, session, src + first, end - first);
    first = end;
  }

done:
  replica__sources_free(src, n);
  return result;
}

/* After (session, participant)'s source changed: brings checkins up to
 * date. The usual case, a participant nobody merged, copies the source; with
 * merges about, the whole session is recomputed. */
static int replica__refresh_checkin(replica_t *r, int64_t org, proto_str_t session,
                                    proto_str_t participant) {
  replica__id_t canonical;
  bool incoming;
  int rc;

  rc = replica__canonical(r, org, participant, &canonical);
  if (rc != 0)
    return rc;
  if (replica__bind_int(r->has_incoming, ":org", org) != SQLITE_OK ||
      replica__bind_text(r->has_incoming, ":k", participant) != SQLITE_OK) {
    sqlite3_reset(r->has_incoming);
    return PROTO_ESTORAGE;
  }
  rc = sqlite3_step(r->has_incoming);
  sqlite3_reset(r->has_incoming);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return PROTO_ESTORAGE;
  incoming = rc == SQLITE_ROW;
  if (incoming || !proto_str_eq(replica__id_str(&canonical), participant))
    return replica__rebuild_session(r, org, session);

  if (replica__bind_int(r->copy_checkin, ":org", org) != SQLITE_OK ||
      replica__bind_text(r->copy_checkin, ":k", session) != SQLITE_OK ||
      replica__bind_text(r->copy_checkin, ":k2", participant) != SQLITE_OK) {
    sqlite3_reset(r->copy_checkin);
    return PROTO_ESTORAGE;
  }
  return replica__exec(r, r->copy_checkin);
}

/* After participant's merged_into changed: everyone whose chain passes
 * through it may now count for someone else, so every session they have
 * check-ins in is recomputed. */
/* Steps a bound statement to its end, collecting column 0 of every row into
 * *ids (caller frees, also on error; *n rows). The statement is left for the
 * caller to reset or finalize. Returns 0 or PROTO_ESTORAGE. */
static int replica__collect_ids(sqlite3_stmt *st, replica__id_t **ids, size_t *n) {
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      replica__id_t *grown = realloc(*ids, ncap * sizeof(**ids));
      if (grown == NULL)
        return PROTO_ESTORAGE;
      *ids = grown;
      cap = ncap;
    }
    replica__id_set(&(*ids)[(*n)++], sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0));
  }
  return rc == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
}

static int replica__remerge(replica_t *r, int64_t org, proto_str_t participant) {
  sqlite3_stmt *st = r->closure_sessions;
  replica__id_t *sessions = NULL;
  size_t n = 0;
  int result = 0;

  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":k", participant) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  /* Collected first: rebuilding writes to checkins while this reads. */
  result = replica__collect_ids(st, &sessions, &n);
  sqlite3_reset(st);
  for (size_t i = 0; i < n && result == 0; i++)
    result = replica__rebuild_session(r, org, replica__id_str(&sessions[i]));
  free(sessions);
  return result;
}

/* ---- erasure ------------------------------------------------------------- */

/* Runs one statement with :org and :k bound; for the rare erasure, so it is
 * prepared per call rather than kept. */
static int replica__erase_exec(replica_t *r, const char *sql, int64_t org, proto_str_t k) {
  sqlite3_stmt *st = NULL;
  int rc;

  if (replica__prepare(r, sql, &st) != 0)
    return PROTO_ESTORAGE;
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":k", k) != SQLITE_OK) {
    sqlite3_finalize(st);
    return PROTO_ESTORAGE;
  }
  rc = replica__exec(r, st);
  sqlite3_finalize(st);
  return rc;
}

/* An erasure op (GDPR) removes everything this replica holds about one
 * participant: the participant row, their check-in sources and merged
 * check-ins, the field clocks and conflict-log entries that name them; the
 * merged check-ins of the sessions they appeared in are then recomputed
 * from the sources that remain. Only the erasure row (the id and when) is
 * kept, written by the ordinary field apply after this. Deleting what is
 * already gone changes nothing, so applying it again is harmless, and the
 * result depends on nothing but the id: every replica ends the same. */
static int replica__erase(replica_t *r, int64_t org, proto_str_t participant) {
  const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
  const schema_type_t *p = schema_type(SCHEMA_PARTICIPANT);
  sqlite3_stmt *st = NULL;
  replica__id_t *sessions = NULL;
  size_t n = 0;
  char sql[512];
  int result = 0;

  /* The sessions to recompute, collected before their sources go. */
  snprintf(sql, sizeof(sql), "SELECT DISTINCT %s FROM %s WHERE org = :org AND %s = :k",
           c->key_column, replica__rows_table(c), c->key2_column);
  if (replica__prepare(r, sql, &st) != 0)
    return PROTO_ESTORAGE;
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":k", participant) != SQLITE_OK) {
    sqlite3_finalize(st);
    return PROTO_ESTORAGE;
  }
  result = replica__collect_ids(st, &sessions, &n);
  sqlite3_finalize(st);
  if (result != 0)
    goto done;

  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = :org AND %s = :k",
           replica__rows_table(c), c->key2_column);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = :org AND %s = :k", c->table,
           c->key2_column);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = :org AND %s = :k", p->table,
           p->key_column);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql),
           "DELETE FROM field_clocks WHERE org = :org AND "
           "((rtype = %u AND k = :k) OR (rtype = %u AND k2 = :k))",
           (unsigned)p->id, (unsigned)c->id);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql),
           "DELETE FROM conflicts WHERE org = :org AND "
           "((rtype = %u AND k = :k) OR (rtype = %u AND k2 = :k))",
           (unsigned)p->id, (unsigned)c->id);
  result = replica__erase_exec(r, sql, org, participant);
  for (size_t i = 0; i < n && result == 0; i++)
    result = replica__rebuild_session(r, org, replica__id_str(&sessions[i]));

done:
  free(sessions);
  return result;
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
  sqlite3_int64 changes;
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

  if (t->id == SCHEMA_ERASURE) {
    rc = replica__erase(r, org, op->key);
    if (rc != 0)
      return rc;
  }

  /* Create the record's row if this is its first op; a later op (or the
   * same one again) finds it and inserts nothing. */
  changes = sqlite3_total_changes64(r->db);
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

  /* The merged check-ins follow their sources and the merges; an op that
   * changed nothing (applied again, or lost everywhere) leaves them be. */
  if (sqlite3_total_changes64(r->db) == changes)
    return 0;
  if (t->id == SCHEMA_CHECKIN)
    return replica__refresh_checkin(r, org, op->key, op->key2);
  if (t->id == SCHEMA_PARTICIPANT && replica__op_sets(op, r->participant_merged_into))
    return replica__remerge(r, org, op->key);
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
  rc = replica__exec(r, st);
  if (rc != 0)
    return rc;

  /* A check-in's new clock may change which source wins its merged row. */
  st = r->own_checkin;
  if (replica__bind_int(st, ":org", org) != SQLITE_OK ||
      replica__bind_text(st, ":device", device) != SQLITE_OK ||
      replica__bind_int(st, ":seq", (int64_t)seq) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    replica__id_t session, participant;
    replica__id_set(&session, sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0));
    replica__id_set(&participant, sqlite3_column_text(st, 1), sqlite3_column_bytes(st, 1));
    sqlite3_reset(st);
    return replica__refresh_checkin(r, org, replica__id_str(&session),
                                    replica__id_str(&participant));
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
}
