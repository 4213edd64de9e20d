/* main.c — turf-bench: the benchmark scenarios of issue 6, run against a
 * turfd in another process (bench/run starts it and calls this once per
 * scenario and run). Prints one JSON object with the scenario's figures on
 * stdout; progress and problems go to stderr.
 *
 * Every scenario first enrols its tablets (one enrolment code per
 * organisation, from turf-bench-setup) and has the first tablet of each
 * organisation push the organisation's base records (locations, activities,
 * today's sessions, participants); that part is not timed. Times are
 * uv_hrtime on the tablets' side; server CPU comes from /proc/PID/stat. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bstat.h"
#include "btab.h"
#include "schema.h"

#define BENCH__MAX_ORGS 4096

typedef struct {
  const char *scenario;
  const char *url;
  const char *codes_path;
  pid_t server_pid;
  bool deflate;
  uint64_t seed;
  uint32_t tablets, orgs, ops;
  uint32_t spread_ms;     /* reconnects spread over this window (ms) */
  uint32_t ramp_per_s;    /* connections opened per second when enrolling */
  uint32_t rate;          /* live: ops per second, all tablets together */
  double seconds;         /* live: measured window (s) */
  double timeout_s;       /* any one phase (s) */
  bool dashboard;         /* live: also watch the coordinator dashboard */
  const char *cookie;     /* the coordinator's session cookie for it */
  uint32_t participants;  /* per organisation, seeded */
  uint32_t sessions;      /* per organisation, today, seeded */
} bench_opts_t;

/* What the bench knows of one organisation: the ids it seeded (so ops can
 * refer to them without reading anything back) and its progress. */
typedef struct {
  char code[PROTO_MAX_ID_BYTES + 1];
  uint32_t first, n;        /* its tablets: tabs[first .. first + n) */
  char (*sessions)[37];
  uint32_t nsessions;
  char (*people)[37];
  uint32_t npeople;
  char (*activities)[37];
  uint32_t nactivities;
  uint64_t base;            /* head before the measured phase */
  uint64_t recorded;        /* ops recorded in the measured phase */
  uint64_t refused;         /* of those, refused by the server */
  uint32_t converged;       /* tablets holding every op of the org */
} bench_org_t;

typedef struct {
  bool acked_all;           /* nothing waiting after the measured phase */
  bool converged;
  uint64_t bytes_out0, bytes_in0; /* at the start of the measured phase */
  uint32_t messages;        /* own messages, for edits */
  char (*message_ids)[37];
  int64_t *tally;           /* running total per session */
} bench_tab_t;

typedef struct bench_s bench_t;
typedef bool (*bench_goal_fn)(bench_t *b);

struct bench_s {
  bench_opts_t o;
  uv_loop_t loop;
  btab_pool_t *pool;
  btab_t *tabs;
  bench_tab_t *bt;
  bench_org_t *orgs;
  uint64_t rng;
  /* device id -> tablet, open addressing, for latency lookups */
  btab_t **by_device;
  uint32_t by_device_cap;

  /* the phase being run */
  uv_timer_t check, deadline, ramp;
  bench_goal_fn goal;
  bool timed_out, stopped;
  uint32_t ramp_next, ramp_n;
  uint32_t *ramp_order;     /* tablet indexes in connect order */
  uint64_t *ramp_at_ns;     /* connect time of ramp_order[i] after ramp_t0 */
  uint64_t ramp_t0;

  /* measured phase */
  bool measuring;
  uint64_t t0;
  uint64_t last_ack_ns, last_converged_ns;
  uint32_t tabs_acked, tabs_converged;
  bstat_t ack_ms;           /* push -> ack (ms) */
  bstat_t latency_ms;       /* push -> op applied on another tablet (ms) */
  uint64_t live_from_ns;    /* live: only ops pushed after this count */
  /* live: check-ins of organisation 0 waiting to show on the dashboard */
  struct {
    uint32_t tab;
    uint64_t seq;
    char person[37];
  } *dash_wait;
  uint32_t ndash_wait, capdash_wait;
  uint64_t dash_msgs;
  bstat_t dash_ms;          /* push -> check-in shown on the dashboard (ms) */
  /* turfd's threads at the start of the measured phase */
  pid_t tids0[64];
  double tcpu0[64];
  int nthreads0;
  uint64_t closed_errors;
};

/* ---- helpers ----------------------------------------------------------------- */

static double bench__ms(uint64_t ns) { return (double)ns / 1e6; }

static uint32_t bench__pick(bench_t *b, uint32_t n) {
  return n ? (uint32_t)(btab_rand(&b->rng) % n) : 0;
}

static uint32_t bench__hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static void bench__index_devices(bench_t *b) {
  b->by_device_cap = 1;
  while (b->by_device_cap < b->o.tablets * 2) b->by_device_cap *= 2;
  b->by_device = calloc(b->by_device_cap, sizeof *b->by_device);
  if (!b->by_device) abort();
  for (uint32_t i = 0; i < b->o.tablets; i++) {
    uint32_t h = bench__hash(b->tabs[i].device, 36) & (b->by_device_cap - 1);
    while (b->by_device[h]) h = (h + 1) & (b->by_device_cap - 1);
    b->by_device[h] = &b->tabs[i];
  }
}

static btab_t *bench__find_device(bench_t *b, proto_str_t dev) {
  uint32_t h;
  if (dev.len != 36) return NULL;
  h = bench__hash(dev.ptr, dev.len) & (b->by_device_cap - 1);
  while (b->by_device[h]) {
    if (memcmp(b->by_device[h]->device, dev.ptr, 36) == 0) return b->by_device[h];
    h = (h + 1) & (b->by_device_cap - 1);
  }
  return NULL;
}

static void bench__ids(bench_t *b, char (**out)[37], uint32_t n) {
  *out = calloc(n ? n : 1, sizeof **out);
  if (!*out) abort();
  for (uint32_t i = 0; i < n; i++) btab_uuid7(&b->rng, btab_wall_ms(), (*out)[i]);
}

