/* btab.c — simulated tablets (see btab.h).
 *
 * Owns the lws client context, the pool's timers and each tablet's socket
 * buffers and outbox. The protocol steps follow clients/sample/client.c so
 * that the server sees the traffic a real tablet makes; only the local
 * replica is left out. */
#include "btab.h"

#include "bframe.h"
#include "bstat.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BTAB__APP "turf-bench/0.1"
#define BTAB__PUSH_BATCH 500 /* ops per push, as the sample client */
#define BTAB__PULL_LIMIT 500 /* ops per pull, as the sample client */
#define BTAB__TICK_MS 100    /* retry pushes refused for rate or storage (ms) */

typedef struct btab_tx_s {
  proto_buf_t buf; /* LWS_PRE headroom, one encoded frame */
  struct btab_tx_s *next;
} btab_tx_t;

struct btab_pool_s {
  uv_loop_t *loop;
  struct lws_context *lws; /* cleared by lws (info.pcontext) once destroyed */
  btab_callbacks_t cb;
  char host[256], path[256];
  int port;
  uv_timer_t tick, destroy;
  bool closing;
  uint32_t open;           /* tablets with a socket */
  btab_t **all;            /* every tablet initialised on this pool */
  uint32_t nall, capall;
  /* the coordinator dashboard's socket (btab_dash_connect), if any */
  struct lws *dash_wsi;
  bool dash_open;
  btab_dash_cb dash_cb;
  void *dash_data;
  char dash_cookie[256];   /* "turf_session=..." or "" */
  uint8_t *dash_rx;
  size_t dash_len, dash_cap;
  bframe_buf_t changes;    /* ops of the changes or live frame being applied */
};

/* ---- small helpers ------------------------------------------------------- */

uint64_t btab_rand(uint64_t *s) {
  /* xorshift64*: reproducible test data from a seed */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

int64_t btab_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void btab_uuid7(uint64_t *rng, int64_t ms, char out[37]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  uint64_t r1 = btab_rand(rng), r2 = btab_rand(rng);
  for (int i = 0; i < 6; i++) b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
  for (int i = 6; i < 16; i++) b[i] = (unsigned char)((i < 11 ? r1 : r2) >> (8 * (i % 8)));
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hex[b[i] >> 4];
    *o++ = hex[b[i] & 15];
  }
  *o = '\0';
}

static uint64_t btab__now_ns(void) { return uv_hrtime(); }

static void btab__tcp_bytes(struct lws *wsi, uint64_t *out, uint64_t *in) {
  bstat_tcp_bytes(wsi ? (int)lws_get_socket_fd(wsi) : -1, out, in);
}

void btab_bytes(const btab_t *t, uint64_t *out, uint64_t *in) {
  uint64_t o = 0, i = 0;
  if (t->wsi && t->state >= BTAB_HELLO) btab__tcp_bytes(t->wsi, &o, &i);
  *out = t->bytes_out + o;
  *in = t->bytes_in + i;
}

static void btab__free_tx(btab_t *t) {
  while (t->tx_head) {
    btab_tx_t *tx = t->tx_head;
    t->tx_head = tx->next;
    proto_buf_dispose(&tx->buf);
    free(tx);
  }
  t->tx_tail = NULL;
}

static int btab__send(btab_t *t, const proto_frame_t *f) {
  btab_tx_t *tx;
  if (!t->wsi) return -1;
  tx = calloc(1, sizeof *tx);
  if (!tx) return -1;
  proto_buf_init(&tx->buf, LWS_PRE);
  if (proto_encode(f, &tx->buf) != 0) {
    fprintf(stderr, "bench: cannot encode frame type %d\n", (int)f->type);
    proto_buf_dispose(&tx->buf);
    free(tx);
    return -1;
  }
  if (t->tx_tail)
    t->tx_tail->next = tx;
  else
    t->tx_head = tx;
  t->tx_tail = tx;
  lws_callback_on_writable(t->wsi);
  return 0;
}

/* Closes from the next writable callback (returning -1 there closes at
 * once; an lws timeout would only be looked at once a second). */
