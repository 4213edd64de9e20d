/* test_merge_rules.c — the per-field merge rules: each decision of each
 * rule, the conflict flag of last-writer-wins, idempotent re-application, and
 * convergence: applying the same ops in every order ends in the same state. */
#include "check.h"
#include "merge.h"

static proto_value_t vint(int64_t i) {
  proto_value_t v;
  v.type = PROTO_INT;
  v.u.i = i;
  return v;
}

static proto_value_t vstr(const char *s) {
  proto_value_t v;
  v.type = PROTO_STR;
  v.u.s = proto_str(s);
  return v;
}

static proto_value_t vbool(bool b) {
  proto_value_t v;
  v.type = PROTO_BOOL;
  v.u.b = b;
  return v;
}

static proto_value_t vnil(void) {
  proto_value_t v;
  v.type = PROTO_NIL;
  v.u.i = 0;
  return v;
}

static merge_slot_t slot(proto_value_t v, uint64_t hlc, const char *dev,
                         uint64_t seq, uint64_t server_seq) {
  merge_slot_t s;
  s.present = true;
  s.value = v;
  s.hlc = hlc;
  s.device = proto_str(dev);
  s.seq = seq;
  s.server_seq = server_seq;
  return s;
}

static const merge_slot_t absent = {false, {PROTO_NIL, {.i = 0}}, 0, {"", 0},
                                    0, 0};

static merge_decision_t decide(merge_rule_t rule, merge_slot_t cur,
                               merge_slot_t in, uint64_t base, bool *conflict) {
  *conflict = true; /* must be overwritten */
  return merge_field(rule, &cur, &in, base, conflict);
}

#define EXPECT(rule, cur, in, base, want, want_conflict)                 \
  do {                                                                   \
    bool c__;                                                            \
    CHECK_EQ_INT(decide((rule), (cur), (in), (base), &c__), (want));     \
    CHECK_EQ_INT(c__, (want_conflict));                                  \
  } while (0)

static void test_lww_wins(void) {
  proto_str_t a = PROTO_STR("dev-a"), b = PROTO_STR("dev-b");
  CHECK(merge_lww_wins(2, a, 1, b));
  CHECK(!merge_lww_wins(1, b, 2, a));
  /* same clock: the bytewise greater device wins, exactly one of the two */
  CHECK(merge_lww_wins(5, b, 5, a));
  CHECK(!merge_lww_wins(5, a, 5, b));
  CHECK(merge_lww_wins(5, PROTO_STR("dev-ab"), 5, a));
  CHECK(!merge_lww_wins(5, a, 5, a)); /* not later than itself */
  CHECK(merge_lww_wins(UINT64_MAX, a, UINT64_MAX - 1, b));
}

static void test_value_order(void) {
  proto_value_t order[] = {vnil(),        vbool(false), vbool(true),
                           vint(INT64_MIN), vint(-1),   vint(0),
                           vint(INT64_MAX), vstr(""),   vstr("a"),
                           vstr("ab"),    vstr("b"),    vstr("\xc3\xa9")};
  size_t n = sizeof order / sizeof order[0], i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++) {
      int c = merge_value_cmp(&order[i], &order[j]);
      CHECK_EQ_INT(c < 0 ? -1 : c > 0, i < j ? -1 : i > j);
    }
}