static void bench__today(char date[40]) {
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  snprintf(date, 40, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* ---- running a phase ---------------------------------------------------- */

static void bench__on_check(uv_timer_t *timer) {
  bench_t *b = timer->data;
  if (b->goal && b->goal(b)) {
    b->stopped = true;
    uv_stop(&b->loop);
  }
}

static void bench__on_deadline(uv_timer_t *timer) {
  bench_t *b = timer->data;
  b->timed_out = true;
  uv_stop(&b->loop);
}

static void bench__on_ramp(uv_timer_t *timer) {
  bench_t *b = timer->data;
  uint64_t now = uv_hrtime();
  while (b->ramp_next < b->ramp_n && b->ramp_t0 + b->ramp_at_ns[b->ramp_next] <= now) {
    btab_connect(&b->tabs[b->ramp_order[b->ramp_next]]);
    b->ramp_next++;
  }
  if (b->ramp_next == b->ramp_n) uv_timer_stop(&b->ramp);
}

/* Connects tablets order[0..n) at the offsets at_ns (sorted, from now).
 * Takes ownership of both arrays. */
static void bench__ramp(bench_t *b, uint32_t *order, uint64_t *at_ns, uint32_t n) {
  free(b->ramp_order);
  free(b->ramp_at_ns);
  b->ramp_order = order;
  b->ramp_at_ns = at_ns;
  b->ramp_n = n;
  b->ramp_next = 0;
  b->ramp_t0 = uv_hrtime();
  bench__on_ramp(&b->ramp);
  if (b->ramp_next < n) uv_timer_start(&b->ramp, bench__on_ramp, 1, 1);
}

/* Evenly spaced connects of tablets [first, first + n) at rate per second. */
static void bench__ramp_even(bench_t *b, uint32_t first, uint32_t n, uint32_t per_s) {
  uint32_t *order = malloc((n ? n : 1) * sizeof *order);
  uint64_t *at = malloc((n ? n : 1) * sizeof *at);
  if (!order || !at) abort();
  for (uint32_t i = 0; i < n; i++) {
    order[i] = first + i;
    at[i] = per_s ? (uint64_t)i * 1000000000ull / per_s : 0;
  }
  bench__ramp(b, order, at, n);
}

/* Runs the loop until goal holds (checked every few ms) or the timeout.
 * Returns 0, or -1 after saying what did not happen. */
static int bench__run_until(bench_t *b, bench_goal_fn goal, const char *what) {
  b->goal = goal;
  b->timed_out = b->stopped = false;
  if (goal(b)) return 0;
  uv_timer_start(&b->check, bench__on_check, 2, 2);
  uv_timer_start(&b->deadline, bench__on_deadline, (uint64_t)(b->o.timeout_s * 1000), 0);
  while (!b->stopped && !b->timed_out) uv_run(&b->loop, UV_RUN_DEFAULT);
  uv_timer_stop(&b->check);
  uv_timer_stop(&b->deadline);
  b->goal = NULL;
  if (b->timed_out) {
    fprintf(stderr, "bench: %s: not done within %.0f s\n", what, b->o.timeout_s);
    return -1;
  }
  return 0;
}

/* Runs the loop for a fixed time (warm-ups, measured windows, settling). */
static void bench__run_for(bench_t *b, double seconds) {
  b->timed_out = false;
  uv_timer_start(&b->deadline, bench__on_deadline, (uint64_t)(seconds * 1000), 0);
  while (!b->timed_out) uv_run(&b->loop, UV_RUN_DEFAULT);
}

/* An organisation is in sync when all its tablets are connected, have
 * nothing waiting, have caught up, and stand at one cursor. */
static bool bench__org_in_sync(bench_t *b, const bench_org_t *org) {
  uint64_t cursor = b->tabs[org->first].cursor;
  for (uint32_t i = org->first; i < org->first + org->n; i++) {
    btab_t *t = &b->tabs[i];
    if (t->state != BTAB_READY || btab_waiting(t) || t->push_inflight || t->pull_inflight ||
        !t->caught_up || t->cursor != cursor)
      return false;
  }
  return true;
}

static bool bench__all_in_sync(bench_t *b) {
  for (uint32_t o = 0; o < b->o.orgs; o++)
    if (!bench__org_in_sync(b, &b->orgs[o])) return false;
  return true;
}

static bool bench__all_closed(bench_t *b) { return btab_pool_open(b->pool) == 0; }

/* ---- callbacks ----------------------------------------------------------- */

static void bench__maybe_converged(bench_t *b, btab_t *t) {
  bench_org_t *org = &b->orgs[t->org];
  bench_tab_t *bt = &b->bt[t->index];
  if (!b->measuring || bt->converged) return;
  if (t->cursor < org->base + org->recorded - org->refused) return;
  /* All acked too: only then is recorded - refused the final count. */
  for (uint32_t i = org->first; i < org->first + org->n; i++)
    if (btab_waiting(&b->tabs[i])) return;
  bt->converged = true;
  org->converged++;
  b->tabs_converged++;
  b->last_converged_ns = uv_hrtime();
}

static void bench__on_ack(btab_t *t, const proto_ack_t *ack, uint64_t sent_ns) {
  bench_t *b = t->data;
  bench_tab_t *bt = &b->bt[t->index];
  uint64_t now = uv_hrtime();
  (void)ack;
  if (!b->measuring) return;
  b->orgs[t->org].refused = 0;
  for (uint32_t i = b->orgs[t->org].first; i < b->orgs[t->org].first + b->orgs[t->org].n; i++)
    b->orgs[t->org].refused += b->tabs[i].rejected;
  bstat_add(&b->ack_ms, bench__ms(now - sent_ns));
  if (!bt->acked_all && btab_waiting(t) == 0) {
    bt->acked_all = true;
    b->tabs_acked++;
    b->last_ack_ns = now;
    /* The org may have been waiting for this last ack. */
    bench_org_t *org = &b->orgs[t->org];
    for (uint32_t i = org->first; i < org->first + org->n; i++)
      bench__maybe_converged(b, &b->tabs[i]);
  }
}

static void bench__on_op(btab_t *t, const proto_op_t *op, bool live) {
  bench_t *b = t->data;
  (void)live;
  if (!b->measuring) return;
  if (b->live_from_ns) {
    btab_t *from = bench__find_device(b, op->device);
    if (from && from != t) {
      uint64_t sent = btab_sent_ns(from, op->seq);
      if (sent >= b->live_from_ns) bstat_add(&b->latency_ms, bench__ms(uv_hrtime() - sent));
    }
  }
  bench__maybe_converged(b, t);
}

static void bench__on_close(btab_t *t, bool error) {
  bench_t *b = t->data;
  if (error) b->closed_errors++;
}

/* ---- setup: enrol, seed the organisations -------------------------------- */

static int bench__read_codes(bench_t *b) {
  FILE *f = fopen(b->o.codes_path, "r");
  char line[256], code[PROTO_MAX_ID_BYTES + 1];
  unsigned idx;
  uint32_t found = 0;
  if (!f) {
    fprintf(stderr, "bench: %s: %s\n", b->o.codes_path, strerror(errno));
    return -1;
  }
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "%u %64s", &idx, code) == 2 && idx < b->o.orgs) {
      snprintf(b->orgs[idx].code, sizeof b->orgs[idx].code, "%s", code);
      found++;
    }
  fclose(f);
  if (found < b->o.orgs) {
    fprintf(stderr, "bench: %s has codes for %u of %u organisations\n", b->o.codes_path, found,
            b->o.orgs);
    return -1;
  }
  return 0;
}

