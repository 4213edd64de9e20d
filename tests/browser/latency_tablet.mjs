// latency_tablet.mjs — a minimal turf.v1 tablet for the latency test: it
// enrols with a code and pushes walk-ins with their check-in, so the test
// knows to the millisecond when each push left (a turf-tablet process would
// add its own start, connect and hello to the measurement). Encodes the
// subset of MessagePack the protocol uses (PROTOCOL.md section 2).
import { randomUUID } from 'node:crypto';

function encode(v, out) {
  if (v === null) out.push(0xc0);
  else if (v === true || v === false) out.push(v ? 0xc3 : 0xc2);
  else if (typeof v === 'number' || typeof v === 'bigint') {
    let n = BigInt(v);
    if (n < 0n) throw new Error('negative integers are not used here');
    if (n < 128n) out.push(Number(n));
    else if (n < 256n) out.push(0xcc, Number(n));
    else if (n < 65536n) out.push(0xcd, Number(n >> 8n), Number(n & 255n));
    else if (n < 4294967296n) { out.push(0xce); for (let i = 3; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 255n)); }
    else { out.push(0xcf); for (let i = 7; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 255n)); }
  } else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    if (b.length < 32) out.push(0xa0 | b.length);
    else if (b.length < 256) out.push(0xd9, b.length);
    else out.push(0xda, b.length >> 8, b.length & 255);
    for (const x of b) out.push(x);
  } else if (Array.isArray(v)) {
    if (v.length >= 16) throw new Error('long arrays are not used here');
    out.push(0x90 | v.length);
    for (const x of v) encode(x, out);
  } else {
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
    if (entries.length >= 16) throw new Error('large maps are not used here');
    out.push(0x80 | entries.length);
    for (const [k, x] of entries) { encode(k, out); encode(x, out); }
  }
  return out;
}
const frame = (obj) => Buffer.from(encode(obj, []));

/* Reads just the frame type: the value of key "t" of the top-level map. */
function frameType(buf) {
  const b = new Uint8Array(buf);
  let i = 0;
  const n = b[i] >= 0x80 && b[i] <= 0x8f ? b[i++] & 15 : -1;
  for (let k = 0; k < n; k++) {
    if (b[i] === 0xa1 && b[i + 1] === 0x74) return b[i + 2]; /* "t": fixint */
    return -1; /* our server puts "t" first; anything else is unexpected */
  }
  return -1;
}

export class ProbeTablet {
  constructor(url, code) {
    this.url = url;
    this.code = code;
    this.dev = randomUUID();
    this.seq = 0;
    this.waiters = [];
  }

  async connect() {
    this.ws = new WebSocket(this.url, 'turf.v1');
    this.ws.binaryType = 'arraybuffer';
    this.ws.onmessage = (ev) => {
      const type = frameType(ev.data);
      this.waiters = this.waiters.filter((w) => (w.type === type ? (w.resolve(), false) : true));
    };
    await new Promise((resolve, reject) => { this.ws.onopen = resolve; this.ws.onerror = reject; });
    const welcome = this.next(2);
    this.ws.send(frame({ t: 1, v: 1, dev: this.dev, app: 'turf-latency-probe/1', name: 'Meetprobe',
      code: this.code, now: Date.now() }));
    await welcome;
  }

  next(type) { return new Promise((resolve) => this.waiters.push({ type, resolve })); }

  /* Pushes a new participant checked in to session; resolves with the time
   * (ms) the push was handed to the socket, once the server acked it. */
  async walkin(session, name) {
    const person = randomUUID(), now = Date.now(), hlc = BigInt(now) << 16n;
    const ack = this.next(4);
    const push = frame({ t: 3, ops: [
      { s: ++this.seq, h: hlc, y: 4, k: person, f: new Map([[1, name], [5, now]]) },
      { s: ++this.seq, h: hlc + 1n, y: 5, k: session, k2: person, f: new Map([[1, 'present'], [2, now]]) },
    ] });
    const sent = Date.now();
    this.ws.send(push);
    await ack;
    return sent;
  }

  close() { this.ws.close(); }
}
