/* test_replica_tally.c — anonymous tallies are counters merged per device:
 * two tablets counting at the door add up, an older op of the same device
 * never overwrites a newer total, and re-applying changes nothing. */
#include "test_store_util.h"

#define COUNT 1

static proto_op_t tally(const char *dev, uint64_t seq, int64_t count, proto_field_t *f) {
  *f = tu_fint(COUNT, count);
  /* Clocks deliberately disagree with seq order: counters go by seq. */
  return tu_op(dev, seq, HLC_MAKE(10000 - (int64_t)seq, 0), SCHEMA_TALLY, "S1", NULL, f, 1);
}

static int64_t total(sqlite3 *db) {
  return tu_qint(db, "SELECT total FROM session_tallies WHERE org = 1 AND session = 'S1'");
}

int main(void) {
  char dir[64], path[128];
  proto_field_t f[6];
  proto_op_t a1, a2, b1, b3, b2;
  replica_options_t opts = {.log_conflicts = true};
  sqlite3 *db;
  replica_t *r;
  int changes;

  tu_mkdtemp(dir);
  tu_path(path, dir, "replica.db");
  db = tu_replica_db(path);
  r = replica_open(db, &opts);
  CHECK(r != NULL);

  a1 = tally("tabA", 1, 3, &f[0]);
  b1 = tally("tabB", 1, 2, &f[1]);
  a2 = tally("tabA", 2, 5, &f[2]);
  CHECK_EQ_INT(replica_apply(r, 1, &a1), 0);
  CHECK_EQ_INT(total(db), 3);
  CHECK_EQ_INT(replica_apply(r, 1, &b1), 0);
  CHECK_EQ_INT(total(db), 5);
  CHECK_EQ_INT(replica_apply(r, 1, &a2), 0);
  CHECK_EQ_INT(total(db), 7); /* tabA's 5 + tabB's 2 */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM tallies WHERE org = 1 AND session = 'S1'"), 2);

  /* tabA's first total arriving again (older seq) is ignored. */
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &a1), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &a2), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &b1), 0);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);
  CHECK_EQ_INT(total(db), 7);

  /* Out of order from one device: seq 3 first, then the stale seq 2. */
  b3 = tally("tabB", 3, 4, &f[3]);
  b2 = tally("tabB", 2, 3, &f[4]);
  CHECK_EQ_INT(replica_apply(r, 1, &b3), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &b2), 0);
  CHECK_EQ_INT(total(db), 9);
  CHECK_EQ_INT(tu_qint(db, "SELECT seq FROM tallies WHERE device = 'tabB'"), 3);

  /* Counters never produce conflicts: adding up loses nothing. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM conflicts"), 0);

  /* A negative count is not a valid op. */
  b2 = tally("tabB", 4, -1, &f[5]);
  CHECK_EQ_INT(replica_apply(r, 1, &b2), PROTO_EINVALID_OP);
  CHECK_EQ_INT(total(db), 9);

  replica_close(r);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
