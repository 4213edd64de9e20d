/* proxy.c — the fault-injecting proxy (see proxy.h).
 *
 * Owns the listener, one pair of TCP handles per tablet connection, and the
 * frames queued on each pair. Each direction of a pair is a flow: bytes are
 * parsed into units (the HTTP upgrade header, then one websocket frame per
 * unit), each unit gets a release time, and units leave strictly in queue
 * order, so a frame held back holds back everything behind it, as a slow
 * link would. Only reordering breaks that order, on purpose: the held frame
 * is queued behind the next whole message (or released alone after
 * PROXY__HOLD_MS).
 *
 * permessage-deflate: when turfd and the tablet negotiate it, the proxy
 * inflates what turfd sends (keeping zlib's context from message to
 * message, as the extension does) so that it still sees every ack. A
 * compressed stream cannot take a duplicated or reordered frame (each
 * message is compressed against the ones before it), so on such a
 * connection only delays apply; proxy_set_plain strips the extension offer
 * from a share of the connections so that the other faults still have
 * somewhere to act.
 *
 * Invariant: a pair's memory is freed only from the last close callback of
 * its three handles; a closing pair accepts no more bytes. */
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define PROXY__TO_SERVER 0
#define PROXY__TO_TABLET 1
#define PROXY__HOLD_MS 200              /* a reordered frame waits at most (ms) */
#define PROXY__MAX_HEADER 16384         /* HTTP upgrade header (bytes) */
#define PROXY__MAX_FRAME (8u << 20)     /* larger is not turf: reset (bytes) */

typedef struct proxy__unit_s proxy__unit_t;
struct proxy__unit_s {
  proxy__unit_t *next;
  uint64_t release_ms; /* loop time it may leave */
  size_t len;
  uint8_t data[];
};

typedef enum { PROXY__HEADER = 0, PROXY__FRAMES, PROXY__RAW } proxy__mode_t;

typedef struct proxy__pair_s proxy__pair_t;

typedef struct {
  proxy__pair_t *pair;
  int dir;
  proxy__mode_t mode;
  uint8_t *in;              /* received, not yet parsed */
  size_t in_len, in_cap;
  uint8_t *msg;             /* unmasked payload of a fragmented message */
  size_t msg_len, msg_cap;
  bool msg_active, msg_binary;
  bool msg_deflated;        /* the message being reassembled is compressed */
  z_stream z;               /* inflater for compressed messages */
  bool z_init;
  proxy__unit_t *head, *tail;
  proxy__unit_t *held;      /* reordered: goes out after the next message */
  uint64_t held_ms;         /* released alone at this loop time */
  uint64_t last_release;    /* release time of the newest queued unit */
  bool ended;               /* the source closed: close once drained */
} proxy__flow_t;

struct proxy__pair_s {
  proxy_t *proxy;
  proxy__pair_t *prev, *next;
  uv_tcp_t tablet;          /* accepted from the tablet */
  uv_tcp_t server;          /* to turfd */
  uv_connect_t connect;
  uv_timer_t timer;         /* next release */
  int handles;              /* open handles; the pair is freed at 0 */
  bool connected, closing;
  bool plain;               /* the extension offer was stripped */
  bool deflate;             /* permessage-deflate was negotiated */
  proxy__flow_t flow[2];
};

struct proxy_s {
  uv_loop_t *loop;
  uv_tcp_t listener;
  bool listener_open;
  bool closing;
  int port, upstream;
  uint64_t rng;
  proxy_faults_t faults[2];
  uint32_t plain_pm;        /* connections whose extension offer is stripped */
  uint64_t down_until;      /* loop time until which connections are refused */
  proxy_frame_cb cb;
  void *data;
  proxy__pair_t *pairs;
  proxy_stats_t stats;
};

typedef struct {
  uv_write_t req;
  proxy__unit_t *unit;
} proxy__write_t;

static void proxy__pump(proxy__pair_t *pair);
static void proxy__on_timer(uv_timer_t *t);
static void proxy__close_pair(proxy__pair_t *pair, bool reset);

