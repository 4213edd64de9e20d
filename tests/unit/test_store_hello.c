/* test_store_hello.c — device authentication through the store: enrolment
 * with a code issues a token (stored only hashed), the token then
 * authenticates, and wrong tokens, unknown devices, expired or used-up codes,
 * revoked devices and a device id taken in another organisation are all
 * refused with BAD_CREDENTIALS without changing anything. */
#include "test_store_util.h"

#include <ctype.h>

#define HOUR_MS (60 * 60 * 1000)

int main(void) {
  char dir[64], path[128], code[PROTO_MAX_ID_BYTES + 1], old_code[PROTO_MAX_ID_BYTES + 1];
  char token_a[PROTO_MAX_ID_BYTES + 1], token_b[PROTO_MAX_ID_BYTES + 1], buf[256];
  uv_loop_t loop;
  store_t *store;
  store_req_t req, push;
  proto_field_t f[2];
  proto_op_t ops[2];
  sqlite3 *db;
  int64_t org, head;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  /* A code issued 25 hours ago has expired; a fresh one allows two uses. */
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS - 25 * HOUR_MS, 5, old_code), 0);
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 2, code), 0);
  /* A second organisation whose code we also try. */
  db = tu_sqlite_open(path);
  tu_exec(db, "INSERT INTO orgs (id, name, created_ms) VALUES (2, 'Other', 0);"
              "INSERT INTO enroll_codes VALUES ('OTHERORG', 2, 9999999999999, 10);");
  CHECK(sqlite3_close(db) == SQLITE_OK);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);

  /* Enrol tabA with the code. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code, TU_NOW_MS, &req), 0);
  CHECK_EQ_INT(strlen(req.u.hello.token), 64);
  for (int i = 0; i < 64; i++)
    CHECK(isxdigit((unsigned char)req.u.hello.token[i]) && !isupper((unsigned char)req.u.hello.token[i]));
  snprintf(token_a, sizeof(token_a), "%s", req.u.hello.token);
  CHECK_EQ_STR(req.u.hello.org_name, "Buurtwerk Demo");
  CHECK_EQ_INT(req.u.hello.last_seq, 0);
  CHECK(req.u.hello.head > 0); /* the demo records */
  org = req.u.hello.org_id;
  head = (int64_t)req.u.hello.head;

  /* The token authenticates; no new token is issued. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", token_a, NULL, TU_NOW_MS, &req), 0);
  CHECK_EQ_STR(req.u.hello.token, "");
  CHECK_EQ_INT(req.u.hello.org_id, org);
  CHECK_EQ_INT(req.u.hello.head, head);

  /* A wrong token (same length, one digit off), another device's token, no
   * credentials at all, and an unknown device are all refused. */
  snprintf(buf, sizeof(buf), "%s", token_a);
  buf[10] = buf[10] == '0' ? '1' : '0';
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", buf, NULL, TU_NOW_MS, NULL), PROTO_EBAD_CREDENTIALS);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", "short", NULL, TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, NULL, TU_NOW_MS, NULL), PROTO_EBAD_CREDENTIALS);
  CHECK_EQ_INT(tu_hello(&loop, store, "nobody", token_a, NULL, TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);
  /* The seed's own device has no token and can never log in. */
  CHECK_EQ_INT(tu_hello(&loop, store, "server", token_a, NULL, TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);

  /* The expired code and an unknown code are refused. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", NULL, old_code, TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", NULL, "NOSUCHCD", TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);
  /* tabA's id belongs to the demo org: another org's code cannot take it,
   * and that refusal does not use up the code. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, "OTHERORG", TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);

  /* Second use of the code: tabB. A third use is refused. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", NULL, code, TU_NOW_MS, &req), 0);
  snprintf(token_b, sizeof(token_b), "%s", req.u.hello.token);
  CHECK(strcmp(token_a, token_b) != 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabC", NULL, code, TU_NOW_MS, NULL), PROTO_EBAD_CREDENTIALS);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", token_b, NULL, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", token_b, NULL, TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);

  /* After a push, hello reports the device's last_seq. */
  f[0] = tu_fstr(1, "Kees");
  f[1] = tu_fint(5, TU_NOW_MS);
  ops[0] = tu_op("", 1, HLC_MAKE(TU_NOW_MS, 0), SCHEMA_PARTICIPANT, "P-kees", NULL, f, 2);
  ops[1] = tu_op("", 2, HLC_MAKE(TU_NOW_MS, 1), SCHEMA_PARTICIPANT, "P-kees", NULL, f, 1);
  tu_push(&loop, store, org, "tabA", ops, 2, &push);
  CHECK_EQ_INT(push.status, 0);
  store_req_dispose(&push);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", token_a, NULL, TU_NOW_MS + 1, &req), 0);
  CHECK_EQ_INT(req.u.hello.last_seq, 2);
  CHECK_EQ_INT(req.u.hello.head, head + 2);

  tu_close(&loop, store);

  /* Durable effects: hashed tokens only, hello's device fields, code uses. */
  db = tu_sqlite_open(path);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM devices WHERE token_hash = '%s'", token_a), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT length(token_hash) FROM devices WHERE id = 'tabA'"), 64);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM devices WHERE org = 2"), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT uses_left FROM enroll_codes WHERE code = '%s'", code), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT uses_left FROM enroll_codes WHERE code = 'OTHERORG'"), 10);
  CHECK_EQ_INT(tu_qint(db, "SELECT uses_left FROM enroll_codes WHERE code = '%s'", old_code), 5);
  CHECK_EQ_INT(tu_qint(db, "SELECT online FROM devices WHERE id = 'tabA'"), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT last_seen_ms FROM devices WHERE id = 'tabA'"), TU_NOW_MS + 1);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT name || '/' || app FROM devices "
                                              "WHERE id = 'tabB'"),
               "test tablet/test/1");
  /* Revoke tabB, and try to re-enrol tabA with a new code (same org). */
  tu_exec(db, "UPDATE devices SET revoked = 1 WHERE id = 'tabB';"
              "INSERT INTO enroll_codes VALUES ('AGAIN234', 1, 9999999999999, 1);");
  CHECK(sqlite3_close(db) == SQLITE_OK);

  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  /* A revoked device is told so, with its token or anything else. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", token_b, NULL, TU_NOW_MS, NULL), PROTO_EREVOKED);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", "wrong", NULL, TU_NOW_MS, NULL), PROTO_EREVOKED);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", NULL, "AGAIN234", TU_NOW_MS, NULL),
               PROTO_EREVOKED);
  /* A code never re-enrols a known device: whoever holds an unused code
   * and knows tabA's id (every tablet of the org does) would take it over. */
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, "AGAIN234", TU_NOW_MS, NULL),
               PROTO_EBAD_CREDENTIALS);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", token_a, NULL, TU_NOW_MS, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabC", NULL, "AGAIN234", TU_NOW_MS, NULL), 0);
  tu_close(&loop, store);

  tu_rmtree(dir);
  return 0;
}
