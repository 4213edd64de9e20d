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
#include "../protocol/zone.h"

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
  STORE_VIEW,      /* read: the coordinator dashboard's view (store_dashboard.c) */
  STORE_ACTION,    /* write: a coordinator's revert, dismissal or merge */
  STORE_HEADS,     /* read: every organisation's newest server_seq */
  STORE_REPORT,    /* read: the funder report's tables (store_report.c) */
  STORE_EXPORT_LOG, /* write: a download of one of them, logged */
} store_req_type_t;

typedef struct {
  /* in (borrowed until cb) */
  const proto_hello_t *hello;
  int64_t now_ms;
  int64_t offset_ms;          /* server clock minus device clock */
  /* out */
  int64_t org_id;
  char org_name[PROTO_MAX_ID_BYTES + 1];
  char org_tz[ZONE_NAME_MAX + 1];   /* the organisation's time zone */
  uint64_t last_seq;          /* highest device_seq stored for the device */
  uint64_t head;              /* the organisation's newest server_seq */
  uint64_t resync_gen;        /* 0, or the device's locations changed since it
                                 last synced from scratch: the welcome says
                                 "rs", and once a pull from 0 has been served
                                 the caller records this value as
                                 store_status_t.scope_synced */
  char token[PROTO_MAX_ID_BYTES + 1]; /* new token, set only on enrolment */
  const char *scope;          /* NULL: the device sees its whole organisation;
                                 else the location ids it is limited to, each
                                 NUL-terminated, ending with an empty string
                                 (owned by the request; see scope.h) */
} store_hello_t;

/* What live fan-out needs to give a device limited to some locations the
 * participants visible to it (PROTOCOL.md section 6, Scope), decided by
 * the store so that the loop never reads the database. All zero for ops
 * other than these two kinds. */
typedef struct {
  /* A participant op: where the participant was visible by the op
   * (location ids, each NUL-terminated, ending with an empty string; NULL:
   * nowhere) and the device that created them ("" unknown). A check-in
   * that first named its participant at its location (first = true): the
   * same, as it was before the check-in. */
  const char *seen;
  proto_str_t creator;
  bool first;
  /* With first: the participant's earlier ops that a device of the
   * check-in's location that could not see them before receives right
   * before the check-in (scope_participant_holders), ascending. */
  proto_op_t *backfill;
  uint32_t nbackfill;
} store_vis_t;

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
  proto_str_t *committed_loc; /* per committed op, where it belongs (scope.h):
                                 ptr NULL = the whole organisation, "" = no
                                 location known, else a location id */
  store_vis_t *committed_vis; /* per committed op (store_vis_t) */
  uint64_t head;              /* org's newest server_seq after this commit */
} store_push_t;

#define STORE_OUTBOX_UNCHANGED UINT64_MAX

typedef struct {
  int64_t org_id;
  proto_str_t device;
  uint64_t outbox;            /* or STORE_OUTBOX_UNCHANGED */
  int64_t now_ms;
  bool online;
  uint64_t scope_synced;      /* 0, or store_hello_t.resync_gen: the device
                                 has pulled from 0 since its locations last
                                 changed (never lowers what is recorded) */
} store_status_t;

typedef struct {
  /* in */
  int64_t org_id;
  uint64_t cursor;
  uint32_t limit;
  bool scoped;                /* only ops the device's locations may see */
  proto_str_t device;         /* with scoped: the device (borrowed until cb) */
  bool want_locs;             /* fill locs */
  /* out (owned by the request) */
  proto_op_t *ops;            /* server_seq > cursor, ascending, <= limit;
                                 with scoped, a participant's earlier ops
                                 may precede a check-in (backfill) */
  bool *backfill;             /* with scoped: per op, true for such an
                                 earlier op (its server_seq may be <= cursor
                                 and is below the check-in's); NULL when the
                                 page has none */
  proto_str_t *locs;          /* with want_locs: where each op belongs, as
                                 store_push_t.committed_loc */
  store_vis_t *vis;           /* with want_locs: per op, as
                                 store_push_t.committed_vis */
  uint32_t nops;
  uint64_t next_cursor;       /* server_seq of the last op (not counting
                                 backfill), or cursor; the head when a
                                 scoped page read everything up to it */
  uint64_t head;              /* org's newest server_seq at read time */
} store_pull_t;

