/* schema.h — the record types a Turf op can change, their fields, and the
 * merge rule of each field. This table is the single source for the wire
 * field ids (PROTOCOL.md), the materialised SQL tables (storage/replica.c)
 * and validation. Pure code. */
#ifndef TURF_SCHEMA_H
#define TURF_SCHEMA_H

#include "proto.h"

typedef enum {
  SCHEMA_LOCATION = 1,
  SCHEMA_ACTIVITY = 2,
  SCHEMA_SESSION = 3,
  SCHEMA_PARTICIPANT = 4,
  SCHEMA_CHECKIN = 5,     /* key = session id, key2 = participant id */
  SCHEMA_TALLY = 6,       /* key = session id; one counter per device */
  SCHEMA_MESSAGE = 7,     /* key = message id; author = creating device */
  SCHEMA_SESSION_LOG = 8, /* key = session id */
  SCHEMA_ERASURE = 9,     /* key = participant id; written only by an
                             administrator: every replica purges that
                             participant and their check-ins */
} schema_type_id_t;
#define SCHEMA_TYPE_MAX 9

typedef enum {
  MERGE_LWW = 1, /* greatest (hlc, device) wins; losers go to the conflict log */
  MERGE_MIN,     /* smallest non-nil value wins (check-in arrival) */
  MERGE_MAX,     /* greatest non-nil value wins (check-in departure) */
  MERGE_COUNTER, /* one slot per device, highest device_seq wins, total = sum */
  MERGE_ONCE,    /* first write stays (message activity) */
} merge_rule_t;

typedef struct {
  uint8_t id;          /* wire id, unique within the type, never reused */
  const char *name;    /* SQL column name and PROTOCOL.md name */
  merge_rule_t rule;
  proto_vtype_t vtype; /* PROTO_STR, PROTO_INT or PROTO_BOOL; nil is allowed
                          where nullable */
  bool nullable;
  int64_t min, max;    /* PROTO_INT: inclusive range; PROTO_STR: byte length */
  const char *const *choices; /* PROTO_STR: NULL-terminated allowed values,
                                 or NULL for free text */
} schema_field_t;

typedef struct {
  uint8_t id;
  const char *name;         /* "checkin" */
  const char *table;        /* "checkins" */
  const char *key_column;   /* "session" */
  const char *key2_column;  /* "participant", or NULL when there is no key2 */
  const schema_field_t *fields;
  uint32_t nfields;
} schema_type_t;

/* NULL when id is unknown. Cannot fail. */
const schema_type_t *schema_type(uint8_t id);
/* NULL when the type has no such field. Cannot fail. */
const schema_field_t *schema_field(const schema_type_t *type, uint8_t field_id);
/* Checks what can be checked without state: known type, key lengths (1..
 * PROTO_MAX_ID_BYTES; key2 present iff the type has one), at least one field,
 * known and non-repeated field ids, value types, ranges and choices.
 * Returns 0 or PROTO_EINVALID_OP. */
int schema_validate_op(const proto_op_t *op);

/* Whether s is a calendar date "YYYY-MM-DD" (a session's date field). */
bool schema_date_valid(proto_str_t s);

/* The date a session held at wall-clock time ms (since the Unix epoch) has
 * in its "date" field: "YYYY-MM-DD" in this process's time zone. A time
 * whose year needs more than four digits gives "0000-00-00", which is no
 * session's date. Cannot fail. */
void schema_local_date(int64_t ms, char date[11]);

#endif
