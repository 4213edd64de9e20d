/* client.c — sync connections of the sample client (see client.h).
 *
 * Owns the lws context, the connections and their timers, outgoing frame
 * queues and reassembly buffers. The local files are borrowed.
 *
 * Per connection, one push is in flight at a time and always carries the
 * oldest ops still in the outbox: whatever an ack does not settle (a
 * SEQ_GAP, a lost ack, a server error) is simply sent again, which the
 * server ignores for ops it already holds. One pull is in flight at a time;
 * a live frame is applied only when it continues from the local cursor and
 * nothing of ours is between push and pull-back, otherwise it prompts a
 * pull, so every own op comes back through a pull and is rebased to the
 * server's HLC. */
#include "client.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define CLIENT__APP "turf-tablet/0.1"
#define CLIENT__PUSH_BATCH 500     /* ops per push frame */
#define CLIENT__PULL_LIMIT 500     /* ops per changes page asked for */
#define CLIENT__TICK_MS 1000       /* outbox poll and housekeeping (ms) */
#define CLIENT__PING_MS 20000      /* ping interval while connected (ms) */
#define CLIENT__RETRY_MS 5000      /* wait before re-pushing what made no
                                      progress (ms) */
#define CLIENT__PUSH_STALE_MS 30000 /* an unanswered push is sent again (ms) */
#define CLIENT__PULL_STALE_MS 20000 /* an unanswered pull is sent again, asking
                                       for half as much (ms) */
#define CLIENT__SILENT_MS 65000    /* no frame at all: the link is dead (ms) */
#define CLIENT__HELLO_MS 30000     /* welcome must come within (ms) */
#define CLIENT__BACKOFF_MIN_MS 500
#define CLIENT__BACKOFF_MAX_MS 30000

typedef enum {
  CLIENT__IDLE = 0,   /* no socket; maybe a reconnect is scheduled */
  CLIENT__CONNECTING, /* lws is connecting / upgrading */
  CLIENT__HELLO,      /* hello sent, waiting for welcome */
  CLIENT__READY,      /* welcomed: pushing, pulling, live */
} client__state_t;

typedef struct client__tx_s client__tx_t;
struct client__tx_s {
  proto_buf_t buf; /* LWS_PRE headroom, one encoded frame */
  client__tx_t *next;
};

struct client_conn_s {
  client_t *client;
  client_conn_t *next; /* in client->conns */
  local_t *local;      /* borrowed */
  client_conn_options_t opts;
  char *url, *code; /* copies behind opts.url / opts.code */
  char host[256];
  char path[512];
  int port;
  bool tls;

  struct lws *wsi; /* the current socket; NULL when IDLE or CONNECTING
                      before lws returned it */
  client__state_t state;
  bool fatal;  /* the server refused us (credentials, version): no retry */
  int last_code;           /* negative PROTO_E* of the last error frame */
  char last_message[256];  /* its text */

  /* incoming message being reassembled */
  uint8_t *rx;
  size_t rx_len, rx_cap;
  bool rx_too_large;

  /* outgoing frames, oldest first */
  client__tx_t *tx_head, *tx_tail;

  /* sync state of the current session */
  bool push_inflight;
  uint64_t push_sent_ms;   /* loop time the push went out */
  uint64_t push_hold_ms;   /* no new push before this loop time */
  bool pull_inflight;
  bool pull_again;         /* pull once the current one is answered */
  uint64_t pull_sent_ms;   /* loop time the pull went out */
  uint32_t pull_limit;     /* ops asked per page; halved when unanswered */
  bool caught_up;          /* the last answer said more=false, none since */
  bool ever_caught_up;     /* this session has caught up once */
  bool synced;             /* on_synced reported and still true */
  uint64_t session_ms;     /* loop time of connect / hello */
  uint64_t last_rx_ms;     /* loop time of the last frame received */
  uint64_t last_ping_ms;
  uint64_t ping_nonce;
  uint32_t attempt;        /* failed attempts since the last welcome */

  uv_timer_t tick;         /* CLIENT__TICK_MS housekeeping */
  uv_timer_t retry;        /* reconnect after backoff */
  client_stats_t stats;
};

