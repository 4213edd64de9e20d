/* main.c — the turf-tablet command: a teacher's tablet on the command line.
 *
 *   turf-tablet --db FILE [--clock-skew-ms N] [--ca FILE] <command> ...
 *
 * Results go to stdout, errors to stderr; exit 0 on success, 1 on failure.
 * Owns the command line, the loop of the online commands (enroll, sync,
 * watch) and its signal and deadline handles; everything else is in the
 * library (local.h, client.h, tablet.h, sim.h). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "client.h"
#include "schema.h"
#include "sim.h"
#include "tablet.h"

static const char usage[] =
    "usage: turf-tablet --db FILE [--clock-skew-ms N] [--ca FILE] <command> ...\n"
    "  enroll --server URL --code CODE [--name NAME]\n"
    "  sync [--timeout SECONDS] [--server URL]\n"
    "  watch [--for SECONDS] [--server URL]\n"
    "  sessions | people | outbox | attention | dump\n"
    "  attendance [SESSION]\n"
    "  checkin SESSION PERSON | checkout SESSION PERSON\n"
    "  uncheck SESSION PERSON   (undo a check-in: not checked in, not absent)\n"
    "  status SESSION PERSON present|absent|excused\n"
    "  walkin SESSION NAME [--referral TEXT] [--contact TEXT]\n"
    "  tally SESSION [N]\n"
    "  post ACTIVITY TEXT | edit MESSAGE TEXT | delete MESSAGE | messages ACTIVITY\n"
    "  log SESSION [--start] [--end] [--headcount N] [--notes TEXT]\n"
    "  sim --server URL --code CODE --tablets N --ops M --dir DIR [--seed S]\n"
    "The file can also be given as TURF_TABLET_DB. --ca (or TURF_TABLET_CA) names the\n"
    "PEM CA certificate a wss:// server's certificate must chain to.\n";

/* --ca / TURF_TABLET_CA, for every online command; NULL: the system's CAs. */
static const char *main__ca_file;

/* ---- argument helpers ---------------------------------------------------- */

static bool main__parse_i64(const char *s, int64_t *out) {
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    return false;
  *out = v;
  return true;
}

/* A command's arguments: options with values, flags and positionals, in
 * any order. A lone "-3" is a positional number, not an option. */
typedef struct {
  const char *pos[4];
  int npos;
  const char *opt_names[8];
  const char *opt_values[8];
  int nopts;
} main__cmdargs_t;

static bool main__is_option(const char *s) {
  return s[0] == '-' && s[1] == '-' && s[2] != '\0';
}

/* flags lists options without a value, valued those with one. Returns 0 or
 * -1 after printing why. */
static int main__split(int argc, char **argv, const char *const *valued,
                       const char *const *flags, main__cmdargs_t *out) {
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    bool known = false;
    if (!main__is_option(a)) {
      if (out->npos == 4) {
        fprintf(stderr, "turf-tablet: too many arguments\n");
        return -1;
      }
      out->pos[out->npos++] = a;
      continue;
    }
    for (const char *const *v = valued; v && *v; v++) {
      if (strcmp(a, *v) == 0) {
        if (i + 1 >= argc || out->nopts == 8) {
          fprintf(stderr, "turf-tablet: %s needs a value\n", a);
          return -1;
        }
        out->opt_names[out->nopts] = *v;
        out->opt_values[out->nopts++] = argv[++i];
        known = true;
        break;
      }
    }
    for (const char *const *f = flags; !known && f && *f; f++) {
      if (strcmp(a, *f) == 0 && out->nopts < 8) {
        out->opt_names[out->nopts] = *f;
        out->opt_values[out->nopts++] = "";
        known = true;
      }
    }
    if (!known) {
      fprintf(stderr, "turf-tablet: unknown option %s\n", a);
      return -1;
    }
  }
  return 0;
}

static const char *main__opt(const main__cmdargs_t *a, const char *name) {
  const char *v = NULL;
  for (int i = 0; i < a->nopts; i++)
    if (strcmp(a->opt_names[i], name) == 0)
      v = a->opt_values[i];
  return v;
}

static int main__want(const main__cmdargs_t *a, int min, int max, const char *cmd) {
  if (a->npos < min || a->npos > max) {
    fprintf(stderr, "turf-tablet: wrong arguments for %s\n%s", cmd, usage);
    return -1;
  }
  return 0;
}

