/* tablet.c — the teacher's commands and views (see tablet.h).
 *
 * Owns nothing beyond each call: every function reads or records through
 * the local file it is given. Field ids are looked up by name in the schema
 * table, so this file names columns exactly as schema.c does and never
 * hard-codes a wire id. */
#include "tablet.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hlc.h"
#include "schema.h"
#include "zone.h"

/* ---- small helpers ------------------------------------------------------- */

static uint8_t tablet__field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; t != NULL && i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  return 0; /* a programming error: schema_validate_op refuses id 0 */
}

static proto_field_t tablet__str(uint8_t type, const char *name, const char *v) {
  proto_field_t f = {tablet__field_id(type, name), {.type = PROTO_STR}};
  f.value.u.s = proto_str(v);
  return f;
}

static proto_field_t tablet__int(uint8_t type, const char *name, int64_t v) {
  proto_field_t f = {tablet__field_id(type, name), {.type = PROTO_INT}};
  f.value.u.i = v;
  return f;
}

static proto_field_t tablet__bool(uint8_t type, const char *name, bool v) {
  proto_field_t f = {tablet__field_id(type, name), {.type = PROTO_BOOL}};
  f.value.u.b = v;
  return f;
}

static int tablet__prepare(local_t *local, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(local_db(local), sql, -1, st, NULL) != SQLITE_OK) {
    fprintf(stderr, "turf-tablet: query failed: %s\n", sqlite3_errmsg(local_db(local)));
    *st = NULL;
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* Finishes a query loop: rc is the last sqlite3_step result. */
static int tablet__finish(local_t *local, sqlite3_stmt *st, int rc) {
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "turf-tablet: query failed: %s\n", sqlite3_errmsg(local_db(local)));
    return PROTO_ESTORAGE;
  }
  return 0;
}

static const char *tablet__col(sqlite3_stmt *st, int col) {
  const unsigned char *p = sqlite3_column_text(st, col);
  return p ? (const char *)p : "";
}

/* The organisation's time zone, as its welcome said (the default one
 * before any); NULL only without a time zone database. */
static const zone_t *tablet__zone(local_t *local) {
  char tz[ZONE_NAME_MAX + 1];
  const zone_t *zone = NULL;
  if (local_meta_text(local, "tz", tz, sizeof(tz)) == 0 && tz[0])
    zone = zone_cached(tz);
  return zone ? zone : zone_cached(ZONE_DEFAULT);
}

void tablet_today(local_t *local, char date[11]) {
  const zone_t *zone = tablet__zone(local);
  if (zone)
    zone_date(zone, local_now(local), date);
  else
    schema_local_date(local_now(local), date);
}

static int tablet__record(local_t *local, uint8_t type, const char *key, const char *key2,
                          proto_field_t *fields, uint32_t nfields, local_prepare_cb prepare,
                          void *arg) {
  proto_op_t op;
  int rc;

  memset(&op, 0, sizeof(op));
  op.type = type;
  op.key = proto_str(key);
  op.key2 = proto_str(key2);
  op.fields = fields;
  op.nfields = nfields;
  rc = local_record(local, &op, prepare, arg, NULL);
  if (rc == PROTO_ENOT_AUTHOR)
    fprintf(stderr, "turf-tablet: only the tablet that posted a message may change it\n");
  else if (rc == PROTO_EINVALID_OP)
    fprintf(stderr, "turf-tablet: that change is not valid (%s)\n", proto_strerror(rc));
  else if (rc != 0 && rc != PROTO_EBAD_FIELD) /* BAD_FIELD: prepare said why */
    fprintf(stderr, "turf-tablet: could not record: %s\n", proto_strerror(rc));
  return rc;
}

/* ---- lookups ------------------------------------------------------------- */

/* Runs a lookup that binds arg as ?1 (and, when date is non-NULL, date as
 * ?2) and must return exactly one id in column 0. what names the kind of
 * thing for messages. */
