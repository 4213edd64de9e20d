// client.js — a Turf device: its local replica and outbox in IndexedDB, and
// its sync connection to turfd (turf.v1, protocol/PROTOCOL.md section 6).
//
// Owns the WebSocket, the timers and the in-memory copies of what the Store
// holds. Everything that changes state — recording an op, applying a frame
// from the server — runs one at a time on one promise chain (`_serial`), so
// the replica in memory and its rows in IndexedDB change in the same order
// and a frame is never applied half-way while an op is being recorded.
//
// A recorded op is applied to the replica and committed to IndexedDB in one
// strict transaction before record() resolves: after that nothing loses it.
// It stays in the outbox until the server acks it; refused ops stay visible
// in attention() with their reason. Nothing is dropped silently.
import { T, E, ERROR_NAMES, SUBPROTOCOL, MAX_OPS, ProtocolError, encodeFrame, decodeFrame } from './codec.js';
import { Hlc } from './hlc.js';
import { Replica, ALL_SESSIONS, dateBucket, sessionBucket } from './replica.js';
import { dateIn } from './dates.js';
import { typeByName, fieldByName, validateOp } from './schema.js';
import { Store } from './store.js';
import { uuidv7 } from './ids.js';

export const APP = 'turf-js/1';

const PUSH_BATCH = 500;          /* ops per push; the server takes up to 1000 */
const PUSH_BYTES = 512 * 1024;   /* and well under the 1 MiB frame limit */
const PULL_LIMIT = 1000;         /* ops per page asked for: the protocol's most */
const HELLO_MS = 30000;          /* a welcome must come within, from connecting (ms) */
const PING_MS = 20000;           /* ping interval while connected (ms) */
const SILENT_MS = 50000;         /* nothing heard for this long: the link is dead (ms) */
const RETRY_MS = 5000;           /* before re-pushing after a refusal to store (ms) */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
const LOAD_BUCKETS = 200;        /* session buckets read at a time while starting */
const FLUSH_OPS = 25000;         /* pulled ops kept in memory at most before storing */
const DEFAULT_ZONE = 'Europe/Amsterdam'; /* an organisation's time zone until a welcome says */

const ERASURE = 9;
const PARTICIPANT = 4;
const CHECKIN = 5;

/* A refusal the app should show: the server's code and message. */
export class TurfError extends Error {
  constructor(code, message) {
    super(message || ERROR_NAMES[code] || `error ${code}`);
    this.code = code;
    this.codeName = ERROR_NAMES[code] || String(code);
  }
}

export class TurfClient extends EventTarget {
  /* Opens (or creates) the device's database `dbName` and loads it.
   * url: the server's websocket address (ws:// or wss://). */
  static async open({ url, dbName = 'turf', app = APP, WebSocket = globalThis.WebSocket,
    indexedDB = globalThis.indexedDB, now = () => Date.now() } = {}) {
    const store = await Store.open(dbName, indexedDB);
    const client = new TurfClient(store, { url, app, WebSocket, indexedDB, now });
    await client._load();
    return client;
  }

  constructor(store, opts) {
    super();
    this._store = store;
    this._opts = opts;
    this._serial = Promise.resolve();
    this._ws = null;
    this._state = 'offline'; /* offline | connecting | online | revoked | refused */
    this._stopped = true;
    this._backoff = BACKOFF_MIN_MS;
    this._pushInFlight = false;
    this._pullInFlight = false;
    this._live = false;
    this._lastError = null;
    this._enrolWaiters = [];
  }

