/* test_store_push_ack.c — pushing ops through the asynchronous interface:
 * accepted ops get consecutive server_seqs and are acked as ranges; a
 * duplicate push is acked again without new ops; a seq gap is refused and
 * not consumed; an invalid op is refused durably while the ops behind it are
 * accepted, and re-pushing it is refused again with the same code; several
 * requests queued together are committed as one group. */
#include "test_store_util.h"

static proto_field_t names[32][2];

/* Participant op number seq of the test, valid unless told otherwise. */
static proto_op_t person(uint64_t seq) {
  char key[32];
  static char keys[32][32];
  snprintf(key, sizeof(key), "P-%llu", (unsigned long long)seq);
  memcpy(keys[seq], key, sizeof(key));
  names[seq][0] = tu_fstr(1, "Bezoeker");
  names[seq][1] = tu_fint(5, TU_NOW_MS);
  return tu_op("", seq, HLC_MAKE(TU_NOW_MS, seq), SCHEMA_PARTICIPANT, keys[seq], NULL,
               names[seq], 2);
}

static void check_ranges(const store_req_t *req, uint32_t n, const uint64_t *pairs) {
  CHECK_EQ_INT(req->u.push.ack.nranges, n);
  for (uint32_t i = 0; i < n; i++) {
    CHECK_EQ_INT(req->u.push.ack.ranges[i].from, pairs[2 * i]);
    CHECK_EQ_INT(req->u.push.ack.ranges[i].to, pairs[2 * i + 1]);
  }
}

