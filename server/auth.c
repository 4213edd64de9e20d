/* auth.c — coordinators' logins, sessions and the /auth routes (see
 * auth.h).
 *
 * Owns the session table (loop thread only), the revalidation timer, and
 * the login and revalidation jobs while they run on libuv's thread pool.
 * A job never touches the session table or lws: it reads the database with
 * its own short-lived connection and computes; the loop thread applies the
 * result. A request that goes away while its login is on the pool only
 * detaches from the job (job->wsi = NULL); the job is freed when it comes
 * back. */
#include "auth.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "http.h"
#include "log.h"
#include "passwd.h"
#include "throttle.h"

#define AUTH__TOKEN_BYTES 32
#define AUTH__MAX_SESSIONS 1024            /* the oldest goes when full */
#define AUTH__MAX_SESSIONS_PER_ACCOUNT 8   /* its own oldest goes: one account
                                              cannot push the others out */
/* Password guesses: per login name 5, then one a minute; per address 20,
 * then one every 6 s. Taken before the slow hash, given back to the login
 * name when its password was right. */
#define AUTH__LOGIN_BURST 5
#define AUTH__LOGIN_REFILL_MS 60000
#define AUTH__ADDRESS_BURST 20
#define AUTH__ADDRESS_REFILL_MS 6000
#define AUTH__TOO_MANY_REQUESTS 429 /* not among lws's HTTP_STATUS_ names */
#define AUTH__TTL_MS (12 * 3600 * 1000ull) /* a session lasts at most this */
#define AUTH__IDLE_MS (2 * 3600 * 1000ull) /* ... and ends unused for this */
#define AUTH__CHECK_MS 60000               /* revalidation period */
#define AUTH__MAX_LOGINS 4                 /* password checks at once */
#define AUTH__BODY_MAX 4096                /* a login form */
#define AUTH__NAME_MAX 64                  /* bytes of a coordinator's name the page greets */
#define AUTH__COOKIE "turf_session"
#define AUTH__COOKIE_TLS "__Host-turf_session" /* browsers insist on Secure,
                                                  Path=/, no Domain */

typedef struct {
  unsigned char token_hash[32]; /* SHA-256 of the token the cookie holds */
  unsigned char pw_tag[32];     /* SHA-256 of the password hash at login */
  int64_t coordinator, org;
  char login[PROTO_MAX_ID_BYTES + 1];
  char name[AUTH__NAME_MAX + 1]; /* the coordinator's name ("" for none) */
  bool can_write;
  uint64_t id;                  /* unique for this turfd's life (auth_user_t.session) */
  uint64_t created_ms, used_ms; /* loop time */
} auth__session_t;

struct auth_s {
  uv_loop_t *loop;
  char *db_path;
  bool secure;
  auth__session_t *sessions;
  uint32_t nsessions;
  uint64_t next_session; /* ids given out so far */
  throttle_t *by_login;   /* login attempts per login name */
  throttle_t *by_address; /* ... and per peer address */
  uv_timer_t timer;
  uint32_t logins; /* on the pool now */
  uint32_t jobs;   /* any job on the pool: auth is freed after the last */
  bool checking;   /* a revalidation is on the pool */
  bool recheck;    /* asked for another while one was on the pool */
  bool closing;
  bool timer_open;
};

/* A response being written. */
typedef enum { AUTH__IDLE = 0, AUTH__HEADERS, AUTH__BODY } auth__stage_t;

typedef struct auth__login_s auth__login_t;

/* lws per-request data of the /auth routes (AUTH_SESSION_BYTES). */
typedef struct {
  auth_t *auth;
  char body[AUTH__BODY_MAX + 1];
  size_t body_len;
  bool too_large;
  bool json; /* the client asked for JSON answers */
  bool login; /* POST /login: its body is the form (other routes' bodies are ignored) */
  auth__login_t *job;
  auth__stage_t stage;
  int status;
  char location[32];
  char cookie[200];
  const char *ctype;
  char text[512];
  size_t text_len;
} auth__http_t;

_Static_assert(sizeof(auth__http_t) <= AUTH_SESSION_BYTES, "AUTH_SESSION_BYTES too small");

