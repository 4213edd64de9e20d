/* admin.h — the unix socket a running turfd listens on for turfctl.
 *
 * turfctl does its work in the database itself (the database is the one
 * source of truth, and turfctl must work when turfd is down); what only
 * the running process can do it asks for here, one line per connection:
 *
 *   revoke DEVICE   -> "ok N"   N connections of DEVICE cut off at once
 *   rescope DEVICE  -> "ok N"   DEVICE's locations changed: N connections
 *                               told RESCOPED and closed, so it reconnects
 *                               and is told to sync again from scratch
 *   changed ORG     -> "ok"     ops turfctl committed to ORG go out live
 *   coordinators    -> "ok"     an account was disabled or its password
 *                               changed: sessions are checked now
 *   ping            -> "ok turfd"
 *   anything else   -> "error REASON"
 *
 * The socket is made mode 0600: reaching it takes the same authority as
 * writing the database file, which turfctl needs anyway. A notice only
 * makes turfd act on what the database already says (a revoked device is
 * refused by the database at its next hello whatever the socket does), so
 * a lost notice delays a cut, it never undoes one. Loop thread only. */
#ifndef TURF_ADMIN_H
#define TURF_ADMIN_H

#include <stdio.h>
#include <sys/un.h>
#include <uv.h>

#include "sync.h"

typedef struct admin_s admin_t;

/* Listens on path (removing a stale socket no process answers on).
 * Returns NULL after logging why (path in use by a live turfd, too long,
 * not creatable). sync must outlive the admin socket. */
admin_t *admin_start(uv_loop_t *loop, sync_t *sync, const char *path);

/* Stops listening, closes open requests and removes the socket file; the
 * memory goes with the last close callback as the loop runs on. NULL is
 * fine. Call once. */
void admin_stop(admin_t *admin);

/* Lets "coordinators" notices revalidate auth's sessions. NULL is fine. */
typedef struct auth_s auth_t;
void admin_set_auth(admin_t *admin, auth_t *auth);

/* The socket path turfd and turfctl derive from a database path when none
 * is given: "<db>.sock". Returns 0, or -1 when it does not fit size or a
 * unix socket path (108 bytes). Inline so turfctl shares it without
 * linking the server. */
static inline int admin_default_path(const char *db, char *out, size_t size) {
  int n = snprintf(out, size, "%s.sock", db);
  if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return -1;
  return 0;
}

#endif