static void btab__drop(btab_t *t) {
  if (t->state == BTAB_IDLE) return;
  t->closing = true;
  if (t->wsi) lws_callback_on_writable(t->wsi);
}

/* ---- sync steps ---------------------------------------------------------- */

uint32_t btab_waiting(const btab_t *t) {
  return t->outbox.nops > t->acked ? (uint32_t)(t->outbox.nops - t->acked) : 0;
}

static void btab__pull(btab_t *t) {
  proto_frame_t f;
  if (t->state != BTAB_READY || t->no_pull) return;
  if (t->pull_inflight) {
    t->pull_again = true;
    return;
  }
  memset(&f, 0, sizeof f);
  f.type = PROTO_PULL;
  f.u.pull.cursor = t->cursor;
  f.u.pull.limit = t->pull_limit ? t->pull_limit : BTAB__PULL_LIMIT;
  if (btab__send(t, &f) != 0) {
    btab__drop(t);
    return;
  }
  t->pull_inflight = true;
  t->caught_up = false;
  t->idle_reported = false;
}

void btab_kick(btab_t *t) {
  proto_frame_t f;
  uint32_t waiting = btab_waiting(t), n;
  if (t->state != BTAB_READY || t->push_inflight || waiting == 0) return;
  n = waiting < t->push_batch ? waiting : t->push_batch;
  memset(&f, 0, sizeof f);
  f.type = PROTO_PUSH;
  f.u.push.ops = &t->outbox.ops[t->acked];
  f.u.push.nops = n;
  f.u.push.outbox = waiting - n;
  if (btab__send(t, &f) != 0) {
    btab__drop(t);
    return;
  }
  t->push_inflight = true;
  t->push_sent_ns = btab__now_ns();
  for (uint32_t i = 0; i < n; i++) t->outbox.sent_ns[t->acked + i] = t->push_sent_ns;
  t->idle_reported = false;
}

static void btab__check_idle(btab_t *t) {
  btab_pool_t *pool = t->pool;
  if (t->state != BTAB_READY || t->push_inflight || t->pull_inflight || !t->caught_up ||
      btab_waiting(t) > 0 || t->idle_reported)
    return;
  t->idle_reported = true;
  if (pool->cb.on_idle) pool->cb.on_idle(t);
}

static void btab__send_hello(btab_t *t) {
  proto_frame_t f;
  memset(&f, 0, sizeof f);
  f.type = PROTO_HELLO;
  f.u.hello.version = PROTO_VERSION;
  f.u.hello.app = proto_str(BTAB__APP);
  f.u.hello.device = proto_str(t->device);
  if (t->token[0])
    f.u.hello.token = proto_str(t->token);
  else
    f.u.hello.code = proto_str(t->code);
  f.u.hello.cursor = t->cursor;
  f.u.hello.outbox = btab_waiting(t);
  f.u.hello.now_ms = btab_wall_ms();
  if (btab__send(t, &f) != 0) {
    btab__drop(t);
    return;
  }
  t->state = BTAB_HELLO;
}

static void btab__on_welcome(btab_t *t, const proto_welcome_t *w) {
  if (w->token.len > 0 && w->token.len < sizeof t->token) {
    memcpy(t->token, w->token.ptr, w->token.len);
    t->token[w->token.len] = '\0';
  }
  if (w->last_seq > t->acked) t->acked = w->last_seq < t->outbox.nops ? w->last_seq : t->outbox.nops;
  t->head = w->head;
  t->state = BTAB_READY;
  t->pull_limit = BTAB__PULL_LIMIT;
  if (t->pool->cb.on_welcome) t->pool->cb.on_welcome(t);
  btab_kick(t);
  btab__pull(t);
}