struct auth__login_s {
  uv_work_t work;
  auth_t *auth;
  struct lws *wsi;      /* NULL once the request is gone */
  auth__http_t *http;
  char login[PROTO_MAX_ID_BYTES + 1];
  char password[PASSWD_MAX_BYTES + 1];
  /* results, written on the pool */
  bool ok, failed;      /* failed: the database could not be read */
  int64_t coordinator, org;
  char name[AUTH__NAME_MAX + 1];
  bool can_write;
  unsigned char pw_tag[32];
};

/* One account's state as revalidation reads it. */
typedef struct {
  int64_t id;
  bool active;
  unsigned char pw_tag[32];
} auth__account_t;

typedef struct {
  uv_work_t work;
  auth_t *auth;
  auth__account_t *accounts;
  uint32_t n;
  bool failed;
} auth__check_t;

const struct lws_http_mount auth_mount = {
    .mountpoint = "/auth",
    .mountpoint_len = 5,
    .origin = AUTH_PROTOCOL_NAME,
    .origin_protocol = LWSMPRO_CALLBACK,
};

/* ---- helpers ---------------------------------------------------------------- */

/* A coordinator's name, cut to AUTH__NAME_MAX bytes at a character's start
 * (NULL: ""). */
static void auth__copy_name(char out[AUTH__NAME_MAX + 1], const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n > AUTH__NAME_MAX) {
    n = AUTH__NAME_MAX;
    while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80) n--;
  }
  if (n) memcpy(out, name, n);
  out[n] = '\0';
}

/* s as a JSON string, quotes included: a name is typed by a person. What
 * does not fit in cap bytes is left out (a name of control characters). */
static void auth__json_str(const char *s, char *out, size_t cap) {
  size_t n = 0;
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < cap; p++) {
    if (*p == '"' || *p == '\\') {
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p < 0x20 || *p == 0x7f) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
    } else {
      out[n++] = (char)*p;
    }
  }
  out[n++] = '"';
  out[n] = '\0';
}

static void auth__sha256(const void *data, size_t len, unsigned char out[32]) {
  unsigned int n = 0;
  if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
    memset(out, 0, 32); /* matches nothing a real token hashes to */
}

/* Opens the database for reading on a pool thread. */
static sqlite3 *auth__open_db(const char *path) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

static void auth__release(auth_t *auth) {
  if (auth->closing && auth->jobs == 0 && !auth->timer_open) {
    throttle_free(auth->by_login);
    throttle_free(auth->by_address);
    free(auth->sessions);
    free(auth->db_path);
    free(auth);
  }
}

static void auth__drop(auth_t *auth, uint32_t i) {
  OPENSSL_cleanse(&auth->sessions[i], sizeof(auth->sessions[i]));
  auth->sessions[i] = auth->sessions[--auth->nsessions];
}

/* ---- sessions --------------------------------------------------------------- */

static int auth__hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* The session token in wsi's cookie, as its SHA-256. Returns 0 or -1. */
static int auth__cookie_hash(const auth_t *auth, struct lws *wsi, unsigned char hash[32]) {
  const char *name = auth->secure ? AUTH__COOKIE_TLS : AUTH__COOKIE;
  size_t name_len = strlen(name);
  unsigned char token[AUTH__TOKEN_BYTES];
  char cookies[2048];
  const char *p;

  if (lws_hdr_copy(wsi, cookies, sizeof(cookies), WSI_TOKEN_HTTP_COOKIE) <= 0)
    return -1;
  for (p = cookies; *p;) {
    while (*p == ' ' || *p == ';')
      p++;
    if (strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
      const char *v = p + name_len + 1;
      for (int i = 0; i < AUTH__TOKEN_BYTES; i++) {
        int hi = auth__hex_value(v[2 * i]), lo = hi < 0 ? -1 : auth__hex_value(v[2 * i + 1]);
        if (lo < 0)
          return -1;
        token[i] = (unsigned char)(hi << 4 | lo);
      }
      if (v[2 * AUTH__TOKEN_BYTES] != '\0' && v[2 * AUTH__TOKEN_BYTES] != ';' &&
          v[2 * AUTH__TOKEN_BYTES] != ' ')
        return -1;
      auth__sha256(token, sizeof(token), hash);
      OPENSSL_cleanse(token, sizeof(token));
      return 0;
    }
    p = strchr(p, ';');
    if (p == NULL)
      break;
  }
  return -1;
}

