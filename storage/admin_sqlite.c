/* admin_sqlite.c — turfctl's synchronous work on the SQLite server database
 * (see admin_db.h).
 *
 * Owns one connection (opened and migrated through store_open_sync) with a
 * replica_t and a scope_t prepared on it; statements here are prepared per
 * call, because an administrator's command runs a handful of them once.
 * Records are written as ops of the organisation's administrator device, a
 * device row with no token (it can never connect) named turfctl-<uuid>:
 * each op gets the next device_seq and server_seq, an HLC after every HLC
 * the organisation holds, and goes through the same merge and scope code
 * as a pushed op. */
#include "admin_db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "frame.h"
#include "hlc.h"
#include "replica.h"
#include "schema.h"
#include "scope.h"
#include "store.h"

#define ADB__ADMIN_APP "turfctl"
#define ADB__CODE_LEN 8
#define ADB__BACKUP_RETRY_MS 100
#define ADB__BACKUP_TRIES 300 /* 30 s of a busy source before giving up */
/* ISO-8601 UTC of a column of ms since the epoch, NULL stays NULL. */
#define ADB__ISO(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col " / 1000, 'unixepoch')"

struct admin_db_s {
  sqlite3 *db;
  replica_t *replica;
  scope_t *scope;
};

/* ---- helpers --------------------------------------------------------------- */

static int adb__fail(admin_db_t *a, const char *what) {
  fprintf(stderr, "turfctl: %s: %s\n", what, sqlite3_errmsg(a->db));
  return PROTO_ESTORAGE;
}

static int adb__bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int adb__bad(const char *fmt, ...) {
  va_list ap;
  fputs("turfctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return PROTO_EBAD_FIELD;
}

static int adb__exec(admin_db_t *a, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(a->db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "turfctl: %s: %s\n", sql, err ? err : sqlite3_errmsg(a->db));
    sqlite3_free(err);
    return PROTO_ESTORAGE;
  }
  return 0;
}

static int adb__begin(admin_db_t *a) { return adb__exec(a, "BEGIN IMMEDIATE"); }

/* Commits when rc is 0, else rolls back; returns rc or the commit's error. */
static int adb__end(admin_db_t *a, int rc) {
  if (rc == 0)
    rc = adb__exec(a, "COMMIT");
  if (rc != 0 && !sqlite3_get_autocommit(a->db))
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int adb__prepare(admin_db_t *a, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK) {
    *st = NULL;
    return adb__fail(a, "prepare");
  }
  return 0;
}

/* Steps a statement that returns no rows and finalizes it. */
static int adb__run(admin_db_t *a, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) {
    adb__fail(a, sqlite3_sql(st));
    sqlite3_finalize(st);
    return PROTO_ESTORAGE;
  }
  sqlite3_finalize(st);
  return 0;
}

static void adb__bind_text(sqlite3_stmt *st, int i, const char *s) {
  if (s == NULL)
    sqlite3_bind_null(st, i);
  else
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* A one-value SELECT with ?1 = org and ?2 = text, bound when the statement
 * has them (one that needs only the text still names ?1, as "?1 = ?1", to
 * keep the numbering); *found says whether a row came; its first column
 * goes to text_out (may be NULL) or int_out (may be NULL). */
static int adb__query(admin_db_t *a, const char *sql, int64_t org, const char *text, bool *found,
                      char *text_out, size_t text_size, int64_t *int_out) {
  sqlite3_stmt *st;
  int rc;

  *found = false;
  if (adb__prepare(a, sql, &st) != 0)
    return PROTO_ESTORAGE;
  if (sqlite3_bind_parameter_count(st) >= 1)
    sqlite3_bind_int64(st, 1, org);
  if (sqlite3_bind_parameter_count(st) >= 2)
    adb__bind_text(st, 2, text);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *found = true;
    if (text_out != NULL) {
      const unsigned char *v = sqlite3_column_text(st, 0);
      snprintf(text_out, text_size, "%s", v ? (const char *)v : "");
    }
    if (int_out != NULL)
      *int_out = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return adb__fail(a, sql);
  return 0;
}

/* UUIDv7 text: 48-bit ms timestamp, version 7, variant 10, random rest. */
static int adb__uuid7(int64_t now_ms, char out[ADMIN_DB_ID_SIZE]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1)
    return PROTO_EINTERNAL;
  for (int i = 0; i < 6; i++)
    b[i] = (unsigned char)((uint64_t)now_ms >> (40 - 8 * i));
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, ADMIN_DB_ID_SIZE,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
  return 0;
}

/* Prints every row of a statement (already bound) as tab-separated text
 * under header; NULL prints as "-". Finalizes st. */
static int adb__print(admin_db_t *a, sqlite3_stmt *st, const char *header, FILE *out) {
  int rc, ncol = sqlite3_column_count(st);

  fprintf(out, "%s\n", header);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < ncol; i++) {
      const unsigned char *v = sqlite3_column_text(st, i);
      fprintf(out, "%s%s", i ? "\t" : "", v ? (const char *)v : "-");
    }
    fputc('\n', out);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return adb__fail(a, "list");
  return 0;
}

/* ---- open ------------------------------------------------------------------ */

admin_db_t *admin_db_open(const char *path) {
  replica_options_t ropts = {.log_conflicts = true};
  admin_db_t *a = calloc(1, sizeof(*a));

  if (a == NULL)
    return NULL;
  if (store_open_sync(path, &a->db) != 0)
    goto fail;
  a->replica = replica_open(a->db, &ropts);
  a->scope = a->replica ? scope_open(a->db) : NULL;
  if (a->scope == NULL)
    goto fail;
  return a;

fail:
  fprintf(stderr, "turfctl: cannot open the database %s\n", path);
  admin_db_close(a);
  return NULL;
}

void admin_db_close(admin_db_t *a) {
  if (a == NULL)
    return;
  scope_close(a->scope);
  replica_close(a->replica);
  sqlite3_close(a->db);
  free(a);
}

/* ---- writing ops ----------------------------------------------------------- */

/* One transaction's worth of administrator ops for one organisation. */
typedef struct {
  admin_db_t *a;
  int64_t org;
  int64_t now_ms;
  char device[ADMIN_DB_ID_SIZE];
  uint64_t last_seq; /* the device's */
  uint64_t head;     /* the organisation's */
  hlc_t clock;
  proto_buf_t blob;
} adb__writer_t;

/* Finds (or makes) org's administrator device and reads where the
 * organisation's log stands. Inside the caller's transaction. */
