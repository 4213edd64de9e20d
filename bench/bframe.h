/* bframe.h — changes and live frames read in place, for the simulated
 * tablets (btab.c).
 *
 * Why: a storm delivers about a million ops to the load generator, which
 * shares two cores with the turfd it measures. proto_decode scans every
 * frame, copies it, looks each key up by name and reads every op's fields
 * twice into allocated arrays; the tablets only need each op's device, seq,
 * server_seq and hlc. bframe_changes checks a changes or live frame against
 * the same rules proto_decode applies to it (one msgpack map, nothing after
 * it, nesting within PROTO_MAX_DEPTH, one "t", every key of the frame and of
 * each op with its type and limits, no key twice, the op's fields map as
 * frame__fields reads it) in one pass, allocating and copying nothing.
 *
 * It accepts only what proto_decode accepts, with the same values; whatever
 * it does not accept (another frame type, or anything it refuses) the caller
 * gives to proto_decode, so what is refused, and with which error, stays
 * proto_decode's answer. */
#ifndef TURF_BENCH_BFRAME_H
#define TURF_BENCH_BFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* Room for the ops of one frame, reused from frame to frame (loop thread). */
typedef struct {
  proto_op_t *ops; /* PROTO_MAX_OPS_PER_FRAME once allocated */
} bframe_buf_t;

/* Reads msg as a changes or live frame into *ch, whose ops then live in buf
 * until the next call: strings point into msg, each op's fields is NULL with
 * nfields counted and fields_raw set (as proto_decode sets it). Returns
 * PROTO_CHANGES or PROTO_LIVE; 0 when msg is anything else or not accepted
 * (or there is no memory for buf): then decode it with proto_decode. */
int bframe_changes(const uint8_t *msg, size_t len, bframe_buf_t *buf, proto_changes_t *ch);
void bframe_buf_dispose(bframe_buf_t *buf);

#endif
