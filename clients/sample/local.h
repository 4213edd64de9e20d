/* local.h — a tablet's local file: one SQLite database (WAL,
 * synchronous=FULL, because a tablet must never lose a check-in) holding the
 * device's identity and sync state (meta), the ops recorded but not yet
 * acknowledged (outbox), the ops the server refused (attention), and the
 * materialised replica tables of storage/replica.h, to which every op is
 * applied with the same merge code the server uses.
 *
 * Recording works with no server at all: an op is applied to the replica
 * and queued in the outbox in one transaction. Nothing here talks to the
 * network; client.h moves ops between the outbox and the server.
 *
 * Several processes may use the same file at once (a `watch` process and
 * a command recording a check-in): every piece of sync state is read from
 * the database inside the transaction that uses it, never cached, and every
 * writing transaction is BEGIN IMMEDIATE so two writers queue on SQLite's
 * lock (busy timeout) instead of deadlocking.
 *
 * The calls do synchronous disk I/O. A tablet's loop serves one user and
 * its own small file, and keeping SQLite on the loop thread keeps the order
 * of "record, push, ack, apply" trivially serial; the server, which must
 * never wait on disk, uses storage/store.h instead. */
#ifndef TURF_LOCAL_H
#define TURF_LOCAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "proto.h"

typedef struct local_s local_t;

/* Returned by local_apply_changes when the page does not continue from the
 * local cursor (positive: not an error, the caller pulls instead). */
#define LOCAL_STALE 1

#define LOCAL_UUID_LEN 36 /* "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx" */

/* Opens path, creating the file and its schema when missing. skew_ms is
 * added to the real clock wherever this file reads the time (simulates a
 * tablet whose clock is wrong). Returns NULL after printing why to stderr. */
local_t *local_open(const char *path, int64_t skew_ms);
void local_close(local_t *local); /* NULL is fine */

/* The connection, for read-only queries by tablet.c. Owned by local. */
sqlite3 *local_db(local_t *local);

/* Gives the file a device identity (a new UUIDv7) if it has none yet, and
 * sets its human name when name is non-NULL. Returns 0 or PROTO_ESTORAGE. */
int local_ensure_device(local_t *local, const char *name);
/* A revoked device (PROTO_EREVOKED) erases everything the file holds: the
 * organisation's records, the outbox (it can never be sent), the refused
 * ops, the device id and token. Deleted pages are overwritten (the file
 * runs with secure_delete) and the WAL is truncated, so nothing of it stays
 * readable in the file. Returns 0 or PROTO_ESTORAGE. */
int local_wipe(local_t *local);

/* A welcome said "rs" (the device's locations changed, PROTOCOL.md section
 * 6): in one transaction, deletes every replica table and the conflict log,
 * applies the outbox's ops again (what was recorded and not yet sent stays
 * visible) and sets the cursor to 0, so that the next pull fetches the
 * device's new scope from scratch. The device id, token, next seq, HLC
 * state, outbox and attention stay. Deleted pages are overwritten
 * (secure_delete) and the WAL is checkpointed, so the records of a
 * location the device lost do not stay readable in the file. Returns 0 or
 * PROTO_ESTORAGE (nothing changed). */
int local_resync(local_t *local);

/* Before an enrolment: a file that has a device id but no token and nothing
 * in its outbox (an enrolment whose welcome never arrived) forgets that id,
 * so that local_ensure_device makes a new one. The server enrols a device
 * id once (PROTOCOL.md 3.1); the old one stays unused. Returns 0 or
 * PROTO_ESTORAGE. */
int local_forget_unenrolled_device(local_t *local);
/* The device id ("" before local_ensure_device). Owned by local; cannot
 * fail. */
const char *local_device(const local_t *local);

/* Meta values, read from the file each call. The string getters copy into
 * buf (NUL-terminated, "" when unset) and return 0, or PROTO_ESTORAGE. */
int local_meta_text(local_t *local, const char *key, char *buf, size_t size);
int local_meta_set_text(local_t *local, const char *key, const char *value);
int64_t local_meta_int(local_t *local, const char *key, int64_t dflt);

/* Wall clock the tablet believes: real clock + skew (ms). Cannot fail. */
int64_t local_device_clock(const local_t *local);
/* Changes the skew given to local_open, as when a tablet's clock is set or
 * jumps while it runs (tests/convergence uses it). Cannot fail. */
void local_set_skew(local_t *local, int64_t skew_ms);
/* Corrected time: device clock + the offset the server told us (ms). Every
 * timestamp the tablet records uses this. Cannot fail. */
