/* test_store_scope_writes.c — what a device may write, decided in the
 * store's push (scope.h): a device enrolled for one location gets that
 * scope at hello and may write there and to the organisation-wide
 * participants only; any device is refused ids of another organisation;
 * refusals are OUT_OF_SCOPE, consume the seq and change nothing; every
 * committed op says where it belongs (committed_loc); the server's own
 * device cannot be enrolled as a tablet. */
#include "test_store_util.h"

#include "admin_db.h"

static void query(sqlite3 *db, char out[65], const char *sql) {
  tu_qtext(db, out, 65, "%s", sql);
  CHECK(out[0] != '\0');
}

static proto_op_t checkin(proto_field_t *f, uint64_t seq, const char *session, const char *p) {
  f[0] = tu_fstr(1, "present");
  return tu_op("", seq, HLC_MAKE(TU_NOW_MS, seq), SCHEMA_CHECKIN, session, p, f, 1);
}

static void check_rejects(const store_push_t *p, int n, const uint64_t *seqs, int code) {
  CHECK_EQ_INT(p->ack.nrejects, n);
  for (int i = 0; i < n; i++) {
    CHECK_EQ_INT(p->ack.rejects[i].seq, seqs[i]);
    CHECK_EQ_INT(p->ack.rejects[i].code, -code);
  }
}

static bool loc_is(proto_str_t loc, const char *want) {
  if (want == NULL)
    return loc.ptr == NULL;
  return loc.ptr != NULL && proto_str_eq(loc, proto_str(want));
}

