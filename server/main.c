/* main.c — turfd: wires config, storage, the sync engine and libwebsockets
 * onto one libuv loop, and shuts them down in the order that leaves nothing
 * behind: connections first, then storage (which commits what is in
 * flight), then our own handles, then the loop. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../storage/store.h"
#include "config.h"
#include "log.h"
#include "sync.h"
#include "ws.h"

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  config_t cfg;
  store_t *store;
  sync_t *sync;
  ws_t *ws;
  int stopping;
} turfd_t;

static void turfd__close_handles(void *arg) {
  turfd_t *t = arg;
  t->store = NULL; /* freed by store_close before this runs */
  uv_close((uv_handle_t *)&t->sigint, NULL);
  uv_close((uv_handle_t *)&t->sigterm, NULL);
  log_info("storage closed");
}

static void turfd__on_signal(uv_signal_t *handle, int signum) {
  turfd_t *t = handle->data;
  if (t->stopping++) {
    log_warn("second signal %d: exiting now", signum);
    _exit(1);
  }
  log_info("signal %d: shutting down", signum);
  sync_begin_shutdown(t->sync);
  /* Closes every connection now (their offline status reaches the store
   * queue first), then lws releases its handles as the loop runs on. */
  ws_stop(t->ws);
  store_close(t->store, turfd__close_handles, t);
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

static int turfd__write_ready(const config_t *cfg, const char *url, const char *code) {
  char tmp[sizeof cfg->ready_file + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", cfg->ready_file);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "url %s\n", url);
  if (code[0]) fprintf(f, "code %s\n", code);
  if (fclose(f) != 0) return -1;
  return rename(tmp, cfg->ready_file);
}

int main(int argc, char **argv) {
  static turfd_t t;
  char code[PROTO_MAX_ID_BYTES + 1] = "";
  char url[128], tablet[PATH_MAX];
  int rc = config_load(&t.cfg, argc, argv);
  if (rc != 0) return rc > 0 ? 0 : 2;
  log_set_level(t.cfg.log_level);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (t.cfg.demo && store_seed_demo(t.cfg.db, turfd__now_ms(), t.cfg.demo_uses, code) != 0) {
    log_error("could not set up the demo organisation in %s", t.cfg.db);
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

  t.sigint.data = t.sigterm.data = &t;
  uv_signal_init(&t.loop, &t.sigint);
  uv_signal_init(&t.loop, &t.sigterm);
  uv_signal_start(&t.sigint, turfd__on_signal, SIGINT);
  uv_signal_start(&t.sigterm, turfd__on_signal, SIGTERM);

  snprintf(url, sizeof url, "ws://%s:%d", t.cfg.listen, ws_port(t.ws));
  turfd__tablet_path(argv[0], tablet, sizeof tablet);
  printf("turfd %s listening on %s (health: http://%s:%d/healthz), database %s\n",
         "0.1.0", url, t.cfg.listen, ws_port(t.ws), t.cfg.db);
  if (code[0]) {
    printf("Demo organisation ready. Tablet enrolment code: %s (valid 24 hours, %u tablets)\n",
           code, t.cfg.demo_uses);
    printf("Enrol a tablet:  %s --db tablet1.db enroll --server %s --code %s --name \"Zaal 1\"\n",
           tablet, url, code);
    printf("Then:            %s --db tablet1.db attendance\n", tablet);
  }
  if (t.cfg.ready_file[0] && turfd__write_ready(&t.cfg, url, code) != 0)
    log_warn("could not write %s", t.cfg.ready_file);
  log_info("listening on %s", url);

  /* Returns once storage, our handles and lws's handles are all closed. */
  uv_run(&t.loop, UV_RUN_DEFAULT);
  ws_free(t.ws);
  uv_run(&t.loop, UV_RUN_DEFAULT);
  sync_free(t.sync);
  log_info("stopped");
  rc = uv_loop_close(&t.loop);
  if (rc != 0) {
    log_error("loop closed with handles still open: %s", uv_strerror(rc));
    return 1;
  }
  return 0;
}