/* The first tablet of each organisation records its base records. */
static int bench__seed_org(bench_t *b, bench_org_t *org) {
  btab_t *t = &b->tabs[org->first];
  char location[37], date[40];
  proto_field_t f[5];
  int64_t now = btab_wall_ms();
  int rc = 0;

  bench__today(date);
  btab_uuid7(&b->rng, now, location);
  f[0] = btab_fstr(1, "Huis van de Wijk");
  rc |= btab_record(t, SCHEMA_LOCATION, location, NULL, f, 1);
  bench__ids(b, &org->activities, org->nactivities);
  for (uint32_t i = 0; i < org->nactivities; i++) {
    char name[32];
    snprintf(name, sizeof name, "Activity %u", i + 1);
    f[0] = btab_fstr(1, location);
    f[1] = btab_fstr(2, name);
    f[2] = btab_fint(3, 1 + (int64_t)(i % 7));
    f[3] = btab_fstr(4, "10:00");
    rc |= btab_record(t, SCHEMA_ACTIVITY, org->activities[i], NULL, f, 4);
  }
  bench__ids(b, &org->sessions, org->nsessions);
  for (uint32_t i = 0; i < org->nsessions; i++) {
    f[0] = btab_fstr(1, org->activities[i % org->nactivities]);
    f[1] = btab_fstr(2, date);
    f[2] = btab_fstr(3, "10:00");
    f[3] = btab_fbool(4, false);
    rc |= btab_record(t, SCHEMA_SESSION, org->sessions[i], NULL, f, 4);
  }
  bench__ids(b, &org->people, org->npeople);
  for (uint32_t i = 0; i < org->npeople; i++) {
    char name[32];
    snprintf(name, sizeof name, "Participant %u", i + 1);
    f[0] = btab_fstr(1, name);
    f[1] = btab_fint(5, now);
    rc |= btab_record(t, SCHEMA_PARTICIPANT, org->people[i], NULL, f, 2);
  }
  return rc ? -1 : 0;
}

/* Creates the tablets, enrols them all, seeds every organisation and waits
 * until each is in sync. Not timed. */
static int bench__setup(bench_t *b) {
  btab_callbacks_t cb = {.on_ack = bench__on_ack, .on_op = bench__on_op,
                         .on_close = bench__on_close};
  uint32_t per_org = b->o.tablets / b->o.orgs, extra = b->o.tablets % b->o.orgs, at = 0;

  b->pool = btab_pool_new(&b->loop, b->o.url, b->o.deflate);
  if (!b->pool) return -1;
  btab_pool_set_callbacks(b->pool, &cb);
  b->tabs = calloc(b->o.tablets, sizeof *b->tabs);
  b->bt = calloc(b->o.tablets, sizeof *b->bt);
  b->orgs = calloc(b->o.orgs, sizeof *b->orgs);
  if (!b->tabs || !b->bt || !b->orgs) return -1;
  if (bench__read_codes(b) != 0) return -1;
  for (uint32_t o = 0; o < b->o.orgs; o++) {
    bench_org_t *org = &b->orgs[o];
    org->first = at;
    org->n = per_org + (o < extra ? 1 : 0);
    org->npeople = b->o.participants;
    org->nsessions = b->o.sessions;
    org->nactivities = b->o.sessions < 4 ? b->o.sessions : 4;
    for (uint32_t i = 0; i < org->n; i++, at++) {
      btab_t *t = &b->tabs[at];
      btab_init(t, b->pool, at, o, &b->rng);
      t->data = b;
      t->code = org->code;
      b->bt[at].tally = calloc(org->nsessions ? org->nsessions : 1, sizeof(int64_t));
      if (!b->bt[at].tally) return -1;
    }
  }
  bench__index_devices(b);

  fprintf(stderr, "bench: enrolling %u tablets in %u organisations\n", b->o.tablets, b->o.orgs);
  bench__ramp_even(b, 0, b->o.tablets, b->o.ramp_per_s);
  if (bench__run_until(b, bench__all_in_sync, "enrolling") != 0) return -1;
  for (uint32_t o = 0; o < b->o.orgs; o++)
    if (bench__seed_org(b, &b->orgs[o]) != 0) return -1;
  for (uint32_t o = 0; o < b->o.orgs; o++) btab_kick(&b->tabs[b->orgs[o].first]);
  if (bench__run_until(b, bench__all_in_sync, "seeding") != 0) return -1;
  for (uint32_t o = 0; o < b->o.orgs; o++) b->orgs[o].base = b->tabs[b->orgs[o].first].cursor;
  fprintf(stderr, "bench: %u tablets enrolled and in sync\n", b->o.tablets);
  return 0;
}

static int bench__disconnect_all(bench_t *b) {
  for (uint32_t i = 0; i < b->o.tablets; i++) btab_close(&b->tabs[i]);
  return bench__run_until(b, bench__all_closed, "disconnecting");
}

/* ---- offline ops ---------------------------------------------------------- */

static const char *const bench__statuses[] = {"present", "absent", "excused"};

/* One random op of the reconnect-storm mix on tablet t (a walk-in is two
 * ops); returns how many were recorded. */
static uint32_t bench__storm_op(bench_t *b, btab_t *t, uint32_t k, uint32_t left) {
  bench_org_t *org = &b->orgs[t->org];
  bench_tab_t *bt = &b->bt[t->index];
  uint32_t s = bench__pick(b, org->nsessions), dice = bench__pick(b, 100);
  const char *session = org->sessions[s];
  const char *person = org->people[bench__pick(b, org->npeople)];
  int64_t now = btab_wall_ms();
  proto_field_t f[4];
  char id[37], text[96];

  if (dice < 40) { /* check-in: same people on the same sessions across tablets */
    f[0] = btab_fstr(1, "present");
    f[1] = btab_fint(2, now - (int64_t)bench__pick(b, 3600000));
    return btab_record(t, SCHEMA_CHECKIN, session, person, f, 2) == 0;
  }
  if (dice < 48) {
    f[0] = btab_fstr(1, bench__statuses[bench__pick(b, 3)]);
    return btab_record(t, SCHEMA_CHECKIN, session, person, f, 1) == 0;
  }
  if (dice < 53) {
    f[0] = btab_fint(3, now);
    return btab_record(t, SCHEMA_CHECKIN, session, person, f, 1) == 0;
  }
  if (dice < 68) { /* door tally: this tablet's running total */
    bt->tally[s] += 1 + (int64_t)bench__pick(b, 3);
    f[0] = btab_fint(1, bt->tally[s]);
    return btab_record(t, SCHEMA_TALLY, session, NULL, f, 1) == 0;
  }
  if (dice < 78 || (dice < 83 && bt->messages == 0)) {
    char (*ids)[37] = realloc(bt->message_ids, (bt->messages + 1) * sizeof *ids);
    if (!ids) return 0;
    bt->message_ids = ids;
    btab_uuid7(&b->rng, now, ids[bt->messages]);
    snprintf(text, sizeof text, "Tablet %u says hello (%u)", t->index, k);
    f[0] = btab_fstr(1, org->activities[bench__pick(b, org->nactivities)]);
    f[1] = btab_fstr(2, text);
    if (btab_record(t, SCHEMA_MESSAGE, ids[bt->messages], NULL, f, 2) != 0) return 0;
    bt->messages++;
    return 1;
  }
  if (dice < 83) { /* an edit by the author */
    snprintf(text, sizeof text, "Tablet %u corrects itself (%u)", t->index, k);
    f[0] = btab_fstr(2, text);
    return btab_record(t, SCHEMA_MESSAGE, bt->message_ids[bench__pick(b, bt->messages)], NULL,
                       f, 1) == 0;
  }
  if (dice < 93 || left < 2) { /* session log: LWW between tablets */
    snprintf(text, sizeof text, "notes by tablet %u (%u)", t->index, k);
    f[0] = btab_fint(3, (int64_t)bench__pick(b, 30));
    f[1] = btab_fstr(4, text);
    return btab_record(t, SCHEMA_SESSION_LOG, session, NULL, f, 2) == 0;
  }
  /* a walk-in: a new person, checked in at once */
  btab_uuid7(&b->rng, now, id);
  snprintf(text, sizeof text, "Walk-in %u/%u", t->index, k);
  f[0] = btab_fstr(1, text);
  f[1] = btab_fstr(4, "neighbourhood team");
  f[2] = btab_fint(5, now);
  if (btab_record(t, SCHEMA_PARTICIPANT, id, NULL, f, 3) != 0) return 0;
  f[0] = btab_fstr(1, "present");
  f[1] = btab_fint(2, now);
  return 1 + (btab_record(t, SCHEMA_CHECKIN, session, id, f, 2) == 0);
}