/* The live session wsi's cookie names, or -1. Expired ones are dropped on
 * the way. */
static int auth__find(auth_t *auth, struct lws *wsi) {
  unsigned char hash[32];
  uint64_t now = uv_now(auth->loop);
  int found = -1;

  if (auth->closing || auth__cookie_hash(auth, wsi, hash) != 0)
    return -1;
  /* Every entry is compared, in constant time each, so the time taken
   * does not say how much of a guess was right. */
  for (uint32_t i = 0; i < auth->nsessions; i++)
    if (CRYPTO_memcmp(auth->sessions[i].token_hash, hash, sizeof(hash)) == 0)
      found = (int)i;
  if (found >= 0) {
    auth__session_t *s = &auth->sessions[found];
    if (now - s->created_ms > AUTH__TTL_MS || now - s->used_ms > AUTH__IDLE_MS) {
      auth__drop(auth, (uint32_t)found);
      return -1;
    }
    s->used_ms = now;
  }
  return found;
}

/* A new session for a checked login; the token's hex goes to token_hex. */
static int auth__open_session(auth_t *auth, const auth__login_t *job,
                              char token_hex[2 * AUTH__TOKEN_BYTES + 1]) {
  static const char digits[] = "0123456789abcdef";
  unsigned char token[AUTH__TOKEN_BYTES];
  auth__session_t *s;
  uint32_t oldest = 0;

  if (RAND_bytes(token, sizeof(token)) != 1)
    return -1;
  if (auth->sessions == NULL) {
    auth->sessions = calloc(AUTH__MAX_SESSIONS, sizeof(*auth->sessions));
    if (auth->sessions == NULL)
      return -1;
  }
  uint32_t mine = 0, my_oldest = 0;
  for (uint32_t i = 0; i < auth->nsessions; i++) {
    if (auth->sessions[i].coordinator != job->coordinator) continue;
    if (mine == 0 || auth->sessions[i].used_ms < auth->sessions[my_oldest].used_ms)
      my_oldest = i;
    mine++;
  }
  if (mine >= AUTH__MAX_SESSIONS_PER_ACCOUNT) {
    auth__drop(auth, my_oldest);
  } else if (auth->nsessions == AUTH__MAX_SESSIONS) {
    for (uint32_t i = 1; i < auth->nsessions; i++)
      if (auth->sessions[i].used_ms < auth->sessions[oldest].used_ms)
        oldest = i;
    auth__drop(auth, oldest);
  }
  s = &auth->sessions[auth->nsessions++];
  memset(s, 0, sizeof(*s));
  auth__sha256(token, sizeof(token), s->token_hash);
  memcpy(s->pw_tag, job->pw_tag, sizeof(s->pw_tag));
  s->coordinator = job->coordinator;
  s->org = job->org;
  s->can_write = job->can_write;
  s->id = ++auth->next_session;
  snprintf(s->login, sizeof(s->login), "%s", job->login);
  memcpy(s->name, job->name, sizeof(s->name));
  s->created_ms = s->used_ms = uv_now(auth->loop);
  for (int i = 0; i < AUTH__TOKEN_BYTES; i++) {
    token_hex[2 * i] = digits[token[i] >> 4];
    token_hex[2 * i + 1] = digits[token[i] & 15];
  }
  token_hex[2 * AUTH__TOKEN_BYTES] = '\0';
  OPENSSL_cleanse(token, sizeof(token));
  return 0;
}

/* ---- responses --------------------------------------------------------------- */

/* Prepares a response and asks for a writable callback to send it. */
static void auth__respond(struct lws *wsi, auth__http_t *h, int status, const char *location,
                          const char *cookie, const char *ctype, const char *text) {
  h->status = status;
  snprintf(h->location, sizeof(h->location), "%s", location ? location : "");
  snprintf(h->cookie, sizeof(h->cookie), "%s", cookie ? cookie : "");
  h->ctype = ctype ? ctype : "text/plain; charset=utf-8";
  h->text_len = (size_t)snprintf(h->text, sizeof(h->text), "%s", text ? text : "");
  if (h->text_len >= sizeof(h->text))
    h->text_len = sizeof(h->text) - 1;
  h->stage = AUTH__HEADERS;
  lws_callback_on_writable(wsi);
}

