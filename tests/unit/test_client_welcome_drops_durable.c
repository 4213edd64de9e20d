/* A welcome tells the tablet what the server already holds and how wrong
 * its clock is: outbox entries up to `last` are decided but stay in the
 * outbox until their ack or refusal arrives again (one may have been
 * refused in an ack that was lost), the offset corrects every later
 * timestamp, the token and organisation are stored, and new ops never
 * reuse a seq the server has. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hlc.h"
#include "local.h"
#include "schema.h"

static uint64_t record_log(local_t *l, const char *session) {
  const schema_type_t *t = schema_type(SCHEMA_SESSION_LOG);
  proto_field_t f = {0, {.type = PROTO_INT}};
  proto_op_t op;
  uint64_t seq = 0;
  for (uint32_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, "headcount") == 0)
      f.id = t->fields[i].id;
  f.value.u.i = 5;
  memset(&op, 0, sizeof(op));
  op.type = SCHEMA_SESSION_LOG;
  op.key = proto_str(session);
  op.fields = &f;
  op.nfields = 1;
  CHECK_EQ_INT(local_record(l, &op, NULL, NULL, &seq), 0);
  return seq;
}

int main(void) {
  char path[] = "/tmp/test_client_welcome.XXXXXX";
  const int64_t year = INT64_C(365) * 24 * 3600 * 1000;
  proto_welcome_t w;
  local_batch_t batch;
  char text[128];
  local_t *l;
  int64_t before, now;
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  /* A tablet whose clock is a year ahead. */
  l = local_open(path, year);
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, "skewed"), 0);
  before = local_now(l);
  for (int i = 0; i < 4; i++)
    record_log(l, "s1");
  CHECK_EQ_INT(local_outbox_count(l), 4);

  memset(&w, 0, sizeof(w));
  w.version = PROTO_VERSION;
  w.offset_ms = -year;
  w.last_seq = 2;
  w.token = PROTO_STR("tok-123");
  w.org = PROTO_STR("Buurtwerk");
  CHECK_EQ_INT(local_apply_welcome(l, &w), 0);

  CHECK_EQ_INT(local_outbox_count(l), 4);
  CHECK_EQ_INT(local_outbox_load(l, 0, 10, &batch), 0);
  CHECK_EQ_INT(batch.ops[0].seq, 1);
  local_batch_dispose(&batch);
  CHECK_EQ_INT(local_meta_text(l, "token", text, sizeof(text)), 0);
  CHECK_EQ_STR(text, "tok-123");
  CHECK_EQ_INT(local_meta_text(l, "org", text, sizeof(text)), 0);
  CHECK_EQ_STR(text, "Buurtwerk");
  /* Corrected: a year earlier than before the welcome. */
  now = local_now(l);
  CHECK(now < before - year / 2);
  CHECK(local_device_clock(l) - now > year / 2);

  /* A welcome without a token (an ordinary reconnect) keeps the token. */
  w.token = PROTO_STR("");
  CHECK_EQ_INT(local_apply_welcome(l, &w), 0);
  CHECK_EQ_INT(local_meta_text(l, "token", text, sizeof(text)), 0);
  CHECK_EQ_STR(text, "tok-123");

  /* The server holds more than this file knows (an old copy restored): the
   * next op must take a seq after the server's, never reuse one. */
  w.last_seq = 10;
  CHECK_EQ_INT(local_apply_welcome(l, &w), 0);
  CHECK_EQ_INT(local_outbox_count(l), 4);
  CHECK_EQ_INT(record_log(l, "s1"), 11);

  /* A server restored from an older backup: its head is below this file's
   * cursor, so the tablet pulls everything again. */
  CHECK_EQ_INT(local_meta_set_text(l, "cursor", "50"), 0);
  CHECK_EQ_INT(local_cursor(l), 50);
  w.head = 20;
  CHECK_EQ_INT(local_apply_welcome(l, &w), 0);
  CHECK_EQ_INT(local_cursor(l), 0);
  w.head = 60; /* and a head above the cursor leaves it be */
  CHECK_EQ_INT(local_meta_set_text(l, "cursor", "50"), 0);
  CHECK_EQ_INT(local_apply_welcome(l, &w), 0);
  CHECK_EQ_INT(local_cursor(l), 50);

  local_close(l);
  unlink(path);
  snprintf(text, sizeof(text), "%s-wal", path);
  unlink(text);
  snprintf(text, sizeof(text), "%s-shm", path);
  unlink(text);
  return 0;
}
