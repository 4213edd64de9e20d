/* sync.c — the sync engine: what each frame means, on the loop thread.
 *
 * Invariants:
 * - A push is acked only from its store callback, which runs after the
 *   transaction holding it committed.
 * - A live connection has been sent every committed op of its organisation
 *   up to sent_seq, in order; a frame whose "from" differs from the client's
 *   cursor makes the client pull, so a skipped frame never loses an op. */
#include "sync.h"

#include <assert.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "../protocol/hlc.h"
#include "../protocol/schema.h"
#include "dashboard.h"
#include "../storage/scope.h"
#include "log.h"
#include "peers.h"
#include "recent.h"
#include "throttle.h"

/* Recent ops kept encoded per organisation (recent.h), and by all of them
 * together: a reconnect storm of 100 organisations with 1,000 fresh ops
 * each holds about 25 MB; one organisation's 10,000 check-ins about 2 MB. */
#define SYNC__RECENT_ORG_BYTES ((size_t)4 << 20)
#define SYNC__RECENT_TOTAL_BYTES ((size_t)64 << 20)

/* Ops in a page when the pull names no limit. */
#define SYNC__PULL_DEFAULT 500

struct org_s {
  int64_t id;
  uint64_t head;   /* newest server_seq this loop knows to be committed */
  conn_t *conns;   /* READY connections of the organisation */
  recent_t *recent; /* its latest commits, encoded; NULL if out of memory */
  org_t *next;
};

struct sync_s {
  uv_loop_t *loop;
  store_t *store;
  const config_t *cfg;
  hlc_t clock;     /* bounds the HLCs devices send */
  org_t *orgs;
  uint32_t nconns;
  bool shutting_down;
  dashboard_t *dashboard; /* told of commits and devices; may be NULL */
  size_t recent_bytes;    /* held by every org's recent_t */
  peers_t *pending;       /* connections per address before their welcome */
  uint32_t pushes_in_flight; /* of all connections */
  throttle_t *quota;      /* ops each device may still push (its hourly quota) */
  throttle_t *org_quota;  /* ... and each organisation, keyed by its id */
  uv_timer_t probe;       /* looks for commits made outside turfd */
  bool probe_open;        /* probe initialised (at the first welcome) */
  bool probe_in_flight;
};

/* Commits made outside this turfd (turfctl without the admin socket, an
 * erasure among them) are looked for this often, for the organisations
 * with tablets connected: what is kept in memory (recent.h) must not
 * answer their pulls with what the database no longer says. */
#define SYNC__PROBE_MS 1000

/* One storage request on behalf of a connection. Holds a reference on conn
 * (NULL for requests that outlive their connection, such as the offline
 * status) and owns the decoded frame the request borrows from. */
typedef struct {
  store_req_t req;
  sync_t *sync;
  conn_t *conn;
  proto_frame_t *frame;
  uint64_t started_ms;
} sync_job_t;

static int64_t sync__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The connection is no longer one of its address's connections before a
 * welcome: welcomed or closed. */
static void sync__not_pending(sync_t *sync, conn_t *conn) {
  if (!conn->pending) return;
  conn->pending = false;
  peers_drop(sync->pending, conn->peer);
}

sync_t *sync_new(uv_loop_t *loop, store_t *store, const config_t *cfg) {
  sync_t *sync = calloc(1, sizeof *sync);
  if (!sync) return NULL;
  sync->pending = peers_new();
  sync->quota = throttle_new(cfg->max_device_ops_per_hour,
                             3600u * 1000u / cfg->max_device_ops_per_hour);
  sync->org_quota = throttle_new(cfg->max_org_ops_per_hour,
                                 3600u * 1000u / cfg->max_org_ops_per_hour);
  if (!sync->pending || !sync->quota || !sync->org_quota) {
    peers_free(sync->pending);
    throttle_free(sync->quota);
    throttle_free(sync->org_quota);
    free(sync);
    return NULL;
  }
  sync->loop = loop;
  sync->store = store;
  sync->cfg = cfg;
  /* Not 0: after a restart the HLCs this process gives must still order
   * after every op stored before it (tests/integration/
   * test_server_restart_keeps_hlc_order.py). */
  hlc_init(&sync->clock, store_max_hlc(store));
  return sync;
}

void sync_free(sync_t *sync) {
  if (!sync) return;
  while (sync->orgs) {
    org_t *next = sync->orgs->next;
    assert(sync->orgs->conns == NULL);
    recent_free(sync->orgs->recent);
    free(sync->orgs);
    sync->orgs = next;
  }
  peers_free(sync->pending);
  throttle_free(sync->quota);
  throttle_free(sync->org_quota);
  free(sync);
}

uint32_t sync_connection_count(const sync_t *sync) { return sync->nconns; }

void sync_set_dashboard(sync_t *sync, dashboard_t *dashboard) { sync->dashboard = dashboard; }

void sync_foreach_online(sync_t *sync, int64_t org_id, void (*cb)(void *arg, const char *device),
                         void *arg) {
  for (org_t *org = sync->orgs; org; org = org->next)
    if (org->id == org_id)
      for (conn_t *c = org->conns; c; c = c->org_next) cb(arg, c->device);
}

static void sync__say_shutting_down(conn_t *conn) {
  if (conn->wsi && !conn->close_when_flushed && conn->pushes_in_flight == 0)
    conn_send_error(conn, PROTO_ESHUTTING_DOWN, NULL, true);
}

void sync_begin_shutdown(sync_t *sync) {
  sync->shutting_down = true;
  if (sync->probe_open) {
    sync->probe_open = false;
    uv_close((uv_handle_t *)&sync->probe, NULL);
  }
  for (org_t *org = sync->orgs; org; org = org->next)
    for (conn_t *c = org->conns; c; c = c->org_next) sync__say_shutting_down(c);
}

