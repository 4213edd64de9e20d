// merge.js — the per-field merge rules of PROTOCOL.md 4.2, decided exactly as
// protocol/merge.c decides them. Pure functions: every decision depends only
// on the two slots, never on arrival order, which is what lets replicas
// converge.
//
// A slot is what a replica holds for one field of one record, or what an op
// brings: { v: value, h: HLC (BigInt), d: device, s: device_seq,
// n: server_seq (0 while uncommitted) }; a field never written has no slot
// (undefined).

import { RULE } from './schema.js';

/**
 * Bytewise comparison of two strings' UTF-8 forms (-1, 0, 1). UTF-8 byte
 * order is code point order, which differs from JavaScript's UTF-16 `<` only
 * beyond U+FFFF; ids are ASCII, where both agree.
 */
export function compareBytes(a, b) {
  if (a === b) return 0;
  const ia = a[Symbol.iterator](), ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next(), y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0), cy = y.value.codePointAt(0);
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** (aH, aD) is later than (bH, bD): greater HLC, ties by the bytewise greater device. */
export function lwwWins(aH, aD, bH, bD) {
  if (aH !== bH) return aH > bH;
  return compareBytes(aD, bD) > 0;
}

function rank(v) {
  if (v === null) return 0;
  if (typeof v === 'boolean') return 1;
  if (typeof v === 'number') return 2;
  return 3;
}

/** The total order of values used by MIN/MAX: nil < bool < int < str. */
export function valueCmp(a, b) {
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra === 3) return compareBytes(a, b);
  if (a === b) return 0;
  return a < b ? -1 : 1; // false < true as in C
}

// Last writer wins. Two ops of one device with the same HLC (a wiped or buggy
// device) are ordered by device_seq, so that even that case converges.
function lww(cur, inc, base) {
  if (!cur) return { take: true, conflict: false };
  const otherDevice = cur.d !== inc.d;
  if (!otherDevice && cur.s === inc.s) return { take: false, conflict: false }; // the same op again
  const differs = valueCmp(cur.v, inc.v) !== 0;
  if (lwwWins(inc.h, inc.d, cur.h, cur.d) || (!otherDevice && inc.h === cur.h && inc.s > cur.s)) {
    // The winner overwrote a value its writer had not pulled: case (a).
    return { take: true, conflict: otherDevice && differs && cur.n > base };
  }
  // The incoming value is discarded: case (b), unless the device simply wrote twice.
  return { take: false, conflict: otherDevice && differs };
}

/**
 * Decides one field: { take, conflict }. cur is the replica's slot or
 * undefined; for COUNTER it must be the incoming op's own device's slot.
 * base is the incoming op's `b`. conflict: the discarded LWW value belongs in
 * the conflict log (case (a) or (b) of 4.2).
 */
export function mergeField(rule, cur, inc, base) {
  switch (rule) {
    case RULE.LWW:
      return lww(cur, inc, base);
    case RULE.MIN:
    case RULE.MAX: {
      // nil means "not known", never "smallest": it must not erase a time.
      if (inc.v === null) return { take: false, conflict: false };
      if (!cur || cur.v === null) return { take: true, conflict: false };
      const c = valueCmp(inc.v, cur.v);
      return { take: rule === RULE.MIN ? c < 0 : c > 0, conflict: false };
    }
    case RULE.COUNTER:
      // A slot holds the device's running total: the highest device_seq is the newest.
      return { take: !cur || inc.s > cur.s, conflict: false };
    case RULE.ONCE:
      return { take: !cur, conflict: false };
  }
  return { take: false, conflict: false };
}
