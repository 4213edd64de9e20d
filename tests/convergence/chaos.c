/* chaos.c — turf-chaos: seeded fault runs against the real turfd and the
 * real client library, with the checks that turn "it converges and loses
 * nothing" into numbers.
 *
 *   turf-chaos converge  K tablets record check-ins, walk-ins, tallies,
 *                        messages, edits and session logs while their links
 *                        are cut, delayed, duplicated and reordered, their
 *                        clocks skewed up to a year and made to jump, and
 *                        turfd is restarted (SIGTERM) and killed (SIGKILL).
 *   turf-chaos crash     a continuous stream from many tablets while turfd
 *                        is killed with SIGKILL at random moments.
 *   turf-chaos storage   the same stream while the database's file system
 *                        is full, read-only, or over RLIMIT_FSIZE.
 *
 * After every run all tablets sync to quiescence and the harness checks:
 * every acked op is in the server's op log exactly once (verified also
 * right after every kill); nothing recorded is missing; every replica's
 * canonical dump equals the server's; the merge rules, replayed by an
 * independent model over the op log, give exactly the server's tables and
 * conflict log; what the harness itself recorded (tallies, messages,
 * check-ins, walk-ins) is there; every tablet received every other op in
 * server_seq order without a gap.
 *
 * Owns: the run directory, the turfd child, the proxies, the tablets'
 * local files and the libuv loop they all run on. Talks only to
 * 127.0.0.1; every phase has a deadline. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "client.h"
#include "local.h"
#include "proxy.h"
#include "tablet.h"
#include "turfproc.h"
#include "verify.h"

#define CHAOS__SKIP 77 /* ctest's conventional "skipped" exit code */

typedef enum { CHAOS__CONVERGE = 0, CHAOS__CRASH, CHAOS__STORAGE } chaos__mode_t;
typedef enum { CHAOS__NO_FAULT = 0, CHAOS__FULL, CHAOS__FSIZE, CHAOS__READONLY } chaos__fault_t;

typedef struct {
  chaos__mode_t mode;
  chaos__fault_t fault;
  uint64_t seed_first, seed_last;
  uint32_t tablets;
  uint32_t steps;     /* converge: chaos ticks */
  uint32_t tick_ms;
  uint32_t kills;     /* crash: SIGKILLs per run */
  uint32_t settle_s;  /* deadline of the final sync (s) */
  const char *turfd;
  const char *tmp;
  bool keep;
} chaos__opts_t;

/* A growable set of sequence numbers (device_seq or server_seq). */
typedef struct {
  uint64_t *words;
  uint64_t nwords;
  uint64_t count;
} chaos__set_t;

typedef struct {
  char id[TABLET_ID_SIZE];
  char *body;      /* the text it last wrote (owned) */
  bool deleted;
} chaos__msg_t;

typedef struct chaos__run_s chaos__run_t;

typedef struct {
  chaos__run_t *run;
  uint32_t idx;
  char name[32];
  char path[PATH_MAX];
  char device[TABLET_ID_SIZE];
  local_t *local;
  client_conn_t *conn;
  proxy_t *proxy;
  uint64_t rng;
  int64_t skew_ms;
  int64_t *tally;          /* this tablet's running count per session */
  chaos__msg_t *msgs;      /* messages it posted */
  uint32_t nmsgs, cap_msgs;
  uint32_t faults_until;   /* step at which its link faults end */
  /* what turfd told it, seen at the proxy before any fault */
  chaos__set_t acked;      /* seqs in ack ranges: must be in ops */
  chaos__set_t rejected;   /* seqs refused for their content */
  uint64_t held_upto;      /* max welcome.last: all seqs <= it decided */
  uint64_t storage_errors; /* error frames with code STORAGE */
  uint64_t acks_after;     /* ack ranges seen after a fault was lifted */
  /* what it applied of other devices' ops */
  chaos__set_t pulled;
  uint64_t last_pulled;
  uint64_t out_of_order;
} chaos__tab_t;

typedef struct {
  char session[TABLET_ID_SIZE];
  char person[TABLET_ID_SIZE];
} chaos__pair_t;

typedef enum { CHAOS__ENROL = 0, CHAOS__RUN, CHAOS__SETTLE, CHAOS__DONE } chaos__phase_t;

typedef struct {
  uint64_t seeds, failed_seeds;
  uint64_t ops, acked_verified, lost, duplicates, rejected;
  uint64_t kills, restarts, cuts, skews, delayed, duplicated, reordered;
  uint64_t storage_errors, conflicts, causal, records, checks_at_kill, inflated;
} chaos__totals_t;

struct chaos__run_s {
  const chaos__opts_t *opts;
  uint64_t seed, rng;
  char dir[1024];
  char dbdir[1100];
  bool mounted;
  uv_loop_t loop;
  client_t *client;
  uv_timer_t tick;
  turfproc_t srv;
  sqlite3 *sdb;            /* the harness's own connection to turfd's file */
  int64_t org;
  chaos__tab_t *tabs;
  char (*sessions)[TABLET_ID_SIZE];
  uint32_t nsessions;
  char (*activities)[TABLET_ID_SIZE];
  uint32_t nactivities;
  char (*people)[TABLET_ID_SIZE];
  uint32_t npeople, cap_people;
  chaos__pair_t *checkins;
  uint32_t ncheckins, cap_checkins;
  chaos__phase_t phase;
  uint32_t step;
  uint64_t phase_ms;       /* loop time the phase began */
  int failures;
  char reason[512];        /* first failure, for the summary */
  /* converge: server schedule */
  uint32_t graceful_at, kill_at, down_until;
  /* crash */
  uint64_t acks_since_start, kill_after, kill_after_ms, started_ms, restart_at_ms;
  /* storage */
  int fault_state;         /* 0 before, 1 on, 2 lifted */
  uint64_t fault_ms;
  int filler_fd;
  bool turfd_refused_start;
  chaos__totals_t t;       /* this run's figures */
};

