/* test_replica_message.c — messages are append-only with one author: the
 * first op creates the message (and must give activity and body), the author
 * may edit and delete it, anyone else is refused with nothing changed, and
 * the activity, once set, stays. */
#include "test_store_util.h"

#define ACTIVITY 1
#define BODY 2
#define DELETED 3

int main(void) {
  char dir[64], path[128], buf[256];
  proto_field_t f[4];
  proto_op_t op;
  replica_options_t opts = {.log_conflicts = true};
  sqlite3 *db;
  replica_t *r;
  int changes;

  tu_mkdtemp(dir);
  tu_path(path, dir, "replica.db");
  db = tu_replica_db(path);
  r = replica_open(db, &opts);
  CHECK(r != NULL);

  /* A first op without an activity cannot create a message. */
  f[0] = tu_fstr(BODY, "Hallo allemaal");
  op = tu_op("tabA", 1, HLC_MAKE(5000, 3), SCHEMA_MESSAGE, "M1", NULL, f, 1);
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &op), PROTO_EINVALID_OP);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM messages"), 0);
  /* Nor without a body. */
  f[0] = tu_fstr(ACTIVITY, "A1");
  op = tu_op("tabA", 1, HLC_MAKE(5000, 3), SCHEMA_MESSAGE, "M1", NULL, f, 1);
  CHECK_EQ_INT(replica_apply(r, 1, &op), PROTO_EINVALID_OP);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM messages"), 0);

  /* Create. */
  f[0] = tu_fstr(ACTIVITY, "A1");
  f[1] = tu_fstr(BODY, "Hallo allemaal");
  op = tu_op("tabA", 1, HLC_MAKE(5000, 3), SCHEMA_MESSAGE, "M1", NULL, f, 2);
  op.server_seq = 1;
  CHECK_EQ_INT(replica_apply(r, 1, &op), 0);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT activity || '/' || body || '/' || author || '/' || posted || "
                        "'/' || coalesce(deleted, 'null') FROM messages WHERE id = 'M1'"),
               "A1/Hallo allemaal/tabA/5000/null");

  /* The author edits; the activity is write-once and stays A1. */
  f[0] = tu_fstr(BODY, "Hallo allemaal, tot dinsdag!");
  f[1] = tu_fstr(ACTIVITY, "A2");
  op = tu_op("tabA", 2, HLC_MAKE(6000, 0), SCHEMA_MESSAGE, "M1", NULL, f, 2);
  op.server_seq = 2;
  op.base = 1;
  CHECK_EQ_INT(replica_apply(r, 1, &op), 0);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT activity || '/' || body || '/' || posted FROM messages"),
               "A1/Hallo allemaal, tot dinsdag!/5000");

  /* Another device may not edit or delete it: refused, nothing changed. */
  f[0] = tu_fstr(BODY, "overgenomen");
  op = tu_op("tabB", 1, HLC_MAKE(9000, 0), SCHEMA_MESSAGE, "M1", NULL, f, 1);
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &op), PROTO_ENOT_AUTHOR);
  f[0] = tu_fbool(DELETED, true);
  CHECK_EQ_INT(replica_apply(r, 1, &op), PROTO_ENOT_AUTHOR);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT body FROM messages"),
               "Hallo allemaal, tot dinsdag!");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM field_clocks WHERE device = 'tabB'"), 0);

  /* The author deletes it (the row stays, flagged). */
  f[0] = tu_fbool(DELETED, true);
  op = tu_op("tabA", 3, HLC_MAKE(7000, 0), SCHEMA_MESSAGE, "M1", NULL, f, 1);
  op.server_seq = 3;
  op.base = 2;
  CHECK_EQ_INT(replica_apply(r, 1, &op), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT deleted FROM messages WHERE id = 'M1'"), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM messages"), 1);

  /* tabB's own message is a different record and is fine. */
  f[0] = tu_fstr(ACTIVITY, "A1");
  f[1] = tu_fstr(BODY, "Ik neem koekjes mee");
  op = tu_op("tabB", 1, HLC_MAKE(9000, 0), SCHEMA_MESSAGE, "M2", NULL, f, 2);
  CHECK_EQ_INT(replica_apply(r, 1, &op), 0);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT author FROM messages WHERE id = 'M2'"),
               "tabB");
  /* Applying the creating op again changes nothing. */
  changes = sqlite3_total_changes(db);
  CHECK_EQ_INT(replica_apply(r, 1, &op), 0);
  CHECK_EQ_INT(sqlite3_total_changes(db), changes);

  replica_close(r);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
