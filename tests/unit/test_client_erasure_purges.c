/* A tablet that receives an erasure op purges the participant everywhere
 * in its file: the replica (their row and check-ins), the outbox (ops it
 * recorded about them before the erasure arrived become the erasure, with
 * their seqs kept so the push stays contiguous) and attention (refused ops
 * keep their refusal, not their content); other people are untouched; and
 * once checkpointed the file no longer holds the name anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "local.h"
#include "schema.h"

#define NAME "Henriette Zeldzaam"

static int64_t query_int(local_t *l, const char *sql) {
  sqlite3_stmt *st;
  int64_t n = -1;
  CHECK(sqlite3_prepare_v2(local_db(l), sql, -1, &st, NULL) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static bool file_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  static char buf[1 << 20];
  size_t len, n = strlen(needle);
  if (f == NULL)
    return false;
  len = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(buf + i, needle, n) == 0)
      return true;
  return false;
}

static proto_op_t server_op(uint64_t n, uint8_t type, const char *key, const char *key2,
                            proto_field_t *f, uint32_t nf) {
  proto_op_t op;
  memset(&op, 0, sizeof(op));
  op.device = PROTO_STR("other-tablet");
  op.seq = n;
  op.server_seq = n;
  op.hlc = (uint64_t)(1700000000000 + (int64_t)n) << 16;
  op.type = type;
  op.key = proto_str(key);
  op.key2 = proto_str(key2);
  op.fields = f;
  op.nfields = nf;
  return op;
}

int main(void) {
  char path[] = "/tmp/test_client_erasure.XXXXXX", wal[64];
  proto_field_t pf[2], qf[2], cf[1], ef[1], mine[1];
  proto_op_t page1[3], page2[1], rec;
  proto_changes_t ch;
  proto_reject_t reject;
  proto_range_t none[1];
  proto_ack_t ack;
  local_ack_result_t res;
  local_t *l;
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  snprintf(wal, sizeof(wal), "%s-wal", path);
  l = local_open(path, 0);
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, "tablet"), 0);

  /* From the server: P (to be erased), Q, and P's check-in. */
  pf[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR(NAME)}};
  pf[1] = (proto_field_t){5, {.type = PROTO_INT, .u.i = 1700000000000}};
  qf[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR("Quirina Blijft")}};
  qf[1] = pf[1];
  cf[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR("present")}};
  page1[0] = server_op(1, SCHEMA_PARTICIPANT, "P", NULL, pf, 2);
  page1[1] = server_op(2, SCHEMA_PARTICIPANT, "Q", NULL, qf, 2);
  page1[2] = server_op(3, SCHEMA_CHECKIN, "S1", "Q", cf, 1);
  memset(&ch, 0, sizeof(ch));
  ch.from = 0;
  ch.cursor = 3;
  ch.ops = page1;
  ch.nops = 3;
  CHECK_EQ_INT(local_apply_changes(l, &ch, NULL, NULL), 0);

  /* Offline, this tablet records: a rename of P (seq 1), P's check-in
   * (seq 2), Q's check-in elsewhere (seq 3). Seq 1 is then refused
   * (kept in attention with P's new name). */
  mine[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR(NAME " Jr.")}};
  memset(&rec, 0, sizeof(rec));
  rec.type = SCHEMA_PARTICIPANT;
  rec.key = PROTO_STR("P");
  rec.fields = mine;
  rec.nfields = 1;
  CHECK_EQ_INT(local_record(l, &rec, NULL, NULL, NULL), 0);
  rec.type = SCHEMA_CHECKIN;
  rec.key = PROTO_STR("S2");
  rec.key2 = PROTO_STR("P");
  rec.fields = cf;
  CHECK_EQ_INT(local_record(l, &rec, NULL, NULL, NULL), 0);
  rec.key2 = PROTO_STR("Q");
  CHECK_EQ_INT(local_record(l, &rec, NULL, NULL, NULL), 0);
  memset(&reject, 0, sizeof(reject));
  reject.seq = 1;
  reject.code = -PROTO_EINVALID_OP;
  reject.message = PROTO_STR("test refusal");
  memset(&ack, 0, sizeof(ack));
  ack.ranges = none;
  ack.nrejects = 1;
  ack.rejects = &reject;
  CHECK_EQ_INT(local_apply_ack(l, &ack, &res), 0);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM attention WHERE type = 4 AND key = 'P'"), 1);
  CHECK_EQ_INT(local_outbox_count(l), 2);
  CHECK(file_has(path, NAME) || file_has(wal, NAME)); /* the search can find it */

  /* The erasure arrives. */
  ef[0] = (proto_field_t){1, {.type = PROTO_INT, .u.i = 1700000009999}};
  page2[0] = server_op(4, SCHEMA_ERASURE, "P", NULL, ef, 1);
  ch.from = 3;
  ch.cursor = 4;
  ch.ops = page2;
  ch.nops = 1;
  CHECK_EQ_INT(local_apply_changes(l, &ch, NULL, NULL), 0);

  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM participants WHERE id = 'P'"), 0);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM checkins WHERE participant = 'P'"), 0);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM participants WHERE id = 'Q'"), 1);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM checkins WHERE participant = 'Q'"), 2);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM erasures WHERE participant = 'P'"), 1);
  /* Outbox: seq 2 became the erasure, seq 3 (Q) is as it was. */
  CHECK_EQ_INT(local_outbox_count(l), 2);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM outbox WHERE seq = 2 AND type = 9 AND "
                            "key = 'P' AND key2 = ''"), 1);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM outbox WHERE seq = 3 AND type = 5 AND "
                            "key2 = 'Q'"), 1);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM attention WHERE seq = 1 AND type = 9 AND "
                            "code = 20"), 1);
  {
    /* The rewritten outbox op is a valid erasure op to send. */
    local_batch_t batch;
    CHECK_EQ_INT(local_outbox_load(l, 0, 10, &batch), 0);
    CHECK_EQ_INT(batch.nops, 2);
    CHECK_EQ_INT(batch.ops[0].seq, 2);
    CHECK_EQ_INT(batch.ops[0].type, SCHEMA_ERASURE);
    local_batch_dispose(&batch);
  }
  CHECK_EQ_INT(local_cursor(l), 4);
  CHECK(!file_has(path, NAME));
  CHECK(!file_has(wal, NAME));

  local_close(l);
  unlink(path);
  unlink(wal);
  {
    char shm[64];
    snprintf(shm, sizeof(shm), "%s-shm", path);
    unlink(shm);
  }
  return 0;
}