struct client_s {
  uv_loop_t *loop;
  struct lws_context *lws; /* cleared by lws itself (info.pcontext) once its
                              teardown on our loop has finished */
  client_conn_t *conns;
  uv_timer_t destroy;      /* runs lws_context_destroy outside lws callbacks */
  bool closing;
  uint64_t rng;            /* xorshift state for backoff jitter */
};

static void client__connect(client_conn_t *conn);
static void client__on_retry(uv_timer_t *t);
static void client__check_synced(client_conn_t *conn);

/* ---- helpers ------------------------------------------------------------- */

static uint64_t client__rand(client_t *c) {
  c->rng ^= c->rng << 13;
  c->rng ^= c->rng >> 7;
  c->rng ^= c->rng << 17;
  return c->rng;
}

static uint64_t client__now(const client_conn_t *conn) { return uv_now(conn->client->loop); }

/* Splits ws[s]://host[:port][/path]. Returns 0 or -1. */
static int client__parse_url(client_conn_t *conn, const char *url) {
  const char *p, *host_end, *colon;
  size_t hlen;

  if (strncmp(url, "ws://", 5) == 0) {
    conn->tls = false;
    p = url + 5;
  } else if (strncmp(url, "wss://", 6) == 0) {
    conn->tls = true;
    p = url + 6;
  } else {
    return -1;
  }
  host_end = strchr(p, '/');
  if (host_end == NULL)
    host_end = p + strlen(p);
  colon = memchr(p, ':', (size_t)(host_end - p));
  hlen = (size_t)((colon ? colon : host_end) - p);
  if (hlen == 0 || hlen >= sizeof(conn->host))
    return -1;
  memcpy(conn->host, p, hlen);
  conn->host[hlen] = '\0';
  conn->port = conn->tls ? 443 : 80;
  if (colon != NULL) {
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != host_end || port <= 0 || port > 65535)
      return -1;
    conn->port = (int)port;
  }
  snprintf(conn->path, sizeof(conn->path), "%s", *host_end ? host_end : "/");
  return 0;
}

static void client__free_tx(client_conn_t *conn) {
  while (conn->tx_head != NULL) {
    client__tx_t *tx = conn->tx_head;
    conn->tx_head = tx->next;
    proto_buf_dispose(&tx->buf);
    free(tx);
  }
  conn->tx_tail = NULL;
}

/* Encodes frame and queues it for the next writable callback. Returns 0, or
 * a negative PROTO_E* code with nothing queued (PROTO_ETOO_LARGE when the
 * frame would pass PROTO_MAX_FRAME_BYTES). */
static int client__send(client_conn_t *conn, const proto_frame_t *frame) {
  client__tx_t *tx;
  int rc;

  if (conn->wsi == NULL)
    return PROTO_EINTERNAL;
  tx = calloc(1, sizeof(*tx));
  if (tx == NULL)
    return PROTO_ENOMEM;
  proto_buf_init(&tx->buf, LWS_PRE);
  rc = proto_encode(frame, &tx->buf);
  if (rc != 0) {
    proto_buf_dispose(&tx->buf);
    free(tx);
    return rc;
  }
  if (conn->tx_tail != NULL)
    conn->tx_tail->next = tx;
  else
    conn->tx_head = tx;
  conn->tx_tail = tx;
  lws_callback_on_writable(conn->wsi);
  return 0;
}

/* Asks lws to close the socket from outside its callbacks; CLIENT_CLOSED
 * follows and does the bookkeeping. */
