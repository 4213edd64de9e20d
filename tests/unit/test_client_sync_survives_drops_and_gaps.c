/* The sync connection against a scripted server on the same loop: it
 * enrols with the code and keeps the token; when the server commits a push
 * but the connection drops before the ack, it reconnects (with backoff) and
 * sends those ops again, once, to learn how each was decided (the welcome's
 * `last` says they were, not whether they were accepted); a
 * SEQ_GAP makes it resend from the first unacked op; a refused op goes to
 * attention without blocking the ones after it; a live frame that does not
 * continue from the cursor makes it pull, page by page, until it holds what
 * the server holds. Ends with lws torn down and the loop closed cleanly. */
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "hlc.h"
#include "local.h"
#include "schema.h"

#define FAKE_MAX_OPS 32
#define FAKE_PAGE 2 /* ops per changes frame, to force paging */

typedef struct {
  uv_loop_t *loop;
  struct lws_context *ctx;
  int port;
  struct lws *wsi;             /* the tablet's current connection */
  proto_buf_t tx[16];          /* queued frames */
  int ntx;
  uint8_t rx[1 << 16];
  size_t rx_len;

  char device[PROTO_MAX_ID_BYTES + 1];
  uint64_t last_seq;           /* highest seq of the tablet held */
  uint64_t head;
  proto_op_t ops[FAKE_MAX_OPS]; /* committed, index = server_seq - 1 */
  proto_field_t other_fields[4];
  proto_frame_t *kept[FAKE_MAX_OPS]; /* push frames the stored ops point into */
  int nkept;

  int hellos, hellos_with_code, hellos_with_token;
  bool dropped;                /* session 1 lost its ack */
  bool gapped;                 /* one SEQ_GAP sent */
  bool live_sent;
  int resent;                  /* ops pushed that the server already held */
} fake_t;

typedef struct {
  fake_t *fake;
  client_t *client;
  local_t *local;
  client_conn_t *conn;
  uv_timer_t deadline;
  uv_timer_t finish; /* ends the test from outside any lws callback */
  bool done;
  bool recorded_more;
} test_t;

static uint8_t field_id(uint8_t type, const char *name) {
  const schema_type_t *t = schema_type(type);
  for (uint32_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0)
      return t->fields[i].id;
  abort();
}

static void record_status(local_t *l, const char *person, const char *status) {
  proto_field_t f = {field_id(SCHEMA_CHECKIN, "status"), {.type = PROTO_STR}};
  proto_op_t op;
  f.value.u.s = proto_str(status);
  memset(&op, 0, sizeof(op));
  op.type = SCHEMA_CHECKIN;
  op.key = PROTO_STR("s1");
  op.key2 = proto_str(person);
  op.fields = &f;
  op.nfields = 1;
  CHECK_EQ_INT(local_record(l, &op, NULL, NULL, NULL), 0);
}

/* ---- the scripted server ------------------------------------------------- */

static void fake_send(fake_t *f, const proto_frame_t *frame) {
  CHECK(f->ntx < 16);
  proto_buf_init(&f->tx[f->ntx], LWS_PRE);
  CHECK_EQ_INT(proto_encode(frame, &f->tx[f->ntx]), 0);
  f->ntx++;
  lws_callback_on_writable(f->wsi);
}

/* Commits an op of "other" and tells the tablet live, with `from` the
 * server_seq before it (the tablet's own latest op is in between, so the
 * tablet must notice the gap and pull). */
static void fake_commit_other(fake_t *f) {
  proto_frame_t live;
  proto_op_t *op = &f->ops[f->head];
  memset(op, 0, sizeof(*op));
  f->other_fields[0].id = field_id(SCHEMA_CHECKIN, "status");
  f->other_fields[0].value.type = PROTO_STR;
  f->other_fields[0].value.u.s = PROTO_STR("excused");
  op->device = PROTO_STR("other-tablet");
  op->seq = 1;
  op->hlc = HLC_MAKE(1700000000000, 0);
  op->server_seq = ++f->head;
  op->type = SCHEMA_CHECKIN;
  op->key = PROTO_STR("s1");
  op->key2 = PROTO_STR("p-other");
  op->fields = f->other_fields;
  op->nfields = 1;
  memset(&live, 0, sizeof(live));
  live.type = PROTO_LIVE;
  live.u.changes.from = f->head - 1;
  live.u.changes.cursor = f->head;
  live.u.changes.ops = op;
  live.u.changes.nops = 1;
  fake_send(f, &live);
}

