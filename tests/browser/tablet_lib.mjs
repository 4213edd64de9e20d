// tablet_lib.mjs — a browser tablet for the tablet app's tests: Debian's
// chromium, headless, with a persistent profile of its own (IndexedDB, the
// service worker and its cache survive a reload and a browser restart, as
// on a real tablet; a fresh context would forget them), driven through
// the page as a teacher would: by labels, roles and taps.
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, ARTIFACTS, WAIT_MS } from './lib.mjs';

export const PORTRAIT = { width: 800, height: 1280 };  /* a 10" tablet upright */
export const LANDSCAPE = { width: 1280, height: 800 };
export const SMALL = { width: 1024, height: 600 };     /* a 7" tablet on its side */

export class BrowserTablet {
  /* options: more of playwright's context options (timezoneId, ...). */
  constructor(world, name, viewport = PORTRAIT, args = [], options = {}) {
    this.world = world;
    this.name = name;
    this.viewport = viewport;
    this.args = args;
    this.options = options;
    this.context = null;
    this.page = null;
    this.errors = [];
    /* The world closes it too, so a failed test leaves no browser behind
     * holding its profile. */
    (world.tablets = world.tablets || []).push(this);
  }

  async launch() {
    this.context = await chromium.launchPersistentContext(path.join(this.world.dir, `profile-${this.name}`), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: this.viewport,
      hasTouch: true,
      ...this.options,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync', ...this.args],
    });
    this.page = this.context.pages()[0] || await this.context.newPage();
    this.page.setDefaultTimeout(WAIT_MS);
    this.page.on('pageerror', (e) => this.errors.push(String(e)));
    return this;
  }

  async goto(url) {
    await this.page.goto(url);
    await this.page.waitForSelector('body[data-ready="1"]');
  }

  /* Opens the QR code's link and enrols with a tablet name. */
  async enrol(link, tabletName, succeeds = true) {
    await this.goto(link);
    await this.page.getByLabel(/Naam van deze tablet|Name of this tablet/).fill(tabletName);
    await this.page.getByRole('button', { name: /^(Koppelen|Connect)$/ }).click();
    if (succeeds) await this.page.waitForSelector('body[data-view="today"]');
  }

  /* Waits until the service worker controls the page, so that a reload
   * without turfd comes from its cache. */
  async offlineReady() {
    await this.page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller !== null);
  }

  async openSession(activityName) {
    await this.page.locator('button.session', { hasText: activityName }).click();
    await this.page.waitForSelector('body[data-view="session"]');
  }

  /* Types the name into the search and taps the person's row. */
  async checkIn(personName, query = personName) {
    await this.page.getByRole('searchbox').fill(query);
    const row = this.person(personName);
    await row.click();
    await row.and(this.page.locator('[data-status="present"]')).waitFor();
    await this.page.getByRole('searchbox').fill('');
  }

  person(personName) {
    return this.page.locator('button.person', { hasText: personName });
  }

  /* The status bar's outbox count, as a number. */
  async outbox() {
    return Number(await this.page.locator('#outbox').getAttribute('data-count'));
  }

  async waitOutbox(n) {
    await this.page.locator(`#outbox[data-count="${n}"]`).waitFor();
  }

  async waitState(state) {
    await this.page.locator(`#conn[data-state="${state}"]`).waitFor();
  }

  /* What the network coming back looks like to the page. */
  async networkBack() {
    await this.page.evaluate(() => window.dispatchEvent(new Event('online')));
  }

  /* Every value stored in the app's IndexedDB database, as text: to show
   * that something is, or is no longer, on the tablet. */
  async storedText() {
    return this.page.evaluate(async () => {
      const names = (await indexedDB.databases()).map((d) => d.name);
      if (!names.includes('turf')) return '';
      const db = await new Promise((resolve, reject) => {
        const r = indexedDB.open('turf');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const out = [];
      const replacer = (k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Map ? [...v] : v);
      for (const store of db.objectStoreNames) {
        const all = await new Promise((resolve, reject) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        out.push(JSON.stringify(all, replacer));
      }
      db.close();
      return out.join('\n');
    });
  }

  /* The app's replica in `turf-tablet dump`'s format (tablet.c,
   * tablet_print_dump): every table in schema order, rows by key, values
   * tab-separated, nil as \N, booleans as 0/1, tallies as totals. */
  async dump() {
    return this.page.evaluate(async () => {
      const { TYPES } = await import('/tablet/js/schema.js');
      await window.turfClient.loaded; /* the whole history, not what a view needed */
      const value = (v) => (v === null || v === undefined ? '\\N' : v === true ? '1' : v === false ? '0'
        : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n'));
      const lines = [];
      for (const t of TYPES) {
        const rows = window.turfClient.replica.list(t.name);
        if (t.name === 'tally') {
          for (const r of rows) lines.push(['session_tallies', r.session, r.total].map(value).join('\t'));
          continue;
        }
        const cols = [t.key, ...(t.key2 ? [t.key2] : []), ...t.fields.map((f) => f.name),
          ...(t.name === 'message' ? ['author', 'posted'] : [])];
        for (const r of rows) lines.push([t.table, ...cols.map((c) => value(r[c]))].join('\t'));
      }
      return lines.map((l) => l + '\n').join('');
    });
  }

  async shot(step) {
    const { width, height } = this.page.viewportSize();
    const file = path.join(ARTIFACTS,
      `tablet-${this.world.name}-${String(++this.world.shots).padStart(2, '0')}-${step}-${width}x${height}.png`);
    await this.page.screenshot({ path: file });
    console.log('screenshot: ' + file);
    return file;
  }

  async close() {
    if (this.context) await this.context.close().catch(() => {});
    this.context = null;
    if (this.errors.length) throw new Error(`page errors on ${this.name}: ${this.errors.join('; ')}`);
  }
}