static void test_lww(void) {
  merge_slot_t cur = slot(vstr("present"), 100, "dev-a", 3, 41);
  merge_slot_t later = slot(vstr("absent"), 200, "dev-b", 7, 0);
  merge_slot_t earlier = slot(vstr("excused"), 50, "dev-b", 8, 0);

  EXPECT(MERGE_LWW, absent, later, 0, MERGE_TAKE, false);
  /* the writer of the later value had pulled up to 40, cur is 41: it never
   * saw "present", which is about to be overwritten: conflict */
  EXPECT(MERGE_LWW, cur, later, 40, MERGE_TAKE, true);
  /* it had seen cur (base 41 or more): a deliberate change, no conflict */
  EXPECT(MERGE_LWW, cur, later, 41, MERGE_TAKE, false);
  EXPECT(MERGE_LWW, cur, later, 500, MERGE_TAKE, false);
  /* the same value is no conflict */
  later.value = vstr("present");
  EXPECT(MERGE_LWW, cur, later, 0, MERGE_TAKE, false);
  later.value = vstr("absent");
  /* a device overwriting its own value is no conflict */
  later.device = PROTO_STR("dev-a");
  later.seq = 4;
  EXPECT(MERGE_LWW, cur, later, 0, MERGE_TAKE, false);
  later.device = PROTO_STR("dev-b");
  /* cur not committed yet (a tablet's local value): no conflict to log */
  cur.server_seq = 0;
  EXPECT(MERGE_LWW, cur, later, 0, MERGE_TAKE, false);
  cur.server_seq = 41;

  /* an earlier write from another device loses: its value is discarded,
   * which is a conflict whatever its base */
  EXPECT(MERGE_LWW, cur, earlier, 0, MERGE_KEEP, true);
  EXPECT(MERGE_LWW, cur, earlier, 1000, MERGE_KEEP, true);
  earlier.value = vstr("present");
  EXPECT(MERGE_LWW, cur, earlier, 0, MERGE_KEEP, false);
  earlier.value = vstr("excused");
  earlier.device = PROTO_STR("dev-a");
  earlier.seq = 2;
  EXPECT(MERGE_LWW, cur, earlier, 0, MERGE_KEEP, false);

  /* ties on HLC are broken by device id */
  {
    merge_slot_t x = slot(vint(1), 300, "dev-a", 1, 10);
    merge_slot_t y = slot(vint(2), 300, "dev-b", 1, 11);
    EXPECT(MERGE_LWW, x, y, 0, MERGE_TAKE, true);
    EXPECT(MERGE_LWW, y, x, 0, MERGE_KEEP, true);
    /* the same device twice on one HLC (a wiped clock): the greater
     * device_seq wins, so this converges too */
    x = slot(vint(1), 300, "dev-a", 4, 10);
    y = slot(vint(2), 300, "dev-a", 5, 11);
    EXPECT(MERGE_LWW, x, y, 0, MERGE_TAKE, false);
    EXPECT(MERGE_LWW, y, x, 0, MERGE_KEEP, false);
  }

  /* nil is a value like any other for LWW (clearing a field) */
  {
    merge_slot_t clear = slot(vnil(), 400, "dev-b", 9, 0);
    EXPECT(MERGE_LWW, cur, clear, 41, MERGE_TAKE, false);
  }
}

static void test_lww_idempotent(void) {
  merge_slot_t cur = slot(vstr("present"), 100, "dev-a", 3, 41);
  merge_slot_t same = cur;
  EXPECT(MERGE_LWW, cur, same, 0, MERGE_KEEP, false);
  /* also when the re-sent op comes back with the server's bounded HLC or
   * its server_seq filled in */
  same.hlc = 999;
  same.server_seq = 0;
  EXPECT(MERGE_LWW, cur, same, 0, MERGE_KEEP, false);
  /* every rule ignores a repeat */
  cur.value = vint(10);
  same = cur;
  EXPECT(MERGE_MIN, cur, same, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MAX, cur, same, 0, MERGE_KEEP, false);
  EXPECT(MERGE_COUNTER, cur, same, 0, MERGE_KEEP, false);
  EXPECT(MERGE_ONCE, cur, same, 0, MERGE_KEEP, false);
}

