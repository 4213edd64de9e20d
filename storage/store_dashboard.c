/* store_dashboard.c — what the coordinator dashboard reads and writes.
 *
 * Reads (STORE_VIEW) run on the reader thread: each part of the view is one
 * SQL query that returns one JSON document, built by SQLite's json functions
 * so that names and messages typed on tablets are escaped by SQLite, never
 * by hand. All parts of one request come from one read transaction.
 *
 * Writes (STORE_ACTION) run on the writer thread inside the group commit: a
 * revert or a merge is an op of the server's own device ("server", or
 * "server-<org>" when "server" belongs to another organisation), with the
 * next device_seq and an HLC above every clock of the record, checked,
 * applied (replica_apply) and logged (ops) as a pushed op is, so tablets
 * receive it by pull and live like any other op.
 *
 * Owns nothing between requests: statements are prepared per request (these
 * are a coordinator's clicks and page loads, not the hot path). */
#include "store_dashboard.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "hlc.h"
#include "schema.h"

#define STORE__DASH_SERVER_DEVICE "server"
#define STORE__DASH_MAX_HOPS 32 /* as replica.c follows merged_into */

/* ---- view ------------------------------------------------------------------ */

/* ?1 is the organisation, ?2 today's date there (the day's: the date a
 * page chose; the history's: the activity); each returns one row, one column.
 * Every part is of that organisation only, the list of organisations too: a
 * coordinator's page must not learn even the names of the others. A
 * check-in whose status is nil (withdrawn, PROTOCOL.md 4.3) is no check-in:
 * it is neither listed nor counted, and its arrival is no arrival. */
static const char store__view_orgs[] =
    "SELECT json(COALESCE((SELECT json_group_array(json_object('id', id, 'name', name, 'tz', tz)) "
    "FROM (SELECT id, name, tz FROM orgs WHERE id = ?1)), '[]'))";

static const char store__view_today[] =
    "SELECT json_object('date', ?2, 'sessions', json(COALESCE((SELECT json_group_array(json(x)) "
    "FROM (SELECT json_object("
    "  'id', s.id, 'activity', s.activity, 'activity_name', a.name,"
    "  'location', a.location, 'location_name', l.name,"
    "  'start', COALESCE(s.start_time, a.start_time), 'cancelled', COALESCE(s.cancelled, 0),"
    "  'present', (SELECT count(*) FROM checkins c WHERE c.org = s.org AND c.session = s.id"
    "     AND c.status = 'present'),"
    "  'tally', COALESCE((SELECT total FROM session_tallies t WHERE t.org = s.org"
    "     AND t.session = s.id), 0),"
    "  'log', json((SELECT json_object('started', g.started, 'ended', g.ended,"
    "     'headcount', g.headcount, 'notes', g.notes) FROM session_logs g"
    "     WHERE g.org = s.org AND g.session = s.id)),"
    "  'checkins', json(COALESCE((SELECT json_group_array(json(y)) FROM (SELECT json_object("
    "     'participant', c.participant, 'name', COALESCE(p.name, c.participant),"
    "     'status', c.status, 'arrived', c.arrived, 'departed', c.departed) AS y"
    "     FROM checkins c LEFT JOIN participants p ON p.org = c.org AND p.id = c.participant"
    "     WHERE c.org = s.org AND c.session = s.id AND c.status IS NOT NULL"
    "     ORDER BY c.arrived IS NULL, c.arrived, p.name, c.participant)), '[]')),"
    /* Who came for the first time (present in no earlier session), with
     * who sent them: what a funder asks about new people. */
    "  'new', json(COALESCE((SELECT json_group_array(json_object("
    "     'participant', c.participant, 'name', COALESCE(p.name, c.participant),"
    "     'referral', p.referral))"
    "     FROM checkins c LEFT JOIN participants p ON p.org = c.org AND p.id = c.participant"
    "     WHERE c.org = s.org AND c.session = s.id AND c.status = 'present' AND NOT EXISTS ("
    "       SELECT 1 FROM checkins e JOIN sessions f ON f.org = e.org AND f.id = e.session"
    "       WHERE e.org = c.org AND e.participant = c.participant AND e.status = 'present'"
    "       AND (f.date < s.date OR (f.date = s.date AND f.id < s.id)))), '[]'))"
    ") AS x "
    "FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity "
    "LEFT JOIN locations l ON l.org = s.org AND l.id = a.location "
    "WHERE s.org = ?1 AND s.date = ?2 "
    "ORDER BY l.name, COALESCE(s.start_time, a.start_time), a.name, s.id)), '[]')))";

/* The sessions of one activity (?2), newest first; the last 400 of them (a
 * weekly activity's eight years). */
