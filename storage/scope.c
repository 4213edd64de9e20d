/* scope.c — where ops belong and who may write them (see scope.h).
 *
 * Owns the prepared statements of one scope_t and nothing in the database:
 * the caller owns the connection and the transaction. Every check is a
 * primary-key or index lookup (the server schema indexes record ids for
 * the "another organisation" test), a handful per op; turfd's writer
 * also keeps their answers in a bounded in-memory cache (scope_cache_begin),
 * because a storm checks the same sessions and participants over and over
 * and those lookups were a sixth of the writer's work per op. */
#include "scope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

/* The lookup cache. Direct-mapped: an entry's slot depends on its kind and
 * id only, not on the organisation asking, so every entry an op on an id
 * may change is found from the id alone; a lookup that collides replaces
 * the entry. Bounded: SCOPE__CACHE_SLOTS entries of about 150 bytes. */
#define SCOPE__CACHE_SLOTS 8192u

/* What an entry answers. "Exists in another organisation" is one kind per
 * record type: SCOPE__K_FOREIGN + type. */
enum {
  SCOPE__K_FOREIGN = 0,
  SCOPE__K_ERASED = SCHEMA_TYPE_MAX + 1, /* (org, participant) was erased */
  SCOPE__K_ACT_LOC,                      /* an activity's location */
  SCOPE__K_SES_ACT,                      /* a session's activity */
  SCOPE__K_MSG_ACT,                      /* a message's activity */
  SCOPE__K_COUNT,
};

typedef struct {
  uint32_t gen; /* valid while equal to scope_t.gen */
  uint8_t kind, idlen;
  bool found;
  int64_t org;
  char id[PROTO_MAX_ID_BYTES];
  char text[PROTO_MAX_ID_BYTES + 1];
} scope__entry_t;

struct scope_s {
  sqlite3 *db; /* borrowed */
  sqlite3_stmt *data_version; /* changes when another connection commits */
  int64_t version;            /* data_version when the cache was last valid */
  bool cache_on;              /* scope_cache_begin was called */
  uint32_t gen;               /* bumped to empty the cache */
  scope__entry_t *cache;      /* owned; SCOPE__CACHE_SLOTS, NULL until begun */
  /* "does this id exist in another organisation", for the types whose
   * records are named by their own id; NULL for the others */
  sqlite3_stmt *other_org[SCHEMA_TYPE_MAX + 1];
  sqlite3_stmt *erased;           /* (org, participant) was erased */
  sqlite3_stmt *activity_loc;     /* an activity's location */
  sqlite3_stmt *session_activity; /* a session's activity */
  sqlite3_stmt *message_activity; /* a message's activity */
  sqlite3_stmt *device_locs;      /* a device's locations */
  sqlite3_stmt *unscope;          /* forgets a device's locations */
  sqlite3_stmt *enroll;           /* copies a code's locations to a device */
  sqlite3_stmt *set_loc;          /* gives a device one location */
  sqlite3_stmt *bump_gen;         /* a device's locations changed */
  sqlite3_stmt *note_creator;     /* a participant's first op's device */
  sqlite3_stmt *note_location;    /* a participant's first check-in at a location */
  sqlite3_stmt *seen_locs;        /* where a participant was visible before n */
  sqlite3_stmt *creator;          /* who created a participant, by n */
  sqlite3_stmt *holders;          /* the server_seqs a participant's slots hold */
  /* Field ids that point at other records (0: the schema has none). */
  uint8_t activity_location, session_activity_f, message_activity_f, participant_merged;
};

static int scope__prepare(scope_t *s, const char *sql, sqlite3_stmt **out) {
  if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
    fprintf(stderr, "scope: cannot prepare \"%s\": %s\n", sql, sqlite3_errmsg(s->db));
    return -1;
  }
  return 0;
}

static uint8_t scope__field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; t != NULL && i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  return 0;
}