/* Writes the prepared response: headers, then the body on the next
 * writable callback. Returns what the lws callback returns. */
static int auth__write(struct lws *wsi, auth__http_t *h) {
  uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;

  if (h->stage == AUTH__HEADERS) {
    if (lws_add_http_header_status(wsi, (unsigned)h->status, &p, end) ||
        (h->location[0] &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION,
                                      (const unsigned char *)h->location,
                                      (int)strlen(h->location), &p, end)) ||
        (h->cookie[0] &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_SET_COOKIE,
                                      (const unsigned char *)h->cookie, (int)strlen(h->cookie),
                                      &p, end)) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)h->ctype, (int)strlen(h->ctype), &p,
                                     end) ||
        lws_add_http_header_content_length(wsi, h->text_len, &p, end) ||
        lws_finalize_http_header(wsi, &p, end))
      return 1;
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) != (int)(p - start))
      return 1;
    /* Even an empty body is written: under HTTP/2 (TLS with ALPN) the
     * final write is what ends the stream. */
    h->stage = AUTH__BODY;
    lws_callback_on_writable(wsi);
    return 0;
  } else if (h->stage == AUTH__BODY) {
    memcpy(start, h->text, h->text_len);
    if (lws_write(wsi, start, h->text_len, LWS_WRITE_HTTP_FINAL) != (int)h->text_len)
      return 1;
  } else {
    return 0;
  }
  h->stage = AUTH__IDLE;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The cookie header value that sets (token != NULL) or clears a session. */
static void auth__cookie(const auth_t *auth, const char *token, char *out, size_t size) {
  snprintf(out, size, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%s%s",
           auth->secure ? AUTH__COOKIE_TLS : AUTH__COOKIE, token ? token : "",
           token ? "43200" : "0", auth->secure ? "; Secure" : "");
}

/* A request's Origin, when it has one, must be this very site: a page
 * elsewhere cannot log someone in or out. */
static bool auth__same_origin(const auth_t *auth, struct lws *wsi) {
  char origin[256], host[256], want[300];
  if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
    return true;
  if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
    return false;
  snprintf(want, sizeof(want), "%s://%s", auth->secure ? "https" : "http", host);
  return strcmp(origin, want) == 0;
}

/* ---- login ---------------------------------------------------------------------- */

