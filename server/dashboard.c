/* dashboard.c — the dashboard's websocket feed and actions (dashboard.h).
 *
 * Owns the connected pages (dash_client_t), the refresh state of each
 * organisation a page shows (dash_org_t) and the storage requests made for
 * them (dash_job_t). A page gets every part of its organisation's view when
 * it connects; afterwards the sync engine's hooks mark parts stale and one
 * read per organisation at a time fetches them again and sends them to every
 * page showing it. Parts marked while a read is out are fetched by one more
 * read right after it, so a burst of pushes costs two reads, not one each,
 * and the page is never more than one read behind.
 *
 * A page's websocket is a conn_t (conn.h), the same transport as a
 * tablet's: its send queue, byte budget and message reassembly.
 *
 * Lifetime: a client holds one reference for its lws connection and one per
 * storage request made for it; it is freed when the last goes, so a reply
 * arriving after the page closed finds memory that is still valid (and a
 * NULL wsi). Loop thread only. */
#include "dashboard.h"

#include <inttypes.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../protocol/schema.h"
#include "../protocol/text.h"
#include "auth.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "report.h"

#define DASH__MAX_RX 4096                 /* one message from a page (bytes) */
#define DASH__MAX_QUEUED (16u << 20)      /* unsent bytes before a page is dropped */
/* How often a page's login is checked: logging out (or an account turfctl
 * disabled) closes its pages within this. */
#define DASH__SESSION_CHECK_US (2 * LWS_USEC_PER_SEC)
/* The parts every page of an organisation shows (the others, from
 * STORE_VIEW_DAY on, are a page's own: the day, the history, the search and
 * the participant it chose). */
#define DASH__ALL_PARTS ((1u << STORE_VIEW_DAY) - 1)
/* What a commit can change: everything but the list of organisations and
 * the log of downloads. */
#define DASH__COMMIT_PARTS \
  (DASH__ALL_PARTS & ~(1u << STORE_VIEW_ORGS) & ~(1u << STORE_VIEW_EXPORTS))
#define DASH__DEVICE_PARTS (1u << STORE_VIEW_DEVICES)

static const char *const dash__part_names[STORE_VIEW_NPARTS] = {
    "orgs", "today", "devices", "conflicts", "duplicates", "messages", "exports", "day",
    "history", "people", "person",
};

typedef struct dash_client_s dash_client_t;
struct dash_client_s {
  dashboard_t *dash;
  conn_t *conn;       /* the websocket: queue, budget, reassembly; its wsi
                         is NULL once lws has closed the connection */
  uint32_t refs;
  uint64_t id;        /* for log lines */
  auth_user_t user;   /* who logged in: the only organisation shown is theirs */
  int64_t org;        /* organisation shown; 0 until its first view */
  bool ready;         /* has had its first whole view: gets refreshes */
  char day[11];       /* the date it looks at besides today ("" for none) */
  char history[PROTO_MAX_ID_BYTES + 1]; /* the activity whose sessions it lists */
  char search[STORE_SEARCH_MAX + 1];    /* what it searches participants for */
  char person[PROTO_MAX_ID_BYTES + 1];  /* the participant whose page it shows */
  bool own_in_flight; /* a read of its own parts is with the store */
  bool own_pending;   /* and they changed again since it was sent */
  bool report_in_flight;      /* a report is with the store */
  bool report_next_set;       /* and another was asked for meanwhile: */
  store_report_t report_next; /* its parameters */
  int64_t report_next_req;
  dash_client_t *prev, *next;
};

/* Refresh state of one organisation that pages show. */
typedef struct dash_org_s dash_org_t;
struct dash_org_s {
  int64_t id;
  bool in_flight;     /* a refresh read is with the store */
  uint32_t pending;   /* parts marked stale since that read was sent */
  dash_org_t *next;
};

struct dashboard_s {
  uv_loop_t *loop;
  store_t *store;
  sync_t *sync;
  dash_client_t *clients;
  dash_org_t *orgs;
  uint64_t next_id;
};

/* One storage request. client is set (and referenced) for a page's own
 * first view and for its actions; an organisation's refresh has none. */
typedef struct {
  store_req_t req;
  dashboard_t *dash;
  dash_client_t *client;
  int64_t page_req;   /* the page's number for an action, echoed back */
} dash_job_t;

