/* test_replica_lww.c — last-writer-wins fields: the later HLC wins, equal
 * HLCs are broken by device id whatever the arrival order, re-applying an op
 * changes nothing, a concurrent loser lands in the conflict log with kept and
 * lost the right way round, and overwriting a value the writer had already
 * pulled is not a conflict. */
#include "test_store_util.h"

#define LOC_NAME 1

static proto_op_t name_op(const char *dev, uint64_t seq, int64_t ms, uint64_t server_seq,
                          uint64_t base, const char *key, proto_field_t *f, const char *name) {
  proto_op_t op;
  *f = tu_fstr(LOC_NAME, name);
  op = tu_op(dev, seq, HLC_MAKE(ms, 0), SCHEMA_LOCATION, key, NULL, f, 1);
  op.server_seq = server_seq;
  op.base = base;
  return op;
}

static const char *name_of(sqlite3 *db, char buf[256], const char *key) {
  return tu_qtext(db, buf, 256, "SELECT name FROM locations WHERE org = 1 AND id = '%s'", key);
}

int main(void) {
  char dir[64], path[128], buf[256];
  proto_field_t f[8];
  proto_op_t a1, b1, a2, x, y;
  replica_options_t opts = {.log_conflicts = true};
  sqlite3 *db;
  replica_t *r;
  int changes;

  tu_mkdtemp(dir);
  tu_path(path, dir, "replica.db");
  db = tu_replica_db(path);
  r = replica_open(db, &opts);
  CHECK(r != NULL);

  /* Concurrent writes: tabB had pulled nothing (base 0) when it renamed. */
  a1 = name_op("tabA", 1, 1000, 1, 0, "L1", &f[0], "Alpha");
  b1 = name_op("tabB", 1, 2000, 2, 0, "L1", &f[1], "Beta");
  CHECK_EQ_INT(replica_apply(r, 1, &a1), 0);
  CHECK_EQ_STR(name_of(db, buf, "L1"), "Alpha");
  CHECK_EQ_INT(replica_apply(r, 1, &b1), 0);
  CHECK_EQ_STR(name_of(db, buf, "L1"), "Beta");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM locations"), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT hlc FROM field_clocks WHERE k = 'L1' AND field = 1"),
               HLC_MAKE(2000, 0));
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT device FROM field_clocks WHERE k = 'L1'"),
               "tabB");
  /* Beta won over Alpha, which Beta's writer had not seen. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM conflicts"), 1);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT kept_value || '/' || kept_device || '/' || kept_hlc || ' ' || "
                        "lost_value || '/' || lost_device || '/' || lost_hlc || '/' || lost_seq "
                        "|| '/' || server_seq || '/' || rtype || '/' || field || '/' || k || "
                        "'/' || resolved FROM conflicts"),
               "Beta/tabB/131072000 Alpha/tabA/65536000/1/1/1/1/L1/0");

  /* An older write arriving late loses, and is logged as the lost one. */
  a2 = name_op("tabA", 2, 1500, 3, 0, "L1", &f[2], "Gamma");
  CHECK_EQ_INT(replica_apply(r, 1, &a2), 0);
  CHECK_EQ_STR(name_of(db, buf, "L1"), "Beta");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM conflicts"), 2);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT kept_value || '/' || kept_device || ' ' || lost_value || '/' || "
                        "lost_device || '/' || lost_seq || '/' || server_seq FROM conflicts "
                        "WHERE lost_seq = 2"),
               "Beta/tabB Gamma/tabA/2/3");

  /* The same ops again change nothing at all, conflicts included. */
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &a1), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &b1), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &a2), 0);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);
  CHECK_EQ_STR(name_of(db, buf, "L1"), "Beta");

  /* Equal HLCs: the greater device id wins, in either arrival order. */
  x = name_op("tabA", 3, 5000, 4, 0, "L2", &f[3], "from A");
  y = name_op("tabB", 2, 5000, 5, 0, "L2", &f[4], "from B");
  CHECK_EQ_INT(replica_apply(r, 1, &x), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &y), 0);
  CHECK_EQ_STR(name_of(db, buf, "L2"), "from B");
  x.key = y.key = PROTO_STR("L3");
  CHECK_EQ_INT(replica_apply(r, 1, &y), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &x), 0);
  CHECK_EQ_STR(name_of(db, buf, "L3"), "from B");

  /* tabB renames L4 after pulling tabA's name (base >= its server_seq): an
   * ordinary edit, not a conflict. */
  x = name_op("tabA", 4, 6000, 10, 9, "L4", &f[5], "one");
  y = name_op("tabB", 3, 7000, 11, 10, "L4", &f[6], "two");
  CHECK_EQ_INT(replica_apply(r, 1, &x), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &y), 0);
  CHECK_EQ_STR(name_of(db, buf, "L4"), "two");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM conflicts WHERE k = 'L4'"), 0);
  /* Nor is a device overwriting its own value. */
  x = name_op("tabA", 5, 8000, 12, 0, "L4b", &f[5], "first");
  y = name_op("tabA", 6, 9000, 13, 0, "L4b", &f[6], "second");
  CHECK_EQ_INT(replica_apply(r, 1, &x), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &y), 0);
  CHECK_EQ_STR(name_of(db, buf, "L4b"), "second");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM conflicts WHERE k = 'L4b'"), 0);

  /* Organisations are separate replicas within one file. */
  CHECK_EQ_INT(replica_apply(r, 2, &a1), 0);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT name FROM locations WHERE org = 2 AND id = 'L1'"),
               "Alpha");

  /* An invalid op is refused and changes nothing. */
  changes = sqlite3_total_changes(db);
  x = name_op("tabA", 7, 9500, 14, 0, "L5", &f[7], "");
  CHECK_EQ_INT(replica_apply(r, 1, &x), PROTO_EINVALID_OP);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);

  replica_close(r);
  /* Without log_conflicts, nothing is written to the conflict log. */
  opts.log_conflicts = false;
  r = replica_open(db, &opts);
  CHECK(r != NULL);
  x = name_op("tabA", 8, 1000, 15, 0, "L6", &f[0], "old");
  y = name_op("tabB", 9, 2000, 16, 0, "L6", &f[1], "new");
  CHECK_EQ_INT(replica_apply(r, 1, &y), 0);
  CHECK_EQ_INT(replica_apply(r, 1, &x), 0);
  CHECK_EQ_STR(name_of(db, buf, "L6"), "new");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM conflicts WHERE k = 'L6'"), 0);
  replica_close(r);

  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