static void test_min_max(void) {
  merge_slot_t cur = slot(vint(1000), 100, "dev-a", 1, 5);
  merge_slot_t smaller = slot(vint(900), 50, "dev-b", 1, 0);
  merge_slot_t larger = slot(vint(1100), 200, "dev-b", 2, 0);
  merge_slot_t equal = slot(vint(1000), 300, "dev-c", 1, 0);
  merge_slot_t nil = slot(vnil(), 400, "dev-c", 2, 0);
  merge_slot_t cur_nil = slot(vnil(), 100, "dev-a", 1, 5);

  EXPECT(MERGE_MIN, absent, smaller, 0, MERGE_TAKE, false);
  EXPECT(MERGE_MIN, cur, smaller, 0, MERGE_TAKE, false);
  EXPECT(MERGE_MIN, cur, larger, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MIN, cur, equal, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MIN, cur, nil, 0, MERGE_KEEP, false); /* nil never erases */
  EXPECT(MERGE_MIN, absent, nil, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MIN, cur_nil, larger, 0, MERGE_TAKE, false);

  EXPECT(MERGE_MAX, absent, smaller, 0, MERGE_TAKE, false);
  EXPECT(MERGE_MAX, cur, larger, 0, MERGE_TAKE, false);
  EXPECT(MERGE_MAX, cur, smaller, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MAX, cur, equal, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MAX, cur, nil, 0, MERGE_KEEP, false);
  EXPECT(MERGE_MAX, cur_nil, smaller, 0, MERGE_TAKE, false);
  /* HLC plays no part: a later clock with a larger arrival still loses */
  EXPECT(MERGE_MIN, cur, larger, 0, MERGE_KEEP, false);
}

static void test_counter(void) {
  merge_slot_t cur = slot(vint(5), 100, "dev-a", 10, 3);
  merge_slot_t newer = slot(vint(7), 50, "dev-a", 12, 0);  /* older clock! */
  merge_slot_t older = slot(vint(4), 900, "dev-a", 9, 0);
  EXPECT(MERGE_COUNTER, absent, older, 0, MERGE_TAKE, false);
  EXPECT(MERGE_COUNTER, cur, newer, 0, MERGE_TAKE, false);
  EXPECT(MERGE_COUNTER, cur, older, 0, MERGE_KEEP, false);
}

static void test_once(void) {
  merge_slot_t cur = slot(vstr("activity-1"), 100, "dev-a", 1, 3);
  merge_slot_t other = slot(vstr("activity-2"), 900, "dev-b", 4, 0);
  EXPECT(MERGE_ONCE, absent, other, 0, MERGE_TAKE, false);
  EXPECT(MERGE_ONCE, cur, other, 0, MERGE_KEEP, false);
}

/* ---------------------------------------------------------- convergence */

static merge_slot_t apply(merge_rule_t rule, merge_slot_t cur,
                          const merge_slot_t *in, bool *any_conflict) {
  bool c;
  if (merge_field(rule, &cur, in, 0, &c) == MERGE_TAKE) {
    cur = *in;
    cur.present = true;
  }
  *any_conflict |= c;
  return cur;
}

static bool same_state(merge_rule_t rule, const merge_slot_t *a,
                       const merge_slot_t *b) {
  if (a->present != b->present)
    return false;
  if (merge_value_cmp(&a->value, &b->value) != 0)
    return false;
  /* LWW and COUNTER converge on the writing op too; MIN/MAX converge on the
   * value (equal values from different ops are interchangeable) */
  if (rule == MERGE_LWW || rule == MERGE_COUNTER)
    return a->hlc == b->hlc && proto_str_eq(a->device, b->device) &&
           a->seq == b->seq;
  return true;
}

static uint64_t rng = 88172645463325252u;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static const char *devs[] = {"dev-a", "dev-b", "dev-c"};

