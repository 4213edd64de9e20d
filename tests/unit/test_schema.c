/* test_schema.c — the record type table is exactly the documented one (ids,
 * names, merge rules, types, ranges), and schema_validate_op accepts a valid
 * op of every type and refuses each kind of invalid one with INVALID_OP. */
#include "check.h"
#include "schema.h"

#define MS_MAX ((int64_t)1 << 47)

typedef struct {
  uint8_t type, id;
  const char *name;
  merge_rule_t rule;
  proto_vtype_t vtype;
  bool nullable;
  int64_t min, max;
} want_field_t;

/* The table as PROTOCOL.md documents it. Changing a row here means a wire
 * change: field ids are never reused. */
static const want_field_t want[] = {
    {1, 1, "name", MERGE_LWW, PROTO_STR, false, 1, 200},
    {2, 1, "location", MERGE_LWW, PROTO_STR, false, 1, 64},
    {2, 2, "name", MERGE_LWW, PROTO_STR, false, 1, 200},
    {2, 3, "weekday", MERGE_LWW, PROTO_INT, true, 1, 7},
    {2, 4, "start_time", MERGE_LWW, PROTO_STR, true, 5, 5},
    {3, 1, "activity", MERGE_LWW, PROTO_STR, false, 1, 64},
    {3, 2, "date", MERGE_LWW, PROTO_STR, false, 10, 10},
    {3, 3, "start_time", MERGE_LWW, PROTO_STR, true, 5, 5},
    {3, 4, "cancelled", MERGE_LWW, PROTO_BOOL, false, 0, 0},
    {4, 1, "name", MERGE_LWW, PROTO_STR, false, 1, 200},
    {4, 2, "pseudonym", MERGE_LWW, PROTO_STR, true, 0, 200},
    {4, 3, "contact", MERGE_LWW, PROTO_STR, true, 0, 200},
    {4, 4, "referral", MERGE_LWW, PROTO_STR, true, 0, 100},
    {4, 5, "first_seen", MERGE_MIN, PROTO_INT, false, 0, MS_MAX},
    {4, 6, "merged_into", MERGE_LWW, PROTO_STR, true, 1, 64},
    {5, 1, "status", MERGE_LWW, PROTO_STR, true, 1, 16},
    {5, 2, "arrived", MERGE_MIN, PROTO_INT, true, 0, MS_MAX},
    {5, 3, "departed", MERGE_MAX, PROTO_INT, true, 0, MS_MAX},
    {6, 1, "count", MERGE_COUNTER, PROTO_INT, false, 0, 1000000},
    {7, 1, "activity", MERGE_ONCE, PROTO_STR, false, 1, 64},
    {7, 2, "body", MERGE_LWW, PROTO_STR, false, 0, PROTO_MAX_TEXT_BYTES},
    {7, 3, "deleted", MERGE_LWW, PROTO_BOOL, false, 0, 0},
    {8, 1, "started", MERGE_LWW, PROTO_INT, true, 0, MS_MAX},
    {8, 2, "ended", MERGE_LWW, PROTO_INT, true, 0, MS_MAX},
    {8, 3, "headcount", MERGE_LWW, PROTO_INT, true, 0, 100000},
    {8, 4, "notes", MERGE_LWW, PROTO_STR, true, 0, PROTO_MAX_TEXT_BYTES},
    {9, 1, "erased", MERGE_MIN, PROTO_INT, false, 0, MS_MAX},
};