/* A command from a page: a flat JSON object (docs/dashboard.md). */
typedef struct {
  char t[16];
  int64_t req, id, org;
  char keep[PROTO_MAX_ID_BYTES + 1];
  char drop[PROTO_MAX_ID_BYTES + 1];
  char date[16];
  char activity[PROTO_MAX_ID_BYTES + 1];
  char participant[PROTO_MAX_ID_BYTES + 1];
  char q[DASH__MAX_RX];  /* checked against STORE_SEARCH_MAX after parsing */
  char from[16], to[16];
  char location[PROTO_MAX_ID_BYTES + 1];
} dash_cmd_t;

static int64_t dash__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- clients ---------------------------------------------------------------- */

static void dash__client_unref(dash_client_t *c) {
  if (--c->refs) return;
  conn_unref(c->conn);
  free(c);
}

/* Queues payload (copied) for c. Returns 0, or -1 when the page is gone or
 * so far behind that it is dropped (it reconnects and gets a fresh view). */
static int dash__send(dash_client_t *c, const char *payload, size_t len) {
  conn_msg_t *msg;
  int rc;

  if (c->conn->wsi == NULL) return -1;
  msg = conn_msg_copy(payload, len);
  if (msg == NULL) return -1;
  rc = conn_send(c->conn, msg, DASH__MAX_QUEUED);
  conn_msg_unref(msg);
  return rc;
}

/* ---- JSON out ------------------------------------------------------------------ */

/* A JSON string. Bytes >= 0x80 pass as they are (the page decodes with
 * replacement of broken UTF-8). */
static void dash__put_str(text_t *b, const char *s) {
  text_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      text_put(b, esc, 2);
    } else if (*p < 0x20) {
      text_putf(b, "\\u%04x", *p);
    } else {
      text_put(b, (const char *)p, 1);
    }
  }
  text_put(b, "\"", 1);
}

static void dash__online_cb(void *arg, const char *device) {
  text_t *b = arg;
  if (b->p[b->len - 1] != '[') text_put(b, ",", 1);
  dash__put_str(b, device);
}

/* {"t":part,"org":N,"data":json[,"online":[...]]} */
static void dash__part_msg(dashboard_t *dash, text_t *b, int part, int64_t org,
                           const char *json) {
  b->len = 0;
  text_putf(b, "{\"t\":\"%s\",\"org\":%" PRId64 ",\"data\":", dash__part_names[part], org);
  text_puts(b, json);
  if (part == STORE_VIEW_DEVICES) {
    /* Who is connected is the loop's knowledge, not the database's (a
     * turfd killed with -9 never wrote its devices offline). */
    text_puts(b, ",\"online\":[");
    if (!b->failed) sync_foreach_online(dash->sync, org, dash__online_cb, b);
    text_puts(b, "]");
  }
  text_puts(b, "}");
}

/* Whether c's page may see part: the log of downloads is for those who may
 * download participants' data, not for viewers. */
static bool dash__may_see(const dash_client_t *c, int part) {
  return part != STORE_VIEW_EXPORTS || c->user.can_write;
}

/* Sends the parts view holds to c. */
static void dash__send_view(dashboard_t *dash, dash_client_t *c, const store_view_t *view) {
  text_t b = {0};
  for (int part = 0; part < STORE_VIEW_NPARTS; part++) {
    if (!view->json[part] || !dash__may_see(c, part)) continue;
    dash__part_msg(dash, &b, part, view->org, view->json[part]);
    if (b.failed || dash__send(c, b.p, b.len) != 0) break;
  }
  free(b.p);
}

static void dash__send_result(dash_client_t *c, int64_t page_req, int status, const char *why) {
  text_t b = {0};
  text_putf(&b, "{\"t\":\"result\",\"req\":%" PRId64 ",\"ok\":%s", page_req,
             status == 0 ? "true" : "false");
  if (status != 0) {
    text_puts(&b, ",\"code\":");
    dash__put_str(&b, proto_errname(status));
    text_puts(&b, ",\"message\":");
    dash__put_str(&b, why ? why : proto_strerror(status));
  }
  text_puts(&b, "}");
  if (!b.failed) dash__send(c, b.p, b.len);
  free(b.p);
}

/* ---- storage jobs ---------------------------------------------------------------- */

static dash_job_t *dash__job(dashboard_t *dash, dash_client_t *client, store_req_type_t type) {
  dash_job_t *job = calloc(1, sizeof(*job));
  if (!job) return NULL;
  job->dash = dash;
  job->client = client;
  job->req.data = job;
  job->req.type = type;
  if (client) client->refs++;
  return job;
}

