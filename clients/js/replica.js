// replica.js — a tablet's local replica in memory: the records of every type
// with the clock of each field, the per-device counter slots, the check-in
// sources and (optionally) the conflict log, and the one place an op is
// applied to them with the rules of merge.js. It gives the same results as
// the C reference (storage/replica.c); the conformance vectors in
// protocol/testdata/merge hold both to that.
//
// Owns only memory. Persistence is the caller's, in buckets of rows:
// takeChanges() hands over the buckets changed since the last call, load()
// takes them back. A session's check-in and tally rows share one bucket;
// sessions are bucketed by their date; every other row is in one of 64
// per type, by a hash of its first key. Storing a bucket instead of a row
// makes a first sync's writes and a start's reads several times cheaper,
// and a tablet starts from the buckets of today. A replica may be loaded in
// parts ({ partial: true }): apply() then needs the op's bucket loaded (a
// session's: every session, coreComplete()), and an erasure everything
// (complete()).
//
// Rows, each under a store key of space-separated parts (ids never contain
// a space):
//   `<type> <k>`, `checkin <session> <participant>`:
//       { t: type id, k, k2, f: { field: value }, c: { field: { h, d, s, n } } }
//       f holds the values written (null for nil), c the clock of the op
//       that wrote each; a message also has author and posted (ms).
//       Check-in rows are the sources: one per (session, participant) as
//       ops wrote it; the check-ins a reader sees are computed from them.
//   `tally <session> <device>`: { t: 6, k, d, v, s } a device's counter slot
//       (its running total and the device_seq that set it).
//   `conflict <rtype> <k> <k2> <field> <lost device> <lost seq>`:
//       { t: 0, rtype, k, k2, field, kept_value, kept_device, kept_hlc,
//         lost_value, lost_device, lost_hlc, lost_seq, server_seq }
// HLCs are BigInt; device_seq, server_seq and values are numbers. Device ids
// are compared bytewise (compareBytes): they are ASCII, so that is also
// JavaScript's `<`.

import { ERR, RULE, TYPES, typeById, typeByName, fieldByName, utf8Length, validateOp,
  MAX_ID_BYTES } from './schema.js';
import { compareBytes, mergeField } from './merge.js';

const CONFLICT = 0; // t of a conflict-log row
const SESSION = 3, PARTICIPANT = 4, CHECKIN = 5, MESSAGE = 7, ERASURE = 9;
// PROTOCOL.md 4.4: merged_into is followed through at most 32 participants
// (31 hops), as replica.c does.
const MAX_PATH = 32;

const PER_DEVICE = new Set(TYPES.filter((t) => t.fields.some((f) => f.rule === RULE.COUNTER)).map((t) => t.id));
const perDevice = (t) => PER_DEVICE.has(t.id);
const recordKey = (t, k, k2) => (t.key2 !== null ? `${t.name} ${k} ${k2}` : `${t.name} ${k}`);