static void test_table(void) {
  static const struct {
    const char *name, *table, *key, *key2;
    uint32_t nfields;
  } types[SCHEMA_TYPE_MAX + 1] = {
      {0},
      {"location", "locations", "id", NULL, 1},
      {"activity", "activities", "id", NULL, 4},
      {"session", "sessions", "id", NULL, 4},
      {"participant", "participants", "id", NULL, 6},
      {"checkin", "checkins", "session", "participant", 3},
      {"tally", "tallies", "session", NULL, 1},
      {"message", "messages", "id", NULL, 3},
      {"session_log", "session_logs", "session", NULL, 4},
      {"erasure", "erasures", "participant", NULL, 1},
  };
  size_t i;
  uint8_t t;

  CHECK(schema_type(0) == NULL);
  CHECK(schema_type(SCHEMA_TYPE_MAX + 1) == NULL);
  CHECK(schema_type(255) == NULL);
  for (t = 1; t <= SCHEMA_TYPE_MAX; t++) {
    const schema_type_t *st = schema_type(t);
    CHECK(st != NULL);
    CHECK_EQ_INT(st->id, t);
    CHECK_EQ_STR(st->name, types[t].name);
    CHECK_EQ_STR(st->table, types[t].table);
    CHECK_EQ_STR(st->key_column, types[t].key);
    if (types[t].key2)
      CHECK_EQ_STR(st->key2_column, types[t].key2);
    else
      CHECK(st->key2_column == NULL);
    CHECK_EQ_INT(st->nfields, types[t].nfields);
    /* ids are 1.. in order, unique */
    for (i = 0; i < st->nfields; i++)
      CHECK_EQ_INT(st->fields[i].id, i + 1);
    CHECK(schema_field(st, 0) == NULL);
    CHECK(schema_field(st, (uint8_t)(st->nfields + 1)) == NULL);
  }
  CHECK(schema_field(NULL, 1) == NULL);

  for (i = 0; i < sizeof want / sizeof want[0]; i++) {
    const schema_field_t *f = schema_field(schema_type(want[i].type), want[i].id);
    CHECK(f != NULL);
    CHECK_EQ_INT(f->id, want[i].id);
    CHECK_EQ_STR(f->name, want[i].name);
    CHECK_EQ_INT(f->rule, want[i].rule);
    CHECK_EQ_INT(f->vtype, want[i].vtype);
    CHECK_EQ_INT(f->nullable, want[i].nullable);
    if (f->vtype != PROTO_BOOL) {
      CHECK(f->min == want[i].min);
      CHECK(f->max == want[i].max);
    }
    CHECK((f->choices != NULL) == (want[i].type == 5 && want[i].id == 1));
  }
  {
    const schema_field_t *st = schema_field(schema_type(SCHEMA_CHECKIN), 1);
    CHECK_EQ_STR(st->choices[0], "present");
    CHECK_EQ_STR(st->choices[1], "absent");
    CHECK_EQ_STR(st->choices[2], "excused");
    CHECK(st->choices[3] == NULL);
  }
}

/* ------------------------------------------------------------ validation */

static proto_field_t fields[PROTO_MAX_FIELDS_PER_OP + 2];
static proto_op_t op;

static void start(uint8_t type, const char *key, const char *key2) {
  memset(&op, 0, sizeof op);
  memset(fields, 0, sizeof fields);
  op.seq = 1;
  op.type = type;
  op.key = proto_str(key);
  op.key2 = proto_str(key2);
  op.fields = fields;
}

static void fs(uint8_t id, const char *s) {
  fields[op.nfields].id = id;
  fields[op.nfields].value.type = PROTO_STR;
  fields[op.nfields].value.u.s = proto_str(s);
  op.nfields++;
}
static void fsn(uint8_t id, const char *s, size_t n) {
  fields[op.nfields].id = id;
  fields[op.nfields].value.type = PROTO_STR;
  fields[op.nfields].value.u.s.ptr = s;
  fields[op.nfields].value.u.s.len = (uint32_t)n;
  op.nfields++;
}
static void fi(uint8_t id, int64_t i) {
  fields[op.nfields].id = id;
  fields[op.nfields].value.type = PROTO_INT;
  fields[op.nfields].value.u.i = i;
  op.nfields++;
}
static void fb(uint8_t id, bool b) {
  fields[op.nfields].id = id;
  fields[op.nfields].value.type = PROTO_BOOL;
  fields[op.nfields].value.u.b = b;
  op.nfields++;
}
static void fnil(uint8_t id) {
  fields[op.nfields].id = id;
  fields[op.nfields].value.type = PROTO_NIL;
  op.nfields++;
}