/* ---- online commands ----------------------------------------------------- */

typedef enum { MAIN__ENROLL, MAIN__SYNC, MAIN__WATCH } main__mode_t;

typedef struct {
  main__mode_t mode;
  uv_loop_t loop;
  client_t *client;
  local_t *local;
  client_conn_t *conn;
  uv_timer_t deadline;
  uv_signal_t sigint, sigterm;
  bool stopping;
  bool welcomed;
  int result;           /* exit code */
  uint32_t seconds;     /* --timeout / --for */
} main__run_t;

static void main__stop(main__run_t *run, int result) {
  if (run->stopping)
    return;
  run->stopping = true;
  run->result = result;
  /* Our handles, once each; the client closes its own and lws's. */
  uv_close((uv_handle_t *)&run->deadline, NULL);
  uv_close((uv_handle_t *)&run->sigint, NULL);
  uv_close((uv_handle_t *)&run->sigterm, NULL);
  client_shutdown(run->client);
}

static void main__on_welcome(client_conn_t *conn, const proto_welcome_t *w) {
  main__run_t *run = client_conn_data(conn);
  if (run->mode == MAIN__ENROLL && !run->welcomed) {
    printf("enrolled %s in %.*s\n", local_device(run->local), (int)w->org.len,
           w->org.ptr ? w->org.ptr : "");
    fflush(stdout);
  }
  if (run->mode == MAIN__WATCH && run->welcomed)
    fprintf(stderr, "turf-tablet: reconnected\n");
  run->welcomed = true;
}

static void main__on_op(client_conn_t *conn, const proto_op_t *op, bool live) {
  main__run_t *run = client_conn_data(conn);
  const schema_type_t *t = schema_type(op->type);
  if (run->mode != MAIN__WATCH || !live)
    return;
  printf("live %" PRIu64 " %s %.*s\n", op->server_seq, t ? t->name : "?", (int)op->key.len,
         op->key.ptr);
  fflush(stdout);
}

static void main__on_synced(client_conn_t *conn) {
  main__run_t *run = client_conn_data(conn);
  client_stats_t s = client_conn_stats(conn);
  if (run->mode == MAIN__WATCH)
    return;
  printf("synced: pushed %" PRIu64 " acked %" PRIu64 " rejected %" PRIu64 " pulled %" PRIu64
         " cursor %" PRIu64 "\n",
         s.pushed, s.acked, s.rejected, s.pulled, local_cursor(run->local));
  fflush(stdout);
  main__stop(run, 0);
}

static void main__on_disconnect(client_conn_t *conn, int code, const char *reason,
                                bool will_retry) {
  main__run_t *run = client_conn_data(conn);

  if (code == PROTO_EREVOKED)
    fprintf(stderr, "turf-tablet: this tablet was revoked by its organisation; everything it "
                    "held has been erased from this file\n");
  else if (code == PROTO_ERESCOPED)
    fprintf(stderr, "turf-tablet: this tablet's locations were changed by its organisation; "
                    "reconnecting to sync them again\n");
  else if (code == PROTO_EBAD_CREDENTIALS)
    fprintf(stderr, "turf-tablet: the server refused this tablet (%s); %s\n", reason,
            run->mode == MAIN__ENROLL ? "check the code" : "it may have been revoked");
  else if (!run->welcomed && run->mode != MAIN__WATCH)
    fprintf(stderr, "turf-tablet: cannot reach the server: %s\n", reason);
  else
    fprintf(stderr, "turf-tablet: %s%s\n", reason, will_retry ? "; reconnecting" : "");
  /* sync and enroll give up when the server cannot be reached at all; once
   * in, a drop is retried until the deadline. watch keeps trying. */
  if (!will_retry || (!run->welcomed && run->mode != MAIN__WATCH))
    main__stop(run, 1);
}

static void main__on_deadline(uv_timer_t *t) {
  main__run_t *run = t->data;
  int64_t waiting;
  if (run->mode == MAIN__WATCH) {
    main__stop(run, 0);
    return;
  }
  waiting = local_outbox_count(run->local);
  fprintf(stderr,
          "turf-tablet: not synced within %u s; %lld op(s) stay in the outbox for next time\n",
          run->seconds, (long long)(waiting > 0 ? waiting : 0));
  main__stop(run, 1);
}

