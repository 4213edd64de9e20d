/* merge.c — the per-field merge rules (see merge.h and PROTOCOL.md).
 *
 * Owns nothing. Every decision depends only on the two slots, never on
 * arrival order or local state, which is what lets every replica converge. */
#include "merge.h"

#include <assert.h>

bool merge_lww_wins(uint64_t a_hlc, proto_str_t a_dev, uint64_t b_hlc,
                    proto_str_t b_dev) {
  if (a_hlc != b_hlc)
    return a_hlc > b_hlc;
  return proto_str_cmp(a_dev, b_dev) > 0;
}

/* Rank of a value type in the total order nil < bool < int < str. */
static int merge__rank(proto_vtype_t t) {
  switch (t) {
  case PROTO_NIL:
    return 0;
  case PROTO_BOOL:
    return 1;
  case PROTO_INT:
    return 2;
  case PROTO_STR:
    return 3;
  }
  return 4; /* not a valid type: after every valid one, still a total order */
}

int merge_value_cmp(const proto_value_t *a, const proto_value_t *b) {
  int ra = merge__rank(a->type), rb = merge__rank(b->type);
  if (ra != rb)
    return ra < rb ? -1 : 1;
  switch (a->type) {
  case PROTO_BOOL:
    return a->u.b == b->u.b ? 0 : (a->u.b ? 1 : -1);
  case PROTO_INT:
    return a->u.i == b->u.i ? 0 : (a->u.i < b->u.i ? -1 : 1);
  case PROTO_STR:
    return proto_str_cmp(a->u.s, b->u.s);
  default:
    return 0; /* nil equals nil */
  }
}

/* Last-writer-wins by (hlc, device). A correct device never gives two of its
 * ops the same HLC, but a wiped or buggy one might; the greater device_seq
 * then wins, so that even that case converges whatever the arrival order. */
static merge_decision_t merge__lww(const merge_slot_t *cur,
                                   const merge_slot_t *in,
                                   uint64_t incoming_base, bool *conflict) {
  bool other_device, differs;

  if (!cur->present)
    return MERGE_TAKE;
  other_device = !proto_str_eq(cur->device, in->device);
  if (!other_device && cur->seq == in->seq)
    return MERGE_KEEP; /* the very same op, applied again */
  differs = merge_value_cmp(&cur->value, &in->value) != 0;

  if (merge_lww_wins(in->hlc, in->device, cur->hlc, cur->device) ||
      (!other_device && in->hlc == cur->hlc && in->seq > cur->seq)) {
    /* The winner overwrites a value it may never have seen: only when that
     * value was committed after the writer's base is it a real conflict. */
    *conflict = other_device && differs && cur->server_seq > incoming_base;
    return MERGE_TAKE;
  }
  /* The incoming value loses; unless it came from the same device (which
   * simply wrote twice) it is discarded and must stay visible. */
  *conflict = other_device && differs;
  return MERGE_KEEP;
}

merge_decision_t merge_field(merge_rule_t rule, const merge_slot_t *cur,
                             const merge_slot_t *incoming,
                             uint64_t incoming_base, bool *conflict) {
  int c;

  assert(cur != NULL && incoming != NULL && conflict != NULL);
  /* incoming->present is not consulted: an op always brings its value, and
   * callers building the slot from an op need not remember to set it. */
  *conflict = false;

  switch (rule) {
  case MERGE_LWW:
    return merge__lww(cur, incoming, incoming_base, conflict);
  case MERGE_MIN:
  case MERGE_MAX:
    /* nil means "not known", never "smallest": it must not erase a time. */
    if (incoming->value.type == PROTO_NIL)
      return MERGE_KEEP;
    if (!cur->present || cur->value.type == PROTO_NIL)
      return MERGE_TAKE;
    c = merge_value_cmp(&incoming->value, &cur->value);
    if (rule == MERGE_MIN)
      return c < 0 ? MERGE_TAKE : MERGE_KEEP;
    return c > 0 ? MERGE_TAKE : MERGE_KEEP;
  case MERGE_COUNTER:
    /* A device's slot holds its running total; a later op of the same device
     * carries a larger total, so the highest device_seq is the newest. */
    return !cur->present || incoming->seq > cur->seq ? MERGE_TAKE : MERGE_KEEP;
  case MERGE_ONCE:
    return cur->present ? MERGE_KEEP : MERGE_TAKE;
  }
  return MERGE_KEEP; /* unknown rule: never overwrite */
}