#define OK() CHECK_EQ_INT(schema_validate_op(&op), 0)
#define BAD() CHECK_EQ_INT(schema_validate_op(&op), PROTO_EINVALID_OP)

static const char *U1 = "0190a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b";
static const char *U2 = "0190a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c";
static char text[PROTO_MAX_TEXT_BYTES + 2];

static void test_valid_ops(void) {
  start(SCHEMA_LOCATION, U1, NULL);
  fs(1, "Huis van de Wijk Feijenoord");
  OK();

  start(SCHEMA_ACTIVITY, U1, NULL);
  fs(1, U2);
  fs(2, "Time to Dance");
  fi(3, 2);
  fs(4, "10:00");
  OK();
  start(SCHEMA_ACTIVITY, U1, NULL);
  fnil(3);
  fnil(4);
  OK();

  start(SCHEMA_SESSION, U1, NULL);
  fs(1, U2);
  fs(2, "2024-06-04");
  fs(3, "23:59");
  fb(4, false);
  OK();

  start(SCHEMA_PARTICIPANT, U1, NULL);
  fs(1, "Mevrouw \xc3\x96zt\xc3\xbcrk"); /* UTF-8 */
  fs(2, "");
  fnil(3);
  fs(4, "huisarts");
  fi(5, 1717000000000);
  OK();

  start(SCHEMA_CHECKIN, U1, U2);
  fs(1, "present");
  fi(2, 1717000000000);
  fnil(3);
  OK();
  start(SCHEMA_CHECKIN, U1, U2);
  fs(1, "excused");
  OK();
  start(SCHEMA_CHECKIN, U1, U2); /* withdrawn: not checked in after all */
  fnil(1);
  OK();

  start(SCHEMA_TALLY, U1, NULL);
  fi(1, 0);
  OK();
  start(SCHEMA_TALLY, U1, NULL);
  fi(1, 1000000);
  OK();

  start(SCHEMA_MESSAGE, U1, NULL);
  fs(1, U2);
  fsn(2, text, PROTO_MAX_TEXT_BYTES);
  fb(3, false);
  OK();
  start(SCHEMA_MESSAGE, U1, NULL);
  fb(3, true); /* a delete alone */
  OK();

  start(SCHEMA_SESSION_LOG, U1, NULL);
  fi(1, 1717000000000);
  fi(2, 1717003600000);
  fi(3, 14);
  fs(4, "Veel nieuwe gezichten; koffie was op.");
  OK();
  start(SCHEMA_SESSION_LOG, U1, NULL);
  fnil(1);
  fnil(2);
  fnil(3);
  fnil(4);
  OK();

  start(SCHEMA_ERASURE, U1, NULL);
  fi(1, 1717000000000);
  OK();
  start(SCHEMA_ERASURE, U1, NULL);
  fnil(1); /* an erasure always says when */
  BAD();
}

static void test_keys(void) {
  char id[PROTO_MAX_ID_BYTES + 1];
  memset(id, 'k', sizeof id);

  start(0, U1, NULL);
  fs(1, "x");
  BAD();
  start(SCHEMA_TYPE_MAX + 1, U1, NULL);
  fs(1, "x");
  BAD();
  start(255, U1, NULL);
  fs(1, "x");
  BAD();

  start(SCHEMA_LOCATION, "", NULL);
  fs(1, "x");
  BAD();
  start(SCHEMA_LOCATION, U1, NULL);
  op.key.ptr = id;
  op.key.len = PROTO_MAX_ID_BYTES;
  fs(1, "x");
  OK();
  op.key.len = PROTO_MAX_ID_BYTES + 1;
  BAD();

  /* key2 present exactly when the type has one */
  start(SCHEMA_CHECKIN, U1, NULL);
  fs(1, "present");
  BAD();
  start(SCHEMA_CHECKIN, U1, U2);
  op.key2.ptr = id;
  op.key2.len = PROTO_MAX_ID_BYTES + 1;
  fs(1, "present");
  BAD();
  op.key2.len = PROTO_MAX_ID_BYTES;
  OK();
  start(SCHEMA_PARTICIPANT, U1, U2);
  fs(1, "Anna");
  BAD();
}

