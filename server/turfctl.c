/* turfctl.c — the administrator's command: organisations, locations,
 * activities, sessions, coordinator accounts, device enrolment and
 * revocation, export and erasure of a participant, online backup.
 *
 *   turfctl [--db FILE] [--admin-socket PATH] <command> <subcommand> ...
 *
 * It works on the database file itself (storage/admin_db.h), so it works
 * with turfd stopped; when turfd runs on the same file, turfctl tells it
 * over its admin socket (admin.h) what needs the live process: cut a
 * revoked device off now, send the ops turfctl wrote to connected tablets.
 * Results go to stdout, errors to stderr; exit 0 on success, 1 on failure,
 * 2 on a usage error. Owns the command line and the terminal; no loop. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../protocol/schema.h"
#include "../storage/admin_db.h"
#include "admin.h"
#include "enrol_link.h"
#include "passwd.h"
#include "qr.h"

#define TURFCTL__NOTIFY_MS 3000      /* how long turfd has to answer */
#define TURFCTL__TTL_DEFAULT_S (15 * 60)
#define TURFCTL__PNG_SCALE 8

/* ---- help ------------------------------------------------------------------ */

typedef struct {
  const char *group, *name; /* "device", "revoke"; name NULL for one-word commands */
  const char *usage;        /* after "turfctl [global options] " */
  const char *help;         /* what it does, options */
} turfctl__cmd_t;

static const turfctl__cmd_t turfctl__cmds[] = {
    {"org", "create", "org create [--tz ZONE] NAME",
     "Creates an organisation. Prints its id. --tz: its time zone (an IANA name;\n"
     "default " ZONE_DEFAULT "), which decides what \"today\" is for its tablets\n"
     "and coordinators."},
    {"org", "list", "org list",
     "Lists organisations: id, name, head (newest op), devices, created, time zone."},
    {"org", "set", "org set --org ORG --tz ZONE",
     "Sets ORG's time zone (an IANA name such as Europe/Amsterdam). Tablets take it\n"
     "at their next connection."},
    {"location", "create", "location create --org ORG NAME",
     "Creates a location of ORG (id or name). Prints its id. Tablets receive it by syncing."},
    {"location", "list", "location list --org ORG", "Lists ORG's locations."},
    {"activity", "create",
     "activity create --org ORG --location LOC [--weekday 1-7] [--start HH:MM] NAME",
     "Creates a recurring activity at LOC (id or name); weekday 1 is Monday. Prints its id."},
    {"activity", "list", "activity list --org ORG", "Lists ORG's activities."},
    {"session", "create",
     "session create --org ORG --activity ACT --date YYYY-MM-DD|today [--start HH:MM]",
     "Creates one session (occurrence) of ACT (id or name). Prints its id. \"today\" is\n"
     "the date in ORG's time zone."},
    {"session", "cancel", "session cancel --org ORG [--undo] SESSION",
     "Calls SESSION (its id) off: tablets show it as cancelled and reports count it\n"
     "apart. --undo holds it after all."},
    {"session", "list", "session list --org ORG [--date YYYY-MM-DD|today]",
     "Lists ORG's sessions."},
    {"participant", "list", "participant list --org ORG",
     "Lists ORG's participants: id, name, first seen."},
    {"participant", "export", "participant export --org ORG [--out FILE] PARTICIPANT",
     "Writes everything the server holds about PARTICIPANT (id or unique name), and the\n"
     "duplicates merged into them, as JSON (a subject access request)."},
    {"participant", "erase", "participant erase --org ORG [--no-vacuum] PARTICIPANT",
     "Erases PARTICIPANT (id or unique name) and the duplicates merged into them: their\n"
     "fields and check-ins go from the server, their ops in the log are rewritten to an\n"
     "erasure op, and every tablet purges its copy when it next syncs (connected ones at\n"
     "once, offline ones when they come back). Then the file is checkpointed and vacuumed\n"
     "so no old copy stays in free pages (--no-vacuum skips that rebuild; the erased\n"
     "content is still overwritten, but older copies in free pages may remain)."},
    {"coordinator", "create",
     "coordinator create --org ORG --login LOGIN [--name NAME] [--role coordinator|viewer]",
     "Creates a dashboard account. The password is read from the terminal (twice), or as\n"
     "one line from standard input when that is not a terminal; at least 10 bytes. It is\n"
     "stored as a salted yescrypt hash. A viewer may read; a coordinator may also resolve\n"
     "conflicts and merge duplicates."},
    {"coordinator", "list", "coordinator list [--org ORG]", "Lists dashboard accounts."},
    {"coordinator", "passwd", "coordinator passwd LOGIN", "Sets a new password (read as above)."},
    {"coordinator", "disable", "coordinator disable LOGIN",
     "Refuses the account's logins from now on; a running turfd ends its sessions at once."},
    {"coordinator", "enable", "coordinator enable LOGIN", "Allows a disabled account again."},
    {"enroll", NULL,
     "enroll --org ORG [--location LOC]... [--ttl SECONDS] [--uses N] [--server URL]\n"
     "                [--png FILE] [--no-qr]",
     "Issues a one-time enrolment code (8 characters, default: valid 15 minutes, 1 use)\n"
     "and prints it as text and as a QR code; --png also writes the QR code as a PNG. A\n"
     "tablet exchanges the code once for its own long random token. With --location\n"
     "(repeatable), the devices it enrols see and may write only those locations (and\n"
     "the organisation-wide participants); without, the whole organisation. With\n"
     "--server URL (where tablets reach turfd: https://turf.example.org, or its ws(s)://\n"
     "address) the QR code holds the tablet app's link URL/tablet/#enrol=CODE, which a\n"
     "tablet's camera opens; without, just the code."},
    {"device", "list", "device list [--org ORG]",
     "Lists enrolled devices with their last sync, state, outbox and locations."},
    {"device", "revoke", "device revoke DEVICE",
     "Revokes a device: its token stops working for good, and a running turfd closes its\n"
     "live connections at once. What it had already pushed stays."},
    {"device", "scope", "device scope DEVICE [--location LOC]...",
     "Changes the locations a device sees and may write: those given (id or name,\n"
     "repeatable), or without --location the whole organisation. The device then drops\n"
     "what it holds and syncs again from scratch, so it keeps nothing of a location it\n"
     "lost and gets the history of one it gained; what it recorded and has not sent yet\n"
     "is kept and sent. A running turfd disconnects it at once (it reconnects); else\n"
     "the change takes effect at its next connection."},
    {"backup", NULL, "backup FILE",
     "Copies the database to FILE with SQLite's online backup: a consistent snapshot,\n"
     "taken while turfd keeps serving, checked before it is renamed into place."},
};
#define TURFCTL__NCMDS (sizeof(turfctl__cmds) / sizeof(turfctl__cmds[0]))

