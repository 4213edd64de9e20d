/* replica.c — the materialised record tables and the one place an op is
 * applied to them, with the per-field merge rules of protocol/merge.h.
 *
 * Owns the prepared statements of one replica_t (and nothing in the
 * database: the caller owns the connection and every transaction). The
 * tables are generated from the schema table in protocol/schema.c, so a
 * field's wire id, SQL column and merge rule cannot drift apart:
 *
 *   - one row per record in <table>(org, <key>[, <key2>], <fields>...),
 *     and next to each field its clock: <field>__hlc, __device, __seq and
 *     __sseq, the (hlc, device, seq, server_seq) of the op whose value the
 *     field holds, NULL while the field was never written. Applying an op
 *     is then one read of the record's row, the merge in memory and one
 *     write of the row; the view field_clocks shows the clocks as one row
 *     per written field, for tools and tests;
 *   - counters (tallies) keep one row per (record, device): the slot of each
 *     device carries its own value and device_seq, and the total is their
 *     sum (view session_tallies);
 *   - messages also keep their author (device of the creating op) and the
 *     wall-clock time it was posted;
 *   - conflicts keeps every LWW value that lost to a concurrent write;
 *   - check-ins: checkin_sources holds each (session, participant) exactly
 *     as ops wrote it, and the view checkins is what everyone reads: the
 *     sources merged per (session, canonical participant), where the
 *     canonical participant is found by following merged_into (a
 *     coordinator's merge of duplicates). A session none of whose sources
 *     is of a merged participant reads its sources as they are; for a
 *     session with one, checkin_merged holds all its merged rows, and the
 *     view shows those instead. Because they are recomputed from the
 *     sources whenever a source or a merged_into changes, and the fold uses
 *     the check-in merge rules (LWW status, earliest arrival, latest
 *     departure), every replica reads the same checkins whatever order the
 *     merge and the check-ins arrive in, and a merge can be undone or
 *     re-pointed without losing whose check-in was whose. A check-in
 *     nobody merged costs one row, not two. */
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

/* Parameter numbers of the generated row statements: ?1 org, ?2 key,
 * ?3 key2, then five per field (value and its clock), then a message's
 * author and posted time. Bound by number: looking a name up costs a
 * string comparison per parameter on every op. */
#define REPLICA__P_ORG 1
#define REPLICA__P_K 2
#define REPLICA__P_K2 3
#define REPLICA__P_FIELD(i) (4 + 5 * (int)(i)) /* value; +1 hlc .. +4 sseq */
#define REPLICA__P_AUTHOR(n) REPLICA__P_FIELD(n)
#define REPLICA__P_POSTED(n) (REPLICA__P_FIELD(n) + 1)

/* Counter slots: ?1 org, ?2 key, ?3 device, ?4 value, ?5 seq. */
#define REPLICA__P_DEVICE 3
#define REPLICA__P_VALUE 4
#define REPLICA__P_SEQ 5

/* Statements of one record type. Types with counters use counter_read and
 * counter_write (one row per device); the others the row statements. */
typedef struct {
  sqlite3_stmt *read_row;   /* every field with its clock [, author] */
  sqlite3_stmt *insert_row; /* a new record: every field [, author, posted] */
  sqlite3_stmt *update_row; /* every field of an existing record */
  sqlite3_stmt *rebase;     /* clocks of one own op -> the server's */
  sqlite3_stmt *counter_read;
  sqlite3_stmt *counter_write;
} replica__type_stmts_t;

/* What the replica holds of one record: a slot per field, in the order of
 * schema_type_t.fields. */
typedef struct {
  bool exists;
  merge_slot_t slot[PROTO_MAX_FIELDS_PER_OP];
  proto_str_t author; /* messages */
} replica__row_t;

struct replica_s {
  sqlite3 *db; /* borrowed from the caller */
  replica_options_t opts;
  replica__type_stmts_t types[SCHEMA_TYPE_MAX + 1]; /* by schema type id */
  sqlite3_stmt *put_conflict;
  /* Merged check-ins (see the file comment). */
  sqlite3_stmt *canon_next;       /* a participant's merged_into */
  sqlite3_stmt *org_merges;       /* has an organisation merged anyone */
  sqlite3_stmt *needs_rebuild;    /* has a session merged rows, or is a
                                     participant merged */
  sqlite3_stmt *clear_session;    /* drops a session's merged rows */
  sqlite3_stmt *session_sources;  /* a session's sources with their clocks */
  sqlite3_stmt *insert_checkin;   /* writes one merged row */
  sqlite3_stmt *closure_sessions; /* sessions whose merge a merged_into touches */
  /* Field ids of a message that its first op must set. */
  uint8_t message_activity, message_body;
  uint8_t participant_merged_into;
  /* The strings of the row being applied, copied out of SQLite (column text
   * is only valid until the statement moves on): every field's longest
   * value and device id, and an author. */
  char *row_text;
};

#define REPLICA__ROW_TEXT_BYTES \
  (PROTO_MAX_FIELDS_PER_OP * (PROTO_MAX_TEXT_BYTES + PROTO_MAX_ID_BYTES) + PROTO_MAX_ID_BYTES)

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

/* The four clock columns of a field, with their SQL types. */
static const char *const replica__clock_suffix[4] = {"__hlc", "__device", "__seq", "__sseq"};
static const char *const replica__clock_type[4] = {"INTEGER", "TEXT", "INTEGER", "INTEGER"};

#define REPLICA__SQL_BYTES 65536
static char replica__ddl[REPLICA__SQL_BYTES];
static char replica__migration[REPLICA__SQL_BYTES];
static pthread_once_t replica__ddl_once = PTHREAD_ONCE_INIT;

/* Appends to buf (one of the two above, REPLICA__SQL_BYTES each); they are sized for the schema
 * with a wide margin, and overflowing one is a programming error caught at
 * first use. */
static void replica__add(char *buf, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void replica__add(char *buf, size_t *at, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf + *at, REPLICA__SQL_BYTES - *at, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= REPLICA__SQL_BYTES - *at)
    abort();
  *at += (size_t)n;
}