static int adb__writer_start(adb__writer_t *w, admin_db_t *a, int64_t org, int64_t now_ms) {
  sqlite3_stmt *st;
  int64_t v = 0;
  bool found;
  int rc;

  memset(w, 0, sizeof(*w));
  w->a = a;
  w->org = org;
  w->now_ms = now_ms;
  proto_buf_init(&w->blob, 0);
  rc = adb__query(a,
                  "SELECT id FROM devices WHERE org = ?1 AND app = '" ADB__ADMIN_APP
                  "' AND token_hash IS NULL AND revoked = 0 ORDER BY created_ms LIMIT 1",
                  org, NULL, &found, w->device, sizeof(w->device), NULL);
  if (rc != 0)
    return rc;
  if (!found) {
    char uuid[ADMIN_DB_ID_SIZE];
    if (adb__uuid7(now_ms, uuid) != 0)
      return PROTO_EINTERNAL;
    snprintf(w->device, sizeof(w->device), "turfctl-%.36s", uuid); /* 44 bytes */
    if (adb__prepare(a,
                     "INSERT INTO devices (id, org, name, app, created_ms) "
                     "VALUES (?1, ?2, 'Administrator (turfctl)', '" ADB__ADMIN_APP "', ?3)",
                     &st) != 0)
      return PROTO_ESTORAGE;
    sqlite3_bind_text(st, 1, w->device, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, org);
    sqlite3_bind_int64(st, 3, now_ms);
    if (adb__run(a, st) != 0)
      return PROTO_ESTORAGE;
  }
  rc = adb__query(a, "SELECT last_seq FROM devices WHERE ?1 = ?1 AND id = ?2", 0, w->device,
                  &found, NULL, 0, &v);
  if (rc != 0)
    return rc;
  w->last_seq = (uint64_t)v;
  rc = adb__query(a, "SELECT head FROM orgs WHERE id = ?1", org, NULL, &found, NULL, 0, &v);
  if (rc != 0)
    return rc;
  if (!found)
    return adb__bad("no organisation %" PRId64, org);
  w->head = (uint64_t)v;
  /* After every HLC the organisation holds, so the administrator's write
   * wins over what it replaces. */
  rc = adb__query(a, "SELECT COALESCE(MAX(hlc), 0) FROM ops WHERE org = ?1", org, NULL, &found,
                  NULL, 0, &v);
  if (rc != 0)
    return rc;
  hlc_init(&w->clock, (uint64_t)v);
  return 0;
}

/* Commits one op exactly as a push would. */
static int adb__writer_put(adb__writer_t *w, uint8_t type, const char *key, const char *key2,
                           proto_field_t *fields, uint32_t nfields) {
  admin_db_t *a = w->a;
  scope_where_t where;
  sqlite3_stmt *st;
  proto_op_t op;
  int rc;

  memset(&op, 0, sizeof(op));
  op.device = proto_str(w->device);
  op.seq = w->last_seq + 1;
  op.hlc = hlc_now(&w->clock, w->now_ms);
  op.base = w->head; /* the administrator has seen everything */
  op.server_seq = w->head + 1;
  op.type = type;
  op.key = proto_str(key);
  op.key2 = proto_str(key2);
  op.nfields = nfields;
  op.fields = fields;
  rc = schema_validate_op(&op);
  if (rc == 0)
    rc = scope_check_op(a->scope, w->org, NULL, &op, &where);
  if (rc == 0)
    rc = replica_apply(a->replica, w->org, &op);
  if (rc != 0) {
    fprintf(stderr, "turfctl: the %s op was refused: %s\n",
            schema_type(type) ? schema_type(type)->name : "?", proto_strerror(rc));
    return rc == PROTO_ESTORAGE ? rc : PROTO_EBAD_FIELD;
  }
  w->blob.len = 0;
  if (proto_encode_fields(&op, &w->blob) != 0)
    return PROTO_EBAD_FIELD;
  if (adb__prepare(a,
                   "INSERT INTO ops (org, server_seq, device, seq, hlc, rtype, k, k2, base, "
                   "fields, loc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                   &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_int64(st, 1, w->org);
  sqlite3_bind_int64(st, 2, (int64_t)op.server_seq);
  sqlite3_bind_text(st, 3, w->device, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, (int64_t)op.seq);
  sqlite3_bind_int64(st, 5, (int64_t)op.hlc);
  sqlite3_bind_int(st, 6, type);
  sqlite3_bind_text(st, 7, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 8, key2 ? key2 : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 9, (int64_t)op.base);
  sqlite3_bind_blob(st, 10, proto_buf_data(&w->blob), (int)w->blob.len, SQLITE_TRANSIENT);
  scope_bind_where(st, 11, &where);
  if (adb__run(a, st) != 0 || scope_note_op(a->scope, w->org, &op, &where, NULL) != 0)
    return PROTO_ESTORAGE;
  w->last_seq = op.seq;
  w->head = op.server_seq;
  return 0;
}

/* Records where the device and the organisation now stand; frees w. */
static int adb__writer_finish(adb__writer_t *w, int rc) {
  sqlite3_stmt *st;

  if (rc == 0 && adb__prepare(w->a, "UPDATE devices SET last_seq = ?2, last_seen_ms = ?3 "
                                    "WHERE id = ?1", &st) == 0) {
    sqlite3_bind_text(st, 1, w->device, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (int64_t)w->last_seq);
    sqlite3_bind_int64(st, 3, w->now_ms);
    rc = adb__run(w->a, st);
    if (rc == 0 && adb__prepare(w->a, "UPDATE orgs SET head = ?2 WHERE id = ?1", &st) == 0) {
      sqlite3_bind_int64(st, 1, w->org);
      sqlite3_bind_int64(st, 2, (int64_t)w->head);
      rc = adb__run(w->a, st);
    } else if (rc == 0) {
      rc = PROTO_ESTORAGE;
    }
  } else if (rc == 0) {
    rc = PROTO_ESTORAGE;
  }
  proto_buf_dispose(&w->blob);
  return rc;
}

static proto_field_t adb__fstr(uint8_t id, const char *s) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_STR, .u.s = proto_str(s)}};
  return f;
}

static proto_field_t adb__fint(uint8_t id, int64_t i) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_INT, .u.i = i}};
  return f;
}

static proto_field_t adb__fbool(uint8_t id, bool b) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_BOOL, .u.b = b}};
  return f;
}

