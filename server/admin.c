/* admin.c — turfd's side of the turfctl socket (see admin.h).
 *
 * Owns the listening pipe and one small struct per open request; each is
 * freed in its close callback, never inside a callback that still holds
 * it. Requests are one short line, answered with one line, then closed. */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

#define ADMIN__LINE_MAX 256 /* longer than any request: the rest is refused */
#define ADMIN__SUN_PATH (sizeof(((struct sockaddr_un *)0)->sun_path))

typedef struct admin__req_s admin__req_t;

struct admin_s {
  uv_pipe_t server;
  sync_t *sync;
  auth_t *auth;       /* may be NULL */
  admin__req_t *reqs; /* open requests, so admin_stop can close them */
  char path[ADMIN__SUN_PATH];
  bool stopping;
  uint32_t handles;   /* open handles (server + requests): freed at 0 */
};

struct admin__req_s {
  uv_pipe_t pipe;
  uv_write_t write;
  admin_t *admin;
  admin__req_t *prev, *next;
  char line[ADMIN__LINE_MAX];
  size_t len;
  char reply[96];
  bool answered;      /* a reply is on its way: ignore further input */
};

static void admin__release(admin_t *admin) {
  if (--admin->handles == 0)
    free(admin);
}

static void admin__req_closed(uv_handle_t *handle) {
  admin__req_t *req = handle->data;
  admin_t *admin = req->admin;
  if (req->prev)
    req->prev->next = req->next;
  else
    admin->reqs = req->next;
  if (req->next)
    req->next->prev = req->prev;
  free(req);
  admin__release(admin);
}

static void admin__req_close(admin__req_t *req) {
  if (!uv_is_closing((uv_handle_t *)&req->pipe))
    uv_close((uv_handle_t *)&req->pipe, admin__req_closed);
}

static void admin__written(uv_write_t *w, int status) {
  (void)status; /* a reader that went away needs no answer */
  admin__req_close(w->data);
}

static void admin__answer(admin__req_t *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void admin__answer(admin__req_t *req, const char *fmt, ...) {
  va_list ap;
  uv_buf_t buf;
  int n;

  req->answered = true;
  uv_read_stop((uv_stream_t *)&req->pipe);
  va_start(ap, fmt);
  n = vsnprintf(req->reply, sizeof(req->reply) - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n > sizeof(req->reply) - 2)
    n = (int)sizeof(req->reply) - 2;
  req->reply[n++] = '\n';
  buf = uv_buf_init(req->reply, (unsigned)n);
  req->write.data = req;
  if (uv_write(&req->write, (uv_stream_t *)&req->pipe, &buf, 1, admin__written) != 0)
    admin__req_close(req);
}

/* An id as turfctl sends it: 1..64 bytes, no spaces or control bytes. */
static bool admin__is_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > PROTO_MAX_ID_BYTES)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
      return false;
  return true;
}

static void admin__dispatch(admin__req_t *req) {
  admin_t *admin = req->admin;
  char *line = req->line, *arg;

  arg = strchr(line, ' ');
  if (arg)
    *arg++ = '\0';
  if (strcmp(line, "ping") == 0 && !arg) {
    admin__answer(req, "ok turfd");
  } else if (strcmp(line, "coordinators") == 0 && !arg) {
    auth_revalidate(admin->auth);
    admin__answer(req, "ok");
  } else if (strcmp(line, "revoke") == 0 && arg && admin__is_id(arg)) {
    uint32_t n = sync_device_revoked(admin->sync, arg);
    log_info("admin: device %s revoked, %u connection(s) cut", arg, n);
    admin__answer(req, "ok %u", n);
  } else if (strcmp(line, "rescope") == 0 && arg && admin__is_id(arg)) {
    uint32_t n = sync_device_rescoped(admin->sync, arg);
    log_info("admin: device %s has new locations, %u connection(s) cut", arg, n);
    admin__answer(req, "ok %u", n);
  } else if (strcmp(line, "changed") == 0 && arg) {
    char *end;
    errno = 0;
    long long org = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || org <= 0) {
      admin__answer(req, "error bad organisation id");
      return;
    }
    sync_org_changed(admin->sync, (int64_t)org);
    admin__answer(req, "ok");
  } else {
    admin__answer(req, "error unknown request");
  }
}