static void turfctl__usage(FILE *out) {
  fprintf(out,
          "Usage: turfctl [--db FILE] [--admin-socket PATH] <command> ...\n"
          "Administers a Turf server database (default turf.db, or TURF_DB). When turfd runs\n"
          "on it, turfctl reaches it on its admin socket (default FILE.sock) for what needs\n"
          "the live server. Commands:\n");
  for (size_t i = 0; i < TURFCTL__NCMDS; i++)
    fprintf(out, "  %s\n", turfctl__cmds[i].usage);
  fprintf(out, "`turfctl <command> [<subcommand>] --help` explains one.\n");
}

static void turfctl__cmd_help(FILE *out, const turfctl__cmd_t *c) {
  fprintf(out, "Usage: turfctl [--db FILE] [--admin-socket PATH] %s\n%s\n", c->usage, c->help);
}

/* ---- arguments ------------------------------------------------------------- */

#define TURFCTL__MAX_ARGS 16

typedef struct {
  const char *pos[TURFCTL__MAX_ARGS];
  int npos;
  const char *names[TURFCTL__MAX_ARGS], *values[TURFCTL__MAX_ARGS];
  int nopts;
  bool help;
} turfctl__args_t;

/* Splits argv into options (valued ones take the next argument; flags
 * take none) and positionals. Returns 0 or -1 after saying why. */
static int turfctl__split(int argc, char **argv, const char *const *valued,
                          const char *const *flags, turfctl__args_t *a) {
  memset(a, 0, sizeof(*a));
  for (int i = 0; i < argc; i++) {
    const char *s = argv[i];
    bool known = false;
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
      a->help = true;
      continue;
    }
    if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
      if (a->npos == TURFCTL__MAX_ARGS) {
        fprintf(stderr, "turfctl: too many arguments\n");
        return -1;
      }
      a->pos[a->npos++] = s;
      continue;
    }
    for (const char *const *v = valued; v && *v && !known; v++) {
      if (strcmp(s, *v) == 0) {
        if (i + 1 >= argc || a->nopts == TURFCTL__MAX_ARGS) {
          fprintf(stderr, "turfctl: %s needs a value\n", s);
          return -1;
        }
        a->names[a->nopts] = *v;
        a->values[a->nopts++] = argv[++i];
        known = true;
      }
    }
    for (const char *const *f = flags; f && *f && !known; f++) {
      if (strcmp(s, *f) == 0 && a->nopts < TURFCTL__MAX_ARGS) {
        a->names[a->nopts] = *f;
        a->values[a->nopts++] = "";
        known = true;
      }
    }
    if (!known) {
      fprintf(stderr, "turfctl: unknown option %s\n", s);
      return -1;
    }
  }
  return 0;
}

