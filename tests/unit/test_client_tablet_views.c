/* What the teacher types and reads: sessions found by the start of any word
 * of their activity's name ("dance" finds "Time to Dance") but only when
 * that names one session today, people by their full name in any case;
 * `sessions` and `attendance` in their fixed formats and order; tallies
 * carrying the tablet's absolute count; and views that depend only on the
 * data, so two tablets holding the same ops print the same text. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hlc.h"
#include "local.h"
#include "schema.h"
#include "tablet.h"
#include "zone.h"

#define MAX_OPS 16

typedef struct {
  proto_op_t ops[MAX_OPS];
  proto_field_t fields[MAX_OPS][4];
  uint32_t n;
} script_t;

static uint8_t field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  abort();
}

static proto_op_t *add_op(script_t *s, uint8_t type, const char *key) {
  proto_op_t *op = &s->ops[s->n];
  memset(op, 0, sizeof(*op));
  op->device = PROTO_STR("server");
  op->seq = s->n + 1;
  op->server_seq = s->n + 1;
  op->hlc = HLC_MAKE(1700000000000 + s->n, 0);
  op->type = type;
  op->key = proto_str(key);
  op->fields = s->fields[s->n];
  s->n++;
  return op;
}

static void set_str(proto_op_t *op, const char *name, const char *v) {
  proto_field_t *f = &op->fields[op->nfields++];
  f->id = field_id(op->type, name);
  f->value.type = PROTO_STR;
  f->value.u.s = proto_str(v);
}

static void set_int(proto_op_t *op, const char *name, int64_t v) {
  proto_field_t *f = &op->fields[op->nfields++];
  f->id = field_id(op->type, name);
  f->value.type = PROTO_INT;
  f->value.u.i = v;
}

static local_t *open_tablet(char *path) {
  int fd = mkstemp(path);
  local_t *l;
  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  l = local_open(path, 0);
  CHECK(l != NULL);
  CHECK_EQ_INT(local_ensure_device(l, "tablet"), 0);
  return l;
}

static void remove_db(const char *path) {
  char p[128];
  unlink(path);
  snprintf(p, sizeof(p), "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof(p), "%s-shm", path);
  unlink(p);
}

/* Applies the script's ops one page each, in the order given. */
static void apply_in_order(local_t *l, script_t *s, const uint32_t *order) {
  for (uint32_t i = 0; i < s->n; i++) {
    proto_changes_t page;
    memset(&page, 0, sizeof(page));
    page.from = i;
    page.cursor = i + 1;
    page.ops = &s->ops[order[i]];
    page.nops = 1;
    CHECK_EQ_INT(local_apply_changes(l, &page, NULL, NULL), 0);
  }
}

typedef int (*view_fn)(local_t *, FILE *);

static char *capture(local_t *l, view_fn fn) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f != NULL);
  CHECK_EQ_INT(fn(l, f), 0);
  fclose(f);
  return buf;
}

static int attendance_all(local_t *l, FILE *f) { return tablet_print_attendance(l, NULL, f); }

