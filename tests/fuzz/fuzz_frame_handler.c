/* fuzz_frame_handler.c — libFuzzer target for the server's frame handling:
 * the real sync engine (server/sync.c, conn.c) on a real SQLite store, fed
 * the frames of one connection without a network.
 *
 * The seam is libwebsockets itself: this file defines the five lws calls
 * the engine makes on a connection (lws_write, lws_callback_on_writable,
 * lws_set_timeout, lws_close_reason, lws_send_pipe_choked), and being in
 * the executable they are the ones the engine's code binds to. No lws
 * context exists, so nothing else of lws ever runs. server/ is unchanged.
 *
 * Input: byte 0 holds flags (bit 0: first enrol a fresh device with a
 * valid hello, so the rest reaches push and pull; bit 1: the messages are
 * split by a 2-byte little-endian length, else the whole rest is one
 * message; bit 2: pipelined, the messages (and the enrolling hello) arrive
 * without waiting for the store's answers in between, as from a client
 * that does not wait). Each
 * message goes to sync_on_message as a websocket message would.
 *
 * Oracle, beyond ASan/UBSan/LSan: every frame the server writes decodes,
 * is a frame servers send, and an error carries a code from the table and
 * a message; nothing follows an error with x = true; and the connection's
 * storage requests all complete (no reference is left behind).
 *
 * The store is created once per process in $TURF_FUZZ_DIR (else /dev/shm,
 * else $TMPDIR) and removed at exit. */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../server/config.h"
#include "../../server/conn.h"
#include "../../server/log.h"
#include "../../server/sync.h"

#define FUZZ_REQUIRE(expr, ...)                                                 \
  do {                                                                         \
    if (!(expr)) {                                                             \
      fprintf(stderr, "fuzz_frame_handler: %s:%d: %s: ", __FILE__, __LINE__, #expr); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static struct {
  uv_loop_t loop;
  store_t *store;
  sync_t *sync;
  config_t cfg;
  char dir[512], db[600];
  char code[PROTO_MAX_ID_BYTES + 1];
  uint64_t next_id;
  int fake_wsi;        /* its address stands for the connection's wsi */
  /* what the engine did to the current connection */
  bool want_writable;
  bool closing;        /* an error with x = true was written */
  bool killed;         /* lws was told to drop the connection */
} fz;

/* ---- the lws calls the engine makes ------------------------------------------ */

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol wp) {
  proto_frame_t *f = NULL;
  int rc;

  FUZZ_REQUIRE(wsi == (struct lws *)&fz.fake_wsi, "write to a connection that is not ours");
  /* conn.c writes the close frame itself (4 is lws's LWS_WRITE_CLOSE), and
   * only after an error with x = true, with the close code as payload. */
  if (wp == (enum lws_write_protocol)4) {
    FUZZ_REQUIRE(fz.closing && len == 2, "a close frame without an error with x = true first");
    return (int)len;
  }
  FUZZ_REQUIRE(wp == LWS_WRITE_BINARY, "frames are binary messages");
  FUZZ_REQUIRE(!fz.closing, "a frame was written after an error with x = true");
  rc = proto_decode(buf, len, &f);
  FUZZ_REQUIRE(rc == 0, "the server wrote a frame that does not decode: %s", proto_strerror(rc));
  switch (f->type) {
  case PROTO_WELCOME:
  case PROTO_ACK:
  case PROTO_CHANGES:
  case PROTO_LIVE:
  case PROTO_PONG:
    break;
  case PROTO_ERROR:
    FUZZ_REQUIRE(strcmp(proto_errname(f->u.error.code), "UNKNOWN") != 0 &&
                     proto_errname(f->u.error.code)[0] != '\0',
                 "error code %d is not in the table", (int)f->u.error.code);
    FUZZ_REQUIRE(f->u.error.message.len > 0, "error %d without a message", (int)f->u.error.code);
    if (f->u.error.close)
      fz.closing = true;
    break;
  default:
    FUZZ_REQUIRE(0, "the server wrote frame type %d, which only clients send", (int)f->type);
  }
  proto_frame_free(f);
  return (int)len;
}

int lws_callback_on_writable(struct lws *wsi) {
  FUZZ_REQUIRE(wsi == (struct lws *)&fz.fake_wsi, "writable asked for a foreign connection");
  fz.want_writable = true;
  return 1;
}

void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs) {
  (void)reason;
  FUZZ_REQUIRE(wsi == (struct lws *)&fz.fake_wsi, "timeout set on a foreign connection");
  if (secs == LWS_TO_KILL_ASYNC || secs == LWS_TO_KILL_SYNC)
    fz.killed = true;
}

void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf,
                      size_t len) {
  (void)wsi;
  (void)status;
  (void)buf;
  (void)len;
}

int lws_send_pipe_choked(struct lws *wsi) {
  (void)wsi;
  return 0;
}

/* ---- driving the engine ---------------------------------------------------------------- */

/* Writes what the engine queued and waits for its storage requests, as the
 * loop would between two websocket messages. */
static void fuzz__settle(conn_t *conn) {
  for (int rounds = 0;; rounds++) {
    while (fz.want_writable && conn->wsi != NULL) {
      fz.want_writable = false;
      if (conn_on_writable(conn) < 0)
        fz.killed = true; /* lws would close it now */
    }
    if (conn->refs <= 1)
      break;
    FUZZ_REQUIRE(rounds < 100000, "storage requests of the connection never complete");
    uv_run(&fz.loop, UV_RUN_ONCE);
  }
}

