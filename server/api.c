/* api.c — /api/report downloads (api.h).
 *
 * A request goes through three steps, each on its own thread: the table is
 * read on the store's reader thread (STORE_REPORT), the download is logged
 * by its writer (STORE_EXPORT_LOG, durable like an ack), and the loop then
 * writes the response in pieces as the socket takes them. A request that
 * goes away meanwhile only detaches from its job (job->http = NULL); the job
 * is freed when the store hands it back, and what was read is not sent
 * (nor logged, unless it went away while its logging was under way: the
 * log then says one download more than was made, never one less). */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "report.h"

#define API__CHUNK 16384 /* bytes written per writable callback */
#define API__WAIT_S 120  /* the longest a download may wait for the store */
#define API__MAX_QUERY 512 /* bytes of a request's query arguments */

struct api_s {
  store_t *store;
  dashboard_t *dash;
};

typedef struct api__job_s api__job_t;

typedef enum { API__WAITING = 0, API__HEADERS, API__BODY, API__DONE } api__stage_t;

/* lws per-request data (API_SESSION_BYTES). */
typedef struct {
  api_t *api;
  api__job_t *job;     /* while the store works for this request */
  api__stage_t stage;
  int status;
  const char *ctype;
  char filename[96];   /* "" for no Content-Disposition */
  char *body;          /* owned */
  size_t len, sent;
} api__http_t;

_Static_assert(sizeof(api__http_t) <= API_SESSION_BYTES, "API_SESSION_BYTES too small");

struct api__job_s {
  api_t *api;
  struct lws *wsi;
  api__http_t *http;   /* NULL once the request is gone */
  store_req_t report, log;
  bool csv;
};

const struct lws_http_mount api_mount = {
    .mountpoint = "/api",
    .mountpoint_len = 4,
    .origin = API_PROTOCOL_NAME,
    .origin_protocol = LWSMPRO_CALLBACK,
};

static int64_t api__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- responses ---------------------------------------------------------------- */

/* Takes body (malloc'd) and asks for a writable callback to send it. */
static void api__respond(struct lws *wsi, api__http_t *h, int status, const char *ctype,
                         char *body, size_t len) {
  free(h->body);
  h->status = status;
  h->ctype = ctype;
  h->body = body;
  h->len = body ? len : 0;
  h->sent = 0;
  h->stage = API__HEADERS;
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  lws_callback_on_writable(wsi);
}

/* A refusal: {"error": why} (why holds no quote or backslash). */
static void api__refuse(struct lws *wsi, api__http_t *h, int status, const char *why) {
  char *body = malloc(strlen(why) + 16);
  size_t len = 0;
  if (body)
    len = (size_t)sprintf(body, "{\"error\":\"%s\"}\n", why);
  h->filename[0] = '\0';
  api__respond(wsi, h, status, "application/json", body, len);
}