static const char store__view_history[] =
    "SELECT json_object('activity', ?2, 'name', (SELECT name FROM activities"
    "  WHERE org = ?1 AND id = ?2), 'sessions', json(COALESCE((SELECT json_group_array(json(x)) "
    "FROM (SELECT json_object("
    "  'id', s.id, 'date', s.date, 'start', COALESCE(s.start_time, a.start_time),"
    "  'cancelled', COALESCE(s.cancelled, 0),"
    "  'present', (SELECT count(*) FROM checkins c WHERE c.org = s.org AND c.session = s.id"
    "     AND c.status = 'present'),"
    "  'tally', COALESCE((SELECT total FROM session_tallies t WHERE t.org = s.org"
    "     AND t.session = s.id), 0)"
    ") AS x "
    "FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity "
    "WHERE s.org = ?1 AND s.activity = ?2 "
    "ORDER BY s.date DESC, COALESCE(s.start_time, a.start_time) DESC, s.id LIMIT 400)), '[]')))";

/* The latest 100 downloads of report tables, newest first, with the name
 * of who downloaded (a coordinator's page only: dashboard.c). */
static const char store__view_exports[] =
    "SELECT json(COALESCE((SELECT json_group_array(json(x)) FROM (SELECT json_object("
    "  'at', e.at_ms, 'login', e.login, 'name', c.name, 'what', e.what, 'format', e.format,"
    "  'rows', e.rows, 'names', e.names) AS x "
    "FROM exports e LEFT JOIN coordinators c ON c.login = e.login "
    "WHERE e.org = ?1 ORDER BY e.at_ms DESC, e.id DESC LIMIT 100)), '[]'))";

/* Participants whose name the search ?2 matches (fold.h: case, accents
 * and punctuation aside, each word typed starts a word of the name), by
 * name; the first 50 of them and how many there are. One merged into
 * another is found as that other. */
static const char store__view_people[] =
    "WITH m AS (SELECT p.org, p.id, p.name, p.referral FROM participants p"
    "  WHERE p.org = ?1 AND p.merged_into IS NULL AND p.name IS NOT NULL"
    "  AND turf_name_matches(p.name, ?2)) "
    "SELECT json_object('q', ?2, 'total', (SELECT count(*) FROM m),"
    "  'people', json(COALESCE((SELECT json_group_array(json(x)) FROM (SELECT json_object("
    "    'id', m.id, 'name', m.name, 'referral', m.referral,"
    "    'visits', (SELECT count(*) FROM checkins c WHERE c.org = m.org"
    "       AND c.participant = m.id AND c.status = 'present'),"
    "    'last', (SELECT max(s.date) FROM checkins c JOIN sessions s ON s.org = c.org"
    "       AND s.id = c.session WHERE c.org = m.org AND c.participant = m.id"
    "       AND c.status = 'present')) AS x "
    "  FROM m ORDER BY m.name, m.id LIMIT 50)), '[]')))";

/* One participant (?2): who they are, their visits per activity as "3 of
 * the 10 sessions held since their first visit there" (cancelled ones
 * apart; ?3 is today), and their last 400 check-ins, newest first. Contact
 * details only when ?4 (a coordinator asks, never a viewer). A participant
 * merged into another says so; one that does not exist is "missing". */
static const char store__view_person[] =
    "WITH v AS (SELECT c.session, c.status, c.arrived, c.departed, s.date, s.activity,"
    "    COALESCE(s.start_time, a.start_time) AS start, a.name AS activity_name"
    "  FROM checkins c JOIN sessions s ON s.org = c.org AND s.id = c.session"
    "  LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity"
    "  WHERE c.org = ?1 AND c.participant = ?2 AND c.status IS NOT NULL),"
    "act AS (SELECT activity, max(activity_name) AS name, count(*) AS visits,"
    "    min(date) AS first, max(date) AS last FROM v WHERE status = 'present'"
    "  GROUP BY activity) "
    "SELECT CASE WHEN p.id IS NULL THEN json_object('id', ?2, 'missing', 1) ELSE json_object("
    "  'id', p.id, 'name', p.name, 'pseudonym', p.pseudonym, 'referral', p.referral,"
    "  'contact', CASE WHEN ?4 THEN p.contact END, 'first_seen', p.first_seen,"
    "  'merged_into', p.merged_into, 'merged_into_name', (SELECT q.name FROM participants q"
    "     WHERE q.org = p.org AND q.id = p.merged_into),"
    "  'visits', (SELECT count(*) FROM v WHERE status = 'present'),"
    "  'first', (SELECT min(date) FROM v WHERE status = 'present'),"
    "  'last', (SELECT max(date) FROM v WHERE status = 'present'),"
    "  'activities', json(COALESCE((SELECT json_group_array(json(y)) FROM (SELECT json_object("
    "     'id', act.activity, 'name', act.name, 'visits', act.visits, 'first', act.first,"
    "     'last', act.last, 'of', (SELECT count(*) FROM sessions s WHERE s.org = ?1"
    "       AND s.activity = act.activity AND NOT COALESCE(s.cancelled, 0)"
    "       AND s.date >= act.first AND s.date <= max(?3, act.last))) AS y"
    "     FROM act ORDER BY act.last DESC, act.name)), '[]')),"
    "  'history', json(COALESCE((SELECT json_group_array(json(z)) FROM (SELECT json_object("
    "     'session', v.session, 'date', v.date, 'start', v.start, 'activity', v.activity,"
    "     'activity_name', v.activity_name, 'status', v.status, 'arrived', v.arrived,"
    "     'departed', v.departed) AS z"
    "     FROM v ORDER BY v.date DESC, v.start DESC, v.session LIMIT 400)), '[]'))) END "
    "FROM (SELECT 1) LEFT JOIN participants p ON p.org = ?1 AND p.id = ?2";