static void test_fields(void) {
  int i;

  /* no fields at all */
  start(SCHEMA_LOCATION, U1, NULL);
  BAD();
  /* unknown field id, for each type */
  for (i = 1; i <= SCHEMA_TYPE_MAX; i++) {
    const schema_type_t *t = schema_type((uint8_t)i);
    start((uint8_t)i, U1, t->key2_column ? U2 : NULL);
    fnil((uint8_t)(t->nfields + 1));
    BAD();
    start((uint8_t)i, U1, t->key2_column ? U2 : NULL);
    fnil(0);
    BAD();
  }
  /* repeated field */
  start(SCHEMA_SESSION_LOG, U1, NULL);
  fi(3, 4);
  fi(3, 5);
  BAD();
  /* too many fields */
  start(SCHEMA_SESSION_LOG, U1, NULL);
  for (i = 0; i < PROTO_MAX_FIELDS_PER_OP + 1; i++)
    fnil((uint8_t)(i % 4 + 1));
  BAD();
  /* a field count without an array */
  start(SCHEMA_LOCATION, U1, NULL);
  fs(1, "x");
  op.fields = NULL;
  BAD();
}

static void test_values(void) {
  /* nil only where nullable */
  start(SCHEMA_LOCATION, U1, NULL);
  fnil(1);
  BAD();
  start(SCHEMA_PARTICIPANT, U1, NULL);
  fnil(5);
  BAD();
  start(SCHEMA_TALLY, U1, NULL);
  fnil(1);
  BAD();
  start(SCHEMA_SESSION, U1, NULL);
  fnil(4);
  BAD();

  /* types: an int field takes only ints, a bool field only bools, a str
   * field only strings */
  start(SCHEMA_TALLY, U1, NULL);
  fs(1, "3");
  BAD();
  start(SCHEMA_TALLY, U1, NULL);
  fb(1, true);
  BAD();
  start(SCHEMA_SESSION, U1, NULL);
  fi(4, 1);
  BAD();
  start(SCHEMA_SESSION, U1, NULL);
  fs(4, "true");
  BAD();
  start(SCHEMA_LOCATION, U1, NULL);
  fi(1, 5);
  BAD();
  start(SCHEMA_LOCATION, U1, NULL);
  fb(1, true);
  BAD();
  start(SCHEMA_LOCATION, U1, NULL);
  fields[0].id = 1;
  fields[0].value.type = (proto_vtype_t)7;
  op.nfields = 1;
  BAD();

  /* int ranges */
  start(SCHEMA_ACTIVITY, U1, NULL);
  fi(3, 0);
  BAD();
  start(SCHEMA_ACTIVITY, U1, NULL);
  fi(3, 8);
  BAD();
  start(SCHEMA_ACTIVITY, U1, NULL);
  fi(3, 7);
  OK();
  start(SCHEMA_TALLY, U1, NULL);
  fi(1, -1);
  BAD();
  start(SCHEMA_TALLY, U1, NULL);
  fi(1, 1000001);
  BAD();
  start(SCHEMA_SESSION_LOG, U1, NULL);
  fi(3, 100001);
  BAD();
  start(SCHEMA_SESSION_LOG, U1, NULL);
  fi(1, -1);
  BAD();
  start(SCHEMA_CHECKIN, U1, U2);
  fi(2, MS_MAX + 1);
  BAD();
  start(SCHEMA_CHECKIN, U1, U2);
  fi(3, MS_MAX);
  OK();
  start(SCHEMA_PARTICIPANT, U1, NULL);
  fi(5, INT64_MIN);
  BAD();

  /* string lengths (bytes) */
  start(SCHEMA_LOCATION, U1, NULL);
  fs(1, "");
  BAD();
  start(SCHEMA_LOCATION, U1, NULL);
  fsn(1, text, 200);
  OK();
  start(SCHEMA_LOCATION, U1, NULL);
  fsn(1, text, 201);
  BAD();
  start(SCHEMA_PARTICIPANT, U1, NULL);
  fsn(4, text, 101);
  BAD();
  start(SCHEMA_ACTIVITY, U1, NULL);
  fsn(1, text, PROTO_MAX_ID_BYTES + 1);
  BAD();
  start(SCHEMA_MESSAGE, U1, NULL);
  fsn(2, text, PROTO_MAX_TEXT_BYTES + 1);
  BAD();
  start(SCHEMA_SESSION_LOG, U1, NULL);
  fsn(4, text, PROTO_MAX_TEXT_BYTES + 1);
  BAD();
  start(SCHEMA_LOCATION, U1, NULL);
  fsn(1, NULL, 3); /* a length without bytes */
  BAD();

  /* choices */
  start(SCHEMA_CHECKIN, U1, U2);
  fs(1, "late");
  BAD();
  start(SCHEMA_CHECKIN, U1, U2);
  fs(1, "Present");
  BAD();
  start(SCHEMA_CHECKIN, U1, U2);
  fsn(1, "present\0", 8);
  BAD();
  start(SCHEMA_CHECKIN, U1, U2);
  fs(1, "");
  BAD();

  /* text must be UTF-8 */
  {
    static const char *bad_utf8[] = {
        "\xff",             /* never valid */
        "caf\xc3",          /* truncated sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\x80",             /* lone continuation */
    };
    size_t i;
    for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
      start(SCHEMA_PARTICIPANT, U1, NULL);
      fs(1, bad_utf8[i]);
      BAD();
    }
    start(SCHEMA_PARTICIPANT, U1, NULL);
    fs(1, "\xf0\x9f\x92\x83 \xe2\x82\xac \xc3\xa9"); /* 4, 3, 2 bytes */
    OK();
  }
}