/* ---- helpers ------------------------------------------------------------- */

static uint64_t proxy__rand(proxy_t *p) {
  /* xorshift64*: the fault choices replay from the seed */
  p->rng ^= p->rng >> 12;
  p->rng ^= p->rng << 25;
  p->rng ^= p->rng >> 27;
  return p->rng * UINT64_C(2685821657736338717);
}

static bool proxy__roll(proxy_t *p, uint32_t per_mille) {
  return per_mille > 0 && proxy__rand(p) % 1000 < per_mille;
}

static void proxy__maybe_free(proxy_t *p) {
  if (p->closing && !p->listener_open && p->pairs == NULL)
    free(p);
}

static proxy__unit_t *proxy__unit(const uint8_t *data, size_t len) {
  proxy__unit_t *u = malloc(sizeof(*u) + len);
  if (u == NULL)
    return NULL;
  u->next = NULL;
  u->release_ms = 0;
  u->len = len;
  memcpy(u->data, data, len);
  return u;
}

static void proxy__free_units(proxy__unit_t *u) {
  while (u != NULL) {
    proxy__unit_t *next = u->next;
    free(u);
    u = next;
  }
}

/* ---- pair lifetime --------------------------------------------------------- */

static void proxy__on_handle_closed(uv_handle_t *h) {
  proxy__pair_t *pair = h->data;
  proxy_t *p = pair->proxy;

  if (--pair->handles > 0)
    return;
  for (int d = 0; d < 2; d++) {
    proxy__flow_t *f = &pair->flow[d];
    proxy__free_units(f->head);
    proxy__free_units(f->held);
    free(f->in);
    free(f->msg);
    if (f->z_init)
      inflateEnd(&f->z);
  }
  if (pair->prev != NULL)
    pair->prev->next = pair->next;
  else
    p->pairs = pair->next;
  if (pair->next != NULL)
    pair->next->prev = pair->prev;
  free(pair);
  proxy__maybe_free(p);
}

static void proxy__close_tcp(uv_tcp_t *tcp, bool reset) {
  if (uv_is_closing((uv_handle_t *)tcp))
    return;
  /* A reset is what a tablet sees when Wi-Fi drops mid-sentence. */
  if (reset && uv_tcp_close_reset(tcp, proxy__on_handle_closed) == 0)
    return;
  uv_close((uv_handle_t *)tcp, proxy__on_handle_closed);
}

static void proxy__close_pair(proxy__pair_t *pair, bool reset) {
  if (pair->closing)
    return;
  pair->closing = true;
  proxy__close_tcp(&pair->tablet, reset);
  proxy__close_tcp(&pair->server, reset);
  uv_close((uv_handle_t *)&pair->timer, proxy__on_handle_closed);
}

/* ---- sending ---------------------------------------------------------------- */

static void proxy__on_written(uv_write_t *req, int status) {
  proxy__write_t *w = (proxy__write_t *)req;
  proxy__pair_t *pair = req->data;
  free(w->unit);
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    proxy__close_pair(pair, true);
}

static void proxy__enqueue(proxy__flow_t *f, proxy__unit_t *u, uint64_t release) {
  if (release < f->last_release)
    release = f->last_release;
  u->release_ms = release;
  f->last_release = release;
  if (f->tail != NULL)
    f->tail->next = u;
  else
    f->head = u;
  f->tail = u;
}