/* The table ops write a record type's rows to. Check-ins are written to
 * their sources; the name in the schema is the view of the merged rows. */
static const char *replica__rows_table(const schema_type_t *t) {
  return t->id == SCHEMA_CHECKIN ? "checkin_sources" : t->table;
}

#define REPLICA__MERGED_TABLE "checkin_merged" /* merged check-ins where merges are */

/* CREATE VIEW checkins: a session's rows from checkin_merged when it has
 * any there, else its sources. */
static void replica__ddl_checkins_view(char *buf, size_t *at) {
  const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
  char cols[512];
  size_t n = 0;

  n += (size_t)snprintf(cols + n, sizeof(cols) - n, "org, %s, %s", c->key_column, c->key2_column);
  for (uint32_t i = 0; i < c->nfields; i++)
    n += (size_t)snprintf(cols + n, sizeof(cols) - n, ", %s", c->fields[i].name);
  replica__add(buf, at,
               "CREATE VIEW %s AS\n"
               "  SELECT %s FROM %s s WHERE NOT EXISTS (SELECT 1 FROM %s m\n"
               "    WHERE m.org = s.org AND m.%s = s.%s)\n"
               "  UNION ALL\n"
               "  SELECT %s FROM %s;\n",
               c->table, cols, replica__rows_table(c), REPLICA__MERGED_TABLE, c->key_column,
               c->key_column, cols, REPLICA__MERGED_TABLE);
}

/* Rows that ops write carry the clocks of their fields; the merged
 * check-ins and the per-device counter rows do not. */
static bool replica__has_clocks(const schema_type_t *t, const char *table) {
  return !replica__per_device(t) && strcmp(table, replica__rows_table(t)) == 0;
}

static void replica__ddl_table(char *d, size_t *at, const schema_type_t *t, const char *table) {
  bool per_device = replica__per_device(t);
  bool clocks = replica__has_clocks(t, table);

  replica__add(d, at, "CREATE TABLE %s (\n  org INTEGER NOT NULL,\n  %s TEXT NOT NULL,\n", table,
               t->key_column);
  if (t->key2_column != NULL)
    replica__add(d, at, "  %s TEXT NOT NULL,\n", t->key2_column);
  if (per_device)
    replica__add(d, at, "  device TEXT NOT NULL,\n");
  for (uint32_t i = 0; i < t->nfields; i++) {
    replica__add(d, at, "  %s %s,\n", t->fields[i].name, replica__sql_type(t->fields[i].vtype));
    for (int c = 0; clocks && c < 4; c++)
      replica__add(d, at, "  %s%s %s,\n", t->fields[i].name, replica__clock_suffix[c],
                   replica__clock_type[c]);
  }
  if (per_device)
    replica__add(d, at, "  seq INTEGER NOT NULL, -- device_seq of the op that set this slot\n");
  if (t->id == SCHEMA_MESSAGE)
    replica__add(d, at, "  author TEXT NOT NULL, -- device of the op that created it\n"
                        "  posted INTEGER,        -- wall-clock ms of that op's HLC\n");
  replica__add(d, at, "  PRIMARY KEY (org, %s%s%s%s)\n);\n", t->key_column,
               t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "",
               per_device ? ", device" : "");
}

/* CREATE VIEW field_clocks: one row per written field of every record, as
 * the clocks were kept before they moved into the rows. */
static void replica__ddl_clocks_view(char *buf, size_t *at) {
  const char *sep = "";

  replica__add(buf, at, "CREATE VIEW field_clocks (org, rtype, k, k2, field, hlc, device, seq, "
                        "server_seq) AS\n");
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    if (t == NULL || replica__per_device(t))
      continue;
    for (uint32_t i = 0; i < t->nfields; i++) {
      const char *f = t->fields[i].name;
      replica__add(buf, at,
                   "%s  SELECT org, %u, %s, %s, %u, %s__hlc, %s__device, %s__seq, %s__sseq "
                   "FROM %s WHERE %s__hlc IS NOT NULL\n",
                   sep, (unsigned)id, t->key_column, t->key2_column ? t->key2_column : "''",
                   (unsigned)t->fields[i].id, f, f, f, f, replica__rows_table(t), f);
      sep = "  UNION ALL\n";
    }
  }
  replica__add(buf, at, ";\n");
}

/* From the layout with a field_clocks table (one row per written field) to
 * the clocks in the record rows. */
static void replica__build_migration(void) {
  char *m = replica__migration;
  size_t at = 0;

  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    const char *table;
    if (t == NULL || replica__per_device(t))
      continue;
    table = replica__rows_table(t);
    for (uint32_t i = 0; i < t->nfields; i++)
      for (int c = 0; c < 4; c++)
        replica__add(m, &at, "ALTER TABLE %s ADD COLUMN %s%s %s;\n", table, t->fields[i].name,
                     replica__clock_suffix[c], replica__clock_type[c]);
    replica__add(m, &at, "UPDATE %s SET\n", table);
    for (uint32_t i = 0; i < t->nfields; i++) {
      const char *f = t->fields[i].name;
      replica__add(m, &at,
                   "  (%s__hlc, %s__device, %s__seq, %s__sseq) = (SELECT hlc, device, seq, "
                   "server_seq FROM field_clocks c WHERE c.org = %s.org AND c.rtype = %u "
                   "AND c.k = %s.%s AND c.k2 = %s%s%s AND c.field = %u)%s\n",
                   f, f, f, f, table, (unsigned)id, table, t->key_column,
                   t->key2_column ? table : "''", t->key2_column ? "." : "",
                   t->key2_column ? t->key2_column : "", (unsigned)t->fields[i].id,
                   i + 1 < t->nfields ? "," : ";");
    }
  }
  replica__add(m, &at, "DROP TABLE field_clocks;\n");
  replica__ddl_clocks_view(m, &at);

  /* The merged check-ins were a table with a row for every check-in; only
   * the rows of sessions with a merged participant's source stay. */
  {
    const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
    const schema_type_t *p = schema_type(SCHEMA_PARTICIPANT);
    replica__ddl_table(m, &at, c, REPLICA__MERGED_TABLE);
    replica__add(m, &at,
                 "INSERT INTO %s SELECT * FROM %s c WHERE EXISTS (SELECT 1 FROM %s s\n"
                 "  JOIN %s p ON p.org = s.org AND p.%s = s.%s\n"
                 "  WHERE s.org = c.org AND s.%s = c.%s AND p.merged_into IS NOT NULL);\n"
                 "DROP TABLE %s;\n",
                 REPLICA__MERGED_TABLE, c->table, replica__rows_table(c), p->table,
                 p->key_column, c->key2_column, c->key_column, c->key_column, c->table);
    replica__ddl_checkins_view(m, &at);
  }
}