uint32_t sync_welcomed_count(const sync_t *sync) {
  uint32_t n = 0;
  for (const org_t *org = sync->orgs; org; org = org->next)
    for (const conn_t *c = org->conns; c; c = c->org_next) n++;
  return n;
}

static org_t *sync__org(sync_t *sync, int64_t id) {
  for (org_t *org = sync->orgs; org; org = org->next)
    if (org->id == id) return org;
  org_t *org = calloc(1, sizeof *org);
  if (!org) return NULL;
  org->id = id;
  recent_limits_t limits = {.max_bytes = SYNC__RECENT_ORG_BYTES,
                            .total_bytes = &sync->recent_bytes,
                            .max_total_bytes = SYNC__RECENT_TOTAL_BYTES};
  org->recent = recent_new(&limits);
  org->next = sync->orgs;
  sync->orgs = org;
  return org;
}

static void sync__org_join(org_t *org, conn_t *conn) {
  conn->org = org;
  conn->org_prev = NULL;
  conn->org_next = org->conns;
  if (org->conns) org->conns->org_prev = conn;
  org->conns = conn;
}

static void sync__org_leave(conn_t *conn) {
  org_t *org = conn->org;
  if (!org) return;
  if (conn->org_prev)
    conn->org_prev->org_next = conn->org_next;
  else
    org->conns = conn->org_next;
  if (conn->org_next) conn->org_next->org_prev = conn->org_prev;
  conn->org = NULL;
  conn->org_prev = conn->org_next = NULL;
  /* Whoever comes back later is usually further behind than what is kept. */
  if (!org->conns) recent_clear(org->recent);
}

static sync_job_t *sync__job(sync_t *sync, conn_t *conn, proto_frame_t *frame,
                             store_req_type_t type) {
  sync_job_t *job = calloc(1, sizeof *job);
  if (!job) return NULL;
  job->sync = sync;
  job->conn = conn;
  job->frame = frame;
  job->req.data = job;
  job->req.type = type;
  job->started_ms = uv_now(sync->loop);
  if (conn) conn_ref(conn);
  return job;
}

static void sync__job_free(sync_job_t *job) {
  store_req_dispose(&job->req);
  proto_frame_free(job->frame);
  if (job->conn) conn_unref(job->conn);
  free(job);
}

/* Hands job to storage; on refusal (store closing) tells the client and
 * frees the job. Returns 0 when submitted. */
static int sync__submit(sync_job_t *job, store_cb cb) {
  int rc = store_submit(job->sync->store, &job->req, cb);
  if (rc != 0) {
    if (job->conn && job->conn->wsi)
      conn_send_error(job->conn, PROTO_ESHUTTING_DOWN, NULL, true);
    sync__job_free(job);
  }
  return rc;
}

static size_t sync__budget(const sync_t *sync) { return sync->cfg->max_queued_bytes; }

/* ---- changes pages --------------------------------------------------------- */

/* Encodes ops[0..n) as one changes/live frame, taking fewer ops when the
 * frame would exceed the message limit (ops bring their device ids, so a
 * full push can come back larger than it went in). backfill (NULL: none)
 * marks the ops a scoped device gets ahead of a check-in, out of
 * server_seq order; a cut never moves the cursor by them. The frame's
 * cursor (*cursor) is end when every op fits (a scoped page may end past
 * its last op), else the last op taken that is not backfill (from when
 * there is none). Returns the message and sets *taken to the number of ops
 * in it (>= 1 when nops >= 1). */
static conn_msg_t *sync__encode_page(proto_frame_type_t type, proto_op_t *ops,
                                     const bool *backfill, uint32_t nops, uint64_t from,
                                     uint64_t end, bool more, uint32_t *taken,
                                     uint64_t *cursor) {
  uint32_t n = nops;
  for (;;) {
    proto_frame_t frame = {.type = type};
    bool cut = n < nops;
    uint64_t cur = end;
    if (cut) {
      cur = from;
      for (uint32_t i = n; i > 0; i--)
        if (!backfill || !backfill[i - 1]) {
          cur = ops[i - 1].server_seq;
          break;
        }
    }
    frame.u.changes = (proto_changes_t){.from = from, .cursor = cur, .more = more || cut,
                                        .nops = n, .ops = ops};
    conn_msg_t *msg = conn_msg_encode(&frame);
    if (msg || n <= 1) {
      *taken = n;
      *cursor = cur;
      return msg;
    }
    uint32_t half = n / 2;
    /* A check-in goes with its backfill when that still makes it smaller. */
    while (backfill && half < nops && backfill[half - 1] && half + 1 < n) half++;
    n = half;
  }
}

/* ---- live fan-out -------------------------------------------------------- */

/* Sends ops (committed, ascending, all newer than conn->sent_seq) as live
 * frames, several if they do not fit one. */
static void sync__send_live_run(sync_t *sync, conn_t *conn, proto_op_t *ops, uint32_t nops) {
  while (nops && conn->live) {
    uint32_t taken;
    uint64_t cur;
    conn_msg_t *msg = sync__encode_page(PROTO_LIVE, ops, NULL, nops, ops[0].server_seq - 1,
                                        ops[nops - 1].server_seq, false, &taken, &cur);
    if (!msg) return;
    if (ops[0].server_seq - 1 != conn->sent_seq) conn->live = false;
    if (conn_send(conn, msg, sync__budget(sync)) == 0 && conn->live)
      conn->sent_seq = ops[taken - 1].server_seq;
    conn_msg_unref(msg);
    ops += taken;
    nops -= taken;
  }
}