/* The server's own devices write merges and reverts, and turfctl's
 * (turfctl-<uuid>, admin_db.h) what an administrator creates; they are not
 * tablets. */
static const char store__view_devices[] =
    "SELECT json(COALESCE((SELECT json_group_array(json(x)) FROM (SELECT json_object("
    "  'id', id, 'name', name, 'app', app, 'online', COALESCE(online, 0),"
    "  'last_seen', last_seen_ms, 'outbox', COALESCE(outbox, 0),"
    "  'offset', COALESCE(clock_offset_ms, 0), 'last_seq', last_seq,"
    "  'revoked', COALESCE(revoked, 0), 'created', created_ms,"
    "  'storage', storage, 'storage_used', storage_used) AS x "
    "FROM devices WHERE org = ?1 AND id <> '" STORE__DASH_SERVER_DEVICE "' "
    "AND id NOT LIKE '" STORE__DASH_SERVER_DEVICE "-%' AND id NOT LIKE 'turfctl-%' ORDER BY COALESCE(name, id), id)), '[]'))";

/* Prefixed at run time with "WITH fnames(rtype, field, tname, fname) AS
 * (VALUES ...)" from the schema table, so the page gets field names. Open
 * conflicts first, newest first; then the latest resolved ones. */
static const char store__view_conflicts_tail[] =
    "SELECT json(COALESCE((SELECT json_group_array(json(x)) FROM (SELECT json_object("
    "  'id', c.id, 'type', f.tname, 'field', f.fname, 'k', c.k, 'k2', c.k2,"
    "  'subject', CASE"
    "    WHEN c.rtype = 5 THEN (SELECT name FROM participants WHERE org = c.org AND id = c.k2)"
    "    WHEN c.rtype = 4 THEN (SELECT name FROM participants WHERE org = c.org AND id = c.k)"
    "    WHEN c.rtype = 1 THEN (SELECT name FROM locations WHERE org = c.org AND id = c.k)"
    "    WHEN c.rtype = 2 THEN (SELECT name FROM activities WHERE org = c.org AND id = c.k)"
    "    WHEN c.rtype = 7 THEN (SELECT substr(body, 1, 80) FROM messages"
    "      WHERE org = c.org AND id = c.k)"
    /* A session and its log are named as their session is. */
    "    WHEN c.rtype IN (3, 8) THEN (SELECT COALESCE(a.name, s.activity) || ' ' || s.date"
    "      FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity"
    "      WHERE s.org = c.org AND s.id = c.k)"
    "    ELSE NULL END,"
    "  'context', CASE WHEN c.rtype IN (5, 6) THEN (SELECT COALESCE(a.name, s.activity)"
    "    || ' ' || s.date FROM sessions s LEFT JOIN activities a ON a.org = s.org"
    "    AND a.id = s.activity WHERE s.org = c.org AND s.id = c.k) END,"
    "  'kept_value', c.kept_value, 'kept_device', c.kept_device, 'kept_device_name', kd.name,"
    "  'kept_ms', c.kept_hlc >> 16,"
    "  'lost_value', c.lost_value, 'lost_device', c.lost_device, 'lost_device_name', ld.name,"
    "  'lost_ms', c.lost_hlc >> 16,"
    "  'created', c.created_ms, 'resolved', COALESCE(c.resolved, 0)) AS x "
    "FROM conflicts c LEFT JOIN fnames f ON f.rtype = c.rtype AND f.field = c.field "
    "LEFT JOIN devices kd ON kd.id = c.kept_device LEFT JOIN devices ld ON ld.id = c.lost_device "
    "WHERE c.org = ?1 ORDER BY COALESCE(c.resolved, 0) <> 0, c.id DESC LIMIT 200)), '[]'))";

/* Probable duplicates: participants not merged away whose names match once
 * lower-cased (ASCII) with spacing normalised, created (first seen) by more
 * than one device — two tablets that each added the same walk-in. */