int main(void) {
  char dir[64], path[128], demo_code[65], scoped_code[65], other_code[65], bad_code[65];
  char l1[65], l2[65], a1[65], a2[65], s1[65], s2[65], s3[65], p1[65], org2_loc[65], org2_act[65];
  const char *locs[1];
  proto_field_t f[8][4];
  proto_op_t ops[8];
  admin_db_t *adb;
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  sqlite3 *db;
  int64_t org2, head;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 10, demo_code), 0);
  db = tu_sqlite_open(path);
  query(db, l1, "SELECT id FROM locations WHERE org = 1");
  query(db, a1, "SELECT id FROM activities WHERE org = 1 ORDER BY id LIMIT 1");
  query(db, s1, "SELECT id FROM sessions WHERE org = 1 ORDER BY id LIMIT 1");
  query(db, p1, "SELECT id FROM participants WHERE org = 1 ORDER BY id LIMIT 1");

  /* A second location of the demo organisation, and a second organisation. */
  adb = admin_db_open(path);
  CHECK(adb != NULL);
  CHECK_EQ_INT(admin_db_location_create(adb, 1, "Tweede Huis", TU_NOW_MS, l2), 0);
  CHECK_EQ_INT(admin_db_activity_create(adb, 1, l2, "Breien", 2, "14:00", TU_NOW_MS, a2), 0);
  CHECK_EQ_INT(admin_db_session_create(adb, 1, a2, "2030-01-01", NULL, TU_NOW_MS, s2), 0);
  CHECK_EQ_INT(admin_db_org_create(adb, "Andere Stichting", TU_NOW_MS, &org2), 0);
  CHECK_EQ_INT(admin_db_location_create(adb, org2, "Elders", TU_NOW_MS, org2_loc), 0);
  CHECK_EQ_INT(admin_db_activity_create(adb, org2, org2_loc, "Koor", 0, NULL, TU_NOW_MS, org2_act), 0);
  CHECK_EQ_INT(admin_db_session_create(adb, org2, org2_act, "2030-01-01", NULL, TU_NOW_MS, s3), 0);
  locs[0] = l1;
  CHECK_EQ_INT(admin_db_enroll(adb, 1, locs, 1, 60000, 1, TU_NOW_MS, scoped_code), 0);
  CHECK_EQ_INT(admin_db_enroll(adb, org2, NULL, 0, 60000, 1, TU_NOW_MS, other_code), 0);
  /* A location of another organisation cannot limit a code. */
  locs[0] = org2_loc;
  CHECK_EQ_INT(admin_db_enroll(adb, 1, locs, 1, 60000, 1, TU_NOW_MS, bad_code),
               PROTO_EBAD_FIELD);
  admin_db_close(adb);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);

  /* Scopes at hello: the code's locations become the device's, and the
   * hello's result lists them (while the request lives). */
  {
    proto_hello_t hello;
    memset(&hello, 0, sizeof(hello));
    hello.version = PROTO_VERSION;
    hello.device = PROTO_STR("scoped");
    hello.code = proto_str(scoped_code);
    memset(&req, 0, sizeof(req));
    req.type = STORE_HELLO;
    req.u.hello.hello = &hello;
    req.u.hello.now_ms = TU_NOW_MS;
    tu_run(&loop, store, &req);
    CHECK_EQ_INT(req.status, 0);
    CHECK(req.u.hello.scope != NULL);
    CHECK_EQ_STR(req.u.hello.scope, l1);
    CHECK_EQ_STR(req.u.hello.scope + strlen(l1) + 1, ""); /* the list ends */
    store_req_dispose(&req);
  }
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM device_locations WHERE device = 'scoped' AND "
                           "location = '%s'", l1), 1);
  CHECK_EQ_INT(tu_hello(&loop, store, "whole", NULL, demo_code, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "other", NULL, other_code, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "server", NULL, demo_code, TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);

  /* The scoped device: its location and participants yes, the rest no. */
  ops[0] = checkin(f[0], 1, s1, p1);
  ops[1] = checkin(f[1], 2, s2, p1);
  f[2][0] = tu_fstr(1, "Nieuwe Gast");
  f[2][1] = tu_fint(5, TU_NOW_MS);
  ops[2] = tu_op("", 3, HLC_MAKE(TU_NOW_MS, 3), SCHEMA_PARTICIPANT, "P-new", NULL, f[2], 2);
  f[3][0] = tu_fstr(1, "Eigen Huis");
  ops[3] = tu_op("", 4, HLC_MAKE(TU_NOW_MS, 4), SCHEMA_LOCATION, "L-new", NULL, f[3], 1);
  f[4][0] = tu_fstr(1, a1); /* moving the other location's session here */
  ops[4] = tu_op("", 5, HLC_MAKE(TU_NOW_MS, 5), SCHEMA_SESSION, s2, NULL, f[4], 1);
  f[5][0] = tu_fint(1, TU_NOW_MS);
  ops[5] = tu_op("", 6, HLC_MAKE(TU_NOW_MS, 6), SCHEMA_ERASURE, p1, NULL, f[5], 1);
  head = tu_qint(db, "SELECT head FROM orgs WHERE id = 1");
  tu_push(&loop, store, 1, "scoped", ops, 6, &req);
  CHECK_EQ_INT(req.status, 0);
  {
    static const uint64_t refused[] = {2, 4, 5, 6};
    check_rejects(&req.u.push, 4, refused, PROTO_EOUT_OF_SCOPE);
  }
  CHECK_EQ_INT(req.u.push.ncommitted, 2);
  CHECK(loc_is(req.u.push.committed_loc[0], l1));   /* the check-in at L1 */
  CHECK(loc_is(req.u.push.committed_loc[1], NULL)); /* a participant: everyone's */
  CHECK_EQ_INT(tu_qint(db, "SELECT last_seq FROM devices WHERE id = 'scoped'"), 6);
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs WHERE id = 1"), head + 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM rejected_ops WHERE device = 'scoped' AND code = 23"), 4);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkins WHERE session = '%s'", s2), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM locations WHERE id = 'L-new'"), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM sessions WHERE id = '%s' AND activity = '%s'", s2, a2), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'scoped' AND loc = '%s'", l1), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'scoped' AND loc IS NULL"), 1);
  store_req_dispose(&req);

  /* The whole-organisation device may write at L2; a session of an
   * activity nobody knows belongs nowhere yet (""). */
  ops[0] = checkin(f[0], 1, s2, p1);
  f[1][0] = tu_fstr(1, "A-unknown");
  f[1][1] = tu_fstr(2, "2030-01-02");
  ops[1] = tu_op("", 2, HLC_MAKE(TU_NOW_MS, 9), SCHEMA_SESSION, "S-loose", NULL, f[1], 2);
  tu_push(&loop, store, 1, "whole", ops, 2, &req);
  CHECK_EQ_INT(req.u.push.ack.nrejects, 0);
  CHECK_EQ_INT(req.u.push.ncommitted, 2);
  CHECK(loc_is(req.u.push.committed_loc[0], l2));
  CHECK(loc_is(req.u.push.committed_loc[1], ""));
  store_req_dispose(&req);

  /* A device of the other organisation: organisation 1's ids are refused,
   * as key, as participant, and as the activity a session points to. */
  ops[0] = checkin(f[0], 1, s1, p1);
  ops[1] = checkin(f[1], 2, s3, p1);
  f[2][0] = tu_fstr(1, "Overgenomen");
  f[2][1] = tu_fint(5, TU_NOW_MS);
  ops[2] = tu_op("", 3, HLC_MAKE(TU_NOW_MS, 3), SCHEMA_PARTICIPANT, p1, NULL, f[2], 2);
  f[3][0] = tu_fstr(1, a1);
  f[3][1] = tu_fstr(2, "2030-01-03");
  ops[3] = tu_op("", 4, HLC_MAKE(TU_NOW_MS, 4), SCHEMA_SESSION, "S-mine", NULL, f[3], 2);
  ops[4] = checkin(f[4], 5, s3, "P-own");
  tu_push(&loop, store, org2, "other", ops, 5, &req);
  {
    static const uint64_t refused[] = {1, 2, 3, 4};
    check_rejects(&req.u.push, 4, refused, PROTO_EOUT_OF_SCOPE);
  }
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  CHECK(loc_is(req.u.push.committed_loc[0], org2_loc));
  store_req_dispose(&req);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants WHERE id = '%s'", p1), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkins WHERE org = %lld", (long long)org2), 1);

  tu_close(&loop, store);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