static void main__on_signal(uv_signal_t *s, int signum) {
  main__run_t *run = s->data;
  (void)signum;
  main__stop(run, run->mode == MAIN__WATCH ? 0 : 1);
}

static int main__online(main__mode_t mode, local_t *local, const char *url, const char *code,
                        uint32_t seconds) {
  main__run_t run;
  client_conn_options_t co;
  int rc;

  memset(&run, 0, sizeof(run));
  run.mode = mode;
  run.local = local;
  run.seconds = seconds;
  run.result = 1;
  if (uv_loop_init(&run.loop) != 0)
    return 1;
  run.client = client_new_opts(&run.loop, &(client_options_t){.ca_file = main__ca_file});
  if (run.client == NULL) {
    uv_loop_close(&run.loop);
    return 1;
  }
  uv_timer_init(&run.loop, &run.deadline);
  uv_signal_init(&run.loop, &run.sigint);
  uv_signal_init(&run.loop, &run.sigterm);
  run.deadline.data = run.sigint.data = run.sigterm.data = &run;
  uv_signal_start(&run.sigint, main__on_signal, SIGINT);
  uv_signal_start(&run.sigterm, main__on_signal, SIGTERM);
  if (seconds > 0)
    uv_timer_start(&run.deadline, main__on_deadline, (uint64_t)seconds * 1000, 0);

  memset(&co, 0, sizeof(co));
  co.url = url;
  co.code = code;
  co.reconnect = true;
  co.data = &run;
  co.cb.on_welcome = main__on_welcome;
  co.cb.on_op = main__on_op;
  co.cb.on_synced = main__on_synced;
  co.cb.on_disconnect = main__on_disconnect;
  run.conn = client_conn_start(run.client, local, &co);
  if (run.conn == NULL)
    main__stop(&run, 1);

  uv_run(&run.loop, UV_RUN_DEFAULT);
  client_free(run.client);
  rc = uv_loop_close(&run.loop);
  if (rc != 0) {
    fprintf(stderr, "turf-tablet: loop did not close cleanly: %s\n", uv_strerror(rc));
    return 1;
  }
  return run.result;
}

/* ---- commands ------------------------------------------------------------ */

static int main__need_device(local_t *local) {
  if (local_device(local)[0] == '\0') {
    fprintf(stderr, "turf-tablet: this file is not enrolled yet; run `enroll` first\n");
    return -1;
  }
  return 0;
}

/* The server URL: --server (remembered from now on) or the stored one. */
static int main__server(local_t *local, const main__cmdargs_t *a, char *url, size_t size) {
  const char *given = main__opt(a, "--server");
  if (given != NULL) {
    if (local_meta_set_text(local, "server", given) != 0)
      return -1;
    snprintf(url, size, "%s", given);
    return 0;
  }
  if (local_meta_text(local, "server", url, size) != 0 || url[0] == '\0') {
    fprintf(stderr, "turf-tablet: no server known; give --server URL\n");
    return -1;
  }
  return 0;
}

static int main__seconds(const main__cmdargs_t *a, const char *name, uint32_t dflt,
                         uint32_t *out) {
  const char *v = main__opt(a, name);
  int64_t n;
  *out = dflt;
  if (v == NULL)
    return 0;
  if (!main__parse_i64(v, &n) || n <= 0 || n > 86400 * 365) {
    fprintf(stderr, "turf-tablet: %s wants a number of seconds\n", name);
    return -1;
  }
  *out = (uint32_t)n;
  return 0;
}

static int main__enroll(local_t *local, int argc, char **argv) {
  static const char *const valued[] = {"--server", "--code", "--name", NULL};
  main__cmdargs_t a;
  char url[1024], token[PROTO_MAX_ID_BYTES + 1];
  const char *code, *name;

  if (main__split(argc, argv, valued, NULL, &a) != 0 || main__want(&a, 0, 0, "enroll") != 0)
    return 1;
  code = main__opt(&a, "--code");
  name = main__opt(&a, "--name");
  if (main__opt(&a, "--server") == NULL || code == NULL) {
    fprintf(stderr, "turf-tablet: enroll needs --server URL and --code CODE\n");
    return 1;
  }
  if (name != NULL && (strlen(name) == 0 || strlen(name) > PROTO_MAX_ID_BYTES)) {
    fprintf(stderr, "turf-tablet: --name must be 1..%d bytes\n", PROTO_MAX_ID_BYTES);
    return 1;
  }
  if (local_forget_unenrolled_device(local) != 0 || local_ensure_device(local, name) != 0 ||
      main__server(local, &a, url, sizeof(url)) != 0)
    return 1;
  if (local_meta_text(local, "token", token, sizeof(token)) == 0 && token[0] != '\0')
    fprintf(stderr, "turf-tablet: this file is already enrolled; syncing with its token\n");
  return main__online(MAIN__ENROLL, local, url, code, 30);
}

