/* test_merge_vectors.c — runs the shared merge conformance vectors
 * (the JSON files of protocol/testdata/merge, format in its README.md) against the C
 * reference replica: every delivery order of every vector goes into a fresh
 * in-memory replica, each op must give its expected result, and the
 * replica's canonical state must equal the vector's expected state. The
 * JavaScript replica runs the same files (tests/js/), so neither can drift
 * from the rules without a test failing. */
#include <dirent.h>
#include <stdarg.h>
#include <sqlite3.h>

#include "check.h"
#include "json_reader.h"
#include "proto.h"
#include "replica.h"
#include "schema.h"

#ifndef TURF_MERGE_VECTORS
#error "TURF_MERGE_VECTORS must name the vectors' directory"
#endif

#define ORG 1

static int failures;

/* ---- reading a vector ----------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  n = ftell(f);
  CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
  buf = malloc((size_t)n + 1);
  CHECK(buf != NULL);
  CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  buf[n] = '\0';
  *len = (size_t)n;
  return buf;
}

static const jr_t *member(const jr_t *obj, const char *key, jr_type_t type) {
  const jr_t *v = jr_get(obj, key);
  if (v == NULL || v->type != type) {
    fprintf(stderr, "vector: \"%s\" missing or of the wrong type\n", key);
    abort();
  }
  return v;
}

static uint64_t member_uint(const jr_t *obj, const char *key) {
  const jr_t *v = member(obj, key, JR_INT);
  CHECK(v->i >= 0);
  return (uint64_t)v->i;
}

/* One op of a vector, borrowing its strings from the parsed JSON. */
typedef struct {
  proto_op_t op;
  proto_field_t fields[PROTO_MAX_FIELDS_PER_OP + 1];
} vop_t;

static void read_op(const jr_t *j, vop_t *o) {
  const jr_t *f = member(j, "f", JR_OBJ);
  memset(o, 0, sizeof(*o));
  o->op.device = proto_str(member(j, "d", JR_STR)->s);
  o->op.seq = member_uint(j, "s");
  o->op.server_seq = member_uint(j, "n");
  o->op.hlc = member_uint(j, "h");
  o->op.type = (uint8_t)member_uint(j, "y");
  o->op.key = proto_str(member(j, "k", JR_STR)->s);
  o->op.key2 = proto_str(member(j, "k2", JR_STR)->s);
  o->op.base = member_uint(j, "b");
  CHECK(f->len <= PROTO_MAX_FIELDS_PER_OP + 1);
  for (size_t i = 0; i < f->len; i++) {
    proto_field_t *pf = &o->fields[i];
    const jr_t *v = &f->items[i];
    pf->id = (uint8_t)atoi(f->keys[i]);
    switch (v->type) {
    case JR_NULL:
      pf->value.type = PROTO_NIL;
      break;
    case JR_BOOL:
      pf->value.type = PROTO_BOOL;
      pf->value.u.b = v->b;
      break;
    case JR_INT:
      pf->value.type = PROTO_INT;
      pf->value.u.i = v->i;
      break;
    case JR_STR:
      pf->value.type = PROTO_STR;
      pf->value.u.s.ptr = v->s;
      pf->value.u.s.len = (uint32_t)v->len;
      break;
    default:
      CHECK(!"field values are null, bool, int or string");
    }
  }
  o->op.fields = o->fields;
  o->op.nfields = (uint32_t)f->len;
}

/* ---- the canonical state (README.md) -------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out_t *o, const char *fmt, ...) {
  va_list ap;
  int n;
  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    CHECK(n >= 0);
    if ((size_t)n < o->cap - o->len)
      break;
    o->cap = o->cap * 2 + (size_t)n + 1;
    o->buf = realloc(o->buf, o->cap);
    CHECK(o->buf != NULL);
  }
  o->len += (size_t)n;
}

static void put_str(out_t *o, const unsigned char *s, int n) {
  put(o, "\"");
  for (int i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\')
      put(o, "\\%c", s[i]);
    else if (s[i] < 0x20)
      put(o, "\\u%04x", s[i]);
    else
      put(o, "%c", s[i]);
  }
  put(o, "\"");
}

/* Column col of st as a JSON value of a field of type vtype. */
static void put_value(out_t *o, sqlite3_stmt *st, int col, proto_vtype_t vtype) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL)
    put(o, "null");
  else if (vtype == PROTO_BOOL)
    put(o, sqlite3_column_int64(st, col) ? "true" : "false");
  else if (vtype == PROTO_INT)
    put(o, "%lld", (long long)sqlite3_column_int64(st, col));
  else
    put_str(o, sqlite3_column_text(st, col), sqlite3_column_bytes(st, col));
}