scope_t *scope_open(sqlite3 *db) {
  static const uint8_t by_id[] = {SCHEMA_LOCATION, SCHEMA_ACTIVITY, SCHEMA_SESSION,
                                  SCHEMA_PARTICIPANT, SCHEMA_MESSAGE};
  const schema_type_t *act = schema_type(SCHEMA_ACTIVITY);
  const schema_type_t *ses = schema_type(SCHEMA_SESSION);
  const schema_type_t *msg = schema_type(SCHEMA_MESSAGE);
  const schema_type_t *era = schema_type(SCHEMA_ERASURE);
  char sql[256];
  scope_t *s = calloc(1, sizeof(*s));

  if (s == NULL)
    return NULL;
  s->db = db;
  for (size_t i = 0; i < sizeof(by_id); i++) {
    const schema_type_t *t = schema_type(by_id[i]);
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE %s = ?1 AND org <> ?2 LIMIT 1", t->table,
             t->key_column);
    if (scope__prepare(s, sql, &s->other_org[t->id]) != 0)
      goto fail;
  }
  snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE org = ?1 AND %s = ?2", era->table,
           era->key_column);
  if (scope__prepare(s, sql, &s->erased) != 0)
    goto fail;
  snprintf(sql, sizeof(sql), "SELECT location FROM %s WHERE org = ?1 AND %s = ?2", act->table,
           act->key_column);
  if (scope__prepare(s, sql, &s->activity_loc) != 0)
    goto fail;
  snprintf(sql, sizeof(sql), "SELECT activity FROM %s WHERE org = ?1 AND %s = ?2", ses->table,
           ses->key_column);
  if (scope__prepare(s, sql, &s->session_activity) != 0)
    goto fail;
  snprintf(sql, sizeof(sql), "SELECT activity FROM %s WHERE org = ?1 AND %s = ?2", msg->table,
           msg->key_column);
  if (scope__prepare(s, sql, &s->message_activity) != 0)
    goto fail;
  if (scope__prepare(s, "PRAGMA data_version", &s->data_version) != 0)
    goto fail;
  if (scope__prepare(s, "SELECT location FROM device_locations WHERE device = ?1 ORDER BY location",
                     &s->device_locs) != 0 ||
      scope__prepare(s, "DELETE FROM device_locations WHERE device = ?1", &s->unscope) != 0 ||
      scope__prepare(s,
                     "INSERT OR IGNORE INTO device_locations (device, location) "
                     "SELECT ?2, location FROM enroll_code_locations WHERE code = ?1",
                     &s->enroll) != 0)
    goto fail;
  if (scope__prepare(s, "INSERT OR IGNORE INTO device_locations (device, location) VALUES (?1, ?2)",
                     &s->set_loc) != 0 ||
      scope__prepare(s, "UPDATE devices SET scope_gen = scope_gen + 1 WHERE id = ?1",
                     &s->bump_gen) != 0 ||
      scope__prepare(s,
                     "INSERT OR IGNORE INTO participant_creators (org, participant, device, seq) "
                     "VALUES (?1, ?2, ?3, ?4)",
                     &s->note_creator) != 0 ||
      scope__prepare(s,
                     "INSERT OR IGNORE INTO participant_locations (org, participant, location, "
                     "seq) VALUES (?1, ?2, ?3, ?4)",
                     &s->note_location) != 0 ||
      scope__prepare(s,
                     "SELECT location FROM participant_locations WHERE org = ?1 AND "
                     "participant = ?2 AND seq < ?3 ORDER BY location",
                     &s->seen_locs) != 0 ||
      scope__prepare(s,
                     "SELECT device FROM participant_creators WHERE org = ?1 AND "
                     "participant = ?2 AND seq <= ?3",
                     &s->creator) != 0)
    goto fail;
  {
    /* One column per participant field: the server_seq of its slot. */
    const schema_type_t *par = schema_type(SCHEMA_PARTICIPANT);
    char q[1024];
    size_t at = (size_t)snprintf(q, sizeof(q), "SELECT ");
    for (uint32_t i = 0; i < par->nfields && at < sizeof(q); i++)
      at += (size_t)snprintf(q + at, sizeof(q) - at, "%s%s__sseq", i ? ", " : "",
                             par->fields[i].name);
    if (at < sizeof(q))
      snprintf(q + at, sizeof(q) - at, " FROM %s WHERE org = ?1 AND %s = ?2", par->table,
               par->key_column);
    if (scope__prepare(s, q, &s->holders) != 0)
      goto fail;
  }
  s->activity_location = scope__field_id(SCHEMA_ACTIVITY, "location");
  s->session_activity_f = scope__field_id(SCHEMA_SESSION, "activity");
  s->message_activity_f = scope__field_id(SCHEMA_MESSAGE, "activity");
  s->participant_merged = scope__field_id(SCHEMA_PARTICIPANT, "merged_into");
  return s;