  /* What today's screen needs: the activities, locations and today's
   * sessions. The rest loads in the background: first everything but the
   * sessions' check-ins and tallies (coreLoaded: participants, every
   * session), then those, which a year of history makes most of the rows
   * (loaded); a view asks for the sessions it shows first (loadSessions). */
  async _load() {
    const { meta, outbox, attention, buckets } = await this._store.load(
      (m) => ['activity ', 'location ', dateBucket(this._today(m))]);
    this._meta = meta;
    this._outbox = new Map(outbox.map((op) => [op.s, op]));
    this._attention = new Map(attention.map((e) => [e.s, e]));
    this.replica = new Replica({ partial: true });
    this.replica.load(buckets);
    this._hlc = new Hlc(meta.hlcLast || 0n, meta.hlcRemote || 0n);
    const today = this.today();
    await this.loadSessions(this.replica.list('session', false).filter((s) => s.date === today).map((s) => s.id));
    this._loadRest();
    if (!meta.device) await this._store.commit({ meta: this._fresh(uuidv7(this._opts.now())) });
  }

  /* The rest of the buckets, a few hundred per read. `coreLoaded` and
   * `loaded` resolve when the replica has its core and is whole (or was
   * replaced: a wipe, a resync); each time a 'change' event without ops
   * says that more is there. */
  _loadRest() {
    const replica = this.replica;
    const stage = async (which) => {
      /* After the task that opened the client, so that the app draws its
       * first screen before this reads the rest. */
      if (which === 'others') await new Promise((resolve) => setTimeout(resolve, 0));
      for (let after = ''; ;) {
        const part = await this._store.loadMore(which, after, LOAD_BUCKETS);
        if (this.replica !== replica) return false;
        replica.load(part);
        if (part.length < LOAD_BUCKETS) return true;
        after = part[part.length - 1][0];
      }
    };
    const done = (complete) => {
      complete();
      this._emit('change', { ops: [], own: false });
    };
    this.coreLoaded = stage('others').then((whole) => whole && done(() => replica.coreComplete()));
    this.loaded = this.coreLoaded.then(() => this.replica === replica && stage('sessions'))
      .then((whole) => whole && done(() => replica.complete()));
    this.loaded.catch((e) => this._failed(e));
  }

  /* Loads these sessions' check-ins and tallies unless they are here: what
   * a view of them needs, before the rest has loaded. */
  async loadSessions(ids) {
    const replica = this.replica;
    const missing = ids.map(sessionBucket).filter((b) => !replica.loaded(b));
    if (!missing.length) return;
    const buckets = await this._store.loadBuckets(missing);
    /* A bucket changed meanwhile was loaded first; load() keeps that. */
    if (this.replica === replica) replica.load(buckets);
  }

  /* Whether loadSessions has nothing left to do for these. */
  sessionsLoaded(ids) {
    return ids.every((id) => this.replica.loaded(sessionBucket(id)));
  }

  /* The meta of a device that has never been welcomed. */
  _fresh(device) {
    const m = { device, nextSeq: 1, cursor: 0, offset: 0 };
    Object.assign(this._meta, m);
    return m;
  }

  /* --- what the app reads --------------------------------------------- */

  get deviceId() { return this._meta.device; }
  get enrolled() { return !!this._meta.token; }
  get orgName() { return this._meta.org || ''; }
  /* The organisation's time zone (an IANA name): what "today" is. */
  get timeZone() { return this._meta.tz || DEFAULT_ZONE; }
  /* Whether participants and every session are loaded (coreLoaded). */
  get coreComplete() { return this.replica.isCoreComplete; }
  get deviceName() { return this._meta.name || ''; }

  /* The device's wall clock corrected by what the server said (ms). */
  now() { return this._opts.now() + (this._meta.offset || 0); }

  /* Today's date ("YYYY-MM-DD") in the organisation's time zone. */
  today() { return this._today(this._meta); }

  _today(meta) { return dateIn(meta.tz || DEFAULT_ZONE, this._opts.now() + (meta.offset || 0)); }

  status() {
    return {
      state: this._state,
      live: this._live,
      outbox: this._outbox.size,
      attention: this._attention.size,
      lastSync: this._meta.lastSync || 0,
      offset: this._meta.offset || 0,
      cursor: this._meta.cursor || 0,
      head: this._meta.head || 0,
      error: this._lastError,
    };
  }