static volatile sig_atomic_t chaos__interrupted;

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t chaos__rand(uint64_t *s) {
  /* xorshift64*: the whole script of a run replays from its seed */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

static uint32_t chaos__pick(uint64_t *s, uint32_t n) {
  return n ? (uint32_t)(chaos__rand(s) % n) : 0;
}

static bool chaos__chance(uint64_t *s, uint32_t per_mille) {
  return chaos__rand(s) % 1000 < per_mille;
}

static void chaos__fail(chaos__run_t *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void chaos__fail(chaos__run_t *run, const char *fmt, ...) {
  va_list ap;
  char line[512];
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (run->failures++ == 0)
    snprintf(run->reason, sizeof(run->reason), "%s", line);
  if (run->failures <= 40)
    fprintf(stderr, "seed %" PRIu64 ": FAIL: %s\n", run->seed, line);
}

static int chaos__set_add(chaos__set_t *s, uint64_t v) {
  uint64_t w = v / 64;
  if (w >= s->nwords) {
    uint64_t n = s->nwords ? s->nwords : 16;
    uint64_t *p;
    while (n <= w)
      n *= 2;
    p = realloc(s->words, n * sizeof(*p));
    if (p == NULL)
      return -1;
    memset(p + s->nwords, 0, (n - s->nwords) * sizeof(*p));
    s->words = p;
    s->nwords = n;
  }
  if (!(s->words[w] & (UINT64_C(1) << (v % 64)))) {
    s->words[w] |= UINT64_C(1) << (v % 64);
    s->count++;
  }
  return 0;
}

static bool chaos__set_has(const chaos__set_t *s, uint64_t v) {
  return v / 64 < s->nwords && (s->words[v / 64] & (UINT64_C(1) << (v % 64)));
}

static uint64_t chaos__set_max(const chaos__set_t *s) {
  for (uint64_t w = s->nwords; w-- > 0;)
    if (s->words[w])
      return w * 64 + 63 - (uint64_t)__builtin_clzll(s->words[w]);
  return 0;
}

static void chaos__set_free(chaos__set_t *s) {
  free(s->words);
  memset(s, 0, sizeof(*s));
}

static int chaos__ids_push(char (**arr)[TABLET_ID_SIZE], uint32_t *n, uint32_t *cap,
                           const char *id) {
  if (*n == *cap) {
    uint32_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * sizeof(**arr));
    if (p == NULL)
      return -1;
    *arr = p;
    *cap = c;
  }
  snprintf((*arr)[(*n)++], TABLET_ID_SIZE, "%s", id);
  return 0;
}

/* Loads column 0 of sql on db into a new id list. */
static int chaos__ids_load(sqlite3 *db, const char *sql, char (**arr)[TABLET_ID_SIZE],
                           uint32_t *n, uint32_t *cap) {
  sqlite3_stmt *st;
  int rc;
  uint32_t c = 0;
  *arr = NULL;
  *n = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return -1;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if (chaos__ids_push(arr, n, &c, (const char *)sqlite3_column_text(st, 0)) != 0)
      break;
  sqlite3_finalize(st);
  if (cap != NULL)
    *cap = c;
  return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t chaos__query_int(sqlite3 *db, const char *sql, int64_t a, const char *b,
                                int64_t dflt) {
  sqlite3_stmt *st;
  int64_t v = dflt;
  if (db == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return dflt;
  sqlite3_bind_int64(st, 1, a);
  if (b != NULL)
    sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* The harness only reads turfd's file. It opens it read-write all the
 * same, so that after a kill it can recover the WAL the dead process left,
 * exactly as the next turfd would. */
static int chaos__open_sdb(chaos__run_t *run) {
  if (run->sdb != NULL)
    return 0;
  if (sqlite3_open_v2(run->srv.db, &run->sdb, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    fprintf(stderr, "chaos: cannot open %s: %s\n", run->srv.db,
            run->sdb ? sqlite3_errmsg(run->sdb) : "out of memory");
    sqlite3_close(run->sdb);
    run->sdb = NULL;
    return -1;
  }
  sqlite3_busy_timeout(run->sdb, 5000);
  return 0;
}

static void chaos__close_sdb(chaos__run_t *run) {
  sqlite3_close(run->sdb);
  run->sdb = NULL;
}

static uint64_t chaos__head(chaos__run_t *run) {
  return (uint64_t)chaos__query_int(run->sdb, "SELECT head FROM orgs WHERE id = ?1", run->org,
                                    NULL, -1);
}

static uint64_t chaos__recorded(chaos__tab_t *tab) {
  int64_t next = local_meta_int(tab->local, "next_seq", 1);
  return next > 0 ? (uint64_t)next - 1 : 0;
}

/* ---- what turfd said, seen at the proxies ---------------------------------------- */

static void chaos__on_server_frame(void *data, const proto_frame_t *f) {
  chaos__tab_t *tab = data;
  chaos__run_t *run = tab->run;
  uint64_t recorded = chaos__recorded(tab);

  switch (f->type) {
  case PROTO_WELCOME:
    if (f->u.welcome.last_seq > recorded)
      chaos__fail(run, "%s: welcome says seq %" PRIu64 " is durable, only %" PRIu64
                  " were recorded", tab->name, f->u.welcome.last_seq, recorded);
    else if (f->u.welcome.last_seq > tab->held_upto)
      tab->held_upto = f->u.welcome.last_seq;
    break;
  case PROTO_ACK:
    for (uint32_t i = 0; i < f->u.ack.nranges; i++) {
      const proto_range_t *r = &f->u.ack.ranges[i];
      if (r->to > recorded || r->from > r->to) {
        chaos__fail(run, "%s: ack of [%" PRIu64 ", %" PRIu64 "] but only %" PRIu64
                    " ops were recorded", tab->name, r->from, r->to, recorded);
        continue;
      }
      for (uint64_t s = r->from; s <= r->to; s++)
        chaos__set_add(&tab->acked, s);
      run->acks_since_start += r->to - r->from + 1;
      if (run->fault_state == 2)
        tab->acks_after += r->to - r->from + 1;
    }
    for (uint32_t i = 0; i < f->u.ack.nrejects; i++)
      if (f->u.ack.rejects[i].code != -PROTO_ESEQ_GAP)
        chaos__set_add(&tab->rejected, f->u.ack.rejects[i].seq);
    break;
  case PROTO_ERROR:
    if (f->u.error.code == -PROTO_ESTORAGE) {
      tab->storage_errors++;
      run->t.storage_errors++;
    }
    break;
  default:
    break;
  }
}

static void chaos__on_op(client_conn_t *conn, const proto_op_t *op, bool live) {
  chaos__tab_t *tab = client_conn_data(conn);
  (void)live;
  /* Pages apply only where they continue the cursor, so ops of others
   * arrive strictly in server_seq order: anything else is a gap or a
   * replay the client should not have applied. */
  if (op->server_seq <= tab->last_pulled)
    tab->out_of_order++;
  tab->last_pulled = op->server_seq;
  chaos__set_add(&tab->pulled, op->server_seq);
}

static void chaos__on_disconnect(client_conn_t *conn, int code, const char *reason,
                                 bool will_retry) {
  chaos__tab_t *tab = client_conn_data(conn);
  if (!will_retry)
    chaos__fail(tab->run, "%s gave up syncing (%s): %s", tab->name, proto_errname(code), reason);
}

/* Every op turfd acked must be in its op log exactly once (and not among
 * the refused), every refusal in rejected_ops, and every seq up to a
 * welcome's "last" decided one way or the other. Run right after each
 * kill, on what the dead process left on disk, and at the end. Returns the
 * number of acked ops checked. */
static uint64_t chaos__check_durable(chaos__run_t *run, const char *when) {
  uint64_t checked = 0;
  sqlite3_stmt *st;

  if (chaos__open_sdb(run) != 0) {
    chaos__fail(run, "%s: cannot read the server database", when);
    return 0;
  }
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    chaos__set_t stored = {0}, refused = {0};
    uint64_t dup = 0;

    if (sqlite3_prepare_v2(run->sdb,
                           "SELECT seq, count(*) FROM ops WHERE org = ?1 AND device = ?2 "
                           "GROUP BY seq",
                           -1, &st, NULL) != SQLITE_OK) {
      chaos__fail(run, "%s: %s", when, sqlite3_errmsg(run->sdb));
      return checked;
    }
    sqlite3_bind_int64(st, 1, run->org);
    sqlite3_bind_text(st, 2, tab->device, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
      chaos__set_add(&stored, (uint64_t)sqlite3_column_int64(st, 0));
      if (sqlite3_column_int64(st, 1) > 1)
        dup += (uint64_t)sqlite3_column_int64(st, 1) - 1;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(run->sdb, "SELECT seq FROM rejected_ops WHERE device = ?2 AND org = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, run->org);
      sqlite3_bind_text(st, 2, tab->device, -1, SQLITE_STATIC);
      while (sqlite3_step(st) == SQLITE_ROW)
        chaos__set_add(&refused, (uint64_t)sqlite3_column_int64(st, 0));
      sqlite3_finalize(st);
    }
    if (dup > 0) {
      run->t.duplicates += dup;
      chaos__fail(run, "%s: %s has %" PRIu64 " op(s) twice in the log", when, tab->name, dup);
    }
    for (uint64_t s = 1, max = chaos__set_max(&tab->acked); s <= max; s++) {
      if (!chaos__set_has(&tab->acked, s))
        continue;
      checked++;
      if (!chaos__set_has(&stored, s)) {
        run->t.lost++;
        chaos__fail(run, "%s: %s seq %" PRIu64 " was acked but is not in the op log%s", when,
                    tab->name, s, chaos__set_has(&refused, s) ? " (it is among the refused)" : "");
      }
    }
    for (uint64_t s = 1, max = chaos__set_max(&tab->rejected); s <= max; s++)
      if (chaos__set_has(&tab->rejected, s) && !chaos__set_has(&refused, s))
        chaos__fail(run, "%s: %s seq %" PRIu64 " was refused but the refusal is not kept", when,
                    tab->name, s);
    for (uint64_t s = 1; s <= tab->held_upto; s++) {
      if (chaos__set_has(&stored, s) && !chaos__set_has(&tab->acked, s))
        checked++; /* durable by a welcome's "last" alone, and there */
      if (!chaos__set_has(&stored, s) && !chaos__set_has(&refused, s)) {
        run->t.lost++;
        chaos__fail(run, "%s: %s seq %" PRIu64 " was reported durable by a welcome but is gone",
                    when, tab->name, s);
        break;
      }
    }
    chaos__set_free(&stored);
    chaos__set_free(&refused);
  }
  return checked;
}

/* ---- recording --------------------------------------------------------------------- */

static const char *const chaos__names[] = {"Anna de Vries", "Mohamed El Amrani", "Fatma Yilmaz",
                                           "Kees Jansen",   "Gerda Bakker",      "Sanne Visser",
                                           "Ricardo Silva", "Noor Bouzid"};
static const char *const chaos__statuses[] = {"present", "absent", "excused"};
static const char *const chaos__referrals[] = {"GP", "neighbourhood team", "friend", NULL};

/* Text of the given size for notes and messages; storage runs use long
 * ones so that the file system fills within seconds. */
static void chaos__text(char *buf, size_t size, const chaos__tab_t *tab, const char *what,
                        uint64_t n, size_t want) {
  int at = snprintf(buf, size, "%s %s %" PRIu64 ".", what, tab->name, n);
  size_t len = at > 0 ? (size_t)at : 0;
  for (; len < want && len + 1 < size; len++)
    buf[len] = (char)('a' + (len * 7 + n) % 26);
  buf[len] = '\0';
}

/* Records one random op on tab (two for a walk-in). Every choice comes
 * from the tablet's own generator, never from what the network did, so a
 * seed replays the same script. */
static void chaos__record(chaos__tab_t *tab, size_t text_len) {
  chaos__run_t *run = tab->run;
  uint64_t *r = &tab->rng;
  uint32_t si = chaos__pick(r, run->nsessions);
  const char *session = run->sessions[si];
  const char *person = run->people[chaos__pick(r, run->npeople)];
  uint32_t dice = chaos__pick(r, 100);
  uint64_t n = chaos__rand(r) % 100000;
  char id[TABLET_ID_SIZE], text[PROTO_MAX_TEXT_BYTES];
  int rc = 0;

  if (dice < 28) {
    rc = tablet_checkin(tab->local, session, person);
    if (rc == 0 && run->ncheckins == run->cap_checkins) {
      uint32_t c = run->cap_checkins ? run->cap_checkins * 2 : 64;
      void *p = realloc(run->checkins, c * sizeof(*run->checkins));
      if (p != NULL) {
        run->checkins = p;
        run->cap_checkins = c;
      }
    }
    if (rc == 0 && run->ncheckins < run->cap_checkins) {
      chaos__pair_t *pair = &run->checkins[run->ncheckins++];
      snprintf(pair->session, sizeof(pair->session), "%s", session);
      snprintf(pair->person, sizeof(pair->person), "%s", person);
    }
  } else if (dice < 36) {
    rc = tablet_set_status(tab->local, session, person, chaos__statuses[chaos__pick(r, 3)]);
  } else if (dice < 43) {
    rc = tablet_checkout(tab->local, session, person);
  } else if (dice < 50) {
    rc = tablet_walkin(tab->local, session, chaos__names[chaos__pick(r, 8)],
                       chaos__referrals[chaos__pick(r, 4)], NULL, id);
    if (rc == 0)
      chaos__ids_push(&run->people, &run->npeople, &run->cap_people, id);
  } else if (dice < 64) {
    int64_t delta = 1 + (int64_t)chaos__pick(r, 3), count = 0;
    if (chaos__pick(r, 4) == 0 && tab->tally[si] > 0)
      delta = -1; /* a correction, never below what this tablet counted */
    rc = tablet_tally(tab->local, session, delta, &count);
    if (rc == 0)
      tab->tally[si] = count;
  } else if (dice < 74 && run->nactivities > 0) {
    chaos__msg_t *m;
    chaos__text(text, sizeof(text), tab, "post by", n, text_len);
    if (tab->nmsgs == tab->cap_msgs) {
      uint32_t c = tab->cap_msgs ? tab->cap_msgs * 2 : 16;
      void *p = realloc(tab->msgs, c * sizeof(*tab->msgs));
      if (p == NULL)
        return;
      tab->msgs = p;
      tab->cap_msgs = c;
    }
    rc = tablet_post(tab->local, run->activities[chaos__pick(r, run->nactivities)], text, id);
    if (rc == 0) {
      m = &tab->msgs[tab->nmsgs++];
      snprintf(m->id, sizeof(m->id), "%s", id);
      m->body = strdup(text);
      m->deleted = false;
    }
  } else if (dice < 82 && tab->nmsgs > 0) {
    chaos__msg_t *m = &tab->msgs[chaos__pick(r, tab->nmsgs)];
    chaos__text(text, sizeof(text), tab, "edit by", n, text_len);
    rc = tablet_edit(tab->local, m->id, text);
    if (rc == 0) {
      free(m->body);
      m->body = strdup(text);
    }
  } else if (dice < 85 && tab->nmsgs > 0) {
    chaos__msg_t *m = &tab->msgs[chaos__pick(r, tab->nmsgs)];
    rc = tablet_delete(tab->local, m->id);
    if (rc == 0)
      m->deleted = true;
  } else {
    bool start = chaos__pick(r, 3) == 0, end = chaos__pick(r, 3) == 0;
    int64_t headcount = chaos__pick(r, 2) ? (int64_t)chaos__pick(r, 40) : -1;
    bool notes = chaos__pick(r, 2) || (!start && !end && headcount < 0);
    chaos__text(text, sizeof(text), tab, "notes by", n, text_len);
    rc = tablet_log(tab->local, session, start, end, headcount, notes ? text : NULL);
  }
  if (rc != 0)
    chaos__fail(run, "%s could not record an op offline: %s", tab->name, proto_strerror(rc));
}

/* ---- turfd --------------------------------------------------------------------------- */

static int chaos__start_server(chaos__run_t *run) {
  if (turfproc_start(&run->srv) != 0)
    return -1;
  if (run->srv.starts > 1)
    run->t.restarts++;
  uv_update_time(&run->loop); /* the start blocked the loop */
  run->acks_since_start = 0;
  run->started_ms = uv_now(&run->loop);
  /* crash: the next kill comes after this many acks or this long, whichever
   * is first, so that some land mid-commit and some in quiet moments. */
  run->kill_after = 1 + chaos__pick(&run->rng, 80);
  run->kill_after_ms = 50 + chaos__pick(&run->rng, 1500);
  return 0;
}

static void chaos__kill_server(chaos__run_t *run, const char *why) {
  char when[96];
  turfproc_signal(&run->srv, SIGKILL);
  run->t.kills++;
  snprintf(when, sizeof(when), "after kill %" PRIu64 " (%s)", run->t.kills, why);
  /* What the dead process acked must already be on disk. */
  run->t.checks_at_kill += chaos__check_durable(run, when);
  uv_update_time(&run->loop);
}

static void chaos__stop_server(chaos__run_t *run, const char *why) {
  char desc[64];
  int status = turfproc_signal(&run->srv, SIGTERM);
  if (status != 0)
    chaos__fail(run, "turfd did not stop cleanly on SIGTERM %s: %s", why,
                turfproc_describe(status, desc, sizeof(desc)));
  uv_update_time(&run->loop);
}

/* ---- storage faults ----------------------------------------------------------------- */

/* Fills the file system under dbdir: a real ENOSPC for turfd's next write
 * that needs a new block. */
static int chaos__fill(chaos__run_t *run) {
  static char chunk[1 << 16];
  char path[PATH_MAX + 16];
  size_t size = sizeof(chunk);

  snprintf(path, sizeof(path), "%s/filler", run->dbdir);
  run->filler_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (run->filler_fd < 0)
    return -1;
  memset(chunk, 'x', sizeof(chunk));
  for (;;) {
    ssize_t n = write(run->filler_fd, chunk, size);
    if (n > 0)
      continue;
    if (n < 0 && errno == ENOSPC && size > 512) {
      size /= 2;
      continue;
    }
    break;
  }
  fsync(run->filler_fd);
  return 0;
}

static void chaos__unfill(chaos__run_t *run) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/filler", run->dbdir);
  if (run->filler_fd >= 0)
    close(run->filler_fd);
  run->filler_fd = -1;
  unlink(path);
}

static int chaos__remount(chaos__run_t *run, bool read_only) {
  unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
  if (mount("tmpfs", run->dbdir, "tmpfs", flags, NULL) != 0) {
    chaos__fail(run, "cannot remount %s %s: %s", run->dbdir, read_only ? "read-only" : "read-write",
                strerror(errno));
    return -1;
  }
  return 0;
}

static void chaos__fault_on(chaos__run_t *run) {
  struct stat st;
  switch (run->opts->fault) {
  case CHAOS__FULL:
    if (chaos__fill(run) != 0)
      chaos__fail(run, "cannot fill %s: %s", run->dbdir, strerror(errno));
    break;
  case CHAOS__FSIZE:
    /* Below what the files already hold: the next write that extends the
     * WAL or the database is refused by the kernel (EFBIG). */
    if (stat(run->srv.db, &st) != 0 ||
        turfproc_set_fsize(&run->srv, (uint64_t)(st.st_size > 65536 ? st.st_size : 65536)) != 0)
      chaos__fail(run, "cannot lower RLIMIT_FSIZE of turfd");
    break;
  case CHAOS__READONLY:
    /* A file system cannot become read-only while a process writes to it,
     * so this is the restart case: turfd dies, the disk comes back
     * read-only, turfd is started on it. */
    chaos__kill_server(run, "before the read-only remount");
    chaos__close_sdb(run);
    if (chaos__remount(run, true) == 0 && chaos__start_server(run) != 0)
      run->turfd_refused_start = true;
    break;
  default:
    break;
  }
}

static void chaos__fault_off(chaos__run_t *run) {
  switch (run->opts->fault) {
  case CHAOS__FULL:
    chaos__unfill(run);
    break;
  case CHAOS__FSIZE:
    if (turfproc_set_fsize(&run->srv, UINT64_MAX) != 0)
      chaos__fail(run, "cannot raise RLIMIT_FSIZE of turfd again");
    break;
  case CHAOS__READONLY:
    if (run->srv.pid != 0)
      chaos__stop_server(run, "on the read-only file system");
    if (chaos__remount(run, false) == 0 && chaos__start_server(run) != 0)
      chaos__fail(run, "turfd does not start once the file system is writable again");
    break;
  default:
    break;
  }
}

/* ---- the phases ------------------------------------------------------------------------ */

static int64_t chaos__skew(uint64_t *r) {
  const int64_t s = 1000, h = 3600 * s, year = 365 * 24 * h;
  int64_t sign = chaos__pick(r, 2) ? 1 : -1;
  switch (chaos__pick(r, 7)) {
  case 0:
    return 0;
  case 1:
    return sign * (1 + (int64_t)chaos__pick(r, 59 * 1000)); /* under the 60 s bound */
  case 2:
    return sign * (61 * s + (int64_t)chaos__pick(r, 10 * 60 * 1000)); /* just over it */
  case 3:
    return sign * (1 + (int64_t)chaos__pick(r, 48)) * h;
  case 4:
    return year;
  case 5:
    return -year;
  default:
    return sign * (int64_t)chaos__pick(r, 5 * 1000);
  }
}

static void chaos__enter_settle(chaos__run_t *run) {
  for (uint32_t i = 0; i < run->opts->tablets; i++)
    proxy_set_faults(run->tabs[i].proxy, NULL, NULL);
  if (run->srv.pid == 0 && chaos__start_server(run) != 0)
    chaos__fail(run, "turfd does not start for the final sync");
  if (chaos__open_sdb(run) != 0)
    chaos__fail(run, "cannot read the server database for the final sync");
  run->phase = CHAOS__SETTLE;
  run->phase_ms = uv_now(&run->loop);
}

static void chaos__converge_step(chaos__run_t *run) {
  uint64_t *r = &run->rng;

  if (run->srv.pid == 0 && run->step >= run->down_until) {
    if (chaos__start_server(run) != 0)
      chaos__fail(run, "turfd does not restart at step %u", run->step);
  } else if (run->step == run->graceful_at && run->srv.pid != 0) {
    chaos__stop_server(run, "mid-run");
    if (chaos__start_server(run) != 0)
      chaos__fail(run, "turfd does not restart after SIGTERM");
  } else if (run->step == run->kill_at && run->srv.pid != 0) {
    chaos__kill_server(run, "mid-run");
    run->down_until = run->step + chaos__pick(r, 40);
  }
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    if (chaos__chance(r, 250))
      chaos__record(tab, 40);
    if (chaos__chance(r, 6)) {
      proxy_cut(tab->proxy, chaos__pick(r, 1500));
      run->t.cuts++;
    }
    if (chaos__chance(r, 8)) {
      proxy_faults_t up = {chaos__pick(r, 400), 1 + chaos__pick(r, 1500), chaos__pick(r, 300),
                           chaos__pick(r, 300)};
      proxy_faults_t down = {chaos__pick(r, 400), 1 + chaos__pick(r, 1500), chaos__pick(r, 300),
                             chaos__pick(r, 300)};
      proxy_set_faults(tab->proxy, &up, &down);
      tab->faults_until = run->step + 20 + chaos__pick(r, 100);
    } else if (tab->faults_until != 0 && run->step >= tab->faults_until) {
      proxy_set_faults(tab->proxy, NULL, NULL);
      tab->faults_until = 0;
    }
    if (chaos__chance(r, 4)) {
      /* A clock that jumps while the tablet runs: the offset it learnt at
       * its last welcome is now wrong until the next one. */
      tab->skew_ms = chaos__skew(r);
      local_set_skew(tab->local, tab->skew_ms);
      run->t.skews++;
    }
  }
  if (++run->step >= run->opts->steps)
    chaos__enter_settle(run);
}

static void chaos__crash_step(chaos__run_t *run) {
  uint64_t now = uv_now(&run->loop);

  for (uint32_t i = 0; i < run->opts->tablets; i++)
    if (chaos__chance(&run->rng, 300))
      chaos__record(&run->tabs[i], 40);
  if (run->srv.pid == 0) {
    if (now >= run->restart_at_ms && chaos__start_server(run) != 0)
      chaos__fail(run, "turfd does not restart after kill %" PRIu64, run->t.kills);
  } else if (run->acks_since_start >= run->kill_after ||
             now - run->started_ms > run->kill_after_ms) {
    chaos__kill_server(run, "mid-stream");
    run->restart_at_ms = now + chaos__pick(&run->rng, 250);
    if (run->t.kills >= run->opts->kills)
      chaos__enter_settle(run);
  }
  run->step++;
}

static void chaos__storage_step(chaos__run_t *run) {
  uint64_t now = uv_now(&run->loop);
  int status;
  char desc[64];

  for (uint32_t i = 0; i < run->opts->tablets; i++)
    if (chaos__chance(&run->rng, 400))
      chaos__record(&run->tabs[i], 3000);
  if (run->srv.pid != 0 && !turfproc_alive(&run->srv, &status)) {
    chaos__fail(run, "turfd died while its storage failed (%s); see %s",
                turfproc_describe(status, desc, sizeof(desc)), run->srv.log);
    if (chaos__start_server(run) != 0)
      chaos__fail(run, "and does not restart");
  }
  switch (run->fault_state) {
  case 0:
    if (run->step >= 150) {
      run->t.storage_errors = 0;
      chaos__fault_on(run);
      run->fault_state = 1;
      run->fault_ms = uv_now(&run->loop);
    }
    break;
  case 1:
    /* Long enough for every tablet to be refused, wait, retry and be
     * refused again: a refusal must not wedge anything. */
    if ((run->t.storage_errors >= 2 * run->opts->tablets || run->turfd_refused_start) &&
        now - run->fault_ms >= 3000) {
      chaos__fault_off(run);
      run->fault_state = 2;
      run->fault_ms = uv_now(&run->loop);
    } else if (now - run->fault_ms > 30000) {
      chaos__fail(run, "no write was refused within 30 s of the fault");
      chaos__fault_off(run);
      run->fault_state = 2;
      run->fault_ms = uv_now(&run->loop);
    }
    break;
  default:
    if (now - run->fault_ms >= 3000)
      chaos__enter_settle(run);
    break;
  }
  run->step++;
}

/* Quiet: turfd's head is where every tablet stands, with nothing to push,
 * nothing pending in any proxy, and every client idle. */
static bool chaos__quiet(chaos__run_t *run, bool print) {
  uint64_t head = chaos__head(run);
  bool quiet = head != UINT64_MAX && run->srv.pid != 0;

  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    int64_t out = local_outbox_count(tab->local);
    uint64_t cur = local_cursor(tab->local);
    bool synced = client_conn_synced(tab->conn), idle = proxy_idle(tab->proxy);
    if (out != 0 || cur != head || !synced || !idle) {
      quiet = false;
      if (print)
        fprintf(stderr, "  %s: outbox %lld, cursor %" PRIu64 " of %" PRIu64 ", %s, proxy %s\n",
                tab->name, (long long)out, cur, head, synced ? "synced" : "not synced",
                idle ? "idle" : "busy");
    }
    if (!quiet && !print)
      return false;
  }
  return quiet;
}

static void chaos__finish(chaos__run_t *run) {
  run->phase = CHAOS__DONE;
  uv_close((uv_handle_t *)&run->tick, NULL);
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    proxy_stats_t ps = proxy_stats(run->tabs[i].proxy);
    run->t.delayed += ps.delayed;
    run->t.duplicated += ps.duplicated;
    run->t.reordered += ps.reordered;
    run->t.inflated += ps.inflated;
    proxy_close(run->tabs[i].proxy);
  }
  client_shutdown(run->client);
}

static int chaos__load_lists(chaos__run_t *run) {
  sqlite3 *db = local_db(run->tabs[0].local);
  if (chaos__ids_load(db, "SELECT id FROM sessions WHERE org = 0 AND COALESCE(cancelled, 0) = 0 "
                          "ORDER BY id",
                      &run->sessions, &run->nsessions, NULL) != 0 ||
      chaos__ids_load(db, "SELECT id FROM activities WHERE org = 0 ORDER BY id",
                      &run->activities, &run->nactivities, NULL) != 0 ||
      chaos__ids_load(db, "SELECT id FROM participants WHERE org = 0 ORDER BY id", &run->people,
                      &run->npeople, &run->cap_people) != 0)
    return -1;
  if (run->nsessions == 0 || run->npeople == 0) {
    chaos__fail(run, "the demo organisation has no sessions or people");
    return -1;
  }
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    run->tabs[i].tally = calloc(run->nsessions, sizeof(int64_t));
    if (run->tabs[i].tally == NULL)
      return -1;
  }
  return 0;
}

