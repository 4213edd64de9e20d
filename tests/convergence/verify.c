/* verify.c — canonical dumps and the merge-rule model (see verify.h).
 *
 * Owns nothing beyond each call. The model deliberately does not call
 * merge.c or replica.c: it is a second reading of PROTOCOL.md 4.2, so that
 * a mistake in the one place every replica shares cannot hide itself. */
#include "verify.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "schema.h"
#include "tablet.h"

#define VERIFY__MAX_REPORTS 15 /* failures printed per call */

typedef struct {
  const char *what;
  int failures;
} verify__log_t;

static void verify__fail(verify__log_t *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void verify__fail(verify__log_t *log, const char *fmt, ...) {
  va_list ap;
  if (log->failures++ >= VERIFY__MAX_REPORTS) {
    if (log->failures == VERIFY__MAX_REPORTS + 1)
      fprintf(stderr, "%s: more failures not shown\n", log->what);
    return;
  }
  fprintf(stderr, "%s: ", log->what);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static bool verify__per_device(const schema_type_t *t) {
  for (uint32_t i = 0; i < t->nfields; i++)
    if (t->fields[i].rule == MERGE_COUNTER)
      return true;
  return false;
}

/* ---- canonical dump --------------------------------------------------------- */

static int verify__dump_query(sqlite3 *db, const char *label, const char *sql, int64_t org,
                              FILE *out) {
  sqlite3_stmt *st;
  int rc, ncol;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "verify: %s: %s\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_bind_int64(st, 1, org);
  ncol = sqlite3_column_count(st);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    fputs(label, out);
    for (int i = 0; i < ncol; i++) {
      fputc('\t', out);
      tablet_print_value(st, i, out);
    }
    fputc('\n', out);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "verify: %s: %s\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  return 0;
}

int verify_dump(sqlite3 *db, int64_t org, char **text, size_t *len,
                char hex[VERIFY_HEX_LEN + 1]) {
  char sql[2048], lww[1024];
  size_t at, lat = 0;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  FILE *out;
  int rc = 0;

  *text = NULL;
  *len = 0;
  out = open_memstream(text, len);
  if (out == NULL)
    return -1;
  lat = (size_t)snprintf(lww, sizeof(lww), "0");
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX && rc == 0; id++) {
    const schema_type_t *t = schema_type(id);
    bool per_device;
    if (t == NULL)
      continue;
    per_device = verify__per_device(t);
    at = (size_t)snprintf(sql, sizeof(sql), "SELECT %s", t->key_column);
    if (t->key2_column != NULL)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", t->key2_column);
    if (per_device)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", device, seq");
    for (uint32_t i = 0; i < t->nfields; i++) {
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", %s", t->fields[i].name);
      if (t->fields[i].rule == MERGE_LWW)
        lat += (size_t)snprintf(lww + lat, sizeof(lww) - lat, " OR (rtype = %u AND field = %u)",
                                (unsigned)t->id, (unsigned)t->fields[i].id);
    }
    if (id == SCHEMA_MESSAGE)
      at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", author, posted");
    snprintf(sql + at, sizeof(sql) - at, " FROM %s WHERE org = ?1 ORDER BY %s%s%s%s", t->table,
             t->key_column, t->key2_column ? ", " : "", t->key2_column ? t->key2_column : "",
             per_device ? ", device" : "");
    rc = verify__dump_query(db, t->table, sql, org, out);
  }
  if (rc == 0) {
    snprintf(sql, sizeof(sql),
             "SELECT rtype, k, k2, field, hlc, device, seq, server_seq FROM field_clocks "
             "WHERE org = ?1 AND (%s) ORDER BY rtype, k, k2, field",
             lww);
    rc = verify__dump_query(db, "lww_clock", sql, org, out);
  }
  if (fclose(out) != 0 || rc != 0) {
    free(*text);
    *text = NULL;
    return -1;
  }
  if (EVP_Digest(*text, *len, md, &mdlen, EVP_sha256(), NULL) != 1)
    return -1;
  for (unsigned i = 0; i < mdlen && i * 2 < VERIFY_HEX_LEN; i++)
    snprintf(hex + i * 2, 3, "%02x", md[i]);
  hex[VERIFY_HEX_LEN] = '\0';
  return 0;
}