static const char *turfctl__opt(const turfctl__args_t *a, const char *name) {
  const char *v = NULL;
  for (int i = 0; i < a->nopts; i++)
    if (strcmp(a->names[i], name) == 0)
      v = a->values[i];
  return v;
}

static bool turfctl__parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return false;
  *out = v;
  return true;
}

static int64_t turfctl__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The --date option: "today" is the date of now (ms) in org's time zone;
 * anything else is passed on as it is (storage validates it). Returns arg,
 * or buf; NULL after saying why there is no today. */
static const char *turfctl__date(admin_db_t *db, int64_t org, const char *arg, int64_t now,
                                 char buf[11]) {
  char tz[ZONE_NAME_MAX + 1];
  zone_t *zone;
  if (arg == NULL || strcmp(arg, "today") != 0)
    return arg;
  if (admin_db_org_tz(db, org, tz) != 0)
    return NULL;
  if ((zone = zone_load(tz)) == NULL) {
    fprintf(stderr, "turfctl: time zone \"%s\" is not in this machine's time zone database\n", tz);
    return NULL;
  }
  zone_date(zone, now, buf);
  zone_free(zone);
  return buf;
}

/* ---- talking to turfd ------------------------------------------------------- */

typedef struct {
  const char *db;
  char socket[108];
  bool no_socket; /* --admin-socket none */
} turfctl__ctx_t;

/* Sends one request line to turfd's admin socket and reads its one-line
 * answer into reply. Returns 0 when turfd answered "ok...", -1 when it is
 * not reachable (not running) or said otherwise (reply holds it). */
static int turfctl__notify(const turfctl__ctx_t *ctx, const char *line, char *reply,
                           size_t size) {
  struct sockaddr_un sa;
  struct pollfd p;
  size_t len = 0, n = strlen(line);
  int fd;

  reply[0] = '\0';
  if (ctx->no_socket || ctx->socket[0] == '\0')
    return -1;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctx->socket);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, line, n) != (ssize_t)n ||
      write(fd, "\n", 1) != 1) {
    close(fd);
    return -1;
  }
  p.fd = fd;
  p.events = POLLIN;
  while (len + 1 < size && poll(&p, 1, TURFCTL__NOTIFY_MS) == 1) {
    ssize_t got = read(fd, reply + len, size - 1 - len);
    if (got <= 0)
      break;
    len += (size_t)got;
    reply[len] = '\0';
    if (memchr(reply, '\n', len))
      break;
  }
  close(fd);
  reply[strcspn(reply, "\r\n")] = '\0';
  return strncmp(reply, "ok", 2) == 0 ? 0 : -1;
}

/* Tells turfd that org has new ops; says what happened. */
static void turfctl__changed(const turfctl__ctx_t *ctx, int64_t org) {
  char line[64], reply[128];
  snprintf(line, sizeof(line), "changed %" PRId64, org);
  if (turfctl__notify(ctx, line, reply, sizeof(reply)) != 0)
    fprintf(stderr, "turfctl: no turfd answered on %s%s%s; tablets get this when they next sync\n",
            ctx->socket[0] ? ctx->socket : "(no admin socket)", reply[0] ? ": " : "", reply);
}

/* An account was disabled or got a new password: a running turfd ends its
 * sessions now rather than within the minute. */
static void turfctl__sessions_changed(const turfctl__ctx_t *ctx) {
  char reply[128];
  if (turfctl__notify(ctx, "coordinators", reply, sizeof(reply)) != 0)
    fprintf(stderr, "turfctl: no turfd answered on %s; a turfd without that socket ends the "
                    "account's sessions within a minute\n",
            ctx->socket[0] ? ctx->socket : "(no admin socket)");
}

/* ---- passwords ---------------------------------------------------------------- */

