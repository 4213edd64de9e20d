// schema.js — the record types an op can change, their fields and merge
// rules, and stateless op validation: the same table as protocol/schema.c
// (and PROTOCOL.md 4.3), so that the app never records an op the server
// refuses. Field ids are stable wire ids; names are the reader's names.

export const RULE = Object.freeze({ LWW: 1, MIN: 2, MAX: 3, COUNTER: 4, ONCE: 5 });

// Wire error codes (PROTOCOL.md section 8) that the replica returns.
export const ERR = Object.freeze({ INVALID_OP: 20, NOT_AUTHOR: 22, ERASED: 24 });

export const MAX_ID_BYTES = 64;
export const MAX_TEXT_BYTES = 4096;
export const MAX_FIELDS_PER_OP = 16;
const MS_MAX = 2 ** 47; // ms since the epoch; year 6429
const NAME_MAX = 200;

// Shapes of text beyond its length, as in schema.c.
const TEXT = 'text'; // free text, several lines allowed
const LINE = 'line'; // one line: no tab or line break
const ID = 'id'; // the id of another record: printable ASCII
const DATE = 'date'; // "YYYY-MM-DD", a real calendar date
const TIME = 'time'; // "HH:MM", 00:00..23:59

function field(id, name, rule, vtype, nullable, min, max, shape = TEXT, choices = null) {
  return Object.freeze({ id, name, rule, vtype, nullable, min, max, shape, choices });
}

const { LWW, MIN, MAX, COUNTER, ONCE } = RULE;

// vtype is 'str', 'int' or 'bool'; min/max bound ints, or string lengths in
// UTF-8 bytes. key2 is null for types without a second key.
export const TYPES = Object.freeze([
  { id: 1, name: 'location', table: 'locations', key: 'id', key2: null, fields: [
    field(1, 'name', LWW, 'str', false, 1, NAME_MAX, LINE)] },
  { id: 2, name: 'activity', table: 'activities', key: 'id', key2: null, fields: [
    field(1, 'location', LWW, 'str', false, 1, MAX_ID_BYTES, ID),
    field(2, 'name', LWW, 'str', false, 1, NAME_MAX, LINE),
    field(3, 'weekday', LWW, 'int', true, 1, 7),
    field(4, 'start_time', LWW, 'str', true, 5, 5, TIME)] },
  { id: 3, name: 'session', table: 'sessions', key: 'id', key2: null, fields: [
    field(1, 'activity', LWW, 'str', false, 1, MAX_ID_BYTES, ID),
    field(2, 'date', LWW, 'str', false, 10, 10, DATE),
    field(3, 'start_time', LWW, 'str', true, 5, 5, TIME),
    field(4, 'cancelled', LWW, 'bool', false, 0, 0)] },
  { id: 4, name: 'participant', table: 'participants', key: 'id', key2: null, fields: [
    field(1, 'name', LWW, 'str', false, 1, NAME_MAX, LINE),
    field(2, 'pseudonym', LWW, 'str', true, 0, NAME_MAX, LINE),
    field(3, 'contact', LWW, 'str', true, 0, NAME_MAX, LINE),
    field(4, 'referral', LWW, 'str', true, 0, 100, LINE),
    field(5, 'first_seen', MIN, 'int', false, 0, MS_MAX),
    // A coordinator's merge of a duplicate into another participant (4.4).
    field(6, 'merged_into', LWW, 'str', true, 1, MAX_ID_BYTES, ID)] },
  { id: 5, name: 'checkin', table: 'checkins', key: 'session', key2: 'participant', fields: [
    // null withdraws the check-in: the person reads as not checked in (4.3).
    field(1, 'status', LWW, 'str', true, 1, 16, TEXT, ['present', 'absent', 'excused']),
    field(2, 'arrived', MIN, 'int', true, 0, MS_MAX),
    field(3, 'departed', MAX, 'int', true, 0, MS_MAX)] },
  { id: 6, name: 'tally', table: 'tallies', key: 'session', key2: null, fields: [
    field(1, 'count', COUNTER, 'int', false, 0, 1000000)] },
  { id: 7, name: 'message', table: 'messages', key: 'id', key2: null, fields: [
    field(1, 'activity', ONCE, 'str', false, 1, MAX_ID_BYTES, ID),
    field(2, 'body', LWW, 'str', false, 0, MAX_TEXT_BYTES),
    field(3, 'deleted', LWW, 'bool', false, 0, 0)] },
  { id: 8, name: 'session_log', table: 'session_logs', key: 'session', key2: null, fields: [
    field(1, 'started', LWW, 'int', true, 0, MS_MAX),
    field(2, 'ended', LWW, 'int', true, 0, MS_MAX),
    field(3, 'headcount', LWW, 'int', true, 0, 100000),
    field(4, 'notes', LWW, 'str', true, 0, MAX_TEXT_BYTES)] },
  // Written only by the server: applying it purges the participant (4.5).
  { id: 9, name: 'erasure', table: 'erasures', key: 'participant', key2: null, fields: [
    field(1, 'erased', MIN, 'int', false, 0, MS_MAX)] },
].map((t) => Object.freeze({ ...t, fields: Object.freeze(t.fields) })));