  /* Refused ops, oldest first: { s, y, k, k2, f, code, codeName, message }. */
  attention() {
    return [...this._attention.values()].sort((a, b) => a.s - b.s);
  }

  newId() { return uuidv7(this._opts.now()); }

  /* --- recording ------------------------------------------------------ */

  /* Records one op: type by name ('checkin'), its keys, and fields by name
   * ({ status: 'present' }). Resolves with the op once it is applied to the
   * replica and durable in IndexedDB; throws TurfError(INVALID_OP) for an op
   * the server would refuse, before anything is stored. */
  record(typeName, k, k2, fields) {
    return this._run(async () => {
      const type = typeByName(typeName);
      if (!type) throw new TurfError(E.INVALID_OP, `unknown record type ${typeName}`);
      const f = new Map();
      for (const [name, value] of Object.entries(fields)) {
        const field = fieldByName(type, name);
        if (!field) throw new TurfError(E.INVALID_OP, `${typeName} has no field ${name}`);
        f.set(field.id, value);
      }
      const op = { d: this._meta.device, s: this._meta.nextSeq, n: 0, h: 0n, y: type.id, k, k2: k2 || '',
        b: this._meta.cursor || 0, f };
      if (validateOp(op) !== 0) {
        throw new TurfError(E.INVALID_OP, `not a valid ${typeName}: ${[...Object.keys(fields)].join(', ')}`);
      }
      /* The op merges into what its bucket holds: that must be here. */
      if (op.y === ERASURE) await this.loaded;
      const bucket = Replica.bucketOf(op);
      if (bucket === ALL_SESSIONS) await this.coreLoaded;
      else if (!this.replica.loaded(bucket)) this.replica.load(await this._store.loadBuckets([bucket]));
      op.h = this._hlc.next(this.now());
      const rc = this.replica.apply(op);
      if (rc !== 0) {
        this._hlc.last = this._meta.hlcLast || 0n;
        throw new TurfError(Math.abs(rc), `refused: ${ERROR_NAMES[Math.abs(rc)] || rc}`);
      }
      await this._commit({ meta: { nextSeq: op.s + 1, hlcLast: this._hlc.last }, outbox: [op] });
      this._outbox.set(op.s, op);
      this._emit('change', { ops: [op], own: true });
      this._emitStatus();
      this._pushNext();
      return op;
    });
  }

  /* --- connection ----------------------------------------------------- */

  /* Enrols this device with a one-time code and a human name; connects.
   * Resolves when the server welcomed it (the token is stored); rejects
   * with TurfError(BAD_CREDENTIALS) for a code that is not valid. */
  enrol(code, name) {
    return new Promise((resolve, reject) => {
      this._run(async () => {
        await this._commit({ meta: { code, name } });
        this._enrolWaiters.push({ resolve, reject });
        this.start(true);
      }).catch(reject);
    });
  }

  /* Connects, and keeps reconnecting with backoff, until stop(). `now`:
   * skip the wait of a scheduled reconnect (the network came back, the
   * page became visible). */
  start(now = false) {
    if (this._state === 'revoked') return;
    this._stopped = false;
    if (!this._meta.token && !this._meta.code) return;
    if (this._ws) return;
    if (now) {
      this._clearTimer('reconnect');
      this._backoff = BACKOFF_MIN_MS;
      this._connect();
    } else if (!this._timer('reconnect')) {
      this._connect();
    }
  }

  stop() {
    this._stopped = true;
    this._clearAllTimers();
    if (this._ws) this._ws.close(1000);
    this._ws = null;
    this._setState('offline');
  }