#define STORE_SEARCH_MAX 100 /* bytes of a dashboard's participant search */

/* Parts of the dashboard's view; each is one JSON document (built by
 * SQLite's json functions, so storage never hand-escapes text). Their
 * shapes are documented in docs/dashboard.md. */
typedef enum {
  STORE_VIEW_ORGS = 0,       /* the organisation shown: [{id, name}] */
  STORE_VIEW_TODAY,          /* today's sessions, headcounts, check-ins */
  STORE_VIEW_DEVICES,        /* tablets: last sync, outbox, offset, app */
  STORE_VIEW_CONFLICTS,      /* the conflict log, in words' ingredients */
  STORE_VIEW_DUPLICATES,     /* probable duplicate participants */
  STORE_VIEW_MESSAGES,       /* group messages per activity */
  STORE_VIEW_EXPORTS,        /* the latest downloads (coordinators only) */
  STORE_VIEW_DAY,            /* the sessions of another date (day), as today's */
  STORE_VIEW_HISTORY,        /* the sessions of one activity, newest first */
  STORE_VIEW_PEOPLE,         /* participants whose name a search matches */
  STORE_VIEW_PERSON,         /* one participant: visits, history, referral */
  STORE_VIEW_NPARTS
} store_view_part_t;

typedef struct {
  /* in */
  int64_t org_id;             /* 0: the first organisation */
  uint32_t parts;             /* bit (1 << store_view_part_t) per part wanted */
  int64_t now_ms;             /* the server's clock: "today" is its date in
                                 the organisation's time zone */
  char day[11];               /* STORE_VIEW_DAY: "YYYY-MM-DD" */
  char activity[PROTO_MAX_ID_BYTES + 1]; /* STORE_VIEW_HISTORY: its id */
  char search[STORE_SEARCH_MAX + 1];     /* STORE_VIEW_PEOPLE: what was typed */
  char participant[PROTO_MAX_ID_BYTES + 1]; /* STORE_VIEW_PERSON: its id */
  bool with_contact;          /* STORE_VIEW_PERSON: contact details too
                                 (a coordinator's page, never a viewer's) */
  /* out (owned by the request) */
  int64_t org;                /* the organisation shown (0: there is none) */
  char today[11];             /* "YYYY-MM-DD" of now_ms there */
  char *json[STORE_VIEW_NPARTS]; /* NUL-terminated; NULL for parts not asked */
} store_view_t;

typedef enum {
  STORE_ACTION_REVERT = 1,    /* write the conflict's lost value back */
  STORE_ACTION_DISMISS,       /* keep the current value; close the conflict */
  STORE_ACTION_MERGE,         /* participant `drop` is a duplicate of `keep` */
} store_action_kind_t;

/* Reverts and merges are ops written by the server (device "server"),
 * committed like a push; the caller then fans them out (sync_org_changed).
 * status: 0; PROTO_EBAD_FIELD when the conflict or a participant is not in
 * the organisation; PROTO_EINVALID_OP when the conflict is already resolved
 * or the merge would go in a circle. */
typedef struct {
  /* in */
  int64_t org_id;
  store_action_kind_t kind;
  int64_t conflict;           /* REVERT, DISMISS: conflicts.id */
  char keep[PROTO_MAX_ID_BYTES + 1]; /* MERGE */
  char drop[PROTO_MAX_ID_BYTES + 1]; /* MERGE */
  int64_t now_ms;
  /* out */
  uint32_t nops;              /* ops committed (0 for a dismissal) */
  uint64_t head;              /* org's newest server_seq after the commit */
} store_action_t;

/* The funder report of one organisation over a period (dates inclusive,
 * in the organisation's own calendar), optionally of one location or one
 * activity. Its tables (docs/dashboard.md, Reports): summary, months,
 * activities, frequency, referrals, and participants (one row per person:
 * a pseudonym unless `names`). As JSON, one table or every table but
 * participants: {"from", "to", "location", "activity", "tables": {name:
 * {"columns": [...], "rows": [[...], ...]}}}; as CSV, one table: UTF-8
 * with a byte order mark, a header row in `lang`, CRLF line ends,
 * separated by `sep` (';' also writes decimals with a comma, as a Dutch
 * spreadsheet reads them). A cell that would start a formula (= + - @) is
 * written with a leading apostrophe. */
