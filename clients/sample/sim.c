/* sim.c — the `sim` command (see sim.h).
 *
 * Owns the simulated tablets (their local files), the loop and the clients
 * of the two online phases. Phases: enrol all tablets at once and pull the
 * organisation; record ops offline; connect all at once and sync until
 * every tablet is idle at the same cursor; compare dumps. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client.h"
#include "tablet.h"

#define SIM__CHECK_MS 100 /* how often quiescence is checked (ms) */

typedef struct sim__s sim__t;

typedef struct {
  sim__t *sim;
  local_t *local;
  client_conn_t *conn;
  uint64_t rng;
  char name[32];
  bool synced_once;
  /* what this tablet knows after enrolling, to pick from */
  char (*sessions)[TABLET_ID_SIZE];
  uint32_t nsessions;
  char (*people)[TABLET_ID_SIZE];
  uint32_t npeople, cap_people;
  char (*activities)[TABLET_ID_SIZE];
  uint32_t nactivities;
  char (*messages)[TABLET_ID_SIZE];
  uint32_t nmessages, cap_messages;
} sim__tablet_t;

struct sim__s {
  const sim_options_t *opts;
  uv_loop_t loop;
  client_t *client;
  sim__tablet_t *tablets;
  uv_timer_t check, deadline;
  bool handles_closed;
  bool phase_done;   /* the phase reached its goal */
  bool failed;       /* a tablet cannot continue (refused by the server) */
  uint64_t acked, rejected; /* summed over the connections of all phases */
};

/* ---- randomness ---------------------------------------------------------- */