fail:
  scope_close(s);
  return NULL;
}

void scope_close(scope_t *s) {
  if (s == NULL)
    return;
  for (int i = 0; i <= SCHEMA_TYPE_MAX; i++)
    sqlite3_finalize(s->other_org[i]);
  sqlite3_finalize(s->erased);
  sqlite3_finalize(s->activity_loc);
  sqlite3_finalize(s->session_activity);
  sqlite3_finalize(s->message_activity);
  sqlite3_finalize(s->device_locs);
  sqlite3_finalize(s->unscope);
  sqlite3_finalize(s->enroll);
  sqlite3_finalize(s->set_loc);
  sqlite3_finalize(s->bump_gen);
  sqlite3_finalize(s->note_creator);
  sqlite3_finalize(s->note_location);
  sqlite3_finalize(s->seen_locs);
  sqlite3_finalize(s->creator);
  sqlite3_finalize(s->holders);
  sqlite3_finalize(s->data_version);
  free(s->cache);
  free(s);
}

/* ---- cache ---------------------------------------------------------------- */

static scope__entry_t *scope__slot(scope_t *s, uint8_t kind, proto_str_t id) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < id.len; i++)
    h = (h ^ (uint8_t)id.ptr[i]) * 16777619u;
  h ^= (uint32_t)kind * 0x9e3779b1u;
  h ^= h >> 15;
  return &s->cache[h & (SCOPE__CACHE_SLOTS - 1)];
}

/* The cached answer for (kind, org, id), or NULL. */
static scope__entry_t *scope__cached(scope_t *s, uint8_t kind, int64_t org, proto_str_t id) {
  scope__entry_t *e;
  if (!s->cache_on || id.len > PROTO_MAX_ID_BYTES)
    return NULL;
  e = scope__slot(s, kind, id);
  if (e->gen == s->gen && e->kind == kind && e->org == org && e->idlen == id.len &&
      memcmp(e->id, id.ptr, id.len) == 0)
    return e;
  return NULL;
}

static void scope__remember(scope_t *s, uint8_t kind, int64_t org, proto_str_t id, bool found,
                            const char *text) {
  scope__entry_t *e;
  if (!s->cache_on || id.len > PROTO_MAX_ID_BYTES)
    return;
  e = scope__slot(s, kind, id);
  e->gen = s->gen;
  e->kind = kind;
  e->org = org;
  e->idlen = (uint8_t)id.len;
  memcpy(e->id, id.ptr, id.len);
  e->found = found;
  snprintf(e->text, sizeof(e->text), "%s", text != NULL ? text : "");
}

/* Drops the answers about id that an op of org on record id may change: it
 * may create, move or (an erasure) delete it. Whether id belongs to an
 * organisation other than org stays as it was for org itself (a record
 * never changes organisation), so those answers are kept: a walk-in's
 * check-ins right after it find it cached. */
static void scope__drop(scope_t *s, int64_t org, proto_str_t id) {
  if (!s->cache_on || id.len > PROTO_MAX_ID_BYTES)
    return;
  for (uint8_t kind = 0; kind < SCOPE__K_COUNT; kind++) {
    scope__entry_t *e = scope__slot(s, kind, id);
    if (e->gen == s->gen && e->kind == kind && e->idlen == id.len &&
        memcmp(e->id, id.ptr, id.len) == 0 && (kind >= SCOPE__K_ERASED || e->org != org))
      e->gen = 0;
  }
}

void scope_cache_forget(scope_t *s) {
  if (s == NULL)
    return;
  s->gen++;
  if (s->gen == 0) /* 0 marks entries dropped one by one */
    s->gen = 1;
}

int scope_cache_begin(scope_t *s) {
  sqlite3_stmt *st = s->data_version;
  int64_t version;
  int rc;

  if (s->cache == NULL) {
    s->cache = calloc(SCOPE__CACHE_SLOTS, sizeof(*s->cache));
    if (s->cache == NULL)
      return 0; /* works without; every check reads SQLite */
    s->gen = 1;
  }
  rc = sqlite3_step(st);
  version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  if (rc != SQLITE_ROW) {
    fprintf(stderr, "scope: data_version: %s\n", sqlite3_errmsg(s->db));
    s->cache_on = false;
    scope_cache_forget(s);
    return PROTO_ESTORAGE;
  }
  /* Another connection (turfctl) committed: anything may have changed. */
  if (!s->cache_on || version != s->version)
    scope_cache_forget(s);
  s->version = version;
  s->cache_on = true;
  return 0;
}

