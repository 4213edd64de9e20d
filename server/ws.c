/* ws.c — libwebsockets glue: protocol callbacks that turn lws events into
 * sync-engine events, the http route /healthz, and the hand-over of the
 * dashboard's routes (http.c) and websocket (dashboard.c). */
#include "ws.h"

#include <errno.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "conn.h"
#include "dashboard.h"
#include "http.h"
#include "log.h"

struct ws_s {
  struct lws_context *context; /* lws clears it once fully destroyed */
  sync_t *sync;
  const config_t *cfg;
  int port;
  uint64_t next_conn_id;
  dashboard_t *dashboard; /* NULL: the dashboard's websocket is refused */
};

/* Per-session data lws allocates for each turf.v1 connection. */
typedef struct {
  conn_t *conn;
} ws_session_t;

/* Per-session data for plain http requests. */
typedef struct {
  char body[256];
  size_t len;
  http_reply_t reply; /* a dashboard file being sent (http.c) */
} ws_http_t;

static ws_t *ws__from(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

static int ws__turf_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len) {
  ws_session_t *session = user;
  ws_t *ws = ws__from(wsi);
  const uint8_t *msg;
  size_t msg_len;
  int rc;

  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    if (sync_connection_count(ws->sync) >= ws->cfg->max_connections) {
      log_warn("connection refused: %u connections is the limit", ws->cfg->max_connections);
      lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, NULL, 0);
      return -1;
    }
    session->conn = conn_new(wsi, ++ws->next_conn_id);
    if (!session->conn) return -1;
    lws_get_peer_simple(wsi, session->conn->peer, sizeof session->conn->peer);
    if (sync_on_open(ws->sync, session->conn) != 0) {
      conn_t *refused = session->conn;
      session->conn = NULL; /* CLOSED then has nothing to tell sync */
      refused->wsi = NULL;
      conn_unref(refused);
      lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                       (unsigned char *)"too many connections from this address", 38);
      return -1;
    }
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)ws->cfg->hello_timeout_s);
    return 0;

  case LWS_CALLBACK_RECEIVE:
    if (!session->conn) return -1;
    rc = conn_on_receive(session->conn, in, len, lws_is_first_fragment(wsi),
                         lws_is_final_fragment(wsi), lws_frame_is_binary(wsi) != 0,
                         ws->cfg->max_frame_bytes, &msg, &msg_len);
    if (rc == 1)
      sync_on_message(ws->sync, session->conn, msg, msg_len);
    else if (rc < 0)
      sync_on_bad_message(ws->sync, session->conn, rc);
    return 0;

  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (!session->conn) return -1;
    return conn_on_writable(session->conn);

  case LWS_CALLBACK_CLOSED:
    if (session->conn) {
      conn_t *conn = session->conn;
      session->conn = NULL;
      sync_on_close(ws->sync, conn);
      conn->wsi = NULL;
      conn_unref(conn);
    }
    return 0;

  default:
    return 0;
  }
}

static int ws__http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len) {
  ws_http_t *http = user;
  uint8_t buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];

  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    return http_refuse_upgrade(wsi);

  case LWS_CALLBACK_HTTP:
    if (strcmp((const char *)in, "/healthz") != 0)
      return http_on_request(wsi, (const char *)in, &http->reply);
    /* Says nothing of the load: it answers anyone who can reach the port. */
    http->len = (size_t)snprintf(http->body, sizeof http->body, "{\"status\":\"ok\"}\n");
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", http->len, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
      return 1;
    lws_callback_on_writable(wsi);
    return 0;

  case LWS_CALLBACK_HTTP_WRITEABLE:
    if (http->reply.body) return http_on_writable(wsi, &http->reply);
    if (!http->len) return 0;
    memcpy(start, http->body, http->len);
    if (lws_write(wsi, start, http->len, LWS_WRITE_HTTP_FINAL) != (int)http->len) return 1;
    http->len = 0;
    return lws_http_transaction_completed(wsi) ? -1 : 0;

  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

/* The login routes (auth.h) serve http only: no websocket on them. */
static int ws__auth_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len) {
  if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION) return http_refuse_upgrade(wsi);
  return auth_lws_callback(wsi, reason, user, in, len);
}

static int ws__dashboard_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                                  void *in, size_t len) {
  ws_t *ws = ws__from(wsi);
  if (!ws->dashboard) return reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION ? 1 : 0;
  return dashboard_callback(ws->dashboard, wsi, (int)reason, user, in, len);
}