static void proxy__pump(proxy__pair_t *pair) {
  proxy_t *p = pair->proxy;
  uint64_t now = uv_now(p->loop), wake = UINT64_MAX;

  if (pair->closing)
    return;
  for (int d = 0; d < 2; d++) {
    proxy__flow_t *f = &pair->flow[d];
    uv_tcp_t *target = d == PROXY__TO_SERVER ? &pair->server : &pair->tablet;

    if (f->held != NULL && now >= f->held_ms) {
      proxy__unit_t *u = f->held;
      f->held = NULL;
      proxy__enqueue(f, u, now);
    }
    while (f->head != NULL && f->head->release_ms <= now &&
           (d == PROXY__TO_TABLET || pair->connected)) {
      proxy__unit_t *u = f->head;
      proxy__write_t *w;
      uv_buf_t buf;

      f->head = u->next;
      if (f->head == NULL)
        f->tail = NULL;
      u->next = NULL;
      w = malloc(sizeof(*w));
      if (w == NULL) {
        free(u);
        proxy__close_pair(pair, true);
        return;
      }
      w->unit = u;
      w->req.data = pair;
      buf = uv_buf_init((char *)u->data, (unsigned)u->len);
      if (uv_write(&w->req, (uv_stream_t *)target, &buf, 1, proxy__on_written) != 0) {
        free(u);
        free(w);
        proxy__close_pair(pair, true);
        return;
      }
    }
    if (f->head != NULL && f->head->release_ms > now && f->head->release_ms < wake)
      wake = f->head->release_ms;
    if (f->held != NULL && f->held_ms < wake)
      wake = f->held_ms;
  }
  if ((pair->flow[0].ended && pair->flow[0].head == NULL && pair->flow[0].held == NULL) ||
      (pair->flow[1].ended && pair->flow[1].head == NULL && pair->flow[1].held == NULL)) {
    /* One side hung up and everything it said has been passed on. */
    proxy__close_pair(pair, false);
    return;
  }
  if (wake != UINT64_MAX)
    uv_timer_start(&pair->timer, proxy__on_timer, wake - now, 0);
}

static void proxy__on_timer(uv_timer_t *t) { proxy__pump(t->data); }

/* ---- parsing and faults ------------------------------------------------------ */

/* Queues a unit that is not subject to faults (upgrade header, control
 * frames, fragments), behind everything already queued. */
static int proxy__pass(proxy__flow_t *f, const uint8_t *data, size_t len) {
  proxy__unit_t *u = proxy__unit(data, len);
  if (u == NULL)
    return -1;
  proxy__enqueue(f, u, uv_now(f->pair->proxy->loop));
  return 0;
}

/* Duplicates and reordering hit the frames the issue names: pushes on their
 * way to turfd, and what answers them on the way back. */
static bool proxy__eligible(int dir, int type) {
  if (dir == PROXY__TO_SERVER)
    return type == PROTO_PUSH;
  return type == PROTO_ACK || type == PROTO_CHANGES || type == PROTO_LIVE;
}

/* Queues one whole-message frame, applying this direction's faults. type is
 * the turf frame type, or 0 when the payload did not decode. */
static int proxy__message(proxy__flow_t *f, const uint8_t *data, size_t len, int type) {
  proxy_t *p = f->pair->proxy;
  const proxy_faults_t *fx = &p->faults[f->dir];
  uint64_t now = uv_now(p->loop), release = now;
  proxy__unit_t *u = proxy__unit(data, len);
  bool eligible = !f->pair->deflate && proxy__eligible(f->dir, type);

  if (u == NULL)
    return -1;
  if (fx->delay_max_ms > 0 && proxy__roll(p, fx->delay_pm)) {
    release = now + 1 + proxy__rand(p) % fx->delay_max_ms;
    p->stats.delayed++;
  }
  if (eligible && f->held == NULL && proxy__roll(p, fx->reorder_pm)) {
    u->release_ms = release;
    f->held = u;
    f->held_ms = now + PROXY__HOLD_MS;
    p->stats.reordered++;
    return 0;
  }
  proxy__enqueue(f, u, release);
  if (eligible && proxy__roll(p, fx->dup_pm)) {
    proxy__unit_t *copy = proxy__unit(data, len);
    if (copy == NULL)
      return -1;
    proxy__enqueue(f, copy, release);
    p->stats.duplicated++;
  }
  if (f->held != NULL) {
    proxy__unit_t *held = f->held;
    f->held = NULL;
    proxy__enqueue(f, held, release);
  }
  return 0;
}