static void replica__build_ddl(void) {
  char *d = replica__ddl;
  size_t at = 0;

  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    if (t == NULL)
      continue;
    if (t->id == SCHEMA_CHECKIN) {
      replica__ddl_table(d, &at, t, replica__rows_table(t));
      replica__ddl_table(d, &at, t, REPLICA__MERGED_TABLE);
      replica__ddl_checkins_view(d, &at);
    } else {
      replica__ddl_table(d, &at, t, t->table);
    }
  }

  replica__add(d, &at,
      "CREATE VIEW session_tallies AS\n"
      "  SELECT org, session, SUM(count) AS total FROM tallies GROUP BY org, session;\n"
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
  replica__ddl_clocks_view(d, &at);
  replica__build_migration();
}

const char *replica_schema_sql(void) {
  pthread_once(&replica__ddl_once, replica__build_ddl);
  return replica__ddl;
}

const char *replica_clocks_migration_sql(void) {
  pthread_once(&replica__ddl_once, replica__build_ddl);
  return replica__migration;
}

/* ---- open / close -------------------------------------------------------- */

static int replica__prepare(replica_t *r, const char *sql, sqlite3_stmt **out) {
  if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
    fprintf(stderr, "replica: cannot prepare \"%s\": %s\n", sql, sqlite3_errmsg(r->db));
    return -1;
  }
  return 0;
}

/* Appends to a statement being generated; a statement longer than buf is a
 * programming error caught at first use. */
static void replica__cat(char *buf, size_t size, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void replica__cat(char *buf, size_t size, size_t *at, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf + *at, size - *at, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= size - *at)
    abort();
  *at += (size_t)n;
}

/* " WHERE org = ?1 AND <key> = ?2[ AND <key2> = ?3]" */
static void replica__cat_where(char *buf, size_t size, size_t *at, const schema_type_t *t) {
  replica__cat(buf, size, at, " WHERE org = ?%d AND %s = ?%d", REPLICA__P_ORG, t->key_column,
               REPLICA__P_K);
  if (t->key2_column != NULL)
    replica__cat(buf, size, at, " AND %s = ?%d", t->key2_column, REPLICA__P_K2);
}

static int replica__prepare_counters(replica_t *r, const schema_type_t *t) {
  replica__type_stmts_t *s = &r->types[t->id];
  const char *f = t->fields[0].name;
  char sql[1024];

  /* One counter per per-device type, without a second key: all the
   * schema has, and all the slot statements below handle. */
  if (t->nfields != 1 || t->fields[0].rule != MERGE_COUNTER || t->key2_column != NULL) {
    fprintf(stderr, "replica: type %s mixes counters with other fields\n", t->name);
    return -1;
  }
  snprintf(sql, sizeof(sql), "SELECT %s, seq FROM %s WHERE org = ?%d AND %s = ?%d AND device = ?%d",
           f, t->table, REPLICA__P_ORG, t->key_column, REPLICA__P_K, REPLICA__P_DEVICE);
  if (replica__prepare(r, sql, &s->counter_read) != 0)
    return -1;
  snprintf(sql, sizeof(sql),
           "INSERT INTO %s (org, %s, device, %s, seq) VALUES (?%d, ?%d, ?%d, ?%d, ?%d) "
           "ON CONFLICT (org, %s, device) DO UPDATE SET %s = excluded.%s, seq = excluded.seq",
           t->table, t->key_column, f, REPLICA__P_ORG, REPLICA__P_K, REPLICA__P_DEVICE,
           REPLICA__P_VALUE, REPLICA__P_SEQ, t->key_column, f, f);
  return replica__prepare(r, sql, &s->counter_write);
}

