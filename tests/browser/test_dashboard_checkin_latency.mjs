// test_dashboard_checkin_latency.mjs — how long from a tablet's push of a
// check-in to the open dashboard showing the name: reported, not asserted.
// Measured two ways, several runs each, median printed:
//  - push sent: a minimal turf.v1 tablet (latency_tablet.mjs) notes the
//    wall clock as it hands the push to its socket; the page notes the wall
//    clock when a MutationObserver first sees the name (same machine, same
//    clock);
//  - real tablet: from starting `turf-tablet sync` (which connects, says
//    hello and pushes) to the page showing the name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { withWorld, sessionCard, TURF_TABLET } from './lib.mjs';
import { ProbeTablet } from './latency_tablet.mjs';

const RUNS = 7;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/* The page's clock reading when `name` first appears in today's view. */
async function watchFor(page, name) {
  await page.evaluate((n) => {
    window.__seen = window.__seen || {};
    const body = document.getElementById('today-body');
    const obs = new MutationObserver(() => {
      if (!window.__seen[n] && body.textContent.includes(n)) { window.__seen[n] = Date.now(); obs.disconnect(); }
    });
    obs.observe(body, { childList: true, subtree: true, characterData: true });
  }, name);
  return async () => {
    await page.waitForFunction((n) => window.__seen && window.__seen[n], name);
    return page.evaluate((n) => window.__seen[n], name);
  };
}

test('check-in to page latency (reported)', async () => {
  await withWorld('latency', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    const page = await w.page();
    const dance = sessionCard(page, 'Time to Dance');
    await dance.waitFor();
    const session = await dance.getAttribute('data-session');

    const probe = new ProbeTablet(w.url, w.code);
    await probe.connect();
    const pushed = [];
    for (let i = 1; i <= RUNS; i++) {
      const name = `Meting ${i}`;
      const seen = await watchFor(page, name);
      const sent = await probe.walkin(session, name);
      pushed.push((await seen()) - sent);
    }
    probe.close();

    const real = [];
    for (let i = 1; i <= RUNS; i++) {
      const name = `Tablet meting ${i}`;
      await w.tablet('zaal', 'walkin', 'dance', name);
      const seen = await watchFor(page, name);
      const start = Date.now();
      const sync = spawn(TURF_TABLET, ['--db', path.join(w.dir, 'zaal.db'), 'sync'], { stdio: 'ignore' });
      const done = new Promise((resolve) => sync.on('exit', resolve));
      real.push((await seen()) - start);
      assert.equal(await done, 0);
    }
    await dance.getByTestId('headcount').filter({ hasText: new RegExp('^' + 2 * RUNS + '$') }).waitFor();
    await w.shot(page, 'after-runs');
    console.log(`check-in to page, from push sent (ms): ${pushed.join(' ')}; median ${median(pushed)}`);
    console.log(`check-in to page, from starting turf-tablet sync (ms): ${real.join(' ')}; median ${median(real)}`);
  });
});