static int group_done;
static void count_done(store_req_t *req) {
  (void)req;
  group_done++;
}

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1], buf[256];
  uv_loop_t loop;
  store_t *store;
  store_req_t req, group[3];
  proto_op_t ops[8];
  proto_field_t bad[1], msg[2];
  sqlite3 *db;
  int64_t org;
  uint64_t head0;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 3, code), 0);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  org = req.u.hello.org_id;
  head0 = req.u.hello.head;
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", NULL, code, TU_NOW_MS, NULL), 0);

  /* 1..3 accepted, in order, with consecutive server_seqs. */
  ops[0] = person(1);
  ops[1] = person(2);
  ops[2] = person(3);
  tu_push(&loop, store, org, "tabA", ops, 3, &req);
  CHECK_EQ_INT(req.status, 0);
  check_ranges(&req, 1, (uint64_t[]){1, 3});
  CHECK_EQ_INT(req.u.push.ack.nrejects, 0);
  CHECK_EQ_INT(req.u.push.ncommitted, 3);
  for (uint32_t i = 0; i < 3; i++) {
    const proto_op_t *c = &req.u.push.committed[i];
    CHECK_EQ_INT(c->server_seq, head0 + 1 + i);
    CHECK_EQ_INT(c->seq, i + 1);
    CHECK(proto_str_eq(c->device, PROTO_STR("tabA")));
    CHECK(proto_str_eq(c->key, ops[i].key));
    CHECK(c->key.ptr != ops[i].key.ptr); /* the request's own copy */
    CHECK(c->fields_raw.len > 0);
    CHECK_EQ_INT(c->nfields, 2);
    CHECK(proto_str_eq(c->fields[0].value.u.s, PROTO_STR("Bezoeker")));
  }
  CHECK_EQ_INT(req.u.push.head, head0 + 3);
  store_req_dispose(&req);

  /* 2..4: 2 and 3 are durable already (acked again, not applied), 4 is new. */
  ops[0] = person(2);
  ops[1] = person(3);
  ops[2] = person(4);
  tu_push(&loop, store, org, "tabA", ops, 3, &req);
  CHECK_EQ_INT(req.status, 0);
  check_ranges(&req, 1, (uint64_t[]){2, 4});
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  CHECK_EQ_INT(req.u.push.committed[0].seq, 4);
  CHECK_EQ_INT(req.u.push.committed[0].server_seq, head0 + 4);
  store_req_dispose(&req);

  /* 6 skips 5: refused with SEQ_GAP, and 6 is still free afterwards. */
  ops[0] = person(6);
  tu_push(&loop, store, org, "tabA", ops, 1, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.push.ack.nranges, 0);
  CHECK_EQ_INT(req.u.push.ack.nrejects, 1);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].seq, 6);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].code, -PROTO_ESEQ_GAP);
  CHECK(req.u.push.ack.rejects[0].message.len > 0);
  CHECK_EQ_INT(req.u.push.ncommitted, 0);
  CHECK_EQ_INT(req.u.push.head, head0 + 4);
  store_req_dispose(&req);
  ops[0] = person(5);
  ops[1] = person(6);
  tu_push(&loop, store, org, "tabA", ops, 2, &req);
  check_ranges(&req, 1, (uint64_t[]){5, 6});
  CHECK_EQ_INT(req.u.push.ncommitted, 2);
  store_req_dispose(&req);

  /* 7 is invalid (a check-in status that does not exist); 8 behind it is
   * fine. 7 is consumed, refused durably; 8 is accepted. */
  bad[0] = tu_fstr(1, "maybe");
  ops[0] = tu_op("", 7, HLC_MAKE(TU_NOW_MS, 7), SCHEMA_CHECKIN, "S1", "P-1", bad, 1);
  ops[1] = person(8);
  tu_push(&loop, store, org, "tabA", ops, 2, &req);
  CHECK_EQ_INT(req.status, 0);
  check_ranges(&req, 1, (uint64_t[]){8, 8});
  CHECK_EQ_INT(req.u.push.ack.nrejects, 1);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].seq, 7);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].code, -PROTO_EINVALID_OP);
  CHECK_EQ_INT(req.u.push.ncommitted, 1);
  CHECK_EQ_INT(req.u.push.committed[0].server_seq, head0 + 7);
  store_req_dispose(&req);

  /* Re-pushing 7 and 8: 7 is refused again with its stored code, 8 acked. */
  ops[0].fields[0] = tu_fstr(1, "present"); /* even if now valid: decided */
  tu_push(&loop, store, org, "tabA", ops, 2, &req);
  check_ranges(&req, 1, (uint64_t[]){8, 8});
  CHECK_EQ_INT(req.u.push.ack.nrejects, 1);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].seq, 7);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].code, -PROTO_EINVALID_OP);
  CHECK_EQ_INT(req.u.push.ncommitted, 0);
  store_req_dispose(&req);

  /* tabA posts a message; tabB's edit of it is refused as NOT_AUTHOR. */
  msg[0] = tu_fstr(1, "A1");
  msg[1] = tu_fstr(2, "Dansen gaat door!");
  ops[0] = tu_op("", 9, HLC_MAKE(TU_NOW_MS, 9), SCHEMA_MESSAGE, "M1", NULL, msg, 2);
  tu_push(&loop, store, org, "tabA", ops, 1, &req);
  check_ranges(&req, 1, (uint64_t[]){9, 9});
  store_req_dispose(&req);
  ops[0] = tu_op("", 1, HLC_MAKE(TU_NOW_MS, 20), SCHEMA_MESSAGE, "M1", NULL, msg + 1, 1);
  tu_push(&loop, store, org, "tabB", ops, 1, &req);
  CHECK_EQ_INT(req.u.push.ack.nrejects, 1);
  CHECK_EQ_INT(req.u.push.ack.rejects[0].code, -PROTO_ENOT_AUTHOR);
  store_req_dispose(&req);

  /* A push for a device of another organisation is refused outright. */
  ops[0] = person(10);
  tu_push(&loop, store, org + 1, "tabA", ops, 1, &req);
  CHECK_EQ_INT(req.status, PROTO_EBAD_CREDENTIALS);
  store_req_dispose(&req);

  /* Three requests queued before the loop runs: one group, all durable,
   * server_seqs consecutive across them in submission order. */
  ops[0] = person(10);
  ops[1] = person(11);
  ops[2] = person(12);
  memset(group, 0, sizeof(group));
  for (int i = 0; i < 3; i++) {
    group[i].type = STORE_PUSH;
    group[i].u.push.org_id = org;
    group[i].u.push.device = i == 1 ? PROTO_STR("tabB") : PROTO_STR("tabA");
    group[i].u.push.now_ms = TU_NOW_MS;
    group[i].u.push.nops = 1;
  }
  group[0].u.push.ops = &ops[0];
  ops[3] = person(2); /* tabB's seq 2 */
  group[1].u.push.ops = &ops[3];
  group[2].u.push.ops = &ops[1];
  group[2].u.push.nops = 2;
  for (int i = 0; i < 3; i++)
    CHECK_EQ_INT(store_submit(store, &group[i], count_done), 0);
  while (group_done < 3)
    uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < 3; i++)
    CHECK_EQ_INT(group[i].status, 0);
  CHECK_EQ_INT(group[0].u.push.committed[0].server_seq, head0 + 9);
  CHECK_EQ_INT(group[1].u.push.committed[0].server_seq, head0 + 10);
  CHECK_EQ_INT(group[2].u.push.committed[0].server_seq, head0 + 11);
  CHECK_EQ_INT(group[2].u.push.committed[1].server_seq, head0 + 12);
  CHECK_EQ_INT(group[2].u.push.head, head0 + 12);
  for (int i = 0; i < 3; i++)
    store_req_dispose(&group[i]);

  tu_close(&loop, store);

  /* What is on disk agrees. */
  db = tu_sqlite_open(path);
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs WHERE id = %lld", (long long)org), head0 + 12);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE org = %lld", (long long)org), head0 + 12);
  CHECK_EQ_INT(tu_qint(db, "SELECT max(server_seq) - min(server_seq) + 1 FROM ops"), head0 + 12);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'tabA'"), 11);
  CHECK_EQ_INT(tu_qint(db, "SELECT last_seq FROM devices WHERE id = 'tabA'"), 12);
  CHECK_EQ_INT(tu_qint(db, "SELECT last_seq FROM devices WHERE id = 'tabB'"), 2);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf),
                        "SELECT group_concat(device || ':' || seq || ':' || code, ' ') FROM "
                        "(SELECT * FROM rejected_ops ORDER BY device, seq)"),
               "tabA:7:20 tabB:1:22");
  /* Eleven accepted participant ops; tabB's seq 2 rewrote P-2. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants WHERE name = 'Bezoeker'"), 10);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkins"), 0);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT body FROM messages WHERE id = 'M1'"),
               "Dansen gaat door!");
  CHECK(sqlite3_close(db) == SQLITE_OK);

  tu_rmtree(dir);
  return 0;
}
