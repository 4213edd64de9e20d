// test_tablet_rescope.mjs — a coordinator limits a browser tablet to one
// location (turfctl device scope) while it is offline with a check-in not
// yet sent: when it reconnects, the welcome says rs, and the app drops what
// it may no longer see (the other location's session and the person seen
// only there) from IndexedDB, keeps and sends its own check-in. Widened
// again while connected, it is told RESCOPED and gets all of it back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';
import { BrowserTablet, PORTRAIT } from './tablet_lib.mjs';

test('a tablet whose locations change keeps only what it may see, and its own work', async () => {
  await withWorld('rescope', async (w) => {
    const home = 'Huis van de Wijk Feijenoord';
    await w.turfctl('location', 'create', '--org', '1', 'Wijkcentrum Noord');
    await w.turfctl('activity', 'create', '--org', '1', '--location', 'Wijkcentrum Noord', '--start', '11:00', 'Yoga');
    await w.turfctl('session', 'create', '--org', '1', '--activity', 'Yoga', '--date', 'today', '--start', '11:00');
    const t = await new BrowserTablet(w, 'zaal', PORTRAIT).launch();
    await t.enrol(w.enrolLink, 'Tablet Zaal');
    await t.page.locator('button.session', { hasText: 'Yoga' }).waitFor();

    // Someone seen only at the other location, checked in by another tablet.
    await w.enroll('noord', 'Noord');
    await w.tablet('noord', 'sync');
    await w.tablet('noord', 'walkin', 'Yoga', 'Bram Noordhoek');
    await w.tablet('noord', 'sync');
    await t.page.waitForFunction(() => window.turfClient.replica.list('participant').some((p) => p.name === 'Bram Noordhoek'));
    await t.offlineReady();
    const id = (await w.turfctl('device', 'list', '--org', '1')).split('\n')
      .find((l) => l.includes('Tablet Zaal')).split('\t')[0];

    // Offline, the teacher checks Fatima in; meanwhile the coordinator
    // limits the tablet to its own location.
    await w.stopTurfd();
    await t.waitState('offline');
    await t.openSession('Time to Dance');
    await t.checkIn('Fatima el Amrani', 'fatima');
    await t.waitOutbox(1);
    const said = await w.turfctl('device', 'scope', id, '--location', home);
    assert.match(said, /next connection/);

    await w.startTurfd();
    await t.networkBack();
    await t.waitOutbox(0);
    await t.page.waitForFunction(() => window.turfClient.status().live);
    let stored = await t.storedText();
    assert.doesNotMatch(stored, /Bram Noordhoek|Yoga|Wijkcentrum Noord/);
    assert.match(stored, /Time to Dance/);
    assert.equal(await w.sql("SELECT count(*) FROM checkins c JOIN participants p ON p.id = c.participant "
      + "WHERE p.name = 'Fatima el Amrani' AND c.status = 'present'"), '1');
    await t.person('Fatima el Amrani').and(t.page.locator('[data-status="present"]')).waitFor();
    await t.page.getByRole('button', { name: /Terug/ }).click();
    await t.page.locator('button.session', { hasText: 'Time to Dance' }).waitFor();
    assert.equal(await t.page.locator('button.session', { hasText: 'Yoga' }).count(), 0);
    await t.shot('narrowed');

    // Widened again while connected: told RESCOPED, it reconnects, resyncs.
    await w.turfctl('device', 'scope', id, '--location', home, '--location', 'Wijkcentrum Noord');
    await t.page.locator('button.session', { hasText: 'Yoga' }).waitFor();
    await t.page.waitForFunction(() => window.turfClient.replica.list('participant').some((p) => p.name === 'Bram Noordhoek'));
    stored = await t.storedText();
    assert.match(stored, /Bram Noordhoek/);
    await t.close();
  });
});
