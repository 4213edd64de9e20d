/* store_report.c — the funder report and the log of its downloads
 * (store_report.h, store.h STORE_REPORT and STORE_EXPORT_LOG).
 *
 * Every table is one SELECT over the same common table expressions: the
 * sessions of the period in scope, the named visits (check-ins with status
 * present) and anonymous ones (tallies) of those held, and who came before
 * the period. A participant is new in the period when their first visit
 * ever, in scope, falls in it (they came, and not before), and new to an
 * activity when their first visit there does. JSON is built by SQLite's json functions (names typed on
 * tablets are escaped by SQLite); every table of one request comes from
 * one statement and one snapshot. CSV is written here, on the reader
 * thread, row by row.
 *
 * Owns nothing between requests. */
#include "store_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* ?1 organisation, ?2 first and ?3 last date, ?4 location and ?5 activity
 * ("" for all), ?6 names instead of pseudonyms. */
static const char store__report_with[] =
    "WITH scoped AS (SELECT s.id, s.date, s.activity, COALESCE(s.cancelled, 0) AS cancelled,"
    "    a.name AS activity_name, a.location, l.name AS location_name"
    "  FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity"
    "  LEFT JOIN locations l ON l.org = a.org AND l.id = a.location"
    "  WHERE s.org = ?1 AND s.date BETWEEN ?2 AND ?3"
    "  AND (?4 = '' OR a.location = ?4) AND (?5 = '' OR s.activity = ?5)),"
    "held AS (SELECT * FROM scoped WHERE NOT cancelled),"
    "visits AS MATERIALIZED (SELECT c.participant, c.session,"
    "  (SELECT x.date FROM sessions x WHERE x.org = ?1 AND x.id = c.session) AS date,"
    "  (SELECT x.activity FROM sessions x WHERE x.org = ?1 AND x.id = c.session) AS activity"
    "  FROM checkins c WHERE c.org = ?1 AND c.status = 'present'"
    "  AND c.session IN (SELECT id FROM held)),"
    "anon AS (SELECT h.id AS session, h.date, h.activity, COALESCE(t.total, 0) AS n"
    "  FROM held h LEFT JOIN session_tallies t ON t.org = ?1 AND t.session = h.id),"
    /* Who came before the period, in scope: who did not is new in it (to
     * an activity: who did not come to that one). Only the sessions before
     * the period are read for it, not all of them again. */
    "earlier_sessions AS (SELECT s.id, s.activity"
    "  FROM sessions s LEFT JOIN activities a ON a.org = s.org AND a.id = s.activity"
    "  WHERE s.org = ?1 AND s.date < ?2 AND NOT COALESCE(s.cancelled, 0)"
    "  AND (?4 = '' OR a.location = ?4) AND (?5 = '' OR s.activity = ?5)),"
    /* IN, not a join: SQLite then reads the check-ins view for those
     * sessions only, once (joined, it read the view again per session). */
    "earlier AS MATERIALIZED (SELECT c.participant,"
    "  (SELECT x.activity FROM sessions x WHERE x.org = ?1 AND x.id = c.session) AS activity"
    "  FROM checkins c WHERE c.org = ?1 AND c.status = 'present'"
    "  AND c.session IN (SELECT id FROM earlier_sessions)),"
    "new_to_activity AS (SELECT participant, activity, min(date) AS first FROM visits"
    "  WHERE (participant, COALESCE(activity, '')) NOT IN"
    "    (SELECT participant, COALESCE(activity, '') FROM earlier)"
    "  GROUP BY participant, activity),"
    "newcomers AS (SELECT participant, min(date) AS first FROM visits"
    "  WHERE participant NOT IN (SELECT participant FROM earlier) GROUP BY participant),"
    "per_person AS (SELECT participant, count(*) AS n, min(date) AS first, max(date) AS last"
    "  FROM visits GROUP BY participant),"
    /* Every month of the period, also those without a session (at most 300:
     * server/report.c keeps a period under that). */
    "months(month, i) AS (SELECT substr(?2, 1, 7), 0 UNION ALL"
    "  SELECT substr(date(month || '-01', '+1 month'), 1, 7), i + 1 FROM months"
    "  WHERE month < substr(?3, 1, 7) AND i < 300),"
    "totals AS (SELECT (SELECT count(*) FROM held) AS sessions,"
    "  (SELECT count(*) FROM visits) AS named,"
    "  (SELECT COALESCE(sum(n), 0) FROM anon) AS anonymous) ";

