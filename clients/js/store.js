// store.js — a device's state in IndexedDB: its identity and cursor
// (`meta`), the outbox of ops recorded but not yet acked, the ops the
// server refused (`attention`) and the replica's rows (`records`).
//
// Every change goes through commit(), one transaction with durability
// 'strict' (Chrome has defaulted to 'relaxed' since version 121, which may
// lose a committed transaction on power loss): when its promise resolves,
// what it wrote is on disk. The library shows an op as saved only then.

const VERSION = 1;
const STORES = ['meta', 'outbox', 'attention', 'records'];

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

export class Store {
  constructor(db, name) {
    this.db = db;
    this.name = name;
  }

  static async open(name, indexedDB = globalThis.indexedDB) {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('meta');
      db.createObjectStore('outbox', { keyPath: 's' });
      db.createObjectStore('attention', { keyPath: 's' });
      db.createObjectStore('records');
    };
    const db = await request(req);
    const store = new Store(db, name);
    store.indexedDB = indexedDB;
    /* Another tab deleting the database (a wipe) must not wait on us. */
    db.onversionchange = () => db.close();
    return store;
  }

  /* Everything, for the client to start from: { meta: {key: value},
   * outbox: [op], attention: [entry], rows: [[key, row]] }. */
  async load() {
    const tx = this.db.transaction(STORES, 'readonly');
    const all = (s) => request(tx.objectStore(s).getAll());
    const keys = (s) => request(tx.objectStore(s).getAllKeys());
    const [metaKeys, metaValues, outbox, attention, rowKeys, rows] = await Promise.all([
      keys('meta'), all('meta'), all('outbox'), all('attention'), keys('records'), all('records'),
    ]);
    const meta = {};
    metaKeys.forEach((k, i) => { meta[k] = metaValues[i]; });
    return { meta, outbox, attention, rows: rowKeys.map((k, i) => [k, rows[i]]) };
  }

  /* One transaction, its requests made before this returns (so the next
   * commit's land after them): change = { meta: {key: value or undefined to
   * delete}, outbox: [op] to put, unqueue: [seq] to delete from the
   * outbox, attention: [entry] to put, clearRecords: true to delete every
   * replica row first, rows: [[key, row or undefined]] }.
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
    const records = tx.objectStore('records');
    if (change.clearRecords) records.clear();
    for (const [k, row] of change.rows || []) {
      if (row === undefined) records.delete(k);
      else records.put(row, k);
    }
    await finished;
  }

  /* Deletes the database: what the device held is gone. */
  async destroy() {
    this.db.close();
    await request(this.indexedDB.deleteDatabase(this.name));
  }
}
