/* test_replica_checkin_identity.c — a check-in is identified by (session,
 * participant): two tablets checking the same person into the same session
 * make one row, whose arrival is the earliest and departure the latest
 * reported, whatever order the ops arrive in. */
#include "test_store_util.h"

#define STATUS 1
#define ARRIVED 2
#define DEPARTED 3

static void check_row(sqlite3 *db, int64_t org) {
  char buf[256];
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkins WHERE org = %lld", (long long)org), 1);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT status || '/' || arrived || '/' || departed FROM checkins "
                        "WHERE org = %lld AND session = 'S1' AND participant = 'P1'",
                        (long long)org),
               "present/900/5000");
}

int main(void) {
  char dir[64], path[128];
  proto_field_t fa[3], fb[3], fc[2];
  proto_op_t a, b, c;
  replica_options_t opts = {.log_conflicts = true};
  sqlite3 *db;
  replica_t *r;
  int changes;

  tu_mkdtemp(dir);
  tu_path(path, dir, "replica.db");
  db = tu_replica_db(path);
  r = replica_open(db, &opts);
  CHECK(r != NULL);

  /* tabA saw her arrive at 1000 and leave at 5000; tabB at 900 and 4000;
   * tabC only records that she is still there (no departure yet). */
  fa[0] = tu_fstr(STATUS, "present");
  fa[1] = tu_fint(ARRIVED, 1000);
  fa[2] = tu_fint(DEPARTED, 5000);
  a = tu_op("tabA", 1, HLC_MAKE(1000, 0), SCHEMA_CHECKIN, "S1", "P1", fa, 3);
  a.server_seq = 1;
  fb[0] = tu_fstr(STATUS, "present");
  fb[1] = tu_fint(ARRIVED, 900);
  fb[2] = tu_fint(DEPARTED, 4000);
  b = tu_op("tabB", 1, HLC_MAKE(1100, 0), SCHEMA_CHECKIN, "S1", "P1", fb, 3);
  b.server_seq = 2;
  fc[0] = tu_fint(ARRIVED, 950);
  fc[1] = tu_fnil(DEPARTED);
  c = tu_op("tabC", 1, HLC_MAKE(1200, 0), SCHEMA_CHECKIN, "S1", "P1", fc, 2);
  c.server_seq = 3;

  /* Organisation 1 receives A, B, C; organisation 2 receives C, B, A. */
  CHECK_EQ_INT(replica_apply(r, 1, &a), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &b), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &c), 0);
  CHECK_EQ_INT(replica_apply(r, 2, &c), 0);
  CHECK_EQ_INT(replica_apply(r, 2, &b), 0);
  CHECK_EQ_INT(replica_apply(r, 2, &a), 0);
  check_row(db, 1);
  check_row(db, 2);

  /* Every field's clock converged too, not just the values. */
  CHECK_EQ_INT(tu_qint(db,
                       "SELECT count(*) FROM field_clocks c1 JOIN field_clocks c2 USING "
                       "(rtype, k, k2, field, hlc, device, seq, server_seq) "
                       "WHERE c1.org = 1 AND c2.org = 2"),
               3);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM field_clocks WHERE org = 1"), 3);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM field_clocks WHERE k = 'S1' AND k2 = 'P1'"), 6);

  /* Re-delivery changes nothing. */
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &b), 0);
  CHECK_EQ_INT(replica_apply(r, 2, &a), 0);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);
  check_row(db, 1);

  /* The same participant in another session is another check-in. */
  a.key = PROTO_STR("S2");
  CHECK_EQ_INT(replica_apply(r, 1, &a), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkins WHERE org = 1 AND participant = 'P1'"),
               2);

  /* A check-in must name both session and participant. */
  b.key2 = PROTO_STR("");
  CHECK_EQ_INT(replica_apply(r, 1, &b), PROTO_EINVALID_OP);

  replica_close(r);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
