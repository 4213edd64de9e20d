/* A tablet whose clock ran a year ahead keeps issuing monotonic HLCs while
 * any of its ops still waits in the outbox (so its own later writes keep
 * beating its earlier ones); once the outbox is empty and the server's
 * offset is known, its HLC settles back to the corrected clock. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hlc.h"
#include "local.h"
#include "schema.h"

static uint64_t record(local_t *l) {
  const schema_type_t *t = schema_type(SCHEMA_LOCATION);
  proto_field_t f = {t->fields[0].id, {.type = PROTO_STR}};
  proto_op_t op;
  local_batch_t batch;
  uint64_t seq, hlc;
  f.value.u.s = PROTO_STR("Huis van de Wijk");
  memset(&op, 0, sizeof(op));
  op.type = SCHEMA_LOCATION;
  op.key = PROTO_STR("loc1");
  op.fields = &f;
  op.nfields = 1;
  CHECK_EQ_INT(local_record(l, &op, NULL, NULL, &seq), 0);
  CHECK_EQ_INT(local_outbox_load(l, seq - 1, 1, &batch), 0);
  CHECK_EQ_INT(batch.nops, 1);
  hlc = batch.ops[0].hlc;
  local_batch_dispose(&batch);
  return hlc;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void) {
  char path[] = "/tmp/test_client_settle.XXXXXX";
  const int64_t year = INT64_C(365) * 24 * 3600 * 1000;
  proto_welcome_t w;
  proto_range_t all = {1, 1000};
  proto_ack_t ack;
  local_ack_result_t res;
  uint64_t h1, h2, h3;
  local_t *l;
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  l = local_open(path, year);
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, NULL), 0);
  h1 = record(l);
  CHECK(HLC_MS(h1) > wall_ms() + year / 2);

  /* The server tells us the offset, but an op still waits: stay ahead. */
  memset(&w, 0, sizeof(w));
  w.offset_ms = -year;
  CHECK_EQ_INT(local_apply_welcome(l, &w), 0);
  h2 = record(l);
  CHECK(h2 > h1);
  CHECK_EQ_INT(local_settle_clock(l), 0);
  CHECK(record(l) > h2);

  /* Everything acked: now it settles to the corrected clock. */
  memset(&ack, 0, sizeof(ack));
  ack.nranges = 1;
  ack.ranges = &all;
  CHECK_EQ_INT(local_apply_ack(l, &ack, &res), 0);
  CHECK_EQ_INT(res.acked, 3);
  CHECK_EQ_INT(local_settle_clock(l), 0);
  h3 = record(l);
  CHECK(HLC_MS(h3) <= wall_ms() + 1000);
  CHECK(HLC_MS(h3) >= wall_ms() - 60000);

  local_close(l);
  unlink(path);
  {
    char p[64];
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
  }
  return 0;
}