static int bench__record_storm(bench_t *b) {
  for (uint32_t i = 0; i < b->o.tablets; i++) {
    btab_t *t = &b->tabs[i];
    uint32_t done = 0, tries = 0;
    while (done < b->o.ops && tries++ < b->o.ops * 10)
      done += bench__storm_op(b, t, done, b->o.ops - done);
    if (done < b->o.ops) return -1;
    b->orgs[t->org].recorded += done;
  }
  return 0;
}

/* One big organisation: check-ins only. Pairs (session, person) are dealt
 * out so that 90% of each tablet's check-ins are its own and 10% repeat a
 * pair that the next tablet also checks in. */
static int bench__record_bigorg(bench_t *b) {
  bench_org_t *org = &b->orgs[0];
  uint32_t own = b->o.ops - b->o.ops / 10, dup = b->o.ops / 10;
  uint64_t pairs = (uint64_t)org->nsessions * org->npeople;
  if ((uint64_t)own * b->o.tablets > pairs) {
    fprintf(stderr, "bench: %u sessions x %u people are too few pairs\n", org->nsessions,
            org->npeople);
    return -1;
  }
  for (uint32_t i = 0; i < b->o.tablets; i++) {
    btab_t *t = &b->tabs[i];
    for (uint32_t k = 0; k < own + dup; k++) {
      uint64_t pair = k < own ? (uint64_t)i * own + k
                              : (uint64_t)((i + 1) % b->o.tablets) * own + (k - own) * 7 % own;
      proto_field_t f[2] = {btab_fstr(1, "present"),
                            btab_fint(2, btab_wall_ms() - (int64_t)bench__pick(b, 3600000))};
      if (btab_record(t, SCHEMA_CHECKIN, org->sessions[pair % org->nsessions],
                      org->people[pair / org->nsessions], f, 2) != 0)
        return -1;
      org->recorded++;
    }
  }
  return 0;
}

/* ---- measured phases ------------------------------------------------------ */

static bool bench__all_converged(bench_t *b) { return b->tabs_converged == b->o.tablets; }

/* BENCH_HOOK_START / BENCH_HOOK_END: shell commands run when a measured
 * phase starts and ends (bench/run --profile uses them to switch
 * callgrind's instrumentation of turfd on and off). */
static void bench__hook(const char *name) {
  const char *cmd = getenv(name);
  if (cmd && *cmd && system(cmd) != 0) fprintf(stderr, "bench: %s failed\n", name);
}

static void bench__measure_start(bench_t *b) {
  bench__hook("BENCH_HOOK_START");
  for (uint32_t i = 0; i < b->o.tablets; i++) {
    btab_bytes(&b->tabs[i], &b->bt[i].bytes_out0, &b->bt[i].bytes_in0);
    b->bt[i].acked_all = btab_waiting(&b->tabs[i]) == 0;
    b->bt[i].converged = false;
  }
  b->tabs_acked = 0;
  for (uint32_t i = 0; i < b->o.tablets; i++) b->tabs_acked += b->bt[i].acked_all;
  b->tabs_converged = 0;
  b->measuring = true;
  b->nthreads0 = bstat_threads(b->o.server_pid, b->tids0, b->tcpu0, 64);
  b->t0 = uv_hrtime();
  b->last_ack_ns = b->last_converged_ns = b->t0;
}

/* CPU seconds of turfd's busiest thread since bench__measure_start. */
static double bench__busiest_s(bench_t *b) {
  pid_t tids[64];
  double cpu[64];
  int n = bstat_threads(b->o.server_pid, tids, cpu, 64);
  if (n < 0 || b->nthreads0 < 0) return -1;
  return bstat_busiest(b->tids0, b->tcpu0, b->nthreads0, tids, cpu, n);
}

static uint64_t bench__bytes_since_start(bench_t *b) {
  uint64_t sum = 0, o, in;
  for (uint32_t i = 0; i < b->o.tablets; i++) {
    btab_bytes(&b->tabs[i], &o, &in);
    sum += (o - b->bt[i].bytes_out0) + (in - b->bt[i].bytes_in0);
  }
  return sum;
}

static uint64_t bench__total_recorded(bench_t *b) {
  uint64_t n = 0;
  for (uint32_t o = 0; o < b->o.orgs; o++) n += b->orgs[o].recorded - b->orgs[o].refused;
  return n;
}

static uint64_t bench__total_refused(bench_t *b) {
  uint64_t n = 0;
  for (uint32_t o = 0; o < b->o.orgs; o++) n += b->orgs[o].refused;
  return n;
}

/* Storm and big organisation: everybody offline with ops, then back within
 * spread_ms; until every tablet holds every op of its organisation. */