typedef struct {
  const char *name;
  const char *select; /* after store__report_with */
  const char *const *dutch, *const *english; /* CSV headers, one per column */
} store__table_t;

#define STORE__AVERAGE(visits, sessions) \
  "CASE WHEN " sessions " > 0 THEN round((" visits ") * 1.0 / " sessions ", 1) END"

static const char *const store__summary_nl[] = {
    "Bijeenkomsten", "Afgelast", "Bezoeken", "Met naam", "Anoniem", "Deelnemers", "Nieuw",
    "Terugkerend", "Gemiddeld per bijeenkomst"};
static const char *const store__summary_en[] = {
    "Sessions", "Cancelled", "Visits", "Named", "Anonymous", "Participants", "New", "Returning",
    "Average per session"};
static const char *const store__months_nl[] = {"Maand", "Bijeenkomsten", "Bezoeken", "Met naam",
                                               "Anoniem", "Deelnemers", "Nieuw"};
static const char *const store__months_en[] = {"Month", "Sessions", "Visits", "Named",
                                               "Anonymous", "Participants", "New"};
static const char *const store__activities_nl[] = {
    "Activiteit", "Locatie", "Bijeenkomsten", "Bezoeken", "Met naam", "Anoniem", "Deelnemers",
    "Nieuw", "Gemiddeld per bijeenkomst"};
static const char *const store__activities_en[] = {
    "Activity", "Location", "Sessions", "Visits", "Named", "Anonymous", "Participants", "New",
    "Average per session"};
static const char *const store__frequency_nl[] = {"Aantal keer gekomen", "Deelnemers"};
static const char *const store__frequency_en[] = {"Times come", "Participants"};
static const char *const store__referrals_nl[] = {"Verwezen door", "Nieuwe deelnemers"};
static const char *const store__referrals_en[] = {"Referred by", "New participants"};
static const char *const store__people_nl[] = {"Deelnemer", "Bezoeken", "Eerste keer",
                                               "Laatste keer", "Nieuw", "Verwezen door"};
static const char *const store__people_en[] = {"Participant", "Visits", "First visit",
                                               "Last visit", "New", "Referred by"};