/* The field id named name of a record type (0: none). */
static uint8_t adb__field(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; t != NULL && i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  return 0;
}

/* Writes one record op in its own transaction, under a fresh id. */
/* Writes a new record of type; its id is id_out as given when that is not
 * empty, else a new UUIDv7 written there. */
static int adb__create(admin_db_t *a, int64_t org, uint8_t type, proto_field_t *fields,
                       uint32_t n, int64_t now_ms, char id_out[ADMIN_DB_ID_SIZE]) {
  adb__writer_t w;
  int rc;

  if (id_out[0] == '\0' && adb__uuid7(now_ms, id_out) != 0)
    return PROTO_EINTERNAL;
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__writer_start(&w, a, org, now_ms);
  if (rc == 0)
    rc = adb__writer_put(&w, type, id_out, NULL, fields, n);
  rc = adb__writer_finish(&w, rc);
  return adb__end(a, rc);
}

/* ---- organisations and records --------------------------------------------- */

int admin_db_org_create(admin_db_t *a, const char *name, int64_t now_ms, int64_t *org_out) {
  adb__writer_t w;
  sqlite3_stmt *st;
  bool found;
  int64_t id;
  int rc;

  if (name == NULL || name[0] == '\0' || strlen(name) > PROTO_MAX_TEXT_BYTES)
    return adb__bad("an organisation needs a name of 1..%d bytes", PROTO_MAX_TEXT_BYTES);
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__query(a, "SELECT id FROM orgs WHERE ?1 = ?1 AND name = ?2", 0, name, &found, NULL,
                  0, &id);
  if (rc == 0 && found)
    rc = adb__bad("an organisation named \"%s\" exists already (id %" PRId64 ")", name, id);
  if (rc == 0 &&
      (rc = adb__prepare(a, "INSERT INTO orgs (name, created_ms) VALUES (?1, ?2)", &st)) == 0) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = adb__run(a, st);
  }
  if (rc == 0) {
    *org_out = sqlite3_last_insert_rowid(a->db);
    /* Its administrator device exists from the start, so no device can
     * take that id first. */
    rc = adb__writer_start(&w, a, *org_out, now_ms);
    proto_buf_dispose(&w.blob);
  }
  return adb__end(a, rc);
}

int admin_db_org_find(admin_db_t *a, const char *arg, int64_t *org_out) {
  char *end;
  bool found;
  int rc;

  errno = 0;
  long long id = strtoll(arg, &end, 10);
  if (errno == 0 && end != arg && *end == '\0') {
    rc = adb__query(a, "SELECT id FROM orgs WHERE id = ?1", id, NULL, &found, NULL, 0, org_out);
    if (rc != 0 || found)
      return rc;
  }
  rc = adb__query(a, "SELECT id FROM orgs WHERE ?1 = ?1 AND name = ?2", 0, arg, &found, NULL, 0,
                  org_out);
  if (rc == 0 && !found)
    return adb__bad("no organisation \"%s\" (see `turfctl org list`)", arg);
  return rc;
}

int admin_db_org_list(admin_db_t *a, FILE *out) {
  sqlite3_stmt *st;
  if (adb__prepare(a,
                   "SELECT o.id, o.name, o.head, (SELECT count(*) FROM devices d "
                   "WHERE d.org = o.id AND d.token_hash IS NOT NULL), " ADB__ISO("o.created_ms")
                   ", o.tz FROM orgs o ORDER BY o.id",
                   &st) != 0)
    return PROTO_ESTORAGE;
  return adb__print(a, st, "id\tname\thead\tdevices\tcreated\ttz", out);
}

int admin_db_org_tz(admin_db_t *a, int64_t org, char tz[ZONE_NAME_MAX + 1]) {
  bool found;
  int rc = adb__query(a, "SELECT tz FROM orgs WHERE id = ?1", org, NULL, &found, tz,
                      ZONE_NAME_MAX + 1, NULL);
  if (rc == 0 && !found)
    return adb__bad("no organisation %" PRId64, org);
  return rc;
}

int admin_db_org_set_tz(admin_db_t *a, int64_t org, const char *tz) {
  zone_t *zone = zone_load(tz);
  sqlite3_stmt *st;
  int rc;

  if (zone == NULL)
    return adb__bad("\"%s\" is not a time zone of this machine's time zone database "
                    "(names such as Europe/Amsterdam; see /usr/share/zoneinfo)", tz ? tz : "");
  zone_free(zone);
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__prepare(a, "UPDATE orgs SET tz = ?2 WHERE id = ?1", &st);
  if (rc == 0) {
    sqlite3_bind_int64(st, 1, org);
    sqlite3_bind_text(st, 2, tz, -1, SQLITE_TRANSIENT);
    rc = adb__run(a, st);
  }
  return adb__end(a, rc);
}

