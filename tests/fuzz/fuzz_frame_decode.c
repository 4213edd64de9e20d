/* fuzz_frame_decode.c — libFuzzer target for the frame decoder, the first
 * code to touch every byte a client sends.
 *
 * Oracle, beyond "no crash, no undefined behaviour, no leak" (the target is
 * built with ASan and UBSan, and libFuzzer hands over an allocation of
 * exactly the input's size, so any read past the end is caught):
 *   - a refusal is one of the four decoder codes PROTOCOL.md section 2 names;
 *   - a frame that decodes re-encodes, and that encoding decodes and
 *     re-encodes to the same bytes (the encoder and the decoder agree);
 *   - every op's fields map decodes again on its own, as storage does, and
 *     schema validation of the op runs without harm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "schema.h"

#define FUZZ_REQUIRE(expr)                                                      \
  do {                                                                         \
    if (!(expr)) {                                                             \
      fprintf(stderr, "fuzz_frame_decode: %s:%d: %s\n", __FILE__, __LINE__, #expr); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static void fuzz__check_ops(const proto_op_t *ops, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    proto_op_t copy = ops[i];
    void *mem = NULL;
    (void)schema_validate_op(&ops[i]);
    if (ops[i].fields_raw.len == 0)
      continue;
    FUZZ_REQUIRE(proto_decode_fields(ops[i].fields_raw.ptr, ops[i].fields_raw.len, &copy, &mem) ==
                 0);
    FUZZ_REQUIRE(copy.nfields == ops[i].nfields);
    free(mem);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  proto_frame_t *f = NULL, *again = NULL;
  proto_buf_t one, two;
  int rc = proto_decode(data, size, &f);

  if (rc != 0) {
    FUZZ_REQUIRE(f == NULL);
    FUZZ_REQUIRE(rc == PROTO_EBAD_FRAME || rc == PROTO_ETOO_LARGE || rc == PROTO_EUNKNOWN_TYPE ||
                 rc == PROTO_EBAD_FIELD);
    return 0;
  }
  if (f->type == PROTO_PUSH)
    fuzz__check_ops(f->u.push.ops, f->u.push.nops);
  else if (f->type == PROTO_CHANGES || f->type == PROTO_LIVE)
    fuzz__check_ops(f->u.changes.ops, f->u.changes.nops);

  proto_buf_init(&one, 0);
  proto_buf_init(&two, 0);
  FUZZ_REQUIRE(proto_encode(f, &one) == 0);
  FUZZ_REQUIRE(proto_decode(proto_buf_data(&one), one.len, &again) == 0);
  FUZZ_REQUIRE(again->type == f->type);
  FUZZ_REQUIRE(proto_encode(again, &two) == 0);
  FUZZ_REQUIRE(one.len == two.len && memcmp(proto_buf_data(&one), proto_buf_data(&two), one.len) == 0);
  proto_frame_free(again);
  proto_buf_dispose(&one);
  proto_buf_dispose(&two);
  proto_frame_free(f);
  return 0;
}
