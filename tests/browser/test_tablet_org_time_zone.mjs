// test_tablet_org_time_zone.mjs — the tablet app and the dashboard show the
// organisation's day and times, not those of the zone the browser (or the
// server) is set to. turfd runs with TZ=UTC on a clock that names its date:
// 23:30 UTC on 14 January 2027, which is 00:30 on Friday 15 January in
// Amsterdam, the demo organisation's zone. Both browsers are set to UTC,
// where it is still Thursday.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { withWorld, sessionCard } from './lib.mjs';
import { BrowserTablet, PORTRAIT } from './tablet_lib.mjs';

const dir = readdirSync('/usr/lib', { withFileTypes: true })
  .map((d) => `/usr/lib/${d.name}/faketime`).find((d) => {
    try { return readdirSync(d).includes('libfaketimeMT.so.1'); } catch { return false; }
  });
assert.ok(dir, 'libfaketime is not installed (scripts/setup --test installs it)');
/* The programs' wrapper (tests/with-clock) puts turfd, turfctl and
 * turf-tablet on this clock; a clock of scripts/test-clocks is replaced. */
Object.assign(process.env, { TZ: 'UTC', TURF_TEST_FAKETIME: '@2027-01-14 23:30:00',
  TURF_TEST_LIBFAKETIME: `${dir}/libfaketimeMT.so.1` });

test("the tablet and the dashboard are on the organisation's day", async () => {
  await withWorld('tz', async (w) => {
    const t = await new BrowserTablet(w, 'tz', PORTRAIT, [], { timezoneId: 'UTC' }).launch();
    await t.enrol(w.enrolLink, 'Tablet Zaal');
    await t.waitState('online');
    const page = t.page;
    assert.match(await page.locator('#today h1').textContent(), /vrijdag 15 januari/);
    await page.locator('button.session', { hasText: 'Time to Dance' }).waitFor();
    assert.equal(await page.evaluate(() => window.turfClient.timeZone), 'Europe/Amsterdam');
    await t.openSession('Time to Dance');
    await t.checkIn('Fatima el Amrani', 'fatima');
    assert.match(await t.person('Fatima el Amrani').textContent(), /binnen om 00:3\d/);
    await t.shot('friday');

    const dash = await w.page();
    assert.equal(await dash.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone), 'UTC');
    assert.match(await dash.locator('#today-date').textContent(), /vrijdag 15 januari/);
    /* The header's clock is Amsterdam's time too (read between two
     * readings of the time there, in case a minute turns meanwhile). */
    const clock = await dash.evaluate(() => {
      const there = () => new Intl.DateTimeFormat('nl-NL', { timeZone: 'Europe/Amsterdam', hour: '2-digit',
        minute: '2-digit' }).format(Date.now());
      const before = there();
      const shown = document.getElementById('clock').textContent;
      return { before, shown, after: there() };
    });
    assert.ok([clock.before, clock.after].includes(clock.shown), JSON.stringify(clock));
    const card = sessionCard(dash, 'Time to Dance');
    await card.locator('li', { hasText: 'Fatima el Amrani' }).waitFor();
    assert.match(await card.locator('li', { hasText: 'Fatima el Amrani' }).textContent(), /00:3\d/);
    await w.shot(dash, 'dashboard');
    assert.deepEqual(t.errors, []);
    await dash.close();
    await t.close();
  });
});