static void chaos__on_tick(uv_timer_t *timer) {
  chaos__run_t *run = timer->data;
  uint64_t now = uv_now(&run->loop);

  if (chaos__interrupted) {
    chaos__fail(run, "interrupted");
    chaos__finish(run);
    return;
  }
  switch (run->phase) {
  case CHAOS__ENROL:
    if (chaos__quiet(run, false)) {
      if (chaos__load_lists(run) != 0) {
        chaos__finish(run);
        return;
      }
      run->phase = CHAOS__RUN;
      run->phase_ms = now;
      run->step = 0;
    } else if (now - run->phase_ms > 60000) {
      chaos__fail(run, "the tablets did not all enrol and sync within 60 s");
      chaos__quiet(run, true);
      chaos__finish(run);
    }
    break;
  case CHAOS__RUN:
    if (run->opts->mode == CHAOS__CONVERGE)
      chaos__converge_step(run);
    else if (run->opts->mode == CHAOS__CRASH)
      chaos__crash_step(run);
    else
      chaos__storage_step(run);
    break;
  case CHAOS__SETTLE:
    if (run->srv.pid != 0 && !turfproc_alive(&run->srv, NULL)) {
      chaos__fail(run, "turfd died during the final sync; see %s", run->srv.log);
      chaos__finish(run);
    } else if ((run->step++ % 4) == 0 && chaos__quiet(run, false)) {
      chaos__finish(run);
    } else if (now - run->phase_ms > (uint64_t)run->opts->settle_s * 1000) {
      chaos__fail(run, "no quiescence within %u s of the end of the faults", run->opts->settle_s);
      chaos__quiet(run, true);
      chaos__finish(run);
    }
    break;
  default:
    break;
  }
}

