/* test_store_util.h — helpers shared by the storage tests (test_store_*.c and
 * test_replica_*.c): scratch directories, op builders, running a store
 * request to completion on a real loop, and one-shot SQL queries against the
 * database file. Header-only so each test stays one executable. */
#ifndef TURF_TEST_STORE_UTIL_H
#define TURF_TEST_STORE_UTIL_H

#include <dirent.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hlc.h"
#include "proto.h"
#include "replica.h"
#include "schema.h"
#include "store.h"

/* A fixed wall clock: 2026-03-10 10:00 UTC (ms). */
#define TU_NOW_MS INT64_C(1773136800000)

/* ---- scratch directory ---- */

static inline void tu_mkdtemp(char dir[64]) {
  snprintf(dir, 64, "/tmp/turf-test-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
}

static inline void tu_path(char out[128], const char *dir, const char *name) {
  snprintf(out, 128, "%s/%s", dir, name);
}

/* Removes the files in dir (flat: databases and their -wal/-shm) and dir. */
static inline void tu_rmtree(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[512];
  CHECK(d != NULL);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    CHECK(unlink(path) == 0);
  }
  closedir(d);
  CHECK(rmdir(dir) == 0);
}

/* ---- ops ---- */

static inline proto_field_t tu_fstr(uint8_t id, const char *s) {
  proto_field_t f;
  memset(&f, 0, sizeof(f));
  f.id = id;
  f.value.type = PROTO_STR;
  f.value.u.s = proto_str(s);
  return f;
}

static inline proto_field_t tu_fint(uint8_t id, int64_t i) {
  proto_field_t f;
  memset(&f, 0, sizeof(f));
  f.id = id;
  f.value.type = PROTO_INT;
  f.value.u.i = i;
  return f;
}

static inline proto_field_t tu_fbool(uint8_t id, bool b) {
  proto_field_t f;
  memset(&f, 0, sizeof(f));
  f.id = id;
  f.value.type = PROTO_BOOL;
  f.value.u.b = b;
  return f;
}

static inline proto_field_t tu_fnil(uint8_t id) {
  proto_field_t f;
  memset(&f, 0, sizeof(f));
  f.id = id;
  f.value.type = PROTO_NIL;
  return f;
}

/* An op borrowing device, keys and fields (which must outlive it). */
static inline proto_op_t tu_op(const char *device, uint64_t seq, uint64_t hlc, uint8_t type,
                               const char *key, const char *key2, proto_field_t *fields,
                               uint32_t nfields) {
  proto_op_t op;
  memset(&op, 0, sizeof(op));
  op.device = proto_str(device);
  op.seq = seq;
  op.hlc = hlc;
  op.type = type;
  op.key = proto_str(key);
  op.key2 = proto_str(key2);
  op.fields = fields;
  op.nfields = nfields;
  return op;
}

/* ---- SQL on a connection ---- */

/* The single integer a query returns; -1 when it returns no row. */
static inline int64_t tu_qint(sqlite3 *db, const char *fmt, ...) {
  char sql[1024];
  sqlite3_stmt *st = NULL;
  int64_t v = -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof(sql), fmt, ap);
  va_end(ap);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    CHECK(0);
  }
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* The text a query returns, copied into out; "<none>" / "<null>". */
static inline const char *tu_qtext(sqlite3 *db, char *out, size_t size, const char *fmt, ...) {
  char sql[1024];
  sqlite3_stmt *st = NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof(sql), fmt, ap);
  va_end(ap);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    CHECK(0);
  }
  if (sqlite3_step(st) != SQLITE_ROW)
    snprintf(out, size, "<none>");
  else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
    snprintf(out, size, "<null>");
  else
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return out;
}

static inline void tu_exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, err);
    CHECK(0);
  }
}

static inline sqlite3 *tu_sqlite_open(const char *path) {
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

/* A database file with just the replica schema (what a tablet keeps). */
static inline sqlite3 *tu_replica_db(const char *path) {
  sqlite3 *db = tu_sqlite_open(path);
  tu_exec(db, replica_schema_sql());
  return db;
}

/* ---- store requests on a loop ---- */

static inline void tu__req_done(store_req_t *req) {
  (*(int *)req->data)++;
}

/* Submits req and runs loop until its callback has run exactly once. */
static inline void tu_run(uv_loop_t *loop, store_t *store, store_req_t *req) {
  int called = 0;
  req->data = &called;
  CHECK_EQ_INT(store_submit(store, req, tu__req_done), 0);
  while (called == 0)
    uv_run(loop, UV_RUN_ONCE);
  CHECK_EQ_INT(called, 1);
}

static inline void tu__closed(void *arg) {
  (*(int *)arg)++;
}

/* Closes store, lets the loop finish and checks nothing is left on it. */
static inline void tu_close(uv_loop_t *loop, store_t *store) {
  int closed = 0;
  store_close(store, tu__closed, &closed);
  while (closed == 0)
    uv_run(loop, UV_RUN_ONCE);
  CHECK_EQ_INT(closed, 1);
  CHECK_EQ_INT(uv_run(loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(loop), 0);
}

/* Hello for device with a token (tok) or an enrolment code (code); the new
 * token, when one is issued, is copied to token_out. Returns the status. */
static inline int tu_hello(uv_loop_t *loop, store_t *store, const char *device, const char *tok,
                           const char *code, int64_t now_ms, store_req_t *out_req) {
  proto_hello_t hello;
  store_req_t req;
  memset(&hello, 0, sizeof(hello));
  memset(&req, 0, sizeof(req));
  hello.version = PROTO_VERSION;
  hello.app = PROTO_STR("test/1");
  hello.device = proto_str(device);
  hello.name = PROTO_STR("test tablet");
  hello.token = proto_str(tok);
  hello.code = proto_str(code);
  hello.now_ms = now_ms;
  req.type = STORE_HELLO;
  req.u.hello.hello = &hello;
  req.u.hello.now_ms = now_ms;
  tu_run(loop, store, &req);
  req.u.hello.hello = NULL; /* it lived on this stack */
  if (out_req != NULL)
    *out_req = req;
  store_req_dispose(&req);
  return req.status;
}

/* Pushes ops for device (of org) and waits; the caller disposes *req. */
static inline void tu_push(uv_loop_t *loop, store_t *store, int64_t org, const char *device,
                           proto_op_t *ops, uint32_t nops, store_req_t *req) {
  memset(req, 0, sizeof(*req));
  req->type = STORE_PUSH;
  req->u.push.org_id = org;
  req->u.push.device = proto_str(device);
  req->u.push.ops = ops;
  req->u.push.nops = nops;
  req->u.push.now_ms = TU_NOW_MS;
  tu_run(loop, store, req);
}

static inline void tu_pull(uv_loop_t *loop, store_t *store, int64_t org, uint64_t cursor,
                           uint32_t limit, store_req_t *req) {
  memset(req, 0, sizeof(*req));
  req->type = STORE_PULL;
  req->u.pull.org_id = org;
  req->u.pull.cursor = cursor;
  req->u.pull.limit = limit;
  tu_run(loop, store, req);
}

#endif