/* Returns 0, or -1 to drop the connection. */
static int fake_on_frame(fake_t *f, proto_frame_t *in) {
  proto_frame_t out;
  proto_range_t ranges[FAKE_MAX_OPS];
  proto_reject_t rejects[FAKE_MAX_OPS];
  uint32_t i;

  memset(&out, 0, sizeof(out));
  switch (in->type) {
  case PROTO_HELLO: {
    proto_hello_t *h = &in->u.hello;
    f->hellos++;
    f->hellos_with_code += h->code.len > 0;
    f->hellos_with_token += proto_str_eq(h->token, PROTO_STR("tok-fake"));
    CHECK(h->device.len > 0 && h->device.len <= PROTO_MAX_ID_BYTES);
    memcpy(f->device, h->device.ptr, h->device.len);
    f->device[h->device.len] = '\0';
    out.type = PROTO_WELCOME;
    out.u.welcome.version = PROTO_VERSION;
    out.u.welcome.now_ms = h->now_ms;
    out.u.welcome.head = f->head;
    out.u.welcome.last_seq = f->last_seq;
    out.u.welcome.org = PROTO_STR("Testorg");
    if (h->code.len > 0)
      out.u.welcome.token = PROTO_STR("tok-fake");
    fake_send(f, &out);
    return 0;
  }
  case PROTO_PUSH: {
    proto_push_t *p = &in->u.push;
    bool keep = false;
    out.type = PROTO_ACK;
    out.u.ack.ranges = ranges;
    out.u.ack.rejects = rejects;
    memset(rejects, 0, sizeof(rejects));
    CHECK(p->nops <= FAKE_MAX_OPS);
    for (i = 0; i < p->nops; i++) {
      proto_op_t *op = &p->ops[i];
      if (op->seq <= f->last_seq) {
        f->resent++;
        ranges[out.u.ack.nranges++] = (proto_range_t){op->seq, op->seq};
        continue;
      }
      /* Once, pretend the first new op skipped a number. */
      if (op->seq > f->last_seq + 1 || (f->dropped && !f->gapped && op->seq == 6)) {
        rejects[out.u.ack.nrejects].seq = op->seq;
        rejects[out.u.ack.nrejects++].code = -PROTO_ESEQ_GAP;
        continue;
      }
      f->last_seq = op->seq;
      if (op->seq == 7) { /* refused: consumes the seq, stores nothing */
        rejects[out.u.ack.nrejects].seq = op->seq;
        rejects[out.u.ack.nrejects].code = -PROTO_EINVALID_OP;
        rejects[out.u.ack.nrejects++].message = PROTO_STR("no such session here");
        continue;
      }
      CHECK(f->head < FAKE_MAX_OPS);
      f->ops[f->head] = *op;
      f->ops[f->head].device = proto_str(f->device);
      f->ops[f->head].server_seq = f->head + 1;
      f->head++;
      keep = true;
      ranges[out.u.ack.nranges++] = (proto_range_t){op->seq, op->seq};
    }
    if (out.u.ack.nrejects > 0 && rejects[0].code == -PROTO_ESEQ_GAP)
      f->gapped = true;
    if (keep) {
      f->kept[f->nkept++] = in; /* stored ops point into it */
    }
    if (!f->dropped) {
      /* Committed, but the connection dies before the ack goes out. */
      f->dropped = true;
      return keep ? 1 : -1;
    }
    fake_send(f, &out);
    if (f->last_seq >= 8 && !f->live_sent) {
      f->live_sent = true;
      fake_commit_other(f);
    }
    return keep ? 2 : 0;
  }
  case PROTO_PULL: {
    proto_pull_t *p = &in->u.pull;
    uint64_t end = p->cursor + FAKE_PAGE;
    uint32_t lim = p->limit < FAKE_PAGE ? p->limit : FAKE_PAGE;
    if (end > f->head)
      end = f->head;
    if (lim == 0)
      lim = FAKE_PAGE;
    out.type = PROTO_CHANGES;
    out.u.changes.from = p->cursor;
    out.u.changes.cursor = p->cursor > f->head ? p->cursor : end;
    out.u.changes.ops = p->cursor < end ? &f->ops[p->cursor] : NULL;
    out.u.changes.nops = p->cursor < end ? (uint32_t)(end - p->cursor) : 0;
    out.u.changes.more = end < f->head;
    CHECK(out.u.changes.nops <= lim);
    fake_send(f, &out);
    return 0;
  }
  case PROTO_PING:
    out.type = PROTO_PONG;
    out.u.ping.nonce = in->u.ping.nonce;
    fake_send(f, &out);
    return 0;
  default:
    return 0;
  }
}