static const char store__view_duplicates[] =
    "WITH p AS (SELECT p.id, p.name, p.first_seen,"
    "  trim(replace(replace(replace(lower(p.name), char(9), ' '), '   ', ' '), '  ', ' '))"
    "    AS norm,"
    "  p.first_seen__device AS creator,"
    "  (SELECT count(*) FROM checkins c WHERE c.org = p.org AND c.participant = p.id"
    "     AND c.status IS NOT NULL) AS checkins "
    "  FROM participants p WHERE p.org = ?1 AND p.merged_into IS NULL AND p.name IS NOT NULL),"
    "g AS (SELECT norm FROM p GROUP BY norm"
    "  HAVING count(*) > 1 AND count(DISTINCT COALESCE(creator, '')) > 1) "
    "SELECT json(COALESCE((SELECT json_group_array(json(x)) FROM (SELECT json_object("
    "  'norm', g.norm, 'members', json((SELECT json_group_array(json(m)) FROM ("
    "    SELECT json_object('id', p.id, 'name', p.name, 'first_seen', p.first_seen,"
    "      'creator', p.creator, 'creator_name', d.name, 'checkins', p.checkins) AS m"
    "    FROM p LEFT JOIN devices d ON d.id = p.creator WHERE p.norm = g.norm"
    "    ORDER BY p.first_seen, p.id)))) AS x "
    "FROM g ORDER BY g.norm)), '[]'))";

/* The latest 50 messages of every activity, oldest first. */
static const char store__view_messages[] =
    "SELECT json(COALESCE((SELECT json_group_array(json(x)) FROM (SELECT json_object("
    "  'id', a.id, 'name', a.name, 'location', a.location, 'location_name', l.name,"
    "  'messages', json(COALESCE((SELECT json_group_array(json(y)) FROM (SELECT json_object("
    "    'id', m.id, 'body', CASE WHEN COALESCE(m.deleted, 0) THEN NULL ELSE m.body END,"
    "    'deleted', COALESCE(m.deleted, 0), 'posted', m.posted, 'author', m.author,"
    "    'author_name', d.name) AS y"
    "    FROM (SELECT * FROM messages WHERE org = a.org AND activity = a.id"
    "      ORDER BY posted DESC, id DESC LIMIT 50) m"
    "    LEFT JOIN devices d ON d.id = m.author ORDER BY m.posted, m.id)), '[]'))) AS x "
    "FROM activities a LEFT JOIN locations l ON l.org = a.org AND l.id = a.location "
    "WHERE a.org = ?1 ORDER BY a.name, a.id)), '[]'))";

static char store__conflicts_sql[8192];
static pthread_once_t store__conflicts_once = PTHREAD_ONCE_INIT;

/* Builds the conflicts query: the schema's type and field names as a CTE.
 * The buffer holds the schema many times over; running out is a programming
 * error caught at first use. */
static void store__build_conflicts_sql(void) {
  size_t at = 0, size = sizeof(store__conflicts_sql);
  const char *sep = "";
  int n;

  n = snprintf(store__conflicts_sql, size, "WITH fnames(rtype, field, tname, fname) AS (VALUES ");
  at = (size_t)n;
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    for (uint32_t i = 0; t != NULL && i < t->nfields; i++) {
      n = snprintf(store__conflicts_sql + at, size - at, "%s(%u, %u, '%s', '%s')", sep,
                   (unsigned)id, (unsigned)t->fields[i].id, t->name, t->fields[i].name);
      if (n < 0 || (size_t)n >= size - at)
        abort();
      at += (size_t)n;
      sep = ", ";
    }
  }
  n = snprintf(store__conflicts_sql + at, size - at, ") %s", store__view_conflicts_tail);
  if (n < 0 || (size_t)n >= size - at)
    abort();
}

/* Runs one part's query into *out (malloc'd, NUL-terminated). Its
 * parameters, as far as it numbers them: ?1 the organisation, ?2 text (the
 * part's own: a date, an activity, a search, a participant), ?3 today there,
 * ?4 whether contact details may be shown. */
static int store__view_part(sqlite3 *db, const char *sql, const store_view_t *v,
                            const char *text, char **out) {
  sqlite3_stmt *st = NULL;
  int rc, result = PROTO_ESTORAGE, nparams;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    goto fail;
  nparams = sqlite3_bind_parameter_count(st);
  if (nparams >= 1)
    sqlite3_bind_int64(st, 1, v->org);
  if (nparams >= 2)
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
  if (nparams >= 3)
    sqlite3_bind_text(st, 3, v->today, -1, SQLITE_STATIC);
  if (nparams >= 4)
    sqlite3_bind_int(st, 4, v->with_contact);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    goto fail;
  {
    const unsigned char *text = sqlite3_column_text(st, 0);
    int n = sqlite3_column_bytes(st, 0);
    *out = malloc((size_t)n + 1);
    if (*out == NULL) {
      result = PROTO_ENOMEM;
      goto done;
    }
    if (n > 0)
      memcpy(*out, text, (size_t)n);
    (*out)[n] = '\0';
  }
  result = 0;
  goto done;

fail:
  fprintf(stderr, "store: dashboard view: %s\n", sqlite3_errmsg(db));
done:
  sqlite3_finalize(st);
  return result;
}

/* turf_name_matches(name, query): fold.h's search. The query is folded
 * once per statement when SQLite keeps it as the argument's auxiliary
 * data. A fold can grow a name by half (½ is "1 2"); a longer one is cut. */