const byId = new Map(TYPES.map((t) => [t.id, t]));
const byName = new Map(TYPES.map((t) => [t.name, t]));

/** The type with wire id `id`, or undefined. */
export function typeById(id) {
  return byId.get(id);
}

/** The type called `name` ('checkin'), or undefined. */
export function typeByName(name) {
  return byName.get(name);
}

/** The field of `type` with wire id `id`, or undefined. */
export function fieldById(type, id) {
  return type.fields.find((f) => f.id === id);
}

/** The field of `type` called `name`, or undefined. */
export function fieldByName(type, name) {
  return type.fields.find((f) => f.name === name);
}

/**
 * UTF-8 length of s in bytes, or -1 when s holds a lone surrogate (which has
 * no UTF-8 form: the C side would see invalid UTF-8).
 */
export function utf8Length(s) {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (cp >= 0xd800 && cp <= 0xdfff) return -1;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/** An id is printable ASCII, 0x21..0x7e (PROTOCOL.md 5.1); any length. */
export function idValid(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Text as proto_text_valid: no C0 controls (but tab, LF and CR where `lines`),
 * no DEL or C1, no bidi embedding/override/isolate controls, no lone
 * surrogates.
 */
export function textValid(s, lines) {
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (cp < 0x20 && !(lines && (cp === 0x09 || cp === 0x0a || cp === 0x0d))) return false;
    if ((cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  }
  return true;
}

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isDate(s) {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(s);
  if (!m) return false;
  const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > DAYS[mo - 1]) return false;
  return !(mo === 2 && d === 29 && !((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0));
}

function isTime(s) {
  const m = /^([0-9]{2}):([0-9]{2})$/.exec(s);
  return m !== null && Number(m[1]) <= 23 && Number(m[2]) <= 59;
}

function valueValid(f, v) {
  if (v === null) return f.nullable;
  switch (f.vtype) {
    case 'bool':
      return typeof v === 'boolean';
    case 'int':
      return Number.isInteger(v) && v >= f.min && v <= f.max;
    case 'str': {
      if (typeof v !== 'string') return false;
      const n = utf8Length(v);
      if (n < f.min || n > f.max) return false;
      if (f.choices) return f.choices.includes(v);
      if (f.shape === DATE) return isDate(v);
      if (f.shape === TIME) return isTime(v);
      if (f.shape === ID) return idValid(v);
      return textValid(v, f.shape === TEXT);
    }
  }
  return false;
}

function keyValid(k) {
  return typeof k === 'string' && k.length >= 1 && k.length <= MAX_ID_BYTES && idValid(k);
}

/**
 * What schema_validate_op checks without state: a known type, k of 1..64
 * bytes of id, k2 exactly when the type has a second key, 1..16 fields with
 * known ids (op.f is a Map from field id to value; a Map cannot repeat one),
 * values of the field's type (null only where nullable), within range and
 * shape. Returns 0 or ERR.INVALID_OP (20). Does not look at d, s, n, h, b.
 */
export function validateOp(op) {
  const t = op && typeById(op.y);
  if (!t || !keyValid(op.k)) return ERR.INVALID_OP;
  const k2 = op.k2 ?? '';
  if (t.key2 !== null ? !keyValid(k2) : k2 !== '') return ERR.INVALID_OP;
  if (!(op.f instanceof Map) || op.f.size < 1 || op.f.size > MAX_FIELDS_PER_OP) {
    return ERR.INVALID_OP;
  }
  for (const [id, v] of op.f) {
    const f = fieldById(t, id);
    if (!f || !valueValid(f, v)) return ERR.INVALID_OP;
  }
  return 0;
}