static void admin__alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  admin__req_t *req = handle->data;
  (void)suggested;
  /* Read straight into the line; one byte stays for the NUL. */
  buf->base = req->line + req->len;
  buf->len = sizeof(req->line) - 1 - req->len;
}

static void admin__read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  admin__req_t *req = stream->data;
  char *nl;
  (void)buf;

  if (req->answered)
    return;
  if (nread < 0) {
    admin__req_close(req);
    return;
  }
  req->len += (size_t)nread;
  req->line[req->len] = '\0';
  nl = memchr(req->line, '\n', req->len);
  if (nl) {
    *nl = '\0';
    if (nl > req->line && nl[-1] == '\r')
      nl[-1] = '\0';
    admin__dispatch(req);
  } else if (req->len >= sizeof(req->line) - 1) {
    admin__answer(req, "error line too long");
  }
}

static void admin__on_connection(uv_stream_t *server, int status) {
  admin_t *admin = server->data;
  admin__req_t *req;

  if (status != 0 || admin->stopping)
    return;
  req = calloc(1, sizeof(*req));
  if (!req)
    return;
  req->admin = admin;
  uv_pipe_init(server->loop, &req->pipe, 0);
  req->pipe.data = req;
  admin->handles++;
  req->next = admin->reqs;
  if (admin->reqs)
    admin->reqs->prev = req;
  admin->reqs = req;
  if (uv_accept(server, (uv_stream_t *)&req->pipe) != 0 ||
      uv_read_start((uv_stream_t *)&req->pipe, admin__alloc, admin__read) != 0)
    admin__req_close(req);
}

/* A socket file left by a turfd that died: nobody accepts on it. */
static bool admin__stale(const char *path) {
  struct sockaddr_un sa;
  struct stat st;
  int fd, rc;

  if (lstat(path, &st) != 0)
    return errno == ENOENT;
  if (!S_ISSOCK(st.st_mode))
    return false; /* not ours to remove */
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
  close(fd);
  if (rc == 0)
    return false; /* a live turfd answers there */
  unlink(path);
  return true;
}

static void admin__server_closed(uv_handle_t *handle) { admin__release(handle->data); }

admin_t *admin_start(uv_loop_t *loop, sync_t *sync, const char *path) {
  admin_t *admin;
  int rc;

  if (strlen(path) >= ADMIN__SUN_PATH) {
    log_error("admin socket path too long (max %zu bytes): %s", ADMIN__SUN_PATH - 1, path);
    return NULL;
  }
  if (!admin__stale(path)) {
    log_error("admin socket %s is in use (another turfd on this database?) or not a socket",
              path);
    return NULL;
  }
  admin = calloc(1, sizeof(*admin));
  if (!admin)
    return NULL;
  admin->sync = sync;
  snprintf(admin->path, sizeof(admin->path), "%s", path);
  uv_pipe_init(loop, &admin->server, 0);
  admin->server.data = admin;
  admin->handles = 1;
  rc = uv_pipe_bind(&admin->server, path);
  /* Owner only, before anyone can connect (listen comes after). */
  if (rc == 0 && chmod(path, 0600) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&admin->server, 16, admin__on_connection);
  if (rc != 0) {
    log_error("admin socket %s: %s", path, uv_strerror(rc));
    unlink(path);
    uv_close((uv_handle_t *)&admin->server, admin__server_closed);
    return NULL;
  }
  log_info("admin socket %s", path);
  return admin;
}

void admin_set_auth(admin_t *admin, auth_t *auth) {
  if (admin)
    admin->auth = auth;
}

void admin_stop(admin_t *admin) {
  if (!admin || admin->stopping)
    return;
  admin->stopping = true;
  unlink(admin->path);
  for (admin__req_t *req = admin->reqs; req; req = req->next)
    admin__req_close(req);
  uv_close((uv_handle_t *)&admin->server, admin__server_closed);
}
