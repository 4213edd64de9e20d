/* test_store_seed_demo.c — the demo seed: the first call creates one
 * organisation with its records as ops from device "server" (contiguous
 * seqs, head = number of ops); every call makes sure today's sessions exist
 * without duplicating them, and issues a fresh enrolment code; both codes of
 * one day work. */
#include "test_store_util.h"

#define DAY_MS (24 * 60 * 60 * 1000)

/* The date in the demo organisation's time zone (the default one),
 * whatever zone this test runs in. */
static void local_date(int64_t ms, char out[32]) {
  const zone_t *zone = zone_cached(ZONE_DEFAULT);
  CHECK(zone != NULL);
  zone_date(zone, ms, out);
}

static void check_code(const char *code) {
  CHECK_EQ_INT(strlen(code), 8);
  for (int i = 0; i < 8; i++)
    CHECK(strchr("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", code[i]) != NULL);
}

int main(void) {
  char dir[64], path[128], code1[PROTO_MAX_ID_BYTES + 1], code2[PROTO_MAX_ID_BYTES + 1];
  char code3[PROTO_MAX_ID_BYTES + 1], today[32], tomorrow[32], buf[256];
  sqlite3 *db;
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  int64_t ops_day1;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  local_date(TU_NOW_MS, today);
  local_date(TU_NOW_MS + DAY_MS, tomorrow);

  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code1), 0);
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS + 60 * 1000, 1, code2), 0);
  check_code(code1);
  check_code(code2);
  CHECK(strcmp(code1, code2) != 0);

  db = tu_sqlite_open(path);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM orgs"), 1);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT name FROM orgs"), "Buurtwerk Demo");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM locations"), 1);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT name FROM locations"),
               "Huis van de Wijk Feijenoord");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM activities"), 2);
  CHECK_EQ_STR(tu_qtext(db, buf, sizeof(buf), "SELECT start_time FROM activities "
                                              "WHERE name = 'Time to Dance'"),
               "10:00");
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM activities WHERE location = "
                           "(SELECT id FROM locations)"),
               2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants"), 5);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants WHERE name = 'Fatima el Amrani'"), 1);
  /* One session per activity today, however often the server starts. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM sessions"), 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM sessions WHERE date = '%s'", today), 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM sessions s JOIN activities a "
                           "ON a.org = s.org AND a.id = s.activity AND a.start_time = s.start_time"),
               2);
  /* Everything is an op from "server": seqs 1..n, head n, last_seq n. */
  ops_day1 = tu_qint(db, "SELECT count(*) FROM ops");
  CHECK_EQ_INT(ops_day1, 1 + 2 + 5 + 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'server'"), ops_day1);
  CHECK_EQ_INT(tu_qint(db, "SELECT max(seq) FROM ops"), ops_day1);
  CHECK_EQ_INT(tu_qint(db, "SELECT max(server_seq) FROM ops"), ops_day1);
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs"), ops_day1);
  CHECK_EQ_INT(tu_qint(db, "SELECT last_seq FROM devices WHERE id = 'server'"), ops_day1);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM devices WHERE token_hash IS NOT NULL"), 0);
  /* HLCs increase with seq (later ops order after earlier ones). */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops a JOIN ops b ON b.seq = a.seq + 1 "
                           "WHERE b.hlc <= a.hlc"),
               0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM enroll_codes WHERE uses_left = 1 AND "
                           "expires_ms = %lld",
                       (long long)(TU_NOW_MS + DAY_MS)),
               1);
  CHECK(sqlite3_close(db) == SQLITE_OK);

  /* The next day: two new sessions, nothing else new but the code. */
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS + DAY_MS, 1, code3), 0);
  db = tu_sqlite_open(path);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM sessions"), 4);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM sessions WHERE date = '%s'", tomorrow), 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants"), 5);
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs"), ops_day1 + 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM enroll_codes"), 3);
  CHECK(sqlite3_close(db) == SQLITE_OK);

  /* Both of today's codes enrol a tablet, which sees the seeded head. */
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabA", NULL, code1, TU_NOW_MS + 1000, &req), 0);
  CHECK_EQ_INT(req.u.hello.head, ops_day1 + 2);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabB", NULL, code2, TU_NOW_MS + 1000, NULL), 0);
  CHECK_EQ_INT(tu_hello(&loop, store, "tabC", NULL, code2, TU_NOW_MS + 1000, NULL),
               PROTO_EBAD_CREDENTIALS); /* one use each */
  tu_close(&loop, store);

  /* A database that holds other organisations but no demo is left alone. */
  db = tu_sqlite_open(path);
  tu_exec(db, "UPDATE orgs SET name = 'Echte Stichting'");
  CHECK(sqlite3_close(db) == SQLITE_OK);
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 1, code3), PROTO_ESTORAGE);
  CHECK_EQ_STR(code3, "");

  tu_rmtree(dir);
  return 0;
}