static int fake_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len) {
  fake_t *f = lws_context_user(lws_get_context(wsi));
  proto_frame_t *frame;
  int rc;

  (void)user;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    f->wsi = wsi;
    f->ntx = 0;
    f->rx_len = 0;
    return 0;
  case LWS_CALLBACK_CLOSED:
    if (f->wsi == wsi) {
      f->wsi = NULL;
      for (int i = 0; i < f->ntx; i++)
        proto_buf_dispose(&f->tx[i]);
      f->ntx = 0;
    }
    return 0;
  case LWS_CALLBACK_RECEIVE:
    CHECK(f->rx_len + len <= sizeof(f->rx));
    memcpy(f->rx + f->rx_len, in, len);
    f->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
      return 0;
    CHECK_EQ_INT(proto_decode(f->rx, f->rx_len, &frame), 0);
    f->rx_len = 0;
    rc = fake_on_frame(f, frame);
    if (rc <= 0)
      proto_frame_free(frame); /* else kept: stored ops point into it */
    return rc < 0 || rc == 1 ? -1 : 0;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (f->ntx == 0)
      return 0;
    if (lws_write(wsi, proto_buf_data(&f->tx[0]), f->tx[0].len, LWS_WRITE_BINARY) <
        (int)f->tx[0].len)
      return -1;
    proto_buf_dispose(&f->tx[0]);
    memmove(&f->tx[0], &f->tx[1], sizeof(f->tx[0]) * (size_t)(f->ntx - 1));
    f->ntx--;
    if (f->ntx > 0)
      lws_callback_on_writable(wsi);
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols fake_protocols[] = {
    {PROTO_SUBPROTOCOL, fake_cb, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void fake_start(fake_t *f, uv_loop_t *loop) {
  struct lws_context_creation_info info;
  void *foreign[1] = {loop};

  memset(&info, 0, sizeof(info));
  info.port = 0; /* the kernel picks a free one */
  info.iface = "127.0.0.1";
  info.protocols = fake_protocols;
  info.options = LWS_SERVER_OPTION_LIBUV;
  info.foreign_loops = foreign;
  info.pcontext = &f->ctx;
  info.user = f;
  info.gid = -1;
  info.uid = -1;
  f->loop = loop;
  f->ctx = lws_create_context(&info);
  CHECK(f->ctx != NULL);
  f->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(f->ctx, "default"));
  CHECK(f->port > 0);
}

/* ---- the tablet side ----------------------------------------------------- */

/* A timer callback: lws contexts must not be destroyed from inside lws. */
static void on_finish(uv_timer_t *timer) {
  test_t *t = timer->data;
  uv_close((uv_handle_t *)&t->deadline, NULL);
  uv_close((uv_handle_t *)&t->finish, NULL);
  client_shutdown(t->client);
  lws_context_destroy(t->fake->ctx);
}

static void test_finish(test_t *t) {
  if (t->done)
    return;
  t->done = true;
  uv_timer_start(&t->finish, on_finish, 0, 0);
}

static void on_welcome(client_conn_t *conn, const proto_welcome_t *w) {
  test_t *t = client_conn_data(conn);
  CHECK(proto_str_eq(w->org, PROTO_STR("Testorg")));
  /* Second session: the tablet keeps working while connected. */
  if (client_conn_stats(conn).welcomes == 2 && !t->recorded_more) {
    t->recorded_more = true;
    /* last = 5: decided, kept until their acks come again */
    CHECK_EQ_INT(local_outbox_count(t->local), 5);
    record_status(t->local, "p6", "present");
    record_status(t->local, "p7", "present");
    record_status(t->local, "p8", "absent");
  }
}

static void on_synced(client_conn_t *conn) {
  test_t *t = client_conn_data(conn);
  /* Idle moments before the script has played out do not count. */
  if (t->recorded_more && t->fake->live_sent && local_cursor(t->local) == t->fake->head)
    test_finish(t);
}

static void on_deadline(uv_timer_t *timer) {
  test_t *t = timer->data;
  fprintf(stderr, "deadline: hellos=%d last=%llu head=%llu cursor=%llu outbox=%lld\n",
          t->fake->hellos, (unsigned long long)t->fake->last_seq,
          (unsigned long long)t->fake->head, (unsigned long long)local_cursor(t->local),
          (long long)local_outbox_count(t->local));
  CHECK(!"the script did not complete within 20 s");
}

static int64_t query_int(local_t *l, const char *sql) {
  sqlite3_stmt *st;
  int64_t n = -1;
  CHECK(sqlite3_prepare_v2(local_db(l), sql, -1, &st, NULL) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

int main(void) {
  char path[] = "/tmp/test_client_sync_drops.XXXXXX";
  char url[64], token[64];
  client_conn_options_t co;
  static fake_t fake;
  test_t t;
  uv_loop_t loop;
  client_stats_t stats;
  int fd = mkstemp(path);

  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  memset(&t, 0, sizeof(t));
  t.fake = &fake;
  t.local = local_open(path, 0);
  CHECK(t.local != NULL);
  CHECK_EQ_INT(local_ensure_device(t.local, "fake-test"), 0);
  for (int i = 1; i <= 5; i++) {
    char person[8];
    snprintf(person, sizeof(person), "p%d", i);
    record_status(t.local, person, "present");
  }

  lws_set_log_level(LLL_ERR, NULL);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  fake_start(&fake, &loop);
  t.client = client_new(&loop);
  CHECK(t.client != NULL);
  uv_timer_init(&loop, &t.deadline);
  uv_timer_init(&loop, &t.finish);
  t.deadline.data = t.finish.data = &t;
  uv_timer_start(&t.deadline, on_deadline, 20000, 0);

  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", fake.port);
  memset(&co, 0, sizeof(co));
  co.url = url;
  co.code = "CODE-1234";
  co.reconnect = true;
  co.data = &t;
  co.cb.on_welcome = on_welcome;
  co.cb.on_synced = on_synced;
  t.conn = client_conn_start(t.client, t.local, &co);
  CHECK(t.conn != NULL);

  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(t.done);
  stats = client_conn_stats(t.conn);
  client_free(t.client);
  if (fake.ctx != NULL)
    lws_context_destroy(fake.ctx);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);

  /* Enrolled with the code once, then the token. */
  CHECK_EQ_INT(fake.hellos, 2);
  CHECK_EQ_INT(fake.hellos_with_code, 1);
  CHECK_EQ_INT(fake.hellos_with_token, 1);
  CHECK_EQ_INT(local_meta_text(t.local, "token", token, sizeof(token)), 0);
  CHECK_EQ_STR(token, "tok-fake");
  CHECK_EQ_INT(stats.welcomes, 2);
  /* Ops 1-5 were committed before the drop and sent again once. */
  CHECK_EQ_INT(fake.resent, 5);
  /* 6 was refused once (gap) and resent; 7 refused for good; 8 stored. */
  CHECK(fake.gapped);
  CHECK_EQ_INT(fake.last_seq, 8);
  CHECK_EQ_INT(fake.head, 8); /* 1-5, 6, 8 and the other tablet's op */
  CHECK_EQ_INT(stats.rejected, 1);
  CHECK_EQ_INT(local_outbox_count(t.local), 0);
  CHECK_EQ_INT(query_int(t.local, "SELECT COUNT(*) FROM attention WHERE seq = 7 AND code = 20"),
               1);
  /* Everything the server holds is here, at the server's cursor. */
  CHECK_EQ_INT(local_cursor(t.local), 8);
  CHECK_EQ_INT(query_int(t.local, "SELECT COUNT(*) FROM checkins WHERE participant = 'p-other' "
                                  "AND status = 'excused'"),
               1);
  CHECK_EQ_INT(query_int(t.local, "SELECT COUNT(*) FROM field_clocks WHERE server_seq = 0 "
                                  "AND k2 <> 'p7'"),
               0);

  for (int i = 0; i < fake.nkept; i++)
    proto_frame_free(fake.kept[i]);
  local_close(t.local);
  unlink(path);
  {
    char p[64];
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
  }
  return 0;
}