const BUCKETS = 64;
/* FNV-1a of a string's UTF-16 units: spreads ids over the buckets. */
function hash(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The bucket of a session's check-ins and tally slots. */
export const sessionBucket = (session) => `~s ${session}`;

/** The bucket of the sessions of a date ("YYYY-MM-DD"). */
export const dateBucket = (date) => `session ${date}`;
/** What an op on a session needs loaded: every session's bucket (the
 *  session's date, hence its bucket, may be what the op changes). */
export const ALL_SESSIONS = 'session *';

/** The bucket a row is stored in. */
export function bucketOfRow(key, row) {
  return row.t === SESSION ? dateBucket(row.f.date ?? '') : bucketOf(key);
}

/** The bucket a row is stored in, from its store key (but a session's is
 *  its date's: bucketOfRow). */
export function bucketOf(key) {
  const space = key.indexOf(' ');
  const type = key.slice(0, space);
  if (type === 'conflict') return `conflict ${hash(key.slice(space + 1)) % BUCKETS}`;
  const end = key.indexOf(' ', space + 1);
  const k = end < 0 ? key.slice(space + 1) : key.slice(space + 1, end);
  if (type === 'checkin' || type === 'tally') return sessionBucket(k);
  return `${type} ${hash(k) % BUCKETS}`;
}
const checkinType = typeById(CHECKIN);
const messageType = typeById(MESSAGE);
const MESSAGE_ACTIVITY = fieldByName(messageType, 'activity');
const MESSAGE_BODY = fieldByName(messageType, 'body');

function byKeys(cols) {
  return (a, b) => {
    for (const c of cols) {
      const x = a[c], y = b[c];
      const r = typeof x === 'string' ? compareBytes(x, y) : x < y ? -1 : x > y ? 1 : 0;
      if (r !== 0) return r;
    }
    return 0;
  };
}
const CONFLICT_ORDER = byKeys(['rtype', 'k', 'k2', 'field', 'lost_device', 'lost_seq']);

export class Replica {
  #logConflicts;
  #rows = new Map(); // store key -> row
  #buckets = new Map(); // bucket -> Map(store key -> row)
  #dirty = new Set(); // buckets changed since takeChanges
  #loaded; // buckets loaded so far, or null: all of them
  #core = false; // every bucket but the sessions' check-ins and tallies is loaded
  #sessionBucket = new Map(); // session store key -> the bucket it is in
  #sources = new Map(); // session -> Map(participant -> check-in source row)
  #sourceSessions = new Map(); // participant -> Set(session)
  #slots = new Map(); // session -> Map(device -> tally slot row)
  #used = false; // a whole replica is loaded before any apply

  /** logConflicts: keep the conflict log (a tablet does not by default).
   *  partial: the replica is loaded bucket by bucket, until complete(). */
  constructor({ logConflicts = false, partial = false } = {}) {
    this.#logConflicts = logConflicts;
    this.#loaded = partial ? new Set() : null;
  }

  /** Takes back buckets as takeChanges() gave them ([bucket, rows], rows
   *  undefined for an empty bucket); keeps the row objects themselves. A
   *  bucket already held is skipped: what this replica holds is newer. */
  load(buckets) {
    if (this.#loaded === null && this.#used) throw new Error('Replica.load must come before any apply');
    for (const [bucket, rows] of buckets) {
      if (this.#buckets.has(bucket) || this.#loaded?.has(bucket)) continue;
      this.#loaded?.add(bucket);
      /* The caller's rows are ours now (IndexedDB made them). */
      for (const [key, row] of rows ?? []) this.#store(key, row, false, bucket);
    }
  }

  /** Whether a bucket's rows are here (always, once complete). */
  loaded(bucket) {
    if (this.#loaded === null) return true;
    if (bucket === ALL_SESSIONS) return this.#core;
    return this.#loaded.has(bucket) || this.#buckets.has(bucket);
  }

  get isComplete() { return this.#loaded === null; }
  get isCoreComplete() { return this.#core || this.#loaded === null; }

  /** Every bucket but the sessions' check-ins and tallies has been loaded
   *  (participants, every session, ...): those not loaded are empty. */
  coreComplete() { this.#core = true; }

  /** Every bucket has been loaded: the rest are empty. */
  complete() { this.#loaded = null; }

  /** The bucket an op writes to (ALL_SESSIONS for a session's). */
  static bucketOf(op) {
    const t = typeById(op.y);
    if (!t) return '';
    if (t.id === SESSION) return ALL_SESSIONS;
    return perDevice(t) ? sessionBucket(op.k) : bucketOf(recordKey(t, op.k, op.k2 ?? ''));
  }

  /**
   * Applies op ({ d, s, n, h: BigInt, y, k, k2, b, f: Map(field id -> value) });
   * n = 0 for this tablet's own op not yet committed. Returns 0, or a refusal
   * as its positive wire code, nothing changed: ERR.INVALID_OP (20) for an op
   * schema validation refuses, without a device, or creating a message
   * without activity and body; ERR.NOT_AUTHOR (22) for a change to someone
   * else's message. (The C replica returns the same codes negated.) Applying
   * the same op again changes nothing.
   */
  apply(op) {
    this.#used = true;
    if (typeof op.d !== 'string') return ERR.INVALID_OP;
    const dn = utf8Length(op.d);
    if (dn < 1 || dn > MAX_ID_BYTES || validateOp(op) !== 0) return ERR.INVALID_OP;
    const t = typeById(op.y);
    const k2 = op.k2 ?? '';
    /* Merging into a row that is not here would lose what it holds; an
     * erasure reaches into every session. The caller loads them first. */
    if (this.#loaded !== null && (!this.loaded(Replica.bucketOf(op)) || t.id === ERASURE)) {
      throw new Error(`Replica.apply: ${t.name} ${op.k} is not loaded`);
    }
    if (perDevice(t)) {
      this.#applyCounters(t, op);
      return 0;
    }

    const key = recordKey(t, op.k, k2);
    const old = this.#rows.get(key);
    if (t.id === MESSAGE) {
      // Append-only with one author; refusals are decided before any change.
      if (old && old.author !== op.d) return ERR.NOT_AUTHOR;
      if (!old && !(op.f.has(MESSAGE_ACTIVITY.id) && op.f.has(MESSAGE_BODY.id))) {
        return ERR.INVALID_OP;
      }
    }
    if (t.id === ERASURE) this.#erase(op.k);

    const row = old ?? { t: t.id, k: op.k, k2, f: {}, c: {} };
    let changed = false;
    for (const [id, v] of op.f) {
      const f = t.fields.find((x) => x.id === id);
      const clock = row.c[f.name];
      const cur = clock && { v: row.f[f.name], ...clock };
      const inc = { v, h: op.h, d: op.d, s: op.s, n: op.n };
      const { take, conflict } = mergeField(f.rule, cur, inc, op.b);
      if (take) {
        row.f[f.name] = v;
        row.c[f.name] = { h: op.h, d: op.d, s: op.s, n: op.n };
        changed = true;
      }
      if (conflict && this.#logConflicts) {
        this.#logConflict(op, k2, f, take ? inc : cur, take ? cur : inc);
      }
    }
    // An op that changed nothing (again, or lost everywhere) writes nothing;
    // one that creates a record writes it even when every field lost.
    if (old && !changed) return 0;
    if (!old && t.id === MESSAGE) {
      row.author = op.d;
      row.posted = Number(op.h >> 16n);
    }
    this.#store(key, row, true);
    return 0;
  }

  /**
   * This tablet's own op came back committed, with the server's HLC (bounded
   * when the tablet's clock ran ahead) and server_seq: every field clock of
   * its record still written by (op.d, op.s) takes op.h and op.n, and a
   * message it created takes op.h's time as posted. Call it before applying
   * the committed op. Returns 0.
   */
  rebaseOwn(op) {
    const t = typeById(op.y);
    if (!t || perDevice(t)) return 0; // counter slots carry no clock
    const key = recordKey(t, op.k, op.k2 ?? '');
    const row = this.#rows.get(key);
    if (!row) return 0;
    let changed = false;
    for (const clock of Object.values(row.c)) {
      if (clock.d === op.d && clock.s === op.s && (clock.h !== op.h || clock.n !== op.n)) {
        clock.h = op.h;
        clock.n = op.n;
        changed = true;
      }
    }
    const created = row.c[MESSAGE_ACTIVITY.name];
    if (t.id === MESSAGE && row.author === op.d && created && created.d === op.d &&
        created.s === op.s && row.posted !== Number(op.h >> 16n)) {
      row.posted = Number(op.h >> 16n);
      changed = true;
    }
    if (changed) this.#store(key, row, true);
    return 0;
  }

  /**
   * The buckets changed since the last call, as [bucket, rows] with rows
   * [[storeKey, row]] (undefined: the bucket is empty now); then forgets
   * them. The rows are the replica's own objects, not copies: the caller
   * must store (IndexedDB's put clones) or copy them before the next apply
   * changes them. Copying here cost a fifth of a first sync.
   */
  takeChanges() {
    const out = [];
    for (const bucket of this.#dirty) {
      const rows = this.#buckets.get(bucket);
      out.push([bucket, rows ? [...rows] : undefined]);
    }
    this.#dirty.clear();
    return out;
  }

  /**
   * A record as a reader sees it, with its keys: { id, name, ... } with null
   * for fields never written; 'checkin' gives the merged check-in of
   * (session k, canonical participant k2), 'tally' { session, total }, a
   * message also author and posted. undefined when there is none.
   */
  get(typeName, k, k2 = '') {
    const t = typeByName(typeName);
    if (!t) return undefined;
    if (t.id === CHECKIN) return this.#sessionCheckins(k).get(k2);
    if (perDevice(t)) return this.#tally(k);
    const row = this.#rows.get(recordKey(t, k, k2));
    return row && this.#record(t, row);
  }

  /** One session's check-ins as list('checkin') gives them, without
   *  folding every other session's: what a tablet shows while a teacher
   *  taps names must not cost a whole organisation's history. */
  checkinsOf(session) {
    return [...this.#sessionCheckins(session).values()].sort(byKeys(['participant']));
  }

  /** Every record of a type as get() gives them, sorted by their keys
   *  (unless `sorted` is false: a year of sessions takes a while to sort). */
  list(typeName, sorted = true) {
    const t = typeByName(typeName);
    if (!t) return [];
    let out = [];
    if (t.id === CHECKIN) {
      for (const session of this.#sources.keys()) out.push(...this.#sessionCheckins(session).values());
    } else if (perDevice(t)) {
      out = [...this.#slots.keys()].map((s) => this.#tally(s));
    } else {
      for (const row of this.#rows.values()) if (row.t === t.id) out.push(this.#record(t, row));
    }
    return sorted ? out.sort(byKeys(t.key2 !== null ? [t.key, t.key2] : [t.key])) : out;
  }

  /** One device's running total of a session's tally (0 when none): what
   *  that device's next tally op must build on. */
  tallySlot(session, device) {
    const slot = this.#slots.get(session)?.get(device);
    return slot ? slot.v : 0;
  }

  /** The conflict log, sorted as in the canonical state (HLCs as BigInt). */
  conflicts() {
    const out = [];
    for (const row of this.#rows.values()) {
      if (row.t === CONFLICT) {
        const { t, ...entry } = row;
        out.push(entry);
      }
    }
    return out.sort(CONFLICT_ORDER);
  }

  /**
   * The canonical state of protocol/testdata/merge/README.md: one member per
   * non-empty table. HLCs become numbers, exact up to 2^53 (the vectors').
   */
  dump() {
    const state = {};
    for (const t of TYPES) {
      const rows = this.list(t.name);
      const name = t.id === CHECKIN ? 'checkins' : perDevice(t) ? 'session_tallies' : t.table;
      if (rows.length) state[name] = rows;
    }
    const conflicts = this.conflicts().map((c) => ({
      ...c, kept_hlc: Number(c.kept_hlc), lost_hlc: Number(c.lost_hlc) }));
    if (conflicts.length) state.conflicts = conflicts;
    return state;
  }

  // ---- internals ----

  #applyCounters(t, op) {
    for (const [id, v] of op.f) {
      const f = t.fields.find((x) => x.id === id);
      const key = `${t.name} ${op.k} ${op.d}`;
      const slot = this.#rows.get(key);
      const cur = slot && { v: slot.v, d: op.d, s: slot.s };
      if (mergeField(f.rule, cur, { v, d: op.d, s: op.s }, op.b).take) {
        this.#store(key, { t: t.id, k: op.k, d: op.d, v, s: op.s }, true);
      }
    }
  }

  // One row per lost write: a later entry for the same one is ignored, as
  // the C replica's unique index ignores it.
  #logConflict(op, k2, f, kept, lost) {
    const key = `conflict ${op.y} ${op.k} ${k2} ${f.id} ${lost.d} ${lost.s}`;
    if (this.#rows.has(key)) return;
    this.#store(key, {
      t: CONFLICT, rtype: op.y, k: op.k, k2, field: f.id,
      kept_value: kept.v, kept_device: kept.d, kept_hlc: kept.h,
      lost_value: lost.v, lost_device: lost.d, lost_hlc: lost.h, lost_seq: lost.s,
      server_seq: lost.n,
    }, true);
  }

  // Everything held about one participant goes: their row, their check-in
  // sources (the check-ins read from them follow) and the conflict-log
  // entries that name them. Deleting what is gone changes nothing.
  #erase(p) {
    this.#remove(recordKey(typeById(PARTICIPANT), p, ''), true);
    for (const session of [...(this.#sourceSessions.get(p) ?? [])]) {
      this.#remove(recordKey(checkinType, session, p), true);
    }
    for (const [key, row] of [...this.#rows]) {
      if (row.t === CONFLICT && ((row.rtype === PARTICIPANT && row.k === p) ||
                                 (row.rtype === CHECKIN && row.k2 === p))) {
        this.#remove(key, true);
      }
    }
  }

  // The participant whose check-ins p's count for: follow merged_into until
  // a participant not merged (or unknown here); in a cycle the bytewise
  // smallest id of the cycle. Depends only on the participants' merged_into,
  // so every replica gets the same answer.
  #canonical(p) {
    const path = [p];
    for (;;) {
      const last = path[path.length - 1];
      const next = this.#rows.get(`participant ${last}`)?.f.merged_into ?? null;
      if (next === null || path.length === MAX_PATH) return last;
      const i = path.indexOf(next);
      if (i >= 0) return path.slice(i).reduce((m, x) => (compareBytes(x, m) < 0 ? x : m));
      path.push(next);
    }
  }

  // A session's check-ins as readers see them: its sources folded per
  // canonical participant with the check-in rules (LWW status, earliest
  // arrival, latest departure). Computed when read, so a merge, re-merge or
  // undo needs no bookkeeping. Map(canonical participant -> record).
  #sessionCheckins(session) {
    const acc = new Map();
    for (const [p, row] of this.#sources.get(session) ?? []) {
      const c = this.#canonical(p);
      const slots = acc.get(c) ?? {};
      acc.set(c, slots);
      for (const f of checkinType.fields) {
        const clock = row.c[f.name];
        const slot = clock && { v: row.f[f.name], ...clock };
        if (slot && mergeField(f.rule, slots[f.name], slot, 0).take) slots[f.name] = slot;
      }
    }
    const out = new Map();
    for (const [c, slots] of acc) {
      const rec = { session, participant: c };
      for (const f of checkinType.fields) rec[f.name] = slots[f.name]?.v ?? null;
      out.set(c, rec);
    }
    return out;
  }

  #tally(session) {
    const slots = this.#slots.get(session);
    if (!slots) return undefined;
    let total = 0;
    for (const slot of slots.values()) total += slot.v;
    return { session, total };
  }

  #record(t, row) {
    const rec = { [t.key]: row.k };
    if (t.key2 !== null) rec[t.key2] = row.k2;
    for (const f of t.fields) rec[f.name] = row.f[f.name] ?? null;
    if (t.id === MESSAGE) {
      rec.author = row.author;
      rec.posted = row.posted;
    }
    return rec;
  }

  // A row loaded from a bucket stays in it until it is written: a session
  // whose date changed moves then.
  #store(key, row, track, bucket = bucketOfRow(key, row)) {
    this.#unindex(key);
    this.#rows.set(key, row);
    if (row.t === SESSION) {
      const was = this.#sessionBucket.get(key);
      if (was !== undefined && was !== bucket) this.#leaveBucket(was, key, track);
      this.#sessionBucket.set(key, bucket);
    }
    if (!this.#buckets.has(bucket)) this.#buckets.set(bucket, new Map());
    this.#buckets.get(bucket).set(key, row);
    if (track) this.#dirty.add(bucket);
    if (row.t === CHECKIN) {
      if (!this.#sources.has(row.k)) this.#sources.set(row.k, new Map());
      this.#sources.get(row.k).set(row.k2, row);
      if (!this.#sourceSessions.has(row.k2)) this.#sourceSessions.set(row.k2, new Set());
      this.#sourceSessions.get(row.k2).add(row.k);
    } else if (row.t !== CONFLICT && perDevice(typeById(row.t))) {
      if (!this.#slots.has(row.k)) this.#slots.set(row.k, new Map());
      this.#slots.get(row.k).set(row.d, row);
    }
  }

  #remove(key, track) {
    if (!this.#rows.has(key)) return;
    this.#unindex(key);
    this.#rows.delete(key);
    this.#leaveBucket(this.#sessionBucket.get(key) ?? bucketOf(key), key, track);
    this.#sessionBucket.delete(key);
  }

  #leaveBucket(bucket, key, track) {
    const rows = this.#buckets.get(bucket);
    rows.delete(key);
    if (rows.size === 0) {
      this.#buckets.delete(bucket);
      this.#loaded?.add(bucket); /* loaded, and empty */
    }
    if (track) this.#dirty.add(bucket);
  }

  #unindex(key) {
    const row = this.#rows.get(key);
    if (!row) return;
    if (row.t === CHECKIN) {
      const m = this.#sources.get(row.k);
      m.delete(row.k2);
      if (m.size === 0) this.#sources.delete(row.k);
      const s = this.#sourceSessions.get(row.k2);
      s.delete(row.k);
      if (s.size === 0) this.#sourceSessions.delete(row.k2);
    } else if (row.t !== CONFLICT && perDevice(typeById(row.t))) {
      const m = this.#slots.get(row.k);
      m.delete(row.d);
      if (m.size === 0) this.#slots.delete(row.k);
    }
  }
}