/* Decodes one x-www-form-urlencoded value in place. */
static void auth__form_decode(char *s) {
  char *out = s;
  for (; *s; s++) {
    int hi, lo;
    if (*s == '+') {
      *out++ = ' ';
    } else if (*s == '%' && (hi = auth__hex_value((char)(s[1] | 0x20))) >= 0 && s[2] &&
               (lo = auth__hex_value((char)(s[2] | 0x20))) >= 0) {
      *out++ = (char)(hi << 4 | lo);
      s += 2;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

/* Splits a form body (modified in place) into its login and password
 * values; NULL for a missing one. */
static void auth__form_parse(char *body, const char **login, const char **password) {
  *login = *password = NULL;
  for (char *p = body; p != NULL && *p;) {
    char *amp = strchr(p, '&'), *eq;
    if (amp)
      *amp = '\0';
    eq = strchr(p, '=');
    if (eq) {
      *eq = '\0';
      auth__form_decode(eq + 1);
      if (strcmp(p, "login") == 0)
        *login = eq + 1;
      else if (strcmp(p, "password") == 0)
        *password = eq + 1;
    }
    p = amp ? amp + 1 : NULL;
  }
}

static void auth__login_work(uv_work_t *w) {
  auth__login_t *job = w->data;
  sqlite3 *db = auth__open_db(job->auth->db_path);
  sqlite3_stmt *st = NULL;
  bool known = false;

  if (db == NULL ||
      sqlite3_prepare_v2(db,
                         "SELECT id, org, role, password_hash, disabled, name FROM coordinators "
                         "WHERE login = ?1",
                         -1, &st, NULL) != SQLITE_OK) {
    job->failed = true;
    goto done;
  }
  sqlite3_bind_text(st, 1, job->login, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 4) == 0 &&
      sqlite3_column_type(st, 3) == SQLITE_TEXT) {
    const char *hash = (const char *)sqlite3_column_text(st, 3);
    known = true;
    job->coordinator = sqlite3_column_int64(st, 0);
    job->org = sqlite3_column_int64(st, 1);
    job->can_write = strcmp((const char *)sqlite3_column_text(st, 2), "coordinator") == 0;
    auth__copy_name(job->name, (const char *)sqlite3_column_text(st, 5));
    auth__sha256(hash, strlen(hash), job->pw_tag);
    job->ok = passwd_verify(job->password, hash);
  }
  /* An unknown or disabled login costs as much as a wrong password. */
  if (!known)
    passwd_burn(job->password);
done:
  sqlite3_finalize(st);
  sqlite3_close(db);
  OPENSSL_cleanse(job->password, sizeof(job->password));
}

static void auth__login_done(uv_work_t *w, int status) {
  auth__login_t *job = w->data;
  auth_t *auth = job->auth;
  char token[2 * AUTH__TOKEN_BYTES + 1], cookie[200], text[512], name[256];

  auth->logins--;
  auth->jobs--;
  if (job->wsi != NULL && job->http != NULL) {
    auth__http_t *h = job->http;
    h->job = NULL;
    if (status != 0 || job->failed || auth->closing) {
      auth__respond(job->wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL, NULL, NULL,
                    "logins are not possible right now; try again shortly\n");
    } else if (!job->ok) {
      log_info("login refused for %s", job->login);
      auth__respond(job->wsi, h, HTTP_STATUS_UNAUTHORIZED, NULL, NULL,
                    h->json ? "application/json" : NULL,
                    h->json ? "{\"error\":\"wrong login or password\"}\n"
                            : "wrong login or password\n");
    } else if (auth__open_session(auth, job, token) != 0) {
      auth__respond(job->wsi, h, HTTP_STATUS_INTERNAL_SERVER_ERROR, NULL, NULL, NULL,
                    "could not open a session\n");
    } else {
      throttle_forget(auth->by_login, job->login);
      log_info("login %s org=%" PRId64, job->login, job->org);
      auth__cookie(auth, token, cookie, sizeof(cookie));
      OPENSSL_cleanse(token, sizeof(token));
      if (h->json) {
        auth__json_str(job->name, name, sizeof(name));
        snprintf(text, sizeof(text),
                 "{\"login\":\"%s\",\"name\":%s,\"org\":%" PRId64 ",\"role\":\"%s\"}\n",
                 job->login, name, job->org, job->can_write ? "coordinator" : "viewer");
        auth__respond(job->wsi, h, HTTP_STATUS_OK, NULL, cookie, "application/json", text);
      } else {
        auth__respond(job->wsi, h, HTTP_STATUS_SEE_OTHER, "/", cookie, NULL, NULL);
      }
      OPENSSL_cleanse(cookie, sizeof(cookie));
    }
  }
  OPENSSL_cleanse(job, sizeof(*job));
  free(job);
  auth__release(auth);
}

static void auth__login_start(struct lws *wsi, auth__http_t *h) {
  auth_t *auth = h->auth;
  const char *login, *password;
  auth__login_t *job;

  h->body[h->body_len] = '\0';
  auth__form_parse(h->body, &login, &password);
  if (login == NULL || password == NULL || login[0] == '\0' ||
      strlen(login) > PROTO_MAX_ID_BYTES || strlen(password) > PASSWD_MAX_BYTES) {
    auth__respond(wsi, h, HTTP_STATUS_BAD_REQUEST, NULL, NULL, NULL,
                  "send login and password as a form\n");
    goto wipe;
  }
  if (auth->logins >= AUTH__MAX_LOGINS) {
    auth__respond(wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL, NULL, NULL,
                  "too many logins at once; try again shortly\n");
    goto wipe;
  }
  {
    char peer[64] = "";
    uint64_t now = uv_now(auth->loop), wait;
    lws_get_peer_simple(wsi, peer, sizeof peer);
    wait = throttle_take(auth->by_address, peer, now);
    if (wait == 0) wait = throttle_take(auth->by_login, login, now);
    if (wait > 0) {
      char text[96];
      log_warn("login of %s from %s refused: too many attempts, next in %" PRIu64 " s", login,
               peer, (wait + 999) / 1000);
      snprintf(text, sizeof text, "too many login attempts; try again in %" PRIu64 " s\n",
               (wait + 999) / 1000);
      auth__respond(wsi, h, AUTH__TOO_MANY_REQUESTS, NULL, NULL,
                    h->json ? "application/json" : NULL,
                    h->json ? "{\"error\":\"too many login attempts\"}\n" : text);
      goto wipe;
    }
  }
  job = calloc(1, sizeof(*job));
  if (job == NULL) {
    auth__respond(wsi, h, HTTP_STATUS_INTERNAL_SERVER_ERROR, NULL, NULL, NULL, "out of memory\n");
    goto wipe;
  }
  job->auth = auth;
  job->wsi = wsi;
  job->http = h;
  job->work.data = job;
  snprintf(job->login, sizeof(job->login), "%s", login);
  snprintf(job->password, sizeof(job->password), "%s", password);
  if (uv_queue_work(auth->loop, &job->work, auth__login_work, auth__login_done) != 0) {
    OPENSSL_cleanse(job, sizeof(*job));
    free(job);
    auth__respond(wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL, NULL, NULL,
                  "logins are not possible right now\n");
    goto wipe;
  }
  h->job = job;
  auth->logins++;
  auth->jobs++;
wipe:
  OPENSSL_cleanse(h->body, sizeof(h->body));
  h->body_len = 0;
}

/* ---- revalidation --------------------------------------------------------------- */

static void auth__check_work(uv_work_t *w) {
  auth__check_t *c = w->data;
  sqlite3 *db = auth__open_db(c->auth->db_path);
  sqlite3_stmt *st = NULL;
  uint32_t cap = 0;
  int rc;

  if (db == NULL || sqlite3_prepare_v2(db,
                                       "SELECT id, disabled, password_hash FROM coordinators",
                                       -1, &st, NULL) != SQLITE_OK) {
    c->failed = true;
    goto done;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *hash = (const char *)sqlite3_column_text(st, 2);
    if (c->n == cap) {
      uint32_t ncap = cap ? cap * 2 : 16;
      void *grown = realloc(c->accounts, ncap * sizeof(*c->accounts));
      if (grown == NULL) {
        c->failed = true;
        goto done;
      }
      c->accounts = grown;
      cap = ncap;
    }
    c->accounts[c->n].id = sqlite3_column_int64(st, 0);
    c->accounts[c->n].active = sqlite3_column_int(st, 1) == 0;
    auth__sha256(hash ? hash : "", hash ? strlen(hash) : 0, c->accounts[c->n].pw_tag);
    c->n++;
  }
  if (rc != SQLITE_DONE)
    c->failed = true;
done:
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void auth__check_done(uv_work_t *w, int status) {
  auth__check_t *c = w->data;
  auth_t *auth = c->auth;

  auth->jobs--;
  auth->checking = false;
  /* A failed read keeps sessions as they are: the next round decides. */
  if (status == 0 && !c->failed && !auth->closing) {
    for (uint32_t i = 0; i < auth->nsessions;) {
      auth__session_t *s = &auth->sessions[i];
      bool keep = false;
      for (uint32_t k = 0; k < c->n; k++)
        if (c->accounts[k].id == s->coordinator)
          keep = c->accounts[k].active &&
                 CRYPTO_memcmp(c->accounts[k].pw_tag, s->pw_tag, sizeof(s->pw_tag)) == 0;
      if (keep) {
        i++;
      } else {
        log_info("session of %s ended: account disabled or password changed", s->login);
        auth__drop(auth, i);
      }
    }
  }
  free(c->accounts);
  free(c);
  if (auth->recheck && !auth->closing) {
    auth->recheck = false;
    auth_revalidate(auth);
  }
  auth__release(auth);
}

static void auth__on_timer(uv_timer_t *t) {
  auth_t *auth = t->data;
  uint64_t now = uv_now(auth->loop);

  for (uint32_t i = 0; i < auth->nsessions;) {
    auth__session_t *s = &auth->sessions[i];
    if (now - s->created_ms > AUTH__TTL_MS || now - s->used_ms > AUTH__IDLE_MS)
      auth__drop(auth, i);
    else
      i++;
  }
  auth_revalidate(auth);
}

void auth_revalidate(auth_t *auth) {
  auth__check_t *c;

  if (auth == NULL || auth->nsessions == 0 || auth->closing)
    return;
  if (auth->checking) {
    auth->recheck = true; /* the running read may predate the change */
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  c->auth = auth;
  c->work.data = c;
  if (uv_queue_work(auth->loop, &c->work, auth__check_work, auth__check_done) != 0) {
    free(c);
    return;
  }
  auth->checking = true;
  auth->jobs++;
}

/* ---- lws ------------------------------------------------------------------------ */

static auth_t *auth__of(struct lws *wsi) { return http_attached(wsi, AUTH_PROTOCOL_NAME); }

/* The request left (closed, or its connection moved on): a login still on
 * the pool must not write to it. */
static void auth__detach(auth__http_t *h) {
  if (h->job) {
    h->job->wsi = NULL;
    h->job->http = NULL;
    h->job = NULL;
  }
  OPENSSL_cleanse(h->body, sizeof(h->body));
}

/* lws 4.1 hands a callback mount the path after the mount point for a
 * POST but the whole path for a GET: both become "/login", "/me", ... */
static const char *auth__route(const char *path) {
  size_t n = strlen(auth_mount.mountpoint);
  if (strncmp(path, auth_mount.mountpoint, n) == 0 && path[n] == '/')
    return path + n;
  return path;
}

static int auth__on_request(struct lws *wsi, auth__http_t *h, const char *path) {
  auth_t *auth = h->auth;
  bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
  char accept[256] = "", cookie[200], text[512], name[256];
  int i;

  h->login = false; /* a kept-alive connection's earlier request may have been one */
  if (lws_hdr_copy(wsi, accept, sizeof(accept), WSI_TOKEN_HTTP_ACCEPT) > 0 &&
      strstr(accept, "application/json") != NULL)
    h->json = true;
  if (!auth__same_origin(auth, wsi)) {
    auth__respond(wsi, h, HTTP_STATUS_FORBIDDEN, NULL, NULL, NULL, "cross-site request\n");
    return 0;
  }
  if (strcmp(path, "/login") == 0) {
    char len[32] = "";
    if (!post) {
      auth__respond(wsi, h, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL, NULL, NULL, "POST a form\n");
      return 0;
    }
    /* No body means no body callbacks: answer now. */
    if (lws_hdr_copy(wsi, len, sizeof(len), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
        atol(len) <= 0) {
      auth__respond(wsi, h, HTTP_STATUS_BAD_REQUEST, NULL, NULL, NULL,
                    "send login and password as a form\n");
      return 0;
    }
    if (atol(len) > AUTH__BODY_MAX)
      h->too_large = true;
    h->login = true;
    return 0; /* the form arrives in HTTP_BODY */
  }
  if (strcmp(path, "/logout") == 0) {
    if (!post) {
      auth__respond(wsi, h, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL, NULL, NULL, "POST\n");
      return 0;
    }
    i = auth__find(auth, wsi);
    if (i >= 0) {
      log_info("logout %s", auth->sessions[i].login);
      auth__drop(auth, (uint32_t)i);
    }
    auth__cookie(auth, NULL, cookie, sizeof(cookie));
    if (h->json)
      auth__respond(wsi, h, HTTP_STATUS_NO_CONTENT, NULL, cookie, NULL, NULL);
    else
      auth__respond(wsi, h, HTTP_STATUS_SEE_OTHER, "/login", cookie, NULL, NULL);
    return 0;
  }
  if (strcmp(path, "/me") == 0) {
    i = auth__find(auth, wsi);
    if (i < 0) {
      auth__respond(wsi, h, HTTP_STATUS_UNAUTHORIZED, NULL, NULL, "application/json",
                    "{\"error\":\"not logged in\"}\n");
      return 0;
    }
    auth__json_str(auth->sessions[i].name, name, sizeof(name));
    snprintf(text, sizeof(text),
             "{\"login\":\"%s\",\"name\":%s,\"org\":%" PRId64 ",\"role\":\"%s\"}\n",
             auth->sessions[i].login, name, auth->sessions[i].org,
             auth->sessions[i].can_write ? "coordinator" : "viewer");
    auth__respond(wsi, h, HTTP_STATUS_OK, NULL, NULL, "application/json", text);
    return 0;
  }
  auth__respond(wsi, h, HTTP_STATUS_NOT_FOUND, NULL, NULL, NULL, "not found\n");
  return 0;
}

int auth_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
  auth__http_t *h = user;

  switch (reason) {
  case LWS_CALLBACK_HTTP:
    h->auth = auth__of(wsi);
    if (h->auth == NULL || h->auth->closing) {
      lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
      return -1;
    }
    return auth__on_request(wsi, h, auth__route(in ? (const char *)in : ""));

  case LWS_CALLBACK_HTTP_BODY:
    /* Only a login's body is kept; an empty one comes as (NULL, 0). */
    if (!h->login || len == 0)
      return 0;
    if (h->too_large || h->body_len + len > AUTH__BODY_MAX) {
      h->too_large = true;
      return 0;
    }
    memcpy(h->body + h->body_len, in, len);
    h->body_len += len;
    return 0;

  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    /* A body sent with another route (a browser's empty POST to /logout
     * says Content-Length: 0) must not turn it into a login: that route
     * has answered already. */
    if (!h->login)
      return 0;
    if (h->too_large) {
      auth__respond(wsi, h, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, NULL, NULL, NULL,
                    "form too large\n");
      return 0;
    }
    auth__login_start(wsi, h);
    return 0;

  case LWS_CALLBACK_HTTP_WRITEABLE:
    return auth__write(wsi, h);

  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (h)
      auth__detach(h);
    return 0;

  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

/* ---- public ------------------------------------------------------------------------ */

auth_t *auth_new(uv_loop_t *loop, const char *db_path, bool secure) {
  auth_t *auth = calloc(1, sizeof(*auth));
  if (auth == NULL)
    return NULL;
  auth->loop = loop;
  auth->secure = secure;
  auth->db_path = strdup(db_path);
  auth->by_login = throttle_new(AUTH__LOGIN_BURST, AUTH__LOGIN_REFILL_MS);
  auth->by_address = throttle_new(AUTH__ADDRESS_BURST, AUTH__ADDRESS_REFILL_MS);
  if (auth->db_path == NULL || auth->by_login == NULL || auth->by_address == NULL) {
    throttle_free(auth->by_login);
    throttle_free(auth->by_address);
    free(auth->db_path);
    free(auth);
    return NULL;
  }
  uv_timer_init(loop, &auth->timer);
  auth->timer.data = auth;
  auth->timer_open = true;
  uv_timer_start(&auth->timer, auth__on_timer, AUTH__CHECK_MS, AUTH__CHECK_MS);
  /* The timer must not keep a stopping turfd alive on its own. */
  uv_unref((uv_handle_t *)&auth->timer);
  return auth;
}

int auth_attach(auth_t *auth, struct lws_vhost *vhost) {
  return http_attach(vhost, AUTH_PROTOCOL_NAME, auth);
}

static void auth__timer_closed(uv_handle_t *handle) {
  auth_t *auth = handle->data;
  auth->timer_open = false;
  auth__release(auth);
}

void auth_close(auth_t *auth) {
  if (auth == NULL || auth->closing)
    return;
  auth->closing = true;
  while (auth->nsessions)
    auth__drop(auth, 0);
  uv_close((uv_handle_t *)&auth->timer, auth__timer_closed);
}

int auth_request_user(struct lws *wsi, auth_user_t *user) {
  auth_t *auth = auth__of(wsi);
  int i;

  if (auth == NULL || (i = auth__find(auth, wsi)) < 0)
    return PROTO_EBAD_CREDENTIALS;
  user->coordinator = auth->sessions[i].coordinator;
  user->org = auth->sessions[i].org;
  user->can_write = auth->sessions[i].can_write;
  user->session = auth->sessions[i].id;
  snprintf(user->login, sizeof(user->login), "%s", auth->sessions[i].login);
  return 0;
}

bool auth_session_alive(struct lws *wsi, uint64_t session) {
  auth_t *auth = auth__of(wsi);
  uint64_t now;

  if (auth == NULL || auth->closing)
    return false;
  now = uv_now(auth->loop);
  for (uint32_t i = 0; i < auth->nsessions; i++) {
    auth__session_t *s = &auth->sessions[i];
    if (s->id != session)
      continue;
    if (now - s->created_ms > AUTH__TTL_MS || now - s->used_ms > AUTH__IDLE_MS) {
      auth__drop(auth, i);
      return false;
    }
    s->used_ms = now;
    return true;
  }
  return false;
}

uint32_t auth_session_count(const auth_t *auth) { return auth->nsessions; }
