// codec.js — turf.v1 frames to and from bytes (protocol/PROTOCOL.md,
// sections 2 and 3), and the one place where what a server sends is checked
// before the rest of the library trusts it.
//
// MessagePack is @msgpack/msgpack's (installed by scripts/setup from the
// lockfile next to this file; turfd serves the same files under this path).
// Value types on the JS side: HLCs are BigInt (they pass 2^53); seqs,
// cursors and counts are Numbers, refused when above 2^53-1, which no real
// organisation reaches; field values are null, booleans, Numbers (the
// schema keeps every int at or below 2^47) or strings. An op's fields are a
// Map from field id to value.
import { Encoder, Decoder } from './node_modules/@msgpack/msgpack/dist.esm/index.mjs';

export const T = Object.freeze({
  HELLO: 1, WELCOME: 2, PUSH: 3, ACK: 4, PULL: 5, CHANGES: 6, LIVE: 7, ERROR: 8, PING: 9, PONG: 10,
});

/* Error codes (section 8): stable numbers, positive on the wire. */
export const E = Object.freeze({
  BAD_FRAME: 1, TOO_LARGE: 2, UNKNOWN_TYPE: 3, BAD_FIELD: 4, UNSUPPORTED_VERSION: 5,
  NOT_AUTHENTICATED: 6, BAD_CREDENTIALS: 7, ALREADY_AUTHENTICATED: 8, RATE_LIMITED: 9,
  STORAGE: 10, SHUTTING_DOWN: 11, REVOKED: 12, RESCOPED: 13,
  INVALID_OP: 20, SEQ_GAP: 21, NOT_AUTHOR: 22, OUT_OF_SCOPE: 23, ERASED: 24,
  NOMEM: 30, INTERNAL: 31,
});

export const ERROR_NAMES = Object.freeze(Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k])));

export const SUBPROTOCOL = 'turf.v1';
export const MAX_FRAME_BYTES = 1048576;
export const MAX_OPS = 1000;

/* A frame the server sent that breaks the protocol. The connection is
 * then not to be trusted: the client closes it and connects again. */
export class ProtocolError extends Error {}

const encoder = new Encoder({ useBigInt64: true });
const decoder = new Decoder({ useBigInt64: true });

/* @msgpack/msgpack writes every map key as a string, and an op's `f` map
 * is keyed by field id (a uint): so maps are written here, and only their
 * keys and scalar values go through the library. */
class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  bytes(b) {
    this.parts.push(b);
    this.length += b.length;
  }

  value(v) {
    /* The library writes a Number beyond 32 bits as a float, which turf.v1
     * refuses: as a BigInt it becomes a (u)int64. */
    if (typeof v === 'number' && Number.isInteger(v) && (v > 0xffffffff || v < -0x80000000)) v = BigInt(v);
    this.bytes(encoder.encode(v));
  }

  mapHeader(n) {
    /* Frames and ops have at most 16 keys and f at most 16 fields: a
     * fixmap holds 15, map16 the rest. */
    this.bytes(n < 16 ? Uint8Array.of(0x80 | n) : Uint8Array.of(0xde, n >> 8, n & 0xff));
  }

  arrayHeader(n) {
    this.bytes(n < 16 ? Uint8Array.of(0x90 | n) : Uint8Array.of(0xdc, n >> 8, n & 0xff));
  }

  map(entries) {
    this.mapHeader(entries.length);
    for (const [key, value] of entries) {
      this.value(key);
      if (typeof value === 'function') value(this);
      else this.value(value);
    }
  }

  result() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/* The op map as a push carries it: d left out (it is the connection's
 * device), n never sent, defaults left out. */
function writeOp(w, op) {
  const entries = [['s', op.s], ['h', op.h], ['y', op.y], ['k', op.k]];
  if (op.k2) entries.push(['k2', op.k2]);
  if (op.b) entries.push(['b', op.b]);
  entries.push(['f', (w2) => w2.map([...op.f.entries()])]);
  w.map(entries);
}

/* Encodes one frame. `frame` is { t, ...keys }, optional keys holding
 * their default left out by the caller; a push's ops are op objects as the
 * rest of the library holds them. Returns a Uint8Array. */
export function encodeFrame(frame) {
  const w = new Writer();
  w.map(Object.entries(frame).map(([key, value]) => {
    if (key !== 'ops') return [key, value];
    return [key, (w2) => {
      w2.arrayHeader(value.length);
      for (const op of value) writeOp(w2, op);
    }];
  }));
  return w.result();
}