/* Reads one line from f into buf without its newline. Returns 0 or -1. */
static int turfctl__read_line(FILE *f, char *buf, size_t size) {
  if (fgets(buf, (int)size, f) == NULL)
    return -1;
  size_t n = strcspn(buf, "\r\n");
  if (buf[n] == '\0' && n == size - 1)
    return -1; /* longer than the buffer */
  buf[n] = '\0';
  return 0;
}

/* A new password: typed twice on the terminal with echo off, or one line
 * of standard input when that is not a terminal (scripts, tests). */
static int turfctl__password(char *buf, size_t size) {
  char again[PASSWD_MAX_BYTES + 2];
  struct termios old, quiet;
  FILE *tty;
  int rc = -1;

  if (!isatty(STDIN_FILENO))
    return turfctl__read_line(stdin, buf, size);
  tty = fopen("/dev/tty", "r+");
  if (tty == NULL)
    return -1;
  if (tcgetattr(fileno(tty), &old) != 0)
    goto done;
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  fputs("Password: ", tty);
  fflush(tty);
  tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
  if (turfctl__read_line(tty, buf, size) == 0) {
    fputs("\nAgain: ", tty);
    fflush(tty);
    if (turfctl__read_line(tty, again, sizeof(again)) == 0) {
      rc = strcmp(buf, again) == 0 ? 0 : -1;
      if (rc != 0)
        fputs("\nturfctl: the passwords differ", tty);
    }
  }
  tcsetattr(fileno(tty), TCSAFLUSH, &old);
  fputc('\n', tty);
  memset(again, 0, sizeof(again));
done:
  fclose(tty);
  return rc;
}

/* Reads a password and hashes it into hash. Returns 0 or -1 (said why). */
static int turfctl__new_hash(char hash[PASSWD_HASH_SIZE]) {
  char pw[PASSWD_MAX_BYTES + 2];
  int rc;
  if (turfctl__password(pw, sizeof(pw)) != 0) {
    fprintf(stderr, "turfctl: no password read\n");
    return -1;
  }
  rc = passwd_hash(pw, hash, PASSWD_HASH_SIZE);
  memset(pw, 0, sizeof(pw));
  if (rc != 0)
    fprintf(stderr, "turfctl: a password has %d..%d bytes\n", PASSWD_MIN_BYTES, PASSWD_MAX_BYTES);
  return rc;
}

/* ---- commands ----------------------------------------------------------------- */

/* Set when a command was given wrongly (missing option, wrong arguments):
 * the exit status is then 2, not 1. */
static bool turfctl__misused;

/* Says what is missing; a usage error. Returns -1. */
static int turfctl__missing(const char *what) {
  fprintf(stderr, "turfctl: give %s\n", what);
  turfctl__misused = true;
  return -1;
}

/* Resolves --org (required unless optional). *org 0 when absent. */
static int turfctl__org(admin_db_t *db, const turfctl__args_t *a, bool optional, int64_t *org) {
  const char *v = turfctl__opt(a, "--org");
  *org = 0;
  if (v == NULL)
    return optional ? 0 : turfctl__missing("--org ORG (id or name)");
  return admin_db_org_find(db, v, org) == 0 ? 0 : -1;
}

static int turfctl__want(const turfctl__args_t *a, int n, const turfctl__cmd_t *c) {
  if (a->npos != n) {
    fprintf(stderr, "turfctl: wrong arguments\n");
    turfctl__cmd_help(stderr, c);
    turfctl__misused = true;
    return -1;
  }
  return 0;
}

/* A weekday 1..7 or a "HH:MM" time, checked here so the message is clear. */
static bool turfctl__is_time(const char *s) {
  return strlen(s) == 5 && s[2] == ':' && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' &&
         s[1] <= '9' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9' &&
         (s[0] < '2' || s[1] <= '3');
}