int64_t local_now(local_t *local);

/* Fills buf with a new UUIDv7 (time from ms, the rest random) and a NUL.
 * Cannot fail. */
void local_uuid7(int64_t ms, char buf[LOCAL_UUID_LEN + 1]);

/* Called inside the recording transaction, after device, seq, hlc and base
 * are set and before the op is applied, so a value that depends on the
 * replica (a tally's new absolute count) is read and written atomically.
 * Returns 0 or a negative PROTO_E* code (the recording is rolled back). */
typedef int (*local_prepare_cb)(void *arg, local_t *local, proto_op_t *op);

/* Records a change made on this tablet: in one transaction, allocates the
 * next device_seq, stamps an HLC from the corrected clock, sets base to the
 * current cursor, runs prepare (may be NULL), applies the op to the replica
 * and appends it to the outbox. op supplies type, key, key2 and fields;
 * device, seq, hlc and base are filled in here (op is modified). On success
 * *seq_out (may be NULL) is the new seq. Returns 0; PROTO_EINVALID_OP or
 * PROTO_ENOT_AUTHOR when the replica refuses the op (nothing recorded);
 * prepare's code; PROTO_ESTORAGE. */
int local_record(local_t *local, proto_op_t *op, local_prepare_cb prepare, void *arg,
                 uint64_t *seq_out);

/* Ops waiting in the outbox. Returns the count, or PROTO_ESTORAGE. */
int64_t local_outbox_count(local_t *local);
/* Ops waiting with seq > after_seq. Returns the count, or PROTO_ESTORAGE. */
int64_t local_outbox_count_after(local_t *local, uint64_t after_seq);

/* A batch of outbox ops in seq order, ready for a push frame: fields_raw
 * holds the stored fields map, device is empty (the connection's). */
typedef struct {
  proto_op_t *ops;
  uint32_t nops;
  void *_mem;
} local_batch_t;

/* Loads at most max ops with seq > after_seq into batch (caller disposes it
 * with local_batch_dispose, also on error). Returns 0 or PROTO_ESTORAGE /
 * PROTO_ENOMEM. */
int local_outbox_load(local_t *local, uint64_t after_seq, uint32_t max,
                      local_batch_t *batch);
void local_batch_dispose(local_batch_t *batch);

/* What one ack did to the outbox. */
typedef struct {
  uint64_t acked;    /* outbox entries deleted as durable */
  uint64_t rejected; /* entries moved to attention */
  bool seq_gap;      /* a SEQ_GAP rejection: resend from the first unacked */
} local_ack_result_t;

/* Applies an ack in one transaction: acked ranges leave the outbox,
 * rejected ops move to attention (kept for a person to look at, never
 * dropped), SEQ_GAP rejections stay queued. Returns 0 or PROTO_ESTORAGE. */
int local_apply_ack(local_t *local, const proto_ack_t *ack,
                    local_ack_result_t *result);

/* Applies a welcome in one transaction: stores the clock offset, the token
 * (when the hello enrolled) and the organisation name, and drops outbox
 * entries the server already holds (seq <= last_seq). Returns 0 or
 * PROTO_ESTORAGE. */
int local_apply_welcome(local_t *local, const proto_welcome_t *welcome);

/* Called for each op of a page after it is committed, in order. */
typedef void (*local_op_cb)(void *arg, const proto_op_t *op, bool own);

/* Applies a changes or live page in one transaction with the cursor update,
 * but only if changes->from equals the local cursor. Ops of other devices
 * go through replica_apply; this device's own ops are rebased to the
 * server's HLC and server_seq, then applied as the server applied them.
 * Returns 0 (cb, if non-NULL, then runs for each op), LOCAL_STALE when the
 * page does not continue from the cursor (nothing changed), or
 * PROTO_ESTORAGE (rolled back). */
int local_apply_changes(local_t *local, const proto_changes_t *changes,
                        local_op_cb cb, void *arg);

/* The local cursor (server_seq of the last applied op). */
uint64_t local_cursor(local_t *local);

/* Once everything this device recorded is acked and pulled back (outbox
 * empty, caught up), an HLC that ran ahead of the corrected clock (a clock
 * that was wrong before the first sync) is brought back to the corrected
 * clock or the greatest HLC seen from the server, whichever is later; until
 * then it stays monotonic so the device's own later writes keep winning
 * over its earlier ones. Returns 0 or PROTO_ESTORAGE. */
int local_settle_clock(local_t *local);

#endif