int admin_db_find(admin_db_t *a, int64_t org, uint8_t type, const char *arg,
                  char id_out[ADMIN_DB_ID_SIZE]) {
  const schema_type_t *t = schema_type(type);
  char sql[256];
  sqlite3_stmt *st;
  int rc, n = 0;
  bool found;

  if (t == NULL || arg == NULL || arg[0] == '\0')
    return adb__bad("nothing to look up");
  snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE org = ?1 AND %s = ?2", t->key_column,
           t->table, t->key_column);
  rc = adb__query(a, sql, org, arg, &found, id_out, ADMIN_DB_ID_SIZE, NULL);
  if (rc != 0 || found)
    return rc;
  if (adb__field(type, "name") == 0)
    return adb__bad("no %s \"%s\" in this organisation", t->name, arg);
  snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE org = ?1 AND name = ?2 LIMIT 2",
           t->key_column, t->table);
  if (adb__prepare(a, sql, &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_int64(st, 1, org);
  sqlite3_bind_text(st, 2, arg, -1, SQLITE_TRANSIENT);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n++ == 0)
      snprintf(id_out, ADMIN_DB_ID_SIZE, "%s", (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return adb__fail(a, "lookup");
  if (n == 0)
    return adb__bad("no %s \"%s\" in this organisation", t->name, arg);
  if (n > 1)
    return adb__bad("several %ss are named \"%s\"; give the id", t->name, arg);
  return 0;
}

static int adb__check_name(const char *what, const char *name) {
  if (name == NULL || name[0] == '\0' || strlen(name) > 200)
    return adb__bad("a %s needs a name of 1..200 bytes", what);
  return 0;
}

int admin_db_location_create(admin_db_t *a, int64_t org, const char *name, int64_t now_ms,
                             char id_out[ADMIN_DB_ID_SIZE]) {
  proto_field_t f[1];
  if (adb__check_name("location", name) != 0)
    return PROTO_EBAD_FIELD;
  f[0] = adb__fstr(adb__field(SCHEMA_LOCATION, "name"), name);
  id_out[0] = '\0';
  return adb__create(a, org, SCHEMA_LOCATION, f, 1, now_ms, id_out);
}

int admin_db_activity_create(admin_db_t *a, int64_t org, const char *location,
                             const char *name, int weekday, const char *start, int64_t now_ms,
                             char id_out[ADMIN_DB_ID_SIZE]) {
  char loc[ADMIN_DB_ID_SIZE];
  proto_field_t f[4];
  uint32_t n = 0;
  int rc;

  if (adb__check_name("activity", name) != 0)
    return PROTO_EBAD_FIELD;
  rc = admin_db_find(a, org, SCHEMA_LOCATION, location, loc);
  if (rc != 0)
    return rc;
  f[n++] = adb__fstr(adb__field(SCHEMA_ACTIVITY, "location"), loc);
  f[n++] = adb__fstr(adb__field(SCHEMA_ACTIVITY, "name"), name);
  if (weekday != 0)
    f[n++] = adb__fint(adb__field(SCHEMA_ACTIVITY, "weekday"), weekday);
  if (start != NULL)
    f[n++] = adb__fstr(adb__field(SCHEMA_ACTIVITY, "start_time"), start);
  id_out[0] = '\0';
  return adb__create(a, org, SCHEMA_ACTIVITY, f, n, now_ms, id_out);
}

int admin_db_session_create(admin_db_t *a, int64_t org, const char *activity, const char *date,
                            const char *start, int64_t now_ms, char id_out[ADMIN_DB_ID_SIZE]) {
  char act[ADMIN_DB_ID_SIZE];
  proto_field_t f[4];
  uint32_t n = 0;
  int rc;

  rc = admin_db_find(a, org, SCHEMA_ACTIVITY, activity, act);
  if (rc != 0)
    return rc;
  f[n++] = adb__fstr(adb__field(SCHEMA_SESSION, "activity"), act);
  f[n++] = adb__fstr(adb__field(SCHEMA_SESSION, "date"), date ? date : "");
  if (start != NULL)
    f[n++] = adb__fstr(adb__field(SCHEMA_SESSION, "start_time"), start);
  f[n++] = adb__fbool(adb__field(SCHEMA_SESSION, "cancelled"), false);
  /* The day's first session of an activity is named "<activity>-<date>",
   * as tablets name the session they start when none was prepared (and
   * turfd's demo its sessions): one prepared here and one a tablet started
   * offline are then one session. A second one that day gets its own id. */
  id_out[0] = '\0';
  size_t alen = strlen(act), dlen = date ? strlen(date) : 0;
  if (date && alen + 1 + dlen < ADMIN_DB_ID_SIZE) {
    char id[ADMIN_DB_ID_SIZE];
    bool taken;
    memcpy(id, act, alen);
    id[alen] = '-';
    memcpy(id + alen + 1, date, dlen + 1);
    rc = adb__query(a, "SELECT 1 FROM sessions WHERE org = ?1 AND id = ?2", org, id, &taken, NULL,
                    0, NULL);
    if (rc != 0)
      return rc;
    if (!taken)
      memcpy(id_out, id, alen + 1 + dlen + 1);
  }
  return adb__create(a, org, SCHEMA_SESSION, f, n, now_ms, id_out);
}

int admin_db_session_cancel(admin_db_t *a, int64_t org, const char *session, bool cancelled,
                            int64_t now_ms) {
  char id[ADMIN_DB_ID_SIZE];
  proto_field_t f[1];
  int rc = admin_db_find(a, org, SCHEMA_SESSION, session, id);
  if (rc != 0)
    return rc;
  /* An op on the existing id: only the field it names changes. */
  f[0] = adb__fbool(adb__field(SCHEMA_SESSION, "cancelled"), cancelled);
  return adb__create(a, org, SCHEMA_SESSION, f, 1, now_ms, id);
}

static int adb__list(admin_db_t *a, int64_t org, const char *text, const char *sql,
                     const char *header, FILE *out) {
  sqlite3_stmt *st;
  if (adb__prepare(a, sql, &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_int64(st, 1, org);
  if (sqlite3_bind_parameter_count(st) >= 2)
    adb__bind_text(st, 2, text);
  return adb__print(a, st, header, out);
}

int admin_db_location_list(admin_db_t *a, int64_t org, FILE *out) {
  return adb__list(a, org, NULL, "SELECT id, name FROM locations WHERE org = ?1 ORDER BY name, id",
                   "id\tname", out);
}

int admin_db_activity_list(admin_db_t *a, int64_t org, FILE *out) {
  return adb__list(a, org, NULL,
                   "SELECT a.id, a.location, l.name, a.name, a.weekday, a.start_time "
                   "FROM activities a LEFT JOIN locations l ON l.org = a.org AND l.id = a.location "
                   "WHERE a.org = ?1 ORDER BY l.name, a.name, a.id",
                   "id\tlocation\tlocation_name\tname\tweekday\tstart", out);
}

int admin_db_session_list(admin_db_t *a, int64_t org, const char *date, FILE *out) {
  return adb__list(a, org, date,
                   "SELECT s.id, s.date, s.start_time, s.activity, a.name, s.cancelled "
                   "FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity "
                   "WHERE s.org = ?1 AND (?2 IS NULL OR s.date = ?2) "
                   "ORDER BY s.date, s.start_time, a.name",
                   "id\tdate\tstart\tactivity\tactivity_name\tcancelled", out);
}

int admin_db_participant_list(admin_db_t *a, int64_t org, FILE *out) {
  return adb__list(a, org, NULL,
                   "SELECT id, name, " ADB__ISO("first_seen") " FROM participants "
                   "WHERE org = ?1 ORDER BY name, id",
                   "id\tname\tfirst_seen", out);
}

/* ---- devices ---------------------------------------------------------------- */

int admin_db_enroll(admin_db_t *a, int64_t org, const char *const *locations, uint32_t n,
                    int64_t ttl_ms, uint32_t uses, int64_t now_ms,
                    char code_out[ADMIN_DB_ID_SIZE]) {
  /* 32 symbols (no 0/O, 1/I), so a byte mod 32 has no bias. */
  static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  sqlite3_stmt *st;
  int rc = 0;
  bool found;

  if (ttl_ms <= 0 || uses == 0)
    return adb__bad("a code needs a lifetime and at least one use");
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    rc = adb__query(a, "SELECT 1 FROM locations WHERE org = ?1 AND id = ?2", org, locations[i],
                    &found, NULL, 0, NULL);
    if (rc == 0 && !found)
      rc = adb__bad("no location %s in this organisation", locations[i]);
  }
  for (int attempt = 0; rc == 0; attempt++) {
    unsigned char raw[ADB__CODE_LEN];
    if (attempt == 16 || RAND_bytes(raw, sizeof(raw)) != 1) {
      rc = PROTO_EINTERNAL;
      break;
    }
    for (int i = 0; i < ADB__CODE_LEN; i++)
      code_out[i] = alphabet[raw[i] % 32];
    code_out[ADB__CODE_LEN] = '\0';
    rc = adb__prepare(a,
                      "INSERT OR IGNORE INTO enroll_codes (code, org, expires_ms, uses_left) "
                      "VALUES (?1, ?2, ?3, ?4)",
                      &st);
    if (rc != 0)
      break;
    sqlite3_bind_text(st, 1, code_out, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, org);
    sqlite3_bind_int64(st, 3, now_ms + ttl_ms);
    sqlite3_bind_int64(st, 4, uses);
    rc = adb__run(a, st);
    if (rc == 0 && sqlite3_changes(a->db) == 1)
      break; /* else that code exists: draw again */
  }
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    rc = adb__prepare(a, "INSERT OR IGNORE INTO enroll_code_locations (code, location) "
                         "VALUES (?1, ?2)", &st);
    if (rc != 0)
      break;
    sqlite3_bind_text(st, 1, code_out, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, locations[i], -1, SQLITE_TRANSIENT);
    rc = adb__run(a, st);
  }
  if (rc != 0)
    code_out[0] = '\0';
  return adb__end(a, rc);
}

int admin_db_device_list(admin_db_t *a, int64_t org, int64_t now_ms, FILE *out) {
  sqlite3_stmt *st;
  /* Devices the server made for itself (no token, never revoked) are not
   * tablets: left out. */
  if (adb__prepare(a,
                   "SELECT d.id, d.org, d.name, d.app, " ADB__ISO("d.created_ms") ", "
                   ADB__ISO("d.last_seen_ms") ", "
                   "CASE WHEN d.last_seen_ms IS NULL THEN NULL "
                   "ELSE (?2 - d.last_seen_ms) / 1000 END, "
                   "CASE WHEN d.revoked THEN 'revoked' WHEN d.online THEN 'online' "
                   "ELSE 'offline' END, d.last_seq, d.outbox, d.clock_offset_ms, "
                   "(SELECT group_concat(location, ',') FROM device_locations l "
                   "WHERE l.device = d.id) "
                   "FROM devices d WHERE (?1 = 0 OR d.org = ?1) "
                   "AND NOT (d.token_hash IS NULL AND d.revoked = 0) "
                   "ORDER BY d.org, d.name, d.id",
                   &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_int64(st, 1, org);
  sqlite3_bind_int64(st, 2, now_ms);
  return adb__print(a, st,
                    "id\torg\tname\tapp\tenrolled\tlast_sync\tseconds_ago\tstate\tlast_seq\t"
                    "outbox\tclock_offset_ms\tlocations",
                    out);
}

/* Reads a device's row: *found, and when found its organisation, whether
 * it has a token and whether it was revoked. */
static int adb__device(admin_db_t *a, const char *device, bool *found, int64_t *org,
                       bool *has_token, bool *revoked) {
  sqlite3_stmt *st;
  int step;

  *found = *has_token = *revoked = false;
  if (adb__prepare(a, "SELECT org, token_hash IS NOT NULL, revoked FROM devices WHERE id = ?1",
                   &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
  step = sqlite3_step(st);
  if (step == SQLITE_ROW) {
    *found = true;
    *org = sqlite3_column_int64(st, 0);
    *has_token = sqlite3_column_int(st, 1) != 0;
    *revoked = sqlite3_column_int(st, 2) != 0;
  }
  sqlite3_finalize(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return adb__fail(a, "device");
  return 0;
}

int admin_db_device_revoke(admin_db_t *a, const char *device, int64_t now_ms,
                           int64_t *org_out) {
  sqlite3_stmt *st;
  int rc;
  bool has_token = false, revoked = false, found = false;

  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__device(a, device, &found, org_out, &has_token, &revoked);
  if (rc == 0 && !found)
    rc = adb__bad("no device %s (see `turfctl device list`)", device);
  if (rc == 0 && !has_token && !revoked)
    rc = adb__bad("%s is the server's own device, not a tablet", device);
  /* The token hash goes too: nothing can bring the old token back. */
  if (rc == 0 && !revoked &&
      (rc = adb__prepare(a, "UPDATE devices SET revoked = 1, revoked_ms = ?2, "
                            "token_hash = NULL, online = 0 WHERE id = ?1", &st)) == 0) {
    sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = adb__run(a, st);
  }
  if (rc == 0 && revoked)
    fprintf(stderr, "turfctl: %s was revoked already\n", device);
  return adb__end(a, rc);
}

int admin_db_device_scope(admin_db_t *a, const char *device, const char *const *locations,
                          uint32_t n, char (*ids_out)[ADMIN_DB_ID_SIZE], bool *changed) {
  const char *ids[ADMIN_DB_MAX_LOCATIONS];
  bool has_token = false, revoked = false, found = false;
  int64_t org = 0;
  int rc;

  *changed = false;
  if (n > ADMIN_DB_MAX_LOCATIONS)
    return adb__bad("at most %d locations", ADMIN_DB_MAX_LOCATIONS);
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__device(a, device, &found, &org, &has_token, &revoked);
  if (rc == 0 && !found)
    rc = adb__bad("no device %s (see `turfctl device list`)", device);
  if (rc == 0 && revoked)
    rc = adb__bad("%s was revoked; a revoked device has no locations to change", device);
  if (rc == 0 && !has_token)
    rc = adb__bad("%s is the server's own device, not a tablet", device);
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    rc = admin_db_find(a, org, SCHEMA_LOCATION, locations[i], ids_out[i]);
    ids[i] = ids_out[i];
  }
  /* The locations and the generation that makes the device sync again
   * change together: a device never gets the new scope without being told
   * to drop what the old one gave it. */
  if (rc == 0)
    rc = scope_set_device(a->scope, proto_str(device), ids, n, changed);
  return adb__end(a, rc);
}

/* ---- coordinators ----------------------------------------------------------- */

static int adb__check_login(const char *login) {
  size_t n = login ? strlen(login) : 0;
  if (n == 0 || n > PROTO_MAX_ID_BYTES)
    return adb__bad("a login is 1..%d characters", PROTO_MAX_ID_BYTES);
  for (size_t i = 0; i < n; i++) {
    char c = login[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-' || c == '@'))
      return adb__bad("a login uses letters, digits and . _ - @ only");
  }
  return 0;
}

int admin_db_coordinator_create(admin_db_t *a, int64_t org, const char *login,
                                const char *name, const char *role, const char *password_hash,
                                int64_t now_ms) {
  sqlite3_stmt *st;
  bool found;
  int rc;

  if (adb__check_login(login) != 0)
    return PROTO_EBAD_FIELD;
  if (strcmp(role, "coordinator") != 0 && strcmp(role, "viewer") != 0)
    return adb__bad("a role is coordinator or viewer");
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__query(a, "SELECT 1 FROM coordinators WHERE ?1 = ?1 AND login = ?2", 0, login, &found,
                  NULL, 0, NULL);
  if (rc == 0 && found)
    rc = adb__bad("the login %s exists already", login);
  if (rc == 0 && (rc = adb__prepare(a,
                                    "INSERT INTO coordinators (org, login, name, role, "
                                    "password_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                    &st)) == 0) {
    sqlite3_bind_int64(st, 1, org);
    sqlite3_bind_text(st, 2, login, -1, SQLITE_TRANSIENT);
    adb__bind_text(st, 3, name);
    sqlite3_bind_text(st, 4, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, password_hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, now_ms);
    rc = adb__run(a, st);
  }
  return adb__end(a, rc);
}

int admin_db_coordinator_list(admin_db_t *a, int64_t org, FILE *out) {
  return adb__list(a, org, NULL,
                   "SELECT c.id, c.org, o.name, c.login, c.name, c.role, "
                   "CASE WHEN c.disabled THEN 'disabled' ELSE 'active' END, "
                   ADB__ISO("c.created_ms") " FROM coordinators c JOIN orgs o ON o.id = c.org "
                   "WHERE ?1 = 0 OR c.org = ?1 ORDER BY c.org, c.login",
                   "id\torg\torg_name\tlogin\tname\trole\tstate\tcreated", out);
}

static int adb__coordinator_update(admin_db_t *a, const char *login, const char *sql,
                                   const char *text, int64_t value) {
  sqlite3_stmt *st;
  int rc;

  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__prepare(a, sql, &st);
  if (rc == 0) {
    sqlite3_bind_text(st, 1, login, -1, SQLITE_TRANSIENT);
    if (text)
      sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    else
      sqlite3_bind_int64(st, 2, value);
    rc = adb__run(a, st);
  }
  if (rc == 0 && sqlite3_changes(a->db) != 1)
    rc = adb__bad("no coordinator with login %s", login);
  return adb__end(a, rc);
}

int admin_db_coordinator_set_password(admin_db_t *a, const char *login,
                                      const char *password_hash) {
  return adb__coordinator_update(
      a, login, "UPDATE coordinators SET password_hash = ?2 WHERE login = ?1", password_hash, 0);
}

int admin_db_coordinator_set_disabled(admin_db_t *a, const char *login, bool disabled) {
  return adb__coordinator_update(a, login, "UPDATE coordinators SET disabled = ?2 WHERE login = ?1",
                                 NULL, disabled ? 1 : 0);
}

/* ---- participants ------------------------------------------------------------ */

/* A participant and everyone merged into them (merged_into, followed
 * backwards), ids copied into *ids (caller frees). */
typedef struct {
  char (*ids)[ADMIN_DB_ID_SIZE];
  uint32_t n;
} adb__group_t;

static int adb__group(admin_db_t *a, int64_t org, const char *participant, adb__group_t *g) {
  sqlite3_stmt *st;
  uint32_t cap = 0;
  int rc;

  memset(g, 0, sizeof(*g));
  /* Without a merged_into field a participant is a group of one. */
  if (adb__field(SCHEMA_PARTICIPANT, "merged_into") == 0)
    rc = adb__prepare(a, "SELECT id FROM participants WHERE org = ?1 AND id = ?2", &st);
  else
    rc = adb__prepare(a,
                      "WITH RECURSIVE g(id) AS (SELECT ?2 UNION SELECT p.id FROM participants p "
                      "JOIN g ON p.org = ?1 AND p.merged_into = g.id) "
                      "SELECT id FROM g ORDER BY id",
                      &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, org);
  sqlite3_bind_text(st, 2, participant, -1, SQLITE_TRANSIENT);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (g->n == cap) {
      uint32_t ncap = cap ? cap * 2 : 4;
      void *grown = realloc(g->ids, ncap * sizeof(*g->ids));
      if (grown == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      g->ids = grown;
      cap = ncap;
    }
    snprintf(g->ids[g->n++], ADMIN_DB_ID_SIZE, "%s", (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    free(g->ids);
    memset(g, 0, sizeof(*g));
    return adb__fail(a, "participant group");
  }
  return 0;
}

static void adb__json_str(FILE *out, const char *s, int n) {
  fputc('"', out);
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c == '\t')
      fputs("\\t", out);
    else if (c < 0x20)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

static void adb__json_col(FILE *out, sqlite3_stmt *st, int col) {
  switch (sqlite3_column_type(st, col)) {
  case SQLITE_NULL:
    fputs("null", out);
    break;
  case SQLITE_INTEGER:
    fprintf(out, "%lld", (long long)sqlite3_column_int64(st, col));
    break;
  default: {
    const char *s = (const char *)sqlite3_column_text(st, col);
    adb__json_str(out, s ? s : "", sqlite3_column_bytes(st, col));
  }
  }
}

/* Prints every row of st as a JSON object (column names as keys) in an
 * array; finalizes st. */
static int adb__json_rows(admin_db_t *a, sqlite3_stmt *st, FILE *out) {
  int rc, n = 0, ncol = sqlite3_column_count(st);
  fputc('[', out);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    fputs(n++ ? ",\n    {" : "\n    {", out);
    for (int i = 0; i < ncol; i++) {
      const char *name = sqlite3_column_name(st, i);
      if (i)
        fputs(", ", out);
      adb__json_str(out, name, (int)strlen(name));
      fputs(": ", out);
      adb__json_col(out, st, i);
    }
    fputc('}', out);
  }
  sqlite3_finalize(st);
  fputs(n ? "\n  ]" : "]", out);
  if (rc != SQLITE_DONE)
    return adb__fail(a, "export");
  return 0;
}

int admin_db_participant_export(admin_db_t *a, int64_t org, const char *participant,
                                int64_t now_ms, FILE *out) {
  const schema_type_t *p = schema_type(SCHEMA_PARTICIPANT);
  const schema_type_t *c = schema_type(SCHEMA_CHECKIN);
  char sql[2048], in[64];
  size_t at;
  adb__group_t g;
  sqlite3_stmt *st;
  int rc;
  bool found;

  rc = adb__query(a, "SELECT 1 FROM participants WHERE org = ?1 AND id = ?2", org, participant,
                  &found, NULL, 0, NULL);
  if (rc != 0)
    return rc;
  if (!found)
    return adb__bad("no participant %s in this organisation", participant);
  /* One read transaction: the document is one snapshot. */
  if (adb__exec(a, "BEGIN") != 0)
    return PROTO_ESTORAGE;
  rc = adb__group(a, org, participant, &g);
  if (rc != 0)
    return adb__end(a, rc);
  /* The group's ids are the rows of a temporary table, so every query
   * below can say "IN (SELECT id FROM temp.adb_group)". */
  rc = adb__exec(a, "CREATE TEMP TABLE IF NOT EXISTS adb_group (id TEXT PRIMARY KEY);"
                    "DELETE FROM temp.adb_group");
  for (uint32_t i = 0; i < g.n && rc == 0; i++) {
    if ((rc = adb__prepare(a, "INSERT INTO temp.adb_group (id) VALUES (?1)", &st)) != 0)
      break;
    sqlite3_bind_text(st, 1, g.ids[i], -1, SQLITE_TRANSIENT);
    rc = adb__run(a, st);
  }
  free(g.ids);
  snprintf(in, sizeof(in), "IN (SELECT id FROM temp.adb_group)");

  if (rc == 0) {
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    char when[32] = "";
    if (gmtime_r(&secs, &tm) != NULL)
      strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(out, "{\n  \"format\": \"turf-participant-export/1\",\n  \"organisation\": %" PRId64
                 ",\n  \"exported\": \"%s\",\n  \"participant\": ",
            org, when);
    adb__json_str(out, participant, (int)strlen(participant));
    fputs(",\n  \"participants\": ", out);
    at = (size_t)snprintf(sql, sizeof(sql), "SELECT %s AS id", p->key_column);
    for (uint32_t i = 0; i < p->nfields; i++)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", p->fields[i].name);
    snprintf(sql + at, sizeof(sql) - at, " FROM %s WHERE org = ?1 AND %s %s ORDER BY %s",
             p->table, p->key_column, in, p->key_column);
    rc = adb__prepare(a, sql, &st);
    if (rc == 0) {
      sqlite3_bind_int64(st, 1, org);
      rc = adb__json_rows(a, st, out);
    }
  }
  if (rc == 0) {
    fputs(",\n  \"checkins\": ", out);
    at = (size_t)snprintf(sql, sizeof(sql),
                          "SELECT c.%s AS session, s.date, a.name AS activity, l.name AS "
                          "location, c.%s AS participant",
                          c->key_column, c->key2_column);
    for (uint32_t i = 0; i < c->nfields; i++)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", c.%s", c->fields[i].name);
    snprintf(sql + at, sizeof(sql) - at,
             " FROM %s c LEFT JOIN sessions s ON s.org = c.org AND s.id = c.%s "
             "LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity "
             "LEFT JOIN locations l ON l.org = a.org AND l.id = a.location "
             "WHERE c.org = ?1 AND c.%s %s ORDER BY s.date, c.%s",
             c->table, c->key_column, c->key2_column, in, c->key_column);
    rc = adb__prepare(a, sql, &st);
    if (rc == 0) {
      sqlite3_bind_int64(st, 1, org);
      rc = adb__json_rows(a, st, out);
    }
  }
  if (rc == 0) {
    fputs(",\n  \"conflicts\": ", out);
    snprintf(sql, sizeof(sql),
             "SELECT rtype, k, k2, field, kept_value, kept_device, lost_value, lost_device, "
             "created_ms, resolved FROM conflicts WHERE org = ?1 AND "
             "((rtype = %u AND k %s) OR (rtype = %u AND k2 %s)) ORDER BY id",
             (unsigned)p->id, in, (unsigned)c->id, in);
    rc = adb__prepare(a, sql, &st);
    if (rc == 0) {
      sqlite3_bind_int64(st, 1, org);
      rc = adb__json_rows(a, st, out);
    }
  }
  if (rc == 0)
    fputs("\n}\n", out);
  adb__exec(a, "DROP TABLE IF EXISTS temp.adb_group");
  return adb__end(a, rc);
}

/* Rewrites what the log and the refusal list hold of one erased id. */
static int adb__scrub(admin_db_t *a, int64_t org, const char *id, const proto_buf_t *erasure) {
  static const char *const sql[] = {
      /* Each op keeps its place (device, seq, server_seq), so resends and
       * cursors stay right; only what it said goes. */
      "UPDATE ops SET rtype = ?3, k = ?2, k2 = '', fields = ?4, loc = NULL "
      "WHERE org = ?1 AND ((rtype = ?5 AND k = ?2) OR (rtype = ?6 AND k2 = ?2))",
      "UPDATE rejected_ops SET rtype = ?3, k = ?2, k2 = '', fields = NULL "
      "WHERE org = ?1 AND ((rtype = ?5 AND k = ?2) OR (rtype = ?6 AND k2 = ?2))",
  };
  for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
    sqlite3_stmt *st;
    if (adb__prepare(a, sql[i], &st) != 0)
      return PROTO_ESTORAGE;
    sqlite3_bind_int64(st, 1, org);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, SCHEMA_ERASURE);
    sqlite3_bind_blob(st, 4, proto_buf_data(erasure), (int)erasure->len, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, SCHEMA_PARTICIPANT);
    sqlite3_bind_int(st, 6, SCHEMA_CHECKIN);
    if (adb__run(a, st) != 0)
      return PROTO_ESTORAGE;
  }
  return 0;
}

/* Moves every WAL frame into the file and empties the WAL, so old page
 * images do not survive there. */
static int adb__checkpoint(admin_db_t *a, FILE *report) {
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(a->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
  if (rc != SQLITE_OK) {
    fprintf(report, "warning: checkpoint incomplete (%s): old pages may stay in the WAL until "
                    "the next checkpoint\n",
            sqlite3_errstr(rc));
    return PROTO_ESTORAGE;
  }
  return 0;
}

int admin_db_participant_erase(admin_db_t *a, int64_t org, const char *participant,
                               bool vacuum, int64_t now_ms, FILE *report) {
  uint8_t merged = adb__field(SCHEMA_PARTICIPANT, "merged_into");
  adb__writer_t w;
  adb__group_t g = {0};
  proto_field_t f[1];
  proto_op_t eop;
  proto_buf_t erasure;
  char into[ADMIN_DB_ID_SIZE] = "";
  char sql[256];
  bool found;
  int rc;

  /* Deleted and overwritten content is zeroed in the file (secure_delete):
   * set outside the transaction, as SQLite requires. */
  if (adb__exec(a, "PRAGMA secure_delete = ON") != 0)
    return PROTO_ESTORAGE;
  if (adb__begin(a) != 0)
    return PROTO_ESTORAGE;
  rc = adb__query(a, "SELECT 1 FROM erasures WHERE org = ?1 AND participant = ?2", org,
                  participant, &found, NULL, 0, NULL);
  if (rc == 0 && found) {
    fprintf(report, "%s was erased already\n", participant);
    return adb__end(a, rc);
  }
  if (rc == 0) {
    rc = adb__query(a, "SELECT 1 FROM participants WHERE org = ?1 AND id = ?2", org,
                    participant, &found, NULL, 0, NULL);
    if (rc == 0 && !found)
      rc = adb__bad("no participant %s in this organisation", participant);
  }
  if (rc == 0 && merged != 0) {
    snprintf(sql, sizeof(sql), "SELECT merged_into FROM participants WHERE org = ?1 AND id = ?2");
    rc = adb__query(a, sql, org, participant, &found, into, sizeof(into), NULL);
    if (rc == 0 && into[0] != '\0')
      rc = adb__bad("%s is merged into %s: erase %s (its duplicates go with it), or undo the "
                    "merge first",
                    participant, into, into);
  }
  if (rc == 0)
    rc = adb__group(a, org, participant, &g);
  if (rc != 0) {
    free(g.ids);
    return adb__end(a, rc);
  }

  f[0] = adb__fint(adb__field(SCHEMA_ERASURE, "erased"), now_ms);
  memset(&eop, 0, sizeof(eop));
  eop.type = SCHEMA_ERASURE;
  eop.nfields = 1;
  eop.fields = f;
  proto_buf_init(&erasure, 0);
  rc = proto_encode_fields(&eop, &erasure) == 0 ? 0 : PROTO_EINTERNAL;
  if (rc == 0)
    rc = adb__writer_start(&w, a, org, now_ms);
  else
    memset(&w, 0, sizeof(w));
  for (uint32_t i = 0; i < g.n && rc == 0; i++) {
    /* The log first: rewriting after would rewrite nothing of the new op
     * (it is an erasure already), but its clocks must come after the rest. */
    rc = adb__scrub(a, org, g.ids[i], &erasure);
    if (rc == 0)
      rc = adb__writer_put(&w, SCHEMA_ERASURE, g.ids[i], NULL, f, 1);
    if (rc == 0)
      fprintf(report, "erased %s\n", g.ids[i]);
  }
  if (w.a != NULL)
    rc = adb__writer_finish(&w, rc);
  proto_buf_dispose(&erasure);
  free(g.ids);
  rc = adb__end(a, rc);
  if (rc != 0)
    return rc;

  /* Old copies: WAL frames go with a checkpoint; free pages and page slack
   * written before secure_delete was on go with VACUUM. */
  adb__checkpoint(a, report);
  if (vacuum) {
    if (adb__exec(a, "VACUUM") != 0)
      fprintf(report, "warning: VACUUM failed; run `turfctl participant erase` again later or "
                      "VACUUM the file while turfd is stopped\n");
    else
      adb__checkpoint(a, report);
  }
  return 0;
}

/* ---- backup ---------------------------------------------------------------- */

int admin_db_backup(admin_db_t *a, const char *dest, FILE *report) {
  char tmp[4096 + 16];
  sqlite3 *to = NULL;
  sqlite3_backup *b;
  sqlite3_stmt *st;
  int rc, tries = 0;
  bool ok = false;

  if (snprintf(tmp, sizeof(tmp), "%s.part", dest) >= (int)sizeof(tmp))
    return adb__bad("backup path too long");
  unlink(tmp);
  if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    fprintf(stderr, "turfctl: %s: %s\n", tmp, to ? sqlite3_errmsg(to) : "out of memory");
    sqlite3_close(to);
    return PROTO_ESTORAGE;
  }
  b = sqlite3_backup_init(to, "main", a->db, "main");
  if (b == NULL) {
    fprintf(stderr, "turfctl: backup: %s\n", sqlite3_errmsg(to));
    sqlite3_close(to);
    unlink(tmp);
    return PROTO_ESTORAGE;
  }
  /* All pages in one step: in WAL mode the read that copies them is one
   * snapshot and does not hold up turfd's writer. */
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (++tries == ADB__BACKUP_TRIES)
      break;
    sqlite3_sleep(ADB__BACKUP_RETRY_MS);
  }
  fprintf(report, "copied %d pages\n", sqlite3_backup_pagecount(b));
  sqlite3_backup_finish(b);
  if (rc == SQLITE_DONE && sqlite3_prepare_v2(to, "PRAGMA integrity_check", -1, &st, NULL) == 0) {
    ok = sqlite3_step(st) == SQLITE_ROW &&
         strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
  }
  if (sqlite3_close(to) != SQLITE_OK)
    ok = false;
  if (!ok) {
    fprintf(stderr, "turfctl: backup failed (%s)\n", rc == SQLITE_DONE ? "integrity check"
                                                                       : sqlite3_errstr(rc));
    unlink(tmp);
    return PROTO_ESTORAGE;
  }
  if (rename(tmp, dest) != 0) {
    fprintf(stderr, "turfctl: %s: %s\n", dest, strerror(errno));
    unlink(tmp);
    return PROTO_ESTORAGE;
  }
  fprintf(report, "backup written to %s\n", dest);
  return 0;
}