static int main__sync_or_watch(local_t *local, main__mode_t mode, int argc, char **argv) {
  static const char *const sync_valued[] = {"--timeout", "--server", NULL};
  static const char *const watch_valued[] = {"--for", "--server", NULL};
  main__cmdargs_t a;
  char url[1024], token[PROTO_MAX_ID_BYTES + 1];
  uint32_t seconds;

  if (main__split(argc, argv, mode == MAIN__SYNC ? sync_valued : watch_valued, NULL, &a) != 0 ||
      main__want(&a, 0, 0, mode == MAIN__SYNC ? "sync" : "watch") != 0)
    return 1;
  if (main__seconds(&a, mode == MAIN__SYNC ? "--timeout" : "--for", mode == MAIN__SYNC ? 30 : 0,
                    &seconds) != 0)
    return 1;
  if (main__need_device(local) != 0 || main__server(local, &a, url, sizeof(url)) != 0)
    return 1;
  if (local_meta_text(local, "token", token, sizeof(token)) != 0 || token[0] == '\0') {
    fprintf(stderr, "turf-tablet: this file has no token; run `enroll` first\n");
    return 1;
  }
  return main__online(mode, local, url, NULL, seconds);
}

static int main__sim(int argc, char **argv) {
  static const char *const valued[] = {"--server", "--code", "--tablets", "--ops",
                                       "--dir",    "--seed", "--timeout", NULL};
  main__cmdargs_t a;
  sim_options_t o;
  sim_result_t r;
  int64_t tablets, ops, seed = 0;
  uint32_t timeout;
  const char *s;

  if (main__split(argc, argv, valued, NULL, &a) != 0 || main__want(&a, 0, 0, "sim") != 0)
    return 1;
  memset(&o, 0, sizeof(o));
  o.server = main__opt(&a, "--server");
  o.code = main__opt(&a, "--code");
  o.dir = main__opt(&a, "--dir");
  if (o.server == NULL || o.code == NULL || o.dir == NULL || !main__opt(&a, "--tablets") ||
      !main__opt(&a, "--ops") || !main__parse_i64(main__opt(&a, "--tablets"), &tablets) ||
      !main__parse_i64(main__opt(&a, "--ops"), &ops) || tablets < 1 || tablets > 1000 ||
      ops < 1 || ops > 1000000) {
    fprintf(stderr, "turf-tablet: sim needs --server, --code, --dir, --tablets 1..1000 and "
                    "--ops 1..1000000\n");
    return 1;
  }
  s = main__opt(&a, "--seed");
  if (s != NULL && !main__parse_i64(s, &seed)) {
    fprintf(stderr, "turf-tablet: --seed wants a number\n");
    return 1;
  }
  if (s == NULL)
    seed = (int64_t)time(NULL);
  if (main__seconds(&a, "--timeout", 180, &timeout) != 0)
    return 1;
  o.tablets = (uint32_t)tablets;
  o.ops = (uint32_t)ops;
  o.seed = (uint64_t)seed;
  o.timeout_s = timeout;
  fprintf(stderr, "sim: seed %lld\n", (long long)seed);
  if (sim_run(&o, &r) != 0)
    return 1;
  printf("sim: tablets %u ops %" PRIu64 " acked %" PRIu64 " rejected %" PRIu64
         " converged %s seconds %.1f\n",
         o.tablets, r.ops, r.acked, r.rejected, r.converged ? "yes" : "no", r.seconds);
  if (r.waiting > 0)
    fprintf(stderr, "sim: %" PRIu64 " op(s) never reached the server\n", r.waiting);
  return r.converged && r.waiting == 0 && r.rejected == 0 && r.acked == r.ops ? 0 : 1;
}

