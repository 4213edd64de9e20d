/* An ack settles the outbox: acked ranges leave it, refused ops move to
 * `attention` with their code and message (kept for a person, not dropped,
 * and still applied locally), and a SEQ_GAP refusal keeps the op queued so
 * it is sent again. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "local.h"
#include "schema.h"

static void record_tally(local_t *l, const char *session, int64_t n) {
  const schema_type_t *t = schema_type(SCHEMA_TALLY);
  proto_field_t f = {t->fields[0].id, {.type = PROTO_INT}};
  proto_op_t op;
  f.value.u.i = n;
  memset(&op, 0, sizeof(op));
  op.type = SCHEMA_TALLY;
  op.key = proto_str(session);
  op.fields = &f;
  op.nfields = 1;
  CHECK_EQ_INT(local_record(l, &op, NULL, NULL, NULL), 0);
}

static int64_t query_int(local_t *l, const char *sql) {
  sqlite3_stmt *st;
  int64_t n = -1;
  CHECK(sqlite3_prepare_v2(local_db(l), sql, -1, &st, NULL) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

int main(void) {
  char path[] = "/tmp/test_client_ack.XXXXXX";
  proto_range_t ranges[2] = {{1, 2}, {5, 5}};
  proto_reject_t rejects[2];
  proto_ack_t ack;
  local_ack_result_t res;
  local_t *l;
  int fd = mkstemp(path);
  char p[64];

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  l = local_open(path, 0);
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, NULL), 0);
  for (int i = 1; i <= 6; i++)
    record_tally(l, "s1", i);
  CHECK_EQ_INT(local_outbox_count(l), 6);

  memset(rejects, 0, sizeof(rejects));
  rejects[0].seq = 3;
  rejects[0].code = -PROTO_EOUT_OF_SCOPE;
  rejects[0].message = PROTO_STR("session belongs to another location");
  rejects[1].seq = 4;
  rejects[1].code = -PROTO_ESEQ_GAP;
  memset(&ack, 0, sizeof(ack));
  ack.nranges = 2;
  ack.ranges = ranges;
  ack.nrejects = 2;
  ack.rejects = rejects;

  CHECK_EQ_INT(local_apply_ack(l, &ack, &res), 0);
  CHECK_EQ_INT(res.acked, 3);
  CHECK_EQ_INT(res.rejected, 1);
  CHECK(res.seq_gap);
  /* 4 (gap) and 6 (not answered yet) wait to be sent again. */
  CHECK_EQ_INT(local_outbox_count(l), 2);
  CHECK_EQ_INT(query_int(l, "SELECT MIN(seq) FROM outbox"), 4);
  CHECK_EQ_INT(query_int(l, "SELECT MAX(seq) FROM outbox"), 6);
  /* The refusal is kept with its reason, and the local replica still shows
   * the value (nothing is silently reverted: a person decides). */
  CHECK_EQ_INT(query_int(l, "SELECT COUNT(*) FROM attention WHERE seq = 3 AND code = 23 "
                            "AND message = 'session belongs to another location'"),
               1);
  CHECK_EQ_INT(query_int(l, "SELECT count FROM tallies WHERE session = 's1'"), 6);

  /* The same ack again changes nothing. */
  CHECK_EQ_INT(local_apply_ack(l, &ack, &res), 0);
  CHECK_EQ_INT(res.acked, 0);
  CHECK_EQ_INT(res.rejected, 0);
  CHECK_EQ_INT(local_outbox_count(l), 2);
  CHECK_EQ_INT(query_int(l, "SELECT COUNT(*) FROM attention"), 1);

  local_close(l);
  unlink(path);
  snprintf(p, sizeof(p), "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof(p), "%s-shm", path);
  unlink(p);
  return 0;
}