function uint(v, key, max = Number.MAX_SAFE_INTEGER) {
  if (typeof v === 'bigint') {
    if (v < 0n || v > BigInt(max)) throw new ProtocolError(`${key} out of range`);
    return Number(v);
  }
  if (!Number.isInteger(v) || v < 0 || v > max) throw new ProtocolError(`${key} is not an unsigned integer`);
  return v;
}

function int(v, key) {
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new ProtocolError(`${key} out of range`);
    return Number(v);
  }
  if (!Number.isInteger(v)) throw new ProtocolError(`${key} is not an integer`);
  return v;
}

function hlc(v) {
  if (typeof v === 'bigint') {
    if (v < 0n) throw new ProtocolError('h is negative');
    return v;
  }
  if (!Number.isInteger(v) || v < 0) throw new ProtocolError('h is not an unsigned integer');
  return BigInt(v);
}

function str(v, key) {
  if (typeof v !== 'string') throw new ProtocolError(`${key} is not a string`);
  return v;
}

function opt(m, key, fn, dflt) {
  return m[key] === undefined ? dflt : fn(m[key], key);
}

function fieldValue(v) {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return int(v, 'field value');
  throw new ProtocolError('a field value is not nil, bool, int or str');
}

/* An op of a changes or live frame: every key checked, f a Map. */
function decodeOp(m) {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new ProtocolError('an op is not a map');
  const f = new Map();
  if (m.f === null || typeof m.f !== 'object' || Array.isArray(m.f)) throw new ProtocolError('f is not a map');
  for (const [id, value] of Object.entries(m.f)) {
    const n = Number(id);
    if (!Number.isInteger(n) || n < 1 || n > 255) throw new ProtocolError('a field id is out of range');
    f.set(n, fieldValue(value));
  }
  return {
    d: str(m.d, 'd'),
    s: uint(m.s, 's'),
    n: uint(m.n, 'n'),
    h: hlc(m.h),
    y: uint(m.y, 'y', 255),
    k: str(m.k, 'k'),
    k2: opt(m, 'k2', str, ''),
    b: opt(m, 'b', uint, 0),
    f,
  };
}

/* Decodes one frame from the server. Returns { t, ...keys } with the value
 * types above; throws ProtocolError for anything the protocol does not
 * allow a server to send. */
export function decodeFrame(bytes) {
  let m;
  try {
    m = decoder.decode(bytes);
  } catch (e) {
    throw new ProtocolError('not MessagePack: ' + e.message);
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new ProtocolError('a frame is not a map');
  const t = uint(m.t, 't', 255);
  switch (t) {
    case T.WELCOME:
      return {
        t, v: uint(m.v, 'v'), now: int(m.now, 'now'), off: int(m.off, 'off'),
        head: uint(m.head, 'head'), last: uint(m.last, 'last'),
        tok: opt(m, 'tok', str, ''), org: opt(m, 'org', str, ''), tz: opt(m, 'tz', str, ''),
        rs: opt(m, 'rs', (v) => {
          if (typeof v !== 'boolean') throw new ProtocolError('rs is not a bool');
          return v;
        }, false),
      };
    case T.ACK: {
      const a = opt(m, 'a', (v) => v, []);
      const r = opt(m, 'r', (v) => v, []);
      if (!Array.isArray(a) || !Array.isArray(r)) throw new ProtocolError('ack a/r are not arrays');
      return {
        t,
        a: a.map((p) => {
          if (!Array.isArray(p) || p.length !== 2) throw new ProtocolError('an ack range is not a pair');
          return [uint(p[0], 'from'), uint(p[1], 'to')];
        }),
        r: r.map((x) => ({ s: uint(x.s, 's'), c: int(x.c, 'c'), m: opt(x, 'm', str, '') })),
      };
    }
    case T.CHANGES:
    case T.LIVE:
      if (!Array.isArray(m.ops)) throw new ProtocolError('ops is not an array');
      if (typeof m.more !== 'boolean') throw new ProtocolError('more is not a bool');
      return { t, from: uint(m.from, 'from'), cur: uint(m.cur, 'cur'), more: m.more, ops: m.ops.map(decodeOp) };
    case T.ERROR:
      return { t, c: int(m.c, 'c'), m: opt(m, 'm', str, ''), x: m.x === true };
    case T.PING:
    case T.PONG:
      return { t, n: uint(m.n, 'n') };
    default:
      throw new ProtocolError(`frame type ${t} is not one a server sends`);
  }
}