/* Whether a device limited to some locations receives an op placed at loc
 * (store_push_t.committed_loc) with visibility vis: a participant's ops
 * once the participant is visible to it (scope.h), everything else by its
 * place. Pure: what the writer found out is in vis. */
static bool sync__scoped_sees(const conn_t *conn, const proto_op_t *op, proto_str_t loc,
                              const store_vis_t *vis) {
  if (op->type == SCHEMA_PARTICIPANT)
    return vis && scope_list_sees(conn->scope, proto_str(conn->device), vis->seen, vis->creator);
  return scope_list_allows(conn->scope, loc);
}

/* A device limited to some locations gets the same frames as the others,
 * with only the ops it may see in them (locs, vis: where each op belongs
 * and who sees its participant, see store_push_t) — possibly none: the
 * frame still moves its cursor past what it may not see, so that sent_seq
 * stays the client's cursor and a gap below ops[0] still means "it missed
 * something". A check-in that makes a participant visible to it comes
 * after that participant's earlier ops (backfill). Then, as for everyone,
 * the frame continues from a made-up cursor, which the client answers by
 * pulling. */
static void sync__fan_out_scoped(sync_t *sync, conn_t *conn, proto_op_t *ops,
                                 const proto_str_t *locs, const store_vis_t *vis, uint32_t nops) {
  uint32_t n = 0, at = 0, skip = 0, cap = nops;
  while (skip < nops && ops[skip].server_seq <= conn->sent_seq) skip++;
  for (uint32_t i = skip; vis && i < nops; i++) cap += vis[i].nbackfill;
  proto_op_t *mine = malloc(cap * sizeof *mine);
  bool *extra = calloc(cap ? cap : 1, sizeof *extra);
  if (!mine || !extra) {
    free(mine);
    free(extra);
    conn->live = false; /* it catches up at its next pull */
    return;
  }
  uint64_t from = ops[skip].server_seq - 1, end = ops[nops - 1].server_seq;
  if (from != conn->sent_seq) conn->live = false; /* missed ops: make it pull */
  for (uint32_t i = skip; i < nops; i++) {
    const store_vis_t *v = vis ? &vis[i] : NULL;
    if (!locs || !sync__scoped_sees(conn, &ops[i], locs[i], v)) continue;
    if (v && v->first &&
        !scope_list_sees(conn->scope, proto_str(conn->device), v->seen, v->creator))
      for (uint32_t b = 0; b < v->nbackfill; b++) {
        extra[n] = true;
        mine[n++] = v->backfill[b];
      }
    mine[n++] = ops[i];
  }
  do {
    uint32_t taken;
    uint64_t cur;
    conn_msg_t *msg = sync__encode_page(PROTO_LIVE, mine + at, extra + at, n - at, from, end,
                                        false, &taken, &cur);
    if (!msg) break;
    int rc = conn_send(conn, msg, sync__budget(sync));
    conn_msg_unref(msg);
    if (rc != 0) break;
    from = cur;
    if (conn->live) conn->sent_seq = from;
    at += taken;
  } while (at < n);
  free(mine);
  free(extra);
}

static void sync__fan_out(sync_t *sync, org_t *org, proto_op_t *ops, const proto_str_t *locs,
                          const store_vis_t *vis, uint32_t nops) {
  conn_msg_t *shared = NULL;
  uint32_t taken = 0;
  if (!nops) return;
  uint64_t first = ops[0].server_seq, last = ops[nops - 1].server_seq;
  for (conn_t *conn = org->conns; conn; conn = conn->org_next) {
    if (!conn->live || conn->sent_seq >= last) continue;
    if (conn->scope) {
      sync__fan_out_scoped(sync, conn, ops, locs, vis, nops);
      continue;
    }
    if (conn->sent_seq + 1 == first) {
      /* The usual case: every live connection is exactly here, so the frame
       * is encoded once and shared. */
      if (!shared && org->recent && (shared = recent_live(org->recent, first - 1, last)))
        taken = nops;
      uint64_t cur;
      if (!shared)
        shared = sync__encode_page(PROTO_LIVE, ops, NULL, nops, first - 1, last, false, &taken,
                                   &cur);
      if (shared && taken == nops) {
        if (conn_send(conn, shared, sync__budget(sync)) == 0) conn->sent_seq = last;
        continue;
      }
    }
    /* Out of step (a pull raced this commit) or too big for one frame: send
     * only what it lacks; a frame whose "from" is not the client's cursor
     * makes the client pull. */
    uint32_t skip = 0;
    while (skip < nops && ops[skip].server_seq <= conn->sent_seq) skip++;
    sync__send_live_run(sync, conn, ops + skip, nops - skip);
  }
  conn_msg_unref(shared);
}

/* ---- hello ---------------------------------------------------------------- */

/* Access limits at hello, kept apart from the hot paths. */

/* A device may hold max_device_connections at once (a tablet reconnecting
 * before its old socket timed out needs a second); more is a stolen token
 * or a runaway client. Tells the connection and returns true when it is one
 * too many. */
static bool sync__device_busy(sync_t *sync, org_t *org, conn_t *conn, proto_str_t device) {
  uint32_t n = 0;
  char msg[128];
  for (conn_t *c = org->conns; c; c = c->org_next)
    if (proto_str_eq(proto_str(c->device), device)) n++;
  if (n < sync->cfg->max_device_connections) return false;
  snprintf(msg, sizeof msg, "this device already has %u connections; close one first", n);
  conn_send_error(conn, PROTO_ERATE_LIMITED, msg, true);
  return true;
}

/* Copies the hello's scope (store_hello_t.scope) into conn. Returns 0 or
 * -1 on ENOMEM. */