int main(void) {
  char path_a[] = "/tmp/test_client_views_a.XXXXXX";
  char path_b[] = "/tmp/test_client_views_b.XXXXXX";
  char today[11], id[TABLET_ID_SIZE], walkin[TABLET_ID_SIZE], dance[80], koffie[80];
  char expect[1024], hhmm[6];
  uint32_t forward[MAX_OPS], backward[MAX_OPS];
  script_t s;
  local_t *a, *b;
  proto_op_t *op;
  int64_t count;
  char *text;

  a = open_tablet(path_a);
  b = open_tablet(path_b);
  /* Today and the times shown are the organisation's (its welcome's tz),
   * whatever zone this process runs in: Kathmandu is 5:45 east of UTC. */
  CHECK_EQ_INT(local_meta_set_text(a, "tz", "Asia/Kathmandu"), 0);
  CHECK_EQ_INT(local_meta_set_text(b, "tz", "Asia/Kathmandu"), 0);
  const zone_t *kathmandu = zone_cached("Asia/Kathmandu");
  CHECK(kathmandu != NULL);
  tablet_today(a, today);
  {
    char want[11];
    zone_date(kathmandu, local_now(a), want);
    CHECK_EQ_STR(today, want);
  }
  snprintf(dance, sizeof(dance), "dance-%s", today);
  snprintf(koffie, sizeof(koffie), "koffie-%s", today);

  memset(&s, 0, sizeof(s));
  op = add_op(&s, SCHEMA_ACTIVITY, "act-dance");
  set_str(op, "location", "loc");
  set_str(op, "name", "Time to Dance");
  set_str(op, "start_time", "10:00");
  op = add_op(&s, SCHEMA_ACTIVITY, "act-koffie");
  set_str(op, "location", "loc");
  set_str(op, "name", "Koffieochtend");
  set_str(op, "start_time", "09:30");
  op = add_op(&s, SCHEMA_ACTIVITY, "act-dansen");
  set_str(op, "location", "loc");
  set_str(op, "name", "Dansen op woensdag");
  op = add_op(&s, SCHEMA_SESSION, dance);
  set_str(op, "activity", "act-dance");
  set_str(op, "date", today);
  op = add_op(&s, SCHEMA_SESSION, koffie);
  set_str(op, "activity", "act-koffie");
  set_str(op, "date", today);
  op = add_op(&s, SCHEMA_SESSION, "dansen-2001-01-03"); /* not today */
  set_str(op, "activity", "act-dansen");
  set_str(op, "date", "2001-01-03");
  set_str(op, "start_time", "14:00");
  op = add_op(&s, SCHEMA_PARTICIPANT, "p-joop");
  set_str(op, "name", "Joop de Vries");
  set_int(op, "first_seen", 1700000000000);
  op = add_op(&s, SCHEMA_PARTICIPANT, "p-anneke");
  set_str(op, "name", "Anneke Bakker");
  set_int(op, "first_seen", 1700000000000);
  op = add_op(&s, SCHEMA_CHECKIN, dance);
  op->key2 = PROTO_STR("p-anneke");
  set_str(op, "status", "absent");
  for (uint32_t i = 0; i < s.n; i++) {
    forward[i] = i;
    backward[i] = s.n - 1 - i;
  }
  apply_in_order(a, &s, forward);
  apply_in_order(b, &s, backward);

  /* Lookups. */
  CHECK_EQ_INT(tablet_find_session(a, "dance", id), 0);
  CHECK_EQ_STR(id, dance);
  CHECK_EQ_INT(tablet_find_session(a, "TIME TO", id), 0);
  CHECK_EQ_STR(id, dance);
  CHECK_EQ_INT(tablet_find_session(a, "koffie", id), 0);
  CHECK_EQ_STR(id, koffie);
  /* "dansen" is not held today; an id works whatever the date. */
  CHECK_EQ_INT(tablet_find_session(a, "dansen", id), PROTO_EBAD_FIELD);
  CHECK_EQ_INT(tablet_find_session(a, "dansen-2001-01-03", id), 0);
  CHECK_EQ_INT(tablet_find_session(a, "ochtend", id), PROTO_EBAD_FIELD);
  /* Activities are not limited to today: "da" is both Dance and Dansen. */
  CHECK_EQ_INT(tablet_find_activity(a, "da", id), PROTO_EBAD_FIELD);
  CHECK_EQ_INT(tablet_find_activity(a, "dans", id), 0);
  CHECK_EQ_STR(id, "act-dansen");
  CHECK_EQ_INT(tablet_find_person(a, "JOOP DE VRIES", id), 0);
  CHECK_EQ_STR(id, "p-joop");
  CHECK_EQ_INT(tablet_find_person(a, "joop", id), PROTO_EBAD_FIELD);

  /* Sessions: by time, then name; headcount = present + tallied. */
  snprintf(expect, sizeof(expect), "%s\t09:30\tKoffieochtend\t0\n%s\t10:00\tTime to Dance\t0\n",
           koffie, dance);
  text = capture(a, tablet_print_sessions);
  CHECK_EQ_STR(text, expect);
  free(text);

  /* Recording on a. */
  CHECK_EQ_INT(tablet_checkin(a, dance, "p-joop"), 0);
  CHECK_EQ_INT(tablet_walkin(a, dance, "Zeynep Kaya", "wijkteam", NULL, walkin), 0);
  CHECK_EQ_INT(local_outbox_count(a), 3); /* check-in, participant, its check-in */
  CHECK_EQ_INT(tablet_tally(a, dance, 3, &count), 0);
  CHECK_EQ_INT(count, 3);
  CHECK_EQ_INT(tablet_tally(a, dance, -1, &count), 0);
  CHECK_EQ_INT(count, 2);
  CHECK_EQ_INT(tablet_tally(a, dance, -5, &count), PROTO_EBAD_FIELD);
  CHECK_EQ_INT(local_outbox_count(a), 5);
  {
    /* The op carries the absolute count, not the step. */
    local_batch_t batch;
    proto_op_t copy;
    void *mem = NULL;
    CHECK_EQ_INT(local_outbox_load(a, 4, 1, &batch), 0);
    copy = batch.ops[0];
    CHECK_EQ_INT(copy.type, SCHEMA_TALLY);
    CHECK_EQ_INT(proto_decode_fields(copy.fields_raw.ptr, copy.fields_raw.len, &copy, &mem), 0);
    CHECK_EQ_INT(copy.fields[0].value.u.i, 2);
    free(mem);
    local_batch_dispose(&batch);
  }

  snprintf(expect, sizeof(expect), "%s\t09:30\tKoffieochtend\t0\n%s\t10:00\tTime to Dance\t4\n",
           koffie, dance);
  text = capture(a, tablet_print_sessions);
  CHECK_EQ_STR(text, expect);
  free(text);

  zone_hhmm(kathmandu, local_now(a), hhmm);
  text = capture(a, attendance_all);
  snprintf(expect, sizeof(expect),
           "09:30 Koffieochtend headcount=0 tally=0\n"
           "10:00 Time to Dance headcount=4 tally=2\n"
           "  Anneke Bakker\tabsent\t-\t-\n"
           "  Joop de Vries\tpresent\t%s\t-\n"
           "  Zeynep Kaya\tpresent\t%s\t-\n",
           hhmm, hhmm);
  /* The minute may turn between recording and reading. */
  if (strcmp(text, expect) != 0)
    fprintf(stderr, "attendance:\n%s", text);
  CHECK(strncmp(text, expect, strlen("09:30 Koffieochtend headcount=0 tally=0\n"
                                     "10:00 Time to Dance headcount=4 tally=2\n"
                                     "  Anneke Bakker\tabsent\t-\t-\n  Joop de Vries\tpresent\t")) ==
        0);
  free(text);

  /* People by name, the walk-in among them. */
  text = capture(a, tablet_print_people);
  snprintf(expect, sizeof(expect),
           "p-anneke\tAnneke Bakker\np-joop\tJoop de Vries\n%s\tZeynep Kaya\n", walkin);
  CHECK_EQ_STR(text, expect);
  free(text);

  {
    /* b, holding the script in reverse order, matches a fresh replay of the
     * script in order: the dump depends on the data only. */
    char path_c[] = "/tmp/test_client_views_c.XXXXXX";
    local_t *c = open_tablet(path_c);
    char *dc, *db;
    /* Same zone as b, or c's today is another date for part of the day. */
    CHECK_EQ_INT(local_meta_set_text(c, "tz", "Asia/Kathmandu"), 0);
    apply_in_order(c, &s, forward);
    dc = capture(c, tablet_print_dump);
    db = capture(b, tablet_print_dump);
    CHECK_EQ_STR(dc, db);
    CHECK(strstr(dc, "activities\tact-dansen\tloc\tDansen op woensdag\t\\N\t\\N\n") != NULL);
    free(dc);
    free(db);
    dc = capture(c, attendance_all);
    db = capture(b, attendance_all);
    CHECK_EQ_STR(dc, db);
    free(dc);
    free(db);
    local_close(c);
    remove_db(path_c);
  }

  /* Undone (status nil): Joop is not checked in, which is not absent; he
   * leaves the list and the headcount, and nothing prints "null". */
  CHECK_EQ_INT(tablet_set_status(a, dance, "p-joop", NULL), 0);
  text = capture(a, attendance_all);
  CHECK(strstr(text, "10:00 Time to Dance headcount=3 tally=2\n  Anneke Bakker\tabsent\t-\t-\n"
                     "  Zeynep Kaya\tpresent\t") != NULL);
  CHECK(strstr(text, "Joop") == NULL && strstr(text, "null") == NULL);
  free(text);
  snprintf(expect, sizeof(expect), "%s\t09:30\tKoffieochtend\t0\n%s\t10:00\tTime to Dance\t3\n",
           koffie, dance);
  text = capture(a, tablet_print_sessions);
  CHECK_EQ_STR(text, expect);
  free(text);

  local_close(a);
  local_close(b);
  remove_db(path_a);
  remove_db(path_b);
  return 0;
}