/* ---- the checks ------------------------------------------------------------------------- */

static void chaos__check_log(chaos__run_t *run) {
  uint64_t head = chaos__head(run);
  int64_t count = chaos__query_int(run->sdb, "SELECT count(*) FROM ops WHERE org = ?1", run->org,
                                   NULL, -1);
  int64_t max = chaos__query_int(run->sdb, "SELECT max(server_seq) FROM ops WHERE org = ?1",
                                 run->org, NULL, -1);
  int64_t twins = chaos__query_int(
      run->sdb,
      "SELECT count(*) FROM (SELECT 1 FROM ops WHERE org = ?1 GROUP BY device, hlc, rtype, k, k2, "
      "fields HAVING count(*) > 1)",
      run->org, NULL, -1);

  /* server_seq numbers every committed op once, without holes. */
  if (count < 0 || (uint64_t)count != head || (uint64_t)max != head)
    chaos__fail(run, "op log: %lld ops, highest server_seq %lld, head %" PRIu64, (long long)count,
                (long long)max, head);
  /* The same change stored under two seqs would be a duplicate that the
   * (device, seq) key cannot see. */
  if (twins != 0) {
    run->t.duplicates += twins > 0 ? (uint64_t)twins : 0;
    chaos__fail(run, "op log: %lld op(s) stored twice under different seqs", (long long)twins);
  }

  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    uint64_t recorded = chaos__recorded(tab);
    int64_t stored = chaos__query_int(run->sdb,
                                      "SELECT count(*) FROM ops WHERE org = ?1 AND device = ?2",
                                      run->org, tab->device, -1);
    int64_t refused = chaos__query_int(
        run->sdb, "SELECT count(*) FROM rejected_ops WHERE org = ?1 AND device = ?2", run->org,
        tab->device, -1);
    int64_t both = chaos__query_int(
        run->sdb,
        "SELECT count(*) FROM ops o JOIN rejected_ops r ON r.device = o.device AND r.seq = o.seq "
        "WHERE o.org = ?1 AND o.device = ?2",
        run->org, tab->device, -1);
    int64_t above = -1, attention = 0;
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(run->sdb,
                           "SELECT (SELECT count(*) FROM ops WHERE org = ?1 AND device = ?2 AND "
                           "seq > ?3) + (SELECT count(*) FROM rejected_ops WHERE org = ?1 AND "
                           "device = ?2 AND seq > ?3)",
                           -1, &st, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, run->org);
      sqlite3_bind_text(st, 2, tab->device, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, (int64_t)recorded);
      above = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
      sqlite3_finalize(st);
    }
    run->t.ops += recorded;
    run->t.rejected += refused > 0 ? (uint64_t)refused : 0;
    /* Every recorded op is decided: committed once or refused once. */
    if (stored + refused != (int64_t)recorded || both != 0 || above != 0) {
      int64_t missing = (int64_t)recorded - stored - refused;
      if (missing > 0)
        run->t.lost += (uint64_t)missing;
      chaos__fail(run, "%s recorded %" PRIu64 " ops; the server holds %lld and refused %lld "
                  "(%lld both, %lld beyond the last)", tab->name, recorded, (long long)stored,
                  (long long)refused, (long long)both, (long long)above);
    }
    if (local_outbox_count(tab->local) != 0)
      chaos__fail(run, "%s still has ops in its outbox", tab->name);
    /* The proxies must have seen turfd decide every op (an ack, a refusal,
     * or a welcome's "last"): otherwise the ack checks above proved
     * nothing. */
    for (uint64_t s = tab->held_upto + 1; s <= recorded; s++)
      if (!chaos__set_has(&tab->acked, s) && !chaos__set_has(&tab->rejected, s)) {
        chaos__fail(run, "%s seq %" PRIu64 " left the outbox, but no ack, refusal or welcome "
                    "for it passed the proxy", tab->name, s);
        break;
      }
    if (sqlite3_prepare_v2(local_db(tab->local), "SELECT count(*) FROM attention", -1, &st,
                           NULL) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW)
        attention = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    if (attention != refused)
      chaos__fail(run, "%s keeps %lld refused op(s) for attention, the server refused %lld",
                  tab->name, (long long)attention, (long long)refused);
  }
}