static merge_slot_t random_slot(merge_rule_t rule, int i) {
  proto_value_t v;
  switch (rnd() % 4) {
  case 0:
    v = vnil();
    break;
  case 1:
    v = vbool(rnd() % 2);
    break;
  case 2:
    v = vint((int64_t)(rnd() % 5) - 2);
    break;
  default:
    v = vstr(rnd() % 2 ? "x" : "y");
    break;
  }
  if (rule == MERGE_MIN || rule == MERGE_MAX)
    v = rnd() % 5 ? vint((int64_t)(rnd() % 4)) : vnil();
  /* small ranges make ties on HLC and value common; ops are distinct by
   * (device, seq) */
  return slot(v, rnd() % 4, rule == MERGE_COUNTER ? "dev-a" : devs[rnd() % 3],
              (uint64_t)i + 1 + (rule == MERGE_COUNTER ? rnd() % 3 * 10 : 0),
              0);
}

/* Three ops in all six orders end in the same state. */
static void test_convergence(merge_rule_t rule) {
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                  {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  int round, p, k;
  for (round = 0; round < 20000; round++) {
    merge_slot_t ops[3], first = absent;
    bool conflicts[6] = {false};
    for (k = 0; k < 3; k++)
      ops[k] = random_slot(rule, k);
    for (p = 0; p < 6; p++) {
      merge_slot_t s = absent;
      for (k = 0; k < 3; k++)
        s = apply(rule, s, &ops[perms[p][k]], &conflicts[p]);
      /* applying everything again changes nothing */
      for (k = 0; k < 3; k++) {
        merge_slot_t again = apply(rule, s, &ops[k], &conflicts[p]);
        CHECK(same_state(rule, &again, &s));
      }
      if (p == 0)
        first = s;
      else
        CHECK(same_state(rule, &first, &s));
      if (rule != MERGE_LWW)
        CHECK(!conflicts[p]);
    }
  }
}

/* Two concurrent writes from different devices with different values: in
 * either order the losing value is reported once, so it reaches the conflict
 * log on every replica. */
static void test_conflict_both_orders(void) {
  merge_slot_t a = slot(vstr("present"), 100, "dev-a", 1, 41);
  merge_slot_t b = slot(vstr("absent"), 200, "dev-b", 1, 42);
  merge_slot_t s;
  bool c;

  /* a then b: b (base 40, had not seen a at 41) overwrites a */
  s = absent;
  CHECK_EQ_INT(merge_field(MERGE_LWW, &s, &a, 40, &c), MERGE_TAKE);
  CHECK(!c);
  s = a;
  CHECK_EQ_INT(merge_field(MERGE_LWW, &s, &b, 40, &c), MERGE_TAKE);
  CHECK(c);
  /* b then a: a loses */
  s = b;
  CHECK_EQ_INT(merge_field(MERGE_LWW, &s, &a, 40, &c), MERGE_KEEP);
  CHECK(c);
}

/* ONCE keeps the first arrival, so it converges when every replica sees the
 * same first write: the server delivers in server_seq order and only the
 * author may write a message (NOT_AUTHOR). Repeats of that write commute. */
static void test_once_repeats_commute(void) {
  merge_slot_t a = slot(vstr("activity-1"), 100, "dev-a", 1, 3);
  merge_slot_t a2 = slot(vstr("activity-1"), 300, "dev-a", 2, 4);
  bool c = false;
  merge_slot_t s1 = apply(MERGE_ONCE, apply(MERGE_ONCE, absent, &a, &c), &a2, &c);
  merge_slot_t s2 = apply(MERGE_ONCE, apply(MERGE_ONCE, absent, &a2, &c), &a, &c);
  CHECK(same_state(MERGE_ONCE, &s1, &s2));
  CHECK(!c);
}

int main(void) {
  test_lww_wins();
  test_value_order();
  test_lww();
  test_lww_idempotent();
  test_min_max();
  test_counter();
  test_once();
  test_convergence(MERGE_LWW);
  test_convergence(MERGE_MIN);
  test_convergence(MERGE_MAX);
  test_convergence(MERGE_COUNTER);
  test_conflict_both_orders();
  test_once_repeats_commute();
  return 0;
}