static void dash__job_free(dash_job_t *job) {
  store_req_dispose(&job->req);
  if (job->client) dash__client_unref(job->client);
  free(job);
}


static dash_org_t *dash__org(dashboard_t *dash, int64_t id) {
  for (dash_org_t *o = dash->orgs; o; o = o->next)
    if (o->id == id) return o;
  dash_org_t *o = calloc(1, sizeof(*o));
  if (!o) return NULL;
  o->id = id;
  o->next = dash->orgs;
  dash->orgs = o;
  return o;
}

static bool dash__org_shown(dashboard_t *dash, int64_t org) {
  for (dash_client_t *c = dash->clients; c; c = c->next)
    if (c->ready && c->org == org) return true;
  return false;
}

static void dash__refresh(dashboard_t *dash, int64_t org, uint32_t parts);
static void dash__own_refresh(dashboard_t *dash, dash_client_t *c);

static void dash__refresh_done(store_req_t *req) {
  dash_job_t *job = req->data;
  dashboard_t *dash = job->dash;
  store_view_t *v = &req->u.view;
  dash_org_t *o = dash__org(dash, v->org_id);
  text_t b = {0};

  if (o) o->in_flight = false;
  if (req->status != 0) {
    if (req->status != PROTO_ESHUTTING_DOWN)
      log_warn("dashboard: could not read org=%" PRId64 ": %s", v->org_id,
               proto_strerror(req->status));
  } else {
    for (int part = 0; part < STORE_VIEW_NPARTS && !b.failed; part++) {
      if (!v->json[part]) continue;
      dash__part_msg(dash, &b, part, v->org_id, v->json[part]);
      for (dash_client_t *c = dash->clients; c && !b.failed; c = c->next)
        if (c->ready && c->org == v->org_id && dash__may_see(c, part)) dash__send(c, b.p, b.len);
    }
  }
  free(b.p);
  dash__job_free(job);
  if (o && o->pending) {
    uint32_t parts = o->pending;
    o->pending = 0;
    dash__refresh(dash, o->id, parts);
  }
}

/* Reads parts of org again for the pages that show it; at most one read
 * per organisation is out, later marks wait for it. */
static void dash__refresh(dashboard_t *dash, int64_t org, uint32_t parts) {
  dash_org_t *o;
  dash_job_t *job;

  if (!dash__org_shown(dash, org)) return;
  o = dash__org(dash, org);
  if (!o) return;
  if (o->in_flight) {
    o->pending |= parts;
    return;
  }
  job = dash__job(dash, NULL, STORE_VIEW);
  if (!job) return;
  job->req.u.view.org_id = org;
  job->req.u.view.parts = parts;
  job->req.u.view.now_ms = dash__now_ms();
  if (store_submit(dash->store, &job->req, dash__refresh_done) != 0) {
    dash__job_free(job); /* the store is closing */
    return;
  }
  o->in_flight = true;
}

/* A page's own parts (its day, its history), read again. One read per
 * page at a time; a change meanwhile is read right after. */
static void dash__own_done(store_req_t *req) {
  dash_job_t *job = req->data;
  dash_client_t *c = job->client;

  c->own_in_flight = false;
  if (c->conn->wsi && req->status == 0 && req->u.view.org == c->org) {
    text_t b = {0};
    for (int part = STORE_VIEW_DAY; part < STORE_VIEW_NPARTS && !b.failed; part++) {
      if (!req->u.view.json[part]) continue;
      dash__part_msg(job->dash, &b, part, c->org, req->u.view.json[part]);
      if (!b.failed) dash__send(c, b.p, b.len);
    }
    free(b.p);
  } else if (c->conn->wsi && req->status != 0 && req->status != PROTO_ESHUTTING_DOWN) {
    log_warn("dashboard: could not read page %" PRIu64 "'s own parts: %s", c->id,
             proto_strerror(req->status));
  }
  if (c->conn->wsi && c->own_pending) {
    c->own_pending = false;
    dash__own_refresh(job->dash, c);
  }
  dash__job_free(job);
}