static uint64_t sim__rand(uint64_t *s) {
  /* xorshift64*: plenty for choosing test data, and reproducible by seed */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

static uint32_t sim__pick(uint64_t *s, uint32_t n) { return n ? (uint32_t)(sim__rand(s) % n) : 0; }

/* ---- id lists ------------------------------------------------------------ */

/* Loads column 0 of sql into a new array (caller frees). */
static int sim__load_ids(local_t *local, const char *sql, const char *arg,
                         char (**out)[TABLET_ID_SIZE], uint32_t *n, uint32_t *cap) {
  sqlite3_stmt *st;
  int rc;

  *out = NULL;
  *n = 0;
  if (cap)
    *cap = 0;
  if (sqlite3_prepare_v2(local_db(local), sql, -1, &st, NULL) != SQLITE_OK)
    return PROTO_ESTORAGE;
  if (arg != NULL)
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    void *p = realloc(*out, (*n + 1) * sizeof(**out));
    if (p == NULL) {
      sqlite3_finalize(st);
      return PROTO_ENOMEM;
    }
    *out = p;
    snprintf((*out)[(*n)++], TABLET_ID_SIZE, "%s", (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if (cap)
    *cap = *n;
  return rc == SQLITE_DONE ? 0 : PROTO_ESTORAGE;
}

static int sim__push_id(char (**arr)[TABLET_ID_SIZE], uint32_t *n, uint32_t *cap,
                        const char *id) {
  if (*n == *cap) {
    uint32_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * sizeof(**arr));
    if (p == NULL)
      return PROTO_ENOMEM;
    *arr = p;
    *cap = ncap;
  }
  snprintf((*arr)[(*n)++], TABLET_ID_SIZE, "%s", id);
  return 0;
}

/* ---- online phases ------------------------------------------------------- */

static void sim__close_handles(sim__t *sim) {
  if (sim->handles_closed)
    return;
  sim->handles_closed = true;
  uv_close((uv_handle_t *)&sim->check, NULL);
  uv_close((uv_handle_t *)&sim->deadline, NULL);
  client_shutdown(sim->client);
}

static void sim__on_synced(client_conn_t *conn) {
  sim__tablet_t *t = client_conn_data(conn);
  t->synced_once = true;
}

static void sim__on_disconnect(client_conn_t *conn, int code, const char *reason,
                               bool will_retry) {
  sim__tablet_t *t = client_conn_data(conn);
  (void)code;
  if (will_retry)
    return;
  /* Refused by the server: the phase cannot complete. */
  fprintf(stderr, "sim: %s gave up: %s\n", t->name, reason);
  t->sim->failed = true;
  sim__close_handles(t->sim);
}

/* Quiescent: every tablet is idle (nothing to push, pull caught up) and all
 * stand at the same cursor. With every outbox empty nothing new can be
 * committed, and a tablet reaches its idle state only after pulling back
 * its own last ops, so equal cursors mean everybody has everything. */
static bool sim__quiet(sim__t *sim) {
  uint64_t cursor = 0;
  for (uint32_t i = 0; i < sim->opts->tablets; i++) {
    sim__tablet_t *t = &sim->tablets[i];
    uint64_t c;
    if (t->conn == NULL || !client_conn_synced(t->conn))
      return false;
    c = local_cursor(t->local);
    if (i > 0 && c != cursor)
      return false;
    cursor = c;
  }
  return true;
}

static void sim__on_check(uv_timer_t *timer) {
  sim__t *sim = timer->data;
  if (sim__quiet(sim)) {
    sim->phase_done = true;
    sim__close_handles(sim);
  }
}

static void sim__on_deadline(uv_timer_t *timer) {
  sim__t *sim = timer->data;
  fprintf(stderr, "sim: no quiescence within %u s\n", sim->opts->timeout_s);
  sim__close_handles(sim);
}

/* Connects every tablet at once and runs the loop until they are all idle
 * at one cursor, or the deadline. Returns 0 or PROTO_E*. */
static int sim__online(sim__t *sim, const char *code) {
  client_conn_options_t co;

  sim->client = client_new(&sim->loop);
  if (sim->client == NULL)
    return PROTO_EINTERNAL;
  sim->handles_closed = false;
  sim->phase_done = false;
  uv_timer_init(&sim->loop, &sim->check);
  uv_timer_init(&sim->loop, &sim->deadline);
  sim->check.data = sim;
  sim->deadline.data = sim;
  for (uint32_t i = 0; i < sim->opts->tablets; i++) {
    sim__tablet_t *t = &sim->tablets[i];
    memset(&co, 0, sizeof(co));
    co.url = sim->opts->server;
    co.code = code;
    co.reconnect = true;
    co.data = t;
    co.cb.on_synced = sim__on_synced;
    co.cb.on_disconnect = sim__on_disconnect;
    t->synced_once = false;
    t->conn = client_conn_start(sim->client, t->local, &co);
    if (t->conn == NULL) {
      sim->failed = true;
      break;
    }
  }
  if (sim->failed) {
    sim__close_handles(sim);
  } else {
    uv_timer_start(&sim->check, sim__on_check, SIM__CHECK_MS, SIM__CHECK_MS);
    uv_timer_start(&sim->deadline, sim__on_deadline, (uint64_t)sim->opts->timeout_s * 1000, 0);
  }
  uv_run(&sim->loop, UV_RUN_DEFAULT);
  for (uint32_t i = 0; i < sim->opts->tablets; i++) {
    if (sim->tablets[i].conn != NULL) {
      client_stats_t stats = client_conn_stats(sim->tablets[i].conn);
      sim->acked += stats.acked;
      sim->rejected += stats.rejected;
    }
  }
  client_free(sim->client);
  sim->client = NULL;
  for (uint32_t i = 0; i < sim->opts->tablets; i++)
    sim->tablets[i].conn = NULL;
  return sim->phase_done && !sim->failed ? 0 : PROTO_EINTERNAL;
}

/* ---- offline recording --------------------------------------------------- */

static const char *const sim__names[] = {"Anna de Vries", "Mohamed El Amrani", "Fatma Yilmaz",
                                         "Kees Jansen",   "Gerda Bakker",      "Sanne Visser",
                                         "Ricardo Silva", "Noor Bouzid"};
static const char *const sim__referrals[] = {"GP", "neighbourhood team", "friend", NULL};
static const char *const sim__statuses[] = {"present", "absent", "excused"};

static int64_t sim__own_tally(sim__tablet_t *t, const char *session) {
  sqlite3_stmt *st;
  int64_t n = 0;
  if (sqlite3_prepare_v2(local_db(t->local),
                         "SELECT count FROM tallies WHERE org = 0 AND session = ? AND device = ?",
                         -1, &st, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, local_device(t->local), -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* Records one random op (two for a walk-in) on tablet t; returns how many
 * ops were recorded (0 when the choice did not apply). */
static uint32_t sim__random_op(sim__tablet_t *t, uint32_t k, uint32_t left) {
  uint64_t *r = &t->rng;
  const char *session = t->sessions[sim__pick(r, t->nsessions)];
  const char *person = t->npeople ? t->people[sim__pick(r, t->npeople)] : NULL;
  char id[TABLET_ID_SIZE], text[128];
  uint32_t dice = sim__pick(r, 100);
  int64_t count;

  if (dice < 30 && person)
    return tablet_checkin(t->local, session, person) == 0;
  if (dice < 38 && person)
    return tablet_set_status(t->local, session, person, sim__statuses[sim__pick(r, 3)]) == 0;
  if (dice < 45 && person)
    return tablet_checkout(t->local, session, person) == 0;
  if (dice < 53 && left >= 2) {
    if (tablet_walkin(t->local, session, sim__names[sim__pick(r, 8)],
                      sim__referrals[sim__pick(r, 4)], NULL, id) != 0)
      return 0;
    sim__push_id(&t->people, &t->npeople, &t->cap_people, id);
    return 2;
  }
  if (dice < 68) {
    /* Now and then a correction, but never below what this tablet counted. */
    int64_t delta = 1 + (int64_t)sim__pick(r, 3);
    if (sim__pick(r, 4) == 0 && sim__own_tally(t, session) > 0)
      delta = -1;
    return tablet_tally(t->local, session, delta, &count) == 0;
  }
  if (dice < 78 && t->nactivities) {
    snprintf(text, sizeof(text), "%s says hello (%u)", t->name, k);
    if (tablet_post(t->local, t->activities[sim__pick(r, t->nactivities)], text, id) != 0)
      return 0;
    sim__push_id(&t->messages, &t->nmessages, &t->cap_messages, id);
    return 1;
  }
  if (dice < 84 && t->nmessages) {
    snprintf(text, sizeof(text), "%s corrects herself (%u)", t->name, k);
    return tablet_edit(t->local, t->messages[sim__pick(r, t->nmessages)], text) == 0;
  }
  if (dice < 86 && t->nmessages)
    return tablet_delete(t->local, t->messages[sim__pick(r, t->nmessages)]) == 0;
  snprintf(text, sizeof(text), "notes by %s (%u)", t->name, k);
  {
    bool start = sim__pick(r, 3) == 0, end = sim__pick(r, 3) == 0;
    int64_t headcount = sim__pick(r, 2) ? (int64_t)sim__pick(r, 30) : -1;
    bool notes = sim__pick(r, 2) || (!start && !end && headcount < 0);
    return tablet_log(t->local, session, start, end, headcount, notes ? text : NULL) == 0;
  }
}

static int sim__record(sim__t *sim, sim__tablet_t *t) {
  char today[11];
  uint32_t done = 0, tries = 0;
  int rc;

  tablet_today(t->local, today);
  rc = sim__load_ids(t->local,
                     "SELECT id FROM sessions WHERE org = 0 AND date = ? "
                     "AND COALESCE(cancelled, 0) = 0 ORDER BY id",
                     today, &t->sessions, &t->nsessions, NULL);
  if (rc == 0)
    rc = sim__load_ids(t->local, "SELECT id FROM participants WHERE org = 0 ORDER BY id", NULL,
                       &t->people, &t->npeople, &t->cap_people);
  if (rc == 0)
    rc = sim__load_ids(t->local, "SELECT id FROM activities WHERE org = 0 ORDER BY id", NULL,
                       &t->activities, &t->nactivities, NULL);
  if (rc != 0)
    return rc;
  if (t->nsessions == 0) {
    fprintf(stderr, "sim: %s sees no sessions today (%s); was the server started with --demo?\n",
            t->name, today);
    return PROTO_EBAD_FIELD;
  }
  /* A choice that does not apply (nothing to edit yet) records nothing;
   * the bound on tries keeps a broken file from looping forever. */
  while (done < sim->opts->ops && tries++ < sim->opts->ops * 20)
    done += sim__random_op(t, done, sim->opts->ops - done);
  if (done < sim->opts->ops) {
    fprintf(stderr, "sim: %s recorded only %u ops\n", t->name, done);
    return PROTO_ESTORAGE;
  }
  return 0;
}

/* ---- convergence --------------------------------------------------------- */

static char *sim__dump(local_t *local, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (f == NULL)
    return NULL;
  if (tablet_print_dump(local, f) != 0) {
    fclose(f);
    free(buf);
    return NULL;
  }
  fclose(f);
  return buf;
}

static bool sim__converged(sim__t *sim) {
  size_t len0, len;
  char *first = sim__dump(sim->tablets[0].local, &len0);
  bool same = first != NULL;

  for (uint32_t i = 1; same && i < sim->opts->tablets; i++) {
    char *d = sim__dump(sim->tablets[i].local, &len);
    if (d == NULL || len != len0 || memcmp(d, first, len) != 0) {
      fprintf(stderr, "sim: %s differs from %s\n", sim->tablets[i].name, sim->tablets[0].name);
      same = false;
    }
    free(d);
  }
  free(first);
  return same;
}

/* ---- run ----------------------------------------------------------------- */

static void sim__free_tablet(sim__tablet_t *t) {
  local_close(t->local);
  free(t->sessions);
  free(t->people);
  free(t->activities);
  free(t->messages);
}

int sim_run(const sim_options_t *opts, sim_result_t *res) {
  sim__t sim;
  uint64_t started;
  char path[4096];
  int rc = 0, loop_rc;

  memset(res, 0, sizeof(*res));
  memset(&sim, 0, sizeof(sim));
  sim.opts = opts;
  if (opts->tablets == 0)
    return PROTO_EBAD_FIELD;
  sim.tablets = calloc(opts->tablets, sizeof(*sim.tablets));
  if (sim.tablets == NULL)
    return PROTO_ENOMEM;
  if (uv_loop_init(&sim.loop) != 0) {
    free(sim.tablets);
    return PROTO_EINTERNAL;
  }

  for (uint32_t i = 0; i < opts->tablets; i++) {
    sim__tablet_t *t = &sim.tablets[i];
    t->sim = &sim;
    snprintf(t->name, sizeof(t->name), "sim-%u", i + 1);
    snprintf(path, sizeof(path), "%s/%s.db", opts->dir, t->name);
    t->rng = (opts->seed + 1) * UINT64_C(0x9E3779B97F4A7C15) + i * UINT64_C(0xBF58476D1CE4E5B9);
    if (t->rng == 0)
      t->rng = 1;
    t->local = local_open(path, 0);
    if (t->local == NULL || local_ensure_device(t->local, t->name) != 0 ||
        local_meta_set_text(t->local, "server", opts->server) != 0) {
      rc = PROTO_ESTORAGE;
      goto done;
    }
  }

  /* 1. enrol everybody and pull the organisation */
  if (sim__online(&sim, opts->code) != 0) {
    fprintf(stderr, "sim: the tablets could not all enrol and sync\n");
    rc = PROTO_EBAD_CREDENTIALS;
    goto done;
  }

  /* 2. offline: everybody records */
  for (uint32_t i = 0; i < opts->tablets; i++) {
    int64_t n;
    rc = sim__record(&sim, &sim.tablets[i]);
    if (rc != 0)
      goto done;
    n = local_outbox_count(sim.tablets[i].local);
    res->ops += n > 0 ? (uint64_t)n : 0;
  }

  /* 3. all at once */
  started = uv_hrtime();
  {
    int online = sim__online(&sim, NULL);
    res->seconds = (double)(uv_hrtime() - started) / 1e9;
    (void)online; /* a timeout shows as not converged / waiting below */
  }
  for (uint32_t i = 0; i < opts->tablets; i++) {
    int64_t n = local_outbox_count(sim.tablets[i].local);
    res->waiting += n > 0 ? (uint64_t)n : 0;
  }
  res->converged = sim__converged(&sim);

  res->acked = sim.acked;
  res->rejected = sim.rejected;
done:
  for (uint32_t i = 0; i < opts->tablets; i++)
    sim__free_tablet(&sim.tablets[i]);
  free(sim.tablets);
  loop_rc = uv_loop_close(&sim.loop);
  if (loop_rc != 0)
    fprintf(stderr, "sim: loop did not close cleanly: %s\n", uv_strerror(loop_rc));
  return rc;
}
