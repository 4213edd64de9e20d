/* test_replica_merge_duplicates.c — a coordinator merges duplicate
 * participants by setting merged_into; every replica must end with the same
 * tables whatever order the merge, the check-ins and later re-merges arrive
 * in: one check-in per (session, canonical participant), status by LWW,
 * earliest arrival, latest departure. Each scenario is applied in every
 * order of its ops, each order into its own organisation of one database,
 * and every organisation's tables must equal the expected ones. */
#include "test_store_util.h"

/* checkin fields */
#define STATUS 1
#define ARRIVED 2
#define DEPARTED 3
/* participant fields */
#define NAME 1
#define FIRST_SEEN 5
#define MERGED_INTO 6

#define MAX_OPS 7

typedef struct {
  proto_op_t ops[MAX_OPS];
  proto_field_t fields[MAX_OPS][3];
  int nops;
} scenario_t;

static void add(scenario_t *sc, const char *device, uint64_t seq, int64_t ms, uint8_t type,
                const char *key, const char *key2, int nfields) {
  sc->ops[sc->nops] = tu_op(device, seq, HLC_MAKE(ms, 0), type, key, key2, sc->fields[sc->nops],
                            (uint32_t)nfields);
  sc->ops[sc->nops].server_seq = (uint64_t)sc->nops + 1;
  sc->nops++;
}

/* Everything a reader sees of org, in one string: merged check-ins,
 * participants and (for good measure) the sources and field clocks. */
static void dump(sqlite3 *db, int64_t org, char *out, size_t size) {
  tu_qtext(db, out, size,
           "SELECT (SELECT group_concat(x, ';') FROM (SELECT session || '/' || participant || '/' "
           "|| COALESCE(status, '-') || '/' || COALESCE(arrived, '-') || '/' || "
           "COALESCE(departed, '-') AS x FROM checkins WHERE org = %lld ORDER BY session, "
           "participant)) || ' | ' || "
           "(SELECT group_concat(x, ';') FROM (SELECT id || '/' || COALESCE(merged_into, '-') AS "
           "x FROM participants WHERE org = %lld ORDER BY id)) || ' | ' || "
           "(SELECT group_concat(x, ';') FROM (SELECT session || '/' || participant || '/' || "
           "COALESCE(status, '-') AS x FROM checkin_sources WHERE org = %lld ORDER BY session, "
           "participant)) || ' | ' || "
           "(SELECT count(*) || '/' || sum(hlc) FROM field_clocks WHERE org = %lld)",
           (long long)org, (long long)org, (long long)org, (long long)org);
}

static bool next_permutation(int *a, int n) {
  int i = n - 2, j = n - 1, t;
  while (i >= 0 && a[i] >= a[i + 1])
    i--;
  if (i < 0)
    return false;
  while (a[j] <= a[i])
    j--;
  t = a[i], a[i] = a[j], a[j] = t;
  for (int l = i + 1, r = n - 1; l < r; l++, r--)
    t = a[l], a[l] = a[r], a[r] = t;
  return true;
}

/* Applies every order of sc's ops, each into a fresh organisation starting
 * at *org; each must dump exactly `want_checkins` for its check-ins and the
 * same full dump as the first order. Returns the number of orders. */
static int every_order(sqlite3 *db, replica_t *r, scenario_t *sc, int64_t *org,
                       const char *want_checkins) {
  int perm[MAX_OPS], orders = 0;
  char first[2048] = "", got[2048], checkins[1024];

  for (int i = 0; i < sc->nops; i++)
    perm[i] = i;
  do {
    int64_t o = (*org)++;
    for (int i = 0; i < sc->nops; i++)
      CHECK_EQ_INT(replica_apply(r, o, &sc->ops[perm[i]]), 0);
    tu_qtext(db, checkins, sizeof(checkins),
             "SELECT group_concat(x, ';') FROM (SELECT session || '/' || participant || '/' "
             "|| COALESCE(status, '-') || '/' || COALESCE(arrived, '-') || '/' || "
             "COALESCE(departed, '-') AS x FROM checkins WHERE org = %lld ORDER BY session, "
             "participant)",
             (long long)o);
    CHECK_EQ_STR(checkins, want_checkins);
    dump(db, o, got, sizeof(got));
    if (orders == 0)
      snprintf(first, sizeof(first), "%s", got);
    else
      CHECK_EQ_STR(got, first);
    orders++;
  } while (next_permutation(perm, sc->nops));
  return orders;
}