static int bench__reconnect(bench_t *b, const char *name) {
  uint32_t n = b->o.tablets;
  uint32_t *order = malloc(n * sizeof *order);
  uint64_t *at = malloc(n * sizeof *at);
  double cpu0, cpu1, self0, self1;
  int rc;

  if (!order || !at) return -1;
  for (uint32_t i = 0; i < n; i++) order[i] = i;
  for (uint32_t i = n; i > 1; i--) { /* shuffle, then evenly over the window */
    uint32_t j = bench__pick(b, i), tmp = order[i - 1];
    order[i - 1] = order[j];
    order[j] = tmp;
  }
  for (uint32_t i = 0; i < n; i++) at[i] = (uint64_t)b->o.spread_ms * 1000000ull * i / n;
  fprintf(stderr, "bench: %u tablets with %" PRIu64 " ops reconnect within %u ms\n", n,
          bench__total_recorded(b), b->o.spread_ms);
  cpu0 = bstat_cpu_s(b->o.server_pid);
  self0 = bstat_cpu_s(getpid());
  bench__measure_start(b);
  bench__ramp(b, order, at, n);
  rc = bench__run_until(b, bench__all_converged, name);
  bench__hook("BENCH_HOOK_END");
  cpu1 = bstat_cpu_s(b->o.server_pid);
  self1 = bstat_cpu_s(getpid());
  double busiest = bench__busiest_s(b);

  uint64_t ops = bench__total_recorded(b);
  double acked_s = (double)(b->last_ack_ns - b->t0) / 1e9;
  double conv_s = (double)(b->last_converged_ns - b->t0) / 1e9;
  printf("{\"scenario\":\"%s\",\"ok\":%s,\"tablets\":%u,\"orgs\":%u,\"ops\":%" PRIu64
         ",\"refused\":%" PRIu64 ",\"tablets_converged\":%u,\"acked_s\":%.3f,"
         "\"converged_s\":%.3f,\"ops_per_s\":%.0f,\"ack_p50_ms\":%.1f,\"ack_p99_ms\":%.1f,"
         "\"server_cpu_s\":%.2f,\"writer_cpu_s\":%.2f,\"loadgen_cpu_s\":%.2f,"
         "\"traffic_mb\":%.2f,\"connect_errors\":%" PRIu64 ",\"deflate\":%s}\n",
         name, rc == 0 ? "true" : "false", n, b->o.orgs, ops, bench__total_refused(b),
         b->tabs_converged, acked_s, conv_s, acked_s > 0 ? (double)ops / acked_s : 0,
         bstat_pct(&b->ack_ms, 50), bstat_pct(&b->ack_ms, 99), cpu1 - cpu0, busiest,
         self1 - self0, (double)bench__bytes_since_start(b) / 1e6, b->closed_errors,
         b->o.deflate ? "true" : "false");
  return rc;
}

static int bench__storm(bench_t *b) {
  if (bench__setup(b) != 0 || bench__disconnect_all(b) != 0 || bench__record_storm(b) != 0)
    return -1;
  return bench__reconnect(b, "storm");
}

static int bench__bigorg(bench_t *b) {
  if (bench__setup(b) != 0 || bench__disconnect_all(b) != 0 || bench__record_bigorg(b) != 0)
    return -1;
  return bench__reconnect(b, "bigorg");
}

/* ---- live latency ----------------------------------------------------------- */

typedef struct {
  bench_t *b;
  uv_timer_t timer;
  uint64_t start_ns, sent, measured_from;
  uint32_t next;
} bench__live_t;

/* On the dashboard's organisation, a person nobody has seen yet walks in
 * (two ops): the dashboard's "today" view shows the check-in under the new
 * person's id, which tells when this op reached it. */
static void bench__live_walkin(bench_t *b, btab_t *t, bench_org_t *org) {
  char person[37];
  proto_field_t p[2], f[2];
  int64_t now = btab_wall_ms();

  btab_uuid7(&b->rng, now, person);
  p[0] = btab_fstr(1, "Walk-in");
  p[1] = btab_fint(5, now);
  f[0] = btab_fstr(1, "present");
  f[1] = btab_fint(2, now);
  if (btab_record(t, SCHEMA_PARTICIPANT, person, NULL, p, 2) != 0) return;
  org->recorded++;
  if (btab_record(t, SCHEMA_CHECKIN, org->sessions[bench__pick(b, org->nsessions)], person, f,
                  2) != 0)
    return;
  org->recorded++;
  if (b->ndash_wait == b->capdash_wait) {
    uint32_t cap = b->capdash_wait ? b->capdash_wait * 2 : 256;
    void *w = realloc(b->dash_wait, cap * sizeof *b->dash_wait);
    if (!w) return;
    b->dash_wait = w;
    b->capdash_wait = cap;
  }
  b->dash_wait[b->ndash_wait].tab = t->index;
  b->dash_wait[b->ndash_wait].seq = t->outbox.nops;
  memcpy(b->dash_wait[b->ndash_wait].person, person, sizeof person);
  b->ndash_wait++;
}

/* A dashboard message: each "today" view that names a waiting person
 * measures that check-in's way from push to the coordinator's page. */
static void bench__on_dash(void *data, const char *json, size_t len) {
  bench_t *b = data;
  uint64_t now = uv_hrtime();
  b->dash_msgs++;
  if (len < 16 || !memmem(json, len < 32 ? len : 32, "\"today\"", 7)) return;
  for (uint32_t i = 0; i < b->ndash_wait;) {
    if (!memmem(json, len, b->dash_wait[i].person, 36)) {
      i++;
      continue;
    }
    uint64_t sent = btab_sent_ns(&b->tabs[b->dash_wait[i].tab], b->dash_wait[i].seq);
    if (sent && b->live_from_ns && sent >= b->live_from_ns)
      bstat_add(&b->dash_ms, bench__ms(now - sent));
    b->dash_wait[i] = b->dash_wait[--b->ndash_wait];
  }
}

static bool bench__dash_ready(bench_t *b) { return b->dash_msgs > 0; }

static void bench__live_tick(uv_timer_t *timer) {
  bench__live_t *lv = timer->data;
  bench_t *b = lv->b;
  uint64_t due = (uint64_t)((double)(uv_hrtime() - lv->start_ns) / 1e9 * b->o.rate);
  while (lv->sent < due) {
    btab_t *t = &b->tabs[lv->next];
    bench_org_t *org = &b->orgs[t->org];
    proto_field_t f[2] = {btab_fstr(1, "present"), btab_fint(2, btab_wall_ms())};
    lv->next = (lv->next + 1) % b->o.tablets;
    if (b->o.dashboard && t->org == 0)
      bench__live_walkin(b, t, org);
    else if (btab_record(t, SCHEMA_CHECKIN, org->sessions[bench__pick(b, org->nsessions)],
                         org->people[bench__pick(b, org->npeople)], f, 2) == 0)
      org->recorded++;
    btab_kick(t);
    lv->sent++;
  }
}