static void dash__own_refresh(dashboard_t *dash, dash_client_t *c) {
  dash_job_t *job;
  uint32_t parts = (c->day[0] ? 1u << STORE_VIEW_DAY : 0) |
                   (c->history[0] ? 1u << STORE_VIEW_HISTORY : 0) |
                   (c->search[0] ? 1u << STORE_VIEW_PEOPLE : 0) |
                   (c->person[0] ? 1u << STORE_VIEW_PERSON : 0);

  if (!parts || !c->ready) return;
  if (c->own_in_flight) {
    c->own_pending = true;
    return;
  }
  job = dash__job(dash, c, STORE_VIEW);
  if (!job) return;
  job->req.u.view.org_id = c->org;
  job->req.u.view.parts = parts;
  job->req.u.view.now_ms = dash__now_ms();
  memcpy(job->req.u.view.day, c->day, sizeof c->day);
  memcpy(job->req.u.view.activity, c->history, sizeof c->history);
  memcpy(job->req.u.view.search, c->search, sizeof c->search);
  memcpy(job->req.u.view.participant, c->person, sizeof c->person);
  job->req.u.view.with_contact = c->user.can_write;
  if (store_submit(dash->store, &job->req, dash__own_done) != 0) {
    dash__job_free(job);
    return;
  }
  c->own_in_flight = true;
}

/* Records of org changed: every part that shows them, every page's own. */
static void dash__records_changed(dashboard_t *dash, int64_t org) {
  dash__refresh(dash, org, DASH__COMMIT_PARTS);
  for (dash_client_t *c = dash->clients; c; c = c->next)
    if (c->ready && c->org == org) dash__own_refresh(dash, c);
}

void dashboard_on_commit(dashboard_t *dash, int64_t org, uint32_t ncommitted) {
  if (ncommitted)
    dash__records_changed(dash, org);
  else
    dash__refresh(dash, org, DASH__DEVICE_PARTS);
}

void dashboard_on_device(dashboard_t *dash, int64_t org) {
  dash__refresh(dash, org, DASH__DEVICE_PARTS);
}

void dashboard_on_export(dashboard_t *dash, int64_t org) {
  dash__refresh(dash, org, 1u << STORE_VIEW_EXPORTS);
}

/* ---- reports ---------------------------------------------------------------------- */

static void dash__report_start(dashboard_t *dash, dash_client_t *c, const store_report_t *params,
                               int64_t page_req);

/* {"t":"report","org":N,"req":R,"data":json}: sent to the page that asked,
 * once; a report is read again only when asked again (it is the heaviest
 * read there is, and it shares the reader with the tablets' pulls). */
static void dash__report_done(store_req_t *req) {
  dash_job_t *job = req->data;
  dash_client_t *c = job->client;

  c->report_in_flight = false;
  if (c->conn->wsi && req->status == 0) {
    text_t b = {0};
    text_putf(&b, "{\"t\":\"report\",\"org\":%" PRId64 ",\"req\":%" PRId64 ",\"data\":", c->org,
               job->page_req);
    text_puts(&b, req->u.report.body);
    text_puts(&b, "}");
    if (!b.failed) dash__send(c, b.p, b.len);
    free(b.p);
    dash__send_result(c, job->page_req, 0, NULL);
  } else if (c->conn->wsi && req->status != PROTO_ESHUTTING_DOWN) {
    log_warn("dashboard: could not read a report for page %" PRIu64 ": %s", c->id,
             proto_strerror(req->status));
    dash__send_result(c, job->page_req, req->status, NULL);
  }
  if (c->conn->wsi && c->report_next_set) {
    c->report_next_set = false;
    dash__report_start(job->dash, c, &c->report_next, c->report_next_req);
  }
  dash__job_free(job);
}

static void dash__report_start(dashboard_t *dash, dash_client_t *c, const store_report_t *params,
                               int64_t page_req) {
  dash_job_t *job;

  if (c->report_in_flight) {
    /* One at a time per page; of those asked meanwhile, the last. */
    c->report_next = *params;
    c->report_next_req = page_req;
    c->report_next_set = true;
    return;
  }
  job = dash__job(dash, c, STORE_REPORT);
  if (!job) {
    dash__send_result(c, page_req, PROTO_ENOMEM, NULL);
    return;
  }
  job->page_req = page_req;
  job->req.u.report = *params;
  job->req.u.report.org_id = c->org;
  if (store_submit(dash->store, &job->req, dash__report_done) != 0) {
    dash__send_result(c, page_req, PROTO_ESHUTTING_DOWN, NULL);
    dash__job_free(job);
    return;
  }
  c->report_in_flight = true;
}

