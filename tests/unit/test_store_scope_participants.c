/* test_store_scope_participants.c — a device limited to one location gets
 * a participant's ops only once the participant is visible there: a
 * check-in at one of its locations names them (their earlier ops then come
 * right before that check-in, as backfill), or the device created them.
 * Checked on pull pages (from 0, from a cursor past the participant's ops,
 * pages too small for a check-in and its backfill) and on what a push
 * reports for live fan-out (store_push_t.committed_vis). */
#include "test_store_util.h"

#include "admin_db.h"
#include "scope.h"

static void pull(uv_loop_t *loop, store_t *store, uint64_t cursor, uint32_t limit,
                 store_req_t *req) {
  memset(req, 0, sizeof(*req));
  req->type = STORE_PULL;
  req->u.pull.org_id = 1;
  req->u.pull.cursor = cursor;
  req->u.pull.limit = limit;
  req->u.pull.scoped = true;
  req->u.pull.device = PROTO_STR("scoped");
  tu_run(loop, store, req);
  CHECK_EQ_INT(req->status, 0);
}

/* Index of the op (device, seq) in the page, or -1. */
static int find(const store_pull_t *p, const char *device, uint64_t seq) {
  for (uint32_t i = 0; i < p->nops; i++)
    if (proto_str_eq(p->ops[i].device, proto_str(device)) && p->ops[i].seq == seq)
      return (int)i;
  return -1;
}

static bool is_backfill(const store_pull_t *p, int i) {
  return p->backfill != NULL && p->backfill[i];
}