/* Every replica's canonical dump equals the server's. */
static void chaos__check_replicas(chaos__run_t *run, char server_hex[VERIFY_HEX_LEN + 1]) {
  char *server = NULL, *mine = NULL;
  size_t slen, mlen;
  char hex[VERIFY_HEX_LEN + 1];

  if (verify_dump(run->sdb, run->org, &server, &slen, server_hex) != 0) {
    chaos__fail(run, "cannot dump the server's tables");
    return;
  }
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    if (verify_dump(local_db(tab->local), 0, &mine, &mlen, hex) != 0) {
      chaos__fail(run, "cannot dump %s's tables", tab->name);
      continue;
    }
    if (strcmp(hex, server_hex) != 0) {
      chaos__fail(run, "%s's replica (sha256 %.12s) differs from the server's (%.12s)",
                  tab->name, hex, server_hex);
      verify_print_diff("server", server, tab->name, mine);
    }
    free(mine);
  }
  free(server);
}

/* What the harness itself did must be visible on the server. */
static void chaos__check_intent(chaos__run_t *run) {
  sqlite3_stmt *st;

  for (uint32_t s = 0; s < run->nsessions; s++) {
    int64_t want = 0, total;
    if (sqlite3_prepare_v2(run->sdb,
                           "SELECT count FROM tallies WHERE org = ?1 AND session = ?2 AND "
                           "device = ?3",
                           -1, &st, NULL) != SQLITE_OK)
      return;
    for (uint32_t i = 0; i < run->opts->tablets; i++) {
      chaos__tab_t *tab = &run->tabs[i];
      int64_t slot = 0;
      sqlite3_bind_int64(st, 1, run->org);
      sqlite3_bind_text(st, 2, run->sessions[s], -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 3, tab->device, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW)
        slot = sqlite3_column_int64(st, 0);
      sqlite3_reset(st);
      /* Each device's counter holds its own last running total. */
      if (slot != tab->tally[s])
        chaos__fail(run, "session %s: %s counted %lld, its slot on the server holds %lld",
                    run->sessions[s], tab->name, (long long)tab->tally[s], (long long)slot);
      want += tab->tally[s];
    }
    sqlite3_finalize(st);
    total = chaos__query_int(run->sdb,
                             "SELECT COALESCE((SELECT total FROM session_tallies WHERE org = ?1 "
                             "AND session = ?2), 0)",
                             run->org, run->sessions[s], -1);
    /* Two tablets counting at the door add up: nobody's visitors vanish. */
    if (total != want)
      chaos__fail(run, "session %s: tally total %lld, the tablets counted %lld", run->sessions[s],
                  (long long)total, (long long)want);
  }
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    if (sqlite3_prepare_v2(run->sdb,
                           "SELECT author, body, COALESCE(deleted, 0) FROM messages WHERE org = ?1 "
                           "AND id = ?2",
                           -1, &st, NULL) != SQLITE_OK)
      return;
    for (uint32_t m = 0; m < tab->nmsgs; m++) {
      chaos__msg_t *msg = &tab->msgs[m];
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, run->org);
      sqlite3_bind_text(st, 2, msg->id, -1, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_ROW) {
        chaos__fail(run, "message %s of %s is lost", msg->id, tab->name);
        continue;
      }
      if (strcmp((const char *)sqlite3_column_text(st, 0), tab->device) != 0)
        chaos__fail(run, "message %s has the wrong author", msg->id);
      if (msg->body == NULL || strcmp((const char *)sqlite3_column_text(st, 1), msg->body) != 0)
        chaos__fail(run, "message %s of %s: its author's last edit \"%.40s...\" was lost to "
                    "\"%.40s...\"", msg->id, tab->name, msg->body ? msg->body : "",
                    (const char *)sqlite3_column_text(st, 1));
      if ((sqlite3_column_int(st, 2) != 0) != msg->deleted)
        chaos__fail(run, "message %s of %s: deleted is %d, should be %d", msg->id, tab->name,
                    sqlite3_column_int(st, 2), msg->deleted);
    }
    sqlite3_finalize(st);
  }
  if (sqlite3_prepare_v2(run->sdb,
                         "SELECT count(*) FROM checkins WHERE org = ?1 AND session = ?2 AND "
                         "participant = ?3",
                         -1, &st, NULL) != SQLITE_OK)
    return;
  for (uint32_t c = 0; c < run->ncheckins; c++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, run->org);
    sqlite3_bind_text(st, 2, run->checkins[c].session, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, run->checkins[c].person, -1, SQLITE_STATIC);
    /* One check-in per session and participant, however many tablets. */
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
      chaos__fail(run, "check-in of %s at %s: %d rows, want exactly 1", run->checkins[c].person,
                  run->checkins[c].session, sqlite3_column_int(st, 0));
  }
  sqlite3_finalize(st);
  for (uint32_t p = 0; p < run->npeople; p++)
    if (chaos__query_int(run->sdb, "SELECT count(*) FROM participants WHERE org = ?1 AND id = ?2",
                         run->org, run->people[p], 0) != 1)
      chaos__fail(run, "participant %s (a walk-in) is lost", run->people[p]);
}

