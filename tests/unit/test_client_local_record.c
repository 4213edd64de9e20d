/* Recording on a tablet works with no server: each op is applied to the
 * local replica and queued in the outbox in one transaction, with the next
 * device_seq, a growing HLC and the current cursor as base; the stored
 * fields go out verbatim; a refused op leaves no trace; everything survives
 * closing and reopening the file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "local.h"
#include "schema.h"

static uint8_t field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  abort();
}

static int record_checkin(local_t *l, const char *session, const char *person,
                          const char *status, uint64_t *seq) {
  proto_field_t f = {field_id(SCHEMA_CHECKIN, "status"), {.type = PROTO_STR}};
  proto_op_t op;
  f.value.u.s = proto_str(status);
  memset(&op, 0, sizeof(op));
  op.type = SCHEMA_CHECKIN;
  op.key = proto_str(session);
  op.key2 = proto_str(person);
  op.fields = &f;
  op.nfields = 1;
  return local_record(l, &op, NULL, NULL, seq);
}

static int64_t count(local_t *l, const char *sql) {
  sqlite3_stmt *st;
  int64_t n = -1;
  CHECK(sqlite3_prepare_v2(local_db(l), sql, -1, &st, NULL) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void remove_db(const char *path) {
  char p[512];
  unlink(path);
  snprintf(p, sizeof(p), "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof(p), "%s-shm", path);
  unlink(p);
}

int main(void) {
  char path[] = "/tmp/test_client_local_record.XXXXXX";
  local_batch_t batch;
  uint64_t seq = 0;
  local_t *l;
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path); /* local_open creates it */

  l = local_open(path, 0);
  CHECK(l != NULL);
  /* Without an identity nothing can be recorded. */
  CHECK_EQ_INT(record_checkin(l, "s1", "p1", "present", &seq), PROTO_EINVALID_OP);
  CHECK_EQ_INT(local_ensure_device(l, "tablet one"), 0);
  CHECK_EQ_INT(strlen(local_device(l)), LOCAL_UUID_LEN);
  CHECK_EQ_INT(local_device(l)[14], '7'); /* UUIDv7 */

  CHECK_EQ_INT(record_checkin(l, "s1", "p1", "present", &seq), 0);
  CHECK_EQ_INT(seq, 1);
  CHECK_EQ_INT(record_checkin(l, "s1", "p2", "absent", &seq), 0);
  CHECK_EQ_INT(seq, 2);
  CHECK_EQ_INT(record_checkin(l, "s1", "p1", "excused", &seq), 0);
  CHECK_EQ_INT(seq, 3);
  CHECK_EQ_INT(local_outbox_count(l), 3);
  CHECK_EQ_INT(local_outbox_count_after(l, 1), 2);

  /* Applied locally at once: the last write of p1 wins on this tablet. */
  CHECK_EQ_INT(count(l, "SELECT COUNT(*) FROM checkins WHERE status = 'excused' "
                        "AND participant = 'p1'"),
               1);
  CHECK_EQ_INT(count(l, "SELECT COUNT(*) FROM checkins"), 2);

  /* A value outside the schema is refused and leaves no trace. */
  CHECK_EQ_INT(record_checkin(l, "s1", "p3", "sleeping", &seq), PROTO_EINVALID_OP);
  CHECK_EQ_INT(local_outbox_count(l), 3);
  CHECK_EQ_INT(count(l, "SELECT COUNT(*) FROM checkins WHERE participant = 'p3'"), 0);

  /* The outbox loads in seq order, with growing HLCs, base = cursor 0 and
   * fields that decode to what was recorded. */
  CHECK_EQ_INT(local_outbox_load(l, 0, 2, &batch), 0);
  CHECK_EQ_INT(batch.nops, 2);
  CHECK_EQ_INT(batch.ops[0].seq, 1);
  CHECK_EQ_INT(batch.ops[1].seq, 2);
  CHECK(batch.ops[0].hlc < batch.ops[1].hlc);
  CHECK_EQ_INT(batch.ops[0].base, 0);
  CHECK_EQ_INT(batch.ops[1].type, SCHEMA_CHECKIN);
  CHECK(proto_str_eq(batch.ops[1].key, proto_str("s1")));
  CHECK(proto_str_eq(batch.ops[1].key2, proto_str("p2")));
  CHECK_EQ_INT(batch.ops[1].device.len, 0); /* the connection's device */
  {
    proto_op_t copy = batch.ops[1];
    void *mem = NULL;
    CHECK_EQ_INT(proto_decode_fields(copy.fields_raw.ptr, copy.fields_raw.len, &copy, &mem), 0);
    CHECK_EQ_INT(copy.nfields, 1);
    CHECK_EQ_INT(copy.fields[0].id, field_id(SCHEMA_CHECKIN, "status"));
    CHECK(proto_str_eq(copy.fields[0].value.u.s, proto_str("absent")));
    free(mem);
  }
  local_batch_dispose(&batch);
  CHECK_EQ_INT(local_outbox_load(l, 2, 500, &batch), 0);
  CHECK_EQ_INT(batch.nops, 1);
  CHECK_EQ_INT(batch.ops[0].seq, 3);
  local_batch_dispose(&batch);

  /* Durable across reopening: same device, outbox, and seq continues. */
  {
    char device[LOCAL_UUID_LEN + 1], name[64];
    snprintf(device, sizeof(device), "%s", local_device(l));
    local_close(l);
    l = local_open(path, 0);
    CHECK(l != NULL);
    CHECK_EQ_STR(local_device(l), device);
    CHECK_EQ_INT(local_meta_text(l, "name", name, sizeof(name)), 0);
    CHECK_EQ_STR(name, "tablet one");
  }
  CHECK_EQ_INT(local_outbox_count(l), 3);
  CHECK_EQ_INT(record_checkin(l, "s2", "p1", "present", &seq), 0);
  CHECK_EQ_INT(seq, 4);

  local_close(l);
  remove_db(path);
  return 0;
}