static const store__table_t store__tables[] = {
    {"summary",
     "SELECT t.sessions AS sessions, (SELECT count(*) FROM scoped WHERE cancelled) AS cancelled,"
     "  t.named + t.anonymous AS visits, t.named AS named, t.anonymous AS anonymous,"
     "  (SELECT count(*) FROM per_person) AS participants,"
     "  (SELECT count(*) FROM newcomers) AS new,"
     "  (SELECT count(*) FROM per_person) - (SELECT count(*) FROM newcomers) AS \"returning\","
     "  " STORE__AVERAGE("t.named + t.anonymous", "t.sessions") " AS average FROM totals t",
     store__summary_nl, store__summary_en},
    {"months",
     "SELECT m.month AS month, COALESCE(h.sessions, 0) AS sessions,"
     "  COALESCE(v.named, 0) + COALESCE(a.anonymous, 0) AS visits, COALESCE(v.named, 0) AS named,"
     "  COALESCE(a.anonymous, 0) AS anonymous, COALESCE(v.participants, 0) AS participants,"
     "  COALESCE(n.new, 0) AS new "
     "FROM months m"
     "  LEFT JOIN (SELECT substr(date, 1, 7) AS month, count(*) AS sessions FROM held GROUP BY 1) h"
     "    ON h.month = m.month"
     "  LEFT JOIN (SELECT substr(date, 1, 7) AS month, count(*) AS named,"
     "    count(DISTINCT participant) AS participants FROM visits GROUP BY 1) v ON v.month = m.month"
     "  LEFT JOIN (SELECT substr(date, 1, 7) AS month, sum(n) AS anonymous FROM anon GROUP BY 1) a"
     "    ON a.month = m.month"
     "  LEFT JOIN (SELECT substr(first, 1, 7) AS month, count(*) AS new FROM newcomers GROUP BY 1) n"
     "    ON n.month = m.month "
     "ORDER BY m.month",
     store__months_nl, store__months_en},
    {"activities",
     "SELECT a.activity_name AS activity, a.location_name AS location, a.sessions AS sessions,"
     "  COALESCE(v.named, 0) + COALESCE(n.anonymous, 0) AS visits, COALESCE(v.named, 0) AS named,"
     "  COALESCE(n.anonymous, 0) AS anonymous, COALESCE(v.participants, 0) AS participants,"
     "  (SELECT count(*) FROM new_to_activity f WHERE f.activity IS a.activity) AS new,"
     "  " STORE__AVERAGE("COALESCE(v.named, 0) + COALESCE(n.anonymous, 0)", "a.sessions") " AS average "
     "FROM (SELECT activity, max(activity_name) AS activity_name,"
     "    max(location_name) AS location_name, count(*) AS sessions FROM held GROUP BY activity) a"
     "  LEFT JOIN (SELECT activity, count(*) AS named, count(DISTINCT participant) AS participants"
     "    FROM visits GROUP BY activity) v ON v.activity = a.activity"
     "  LEFT JOIN (SELECT activity, sum(n) AS anonymous FROM anon GROUP BY activity) n"
     "    ON n.activity = a.activity "
     "ORDER BY a.location_name, a.activity_name, a.activity",
     store__activities_nl, store__activities_en},
    /* An en dash, not a hyphen: a spreadsheet reads "2-3" as a date. */
    {"frequency",
     "SELECT b.label AS visits, (SELECT count(*) FROM per_person WHERE n BETWEEN b.lo AND b.hi)"
     "  AS participants FROM (SELECT '1' AS label, 1 AS lo, 1 AS hi, 1 AS o"
     "  UNION ALL SELECT '2\xe2\x80\x93" "3', 2, 3, 2 UNION ALL SELECT '4\xe2\x80\x93" "9', 4, 9, 3"
     "  UNION ALL SELECT '10+', 10, 9223372036854775807, 4) b ORDER BY b.o",
     store__frequency_nl, store__frequency_en},
    {"referrals",
     "SELECT NULLIF(trim(p.referral), '') AS referral, count(*) AS new FROM newcomers n"
     "  LEFT JOIN participants p ON p.org = ?1 AND p.id = n.participant"
     "  GROUP BY 1 ORDER BY count(*) DESC, 1",
     store__referrals_nl, store__referrals_en},
    /* One row per person: a pseudonym (their own, else one made of their
     * id) unless ?6 asks for names. */
    {"participants",
     "SELECT CASE WHEN ?6 THEN COALESCE(p.name, v.participant)"
     "  ELSE COALESCE(NULLIF(p.pseudonym, ''), 'P-' || upper(substr(v.participant, -8))) END"
     "  AS participant, v.n AS visits, v.first AS first, v.last AS last,"
     "  v.participant IN (SELECT participant FROM newcomers) AS new, p.referral AS referral "
     "FROM per_person v LEFT JOIN participants p ON p.org = ?1 AND p.id = v.participant"
     " ORDER BY 1, v.participant",
     store__people_nl, store__people_en},
};
#define STORE__NTABLES (sizeof store__tables / sizeof store__tables[0])
#define STORE__PARTICIPANTS_TABLE (STORE__NTABLES - 1) /* JSON of "every table" leaves it out */

/* ---- statements ---------------------------------------------------------------- */

static void store__report_bind(sqlite3_stmt *st, const store_report_t *r) {
  int n = sqlite3_bind_parameter_count(st);
  if (n >= 1)
    sqlite3_bind_int64(st, 1, r->org_id);
  if (n >= 2)
    sqlite3_bind_text(st, 2, r->from, -1, SQLITE_STATIC);
  if (n >= 3)
    sqlite3_bind_text(st, 3, r->to, -1, SQLITE_STATIC);
  if (n >= 4)
    sqlite3_bind_text(st, 4, r->location, -1, SQLITE_STATIC);
  if (n >= 5)
    sqlite3_bind_text(st, 5, r->activity, -1, SQLITE_STATIC);
  if (n >= 6)
    sqlite3_bind_int(st, 6, r->names);
}

/* Appends to sql: the JSON of one table's rows, {"columns": [...], "rows":
 * [[...]]}, as a scalar subquery. Column names come from preparing the
 * table's own select. */
