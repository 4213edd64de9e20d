// test_tablet_offline_checkin.mjs — a teacher's morning: the tablet app
// enrols from the QR code's link, checks three people in while turfd is
// away, reloads without turfd (the app comes from its service worker, the
// check-ins from IndexedDB), and when turfd is back everything arrives: in
// the server's database, on the coordinator's dashboard, on a second
// browser tablet and in a turf-tablet replica of the same organisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard } from './lib.mjs';
import { BrowserTablet, PORTRAIT, LANDSCAPE, SMALL } from './tablet_lib.mjs';

const PEOPLE = ['Fatima el Amrani', 'Joop de Vries', 'Mehmet Yilmaz'];

test('check-ins made offline survive a reload and arrive everywhere', async () => {
  await withWorld('offline', async (w) => {
    assert.match(w.enrolLink, /\/tablet\/#enrol=[A-Z0-9]+$/);
    const zaal = await new BrowserTablet(w, 'zaal', PORTRAIT).launch();
    await zaal.enrol(w.enrolLink, 'Tablet Zaal');
    assert.equal(await zaal.page.getAttribute('html', 'lang'), 'nl');
    await zaal.page.locator('button.session', { hasText: 'Time to Dance' }).waitFor();
    await zaal.waitState('online');
    await zaal.offlineReady();
    /* Installable: Chromium finds nothing missing (manifest, icons,
     * service worker). */
    const cdp = await zaal.context.newCDPSession(zaal.page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, []);
    await zaal.shot('today');

    // turfd goes away; the teacher goes on.
    await w.stopTurfd();
    await zaal.waitState('offline');
    await zaal.openSession('Time to Dance');
    await zaal.checkIn(PEOPLE[0], 'fatima');
    await zaal.checkIn(PEOPLE[1], 'joop de');
    await zaal.checkIn(PEOPLE[2], 'Yılmaz');
    await zaal.waitOutbox(3);
    await zaal.shot('three-offline');

    // A reload with turfd still away: the shell from the service worker,
    // the check-ins from IndexedDB, still waiting to be sent.
    await zaal.page.reload();
    await zaal.page.waitForSelector('body[data-ready="1"]');
    await zaal.page.waitForSelector('body[data-view="today"]');
    await zaal.waitOutbox(3);
    await zaal.openSession('Time to Dance');
    for (const p of PEOPLE) await zaal.person(p).and(zaal.page.locator('[data-status="present"]')).waitFor();

    // turfd is back: the tablet sends what it holds.
    await w.startTurfd();
    await zaal.networkBack();
    await zaal.waitState('online');
    await zaal.waitOutbox(0);
    await zaal.shot('synced');
    const names = await w.sql("SELECT p.name FROM checkins c JOIN participants p ON p.org = c.org AND p.id = c.participant "
      + "JOIN sessions s ON s.org = c.org AND s.id = c.session JOIN activities a ON a.org = s.org AND a.id = s.activity "
      + "WHERE a.name = 'Time to Dance' AND c.status = 'present' ORDER BY p.name");
    assert.deepEqual(names.split('\n'), [...PEOPLE].sort());

    // The coordinator's dashboard shows them.
    const dash = await w.page();
    const dance = sessionCard(dash, 'Time to Dance');
    await dance.getByTestId('headcount').filter({ hasText: /^3$/ }).waitFor();
    for (const p of PEOPLE) await dance.locator('li', { hasText: p }).waitFor();

    // A second browser tablet receives them.
    const entree = await new BrowserTablet(w, 'entree', SMALL).launch();
    await entree.enrol(w.enrolLink, 'Tablet Entree');
    await entree.openSession('Time to Dance');
    for (const p of PEOPLE) await entree.person(p).and(entree.page.locator('[data-status="present"]')).waitFor();
    await entree.shot('second-tablet');

    // And the sample client's replica of the organisation is the same,
    // table by table, value by value.
    await w.enroll('sample', 'Sample');
    await w.tablet('sample', 'sync');
    const attendance = await w.tablet('sample', 'attendance');
    for (const p of PEOPLE) assert.match(attendance, new RegExp(`${p}.*present`));
    const sampleDump = await w.tablet('sample', 'dump');
    assert.match(sampleDump, /^checkins\t/m);
    assert.equal(await zaal.dump(), sampleDump);
    assert.equal(await entree.dump(), sampleDump);

    // The dashboard shows what each tablet said of its storage: the
    // browser's (persistent only if the browser granted it) and the sample
    // client's SQLite file (kept).
    const persisted = await zaal.page.evaluate(() => navigator.storage.persisted());
    const zaalStorage = dash.locator('#devices-body tr', { hasText: 'Tablet Zaal' }).locator('.storage');
    await zaalStorage.filter({ hasText: persisted ? /^blijvend/ : /^kan door de browser gewist worden/ }).waitFor();
    assert.equal(await zaalStorage.evaluate((el) => el.classList.contains('skew')), !persisted);
    await dash.locator('#devices-body tr', { hasText: 'Sample' }).locator('.storage', { hasText: /^blijvend/ }).waitFor();
    await w.shot(dash, 'dashboard-tablets');

    await zaal.page.setViewportSize(LANDSCAPE);
    await zaal.shot('landscape');
    await entree.close();
    await zaal.close();
  });
});
