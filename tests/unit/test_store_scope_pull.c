/* test_store_scope_pull.c — pulls of a device limited to one location
 * return only that location's ops and the organisation-wide ones other
 * than participants (whose ops come only once a check-in there names them:
 * test_store_scope_participants.c), in server_seq order; a page short of its limit moves the cursor to the
 * head (past ops it may not see), a full page stops at its last op; and an
 * unscoped pull asked for locations reports each op's place as stored. */
#include "test_store_util.h"

#include "admin_db.h"

static void query(sqlite3 *db, char out[65], const char *sql) {
  tu_qtext(db, out, 65, "%s", sql);
  CHECK(out[0] != '\0');
}

static void pull(uv_loop_t *loop, store_t *store, uint64_t cursor, uint32_t limit, bool scoped,
                 bool want_locs, store_req_t *req) {
  memset(req, 0, sizeof(*req));
  req->type = STORE_PULL;
  req->u.pull.org_id = 1;
  req->u.pull.cursor = cursor;
  req->u.pull.limit = limit;
  req->u.pull.scoped = scoped;
  req->u.pull.device = PROTO_STR("scoped");
  req->u.pull.want_locs = want_locs;
  tu_run(loop, store, req);
  CHECK_EQ_INT(req->status, 0);
}

int main(void) {
  char dir[64], path[128], code[65], scoped_code[65];
  char l1[65], l2[65], a2[65], s1[65], s2[65], p1[65], loc[65];
  const char *locs[1];
  proto_field_t f[3][1];
  proto_op_t ops[3];
  admin_db_t *adb;
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  sqlite3 *db;
  uint64_t head, total;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 10, code), 0);
  db = tu_sqlite_open(path);
  query(db, l1, "SELECT id FROM locations WHERE org = 1");
  query(db, s1, "SELECT id FROM sessions WHERE org = 1 ORDER BY id LIMIT 1");
  query(db, p1, "SELECT id FROM participants WHERE org = 1 ORDER BY id LIMIT 1");
  adb = admin_db_open(path);
  CHECK(adb != NULL);
  CHECK_EQ_INT(admin_db_location_create(adb, 1, "Tweede Huis", TU_NOW_MS, l2), 0);
  CHECK_EQ_INT(admin_db_activity_create(adb, 1, l2, "Breien", 0, NULL, TU_NOW_MS, a2), 0);
  CHECK_EQ_INT(admin_db_session_create(adb, 1, a2, "2030-01-01", NULL, TU_NOW_MS, s2), 0);
  locs[0] = l1;
  CHECK_EQ_INT(admin_db_enroll(adb, 1, locs, 1, 60000, 1, TU_NOW_MS, scoped_code), 0);
  admin_db_close(adb);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "scoped", NULL, scoped_code, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "whole", NULL, code, TU_NOW_MS, NULL), 0);
  /* The tail of the log: one op at L1, then two at L2. */
  for (int i = 0; i < 3; i++) {
    f[i][0] = tu_fstr(1, "present");
    ops[i] = tu_op("", (uint64_t)i + 1, HLC_MAKE(TU_NOW_MS, i), SCHEMA_CHECKIN, i ? s2 : s1,
                   p1, f[i], 1);
  }
  tu_push(&loop, store, 1, "whole", ops, 3, &req);
  CHECK_EQ_INT(req.u.push.ncommitted, 3);
  store_req_dispose(&req);
  head = (uint64_t)tu_qint(db, "SELECT head FROM orgs WHERE id = 1");
  total = (uint64_t)tu_qint(db, "SELECT count(*) FROM ops WHERE org = 1");
  CHECK_EQ_INT(head, total);

  /* Everything it may see, and the cursor at the head: p1's ops come
   * right before the L1 check-in that names them (backfill), the other
   * participants not at all. */
  pull(&loop, store, 0, 1000, true, false, &req);
  CHECK(req.u.pull.nops > 0 && req.u.pull.nops < total);
  {
    int64_t natural = tu_qint(db,
                              "SELECT count(*) FROM ops WHERE org = 1 AND "
                              "((loc IS NULL AND rtype <> 4) OR loc = '%s')",
                              l1);
    uint32_t backfilled = 0, last = 0;
    CHECK(req.u.pull.backfill != NULL);
    for (uint32_t i = 0; i < req.u.pull.nops; i++) {
      const proto_op_t *op = &req.u.pull.ops[i];
      CHECK(!proto_str_eq(op->key, proto_str(l2)) && !proto_str_eq(op->key, proto_str(a2)) &&
            !proto_str_eq(op->key, proto_str(s2)));
      if (req.u.pull.backfill[i]) {
        CHECK(op->type == SCHEMA_PARTICIPANT && proto_str_eq(op->key, proto_str(p1)));
        backfilled++;
        continue;
      }
      CHECK(op->type != SCHEMA_PARTICIPANT);
      if (last > 0)
        CHECK(op->server_seq > req.u.pull.ops[last - 1].server_seq);
      last = i + 1;
    }
    CHECK(backfilled > 0);
    CHECK_EQ_INT(req.u.pull.nops, natural + backfilled);
  }
  CHECK_EQ_INT(req.u.pull.next_cursor, head);
  CHECK_EQ_INT(req.u.pull.head, head);
  store_req_dispose(&req);

  /* From before the tail: p1's earlier ops and the L1 check-in, then past
   * the two at L2. */
  pull(&loop, store, head - 3, 1000, true, false, &req);
  CHECK(req.u.pull.nops > 1);
  CHECK(proto_str_eq(req.u.pull.ops[req.u.pull.nops - 1].key, proto_str(s1)));
  CHECK(req.u.pull.ops[0].server_seq <= head - 3);
  CHECK_EQ_INT(req.u.pull.next_cursor, head);
  store_req_dispose(&req);
  /* Nothing it may see after the L1 one: an empty page, cursor at head. */
  pull(&loop, store, head - 2, 1000, true, false, &req);
  CHECK_EQ_INT(req.u.pull.nops, 0);
  CHECK_EQ_INT(req.u.pull.next_cursor, head);
  store_req_dispose(&req);
  /* A full page stops at its last op. */
  pull(&loop, store, 0, 2, true, false, &req);
  CHECK_EQ_INT(req.u.pull.nops, 2);
  CHECK_EQ_INT(req.u.pull.next_cursor, req.u.pull.ops[1].server_seq);
  CHECK(req.u.pull.next_cursor < head);
  store_req_dispose(&req);

  /* An unscoped pull with locations: every op, each with its stored place. */
  pull(&loop, store, 0, 1000, false, true, &req);
  CHECK_EQ_INT(req.u.pull.nops, total);
  CHECK(req.u.pull.locs != NULL);
  for (uint32_t i = 0; i < req.u.pull.nops; i++) {
    proto_str_t got = req.u.pull.locs[i];
    int64_t null = tu_qint(db, "SELECT loc IS NULL FROM ops WHERE org = 1 AND server_seq = %llu",
                           (unsigned long long)req.u.pull.ops[i].server_seq);
    CHECK_EQ_INT(got.ptr == NULL, null);
    if (!null) {
      tu_qtext(db, loc, sizeof(loc), "SELECT loc FROM ops WHERE org = 1 AND server_seq = %llu",
               (unsigned long long)req.u.pull.ops[i].server_seq);
      CHECK(proto_str_eq(got, proto_str(loc)));
    }
  }
  store_req_dispose(&req);

  tu_close(&loop, store);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
