/* recent.h — the latest committed ops of one organisation, each kept
 * encoded as it appears in changes and live frames.
 *
 * When tablets come back after being offline, every tablet of an
 * organisation pulls the ops the others just pushed. Served from here, such
 * a pull neither reads the database nor encodes an op again per tablet: the
 * page is the ops' bytes copied one after the other. A pull this cannot
 * serve whole (its cursor is older than what is kept, or something was
 * committed that the loop did not see) goes to the store as before.
 *
 * Holds only ops whose commit the loop has seen, in server_seq order
 * without gaps; a gap restarts it. Loop thread only. */
#ifndef TURF_RECENT_H
#define TURF_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../protocol/frame.h"
#include "conn.h"

typedef struct recent_s recent_t;

/* The bytes every recent_t together may hold. Each structure counts its
 * own bytes into *total_bytes (shared by all of them), and keeps at most
 * max_bytes itself. */
typedef struct {
  size_t max_bytes;
  size_t *total_bytes;
  size_t max_total_bytes;
} recent_limits_t;

recent_t *recent_new(const recent_limits_t *limits); /* NULL: out of memory */
void recent_free(recent_t *recent);                  /* NULL is fine */

/* Forgets every op (their memory too): nobody is left to serve, or ops
 * were committed or rewritten elsewhere (turfctl, the dashboard). */
void recent_clear(recent_t *recent);

/* Adds committed ops (ascending server_seq). An op that does not follow
 * the newest one held starts over from it; the oldest ops go when over the
 * limits. Cannot fail: what cannot be kept is simply not served from here. */
void recent_add(recent_t *recent, const proto_op_t *ops, uint32_t nops);

/* A PROTO_CHANGES page of the ops after cursor (at most limit), if this
 * holds every op from cursor + 1 to head; else NULL, and the store must
 * answer. *cursor_out is the page's cursor, *more whether ops after it
 * were committed. */
conn_msg_t *recent_page(const recent_t *recent, uint64_t cursor, uint32_t limit, uint64_t head,
                        uint64_t *cursor_out, bool *more);

/* The PROTO_LIVE frame of the ops after `from` up to `to`, if they are all
 * held and fit one frame; else NULL. Committed ops go live to every
 * connected tablet in this frame, so they are not encoded a second time. */
conn_msg_t *recent_live(const recent_t *recent, uint64_t from, uint64_t to);

#endif