/* Commands on the local file alone (they work offline). */
static int main__local_command(local_t *local, const char *cmd, int argc, char **argv) {
  static const char *const walkin_valued[] = {"--referral", "--contact", NULL};
  static const char *const log_valued[] = {"--headcount", "--notes", NULL};
  static const char *const log_flags[] = {"--start", "--end", NULL};
  char s[TABLET_ID_SIZE], p[TABLET_ID_SIZE], id[TABLET_ID_SIZE];
  main__cmdargs_t a;
  int64_t n;

  if (strcmp(cmd, "walkin") == 0) {
    if (main__split(argc, argv, walkin_valued, NULL, &a) != 0)
      return 1;
  } else if (strcmp(cmd, "log") == 0) {
    if (main__split(argc, argv, log_valued, log_flags, &a) != 0)
      return 1;
  } else if (main__split(argc, argv, NULL, NULL, &a) != 0) {
    return 1;
  }

  if (strcmp(cmd, "sessions") == 0)
    return main__want(&a, 0, 0, cmd) || tablet_print_sessions(local, stdout) ? 1 : 0;
  if (strcmp(cmd, "people") == 0)
    return main__want(&a, 0, 0, cmd) || tablet_print_people(local, stdout) ? 1 : 0;
  if (strcmp(cmd, "dump") == 0)
    return main__want(&a, 0, 0, cmd) || tablet_print_dump(local, stdout) ? 1 : 0;
  if (strcmp(cmd, "attention") == 0)
    return main__want(&a, 0, 0, cmd) || tablet_print_attention(local, stdout) ? 1 : 0;
  if (strcmp(cmd, "outbox") == 0) {
    if (main__want(&a, 0, 0, cmd) != 0 || (n = local_outbox_count(local)) < 0)
      return 1;
    printf("%lld\n", (long long)n);
    return 0;
  }
  if (strcmp(cmd, "attendance") == 0) {
    if (main__want(&a, 0, 1, cmd) != 0)
      return 1;
    if (a.npos == 1 && tablet_find_session(local, a.pos[0], s) != 0)
      return 1;
    return tablet_print_attendance(local, a.npos == 1 ? s : NULL, stdout) ? 1 : 0;
  }
  if (strcmp(cmd, "messages") == 0) {
    if (main__want(&a, 1, 1, cmd) != 0 || tablet_find_activity(local, a.pos[0], id) != 0)
      return 1;
    return tablet_print_messages(local, id, stdout) ? 1 : 0;
  }

  /* Everything below records an op. */
  if (main__need_device(local) != 0)
    return 1;
  if (strcmp(cmd, "checkin") == 0 || strcmp(cmd, "checkout") == 0 ||
      strcmp(cmd, "uncheck") == 0 || strcmp(cmd, "status") == 0) {
    bool status = strcmp(cmd, "status") == 0;
    if (main__want(&a, status ? 3 : 2, status ? 3 : 2, cmd) != 0 ||
        tablet_find_session(local, a.pos[0], s) != 0 ||
        tablet_find_person(local, a.pos[1], p) != 0)
      return 1;
    if (status) {
      if (strcmp(a.pos[2], "present") && strcmp(a.pos[2], "absent") &&
          strcmp(a.pos[2], "excused")) {
        fprintf(stderr, "turf-tablet: status is present, absent or excused\n");
        return 1;
      }
      return tablet_set_status(local, s, p, a.pos[2]) ? 1 : 0;
    }
    if (strcmp(cmd, "checkin") == 0)
      return tablet_checkin(local, s, p) ? 1 : 0;
    if (strcmp(cmd, "uncheck") == 0)
      return tablet_set_status(local, s, p, NULL) ? 1 : 0;
    return tablet_checkout(local, s, p) ? 1 : 0;
  }
  if (strcmp(cmd, "walkin") == 0) {
    if (main__want(&a, 2, 2, cmd) != 0 || tablet_find_session(local, a.pos[0], s) != 0 ||
        tablet_walkin(local, s, a.pos[1], main__opt(&a, "--referral"),
                      main__opt(&a, "--contact"), id) != 0)
      return 1;
    printf("%s\n", id);
    return 0;
  }
  if (strcmp(cmd, "tally") == 0) {
    int64_t delta = 1, count;
    if (main__want(&a, 1, 2, cmd) != 0)
      return 1;
    if (a.npos == 2 && (!main__parse_i64(a.pos[1], &delta) || delta == 0 ||
                        delta > 1000000 || delta < -1000000)) {
      fprintf(stderr, "turf-tablet: tally wants a non-zero number\n");
      return 1;
    }
    if (tablet_find_session(local, a.pos[0], s) != 0 ||
        tablet_tally(local, s, delta, &count) != 0)
      return 1;
    printf("tally %lld\n", (long long)count);
    return 0;
  }
  if (strcmp(cmd, "post") == 0) {
    if (main__want(&a, 2, 2, cmd) != 0 || tablet_find_activity(local, a.pos[0], s) != 0 ||
        tablet_post(local, s, a.pos[1], id) != 0)
      return 1;
    printf("%s\n", id);
    return 0;
  }
  if (strcmp(cmd, "edit") == 0)
    return main__want(&a, 2, 2, cmd) || tablet_edit(local, a.pos[0], a.pos[1]) ? 1 : 0;
  if (strcmp(cmd, "delete") == 0)
    return main__want(&a, 1, 1, cmd) || tablet_delete(local, a.pos[0]) ? 1 : 0;
  if (strcmp(cmd, "log") == 0) {
    const char *hc = main__opt(&a, "--headcount");
    int64_t headcount = -1;
    if (main__want(&a, 1, 1, cmd) != 0)
      return 1;
    if (hc != NULL && (!main__parse_i64(hc, &headcount) || headcount < 0)) {
      fprintf(stderr, "turf-tablet: --headcount wants a number >= 0\n");
      return 1;
    }
    if (tablet_find_session(local, a.pos[0], s) != 0)
      return 1;
    return tablet_log(local, s, main__opt(&a, "--start") != NULL,
                      main__opt(&a, "--end") != NULL, headcount, main__opt(&a, "--notes"))
               ? 1
               : 0;
  }
  fprintf(stderr, "turf-tablet: unknown command \"%s\"\n%s", cmd, usage);
  return 1;
}