static int bench__live(bench_t *b) {
  bench__live_t lv;
  double warm_s = 2, cpu0, cpu1;
  uint64_t sent0;

  if (bench__setup(b) != 0) return -1;
  if (b->o.dashboard && (btab_dash_connect(b->pool, b->o.cookie, bench__on_dash, b) != 0 ||
                         bench__run_until(b, bench__dash_ready, "dashboard") != 0))
    return -1;
  memset(&lv, 0, sizeof lv);
  lv.b = b;
  uv_timer_init(&b->loop, &lv.timer);
  lv.timer.data = &lv;
  b->measuring = true;
  lv.start_ns = uv_hrtime();
  b->live_from_ns = lv.start_ns + (uint64_t)(warm_s * 1e9);
  uv_timer_start(&lv.timer, bench__live_tick, 1, 1);
  /* warm-up, then the measured window */
  bench__run_for(b, warm_s);
  sent0 = lv.sent;
  cpu0 = bstat_cpu_s(b->o.server_pid);
  bench__run_for(b, b->o.seconds);
  cpu1 = bstat_cpu_s(b->o.server_pid);
  uint64_t sent = lv.sent - sent0;
  uv_timer_stop(&lv.timer);
  uv_close((uv_handle_t *)&lv.timer, NULL);
  /* Let the last ops arrive: they count if they do. */
  b->live_from_ns = UINT64_MAX - 1;
  bench__run_for(b, 0.5);
  printf("{\"scenario\":\"live\",\"ok\":true,\"tablets\":%u,\"orgs\":%u,\"rate\":%u,"
         "\"seconds\":%.1f,\"ops\":%" PRIu64 ",\"deliveries\":%zu,\"p50_ms\":%.2f,"
         "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"dash_checkins\":%zu,\"dash_p50_ms\":%.2f,"
         "\"dash_p99_ms\":%.2f,\"dash_max_ms\":%.2f,\"server_cpu_s\":%.2f,\"deflate\":%s}\n",
         b->o.tablets, b->o.orgs, b->o.rate, b->o.seconds, sent, b->latency_ms.n,
         bstat_pct(&b->latency_ms, 50), bstat_pct(&b->latency_ms, 99), bstat_max(&b->latency_ms),
         b->dash_ms.n, bstat_pct(&b->dash_ms, 50), bstat_pct(&b->dash_ms, 99),
         bstat_max(&b->dash_ms), cpu1 - cpu0, b->o.deflate ? "true" : "false");
  return 0;
}

/* ---- bootstrap ------------------------------------------------------------ */

/* Gives organisation 0 a year of history, pushed by one device in batches
 * of 1000: participants, activities over 10 locations, a weekly session of
 * each activity for 52 weeks, and check-ins of the regulars of each
 * activity. Reports that push's own throughput too. */
static int bench__bootstrap_seed(bench_t *b) {
  const uint32_t people = 10000, activities = 200, weeks = 52, per_session = 10;
  char (*pids)[37] = NULL, (*aids)[37] = NULL, loc[10][37], id[37], date[40];
  btab_t *t;
  proto_field_t f[5];
  int64_t now = btab_wall_ms(), year_ago = now - 365LL * 86400000;
  double cpu0, cpu1;
  int rc;

  b->o.tablets = 1;
  b->o.orgs = 1;
  b->o.sessions = 0;
  b->o.participants = 0;
  if (bench__setup(b) != 0) return -1;
  t = &b->tabs[0];
  t->push_batch = PROTO_MAX_OPS_PER_FRAME;
  bench__ids(b, &pids, people);
  bench__ids(b, &aids, activities);
  for (int i = 0; i < 10; i++) {
    btab_uuid7(&b->rng, year_ago, loc[i]);
    char name[32];
    snprintf(name, sizeof name, "Location %d", i + 1);
    f[0] = btab_fstr(1, name);
    btab_record(t, SCHEMA_LOCATION, loc[i], NULL, f, 1);
  }
  for (uint32_t i = 0; i < activities; i++) {
    char name[32];
    snprintf(name, sizeof name, "Activity %u", i + 1);
    f[0] = btab_fstr(1, loc[i % 10]);
    f[1] = btab_fstr(2, name);
    f[2] = btab_fint(3, 1 + (int64_t)(i % 7));
    f[3] = btab_fstr(4, "10:00");
    btab_record(t, SCHEMA_ACTIVITY, aids[i], NULL, f, 4);
  }
  for (uint32_t i = 0; i < people; i++) {
    char name[32];
    snprintf(name, sizeof name, "Participant %u", i + 1);
    f[0] = btab_fstr(1, name);
    f[1] = btab_fstr(4, i % 3 ? "GP" : "neighbourhood team");
    f[2] = btab_fint(5, year_ago);
    btab_record(t, SCHEMA_PARTICIPANT, pids[i], NULL, f, 3);
  }
  for (uint32_t w = 0; w < weeks; w++) {
    for (uint32_t a = 0; a < activities; a++) {
      int64_t day = year_ago + (int64_t)(w * 7 + a % 7) * 86400000;
      time_t secs = (time_t)(day / 1000);
      struct tm tm;
      gmtime_r(&secs, &tm);
      snprintf(date, sizeof date, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday);
      btab_uuid7(&b->rng, day, id);
      f[0] = btab_fstr(1, aids[a]);
      f[1] = btab_fstr(2, date);
      f[2] = btab_fstr(3, "10:00");
      f[3] = btab_fbool(4, false);
      btab_record(t, SCHEMA_SESSION, id, NULL, f, 4);
      /* each activity has its 50 regulars; 10 of them come each week */
      for (uint32_t k = 0; k < per_session; k++) {
        uint32_t p = (a * 50 + (w * 3 + k * 5) % 50) % people;
        f[0] = btab_fstr(1, "present");
        f[1] = btab_fint(2, day + 36000000 + (int64_t)k * 60000);
        btab_record(t, SCHEMA_CHECKIN, id, pids[p], f, 2);
      }
    }
  }
  b->orgs[0].recorded = t->outbox.nops - t->acked;
  fprintf(stderr, "bench: pushing %u ops of history\n", t->outbox.nops);
  cpu0 = bstat_cpu_s(b->o.server_pid);
  bench__measure_start(b);
  btab_kick(t);
  rc = bench__run_until(b, bench__all_converged, "bootstrap seed");
  cpu1 = bstat_cpu_s(b->o.server_pid);
  double acked_s = (double)(b->last_ack_ns - b->t0) / 1e9;
  printf("{\"scenario\":\"bootstrap_seed\",\"ok\":%s,\"ops\":%u,\"acked_s\":%.3f,"
         "\"ops_per_s\":%.0f,\"server_cpu_s\":%.2f}\n",
         rc == 0 ? "true" : "false", t->outbox.nops, acked_s,
         acked_s > 0 ? t->outbox.nops / acked_s : 0, cpu1 - cpu0);
  free(pids);
  free(aids);
  return rc;
}

static bool bench__first_idle(bench_t *b) { return bench__org_in_sync(b, &b->orgs[0]); }

