/* json_reader.h — a small strict JSON reader for tests that read shared
 * data files (the merge conformance vectors). Header-only, like the other
 * test helpers, so each test stays one executable.
 *
 * Strict on purpose, so a vector that another implementation would read
 * differently fails here first: RFC 8259 syntax only, no duplicate keys, and
 * numbers must be integers that fit in int64 (the vectors hold no fractions;
 * every HLC in them is at most 2^53, so JavaScript reads them exactly too).
 * Strings are UTF-8; \u escapes (with surrogate pairs) become UTF-8, and
 * \u0000 is refused because the values are used as C strings. */
#ifndef TURF_JSON_READER_H
#define TURF_JSON_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JR_NULL, JR_BOOL, JR_INT, JR_STR, JR_ARR, JR_OBJ } jr_type_t;

/* A parsed value. Owns its strings and children; free with jr_free. */
typedef struct jr_s jr_t;
struct jr_s {
  jr_type_t type;
  bool b;
  int64_t i;
  char *s;      /* JR_STR: NUL-terminated */
  size_t len;   /* JR_STR: bytes; JR_ARR / JR_OBJ: number of items */
  jr_t *items;  /* JR_ARR / JR_OBJ: values */
  char **keys;  /* JR_OBJ: keys, same order as items */
};

typedef struct {
  const char *p, *end;
  char err[160];
  int depth;
} jr__in_t;

#define JR__MAX_DEPTH 64

static inline void jr_free_inner(jr_t *v) {
  if (v->type == JR_STR)
    free(v->s);
  if (v->type == JR_ARR || v->type == JR_OBJ) {
    for (size_t i = 0; i < v->len; i++) {
      jr_free_inner(&v->items[i]);
      if (v->keys != NULL)
        free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
  }
  memset(v, 0, sizeof(*v));
}

static inline void jr_free(jr_t *v) {
  if (v != NULL) {
    jr_free_inner(v);
    free(v);
  }
}

static bool jr__fail(jr__in_t *in, const char *what) {
  if (in->err[0] == '\0')
    snprintf(in->err, sizeof(in->err), "%s at \"%.20s\"", what, in->p);
  return false;
}

static void jr__ws(jr__in_t *in) {
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
    in->p++;
}

static bool jr__lit(jr__in_t *in, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(in->end - in->p) < n || memcmp(in->p, lit, n) != 0)
    return jr__fail(in, "bad literal");
  in->p += n;
  return true;
}