/* ---- lookups -------------------------------------------------------------- */

static void scope__bind_str(sqlite3_stmt *st, int i, proto_str_t v) {
  sqlite3_bind_text(st, i, v.len ? v.ptr : "", (int)v.len, SQLITE_TRANSIENT);
}

/* Runs a one-row lookup by (org, id). *found tells whether a row came back;
 * with text non-NULL its first column is copied there ("" when NULL or too
 * long to be an id). Returns 0 or PROTO_ESTORAGE. */
static int scope__lookup(scope_t *s, uint8_t kind, sqlite3_stmt *st, int64_t org, proto_str_t id,
                         bool *found, char text[PROTO_MAX_ID_BYTES + 1]) {
  const scope__entry_t *e = scope__cached(s, kind, org, id);
  char row[PROTO_MAX_ID_BYTES + 1];
  int rc;

  if (e != NULL) {
    *found = e->found;
    if (text != NULL)
      memcpy(text, e->text, sizeof(e->text));
    return 0;
  }
  if (text == NULL)
    text = row;
  sqlite3_bind_int64(st, 1, org);
  scope__bind_str(st, 2, id);
  rc = sqlite3_step(st);
  *found = rc == SQLITE_ROW;
  text[0] = '\0';
  if (*found && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
      sqlite3_column_bytes(st, 0) <= PROTO_MAX_ID_BYTES)
    snprintf(text, PROTO_MAX_ID_BYTES + 1, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fprintf(stderr, "scope: %s: %s\n", sqlite3_sql(st), sqlite3_errmsg(s->db));
    return PROTO_ESTORAGE;
  }
  scope__remember(s, kind, org, id, *found, text);
  return 0;
}

/* PROTO_EOUT_OF_SCOPE when a record of `type` named id exists in an
 * organisation other than org. The statement binds (id, org), the other
 * way round from scope__lookup. */
static int scope__foreign(scope_t *s, uint8_t type, int64_t org, proto_str_t id) {
  sqlite3_stmt *st = s->other_org[type];
  const scope__entry_t *e;
  int rc;

  if (st == NULL || id.len == 0)
    return 0;
  e = scope__cached(s, (uint8_t)(SCOPE__K_FOREIGN + type), org, id);
  if (e != NULL)
    return e->found ? PROTO_EOUT_OF_SCOPE : 0;
  scope__bind_str(st, 1, id);
  sqlite3_bind_int64(st, 2, org);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    fprintf(stderr, "scope: %s\n", sqlite3_errmsg(s->db));
    return PROTO_ESTORAGE;
  }
  scope__remember(s, (uint8_t)(SCOPE__K_FOREIGN + type), org, id, rc == SQLITE_ROW, NULL);
  return rc == SQLITE_ROW ? PROTO_EOUT_OF_SCOPE : 0;
}

static int scope__erased(scope_t *s, int64_t org, proto_str_t participant) {
  bool found;
  int rc;
  if (participant.len == 0)
    return 0;
  rc = scope__lookup(s, SCOPE__K_ERASED, s->erased, org, participant, &found, NULL);
  if (rc != 0)
    return rc;
  return found ? PROTO_EERASED : 0;
}

/* The string value op sets for field id, if any. */
static bool scope__op_str(const proto_op_t *op, uint8_t id, proto_str_t *out) {
  for (uint32_t i = 0; id != 0 && i < op->nfields; i++) {
    if (op->fields[i].id == id && op->fields[i].value.type == PROTO_STR) {
      *out = op->fields[i].value.u.s;
      return true;
    }
  }
  return false;
}

static void scope__at(scope_where_t *w, const char *loc) {
  if (loc == NULL || loc[0] == '\0') {
    w->place = SCOPE_UNPLACED;
    w->loc[0] = '\0';
    return;
  }
  w->place = SCOPE_LOCATION;
  snprintf(w->loc, sizeof(w->loc), "%s", loc);
}

