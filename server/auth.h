/* auth.h — coordinators' logins to the dashboard.
 *
 * A coordinator account (turfctl coordinator create) has a login, an
 * organisation, a role and a password kept only as a slow salted hash
 * (passwd.h). Logging in checks the password on libuv's thread pool —
 * never on the loop — and hands out a session: 32 random bytes in a cookie
 *
 *   turf_session=<64 hex>; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200
 *
 * (under TLS named __Host-turf_session and marked Secure). turfd keeps
 * only a SHA-256 of each session token, in memory: a restart logs everyone
 * out. A session ends at logout, after 12 hours, after 2 hours unused, or
 * when its account is disabled or its password changed (checked every
 * minute, and at once when turfctl says so: auth_revalidate).
 *
 * Routes, served by this module's own lws protocol mounted at /auth:
 *   POST /auth/login   form login=..&password=.. (x-www-form-urlencoded)
 *                      -> 303 to / with the cookie, or 401; with
 *                      "Accept: application/json", 200 {"login":..} / 401
 *   POST /auth/logout  -> 303 to /login (204 for JSON), the session ends
 *                      and the cookie is cleared
 *   GET  /auth/me      -> 200 {"login","name","org","role"} or 401
 * A request with an Origin header from another site is refused (403).
 *
 * Wiring into ws.c: a protocol AUTH_PROTOCOL_NAME whose callback hands
 * http events to auth_lws_callback (ws.c refuses websocket upgrades on it
 * itself), info.mounts = &auth_mount, and auth_attach() once the context
 * exists.
 * Any http route or websocket upgrade then asks auth_request_user(wsi).
 * Loop thread only. */
#ifndef TURF_AUTH_H
#define TURF_AUTH_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../protocol/proto.h"

typedef struct auth_s auth_t;

#define AUTH_PROTOCOL_NAME "turf-auth"
#define AUTH_SESSION_BYTES 5120 /* lws per-request data of the auth routes */

int auth_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);

/* The mount that sends /auth/... to the AUTH_PROTOCOL_NAME protocol. */
extern const struct lws_http_mount auth_mount;

/* Who a request is. */
typedef struct {
  int64_t coordinator;                /* coordinators.id */
  int64_t org;                        /* the only organisation they may see */
  char login[PROTO_MAX_ID_BYTES + 1];
  bool can_write;                     /* role coordinator: resolve conflicts and
                                         merge duplicates; viewer: read only */
  uint64_t session;                   /* which login this is: for auth_session_alive */
} auth_user_t;

/* db_path: the server database (coordinators are read from it on the
 * thread pool). secure: turfd serves TLS, so cookies are Secure. NULL on
 * ENOMEM. */
auth_t *auth_new(uv_loop_t *loop, const char *db_path, bool secure);
/* Makes the /auth routes of the vhost answer with auth. Call once, after
 * lws_create_context and before the loop runs. Returns 0 or -1 (the
 * protocol is not in the vhost's list). */
int auth_attach(auth_t *auth, struct lws_vhost *vhost);
/* Drops every session and stops the revalidation timer; logins still on
 * the thread pool finish (and are refused) as the loop runs on, then the
 * memory goes. Call once, from outside lws callbacks. NULL is fine. */
void auth_close(auth_t *auth);

/* Whether wsi (an http request or a websocket upgrade, on the vhost auth
 * was attached to) carries a live session cookie; fills *user when it does.
 * Returns 0 or PROTO_EBAD_CREDENTIALS. No I/O. */
int auth_request_user(struct lws *wsi, auth_user_t *user);

/* Whether the session auth_request_user named as user->session is still
 * open (not logged out, expired, or ended by its account's change); wsi is
 * any connection on the same vhost (a dashboard websocket, whose request
 * headers are gone). A live session counts as used. No I/O. */
bool auth_session_alive(struct lws *wsi, uint64_t session);

/* Checks every session against the accounts now (on the thread pool):
 * sessions of a disabled account, or whose password changed, end. Runs by
 * itself every minute; turfctl asks for it at once after such a change
 * (admin.h). Cannot fail (a failed read keeps sessions for the next round). */
void auth_revalidate(auth_t *auth);

/* Sessions alive now (for tests and /healthz-like views). */
uint32_t auth_session_count(const auth_t *auth);

#endif
