/* test_replica_erasure.c — an erasure op removes one participant from a
 * replica: their row, their check-ins (sources and merged rows), the field
 * clocks and conflict-log entries naming them; other people's check-ins in
 * the same sessions stay, and merged rows that counted the erased one's
 * check-ins are recomputed without them. Applying it again changes
 * nothing; two replicas applying the same ops end identical. */
#include "test_store_util.h"

#define NAME 1
#define FIRST_SEEN 5
#define STATUS 1
#define ARRIVED 2
#define ERASED_AT 1

static uint8_t field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  CHECK(0);
  return 0;
}

typedef struct {
  proto_field_t f[3];
  proto_op_t op;
} op_t;

static void person(op_t *o, const char *dev, uint64_t seq, uint64_t hlc, const char *id,
                   const char *name) {
  o->f[0] = tu_fstr(NAME, name);
  o->f[1] = tu_fint(FIRST_SEEN, 1000);
  o->op = tu_op(dev, seq, hlc, SCHEMA_PARTICIPANT, id, NULL, o->f, 2);
}

static void checkin(op_t *o, const char *dev, uint64_t seq, uint64_t hlc, const char *session,
                    const char *id, int64_t arrived) {
  o->f[0] = tu_fstr(STATUS, "present");
  o->f[1] = tu_fint(ARRIVED, arrived);
  o->op = tu_op(dev, seq, hlc, SCHEMA_CHECKIN, session, id, o->f, 2);
}

static int64_t count(sqlite3 *db, int64_t org, const char *what) {
  return tu_qint(db, what, (long long)org);
}

/* Everything about P1 is gone from org; P2 is intact. */
static void check_erased(sqlite3 *db, int64_t org) {
  char buf[64];
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM participants WHERE org = %lld AND id = 'P1'"), 0);
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM checkins WHERE org = %lld AND participant = 'P1'"), 0);
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM checkin_sources WHERE org = %lld AND "
                              "participant = 'P1'"), 0);
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM field_clocks WHERE org = %lld AND "
                              "((rtype = 4 AND k = 'P1') OR (rtype = 5 AND k2 = 'P1'))"), 0);
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM conflicts WHERE org = %lld AND "
                              "(k = 'P1' OR k2 = 'P1' OR lost_value LIKE 'Anna%%' OR "
                              "kept_value LIKE 'Anna%%')"), 0);
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM erasures WHERE org = %lld AND "
                              "participant = 'P1' AND erased = 7000"), 1);
  /* P2 and their check-ins stay, with the dup D2 merged into P2. */
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT name FROM participants WHERE org = %lld AND id = 'P2'",
                        (long long)org), "Bram");
  CHECK_EQ_INT(count(db, org, "SELECT count(*) FROM checkins WHERE org = %lld AND participant = 'P2'"), 2);
  CHECK_EQ_INT(count(db, org, "SELECT arrived FROM checkins WHERE org = %lld AND session = 'S1' AND "
                              "participant = 'P2'"), 150);
}