static void test_dates_and_times(void) {
  static const char *good_dates[] = {"2024-06-04", "2024-02-29", "2000-02-29",
                                     "1999-12-31", "2025-01-01"};
  static const char *bad_dates[] = {
      "2024-13-01", "2024-00-10", "2024-06-00", "2024-06-31", "2023-02-29",
      "1900-02-29", "2024/06/04", "2024-6-04x", "24-06-2024", "2024-06-4 ",
      "20240604xx", "abcd-ef-gh", "2024-0a-04", "2024-06-04T", "2024-06-0"};
  static const char *good_times[] = {"00:00", "09:30", "23:59", "12:00"};
  static const char *bad_times[] = {"24:00", "23:60", "9:00 ", "09.00",
                                    "0900",  "09:0a", " 9:00", "99:99",
                                    "09:000", "-1:00"};
  size_t i;

  for (i = 0; i < sizeof good_dates / sizeof *good_dates; i++) {
    start(SCHEMA_SESSION, U1, NULL);
    fs(2, good_dates[i]);
    OK();
  }
  for (i = 0; i < sizeof bad_dates / sizeof *bad_dates; i++) {
    start(SCHEMA_SESSION, U1, NULL);
    fs(2, bad_dates[i]);
    BAD();
  }
  for (i = 0; i < sizeof good_times / sizeof *good_times; i++) {
    start(SCHEMA_SESSION, U1, NULL);
    fs(3, good_times[i]);
    OK();
    start(SCHEMA_ACTIVITY, U1, NULL);
    fs(4, good_times[i]);
    OK();
  }
  for (i = 0; i < sizeof bad_times / sizeof *bad_times; i++) {
    start(SCHEMA_SESSION, U1, NULL);
    fs(3, bad_times[i]);
    BAD();
    start(SCHEMA_ACTIVITY, U1, NULL);
    fs(4, bad_times[i]);
    BAD();
  }
}

int main(void) {
  memset(text, 'a', sizeof text);
  test_table();
  test_valid_ops();
  test_keys();
  test_fields();
  test_values();
  test_dates_and_times();
  CHECK_EQ_INT(schema_validate_op(NULL), PROTO_EINVALID_OP);
  return 0;
}
