/* test_store_pull_pages.c — pulling an organisation's ops in pages: each page
 * holds the ops after the cursor in server_seq order (with device, seq, hlc
 * and decoded fields), next_cursor continues where it stopped, head is the
 * organisation's newest server_seq, and a cursor at or past head is empty. */
#include "test_store_util.h"

#define NPUSH 25

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1];
  char keys[NPUSH][16];
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  proto_op_t ops[NPUSH];
  proto_field_t fields[NPUSH][2];
  int64_t org;
  uint64_t seed_head, head, cursor, expect;
  uint32_t pages = 0, seen_pushed = 0;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code), 0);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  org = req.u.hello.org_id;
  seed_head = req.u.hello.head;

  for (int i = 0; i < NPUSH; i++) {
    snprintf(keys[i], sizeof(keys[i]), "L-%02d", i);
    fields[i][0] = tu_fstr(1, keys[i]); /* a location named after its id */
    ops[i] = tu_op("", (uint64_t)i + 1, HLC_MAKE(TU_NOW_MS, i), SCHEMA_LOCATION, keys[i], NULL,
                   fields[i], 1);
  }
  tu_push(&loop, store, org, "tabA", ops, NPUSH, &req);
  CHECK_EQ_INT(req.status, 0);
  head = req.u.push.head;
  CHECK_EQ_INT(head, seed_head + NPUSH);
  store_req_dispose(&req);

  /* Page through everything, 10 at a time. */
  cursor = 0;
  expect = 1;
  for (;;) {
    tu_pull(&loop, store, org, cursor, 10, &req);
    CHECK_EQ_INT(req.status, 0);
    CHECK_EQ_INT(req.u.pull.head, head);
    if (req.u.pull.nops == 0) {
      CHECK_EQ_INT(req.u.pull.next_cursor, cursor);
      store_req_dispose(&req);
      break;
    }
    CHECK(req.u.pull.nops <= 10);
    pages++;
    for (uint32_t i = 0; i < req.u.pull.nops; i++) {
      const proto_op_t *op = &req.u.pull.ops[i];
      CHECK_EQ_INT(op->server_seq, expect);
      expect++;
      CHECK(op->device.len > 0);
      CHECK(op->fields_raw.len > 0);
      CHECK(op->nfields >= 1);
      if (proto_str_eq(op->device, PROTO_STR("tabA"))) {
        int n = (int)op->seq - 1;
        CHECK(n >= 0 && n < NPUSH);
        CHECK_EQ_INT(op->type, SCHEMA_LOCATION);
        CHECK_EQ_INT(op->hlc, HLC_MAKE(TU_NOW_MS, n));
        CHECK_EQ_INT(op->nfields, 1);
        CHECK_EQ_INT(op->fields[0].id, 1);
        CHECK(proto_str_eq(op->fields[0].value.u.s, proto_str(keys[n])));
        CHECK(proto_str_eq(op->key, proto_str(keys[n])));
        seen_pushed++;
      } else {
        CHECK(proto_str_eq(op->device, PROTO_STR("server")));
      }
    }
    CHECK_EQ_INT(req.u.pull.next_cursor, req.u.pull.ops[req.u.pull.nops - 1].server_seq);
    cursor = req.u.pull.next_cursor;
    store_req_dispose(&req);
  }
  CHECK_EQ_INT(expect, head + 1);
  CHECK_EQ_INT(seen_pushed, NPUSH);
  CHECK_EQ_INT(pages, (head + 9) / 10);

  /* A page starting in the middle. */
  tu_pull(&loop, store, org, seed_head + 20, 100, &req);
  CHECK_EQ_INT(req.u.pull.nops, 5);
  CHECK_EQ_INT(req.u.pull.ops[0].seq, 21);
  CHECK_EQ_INT(req.u.pull.next_cursor, head);
  store_req_dispose(&req);

  /* At head, past head, and another organisation: nothing. */
  tu_pull(&loop, store, org, head, 10, &req);
  CHECK_EQ_INT(req.u.pull.nops, 0);
  CHECK_EQ_INT(req.u.pull.next_cursor, head);
  store_req_dispose(&req);
  tu_pull(&loop, store, org, head + 50, 10, &req);
  CHECK_EQ_INT(req.u.pull.nops, 0);
  CHECK_EQ_INT(req.u.pull.next_cursor, head + 50);
  store_req_dispose(&req);
  tu_pull(&loop, store, org + 1, 0, 10, &req);
  CHECK_EQ_INT(req.status, 0);
  CHECK_EQ_INT(req.u.pull.nops, 0);
  CHECK_EQ_INT(req.u.pull.head, 0);
  store_req_dispose(&req);

  /* A limit of 0 or above the protocol maximum means the maximum. */
  tu_pull(&loop, store, org, 0, 0, &req);
  CHECK_EQ_INT(req.u.pull.nops, head);
  store_req_dispose(&req);

  tu_close(&loop, store);
  tu_rmtree(dir);
  return 0;
}