/* permessage-deflate (RFC 7692), for clients that offer it: ids and keys
 * repeat from frame to frame, so on a metered connection it cuts what a
 * tablet sends and receives several times over (README, benchmarks).
 * lws's own extension does the work; this wrapper only changes three of its
 * defaults on every new connection, before anything is compressed:
 * - tx_buf_size and rx_buf_size 2^21: a frame (at most 1 MiB,
 *   PROTO_MAX_FRAME_BYTES) is compressed, and inflated, in one piece. With
 *   the 1 KB defaults lws 4.1 works through a larger frame over several
 *   callbacks, and on a server on a foreign libuv loop that goes wrong both
 *   ways: on sending, it hands the writable callbacks in between to the
 *   protocol, whose next frame is then glued onto the unfinished one; on
 *   receiving, the rest of the frame waits until the socket has something
 *   else to say. Inflating into 2 MiB also lets a frame over the 1 MiB
 *   limit be seen whole and refused with TOO_LARGE. rx_buf_size is capped
 *   by the protocol's rx_buffer_size, hence WS__RX_BUFFER. Both buffers
 *   are allocated on the first compressed frame; only the pages a frame
 *   fills are touched.
 * - mem_level 2: zlib's default (8) costs a 64 KB hash table per
 *   connection as soon as it sends one frame; 2 costs 1 KB and compresses
 *   frames this small nearly as well.
 * What remains is some 40 KB per connection (zlib's two stream states and
 * the part of the window a connection has filled), which --permessage-
 * deflate=no saves. The window stays at 15 bits: lws 4.1 inflates what the
 * client sends with the server's window size, so a smaller one would break
 * clients that compress with the full window; and a smaller window for
 * sending alone was measured to save little memory for a lot of bytes. */
#define WS__RX_BUFFER (2u << 20) /* turf.v1 rx_buffer_size (bytes); see above */

/* Sets one option of a connection's deflate state (priv). */
static void ws__pmd_set(struct lws_context *context, const struct lws_extension *ext,
                        struct lws *wsi, void *priv, const char *name, const char *value) {
  struct lws_ext_option_arg oa = {name, 0, value, (int)strlen(value)};
  lws_extension_callback_pm_deflate(context, ext, wsi, LWS_EXT_CB_NAMED_OPTION_SET, priv, &oa, 0);
}

static int ws__pmd(struct lws_context *context, const struct lws_extension *ext, struct lws *wsi,
                   enum lws_extension_callback_reasons reason, void *user, void *in, size_t len) {
  static const struct {
    const char *name, *value;
  } opts[] = {{"tx_buf_size", "21"}, {"rx_buf_size", "21"}, {"mem_level", "2"}};
  int rc = lws_extension_callback_pm_deflate(context, ext, wsi, reason, user, in, len);
  if (rc != 0 || (reason != LWS_EXT_CB_CONSTRUCT && reason != LWS_EXT_CB_OPTION_DEFAULT))
    return rc;
  /* CONSTRUCT passes where the per-connection state was stored. */
  void *priv = reason == LWS_EXT_CB_CONSTRUCT ? *(void **)user : user;
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    ws__pmd_set(context, ext, wsi, priv, opts[i].name, opts[i].value);
  return 0;
}

static const struct lws_extension ws__extensions[] = {
    {"permessage-deflate", ws__pmd, "permessage-deflate"},
    {NULL, NULL, NULL},
};