static int tablet__find_one(local_t *local, const char *sql, const char *arg, const char *date,
                            const char *what, char id[TABLET_ID_SIZE]) {
  sqlite3_stmt *st;
  int rc, n = 0;
  char first[TABLET_ID_SIZE] = "";

  if (tablet__prepare(local, sql, &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  if (date != NULL)
    sqlite3_bind_text(st, 2, date, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == 0)
      snprintf(first, sizeof(first), "%s", tablet__col(st, 0));
    else if (n == 1)
      fprintf(stderr, "turf-tablet: \"%s\" matches more than one %s:\n  %s\n", arg, what,
              first);
    if (n >= 1)
      fprintf(stderr, "  %s\n", tablet__col(st, 0));
    n++;
  }
  if (tablet__finish(local, st, rc) != 0)
    return PROTO_ESTORAGE;
  if (n == 1) {
    snprintf(id, TABLET_ID_SIZE, "%s", first);
    return 0;
  }
  if (n == 0)
    fprintf(stderr, "turf-tablet: no %s matches \"%s\"\n", what, arg);
  return PROTO_EBAD_FIELD;
}

/* True when a row with this exact id exists in table. */
static bool tablet__exists(local_t *local, const char *table, const char *column,
                           const char *id) {
  char sql[160];
  sqlite3_stmt *st;
  bool found;

  snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE org = 0 AND %s = ?", table, column);
  if (tablet__prepare(local, sql, &st) != 0)
    return false;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  found = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return found;
}

/* Names match case-insensitively (lower() folds ASCII), first as the whole
 * name, then as the start of any word of it ("dance" finds "Time to
 * Dance"); each step must find exactly one. ?1 is the argument, ?2 today. */
#define TABLET__NAME_EXACT(col) "lower(" col ") = lower(?1)"
#define TABLET__NAME_WORD(col) "instr(' ' || lower(" col "), ' ' || lower(?1)) > 0"

static const char tablet__session_by_name[] =
    "SELECT s.id FROM sessions s JOIN activities a ON a.org = s.org AND a.id = s.activity "
    "WHERE s.org = 0 AND s.date = ?2 AND COALESCE(s.cancelled, 0) = 0 AND %s "
    "ORDER BY COALESCE(s.start_time, a.start_time), a.name, s.id";
static const char tablet__activity_by_name[] =
    "SELECT id FROM activities WHERE org = 0 AND %s ORDER BY name, id";

/* Tries the exact name, then word starts, with one of the queries above. */
static int tablet__find_by_name(local_t *local, const char *fmt, const char *col,
                                const char *arg, const char *date, const char *what,
                                char id[TABLET_ID_SIZE]) {
  char sql[512], cond[128];
  sqlite3_stmt *st;
  int rc, n = 0;

  snprintf(cond, sizeof(cond), TABLET__NAME_EXACT("%s"), col);
  snprintf(sql, sizeof(sql), fmt, cond);
  if (tablet__prepare(local, sql, &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  if (date != NULL)
    sqlite3_bind_text(st, 2, date, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    n++;
  sqlite3_finalize(st);
  if (n != 1)
    snprintf(cond, sizeof(cond), TABLET__NAME_WORD("%s"), col);
  snprintf(sql, sizeof(sql), fmt, cond);
  return tablet__find_one(local, sql, arg, date, what, id);
}

int tablet_find_session(local_t *local, const char *arg, char id[TABLET_ID_SIZE]) {
  char today[11];

  if (tablet__exists(local, "sessions", "id", arg)) {
    snprintf(id, TABLET_ID_SIZE, "%s", arg);
    return 0;
  }
  tablet_today(local, today);
  return tablet__find_by_name(local, tablet__session_by_name, "a.name", arg, today,
                              "session today", id);
}

int tablet_find_person(local_t *local, const char *arg, char id[TABLET_ID_SIZE]) {
  if (tablet__exists(local, "participants", "id", arg)) {
    snprintf(id, TABLET_ID_SIZE, "%s", arg);
    return 0;
  }
  return tablet__find_one(local,
                          "SELECT id FROM participants WHERE org = 0 AND lower(name) = lower(?1) "
                          "ORDER BY id",
                          arg, NULL, "participant", id);
}

int tablet_find_activity(local_t *local, const char *arg, char id[TABLET_ID_SIZE]) {
  if (tablet__exists(local, "activities", "id", arg)) {
    snprintf(id, TABLET_ID_SIZE, "%s", arg);
    return 0;
  }
  return tablet__find_by_name(local, tablet__activity_by_name, "name", arg, NULL, "activity",
                              id);
}

/* ---- recording ----------------------------------------------------------- */

int tablet_checkin(local_t *local, const char *session, const char *person) {
  proto_field_t f[2];
  f[0] = tablet__str(SCHEMA_CHECKIN, "status", "present");
  f[1] = tablet__int(SCHEMA_CHECKIN, "arrived", local_now(local));
  return tablet__record(local, SCHEMA_CHECKIN, session, person, f, 2, NULL, NULL);
}

int tablet_checkout(local_t *local, const char *session, const char *person) {
  proto_field_t f[1];
  f[0] = tablet__int(SCHEMA_CHECKIN, "departed", local_now(local));
  return tablet__record(local, SCHEMA_CHECKIN, session, person, f, 1, NULL, NULL);
}

int tablet_set_status(local_t *local, const char *session, const char *person,
                      const char *status) {
  proto_field_t f[1];
  f[0] = tablet__str(SCHEMA_CHECKIN, "status", status != NULL ? status : "");
  if (status == NULL)
    f[0].value.type = PROTO_NIL; /* withdrawn: the person reads as not checked in */
  return tablet__record(local, SCHEMA_CHECKIN, session, person, f, 1, NULL, NULL);
}

int tablet_walkin(local_t *local, const char *session, const char *name, const char *referral,
                  const char *contact, char id_out[TABLET_ID_SIZE]) {
  char id[LOCAL_UUID_LEN + 1];
  proto_field_t f[4];
  uint32_t n = 0;
  int64_t now = local_now(local);
  int rc;

  local_uuid7(now, id);
  f[n++] = tablet__str(SCHEMA_PARTICIPANT, "name", name);
  f[n++] = tablet__int(SCHEMA_PARTICIPANT, "first_seen", now);
  if (referral != NULL)
    f[n++] = tablet__str(SCHEMA_PARTICIPANT, "referral", referral);
  if (contact != NULL)
    f[n++] = tablet__str(SCHEMA_PARTICIPANT, "contact", contact);
  rc = tablet__record(local, SCHEMA_PARTICIPANT, id, NULL, f, n, NULL, NULL);
  if (rc != 0)
    return rc;
  rc = tablet_checkin(local, session, id);
  if (rc != 0)
    return rc;
  snprintf(id_out, TABLET_ID_SIZE, "%s", id);
  return 0;
}

typedef struct {
  int64_t delta;
  int64_t count; /* out: the new absolute count */
} tablet__tally_t;

/* Runs inside the recording transaction: the read of this device's count
 * and the write of the new one cannot interleave with another process. */
static int tablet__tally_prepare(void *arg, local_t *local, proto_op_t *op) {
  tablet__tally_t *t = arg;
  sqlite3_stmt *st;
  int64_t cur = 0;
  int rc;

  if (tablet__prepare(local,
                      "SELECT count FROM tallies WHERE org = 0 AND session = ? AND device = ?",
                      &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, op->key.ptr, (int)op->key.len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, local_device(local), -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    cur = sqlite3_column_int64(st, 0);
  if (tablet__finish(local, st, rc == SQLITE_ROW ? SQLITE_DONE : rc) != 0)
    return PROTO_ESTORAGE;
  if (cur + t->delta < 0) {
    fprintf(stderr, "turf-tablet: this tablet has counted %lld; it cannot go below zero\n",
            (long long)cur);
    return PROTO_EBAD_FIELD;
  }
  t->count = cur + t->delta;
  op->fields[0].value.u.i = t->count;
  return 0;
}

int tablet_tally(local_t *local, const char *session, int64_t delta, int64_t *count_out) {
  tablet__tally_t t = {delta, 0};
  proto_field_t f[1];
  int rc;

  f[0] = tablet__int(SCHEMA_TALLY, "count", 0);
  rc = tablet__record(local, SCHEMA_TALLY, session, NULL, f, 1, tablet__tally_prepare, &t);
  if (rc == 0 && count_out != NULL)
    *count_out = t.count;
  return rc;
}

int tablet_post(local_t *local, const char *activity, const char *text,
                char id_out[TABLET_ID_SIZE]) {
  char id[LOCAL_UUID_LEN + 1];
  proto_field_t f[2];
  int rc;

  local_uuid7(local_now(local), id);
  f[0] = tablet__str(SCHEMA_MESSAGE, "activity", activity);
  f[1] = tablet__str(SCHEMA_MESSAGE, "body", text);
  rc = tablet__record(local, SCHEMA_MESSAGE, id, NULL, f, 2, NULL, NULL);
  if (rc == 0)
    snprintf(id_out, TABLET_ID_SIZE, "%s", id);
  return rc;
}

static int tablet__message_exists(local_t *local, const char *message) {
  if (tablet__exists(local, "messages", "id", message))
    return 0;
  fprintf(stderr, "turf-tablet: no message \"%s\"\n", message);
  return PROTO_EBAD_FIELD;
}

int tablet_edit(local_t *local, const char *message, const char *text) {
  proto_field_t f[1];
  if (tablet__message_exists(local, message) != 0)
    return PROTO_EBAD_FIELD;
  f[0] = tablet__str(SCHEMA_MESSAGE, "body", text);
  return tablet__record(local, SCHEMA_MESSAGE, message, NULL, f, 1, NULL, NULL);
}

int tablet_delete(local_t *local, const char *message) {
  proto_field_t f[1];
  if (tablet__message_exists(local, message) != 0)
    return PROTO_EBAD_FIELD;
  f[0] = tablet__bool(SCHEMA_MESSAGE, "deleted", true);
  return tablet__record(local, SCHEMA_MESSAGE, message, NULL, f, 1, NULL, NULL);
}

int tablet_log(local_t *local, const char *session, bool start, bool end, int64_t headcount,
               const char *notes) {
  proto_field_t f[4];
  uint32_t n = 0;
  int64_t now = local_now(local);

  if (start)
    f[n++] = tablet__int(SCHEMA_SESSION_LOG, "started", now);
  if (end)
    f[n++] = tablet__int(SCHEMA_SESSION_LOG, "ended", now);
  if (headcount >= 0)
    f[n++] = tablet__int(SCHEMA_SESSION_LOG, "headcount", headcount);
  if (notes != NULL)
    f[n++] = tablet__str(SCHEMA_SESSION_LOG, "notes", notes);
  if (n == 0) {
    fprintf(stderr, "turf-tablet: log needs --start, --end, --headcount or --notes\n");
    return PROTO_EBAD_FIELD;
  }
  return tablet__record(local, SCHEMA_SESSION_LOG, session, NULL, f, n, NULL, NULL);
}

/* ---- views --------------------------------------------------------------- */

/* Today's sessions with their time, activity name, headcount and tally;
 * ?1 is today's date, ?2 a session id or NULL for all. One order for every
 * view so two tablets print the same text. */
static const char tablet__sessions_sql[] =
    "SELECT s.id, COALESCE(s.start_time, a.start_time, '--:--') AS t, "
    "       COALESCE(a.name, s.activity) AS n, "
    "       (SELECT COUNT(*) FROM checkins c WHERE c.org = s.org AND c.session = s.id "
    "          AND c.status = 'present') AS present, "
    "       COALESCE((SELECT total FROM session_tallies x WHERE x.org = s.org "
    "          AND x.session = s.id), 0) AS tally "
    "FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity "
    "WHERE s.org = 0 AND ((?2 IS NULL AND s.date = ?1 AND COALESCE(s.cancelled, 0) = 0) "
    "   OR s.id = ?2) "
    "ORDER BY t, n, s.id";

int tablet_print_sessions(local_t *local, FILE *out) {
  char today[11];
  sqlite3_stmt *st;
  int rc;

  tablet_today(local, today);
  if (tablet__prepare(local, tablet__sessions_sql, &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, today, -1, SQLITE_STATIC);
  sqlite3_bind_null(st, 2);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fprintf(out, "%s\t%s\t%s\t%lld\n", tablet__col(st, 0), tablet__col(st, 1),
            tablet__col(st, 2),
            (long long)(sqlite3_column_int64(st, 3) + sqlite3_column_int64(st, 4)));
  return tablet__finish(local, st, rc);
}

int tablet_print_people(local_t *local, FILE *out) {
  sqlite3_stmt *st;
  int rc;

  if (tablet__prepare(local,
                      "SELECT id, COALESCE(name, '') AS n FROM participants WHERE org = 0 "
                      "ORDER BY n, id",
                      &st) != 0)
    return PROTO_ESTORAGE;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fprintf(out, "%s\t%s\n", tablet__col(st, 0), tablet__col(st, 1));
  return tablet__finish(local, st, rc);
}

/* HH:MM of a column's wall-clock time (ms) in zone (tablet__zone), "-"
 * for none. */
static void tablet__time_or_dash(const zone_t *zone, sqlite3_stmt *st, int col, char buf[6]) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL)
    snprintf(buf, 6, "-");
  else if (zone)
    zone_hhmm(zone, sqlite3_column_int64(st, col), buf);
  else
    snprintf(buf, 6, "--:--");
}

/* A check-in without a status (withdrawn, or only a departure recorded) is
 * no check-in: the person is not listed (PROTOCOL.md 4.3). */
static int tablet__print_checkins(local_t *local, const char *session, FILE *out) {
  sqlite3_stmt *st;
  char arrived[6], departed[6];
  int rc;

  if (tablet__prepare(local,
                      "SELECT COALESCE(p.name, c.participant) AS n, c.status, "
                      "       c.arrived, c.departed "
                      "FROM checkins c LEFT JOIN participants p "
                      "  ON p.org = c.org AND p.id = c.participant "
                      "WHERE c.org = 0 AND c.session = ? AND c.status IS NOT NULL "
                      "ORDER BY n, c.participant",
                      &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
  const zone_t *zone = tablet__zone(local);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tablet__time_or_dash(zone, st, 2, arrived);
    tablet__time_or_dash(zone, st, 3, departed);
    fprintf(out, "  %s\t%s\t%s\t%s\n", tablet__col(st, 0), tablet__col(st, 1), arrived,
            departed);
  }
  return tablet__finish(local, st, rc);
}

int tablet_print_attendance(local_t *local, const char *session, FILE *out) {
  char today[11];
  sqlite3_stmt *st;
  int rc;

  tablet_today(local, today);
  if (tablet__prepare(local, tablet__sessions_sql, &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, today, -1, SQLITE_STATIC);
  if (session != NULL)
    sqlite3_bind_text(st, 2, session, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 2);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t present = sqlite3_column_int64(st, 3), tally = sqlite3_column_int64(st, 4);
    fprintf(out, "%s %s headcount=%lld tally=%lld\n", tablet__col(st, 1), tablet__col(st, 2),
            (long long)(present + tally), (long long)tally);
    if (tablet__print_checkins(local, tablet__col(st, 0), out) != 0) {
      sqlite3_finalize(st);
      return PROTO_ESTORAGE;
    }
  }
  return tablet__finish(local, st, rc);
}

int tablet_print_messages(local_t *local, const char *activity, FILE *out) {
  char me[TABLET_ID_SIZE], name[TABLET_ID_SIZE], when[6];
  sqlite3_stmt *st;
  int rc;

  snprintf(me, sizeof(me), "%s", local_device(local));
  if (local_meta_text(local, "name", name, sizeof(name)) != 0 || name[0] == '\0')
    snprintf(name, sizeof(name), "%s", me);
  if (tablet__prepare(local,
                      "SELECT posted, author, body, COALESCE(deleted, 0) FROM messages "
                      "WHERE org = 0 AND activity = ? ORDER BY posted, id",
                      &st) != 0)
    return PROTO_ESTORAGE;
  sqlite3_bind_text(st, 1, activity, -1, SQLITE_STATIC);
  const zone_t *zone = tablet__zone(local);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *author = tablet__col(st, 1);
    tablet__time_or_dash(zone, st, 0, when);
    /* Only this tablet's own name is known here; others show their id. */
    fprintf(out, "%s %s %s\n", when, strcmp(author, me) == 0 ? name : author,
            sqlite3_column_int64(st, 3) ? "(deleted)" : tablet__col(st, 2));
  }
  return tablet__finish(local, st, rc);
}

int tablet_print_attention(local_t *local, FILE *out) {
  sqlite3_stmt *st;
  int rc;

  if (tablet__prepare(local, "SELECT seq, code, message FROM attention ORDER BY seq", &st) != 0)
    return PROTO_ESTORAGE;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fprintf(out, "%lld\t%s\t%s\n", (long long)sqlite3_column_int64(st, 0),
            proto_errname(sqlite3_column_int(st, 1)), tablet__col(st, 2));
  return tablet__finish(local, st, rc);
}

void tablet_print_value(sqlite3_stmt *st, int col, FILE *out) {
  const unsigned char *p;
  int n;

  switch (sqlite3_column_type(st, col)) {
  case SQLITE_NULL:
    fputs("\\N", out);
    return;
  case SQLITE_INTEGER:
    fprintf(out, "%lld", (long long)sqlite3_column_int64(st, col));
    return;
  default:
    p = sqlite3_column_text(st, col);
    n = sqlite3_column_bytes(st, col);
    for (int i = 0; i < n; i++) {
      if (p[i] == '\\')
        fputs("\\\\", out);
      else if (p[i] == '\t')
        fputs("\\t", out);
      else if (p[i] == '\n')
        fputs("\\n", out);
      else
        fputc(p[i], out);
    }
  }
}

static int tablet__dump_query(local_t *local, const char *label, const char *sql, FILE *out) {
  sqlite3_stmt *st;
  int rc, ncol;

  if (tablet__prepare(local, sql, &st) != 0)
    return PROTO_ESTORAGE;
  ncol = sqlite3_column_count(st);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    fputs(label, out);
    for (int i = 0; i < ncol; i++) {
      fputc('\t', out);
      tablet_print_value(st, i, out);
    }
    fputc('\n', out);
  }
  return tablet__finish(local, st, rc);
}

int tablet_print_dump(local_t *local, FILE *out) {
  char sql[1024];
  size_t at;

  /* Schema order; tallies appear as their totals, because which device
   * counted what is bookkeeping, not attendance. */
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    if (t == NULL)
      continue;
    if (id == SCHEMA_TALLY) {
      if (tablet__dump_query(local, "session_tallies",
                             "SELECT session, total FROM session_tallies WHERE org = 0 "
                             "ORDER BY session",
                             out) != 0)
        return PROTO_ESTORAGE;
      continue;
    }
    at = (size_t)snprintf(sql, sizeof(sql), "SELECT %s", t->key_column);
    if (t->key2_column != NULL)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", t->key2_column);
    for (uint32_t i = 0; i < t->nfields; i++)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", t->fields[i].name);
    if (id == SCHEMA_MESSAGE)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", author, posted");
    snprintf(sql + at, sizeof(sql) - at, " FROM %s WHERE org = 0 ORDER BY %s%s%s", t->table,
             t->key_column, t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "");
    if (tablet__dump_query(local, t->table, sql, out) != 0)
      return PROTO_ESTORAGE;
  }
  return 0;
}