static void btab__on_ack(btab_t *t, const proto_ack_t *ack) {
  uint64_t before = t->acked, settled = t->acked;
  bool progress = true;
  /* Settled seqs form a prefix of what was pushed: extend it while some
   * range or refusal (other than SEQ_GAP, which is not consumed) continues
   * it. */
  while (progress) {
    progress = false;
    for (uint32_t i = 0; i < ack->nranges; i++)
      if (ack->ranges[i].from <= settled + 1 && ack->ranges[i].to > settled) {
        settled = ack->ranges[i].to;
        progress = true;
      }
    for (uint32_t i = 0; i < ack->nrejects; i++)
      if (ack->rejects[i].seq == settled + 1 && ack->rejects[i].code != -PROTO_ESEQ_GAP) {
        settled++;
        t->rejected++;
        fprintf(stderr, "bench: %s seq %llu refused: %s\n", t->device,
                (unsigned long long)ack->rejects[i].seq, proto_errname(ack->rejects[i].code));
        progress = true;
      }
  }
  if (settled > t->outbox.nops) settled = t->outbox.nops;
  t->acked = settled;
  t->push_inflight = false;
  if (t->pool->cb.on_ack) t->pool->cb.on_ack(t, ack, t->push_sent_ns);
  /* Our ops are committed: pull them back, as a real tablet does. */
  if (t->acked > before) btab__pull(t);
  btab_kick(t);
}

/* Applies a changes or live page if it continues from the cursor; returns
 * false when it does not (the caller pulls). */
static bool btab__apply(btab_t *t, const proto_changes_t *ch, bool live) {
  if (ch->from != t->cursor) return false;
  for (uint32_t i = 0; i < ch->nops; i++) {
    const proto_op_t *op = &ch->ops[i];
    if (op->server_seq != t->cursor + 1) {
      fprintf(stderr, "bench: %s got server_seq %llu after %llu\n", t->device,
              (unsigned long long)op->server_seq, (unsigned long long)t->cursor);
      return false;
    }
    t->cursor = op->server_seq;
    t->applied++;
    hlc_observe(&t->clock, op->hlc);
    if (t->pool->cb.on_op) t->pool->cb.on_op(t, op, live);
  }
  t->cursor = ch->cursor;
  return true;
}

static void btab__on_changes(btab_t *t, const proto_changes_t *ch) {
  bool applied;
  t->pull_inflight = false;
  applied = btab__apply(t, ch, false);
  if (!applied || ch->more || t->pull_again) {
    t->pull_again = false;
    btab__pull(t);
    return;
  }
  t->caught_up = true;
}

static void btab__on_live(btab_t *t, const proto_changes_t *ch) {
  if (t->pull_inflight || !t->caught_up) {
    btab__pull(t);
    return;
  }
  if (!btab__apply(t, ch, true)) btab__pull(t);
}

static void btab__on_error(btab_t *t, const proto_error_t *e) {
  int code = -(int)e->code;
  if (code == PROTO_ERATE_LIMITED || code == PROTO_ESTORAGE) {
    t->push_inflight = false; /* the tick pushes it again */
    return;
  }
  fprintf(stderr, "bench: %s: server error %s: %.*s\n", t->device, proto_errname(code),
          (int)e->message.len, e->message.ptr ? e->message.ptr : "");
}

static int btab__on_message(btab_t *t, const uint8_t *msg, size_t len) {
  proto_frame_t *f = NULL, pong;
  proto_changes_t ch;
  int rc;

  /* Changes and live frames, nearly all of the traffic, are read in place;
   * bframe_changes accepts only what proto_decode would, and leaves the
   * rest to it. */
  switch (bframe_changes(msg, len, &t->pool->changes, &ch)) {
  case PROTO_CHANGES:
    btab__on_changes(t, &ch);
    btab__check_idle(t);
    return 0;
  case PROTO_LIVE:
    btab__on_live(t, &ch);
    btab__check_idle(t);
    return 0;
  default:
    break;
  }
  rc = proto_decode(msg, len, &f);
  if (rc != 0) {
    fprintf(stderr, "bench: undecodable frame: %s\n", proto_strerror(rc));
    return -1;
  }
  switch (f->type) {
  case PROTO_WELCOME:
    btab__on_welcome(t, &f->u.welcome);
    break;
  case PROTO_ACK:
    btab__on_ack(t, &f->u.ack);
    break;
  case PROTO_CHANGES:
    btab__on_changes(t, &f->u.changes);
    break;
  case PROTO_LIVE:
    btab__on_live(t, &f->u.changes);
    break;
  case PROTO_ERROR:
    btab__on_error(t, &f->u.error);
    break;
  case PROTO_PING:
    memset(&pong, 0, sizeof pong);
    pong.type = PROTO_PONG;
    pong.u.ping.nonce = f->u.ping.nonce;
    btab__send(t, &pong);
    break;
  default:
    break;
  }
  proto_frame_free(f);
  btab__check_idle(t);
  return 0;
}