  _connect() {
    this._clearTimer('reconnect');
    /* What the server sends merges into the whole replica: load it first. */
    if (!this.replica.isComplete) {
      /* Asked again when it has loaded (or, reloaded after a failure, by
       * this same test against the new replica). */
      this.loaded.then(() => {
        if (!this._stopped && !this._ws && !this._timer('reconnect')) this._connect();
      }, () => this._scheduleReconnect());
      return;
    }
    let ws;
    try {
      ws = new this._opts.WebSocket(this._opts.url, SUBPROTOCOL);
    } catch (e) {
      this._lastError = String(e.message || e);
      this._scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    this._welcomed = false;
    this._pushInFlight = false;
    this._pullInFlight = false;
    this._live = false;
    this._setState('connecting');
    /* From now: a connect that hangs (no answer at all) is given up too. */
    this._setTimer('hello', HELLO_MS, () => this._drop('no welcome'));
    ws.onopen = async () => {
      this._heard();
      const storage = await this._storageReport();
      if (ws === this._ws) this._sendHello(storage);
    };
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      this._heard();
      if (typeof ev.data === 'string') return this._drop('a text message from the server');
      let frame;
      try {
        frame = decodeFrame(new Uint8Array(ev.data));
      } catch (e) {
        if (e instanceof ProtocolError) return this._drop(e.message);
        throw e;
      }
      this._run(() => this._onFrame(ws, frame)).catch((e) => this._failed(e));
    };
    ws.onclose = () => {
      if (ws !== this._ws) return;
      this._ws = null;
      this._clearTimer('hello');
      this._clearTimer('ping');
      this._clearTimer('silent');
      this._clearTimer('push');
      /* An enrolling hello that got no welcome: the code may or may not
       * have been used. Enrol again as a new device id (section 6). */
      if (!this._welcomed && this._meta.code && !this._meta.token && this._helloSent)
        this._run(() => this._commit({ meta: { device: uuidv7(this._opts.now()) } }));
      if (this._state === 'revoked' || this._state === 'refused') return;
      this._setState('offline');
      if (!this._stopped) this._scheduleReconnect();
    };
  }