int main(void) {
  char dir[64], path[128];
  replica_options_t opts = {.log_conflicts = true};
  scenario_t sc;
  sqlite3 *db;
  replica_t *r;
  int64_t org = 1;

  tu_mkdtemp(dir);
  tu_path(path, dir, "replica.db");
  db = tu_replica_db(path);
  r = replica_open(db, &opts);
  CHECK(r != NULL);
  /* Thousands of orders: one transaction, as the server's group commit
   * would, instead of a sync per op. */
  tu_exec(db, "BEGIN");

  /* 1. Two tablets each add the same walk-in offline (pA, pB) and check her
   * in; the coordinator merges pA into pB. One check-in per session is left,
   * with tabB's later status, tabA's earlier arrival and tabB's departure. */
  memset(&sc, 0, sizeof(sc));
  sc.fields[0][0] = tu_fstr(NAME, "Nieuwe Buurvrouw");
  sc.fields[0][1] = tu_fint(FIRST_SEEN, 1000);
  add(&sc, "tabA", 1, 1000, SCHEMA_PARTICIPANT, "pA", NULL, 2);
  sc.fields[1][0] = tu_fstr(NAME, "nieuwe buurvrouw");
  sc.fields[1][1] = tu_fint(FIRST_SEEN, 1100);
  add(&sc, "tabB", 1, 1100, SCHEMA_PARTICIPANT, "pB", NULL, 2);
  sc.fields[2][0] = tu_fstr(STATUS, "present");
  sc.fields[2][1] = tu_fint(ARRIVED, 1000);
  add(&sc, "tabA", 2, 1001, SCHEMA_CHECKIN, "S1", "pA", 2);
  sc.fields[3][0] = tu_fstr(STATUS, "present");
  sc.fields[3][1] = tu_fint(ARRIVED, 1100);
  sc.fields[3][2] = tu_fint(DEPARTED, 5000);
  add(&sc, "tabB", 2, 1101, SCHEMA_CHECKIN, "S1", "pB", 3);
  sc.fields[4][0] = tu_fstr(STATUS, "excused");
  add(&sc, "tabB", 3, 1200, SCHEMA_CHECKIN, "S1", "pB", 1);
  sc.fields[5][0] = tu_fstr(MERGED_INTO, "pB");
  add(&sc, "server", 1, 2000, SCHEMA_PARTICIPANT, "pA", NULL, 1);
  sc.fields[6][0] = tu_fstr(STATUS, "absent");
  add(&sc, "tabA", 3, 1300, SCHEMA_CHECKIN, "S2", "pA", 1);
  CHECK_EQ_INT(every_order(db, r, &sc, &org, "S1/pB/excused/1000/5000;S2/pB/absent/-/-"), 5040);

  /* The sources keep whose check-in was whose. */
  CHECK_EQ_INT(tu_qint(db, "SELECT count(*) FROM checkin_sources WHERE org = 1"), 3);

  /* 2. The merge is re-pointed (pA now into pC, a later op) and meanwhile
   * another coordinator merged pB into pA: pB -> pA -> pC, so all three
   * check-ins of S1 become one of pC. */
  memset(&sc, 0, sizeof(sc));
  sc.fields[0][0] = tu_fstr(STATUS, "present");
  sc.fields[0][1] = tu_fint(ARRIVED, 1000);
  add(&sc, "tabA", 1, 1001, SCHEMA_CHECKIN, "S1", "pA", 2);
  sc.fields[1][0] = tu_fstr(STATUS, "absent");
  sc.fields[1][1] = tu_fint(ARRIVED, 900);
  add(&sc, "tabB", 1, 1100, SCHEMA_CHECKIN, "S1", "pB", 2);
  sc.fields[2][0] = tu_fstr(STATUS, "present");
  sc.fields[2][1] = tu_fint(DEPARTED, 7000);
  add(&sc, "tabC", 1, 1050, SCHEMA_CHECKIN, "S1", "pC", 2);
  sc.fields[3][0] = tu_fstr(MERGED_INTO, "pB");
  add(&sc, "server", 1, 2000, SCHEMA_PARTICIPANT, "pA", NULL, 1);
  sc.fields[4][0] = tu_fstr(MERGED_INTO, "pC");
  add(&sc, "server", 2, 3000, SCHEMA_PARTICIPANT, "pA", NULL, 1);
  sc.fields[5][0] = tu_fstr(MERGED_INTO, "pA");
  add(&sc, "tabB", 2, 2500, SCHEMA_PARTICIPANT, "pB", NULL, 1);
  CHECK_EQ_INT(every_order(db, r, &sc, &org, "S1/pC/absent/900/7000"), 720);

  /* 3. A merge undone (merged_into set to nil later): the two check-ins are
   * separate again, each exactly as its tablet recorded it. */
  memset(&sc, 0, sizeof(sc));
  sc.fields[0][0] = tu_fstr(STATUS, "present");
  sc.fields[0][1] = tu_fint(ARRIVED, 1000);
  add(&sc, "tabA", 1, 1001, SCHEMA_CHECKIN, "S1", "pA", 2);
  sc.fields[1][0] = tu_fstr(STATUS, "absent");
  sc.fields[1][1] = tu_fint(ARRIVED, 900);
  add(&sc, "tabB", 1, 1100, SCHEMA_CHECKIN, "S1", "pB", 2);
  sc.fields[2][0] = tu_fstr(MERGED_INTO, "pB");
  add(&sc, "server", 1, 2000, SCHEMA_PARTICIPANT, "pA", NULL, 1);
  sc.fields[3][0] = tu_fnil(MERGED_INTO);
  add(&sc, "server", 2, 3000, SCHEMA_PARTICIPANT, "pA", NULL, 1);
  CHECK_EQ_INT(every_order(db, r, &sc, &org, "S1/pA/present/1000/-;S1/pB/absent/900/-"), 24);

  /* 4. Two coordinators merge each into the other at once: a cycle. The
   * bytewise smallest id of the cycle keeps the check-ins, on every
   * replica. */
  memset(&sc, 0, sizeof(sc));
  sc.fields[0][0] = tu_fstr(STATUS, "present");
  add(&sc, "tabA", 1, 1001, SCHEMA_CHECKIN, "S1", "pB", 1);
  sc.fields[1][0] = tu_fstr(STATUS, "absent");
  add(&sc, "tabB", 1, 1100, SCHEMA_CHECKIN, "S1", "pA", 1);
  sc.fields[2][0] = tu_fstr(MERGED_INTO, "pB");
  add(&sc, "server", 1, 2000, SCHEMA_PARTICIPANT, "pA", NULL, 1);
  sc.fields[3][0] = tu_fstr(MERGED_INTO, "pA");
  add(&sc, "tabC", 1, 2000, SCHEMA_PARTICIPANT, "pB", NULL, 1);
  CHECK_EQ_INT(every_order(db, r, &sc, &org, "S1/pA/absent/-/-"), 24);

  /* Applying everything again changes nothing. */
  {
    sqlite3_int64 before = sqlite3_total_changes64(db);
    for (int i = 0; i < sc.nops; i++)
      CHECK_EQ_INT(replica_apply(r, org - 1, &sc.ops[i]), 0);
    CHECK_EQ_INT(sqlite3_total_changes64(db), before);
  }

  tu_exec(db, "COMMIT");
  replica_close(r);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  tu_rmtree(dir);
  return 0;
}
