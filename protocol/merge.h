/* merge.h — the per-field merge rules, written once and applied identically
 * by the server and by every tablet to its local replica, so that all
 * replicas converge whatever the order ops arrive in. Pure code. */
#ifndef TURF_MERGE_H
#define TURF_MERGE_H

#include "proto.h"
#include "schema.h"

/* What a replica holds for one field of one record, or what an op brings. */
typedef struct {
  bool present;         /* false: the field was never written */
  proto_value_t value;
  uint64_t hlc;         /* of the op that wrote it */
  proto_str_t device;   /* of the op that wrote it */
  uint64_t seq;         /* device_seq of the op that wrote it */
  uint64_t server_seq;  /* 0 when not yet committed by the server */
} merge_slot_t;

typedef enum {
  MERGE_KEEP = 0, /* the replica keeps its current value */
  MERGE_TAKE = 1, /* the replica takes the incoming value and its clock */
} merge_decision_t;

/* True when (a_hlc, a_dev) is later than (b_hlc, b_dev): greater HLC, ties
 * broken by the bytewise greater device id. Cannot fail. */
bool merge_lww_wins(uint64_t a_hlc, proto_str_t a_dev, uint64_t b_hlc,
                    proto_str_t b_dev);

/* Total order on values used by MIN/MAX: nil < bool < int < str. */
int merge_value_cmp(const proto_value_t *a, const proto_value_t *b);

/* Decides one field. cur may have present == false. For MERGE_COUNTER, cur
 * must be the slot of the incoming op's own device. incoming_base is the
 * cursor the incoming op's device had pulled when it recorded the op.
 *
 * *conflict is set true when an LWW decision discards a value from another
 * device that the writer of the winning value had not seen (the discarded
 * value was committed after the other's base): that value belongs in the
 * conflict log. Re-applying the same op is always MERGE_KEEP. Cannot fail. */
merge_decision_t merge_field(merge_rule_t rule, const merge_slot_t *cur,
                             const merge_slot_t *incoming,
                             uint64_t incoming_base, bool *conflict);

#endif