static const struct lws_protocols ws__protocols[] = {
    {"http", ws__http_callback, sizeof(ws_http_t), 0, 0, NULL, 0},
    {PROTO_SUBPROTOCOL, ws__turf_callback, sizeof(ws_session_t), WS__RX_BUFFER, 0, NULL, 0},
    /* The same rx buffer as turf.v1: lws 4.1 sizes shared buffers from the
     * protocols' values, and a smaller one here broke the 1 MiB check. */
    {DASHBOARD_SUBPROTOCOL, ws__dashboard_callback, sizeof(dashboard_session_t), 64 * 1024, 0,
     NULL, 0},
    /* /auth/login, /auth/logout, /auth/me (auth.h) */
    {AUTH_PROTOCOL_NAME, ws__auth_callback, AUTH_SESSION_BYTES, 0, 0, NULL, 0},
    /* /api/report (api.h) */
    {API_PROTOCOL_NAME, api_lws_callback, API_SESSION_BYTES, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws logs go through our log so there is one format. A line that repeats
 * is written once a second with its count: out of file descriptors, lws's
 * accept loop fails tens of thousands of times a second, and the log must
 * not fill the disk with it. lws logs from the loop thread only. */
#define WS__LOG_REPEAT_MS 1000
static void ws__lws_log(int level, const char *line) {
  static char last[256];
  static uint64_t last_ms, repeated;
  static log_level_t last_lvl;
  size_t n = strlen(line);
  log_level_t lvl = level == LLL_ERR ? LOG_ERROR : level == LLL_WARN ? LOG_WARN : LOG_DEBUG;
  uint64_t now = uv_hrtime() / 1000000;

  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  if (n < sizeof last && strncmp(last, line, n) == 0 && last[n] == '\0' &&
      now - last_ms < WS__LOG_REPEAT_MS) {
    repeated++;
    return;
  }
  if (repeated)
    log_write(last_lvl, "lws: the line before repeated %" PRIu64 " more time(s)", repeated);
  repeated = 0;
  last_ms = now;
  last_lvl = lvl;
  snprintf(last, sizeof last, "%.*s", (int)n, line);
  log_write(lvl, "lws: %.*s", (int)n, line);
}

int ws_probe_listen(const config_t *cfg) {
  struct addrinfo hints, *ai = NULL;
  char port[8];
  int fd, one = 1, err = 0;

  if (cfg->port == 0)
    return 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET; /* as lws listens: IPv6 is disabled */
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  snprintf(port, sizeof port, "%d", cfg->port);
  if (getaddrinfo(cfg->listen, port, &hints, &ai) != 0)
    return 0;
  fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    /* as lws does, so a port left in TIME_WAIT is not "in use" */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
      err = errno;
    close(fd);
  }
  freeaddrinfo(ai);
  if (err == EADDRINUSE)
    log_error("port %d is in use; --port or TURF_PORT picks another", cfg->port);
  else if (err == EADDRNOTAVAIL)
    log_error("%s is not an address of this machine; --listen or TURF_LISTEN picks another",
              cfg->listen);
  else if (err == EACCES)
    log_error("port %d is reserved for the system; --port or TURF_PORT picks one above 1023",
              cfg->port);
  else if (err != 0)
    log_error("cannot listen on %s:%d: %s", cfg->listen, cfg->port, strerror(err));
  return err ? -1 : 0;
}

ws_t *ws_start(uv_loop_t *loop, sync_t *sync, const config_t *cfg) {
  struct lws_context_creation_info info;
  void *foreign_loops[1] = {loop};
  ws_t *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->sync = sync;
  ws->cfg = cfg;

  lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_USER, ws__lws_log);
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.foreign_loops = foreign_loops;
  info.pcontext = &ws->context;
  info.port = cfg->port;
  info.iface = cfg->listen;
  info.protocols = ws__protocols;
  info.extensions = cfg->permessage_deflate ? ws__extensions : NULL;
  /* /auth, then /api: lws takes a chain of mounts. */
  static struct lws_http_mount mounts[2];
  mounts[0] = auth_mount;
  mounts[1] = api_mount;
  mounts[0].mount_next = &mounts[1];
  mounts[1].mount_next = NULL;
  info.mounts = &mounts[0];
  info.user = ws;
  info.vhost_name = "turfd";
  /* lws reads each socket into this one buffer (4 KiB by default): a
   * tablet's push of a few hundred ops then arrives over many reads and
   * receive callbacks. One buffer for the service thread, not per
   * connection. */
  info.pt_serv_buf_size = 65536;
  info.ka_time = 60;
  info.ka_interval = 10;
  info.ka_probes = 3;
  if (cfg->tls_cert[0]) {
    /* wss:// and https:// on the same port; lws reads the files here and
     * fails the context if they do not load. */
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = cfg->tls_cert;
    info.ssl_private_key_filepath = cfg->tls_key;
  }
  ws->context = lws_create_context(&info);
  if (!ws->context) {
    log_error("could not start listening on %s:%d", cfg->listen, cfg->port);
    free(ws);
    return NULL;
  }
  struct lws_vhost *vh = lws_get_vhost_by_name(ws->context, "turfd");
  /* lws 4.1 makes the context even when its vhost failed (a TLS file that
   * does not load): there is then nothing listening. */
  if (!vh) log_error("could not start listening on %s:%d", cfg->listen, cfg->port);
  ws->port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
  return ws;
}

int ws_port(const ws_t *ws) { return ws->port; }

bool ws_listening(const ws_t *ws) {
  return ws->context && lws_get_vhost_by_name(ws->context, "turfd") != NULL;
}

void ws_set_dashboard(ws_t *ws, dashboard_t *dashboard) { ws->dashboard = dashboard; }

int ws_set_auth(ws_t *ws, auth_t *auth) {
  struct lws_vhost *vh = lws_get_vhost_by_name(ws->context, "turfd");
  return vh ? auth_attach(auth, vh) : -1;
}

int ws_set_api(ws_t *ws, api_t *api) {
  struct lws_vhost *vh = lws_get_vhost_by_name(ws->context, "turfd");
  return vh ? api_attach(api, vh) : -1;
}

void ws_stop(ws_t *ws) {
  if (ws->context) lws_context_destroy(ws->context);
}

void ws_free(ws_t *ws) {
  if (!ws) return;
  /* lws 4.1 frees a context on a foreign loop only in a second destroy
   * after the loop has run dry; that also clears ws->context (pcontext). */
  if (ws->context) lws_context_destroy(ws->context);
  free(ws);
}