/* A page's first view (or the view of the organisation it switched to). */
static void dash__first_view_done(store_req_t *req) {
  dash_job_t *job = req->data;
  dash_client_t *c = job->client;
  store_view_t *v = &req->u.view;

  if (c->conn->wsi && req->status == 0) {
    c->org = v->org;
    c->ready = true;
    dash__send_view(job->dash, c, v);
    dash__own_refresh(job->dash, c); /* a day or history asked for before */
  } else if (c->conn->wsi && req->status != PROTO_ESHUTTING_DOWN) {
    log_warn("dashboard: could not read the view for page %" PRIu64 ": %s", c->id,
             proto_strerror(req->status));
    lws_set_timeout(c->conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
  dash__job_free(job);
}

static void dash__first_view(dashboard_t *dash, dash_client_t *c, int64_t org) {
  dash_job_t *job = dash__job(dash, c, STORE_VIEW);
  if (!job) return;
  c->ready = false;
  job->req.u.view.org_id = org;
  job->req.u.view.parts = DASH__ALL_PARTS;
  job->req.u.view.now_ms = dash__now_ms();
  if (store_submit(dash->store, &job->req, dash__first_view_done) != 0) dash__job_free(job);
}

/* ---- actions --------------------------------------------------------------------- */

static void dash__action_done(store_req_t *req) {
  dash_job_t *job = req->data;
  dashboard_t *dash = job->dash;
  dash_client_t *c = job->client;
  store_action_t *a = &req->u.action;
  const char *why = NULL;

  if (req->status == PROTO_EBAD_FIELD)
    why = a->kind == STORE_ACTION_MERGE ? "no such participant" : "no such conflict";
  else if (req->status == PROTO_EINVALID_OP)
    why = a->kind == STORE_ACTION_MERGE ? "that merge would go in a circle"
                                        : "this conflict was already resolved";
  log_info("dashboard action=%d org=%" PRId64 " conflict=%" PRId64 " keep=%s drop=%s: %s ops=%u "
           "head=%" PRIu64,
           (int)a->kind, a->org_id, a->conflict, a->keep, a->drop,
           req->status ? proto_errname(req->status) : "ok", a->nops, a->head);
  if (c->conn->wsi) dash__send_result(c, job->page_req, req->status, why);
  if (req->status == 0) {
    /* The server's op goes to the tablets exactly as a push's does. */
    if (a->nops) sync_org_changed(dash->sync, a->org_id);
    dash__records_changed(dash, a->org_id);
  }
  dash__job_free(job);
}

static void dash__action(dashboard_t *dash, dash_client_t *c, const dash_cmd_t *cmd,
                         store_action_kind_t kind) {
  dash_job_t *job;
  store_action_t *a;

  if (!c->user.can_write) {
    /* A viewer's page has no action buttons; this is for anything else
     * that speaks for them. */
    dash__send_result(c, cmd->req, PROTO_EBAD_CREDENTIALS,
                      "this login may only read (role viewer): ask an administrator");
    return;
  }
  if (!c->ready) {
    dash__send_result(c, cmd->req, PROTO_ENOT_AUTHENTICATED, "the page has no view yet");
    return;
  }
  job = dash__job(dash, c, STORE_ACTION);
  if (!job) {
    dash__send_result(c, cmd->req, PROTO_ENOMEM, NULL);
    return;
  }
  job->page_req = cmd->req;
  a = &job->req.u.action;
  a->org_id = c->org;
  a->kind = kind;
  a->conflict = cmd->id;
  snprintf(a->keep, sizeof a->keep, "%s", cmd->keep);
  snprintf(a->drop, sizeof a->drop, "%s", cmd->drop);
  a->now_ms = dash__now_ms();
  if (store_submit(dash->store, &job->req, dash__action_done) != 0) {
    dash__send_result(c, cmd->req, PROTO_ESHUTTING_DOWN, NULL);
    dash__job_free(job);
  }
}

/* ---- JSON in ------------------------------------------------------------------------ */

static const char *dash__ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static int dash__hex(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* A JSON string at p (on its quote) into out (cap bytes with the NUL).
 * Returns the position after it, or NULL when malformed or too long. */
static const char *dash__string(const char *p, const char *e, char *out, size_t cap) {
  size_t n = 0;
  if (p >= e || *p != '"') return NULL;
  for (p++; p < e && *p != '"'; p++) {
    uint32_t cp;
    char ch = *p;
    if ((unsigned char)ch < 0x20) return NULL;
    if (ch != '\\') {
      if (n + 1 >= cap) return NULL;
      out[n++] = ch;
      continue;
    }
    if (++p >= e) return NULL;
    switch (*p) {
    case '"': case '\\': case '/': cp = (unsigned char)*p; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
      if (e - p < 5) return NULL;
      cp = 0;
      for (int i = 1; i <= 4; i++) {
        int h = dash__hex(p[i]);
        if (h < 0) return NULL;
        cp = cp << 4 | (uint32_t)h;
      }
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdfff) return NULL; /* ids and names here are BMP */
      break;
    default:
      return NULL;
    }
    /* UTF-8 of cp. */
    if (cp < 0x80) {
      if (n + 1 >= cap) return NULL;
      out[n++] = (char)cp;
    } else if (cp < 0x800) {
      if (n + 2 >= cap) return NULL;
      out[n++] = (char)(0xc0 | cp >> 6);
      out[n++] = (char)(0x80 | (cp & 0x3f));
    } else {
      if (n + 3 >= cap) return NULL;
      out[n++] = (char)(0xe0 | cp >> 12);
      out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
      out[n++] = (char)(0x80 | (cp & 0x3f));
    }
  }
  if (p >= e) return NULL;
  out[n] = '\0';
  return p + 1;
}

/* An integer (no fraction or exponent) at p. */
static const char *dash__int(const char *p, const char *e, int64_t *out) {
  bool neg = false;
  uint64_t v = 0;
  const char *start;
  if (p < e && *p == '-') {
    neg = true;
    p++;
  }
  start = p;
  while (p < e && *p >= '0' && *p <= '9') {
    if (v > (uint64_t)INT64_MAX / 10) return NULL;
    v = v * 10 + (uint64_t)(*p - '0');
    p++;
  }
  if (p == start || v > (uint64_t)INT64_MAX) return NULL;
  if (p < e && (*p == '.' || *p == 'e' || *p == 'E')) return NULL;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return p;
}

/* Skips a value of a key this side does not know: a string, a number or a
 * literal; nested objects and arrays are not part of any command. */
static const char *dash__skip(const char *p, const char *e) {
  char scratch[DASH__MAX_RX];
  int64_t i;
  if (p >= e) return NULL;
  if (*p == '"') return dash__string(p, e, scratch, sizeof scratch);
  if (*p == '-' || (*p >= '0' && *p <= '9')) return dash__int(p, e, &i);
  static const char *const lits[] = {"true", "false", "null"};
  for (size_t k = 0; k < 3; k++) {
    size_t n = strlen(lits[k]);
    if ((size_t)(e - p) >= n && memcmp(p, lits[k], n) == 0) return p + n;
  }
  return NULL;
}

/* Parses a flat JSON object into cmd. Returns 0 or -1. */
static int dash__parse(const char *s, size_t len, dash_cmd_t *cmd) {
  const char *p = s, *e = s + len;
  char key[16];

  memset(cmd, 0, sizeof(*cmd));
  p = dash__ws(p, e);
  if (p >= e || *p++ != '{') return -1;
  p = dash__ws(p, e);
  if (p < e && *p == '}') return dash__ws(p + 1, e) == e ? 0 : -1;
  for (;;) {
    p = dash__ws(p, e);
    p = dash__string(p, e, key, sizeof key);
    if (!p) return -1;
    p = dash__ws(p, e);
    if (p >= e || *p++ != ':') return -1;
    p = dash__ws(p, e);
    if (strcmp(key, "t") == 0)
      p = dash__string(p, e, cmd->t, sizeof cmd->t);
    else if (strcmp(key, "req") == 0)
      p = dash__int(p, e, &cmd->req);
    else if (strcmp(key, "id") == 0)
      p = dash__int(p, e, &cmd->id);
    else if (strcmp(key, "org") == 0)
      p = dash__int(p, e, &cmd->org);
    else if (strcmp(key, "keep") == 0)
      p = dash__string(p, e, cmd->keep, sizeof cmd->keep);
    else if (strcmp(key, "drop") == 0)
      p = dash__string(p, e, cmd->drop, sizeof cmd->drop);
    else if (strcmp(key, "date") == 0)
      p = dash__string(p, e, cmd->date, sizeof cmd->date);
    else if (strcmp(key, "activity") == 0)
      p = dash__string(p, e, cmd->activity, sizeof cmd->activity);
    else if (strcmp(key, "participant") == 0)
      p = dash__string(p, e, cmd->participant, sizeof cmd->participant);
    else if (strcmp(key, "q") == 0)
      p = dash__string(p, e, cmd->q, sizeof cmd->q);
    else if (strcmp(key, "from") == 0)
      p = dash__string(p, e, cmd->from, sizeof cmd->from);
    else if (strcmp(key, "to") == 0)
      p = dash__string(p, e, cmd->to, sizeof cmd->to);
    else if (strcmp(key, "location") == 0)
      p = dash__string(p, e, cmd->location, sizeof cmd->location);
    else
      p = dash__skip(p, e);
    if (!p) return -1;
    p = dash__ws(p, e);
    if (p >= e) return -1;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p++ != '}') return -1;
    return dash__ws(p, e) == e ? 0 : -1;
  }
}

/* One of a page's own choices (its day, history, search or participant):
 * refused with why, or kept (value fits: it was checked) and its part sent
 * now and after every change. */
static void dash__choose(dashboard_t *dash, dash_client_t *c, int64_t req, char *choice,
                         size_t cap, const char *value, const char *why) {
  if (why) {
    dash__send_result(c, req, PROTO_EBAD_FIELD, why);
    return;
  }
  size_t n = strnlen(value, cap - 1);
  memcpy(choice, value, n);
  choice[n] = '\0';
  dash__send_result(c, req, 0, NULL);
  dash__own_refresh(dash, c);
}

static void dash__on_message(dashboard_t *dash, dash_client_t *c, const char *msg, size_t len) {
  dash_cmd_t cmd;

  if (dash__parse(msg, len, &cmd) != 0) {
    dash__send_result(c, 0, PROTO_EBAD_FRAME, "not a JSON object of strings and integers");
    return;
  }
  if (strcmp(cmd.t, "revert") == 0)
    dash__action(dash, c, &cmd, STORE_ACTION_REVERT);
  else if (strcmp(cmd.t, "dismiss") == 0)
    dash__action(dash, c, &cmd, STORE_ACTION_DISMISS);
  else if (strcmp(cmd.t, "merge") == 0)
    dash__action(dash, c, &cmd, STORE_ACTION_MERGE);
  /* A page's own parts: another date than today ("day"), an activity's
   * sessions ("history"), a search of participants ("people") and one
   * participant ("person"); "" for none. */
  else if (strcmp(cmd.t, "day") == 0)
    dash__choose(dash, c, cmd.req, c->day, sizeof c->day, cmd.date,
                 cmd.date[0] && !schema_date_valid(proto_str(cmd.date)) ? "date is YYYY-MM-DD"
                                                                        : NULL);
  else if (strcmp(cmd.t, "history") == 0)
    dash__choose(dash, c, cmd.req, c->history, sizeof c->history, cmd.activity,
                 cmd.activity[0] && !proto_id_valid(proto_str(cmd.activity)) ? "activity is an id"
                                                                              : NULL);
  else if (strcmp(cmd.t, "people") == 0)
    dash__choose(dash, c, cmd.req, c->search, sizeof c->search, cmd.q,
                 strlen(cmd.q) > STORE_SEARCH_MAX ? "a search is at most 100 bytes" : NULL);
  else if (strcmp(cmd.t, "person") == 0)
    dash__choose(dash, c, cmd.req, c->person, sizeof c->person, cmd.participant,
                 cmd.participant[0] && !proto_id_valid(proto_str(cmd.participant))
                     ? "participant is an id"
                     : NULL);
  else if (strcmp(cmd.t, "report") == 0) {
    /* The funder report of a period, once (docs/dashboard.md, Reports). */
    store_report_t params = {0};
    const char *why = report_check(cmd.from, cmd.to, cmd.location, cmd.activity);
    if (why) {
      dash__send_result(c, cmd.req, PROTO_EBAD_FIELD, why);
      return;
    }
    if (!c->ready) {
      dash__send_result(c, cmd.req, PROTO_ENOT_AUTHENTICATED, "the page has no view yet");
      return;
    }
    memcpy(params.from, cmd.from, sizeof params.from);
    memcpy(params.to, cmd.to, sizeof params.to);
    snprintf(params.location, sizeof params.location, "%s", cmd.location);
    snprintf(params.activity, sizeof params.activity, "%s", cmd.activity);
    params.format = STORE_REPORT_JSON;
    dash__report_start(dash, c, &params, cmd.req);
  } else if (strcmp(cmd.t, "org") == 0) {
    /* A coordinator sees their own organisation and no other. */
    if (cmd.org != 0 && cmd.org != c->user.org)
      dash__send_result(c, cmd.req, PROTO_EOUT_OF_SCOPE, "not your organisation");
    else
      dash__first_view(dash, c, c->user.org);
  }
  else
    dash__send_result(c, cmd.req, PROTO_EUNKNOWN_TYPE, "unknown command");
}

/* ---- lws ----------------------------------------------------------------------------- */

int dashboard_callback(dashboard_t *dash, struct lws *wsi, int reason, void *user, void *in,
                       size_t len) {
  dashboard_session_t *session = user;
  dash_client_t *c = session ? session->_client : NULL;

  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
    /* Non-zero refuses the upgrade. */
    auth_user_t who;
    if (auth_request_user(wsi, &who) != 0) {
      log_warn("dashboard websocket refused: no coordinator logged in");
      return 1;
    }
    if (!http_same_origin(wsi)) {
      log_warn("dashboard websocket refused: Origin is another site");
      return 1;
    }
    return 0;
  }

  case LWS_CALLBACK_ESTABLISHED: {
    char hello[128];
    int n;
    c = calloc(1, sizeof(*c));
    if (!c) return -1;
    c->id = ++dash->next_id;
    c->conn = conn_new(wsi, c->id);
    /* The upgrade's headers are still there: who it is was checked at
     * FILTER_PROTOCOL_CONNECTION just before. */
    if (!c->conn || auth_request_user(wsi, &c->user) != 0) {
      if (c->conn) conn_unref(c->conn);
      free(c);
      return -1;
    }
    snprintf(c->conn->peer, sizeof c->conn->peer, "dashboard page %" PRIu64, c->id);
    c->dash = dash;
    c->refs = 1;
    c->next = dash->clients;
    if (dash->clients) dash->clients->prev = c;
    dash->clients = c;
    session->_client = c;
    log_info("dashboard page %" PRIu64 " connected: %s of org=%" PRId64 "%s", c->id,
             c->user.login, c->user.org, c->user.can_write ? "" : " (read only)");
    lws_set_timer_usecs(wsi, DASH__SESSION_CHECK_US);
    n = snprintf(hello, sizeof hello, "{\"t\":\"hello\",\"server\":\"turfd\",\"now\":%" PRId64 "}",
                 dash__now_ms());
    dash__send(c, hello, (size_t)n);
    dash__first_view(dash, c, c->user.org);
    return 0;
  }

  case LWS_CALLBACK_TIMER:
    if (!c) return 0;
    if (!auth_session_alive(wsi, c->user.session)) {
      log_info("dashboard page %" PRIu64 " closed: %s is logged out", c->id, c->user.login);
      return -1;
    }
    lws_set_timer_usecs(wsi, DASH__SESSION_CHECK_US);
    return 0;

  case LWS_CALLBACK_RECEIVE: {
    const uint8_t *msg;
    size_t msg_len;
    int rc;
    if (!c) return -1;
    /* Pages send text frames; either kind is taken. */
    rc = conn_on_receive(c->conn, in, len, lws_is_first_fragment(wsi), lws_is_final_fragment(wsi),
                         true, DASH__MAX_RX, &msg, &msg_len);
    if (rc == PROTO_ETOO_LARGE || rc == PROTO_ENOMEM) {
      dash__send_result(c, 0, rc, NULL);
    } else if (rc == 1) {
      if (!auth_session_alive(wsi, c->user.session)) {
        log_info("dashboard page %" PRIu64 " closed: %s is logged out", c->id, c->user.login);
        return -1;
      }
      dash__on_message(dash, c, (const char *)msg, msg_len);
    }
    return 0;
  }

  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (!c) return -1;
    return conn_on_writable(c->conn);

  case LWS_CALLBACK_CLOSED:
    if (c) {
      session->_client = NULL;
      if (c->prev)
        c->prev->next = c->next;
      else
        dash->clients = c->next;
      if (c->next) c->next->prev = c->prev;
      c->prev = c->next = NULL;
      c->conn->wsi = NULL;
      log_info("dashboard page %" PRIu64 " closed", c->id);
      dash__client_unref(c);
    }
    return 0;

  default:
    return 0;
  }
}

/* ---- lifecycle ------------------------------------------------------------------------- */

dashboard_t *dashboard_new(uv_loop_t *loop, store_t *store, sync_t *sync) {
  dashboard_t *dash = calloc(1, sizeof(*dash));
  if (!dash) return NULL;
  dash->loop = loop;
  dash->store = store;
  dash->sync = sync;
  return dash;
}

void dashboard_free(dashboard_t *dash) {
  if (!dash) return;
  while (dash->orgs) {
    dash_org_t *next = dash->orgs->next;
    free(dash->orgs);
    dash->orgs = next;
  }
  free(dash);
}