static int jr__hex4(jr__in_t *in) {
  int v = 0;
  if (in->end - in->p < 4)
    return -1;
  for (int k = 0; k < 4; k++) {
    char c = in->p[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  in->p += 4;
  return v;
}

/* Appends cp as UTF-8 to buf (room for 4 more bytes guaranteed). */
static size_t jr__utf8(char *buf, size_t at, uint32_t cp) {
  if (cp < 0x80) {
    buf[at++] = (char)cp;
  } else if (cp < 0x800) {
    buf[at++] = (char)(0xc0 | (cp >> 6));
    buf[at++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    buf[at++] = (char)(0xe0 | (cp >> 12));
    buf[at++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    buf[at++] = (char)(0x80 | (cp & 0x3f));
  } else {
    buf[at++] = (char)(0xf0 | (cp >> 18));
    buf[at++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    buf[at++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    buf[at++] = (char)(0x80 | (cp & 0x3f));
  }
  return at;
}

/* A string starting at the opening quote; *out is malloc'd. Escapes only
 * ever shrink the text, so the raw length bounds the decoded one. */
static bool jr__string(jr__in_t *in, char **out, size_t *len) {
  const char *start = ++in->p;
  char *buf;
  size_t at = 0;

  while (in->p < in->end && *in->p != '"')
    in->p += *in->p == '\\' && in->p + 1 < in->end ? 2 : 1;
  if (in->p >= in->end)
    return jr__fail(in, "unterminated string");
  buf = malloc((size_t)(in->p - start) + 1);
  if (buf == NULL)
    return jr__fail(in, "out of memory");
  in->p = start;
  while (*in->p != '"') {
    unsigned char c = (unsigned char)*in->p;
    if (c < 0x20) {
      free(buf);
      return jr__fail(in, "control character in string");
    }
    if (c != '\\') {
      buf[at++] = (char)c;
      in->p++;
      continue;
    }
    in->p++;
    switch (*in->p++) {
    case '"': buf[at++] = '"'; break;
    case '\\': buf[at++] = '\\'; break;
    case '/': buf[at++] = '/'; break;
    case 'b': buf[at++] = '\b'; break;
    case 'f': buf[at++] = '\f'; break;
    case 'n': buf[at++] = '\n'; break;
    case 'r': buf[at++] = '\r'; break;
    case 't': buf[at++] = '\t'; break;
    case 'u': {
      int hi = jr__hex4(in), lo;
      uint32_t cp = (uint32_t)hi;
      if (hi >= 0xd800 && hi <= 0xdbff && in->end - in->p >= 6 && in->p[0] == '\\' &&
          in->p[1] == 'u') {
        in->p += 2;
        lo = jr__hex4(in);
        if (lo < 0xdc00 || lo > 0xdfff) {
          free(buf);
          return jr__fail(in, "bad surrogate pair");
        }
        cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
      } else if (hi < 1 || (hi >= 0xd800 && hi <= 0xdfff)) {
        free(buf);
        return jr__fail(in, "bad \\u escape");
      }
      at = jr__utf8(buf, at, cp);
      break;
    }
    default:
      free(buf);
      return jr__fail(in, "bad escape");
    }
  }
  in->p++;
  buf[at] = '\0';
  *out = buf;
  *len = at;
  return true;
}

static bool jr__value(jr__in_t *in, jr_t *v);

/* Appends an item to an array or object being built. */
static jr_t *jr__push(jr__in_t *in, jr_t *v, size_t *cap) {
  if (v->len == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    jr_t *items = realloc(v->items, ncap * sizeof(*items));
    if (items == NULL)
      return NULL;
    v->items = items;
    if (v->type == JR_OBJ) {
      char **keys = realloc(v->keys, ncap * sizeof(*keys));
      if (keys == NULL)
        return NULL;
      v->keys = keys;
    }
    *cap = ncap;
  }
  memset(&v->items[v->len], 0, sizeof(jr_t));
  if (v->type == JR_OBJ)
    v->keys[v->len] = NULL;
  (void)in;
  return &v->items[v->len++];
}

static bool jr__container(jr__in_t *in, jr_t *v, bool object) {
  size_t cap = 0;
  char close = object ? '}' : ']';

  if (++in->depth > JR__MAX_DEPTH)
    return jr__fail(in, "nested too deep");
  v->type = object ? JR_OBJ : JR_ARR;
  in->p++;
  jr__ws(in);
  if (in->p < in->end && *in->p == close) {
    in->p++;
    in->depth--;
    return true;
  }
  for (;;) {
    jr_t *item;
    char *key = NULL;
    size_t klen;
    jr__ws(in);
    if (object) {
      if (in->p >= in->end || *in->p != '"')
        return jr__fail(in, "expected a key");
      if (!jr__string(in, &key, &klen))
        return false;
      for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->keys[i], key) == 0) {
          free(key);
          return jr__fail(in, "duplicate key");
        }
      jr__ws(in);
      if (in->p >= in->end || *in->p != ':') {
        free(key);
        return jr__fail(in, "expected ':'");
      }
      in->p++;
    }
    item = jr__push(in, v, &cap);
    if (item == NULL) {
      free(key);
      return jr__fail(in, "out of memory");
    }
    if (object)
      v->keys[v->len - 1] = key;
    if (!jr__value(in, item))
      return false;
    jr__ws(in);
    if (in->p < in->end && *in->p == ',') {
      in->p++;
      continue;
    }
    if (in->p < in->end && *in->p == close) {
      in->p++;
      in->depth--;
      return true;
    }
    return jr__fail(in, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static bool jr__value(jr__in_t *in, jr_t *v) {
  jr__ws(in);
  if (in->p >= in->end)
    return jr__fail(in, "unexpected end");
  switch (*in->p) {
  case '{':
    return jr__container(in, v, true);
  case '[':
    return jr__container(in, v, false);
  case '"':
    v->type = JR_STR;
    return jr__string(in, &v->s, &v->len);
  case 't':
    v->type = JR_BOOL;
    v->b = true;
    return jr__lit(in, "true");
  case 'f':
    v->type = JR_BOOL;
    return jr__lit(in, "false");
  case 'n':
    v->type = JR_NULL;
    return jr__lit(in, "null");
  default: {
    bool neg = false;
    uint64_t u = 0;
    const char *digits;
    if (*in->p == '-') {
      neg = true;
      in->p++;
    }
    digits = in->p;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
      unsigned d = (unsigned)(*in->p - '0');
      if (u > (UINT64_C(1) << 63) / 10 || u * 10 + d > (UINT64_C(1) << 63) - (neg ? 0 : 1))
        return jr__fail(in, "integer out of range");
      u = u * 10 + d;
      in->p++;
    }
    if (in->p == digits || (in->p - digits > 1 && *digits == '0'))
      return jr__fail(in, "bad number");
    if (in->p < in->end && (*in->p == '.' || *in->p == 'e' || *in->p == 'E'))
      return jr__fail(in, "only integers are allowed");
    v->type = JR_INT;
    v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
    return true;
  }
  }
}

/* Parses text[0..len). Returns the value (caller frees with jr_free) or
 * NULL with a message in err. */
static inline jr_t *jr_parse(const char *text, size_t len, char *err, size_t errlen) {
  jr__in_t in = {.p = text, .end = text + len};
  jr_t *v = calloc(1, sizeof(*v));

  if (v == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (jr__value(&in, v)) {
    jr__ws(&in);
    if (in.p == in.end)
      return v;
    jr__fail(&in, "trailing text");
  }
  snprintf(err, errlen, "%s", in.err);
  jr_free(v);
  return NULL;
}

/* The member key of object v, or NULL. */
static inline const jr_t *jr_get(const jr_t *v, const char *key) {
  if (v == NULL || v->type != JR_OBJ)
    return NULL;
  for (size_t i = 0; i < v->len; i++)
    if (strcmp(v->keys[i], key) == 0)
      return &v->items[i];
  return NULL;
}

/* Deep equality; object members compare by key, whatever their order. */
static inline bool jr_equal(const jr_t *a, const jr_t *b) {
  if (a->type != b->type)
    return false;
  switch (a->type) {
  case JR_NULL:
    return true;
  case JR_BOOL:
    return a->b == b->b;
  case JR_INT:
    return a->i == b->i;
  case JR_STR:
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
  case JR_ARR:
    if (a->len != b->len)
      return false;
    for (size_t i = 0; i < a->len; i++)
      if (!jr_equal(&a->items[i], &b->items[i]))
        return false;
    return true;
  case JR_OBJ:
    if (a->len != b->len)
      return false;
    for (size_t i = 0; i < a->len; i++) {
      const jr_t *other = jr_get(b, a->keys[i]);
      if (other == NULL || !jr_equal(&a->items[i], other))
        return false;
    }
    return true;
  }
  return false;
}

/* Writes s as a JSON string. */
static inline void jr_print_str(FILE *out, const char *s, size_t len) {
  fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

/* Writes v as compact JSON (for failure messages). */
static inline void jr_print(FILE *out, const jr_t *v) {
  switch (v->type) {
  case JR_NULL:
    fputs("null", out);
    break;
  case JR_BOOL:
    fputs(v->b ? "true" : "false", out);
    break;
  case JR_INT:
    fprintf(out, "%lld", (long long)v->i);
    break;
  case JR_STR:
    jr_print_str(out, v->s, v->len);
    break;
  case JR_ARR:
  case JR_OBJ:
    fputc(v->type == JR_ARR ? '[' : '{', out);
    for (size_t i = 0; i < v->len; i++) {
      if (i)
        fputc(',', out);
      if (v->type == JR_OBJ) {
        jr_print_str(out, v->keys[i], strlen(v->keys[i]));
        fputc(':', out);
      }
      jr_print(out, &v->items[i]);
    }
    fputc(v->type == JR_ARR ? ']' : '}', out);
    break;
  }
}

#endif