#define STORE__FOLDED_MAX (2 * 1024)
static void store__name_matches(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  char name[STORE__FOLDED_MAX], qbuf[STORE__FOLDED_MAX];
  const unsigned char *n = sqlite3_value_text(argv[0]);
  const char *query = sqlite3_get_auxdata(ctx, 1);

  (void)argc;
  if (query == NULL) {
    const unsigned char *q = sqlite3_value_text(argv[1]);
    size_t len = fold_text(q ? (const char *)q : "", qbuf, sizeof qbuf);
    char *kept = malloc(len + 1);
    query = qbuf;
    if (kept != NULL) {
      memcpy(kept, qbuf, len + 1);
      sqlite3_set_auxdata(ctx, 1, kept, free); /* frees it if it cannot keep it */
    }
  }
  if (n == NULL) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  fold_text((const char *)n, name, sizeof name);
  sqlite3_result_int(ctx, fold_matches(name, query));
}

int store__dashboard_functions(sqlite3 *db) {
  return sqlite3_create_function_v2(db, "turf_name_matches", 2,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                    store__name_matches, NULL, NULL, NULL) == SQLITE_OK
             ? 0
             : -1;
}

int store__view(sqlite3 *db, store_req_t *req) {
  store_view_t *v = &req->u.view;
  const char *sql[STORE_VIEW_NPARTS];
  sqlite3_stmt *st = NULL;
  int rc, result = 0;

  pthread_once(&store__conflicts_once, store__build_conflicts_sql);
  sql[STORE_VIEW_ORGS] = store__view_orgs;
  sql[STORE_VIEW_TODAY] = store__view_today;
  sql[STORE_VIEW_DEVICES] = store__view_devices;
  sql[STORE_VIEW_CONFLICTS] = store__conflicts_sql;
  sql[STORE_VIEW_DUPLICATES] = store__view_duplicates;
  sql[STORE_VIEW_MESSAGES] = store__view_messages;
  sql[STORE_VIEW_EXPORTS] = store__view_exports;
  sql[STORE_VIEW_DAY] = store__view_today;
  sql[STORE_VIEW_HISTORY] = store__view_history;
  sql[STORE_VIEW_PEOPLE] = store__view_people;
  sql[STORE_VIEW_PERSON] = store__view_person;

  memset(v->json, 0, sizeof(v->json));
  v->org = 0;
  v->today[0] = '\0';
  /* One snapshot for every part. */
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return PROTO_ESTORAGE;
  if (sqlite3_prepare_v2(db,
                         "SELECT id, tz FROM orgs WHERE ?1 = 0 OR id = ?1 ORDER BY id LIMIT 1", -1,
                         &st, NULL) != SQLITE_OK) {
    result = PROTO_ESTORAGE;
    goto end;
  }
  sqlite3_bind_int64(st, 1, v->org_id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    v->org = sqlite3_column_int64(st, 0);
    /* A zone missing from this machine's database: the default one. */
    const zone_t *zone = zone_cached((const char *)sqlite3_column_text(st, 1));
    if (!zone) zone = zone_cached(ZONE_DEFAULT);
    if (zone) zone_date(zone, v->now_ms, v->today);
    else result = PROTO_ESTORAGE;
  } else if (rc != SQLITE_DONE)
    result = PROTO_ESTORAGE;
  sqlite3_finalize(st);

  for (int part = 0; part < STORE_VIEW_NPARTS && result == 0; part++)
    if (v->parts & (1u << part))
      result = store__view_part(db, sql[part], v,
                                part == STORE_VIEW_DAY       ? v->day
                                : part == STORE_VIEW_HISTORY ? v->activity
                                : part == STORE_VIEW_PEOPLE  ? v->search
                                : part == STORE_VIEW_PERSON  ? v->participant
                                                             : v->today,
                                &v->json[part]);

end:
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK && result == 0)
    result = PROTO_ESTORAGE;
  return result;
}

void store__view_dispose(store_req_t *req) {
  for (int part = 0; part < STORE_VIEW_NPARTS; part++) {
    free(req->u.view.json[part]);
    req->u.view.json[part] = NULL;
  }
}

/* ---- actions ----------------------------------------------------------------- */

/* Runs sql with int64 ?1, text ?2 and int64 ?3 bound (as far as the
 * statement numbers its parameters; one it skips stays unused) and returns
 * the first column of the first row as int64 in *out (found says whether
 * there was a row). A statement that changes rows runs to completion. */
static int store__dash_int(sqlite3 *db, const char *sql, int64_t a, const char *b, int64_t c,
                           int64_t *out, bool *found) {
  sqlite3_stmt *st = NULL;
  int rc;

  *found = false;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    goto fail;
  sqlite3_bind_int64(st, 1, a);
  if (sqlite3_bind_parameter_count(st) >= 2)
    sqlite3_bind_text(st, 2, b ? b : "", -1, SQLITE_STATIC);
  if (sqlite3_bind_parameter_count(st) >= 3)
    sqlite3_bind_int64(st, 3, c);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *found = true;
    *out = sqlite3_column_int64(st, 0);
  } else if (rc != SQLITE_DONE) {
    goto fail;
  }
  sqlite3_finalize(st);
  return 0;