static int store__json_table(sqlite3 *db, const store__table_t *t, text_t *sql) {
  text_t probe = {0};
  sqlite3_stmt *st = NULL;
  int ncols;

  text_puts(&probe, store__report_with);
  text_puts(&probe, t->select);
  if (probe.failed || sqlite3_prepare_v2(db, probe.p, -1, &st, NULL) != SQLITE_OK) {
    free(probe.p);
    return PROTO_ESTORAGE;
  }
  free(probe.p);
  ncols = sqlite3_column_count(st);
  text_puts(sql, "(SELECT json_object('columns', json_array(");
  for (int i = 0; i < ncols; i++) {
    text_puts(sql, i ? ", '" : "'");
    text_puts(sql, sqlite3_column_name(st, i)); /* our own aliases: no quote in them */
    text_puts(sql, "'");
  }
  text_puts(sql, "), 'rows', json_group_array(json_array(");
  for (int i = 0; i < ncols; i++) {
    text_puts(sql, i ? ", \"" : "\"");
    text_puts(sql, sqlite3_column_name(st, i));
    text_puts(sql, "\"");
  }
  text_puts(sql, "))) FROM (");
  text_puts(sql, t->select);
  text_puts(sql, "))");
  sqlite3_finalize(st);
  return sql->failed ? PROTO_ENOMEM : 0;
}

static int store__report_json(sqlite3 *db, store_report_t *r, const store__table_t *only) {
  text_t sql = {0};
  sqlite3_stmt *st = NULL;
  int rc = 0;

  text_puts(&sql, store__report_with);
  text_puts(&sql, ", report AS (SELECT json_object('from', ?2, 'to', ?3,"
                    " 'location', NULLIF(?4, ''), 'activity', NULLIF(?5, ''), 'tables', json_object(");
  for (size_t i = 0; i < STORE__NTABLES && rc == 0; i++) {
    const store__table_t *t = &store__tables[i];
    if (only ? t != only : i == STORE__PARTICIPANTS_TABLE)
      continue;
    if (sql.failed)
      break;
    text_puts(&sql, sql.p[sql.len - 1] == '(' ? "'" : ", '");
    text_puts(&sql, t->name);
    text_puts(&sql, "', json(");
    rc = store__json_table(db, t, &sql);
    text_puts(&sql, ")");
  }
  text_puts(&sql, ")) AS j) SELECT j, (SELECT COALESCE(sum(json_array_length(value, '$.rows')), 0)"
                    " FROM json_each(j, '$.tables')) FROM report");
  if (rc == 0 && sql.failed)
    rc = PROTO_ENOMEM;
  if (rc == 0 && sqlite3_prepare_v2(db, sql.p, -1, &st, NULL) != SQLITE_OK)
    rc = PROTO_ESTORAGE;
  if (rc == 0) {
    store__report_bind(st, r);
    if (sqlite3_step(st) != SQLITE_ROW) {
      rc = PROTO_ESTORAGE;
    } else {
      int n = sqlite3_column_bytes(st, 0);
      r->body = malloc((size_t)n + 1);
      if (r->body == NULL) {
        rc = PROTO_ENOMEM;
      } else {
        memcpy(r->body, sqlite3_column_text(st, 0), (size_t)n);
        r->body[n] = '\0';
        r->len = (size_t)n;
        r->rows = (uint32_t)sqlite3_column_int64(st, 1);
      }
    }
  }
  if (rc == PROTO_ESTORAGE)
    fprintf(stderr, "store: report: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  free(sql.p);
  return rc;
}

/* One CSV cell. Quoted when it holds the separator, a quote or a line
 * break; a cell that a spreadsheet would run as a formula (starting with
 * = + - @, or a tab or carriage return before one) gets an apostrophe
 * first (names are typed on tablets). */
static void store__csv_cell(text_t *out, sqlite3_stmt *st, int col, char sep) {
  char num[64];
  switch (sqlite3_column_type(st, col)) {
  case SQLITE_NULL:
    return;
  case SQLITE_INTEGER:
    snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, col));
    text_puts(out, num);
    return;
  case SQLITE_FLOAT: {
    snprintf(num, sizeof num, "%.1f", sqlite3_column_double(st, col));
    if (sep == ';') {
      char *dot = strchr(num, '.');
      if (dot)
        *dot = ',';
    }
    text_puts(out, num);
    return;
  }
  default: {
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (s == NULL) /* out of memory: the cell stays empty */
      return;
    bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                   s[0] == '\r';
    bool quote = formula || strchr(s, sep) || strchr(s, '"') || strchr(s, '\n') || strchr(s, '\r');
    if (!quote) {
      text_puts(out, s);
      return;
    }
    text_puts(out, formula ? "\"'" : "\"");
    for (const char *p = s; *p; p++) {
      text_put(out, p, 1);
      if (*p == '"')
        text_put(out, p, 1); /* a quote doubled */
    }
    text_puts(out, "\"");
  }
  }
}