static int sync__take_scope(conn_t *conn, const char *scope) {
  size_t len = 0;
  free(conn->scope);
  conn->scope = NULL;
  if (!scope) return 0;
  while (scope[len]) len += strlen(scope + len) + 1;
  conn->scope = malloc(len + 1);
  if (!conn->scope) return -1;
  memcpy(conn->scope, scope, len + 1);
  return 0;
}

static void sync__mark_offline(sync_t *sync, int64_t org_id, proto_str_t device);
static void sync__probe_start(sync_t *sync);

static void sync__hello_done(store_req_t *req) {
  sync_job_t *job = req->data;
  sync_t *sync = job->sync;
  conn_t *conn = job->conn;
  store_hello_t *h = &req->u.hello;

  if (!conn->wsi) {
    /* Closed while the store took the hello: a hello that held set the
     * device online after sync_on_close had nothing to set offline. */
    if (req->status == 0) sync__mark_offline(sync, h->org_id, h->hello->device);
    goto done;
  }
  if (req->status != 0) {
    conn->state = CONN_NEW;
    conn_send_error(conn, req->status, NULL, true);
    goto done;
  }
  org_t *org = sync__org(sync, h->org_id);
  if (!org) {
    conn_send_error(conn, PROTO_ENOMEM, NULL, true);
    goto done;
  }
  /* The database's head: greater than what this loop knows when turfctl
   * committed without telling it. What is kept in memory is then stale
   * (an erasure rewrites ops), and live tablets must hear of it. */
  if (h->head > org->head) {
    bool outside = org->conns != NULL;
    org->head = h->head;
    if (outside) sync_org_changed(sync, org->id);
  }
  if (sync__device_busy(sync, org, conn, h->hello->device)) {
    conn->state = CONN_NEW;
    goto done;
  }
  if (sync__take_scope(conn, h->scope) != 0) {
    conn_send_error(conn, PROTO_ENOMEM, NULL, true);
    goto done;
  }
  conn->state = CONN_READY;
  sync__not_pending(sync, conn);
  conn->org_id = h->org_id;
  memcpy(conn->device, h->hello->device.ptr, h->hello->device.len);
  conn->device[h->hello->device.len] = '\0';
  sync__org_join(org, conn);
  sync__probe_start(sync);
  lws_set_timeout(conn->wsi, NO_PENDING_TIMEOUT, 0);

  proto_frame_t frame = {.type = PROTO_WELCOME};
  frame.u.welcome = (proto_welcome_t){
      .version = PROTO_VERSION, .now_ms = h->now_ms, .offset_ms = h->offset_ms,
      .head = org->head, .last_seq = h->last_seq, .token = proto_str(h->token),
      .org = proto_str(h->org_name), .resync = h->resync_gen != 0,
      .tz = proto_str(h->org_tz)};
  /* Said at every hello until a pull from 0 has been served after one:
   * a welcome lost on the way leaves the device to be told again. */
  conn->resync_gen = h->resync_gen;
  conn_send_frame(conn, &frame, sync__budget(sync));
  log_info("hello conn=%" PRIu64 " device=%s org=%" PRId64 " app=%.*s enrolled=%d "
           "last_seq=%" PRIu64 " cursor=%" PRIu64 " head=%" PRIu64 " outbox=%" PRIu64
           " offset_ms=%" PRId64 " resync=%d",
           conn->id, conn->device, conn->org_id, (int)h->hello->app.len, h->hello->app.ptr,
           h->token[0] != '\0', h->last_seq, h->hello->cursor, org->head, h->hello->outbox,
           h->offset_ms, h->resync_gen != 0);
  if (sync->dashboard) dashboard_on_device(sync->dashboard, conn->org_id);
done:
  sync__job_free(job);
}

static void sync__on_hello(sync_t *sync, conn_t *conn, proto_frame_t *frame) {
  proto_hello_t *hello = &frame->u.hello;
  if (conn->state != CONN_NEW) {
    conn_send_error(conn, PROTO_EALREADY_AUTHENTICATED, NULL, false);
    proto_frame_free(frame);
    return;
  }
  if (hello->version != PROTO_VERSION) {
    char msg[96];
    snprintf(msg, sizeof msg, "protocol version %u is not supported; this server speaks %d",
             hello->version, PROTO_VERSION);
    conn_send_error(conn, PROTO_EUNSUPPORTED_VERSION, msg, true);
    proto_frame_free(frame);
    return;
  }
  if (!hello->token.len && !hello->code.len) {
    conn_send_error(conn, PROTO_EBAD_CREDENTIALS, "hello needs a token or an enrolment code",
                    true);
    proto_frame_free(frame);
    return;
  }
  sync_job_t *job = sync__job(sync, conn, frame, STORE_HELLO);
  if (!job) {
    proto_frame_free(frame);
    conn_send_error(conn, PROTO_ENOMEM, NULL, true);
    return;
  }
  int64_t now = sync__now_ms();
  job->req.u.hello.hello = hello;
  job->req.u.hello.now_ms = now;
  /* Saturates: a hello may say any int64 (a clock at -2^63 is broken, not
   * an overflow to exploit). */
  int64_t offset = 0;
  if (hello->now_ms && __builtin_sub_overflow(now, hello->now_ms, &offset))
    offset = hello->now_ms < 0 ? INT64_MAX : INT64_MIN;
  job->req.u.hello.offset_ms = offset;
  conn->state = CONN_HELLO;
  sync__submit(job, sync__hello_done);
}

/* ---- push ----------------------------------------------------------------- */