  _scheduleReconnect() {
    const wait = Math.random() * this._backoff; /* full jitter: a room of tablets must not reconnect in step */
    this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS);
    this._setTimer('reconnect', wait, () => this._connect());
  }

  _drop(reason) {
    this._lastError = reason;
    if (this._ws) this._ws.close(4000);
  }

  _send(frame) {
    if (this._ws && this._ws.readyState === 1) this._ws.send(encodeFrame(frame));
  }

  /* Whether the browser keeps this device's storage under pressure and
   * how full it is, for the hello (st, su): coordinators see a tablet at
   * risk of losing its outbox. */
  async _storageReport() {
    const storage = globalThis.navigator && navigator.storage;
    if (!storage || !storage.persisted || !storage.estimate) return {};
    try {
      const [persisted, { usage, quota }] = await Promise.all([storage.persisted(), storage.estimate()]);
      return { st: persisted ? 1 : 2, su: quota ? Math.min(100, Math.ceil((100 * usage) / quota)) : 0 };
    } catch {
      return {};
    }
  }

  _sendHello(storage = {}) {
    const m = this._meta;
    const hello = { t: T.HELLO, v: 1, dev: m.device, app: this._opts.app, ...storage };
    if (m.name) hello.name = m.name;
    if (m.token) hello.tok = m.token;
    else hello.code = m.code;
    if (m.cursor) hello.cur = m.cursor;
    if (this._outbox.size) hello.out = this._outbox.size;
    hello.now = this._opts.now();
    this._helloSent = true;
    this._send(hello);
  }

  /* Any frame counts as a sign of life; silence means a dead link that
   * the browser has not noticed (Wi-Fi gone without a FIN). */
  _heard() {
    this._setTimer('silent', SILENT_MS, () => this._drop('the server went silent'));
  }

  _ping() {
    this._send({ t: T.PING, n: (this._pingN = (this._pingN || 0) + 1) });
    this._setTimer('ping', PING_MS, () => this._ping());
  }

  /* --- frames from the server, one at a time ---------------------------- */

  async _onFrame(ws, f) {
    if (ws !== this._ws) return; /* a frame of a connection already given up */
    switch (f.t) {
      case T.WELCOME: return this._onWelcome(f);
      case T.ACK: return this._onAck(f);
      case T.CHANGES:
      case T.LIVE: return this._onChanges(f);
      case T.ERROR: return this._onError(f);
      case T.PING: return this._send({ t: T.PONG, n: f.n });
      case T.PONG: return undefined;
      default: return undefined;
    }
  }

  async _onWelcome(w) {
    if (this._welcomed) return this._drop('a second welcome');
    this._welcomed = true;
    this._clearTimer('hello');
    const meta = {
      offset: w.off,
      nextSeq: Math.max(this._meta.nextSeq || 1, w.last + 1),
      org: w.org,
      head: w.head,
    };
    if (w.tz) meta.tz = w.tz;
    if (w.tok) {
      meta.token = w.tok;
      meta.code = undefined;
    }
    /* A server restored from an older backup numbers ops again from below
     * our cursor: start over from 0 or those would never arrive. */
    if ((this._meta.cursor || 0) > w.head) meta.cursor = 0;
    const change = { meta };
    if (w.rs) {
      /* Our locations changed: what we may see is no longer what we hold.
       * The replica goes; our own unsent work is applied again on the empty
       * one so it stays visible; everything else comes again from 0. */
      this.replica = new Replica();
      for (const s of [...this._outbox.keys()].sort((a, b) => a - b)) this.replica.apply(this._outbox.get(s));
      change.clearBuckets = true;
      meta.cursor = 0;
    }
    await this._commit(change);
    if (w.rs) this._emit('change', { ops: [], own: false });
    if (w.tok) {
      for (const waiter of this._enrolWaiters.splice(0)) waiter.resolve();
      this._emit('enrolled', {});
    }
    this._backoff = BACKOFF_MIN_MS;
    this._lastError = null;
    this._setState('online');
    this._setTimer('ping', PING_MS, () => this._ping());
    this._pushNext();
    this._pull();
  }

  _pushNext() {
    if (!this._welcomed || this._pushInFlight || this._timer('push') || !this._ws) return;
    const ops = [];
    let bytes = 0;
    for (const s of [...this._outbox.keys()].sort((a, b) => a - b)) {
      const op = this._outbox.get(s);
      bytes += 200 + [...op.f.values()].reduce((n, v) => n + (typeof v === 'string' ? v.length * 3 : 9), 0);
      if (ops.length && (ops.length >= Math.min(PUSH_BATCH, MAX_OPS) || bytes > PUSH_BYTES)) break;
      ops.push(op);
    }
    if (!ops.length) return;
    this._pushInFlight = true;
    const frame = { t: T.PUSH, ops };
    if (this._outbox.size > ops.length) frame.out = this._outbox.size - ops.length;
    this._send(frame);
  }

  async _onAck(a) {
    this._pushInFlight = false;
    const unqueue = [];
    for (const [from, to] of a.a) {
      for (let s = from; s <= to; s++) if (this._outbox.has(s)) unqueue.push(s);
    }
    const attention = [];
    let gap = false;
    for (const r of a.r) {
      if (r.c === E.SEQ_GAP) {
        gap = true;
        continue;
      }
      const op = this._outbox.get(r.s);
      if (!op) continue;
      unqueue.push(r.s);
      attention.push({ ...op, code: r.c, codeName: ERROR_NAMES[r.c] || String(r.c), message: r.m });
    }
    const meta = {};
    if (this._outbox.size === unqueue.length) {
      /* Everything of ours is decided: a clock that ran ahead may settle. */
      if (this._hlc.settle(this.now())) meta.hlcLast = this._hlc.last;
    }
    /* Neither flushed to disk nor waited for: lost to a power cut, the
     * acked ops are pushed again and the server acks (or refuses) them
     * again as the first time (PROTOCOL.md, Push). A tap right after waits
     * for its own flush only. */
    await this._commit({ unqueue, attention, meta }, true, true);
    for (const s of unqueue) this._outbox.delete(s);
    for (const e of attention) this._attention.set(e.s, e);
    if (attention.length) this._emit('attention', { refused: attention });
    this._emitStatus();
    if (gap) this._setTimer('push', RETRY_MS, () => this._pushNext());
    else this._pushNext();
  }

  _pull(cursor = this._meta.cursor || 0) {
    if (this._pullInFlight || !this._welcomed) return;
    this._pullInFlight = true;
    this._send({ t: T.PULL, cur: cursor, lim: PULL_LIMIT });
  }

  async _onChanges(c) {
    if (c.t === T.CHANGES) this._pullInFlight = false;
    else if (!this._live) return; /* live frames before we caught up are covered by the pull */
    if (c.from !== (this._meta.cursor || 0) || c.cur < c.from) {
      this._pull(); /* a frame missed or raced a pull: ask again from our cursor */
      return;
    }
    /* The next page is asked for before this one is stored, so the server
     * and IndexedDB work at once; it is applied only after this commit (one
     * frame at a time), and only if this one was stored (its from must be
     * our cursor). */
    if (c.t === T.CHANGES && c.more) this._pull(c.cur);
    const erased = [];
    for (const op of c.ops) {
      if (op.d === this._meta.device) this.replica.rebaseOwn(op);
      this.replica.apply(op);
      this._hlc.observe(op.h);
      if (op.y === ERASURE) erased.push(op);
    }
    const change = {
      meta: { cursor: c.cur, hlcLast: this._hlc.last, hlcRemote: this._hlc.remote },
      outbox: [], attention: [],
    };
    for (const e of erased) this._purgeErased(e, change);
    if (c.t === T.LIVE || !c.more) change.meta.lastSync = this._opts.now();
    /* Pages of what others recorded need not wait for the disk: lost to a
     * power cut, they are pulled again. What touches our own ops does. */
    const others = !change.outbox.length && !change.attention.length;
    /* A page with more behind it is stored while the next is applied, and
     * only every FLUSH_OPS ops: the pages of a first sync touch the same
     * buckets again and again (sessions among their check-ins), and each
     * store rewrites a whole bucket. The last page is waited for, so that
     * when the client says it is live, everything it pulled is in
     * IndexedDB. Lost to a crash, what was not stored is pulled again
     * from the stored cursor (applying an op again changes nothing). */
    const more = others && c.t === T.CHANGES && c.more;
    this._unstored = (this._unstored || 0) + c.ops.length;
    if (more && this._unstored < FLUSH_OPS) {
      this._takeMeta(change.meta);
    } else {
      this._unstored = 0;
      /* Live changes of others are stored as pages are, without a wait. */
      await this._commit(change, others, more || (others && c.t === T.LIVE));
    }
    for (const op of change.outbox) this._outbox.set(op.s, op);
    for (const a of change.attention) this._attention.set(a.s, a);
    if (c.ops.length || erased.length) this._emit('change', { ops: c.ops, own: false });
    if (c.t === T.CHANGES && !c.more) this._live = true;
    this._emitStatus();
  }

  /* What we recorded about an erased participant before the erasure reached
   * us becomes the erasure itself, keeping its seq (the push stays
   * contiguous; the server refuses it as ERASED). */
  _purgeErased(erasure, change) {
    const pid = erasure.k;
    const about = (op) => (op.y === PARTICIPANT && op.k === pid) || (op.y === CHECKIN && op.k2 === pid);
    const become = (op) => ({ d: op.d, s: op.s, n: 0, h: op.h, y: ERASURE, k: pid, k2: '', b: op.b,
      f: new Map(erasure.f) });
    for (const op of this._outbox.values()) if (about(op)) change.outbox.push(become(op));
    for (const a of this._attention.values()) {
      if (about(a)) change.attention.push({ ...become(a), code: E.ERASED, codeName: 'ERASED', message: a.message });
    }
  }

  async _onError(e) {
    this._lastError = `${ERROR_NAMES[e.c] || e.c}: ${e.m}`;
    switch (e.c) {
      case E.REVOKED:
        return this._wipe();
      case E.BAD_CREDENTIALS:
      case E.UNSUPPORTED_VERSION:
        if (!this._meta.token && this._meta.code) {
          /* The code is not valid (used up, expired, unknown). */
          await this._commit({ meta: { code: undefined } });
          for (const w of this._enrolWaiters.splice(0)) w.reject(new TurfError(e.c, e.m));
          this._setState('offline');
        } else {
          this._setState('refused');
        }
        this._stopped = true;
        return undefined;
      case E.RATE_LIMITED:
      case E.STORAGE:
        /* The push was not stored: send it again later. */
        this._pushInFlight = false;
        this._setTimer('push', RETRY_MS, () => this._pushNext());
        return undefined;
      default:
        return undefined; /* x = true is followed by the close */
    }
  }

  /* Revoked: the organisation's data must not stay on a device it no
   * longer manages. Everything goes, the database itself included. */
  async _wipe() {
    this._stopped = true;
    this._clearAllTimers();
    this._setState('revoked');
    if (this._ws) this._ws.close(1000);
    this._ws = null;
    await this._store.destroy();
    this.replica = new Replica();
    this._outbox.clear();
    this._attention.clear();
    this._meta = {};
    this._emit('revoked', {});
    this._emitStatus();
  }

  /* --- plumbing --------------------------------------------------------- */

  _run(fn) {
    const p = this._serial.then(fn);
    this._serial = p.catch(() => {});
    return p;
  }

  /* Stores change with the replica's changed rows in one transaction and
   * then takes its meta into memory. `background` (pages of what others
   * recorded): the meta is taken at once and the transaction finishes while
   * the next page is applied — IndexedDB runs transactions on the same
   * stores in the order they were made, so each page's rows land with its
   * cursor; one that fails makes the client start again from the store. */
  async _commit(change, relaxed = false, background = false) {
    const buckets = this.replica.takeChanges();
    if (buckets.length) change.buckets = buckets;
    const finished = this._store.commit(change, relaxed);
    if (background) {
      this._takeMeta(change.meta);
      finished.catch((e) => this._failed(e));
      return;
    }
    await finished;
    this._takeMeta(change.meta);
  }

  _takeMeta(meta = {}) {
    for (const [k, v] of Object.entries(meta)) {
      if (v === undefined) delete this._meta[k];
      else this._meta[k] = v;
    }
  }

  /* IndexedDB failed under us (quota, the browser closing it): what is in
   * memory may be ahead of what is stored, so start again from the store. */
  async _failed(e) {
    this._lastError = String(e && e.message ? e.message : e);
    this._emit('error', { error: e });
    if (this._ws) this._ws.close(4001);
    if (this._state === 'revoked') return;
    try {
      await this._run(() => this._load());
    } catch { /* the next frame or record will say so */ }
  }

  _setState(state) {
    if (this._state === state) return;
    this._state = state;
    this._emitStatus();
  }

  _emitStatus() { this._emit('status', this.status()); }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _timer(name) { return this._timerMap && this._timerMap.get(name); }

  _setTimer(name, ms, fn) {
    this._timerMap = this._timerMap || new Map();
    this._clearTimer(name);
    this._timerMap.set(name, setTimeout(() => {
      this._timerMap.delete(name);
      fn();
    }, ms));
  }

  _clearTimer(name) {
    const t = this._timer(name);
    if (t) clearTimeout(t);
    if (this._timerMap) this._timerMap.delete(name);
  }

  _clearAllTimers() {
    for (const name of [...(this._timerMap || new Map()).keys()]) this._clearTimer(name);
  }
}
