/* store.h — the server's storage interface. A backend (SQLite now; the
 * interface leaves room for PostgreSQL) runs its work on its own threads and
 * answers on the caller's libuv loop through uv_async, so the loop never
 * waits on disk.
 *
 * Requests follow libuv's pattern: the caller owns the store_req_t, fills the
 * inputs, calls store_submit, and gets `cb` on the loop thread once the work
 * is done. Writes (hello, push, status) are group-committed: everything
 * queued is applied in one transaction, committed with synchronous=FULL, and
 * only then are their callbacks run — so a successful push callback means
 * durable. Reads (pull) run on a separate reader connection. */
#ifndef TURF_STORE_H
#define TURF_STORE_H

#include <uv.h>

#include "../protocol/frame.h"

typedef struct store_s store_t;
typedef struct store_req_s store_req_t;
typedef void (*store_cb)(store_req_t *req);

typedef struct {
  int log_level;           /* unused by the backend today; kept for symmetry */
  uint32_t max_batch_reqs; /* requests per transaction (group commit cap) */
} store_options_t;

typedef enum {
  STORE_HELLO = 1, /* write: authenticate or enrol a device */
  STORE_PUSH,      /* write: apply a batch of ops */
  STORE_STATUS,    /* write: record a device's outbox size / last seen */
  STORE_PULL,      /* read: ops after a cursor */
} store_req_type_t;

typedef struct {
  /* in (borrowed until cb) */
  const proto_hello_t *hello;
  int64_t now_ms;
  int64_t offset_ms;          /* server clock minus device clock */
  /* out */
  int64_t org_id;
  char org_name[PROTO_MAX_ID_BYTES + 1];
  uint64_t last_seq;          /* highest device_seq stored for the device */
  uint64_t head;              /* the organisation's newest server_seq */
  char token[PROTO_MAX_ID_BYTES + 1]; /* new token, set only on enrolment */
} store_hello_t;

typedef struct {
  /* in (borrowed until cb) */
  int64_t org_id;
  proto_str_t device;
  proto_op_t *ops;            /* device fields may be empty; hlc already bounded */
  uint32_t nops;
  uint64_t outbox;
  int64_t now_ms;
  /* out (owned by the request; freed by store_req_dispose) */
  proto_ack_t ack;            /* accepted ranges and rejections */
  proto_op_t *committed;      /* ops newly committed, with device and
                                 server_seq set, in server_seq order */
  uint32_t ncommitted;
  uint64_t head;              /* org's newest server_seq after this commit */
} store_push_t;

#define STORE_OUTBOX_UNCHANGED UINT64_MAX

typedef struct {
  int64_t org_id;
  proto_str_t device;
  uint64_t outbox;            /* or STORE_OUTBOX_UNCHANGED */
  int64_t now_ms;
  bool online;
} store_status_t;

typedef struct {
  /* in */
  int64_t org_id;
  uint64_t cursor;
  uint32_t limit;
  /* out (owned by the request) */
  proto_op_t *ops;            /* server_seq > cursor, ascending, <= limit */
  uint32_t nops;
  uint64_t next_cursor;       /* server_seq of the last op, or cursor */
  uint64_t head;              /* org's newest server_seq at read time */
} store_pull_t;

struct store_req_s {
  void *data;                 /* the caller's context */
  store_req_type_t type;
  int status;                 /* out: 0, or a negative PROTO_E* code
                                 (PROTO_EBAD_CREDENTIALS, PROTO_ESTORAGE) */
  union {
    store_hello_t hello;
    store_push_t push;
    store_status_t status;
    store_pull_t pull;
  } u;
  /* private */
  store_cb _cb;
  store_req_t *_next;
  void *_mem;
};

/* Opens (creating and migrating as needed) the database at path and starts
 * the backend's threads; completions are delivered on loop. Returns NULL on
 * failure after logging why to stderr. */
store_t *store_open(const char *path, uv_loop_t *loop,
                    const store_options_t *opts);

/* Queues req; cb runs later on the loop thread, exactly once, even when the
 * store is closing (then with status PROTO_ESHUTTING_DOWN). Returns 0 or
 * PROTO_ESHUTTING_DOWN when store_close has begun (cb will not run). */
int store_submit(store_t *store, store_req_t *req, store_cb cb);

/* Frees what a completed request's outputs own; the request itself stays the
 * caller's. Safe on a zeroed request. */
void store_req_dispose(store_req_t *req);

/* Finishes every queued request (their callbacks run during the next loop
 * iterations), stops the threads and closes the uv_async handle. The caller
 * must keep running the loop until `done` is called, then free nothing else:
 * the store is freed before `done` runs. */
void store_close(store_t *store, void (*done)(void *arg), void *arg);

/* Creates the demo organisation if the database has no organisation yet: a
 * location, two activities, today's sessions (by the server's local date) and
 * a handful of participants, written as ops from the device "server" so
 * tablets receive them by pulling. Also issues an enrolment code valid for
 * 24 hours and `uses` enrolments, copied to code_out (NUL-terminated).
 * Synchronous: call before the loop runs. Returns 0 or PROTO_ESTORAGE. */
int store_seed_demo(const char *path, int64_t now_ms, uint32_t uses,
                    char code_out[PROTO_MAX_ID_BYTES + 1]);

#endif
