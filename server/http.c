/* http.c — the dashboard's http routes (http.h): the page for a logged-in
 * coordinator, the login page for anyone else.
 *
 * The page's files are embedded in turfd (web_assets.c, generated from
 * server/web/ by embed.cmake) rather than installed next to it: the page a
 * turfd serves is then always the one built with it, nothing has to be
 * found on disk at run time (from the build tree, an install, or a test),
 * and the files are small (tens of kilobytes).
 *
 * Owns nothing: replies point at static data. */
#include "http.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

#include "../protocol/proto.h"
#include "auth.h"
#include "dashboard.h"
#include "log.h"
#include "web_assets.h"

/* Bytes written per writable callback: one busy browser cannot hold the
 * loop, and the buffer stays on the stack. */
#define HTTP__CHUNK 4096

/* The origin browsers use when turfd is reached by another address than
 * its own (--public-url): "scheme://host[:port]", or "" when not set. */
static char http__public_origin[256];

int http_set_public_url(const char *url) {
  const char *host = strstr(url, "://");
  size_t n;

  http__public_origin[0] = '\0';
  if (url[0] == '\0')
    return 0;
  if (!host || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
    return -1;
  n = strcspn(host + 3, "/?#");
  if (n == 0 || (size_t)(host + 3 - url) + n >= sizeof http__public_origin)
    return -1;
  snprintf(http__public_origin, sizeof http__public_origin, "%.*s",
           (int)((host + 3 - url) + n), url);
  return 0;
}

/* A Host header (host[:port], [v6]:port) that names this machine by address
 * or as localhost: a web page cannot have the browser send it for a name
 * of its own (DNS rebinding), as it can for any other name. */
static bool http__host_is_address(const char *host) {
  char name[256];
  unsigned char addr[16];
  const char *end;

  if (host[0] == '[') {
    end = strchr(host, ']');
    if (!end || end - host - 1 >= (long)sizeof name) return false;
    snprintf(name, sizeof name, "%.*s", (int)(end - host - 1), host + 1);
    return inet_pton(AF_INET6, name, addr) == 1;
  }
  snprintf(name, sizeof name, "%.*s", (int)strcspn(host, ":"), host);
  return strcmp(name, "localhost") == 0 || inet_pton(AF_INET, name, addr) == 1;
}

bool http_same_origin(struct lws *wsi) {
  char origin[256], host[256], want[300];
  int n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);

  if (n <= 0)
    return lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0; /* absent, not too long */
  if (http__public_origin[0] && strcmp(origin, http__public_origin) == 0)
    return true;
  if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0 || !http__host_is_address(host))
    return false;
  /* The page came over this very connection's scheme. */
  snprintf(want, sizeof(want), "%s://%s", lws_is_ssl(wsi) ? "https" : "http", host);
  return strcmp(origin, want) == 0;
}

/* Which page a path names: the dashboard (which needs a session), the login
 * page, or one of their files. */
typedef enum { HTTP__FILE, HTTP__DASHBOARD, HTTP__LOGIN } http_page_t;

static const web_asset_t *http__asset(const char *path, http_page_t *page) {
  *page = HTTP__FILE;
  /* The page itself answers at the root too, so the address turfd prints
   * opens it. */
  if (strcmp(path, "/") == 0 || strcmp(path, "/dashboard") == 0 ||
      strcmp(path, "/dashboard/") == 0 || strcmp(path, "/dashboard/index.html") == 0) {
    *page = HTTP__DASHBOARD;
    path = "/dashboard/index.html";
  } else if (strcmp(path, "/login") == 0 || strcmp(path, "/dashboard/login.html") == 0) {
    *page = HTTP__LOGIN;
    path = "/dashboard/login.html";
  }
  for (size_t i = 0; i < web_nassets; i++)
    if (strcmp(web_assets[i].path, path) == 0)
      return &web_assets[i];
  return NULL;
}