/* Inflates one permessage-deflate message (RFC 7692: the sender dropped
 * the final 00 00 ff ff of a sync flush) with the flow's inflater, whose
 * context carries over from the messages before, as the sender's does.
 * A 15-bit window reads whatever window the sender used. On success *out
 * is a new buffer (caller frees). Returns 0 or -1. */
static int proxy__inflate(proxy__flow_t *f, const uint8_t *in, size_t len, uint8_t **out,
                          size_t *out_len) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  size_t cap = len * 4 + 4096, total = 0;
  uint8_t *buf;

  if (!f->z_init) {
    memset(&f->z, 0, sizeof(f->z));
    if (inflateInit2(&f->z, -15) != Z_OK)
      return -1;
    f->z_init = true;
  }
  buf = malloc(cap);
  if (buf == NULL)
    return -1;
  for (int pass = 0; pass < 2; pass++) {
    f->z.next_in = (Bytef *)(pass == 0 ? in : tail);
    f->z.avail_in = (uInt)(pass == 0 ? len : sizeof(tail));
    for (;;) {
      int rc;
      if (cap - total < 4096) {
        uint8_t *more;
        if (cap > PROXY__MAX_FRAME * 2)
          goto fail;
        more = realloc(buf, cap * 2);
        if (more == NULL)
          goto fail;
        buf = more;
        cap *= 2;
      }
      f->z.next_out = buf + total;
      f->z.avail_out = (uInt)(cap - total);
      rc = inflate(&f->z, Z_SYNC_FLUSH);
      total = cap - f->z.avail_out;
      if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
        goto fail;
      if (f->z.avail_in == 0 && f->z.avail_out > 0)
        break;
    }
  }
  *out = buf;
  *out_len = total;
  return 0;

fail:
  free(buf);
  return -1;
}

/* Decodes a whole message; reports frames from turfd to the observer and
 * returns the frame type (0 when it does not decode). */
static int proxy__decode(proxy__flow_t *f, const uint8_t *payload, size_t len) {
  proxy_t *p = f->pair->proxy;
  proto_frame_t *frame = NULL;
  uint8_t *plain = NULL;
  int type;

  if (f->msg_deflated) {
    /* Only turfd's side is read: its context must see every message. */
    if (f->dir != PROXY__TO_TABLET || proxy__inflate(f, payload, len, &plain, &len) != 0)
      return 0;
    payload = plain;
    p->stats.inflated++;
  }
  if (proto_decode(payload, len, &frame) != 0) {
    free(plain);
    return 0;
  }
  free(plain);
  type = (int)frame->type;
  if (f->dir == PROXY__TO_TABLET && p->cb != NULL)
    p->cb(p->data, frame);
  proto_frame_free(frame);
  return type;
}

static int proxy__msg_append(proxy__flow_t *f, const uint8_t *payload, size_t len,
                             const uint8_t *mask) {
  if (f->msg_len + len > PROXY__MAX_FRAME)
    return -1;
  if (f->msg_len + len > f->msg_cap) {
    size_t cap = f->msg_cap ? f->msg_cap : 4096;
    uint8_t *m;
    while (cap < f->msg_len + len)
      cap *= 2;
    m = realloc(f->msg, cap);
    if (m == NULL)
      return -1;
    f->msg = m;
    f->msg_cap = cap;
  }
  for (size_t i = 0; i < len; i++)
    f->msg[f->msg_len + i] = mask ? payload[i] ^ mask[i % 4] : payload[i];
  f->msg_len += len;
  return 0;
}

/* Parses as many whole websocket frames as the buffer holds. Returns the
 * bytes consumed, or -1 to reset the connection. */
