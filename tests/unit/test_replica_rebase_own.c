/* test_replica_rebase_own.c — a tablet applies its own op with its local HLC
 * before the server has it; when the op comes back with the server's HLC and
 * server_seq, replica_rebase_own makes the tablet's replica identical to the
 * server's, which applied the op with those values directly. */
#include "test_store_util.h"

/* Every row of the tables that must converge, as one text. */
static void dump(sqlite3 *db, char *out, size_t size) {
  static const char *const queries[] = {
      "SELECT group_concat(id || ':' || name, ';') FROM (SELECT * FROM locations ORDER BY id)",
      "SELECT group_concat(id || ':' || activity || ':' || body || ':' || author || ':' || "
      "posted, ';') FROM (SELECT * FROM messages ORDER BY id)",
      "SELECT group_concat(rtype || ':' || k || ':' || field || ':' || hlc || ':' || device || "
      "':' || seq || ':' || server_seq, ';') FROM (SELECT * FROM field_clocks "
      "ORDER BY rtype, k, field)",
  };
  size_t at = 0;
  char buf[2048];
  for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
    tu_qtext(db, buf, sizeof(buf), "%s", queries[i]);
    at += (size_t)snprintf(out + at, size - at, "%s\n", buf);
    CHECK(at < size);
  }
}

int main(void) {
  char dir[64], path[128], tablet_dump[8192], server_dump[8192];
  proto_field_t loc[1], msg[2], loc2[1];
  proto_op_t op1, op2, op3;
  replica_options_t opts = {.log_conflicts = false};
  sqlite3 *tablet_db, *server_db;
  replica_t *tablet, *server;
  const uint64_t local1 = HLC_MAKE(90000000, 0);  /* the tablet's clock ran ahead */
  const uint64_t server1 = HLC_MAKE(1000000, 5);  /* what the server bounded it to */

  tu_mkdtemp(dir);
  tu_path(path, dir, "tablet.db");
  tablet_db = tu_replica_db(path);
  tu_path(path, dir, "server.db");
  server_db = tu_replica_db(path);
  tablet = replica_open(tablet_db, &opts);
  server = replica_open(server_db, &opts);
  CHECK(tablet != NULL && server != NULL);

  /* Op 1 creates a location and (op 2) a message; op 3 renames the location
   * again, so op 1's name clock is no longer the current one. */
  loc[0] = tu_fstr(1, "Buurthuis De Kreek");
  op1 = tu_op("tabA", 1, local1, SCHEMA_LOCATION, "L1", NULL, loc, 1);
  msg[0] = tu_fstr(1, "A1");
  msg[1] = tu_fstr(2, "Welkom!");
  op2 = tu_op("tabA", 2, local1 + 1, SCHEMA_MESSAGE, "M1", NULL, msg, 2);
  loc2[0] = tu_fstr(1, "Buurthuis De Kreek (zaal 2)");
  op3 = tu_op("tabA", 3, local1 + 2, SCHEMA_LOCATION, "L2", NULL, loc2, 1);

  /* The tablet records offline: server_seq 0, local clocks. */
  CHECK_EQ_INT(replica_apply(tablet, 1, &op1), 0);
  CHECK_EQ_INT(replica_apply(tablet, 1, &op2), 0);
  CHECK_EQ_INT(replica_apply(tablet, 1, &op3), 0);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT posted FROM messages WHERE id = 'M1'"), 90000000);

  /* The server commits them with bounded clocks and server_seqs 7..9. */
  op1.hlc = server1;
  op1.server_seq = 7;
  op2.hlc = server1 + 1;
  op2.server_seq = 8;
  op3.hlc = server1 + 2;
  op3.server_seq = 9;
  CHECK_EQ_INT(replica_apply(server, 1, &op1), 0);
  CHECK_EQ_INT(replica_apply(server, 1, &op2), 0);
  CHECK_EQ_INT(replica_apply(server, 1, &op3), 0);

  dump(tablet_db, tablet_dump, sizeof(tablet_dump));
  dump(server_db, server_dump, sizeof(server_dump));
  CHECK(strcmp(tablet_dump, server_dump) != 0);

  /* Rebasing one op touches only that op's clocks. */
  CHECK_EQ_INT(replica_rebase_own(tablet, 1, &op1), 0);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT hlc FROM field_clocks WHERE k = 'L1'"), server1);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT server_seq FROM field_clocks WHERE k = 'L1'"), 7);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT hlc FROM field_clocks WHERE k = 'M1' AND field = 2"),
               local1 + 1);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT posted FROM messages WHERE id = 'M1'"), 90000000);

  CHECK_EQ_INT(replica_rebase_own(tablet, 1, &op2), 0);
  CHECK_EQ_INT(replica_rebase_own(tablet, 1, &op3), 0);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT posted FROM messages WHERE id = 'M1'"), 1000000);

  dump(tablet_db, tablet_dump, sizeof(tablet_dump));
  dump(server_db, server_dump, sizeof(server_dump));
  CHECK_EQ_STR(tablet_dump, server_dump);

  /* Another organisation's clocks with the same (device, seq) are untouched. */
  CHECK_EQ_INT(replica_apply(tablet, 2, &op1), 0);
  op1.hlc = server1 + 100;
  op1.server_seq = 70;
  CHECK_EQ_INT(replica_rebase_own(tablet, 1, &op1), 0);
  CHECK_EQ_INT(tu_qint(tablet_db, "SELECT server_seq FROM field_clocks WHERE org = 2"), 7);

  replica_close(tablet);
  replica_close(server);
  CHECK(sqlite3_close(tablet_db) == SQLITE_OK);
  CHECK(sqlite3_close(server_db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