static int replica__prepare_rows(replica_t *r, const schema_type_t *t) {
  replica__type_stmts_t *s = &r->types[t->id];
  const char *table = replica__rows_table(t);
  bool message = t->id == SCHEMA_MESSAGE;
  char sql[8192];
  size_t at;

  at = 0;
  replica__cat(sql, sizeof(sql), &at, "SELECT ");
  for (uint32_t i = 0; i < t->nfields; i++) {
    const char *f = t->fields[i].name;
    replica__cat(sql, sizeof(sql), &at, "%s%s, %s__hlc, %s__device, %s__seq, %s__sseq",
                 i ? ", " : "", f, f, f, f, f);
  }
  replica__cat(sql, sizeof(sql), &at, "%s FROM %s", message ? ", author" : "", table);
  replica__cat_where(sql, sizeof(sql), &at, t);
  if (replica__prepare(r, sql, &s->read_row) != 0)
    return -1;

  at = 0;
  replica__cat(sql, sizeof(sql), &at, "INSERT INTO %s (org, %s%s%s", table, t->key_column,
               t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "");
  for (uint32_t i = 0; i < t->nfields; i++) {
    const char *f = t->fields[i].name;
    replica__cat(sql, sizeof(sql), &at, ", %s, %s__hlc, %s__device, %s__seq, %s__sseq", f, f,
                 f, f, f);
  }
  replica__cat(sql, sizeof(sql), &at, "%s) VALUES (?%d, ?%d", message ? ", author, posted" : "",
               REPLICA__P_ORG, REPLICA__P_K);
  if (t->key2_column != NULL)
    replica__cat(sql, sizeof(sql), &at, ", ?%d", REPLICA__P_K2);
  for (uint32_t i = 0; i < t->nfields; i++)
    for (int c = 0; c < 5; c++)
      replica__cat(sql, sizeof(sql), &at, ", ?%d", REPLICA__P_FIELD(i) + c);
  if (message)
    replica__cat(sql, sizeof(sql), &at, ", ?%d, ?%d", REPLICA__P_AUTHOR(t->nfields),
                 REPLICA__P_POSTED(t->nfields));
  replica__cat(sql, sizeof(sql), &at, ")");
  if (replica__prepare(r, sql, &s->insert_row) != 0)
    return -1;

  at = 0;
  replica__cat(sql, sizeof(sql), &at, "UPDATE %s SET ", table);
  for (uint32_t i = 0; i < t->nfields; i++) {
    const char *f = t->fields[i].name;
    int p = REPLICA__P_FIELD(i);
    replica__cat(sql, sizeof(sql), &at,
                 "%s%s = ?%d, %s__hlc = ?%d, %s__device = ?%d, %s__seq = ?%d, %s__sseq = ?%d",
                 i ? ", " : "", f, p, f, p + 1, f, p + 2, f, p + 3, f, p + 4);
  }
  replica__cat_where(sql, sizeof(sql), &at, t);
  if (replica__prepare(r, sql, &s->update_row) != 0)
    return -1;

  /* Each clock still written by the own op (?4 device, ?5 seq) takes the
   * server's hlc (?6) and server_seq (?7); a message it created, the time
   * of the server's hlc (?8). */
  at = 0;
  replica__cat(sql, sizeof(sql), &at, "UPDATE %s SET ", table);
  for (uint32_t i = 0; i < t->nfields; i++) {
    const char *f = t->fields[i].name;
    replica__cat(sql, sizeof(sql), &at,
                 "%s%s__hlc = CASE WHEN %s__device = ?4 AND %s__seq = ?5 THEN ?6 ELSE %s__hlc END, "
                 "%s__sseq = CASE WHEN %s__device = ?4 AND %s__seq = ?5 THEN ?7 ELSE %s__sseq END",
                 i ? ", " : "", f, f, f, f, f, f, f, f);
  }
  if (message)
    replica__cat(sql, sizeof(sql), &at,
                 ", posted = CASE WHEN author = ?4 AND %s__device = ?4 AND %s__seq = ?5 "
                 "THEN ?8 ELSE posted END",
                 schema_field(t, r->message_activity)->name,
                 schema_field(t, r->message_activity)->name);
  replica__cat_where(sql, sizeof(sql), &at, t);
  return replica__prepare(r, sql, &s->rebase);
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

  snprintf(sql, sizeof(sql), "SELECT merged_into FROM %s WHERE org = ?1 AND %s = ?2", p->table,
           p->key_column);
  if (replica__prepare(r, sql, &r->canon_next) != 0)
    return -1;
  /* Into the partial index of merged participants, which is empty for
   * most organisations: the usual answer, none, is one short descent. */
  snprintf(sql, sizeof(sql),
           "SELECT 1 FROM %s WHERE org = ?1 AND merged_into IS NOT NULL LIMIT 1", p->table);
  if (replica__prepare(r, sql, &r->org_merges) != 0)
    return -1;
  snprintf(sql, sizeof(sql),
           "SELECT EXISTS (SELECT 1 FROM %s WHERE org = ?1 AND %s = ?2) OR EXISTS (SELECT 1 "
           "FROM %s WHERE org = ?1 AND %s = ?3 AND merged_into IS NOT NULL)",
           REPLICA__MERGED_TABLE, c->key_column, p->table, p->key_column);
  if (replica__prepare(r, sql, &r->needs_rebuild) != 0)
    return -1;
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1 AND %s = ?2", REPLICA__MERGED_TABLE,
           c->key_column);
  if (replica__prepare(r, sql, &r->clear_session) != 0)
    return -1;

  n = (size_t)snprintf(sql, sizeof(sql), "SELECT %s", c->key2_column);
  for (uint8_t i = 0; i < c->nfields; i++) {
    const char *f = c->fields[i].name;
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s, %s__hlc, %s__device, %s__seq", f, f,
                          f, f);
  }
  snprintf(sql + n, sizeof(sql) - n, " FROM %s WHERE org = ?1 AND %s = ?2",
           replica__rows_table(c), c->key_column);
  if (replica__prepare(r, sql, &r->session_sources) != 0)
    return -1;

  n = (size_t)snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO %s (org, %s, %s%s) VALUES "
                       "(?1, ?2, ?3", REPLICA__MERGED_TABLE, c->key_column, c->key2_column,
                       cols);
  for (uint8_t i = 0; i < c->nfields; i++)
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", ?%u", 4u + i);
  snprintf(sql + n, sizeof(sql) - n, ")");
  if (replica__prepare(r, sql, &r->insert_checkin) != 0)
    return -1;

  /* Everyone whose chain of merged_into passes through ?2 (UNION stops at
   * cycles), and the sessions they have check-ins in. */
  snprintf(sql, sizeof(sql),
           "WITH RECURSIVE r(id) AS (SELECT ?2 UNION SELECT p.%s FROM %s p JOIN r "
           "ON p.org = ?1 AND p.merged_into = r.id) "
           "SELECT DISTINCT %s FROM %s WHERE org = ?1 AND %s IN (SELECT id FROM r)",
           p->key_column, p->table, c->key_column, replica__rows_table(c), c->key2_column);
  return replica__prepare(r, sql, &r->closure_sessions);
}

/* The id of the field called name in type id, or 0. */
static uint8_t replica__field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; t != NULL && i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  return 0;
}

