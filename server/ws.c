/* ws.c — libwebsockets glue: protocol callbacks that turn lws events into
 * sync-engine events, and the http route /healthz. */
#include "ws.h"

#include <inttypes.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"

struct ws_s {
  struct lws_context *context; /* lws clears it once fully destroyed */
  sync_t *sync;
  const config_t *cfg;
  int port;
  uint64_t next_conn_id;
};

/* Per-session data lws allocates for each turf.v1 connection. */
typedef struct {
  conn_t *conn;
} ws_session_t;

/* Per-session data for plain http requests. */
typedef struct {
  char body[256];
  size_t len;
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
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)ws->cfg->hello_timeout_s);
    sync_on_open(ws->sync, session->conn);
    return 0;

  case LWS_CALLBACK_RECEIVE:
    if (!session->conn) return -1;
    rc = conn_on_receive(session->conn, in, len, lws_is_first_fragment(wsi),
                         lws_is_final_fragment(wsi), lws_frame_is_binary(wsi),
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
  ws_t *ws;
  uint8_t buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];

  switch (reason) {
  case LWS_CALLBACK_HTTP:
    ws = ws__from(wsi);
    if (strcmp((const char *)in, "/healthz") != 0) {
      lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    http->len = (size_t)snprintf(http->body, sizeof http->body,
                                 "{\"status\":\"ok\",\"connections\":%u}\n",
                                 sync_connection_count(ws->sync));
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", http->len, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
      return 1;
    lws_callback_on_writable(wsi);
    return 0;

  case LWS_CALLBACK_HTTP_WRITEABLE:
    if (!http->len) return 0;
    memcpy(start, http->body, http->len);
    if (lws_write(wsi, start, http->len, LWS_WRITE_HTTP_FINAL) != (int)http->len) return 1;
    http->len = 0;
    return lws_http_transaction_completed(wsi) ? -1 : 0;

  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static const struct lws_protocols ws__protocols[] = {
    {"http", ws__http_callback, sizeof(ws_http_t), 0, 0, NULL, 0},
    {PROTO_SUBPROTOCOL, ws__turf_callback, sizeof(ws_session_t), 64 * 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws logs go through our log so there is one format. */
static void ws__lws_log(int level, const char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  log_write(level == LLL_ERR ? LOG_ERROR : level == LLL_WARN ? LOG_WARN : LOG_DEBUG,
            "lws: %.*s", (int)n, line);
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
  info.user = ws;
  info.vhost_name = "turfd";
  info.ka_time = 60;
  info.ka_interval = 10;
  info.ka_probes = 3;
  ws->context = lws_create_context(&info);
  if (!ws->context) {
    log_error("could not start listening on %s:%d", cfg->listen, cfg->port);
    free(ws);
    return NULL;
  }
  struct lws_vhost *vh = lws_get_vhost_by_name(ws->context, "turfd");
  ws->port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
  return ws;
}

int ws_port(const ws_t *ws) { return ws->port; }

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