static long proxy__parse_frames(proxy__flow_t *f) {
  size_t at = 0;

  while (f->in_len - at >= 2) {
    const uint8_t *b = f->in + at;
    size_t avail = f->in_len - at, hdr = 2;
    uint64_t len = b[1] & 0x7f;
    bool fin = (b[0] & 0x80) != 0, masked = (b[1] & 0x80) != 0;
    int opcode = b[0] & 0x0f;
    const uint8_t *mask = NULL;
    int rc;

    if (len == 126) {
      if (avail < 4)
        break;
      len = (uint64_t)b[2] << 8 | b[3];
      hdr = 4;
    } else if (len == 127) {
      if (avail < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | b[2 + i];
      hdr = 10;
    }
    if (len > PROXY__MAX_FRAME)
      return -1;
    if (masked) {
      if (avail < hdr + 4)
        break;
      mask = b + hdr;
      hdr += 4;
    }
    if (avail < hdr + len)
      break;
    f->pair->proxy->stats.frames++;

    if (opcode >= 8 || (b[0] & 0x30) != 0 || ((b[0] & 0x40) && !f->pair->deflate)) {
      /* Control frames, and anything with an extension bit that was not
       * negotiated, pass untouched. */
      rc = proxy__pass(f, b, hdr + (size_t)len);
    } else if (fin && opcode != 0 && !f->msg_active) {
      /* A whole message in one frame: the usual case for turf frames. */
      int type = 0;
      f->msg_len = 0;
      f->msg_deflated = (b[0] & 0x40) != 0;
      if (opcode == 2 && proxy__msg_append(f, b + hdr, (size_t)len, mask) == 0)
        type = proxy__decode(f, f->msg, f->msg_len);
      f->msg_len = 0;
      rc = proxy__message(f, b, hdr + (size_t)len, type);
    } else {
      /* Fragments keep their order; the message is decoded when whole so
       * that the observer still sees it. */
      if (opcode != 0) {
        f->msg_active = true;
        f->msg_binary = opcode == 2;
        f->msg_deflated = (b[0] & 0x40) != 0;
        f->msg_len = 0;
      }
      rc = proxy__pass(f, b, hdr + (size_t)len);
      if (rc == 0 && f->msg_active && proxy__msg_append(f, b + hdr, (size_t)len, mask) != 0)
        rc = -1;
      if (rc == 0 && fin && f->msg_active) {
        if (f->msg_binary)
          proxy__decode(f, f->msg, f->msg_len);
        f->msg_active = false;
        f->msg_len = 0;
      }
    }
    if (rc != 0)
      return -1;
    at += hdr + (size_t)len;
  }
  return (long)at;
}

/* The header line starting with name (lower case, with its colon), or
 * NULL. */
static uint8_t *proxy__header_line(uint8_t *h, size_t n, const char *name, size_t *line_len) {
  size_t nl = strlen(name);
  for (size_t at = 0; at < n;) {
    uint8_t *eol = memmem(h + at, n - at, "\r\n", 2);
    size_t len = eol ? (size_t)(eol - (h + at)) + 2 : n - at;
    if (len >= nl && strncasecmp((const char *)h + at, name, nl) == 0) {
      *line_len = len;
      return h + at;
    }
    at += len;
  }
  return NULL;
}

static bool proxy__header_has(uint8_t *h, size_t n, const char *name, const char *value) {
  size_t len;
  uint8_t *line = proxy__header_line(h, n, name, &len);
  return line != NULL && memmem(line, len, value, strlen(value)) != NULL;
}

/* Removes the extension offer from the upgrade request in buf (header of
 * n bytes, buffer of *buf_len); returns the header's new length. */
static size_t proxy__strip_extensions(uint8_t *buf, size_t n, size_t *buf_len) {
  size_t len;
  uint8_t *line = proxy__header_line(buf, n, "sec-websocket-extensions:", &len);
  if (line == NULL)
    return n;
  memmove(line, line + len, *buf_len - (size_t)(line - buf) - len);
  *buf_len -= len;
  return n - len;
}

static int proxy__feed(proxy__flow_t *f, const uint8_t *data, size_t len) {
  long used;

  if (f->in_len + len > f->in_cap) {
    size_t cap = f->in_cap ? f->in_cap : 8192;
    uint8_t *in;
    while (cap < f->in_len + len)
      cap *= 2;
    in = realloc(f->in, cap);
    if (in == NULL)
      return -1;
    f->in = in;
    f->in_cap = cap;
  }
  memcpy(f->in + f->in_len, data, len);
  f->in_len += len;

  if (f->mode == PROXY__HEADER) {
    uint8_t *end = memmem(f->in, f->in_len, "\r\n\r\n", 4);
    size_t n;
    if (end == NULL) {
      if (f->in_len > PROXY__MAX_HEADER)
        f->mode = PROXY__RAW;
      return 0;
    }
    n = (size_t)(end - f->in) + 4;
    /* Only a real upgrade is followed by websocket frames; anything else
     * (an http error) passes through as bytes. */
    if (f->dir == PROXY__TO_TABLET && (f->in_len < 12 || memcmp(f->in, "HTTP/1.1 101", 12) != 0))
      f->mode = PROXY__RAW;
    else
      f->mode = PROXY__FRAMES;
    if (f->dir == PROXY__TO_SERVER && f->pair->plain)
      n = proxy__strip_extensions(f->in, n, &f->in_len);
    if (f->dir == PROXY__TO_TABLET)
      f->pair->deflate = proxy__header_has(f->in, n, "sec-websocket-extensions:",
                                           "permessage-deflate");
    if (proxy__pass(f, f->in, n) != 0)
      return -1;
    memmove(f->in, f->in + n, f->in_len - n);
    f->in_len -= n;
  }
  if (f->mode == PROXY__RAW) {
    if (f->in_len > 0 && proxy__pass(f, f->in, f->in_len) != 0)
      return -1;
    f->in_len = 0;
    return 0;
  }
  used = proxy__parse_frames(f);
  if (used < 0)
    return -1;
  memmove(f->in, f->in + used, f->in_len - (size_t)used);
  f->in_len -= (size_t)used;
  return 0;
}

/* ---- libuv callbacks ------------------------------------------------------------ */

static void proxy__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void proxy__on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  proxy__pair_t *pair = stream->data;
  int dir = stream == (uv_stream_t *)&pair->tablet ? PROXY__TO_SERVER : PROXY__TO_TABLET;
  proxy__flow_t *f = &pair->flow[dir];

  if (nread > 0 && !pair->closing) {
    if (proxy__feed(f, (const uint8_t *)buf->base, (size_t)nread) != 0)
      proxy__close_pair(pair, true);
    else
      proxy__pump(pair);
  } else if (nread < 0 && !pair->closing) {
    uv_read_stop(stream);
    f->ended = true;
    proxy__pump(pair);
  }
  free(buf->base);
}