static void btab__lost(btab_t *t, bool error) {
  btab_pool_t *pool = t->pool;
  if (t->state == BTAB_IDLE) return;
  t->state = BTAB_IDLE;
  t->wsi = NULL;
  pool->open--;
  btab__free_tx(t);
  t->rx_len = 0;
  t->push_inflight = t->pull_inflight = t->pull_again = t->caught_up = false;
  t->idle_reported = t->closing = false;
  if (pool->cb.on_close && !pool->closing) pool->cb.on_close(t, error);
}

static int btab__lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len) {
  btab_t *t = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  (void)user;
  if (!t) return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (t->state == BTAB_CONNECTING && (!t->wsi || t->wsi == wsi)) {
      fprintf(stderr, "bench: %s cannot connect: %s\n", t->device,
              in ? (const char *)in : "(no reason)");
      btab__lost(t, true);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (t->state != BTAB_CONNECTING || t->closing) return -1;
    t->wsi = wsi;
    btab__send_hello(t);
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (t->wsi != wsi) return -1;
    if (t->rx_len == 0 && lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
      return btab__on_message(t, in, len); /* whole in one piece: no copy */
    if (t->rx_len + len > t->rx_cap) {
      size_t cap = t->rx_cap ? t->rx_cap : 4096;
      while (cap < t->rx_len + len) cap *= 2;
      uint8_t *p = realloc(t->rx, cap);
      if (!p) return -1;
      t->rx = p;
      t->rx_cap = cap;
    }
    if (len) memcpy(t->rx + t->rx_len, in, len);
    t->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
    len = t->rx_len;
    t->rx_len = 0;
    return btab__on_message(t, t->rx, len);
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    if (t->wsi != wsi || t->closing) return -1;
    for (int i = 0; i < 8 && t->tx_head; i++) {
      btab_tx_t *tx = t->tx_head;
      int n = lws_write(wsi, proto_buf_data(&tx->buf), tx->buf.len, LWS_WRITE_BINARY);
      if (n < 0 || (size_t)n < tx->buf.len) return -1;
      t->tx_head = tx->next;
      if (!t->tx_head) t->tx_tail = NULL;
      proto_buf_dispose(&tx->buf);
      free(tx);
      /* lws_send_pipe_choked polls the socket: ask only if more is queued */
      if (!t->tx_head || lws_send_pipe_choked(wsi)) break;
    }
    if (t->tx_head) lws_callback_on_writable(wsi);
    return 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_WSI_DESTROY:
    if (t->wsi == wsi && t->state != BTAB_IDLE) {
      uint64_t o, i;
      btab__tcp_bytes(wsi, &o, &i);
      t->bytes_out += o;
      t->bytes_in += i;
      btab__lost(t, false);
    }
    return 0;
  default:
    return 0;
  }
}

/* The dashboard's socket: whole messages go to the pool's dash_cb. */
static int btab__dash_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  btab_pool_t *pool = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  (void)user;
  if (!pool) return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    /* The coordinator's session (the dashboard refuses anyone else). */
    unsigned char **p = in, *end = *p + len;
    if (pool->dash_cookie[0] &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_COOKIE,
                                     (const unsigned char *)pool->dash_cookie,
                                     (int)strlen(pool->dash_cookie), p, end))
      return -1;
    return 0;
  }
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    pool->dash_wsi = wsi;
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (pool->dash_len + len > pool->dash_cap) {
      size_t cap = pool->dash_cap ? pool->dash_cap : 65536;
      while (cap < pool->dash_len + len) cap *= 2;
      uint8_t *p = realloc(pool->dash_rx, cap);
      if (!p) return -1;
      pool->dash_rx = p;
      pool->dash_cap = cap;
    }
    if (len) memcpy(pool->dash_rx + pool->dash_len, in, len);
    pool->dash_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
    if (pool->dash_cb) pool->dash_cb(pool->dash_data, (const char *)pool->dash_rx, pool->dash_len);
    pool->dash_len = 0;
    return 0;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return pool->closing ? -1 : 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    fprintf(stderr, "bench: dashboard: cannot connect: %s\n", in ? (const char *)in : "?");
    /* fall through */
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (pool->dash_open) {
      pool->dash_open = false;
      pool->dash_wsi = NULL;
      pool->open--;
    }
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols btab__protocols[] = {
    {PROTO_SUBPROTOCOL, btab__lws_cb, 0, 65536, 0, NULL, 0},
    {BTAB_DASH_SUBPROTOCOL, btab__dash_cb, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int btab_dash_connect(btab_pool_t *pool, const char *cookie, btab_dash_cb cb, void *data) {
  struct lws_client_connect_info i;

  if (pool->closing || pool->dash_open || !pool->lws) return -1;
  snprintf(pool->dash_cookie, sizeof pool->dash_cookie, "%s", cookie ? cookie : "");
  memset(&i, 0, sizeof i);
  i.context = pool->lws;
  i.address = pool->host;
  i.port = pool->port;
  i.path = "/";
  i.host = pool->host;
  /* No Origin: not a browser (the dashboard refuses other sites' pages). */
  i.protocol = BTAB_DASH_SUBPROTOCOL;
  i.local_protocol_name = BTAB_DASH_SUBPROTOCOL;
  i.opaque_user_data = pool;
  pool->dash_cb = cb;
  pool->dash_data = data;
  pool->dash_open = true;
  pool->open++;
  if (!lws_client_connect_via_info(&i) && pool->dash_open) {
    pool->dash_open = false;
    pool->open--;
    return -1;
  }
  return 0;
}

/* lws's permessage-deflate with a transmit buffer that holds a whole
 * frame (see the same wrapper in server/ws.c for why). */
static int btab__pmd(struct lws_context *context, const struct lws_extension *ext,
                     struct lws *wsi, enum lws_extension_callback_reasons reason, void *user,
                     void *in, size_t len) {
  int rc = lws_extension_callback_pm_deflate(context, ext, wsi, reason, user, in, len);
  if (rc != 0 || (reason != LWS_EXT_CB_CLIENT_CONSTRUCT && reason != LWS_EXT_CB_OPTION_DEFAULT))
    return rc;
  struct lws_ext_option_arg oa = {"tx_buf_size", 0, "21", 2};
  lws_extension_callback_pm_deflate(context, ext, wsi, LWS_EXT_CB_NAMED_OPTION_SET,
                                    reason == LWS_EXT_CB_CLIENT_CONSTRUCT ? *(void **)user : user,
                                    &oa, 0);
  return 0;
}

/* Context takeover both ways (the default): what lets small frames that
 * repeat the ids of earlier ones shrink. */
static const struct lws_extension btab__exts[] = {
    {"permessage-deflate", btab__pmd, "permessage-deflate; client_max_window_bits"},
    {NULL, NULL, NULL},
};

/* ---- pool ---------------------------------------------------------------- */

static void btab__on_tick(uv_timer_t *timer) {
  btab_pool_t *pool = timer->data;
  for (uint32_t i = 0; i < pool->nall; i++) btab_kick(pool->all[i]);
}

btab_pool_t *btab_pool_new(uv_loop_t *loop, const char *url, bool deflate) {
  struct lws_context_creation_info info;
  void *foreign[1] = {loop};
  btab_pool_t *pool = calloc(1, sizeof *pool);
  const char *p, *colon, *slash;

  if (!pool) return NULL;
  pool->loop = loop;
  if (strncmp(url, "ws://", 5) != 0) goto bad_url;
  p = url + 5;
  slash = strchr(p, '/');
  colon = strchr(p, ':');
  if (!colon || (slash && colon > slash)) goto bad_url;
  snprintf(pool->host, sizeof pool->host, "%.*s", (int)(colon - p), p);
  pool->port = atoi(colon + 1);
  snprintf(pool->path, sizeof pool->path, "%s", slash ? slash : "/");
  if (pool->port <= 0) goto bad_url;

  lws_set_log_level(LLL_ERR, NULL);
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = btab__protocols;
  info.extensions = deflate ? btab__exts : NULL;
  info.options = LWS_SERVER_OPTION_LIBUV;
  info.foreign_loops = foreign;
  info.pcontext = &pool->lws;
  info.gid = -1;
  info.uid = -1;
  info.timeout_secs = 30;
  info.connect_timeout_secs = 30;
  /* lws reads a socket into this buffer, 4 KiB by default: a storm's
   * 200 MB of changes frames took 65,000 recv calls (13,000 with 64 KiB).
   * One buffer per service thread, not per connection. */
  info.pt_serv_buf_size = 65536;
  pool->lws = lws_create_context(&info);
  if (!pool->lws) {
    fprintf(stderr, "bench: cannot create the lws context\n");
    free(pool);
    return NULL;
  }
  uv_timer_init(loop, &pool->tick);
  uv_timer_init(loop, &pool->destroy);
  pool->tick.data = pool->destroy.data = pool;
  uv_timer_start(&pool->tick, btab__on_tick, BTAB__TICK_MS, BTAB__TICK_MS);
  return pool;

bad_url:
  fprintf(stderr, "bench: want ws://HOST:PORT[/path], not %s\n", url);
  free(pool);
  return NULL;
}

void btab_pool_set_callbacks(btab_pool_t *pool, const btab_callbacks_t *cb) { pool->cb = *cb; }
uint32_t btab_pool_open(const btab_pool_t *pool) { return pool->open; }

static void btab__on_destroy(uv_timer_t *timer) {
  btab_pool_t *pool = timer->data;
  /* Never from inside an lws callback: hence this timer. */
  if (pool->lws) lws_context_destroy(pool->lws);
  uv_close((uv_handle_t *)&pool->destroy, NULL);
}

void btab_pool_shutdown(btab_pool_t *pool) {
  if (pool->closing) return;
  pool->closing = true;
  for (uint32_t i = 0; i < pool->nall; i++) btab_close(pool->all[i]);
  if (pool->dash_wsi) lws_callback_on_writable(pool->dash_wsi);
  uv_close((uv_handle_t *)&pool->tick, NULL);
  uv_timer_start(&pool->destroy, btab__on_destroy, 0, 0);
}

void btab_pool_free(btab_pool_t *pool) {
  if (!pool) return;
  btab_pool_shutdown(pool);
  uv_run(pool->loop, UV_RUN_DEFAULT);
  if (pool->lws) lws_context_destroy(pool->lws);
  uv_run(pool->loop, UV_RUN_DEFAULT);
  free(pool->all);
  free(pool->dash_rx);
  bframe_buf_dispose(&pool->changes);
  free(pool);
}

/* ---- tablets ------------------------------------------------------------- */

void btab_init(btab_t *t, btab_pool_t *pool, uint32_t index, uint32_t org, uint64_t *rng) {
  memset(t, 0, sizeof *t);
  t->pool = pool;
  t->index = index;
  t->org = org;
  t->push_batch = BTAB__PUSH_BATCH;
  btab_uuid7(rng, btab_wall_ms(), t->device);
  hlc_init(&t->clock, 0);
  if (pool->nall == pool->capall) {
    uint32_t cap = pool->capall ? pool->capall * 2 : 64;
    btab_t **all = realloc(pool->all, cap * sizeof *all);
    if (!all) abort(); /* a benchmark without memory has nothing to measure */
    pool->all = all;
    pool->capall = cap;
  }
  pool->all[pool->nall++] = t;
}

void btab_dispose(btab_t *t) {
  btab__free_tx(t);
  free(t->rx);
  for (uint32_t i = 0; i < t->outbox.nops; i++) free(t->outbox.mem[i]);
  free(t->outbox.ops);
  free(t->outbox.mem);
  free(t->outbox.sent_ns);
  memset(&t->outbox, 0, sizeof t->outbox);
}

int btab_connect(btab_t *t) {
  btab_pool_t *pool = t->pool;
  struct lws_client_connect_info i;
  struct lws *wsi;

  if (pool->closing || t->state != BTAB_IDLE || !pool->lws) return -1;
  memset(&i, 0, sizeof i);
  i.context = pool->lws;
  i.address = pool->host;
  i.port = pool->port;
  i.path = pool->path;
  i.host = pool->host;
  i.origin = pool->host;
  i.protocol = PROTO_SUBPROTOCOL;
  i.local_protocol_name = PROTO_SUBPROTOCOL;
  i.opaque_user_data = t;
  t->state = BTAB_CONNECTING;
  t->wsi = NULL;
  pool->open++;
  wsi = lws_client_connect_via_info(&i);
  if (t->state != BTAB_CONNECTING) return -1; /* failed inside the call */
  if (!wsi) {
    btab__lost(t, true);
    return -1;
  }
  t->wsi = wsi;
  return 0;
}

void btab_close(btab_t *t) { btab__drop(t); }

int btab_record(btab_t *t, uint8_t type, const char *key, const char *key2,
                const proto_field_t *fields, uint32_t nfields) {
  btab_outbox_t *ob = &t->outbox;
  size_t klen = strlen(key), k2len = key2 ? strlen(key2) : 0, size;
  proto_op_t *op;
  proto_buf_t raw;
  char *mem, *at;

  if (ob->nops == ob->cap) {
    uint32_t cap = ob->cap ? ob->cap * 2 : 64;
    proto_op_t *ops = realloc(ob->ops, cap * sizeof *ops);
    if (!ops) return -1;
    ob->ops = ops;
    void **m = realloc(ob->mem, cap * sizeof *m);
    if (!m) return -1;
    ob->mem = m;
    uint64_t *s = realloc(ob->sent_ns, cap * sizeof *s);
    if (!s) return -1;
    ob->sent_ns = s;
    ob->cap = cap;
  }
  op = &ob->ops[ob->nops];
  memset(op, 0, sizeof *op);
  op->seq = ob->nops + 1;
  op->hlc = hlc_now(&t->clock, btab_wall_ms());
  op->base = t->cursor;
  op->type = type;
  op->nfields = nfields;
  op->fields = (proto_field_t *)fields; /* only for encoding, below */
  proto_buf_init(&raw, 0);
  if (proto_encode_fields(op, &raw) != 0) {
    proto_buf_dispose(&raw);
    return -1;
  }
  size = klen + k2len + raw.len;
  mem = malloc(size ? size : 1);
  if (!mem) {
    proto_buf_dispose(&raw);
    return -1;
  }
  at = mem;
  memcpy(at, key, klen);
  op->key = (proto_str_t){at, (uint32_t)klen};
  at += klen;
  if (k2len) memcpy(at, key2, k2len);
  op->key2 = (proto_str_t){k2len ? at : NULL, (uint32_t)k2len};
  at += k2len;
  memcpy(at, proto_buf_data(&raw), raw.len);
  op->fields_raw = (proto_str_t){at, (uint32_t)raw.len};
  proto_buf_dispose(&raw);
  /* The encoder sends fields_raw; the decoded fields are not needed. */
  op->fields = NULL;
  op->nfields = 0;
  ob->mem[ob->nops] = mem;
  ob->sent_ns[ob->nops] = 0;
  ob->nops++;
  return 0;
}

uint64_t btab_sent_ns(const btab_t *t, uint64_t seq) {
  if (seq == 0 || seq > t->outbox.nops) return 0;
  return t->outbox.sent_ns[seq - 1];
}