static void sync__push_done(store_req_t *req) {
  sync_job_t *job = req->data;
  sync_t *sync = job->sync;
  conn_t *conn = job->conn;
  store_push_t *p = &req->u.push;

  conn->pushes_in_flight--;
  sync->pushes_in_flight--;
  if (req->status != 0) {
    log_error("push failed conn=%" PRIu64 " device=%s ops=%u: %s", conn->id, conn->device,
              p->nops, proto_strerror(req->status));
    /* Revoked while connected (and turfd was not told): cut it off here
     * too. */
    bool cut = req->status == PROTO_EBAD_CREDENTIALS || req->status == PROTO_EREVOKED;
    if (cut) sync__org_leave(conn);
    if (conn->wsi) conn_send_error(conn, req->status, NULL, cut);
    goto done;
  }
  if (conn->wsi) {
    proto_frame_t frame = {.type = PROTO_ACK};
    frame.u.ack = p->ack;
    conn_send_frame(conn, &frame, sync__budget(sync));
  }
  org_t *org = conn->org ? conn->org : sync__org(sync, p->org_id);
  if (org) {
    if (p->head > org->head) org->head = p->head;
    recent_add(org->recent, p->committed, p->ncommitted);
    sync__fan_out(sync, org, p->committed, p->committed_loc, p->committed_vis, p->ncommitted);
  }
  if (sync->dashboard) dashboard_on_commit(sync->dashboard, p->org_id, p->ncommitted);
  log_info("push conn=%" PRIu64 " device=%s ops=%u committed=%u rejected=%u outbox=%" PRIu64
           " head=%" PRIu64 " ms=%" PRIu64,
           conn->id, conn->device, p->nops, p->ncommitted, p->ack.nrejects, p->outbox, p->head,
           uv_now(sync->loop) - job->started_ms);
  for (uint32_t i = 0; i < p->ack.nrejects; i++)
    log_info("reject device=%s seq=%" PRIu64 " code=%s msg=\"%.*s\"", conn->device,
             p->ack.rejects[i].seq, proto_errname(p->ack.rejects[i].code),
             (int)p->ack.rejects[i].message.len, p->ack.rejects[i].message.ptr);
done:
  if (sync->shutting_down) sync__say_shutting_down(conn); /* after its ack */
  sync__job_free(job);
}

/* Per-connection push limits beyond the protocol's (ops per push, pushes
 * per second, a token bucket with bursts of twice the rate), kept apart
 * from the push path. Tells the client and returns false when over. */
static bool sync__push_allowed(sync_t *sync, conn_t *conn, const proto_push_t *push) {
  char msg[128];
  if (push->nops > sync->cfg->max_ops_per_push) {
    snprintf(msg, sizeof msg, "a push may carry at most %u ops; this one has %u",
             sync->cfg->max_ops_per_push, push->nops);
    conn_send_error(conn, PROTO_ETOO_LARGE, msg, false);
    return false;
  }
  uint64_t now = uv_now(sync->loop);
  double rate = sync->cfg->max_pushes_per_s;
  conn->push_tokens += (double)(now - conn->push_tokens_at_ms) * rate / 1000.0;
  if (conn->push_tokens > 2.0 * rate) conn->push_tokens = 2.0 * rate;
  conn->push_tokens_at_ms = now;
  if (conn->push_tokens < 1.0) {
    snprintf(msg, sizeof msg, "more than %u pushes a second; wait for acks and slow down",
             sync->cfg->max_pushes_per_s);
    conn_send_error(conn, PROTO_ERATE_LIMITED, msg, false);
    return false;
  }
  /* The quotas of the device (over all its connections) and of its
   * organisation. */
  char org_key[24];
  snprintf(org_key, sizeof org_key, "%" PRId64, conn->org_id);
  uint64_t wait = throttle_take_n(sync->quota, conn->device, push->nops, now);
  if (wait > 0) {
    snprintf(msg, sizeof msg,
             "this device may push %u ops an hour; try again in %" PRIu64 " s",
             sync->cfg->max_device_ops_per_hour, (wait + 999) / 1000);
  } else if ((wait = throttle_take_n(sync->org_quota, org_key, push->nops, now)) > 0) {
    snprintf(msg, sizeof msg,
             "this organisation may push %u ops an hour; try again in %" PRIu64 " s",
             sync->cfg->max_org_ops_per_hour, (wait + 999) / 1000);
  }
  if (wait > 0) {
    log_warn("quota conn=%" PRIu64 " device=%s: %s", conn->id, conn->device, msg);
    conn_send_error(conn, PROTO_ERATE_LIMITED, msg, false);
    return false;
  }
  conn->push_tokens -= 1.0;
  return true;
}

static void sync__on_push(sync_t *sync, conn_t *conn, proto_frame_t *frame) {
  proto_push_t *push = &frame->u.push;
  if (conn->pushes_in_flight >= sync->cfg->max_pushes_in_flight) {
    conn_send_error(conn, PROTO_ERATE_LIMITED,
                    "too many unacked pushes; wait for acks before pushing more", false);
    proto_frame_free(frame);
    return;
  }
  if (!sync__push_allowed(sync, conn, push)) {
    proto_frame_free(frame);
    return;
  }
  int64_t now = sync__now_ms();
  for (uint32_t i = 0; i < push->nops; i++)
    push->ops[i].hlc = hlc_bound(&sync->clock, push->ops[i].hlc, now);

  sync_job_t *job = sync__job(sync, conn, frame, STORE_PUSH);
  if (!job) {
    proto_frame_free(frame);
    conn_send_error(conn, PROTO_ENOMEM, NULL, false);
    return;
  }
  store_push_t *p = &job->req.u.push;
  p->org_id = conn->org_id;
  p->device = proto_str(conn->device);
  p->ops = push->ops;
  p->nops = push->nops;
  p->outbox = push->outbox;
  p->now_ms = now;
  if (sync__submit(job, sync__push_done) == 0) {
    conn->pushes_in_flight++;
    sync->pushes_in_flight++;
  }
}

