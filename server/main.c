/* main.c — turfd: wires config, storage, the sync engine and libwebsockets
 * onto one libuv loop, and shuts them down in the order that leaves nothing
 * behind: connections first, then storage (which commits what is in
 * flight), then our own handles, then the loop. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../storage/store.h"
#include "admin.h"
#include "api.h"
#include "auth.h"
#include "config.h"
#include "dashboard.h"
#include "enrol_link.h"
#include "http.h"
#include "../protocol/zone.h"
#include "log.h"
#include "passwd.h"
#include "qr.h"
#include "sync.h"
#include "ws.h"

#define TURFD__DRAIN_MS 2000   /* longest wait for tablets told SHUTTING_DOWN */
#define TURFD__DRAIN_TICK_MS 20

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t drain;        /* after a signal: waits for tablets to close */
  uint64_t drain_started;  /* loop time the signal came (ms) */
  config_t cfg;
  store_t *store;
  sync_t *sync;
  ws_t *ws;
  admin_t *admin;
  auth_t *auth;
  dashboard_t *dashboard;
  api_t *api;
  int stopping;
} turfd_t;

static void turfd__close_handles(void *arg) {
  turfd_t *t = arg;
  t->store = NULL; /* freed by store_close before this runs */
  uv_close((uv_handle_t *)&t->sigint, NULL);
  uv_close((uv_handle_t *)&t->sigterm, NULL);
  log_info("storage closed");
}

/* After SHUTTING_DOWN went out: closes every connection still open (their
 * offline status reaches the store queue first), then lws releases its
 * handles as the loop runs on, and storage commits what is queued. */
static void turfd__stop(turfd_t *t) {
  ws_stop(t->ws);
  store_close(t->store, turfd__close_handles, t);
}

static void turfd__drain_tick(uv_timer_t *timer) {
  turfd_t *t = timer->data;
  if (sync_welcomed_count(t->sync) > 0 && uv_now(&t->loop) - t->drain_started < TURFD__DRAIN_MS)
    return;
  uv_close((uv_handle_t *)timer, NULL);
  turfd__stop(t);
}

static void turfd__on_signal(uv_signal_t *handle, int signum) {
  turfd_t *t = handle->data;
  if (t->stopping++) {
    log_warn("second signal %d: exiting now", signum);
    _exit(1);
  }
  log_info("signal %d: shutting down", signum);
  sync_begin_shutdown(t->sync);
  admin_stop(t->admin);
  t->admin = NULL;
  auth_close(t->auth);
  t->auth = NULL;
  /* Tablets are told SHUTTING_DOWN, each after the ack of a push in flight;
   * they get up to TURFD__DRAIN_MS to read it and close. */
  t->drain_started = uv_now(&t->loop);
  uv_timer_init(&t->loop, &t->drain); /* cannot fail */
  t->drain.data = t;
  uv_timer_start(&t->drain, turfd__drain_tick, 0, TURFD__DRAIN_TICK_MS);
}

static int64_t turfd__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The tablet binary next to this one in the build tree, else from PATH. */
static void turfd__tablet_path(const char *argv0, char *out, size_t size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  snprintf(out, size, "turf-tablet");
  if (n <= 0) return;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) return;
  *slash = '\0';
  char candidate[PATH_MAX + 64];
  snprintf(candidate, sizeof candidate, "%s/../clients/sample/turf-tablet", self);
  char resolved[PATH_MAX];
  if (realpath(candidate, resolved) && access(resolved, X_OK) == 0)
    snprintf(out, size, "%s", resolved);
  (void)argv0;
}

/* The demo's coordinator login: a fresh random password on every start
 * (16 characters without look-alikes, about 80 bits), stored only as its
 * slow hash. Returns 0 or -1 (logged). */