fail:
  fprintf(stderr, "store: dashboard action: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return PROTO_ESTORAGE;
}

/* The server's device for org, created (without a token: it never logs in)
 * when missing; its last device_seq in *last. */
static int store__dash_device(sqlite3 *db, int64_t org, int64_t now_ms,
                              char id[PROTO_MAX_ID_BYTES + 1], uint64_t *last) {
  sqlite3_stmt *st = NULL;
  int64_t dev_org = 0, seq = 0;
  bool found;
  int rc;

  snprintf(id, PROTO_MAX_ID_BYTES + 1, "%s", STORE__DASH_SERVER_DEVICE);
  rc = store__dash_int(db, "SELECT org FROM devices WHERE id = ?2", 0, id, 0, &dev_org, &found);
  if (rc != 0)
    return rc;
  /* Device ids are global; "server" may already serve another org. */
  if (found && dev_org != org)
    snprintf(id, PROTO_MAX_ID_BYTES + 1, "%s-%" PRId64, STORE__DASH_SERVER_DEVICE, org);
  rc = store__dash_int(db, "SELECT last_seq FROM devices WHERE org = ?1 AND id = ?2", org, id, 0,
                       &seq, &found);
  if (rc != 0)
    return rc;
  if (found) {
    *last = (uint64_t)seq;
    return 0;
  }
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO devices (id, org, name, token_hash, app, created_ms) "
                         "VALUES (?1, ?2, 'Turf server', NULL, 'turfd', ?3)",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, org);
  sqlite3_bind_int64(st, 3, now_ms);
  if (sqlite3_step(st) != SQLITE_DONE)
    goto fail;
  sqlite3_finalize(st);
  *last = 0;
  return 0;

fail:
  fprintf(stderr, "store: dashboard device: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return PROTO_ESTORAGE;
}

/* Commits op (type, keys and fields set) as the server's next op on org:
 * device_seq after the device's last, base = head (the server has seen
 * everything, so the op overwrites without a conflict), and an HLC above
 * every clock the record holds so that it wins. Checked as the
 * administrator's (scope_check_op), applied, logged to ops; the device's
 * last_seq and the org's head move. */
static int store__dash_commit(sqlite3 *db, replica_t *replica, scope_t *scope,
                              store_action_t *a, proto_op_t *op) {
  char device[PROTO_MAX_ID_BYTES + 1];
  scope_where_t where;
  sqlite3_stmt *st = NULL;
  proto_buf_t blob;
  hlc_t clock;
  int64_t head = 0, top = 0;
  uint64_t last = 0;
  bool found;
  int rc;

  proto_buf_init(&blob, 0);
  rc = store__dash_int(db, "SELECT head FROM orgs WHERE id = ?1", a->org_id, NULL, 0, &head,
                       &found);
  if (rc != 0)
    goto done;
  if (!found) {
    rc = PROTO_EBAD_FIELD;
    goto done;
  }
  rc = store__dash_int(db,
                       "SELECT COALESCE(max(hlc), 0) FROM field_clocks "
                       "WHERE org = ?1 AND k = ?2 AND rtype = ?3",
                       a->org_id, op->key.ptr, op->type, &top, &found);
  if (rc != 0)
    goto done;
  rc = store__dash_device(db, a->org_id, a->now_ms, device, &last);
  if (rc != 0)
    goto done;

  hlc_init(&clock, (uint64_t)top);
  op->device = proto_str(device);
  op->seq = last + 1;
  op->hlc = hlc_now(&clock, a->now_ms);
  op->base = (uint64_t)head;
  op->server_seq = (uint64_t)head + 1;
  rc = schema_validate_op(op);
  if (rc == 0)
    rc = scope_check_op(scope, a->org_id, NULL, op, &where);
  if (rc == 0)
    rc = replica_apply(replica, a->org_id, op);
  if (rc == 0)
    rc = proto_encode_fields(op, &blob) == 0 ? 0 : PROTO_EINTERNAL;
  if (rc != 0)
    goto done;

  rc = PROTO_ESTORAGE;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO ops (org, server_seq, device, seq, hlc, rtype, k, k2, base, "
                         "fields, loc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                         -1, &st, NULL) != SQLITE_OK)
    goto sql_error;
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_int64(st, 2, (int64_t)op->server_seq);
  sqlite3_bind_text(st, 3, device, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (int64_t)op->seq);
  sqlite3_bind_int64(st, 5, (int64_t)op->hlc);
  sqlite3_bind_int(st, 6, op->type);
  sqlite3_bind_text(st, 7, op->key.ptr, (int)op->key.len, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, op->key2.len ? op->key2.ptr : "", (int)op->key2.len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 9, (int64_t)op->base);
  sqlite3_bind_blob(st, 10, proto_buf_data(&blob), (int)blob.len, SQLITE_STATIC);
  scope_bind_where(st, 11, &where);
  if (sqlite3_step(st) != SQLITE_DONE)
    goto sql_error;
  sqlite3_finalize(st);
  st = NULL;
  if (scope_note_op(scope, a->org_id, op, &where, NULL) != 0)
    goto done; /* rc is PROTO_ESTORAGE; printed */

  if (sqlite3_prepare_v2(db, "UPDATE devices SET last_seq = ?2, last_seen_ms = ?3 WHERE id = ?1",
                         -1, &st, NULL) != SQLITE_OK)
    goto sql_error;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (int64_t)op->seq);
  sqlite3_bind_int64(st, 3, a->now_ms);
  if (sqlite3_step(st) != SQLITE_DONE)
    goto sql_error;
  sqlite3_finalize(st);
  st = NULL;

  if (sqlite3_prepare_v2(db, "UPDATE orgs SET head = ?2 WHERE id = ?1", -1, &st, NULL) !=
      SQLITE_OK)
    goto sql_error;
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_int64(st, 2, (int64_t)op->server_seq);
  if (sqlite3_step(st) != SQLITE_DONE)
    goto sql_error;
  a->head = op->server_seq;
  a->nops++;
  rc = 0;
  goto done;

sql_error:
  fprintf(stderr, "store: dashboard op: %s\n", sqlite3_errmsg(db));
done:
  sqlite3_finalize(st);
  proto_buf_dispose(&blob);
  return rc;
}