replica_t *replica_open(sqlite3 *db, const replica_options_t *opts) {
  replica_t *r;

  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->db = db;
  if (opts != NULL)
    r->opts = *opts;
  r->row_text = malloc(REPLICA__ROW_TEXT_BYTES);
  if (r->row_text == NULL)
    goto fail;

  r->message_activity = replica__field_id(SCHEMA_MESSAGE, "activity");
  r->message_body = replica__field_id(SCHEMA_MESSAGE, "body");
  r->participant_merged_into = replica__field_id(SCHEMA_PARTICIPANT, "merged_into");
  if (r->message_activity == 0 || r->message_body == 0 || r->participant_merged_into == 0) {
    fprintf(stderr, "replica: schema lacks message activity/body or participant merged_into\n");
    goto fail;
  }

  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    if (t == NULL)
      continue;
    if ((replica__per_device(t) ? replica__prepare_counters(r, t) : replica__prepare_rows(r, t)) !=
        0)
      goto fail;
  }
  if (replica__prepare_merged(r) != 0)
    goto fail;
  if (replica__prepare(r,
          "INSERT OR IGNORE INTO conflicts (org, k, k2, rtype, field, kept_value, kept_device, "
          "kept_hlc, lost_value, lost_device, lost_hlc, lost_seq, server_seq, created_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
          &r->put_conflict) != 0)
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
    replica__type_stmts_t *s = &r->types[id];
    sqlite3_finalize(s->read_row);
    sqlite3_finalize(s->insert_row);
    sqlite3_finalize(s->update_row);
    sqlite3_finalize(s->rebase);
    sqlite3_finalize(s->counter_read);
    sqlite3_finalize(s->counter_write);
  }
  sqlite3_finalize(r->put_conflict);
  sqlite3_finalize(r->canon_next);
  sqlite3_finalize(r->org_merges);
  sqlite3_finalize(r->needs_rebuild);
  sqlite3_finalize(r->clear_session);
  sqlite3_finalize(r->session_sources);
  sqlite3_finalize(r->insert_checkin);
  sqlite3_finalize(r->closure_sessions);
  free(r->row_text);
  free(r);
}

/* ---- binding helpers ----------------------------------------------------- */

/* Text is bound SQLITE_STATIC (not copied, a malloc and memcpy per bind
 * saved on the hot path): every caller binds and then steps at once, and
 * every statement binds each parameter it uses before each step, so the
 * bound memory is alive whenever SQLite reads it. */
static int replica__bind_str_at(sqlite3_stmt *st, int i, proto_str_t s) {
  return sqlite3_bind_text(st, i, s.len ? s.ptr : "", (int)s.len, SQLITE_STATIC);
}

static int replica__bind_value_at(sqlite3_stmt *st, int i, const proto_value_t *v) {
  switch (v->type) {
  case PROTO_BOOL:
    return sqlite3_bind_int(st, i, v->u.b ? 1 : 0);
  case PROTO_INT:
    return sqlite3_bind_int64(st, i, v->u.i);
  case PROTO_STR:
    return replica__bind_str_at(st, i, v->u.s);
  case PROTO_NIL:
  default:
    return sqlite3_bind_null(st, i);
  }
}

/* Binds ?1 org and ?2 k (and ?3 k2 when given) of a generated statement. */
static int replica__bind_keys(sqlite3_stmt *st, int64_t org, proto_str_t k, const proto_str_t *k2) {
  if (sqlite3_bind_int64(st, REPLICA__P_ORG, org) != SQLITE_OK ||
      replica__bind_str_at(st, REPLICA__P_K, k) != SQLITE_OK)
    return SQLITE_ERROR;
  if (k2 != NULL && replica__bind_str_at(st, REPLICA__P_K2, *k2) != SQLITE_OK)
    return SQLITE_ERROR;
  return SQLITE_OK;
}

