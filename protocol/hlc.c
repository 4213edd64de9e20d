/* hlc.c — hybrid logical clocks (see hlc.h for the layout).
 *
 * Owns nothing; the caller owns the hlc_t. The wall clock is a parameter so
 * the same code runs on the server, on tablets and in tests. */
#include "hlc.h"

#include <assert.h>
#include <stddef.h>

/* The largest millisecond value the upper 48 bits can hold (year 10889). A
 * clock that claims more is clamped rather than wrapped, so ordering holds. */
#define HLC__MAX_MS ((int64_t)((UINT64_C(1) << (64 - HLC_COUNTER_BITS)) - 1))

void hlc_init(hlc_t *clock, uint64_t last) {
  assert(clock != NULL);
  clock->last = last;
}

uint64_t hlc_now(hlc_t *clock, int64_t now_ms) {
  int64_t last_ms = HLC_MS(clock->last);
  int64_t physical;
  uint32_t counter;

  if (now_ms < 0)
    now_ms = 0;
  if (now_ms > HLC__MAX_MS)
    now_ms = HLC__MAX_MS;
  physical = now_ms > last_ms ? now_ms : last_ms;
  if (physical == last_ms) {
    counter = (uint32_t)HLC_COUNTER(clock->last) + 1;
    if (counter > 0xffffu) {
      /* 65536 events in one millisecond: borrow the next millisecond rather
       * than wrap the counter, which would order this event first. */
      if (physical == HLC__MAX_MS)
        return clock->last; /* saturated; unreachable before year 10889 */
      physical++;
      counter = 0;
    }
  } else {
    counter = 0;
  }
  clock->last = HLC_MAKE(physical, counter);
  return clock->last;
}

void hlc_observe(hlc_t *clock, uint64_t remote) {
  if (remote > clock->last)
    clock->last = remote;
}

uint64_t hlc_bound(hlc_t *clock, uint64_t remote, int64_t now_ms) {
  int64_t remote_ms = HLC_MS(remote);

  /* remote_ms - now_ms can overflow int64 when now_ms is very negative; the
   * unsigned difference is exact because remote_ms > now_ms there. */
  if (remote_ms <= now_ms ||
      (uint64_t)remote_ms - (uint64_t)now_ms <= (uint64_t)HLC_MAX_AHEAD_MS) {
    hlc_observe(clock, remote);
    return remote;
  }
  return hlc_now(clock, now_ms);
}
