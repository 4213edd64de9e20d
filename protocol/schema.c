/* schema.c — the table of record types and fields (the single source for
 * wire field ids, SQL columns and PROTOCOL.md) and stateless op validation.
 *
 * Owns only static, read-only data. Field ids are stable: a field that is
 * dropped keeps its id reserved; new fields take the next free id. */
#include "schema.h"

#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* Text shapes checked beyond length. Kept next to the table rather than in
 * schema_field_t because only validation needs them. */
typedef enum {
  SCHEMA__TEXT = 0, /* free text of several lines (or choices): proto_text_valid */
  SCHEMA__LINE,     /* one line of text, such as a name: no tabs or line breaks */
  SCHEMA__ID,       /* the id of another record: proto_id_valid */
  SCHEMA__DATE,     /* "YYYY-MM-DD", a real calendar date */
  SCHEMA__TIME,     /* "HH:MM", 00:00..23:59 */
} schema__shape_t;

typedef struct {
  schema_type_t pub;
  const uint8_t *shapes; /* schema__shape_t per field, same order as fields */
} schema__type_t;

#define SCHEMA__MS_MAX ((int64_t)1 << 47) /* ms since epoch; year 6429 */
#define SCHEMA__NAME_MAX 200

#define F(id_, name_, rule_, vtype_, nullable_, min_, max_, choices_) \
  {(id_), (name_), (rule_), (vtype_), (nullable_), (min_), (max_), (choices_)}

static const schema_field_t schema__location_fields[] = {
    F(1, "name", MERGE_LWW, PROTO_STR, false, 1, SCHEMA__NAME_MAX, NULL),
};
static const uint8_t schema__location_shapes[] = {SCHEMA__LINE};

static const schema_field_t schema__activity_fields[] = {
    F(1, "location", MERGE_LWW, PROTO_STR, false, 1, PROTO_MAX_ID_BYTES, NULL),
    F(2, "name", MERGE_LWW, PROTO_STR, false, 1, SCHEMA__NAME_MAX, NULL),
    F(3, "weekday", MERGE_LWW, PROTO_INT, true, 1, 7, NULL),
    F(4, "start_time", MERGE_LWW, PROTO_STR, true, 5, 5, NULL),
};
static const uint8_t schema__activity_shapes[] = {SCHEMA__ID, SCHEMA__LINE,
                                                  SCHEMA__TEXT, SCHEMA__TIME};

static const schema_field_t schema__session_fields[] = {
    F(1, "activity", MERGE_LWW, PROTO_STR, false, 1, PROTO_MAX_ID_BYTES, NULL),
    F(2, "date", MERGE_LWW, PROTO_STR, false, 10, 10, NULL),
    F(3, "start_time", MERGE_LWW, PROTO_STR, true, 5, 5, NULL),
    F(4, "cancelled", MERGE_LWW, PROTO_BOOL, false, 0, 0, NULL),
};
static const uint8_t schema__session_shapes[] = {SCHEMA__ID, SCHEMA__DATE,
                                                 SCHEMA__TIME, SCHEMA__TEXT};

static const schema_field_t schema__participant_fields[] = {
    F(1, "name", MERGE_LWW, PROTO_STR, false, 1, SCHEMA__NAME_MAX, NULL),
    F(2, "pseudonym", MERGE_LWW, PROTO_STR, true, 0, SCHEMA__NAME_MAX, NULL),
    F(3, "contact", MERGE_LWW, PROTO_STR, true, 0, SCHEMA__NAME_MAX, NULL),
    F(4, "referral", MERGE_LWW, PROTO_STR, true, 0, 100, NULL),
    F(5, "first_seen", MERGE_MIN, PROTO_INT, false, 0, SCHEMA__MS_MAX, NULL),
    /* Set when a coordinator merges a duplicate into another participant:
     * the replica then counts this one's check-ins as the other's (see
     * replica.c). nil undoes the merge. */
    F(6, "merged_into", MERGE_LWW, PROTO_STR, true, 1, PROTO_MAX_ID_BYTES, NULL),
};
static const uint8_t schema__participant_shapes[] = {
    SCHEMA__LINE, SCHEMA__LINE, SCHEMA__LINE, SCHEMA__LINE, SCHEMA__TEXT, SCHEMA__ID};

static const char *const schema__checkin_status[] = {"present", "absent",
                                                     "excused", NULL};
static const schema_field_t schema__checkin_fields[] = {
    /* nil withdraws the check-in (a tap on the wrong name): the person
     * reads as not checked in, which "absent" (expected, did not come) is
     * not. An LWW value like any other, so the row and its clocks stay. */
    F(1, "status", MERGE_LWW, PROTO_STR, true, 1, 16, schema__checkin_status),
    F(2, "arrived", MERGE_MIN, PROTO_INT, true, 0, SCHEMA__MS_MAX, NULL),
    F(3, "departed", MERGE_MAX, PROTO_INT, true, 0, SCHEMA__MS_MAX, NULL),
};
static const uint8_t schema__checkin_shapes[] = {SCHEMA__TEXT, SCHEMA__TEXT,
                                                 SCHEMA__TEXT};

