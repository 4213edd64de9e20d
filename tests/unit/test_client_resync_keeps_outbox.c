/* A tablet told to sync again from scratch (welcome "rs", local_resync)
 * deletes every record it pulled, so that nothing of a location it lost
 * stays in its file (the name is gone from file and WAL once
 * checkpointed); keeps its identity, token, next seq, clock, outbox and
 * attention; shows its unsent ops again on the empty replica; and starts
 * pulling from cursor 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "local.h"
#include "schema.h"

#define NAME "Henriette Elders"

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
  char path[] = "/tmp/test_client_resync.XXXXXX", wal[64], token[80], device[80];
  proto_field_t pf[2], qf[2], cf[1];
  proto_op_t page[3], rec;
  proto_changes_t ch;
  proto_reject_t reject;
  proto_range_t none[1];
  proto_ack_t ack;
  local_ack_result_t res;
  int64_t next_seq, hlc_last;
  local_t *l;
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  snprintf(wal, sizeof(wal), "%s-wal", path);
  l = local_open(path, 0);
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, "tablet"), 0);
  CHECK_EQ_INT(local_meta_set_text(l, "token", "tok-123"), 0);

  /* Pulled: P (seen only at the location about to be lost), Q, a check-in. */
  pf[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR(NAME)}};
  pf[1] = (proto_field_t){5, {.type = PROTO_INT, .u.i = 1700000000000}};
  qf[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR("Quirina Blijft")}};
  qf[1] = pf[1];
  cf[0] = (proto_field_t){1, {.type = PROTO_STR, .u.s = PROTO_STR("present")}};
  page[0] = server_op(1, SCHEMA_PARTICIPANT, "P", NULL, pf, 2);
  page[1] = server_op(2, SCHEMA_PARTICIPANT, "Q", NULL, qf, 2);
  page[2] = server_op(3, SCHEMA_CHECKIN, "S-B", "P", cf, 1);
  memset(&ch, 0, sizeof(ch));
  ch.cursor = 3;
  ch.ops = page;
  ch.nops = 3;
  CHECK_EQ_INT(local_apply_changes(l, &ch, NULL, NULL), 0);

  /* Offline: Q checked in at S-A (seq 1, stays queued) and a refused op
   * (seq 2, kept in attention). */
  memset(&rec, 0, sizeof(rec));
  rec.type = SCHEMA_CHECKIN;
  rec.key = PROTO_STR("S-A");
  rec.key2 = PROTO_STR("Q");
  rec.fields = cf;
  rec.nfields = 1;
  CHECK_EQ_INT(local_record(l, &rec, NULL, NULL, NULL), 0);
  rec.key = PROTO_STR("S-X");
  CHECK_EQ_INT(local_record(l, &rec, NULL, NULL, NULL), 0);
  memset(&reject, 0, sizeof(reject));
  reject.seq = 2;
  reject.code = -PROTO_EOUT_OF_SCOPE;
  memset(&ack, 0, sizeof(ack));
  ack.ranges = none;
  ack.nrejects = 1;
  ack.rejects = &reject;
  CHECK_EQ_INT(local_apply_ack(l, &ack, &res), 0);
  snprintf(device, sizeof(device), "%s", local_device(l));
  next_seq = local_meta_int(l, "next_seq", 0);
  hlc_last = local_meta_int(l, "hlc_last", 0);
  CHECK_EQ_INT(next_seq, 3);
  CHECK(file_has(path, NAME) || file_has(wal, NAME));

  CHECK_EQ_INT(local_resync(l), 0);

  /* Nothing pulled is left, its bytes neither; the cursor starts over. */
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM participants"), 0);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM checkins WHERE session = 'S-B'"), 0);
  CHECK_EQ_INT((int64_t)local_cursor(l), 0);
  CHECK(!file_has(path, NAME));
  CHECK(!file_has(wal, NAME));
  /* Its own state stays, and its unsent check-in is shown again. */
  CHECK_EQ_STR(local_device(l), device);
  CHECK_EQ_INT(local_meta_text(l, "token", token, sizeof(token)), 0);
  CHECK_EQ_STR(token, "tok-123");
  CHECK_EQ_INT(local_meta_int(l, "next_seq", 0), next_seq);
  CHECK_EQ_INT(local_meta_int(l, "hlc_last", 0), hlc_last);
  CHECK_EQ_INT(local_outbox_count(l), 1);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM attention WHERE seq = 2"), 1);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM checkins WHERE session = 'S-A' AND "
                            "participant = 'Q'"), 1);

  /* Pulling from 0 continues as for a new tablet. */
  page[0] = server_op(1, SCHEMA_PARTICIPANT, "Q", NULL, qf, 2);
  ch.cursor = 1;
  ch.nops = 1;
  CHECK_EQ_INT(local_apply_changes(l, &ch, NULL, NULL), 0);
  CHECK_EQ_INT(query_int(l, "SELECT count(*) FROM participants"), 1);
  CHECK_EQ_INT((int64_t)local_cursor(l), 1);

  local_close(l);
  unlink(path);
  unlink(wal);
  snprintf(wal, sizeof(wal), "%s-shm", path);
  unlink(wal);
  return 0;
}