void verify_print_diff(const char *name_a, const char *a, const char *name_b, const char *b) {
  int line = 1;
  const char *la = a, *lb = b;

  while (*a && *b && *a == *b) {
    if (*a == '\n') {
      line++;
      la = a + 1;
      lb = b + 1;
    }
    a++;
    b++;
  }
  fprintf(stderr, "  first difference at line %d:\n", line);
  fprintf(stderr, "  %-10s %.*s\n", name_a, (int)strcspn(la, "\n"), la);
  fprintf(stderr, "  %-10s %.*s\n", name_b, (int)strcspn(lb, "\n"), lb);
}

/* ---- the model ----------------------------------------------------------------- */

typedef struct {
  uint64_t server_seq, seq, hlc, base;
  uint8_t type;
  char *device, *k, *k2;
  proto_op_t op;   /* fields point into raw */
  uint8_t *raw;
  void *mem;
} verify__op_t;

/* One field value of one op. */
typedef struct {
  uint32_t op;
  uint32_t field; /* index into that op's fields */
} verify__ent_t;

typedef struct {
  char *key;    /* rtype|k|k2|field|lost_device|lost_seq */
  char *detail; /* kept_device|lost_value|kept_value */
} verify__conflict_t;

typedef struct {
  sqlite3 *db;
  int64_t org;
  verify__op_t *ops;
  uint32_t nops;
  verify__conflict_t *expected;
  size_t nexpected, cap_expected;
  verify__log_t log;
  verify_model_stats_t *stats;
} verify__model_t;

/* nil < bool < int < str; strings bytewise, a prefix before the longer. */
static int verify__rank(proto_vtype_t t) {
  return t == PROTO_NIL ? 0 : t == PROTO_BOOL ? 1 : t == PROTO_INT ? 2 : 3;
}

static int verify__value_cmp(const proto_value_t *a, const proto_value_t *b) {
  int ra = verify__rank(a->type), rb = verify__rank(b->type), c;
  uint32_t n;
  if (ra != rb)
    return ra < rb ? -1 : 1;
  switch (a->type) {
  case PROTO_BOOL:
    return (int)a->u.b - (int)b->u.b;
  case PROTO_INT:
    return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
  case PROTO_STR:
    n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    c = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;
    if (c != 0)
      return c;
    return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
  default:
    return 0;
  }
}

/* (hlc, device) ordering; for two ops of one device with one HLC, the
 * later device_seq. True when a wins over b. */
static bool verify__wins(const verify__op_t *a, const verify__op_t *b) {
  int c;
  if (a->hlc != b->hlc)
    return a->hlc > b->hlc;
  c = strcmp(a->device, b->device);
  if (c != 0)
    return c > 0;
  return a->seq > b->seq;
}

static void verify__format_value(const proto_value_t *v, char *buf, size_t size) {
  size_t at = 0;
  if (v == NULL || v->type == PROTO_NIL) {
    snprintf(buf, size, "\\N");
    return;
  }
  if (v->type == PROTO_BOOL) {
    snprintf(buf, size, "%d", v->u.b ? 1 : 0);
    return;
  }
  if (v->type == PROTO_INT) {
    snprintf(buf, size, "%" PRId64, v->u.i);
    return;
  }
  for (uint32_t i = 0; i < v->u.s.len && at + 3 < size; i++) {
    char c = v->u.s.ptr[i];
    if (c == '\\' || c == '\t' || c == '\n' || c == '|') {
      buf[at++] = '\\';
      c = c == '\t' ? 't' : c == '\n' ? 'n' : c;
    }
    buf[at++] = c;
  }
  buf[at] = '\0';
}