/* ---- pull ----------------------------------------------------------------- */

static void sync__synced_done(store_req_t *req) {
  sync_job_t *job = req->data;
  if (req->status != 0)
    log_warn("could not record that device %.*s synced again: %s",
             (int)req->u.status.device.len, req->u.status.device.ptr,
             proto_strerror(req->status));
  free((void *)req->u.status.device.ptr);
  sync__job_free(job);
}

/* A page answering a pull from `from` went out. The first from 0 after a
 * welcome that said "rs" shows the device dropped its replica: from now on
 * its hellos no longer say it (recorded by the store's writer). */
static void sync__pull_served(sync_t *sync, conn_t *conn, uint64_t from) {
  if (from != 0 || conn->resync_gen == 0) return;
  sync_job_t *job = sync__job(sync, NULL, NULL, STORE_STATUS);
  char *copy = job ? strdup(conn->device) : NULL;
  if (job && copy) {
    job->req.u.status = (store_status_t){.org_id = conn->org_id,
                                         .device = proto_str(copy),
                                         .outbox = STORE_OUTBOX_UNCHANGED,
                                         .now_ms = sync__now_ms(),
                                         .online = true,
                                         .scope_synced = conn->resync_gen};
    if (sync__submit(job, sync__synced_done) != 0) free(copy);
  } else {
    free(copy);
    if (job) sync__job_free(job);
    return; /* told again at its next hello */
  }
  conn->resync_gen = 0;
}

/* Sends a page of changes that ends at cursor; the last page of a catch-up
 * (nothing more) makes the connection live from there. Returns 0 when
 * queued. */
static int sync__send_page(sync_t *sync, conn_t *conn, conn_msg_t *msg, uint64_t cursor,
                           bool more) {
  int rc = conn_send(conn, msg, sync__budget(sync));
  if (rc == 0 && !more) {
    conn->live = true;
    conn->sent_seq = cursor;
  }
  conn_msg_unref(msg);
  return rc;
}

static void sync__pull_done(store_req_t *req) {
  sync_job_t *job = req->data;
  sync_t *sync = job->sync;
  conn_t *conn = job->conn;
  store_pull_t *p = &req->u.pull;

  if (!conn->wsi || !conn->org) goto done; /* closed, or cut off (revoked) */
  if (req->status != 0) {
    conn_send_error(conn, req->status, NULL, false);
    goto done;
  }
  org_t *org = conn->org;
  if (p->head > org->head) org->head = p->head;
  bool more = p->next_cursor < org->head;
  uint32_t taken;
  uint64_t cursor;
  conn_msg_t *msg = sync__encode_page(PROTO_CHANGES, p->ops, p->backfill, p->nops, p->cursor,
                                      p->next_cursor, more, &taken, &cursor);
  if (!msg) {
    conn_send_error(conn, PROTO_EINTERNAL, "could not encode a page of changes", false);
    goto done;
  }
  more = more || taken < p->nops;
  if (sync__send_page(sync, conn, msg, cursor, more) == 0) sync__pull_served(sync, conn, p->cursor);
  log_debug("pull conn=%" PRIu64 " device=%s from=%" PRIu64 " ops=%u cursor=%" PRIu64
            " more=%d",
            conn->id, conn->device, p->cursor, taken, cursor, more);
done:
  sync__job_free(job);
}

/* A pull of ops the loop has just seen committed, answered from memory
 * (recent.h). Returns false when the store has to answer it. */
static bool sync__pull_recent(sync_t *sync, conn_t *conn, const proto_pull_t *pull) {
  uint64_t cursor;
  bool more;
  if (conn->scope || !conn->org || !conn->org->recent) return false; /* scoped: the store filters */
  uint32_t limit = pull->limit ? pull->limit : SYNC__PULL_DEFAULT;
  conn_msg_t *msg = recent_page(conn->org->recent, pull->cursor, limit, conn->org->head, &cursor,
                                &more);
  if (!msg) return false;
  conn->live = false;
  if (sync__send_page(sync, conn, msg, cursor, more) == 0)
    sync__pull_served(sync, conn, pull->cursor);
  log_debug("pull conn=%" PRIu64 " device=%s from=%" PRIu64 " cursor=%" PRIu64
            " more=%d (recent)",
            conn->id, conn->device, pull->cursor, cursor, more);
  return true;
}

static void sync__on_pull(sync_t *sync, conn_t *conn, proto_frame_t *frame) {
  if (sync__pull_recent(sync, conn, &frame->u.pull)) {
    proto_frame_free(frame);
    return;
  }
  sync_job_t *job = sync__job(sync, conn, frame, STORE_PULL);
  if (!job) {
    proto_frame_free(frame);
    conn_send_error(conn, PROTO_ENOMEM, NULL, false);
    return;
  }
  job->req.u.pull.org_id = conn->org_id;
  job->req.u.pull.cursor = frame->u.pull.cursor;
  job->req.u.pull.limit = frame->u.pull.limit ? frame->u.pull.limit : SYNC__PULL_DEFAULT;
  job->req.u.pull.scoped = conn->scope != NULL;
  job->req.u.pull.device = proto_str(conn->device);
  /* Not live until this page shows it caught up. */
  conn->live = false;
  sync__submit(job, sync__pull_done);
}

/* ---- transport events ---------------------------------------------------- */

