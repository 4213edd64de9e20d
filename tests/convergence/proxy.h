/* proxy.h — a fault-injecting TCP proxy between one simulated tablet and
 * turfd, on the harness's libuv loop, bound to 127.0.0.1 only.
 *
 * It forwards bytes both ways and, once the websocket upgrade is through,
 * cuts the stream into websocket frames so that it can act on whole turf
 * frames: hold them back (everything behind waits too, as on a slow link),
 * send a push twice, or send a push after the frame behind it (and the same
 * for acks, changes and live frames coming back). It can cut a tablet off:
 * open connections are reset and new ones refused for a while.
 *
 * It also decodes every frame turfd sends (inflating it when the connection
 * negotiated permessage-deflate), before any fault is applied, and hands it
 * to an observer: that is how the harness knows every ack turfd ever gave,
 * whether or not the tablet heard it.
 *
 * Loop thread only. Lifetime: proxy_new, use, proxy_close; the memory is
 * freed once the loop has run the close callbacks. */
#ifndef TURF_CHAOS_PROXY_H
#define TURF_CHAOS_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

typedef struct proxy_s proxy_t;

/* Faults for one direction. Chances are per mille, per frame they apply to
 * (delays: every frame; duplicates and reordering: push frames towards
 * turfd, ack/changes/live frames towards the tablet). */
typedef struct {
  uint32_t delay_pm;     /* chance a frame is held back */
  uint32_t delay_max_ms; /* for up to this long (ms) */
  uint32_t dup_pm;       /* chance a frame is sent twice */
  uint32_t reorder_pm;   /* chance a frame goes out after the next one */
} proxy_faults_t;

typedef struct {
  uint64_t connections; /* accepted and forwarded */
  uint64_t refused;     /* reset while cut off */
  uint64_t cuts;        /* proxy_cut calls that reset a live connection */
  uint64_t frames;      /* websocket frames forwarded (both ways) */
  uint64_t delayed, duplicated, reordered;
  uint64_t inflated;    /* compressed frames from turfd read (deflate) */
} proxy_stats_t;

/* Called for every whole binary message turfd sends that decodes; frame
 * is valid during the call only. */
typedef void (*proxy_frame_cb)(void *data, const proto_frame_t *frame);

/* Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:upstream.
 * seed drives the fault choices. Returns NULL after printing why. */
proxy_t *proxy_new(uv_loop_t *loop, int upstream_port, uint64_t seed, proxy_frame_cb cb,
                   void *data);
int proxy_port(const proxy_t *proxy);
/* Faults from now on; NULL means none for that direction. */
void proxy_set_faults(proxy_t *proxy, const proxy_faults_t *to_server,
                      const proxy_faults_t *to_tablet);
/* Per mille of new connections whose permessage-deflate offer is removed
 * from the upgrade request, so that they run uncompressed and duplicates
 * and reordering can apply to them (default 0). */
void proxy_set_plain(proxy_t *proxy, uint32_t per_mille);
/* Resets the open connections (queued frames are lost, as on a real cut)
 * and refuses new ones for down_ms. */
void proxy_cut(proxy_t *proxy, uint64_t down_ms);
/* True when no connection holds a queued or held-back frame. */
bool proxy_idle(const proxy_t *proxy);
proxy_stats_t proxy_stats(const proxy_t *proxy);
/* Closes the listener and every connection. NULL is fine. */
void proxy_close(proxy_t *proxy);

#endif