/* A new tablet enrols into organisation 0 and pulls everything. */
static int bench__bootstrap(bench_t *b) {
  btab_callbacks_t cb = {.on_close = bench__on_close};
  btab_t *t;
  uint64_t out, in, t0;
  double cpu0, cpu1;
  int rc;

  b->pool = btab_pool_new(&b->loop, b->o.url, b->o.deflate);
  b->o.tablets = b->o.orgs = 1;
  b->tabs = calloc(1, sizeof *b->tabs);
  b->bt = calloc(1, sizeof *b->bt);
  b->orgs = calloc(1, sizeof *b->orgs);
  if (!b->pool || !b->tabs || !b->bt || !b->orgs || bench__read_codes(b) != 0) return -1;
  btab_pool_set_callbacks(b->pool, &cb);
  b->orgs[0].n = 1;
  t = &b->tabs[0];
  btab_init(t, b->pool, 0, 0, &b->rng);
  t->data = b;
  t->code = b->orgs[0].code;
  cpu0 = bstat_cpu_s(b->o.server_pid);
  t0 = uv_hrtime();
  btab_connect(t);
  rc = bench__run_until(b, bench__first_idle, "bootstrap");
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  cpu1 = bstat_cpu_s(b->o.server_pid);
  btab_bytes(t, &out, &in);
  printf("{\"scenario\":\"bootstrap\",\"ok\":%s,\"ops\":%" PRIu64 ",\"seconds\":%.3f,"
         "\"mb\":%.2f,\"bytes_per_op\":%.1f,\"server_cpu_s\":%.2f,\"deflate\":%s}\n",
         rc == 0 ? "true" : "false", t->applied, secs, (double)(out + in) / 1e6,
         t->applied ? (double)(out + in) / (double)t->applied : 0, cpu1 - cpu0,
         b->o.deflate ? "true" : "false");
  return rc;
}

/* ---- idle connections -------------------------------------------------------- */

static int bench__idle(bench_t *b) {
  uint64_t rss0 = bstat_rss(b->o.server_pid), rss1;
  double cpu0, cpu1;
  int rc;

  b->o.participants = b->o.participants ? b->o.participants : 1;
  b->o.sessions = b->o.sessions ? b->o.sessions : 1;
  if (bench__setup(b) != 0) return -1;
  /* Idle: give the server a moment to settle, then read its memory. */
  bench__run_for(b, 2);
  rss1 = bstat_rss(b->o.server_pid);
  fprintf(stderr, "bench: %u idle connections: server RSS %.1f MB (%.1f MB before)\n",
          b->o.tablets, (double)rss1 / 1e6, (double)rss0 / 1e6);

  /* then all of them send one check-in at once */
  for (uint32_t i = 0; i < b->o.tablets; i++) {
    btab_t *t = &b->tabs[i];
    bench_org_t *org = &b->orgs[t->org];
    proto_field_t f[2] = {btab_fstr(1, "present"), btab_fint(2, btab_wall_ms())};
    if (btab_record(t, SCHEMA_CHECKIN, org->sessions[0], org->people[i % org->npeople], f, 2))
      return -1;
    org->recorded++;
  }
  cpu0 = bstat_cpu_s(b->o.server_pid);
  bench__measure_start(b);
  for (uint32_t i = 0; i < b->o.tablets; i++) btab_kick(&b->tabs[i]);
  rc = bench__run_until(b, bench__all_converged, "all sending");
  cpu1 = bstat_cpu_s(b->o.server_pid);
  printf("{\"scenario\":\"idle\",\"ok\":%s,\"tablets\":%u,\"orgs\":%u,\"rss_before_mb\":%.1f,"
         "\"rss_mb\":%.1f,\"kb_per_conn\":%.1f,\"send_acked_s\":%.3f,\"send_converged_s\":%.3f,"
         "\"ack_p99_ms\":%.1f,\"server_cpu_s\":%.2f,\"deflate\":%s}\n",
         rc == 0 ? "true" : "false", b->o.tablets, b->o.orgs, (double)rss0 / 1e6,
         (double)rss1 / 1e6, (double)(rss1 - rss0) / 1024.0 / b->o.tablets,
         (double)(b->last_ack_ns - b->t0) / 1e9, (double)(b->last_converged_ns - b->t0) / 1e9,
         bstat_pct(&b->ack_ms, 99), cpu1 - cpu0, b->o.deflate ? "true" : "false");
  return rc;
}

/* ---- wire cost ---------------------------------------------------------------- */

static bool bench__a_acked(bench_t *b) {
  return btab_waiting(&b->tabs[0]) == 0 && !b->tabs[0].push_inflight;
}

static bool bench__b_has_all(bench_t *b) {
  return b->tabs[1].cursor >= b->orgs[0].base + b->orgs[0].recorded;
}

static bool bench__a_closed(bench_t *b) { return b->tabs[0].state == BTAB_IDLE; }
static bool bench__a_ready(bench_t *b) { return b->tabs[0].state == BTAB_READY; }

/* Tablet A records check-ins one at a time, each pushed alone and acked
 * before the next; A never pulls, so its socket carries only pushes and
 * acks. Tablet B, live, receives each as a live frame. Then the same with
 * all of them in one push. */
