// test_dashboard_checkin.mjs — a check-in on a real turf-tablet shows up on
// the open dashboard without a reload: the session's headcount (named
// check-ins plus the anonymous tally), the person's name and status, the
// arrivals feed, the tablets with their app version, last sync, outbox and
// online state, and group messages. The page switches to English and back
// with the keyboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard, WAIT_MS } from './lib.mjs';

test('a check-in appears live with its headcount and name', async () => {
  await withWorld('checkin', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    await w.enroll('entree', 'Entree');
    const page = await w.page();
    const dance = sessionCard(page, 'Time to Dance');
    await dance.waitFor();
    assert.equal(await dance.getByTestId('headcount').textContent(), '0');
    assert.equal(await page.getAttribute('html', 'lang'), 'nl');
    await page.getByRole('heading', { name: /Vandaag/ }).waitFor();
    await w.shot(page, 'before');

    await w.tablet('zaal', 'checkin', 'dance', 'Fatima el Amrani');
    await w.tablet('zaal', 'sync');
    await dance.getByTestId('headcount').filter({ hasText: /^1$/ }).waitFor();
    const row = dance.locator('li', { hasText: 'Fatima el Amrani' });
    await row.waitFor();
    assert.match(await row.textContent(), /aanwezig/);
    await page.locator('#arrivals-body li', { hasText: 'Fatima el Amrani' }).waitFor();
    await w.shot(page, 'fatima-checked-in');

    // A walk-in and an anonymous visitor at the door on the other tablet:
    // the headcount is named check-ins plus the tally.
    await w.tablet('entree', 'walkin', 'dance', 'Nieuwe Buurvrouw');
    await w.tablet('entree', 'tally', 'dance');
    await w.tablet('entree', 'sync');
    await dance.getByTestId('headcount').filter({ hasText: /^3$/ }).waitFor();
    assert.match(await dance.locator('.headcount-note').textContent(), /2 met naam \+ 1 anoniem/);
    await dance.locator('li', { hasText: 'Nieuwe Buurvrouw' }).waitFor();

    // Tablets: both listed with their app version and outbox; a tablet
    // that stays connected shows online, and offline once it leaves.
    const zaalRow = page.locator('#devices-body tr', { hasText: 'Zaal 1' });
    await zaalRow.waitFor();
    assert.match(await zaalRow.locator('.app').textContent(), /^turf-tablet\//);
    assert.equal(await zaalRow.locator('.outbox').textContent(), '0');
    assert.equal(await zaalRow.locator('.online').textContent(), 'offline');
    const watching = w.watch('zaal', 4);
    await zaalRow.locator('.online', { hasText: /^online$/ }).waitFor();
    await w.shot(page, 'tablet-online');
    await watching;
    await zaalRow.locator('.online', { hasText: /^offline$/ }).waitFor();

    // Group messages per activity, live.
    await w.tablet('entree', 'post', 'dance', 'Koffie staat klaar in de zaal');
    await w.tablet('entree', 'sync');
    const msg = page.locator('#messages-body section.activity', { hasText: 'Time to Dance' })
      .locator('li', { hasText: 'Koffie staat klaar in de zaal' });
    await msg.waitFor();
    assert.match(await msg.textContent(), /Tablet Entree/);

    // English, switched with the keyboard only.
    await page.focus('#lang');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Today/ }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await dance.locator('li', { hasText: 'Fatima el Amrani' }).textContent(), /present/);
    assert.match(await dance.locator('.headcount-note').textContent(), /2 named \+ 1 anonymous/);
    await w.shot(page, 'english');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Vandaag/ }).waitFor();

    // The section links move keyboard focus to their section.
    await page.getByRole('link', { name: 'Conflicten' }).press('Enter');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'conflicts',
      null, { timeout: WAIT_MS });
  });
});
