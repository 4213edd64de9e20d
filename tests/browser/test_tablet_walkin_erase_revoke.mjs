// test_tablet_walkin_erase_revoke.mjs — a walk-in on the tablet app, found
// again by a search that ignores accents and case; a probable match offered
// before a second one is made; the app in English; then the person's
// erasure removes their name from the tablet's IndexedDB, and revoking the
// tablet wipes its database and tells the teacher so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';
import { BrowserTablet, PORTRAIT } from './tablet_lib.mjs';

test('a walk-in is found by folding, erased from the tablet, and revocation wipes it', async () => {
  await withWorld('walkin', async (w) => {
    const t = await new BrowserTablet(w, 'wis', PORTRAIT).launch();
    // A code that is not valid is said plainly; the right one, typed, works.
    await t.enrol(w.enrolLink.replace(/#enrol=.*/, '#enrol=WRONG234'), 'Tablet Wis', false);
    await t.page.getByRole('alert').filter({ hasText: 'niet (meer) geldig' }).waitFor();
    await t.shot('bad-code');
    await t.page.getByLabel('Koppelcode').fill(w.code.toLowerCase());
    assert.equal(await t.page.getByLabel('Naam van deze tablet').inputValue(), 'Tablet Wis');
    await t.page.getByRole('button', { name: 'Koppelen' }).click();
    await t.page.waitForSelector('body[data-view="today"]');
    await t.waitState('online');
    await t.openSession('Koffieochtend');
    const page = t.page;

    // A walk-in: name, contact and referral; checked in at once.
    await page.getByRole('button', { name: /Nieuwe deelnemer/ }).click();
    await page.getByLabel('Naam', { exact: true }).fill('Ayşe Yıldız');
    await page.getByLabel(/Contact/).fill('06 1234 5678');
    await page.getByLabel(/Via wie/).fill('Wijkteam');
    await t.shot('walkin-form');
    await page.getByRole('button', { name: 'Toevoegen en inchecken' }).click();
    await t.person('Ayşe Yıldız').and(page.locator('[data-status="present"]')).waitFor();
    await t.waitOutbox(0);
    assert.equal(await w.sql("SELECT contact || '|' || referral FROM participants WHERE name = 'Ayşe Yıldız'"),
      '06 1234 5678|Wijkteam');

    // Typed without the accents, in lower case: found.
    await page.getByRole('searchbox').fill('ayse yildiz');
    await t.person('Ayşe Yıldız').waitFor();
    assert.equal(await page.locator('button.person').count(), 1);
    await page.getByRole('searchbox').fill('brouwer');
    await page.locator('#no-match').waitFor();

    // A second walk-in with a name like hers: she is offered first.
    await page.getByRole('searchbox').fill('');
    await page.getByRole('button', { name: /Nieuwe deelnemer/ }).click();
    await page.getByLabel('Naam', { exact: true }).fill('ayse');
    await page.locator('#walkin-matches').getByRole('button', { name: /Ayşe Yıldız/ }).waitFor();
    await t.shot('walkin-match');
    await page.getByRole('button', { name: 'Annuleren' }).click();
    assert.equal(await w.sql("SELECT count(*) FROM participants WHERE name LIKE 'Ay%'"), '1');

    // Tapping a checked-in person offers the other states.
    await t.person('Ayşe Yıldız').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Afgemeld' }).click();
    await t.person('Ayşe Yıldız').and(page.locator('[data-status="excused"]')).waitFor();
    await t.waitOutbox(0);
    assert.equal(await w.sql("SELECT c.status FROM checkins c JOIN participants p ON p.id = c.participant WHERE p.name = 'Ayşe Yıldız'"),
      'excused');

    // English, by keyboard.
    await page.locator('#lang').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('tab', { name: 'Present' }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await t.shot('english');
    await page.locator('#lang').click();
    await page.getByRole('tab', { name: 'Aanwezig' }).waitFor();
    /* A phone's width: everything still fits. */
    await page.setViewportSize({ width: 390, height: 844 });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    await t.shot('phone');
    await page.setViewportSize({ width: 800, height: 1280 });

    // Her erasure reaches the open tablet: her name is gone from its storage.
    assert.match(await t.storedText(), /Yıldız/);
    await w.turfctl('participant', 'erase', '--org', '1', 'Ayşe Yıldız');
    await t.person('Ayşe Yıldız').waitFor({ state: 'detached' });
    await page.waitForFunction(async () => {
      const db = await new Promise((r) => { const q = indexedDB.open('turf'); q.onsuccess = () => r(q.result); });
      const rows = await new Promise((r) => { const q = db.transaction('buckets').objectStore('buckets').getAll(); q.onsuccess = () => r(q.result); });
      db.close();
      return !JSON.stringify(rows, (k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('Yıldız');
    });
    const stored = await t.storedText();
    assert.doesNotMatch(stored, /Yıldız|1234 5678/);

    // Revoked: the tablet wipes everything and says so.
    const devices = await w.turfctl('device', 'list', '--org', '1');
    const line = devices.split('\n').find((l) => l.includes('Tablet Wis'));
    assert.ok(line, devices);
    const id = line.split('\t')[0];
    await w.turfctl('device', 'revoke', id);
    await page.waitForSelector('body[data-view="revoked"]');
    await page.getByRole('heading', { name: 'Deze tablet is niet meer gekoppeld' }).waitFor();
    assert.equal(await t.storedText(), '');
    await t.shot('revoked');
    await t.close();
  });
});
