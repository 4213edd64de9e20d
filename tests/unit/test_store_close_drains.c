/* test_store_close_drains.c — store_close finishes what was queued: every
 * request submitted before it gets its callback (pushes durable, pulls
 * answered), a request submitted after it is refused with SHUTTING_DOWN and
 * never called back, and `done` runs after the last callback. */
#include "test_store_util.h"

static int events[16];
static int nevents;

static void record(store_req_t *req) {
  events[nevents++] = (int)(intptr_t)req->data;
}

static void closed(void *arg) {
  (void)arg;
  events[nevents++] = 99;
}

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1];
  uv_loop_t loop;
  store_t *store;
  store_req_t req, reqs[4], late;
  proto_field_t f[3][1];
  proto_op_t ops[3];
  sqlite3 *db;
  int64_t org;
  uint64_t head;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code), 0);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, &(store_options_t){.max_batch_reqs = 2});
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  org = req.u.hello.org_id;
  head = req.u.hello.head;

  memset(reqs, 0, sizeof(reqs));
  for (int i = 0; i < 3; i++) {
    f[i][0] = tu_fstr(4, "aan het dansen"); /* session log notes */
    ops[i] = tu_op("", (uint64_t)i + 1, HLC_MAKE(TU_NOW_MS, i), SCHEMA_SESSION_LOG, "S1", NULL,
                   f[i], 1);
    reqs[i].type = STORE_PUSH;
    reqs[i].data = (void *)(intptr_t)(i + 1);
    reqs[i].u.push.org_id = org;
    reqs[i].u.push.device = PROTO_STR("tabA");
    reqs[i].u.push.ops = &ops[i];
    reqs[i].u.push.nops = 1;
    reqs[i].u.push.now_ms = TU_NOW_MS;
    CHECK_EQ_INT(store_submit(store, &reqs[i], record), 0);
  }
  reqs[3].type = STORE_PULL;
  reqs[3].data = (void *)(intptr_t)4;
  reqs[3].u.pull.org_id = org;
  reqs[3].u.pull.cursor = head;
  reqs[3].u.pull.limit = 10;
  CHECK_EQ_INT(store_submit(store, &reqs[3], record), 0);

  store_close(store, closed, NULL);
  memset(&late, 0, sizeof(late));
  late.type = STORE_STATUS;
  late.data = (void *)(intptr_t)5;
  late.u.status.org_id = org;
  late.u.status.device = PROTO_STR("tabA");
  CHECK_EQ_INT(store_submit(store, &late, record), PROTO_ESHUTTING_DOWN);

  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(nevents, 5);
  CHECK_EQ_INT(events[4], 99);
  /* Writes complete in submission order (the pull may come anywhere). */
  for (int i = 0, next = 1; i < 4; i++) {
    if (events[i] == 4)
      continue;
    CHECK_EQ_INT(events[i], next);
    next++;
  }
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(reqs[i].status, 0);
    CHECK_EQ_INT(reqs[i].u.push.ncommitted, 1);
    CHECK_EQ_INT(reqs[i].u.push.committed[0].server_seq, head + 1 + (uint64_t)i);
    store_req_dispose(&reqs[i]);
  }
  CHECK_EQ_INT(reqs[3].status, 0);
  CHECK_EQ_INT(reqs[3].u.pull.head >= head, 1);
  store_req_dispose(&reqs[3]);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);

  db = tu_sqlite_open(path);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'tabA'"), 3);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM session_logs WHERE notes = 'aan het dansen'"), 1);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