typedef struct {
  const char *name;
  proto_vtype_t vtype;
} col_t;

/* Appends "table": [rows...] for the rows sql returns (columns as cols),
 * nothing when it returns none. */
static void put_table(out_t *o, sqlite3 *db, const char *table, const char *sql,
                      const col_t *cols, int ncols, bool *first_table) {
  sqlite3_stmt *st = NULL;
  int rc, rows = 0;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    abort();
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (rows++ == 0)
      put(o, "%s\"%s\":[", *first_table ? "" : ",", table);
    put(o, "%s{", rows > 1 ? "," : "");
    for (int c = 0; c < ncols; c++) {
      proto_vtype_t vtype = cols[c].vtype;
      if (cols[c].name == NULL) { /* a conflict's value: typed by its field */
        const schema_field_t *f = schema_field(schema_type((uint8_t)sqlite3_column_int(st, 0)),
                                               (uint8_t)sqlite3_column_int(st, 3));
        CHECK(f != NULL);
        vtype = f->vtype;
      }
      put(o, "%s\"%s\":", c ? "," : "", cols[c].name ? cols[c].name : sqlite3_column_name(st, c));
      put_value(o, st, c, vtype);
    }
    put(o, "}");
  }
  CHECK(rc == SQLITE_DONE);
  sqlite3_finalize(st);
  if (rows) {
    put(o, "]");
    *first_table = false;
  }
}

static void dump(sqlite3 *db, out_t *o) {
  char sql[2048];
  col_t cols[PROTO_MAX_FIELDS_PER_OP + 4];
  bool first = true;

  o->len = 0;
  put(o, "{");
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    const char *table = t->table;
    size_t at = 0;
    int n = 0;

    if (id == SCHEMA_TALLY) {
      /* A reader sees the total; the per-device slots show through it. */
      static const col_t tally_cols[] = {{"session", PROTO_STR}, {"total", PROTO_INT}};
      put_table(o, db, "session_tallies",
                "SELECT session, total FROM session_tallies WHERE org = 1 ORDER BY session",
                tally_cols, 2, &first);
      continue;
    }
    at += (size_t)snprintf(sql + at, sizeof(sql) - at, "SELECT %s", t->key_column);
    cols[n++] = (col_t){t->key_column, PROTO_STR};
    if (t->key2_column != NULL) {
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", t->key2_column);
      cols[n++] = (col_t){t->key2_column, PROTO_STR};
    }
    for (uint32_t i = 0; i < t->nfields; i++) {
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", t->fields[i].name);
      cols[n++] = (col_t){t->fields[i].name, t->fields[i].vtype};
    }
    if (id == SCHEMA_MESSAGE) {
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", author, posted");
      cols[n++] = (col_t){"author", PROTO_STR};
      cols[n++] = (col_t){"posted", PROTO_INT};
    }
    snprintf(sql + at, sizeof(sql) - at, " FROM %s WHERE org = %d ORDER BY %s%s%s", table, ORG,
             t->key_column, t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "");
    put_table(o, db, table, sql, cols, n, &first);
  }
  {
    static const col_t conflict_cols[] = {
        {"rtype", PROTO_INT},      {"k", PROTO_STR},           {"k2", PROTO_STR},
        {"field", PROTO_INT},      {"kept_value", PROTO_NIL},  {"kept_device", PROTO_STR},
        {"kept_hlc", PROTO_INT},   {"lost_value", PROTO_NIL},  {"lost_device", PROTO_STR},
        {"lost_hlc", PROTO_INT},   {"lost_seq", PROTO_INT},    {"server_seq", PROTO_INT}};
    col_t cc[12];
    memcpy(cc, conflict_cols, sizeof(cc));
    cc[4].name = cc[7].name = NULL; /* typed by the field they belong to */
    put_table(o, db, "conflicts",
              "SELECT rtype, k, k2, field, kept_value, kept_device, kept_hlc, lost_value, "
              "lost_device, lost_hlc, lost_seq, server_seq FROM conflicts WHERE org = 1 "
              "ORDER BY rtype, k, k2, field, lost_device, lost_seq",
              cc, 12, &first);
  }
  put(o, "}");
}

/* ---- running a vector ----------------------------------------------------- */