static void verify__format_column(sqlite3_stmt *st, int col, char *buf, size_t size) {
  proto_value_t v;
  memset(&v, 0, sizeof(v));
  switch (sqlite3_column_type(st, col)) {
  case SQLITE_NULL:
    v.type = PROTO_NIL;
    break;
  case SQLITE_INTEGER:
    v.type = PROTO_INT;
    v.u.i = sqlite3_column_int64(st, col);
    break;
  default:
    v.type = PROTO_STR;
    v.u.s.ptr = (const char *)sqlite3_column_text(st, col);
    v.u.s.len = (uint32_t)sqlite3_column_bytes(st, col);
    break;
  }
  verify__format_value(&v, buf, size);
}

/* Booleans are stored as 0/1: compare through the formatted form, which
 * writes them so. */
static bool verify__column_is(sqlite3_stmt *st, int col, const proto_value_t *v) {
  char want[PROTO_MAX_TEXT_BYTES * 2 + 8], have[PROTO_MAX_TEXT_BYTES * 2 + 8];
  int type = sqlite3_column_type(st, col);
  if (v == NULL || v->type == PROTO_NIL)
    return type == SQLITE_NULL;
  if (type == SQLITE_NULL || (v->type == PROTO_STR) != (type == SQLITE_TEXT))
    return false;
  verify__format_value(v, want, sizeof(want));
  verify__format_column(st, col, have, sizeof(have));
  return strcmp(want, have) == 0;
}

static const proto_value_t *verify__value(const verify__model_t *m, const verify__ent_t *e) {
  return &m->ops[e->op].op.fields[e->field].value;
}

static uint8_t verify__field_id(const verify__model_t *m, const verify__ent_t *e) {
  return m->ops[e->op].op.fields[e->field].id;
}

static int verify__ent_cmp(const void *pa, const void *pb, void *arg) {
  const verify__model_t *m = arg;
  const verify__ent_t *a = pa, *b = pb;
  const verify__op_t *oa = &m->ops[a->op], *ob = &m->ops[b->op];
  uint8_t fa = verify__field_id(m, a), fb = verify__field_id(m, b);
  int c;

  if (oa->type != ob->type)
    return oa->type < ob->type ? -1 : 1;
  if ((c = strcmp(oa->k, ob->k)) != 0)
    return c;
  if ((c = strcmp(oa->k2, ob->k2)) != 0)
    return c;
  if (fa != fb)
    return fa < fb ? -1 : 1;
  if (verify__per_device(schema_type(oa->type)) && (c = strcmp(oa->device, ob->device)) != 0)
    return c;
  return oa->server_seq < ob->server_seq ? -1 : oa->server_seq > ob->server_seq;
}

static bool verify__same_group(const verify__model_t *m, const verify__ent_t *a,
                               const verify__ent_t *b) {
  const verify__op_t *oa = &m->ops[a->op], *ob = &m->ops[b->op];
  if (oa->type != ob->type || strcmp(oa->k, ob->k) != 0 || strcmp(oa->k2, ob->k2) != 0 ||
      verify__field_id(m, a) != verify__field_id(m, b))
    return false;
  return !verify__per_device(schema_type(oa->type)) || strcmp(oa->device, ob->device) == 0;
}

static int verify__expect_conflict(verify__model_t *m, const verify__op_t *lost,
                                   const proto_value_t *lost_value, const verify__op_t *kept,
                                   const proto_value_t *kept_value, uint8_t field) {
  char key[512], lv[PROTO_MAX_TEXT_BYTES * 2 + 8], kv[PROTO_MAX_TEXT_BYTES * 2 + 8];
  char *detail = NULL;
  verify__conflict_t *c;

  if (m->nexpected == m->cap_expected) {
    size_t cap = m->cap_expected ? m->cap_expected * 2 : 64;
    void *p = realloc(m->expected, cap * sizeof(*m->expected));
    if (p == NULL)
      return -1;
    m->expected = p;
    m->cap_expected = cap;
  }
  snprintf(key, sizeof(key), "%u|%s|%s|%u|%s|%" PRIu64, (unsigned)lost->type, lost->k, lost->k2,
           (unsigned)field, lost->device, lost->seq);
  verify__format_value(lost_value, lv, sizeof(lv));
  verify__format_value(kept_value, kv, sizeof(kv));
  if (asprintf(&detail, "kept=%s lost_value=%s kept_value=%s", kept->device, lv, kv) < 0)
    return -1;
  c = &m->expected[m->nexpected++];
  c->key = strdup(key);
  c->detail = detail;
  return c->key ? 0 : -1;
}

