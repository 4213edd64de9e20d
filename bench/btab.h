/* btab.h — simulated tablets for the benchmarks: many turf.v1 websocket
 * connections on one libuv loop (libwebsockets as a foreign loop), each with
 * its state in memory instead of a local SQLite file.
 *
 * Why not clients/sample: a real tablet applies every op it receives to its
 * own SQLite replica with synchronous=FULL. A thousand of those in one
 * process on a 2-core machine would measure the tablets' disks, not turfd.
 * A btab speaks the same protocol the same way (hello, push the outbox one
 * batch in flight, pull after every ack, pull while `more`, then live) and
 * keeps only what the benchmark checks: its cursor and how many ops it has
 * applied, in order, without gaps.
 *
 * Loop thread only. Lifetime: btab_pool_new, btab_init for each tablet,
 * btab_connect / btab_close as the scenario wants, run the loop;
 * btab_pool_shutdown; after uv_run returns, btab_pool_free. */
#ifndef TURF_BENCH_BTAB_H
#define TURF_BENCH_BTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"
#include "hlc.h"

typedef struct btab_pool_s btab_pool_t;
typedef struct btab_s btab_t;

typedef enum {
  BTAB_IDLE = 0,   /* no socket */
  BTAB_CONNECTING, /* lws is connecting / upgrading */
  BTAB_HELLO,      /* hello sent */
  BTAB_READY,      /* welcomed */
} btab_state_t;

/* Called on the loop thread. */
typedef struct {
  void (*on_welcome)(btab_t *t);
  /* An ack arrived for the push sent at sent_ns (uv_hrtime). */
  void (*on_ack)(btab_t *t, const proto_ack_t *ack, uint64_t sent_ns);
  /* An op was applied (cursor moved past it); live: from a live frame.
   * op->fields is usually NULL (frames are read in place, bframe.h): its
   * fields are in op->fields_raw. */
  void (*on_op)(btab_t *t, const proto_op_t *op, bool live);
  /* Nothing left to push and the last pull said more=false. */
  void (*on_idle)(btab_t *t);
  /* The socket is gone; error: the server refused or lws failed. */
  void (*on_close)(btab_t *t, bool error);
} btab_callbacks_t;

/* Ops recorded offline, in device_seq order starting at 1. The fields map of
 * each op is encoded once when it is recorded (fields_raw), so a push costs
 * the tablet no re-encoding. */
typedef struct {
  proto_op_t *ops;   /* ops[i] has device_seq i + 1; device left empty */
  void **mem;        /* mem[i]: the allocation behind ops[i]'s pointers */
  uint64_t *sent_ns; /* uv_hrtime of the push that last carried ops[i] */
  uint32_t nops, cap;
} btab_outbox_t;

struct btab_s {
  btab_pool_t *pool;
  void *data;              /* the scenario's context */
  uint32_t index;          /* in the scenario's array */
  uint32_t org;            /* scenario's organisation index */
  char device[37];         /* UUIDv7 text */
  char token[PROTO_MAX_ID_BYTES + 1];
  const char *code;        /* enrolment code while token is empty; borrowed */

  /* connection */
  struct lws *wsi;
  btab_state_t state;
  uint8_t *rx;
  size_t rx_len, rx_cap;
  struct btab_tx_s *tx_head, *tx_tail;
  uint64_t bytes_in, bytes_out; /* TCP payload of closed sockets (bytes) */

  /* sync state */
  hlc_t clock;
  btab_outbox_t outbox;
  uint64_t acked;          /* highest device_seq durable (welcome.last or acks) */
  uint64_t rejected;       /* ops refused by the server, all time */
  uint64_t cursor;         /* last server_seq applied */
  uint64_t applied;        /* ops applied, all time */
  uint64_t head;           /* organisation head from the welcome */
  bool push_inflight;
  uint64_t push_sent_ns;
  uint32_t push_batch;     /* ops per push frame */
  bool pull_inflight, pull_again, caught_up;
  bool idle_reported;
  uint32_t pull_limit;     /* ops asked per pull */
  bool closing;            /* btab_close asked: close at the next writable */
  bool no_pull;            /* never pull (so never live): the wire-cost
                              scenario's pusher, whose socket then carries
                              only pushes and acks */
};

/* deflate: offer permessage-deflate (the server may accept it). */
btab_pool_t *btab_pool_new(uv_loop_t *loop, const char *url, bool deflate);
/* Closes every socket and destroys the lws context from outside its
 * callbacks; uv_run then returns once everything is closed. */
void btab_pool_shutdown(btab_pool_t *pool);
/* After uv_run has returned: finishes lws teardown and frees the pool
 * (not the tablets, which are the caller's). */
void btab_pool_free(btab_pool_t *pool);
void btab_pool_set_callbacks(btab_pool_t *pool, const btab_callbacks_t *cb);
/* Number of tablets with a socket (connecting or connected). */
uint32_t btab_pool_open(const btab_pool_t *pool);

/* The coordinator dashboard's websocket (server/dashboard.h), which sends
 * JSON views of the first organisation whenever a commit changes them. */
#define BTAB_DASH_SUBPROTOCOL "turf.dashboard.v1"
typedef void (*btab_dash_cb)(void *data, const char *json, size_t len);
/* Opens the pool's one dashboard socket with the coordinator's session
 * cookie ("turf_session=...", from POST /auth/login); cb gets every whole
 * message (not NUL-terminated, valid during the call). Returns 0 or -1. */
int btab_dash_connect(btab_pool_t *pool, const char *cookie, btab_dash_cb cb, void *data);

/* A new tablet with a fresh device id (rng: the caller's xorshift state). */
void btab_init(btab_t *t, btab_pool_t *pool, uint32_t index, uint32_t org, uint64_t *rng);
void btab_dispose(btab_t *t);

/* Starts connecting (hello with token, else with code). Returns 0 or -1. */
int btab_connect(btab_t *t);
/* Closes the socket if any (on_close follows). */
void btab_close(btab_t *t);
/* Bytes of the TCP payload sent and received so far on all of t's sockets,
 * the open one included (from the kernel's TCP_INFO). */
void btab_bytes(const btab_t *t, uint64_t *out, uint64_t *in);

/* Appends an op to t's outbox, taking the next device_seq and an HLC from
 * t's clock; base is the current cursor. Key and field strings are copied.
 * Returns 0 or -1 (ENOMEM). */
int btab_record(btab_t *t, uint8_t type, const char *key, const char *key2,
                const proto_field_t *fields, uint32_t nfields);
/* Ops recorded but not acked. */
uint32_t btab_waiting(const btab_t *t);
/* Pushes what is waiting now (when connected and no push is in flight). */
void btab_kick(btab_t *t);

/* uv_hrtime of the push that carried device_seq seq, or 0 when unknown. */
uint64_t btab_sent_ns(const btab_t *t, uint64_t seq);

/* A field value helper for btab_record callers. */
static inline proto_field_t btab_fstr(uint8_t id, const char *s) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_STR, .u.s = proto_str(s)}};
  return f;
}
static inline proto_field_t btab_fint(uint8_t id, int64_t i) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_INT, .u.i = i}};
  return f;
}
static inline proto_field_t btab_fbool(uint8_t id, bool b) {
  proto_field_t f = {.id = id, .value = {.type = PROTO_BOOL, .u.b = b}};
  return f;
}

/* UUIDv7 text of time ms with random bits from rng. Cannot fail. */
void btab_uuid7(uint64_t *rng, int64_t ms, char out[37]);
uint64_t btab_rand(uint64_t *rng);
int64_t btab_wall_ms(void);

#endif