static void fuzz__sentinel_done(store_req_t *req) { *(bool *)req->data = true; }

/* Write requests complete in order: once this one has, every earlier one
 * (the closed connection's offline status) has too. */
static void fuzz__drain_store(void) {
  store_req_t req;
  bool done = false;
  memset(&req, 0, sizeof(req));
  req.data = &done;
  req.type = STORE_STATUS;
  req.u.status.org_id = 0;
  req.u.status.device = PROTO_STR("fuzz-sentinel");
  req.u.status.outbox = STORE_OUTBOX_UNCHANGED;
  if (store_submit(fz.store, &req, fuzz__sentinel_done) != 0)
    return;
  while (!done)
    uv_run(&fz.loop, UV_RUN_ONCE);
  store_req_dispose(&req);
}

static void fuzz__message(conn_t *conn, const uint8_t *msg, size_t len, bool wait) {
  if (fz.closing || fz.killed || conn->wsi == NULL)
    return; /* the connection is going: lws would deliver nothing more */
  sync_on_message(fz.sync, conn, msg, len);
  if (wait)
    fuzz__settle(conn);
}

static void fuzz__enrol(conn_t *conn, bool wait) {
  char device[32];
  proto_frame_t f;
  proto_buf_t buf;

  memset(&f, 0, sizeof(f));
  snprintf(device, sizeof(device), "fuzz-%llu", (unsigned long long)conn->id);
  f.type = PROTO_HELLO;
  f.u.hello.version = PROTO_VERSION;
  f.u.hello.device = proto_str(device);
  f.u.hello.code = proto_str(fz.code);
  f.u.hello.now_ms = (int64_t)time(NULL) * 1000;
  proto_buf_init(&buf, 0);
  FUZZ_REQUIRE(proto_encode(&f, &buf) == 0, "cannot encode the enrolment hello");
  fuzz__message(conn, proto_buf_data(&buf), buf.len, wait);
  proto_buf_dispose(&buf);
  FUZZ_REQUIRE(!wait || conn->state == CONN_READY, "a fresh device could not enrol");
}

static void fuzz__cleanup(void) {
  char path[700];
  static const char *const suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s%s", fz.db, suffix[i]);
    unlink(path);
  }
  rmdir(fz.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *base = getenv("TURF_FUZZ_DIR");
  char *args[] = {(*argv)[0], NULL};
  store_options_t sopts = {.log_level = 0, .max_batch_reqs = 64};
  struct stat st;

  (void)argc;
  if (base == NULL)
    base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
           : getenv("TMPDIR")                                ? getenv("TMPDIR")
                                                             : "/tmp";
  snprintf(fz.dir, sizeof(fz.dir), "%s/turf-fuzz.XXXXXX", base);
  FUZZ_REQUIRE(mkdtemp(fz.dir) != NULL, "cannot create a directory in %s", base);
  snprintf(fz.db, sizeof(fz.db), "%s/turf.db", fz.dir);
  atexit(fuzz__cleanup);
  /* Enough enrolments for every input of a long run. */
  FUZZ_REQUIRE(store_seed_demo(fz.db, (int64_t)time(NULL) * 1000, 4000000000u, fz.code) == 0,
               "cannot seed %s", fz.db);
  FUZZ_REQUIRE(config_load(&fz.cfg, 1, args) == 0, "cannot load the default configuration");
  log_set_level(LOG_ERROR);
  FUZZ_REQUIRE(uv_loop_init(&fz.loop) == 0, "no loop");
  fz.store = store_open(fz.db, &fz.loop, &sopts);
  FUZZ_REQUIRE(fz.store != NULL, "cannot open the store");
  fz.sync = sync_new(&fz.loop, fz.store, &fz.cfg);
  FUZZ_REQUIRE(fz.sync != NULL, "no sync engine");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  conn_t *conn;
  uint8_t flags;

  if (size == 0)
    return 0;
  flags = data[0];
  data++;
  size--;
  fz.want_writable = fz.closing = fz.killed = false;
  conn = conn_new((struct lws *)&fz.fake_wsi, ++fz.next_id);
  FUZZ_REQUIRE(conn != NULL, "no memory for a connection");
  snprintf(conn->peer, sizeof(conn->peer), "fuzz");
  sync_on_open(fz.sync, conn);
  if (flags & 1)
    fuzz__enrol(conn, !(flags & 4));
  if (flags & 2) {
    while (size > 0) {
      size_t len = size >= 2 ? (size_t)(data[0] | data[1] << 8) : size;
      size_t skip = size >= 2 ? 2 : 0;
      if (len > size - skip)
        len = size - skip;
      fuzz__message(conn, data + skip, len, !(flags & 4));
      data += skip + len;
      size -= skip + len;
    }
  } else {
    fuzz__message(conn, data, size, true);
  }
  fuzz__settle(conn);
  /* As ws.c does when lws reports the connection closed. */
  sync_on_close(fz.sync, conn);
  conn->wsi = NULL;
  fuzz__settle(conn);
  conn_unref(conn);
  fuzz__drain_store();
  return 0;
}
