/* test_store_scope_cache.c — the writer's cache of scope lookups
 * (scope_cache_begin) never answers with a stale fact: a session moved to
 * another location by a pushed op, a session moved by another connection
 * (turfctl's kind of write), and an id first unknown and then created in
 * another organisation are each decided from what the database holds now,
 * right after the same lookups were cached. */
#include "test_store_util.h"

#include "admin_db.h"

static proto_op_t checkin(proto_field_t *f, uint64_t seq, const char *session, const char *p) {
  f[0] = tu_fstr(1, "present");
  return tu_op("", seq, HLC_MAKE(TU_NOW_MS, seq), SCHEMA_CHECKIN, session, p, f, 1);
}

/* Pushes one op and returns its refusal code (0: committed). */
static int push1(uv_loop_t *loop, store_t *store, int64_t org, const char *device, proto_op_t op) {
  store_req_t req;
  int code;
  tu_push(loop, store, org, device, &op, 1, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.push.ack.nrejects + (int)req.u.push.ncommitted, 1);
  code = req.u.push.ack.nrejects == 1 ? -req.u.push.ack.rejects[0].code : 0;
  store_req_dispose(&req);
  return code;
}

int main(void) {
  char dir[64], path[128], demo_code[65], scoped_code[65], other_code[65];
  char l1[65], l2[65], a1[65], a2[65], s2[65], p1[65], org2_loc[65], sql[256];
  const char *locs[1];
  proto_field_t f[4];
  admin_db_t *adb;
  uv_loop_t loop;
  store_t *store;
  sqlite3 *db;
  int64_t org2;
  uint64_t scoped_seq = 0, whole_seq = 0, other_seq = 0;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 10, demo_code), 0);
  db = tu_sqlite_open(path);
  tu_qtext(db, l1, sizeof(l1), "SELECT id FROM locations WHERE org = 1");
  tu_qtext(db, a1, sizeof(a1), "SELECT id FROM activities WHERE org = 1 AND location = '%s' "
                               "ORDER BY id LIMIT 1", l1);
  tu_qtext(db, p1, sizeof(p1), "SELECT id FROM participants WHERE org = 1 ORDER BY id LIMIT 1");
  CHECK(a1[0] != '\0' && p1[0] != '\0');

  adb = admin_db_open(path);
  CHECK(adb != NULL);
  CHECK_EQ_INT(admin_db_location_create(adb, 1, "Tweede Huis", TU_NOW_MS, l2), 0);
  CHECK_EQ_INT(admin_db_activity_create(adb, 1, l2, "Breien", 2, "14:00", TU_NOW_MS, a2), 0);
  CHECK_EQ_INT(admin_db_session_create(adb, 1, a2, "2030-01-01", NULL, TU_NOW_MS, s2), 0);
  CHECK_EQ_INT(admin_db_org_create(adb, "Andere Stichting", TU_NOW_MS, &org2), 0);
  CHECK_EQ_INT(admin_db_location_create(adb, org2, "Elders", TU_NOW_MS, org2_loc), 0);
  locs[0] = l1;
  CHECK_EQ_INT(admin_db_enroll(adb, 1, locs, 1, 60000, 1, TU_NOW_MS, scoped_code), 0);
  CHECK_EQ_INT(admin_db_enroll(adb, org2, NULL, 0, 60000, 1, TU_NOW_MS, other_code), 0);
  admin_db_close(adb);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "scoped", NULL, scoped_code, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "whole", NULL, demo_code, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "other", NULL, other_code, TU_NOW_MS, NULL), 0);

  /* s2 is at L2: the L1 device may not check in there (twice: the second
   * answer comes from the cache). */
  CHECK_EQ_INT(push1(&loop, store, 1, "scoped", checkin(f, ++scoped_seq, s2, p1)),
               PROTO_EOUT_OF_SCOPE);
  CHECK_EQ_INT(push1(&loop, store, 1, "scoped", checkin(f, ++scoped_seq, s2, p1)),
               PROTO_EOUT_OF_SCOPE);

  /* A pushed op moves s2 to an activity at L1: now it may. */
  f[0] = tu_fstr(1, a1);
  CHECK_EQ_INT(push1(&loop, store, 1, "whole",
                     tu_op("", ++whole_seq, HLC_MAKE(TU_NOW_MS + 1000, 1), SCHEMA_SESSION, s2,
                           NULL, f, 1)),
               0);
  CHECK_EQ_INT(push1(&loop, store, 1, "scoped", checkin(f, ++scoped_seq, s2, p1)), 0);

  /* Another connection moves it back to L2: refused again. */
  snprintf(sql, sizeof(sql), "UPDATE sessions SET activity = '%s' WHERE org = 1 AND id = '%s'",
           a2, s2);
  tu_exec(db, sql);
  CHECK_EQ_INT(push1(&loop, store, 1, "scoped", checkin(f, ++scoped_seq, s2, p1)),
               PROTO_EOUT_OF_SCOPE);

  /* An id nobody has: the other organisation may use it, until
   * organisation 1 creates a session by that id. */
  CHECK_EQ_INT(push1(&loop, store, org2, "other", checkin(f, ++other_seq, "S-late", "P-x")), 0);
  CHECK_EQ_INT(push1(&loop, store, org2, "other", checkin(f, ++other_seq, "S-late", "P-y")), 0);
  f[0] = tu_fstr(1, a1);
  f[1] = tu_fstr(2, "2030-01-05");
  CHECK_EQ_INT(push1(&loop, store, 1, "whole",
                     tu_op("", ++whole_seq, HLC_MAKE(TU_NOW_MS + 2000, 1), SCHEMA_SESSION,
                           "S-late", NULL, f, 2)),
               0);
  CHECK_EQ_INT(push1(&loop, store, org2, "other", checkin(f, ++other_seq, "S-late", "P-z")),
               PROTO_EOUT_OF_SCOPE);

  /* The same for a participant created by another connection. */
  CHECK_EQ_INT(push1(&loop, store, org2, "other", checkin(f, ++other_seq, "S-own", "P-ext")), 0);
  tu_exec(db, "INSERT INTO participants (org, id) VALUES (1, 'P-ext')");
  CHECK_EQ_INT(push1(&loop, store, org2, "other", checkin(f, ++other_seq, "S-own", "P-ext")),
               PROTO_EOUT_OF_SCOPE);

  tu_close(&loop, store);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
