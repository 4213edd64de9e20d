/* test_store_erasure.c — erasing a participant on the server
 * (admin_db_participant_erase): the participant, their duplicates merged
 * into them and their check-ins leave the tables; every op of theirs in the
 * log is rewritten into an erasure at the same place (device, seq,
 * server_seq); their refused ops keep no fields; later pushes about them
 * are refused ERASED without keeping what they said; and the database
 * file holds no copy of their name afterwards (turfd still running). */
#include "test_store_util.h"

#include "admin_db.h"

#define NAME "Zeldzaam Persoon"

static bool file_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  size_t n = strlen(needle), len = 0, cap = 0;
  char *buf = NULL;
  bool found = false;
  if (f == NULL)
    return false;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      buf = realloc(buf, cap);
      CHECK(buf != NULL);
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    if (got == 0)
      break;
    len += got;
  }
  fclose(f);
  for (size_t i = 0; i + n <= len && !found; i++)
    found = memcmp(buf + i, needle, n) == 0;
  free(buf);
  return found;
}

static bool files_have(const char *path, const char *needle) {
  char wal[160];
  snprintf(wal, sizeof(wal), "%s-wal", path);
  return file_has(path, needle) || file_has(wal, needle);
}

int main(void) {
  char dir[64], path[128], code[65], s1[65], long_name[260];
  proto_field_t f[6][3];
  proto_op_t ops[6];
  admin_db_t *adb;
  uv_loop_t loop;
  store_t *store;
  store_req_t req;
  sqlite3 *db;
  FILE *report;
  char *text = NULL;
  size_t text_len = 0;
  int64_t erased_seq;

  tu_mkdtemp(dir);
  tu_path(path, dir, "turf.db");
  CHECK_EQ_INT(store_seed_demo(path, TU_NOW_MS, 10, code), 0);
  db = tu_sqlite_open(path);
  tu_qtext(db, s1, sizeof(s1), "SELECT id FROM sessions WHERE org = 1 ORDER BY id LIMIT 1");
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  store = store_open(path, &loop, NULL);
  CHECK(store != NULL);
  CHECK_EQ_INT(tu_hello(&loop, store, "tab", NULL, code, TU_NOW_MS, NULL), 0);

  /* P and a duplicate D merged into P, check-ins of both, a refused op
   * that carries P's name (too long), and an unrelated person Q. */
  f[0][0] = tu_fstr(1, NAME);
  f[0][1] = tu_fint(5, TU_NOW_MS);
  ops[0] = tu_op("", 1, HLC_MAKE(TU_NOW_MS, 1), SCHEMA_PARTICIPANT, "P", NULL, f[0], 2);
  f[1][0] = tu_fstr(1, NAME " (dubbel)");
  f[1][1] = tu_fint(5, TU_NOW_MS);
  f[1][2] = tu_fstr(6, "P"); /* merged_into */
  ops[1] = tu_op("", 2, HLC_MAKE(TU_NOW_MS, 2), SCHEMA_PARTICIPANT, "D", NULL, f[1], 3);
  f[2][0] = tu_fstr(1, "present");
  ops[2] = tu_op("", 3, HLC_MAKE(TU_NOW_MS, 3), SCHEMA_CHECKIN, s1, "P", f[2], 1);
  f[3][0] = tu_fstr(1, "present");
  ops[3] = tu_op("", 4, HLC_MAKE(TU_NOW_MS, 4), SCHEMA_CHECKIN, s1, "D", f[3], 1);
  memset(long_name, 'x', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  memcpy(long_name, NAME, strlen(NAME));
  f[4][0] = tu_fstr(1, long_name);
  ops[4] = tu_op("", 5, HLC_MAKE(TU_NOW_MS, 5), SCHEMA_PARTICIPANT, "P", NULL, f[4], 1);
  f[5][0] = tu_fstr(1, "Blijft Bestaan");
  f[5][1] = tu_fint(5, TU_NOW_MS);
  ops[5] = tu_op("", 6, HLC_MAKE(TU_NOW_MS, 6), SCHEMA_PARTICIPANT, "Q", NULL, f[5], 2);
  tu_push(&loop, store, 1, "tab", ops, 6, &req);
  CHECK_EQ_INT(req.u.push.ncommitted, 5);
  CHECK_EQ_INT(req.u.push.ack.nrejects, 1);
  store_req_dispose(&req);
  CHECK(files_have(path, NAME)); /* the search below can find it */

  adb = admin_db_open(path);
  CHECK(adb != NULL);
  /* The duplicate alone is refused: it is counted as P. */
  report = open_memstream(&text, &text_len);
  CHECK_EQ_INT(admin_db_participant_erase(adb, 1, "D", true, TU_NOW_MS + 1, report),
               PROTO_EBAD_FIELD);
  CHECK_EQ_INT(admin_db_participant_erase(adb, 1, "P", true, TU_NOW_MS + 2, report), 0);
  fclose(report);
  CHECK(strstr(text, "erased D\n") != NULL && strstr(text, "erased P\n") != NULL);
  free(text);

  /* Tables: gone, except the erasure records and Q. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants WHERE id IN ('P', 'D')"), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkins WHERE participant IN ('P', 'D')"), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM erasures WHERE org = 1"), 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants WHERE id = 'Q'"), 1);
  /* The log: every op of P and D is an erasure now, at the same place. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE rtype IN (4, 5) AND "
                           "(k IN ('P', 'D') OR k2 IN ('P', 'D'))"), 0);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'tab' AND rtype = 9"), 4);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE device = 'tab' AND rtype = 9 AND "
                           "seq IN (1, 2, 3, 4) AND loc IS NULL"), 4);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM ops WHERE rtype = 9 AND device LIKE 'turfctl-%%'"), 2);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM rejected_ops WHERE device = 'tab' AND seq = 5 AND "
                           "fields IS NULL AND rtype = 9 AND k = 'P'"), 1);
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs WHERE id = 1"),
               tu_qint(db, "SELECT count(*) FROM ops WHERE org = 1"));
  CHECK(!files_have(path, NAME));

  /* A second erase says so and changes nothing. */
  erased_seq = tu_qint(db, "SELECT head FROM orgs WHERE id = 1");
  report = open_memstream(&text, &text_len);
  CHECK_EQ_INT(admin_db_participant_erase(adb, 1, "P", false, TU_NOW_MS + 3, report), 0);
  fclose(report);
  CHECK(strstr(text, "erased already") != NULL);
  free(text);
  CHECK_EQ_INT(tu_qint(db, "SELECT head FROM orgs WHERE id = 1"), erased_seq);
  admin_db_close(adb);

  /* Later pushes about them: ERASED, nothing kept of what they said. */
  f[0][0] = tu_fstr(1, NAME);
  f[0][1] = tu_fint(5, TU_NOW_MS);
  ops[0] = tu_op("", 7, HLC_MAKE(TU_NOW_MS, 7), SCHEMA_PARTICIPANT, "P", NULL, f[0], 2);
  f[1][0] = tu_fstr(1, "present");
  ops[1] = tu_op("", 8, HLC_MAKE(TU_NOW_MS, 8), SCHEMA_CHECKIN, s1, "D", f[1], 1);
  f[2][0] = tu_fstr(6, "P");
  ops[2] = tu_op("", 9, HLC_MAKE(TU_NOW_MS, 9), SCHEMA_PARTICIPANT, "Q", NULL, f[2], 1);
  tu_push(&loop, store, 1, "tab", ops, 3, &req);
  CHECK_EQ_INT(req.u.push.ncommitted, 0);
  CHECK_EQ_INT(req.u.push.ack.nrejects, 3);
  for (int i = 0; i < 3; i++)
    CHECK_EQ_INT(req.u.push.ack.rejects[i].code, -PROTO_EERASED);
  store_req_dispose(&req);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM rejected_ops WHERE device = 'tab' AND code = 24 "
                           "AND fields IS NULL"), 3);
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM participants WHERE id = 'P'"), 0);

  tu_close(&loop, store);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