static int api__write(struct lws *wsi, api__http_t *h) {
  uint8_t buf[LWS_PRE + API__CHUNK], *start = buf + LWS_PRE, *p = start,
                                     *end = buf + sizeof(buf) - 1;

  if (h->stage == API__HEADERS) {
    char disposition[160];
    if (lws_add_http_header_status(wsi, (unsigned)h->status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)h->ctype, (int)strlen(h->ctype), &p,
                                     end) ||
        lws_add_http_header_content_length(wsi, h->len, &p, end))
      return 1;
    if (h->filename[0]) {
      int n = snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"",
                       h->filename);
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-disposition:",
                                      (const unsigned char *)disposition, n, &p, end))
        return 1;
    }
    if (lws_finalize_http_header(wsi, &p, end) ||
        lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) != (int)(p - start))
      return 1;
    h->stage = API__BODY;
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (h->stage != API__BODY)
    return 0;
  {
    /* Even an empty body is written: under HTTP/2 the final write ends the
     * stream. */
    size_t n = h->len - h->sent < API__CHUNK ? h->len - h->sent : API__CHUNK;
    bool last = h->sent + n == h->len;
    if (n)
      memcpy(start, h->body + h->sent, n);
    if (lws_write(wsi, start, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
      return 1;
    h->sent += n;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  }
  free(h->body);
  h->body = NULL;
  h->stage = API__DONE;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- the three steps ------------------------------------------------------------ */

static void api__job_free(api__job_t *job) {
  store_req_dispose(&job->report);
  store_req_dispose(&job->log);
  free(job);
}

static void api__logged(store_req_t *req) {
  api__job_t *job = req->data;
  api__http_t *h = job->http;
  const store_export_log_t *e = &job->log.u.export_log;

  if (req->status == 0) {
    log_info("export org=%" PRId64 " login=%s what=\"%s\" format=%s rows=%u names=%d", e->org_id,
             e->login, e->what, e->format, e->rows, (int)e->names);
    if (job->api->dash)
      dashboard_on_export(job->api->dash, e->org_id);
  }
  if (h) {
    h->job = NULL;
    if (req->status != 0) {
      log_warn("export org=%" PRId64 " login=%s not sent: it could not be logged (%s)", e->org_id,
               e->login, proto_strerror(req->status));
      api__refuse(job->wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE,
                  "the download could not be logged; try again");
    } else {
      api__respond(job->wsi, h, HTTP_STATUS_OK,
                   job->csv ? "text/csv; charset=utf-8" : "application/json", job->report.u.report.body,
                   job->report.u.report.len);
      job->report.u.report.body = NULL; /* now the response's */
    }
  }
  api__job_free(job);
}

static void api__read(store_req_t *req) {
  api__job_t *job = req->data;
  api__http_t *h = job->http;

  if (!h) { /* the request is gone: nothing was downloaded */
    api__job_free(job);
    return;
  }
  if (req->status != 0) {
    h->job = NULL;
    if (req->status == PROTO_EBAD_FIELD)
      api__refuse(job->wsi, h, HTTP_STATUS_NOT_FOUND, "no such table");
    else
      api__refuse(job->wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, "the report could not be read");
    api__job_free(job);
    return;
  }
  job->log.u.export_log.rows = req->u.report.rows;
  if (store_submit(job->api->store, &job->log, api__logged) != 0) {
    h->job = NULL;
    api__refuse(job->wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
    api__job_free(job);
  }
}

/* ---- requests -------------------------------------------------------------------- */

/* The value of query argument name ("" when absent) into out. Returns
 * false when it does not fit (no value this API takes is that long). */
static bool api__arg(struct lws *wsi, const char *name, char *out, size_t cap) {
  char buf[256], key[32];
  const char *v;
  snprintf(key, sizeof key, "%s=", name);
  v = lws_get_urlarg_by_name(wsi, key, buf, (int)sizeof buf);
  if (!v)
    v = "";
  if (strlen(v) >= cap)
    return false;
  memcpy(out, v, strlen(v) + 1);
  return true;
}

static int api__on_request(struct lws *wsi, api__http_t *h, const char *path) {
  auth_user_t user;
  char from[11], to[11], location[PROTO_MAX_ID_BYTES + 1], activity[PROTO_MAX_ID_BYTES + 1];
  char table[STORE_REPORT_TABLE_MAX + 1], format[8], sep[4], lang[4], names[4];
  const char *why;
  api__job_t *job;
  store_report_t *r;
  store_export_log_t *e;
  bool csv, participants;

  /* lws hands a callback mount the path after the mount point, or the
   * whole of it (as auth.c notes). */
  if (strncmp(path, api_mount.mountpoint, api_mount.mountpoint_len) == 0)
    path += api_mount.mountpoint_len;
  if (strcmp(path, "/report") != 0) {
    api__refuse(wsi, h, HTTP_STATUS_NOT_FOUND, "not found");
    return 0;
  }
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
    api__refuse(wsi, h, HTTP_STATUS_METHOD_NOT_ALLOWED, "GET only");
    return 0;
  }
  /* No value this API takes is long; a query that is, is refused whole
   * (lws would report a long value as absent). */
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > API__MAX_QUERY) {
    api__refuse(wsi, h, HTTP_STATUS_BAD_REQUEST, "the query is too long");
    return 0;
  }
  if (auth_request_user(wsi, &user) != 0) {
    log_warn("api: report refused: no coordinator logged in");
    api__refuse(wsi, h, HTTP_STATUS_UNAUTHORIZED, "not logged in");
    return 0;
  }
  if (!api__arg(wsi, "from", from, sizeof from) || !api__arg(wsi, "to", to, sizeof to) ||
      !api__arg(wsi, "location", location, sizeof location) ||
      !api__arg(wsi, "activity", activity, sizeof activity) ||
      !api__arg(wsi, "table", table, sizeof table) ||
      !api__arg(wsi, "format", format, sizeof format) || !api__arg(wsi, "sep", sep, sizeof sep) ||
      !api__arg(wsi, "lang", lang, sizeof lang) || !api__arg(wsi, "names", names, sizeof names))
    why = "a value is too long";
  else
    why = report_check(from, to, location, activity);
  csv = strcmp(format, "csv") == 0;
  participants = strcmp(table, "participants") == 0;
  if (!why && !csv && format[0] && strcmp(format, "json") != 0)
    why = "format is csv or json";
  else if (!why && csv && !table[0])
    why = "a CSV download is of one table";
  else if (!why && sep[0] && strcmp(sep, ";") != 0 && strcmp(sep, ",") != 0)
    why = "sep is ; or ,";
  else if (!why && lang[0] && strcmp(lang, "nl") != 0 && strcmp(lang, "en") != 0)
    why = "lang is nl or en";
  else if (!why && names[0] && (strcmp(names, "1") != 0 || !participants))
    why = "names=1 goes with table=participants";
  if (why) {
    log_warn("api: report refused for %s: %s", user.login, why);
    api__refuse(wsi, h, HTTP_STATUS_BAD_REQUEST, why);
    return 0;
  }
  if (participants && !user.can_write) {
    log_warn("api: participants' report refused for %s: role viewer", user.login);
    api__refuse(wsi, h, HTTP_STATUS_FORBIDDEN,
                "a list of participants is for coordinators; this login may only look");
    return 0;
  }

  job = calloc(1, sizeof(*job));
  if (!job) {
    api__refuse(wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, "out of memory");
    return 0;
  }
  job->api = h->api;
  job->wsi = wsi;
  job->http = h;
  job->csv = csv;
  job->report.data = job->log.data = job;
  job->report.type = STORE_REPORT;
  job->log.type = STORE_EXPORT_LOG;
  r = &job->report.u.report;
  r->org_id = user.org;
  memcpy(r->from, from, sizeof r->from);
  memcpy(r->to, to, sizeof r->to);
  memcpy(r->location, location, sizeof r->location);
  memcpy(r->activity, activity, sizeof r->activity);
  memcpy(r->table, table, sizeof r->table);
  r->format = csv ? STORE_REPORT_CSV : STORE_REPORT_JSON;
  r->sep = sep[0] == ',' ? ',' : ';';
  r->dutch = strcmp(lang, "en") != 0;
  r->names = names[0] == '1';
  e = &job->log.u.export_log;
  e->org_id = user.org;
  e->at_ms = api__now_ms();
  snprintf(e->login, sizeof e->login, "%s", user.login);
  snprintf(e->what, sizeof e->what, "%s %s..%s%s%s%s%s", table[0] ? table : "all", from, to,
           location[0] ? " location=" : "", location, activity[0] ? " activity=" : "", activity);
  snprintf(e->format, sizeof e->format, "%s", csv ? "csv" : "json");
  e->names = r->names;
  if (csv)
    snprintf(h->filename, sizeof h->filename, "turf-%s-%s-%s.csv", table, from, to);
  else
    h->filename[0] = '\0';
  if (store_submit(h->api->store, &job->report, api__read) != 0) {
    free(job);
    api__refuse(wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
    return 0;
  }
  h->job = job;
  h->stage = API__WAITING;
  /* lws would close a request that says nothing for its usual few seconds;
   * a year's report may take longer than that to read. */
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, API__WAIT_S);
  return 0;
}

int api_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len) {
  api__http_t *h = user;

  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    return 1; /* http only: no websocket here */

  case LWS_CALLBACK_HTTP:
    h->api = http_attached(wsi, API_PROTOCOL_NAME);
    if (h->api == NULL) {
      lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
      return -1;
    }
    return api__on_request(wsi, h, in ? (const char *)in : "");

  case LWS_CALLBACK_HTTP_WRITEABLE:
    return api__write(wsi, h);

  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (h) {
      if (h->job) {
        h->job->http = NULL;
        h->job = NULL;
      }
      free(h->body);
      h->body = NULL;
    }
    return 0;

  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

api_t *api_new(store_t *store, dashboard_t *dash) {
  api_t *api = calloc(1, sizeof(*api));
  if (!api)
    return NULL;
  api->store = store;
  api->dash = dash;
  return api;
}

int api_attach(api_t *api, struct lws_vhost *vhost) {
  return http_attach(vhost, API_PROTOCOL_NAME, api);
}

void api_free(api_t *api) { free(api); }
