/* hlc.h — hybrid logical clocks.
 *
 * An HLC is one uint64: the upper 48 bits are wall-clock milliseconds since
 * the Unix epoch, the lower 16 bits a counter that orders events within the
 * same millisecond. Comparing two HLCs as integers orders them. Pure code: the
 * caller passes the wall clock in, so tests control time. */
#ifndef TURF_HLC_H
#define TURF_HLC_H

#include <stdint.h>

#define HLC_COUNTER_BITS 16
#define HLC_MAKE(ms, counter) (((uint64_t)(ms) << HLC_COUNTER_BITS) | (uint16_t)(counter))
#define HLC_MS(h) ((int64_t)((h) >> HLC_COUNTER_BITS))
#define HLC_COUNTER(h) ((uint16_t)((h) & 0xffffu))

/* How far ahead of the server's clock an op's HLC may be before the server
 * replaces it (ms). */
#define HLC_MAX_AHEAD_MS (60 * 1000)

typedef struct {
  uint64_t last; /* the greatest HLC issued or observed */
} hlc_t;

void hlc_init(hlc_t *clock, uint64_t last);
/* A new HLC for a local event, greater than every earlier one. now_ms is the
 * (offset-corrected) wall clock. Cannot fail. */
uint64_t hlc_now(hlc_t *clock, int64_t now_ms);
/* Merge an HLC received from elsewhere so later local events order after it.
 * Cannot fail. */
void hlc_observe(hlc_t *clock, uint64_t remote);
/* The server's bound: returns remote unchanged when its wall-clock part is at
 * most HLC_MAX_AHEAD_MS ahead of now_ms; otherwise returns hlc_now(clock,
 * now_ms), which is greater than everything the clock has observed, so the
 * op still orders after all that came before it without winning against
 * the future. Observes the returned value. */
uint64_t hlc_bound(hlc_t *clock, uint64_t remote, int64_t now_ms);

#endif