int sync_on_open(sync_t *sync, conn_t *conn) {
  uint32_t n = peers_add(sync->pending, conn->peer);
  if (n == 0) return -1;
  conn->pending = true;
  if (n > sync->cfg->max_pending_per_address) {
    sync__not_pending(sync, conn);
    log_warn("connection refused: %s already holds %u connections that have not been "
             "welcomed (--max-pending-per-address)", conn->peer, n - 1);
    return -1;
  }
  sync->nconns++;
  conn->tokens = 2.0 * sync->cfg->max_frames_per_s;
  conn->tokens_at_ms = uv_now(sync->loop);
  conn->limited_notice_ms = conn->tokens_at_ms - 1000;
  conn->push_tokens = 2.0 * sync->cfg->max_pushes_per_s;
  conn->push_tokens_at_ms = conn->tokens_at_ms;
  log_info("connect conn=%" PRIu64 " peer=%s connections=%u", conn->id, conn->peer,
           sync->nconns);
  return 0;
}

/* Token bucket: max_frames_per_s sustained, twice that in a burst. */
static bool sync__allow_frame(sync_t *sync, conn_t *conn) {
  uint64_t now = uv_now(sync->loop);
  double rate = sync->cfg->max_frames_per_s;
  conn->tokens += (double)(now - conn->tokens_at_ms) * rate / 1000.0;
  if (conn->tokens > 2.0 * rate) conn->tokens = 2.0 * rate;
  conn->tokens_at_ms = now;
  if (conn->tokens < 1.0) return false;
  conn->tokens -= 1.0;
  return true;
}

void sync_on_message(sync_t *sync, conn_t *conn, const uint8_t *msg, size_t len) {
  proto_frame_t *frame = NULL;
  if (!sync__allow_frame(sync, conn)) {
    /* At most one error a second, so a flood cannot turn our answers into a
     * flood of its own. */
    uint64_t now = uv_now(sync->loop);
    if (now - conn->limited_notice_ms >= 1000) {
      conn->limited_notice_ms = now;
      conn_send_error(conn, PROTO_ERATE_LIMITED, NULL, false);
    }
    return;
  }
  int rc = proto_decode(msg, len, &frame);
  if (rc != 0) {
    conn_send_error(conn, rc, NULL, false);
    return;
  }
  if (sync->shutting_down) {
    conn_send_error(conn, PROTO_ESHUTTING_DOWN, NULL, true);
    proto_frame_free(frame);
    return;
  }
  switch (frame->type) {
  case PROTO_HELLO:
    sync__on_hello(sync, conn, frame);
    return;
  case PROTO_PING: {
    proto_frame_t pong = {.type = PROTO_PONG};
    pong.u.ping.nonce = frame->u.ping.nonce;
    conn_send_frame(conn, &pong, sync__budget(sync));
    break;
  }
  case PROTO_PONG:
    break;
  case PROTO_ERROR:
    log_info("client error conn=%" PRIu64 " device=%s code=%d msg=\"%.*s\"", conn->id,
             conn->device[0] ? conn->device : "-", frame->u.error.code,
             (int)frame->u.error.message.len, frame->u.error.message.ptr);
    break;
  case PROTO_PUSH:
  case PROTO_PULL:
    if (conn->state != CONN_READY) {
      conn_send_error(conn, PROTO_ENOT_AUTHENTICATED, NULL, true);
      break;
    }
    if (frame->type == PROTO_PUSH)
      sync__on_push(sync, conn, frame);
    else
      sync__on_pull(sync, conn, frame);
    return;
  default:
    conn_send_error(conn, PROTO_EUNKNOWN_TYPE, "this frame type is only sent by servers",
                    false);
    break;
  }
  proto_frame_free(frame);
}

void sync_on_bad_message(sync_t *sync, conn_t *conn, int code) {
  (void)sync;
  if (code == PROTO_EBAD_FRAME)
    conn_send_error(conn, code, "frames must be binary websocket messages", false);
  else
    conn_send_error(conn, code, NULL, code == PROTO_ETOO_LARGE);
}

static void sync__status_done(store_req_t *req) {
  sync_job_t *job = req->data;
  if (req->status != 0)
    log_warn("could not record device %.*s offline: %s", (int)req->u.status.device.len,
             req->u.status.device.ptr, proto_strerror(req->status));
  else if (job->sync->dashboard)
    dashboard_on_device(job->sync->dashboard, req->u.status.org_id);
  free((void *)req->u.status.device.ptr);
  sync__job_free(job);
}

/* Records that device has no connection any more (devices.online = 0). */
static void sync__mark_offline(sync_t *sync, int64_t org_id, proto_str_t device) {
  sync_job_t *job = sync__job(sync, NULL, NULL, STORE_STATUS);
  char *copy = job ? strndup(device.ptr, device.len) : NULL;
  if (job && copy) {
    job->req.u.status = (store_status_t){.org_id = org_id,
                                         .device = proto_str(copy),
                                         .outbox = STORE_OUTBOX_UNCHANGED,
                                         .now_ms = sync__now_ms(),
                                         .online = false};
    if (sync__submit(job, sync__status_done) != 0) free(copy);
  } else {
    free(copy);
    if (job) sync__job_free(job);
  }
}

void sync_on_close(sync_t *sync, conn_t *conn) {
  sync__not_pending(sync, conn);
  sync->nconns--;
  log_info("close conn=%" PRIu64 " peer=%s device=%s connections=%u", conn->id, conn->peer,
           conn->device[0] ? conn->device : "-", sync->nconns);
  if (conn->state == CONN_READY) {
    sync__org_leave(conn);
    sync__mark_offline(sync, conn->org_id, proto_str(conn->device));
  }
}

/* ---- administration ----------------------------------------------------- */

static org_t *sync__org_find(sync_t *sync, int64_t id) {
  for (org_t *org = sync->orgs; org; org = org->next)
    if (org->id == id) return org;
  return NULL;
}

