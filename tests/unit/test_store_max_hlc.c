/* test_store_max_hlc.c — a store reports the greatest HLC of every op it
 * holds, as it finds it when it opens: what the server starts its bounding
 * clock from, so that after a restart an HLC it gives still orders after
 * every stored op (including one pushed with a clock 40 s ahead, which the
 * bound keeps, and which is therefore greater than the server's clock). */
#include "test_store_util.h"

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1];
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  proto_op_t ops[2];
  proto_field_t f[2][1];
  sqlite3 *db;
  int64_t org;
  uint64_t ahead = HLC_MAKE(TU_NOW_MS + 40000, 3), seeded;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");

  /* An empty database: nothing is stored, the clock starts at 0. */
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(store_max_hlc(store), 0);
  tu_close(&loop, store);

  /* The demo's own ops. */
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code), 0);
  db = tu_sqlite_open(path);
  seeded = (uint64_t)tu_qint(db, "SELECT max(hlc) FROM ops");
  CHECK(sqlite3_close(db) == SQLITE_OK);
  CHECK(seeded > 0);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK(store_max_hlc(store) == seeded);

  /* A device's ops, one of them ahead of every other, pushed before it. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  org = req.u.hello.org_id;
  f[0][0] = tu_fint(1, 1);
  f[1][0] = tu_fint(1, 2);
  ops[0] = tu_op("", 1, ahead, SCHEMA_TALLY, "S-today", NULL, f[0], 1);
  ops[1] = tu_op("", 2, HLC_MAKE(TU_NOW_MS, 0), SCHEMA_TALLY, "S-today", NULL, f[1], 1);
  tu_push(&loop, store, org, "tabA", ops, 2, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.push.ncommitted, 2);
  store_req_dispose(&req);
  /* Read at open: this store still reports what it found then. */
  CHECK(store_max_hlc(store) == seeded);
  tu_close(&loop, store);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK(store_max_hlc(store) == ahead);
  tu_close(&loop, store);
  tu_rmtree(dir);
  return 0;
}
