/* test_store_group_rollback.c — when SQLite fails inside a group commit (here
 * the disk is "full"), the whole group is rolled back and every request in it
 * completes with PROTO_ESTORAGE and no outputs; the store keeps running, and
 * once there is room again the very same ops are accepted as if the failed
 * attempt had never happened.
 *
 * White-box: includes the backend to reach its writer connection and cap the
 * database size, which is how a full disk looks to SQLite. */
#include "store_sqlite.c"

#include "test_store_util.h"

static void set_max_pages(store_t *store, int64_t pages) {
  char sql[64];
  /* The writer thread is idle (waiting on its queue), so the connection is
   * free; the queue mutex orders this before its next use. */
  snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages);
  tu_exec(store->writer_db, sql);
}

#define N 40

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1], notes[N][2000];
  char keys[N][16];
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  proto_field_t f[N][1];
  proto_op_t ops[N];
  int64_t org, pages;
  uint64_t head;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code), 0);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  org = req.u.hello.org_id;
  head = req.u.hello.head;

  for (int i = 0; i < N; i++) {
    memset(notes[i], 'a' + i % 26, sizeof(notes[i]) - 1);
    notes[i][sizeof(notes[i]) - 1] = '\0';
    snprintf(keys[i], sizeof(keys[i]), "S-%02d", i);
    f[i][0] = tu_fstr(4, notes[i]);
    ops[i] = tu_op("", (uint64_t)i + 1, HLC_MAKE(TU_NOW_MS, i), SCHEMA_SESSION_LOG, keys[i], NULL,
                   f[i], 1);
  }

  /* No room for 80 KB of notes. */
  pages = tu_qint(store->writer_db, "PRAGMA page_count");
  set_max_pages(store, pages);
  tu_push(&loop, store, org, "tabA", ops, N, &req);
  CHECK_EQ_INT(req.status, PROTO_ESTORAGE);
  CHECK_EQ_INT(req.u.push.ncommitted, 0);
  CHECK(req.u.push.committed == NULL);
  CHECK_EQ_INT(req.u.push.ack.nranges, 0);
  CHECK_EQ_INT(req.u.push.ack.nrejects, 0);
  store_req_dispose(&req);
  /* Reads still work, and see nothing of the failed group. */
  tu_pull(&loop, store, org, head, 100, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.pull.nops, 0);
  CHECK_EQ_INT(req.u.pull.head, head);
  store_req_dispose(&req);

  /* Room again: the same seqs are accepted, head continues where it was. */
  set_max_pages(store, 1 << 30);
  tu_push(&loop, store, org, "tabA", ops, N, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.push.ncommitted, N);
  CHECK_EQ_INT(req.u.push.committed[0].server_seq, head + 1);
  CHECK_EQ_INT(req.u.push.ack.nranges, 1);
  CHECK_EQ_INT(req.u.push.ack.ranges[0].to, N);
  store_req_dispose(&req);

  tu_close(&loop, store);
  tu_rmtree(dir);
  return 0;
}
