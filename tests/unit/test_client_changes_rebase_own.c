/* Pulled pages are applied only when they continue from the local cursor,
 * in one transaction with the cursor. The tablet's own ops come back with
 * the HLC the server gave them (bounded when the tablet's clock ran a year
 * ahead); the tablet rebases them and ends with exactly the server's
 * decision, so a genuinely later write from another device wins here too. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hlc.h"
#include "local.h"
#include "schema.h"

static uint8_t field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  abort();
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A committed op setting one string field. f must outlive op. */
static proto_op_t status_op(proto_field_t *f, const char *device, uint64_t seq, uint64_t hlc,
                            uint64_t server_seq, const char *status) {
  proto_op_t op;
  memset(&op, 0, sizeof(op));
  f->id = field_id(SCHEMA_CHECKIN, "status");
  f->value.type = PROTO_STR;
  f->value.u.s = proto_str(status);
  op.device = proto_str(device);
  op.seq = seq;
  op.hlc = hlc;
  op.server_seq = server_seq;
  op.type = SCHEMA_CHECKIN;
  op.key = PROTO_STR("s1");
  op.key2 = PROTO_STR("p1");
  op.fields = f;
  op.nfields = 1;
  return op;
}

static char *query_text(local_t *l, const char *sql) {
  sqlite3_stmt *st;
  char *s = NULL;
  CHECK(sqlite3_prepare_v2(local_db(l), sql, -1, &st, NULL) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    s = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  CHECK(s != NULL);
  return s;
}

static void check_status(local_t *l, const char *want) {
  char *got = query_text(l, "SELECT status FROM checkins WHERE session = 's1' "
                            "AND participant = 'p1'");
  CHECK_EQ_STR(got, want);
  free(got);
}

typedef struct {
  int calls, own;
} seen_t;

static void on_op(void *arg, const proto_op_t *op, bool own) {
  seen_t *seen = arg;
  (void)op;
  seen->calls++;
  seen->own += own;
}

int main(void) {
  char path[] = "/tmp/test_client_changes.XXXXXX";
  const int64_t year = INT64_C(365) * 24 * 3600 * 1000;
  char me[LOCAL_UUID_LEN + 1];
  proto_field_t f[4];
  proto_op_t ops[4];
  proto_changes_t page;
  seen_t seen = {0, 0};
  local_t *l;
  uint64_t own_hlc;
  int64_t now = wall_ms();
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  l = local_open(path, year); /* clock a year ahead, offset still 0 */
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, NULL), 0);
  snprintf(me, sizeof(me), "%s", local_device(l));

  /* Another tablet's check-in arrives: applied, cursor moves. */
  ops[0] = status_op(&f[0], "other", 1, HLC_MAKE(now - 5000, 0), 1, "absent");
  memset(&page, 0, sizeof(page));
  page.from = 0;
  page.cursor = 1;
  page.ops = ops;
  page.nops = 1;
  CHECK_EQ_INT(local_apply_changes(l, &page, on_op, &seen), 0);
  CHECK_EQ_INT(local_cursor(l), 1);
  CHECK_EQ_INT(seen.calls, 1);
  CHECK_EQ_INT(seen.own, 0);
  check_status(l, "absent");

  /* A page that does not continue from the cursor is refused whole. */
  ops[0] = status_op(&f[0], "other", 2, HLC_MAKE(now - 4000, 0), 7, "excused");
  page.from = 6;
  page.cursor = 7;
  CHECK_EQ_INT(local_apply_changes(l, &page, on_op, &seen), LOCAL_STALE);
  CHECK_EQ_INT(local_cursor(l), 1);
  CHECK_EQ_INT(seen.calls, 1);
  check_status(l, "absent");

  /* Offline, a year ahead: our "excused" beats everything locally. */
  {
    proto_field_t mine = {field_id(SCHEMA_CHECKIN, "status"), {.type = PROTO_STR}};
    proto_op_t op;
    local_batch_t batch;
    mine.value.u.s = PROTO_STR("excused");
    memset(&op, 0, sizeof(op));
    op.type = SCHEMA_CHECKIN;
    op.key = PROTO_STR("s1");
    op.key2 = PROTO_STR("p1");
    op.fields = &mine;
    op.nfields = 1;
    CHECK_EQ_INT(local_record(l, &op, NULL, NULL, NULL), 0);
    CHECK_EQ_INT(local_outbox_load(l, 0, 1, &batch), 0);
    own_hlc = batch.ops[0].hlc;
    CHECK_EQ_INT(batch.ops[0].base, 1);
    local_batch_dispose(&batch);
    CHECK(HLC_MS(own_hlc) > now + year / 2);
  }
  check_status(l, "excused");

  /* The server bounded our op to its own clock (server_seq 2), then took a
   * genuinely later "present" from another tablet (server_seq 3). Our page
   * brings both; we must end where the server is. */
  ops[0] = status_op(&f[0], me, 1, HLC_MAKE(now, 3), 2, "excused");
  ops[1] = status_op(&f[1], "other", 2, HLC_MAKE(now + 50, 0), 3, "present");
  page.from = 1;
  page.cursor = 3;
  page.nops = 2;
  seen.calls = seen.own = 0;
  CHECK_EQ_INT(local_apply_changes(l, &page, on_op, &seen), 0);
  CHECK_EQ_INT(seen.calls, 2);
  CHECK_EQ_INT(seen.own, 1);
  CHECK_EQ_INT(local_cursor(l), 3);
  check_status(l, "present");
  {
    /* The field clock is the server's, not the year-ahead one. */
    char *hlc = query_text(l, "SELECT hlc FROM field_clocks WHERE rtype = 5 AND k = 's1'");
    CHECK_EQ_INT(strtoull(hlc, NULL, 10), HLC_MAKE(now + 50, 0));
    free(hlc);
  }

  /* Applying the same page again (after a lost reply) changes nothing. */
  page.from = 3;
  page.cursor = 3;
  page.nops = 0;
  CHECK_EQ_INT(local_apply_changes(l, &page, NULL, NULL), 0);
  CHECK_EQ_INT(local_cursor(l), 3);
  check_status(l, "present");

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