static const schema_field_t schema__tally_fields[] = {
    F(1, "count", MERGE_COUNTER, PROTO_INT, false, 0, 1000000, NULL),
};
static const uint8_t schema__tally_shapes[] = {SCHEMA__TEXT};

static const schema_field_t schema__message_fields[] = {
    F(1, "activity", MERGE_ONCE, PROTO_STR, false, 1, PROTO_MAX_ID_BYTES, NULL),
    F(2, "body", MERGE_LWW, PROTO_STR, false, 0, PROTO_MAX_TEXT_BYTES, NULL),
    F(3, "deleted", MERGE_LWW, PROTO_BOOL, false, 0, 0, NULL),
};
static const uint8_t schema__message_shapes[] = {SCHEMA__ID, SCHEMA__TEXT,
                                                 SCHEMA__TEXT};

static const schema_field_t schema__session_log_fields[] = {
    F(1, "started", MERGE_LWW, PROTO_INT, true, 0, SCHEMA__MS_MAX, NULL),
    F(2, "ended", MERGE_LWW, PROTO_INT, true, 0, SCHEMA__MS_MAX, NULL),
    F(3, "headcount", MERGE_LWW, PROTO_INT, true, 0, 100000, NULL),
    F(4, "notes", MERGE_LWW, PROTO_STR, true, 0, PROTO_MAX_TEXT_BYTES, NULL),
};
static const uint8_t schema__session_log_shapes[] = {
    SCHEMA__TEXT, SCHEMA__TEXT, SCHEMA__TEXT, SCHEMA__TEXT};

/* The record of a participant's erasure (GDPR): applying it removes the
 * participant and their check-ins from a replica (replica.c); the row that
 * stays holds nothing but the id and when. */
static const schema_field_t schema__erasure_fields[] = {
    F(1, "erased", MERGE_MIN, PROTO_INT, false, 0, SCHEMA__MS_MAX, NULL),
};
static const uint8_t schema__erasure_shapes[] = {SCHEMA__TEXT};

#undef F

#define SCHEMA__N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))
#define T(id_, name_, table_, key_, key2_, fields_, shapes_)                  \
  {{(id_), (name_), (table_), (key_), (key2_), (fields_), SCHEMA__N(fields_)}, \
   (shapes_)}

/* Indexed by type id - 1. */
static const schema__type_t schema__types[SCHEMA_TYPE_MAX] = {
    T(SCHEMA_LOCATION, "location", "locations", "id", NULL,
      schema__location_fields, schema__location_shapes),
    T(SCHEMA_ACTIVITY, "activity", "activities", "id", NULL,
      schema__activity_fields, schema__activity_shapes),
    T(SCHEMA_SESSION, "session", "sessions", "id", NULL,
      schema__session_fields, schema__session_shapes),
    T(SCHEMA_PARTICIPANT, "participant", "participants", "id", NULL,
      schema__participant_fields, schema__participant_shapes),
    T(SCHEMA_CHECKIN, "checkin", "checkins", "session", "participant",
      schema__checkin_fields, schema__checkin_shapes),
    T(SCHEMA_TALLY, "tally", "tallies", "session", NULL, schema__tally_fields,
      schema__tally_shapes),
    T(SCHEMA_MESSAGE, "message", "messages", "id", NULL,
      schema__message_fields, schema__message_shapes),
    T(SCHEMA_SESSION_LOG, "session_log", "session_logs", "session", NULL,
      schema__session_log_fields, schema__session_log_shapes),
    T(SCHEMA_ERASURE, "erasure", "erasures", "participant", NULL,
      schema__erasure_fields, schema__erasure_shapes),
};

#undef T