static void proxy__on_connect(uv_connect_t *req, int status) {
  proxy__pair_t *pair = req->data;
  if (pair->closing)
    return;
  if (status != 0) {
    /* turfd is down: the tablet sees its connection closed. (Not reset:
     * see proxy__on_connection.) */
    proxy__close_pair(pair, false);
    return;
  }
  pair->connected = true;
  uv_tcp_nodelay(&pair->server, 1);
  uv_read_start((uv_stream_t *)&pair->server, proxy__alloc, proxy__on_read);
  proxy__pump(pair);
}

static void proxy__on_connection(uv_stream_t *listener, int status) {
  proxy_t *p = listener->data;
  proxy__pair_t *pair;
  struct sockaddr_in addr;

  if (status != 0 || p->closing)
    return;
  pair = calloc(1, sizeof(*pair));
  if (pair == NULL)
    return;
  pair->proxy = p;
  pair->next = p->pairs;
  if (p->pairs != NULL)
    p->pairs->prev = pair;
  p->pairs = pair;
  for (int d = 0; d < 2; d++) {
    pair->flow[d].pair = pair;
    pair->flow[d].dir = d;
  }
  uv_tcp_init(p->loop, &pair->tablet);
  uv_tcp_init(p->loop, &pair->server);
  uv_timer_init(p->loop, &pair->timer);
  pair->tablet.data = pair->server.data = pair->timer.data = pair;
  pair->connect.data = pair;
  pair->handles = 3;
  if (uv_accept(listener, (uv_stream_t *)&pair->tablet) != 0) {
    proxy__close_pair(pair, false);
    return;
  }
  if (uv_now(p->loop) < p->down_until) {
    /* Cut off: closed at once. A reset here, before the tablet's connect
     * has completed, makes libwebsockets 4.1 (Debian 12) leak the poll
     * handle of that attempt (docs/robustness.md, known issues); a
     * close tests the same reconnect path without tripping over it. */
    p->stats.refused++;
    proxy__close_pair(pair, false);
    return;
  }
  p->stats.connections++;
  pair->plain = proxy__roll(p, p->plain_pm);
  uv_tcp_nodelay(&pair->tablet, 1);
  uv_ip4_addr("127.0.0.1", p->upstream, &addr);
  if (uv_tcp_connect(&pair->connect, &pair->server, (const struct sockaddr *)&addr,
                     proxy__on_connect) != 0) {
    proxy__close_pair(pair, true);
    return;
  }
  uv_read_start((uv_stream_t *)&pair->tablet, proxy__alloc, proxy__on_read);
}