/* Prepares "SELECT <cols> FROM <table> WHERE <key of o>" and steps it once.
 * Returns the statement on a row (caller finalizes), else NULL. */
static sqlite3_stmt *verify__row(verify__model_t *m, const schema_type_t *t,
                                 const verify__op_t *o, const char *cols, bool by_device) {
  char sql[1024];
  sqlite3_stmt *st;
  snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE org = ?1 AND %s = ?2%s%s%s%s", cols,
           t->table, t->key_column, t->key2_column ? " AND " : "",
           t->key2_column ? t->key2_column : "", t->key2_column ? " = ?3" : "",
           by_device ? " AND device = ?4" : "");
  if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
    verify__fail(&m->log, "cannot query %s: %s", t->table, sqlite3_errmsg(m->db));
    return NULL;
  }
  sqlite3_bind_int64(st, 1, m->org);
  sqlite3_bind_text(st, 2, o->k, -1, SQLITE_STATIC);
  if (t->key2_column != NULL)
    sqlite3_bind_text(st, 3, o->k2, -1, SQLITE_STATIC);
  if (by_device)
    sqlite3_bind_text(st, 4, o->device, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_finalize(st);
    return NULL;
  }
  return st;
}

static void verify__check_value(verify__model_t *m, const schema_type_t *t,
                                const schema_field_t *f, const verify__op_t *o,
                                const proto_value_t *want, bool by_device) {
  char have[128], expect[128];
  sqlite3_stmt *st = verify__row(m, t, o, f->name, by_device);
  if (st == NULL) {
    verify__fail(&m->log, "%s %s/%s: no row on the server", t->table, o->k, o->k2);
    return;
  }
  if (!verify__column_is(st, 0, want)) {
    verify__format_value(want, expect, sizeof(expect));
    verify__format_column(st, 0, have, sizeof(have));
    verify__fail(&m->log, "%s %s/%s%s%s field %s: the rules give \"%s\", the server has \"%s\"",
                 t->table, o->k, o->k2, by_device ? " device " : "", by_device ? o->device : "",
                 f->name, expect, have);
  }
  sqlite3_finalize(st);
}

/* The clock of an LWW field must be its winner's, or later merges differ. */
static void verify__check_clock(verify__model_t *m, const verify__op_t *w, uint8_t field) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(m->db,
                         "SELECT hlc, device, seq, server_seq FROM field_clocks WHERE org = ?1 "
                         "AND rtype = ?2 AND k = ?3 AND k2 = ?4 AND field = ?5",
                         -1, &st, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(st, 1, m->org);
  sqlite3_bind_int(st, 2, w->type);
  sqlite3_bind_text(st, 3, w->k, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, w->k2, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, field);
  if (sqlite3_step(st) != SQLITE_ROW ||
      (uint64_t)sqlite3_column_int64(st, 0) != w->hlc ||
      strcmp((const char *)sqlite3_column_text(st, 1), w->device) != 0 ||
      (uint64_t)sqlite3_column_int64(st, 2) != w->seq ||
      (uint64_t)sqlite3_column_int64(st, 3) != w->server_seq)
    verify__fail(&m->log, "type %u %s/%s field %u: clock is not the winner's (%s seq %" PRIu64
                 " hlc %" PRIu64 ")",
                 (unsigned)w->type, w->k, w->k2, (unsigned)field, w->device, w->seq, w->hlc);
  sqlite3_finalize(st);
}