static int turfctl__enroll(const turfctl__ctx_t *ctx, admin_db_t *db, const turfctl__args_t *a,
                           int64_t org) {
  const char *locs[TURFCTL__MAX_ARGS];
  char ids[TURFCTL__MAX_ARGS][ADMIN_DB_ID_SIZE], code[ADMIN_DB_ID_SIZE], text[2048];
  const char *server = turfctl__opt(a, "--server"), *png = turfctl__opt(a, "--png");
  int64_t ttl = TURFCTL__TTL_DEFAULT_S, uses = 1, now = turfctl__now_ms();
  uint32_t n = 0;
  time_t until;
  struct tm tm;
  char when[32];

  (void)ctx;
  if ((turfctl__opt(a, "--ttl") && (!turfctl__parse_i64(turfctl__opt(a, "--ttl"), &ttl) ||
                                    ttl < 1 || ttl > 30 * 86400)) ||
      (turfctl__opt(a, "--uses") && (!turfctl__parse_i64(turfctl__opt(a, "--uses"), &uses) ||
                                     uses < 1 || uses > 10000))) {
    fprintf(stderr, "turfctl: --ttl is 1..2592000 seconds, --uses 1..10000\n");
    return 2;
  }
  for (int i = 0; i < a->nopts; i++) {
    if (strcmp(a->names[i], "--location") != 0)
      continue;
    if (admin_db_find(db, org, SCHEMA_LOCATION, a->values[i], ids[n]) != 0)
      return 1;
    locs[n] = ids[n];
    n++;
  }
  if (admin_db_enroll(db, org, locs, n, ttl * 1000, (uint32_t)uses, now, code) != 0)
    return 1;
  until = (time_t)(now / 1000 + ttl);
  gmtime_r(&until, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  printf("code %s\n", code);
  printf("valid until %s, %" PRId64 " enrolment%s, %s\n", when, uses, uses == 1 ? "" : "s",
         n ? "these locations only:" : "the whole organisation");
  for (uint32_t i = 0; i < n; i++)
    printf("  location %s\n", ids[i]);
  if (server) {
    if (enrol_link(text, sizeof text, server, code) != 0) {
      fprintf(stderr, "turfctl: --server %s is not an http(s):// or ws(s):// URL\n", server);
      return 2;
    }
    printf("tablet link %s\n", text);
  } else {
    snprintf(text, sizeof(text), "%s", code);
  }
  if (!turfctl__opt(a, "--no-qr")) {
    printf("\n");
    if (qr_print(stdout, text, isatty(STDOUT_FILENO)) != 0)
      fprintf(stderr, "turfctl: cannot draw the QR code: %s\n", strerror(errno));
    printf("\n");
  }
  if (png && qr_write_png(png, text, TURFCTL__PNG_SCALE) != 0)
    return 1;
  if (png)
    printf("QR code written to %s\n", png);
  printf("On a sample tablet: turf-tablet --db tablet.db enroll --server %s --code %s\n",
         server ? server : "URL", code);
  return 0;
}

_Static_assert(TURFCTL__MAX_ARGS <= ADMIN_DB_MAX_LOCATIONS, "every --location given fits");

/* `device scope`: sets the locations, then has a running turfd cut the
 * device's connections so that it reconnects and is told to sync again. */
static int turfctl__device_scope(const turfctl__ctx_t *ctx, admin_db_t *db,
                                 const turfctl__args_t *a) {
  const char *locs[ADMIN_DB_MAX_LOCATIONS];
  char ids[ADMIN_DB_MAX_LOCATIONS][ADMIN_DB_ID_SIZE], line[128], reply[128];
  const char *device = a->pos[0];
  uint32_t n = 0;
  bool changed;

  for (int i = 0; i < a->nopts; i++)
    if (strcmp(a->names[i], "--location") == 0)
      locs[n++] = a->values[i];
  if (admin_db_device_scope(db, device, locs, n, ids, &changed) != 0)
    return 1;
  printf("device %s: %s\n", device, n ? "these locations only:" : "the whole organisation");
  for (uint32_t i = 0; i < n; i++)
    printf("  location %s\n", ids[i]);
  if (!changed) {
    printf("unchanged: it had these already\n");
    return 0;
  }
  snprintf(line, sizeof(line), "rescope %s", device);
  if (turfctl__notify(ctx, line, reply, sizeof(reply)) == 0)
    printf("turfd cut %s live connection(s); the device syncs again from scratch when it "
           "reconnects\n", reply + 3);
  else
    printf("no turfd answered on %s%s%s; the device syncs again from scratch at its next "
           "connection\n",
           ctx->socket[0] ? ctx->socket : "(no admin socket)", reply[0] ? ": " : "", reply);
  return 0;
}

static int turfctl__run(const turfctl__ctx_t *ctx, const turfctl__cmd_t *c, int argc,
                        char **argv) {
  static const char *const valued[] = {"--org",   "--location", "--weekday", "--start",
                                       "--date",  "--activity", "--out",     "--login",
                                       "--name",  "--role",     "--ttl",     "--uses",
                                       "--server", "--png",     "--tz",      NULL};
  static const char *const flags[] = {"--no-qr", "--no-vacuum", "--undo", NULL};
  char id[ADMIN_DB_ID_SIZE], hash[PASSWD_HASH_SIZE], reply[128], today[11];
  const char *g = c->group, *n = c->name ? c->name : "";
  turfctl__args_t a;
  admin_db_t *db;
  int64_t org = 0, now = turfctl__now_ms();
  int rc = 1;

  if (turfctl__split(argc, argv, valued, flags, &a) != 0) {
    turfctl__cmd_help(stderr, c);
    return 2;
  }
  if (a.help) {
    turfctl__cmd_help(stdout, c);
    return 0;
  }
  db = admin_db_open(ctx->db);
  if (db == NULL)
    return 1;

  if (!strcmp(g, "org") && !strcmp(n, "create")) {
    const char *tz = turfctl__opt(&a, "--tz");
    zone_t *zone = tz ? zone_load(tz) : NULL;
    if (turfctl__want(&a, 1, c) != 0) {
      /* said why */
    } else if (tz && !zone) {
      fprintf(stderr, "turfctl: \"%s\" is not a time zone of this machine's time zone database "
                      "(names such as Europe/Amsterdam; see /usr/share/zoneinfo)\n", tz);
      turfctl__misused = true;
    } else if (admin_db_org_create(db, a.pos[0], now, &org) == 0 &&
               (!tz || admin_db_org_set_tz(db, org, tz) == 0)) {
      printf("%" PRId64 "\n", org);
      rc = 0;
    }
    zone_free(zone);
  } else if (!strcmp(g, "org") && !strcmp(n, "set")) {
    if (turfctl__want(&a, 0, c) != 0 || turfctl__org(db, &a, false, &org) != 0) {
      /* said why */
    } else if (!turfctl__opt(&a, "--tz")) {
      turfctl__missing("--tz ZONE");
    } else if (admin_db_org_set_tz(db, org, turfctl__opt(&a, "--tz")) == 0) {
      turfctl__changed(ctx, org);
      rc = 0;
    }
  } else if (!strcmp(g, "org") && !strcmp(n, "list")) {
    if (turfctl__want(&a, 0, c) == 0)
      rc = admin_db_org_list(db, stdout) == 0 ? 0 : 1;
  } else if (!strcmp(g, "location") && !strcmp(n, "create")) {
    if (turfctl__want(&a, 1, c) == 0 && turfctl__org(db, &a, false, &org) == 0 &&
        admin_db_location_create(db, org, a.pos[0], now, id) == 0) {
      printf("%s\n", id);
      turfctl__changed(ctx, org);
      rc = 0;
    }
  } else if (!strcmp(n, "list") && (!strcmp(g, "location") || !strcmp(g, "activity") ||
                                    !strcmp(g, "session") || !strcmp(g, "participant"))) {
    if (turfctl__want(&a, 0, c) == 0 && turfctl__org(db, &a, false, &org) == 0) {
      if (!strcmp(g, "location"))
        rc = admin_db_location_list(db, org, stdout);
      else if (!strcmp(g, "activity"))
        rc = admin_db_activity_list(db, org, stdout);
      else if (!strcmp(g, "session"))
      {
        const char *date = turfctl__opt(&a, "--date");
        const char *day = turfctl__date(db, org, date, now, today);
        rc = date && !day ? 1 : admin_db_session_list(db, org, day, stdout);
      }
      else
        rc = admin_db_participant_list(db, org, stdout);
      rc = rc == 0 ? 0 : 1;
    }
  } else if (!strcmp(g, "activity") && !strcmp(n, "create")) {
    const char *wd = turfctl__opt(&a, "--weekday"), *start = turfctl__opt(&a, "--start");
    int64_t weekday = 0;
    if (turfctl__want(&a, 1, c) != 0 || turfctl__org(db, &a, false, &org) != 0) {
      /* said why */
    } else if (!turfctl__opt(&a, "--location")) {
      turfctl__missing("--location LOC");
    } else if ((wd && (!turfctl__parse_i64(wd, &weekday) || weekday < 1 || weekday > 7)) ||
               (start && !turfctl__is_time(start))) {
      fprintf(stderr, "turfctl: --weekday is 1 (Monday) .. 7, --start is HH:MM\n");
      turfctl__misused = true;
    } else if (admin_db_activity_create(db, org, turfctl__opt(&a, "--location"), a.pos[0],
                                        (int)weekday, start, now, id) == 0) {
      printf("%s\n", id);
      turfctl__changed(ctx, org);
      rc = 0;
    }
  } else if (!strcmp(g, "session") && !strcmp(n, "create")) {
    const char *start = turfctl__opt(&a, "--start"), *day = NULL;
    if (turfctl__want(&a, 0, c) != 0 || turfctl__org(db, &a, false, &org) != 0) {
      /* said why */
    } else if (!turfctl__opt(&a, "--activity") || !turfctl__opt(&a, "--date")) {
      turfctl__missing("--activity ACT and --date YYYY-MM-DD|today");
    } else if (start && !turfctl__is_time(start)) {
      fprintf(stderr, "turfctl: --start is HH:MM\n");
      turfctl__misused = true;
    } else if ((day = turfctl__date(db, org, turfctl__opt(&a, "--date"), now, today)) == NULL) {
      /* said why */
    } else if (admin_db_session_create(db, org, turfctl__opt(&a, "--activity"), day, start, now,
                                       id) == 0) {
      printf("%s\n", id);
      turfctl__changed(ctx, org);
      rc = 0;
    }
  } else if (!strcmp(g, "session") && !strcmp(n, "cancel")) {
    if (turfctl__want(&a, 1, c) == 0 && turfctl__org(db, &a, false, &org) == 0 &&
        admin_db_session_cancel(db, org, a.pos[0], !turfctl__opt(&a, "--undo"), now) == 0) {
      turfctl__changed(ctx, org);
      rc = 0;
    }
  } else if (!strcmp(g, "participant") && !strcmp(n, "export")) {
    const char *path = turfctl__opt(&a, "--out");
    FILE *out = stdout;
    if (turfctl__want(&a, 1, c) == 0 && turfctl__org(db, &a, false, &org) == 0 &&
        admin_db_find(db, org, SCHEMA_PARTICIPANT, a.pos[0], id) == 0) {
      if (path && (out = fopen(path, "w")) == NULL) {
        fprintf(stderr, "turfctl: %s: %s\n", path, strerror(errno));
      } else {
        rc = admin_db_participant_export(db, org, id, now, out) == 0 ? 0 : 1;
        if (path && fclose(out) != 0)
          rc = 1;
        if (path && rc == 0)
          printf("exported %s to %s\n", id, path);
      }
    }
  } else if (!strcmp(g, "participant") && !strcmp(n, "erase")) {
    if (turfctl__want(&a, 1, c) == 0 && turfctl__org(db, &a, false, &org) == 0 &&
        admin_db_find(db, org, SCHEMA_PARTICIPANT, a.pos[0], id) == 0 &&
        admin_db_participant_erase(db, org, id, !turfctl__opt(&a, "--no-vacuum"), now,
                                   stdout) == 0) {
      turfctl__changed(ctx, org);
      rc = 0;
    }
  } else if (!strcmp(g, "coordinator") && !strcmp(n, "create")) {
    const char *role = turfctl__opt(&a, "--role");
    if (turfctl__want(&a, 0, c) != 0 || turfctl__org(db, &a, false, &org) != 0) {
      /* said why */
    } else if (!turfctl__opt(&a, "--login")) {
      turfctl__missing("--login LOGIN");
    } else if (turfctl__new_hash(hash) == 0 &&
               admin_db_coordinator_create(db, org, turfctl__opt(&a, "--login"),
                                           turfctl__opt(&a, "--name"),
                                           role ? role : "coordinator", hash, now) == 0) {
      printf("created %s\n", turfctl__opt(&a, "--login"));
      rc = 0;
    }
  } else if (!strcmp(g, "coordinator") && !strcmp(n, "list")) {
    if (turfctl__want(&a, 0, c) == 0 && turfctl__org(db, &a, true, &org) == 0)
      rc = admin_db_coordinator_list(db, org, stdout) == 0 ? 0 : 1;
  } else if (!strcmp(g, "coordinator") && !strcmp(n, "passwd")) {
    if (turfctl__want(&a, 1, c) == 0 && turfctl__new_hash(hash) == 0 &&
        admin_db_coordinator_set_password(db, a.pos[0], hash) == 0) {
      printf("password of %s changed\n", a.pos[0]);
      turfctl__sessions_changed(ctx);
      rc = 0;
    }
  } else if (!strcmp(g, "coordinator") && (!strcmp(n, "disable") || !strcmp(n, "enable"))) {
    if (turfctl__want(&a, 1, c) == 0 &&
        admin_db_coordinator_set_disabled(db, a.pos[0], !strcmp(n, "disable")) == 0) {
      printf("%s %sd\n", a.pos[0], n);
      turfctl__sessions_changed(ctx);
      rc = 0;
    }
  } else if (!strcmp(g, "enroll")) {
    if (turfctl__want(&a, 0, c) == 0 && turfctl__org(db, &a, false, &org) == 0)
      rc = turfctl__enroll(ctx, db, &a, org);
  } else if (!strcmp(g, "device") && !strcmp(n, "list")) {
    if (turfctl__want(&a, 0, c) == 0 && turfctl__org(db, &a, true, &org) == 0)
      rc = admin_db_device_list(db, org, now, stdout) == 0 ? 0 : 1;
  } else if (!strcmp(g, "device") && !strcmp(n, "revoke")) {
    if (turfctl__want(&a, 1, c) == 0 && admin_db_device_revoke(db, a.pos[0], now, &org) == 0) {
      char line[128];
      printf("revoked %s\n", a.pos[0]);
      snprintf(line, sizeof(line), "revoke %s", a.pos[0]);
      if (turfctl__notify(ctx, line, reply, sizeof(reply)) == 0)
        printf("turfd cut %s live connection(s)\n", reply + 3);
      else
        fprintf(stderr, "turfctl: no turfd answered on %s%s%s; the device is refused from its "
                        "next connection on\n",
                ctx->socket[0] ? ctx->socket : "(no admin socket)", reply[0] ? ": " : "", reply);
      rc = 0;
    }
  } else if (!strcmp(g, "device") && !strcmp(n, "scope")) {
    if (turfctl__want(&a, 1, c) == 0)
      rc = turfctl__device_scope(ctx, db, &a);
  } else if (!strcmp(g, "backup")) {
    if (turfctl__want(&a, 1, c) == 0)
      rc = admin_db_backup(db, a.pos[0], stdout) == 0 ? 0 : 1;
  }
  admin_db_close(db);
  memset(hash, 0, sizeof(hash));
  return turfctl__misused ? 2 : rc;
}

int main(int argc, char **argv) {
  turfctl__ctx_t ctx;
  const char *socket_opt = getenv("TURF_ADMIN_SOCKET");
  int i = 1;

  memset(&ctx, 0, sizeof(ctx));
  ctx.db = getenv("TURF_DB");
  if (ctx.db == NULL || ctx.db[0] == '\0')
    ctx.db = "turf.db";
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
      ctx.db = argv[++i];
    } else if (strcmp(argv[i], "--admin-socket") == 0 && i + 1 < argc) {
      socket_opt = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0) {
      turfctl__usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "turfctl: unknown option %s\n", argv[i]);
      turfctl__usage(stderr);
      return 2;
    }
  }
  if (socket_opt && strcmp(socket_opt, "none") == 0)
    ctx.no_socket = true;
  else if (socket_opt && socket_opt[0])
    snprintf(ctx.socket, sizeof(ctx.socket), "%s", socket_opt);
  else if (admin_default_path(ctx.db, ctx.socket, sizeof(ctx.socket)) != 0)
    ctx.socket[0] = '\0';
  if (i >= argc) {
    turfctl__usage(stderr);
    return 2;
  }
  for (size_t k = 0; k < TURFCTL__NCMDS; k++) {
    const turfctl__cmd_t *c = &turfctl__cmds[k];
    if (strcmp(argv[i], c->group) != 0)
      continue;
    if (c->name == NULL)
      return turfctl__run(&ctx, c, argc - i - 1, argv + i + 1);
    if (i + 1 < argc && strcmp(argv[i + 1], c->name) == 0)
      return turfctl__run(&ctx, c, argc - i - 2, argv + i + 2);
  }
  /* A group without (or with an unknown) subcommand: list its commands. */
  {
    bool group = false;
    bool help = i + 1 < argc && (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h"));
    for (size_t k = 0; k < TURFCTL__NCMDS; k++)
      if (strcmp(argv[i], turfctl__cmds[k].group) == 0) {
        if (!group)
          fprintf(help ? stdout : stderr, "turfctl %s commands:\n", argv[i]);
        group = true;
        fprintf(help ? stdout : stderr, "  %s\n", turfctl__cmds[k].usage);
      }
    if (group)
      return help ? 0 : 2;
  }
  fprintf(stderr, "turfctl: unknown command \"%s\"\n", argv[i]);
  turfctl__usage(stderr);
  return 2;
}
