/* test_hlc.c — hybrid logical clocks: strictly increasing local events
 * whatever the wall clock does, counter overflow into the next millisecond,
 * observing remote clocks, and the server's bound on clocks that run ahead. */
#include "check.h"
#include "hlc.h"

#include <limits.h>

static void test_layout(void) {
  uint64_t h = HLC_MAKE(1717000000123, 7);
  CHECK(HLC_MS(h) == 1717000000123);
  CHECK_EQ_INT(HLC_COUNTER(h), 7);
  /* integer order is (ms, counter) order */
  CHECK(HLC_MAKE(1000, 0xffff) < HLC_MAKE(1001, 0));
  CHECK(HLC_MAKE(1000, 1) < HLC_MAKE(1000, 2));
}

static void test_now(void) {
  hlc_t c;
  uint64_t a, b;

  hlc_init(&c, 0);
  a = hlc_now(&c, 1000);
  CHECK(a == HLC_MAKE(1000, 0));
  CHECK(c.last == a);
  /* same millisecond: the counter counts */
  b = hlc_now(&c, 1000);
  CHECK(b == HLC_MAKE(1000, 1));
  /* the wall clock moves on: counter back to 0 */
  a = hlc_now(&c, 1005);
  CHECK(a == HLC_MAKE(1005, 0));
  /* the wall clock goes back (NTP step, user change): stay ahead */
  b = hlc_now(&c, 900);
  CHECK(b == HLC_MAKE(1005, 1));
  b = hlc_now(&c, 1005);
  CHECK(b == HLC_MAKE(1005, 2));
  /* a clock before 1970 is treated as 0, never wraps */
  hlc_init(&c, 0);
  a = hlc_now(&c, -5);
  CHECK(a == HLC_MAKE(0, 1));
  CHECK(HLC_MS(hlc_now(&c, INT64_MIN)) == 0);
}

static void test_counter_overflow(void) {
  hlc_t c;
  uint64_t h;
  uint32_t i;

  hlc_init(&c, HLC_MAKE(1000, 0xfffe));
  h = hlc_now(&c, 1000);
  CHECK(h == HLC_MAKE(1000, 0xffff));
  /* the counter would overflow: borrow the next millisecond */
  h = hlc_now(&c, 1000);
  CHECK(h == HLC_MAKE(1001, 0));
  h = hlc_now(&c, 999);
  CHECK(h == HLC_MAKE(1001, 1));

  /* 200000 events in one millisecond stay strictly increasing */
  hlc_init(&c, 0);
  h = hlc_now(&c, 5000);
  for (i = 0; i < 200000; i++) {
    uint64_t n = hlc_now(&c, 5000);
    CHECK(n > h);
    h = n;
  }
  CHECK(HLC_MS(h) == 5000 + 200000 / 65536);
}

static void test_monotonic_under_random_clock(void) {
  hlc_t c;
  uint64_t prev = 0, x = 12345;
  int64_t wall = 1717000000000;
  int i;

  hlc_init(&c, 0);
  for (i = 0; i < 100000; i++) {
    uint64_t h;
    x = x * 6364136223846793005u + 1442695040888963407u;
    /* jitter of -500..+500 ms around a slowly advancing clock */
    wall += (int64_t)(x >> 60) - 7;
    h = hlc_now(&c, wall + (int64_t)((x >> 33) % 1001) - 500);
    CHECK(h > prev);
    prev = h;
  }
}

static void test_observe(void) {
  hlc_t c;
  hlc_init(&c, HLC_MAKE(1000, 3));
  hlc_observe(&c, HLC_MAKE(2000, 9));
  CHECK(c.last == HLC_MAKE(2000, 9));
  /* an older remote clock changes nothing */
  hlc_observe(&c, HLC_MAKE(1500, 0));
  CHECK(c.last == HLC_MAKE(2000, 9));
  /* the next local event orders after what was observed */
  CHECK(hlc_now(&c, 1200) == HLC_MAKE(2000, 10));
  CHECK(hlc_now(&c, 2500) == HLC_MAKE(2500, 0));
}

static void test_bound(void) {
  hlc_t c;
  int64_t now = 1717000000000;
  uint64_t r, h;

  /* in the past or within the allowance: unchanged, and observed */
  hlc_init(&c, 0);
  h = HLC_MAKE(now - 3600 * 1000, 4);
  CHECK(hlc_bound(&c, h, now) == h);
  CHECK(c.last == h);
  h = HLC_MAKE(now + HLC_MAX_AHEAD_MS, 0xffff);
  CHECK(hlc_bound(&c, h, now) == h);
  CHECK(c.last == h);

  /* one millisecond beyond: replaced by the server's own HLC, which still
   * orders after everything observed so far */
  hlc_init(&c, HLC_MAKE(now - 10, 0));
  h = HLC_MAKE(now + HLC_MAX_AHEAD_MS + 1, 0);
  r = hlc_bound(&c, h, now);
  CHECK(r == HLC_MAKE(now, 0));
  CHECK(c.last == r);
  /* a tablet a year ahead */
  r = hlc_bound(&c, HLC_MAKE(now + 365LL * 24 * 3600 * 1000, 0), now);
  CHECK(r == HLC_MAKE(now, 1));
  /* the bound result follows the greatest accepted clock, not the wall */
  hlc_init(&c, 0);
  h = HLC_MAKE(now + 30000, 5);
  CHECK(hlc_bound(&c, h, now) == h);
  r = hlc_bound(&c, UINT64_MAX, now);
  CHECK(r == HLC_MAKE(now + 30000, 6));
  CHECK(r > h);
  /* extreme wall clocks do not overflow (UBSan checks) */
  hlc_init(&c, 0);
  r = hlc_bound(&c, HLC_MAKE(5, 0), INT64_MIN);
  CHECK(r == HLC_MAKE(0, 1));
  r = hlc_bound(&c, UINT64_MAX, INT64_MAX);
  CHECK(r == UINT64_MAX);
}

int main(void) {
  test_layout();
  test_now();
  test_counter_overflow();
  test_monotonic_under_random_clock();
  test_observe();
  test_bound();
  return 0;
}