static int verify__group_lww(verify__model_t *m, const verify__ent_t *g, size_t n,
                             const schema_type_t *t, const schema_field_t *f) {
  size_t cur = 0;

  for (size_t i = 1; i < n; i++) {
    const verify__op_t *o = &m->ops[g[i].op], *c = &m->ops[g[cur].op];
    bool other = strcmp(o->device, c->device) != 0;
    bool differs = verify__value_cmp(verify__value(m, &g[i]), verify__value(m, &g[cur])) != 0;
    if (verify__wins(o, c)) {
      /* The winner overwrites a value its writer had not seen. */
      if (other && differs && c->server_seq > o->base &&
          verify__expect_conflict(m, c, verify__value(m, &g[cur]), o, verify__value(m, &g[i]),
                                  f->id) != 0)
        return -1;
      cur = i;
    } else if (other && differs &&
               verify__expect_conflict(m, o, verify__value(m, &g[i]), c,
                                       verify__value(m, &g[cur]), f->id) != 0) {
      return -1;
    }
  }

  /* Causality: a write made after its device had seen another write (its
   * base covers it, or it is the same device's later op) must order after
   * it, or a teacher's correction could lose to what she corrected. */
  for (size_t j = 1; j < n; j++) {
    const verify__op_t *b = &m->ops[g[j].op];
    for (size_t i = 0; i < j; i++) {
      const verify__op_t *a = &m->ops[g[i].op];
      bool saw = b->base >= a->server_seq || (strcmp(a->device, b->device) == 0 && b->seq > a->seq);
      if (!saw)
        continue;
      m->stats->causal++;
      if (!verify__wins(b, a))
        verify__fail(&m->log,
                     "%s %s/%s field %s: %s seq %" PRIu64 " (hlc %" PRIu64 ", base %" PRIu64
                     ") was written after its device saw %s seq %" PRIu64 " (hlc %" PRIu64
                     ", server_seq %" PRIu64 ") but orders before it",
                     t->table, b->k, b->k2, f->name, b->device, b->seq, b->hlc, b->base,
                     a->device, a->seq, a->hlc, a->server_seq);
    }
  }

  verify__check_value(m, t, f, &m->ops[g[cur].op], verify__value(m, &g[cur]), false);
  verify__check_clock(m, &m->ops[g[cur].op], f->id);
  return 0;
}

static void verify__group_other(verify__model_t *m, const verify__ent_t *g, size_t n,
                                const schema_type_t *t, const schema_field_t *f) {
  const proto_value_t *best = NULL;
  size_t pick = 0;

  switch (f->rule) {
  case MERGE_MIN:
  case MERGE_MAX:
    /* nil means "not known": it never replaces a value. */
    for (size_t i = 0; i < n; i++) {
      const proto_value_t *v = verify__value(m, &g[i]);
      int c;
      if (v->type == PROTO_NIL)
        continue;
      c = best ? verify__value_cmp(v, best) : 0;
      if (best == NULL || (f->rule == MERGE_MIN ? c < 0 : c > 0))
        best = v;
    }
    verify__check_value(m, t, f, &m->ops[g[0].op], best, false);
    break;
  case MERGE_COUNTER:
    /* One slot per device: its op with the highest device_seq. */
    for (size_t i = 1; i < n; i++)
      if (m->ops[g[i].op].seq > m->ops[g[pick].op].seq)
        pick = i;
    verify__check_value(m, t, f, &m->ops[g[pick].op], verify__value(m, &g[pick]), true);
    break;
  case MERGE_ONCE:
    verify__check_value(m, t, f, &m->ops[g[0].op], verify__value(m, &g[0]), false);
    break;
  default:
    verify__fail(&m->log, "field %s has an unknown rule %d", f->name, (int)f->rule);
    break;
  }
}