/* A revert writes the value the conflict's losing op had set. */
static int store__dash_revert(sqlite3 *db, replica_t *replica, scope_t *scope,
                              store_action_t *a) {
  char key[PROTO_MAX_ID_BYTES + 1], key2[PROTO_MAX_ID_BYTES + 1];
  char text[PROTO_MAX_TEXT_BYTES];
  const schema_field_t *f;
  sqlite3_stmt *st = NULL;
  proto_field_t field;
  proto_op_t op;
  int rc, type, n;

  if (sqlite3_prepare_v2(db,
                         "SELECT rtype, k, k2, field, lost_value, COALESCE(resolved, 0) "
                         "FROM conflicts WHERE id = ?1 AND org = ?2",
                         -1, &st, NULL) != SQLITE_OK)
    goto sql_error;
  sqlite3_bind_int64(st, 1, a->conflict);
  sqlite3_bind_int64(st, 2, a->org_id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_finalize(st);
    return PROTO_EBAD_FIELD;
  }
  if (rc != SQLITE_ROW)
    goto sql_error;
  if (sqlite3_column_int(st, 5) != 0) {
    sqlite3_finalize(st);
    return PROTO_EINVALID_OP; /* reverted or dismissed already */
  }
  memset(&op, 0, sizeof(op));
  memset(&field, 0, sizeof(field));
  op.type = (uint8_t)sqlite3_column_int(st, 0);
  snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(st, 1));
  snprintf(key2, sizeof(key2), "%s", (const char *)sqlite3_column_text(st, 2));
  field.id = (uint8_t)sqlite3_column_int(st, 3);
  f = schema_field(schema_type(op.type), field.id);
  if (f == NULL) {
    sqlite3_finalize(st);
    return PROTO_EINVALID_OP;
  }
  type = sqlite3_column_type(st, 4);
  if (type == SQLITE_NULL) {
    field.value.type = PROTO_NIL;
  } else if (f->vtype == PROTO_STR) {
    n = sqlite3_column_bytes(st, 4);
    if (n < 0 || (size_t)n > sizeof(text)) {
      sqlite3_finalize(st);
      return PROTO_EINVALID_OP;
    }
    memcpy(text, sqlite3_column_text(st, 4), (size_t)n);
    field.value.type = PROTO_STR;
    field.value.u.s.ptr = text;
    field.value.u.s.len = (uint32_t)n;
  } else if (f->vtype == PROTO_BOOL) {
    field.value.type = PROTO_BOOL;
    field.value.u.b = sqlite3_column_int64(st, 4) != 0;
  } else {
    field.value.type = PROTO_INT;
    field.value.u.i = sqlite3_column_int64(st, 4);
  }
  sqlite3_finalize(st);
  st = NULL;

  op.key = proto_str(key);
  op.key2 = proto_str(key2);
  op.fields = &field;
  op.nfields = 1;
  rc = store__dash_commit(db, replica, scope, a, &op);
  if (rc != 0)
    return rc;
  if (sqlite3_prepare_v2(db, "UPDATE conflicts SET resolved = 1 WHERE id = ?1", -1, &st, NULL) !=
      SQLITE_OK)
    goto sql_error;
  sqlite3_bind_int64(st, 1, a->conflict);
  if (sqlite3_step(st) != SQLITE_DONE)
    goto sql_error;
  sqlite3_finalize(st);
  return 0;

sql_error:
  fprintf(stderr, "store: dashboard revert: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return PROTO_ESTORAGE;
}

