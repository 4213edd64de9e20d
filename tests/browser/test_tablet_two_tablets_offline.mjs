// test_tablet_two_tablets_offline.mjs — two browser tablets in the same
// room with turfd away: both start today's session of an activity nobody
// prepared, both check the same person in, each counts visitors at the
// door. When turfd is back the organisation has one session, one check-in
// for that person, and the door count of both tablets added up; each
// tablet shows the other's work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';
import { BrowserTablet, PORTRAIT, SMALL } from './tablet_lib.mjs';

test('two tablets offline make one session and one check-in', async () => {
  await withWorld('twotablets', async (w) => {
    await w.turfctl('activity', 'create', '--org', '1', '--location', 'Huis van de Wijk Feijenoord', 'Schilderen');
    const a = await new BrowserTablet(w, 'a', PORTRAIT).launch();
    const b = await new BrowserTablet(w, 'b', SMALL).launch();
    await a.enrol(w.enrolLink, 'Tablet A');
    await b.enrol(w.enrolLink, 'Tablet B');
    for (const t of [a, b]) {
      await t.page.locator('button.activity', { hasText: 'Schilderen' }).waitFor();
      await t.offlineReady();
    }
    await a.shot('start-list');

    await w.stopTurfd();
    for (const t of [a, b]) {
      await t.waitState('offline');
      await t.page.locator('button.activity', { hasText: 'Schilderen' }).click();
      await t.page.waitForSelector('body[data-view="session"]');
      await t.checkIn('Fatima el Amrani', 'fat');
    }
    await b.checkIn('Priya Ramdin', 'priya');

    // The door: A counts two visitors, B one.
    await a.page.getByRole('tab', { name: 'Turven' }).click();
    await a.page.locator('#tally-plus').click();
    await a.page.locator('#tally-total', { hasText: /^1$/ }).waitFor();
    await a.page.locator('#tally-plus').click();
    await a.page.locator('#tally-total', { hasText: /^2$/ }).waitFor();
    await b.page.getByRole('tab', { name: 'Turven' }).click();
    await b.page.locator('#tally-plus').click();
    await b.page.locator('#tally-total', { hasText: /^1$/ }).waitFor();
    await a.waitOutbox(4);  /* session, check-in, two counts */
    await b.waitOutbox(4);  /* session, two check-ins, one count */
    await a.shot('tally-offline');

    await w.startTurfd();
    for (const t of [a, b]) {
      await t.networkBack();
      await t.waitOutbox(0);
    }
    const sessions = await w.sql("SELECT s.id FROM sessions s JOIN activities a ON a.org = s.org AND a.id = s.activity "
      + "WHERE a.name = 'Schilderen'");
    assert.equal(sessions.split('\n').length, 1, `one session, not: ${sessions}`);
    const checkins = await w.sql(`SELECT p.name FROM checkins c JOIN participants p ON p.org = c.org AND p.id = c.participant WHERE c.session = '${sessions}' ORDER BY p.name`);
    assert.deepEqual(checkins.split('\n'), ['Fatima el Amrani', 'Priya Ramdin']);
    assert.equal(await w.sql(`SELECT total FROM session_tallies WHERE session = '${sessions}'`), '3');

    // Each tablet shows the other's work.
    await a.page.locator('#tally-total', { hasText: /^3$/ }).waitFor();
    await b.page.locator('#tally-total', { hasText: /^3$/ }).waitFor();
    await a.page.getByRole('tab', { name: 'Aanwezig' }).click();
    await a.person('Priya Ramdin').and(a.page.locator('[data-status="present"]')).waitFor();
    await a.shot('after-sync');
    await a.close();
    await b.close();
  });
});