#define STORE_REPORT_TABLE_MAX 16
typedef enum { STORE_REPORT_JSON = 0, STORE_REPORT_CSV } store_report_format_t;
typedef struct {
  /* in */
  int64_t org_id;
  char from[11], to[11];                  /* "YYYY-MM-DD" */
  char location[PROTO_MAX_ID_BYTES + 1];  /* "" for every location */
  char activity[PROTO_MAX_ID_BYTES + 1];  /* "" for every activity */
  char table[STORE_REPORT_TABLE_MAX + 1]; /* "" (JSON only): every table */
  store_report_format_t format;
  char sep;                               /* CSV: ',' or ';' */
  bool names;                             /* participants: names, not pseudonyms */
  bool dutch;                             /* CSV header row in Dutch (else English) */
  /* out (owned by the request) */
  char *body;                             /* NUL-terminated */
  size_t len;                             /* bytes of body */
  uint32_t rows;                          /* data rows of the table(s) */
} store_report_t;

/* A download, logged before it is sent: who, when, what and how many rows
 * (store_view part exports lists them). */
typedef struct {
  /* in */
  int64_t org_id;
  int64_t at_ms;
  char login[PROTO_MAX_ID_BYTES + 1];
  char what[256];                         /* the table, period and scope */
  char format[8];                         /* "csv", "json" */
  uint32_t rows;
  bool names;                             /* participants by name */
} store_export_log_t;

/* Every organisation's head as the database holds it, also what another
 * process (turfctl) committed there. */
typedef struct {
  /* out (owned by the request) */
  int64_t *orgs;              /* organisation ids, ascending */
  uint64_t *heads;            /* heads[i] is orgs[i]'s newest server_seq */
  uint32_t n;
} store_heads_t;

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
    store_view_t view;
    store_action_t action;
    store_heads_t heads;
    store_report_t report;
    store_export_log_t export_log;
  } u;
  /* private */
  store_cb _cb;
  store_req_t *_next;
  void *_mem;
};

/* Claims the database at path for this process until it exits, so that a
 * second server on the same database refuses to start instead of handing
 * out a demo password or enrolment codes of its own. Call before anything
 * else touches the database. Returns 0; UV_EBUSY when another process
 * holds it; another negative UV_ code (uv_strerror) when it cannot be
 * opened. */
int store_claim(const char *path);

/* Opens (creating and migrating as needed) the database at path and starts
 * the backend's threads; completions are delivered on loop. Returns NULL on
 * failure after logging why to stderr. */
store_t *store_open(const char *path, uv_loop_t *loop,
                    const store_options_t *opts);

/* The greatest HLC of any stored op, read when the store opened. The server
 * starts its bounding clock here, so that an HLC it gives a device whose
 * clock runs ahead orders after everything stored before a restart too.
 * Cannot fail. */
uint64_t store_max_hlc(const store_t *store);

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

/* Opens path for synchronous work outside turfd (turfctl): created and
 * migrated as store_open would, WAL, synchronous=FULL, foreign keys on.
 * The caller owns *out and closes it with sqlite3_close. Returns 0 or
 * PROTO_ESTORAGE (printed). */
struct sqlite3;
int store_open_sync(const char *path, struct sqlite3 **out);

/* Creates the demo organisation if the database has no organisation yet: a
 * location, two activities, today's sessions (by its time zone's date) and
 * a handful of participants, written as ops from the device "server" so
 * tablets receive them by pulling. Also issues an enrolment code valid for
 * 24 hours and `uses` enrolments, copied to code_out (NUL-terminated).
 * Synchronous: call before the loop runs. Returns 0 or PROTO_ESTORAGE. */
int store_seed_demo(const char *path, int64_t now_ms, uint32_t uses,
                    char code_out[PROTO_MAX_ID_BYTES + 1]);

/* Makes sure the demo organisation has a coordinator account `login` (role
 * coordinator, enabled) whose password hash (passwd.h) is password_hash:
 * created the first time, its hash replaced on every later call, so each
 * demo start hands out a fresh password. Call after store_seed_demo, before
 * the loop runs. Returns 0, or PROTO_ESTORAGE (printed) when there is no
 * demo organisation or the login belongs to another organisation. */
int store_seed_demo_coordinator(const char *path, const char *login, const char *password_hash,
                                int64_t now_ms);

#endif
