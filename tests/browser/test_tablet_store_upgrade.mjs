// test_tablet_store_upgrade.mjs — a tablet that kept its data in the first
// IndexedDB layout (version 1: a row per record in 'records') opens the app
// that keeps rows in buckets (version 2): the upgrade moves every row, the
// unsent check-in stays in the outbox, the replica reads the same (the
// dump of `turf-tablet dump`'s format), and the check-in still reaches the
// server when it comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';
import { BrowserTablet, PORTRAIT } from './tablet_lib.mjs';

const SENT = 'Fatima el Amrani';
const UNSENT = 'Joop de Vries';
const PRESENT = "SELECT count(*) FROM checkins c JOIN participants p ON p.org = c.org AND p.id = c.participant "
  + `WHERE c.status = 'present' AND p.name = '${UNSENT}'`;

/* JSON that keeps what IndexedDB holds: BigInt clocks and Map fields. */
const TAGGED = `
  const tag = (k, v) => (typeof v === 'bigint' ? { $big: String(v) } : v instanceof Map ? { $map: [...v] } : v);
  const untag = (k, v) => (v && v.$big !== undefined ? BigInt(v.$big) : v && v.$map ? new Map(v.$map) : v);
`;

test('a tablet on the first storage layout keeps everything through the upgrade', async () => {
  await withWorld('upgrade', async (w) => {
    const t = await new BrowserTablet(w, 'upgrade', PORTRAIT).launch();
    await t.enrol(w.enrolLink, 'Tablet Zaal');
    await t.waitState('online');
    await t.offlineReady();
    await t.openSession('Time to Dance');
    await t.checkIn(SENT, 'fatima');
    await t.waitOutbox(0);
    await w.stopTurfd();
    await t.waitState('offline');
    await t.checkIn(UNSENT, 'joop');
    await t.waitOutbox(1);
    const before = await t.dump();
    assert.match(before, new RegExp(SENT));

    // What the tablet holds, as version 1 held it: one row per record.
    const held = await t.page.evaluate(async (tagged) => {
      const { tag } = new Function(`${tagged}; return { tag };`)();
      window.turfClient.stop();
      await window.turfClient.loaded;
      const db = await new Promise((resolve) => { const r = indexedDB.open('turf'); r.onsuccess = () => resolve(r.result); });
      const all = (store) => new Promise((resolve) => {
        const tx = db.transaction(store).objectStore(store);
        const keys = tx.getAllKeys();
        const values = tx.getAll();
        values.onsuccess = () => resolve(keys.result.map((k, i) => [k, values.result[i]]));
      });
      const out = { meta: await all('meta'), outbox: await all('outbox'), attention: await all('attention'),
        records: (await all('buckets')).flatMap(([, rows]) => rows) };
      db.close();
      return JSON.stringify(out, tag);
    }, TAGGED);
    assert.ok(JSON.parse(held).records.length > 10, held.slice(0, 200));

    // The same origin, without the app: the database written as version 1.
    await t.page.goto(new URL('/tablet/icon.svg', w.enrolLink).href);
    await t.page.evaluate(async ({ tagged, held }) => {
      const { untag } = new Function(`${tagged}; return { untag };`)();
      const data = JSON.parse(held, untag);
      await new Promise((resolve, reject) => { const r = indexedDB.deleteDatabase('turf'); r.onsuccess = resolve; r.onerror = reject; });
      const open = indexedDB.open('turf', 1);
      open.onupgradeneeded = () => {
        const db = open.result;
        db.createObjectStore('meta');
        db.createObjectStore('outbox', { keyPath: 's' });
        db.createObjectStore('attention', { keyPath: 's' });
        db.createObjectStore('records');
      };
      const db = await new Promise((resolve) => { open.onsuccess = () => resolve(open.result); });
      const tx = db.transaction(['meta', 'outbox', 'attention', 'records'], 'readwrite');
      for (const [k, v] of data.meta) tx.objectStore('meta').put(v, k);
      for (const [, op] of data.outbox) tx.objectStore('outbox').put(op);
      for (const [, e] of data.attention) tx.objectStore('attention').put(e);
      for (const [k, row] of data.records) tx.objectStore('records').put(row, k);
      await new Promise((resolve) => { tx.oncomplete = resolve; });
      db.close();
    }, { tagged: TAGGED, held });

    // The app again, turfd still away: upgraded, nothing lost.
    await t.goto(new URL('/tablet/', w.enrolLink).href);
    await t.page.waitForSelector('body[data-view="today"]');
    await t.waitOutbox(1);
    assert.equal(await t.dump(), before);
    const stores = await t.page.evaluate(async () => {
      const db = await new Promise((resolve) => { const r = indexedDB.open('turf'); r.onsuccess = () => resolve(r.result); });
      const out = { version: db.version, stores: [...db.objectStoreNames] };
      db.close();
      return out;
    });
    assert.deepEqual(stores, { version: 2, stores: ['attention', 'buckets', 'meta', 'outbox'] });
    await t.openSession('Time to Dance');
    for (const p of [SENT, UNSENT]) await t.person(p).and(t.page.locator('[data-status="present"]')).waitFor();
    await t.shot('upgraded');

    // The check-in recorded before the upgrade is sent once turfd is back.
    await w.startTurfd();
    await t.networkBack();
    await t.waitOutbox(0);
    assert.equal(await w.sql(PRESENT), '1');
    assert.deepEqual(t.errors, []);
    await t.close();
  });
});