static int store__dash_dismiss(sqlite3 *db, store_action_t *a) {
  int64_t resolved = 0;
  bool found;
  int rc;

  rc = store__dash_int(db, "SELECT COALESCE(resolved, 0) FROM conflicts WHERE id = ?1 AND org = ?3",
                       a->conflict, NULL, a->org_id, &resolved, &found);
  if (rc != 0)
    return rc;
  if (!found)
    return PROTO_EBAD_FIELD;
  if (resolved != 0)
    return PROTO_EINVALID_OP;
  return store__dash_int(db, "UPDATE conflicts SET resolved = 2 WHERE id = ?1", a->conflict, NULL,
                         0, &resolved, &found);
}

/* A merge sets drop's merged_into to keep (replica.c then counts drop's
 * check-ins as keep's). Refused when keep is drop, or is itself merged into
 * drop: the coordinator would be closing a circle. */
static int store__dash_merge(sqlite3 *db, replica_t *replica, scope_t *scope, store_action_t *a) {
  const schema_type_t *pt = schema_type(SCHEMA_PARTICIPANT);
  char at[PROTO_MAX_ID_BYTES + 1];
  proto_field_t field;
  proto_op_t op;
  sqlite3_stmt *st = NULL;
  int64_t one;
  bool found;
  int rc;

  if (a->keep[0] == '\0' || a->drop[0] == '\0')
    return PROTO_EBAD_FIELD;
  if (strcmp(a->keep, a->drop) == 0)
    return PROTO_EINVALID_OP;
  rc = store__dash_int(db, "SELECT 1 FROM participants WHERE org = ?1 AND id = ?2", a->org_id,
                       a->keep, 0, &one, &found);
  if (rc == 0 && !found)
    rc = PROTO_EBAD_FIELD;
  if (rc == 0)
    rc = store__dash_int(db, "SELECT 1 FROM participants WHERE org = ?1 AND id = ?2", a->org_id,
                         a->drop, 0, &one, &found);
  if (rc == 0 && !found)
    rc = PROTO_EBAD_FIELD;
  if (rc != 0)
    return rc;

  /* Follow keep's own merges: they must not lead back to drop. */
  snprintf(at, sizeof(at), "%s", a->keep);
  if (sqlite3_prepare_v2(db, "SELECT merged_into FROM participants WHERE org = ?1 AND id = ?2",
                         -1, &st, NULL) != SQLITE_OK)
    goto sql_error;
  for (int hop = 0; hop < STORE__DASH_MAX_HOPS; hop++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, a->org_id);
    sqlite3_bind_text(st, 2, at, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL))
      break;
    if (rc != SQLITE_ROW)
      goto sql_error;
    snprintf(at, sizeof(at), "%s", (const char *)sqlite3_column_text(st, 0));
    if (strcmp(at, a->drop) == 0) {
      sqlite3_finalize(st);
      return PROTO_EINVALID_OP;
    }
  }
  sqlite3_finalize(st);

  memset(&op, 0, sizeof(op));
  memset(&field, 0, sizeof(field));
  op.type = pt->id;
  op.key = proto_str(a->drop);
  for (uint32_t i = 0; i < pt->nfields; i++)
    if (strcmp(pt->fields[i].name, "merged_into") == 0)
      field.id = pt->fields[i].id;
  field.value.type = PROTO_STR;
  field.value.u.s = proto_str(a->keep);
  op.fields = &field;
  op.nfields = 1;
  return store__dash_commit(db, replica, scope, a, &op);

sql_error:
  fprintf(stderr, "store: dashboard merge: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return PROTO_ESTORAGE;
}

int store__action(sqlite3 *db, replica_t *replica, scope_t *scope, store_req_t *req) {
  store_action_t *a = &req->u.action;
  int rc;

  a->nops = 0;
  a->head = 0;
  /* A refusal found halfway (the server device already created, say)
   * must leave nothing behind in the shared transaction. */
  if (sqlite3_exec(db, "SAVEPOINT store_action", NULL, NULL, NULL) != SQLITE_OK)
    return PROTO_ESTORAGE;
  switch (a->kind) {
  case STORE_ACTION_REVERT:
    rc = store__dash_revert(db, replica, scope, a);
    break;
  case STORE_ACTION_DISMISS:
    rc = store__dash_dismiss(db, a);
    break;
  case STORE_ACTION_MERGE:
    rc = store__dash_merge(db, replica, scope, a);
    break;
  default:
    rc = PROTO_EBAD_FIELD;
    break;
  }
  if (rc != 0 && rc != PROTO_ESTORAGE && rc != PROTO_ENOMEM && rc != PROTO_EINTERNAL) {
    a->nops = 0;
    a->head = 0;
    if (sqlite3_exec(db, "ROLLBACK TO store_action", NULL, NULL, NULL) != SQLITE_OK)
      rc = PROTO_ESTORAGE;
  }
  if (sqlite3_exec(db, "RELEASE store_action", NULL, NULL, NULL) != SQLITE_OK)
    rc = PROTO_ESTORAGE;
  return rc;
}