#define TURFD__DEMO_LOGIN "demo"
#define TURFD__DEMO_PASSWORD_LEN 16
static int turfd__demo_coordinator(const config_t *cfg, char password[TURFD__DEMO_PASSWORD_LEN + 1]) {
  static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789"; /* 31: no l/1, o/0, i */
  unsigned char rnd[TURFD__DEMO_PASSWORD_LEN * 2];
  char hash[PASSWD_HASH_SIZE];
  int n = 0, rc;

  if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
  /* Rejection sampling keeps every character equally likely. */
  for (size_t i = 0; i < sizeof rnd && n < TURFD__DEMO_PASSWORD_LEN; i++)
    if (rnd[i] < 248) password[n++] = alphabet[rnd[i] % 31];
  OPENSSL_cleanse(rnd, sizeof rnd);
  if (n < TURFD__DEMO_PASSWORD_LEN) return -1; /* 32 draws, 16 needed: rare, retried below */
  password[n] = '\0';
  if (passwd_hash(password, hash, sizeof hash) != 0) return -1;
  rc = store_seed_demo_coordinator(cfg->db, TURFD__DEMO_LOGIN, hash, turfd__now_ms());
  return rc == 0 ? 0 : -1;
}

static int turfd__write_ready(const config_t *cfg, const char *url, const char *code,
                              const char *dashboard, const char *password, const char *tablet,
                              const char *enrol) {
  char tmp[sizeof cfg->ready_file + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", cfg->ready_file);
  /* 0600: it may hold the demo coordinator's password. */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return -1;
  }
  fprintf(f, "url %s\n", url);
  if (code[0]) fprintf(f, "code %s\n", code);
  fprintf(f, "dashboard %s\n", dashboard);
  fprintf(f, "tablet %s\n", tablet);
  if (enrol[0]) fprintf(f, "enrol %s\n", enrol);
  if (password[0]) fprintf(f, "login %s\npassword %s\n", TURFD__DEMO_LOGIN, password);
  if (fclose(f) != 0) return -1;
  return rename(tmp, cfg->ready_file);
}

/* Connections need file descriptors: the soft open-files limit is raised to
 * the hard one, and --max-connections lowered to what it allows (a
 * reserve is kept for the database, the admin socket and accepting). Then
 * the per-address limit before a welcome, when not given, is a quarter of
 * the connections, so one address cannot keep every tablet out. */
#define TURFD__FD_RESERVE 64
static void turfd__fit_limits(config_t *cfg) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)cfg->max_connections + TURFD__FD_RESERVE) {
      uint32_t fit = rl.rlim_cur > 2 * TURFD__FD_RESERVE
                         ? (uint32_t)(rl.rlim_cur - TURFD__FD_RESERVE)
                         : TURFD__FD_RESERVE;
      log_info("at most %u connections, not %u: the open-files limit is %llu (`ulimit -n` "
               "raises it)", fit, cfg->max_connections, (unsigned long long)rl.rlim_cur);
      cfg->max_connections = fit;
    }
  }
  if (cfg->max_pending_per_address == 0)
    cfg->max_pending_per_address = cfg->max_connections / 4 ? cfg->max_connections / 4 : 1;
}

/* The socket turfctl reaches us on (admin.h). Without it turfd still
 * serves; revocations then take effect at the device's next hello. */
static void turfd__start_admin(turfd_t *t) {
  char path[sizeof t->cfg.admin_socket];
  if (strcmp(t->cfg.admin_socket, "none") == 0) return;
  if (t->cfg.admin_socket[0])
    snprintf(path, sizeof path, "%s", t->cfg.admin_socket);
  else if (admin_default_path(t->cfg.db, path, sizeof path) != 0) {
    log_warn("no admin socket: the path derived from --db is too long; give --admin-socket");
    return;
  }
  t->admin = admin_start(&t->loop, t->sync, path);
  if (!t->admin)
    log_warn("turfctl cannot reach this turfd: revoking a device takes effect at its next "
             "connection, not at once");
}

/* Where tablets reach this turfd: --public-url when given; else this
 * scheme, the address it listens on and its port. Listening on every
 * address, it names the first IPv4 address of an interface that is up and
 * not loopback (what a tablet on the same network can reach), else
 * 127.0.0.1. */
static void turfd__tablet_base(const config_t *cfg, int port, char *out, size_t size) {
  const char *scheme = cfg->tls_cert[0] ? "https" : "http";
  char host[INET6_ADDRSTRLEN] = "127.0.0.1";
  struct ifaddrs *ifs = NULL;
  bool any = strcmp(cfg->listen, "0.0.0.0") == 0 || strcmp(cfg->listen, "::") == 0;

  if (cfg->public_url[0]) {
    snprintf(out, size, "%s", cfg->public_url);
    return;
  }
  if (!any) {
    snprintf(out, size, strchr(cfg->listen, ':') ? "%s://[%s]:%d" : "%s://%s:%d", scheme,
             cfg->listen, port);
    return;
  }
  if (getifaddrs(&ifs) == 0) {
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
          (i->ifa_flags & IFF_LOOPBACK))
        continue;
      inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, host, sizeof host);
      break;
    }
    freeifaddrs(ifs);
  }
  snprintf(out, size, "%s://%s:%d", scheme, host, port);
}