static void client__drop(client_conn_t *conn, const char *why) {
  if (conn->wsi == NULL)
    return;
  fprintf(stderr, "turf-tablet: dropping connection: %s\n", why);
  lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The socket is gone (failed, closed by either side, or torn down). Resets
 * the session and schedules a reconnect. Idempotent. */
static void client__lost(client_conn_t *conn, int code, const char *reason) {
  client_t *c = conn->client;
  bool retry;
  uint64_t cap, delay;

  if (conn->state == CLIENT__IDLE)
    return;
  conn->state = CLIENT__IDLE;
  conn->wsi = NULL;
  client__free_tx(conn);
  conn->rx_len = 0;
  conn->rx_too_large = false;
  conn->push_inflight = conn->pull_inflight = conn->pull_again = false;
  conn->caught_up = conn->ever_caught_up = conn->synced = false;
  if (c->closing)
    return;

  retry = conn->opts.reconnect && !conn->fatal;
  if (retry) {
    /* Exponential backoff with full jitter: many tablets that lost the
     * same server must not all come back in the same millisecond. */
    cap = CLIENT__BACKOFF_MIN_MS << (conn->attempt < 6 ? conn->attempt : 6);
    if (cap > CLIENT__BACKOFF_MAX_MS)
      cap = CLIENT__BACKOFF_MAX_MS;
    delay = client__rand(c) % (cap + 1);
    conn->attempt++;
    uv_timer_start(&conn->retry, client__on_retry, delay, 0);
  }
  if (conn->opts.cb.on_disconnect != NULL)
    conn->opts.cb.on_disconnect(conn, code, reason, retry);
}

/* ---- sync steps ---------------------------------------------------------- */

static void client__pull(client_conn_t *conn) {
  proto_frame_t f;

  if (conn->state != CLIENT__READY)
    return;
  if (conn->pull_inflight) {
    conn->pull_again = true;
    return;
  }
  memset(&f, 0, sizeof(f));
  f.type = PROTO_PULL;
  f.u.pull.cursor = local_cursor(conn->local);
  f.u.pull.limit = conn->pull_limit ? conn->pull_limit : CLIENT__PULL_LIMIT;
  if (client__send(conn, &f) != 0) {
    client__drop(conn, "cannot send pull");
    return;
  }
  conn->pull_inflight = true;
  conn->pull_sent_ms = client__now(conn);
  conn->caught_up = false;
}

/* Sends the oldest ops still in the outbox, if nothing is in flight. A
 * batch whose frame would pass PROTO_MAX_FRAME_BYTES (long notes and
 * messages) is halved until it fits; one op always fits, because the
 * schema bounds its fields far below the frame limit. */
static void client__push(client_conn_t *conn) {
  uint32_t max = CLIENT__PUSH_BATCH;
  local_batch_t batch;
  proto_frame_t f;
  int64_t waiting;
  int rc;

  if (conn->state != CLIENT__READY || conn->push_inflight ||
      client__now(conn) < conn->push_hold_ms)
    return;
  waiting = local_outbox_count(conn->local);
  if (waiting <= 0)
    return;
  for (;;) {
    rc = local_outbox_load(conn->local, 0, max, &batch);
    if (rc != 0 || batch.nops == 0) {
      local_batch_dispose(&batch);
      return;
    }
    memset(&f, 0, sizeof(f));
    f.type = PROTO_PUSH;
    f.u.push.nops = batch.nops;
    f.u.push.ops = batch.ops;
    f.u.push.outbox = (uint64_t)waiting > batch.nops ? (uint64_t)waiting - batch.nops : 0;
    rc = client__send(conn, &f);
    local_batch_dispose(&batch);
    if (rc == PROTO_ETOO_LARGE && max > 1) {
      max /= 2;
      continue;
    }
    break;
  }
  if (rc != 0) {
    fprintf(stderr, "turf-tablet: cannot send the outbox: %s\n", proto_strerror(rc));
    client__drop(conn, "cannot send push");
    return;
  }
  conn->push_inflight = true;
  conn->push_sent_ms = client__now(conn);
  conn->stats.pushed += f.u.push.nops;
  conn->synced = false;
}

static void client__send_ping(client_conn_t *conn) {
  proto_frame_t f;
  memset(&f, 0, sizeof(f));
  f.type = PROTO_PING;
  f.u.ping.nonce = ++conn->ping_nonce;
  conn->last_ping_ms = client__now(conn);
  if (client__send(conn, &f) != 0)
    client__drop(conn, "cannot send ping");
}

static void client__check_synced(client_conn_t *conn) {
  bool now;

  now = conn->state == CLIENT__READY && !conn->push_inflight && !conn->pull_inflight &&
        conn->caught_up && local_outbox_count(conn->local) == 0;
  if (!now) {
    conn->synced = false;
    return;
  }
  if (conn->synced)
    return;
  conn->synced = true;
  /* Our own ops are all acked and back: a clock that ran ahead before
   * the server told us the offset can now be brought back safely. */
  local_settle_clock(conn->local);
  if (conn->opts.cb.on_synced != NULL)
    conn->opts.cb.on_synced(conn);
}

/* ---- frames from the server ---------------------------------------------- */

static void client__send_hello(client_conn_t *conn) {
  char name[PROTO_MAX_ID_BYTES + 1], token[PROTO_MAX_ID_BYTES + 1];
  proto_frame_t f;
  int64_t out;

  memset(&f, 0, sizeof(f));
  f.type = PROTO_HELLO;
  f.u.hello.version = PROTO_VERSION;
  f.u.hello.app = proto_str(CLIENT__APP);
  f.u.hello.device = proto_str(local_device(conn->local));
  if (local_meta_text(conn->local, "name", name, sizeof(name)) == 0 && name[0])
    f.u.hello.name = proto_str(name);
  if (local_meta_text(conn->local, "token", token, sizeof(token)) != 0)
    token[0] = '\0';
  if (token[0] != '\0')
    f.u.hello.token = proto_str(token);
  else if (conn->code != NULL)
    f.u.hello.code = proto_str(conn->code);
  f.u.hello.cursor = local_cursor(conn->local);
  out = local_outbox_count(conn->local);
  f.u.hello.outbox = out > 0 ? (uint64_t)out : 0;
  /* The device's own clock, uncorrected: the server answers with the
   * offset from exactly this clock. */
  f.u.hello.now_ms = local_device_clock(conn->local);
  /* Its replica and outbox are a file its user owns, written with
   * synchronous=FULL: nothing clears it behind their back. */
  f.u.hello.storage = PROTO_STORAGE_PERSISTENT;
  if (client__send(conn, &f) != 0) {
    client__drop(conn, "cannot send hello");
    return;
  }
  conn->state = CLIENT__HELLO;
  conn->session_ms = client__now(conn);
}

static int client__on_welcome(client_conn_t *conn, const proto_welcome_t *w) {
  char token[PROTO_MAX_ID_BYTES + 1];

  if (conn->state != CLIENT__HELLO) {
    fprintf(stderr, "turf-tablet: unexpected welcome\n");
    return -1;
  }
  if (local_apply_welcome(conn->local, w) != 0)
    return -1;
  /* Before anything is pulled: the pull below then starts from 0. Until
   * a pull from 0 is served the server keeps saying "rs", so a crash
   * between here and there only makes us start over once more. */
  if (w->resync) {
    if (local_resync(conn->local) != 0) {
      fprintf(stderr, "turf-tablet: could not drop the replica to sync again\n");
      return -1;
    }
    conn->stats.resyncs++;
    fprintf(stderr, "turf-tablet: this tablet's locations changed; syncing again from scratch\n");
  }
  if (local_meta_text(conn->local, "token", token, sizeof(token)) != 0 || token[0] == '\0') {
    fprintf(stderr, "turf-tablet: the server welcomed us without issuing a token\n");
    conn->fatal = true;
    return -1;
  }
  conn->state = CLIENT__READY;
  conn->attempt = 0;
  conn->stats.welcomes++;
  conn->last_ping_ms = client__now(conn);
  conn->push_hold_ms = 0;
  conn->pull_limit = CLIENT__PULL_LIMIT;
  if (conn->opts.cb.on_welcome != NULL)
    conn->opts.cb.on_welcome(conn, w);
  if (conn->client->closing)
    return 0;
  client__push(conn);
  client__pull(conn);
  return 0;
}

static void client__on_ack(client_conn_t *conn, const proto_ack_t *ack) {
  local_ack_result_t res;

  if (local_apply_ack(conn->local, ack, &res) != 0) {
    client__drop(conn, "cannot store ack");
    return;
  }
  conn->stats.acked += res.acked;
  conn->stats.rejected += res.rejected;
  conn->push_inflight = false;
  if (res.rejected > 0)
    fprintf(stderr, "turf-tablet: the server refused %llu op(s); see `attention`\n",
            (unsigned long long)res.rejected);
  /* An ack that settled nothing would loop if answered at once. */
  if (res.acked == 0 && res.rejected == 0 && !res.seq_gap)
    conn->push_hold_ms = client__now(conn) + CLIENT__RETRY_MS;
  /* Our ops are committed: pull them back so their clocks are rebased. */
  if (res.acked > 0)
    client__pull(conn);
  client__push(conn);
}

/* Context for reporting ops applied from one page. */
typedef struct {
  client_conn_t *conn;
  bool live;
} client__page_t;

static void client__page_op(void *arg, const proto_op_t *op, bool own) {
  client__page_t *page = arg;
  client_conn_t *conn = page->conn;
  conn->stats.pulled++;
  if (!own && conn->opts.cb.on_op != NULL && !conn->client->closing)
    conn->opts.cb.on_op(conn, op, page->live);
}

static void client__on_changes(client_conn_t *conn, const proto_changes_t *ch) {
  client__page_t page = {conn, conn->ever_caught_up};
  int rc;

  conn->pull_inflight = false;
  rc = local_apply_changes(conn->local, ch, client__page_op, &page);
  if (rc < 0) {
    client__drop(conn, "cannot store changes");
    return;
  }
  if (rc == LOCAL_STALE || ch->more || conn->pull_again) {
    conn->pull_again = false;
    client__pull(conn);
    return;
  }
  conn->caught_up = true;
  conn->ever_caught_up = true;
}

static void client__on_live(client_conn_t *conn, const proto_changes_t *ch) {
  client__page_t page = {conn, true};
  int rc;

  /* While ours are between push and pull-back, a live page could carry the
   * cursor past them and they would never be rebased: pull instead. */
  if (conn->push_inflight || conn->pull_inflight || !conn->caught_up) {
    client__pull(conn);
    return;
  }
  rc = local_apply_changes(conn->local, ch, client__page_op, &page);
  if (rc < 0) {
    client__drop(conn, "cannot store live changes");
    return;
  }
  if (rc == LOCAL_STALE || ch->more)
    client__pull(conn);
}

static void client__on_error(client_conn_t *conn, const proto_error_t *e) {
  int code = -(int)e->code;

  conn->last_code = code;
  snprintf(conn->last_message, sizeof(conn->last_message), "%s: %.*s", proto_errname(code),
           (int)e->message.len, e->message.ptr ? e->message.ptr : "");
  fprintf(stderr, "turf-tablet: server error %s%s\n", conn->last_message,
          e->close ? " (closing)" : "");
  switch (code) {
  case PROTO_EREVOKED:
    /* The organisation cut this tablet off: what it holds is theirs and
     * must not stay on a device they no longer manage. */
    conn->fatal = true;
    if (local_wipe(conn->local) != 0)
      fprintf(stderr, "turf-tablet: could not erase this tablet's data\n");
    break;
  case PROTO_ERESCOPED:
    /* Our locations changed: the server closes the connection; the
     * reconnect's welcome says "rs" and we sync again from scratch. */
    break;
  case PROTO_EBAD_CREDENTIALS:
  case PROTO_EUNSUPPORTED_VERSION:
  case PROTO_ENOT_AUTHENTICATED:
  case PROTO_EALREADY_AUTHENTICATED:
    /* Retrying cannot help; a person has to act (re-enrol, upgrade). */
    conn->fatal = true;
    break;
  case PROTO_ESTORAGE:
  case PROTO_ERATE_LIMITED:
    /* Whatever was in flight is not acked: send it again later. */
    conn->push_inflight = false;
    conn->push_hold_ms = client__now(conn) + CLIENT__RETRY_MS;
    break;
  default:
    break;
  }
}

/* Returns 0, or -1 to close the connection. */
static int client__on_message(client_conn_t *conn, const uint8_t *msg, size_t len) {
  proto_frame_t *f = NULL;
  proto_frame_t pong;
  int rc;

  if (conn->client->closing)
    return 0; /* nothing more reaches the caller after client_shutdown */
  rc = proto_decode(msg, len, &f);
  if (rc != 0) {
    fprintf(stderr, "turf-tablet: undecodable frame from server: %s\n", proto_strerror(rc));
    return -1;
  }
  conn->last_rx_ms = client__now(conn);
  rc = 0;
  if (conn->state != CLIENT__READY && f->type != PROTO_WELCOME && f->type != PROTO_ERROR &&
      f->type != PROTO_PING && f->type != PROTO_PONG) {
    fprintf(stderr, "turf-tablet: frame type %d before welcome\n", (int)f->type);
    rc = -1;
    goto done;
  }
  switch (f->type) {
  case PROTO_WELCOME:
    rc = client__on_welcome(conn, &f->u.welcome);
    break;
  case PROTO_ACK:
    client__on_ack(conn, &f->u.ack);
    break;
  case PROTO_CHANGES:
    client__on_changes(conn, &f->u.changes);
    break;
  case PROTO_LIVE:
    client__on_live(conn, &f->u.changes);
    break;
  case PROTO_ERROR:
    client__on_error(conn, &f->u.error);
    break;
  case PROTO_PING:
    memset(&pong, 0, sizeof(pong));
    pong.type = PROTO_PONG;
    pong.u.ping.nonce = f->u.ping.nonce;
    if (client__send(conn, &pong) != 0)
      rc = -1;
    break;
  case PROTO_PONG:
    break;
  default:
    fprintf(stderr, "turf-tablet: unexpected frame type %d from server\n", (int)f->type);
    break;
  }
  if (rc == 0 && !conn->client->closing)
    client__check_synced(conn);
done:
  proto_frame_free(f);
  return rc;
}

/* Reassembles fragments into whole messages. Returns 0 or -1 to close. */
static int client__on_receive(client_conn_t *conn, struct lws *wsi, const void *in,
                              size_t len) {
  if (!conn->rx_too_large) {
    if (conn->rx_len + len > PROTO_MAX_FRAME_BYTES) {
      conn->rx_too_large = true;
    } else {
      if (conn->rx_len + len > conn->rx_cap) {
        size_t cap = conn->rx_cap ? conn->rx_cap : 4096;
        uint8_t *p;
        while (cap < conn->rx_len + len)
          cap *= 2;
        p = realloc(conn->rx, cap);
        if (p == NULL)
          return -1;
        conn->rx = p;
        conn->rx_cap = cap;
      }
      if (len > 0)
        memcpy(conn->rx + conn->rx_len, in, len);
      conn->rx_len += len;
    }
  }
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
    return 0;
  if (conn->rx_too_large) {
    fprintf(stderr, "turf-tablet: server sent a message over %u bytes\n",
            (unsigned)PROTO_MAX_FRAME_BYTES);
    return -1;
  }
  if (!lws_frame_is_binary(wsi)) {
    fprintf(stderr, "turf-tablet: ignoring a text message from the server\n");
    conn->rx_len = 0;
    return 0;
  }
  len = conn->rx_len;
  conn->rx_len = 0;
  return client__on_message(conn, conn->rx, len);
}

static int client__on_writable(client_conn_t *conn, struct lws *wsi) {
  client__tx_t *tx = conn->tx_head;
  int n;

  if (tx == NULL)
    return 0;
  conn->tx_head = tx->next;
  if (conn->tx_head == NULL)
    conn->tx_tail = NULL;
  n = lws_write(wsi, proto_buf_data(&tx->buf), tx->buf.len, LWS_WRITE_BINARY);
  if (n < 0 || (size_t)n < tx->buf.len) {
    proto_buf_dispose(&tx->buf);
    free(tx);
    return -1;
  }
  proto_buf_dispose(&tx->buf);
  free(tx);
  if (conn->tx_head != NULL)
    lws_callback_on_writable(wsi);
  return 0;
}

static int client__lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len) {
  client_conn_t *conn = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  char why[640];

  (void)user;
  if (conn == NULL)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (conn->state != CLIENT__CONNECTING || (conn->wsi != NULL && conn->wsi != wsi))
      return 0;
    snprintf(why, sizeof(why), "cannot connect to %s: %.*s", conn->url,
             in ? (int)len : 0, in ? (const char *)in : "");
    if (in != NULL && len == 0)
      snprintf(why, sizeof(why), "cannot connect to %s: %s", conn->url, (const char *)in);
    client__lost(conn, 0, why);
    return 0;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (conn->state != CLIENT__CONNECTING)
      return -1;
    conn->wsi = wsi;
    conn->last_rx_ms = client__now(conn);
    client__send_hello(conn);
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (conn->wsi != wsi)
      return -1;
    return client__on_receive(conn, wsi, in, len);
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    if (conn->wsi != wsi)
      return -1;
    return client__on_writable(conn, wsi);
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_WSI_DESTROY:
    if (conn->wsi == wsi && conn->state != CLIENT__IDLE) {
      if (conn->last_code != 0)
        snprintf(why, sizeof(why), "connection closed (%s)", conn->last_message);
      else
        snprintf(why, sizeof(why), "connection to %s closed", conn->url);
      client__lost(conn, conn->last_code, why);
    }
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols client__protocols[] = {
    {PROTO_SUBPROTOCOL, client__lws_cb, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- timers -------------------------------------------------------------- */

static void client__connect(client_conn_t *conn) {
  struct lws_client_connect_info i;
  struct lws *wsi;

  if (conn->client->closing || conn->state != CLIENT__IDLE || conn->client->lws == NULL)
    return;
  conn->last_code = 0;
  conn->last_message[0] = '\0';
  memset(&i, 0, sizeof(i));
  i.context = conn->client->lws;
  i.address = conn->host;
  i.port = conn->port;
  i.path = conn->path;
  i.host = conn->host;
  i.origin = conn->host;
  i.ssl_connection = conn->tls ? LCCSCF_USE_SSL : 0;
  i.protocol = PROTO_SUBPROTOCOL;
  i.local_protocol_name = PROTO_SUBPROTOCOL;
  i.opaque_user_data = conn;
  conn->state = CLIENT__CONNECTING;
  conn->wsi = NULL;
  conn->session_ms = client__now(conn);
  wsi = lws_client_connect_via_info(&i);
  /* A failure may already have been reported through
   * CLIENT_CONNECTION_ERROR during the call. */
  if (conn->state != CLIENT__CONNECTING)
    return;
  if (wsi == NULL) {
    char why[320];
    snprintf(why, sizeof(why), "cannot connect to %s", conn->url);
    client__lost(conn, 0, why);
    return;
  }
  conn->wsi = wsi;
}

static void client__on_retry(uv_timer_t *t) { client__connect(t->data); }

static void client__on_tick(uv_timer_t *t) {
  client_conn_t *conn = t->data;
  uint64_t now = client__now(conn);

  switch (conn->state) {
  case CLIENT__CONNECTING:
  case CLIENT__HELLO:
    if (now - conn->session_ms > CLIENT__HELLO_MS)
      client__drop(conn, "no welcome from the server");
    break;
  case CLIENT__READY:
    if (now - conn->last_rx_ms > CLIENT__SILENT_MS) {
      client__drop(conn, "the server stopped answering");
      break;
    }
    if (now - conn->last_ping_ms >= CLIENT__PING_MS)
      client__send_ping(conn);
    if (conn->push_inflight && now - conn->push_sent_ms > CLIENT__PUSH_STALE_MS)
      conn->push_inflight = false;
    /* A server that cannot fit a page into one frame may never answer;
     * asking for less keeps the tablet moving. A late answer to the old
     * pull is still applied if it continues from the cursor; the answer to
     * the new one then no longer does and just prompts another pull. */
    if (conn->pull_inflight && now - conn->pull_sent_ms > CLIENT__PULL_STALE_MS) {
      conn->pull_inflight = false;
      conn->pull_limit = conn->pull_limit > 1 ? conn->pull_limit / 2 : 1;
      client__pull(conn);
    }
    /* Also picks up ops another process recorded into the same file. */
    client__push(conn);
    client__check_synced(conn);
    break;
  case CLIENT__IDLE:
  default:
    break;
  }
}

/* ---- public -------------------------------------------------------------- */

client_t *client_new(uv_loop_t *loop) { return client_new_opts(loop, NULL); }

client_t *client_new_opts(uv_loop_t *loop, const client_options_t *opts) {
  struct lws_context_creation_info info;
  void *foreign[1];
  client_t *c;

  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->loop = loop;
  if (getrandom(&c->rng, sizeof(c->rng), 0) != (ssize_t)sizeof(c->rng) || c->rng == 0)
    c->rng = (uint64_t)uv_hrtime() | 1;

  lws_set_log_level(LLL_ERR, NULL);
  memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = client__protocols;
  /* No permessage-deflate: lws 4.1.6's client-side inflate aborted on
   * assert(priv->rx.avail_out) under the fault tests (turf-chaos storage
   * --fault readonly). turfd still offers it to clients that ask. */
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  foreign[0] = loop;
  info.foreign_loops = foreign;
  info.pcontext = &c->lws;
  info.gid = -1;
  info.uid = -1;
  info.user = c;
  info.timeout_secs = 15;
  info.connect_timeout_secs = 10;
  /* wss:// verifies the server's certificate and name (lws does, unless
   * told not to; we never tell it not to). */
  if (opts != NULL && opts->ca_file != NULL)
    info.client_ssl_ca_filepath = opts->ca_file;
  c->lws = lws_create_context(&info);
  if (c->lws == NULL) {
    fprintf(stderr, "turf-tablet: cannot create the websocket context "
                    "(is the libwebsockets libuv plugin installed?)\n");
    free(c);
    return NULL;
  }
  uv_timer_init(loop, &c->destroy);
  c->destroy.data = c;
  return c;
}

client_conn_t *client_conn_start(client_t *c, local_t *local,
                                 const client_conn_options_t *opts) {
  client_conn_t *conn;

  if (c->closing)
    return NULL;
  conn = calloc(1, sizeof(*conn));
  if (conn == NULL)
    return NULL;
  conn->client = c;
  conn->local = local;
  conn->opts = *opts;
  conn->url = strdup(opts->url ? opts->url : "");
  conn->code = opts->code ? strdup(opts->code) : NULL;
  if (conn->url == NULL || (opts->code != NULL && conn->code == NULL)) {
    free(conn->url);
    free(conn->code);
    free(conn);
    return NULL;
  }
  conn->opts.url = conn->url;
  conn->opts.code = conn->code;
  if (client__parse_url(conn, conn->url) != 0) {
    fprintf(stderr, "turf-tablet: bad server URL \"%s\" (want ws://host:port/)\n", conn->url);
    free(conn->url);
    free(conn->code);
    free(conn);
    return NULL;
  }
  uv_timer_init(c->loop, &conn->tick);
  uv_timer_init(c->loop, &conn->retry);
  conn->tick.data = conn;
  conn->retry.data = conn;
  conn->next = c->conns;
  c->conns = conn;
  uv_timer_start(&conn->tick, client__on_tick, CLIENT__TICK_MS, CLIENT__TICK_MS);
  client__connect(conn);
  return conn;
}

void *client_conn_data(const client_conn_t *conn) { return conn->opts.data; }
local_t *client_conn_local(const client_conn_t *conn) { return conn->local; }
client_stats_t client_conn_stats(const client_conn_t *conn) { return conn->stats; }
bool client_conn_ready(const client_conn_t *conn) { return conn->state == CLIENT__READY; }
bool client_conn_synced(const client_conn_t *conn) { return conn->synced; }

static void client__on_destroy_timer(uv_timer_t *t) {
  client_t *c = t->data;
  /* Never from inside an lws callback: that is why this runs on a timer. */
  if (c->lws != NULL)
    lws_context_destroy(c->lws);
  uv_close((uv_handle_t *)&c->destroy, NULL);
}

void client_shutdown(client_t *c) {
  client_conn_t *conn;

  if (c == NULL || c->closing)
    return;
  c->closing = true;
  for (conn = c->conns; conn != NULL; conn = conn->next) {
    uv_close((uv_handle_t *)&conn->tick, NULL);
    uv_close((uv_handle_t *)&conn->retry, NULL);
  }
  uv_timer_start(&c->destroy, client__on_destroy_timer, 0, 0);
}

void client_free(client_t *c) {
  client_conn_t *conn;

  if (c == NULL)
    return;
  client_shutdown(c); /* no-op when already shut down */
  /* lws finishes a foreign-loop teardown in two steps: the first destroy
   * closed its handles on our loop; once they are closed, this second call
   * frees the context. Then let the loop run out whatever is left. */
  uv_run(c->loop, UV_RUN_DEFAULT);
  if (c->lws != NULL)
    lws_context_destroy(c->lws);
  uv_run(c->loop, UV_RUN_DEFAULT);
  while ((conn = c->conns) != NULL) {
    c->conns = conn->next;
    client__free_tx(conn);
    free(conn->rx);
    free(conn->url);
    free(conn->code);
    free(conn);
  }
  free(c);
}