/* Each tablet applied every op of the others, in order, without a gap. */
static void chaos__check_pulled(chaos__run_t *run) {
  uint64_t head = chaos__head(run);
  for (uint32_t i = 0; i < run->opts->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    chaos__set_t own = {0};
    sqlite3_stmt *st;
    uint64_t missing = 0, first = 0;

    if (tab->out_of_order > 0)
      chaos__fail(run, "%s applied %" PRIu64 " op(s) out of server_seq order", tab->name,
                  tab->out_of_order);
    if (sqlite3_prepare_v2(run->sdb,
                           "SELECT server_seq FROM ops WHERE org = ?1 AND device = ?2", -1, &st,
                           NULL) != SQLITE_OK)
      continue;
    sqlite3_bind_int64(st, 1, run->org);
    sqlite3_bind_text(st, 2, tab->device, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
      chaos__set_add(&own, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    for (uint64_t s = 1; s <= head; s++) {
      bool mine = chaos__set_has(&own, s), got = chaos__set_has(&tab->pulled, s);
      if (mine == got) {
        if (missing++ == 0)
          first = s;
      }
    }
    if (missing > 0)
      chaos__fail(run, "%s: %" PRIu64 " server_seq(s) not received exactly once from the "
                  "others (first %" PRIu64 ")", tab->name, missing, first);
    chaos__set_free(&own);
  }
}

/* ---- one run ------------------------------------------------------------------------------ */

static int chaos__rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static const char *chaos__mode_name(const chaos__opts_t *o) {
  static const char *const faults[] = {"", " --fault full", " --fault fsize",
                                       " --fault readonly"};
  static char buf[64];
  snprintf(buf, sizeof(buf), "%s%s",
           o->mode == CHAOS__CONVERGE ? "converge" : o->mode == CHAOS__CRASH ? "crash" : "storage",
           o->mode == CHAOS__STORAGE ? faults[o->fault] : "");
  return buf;
}

/* Sets up the run directory, turfd, the proxies and the tablets. Returns
 * 0, CHAOS__SKIP, or -1. */
static int chaos__setup(chaos__run_t *run) {
  const chaos__opts_t *o = run->opts;
  client_conn_options_t co;
  char url[64];

  snprintf(run->dir, sizeof(run->dir), "%s/turf-chaos.XXXXXX", o->tmp);
  if (mkdtemp(run->dir) == NULL) {
    fprintf(stderr, "chaos: cannot create a directory in %s: %s\n", o->tmp, strerror(errno));
    return -1;
  }
  snprintf(run->dbdir, sizeof(run->dbdir), "%s/server", run->dir);
  if (mkdir(run->dbdir, 0700) != 0)
    return -1;
  if (o->fault == CHAOS__FULL || o->fault == CHAOS__READONLY) {
    /* A small file system of its own: the fault hits turfd's file and
     * nothing else on the machine. */
    if (mount("tmpfs", run->dbdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=48m,mode=0700") != 0) {
      fprintf(stderr, "chaos: SKIP: cannot mount a tmpfs for the fault (%s); needs root or "
                      "CAP_SYS_ADMIN\n", strerror(errno));
      return CHAOS__SKIP;
    }
    run->mounted = true;
  }
  snprintf(run->srv.turfd, sizeof(run->srv.turfd), "%s", o->turfd);
  snprintf(run->srv.db, sizeof(run->srv.db), "%s/turf.db", run->dbdir);
  snprintf(run->srv.log, sizeof(run->srv.log), "%s/turfd.log", run->dir);
  snprintf(run->srv.ready, sizeof(run->srv.ready), "%s/ready", run->dir);
  run->srv.demo_uses = o->tablets + 4;
  run->filler_fd = -1;
  if (chaos__start_server(run) != 0 || chaos__open_sdb(run) != 0)
    return -1;
  run->org = chaos__query_int(run->sdb, "SELECT min(id) FROM orgs", 0, NULL, -1);
  if (run->org < 0)
    return -1;

  run->client = client_new(&run->loop);
  if (run->client == NULL)
    return -1;
  run->tabs = calloc(o->tablets, sizeof(*run->tabs));
  if (run->tabs == NULL)
    return -1;
  for (uint32_t i = 0; i < o->tablets; i++) {
    chaos__tab_t *tab = &run->tabs[i];
    tab->run = run;
    tab->idx = i;
    snprintf(tab->name, sizeof(tab->name), "tablet-%u", i + 1);
    snprintf(tab->path, sizeof(tab->path), "%s/%s.db", run->dir, tab->name);
    tab->rng = (run->seed + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ (i + 1) * UINT64_C(0xBF58476D1CE4E5B9);
    if (tab->rng == 0)
      tab->rng = 1;
    /* Cheap tablets start with whatever their clock says. */
    tab->skew_ms = o->mode == CHAOS__CONVERGE ? chaos__skew(&run->rng) : 0;
    tab->local = local_open(tab->path, tab->skew_ms);
    if (tab->local == NULL || local_ensure_device(tab->local, tab->name) != 0)
      return -1;
    snprintf(tab->device, sizeof(tab->device), "%s", local_device(tab->local));
    tab->proxy = proxy_new(&run->loop, run->srv.port, run->seed * 1000003 + i + 1,
                           chaos__on_server_frame, tab);
    if (tab->proxy == NULL)
      return -1;
    /* Half the connections run without permessage-deflate, so that pushes
     * can be duplicated and reordered on them (proxy.h). */
    if (o->mode == CHAOS__CONVERGE)
      proxy_set_plain(tab->proxy, 500);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", proxy_port(tab->proxy));
    memset(&co, 0, sizeof(co));
    co.url = url;
    co.code = run->srv.code;
    co.reconnect = true;
    co.data = tab;
    co.cb.on_op = chaos__on_op;
    co.cb.on_disconnect = chaos__on_disconnect;
    tab->conn = client_conn_start(run->client, tab->local, &co);
    if (tab->conn == NULL)
      return -1;
  }
  if (o->mode == CHAOS__CONVERGE) {
    run->graceful_at = o->steps / 5 + chaos__pick(&run->rng, o->steps / 4 + 1);
    run->kill_at = o->steps / 2 + chaos__pick(&run->rng, o->steps / 4 + 1);
  }
  uv_timer_init(&run->loop, &run->tick);
  run->tick.data = run;
  run->phase = CHAOS__ENROL;
  run->phase_ms = uv_now(&run->loop);
  uv_timer_start(&run->tick, chaos__on_tick, o->tick_ms, o->tick_ms);
  return 0;
}

static void chaos__teardown(chaos__run_t *run, bool keep) {
  if (run->tabs != NULL) {
    for (uint32_t i = 0; i < run->opts->tablets; i++) {
      chaos__tab_t *tab = &run->tabs[i];
      local_close(tab->local);
      free(tab->tally);
      for (uint32_t m = 0; m < tab->nmsgs; m++)
        free(tab->msgs[m].body);
      free(tab->msgs);
      chaos__set_free(&tab->acked);
      chaos__set_free(&tab->rejected);
      chaos__set_free(&tab->pulled);
    }
  }
  free(run->tabs);
  free(run->sessions);
  free(run->activities);
  free(run->people);
  free(run->checkins);
  chaos__close_sdb(run);
  if (run->srv.pid != 0)
    turfproc_signal(&run->srv, SIGKILL);
  if (run->filler_fd >= 0)
    close(run->filler_fd);
  if (run->mounted) {
    if (keep) {
      /* The evidence lives on the tmpfs: copy it out before it goes. */
      char cmd[3 * PATH_MAX];
      snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s.saved' 2>/dev/null", run->dbdir, run->dbdir);
      if (system(cmd) != 0)
        fprintf(stderr, "chaos: could not save %s\n", run->dbdir);
    }
    if (umount2(run->dbdir, MNT_DETACH) != 0)
      fprintf(stderr, "chaos: cannot unmount %s: %s\n", run->dbdir, strerror(errno));
  }
  if (!keep && run->dir[0] != '\0')
    nftw(run->dir, chaos__rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void chaos__add(chaos__totals_t *a, const chaos__totals_t *b) {
  a->ops += b->ops;
  a->acked_verified += b->acked_verified;
  a->lost += b->lost;
  a->duplicates += b->duplicates;
  a->rejected += b->rejected;
  a->kills += b->kills;
  a->restarts += b->restarts;
  a->cuts += b->cuts;
  a->skews += b->skews;
  a->delayed += b->delayed;
  a->duplicated += b->duplicated;
  a->reordered += b->reordered;
  a->storage_errors += b->storage_errors;
  a->conflicts += b->conflicts;
  a->causal += b->causal;
  a->records += b->records;
  a->checks_at_kill += b->checks_at_kill;
  a->inflated += b->inflated;
}

static void chaos__print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "  open handle: %s%s\n", uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_closing(h) ? " (closing)" : "");
}

/* One seed, from an empty directory to the checks. Returns 0 when every
 * check passed, CHAOS__SKIP, or 1. */
static int chaos__run_seed(const chaos__opts_t *o, uint64_t seed, chaos__totals_t *totals) {
  chaos__run_t run;
  uint64_t started = uv_hrtime();
  char hex[VERIFY_HEX_LEN + 1] = "";
  verify_model_stats_t ms;
  int rc, loop_rc;

  memset(&run, 0, sizeof(run));
  run.opts = o;
  run.seed = seed;
  run.rng = seed * UINT64_C(0xD1B54A32D192ED03) + 0x2545F4914F6CDD1DULL;
  if (uv_loop_init(&run.loop) != 0)
    return 1;
  rc = chaos__setup(&run);
  if (rc == CHAOS__SKIP) {
    client_free(run.client);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    uv_loop_close(&run.loop);
    chaos__teardown(&run, false);
    return CHAOS__SKIP;
  }
  if (rc != 0) {
    chaos__fail(&run, "setup failed");
    for (uint32_t i = 0; run.tabs != NULL && i < o->tablets; i++)
      if (run.tabs[i].proxy != NULL)
        proxy_close(run.tabs[i].proxy);
    client_shutdown(run.client);
  }
  uv_run(&run.loop, UV_RUN_DEFAULT);
  client_free(run.client);
  uv_run(&run.loop, UV_RUN_DEFAULT);
  loop_rc = uv_loop_close(&run.loop);
  if (loop_rc != 0) {
    uv_walk(&run.loop, chaos__print_handle, NULL);
    chaos__fail(&run, "the harness loop did not close cleanly: %s", uv_strerror(loop_rc));
  }
  for (uint32_t i = 0; run.tabs != NULL && i < o->tablets; i++) {
    /* The proxies are gone with the loop; their figures were kept. */
    run.tabs[i].proxy = NULL;
  }

  if (rc == 0 && run.phase == CHAOS__DONE && run.nsessions > 0) {
    if (run.srv.pid != 0)
      chaos__stop_server(&run, "at the end");
    if (chaos__open_sdb(&run) == 0) {
      run.t.acked_verified = chaos__check_durable(&run, "at the end");
      chaos__check_log(&run);
      chaos__check_replicas(&run, hex);
      int mf = verify_model(run.sdb, run.org, &ms);
      if (mf != 0)
        chaos__fail(&run, "the merge rules replayed over the op log disagree with the server "
                    "(%d difference(s), listed above)", mf);
      run.t.conflicts = ms.conflicts;
      run.t.causal = ms.causal;
      run.t.records = ms.records;
      chaos__check_intent(&run);
      chaos__check_pulled(&run);
    }
    if (o->mode == CHAOS__STORAGE) {
      uint64_t after = 0;
      for (uint32_t i = 0; i < o->tablets; i++)
        after += run.tabs[i].acks_after;
      if (after == 0)
        chaos__fail(&run, "nothing was acked after the storage came back");
      if (o->fault == CHAOS__READONLY && !run.turfd_refused_start && run.t.storage_errors == 0)
        chaos__fail(&run, "turfd on a read-only file system neither refused to start nor "
                    "refused writes with STORAGE");
    }
  }
  printf("seed %" PRIu64 ": %s  ops %" PRIu64 ", acked+verified %" PRIu64 ", lost %" PRIu64
         ", duplicates %" PRIu64 ", refused %" PRIu64 ", kills %" PRIu64 ", restarts %" PRIu64
         ", cuts %" PRIu64 ", clock jumps %" PRIu64 ", conflicts %" PRIu64 ", causal pairs %" PRIu64
         ", STORAGE errors %" PRIu64 ", digest %.12s, %.1f s\n",
         seed, run.failures ? "FAIL" : "ok  ", run.t.ops, run.t.acked_verified, run.t.lost,
         run.t.duplicates, run.t.rejected, run.t.kills, run.t.restarts, run.t.cuts, run.t.skews,
         run.t.conflicts, run.t.causal, run.t.storage_errors, hex,
         (double)(uv_hrtime() - started) / 1e9);
  if (run.failures) {
    printf("seed %" PRIu64 " FAILED (%s); files kept in %s\n  replay alone: turf-chaos %s "
           "--seed %" PRIu64 " --tablets %u --steps %u --kills %u\n",
           seed, run.reason, run.dir, chaos__mode_name(o), seed, o->tablets, o->steps, o->kills);
  }
  fflush(stdout);
  chaos__add(totals, &run.t);
  chaos__teardown(&run, o->keep || run.failures > 0);
  return run.failures ? 1 : 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static void chaos__usage(FILE *out) {
  fprintf(out,
          "usage: turf-chaos converge|crash|storage [options]\n"
          "  --seed N | --seeds A-B   seeds to run (default 1)\n"
          "  --tablets K              simulated tablets (converge 8, crash 12, storage 6)\n"
          "  --steps S                converge: chaos ticks per seed (default 400)\n"
          "  --tick-ms MS             tick length (converge 25, crash/storage 10)\n"
          "  --kills N                crash: SIGKILLs per seed (default 25)\n"
          "  --fault full|fsize|readonly  storage: what goes wrong with the disk\n"
          "  --settle S               deadline of the final sync (default 90 s)\n"
          "  --turfd PATH             turfd binary (default $TURFD)\n"
          "  --tmp DIR                where run directories go (default $TMPDIR or /tmp)\n"
          "  --keep                   keep every run directory (failed ones are always kept)\n"
          "Exit status: 0 every seed passed, 1 a seed failed, 2 usage, 77 skipped.\n");
}

static void chaos__on_sigint(int sig) {
  (void)sig;
  chaos__interrupted = 1;
}

int main(int argc, char **argv) {
  chaos__opts_t o;
  chaos__totals_t totals;
  bool tablets_set = false, tick_set = false;
  int skipped = 0;

  memset(&o, 0, sizeof(o));
  memset(&totals, 0, sizeof(totals));
  o.seed_first = o.seed_last = 1;
  o.steps = 400;
  o.kills = 25;
  o.settle_s = 90;
  o.turfd = getenv("TURFD");
  o.tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  if (argc < 2) {
    chaos__usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "converge") == 0)
    o.mode = CHAOS__CONVERGE;
  else if (strcmp(argv[1], "crash") == 0)
    o.mode = CHAOS__CRASH;
  else if (strcmp(argv[1], "storage") == 0)
    o.mode = CHAOS__STORAGE;
  else {
    chaos__usage(strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--keep") == 0) {
      o.keep = true;
      continue;
    }
    if (v == NULL) {
      chaos__usage(stderr);
      return 2;
    }
    i++;
    if (strcmp(a, "--seed") == 0)
      o.seed_first = o.seed_last = strtoull(v, NULL, 10);
    else if (strcmp(a, "--seeds") == 0) {
      char *dash;
      o.seed_first = strtoull(v, &dash, 10);
      o.seed_last = *dash == '-' ? strtoull(dash + 1, NULL, 10) : o.seed_first;
    } else if (strcmp(a, "--tablets") == 0) {
      o.tablets = (uint32_t)atoi(v);
      tablets_set = true;
    } else if (strcmp(a, "--steps") == 0)
      o.steps = (uint32_t)atoi(v);
    else if (strcmp(a, "--tick-ms") == 0) {
      o.tick_ms = (uint32_t)atoi(v);
      tick_set = true;
    } else if (strcmp(a, "--kills") == 0)
      o.kills = (uint32_t)atoi(v);
    else if (strcmp(a, "--settle") == 0)
      o.settle_s = (uint32_t)atoi(v);
    else if (strcmp(a, "--turfd") == 0)
      o.turfd = v;
    else if (strcmp(a, "--tmp") == 0)
      o.tmp = v;
    else if (strcmp(a, "--fault") == 0) {
      o.fault = strcmp(v, "full") == 0      ? CHAOS__FULL
                : strcmp(v, "fsize") == 0    ? CHAOS__FSIZE
                : strcmp(v, "readonly") == 0 ? CHAOS__READONLY
                                             : CHAOS__NO_FAULT;
    } else {
      chaos__usage(stderr);
      return 2;
    }
  }
  if (!tablets_set)
    o.tablets = o.mode == CHAOS__CONVERGE ? 8 : o.mode == CHAOS__CRASH ? 12 : 6;
  if (!tick_set)
    o.tick_ms = o.mode == CHAOS__CONVERGE ? 25 : 10;
  if (o.turfd == NULL || access(o.turfd, X_OK) != 0 || o.tablets == 0 || o.tick_ms == 0 ||
      o.seed_last < o.seed_first || (o.mode == CHAOS__STORAGE) != (o.fault != CHAOS__NO_FAULT)) {
    fprintf(stderr, "turf-chaos: need --turfd (or $TURFD), tablets > 0, a seed range, and "
                    "--fault exactly with storage\n");
    return 2;
  }
  /* The tmpfs of a storage run lives in a mount namespace of its own, so
   * that it goes with this process (and turfd, its child) however they
   * end, even by SIGKILL. Where that is not allowed, mounts are made in
   * the shared namespace and unmounted at the end of each seed. */
  if ((o.fault == CHAOS__FULL || o.fault == CHAOS__READONLY) && unshare(CLONE_NEWNS) == 0 &&
      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    fprintf(stderr, "turf-chaos: cannot make mounts private: %s\n", strerror(errno));
  /* Sockets closed under our feet must not kill the harness. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, chaos__on_sigint);
  signal(SIGTERM, chaos__on_sigint);
  setvbuf(stdout, NULL, _IOLBF, 0);

  for (uint64_t seed = o.seed_first; seed <= o.seed_last && !chaos__interrupted; seed++) {
    int rc = chaos__run_seed(&o, seed, &totals);
    if (rc == CHAOS__SKIP) {
      skipped = 1;
      break;
    }
    totals.seeds++;
    totals.failed_seeds += rc != 0;
  }
  if (skipped)
    return CHAOS__SKIP;
  printf("turf-chaos %s: seeds %" PRIu64 " (failed %" PRIu64 "), ops %" PRIu64
         ", acked ops verified %" PRIu64 " (+%" PRIu64 " checked right after kills), lost %" PRIu64
         ", duplicates %" PRIu64 ", refused %" PRIu64 ", kills %" PRIu64 ", restarts %" PRIu64
         ", cuts %" PRIu64 ", clock jumps %" PRIu64 ", frames delayed %" PRIu64
         ", duplicated %" PRIu64 ", reordered %" PRIu64 ", compressed frames read %" PRIu64
         ", STORAGE errors %" PRIu64 ", conflicts logged %" PRIu64 ", records compared %" PRIu64
         ", causal pairs %" PRIu64 "\n",
         chaos__mode_name(&o), totals.seeds, totals.failed_seeds, totals.ops,
         totals.acked_verified, totals.checks_at_kill, totals.lost, totals.duplicates,
         totals.rejected, totals.kills, totals.restarts, totals.cuts, totals.skews,
         totals.delayed, totals.duplicated, totals.reordered, totals.inflated,
         totals.storage_errors,
         totals.conflicts, totals.records, totals.causal);
  return totals.failed_seeds == 0 && totals.seeds > 0 ? 0 : 1;
}