/* The keys of op's record, for a statement on a table of type t. */
static int replica__bind_op_keys(sqlite3_stmt *st, int64_t org, const schema_type_t *t,
                                 const proto_op_t *op) {
  return replica__bind_keys(st, org, op->key, t->key2_column != NULL ? &op->key2 : NULL);
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

/* Copies text column col (at most cap bytes) to buf as *out. */
static int replica__column_str(sqlite3_stmt *st, int col, char *buf, size_t cap,
                               proto_str_t *out) {
  const unsigned char *p = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);
  if (p == NULL || n < 0 || (size_t)n > cap)
    return PROTO_ESTORAGE;
  memcpy(buf, p, (size_t)n);
  out->ptr = buf;
  out->len = (uint32_t)n;
  return 0;
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
 * replica with the same merged_into values gets the same answer. *merged:
 * whether id itself has a merged_into. */
static int replica__canonical(replica_t *r, int64_t org, proto_str_t id, replica__id_t *out,
                              bool *merged) {
  replica__id_t path[REPLICA__MAX_HOPS];
  uint32_t n = 0;
  sqlite3_stmt *st = r->canon_next;

  replica__id_set(&path[n++], id.ptr, (int)id.len);
  for (;;) {
    replica__id_t next;
    int rc;

    if (replica__bind_keys(st, org, replica__id_str(&path[n - 1]), NULL) != SQLITE_OK) {
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
    if (n == 1)
      *merged = next.len > 0;
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
  bool merged; /* the participant has a merged_into */
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
  return replica__canonical(r, org, replica__id_str(&src->participant), &src->canonical,
                            &src->merged);
}

static int replica__source_cmp(const void *a, const void *b) {
  const replica__source_t *x = a, *y = b;
  return proto_str_cmp(replica__id_str(&x->canonical), replica__id_str(&y->canonical));
}

/* Writes the merge of src[0..n) (one canonical participant) to
 * checkin_merged. */
static int replica__write_group(replica_t *r, int64_t org, const schema_type_t *c,
                                proto_str_t session, const replica__source_t *src, size_t n) {
  static const proto_value_t nil = {.type = PROTO_NIL};
  sqlite3_stmt *st = r->insert_checkin;
  proto_str_t canonical = replica__id_str(&src[0].canonical);
  merge_slot_t acc[PROTO_MAX_FIELDS_PER_OP];
  bool conflict;

  memset(acc, 0, sizeof(acc));
  for (size_t k = 0; k < n; k++)
    for (uint32_t i = 0; i < c->nfields; i++)
      if (src[k].slot[i].present &&
          merge_field(c->fields[i].rule, &acc[i], &src[k].slot[i], 0, &conflict) == MERGE_TAKE)
        acc[i] = src[k].slot[i];
  if (replica__bind_keys(st, org, session, &canonical) != SQLITE_OK)
    goto fail;
  for (uint32_t i = 0; i < c->nfields; i++)
    if (replica__bind_value_at(st, 4 + (int)i, acc[i].present ? &acc[i].value : &nil) !=
        SQLITE_OK)
      goto fail;
  return replica__exec(r, st);

fail:
  sqlite3_reset(st);
  return PROTO_ESTORAGE;
}

/* Recomputes the merged check-ins of a session from its sources: in
 * checkin_merged when one of them is of a merged participant, else none
 * (the view then shows the sources). */
static int replica__rebuild_session(replica_t *r, int64_t org, proto_str_t session) {
  const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
  sqlite3_stmt *st = r->session_sources;
  replica__source_t *src = NULL;
  size_t n = 0, cap = 0;
  int rc, result = 0;
  bool any_merged;

  if (replica__bind_keys(st, org, session, NULL) != SQLITE_OK) {
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
  if (replica__bind_keys(r->clear_session, org, session, NULL) != SQLITE_OK) {
    sqlite3_reset(r->clear_session);
    result = PROTO_ESTORAGE;
    goto done;
  }
  result = replica__exec(r, r->clear_session);
  if (result != 0)
    goto done;
  /* Without a merged participant among them the view reads the sources. */
  any_merged = false;
  for (size_t i = 0; i < n; i++)
    any_merged |= src[i].merged;
  if (!any_merged)
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

/* Runs st (?1 org) and sets *yes when it returns a row. */
static int replica__any_row(replica_t *r, sqlite3_stmt *st, int64_t org, bool *yes) {
  int rc;

  if (sqlite3_bind_int64(st, REPLICA__P_ORG, org) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  rc = sqlite3_step(st);
  *yes = rc == SQLITE_ROW;
  sqlite3_reset(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fprintf(stderr, "replica: %s\n", sqlite3_errmsg(r->db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* After (session, participant)'s source changed: brings the merged rows
 * up to date. In an organisation where nobody was merged, and in a session
 * without merged rows for a participant not merged, the view reads the
 * source, and there is nothing to do. */
static int replica__refresh_checkin(replica_t *r, int64_t org, proto_str_t session,
                                    proto_str_t participant) {
  sqlite3_stmt *st = r->needs_rebuild;
  bool yes;
  int rc;

  rc = replica__any_row(r, r->org_merges, org, &yes);
  if (rc != 0 || !yes)
    return rc;
  if (replica__bind_keys(st, org, session, &participant) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  rc = sqlite3_step(st);
  yes = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
  sqlite3_reset(st);
  if (rc != SQLITE_ROW) {
    fprintf(stderr, "replica: %s\n", sqlite3_errmsg(r->db));
    return PROTO_ESTORAGE;
  }
  return yes ? replica__rebuild_session(r, org, session) : 0;
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

  if (replica__bind_keys(st, org, participant, NULL) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  /* Collected first: rebuilding writes to checkin_merged while this reads. */
  result = replica__collect_ids(st, &sessions, &n);
  sqlite3_reset(st);
  for (size_t i = 0; i < n && result == 0; i++)
    result = replica__rebuild_session(r, org, replica__id_str(&sessions[i]));
  free(sessions);
  return result;
}

/* ---- erasure ------------------------------------------------------------- */

/* Runs one statement with ?1 org and ?2 k bound; for the rare erasure, so it
 * is prepared per call rather than kept. */
static int replica__erase_exec(replica_t *r, const char *sql, int64_t org, proto_str_t k) {
  sqlite3_stmt *st = NULL;
  int rc;

  if (replica__prepare(r, sql, &st) != 0)
    return PROTO_ESTORAGE;
  if (replica__bind_keys(st, org, k, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return PROTO_ESTORAGE;
  }
  rc = replica__exec(r, st);
  sqlite3_finalize(st);
  return rc;
}

/* An erasure op (GDPR) removes everything this replica holds about one
 * participant: the participant row (with its field clocks), their check-in
 * sources and merged check-ins, and the conflict-log entries that name them; the
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
  snprintf(sql, sizeof(sql), "SELECT DISTINCT %s FROM %s WHERE org = ?1 AND %s = ?2",
           c->key_column, replica__rows_table(c), c->key2_column);
  if (replica__prepare(r, sql, &st) != 0)
    return PROTO_ESTORAGE;
  if (replica__bind_keys(st, org, participant, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return PROTO_ESTORAGE;
  }
  result = replica__collect_ids(st, &sessions, &n);
  sqlite3_finalize(st);
  if (result != 0)
    goto done;

  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1 AND %s = ?2",
           replica__rows_table(c), c->key2_column);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1 AND %s = ?2",
           REPLICA__MERGED_TABLE, c->key2_column);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1 AND %s = ?2", p->table,
           p->key_column);
  result = replica__erase_exec(r, sql, org, participant);
  if (result != 0)
    goto done;
  snprintf(sql, sizeof(sql),
           "DELETE FROM conflicts WHERE org = ?1 AND "
           "((rtype = %u AND k = ?2) OR (rtype = %u AND k2 = ?2))",
           (unsigned)p->id, (unsigned)c->id);
  result = replica__erase_exec(r, sql, org, participant);
  for (size_t i = 0; i < n && result == 0; i++)
    result = replica__rebuild_session(r, org, replica__id_str(&sessions[i]));

done:
  free(sessions);
  return result;
}

/* ---- apply --------------------------------------------------------------- */

/* Loads op's record into row (strings copied into r->row_text). */
static int replica__read_row(replica_t *r, int64_t org, const proto_op_t *op,
                             const schema_type_t *t, replica__row_t *row) {
  sqlite3_stmt *st = r->types[t->id].read_row;
  char *text = r->row_text;
  int rc;

  memset(row, 0, sizeof(*row));
  if (replica__bind_op_keys(st, org, t, op) != SQLITE_OK)
    goto sql_error;
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return 0;
  }
  if (rc != SQLITE_ROW)
    goto sql_error;
  row->exists = true;
  for (uint32_t i = 0; i < t->nfields; i++) {
    merge_slot_t *slot = &row->slot[i];
    int col = 5 * (int)i;
    if (sqlite3_column_type(st, col + 1) == SQLITE_NULL)
      continue; /* never written */
    slot->present = true;
    if (replica__column_value(st, col, t->fields[i].vtype, text, PROTO_MAX_TEXT_BYTES,
                              &slot->value) != 0)
      goto sql_error;
    if (slot->value.type == PROTO_STR)
      text += slot->value.u.s.len;
    slot->hlc = (uint64_t)sqlite3_column_int64(st, col + 1);
    if (replica__column_str(st, col + 2, text, PROTO_MAX_ID_BYTES, &slot->device) != 0)
      goto sql_error;
    text += slot->device.len;
    slot->seq = (uint64_t)sqlite3_column_int64(st, col + 3);
    slot->server_seq = (uint64_t)sqlite3_column_int64(st, col + 4);
  }
  if (t->id == SCHEMA_MESSAGE &&
      replica__column_str(st, 5 * (int)t->nfields, text, PROTO_MAX_ID_BYTES, &row->author) != 0)
    goto sql_error;
  sqlite3_reset(st);
  return 0;

sql_error:
  fprintf(stderr, "replica: reading a %s: %s\n", t->name, sqlite3_errmsg(r->db));
  sqlite3_reset(st);
  return PROTO_ESTORAGE;
}

/* Stores row as op's record: a new row when it did not exist, else every
 * field of the existing one. */
static int replica__write_row(replica_t *r, int64_t org, const proto_op_t *op,
                              const schema_type_t *t, const replica__row_t *row) {
  sqlite3_stmt *st = row->exists ? r->types[t->id].update_row : r->types[t->id].insert_row;

  if (replica__bind_op_keys(st, org, t, op) != SQLITE_OK)
    goto fail;
  for (uint32_t i = 0; i < t->nfields; i++) {
    const merge_slot_t *slot = &row->slot[i];
    int p = REPLICA__P_FIELD(i);
    if (!slot->present) {
      for (int c = 0; c < 5; c++)
        if (sqlite3_bind_null(st, p + c) != SQLITE_OK)
          goto fail;
      continue;
    }
    if (replica__bind_value_at(st, p, &slot->value) != SQLITE_OK ||
        sqlite3_bind_int64(st, p + 1, (int64_t)slot->hlc) != SQLITE_OK ||
        replica__bind_str_at(st, p + 2, slot->device) != SQLITE_OK ||
        sqlite3_bind_int64(st, p + 3, (int64_t)slot->seq) != SQLITE_OK ||
        sqlite3_bind_int64(st, p + 4, (int64_t)slot->server_seq) != SQLITE_OK)
      goto fail;
  }
  if (!row->exists && t->id == SCHEMA_MESSAGE &&
      (replica__bind_str_at(st, REPLICA__P_AUTHOR(t->nfields), op->device) != SQLITE_OK ||
       sqlite3_bind_int64(st, REPLICA__P_POSTED(t->nfields), HLC_MS(op->hlc)) != SQLITE_OK))
    goto fail;
  return replica__exec(r, st);

fail:
  sqlite3_reset(st);
  return PROTO_ESTORAGE;
}

static int replica__log_conflict(replica_t *r, int64_t org, const proto_op_t *op,
                                 const schema_field_t *f, const merge_slot_t *kept,
                                 const merge_slot_t *lost) {
  sqlite3_stmt *st = r->put_conflict;
  if (replica__bind_keys(st, org, op->key, &op->key2) != SQLITE_OK ||
      sqlite3_bind_int(st, 4, op->type) != SQLITE_OK ||
      sqlite3_bind_int(st, 5, f->id) != SQLITE_OK ||
      replica__bind_value_at(st, 6, &kept->value) != SQLITE_OK ||
      replica__bind_str_at(st, 7, kept->device) != SQLITE_OK ||
      sqlite3_bind_int64(st, 8, (int64_t)kept->hlc) != SQLITE_OK ||
      replica__bind_value_at(st, 9, &lost->value) != SQLITE_OK ||
      replica__bind_str_at(st, 10, lost->device) != SQLITE_OK ||
      sqlite3_bind_int64(st, 11, (int64_t)lost->hlc) != SQLITE_OK ||
      sqlite3_bind_int64(st, 12, (int64_t)lost->seq) != SQLITE_OK ||
      sqlite3_bind_int64(st, 13, (int64_t)lost->server_seq) != SQLITE_OK ||
      sqlite3_bind_int64(st, 14, replica__wall_ms()) != SQLITE_OK) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  return replica__exec(r, st);
}

/* The slot an op's field brings. */
static merge_slot_t replica__incoming(const proto_op_t *op, const proto_field_t *in) {
  merge_slot_t s;
  memset(&s, 0, sizeof(s));
  s.present = true;
  s.value = in->value;
  s.hlc = op->hlc;
  s.device = op->device;
  s.seq = op->seq;
  s.server_seq = op->server_seq;
  return s;
}

/* A counter field: the op's device's own slot, one row per device. */
static int replica__apply_counter(replica_t *r, int64_t org, const proto_op_t *op,
                                  const schema_type_t *t, const proto_field_t *in) {
  replica__type_stmts_t *s = &r->types[t->id];
  const schema_field_t *f = schema_field(t, in->id);
  merge_slot_t cur, incoming = replica__incoming(op, in);
  bool conflict = false;
  int rc;

  memset(&cur, 0, sizeof(cur));
  if (replica__bind_keys(s->counter_read, org, op->key, NULL) != SQLITE_OK ||
      replica__bind_str_at(s->counter_read, REPLICA__P_DEVICE, op->device) != SQLITE_OK) {
    sqlite3_reset(s->counter_read);
    return PROTO_ESTORAGE;
  }
  rc = sqlite3_step(s->counter_read);
  if (rc == SQLITE_ROW) {
    /* Counter slots are ordered by device_seq alone. */
    cur.present = true;
    cur.value.type = PROTO_INT;
    cur.value.u.i = sqlite3_column_int64(s->counter_read, 0);
    cur.device = op->device;
    cur.seq = (uint64_t)sqlite3_column_int64(s->counter_read, 1);
  }
  sqlite3_reset(s->counter_read);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fprintf(stderr, "replica: reading a %s: %s\n", t->name, sqlite3_errmsg(r->db));
    return PROTO_ESTORAGE;
  }
  if (merge_field(f->rule, &cur, &incoming, op->base, &conflict) != MERGE_TAKE)
    return 0;
  if (replica__bind_keys(s->counter_write, org, op->key, NULL) != SQLITE_OK ||
      replica__bind_str_at(s->counter_write, REPLICA__P_DEVICE, op->device) != SQLITE_OK ||
      replica__bind_value_at(s->counter_write, REPLICA__P_VALUE, &in->value) != SQLITE_OK ||
      sqlite3_bind_int64(s->counter_write, REPLICA__P_SEQ, (int64_t)op->seq) != SQLITE_OK) {
    sqlite3_reset(s->counter_write);
    return PROTO_ESTORAGE;
  }
  return replica__exec(r, s->counter_write);
}

static bool replica__op_sets(const proto_op_t *op, uint8_t field_id) {
  for (uint32_t i = 0; i < op->nfields; i++)
    if (op->fields[i].id == field_id)
      return true;
  return false;
}

/* Messages are append-only with one author: refusals are decided before
 * anything is written, so a refused op changes nothing. */
static int replica__check_message(replica_t *r, const proto_op_t *op, const replica__row_t *row) {
  if (row->exists)
    return proto_str_eq(row->author, op->device) ? 0 : PROTO_ENOT_AUTHOR;
  if (!replica__op_sets(op, r->message_activity) || !replica__op_sets(op, r->message_body))
    return PROTO_EINVALID_OP;
  return 0;
}

int replica_apply(replica_t *r, int64_t org, const proto_op_t *op) {
  const schema_type_t *t;
  replica__row_t row;
  bool changed = false, merged_into_changed = false;
  int rc;

  if (op->device.len == 0 || op->device.len > PROTO_MAX_ID_BYTES)
    return PROTO_EINVALID_OP;
  rc = schema_validate_op(op);
  if (rc != 0)
    return rc;
  t = schema_type(op->type);
  assert(t != NULL);

  if (replica__per_device(t)) {
    for (uint32_t i = 0; i < op->nfields; i++) {
      rc = replica__apply_counter(r, org, op, t, &op->fields[i]);
      if (rc != 0)
        return rc;
    }
    return 0;
  }

  rc = replica__read_row(r, org, op, t, &row);
  if (rc != 0)
    return rc;
  if (t->id == SCHEMA_MESSAGE) {
    rc = replica__check_message(r, op, &row);
    if (rc != 0)
      return rc;
  }
  if (t->id == SCHEMA_ERASURE) {
    rc = replica__erase(r, org, op->key);
    if (rc != 0)
      return rc;
  }

  for (uint32_t i = 0; i < op->nfields; i++) {
    const schema_field_t *f = schema_field(t, op->fields[i].id);
    merge_slot_t *slot, cur, incoming = replica__incoming(op, &op->fields[i]);
    merge_decision_t decision;
    bool conflict = false;

    assert(f != NULL); /* schema_validate_op passed */
    slot = &row.slot[f - t->fields];
    cur = *slot;
    decision = merge_field(f->rule, &cur, &incoming, op->base, &conflict);
    if (decision == MERGE_TAKE) {
      *slot = incoming;
      changed = true;
      merged_into_changed |= f->id == r->participant_merged_into && t->id == SCHEMA_PARTICIPANT;
    }
    if (conflict && r->opts.log_conflicts) {
      rc = decision == MERGE_TAKE ? replica__log_conflict(r, org, op, f, &incoming, &cur)
                                  : replica__log_conflict(r, org, op, f, &cur, &incoming);
      if (rc != 0)
        return rc;
    }
  }

  /* An op that changed nothing (applied again, or lost everywhere) writes
   * nothing, and the merged check-ins stay as they are. */
  if (row.exists && !changed)
    return 0;
  rc = replica__write_row(r, org, op, t, &row);
  if (rc != 0)
    return rc;
  if (t->id == SCHEMA_CHECKIN)
    return replica__refresh_checkin(r, org, op->key, op->key2);
  if (merged_into_changed)
    return replica__remerge(r, org, op->key);
  return 0;
}

int replica_rebase_own(replica_t *r, int64_t org, const proto_op_t *op) {
  const schema_type_t *t = schema_type(op->type);
  sqlite3_stmt *st;
  int rc;

  /* Counter slots carry no clock; an unknown type wrote nothing. */
  if (t == NULL || replica__per_device(t))
    return 0;
  st = r->types[t->id].rebase;
  if (replica__bind_op_keys(st, org, t, op) != SQLITE_OK ||
      replica__bind_str_at(st, 4, op->device) != SQLITE_OK ||
      sqlite3_bind_int64(st, 5, (int64_t)op->seq) != SQLITE_OK ||
      sqlite3_bind_int64(st, 6, (int64_t)op->hlc) != SQLITE_OK ||
      sqlite3_bind_int64(st, 7, (int64_t)op->server_seq) != SQLITE_OK ||
      (t->id == SCHEMA_MESSAGE && sqlite3_bind_int64(st, 8, HLC_MS(op->hlc)) != SQLITE_OK)) {
    sqlite3_reset(st);
    return PROTO_ESTORAGE;
  }
  rc = replica__exec(r, st);
  if (rc != 0 || t->id != SCHEMA_CHECKIN)
    return rc;
  /* A check-in's new clock may change which source wins its merged row. */
  return replica__refresh_checkin(r, org, op->key, op->key2);
}