int main(void) {
  char dir[64], path[128];
  replica_options_t opts = {.log_conflicts = true};
  op_t ops[10], erase, dup_merge, late;
  proto_field_t ef[1];
  sqlite3 *db;
  replica_t *r;
  uint8_t merged_into = field_id(SCHEMA_PARTICIPANT, "merged_into");
  int n = 0, changes;

  tu_mkdtemp(dir);
  tu_path(path, dir, "replica.db");
  db = tu_replica_db(path);
  r = replica_open(db, &opts);
  CHECK(r != NULL);

  /* P1 "Anna", renamed concurrently (a conflict naming her), checked in
   * twice; P2 "Bram" checked in to the same sessions; D2 a duplicate of
   * Bram, merged into P2, with an earlier arrival in S1. */
  person(&ops[n++], "tabA", 1, HLC_MAKE(1000, 0), "P1", "Anna Jansen");
  person(&ops[n++], "tabB", 1, HLC_MAKE(1000, 1), "P1", "Anna J.");
  ops[1].op.base = 0; /* tabB had not seen tabA's name: a conflict */
  person(&ops[n++], "tabA", 2, HLC_MAKE(1000, 2), "P2", "Bram");
  person(&ops[n++], "tabB", 2, HLC_MAKE(1000, 3), "D2", "Bram (dubbel)");
  checkin(&ops[n++], "tabA", 3, HLC_MAKE(2000, 0), "S1", "P1", 100);
  checkin(&ops[n++], "tabB", 3, HLC_MAKE(2000, 1), "S2", "P1", 300);
  checkin(&ops[n++], "tabA", 4, HLC_MAKE(2000, 2), "S1", "P2", 200);
  checkin(&ops[n++], "tabB", 4, HLC_MAKE(2000, 3), "S2", "P2", 400);
  checkin(&ops[n++], "tabB", 5, HLC_MAKE(2000, 4), "S1", "D2", 150);
  dup_merge.f[0] = tu_fstr(merged_into, "P2");
  dup_merge.op = tu_op("coord", 1, HLC_MAKE(3000, 0), SCHEMA_PARTICIPANT, "D2", NULL, dup_merge.f, 1);
  for (int i = 0; i < n; i++)
    ops[i].op.server_seq = (uint64_t)i + 1;
  dup_merge.op.server_seq = (uint64_t)n + 1;
  ef[0] = tu_fint(ERASED_AT, 7000);
  erase.op = tu_op("admin", 1, HLC_MAKE(7000, 0), SCHEMA_ERASURE, "P1", NULL, ef, 1);
  erase.op.server_seq = (uint64_t)n + 2;

  /* Organisation 1: everything, then the erasure. */
  for (int i = 0; i < n; i++)
    CHECK_EQ_INT(replica_apply(r, 1, &ops[i].op), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &dup_merge.op), 0);
  CHECK(count(db, 1, "SELECT count(*) FROM conflicts WHERE org = %lld AND k = 'P1'") > 0);
  CHECK_EQ_INT(count(db, 1, "SELECT count(*) FROM checkins WHERE org = %lld AND participant = 'P1'"), 2);
  CHECK_EQ_INT(replica_apply(r, 1, &erase.op), 0);
  check_erased(db, 1);

  /* Again: nothing changes. */
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &erase.op), 0);
  check_erased(db, 1);
  CHECK_EQ_INT(sqlite3_total_changes(db) - changes, 0);

  /* Organisation 2: the erasure arrives between the others (as when the
   * server rewrote P1's ops to erasures and a later check-in of P2 came
   * after): the same end state. */
  for (int i = 0; i < 2; i++)
    CHECK_EQ_INT(replica_apply(r, 2, &ops[i].op), 0);
  CHECK_EQ_INT(replica_apply(r, 2, &erase.op), 0);
  for (int i = 2; i < n; i++)
    if (ops[i].op.type != SCHEMA_CHECKIN || strcmp(ops[i].op.key2.ptr, "P1") != 0)
      CHECK_EQ_INT(replica_apply(r, 2, &ops[i].op), 0);
  CHECK_EQ_INT(replica_apply(r, 2, &dup_merge.op), 0);
  check_erased(db, 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM (SELECT session, participant, status, arrived "
                           "FROM checkins WHERE org = 1 EXCEPT SELECT session, participant, "
                           "status, arrived FROM checkins WHERE org = 2)"), 0);

  /* Erasing the duplicate D2 recomputes P2's merged row in S1 without
   * D2's earlier arrival. */
  late.f[0] = tu_fint(ERASED_AT, 8000);
  late.op = tu_op("admin", 2, HLC_MAKE(8000, 0), SCHEMA_ERASURE, "D2", NULL, late.f, 1);
  CHECK_EQ_INT(replica_apply(r, 1, &late.op), 0);
  CHECK_EQ_INT(count(db, 1, "SELECT arrived FROM checkins WHERE org = %lld AND session = 'S1' AND "
                            "participant = 'P2'"), 200);
  CHECK_EQ_INT(count(db, 1, "SELECT count(*) FROM checkin_sources WHERE org = %lld AND "
                            "participant = 'D2'"), 0);

  replica_close(r);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
