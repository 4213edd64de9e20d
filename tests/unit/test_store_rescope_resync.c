/* test_store_rescope_resync.c — a change of a device's locations
 * (admin_db_device_scope) bumps its scope generation with the locations in
 * one transaction; from then on every hello answers resync_gen (the welcome
 * says "rs"), until a status records that generation as synced; a second
 * change before that asks again; setting the same locations changes
 * nothing; unknown, revoked and server devices and unknown locations are
 * refused without writing anything. */
#include "test_store_util.h"

#include "admin_db.h"

static uint64_t hello_resync(uv_loop_t *loop, store_t *store, const char *token) {
  store_req_t req;
  CHECK_EQ_INT(tu_hello(loop, store, "tabA", token, NULL, TU_NOW_MS, &req), 0);
  return req.u.hello.resync_gen;
}

static void synced(uv_loop_t *loop, store_t *store, uint64_t gen) {
  store_req_t req;
  memset(&req, 0, sizeof(req));
  req.type = STORE_STATUS;
  req.u.status = (store_status_t){.org_id = 1,
                                  .device = PROTO_STR("tabA"),
                                  .outbox = STORE_OUTBOX_UNCHANGED,
                                  .now_ms = TU_NOW_MS,
                                  .online = true,
                                  .scope_synced = gen};
  tu_run(loop, store, &req);
  CHECK_EQ_INT(req.status, 0);
}

int main(void) {
  char dir[64], path[128], code[65], token[65], l1[65], l2[65];
  char ids[ADMIN_DB_MAX_LOCATIONS][ADMIN_DB_ID_SIZE], buf[256];
  const char *locs[2];
  admin_db_t *adb;
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  sqlite3 *db;
  bool changed;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 10, code), 0);
  db = tu_sqlite_open(path);
  tu_qtext(db, l1, sizeof(l1), "SELECT id FROM locations WHERE org = 1");
  adb = admin_db_open(path);
  CHECK(adb != NULL);
  CHECK_EQ_INT(admin_db_location_create(adb, 1, "Tweede Huis", TU_NOW_MS, l2), 0);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  CHECK_EQ_INT(req.u.hello.resync_gen, 0); /* enrolment is no change */
  snprintf(token, sizeof(token), "%s", req.u.hello.token);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 0);

  /* Refused, nothing written: unknown device, unknown location, the
   * server's own device. */
  locs[0] = l1;
  CHECK(admin_db_device_scope(adb, "nobody", locs, 1, ids, &changed) != 0);
  CHECK(!changed);
  locs[0] = "Nowhere";
  CHECK(admin_db_device_scope(adb, "tabA", locs, 1, ids, &changed) != 0);
  CHECK(!changed);
  CHECK(admin_db_device_scope(adb, "server", NULL, 0, ids, &changed) != 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM device_locations"), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT sum(scope_gen) FROM devices"), 0);
  /* The whole organisation, as it has: unchanged. */
  CHECK_EQ_INT(admin_db_device_scope(adb, "tabA", NULL, 0, ids, &changed), 0);
  CHECK(!changed);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 0);

  /* Narrowed to L1 (by name): the generation moves with the locations. */
  locs[0] = tu_qtext(db, buf, sizeof(buf), "SELECT name FROM locations WHERE id = '%s'", l1);
  CHECK_EQ_INT(admin_db_device_scope(adb, "tabA", locs, 1, ids, &changed), 0);
  CHECK(changed);
  CHECK_EQ_STR(ids[0], l1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM device_locations WHERE device = 'tabA' "
                           "AND location = '%s'", l1), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT scope_gen FROM devices WHERE id = 'tabA'"), 1);
  /* Said at every hello (a lost welcome is followed by another). */
  CHECK_EQ_INT(hello_resync(&loop, store, token), 1);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 1);
  /* Synced for generation 1: no more. */
  synced(&loop, store, 1);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT scope_synced FROM devices WHERE id = 'tabA'"), 1);

  /* The same locations again (twice in the list): unchanged. */
  locs[0] = l1;
  locs[1] = l1;
  CHECK_EQ_INT(admin_db_device_scope(adb, "tabA", locs, 2, ids, &changed), 0);
  CHECK(!changed);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 0);

  /* Widened, then changed again before the device synced: the older
   * generation recorded as synced still leaves it to be told. */
  locs[1] = l2;
  CHECK_EQ_INT(admin_db_device_scope(adb, "tabA", locs, 2, ids, &changed), 0);
  CHECK(changed);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 2);
  CHECK_EQ_INT(admin_db_device_scope(adb, "tabA", NULL, 0, ids, &changed), 0);
  CHECK(changed);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM device_locations WHERE device = 'tabA'"), 0);
  synced(&loop, store, 2);
  CHECK_EQ_INT(hello_resync(&loop, store, token), 3);
  synced(&loop, store, 3);
  synced(&loop, store, 2); /* a late, older one never lowers it */
  CHECK_EQ_INT(hello_resync(&loop, store, token), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT scope_synced FROM devices WHERE id = 'tabA'"), 3);

  /* A revoked device keeps no scope to change. */
  CHECK_EQ_INT(admin_db_device_revoke(adb, "tabA", TU_NOW_MS, &(int64_t){0}), 0);
  CHECK(admin_db_device_scope(adb, "tabA", NULL, 0, ids, &changed) != 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT scope_gen FROM devices WHERE id = 'tabA'"), 3);

  admin_db_close(adb);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_close(&loop, store);
  tu_rmtree(dir);
  return 0;
}