static int bench__wire(bench_t *b) {
  btab_t *a, *bb;
  uint64_t a_out0, a_in0, b_out0, b_in0, a_out, a_in, b_out, b_in;
  double single, single_live, batch, batch_live;
  uint32_t n = b->o.ops;

  b->o.tablets = 2;
  b->o.orgs = 1;
  if (bench__setup(b) != 0) return -1;
  a = &b->tabs[0];
  bb = &b->tabs[1];
  /* A reconnects without pulling: nothing but its pushes and their acks. */
  btab_close(a);
  if (bench__run_until(b, bench__a_closed, "wire: closing A") != 0) return -1;
  {
    bench_org_t *org = &b->orgs[0];
    a->no_pull = true;
    btab_connect(a);
    if (bench__run_until(b, bench__a_ready, "wire: reconnecting A") != 0) return -1;
    org->base = bb->cursor;
    btab_bytes(a, &a_out0, &a_in0);
    btab_bytes(bb, &b_out0, &b_in0);
    for (uint32_t i = 0; i < n; i++) {
      proto_field_t f[2] = {btab_fstr(1, "present"), btab_fint(2, btab_wall_ms())};
      if (btab_record(a, SCHEMA_CHECKIN, org->sessions[i % org->nsessions],
                      org->people[i % org->npeople], f, 2) != 0)
        return -1;
      org->recorded++;
      btab_kick(a);
      if (bench__run_until(b, bench__a_acked, "wire: single ack") != 0) return -1;
    }
    if (bench__run_until(b, bench__b_has_all, "wire: live to B") != 0) return -1;
    /* TCP acks of the last bytes may lag a moment. */
    bench__run_for(b, 0.3);
    btab_bytes(a, &a_out, &a_in);
    btab_bytes(bb, &b_out, &b_in);
    single = (double)(a_out - a_out0 + a_in - a_in0) / n;
    single_live = (double)(b_out - b_out0 + b_in - b_in0) / n;

    a_out0 = a_out, a_in0 = a_in, b_out0 = b_out, b_in0 = b_in;
    for (uint32_t i = 0; i < n; i++) {
      proto_field_t f[2] = {btab_fstr(1, "present"), btab_fint(2, btab_wall_ms())};
      if (btab_record(a, SCHEMA_CHECKIN, org->sessions[(i + 1) % org->nsessions],
                      org->people[(i * 7 + 3) % org->npeople], f, 2) != 0)
        return -1;
      org->recorded++;
    }
    btab_kick(a);
    if (bench__run_until(b, bench__a_acked, "wire: batch ack") != 0 ||
        bench__run_until(b, bench__b_has_all, "wire: batch live to B") != 0)
      return -1;
    bench__run_for(b, 0.3);
    btab_bytes(a, &a_out, &a_in);
    btab_bytes(bb, &b_out, &b_in);
    batch = (double)(a_out - a_out0 + a_in - a_in0) / n;
    batch_live = (double)(b_out - b_out0 + b_in - b_in0) / n;
  }
  printf("{\"scenario\":\"wire\",\"ok\":true,\"ops\":%u,\"push_ack_bytes\":%.1f,"
         "\"live_bytes\":%.1f,\"batch_push_ack_bytes\":%.1f,\"batch_live_bytes\":%.1f,"
         "\"deflate\":%s}\n",
         n, single, single_live, batch, batch_live, b->o.deflate ? "true" : "false");
  return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void bench__usage(void) {
  fprintf(stderr,
          "usage: turf-bench SCENARIO --url ws://HOST:PORT --codes FILE --pid TURFD_PID\n"
          "         [--tablets N] [--orgs N] [--ops N] [--spread-ms MS] [--ramp N]\n"
          "         [--rate N] [--seconds S] [--participants N] [--sessions N]\n"
          "         [--timeout S] [--seed N] [--deflate] [--dashboard --cookie C]\n"
          "scenarios: storm bigorg live bootstrap-seed bootstrap idle wire\n");
}

static int bench__parse(bench_opts_t *o, int argc, char **argv) {
  if (argc < 2) return -1;
  o->scenario = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(k, "--deflate")) {
      o->deflate = true;
      continue;
    }
    if (!strcmp(k, "--dashboard")) {
      o->dashboard = true;
      continue;
    }
    if (!v) return -1;
    i++;
    if (!strcmp(k, "--url")) o->url = v;
    else if (!strcmp(k, "--codes")) o->codes_path = v;
    else if (!strcmp(k, "--pid")) o->server_pid = (pid_t)atoi(v);
    else if (!strcmp(k, "--tablets")) o->tablets = (uint32_t)atoi(v);
    else if (!strcmp(k, "--orgs")) o->orgs = (uint32_t)atoi(v);
    else if (!strcmp(k, "--ops")) o->ops = (uint32_t)atoi(v);
    else if (!strcmp(k, "--spread-ms")) o->spread_ms = (uint32_t)atoi(v);
    else if (!strcmp(k, "--ramp")) o->ramp_per_s = (uint32_t)atoi(v);
    else if (!strcmp(k, "--rate")) o->rate = (uint32_t)atoi(v);
    else if (!strcmp(k, "--seconds")) o->seconds = atof(v);
    else if (!strcmp(k, "--participants")) o->participants = (uint32_t)atoi(v);
    else if (!strcmp(k, "--sessions")) o->sessions = (uint32_t)atoi(v);
    else if (!strcmp(k, "--timeout")) o->timeout_s = atof(v);
    else if (!strcmp(k, "--seed")) o->seed = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--cookie")) o->cookie = v;
    else return -1;
  }
  if (!o->url || !o->codes_path || o->server_pid <= 0 || !o->tablets || !o->orgs ||
      o->orgs > BENCH__MAX_ORGS || o->orgs > o->tablets)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  static bench_t b;
  int rc;

  memset(&b, 0, sizeof b);
  b.o = (bench_opts_t){.tablets = 1000, .orgs = 100, .ops = 100, .spread_ms = 1000,
                       .ramp_per_s = 2000, .rate = 1000, .seconds = 10, .timeout_s = 120,
                       .participants = 40, .sessions = 4, .seed = 1};
  if (bench__parse(&b.o, argc, argv) != 0) {
    bench__usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  b.rng = (b.o.seed + 1) * UINT64_C(0x9E3779B97F4A7C15);
  bstat_init(&b.ack_ms);
  bstat_init(&b.latency_ms);
  bstat_init(&b.dash_ms);
  if (uv_loop_init(&b.loop) != 0) return 1;
  uv_timer_init(&b.loop, &b.check);
  uv_timer_init(&b.loop, &b.deadline);
  uv_timer_init(&b.loop, &b.ramp);
  b.check.data = b.deadline.data = b.ramp.data = &b;

  if (!strcmp(b.o.scenario, "storm")) rc = bench__storm(&b);
  else if (!strcmp(b.o.scenario, "bigorg")) rc = bench__bigorg(&b);
  else if (!strcmp(b.o.scenario, "live")) rc = bench__live(&b);
  else if (!strcmp(b.o.scenario, "bootstrap-seed")) rc = bench__bootstrap_seed(&b);
  else if (!strcmp(b.o.scenario, "bootstrap")) rc = bench__bootstrap(&b);
  else if (!strcmp(b.o.scenario, "idle")) rc = bench__idle(&b);
  else if (!strcmp(b.o.scenario, "wire")) rc = bench__wire(&b);
  else {
    bench__usage();
    rc = 2;
  }
  fflush(stdout);

  uv_close((uv_handle_t *)&b.check, NULL);
  uv_close((uv_handle_t *)&b.deadline, NULL);
  uv_close((uv_handle_t *)&b.ramp, NULL);
  if (b.pool) btab_pool_free(b.pool);
  uv_run(&b.loop, UV_RUN_DEFAULT);
  for (uint32_t i = 0; b.tabs && i < b.o.tablets; i++) {
    btab_dispose(&b.tabs[i]);
    if (b.bt) {
      free(b.bt[i].tally);
      free(b.bt[i].message_ids);
    }
  }
  for (uint32_t o = 0; b.orgs && o < b.o.orgs; o++) {
    free(b.orgs[o].sessions);
    free(b.orgs[o].people);
    free(b.orgs[o].activities);
  }
  free(b.tabs);
  free(b.bt);
  free(b.orgs);
  free(b.by_device);
  free(b.ramp_order);
  free(b.ramp_at_ns);
  bstat_dispose(&b.ack_ms);
  bstat_dispose(&b.latency_ms);
  bstat_dispose(&b.dash_ms);
  free(b.dash_wait);
  if (uv_loop_close(&b.loop) != 0) fprintf(stderr, "bench: loop did not close cleanly\n");
  return rc == 0 ? 0 : 1;
}
