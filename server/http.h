/* http.h — turfd's plain http routes besides /healthz and /auth: the
 * coordinator dashboard's page, its login page and their files, embedded in
 * the binary at build time (web_assets.h). The dashboard's page answers only
 * a request carrying a live coordinator session (auth.h); any other gets a
 * redirect to the login page. The files (style, scripts) hold no data and
 * answer anyone. Loop thread only. */
#ifndef TURF_HTTP_H
#define TURF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws;

/* One response being written; lives in the http connection's per-session
 * data (ws.c), zeroed by lws. body is static (an embedded file or a fixed
 * text). */
typedef struct {
  const uint8_t *body;
  size_t len;  /* bytes (body) */
  size_t sent; /* bytes written so far */
} http_reply_t;

/* For LWS_CALLBACK_HTTP on any path but /healthz: answers the request
 * (writing headers now, the body on writable callbacks). Returns what the
 * lws callback should return. */
int http_on_request(struct lws *wsi, const char *path, http_reply_t *reply);
/* For LWS_CALLBACK_HTTP_WRITEABLE while reply->body is set. */
int http_on_writable(struct lws *wsi, http_reply_t *reply);

/* For the dashboard's websocket: no Origin header (not a browser), the
 * Origin of --public-url, or the Origin of this very host over this
 * connection's scheme (https only over TLS) when the host is an address or
 * localhost (a name needs --public-url: any web site can point a name of
 * its own at this machine). Cannot fail. */
bool http_same_origin(struct lws *wsi);
/* Sets the public URL (--public-url, "" for none): an http(s) URL whose
 * scheme, host and port browsers use. Returns 0, or -1 when it is no such
 * URL. Call once at start. */
int http_set_public_url(const char *url);

/* For LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION of a protocol that serves
 * http only ("http", which lws also picks for an upgrade naming no
 * subprotocol or an unknown one, and "turf-auth"): a websocket there would
 * have no hello timeout and count against no limit, so the upgrade is
 * refused and logged. Returns 1, what the callback returns to refuse. */
int http_refuse_upgrade(struct lws *wsi);

/* The module a protocol's requests are served by (auth.c, api.c): attached
 * once to the vhost's protocol `name`, found again from any request on it.
 * http_attach returns 0, or -1 when the vhost has no such protocol;
 * http_attached gives NULL when nothing was attached. */
struct lws_vhost;
int http_attach(struct lws_vhost *vhost, const char *name, void *module);
void *http_attached(struct lws *wsi, const char *name);

#endif