static int store__report_csv(sqlite3 *db, store_report_t *r, const store__table_t *t) {
  text_t sql = {0}, out = {0};
  sqlite3_stmt *st = NULL;
  const char *const *labels = r->dutch ? t->dutch : t->english;
  char sep[2] = {r->sep == ';' ? ';' : ',', '\0'};
  int rc = 0, ncols, step;

  text_puts(&sql, store__report_with);
  text_puts(&sql, t->select);
  if (sql.failed) {
    free(sql.p);
    return PROTO_ENOMEM;
  }
  if (sqlite3_prepare_v2(db, sql.p, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "store: report: %s\n", sqlite3_errmsg(db));
    free(sql.p);
    return PROTO_ESTORAGE;
  }
  free(sql.p);
  store__report_bind(st, r);
  ncols = sqlite3_column_count(st);
  text_puts(&out, "\xef\xbb\xbf"); /* the byte order mark: Excel then reads UTF-8 */
  for (int i = 0; i < ncols; i++) {
    if (i)
      text_puts(&out, sep);
    text_puts(&out, labels[i]);
  }
  text_puts(&out, "\r\n");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < ncols; i++) {
      if (i)
        text_puts(&out, sep);
      store__csv_cell(&out, st, i, sep[0]);
    }
    text_puts(&out, "\r\n");
    r->rows++;
  }
  if (step != SQLITE_DONE) {
    fprintf(stderr, "store: report: %s\n", sqlite3_errmsg(db));
    rc = PROTO_ESTORAGE;
  } else if (out.failed) {
    rc = PROTO_ENOMEM;
  }
  sqlite3_finalize(st);
  if (rc != 0) {
    free(out.p);
    return rc;
  }
  r->body = out.p;
  r->len = out.len;
  return 0;
}

int store__report(sqlite3 *db, store_req_t *req) {
  store_report_t *r = &req->u.report;
  const store__table_t *t = NULL;
  int rc;

  r->body = NULL;
  r->len = 0;
  r->rows = 0;
  for (size_t i = 0; i < STORE__NTABLES; i++)
    if (strcmp(store__tables[i].name, r->table) == 0)
      t = &store__tables[i];
  if (r->table[0] && t == NULL)
    return PROTO_EBAD_FIELD;
  if (r->format == STORE_REPORT_CSV && t == NULL)
    return PROTO_EBAD_FIELD;
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return PROTO_ESTORAGE;
  rc = r->format == STORE_REPORT_CSV ? store__report_csv(db, r, t) : store__report_json(db, r, t);
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK && rc == 0)
    rc = PROTO_ESTORAGE;
  return rc;
}

void store__report_dispose(store_req_t *req) {
  free(req->u.report.body);
  req->u.report.body = NULL;
  req->u.report.len = 0;
}

/* ---- the log of downloads ------------------------------------------------------- */

const char store__schema_exports[] =
    "CREATE TABLE exports ( -- every download of a report's table, before it was sent\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  org INTEGER NOT NULL,\n"
    "  at_ms INTEGER NOT NULL,\n"
    "  login TEXT NOT NULL,\n"
    "  what TEXT NOT NULL,\n"
    "  format TEXT NOT NULL,\n"
    "  rows INTEGER NOT NULL,\n"
    "  names INTEGER NOT NULL DEFAULT 0 -- participants by name, not pseudonym\n"
    ");\n"
    "CREATE INDEX exports_by_org ON exports (org, at_ms);\n";

int store__export_log(sqlite3 *db, store_req_t *req) {
  const store_export_log_t *e = &req->u.export_log;
  sqlite3_stmt *st = NULL;
  int rc = PROTO_ESTORAGE;

  if (sqlite3_prepare_v2(db,
                         "INSERT INTO exports (org, at_ms, login, what, format, rows, names)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, e->org_id);
    sqlite3_bind_int64(st, 2, e->at_ms);
    sqlite3_bind_text(st, 3, e->login, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->what, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->format, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, e->rows);
    sqlite3_bind_int(st, 7, e->names);
    if (sqlite3_step(st) == SQLITE_DONE)
      rc = 0;
  }
  if (rc != 0)
    fprintf(stderr, "store: export log: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return rc;
}