int main(int argc, char **argv) {
  const char *db = getenv("TURF_TABLET_DB");
  const char *ca = getenv("TURF_TABLET_CA");
  const char *cmd;
  int64_t skew = 0;
  local_t *local;
  int i = 1, rc;

  /* A tablet that loses its server mid-write must not die of SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  if (ca != NULL && ca[0] != '\0')
    main__ca_file = ca;
  for (; i < argc && main__is_option(argv[i]); i++) {
    if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
      db = argv[++i];
    } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
      main__ca_file = argv[++i];
    } else if (strcmp(argv[i], "--clock-skew-ms") == 0 && i + 1 < argc) {
      if (!main__parse_i64(argv[++i], &skew)) {
        fprintf(stderr, "turf-tablet: --clock-skew-ms wants a number\n");
        return 1;
      }
    } else if (strcmp(argv[i], "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    } else {
      fprintf(stderr, "turf-tablet: unknown option %s\n%s", argv[i], usage);
      return 1;
    }
  }
  if (i >= argc) {
    fputs(usage, stderr);
    return 1;
  }
  cmd = argv[i++];
  if (strcmp(cmd, "sim") == 0)
    return main__sim(argc - i, argv + i);
  if (db == NULL || db[0] == '\0') {
    fprintf(stderr, "turf-tablet: give the tablet's file with --db FILE or TURF_TABLET_DB\n");
    return 1;
  }
  if (strcmp(cmd, "enroll") != 0 && access(db, F_OK) != 0) {
    fprintf(stderr, "turf-tablet: %s does not exist; run `enroll` first\n", db);
    return 1;
  }
  local = local_open(db, skew);
  if (local == NULL)
    return 1;
  if (strcmp(cmd, "enroll") == 0)
    rc = main__enroll(local, argc - i, argv + i);
  else if (strcmp(cmd, "sync") == 0)
    rc = main__sync_or_watch(local, MAIN__SYNC, argc - i, argv + i);
  else if (strcmp(cmd, "watch") == 0)
    rc = main__sync_or_watch(local, MAIN__WATCH, argc - i, argv + i);
  else
    rc = main__local_command(local, cmd, argc - i, argv + i);
  if (fflush(stdout) != 0)
    rc = 1;
  local_close(local);
  return rc;
}