/* Where a record of activity `activity` belongs. */
static int scope__activity_place(scope_t *s, int64_t org, proto_str_t activity,
                                 scope_where_t *w) {
  char loc[PROTO_MAX_ID_BYTES + 1];
  bool found;
  int rc = scope__lookup(s, SCOPE__K_ACT_LOC, s->activity_loc, org, activity, &found, loc);
  if (rc == 0)
    scope__at(w, found ? loc : NULL);
  return rc;
}

/* Where a record of session `session` belongs. */
static int scope__session_place(scope_t *s, int64_t org, proto_str_t session, scope_where_t *w) {
  char act[PROTO_MAX_ID_BYTES + 1];
  bool found;
  int rc = scope__lookup(s, SCOPE__K_SES_ACT, s->session_activity, org, session, &found, act);
  if (rc != 0)
    return rc;
  if (!found || act[0] == '\0') {
    scope__at(w, NULL);
    return 0;
  }
  return scope__activity_place(s, org, proto_str(act), w);
}

/* ---- public --------------------------------------------------------------- */

int scope_device_load(scope_t *s, proto_str_t device, scope_device_t *out) {
  sqlite3_stmt *st = s->device_locs;
  uint32_t cap = 0;
  int rc;

  memset(out, 0, sizeof(*out));
  scope__bind_str(st, 1, device);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 0) > PROTO_MAX_ID_BYTES)
      continue; /* cannot name a location: grants nothing */
    if (out->n == cap) {
      uint32_t ncap = cap ? cap * 2 : 4;
      void *grown = realloc(out->ids, ncap * sizeof(*out->ids));
      if (grown == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      out->ids = grown;
      cap = ncap;
    }
    snprintf(out->ids[out->n++], PROTO_MAX_ID_BYTES + 1, "%s",
             (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    scope_device_dispose(out);
    if (rc == SQLITE_NOMEM)
      return PROTO_ENOMEM;
    fprintf(stderr, "scope: device locations: %s\n", sqlite3_errmsg(s->db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

void scope_device_dispose(scope_device_t *dev) {
  if (dev == NULL)
    return;
  free(dev->ids);
  dev->ids = NULL;
  dev->n = 0;
}

bool scope_device_allows(const scope_device_t *dev, const scope_where_t *where) {
  if (dev == NULL || dev->n == 0 || where->place == SCOPE_ORG)
    return true;
  if (where->place == SCOPE_UNPLACED)
    return false;
  for (uint32_t i = 0; i < dev->n; i++)
    if (strcmp(dev->ids[i], where->loc) == 0)
      return true;
  return false;
}

static int scope__check_op(scope_t *s, int64_t org, const scope_device_t *dev,
                           const proto_op_t *op, scope_where_t *where) {
  scope_where_t before = {.place = SCOPE_ORG};
  bool admin = dev == NULL, had_before = false, found;
  char text[PROTO_MAX_ID_BYTES + 1];
  proto_str_t ref;
  int rc = 0;

  memset(where, 0, sizeof(*where));
  where->place = SCOPE_ORG;
  if (schema_type(op->type) == NULL)
    return PROTO_EINVALID_OP;
  /* Another organisation's ids first: saying "erased" or "not your
   * location" about them would tell something about that organisation. */
  if (!admin) {
    switch (op->type) {
    case SCHEMA_LOCATION:
    case SCHEMA_ACTIVITY:
    case SCHEMA_SESSION:
    case SCHEMA_PARTICIPANT:
    case SCHEMA_MESSAGE:
      rc = scope__foreign(s, op->type, org, op->key);
      break;
    case SCHEMA_CHECKIN:
      rc = scope__foreign(s, SCHEMA_SESSION, org, op->key);
      if (rc == 0)
        rc = scope__foreign(s, SCHEMA_PARTICIPANT, org, op->key2);
      break;
    case SCHEMA_TALLY:
    case SCHEMA_SESSION_LOG:
      rc = scope__foreign(s, SCHEMA_SESSION, org, op->key);
      break;
    case SCHEMA_ERASURE:
      rc = scope__foreign(s, SCHEMA_PARTICIPANT, org, op->key);
      break;
    default:
      break;
    }
    if (rc == 0 && op->type == SCHEMA_ACTIVITY && scope__op_str(op, s->activity_location, &ref))
      rc = scope__foreign(s, SCHEMA_LOCATION, org, ref);
    if (rc == 0 && op->type == SCHEMA_SESSION && scope__op_str(op, s->session_activity_f, &ref))
      rc = scope__foreign(s, SCHEMA_ACTIVITY, org, ref);
    if (rc == 0 && op->type == SCHEMA_MESSAGE && scope__op_str(op, s->message_activity_f, &ref))
      rc = scope__foreign(s, SCHEMA_ACTIVITY, org, ref);
    if (rc == 0 && op->type == SCHEMA_PARTICIPANT &&
        scope__op_str(op, s->participant_merged, &ref))
      rc = scope__foreign(s, SCHEMA_PARTICIPANT, org, ref);
    if (rc != 0)
      return rc;
  }

  switch (op->type) {
  case SCHEMA_LOCATION:
    snprintf(text, sizeof(text), "%.*s", (int)op->key.len, op->key.ptr);
    scope__at(where, text);
    break;

  case SCHEMA_ACTIVITY:
    rc = scope__lookup(s, SCOPE__K_ACT_LOC, s->activity_loc, org, op->key, &found, text);
    if (rc != 0)
      return rc;
    if (found) {
      had_before = true;
      scope__at(&before, text);
    }
    if (scope__op_str(op, s->activity_location, &ref)) {
      snprintf(text, sizeof(text), "%.*s", (int)ref.len, ref.ptr);
      scope__at(where, text);
    } else if (had_before) {
      *where = before;
    } else {
      scope__at(where, NULL);
    }
    break;

  case SCHEMA_SESSION:
    rc = scope__lookup(s, SCOPE__K_SES_ACT, s->session_activity, org, op->key, &found, text);
    if (rc != 0)
      return rc;
    if (found) {
      had_before = true;
      rc = scope__activity_place(s, org, proto_str(text), &before);
      if (rc != 0)
        return rc;
    }
    if (scope__op_str(op, s->session_activity_f, &ref))
      rc = scope__activity_place(s, org, ref, where);
    else if (had_before)
      *where = before;
    else
      scope__at(where, NULL);
    break;

  case SCHEMA_PARTICIPANT:
    rc = scope__erased(s, org, op->key);
    if (rc == 0 && scope__op_str(op, s->participant_merged, &ref))
      rc = scope__erased(s, org, ref);
    break;

  case SCHEMA_CHECKIN:
    rc = scope__erased(s, org, op->key2);
    if (rc == 0)
      rc = scope__session_place(s, org, op->key, where);
    break;

  case SCHEMA_TALLY:
  case SCHEMA_SESSION_LOG:
    rc = scope__session_place(s, org, op->key, where);
    break;

  case SCHEMA_MESSAGE:
    /* The activity is written once: an existing message stays where it
     * was posted, whatever a later op says. */
    rc = scope__lookup(s, SCOPE__K_MSG_ACT, s->message_activity, org, op->key, &found, text);
    if (rc != 0)
      return rc;
    if (found)
      rc = scope__activity_place(s, org, proto_str(text), where);
    else if (scope__op_str(op, s->message_activity_f, &ref))
      rc = scope__activity_place(s, org, ref, where);
    else
      scope__at(where, NULL);
    break;

  case SCHEMA_ERASURE:
    if (!admin) {
      rc = scope__erased(s, org, op->key);
      return rc != 0 ? rc : PROTO_EOUT_OF_SCOPE;
    }
    break;

  default:
    break;
  }
  if (rc != 0)
    return rc;
  if (!admin && dev->n > 0) {
    if (!scope_device_allows(dev, where))
      return PROTO_EOUT_OF_SCOPE;
    /* Moving another location's record into one's own is writing outside
     * one's scope too. */
    if (had_before && !scope_device_allows(dev, &before))
      return PROTO_EOUT_OF_SCOPE;
  }
  return 0;
}

int scope_check_op(scope_t *s, int64_t org, const scope_device_t *dev, const proto_op_t *op,
                   scope_where_t *where) {
  int rc = scope__check_op(s, org, dev, op, where);
  /* Check-ins, tallies and session logs (keyed by their session) write
   * only their own tables, which nothing here looks up; every other op
   * may create, move or delete the record it names. */
  if (op->type != SCHEMA_CHECKIN && op->type != SCHEMA_TALLY && op->type != SCHEMA_SESSION_LOG)
    scope__drop(s, org, op->key);
  return rc;
}

int scope_bind_where(sqlite3_stmt *st, int index, const scope_where_t *where) {
  switch (where->place) {
  case SCOPE_LOCATION:
    return sqlite3_bind_text(st, index, where->loc, -1, SQLITE_TRANSIENT);
  case SCOPE_UNPLACED:
    return sqlite3_bind_text(st, index, "", 0, SQLITE_STATIC);
  case SCOPE_ORG:
  default:
    return sqlite3_bind_null(st, index);
  }
}

void scope_column_where(sqlite3_stmt *st, int col, scope_where_t *where) {
  memset(where, 0, sizeof(*where));
  if (sqlite3_column_type(st, col) == SQLITE_NULL) {
    where->place = SCOPE_ORG;
    return;
  }
  if (sqlite3_column_bytes(st, col) > PROTO_MAX_ID_BYTES) {
    where->place = SCOPE_UNPLACED; /* no location has such an id */
    return;
  }
  scope__at(where, (const char *)sqlite3_column_text(st, col));
}

int scope_enroll(scope_t *s, proto_str_t code, proto_str_t device) {
  sqlite3_stmt *st = s->unscope;
  int rc;

  /* A device enrolled again gets the new code's scope, not both. */
  scope__bind_str(st, 1, device);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "scope: enrolment locations: %s\n", sqlite3_errmsg(s->db));
    return PROTO_ESTORAGE;
  }
  st = s->enroll;
  scope__bind_str(st, 1, code);
  scope__bind_str(st, 2, device);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "scope: enrolment locations: %s\n", sqlite3_errmsg(s->db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

bool scope_list_allows(const char *list, proto_str_t loc) {
  if (list == NULL || loc.ptr == NULL)
    return true;
  if (loc.len == 0)
    return false;
  for (const char *id = list; *id != '\0'; id += strlen(id) + 1)
    if (strlen(id) == loc.len && memcmp(id, loc.ptr, loc.len) == 0)
      return true;
  return false;
}

/* ---- visibility of participants ------------------------------------------ */

static int scope__step_done(scope_t *s, sqlite3_stmt *st, int rc) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "scope: %s: %s\n", sqlite3_sql(st), sqlite3_errmsg(s->db));
    return PROTO_ESTORAGE;
  }
  return 0;
}

int scope_note_op(scope_t *s, int64_t org, const proto_op_t *op, const scope_where_t *where,
                  bool *first) {
  sqlite3_stmt *st;
  int rc;

  if (first != NULL)
    *first = false;
  if (op->type == SCHEMA_PARTICIPANT) {
    st = s->note_creator;
    sqlite3_bind_int64(st, 1, org);
    scope__bind_str(st, 2, op->key);
    scope__bind_str(st, 3, op->device);
    sqlite3_bind_int64(st, 4, (int64_t)op->server_seq);
    return scope__step_done(s, st, sqlite3_step(st));
  }
  if (op->type != SCHEMA_CHECKIN || where->place != SCOPE_LOCATION || op->key2.len == 0)
    return 0;
  st = s->note_location;
  sqlite3_bind_int64(st, 1, org);
  scope__bind_str(st, 2, op->key2);
  sqlite3_bind_text(st, 3, where->loc, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, (int64_t)op->server_seq);
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE && first != NULL)
    *first = sqlite3_changes(s->db) > 0;
  return scope__step_done(s, st, rc);
}

int scope_participant_seen(scope_t *s, int64_t org, proto_str_t participant, uint64_t n,
                           char **locs, char creator[PROTO_MAX_ID_BYTES + 1]) {
  sqlite3_stmt *st = s->seen_locs;
  size_t len = 0, cap = 0;
  char *list = NULL;
  int rc;

  *locs = NULL;
  creator[0] = '\0';
  sqlite3_bind_int64(st, 1, org);
  scope__bind_str(st, 2, participant);
  sqlite3_bind_int64(st, 3, n > INT64_MAX ? INT64_MAX : (int64_t)n);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    size_t l = (size_t)sqlite3_column_bytes(st, 0);
    if (len + l + 2 > cap) {
      size_t ncap = (cap ? cap * 2 : 128) + l;
      char *grown = realloc(list, ncap);
      if (grown == NULL) {
        free(list);
        scope__step_done(s, st, SQLITE_DONE);
        return PROTO_ENOMEM;
      }
      list = grown;
      cap = ncap;
    }
    memcpy(list + len, sqlite3_column_text(st, 0), l);
    len += l;
    list[len++] = '\0';
    list[len] = '\0';
  }
  rc = scope__step_done(s, st, rc);
  if (rc != 0) {
    free(list);
    return rc;
  }
  st = s->creator;
  sqlite3_bind_int64(st, 1, org);
  scope__bind_str(st, 2, participant);
  sqlite3_bind_int64(st, 3, n > INT64_MAX ? INT64_MAX : (int64_t)n);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) <= PROTO_MAX_ID_BYTES)
    snprintf(creator, PROTO_MAX_ID_BYTES + 1, "%s", (const char *)sqlite3_column_text(st, 0));
  rc = scope__step_done(s, st, rc);
  if (rc != 0) {
    free(list);
    return rc;
  }
  *locs = list;
  return 0;
}