int main(void) {
  char dir[64], path[128], code[65], scoped_code[65];
  char l1[65], a1[65], l2[65], a2[65], s1[65], s2[65];
  const char *person = "0190f3c6-e2b4-7f08-a1d3-0b9c5e6f7a28";
  const char *walkin = "0190f3c6-e2b4-7f08-a1d3-0b9c5e6f7a29";
  const char *locs[1];
  proto_field_t fp[2], fn[1], fc[1], ft[1], fw[2], fwc[1];
  proto_op_t op;
  admin_db_t *adb;
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  sqlite3 *db;
  uint64_t created, renamed, at_l2, tally, at_l1, head;
  int i, j;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 10, code), 0);
  db = tu_sqlite_open(path);
  tu_qtext(db, l1, sizeof(l1), "SELECT id FROM locations WHERE org = 1");
  adb = admin_db_open(path);
  CHECK(adb != NULL);
  CHECK_EQ_INT(admin_db_activity_create(adb, 1, l1, "Dansen", 0, NULL, TU_NOW_MS, a1), 0);
  CHECK_EQ_INT(admin_db_session_create(adb, 1, a1, "2030-01-01", NULL, TU_NOW_MS, s1), 0);
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

  /* A person created by the unscoped tablet, renamed, checked in at L2. */
  fp[0] = tu_fstr(1, "Fatima");
  fp[1] = tu_fint(5, TU_NOW_MS);
  op = tu_op("", 1, HLC_MAKE(TU_NOW_MS, 1), SCHEMA_PARTICIPANT, person, "", fp, 2);
  tu_push(&loop, store, 1, "whole", &op, 1, &req);
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  created = req.u.push.committed[0].server_seq;
  /* Live: nobody limited to a location sees her yet; her creator is known. */
  CHECK(req.u.push.committed_vis[0].seen == NULL);
  CHECK(proto_str_eq(req.u.push.committed_vis[0].creator, PROTO_STR("whole")));
  CHECK(!scope_list_sees(l1, PROTO_STR("scoped"), req.u.push.committed_vis[0].seen,
                         req.u.push.committed_vis[0].creator));
  store_req_dispose(&req);
  fn[0] = tu_fstr(1, "Fatima B.");
  op = tu_op("", 2, HLC_MAKE(TU_NOW_MS, 2), SCHEMA_PARTICIPANT, person, "", fn, 1);
  tu_push(&loop, store, 1, "whole", &op, 1, &req);
  renamed = req.u.push.committed[0].server_seq;
  store_req_dispose(&req);
  fc[0] = tu_fstr(1, "present");
  op = tu_op("", 3, HLC_MAKE(TU_NOW_MS, 3), SCHEMA_CHECKIN, s2, person, fc, 1);
  tu_push(&loop, store, 1, "whole", &op, 1, &req);
  at_l2 = req.u.push.committed[0].server_seq;
  CHECK(req.u.push.committed_vis[0].first);
  store_req_dispose(&req);

  /* Only at L2: an L1 tablet's pull holds nothing of her. */
  pull(&loop, store, 0, 1000, &req);
  for (uint32_t k = 0; k < req.u.pull.nops; k++)
    CHECK(!proto_str_eq(req.u.pull.ops[k].key, proto_str(person)) &&
          !proto_str_eq(req.u.pull.ops[k].key2, proto_str(person)));
  head = req.u.pull.next_cursor;
  CHECK_EQ_INT(head, at_l2);
  store_req_dispose(&req);

  /* Checked in at L1: the push reports the backfill for live fan-out —
   * the ops her fields hold (the creation for first_seen, the rename for
   * the name), for devices that did not see her at L2. */
  {
    proto_op_t two[2];
    ft[0] = tu_fint(1, 3);
    two[0] = tu_op("", 4, HLC_MAKE(TU_NOW_MS, 4), SCHEMA_TALLY, s1, "", ft, 1);
    two[1] = tu_op("", 5, HLC_MAKE(TU_NOW_MS, 5), SCHEMA_CHECKIN, s1, person, fc, 1);
    tu_push(&loop, store, 1, "whole", two, 2, &req);
  }
  CHECK_EQ_INT(req.u.push.ncommitted, 2);
  CHECK(!req.u.push.committed_vis[0].first && req.u.push.committed_vis[0].seen == NULL);
  tally = req.u.push.committed[0].server_seq;
  at_l1 = req.u.push.committed[1].server_seq;
  {
    const store_vis_t *v = &req.u.push.committed_vis[1];
    CHECK(v->first);
    CHECK(v->seen != NULL && strcmp(v->seen, l2) == 0);
    CHECK_EQ_INT(v->nbackfill, 2);
    CHECK_EQ_INT(v->backfill[0].server_seq, created);
    CHECK_EQ_INT(v->backfill[1].server_seq, renamed);
    CHECK(proto_str_eq(v->backfill[1].device, PROTO_STR("whole")) && v->backfill[1].seq == 2);
    CHECK(!scope_list_sees(l1, PROTO_STR("scoped"), v->seen, v->creator));
    CHECK(scope_list_sees(l2, PROTO_STR("scoped"), v->seen, v->creator));
  }
  store_req_dispose(&req);

  /* Pull from where it was: the tally, then her ops (n <= from) right
   * before the check-in, marked as backfill, the cursor at the head. */
  pull(&loop, store, head, 1000, &req);
  CHECK_EQ_INT(req.u.pull.nops, 4);
  CHECK_EQ_INT(req.u.pull.ops[0].server_seq, tally);
  i = find(&req.u.pull, "whole", 1);
  j = find(&req.u.pull, "whole", 2);
  CHECK(i == 1 && j == 2 && is_backfill(&req.u.pull, 1) && is_backfill(&req.u.pull, 2));
  CHECK(req.u.pull.ops[1].server_seq <= head && req.u.pull.ops[2].server_seq <= head);
  CHECK(proto_str_eq(req.u.pull.ops[3].key, proto_str(s1)) && !is_backfill(&req.u.pull, 3));
  CHECK_EQ_INT(req.u.pull.ops[3].server_seq, at_l1);
  CHECK_EQ_INT(req.u.pull.next_cursor, at_l1);
  store_req_dispose(&req);

  /* A rename after the check-in comes in its own place, not as backfill. */
  fn[0] = tu_fstr(1, "Fatima Bakker");
  op = tu_op("", 6, HLC_MAKE(TU_NOW_MS, 6), SCHEMA_PARTICIPANT, person, "", fn, 1);
  tu_push(&loop, store, 1, "whole", &op, 1, &req);
  CHECK(req.u.push.committed_vis[0].seen != NULL &&
        scope_list_sees(l1, PROTO_STR("scoped"), req.u.push.committed_vis[0].seen,
                        req.u.push.committed_vis[0].creator));
  store_req_dispose(&req);

  /* From 0: what gives it her as the server has her, each op once and
   * nothing of the L2 check-in — the creation (it holds first_seen) as
   * backfill before the L1 check-in, the later rename in its own place
   * after it; the first rename is no field's value any more and is left
   * out. */
  pull(&loop, store, 0, 1000, &req);
  i = find(&req.u.pull, "whole", 1);
  j = find(&req.u.pull, "whole", 5);
  CHECK(i >= 0 && j == i + 1 && is_backfill(&req.u.pull, i));
  CHECK(find(&req.u.pull, "whole", 2) < 0 && find(&req.u.pull, "whole", 3) < 0);
  CHECK(find(&req.u.pull, "whole", 6) > j && !is_backfill(&req.u.pull, find(&req.u.pull, "whole", 6)));
  {
    uint32_t mine = 0;
    for (uint32_t k = 0; k < req.u.pull.nops; k++)
      mine += proto_str_eq(req.u.pull.ops[k].key, proto_str(person));
    CHECK_EQ_INT(mine, 2);
  }
  store_req_dispose(&req);

  /* A page of 2 that has the tally ends before the check-in and its
   * backfill (now one op); the next page, of 1, holds them together beyond
   * its limit rather than split them or make no progress. */
  pull(&loop, store, tally - 1, 2, &req);
  CHECK_EQ_INT(req.u.pull.nops, 1);
  CHECK_EQ_INT(req.u.pull.ops[0].server_seq, tally);
  CHECK_EQ_INT(req.u.pull.next_cursor, tally);
  store_req_dispose(&req);
  pull(&loop, store, tally, 1, &req);
  CHECK_EQ_INT(req.u.pull.nops, 2);
  CHECK(is_backfill(&req.u.pull, 0) && !is_backfill(&req.u.pull, 1));
  CHECK_EQ_INT(req.u.pull.next_cursor, at_l1);
  store_req_dispose(&req);

  /* Its own walk-in is visible to it from its first op. */
  fw[0] = tu_fstr(1, "Nieuwe Gast");
  fw[1] = tu_fint(5, TU_NOW_MS);
  op = tu_op("", 1, HLC_MAKE(TU_NOW_MS, 6), SCHEMA_PARTICIPANT, walkin, "", fw, 2);
  tu_push(&loop, store, 1, "scoped", &op, 1, &req);
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  CHECK(scope_list_sees(l1, PROTO_STR("scoped"), req.u.push.committed_vis[0].seen,
                        req.u.push.committed_vis[0].creator));
  store_req_dispose(&req);
  fwc[0] = tu_fstr(1, "present");
  op = tu_op("", 2, HLC_MAKE(TU_NOW_MS, 7), SCHEMA_CHECKIN, s1, walkin, fwc, 1);
  tu_push(&loop, store, 1, "scoped", &op, 1, &req);
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  store_req_dispose(&req);
  pull(&loop, store, 0, 1000, &req);
  i = find(&req.u.pull, "scoped", 1);
  CHECK(i >= 0 && !is_backfill(&req.u.pull, i));
  CHECK(find(&req.u.pull, "scoped", 2) == i + 1); /* no backfill before its check-in */
  store_req_dispose(&req);

  tu_close(&loop, store);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