/* Applies one delivery order to r, whose database is empty, and compares
 * the outcome; everything the order wrote is rolled back afterwards, so the
 * next order starts from an empty replica again without recreating it. */
static void run_order(const char *file, const jr_t *v, sqlite3 *db, replica_t *r,
                      const vop_t *ops, size_t nops, size_t order_index, out_t *out) {
  const jr_t *order = &member(v, "orders", JR_ARR)->items[order_index];
  const jr_t *expect = member(v, "expect", JR_OBJ);
  const jr_t *results = member(expect, "results", JR_ARR);
  const jr_t *own = jr_get(v, "own");
  jr_t *got;
  char err[200];

  CHECK(order->type == JR_ARR && results->len == nops);
  CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);

  for (size_t s = 0; s < order->len; s++) {
    const jr_t *step = &order->items[s];
    const proto_op_t *op;
    int rc, want;

    CHECK(step->type == JR_INT && step->i >= 0 && (size_t)step->i < nops);
    op = &ops[step->i].op;
    /* A tablet's own op coming back committed: rebased, then applied as
     * every other committed op (as clients/sample/local.c does). */
    if (own != NULL && op->server_seq > 0 && proto_str_eq(op->device, proto_str(own->s)))
      CHECK_EQ_INT(replica_rebase_own(r, ORG, op), 0);
    rc = replica_apply(r, ORG, op);
    want = (int)results->items[step->i].i;
    if (rc != -want) {
      fprintf(stderr, "%s: order %zu, step %zu (op %lld): result %d, expected %d\n", file,
              order_index, s, (long long)step->i, -rc, want);
      failures++;
    }
  }

  dump(db, out);
  got = jr_parse(out->buf, out->len, err, sizeof(err));
  if (got == NULL) {
    fprintf(stderr, "%s: dump is not JSON (%s): %s\n", file, err, out->buf);
    abort();
  }
  if (!jr_equal(got, member(expect, "state", JR_OBJ))) {
    fprintf(stderr, "%s: order %zu: state differs\n  got:      %s\n  expected: ", file,
            order_index, out->buf);
    jr_print(stderr, member(expect, "state", JR_OBJ));
    fputc('\n', stderr);
    failures++;
  }
  jr_free(got);
  CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
}

static void run_file(const char *dir, const char *name, out_t *out) {
  char path[1024], err[200];
  size_t len;
  char *text;
  jr_t *v;
  const jr_t *ops_j, *orders;
  vop_t *ops;
  replica_options_t opts = {0};
  sqlite3 *db = NULL;
  replica_t *r;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  text = read_file(path, &len);
  v = jr_parse(text, len, err, sizeof(err));
  if (v == NULL) {
    fprintf(stderr, "%s: %s\n", name, err);
    abort();
  }
  member(v, "name", JR_STR);
  member(v, "description", JR_STR);
  ops_j = member(v, "ops", JR_ARR);
  orders = member(v, "orders", JR_ARR);
  CHECK(orders->len > 0);
  ops = calloc(ops_j->len, sizeof(*ops));
  CHECK(ops != NULL);
  for (size_t i = 0; i < ops_j->len; i++)
    read_op(&ops_j->items[i], &ops[i]);
  opts.log_conflicts = member(v, "log_conflicts", JR_BOOL)->b;
  CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, replica_schema_sql(), NULL, NULL, NULL) == SQLITE_OK);
  r = replica_open(db, &opts);
  CHECK(r != NULL);
  for (size_t i = 0; i < orders->len; i++)
    run_order(name, v, db, r, ops, ops_j->len, i, out);
  replica_close(r);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  printf("%s: %zu orders\n", name, orders->len);
  free(ops);
  jr_free(v);
  free(text);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
  DIR *d = opendir(TURF_MERGE_VECTORS);
  struct dirent *e;
  char *names[256];
  size_t n = 0;
  out_t out = {0};

  CHECK(d != NULL);
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
      CHECK(n < sizeof(names) / sizeof(names[0]));
      names[n] = strdup(e->d_name);
      CHECK(names[n] != NULL);
      n++;
    }
  }
  closedir(d);
  /* An empty or misplaced directory must not pass as "all vectors ran". */
  CHECK(n >= 20);
  qsort(names, n, sizeof(names[0]), by_name);
  for (size_t i = 0; i < n; i++) {
    run_file(TURF_MERGE_VECTORS, names[i], &out);
    free(names[i]);
  }
  free(out.buf);
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  return 0;
}