static void sync__changed_read(sync_t *sync, int64_t org_id, uint64_t from);

/* Ops turfctl committed have been read: send them live, then read on if
 * there were more than a page. */
static void sync__changed_done(store_req_t *req) {
  sync_job_t *job = req->data;
  sync_t *sync = job->sync;
  store_pull_t *p = &req->u.pull;
  org_t *org = sync__org_find(sync, p->org_id);

  if (req->status != 0) {
    if (req->status != PROTO_ESHUTTING_DOWN)
      log_warn("could not read the ops turfctl committed to org=%" PRId64 ": %s", p->org_id,
               proto_strerror(req->status));
    goto done;
  }
  if (org && !sync->shutting_down) {
    if (p->head > org->head) org->head = p->head;
    /* Ops turfctl stored bound later pushes like any others. */
    for (uint32_t i = 0; i < p->nops; i++) hlc_observe(&sync->clock, p->ops[i].hlc);
    sync__fan_out(sync, org, p->ops, p->locs, p->vis, p->nops);
    if (sync->dashboard) dashboard_on_commit(sync->dashboard, p->org_id, p->nops);
    log_info("admin change org=%" PRId64 " ops=%u head=%" PRIu64, p->org_id, p->nops, p->head);
    if (p->nops && p->next_cursor < p->head) sync__changed_read(sync, p->org_id, p->next_cursor);
  }
done:
  sync__job_free(job);
}

static void sync__changed_read(sync_t *sync, int64_t org_id, uint64_t from) {
  sync_job_t *job = sync__job(sync, NULL, NULL, STORE_PULL);
  if (!job) return; /* connections catch up at their next pull */
  job->req.u.pull.org_id = org_id;
  job->req.u.pull.cursor = from;
  job->req.u.pull.limit = PROTO_MAX_PULL_LIMIT;
  job->req.u.pull.want_locs = true;
  sync__submit(job, sync__changed_done);
}

/* ---- commits made elsewhere ---------------------------------------------- */

static void sync__probe_done(store_req_t *req) {
  sync_job_t *job = req->data;
  sync_t *sync = job->sync;
  const store_heads_t *h = &req->u.heads;

  sync->probe_in_flight = false;
  /* A push of this loop may have committed after the probe read: its
   * completion, not yet handled, would explain a greater head. */
  if (req->status == 0 && !sync->shutting_down && sync->pushes_in_flight == 0) {
    for (org_t *org = sync->orgs; org; org = org->next) {
      if (!org->conns) continue;
      /* h->orgs is ascending: a binary search for this organisation. */
      uint32_t lo = 0, hi = h->n;
      while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (h->orgs[mid] < org->id) lo = mid + 1;
        else hi = mid;
      }
      if (lo == h->n || h->orgs[lo] != org->id || h->heads[lo] <= org->head) continue;
      log_info("org=%" PRId64 ": commits from outside turfd found (head %" PRIu64
               ", known %" PRIu64 ")", org->id, h->heads[lo], org->head);
      sync_org_changed(sync, org->id);
    }
  }
  sync__job_free(job);
}

/* One read of every organisation's head a second, answered by the reader
 * thread. */
static void sync__probe_tick(uv_timer_t *timer) {
  sync_t *sync = timer->data;
  if (sync->shutting_down || sync->probe_in_flight || sync->pushes_in_flight > 0) return;
  sync_job_t *job = sync__job(sync, NULL, NULL, STORE_HEADS);
  if (job && sync__submit(job, sync__probe_done) == 0) sync->probe_in_flight = true;
}

static void sync__probe_start(sync_t *sync) {
  if (sync->probe_open || sync->shutting_down) return;
  if (uv_timer_init(sync->loop, &sync->probe) != 0) return;
  sync->probe.data = sync;
  sync->probe_open = true;
  uv_timer_start(&sync->probe, sync__probe_tick, SYNC__PROBE_MS, SYNC__PROBE_MS);
}

void sync_org_changed(sync_t *sync, int64_t org_id) {
  org_t *org = sync__org_find(sync, org_id);
  bool any = false;
  uint64_t from = UINT64_MAX;

  if (!org || sync->shutting_down) return; /* nobody connected: they pull */
  /* Committed elsewhere, or ops rewritten (an erasure scrubs them): what
   * is kept no longer reaches head, or no longer says what the store does. */
  recent_clear(org->recent);
  /* From the connection furthest behind; fan-out skips what each has. */
  for (conn_t *c = org->conns; c; c = c->org_next) {
    if (!c->live) continue;
    any = true;
    if (c->sent_seq < from) from = c->sent_seq;
  }
  if (any) sync__changed_read(sync, org_id, from);
}

/* Cuts device's connections off with code (x = true). */
static uint32_t sync__cut_device(sync_t *sync, const char *device, int code) {
  uint32_t n = 0;
  for (org_t *org = sync->orgs; org; org = org->next) {
    conn_t *c = org->conns;
    while (c) {
      conn_t *next = c->org_next;
      if (strcmp(c->device, device) == 0) {
        /* Out of the fan-out first, then the error: nothing queued after
         * it is sent (conn_send refuses once a closing error is queued). */
        sync__org_leave(c);
        c->live = false;
        conn_send_error(c, code, NULL, true);
        n++;
      }
      c = next;
    }
  }
  return n;
}

uint32_t sync_device_revoked(sync_t *sync, const char *device) {
  return sync__cut_device(sync, device, PROTO_EREVOKED);
}

uint32_t sync_device_rescoped(sync_t *sync, const char *device) {
  /* Its connections hold the old locations (conn->scope, read at hello):
   * only a new hello reads the new ones. */
  return sync__cut_device(sync, device, PROTO_ERESCOPED);
}