static void proxy__on_listener_closed(uv_handle_t *h) {
  proxy_t *p = h->data;
  p->listener_open = false;
  proxy__maybe_free(p);
}

/* ---- public ------------------------------------------------------------------- */

proxy_t *proxy_new(uv_loop_t *loop, int upstream_port, uint64_t seed, proxy_frame_cb cb,
                   void *data) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), rc;
  proxy_t *p = calloc(1, sizeof(*p));

  if (p == NULL)
    return NULL;
  p->loop = loop;
  p->upstream = upstream_port;
  p->rng = seed ? seed : 1;
  p->cb = cb;
  p->data = data;
  uv_tcp_init(loop, &p->listener);
  p->listener.data = p;
  p->listener_open = true;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  rc = uv_tcp_bind(&p->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&p->listener, 64, proxy__on_connection);
  if (rc == 0)
    rc = uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
  if (rc != 0) {
    fprintf(stderr, "proxy: cannot listen on 127.0.0.1: %s\n", uv_strerror(rc));
    p->closing = true;
    uv_close((uv_handle_t *)&p->listener, proxy__on_listener_closed);
    return NULL;
  }
  p->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return p;
}

int proxy_port(const proxy_t *p) { return p->port; }

void proxy_set_faults(proxy_t *p, const proxy_faults_t *to_server,
                      const proxy_faults_t *to_tablet) {
  static const proxy_faults_t none;
  p->faults[PROXY__TO_SERVER] = to_server ? *to_server : none;
  p->faults[PROXY__TO_TABLET] = to_tablet ? *to_tablet : none;
}

void proxy_set_plain(proxy_t *p, uint32_t per_mille) { p->plain_pm = per_mille; }

void proxy_cut(proxy_t *p, uint64_t down_ms) {
  p->down_until = uv_now(p->loop) + down_ms;
  for (proxy__pair_t *pair = p->pairs; pair != NULL; pair = pair->next) {
    if (!pair->closing) {
      p->stats.cuts++;
      proxy__close_pair(pair, true);
    }
  }
}

bool proxy_idle(const proxy_t *p) {
  for (const proxy__pair_t *pair = p->pairs; pair != NULL; pair = pair->next) {
    if (pair->closing)
      continue;
    for (int d = 0; d < 2; d++)
      if (pair->flow[d].head != NULL || pair->flow[d].held != NULL)
        return false;
  }
  return true;
}

proxy_stats_t proxy_stats(const proxy_t *p) { return p->stats; }

void proxy_close(proxy_t *p) {
  if (p == NULL || p->closing)
    return;
  p->closing = true;
  for (proxy__pair_t *pair = p->pairs; pair != NULL; pair = pair->next)
    proxy__close_pair(pair, false);
  uv_close((uv_handle_t *)&p->listener, proxy__on_listener_closed);
}