int scope_participant_holders(scope_t *s, int64_t org, proto_str_t participant,
                              uint64_t below, uint64_t out[PROTO_MAX_FIELDS_PER_OP],
                              uint32_t *n) {
  sqlite3_stmt *st = s->holders;
  int rc;

  *n = 0;
  sqlite3_bind_int64(st, 1, org);
  scope__bind_str(st, 2, participant);
  rc = sqlite3_step(st);
  for (int c = 0; rc == SQLITE_ROW && c < sqlite3_column_count(st); c++) {
    uint64_t seq;
    uint32_t at;
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
      continue;
    seq = (uint64_t)sqlite3_column_int64(st, c);
    if (seq == 0 || seq >= below)
      continue;
    for (at = 0; at < *n && out[at] < seq; at++)
      ;
    if ((at < *n && out[at] == seq) || *n == PROTO_MAX_FIELDS_PER_OP)
      continue;
    memmove(out + at + 1, out + at, (*n - at) * sizeof(*out));
    out[at] = seq;
    (*n)++;
  }
  return scope__step_done(s, st, rc);
}

bool scope_lists_meet(const char *a, const char *b) {
  if (b == NULL)
    return false;
  if (a == NULL)
    return true;
  for (const char *id = b; *id != '\0'; id += strlen(id) + 1)
    if (scope_list_allows(a, proto_str(id)))
      return true;
  return false;
}