static int verify__load_ops(verify__model_t *m) {
  sqlite3_stmt *st;
  int rc;
  uint32_t cap = 0;

  if (sqlite3_prepare_v2(m->db,
                         "SELECT server_seq, device, seq, hlc, base, rtype, k, k2, fields "
                         "FROM ops WHERE org = ?1 ORDER BY server_seq",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(st, 1, m->org);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    verify__op_t *o;
    int n = sqlite3_column_bytes(st, 8);
    if (m->nops == cap) {
      void *p;
      cap = cap ? cap * 2 : 1024;
      p = realloc(m->ops, cap * sizeof(*m->ops));
      if (p == NULL)
        break;
      m->ops = p;
    }
    o = &m->ops[m->nops];
    memset(o, 0, sizeof(*o));
    o->server_seq = (uint64_t)sqlite3_column_int64(st, 0);
    o->device = strdup((const char *)sqlite3_column_text(st, 1));
    o->seq = (uint64_t)sqlite3_column_int64(st, 2);
    o->hlc = (uint64_t)sqlite3_column_int64(st, 3);
    o->base = (uint64_t)sqlite3_column_int64(st, 4);
    o->type = (uint8_t)sqlite3_column_int(st, 5);
    o->k = strdup((const char *)sqlite3_column_text(st, 6));
    o->k2 = strdup((const char *)sqlite3_column_text(st, 7));
    o->raw = malloc(n > 0 ? (size_t)n : 1);
    m->nops++;
    if (o->device == NULL || o->k == NULL || o->k2 == NULL || o->raw == NULL)
      break;
    memcpy(o->raw, sqlite3_column_blob(st, 8), (size_t)n);
    if (proto_decode_fields(o->raw, (size_t)n, &o->op, &o->mem) != 0) {
      verify__fail(&m->log, "op %" PRIu64 " has a fields map that does not decode",
                   o->server_seq);
      o->op.nfields = 0;
    }
    if (schema_type(o->type) == NULL) {
      verify__fail(&m->log, "op %" PRIu64 " has unknown type %u", o->server_seq, o->type);
      o->op.nfields = 0;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int verify__str_cmp(const void *a, const void *b) {
  return strcmp(((const verify__conflict_t *)a)->key, ((const verify__conflict_t *)b)->key);
}

/* The server's conflict log must hold exactly the discarded values the
 * rules name: none missing (a lost value nobody can see) and none extra. */
static int verify__check_conflicts(verify__model_t *m) {
  verify__conflict_t *have = NULL;
  size_t nhave = 0, cap = 0, i = 0, j = 0;
  sqlite3_stmt *st;
  int rc;

  if (sqlite3_prepare_v2(m->db,
                         "SELECT rtype, k, k2, field, lost_device, lost_seq, kept_device, "
                         "lost_value, kept_value FROM conflicts WHERE org = ?1",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(st, 1, m->org);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char key[512], lv[PROTO_MAX_TEXT_BYTES * 2 + 8], kv[PROTO_MAX_TEXT_BYTES * 2 + 8];
    char *detail = NULL;
    if (nhave == cap) {
      void *p;
      cap = cap ? cap * 2 : 64;
      p = realloc(have, cap * sizeof(*have));
      if (p == NULL)
        break;
      have = p;
    }
    snprintf(key, sizeof(key), "%d|%s|%s|%d|%s|%lld", sqlite3_column_int(st, 0),
             (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
             sqlite3_column_int(st, 3), (const char *)sqlite3_column_text(st, 4),
             (long long)sqlite3_column_int64(st, 5));
    verify__format_column(st, 7, lv, sizeof(lv));
    verify__format_column(st, 8, kv, sizeof(kv));
    if (asprintf(&detail, "kept=%s lost_value=%s kept_value=%s",
                 (const char *)sqlite3_column_text(st, 6), lv, kv) < 0)
      break;
    have[nhave].key = strdup(key);
    have[nhave].detail = detail;
    nhave++;
  }
  sqlite3_finalize(st);

  qsort(have, nhave, sizeof(*have), verify__str_cmp);
  qsort(m->expected, m->nexpected, sizeof(*m->expected), verify__str_cmp);
  while (i < m->nexpected || j < nhave) {
    int c = i == m->nexpected ? 1 : j == nhave ? -1 : strcmp(m->expected[i].key, have[j].key);
    if (c < 0) {
      verify__fail(&m->log, "conflict log misses a discarded value: %s (%s)",
                   m->expected[i].key, m->expected[i].detail);
      i++;
    } else if (c > 0) {
      verify__fail(&m->log, "conflict log holds a value the rules did not discard: %s (%s)",
                   have[j].key, have[j].detail);
      j++;
    } else {
      if (strcmp(m->expected[i].detail, have[j].detail) != 0)
        verify__fail(&m->log, "conflict %s: the rules give %s, the log has %s",
                     have[j].key, m->expected[i].detail, have[j].detail);
      i++;
      j++;
    }
  }
  m->stats->conflicts = m->nexpected;
  for (size_t k = 0; k < nhave; k++) {
    free(have[k].key);
    free(have[k].detail);
  }
  free(have);
  return 0;
}

/* Every record some op touched has exactly one row, and no row exists
 * that no op made. */
static void verify__check_rows(verify__model_t *m) {
  for (uint8_t id = 1; id <= SCHEMA_TYPE_MAX; id++) {
    const schema_type_t *t = schema_type(id);
    char sql[512];
    sqlite3_stmt *st;
    int64_t want = -1, have = -1;
    if (t == NULL)
      continue;
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM (SELECT DISTINCT k, k2%s FROM ops "
             "WHERE org = ?1 AND rtype = %u)), (SELECT count(*) FROM %s WHERE org = ?1)",
             verify__per_device(t) ? ", device" : "", (unsigned)id, t->table);
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
      continue;
    sqlite3_bind_int64(st, 1, m->org);
    if (sqlite3_step(st) == SQLITE_ROW) {
      want = sqlite3_column_int64(st, 0);
      have = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    m->stats->records += (uint64_t)(have > 0 ? have : 0);
    if (want != have)
      verify__fail(&m->log, "%s: ops name %lld records, the table has %lld rows", t->table,
                   (long long)want, (long long)have);
  }
}

int verify_model(sqlite3 *db, int64_t org, verify_model_stats_t *stats) {
  verify__model_t m;
  verify__ent_t *ents = NULL;
  size_t nents = 0, i = 0;
  int result = -1;

  memset(&m, 0, sizeof(m));
  memset(stats, 0, sizeof(*stats));
  m.db = db;
  m.org = org;
  m.stats = stats;
  m.log.what = "model";
  if (verify__load_ops(&m) != 0)
    goto done;
  stats->ops = m.nops;
  for (uint32_t o = 0; o < m.nops; o++)
    nents += m.ops[o].op.nfields;
  ents = calloc(nents ? nents : 1, sizeof(*ents));
  if (ents == NULL)
    goto done;
  nents = 0;
  for (uint32_t o = 0; o < m.nops; o++)
    for (uint32_t f = 0; f < m.ops[o].op.nfields; f++)
      ents[nents++] = (verify__ent_t){o, f};
  stats->fields = nents;
  qsort_r(ents, nents, sizeof(*ents), verify__ent_cmp, &m);

  while (i < nents) {
    size_t j = i + 1;
    const schema_type_t *t = schema_type(m.ops[ents[i].op].type);
    const schema_field_t *f = schema_field(t, verify__field_id(&m, &ents[i]));
    while (j < nents && verify__same_group(&m, &ents[i], &ents[j]))
      j++;
    if (f == NULL)
      verify__fail(&m.log, "type %u has no field %u", (unsigned)t->id,
                   (unsigned)verify__field_id(&m, &ents[i]));
    else if (f->rule == MERGE_LWW) {
      if (verify__group_lww(&m, ents + i, j - i, t, f) != 0)
        goto done;
    } else
      verify__group_other(&m, ents + i, j - i, t, f);
    i = j;
  }
  verify__check_rows(&m);
  if (verify__check_conflicts(&m) != 0)
    goto done;
  result = m.log.failures;

done:
  for (uint32_t o = 0; o < m.nops; o++) {
    free(m.ops[o].device);
    free(m.ops[o].k);
    free(m.ops[o].k2);
    free(m.ops[o].raw);
    free(m.ops[o].mem);
  }
  free(m.ops);
  for (size_t k = 0; k < m.nexpected; k++) {
    free(m.expected[k].key);
    free(m.expected[k].detail);
  }
  free(m.expected);
  free(ents);
  return result;
}
