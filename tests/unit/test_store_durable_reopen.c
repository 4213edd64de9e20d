/* test_store_durable_reopen.c — what a push callback reported as committed
 * is there after the store is closed and opened again: ops, the replica, the
 * device's last_seq and the organisation's head; duplicates stay duplicates
 * across the restart; and opening again re-runs no migration. */
#include "test_store_util.h"

static int64_t schema_objects(const char *path) {
  sqlite3 *db = tu_sqlite_open(path);
  int64_t n = tu_qint(db, "SELECT count(*) FROM sqlite_master");
  CHECK(sqlite3_close(db) == SQLITE_OK);
  return n;
}

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1], token[PROTO_MAX_ID_BYTES + 1];
  char buf[256];
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  proto_op_t ops[6];
  proto_field_t f[6][1];
  sqlite3 *db;
  int64_t org, objects;
  uint64_t head;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code), 0);
  objects = schema_objects(path);
  CHECK(objects > 10);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  org = req.u.hello.org_id;
  snprintf(token, sizeof(token), "%s", req.u.hello.token);
  for (int i = 0; i < 6; i++) {
    f[i][0] = tu_fint(1, 10 + i); /* tabA's running tally at the door */
    ops[i] = tu_op("", (uint64_t)i + 1, HLC_MAKE(TU_NOW_MS, i), SCHEMA_TALLY, "S-today", NULL,
                   f[i], 1);
  }
  tu_push(&loop, store, org, "tabA", ops, 5, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.push.ncommitted, 5);
  head = req.u.push.head;
  store_req_dispose(&req);
  tu_close(&loop, store);

  /* Opening again changes no schema and loses nothing. */
  CHECK_EQ_INT(schema_objects(path), objects);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", token, NULL, TU_NOW_MS, &req), 0);
  CHECK_EQ_INT(req.u.hello.last_seq, 5);
  CHECK_EQ_INT(req.u.hello.head, head);
  tu_pull(&loop, store, org, head - 5, 100, &req);
  CHECK_EQ_INT(req.u.pull.nops, 5);
  for (uint32_t i = 0; i < 5; i++) {
    CHECK_EQ_INT(req.u.pull.ops[i].seq, i + 1);
    CHECK_EQ_INT(req.u.pull.ops[i].fields[0].value.u.i, 10 + i);
  }
  store_req_dispose(&req);

  /* 4 and 5 are known (acked, not applied again); 6 is new. */
  tu_push(&loop, store, org, "tabA", &ops[3], 3, &req);
  CHECK_EQ_INT(req.u.push.ack.nranges, 1);
  CHECK_EQ_INT(req.u.push.ack.ranges[0].from, 4);
  CHECK_EQ_INT(req.u.push.ack.ranges[0].to, 6);
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  CHECK_EQ_INT(req.u.push.committed[0].server_seq, head + 1);
  store_req_dispose(&req);
  tu_close(&loop, store);

  /* A third open, then the file itself. */
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  tu_close(&loop, store);
  CHECK_EQ_INT(schema_objects(path), objects);

  db = tu_sqlite_open(path);
  CHECK_EQ_INT(tu_qint(db, "PRAGMA user_version"), 9); /* schema v9: the log of downloads */
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "PRAGMA journal_mode"), "wal");
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs WHERE id = %lld", (long long)org), head + 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'tabA'"), 6);
  CHECK_EQ_INT(tu_qint(db, "SELECT last_seq FROM devices WHERE id = 'tabA'"), 6);
  CHECK_EQ_INT(tu_qint(db, "SELECT total FROM session_tallies WHERE session = 'S-today'"), 15);
  CHECK(sqlite3_close(db) == SQLITE_OK);

  tu_rmtree(dir);
  return 0;
}