bool scope_list_sees(const char *list, proto_str_t device, const char *seen_locs,
                     proto_str_t creator) {
  if (list == NULL)
    return true;
  if (creator.len > 0 && proto_str_eq(creator, device))
    return true;
  return scope_lists_meet(list, seen_locs);
}

/* Whether dev holds exactly locs[0..n) (duplicates allowed in locs). */
static bool scope__same(const scope_device_t *dev, const char *const *locs, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    scope_where_t w = {.place = SCOPE_LOCATION};
    snprintf(w.loc, sizeof(w.loc), "%s", locs[i]);
    if (dev->n == 0 || !scope_device_allows(dev, &w))
      return false;
  }
  for (uint32_t i = 0; i < dev->n; i++) {
    bool found = false;
    for (uint32_t j = 0; j < n && !found; j++)
      found = strcmp(dev->ids[i], locs[j]) == 0;
    if (!found)
      return false;
  }
  return true;
}

int scope_set_device(scope_t *s, proto_str_t device, const char *const *locs, uint32_t n,
                     bool *changed) {
  scope_device_t dev;
  sqlite3_stmt *st = s->unscope;
  int rc = scope_device_load(s, device, &dev);

  *changed = false;
  if (rc != 0)
    return rc;
  if (scope__same(&dev, locs, n)) {
    scope_device_dispose(&dev);
    return 0;
  }
  scope_device_dispose(&dev);
  scope__bind_str(st, 1, device);
  rc = scope__step_done(s, st, sqlite3_step(st));
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    st = s->set_loc;
    scope__bind_str(st, 1, device);
    sqlite3_bind_text(st, 2, locs[i], -1, SQLITE_TRANSIENT);
    rc = scope__step_done(s, st, sqlite3_step(st));
  }
  if (rc == 0) {
    st = s->bump_gen;
    scope__bind_str(st, 1, device);
    rc = scope__step_done(s, st, sqlite3_step(st));
  }
  *changed = rc == 0;
  return rc;
}