static int http__header(struct lws *wsi, const char *name, const char *value, uint8_t **p,
                        uint8_t *end) {
  return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                     (const unsigned char *)value, (int)strlen(value), p, end);
}

static int http__status(struct lws *wsi, unsigned code, const char *text) {
  lws_return_http_status(wsi, code, text);
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* 303 to location, with an empty body (written on the writable callback:
 * under HTTP/2 the final write is what ends the stream). */
static int http__redirect(struct lws *wsi, const char *location, http_reply_t *reply) {
  static const uint8_t empty[1] = {0};
  uint8_t buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];

  if (lws_add_http_header_status(wsi, HTTP_STATUS_SEE_OTHER, &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION, (const unsigned char *)location,
                                   (int)strlen(location), &p, end) ||
      http__header(wsi, "cache-control:", "no-store", &p, end) ||
      lws_add_http_header_content_length(wsi, 0, &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return 1;
  reply->body = empty;
  reply->len = 0;
  reply->sent = 0;
  lws_callback_on_writable(wsi);
  return 0;
}

int http_on_request(struct lws *wsi, const char *path, http_reply_t *reply) {
  uint8_t buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];
  http_page_t page;
  const web_asset_t *asset = http__asset(path, &page);
  auth_user_t user;
  bool logged_in;

  memset(reply, 0, sizeof(*reply));
  if (asset == NULL)
    return http__status(wsi, HTTP_STATUS_NOT_FOUND, "not found");
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
    return http__status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "only GET");
  /* The dashboard shows an organisation's people: only to its
   * coordinators. The login page sends one who is logged in on to it. */
  logged_in = page != HTTP__FILE && auth_request_user(wsi, &user) == 0;
  if ((page == HTTP__DASHBOARD && !logged_in) || (page == HTTP__LOGIN && logged_in)) {
    /* The page's language (?lang=en) goes along. */
    char arg[16], location[32];
    const char *to = page == HTTP__DASHBOARD ? "/login" : "/";
    const char *lang = lws_get_urlarg_by_name(wsi, "lang=", arg, sizeof arg);
    if (lang && (strcmp(lang, "en") == 0 || strcmp(lang, "nl") == 0))
      snprintf(location, sizeof location, "%s?lang=%s", to, lang);
    else
      snprintf(location, sizeof location, "%s", to);
    return http__redirect(wsi, location, reply);
  }

  /* no-store: a new turfd serves a new page, and the page answers only a
   * session; the policy keeps it from being framed or loading anything
   * foreign. */
  if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, asset->type, asset->len, &p, end) ||
      http__header(wsi, "cache-control:", "no-store", &p, end) ||
      http__header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
      http__header(wsi, "content-security-policy:",
                   "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                   "frame-ancestors 'none'; form-action 'self'",
                   &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return 1;
  reply->body = asset->data;
  reply->len = asset->len;
  reply->sent = 0;
  lws_callback_on_writable(wsi);
  return 0;
}

int http_on_writable(struct lws *wsi, http_reply_t *reply) {
  uint8_t buf[LWS_PRE + HTTP__CHUNK];
  size_t n = reply->len - reply->sent;
  bool last;

  if (n > HTTP__CHUNK)
    n = HTTP__CHUNK;
  last = reply->sent + n == reply->len;
  memcpy(&buf[LWS_PRE], reply->body + reply->sent, n);
  if (lws_write(wsi, &buf[LWS_PRE], n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
    return 1;
  reply->sent += n;
  if (!last) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  memset(reply, 0, sizeof(*reply));
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int http_refuse_upgrade(struct lws *wsi) {
  char peer[64] = "";
  lws_get_peer_simple(wsi, peer, sizeof peer);
  log_warn("websocket refused from %s: its subprotocol must be %s or %s", peer,
           PROTO_SUBPROTOCOL, DASHBOARD_SUBPROTOCOL);
  lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                         "a websocket here needs the subprotocol " PROTO_SUBPROTOCOL
                         " (tablets) or " DASHBOARD_SUBPROTOCOL " (the dashboard)");
  return 1;
}