int main(int argc, char **argv) {
  static turfd_t t;
  char code[PROTO_MAX_ID_BYTES + 1] = "";
  char password[TURFD__DEMO_PASSWORD_LEN + 1] = "";
  char url[128], dashboard[128], tablet[PATH_MAX], base[512], app[600], enrol[700] = "";
  int rc = config_load(&t.cfg, argc, argv);
  if (rc != 0) return rc > 0 ? 0 : 2;
  log_set_level(t.cfg.log_level);
  signal(SIGPIPE, SIG_IGN);
  /* Over a file size limit a write must fail (EFBIG: the push gets STORAGE
   * and nothing is acked), not kill the server that everyone syncs with. */
  signal(SIGXFSZ, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  rc = store_claim(t.cfg.db);
  if (rc == UV_EBUSY) {
    log_error("%s is in use by another turfd: stop that one first, or give this one its "
              "own --db", t.cfg.db);
    return 1;
  }
  if (rc != 0) {
    log_error("cannot open database %s: %s", t.cfg.db, uv_strerror(rc));
    return 1;
  }
  if (http_set_public_url(t.cfg.public_url) != 0) {
    log_error("--public-url %s is not an http:// or https:// URL", t.cfg.public_url);
    return 1;
  }
  if (ws_probe_listen(&t.cfg) != 0) return 1;
  /* Every organisation's "today" comes from the time zone database; loaded
   * here, before the event loop runs, and kept. */
  if (zone_cached(ZONE_DEFAULT) == NULL) {
    log_error("no time zone database: %s is missing from %s (install the tzdata package)",
              ZONE_DEFAULT, getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo");
    return 1;
  }
  turfd__fit_limits(&t.cfg);
  if (t.cfg.demo && store_seed_demo(t.cfg.db, turfd__now_ms(), t.cfg.demo_uses, code) != 0) {
    log_error("could not set up the demo organisation in %s", t.cfg.db);
    return 1;
  }
  if (t.cfg.demo && turfd__demo_coordinator(&t.cfg, password) != 0 &&
      turfd__demo_coordinator(&t.cfg, password) != 0) {
    log_error("could not set up the demo coordinator in %s", t.cfg.db);
    return 1;
  }
  if (uv_loop_init(&t.loop) != 0) return 1;
  store_options_t sopts = {.log_level = t.cfg.log_level, .max_batch_reqs = 256};
  t.store = store_open(t.cfg.db, &t.loop, &sopts);
  if (!t.store) {
    log_error("could not open database %s", t.cfg.db);
    return 1;
  }
  t.sync = sync_new(&t.loop, t.store, &t.cfg);
  t.ws = t.sync ? ws_start(&t.loop, t.sync, &t.cfg) : NULL;
  if (t.ws && !ws_listening(t.ws)) {
    /* Storage first: lws without a vhost holds nothing that keeps the loop
     * running, and destroying it before that loop run crashes lws 4.1.
     * Then lws's usual two-step teardown. */
    uv_signal_init(&t.loop, &t.sigint);
    uv_signal_init(&t.loop, &t.sigterm);
    store_close(t.store, turfd__close_handles, &t);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    ws_stop(t.ws);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    ws_free(t.ws);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    uv_loop_close(&t.loop);
    sync_free(t.sync);
    return 1;
  }
  if (!t.ws) {
    /* Nothing is connected yet: close storage the same way as on a signal. */
    uv_signal_init(&t.loop, &t.sigint);
    uv_signal_init(&t.loop, &t.sigterm);
    store_close(t.store, turfd__close_handles, &t);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    uv_loop_close(&t.loop);
    sync_free(t.sync);
    return 1;
  }

  /* Without it turfd still syncs; the page's websocket is then refused. */
  t.dashboard = dashboard_new(&t.loop, t.store, t.sync);
  if (!t.dashboard) log_warn("no dashboard: out of memory");
  sync_set_dashboard(t.sync, t.dashboard);
  ws_set_dashboard(t.ws, t.dashboard);
  /* Coordinator logins (auth.h); without them the dashboard has no users. */
  t.auth = auth_new(&t.loop, t.cfg.db, t.cfg.tls_cert[0] != '\0');
  if (!t.auth || ws_set_auth(t.ws, t.auth) != 0) log_warn("no coordinator logins");
  /* Report downloads (api.h). */
  t.api = api_new(t.store, t.dashboard);
  if (!t.api || ws_set_api(t.ws, t.api) != 0) log_warn("no report downloads: out of memory");

  t.sigint.data = t.sigterm.data = &t;
  uv_signal_init(&t.loop, &t.sigint);
  uv_signal_init(&t.loop, &t.sigterm);
  uv_signal_start(&t.sigint, turfd__on_signal, SIGINT);
  uv_signal_start(&t.sigterm, turfd__on_signal, SIGTERM);

  turfd__start_admin(&t);
  admin_set_auth(t.admin, t.auth);
  snprintf(url, sizeof url, "%s://%s:%d", t.cfg.tls_cert[0] ? "wss" : "ws", t.cfg.listen,
           ws_port(t.ws));
  /* Where a browser on this machine finds the dashboard (it answers on
   * every address turfd listens on, to logged-in coordinators). */
  {
    bool any = strcmp(t.cfg.listen, "0.0.0.0") == 0 || strcmp(t.cfg.listen, "::") == 0;
    bool v6 = !any && strchr(t.cfg.listen, ':') != NULL;
    snprintf(dashboard, sizeof dashboard, "%s://%s%s%s:%d/",
             t.cfg.tls_cert[0] ? "https" : "http", v6 ? "[" : "",
             any ? "127.0.0.1" : t.cfg.listen, v6 ? "]" : "", ws_port(t.ws));
  }
  turfd__tablet_path(argv[0], tablet, sizeof tablet);
  printf("turfd %s listening on %s (health: %s://%s:%d/healthz), database %s\n",
         "0.1.0", url, t.cfg.tls_cert[0] ? "https" : "http", t.cfg.listen, ws_port(t.ws),
         t.cfg.db);
  printf("Coordinator dashboard: %s\n", dashboard);
  if (password[0])
    printf("Dashboard login: %s  password: %s (new at every demo start)\n", TURFD__DEMO_LOGIN,
           password);
  turfd__tablet_base(&t.cfg, ws_port(t.ws), base, sizeof base);
  snprintf(app, sizeof app, "%.*s/tablet/", (int)strcspn(base, "?#"), base);
  printf("Tablet app: %s\n", app);
  if (code[0]) {
    printf("Demo organisation ready. Tablet enrolment code: %s (valid 24 hours, %u tablets)\n",
           code, t.cfg.demo_uses);
    if (enrol_link(enrol, sizeof enrol, base, code) == 0) {
      printf("Enrol a tablet: open %s on it, or scan this with its camera:\n", enrol);
      if (qr_print(stdout, enrol, isatty(STDOUT_FILENO)) != 0)
        log_warn("cannot draw the QR code");
    }
    printf("Or the sample client:  %s --db tablet1.db enroll --server %s --code %s --name \"Zaal 1\"\n",
           tablet, url, code);
    printf("Then:                  %s --db tablet1.db attendance\n", tablet);
  }
  if (t.cfg.ready_file[0] &&
      turfd__write_ready(&t.cfg, url, code, dashboard, password, app, enrol) != 0)
    log_warn("could not write %s", t.cfg.ready_file);
  log_info("listening on %s", url);

  /* Returns once storage, our handles and lws's handles are all closed. */
  uv_run(&t.loop, UV_RUN_DEFAULT);
  ws_free(t.ws);
  uv_run(&t.loop, UV_RUN_DEFAULT);
  sync_free(t.sync);
  dashboard_free(t.dashboard);
  api_free(t.api);
  log_info("stopped");
  rc = uv_loop_close(&t.loop);
  if (rc != 0) {
    log_error("loop closed with handles still open: %s", uv_strerror(rc));
    return 1;
  }
  return 0;
}