/* Each shapes array must be as long as its fields array. */
#define SCHEMA__SAME_LENGTH(t)                                          \
  _Static_assert(sizeof(schema__##t##_shapes) ==                        \
                     sizeof(schema__##t##_fields) / sizeof(schema_field_t), \
                 #t " shapes")
SCHEMA__SAME_LENGTH(location);
SCHEMA__SAME_LENGTH(activity);
SCHEMA__SAME_LENGTH(session);
SCHEMA__SAME_LENGTH(participant);
SCHEMA__SAME_LENGTH(checkin);
SCHEMA__SAME_LENGTH(tally);
SCHEMA__SAME_LENGTH(message);
SCHEMA__SAME_LENGTH(session_log);
SCHEMA__SAME_LENGTH(erasure);
#undef SCHEMA__SAME_LENGTH

const schema_type_t *schema_type(uint8_t id) {
  if (id < 1 || id > SCHEMA_TYPE_MAX)
    return NULL;
  return &schema__types[id - 1].pub;
}

const schema_field_t *schema_field(const schema_type_t *type, uint8_t field_id) {
  uint32_t i;
  if (type == NULL)
    return NULL;
  for (i = 0; i < type->nfields; i++)
    if (type->fields[i].id == field_id)
      return &type->fields[i];
  return NULL;
}

static bool schema__digits(const char *p, int n, int *out) {
  int v = 0, i;
  for (i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return true;
}

bool schema_date_valid(proto_str_t s) {
  static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (s.len != 10 || s.ptr[4] != '-' || s.ptr[7] != '-')
    return false;
  if (!schema__digits(s.ptr, 4, &y) || !schema__digits(s.ptr + 5, 2, &m) ||
      !schema__digits(s.ptr + 8, 2, &d))
    return false;
  if (m < 1 || m > 12 || d < 1 || d > days[m - 1])
    return false;
  if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return false;
  return true;
}

static bool schema__is_time(proto_str_t s) {
  int h, m;
  if (s.len != 5 || s.ptr[2] != ':')
    return false;
  if (!schema__digits(s.ptr, 2, &h) || !schema__digits(s.ptr + 3, 2, &m))
    return false;
  return h <= 23 && m <= 59;
}

static int schema__validate_value(const schema_field_t *f, uint8_t shape,
                                  const proto_value_t *v) {
  const char *const *c;

  if (v->type == PROTO_NIL)
    return f->nullable ? 0 : PROTO_EINVALID_OP;
  if (v->type != f->vtype)
    return PROTO_EINVALID_OP;
  switch (v->type) {
  case PROTO_BOOL:
    return 0;
  case PROTO_INT:
    return v->u.i >= f->min && v->u.i <= f->max ? 0 : PROTO_EINVALID_OP;
  case PROTO_STR:
    if ((int64_t)v->u.s.len < f->min || (int64_t)v->u.s.len > f->max)
      return PROTO_EINVALID_OP;
    if (v->u.s.len > 0 && v->u.s.ptr == NULL)
      return PROTO_EINVALID_OP;
    if (f->choices != NULL) {
      for (c = f->choices; *c != NULL; c++)
        if (proto_str_eq(v->u.s, proto_str(*c)))
          return 0;
      return PROTO_EINVALID_OP;
    }
    if (shape == SCHEMA__DATE && !schema_date_valid(v->u.s))
      return PROTO_EINVALID_OP;
    if (shape == SCHEMA__TIME && !schema__is_time(v->u.s))
      return PROTO_EINVALID_OP;
    if (shape == SCHEMA__ID)
      return proto_id_valid(v->u.s) ? 0 : PROTO_EINVALID_OP;
    return proto_text_valid(v->u.s, shape == SCHEMA__TEXT) ? 0 : PROTO_EINVALID_OP;
  default:
    return PROTO_EINVALID_OP;
  }
}

int schema_validate_op(const proto_op_t *op) {
  const schema__type_t *t;
  uint32_t i, j;
  uint32_t seen = 0; /* bit per field index: no type has 32 fields */

  if (op == NULL || op->type < 1 || op->type > SCHEMA_TYPE_MAX)
    return PROTO_EINVALID_OP;
  t = &schema__types[op->type - 1];
  if (op->key.len < 1 || op->key.len > PROTO_MAX_ID_BYTES || !proto_id_valid(op->key))
    return PROTO_EINVALID_OP;
  if (t->pub.key2_column != NULL) {
    if (op->key2.len < 1 || op->key2.len > PROTO_MAX_ID_BYTES || !proto_id_valid(op->key2))
      return PROTO_EINVALID_OP;
  } else if (op->key2.len != 0) {
    return PROTO_EINVALID_OP;
  }
  if (op->nfields < 1 || op->nfields > PROTO_MAX_FIELDS_PER_OP ||
      op->fields == NULL)
    return PROTO_EINVALID_OP;

  for (i = 0; i < op->nfields; i++) {
    const proto_field_t *pf = &op->fields[i];
    for (j = 0; j < t->pub.nfields; j++)
      if (t->pub.fields[j].id == pf->id)
        break;
    if (j == t->pub.nfields || (seen & (UINT32_C(1) << j)))
      return PROTO_EINVALID_OP;
    seen |= UINT32_C(1) << j;
    if (schema__validate_value(&t->pub.fields[j], t->shapes[j], &pf->value))
      return PROTO_EINVALID_OP;
  }
  return 0;
}

void schema_local_date(int64_t ms, char date[11]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (localtime_r(&t, &tm) == NULL || strftime(date, 11, "%Y-%m-%d", &tm) == 0)
    snprintf(date, 11, "0000-00-00");
}
