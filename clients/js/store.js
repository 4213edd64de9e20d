// store.js — a device's state in IndexedDB: its identity and cursor
// (`meta`), the outbox of ops recorded but not yet acked, the ops the
// server refused (`attention`) and the replica's rows in buckets
// (`buckets`, as replica.js groups them: a session's check-ins in one, the
// rest of a type in 64).
//
// Every change goes through commit(), one transaction with durability
// 'strict' (Chrome has defaulted to 'relaxed' since version 121, which may
// lose a committed transaction on power loss): when its promise resolves,
// what it wrote is on disk. The library shows an op as saved only then.
import { bucketOfRow } from './replica.js';

/* 1: a row per record ('records'); 2: rows in buckets. */
const VERSION = 2;
const STORES = ['meta', 'outbox', 'attention', 'buckets'];
/* Bucket keys of sessions start with '~s ' (replica.js sessionBucket),
 * after every other bucket's: the rest is the range below '~'. */
const SESSIONS = IDBKeyRange.bound('~s ', '~t', false, true);
const OTHERS = IDBKeyRange.upperBound('~', true);

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
    tx.onerror = () => reject(tx.error);
  });
}

/* Version 1's rows into buckets, inside the upgrade's transaction. */
function rowsIntoBuckets(tx) {
  const buckets = new Map();
  const cursor = tx.objectStore('records').openCursor();
  cursor.onsuccess = () => {
    const c = cursor.result;
    if (c) {
      const bucket = bucketOfRow(c.key, c.value);
      if (!buckets.has(bucket)) buckets.set(bucket, []);
      buckets.get(bucket).push([c.key, c.value]);
      c.continue();
      return;
    }
    const store = tx.objectStore('buckets');
    for (const [bucket, rows] of buckets) store.put(rows, bucket);
    tx.db.deleteObjectStore('records');
  };
}

export class Store {
  constructor(db, name) {
    this.db = db;
    this.name = name;
  }

  static async open(name, indexedDB = globalThis.indexedDB) {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = (ev) => {
      const db = req.result;
      if (ev.oldVersion < 1) {
        db.createObjectStore('meta');
        db.createObjectStore('outbox', { keyPath: 's' });
        db.createObjectStore('attention', { keyPath: 's' });
      }
      db.createObjectStore('buckets');
      if (ev.oldVersion === 1) rowsIntoBuckets(req.transaction);
    };
    const db = await request(req);
    const store = new Store(db, name);
    store.indexedDB = indexedDB;
    /* Another tab deleting the database (a wipe) must not wait on us. */
    db.onversionchange = () => db.close();
    return store;
  }

  /* What the client starts from, in one read: { meta: {key: value},
   * outbox: [op], attention: [entry], buckets: [[bucket, rows]] } with the
   * buckets whose keys start with what first(meta) names; loadMore reads
   * the rest. */
  async load(first) {
    const tx = this.db.transaction(STORES, 'readonly');
    const all = (s, range) => request(tx.objectStore(s).getAll(range));
    const keys = (s, range) => request(tx.objectStore(s).getAllKeys(range));
    const [metaKeys, metaValues] = await Promise.all([keys('meta'), all('meta')]);
    const meta = {};
    metaKeys.forEach((k, i) => { meta[k] = metaValues[i]; });
    const ranges = first(meta).map((prefix) => IDBKeyRange.bound(prefix, `${prefix}\uffff`));
    const [outbox, attention, ...found] = await Promise.all([all('outbox'), all('attention'),
      ...ranges.flatMap((r) => [keys('buckets', r), all('buckets', r)])]);
    const buckets = [];
    for (let i = 0; i < found.length; i += 2) found[i].forEach((k, j) => buckets.push([k, found[i + 1][j]]));
    return { meta, outbox, attention, buckets };
  }

  /* Some buckets by key: [[bucket, rows or undefined]]. */
  async loadBuckets(keys) {
    const store = this.db.transaction('buckets', 'readonly').objectStore('buckets');
    const rows = await Promise.all(keys.map((k) => request(store.get(k))));
    return keys.map((k, i) => [k, rows[i]]);
  }

  /* Up to `count` buckets after the bucket `after` ('' for the first), in
   * key order: [[bucket, rows]]; of the sessions' check-ins and tallies
   * (`which` 'sessions') or of everything else ('others'). */
  async loadMore(which, after, count) {
    const range = which === 'sessions' ? (after ? IDBKeyRange.bound(after, '~t', true, true) : SESSIONS)
      : (after ? IDBKeyRange.bound(after, '~', true, true) : OTHERS);
    const store = this.db.transaction('buckets', 'readonly').objectStore('buckets');
    const [keys, rows] = await Promise.all([request(store.getAllKeys(range, count)), request(store.getAll(range, count))]);
    return keys.map((k, i) => [k, rows[i]]);
  }

  /* One transaction, its requests made before this returns (so the next
   * commit's land after them): change = { meta: {key: value or undefined to
   * delete}, outbox: [op] to put, unqueue: [seq] to delete from the
   * outbox, attention: [entry] to put, clearBuckets: true to delete every
   * replica row first, buckets: [[bucket, rows or undefined]] }.
   * Resolves once committed, with durability 'strict' unless `relaxed`:
   * for what the server sent, which it sends again should a power cut
   * lose it (the cursor is in the same transaction). */
  async commit(change, relaxed = false) {
    const tx = this.db.transaction(STORES, 'readwrite', { durability: relaxed ? 'relaxed' : 'strict' });
    const finished = done(tx);
    const meta = tx.objectStore('meta');
    for (const [k, v] of Object.entries(change.meta || {})) {
      if (v === undefined) meta.delete(k);
      else meta.put(v, k);
    }
    const outbox = tx.objectStore('outbox');
    for (const s of change.unqueue || []) outbox.delete(s);
    for (const op of change.outbox || []) outbox.put(op);
    const attention = tx.objectStore('attention');
    for (const e of change.attention || []) attention.put(e);
    const buckets = tx.objectStore('buckets');
    if (change.clearBuckets) buckets.clear();
    for (const [k, rows] of change.buckets || []) {
      if (rows === undefined) buckets.delete(k);
      else buckets.put(rows, k);
    }
    await finished;
  }

  /* Deletes the database: what the device held is gone. */
  async destroy() {
    this.db.close();
    await request(this.indexedDB.deleteDatabase(this.name));
  }
}
